/*-------------------------------------------------------------------------
 *
 * test_metrics.c
 *	  Tests of the evaluation metrics against hand-counted fixtures.
 *
 * Each fixture is scored by a network whose logits are its inputs, so
 * that the logits can be written down.  The expected figures are counted
 * by hand in the comments, following scikit-learn's definitions
 * (roc_auc_score, average_precision_score, precision_recall_fscore_support
 * with average "binary" or "macro" and zero_division=0, r2_score and
 * explained_variance_score on the flattened outputs).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define NEAR(a, b)	(fabs((double) (a) - (double) (b)) < 1e-9)

/*
 * IdentityNet makes a network without hidden layer whose outputs are its
 * inputs.
 */
static void
IdentityNet(EstNetwork *net, int k, EstHead head)
{
	char		err[EST_ERRMSG_LEN];
	int			i;

	CHECK(UnitNetworkInit(net, k, NULL, 0, k, EST_ACT_LINEAR, head, NULL,
						  err) == EST_OK);
	for (i = 0; i < k; i++)
		net->params[i * k + i] = 1.0f;
}

/*
 * Score adds n rows of logits X with labels y (and weights) to m.
 */
static void
Score(EstMetrics *m, EstNetwork *net, const float *X, const float *y,
	  const float *w, int n)
{
	EstWorkspace ws;
	char		err[EST_ERRMSG_LEN];

	CHECK(EstWorkspaceInit(&ws, net, n, err) == EST_OK);
	EstNetworkForward(net, &ws, X, n);
	CHECKF(EstMetricsAdd(m, net, &ws, y, w, n, err) == EST_OK, "%s", err);
	EstWorkspaceFree(&ws);
}

static double
Sig(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

/*
 * The binary fixture, sigmoid head, logits and labels:
 *	 2:1  1:1  1:0  0:1  -1:0  -1:1  -2:0  -2:0
 * so P = 4, N = 4.  Predicted class 1 when the logit is positive:
 * TP 2 (2, 1), FP 1 (1), FN 2 (0, -1), TN 3: confusion
 * [[3, 1], [2, 2]], accuracy 5/8, baseline 4/8, precision 2/3, recall
 * 1/2, F1 2 (2/3)(1/2) / (7/6) = 4/7.
 *
 * Thresholds in decreasing order, with (TP, FP): 2 (1, 0), 1 (2, 1),
 * 0 (3, 1), -1 (4, 2), -2 (4, 4): the ROC curve is (0, 0), (0, .25),
 * (.25, .5), (.25, .75), (.5, 1), (1, 1), whose trapezoids give
 * 0 + .25 * .375 + 0 + .25 * .875 + .5 = 0.8125 (= 13/16 counting the
 * pairs, ties as one half).  Average precision: sum of recall steps times
 * precision, .25 * 1 + .25 * 2/3 + .25 * 3/4 + .25 * 4/6 = 37/48.
 *
 * Weighted with the negative of logit 1 weighing 3 (N = 6): pairs give
 * (6 + 1.5 + 3 + 3 + 2.5 - 0.5 ...) -- counted: positive 2 beats all 6,
 * positive 1 ties 3 (1.5) and beats 3, positive 0 beats 3, positive -1
 * ties 1 (.5) and beats 2: 16 / 24 = 2/3; average precision
 * .25 * 1 + .25 * 2/5 + .25 * 3/6 + .25 * 4/8 = 0.6.
 */
void
TestMetricsBinary(void)
{
	static const float X[8] = {2, 1, 1, 0, -1, -1, -2, -2};
	static const float y[8] = {1, 1, 0, 1, 0, 1, 0, 0};
	static const float w[8] = {1, 1, 3, 1, 1, 1, 1, 1};
	static const double roc_fpr[6] = {0, 0, .25, .25, .5, 1};
	static const double roc_tpr[6] = {0, .25, .5, .75, 1, 1};
	EstNetwork	net;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	double	   *thr;
	double	   *fpr;
	double	   *tpr;
	size_t		np;
	double		loss = 0.0;
	double		pmean = 0.0;
	int			i;

	IdentityNet(&net, 1, EST_HEAD_SIGMOID);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	CHECK(m.n_outputs == 2 && m.keep_scores == 1);
	CHECK(isnan(EstMetricsAuc(&m)) && isnan(EstMetricsAucPr(&m)));
	CHECK(EstMetricsAccuracy(&m) == 0.0 && EstMetricsPrecision(&m) == 0.0);
	/* two batches */
	Score(&m, &net, X, y, NULL, 5);
	Score(&m, &net, X + 5, y + 5, NULL, 3);
	CHECK(m.weight_sum == 8 && m.n_scores == 8);
	CHECK(m.confusion[0] == 3 && m.confusion[1] == 1 &&
		  m.confusion[2] == 2 && m.confusion[3] == 2);
	CHECK(NEAR(EstMetricsAccuracy(&m), 5.0 / 8));
	CHECK(NEAR(EstMetricsAccuracyBaseline(&m), 0.5));
	CHECK(NEAR(EstMetricsPrecision(&m), 2.0 / 3));
	CHECK(NEAR(EstMetricsRecall(&m), 0.5));
	CHECK(NEAR(EstMetricsF1(&m), 4.0 / 7));
	CHECKF(NEAR(EstMetricsAuc(&m), 0.8125), "auc %.12g", EstMetricsAuc(&m));
	CHECKF(NEAR(EstMetricsAucPr(&m), 37.0 / 48), "auc_pr %.12g",
		   EstMetricsAucPr(&m));
	for (i = 0; i < 8; i++)
	{
		double		z = X[i];

		loss += (z > 0 ? z : 0) - z * y[i] + log1p(exp(-fabs(z)));
		pmean += Sig(z);
	}
	CHECK(fabs(EstMetricsMeanLoss(&m) - loss / 8) < 1e-12);
	CHECK(NEAR(EstMetricsLabelMean(&m), 0.5));
	CHECK(fabs(EstMetricsPredictionMean(&m) - pmean / 8) < 1e-7);

	/* the ROC curve of class 1 */
	CHECK(EstMetricsRocCurve(&m, 1, &thr, &fpr, &tpr, &np, err) == EST_OK);
	CHECK(np == 6);
	if (np == 6)
	{
		CHECK(isinf(thr[0]) && thr[0] > 0);
		CHECK(fabs(thr[1] - Sig(2)) < 1e-7 && fabs(thr[3] - 0.5) < 1e-12 &&
			  fabs(thr[5] - Sig(-2)) < 1e-7);
		for (i = 0; i < 6; i++)
			CHECKF(NEAR(fpr[i], roc_fpr[i]) && NEAR(tpr[i], roc_tpr[i]),
				   "point %d: (%g, %g)", i, fpr[i], tpr[i]);
	}
	EstFree(thr);
	EstFree(fpr);
	EstFree(tpr);
	/*
	 * Class 0 against the rest, scores 1 - p: thresholds at logits -2
	 * (TP 2, FP 0), -1 (3, 1), 0 (3, 2), 1 (4, 3), 2 (4, 4).
	 */
	CHECK(EstMetricsRocCurve(&m, 0, &thr, &fpr, &tpr, &np, err) == EST_OK);
	CHECK(np == 6 && NEAR(fpr[1], 0.0) && NEAR(tpr[1], 0.5) &&
		  NEAR(fpr[2], 0.25) && NEAR(tpr[2], 0.75) && NEAR(fpr[3], 0.5) &&
		  NEAR(fpr[4], 0.75) && NEAR(tpr[4], 1.0) &&
		  NEAR(fpr[5], 1.0) && NEAR(tpr[5], 1.0));
	CHECK(np == 6 && fabs(thr[1] - (1 - Sig(-2))) < 1e-7);
	EstFree(thr);
	EstFree(fpr);
	EstFree(tpr);
	CHECK(EstMetricsRocCurve(&m, 2, &thr, &fpr, &tpr, &np, err) == EST_EINVAL);
	CHECK(thr == NULL && np == 0);
	CHECK(EstMetricsRocCurve(&m, -1, &thr, &fpr, &tpr, &np, err) == EST_EINVAL);
	EstMetricsFree(&m);
	CHECK(m.confusion == NULL && m.scores == NULL);

	/* weighted */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	Score(&m, &net, X, y, w, 8);
	CHECK(m.weight_sum == 10);
	CHECKF(NEAR(EstMetricsAuc(&m), 2.0 / 3), "auc %.12g", EstMetricsAuc(&m));
	CHECKF(NEAR(EstMetricsAucPr(&m), 0.6), "auc_pr %.12g",
		   EstMetricsAucPr(&m));
	CHECK(NEAR(EstMetricsPrecision(&m), 2.0 / 5));
	CHECK(NEAR(EstMetricsAccuracyBaseline(&m), 6.0 / 10));
	EstMetricsFree(&m);

	/* the fixture 20 times over: kept scores grow past their capacity */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	for (i = 0; i < 20; i++)
		Score(&m, &net, X, y, NULL, 8);
	CHECK(m.n_scores == 160 && m.cap_scores >= 160);
	CHECK(NEAR(EstMetricsAuc(&m), 0.8125));
	CHECK(NEAR(EstMetricsAucPr(&m), 37.0 / 48));
	CHECK(NEAR(EstMetricsAccuracy(&m), 5.0 / 8));
	EstMetricsFree(&m);

	/* without kept scores there is no AUC, and no curve */
	CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
	Score(&m, &net, X, y, NULL, 8);
	CHECK(m.scores == NULL);
	CHECK(isnan(EstMetricsAuc(&m)) && isnan(EstMetricsAucPr(&m)));
	CHECK(NEAR(EstMetricsRecall(&m), 0.5));
	CHECK(EstMetricsRocCurve(&m, 1, &thr, &fpr, &tpr, &np, err) == EST_EINVAL);
	EstMetricsFree(&m);

	/* one class only: AUCs are undefined; 0/0 precision is 0 */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	Score(&m, &net, X + 6, y + 6, NULL, 2);
	CHECK(isnan(EstMetricsAuc(&m)) && isnan(EstMetricsAucPr(&m)));
	CHECK(EstMetricsPrecision(&m) == 0.0 && EstMetricsRecall(&m) == 0.0 &&
		  EstMetricsF1(&m) == 0.0);
	CHECK(NEAR(EstMetricsAccuracy(&m), 1.0));
	EstMetricsFree(&m);

	/*
	 * confident rows: probabilities 1 - 9e-14, 1 - 1e-11 and 1 - 2e-9 are
	 * all 1 in float32, which once made them one threshold (AUC 0.5)
	 */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	{
		float		sure_x[3] = {30, 25, 20};
		float		sure_y[3] = {1, 1, 0};

		Score(&m, &net, sure_x, sure_y, NULL, 3);
		CHECKF(EstMetricsAuc(&m) == 1.0, "auc %.12g", EstMetricsAuc(&m));
		CHECKF(EstMetricsAucPr(&m) == 1.0, "auc_pr %.12g",
			   EstMetricsAucPr(&m));
		CHECK(EstMetricsRocCurve(&m, 1, &thr, &fpr, &tpr, &np, err) == EST_OK);
		CHECKF(np == 4, "%zu points", np);
		if (np == 4)
			CHECK(thr[1] > thr[2] && thr[2] > thr[3] && thr[3] < 1.0 &&
				  tpr[2] == 1.0 && fpr[2] == 0.0);
		EstFree(thr);
		EstFree(fpr);
		EstFree(tpr);
	}
	EstMetricsFree(&m);

	/* an invalid label counts as wrong, with a NaN loss */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	{
		float		bad_y[2] = {1, 0.5f};

		Score(&m, &net, X, bad_y, NULL, 2);
		CHECK(m.weight_sum == 2 && isnan(EstMetricsMeanLoss(&m)));
		CHECK(NEAR(EstMetricsAccuracy(&m), 0.5));
		CHECK(m.score_labels[1] == -1);
	}
	EstMetricsFree(&m);
	EstNetworkFree(&net);
}

/*
 * Growing the kept scores may fail: EST_ENOMEM, and m is as before.
 */
void
TestMetricsOutOfMemory(void)
{
	static const float X[4] = {1, -1, 2, -2};
	static const float y[4] = {1, 0, 1, 0};
	EstNetwork	net;
	EstWorkspace ws;
	EstMetrics	m;
	EstMetrics	before;
	char		err[EST_ERRMSG_LEN];

	IdentityNet(&net, 1, EST_HEAD_SIGMOID);
	CHECK(EstWorkspaceInit(&ws, &net, 4, err) == EST_OK);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	EstNetworkForward(&net, &ws, X, 4);
	memcpy(&before, &m, sizeof(m));
	unit_alloc_budget = 1;
	CHECK(EstMetricsAdd(&m, &net, &ws, y, NULL, 4, err) == EST_ENOMEM);
	unit_alloc_budget = -1;
	CHECK(memcmp(&m, &before, sizeof(m)) == 0);
	CHECK(EstMetricsAdd(&m, &net, &ws, y, NULL, 4, err) == EST_OK);
	CHECK(NEAR(EstMetricsAuc(&m), 1.0));
	EstMetricsFree(&m);
	EstWorkspaceFree(&ws);
	EstNetworkFree(&net);
}

/*
 * Three classes, softmax head, logits and labels:
 *	 r0 (2, 0, 0):0  r1 (0, 2, 0):1  r2 (0, 0, 2):2
 *	 r3 (1, 2, 0):0  r4 (0, 1, 2):1  r5 (3, 0, 1):0
 * predicted 0, 1, 2, 1, 2, 0: confusion [[2, 1, 0], [0, 1, 1], [0, 0, 1]],
 * accuracy 4/6, baseline 3/6, label mean 4/6, mean predicted class 1.
 * Per class (precision, recall, F1): 0 (1, 2/3, 0.8), 1 (1/2, 1/2, 1/2),
 * 2 (1/2, 1, 2/3); macro 2/3, 13/18, 59/90.
 *
 * One-vs-rest AUCs from the softmax probabilities: class 0's positives
 * r5 (.844), r0 (.787), r3 (.245) rank above every negative: 1, AP 1.
 * Class 1: r1 (.787, +), r3 (.665, -), r4 (.245, +), then the negatives
 * r0 = r2 (.107) and r5 (.042): pairs 4 + 3 of 8, AUC 7/8; AP .5 * 1 +
 * .5 * 2/3 = 5/6.  Class 2: its one positive r2 ranks first: 1, AP 1.
 * Macro: AUC (1 + 7/8 + 1) / 3 = 23/24, AP (1 + 5/6 + 1) / 3 = 17/18.
 */
void
TestMetricsMultiClass(void)
{
	static const float X[18] = {
		2, 0, 0, 0, 2, 0, 0, 0, 2,
		1, 2, 0, 0, 1, 2, 3, 0, 1
	};
	static const float y[6] = {0, 1, 2, 0, 1, 0};
	static const double confusion[9] = {2, 1, 0, 0, 1, 1, 0, 0, 1};
	EstNetwork	net;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];
	double	   *thr;
	double	   *fpr;
	double	   *tpr;
	size_t		np;
	int			i;

	IdentityNet(&net, 3, EST_HEAD_SOFTMAX);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	CHECK(m.n_outputs == 3);
	Score(&m, &net, X, y, NULL, 6);
	for (i = 0; i < 9; i++)
		CHECKF(m.confusion[i] == confusion[i], "cell %d: %g", i,
			   m.confusion[i]);
	CHECK(NEAR(EstMetricsAccuracy(&m), 4.0 / 6));
	CHECK(NEAR(EstMetricsAccuracyBaseline(&m), 0.5));
	CHECK(NEAR(EstMetricsLabelMean(&m), 4.0 / 6));
	CHECK(NEAR(EstMetricsPredictionMean(&m), 1.0));
	CHECKF(NEAR(EstMetricsPrecision(&m), 2.0 / 3), "precision %.12g",
		   EstMetricsPrecision(&m));
	CHECKF(NEAR(EstMetricsRecall(&m), 13.0 / 18), "recall %.12g",
		   EstMetricsRecall(&m));
	CHECKF(NEAR(EstMetricsF1(&m), 59.0 / 90), "f1 %.12g", EstMetricsF1(&m));
	CHECKF(NEAR(EstMetricsAuc(&m), 23.0 / 24), "auc %.12g",
		   EstMetricsAuc(&m));
	CHECKF(NEAR(EstMetricsAucPr(&m), 17.0 / 18), "auc_pr %.12g",
		   EstMetricsAucPr(&m));
	/* the kept scores are the logits, not rounded probabilities */
	CHECK(m.scores[0] == X[0] && m.scores[1] == X[1] && m.scores[2] == X[2]);
	EstMetricsFree(&m);

	/*
	 * confident rows of class 0 (probabilities 1 - 2e-13, 1 - 3e-11 and
	 * 1 - 4e-9, all 1 in float32): class 0's AUC is 1, class 1's too
	 */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	{
		float		sure_x[9] = {30, 0, 0, 25, 0, 0, 20, 0, 0};
		float		sure_y[3] = {0, 0, 1};

		Score(&m, &net, sure_x, sure_y, NULL, 3);
		CHECKF(EstMetricsAuc(&m) == 1.0, "auc %.12g", EstMetricsAuc(&m));
		CHECKF(EstMetricsAucPr(&m) == 1.0, "auc_pr %.12g",
			   EstMetricsAucPr(&m));
	}
	EstMetricsFree(&m);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	Score(&m, &net, X, y, NULL, 6);

	/* class 1's curve: (0,0) (0,.5) (.25,.5) (.25,1) (.75,1) (1,1) */
	CHECK(EstMetricsRocCurve(&m, 1, &thr, &fpr, &tpr, &np, err) == EST_OK);
	/* r0 and r2 tie unless rounding splits them: 6 or 7 points */
	CHECKF(np == 6 || np == 7, "%zu points", np);
	if (np == 6 || np == 7)
		CHECK(NEAR(fpr[1], 0) && NEAR(tpr[1], .5) && NEAR(fpr[2], .25) &&
			  NEAR(tpr[2], .5) && NEAR(fpr[3], .25) && NEAR(tpr[3], 1) &&
			  NEAR(fpr[np - 2], .75) && NEAR(fpr[np - 1], 1) &&
			  NEAR(tpr[np - 1], 1));
	EstFree(thr);
	EstFree(fpr);
	EstFree(tpr);
	CHECK(EstMetricsRocCurve(&m, 3, &thr, &fpr, &tpr, &np, err) == EST_EINVAL);
	EstMetricsFree(&m);

	/*
	 * A class that is neither a label nor a prediction does not dilute
	 * the macro average: rows r0 and r1 only give precision and recall 1
	 * for classes 0 and 1 and leave class 2 out.  Class 2's AUC is
	 * undefined (no positive) and left out too.
	 */
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	Score(&m, &net, X, y, NULL, 2);
	CHECK(NEAR(EstMetricsPrecision(&m), 1.0) && NEAR(EstMetricsF1(&m), 1.0));
	CHECK(NEAR(EstMetricsAuc(&m), 1.0) && NEAR(EstMetricsAucPr(&m), 1.0));
	EstMetricsFree(&m);

	/* two softmax classes are binary: class 1 is the positive one */
	EstNetworkFree(&net);
	IdentityNet(&net, 2, EST_HEAD_SOFTMAX);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	{
		/* logits (0, z) give p1 = sigmoid(z): the binary fixture */
		static const float Xb[16] = {
			0, 2, 0, 1, 0, 1, 0, 0, 0, -1, 0, -1, 0, -2, 0, -2
		};
		static const float yb[8] = {1, 1, 0, 1, 0, 1, 0, 0};

		Score(&m, &net, Xb, yb, NULL, 8);
	}
	CHECK(NEAR(EstMetricsAuc(&m), 0.8125));
	CHECK(NEAR(EstMetricsAucPr(&m), 37.0 / 48));
	/* logit tie (0, 0) predicts class 0, like the sigmoid's logit 0 */
	CHECK(NEAR(EstMetricsPrecision(&m), 2.0 / 3) &&
		  NEAR(EstMetricsRecall(&m), 0.5));
	EstMetricsFree(&m);
	EstNetworkFree(&net);
}

/*
 * Regression over two outputs: predictions (1, 2), (3, 3), (0, -1)
 * against labels (0, 4), (3, 2), (1, -1).  Flattened: errors y - p =
 * -1, 2, 0, -1, 1, 0; SSE 7, MSE 7/6, MAE 5/6; label mean 9/6 = 1.5,
 * SST 17.5, R^2 1 - 7/17.5 = 0.6; error mean 1/6, Var(e) = 7/6 - 1/36 =
 * 41/36, Var(y) = 17.5/6, explained variance 1 - 246/630 = 0.6095238...;
 * prediction mean 8/6.  With row weights (1, 2, 1): weight 8, SSE 8,
 * MSE 1, label mean 14/8, SST 19.5, R^2 1 - 8/19.5.
 */
void
TestMetricsRegression(void)
{
	static const float X[6] = {1, 2, 3, 3, 0, -1};
	static const float y[6] = {0, 4, 3, 2, 1, -1};
	static const float w[3] = {1, 2, 1};
	static const float c[4] = {2, 2, 2, 2};
	static const float c2[4] = {2, 2, 2, 3};
	EstNetwork	net;
	EstMetrics	m;
	char		err[EST_ERRMSG_LEN];

	IdentityNet(&net, 2, EST_HEAD_SQUARED);
	CHECK(EstMetricsInit(&m, &net, 1, err) == EST_OK);
	CHECK(m.keep_scores == 0 && m.confusion == NULL);
	CHECK(isnan(EstMetricsR2(&m)) && EstMetricsMse(&m) == 0.0);
	Score(&m, &net, X, y, NULL, 3);
	CHECK(NEAR(EstMetricsMse(&m), 7.0 / 6));
	CHECK(NEAR(EstMetricsMae(&m), 5.0 / 6));
	CHECK(NEAR(EstMetricsMeanLoss(&m), 7.0 / 6));
	CHECKF(NEAR(EstMetricsR2(&m), 0.6), "r2 %.12g", EstMetricsR2(&m));
	CHECKF(NEAR(EstMetricsExplainedVariance(&m), 1.0 - 246.0 / 630),
		   "explained variance %.12g", EstMetricsExplainedVariance(&m));
	CHECK(NEAR(EstMetricsLabelMean(&m), 1.5));
	CHECK(NEAR(EstMetricsPredictionMean(&m), 8.0 / 6));
	/* classification metrics mean nothing here */
	CHECK(EstMetricsAccuracy(&m) == 0.0 && isnan(EstMetricsAuc(&m)));
	EstMetricsFree(&m);

	CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
	Score(&m, &net, X, y, w, 1);
	Score(&m, &net, X + 2, y + 2, w + 1, 2);
	CHECK(m.weight_sum == 4);
	CHECK(NEAR(EstMetricsMse(&m), 1.0));
	CHECK(NEAR(EstMetricsLabelMean(&m), 14.0 / 8));
	CHECKF(NEAR(EstMetricsR2(&m), 1.0 - 8 / 19.5), "r2 %.12g",
		   EstMetricsR2(&m));
	EstMetricsFree(&m);

	/* a constant label: 1 when predicted exactly, else 0 */
	CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
	Score(&m, &net, c, c, NULL, 2);
	CHECK(EstMetricsR2(&m) == 1.0 && EstMetricsExplainedVariance(&m) == 1.0);
	Score(&m, &net, c2, c, NULL, 2);
	CHECK(EstMetricsR2(&m) == 0.0);
	EstMetricsFree(&m);

	/*
	 * a constant label that no binary fraction holds, and labels far from
	 * 0: sums of squares less a squared mean once gave R^2 near -1e20
	 */
	{
		float		d[64];
		float		d2[64];
		float		far_x[6] = {1e7f + 1, 1e7f + 2, 1e7f + 3, 1e7f + 3,
		1e7f, 1e7f - 1};
		float		far_y[6] = {1e7f, 1e7f + 4, 1e7f + 3, 1e7f + 2, 1e7f + 1,
		1e7f - 1};

		for (int i = 0; i < 64; i++)
			d[i] = d2[i] = 0.1f;
		d2[63] = 0.2f;
		CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
		Score(&m, &net, d, d, NULL, 32);
		CHECKF(EstMetricsR2(&m) == 1.0, "r2 %.12g", EstMetricsR2(&m));
		CHECK(EstMetricsExplainedVariance(&m) == 1.0);
		Score(&m, &net, d2, d, NULL, 32);
		CHECKF(EstMetricsR2(&m) == 0.0, "r2 %.12g", EstMetricsR2(&m));
		CHECKF(EstMetricsExplainedVariance(&m) == 0.0,
			   "explained variance %.12g", EstMetricsExplainedVariance(&m));
		EstMetricsFree(&m);

		/* the first case shifted by 1e7: the same figures */
		CHECK(EstMetricsInit(&m, &net, 0, err) == EST_OK);
		Score(&m, &net, far_x, far_y, NULL, 3);
		CHECKF(NEAR(EstMetricsR2(&m), 0.6), "r2 %.12g", EstMetricsR2(&m));
		CHECKF(NEAR(EstMetricsExplainedVariance(&m), 1.0 - 246.0 / 630),
			   "explained variance %.12g",
			   EstMetricsExplainedVariance(&m));
		EstMetricsFree(&m);
	}
	EstNetworkFree(&net);
}
