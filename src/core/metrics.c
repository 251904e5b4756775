/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Streaming evaluation metrics over scored batches.
 *
 * Evaluation scores a table batch by batch; EstMetricsAdd folds each
 * batch into running sums, weighted by the row weights, so that the
 * final figures do not depend on the batch size.  For the softmax head a
 * row's loss is its cross-entropy and the row counts as correct when the
 * largest logit (the lowest index among ties) is the label.  For the
 * squared head a row's loss is the mean over outputs of the squared
 * error, and sq_error_sum and abs_error_sum add the weighted per-row means
 * over outputs of the squared and absolute errors, so that dividing by
 * weight_sum gives the mean squared and mean absolute error.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <string.h>

#include "estcore.h"

/*
 * EstMetricsReset clears the sums.
 */
void
EstMetricsReset(EstMetrics *m)
{
	memset(m, 0, sizeof(*m));
}

/*
 * EstMetricsAdd adds the n rows of the last forward pass to m.  A label
 * that is not a valid class id adds a NaN loss and counts as wrong.
 */
void
EstMetricsAdd(EstMetrics *m, const EstNetwork *net, const EstWorkspace *ws,
			  const float *y, const float *weights, int n)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		const float *zi = z + (size_t) i * k;
		double		w = weights ? (double) weights[i] : 1.0;

		m->weight_sum += w;
		if (net->head == EST_HEAD_SOFTMAX)
		{
			float		label = y[i];
			int			c = -1;
			int			best = 0;
			double		mx = zi[0];
			double		sum = 0.0;

			if (label >= 0.0f && label < (float) k &&
				(float) (int) label == label)
				c = (int) label;
			for (j = 1; j < k; j++)
				if (zi[j] > zi[best])
					best = j;
			mx = zi[best];
			for (j = 0; j < k; j++)
				sum += exp((double) zi[j] - mx);
			if (c < 0)
			{
				m->loss_sum += NAN;
				continue;
			}
			m->loss_sum += w * (mx + log(sum) - (double) zi[c]);
			if (best == c)
				m->correct += w;
		}
		else
		{
			const float *yi = y + (size_t) i * k;
			double		sq = 0.0;
			double		ab = 0.0;

			for (j = 0; j < k; j++)
			{
				double		e = (double) zi[j] - (double) yi[j];

				sq += e * e;
				ab += fabs(e);
			}
			m->loss_sum += w * sq / k;
			m->sq_error_sum += w * sq / k;
			m->abs_error_sum += w * ab / k;
		}
	}
}

/*
 * EstMetricsAccuracy returns the weighted share of correct rows, or 0
 * before any weight was added.
 */
double
EstMetricsAccuracy(const EstMetrics *m)
{
	if (!(m->weight_sum > 0.0))
		return 0.0;
	return m->correct / m->weight_sum;
}

/*
 * EstMetricsMeanLoss returns the weighted mean row loss, or 0 before any
 * weight was added.
 */
double
EstMetricsMeanLoss(const EstMetrics *m)
{
	if (!(m->weight_sum > 0.0))
		return 0.0;
	return m->loss_sum / m->weight_sum;
}
