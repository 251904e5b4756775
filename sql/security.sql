-- Attacks through names and search_path: SQL in model, source and column
-- names, and functions and operators planted in an earlier schema of the
-- search_path, which the extension's own statements must never call.
SET client_min_messages = warning;

-- SQL in a model name is a value, not SQL
SELECT model, global_step FROM est_train($$sec'); DROP TABLE iris_test; --$$, 'iris_train', steps => 1,
										  params => '{"seed": 1}');
SELECT count(*) AS iris_test_rows FROM iris_test;
SELECT name FROM estimator.models WHERE name LIKE 'sec%';
SELECT est_predict($$sec'); DROP TABLE iris_test; --$$, t) IS NOT NULL AS predicts FROM iris_test t WHERE id = 1;
SELECT est_drop_model($$sec'); DROP TABLE iris_test; --$$);

-- SQL in column names is quoted where a statement names them
CREATE TABLE "sec; DROP TABLE iris_test; --" AS
	SELECT petal_length AS "x"" FROM iris_test; --", petal_width AS "a b",
		   label AS "label"" OR 1=1 --"
	  FROM iris_train;
SELECT global_step FROM est_train('sec_cols', '"sec; DROP TABLE iris_test; --"',
	label => 'label" OR 1=1 --', features => '{"x\" FROM iris_test; --","a b"}', steps => 5,
	params => '{"seed": 1}');
SELECT count(*) AS iris_test_rows FROM iris_test;
SELECT features, label FROM estimator.models WHERE name = 'sec_cols';
SELECT ordinal, name FROM est_feature_info('sec_cols') ORDER BY ordinal;
SELECT count(*) AS scored FROM est_predict_table('sec_cols', '"sec; DROP TABLE iris_test; --"');

-- Trojans: an unprivileged role plants functions, an aggregate and
-- operators that the catalog statements would use if they were not
-- schema-qualified, puts its schema before pg_catalog, and uses every
-- function.  The trojans record every call.
CREATE ROLE regress_sec_trojan;
GRANT SELECT ON iris_train, iris_test TO regress_sec_trojan;
CREATE SCHEMA sec_trojan AUTHORIZATION regress_sec_trojan;
SET ROLE regress_sec_trojan;
CREATE TABLE sec_trojan.calls (what text, by_role text);
GRANT INSERT ON sec_trojan.calls TO PUBLIC;
CREATE FUNCTION sec_trojan.now() RETURNS timestamptz LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('now', current_user); SELECT '2000-01-01'::timestamptz $$;
CREATE FUNCTION sec_trojan.clock_timestamp() RETURNS timestamptz LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('clock_timestamp', current_user); SELECT '2000-01-01'::timestamptz $$;
CREATE FUNCTION sec_trojan.octet_length(text) RETURNS int LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('octet_length', current_user); SELECT 1 $$;
CREATE FUNCTION sec_trojan.texteq(text, text) RETURNS boolean LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('=', current_user); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR sec_trojan.= (LEFTARG = text, RIGHTARG = text, FUNCTION = sec_trojan.texteq);
CREATE FUNCTION sec_trojan.int8lt(bigint, bigint) RETURNS boolean LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('<', current_user); SELECT $1 OPERATOR(pg_catalog.<) $2 $$;
CREATE OPERATOR sec_trojan.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec_trojan.int8lt);
CREATE FUNCTION sec_trojan.min_step(bigint, bigint) RETURNS bigint LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('min', current_user); SELECT least($1, $2) $$;
CREATE AGGREGATE sec_trojan.min(bigint) (SFUNC = sec_trojan.min_step, STYPE = bigint);
-- IS DISTINCT FROM, NULLIF, IN and CASE x WHEN look up "=" in the
-- search_path even when the query qualifies every other operator
CREATE FUNCTION sec_trojan.int8eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS
	$$ INSERT INTO sec_trojan.calls VALUES ('=(bigint)', current_user); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR sec_trojan.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sec_trojan.int8eq);
SET search_path = sec_trojan, pg_catalog, public;
SELECT global_step FROM est_train('sec_trojan_model', 'iris_train', steps => 5, params => '{"seed": 1, "keep_checkpoint_max": 1}');
SELECT global_step FROM est_train('sec_trojan_model', 'iris_train', steps => 5);
-- a pinned serving checkpoint, which keep_checkpoint_max spares when the
-- next training deletes older checkpoints
SELECT global_step FROM est_deploy('sec_trojan_model', 10);
SELECT global_step FROM est_train('sec_trojan_model', 'iris_train', steps => 5, params => '{"early_stopping": {"patience": 1}, "eval_fraction": 0.2, "save_checkpoints_steps": 1}');
SELECT global_step, serving FROM est_checkpoints('sec_trojan_model');
SELECT global_step FROM est_deploy('sec_trojan_model');
SELECT global_step FROM est_rollback('sec_trojan_model');
SELECT est_grant('sec_trojan_model', 'public', 'predict');
SELECT est_revoke('sec_trojan_model', 'public');
SELECT est_predict('sec_trojan_model', t) IS NOT NULL AS predicts FROM iris_test t WHERE id = 1;
SELECT count(*) AS metrics FROM est_evaluate('sec_trojan_model', 'iris_test');
SELECT count(*) AS features FROM est_feature_info('sec_trojan_model');
SELECT count(*) AS scored FROM est_predict_table('sec_trojan_model', 'iris_test');
SELECT count(*) AS weights FROM est_weights('sec_trojan_model');
SELECT global_step FROM est_import('sec_trojan_copy', est_export('sec_trojan_model'));
SELECT est_drop_model('sec_trojan_copy');
SELECT est_drop_model('sec_trojan_model');
-- the trojans catch unqualified SQL under this search_path (one call
-- each), and the extension never called them
SELECT sec_trojan.now() = '2000-01-01' AS trojan_works;
SELECT count(*) FROM (VALUES ('a'::text)) v(t) WHERE t = 'a';
SELECT min(x) FROM (VALUES (1::bigint), (2::bigint)) v(x) WHERE x < 5::bigint;
SELECT 1::bigint IS DISTINCT FROM 2::bigint AS trojan_distinct;
SELECT octet_length('abc') AS trojan_length;
SELECT what, by_role, count(*) FROM sec_trojan.calls GROUP BY 1, 2 ORDER BY 1, 2;
RESET search_path;
RESET ROLE;

-- pg_temp first in search_path: functions and operators are never looked
-- up there, and relation names resolve as PostgreSQL resolves them
CREATE TEMP TABLE iris_train AS SELECT * FROM iris_train LIMIT 10;
SELECT rows_read FROM est_train('sec_temp', 'iris_train', steps => 1, params => '{"seed": 1}');
SELECT rows_read FROM est_train('sec_public', 'public.iris_train', steps => 1, params => '{"seed": 1}');
DROP TABLE pg_temp.iris_train;

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'sec\_%') d;

-- CREATE EXTENSION under the trojans' search_path calls none of them
TRUNCATE sec_trojan.calls;
DROP EXTENSION estimator CASCADE;
SET search_path = sec_trojan, pg_catalog, public;
CREATE EXTENSION estimator SCHEMA public;
RESET search_path;
SELECT count(*) AS trojan_calls FROM sec_trojan.calls;
SELECT proname FROM pg_proc
 WHERE proname IN ('est_train', 'est_predict') AND pronamespace = 'public'::regnamespace
 GROUP BY proname ORDER BY proname;
DROP TABLE "sec; DROP TABLE iris_test; --";
DROP SCHEMA sec_trojan CASCADE;
DROP OWNED BY regress_sec_trojan;
DROP ROLE regress_sec_trojan;
