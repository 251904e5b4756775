/*-------------------------------------------------------------------------
 *
 * same_floats.c
 *	  Prints one hash of the floats that training and scoring give, so that
 *	  two builds can be compared: `make unit` builds it with the AVX2
 *	  variants of the core's loops (EST_CLONES, LayerOne) and without them
 *	  (-DEST_NO_CLONES), and the two hashes must be equal, whatever the
 *	  CPU the variants run on.
 *
 * Each network trains 20 steps of a batch of 37 random rows with every
 * activation and optimizer, with layer widths below, at and past the
 * vector widths (5, 67, 130), with batch normalisation and dropout too,
 * and five classes; then 8 and 100 classes (softmax's vector exponentials
 * and the one-row logits' blocks); then it scores rows one at a time and
 * in a batch.  The hash covers the weights, the optimizer slots, the
 * losses and the scores, bit for bit.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

#define ROWS 37
#define INPUTS 11
#define MAX_CLASSES 100

static uint64_t hash = UINT64_C(14695981039346656037);

/* HashBytes folds n bytes into the FNV-1a hash */
static void
HashBytes(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
	{
		hash ^= b[i];
		hash *= UINT64_C(1099511628211);
	}
}

static void
Fail(const char *what, const char *errmsg)
{
	fprintf(stderr, "same_floats: %s: %s\n", what, errmsg);
	exit(1);
}

static void
TrainAndScore(EstActivation act, EstOptimizerKind kind, int batch_norm,
			  double dropout, const int *hidden, int n_hidden, int classes,
			  EstRng *rng)
{
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		X[ROWS * INPUTS];
	float		y[ROWS];
	double		out[MAX_CLASSES];
	double		probs[ROWS * MAX_CLASSES];
	float	   *scratch;

	memset(&spec, 0, sizeof(spec));
	spec.n_inputs = INPUTS;
	spec.hidden = hidden;
	spec.n_hidden = n_hidden;
	spec.n_outputs = classes;
	spec.activation = act;
	spec.head = EST_HEAD_SOFTMAX;
	spec.batch_norm = batch_norm;
	spec.dropout = dropout;
	if (EstNetworkInit(&net, &spec, rng, err) != EST_OK)
		Fail("network", err);
	if (EstWorkspaceInit(&ws, &net, ROWS, err) != EST_OK)
		Fail("workspace", err);
	EstOptimizerDefaults(&opt, kind);
	opt.learning_rate = 0.05;
	if (EstOptimizerInit(&opt, net.n_params, err) != EST_OK)
		Fail("optimizer", err);
	for (int i = 0; i < ROWS * INPUTS; i++)
		X[i] = (float) (4.0 * EstRngUniform(rng) - 2.0);
	for (int i = 0; i < ROWS; i++)
		y[i] = (float) EstRngBounded(rng, (uint64_t) classes);

	for (int step = 0; step < 20; step++)
	{
		double		loss;

		EstNetworkForwardTrain(&net, &ws, X, ROWS, rng);
		loss = EstHeadLoss(&net, &ws, y, NULL, ROWS, 1);
		EstNetworkBackward(&net, &ws, X, ROWS);
		EstOptimizerApply(&opt, net.params, ws.grad);
		HashBytes(&loss, sizeof(loss));
	}
	HashBytes(net.params, net.n_params * sizeof(float));
	if (net.n_stats > 0)
		HashBytes(net.stats, net.n_stats * sizeof(float));
	for (int s = 0; s < EstOptimizerSlotCount(&opt); s++)
		HashBytes(opt.slot[s], net.n_params * sizeof(float));

	scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
	for (int i = 0; i < ROWS; i++)
	{
		EstNetworkPredictOne(&net, X + i * INPUTS, scratch, out);
		HashBytes(out, sizeof(double) * classes);
	}
	free(scratch);
	EstNetworkForward(&net, &ws, X, ROWS);
	EstHeadProbabilities(&net, &ws, ROWS, probs);
	HashBytes(probs, sizeof(double) * ROWS * classes);

	EstOptimizerFree(&opt);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

int
main(void)
{
	static const int shapes[][2] = {{5, 3}, {67, 130}, {130, 64}};
	EstRng		rng;

	EstRngSeed(&rng, 2024);
	for (int act = EST_ACT_RELU; act <= EST_ACT_GELU; act++)
		for (int kind = EST_OPT_SGD; kind <= EST_OPT_FTRL; kind++)
			for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
				TrainAndScore((EstActivation) act, (EstOptimizerKind) kind,
							  (int) s == 1, s == 2 ? 0.25 : 0.0,
							  shapes[s], 2, 5, &rng);
	/* softmax's vector exponentials and the logits' blocks of 16 outputs */
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
		TrainAndScore(EST_ACT_RELU, EST_OPT_ADAGRAD, 0, 0.0, shapes[s], 2,
					  s == 0 ? 8 : MAX_CLASSES, &rng);
	printf("%016llx\n", (unsigned long long) hash);
	return 0;
}
