/*-------------------------------------------------------------------------
 *
 * test_optim.c
 *	  Tests of the optimizers against hand-computed steps, and of the
 *	  learning-rate schedules.
 *
 * Every optimizer test starts from w = (1, -2) and applies the gradients
 * g1 = (0.5, -1) and g2 = (-0.25, 0.5) with learning rate 0.1.  The
 * expected values are worked out in double in the comments (ftrl's with
 * its slots rounded to float between steps, as they are stored); the
 * optimizers compute in float, so they agree to about 1e-6.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "unit.h"

static const float g1[2] = {0.5f, -1.0f};
static const float g2[2] = {-0.25f, 0.5f};

#define CLOSE(a, b)	(fabs((double) (a) - (double) (b)) < 2e-6)

/*
 * Slots reports the slot count of kind with the given rmsprop options.
 */
static int
Slots(EstOptimizerKind kind, double momentum, int centered)
{
	EstOptimizer opt;

	EstOptimizerDefaults(&opt, kind);
	opt.momentum = momentum;
	opt.centered = centered;
	return EstOptimizerSlotCount(&opt);
}

void
TestOptimizerDefaults(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	int			kind;

	CHECK(Slots(EST_OPT_SGD, 0, 0) == 0);
	CHECK(Slots(EST_OPT_MOMENTUM, 0.9, 0) == 1);
	CHECK(Slots(EST_OPT_ADAGRAD, 0, 0) == 1);
	CHECK(Slots(EST_OPT_ADAM, 0, 0) == 2);
	CHECK(Slots(EST_OPT_RMSPROP, 0, 0) == 1);
	CHECK(Slots(EST_OPT_RMSPROP, 0.5, 0) == 2);
	CHECK(Slots(EST_OPT_RMSPROP, 0, 1) == 2);
	CHECK(Slots(EST_OPT_RMSPROP, 0.5, 1) == 3);
	CHECK(Slots(EST_OPT_FTRL, 0, 0) == 2);
	CHECK(Slots((EstOptimizerKind) 0, 0, 0) < 0);
	CHECK(Slots((EstOptimizerKind) 7, 0, 0) < 0);

	EstOptimizerDefaults(&opt, EST_OPT_SGD);
	CHECK(opt.learning_rate == 0.01 && opt.n_slots == 0);
	EstOptimizerDefaults(&opt, EST_OPT_MOMENTUM);
	CHECK(opt.learning_rate == 0.01 && opt.momentum == 0.9 &&
		  opt.nesterov == 0 && opt.n_slots == 1);
	EstOptimizerDefaults(&opt, EST_OPT_ADAGRAD);
	CHECK(opt.learning_rate == 0.05 && opt.initial_accumulator == 0.1 &&
		  opt.epsilon == 1e-7 && opt.n_slots == 1);
	EstOptimizerDefaults(&opt, EST_OPT_RMSPROP);
	CHECK(opt.learning_rate == 0.001 && opt.rho == 0.9 &&
		  opt.momentum == 0.0 && opt.centered == 0 && opt.epsilon == 1e-7 &&
		  opt.n_slots == 1);
	EstOptimizerDefaults(&opt, EST_OPT_FTRL);
	CHECK(opt.learning_rate == 0.001 && opt.lr_power == -0.5 &&
		  opt.initial_accumulator == 0.1 && opt.l1 == 0.0 && opt.l2 == 0.0 &&
		  opt.l2_shrinkage == 0.0 && opt.beta == 0.0 && opt.n_slots == 2);
	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	CHECK(opt.learning_rate == 0.001 && opt.beta1 == 0.9 &&
		  opt.beta2 == 0.999 && opt.epsilon == 1e-7 && opt.n_slots == 2);
	CHECK(opt.slot[0] == NULL && opt.slot[1] == NULL && opt.slot[2] == NULL);

	CHECK(EstOptimizerInit(&opt, 3, err) == EST_OK);
	CHECK(opt.n == 3 && opt.iterations == 0);
	CHECK(opt.slot[0][2] == 0.0f && opt.slot[1][2] == 0.0f);
	EstOptimizerFree(&opt);
	CHECK(opt.slot[0] == NULL && opt.slot[1] == NULL);

	EstOptimizerDefaults(&opt, EST_OPT_ADAGRAD);
	opt.initial_accumulator = 0.25;
	CHECK(EstOptimizerInit(&opt, 3, err) == EST_OK);
	CHECK(opt.slot[0][0] == 0.25f && opt.slot[0][2] == 0.25f &&
		  opt.slot[1] == NULL);
	EstOptimizerFree(&opt);

	EstOptimizerDefaults(&opt, EST_OPT_FTRL);
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	CHECK(opt.slot[0][1] == 0.1f && opt.slot[1][1] == 0.0f);
	EstOptimizerFree(&opt);

	EstOptimizerDefaults(&opt, EST_OPT_RMSPROP);
	opt.momentum = 0.5;
	opt.centered = 1;
	CHECK(EstOptimizerInit(&opt, 4, err) == EST_OK);
	CHECK(opt.n_slots == 3 && opt.slot[2] != NULL && opt.slot[2][3] == 0.0f);
	EstOptimizerFree(&opt);
	CHECK(opt.slot[2] == NULL);

	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.kind = (EstOptimizerKind) 7;
	CHECK(EstOptimizerInit(&opt, 3, err) == EST_EINVAL);
	opt.kind = EST_OPT_SGD;
	CHECK(EstOptimizerInit(&opt, EST_MAX_PARAMS + 1, err) == EST_ELIMIT);
	CHECK(opt.slot[0] == NULL);

	/* every kind's defaults pass the check */
	for (kind = EST_OPT_SGD; kind <= EST_OPT_FTRL; kind++)
	{
		EstOptimizerDefaults(&opt, (EstOptimizerKind) kind);
		CHECKF(EstOptimizerCheck(&opt, err) == EST_OK, "kind %d: %s", kind,
			   err);
	}
}

/*
 * Each bad hyperparameter is rejected by name, and EstOptimizerInit
 * checks before it allocates.
 */
void
TestOptimizerCheck(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	long		allocs = unit_total_allocs;

#define EXPECT_BAD(field, value, name) \
	do { \
		EstOptimizerDefaults(&opt, EST_OPT_RMSPROP); \
		opt.field = (value); \
		err[0] = '\0'; \
		CHECKF(EstOptimizerCheck(&opt, err) == EST_EINVAL && \
			   strstr(err, (name)) != NULL, "%s: %s", #field, err); \
		CHECK(EstOptimizerInit(&opt, 10, err) == EST_EINVAL); \
	} while (0)

	EXPECT_BAD(learning_rate, 0.0, "learning rate");
	EXPECT_BAD(learning_rate, -0.1, "learning rate");
	EXPECT_BAD(learning_rate, INFINITY, "learning rate");
	EXPECT_BAD(learning_rate, NAN, "learning rate");
	EXPECT_BAD(beta1, 1.0, "beta1");
	EXPECT_BAD(beta2, -0.1, "beta2");
	EXPECT_BAD(epsilon, 0.0, "epsilon");
	EXPECT_BAD(initial_accumulator, -1.0, "initial accumulator");
	EXPECT_BAD(momentum, 1.0, "momentum");
	EXPECT_BAD(momentum, -0.5, "momentum");
	EXPECT_BAD(nesterov, 2, "nesterov");
	EXPECT_BAD(rho, 1.0, "rho");
	EXPECT_BAD(rho, NAN, "rho");
	EXPECT_BAD(centered, -1, "centered");
	EXPECT_BAD(lr_power, 0.5, "learning rate power");
	EXPECT_BAD(l1, -1e-3, "l1");
	EXPECT_BAD(l2, INFINITY, "l2");
	EXPECT_BAD(l2_shrinkage, -1.0, "l2 shrinkage");
	EXPECT_BAD(beta, -0.1, "beta");
#undef EXPECT_BAD
	/* EstOptimizerInit resets the iteration count, so only the check sees it */
	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.iterations = -1;
	CHECK(EstOptimizerCheck(&opt, err) == EST_EINVAL &&
		  strstr(err, "iteration") != NULL);
	CHECK(unit_total_allocs == allocs);

	/* the edges that are allowed */
	EstOptimizerDefaults(&opt, EST_OPT_FTRL);
	opt.lr_power = 0.0;
	opt.initial_accumulator = 0.0;
	opt.beta1 = 0.0;
	opt.momentum = 0.0;
	CHECK(EstOptimizerCheck(&opt, err) == EST_OK);
}

/*
 * sgd: w1 = w - 0.1 g1 = (0.95, -1.9); w2 = w1 - 0.1 g2 = (0.975, -1.95).
 */
void
TestOptimizerSgd(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_SGD);
	opt.learning_rate = 0.1;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(w[0], 0.95) && CLOSE(w[1], -1.9));
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(w[0], 0.975) && CLOSE(w[1], -1.95));
	CHECK(opt.iterations == 2);
	EstOptimizerFree(&opt);
}

/*
 * momentum 0.9:
 *	 v1 = -0.1 g1 = (-0.05, 0.1); w1 = (0.95, -1.9)
 *	 v2 = 0.9 v1 - 0.1 g2 = (-0.045 + 0.025, 0.09 - 0.05) = (-0.02, 0.04)
 *	 w2 = (0.93, -1.86)
 * nesterov, w += 0.9 v - 0.1 g:
 *	 w1 = w + (-0.045 - 0.05, 0.09 + 0.1) = (0.905, -1.81)
 *	 w2 = w1 + (-0.018 + 0.025, 0.036 - 0.05) = (0.912, -1.824)
 */
void
TestOptimizerMomentum(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_MOMENTUM);
	opt.learning_rate = 0.1;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(opt.slot[0][0], -0.05) && CLOSE(opt.slot[0][1], 0.1));
	CHECKF(CLOSE(w[0], 0.95) && CLOSE(w[1], -1.9), "w1 = (%.9f, %.9f)",
		   w[0], w[1]);
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(opt.slot[0][0], -0.02) && CLOSE(opt.slot[0][1], 0.04));
	CHECKF(CLOSE(w[0], 0.93) && CLOSE(w[1], -1.86), "w2 = (%.9f, %.9f)",
		   w[0], w[1]);
	EstOptimizerFree(&opt);

	w[0] = 1.0f;
	w[1] = -2.0f;
	EstOptimizerDefaults(&opt, EST_OPT_MOMENTUM);
	opt.learning_rate = 0.1;
	opt.nesterov = 1;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECKF(CLOSE(w[0], 0.905) && CLOSE(w[1], -1.81), "w1 = (%.9f, %.9f)",
		   w[0], w[1]);
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(opt.slot[0][0], -0.02) && CLOSE(opt.slot[0][1], 0.04));
	CHECKF(CLOSE(w[0], 0.912) && CLOSE(w[1], -1.824), "w2 = (%.9f, %.9f)",
		   w[0], w[1]);
	EstOptimizerFree(&opt);
}

/*
 * adagrad, a0 = 0.1, eps 1e-7:
 *	 a1 = 0.1 + g1^2 = (0.35, 1.1)
 *	 w1 = (1 - 0.1 * 0.5 / (sqrt(0.35) + 1e-7),
 *		   -2 + 0.1 * 1 / (sqrt(1.1) + 1e-7))
 *		= (0.915484589, -1.904653750)
 *	 a2 = a1 + g2^2 = (0.4125, 1.35)
 *	 w2 = (w1[0] + 0.1 * 0.25 / sqrt(0.4125), w1[1] - 0.1 * 0.5 / sqrt(1.35))
 *		= (0.954409530, -1.947686895)
 */
void
TestOptimizerAdagrad(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_ADAGRAD);
	opt.learning_rate = 0.1;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	CHECK(opt.slot[0][0] == 0.1f);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(opt.slot[0][0], 0.35) && CLOSE(opt.slot[0][1], 1.1));
	CHECKF(CLOSE(w[0], 0.915484589) && CLOSE(w[1], -1.904653750),
		   "w1 = (%.9f, %.9f)", w[0], w[1]);
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(opt.slot[0][0], 0.4125) && CLOSE(opt.slot[0][1], 1.35));
	CHECKF(CLOSE(w[0], 0.954409530) && CLOSE(w[1], -1.947686895),
		   "w2 = (%.9f, %.9f)", w[0], w[1]);
	EstOptimizerFree(&opt);
}

/*
 * adam, b1 0.9, b2 0.999, eps 1e-7:
 *	 t = 1: m = 0.1 g1 = (0.05, -0.1); v = 0.001 g1^2 = (0.00025, 0.001)
 *			alpha = 0.1 * sqrt(1 - 0.999) / (1 - 0.9) = 0.031622777
 *			w1 = w - alpha * m / (sqrt(v) + eps)
 *			   = (0.900000632, -1.900000316)	(almost lr * sign(g))
 *	 t = 2: m = 0.9 m + 0.1 g2 = (0.02, -0.04)
 *			v = 0.999 v + 0.001 g2^2 = (0.00031225, 0.001249)
 *			alpha = 0.1 * sqrt(1 - 0.999^2) / (1 - 0.9^2) = 0.023531673
 *			w2 = (0.873367079, -1.873366688)
 */
void
TestOptimizerAdam(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.learning_rate = 0.1;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(opt.slot[0][0], 0.05) && CLOSE(opt.slot[0][1], -0.1));
	CHECK(CLOSE(opt.slot[1][0], 0.00025) && CLOSE(opt.slot[1][1], 0.001));
	CHECKF(CLOSE(w[0], 0.900000632) && CLOSE(w[1], -1.900000316),
		   "w1 = (%.9f, %.9f)", w[0], w[1]);
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(opt.slot[0][0], 0.02) && CLOSE(opt.slot[0][1], -0.04));
	CHECK(CLOSE(opt.slot[1][0], 0.00031225) && CLOSE(opt.slot[1][1], 0.001249));
	CHECKF(CLOSE(w[0], 0.873367079) && CLOSE(w[1], -1.873366688),
		   "w2 = (%.9f, %.9f)", w[0], w[1]);
	CHECK(opt.iterations == 2);
	EstOptimizerFree(&opt);
}

/*
 * RunRmsprop applies g1 and g2 with rmsprop (lr 0.1, rho 0.9, eps 1e-7)
 * and compares w after each step with the expected values.
 */
static void
RunRmsprop(double momentum, int centered, const double *w1,
		   const double *w2)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_RMSPROP);
	opt.learning_rate = 0.1;
	opt.momentum = momentum;
	opt.centered = centered;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(opt.slot[0][0], 0.025) && CLOSE(opt.slot[0][1], 0.1));
	CHECKF(CLOSE(w[0], w1[0]) && CLOSE(w[1], w1[1]),
		   "momentum %g centered %d: w1 = (%.9f, %.9f)", momentum, centered,
		   w[0], w[1]);
	EstOptimizerApply(&opt, w, g2);
	CHECKF(CLOSE(w[0], w2[0]) && CLOSE(w[1], w2[1]),
		   "momentum %g centered %d: w2 = (%.9f, %.9f)", momentum, centered,
		   w[0], w[1]);
	if (centered)
		CHECK(CLOSE(opt.slot[opt.n_slots - 1][0], 0.9 * 0.05 - 0.025) &&
			  CLOSE(opt.slot[opt.n_slots - 1][1], 0.9 * -0.1 + 0.05));
	EstOptimizerFree(&opt);
}

/*
 * rmsprop, rho 0.9, eps 1e-7, lr 0.1:
 *	 s1 = 0.1 g1^2 = (0.025, 0.1)
 *	 step1 = 0.1 g1 / (sqrt(s1) + eps) = (0.316227566, -0.316227666)
 *	 w1 = (0.683772434, -1.683772334)
 *	 s2 = 0.9 s1 + 0.1 g2^2 = (0.02875, 0.115)
 *	 step2 = 0.1 g2 / (sqrt(s2) + eps) = (-0.147441869, 0.147441913)
 *	 w2 = (0.831214303, -1.831214247)
 * with momentum 0.5, u2 = 0.5 step1 + step2:
 *	 w2 = w1 - u2 = (0.673100520, -1.673100414)
 * centered, c1 = 0.1 g1 = (0.05, -0.1), d1 = s1 - c1^2 = (0.0225, 0.09):
 *	 w1 = (1 - 0.05 / 0.1500001, -2 + 0.1 / 0.3000001)
 *		= (0.666666889, -1.666666778)
 *	 c2 = 0.9 c1 + 0.1 g2 = (0.02, -0.04), d2 = (0.02835, 0.1134)
 *	 w2 = (0.815145268, -1.815145201)
 * centered with momentum 0.5: w2 = (0.648478713, -1.648478590)
 */
void
TestOptimizerRmsprop(void)
{
	static const double plain1[2] = {0.683772434, -1.683772334};
	static const double plain2[2] = {0.831214303, -1.831214247};
	static const double mom2[2] = {0.673100520, -1.673100414};
	static const double cent1[2] = {0.666666889, -1.666666778};
	static const double cent2[2] = {0.815145268, -1.815145201};
	static const double centmom2[2] = {0.648478713, -1.648478590};

	RunRmsprop(0.0, 0, plain1, plain2);
	RunRmsprop(0.5, 0, plain1, mom2);
	RunRmsprop(0.0, 1, cent1, cent2);
	RunRmsprop(0.5, 1, cent1, centmom2);
}

/*
 * RunFtrl applies g1 and g2 with ftrl (lr 0.1, lr_power -0.5, initial
 * accumulator 0.1) and compares w and the linear slot z after each step.
 */
static void
RunFtrl(double l1, double l2, double shrinkage, double beta,
		const double *w1, const double *z1, const double *w2,
		const double *z2)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];
	float		w[2] = {1.0f, -2.0f};

	EstOptimizerDefaults(&opt, EST_OPT_FTRL);
	opt.learning_rate = 0.1;
	opt.l1 = l1;
	opt.l2 = l2;
	opt.l2_shrinkage = shrinkage;
	opt.beta = beta;
	CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
	EstOptimizerApply(&opt, w, g1);
	CHECK(CLOSE(opt.slot[0][0], 0.35) && CLOSE(opt.slot[0][1], 1.1));
	CHECKF(CLOSE(opt.slot[1][0], z1[0]) && CLOSE(opt.slot[1][1], z1[1]),
		   "l1 %g: z1 = (%.9f, %.9f)", l1, opt.slot[1][0], opt.slot[1][1]);
	CHECKF(CLOSE(w[0], w1[0]) && CLOSE(w[1], w1[1]),
		   "l1 %g: w1 = (%.9f, %.9f)", l1, w[0], w[1]);
	if (w1[0] == 0.0)
		CHECK(w[0] == 0.0f);
	EstOptimizerApply(&opt, w, g2);
	CHECK(CLOSE(opt.slot[0][0], 0.4125) && CLOSE(opt.slot[0][1], 1.35));
	CHECKF(CLOSE(opt.slot[1][0], z2[0]) && CLOSE(opt.slot[1][1], z2[1]),
		   "l1 %g: z2 = (%.9f, %.9f)", l1, opt.slot[1][0], opt.slot[1][1]);
	CHECKF(CLOSE(w[0], w2[0]) && CLOSE(w[1], w2[1]),
		   "l1 %g: w2 = (%.9f, %.9f)", l1, w[0], w[1]);
	if (w2[0] == 0.0)
		CHECK(w[0] == 0.0f);
	EstOptimizerFree(&opt);
}

/*
 * ftrl (tf.raw_ops.ApplyFtrlV2 with l2' = l2 + beta / (2 lr)), n0 = 0.1:
 *	 n1 = 0.1 + g1^2 = (0.35, 1.1)
 *	 z1 = g_s - (sqrt(n1) - sqrt(0.1)) / lr * w
 *	 w1 = (sign(z1) l1 - z1) / (sqrt(n1) / lr + 2 l2')  or 0 if |z1| <= l1
 * plain (l1 = l2 = shrinkage = beta = 0):
 *	 z1[0] = 0.5 - (0.591607978 - 0.316227766) / 0.1 = -2.253802
 *	 w1[0] = 2.253802 / 5.91607978 = 0.380962074
 *	 z1 = (-2.253802061, 13.651621819), w1 = (0.380962074, -1.301631093)
 *	 z2 = (-2.696773291, 15.623586655), w2 = (0.419887036, -1.344664216)
 * l1 0.05, l2 0.1, shrinkage 0.05, beta 0.2 (l2' = 1.1, g_s = g + 0.1 w):
 *	 z1 = (-2.153802156, 13.451622009), w1 = (0.259214073, -1.056236506)
 *	 z2 = (-2.509182215, 15.040455818), w2 = (0.285201401, -1.084775329)
 * l1 10: |z[0]| stays below 10, so w[0] is exactly 0 (and z2[0] =
 * z1[0] + g2[0] since w1[0] = 0); |z[1]| > 10:
 *	 w1 = (0, (10 - 13.651621819) / 10.48808848) = (0, -0.348168492)
 *	 z2 = (-2.503802061, 14.545351982), w2 = (0, -0.391201615)
 */
void
TestOptimizerFtrl(void)
{
	static const double pz1[2] = {-2.253802061, 13.651621819};
	static const double pw1[2] = {0.380962074, -1.301631093};
	static const double pz2[2] = {-2.696773291, 15.623586655};
	static const double pw2[2] = {0.419887036, -1.344664216};
	static const double rz1[2] = {-2.153802156, 13.451622009};
	static const double rw1[2] = {0.259214073, -1.056236506};
	static const double rz2[2] = {-2.509182215, 15.040455818};
	static const double rw2[2] = {0.285201401, -1.084775329};
	static const double lz1[2] = {-2.253802061, 13.651621819};
	static const double lw1[2] = {0.0, -0.348168492};
	static const double lz2[2] = {-2.503802061, 14.545351982};
	static const double lw2[2] = {0.0, -0.391201615};

	RunFtrl(0, 0, 0, 0, pw1, pz1, pw2, pz2);
	RunFtrl(0.05, 0.1, 0.05, 0.2, rw1, rz1, rw2, rz2);
	RunFtrl(10, 0, 0, 0, lw1, lz1, lw2, lz2);

	/* an l1 above every |z| zeroes every weight, exactly */
	{
		EstOptimizer opt;
		char		err[EST_ERRMSG_LEN];
		float		w[2] = {1.0f, -2.0f};

		EstOptimizerDefaults(&opt, EST_OPT_FTRL);
		opt.learning_rate = 0.1;
		opt.l1 = 100;
		CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
		EstOptimizerApply(&opt, w, g1);
		CHECK(w[0] == 0.0f && w[1] == 0.0f);
		EstOptimizerApply(&opt, w, g2);
		CHECK(w[0] == 0.0f && w[1] == 0.0f);
		EstOptimizerFree(&opt);
	}

	/* lr_power 0 (a fixed rate): z = g, w = -lr z for l1 = l2 = 0 */
	{
		EstOptimizer opt;
		char		err[EST_ERRMSG_LEN];
		float		w[2] = {1.0f, -2.0f};

		EstOptimizerDefaults(&opt, EST_OPT_FTRL);
		opt.learning_rate = 0.1;
		opt.lr_power = 0.0;
		CHECK(EstOptimizerInit(&opt, 2, err) == EST_OK);
		EstOptimizerApply(&opt, w, g1);
		CHECK(CLOSE(w[0], -0.05) && CLOSE(w[1], 0.1));
		EstOptimizerFree(&opt);
	}
}

/*
 * Schedules with base rate 0.1 and decay_steps 100:
 *	 exponential, rate 0.5: step 50 -> 0.1 * 0.5^0.5 = 0.0707106781,
 *		step 250 -> 0.1 * 0.5^2.5 = 0.0176776695; staircase: 250 -> 0.025,
 *		199 -> 0.05
 *	 step, rate 0.5: 99 -> 0.1, 100 -> 0.05, 350 -> 0.0125
 *	 cosine, alpha 0.1: 0 -> 0.1, 25 -> 0.1 (0.9 (1 + cos(pi / 4)) / 2 +
 *		0.1) = 0.0868198052, 50 -> 0.055, 100 and 1000 -> 0.01
 */
void
TestSchedules(void)
{
	EstSchedule s;

	memset(&s, 0, sizeof(s));
	s.kind = EST_SCHED_CONSTANT;
	CHECK(EstScheduleRate(&s, 0.1, 0) == 0.1);
	CHECK(EstScheduleRate(&s, 0.1, 123456) == 0.1);

	s.kind = EST_SCHED_EXPONENTIAL;
	s.decay_steps = 100;
	s.decay_rate = 0.5;
	CHECK(fabs(EstScheduleRate(&s, 0.1, 0) - 0.1) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 50) - 0.0707106781) < 1e-10);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 250) - 0.0176776695) < 1e-10);
	CHECK(fabs(EstScheduleRate(&s, 0.1, -5) - 0.1) < 1e-15);
	s.staircase = 1;
	CHECK(fabs(EstScheduleRate(&s, 0.1, 250) - 0.025) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 199) - 0.05) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 200) - 0.025) < 1e-15);

	s.kind = EST_SCHED_STEP;
	s.staircase = 0;
	CHECK(fabs(EstScheduleRate(&s, 0.1, 99) - 0.1) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 100) - 0.05) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 350) - 0.0125) < 1e-15);

	s.kind = EST_SCHED_COSINE;
	s.alpha = 0.1;
	CHECK(fabs(EstScheduleRate(&s, 0.1, 0) - 0.1) < 1e-15);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 25) - 0.0868198052) < 1e-10);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 50) - 0.055) < 1e-12);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 100) - 0.01) < 1e-12);
	CHECK(fabs(EstScheduleRate(&s, 0.1, 1000) - 0.01) < 1e-12);
	s.alpha = 0.0;
	CHECK(fabs(EstScheduleRate(&s, 0.1, 100)) < 1e-15);

	/* invalid schedules give NaN */
	s.decay_steps = 0;
	CHECK(isnan(EstScheduleRate(&s, 0.1, 10)));
	s.decay_steps = 100;
	s.alpha = 1.5;
	CHECK(isnan(EstScheduleRate(&s, 0.1, 10)));
	s.kind = EST_SCHED_EXPONENTIAL;
	s.decay_rate = 0.0;
	CHECK(isnan(EstScheduleRate(&s, 0.1, 10)));
	s.kind = (EstScheduleKind) 9;
	CHECK(isnan(EstScheduleRate(&s, 0.1, 10)));
}
