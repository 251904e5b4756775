/*-------------------------------------------------------------------------
 *
 * test_train.c
 *	  Tests of the feature state and end-to-end training.
 *
 * Every training run is seeded, so the results are the same on every
 * run; the thresholds leave room for other BLAS libraries, whose sums
 * round differently.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define UNIT_PI 3.14159265358979323846

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
	CHECK(UnitNetworkInit(&net, 2, hidden, 1, 3, EST_ACT_RELU,
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
	CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
	CHECK(EstMetricsAdd(&m, &net, &ws, y, NULL, N, err) == EST_OK);
	CHECKF(EstMetricsAccuracy(&m) >= 0.97, "accuracy %.3f",
		   EstMetricsAccuracy(&m));
	CHECKF(last_loss < 0.2 && last_loss < first_loss / 4,
		   "loss %.4f after the first epoch, %.4f after the last",
		   first_loss, last_loss);
	CHECK(opt.iterations == (int64_t) EPOCHS * ((N + BATCH - 1) / BATCH));

	EstMetricsFree(&m);
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
	EstMetrics	m;
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
	CHECK(UnitNetworkInit(&net, 2, NULL, 0, 2, EST_ACT_LINEAR,
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
	EstNetworkForward(&net, &ws, X, N);
	CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
	CHECK(EstMetricsAdd(&m, &net, &ws, y, NULL, N, err) == EST_OK);
	CHECKF(EstMetricsMse(&m) < 1e-4, "mse %g", EstMetricsMse(&m));
	CHECKF(EstMetricsR2(&m) > 0.9999, "r2 %g", EstMetricsR2(&m));
	EstMetricsFree(&m);
	/* W = [[2, -1], [-1, 0]], b = (0.5, 3) */
	CHECK(fabs(net.params[0] - 2) < 0.02 && fabs(net.params[1] + 1) < 0.02);
	CHECK(fabs(net.params[2] + 1) < 0.02 && fabs(net.params[3]) < 0.02);
	CHECK(fabs(net.params[4] - 0.5) < 0.02 && fabs(net.params[5] - 3) < 0.02);
	EstOptimizerFree(&opt);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Gaussian returns a standard normal draw (Box-Muller).
 */
static double
Gaussian(EstRng *rng)
{
	double		u1 = 1.0 - EstRngUniform(rng);
	double		u2 = EstRngUniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(2 * UNIT_PI * u2);
}

/*
 * TrainEpochs trains net on the N rows of X and y (y_stride floats per
 * row) for epochs shuffled passes of batches of up to batch rows, with
 * training forwards (dropout masks and batch statistics from rng), opt
 * on [0, linear_offset) and, when given, opt_linear on the linear part.
 * It returns the mean loss of the last epoch.
 */
static double
TrainEpochs(EstNetwork *net, EstOptimizer *opt, EstOptimizer *opt_linear,
			const float *X, const float *y, int y_stride, int N, int batch,
			int epochs, EstRng *rng)
{
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];
	uint32_t   *perm = malloc(sizeof(uint32_t) * N);
	float	   *xb = malloc(sizeof(float) * batch * net->n_inputs);
	float	   *yb = malloc(sizeof(float) * batch * y_stride);
	double		epoch_loss = 0.0;
	int			i;
	int			e;

	CHECK(EstWorkspaceInit(&ws, net, batch, err) == EST_OK);
	for (i = 0; i < N; i++)
		perm[i] = (uint32_t) i;
	for (e = 0; e < epochs; e++)
	{
		int			start;

		epoch_loss = 0.0;
		EstRngShuffle(rng, perm, N);
		for (start = 0; start < N; start += batch)
		{
			int			n = (N - start < batch) ? N - start : batch;

			for (i = 0; i < n; i++)
			{
				memcpy(xb + (size_t) i * net->n_inputs,
					   X + (size_t) perm[start + i] * net->n_inputs,
					   sizeof(float) * net->n_inputs);
				memcpy(yb + (size_t) i * y_stride,
					   y + (size_t) perm[start + i] * y_stride,
					   sizeof(float) * y_stride);
			}
			EstNetworkForwardTrain(net, &ws, xb, n, rng);
			epoch_loss += EstHeadLoss(net, &ws, yb, NULL, n, 1) * n;
			EstNetworkBackward(net, &ws, xb, n);
			EstOptimizerApply(opt, net->params, ws.grad);
			if (opt_linear != NULL)
				EstOptimizerApply(opt_linear, net->params + net->linear_offset,
								  ws.grad + net->linear_offset);
		}
	}
	EstWorkspaceFree(&ws);
	free(perm);
	free(xb);
	free(yb);
	return epoch_loss / N;
}

/*
 * Evaluate scores the N rows with inference forwards into m (fresh, with
 * kept scores).
 */
static void
Evaluate(EstMetrics *m, const EstNetwork *net, const float *X,
		 const float *y, int N)
{
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];

	CHECK(EstWorkspaceInit(&ws, net, N, err) == EST_OK);
	CHECK(EstMetricsInit(m, net, 1, err) == EST_OK);
	EstNetworkForward(net, &ws, X, N);
	CHECK(EstMetricsAdd(m, net, &ws, y, NULL, N, err) == EST_OK);
	EstWorkspaceFree(&ws);
}

/*
 * A binary problem for the sigmoid head: x uniform in [-1, 1]^3, labels
 * drawn with probability sigmoid(3 (x0 + 2 x1)) of being 1, so x2 is
 * noise.  A linear model trained with ftrl (lr 0.5, l1 10) finds the
 * boundary: against the noiseless labels x0 + 2 x1 > 0 its accuracy is
 * at least 95% and its AUC at least 0.99, and l1 keeps the noise weight
 * exactly at 0.
 */
void
TestTrainFtrlSigmoid(void)
{
	enum
	{
		N = 400
	};
	EstRng		rng;
	EstNetwork	net;
	EstOptimizer opt;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	float	   *X = malloc(sizeof(float) * N * 3);
	float	   *y = malloc(sizeof(float) * N);
	double		loss;
	int			i;

	EstRngSeed(&rng, 11);
	for (i = 0; i < N * 3; i++)
		X[i] = (float) (2 * EstRngUniform(&rng) - 1);
	for (i = 0; i < N; i++)
	{
		double		z = 3.0 * (X[3 * i] + 2.0 * X[3 * i + 1]);

		y[i] = EstRngUniform(&rng) < 1.0 / (1.0 + exp(-z)) ? 1.0f : 0.0f;
	}
	CHECK(UnitNetworkInit(&net, 3, NULL, 0, 1, EST_ACT_LINEAR,
						  EST_HEAD_SIGMOID, &rng, err) == EST_OK);
	EstOptimizerDefaults(&opt, EST_OPT_FTRL);
	opt.learning_rate = 0.5;
	opt.l1 = 10;
	CHECK(EstOptimizerInit(&opt, net.n_params, err) == EST_OK);
	loss = TrainEpochs(&net, &opt, NULL, X, y, 1, N, 20, 30, &rng);
	for (i = 0; i < N; i++)
		y[i] = X[3 * i] + 2 * X[3 * i + 1] > 0 ? 1.0f : 0.0f;
	Evaluate(&m, &net, X, y, N);
	CHECKF(EstMetricsAccuracy(&m) >= 0.95, "accuracy %.3f",
		   EstMetricsAccuracy(&m));
	CHECKF(EstMetricsAuc(&m) >= 0.99, "auc %.4f", EstMetricsAuc(&m));
	CHECKF(loss < 0.45, "loss %g", loss);
	CHECKF(net.params[2] == 0.0f, "noise weight %g", net.params[2]);
	CHECK(net.params[1] > net.params[0] && net.params[0] > 0.5f);
	EstMetricsFree(&m);
	EstOptimizerFree(&opt);
	EstNetworkFree(&net);
	free(X);
	free(y);
}

/*
 * BlobsNet trains a 2-16-16-3 relu network with batch_norm and dropout
 * 0.1 (adam, lr 0.01, batches of 32, 40 epochs) on three Gaussian blobs
 * at (0, 0), (3, 3) and (-3, 3) with standard deviation 0.7, and leaves
 * it in net and its optimizer in opt.
 */
static void
BlobsNet(EstNetwork *net, EstOptimizer *opt, float *X, float *y, int N)
{
	static const double centres[3][2] = {{0, 0}, {3, 3}, {-3, 3}};
	static const int hidden[2] = {16, 16};
	EstNetworkSpec spec;
	EstRng		rng;
	char		err[EST_ERRMSG_LEN];
	int			i;

	EstRngSeed(&rng, 99);
	for (i = 0; i < N; i++)
	{
		int			c = i % 3;

		X[2 * i] = (float) (centres[c][0] + 0.7 * Gaussian(&rng));
		X[2 * i + 1] = (float) (centres[c][1] + 0.7 * Gaussian(&rng));
		y[i] = (float) c;
	}
	UnitSpec(&spec, 2, hidden, 2, 3, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.batch_norm = 1;
	spec.dropout = 0.1;
	CHECK(EstNetworkInit(net, &spec, &rng, err) == EST_OK);
	EstOptimizerDefaults(opt, EST_OPT_ADAM);
	opt->learning_rate = 0.01;
	CHECK(EstOptimizerInit(opt, net->linear_offset, err) == EST_OK);
	(void) TrainEpochs(net, opt, NULL, X, y, 1, N, 32, 40, &rng);
}

/*
 * Batch normalisation and dropout learn the blobs: inference forwards,
 * with the moving statistics, classify at least 97% of them.
 */
void
TestTrainBatchNormDropout(void)
{
	enum
	{
		N = 300
	};
	EstNetwork	net;
	EstOptimizer opt;
	EstMetrics	m;
	float		X[N * 2];
	float		y[N];

	BlobsNet(&net, &opt, X, y, N);
	Evaluate(&m, &net, X, y, N);
	CHECKF(EstMetricsAccuracy(&m) >= 0.97, "accuracy %.3f",
		   EstMetricsAccuracy(&m));
	CHECKF(EstMetricsAuc(&m) >= 0.99, "auc %.4f", EstMetricsAuc(&m));
	/* the moving statistics moved away from their initial 0 and 1 */
	CHECK(net.stats[0] != 0.0f && net.stats[16] != 1.0f);
	EstMetricsFree(&m);
	EstOptimizerFree(&opt);
	EstNetworkFree(&net);
}

/*
 * Two identical training runs give bit-identical parameters, moving
 * statistics and optimizer slots.
 */
void
TestTrainDeterminism(void)
{
	enum
	{
		N = 150
	};
	EstNetwork	a;
	EstNetwork	b;
	EstOptimizer oa;
	EstOptimizer ob;
	float		X[N * 2];
	float		y[N];
	int			s;

	BlobsNet(&a, &oa, X, y, N);
	BlobsNet(&b, &ob, X, y, N);
	CHECK(a.n_params == b.n_params);
	CHECK(memcmp(a.params, b.params, sizeof(float) * a.n_params) == 0);
	CHECK(memcmp(a.stats, b.stats, sizeof(float) * a.n_stats) == 0);
	for (s = 0; s < oa.n_slots; s++)
		CHECK(memcmp(oa.slot[s], ob.slot[s], sizeof(float) * oa.n) == 0);
	CHECK(oa.iterations == ob.iterations && oa.iterations == 40 * 5);
	EstOptimizerFree(&oa);
	EstOptimizerFree(&ob);
	EstNetworkFree(&a);
	EstNetworkFree(&b);
}

/*
 * Wide & deep regression: y = sin(2 x0) x1 + 3 x2 - x3 for x uniform in
 * [-1, 1]^4.  The DNN (2 x 24 elu, adam) reads x0 and x1 only and the
 * linear part (ftrl, lr 0.5) x2 and x3 only, so the linear part must find
 * the weights 3 and -1.  The mean squared error ends below 0.01 (the
 * target's variance is about 3.5).
 */
void
TestTrainWideAndDeep(void)
{
	enum
	{
		N = 512
	};
	static const int hidden[2] = {24, 24};
	static const int dnn[2] = {0, 1};
	static const int lin[2] = {2, 3};
	EstNetworkSpec spec;
	EstRng		rng;
	EstNetwork	net;
	EstOptimizer opt;
	EstOptimizer optl;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	float	   *X = malloc(sizeof(float) * N * 4);
	float	   *y = malloc(sizeof(float) * N);
	const float *wl;
	int			i;

	EstRngSeed(&rng, 5150);
	for (i = 0; i < N * 4; i++)
		X[i] = (float) (2 * EstRngUniform(&rng) - 1);
	for (i = 0; i < N; i++)
	{
		const float *x = X + 4 * i;

		y[i] = (float) (sin(2.0 * x[0]) * x[1] + 3.0 * x[2] - x[3]);
	}
	UnitSpec(&spec, 4, hidden, 2, 1, EST_ACT_ELU, EST_HEAD_SQUARED);
	spec.n_dnn_inputs = 2;
	spec.dnn_inputs = dnn;
	spec.n_linear_inputs = 2;
	spec.linear_inputs = lin;
	CHECK(EstNetworkInit(&net, &spec, &rng, err) == EST_OK);
	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.learning_rate = 0.005;
	CHECK(EstOptimizerInit(&opt, net.linear_offset, err) == EST_OK);
	EstOptimizerDefaults(&optl, EST_OPT_FTRL);
	optl.learning_rate = 0.5;
	CHECK(EstOptimizerInit(&optl, net.n_params - net.linear_offset,
						   err) == EST_OK);
	(void) TrainEpochs(&net, &opt, &optl, X, y, 1, N, 32, 150, &rng);
	Evaluate(&m, &net, X, y, N);
	CHECKF(EstMetricsMse(&m) < 0.01, "mse %g", EstMetricsMse(&m));
	CHECKF(EstMetricsR2(&m) > 0.99, "r2 %g", EstMetricsR2(&m));
	wl = net.params + net.linear_offset;
	CHECKF(fabs(wl[0] - 3.0) < 0.1 && fabs(wl[1] + 1.0) < 0.1,
		   "linear weights %g %g", wl[0], wl[1]);
	CHECK(opt.iterations == optl.iterations && opt.iterations == 150 * 16);
	EstMetricsFree(&m);
	EstOptimizerFree(&opt);
	EstOptimizerFree(&optl);
	EstNetworkFree(&net);
	free(X);
	free(y);
}
