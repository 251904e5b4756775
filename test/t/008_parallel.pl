# 008_parallel.pl: est_train with parallel workers says what it does.
#
#   a) a call with parallel_workers starts them (NOTICE) and they end with
#      it: no worker is left in pg_stat_activity
#   b) a call that needs one backend says why, and still trains
#   c) without a free worker it trains in one backend and says so
#   d) a worker terminated in the middle fails the call with an error, not
#      a hang; the model stays as it was and trains on afterwards
#   e) a synchronized sequential scan, which starts where another scan of
#      a large table is, does not change the rows' order: training with a
#      seed repeats itself
#   f) est_predict_table scoring in parallel: a worker terminated in the
#      middle fails the call with an error, not a hang, no worker is left,
#      and the next call scores every row; a worker that fails while
#      another still sends fails the call, and the other closes its scan
#   g) the server log shows no crash and no resource leaked at a commit

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
my $node = EstimatorTest::new_node('parallel');
EstimatorTest::setup_db($node, $db);

# notices: the NOTICEs, DETAILs and HINTs of a statement, loss reports left out
sub notices
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, $sql);
	is($ret, 0, "runs: $sql") or diag($err);
	return join "\n", grep { !/NOTICE:  loss = / } split /\n/, $err;
}

###
### a) workers start and end with the call
###
like(notices(q{SELECT est_train('a', 'iris_train', steps => 50,
	params => '{"seed": 1, "parallel_workers": 1}')}),
	qr/NOTICE:  training with 1 parallel worker$/m, 'one worker starts');
like(notices(q{SELECT est_train('a2', 'iris_train', steps => 50,
	params => '{"seed": 1, "parallel_workers": 2}')}),
	qr/NOTICE:  training with 2 parallel workers$/m, 'two workers start');
like(notices(q{SET estimator.parallel_workers = 1;
	SELECT est_train('a3', 'iris_train', steps => 50)}),
	qr/NOTICE:  training with 1 parallel worker$/m, 'the setting starts one');
unlike(notices(q{SET estimator.parallel_workers = 1;
	SELECT est_train('a3', 'iris_train', steps => 50,
		params => '{"parallel_workers": 0}')}),
	qr/parallel/, 'params override the setting');
is($node->safe_psql($db, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'parallel worker'}), '0', 'no worker is left');

###
### b) what needs one backend
###
my %why = (
	'{"dropout": 0.1}' => 'Dropout draws its masks',
	'{"batch_norm": true}' => 'Batch normalisation needs the statistics',
	'{"save_checkpoints_steps": 10}' => 'save_checkpoints_steps stores checkpoints');
my $n = 0;
foreach my $p (sort keys %why)
{
	$n++;
	my $params = $p;
	$params =~ s/}$/, "seed": 1, "parallel_workers": 1}/;
	my $err = notices(qq{SELECT est_train('b$n', 'iris_train', steps => 20,
		params => '$params')});
	like($err, qr/NOTICE:  training in one backend without parallel workers\nDETAIL:  \Q$why{$p}\E/,
		"one backend for $p");
}
like(notices(q{CALL est_train_procedure('b_proc', 'iris_train', steps => 20,
	params => '{"seed": 1, "parallel_workers": 1}')}),
	qr/DETAIL:  est_train_procedure commits between steps\./,
	'one backend for the procedure');

###
### c) no free worker
###
like(notices(q{SET max_parallel_workers = 0;
	SELECT est_train('c', 'iris_train', steps => 20,
		params => '{"seed": 1, "parallel_workers": 2}')}),
	qr/DETAIL:  No parallel worker could start\.\nHINT:  Raise max_worker_processes or max_parallel_workers\./,
	'one backend without a free worker');
is($node->safe_psql($db, q{SELECT global_step FROM estimator.models WHERE name = 'c'}),
	'20', 'and it trained');

# terminate_worker: runs sql in a psql of its own, terminates the first
# parallel worker that appears, and waits for psql: (worker pid or '',
# whether psql ended within 30 s of it, psql's stderr)
sub terminate_worker
{
	my ($sql) = @_;
	my ($stdin, $stdout, $stderr) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr($db), '-c', $sql ],
		'<', \$stdin, '>', \$stdout, '2>', \$stderr);
	my $pid = '';
	my $deadline = time + 60;
	while ($pid eq '' && time < $deadline)
	{
		$pid = $node->safe_psql($db, q{SELECT pid FROM pg_stat_activity
			WHERE backend_type = 'parallel worker' LIMIT 1});
		sleep(0.05) if $pid eq '';
	}
	$node->safe_psql($db, "SELECT pg_terminate_backend($pid)") if $pid ne '';
	my $t0 = time;
	my $finished = eval { $h->finish; 1 };
	return ($pid, $finished && time - $t0 < 30, $stderr);
}

###
### d) a worker terminated in the middle
###
$node->safe_psql($db, q{CREATE TABLE big AS
	SELECT sin(i) AS x1, cos(i) AS x2, sin(i * 7) AS x3, (i % 3) AS label
	  FROM generate_series(1, 20000) i});
$node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT est_train('d', 'big', steps => 10, params => '{"seed": 1}')});
my ($pid, $ended, $stderr) = terminate_worker(
	q{SELECT est_train('d', 'big', hidden_units => '{10,10}', steps => 100000000,
		params => '{"parallel_workers": 1}')});
isnt($pid, '', 'the worker runs');
ok($ended, 'the call ends soon after');
like($stderr, qr/ERROR:  .*(terminat|parallel worker)/, 'with an error') or diag($stderr);
is($node->safe_psql($db, q{SELECT global_step FROM estimator.models WHERE name = 'd'}),
	'10', 'the model is as it was');
is($node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT global_step FROM est_train('d', 'big', steps => 10,
		params => '{"parallel_workers": 1}')}), '20', 'and trains on');

###
### e) synchronized scans
###
# a table larger than a quarter of shared_buffers is scanned in sync
$node->append_conf('postgresql.conf', "shared_buffers = '256kB'");
$node->restart;
$node->safe_psql($db, q{CREATE TABLE sync AS
	SELECT sin(i) AS x1, cos(i * 3) AS x2, (i % 3) AS label
	  FROM generate_series(1, 30000) i});
# a scan stopped half way leaves its place for the next one to start at
$node->safe_psql($db, q{SELECT count(*) FROM (SELECT * FROM sync LIMIT 15000) s});
isnt($node->safe_psql($db, q{SELECT (ctid::text::point)[0] FROM sync LIMIT 1}),
	'0', 'a plain scan of the table starts past its first block');
$node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT est_train('sync1', 'sync', steps => 50, params => '{"seed": 1}')});
$node->safe_psql($db, q{SELECT count(*) FROM (SELECT * FROM sync LIMIT 20000) s});
$node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT est_train('sync2', 'sync', steps => 50, params => '{"seed": 1}')});
is($node->safe_psql($db, q{SELECT bool_and(a."values" = b."values")
	FROM est_weights('sync1') a JOIN est_weights('sync2') b USING (layer, kind, name)}),
	't', 'training reads the rows in the same order and repeats itself');

###
### f) est_predict_table with a worker terminated in the middle
###
$node->safe_psql($db, q{CREATE TABLE wide AS
	SELECT i AS id, sin(i) AS x1, cos(i) AS x2, (i % 3) AS label
	  FROM generate_series(1, 200000) i});
$node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT est_train('f', 'wide', hidden_units => '{512,512}', steps => 1,
		params => '{"seed": 1}')});
($pid, $ended, $stderr) = terminate_worker(
	q{SET max_parallel_workers_per_gather = 1;
		SELECT count(*) FROM est_predict_table('f', 'wide', key => 'id')});
isnt($pid, '', 'a scoring worker runs');
ok($ended, 'the scoring ends soon after');
like($stderr, qr/ERROR:  .*(terminat|parallel worker)/, 'with an error') or diag($stderr);
is($node->safe_psql($db, q{SELECT count(*) FROM pg_stat_activity
	WHERE backend_type = 'parallel worker'}), '0', 'no scoring worker is left');
is($node->safe_psql($db, q{SELECT count(*), count(DISTINCT key)
	FROM est_predict_table('f', 'wide', key => 'id')}), '200000|200000',
	'the next call scores every row once');

###
### f2) est_predict_table whose worker fails while another still sends: the
### other finds the backend gone and leaves without a leaked scan (g)
###
$node->safe_psql($db, q{CREATE TABLE narrow AS
	SELECT i AS id, sin(i) AS x1, cos(i) AS x2, (i % 3) AS label
	  FROM generate_series(1, 20000) i});
$node->safe_psql($db, q{SET client_min_messages = warning;
	SELECT est_train('f2', 'narrow', hidden_units => '{16}', steps => 1,
		params => '{"seed": 1}');
	UPDATE narrow SET x2 = 'NaN' WHERE id = 15001});
for my $try (1 .. 5)
{
	my ($ret, $out, $err) = $node->psql($db,
		q{SET min_parallel_table_scan_size = 0;
		SET max_parallel_workers_per_gather = 2;
		SET parallel_leader_participation = off;
		SELECT count(*) FROM est_predict_table('f2', 'narrow', key => 'id')});
	like($err, qr/contains NaN/, "a worker's NaN fails the call ($try)");
}

###
### g) no crash
###
EstimatorTest::server_log_ok($node);

done_testing();
