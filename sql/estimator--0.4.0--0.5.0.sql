/* sql/estimator--0.4.0--0.5.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.5.0'" to load this file. \quit

-- A scheduled retraining runs only as the role that scheduled it.  The
-- check that the job is the caller's (pg_cron shows a role only its own
-- jobs) let a superuser's job through for any schedule, since superusers
-- see every job: a job left behind by a dropped model (est_drop_model
-- leaves pg_cron's job) ran, as a superuser, the source of whoever
-- scheduled a model of the same name afterwards.
CREATE OR REPLACE FUNCTION estimator.run_scheduled(model text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	s estimator.schedules;
	mine boolean;
	fp text;
	r record;
	status text;
BEGIN
	SELECT * INTO s FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) run_scheduled.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no schedule', model
			USING ERRCODE = 'undefined_object',
				  HINT = 'Schedule it with est_schedule, or remove this job with cron.unschedule.';
	END IF;
	-- pg_cron shows a role only its own jobs (superusers see all).
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1)'
		INTO mine USING s.jobid;
	IF NOT mine THEN
		RAISE EXCEPTION 'the retraining of model "%" is pg_cron job % of role %',
			model, s.jobid, s.scheduled_by
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Remove this job with cron.unschedule.';
	END IF;
	-- The source is the scheduling role's SQL: it runs as that role only.
	-- A superuser sees every job, so a job of its own left behind by a
	-- dropped model passed the check above and ran the source of whoever
	-- scheduled a model of that name since, with a superuser's rights.
	IF s.scheduled_by::pg_catalog.oid OPERATOR(pg_catalog.<>)
	   (SELECT a.oid FROM pg_catalog.pg_roles a
		 WHERE a.rolname OPERATOR(pg_catalog.=) pg_catalog."current_user"()) THEN
		RAISE EXCEPTION 'the retraining of model "%" was scheduled by role %, not by role %',
			model, s.scheduled_by, pg_catalog."current_user"()
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Remove this job with cron.unschedule; the role that scheduled the model runs its retraining.';
	END IF;
	IF s.only_if_changed THEN
		BEGIN
			fp := estimator.source_fingerprint(s.source);
		EXCEPTION WHEN OTHERS THEN
			-- est_train below reports what is wrong with the source
			fp := NULL;
		END;
		IF fp IS NOT NULL AND fp OPERATOR(pg_catalog.=) s.last_fingerprint THEN
			status := 'skipped: source unchanged';
			PERFORM estimator.schedule_record(model, fp, status);
			RETURN status;
		END IF;
	END IF;
	SELECT t.global_step, t.loss, t.rows_read INTO r
	  FROM @extschema@.est_train(run_scheduled.model, s.source, steps => s.steps,
								 epochs => s.epochs) t;
	status := pg_catalog.format('trained: global_step %s, loss %s, %s rows',
								r.global_step,
								pg_catalog.round(r.loss::pg_catalog.numeric, 6),
								r.rows_read);
	PERFORM estimator.schedule_record(model, fp, status);
	RETURN status;
END
$$;
