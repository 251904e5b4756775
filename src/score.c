/*-------------------------------------------------------------------------
 *
 * score.c
 *	  est_predict_table: batch scoring of a whole source.
 *
 * Where est_predict scores one row at a time inside a query, this reads a
 * table, view or query in blocks and runs each block through the network
 * with cblas_sgemm, returning a row of (key, prediction, outputs, label) for each
 * row of the source.  Memory stays one block whatever the source's size.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "estimator.h"

#define EST_SCORE_BLOCK	1024

PG_FUNCTION_INFO_V1(est_predict_table);

/*
 * PutScores adds the rows of a scored block to the result: the head's
 * values (probabilities of each class, or a regressor's values) in out,
 * n_out of them a row; names holds the text of each class (classifiers).
 * The key's text and the array of outputs are built in buffers that
 * serve every row, since the tuplestore copies each row it takes.
 */
static void
PutScores(ReturnSetInfo *rsinfo, const EstModelDef *def, char **keys,
		  const double *out, int n, int n_out, const Datum *names)
{
	bool		regressor = EST_IS_REGRESSOR(def->type);
	bool		binary = !regressor && def->n_classes == 2;
	int			width = binary ? 2 : n_out;
	Size		array_bytes = ARR_OVERHEAD_NONULLS(1) + width * sizeof(float8);
	ArrayType  *array = palloc0(array_bytes);
	float8	   *elems;
	text	   *key_text = NULL;
	Size		key_cap = 0;

	/* as construct_array makes a one-dimensional float8[] without nulls */
	SET_VARSIZE(array, array_bytes);
	array->ndim = 1;
	array->dataoffset = 0;
	array->elemtype = FLOAT8OID;
	ARR_DIMS(array)[0] = width;
	ARR_LBOUND(array)[0] = 1;
	elems = (float8 *) ARR_DATA_PTR(array);

	for (int i = 0; i < n; i++)
	{
		const double *o = out + (size_t) i * n_out;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		double		prediction;

		EstCheckFinitePrediction(def, o, n_out);
		if (binary)
		{
			elems[0] = 1 - o[0];
			elems[1] = o[0];
			prediction = o[0] > 0.5 ? 1 : 0;
		}
		else
		{
			for (int j = 0; j < n_out; j++)
				elems[j] = o[j];
			prediction = regressor ? o[0] : EstArgmax(o, n_out);
		}
		values[0] = (Datum) 0;
		nulls[0] = keys == NULL || keys[i] == NULL;
		if (!nulls[0])
		{
			Size		len = strlen(keys[i]);

			if (key_text == NULL || len + VARHDRSZ > key_cap)
			{
				if (key_text != NULL)
					pfree(key_text);
				key_cap = Max(len + VARHDRSZ, 64);
				key_text = palloc(key_cap);
			}
			SET_VARSIZE(key_text, len + VARHDRSZ);
			memcpy(VARDATA(key_text), keys[i], len);
			values[0] = PointerGetDatum(key_text);
		}
		values[1] = Float8GetDatum(prediction);
		values[2] = PointerGetDatum(array);
		/* the class's name (0.2.0); the result of 0.1.0 has three columns */
		if (rsinfo->setDesc->natts > 3)
		{
			nulls[3] = regressor;
			if (!regressor)
				values[3] = names[(int) prediction];
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(array);
	if (key_text != NULL)
		pfree(key_text);
}

/*
 * est_predict_table(model, source, key) scores every row of a source and
 * returns (key, prediction, outputs, label): the key column as text (NULL
 * when no key is named), the class id or value, the class probabilities or
 * the regressor's values, and the class's name (NULL for regressors).
 */
Datum
est_predict_table(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model = EstModelNameArg(fcinfo, 0);
	char	   *source;
	char	   *key = NULL;
	EstModelDef *def;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	EstReader  *reader;
	MemoryContext block_context;
	MemoryContext oldcontext;
	float	   *X;
	double	   *out;
	int			n_out;
	Datum	   *names = NULL;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Name a table or view, or write a SELECT query.")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		key = text_to_cstring(PG_GETARG_TEXT_PP(2));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	def = EstCatalogGetModel(model, false, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_PREDICT, "predict with");
	EstLoadCheckpoint(def, false, &ckpt);
	reader = EstReaderOpenKeyed(source, key, def, &ckpt.transform);

	coremsg[0] = '\0';
	status = EstWorkspaceInit(&ws, &ckpt.net, EST_SCORE_BLOCK, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	n_out = ckpt.net.sizes[ckpt.net.n_layers];
	/* the text of each class, made once */
	if (!EST_IS_REGRESSOR(def->type))
	{
		names = palloc(def->n_classes * sizeof(Datum));
		for (int k = 0; k < def->n_classes; k++)
			names[k] = CStringGetTextDatum(def->n_label_vocabulary > 0 ?
										   def->label_vocabulary[k] :
										   psprintf("%d", k));
	}
	X = palloc(mul_size(EST_SCORE_BLOCK, def->n_inputs * sizeof(float)));
	out = palloc(mul_size(EST_SCORE_BLOCK, n_out * sizeof(double)));
	block_context = AllocSetContextCreate(CurrentMemoryContext,
										  "estimator scoring block",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(block_context);
		oldcontext = MemoryContextSwitchTo(block_context);
		n = EstReaderNext(reader, X, NULL, NULL, EST_SCORE_BLOCK);
		/* the block's rows are made in block_context, freed at the next */
		MemoryContextSwitchTo(block_context);
		if (n > 0)
		{
			EstTransformApply(&ckpt.transform, X, n);
			EstNetworkForward(&ckpt.net, &ws, X, n);
			if (EST_IS_REGRESSOR(def->type))
				EstRestoreLabels(&ckpt.labels, ws.act[ckpt.net.n_layers], n);
			EstHeadProbabilities(&ckpt.net, &ws, n, out);
			PutScores(rsinfo, def, key ? EstReaderKeys(reader) : NULL, out, n,
					  n_out, names);
		}
		MemoryContextSwitchTo(oldcontext);
		if (n == 0)
			break;
	}
	EstReaderClose(reader);
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
	SPI_finish();
	return (Datum) 0;
}
