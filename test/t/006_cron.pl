# 006_cron.pl: scheduled retraining with pg_cron (est_schedule).
#
#   a) a model owned by an ordinary role, scheduled '* * * * *' by that
#      role: pg_cron's next run (within a minute) trains it, as that role,
#      while another session predicts in a loop without an error and
#      switches to the new checkpoint; the run sends pg_cron none of
#      est_train's loss reports
#   b) the remaining runs come from '@reboot' and a restart each, as
#      pg_cron 1.4 (Debian bookworm) has no schedules in seconds:
#      with the source unchanged the run is skipped (only_if_changed) and
#      global_step stays; one changed row and the next run trains again
#   c) a run whose source lost a feature column fails, and
#      cron.job_run_details shows estimator's message
#   d) est_unschedule removes the job and the schedule
#   f) est_drop_model removes the caller's job; a superuser's job left
#      behind does not run the schedule of another role's model of the
#      same name
#   g) a stored job id that pg_cron gave to another job of the role (a
#      schedule restored into another cluster) is not the model's:
#      est_schedule and est_unschedule leave that job alone
#   h) a relation named under the caller's search_path is the one the
#      job reads, whatever the job role's search_path
#   i) two jobs that retrain one model at the same time take turns: the
#      second finds the source unchanged and skips
#   j) a role has one job per model: est_schedule and est_unschedule
#      remove the role's other jobs of the model, such as one made by
#      hand; est_drop_model removes the role's job, but not when it rolls
#      back
#   k) an unprivileged role's code that a superuser's session runs (an
#      expression index that the superuser's ANALYZE evaluates) cannot
#      rewrite the superuser's schedule: the helpers act for the role
#      whose code calls them (up to 0.7.0, for the session's role)
#   l) a role forgets (est_unschedule, estimator.schedule_forget) no
#      schedule of another role whose job is gone, and learns nothing of
#      it; the owner of the model still forgets it (up to 0.8.0's first
#      cut, any role deleted it)
#   m) a superuser's est_schedule replaces another role's schedule of
#      the same job name
#   n) two est_schedule calls for one model at once leave one job, and
#      est_unschedule waits for an est_schedule and removes its job
#   o) est_unschedule while a run trains keeps the run's training
#   e) the server log shows no crash
#
# Skipped when pg_cron is not installed (test/scripts/deps.sh test
# installs it).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use EstimatorTest;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => "pg_cron is not installed in $sharedir"
  unless -f "$sharedir/extension/pg_cron.control";

my $db = 'postgres';
my $node = EstimatorTest::new_node('cron');
# Jobs run in background workers: no connection, so no password.
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = '$db'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->restart;
EstimatorTest::setup_db($node, $db);
$node->safe_psql(
	$db, q{
CREATE EXTENSION pg_cron;
CREATE ROLE alice LOGIN;
GRANT USAGE ON SCHEMA cron TO alice;
CREATE TABLE flowers AS SELECT * FROM iris_train;
ALTER TABLE flowers OWNER TO alice;
});

my @alice = (extra_params => [ '-U', 'alice' ]);

sub step
{
	return $node->safe_psql($db,
		q{SELECT global_step FROM estimator.models WHERE name = 'flowers_model'});
}

# wait_runs waits until the job has $n finished runs and returns the last
# one's "status|return_message".
sub wait_runs
{
	my ($jobid, $n, $seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		my $done = $node->safe_psql($db,
			"SELECT count(*) FROM cron.job_run_details WHERE jobid = $jobid"
			  . " AND status IN ('succeeded', 'failed')");
		if ($done >= $n)
		{
			return $node->safe_psql($db,
				"SELECT status || '|' || coalesce(return_message, '')"
				  . " FROM cron.job_run_details WHERE jobid = $jobid"
				  . " ORDER BY runid DESC LIMIT 1");
		}
		sleep 0.2;
	}
	return 'timeout';
}

$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('flowers_model', 'flowers', steps => 100,
					   params => '{"seed": 1}');}, @alice);
is(step(), '100', 'alice trained flowers_model to step 100');

###
### a) the first run, as alice, while predictions go on
###
my $jobid = $node->safe_psql($db,
	q{SELECT est_schedule('flowers_model', 'flowers', '* * * * *', steps => 200)},
	@alice);
like($jobid, qr/^\d+$/, 'est_schedule returns the job id');
is( $node->safe_psql(
		$db, "SELECT username || ' ' || command FROM cron.job WHERE jobid = $jobid"),
	q{alice SELECT estimator.run_scheduled('flowers_model')},
	'the job runs estimator.run_scheduled as alice');

# The predicting session loops until it has seen the run's commit for a
# few predictions, or 80 s; it records every probability vector.
my $bg = $node->background_psql($db, @alice, timeout => 120);
my ($out, $ret) = $bg->query(
	q{
CREATE TEMP TABLE seen (p text);
DO $$
DECLARE
	after integer := 0;
BEGIN
	LOOP
		INSERT INTO seen
			SELECT est_predict_proba('flowers_model', t)::text
			  FROM flowers t ORDER BY sepal_length, sepal_width, petal_length, petal_width
			 LIMIT 1;
		IF (SELECT last_run FROM estimator.schedules
			 WHERE model = 'flowers_model') IS NOT NULL THEN
			after := after + 1;
		END IF;
		EXIT WHEN after >= 5
			OR clock_timestamp() > statement_timestamp() + interval '80 s';
		PERFORM pg_sleep(0.05);
	END LOOP;
END
$$;
SELECT count(*) || ' ' || count(DISTINCT p) FROM seen;
});
is($ret, 0, 'the predicting session saw no error')
  or diag($bg->{stderr});
$bg->quit;
my ($n_pred, $n_distinct) = split / /, $out;
cmp_ok($n_pred, '>', 5, "predictions went on during the run ($n_pred)");
is($n_distinct, 2, 'predictions switched to the new checkpoint once');

is(wait_runs($jobid, 1, 30), 'succeeded|SELECT 1', 'the first run succeeded');
is(step(), '300', 'the run trained 200 steps');
is( $node->safe_psql(
		$db,
		q{SELECT last_status LIKE 'trained: global_step 300,%' AND last_fingerprint IS NOT NULL
			FROM estimator.schedules WHERE model = 'flowers_model'}),
	't',
	'the schedule records the training and the fingerprint');
is( $node->safe_psql(
		$db,
		q{SELECT count(*) FROM estimator.checkpoints c
			JOIN estimator.models m ON m.name = c.model
		   WHERE c.model = 'flowers_model' AND m.owner = 'alice'::regrole}),
	'2',
	'the model is still alice\'s, with both checkpoints');
# pg_cron's launcher logs each message that a job sends ("cron job N:
# NOTICE: ...") and writes it into cron.job_run_details while the job
# waits: est_train's loss reports, two in 200 steps, must not reach it.
# They stay in the training log.
unlike(
	slurp_file($node->logfile),
	qr/cron job $jobid: NOTICE/,
	'the run sent pg_cron no loss report');
is( $node->safe_psql(
		$db,
		q{SELECT count(*) FROM estimator.training_log
		   WHERE model = 'flowers_model' AND global_step IN (200, 300)}),
	'2',
	'the training log has the run\'s reports');

###
### b) runs at start-up: unchanged source, then a changed row
###
is( $node->safe_psql($db,
		q{SELECT est_schedule('flowers_model', 'flowers', '@reboot', steps => 200)},
		@alice),
	$jobid,
	'rescheduling keeps the job');
$node->restart;
is(wait_runs($jobid, 2, 30), 'succeeded|SELECT 1', 'the second run succeeded');
is( $node->safe_psql($db,
		q{SELECT last_status FROM estimator.schedules WHERE model = 'flowers_model'}),
	'skipped: source unchanged',
	'an unchanged source is skipped');
is(step(), '300', 'global_step did not grow');

$node->safe_psql($db,
	q{UPDATE flowers SET petal_width = petal_width + 0.1
	   WHERE ctid = (SELECT min(ctid) FROM flowers)});
$node->restart;
is(wait_runs($jobid, 3, 30), 'succeeded|SELECT 1', 'the third run succeeded');
is(step(), '500', 'a changed row: the run trained again');

###
### c) a failing run
###
$node->safe_psql($db, q{ALTER TABLE flowers DROP COLUMN petal_width});
$node->restart;
like(
	wait_runs($jobid, 4, 30),
	qr/^failed\|ERROR:\s+feature column "petal_width" does not exist in source "public.flowers"/,
	'cron.job_run_details shows estimator\'s error');
is(step(), '500', 'the failed run changed nothing');

###
### d) est_unschedule
###
is($node->safe_psql($db, q{SELECT est_unschedule('flowers_model')}, @alice),
	't', 'est_unschedule removes the schedule');
is( $node->safe_psql(
		$db,
		"SELECT (SELECT count(*) FROM cron.job WHERE jobid = $jobid) || ' '"
		  . " || (SELECT count(*) FROM estimator.schedules)"),
	'0 0',
	'the job and the schedule are gone');
is($node->safe_psql($db, q{SELECT est_unschedule('flowers_model')}, @alice),
	'f', 'a second est_unschedule finds nothing');

###
### f) a superuser's job left behind runs no other role's schedule
###
# The superuser schedules a model of its own and drops the model, which
# removes the superuser's job; a job of the model's command that it makes
# by hand stays (or one of a role that did not drop the model).  alice
# then trains and schedules a model of the same name.  The superuser's
# job, which sees every job, must not run alice's source with a
# superuser's rights (here run by hand, as pg_cron runs it, as the
# superuser).
my $nightly_jobs = q{SELECT count(*) FROM cron.job
	WHERE command = estimator.schedule_command('nightly')};
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('nightly', 'iris_train', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('nightly', 'iris_train', '0 3 * * *', steps => 10);});
is($node->safe_psql($db, $nightly_jobs), '1', 'the superuser\'s model has a job');
$node->safe_psql($db, q{SELECT est_drop_model('nightly')});
is($node->safe_psql($db, $nightly_jobs), '0', 'est_drop_model removes the job');
$node->safe_psql(
	$db, q{SELECT cron.schedule('nightly by hand', '0 3 * * *',
							  estimator.schedule_command('nightly'));
	  CREATE TABLE alice_rows AS SELECT * FROM iris_train;
	  ALTER TABLE alice_rows OWNER TO alice;});
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('nightly', 'alice_rows', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('nightly', 'alice_rows', '0 4 * * *', steps => 10);},
	@alice);
my ($rc, $run_out, $run_err) = $node->psql($db,
	q{SELECT estimator.run_scheduled('nightly')});
isnt($rc, 0, 'the superuser\'s call of run_scheduled fails');
like(
	$run_err,
	qr/the retraining of model "nightly" was scheduled by role alice, not by role \w+/,
	'it names the role that scheduled the model');
is( $node->safe_psql($db,
		q{SELECT global_step FROM estimator.models WHERE name = 'nightly'}),
	'10', 'alice\'s model did not train');
like(
	$node->safe_psql($db, q{SELECT estimator.run_scheduled('nightly')}, @alice),
	qr/^trained: global_step 20,/,
	'alice\'s own call trains it');
$node->safe_psql($db, q{SELECT est_unschedule('nightly')}, @alice);

###
### g) a stored job id that pg_cron gave to another job is not the model's
###
# A schedule restored into another cluster keeps its job id, which may be
# another job's there: here alice's job of another command.  Neither
# est_schedule under another job name nor est_unschedule may remove it.
$node->safe_psql($db,
	q{SELECT est_schedule('nightly', 'alice_rows', '0 4 * * *', steps => 10)},
	@alice);
my $other = $node->safe_psql($db,
	q{SELECT cron.schedule('alice other', '0 5 * * *', 'SELECT 1')}, @alice);
$node->safe_psql($db,
	"UPDATE estimator.schedules SET jobid = $other WHERE model = 'nightly'");
$node->safe_psql($db,
	q{SELECT est_schedule('nightly', 'alice_rows', '0 6 * * *', steps => 10,
						  job_name => 'nightly again')},
	@alice);
is($node->safe_psql($db, "SELECT count(*) FROM cron.job WHERE jobid = $other"),
	'1', 'est_schedule under another job name leaves the other job alone');
$node->safe_psql($db,
	"UPDATE estimator.schedules SET jobid = $other WHERE model = 'nightly'");
is($node->safe_psql($db, q{SELECT est_unschedule('nightly')}, @alice),
	't', 'est_unschedule forgets a schedule whose job id is another job\'s');
is( $node->safe_psql(
		$db,
		"SELECT (SELECT count(*) FROM cron.job WHERE jobid = $other) || ' '"
		  . " || (SELECT count(*) FROM estimator.schedules)"),
	'1 0',
	'and leaves that job alone');
$node->safe_psql($db, q{SELECT cron.unschedule(jobid) FROM cron.job});

###
### h) the job reads the relation that est_schedule resolved
###
# alice schedules "alice_rows" under SET search_path = alice_lab, public:
# the job, under alice's default search_path, must read
# alice_lab.alice_rows (240 rows), not public.alice_rows (120).
$node->safe_psql(
	$db, q{CREATE SCHEMA alice_lab AUTHORIZATION alice;
	  CREATE TABLE alice_lab.alice_rows AS
		  SELECT * FROM alice_rows UNION ALL SELECT * FROM alice_rows;
	  ALTER TABLE alice_lab.alice_rows OWNER TO alice;});
my $job_h = $node->safe_psql(
	$db, q{SET search_path = alice_lab, public;
	  SELECT est_schedule('nightly', 'alice_rows', '@reboot', steps => 10,
						  only_if_changed => false, job_name => 'nightly h');},
	@alice);
is( $node->safe_psql($db,
		q{SELECT source FROM estimator.schedules WHERE model = 'nightly'}),
	'alice_lab.alice_rows',
	'the schedule stores the relation schema-qualified');
$node->restart;
is(wait_runs($job_h, 1, 30), 'succeeded|SELECT 1', 'the run succeeded');
is( $node->safe_psql(
		$db,
		q{SELECT source || ' ' || rows_read FROM estimator.checkpoints
		   WHERE model = 'nightly' ORDER BY global_step DESC LIMIT 1}),
	'alice_lab.alice_rows 240',
	'the run trained on the relation alice meant');
$node->safe_psql($db, q{SELECT est_unschedule('nightly')}, @alice);

###
### i) two jobs of one model take turns
###
# A second job that runs the model's retraining (made by hand) fires with
# the schedule's, at start-up.  The run that comes second must wait for
# the first to commit, find the source unchanged and skip, rather than
# compare the fingerprint before the first recorded it and train again.
my $job_i = $node->safe_psql(
	$db, q{SELECT est_schedule('nightly', 'alice_lab.alice_rows', '@reboot',
							 steps => 200000, job_name => 'nightly i')},
	@alice);
my $dup = $node->safe_psql(
	$db, q{SELECT cron.schedule('nightly dup', '@reboot',
							  $$SELECT estimator.run_scheduled('nightly')$$)},
	@alice);
my $nightly_step = q{SELECT global_step FROM estimator.models WHERE name = 'nightly'};
my $step_i = $node->safe_psql($db, $nightly_step);
$node->restart;
is(wait_runs($job_i, 1, 120), 'succeeded|SELECT 1', 'the schedule\'s run succeeded');
is(wait_runs($dup, 1, 120), 'succeeded|SELECT 1', 'the second job\'s run succeeded');
is($node->safe_psql($db, $nightly_step), $step_i + 200000,
	'the model trained once');
is( $node->safe_psql(
		$db, q{SELECT last_status FROM estimator.schedules WHERE model = 'nightly'}),
	'skipped: source unchanged',
	'the second run found the source unchanged');

###
### j) one job of the role per model
###
# est_unschedule removes the second job as well as the schedule's.
is($node->safe_psql($db, q{SELECT est_unschedule('nightly')}, @alice),
	't', 'est_unschedule removes the schedule');
is($node->safe_psql($db, "SELECT count(*) FROM cron.job WHERE jobid IN ($job_i, $dup)"),
	'0', 'and both jobs that retrained the model');
# A job of the model's command that the role made by hand (or that
# est_drop_model of 0.7.0 left).  Trained and scheduled anew under another
# job name, the model must not keep the old job, which would go on firing
# at its old times.
my $stray_jobs = q{SELECT string_agg(jobname, ',' ORDER BY jobid) FROM cron.job
	WHERE command = estimator.schedule_command('stray')};
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('stray', 'alice_rows', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('stray', 'alice_rows', '0 3 * * *');
	  SELECT est_drop_model('stray');},
	@alice);
is($node->safe_psql($db, $stray_jobs), '',
	'est_drop_model removes the role\'s job');
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT cron.schedule('retrain stray', '0 3 * * *', estimator.schedule_command('stray'));
	  SELECT est_train('stray', 'alice_rows', steps => 10, params => '{"seed": 1}');},
	@alice);
$node->safe_psql($db,
	q{SELECT est_schedule('stray', 'alice_rows', '0 4 * * *', job_name => 'stray again')},
	@alice);
is($node->safe_psql($db, $stray_jobs), 'stray again',
	'est_schedule under another job name removes the job left behind');
# a drop that rolls back keeps the job
$node->safe_psql($db, q{BEGIN; SELECT est_drop_model('stray'); ROLLBACK;}, @alice);
is($node->safe_psql($db, $stray_jobs), 'stray again',
	'a rolled back est_drop_model keeps the job');
# dropped: est_unschedule finds no schedule but removes a job left behind
$node->safe_psql(
	$db, q{SELECT est_drop_model('stray');
	  SELECT cron.schedule('stray by hand', '0 3 * * *', estimator.schedule_command('stray'));},
	@alice);
is($node->safe_psql($db, q{SELECT est_unschedule('stray')}, @alice),
	't', 'est_unschedule of a dropped model removes its job');
is($node->safe_psql($db, $stray_jobs), '', 'no job is left');
# a role that may not use pg_cron's schema has no job, and drops its model
$node->safe_psql(
	$db, q{CREATE ROLE carol LOGIN;
	  CREATE TABLE carol_rows AS SELECT * FROM iris_train;
	  ALTER TABLE carol_rows OWNER TO carol;});
is( $node->safe_psql(
		$db, q{SET client_min_messages = warning;
		  SELECT global_step FROM est_train('carol_model', 'carol_rows', steps => 5);
		  SELECT est_drop_model('carol_model');
		  SELECT count(*) FROM estimator.models WHERE name = 'carol_model';},
		extra_params => [ '-U', 'carol' ]),
	"5\n\n0", 'a role without usage on schema cron drops its model');
is($node->safe_psql($db, q{SELECT est_unschedule('stray')}, @alice),
	'f', 'a second est_unschedule finds nothing');

###
### k) another role's code in the superuser's session
###
# The superuser schedules a model of its own.  alice's index function
# tries to store a schedule of that model with each job id up to 50 and a
# source of her own; the superuser's ANALYZE of her table evaluates the
# index as alice.  Up to 0.7.0 the helper acted for the session's role,
# the superuser, and stored alice's source under the superuser's job,
# which would have run it with a superuser's rights.
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('su_model', 'iris_train', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('su_model', 'iris_train', '0 0 1 1 *');});
$node->safe_psql(
	$db, q{
CREATE TABLE alice_lab.alice_log (msg text);
CREATE TABLE alice_lab.alice_t (x int);
CREATE FUNCTION alice_lab.alice_note(msg text) RETURNS void
LANGUAGE sql VOLATILE
AS $$ INSERT INTO alice_lab.alice_log VALUES (msg) $$;
CREATE FUNCTION alice_lab.alice_idx(x int) RETURNS int
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
	IF current_setting('role') = 'none' AND session_user <> 'alice' THEN
		FOR j IN 1..50 LOOP
			BEGIN
				PERFORM estimator.schedule_put('su_model',
					'SELECT * FROM public.iris_train WHERE pg_sleep(0) IS NOT NULL',
					1, NULL, false, j);
				PERFORM alice_lab.alice_note('stored with job ' || j);
			EXCEPTION WHEN OTHERS THEN
				PERFORM alice_lab.alice_note(SQLERRM);
			END;
		END LOOP;
	END IF;
	RETURN x;
END
$$;
CREATE INDEX ON alice_lab.alice_t (alice_lab.alice_idx(x));
}, @alice);
# rows inserted by alice herself: the index does nothing then
$node->safe_psql($db, q{INSERT INTO alice_lab.alice_t SELECT generate_series(1, 20)}, @alice);
$node->safe_psql($db, q{ANALYZE alice_lab.alice_t});
is( $node->safe_psql(
		$db,
		q{SELECT source || ' ' || (scheduled_by::text = current_user)
			FROM estimator.schedules WHERE model = 'su_model'}),
	'public.iris_train true',
	'alice\'s index did not rewrite the superuser\'s schedule');
is( $node->safe_psql(
		$db,
		q{SELECT count(*) || ' ' || count(DISTINCT msg) || ' ' || min(msg)
			FROM alice_lab.alice_log}),
	'1000 1 must be owner of model "su_model" to schedule its training',
	'each of its calls (20 rows, 50 job ids) acted for alice and was refused');
$node->safe_psql(
	$db, q{SELECT est_unschedule('su_model');
	  SELECT est_drop_model('su_model');
	  DROP TABLE alice_lab.alice_t, alice_lab.alice_log;
	  DROP FUNCTION alice_lab.alice_idx(int), alice_lab.alice_note(text);});

###
### l) another role's schedule whose job is gone
###
# The superuser's schedule of its model outlives its job, removed by hand.
# schedule_forget was SECURITY DEFINER and asked nothing of its caller:
# alice deleted it, and learned the job and role of any live schedule
# from its error.
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('su_forget', 'iris_train', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('su_forget', 'iris_train', '0 0 1 1 *');});
$node->safe_psql($db, q{GRANT SELECT ON iris_train TO alice});
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('alice_forget', 'iris_train', steps => 10, params => '{"seed": 1}');},
	@alice);
$node->safe_psql($db, q{SELECT est_grant('su_forget', 'alice', 'predict')});
is( $node->safe_psql(
		$db, q{SELECT estimator.schedule_forget('su_forget')}, @alice),
	'f', 'alice cannot see the superuser\'s live schedule through schedule_forget');
$node->safe_psql(
	$db, q{SELECT cron.unschedule(jobid) FROM cron.job
			WHERE command = estimator.schedule_command('su_forget')});
is( $node->safe_psql(
		$db, q{SELECT estimator.schedule_forget('su_forget')}, @alice),
	'f', 'alice cannot forget the superuser\'s schedule whose job is gone');
my ($forget_ret, $forget_out, $forget_err) = $node->psql($db,
	q{SELECT est_unschedule('su_forget')}, extra_params => [ '-U', 'alice' ]);
like($forget_err, qr/must be owner of model "su_forget" to unschedule/,
	'nor can est_unschedule');
is( $node->safe_psql(
		$db, q{SELECT count(*) FROM estimator.schedules WHERE model = 'su_forget'}),
	'1', 'the superuser\'s schedule stays');
is($node->safe_psql($db, q{SELECT est_unschedule('su_forget')}),
	't', 'the superuser forgets it');
# alice's model, scheduled by the superuser: its owner may forget that
# schedule once its job is gone, but not while it lives
$node->safe_psql($db,
	q{SELECT est_schedule('alice_forget', 'iris_train', '0 0 1 1 *')});
($forget_ret, $forget_out, $forget_err) = $node->psql($db,
	q{SELECT estimator.schedule_forget('alice_forget')},
	extra_params => [ '-U', 'alice' ]);
like($forget_err, qr/pg_cron job \d+ that retrains model "alice_forget" belongs to role/,
	'the owner of the model cannot forget another role\'s live schedule of it');
$node->safe_psql(
	$db, q{SELECT cron.unschedule(jobid) FROM cron.job
			WHERE command = estimator.schedule_command('alice_forget')});
is($node->safe_psql($db, q{SELECT est_unschedule('alice_forget')}, @alice),
	't', 'the owner of the model forgets it once its job is gone');
$node->safe_psql($db,
	q{SELECT est_drop_model('su_forget'); SELECT est_drop_model('alice_forget');
	  REVOKE SELECT ON iris_train FROM alice;});

###
### m) a superuser replaces another role's schedule
###
# alice schedules her model under the default job name; the superuser's
# est_schedule under the same name made a job of its own (pg_cron names
# jobs per role) and failed on alice's live one.  It now removes alice's
# job and takes the schedule over.
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('alice_m', 'alice_rows', steps => 10, params => '{"seed": 1}');},
	@alice);
my $alice_job = $node->safe_psql($db,
	q{SELECT est_schedule('alice_m', 'alice_rows', '0 3 * * *')}, @alice);
my $su_job = $node->safe_psql($db,
	q{SELECT est_schedule('alice_m', 'alice_rows', '0 4 * * *')});
isnt($su_job, $alice_job, 'the superuser\'s est_schedule makes a job of its own');
is( $node->safe_psql(
		$db,
		q{SELECT string_agg((username = current_user) || ' ' || jobname, ',')
			FROM cron.job WHERE command = estimator.schedule_command('alice_m')}),
	'true retrain alice_m',
	'and removes alice\'s job of the same name');
is( $node->safe_psql(
		$db,
		q{SELECT jobid || ' ' || (scheduled_by::text = current_user)
			FROM estimator.schedules WHERE model = 'alice_m'}),
	"$su_job true", 'the schedule is the superuser\'s');
$node->safe_psql($db,
	q{SELECT est_unschedule('alice_m'); SELECT est_drop_model('alice_m');});

###
### n) two est_schedule calls for one model at once
###
# The first call's transaction stays open while the second runs.  Neither
# saw the other's job, so both jobs stayed, the second's schedule over the
# first's.  The second call now waits for the first to commit, then
# replaces its job.
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('alice_n', 'alice_rows', steps => 10, params => '{"seed": 1}');},
	@alice);
my $first = $node->background_psql($db, @alice);
$first->query_safe(
	q{BEGIN; SELECT est_schedule('alice_n', 'alice_rows', '0 3 * * *', job_name => 'n one');});
my $second = $node->background_psql($db, @alice);
$second->query_until(qr/second\n/,
	q{\echo second
SELECT est_schedule('alice_n', 'alice_rows', '0 4 * * *', job_name => 'n two');
});
ok( $node->poll_query_until(
		$db, q{SELECT count(*) = 1 FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%n two%'}),
	'the second call waits for the first');
$first->query_safe('COMMIT');
$first->quit;
$second->quit;
is( $node->safe_psql(
		$db,
		q{SELECT string_agg(jobname, ',') FROM cron.job
		   WHERE command = estimator.schedule_command('alice_n')}),
	'n two', 'one job is left, the second call\'s');
is( $node->safe_psql(
		$db,
		q{SELECT count(*) FROM estimator.schedules s JOIN cron.job j USING (jobid)
		   WHERE s.model = 'alice_n' AND j.jobname = 'n two'}),
	'1', 'and it is the schedule\'s');
# est_unschedule waits for an est_schedule of the model too, then
# removes what it committed
$first = $node->background_psql($db, @alice);
$first->query_safe(
	q{BEGIN; SELECT est_schedule('alice_n', 'alice_rows', '0 5 * * *', job_name => 'n three');});
$second = $node->background_psql($db, @alice);
$second->query_until(qr/unscheduling\n/,
	q{\echo unscheduling
SELECT est_unschedule('alice_n');
});
ok( $node->poll_query_until(
		$db, q{SELECT count(*) = 1 FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND query LIKE '%est_unschedule(''alice_n'')%'}),
	'est_unschedule waits for est_schedule');
$first->query_safe('COMMIT');
$first->quit;
like($second->query(q{SELECT 'done'}), qr/^t\ndone$/, 'and removes its schedule');
$second->quit;
is( $node->safe_psql(
		$db,
		q{SELECT (SELECT count(*) FROM cron.job
				   WHERE command = estimator.schedule_command('alice_n')) || ' ' ||
				 (SELECT count(*) FROM estimator.schedules WHERE model = 'alice_n')}),
	'0 0', 'and its job');
$node->safe_psql($db, q{SELECT est_drop_model('alice_n');}, @alice);

###
### o) est_unschedule while a run trains
###
# The run (called here as pg_cron calls it) found no schedule to record
# its outcome in at its end, failed and rolled its training back.  Its
# training now stays, with a warning.  Its source waits, before its rows
# come, for an advisory lock that this test holds: est_unschedule runs
# then.
$node->safe_psql(
	$db, q{SET client_min_messages = warning;
	  SELECT est_train('alice_o', 'alice_rows', steps => 10, params => '{"seed": 1}');
	  SELECT est_schedule('alice_o',
		  'SELECT * FROM public.alice_rows WHERE (SELECT pg_advisory_lock_shared(4242)::text) IS NOT NULL',
		  '0 3 * * *', steps => 100, only_if_changed => false);},
	@alice);
my $holder = $node->background_psql($db);
$holder->query_safe('SELECT pg_advisory_lock(4242)');
my $run = $node->background_psql($db, @alice, on_error_stop => 0);
$run->query_until(qr/running\n/, q{\echo running
SELECT estimator.run_scheduled('alice_o');
});
ok( $node->poll_query_until(
		$db, q{SELECT count(*) = 1 FROM pg_stat_activity
				WHERE wait_event = 'advisory' AND query LIKE '%run_scheduled(''alice_o'')%'}),
	'the run reads its source');
is($node->safe_psql($db, q{SELECT est_unschedule('alice_o')}, @alice),
	't', 'est_unschedule removes the schedule meanwhile');
$holder->query_safe('SELECT pg_advisory_unlock(4242)');
$holder->quit;
my $o_out = $run->query(q{SELECT 'done'});
like($o_out, qr/^trained: global_step 110,.*\ndone$/s, 'the run ends');
like($run->{stderr}, qr/WARNING:  model "alice_o" has no schedule any more, so this run is not recorded/,
	'with a warning');
$run->quit;
is( $node->safe_psql(
		$db, q{SELECT global_step FROM estimator.models WHERE name = 'alice_o'}),
	'110', 'and its training is kept');
$node->safe_psql($db, q{SELECT est_drop_model('alice_o')}, @alice);

EstimatorTest::server_log_ok($node);

$node->stop;
done_testing();
