/* sql/estimator--0.7.0--0.8.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.8.0'" to load this file. \quit

-- The schedule helpers act for the role whose code calls them.
--
-- estimator.schedule_put, schedule_record and schedule_lock were SECURITY
-- DEFINER and acted for estimator.session_role(): the role of SET ROLE,
-- or the session user.  That is not always the role whose code runs.  An
-- expression index is evaluated as the owner of its table by a
-- superuser's ANALYZE or by autovacuum, whose session user is the
-- bootstrap superuser; so a role with no privilege at all made an index
-- whose function called schedule_put for a model that the superuser had
-- scheduled, with the superuser's job id and a source of its own, and the
-- superuser's pg_cron job then ran that source as the superuser.  The
-- same held for a SECURITY DEFINER function of that role called by
-- another.
--
-- The helpers are now C functions without SECURITY DEFINER: the library
-- takes the current user (GetUserId(), what current_user answers in the
-- helper's caller) and calls the internal function below of the same
-- name with "_for" as the owner of this schema, passing it that role.
-- The internal functions do what the helpers did, for the role they are
-- given; only this schema's owner may call them.  session_role() goes.

DROP FUNCTION estimator.schedule_put(text, text, bigint, integer, boolean, bigint);
DROP FUNCTION estimator.schedule_record(text, text, text);
DROP FUNCTION estimator.schedule_lock(text);
DROP FUNCTION estimator.session_role();

-- Store a model's schedule after est_schedule made its job.  The job must
-- be the caller's, run the model's command in this database, and the
-- caller must own the model.  A schedule whose job still exists is
-- replaced only by the role of that job.
CREATE FUNCTION estimator.schedule_put_for(caller regrole, model text,
										   source text, steps bigint,
										   epochs integer,
										   only_if_changed boolean,
										   jobid bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	job record;
	old record;
	alive boolean;
	owner regrole;
BEGIN
	IF caller IS NULL OR model IS NULL OR source IS NULL
	   OR only_if_changed IS NULL OR jobid IS NULL THEN
		RAISE EXCEPTION 'model, source, only_if_changed and jobid must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT m.owner INTO owner
	  FROM estimator.model_catalog m
	 WHERE m.name OPERATOR(pg_catalog.=) schedule_put_for.model;
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
		INTO job USING schedule_put_for.jobid;
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
	 WHERE s.model OPERATOR(pg_catalog.=) schedule_put_for.model
	   FOR UPDATE;
	IF FOUND AND old.jobid OPERATOR(pg_catalog.<>) schedule_put_for.jobid THEN
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
		VALUES (schedule_put_for.model, schedule_put_for.source,
				schedule_put_for.steps, schedule_put_for.epochs,
				schedule_put_for.only_if_changed, schedule_put_for.jobid, caller)
	ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
		SET source = excluded.source, steps = excluded.steps,
			epochs = excluded.epochs, only_if_changed = excluded.only_if_changed,
			jobid = excluded.jobid, scheduled_by = excluded.scheduled_by,
			last_fingerprint = CASE WHEN s.source OPERATOR(pg_catalog.=) excluded.source
								THEN s.last_fingerprint END;
END
$$;
REVOKE ALL ON FUNCTION estimator.schedule_put_for(regrole, text, text, bigint, integer, boolean, bigint)
	FROM PUBLIC;
COMMENT ON FUNCTION estimator.schedule_put_for(regrole, text, text, bigint, integer, boolean, bigint)
	IS 'internal: store the schedule of a model for role caller once est_schedule made its pg_cron job (called by estimator.schedule_put only)';

CREATE FUNCTION estimator.schedule_put(model text, source text, steps bigint,
									   epochs integer, only_if_changed boolean,
									   jobid bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'est_schedule_put'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION estimator.schedule_put(text, text, bigint, integer, boolean, bigint)
	IS 'internal: store the schedule of a model once est_schedule made its pg_cron job, for the current user';

-- Record the outcome of a run, for the role whose job it is.  A schedule
-- that est_unschedule removed while the run trained is no error: up to
-- 0.7.0 the run then failed at its end and rolled its training back.
CREATE FUNCTION estimator.schedule_record_for(caller regrole, model text,
											  fingerprint text, status text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF caller IS NULL OR model IS NULL OR status IS NULL THEN
		RAISE EXCEPTION 'model and status must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	UPDATE estimator.schedules s
	   SET last_fingerprint = fingerprint, last_run = pg_catalog.now(),
		   last_status = status
	 WHERE s.model OPERATOR(pg_catalog.=) schedule_record_for.model
	   AND pg_catalog.pg_has_role(caller, s.scheduled_by, 'USAGE');
	IF FOUND THEN
		RETURN;
	END IF;
	-- unscheduled while the run trained: the run's training stays.  A
	-- schedule that the caller may not see (policy schedules_read) counts
	-- as none, so that the answer tells nothing of another role's.
	IF NOT EXISTS (SELECT 1 FROM estimator.schedules s
					WHERE s.model OPERATOR(pg_catalog.=) schedule_record_for.model
					  AND (pg_catalog.pg_has_role(caller, s.scheduled_by, 'USAGE')
						   OR EXISTS (SELECT 1 FROM estimator.model_catalog m
									   WHERE m.name OPERATOR(pg_catalog.=) s.model
										 AND pg_catalog.pg_has_role(caller, m.owner, 'USAGE')))) THEN
		RAISE WARNING 'model "%" has no schedule any more, so this run is not recorded', model
			USING DETAIL = 'It was unscheduled while the run trained; the training is kept.';
		RETURN;
	END IF;
	RAISE EXCEPTION 'model "%" has no schedule of role %', model, caller
		USING ERRCODE = 'undefined_object';
END
$$;
REVOKE ALL ON FUNCTION estimator.schedule_record_for(regrole, text, text, text)
	FROM PUBLIC;
COMMENT ON FUNCTION estimator.schedule_record_for(regrole, text, text, text)
	IS 'internal: record the outcome of a scheduled training for role caller (called by estimator.schedule_record only)';

CREATE FUNCTION estimator.schedule_record(model text, fingerprint text, status text)
RETURNS void
AS 'MODULE_PATHNAME', 'est_schedule_record'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION estimator.schedule_record(text, text, text)
	IS 'internal: record the outcome of a scheduled training (role of the job only, as the current user)';

-- Lock a model's row for a run, as est_train does, if the role has its
-- schedule.
CREATE FUNCTION estimator.schedule_lock_for(caller regrole, model text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM 1
	   FROM estimator.model_catalog m
	   JOIN estimator.schedules s ON s.model OPERATOR(pg_catalog.=) m.name
	  WHERE m.name OPERATOR(pg_catalog.=) schedule_lock_for.model
		AND pg_catalog.pg_has_role(caller, s.scheduled_by, 'USAGE')
	    FOR NO KEY UPDATE OF m;
END
$$;
REVOKE ALL ON FUNCTION estimator.schedule_lock_for(regrole, text) FROM PUBLIC;
COMMENT ON FUNCTION estimator.schedule_lock_for(regrole, text)
	IS 'internal: lock a model''s row for a scheduled training of role caller (called by estimator.schedule_lock only)';

CREATE FUNCTION estimator.schedule_lock(model text)
RETURNS void
AS 'MODULE_PATHNAME', 'est_schedule_lock'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION estimator.schedule_lock(text)
	IS 'internal: lock a model''s row for a scheduled training, as est_train does (role of the schedule only, as the current user)';

-- Forget a model's schedule once its job is gone, if the role may see the
-- schedule (as the policy schedules_read shows it): the role of the
-- schedule, or the owner of the model.  Up to 0.7.0 schedule_forget was
-- SECURITY DEFINER, executable by PUBLIC and blind to its caller: any
-- role deleted another role's schedule whose job was gone (removed by
-- hand, or not restored with a dump), and learned the job id and role of
-- any model's schedule from its error.  Another role's schedule is now
-- none, as est_unschedule sees it.
DROP FUNCTION estimator.schedule_forget(text);

CREATE FUNCTION estimator.schedule_forget_for(caller regrole, model text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	alive boolean;
BEGIN
	SELECT x.jobid, x.scheduled_by, m.owner INTO s
	  FROM estimator.schedules x
	  JOIN estimator.model_catalog m ON m.name OPERATOR(pg_catalog.=) x.model
	 WHERE x.model OPERATOR(pg_catalog.=) schedule_forget_for.model
	   FOR UPDATE OF x;
	IF NOT FOUND
	   OR NOT (pg_catalog.pg_has_role(caller, s.scheduled_by, 'USAGE')
			   OR pg_catalog.pg_has_role(caller, s.owner, 'USAGE')) THEN
		RETURN false;
	END IF;
	alive := estimator.schedule_job_alive(s.jobid, model);
	IF alive THEN
		RAISE EXCEPTION 'pg_cron job % that retrains model "%" belongs to role %',
			s.jobid, model, s.scheduled_by
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only that role or a superuser can unschedule it.';
	END IF;
	DELETE FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) schedule_forget_for.model;
	RETURN true;
END
$$;
REVOKE ALL ON FUNCTION estimator.schedule_forget_for(regrole, text) FROM PUBLIC;
COMMENT ON FUNCTION estimator.schedule_forget_for(regrole, text)
	IS 'internal: delete the schedule of a model whose pg_cron job is gone, for role caller (called by estimator.schedule_forget only)';

CREATE FUNCTION estimator.schedule_forget(model text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'est_schedule_forget'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION estimator.schedule_forget(text)
	IS 'internal: delete the schedule of a model whose pg_cron job is gone (role of the schedule or owner of the model only, as the current user)';

-- est_schedule and est_unschedule of one model take turns: a
-- transaction-level advisory lock on the model's name (advisory locks are
-- per database), taken before they read the schedule.
CREATE FUNCTION estimator.schedule_take_turn(model text)
RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.pg_advisory_xact_lock(
		pg_catalog.hashtextextended('estimator.schedule ' OPERATOR(pg_catalog.||) model, 0))
$$;
COMMENT ON FUNCTION estimator.schedule_take_turn(text)
	IS 'internal: wait for the other est_schedule and est_unschedule calls of a model to end (a transaction-level advisory lock)';

-- A superuser replaces another role's schedule, as the error of
-- schedule_put promises.  est_schedule removed the old job only when its
-- name differed from the new one; pg_cron names jobs per role, so a
-- superuser's est_schedule of a model that another role had scheduled
-- under the default name made a second job and then failed with "already
-- scheduled by pg_cron job N of role R".  It now removes the old job when
-- it is another role's too (pg_cron shows a role only its own jobs, and a
-- superuser every job).
--
-- Two est_schedule calls for one model at once left two jobs: neither saw
-- the other's uncommitted job, nor its schedule, so neither removed the
-- other's job, and the second's schedule_put replaced the first's row
-- once it committed.  The first job went on firing and training the model
-- with the second's settings (it runs as the schedule's role, so its runs
-- pass).  A call now takes its turn (schedule_take_turn) before it reads
-- the schedule; the second call waits for the first to commit and then
-- replaces its job as a later call does.
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
	-- NULL here failed on a NOT NULL constraint of estimator.schedules,
	-- after pg_cron had been asked for a job
	IF only_if_changed IS NULL THEN
		RAISE EXCEPTION 'only_if_changed must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass true to skip the runs that find the source unchanged, or false to train at every run.';
	END IF;
	IF steps IS NOT NULL AND steps < 1 THEN
		RAISE EXCEPTION 'steps must be positive, not %', steps
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF epochs IS NOT NULL AND epochs < 1 THEN
		RAISE EXCEPTION 'epochs must be positive, not %', epochs
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF job_name OPERATOR(pg_catalog.~) '^\s*$' THEN
		RAISE EXCEPTION 'job_name must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Leave job_name out to name the job "retrain <model>".';
	END IF;
	-- the relation the caller means, whatever the job's search_path
	source := estimator.schedule_source(source);
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
	-- Calls for one model take turns, each reading what the last one
	-- committed (see above).
	PERFORM estimator.schedule_take_turn(model);

	-- A schedule of another job name, or of another role: unschedule its
	-- job first, if the caller sees it (its own; a superuser sees every
	-- job), since cron.schedule below replaces only a job of the caller's
	-- of the same name (schedule_put refuses to replace another's).
	name := coalesce(job_name, 'retrain ' OPERATOR(pg_catalog.||) model);
	SELECT * INTO old FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) est_schedule.model;
	IF FOUND THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
				' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
				' AND (j.jobname IS DISTINCT FROM $2'
				' OR j.username OPERATOR(pg_catalog.<>) pg_catalog."current_user"()::pg_catalog.text))'
			INTO visible USING old.jobid, name;
		visible := visible AND estimator.schedule_job_alive(old.jobid, model);
		IF visible THEN
			EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
		END IF;
	END IF;

	EXECUTE 'SELECT cron.schedule($1, $2, $3)'
		INTO jobid USING name, schedule, estimator.schedule_command(model);
	-- the caller's jobs of this model left by est_drop_model, or made by hand
	PERFORM estimator.schedule_drop_strays(model, jobid);
	PERFORM estimator.schedule_put(model, source, steps, epochs,
								   only_if_changed, jobid);
	RETURN jobid;
END
$$;

-- The fingerprint of a relation covers the columns the caller may read.
-- It hashed each row whole (t::text), which needs SELECT on every column:
-- a role with SELECT on some columns only, the model's among them, trained
-- on the relation (est_train reads the model's columns alone) but its
-- fingerprint failed, so that only_if_changed never skipped a run.  Such
-- a role now hashes the row of the columns it may read, in their order;
-- with SELECT on the table, ROW(every column)::text is t::text, and the
-- fingerprint is the one of 0.7.0.
CREATE OR REPLACE FUNCTION estimator.source_fingerprint(source text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	rel regclass;
	from_clause text;
	row_text text := 't::pg_catalog.text';
	readable text;
	fp text;
BEGIN
	IF source OPERATOR(pg_catalog.~*) '^[\s(]*(select|with|values|table)([^[:alnum:]_$]|$)' THEN
		-- a query: as a subquery, which rejects a second statement and
		-- data-modifying WITH
		from_clause := pg_catalog.format(E'(\n%s\n) t',
			pg_catalog.regexp_replace(source, '[\s;]+$', ''));
	ELSE
		rel := pg_catalog.to_regclass(source);
		IF rel IS NULL THEN
			RAISE EXCEPTION 'relation "%" does not exist', source
				USING ERRCODE = 'undefined_table';
		END IF;
		from_clause := rel::pg_catalog.text OPERATOR(pg_catalog.||) ' t';
		IF NOT pg_catalog.has_table_privilege(rel, 'SELECT') THEN
			SELECT pg_catalog.string_agg(pg_catalog.format('t.%I', a.attname), ', '
										 ORDER BY a.attnum)
			  INTO readable
			  FROM pg_catalog.pg_attribute a
			 WHERE a.attrelid OPERATOR(pg_catalog.=) rel
			   AND a.attnum OPERATOR(pg_catalog.>) 0
			   AND NOT a.attisdropped
			   AND pg_catalog.has_column_privilege(rel, a.attnum, 'SELECT');
			-- none: the scan below says that permission is denied
			IF readable IS NOT NULL THEN
				row_text := pg_catalog.format('ROW(%s)::pg_catalog.text', readable);
			END IF;
		END IF;
	END IF;
	EXECUTE 'SELECT pg_catalog.md5(pg_catalog.count(*)::pg_catalog.text'
			' OPERATOR(pg_catalog.||) '':'' OPERATOR(pg_catalog.||)'
			' pg_catalog.sum((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 1, 15))::pg_catalog.bit(60)::pg_catalog.int8)::pg_catalog.text'
			' OPERATOR(pg_catalog.||) '':'' OPERATOR(pg_catalog.||)'
			' pg_catalog.sum((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 16, 15))::pg_catalog.bit(60)::pg_catalog.int8)::pg_catalog.text)'
			' FROM (SELECT pg_catalog.md5(' OPERATOR(pg_catalog.||) row_text
			OPERATOR(pg_catalog.||) ') AS h FROM '
			OPERATOR(pg_catalog.||) from_clause OPERATOR(pg_catalog.||) ') r'
		INTO fp;
	RETURN fp;
END
$$;

-- est_unschedule takes the same lock as est_schedule: run while an
-- est_schedule of the model had not committed, it found no schedule,
-- returned false and left the job that est_schedule then committed.
CREATE OR REPLACE FUNCTION est_unschedule(model text)
RETURNS boolean
LANGUAGE plpgsql STRICT
AS $$
DECLARE
	s estimator.schedules;
	visible boolean;
BEGIN
	PERFORM estimator.check_cron();
	-- after any est_schedule of the model, as est_schedule does
	PERFORM estimator.schedule_take_turn(model);
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
		-- a job that est_drop_model left
		RETURN estimator.schedule_drop_strays(model, NULL) OPERATOR(pg_catalog.>) 0;
	END IF;
	visible := estimator.schedule_job_alive(s.jobid, model);
	IF visible THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING s.jobid;
	END IF;
	PERFORM estimator.schedule_drop_strays(model, NULL);
	RETURN estimator.schedule_forget(model);
END
$$;
