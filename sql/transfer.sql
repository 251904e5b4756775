-- est_export, est_import and est_weights: bundles that move a model to
-- another database (here: another name, since pg_regress has one database),
-- damaged bundles, and the weights checked against a computation in SQL.
SET client_min_messages = warning;

-- xfer_error shows the SQLSTATE, message and detail of a failing import
CREATE FUNCTION xfer_error(bundle bytea) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	msg text;
	detail text;
BEGIN
	PERFORM * FROM est_import('xfer_bad', bundle);
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || msg || coalesce(' -- ' || nullif(detail, ''), '');
END
$$;

-- feature columns of several kinds and class names as labels
CREATE TABLE xfer_data AS
	SELECT g AS id, (g % 17)::float8 / 4 AS x1, (g % 7)::float8 AS age,
		   (ARRAY['red', 'green', 'blue'])[g % 3 + 1] AS color,
		   'u' || (g % 11) AS usr,
		   CASE WHEN g % 3 = 0 THEN 'cat' WHEN g % 17 < 8 THEN 'dog' ELSE 'emu' END AS species,
		   sin(g::float8) * 3 + (g % 5) AS y
	  FROM generate_series(1, 300) g;

SELECT global_step FROM est_train('xfer_dnn', 'SELECT x1, age, color, usr, species FROM xfer_data',
	label => 'species', hidden_units => '{8,4}', steps => 200,
	params => '{"seed": 11, "feature_columns": [
		{"type": "numeric", "key": "x1"},
		{"type": "bucketized", "key": "age", "boundaries": [2, 4]},
		{"type": "vocabulary", "key": "color"},
		{"type": "vocabulary", "key": "usr", "embedding_dimension": 3}]}');
SELECT global_step FROM est_train('xfer_reg', 'SELECT x1, age, y FROM xfer_data',
	label => 'y', model_type => 'dnn_regressor', hidden_units => '{6}',
	steps => 200, params => '{"seed": 12}');
SELECT global_step FROM est_train('xfer_wide', 'SELECT x1, age, color, species FROM xfer_data',
	label => 'species', model_type => 'dnn_linear_combined_classifier',
	hidden_units => '{5}', steps => 200,
	params => '{"seed": 13, "linear_feature_columns": ["color", "age"],
				"dnn_feature_columns": ["x1", "age"]}');

-- the bundle: magic, version 1, its own length
CREATE TABLE xfer_bundles AS
	SELECT name, est_export(name) AS bundle
	  FROM (VALUES ('xfer_dnn'), ('xfer_reg'), ('xfer_wide')) v(name);
SELECT name, substr(bundle, 1, 8) AS magic, get_byte(bundle, 8) AS version,
	   length(bundle) > 1000 AS has_checkpoint
  FROM xfer_bundles ORDER BY name;

-- round trip under other names
SELECT i.* FROM xfer_bundles b, est_import(b.name || '_copy', b.bundle) i
 ORDER BY i.model;

-- the definitions are the same
SELECT a.name, (a.model_type, a.features, a.label, a.n_inputs, a.n_classes,
				a.label_dimension, a.hidden_units, a.activation, a.optimizer,
				a.learning_rate, a.batch_size, a.global_step, a.input_width,
				a.label_vocabulary) IS NOT DISTINCT FROM
			   (b.model_type, b.features, b.label, b.n_inputs, b.n_classes,
				b.label_dimension, b.hidden_units, b.activation, b.optimizer,
				b.learning_rate, b.batch_size, b.global_step, b.input_width,
				b.label_vocabulary) AS same_definition,
	   b.owner = current_user::regrole AS owned_by_importer
  FROM estimator.models a JOIN estimator.models b ON b.name = a.name || '_copy'
 ORDER BY a.name;
SELECT m.name, m.feature_types = c.feature_types AS same_types,
	   m.params = c.params AS same_params
  FROM estimator.model_catalog m
  JOIN estimator.model_catalog c ON c.name = m.name || '_copy'
 ORDER BY m.name;

-- predictions are identical, bit for bit, on every row and on unseen values
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE est_predict_proba('xfer_dnn', r) = est_predict_proba('xfer_dnn_copy', r)
					AND est_predict_label('xfer_dnn', r) = est_predict_label('xfer_dnn_copy', r)) AS same_dnn,
	   count(*) FILTER (WHERE est_predict_values('xfer_reg', r) = est_predict_values('xfer_reg_copy', r)) AS same_reg,
	   count(*) FILTER (WHERE est_predict_proba('xfer_wide', r) = est_predict_proba('xfer_wide_copy', r)) AS same_wide
  FROM (SELECT x1, age, color, usr FROM xfer_data
		UNION ALL SELECT 9.5, 11, 'purple', 'stranger') r;
SELECT est_predict_label('xfer_dnn_copy', r) AS label
  FROM (SELECT 1.0::float8 AS x1, 3.0::float8 AS age, 'red' AS color, 'u1' AS usr) r;
-- and so are the weights and the feature columns
SELECT a.layer, a.kind, a.name, a.shape, a.n, a."values" = b."values" AS same
  FROM est_weights('xfer_dnn') a
  JOIN est_weights('xfer_dnn_copy') b USING (layer, kind, name)
 ORDER BY a.layer, a.kind, a.name;
SELECT (SELECT array_agg(f ORDER BY ordinal) FROM est_feature_info('xfer_dnn') f)::text =
	   (SELECT array_agg(f ORDER BY ordinal) FROM est_feature_info('xfer_dnn_copy') f)::text
	   AS same_feature_columns;

-- the imported checkpoint and its lineage
SELECT model, global_step, source, rows_read, fingerprint LIKE 'crc32c:%' AS fingerprint
  FROM estimator.checkpoints WHERE model LIKE 'xfer%copy' ORDER BY model;

-- an imported model trains on like the original
SELECT a.global_step, round(a.loss::numeric, 6) = round(b.loss::numeric, 6) AS same_loss
  FROM est_train('xfer_reg', 'SELECT x1, age, y FROM xfer_data', label => 'y', steps => 10) a,
	   est_train('xfer_reg_copy', 'SELECT x1, age, y FROM xfer_data', label => 'y', steps => 10) b;

-- the serving checkpoint is exported: with serving_step set, that one
UPDATE estimator.model_catalog SET serving_step = 200 WHERE name = 'xfer_reg';
SELECT i.* FROM est_import('xfer_reg_served', est_export('xfer_reg')) i;
SELECT bool_and(a."values" = b."values") AS weights_of_step_200
  FROM est_weights('xfer_reg') a
  JOIN est_weights('xfer_reg_served') b USING (layer, kind, name);
SELECT bool_and(a."values" = b."values") AS same_as_newest
  FROM est_weights('xfer_reg_copy') a
  JOIN est_weights('xfer_reg_served') b USING (layer, kind, name);

-- an existing name is refused
SELECT expect_error($$SELECT * FROM est_import('xfer_dnn', (SELECT bundle FROM xfer_bundles WHERE name = 'xfer_dnn'))$$);
SELECT expect_error($$SELECT est_export('xfer_none')$$);

-- ----------------------------------------------------------------
-- damaged bundles
-- ----------------------------------------------------------------
-- xfer_crc32c is CRC-32C (Castagnoli, reflected, initial and final value
-- 0xFFFFFFFF); xfer_reseal recomputes the trailer of a bundle, so that
-- lying lengths reach the parser
CREATE FUNCTION xfer_crc32c(b bytea) RETURNS bigint
LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
	crc bigint := 4294967295;
BEGIN
	FOR i IN 0 .. length(b) - 1 LOOP
		crc := crc # get_byte(b, i);
		FOR k IN 1 .. 8 LOOP
			IF crc & 1 = 1 THEN
				crc := (crc >> 1) # 2197175160;
			ELSE
				crc := crc >> 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END
$$;
CREATE FUNCTION xfer_le(v bigint, n integer) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT string_agg(set_byte('\x00'::bytea, 0, ((v >> (8 * i)) & 255)::integer), ''::bytea ORDER BY i)
	  FROM generate_series(0, n - 1) i
$$;
CREATE FUNCTION xfer_reseal(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT substr(b, 1, length(b) - 4) || xfer_le(xfer_crc32c(substr(b, 1, length(b) - 4)), 4)
$$;
-- a small bundle: a linear classifier of one numeric column
CREATE TABLE xfer_lin_data AS
	SELECT g::float8 / 50 - 1 AS x, (g % 5 > 1 AND g > 40)::int AS label
	  FROM generate_series(1, 100) g;
SELECT global_step FROM est_train('xfer_lin', 'xfer_lin_data', model_type => 'linear_classifier',
	steps => 100, params => '{"seed": 14, "feature_columns": [{"type": "numeric", "key": "x", "normalizer": "none"}]}');
CREATE TABLE xfer_small AS SELECT est_export('xfer_lin') AS b;
-- the trailer is the CRC-32C of the bytes before it
SELECT xfer_reseal(b) = b AS crc_is_crc32c FROM xfer_small;

-- a flipped bit, truncation, a wrong magic, an empty bundle
SELECT xfer_error(set_byte(b, 100, get_byte(b, 100) # 4)) AS bit_flip FROM xfer_small;
SELECT xfer_error(substr(b, 1, length(b) - 10)) AS truncated FROM xfer_small;
SELECT xfer_error(overlay(b PLACING 'ESTCKPT'::bytea FROM 1)) AS wrong_magic FROM xfer_small;
SELECT xfer_error('\x') AS empty;
-- a checkpoint is not a bundle
SELECT xfer_error(data) AS checkpoint
  FROM estimator.checkpoints WHERE model = 'xfer_lin';
-- a newer version, whatever follows
SELECT xfer_error(set_byte(b, 8, 2)) AS newer FROM xfer_small;
-- lying lengths under a valid CRC: the definition's length, a string's
-- length, the number of features (after "linear_classifier" and "label",
-- at byte 58), a checkpoint length past the end
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(1000000000, 8) FROM 21))) AS definition_length
  FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(4000000000, 4) FROM 29))) AS string_length
  FROM xfer_small;
SELECT substr(b, 29, 4) = xfer_le(17, 4) AND get_byte(b, 58) = 1 AS layout_as_documented
  FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(4096, 4) FROM 59))) AS feature_count
  FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(0, 4) FROM 59))) AS no_features
  FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(999999, 8)
						FROM 29 + get_byte(b, 20) + 256 * get_byte(b, 21)))) AS checkpoint_length
  FROM xfer_small;
-- a definition that does not fit the checkpoint: 3 classes instead of 2
-- (n_classes follows n_inputs and input_width, after the one feature
-- "x" of type double precision)
SELECT position(xfer_le(2, 4) IN substr(b, 59 + 4 + 4 + 1 + 4 + length('double precision') + 4 + 4 + 4 + 4, 4)) = 1
	   AS n_classes_found FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING xfer_le(3, 4)
						FROM 59 + 4 + 4 + 1 + 4 + length('double precision') + 4 + 4 + 4 + 4))) AS wrong_shape
  FROM xfer_small;
-- under a valid CRC too: a label name that is not UTF-8 (the label follows
-- the model type, at byte 54), params that are not JSON
SELECT xfer_error(xfer_reseal(set_byte(b, 53, 255))) AS not_utf8 FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING '!'::bytea
						FROM position('{"seed": 14'::bytea IN b)))) AS params_not_json
  FROM xfer_small;
-- params that contradict the checkpoint (FTRL's beta is 0 there), or that
-- est_train would refuse, the same length as the seed they replace
SELECT xfer_error(xfer_reseal(overlay(b PLACING '"beta":0.5'::bytea
						FROM position('"seed": 14'::bytea IN b)))) AS params_contradict
  FROM xfer_small;
SELECT xfer_error(xfer_reseal(overlay(b PLACING '"rho":-1.0'::bytea
						FROM position('"seed": 14'::bytea IN b)))) AS params_refused
  FROM xfer_small;
-- a definition whose model type or activation contradicts the network of
-- its checkpoint, under a valid CRC: the network decides what is computed,
-- and the catalog would show another model.  xfer_retype puts another
-- model type (the first string of the definition, at byte 29) and fixes
-- the lengths of the definition and of the bundle.
CREATE FUNCTION xfer_retype(b bytea, t text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT xfer_reseal(substr(b, 1, 12) || xfer_le(length(b) + d, 8) ||
					   xfer_le(dl + d, 8) || xfer_le(length(nt), 4) || nt ||
					   substr(b, 33 + l))
	  FROM (SELECT convert_to(t, 'UTF8') AS nt,
				   get_byte(b, 28) + 256 * get_byte(b, 29) AS l,
				   get_byte(b, 20) + 256 * get_byte(b, 21) + 65536 * get_byte(b, 22) AS dl) s,
		   LATERAL (SELECT length(s.nt) - s.l AS d) d
$$;
SELECT xfer_retype(bundle, 'dnn_classifier') = bundle AS retype_keeps
  FROM xfer_bundles WHERE name = 'xfer_dnn';
SELECT xfer_error(xfer_retype(bundle, 'dnn_linear_combined_classifier')) AS dnn_as_wide
  FROM xfer_bundles WHERE name = 'xfer_dnn';
SELECT xfer_error(xfer_retype(bundle, 'dnn_classifier')) AS wide_as_dnn
  FROM xfer_bundles WHERE name = 'xfer_wide';
SELECT xfer_error(xfer_reseal(overlay(bundle PLACING '\x0400000074616e68'::bytea
						FROM position('\x0400000072656c75'::bytea IN bundle)))) AS tanh_for_relu
  FROM xfer_bundles WHERE name = 'xfer_dnn';
-- params whose feature columns contradict the transform of the
-- checkpoint, which training built from them: predictions would follow
-- the checkpoint and reset => true the params.  xfer_reparam replaces old
-- by new in the params (the first string that starts with '{"') and fixes
-- the lengths of the params, of the definition and of the bundle.
CREATE FUNCTION xfer_reparam(b bytea, old text, new text) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT xfer_reseal(substr(b, 1, 12) || xfer_le(length(b) + d, 8) ||
					   xfer_le(dl + d, 8) || substr(b, 29, p - 33) ||
					   xfer_le(pl + d, 4) || substr(b, p, o - p) || nb ||
					   substr(b, o + length(ob)))
	  FROM (SELECT convert_to(old, 'UTF8') AS ob, convert_to(new, 'UTF8') AS nb,
				   position('\x7b22'::bytea IN b) AS p,
				   position(convert_to(old, 'UTF8') IN b) AS o,
				   get_byte(b, 20) + 256 * get_byte(b, 21) + 65536 * get_byte(b, 22) AS dl) s,
		   LATERAL (SELECT length(s.nb) - length(s.ob) AS d,
						   get_byte(b, s.p - 5) + 256 * get_byte(b, s.p - 4) +
						   65536 * get_byte(b, s.p - 3) AS pl) d
$$;
SELECT xfer_reparam(bundle, '"seed": 11', '"seed": 11') = bundle AS reparam_keeps,
	   xfer_error(xfer_reparam(bundle, '"seed": 11', '"seed": 12345')) AS reparam_imports
  FROM xfer_bundles WHERE name = 'xfer_dnn';
SELECT est_drop_model('xfer_bad');
SELECT v.what, xfer_error(xfer_reparam(bundle, v.old, v.new)) AS refused
  FROM xfer_bundles,
	   (VALUES (1, 'embedding dimension', '"embedding_dimension": 3', '"embedding_dimension": 8'),
			   (2, 'boundary', '[2, 4]', '[2, 5]'),
			   (3, 'boundaries', '[2, 4]', '[2, 4, 6]'),
			   (4, 'kind', '"type": "vocabulary"}', '"type": "hash", "hash_bucket_size": 3}'),
			   (5, 'combiner', '"embedding_dimension": 3', '"combiner": "sum", "embedding_dimension": 3'),
			   (6, 'normalizer', '"type": "numeric"', '"type": "numeric", "normalizer": "minmax"'),
			   (7, 'null policy', '"type": "numeric"', '"type": "numeric", "default_value": 0'),
			   (8, 'max_size', '"key": "color"', '"key": "color", "max_size": 3'),
			   (9, 'num_oov_buckets', '"key": "color"', '"key": "color", "num_oov_buckets": 2'),
			   (10, 'given vocabulary', '"key": "color"', '"key": "color", "vocabulary": ["red", "green", "blue"]'),
			   (11, 'one column less', '{"key": "x1", "type": "numeric"}, ', ''),
			   (12, 'name', '"key": "x1"', '"key": "x1", "name": "x"'),
			   (13, 'shape', '"key": "x1"', '"key": "x1", "shape": 2')) v(n, what, old, new)
 WHERE name = 'xfer_dnn' ORDER BY v.n;
-- the same for identity, hash, crossed, given vocabulary and multi-valued
-- columns; the bundle as exported imports
SELECT global_step FROM est_train('xfer_cols',
	'SELECT (id % 7)::int AS day, color, usr, ARRAY[color, usr] AS tags, species FROM xfer_data',
	label => 'species', hidden_units => '{2}', steps => 5,
	params => '{"seed": 17, "feature_columns": [
		{"type": "identity", "key": "day", "num_buckets": 7},
		{"type": "hash", "key": "usr", "name": "usr_h", "hash_bucket_size": 16},
		{"type": "crossed", "keys": ["color", "usr"], "hash_bucket_size": 32},
		{"type": "vocabulary", "key": "color", "vocabulary": ["red", "green", "blue"]},
		{"type": "vocabulary", "key": "tags", "max_values": 4}]}');
CREATE TABLE xfer_cols_bundle AS SELECT est_export('xfer_cols') AS b;
SELECT i.global_step FROM xfer_cols_bundle, est_import('xfer_cols_copy', b) i;
SELECT v.what, xfer_error(xfer_reparam(b, v.old, v.new)) AS refused
  FROM xfer_cols_bundle,
	   (VALUES (1, 'identity buckets', '"num_buckets": 7', '"num_buckets": 8'),
			   (2, 'identity default', '"num_buckets": 7', '"num_buckets": 7, "default_value": 0'),
			   (3, 'hash size', '"hash_bucket_size": 16', '"hash_bucket_size": 17'),
			   (4, 'representation', '"hash_bucket_size": 16', '"hash_bucket_size": 16, "embedding_dimension": 2'),
			   (5, 'crossed size', '"hash_bucket_size": 32', '"hash_bucket_size": 64'),
			   (6, 'crossed keys', '"keys": ["color", "usr"]', '"keys": ["usr", "color"], "name": "color_X_usr"'),
			   (7, 'vocabulary entry', '"blue"]', '"pink"]'),
			   (8, 'vocabulary size', '"blue"]', '"blue", "pink"]'),
			   (9, 'max_values', '"max_values": 4', '"max_values": 5'),
			   (10, 'max_values of text', '"key": "color"', '"key": "color", "max_values": 2')) v(n, what, old, new)
 ORDER BY v.n;
-- the column lists of a wide & deep model against its network, as
-- continuing training checks them: a column moved from the linear to the
-- DNN part, a list left out (every column), a column no feature column
-- reads, lists given to a DNN
SELECT v.what, xfer_error(xfer_reparam(xfer_reparam(bundle, v.old, v.new), v.old2, v.new2)) AS refused
  FROM xfer_bundles,
	   (VALUES (1, 'moved to the DNN', '["color", "age"]', '["age"]', '["x1", "age"]', '["x1", "age", "color"]'),
			   (2, 'moved to the linear part', '["x1", "age"]', '["age"]', '["color", "age"]', '["color", "age", "x1"]'),
			   (3, 'linear left out', ', "linear_feature_columns": ["color", "age"]', '', '"seed": 13', '"seed": 13'),
			   (4, 'dnn left out', ', "dnn_feature_columns": ["x1", "age"]', '', '"seed": 13', '"seed": 13'),
			   (5, 'unknown column', '["color", "age"]', '["color", "aeg"]', '"seed": 13', '"seed": 13')) v(n, what, old, new, old2, new2)
 WHERE name = 'xfer_wide' ORDER BY v.n;
SELECT xfer_error(xfer_reparam(bundle, '"seed": 11', '"seed": 11, "dnn_feature_columns": ["x1"]')) AS lists_of_a_dnn
  FROM xfer_bundles WHERE name = 'xfer_dnn';
-- the order of a list does not matter, nor to training
SELECT xfer_error(xfer_reparam(bundle, '["color", "age"]', '["age", "color"]')) AS reordered
  FROM xfer_bundles WHERE name = 'xfer_wide';
SELECT est_drop_model('xfer_bad');
-- params whose feature_columns were deleted: the checkpoint's columns
-- must then be those inferred from the features' types
SELECT m.name, xfer_error(xfer_reparam(b.b, ', "feature_columns": ' || (m.params->'feature_columns')::text, '')) AS refused
  FROM estimator.model_catalog m,
	   LATERAL (SELECT bundle FROM xfer_bundles WHERE name = m.name
				UNION ALL SELECT b FROM xfer_cols_bundle WHERE m.name = 'xfer_cols'
				UNION ALL SELECT b FROM xfer_small WHERE m.name = 'xfer_lin') b(b)
 WHERE m.name IN ('xfer_dnn', 'xfer_cols', 'xfer_lin') ORDER BY m.name;
-- allowing for a text column inferred with more than 100 values, which
-- fitting made a hash column
SELECT global_step FROM est_train('xfer_many',
	'SELECT ''v'' || (g % 150) AS code, (g % 3 = 0)::int AS label FROM generate_series(1, 300) g',
	hidden_units => '{2}', steps => 5, params => '{"seed": 18}');
SELECT kind, representation, width FROM est_feature_info('xfer_many');
SELECT i.global_step FROM est_import('xfer_many_copy', est_export('xfer_many')) i;
SELECT count(*) AS nothing_imported FROM estimator.models WHERE name = 'xfer_bad';

-- a feature type that does not exist in the importing database
CREATE TYPE xfer_mood AS ENUM ('sad', 'happy');
CREATE TABLE xfer_moods AS
	SELECT (ARRAY['sad', 'happy'])[g % 2 + 1]::xfer_mood AS mood, g % 2 AS label
	  FROM generate_series(1, 40) g;
SELECT global_step FROM est_train('xfer_mood_model', 'xfer_moods', hidden_units => '{2}',
	steps => 5, params => '{"seed": 15}');
CREATE TABLE xfer_mood_bundle AS SELECT est_export('xfer_mood_model') AS b;
SELECT est_drop_model('xfer_mood_model');
DROP TABLE xfer_moods;
DROP TYPE xfer_mood;
SELECT expect_error(format('SELECT * FROM est_import(%L, %L::bytea)', 'xfer_mood_model', b))
  FROM xfer_mood_bundle;
-- a type of that name but of another kind
CREATE DOMAIN xfer_mood AS integer;
SELECT expect_error(format('SELECT * FROM est_import(%L, %L::bytea)', 'xfer_mood_model', b))
  FROM xfer_mood_bundle;
DROP DOMAIN xfer_mood;
-- once the type exists again, the model imports
CREATE TYPE xfer_mood AS ENUM ('sad', 'happy');
SELECT i.global_step FROM xfer_mood_bundle, est_import('xfer_mood_model', b) i;
SELECT est_predict('xfer_mood_model', r) IN (0, 1) AS predicts
  FROM (SELECT 'happy'::xfer_mood AS mood) r;

-- ----------------------------------------------------------------
-- est_weights against an independent computation
-- ----------------------------------------------------------------
SELECT layer, kind, name, shape, n FROM est_weights('xfer_wide')
 ORDER BY layer, kind;
SELECT layer, kind, name, shape, n FROM est_weights('xfer_lin');
-- the linear classifier's probability is the sigmoid of bias + kernel * x
SELECT bool_and(abs((est_predict_proba('xfer_lin', ARRAY[x]))[2] -
					1 / (1 + exp(-(b."values"[1] + k."values"[1] * x)))) < 1e-5) AS linear_matches,
	   count(*)
  FROM est_weights('xfer_lin') k, est_weights('xfer_lin') b,
	   unnest(ARRAY[-2, -0.5, 0, 0.25, 1, 3]::float8[]) x
 WHERE k.kind = 'kernel' AND b.kind = 'bias';

-- A logit too small to move the sigmoid off 0.5 in double decides the
-- class by its sign, in est_predict, est_predict_table and est_evaluate
-- alike (TensorFlow's binary head): xfer_lin with kernel 0 and bias 1e-30,
-- its weights put into the bundle.  Before, est_predict answered class 0
-- (a probability of 0.5 is not above 0.5) where est_evaluate counted 1.
CREATE FUNCTION xfer_f4(v real) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT xfer_le(('x' || encode(float4send(v), 'hex'))::bit(32)::integer::bigint & 4294967295, 4)
$$;
-- xfer_reseal_all recomputes the CRC of the bundle's checkpoint, then the
-- bundle's
CREATE FUNCTION xfer_reseal_all(b bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
	SELECT xfer_reseal(overlay(b PLACING xfer_le(xfer_crc32c(substr(b, 37 + dl, cl - 4)), 4)
							   FROM 33 + dl + cl))
	  FROM (SELECT get_byte(b, 20) + 256 * get_byte(b, 21) + 65536 * get_byte(b, 22) AS dl) d,
		   LATERAL (SELECT get_byte(b, 28 + dl) + 256 * get_byte(b, 29 + dl) +
						   65536 * get_byte(b, 30 + dl) AS cl) c
$$;
SELECT xfer_reseal_all(b) = b AS reseal_keeps FROM xfer_small;
CREATE TABLE xfer_tiny AS
	SELECT xfer_reseal_all(overlay(overlay(s.b PLACING xfer_f4(0)
										FROM position(xfer_f4(k."values"[1]::real) IN s.b))
							   PLACING xfer_f4(1e-30)
							   FROM position(xfer_f4(bi."values"[1]::real) IN s.b))) AS b
	  FROM xfer_small s, est_weights('xfer_lin') k, est_weights('xfer_lin') bi
	 WHERE k.kind = 'kernel' AND bi.kind = 'bias';
SELECT i.global_step = 100 AS imported FROM xfer_tiny, est_import('xfer_tiny', b) i;
SELECT kind, "values"::real[] AS weights FROM est_weights('xfer_tiny') ORDER BY kind;
SELECT est_predict('xfer_tiny', ARRAY[x]) AS class,
	   (est_predict_proba('xfer_tiny', ARRAY[x]))[2] > 0.5 AS above_half,
	   est_predict_label('xfer_tiny', ARRAY[x]) AS label
  FROM unnest(ARRAY[-1, 0, 1]::float8[]) x;
SELECT count(*) FILTER (WHERE prediction = 1) AS table_class_1, count(*) AS n
  FROM est_predict_table('xfer_tiny', 'xfer_lin_data');
SELECT value = (SELECT avg(label) FROM xfer_lin_data) AS evaluate_counts_class_1
  FROM est_evaluate('xfer_tiny', 'xfer_lin_data') WHERE metric = 'accuracy';

-- a dnn_classifier's softmax, from z-scored inputs through a ReLU layer
CREATE TABLE xfer_three AS
	SELECT (g % 13)::float8 / 3 AS x1, (g % 7)::float8 - 3 AS x2,
		   CASE WHEN g % 13 < 4 THEN 0 WHEN g % 7 < 4 THEN 1 ELSE 2 END AS label
	  FROM generate_series(1, 200) g;
SELECT global_step FROM est_train('xfer_softmax', 'xfer_three', hidden_units => '{4}',
	steps => 300, params => '{"seed": 16}');
SELECT layer, kind, name, shape, n FROM est_weights('xfer_softmax');
WITH w AS (SELECT layer, kind, "values" AS v FROM est_weights('xfer_softmax')),
	 k1 AS (SELECT v FROM w WHERE layer = 1 AND kind = 'kernel'),
	 b1 AS (SELECT v FROM w WHERE layer = 1 AND kind = 'bias'),
	 k2 AS (SELECT v FROM w WHERE layer = 2 AND kind = 'kernel'),
	 b2 AS (SELECT v FROM w WHERE layer = 2 AND kind = 'bias'),
	 fi AS (SELECT ordinal, mean, stddev FROM est_feature_info('xfer_softmax')),
	 pts AS (SELECT p, ARRAY[x1, x2] AS x
			   FROM (VALUES (1, 0.5, -2.0), (2, 3.3, 1.0), (3, 1.7, 2.5)) v(p, x1, x2)),
	 z AS (SELECT p, i, (x[i] - fi.mean) / fi.stddev AS z
			 FROM pts, generate_series(1, 2) i JOIN fi ON fi.ordinal = i),
	 h AS (SELECT p, j, greatest(0, b1.v[j] + sum(z.z * k1.v[(i - 1) * 4 + j])) AS h
			 FROM z, k1, b1, generate_series(1, 4) j
			GROUP BY p, j, b1.v),
	 logits AS (SELECT p, c, b2.v[c] + sum(h.h * k2.v[(j - 1) * 3 + c]) AS l
				  FROM h, k2, b2, generate_series(1, 3) c
				 GROUP BY p, c, b2.v),
	 proba AS (SELECT p, c, exp(l) / sum(exp(l)) OVER (PARTITION BY p) AS q FROM logits)
SELECT pts.p, bool_and(abs(proba.q - (est_predict_proba('xfer_softmax', pts.x))[c]) < 1e-5) AS softmax_matches
  FROM pts JOIN proba USING (p)
 GROUP BY pts.p ORDER BY pts.p;

-- privileges: exporting and inspecting need predict; an import belongs to
-- its importer
CREATE ROLE xfer_user;
GRANT SELECT ON xfer_small TO xfer_user;
SET ROLE xfer_user;
SELECT expect_error($$SELECT est_export('xfer_lin')$$);
SELECT expect_error($$SELECT count(*) FROM est_weights('xfer_lin')$$);
SELECT i.global_step FROM est_import('xfer_user_lin', (SELECT b FROM xfer_small)) i;
SELECT count(*) AS layers FROM est_weights('xfer_user_lin');
RESET ROLE;
SELECT owner FROM estimator.models WHERE name = 'xfer_user_lin';

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'xfer%') d;
DROP TABLE xfer_data, xfer_bundles, xfer_cols_bundle, xfer_lin_data, xfer_small, xfer_mood_bundle, xfer_three, xfer_tiny;
DROP ROLE xfer_user;
DROP TYPE xfer_mood;
DROP FUNCTION xfer_error(bytea), xfer_reparam(bytea, text, text), xfer_retype(bytea, text), xfer_f4(real), xfer_reseal_all(bytea), xfer_reseal(bytea), xfer_le(bigint, integer), xfer_crc32c(bytea);

-- Bundles that a review crafted (test/data/hostile_bundles.sql): each
-- crashed a backend before est_import checked feature columns against
-- their sources as training does; each is refused now.
CREATE TYPE mood AS ENUM ('happy', 'sad');
CREATE TABLE xfer_hostile (name text, what text, bundle bytea);
\i test/data/hostile_bundles.sql
SELECT name, what,
	   expect_error(format('SELECT * FROM est_import(%L, %L::bytea)', 'hostile_' || name, bundle))
  FROM xfer_hostile ORDER BY name;
SELECT count(*) AS imported FROM estimator.models WHERE name LIKE 'hostile\_%';
DROP TABLE xfer_hostile;
DROP TYPE mood;
