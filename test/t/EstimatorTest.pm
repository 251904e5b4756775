# EstimatorTest.pm: helpers shared by the TAP tests of estimator.
#
#   my $node = EstimatorTest::new_node('name');  # initdb, start
#   EstimatorTest::setup_db($node, 'postgres');  # extension + Iris tables
#   EstimatorTest::pump_stderr($bg, qr/.../);     # wait on a background psql
#   EstimatorTest::server_log_ok($node);          # no crash in the log
#
# The tests find this module with "use lib" on their own directory, so
# prove needs no -I (test/scripts/test.sh passes one anyway).

package EstimatorTest;

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# The checkout: $EST_SOURCE_DIR, as test.sh sets it, else two levels up.
our $SRCDIR = $ENV{EST_SOURCE_DIR}
  // abs_path(dirname(abs_path(__FILE__)) . '/../..');

# new_node makes and starts a node.  JIT is off: its compile time would
# blur the timings the tests measure.
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%opts);
	$node->append_conf(
		'postgresql.conf', q{
jit = off
lc_messages = 'C'
});
	$node->start;
	return $node;
}

# iris_sql returns test/scripts/load_iris.sql with the CSV's absolute path,
# so that it works from any working directory.
sub iris_sql
{
	my $sql = slurp_file("$SRCDIR/test/scripts/load_iris.sql");
	my $csv = "$SRCDIR/test/data/iris.csv";
	die "cannot read $csv" unless -r $csv;
	$sql =~ s{'test/data/iris\.csv'}{'$csv'}g
	  or die "load_iris.sql does not name test/data/iris.csv";
	return $sql;
}

# setup_db creates the extension and the tables iris_train (120 rows) and
# iris_test (30 rows, id 1..30) in a database.
sub setup_db
{
	my ($node, $db) = @_;
	$node->safe_psql($db, 'CREATE EXTENSION estimator');
	$node->safe_psql($db, iris_sql());
	my $rows = $node->safe_psql($db,
		'SELECT (SELECT count(*) FROM iris_train) || \'/\' || (SELECT count(*) FROM iris_test)'
	);
	die "Iris not loaded: $rows" unless $rows eq '120/30';
	return;
}

# pump_stderr waits until the stderr of a background psql matches $re and
# returns true, or false when the session's timeout expires first.
sub pump_stderr
{
	my ($bg, $re) = @_;
	return pump_until($bg->{run}, $bg->{timeout}, \$bg->{stderr}, $re);
}

# finish_dead waits for a background psql whose connection is gone to exit.
sub finish_dead
{
	my ($bg) = @_;
	eval { $bg->{run}->finish; };
	return;
}

# model_state: a model's global_step, its checkpoints (step:md5 of data)
# and its number of training log rows, as one string.
sub model_state
{
	my ($node, $db, $model) = @_;
	return $node->safe_psql(
		$db, qq{
SELECT coalesce((SELECT global_step::text FROM estimator.models
				  WHERE name = '$model'), 'none')
	   || ' ckpt=' ||
	   coalesce((SELECT string_agg(global_step || ':' || md5(data), ','
								   ORDER BY global_step)
				   FROM estimator.checkpoints WHERE model = '$model'), '')
	   || ' log=' ||
	   (SELECT count(*) FROM estimator.training_log WHERE model = '$model')
});
}

# server_log_ok checks that the server log has no sign of a crash, and no
# resource that a worker or backend still held when it committed.
sub server_log_ok
{
	my ($node) = @_;
	my $log = slurp_file($node->logfile);
	for my $bad ('terminated by signal', 'PANIC', 'TRAP',
		'server process (PID', 'was terminated by', 'reference leak',
		'refcount leak', 'non-empty SPI stack')
	{
		my @lines = grep { index($_, $bad) >= 0 } split /\n/, $log;
		is(scalar(@lines), 0, "server log has no \"$bad\"")
		  or diag(join("\n", @lines));
	}
	return;
}

1;
