/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  est_evaluate, est_confusion_matrix and est_roc_curve: the EVAL mode
 *	  of an estimator, and the scoring that training's evaluations share.
 *
 * A labelled source goes through the latest checkpoint in blocks, with the
 * feature transform stored with the model; regressors' outputs go back to
 * the units of the label before they are scored.  The metrics carry
 * TensorFlow's keys; every est_evaluate also records them in
 * estimator.evaluations with the checkpoint they scored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "estimator.h"

#define EST_EVAL_BLOCK	1000

PG_FUNCTION_INFO_V1(est_evaluate);
PG_FUNCTION_INFO_V1(est_confusion_matrix);
PG_FUNCTION_INFO_V1(est_roc_curve);

static const char *const classifier_metrics[] = {
	"accuracy", "accuracy_baseline", "auc", "auc_precision_recall",
	"average_loss", "label/mean", "loss", "precision", "prediction/mean",
	"recall", "f1", NULL
};

static const char *const regressor_metrics[] = {
	"average_loss", "label/mean", "loss", "prediction/mean", "mse", "rmse",
	"mae", "r2", "explained_variance", NULL
};

static const char *const *
MetricKeys(const EstModelDef *def)
{
	return EST_IS_REGRESSOR(def->type) ? regressor_metrics : classifier_metrics;
}

/* EstMetricKnown tells whether a model's evaluations have that key. */
bool
EstMetricKnown(const EstModelDef *def, const char *key)
{
	const char *const *keys = MetricKeys(def);

	for (int i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], key) == 0)
			return true;
	return false;
}

static double
MetricValue(const EstMetrics *m, const char *key)
{
	if (strcmp(key, "accuracy") == 0)
		return EstMetricsAccuracy(m);
	if (strcmp(key, "accuracy_baseline") == 0)
		return EstMetricsAccuracyBaseline(m);
	if (strcmp(key, "auc") == 0)
		return EstMetricsAuc(m);
	if (strcmp(key, "auc_precision_recall") == 0)
		return EstMetricsAucPr(m);
	if (strcmp(key, "average_loss") == 0 || strcmp(key, "loss") == 0)
		return EstMetricsMeanLoss(m);
	if (strcmp(key, "label/mean") == 0)
		return EstMetricsLabelMean(m);
	if (strcmp(key, "prediction/mean") == 0)
		return EstMetricsPredictionMean(m);
	if (strcmp(key, "precision") == 0)
		return EstMetricsPrecision(m);
	if (strcmp(key, "recall") == 0)
		return EstMetricsRecall(m);
	if (strcmp(key, "f1") == 0)
		return EstMetricsF1(m);
	if (strcmp(key, "mse") == 0)
		return EstMetricsMse(m);
	if (strcmp(key, "rmse") == 0)
		return sqrt(EstMetricsMse(m));
	if (strcmp(key, "mae") == 0)
		return EstMetricsMae(m);
	if (strcmp(key, "r2") == 0)
		return EstMetricsR2(m);
	if (strcmp(key, "explained_variance") == 0)
		return EstMetricsExplainedVariance(m);
	elog(ERROR, "unrecognized metric: %s", key);
	return 0;					/* keep compiler quiet */
}

/*
 * CheckConfusionMemory refuses a classifier whose confusion matrix (8
 * bytes for each pair of classes) would not fit in estimator.max_memory.
 */
static void
CheckConfusionMemory(const EstModelDef *def)
{
	EstCheckMemory(mul_size(mul_size(def->n_classes, def->n_classes),
							sizeof(double)),
				   "the confusion matrix");
}

/*
 * LimitScores stops keeping every row's scores (for the exact AUCs) when
 * they would outgrow estimator.max_memory: the AUCs are then NULL, and the
 * other metrics stream on.
 */
static void
LimitScores(EstMetrics *m, int rows)
{
	int			per_score = m->head == EST_HEAD_SOFTMAX ? m->n_outputs : 1;
	Size		per_row = per_score * sizeof(float) + sizeof(int32) + sizeof(float);

	if (mul_size(m->n_scores + rows, per_row) <= (Size) estimator_max_memory * 1024)
		return;
	ereport(NOTICE,
			(errmsg("the AUCs are not computed: the scores of more than %zu rows exceed estimator.max_memory",
					m->n_scores)));
	EstFree(m->scores);
	EstFree(m->score_labels);
	EstFree(m->score_weights);
	m->scores = NULL;
	m->score_labels = NULL;
	m->score_weights = NULL;
	m->n_scores = 0;
	m->cap_scores = 0;
	m->keep_scores = 0;
}

/*
 * CheckFiniteOutputs raises est_predict's error when some of count
 * network outputs is not finite, for which est_predict and
 * est_predict_table refuse to predict: the metrics of such rows would be
 * NaN or arbitrary (a NaN probability is no class's, and counted as
 * right).
 */
static void
CheckFiniteOutputs(const EstModelDef *def, const float *z, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isfinite(z[i]))
		{
			double		value = z[i];

			EstCheckFinitePrediction(def, &value, 1);
		}
}

/*
 * ScoreRows adds n rows (X transformed, y in the label's units) to the
 * metrics, in blocks of the workspace's size.  A regressor's outputs go
 * back to the label's units in double precision, in the metrics, as
 * est_predict's do: in the network's floats, a value beyond real would
 * be an infinity.  With check_finite, outputs that are not finite are
 * est_predict's error.
 */
static void
ScoreRows(const EstModelDef *def, EstCheckpoint *ckpt, EstWorkspace *ws,
		  const float *X, const float *y, const float *w, int64 n,
		  int label_width, EstMetrics *m, bool check_finite)
{
	char		coremsg[EST_ERRMSG_LEN];
	bool		regressor = EST_IS_REGRESSOR(def->type);

	if (regressor)
	{
		m->value_scale = ckpt->labels.scale;
		m->value_shift = ckpt->labels.shift;
	}

	for (int64 start = 0; start < n; start += ws->max_batch)
	{
		int			rows = (int) Min(ws->max_batch, n - start);
		EstStatus	status;

		CHECK_FOR_INTERRUPTS();
		if (!regressor)
			for (int i = 0; i < rows; i++)
				EstCheckLabel((int64) y[start + i], def->n_classes, def->label);
		EstNetworkForward(&ckpt->net, ws, X + start * ckpt->net.n_inputs, rows);
		if (check_finite)
			CheckFiniteOutputs(def, ws->act[ckpt->net.n_layers],
							   (size_t) rows * ckpt->net.sizes[ckpt->net.n_layers]);
		if (m->keep_scores)
			LimitScores(m, rows);
		coremsg[0] = '\0';
		status = EstMetricsAdd(m, &ckpt->net, ws, y + start * label_width,
							   w ? w + start : NULL, rows, coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "metrics");
	}
}

static void
CollectMetrics(const EstModelDef *def, const EstMetrics *m, EstMetricSet *set)
{
	const char *const *keys = MetricKeys(def);

	set->n = 0;
	for (int i = 0; keys[i] != NULL; i++)
	{
		set->keys[set->n] = keys[i];
		set->values[set->n] = MetricValue(m, keys[i]);
		set->n++;
	}
}

/*
 * EstScoreData scores a data set held in memory (inputs already
 * transformed) and fills set with its metrics.
 */
void
EstScoreData(const EstModelDef *def, EstCheckpoint *ckpt, EstWorkspace *ws,
			 const EstData *data, EstMetricSet *set)
{
	EstMetrics	m;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	CheckConfusionMemory(def);
	coremsg[0] = '\0';
	status = EstMetricsInit(&m, &ckpt->net, !EST_IS_REGRESSOR(def->type),
							coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "metrics");
	ScoreRows(def, ckpt, ws, data->X, data->y, data->w, data->n_rows,
			  data->label_width, &m, false);
	CollectMetrics(def, &m, set);
	EstMetricsFree(&m);
}

/*
 * EstScoreSampleSize returns how many of n training rows est_train's loss
 * and accuracy are measured on after a call of steps batches of
 * batch_size: a tenth of the rows trained on, at least
 * EST_SCORE_SAMPLE_MIN and at most EST_SCORE_SAMPLE, and never more than
 * n.  The scoring then costs at most about a thirtieth of the training
 * (a forward pass is about a third of a step's arithmetic): scoring every
 * row took a third of a one-epoch call for a figure that needs no more
 * than three digits.
 */
int64
EstScoreSampleSize(int64 n, int64 steps, int batch_size)
{
	double		trained = (double) Max(steps, 0) * Max(batch_size, 1);
	int64		size = (int64) Min(trained / 10, (double) EST_SCORE_SAMPLE);

	return Min(n, Max(size, EST_SCORE_SAMPLE_MIN));
}

/*
 * EstScoreSample scores the sample of training rows that est_train's loss
 * and accuracy are measured on (size of them, EstScoreSampleSize's), or
 * its part [from, to): the first n rows of data when size is n, else size
 * rows evenly spaced over them (sample row k is row k * n / size),
 * gathered a workspace's worth at a time.  The AUCs are NaN.  data holds
 * rows from row first on of the n (a parallel member's, which scores the
 * sample's rows it holds).
 */
void
EstScoreSample(const EstModelDef *def, EstCheckpoint *ckpt, EstWorkspace *ws,
			   const EstData *data, int64 n, int64 size, int64 first,
			   int64 from, int64 to, EstMetricSet *set)
{
	int			d = data->n_inputs;
	int			lw = data->label_width;
	EstMetrics	m;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	Assert(size >= 0 && size <= n);
	to = Min(to, size);
	from = Min(from, to);
	CheckConfusionMemory(def);
	coremsg[0] = '\0';
	status = EstMetricsInit(&m, &ckpt->net, false, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "metrics");
	if (size == n)
		ScoreRows(def, ckpt, ws, data->X + (size_t) (from - first) * d,
				  data->y + (size_t) (from - first) * lw,
				  data->w ? data->w + (from - first) : NULL, to - from, lw, &m,
				  false);
	else
	{
		int			block = ws->max_batch;
		float	   *X = palloc(mul_size(block, d * sizeof(float)));
		float	   *y = palloc(mul_size(block, Max(lw, 1) * sizeof(float)));
		float	   *w = data->w ? palloc(mul_size(block, sizeof(float))) : NULL;

		for (int64 start = from; start < to; start += block)
		{
			int			rows = (int) Min(block, to - start);

			for (int i = 0; i < rows; i++)
			{
				int64		row = (start + i) * n / size - first;

				memcpy(X + (size_t) i * d, data->X + (size_t) row * d,
					   d * sizeof(float));
				memcpy(y + (size_t) i * lw, data->y + (size_t) row * lw,
					   lw * sizeof(float));
				if (w != NULL)
					w[i] = data->w[row];
			}
			ScoreRows(def, ckpt, ws, X, y, w, rows, lw, &m, false);
		}
		pfree(X);
		pfree(y);
		if (w != NULL)
			pfree(w);
	}
	CollectMetrics(def, &m, set);
	EstMetricsFree(&m);
}

double
EstMetricSetValue(const EstMetricSet *set, const char *key)
{
	for (int i = 0; i < set->n; i++)
		if (strcmp(set->keys[i], key) == 0)
			return set->values[i];
	elog(ERROR, "unrecognized metric: %s", key);
	return 0;					/* keep compiler quiet */
}

/*
 * EstMetricSetJsonb writes the metrics as a jsonb object; NaN (an
 * undefined metric, such as the AUC of one class) becomes null.
 */
Jsonb *
EstMetricSetJsonb(const EstMetricSet *set)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < set->n; i++)
	{
		appendStringInfo(&buf, "%s\"%s\": ", i > 0 ? ", " : "", set->keys[i]);
		if (isnan(set->values[i]) || isinf(set->values[i]))
			appendStringInfoString(&buf, "null");
		else
			appendStringInfo(&buf, "%.17g", set->values[i]);
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
											  CStringGetDatum(buf.data)));
}

/*
 * EstReportZeroWeight refuses a source (what names the argument) whose
 * rows all have weight 0: every weighted metric would be 0/0.
 */
void
EstReportZeroWeight(const EstModelDef *def, const char *source,
					const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the weights of the rows of %s \"%s\" sum to zero",
					what, source),
			 errdetail("Weighted metrics divide by the sum of the weights in column \"%s\".",
					   def->weight_column),
			 errhint("Evaluate on rows of which some have a positive weight.")));
}

/*
 * ScoreSource streams a labelled source through the model's latest
 * checkpoint into m (initialised here) and returns the rows scored.
 */
static int64
ScoreSource(const EstModelDef *def, EstCheckpoint *ckpt, const char *source,
			EstMetrics *m)
{
	EstWorkspace ws;
	EstReader  *reader;
	float	   *X;
	float	   *y;
	float	   *w = NULL;
	int			block;			/* rows of a block */
	int64		rows = 0;
	int			label_width;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	bool		regressor = EST_IS_REGRESSOR(def->type);

	reader = EstReaderOpenLabelled(source, def, &ckpt->transform);
	label_width = EstReaderLabelWidth(reader);
	CheckConfusionMemory(def);
	coremsg[0] = '\0';
	block = EstWorkspaceRows(&ckpt->net, EST_EVAL_BLOCK, EST_SCORE_BLOCK_BYTES);
	status = EstWorkspaceInit(&ws, &ckpt->net, block, coremsg);
	if (status == EST_OK)
		status = EstMetricsInit(m, &ckpt->net, !regressor, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	X = palloc(mul_size(block, def->n_inputs * sizeof(float)));
	y = palloc(mul_size(block, Max(label_width, 1) * sizeof(float)));
	if (def->weight_column != NULL)
		w = palloc(block * sizeof(float));

	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		n = EstReaderNext(reader, X, y, w, block);
		if (n == 0)
			break;
		EstTransformApply(&ckpt->transform, X, n);
		ScoreRows(def, ckpt, &ws, X, y, w, n, label_width, m, true);
		rows += n;
	}
	EstReaderClose(reader);
	EstWorkspaceFree(&ws);
	if (rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returned no rows", source),
				 errhint("Evaluation needs at least one labelled row.")));
	/* a weighted mean over no weight is 0/0: as no rows, not as 0 or NULL */
	if (def->weight_column != NULL && !(m->weight_sum > 0.0))
		EstReportZeroWeight(def, source, "source");
	return rows;
}

static char *
SourceArg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Name a table or view, or write a SELECT query.")));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

static void
PutRow(ReturnSetInfo *rsinfo, Datum *values, bool *nulls)
{
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * Evaluation is what the three SQL functions below share: a model, its
 * latest checkpoint and the metrics of a source scored with it.
 */
typedef struct Evaluation
{
	EstModelDef *def;
	EstCheckpoint ckpt;
	EstMetrics	m;
	char	   *source;
	int64		rows;
} Evaluation;

/*
 * StartEvaluation reads the model and source arguments of a function
 * returning a set, connects to SPI and scores the source; with classes,
 * the model must be a classifier of at least that many classes (2 for a
 * binary one, 0 for any classifier, -1 for any model).
 */
static void
StartEvaluation(FunctionCallInfo fcinfo, const char *function, int classes,
				Evaluation *e)
{
	char	   *model = EstModelNameArg(fcinfo, 0);

	e->source = SourceArg(fcinfo, 1);
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	e->def = EstCatalogGetModel(model, false, false);
	EstCatalogCheckPrivilege(e->def, EST_PRIV_PREDICT, "evaluate");
	if (classes >= 0 && EST_IS_REGRESSOR(e->def->type))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a classifier, and model \"%s\" is a %s",
						function, e->def->name, EstModelTypeName(e->def->type))));
	if (classes == 2 && e->def->n_classes != 2)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a binary classifier, and model \"%s\" has %d classes",
						function, e->def->name, e->def->n_classes),
				 errhint("Use est_evaluate for the macro-averaged AUC of a multi-class model.")));
	EstLoadCheckpoint(e->def, false, &e->ckpt);
	e->rows = ScoreSource(e->def, &e->ckpt, e->source, &e->m);
}

static void
EndEvaluation(Evaluation *e)
{
	EstMetricsFree(&e->m);
	EstCheckpointFree(&e->ckpt);
	SPI_finish();
}

/*
 * est_evaluate(model, source) returns rows of (metric, value) with
 * TensorFlow's keys, then global_step and rows, and records them in
 * estimator.evaluations.
 */
Datum
est_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Evaluation	e;
	EstMetricSet set;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	StartEvaluation(fcinfo, "est_evaluate", -1, &e);
	CollectMetrics(e.def, &e.m, &set);
	set.keys[set.n] = "global_step";
	set.values[set.n++] = (double) e.ckpt.global_step;
	set.keys[set.n] = "rows";
	set.values[set.n++] = (double) e.rows;
	/* a read-only transaction or a standby evaluates without recording */
	if (!XactReadOnly && !RecoveryInProgress())
		EstCatalogRecordEvaluation(e.def->name, e.ckpt.global_step, e.source,
								   EstMetricSetJsonb(&set));
	for (int i = 0; i < set.n; i++)
	{
		values[0] = CStringGetTextDatum(set.keys[i]);
		values[1] = Float8GetDatum(set.values[i]);
		nulls[1] = isnan(set.values[i]);
		PutRow(rsinfo, values, nulls);
	}
	EndEvaluation(&e);
	return (Datum) 0;
}

/*
 * est_confusion_matrix(model, source) returns (label, predicted, count)
 * for every pair of classes, zeros included.
 */
Datum
est_confusion_matrix(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Evaluation	e;
	int			k;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	StartEvaluation(fcinfo, "est_confusion_matrix", 0, &e);
	k = e.def->n_classes;
	for (int label = 0; label < k; label++)
		for (int predicted = 0; predicted < k; predicted++)
		{
			values[0] = Int32GetDatum(label);
			values[1] = Int32GetDatum(predicted);
			values[2] = Float8GetDatum(e.m.confusion[label * k + predicted]);
			PutRow(rsinfo, values, nulls);
		}
	EndEvaluation(&e);
	return (Datum) 0;
}

/*
 * est_roc_curve(model, source) returns the ROC curve of a binary
 * classifier: (threshold, fpr, tpr) by decreasing threshold.
 */
Datum
est_roc_curve(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Evaluation	e;
	double	   *thresholds;
	double	   *fpr;
	double	   *tpr;
	size_t		n_points;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	StartEvaluation(fcinfo, "est_roc_curve", 2, &e);
	coremsg[0] = '\0';
	status = EstMetricsRocCurve(&e.m, 1, &thresholds, &fpr, &tpr, &n_points,
								coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "ROC curve");
	if (n_points > 1 && (isnan(fpr[n_points - 1]) || isnan(tpr[n_points - 1])))
	{
		/*
		 * with example weights, rows of weight 0 count for no class (a
		 * source of no weight at all is ScoreSource's error)
		 */
		if (e.def->weight_column != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" has weight in one class only",
							e.source),
					 errdetail("A ROC curve needs rows of positive weight in both classes.")));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" has rows of one class only", e.source),
				 errdetail("A ROC curve needs rows of both classes.")));
	}
	for (size_t i = 0; i < n_points; i++)
	{
		values[0] = Float8GetDatum(thresholds[i]);
		values[1] = Float8GetDatum(fpr[i]);
		values[2] = Float8GetDatum(tpr[i]);
		PutRow(rsinfo, values, nulls);
	}
	EstFree(thresholds);
	EstFree(fpr);
	EstFree(tpr);
	EndEvaluation(&e);
	return (Datum) 0;
}
