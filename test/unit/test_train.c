/*-------------------------------------------------------------------------
 *
 * test_train.c
 *	  Tests of metrics, the feature state and end-to-end training.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define UNIT_PI 3.14159265358979323846

/*
 * IdentityNet makes a network without hidden layer whose outputs are its
 * inputs.
 */
static void
IdentityNet(EstNetwork *net, int k, EstHead head)
{
	char		err[EST_ERRMSG_LEN];
	int			i;

	CHECK(EstNetworkInit(net, k, NULL, 0, k, EST_ACT_RELU, head, NULL,
						 err) == EST_OK);
	for (i = 0; i < k; i++)
		net->params[i * k + i] = 1.0f;
}

/*
 * Rows of logits: (2, 1, 0) label 0 is right; (1, 3, 3) label 2 is
 * wrong because ties go to the lowest index; (0, 0, 5) label 2 is
 * right.  Unweighted accuracy 2/3; with weights (1, 2, 1) it is 2/4.
 */
void
TestMetricsSoftmax(void)
{
	EstNetwork	net;
	EstWorkspace ws;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	float		X[9] = {2, 1, 0, 1, 3, 3, 0, 0, 5};
	float		y[3] = {0, 2, 2};
	float		w[3] = {1, 2, 1};
	double		l0 = log(exp(2.0) + exp(1.0) + 1.0) - 2.0;
	double		l1 = log(exp(1.0) + 2 * exp(3.0)) - 3.0;
	double		l2 = log(2.0 + exp(5.0)) - 5.0;

	IdentityNet(&net, 3, EST_HEAD_SOFTMAX);
	CHECK(EstWorkspaceInit(&ws, &net, 3, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 3);

	EstMetricsReset(&m);
	CHECK(EstMetricsAccuracy(&m) == 0.0 && EstMetricsMeanLoss(&m) == 0.0);
	EstMetricsAdd(&m, &net, &ws, y, NULL, 3);
	CHECK(m.weight_sum == 3.0);
	CHECK(fabs(EstMetricsAccuracy(&m) - 2.0 / 3) < 1e-12);
	CHECK(fabs(EstMetricsMeanLoss(&m) - (l0 + l1 + l2) / 3) < 1e-6);
	/* the mean loss agrees with the training loss */
	CHECK(fabs(EstMetricsMeanLoss(&m) -
			   EstHeadLoss(&net, &ws, y, NULL, 3, 0)) < 1e-9);

	/* a second batch accumulates */
	EstMetricsAdd(&m, &net, &ws, y, w, 3);
	CHECK(m.weight_sum == 7.0);
	CHECK(fabs(m.correct - (2.0 + 2.0)) < 1e-12);
	CHECK(fabs(m.loss_sum - (l0 + l1 + l2 + l0 + 2 * l1 + l2)) < 1e-6);

	EstMetricsReset(&m);
	EstMetricsAdd(&m, &net, &ws, y, w, 3);
	CHECK(fabs(EstMetricsAccuracy(&m) - 0.5) < 1e-12);
	CHECK(fabs(EstMetricsMeanLoss(&m) -
			   EstHeadLoss(&net, &ws, y, w, 3, 0)) < 1e-9);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Outputs (1, 2) against labels (0, 4): errors (1, -2), row loss
 * (1 + 4) / 2 = 2.5, mean absolute error 1.5.  Outputs (3, 3) against
 * (3, 2): row loss 0.5, absolute 0.5.  With weights (1, 3): loss sum
 * 2.5 + 1.5 = 4, absolute sum 1.5 + 1.5 = 3.
 */
void
TestMetricsSquared(void)
{
	EstNetwork	net;
	EstWorkspace ws;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	float		X[4] = {1, 2, 3, 3};
	float		y[4] = {0, 4, 3, 2};
	float		w[2] = {1, 3};

	IdentityNet(&net, 2, EST_HEAD_SQUARED);
	CHECK(EstWorkspaceInit(&ws, &net, 2, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 2);
	EstMetricsReset(&m);
	EstMetricsAdd(&m, &net, &ws, y, NULL, 2);
	CHECK(fabs(m.loss_sum - 3.0) < 1e-12);
	CHECK(fabs(m.sq_error_sum - 3.0) < 1e-12);
	CHECK(fabs(m.abs_error_sum - 2.0) < 1e-12);
	CHECK(fabs(EstMetricsMeanLoss(&m) - 1.5) < 1e-12);
	CHECK(fabs(EstMetricsMeanLoss(&m) -
			   EstHeadLoss(&net, &ws, y, NULL, 2, 0)) < 1e-12);
	CHECK(m.correct == 0.0);

	EstMetricsReset(&m);
	EstMetricsAdd(&m, &net, &ws, y, w, 2);
	CHECK(m.weight_sum == 4.0);
	CHECK(fabs(m.loss_sum - 4.0) < 1e-12);
	CHECK(fabs(m.abs_error_sum - 3.0) < 1e-12);
	CHECK(fabs(EstMetricsMeanLoss(&m) -
			   EstHeadLoss(&net, &ws, y, w, 2, 0)) < 1e-12);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Column 0 is 1, 2, 3, 4: mean 2.5, population variance 1.25.  Column 1
 * is constant: scale 1.  Column 2 is 1e6 + (0, 0.5, 1, 1.5): mean
 * 1e6 + 0.75 and standard deviation sqrt(0.3125), which a naive sum of
 * squares in float would lose.
 */
void
TestFeatureState(void)
{
	EstFeatureState fs;
	char		err[EST_ERRMSG_LEN];
	float		X[12] = {
		1, 7, 1e6f,
		2, 7, 1e6f + 0.5f,
		3, 7, 1e6f + 1.0f,
		4, 7, 1e6f + 1.5f
	};
	float		inf_col[2] = {INFINITY, 1};

	CHECK(EstFeatureStateInit(&fs, 0, err) == EST_EINVAL);
	CHECK(EstFeatureStateInit(&fs, EST_MAX_UNITS + 1, err) == EST_ELIMIT);
	CHECK(fs.shift == NULL && fs.scale == NULL);

	CHECK(EstFeatureStateInit(&fs, 3, err) == EST_OK);
	CHECK(fs.shift[1] == 0.0 && fs.scale[1] == 1.0);
	EstFeatureStateFit(&fs, X, 4);
	CHECK(fabs(fs.shift[0] - 2.5) < 1e-12);
	CHECK(fabs(fs.scale[0] - sqrt(1.25)) < 1e-12);
	CHECK(fs.shift[1] == 7.0 && fs.scale[1] == 1.0);
	CHECK(fabs(fs.shift[2] - (1e6 + 0.75)) < 1e-9);
	CHECK(fabs(fs.scale[2] - sqrt(0.3125)) < 1e-9);

	EstFeatureStateApply(&fs, X, 4);
	CHECK(fabsf(X[0] - (float) (-1.5 / sqrt(1.25))) < 1e-6f);
	CHECK(X[1] == 0.0f && X[4] == 0.0f);
	CHECK(fabsf(X[11] - (float) (0.75 / sqrt(0.3125))) < 1e-6f);
	{
		double		sum = 0.0;
		double		sq = 0.0;
		int			i;

		for (i = 0; i < 4; i++)
		{
			sum += X[i * 3 + 2];
			sq += X[i * 3 + 2] * X[i * 3 + 2];
		}
		CHECK(fabs(sum) < 1e-6 && fabs(sq / 4 - 1.0) < 1e-6);
	}
	EstFeatureStateFree(&fs);

	/* a non-finite column gets the identity transform */
	CHECK(EstFeatureStateInit(&fs, 1, err) == EST_OK);
	EstFeatureStateFit(&fs, inf_col, 2);
	CHECK(fs.shift[0] == 0.0 && fs.scale[0] == 1.0);
	/* no rows: the identity */
	EstFeatureStateFit(&fs, inf_col, 0);
	CHECK(fs.shift[0] == 0.0 && fs.scale[0] == 1.0);
	EstFeatureStateFree(&fs);
	EstFeatureStateFree(&fs);
}

/*
 * Three Gaussian blobs in the plane, centred at (0, 0), (4, 4) and
 * (-4, 4) with standard deviation 0.6, shifted by (100, -50) so that the
 * feature transform matters.  A 2-10-3 relu network with adagrad at its
 * default learning rate must classify at least 97% of them.
 */
void
TestTrainAdagradClassifier(void)
{
	enum
	{
		N = 300, BATCH = 16, EPOCHS = 150
	};
	static const double centres[3][2] = {{0, 0}, {4, 4}, {-4, 4}};
	EstRng		rng;
	EstNetwork	net;
	EstWorkspace ws;
	EstOptimizer opt;
	EstFeatureState fs;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	int			hidden[1] = {10};
	float	   *X = malloc(sizeof(float) * N * 2);
	float	   *y = malloc(sizeof(float) * N);
	float		xb[BATCH * 2];
	float		yb[BATCH];
	uint32_t	perm[N];
	double		first_loss = -1.0;
	double		last_loss = 0.0;
	int			i;
	int			e;

	EstRngSeed(&rng, 2024);
	for (i = 0; i < N; i++)
	{
		int			c = i % 3;
		/* Box-Muller */
		double		u1 = 1.0 - EstRngUniform(&rng);
		double		u2 = EstRngUniform(&rng);
		double		r = sqrt(-2.0 * log(u1)) * 0.6;

		X[2 * i] = (float) (100 + centres[c][0] + r * cos(2 * UNIT_PI * u2));
		X[2 * i + 1] = (float) (-50 + centres[c][1] + r * sin(2 * UNIT_PI * u2));
		y[i] = (float) c;
		perm[i] = (uint32_t) i;
	}

	CHECK(EstFeatureStateInit(&fs, 2, err) == EST_OK);
	EstFeatureStateFit(&fs, X, N);
	EstFeatureStateApply(&fs, X, N);
	CHECK(EstNetworkInit(&net, 2, hidden, 1, 3, EST_ACT_RELU,
						 EST_HEAD_SOFTMAX, &rng, err) == EST_OK);
	CHECK(EstWorkspaceInit(&ws, &net, N, err) == EST_OK);
	EstOptimizerDefaults(&opt, EST_OPT_ADAGRAD);
	CHECK(EstOptimizerInit(&opt, net.n_params, err) == EST_OK);

	for (e = 0; e < EPOCHS; e++)
	{
		double		epoch_loss = 0.0;
		int			start;

		EstRngShuffle(&rng, perm, N);
		for (start = 0; start < N; start += BATCH)
		{
			int			n = (N - start < BATCH) ? N - start : BATCH;

			for (i = 0; i < n; i++)
			{
				xb[2 * i] = X[2 * perm[start + i]];
				xb[2 * i + 1] = X[2 * perm[start + i] + 1];
				yb[i] = y[perm[start + i]];
			}
			EstNetworkForward(&net, &ws, xb, n);
			epoch_loss += EstHeadLoss(&net, &ws, yb, NULL, n, 1) * n;
			EstNetworkBackward(&net, &ws, xb, n);
			EstOptimizerApply(&opt, net.params, ws.grad);
		}
		if (first_loss < 0)
			first_loss = epoch_loss / N;
		last_loss = epoch_loss / N;
	}

	EstNetworkForward(&net, &ws, X, N);
	EstMetricsReset(&m);
	EstMetricsAdd(&m, &net, &ws, y, NULL, N);
	CHECKF(EstMetricsAccuracy(&m) >= 0.97, "accuracy %.3f",
		   EstMetricsAccuracy(&m));
	CHECKF(last_loss < 0.2 && last_loss < first_loss / 4,
		   "loss %.4f after the first epoch, %.4f after the last",
		   first_loss, last_loss);
	CHECK(opt.iterations == (int64_t) EPOCHS * ((N + BATCH - 1) / BATCH));

	EstOptimizerFree(&opt);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
	EstFeatureStateFree(&fs);
	free(X);
	free(y);
}

/*
 * y = (2 x0 - x1 + 0.5, -x0 + 3) for x uniform in [-1, 1]^2: a linear
 * network trained with adam on the squared head must find the weights.
 */
void
TestTrainAdamRegressor(void)
{
	enum
	{
		N = 64, STEPS = 3000
	};
	EstRng		rng;
	EstNetwork	net;
	EstWorkspace ws;
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		X[N * 2];
	float		y[N * 2];
	double		loss = 0.0;
	int			i;
	int			s;

	EstRngSeed(&rng, 77);
	for (i = 0; i < N; i++)
	{
		X[2 * i] = (float) (2 * EstRngUniform(&rng) - 1);
		X[2 * i + 1] = (float) (2 * EstRngUniform(&rng) - 1);
		y[2 * i] = 2 * X[2 * i] - X[2 * i + 1] + 0.5f;
		y[2 * i + 1] = -X[2 * i] + 3;
	}
	CHECK(EstNetworkInit(&net, 2, NULL, 0, 2, EST_ACT_LINEAR,
						 EST_HEAD_SQUARED, &rng, err) == EST_OK);
	CHECK(EstWorkspaceInit(&ws, &net, N, err) == EST_OK);
	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.learning_rate = 0.01;
	CHECK(EstOptimizerInit(&opt, net.n_params, err) == EST_OK);
	for (s = 0; s < STEPS; s++)
	{
		EstNetworkForward(&net, &ws, X, N);
		loss = EstHeadLoss(&net, &ws, y, NULL, N, 1);
		EstNetworkBackward(&net, &ws, X, N);
		EstOptimizerApply(&opt, net.params, ws.grad);
	}
	CHECKF(loss < 1e-4, "loss %g", loss);
	/* W = [[2, -1], [-1, 0]], b = (0.5, 3) */
	CHECK(fabs(net.params[0] - 2) < 0.02 && fabs(net.params[1] + 1) < 0.02);
	CHECK(fabs(net.params[2] + 1) < 0.02 && fabs(net.params[3]) < 0.02);
	CHECK(fabs(net.params[4] - 0.5) < 0.02 && fabs(net.params[5] - 3) < 0.02);
	EstOptimizerFree(&opt);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}
