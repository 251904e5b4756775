# 001_cancel.pl: interrupting estimator is quick and leaves no damage.
#
#   a) pg_cancel_backend stops a long est_train within 1 s; the session
#      stays usable and the model is exactly as it was
#   b) statement_timeout = 500ms stops a long est_train, a long query of
#      est_predict_label and a long est_predict_table (a model of feature
#      columns of every kind) in < 1.5 s in all
#   c) pg_cancel_backend stops a long prediction query, or a long
#      est_evaluate, within 1 s
#   d) pg_terminate_backend during a training: no crash, no restart, other
#      sessions (one in an open transaction) carry on
#   e) an immediate shutdown while one session trains at length and another
#      commits training after training: after the restart every committed
#      checkpoint loads, global_step is as committed, and nothing of the
#      interrupted work is left
#   f) the server log shows no crash

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);

use EstimatorTest;

my $db = 'postgres';
my $node = EstimatorTest::new_node('cancel');
EstimatorTest::setup_db($node, $db);

my $long = q{SELECT * FROM est_train('m', 'iris_train', steps => 100000000)};

$node->safe_psql($db,
	q{SET client_min_messages = warning;
	  SELECT est_train('m', 'iris_train', params => '{"seed": 1}');});
my $committed = EstimatorTest::model_state($node, $db, 'm');
like($committed, qr/^5000 ckpt=5000:[0-9a-f]{32} log=50$/,
	'model m trained to step 5000');

my $pred1 = $node->safe_psql($db,
	q{SELECT est_predict('m', t) FROM iris_test t WHERE id = 1});
my $start_time =
  $node->safe_psql($db, 'SELECT pg_postmaster_start_time()');

# start_training starts a long training in a background session and
# returns once it runs its steps (its first loss NOTICE came).
sub start_training
{
	my ($bg, $sql) = @_;
	$bg->{stderr} = '';
	$bg->query_until(qr/training starts\n/,
		"SET estimator.log_step_count_steps = 1000;\n"
		  . "\\echo training starts\n$sql;\n");
	ok(EstimatorTest::pump_stderr($bg, qr/NOTICE:  loss = .*step = \d+/),
		'the long training runs');
	return;
}

# signal_and_time sends pg_cancel_backend (or pg_terminate_backend) to $pid and
# returns the seconds until $re shows on the session's stderr.
sub signal_and_time
{
	my ($bg, $pid, $func, $re) = @_;
	my $t0 = time;
	$node->safe_psql($db, "SELECT $func($pid)");
	my $seen = EstimatorTest::pump_stderr($bg, $re);
	my $elapsed = time - $t0;
	ok($seen, "$func: the session reports $re")
	  or diag("stderr: $bg->{stderr}");
	return $elapsed;
}

###
### a) cancel a long training
###
{
	my $bg = $node->background_psql($db, on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	start_training($bg, $long);
	sleep(0.2);

	my $elapsed = signal_and_time($bg, $pid, 'pg_cancel_backend',
		qr/ERROR:  canceling statement due to user request/);
	note(sprintf('cancel of est_train took %.3f s', $elapsed));
	cmp_ok($elapsed, '<', 1.0, 'est_train stops within 1 s of the cancel');

	is(EstimatorTest::model_state($node, $db, 'm'),
		$committed, 'the cancelled training left the model as it was');

	# The same session goes on.
	$bg->{stderr} = '';
	is($bg->query_safe('SELECT pg_backend_pid()'),
		$pid, 'the same backend serves the session');
	is( $bg->query_safe(
			q{SELECT value FROM est_evaluate('m', 'iris_test')
			   WHERE metric = 'global_step'}),
		'5000',
		'the session evaluates the model after the cancel');
	is( $bg->query_safe(
			q{SET client_min_messages = warning;
			  BEGIN;
			  SELECT global_step FROM est_train('m', 'iris_train', steps => 10);
			  ROLLBACK;}),
		'5010',
		'the session trains the model after the cancel');
	$bg->quit;
}

###
### b) statement_timeout
###
{
	my ($stdout, $stderr);
	my $t0 = time;
	$node->psql(
		$db,
		"SET statement_timeout = '500ms'; $long",
		stdout => \$stdout,
		stderr => \$stderr);
	my $elapsed = time - $t0;
	note(sprintf('statement_timeout = 500ms: psql returned after %.3f s',
			$elapsed));
	like(
		$stderr,
		qr/ERROR:  canceling statement due to statement timeout/,
		'statement_timeout stops est_train');
	cmp_ok($elapsed, '<', 1.5, 'and all of it takes < 1.5 s');
	cmp_ok($elapsed, '>=', 0.5, 'not before the timeout');
	is(EstimatorTest::model_state($node, $db, 'm'),
		$committed, 'the timed out training left the model as it was');
}

# statement_timeout during a long prediction query and a long batch
# scoring of a model with feature columns of every kind
$node->safe_psql(
	$db, q{
SET client_min_messages = warning;
CREATE TABLE mixed AS
	SELECT g AS id, (g % 37) * 1000.0 AS income,
		   (ARRAY['red', 'green', 'blue', NULL])[1 + g % 4] AS color,
		   g % 3 = 0 AS flag, ARRAY['t' || g % 5, 't' || g % 3] AS tags,
		   (ARRAY['yes', 'no'])[1 + (g % 4 + g % 3) % 2] AS answer
	  FROM generate_series(1, 300) g;
SELECT est_train('mixed', 'SELECT income, color, flag, tags, answer FROM mixed',
				 label => 'answer', steps => 50, params => '{"seed": 1}');
});
for my $case (
	[
		'est_predict_label(model, record)',
		q{SELECT count(est_predict_label('mixed', m))
			FROM (SELECT generate_series(1, 2000000000) AS g) gs, mixed m}
	],
	[
		'est_predict_table',
		q{SELECT count(*) FROM est_predict_table('mixed',
			'SELECT m.* FROM (SELECT generate_series(1, 2000000000)) g, mixed m')}
	])
{
	my ($what, $sql) = @$case;
	my ($stdout, $stderr);
	my $t0 = time;
	$node->psql(
		$db,
		"SET statement_timeout = '500ms'; $sql",
		stdout => \$stdout,
		stderr => \$stderr);
	my $elapsed = time - $t0;
	note(sprintf('statement_timeout = 500ms on %s: psql returned after %.3f s',
			$what, $elapsed));
	like(
		$stderr,
		qr/ERROR:  canceling statement due to statement timeout/,
		"statement_timeout stops a query of $what");
	cmp_ok($elapsed, '<', 1.5, 'within 1 s of the timeout');
}
$node->safe_psql($db, q{SELECT est_drop_model('mixed'); DROP TABLE mixed;});

###
### c) cancel a long prediction query
###
for my $case (
	[
		'est_predict(model, record)',
		q{SELECT count(est_predict('m', t))
			FROM (SELECT generate_series(1, 2000000000) AS g) gs, iris_test t}
	],
	[
		'est_predict_proba(model, float8[])',
		q{SELECT count(est_predict_proba('m', ARRAY[g % 7, g % 5, g % 3, g % 2]::float8[]))
			FROM (SELECT generate_series(1, 2000000000) AS g) gs}
	],
	[
		'est_evaluate(model, source)',
		q{SELECT * FROM est_evaluate('m',
			'SELECT t.* FROM (SELECT generate_series(1, 2000000000)) g, iris_test t')}
	])
{
	my ($what, $sql) = @$case;
	my $bg = $node->background_psql($db, on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/predicting\n/, "\\echo predicting\n$sql;\n");

	# Wait until it runs, and a little more so that it predicts.
	$node->poll_query_until($db,
		"SELECT state = 'active' FROM pg_stat_activity WHERE pid = $pid")
	  or die "the prediction query did not start";
	sleep(0.3);

	my $elapsed = signal_and_time($bg, $pid, 'pg_cancel_backend',
		qr/ERROR:  canceling statement due to user request/);
	note(sprintf('cancel of a query of %s took %.3f s', $what, $elapsed));
	cmp_ok($elapsed, '<', 1.0,
		"a query of $what stops within 1 s of the cancel");

	$bg->{stderr} = '';
	is( $bg->query_safe(
			q{SELECT est_predict('m', t) FROM iris_test t WHERE id = 1}),
		$pred1, 'the session predicts after the cancel');
	$bg->quit;
}

###
### d) terminate a training backend
###
{
	# A bystander in an open transaction, and one idle.
	my $other = $node->background_psql($db);
	$other->query_safe(
		q{BEGIN; CREATE TABLE bystander AS SELECT 1 AS x;});
	my $other_pid = $other->query_safe('SELECT pg_backend_pid()');
	my $idle = $node->background_psql($db);
	my $idle_pid = $idle->query_safe('SELECT pg_backend_pid()');

	my $bg = $node->background_psql($db, on_error_stop => 0);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	start_training($bg, $long);

	my $elapsed = signal_and_time($bg, $pid, 'pg_terminate_backend',
		qr/FATAL:  terminating connection due to administrator command/);
	note(sprintf('terminate of est_train took %.3f s', $elapsed));
	cmp_ok($elapsed, '<', 1.0,
		'est_train ends within 1 s of pg_terminate_backend');
	EstimatorTest::finish_dead($bg);

	ok( $node->poll_query_until(
			$db, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
		'the terminated backend is gone');
	is($node->safe_psql($db, 'SELECT pg_postmaster_start_time()'),
		$start_time, 'the server did not restart');
	is($other->query_safe('SELECT pg_backend_pid()'),
		$other_pid, 'the session in a transaction keeps its backend');
	$other->query_safe('INSERT INTO bystander VALUES (2); COMMIT;');
	is($node->safe_psql($db, 'SELECT sum(x) FROM bystander'),
		'3', 'and commits its transaction');
	is( $idle->query_safe(
			q{SELECT value FROM est_evaluate('m', 'iris_test')
			   WHERE metric = 'global_step'}),
		'5000',
		'the idle session evaluates the model');
	is($idle->query_safe('SELECT pg_backend_pid()'),
		$idle_pid, 'with the backend it had');
	$other->quit;
	$idle->quit;
	is(EstimatorTest::model_state($node, $db, 'm'),
		$committed, 'the terminated training left the model as it was');
}

###
### e) immediate shutdown during training
###
{
	# Models with several checkpoints each: committed before the crash.
	$node->safe_psql(
		$db, q{
SET client_min_messages = warning;
SELECT est_train('m', 'iris_train', steps => 100);
SELECT est_train('m', 'iris_train', steps => 100);
SELECT est_train('crash_loop', 'iris_train', steps => 50,
				 params => '{"seed": 2}');
});
	my $m_before = EstimatorTest::model_state($node, $db, 'm');
	like($m_before, qr/^5200 ckpt=5000:\w+,5100:\w+,5200:\w+ log=52$/,
		'model m has three checkpoints');

	# One session trains m at length; the other commits a training of
	# crash_loop after another, with no end, in a DO block that reports
	# each global_step it committed with a WARNING (which, unlike query
	# results, psql passes on at once, to its unbuffered stderr).
	my $bg_long = $node->background_psql($db, on_error_stop => 0);
	start_training($bg_long, $long);

	my $bg_loop = $node->background_psql($db, on_error_stop => 0);
	$bg_loop->query_until(
		qr/looping\n/, q{SET client_min_messages = warning;
\echo looping
DO $$
DECLARE
	step bigint;
BEGIN
	LOOP
		SELECT global_step INTO step
		  FROM est_train('crash_loop', 'iris_train', steps => 50);
		COMMIT;
		RAISE WARNING 'committed step %', step;
	END LOOP;
END
$$;
});

	# Let it commit a few dozen.
	ok( EstimatorTest::pump_stderr(
			$bg_loop, qr/WARNING:  committed step 2050\n/),
		'the training loop commits');
	$node->stop('immediate');
	EstimatorTest::finish_dead($bg_long);
	EstimatorTest::finish_dead($bg_loop);
	my @reported = ($bg_loop->{stderr} =~ /committed step (\d+)$/mg);
	my $last_reported = $reported[-1];
	note("the loop reported its last commit at step $last_reported");
	like(
		$bg_loop->{stderr},
		qr/terminating connection|connection to server was lost|server closed the connection/,
		'the loop ended with the connection');
	$node->start;

	is(EstimatorTest::model_state($node, $db, 'm'),
		$m_before,
		'model m trained at the crash: as committed before it, checkpoints intact'
	);

	# crash_loop: whatever it committed is there, and consistent.
	my ($step, $ckpts, $max_ckpt, $max_log, $eval_step) = split /\|/,
	  $node->safe_psql(
		$db, q{
SELECT m.global_step,
	   (SELECT string_agg(global_step::text, ',' ORDER BY global_step)
		  FROM estimator.checkpoints WHERE model = m.name),
	   (SELECT max(global_step) FROM estimator.checkpoints WHERE model = m.name),
	   (SELECT max(global_step) FROM estimator.training_log WHERE model = m.name),
	   (SELECT value FROM est_evaluate(m.name, 'iris_test')
		 WHERE metric = 'global_step')
  FROM estimator.models m WHERE m.name = 'crash_loop'});
	note("after the restart crash_loop is at step $step, checkpoints $ckpts");
	cmp_ok($step, '>=', $last_reported,
		'every training the client saw committed survived');
	cmp_ok($step, '<=', $last_reported + 50,
		'and at most the one in flight besides');
	is($max_ckpt, $step, 'the newest checkpoint is at the global_step');
	is($max_log, $step, 'the training log ends at the global_step');
	is($eval_step, $step, 'est_evaluate loads the newest checkpoint');
	my @expected_ckpts;
	for (my $s = $step; $s > 0 && @expected_ckpts < 5; $s -= 50)
	{
		unshift @expected_ckpts, $s;
	}
	is($ckpts, join(',', @expected_ckpts),
		'crash_loop keeps its 5 newest checkpoints, 50 steps apart');

	# Every committed checkpoint loads: evaluate each one as the newest
	# (the newer ones deleted in a transaction rolled back).
	my $rows = $node->safe_psql($db,
		q{SELECT model, global_step FROM estimator.checkpoints ORDER BY 1, 2});
	my $script = '';
	my $expected = '';
	for my $row (split /\n/, $rows)
	{
		my ($model, $s) = split /\|/, $row;
		$script .= qq{BEGIN;
DELETE FROM estimator.checkpoints WHERE model = '$model' AND global_step > $s;
SELECT '$model', value FROM est_evaluate('$model', 'iris_test')
 WHERE metric = 'global_step';
ROLLBACK;
};
		$expected .= "$model|$s\n";
	}
	my ($ret, $out, $err) = $node->psql($db, $script);
	is($ret, 0, 'every checkpoint decodes') or diag($err);
	is("$out\n", $expected, 'each at its own global_step');

	# Training goes on from where the crash left it.
	is( $node->safe_psql(
			$db, q{SET client_min_messages = warning;
				   SELECT global_step FROM est_train('crash_loop', 'iris_train', steps => 50)}
		),
		$step + 50,
		'crash_loop trains on after the restart');
	is( $node->safe_psql(
			$db, q{SET client_min_messages = warning;
				   SELECT global_step FROM est_train('m', 'iris_train', steps => 100)}
		),
		'5300',
		'm trains on after the restart');
}

###
### f) no crash in the server log
###
$node->stop;
EstimatorTest::server_log_ok($node);

done_testing();
