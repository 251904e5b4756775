/*-------------------------------------------------------------------------
 *
 * features.c
 *	  The numeric feature transform: z-scores fitted on training data.
 *
 * Each network input x becomes (x - shift) / scale, with shift the mean
 * and scale the population standard deviation of the training column.
 * The state is saved in the checkpoint, so prediction applies exactly
 * the transform of training.  Statistics accumulate in double with
 * Welford's method, which stays accurate for columns with a large mean.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estcore.h"

/*
 * EstFeatureStateInit allocates the state for n_inputs columns, set to
 * the identity transform (shift 0, scale 1).  On failure fs is zeroed.
 */
EstStatus
EstFeatureStateInit(EstFeatureState *fs, int n_inputs, char *errmsg)
{
	int			i;

	memset(fs, 0, sizeof(*fs));
	if (n_inputs < 1)
	{
		EstSetError(errmsg, "feature state needs at least 1 input, not %d",
					n_inputs);
		return EST_EINVAL;
	}
	if (n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "feature state has %d inputs, the limit is %d",
					 n_inputs, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	fs->shift = EstAllocZero((size_t) n_inputs, sizeof(double));
	fs->scale = EstAllocZero((size_t) n_inputs, sizeof(double));
	if (fs->shift == NULL || fs->scale == NULL)
	{
		EstFeatureStateFree(fs);
		EstSetError(errmsg, "could not allocate the feature state of %d inputs",
					 n_inputs);
		return EST_ENOMEM;
	}
	for (i = 0; i < n_inputs; i++)
		fs->scale[i] = 1.0;
	fs->n_inputs = n_inputs;
	return EST_OK;
}

/*
 * EstFeatureStateFree releases the state and zeroes fs.
 */
void
EstFeatureStateFree(EstFeatureState *fs)
{
	EstFree(fs->shift);
	EstFree(fs->scale);
	memset(fs, 0, sizeof(*fs));
}

/*
 * EstFeatureStateFit sets each column's shift to its mean and scale to
 * its population standard deviation.  A column whose deviation is 0 or
 * not finite gets scale 1, and one whose mean is not finite gets shift 0,
 * so the state is always finite and usable.
 */
void
EstFeatureStateFit(EstFeatureState *fs, const float *X, size_t n)
{
	int			cols = fs->n_inputs;
	int			j;

	for (j = 0; j < cols; j++)
	{
		double		mean = 0.0;
		double		m2 = 0.0;
		double		sd;
		size_t		i;

		for (i = 0; i < n; i++)
		{
			double		x = X[i * (size_t) cols + j];
			double		d = x - mean;

			mean += d / (double) (i + 1);
			m2 += d * (x - mean);
		}
		sd = n > 0 ? sqrt(m2 / (double) n) : 0.0;
		fs->shift[j] = isfinite(mean) ? mean : 0.0;
		fs->scale[j] = (isfinite(sd) && sd > 0.0) ? sd : 1.0;
	}
}

/*
 * EstFeatureStateApply transforms n rows of X in place, computing in
 * double and rounding once to float.
 */
void
EstFeatureStateApply(const EstFeatureState *fs, float *X, size_t n)
{
	int			cols = fs->n_inputs;
	size_t		i;
	int			j;

	for (i = 0; i < n; i++)
	{
		float	   *row = X + i * (size_t) cols;

		for (j = 0; j < cols; j++)
			row[j] = (float) (((double) row[j] - fs->shift[j]) / fs->scale[j]);
	}
}
