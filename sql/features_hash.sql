-- Hash and crossed feature columns: the documented hash, computed here in
-- SQL (64-bit FNV-1a of the UTF-8 bytes, then the splitmix64 finaliser),
-- gives the buckets the model uses.
SET client_min_messages = warning;

CREATE FUNCTION fhash_num(b bit(64)) RETURNS numeric LANGUAGE sql IMMUTABLE AS
$$ SELECT b::bigint::numeric + CASE WHEN b::bigint < 0 THEN 18446744073709551616 ELSE 0 END $$;
CREATE FUNCTION fhash_bits(n numeric) RETURNS bit(64) LANGUAGE sql IMMUTABLE AS
$$ SELECT (CASE WHEN n >= 9223372036854775808 THEN n - 18446744073709551616 ELSE n END)::bigint::bit(64) $$;
CREATE FUNCTION fhash_mul(a bit(64), b numeric) RETURNS bit(64) LANGUAGE sql IMMUTABLE AS
$$ SELECT fhash_bits(mod(fhash_num(a) * b, 18446744073709551616)) $$;
CREATE FUNCTION fhash_mix(z bit(64)) RETURNS bit(64) LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	z := z # (z >> 30);
	z := fhash_mul(z, x'bf58476d1ce4e5b9'::bit(64)::bigint::numeric + 18446744073709551616);
	z := z # (z >> 27);
	z := fhash_mul(z, x'94d049bb133111eb'::bit(64)::bigint::numeric + 18446744073709551616);
	RETURN z # (z >> 31);
END $$;
CREATE FUNCTION fhash(s text) RETURNS bit(64) LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	bytes bytea := convert_to(s, 'UTF8');
	h bit(64) := x'cbf29ce484222325';
BEGIN
	FOR i IN 0 .. length(bytes) - 1 LOOP
		h := h # get_byte(bytes, i)::bigint::bit(64);
		h := fhash_mul(h, 1099511628211);
	END LOOP;
	RETURN fhash_mix(h);
END $$;
CREATE FUNCTION fhash_cross(vals text[]) RETURNS bit(64) LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
	h bit(64) := cardinality(vals)::bigint::bit(64);
	s text;
BEGIN
	FOREACH s IN ARRAY vals LOOP
		h := fhash_mix(fhash_bits(mod(fhash_num(h # fhash(s)) + 11400714819323198485,
									  18446744073709551616)));
	END LOOP;
	RETURN h;
END $$;
CREATE FUNCTION fbucket(h bit(64), n int) RETURNS int LANGUAGE sql IMMUTABLE AS
$$ SELECT mod(fhash_num(h), n)::int $$;

-- the values the unit tests pin (test/unit/test_features.c)
SELECT fhash('') = x'f52a15e9a9b5e89b' AS empty_ok,
	   fhash_cross('{a,b}') = x'5f4f2c6ea7d96a3a' AS cross_ok;

CREATE TABLE fhsh (city text, weekday int, label int);
INSERT INTO fhsh
	SELECT (ARRAY['paris', 'oslo', 'lima', 'kyiv', 'quito', 'bern', 'são paulo'])[1 + g % 7],
		   g % 5, (g % 7 + g % 5) % 2
	  FROM generate_series(1, 70) g;

-- a hash column and a crossed column; the same model on the buckets SQL
-- computes (identity columns) predicts the same
SELECT global_step FROM est_train('fhsh_model', 'fhsh', steps => 20, params => '{"seed": 3,
	"feature_columns": [{"type": "hash", "key": "city", "hash_bucket_size": 5},
						{"type": "crossed", "keys": ["city", "weekday"], "hash_bucket_size": 11}]}');
SELECT ordinal, name, kind, source, width, buckets, details
  FROM est_feature_info('fhsh_model') ORDER BY ordinal;
CREATE VIEW fhsh_ids AS
	SELECT fbucket(fhash(city), 5) AS city,
		   fbucket(fhash_cross(ARRAY[city, weekday::text]), 11) AS city_x_weekday, label
	  FROM fhsh;
SELECT global_step FROM est_train('fhsh_sql', 'fhsh_ids', steps => 20, params => '{"seed": 3,
	"feature_columns": [{"type": "identity", "key": "city", "num_buckets": 5},
						{"type": "identity", "key": "city_x_weekday", "num_buckets": 11}]}');
SELECT DISTINCT h.city, h.weekday, i.city AS city_bucket, i.city_x_weekday AS cross_bucket,
	   est_predict_proba('fhsh_model', h) = est_predict_proba('fhsh_sql', i) AS same
  FROM (SELECT row_number() OVER () AS n, city, weekday FROM fhsh) h
  JOIN (SELECT row_number() OVER () AS n, city, city_x_weekday FROM fhsh_ids) i USING (n)
 WHERE h.weekday < 2
 ORDER BY h.city, h.weekday;

-- hash columns read integers and booleans in their text form; a NULL has
-- no id, in a crossed column too
SELECT global_step FROM est_train('fhsh_ints', 'SELECT weekday, weekday > 2 AS late, label FROM fhsh', steps => 5,
	params => '{"seed": 1, "feature_columns": [{"type": "hash", "key": "weekday", "hash_bucket_size": 3},
											   {"type": "crossed", "keys": ["weekday", "late"], "hash_bucket_size": 7}]}');
SELECT est_predict_proba('fhsh_ints', t) = est_predict_proba('fhsh_ints', u) AS null_is_no_id
  FROM (SELECT NULL::int AS weekday, NULL::bool AS late) t,
	   (SELECT NULL::int AS weekday, true AS late) u;

-- errors
SELECT expect_error($$SELECT * FROM est_train('fhsh_bad', 'fhsh', params => '{"feature_columns": [{"type": "hash", "key": "city"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fhsh_bad', 'fhsh', params => '{"feature_columns": [{"type": "crossed", "keys": ["city"], "hash_bucket_size": 4}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fhsh_bad', 'fhsh', params => '{"feature_columns": [{"type": "crossed", "key": "city", "hash_bucket_size": 4}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fhsh_bad', 'SELECT city, 1.5::float8 AS r, label FROM fhsh', params => '{"feature_columns": [{"type": "crossed", "keys": ["city", "r"], "hash_bucket_size": 4}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fhsh_bad', 'fhsh', params => '{"feature_columns": [{"type": "hash", "key": "city", "hash_bucket_size": 0}]}')$$);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'fhsh\_%') d;
DROP VIEW fhsh_ids;
DROP TABLE fhsh;
DROP FUNCTION fbucket, fhash_cross, fhash, fhash_mix, fhash_mul, fhash_bits, fhash_num;
