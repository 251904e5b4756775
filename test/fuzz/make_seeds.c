/*-------------------------------------------------------------------------
 *
 * make_seeds.c
 *	  Writes real checkpoints as the seed corpus of fuzz_checkpoint: every
 *	  head, activation and optimizer kind, batch normalisation, dropout,
 *	  DNN input subsets and linear parts with an optimizer of their own.
 *
 *	  usage: make_seeds DIRECTORY
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

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

static int
WriteSeed(const char *dir, int n, const Seed *seed)
{
	static const int hidden[2] = {4, 3};
	static const int dnn_inputs[2] = {3, 0};
	static const int linear_inputs[3] = {1, 2, 3};
	EstCheckpoint ckpt;
	EstNetworkSpec spec;
	EstRng		rng;
	char		errmsg[EST_ERRMSG_LEN];
	char		path[4096];
	uint8_t    *buf;
	size_t		len;
	size_t		i;
	FILE	   *f;

	memset(&ckpt, 0, sizeof(ckpt));
	memset(&spec, 0, sizeof(spec));
	spec.n_inputs = 4;
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
		spec.linear_inputs = linear_inputs;
	}
	spec.batch_norm = seed->batch_norm;
	spec.dropout = seed->dropout;

	EstRngSeed(&rng, (uint64_t) n + 1);
	if (EstNetworkInit(&ckpt.net, &spec, &rng, errmsg) != EST_OK)
		goto fail;
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
	if (EstFeatureStateInit(&ckpt.features, 4, errmsg) != EST_OK)
		goto fail;
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
	snprintf(path, sizeof(path), "%s/seed-%d", dir, n);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		return -1;
	EstFree(buf);
	EstCheckpointFree(&ckpt);
	return 0;

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
		 * dropout, optimizer, linear optimizer */
		{0, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 0, 0, 0.0, EST_OPT_SGD, 0},
		{1, EST_ACT_TANH, EST_HEAD_SOFTMAX, EST_REDUCE_SUM, 0, 0, 0, 0.0,
		EST_OPT_ADAGRAD, 0},
		{2, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 0, 1, 0.0, EST_OPT_ADAM, 0},
		{2, EST_ACT_ELU, EST_HEAD_SQUARED, EST_REDUCE_MEAN, 0, 0, 0, 0.25,
		EST_OPT_MOMENTUM, 0},
		{1, EST_ACT_LEAKY_RELU, EST_HEAD_SIGMOID, 0, 0, 0, 1, 0.5,
		EST_OPT_RMSPROP, 0},
		{2, EST_ACT_GELU, EST_HEAD_SIGMOID, 0, 1, 1, 0, 0.0, EST_OPT_ADAGRAD,
		EST_OPT_FTRL},
		{1, EST_ACT_SIGMOID, EST_HEAD_SOFTMAX, 0, 0, 1, 1, 0.1, EST_OPT_ADAM,
		EST_OPT_FTRL},
		{0, EST_ACT_LINEAR, EST_HEAD_SIGMOID, 0, 0, 0, 0, 0.0, EST_OPT_FTRL, 0},
		{2, EST_ACT_RELU, EST_HEAD_SQUARED, 0, 1, 1, 1, 0.3, EST_OPT_RMSPROP,
		EST_OPT_MOMENTUM},
		{1, EST_ACT_TANH, EST_HEAD_SOFTMAX, 0, 1, 0, 0, 0.0, EST_OPT_RMSPROP, 0},
		{2, EST_ACT_ELU, EST_HEAD_SIGMOID, EST_REDUCE_SUM, 0, 1, 1, 0.2,
		EST_OPT_FTRL, EST_OPT_SGD},
		{1, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0, 0, 1, 0, 0.0, EST_OPT_MOMENTUM,
		EST_OPT_ADAGRAD},
	};
	size_t		i;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
		return 2;
	}
	for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
	{
		if (WriteSeed(argv[1], (int) i, &seeds[i]) != 0)
		{
			fprintf(stderr, "%s: could not write the seeds\n", argv[0]);
			return 1;
		}
	}
	return 0;
}
