-- Shared fixtures: the extension and the Iris data in the TensorFlow
-- tutorial's split (the first 120 rows train, the last 30 test).
CREATE EXTENSION estimator;
SELECT extversion FROM pg_extension WHERE extname = 'estimator';

CREATE TABLE iris_all (
	id integer GENERATED ALWAYS AS IDENTITY,
	sepal_length real,
	sepal_width real,
	petal_length real,
	petal_width real,
	label integer,
	species text
);
\copy iris_all (sepal_length, sepal_width, petal_length, petal_width, label, species) FROM 'test/data/iris.csv' WITH (FORMAT csv, HEADER true)

CREATE TABLE iris_train AS
	SELECT sepal_length, sepal_width, petal_length, petal_width, label
	  FROM iris_all WHERE id <= 120 ORDER BY id;
CREATE TABLE iris_test AS
	SELECT id - 120 AS id, sepal_length, sepal_width, petal_length,
		   petal_width, label
	  FROM iris_all WHERE id > 120 ORDER BY id;

SELECT count(*) AS train_rows FROM iris_train;
SELECT count(*) AS test_rows, min(id), max(id) FROM iris_test;
SELECT label, count(*) FROM iris_train GROUP BY label ORDER BY label;

-- expect_error runs a statement that must fail and shows its SQLSTATE and
-- message, so that the tests check the error code too.
CREATE FUNCTION expect_error(statement text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE statement;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
