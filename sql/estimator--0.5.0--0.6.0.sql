/* sql/estimator--0.5.0--0.6.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.6.0'" to load this file. \quit

-- A scheduled retraining sends pg_cron no NOTICE.  est_train reports its
-- loss every log_step_count_steps steps; a pg_cron background worker hands
-- each report to the launcher, which logs it and writes it into
-- cron.job_run_details while the job waits, each write slower than the
-- last: a run of 3,000,000 steps took 16.8 s instead of 11.4 s and put
-- 30,000 reports in the server log, one of 15,000,000 steps trained eleven
-- times slower than est_train alone after ten minutes.  The reports stay
-- in estimator.training_log; warnings and the run's error still reach
-- pg_cron.
ALTER FUNCTION estimator.run_scheduled(text) SET client_min_messages = warning;

-- A stored pg_cron job id counts as the model's job only while pg_cron's
-- job of that id runs the model's command in this database.  A schedule
-- restored into another cluster, or kept after its job was removed by
-- hand, names an id that pg_cron may have given to another job of the same
-- role since: est_unschedule, or est_schedule under another job name,
-- removed that job, and schedule_put and schedule_forget took it for the
-- model's.
CREATE FUNCTION estimator.schedule_job_alive(jobid bigint, model text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	alive boolean;
BEGIN
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
			' AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()'
			' AND j.command OPERATOR(pg_catalog.=) estimator.schedule_command($2))'
		INTO alive USING jobid, model;
	RETURN alive;
END
$$;
COMMENT ON FUNCTION estimator.schedule_job_alive(bigint, text)
	IS 'internal: whether pg_cron job jobid is still the retraining of a model in this database';

CREATE OR REPLACE FUNCTION estimator.schedule_put(model text, source text, steps bigint,
									   epochs integer, only_if_changed boolean,
									   jobid bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller regrole := estimator.session_role();
	job record;
	old record;
	alive boolean;
	owner regrole;
BEGIN
	SELECT m.owner INTO owner
	  FROM estimator.model_catalog m
	 WHERE m.name OPERATOR(pg_catalog.=) schedule_put.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(caller, owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of model "%" to schedule its training', model
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	EXECUTE 'SELECT j.username, j.database, j.command FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
		INTO job USING schedule_put.jobid;
	IF job IS NULL
		OR job.username OPERATOR(pg_catalog.<>) pg_catalog.pg_get_userbyid(caller)::pg_catalog.text
		OR job.database OPERATOR(pg_catalog.<>) pg_catalog.current_database()
		OR job.command OPERATOR(pg_catalog.<>) estimator.schedule_command(model) THEN
		RAISE EXCEPTION 'pg_cron job % is not the retraining of model "%" by role %',
			jobid, model, caller
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT s.jobid, s.scheduled_by INTO old
	  FROM estimator.schedules s
	 WHERE s.model OPERATOR(pg_catalog.=) schedule_put.model
	   FOR UPDATE;
	IF FOUND AND old.jobid OPERATOR(pg_catalog.<>) schedule_put.jobid THEN
		alive := estimator.schedule_job_alive(old.jobid, model);
		IF alive THEN
			RAISE EXCEPTION 'model "%" is already scheduled by pg_cron job % of role %',
				model, old.jobid, old.scheduled_by
				USING ERRCODE = 'duplicate_object',
					  HINT = 'Only that role or a superuser can replace the schedule, or remove it with est_unschedule.';
		END IF;
	END IF;
	INSERT INTO estimator.schedules AS s
		(model, source, steps, epochs, only_if_changed, jobid, scheduled_by)
		VALUES (schedule_put.model, schedule_put.source, schedule_put.steps,
				schedule_put.epochs, schedule_put.only_if_changed,
				schedule_put.jobid, caller)
	ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
		SET source = excluded.source, steps = excluded.steps,
			epochs = excluded.epochs, only_if_changed = excluded.only_if_changed,
			jobid = excluded.jobid, scheduled_by = excluded.scheduled_by,
			last_fingerprint = CASE WHEN s.source OPERATOR(pg_catalog.=) excluded.source
								THEN s.last_fingerprint END;
END
$$;

CREATE OR REPLACE FUNCTION estimator.schedule_forget(model text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	alive boolean;
BEGIN
	SELECT x.jobid, x.scheduled_by INTO s
	  FROM estimator.schedules x WHERE x.model OPERATOR(pg_catalog.=) schedule_forget.model
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	alive := estimator.schedule_job_alive(s.jobid, model);
	IF alive THEN
		RAISE EXCEPTION 'pg_cron job % that retrains model "%" belongs to role %',
			s.jobid, model, s.scheduled_by
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only that role or a superuser can unschedule it.';
	END IF;
	DELETE FROM estimator.schedules x WHERE x.model OPERATOR(pg_catalog.=) schedule_forget.model;
	RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION est_schedule(model text, source text, schedule text,
							 steps bigint DEFAULT NULL,
							 epochs integer DEFAULT NULL,
							 only_if_changed boolean DEFAULT true,
							 job_name text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	owner regrole;
	old estimator.schedules;
	visible boolean;
	name text;
	jobid bigint;
BEGIN
	IF model IS NULL OR source IS NULL OR schedule IS NULL THEN
		RAISE EXCEPTION 'model, source and schedule must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF steps IS NOT NULL AND steps < 1 THEN
		RAISE EXCEPTION 'steps must be positive, not %', steps
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF epochs IS NOT NULL AND epochs < 1 THEN
		RAISE EXCEPTION 'epochs must be positive, not %', epochs
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM estimator.check_cron();

	SELECT m.owner INTO owner
	  FROM estimator.models m WHERE m.name OPERATOR(pg_catalog.=) est_schedule.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model
			USING ERRCODE = 'undefined_object',
				  HINT = 'Train it with est_train first: est_schedule continues the training of an existing model.';
	END IF;
	IF NOT pg_catalog.pg_has_role(owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of model "%" to schedule its training', model
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF source !~* '^[\s(]*(select|with|values|table)([^[:alnum:]_$]|$)' THEN
		BEGIN
			visible := pg_catalog.to_regclass(source) IS NOT NULL;
		EXCEPTION WHEN invalid_name OR syntax_error THEN
			RAISE EXCEPTION 'source "%" is neither a relation name nor a query', source
				USING ERRCODE = 'invalid_name',
					  HINT = 'Name a table or view, schema-qualified and quoted as in SQL if need be, or write one SELECT, VALUES or WITH query.';
		END;
		IF NOT visible THEN
			RAISE EXCEPTION 'relation "%" does not exist', source
				USING ERRCODE = 'undefined_table';
		END IF;
	END IF;

	-- A schedule of another job name: unschedule its job first, if it is
	-- the caller's (schedule_put refuses to replace another role's).
	name := coalesce(job_name, 'retrain ' OPERATOR(pg_catalog.||) model);
	SELECT * INTO old FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) est_schedule.model;
	IF FOUND THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
				' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
				' AND j.jobname IS DISTINCT FROM $2)'
			INTO visible USING old.jobid, name;
		visible := visible AND estimator.schedule_job_alive(old.jobid, model);
		IF visible THEN
			EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
		END IF;
	END IF;

	EXECUTE 'SELECT cron.schedule($1, $2, $3)'
		INTO jobid USING name, schedule, estimator.schedule_command(model);
	PERFORM estimator.schedule_put(model, source, steps, epochs,
								   only_if_changed, jobid);
	RETURN jobid;
END
$$;

CREATE OR REPLACE FUNCTION est_unschedule(model text)
RETURNS boolean
LANGUAGE plpgsql STRICT
AS $$
DECLARE
	s estimator.schedules;
	visible boolean;
BEGIN
	PERFORM estimator.check_cron();
	SELECT * INTO s FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) est_unschedule.model;
	IF NOT FOUND THEN
		-- none, or one that the caller may not see
		IF EXISTS (SELECT 1 FROM estimator.models m
					WHERE m.name OPERATOR(pg_catalog.=) est_unschedule.model
					  AND NOT pg_catalog.pg_has_role(m.owner, 'USAGE')) THEN
			RAISE EXCEPTION 'must be owner of model "%" to unschedule its training', model
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		RETURN false;
	END IF;
	visible := estimator.schedule_job_alive(s.jobid, model);
	IF visible THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING s.jobid;
	END IF;
	RETURN estimator.schedule_forget(model);
END
$$;
