# 009_readme.pl: README.md's SQL examples run, and say what the server says.
#
# Every ```sql block of README.md runs, in the order of the file, through
# psql in one fresh database (the tutorial loads Iris itself, with \copy
# from the checkout), each block in a session of its own.  A block must not
# fail unless README shows its error.  When a plain ``` block follows it
# (blank lines between at most), that block is its output: each of its
# parts (separated by blank lines) must be one whole part of psql's output
# (its results, notices and errors, separated by blank lines), in order;
# psql's other parts are the results README leaves out.
#
# The comparison ignores alignment (cells are compared trimmed), a psql
# "psql:<stdin>:N:" prefix, the times of the loss reports ("(0.004 sec)")
# and the column "seconds".  A line "..." stands for any lines.  Markers on
# the line before a ```sql fence (blank lines between at most) change what
# is checked:
#
#   <!-- check: skip (why) -->            the block does not run
#   <!-- check: numbers vary (why) -->    its numbers (an unseeded model's)
#                                         are compared as "N"
#
# The roles analyst and retrainer exist (README grants to them).

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EstimatorTest;

# ParseReadme returns the ```sql blocks: line, sql, expected (lines or
# undef), skip and vary (the markers' reasons, or undef).
sub ParseReadme
{
	my ($path) = @_;
	my @lines = split /\n/, slurp_file($path), -1;
	my (@blocks, %marker);
	my $i = 0;
	while ($i < @lines)
	{
		my $line = $lines[$i];
		if ($line =~ /^<!-- check: (skip|numbers vary) \((.+)\) -->$/)
		{
			my $kind = $1 eq 'skip' ? 'skip' : 'vary';
			$marker{$kind} = $2;
			$marker{line} = $i + 1;
			$i++;
			next;
		}
		if ($line =~ /^<!-- check:/)
		{
			die "README.md:" . ($i + 1) . ": unknown marker: $line\n";
		}
		if ($line =~ /^```(\S*)/)
		{
			my $lang = $1;
			my $start = $i + 1;
			my @body;
			$i++;
			while ($i < @lines && $lines[$i] !~ /^```/)
			{
				push @body, $lines[$i++];
			}
			$i++;
			if ($lang ne 'sql')
			{
				die "README.md:$marker{line}: a marker before a ```$lang block\n"
				  if %marker;
				next;
			}
			my %block = (
				line => $start,
				sql => join("\n", @body) . "\n",
				skip => $marker{skip},
				vary => $marker{vary});
			%marker = ();
			my $j = $i;
			$j++ while $j < @lines && $lines[$j] eq '';
			if ($j < @lines && $lines[$j] eq '```')
			{
				my @out;
				$j++;
				while ($j < @lines && $lines[$j] !~ /^```/)
				{
					push @out, $lines[$j++];
				}
				$block{expected} = \@out;
				$i = $j + 1;
			}
			push @blocks, \%block;
			next;
		}
		die "README.md:$marker{line}: a marker not followed by a ```sql block\n"
		  if %marker && $line ne '';
		$i++;
	}
	return @blocks;
}

# Parts splits lines at blank lines into parts of normalised lines.
sub Parts
{
	my ($lines, $vary) = @_;
	my (@parts, @cur, $seconds);
	for my $raw (@$lines, '')
	{
		my $line = $raw;
		$line =~ s/^psql:[^:]*:\d+: //;
		$line =~ s/\s+$//;
		if ($line eq '')
		{
			push @parts, [@cur] if @cur;
			@cur = ();
			undef $seconds;
			next;
		}
		$line =~ s/\(\d+(\.\d+)? sec\)/(N sec)/g;
		$line =~ s/^\s+//;
		if ($line =~ /^-[-+]*$/)
		{
			push @cur, '---';
			next;
		}
		my @cells = split /\s*\|\s*/, $line, -1;
		if (!defined $seconds)
		{
			my ($k) = grep { $cells[$_] eq 'seconds' } 0 .. $#cells;
			$seconds = $k if defined $k;
		}
		elsif (@cells > $seconds && $line ne '...')
		{
			$cells[$seconds] = 'N';
		}
		$line = join('|', @cells);
		if ($vary && $line !~ /^\(\d+ rows?\)$/)
		{
			$line =~ s/-?\b\d+(\.\d+)?(e[-+]?\d+)?\b/N/gi;
		}
		push @cur, $line;
	}
	return @parts;
}

# PartMatches: do the lines of an actual part match an expected part, whose
# "..." lines stand for any lines?
sub PartMatches
{
	my ($exp, $act, $i, $j) = @_;
	$i //= 0;
	$j //= 0;
	return $j == @$act if $i == @$exp;
	if ($exp->[$i] eq '...')
	{
		for my $k ($j .. scalar(@$act))
		{
			return 1 if PartMatches($exp, $act, $i + 1, $k);
		}
		return 0;
	}
	return 0 if $j == @$act || $exp->[$i] ne $act->[$j];
	return PartMatches($exp, $act, $i + 1, $j + 1);
}

# Quiet returns a part without its notices (and their details and hints),
# which README leaves out unless it shows some.
sub Quiet
{
	my ($part) = @_;
	my ($notice, @kept);
	for my $line (@$part)
	{
		$notice = 1 if $line =~ /^NOTICE:/;
		$notice = 0 if $line !~ /^(NOTICE|DETAIL|HINT):/;
		push @kept, $line unless $notice;
	}
	return \@kept;
}

my $readme = "$EstimatorTest::SRCDIR/README.md";
my @blocks = ParseReadme($readme);
cmp_ok(scalar(@blocks), '>', 40, 'README.md has its ```sql blocks');

my $node = EstimatorTest::new_node('readme');
$node->safe_psql('postgres', 'CREATE ROLE analyst; CREATE ROLE retrainer');

# The tutorial's \copy reads test/data/iris.csv from the checkout.
chdir $EstimatorTest::SRCDIR or die "cannot enter $EstimatorTest::SRCDIR: $!";

for my $block (@blocks)
{
	my ($first) = grep { /\S/ && !/^--/ } split /\n/, $block->{sql};
	my $name = "README.md:$block->{line}: $first";
	if (defined $block->{skip})
	{
		note("skipped $name: $block->{skip}");
		next;
	}
	my $out = '';
	IPC::Run::run(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres') ],
		'<', \$block->{sql}, '>&', \$out);
	note("$name:\n$out");
	my @actual = Parts([ split /\n/, $out ], $block->{vary});
	my @expected = Parts($block->{expected} // [], $block->{vary});

	my @problems;
	my %shown = map { $_ => 1 } map { @$_ } @expected;
	for my $line (map { @$_ } @actual)
	{
		push @problems, "unexpected: $line"
		  if $line =~ /^(ERROR|FATAL|PANIC):/ && !$shown{$line};
		push @problems, "psql: $line" if $line =~ /^(psql|invalid command)/;
	}
	my $k = 0;
	for my $exp (@expected)
	{
		$k++
		  while $k < @actual
		  && !PartMatches($exp,
			(grep { /^NOTICE:/ } @$exp) ? $actual[$k] : Quiet($actual[$k]));
		if ($k == @actual)
		{
			push @problems, "not in the output:\n  " . join("\n  ", @$exp);
			last;
		}
		$k++;
	}
	ok(!@problems, $name)
	  or diag(join("\n", @problems, 'psql said:', $out));
}

EstimatorTest::server_log_ok($node);
$node->stop;

# The examples of messages in README's table of errors (the backquoted
# texts with a space) must be messages that the regression tests show
# (expected/*.out, where README's "..." stands for any text and N for a
# number), or fit a string of the source (src/*.c, where %s, %d and the like
# stand for any text).
my $section = slurp_file($readme);
$section =~ s/.*^### Errors\n//ms or die "README.md has no section Errors";
$section =~ s/^## .*//ms;
my $shown = join('',
	map { slurp_file($_) } glob(
		"$EstimatorTest::SRCDIR/expected/*.out $EstimatorTest::SRCDIR/test/isolation/expected/*.out"
	));
my @formats;
for my $file (glob("$EstimatorTest::SRCDIR/src/*.c"))
{
	for my $string (slurp_file($file) =~ /"((?:[^"\\\n]|\\.)*)"/g)
	{
		next unless $string =~ / /;
		$string =~ s/\\"/"/g;
		my $re = join('',
			map { /^%/ ? '.+' : quotemeta($_) }
			  split /(%[-0-9.]*[lz]*[sdiuxXgf])/, $string);
		push @formats, qr/^$re$/;
	}
}
my $examples = 0;
for my $row (grep { /^\| [0-9A-Z]{5} \|/ } split /\n/, $section)
{
	my ($code) = $row =~ /^\| (\S+)/;
	for my $example (grep { / / } $row =~ /`([^`]+)`/g)
	{
		$examples++;
		my $re = join('.*?', map { quotemeta } split /\.\.\./, $example, -1);
		$re =~ s/(?<=\\ )N\b/\\d+/g;
		(my $literal = $example) =~ s/\.\.\./X/g;
		ok($shown =~ /$re/ || grep({ $literal =~ $_ } @formats),
			"README.md, Errors, $code: $example");
	}
}
cmp_ok($examples, '>', 50, 'README.md\'s table of errors has its examples');
done_testing();
