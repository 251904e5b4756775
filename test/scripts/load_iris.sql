-- load_iris.sql: the Iris data set as the tables iris_train and iris_test.
--
-- Run it from the root of the checkout (psql reads test/data/iris.csv
-- relative to its working directory), e.g. \i test/scripts/load_iris.sql
-- in the demo, a pg_regress test or a TAP test.  It replaces both tables.
--
--   iris_train: the first 120 rows of the CSV
--   iris_test:  the last 30, numbered by id 1..30
--   label:      the species as a class id (0 setosa, 1 versicolor, 2 virginica)
BEGIN;
SET LOCAL client_min_messages = warning;
DROP TABLE IF EXISTS iris_train, iris_test;
CREATE TEMP TABLE iris_csv (
    n            serial,
    sepal_length real,
    sepal_width  real,
    petal_length real,
    petal_width  real,
    species_id   integer,
    species      text
) ON COMMIT DROP;
\copy iris_csv (sepal_length, sepal_width, petal_length, petal_width, species_id, species) FROM 'test/data/iris.csv' WITH (FORMAT csv, HEADER true)
CREATE TABLE iris_train AS
    SELECT sepal_length, sepal_width, petal_length, petal_width,
           species_id AS label
    FROM iris_csv WHERE n <= 120 ORDER BY n;
CREATE TABLE iris_test AS
    SELECT (n - 120)::integer AS id, sepal_length, sepal_width,
           petal_length, petal_width, species_id AS label
    FROM iris_csv WHERE n > 120 ORDER BY n;
ALTER TABLE iris_test ADD PRIMARY KEY (id);
COMMIT;
