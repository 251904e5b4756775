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
	'0.8.0',
	'CREATE EXTENSION estimator installs version 0.8.0');

# the update path from the first release
$node->safe_psql('postgres', 'CREATE DATABASE upd');
$node->safe_psql('upd', "CREATE EXTENSION estimator VERSION '0.1.0'");
$node->safe_psql('upd', 'ALTER EXTENSION estimator UPDATE');
is( $node->safe_psql(
		'upd', "SELECT extversion FROM pg_extension WHERE extname = 'estimator'"),
	'0.8.0',
	'ALTER EXTENSION estimator UPDATE goes from 0.1.0 to 0.8.0');
is( $node->safe_psql(
		'upd',
		"SELECT count(*) FROM pg_proc WHERE proname IN ('est_feature_info', 'est_predict_label')"),
	'3',
	'the update adds est_feature_info and est_predict_label');
is( $node->safe_psql(
		'upd',
		"SELECT string_agg(DISTINCT procost::text || ' ' || prosupport::text, ',') FROM pg_proc WHERE proname ~ '^est_predict(_proba|_values|_label)?\$'"),
	'100 est_predict_support',
	'the update gives the per-row prediction functions their cost and support function');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(DISTINCT procost::text || ' ' || prosupport::text, ',') FROM pg_proc WHERE proname ~ '^est_predict(_proba|_values|_label)?\$'"),
	'100 est_predict_support',
	'and so does a new installation');
is( $node->safe_psql(
		'upd',
		"SELECT array_to_string(proconfig, ',') FROM pg_proc WHERE oid = 'estimator.run_scheduled(text)'::regprocedure"),
	'client_min_messages=warning',
	'the update keeps the loss reports of a scheduled run from pg_cron');

$node->stop;
done_testing();
