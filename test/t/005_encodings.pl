# 005_encodings.pl: feature columns and class names in databases that are
# not UTF-8.
#
# Text is hashed and looked up as UTF-8 whatever the database encoding, so
# the same rows give the same buckets, the same learned vocabularies and so
# the same model in a UTF8 and a LATIN1 database (bit for bit: the
# predictions match exactly), and class names come back in the database's
# encoding.  SQL_ASCII keeps the bytes as they are: its models train and
# predict, on ASCII data the same as elsewhere.

use strict;
use warnings;

use FindBin;
use lib $FindBin::RealBin;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

use EstimatorTest;

my $node = EstimatorTest::new_node('enc');

my %dbs = (
	utf8 => 'UTF8',
	latin1 => 'LATIN1',
	ascii => 'SQL_ASCII');
foreach my $db (sort keys %dbs)
{
	$node->safe_psql('postgres',
		"CREATE DATABASE $db ENCODING '$dbs{$db}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
	);
	$node->safe_psql($db, 'CREATE EXTENSION estimator');
}

# Cities with letters outside ASCII (in both UTF8 and LATIN1), a hash, a
# crossed and a learned vocabulary column, and accented class names.  The
# client sends UTF-8; the server converts to the database's encoding.
my $data = q{
SET client_encoding = 'UTF8';
SET client_min_messages = warning;
CREATE TABLE towns AS
	SELECT (ARRAY['São Paulo', 'Zürich', 'Malmö', 'Besançon', 'Ærøskøbing', 'Lima'])[1 + g % 6] AS city,
		   g % 4 AS weekday,
		   (ARRAY['élevé', 'moyen', 'bas'])[1 + (g % 6 + g % 4) % 3] AS level
	  FROM generate_series(1, 240) g;
};
my $train = q{
SELECT global_step FROM est_train('towns', 'towns', label => 'level', steps => 200,
	params => '{"seed": 7, "feature_columns": [
		{"type": "hash", "key": "city", "hash_bucket_size": 7},
		{"type": "crossed", "keys": ["city", "weekday"], "hash_bucket_size": 13},
		{"type": "vocabulary", "key": "city", "name": "city_vocab"}]}');
};
my $predict = q{
SET client_encoding = 'UTF8';
SELECT string_agg(array_to_string(est_predict_proba('towns', t), ',') || ':' ||
				  est_predict_label('towns', t), ';' ORDER BY city, weekday)
  FROM (SELECT DISTINCT city, weekday FROM towns) t;
};

foreach my $db ('utf8', 'latin1')
{
	$node->safe_psql($db, $data);
	$node->safe_psql($db, $train);
}
my $utf8 = $node->safe_psql('utf8', $predict);
my $latin1 = $node->safe_psql('latin1', $predict);
isnt($utf8, '', 'the UTF8 model predicts');
is($latin1, $utf8, 'the LATIN1 model predicts exactly as the UTF8 one');
like($latin1, qr/élevé|moyen|bas/, 'class names come back converted');

is( $node->safe_psql(
		'latin1', q{SET client_encoding = 'UTF8';
SELECT array_to_string(top_values, ',') FROM est_feature_info('towns') WHERE name = 'city_vocab'}),
	$node->safe_psql(
		'utf8', q{SET client_encoding = 'UTF8';
SELECT array_to_string(top_values, ',') FROM est_feature_info('towns') WHERE name = 'city_vocab'}),
	'the learned vocabulary is the same, shown in the database encoding');
is( $node->safe_psql(
		'latin1', q{SET client_encoding = 'UTF8';
SELECT label_vocabulary::text FROM estimator.models WHERE name = 'towns'}),
	'{bas,moyen,élevé}',
	'class names are stored in the database encoding');

# an unseen city goes to the OOV bucket in both
my $unseen = q{SET client_encoding = 'UTF8';
SELECT array_to_string(est_predict_proba('towns', t), ',')
  FROM (SELECT 'Köln'::text AS city, 1 AS weekday) t};
is($node->safe_psql('latin1', $unseen), $node->safe_psql('utf8', $unseen),
	'an unseen city predicts alike');

# SQL_ASCII: bytes are hashed as they are; ASCII data gives the same model
my $ascii_data = q{
SET client_min_messages = warning;
CREATE TABLE towns AS
	SELECT (ARRAY['Paris', 'Oslo', 'Lima', 'Kyiv', 'Bern', 'Quito'])[1 + g % 6] AS city,
		   g % 4 AS weekday,
		   (ARRAY['high', 'mid', 'low'])[1 + (g % 6 + g % 4) % 3] AS level
	  FROM generate_series(1, 240) g;
};
foreach my $db ('ascii', 'utf8')
{
	$node->safe_psql($db, 'SELECT est_drop_model(name) FROM estimator.models');
	$node->safe_psql($db, 'DROP TABLE IF EXISTS towns');
	$node->safe_psql($db, $ascii_data);
	$node->safe_psql($db, $train);
}
is($node->safe_psql('ascii', $predict), $node->safe_psql('utf8', $predict),
	'an SQL_ASCII model of ASCII data predicts as the UTF8 one');

# SQL_ASCII: a value of bytes that are not UTF-8 (LATIN1's "Köln") is a
# vocabulary entry as it is, learned or given, and est_feature_info shows
# it; it was once refused as invalid UTF-8 in both places
$node->safe_psql('ascii', q{
SET client_min_messages = warning;
CREATE TABLE bytes AS
	SELECT (ARRAY[convert_from('\x4bf66c6e', 'SQL_ASCII'), 'Oslo'])[1 + g % 2] AS city,
		   g % 2 AS label
	  FROM generate_series(1, 40) g;
SELECT global_step FROM est_train('bytes_learned', 'bytes', steps => 5,
	params => '{"seed": 1}');
SELECT global_step FROM est_train('bytes_given', 'bytes', steps => 5,
	params => ('{"seed": 1, "feature_columns": [{"type": "vocabulary", "key": "city", "vocabulary": ["Oslo", "'
			   || convert_from('\x4bf66c6e', 'SQL_ASCII') || '"]}]}')::jsonb);
});
is( $node->safe_psql(
		'ascii', q{
SELECT string_agg(encode(convert_to(v, 'SQL_ASCII'), 'hex'), ',' ORDER BY v)
  FROM est_feature_info('bytes_learned'), unnest(top_values) v}),
	'4bf66c6e,4f736c6f',
	'est_feature_info shows a learned entry of bytes that are not UTF-8');
is( $node->safe_psql(
		'ascii', q{
SELECT est_predict_proba('bytes_given', k) <> est_predict_proba('bytes_given', o)
  FROM (SELECT convert_from('\x4bf66c6e', 'SQL_ASCII') AS city) k,
	   (SELECT 'Lima'::text AS city) o}),
	't',
	'a given entry of bytes that are not UTF-8 is no OOV value');

EstimatorTest::server_log_ok($node);
$node->stop;
done_testing();
