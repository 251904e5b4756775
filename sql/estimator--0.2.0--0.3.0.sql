/* sql/estimator--0.2.0--0.3.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.3.0'" to load this file. \quit

-- Training on several cores (the parameter parallel_workers and the setting
-- estimator.parallel_workers) and streaming of sources larger than
-- estimator.max_memory need no catalog change.
--
-- The per-row prediction functions run a network for each row, some
-- hundred times the cost of an operator: with COST 1 the planner thought
-- them free and never scored a large query in parallel workers, which
-- these PARALLEL SAFE functions allow.
ALTER FUNCTION est_predict(text, record) COST 1000;
ALTER FUNCTION est_predict(text, double precision[]) COST 1000;
ALTER FUNCTION est_predict_proba(text, record) COST 1000;
ALTER FUNCTION est_predict_proba(text, double precision[]) COST 1000;
ALTER FUNCTION est_predict_values(text, record) COST 1000;
ALTER FUNCTION est_predict_values(text, double precision[]) COST 1000;
ALTER FUNCTION est_predict_label(text, record) COST 1000;
ALTER FUNCTION est_predict_label(text, double precision[]) COST 1000;
