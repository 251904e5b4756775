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
