-- est_schedule and est_unschedule without pg_cron (the regression cluster
-- does not load it; test/t/006_cron.pl runs real jobs), and the
-- fingerprint that only_if_changed compares.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

SELECT global_step FROM est_train('schedule_model', 'iris_train', steps => 10,
								  params => '{"seed": 1}');

-- estimator installs without pg_cron; scheduling says what is missing
SELECT count(*) AS cron_schemas FROM pg_namespace WHERE nspname = 'cron';
SELECT est_schedule('schedule_model', 'iris_train', '0 3 * * *');
\set VERBOSITY terse
SELECT est_unschedule('schedule_model');

-- arguments are checked before pg_cron is looked for
SELECT est_schedule(NULL, 'iris_train', '0 3 * * *');
SELECT est_schedule('schedule_model', 'iris_train', '0 3 * * *', steps => 0);
SELECT est_schedule('schedule_model', 'iris_train', '0 3 * * *', epochs => -1);
SELECT est_schedule('schedule_model', 'iris_train', '0 3 * * *', only_if_changed => NULL);
SELECT est_schedule('schedule_model', 'iris_train', '0 3 * * *', job_name => ' ');

-- a relation is stored schema-qualified and quoted as it resolves for the
-- caller, so that the job, under its role's search_path, reads the same
-- one; a query is stored as written
CREATE SCHEMA schedule_lab;
CREATE TABLE schedule_lab.iris_train AS SELECT * FROM iris_train LIMIT 10;
CREATE TABLE schedule_lab."Odd.Name" ();
SET search_path = schedule_lab, public;
SELECT estimator.schedule_source('iris_train') AS lab_iris;
SELECT estimator.schedule_source(' "Odd.Name" ') AS odd;
SELECT estimator.schedule_source('public.iris_train') AS public_iris;
SELECT estimator.schedule_source(' SELECT * FROM iris_train') AS query;
RESET search_path;
SELECT estimator.schedule_source('iris_train') AS public_iris;
DROP SCHEMA schedule_lab CASCADE;
-- nor a temporary table, which the job cannot see, nor what is not a table,
-- view or materialized view, nor a relation that does not exist
CREATE TEMP TABLE schedule_temp AS SELECT * FROM iris_train;
SELECT est_schedule('schedule_model', 'schedule_temp', '0 3 * * *');
CREATE SEQUENCE schedule_seq;
SELECT est_schedule('schedule_model', 'schedule_seq', '0 3 * * *');
SELECT est_schedule('schedule_model', 'schedule_nope', '0 3 * * *');
SELECT est_schedule('schedule_model', 'a.b.c.d', '0 3 * * *');
DROP TABLE schedule_temp;
DROP SEQUENCE schedule_seq;

-- a model without a schedule
SELECT estimator.run_scheduled('schedule_model');

-- a run sends pg_cron warnings and its error, not est_train's loss reports
SELECT proconfig FROM pg_proc
 WHERE oid = 'estimator.run_scheduled(text)'::regprocedure;

-- users cannot write the schedules, nor record a run (a model without a
-- schedule, as est_unschedule leaves a running run: a warning)
CREATE ROLE schedule_user;
GRANT SELECT ON iris_train TO schedule_user;
SET ROLE schedule_user;
INSERT INTO estimator.schedules VALUES
	('schedule_model', 'iris_train', NULL, NULL, true, 1, 'schedule_user', NULL, NULL, NULL);
UPDATE estimator.schedules SET last_fingerprint = 'x';
SELECT estimator.schedule_record('schedule_model', 'x', 'skipped');
SELECT count(*) AS visible_schedules FROM estimator.schedules;
RESET ROLE;

-- The helpers act for the role whose code calls them, not for the
-- session's role.  The superuser has a schedule (written here by hand: no
-- pg_cron); schedule_user's code runs in the superuser's session, through
-- a SECURITY DEFINER function and through an expression index that the
-- superuser's ANALYZE evaluates as the table's owner.  Up to 0.7.0 the
-- helpers took both for the superuser: the index rewrote the superuser's
-- schedule.
INSERT INTO estimator.schedules
	(model, source, steps, epochs, only_if_changed, jobid, scheduled_by)
	VALUES ('schedule_model', 'public.iris_train', NULL, NULL, true, 1,
			current_user::regrole);
GRANT CREATE ON SCHEMA public TO schedule_user;
SET ROLE schedule_user;
CREATE FUNCTION schedule_user_record() RETURNS void
LANGUAGE sql SECURITY DEFINER
AS $$ SELECT estimator.schedule_record('schedule_model', 'x', 'by schedule_user') $$;
CREATE FUNCTION schedule_user_put() RETURNS void
LANGUAGE sql SECURITY DEFINER
AS $$ SELECT estimator.schedule_put('schedule_model', 'SELECT 1', 1, NULL, false, 1) $$;
-- acts only when it runs as schedule_user in another role's session
CREATE FUNCTION schedule_user_idx(x int) RETURNS int
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF current_user = 'schedule_user' AND current_setting('role') = 'none' THEN
		PERFORM estimator.schedule_record('schedule_model', 'x', 'by an index');
	END IF;
	RETURN x;
END
$$;
CREATE TABLE schedule_user_t (x int);
CREATE INDEX ON schedule_user_t (schedule_user_idx(x));
RESET ROLE;
INSERT INTO schedule_user_t SELECT generate_series(1, 10);
SELECT schedule_user_record();
SELECT schedule_user_put();
ANALYZE schedule_user_t;
-- a schedule that the role may not see is none to schedule_record, as to
-- est_unschedule: the same warning as for a model without a schedule
SET ROLE schedule_user;
SELECT estimator.schedule_record('schedule_model', 'x', 'by schedule_user');
SELECT estimator.schedule_record('schedule_no_such_model', 'x', 'by schedule_user');
RESET ROLE;
SELECT source, only_if_changed, scheduled_by = current_user::regrole AS superusers,
	   last_status IS NULL AS unrecorded
  FROM estimator.schedules;
-- the superuser's own calls act for it
SELECT estimator.schedule_record('schedule_model', 'x', 'by the superuser');
SELECT estimator.schedule_lock('schedule_model');
SELECT last_fingerprint, last_status FROM estimator.schedules;
-- NULL arguments are errors, or nothing to do
SELECT estimator.schedule_put(NULL, NULL, NULL, NULL, NULL, NULL);
SELECT estimator.schedule_put('schedule_model', 'x', 1, 1, true, NULL);
SELECT estimator.schedule_record(NULL, NULL, NULL);
SELECT estimator.schedule_lock(NULL);
SELECT estimator.schedule_forget(NULL);
-- the internal functions are the schema owner's alone
SET ROLE schedule_user;
SELECT estimator.schedule_record_for('schedule_user', 'schedule_model', 'x', 'y');
SELECT estimator.schedule_forget_for('schedule_user', 'schedule_model');
-- schedule_forget forgets no schedule that the role may not see, and says
-- nothing of it: up to 0.7.0 any role deleted another role's schedule
-- whose job was gone, and learned the job and role of any other from the
-- error (here the lookup of the job would fail first: no pg_cron)
SELECT estimator.schedule_forget('schedule_model');
SELECT estimator.schedule_forget('schedule_nope');
RESET ROLE;
SELECT count(*) AS kept FROM estimator.schedules;
DELETE FROM estimator.schedules;
DROP TABLE schedule_user_t;
DROP FUNCTION schedule_user_idx(int), schedule_user_record(), schedule_user_put();
REVOKE CREATE ON SCHEMA public FROM schedule_user;

-- the fingerprint ignores the order of the rows, counts duplicates and
-- sees a changed value; a relation name and a query give the same
CREATE TABLE schedule_src AS SELECT * FROM iris_train;
SELECT estimator.source_fingerprint('schedule_src') =
	   estimator.source_fingerprint('SELECT * FROM iris_train ORDER BY random()') AS order_independent;
SELECT estimator.source_fingerprint('schedule_src') =
	   estimator.source_fingerprint(' TABLE iris_train ;') AS table_query;
SELECT estimator.source_fingerprint('public.schedule_src') <>
	   estimator.source_fingerprint('(SELECT * FROM iris_train UNION ALL SELECT * FROM iris_train LIMIT 121)') AS duplicate_counts;
SELECT estimator.source_fingerprint('schedule_src') AS before \gset
UPDATE schedule_src SET petal_width = petal_width + 0.1
 WHERE ctid = (SELECT min(ctid) FROM schedule_src);
SELECT estimator.source_fingerprint('schedule_src') <> :'before' AS changed;
SELECT estimator.source_fingerprint('schedule_nope');
-- a role that may read some columns only (the model's, say): the rows of
-- those columns, as a query of them gives, and a change in them shows
CREATE ROLE schedule_cols;
GRANT SELECT (sepal_length, label) ON schedule_src TO schedule_cols;
SET ROLE schedule_cols;
SELECT estimator.source_fingerprint('schedule_src') =
	   estimator.source_fingerprint('SELECT sepal_length, label FROM schedule_src') AS readable_columns;
SELECT estimator.source_fingerprint('schedule_src') AS before_cols \gset
RESET ROLE;
UPDATE schedule_src SET petal_width = petal_width + 0.1
 WHERE ctid = (SELECT min(ctid) FROM schedule_src);
SET ROLE schedule_cols;
SELECT estimator.source_fingerprint('schedule_src') = :'before_cols' AS unread_column_unseen;
RESET ROLE;
UPDATE schedule_src SET sepal_length = sepal_length + 0.1
 WHERE ctid = (SELECT min(ctid) FROM schedule_src);
SET ROLE schedule_cols;
SELECT estimator.source_fingerprint('schedule_src') <> :'before_cols' AS read_column_seen;
RESET ROLE;
REVOKE SELECT ON schedule_src FROM schedule_cols;
-- and a role that may read no column of it is refused
SET ROLE schedule_cols;
SELECT estimator.source_fingerprint('schedule_src');
RESET ROLE;
DROP ROLE schedule_cols;

DROP TABLE schedule_src;
REVOKE SELECT ON iris_train FROM schedule_user;
DROP ROLE schedule_user;
SELECT est_drop_model('schedule_model');
