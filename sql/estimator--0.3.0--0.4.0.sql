/* sql/estimator--0.3.0--0.4.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.4.0'" to load this file. \quit

-- The per-row prediction functions cost what their model costs: a planner
-- support function prices a call by the multiply-adds of the network a
-- constant model name names.  COST 1000 had planned every model as a
-- large one, so that scoring a million rows with a small network was
-- compiled with JIT, inlining and optimisation (a quarter of a second of
-- compilation for half a second of scoring).  COST stays for a model that
-- is not a constant, at what a network of some 10,000 multiply-adds costs.
CREATE FUNCTION est_predict_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'est_predict_support'
LANGUAGE C STRICT;
COMMENT ON FUNCTION est_predict_support(internal)
IS 'planner support of the per-row prediction functions: their cost by the size of the model';

ALTER FUNCTION est_predict(text, record) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict(text, double precision[]) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_proba(text, record) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_proba(text, double precision[]) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_values(text, record) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_values(text, double precision[]) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_label(text, record) COST 100 SUPPORT est_predict_support;
ALTER FUNCTION est_predict_label(text, double precision[]) COST 100 SUPPORT est_predict_support;
