/*-------------------------------------------------------------------------
 *
 * test_features.c
 *	  Tests of the feature columns (features.c).
 *
 * Every kind of column and encoder, NULL policies, statistics on data
 * small enough to check by hand, the bit-identity of the z-score with the
 * feature state, learned vocabularies (order, ties, max_size, OOV
 * buckets, values seen only in holdout rows), the switch to hashing, the
 * hashes' fixed values (a compatibility promise), bad declarations and
 * limits, and allocation failures at every step.  The helpers at the top
 * build transforms for the checkpoint tests too.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* ----------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------
 */

/*
 * UnitStrdup copies s with EstAlloc, so that the transform owns it.
 */
char *
UnitStrdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *copy = EstAlloc(len + 1);

	memcpy(copy, s, len + 1);
	return copy;
}

/*
 * UnitColumns gives tf n zeroed columns.
 */
void
UnitColumns(EstTransform *tf, int n)
{
	memset(tf, 0, sizeof(*tf));
	tf->columns = EstAllocZero((size_t) n, sizeof(EstFeatureColumn));
	tf->n_columns = n;
}

/*
 * UnitColumn declares column c of the kind, named name, reading key (or
 * the n_keys keys of a crossed column, key "a", "b", ...).
 */
EstFeatureColumn *
UnitColumn(EstTransform *tf, int c, EstFeatureKind kind, const char *name)
{
	EstFeatureColumn *col = &tf->columns[c];
	int			n_keys = kind == EST_FC_CROSSED ? 2 : 1;
	int			k;

	col->kind = kind;
	col->name = UnitStrdup(name);
	col->n_keys = n_keys;
	col->keys = EstAlloc(sizeof(char *) * (size_t) n_keys);
	for (k = 0; k < n_keys; k++)
	{
		char		key[16];

		if (n_keys == 1)
			snprintf(key, sizeof(key), "%s", name);
		else
			snprintf(key, sizeof(key), "%c", 'a' + k);
		col->keys[k] = UnitStrdup(key);
	}
	if (kind == EST_FC_NUMERIC)
	{
		col->shape = 1;
		col->normalizer = EST_NORM_ZSCORE;
		col->null_policy = EST_NULL_MEAN;
	}
	if (kind == EST_FC_IDENTITY)
		col->default_id = -1;
	return col;
}

/* Gives a vocabulary column the n entries. */
static void
SetVocab(EstFeatureColumn *col, const char *const *entries, int n)
{
	int			i;

	col->vocab = EstAlloc(sizeof(char *) * (size_t) (n > 0 ? n : 1));
	for (i = 0; i < n; i++)
		col->vocab[i] = UnitStrdup(entries[i]);
	col->vocab_size = n;
}

static void
SetBoundaries(EstFeatureColumn *col, const double *b, int n)
{
	col->boundaries = EstAlloc(sizeof(double) * (size_t) n);
	memcpy(col->boundaries, b, sizeof(double) * (size_t) n);
	col->n_boundaries = n;
}

static EstStatus
Str(EstTransform *tf, int col, const char *s, float *slot, char *err)
{
	return EstTransformString(tf, col, s, strlen(s), slot, err);
}

/*
 * UnitTransformEveryKind builds and fits a transform with a column of
 * every kind and representation on 8 rows (6 fit, 2 holdout), and
 * returns its rows in X (8 x n_inputs, malloc) when X is not NULL:
 *	 0 "age": numeric, zscore, NULL -> mean
 *	 1 "pos": numeric of shape 2, minmax, NULL -> default 5
 *	 2 "price": bucketized at 10, 20, embedding of 3 (sum)
 *	 3 "color": vocabulary red, green, blue, 2 OOV buckets
 *	 4 "city": learned vocabulary, multi (3 values), at most 2, 1 OOV
 *	 5 "store": identity of 10, default 0, embedding of 2 (sqrtn)
 *	 6 "word": hash into 7, embedding of 4
 *	 7 "pair": crossed (a, b) into 11
 *	 8 "tag": learned, inferred: hashes into 13 above 2 values
 */
void
UnitTransformEveryKind(EstTransform *tf, float **X_out)
{
	static const char *const colors[3] = {"red", "green", "blue"};
	static const double price_b[2] = {10, 20};
	static const char *const cities[8][3] = {
		{"paris", "rome", NULL}, {"rome", NULL, NULL},
		{"oslo", "paris", "rome"}, {NULL, NULL, NULL},
		{"paris", NULL, NULL}, {"oslo", NULL, NULL},
		{"lima", NULL, NULL}, {"rome", "kyiv", NULL}
	};
	static const char *const tags[8] = {
		"x", "y", "z", "x", NULL, "y", "w", "x"
	};
	char		err[EST_ERRMSG_LEN];
	EstFeatureColumn *col;
	float	   *X;
	int			n;
	int			i;
	int			k;

	UnitColumns(tf, 9);
	UnitColumn(tf, 0, EST_FC_NUMERIC, "age");
	col = UnitColumn(tf, 1, EST_FC_NUMERIC, "pos");
	col->shape = 2;
	col->normalizer = EST_NORM_MINMAX;
	col->null_policy = EST_NULL_DEFAULT;
	col->default_value = 5;
	col = UnitColumn(tf, 2, EST_FC_BUCKETIZED, "price");
	SetBoundaries(col, price_b, 2);
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 3;
	col->combiner = EST_COMBINER_SUM;
	col = UnitColumn(tf, 3, EST_FC_VOCABULARY, "color");
	SetVocab(col, colors, 3);
	col->num_oov = 2;
	col = UnitColumn(tf, 4, EST_FC_VOCABULARY, "city");
	col->learned = 1;
	col->multi = 1;
	col->max_values = 3;
	col->max_size = 2;
	col->num_oov = 1;
	col = UnitColumn(tf, 5, EST_FC_IDENTITY, "store");
	col->num_buckets = 10;
	col->default_id = 0;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 2;
	col->combiner = EST_COMBINER_SQRTN;
	col = UnitColumn(tf, 6, EST_FC_HASH, "word");
	col->num_buckets = 7;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 4;
	col = UnitColumn(tf, 7, EST_FC_CROSSED, "pair");
	col->num_buckets = 11;
	col = UnitColumn(tf, 8, EST_FC_VOCABULARY, "tag");
	col->learned = 1;
	col->num_oov = 1;
	col->hash_above = 2;
	col->auto_buckets = 13;
	col->auto_dimension = 5;
	CHECKF(EstTransformInit(tf, err) == EST_OK, "%s", err);
	n = tf->n_inputs;
	CHECK(n == 1 + 2 + 1 + 1 + 3 + 1 + 1 + 1 + 1);
	X = malloc(sizeof(float) * 8 * (size_t) n);
	for (i = 0; i < 8; i++)
	{
		float	   *row = X + i * n;
		char		word[8];
		const char *pair[2];
		size_t		lens[2];

		row[0] = i == 3 ? NAN : (float) (20 + 3 * i);
		row[1] = i == 1 ? NAN : (float) i;
		row[2] = (float) (i * i);
		EstTransformBucket(tf, 2, 4.0 * i, &row[3]);
		if (i == 2)
			EstTransformNull(tf, 3, &row[4]);
		else
			CHECK(Str(tf, 3, i % 4 == 0 ? "teal" : colors[i % 3], &row[4],
					  err) == EST_OK);
		for (k = 0; k < 3; k++)
		{
			if (cities[i][k] != NULL)
				CHECK(Str(tf, 4, cities[i][k], &row[5 + k], err) == EST_OK);
			else if (i == 3 && k == 0)
				EstTransformNull(tf, 4, &row[5 + k]);
			else
				row[5 + k] = -1.0f;
		}
		CHECK(EstTransformInteger(tf, 5, i == 6 ? 42 : i, &row[8], err) ==
			  EST_OK);
		snprintf(word, sizeof(word), "w%d", i % 3);
		CHECK(Str(tf, 6, word, &row[9], err) == EST_OK);
		pair[0] = colors[i % 3];
		pair[1] = word;
		lens[0] = strlen(pair[0]);
		lens[1] = strlen(pair[1]);
		EstTransformCross(tf, 7, pair, lens, &row[10]);
		if (tags[i] != NULL)
			CHECK(Str(tf, 8, tags[i], &row[11], err) == EST_OK);
		else
			EstTransformNull(tf, 8, &row[11]);
	}
	CHECKF(EstTransformFit(tf, X, 6, 8, err) == EST_OK, "%s", err);
	if (X_out != NULL)
		*X_out = X;
	else
		free(X);
}

static int
SameDoubles(const double *a, const double *b, int n)
{
	if (n == 0)
		return 1;
	if (a == NULL || b == NULL)
		return a == b;
	return memcmp(a, b, sizeof(double) * (size_t) n) == 0;
}

/*
 * UnitTransformsEqual compares every declared and learned field bit for
 * bit.
 */
int
UnitTransformsEqual(const EstTransform *a, const EstTransform *b)
{
	int			c;
	int			i;

	if (a->n_columns != b->n_columns || a->n_inputs != b->n_inputs ||
		a->fitted != b->fitted || a->legacy != b->legacy)
		return 0;
	for (c = 0; c < a->n_columns; c++)
	{
		const EstFeatureColumn *x = &a->columns[c];
		const EstFeatureColumn *y = &b->columns[c];
		int			stats = x->kind == EST_FC_NUMERIC ? x->shape : 0;

		if (x->kind != y->kind || strcmp(x->name, y->name) != 0 ||
			x->n_keys != y->n_keys || x->shape != y->shape ||
			x->multi != y->multi || x->max_values != y->max_values ||
			x->normalizer != y->normalizer ||
			x->null_policy != y->null_policy ||
			memcmp(&x->default_value, &y->default_value, 8) != 0 ||
			x->n_boundaries != y->n_boundaries ||
			x->vocab_size != y->vocab_size || x->learned != y->learned ||
			x->max_size != y->max_size || x->num_oov != y->num_oov ||
			x->hash_above != y->hash_above ||
			x->auto_buckets != y->auto_buckets ||
			x->auto_dimension != y->auto_dimension ||
			x->num_buckets != y->num_buckets ||
			x->default_id != y->default_id ||
			x->representation != y->representation ||
			x->dimension != y->dimension || x->combiner != y->combiner ||
			x->offset != y->offset || x->slots != y->slots ||
			x->buckets != y->buckets || x->null_count != y->null_count ||
			x->value_count != y->value_count)
			return 0;
		for (i = 0; i < x->n_keys; i++)
			if (strcmp(x->keys[i], y->keys[i]) != 0)
				return 0;
		if (!SameDoubles(x->boundaries, y->boundaries, x->n_boundaries))
			return 0;
		for (i = 0; i < x->vocab_size; i++)
			if (strcmp(x->vocab[i], y->vocab[i]) != 0 ||
				(x->learned && x->vocab_counts[i] != y->vocab_counts[i]))
				return 0;
		if (!SameDoubles(x->mean, y->mean, stats) ||
			!SameDoubles(x->stddev, y->stddev, stats) ||
			!SameDoubles(x->min, y->min, stats) ||
			!SameDoubles(x->max, y->max, stats) ||
			!SameDoubles(x->shift, y->shift, stats) ||
			!SameDoubles(x->scale, y->scale, stats))
			return 0;
	}
	return 1;
}

/*
 * ExpectInit runs EstTransformInit on a declaration expected to fail with
 * status, a message containing part, and no allocation left behind; then
 * frees the declaration.
 */
static void
ExpectInit(EstTransform *tf, EstStatus status, const char *part,
		   const char *what)
{
	char		err[EST_ERRMSG_LEN];
	long		live = unit_live_allocs;
	EstStatus	got;

	err[0] = '\0';
	got = EstTransformInit(tf, err);
	CHECKF(got == status, "%s: status %d (%s), expected %d", what,
		   (int) got, err, (int) status);
	CHECKF(part == NULL || strstr(err, part) != NULL, "%s: message \"%s\"",
		   what, err);
	if (got != EST_OK)
		CHECKF(unit_live_allocs == live, "%s: %ld allocations left", what,
			   unit_live_allocs - live);
	EstTransformFree(tf);
}

/* ----------------------------------------------------------------
 * Tests
 * ----------------------------------------------------------------
 */

/*
 * PartsTransform declares tf for the fits in parts: a numeric column "a",
 * then a numeric column "b" of shape 2 normalised by norm, or with
 * identity an identity column "id" of 4 buckets whose NULLs take id 3.
 */
static void
PartsTransform(EstTransform *tf, int identity, EstNormalizer norm)
{
	char		err[EST_ERRMSG_LEN];
	EstFeatureColumn *col;

	UnitColumns(tf, 2);
	UnitColumn(tf, 0, EST_FC_NUMERIC, "a");
	if (identity)
	{
		col = UnitColumn(tf, 1, EST_FC_IDENTITY, "id");
		col->num_buckets = 4;
		col->default_id = 3;
	}
	else
	{
		col = UnitColumn(tf, 1, EST_FC_NUMERIC, "b");
		col->shape = 2;
		col->normalizer = norm;
	}
	CHECKF(EstTransformInit(tf, err) == EST_OK, "%s", err);
}

/*
 * A normalisation plan (EstTransformApplyPlanned, est_predict's) gives
 * the floats of EstTransformApply bit for bit, one row or several, NULLs
 * filled, for the transform of every kind and for numeric columns split
 * by a categorical one (two runs of slots); a NULL plan walks the columns.
 */
void
TestNormalisePlan(void)
{
	EstTransform every;
	EstTransform split;
	EstTransform *tfs[2] = {&every, &split};
	char		err[EST_ERRMSG_LEN];
	EstFeatureColumn *col;
	float		fit[4 * 4] = {1, 0, 2, 3, 4, 1, NAN, 5, 7, 2, 8, NAN, 9, 3, 1, 2};
	EstRng		rng;

	UnitTransformEveryKind(&every, NULL);
	UnitColumns(&split, 3);
	UnitColumn(&split, 0, EST_FC_NUMERIC, "a");
	col = UnitColumn(&split, 1, EST_FC_IDENTITY, "id");
	col->num_buckets = 4;
	col->default_id = 3;
	col = UnitColumn(&split, 2, EST_FC_NUMERIC, "b");
	col->shape = 2;
	col->normalizer = EST_NORM_MINMAX;
	CHECKF(EstTransformInit(&split, err) == EST_OK, "%s", err);
	CHECKF(EstTransformFit(&split, fit, 4, 4, err) == EST_OK, "%s", err);

	EstRngSeed(&rng, 4);
	for (int t = 0; t < 2; t++)
	{
		EstTransform *tf = tfs[t];
		int			d = tf->n_inputs;
		EstNormalisePlan *plan = EstTransformNormalisePlan(tf);
		float	   *raw = malloc(sizeof(float) * 3 * d);
		float	   *a = malloc(sizeof(float) * 3 * d);
		float	   *b = malloc(sizeof(float) * 3 * d);
		int			same = 1;

		CHECK(plan != NULL);
		for (int r = 0; r < 20; r++)
		{
			for (int i = 0; i < 3 * d; i++)
				raw[i] = EstRngBounded(&rng, 5) == 0 ? NAN :
					(float) (10.0 * EstRngUniform(&rng) - 3.0);
			for (int rows = 1; rows <= 3; rows += 2)
			{
				memcpy(a, raw, sizeof(float) * rows * d);
				memcpy(b, raw, sizeof(float) * rows * d);
				EstTransformApply(tf, a, rows);
				EstTransformApplyPlanned(tf, plan, b, rows);
				same &= memcmp(a, b, sizeof(float) * rows * d) == 0;
				memcpy(b, raw, sizeof(float) * rows * d);
				EstTransformApplyPlanned(tf, NULL, b, rows);
				same &= memcmp(a, b, sizeof(float) * rows * d) == 0;
			}
		}
		CHECKF(same, "transform %d: the plan's floats differ", t);
		EstNormalisePlanFree(plan);
		free(raw);
		free(a);
		free(b);
		EstTransformFree(tf);
	}
}

/*
 * A fit in parts (EstTransformFitParts) over rows split into consecutive
 * parts: one part gives the floats of EstTransformFit bit for bit; parts
 * of every size (none, one row, NULLs only, the rest) give the statistics
 * of all the rows to within rounding, NULLs left out and counted, for
 * both normalizers; the same for a regressor's label state
 * (EstFeatureStateFitParts); a categorical column's NULL ids and counts;
 * a learned vocabulary is refused.
 */
void
TestFeatureFitParts(void)
{
	enum
	{
		N = 301, D = 3
	};
	static const int cuts[][4] = {
		{0, 0, 1, N}, {0, 150, 151, N}, {0, 7, 7, N}, {0, 300, N, N}
	};
	char		err[EST_ERRMSG_LEN];
	float	   *raw = malloc(sizeof(float) * N * D);
	float	   *X = malloc(sizeof(float) * N * D);
	float	   *Y = malloc(sizeof(float) * N * D);
	EstTransform whole;
	EstTransform parted;
	EstFeatureColumn *col;
	size_t		size;
	char	   *parts;
	int			i;

	for (i = 0; i < N; i++)
	{
		raw[i * D] = (float) (1000.0 + sin(i * 1.7) * 3.0);
		raw[i * D + 1] = i % 5 == 0 ? NAN : (float) (cos(i * 0.3) * 40.0);
		raw[i * D + 2] = (float) (i % 9) - 2.5f;
	}
	for (int c = 0; c < (int) (sizeof(cuts) / sizeof(cuts[0])); c++)
	{
		PartsTransform(&whole, 0, c % 2 ? EST_NORM_MINMAX : EST_NORM_ZSCORE);
		PartsTransform(&parted, 0, c % 2 ? EST_NORM_MINMAX : EST_NORM_ZSCORE);
		CHECK(EstTransformFitsInParts(&parted));

		memcpy(X, raw, sizeof(float) * N * D);
		memcpy(Y, raw, sizeof(float) * N * D);
		CHECKF(EstTransformFit(&whole, X, N, N, err) == EST_OK, "%s", err);
		size = EstTransformFitStatsSize(&parted);
		parts = malloc(3 * size);
		for (int p = 0; p < 3; p++)
			EstTransformFitPart(&parted, Y + (size_t) cuts[c][p] * D,
								(size_t) (cuts[c][p + 1] - cuts[c][p]),
								parts + (size_t) p * size);
		CHECKF(EstTransformFitParts(&parted, parts, 3, Y, N, err) == EST_OK,
			   "%s", err);
		CHECK(parted.fitted);
		for (int k = 0; k < 2; k++)
		{
			const EstFeatureColumn *a = &whole.columns[k];
			const EstFeatureColumn *b = &parted.columns[k];

			CHECK(a->null_count == b->null_count &&
				  a->value_count == b->value_count);
			for (int j = 0; j < a->shape; j++)
				CHECKF(fabs(a->mean[j] - b->mean[j]) <= 1e-12 * fabs(a->mean[j]) + 1e-12 &&
					   fabs(a->stddev[j] - b->stddev[j]) <= 1e-10 * a->stddev[j] &&
					   a->min[j] == b->min[j] && a->max[j] == b->max[j] &&
					   fabs(a->shift[j] - b->shift[j]) <= 1e-12 * fabs(a->shift[j]) + 1e-12,
					   "cut %d, column %d slot %d: mean %.17g / %.17g, sd %.17g / %.17g",
					   c, k, j, a->mean[j], b->mean[j], a->stddev[j], b->stddev[j]);
		}
		CHECK(whole.columns[1].null_count == 61);
		for (i = 0; i < N * D; i++)
			CHECK(fabsf(X[i] - Y[i]) <= 1e-5f);
		free(parts);
		EstTransformFree(&parted);
		EstTransformFree(&whole);
	}

	/* a part added a block of rows at a time is the same, bit for bit */
	{
		char	   *one;
		char	   *blocks;

		PartsTransform(&parted, 0, EST_NORM_ZSCORE);
		size = EstTransformFitStatsSize(&parted);
		one = malloc(size);
		blocks = calloc(1, size);
		EstTransformFitPart(&parted, raw, N, one);
		EstTransformFitPartAdd(&parted, raw, 7, blocks);
		EstTransformFitPartAdd(&parted, raw + 7 * D, 0, blocks);
		EstTransformFitPartAdd(&parted, raw + 7 * D, 100, blocks);
		EstTransformFitPartAdd(&parted, raw + 107 * D, N - 107, blocks);
		CHECK(memcmp(one, blocks, size) == 0);
		free(one);
		free(blocks);
		size = EstFeatureStateStatsSize(D);
		one = malloc(size);
		blocks = calloc(1, size);
		for (i = 0; i < N * D; i++)
			X[i] = isnan(raw[i]) ? 7.0f : raw[i];
		EstFeatureStateFitPart(D, X, N, one);
		EstFeatureStateFitPartAdd(D, X, 150, blocks);
		EstFeatureStateFitPartAdd(D, X + 150 * D, N - 150, blocks);
		CHECK(memcmp(one, blocks, size) == 0);
		free(one);
		free(blocks);
		EstTransformFree(&parted);
	}

	/* one part: the very same floats as a fit over all the rows */
	UnitColumns(&whole, 1);
	col = UnitColumn(&whole, 0, EST_FC_NUMERIC, "v");
	col->shape = 3;
	CHECKF(EstTransformInit(&whole, err) == EST_OK, "%s", err);
	UnitColumns(&parted, 1);
	col = UnitColumn(&parted, 0, EST_FC_NUMERIC, "v");
	col->shape = 3;
	CHECKF(EstTransformInit(&parted, err) == EST_OK, "%s", err);
	memcpy(X, raw, sizeof(float) * N * D);
	memcpy(Y, raw, sizeof(float) * N * D);
	CHECKF(EstTransformFit(&whole, X, N, N, err) == EST_OK, "%s", err);
	parts = malloc(EstTransformFitStatsSize(&parted));
	EstTransformFitPart(&parted, Y, N, parts);
	CHECKF(EstTransformFitParts(&parted, parts, 1, Y, N, err) == EST_OK,
		   "%s", err);
	CHECK(memcmp(X, Y, sizeof(float) * N * D) == 0);
	for (int j = 0; j < 3; j++)
		CHECK(whole.columns[0].mean[j] == parted.columns[0].mean[j] &&
			  whole.columns[0].stddev[j] == parted.columns[0].stddev[j]);
	/* fitted already */
	CHECK(EstTransformFitParts(&parted, parts, 1, Y, N, err) == EST_EINVAL);
	free(parts);
	EstTransformFree(&parted);
	EstTransformFree(&whole);

	/* a regressor's label state from parts: one gives EstFeatureStateFit's */
	{
		EstFeatureState a;
		EstFeatureState b;
		size_t		lsize = EstFeatureStateStatsSize(D);
		char	   *lparts = malloc(3 * lsize);

		CHECK(EstFeatureStateInit(&a, D, err) == EST_OK);
		CHECK(EstFeatureStateInit(&b, D, err) == EST_OK);
		for (i = 0; i < N * D; i++)
			X[i] = isnan(raw[i]) ? 7.0f : raw[i];
		EstFeatureStateFit(&a, X, N);
		EstFeatureStateFitPart(D, X, N, lparts);
		EstFeatureStateFitParts(&b, lparts, 1);
		for (int j = 0; j < D; j++)
			CHECK(a.shift[j] == b.shift[j] && a.scale[j] == b.scale[j]);
		EstFeatureStateFitPart(D, X, 100, lparts);
		EstFeatureStateFitPart(D, X + 100 * D, 0, lparts + lsize);
		EstFeatureStateFitPart(D, X + 100 * D, N - 100, lparts + 2 * lsize);
		EstFeatureStateFitParts(&b, lparts, 3);
		for (int j = 0; j < D; j++)
			CHECKF(fabs(a.shift[j] - b.shift[j]) <= 1e-12 * fabs(a.shift[j]) + 1e-12 &&
				   fabs(a.scale[j] - b.scale[j]) <= 1e-10 * a.scale[j],
				   "label %d: %.17g / %.17g, %.17g / %.17g", j,
				   a.shift[j], b.shift[j], a.scale[j], b.scale[j]);
		free(lparts);
		EstFeatureStateFree(&a);
		EstFeatureStateFree(&b);
	}

	/*
	 * A categorical column: its NULL markers become its NULL id in every
	 * part's rows, and its counts are all the parts'; one part or three,
	 * the rows are those of EstTransformFit.
	 */
	for (int n_parts = 1; n_parts <= 3; n_parts += 2)
	{
		PartsTransform(&whole, 1, EST_NORM_ZSCORE);
		PartsTransform(&parted, 1, EST_NORM_ZSCORE);
		CHECK(EstTransformFitsInParts(&parted));
		for (i = 0; i < N; i++)
		{
			X[i * 2] = raw[i * D];
			X[i * 2 + 1] = i % 6 == 0 ? -2.0f : (float) (i % 3);	/* -2: NULL */
		}
		memcpy(Y, X, sizeof(float) * N * 2);
		CHECKF(EstTransformFit(&whole, X, N, N, err) == EST_OK, "%s", err);
		size = EstTransformFitStatsSize(&parted);
		parts = malloc(3 * size);
		if (n_parts == 1)
			EstTransformFitPart(&parted, Y, N, parts);
		else
		{
			EstTransformFitPart(&parted, Y, 10, parts);
			EstTransformFitPart(&parted, Y + 10 * 2, 0, parts + size);
			EstTransformFitPart(&parted, Y + 10 * 2, N - 10, parts + 2 * size);
		}
		/* each part rewrites its own rows: here, all of them at once */
		CHECKF(EstTransformFitParts(&parted, parts, n_parts, Y, N, err) == EST_OK,
			   "%s", err);
		CHECK(parted.columns[1].null_count == whole.columns[1].null_count &&
			  parted.columns[1].value_count == whole.columns[1].value_count &&
			  whole.columns[1].null_count == 51);
		for (i = 0; i < N; i++)
			CHECK(X[i * 2 + 1] == Y[i * 2 + 1] &&
				  (n_parts > 1 || X[i * 2] == Y[i * 2]));
		CHECK(Y[1] == 3.0f);
		free(parts);
		EstTransformFree(&parted);
		EstTransformFree(&whole);
	}

	/* categorical columns only: fitted when made, and fitted from parts */
	UnitColumns(&parted, 1);
	col = UnitColumn(&parted, 0, EST_FC_IDENTITY, "id");
	col->num_buckets = 4;
	col->default_id = 3;
	CHECKF(EstTransformInit(&parted, err) == EST_OK, "%s", err);
	CHECK(parted.fitted && EstTransformFitsInParts(&parted));
	parts = malloc(EstTransformFitStatsSize(&parted));
	for (i = 0; i < 4; i++)
		Y[i] = i == 2 ? 3.0f : (float) i;
	EstTransformFitPart(&parted, Y, 4, parts);
	CHECKF(EstTransformFitParts(&parted, parts, 1, Y, 4, err) == EST_OK, "%s", err);
	CHECK(parted.columns[0].value_count == 4 && parted.columns[0].null_count == 0);
	free(parts);
	EstTransformFree(&parted);

	/* a learned vocabulary cannot be fitted from parts */
	UnitColumns(&parted, 2);
	UnitColumn(&parted, 0, EST_FC_NUMERIC, "a");
	col = UnitColumn(&parted, 1, EST_FC_VOCABULARY, "city");
	col->learned = 1;
	col->num_oov = 1;
	CHECKF(EstTransformInit(&parted, err) == EST_OK, "%s", err);
	CHECK(!EstTransformFitsInParts(&parted));
	parts = malloc(EstTransformFitStatsSize(&parted));
	memset(Y, 0, sizeof(float) * 8);
	EstTransformFitPart(&parted, Y, 4, parts);
	CHECK(EstTransformFitParts(&parted, parts, 1, Y, 4, err) == EST_EINVAL);
	free(parts);
	EstTransformFree(&parted);
	free(raw);
	free(X);
	free(Y);
}

/*
 * The hashes are a compatibility promise: these values were computed
 * from the definition in estcore.h by an independent implementation
 * (Python) and must never change.
 */
void
TestFeatureHashes(void)
{
	const char *ab[2] = {"a", "b"};
	const char *ba[2] = {"b", "a"};
	const char *one[1] = {"ab"};
	const char *rs[2] = {"red", "7"};
	const char *empty[2] = {"", ""};
	size_t		l11[2] = {1, 1};
	size_t		l2[1] = {2};
	size_t		l31[2] = {3, 1};
	size_t		l00[2] = {0, 0};

	CHECK(EstHashString("", 0) == UINT64_C(0xf52a15e9a9b5e89b));
	CHECK(EstHashString("a", 1) == UINT64_C(0x02c0bdbf481420f8));
	CHECK(EstHashString("hello", 5) == UINT64_C(0x16fe05a1c75bcd0f));
	CHECK(EstHashString("\xc3\xa9", 2) == UINT64_C(0x233403617480019e));
	CHECK(EstHashString("42", 2) == UINT64_C(0xa428ce5471163b02));
	CHECK(EstHashString("-7", 2) == UINT64_C(0x4beb90b267c136e1));
	/* only len bytes count */
	CHECK(EstHashString("hello world", 5) == EstHashString("hello", 5));
	CHECK(EstHashCross(ab, l11, 2) == UINT64_C(0x5f4f2c6ea7d96a3a));
	CHECK(EstHashCross(ba, l11, 2) == UINT64_C(0xd309940e079d4713));
	CHECK(EstHashCross(one, l2, 1) == UINT64_C(0xa333acb797b3088f));
	CHECK(EstHashCross(rs, l31, 2) == UINT64_C(0x3ab37583fd67a6e0));
	CHECK(EstHashCross(empty, l00, 2) == UINT64_C(0x411bc55b935d56f7));
}

void
TestFeatureDeclarations(void)
{
	static const double inc[3] = {1, 2, 3};
	static const double flat[2] = {1, 1};
	static const char *const dup[3] = {"a", "b", "a"};
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	char		longname[EST_MAX_VOCAB_BYTES + 2];

	/* no column */
	memset(&tf, 0, sizeof(tf));
	ExpectInit(&tf, EST_EINVAL, "at least 1", "no column");

	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->kind = (EstFeatureKind) 9;
	ExpectInit(&tf, EST_EINVAL, "\"age\" has an unrecognized kind", "kind");

	UnitColumns(&tf, 1);
	tf.columns[0].kind = EST_FC_NUMERIC;
	tf.columns[0].shape = 1;
	ExpectInit(&tf, EST_EINVAL, "feature column 1 has no name", "no name");

	UnitColumns(&tf, 2);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age");
	UnitColumn(&tf, 1, EST_FC_HASH, "age")->num_buckets = 3;
	ExpectInit(&tf, EST_EINVAL, "\"age\" is declared twice", "twice");

	UnitColumns(&tf, 1);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	UnitColumn(&tf, 0, EST_FC_NUMERIC, longname);
	ExpectInit(&tf, EST_ELIMIT, "1025 bytes, the limit is 1024", "long name");

	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_NUMERIC, "age");
	col->shape = 0;
	ExpectInit(&tf, EST_EINVAL, "\"age\" has shape 0", "shape 0");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_NUMERIC, "age");
	col->shape = EST_MAX_UNITS + 1;
	ExpectInit(&tf, EST_ELIMIT, "shape 65537, the limit is 65536", "shape");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->normalizer = 0;
	ExpectInit(&tf, EST_EINVAL, "normalizer", "normalizer 0");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->null_policy = 4;
	ExpectInit(&tf, EST_EINVAL, "NULL policy", "null policy 4");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->default_value = NAN;
	ExpectInit(&tf, EST_EINVAL, "default value", "NaN default");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->representation =
		EST_INPUT_EMBEDDING;
	ExpectInit(&tf, EST_EINVAL, "dense", "numeric embedding");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "age")->multi = 1;
	ExpectInit(&tf, EST_EINVAL, "multi-valued", "numeric multi");

	/* crossed: 2 to 8 keys */
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "ab");
	col->kind = EST_FC_CROSSED;
	col->num_buckets = 5;
	ExpectInit(&tf, EST_EINVAL, "\"ab\" reads 1 source columns, it needs 2 to 8",
			   "crossed 1 key");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	EstFree(col->keys[0]);
	col->keys[0] = UnitStrdup("");
	ExpectInit(&tf, EST_EINVAL, "empty source column", "empty key");

	/* bucketized */
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_BUCKETIZED, "b");
	ExpectInit(&tf, EST_EINVAL, "\"b\" needs at least 1 boundary", "none");
	UnitColumns(&tf, 1);
	SetBoundaries(UnitColumn(&tf, 0, EST_FC_BUCKETIZED, "b"), flat, 2);
	ExpectInit(&tf, EST_EINVAL, "strictly increasing", "flat boundaries");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_BUCKETIZED, "b");
	SetBoundaries(col, inc, 3);
	col->boundaries[2] = INFINITY;
	ExpectInit(&tf, EST_EINVAL, "finite", "infinite boundary");

	/* vocabulary */
	UnitColumns(&tf, 1);
	SetVocab(UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v"), dup, 3);
	ExpectInit(&tf, EST_EINVAL, "\"v\" has the vocabulary entry \"a\" twice",
			   "duplicate entry");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	ExpectInit(&tf, EST_EINVAL, "empty vocabulary and no OOV", "empty");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->vocab_size = EST_MAX_VOCABULARY + 1;
	ExpectInit(&tf, EST_ELIMIT, "1048577 entries, the limit is 1048576",
			   "vocabulary size");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	SetVocab(col, dup, 1);
	EstFree(col->vocab[0]);
	col->vocab[0] = EstAlloc(EST_MAX_VOCAB_BYTES + 2);
	memset(col->vocab[0], 'x', EST_MAX_VOCAB_BYTES + 1);
	col->vocab[0][EST_MAX_VOCAB_BYTES + 1] = '\0';
	ExpectInit(&tf, EST_ELIMIT, "vocabulary entry of 1025 bytes", "long entry");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->num_oov = EST_MAX_VOCABULARY + 1;
	ExpectInit(&tf, EST_ELIMIT, "1048577 OOV buckets, the limit is 1048576",
			   "OOV");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	col->max_size = -1;
	ExpectInit(&tf, EST_EINVAL, "\"v\"", "negative max_size");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	SetVocab(col, dup, 1);
	ExpectInit(&tf, EST_EINVAL, "learns its vocabulary, but has one",
			   "learned with entries");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	col->hash_above = 10;
	ExpectInit(&tf, EST_EINVAL, "hash into 0 buckets", "auto buckets 0");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	col->hash_above = 10;
	col->auto_buckets = 100;
	col->auto_dimension = EST_MAX_EMBEDDING + 1;
	ExpectInit(&tf, EST_ELIMIT, "1025 dimensions", "auto dimension");

	/* identity, hash, crossed buckets */
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_IDENTITY, "i");
	ExpectInit(&tf, EST_EINVAL, "\"i\" has 0 buckets", "identity 0");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_IDENTITY, "i");
	col->num_buckets = 5;
	col->default_id = 5;
	ExpectInit(&tf, EST_EINVAL, "default id 5, outside [0, 5)", "default id");
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_HASH, "h")->num_buckets =
		(int64_t) EST_MAX_BUCKETS + 1;
	ExpectInit(&tf, EST_ELIMIT, "16777217 buckets, the limit is 16777216",
			   "hash buckets");

	/* representation */
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	col->representation = EST_INPUT_EMBEDDING;
	ExpectInit(&tf, EST_EINVAL, "embedding dimension 0", "dimension 0");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 2;
	col->combiner = (EstCombiner) 4;
	ExpectInit(&tf, EST_EINVAL, "combiner", "combiner 4");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	col->representation = EST_INPUT_DENSE;
	ExpectInit(&tf, EST_EINVAL, "indicator or an embedding", "dense hash");
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	col->multi = 1;
	col->max_values = EST_MAX_MULTI + 1;
	ExpectInit(&tf, EST_ELIMIT, "1025 values a row, the limit is 1024",
			   "max values");

	/* too many columns, too many inputs */
	UnitColumns(&tf, EST_MAX_SEGMENTS + 1);
	ExpectInit(&tf, EST_ELIMIT, "4097 feature columns, the limit is 4096",
			   "columns");
	UnitColumns(&tf, 2);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "a")->shape = EST_MAX_UNITS;
	UnitColumn(&tf, 1, EST_FC_NUMERIC, "b");
	ExpectInit(&tf, EST_ELIMIT, "65537 inputs, the limit is 65536", "inputs");

	/* defaults, layout and segments */
	UnitColumns(&tf, 3);
	col = UnitColumn(&tf, 0, EST_FC_HASH, "h");
	col->num_buckets = 5;
	col->multi = 1;
	col = UnitColumn(&tf, 1, EST_FC_NUMERIC, "x");
	col->shape = 3;
	col = UnitColumn(&tf, 2, EST_FC_IDENTITY, "i");
	col->num_buckets = 4;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 6;
	CHECKF(EstTransformInit(&tf, err) == EST_OK, "%s", err);
	CHECK(tf.n_inputs == 32 + 3 + 1);
	CHECK(tf.columns[0].max_values == 32 && tf.columns[0].slots == 32);
	CHECK(tf.columns[0].representation == EST_INPUT_INDICATOR);
	CHECK(tf.columns[1].offset == 32 && tf.columns[2].offset == 35);
	CHECK(tf.columns[2].combiner == EST_COMBINER_MEAN);
	CHECK(tf.columns[1].shift[2] == 0.0 && tf.columns[1].scale[2] == 1.0);
	CHECK(!tf.fitted);
	CHECK(EstTransformInputWidth(&tf) == 5 + 3 + 6);
	{
		EstInputSegment segs[3];

		EstTransformSegments(&tf, segs);
		CHECK(segs[0].kind == EST_INPUT_INDICATOR && segs[0].slots == 32 &&
			  segs[0].buckets == 5 && segs[0].dimension == 0);
		CHECK(segs[1].kind == EST_INPUT_DENSE && segs[1].slots == 3 &&
			  segs[1].buckets == 0);
		CHECK(segs[2].kind == EST_INPUT_EMBEDDING && segs[2].slots == 1 &&
			  segs[2].buckets == 4 && segs[2].dimension == 6 &&
			  segs[2].combiner == EST_COMBINER_MEAN);
	}
	EstTransformFree(&tf);
	EstTransformFree(&tf);		/* twice is fine */

	/* no learned state: fitted at once */
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_HASH, "h")->num_buckets = 5;
	CHECK(EstTransformInit(&tf, err) == EST_OK && tf.fitted);
	EstTransformFree(&tf);
}

void
TestFeatureEncoders(void)
{
	static const char *const colors[3] = {"red", "green", ""};
	static const double b[3] = {-1, 0, 2.5};
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	float		v;
	const char *pair[2] = {"a", "b"};
	size_t		lens[2] = {1, 1};

	UnitColumns(&tf, 7);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "color");
	SetVocab(col, colors, 3);
	col->num_oov = 3;
	SetVocab(UnitColumn(&tf, 1, EST_FC_VOCABULARY, "strict"), colors, 2);
	col = UnitColumn(&tf, 2, EST_FC_IDENTITY, "id");
	col->num_buckets = 10;
	col = UnitColumn(&tf, 3, EST_FC_IDENTITY, "idd");
	col->num_buckets = 10;
	col->default_id = 9;
	SetBoundaries(UnitColumn(&tf, 4, EST_FC_BUCKETIZED, "b"), b, 3);
	UnitColumn(&tf, 5, EST_FC_HASH, "h")->num_buckets = 10;
	UnitColumn(&tf, 6, EST_FC_CROSSED, "x")->num_buckets = 1000;
	CHECKF(EstTransformInit(&tf, err) == EST_OK, "%s", err);
	CHECK(tf.fitted);
	CHECK(tf.columns[0].buckets == 6 && tf.columns[1].buckets == 2);
	CHECK(tf.columns[4].buckets == 4);

	/* vocabulary: entries (the empty string too), OOV, no OOV */
	CHECK(Str(&tf, 0, "green", &v, err) == EST_OK && v == 1.0f);
	CHECK(Str(&tf, 0, "", &v, err) == EST_OK && v == 2.0f);
	CHECK(Str(&tf, 0, "hello", &v, err) == EST_OK &&
		  v == (float) (3 + UINT64_C(0x16fe05a1c75bcd0f) % 3));
	CHECK(EstTransformString(&tf, 0, "redder", 3, &v, err) == EST_OK &&
		  v == 0.0f);
	CHECK(Str(&tf, 1, "blue", &v, err) == EST_OK && v == -1.0f);
	CHECK(Str(&tf, 1, "", &v, err) == EST_OK && v == -1.0f);
	/* integers as their decimal text */
	CHECK(EstTransformInteger(&tf, 0, 42, &v, err) == EST_OK &&
		  v == (float) (3 + UINT64_C(0xa428ce5471163b02) % 3));
	CHECK(EstTransformInteger(&tf, 5, -7, &v, err) == EST_OK &&
		  v == (float) (UINT64_C(0x4beb90b267c136e1) % 10));
	CHECK(Str(&tf, 5, "hello", &v, err) == EST_OK && v == 7.0f);

	/* identity */
	CHECK(EstTransformInteger(&tf, 2, 0, &v, err) == EST_OK && v == 0.0f);
	CHECK(EstTransformInteger(&tf, 2, 9, &v, err) == EST_OK && v == 9.0f);
	CHECK(EstTransformInteger(&tf, 2, 10, &v, err) == EST_EINVAL);
	CHECKF(strcmp(err, "feature column \"id\" has value 10, outside [0, 10)") == 0,
		   "message: %s", err);
	CHECK(EstTransformInteger(&tf, 2, -1, &v, err) == EST_EINVAL);
	CHECK(EstTransformInteger(&tf, 3, -1, &v, err) == EST_OK && v == 9.0f);
	CHECK(EstTransformInteger(&tf, 3, INT64_MAX, &v, err) == EST_OK &&
		  v == 9.0f);
	CHECK(Str(&tf, 2, "3", &v, err) == EST_EINVAL);
	CHECK(strstr(err, "\"id\"") != NULL);

	/* bucketized: the number of boundaries <= v */
	EstTransformBucket(&tf, 4, -5, &v);
	CHECK(v == 0.0f);
	EstTransformBucket(&tf, 4, -1, &v);
	CHECK(v == 1.0f);
	EstTransformBucket(&tf, 4, -0.5, &v);
	CHECK(v == 1.0f);
	EstTransformBucket(&tf, 4, 0, &v);
	CHECK(v == 2.0f);
	EstTransformBucket(&tf, 4, 2.5, &v);
	CHECK(v == 3.0f);
	EstTransformBucket(&tf, 4, 1e300, &v);
	CHECK(v == 3.0f);
	CHECK(EstTransformInteger(&tf, 4, 1, &v, err) == EST_OK && v == 2.0f);
	CHECK(Str(&tf, 4, "1", &v, err) == EST_EINVAL);
	CHECK(strstr(err, "\"b\"") != NULL);

	/* NULLs */
	EstTransformNull(&tf, 0, &v);
	CHECK(v == 3.0f);
	EstTransformNull(&tf, 1, &v);
	CHECK(v == -1.0f);
	EstTransformNull(&tf, 2, &v);
	CHECK(v == -1.0f);
	EstTransformNull(&tf, 3, &v);
	CHECK(v == 9.0f);
	EstTransformNull(&tf, 4, &v);
	CHECK(v == -1.0f);
	EstTransformNull(&tf, 5, &v);
	CHECK(v == -1.0f);

	/* crossed */
	EstTransformCross(&tf, 6, pair, lens, &v);
	CHECK(v == 26.0f);
	CHECK(Str(&tf, 6, "a", &v, err) == EST_EINVAL);
	EstTransformFree(&tf);
}

/*
 * Column "a" (zscore, NULL -> mean): 1, NaN, 3, 5 in the fit rows, 100
 * and NaN in the holdout rows: mean 3, stddev sqrt(8/3).  Column "b"
 * (minmax, NULL -> default 4): 2, 6, NaN, 10: min 2, max 10.  Column "c"
 * (none, shape 2): raw values.
 */
void
TestFeatureFitNumeric(void)
{
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	float		X[6 * 4] = {
		1, 2, 7, -1,
		NAN, 6, 8, -2,
		3, NAN, NAN, -3,
		5, 10, 9, -4,
		100, NAN, 1, 1,
		NAN, 3, 2, 2
	};
	float		Y[2 * 4] = {NAN, NAN, NAN, 0, 3, 14, 0, 0};
	double		sd = sqrt(8.0 / 3.0);

	UnitColumns(&tf, 3);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "a");
	col = UnitColumn(&tf, 1, EST_FC_NUMERIC, "b");
	col->normalizer = EST_NORM_MINMAX;
	col->null_policy = EST_NULL_DEFAULT;
	col->default_value = 4;
	col = UnitColumn(&tf, 2, EST_FC_NUMERIC, "c");
	col->shape = 2;
	col->normalizer = EST_NORM_NONE;
	CHECKF(EstTransformInit(&tf, err) == EST_OK, "%s", err);
	CHECK(!tf.fitted);
	CHECK(EstTransformFit(&tf, X, 5, 4, err) == EST_EINVAL);
	CHECKF(EstTransformFit(&tf, X, 4, 6, err) == EST_OK, "%s", err);
	CHECK(tf.fitted);

	col = &tf.columns[0];
	CHECK(col->null_count == 1 && col->value_count == 3);
	CHECK(fabs(col->mean[0] - 3.0) < 1e-15 && fabs(col->stddev[0] - sd) < 1e-15);
	CHECK(col->min[0] == 1.0 && col->max[0] == 5.0);
	CHECK(col->shift[0] == col->mean[0] && col->scale[0] == col->stddev[0]);
	CHECK(X[0] == (float) ((1.0 - col->shift[0]) / col->scale[0]));
	CHECK(X[4] == 0.0f);		/* the mean, z-scored */
	CHECK(X[16] == (float) ((100.0 - col->shift[0]) / col->scale[0]));
	CHECK(X[20] == 0.0f);		/* a holdout NULL gets the fit mean */

	col = &tf.columns[1];
	CHECK(col->null_count == 1 && col->value_count == 3);
	CHECK(col->min[0] == 2.0 && col->max[0] == 10.0);
	CHECK(col->shift[0] == 2.0 && col->scale[0] == 8.0);
	CHECK(X[1] == 0.0f && X[5] == 0.5f && X[13] == 1.0f);
	CHECK(X[9] == 0.25f);		/* default 4 */
	CHECK(X[17] == 0.25f && X[21] == 0.125f);

	col = &tf.columns[2];
	CHECK(col->null_count == 1 && col->value_count == 7);
	CHECK(col->mean[0] == 8.0 && col->mean[1] == -2.5);
	CHECK(col->shift[1] == 0.0 && col->scale[1] == 1.0);
	CHECK(X[2] == 7.0f && X[3] == -1.0f && X[10] == 8.0f);	/* mean */
	CHECK(X[23] == 2.0f);

	/* Apply: the same arithmetic on new rows */
	EstTransformApply(&tf, Y, 2);
	CHECK(Y[0] == 0.0f && Y[1] == 0.25f && Y[2] == 8.0f && Y[3] == 0.0f);
	CHECK(Y[4] == X[8] && Y[5] == 1.5f);

	/* a fitted transform with learned state cannot be fitted again */
	CHECK(EstTransformFit(&tf, X, 1, 1, err) == EST_EINVAL);
	EstTransformFree(&tf);

	/* no values: mean 0, scale 1; no rows at all */
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "a");
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	{
		float		Z[2] = {NAN, NAN};

		CHECK(EstTransformFit(&tf, Z, 2, 2, err) == EST_OK);
		CHECK(Z[0] == 0.0f && tf.columns[0].null_count == 2);
		CHECK(tf.columns[0].scale[0] == 1.0 && tf.columns[0].mean[0] == 0.0);
	}
	EstTransformFree(&tf);
}

/*
 * The z-score of a column without NULLs gives bit for bit what the
 * feature state gives, statistics and rewritten values, on values with a
 * large mean where rounding shows.
 */
void
TestFeatureZscoreIdentity(void)
{
	enum
	{
		ROWS = 257, COLS = 5
	};
	EstTransform tf;
	EstFeatureState fs;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float	   *X = malloc(sizeof(float) * ROWS * COLS);
	float	   *Y = malloc(sizeof(float) * ROWS * COLS);
	float	   *Z = malloc(sizeof(float) * ROWS * COLS);
	int			i;
	int			j;

	EstRngSeed(&rng, 5);
	for (i = 0; i < ROWS * COLS; i++)
		X[i] = (float) (1e5 * (i % COLS) + 10 * EstRngUniform(&rng) - 3);
	for (i = 0; i < ROWS; i++)
		X[i * COLS + 4] = 7.0f;	/* a constant column */
	memcpy(Y, X, sizeof(float) * ROWS * COLS);
	memcpy(Z, X, sizeof(float) * ROWS * COLS);

	CHECK(EstFeatureStateInit(&fs, COLS, err) == EST_OK);
	EstFeatureStateFit(&fs, X, 200);
	EstFeatureStateApply(&fs, X, ROWS);

	/* one column of shape 5, and 5 columns of shape 1 */
	UnitColumns(&tf, 1);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "x")->shape = COLS;
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	CHECK(EstTransformFit(&tf, Y, 200, ROWS, err) == EST_OK);
	CHECK(memcmp(tf.columns[0].shift, fs.shift, sizeof(double) * COLS) == 0);
	CHECK(memcmp(tf.columns[0].scale, fs.scale, sizeof(double) * COLS) == 0);
	CHECK(memcmp(X, Y, sizeof(float) * ROWS * COLS) == 0);
	EstTransformFree(&tf);

	UnitColumns(&tf, COLS);
	for (j = 0; j < COLS; j++)
	{
		char		name[8];

		snprintf(name, sizeof(name), "x%d", j);
		UnitColumn(&tf, j, EST_FC_NUMERIC, name);
	}
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	CHECK(EstTransformFit(&tf, Z, 200, ROWS, err) == EST_OK);
	for (j = 0; j < COLS; j++)
		CHECK(tf.columns[j].shift[0] == fs.shift[j] &&
			  tf.columns[j].scale[0] == fs.scale[j]);
	CHECK(memcmp(X, Z, sizeof(float) * ROWS * COLS) == 0);

	/* Apply equals the feature state's */
	for (i = 0; i < ROWS * COLS; i++)
		Y[i] = (float) (1e5 * (i % COLS) + 10 * EstRngUniform(&rng));
	memcpy(Z, Y, sizeof(float) * ROWS * COLS);
	EstFeatureStateApply(&fs, Y, ROWS);
	EstTransformApply(&tf, Z, ROWS);
	CHECK(memcmp(Y, Z, sizeof(float) * ROWS * COLS) == 0);
	EstTransformFree(&tf);
	EstFeatureStateFree(&fs);
	free(X);
	free(Y);
	free(Z);
}

/*
 * A learned vocabulary: counted in the fit rows only, each slot of a
 * multi-valued column, most frequent first, ties by bytes (a prefix
 * first), cut at max_size; the rest and the values of the holdout rows
 * go to the OOV bucket, NULLs to bucket vocab_size.
 */
void
TestFeatureLearnedVocabulary(void)
{
	static const char *const rows[7][2] = {
		{"b", "ab"}, {"a", "b"}, {"ab", NULL}, {"c", "a"}, {"b", NULL},
		{"zz", NULL}, {"a", "q"}
	};
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	float		X[7 * 3];
	float		v;
	uint64_t	h;
	int			i;
	int			k;

	UnitColumns(&tf, 2);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	col->multi = 1;
	col->max_values = 2;
	col->max_size = 3;
	col->num_oov = 2;
	col = UnitColumn(&tf, 1, EST_FC_VOCABULARY, "w");
	col->learned = 1;
	CHECKF(EstTransformInit(&tf, err) == EST_OK, "%s", err);
	CHECK(!tf.fitted && tf.columns[0].buckets == 0);
	for (i = 0; i < 7; i++)
	{
		for (k = 0; k < 2; k++)
		{
			if (rows[i][k] != NULL)
				CHECK(Str(&tf, 0, rows[i][k], &X[i * 3 + k], err) == EST_OK);
			else if (i == 4)
				EstTransformNull(&tf, 0, &X[i * 3 + k]);
			else
				X[i * 3 + k] = -1.0f;
		}
		if (i == 2)
			EstTransformNull(&tf, 1, &X[i * 3 + 2]);
		else
			CHECK(Str(&tf, 1, i < 5 ? "same" : "later", &X[i * 3 + 2], err) ==
				  EST_OK);
	}
	/* provisional ids in order of first appearance */
	CHECK(X[0] == 0.0f && X[1] == 1.0f && X[3] == 2.0f && X[4] == 0.0f);
	CHECK(X[9] == 3.0f && X[15] == 4.0f);
	CHECKF(EstTransformFit(&tf, X, 5, 7, err) == EST_OK, "%s", err);
	CHECK(tf.pending == NULL && tf.fitted);

	/* fit counts: b 3, a 2, ab 2, c 1 (zz, q only in holdout rows) */
	col = &tf.columns[0];
	CHECK(col->vocab_size == 3 && col->buckets == 5);
	CHECK(strcmp(col->vocab[0], "b") == 0 && col->vocab_counts[0] == 3);
	CHECK(strcmp(col->vocab[1], "a") == 0 && col->vocab_counts[1] == 2);
	CHECK(strcmp(col->vocab[2], "ab") == 0 && col->vocab_counts[2] == 2);
	CHECK(col->value_count == 8 && col->null_count == 1);
	CHECK(X[0] == 0.0f && X[1] == 2.0f && X[3] == 1.0f && X[4] == 0.0f);
	CHECK(X[6] == 2.0f && X[7] == -1.0f);
	h = EstHashString("c", 1);
	CHECK(X[9] == (float) (3 + h % 2) && X[10] == 1.0f);
	CHECK(X[12] == 0.0f && X[13] == 3.0f);	/* NULL: bucket vocab_size */
	CHECK(X[15] == (float) (3 + EstHashString("zz", 2) % 2));
	CHECK(X[16] == -1.0f);
	CHECK(X[18] == 1.0f && X[19] == (float) (3 + EstHashString("q", 1) % 2));
	/* lookups after the fit */
	CHECK(Str(&tf, 0, "ab", &v, err) == EST_OK && v == 2.0f);
	CHECK(Str(&tf, 0, "c", &v, err) == EST_OK && v == (float) (3 + h % 2));
	EstTransformNull(&tf, 0, &v);
	CHECK(v == 3.0f);

	/* no OOV bucket: "later" was seen only in holdout rows */
	col = &tf.columns[1];
	CHECK(col->vocab_size == 1 && col->buckets == 1);
	CHECK(strcmp(col->vocab[0], "same") == 0 && col->vocab_counts[0] == 4);
	CHECK(col->null_count == 1 && col->value_count == 4);
	CHECK(X[2] == 0.0f && X[8] == -1.0f && X[17] == -1.0f);
	EstTransformFree(&tf);

	/* a slot that holds no provisional id: nothing changes */
	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "v");
	col->learned = 1;
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	CHECK(Str(&tf, 0, "x", &X[0], err) == EST_OK);
	X[1] = 5.0f;
	CHECK(EstTransformFit(&tf, X, 2, 2, err) == EST_EINVAL);
	CHECKF(strstr(err, "\"v\" holds 5 in row 2") != NULL, "message: %s", err);
	CHECK(!tf.fitted && X[0] == 0.0f && X[1] == 5.0f);
	/* no value in the fit rows and no OOV bucket */
	CHECK(EstTransformFit(&tf, X, 0, 1, err) == EST_EINVAL);
	CHECKF(strstr(err, "no value in the training rows") != NULL,
		   "message: %s", err);
	EstTransformFree(&tf);
}

/*
 * An inferred column with more distinct values in the fit rows than
 * hash_above becomes a hash column embedded in auto_dimension.
 */
void
TestFeatureAutoHash(void)
{
	static const char *const values[6] = {"x", "y", "z", "x", "y", "w"};
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	float		X[6];
	float		v;
	int			fit;
	int			i;

	for (fit = 3; fit >= 2; fit--)
	{
		UnitColumns(&tf, 1);
		col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "tag");
		col->learned = 1;
		col->num_oov = 1;
		col->hash_above = 2;
		col->auto_buckets = 13;
		col->auto_dimension = 5;
		CHECK(EstTransformInit(&tf, err) == EST_OK);
		for (i = 0; i < 6; i++)
			CHECK(Str(&tf, 0, values[i], &X[i], err) == EST_OK);
		EstTransformNull(&tf, 0, &X[3]);
		CHECKF(EstTransformFit(&tf, X, (size_t) fit, 6, err) == EST_OK, "%s",
			   err);
		col = &tf.columns[0];
		if (fit == 3)
		{
			/* 3 distinct values > 2 */
			CHECK(col->kind == EST_FC_HASH && col->num_buckets == 13);
			CHECK(col->buckets == 13 && !col->learned);
			CHECK(col->representation == EST_INPUT_EMBEDDING &&
				  col->dimension == 5 &&
				  col->combiner == EST_COMBINER_MEAN);
			CHECK(col->vocab_size == 0 && col->vocab == NULL);
			for (i = 0; i < 6; i++)
				if (i != 3)
					CHECK(X[i] == (float) (EstHashString(values[i], 1) % 13));
			CHECK(X[3] == -1.0f);
			CHECK(Str(&tf, 0, "w", &v, err) == EST_OK && v == X[5]);
			CHECK(EstTransformInputWidth(&tf) == 5);
		}
		else
		{
			/* z is only in a holdout row */
			CHECK(col->kind == EST_FC_VOCABULARY && col->vocab_size == 2);
			CHECK(X[0] == 0.0f && X[1] == 1.0f && X[3] == 2.0f);
			CHECK(X[2] == 2.0f);
			CHECK(EstTransformInputWidth(&tf) == 3);
		}
		EstTransformFree(&tf);
	}

	/* one value too long for a vocabulary: the column hashes it whole */
	{
		char	   *big = malloc(EST_MAX_VOCAB_BYTES + 500);
		float		Y[3];

		memset(big, 'q', EST_MAX_VOCAB_BYTES + 499);
		big[EST_MAX_VOCAB_BYTES + 499] = '\0';
		UnitColumns(&tf, 1);
		col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "note");
		col->learned = 1;
		col->num_oov = 1;
		col->hash_above = 100;
		col->auto_buckets = 13;
		col->auto_dimension = 5;
		CHECK(EstTransformInit(&tf, err) == EST_OK);
		CHECK(Str(&tf, 0, "short", &Y[0], err) == EST_OK);
		CHECKF(Str(&tf, 0, big, &Y[1], err) == EST_OK, "%s", err);
		CHECK(Str(&tf, 0, big, &Y[2], err) == EST_OK && Y[2] == Y[1]);
		CHECKF(EstTransformFit(&tf, Y, 3, 3, err) == EST_OK, "%s", err);
		col = &tf.columns[0];
		CHECK(col->kind == EST_FC_HASH && col->num_buckets == 13);
		CHECK(Y[0] == (float) (EstHashString("short", 5) % 13));
		CHECK(Y[1] == (float) (EstHashString(big, strlen(big)) % 13));
		CHECK(Y[2] == Y[1]);
		EstTransformFree(&tf);
		free(big);
	}
}

/*
 * Limits while learning: a value too long for a vocabulary entry, a zero
 * byte, and one distinct value more than EST_MAX_VOCABULARY.
 */
void
TestFeatureLearningLimits(void)
{
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	char		text[EST_MAX_VOCAB_BYTES + 2];
	float		v;
	int			i;
	EstStatus	status = EST_OK;

	UnitColumns(&tf, 1);
	col = UnitColumn(&tf, 0, EST_FC_VOCABULARY, "big");
	col->learned = 1;
	col->num_oov = 1;
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	memset(text, 'x', sizeof(text));
	CHECK(EstTransformString(&tf, 0, text, EST_MAX_VOCAB_BYTES + 1, &v, err) ==
		  EST_EINVAL);
	CHECKF(strstr(err, "\"big\" has a value of 1025 bytes") != NULL,
		   "message: %s", err);
	CHECK(EstTransformString(&tf, 0, text, EST_MAX_VOCAB_BYTES, &v, err) ==
		  EST_OK && v == 0.0f);
	CHECK(EstTransformString(&tf, 0, "a\0b", 3, &v, err) == EST_EINVAL);
	for (i = 1; i <= EST_MAX_VOCABULARY && status == EST_OK; i++)
	{
		snprintf(text, sizeof(text), "%d", i);
		status = Str(&tf, 0, text, &v, err);
	}
	CHECK(status == EST_ELIMIT && i == EST_MAX_VOCABULARY + 1);
	CHECKF(strcmp(err, "feature column \"big\" has 1048577 distinct values, the limit is 1048576") == 0,
		   "message: %s", err);
	CHECK(v == (float) (EST_MAX_VOCABULARY - 1));
	/* a value already seen still encodes */
	CHECK(Str(&tf, 0, "17", &v, err) == EST_OK && v == 17.0f);
	EstTransformFree(&tf);
}

/*
 * Every allocation of Init, the encoders and Fit fails in turn: the call
 * reports EST_ENOMEM and nothing leaks; the transform stays usable.
 */
void
TestFeatureOutOfMemory(void)
{
	long		budget;
	int			done = 0;

	for (budget = 0; budget < 200 && !done; budget++)
	{
		EstTransform tf;
		char		err[EST_ERRMSG_LEN];
		EstStatus	status;
		long		live;

		/* the declaration itself is made without a budget */
		UnitColumns(&tf, 3);
		UnitColumn(&tf, 0, EST_FC_NUMERIC, "n")->shape = 2;
		{
			static const char *const e[2] = {"p", "q"};
			EstFeatureColumn *col;

			SetVocab(UnitColumn(&tf, 1, EST_FC_VOCABULARY, "g"), e, 2);
			col = UnitColumn(&tf, 2, EST_FC_VOCABULARY, "l");
			col->learned = 1;
			col->num_oov = 1;
		}
		live = unit_live_allocs;
		unit_alloc_budget = budget;
		status = EstTransformInit(&tf, err);
		if (status == EST_OK)
		{
			float		R[3 * 4];
			int			i;

			for (i = 0; i < 3 && status == EST_OK; i++)
			{
				char		s[2] = {(char) ('a' + i), '\0'};

				R[i * 4] = (float) i;
				R[i * 4 + 1] = 1.0f;
				R[i * 4 + 2] = 0.0f;
				status = Str(&tf, 2, s, &R[i * 4 + 3], err);
			}
			if (status == EST_OK)
				status = EstTransformFit(&tf, R, 3, 3, err);
			if (status == EST_OK)
			{
				done = 1;
				CHECK(tf.columns[2].vocab_size == 3);
			}
			else
				CHECK(!tf.fitted);
		}
		else
			CHECK(unit_live_allocs == live);
		unit_alloc_budget = -1;
		CHECKF(status == EST_OK || status == EST_ENOMEM,
			   "budget %ld: status %d (%s)", budget, (int) status, err);
		EstTransformFree(&tf);
	}
	CHECK(done);
}

/*
 * The transform of every kind (UnitTransformEveryKind) after its fit:
 * spot checks of every column, its segments and its input width.
 */
void
TestFeatureEveryKind(void)
{
	EstTransform tf;
	EstInputSegment segs[9];
	float	   *X;
	const EstFeatureColumn *col;
	int			n;

	UnitTransformEveryKind(&tf, &X);
	n = tf.n_inputs;
	CHECK(tf.fitted && tf.pending == NULL && n == 12);

	col = &tf.columns[0];		/* age: 20, 23, 26, NULL, 32, 35 */
	CHECK(col->null_count == 1 && col->value_count == 5);
	CHECK(fabs(col->mean[0] - 27.2) < 1e-12);
	CHECK(X[3 * n] == 0.0f);
	col = &tf.columns[1];		/* pos: minmax, NULL -> 5 */
	CHECK(col->min[0] == 0.0 && col->max[0] == 5.0 && col->max[1] == 25.0);
	CHECK(X[1 * n + 1] == 1.0f && X[5 * n + 2] == 1.0f);
	CHECK(X[2 * n + 3] == 0.0f && X[3 * n + 3] == 1.0f &&
		  X[5 * n + 3] == 2.0f);	/* price */
	col = &tf.columns[3];		/* color */
	CHECK(col->null_count == 1 && col->value_count == 5);
	CHECK(X[1 * n + 4] == 1.0f && X[2 * n + 4] == 3.0f &&
		  X[5 * n + 4] == 2.0f);
	CHECK(X[0 * n + 4] == (float) (3 + EstHashString("teal", 4) % 2));
	col = &tf.columns[4];		/* city: paris 3, rome 3, oslo 2 */
	CHECK(col->vocab_size == 2 && col->buckets == 3);
	CHECK(strcmp(col->vocab[0], "paris") == 0 &&
		  strcmp(col->vocab[1], "rome") == 0);
	CHECK(col->vocab_counts[0] == 3 && col->vocab_counts[1] == 3);
	CHECK(col->value_count == 8 && col->null_count == 1);
	CHECK(X[2 * n + 5] == 2.0f && X[2 * n + 6] == 0.0f &&
		  X[2 * n + 7] == 1.0f);
	CHECK(X[3 * n + 5] == 2.0f && X[3 * n + 6] == -1.0f);
	CHECK(X[7 * n + 5] == 1.0f && X[7 * n + 6] == 2.0f);
	CHECK(X[6 * n + 8] == 0.0f && X[7 * n + 8] == 7.0f);	/* store */
	CHECK(X[4 * n + 9] == (float) (EstHashString("w1", 2) % 7));
	{
		const char *pair[2] = {"blue", "w2"};
		size_t		lens[2] = {4, 2};

		CHECK(X[5 * n + 10] == (float) (EstHashCross(pair, lens, 2) % 11));
	}
	col = &tf.columns[8];		/* tag: x, y, z in the fit rows */
	CHECK(col->kind == EST_FC_HASH && col->buckets == 13);
	CHECK(X[4 * n + 11] == -1.0f);
	CHECK(X[6 * n + 11] == (float) (EstHashString("w", 1) % 13));

	EstTransformSegments(&tf, segs);
	CHECK(segs[0].kind == EST_INPUT_DENSE && segs[1].slots == 2);
	CHECK(segs[2].kind == EST_INPUT_EMBEDDING && segs[2].buckets == 3 &&
		  segs[2].dimension == 3 && segs[2].combiner == EST_COMBINER_SUM);
	CHECK(segs[4].kind == EST_INPUT_INDICATOR && segs[4].slots == 3 &&
		  segs[4].buckets == 3);
	CHECK(segs[8].kind == EST_INPUT_EMBEDDING && segs[8].buckets == 13 &&
		  segs[8].dimension == 5);
	CHECK(EstTransformInputWidth(&tf) == 36);
	free(X);
	EstTransformFree(&tf);
}
