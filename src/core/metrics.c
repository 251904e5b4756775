/*-------------------------------------------------------------------------
 *
 * metrics.c
 *	  Streaming evaluation metrics over scored batches.
 *
 * Evaluation scores a table batch by batch; EstMetricsAdd folds each
 * batch into running sums, weighted by the row weights, so that the
 * final figures do not depend on the batch size.
 *
 * Classification (softmax and sigmoid heads) keeps a weighted confusion
 * matrix [label * n + predicted].  The predicted class is the largest
 * logit (the lowest index among ties) for softmax, and class 1 exactly
 * when the logit is positive for sigmoid (TensorFlow's binary head).  A
 * model is binary when it has 2 classes, whatever its head: precision,
 * recall and F1 are then those of class 1, AUCs use the score of class 1.
 * With more classes they are macro averages, as scikit-learn's
 * average="macro": the unweighted mean over the classes that occur as a
 * label or a prediction, of each class's one-vs-rest figure, where F1 is
 * the mean of the per-class F1 (not the F1 of the mean precision and
 * recall).  A ratio whose denominator is 0 counts as 0 (scikit-learn's
 * zero_division=0).
 *
 * With keep_scores, every row's logits, label and weight are kept, in
 * arrays that grow geometrically, for exact AUCs: the rows are sorted by
 * decreasing probability, computed in double precision from the logits
 * when the AUCs are (as est_predict_proba computes it: a probability
 * rounded to float32 would make every row above 1 - 6e-8 one threshold,
 * and the AUCs of a confident model wrong by 0.01), rows of equal
 * probability form one threshold, and
 *
 *	 ROC AUC = sum over thresholds of (FP_k - FP_{k-1}) (TP_k + TP_{k-1}) / 2
 *			   / (P N)								(the trapezoid rule)
 *	 PR AUC  = sum over thresholds of (TP_k - TP_{k-1}) / P *
 *			   TP_k / (TP_k + FP_k)					(average precision)
 *
 * with weighted counts, which are scikit-learn's roc_auc_score and
 * average_precision_score.  Both are NaN when the positives or the
 * negatives weigh nothing; for more than 2 classes they are the mean over
 * the classes where they are defined (one-vs-rest), NaN if there is none.
 *
 * Regression sums over all outputs of all rows, each weighted by its
 * row's weight: MSE and MAE divide by weight_sum x n_outputs, R^2 is
 * 1 - SSE / SST with SST the weighted squares around the weighted label
 * mean, the explained variance is 1 - Var(y - p) / Var(y).  SST and the
 * variances come from running weighted means and sums of squares around
 * them (West's update of Welford's algorithm), not from sums of squares
 * less a squared mean, which cancel catastrophically when the values lie
 * far from 0 and turn a constant label such as 0.1 into a tiny positive
 * variance.  As scikit-learn's force_finite, a constant label gives 1
 * when the numerator is 0 too, else 0.
 *
 * Rows whose label is not valid count in weight_sum (so as wrong) and
 * add a NaN loss, but enter neither the confusion matrix nor the AUCs.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

#define MIN_SCORE_CAPACITY	64

static int
IsClassification(const EstMetrics *m)
{
	return m->head == EST_HEAD_SOFTMAX || m->head == EST_HEAD_SIGMOID;
}

/* Floats of kept scores per row. */
static int
ScoreStride(const EstMetrics *m)
{
	return m->head == EST_HEAD_SOFTMAX ? m->n_outputs : 1;
}

/*
 * EstMetricsInit prepares empty metrics for net's head: the confusion
 * matrix for classification, and no kept scores yet.  keep_scores is
 * ignored for regression.  On failure m is zeroed.
 */
EstStatus
EstMetricsInit(EstMetrics *m, const EstNetwork *net, int keep_scores,
			   char *errmsg)
{
	memset(m, 0, sizeof(*m));
	m->head = net->head;
	m->n_outputs = net->head == EST_HEAD_SIGMOID ? 2 :
		net->sizes[net->n_layers];
	if (m->n_outputs < 1)
	{
		EstSetError(errmsg, "metrics need a network with outputs");
		memset(m, 0, sizeof(*m));
		return EST_EINVAL;
	}
	if (IsClassification(m))
	{
		size_t		k = (size_t) m->n_outputs;

		m->confusion = EstAllocZero(k * k, sizeof(double));
		if (m->confusion == NULL)
		{
			EstSetError(errmsg, "could not allocate a confusion matrix of %d classes",
						m->n_outputs);
			memset(m, 0, sizeof(*m));
			return EST_ENOMEM;
		}
		m->keep_scores = keep_scores ? 1 : 0;
	}
	return EST_OK;
}

/*
 * EstMetricsFree releases the confusion matrix and the kept scores and
 * zeroes m.
 */
void
EstMetricsFree(EstMetrics *m)
{
	EstFree(m->confusion);
	EstFree(m->scores);
	EstFree(m->score_labels);
	EstFree(m->score_weights);
	memset(m, 0, sizeof(*m));
}

/*
 * ReserveScores makes room for extra more kept rows, doubling the
 * capacity (at least MIN_SCORE_CAPACITY) and checking every size for
 * overflow.  On failure m is unchanged.
 */
static EstStatus
ReserveScores(EstMetrics *m, size_t extra, char *errmsg)
{
	size_t		stride = (size_t) ScoreStride(m);
	size_t		needed;
	size_t		cap;
	float	   *scores;
	int32_t    *labels;
	float	   *weights;

	if (extra > ((size_t) -1) - m->n_scores)
		goto toolarge;
	needed = m->n_scores + extra;
	if (needed <= m->cap_scores)
		return EST_OK;
	cap = m->cap_scores < MIN_SCORE_CAPACITY ? MIN_SCORE_CAPACITY :
		m->cap_scores;
	while (cap < needed)
	{
		if (cap > ((size_t) -1) / 2)
		{
			cap = needed;
			break;
		}
		cap *= 2;
	}
	if (cap > ((size_t) -1) / sizeof(float) / stride)
		goto toolarge;
	scores = EstAlloc(cap * stride * sizeof(float));
	labels = EstAlloc(cap * sizeof(int32_t));
	weights = EstAlloc(cap * sizeof(float));
	if (scores == NULL || labels == NULL || weights == NULL)
	{
		EstFree(scores);
		EstFree(labels);
		EstFree(weights);
		EstSetError(errmsg, "could not keep the scores of %zu rows", needed);
		return EST_ENOMEM;
	}
	if (m->n_scores > 0)
	{
		memcpy(scores, m->scores, m->n_scores * stride * sizeof(float));
		memcpy(labels, m->score_labels, m->n_scores * sizeof(int32_t));
		memcpy(weights, m->score_weights, m->n_scores * sizeof(float));
	}
	EstFree(m->scores);
	EstFree(m->score_labels);
	EstFree(m->score_weights);
	m->scores = scores;
	m->score_labels = labels;
	m->score_weights = weights;
	m->cap_scores = cap;
	return EST_OK;

toolarge:
	EstSetError(errmsg, "cannot keep the scores of so many rows");
	return EST_ENOMEM;
}

static double
StableSigmoid(double x)
{
	if (x >= 0.0)
		return 1.0 / (1.0 + exp(-x));
	else
	{
		double		e = exp(x);

		return e / (1.0 + e);
	}
}

/*
 * AddClassRow adds one classification row of logits z to m; for the
 * softmax head, e holds the exponentials of the logits less the largest
 * (EstSoftmaxExps).
 */
static void
AddClassRow(EstMetrics *m, const float *z, const double *e, float label,
			double w)
{
	int			k = m->n_outputs;
	int			c = -1;
	int			predicted;
	double		loss;
	double		p1;
	float	   *kept = NULL;
	int			j;

	if (m->keep_scores)
		kept = m->scores + m->n_scores * (size_t) ScoreStride(m);

	if (m->head == EST_HEAD_SIGMOID)
	{
		double		zz = z[0];

		if (label == 0.0f || label == 1.0f)
			c = (int) label;
		predicted = zz > 0.0 ? 1 : 0;
		p1 = StableSigmoid(zz);
		loss = (zz > 0.0 ? zz : 0.0) - zz * (double) (c < 0 ? 0 : c) +
			log1p(exp(-fabs(zz)));
		if (kept != NULL)
			kept[0] = z[0];
	}
	else
	{
		double		mx;
		double		sum;
		double		lse;

		if (label >= 0.0f && label < (float) k && (float) (int) label == label)
			c = (int) label;
		predicted = 0;
		for (j = 1; j < k; j++)
			if (z[j] > z[predicted])
				predicted = j;
		mx = z[predicted];
		sum = EstSoftmaxSum(e, k);
		lse = mx + log(sum);
		loss = c >= 0 ? lse - (double) z[c] : 0.0;
		p1 = e[k > 1 ? 1 : 0] / sum;
		if (kept != NULL)
			memcpy(kept, z, k * sizeof(float));
	}

	m->weight_sum += w;
	if (kept != NULL)
	{
		m->score_labels[m->n_scores] = c;
		m->score_weights[m->n_scores] = (float) w;
		m->n_scores++;
	}
	if (c < 0)
	{
		m->loss_sum += NAN;
		return;
	}
	m->loss_sum += w * loss;
	m->confusion[(size_t) c * k + predicted] += w;
	m->label_sum += w * c;
	m->pred_sum += w * (k == 2 ? p1 : (double) predicted);
}

/*
 * AddMoment adds value x of weight w to a weighted running mean and sum of
 * squares around it, total being the weight with x (West, 1979).  A
 * constant value keeps a sum of squares of exactly 0.
 */
static void
AddMoment(double *mean, double *m2, double x, double w, double total)
{
	double		delta = x - *mean;

	*mean += delta * (w / total);
	*m2 += w * delta * (x - *mean);
}

/*
 * AddRegressionRow adds one row of outputs p against labels y to m.
 */
static void
AddRegressionRow(EstMetrics *m, const float *p, const float *y, double w)
{
	int			k = m->n_outputs;
	double		sq = 0.0;
	int			j;

	m->weight_sum += w;
	for (j = 0; j < k; j++)
	{
		double		yj = y[j];
		double		pj = m->value_scale != NULL ?
			p[j] * m->value_scale[j] + m->value_shift[j] : p[j];
		double		e = yj - pj;

		sq += e * e;
		m->sq_error_sum += w * e * e;
		m->abs_error_sum += w * fabs(e);
		m->label_sum += w * yj;
		m->pred_sum += w * pj;
		if (w > 0.0)
		{
			m->value_weight += w;
			AddMoment(&m->label_mean, &m->label_m2, yj, w, m->value_weight);
			AddMoment(&m->error_mean, &m->error_m2, e, w, m->value_weight);
		}
	}
	m->loss_sum += w * sq / k;
}

/*
 * EstMetricsAdd adds the n rows of the last forward pass to m.  It makes
 * room for their scores first, so that a failure adds nothing.  With the
 * softmax head it computes the exponentials in ws->exps, the workspace's
 * scratch.
 */
EstStatus
EstMetricsAdd(EstMetrics *m, const EstNetwork *net, const EstWorkspace *ws,
			  const float *y, const float *weights, int n, char *errmsg)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	int			i;

	if (n <= 0)
		return EST_OK;
	if (m->keep_scores)
	{
		EstStatus	status = ReserveScores(m, (size_t) n, errmsg);

		if (status != EST_OK)
			return status;
	}
	if (IsClassification(m) && m->head == EST_HEAD_SOFTMAX)
	{
		int			group = k < EST_EXP_GROUP ? EST_EXP_GROUP / k : 1;
		float		largest[EST_EXP_GROUP];

		if (ws->exps == NULL)
		{
			EstSetError(errmsg, "the workspace is not one of a softmax network");
			return EST_EINVAL;
		}

		/* the exponentials of a group of rows at once, in ws->exps */
		for (int i0 = 0; i0 < n; i0 += group)
		{
			int			i1 = n - i0 < group ? n : i0 + group;

			EstSoftmaxExps(z + (size_t) i0 * k, i1 - i0, k, ws->exps, largest);
			for (i = i0; i < i1; i++)
				AddClassRow(m, z + (size_t) i * k,
							ws->exps + (size_t) (i - i0) * k, y[i],
							weights ? (double) weights[i] : 1.0);
		}
		return EST_OK;
	}
	for (i = 0; i < n; i++)
	{
		double		w = weights ? (double) weights[i] : 1.0;

		if (IsClassification(m))
			AddClassRow(m, z + (size_t) i * k, NULL, y[i], w);
		else
			AddRegressionRow(m, z + (size_t) i * k, y + (size_t) i * k, w);
	}
	return EST_OK;
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

/* ----------------------------------------------------------------
 * Classification
 * ----------------------------------------------------------------
 */

/*
 * EstMetricsAccuracy returns the weighted share of rows whose predicted
 * class is the label, 0 before any weight was added or for regression.
 */
double
EstMetricsAccuracy(const EstMetrics *m)
{
	double		correct = 0.0;
	int			c;

	if (!IsClassification(m) || !(m->weight_sum > 0.0))
		return 0.0;
	for (c = 0; c < m->n_outputs; c++)
		correct += m->confusion[(size_t) c * m->n_outputs + c];
	return correct / m->weight_sum;
}

/*
 * EstMetricsAccuracyBaseline returns the weighted share of the most
 * frequent label: the accuracy of always predicting it.
 */
double
EstMetricsAccuracyBaseline(const EstMetrics *m)
{
	double		best = 0.0;
	int			k = m->n_outputs;
	int			c;
	int			j;

	if (!IsClassification(m) || !(m->weight_sum > 0.0))
		return 0.0;
	for (c = 0; c < k; c++)
	{
		double		row = 0.0;

		for (j = 0; j < k; j++)
			row += m->confusion[(size_t) c * k + j];
		if (row > best)
			best = row;
	}
	return best / m->weight_sum;
}

static double
SafeRatio(double num, double den)
{
	return den > 0.0 ? num / den : 0.0;
}

/*
 * ClassFigures computes class c's one-vs-rest precision, recall and F1
 * and returns whether c occurs as a label or a prediction.
 */
static int
ClassFigures(const EstMetrics *m, int c, double *precision, double *recall,
			 double *f1)
{
	int			k = m->n_outputs;
	double		tp = m->confusion[(size_t) c * k + c];
	double		labelled = 0.0;
	double		predicted = 0.0;
	int			j;

	for (j = 0; j < k; j++)
	{
		labelled += m->confusion[(size_t) c * k + j];
		predicted += m->confusion[(size_t) j * k + c];
	}
	*precision = SafeRatio(tp, predicted);
	*recall = SafeRatio(tp, labelled);
	*f1 = SafeRatio(2.0 * *precision * *recall, *precision + *recall);
	return labelled > 0.0 || predicted > 0.0;
}

/*
 * ClassAverage returns figure (0 precision, 1 recall, 2 F1) of class 1
 * for a binary model, else the macro average.
 */
static double
ClassAverage(const EstMetrics *m, int figure)
{
	double		v[3];
	double		sum = 0.0;
	int			used = 0;
	int			c;

	if (!IsClassification(m))
		return 0.0;
	if (m->n_outputs == 2)
	{
		(void) ClassFigures(m, 1, &v[0], &v[1], &v[2]);
		return v[figure];
	}
	for (c = 0; c < m->n_outputs; c++)
	{
		if (ClassFigures(m, c, &v[0], &v[1], &v[2]))
		{
			sum += v[figure];
			used++;
		}
	}
	return used > 0 ? sum / used : 0.0;
}

double
EstMetricsPrecision(const EstMetrics *m)
{
	return ClassAverage(m, 0);
}

double
EstMetricsRecall(const EstMetrics *m)
{
	return ClassAverage(m, 1);
}

double
EstMetricsF1(const EstMetrics *m)
{
	return ClassAverage(m, 2);
}

/* ----------------------------------------------------------------
 * Exact AUCs from the kept scores
 * ----------------------------------------------------------------
 */
typedef struct ScoredRow
{
	double		score;
	double		weight;
	int			positive;
	size_t		index;
} ScoredRow;

/*
 * CompareScored orders rows by decreasing score, NaN last, and by index
 * among equal scores, so that the order is the same on every machine.
 */
static int
CompareScored(const void *a, const void *b)
{
	const ScoredRow *ra = a;
	const ScoredRow *rb = b;
	int			na = isnan(ra->score);
	int			nb = isnan(rb->score);

	if (na != nb)
		return na - nb;
	if (!na)
	{
		if (ra->score > rb->score)
			return -1;
		if (ra->score < rb->score)
			return 1;
	}
	return ra->index < rb->index ? -1 : (ra->index > rb->index ? 1 : 0);
}

static int
SameScore(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/*
 * SoftmaxNorms returns, for the softmax head, each kept row's largest
 * logit and the sum of the exponentials of its logits less that one (2
 * doubles a row), in an array from EstAlloc; NULL for the sigmoid head,
 * and when it cannot be allocated (*failed then set).
 */
static double *
SoftmaxNorms(const EstMetrics *m, int *failed)
{
	int			k = m->n_outputs;
	double	   *norms;
	size_t		i;

	*failed = 0;
	if (m->head != EST_HEAD_SOFTMAX)
		return NULL;
	norms = EstAlloc((m->n_scores > 0 ? m->n_scores : 1) * 2 * sizeof(double));
	if (norms == NULL)
	{
		*failed = 1;
		return NULL;
	}
	for (i = 0; i < m->n_scores; i++)
	{
		const float *z = m->scores + i * (size_t) k;
		double		mx = z[0];
		double		sum = 0.0;
		int			j;

		for (j = 1; j < k; j++)
			if (z[j] > mx)
				mx = z[j];
		for (j = 0; j < k; j++)
			sum += exp((double) z[j] - mx);
		norms[2 * i] = mx;
		norms[2 * i + 1] = sum;
	}
	return norms;
}

/*
 * RowScore returns the probability of class cls of kept row i, in double
 * precision from its logits; norms come from SoftmaxNorms.
 */
static double
RowScore(const EstMetrics *m, const double *norms, size_t i, int cls)
{
	if (m->head == EST_HEAD_SIGMOID)
	{
		double		p1 = StableSigmoid(m->scores[i]);

		return cls == 1 ? p1 : 1.0 - p1;
	}
	return exp((double) m->scores[i * (size_t) m->n_outputs + cls] -
			   norms[2 * i]) / norms[2 * i + 1];
}

/*
 * SortedRows returns the kept rows with a valid label, scored for class
 * cls against the rest (norms from SoftmaxNorms) and sorted, in an array
 * from EstAlloc (NULL when it cannot be allocated); *count receives their
 * number and *pos and *neg the weights of the positives and the negatives.
 */
static ScoredRow *
SortedRows(const EstMetrics *m, const double *norms, int cls, size_t *count,
		   double *pos, double *neg)
{
	ScoredRow  *rows;
	size_t		n = 0;
	size_t		i;

	*count = 0;
	*pos = 0.0;
	*neg = 0.0;
	rows = EstAllocZero(m->n_scores, sizeof(ScoredRow));
	if (rows == NULL)
		return NULL;
	for (i = 0; i < m->n_scores; i++)
	{
		int			label = m->score_labels[i];
		double		score;

		if (label < 0)
			continue;
		score = RowScore(m, norms, i, cls);
		rows[n].score = score;
		rows[n].weight = m->score_weights[i];
		rows[n].positive = (label == cls);
		rows[n].index = i;
		if (rows[n].positive)
			*pos += rows[n].weight;
		else
			*neg += rows[n].weight;
		n++;
	}
	if (n > 1)
		qsort(rows, n, sizeof(ScoredRow), CompareScored);
	*count = n;
	return rows;
}

/*
 * ClassAuc returns the ROC AUC (pr == 0) or the average precision
 * (pr == 1) of class cls against the rest, NaN when undefined.
 */
static double
ClassAuc(const EstMetrics *m, const double *norms, int cls, int pr)
{
	ScoredRow  *rows;
	size_t		n;
	double		pos;
	double		neg;
	double		tp = 0.0;
	double		fp = 0.0;
	double		area = 0.0;
	size_t		i;

	rows = SortedRows(m, norms, cls, &n, &pos, &neg);
	if (rows == NULL)
		return NAN;
	if (!(pos > 0.0) || !(neg > 0.0))
	{
		EstFree(rows);
		return NAN;
	}
	i = 0;
	while (i < n)
	{
		double		tp_prev = tp;
		double		fp_prev = fp;
		size_t		start = i;

		while (i < n && SameScore(rows[i].score, rows[start].score))
		{
			if (rows[i].positive)
				tp += rows[i].weight;
			else
				fp += rows[i].weight;
			i++;
		}
		if (pr)
		{
			if (tp + fp > 0.0)
				area += (tp - tp_prev) * (tp / (tp + fp));
		}
		else
			area += (fp - fp_prev) * (tp + tp_prev) / 2.0;
	}
	EstFree(rows);
	return pr ? area / pos : area / (pos * neg);
}

/*
 * MacroAuc returns class 1's figure for a binary model, else the mean of
 * the classes' one-vs-rest figures where they are defined.
 */
static double
MacroAuc(const EstMetrics *m, int pr)
{
	double		sum = 0.0;
	int			used = 0;
	double	   *norms;
	int			failed;
	int			c;

	if (!IsClassification(m) || !m->keep_scores || m->n_scores == 0)
		return NAN;
	norms = SoftmaxNorms(m, &failed);
	if (failed)
		return NAN;
	if (m->n_outputs == 2)
	{
		double		v = ClassAuc(m, norms, 1, pr);

		EstFree(norms);
		return v;
	}
	for (c = 0; c < m->n_outputs; c++)
	{
		double		v = ClassAuc(m, norms, c, pr);

		if (!isnan(v))
		{
			sum += v;
			used++;
		}
	}
	EstFree(norms);
	return used > 0 ? sum / used : NAN;
}

double
EstMetricsAuc(const EstMetrics *m)
{
	return MacroAuc(m, 0);
}

double
EstMetricsAucPr(const EstMetrics *m)
{
	return MacroAuc(m, 1);
}

/*
 * EstMetricsRocCurve returns every point of the ROC curve of class cls
 * against the rest, one per distinct score in decreasing order after the
 * point (+inf, 0, 0); unlike scikit-learn's roc_curve it drops no
 * collinear point.  A rate whose class weighs nothing is NaN.
 */
EstStatus
EstMetricsRocCurve(const EstMetrics *m, int cls, double **thresholds,
				   double **fpr, double **tpr, size_t *n_points,
				   char *errmsg)
{
	ScoredRow  *rows;
	double	   *norms;
	int			failed;
	size_t		n;
	double		pos;
	double		neg;
	double		tp = 0.0;
	double		fp = 0.0;
	size_t		groups = 0;
	size_t		point;
	size_t		i;

	*thresholds = NULL;
	*fpr = NULL;
	*tpr = NULL;
	*n_points = 0;
	if (!IsClassification(m) || !m->keep_scores)
	{
		EstSetError(errmsg, "ROC curve needs the scores of a classifier");
		return EST_EINVAL;
	}
	if (cls < 0 || cls >= m->n_outputs)
	{
		EstSetError(errmsg, "class %d is out of range for %d classes", cls,
					m->n_outputs);
		return EST_EINVAL;
	}
	norms = SoftmaxNorms(m, &failed);
	if (failed)
		goto nomem;
	rows = SortedRows(m, norms, cls, &n, &pos, &neg);
	EstFree(norms);
	if (rows == NULL)
		goto nomem;
	for (i = 0; i < n; i++)
		if (i == 0 || !SameScore(rows[i].score, rows[i - 1].score))
			groups++;
	*thresholds = EstAllocZero(groups + 1, sizeof(double));
	*fpr = EstAllocZero(groups + 1, sizeof(double));
	*tpr = EstAllocZero(groups + 1, sizeof(double));
	if (*thresholds == NULL || *fpr == NULL || *tpr == NULL)
	{
		EstFree(rows);
		EstFree(*thresholds);
		EstFree(*fpr);
		EstFree(*tpr);
		*thresholds = NULL;
		*fpr = NULL;
		*tpr = NULL;
		goto nomem;
	}
	(*thresholds)[0] = INFINITY;
	(*fpr)[0] = 0.0;
	(*tpr)[0] = 0.0;
	point = 0;
	i = 0;
	while (i < n)
	{
		size_t		start = i;

		while (i < n && SameScore(rows[i].score, rows[start].score))
		{
			if (rows[i].positive)
				tp += rows[i].weight;
			else
				fp += rows[i].weight;
			i++;
		}
		point++;
		(*thresholds)[point] = rows[start].score;
		(*fpr)[point] = neg > 0.0 ? fp / neg : NAN;
		(*tpr)[point] = pos > 0.0 ? tp / pos : NAN;
	}
	EstFree(rows);
	*n_points = groups + 1;
	return EST_OK;

nomem:
	EstSetError(errmsg, "could not allocate the ROC curve of %zu rows",
				m->n_scores);
	return EST_ENOMEM;
}

/* ----------------------------------------------------------------
 * Means and regression
 * ----------------------------------------------------------------
 */

/* Total weight of the values behind the means: rows x outputs. */
static double
ValueWeight(const EstMetrics *m)
{
	if (IsClassification(m))
		return m->weight_sum;
	return m->weight_sum * m->n_outputs;
}

double
EstMetricsLabelMean(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	return w > 0.0 ? m->label_sum / w : NAN;
}

double
EstMetricsPredictionMean(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	return w > 0.0 ? m->pred_sum / w : NAN;
}

double
EstMetricsMse(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	if (IsClassification(m) || !(w > 0.0))
		return 0.0;
	return m->sq_error_sum / w;
}

double
EstMetricsMae(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	if (IsClassification(m) || !(w > 0.0))
		return 0.0;
	return m->abs_error_sum / w;
}

/*
 * ForceFinite returns 1 - num / den, or, when den is not positive, 1 if
 * num is 0 too and else 0 (scikit-learn's force_finite).
 */
static double
ForceFinite(double num, double den)
{
	if (den > 0.0)
		return 1.0 - num / den;
	return num > 0.0 ? 0.0 : 1.0;
}

double
EstMetricsR2(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	if (IsClassification(m) || !(w > 0.0))
		return NAN;
	return ForceFinite(m->sq_error_sum, m->label_m2);
}

double
EstMetricsExplainedVariance(const EstMetrics *m)
{
	double		w = ValueWeight(m);

	if (IsClassification(m) || !(w > 0.0))
		return NAN;
	/* Var(y - p) / Var(y), both over the weight w */
	return ForceFinite(m->error_m2, m->label_m2);
}
