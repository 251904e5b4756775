/*-------------------------------------------------------------------------
 *
 * evaluate.c
 *	  est_evaluate: the EVAL mode of an estimator.
 *
 * Streams the source through the latest checkpoint in blocks, applying
 * the feature transform stored with the model, and returns TensorFlow's
 * evaluation keys as rows of (metric, value).  Memory stays one block
 * whatever the size of the source.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "estimator.h"

#define EST_EVAL_BLOCK	1000

PG_FUNCTION_INFO_V1(est_evaluate);

static void
PutMetric(ReturnSetInfo *rsinfo, const char *metric, double value)
{
	Datum		values[2];
	bool		nulls[2] = {false, false};

	values[0] = CStringGetTextDatum(metric);
	values[1] = Float8GetDatum(value);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * est_evaluate(model, source) returns rows of (metric, value):
 * accuracy, average_loss, loss, global_step and rows.
 */
Datum
est_evaluate(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model = EstModelNameArg(fcinfo, 0);
	char	   *source;
	EstModelDef *def;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	EstReader  *reader;
	EstMetrics	metrics;
	float	   *X;
	float	   *y;
	int64		rows = 0;
	int64		global_step;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Name a table or view, or write a SELECT query.")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	def = EstCatalogGetModel(model, false, false);
	EstLoadCheckpoint(def, false, &ckpt);
	global_step = ckpt.global_step;

	reader = EstReaderOpen(source, def->label, def->features,
						   def->n_features, false);
	coremsg[0] = '\0';
	status = EstWorkspaceInit(&ws, &ckpt.net, EST_EVAL_BLOCK, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	X = palloc(mul_size(EST_EVAL_BLOCK, def->n_inputs * sizeof(float)));
	y = palloc(EST_EVAL_BLOCK * sizeof(float));

	EstMetricsReset(&metrics);
	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		n = EstReaderNext(reader, X, y, EST_EVAL_BLOCK);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
			EstCheckLabel((int64) y[i], def->n_classes, def->label);
		EstFeatureStateApply(&ckpt.features, X, n);
		EstNetworkForward(&ckpt.net, &ws, X, n);
		EstMetricsAdd(&metrics, &ckpt.net, &ws, y, NULL, n);
		rows += n;
	}
	EstReaderClose(reader);
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
	SPI_finish();

	if (rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returned no rows", source),
				 errhint("Evaluation needs at least one labelled row.")));

	PutMetric(rsinfo, "accuracy", EstMetricsAccuracy(&metrics));
	PutMetric(rsinfo, "average_loss", EstMetricsMeanLoss(&metrics));
	PutMetric(rsinfo, "loss", EstMetricsMeanLoss(&metrics));
	PutMetric(rsinfo, "global_step", (double) global_step);
	PutMetric(rsinfo, "rows", (double) rows);
	return (Datum) 0;
}
