/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  est_predict and est_predict_proba: the PREDICT mode of an estimator.
 *
 * Prediction runs once per row inside ordinary queries, so the model is
 * looked up and its checkpoint decoded once per query (per parallel
 * worker), and kept in fn_extra for the rows that follow.  The cache
 * lives as long as the query's function call site, so a query sees the
 * checkpoint that was current when it first scored a row, and the next
 * statement sees a newer one.  A row argument is matched to the model's
 * feature columns by name once per row type; extra columns are ignored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/typcache.h"

#include "estimator.h"

typedef struct PredictCache
{
	char		name[EST_MAX_NAME_LEN + 1];
	EstModelDef *def;
	EstCheckpoint ckpt;
	float	   *x;				/* n_inputs */
	float	   *scratch;
	double	   *out;			/* n_classes */

	/* row type last matched to the feature columns */
	Oid			row_type;
	int32		row_typmod;
	TupleDesc	row_desc;
	int		   *atts;			/* 0-based attribute of each feature */
	EstColumn  *cols;			/* features with the row's column types */
} PredictCache;

PG_FUNCTION_INFO_V1(est_predict_record);
PG_FUNCTION_INFO_V1(est_predict_array);
PG_FUNCTION_INFO_V1(est_predict_proba_record);
PG_FUNCTION_INFO_V1(est_predict_proba_array);

/*
 * GetModel returns the cached model of this call site, loading it when
 * the call site has none or the model name changed.
 */
static PredictCache *
GetModel(FunctionCallInfo fcinfo)
{
	PredictCache *cache = (PredictCache *) fcinfo->flinfo->fn_extra;
	char	   *name = EstModelNameArg(fcinfo, 0);
	MemoryContext oldcontext;
	int			widest;

	if (cache != NULL && strcmp(cache->name, name) == 0)
		return cache;

	oldcontext = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (cache != NULL)
	{
		EstCheckpointFree(&cache->ckpt);
		fcinfo->flinfo->fn_extra = NULL;
	}
	cache = palloc0(sizeof(PredictCache));
	strlcpy(cache->name, name, sizeof(cache->name));

	/* SPI_connect makes its own context current: the cache outlives it */
	SPI_connect();
	MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	cache->def = EstCatalogGetModel(name, false, false);
	EstLoadCheckpoint(cache->def, &cache->ckpt);
	SPI_finish();

	widest = cache->def->n_inputs;
	for (int l = 1; l <= cache->ckpt.net.n_layers; l++)
		widest = Max(widest, cache->ckpt.net.sizes[l]);
	cache->x = palloc(cache->def->n_inputs * sizeof(float));
	cache->scratch = palloc(2 * widest * sizeof(float));
	cache->out = palloc(cache->def->n_classes * sizeof(double));
	cache->row_type = InvalidOid;

	fcinfo->flinfo->fn_extra = cache;
	MemoryContextSwitchTo(oldcontext);
	return cache;
}

/*
 * MatchRowType maps the model's feature columns to the attributes of a
 * row type, once per row type.
 */
static void
MatchRowType(FunctionCallInfo fcinfo, PredictCache *cache, Oid type,
			 int32 typmod)
{
	EstModelDef *def = cache->def;
	TupleDesc	tupdesc;
	MemoryContext oldcontext;

	if (cache->row_type == type && cache->row_typmod == typmod &&
		cache->row_desc != NULL)
		return;

	oldcontext = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	tupdesc = lookup_rowtype_tupdesc(type, typmod);
	cache->row_desc = CreateTupleDescCopy(tupdesc);
	ReleaseTupleDesc(tupdesc);
	cache->atts = palloc(def->n_features * sizeof(int));
	cache->cols = palloc(def->n_features * sizeof(EstColumn));

	for (int i = 0; i < def->n_features; i++)
	{
		EstColumn  *col = &cache->cols[i];
		int			found = -1;

		*col = def->features[i];
		for (int a = 0; a < cache->row_desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(cache->row_desc, a);

			if (!att->attisdropped &&
				strcmp(NameStr(att->attname), col->name) == 0)
			{
				found = a;
				break;
			}
		}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("feature column \"%s\" of model \"%s\" is missing from the row",
							col->name, def->name),
					 errhint("Pass a row with the columns the model was trained on, or a feature array.")));
		col->type = TupleDescAttr(cache->row_desc, found)->atttypid;
		if (EstClassifyType(col->type) != def->features[i].kind)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but model \"%s\" expects %s",
							col->name, format_type_be(col->type), def->name,
							format_type_be(def->features[i].type))));
		cache->atts[i] = found;
	}
	cache->row_type = type;
	cache->row_typmod = typmod;
	MemoryContextSwitchTo(oldcontext);
}

/*
 * ScoreRecord fills cache->out with the class probabilities of a row.
 */
static PredictCache *
ScoreRecord(FunctionCallInfo fcinfo)
{
	PredictCache *cache = GetModel(fcinfo);
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(1);
	HeapTupleData tuple;
	float	   *x = cache->x;

	MatchRowType(fcinfo, cache, HeapTupleHeaderGetTypeId(rec),
				 HeapTupleHeaderGetTypMod(rec));

	tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = rec;

	for (int i = 0; i < cache->def->n_features; i++)
	{
		bool		isnull;
		Datum		value = heap_getattr(&tuple, cache->atts[i] + 1,
										 cache->row_desc, &isnull);

		EstConvertValue(value, isnull, &cache->cols[i], x);
		x += cache->cols[i].width;
	}
	EstFeatureStateApply(&cache->ckpt.features, cache->x, 1);
	EstNetworkPredictOne(&cache->ckpt.net, cache->x, cache->scratch,
						 cache->out);
	return cache;
}

/*
 * ScoreArray fills cache->out with the class probabilities of a feature
 * array given in the order of the model's inputs.
 */
static PredictCache *
ScoreArray(FunctionCallInfo fcinfo)
{
	PredictCache *cache = GetModel(fcinfo);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	const double *values;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature array must be one-dimensional")));
	if (n != cache->def->n_inputs)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature array has %d elements, model \"%s\" expects %d",
						n, cache->def->name, cache->def->n_inputs)));
	if (ARR_HASNULL(arr))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("feature array must not contain nulls")));

	values = (const double *) ARR_DATA_PTR(arr);
	for (int i = 0; i < n; i++)
	{
		if (isnan(values[i]) || isinf(values[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("feature array element %d is %s", i + 1,
							isnan(values[i]) ? "NaN" : "infinite"),
					 errhint("Feature values must be finite numbers.")));
		if (fabs(values[i]) > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("feature array element %d is out of range for type real",
							i + 1),
					 errdetail("Networks compute in single precision.")));
		cache->x[i] = (float) values[i];
	}
	EstFeatureStateApply(&cache->ckpt.features, cache->x, 1);
	EstNetworkPredictOne(&cache->ckpt.net, cache->x, cache->scratch,
						 cache->out);
	return cache;
}

static Datum
ClassOf(PredictCache *cache)
{
	int			best = 0;

	for (int k = 1; k < cache->def->n_classes; k++)
		if (cache->out[k] > cache->out[best])
			best = k;
	return Float8GetDatum((double) best);
}

static Datum
Probabilities(PredictCache *cache)
{
	int			n = cache->def->n_classes;
	Datum	   *elems = palloc(n * sizeof(Datum));

	for (int k = 0; k < n; k++)
		elems[k] = Float8GetDatum(cache->out[k]);
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* est_predict(model, record): the class id of a row */
Datum
est_predict_record(PG_FUNCTION_ARGS)
{
	return ClassOf(ScoreRecord(fcinfo));
}

/* est_predict(model, float8[]): the class id of a feature array */
Datum
est_predict_array(PG_FUNCTION_ARGS)
{
	return ClassOf(ScoreArray(fcinfo));
}

/* est_predict_proba(model, record): class probabilities of a row */
Datum
est_predict_proba_record(PG_FUNCTION_ARGS)
{
	return Probabilities(ScoreRecord(fcinfo));
}

/* est_predict_proba(model, float8[]): class probabilities of an array */
Datum
est_predict_proba_array(PG_FUNCTION_ARGS)
{
	return Probabilities(ScoreArray(fcinfo));
}
