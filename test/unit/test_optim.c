/*-------------------------------------------------------------------------
 *
 * test_optim.c
 *	  Tests of the optimizers against hand-computed steps.
 *
 * Every test starts from w = (1, -2) and applies the gradients
 * g1 = (0.5, -1) and g2 = (-0.25, 0.5) with learning rate 0.1.  The
 * expected values are worked out in double in the comments; the
 * optimizers compute in float, so they agree to about 1e-6.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "unit.h"

static const float g1[2] = {0.5f, -1.0f};
static const float g2[2] = {-0.25f, 0.5f};

#define CLOSE(a, b)	(fabs((double) (a) - (double) (b)) < 2e-6)

void
TestOptimizerDefaults(void)
{
	EstOptimizer opt;
	char		err[EST_ERRMSG_LEN];

	CHECK(EstOptimizerSlotCount(EST_OPT_SGD) == 0);
	CHECK(EstOptimizerSlotCount(EST_OPT_ADAGRAD) == 1);
	CHECK(EstOptimizerSlotCount(EST_OPT_ADAM) == 2);
	CHECK(EstOptimizerSlotCount((EstOptimizerKind) 0) < 0);

	EstOptimizerDefaults(&opt, EST_OPT_SGD);
	CHECK(opt.learning_rate == 0.01 && opt.n_slots == 0);
	EstOptimizerDefaults(&opt, EST_OPT_ADAGRAD);
	CHECK(opt.learning_rate == 0.05 && opt.initial_accumulator == 0.1 &&
		  opt.epsilon == 1e-7 && opt.n_slots == 1);
	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	CHECK(opt.learning_rate == 0.001 && opt.beta1 == 0.9 &&
		  opt.beta2 == 0.999 && opt.epsilon == 1e-7 && opt.n_slots == 2);
	CHECK(opt.slot[0] == NULL && opt.slot[1] == NULL);

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

	EstOptimizerDefaults(&opt, EST_OPT_ADAM);
	opt.kind = (EstOptimizerKind) 7;
	CHECK(EstOptimizerInit(&opt, 3, err) == EST_EINVAL);
	opt.kind = EST_OPT_SGD;
	CHECK(EstOptimizerInit(&opt, EST_MAX_PARAMS + 1, err) == EST_ELIMIT);
	CHECK(opt.slot[0] == NULL);
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
