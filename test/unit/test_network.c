/*-------------------------------------------------------------------------
 *
 * test_network.c
 *	  Tests of network shapes, the forward pass, the heads and the
 *	  backward pass.
 *
 * The gradient checks compare EstNetworkBackward with central finite
 * differences of EstHeadLoss.  The network computes in float32, so the
 * step is 1e-3 and the loss is evaluated in double from float logits:
 * the rounding noise of a difference quotient is then about 1e-5, far
 * below the tolerance of 1e-3 + 1e-2 * |gradient| per parameter.  The
 * relative error of the whole gradient must also stay below 2e-3 (it is
 * about 1e-5 to 3e-4).  A deliberately wrong gradient must fail.
 * Each check also demands a gradient that is not trivially small and
 * mostly nonzero, so that it cannot pass by comparing zeros.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

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
	CHECK(EstNetworkInit(&net, 3, hidden, 2, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(net.n_layers == 3);
	CHECK(net.sizes[0] == 3 && net.sizes[1] == 5 && net.sizes[2] == 4 &&
		  net.sizes[3] == 2);
	/* 3*5+5 + 5*4+4 + 4*2+2 = 20 + 24 + 10 */
	CHECK(net.n_params == 54);
	CHECK(EstNetworkParamCount(3, hidden, 2, 2) == 54);
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
	CHECK(EstNetworkInit(&net2, 3, hidden, 2, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(memcmp(net.params, net2.params, sizeof(float) * net.n_params) == 0);
	EstNetworkFree(&net2);

	/* without rng every parameter is zero */
	CHECK(EstNetworkInit(&net2, 3, hidden, 2, 2, EST_ACT_TANH,
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
	CHECK(EstNetworkInit(&net, 4, NULL, 0, 3, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(net.n_layers == 1 && net.n_params == 15);
	CHECK(EstNetworkParamCount(4, NULL, 0, 3) == 15);
	EstNetworkFree(&net);
}

void
TestNetworkLimits(void)
{
	EstNetwork	net;
	char		err[EST_ERRMSG_LEN];
	int			hidden[EST_MAX_LAYERS + 1];
	int			big[2] = {65536, 4096};
	int			i;
	long		allocs_before;

	for (i = 0; i < EST_MAX_LAYERS + 1; i++)
		hidden[i] = 2;

	CHECK(EstNetworkInit(&net, 2, hidden, EST_MAX_LAYERS, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_OK);
	EstNetworkFree(&net);

	allocs_before = unit_total_allocs;
	CHECK(EstNetworkInit(&net, 2, hidden, EST_MAX_LAYERS + 1, 2,
						 EST_ACT_RELU, EST_HEAD_SOFTMAX, NULL,
						 err) == EST_ELIMIT);
	CHECK(strstr(err, "33") != NULL && strstr(err, "32") != NULL);
	CHECK(net.params == NULL && net.n_layers == 0);

	CHECK(EstNetworkInit(&net, 0, hidden, 1, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(EstNetworkInit(&net, EST_MAX_UNITS + 1, hidden, 1, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	CHECK(strstr(err, "65537") != NULL && strstr(err, "65536") != NULL);
	hidden[0] = 0;
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	hidden[0] = EST_MAX_UNITS + 1;
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	hidden[0] = 2;
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 0, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(EstNetworkInit(&net, 2, hidden, 1, EST_MAX_CLASSES + 1,
						 EST_ACT_RELU, EST_HEAD_SOFTMAX, NULL,
						 err) == EST_ELIMIT);
	CHECK(EstNetworkInit(&net, 2, hidden, -1, 2, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 2, (EstActivation) 9,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_EINVAL);
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 2, EST_ACT_RELU,
						 (EstHead) 0, NULL, err) == EST_EINVAL);

	/*
	 * 65536 * 4096 + 4096 + 4096 * 10 + 10 = 268480522 parameters, just
	 * over the limit of 2^28 = 268435456.
	 */
	CHECK(EstNetworkInit(&net, 65536, &big[1], 1, 10, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, NULL, err) == EST_ELIMIT);
	CHECKF(strcmp(err, "network needs 268480522 parameters, the limit is 268435456") == 0,
		   "message: %s", err);
	CHECK(EstNetworkParamCount(65536, &big[1], 1, 10) == 0);
	/* the largest shape of all does not overflow the count */
	for (i = 0; i < EST_MAX_LAYERS; i++)
		hidden[i] = EST_MAX_UNITS;
	CHECK(EstNetworkParamCount(EST_MAX_UNITS, hidden, EST_MAX_LAYERS,
							   EST_MAX_CLASSES) == 0);
	CHECK(EstNetworkInit(&net, EST_MAX_UNITS, hidden, EST_MAX_LAYERS,
						 EST_MAX_CLASSES, EST_ACT_RELU, EST_HEAD_SOFTMAX,
						 NULL, err) == EST_ELIMIT);
	CHECK(EstNetworkParamCount(0, hidden, 1, 2) == 0);
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
 * With tanh instead, output 2 tanh(5.5) - 3 tanh(-1) + 0.25.
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

	CHECK(EstNetworkInit(&net, 2, hidden, 1, 1, EST_ACT_RELU,
						 EST_HEAD_SQUARED, NULL, err) == EST_OK);
	CHECK(net.n_params == 9);
	memcpy(net.params, params, sizeof(params));
	CHECK(EstWorkspaceInit(&ws, &net, 4, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	CHECK(fabsf(ws.act[1][0] - 5.5f) < 1e-6f && ws.act[1][1] == 0.0f);
	CHECK(fabsf(ws.act[2][0] - 11.25f) < 1e-5f);
	CHECK(fabsf(ws.act[2][1] - 0.5f) < 1e-6f);
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

	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

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

void
TestForwardMatchesPredictOne(void)
{
	static const EstActivation acts[] = {
		EST_ACT_RELU, EST_ACT_TANH, EST_ACT_SIGMOID, EST_ACT_LINEAR
	};
	int			hidden[3] = {7, 5, 6};
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[10 * 4];
	float		scratch[2 * 7];
	double		probs[10 * 3];
	double		out[3];
	size_t		a;
	int			head;

	EstRngSeed(&rng, 3);
	FillUniform(&rng, X, 40, -2, 2);
	for (head = EST_HEAD_SOFTMAX; head <= EST_HEAD_SQUARED; head++)
	{
		for (a = 0; a < 4; a++)
		{
			EstNetwork	net;
			EstWorkspace ws;
			double		worst = 0.0;
			int			i;
			int			j;

			CHECK(EstNetworkInit(&net, 4, hidden, 3, 3, acts[a],
								 (EstHead) head, &rng, err) == EST_OK);
			/* nonzero biases too */
			for (j = 0; j < 3; j++)
				FillUniform(&rng, net.params + net.offset_b[j],
							(size_t) net.sizes[j + 1], -0.5, 0.5);
			CHECK(EstWorkspaceInit(&ws, &net, 10, err) == EST_OK);
			EstNetworkForward(&net, &ws, X, 10);
			EstHeadProbabilities(&net, &ws, 10, probs);
			for (i = 0; i < 10; i++)
			{
				double		sum = 0.0;

				EstNetworkPredictOne(&net, X + 4 * i, scratch, out);
				for (j = 0; j < 3; j++)
				{
					double		d = fabs(out[j] - probs[i * 3 + j]);

					if (d > worst)
						worst = d;
					sum += out[j];
				}
				if (head == EST_HEAD_SOFTMAX)
					CHECK(fabs(sum - 1.0) < 1e-9);
			}
			CHECKF(worst < 1e-5, "activation %d head %d: difference %g",
				   (int) acts[a], head, worst);
			EstWorkspaceFree(&ws);
			EstNetworkFree(&net);
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

	CHECK(EstNetworkInit(net, k, NULL, 0, k, EST_ACT_LINEAR, head, NULL,
						 err) == EST_OK);
	for (i = 0; i < k; i++)
		net->params[i * k + i] = 1.0f;
}

/*
 * Logits (0, 0) with label 0 give loss ln 2 and gradient (-1/2, 1/2);
 * logits (1, 2, 3) with label 2 give log(e + e^2 + e^3) - 3.  With
 * weights 1 and 3 the mean is (1 * l0 + 3 * l1) / 4 and the gradient of
 * row i is scaled by w_i / 4.  For the squared head, outputs (1, 2)
 * against labels (0, 4) give (1 + 4) / 2 = 2.5 and gradient
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
	double		l0 = log(2.0);
	double		l1 = log(exp(1.0) + exp(2.0) + exp(3.0)) - 3.0;
	double		loss;
	double		p;

	LinearNet(&net, 3, EST_HEAD_SOFTMAX);
	CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	loss = EstHeadLoss(&net, &ws, y, NULL, 2, 1);
	/* row 0 has three zero logits: loss ln 3 */
	l0 = log(3.0);
	CHECK(fabs(loss - (l0 + l1) / 2) < 1e-6);
	CHECK(fabs(ws.delta[1][0] - (1.0 / 3 - 1) / 2) < 1e-7);
	CHECK(fabs(ws.delta[1][1] - (1.0 / 3) / 2) < 1e-7);
	p = exp(3.0) / (exp(1.0) + exp(2.0) + exp(3.0));
	CHECK(fabs(ws.delta[1][5] - (p - 1) / 2) < 1e-7);

	loss = EstHeadLoss(&net, &ws, y, w, 2, 1);
	CHECK(fabs(loss - (l0 + 3 * l1) / 4) < 1e-6);
	CHECK(fabs(ws.delta[1][5] - 3 * (p - 1) / 4) < 1e-7);

	/* all weights zero: loss 0 and no gradient */
	loss = EstHeadLoss(&net, &ws, y, wz, 2, 1);
	CHECK(loss == 0.0 && ws.delta[1][5] == 0.0f);

	/* an invalid class id gives NaN, never a read out of bounds */
	y[1] = 3;
	CHECK(isnan(EstHeadLoss(&net, &ws, y, NULL, 2, 1)));
	y[1] = 1.5f;
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
 * Huge logits and pre-activations never overflow exp: losses, gradients
 * and probabilities stay finite.
 */
void
TestHeadLossStability(void)
{
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

	/* sigmoid and tanh layers saturate without NaN */
	{
		static const EstActivation acts[] = {EST_ACT_SIGMOID, EST_ACT_TANH};
		int			a;

		for (a = 0; a < 2; a++)
		{
			CHECK(EstNetworkInit(&net, 3, hidden, 1, 2, acts[a],
								 EST_HEAD_SOFTMAX, NULL, err) == EST_OK);
			for (i = 0; i < 9; i++)
				net.params[i] = (i % 2) ? 1e3f : -1e3f;
			for (i = 12; i < 18; i++)
				net.params[i] = 1.0f;
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
	double		min_margin;		/* smallest |pre-activation| of relu */
} GradResult;

#define GRAD_STEP	1e-3

/*
 * MinPreActivation returns the smallest |pre-activation| of any hidden
 * unit over the batch, computed in double; a relu network whose margin
 * is well above the step has no kink within the finite difference.
 */
static double
MinPreActivation(const EstNetwork *net, const float *X, int n)
{
	double		margin = INFINITY;
	double		cur[64];
	double		next[64];
	int			r;
	int			l;
	int			i;
	int			j;

	for (r = 0; r < n; r++)
	{
		for (i = 0; i < net->sizes[0]; i++)
			cur[i] = X[r * net->sizes[0] + i];
		for (l = 0; l < net->n_layers - 1; l++)
		{
			const float *w = net->params + net->offset_w[l];
			const float *b = net->params + net->offset_b[l];

			for (j = 0; j < net->sizes[l + 1]; j++)
			{
				double		z = b[j];

				for (i = 0; i < net->sizes[l]; i++)
					z += cur[i] * w[i * net->sizes[l + 1] + j];
				if (fabs(z) < margin)
					margin = fabs(z);
				next[j] = z > 0 ? z : 0;
			}
			memcpy(cur, next, sizeof(double) * net->sizes[l + 1]);
		}
	}
	return margin;
}

/*
 * GradCheck compares the analytic gradient (plus an optional error added
 * to parameter tamper_index, to test the test) with central differences.
 */
static GradResult
GradCheck(EstNetwork *net, const float *X, const float *y,
		  const float *weights, int n, long tamper_index, double tamper)
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
	CHECK(EstWorkspaceInit(&ws, net, n, err) == EST_OK);
	ana = calloc(net->n_params, sizeof(double));

	EstNetworkForward(net, &ws, X, n);
	(void) EstHeadLoss(net, &ws, y, weights, n, 1);
	EstNetworkBackward(net, &ws, X, n);
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
		EstNetworkForward(net, &ws, X, n);
		lp = EstHeadLoss(net, &ws, y, weights, n, 0);
		net->params[p] = down;
		EstNetworkForward(net, &ws, X, n);
		lm = EstHeadLoss(net, &ws, y, weights, n, 0);
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
	res.min_margin = MinPreActivation(net, X, n);
	free(ana);
	EstWorkspaceFree(&ws);
	return res;
}

/*
 * RunGradCheck builds a network of the given shape with Glorot weights
 * and random biases, random inputs in [-1.5, 1.5], labels and (when
 * weighted) row weights in [0.2, 2], and checks its gradient.  For relu
 * it tries seeds until every hidden pre-activation is at least 0.05 from
 * the kink, so that no finite difference crosses it.
 */
static void
RunGradCheck(int n_inputs, const int *hidden, int n_hidden, int n_outputs,
			 EstActivation act, EstHead head, int weighted)
{
	enum
	{
		N = 6
	};
	EstNetwork	net;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[N * 16];
	float		y[N * 16];
	float		w[N];
	GradResult	res;
	uint64_t	seed;
	int			i;
	int			l;

	for (seed = 1; seed < 1000; seed++)
	{
		EstRngSeed(&rng, seed);
		CHECK(EstNetworkInit(&net, n_inputs, hidden, n_hidden, n_outputs,
							 act, head, &rng, err) == EST_OK);
		for (l = 0; l < net.n_layers; l++)
			FillUniform(&rng, net.params + net.offset_b[l],
						(size_t) net.sizes[l + 1], -0.3, 0.3);
		FillUniform(&rng, X, (size_t) N * n_inputs, -1.5, 1.5);
		if (head == EST_HEAD_SOFTMAX)
			for (i = 0; i < N; i++)
				y[i] = (float) EstRngBounded(&rng, (uint64_t) n_outputs);
		else
			FillUniform(&rng, y, (size_t) N * n_outputs, -2, 2);
		FillUniform(&rng, w, N, 0.2, 2.0);
		if (act != EST_ACT_RELU || n_hidden == 0 ||
			MinPreActivation(&net, X, N) > 0.05)
			break;
		EstNetworkFree(&net);
	}
	CHECK(seed < 1000);
	if (seed == 1000)
		return;

	res = GradCheck(&net, X, y, weighted ? w : NULL, N, -1, 0.0);
	CHECKF(res.bad == 0, "%d of %zu parameters outside the tolerance",
		   res.bad, net.n_params);
	CHECKF(res.rel_norm < 2e-3, "relative error %g", res.rel_norm);
	/* the check means something only if the gradient is not trivial */
	CHECKF(res.ana_norm > 1e-2, "gradient norm %g", res.ana_norm);
	CHECKF(res.nonzero >= (int) net.n_params / 2,
		   "only %d of %zu gradients nonzero", res.nonzero, net.n_params);
	EstNetworkFree(&net);
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

/*
 * The negative control: an error of 5% of the gradient's norm in one
 * kernel weight, one bias, or a gradient computed for other labels must
 * each be caught.
 */
void
TestGradCheckDetectsErrors(void)
{
	int			hidden[1] = {5};
	EstNetwork	net;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	float		X[6 * 3];
	float		y[6];
	float		y_other[6];
	GradResult	clean;
	GradResult	res;
	int			i;

	EstRngSeed(&rng, 21);
	CHECK(EstNetworkInit(&net, 3, hidden, 1, 3, EST_ACT_TANH,
						 EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	FillUniform(&rng, X, 18, -1.5, 1.5);
	for (i = 0; i < 6; i++)
	{
		y[i] = (float) (i % 3);
		y_other[i] = (float) ((i + 1) % 3);
	}
	clean = GradCheck(&net, X, y, NULL, 6, -1, 0.0);
	CHECK(clean.bad == 0);

	res = GradCheck(&net, X, y, NULL, 6, 2, 0.05 * clean.ana_norm);
	CHECK(res.bad >= 1);
	res = GradCheck(&net, X, y, NULL, 6, (long) net.offset_b[1],
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
	EstNetworkFree(&net);
}
