# 007_procedure.pl: est_train_procedure commits after every checkpoint.
#
#   a) while one session CALLs est_train_procedure for a long training,
#      another sees estimator.training_log and estimator.checkpoints grow
#   b) an immediate shutdown in the middle of it: after the restart the
#      model's global_step is its newest committed checkpoint, at most one
#      save_checkpoints_steps interval of work is lost, every committed
#      checkpoint loads (deployed in turn), and the model trains on
#   c) the server log shows no crash

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
my $node = EstimatorTest::new_node('procedure');
EstimatorTest::setup_db($node, $db);

my $interval = 2000;

# progress: (rows of the training log, newest checkpoint) as committed now
sub progress
{
	return split /\|/, $node->safe_psql(
		$db, q{
SELECT (SELECT count(*) FROM estimator.training_log WHERE model = 'p'),
	   (SELECT coalesce(max(global_step), 0) FROM estimator.checkpoints
		 WHERE model = 'p')});
}

# wait_for_checkpoint waits until the newest committed checkpoint is past
# $step and returns the progress, or () after 20 s.
sub wait_for_checkpoint
{
	my ($step) = @_;
	my $deadline = time + 20;
	while (time < $deadline)
	{
		my @p = progress();
		return @p if $p[1] > $step;
		sleep(0.05);
	}
	return ();
}

###
### a) others see the procedure's progress
###
my $bg = $node->background_psql($db, on_error_stop => 0);
$bg->query_until(
	qr/training starts\n/, qq{\\echo training starts
CALL est_train_procedure('p', 'iris_train', steps => 100000000,
	params => '{"seed": 1, "save_checkpoints_steps": $interval,
				"keep_checkpoint_max": 1000, "log_step_count_steps": 1000}');
});

my @first = wait_for_checkpoint(0);
ok(@first, 'the first checkpoint is committed while the procedure runs')
  or diag("stderr: $bg->{stderr}");
my @second = wait_for_checkpoint($first[1] + $interval);
ok(@second, 'more checkpoints are committed while it runs');
cmp_ok($second[0], '>', $first[0], 'other sessions see the training log grow');
is($second[1] % $interval, 0,
	'checkpoints are stored every save_checkpoints_steps');

###
### b) immediate shutdown in the middle of the training
###
ok(EstimatorTest::pump_stderr($bg, qr/NOTICE:  loss = .*step = \d+/),
	'the procedure reports its steps');
$node->stop('immediate');
EstimatorTest::finish_dead($bg);
my @steps = ($bg->{stderr} =~ /step = (\d+) /g);
my $last_seen = $steps[-1];
note("the procedure last reported step $last_seen");
$node->start;

my ($step, $ckpts, $max_ckpt) = split /\|/, $node->safe_psql(
	$db, q{
SELECT m.global_step,
	   (SELECT string_agg(global_step::text, ',' ORDER BY global_step)
		  FROM estimator.checkpoints WHERE model = m.name),
	   (SELECT max(global_step) FROM estimator.checkpoints WHERE model = m.name)
  FROM estimator.models m WHERE m.name = 'p'});
note("after the restart p is at step $step, checkpoints $ckpts");
is($step, $max_ckpt, 'global_step is the newest committed checkpoint');
cmp_ok($step, '>=', $second[1], 'every checkpoint seen committed survived');
cmp_ok($last_seen - $step, '<=', $interval,
	'at most one save_checkpoints_steps interval of work is lost');

# Every committed checkpoint loads: deploy each in turn and evaluate it.
my $script = "SET client_min_messages = warning;\n";
my $expected = '';
for my $s (split /,/, $ckpts)
{
	$script .= qq{BEGIN;
SELECT global_step FROM est_deploy('p', $s);
SELECT value FROM est_evaluate('p', 'iris_test') WHERE metric = 'global_step';
ROLLBACK;
};
	$expected .= "$s\n$s\n";
}
my ($ret, $out, $err) = $node->psql($db, $script);
is($ret, 0, 'every checkpoint deploys and evaluates') or diag($err);
is("$out\n", $expected, 'each evaluation used the deployed checkpoint');

# The model trains on from its newest checkpoint.
$node->safe_psql($db,
	q{SET client_min_messages = warning;
	  CALL est_train_procedure('p', 'iris_train', steps => 100);});
is($node->safe_psql($db,
		q{SELECT global_step FROM estimator.models WHERE name = 'p'}),
	$step + 100, 'the model trains on after the restart');

###
### c) no crash
###
EstimatorTest::server_log_ok($node);

done_testing();
