# 004_threads.pl: OpenBLAS runs on one thread in every server process,
# and only the processes whose products need it load it.
#
# src/blas.c opens OpenBLAS when the core first calls cblas_sgemm, and asks
# it for one thread: the server already runs one process per connection,
# and BLAS threads must never call palloc or ereport.  This test reads
# "Threads:" in /proc/<pid>/status, the CPU time of every thread but the
# main one in /proc/<pid>/task/<tid>/stat, and /proc/<pid>/maps:
#
#   a) the postmaster, after CREATE EXTENSION and a training in a backend:
#      the library is not preloaded, so the postmaster never loads OpenBLAS
#   b) a backend that trained and predicted with a network large enough
#      for OpenBLAS to split its matrix products among threads
#      (hidden_units {256,256}, batches of 512 rows of 32 features):
#      all the arithmetic ran on the main thread
#   c) parallel workers scoring est_predict, and their leader
#   d) a backend that loaded estimator has not loaded OpenBLAS; a training
#      whose output layer has one unit (a product of one column, which
#      goes to OpenBLAS on every CPU) loads it, and still one thread runs
#   e) the server log shows no crash
#
# Every process has exactly one thread: the extension opens Debian's serial
# OpenBLAS, because the pthread build starts a thread pool (one thread per
# CPU but one) in its library constructor, before it could be asked for
# one thread, and openblas_set_num_threads(1) does not end those threads.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use EstimatorTest;

plan skip_all => 'no /proc/<pid>/status on this system'
  unless -r "/proc/$$/status";

my $db = 'postgres';
my $node = EstimatorTest::new_node('threads');
$node->append_conf('postgresql.conf', q{
max_worker_processes = 8
max_parallel_workers = 4
});
$node->restart;

# threads_of returns the "Threads:" count of a process, or undef.
sub threads_of
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return undef;
	my $n;
	while (<$fh>)
	{
		if (/^Threads:\s+(\d+)/)
		{
			$n = $1;
			last;
		}
	}
	close($fh);
	return $n;
}

# helper_ticks returns the user plus system clock ticks of every thread of
# a process but its main one, as "tid:ticks" words (empty with one thread).
sub helper_ticks
{
	my ($pid) = @_;
	my @out;
	opendir(my $dh, "/proc/$pid/task") or return 'gone';
	for my $tid (sort { $a <=> $b } grep { /^\d+$/ } readdir($dh))
	{
		next if $tid == $pid;
		my $stat = slurp_file("/proc/$pid/task/$tid/stat");
		# The fields after "(comm)": state is the 3rd field, utime the 14th.
		$stat =~ s/^.*\)\s+//s;
		my @f = split /\s+/, $stat;
		push @out, "$tid:" . ($f[11] + $f[12]);
	}
	closedir($dh);
	return join(' ', @out);
}

# ticks_total sums the ticks of helper_ticks.
sub ticks_total
{
	my ($pid) = @_;
	my $sum = 0;
	$sum += (split /:/)[1] for split / /, helper_ticks($pid);
	return $sum;
}

# settle waits until the other threads of a process stop using CPU (the
# OpenBLAS pool spins for a while after it starts, then sleeps) and returns
# their ticks then.
sub settle
{
	my ($pid) = @_;
	my $before = ticks_total($pid);
	for (1 .. 50)
	{
		usleep(200_000);
		my $now = ticks_total($pid);
		return $now if $now == $before;
		$before = $now;
	}
	return $before;
}

# helpers_idle succeeds when no thread but the main one used CPU time since
# $baseline (settle's result): the arithmetic all ran on the main thread.
sub helpers_idle
{
	my ($pid, $baseline, $what) = @_;
	my $ticks = helper_ticks($pid);
	note("$what: other threads of $pid (tid:ticks): "
		  . ($ticks || 'none') . ", $baseline ticks before");
	cmp_ok(ticks_total($pid) - $baseline,
		'<=', 1, "$what: no thread but the main one computed");
	return;
}

# one_thread checks "Threads: 1" of a process.
sub one_thread
{
	my ($pid, $what) = @_;
	is(threads_of($pid), 1, "$what: one thread");
	return;
}

my $postmaster = $node->safe_psql($db,
	q{SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)});
like($postmaster, qr/^\d+$/, 'the postmaster pid is known');
is(threads_of($postmaster), 1, 'the postmaster has one thread at start');

EstimatorTest::setup_db($node, $db);

# A few thousand rows of 32 features and 3 classes.
$node->safe_psql(
	$db, q{
CREATE TABLE wide AS
	SELECT g AS id,
		   ARRAY(SELECT sin(g * 0.37 + k * 1.3) FROM generate_series(1, 32) k)::float8[] AS x,
		   (g % 3) AS label
	  FROM generate_series(1, 4000) g;
});

###
### b) a backend trains and predicts with a large network
###
my $bg = $node->background_psql($db);
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
like($pid, qr/^\d+$/, 'the backend pid is known');
is(threads_of($pid), 1, 'the backend has one thread before loading estimator');
$bg->query_safe(q{LOAD 'estimator'});
my $baseline = settle($pid);

my $step = $bg->query_safe(
	q{SET client_min_messages = warning;
	  SELECT global_step FROM est_train('threads_big', 'SELECT x, label FROM wide',
		  hidden_units => '{256,256}', batch_size => 512, steps => 60,
		  optimizer => 'adam', params => '{"seed": 1}')});
is($step, '60', 'the large network trained');
one_thread($pid, 'the backend after training');
helpers_idle($pid, $baseline, 'the backend after training');

is( $bg->query_safe(
		q{SELECT count(est_predict('threads_big', x)) FROM wide}),
	'4000',
	'the large network scored every row');
is( $bg->query_safe(
		q{SELECT count(*) FROM est_evaluate('threads_big', 'SELECT x, label FROM wide')}) > 0 ? 1 : 0,
	1,
	'and evaluated');
one_thread($pid, 'the backend after predicting');
helpers_idle($pid, $baseline, 'the backend after predicting');

###
### a) the postmaster never loads OpenBLAS
###
is(threads_of($postmaster), 1,
	'the postmaster has one thread after CREATE EXTENSION and a training');
{
	my $maps = slurp_file("/proc/$postmaster/maps");
	unlike($maps, qr/openblas|estimator\.so/,
		'the postmaster has not loaded estimator.so or OpenBLAS');
}

###
### c) parallel workers score; their leader computes nothing off its main thread
###
$bg->quit;
# A fresh session leads.  Each row reports the pid, thread count and helper-thread CPU
# ticks of the process that scored it (/proc/self is whoever runs
# pg_read_file, after est_predict ran there).
$bg = $node->background_psql($db);
$pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe(q{LOAD 'estimator'});
$baseline = settle($pid);
$bg->query_safe(
	q{SET parallel_setup_cost = 0;
	  SET parallel_tuple_cost = 0;
	  SET min_parallel_table_scan_size = 0;
	  SET max_parallel_workers_per_gather = 2;
	  SET parallel_leader_participation = off;});
my $plan = $bg->query_safe(
	q{EXPLAIN (COSTS OFF)
	  SELECT est_predict('threads_big', x) FROM wide});
like($plan, qr/Gather/, 'the scoring query has a parallel plan');

my $rows = $bg->query_safe(
	q{SELECT substring(s FROM 'Pid:\s+(\d+)') || ':' ||
			 substring(s FROM 'Threads:\s+(\d+)') AS who, count(*)
		FROM (SELECT CASE WHEN est_predict('threads_big', x) IS NOT NULL
						  THEN pg_read_file('/proc/self/status') END AS s
				FROM wide) p
	   GROUP BY 1 ORDER BY 1});
note("pid:threads|rows of the scoring processes:\n$rows");
my %threads;
my $scored = 0;
for my $line (split /\n/, $rows)
{
	my ($who, $count) = split /\|/, $line;
	my ($p, $t) = split /:/, $who;
	$threads{$p} = $t;
	$scored += $count;
}
is($scored, 4000, 'the parallel query scored every row');
ok(!exists $threads{$pid}, 'the leader scored no row itself');
cmp_ok(scalar(keys %threads), '>=', 1, 'parallel workers scored the rows');
is(join(',', map { "$_:$threads{$_}" } grep { $threads{$_} != 1 } sort keys %threads),
	'', 'every worker scored with one thread');
one_thread($pid, 'the leader after the parallel query');
helpers_idle($pid, $baseline, 'the leader after the parallel query');
is(threads_of($postmaster), 1,
	'the postmaster has one thread after the parallel query');
$bg->quit;

###
### d) OpenBLAS loads when a product first needs it
###
$bg = $node->background_psql($db);
$pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe(q{LOAD 'estimator'});
unlike(slurp_file("/proc/$pid/maps"), qr{/libopenblas[^/]*\.so},
	'a backend that loaded estimator has not loaded OpenBLAS');
is( $bg->query_safe(
		q{SET client_min_messages = warning;
		  SELECT global_step FROM est_train('threads_one', 'SELECT x, (id % 7)::float8 AS label FROM wide',
			  model_type => 'dnn_regressor', hidden_units => '{8}',
			  steps => 5, params => '{"seed": 1}')}),
	'5',
	'a regressor of one output trained');
like(slurp_file("/proc/$pid/maps"), qr{/libopenblas[^/]*\.so},
	'its product of one column loaded OpenBLAS');
one_thread($pid, 'the backend that loaded OpenBLAS');
$bg->quit;

###
### e) no crash in the server log
###
$node->stop;
EstimatorTest::server_log_ok($node);

done_testing();
