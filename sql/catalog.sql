-- The catalog: models, checkpoints and their retention, the training log,
-- corruption of stored checkpoints, settings, and dropping models.
SET client_min_messages = warning;

-- keep_checkpoint_max keeps the newest checkpoints only.
SELECT global_step FROM est_train('catalog_keep', 'iris_train', steps => 10,
	params => '{"seed": 1, "keep_checkpoint_max": 2, "log_step_count_steps": 5}');
SELECT global_step FROM est_train('catalog_keep', 'iris_train', steps => 10);
SELECT global_step FROM est_train('catalog_keep', 'iris_train', steps => 10);
SELECT model, global_step, loss > 0 AS has_loss, length(data) > 0 AS has_data
  FROM estimator.checkpoints WHERE model = 'catalog_keep' ORDER BY global_step;
-- a call may keep fewer from now on
SELECT global_step FROM est_train('catalog_keep', 'iris_train', steps => 10,
	params => '{"keep_checkpoint_max": 1}');
SELECT global_step FROM estimator.checkpoints
 WHERE model = 'catalog_keep' ORDER BY global_step;

-- The training log: every log_step_count_steps (5 here, from the model's
-- params) and at the end of each call.
SELECT global_step, loss > 0 AS has_loss, seconds >= 0 AS timed
  FROM estimator.training_log WHERE model = 'catalog_keep'
 ORDER BY global_step;
-- the setting applies when the model does not say
SET estimator.log_step_count_steps = 3;
SELECT global_step FROM est_train('catalog_log', 'iris_train', steps => 7,
								  params => '{"seed": 1}');
SELECT array_agg(global_step ORDER BY global_step) AS logged
  FROM estimator.training_log WHERE model = 'catalog_log';
RESET estimator.log_step_count_steps;
-- A call writes its log rows at once, at its end, each with the time its
-- step was logged: within the call, in the order of the steps.
SELECT clock_timestamp() AS before_call \gset
SELECT global_step FROM est_train('catalog_times', 'iris_train', steps => 6,
								  params => '{"log_step_count_steps": 1}');
SELECT count(*) AS rows, count(DISTINCT logged_at) > 1 AS own_times,
	   bool_and(logged_at > :'before_call' AND logged_at < clock_timestamp()) AS during_call,
	   bool_and(logged_at >= coalesce(earlier, logged_at)) AS in_step_order
  FROM (SELECT logged_at, lag(logged_at) OVER (ORDER BY global_step) AS earlier
		  FROM estimator.training_log
		 WHERE model = 'catalog_times') s;
SELECT est_drop_model('catalog_times');
-- More log rows than one insert writes (10,000): every step has its row.
SELECT global_step FROM est_train('catalog_times', 'iris_train', steps => 10003,
								  params => '{"log_step_count_steps": 1}');
SELECT count(*) AS rows, count(DISTINCT global_step) AS steps,
	   min(global_step) AS first, max(global_step) AS last
  FROM estimator.training_log WHERE model = 'catalog_times';
SELECT est_drop_model('catalog_times');

-- The checkpoint format: magic, version 1, total length, then sections.
SELECT encode(substr(data, 1, 8), 'escape') AS magic,
	   get_byte(data, 8) AS version,
	   (get_byte(data, 12) + 256 * get_byte(data, 13)) = length(data) AS length_ok,
	   encode(substr(data, 25, 4), 'escape') AS first_section
  FROM estimator.checkpoints WHERE model = 'catalog_log';

-- estimator.max_memory bounds the training data and the model.
SET estimator.max_memory = '1MB';
-- (a larger source streams: sql/streaming.sql; a model too large for it is an error)
SELECT rows_read FROM est_train('catalog_stream', 'SELECT g::float8 AS x, (g % 2) AS label FROM generate_series(1, 200000) g', steps => 1);
SELECT expect_error($$SELECT est_train('catalog_big', 'SELECT g::float8 AS x, (g % 2) AS label FROM generate_series(1, 200000) g', hidden_units => '{1000, 1000}', steps => 1)$$);
SELECT * FROM est_train('catalog_big', 'iris_train', hidden_units => '{2000, 2000}', steps => 1);
RESET estimator.max_memory;
SELECT count(*) FROM estimator.models WHERE name = 'catalog_big';
SELECT est_drop_model('catalog_stream');
SHOW estimator.max_memory;
SHOW estimator.log_step_count_steps;
SET estimator.no_such_setting = 1;

-- Corrupted checkpoints are refused with data_corrupted, never loaded.
-- crc32c computes the checksum, so that the tests can also forge
-- checkpoints whose checksum is right but whose contents lie.
CREATE FUNCTION crc32c(data bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	crc bigint := 4294967295;
BEGIN
	FOR i IN 0 .. length(data) - 1 LOOP
		crc := crc # get_byte(data, i);
		FOR k IN 1 .. 8 LOOP
			IF crc & 1 = 1 THEN
				crc := (crc >> 1) # 2197175160;	-- 0x82F63B78
			ELSE
				crc := crc >> 1;
			END IF;
		END LOOP;
	END LOOP;
	RETURN crc # 4294967295;
END
$$;
SELECT to_hex(crc32c('123456789'::bytea)) AS check_value;
CREATE FUNCTION reseal(data bytea) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	body bytea := substr(data, 1, length(data) - 4);
	crc bigint := crc32c(body);
BEGIN
	RETURN body || set_byte(set_byte(set_byte(set_byte('\x00000000'::bytea,
		0, (crc & 255)::int), 1, ((crc >> 8) & 255)::int),
		2, ((crc >> 16) & 255)::int), 3, ((crc >> 24) & 255)::int);
END
$$;
-- the stored checkpoints are sealed exactly so
SELECT reseal(data) = data AS crc_matches FROM estimator.checkpoints
 WHERE model = 'catalog_log';

-- an error's SQLSTATE, message and detail, with its 8-digit hex numbers masked
CREATE FUNCTION catalog_error_detail(statement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || ' -- ' ||
		   regexp_replace(detail, '[0-9A-F]{8}', 'XXXXXXXX', 'g');
END
$$;
SELECT global_step FROM est_train('catalog_corrupt', 'iris_train', steps => 20,
								  params => '{"seed": 1}');
CREATE TABLE catalog_saved AS
	SELECT data FROM estimator.checkpoints WHERE model = 'catalog_corrupt';
-- a flipped bit
UPDATE estimator.checkpoints SET data = set_byte(data, 200, get_byte(data, 200) # 1)
 WHERE model = 'catalog_corrupt';
-- (the checksums depend on the trained weights, which BLAS kernels round
-- differently from CPU to CPU: shown as XXXXXXXX)
SELECT catalog_error_detail($$SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4])$$);
SELECT expect_error($$SELECT * FROM est_evaluate('catalog_corrupt', 'iris_test')$$);
SELECT expect_error($$SELECT est_train('catalog_corrupt', 'iris_train', steps => 1)$$);
-- truncation
UPDATE estimator.checkpoints SET data = substr(s.data, 1, 100)
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT expect_error($$SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4])$$);
UPDATE estimator.checkpoints SET data = ''
 WHERE model = 'catalog_corrupt';
SELECT expect_error($$SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4])$$);
-- a wrong magic number
UPDATE estimator.checkpoints SET data = reseal(set_byte(s.data, 0, 88))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT expect_error($$SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4])$$);
-- a newer format version
UPDATE estimator.checkpoints SET data = reseal(set_byte(s.data, 8, 3))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4]);
-- a section length that lies, under a valid checksum
UPDATE estimator.checkpoints SET data = reseal(set_byte(s.data, 35, 127))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT expect_error($$SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4])$$);
-- a layer size that lies, under a valid checksum
UPDATE estimator.checkpoints SET data = reseal(set_byte(s.data, 143, 64))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4]);
-- an input count that disagrees with the weights, under a valid checksum
UPDATE estimator.checkpoints SET data = reseal(set_byte(s.data, 140, 5))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4]);
-- a NaN weight, under a valid checksum
UPDATE estimator.checkpoints
   SET data = reseal(overlay(s.data PLACING '\x0000c07f'::bytea FROM 201))
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4]);
-- the right bytes again work again
UPDATE estimator.checkpoints SET data = s.data
  FROM catalog_saved s WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[5.1, 3.5, 1.4, 0.2]) IS NOT NULL AS loads;
-- a model whose checkpoints are gone
DELETE FROM estimator.checkpoints WHERE model = 'catalog_corrupt';
SELECT est_predict('catalog_corrupt', ARRAY[1, 2, 3, 4]);
DROP TABLE catalog_saved;

-- The models view lists each model once.
SELECT name, owner = current_user::regrole AS mine, model_type, n_classes,
	   global_step, created <= updated AS timestamps_ok
  FROM estimator.models WHERE name LIKE 'catalog\_%' ORDER BY name;

-- est_drop_model takes the checkpoints and the log with the model.
SELECT est_drop_model('catalog_keep');
SELECT (SELECT count(*) FROM estimator.models WHERE name = 'catalog_keep') AS models,
	   (SELECT count(*) FROM estimator.checkpoints WHERE model = 'catalog_keep') AS checkpoints,
	   (SELECT count(*) FROM estimator.training_log WHERE model = 'catalog_keep') AS log;
SELECT est_drop_model('catalog_keep');
SELECT est_drop_model(NULL);
-- dropping is transactional too
BEGIN;
SELECT est_drop_model('catalog_log');
ROLLBACK;
SELECT est_predict('catalog_log', ARRAY[5.1, 3.5, 1.4, 0.2]) IS NOT NULL AS still_there;

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name LIKE 'catalog\_%') d;
DROP FUNCTION reseal(bytea);
DROP FUNCTION catalog_error_detail(text);
DROP FUNCTION crc32c(bytea);
