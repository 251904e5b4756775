# 000_smoke.pl: the TAP plumbing works and the extension installs.
#
# Run by test/scripts/test.sh (make test), which runs prove as the OS user
# postgres with the PostgreSQL::Test modules on PERL5LIB.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('smoke');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION estimator');
is( $node->safe_psql(
		'postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'estimator'"),
	'0.1.0',
	'CREATE EXTENSION estimator installs version 0.1.0');

$node->stop;
done_testing();
