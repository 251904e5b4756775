/*-------------------------------------------------------------------------
 *
 * test_network.c
 *	  Tests of network specifications, the forward pass, batch
 *	  normalisation, dropout, the linear part, the heads and the backward
 *	  pass.
 *
 * The gradient checks compare EstNetworkBackward with central finite
 * differences of EstHeadLoss (plus EstNetworkPenalty where a penalty is
 * tested).  The network computes in float32, so the step is 1e-3 and the
 * loss is evaluated in double from float logits: the rounding noise of a
 * difference quotient is then about 1e-5, far below the tolerance of
 * 1e-3 + 1e-2 * |gradient| per parameter.  The relative error of the
 * whole gradient must also stay below 2e-3.  A deliberately wrong
 * gradient must fail.  Each check also demands a gradient that is not
 * trivially small and mostly nonzero, so that it cannot pass by comparing
 * zeros.  Training forwards re-seed their generator before every
 * evaluation, so that every evaluation draws the same dropout masks.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/*
 * FillUniform fills v with uniform values in [lo, hi).
 */
static void
FillUniform(EstRng *rng, float *v, size_t n, double lo, double hi)
{
	size_t		i;

	for (i = 0; i < n; i++)
		v[i] = (float) (lo + (hi - lo) * EstRngUniform(rng));
}

/* ----------------------------------------------------------------
 * Initialisation and limits
 * ----------------------------------------------------------------
 */
void
TestNetworkInit(void)
{
	EstNetwork	net;
	EstNetwork	net2;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	int			hidden[2] = {5, 4};
	size_t		i;
	int			l;
	int			out_of_range = 0;
	int			zero_kernel = 0;
	int			nonzero_bias = 0;

	EstRngSeed(&rng, 1);
	CHECK(UnitNetworkInit(&net, 3, hidden, 2, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(net.n_layers == 3 && net.n_inputs == 3);
	CHECK(net.sizes[0] == 3 && net.sizes[1] == 5 && net.sizes[2] == 4 &&
		  net.sizes[3] == 2);
	/* 3*5+5 + 5*4+4 + 4*2+2 = 20 + 24 + 10 */
	CHECK(net.n_params == 54 && net.linear_offset == 54);
	CHECK(net.n_stats == 0 && net.stats == NULL);
	CHECK(net.reduction == EST_REDUCE_SUM_OVER_BATCH_SIZE);
	CHECK(net.bn_momentum == 0.99 && net.bn_epsilon == 0.001);
	CHECK(net.offset_w[0] == 0 && net.offset_b[0] == 15);
	CHECK(net.offset_w[1] == 20 && net.offset_b[1] == 40);
	CHECK(net.offset_w[2] == 44 && net.offset_b[2] == 52);

	for (l = 0; l < net.n_layers; l++)
	{
		double		limit = sqrt(6.0 / (net.sizes[l] + net.sizes[l + 1]));
		size_t		count = (size_t) net.sizes[l] * net.sizes[l + 1];

		for (i = 0; i < count; i++)
		{
			float		w = net.params[net.offset_w[l] + i];

			if (!(fabs(w) <= limit))
				out_of_range++;
			if (w == 0.0f)
				zero_kernel++;
		}
		for (i = 0; i < (size_t) net.sizes[l + 1]; i++)
			if (net.params[net.offset_b[l] + i] != 0.0f)
				nonzero_bias++;
	}
	CHECK(out_of_range == 0);
	CHECK(zero_kernel == 0);
	CHECK(nonzero_bias == 0);

	/* kernels are (2u - 1) * limit, drawn in parameter order */
	EstRngSeed(&rng, 1);
	{
		double		limit0 = sqrt(6.0 / 8.0);
		double		limit1 = sqrt(6.0 / 9.0);
		float		first = (float) ((2.0 * EstRngUniform(&rng) - 1.0) * limit0);
		int			k;

		CHECK(net.params[0] == first);
		for (k = 1; k < 15; k++)
			(void) EstRngUniform(&rng);
		CHECK(net.params[20] ==
			  (float) ((2.0 * EstRngUniform(&rng) - 1.0) * limit1));
	}

	/* the same seed gives the same network */
	EstRngSeed(&rng, 1);
	CHECK(UnitNetworkInit(&net2, 3, hidden, 2, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(memcmp(net.params, net2.params, sizeof(float) * net.n_params) == 0);
	EstNetworkFree(&net2);

	/* without rng every parameter is zero */
	CHECK(UnitNetworkInit(&net2, 3, hidden, 2, 2, EST_ACT_TANH,
						  EST_HEAD_SQUARED, NULL, err) == EST_OK);
	{
		int			nonzero = 0;

		for (i = 0; i < net2.n_params; i++)
			if (net2.params[i] != 0.0f)
				nonzero++;
		CHECK(nonzero == 0);
	}
	EstNetworkFree(&net2);
	EstNetworkFree(&net);
	CHECK(net.params == NULL);
	EstNetworkFree(&net);		/* twice is harmless */

	/* a linear model */
	CHECK(UnitNetworkInit(&net, 4, NULL, 0, 3, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(net.n_layers == 1 && net.n_params == 15);
	{
		EstNetworkSpec spec;

		UnitSpec(&spec, 4, NULL, 0, 3, EST_ACT_RELU, EST_HEAD_SOFTMAX);
		CHECK(EstNetworkParamCount(&spec) == 15);
	}
	EstNetworkFree(&net);
}

/*
 * A 6-input network whose DNN reads inputs (5, 0) through hidden layers
 * of 3 and 2 units with batch_norm, and whose linear part reads inputs
 * (1, 2, 4), with 2 outputs:
 *	 W0 2x3 at 0, b0 at 6, W1 3x2 at 9, b1 at 15, W2 2x2 at 17, b2 at 21,
 *	 gamma1 at 23, beta1 at 26, gamma2 at 29, beta2 at 31,
 *	 linear kernel 3x2 at 33, linear bias at 39: 41 parameters;
 *	 statistics: layer 1 at 0 (mean 3, variance 3), layer 2 at 6: 10.
 * Glorot draws: 6 for W0, 6 for W1, 4 for W2, then 6 for the linear
 * kernel.
 */
void
TestNetworkInitLayout(void)
{
	static const int hidden[2] = {3, 2};
	static const int dnn[2] = {5, 0};
	static const int lin[3] = {1, 2, 4};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	int			k;

	UnitSpec(&spec, 6, hidden, 2, 2, EST_ACT_ELU, EST_HEAD_SOFTMAX);
	spec.n_dnn_inputs = 2;
	spec.dnn_inputs = dnn;
	spec.n_linear_inputs = 3;
	spec.linear_inputs = lin;
	spec.batch_norm = 1;
	spec.bn_momentum = 0.9;
	spec.bn_epsilon = 0.01;
	spec.dropout = 0.25;
	spec.reduction = EST_REDUCE_MEAN;
	CHECK(EstNetworkParamCount(&spec) == 41);
	EstRngSeed(&rng, 5);
	CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
	CHECK(net.n_inputs == 6 && net.sizes[0] == 2 && net.n_layers == 3);
	CHECK(net.n_dnn_inputs == 2 && net.dnn_inputs[0] == 5 &&
		  net.dnn_inputs[1] == 0);
	CHECK(net.n_linear_inputs == 3 && net.linear_inputs[2] == 4);
	CHECK(net.n_params == 41 && net.linear_offset == 33);
	CHECK(net.offset_w[0] == 0 && net.offset_b[0] == 6);
	CHECK(net.offset_w[1] == 9 && net.offset_b[1] == 15);
	CHECK(net.offset_w[2] == 17 && net.offset_b[2] == 21);
	CHECK(net.offset_gamma[1] == 23 && net.offset_beta[1] == 26);
	CHECK(net.offset_gamma[2] == 29 && net.offset_beta[2] == 31);
	CHECK(net.n_stats == 10 && net.offset_stats[1] == 0 &&
		  net.offset_stats[2] == 6);
	CHECK(net.bn_momentum == 0.9 && net.bn_epsilon == 0.01 &&
		  net.dropout == 0.25 && net.reduction == EST_REDUCE_MEAN &&
		  net.batch_norm == 1);
	CHECK(net.params[23] == 1.0f && net.params[25] == 1.0f &&
		  net.params[30] == 1.0f);
	CHECK(net.params[26] == 0.0f && net.params[32] == 0.0f);
	CHECK(net.params[39] == 0.0f && net.params[40] == 0.0f);
	CHECK(net.stats[0] == 0.0f && net.stats[3] == 1.0f &&
		  net.stats[5] == 1.0f && net.stats[6] == 0.0f &&
		  net.stats[8] == 1.0f && net.stats[9] == 1.0f);

	/* the linear kernel is drawn after the 16 dense kernel weights */
	EstRngSeed(&rng, 5);
	for (k = 0; k < 16; k++)
		(void) EstRngUniform(&rng);
	CHECK(net.params[33] ==
		  (float) ((2.0 * EstRngUniform(&rng) - 1.0) * sqrt(6.0 / 5.0)));
	CHECK(net.params[34] != 0.0f && net.params[38] != 0.0f);
	EstNetworkFree(&net);
	CHECK(net.dnn_inputs == NULL && net.stats == NULL);

	/* batch_norm without hidden layers has nothing to normalise */
	UnitSpec(&spec, 3, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SIGMOID);
	spec.batch_norm = 1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_OK);
	CHECK(net.n_params == 4 && net.n_stats == 0);
	EstNetworkFree(&net);
}

/*
 * EstWorkspaceRows keeps a block's row buffers within the budget: the
 * benchmark's network keeps its 1024 rows, one hidden layer of 65536 units
 * (three buffers of it and two of the 3 logits a row) gets 21 rows of
 * 16 MB, and a budget below one row still gives one.
 */
void
TestWorkspaceRows(void)
{
	EstNetwork	net;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	int			small[2] = {64, 64};
	int			wide[1] = {65536};
	size_t		budget = 16 * 1024 * 1024;

	EstRngSeed(&rng, 1);
	CHECK(UnitNetworkInit(&net, 32, small, 2, 4, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(EstWorkspaceRows(&net, 1024, budget) == 1024);
	EstNetworkFree(&net);

	CHECK(UnitNetworkInit(&net, 4, wide, 1, 3, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECKF(EstWorkspaceRows(&net, 1024, budget) ==
		   (int) (budget / ((65536 * 3 + 3 * 2) * sizeof(float))),
		   "rows %d", EstWorkspaceRows(&net, 1024, budget));
	CHECK(EstWorkspaceRows(&net, 1024, budget) == 21);
	CHECK(EstWorkspaceRows(&net, 1024, 1000) == 1);
	EstNetworkFree(&net);
}

void
TestNetworkLimits(void)
{
	EstNetwork	net;
	EstNetworkSpec spec;
	char		err[EST_ERRMSG_LEN];
	int			hidden[EST_MAX_LAYERS + 1];
	int			big[2] = {65536, 4096};
	int			idx[2] = {0, 1};
	int			i;
	long		allocs_before;

	for (i = 0; i < EST_MAX_LAYERS + 1; i++)
		hidden[i] = 2;

	CHECK(UnitNetworkInit(&net, 2, hidden, EST_MAX_LAYERS, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_OK);
	EstNetworkFree(&net);

	allocs_before = unit_total_allocs;
	CHECK(UnitNetworkInit(&net, 2, hidden, EST_MAX_LAYERS + 1, 2,
						  EST_ACT_RELU, EST_HEAD_SOFTMAX, NULL,
						  err) == EST_ELIMIT);
	CHECK(strstr(err, "33") != NULL && strstr(err, "32") != NULL);
	CHECK(net.params == NULL && net.n_layers == 0);

	CHECK(UnitNetworkInit(&net, 0, hidden, 1, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, EST_MAX_UNITS + 1, hidden, 1, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	CHECK(strstr(err, "65537") != NULL && strstr(err, "65536") != NULL);
	hidden[0] = 0;
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	hidden[0] = EST_MAX_UNITS + 1;
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	CHECK(strstr(err, "65537") != NULL && strstr(err, "65536") != NULL);
	hidden[0] = 2;
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 0, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, EST_MAX_CLASSES + 1,
						  EST_ACT_RELU, EST_HEAD_SOFTMAX, NULL,
						  err) == EST_ELIMIT);
	CHECK(UnitNetworkInit(&net, 2, hidden, -1, 2, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, (EstActivation) 8,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, (EstActivation) 0,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						  (EstHead) 0, NULL, err) == EST_EINVAL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						  (EstHead) 4, NULL, err) == EST_EINVAL);
	/* the sigmoid head has one output, softmax at least two */
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						  EST_HEAD_SIGMOID, NULL, err) == EST_EINVAL);
	CHECK(strstr(err, "sigmoid") != NULL);
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 1, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);

	/* inconsistent options */
	UnitSpec(&spec, 2, hidden, 1, 2, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.reduction = (EstReduction) 4;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.reduction = 0;
	spec.dropout = 1.0;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.dropout = -0.1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.dropout = NAN;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.dropout = 0.0;
	spec.bn_momentum = 1.0;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.bn_momentum = -0.5;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.bn_momentum = 0.0;
	spec.bn_epsilon = -1e-3;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.bn_epsilon = INFINITY;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.bn_epsilon = 0.0;
	spec.n_dnn_inputs = 2;
	spec.dnn_inputs = NULL;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.dnn_inputs = idx;
	idx[1] = 2;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	CHECK(EstNetworkParamCount(&spec) == 0);
	idx[1] = -1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	idx[1] = 1;
	spec.n_dnn_inputs = -1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.n_dnn_inputs = EST_MAX_UNITS + 1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_ELIMIT);
	CHECK(strstr(err, "65537") != NULL && strstr(err, "65536") != NULL);
	spec.n_dnn_inputs = 2;
	spec.n_linear_inputs = 2;
	spec.linear_inputs = NULL;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	spec.linear_inputs = idx;
	idx[0] = 5;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_EINVAL);
	idx[0] = 0;
	spec.n_linear_inputs = EST_MAX_UNITS + 1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_ELIMIT);
	spec.n_linear_inputs = 2;
	CHECK(unit_total_allocs == allocs_before);
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	/* 2*2+2 + 2*2+2 + linear 2*2+2 */
	CHECK(net.n_params == 18 && net.linear_offset == 12);
	EstNetworkFree(&net);

	/*
	 * 65536 * 4096 + 4096 + 4096 * 10 + 10 = 268480522 parameters, just
	 * over the limit of 2^28 = 268435456.
	 */
	allocs_before = unit_total_allocs;
	CHECK(UnitNetworkInit(&net, 65536, &big[1], 1, 10, EST_ACT_RELU,
						  EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	CHECKF(strcmp(err, "network needs 268480522 parameters, the limit is 268435456") == 0,
		   "message: %s", err);
	UnitSpec(&spec, 65536, &big[1], 1, 10, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	CHECK(EstNetworkParamCount(&spec) == 0);
	/* 65535 * 4096 + 4096 is exactly the limit; a linear part pushes it over */
	UnitSpec(&spec, 65535, NULL, 0, 4096, EST_ACT_RELU, EST_HEAD_SQUARED);
	CHECK(EstNetworkParamCount(&spec) == EST_MAX_PARAMS);
	spec.n_linear_inputs = 1;
	spec.linear_inputs = idx;
	CHECK(EstNetworkParamCount(&spec) == 0);
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_ELIMIT);
	CHECKF(strcmp(err, "network needs 268443648 parameters, the limit is 268435456") == 0,
		   "message: %s", err);
	/* the largest shape of all does not overflow the count */
	for (i = 0; i < EST_MAX_LAYERS; i++)
		hidden[i] = EST_MAX_UNITS;
	UnitSpec(&spec, EST_MAX_UNITS, hidden, EST_MAX_LAYERS, EST_MAX_CLASSES,
			 EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.batch_norm = 1;
	CHECK(EstNetworkParamCount(&spec) == 0);
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_ELIMIT);
	UnitSpec(&spec, 0, hidden, 1, 2, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	CHECK(EstNetworkParamCount(&spec) == 0);
	/* nothing was allocated by any failed call */
	CHECK(unit_total_allocs == allocs_before);
	(void) big[0];
}

/* ----------------------------------------------------------------
 * Forward pass
 * ----------------------------------------------------------------
 */

/*
 * A 2-2-1 network with hand-set weights:
 *	 W0 = [[1, -1], [2, 0.5]] (rows are inputs), b0 = [0.5, -1]
 *	 W1 = [[2], [-3]], b1 = [0.25]
 * For x = (1, 2): pre = (1*1 + 2*2 + 0.5, 1*-1 + 2*0.5 - 1) = (5.5, -1),
 * relu (5.5, 0), output 2 * 5.5 - 3 * 0 + 0.25 = 11.25.
 * For x = (-1, 0.5): pre = (-1 + 1 + 0.5, 1 + 0.25 - 1) = (0.5, 0.25),
 * output 1 - 0.75 + 0.25 = 0.5.
 * With another activation f the output is 2 f(5.5) - 3 f(-1) + 0.25:
 * elu f(-1) = e^-1 - 1, leaky_relu f(-1) = -0.2, gelu f(x) = x Phi(x).
 */
void
TestForwardByHand(void)
{
	static const float params[] = {1, -1, 2, 0.5f, 0.5f, -1, 2, -3, 0.25f};
	static const float X[] = {1, 2, -1, 0.5f};
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	int			hidden[1] = {2};
	float		scratch[8];
	double		out;
	double		gelu55 = 5.5 * 0.5 * (1 + erf(5.5 / sqrt(2.0)));
	double		gelum1 = -1.0 * 0.5 * (1 + erf(-1.0 / sqrt(2.0)));

	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 1, EST_ACT_RELU,
						  EST_HEAD_SQUARED, NULL, err) == EST_OK);
	CHECK(net.n_params == 9);
	memcpy(net.params, params, sizeof(params));
	CHECK(EstWorkspaceInit(&ws, &net, 4, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabsf(ws.act[1][0] - 5.5f) < 1e-6f && ws.act[1][1] == 0.0f);
	CHECK(fabsf(ws.act[2][0] - 11.25f) < 1e-5f);
	CHECK(fabsf(ws.act[2][1] - 0.5f) < 1e-6f);
	CHECK(ws.training == 0);
	EstNetworkPredictOne(&net, X, scratch, &out);
	CHECK(fabs(out - 11.25) < 1e-6);

	net.activation = EST_ACT_TANH;
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabs(ws.act[2][0] - (2 * tanh(5.5) - 3 * tanh(-1.0) + 0.25)) < 1e-5);
	net.activation = EST_ACT_SIGMOID;
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabs(ws.act[2][0] - (2 / (1 + exp(-5.5)) - 3 / (1 + exp(1.0)) +
							   0.25)) < 1e-5);
	net.activation = EST_ACT_LINEAR;
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabs(ws.act[2][0] - (2 * 5.5 - 3 * -1.0 + 0.25)) < 1e-5);
	net.activation = EST_ACT_ELU;
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabs(ws.act[2][0] - (2 * 5.5 - 3 * (exp(-1.0) - 1) + 0.25)) < 1e-5);
	net.activation = EST_ACT_LEAKY_RELU;
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabs(ws.act[2][0] - (2 * 5.5 - 3 * -0.2 + 0.25)) < 1e-5);
	net.activation = EST_ACT_GELU;
	EstNetworkForward(&net, &ws, X, 2);
	CHECKF(fabs(ws.act[2][0] - (2 * gelu55 - 3 * gelum1 + 0.25)) < 1e-5,
		   "gelu %g", ws.act[2][0]);
	/* gelu(-1) = -0.158655..., the exact (not tanh) form */
	CHECK(fabs(gelum1 + 0.15865525393145707) < 1e-12);
	CHECK(fabs(ws.act[1][1] + 0.15865525f) < 1e-6f);

	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Batch normalisation by hand.  One input, one linear hidden unit with
 * W0 = 1, b0 = 0, gamma 2, beta 0.5, eps 0.001, momentum 0.99, and an
 * output W1 = 1, b1 = 0; rows x = 1, 2, 3.  Training: batch mean 2,
 * population variance 2/3, y = 2 (x - 2) / sqrt(2/3 + 0.001) + 0.5;
 * moving mean 0.99 * 0 + 0.01 * 2 = 0.02, moving variance 0.99 * 1 +
 * 0.01 * 2/3.  Inference then uses the moving statistics.
 */
void
TestBatchNormByHand(void)
{
	static const int hidden[1] = {1};
	static const float X[3] = {1, 2, 3};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	EstRng		before;
	char		err[EST_ERRMSG_LEN];
	float	   *scratch;
	double		out;
	double		sd = sqrt(2.0 / 3.0 + 0.001);
	double		mm = 0.02;
	double		mv = 0.99 + 0.01 * 2.0 / 3.0;
	int			i;

	UnitSpec(&spec, 1, hidden, 1, 1, EST_ACT_LINEAR, EST_HEAD_SQUARED);
	spec.batch_norm = 1;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_OK);
	CHECK(net.n_params == 2 + 2 + 2);
	net.params[net.offset_w[0]] = 1.0f;
	net.params[net.offset_w[1]] = 1.0f;
	net.params[net.offset_gamma[1]] = 2.0f;
	net.params[net.offset_beta[1]] = 0.5f;
	CHECK(EstWorkspaceInit(&ws, &net, 3, err) == EST_OK);

	EstRngSeed(&rng, 9);
	before = rng;
	EstNetworkForwardTrain(&net, &ws, X, 3, &rng);
	CHECK(ws.training == 1);
	/* without dropout the generator is not touched */
	CHECK(memcmp(&rng, &before, sizeof(rng)) == 0);
	for (i = 0; i < 3; i++)
		CHECKF(fabs(ws.act[2][i] - (2.0 * (X[i] - 2.0) / sd + 0.5)) < 1e-5,
			   "row %d: %g", i, ws.act[2][i]);
	CHECK(fabs(ws.batch_mean[1][0] - 2.0) < 1e-7);
	CHECK(fabs(ws.batch_inv_std[1][0] - 1.0 / sd) < 1e-6);
	CHECK(fabs(ws.pre[1][0] - (-1.0 / sd)) < 1e-6);
	CHECK(fabs(net.stats[0] - mm) < 1e-7);
	CHECK(fabs(net.stats[1] - mv) < 1e-7);

	EstNetworkForward(&net, &ws, X, 3);
	CHECK(ws.training == 0);
	for (i = 0; i < 3; i++)
		CHECKF(fabs(ws.act[2][i] - (2.0 * (X[i] - mm) / sqrt(mv + 0.001) + 0.5)) < 1e-5,
			   "row %d: %g", i, ws.act[2][i]);
	/* inference leaves the moving statistics alone */
	CHECK(fabs(net.stats[0] - mm) < 1e-7);
	scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
	EstNetworkPredictOne(&net, X + 2, scratch, &out);
	CHECK(fabs(out - ws.act[2][2]) < 1e-6);
	free(scratch);

	/* a second training forward moves the statistics again */
	EstNetworkForwardTrain(&net, &ws, X, 3, &rng);
	CHECK(fabs(net.stats[0] - (0.99 * mm + 0.01 * 2)) < 1e-7);
	CHECK(fabs(net.stats[1] - (0.99 * mv + 0.01 * 2.0 / 3.0)) < 1e-6);

	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Dropout by hand: a 3-4-1 network with rate 0.5.  Each kept hidden
 * value is twice its inference value, the pattern is the one of the
 * generator's draws (row by row, unit by unit: dropped when the draw is
 * below 0.5), and the training forward consumes exactly 4 draws per row
 * and hidden layer.  Inference forwards drop nothing.
 */
void
TestDropoutByHand(void)
{
	static const int hidden[2] = {4, 3};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	EstRng		ref;
	char		err[EST_ERRMSG_LEN];
	float		X[5 * 3];
	float		infer[5 * 4];
	float		infer2[5 * 3];
	int			mismatches = 0;
	int			dropped = 0;
	int			i;

	UnitSpec(&spec, 3, hidden, 2, 1, EST_ACT_TANH, EST_HEAD_SIGMOID);
	spec.dropout = 0.5;
	EstRngSeed(&rng, 4);
	CHECK(EstNetworkInit(&net, &spec, &rng, err) == EST_OK);
	FillUniform(&rng, X, 15, -1, 1);
	CHECK(EstWorkspaceInit(&ws, &net, 5, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 5);
	memcpy(infer, ws.act[1], sizeof(infer));

	EstRngSeed(&rng, 77);
	ref = rng;
	EstNetworkForwardTrain(&net, &ws, X, 5, &rng);
	for (i = 0; i < 20; i++)
	{
		int			drop = EstRngUniform(&ref) < 0.5;
		float		expect = drop ? 0.0f : 2.0f * infer[i];

		if (drop)
			dropped++;
		if (fabsf(ws.act[1][i] - expect) > 1e-6f ||
			ws.mask[1][i] != (drop ? 0.0f : 2.0f))
			mismatches++;
	}
	CHECKF(mismatches == 0, "%d of 20 values differ", mismatches);
	CHECK(dropped > 2 && dropped < 18);
	/* the second hidden layer's 15 draws follow */
	for (i = 0; i < 15; i++)
		(void) EstRngUniform(&ref);
	CHECK(memcmp(&ref, &rng, sizeof(rng)) == 0);

	/* inference: no dropout */
	EstNetworkForward(&net, &ws, X, 5);
	CHECK(memcmp(infer, ws.act[1], sizeof(infer)) == 0);
	memcpy(infer2, ws.act[2], sizeof(infer2));
	EstNetworkForward(&net, &ws, X, 5);
	CHECK(memcmp(infer2, ws.act[2], sizeof(infer2)) == 0);

	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * The DNN reads inputs (2, 0) and the linear part inputs (1, 2): with
 * x = (1, 2, 3), the DNN (no hidden layer, W = [[1], [10]], b = 100)
 * gives 3 + 10 + 100 = 113 and the linear part (W = [[1000], [-1]],
 * b = 0.5) 2000 - 3 + 0.5 = 1997.5: logit 2110.5.
 */
void
TestWideAndDeepByHand(void)
{
	static const int dnn[2] = {2, 0};
	static const int lin[2] = {1, 2};
	static const float X[3] = {1, 2, 3};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	float		scratch[4];
	double		out;

	UnitSpec(&spec, 3, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SQUARED);
	spec.n_dnn_inputs = 2;
	spec.dnn_inputs = dnn;
	spec.n_linear_inputs = 2;
	spec.linear_inputs = lin;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_OK);
	CHECK(net.n_params == 3 + 3 && net.linear_offset == 3);
	CHECK(EstNetworkScratchSize(&net) == 2);
	net.params[0] = 1.0f;
	net.params[1] = 10.0f;
	net.params[2] = 100.0f;
	net.params[3] = 1000.0f;
	net.params[4] = -1.0f;
	net.params[5] = 0.5f;
	CHECK(EstWorkspaceInit(&ws, &net, 1, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 1);
	CHECK(ws.act[1][0] == 2110.5f);
	CHECK(ws.input[0] == 3.0f && ws.input[1] == 1.0f);
	EstNetworkPredictOne(&net, X, scratch, &out);
	CHECK(out == 2110.5);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * EstNetworkPredictOne's layers, in blocks of outputs held in registers
 * (and wider ones where the CPU has AVX2), give the very floats of the
 * plain loop: each hidden unit b_j, then + x_i * W_ij for i in order in
 * float, the logits likewise in double (with weights of very different
 * sizes, so that their sums round).  Widths that take every block of
 * outputs (64, 32, 16, 8 and 4) and the floats past them, and 1 to 100
 * logits (past blocks of 16 and of 4), with a linear
 * activation (no rounding of its own) and the squared head (raw logits),
 * so that the comparison is exact.
 */
void
TestPredictOneOrder(void)
{
	static const int widths[][3] = {{5, 3, 2}, {64, 64, 1}, {67, 130, 3},
	{200, 129, 4}, {70, 9, 10}, {64, 48, 16}, {33, 20, 37}, {20, 33, 30},
	{16, 64, 100}, {32, 32, 4}, {100, 56, 3}, {8, 127, 5}};
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];

	EstRngSeed(&rng, 11);
	for (size_t c = 0; c < sizeof(widths) / sizeof(widths[0]); c++)
	{
		int			hidden[2] = {widths[c][0], widths[c][1]};
		int			k = widths[c][2];
		int			d = 37;
		EstNetwork	net;
		float		x[37];
		float	   *scratch;
		float		h1[200];
		float		h2[200];
		double		want[100];
		double		out[100];

		CHECK(UnitNetworkInit(&net, d, hidden, 2, k, EST_ACT_LINEAR,
							  EST_HEAD_SQUARED, &rng, err) == EST_OK);
		FillUniform(&rng, net.params, net.n_params, -1, 1);
		/* logit weights of 1e-6 to 1e6, so that sums in double round too */
		for (int i = 0; i < hidden[1] * k; i++)
			net.params[net.offset_w[2] + i] *= (float) pow(10.0, i % 13 - 6);
		FillUniform(&rng, x, d, -2, 2);
		scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
		EstNetworkPredictOne(&net, x, scratch, out);

		for (int j = 0; j < hidden[0]; j++)
		{
			h1[j] = net.params[net.offset_b[0] + j];
			for (int i = 0; i < d; i++)
				h1[j] += x[i] * net.params[net.offset_w[0] + (size_t) i * hidden[0] + j];
		}
		for (int j = 0; j < hidden[1]; j++)
		{
			h2[j] = net.params[net.offset_b[1] + j];
			for (int i = 0; i < hidden[0]; i++)
				h2[j] += h1[i] * net.params[net.offset_w[1] + (size_t) i * hidden[1] + j];
		}
		for (int j = 0; j < k; j++)
		{
			want[j] = net.params[net.offset_b[2] + j];
			for (int i = 0; i < hidden[1]; i++)
				want[j] += (double) h2[i] *
					(double) net.params[net.offset_w[2] + (size_t) i * k + j];
		}
		CHECKF(memcmp(out, want, sizeof(double) * k) == 0,
			   "widths %d, %d: %.17g, want %.17g", hidden[0], hidden[1],
			   out[0], want[0]);
		free(scratch);
		EstNetworkFree(&net);
	}
}

/*
 * Every activation, head and option: the batched forward (and
 * EstHeadProbabilities) agrees with EstNetworkPredictOne, whose scratch
 * is exactly EstNetworkScratchSize floats long.
 */
void
TestForwardMatchesPredictOne(void)
{
	static const EstActivation acts[] = {
		EST_ACT_RELU, EST_ACT_TANH, EST_ACT_SIGMOID, EST_ACT_LINEAR,
		EST_ACT_ELU, EST_ACT_LEAKY_RELU, EST_ACT_GELU
	};
	static const int dnn[3] = {4, 1, 1};
	static const int lin[2] = {0, 3};
	int			hidden[3] = {7, 5, 6};
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[10 * 5];
	double		probs[10 * 3];
	double		out[3];
	size_t		a;
	int			head;
	int			variant;

	EstRngSeed(&rng, 3);
	FillUniform(&rng, X, 50, -2, 2);
	for (variant = 0; variant < 4; variant++)
	{
		for (head = EST_HEAD_SOFTMAX; head <= EST_HEAD_SIGMOID; head++)
		{
			for (a = 0; a < sizeof(acts) / sizeof(acts[0]); a++)
			{
				EstNetworkSpec spec;
				EstNetwork	net;
				EstWorkspace ws;
				float	   *scratch;
				int			k = head == EST_HEAD_SIGMOID ? 1 : 3;
				double		worst = 0.0;
				size_t		p;
				int			i;
				int			j;

				UnitSpec(&spec, 5, hidden, 3, k, acts[a], (EstHead) head);
				/* 1: batch_norm; 2: dnn subset and linear part; 3: all */
				spec.batch_norm = (variant & 1);
				spec.dropout = 0.3;
				if (variant & 2)
				{
					spec.n_dnn_inputs = 3;
					spec.dnn_inputs = dnn;
					spec.n_linear_inputs = 2;
					spec.linear_inputs = lin;
				}
				CHECK(EstNetworkInit(&net, &spec, &rng, err) == EST_OK);
				/* nonzero biases, gamma, beta and moving statistics */
				for (p = 0; p < net.n_params; p++)
					if (net.params[p] == 0.0f || net.params[p] == 1.0f)
						net.params[p] = (float) (0.5 + EstRngUniform(&rng)) *
							(net.params[p] == 0.0f ? 0.5f : 1.0f);
				for (p = 0; p < net.n_stats; p++)
					net.stats[p] = (float) (0.2 + EstRngUniform(&rng));
				CHECK(EstWorkspaceInit(&ws, &net, 10, err) == EST_OK);
				EstNetworkForward(&net, &ws, X, 10);
				EstHeadProbabilities(&net, &ws, 10, probs);
				scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
				for (i = 0; i < 10; i++)
				{
					double		sum = 0.0;

					EstNetworkPredictOne(&net, X + 5 * i, scratch, out);
					for (j = 0; j < k; j++)
					{
						double		d = fabs(out[j] - probs[i * k + j]);

						if (head == EST_HEAD_SQUARED)
							d /= 1.0 + fabs(out[j]);
						if (!(d <= worst))
							worst = d;
						sum += out[j];
					}
					if (head == EST_HEAD_SOFTMAX)
						CHECK(fabs(sum - 1.0) < 1e-9);
					if (head == EST_HEAD_SIGMOID)
						CHECK(out[0] > 0.0 && out[0] < 1.0);
				}
				CHECKF(worst < 1e-5, "variant %d activation %d head %d: difference %g",
					   variant, (int) acts[a], head, worst);
				free(scratch);
				EstWorkspaceFree(&ws);
				EstNetworkFree(&net);
			}
		}
	}
}

/* ----------------------------------------------------------------
 * Heads
 * ----------------------------------------------------------------
 */

/*
 * LinearNet makes a network without hidden layer whose logits are the
 * inputs: identity kernel, zero bias.
 */
static void
LinearNet(EstNetwork *net, int k, EstHead head)
{
	char		err[EST_ERRMSG_LEN];
	int			i;

	CHECK(UnitNetworkInit(net, k, NULL, 0, k, EST_ACT_LINEAR, head, NULL,
						  err) == EST_OK);
	for (i = 0; i < k; i++)
		net->params[i * k + i] = 1.0f;
}

/*
 * Softmax: logits (0, 0, 0) with label 0 give ln 3 and gradient
 * (1/3 - 1, 1/3, 1/3); logits (1, 2, 3) with label 2 give
 * log(e + e^2 + e^3) - 3.  With weights 1 and 3 the three reductions
 * divide l0 + 3 l1 by 2 (rows), 1 (sum) and 4 (weights), and scale row
 * i's gradient by w_i over the same.  For the squared head, outputs
 * (1, 2) against labels (0, 4) give (1 + 4) / 2 = 2.5 and gradient
 * 2 * (1, -2) / 2 = (1, -2).
 */
void
TestHeadLossValues(void)
{
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	float		X[6] = {0, 0, 0, 1, 2, 3};
	float		y[2] = {0, 2};
	float		w[2] = {1, 3};
	float		wz[2] = {0, 0};
	double		l0 = log(3.0);
	double		l1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
	double		loss;
	double		p;

	LinearNet(&net, 3, EST_HEAD_SOFTMAX);
	CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	loss = EstHeadLoss(&net, &ws, y, NULL, 2, 1);
	CHECK(fabs(loss - (l0 + l1) / 2) < 1e-6);
	CHECK(fabs(ws.delta[1][0] - (1.0 / 3 - 1) / 2) < 1e-7);
	CHECK(fabs(ws.delta[1][1] - (1.0 / 3) / 2) < 1e-7);
	p = exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0));
	CHECK(fabs(ws.delta[1][5] - (p - 1) / 2) < 1e-7);

	/* the three reductions with weights */
	loss = EstHeadLoss(&net, &ws, y, w, 2, 1);
	CHECK(fabs(loss - (l0 + 3 * l1) / 2) < 1e-6);
	CHECK(fabs(ws.delta[1][5] - 3 * (p - 1) / 2) < 1e-7);
	net.reduction = EST_REDUCE_SUM;
	loss = EstHeadLoss(&net, &ws, y, w, 2, 1);
	CHECK(fabs(loss - (l0 + 3 * l1)) < 1e-6);
	CHECK(fabs(ws.delta[1][5] - 3 * (p - 1)) < 1e-6);
	CHECK(fabs(ws.delta[1][0] - (1.0 / 3 - 1)) < 1e-7);
	net.reduction = EST_REDUCE_MEAN;
	loss = EstHeadLoss(&net, &ws, y, w, 2, 1);
	CHECK(fabs(loss - (l0 + 3 * l1) / 4) < 1e-6);
	CHECK(fabs(ws.delta[1][5] - 3 * (p - 1) / 4) < 1e-7);
	/* without weights MEAN and SUM_OVER_BATCH_SIZE agree */
	loss = EstHeadLoss(&net, &ws, y, NULL, 2, 0);
	CHECK(fabs(loss - (l0 + l1) / 2) < 1e-6);
	net.reduction = EST_REDUCE_SUM;
	loss = EstHeadLoss(&net, &ws, y, NULL, 2, 0);
	CHECK(fabs(loss - (l0 + l1)) < 1e-6);

	/* all weights zero: loss 0 and no gradient */
	net.reduction = EST_REDUCE_MEAN;
	loss = EstHeadLoss(&net, &ws, y, wz, 2, 1);
	CHECK(loss == 0.0 && ws.delta[1][5] == 0.0f);
	net.reduction = EST_REDUCE_SUM_OVER_BATCH_SIZE;
	loss = EstHeadLoss(&net, &ws, y, wz, 2, 1);
	CHECK(loss == 0.0 && ws.delta[1][5] == 0.0f);

	/* an invalid class id gives NaN, never a read out of bounds */
	y[1] = 3;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 2, 1)));
	y[1] = 1.5f;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 2, 0)));
	y[1] = -1;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 2, 0)));
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);

	{
		float		Xs[2] = {1, 2};
		float		ys[2] = {0, 4};

		LinearNet(&net, 2, EST_HEAD_SQUARED);
		CHECK(EstWorkspaceInit(&ws, &net, 1, err) == EST_OK);
		EstNetworkForward(&net, &ws, Xs, 1);
		loss = EstHeadLoss(&net, &ws, ys, NULL, 1, 1);
		CHECK(fabs(loss - 2.5) < 1e-9);
		CHECK(ws.delta[1][0] == 1.0f && ws.delta[1][1] == -2.0f);
		EstWorkspaceFree(&ws);
		EstNetworkFree(&net);
	}
}

/*
 * EstExpInPlace is within an ulp of libm's exp over softmax's range
 * [-708, 0] (and up to 709), exact at 0, 0 below -708 (where libm's
 * results are subnormal) and at -inf, NaN at NaN.
 */
void
TestExpInPlace(void)
{
	enum
	{
		N = 4096
	};
	static double v[N];
	static double x[N];
	double		worst = 0;
	int			flushed = 1;
	double		special[6] = {0.0, -0.0, -INFINITY, NAN, -708.5, -745.2};
	int			i;

	for (i = 0; i < N; i++)
	{
		/* every binade from 2^-30 to 2^9, and whole numbers, both signs */
		x[i] = (i % 3 == 2) ? -(double) (i % 709) :
			-ldexp(1.0 + (double) i / N, i % 40 - 30);
		if (i % 97 == 0)
			x[i] = 700.0 * (double) i / N;
		v[i] = x[i];
	}
	EstExpInPlace(v, N);
	for (i = 0; i < N; i++)
	{
		double		e = exp(x[i]);
		double		ulp = nextafter(e, INFINITY) - e;
		double		err = fabs(v[i] - e) / ulp;

		if (x[i] < -708.0)
			flushed &= v[i] == 0.0;
		else if (err > worst)
			worst = err;
	}
	CHECKF(worst <= 1.0, "worst error %.3g ulp", worst);
	CHECK(flushed);

	EstExpInPlace(special, 6);
	CHECK(special[0] == 1.0 && special[1] == 1.0);
	CHECK(special[2] == 0.0 && isnan(special[3]));
	CHECK(special[4] == 0.0 && special[5] == 0.0);
}

/*
 * SoftmaxRows makes a softmax network of k classes whose logits are its
 * inputs, and runs n rows of random logits in [-half, half] through it;
 * it returns the rows (to free).
 */
static float *
SoftmaxRows(EstNetwork *net, EstWorkspace *ws, int k, int n, double half,
			EstRng *rng)
{
	char		err[EST_ERRMSG_LEN];
	float	   *X = malloc(sizeof(float) * n * k);

	LinearNet(net, k, EST_HEAD_SOFTMAX);
	CHECK(EstWorkspaceInit(ws, net, n, err) == EST_OK);
	for (int i = 0; i < n * k; i++)
		X[i] = (float) (2.0 * half * EstRngUniform(rng) - half);
	EstNetworkForward(net, ws, X, n);
	return X;
}

/* PlainSum returns sum_j exp(z_j - m), m the largest of the k logits z */
static double
PlainSum(const float *z, int k, double *m)
{
	double		sum = 0;

	*m = z[0];
	for (int j = 1; j < k; j++)
		*m = z[j] > *m ? z[j] : *m;
	for (int j = 0; j < k; j++)
		sum += exp((double) z[j] - *m);
	return sum;
}

/*
 * The softmax loss against a plain computation (libm's exp and log), with
 * 3 classes (Iris's) and 100 (rows in groups of EST_EXP_GROUP logits) and
 * 3000 (a row at a time): the same
 * loss within 1e-12 and gradients within 1e-7 of their largest; a row
 * with an invalid label makes the loss NaN and its own gradient zero,
 * and leaves the other rows' gradients as they were.
 */
void
TestSoftmaxManyClasses(void)
{
	static const int classes[3] = {3, 100, 3000};
	EstRng		rng;

	EstRngSeed(&rng, 7);
	for (int t = 0; t < 3; t++)
	{
		int			k = classes[t];
		int			n = 45;
		EstNetwork	net;
		EstWorkspace ws;
		float	   *X = SoftmaxRows(&net, &ws, k, n, 20.0, &rng);
		float	   *d = malloc(sizeof(float) * n * k);
		float		y[45];
		double		expect = 0;
		double		loss;
		double		worst = 0;
		int			zero = 1;

		for (int i = 0; i < n; i++)
			y[i] = (float) EstRngBounded(&rng, (uint64_t) k);
		loss = EstHeadLoss(&net, &ws, y, NULL, n, 1);
		for (int i = 0; i < n; i++)
		{
			const float *z = ws.act[1] + (size_t) i * k;
			double		m;
			double		sum = PlainSum(z, k, &m);

			expect += (m + log(sum) - z[(int) y[i]]) / n;
			for (int j = 0; j < k; j++)
			{
				double		g = (exp((double) z[j] - m) / sum -
								 (j == (int) y[i] ? 1.0 : 0.0)) / n;
				double		e = fabs(ws.delta[1][(size_t) i * k + j] - g);

				if (e > worst)
					worst = e;
			}
		}
		CHECKF(fabs(loss - expect) <= 1e-12 * fabs(expect),
			   "%d classes: loss %.17g, expected %.17g", k, loss, expect);
		CHECKF(worst <= 1e-7 / n, "%d classes: gradient off by %g", k, worst);

		/* an invalid label in the middle of a group */
		memcpy(d, ws.delta[1], sizeof(float) * n * k);
		y[21] = (float) k;
		CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, n, 1)));
		for (int j = 0; j < k; j++)
			zero &= ws.delta[1][(size_t) 21 * k + j] == 0.0f;
		CHECK(zero);
		CHECK(memcmp(ws.delta[1], d, sizeof(float) * 21 * k) == 0);
		CHECK(memcmp(ws.delta[1] + (size_t) 22 * k, d + (size_t) 22 * k,
					 sizeof(float) * (n - 22) * k) == 0);
		free(X);
		free(d);
		EstWorkspaceFree(&ws);
		EstNetworkFree(&net);
	}
}

/*
 * Softmax probabilities of 3 classes (libm's exp) and of 20 and 300
 * (EstExpInPlace): a batch (EstHeadProbabilities) and one row at a time
 * (EstNetworkPredictOne) give the same bits for the same logits, within
 * 1e-15 of a plain computation, and sum to 1.
 */
void
TestSoftmaxProbabilities(void)
{
	static const int classes[3] = {3, 20, 300};
	EstRng		rng;

	EstRngSeed(&rng, 5);
	for (int t = 0; t < 3; t++)
	{
		int			k = classes[t];
		int			n = 9;
		EstNetwork	net;
		EstWorkspace ws;
		float	   *X = SoftmaxRows(&net, &ws, k, n, 15.0, &rng);
		double	   *batch = malloc(sizeof(double) * n * k);
		double	   *one = malloc(sizeof(double) * k);
		float	   *scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
		int			same = 1;
		double		worst = 0;
		double		worst_sum = 0;

		EstHeadProbabilities(&net, &ws, n, batch);
		for (int i = 0; i < n; i++)
		{
			const float *z = X + (size_t) i * k;
			double		m;
			double		sum = PlainSum(z, k, &m);
			double		total = 0;

			EstNetworkPredictOne(&net, z, scratch, one);
			same &= memcmp(one, batch + (size_t) i * k, sizeof(double) * k) == 0;
			for (int j = 0; j < k; j++)
			{
				double		p = exp((double) z[j] - m) / sum;

				worst = fmax(worst, fabs(one[j] - p) / p);
				total += one[j];
			}
			worst_sum = fmax(worst_sum, fabs(total - 1.0));
		}
		CHECKF(same, "%d classes: batch and row differ", k);
		CHECKF(worst <= 1e-15, "%d classes: off by %g", k, worst);
		CHECKF(worst_sum <= 1e-13, "%d classes: sum off by %g", k, worst_sum);
		free(X);
		free(batch);
		free(one);
		free(scratch);
		EstWorkspaceFree(&ws);
		EstNetworkFree(&net);
	}
}

/*
 * The input gradients of hidden layers through a transposed copy of the
 * kernel (batches of at most EST_TRANSPOSED_ROWS rows, and any batch whose
 * product the core's own kernel takes; kernels of 20 x 24 and 24 x 17
 * weights: 8 x 8 blocks and edges): the summed gradients of rows 0..95 and
 * 96..192 agree with those of the 193 rows at once to float precision.
 * With hidden layers of 2 and 24 units, the 193 rows multiply by the 2 x 24
 * kernel as it is (cblas_sgemm's transposed form: the own kernel leaves
 * products of 2 columns to OpenBLAS), so that both ways are compared.
 */
void
TestTransposedInputGradient(void)
{
	enum
	{
		N = 193, D = 9, K = 17
	};
	static const int shapes[2][2] = {{20, 24}, {2, 24}};
	static float X[N * D];
	static float y[N];

	CHECK(EstGemmOwnKernel(2, 24) == 0);
	for (int s = 0; s < 2; s++)
	{
		char		err[EST_ERRMSG_LEN];
		EstNetwork	net;
		EstWorkspace ws;
		EstRng		rng;
		float	   *whole;
		double		worst = 0;
		double		largest = 0;

		EstRngSeed(&rng, 9);
		CHECK(UnitNetworkInit(&net, D, shapes[s], 2, K, EST_ACT_TANH,
							  EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
		net.reduction = EST_REDUCE_SUM;
		CHECK(EstWorkspaceInit(&ws, &net, N, err) == EST_OK);
		CHECK(ws.transposed != NULL);
		for (int i = 0; i < N * D; i++)
			X[i] = (float) (2.0 * EstRngUniform(&rng) - 1.0);
		for (int i = 0; i < N; i++)
			y[i] = (float) EstRngBounded(&rng, K);
		whole = malloc(sizeof(float) * net.n_params);

		EstNetworkForwardTrain(&net, &ws, X, N, &rng);
		EstHeadLoss(&net, &ws, y, NULL, N, 1);
		EstNetworkBackward(&net, &ws, X, N);
		memcpy(whole, ws.grad, sizeof(float) * net.n_params);
		EstNetworkForwardTrain(&net, &ws, X, 96, &rng);
		EstHeadLoss(&net, &ws, y, NULL, 96, 1);
		EstNetworkBackward(&net, &ws, X, 96);
		for (size_t p = 0; p < net.n_params; p++)
			whole[p] -= ws.grad[p];
		EstNetworkForwardTrain(&net, &ws, X + 96 * D, N - 96, &rng);
		EstHeadLoss(&net, &ws, y + 96, NULL, N - 96, 1);
		EstNetworkBackward(&net, &ws, X + 96 * D, N - 96);
		for (size_t p = 0; p < net.n_params; p++)
		{
			worst = fmax(worst, fabs(whole[p] - ws.grad[p]));
			largest = fmax(largest, fabs(ws.grad[p]));
		}
		CHECKF(largest > 0 && worst <= 1e-5 * largest,
			   "hidden {%d,%d}: gradients differ by %g (largest %g)",
			   shapes[s][0], shapes[s][1], worst, largest);
		free(whole);
		EstWorkspaceFree(&ws);
		EstNetworkFree(&net);
	}
}

/*
 * The sigmoid head: logits 0, 3, -2 and 1000 with labels 1, 0, 1, 0
 * give ln 2, 3 + ln(1 + e^-3), 2 + ln(1 + e^-2) and 1000 (stably), and
 * gradients (sigmoid(z) - y) / 4.  Probabilities are sigmoid(z).
 */
void
TestSigmoidHead(void)
{
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	float		X[4] = {0, 3, -2, 1000};
	float		y[4] = {1, 0, 1, 0};
	double		probs[4];
	double		expect = (log(2.0) + 3 + log1p(exp(-3.0)) + 2 +
						  log1p(exp(-2.0)) + 1000) / 4;
	double		loss;
	float		scratch[1];
	double		out;

	LinearNet(&net, 1, EST_HEAD_SIGMOID);
	CHECK(EstWorkspaceInit(&ws, &net, 4, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 4);
	loss = EstHeadLoss(&net, &ws, y, NULL, 4, 1);
	CHECKF(fabs(loss - expect) < 1e-9, "loss %.12g, expected %.12g", loss,
		   expect);
	CHECK(fabs(ws.delta[1][0] - (0.5 - 1) / 4) < 1e-8);
	CHECK(fabs(ws.delta[1][1] - (1 / (1 + exp(-3.0))) / 4) < 1e-8);
	CHECK(fabs(ws.delta[1][2] - (1 / (1 + exp(2.0)) - 1) / 4) < 1e-8);
	CHECK(fabs(ws.delta[1][3] - 0.25) < 1e-8);
	EstHeadProbabilities(&net, &ws, 4, probs);
	CHECK(probs[0] == 0.5 && fabs(probs[1] - 1 / (1 + exp(-3.0))) < 1e-12);
	CHECK(probs[3] == 1.0);
	EstNetworkPredictOne(&net, X + 2, scratch, &out);
	CHECK(fabs(out - 1 / (1 + exp(2.0))) < 1e-12);
	/* labels must be 0 or 1 */
	y[2] = 0.5f;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 4, 1)));
	CHECK(ws.delta[1][2] == 0.0f);
	y[2] = 2;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 4, 0)));
	/* -1000 with label 1 is 1000 too, not inf */
	X[0] = -1000;
	y[2] = 1;
	EstNetworkForward(&net, &ws, X, 1);
	loss = EstHeadLoss(&net, &ws, y, NULL, 1, 1);
	CHECK(loss == 1000.0 && ws.delta[1][0] == -1.0f);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * The sigmoid head's loss, taken a group of rows at a time without calls
 * (SigmoidLoss), agrees with libm's exp and log1p row by row: 700 rows
 * (more than one group) of logits from -60 to 60 and at the edges (0,
 * +-1e-30, +-800), labels 0 and 1 with one invalid, with and without
 * weights.  The loss is within 1e-13 relative of the sum in double; each
 * gradient is the float of libm's, or one float ulp from it (an ulp of
 * exp in double may round the other way).
 */
void
TestSigmoidLossMatchesLibm(void)
{
	enum
	{
		N = 700
	};
	static const float edges[] = {0.0f, 1e-30f, -1e-30f, 800.0f, -800.0f};
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float	   *X = malloc(sizeof(float) * N);
	float	   *y = malloc(sizeof(float) * N);
	float	   *w = malloc(sizeof(float) * N);

	EstRngSeed(&rng, 7);
	for (int i = 0; i < N; i++)
	{
		X[i] = i < 5 ? edges[i] : (float) (120.0 * EstRngUniform(&rng) - 60.0);
		y[i] = (float) EstRngBounded(&rng, 2);
		w[i] = (float) (0.25 + 2.0 * EstRngUniform(&rng));
	}
	LinearNet(&net, 1, EST_HEAD_SIGMOID);
	CHECK(EstWorkspaceInit(&ws, &net, N, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, N);
	for (int weighted = 0; weighted < 2; weighted++)
	{
		const float *wt = weighted ? w : NULL;
		double		expect = 0.0;
		double		loss;
		int			far = 0;
		int			exact = 0;

		for (int i = 0; i < N; i++)
		{
			double		z = X[i];

			expect += (wt ? wt[i] : 1.0) *
				((z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z))));
		}
		expect /= N;			/* SUM_OVER_BATCH_SIZE */
		loss = EstHeadLoss(&net, &ws, y, wt, N, 1);
		CHECKF(fabs(loss - expect) <= 1e-13 * fabs(expect),
			   "weighted %d: loss %.17g, libm %.17g", weighted, loss, expect);
		for (int i = 0; i < N; i++)
		{
			double		z = X[i];
			double		e = exp(-fabs(z));
			double		sig = z >= 0 ? 1 / (1 + e) : e / (1 + e);
			float		ref = (float) ((wt ? wt[i] : 1.0) / N * (sig - y[i]));
			float		got = ws.delta[1][i];

			if (got == ref)
				exact++;
			else if (!(fabsf(got - ref) <= fabsf(nextafterf(ref, 2 * ref) - ref)))
				far++;
		}
		CHECKF(far == 0 && exact >= N - 2, "weighted %d: %d gradients differ, "
			   "%d by more than an ulp", weighted, N - exact, far);
	}
	/* an invalid label: NaN loss, zero gradient for its row only */
	y[300] = 0.5f;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, N, 1)));
	CHECK(ws.delta[1][300] == 0.0f && ws.delta[1][299] != 0.0f &&
		  ws.delta[1][301] != 0.0f);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
	free(X);
	free(y);
	free(w);
}

/*
 * Huge logits and pre-activations never overflow exp: losses, gradients
 * and probabilities stay finite.
 */
void
TestHeadLossStability(void)
{
	static const EstActivation acts[] = {
		EST_ACT_SIGMOID, EST_ACT_TANH, EST_ACT_ELU, EST_ACT_GELU,
		EST_ACT_LEAKY_RELU
	};
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	float		X[6] = {1e30f, -1e30f, 0, -3e38f, 3e38f, 3e38f};
	float		y[2] = {1, 0};
	double		probs[6];
	double		loss;
	int			i;
	int			finite = 1;
	int			hidden[1] = {3};
	float		scratch[6];
	double		out[2];
	size_t		a;

	LinearNet(&net, 3, EST_HEAD_SOFTMAX);
	CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	loss = EstHeadLoss(&net, &ws, y, NULL, 2, 1);
	CHECKF(isfinite(loss), "loss %g", loss);
	/* row 0: label 1 is 2e30 below the best; row 1: label 0 is 6e38 below */
	CHECK(loss > 1e30);
	EstHeadProbabilities(&net, &ws, 2, probs);
	for (i = 0; i < 6; i++)
		if (!isfinite(ws.delta[1][i]) || !isfinite(probs[i]))
			finite = 0;
	CHECK(finite);
	CHECK(probs[0] == 1.0 && probs[1] == 0.0);
	CHECK(fabs(probs[4] - 0.5) < 1e-12 && fabs(probs[5] - 0.5) < 1e-12);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);

	/* saturating layers give no NaN */
	for (a = 0; a < sizeof(acts) / sizeof(acts[0]); a++)
	{
		CHECK(UnitNetworkInit(&net, 3, hidden, 1, 2, acts[a],
							  EST_HEAD_SOFTMAX, NULL, err) == EST_OK);
		for (i = 0; i < 9; i++)
			net.params[i] = (i % 2) ? 1e3f : -1e3f;
		for (i = 12; i < 18; i++)
			net.params[i] = 1e-3f;
		CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
		X[0] = 1e5f;
		X[1] = -1e5f;
		X[2] = 3.0f;
		X[3] = -1e5f;
		X[4] = 1e5f;
		X[5] = -1.0f;
		EstNetworkForward(&net, &ws, X, 2);
		loss = EstHeadLoss(&net, &ws, y, NULL, 2, 1);
		EstNetworkBackward(&net, &ws, X, 2);
		finite = isfinite(loss);
		for (i = 0; i < (int) net.n_params; i++)
			if (!isfinite(ws.grad[i]))
				finite = 0;
		EstNetworkPredictOne(&net, X, scratch, out);
		if (!isfinite(out[0]) || !isfinite(out[1]))
			finite = 0;
		CHECKF(finite, "activation %d", (int) acts[a]);
		EstWorkspaceFree(&ws);
		EstNetworkFree(&net);
	}
}

/* ----------------------------------------------------------------
 * Gradient checks
 * ----------------------------------------------------------------
 */
typedef struct GradResult
{
	double		rel_norm;		/* |num - ana| / (|num| + |ana|) */
	int			bad;			/* parameters outside the tolerance */
	double		ana_norm;
	int			nonzero;		/* parameters with a nonzero gradient */
	double		min_margin;		/* smallest |activation input| */
} GradResult;

/* What a gradient check evaluates. */
typedef struct GradSetup
{
	const float *X;
	const float *y;
	const float *weights;
	int			n;
	int			training;		/* training forwards, generator re-seeded */
	double		l1;				/* penalty added to the loss */
	double		l2;
} GradSetup;

#define GRAD_STEP	1e-3
#define GRAD_SEED	12345

/*
 * RunForward runs the forward pass of the setup: a training forward
 * re-seeds its generator, so that every call draws the same masks.
 */
static void
RunForward(EstNetwork *net, EstWorkspace *ws, const GradSetup *g)
{
	if (g->training)
	{
		EstRng		rng;

		EstRngSeed(&rng, GRAD_SEED);
		EstNetworkForwardTrain(net, ws, g->X, g->n, &rng);
	}
	else
		EstNetworkForward(net, ws, g->X, g->n);
}

static double
Objective(EstNetwork *net, EstWorkspace *ws, const GradSetup *g,
		  int with_grad)
{
	double		loss = EstHeadLoss(net, ws, g->y, g->weights, g->n,
								   with_grad);

	if (g->l1 != 0.0 || g->l2 != 0.0)
		loss += EstNetworkPenalty(net, g->l1, g->l2);
	return loss;
}

/*
 * MinMargin returns the smallest |activation input| of any hidden unit in
 * the last forward; a relu network whose margin is well above the step's
 * effect has no kink within the finite difference.
 */
static double
MinMargin(const EstNetwork *net, const EstWorkspace *ws, int n)
{
	double		margin = INFINITY;
	int			l;
	int			i;
	int			j;

	for (l = 1; l < net->n_layers; l++)
	{
		int			units = net->sizes[l];

		for (i = 0; i < n; i++)
		{
			for (j = 0; j < units; j++)
			{
				double		v = ws->pre[l][(size_t) i * units + j];

				if (net->batch_norm)
					v = net->params[net->offset_gamma[l] + j] * v +
						net->params[net->offset_beta[l] + j];
				if (fabs(v) < margin)
					margin = fabs(v);
			}
		}
	}
	return margin;
}

/*
 * GradCheck compares the analytic gradient (plus an optional error added
 * to parameter tamper_index, to test the test) with central differences.
 */
static GradResult
GradCheck(EstNetwork *net, const GradSetup *g, long tamper_index,
		  double tamper)
{
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	GradResult	res;
	double	   *ana;
	double		diff2 = 0.0;
	double		num2 = 0.0;
	double		ana2 = 0.0;
	size_t		p;

	memset(&res, 0, sizeof(res));
	CHECK(EstWorkspaceInit(&ws, net, g->n, err) == EST_OK);
	ana = calloc(net->n_params, sizeof(double));

	RunForward(net, &ws, g);
	res.min_margin = MinMargin(net, &ws, g->n);
	(void) Objective(net, &ws, g, 1);
	EstNetworkBackward(net, &ws, g->X, g->n);
	if (g->l1 != 0.0 || g->l2 != 0.0)
		EstNetworkPenaltyGrad(net, &ws, g->l1, g->l2);
	for (p = 0; p < net->n_params; p++)
		ana[p] = ws.grad[p];
	if (tamper_index >= 0 && (size_t) tamper_index < net->n_params)
		ana[tamper_index] += tamper;

	for (p = 0; p < net->n_params; p++)
	{
		float		saved = net->params[p];
		float		up = (float) (saved + GRAD_STEP);
		float		down = (float) (saved - GRAD_STEP);
		double		lp;
		double		lm;
		double		num;
		double		d;

		net->params[p] = up;
		RunForward(net, &ws, g);
		lp = Objective(net, &ws, g, 0);
		net->params[p] = down;
		RunForward(net, &ws, g);
		lm = Objective(net, &ws, g, 0);
		net->params[p] = saved;
		/* divide by the step that float actually took */
		num = (lp - lm) / ((double) up - (double) down);

		d = num - ana[p];
		diff2 += d * d;
		num2 += num * num;
		ana2 += ana[p] * ana[p];
		if (fabs(d) > 1e-3 + 1e-2 * fabs(num))
		{
			if (res.bad < 3 && tamper_index < 0)
				printf("    parameter %zu: numeric %.6g, analytic %.6g\n",
					   p, num, ana[p]);
			res.bad++;
		}
		if (ana[p] != 0.0)
			res.nonzero++;
	}
	res.rel_norm = sqrt(diff2) / (sqrt(num2) + sqrt(ana2) + 1e-12);
	res.ana_norm = sqrt(ana2);
	free(ana);
	EstWorkspaceFree(&ws);
	return res;
}

/* A gradient check case: the specification and the setup's options. */
typedef struct GradCase
{
	int			n_inputs;
	const int  *hidden;
	int			n_hidden;
	int			n_outputs;
	EstActivation act;
	EstHead		head;
	EstReduction reduction;
	int			weighted;
	int			batch_norm;
	double		dropout;
	int			n_dnn;
	const int  *dnn;
	int			n_linear;
	const int  *linear;
	int			training;
	double		l1;
	double		l2;
	int			n_segments;		/* input segments, or 0 */
	const EstInputSegment *segments;
} GradCase;

/*
 * FillIds overwrites the id slots of the n rows of X (the slots of
 * indicator and embedding segments) with ids drawn uniformly from the
 * segment's buckets, leaving a quarter of the slots empty (-1).
 */
static void
FillIds(EstRng *rng, float *X, int n, int n_inputs,
		const EstInputSegment *segments, int n_segments)
{
	int			i;
	int			s;
	int			k;

	for (i = 0; i < n; i++)
	{
		float	   *x = X + (size_t) i * n_inputs;

		for (s = 0; s < n_segments; s++)
		{
			const EstInputSegment *seg = &segments[s];

			for (k = 0; k < seg->slots; k++)
			{
				if (seg->kind == EST_INPUT_DENSE)
					continue;
				if (EstRngUniform(rng) < 0.25)
					x[k] = -1.0f;
				else
					x[k] = (float) EstRngBounded(rng, (uint64_t) seg->buckets);
			}
			x += seg->slots;
		}
	}
}

/*
 * RunGradCase builds the case's network with Glorot weights and random
 * biases (and gamma in [0.5, 1.5], beta in [-0.3, 0.3], moving
 * statistics around 0 and 1), random inputs in [-1.5, 1.5], labels and
 * (when weighted) row weights in [0.2, 2], and checks its gradient.  The
 * slots of indicator and embedding segments get ids, a quarter of them
 * empty.  For activations with a kink it tries seeds until every
 * activation input is at least 0.05 from it; with an l1 penalty no kernel
 * weight is near 0.
 */
static void
RunGradCase(const GradCase *gc)
{
	enum
	{
		N = 6
	};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	GradSetup	g;
	char		err[EST_ERRMSG_LEN];
	float		X[N * 16];
	float		y[N * 16];
	float		w[N];
	GradResult	res;
	uint64_t	seed;
	int			kinked = gc->act == EST_ACT_RELU ||
		gc->act == EST_ACT_LEAKY_RELU;
	int			i;
	int			l;

	UnitSpec(&spec, gc->n_inputs, gc->hidden, gc->n_hidden, gc->n_outputs,
			 gc->act, gc->head);
	spec.reduction = gc->reduction;
	spec.batch_norm = gc->batch_norm;
	spec.dropout = gc->dropout;
	spec.n_dnn_inputs = gc->n_dnn;
	spec.dnn_inputs = gc->dnn;
	spec.n_linear_inputs = gc->n_linear;
	spec.linear_inputs = gc->linear;
	spec.n_segments = gc->n_segments;
	spec.segments = gc->segments;

	memset(&g, 0, sizeof(g));
	g.X = X;
	g.y = y;
	g.weights = gc->weighted ? w : NULL;
	g.n = N;
	g.training = gc->training;
	g.l1 = gc->l1;
	g.l2 = gc->l2;

	for (seed = 1; seed < 1000; seed++)
	{
		double		margin;
		size_t		p;

		EstRngSeed(&rng, seed);
		CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
		for (l = 0; l < net.n_layers; l++)
			FillUniform(&rng, net.params + net.offset_b[l],
						(size_t) net.sizes[l + 1], -0.3, 0.3);
		for (l = 1; net.batch_norm && l < net.n_layers; l++)
		{
			FillUniform(&rng, net.params + net.offset_gamma[l],
						(size_t) net.sizes[l], 0.5, 1.5);
			FillUniform(&rng, net.params + net.offset_beta[l],
						(size_t) net.sizes[l], -0.3, 0.3);
			FillUniform(&rng, net.stats + net.offset_stats[l],
						(size_t) net.sizes[l], -0.2, 0.2);
			FillUniform(&rng, net.stats + net.offset_stats[l] + net.sizes[l],
						(size_t) net.sizes[l], 0.5, 1.5);
		}
		if (net.n_linear_inputs > 0)
			FillUniform(&rng, net.params + net.n_params - gc->n_outputs,
						(size_t) gc->n_outputs, -0.3, 0.3);
		if (gc->l1 != 0.0)
		{
			for (p = 0; p < net.linear_offset; p++)
				if (fabsf(net.params[p]) < 0.01f)
					net.params[p] = net.params[p] < 0 ? -0.01f : 0.01f;
			for (p = net.linear_offset; p < net.n_params; p++)
				if (fabsf(net.params[p]) < 0.01f)
					net.params[p] = 0.01f;
		}
		FillUniform(&rng, X, (size_t) N * gc->n_inputs, -1.5, 1.5);
		if (gc->n_segments > 0)
			FillIds(&rng, X, N, gc->n_inputs, gc->segments, gc->n_segments);
		if (gc->head == EST_HEAD_SOFTMAX)
			for (i = 0; i < N; i++)
				y[i] = (float) EstRngBounded(&rng, (uint64_t) gc->n_outputs);
		else if (gc->head == EST_HEAD_SIGMOID)
			for (i = 0; i < N; i++)
				y[i] = (float) EstRngBounded(&rng, 2);
		else
			FillUniform(&rng, y, (size_t) N * gc->n_outputs, -2, 2);
		FillUniform(&rng, w, N, 0.2, 2.0);
		if (!kinked || net.n_layers == 1)
			break;
		CHECK(EstWorkspaceInit(&ws, &net, N, err) == EST_OK);
		ws.keep_pre = 1;
		RunForward(&net, &ws, &g);
		margin = MinMargin(&net, &ws, N);
		EstWorkspaceFree(&ws);
		if (margin > 0.05)
			break;
		EstNetworkFree(&net);
	}
	CHECK(seed < 1000);
	if (seed == 1000)
		return;

	res = GradCheck(&net, &g, -1, 0.0);
	CHECKF(res.bad == 0, "%d of %zu parameters outside the tolerance",
		   res.bad, net.n_params);
	CHECKF(res.rel_norm < 2e-3, "relative error %g", res.rel_norm);
	/* the check means something only if the gradient is not trivial */
	CHECKF(res.ana_norm > 1e-2, "gradient norm %g", res.ana_norm);
	CHECKF(res.nonzero >= (int) net.n_params / 2,
		   "only %d of %zu gradients nonzero", res.nonzero, net.n_params);
	EstNetworkFree(&net);
}

static void
GradCaseInit(GradCase *gc, int n_inputs, const int *hidden, int n_hidden,
			 int n_outputs, EstActivation act, EstHead head, int weighted)
{
	memset(gc, 0, sizeof(*gc));
	gc->n_inputs = n_inputs;
	gc->hidden = hidden;
	gc->n_hidden = n_hidden;
	gc->n_outputs = n_outputs;
	gc->act = act;
	gc->head = head;
	gc->weighted = weighted;
}

static void
RunGradCheck(int n_inputs, const int *hidden, int n_hidden, int n_outputs,
			 EstActivation act, EstHead head, int weighted)
{
	GradCase	gc;

	GradCaseInit(&gc, n_inputs, hidden, n_hidden, n_outputs, act, head,
				 weighted);
	RunGradCase(&gc);
}

void
TestGradReluSoftmax(void)
{
	int			hidden[1] = {6};

	RunGradCheck(4, hidden, 1, 3, EST_ACT_RELU, EST_HEAD_SOFTMAX, 0);
}

void
TestGradTanhSoftmax(void)
{
	int			hidden[1] = {5};

	RunGradCheck(3, hidden, 1, 4, EST_ACT_TANH, EST_HEAD_SOFTMAX, 0);
}

void
TestGradSigmoidSquared(void)
{
	int			hidden[1] = {5};

	RunGradCheck(3, hidden, 1, 2, EST_ACT_SIGMOID, EST_HEAD_SQUARED, 0);
}

void
TestGradLinearSquared(void)
{
	int			hidden[2] = {4, 3};

	RunGradCheck(3, hidden, 2, 1, EST_ACT_LINEAR, EST_HEAD_SQUARED, 0);
}

void
TestGradEluSigmoidHead(void)
{
	int			hidden[2] = {5, 4};

	RunGradCheck(3, hidden, 2, 1, EST_ACT_ELU, EST_HEAD_SIGMOID, 1);
}

void
TestGradLeakyReluSoftmax(void)
{
	int			hidden[2] = {6, 5};

	RunGradCheck(4, hidden, 2, 3, EST_ACT_LEAKY_RELU, EST_HEAD_SOFTMAX, 1);
}

void
TestGradGeluSquared(void)
{
	int			hidden[2] = {5, 4};

	RunGradCheck(3, hidden, 2, 2, EST_ACT_GELU, EST_HEAD_SQUARED, 1);
}

void
TestGradDeepTanhWeighted(void)
{
	int			hidden[3] = {5, 4, 3};

	RunGradCheck(4, hidden, 3, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX, 1);
}

void
TestGradDeepReluSquaredWeighted(void)
{
	int			hidden[3] = {6, 5, 4};

	RunGradCheck(3, hidden, 3, 2, EST_ACT_RELU, EST_HEAD_SQUARED, 1);
}

void
TestGradDeepSigmoidSoftmaxWeighted(void)
{
	int			hidden[2] = {5, 4};

	RunGradCheck(3, hidden, 2, 3, EST_ACT_SIGMOID, EST_HEAD_SOFTMAX, 1);
}

void
TestGradNoHiddenSoftmax(void)
{
	RunGradCheck(4, NULL, 0, 3, EST_ACT_RELU, EST_HEAD_SOFTMAX, 1);
}

void
TestGradNoHiddenSquared(void)
{
	RunGradCheck(4, NULL, 0, 3, EST_ACT_RELU, EST_HEAD_SQUARED, 0);
}

void
TestGradNoHiddenSigmoid(void)
{
	RunGradCheck(4, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SIGMOID, 0);
}

/*
 * Every reduction with and without weights, for each head.
 */
void
TestGradReductions(void)
{
	static const EstReduction reds[] = {
		EST_REDUCE_SUM_OVER_BATCH_SIZE, EST_REDUCE_SUM, EST_REDUCE_MEAN
	};
	int			hidden[1] = {4};
	size_t		r;
	int			head;
	int			weighted;

	for (r = 0; r < 3; r++)
		for (head = EST_HEAD_SOFTMAX; head <= EST_HEAD_SIGMOID; head++)
			for (weighted = 0; weighted <= 1; weighted++)
			{
				GradCase	gc;

				GradCaseInit(&gc, 3, hidden, 1,
							 head == EST_HEAD_SIGMOID ? 1 : 2, EST_ACT_TANH,
							 (EstHead) head, weighted);
				gc.reduction = reds[r];
				RunGradCase(&gc);
			}
}

/*
 * Batch normalisation in training forwards (through the batch
 * statistics): gradients of gamma, beta, the kernels below and above.
 */
void
TestGradBatchNormTraining(void)
{
	int			hidden[2] = {5, 4};
	GradCase	gc;

	GradCaseInit(&gc, 3, hidden, 2, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX, 1);
	gc.batch_norm = 1;
	gc.training = 1;
	RunGradCase(&gc);
	GradCaseInit(&gc, 3, hidden, 2, 2, EST_ACT_GELU, EST_HEAD_SQUARED, 0);
	gc.batch_norm = 1;
	gc.training = 1;
	RunGradCase(&gc);
	GradCaseInit(&gc, 4, hidden, 1, 1, EST_ACT_RELU, EST_HEAD_SIGMOID, 1);
	gc.batch_norm = 1;
	gc.training = 1;
	gc.reduction = EST_REDUCE_SUM;
	RunGradCase(&gc);
}

/*
 * Batch normalisation in inference forwards: the moving statistics are
 * constants.
 */
void
TestGradBatchNormInference(void)
{
	int			hidden[2] = {5, 4};
	GradCase	gc;

	GradCaseInit(&gc, 3, hidden, 2, 3, EST_ACT_ELU, EST_HEAD_SOFTMAX, 1);
	gc.batch_norm = 1;
	RunGradCase(&gc);
}

/*
 * Dropout with a generator re-seeded for every forward, so that every
 * evaluation drops the same units; alone, and with batch_norm.
 */
void
TestGradDropout(void)
{
	int			hidden[2] = {6, 5};
	GradCase	gc;

	GradCaseInit(&gc, 3, hidden, 2, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX, 1);
	gc.dropout = 0.3;
	gc.training = 1;
	RunGradCase(&gc);
	GradCaseInit(&gc, 3, hidden, 2, 2, EST_ACT_SIGMOID, EST_HEAD_SQUARED, 0);
	gc.dropout = 0.25;
	gc.batch_norm = 1;
	gc.training = 1;
	RunGradCase(&gc);
}

/*
 * The linear part alone (no hidden layer) and wide & deep, where the DNN
 * reads a subset of the inputs (one of them twice) and the linear part
 * another, overlapping subset.
 */
void
TestGradLinearPart(void)
{
	static const int dnn[3] = {4, 0, 4};
	static const int lin[3] = {1, 2, 4};
	int			hidden[2] = {5, 4};
	GradCase	gc;

	GradCaseInit(&gc, 5, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SIGMOID, 1);
	gc.n_linear = 3;
	gc.linear = lin;
	RunGradCase(&gc);

	GradCaseInit(&gc, 5, hidden, 2, 3, EST_ACT_ELU, EST_HEAD_SOFTMAX, 1);
	gc.n_dnn = 3;
	gc.dnn = dnn;
	gc.n_linear = 3;
	gc.linear = lin;
	RunGradCase(&gc);

	GradCaseInit(&gc, 5, hidden, 2, 2, EST_ACT_TANH, EST_HEAD_SQUARED, 0);
	gc.n_dnn = 3;
	gc.dnn = dnn;
	gc.n_linear = 3;
	gc.linear = lin;
	gc.batch_norm = 1;
	gc.dropout = 0.2;
	gc.training = 1;
	RunGradCase(&gc);
}

/*
 * Penalties: l2 alone, l1 and l2 together, on a wide & deep network so
 * that the linear kernel is included.
 */
void
TestGradPenalty(void)
{
	static const int lin[2] = {0, 2};
	int			hidden[1] = {4};
	GradCase	gc;

	GradCaseInit(&gc, 3, hidden, 1, 2, EST_ACT_TANH, EST_HEAD_SOFTMAX, 0);
	gc.n_linear = 2;
	gc.linear = lin;
	gc.l2 = 0.3;
	RunGradCase(&gc);
	gc.l1 = 0.05;
	gc.batch_norm = 1;
	RunGradCase(&gc);
}

/*
 * The penalty by hand, on a 2-1-1 network with batch_norm and a linear
 * part of one input: kernels W0 = (1, -2), W1 = (3), linear (-0.5);
 * biases, gamma and beta do not count.  l1 0.1, l2 0.01:
 * 0.1 * 6.5 + 0.01 * (1 + 4 + 9 + 0.25) = 0.7925.
 */
void
TestPenaltyByHand(void)
{
	static const int hidden[1] = {1};
	static const int lin[1] = {1};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	size_t		p;

	UnitSpec(&spec, 2, hidden, 1, 1, EST_ACT_RELU, EST_HEAD_SQUARED);
	spec.batch_norm = 1;
	spec.n_linear_inputs = 1;
	spec.linear_inputs = lin;
	CHECK(EstNetworkInit(&net, &spec, NULL, err) == EST_OK);
	/* W0 0..1, b0 2, W1 3, b1 4, gamma 5, beta 6, linear 7, bias 8 */
	CHECK(net.n_params == 9 && net.linear_offset == 7);
	for (p = 0; p < net.n_params; p++)
		net.params[p] = 100.0f;
	net.params[0] = 1;
	net.params[1] = -2;
	net.params[3] = 3;
	net.params[7] = -0.5f;
	CHECK(fabs(EstNetworkPenalty(&net, 0.1, 0.01) - 0.7925) < 1e-12);
	CHECK(EstNetworkPenalty(&net, 0, 0) == 0.0);
	CHECK(EstWorkspaceInit(&ws, &net, 1, err) == EST_OK);
	for (p = 0; p < net.n_params; p++)
		ws.grad[p] = 1.0f;
	EstNetworkPenaltyGrad(&net, &ws, 0.1, 0.01);
	CHECK(fabs(ws.grad[0] - (1 + 0.1 + 0.02)) < 1e-6);
	CHECK(fabs(ws.grad[1] - (1 - 0.1 - 0.04)) < 1e-6);
	CHECK(fabs(ws.grad[3] - (1 + 0.1 + 0.06)) < 1e-6);
	CHECK(fabs(ws.grad[7] - (1 - 0.1 - 0.01)) < 1e-6);
	CHECK(ws.grad[2] == 1.0f && ws.grad[4] == 1.0f && ws.grad[5] == 1.0f &&
		  ws.grad[6] == 1.0f && ws.grad[8] == 1.0f);
	/* sign(0) is 0 */
	net.params[0] = 0;
	ws.grad[0] = 0;
	EstNetworkPenaltyGrad(&net, &ws, 0.1, 0.01);
	CHECK(ws.grad[0] == 0.0f);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Clipping (3, 4), of norm 5: to 1 gives (0.6, 0.8); to 10 or to 0
 * leaves it alone; the norm before clipping is returned.
 */
void
TestClipByGlobalNorm(void)
{
	float		g[2] = {3, 4};

	CHECK(EstClipByGlobalNorm(g, 2, 10.0) == 5.0);
	CHECK(g[0] == 3.0f && g[1] == 4.0f);
	CHECK(EstClipByGlobalNorm(g, 2, 0.0) == 5.0);
	CHECK(g[0] == 3.0f && g[1] == 4.0f);
	CHECK(EstClipByGlobalNorm(g, 2, 1.0) == 5.0);
	CHECK(fabsf(g[0] - 0.6f) < 1e-7f && fabsf(g[1] - 0.8f) < 1e-7f);
	CHECK(fabs(EstClipByGlobalNorm(g, 2, 1.0) - 1.0) < 1e-7);
	CHECK(EstClipByGlobalNorm(g, 0, 1.0) == 0.0);
}

/*
 * The negative control: an error of 5% of the gradient's norm in one
 * kernel weight, one bias, one gamma, or a gradient computed for other
 * labels must each be caught.
 */
void
TestGradCheckDetectsErrors(void)
{
	int			hidden[1] = {5};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[6 * 3];
	float		y[6];
	float		y_other[6];
	GradSetup	g;
	GradResult	clean;
	GradResult	res;
	int			i;

	UnitSpec(&spec, 3, hidden, 1, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX);
	spec.batch_norm = 1;
	EstRngSeed(&rng, 21);
	CHECK(EstNetworkInit(&net, &spec, &rng, err) == EST_OK);
	FillUniform(&rng, X, 18, -1.5, 1.5);
	for (i = 0; i < 6; i++)
	{
		y[i] = (float) (i % 3);
		y_other[i] = (float) ((i + 1) % 3);
	}
	memset(&g, 0, sizeof(g));
	g.X = X;
	g.y = y;
	g.n = 6;
	g.training = 1;
	clean = GradCheck(&net, &g, -1, 0.0);
	CHECK(clean.bad == 0);

	res = GradCheck(&net, &g, 2, 0.05 * clean.ana_norm);
	CHECK(res.bad >= 1);
	res = GradCheck(&net, &g, (long) net.offset_b[1], 0.05 * clean.ana_norm);
	CHECK(res.bad >= 1);
	res = GradCheck(&net, &g, (long) net.offset_gamma[1] + 2,
					0.05 * clean.ana_norm);
	CHECK(res.bad >= 1);

	/* analytic gradient of other labels against numeric of the true ones */
	{
		EstWorkspace ws;
		double		worst = 0.0;
		size_t		p;
		float	   *wrong = malloc(sizeof(float) * net.n_params);
		float	   *right = malloc(sizeof(float) * net.n_params);

		CHECK(EstWorkspaceInit(&ws, &net, 6, err) == EST_OK);
		EstNetworkForward(&net, &ws, X, 6);
		(void) EstHeadLoss(&net, &ws, y_other, NULL, 6, 1);
		EstNetworkBackward(&net, &ws, X, 6);
		memcpy(wrong, ws.grad, sizeof(float) * net.n_params);
		EstNetworkForward(&net, &ws, X, 6);
		(void) EstHeadLoss(&net, &ws, y, NULL, 6, 1);
		EstNetworkBackward(&net, &ws, X, 6);
		memcpy(right, ws.grad, sizeof(float) * net.n_params);
		for (p = 0; p < net.n_params; p++)
			if (fabs(wrong[p] - right[p]) > worst)
				worst = fabs(wrong[p] - right[p]);
		CHECK(worst > 1e-2);
		free(wrong);
		free(right);
		EstWorkspaceFree(&ws);
	}

	/* an inference gradient is not the training gradient under batch_norm */
	{
		EstWorkspace ws;
		double		worst = 0.0;
		size_t		p;
		float	   *infer = malloc(sizeof(float) * net.n_params);

		CHECK(EstWorkspaceInit(&ws, &net, 6, err) == EST_OK);
		EstNetworkForward(&net, &ws, X, 6);
		(void) EstHeadLoss(&net, &ws, y, NULL, 6, 1);
		EstNetworkBackward(&net, &ws, X, 6);
		memcpy(infer, ws.grad, sizeof(float) * net.n_params);
		EstNetworkForwardTrain(&net, &ws, X, 6, &rng);
		(void) EstHeadLoss(&net, &ws, y, NULL, 6, 1);
		EstNetworkBackward(&net, &ws, X, 6);
		for (p = 0; p < net.n_params; p++)
			if (fabs(infer[p] - ws.grad[p]) > worst)
				worst = fabs(infer[p] - ws.grad[p]);
		CHECK(worst > 1e-2);
		free(infer);
		EstWorkspaceFree(&ws);
	}
	EstNetworkFree(&net);
}

/* ----------------------------------------------------------------
 * Input segments
 * ----------------------------------------------------------------
 */

/*
 * Without segments a network has one dense segment of n_inputs, no
 * expansion and no buffer for it; a specification naming that one dense
 * segment (or several dense segments) gives the same network, the same
 * draws and the same results.
 */
void
TestSegmentsNone(void)
{
	static const int hidden[1] = {4};
	static const EstInputSegment one[1] = {{EST_INPUT_DENSE, 3, 0, 0, 0}};
	static const EstInputSegment two[2] = {
		{EST_INPUT_DENSE, 1, 7, 5, EST_COMBINER_SUM},
		{EST_INPUT_DENSE, 2, 0, 0, 0}
	};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstNetwork	net2;
	EstWorkspace ws;
	EstWorkspace ws2;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[4 * 3];
	int			variant;

	EstRngSeed(&rng, 8);
	FillUniform(&rng, X, 12, -1, 1);
	UnitSpec(&spec, 3, hidden, 1, 2, EST_ACT_TANH, EST_HEAD_SOFTMAX);
	EstRngSeed(&rng, 2);
	CHECK(EstNetworkInit(&net, &spec, &rng, err) == EST_OK);
	CHECK(net.n_segments == 1 && net.segments != NULL);
	CHECK(net.segments[0].kind == EST_INPUT_DENSE &&
		  net.segments[0].slots == 3 && net.segments[0].buckets == 0);
	CHECK(net.input_width == 3 && net.has_expansion == 0);
	CHECK(net.offset_embed != NULL && net.offset_embed[0] == 0);
	CHECK(net.n_params == 3 * 4 + 4 + 4 * 2 + 2);
	CHECK(EstWorkspaceInit(&ws, &net, 4, err) == EST_OK);
	CHECK(ws.assembled == NULL && ws.delta[0] == NULL);
	CHECK(EstNetworkScratchSize(&net) == 8);
	EstNetworkForward(&net, &ws, X, 4);

	for (variant = 0; variant < 2; variant++)
	{
		spec.n_segments = variant == 0 ? 1 : 2;
		spec.segments = variant == 0 ? one : two;
		EstRngSeed(&rng, 2);
		CHECKF(EstNetworkInit(&net2, &spec, &rng, err) == EST_OK, "%s", err);
		CHECK(net2.n_segments == spec.n_segments && net2.has_expansion == 0);
		CHECK(net2.input_width == 3 && net2.n_params == net.n_params);
		/* the fields a dense segment does not use are not kept */
		CHECK(net2.segments[0].buckets == 0 &&
			  net2.segments[0].dimension == 0 &&
			  net2.segments[0].combiner == 0);
		CHECK(memcmp(net.params, net2.params,
					 sizeof(float) * net.n_params) == 0);
		CHECK(EstWorkspaceInit(&ws2, &net2, 4, err) == EST_OK);
		CHECK(ws2.assembled == NULL && ws2.delta[0] == NULL);
		EstNetworkForward(&net2, &ws2, X, 4);
		CHECK(memcmp(ws.act[2], ws2.act[2], sizeof(float) * 8) == 0);
		EstWorkspaceFree(&ws2);
		EstNetworkFree(&net2);
		CHECK(net2.segments == NULL && net2.offset_embed == NULL);
	}
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * A network of segments dense 2, indicator (2 slots, 5 buckets),
 * embedding (3 slots, 4 buckets, dimension 3) and embedding (1 slot, 6
 * buckets, dimension 2): 8 inputs, an input vector of 2 + 5 + 3 + 2 =
 * 12.  Hidden layer 4, 2 outputs, batch_norm, a linear part reading
 * columns (0, 3, 6) of the input vector:
 *	 W0 12x4 at 0, b0 at 48, W1 4x2 at 52, b1 at 60, gamma at 62, beta at
 *	 66, table 4x3 at 70, table 6x2 at 82, linear 3x2 at 94, bias at 100:
 *	 102 parameters.
 * Draws: 48 + 8 Glorot, 6 for the linear kernel, then 12 values of
 * sqrt(3/3) and 12 of sqrt(3/2).
 */
void
TestSegmentsLayout(void)
{
	static const int hidden[1] = {4};
	static const int lin[3] = {0, 3, 6};
	static const EstInputSegment segs[4] = {
		{EST_INPUT_DENSE, 2, 0, 0, 0},
		{EST_INPUT_INDICATOR, 2, 5, 9, EST_COMBINER_SQRTN},
		{EST_INPUT_EMBEDDING, 3, 4, 3, EST_COMBINER_MEAN},
		{EST_INPUT_EMBEDDING, 1, 6, 2, EST_COMBINER_SUM}
	};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	int			out_of_range = 0;
	int			k;

	UnitSpec(&spec, 8, hidden, 1, 2, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.n_segments = 4;
	spec.segments = segs;
	spec.batch_norm = 1;
	spec.n_linear_inputs = 3;
	spec.linear_inputs = lin;
	CHECK(EstNetworkParamCount(&spec) == 102);
	EstRngSeed(&rng, 6);
	CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
	CHECK(net.n_inputs == 8 && net.input_width == 12 &&
		  net.has_expansion == 1 && net.sizes[0] == 12);
	CHECK(net.n_segments == 4);
	CHECK(net.segments[1].kind == EST_INPUT_INDICATOR &&
		  net.segments[1].buckets == 5 && net.segments[1].dimension == 0 &&
		  net.segments[1].combiner == 0);
	CHECK(net.segments[2].dimension == 3 &&
		  net.segments[2].combiner == EST_COMBINER_MEAN);
	CHECK(net.offset_gamma[1] == 62 && net.offset_beta[1] == 66);
	CHECK(net.offset_embed[2] == 70 && net.offset_embed[3] == 82);
	CHECK(net.linear_offset == 94 && net.n_params == 102);

	/* tables are drawn after the kernels, with standard deviation 1/sqrt(d) */
	EstRngSeed(&rng, 6);
	for (k = 0; k < 48 + 8 + 6; k++)
		(void) EstRngUniform(&rng);
	for (k = 0; k < 12; k++)
	{
		float		expect = (float) ((2.0 * EstRngUniform(&rng) - 1.0) * 1.0);

		if (net.params[70 + k] != expect)
			out_of_range++;
	}
	for (k = 0; k < 12; k++)
	{
		float		expect = (float) ((2.0 * EstRngUniform(&rng) - 1.0) *
									  sqrt(1.5));

		if (net.params[82 + k] != expect)
			out_of_range++;
	}
	CHECKF(out_of_range == 0, "%d table values differ", out_of_range);
	CHECK(net.params[94] != 0.0f && net.params[101] == 0.0f);

	/* the workspace has the input vectors and their gradient */
	CHECK(EstWorkspaceInit(&ws, &net, 3, err) == EST_OK);
	CHECK(ws.assembled != NULL && ws.delta[0] != NULL);
	CHECK(EstNetworkScratchSize(&net) == 12 + 2 * 4);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
	CHECK(net.segments == NULL && net.offset_embed == NULL &&
		  net.params == NULL);

	/* an indicator alone needs the input vectors but not their gradient */
	spec.n_segments = 2;
	spec.n_inputs = 4;
	spec.n_linear_inputs = 0;
	CHECK(EstNetworkParamCount(&spec) == 7 * 4 + 4 + 4 * 2 + 2 + 8);
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	CHECK(net.input_width == 7 && net.has_expansion == 1);
	CHECK(EstWorkspaceInit(&ws, &net, 3, err) == EST_OK);
	CHECK(ws.assembled != NULL && ws.delta[0] == NULL);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Segment limits and consistency: every bad specification is refused
 * before anything is allocated, a limit with EST_ELIMIT and both
 * figures, EstNetworkParamCount gives 0 for each.
 */
void
TestSegmentsLimits(void)
{
	static EstInputSegment many[EST_MAX_SEGMENTS + 1];
	EstInputSegment segs[3];
	EstNetworkSpec spec;
	EstNetwork	net;
	char		err[EST_ERRMSG_LEN];
	int			idx[2] = {0, 1};
	long		allocs_before;
	int			i;

	for (i = 0; i < EST_MAX_SEGMENTS + 1; i++)
	{
		many[i].kind = EST_INPUT_DENSE;
		many[i].slots = 1;
	}

	/*
	 * RESET_SEGMENTS makes segs dense 2, embedding (3 slots, 4 buckets,
	 * dimension 2) and indicator (1 slot, 3 buckets): 6 inputs, an input
	 * vector of 7.  EXPECT checks that the specification is refused with
	 * status, allocating nothing.
	 */
#define RESET_SEGMENTS() \
	do { \
		memset(segs, 0, sizeof(segs)); \
		segs[0].kind = EST_INPUT_DENSE; \
		segs[0].slots = 2; \
		segs[1].kind = EST_INPUT_EMBEDDING; \
		segs[1].slots = 3; \
		segs[1].buckets = 4; \
		segs[1].dimension = 2; \
		segs[1].combiner = EST_COMBINER_MEAN; \
		segs[2].kind = EST_INPUT_INDICATOR; \
		segs[2].slots = 1; \
		segs[2].buckets = 3; \
		UnitSpec(&spec, 6, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SIGMOID); \
		spec.n_segments = 3; \
		spec.segments = segs; \
	} while (0)
#define EXPECT(status) \
	do { \
		CHECKF(EstNetworkInit(&net, &spec, NULL, err) == (status), \
			   "expected %d: %s", (int) (status), err); \
		CHECK(EstNetworkParamCount(&spec) == 0); \
		CHECK(net.params == NULL && net.segments == NULL); \
	} while (0)

	allocs_before = unit_total_allocs;
	RESET_SEGMENTS();
	/* 7 + 1 + table 8 */
	CHECK(EstNetworkParamCount(&spec) == 16);

	/* the number of segments */
	spec.n_segments = -1;
	EXPECT(EST_EINVAL);
	spec.n_segments = 3;
	spec.segments = NULL;
	EXPECT(EST_EINVAL);
	UnitSpec(&spec, EST_MAX_SEGMENTS + 1, NULL, 0, 1, EST_ACT_RELU,
			 EST_HEAD_SIGMOID);
	spec.n_segments = EST_MAX_SEGMENTS + 1;
	spec.segments = many;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "4097") != NULL && strstr(err, "4096") != NULL);

	/* kinds, slots, buckets, dimensions, combiners */
	RESET_SEGMENTS();
	segs[1].kind = (EstInputKind) 0;
	EXPECT(EST_EINVAL);
	segs[1].kind = (EstInputKind) 4;
	EXPECT(EST_EINVAL);
	RESET_SEGMENTS();
	segs[0].slots = 0;
	EXPECT(EST_EINVAL);
	segs[0].slots = -3;
	EXPECT(EST_EINVAL);
	segs[0].slots = EST_MAX_UNITS + 1;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "65537") != NULL && strstr(err, "65536") != NULL);
	RESET_SEGMENTS();
	segs[1].slots = EST_MAX_MULTI + 1;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "1025") != NULL && strstr(err, "1024") != NULL);
	segs[1].slots = 0;
	EXPECT(EST_EINVAL);
	RESET_SEGMENTS();
	segs[2].slots = EST_MAX_MULTI + 1;
	EXPECT(EST_ELIMIT);
	RESET_SEGMENTS();
	segs[1].buckets = 0;
	EXPECT(EST_EINVAL);
	segs[1].buckets = EST_MAX_BUCKETS + 1;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "16777217") != NULL && strstr(err, "16777216") != NULL);
	RESET_SEGMENTS();
	segs[2].buckets = 0;
	EXPECT(EST_EINVAL);
	segs[2].buckets = EST_MAX_BUCKETS + 1;
	EXPECT(EST_ELIMIT);
	RESET_SEGMENTS();
	segs[1].dimension = 0;
	EXPECT(EST_EINVAL);
	segs[1].dimension = EST_MAX_EMBEDDING + 1;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "1025") != NULL && strstr(err, "1024") != NULL);
	RESET_SEGMENTS();
	segs[1].combiner = (EstCombiner) 0;
	EXPECT(EST_EINVAL);
	segs[1].combiner = (EstCombiner) 4;
	EXPECT(EST_EINVAL);

	/* the slots must add up to n_inputs */
	RESET_SEGMENTS();
	spec.n_inputs = 5;
	EXPECT(EST_EINVAL);
	CHECK(strstr(err, "6") != NULL && strstr(err, "5") != NULL);
	spec.n_inputs = 7;
	EXPECT(EST_EINVAL);

	/* 65532 + 3 + 1 inputs, but an input vector of 65532 + 2 + 3 */
	RESET_SEGMENTS();
	segs[0].slots = 65532;
	spec.n_inputs = 65536;
	EXPECT(EST_ELIMIT);
	CHECKF(strcmp(err, "input vector has 65537 values, the limit is 65536") == 0,
		   "message: %s", err);
	/* an indicator of 65536 buckets: 2 + 2 + 65536 */
	RESET_SEGMENTS();
	segs[2].buckets = 65536;
	EXPECT(EST_ELIMIT);
	CHECK(strstr(err, "65540") != NULL);

	/*
	 * tables count in the parameters: 2^24 x 16, and W0 (65536 x 1) and
	 * b0 for an input vector of 2 + 16 + 65518
	 */
	RESET_SEGMENTS();
	segs[1].buckets = EST_MAX_BUCKETS;
	segs[1].dimension = 16;
	segs[2].buckets = 65536 - 18;
	EXPECT(EST_ELIMIT);
	CHECKF(strcmp(err, "network needs 268500993 parameters, the limit is 268435456") == 0,
		   "message: %s", err);

	/* indexes run over the input vector, not X */
	RESET_SEGMENTS();
	spec.n_dnn_inputs = 2;
	spec.dnn_inputs = idx;
	idx[0] = 6;
	idx[1] = 7;
	EXPECT(EST_EINVAL);
	spec.n_dnn_inputs = 0;
	spec.n_linear_inputs = 2;
	spec.linear_inputs = idx;
	EXPECT(EST_EINVAL);

	/* the linear part cannot read an embedding */
	idx[0] = 0;
	idx[1] = 3;
	EXPECT(EST_EINVAL);
	CHECKF(strstr(err, "embedding segment 1") != NULL, "message: %s", err);
	idx[1] = 2;
	EXPECT(EST_EINVAL);
	CHECK(unit_total_allocs == allocs_before);

	/* but the DNN can, and the linear part reads the indicator */
	idx[1] = 6;
	CHECK(EstNetworkParamCount(&spec) == 16 + 3);
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	EstNetworkFree(&net);
	/* the fields a kind does not use are not checked */
	segs[0].buckets = -5;
	segs[0].combiner = (EstCombiner) 99;
	segs[2].dimension = -1;
	segs[2].combiner = (EstCombiner) 0;
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	EstNetworkFree(&net);
	/* exactly the largest number of segments */
	UnitSpec(&spec, EST_MAX_SEGMENTS, NULL, 0, 1, EST_ACT_RELU,
			 EST_HEAD_SIGMOID);
	spec.n_segments = EST_MAX_SEGMENTS;
	spec.segments = many;
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	CHECK(net.n_segments == EST_MAX_SEGMENTS && net.has_expansion == 0);
	EstNetworkFree(&net);
#undef RESET_SEGMENTS
#undef EXPECT
}

/*
 * A linear model reading dense 1, indicator (2 slots, 3 buckets) and a
 * mean embedding (3 slots, 4 buckets, dimension 2) whose table rows are
 * (1, 2), (3, 4), (5, 6), (7, 8): an input vector of 6.  W0 = (1, 10,
 * 100, 1000, 0.5, -2), b0 = 0.25, and a linear part reading the
 * indicator's columns (1, 2, 3) with kernel (0.125, -1, 3), bias 0.5:
 *	 x = (2.5, 2, 2, 1, 3, -1): v = (2.5, 0, 0, 2, (3+7)/2, (4+8)/2);
 *	   DNN 2.5 + 2000 + 2.5 - 12 + 0.25 = 1993.25, linear 6 + 0.5:
 *	   1999.75;
 *	 x = (-1, -1, 0, 0, 2, -1): v = (-1, 1, 0, 0, 3, 4); DNN -1 + 10 +
 *	   1.5 - 8 + 0.25 = 2.75, linear 0.125 + 0.5: 3.375;
 *	 x = (0, 3, 7, -1, -1, -1): ids 3 and 7 are past the buckets, no id
 *	   at all: v = 0, logit 0.25 + 0.5 = 0.75.
 * With the sum combiner row 0 gives (10, 12): 1983.75 + 6.5; with sqrtn
 * (10, 12) / sqrt 2.  The gradient of the first row against the label
 * logit - 0.5 is 1 for the logit, so the input vector's embedding
 * columns get (0.5, -2), and table rows 1 and 3 each half of it (mean
 * of two ids); the linear kernel gets the indicator counts (0, 0, 2).
 */
void
TestSegmentsByHand(void)
{
	static const int lin[3] = {1, 2, 3};
	static const EstInputSegment segs[3] = {
		{EST_INPUT_DENSE, 1, 0, 0, 0},
		{EST_INPUT_INDICATOR, 2, 3, 0, 0},
		{EST_INPUT_EMBEDDING, 3, 4, 2, EST_COMBINER_MEAN}
	};
	static const float W[7] = {1, 10, 100, 1000, 0.5f, -2, 0.25f};
	static const float X[18] = {
		2.5f, 2, 2, 1, 3, -1,
		-1, -1, 0, 0, 2, -1,
		0, 3, 7, -1, -1, -1
	};
	static const float V[18] = {
		2.5f, 0, 0, 2, 5, 6,
		-1, 1, 0, 0, 3, 4,
		0, 0, 0, 0, 0, 0
	};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	float		scratch[6];
	float		y[1];
	double		out;
	double		r2 = sqrt(2.0);
	int			i;
	int			k;

	UnitSpec(&spec, 6, NULL, 0, 1, EST_ACT_RELU, EST_HEAD_SQUARED);
	spec.n_segments = 3;
	spec.segments = segs;
	spec.n_linear_inputs = 3;
	spec.linear_inputs = lin;
	CHECKF(EstNetworkInit(&net, &spec, NULL, err) == EST_OK, "%s", err);
	CHECK(net.n_params == 7 + 8 + 4 && net.offset_embed[2] == 7 &&
		  net.linear_offset == 15);
	CHECK(EstNetworkScratchSize(&net) == 6);
	memcpy(net.params, W, sizeof(W));
	for (k = 0; k < 8; k++)
		net.params[7 + k] = (float) (k + 1);
	net.params[15] = 0.125f;
	net.params[16] = -1;
	net.params[17] = 3;
	net.params[18] = 0.5f;
	CHECK(EstWorkspaceInit(&ws, &net, 3, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 3);
	CHECK(memcmp(ws.assembled, V, sizeof(V)) == 0);
	CHECKF(ws.act[1][0] == 1999.75f, "%g", ws.act[1][0]);
	CHECKF(ws.act[1][1] == 3.375f, "%g", ws.act[1][1]);
	CHECKF(ws.act[1][2] == 0.75f, "%g", ws.act[1][2]);
	for (i = 0; i < 3; i++)
	{
		EstNetworkPredictOne(&net, X + 6 * i, scratch, &out);
		CHECKF(out == ws.act[1][i], "row %d: %g", i, out);
	}

	/* the table gradient of the first row */
	y[0] = 1999.75f - 0.5f;
	EstNetworkForward(&net, &ws, X, 1);
	(void) EstHeadLoss(&net, &ws, y, NULL, 1, 1);
	CHECK(ws.delta[1][0] == 1.0f);
	EstNetworkBackward(&net, &ws, X, 1);
	CHECK(ws.grad[7] == 0.0f && ws.grad[8] == 0.0f);
	CHECK(ws.grad[9] == 0.25f && ws.grad[10] == -1.0f);
	CHECK(ws.grad[11] == 0.0f && ws.grad[12] == 0.0f);
	CHECK(ws.grad[13] == 0.25f && ws.grad[14] == -1.0f);
	CHECK(ws.grad[15] == 0.0f && ws.grad[16] == 0.0f &&
		  ws.grad[17] == 2.0f && ws.grad[18] == 1.0f);
	CHECK(ws.grad[3] == 2.0f && ws.grad[4] == 5.0f && ws.grad[6] == 1.0f);
	/* an id held twice counts twice: ids (1, 1, 3) */
	{
		float		X2[6] = {0, -1, -1, 1, 1, 3};

		EstNetworkForward(&net, &ws, X2, 1);
		CHECK(fabsf(ws.assembled[4] - 13.0f / 3) < 1e-6f &&
			  fabsf(ws.assembled[5] - 16.0f / 3) < 1e-6f);
		y[0] = ws.act[1][0] - 0.5f;
		(void) EstHeadLoss(&net, &ws, y, NULL, 1, 1);
		EstNetworkBackward(&net, &ws, X2, 1);
		CHECK(fabsf(ws.grad[9] - 2 * 0.5f / 3) < 1e-6f &&
			  fabsf(ws.grad[10] + 2 * 2.0f / 3) < 1e-6f);
		CHECK(fabsf(ws.grad[13] - 0.5f / 3) < 1e-6f);
	}
	/* the next backward starts its table gradient from zero */
	EstNetworkForward(&net, &ws, X + 12, 1);
	(void) EstHeadLoss(&net, &ws, y, NULL, 1, 1);
	EstNetworkBackward(&net, &ws, X + 12, 1);
	for (k = 7; k < 15; k++)
		CHECK(ws.grad[k] == 0.0f);

	/* the other combiners */
	net.segments[2].combiner = EST_COMBINER_SUM;
	EstNetworkForward(&net, &ws, X, 1);
	CHECKF(ws.act[1][0] == 1983.75f + 6.5f, "%g", ws.act[1][0]);
	net.segments[2].combiner = EST_COMBINER_SQRTN;
	EstNetworkForward(&net, &ws, X, 1);
	CHECKF(fabs(ws.act[1][0] - (2.5 + 2000 + (5 - 24) / r2 + 0.25 + 6.5)) < 1e-3,
		   "%g", ws.act[1][0]);
	EstNetworkPredictOne(&net, X, scratch, &out);
	CHECK(fabs(out - ws.act[1][0]) < 1e-3);

	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Slots that do not hold an id in [0, buckets) -- NaN, infinities, ids
 * past the last bucket, negative ones, fractions -- count as empty, in the
 * forward, the backward and EstNetworkPredictOne, exactly as -1 does.
 */
void
TestSegmentsBadIds(void)
{
	static const int hidden[1] = {3};
	static const EstInputSegment segs[3] = {
		{EST_INPUT_INDICATOR, 3, 4, 0, 0},
		{EST_INPUT_EMBEDDING, 3, 4, 2, EST_COMBINER_SQRTN},
		{EST_INPUT_DENSE, 1, 0, 0, 0}
	};
	const float bad[] = {
		NAN, INFINITY, -INFINITY, 4.0f, 5.0f, 1e30f, -2.0f, 0.5f,
		1e9f, 16777216.0f, -0.5f
	};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		Xgood[2 * 7] = {
		1, -1, -1, 2, -1, -1, 0.5f,
		-1, -1, -1, -1, -1, -1, 0.5f
	};
	float		Xbad[2 * 7];
	float		y[2] = {1, 0};
	float	   *grad_good;
	float		act_good[2 * 3];
	float	   *scratch;
	double		out_good[3];
	double		out_bad[3];
	size_t		b;

	UnitSpec(&spec, 7, hidden, 1, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX);
	spec.n_segments = 3;
	spec.segments = segs;
	EstRngSeed(&rng, 12);
	CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
	CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
	grad_good = malloc(sizeof(float) * net.n_params);
	scratch = malloc(sizeof(float) * EstNetworkScratchSize(&net));
	EstNetworkForward(&net, &ws, Xgood, 2);
	memcpy(act_good, ws.act[2], sizeof(act_good));
	(void) EstHeadLoss(&net, &ws, y, NULL, 2, 1);
	EstNetworkBackward(&net, &ws, Xgood, 2);
	memcpy(grad_good, ws.grad, sizeof(float) * net.n_params);
	EstNetworkPredictOne(&net, Xgood, scratch, out_good);

	for (b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
	{
		int			same;

		memcpy(Xbad, Xgood, sizeof(Xbad));
		Xbad[1] = bad[b];
		Xbad[2] = bad[b];
		Xbad[4] = bad[b];
		Xbad[5] = bad[b];
		Xbad[7] = bad[b];
		Xbad[10] = bad[b];
		EstNetworkForward(&net, &ws, Xbad, 2);
		same = memcmp(act_good, ws.act[2], sizeof(act_good)) == 0;
		(void) EstHeadLoss(&net, &ws, y, NULL, 2, 1);
		EstNetworkBackward(&net, &ws, Xbad, 2);
		same = same && memcmp(grad_good, ws.grad,
							  sizeof(float) * net.n_params) == 0;
		EstNetworkPredictOne(&net, Xbad, scratch, out_bad);
		same = same && memcmp(out_good, out_bad, sizeof(out_good)) == 0;
		CHECKF(same, "id %g is not treated as empty", bad[b]);
	}
	/* ids (1, -0, -1): -0 is id 0 */
	Xgood[1] = -0.0f;
	EstNetworkForward(&net, &ws, Xgood, 1);
	CHECK(ws.assembled[0] == 1.0f && ws.assembled[1] == 1.0f &&
		  ws.assembled[2] == 0.0f && ws.assembled[3] == 0.0f);
	free(grad_good);
	free(scratch);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * With segments, the batched forward (and EstHeadProbabilities) agrees
 * with EstNetworkPredictOne, for every head, with and without batch_norm,
 * dnn_inputs and a linear part; the scratch is exactly
 * EstNetworkScratchSize floats.
 */
void
TestSegmentsMatchPredictOne(void)
{
	static const EstInputSegment segs[4] = {
		{EST_INPUT_EMBEDDING, 2, 6, 3, EST_COMBINER_SQRTN},
		{EST_INPUT_DENSE, 2, 0, 0, 0},
		{EST_INPUT_INDICATOR, 3, 4, 0, 0},
		{EST_INPUT_EMBEDDING, 1, 3, 2, EST_COMBINER_MEAN}
	};
	/* input vector: embedding 0..2, dense 3..4, indicator 5..8, emb 9..10 */
	static const int dnn[6] = {10, 0, 1, 3, 9, 2};
	static const int lin[3] = {8, 3, 5};
	int			hidden[2] = {6, 5};
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[10 * 8];
	double		probs[10 * 3];
	double		out[3];
	int			head;
	int			variant;

	EstRngSeed(&rng, 31);
	FillUniform(&rng, X, 80, -2, 2);
	FillIds(&rng, X, 10, 8, segs, 4);
	for (variant = 0; variant < 8; variant++)
	{
		for (head = EST_HEAD_SOFTMAX; head <= EST_HEAD_SIGMOID; head++)
		{
			EstNetworkSpec spec;
			EstNetwork	net;
			EstWorkspace ws;
			float	   *scratch;
			size_t		scratch_size;
			int			k = head == EST_HEAD_SIGMOID ? 1 : 3;
			double		worst = 0.0;
			size_t		p;
			int			i;
			int			j;

			/* 1: batch_norm, 2: dnn subset and linear part, 4: no hidden */
			UnitSpec(&spec, 8, hidden, (variant & 4) ? 0 : 2, k,
					 EST_ACT_ELU, (EstHead) head);
			spec.n_segments = 4;
			spec.segments = segs;
			spec.batch_norm = variant & 1;
			spec.dropout = 0.2;
			if (variant & 2)
			{
				spec.n_dnn_inputs = 6;
				spec.dnn_inputs = dnn;
				spec.n_linear_inputs = 3;
				spec.linear_inputs = lin;
			}
			CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
			for (p = 0; p < net.n_params; p++)
				if (net.params[p] == 0.0f || net.params[p] == 1.0f)
					net.params[p] = (float) (0.5 + EstRngUniform(&rng)) *
						(net.params[p] == 0.0f ? 0.5f : 1.0f);
			for (p = 0; p < net.n_stats; p++)
				net.stats[p] = (float) (0.2 + EstRngUniform(&rng));
			CHECK(EstWorkspaceInit(&ws, &net, 10, err) == EST_OK);
			EstNetworkForward(&net, &ws, X, 10);
			EstHeadProbabilities(&net, &ws, 10, probs);
			scratch_size = EstNetworkScratchSize(&net);
			CHECK(scratch_size == (size_t) (11 + ((variant & 2) ? 6 : 0) +
										  ((variant & 4) ? 0 : 12)));
			scratch = malloc(sizeof(float) * scratch_size);
			for (i = 0; i < 10; i++)
			{
				EstNetworkPredictOne(&net, X + 8 * i, scratch, out);
				for (j = 0; j < k; j++)
				{
					double		d = fabs(out[j] - probs[i * k + j]);

					if (head == EST_HEAD_SQUARED)
						d /= 1.0 + fabs(out[j]);
					if (!(d <= worst))
						worst = d;
				}
			}
			CHECKF(worst < 1e-5, "variant %d head %d: difference %g",
				   variant, head, worst);
			free(scratch);
			EstWorkspaceFree(&ws);
			EstNetworkFree(&net);
		}
	}
}

/*
 * Gradient checks with indicator and embedding segments, each combiner,
 * multi-valued slots with empty ones.
 */
void
TestGradSegments(void)
{
	static const EstInputSegment mean[3] = {
		{EST_INPUT_INDICATOR, 2, 3, 0, 0},
		{EST_INPUT_DENSE, 2, 0, 0, 0},
		{EST_INPUT_EMBEDDING, 3, 4, 3, EST_COMBINER_MEAN}
	};
	static const EstInputSegment sum[2] = {
		{EST_INPUT_EMBEDDING, 3, 4, 2, EST_COMBINER_SUM},
		{EST_INPUT_DENSE, 1, 0, 0, 0}
	};
	static const EstInputSegment sqrtn[3] = {
		{EST_INPUT_DENSE, 1, 0, 0, 0},
		{EST_INPUT_EMBEDDING, 4, 3, 3, EST_COMBINER_SQRTN},
		{EST_INPUT_INDICATOR, 1, 2, 0, 0}
	};
	int			hidden[2] = {5, 4};
	GradCase	gc;

	GradCaseInit(&gc, 7, hidden, 2, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX, 1);
	gc.n_segments = 3;
	gc.segments = mean;
	RunGradCase(&gc);

	GradCaseInit(&gc, 4, hidden, 1, 2, EST_ACT_SIGMOID, EST_HEAD_SQUARED, 0);
	gc.n_segments = 2;
	gc.segments = sum;
	RunGradCase(&gc);

	GradCaseInit(&gc, 6, hidden, 2, 1, EST_ACT_ELU, EST_HEAD_SIGMOID, 1);
	gc.n_segments = 3;
	gc.segments = sqrtn;
	RunGradCase(&gc);

	/* no hidden layer: the tables get the logits' gradient directly */
	GradCaseInit(&gc, 6, NULL, 0, 3, EST_ACT_RELU, EST_HEAD_SOFTMAX, 1);
	gc.n_segments = 3;
	gc.segments = sqrtn;
	RunGradCase(&gc);
}

/*
 * Segments with dnn_inputs (embedding columns out of order, one read
 * twice, a run across two adjacent tables) and a linear part reading an
 * indicator and a dense column, with batch_norm in training forwards,
 * dropout, and penalties that leave the tables alone.
 */
void
TestGradSegmentsWideAndDeep(void)
{
	static const EstInputSegment segs[4] = {
		{EST_INPUT_INDICATOR, 2, 3, 0, 0},
		{EST_INPUT_EMBEDDING, 2, 4, 3, EST_COMBINER_MEAN},
		{EST_INPUT_EMBEDDING, 3, 3, 2, EST_COMBINER_SQRTN},
		{EST_INPUT_DENSE, 2, 0, 0, 0}
	};
	/*
	 * input vector: indicator 0..2, embedding 3..5, embedding 6..7, dense
	 * 8..9
	 */
	static const int dnn[8] = {9, 4, 5, 6, 7, 3, 5, 8};
	static const int lin[3] = {0, 2, 9};
	int			hidden[2] = {5, 4};
	GradCase	gc;

	GradCaseInit(&gc, 9, hidden, 2, 3, EST_ACT_TANH, EST_HEAD_SOFTMAX, 1);
	gc.n_segments = 4;
	gc.segments = segs;
	gc.n_dnn = 8;
	gc.dnn = dnn;
	gc.n_linear = 3;
	gc.linear = lin;
	gc.batch_norm = 1;
	gc.training = 1;
	RunGradCase(&gc);

	GradCaseInit(&gc, 9, hidden, 1, 2, EST_ACT_GELU, EST_HEAD_SQUARED, 0);
	gc.n_segments = 4;
	gc.segments = segs;
	gc.n_dnn = 8;
	gc.dnn = dnn;
	gc.n_linear = 3;
	gc.linear = lin;
	gc.batch_norm = 1;
	gc.dropout = 0.2;
	gc.training = 1;
	RunGradCase(&gc);

	/* the whole input vector, with penalties */
	GradCaseInit(&gc, 9, hidden, 2, 2, EST_ACT_SIGMOID, EST_HEAD_SOFTMAX, 0);
	gc.n_segments = 4;
	gc.segments = segs;
	gc.n_linear = 3;
	gc.linear = lin;
	gc.l1 = 0.05;
	gc.l2 = 0.3;
	RunGradCase(&gc);
}

/*
 * Penalties leave embedding tables alone: the penalty does not change
 * with their values, and the penalty's gradient does not touch them.
 */
void
TestSegmentsPenalty(void)
{
	static const EstInputSegment segs[2] = {
		{EST_INPUT_DENSE, 2, 0, 0, 0},
		{EST_INPUT_EMBEDDING, 1, 5, 4, EST_COMBINER_SUM}
	};
	static const int lin[1] = {1};
	int			hidden[1] = {3};
	EstNetworkSpec spec;
	EstNetwork	net;
	EstWorkspace ws;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	size_t		table = 0;
	size_t		p;
	double		before;
	int			untouched = 1;

	UnitSpec(&spec, 3, hidden, 1, 2, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.n_segments = 2;
	spec.segments = segs;
	spec.n_linear_inputs = 1;
	spec.linear_inputs = lin;
	EstRngSeed(&rng, 3);
	CHECKF(EstNetworkInit(&net, &spec, &rng, err) == EST_OK, "%s", err);
	table = net.offset_embed[1];
	CHECK(table == 6 * 3 + 3 + 3 * 2 + 2 && net.linear_offset == table + 20);
	before = EstNetworkPenalty(&net, 0.1, 0.2);
	CHECK(before > 0.0);
	for (p = table; p < table + 20; p++)
		net.params[p] = 50.0f;
	CHECK(EstNetworkPenalty(&net, 0.1, 0.2) == before);
	CHECK(EstWorkspaceInit(&ws, &net, 1, err) == EST_OK);
	memset(ws.grad, 0, sizeof(float) * net.n_params);
	EstNetworkPenaltyGrad(&net, &ws, 0.1, 0.2);
	for (p = table; p < table + 20; p++)
		if (ws.grad[p] != 0.0f)
			untouched = 0;
	CHECK(untouched);
	CHECK(ws.grad[0] != 0.0f && ws.grad[net.linear_offset] != 0.0f);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}
