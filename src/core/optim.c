/*-------------------------------------------------------------------------
 *
 * optim.c
 *	  Gradient descent optimizers: sgd, adagrad and adam.
 *
 * The update rules and defaults are those of Keras (see estcore.h), so a
 * model trained here behaves like the same model trained with
 * TensorFlow.  Parameters and slots are float32; the scalars of adam's
 * bias correction are computed in double, because 1 - beta^t loses most
 * of its digits in float when t is small.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estcore.h"

/*
 * EstOptimizerSlotCount returns how many per-parameter vectors the kind
 * keeps, or -1 for an unknown kind.
 */
int
EstOptimizerSlotCount(EstOptimizerKind kind)
{
	switch (kind)
	{
		case EST_OPT_SGD:
			return 0;
		case EST_OPT_ADAGRAD:
			return 1;
		case EST_OPT_ADAM:
			return 2;
	}
	return -1;
}

/*
 * EstOptimizerDefaults sets the kind and every hyperparameter to its
 * default.  The learning rate depends on the kind: 0.01 for sgd, 0.05 for
 * adagrad (the default of TensorFlow's DNN estimators) and 0.001 for
 * adam.  The other hyperparameters get their Keras defaults whatever the
 * kind, so that a checkpoint always holds valid values.
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
	switch (kind)
	{
		case EST_OPT_SGD:
			opt->learning_rate = 0.01;
			break;
		case EST_OPT_ADAGRAD:
			opt->learning_rate = 0.05;
			break;
		case EST_OPT_ADAM:
			opt->learning_rate = 0.001;
			break;
	}
	opt->n_slots = EstOptimizerSlotCount(kind);
	if (opt->n_slots < 0)
		opt->n_slots = 0;
}

/*
 * EstOptimizerInit allocates the slots for n parameters: adagrad's
 * accumulator starts at initial_accumulator, adam's moments at 0.  It
 * resets the iteration count and keeps the hyperparameters.  On failure
 * no slot stays allocated.
 */
EstStatus
EstOptimizerInit(EstOptimizer *opt, size_t n, char *errmsg)
{
	int			n_slots = EstOptimizerSlotCount(opt->kind);
	int			s;

	opt->slot[0] = NULL;
	opt->slot[1] = NULL;
	opt->n = 0;
	opt->n_slots = 0;
	opt->iterations = 0;
	if (n_slots < 0)
	{
		EstSetError(errmsg, "unrecognized optimizer: %d",
					 (int) opt->kind);
		return EST_EINVAL;
	}
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
			EstFree(opt->slot[0]);
			opt->slot[0] = NULL;
			EstSetError(errmsg, "could not allocate optimizer slots for %zu parameters",
						 n);
			return EST_ENOMEM;
		}
	}
	if (opt->kind == EST_OPT_ADAGRAD)
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
	EstFree(opt->slot[0]);
	EstFree(opt->slot[1]);
	opt->slot[0] = NULL;
	opt->slot[1] = NULL;
	opt->n = 0;
	opt->n_slots = 0;
}

/*
 * EstOptimizerApply moves params one step against grad and counts the
 * step in iterations.
 */
void
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
	}
}
