# 002_dump_restore.pl: models survive pg_dump and restore.
#
# The catalog tables are extension configuration tables
# (pg_extension_config_dump), so pg_dump dumps their rows.  A database with
# seeded models of several kinds is dumped in plain format (restored with
# psql -f) and in custom format (restored with pg_restore); in both copies
# the models, the checkpoints (count and md5 of their data), the training
# log and the predictions are identical, and training goes on where it
# stopped, bit for bit as it does in the original.  A grant (alice lets
# bob predict with her model), a deployment (dr_sgd serves an older
# checkpoint) and a model of text labels on feature columns of several
# kinds survive too.  Then alice, a model owner who is not a superuser,
# dumps the database with pg_dump --enable-row-security, which reads only
# her models' catalog rows, and a superuser restores it: her model, its
# grant and its predictions, and nothing of the others'.  Data-only dumps
# (plain and custom) restore onto a schema-only one, and a whole dump into
# a database that has the extension already; a schedule and a training
# log row with metrics come along.  A dump made at 0.1.0 does not restore
# into a new database (input_width, NOT NULL since 0.2.0, is missing)
# unless the extension is created there at 0.1.0 first and updated after;
# one made at 0.5.0 does.  Last, a session that predicted with a model
# before DROP EXTENSION and CREATE EXTENSION predicts with the model
# trained anew after them, not with the old one.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EstimatorTest;

my $node = EstimatorTest::new_node('dump');
my $tmp = PostgreSQL::Test::Utils::tempdir;

$node->safe_psql('postgres', 'CREATE DATABASE src');
EstimatorTest::setup_db($node, 'src');

# A model owned by an ordinary role, and models of several shapes: the
# one-liner with two checkpoints, a narrower one on two features with Adam
# and tanh, one with more trainings than keep_checkpoint_max, and one with
# an array feature trained on a view.
$node->safe_psql(
	'src', q{
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN;
GRANT SELECT ON iris_train, iris_test TO alice, bob, carol;
CREATE VIEW iris_train_arr AS
	SELECT ARRAY[sepal_length, sepal_width] AS sepal, petal_length,
		   petal_width, label
	  FROM iris_train;
CREATE VIEW iris_test_arr AS
	SELECT id, ARRAY[sepal_length, sepal_width] AS sepal, petal_length,
		   petal_width, label
	  FROM iris_test;
SET client_min_messages = warning;
SELECT est_train('dr_default', 'iris_train', params => '{"seed": 1}');
SELECT est_train('dr_default', 'iris_train', steps => 1000);
SELECT est_train('dr_adam', 'iris_train', features => '{petal_length,petal_width}',
				 optimizer => 'adam', hidden_units => '{16,8}', batch_size => 16,
				 steps => 1000,
				 params => '{"seed": 2, "activation_fn": "tanh"}');
SELECT est_train('dr_sgd', 'iris_train', optimizer => 'sgd',
				 learning_rate => 0.1, steps => 300, params => '{"seed": 3}');
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_sgd', 'iris_train', steps => 100);
SELECT est_train('dr_array', 'iris_train_arr', steps => 2000,
				 params => '{"seed": 4}');
SET ROLE alice;
SELECT est_train('dr_alice', 'iris_train', hidden_units => '{8}', steps => 500,
				 params => '{"seed": 5}');
SELECT est_grant('dr_alice', 'bob', 'predict');
RESET ROLE;
CREATE TABLE mixed AS
	SELECT g AS id, (g % 37) * 1000.0 AS income,
		   (ARRAY['red', 'green', 'blue', NULL])[1 + g % 4] AS color,
		   g % 3 = 0 AS flag, ARRAY['t' || g % 5, 't' || g % 3] AS tags,
		   'u' || g % 150 AS usr,
		   (ARRAY['yes', 'no'])[1 + (g % 4 + g % 3) % 2] AS answer
	  FROM generate_series(1, 300) g;
SELECT est_train('dr_mixed', 'SELECT income, color, flag, tags, usr, answer FROM mixed',
				 label => 'answer', steps => 200, params => '{"seed": 6}');
-- dr_sgd serves an older checkpoint than its newest
SELECT global_step FROM est_deploy('dr_sgd', 700);
});

# snapshot: everything the estimator keeps about the models of a database,
# and what they predict, as text.
sub snapshot
{
	my ($db) = @_;
	my %s;
	$s{models} = $node->safe_psql($db,
		'SELECT * FROM estimator.models ORDER BY name');
	$s{catalog} = $node->safe_psql($db,
		'SELECT * FROM estimator.model_catalog ORDER BY name');
	$s{checkpoints} = $node->safe_psql(
		$db, q{
SELECT model, global_step, created, loss, length(data), md5(data)
  FROM estimator.checkpoints ORDER BY model, global_step});
	$s{checkpoint_count} = $node->safe_psql($db,
		'SELECT count(*) FROM estimator.checkpoints');
	$s{log} = $node->safe_psql(
		$db, q{
SELECT model, count(*),
	   md5(string_agg(global_step || ' ' || loss || ' ' || seconds || ' ' || logged_at,
					  ',' ORDER BY global_step, logged_at))
  FROM estimator.training_log GROUP BY model ORDER BY model});
	$s{predictions} = $node->safe_psql(
		$db, q{
SELECT m.name,
	   string_agg(est_predict(m.name, t)::text, ',' ORDER BY t.id),
	   string_agg(est_predict_proba(m.name, t)::text, ';' ORDER BY t.id)
  FROM estimator.models m, iris_test t
 WHERE m.name NOT IN ('dr_array', 'dr_mixed')
 GROUP BY m.name ORDER BY m.name});
	$s{predictions_array} = $node->safe_psql(
		$db, q{
SELECT string_agg(est_predict('dr_array', t)::text, ',' ORDER BY t.id),
	   string_agg(est_predict_proba('dr_array', t)::text, ';' ORDER BY t.id)
  FROM iris_test_arr t});
	$s{deployments} = $node->safe_psql($db,
		'SELECT model, global_step, previous_step, action, by_role, deployed_at FROM estimator.deployments ORDER BY 1, 6');
	$s{serving} = $node->safe_psql($db,
		q{SELECT string_agg(m.name || ':' || c.global_step, ' ' ORDER BY m.name)
			FROM estimator.models m, est_checkpoints(m.name) c WHERE c.serving});
	$s{grants} = $node->safe_psql($db,
		'SELECT model, grantee, privilege, grantor, granted FROM estimator.model_grants ORDER BY 1, 2::text, 3');
	$s{mixed} = $node->safe_psql(
		$db, q{
SELECT string_agg(est_predict_label('dr_mixed', m) || ':' ||
				  est_predict_proba('dr_mixed', m)::text, ',' ORDER BY id),
	   (SELECT string_agg(f::text, ';' ORDER BY ordinal) FROM est_feature_info('dr_mixed') f)
  FROM mixed m});
	$s{bob} = $node->safe_psql(
		$db, q{
SET ROLE bob;
SELECT string_agg(est_predict('dr_alice', t)::text, ',' ORDER BY t.id) FROM iris_test t;
SELECT string_agg(name, ',' ORDER BY name) FROM estimator.models;
RESET ROLE;});
	my ($ret, $out, $err) = $node->psql($db,
		q{SET ROLE carol; SELECT est_predict('dr_alice', t) FROM iris_test t});
	$s{carol} = $err =~ /permission denied to predict with model "dr_alice"/
	  ? 'denied' : "allowed: $err";
	$s{evaluate} = $node->safe_psql(
		$db, q{
SELECT m.name, e.metric, e.value
  FROM estimator.models m,
	   est_evaluate(m.name, CASE WHEN m.name = 'dr_array' THEN 'iris_test_arr'
								 WHEN m.name = 'dr_mixed' THEN 'mixed'
								 ELSE 'iris_test' END) e
 ORDER BY 1, 2});
	return \%s;
}

my $orig = snapshot('src');
is( $node->safe_psql(
		'src',
		q{SELECT string_agg(name || ':' || global_step || ':' || owner, ' ' ORDER BY name)
			FROM estimator.models}),
	'dr_adam:1000:postgres dr_alice:500:alice dr_array:2000:postgres '
	  . 'dr_default:6000:postgres dr_mixed:200:postgres dr_sgd:900:postgres',
	'the source database has its models');
is($orig->{checkpoint_count}, '11',
	'with 11 checkpoints (dr_sgd keeps its newest 5 of 7)');
like($orig->{grants}, qr/^dr_alice\|bob\|predict\|alice\|/, 'alice granted bob predict');
like($orig->{bob}, qr/^[0-2](,[0-2]){29}\ndr_alice$/,
	'bob predicts with dr_alice and sees only it');
is($orig->{carol}, 'denied', 'carol may not predict with dr_alice');
like($orig->{mixed}, qr/^(yes|no):/, 'dr_mixed predicts class names');
like($orig->{serving}, qr/dr_sgd:700/, 'dr_sgd serves step 700');
like($orig->{deployments}, qr/^dr_sgd\|700\|/, 'its deployment is recorded');
note("checkpoints:\n$orig->{checkpoints}");
# (so that the comparisons below compare something)
is(scalar(my @p = split /\n/, $orig->{predictions}),
	4, 'predictions of 4 models over iris_test');
like($orig->{predictions_array}, qr/^[0-2](,[0-2]){29}\|\{/,
	'and of the model with an array feature');
is(scalar(my @l = split /\n/, $orig->{log}), 6, 'training logs of 6 models');
# 13 rows each: 11 of TensorFlow's metric keys, global_step and rows
is(scalar(my @e = split /\n/, $orig->{evaluate}),
	78, 'evaluation metrics of 6 models');

# Dump and restore, both ways.
my $plain = "$tmp/src.sql";
my $custom = "$tmp/src.dump";
$node->command_ok([ 'pg_dump', '-d', 'src', '-f', $plain ],
	'pg_dump in plain format');
$node->command_ok([ 'pg_dump', '-Fc', '-d', 'src', '-f', $custom ],
	'pg_dump in custom format');

$node->safe_psql('postgres', 'CREATE DATABASE r_plain');
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'r_plain', '-f',
		$plain
	],
	'the plain dump restores with psql -f');

$node->safe_psql('postgres', 'CREATE DATABASE r_custom');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', 'r_custom', $custom ],
	'the custom dump restores with pg_restore');

for my $db ('r_plain', 'r_custom')
{
	my $copy = snapshot($db);
	for my $what (sort keys %$orig)
	{
		is($copy->{$what}, $orig->{$what}, "$db: same $what");
	}
}

# A data-only dump, restored into a database whose schema (and extension)
# a schema-only dump made first, in plain and in custom format; and the
# whole custom dump restored into a database where CREATE EXTENSION ran
# before (pg_dump's CREATE EXTENSION IF NOT EXISTS then does nothing).  A
# schedule row (est_schedule needs pg_cron, which this node does not load)
# and a training log row with evaluation metrics come along.
$node->safe_psql(
	'src', q{
INSERT INTO estimator.schedules (model, source, steps, only_if_changed,
								 jobid, scheduled_by, last_fingerprint)
	 VALUES ('dr_alice', 'public.iris_train', 100, true, 42, 'alice',
			 '0123456789abcdef');
INSERT INTO estimator.training_log (model, global_step, loss, seconds,
									eval_metrics)
	 VALUES ('dr_default', 6000, 0.5, 1, '{"accuracy": 0.9}');
});
my $schedules_sql = q{SELECT model, source, steps, epochs, only_if_changed, jobid,
	   scheduled_by, last_fingerprint FROM estimator.schedules};
my $schedules = $node->safe_psql('src', $schedules_sql);
my $log_eval_sql = q{SELECT model, global_step, loss, eval_metrics
  FROM estimator.training_log WHERE eval_metrics IS NOT NULL ORDER BY 1, 2};
my $log_eval = $node->safe_psql('src', $log_eval_sql);
$orig->{log} = $node->safe_psql('src', q{
SELECT model, count(*),
	   md5(string_agg(global_step || ' ' || loss || ' ' || seconds || ' ' || logged_at,
					  ',' ORDER BY global_step, logged_at))
  FROM estimator.training_log GROUP BY model ORDER BY model});
my $schema_only = "$tmp/schema.sql";
my $data_plain = "$tmp/data.sql";
my $data_custom = "$tmp/data.dump";
my $custom2 = "$tmp/src2.dump";
$node->command_ok([ 'pg_dump', '--schema-only', '-d', 'src', '-f', $schema_only ],
	'pg_dump --schema-only');
$node->command_ok([ 'pg_dump', '--data-only', '-d', 'src', '-f', $data_plain ],
	'pg_dump --data-only in plain format');
$node->command_ok(
	[ 'pg_dump', '--data-only', '-Fc', '-d', 'src', '-f', $data_custom ],
	'pg_dump --data-only in custom format');
$node->command_ok([ 'pg_dump', '-Fc', '-d', 'src', '-f', $custom2 ],
	'pg_dump in custom format, again');
for my $db ('r_data_plain', 'r_data_custom')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->command_ok(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-f',
			$schema_only
		],
		"$db: the schema-only dump restores");
}
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'r_data_plain',
		'-f', $data_plain
	],
	'the data-only plain dump restores with psql -f');
$node->command_ok(
	[
		'pg_restore', '--exit-on-error', '--data-only', '-d', 'r_data_custom',
		$data_custom
	],
	'the data-only custom dump restores with pg_restore');
$node->safe_psql('postgres', 'CREATE DATABASE r_ext_first');
$node->safe_psql('r_ext_first', 'CREATE EXTENSION estimator');
$node->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', 'r_ext_first', $custom2 ],
	'the custom dump restores into a database that has the extension');
for my $db ('r_data_plain', 'r_data_custom', 'r_ext_first')
{
	my $copy = snapshot($db);
	for my $what (sort keys %$orig)
	{
		is($copy->{$what}, $orig->{$what}, "$db: same $what");
	}
	is($node->safe_psql($db, $schedules_sql), $schedules, "$db: same schedule");
	is($node->safe_psql($db, $log_eval_sql), $log_eval,
		"$db: same evaluation metrics in the training log");
}
$node->safe_psql('src', q{
DELETE FROM estimator.schedules;
DELETE FROM estimator.training_log WHERE eval_metrics IS NOT NULL;});

# Training goes on in the copies: the same steps from the same checkpoint
# give the same bytes as in the original.
for my $db ('src', 'r_plain', 'r_custom')
{
	is( $node->safe_psql(
			$db, q{
SET client_min_messages = warning;
SELECT global_step FROM est_train('dr_default', 'iris_train', steps => 100);
SET ROLE alice;
SELECT global_step FROM est_train('dr_alice', 'iris_train', steps => 100);
RESET ROLE;
SELECT global_step FROM est_train('dr_array', 'iris_train_arr', steps => 100);
}),
		"6100\n600\n2100",
		"$db: dr_default, dr_alice and dr_array train on");
}
my $continued = q{
SELECT string_agg(model || ':' || global_step || ':' || md5(data), ' '
				  ORDER BY model, global_step)
  FROM estimator.checkpoints
 WHERE (model, global_step) IN (('dr_default', 6100), ('dr_alice', 600),
								('dr_array', 2100))};
my $want = $node->safe_psql('src', $continued);
for my $db ('r_plain', 'r_custom')
{
	is($node->safe_psql($db, $continued),
		$want, "$db: the new checkpoints are those of the original");
}

# A model owner who is not a superuser dumps what she may see: with
# --enable-row-security, pg_dump reads the catalog rows of her models only,
# and a superuser restores them into a new database.
$node->safe_psql('src', 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice');
my $alice_dump = "$tmp/alice.sql";
$node->command_ok(
	[
		'pg_dump', '--enable-row-security', '-U', 'alice', '-d', 'src',
		'-f', $alice_dump
	],
	'alice dumps the database with pg_dump --enable-row-security');
$node->safe_psql('postgres', 'CREATE DATABASE r_alice');
$node->command_ok(
	[
		'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'r_alice', '-f',
		$alice_dump
	],
	'a superuser restores her dump');
is( $node->safe_psql('r_alice',
		q{SELECT string_agg(name || ':' || owner, ' ' ORDER BY name) FROM estimator.model_catalog}),
	'dr_alice:alice',
	'the restored database has her model only');
my $alice_pred = q{SELECT string_agg(est_predict_proba('dr_alice', t)::text, ';' ORDER BY t.id) FROM iris_test t};
is($node->safe_psql('r_alice', $alice_pred),
	$node->safe_psql('src', $alice_pred),
	'which predicts as in the original');
is( $node->safe_psql('r_alice',
		q{SELECT grantee || ':' || privilege FROM estimator.model_grants}),
	'bob:predict', 'with its grant');

# A dump made at version 0.1.0 (models of test/data/upgrade_0.1.0.sql)
# does not restore into a database where CREATE EXTENSION installs the
# current version: pg_dump names no version, and the rows of
# estimator.model_catalog lack input_width, which 0.2.0 added NOT NULL.
# Restored into a database that has the extension at 0.1.0, then updated,
# the models predict as they did, to the bit.  A dump made at 0.5.0 (whose
# tables are those of 0.8.0) restores into a new database as it is.
my $old_sql = slurp_file("$EstimatorTest::SRCDIR/test/data/upgrade_0.1.0.sql");
my $same_sql = q{
SELECT count(*) || ':' ||
	   count(*) FILTER (WHERE est_predict_proba('upgrade_iris', t) = e.proba) || ':' ||
	   count(*) FILTER (WHERE est_predict('upgrade_reg', t) = e.value)
  FROM iris_test t JOIN upgrade_expected e USING (id)};
for my $version ('0.1.0', '0.5.0')
{
	(my $v = $version) =~ tr/./_/;
	$node->safe_psql('postgres', "CREATE DATABASE old_$v");
	$node->safe_psql("old_$v", EstimatorTest::iris_sql());
	$node->safe_psql("old_$v",
		"CREATE EXTENSION estimator VERSION '0.1.0';"
		  . 'CREATE TABLE upgrade_expected (id int, proba float8[], value float8);'
		  . $old_sql
		  . "ALTER EXTENSION estimator UPDATE TO '$version'");
	$node->command_ok([ 'pg_dump', '-d', "old_$v", '-f', "$tmp/old_$v.sql" ],
		"pg_dump of a database at version $version");
	$node->command_ok([ 'pg_dump', '-Fc', '-d', "old_$v", '-f', "$tmp/old_$v.dump" ],
		"pg_dump -Fc of a database at version $version");
	$node->safe_psql('postgres', "CREATE DATABASE r_old_$v");
	$node->safe_psql('postgres', "CREATE DATABASE r_old_c_$v");
	my ($ret, $out, $err) = $node->psql("r_old_$v", "",
		extra_params => [ '-v', 'ON_ERROR_STOP=1', '-f', "$tmp/old_$v.sql" ]);
	my ($cret, $cout, $cerr);
	IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', "r_old_c_$v",
					'-h', $node->host, '-p', $node->port, "$tmp/old_$v.dump" ],
		'>', \$cout, '2>', \$cerr);
	$cret = $?;
	if ($version eq '0.1.0')
	{
		isnt($ret, 0, 'the dump of 0.1.0 does not restore into 0.8.0 (plain)');
		like($err, qr/null value in column "input_width" of relation "model_catalog" violates not-null constraint/,
			'for want of input_width');
		isnt($cret, 0, 'nor with pg_restore');
		like($cerr, qr/null value in column "input_width"/, 'for the same reason');
		for my $db ("r_old_$v", "r_old_c_$v")
		{
			$node->safe_psql('postgres', "DROP DATABASE $db");
			$node->safe_psql('postgres', "CREATE DATABASE $db");
			$node->safe_psql($db, "CREATE EXTENSION estimator VERSION '0.1.0'");
		}
		$node->command_ok(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', "r_old_$v",
			  '-f', "$tmp/old_$v.sql" ],
			'it restores into a database that has the extension at 0.1.0');
		$node->command_ok(
			[ 'pg_restore', '--exit-on-error', '-d', "r_old_c_$v", "$tmp/old_$v.dump" ],
			'and so with pg_restore');
		$node->safe_psql($_, 'ALTER EXTENSION estimator UPDATE')
		  for ("r_old_$v", "r_old_c_$v");
	}
	else
	{
		is($ret, 0, "the dump of $version restores into 0.8.0 (plain)")
		  or diag($err);
		is($cret, 0, 'and with pg_restore') or diag($cerr);
	}
	for my $db ("r_old_$v", "r_old_c_$v")
	{
		is($node->safe_psql($db,
				q{SELECT extversion FROM pg_extension WHERE extname = 'estimator'}),
			'0.8.0', "$db: the extension is at 0.8.0");
		is($node->safe_psql($db, $same_sql), '30:30:30',
			"$db: the models of $version predict as they did");
	}
}

# The prediction cache across DROP EXTENSION and CREATE EXTENSION in one
# session.  In one transaction, the new tables give the rows of a model
# trained anew the xmin and ctids that the old model's rows had: the cache
# took them for the old model and predicted with its weights.  Without
# CASCADE, DROP EXTENSION drops the models too; predicting then fails
# cleanly, and after CREATE EXTENSION the model does not exist.
$node->safe_psql('postgres', 'CREATE DATABASE lifecycle');
EstimatorTest::setup_db($node, 'lifecycle');
my $proba = q{SELECT string_agg(est_predict_proba('lc', t)::text, ';' ORDER BY t.id) FROM iris_test t};
my @same_xact = split /\n/, $node->safe_psql(
	'lifecycle', qq{
SET client_min_messages = warning;
BEGIN;
SELECT est_train('lc', 'iris_train', steps => 100, params => '{"seed": 1}') IS NOT NULL;
$proba;
DROP EXTENSION estimator;
CREATE EXTENSION estimator;
SELECT est_train('lc', 'iris_train', steps => 100, params => '{"seed": 2}') IS NOT NULL;
$proba;
COMMIT;
});
is(scalar(@same_xact), 4, 'two trainings and their predictions');
my $fresh = $node->safe_psql('lifecycle', $proba);
isnt($same_xact[3], $same_xact[1],
	'the model trained anew after DROP and CREATE EXTENSION predicts otherwise');
is($same_xact[3], $fresh, 'as a new session predicts with it');
my ($lret, $lout, $lerr) = $node->psql(
	'lifecycle', qq{
\\set ON_ERROR_STOP 0
$proba;
DROP EXTENSION estimator;
SELECT est_predict('lc', t) FROM iris_test t LIMIT 1;
CREATE EXTENSION estimator;
SELECT est_predict('lc', t) FROM iris_test t LIMIT 1;
SELECT count(*) FROM estimator.models;
});
is($lout, "$fresh\n0", 'DROP EXTENSION without CASCADE drops the models');
like($lerr, qr/function est_predict\(unknown, iris_test\) does not exist.*model "lc" does not exist/s,
	'a cached model serves neither without the extension nor after it is created again');
is($node->safe_psql('lifecycle', 'SELECT 1'), '1', 'the server is up');

$node->stop;
EstimatorTest::server_log_ok($node);

done_testing();
