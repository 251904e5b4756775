# 003_convergence.pl: the tutorial's one-liner learns Iris from any start.
#
# Without a seed every model starts from other random weights (and another
# shuffle of the rows).  Ten fresh models trained with the one-liner of the
# tutorial, est_train(name, 'iris_train'), must each reach an accuracy of
# at least 0.93 on the 30 held-out rows of iris_test, as TensorFlow's
# tutorial does.  The initialisations must differ, too: else this test
# would try one start ten times.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EstimatorTest;

my $runs = 10;
my $threshold = 0.93;

my $node = EstimatorTest::new_node('convergence');
EstimatorTest::setup_db($node, 'postgres');

my @accuracies;
for my $i (1 .. $runs)
{
	my $name = "iris_$i";
	my $out = $node->safe_psql(
		'postgres', qq{
SET client_min_messages = warning;
SELECT global_step, round(accuracy::numeric, 4)
  FROM est_train('$name', 'iris_train');
SELECT round(value::numeric, 4) FROM est_evaluate('$name', 'iris_test')
 WHERE metric = 'accuracy';
});
	my ($train, $test) = split /\n/, $out;
	my ($step, $train_acc) = split /\|/, $train;
	is($step, '5000', "$name: trained 5000 steps");
	note("$name: training accuracy $train_acc, test accuracy $test");
	cmp_ok($test, '>=', $threshold,
		"$name: accuracy on iris_test >= $threshold");
	push @accuracies, $test;
}
note('test accuracies: ' . join(' ', @accuracies));

# Ten different starts: the first checkpoints differ pairwise.  (Each model
# has one checkpoint, at step 5000.)
is( $node->safe_psql(
		'postgres',
		q{SELECT count(DISTINCT md5(data)) || '/' || count(*)
			FROM estimator.checkpoints WHERE model LIKE 'iris\_%'}),
	"$runs/$runs",
	'every model trained from a random seed of its own');

$node->stop;
EstimatorTest::server_log_ok($node);

done_testing();
