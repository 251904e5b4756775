/*-------------------------------------------------------------------------
 *
 * make_seeds.c
 *	  Writes real checkpoints as the seed corpus of fuzz_checkpoint: every
 *	  head, activation and optimizer kind, batch normalisation, dropout,
 *	  DNN input subsets and linear parts with an optimizer of their own;
 *	  numeric feature columns of every normalizer and NULL policy; where
 *	  the network honours input segments, feature columns of every kind;
 *	  and a checkpoint of format version 1.
 *
 *	  usage: make_seeds DIRECTORY
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

static char *
Strdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *copy = EstAlloc(len + 1);

	if (copy != NULL)
		memcpy(copy, s, len + 1);
	return copy;
}

/*
 * Column declares column c of tf: kind, name and source (crossed: "a",
 * "b"); numeric columns are z-scored with NULL as the mean.
 */
static EstFeatureColumn *
Column(EstTransform *tf, int c, EstFeatureKind kind, const char *name)
{
	EstFeatureColumn *col = &tf->columns[c];
	int			k;

	col->kind = kind;
	col->name = Strdup(name);
	col->n_keys = kind == EST_FC_CROSSED ? 2 : 1;
	col->keys = EstAllocZero((size_t) col->n_keys, sizeof(char *));
	for (k = 0; k < col->n_keys; k++)
		col->keys[k] = Strdup(col->n_keys == 1 ? name : (k ? "b" : "a"));
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

/*
 * NumericTransform declares numeric columns of 4 inputs in one of three
 * ways and fits them on made-up rows with NULLs.
 */
static int
NumericTransform(EstTransform *tf, int n, EstRng *rng, char *errmsg)
{
	float		X[10 * 4];
	EstFeatureColumn *col;
	int			i;

	memset(tf, 0, sizeof(*tf));
	tf->n_columns = n % 3 == 0 ? 1 : (n % 3 == 1 ? 4 : 2);
	tf->columns = EstAllocZero((size_t) tf->n_columns,
							   sizeof(EstFeatureColumn));
	if (tf->columns == NULL)
		return -1;
	if (n % 3 == 0)
		Column(tf, 0, EST_FC_NUMERIC, "x")->shape = 4;
	else if (n % 3 == 1)
	{
		Column(tf, 0, EST_FC_NUMERIC, "a");
		col = Column(tf, 1, EST_FC_NUMERIC, "b");
		col->normalizer = EST_NORM_MINMAX;
		col->null_policy = EST_NULL_DEFAULT;
		col->default_value = 2.5;
		col = Column(tf, 2, EST_FC_NUMERIC, "c");
		col->normalizer = EST_NORM_NONE;
		col->null_policy = EST_NULL_ERROR;
		Column(tf, 3, EST_FC_NUMERIC, "d");
	}
	else
	{
		Column(tf, 0, EST_FC_NUMERIC, "p");
		col = Column(tf, 1, EST_FC_NUMERIC, "q");
		col->shape = 3;
		col->normalizer = EST_NORM_MINMAX;
	}
	if (EstTransformInit(tf, errmsg) != EST_OK)
		return -1;
	for (i = 0; i < 40; i++)
		X[i] = (i % 7 == 3 && i % 4 != 2) ? NAN :
			(float) (10 * EstRngUniform(rng) - 5);
	return EstTransformFit(tf, X, 8, 10, errmsg) == EST_OK ? 0 : -1;
}

/*
 * EveryKindTransform declares a column of every kind and representation
 * and fits it on made-up rows: 8 columns, 10 inputs.
 */
static int
EveryKindTransform(EstTransform *tf, char *errmsg)
{
	static const char *const colors[3] = {"red", "green", "blue"};
	static const char *const words[5] = {"a", "b", "c", "a", "d"};
	static const double bounds[2] = {0, 10};
	EstFeatureColumn *col;
	float		X[6 * 10];
	int			i;

	memset(tf, 0, sizeof(*tf));
	tf->n_columns = 8;
	tf->columns = EstAllocZero(8, sizeof(EstFeatureColumn));
	if (tf->columns == NULL)
		return -1;
	Column(tf, 0, EST_FC_NUMERIC, "age");
	col = Column(tf, 1, EST_FC_BUCKETIZED, "price");
	col->boundaries = EstAlloc(sizeof(bounds));
	if (col->boundaries == NULL)
		return -1;
	memcpy(col->boundaries, bounds, sizeof(bounds));
	col->n_boundaries = 2;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 2;
	col->combiner = EST_COMBINER_SUM;
	col = Column(tf, 2, EST_FC_VOCABULARY, "color");
	col->vocab = EstAllocZero(3, sizeof(char *));
	if (col->vocab == NULL)
		return -1;
	for (i = 0; i < 3; i++)
		col->vocab[i] = Strdup(colors[i]);
	col->vocab_size = 3;
	col->num_oov = 1;
	col = Column(tf, 3, EST_FC_VOCABULARY, "city");
	col->learned = 1;
	col->multi = 1;
	col->max_values = 3;
	col->max_size = 2;
	col->num_oov = 1;
	col = Column(tf, 4, EST_FC_IDENTITY, "store");
	col->num_buckets = 5;
	col->default_id = 0;
	col->representation = EST_INPUT_EMBEDDING;
	col->dimension = 3;
	col->combiner = EST_COMBINER_SQRTN;
	Column(tf, 5, EST_FC_HASH, "word")->num_buckets = 6;
	Column(tf, 6, EST_FC_CROSSED, "pair")->num_buckets = 7;
	col = Column(tf, 7, EST_FC_VOCABULARY, "tag");
	col->learned = 1;
	col->hash_above = 2;
	col->auto_buckets = 4;
	col->auto_dimension = 2;
	if (EstTransformInit(tf, errmsg) != EST_OK || tf->n_inputs != 10)
		return -1;
	for (i = 0; i < 6; i++)
	{
		float	   *row = X + 10 * i;
		const char *pair[2] = {colors[i % 3], words[i % 5]};
		size_t		lens[2] = {strlen(pair[0]), strlen(pair[1])};
		int			k;

		row[0] = i == 2 ? NAN : (float) i;
		EstTransformBucket(tf, 1, 3.0 * i, &row[1]);
		if (EstTransformString(tf, 2, i == 4 ? "teal" : colors[i % 3],
							   i == 4 ? 4 : strlen(colors[i % 3]), &row[2],
							   errmsg) != EST_OK)
			return -1;
		for (k = 0; k < 3; k++)
		{
			if (k > i % 3)
				row[3 + k] = -1.0f;
			else if (EstTransformString(tf, 3, words[(i + k) % 5], 1,
										&row[3 + k], errmsg) != EST_OK)
				return -1;
		}
		if (EstTransformInteger(tf, 4, i, &row[6], errmsg) != EST_OK ||
			EstTransformString(tf, 5, words[i % 5], 1, &row[7],
							   errmsg) != EST_OK)
			return -1;
		EstTransformCross(tf, 6, pair, lens, &row[8]);
		if (i == 1)
			EstTransformNull(tf, 7, &row[9]);
		else if (EstTransformString(tf, 7, words[i % 5], 1, &row[9],
									errmsg) != EST_OK)
			return -1;
	}
	return EstTransformFit(tf, X, 5, 6, errmsg) == EST_OK ? 0 : -1;
}

/*
 * A seed: the network's shape and options and the optimizers of its DNN
 * and linear parts.
 */
typedef struct Seed
{
	int			n_hidden;
	EstActivation activation;
	EstHead		head;
	EstReduction reduction;
	int			dnn_subset;		/* DNN reads inputs 3, 0 */
	int			linear;			/* linear part on inputs 1, 2, 3 */
	int			batch_norm;
	double		dropout;
	EstOptimizerKind kind;
	EstOptimizerKind linear_kind;
	int			categorical;	/* feature columns of every kind */
} Seed;

/*
 * Train applies a few optimizer steps with made-up gradients, so that
 * the slots hold values of every sign.
 */
static void
Train(EstOptimizer *opt, float *params, EstRng *rng)
{
	float	   *grad = malloc(sizeof(float) * (opt->n > 0 ? opt->n : 1));
	size_t		i;
	int			k;

	for (k = 0; k < 3; k++)
	{
		for (i = 0; i < opt->n; i++)
			grad[i] = (float) (EstRngUniform(rng) - 0.5);
		EstOptimizerApply(opt, params, grad);
	}
	free(grad);
}

/*
 * WriteFile writes len bytes to DIR/seed-N.
 */
static int
WriteFile(const char *dir, int n, const uint8_t *buf, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/seed-%d", dir, n);
	f = fopen(path, "wb");
	if (f == NULL)
		return -1;
	if (fwrite(buf, 1, len, f) != len)
	{
		fclose(f);
		return -1;
	}
	return fclose(f) == 0 ? 0 : -1;
}

static uint8_t *
Put32(uint8_t *p, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
	return p + 4;
}

static uint8_t *
Put64(uint8_t *p, uint64_t v)
{
	p = Put32(p, (uint32_t) v);
	return Put32(p, (uint32_t) (v >> 32));
}

static uint8_t *
PutF64(uint8_t *p, double d)
{
	uint64_t	bits;

	memcpy(&bits, &d, 8);
	return Put64(p, bits);
}

/*
 * WriteVersion1 writes a checkpoint in the layout of estimator 0.1.0
 * (format 1: no input segments, a FEAT section): a linear softmax model
 * of 2 inputs and 2 outputs with an sgd optimizer.
 */
static int
WriteVersion1(const char *dir, int n)
{
	uint8_t		buf[512];
	uint8_t    *p = buf;
	EstOptimizer opt;
	int			i;

	EstOptimizerDefaults(&opt, EST_OPT_SGD);
	memcpy(p, EST_CHECKPOINT_MAGIC, 8);
	p = Put32(p + 8, 1);
	p = Put64(p, 0);			/* total, below */
	p = Put32(p, 4);
	memcpy(p, "NETW", 4);
	p = Put64(p + 4, 104);
	p = Put32(p, 2);
	p = Put32(p, 1);
	p = Put32(p, EST_ACT_RELU);
	p = Put32(p, EST_HEAD_SOFTMAX);
	p = Put32(p, EST_REDUCE_SUM_OVER_BATCH_SIZE);
	p = Put32(p, 2);
	p = Put32(p, 2);
	p = Put32(p, 0);
	p = Put32(p, 0);
	p = Put32(p, 0);
	p = PutF64(p, 0.99);
	p = PutF64(p, 0.001);
	p = PutF64(p, 0.0);
	p = Put64(p, 6);
	for (i = 0; i < 6; i++)
	{
		float		w = 0.25f * (float) (i - 2);
		uint32_t	bits;

		memcpy(&bits, &w, 4);
		p = Put32(p, bits);
	}
	p = Put64(p, 0);
	memcpy(p, "OPTM", 4);
	p = Put64(p + 4, 128);
	p = Put32(p, EST_OPT_SGD);
	p = Put32(p, 0);
	p = PutF64(p, opt.learning_rate);
	p = PutF64(p, opt.beta1);
	p = PutF64(p, opt.beta2);
	p = PutF64(p, opt.epsilon);
	p = PutF64(p, opt.initial_accumulator);
	p = PutF64(p, opt.momentum);
	p = Put32(p, 0);
	p = PutF64(p, opt.rho);
	p = Put32(p, 0);
	p = PutF64(p, opt.lr_power);
	p = PutF64(p, opt.l1);
	p = PutF64(p, opt.l2);
	p = PutF64(p, opt.l2_shrinkage);
	p = PutF64(p, opt.beta);
	p = Put64(p, 3);
	p = Put64(p, 6);
	memcpy(p, "FEAT", 4);
	p = Put64(p + 4, 36);
	p = Put32(p, 2);
	p = PutF64(p, 1.5);
	p = PutF64(p, -2.0);
	p = PutF64(p, 2.0);
	p = PutF64(p, 0.5);
	memcpy(p, "STEP", 4);
	p = Put64(p + 4, 88);
	p = Put64(p, 7);
	for (i = 0; i < 4; i++)
		p = Put64(p, UINT64_C(0x0123456789ABCDEF) + (uint64_t) i);
	for (i = 0; i < 6; i++)
		p = Put64(p, 0);
	Put64(buf + 12, (uint64_t) (p - buf) + 4);
	p = Put32(p, EstCrc32c(0, buf, (size_t) (p - buf)));
	return WriteFile(dir, n, buf, (size_t) (p - buf));
}

/*
 * WriteSeed writes the checkpoint of the seed as DIR/seed-N; it returns 1
 * without writing anything for a seed of categorical columns when the
 * network ignores input segments.
 */
static int
WriteSeed(const char *dir, int n, const Seed *seed)
{
	static const int hidden[2] = {4, 3};
	static const int dnn_inputs[2] = {3, 0};
	static const int linear_inputs[3] = {1, 2, 3};
	static const int linear_categorical[3] = {0, 3, 7};	/* no embedding */
	EstCheckpoint ckpt;
	EstNetworkSpec spec;
	EstInputSegment segments[8];
	EstRng		rng;
	char		errmsg[EST_ERRMSG_LEN];
	uint8_t    *buf;
	size_t		len;
	size_t		i;
	int			written;

	memset(&ckpt, 0, sizeof(ckpt));
	memset(&spec, 0, sizeof(spec));
	EstRngSeed(&rng, (uint64_t) n + 1);
	if (seed->categorical)
	{
		if (EveryKindTransform(&ckpt.transform, errmsg) != 0)
			goto fail;
		EstTransformSegments(&ckpt.transform, segments);
		spec.n_segments = ckpt.transform.n_columns;
		spec.segments = segments;
	}
	else if (NumericTransform(&ckpt.transform, n, &rng, errmsg) != 0)
		goto fail;
	spec.n_inputs = ckpt.transform.n_inputs;
	spec.n_hidden = seed->n_hidden;
	spec.hidden = hidden;
	spec.head = seed->head;
	spec.n_outputs = seed->head == EST_HEAD_SIGMOID ? 1 :
		(seed->head == EST_HEAD_SOFTMAX ? 3 : 2);
	spec.activation = seed->activation;
	spec.reduction = seed->reduction;
	if (seed->dnn_subset)
	{
		spec.n_dnn_inputs = 2;
		spec.dnn_inputs = dnn_inputs;
	}
	if (seed->linear)
	{
		spec.n_linear_inputs = 3;
		spec.linear_inputs = seed->categorical ? linear_categorical :
			linear_inputs;
	}
	spec.batch_norm = seed->batch_norm;
	spec.dropout = seed->dropout;

	if (EstNetworkInit(&ckpt.net, &spec, &rng, errmsg) != EST_OK)
		goto fail;
	if (seed->categorical && ckpt.net.n_segments == 0)
	{
		/* network.c without input segments: nothing to write */
		EstCheckpointFree(&ckpt);
		return 1;
	}
	for (i = 0; i < ckpt.net.n_stats; i++)
		ckpt.net.stats[i] = (float) EstRngUniform(&rng);
	EstOptimizerDefaults(&ckpt.opt, seed->kind);
	if (seed->kind == EST_OPT_RMSPROP)
	{
		ckpt.opt.momentum = 0.5;
		ckpt.opt.centered = n % 2;
	}
	if (seed->kind == EST_OPT_MOMENTUM)
		ckpt.opt.nesterov = n % 2;
	if (seed->kind == EST_OPT_FTRL)
	{
		ckpt.opt.l1 = 0.01;
		ckpt.opt.l2_shrinkage = 0.1;
		ckpt.opt.beta = 0.5;
	}
	if (EstOptimizerInit(&ckpt.opt, ckpt.net.linear_offset, errmsg) != EST_OK)
		goto fail;
	Train(&ckpt.opt, ckpt.net.params, &rng);
	if (seed->linear)
	{
		EstOptimizerDefaults(&ckpt.opt_linear, seed->linear_kind);
		if (EstOptimizerInit(&ckpt.opt_linear,
							 ckpt.net.n_params - ckpt.net.linear_offset,
							 errmsg) != EST_OK)
			goto fail;
		Train(&ckpt.opt_linear, ckpt.net.params + ckpt.net.linear_offset,
			  &rng);
	}
	if (ckpt.net.head == EST_HEAD_SQUARED &&
		EstFeatureStateInit(&ckpt.labels, ckpt.net.sizes[ckpt.net.n_layers],
							errmsg) != EST_OK)
		goto fail;
	ckpt.global_step = 100 * n;
	ckpt.rng = rng;
	ckpt.epoch.rng = rng;
	ckpt.epoch.n_rows = 150;
	ckpt.epoch.position = (uint64_t) (10 * n) % 151;
	if (EstCheckpointEncode(&ckpt, &buf, &len, errmsg) != EST_OK)
		goto fail;
	written = WriteFile(dir, n, buf, len);
	EstFree(buf);
	EstCheckpointFree(&ckpt);
	return written;

fail:
	fprintf(stderr, "seed %d: %s\n", n, errmsg);
	EstCheckpointFree(&ckpt);
	return -1;
}

int
main(int argc, char **argv)
{
	static const Seed seeds[] = {
		/* hidden, activation, head, reduction, dnn subset, linear, bn,
		 * dropout, optimizer, linear optimizer, categorical */
		{0, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 0, 0, 0.0, EST_OPT_SGD, 0, 0},
		{1, EST_ACT_TANH, EST_HEAD_SOFTMAX, EST_REDUCE_SUM, 0, 0, 0, 0.0,
		EST_OPT_ADAGRAD, 0, 0},
		{2, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 0, 1, 0.0, EST_OPT_ADAM, 0, 0},
		{2, EST_ACT_ELU, EST_HEAD_SQUARED, EST_REDUCE_MEAN, 0, 0, 0, 0.25,
		EST_OPT_MOMENTUM, 0, 0},
		{1, EST_ACT_LEAKY_RELU, EST_HEAD_SIGMOID, 0, 0, 0, 1, 0.5,
		EST_OPT_RMSPROP, 0, 0},
		{2, EST_ACT_GELU, EST_HEAD_SIGMOID, 0, 1, 1, 0, 0.0, EST_OPT_ADAGRAD,
		EST_OPT_FTRL, 0},
		{1, EST_ACT_SIGMOID, EST_HEAD_SOFTMAX, 0, 0, 1, 1, 0.1, EST_OPT_ADAM,
		EST_OPT_FTRL, 0},
		{0, EST_ACT_LINEAR, EST_HEAD_SIGMOID, 0, 0, 0, 0, 0.0, EST_OPT_FTRL, 0, 0},
		{2, EST_ACT_RELU, EST_HEAD_SQUARED, 0, 1, 1, 1, 0.3, EST_OPT_RMSPROP,
		EST_OPT_MOMENTUM, 0},
		{1, EST_ACT_TANH, EST_HEAD_SOFTMAX, 0, 1, 0, 0, 0.0, EST_OPT_RMSPROP, 0, 0},
		{2, EST_ACT_ELU, EST_HEAD_SIGMOID, EST_REDUCE_SUM, 0, 1, 1, 0.2,
		EST_OPT_FTRL, EST_OPT_SGD, 0},
		{1, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 1, 0, 0.0, EST_OPT_MOMENTUM,
		EST_OPT_ADAGRAD, 0},
		/* feature columns of every kind */
		{1, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 0, 0, 0.0, EST_OPT_ADAGRAD,
		0, 1},
		{2, EST_ACT_TANH, EST_HEAD_SQUARED, 0, 1, 1, 1, 0.2, EST_OPT_ADAM,
		EST_OPT_FTRL, 1},
		{0, EST_ACT_LINEAR, EST_HEAD_SIGMOID, 0, 0, 1, 0, 0.0, EST_OPT_FTRL,
		EST_OPT_SGD, 1},
	};
	size_t		i;
	int			skipped = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
	{
		int			status = WriteSeed(argv[1], (int) i, &seeds[i]);

		if (status < 0)
		{
			fprintf(stderr, "%s: could not write the seeds\n", argv[0]);
			return 1;
		}
		skipped += status;
	}
	if (WriteVersion1(argv[1], (int) i) != 0)
	{
		fprintf(stderr, "%s: could not write the seeds\n", argv[0]);
		return 1;
	}
	if (skipped > 0)
		fprintf(stderr, "%s: %d seeds of categorical columns skipped: the network ignores input segments\n",
				argv[0], skipped);
	return 0;
}
