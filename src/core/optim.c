/*-------------------------------------------------------------------------
 *
 * optim.c
 *	  Gradient descent optimizers and learning-rate schedules.
 *
 * The update rules and defaults are those of Keras (see estcore.h), so a
 * model trained here behaves like the same model trained with
 * TensorFlow.  Parameters and slots are float32.  sgd, momentum, adagrad,
 * adam and rmsprop compute in float, like TensorFlow's kernels; the
 * scalars of adam's bias correction are computed in double, because
 * 1 - beta^t loses most of its digits in float when t is small.  ftrl
 * computes each element in double and rounds once, because its
 * proximal step subtracts nearly equal quantities.
 *
 * Slots, in order:
 *	 momentum: velocity v
 *	 adagrad:  accumulator a
 *	 adam:	   first moment m, second moment v
 *	 rmsprop:  mean square s, then the momentum u when momentum > 0, then
 *			   the mean gradient c when centered
 *	 ftrl:	   accumulator n, linear z
 *
 * ftrl follows Keras' Ftrl, which calls tf.raw_ops.ApplyFtrlV2 with an
 * l2 that absorbs beta (l2' = l2 + beta / (2 lr)):
 *
 *	 g_s = g + 2 * l2_shrinkage * w
 *	 n' = n + g^2						(g, not g_s)
 *	 z += g_s - (n'^(-p) - n^(-p)) / lr * w		(p = lr_power)
 *	 q = n'^(-p) / lr + 2 * l2'
 *	 w = (sign(z) * l1 - z) / q  if |z| > l1, else exactly 0
 *	 n = n'
 *
 * with n starting at initial_accumulator and z at 0.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estcore.h"

#define EST_PI	3.14159265358979323846

/*
 * EstOptimizerSlotCount returns how many per-parameter vectors the
 * optimizer keeps, or -1 for an unknown kind.
 */
int
EstOptimizerSlotCount(const EstOptimizer *opt)
{
	switch (opt->kind)
	{
		case EST_OPT_SGD:
			return 0;
		case EST_OPT_MOMENTUM:
		case EST_OPT_ADAGRAD:
			return 1;
		case EST_OPT_ADAM:
		case EST_OPT_FTRL:
			return 2;
		case EST_OPT_RMSPROP:
			return 1 + (opt->momentum > 0.0 ? 1 : 0) + (opt->centered ? 1 : 0);
	}
	return -1;
}

/*
 * EstOptimizerDefaults sets the kind and every hyperparameter to its
 * Keras default.  The learning rate depends on the kind: 0.01 for sgd and
 * momentum, 0.05 for adagrad (the default of TensorFlow's DNN
 * estimators), 0.001 for adam, rmsprop and ftrl.  momentum is 0.9 for
 * the momentum optimizer and 0 otherwise (rmsprop's default); the other
 * hyperparameters get their defaults whatever the kind, so that a
 * checkpoint always holds valid values.
 */
void
EstOptimizerDefaults(EstOptimizer *opt, EstOptimizerKind kind)
{
	memset(opt, 0, sizeof(*opt));
	opt->kind = kind;
	opt->beta1 = 0.9;
	opt->beta2 = 0.999;
	opt->epsilon = 1e-7;
	opt->initial_accumulator = 0.1;
	opt->momentum = 0.0;
	opt->nesterov = 0;
	opt->rho = 0.9;
	opt->centered = 0;
	opt->lr_power = -0.5;
	opt->l1 = 0.0;
	opt->l2 = 0.0;
	opt->l2_shrinkage = 0.0;
	opt->beta = 0.0;
	switch (kind)
	{
		case EST_OPT_SGD:
			opt->learning_rate = 0.01;
			break;
		case EST_OPT_MOMENTUM:
			opt->learning_rate = 0.01;
			opt->momentum = 0.9;
			break;
		case EST_OPT_ADAGRAD:
			opt->learning_rate = 0.05;
			break;
		case EST_OPT_ADAM:
		case EST_OPT_RMSPROP:
		case EST_OPT_FTRL:
			opt->learning_rate = 0.001;
			break;
	}
	opt->n_slots = EstOptimizerSlotCount(opt);
	if (opt->n_slots < 0)
		opt->n_slots = 0;
}

/*
 * EstOptimizerCheck checks every hyperparameter, whatever the kind, and
 * names the first bad one.
 */
EstStatus
EstOptimizerCheck(const EstOptimizer *opt, char *errmsg)
{
	const char *bad = NULL;
	double		value = 0.0;

	if (EstOptimizerSlotCount(opt) < 0)
	{
		EstSetError(errmsg, "unrecognized optimizer: %d", (int) opt->kind);
		return EST_EINVAL;
	}
#define BAD_IF(cond, name, v) \
	do { if (bad == NULL && (cond)) { bad = (name); value = (v); } } while (0)
	BAD_IF(!isfinite(opt->learning_rate) || !(opt->learning_rate > 0.0),
		   "learning rate", opt->learning_rate);
	BAD_IF(!isfinite(opt->beta1) || opt->beta1 < 0.0 || opt->beta1 >= 1.0,
		   "beta1", opt->beta1);
	BAD_IF(!isfinite(opt->beta2) || opt->beta2 < 0.0 || opt->beta2 >= 1.0,
		   "beta2", opt->beta2);
	BAD_IF(!isfinite(opt->epsilon) || !(opt->epsilon > 0.0),
		   "epsilon", opt->epsilon);
	BAD_IF(!isfinite(opt->initial_accumulator) ||
		   opt->initial_accumulator < 0.0,
		   "initial accumulator", opt->initial_accumulator);
	BAD_IF(!isfinite(opt->momentum) || opt->momentum < 0.0 ||
		   opt->momentum >= 1.0, "momentum", opt->momentum);
	BAD_IF(opt->nesterov != 0 && opt->nesterov != 1, "nesterov",
		   (double) opt->nesterov);
	BAD_IF(!isfinite(opt->rho) || opt->rho < 0.0 || opt->rho >= 1.0,
		   "rho", opt->rho);
	BAD_IF(opt->centered != 0 && opt->centered != 1, "centered",
		   (double) opt->centered);
	BAD_IF(!isfinite(opt->lr_power) || opt->lr_power > 0.0,
		   "learning rate power", opt->lr_power);
	BAD_IF(!isfinite(opt->l1) || opt->l1 < 0.0, "l1", opt->l1);
	BAD_IF(!isfinite(opt->l2) || opt->l2 < 0.0, "l2", opt->l2);
	BAD_IF(!isfinite(opt->l2_shrinkage) || opt->l2_shrinkage < 0.0,
		   "l2 shrinkage", opt->l2_shrinkage);
	BAD_IF(!isfinite(opt->beta) || opt->beta < 0.0, "beta", opt->beta);
	BAD_IF(opt->iterations < 0, "iteration count", (double) opt->iterations);
#undef BAD_IF
	if (bad != NULL)
	{
		EstSetError(errmsg, "optimizer %s %g is out of range", bad, value);
		return EST_EINVAL;
	}
	return EST_OK;
}

/*
 * EstOptimizerInit checks the hyperparameters and allocates the slots for
 * n parameters: adagrad's and ftrl's accumulators start at
 * initial_accumulator, every other slot at 0.  It resets the iteration
 * count and keeps the hyperparameters.  On failure no slot stays
 * allocated.
 */
EstStatus
EstOptimizerInit(EstOptimizer *opt, size_t n, char *errmsg)
{
	EstStatus	status;
	int			n_slots;
	int			s;

	for (s = 0; s < EST_MAX_SLOTS; s++)
		opt->slot[s] = NULL;
	opt->n = 0;
	opt->n_slots = 0;
	opt->iterations = 0;
	status = EstOptimizerCheck(opt, errmsg);
	if (status != EST_OK)
		return status;
	n_slots = EstOptimizerSlotCount(opt);
	if (n > EST_MAX_PARAMS)
	{
		EstSetError(errmsg, "optimizer needs %zu parameters, the limit is %zu",
					n, (size_t) EST_MAX_PARAMS);
		return EST_ELIMIT;
	}
	for (s = 0; s < n_slots; s++)
	{
		opt->slot[s] = EstAllocZero(n, sizeof(float));
		if (opt->slot[s] == NULL)
		{
			EstOptimizerFree(opt);
			EstSetError(errmsg, "could not allocate optimizer slots for %zu parameters",
						n);
			return EST_ENOMEM;
		}
	}
	if (opt->kind == EST_OPT_ADAGRAD || opt->kind == EST_OPT_FTRL)
	{
		float		init = (float) opt->initial_accumulator;
		size_t		i;

		for (i = 0; i < n; i++)
			opt->slot[0][i] = init;
	}
	opt->n = n;
	opt->n_slots = n_slots;
	return EST_OK;
}

/*
 * EstOptimizerFree releases the slots; the hyperparameters stay.
 */
void
EstOptimizerFree(EstOptimizer *opt)
{
	int			s;

	for (s = 0; s < EST_MAX_SLOTS; s++)
	{
		EstFree(opt->slot[s]);
		opt->slot[s] = NULL;
	}
	opt->n = 0;
	opt->n_slots = 0;
}

/*
 * ApplyFtrl applies the ftrl step described at the top of this file.
 */
static void
ApplyFtrl(EstOptimizer *opt, float *params, const float *grad)
{
	float	   *accum = opt->slot[0];
	float	   *linear = opt->slot[1];
	double		lr = opt->learning_rate;
	double		p = opt->lr_power;
	double		l1 = opt->l1;
	double		l2 = opt->l2 + opt->beta / (2.0 * lr);
	double		shrink = opt->l2_shrinkage;
	size_t		i;

	for (i = 0; i < opt->n; i++)
	{
		double		w = params[i];
		double		g = grad[i];
		double		n_old = accum[i];
		double		n_new = n_old + g * g;
		double		gs = g + 2.0 * shrink * w;
		double		pow_new;
		double		pow_old;
		double		z;

		if (p == -0.5)
		{
			pow_new = sqrt(n_new);
			pow_old = sqrt(n_old);
		}
		else
		{
			pow_new = pow(n_new, -p);
			pow_old = pow(n_old, -p);
		}
		z = (double) linear[i] + gs - (pow_new - pow_old) / lr * w;
		if (fabs(z) > l1)
		{
			double		q = pow_new / lr + 2.0 * l2;

			params[i] = (float) (((z > 0.0 ? l1 : -l1) - z) / q);
		}
		else
			params[i] = 0.0f;
		linear[i] = (float) z;
		accum[i] = (float) n_new;
	}
}

/*
 * ApplyRmsprop applies rmsprop with its optional momentum and centering;
 * a centered denominator s - c^2 that rounding makes negative counts as 0.
 */
static void
ApplyRmsprop(EstOptimizer *opt, float *params, const float *grad)
{
	int			has_momentum = opt->momentum > 0.0;
	float	   *s = opt->slot[0];
	float	   *u = has_momentum ? opt->slot[1] : NULL;
	float	   *c = opt->centered ? opt->slot[has_momentum ? 2 : 1] : NULL;
	float		lr = (float) opt->learning_rate;
	float		rho = (float) opt->rho;
	float		mom = (float) opt->momentum;
	float		eps = (float) opt->epsilon;
	size_t		i;

	for (i = 0; i < opt->n; i++)
	{
		float		g = grad[i];
		float		d;
		float		step;

		s[i] = rho * s[i] + (1.0f - rho) * g * g;
		d = s[i];
		if (c != NULL)
		{
			c[i] = rho * c[i] + (1.0f - rho) * g;
			d = s[i] - c[i] * c[i];
			if (d < 0.0f)
				d = 0.0f;
		}
		step = lr * g / (sqrtf(d) + eps);
		if (u != NULL)
		{
			u[i] = mom * u[i] + step;
			params[i] -= u[i];
		}
		else
			params[i] -= step;
	}
}

/*
 * EstOptimizerApply moves params one step against grad and counts the
 * step in iterations.
 */
EST_CLONES void
EstOptimizerApply(EstOptimizer *opt, float *params, const float *grad)
{
	size_t		n = opt->n;
	float		lr = (float) opt->learning_rate;
	float		eps = (float) opt->epsilon;
	size_t		i;

	opt->iterations++;
	switch (opt->kind)
	{
		case EST_OPT_SGD:
			for (i = 0; i < n; i++)
				params[i] -= lr * grad[i];
			break;

		case EST_OPT_MOMENTUM:
			{
				float	   *v = opt->slot[0];
				float		mom = (float) opt->momentum;

				for (i = 0; i < n; i++)
				{
					float		g = grad[i];

					v[i] = mom * v[i] - lr * g;
					if (opt->nesterov)
						params[i] += mom * v[i] - lr * g;
					else
						params[i] += v[i];
				}
			}
			break;

		case EST_OPT_ADAGRAD:
			{
				float	   *acc = opt->slot[0];

				for (i = 0; i < n; i++)
				{
					float		g = grad[i];

					acc[i] += g * g;
					params[i] -= lr * g / (sqrtf(acc[i]) + eps);
				}
			}
			break;

		case EST_OPT_ADAM:
			{
				float	   *m = opt->slot[0];
				float	   *v = opt->slot[1];
				double		t = (double) opt->iterations;
				double		alpha_d = opt->learning_rate *
					sqrt(1.0 - pow(opt->beta2, t)) /
					(1.0 - pow(opt->beta1, t));
				float		alpha = (float) alpha_d;
				float		b1 = (float) opt->beta1;
				float		b2 = (float) opt->beta2;

				for (i = 0; i < n; i++)
				{
					float		g = grad[i];

					m[i] = b1 * m[i] + (1.0f - b1) * g;
					v[i] = b2 * v[i] + (1.0f - b2) * g * g;
					params[i] -= alpha * m[i] / (sqrtf(v[i]) + eps);
				}
			}
			break;

		case EST_OPT_RMSPROP:
			ApplyRmsprop(opt, params, grad);
			break;

		case EST_OPT_FTRL:
			ApplyFtrl(opt, params, grad);
			break;
	}
}

/*
 * EstScheduleRate returns the learning rate of global_step (negative
 * steps count as 0) under the schedule, or NaN for an invalid schedule
 * (unknown kind, decay_steps <= 0 or decay_rate <= 0 where they are
 * used, alpha outside [0, 1]); the shell checks schedules first.
 */
double
EstScheduleRate(const EstSchedule *schedule, double base_rate,
				int64_t global_step)
{
	int64_t		gs = global_step > 0 ? global_step : 0;
	double		step = (double) gs;
	double		ds = (double) schedule->decay_steps;
	double		p;

	if (schedule->kind == EST_SCHED_CONSTANT)
		return base_rate;
	if (schedule->decay_steps <= 0)
		return NAN;
	switch (schedule->kind)
	{
		case EST_SCHED_EXPONENTIAL:
			if (!(schedule->decay_rate > 0.0))
				return NAN;
			if (schedule->staircase)
				p = (double) (gs / schedule->decay_steps);
			else
				p = step / ds;
			return base_rate * pow(schedule->decay_rate, p);
		case EST_SCHED_STEP:
			if (!(schedule->decay_rate > 0.0))
				return NAN;
			return base_rate * pow(schedule->decay_rate,
								   (double) (gs / schedule->decay_steps));
		case EST_SCHED_COSINE:
			if (!(schedule->alpha >= 0.0 && schedule->alpha <= 1.0))
				return NAN;
			p = (step < ds ? step : ds) / ds;
			return base_rate * ((1.0 - schedule->alpha) *
								(1.0 + cos(EST_PI * p)) / 2.0 +
								schedule->alpha);
		default:
			break;
	}
	return NAN;
}
