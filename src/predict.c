/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  est_predict and est_predict_proba: the PREDICT mode of an estimator.
 *
 * Prediction runs once per row inside ordinary queries.  Each call site
 * keeps, in fn_extra, the decoded model it uses (pinned in the backend's
 * model cache, cache.c) and looks the model up again only when the model
 * name or the active snapshot changes: once per query for a scan, so a
 * query sees the checkpoint that its snapshot sees, and the next
 * statement sees a newer one.  A row argument is matched to the model's
 * feature columns by name once per row type, and again when its
 * composite type changes (ALTER TYPE or ALTER TABLE in a PL/pgSQL function
 * whose expression outlives the statement); extra columns are ignored.
 * What a call site keeps of a model and of a row type lives in a memory
 * context each, emptied when either changes, so that a model name that
 * changes from row to row does not grow the query's memory.
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
#include "miscadmin.h"
#include "nodes/supportnodes.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "estimator.h"

typedef struct PredictState
{
	EstCachedModel *model;		/* pinned until the call site goes away */
	MemoryContextCallback unpin;

	/* the snapshot under which model was looked up, and for which user */
	TransactionId snap_xmin;
	TransactionId snap_xmax;
	CommandId	snap_curcid;
	uint64		snap_completions;
	Oid			userid;			/* whose predict privilege was checked */

	/* in model_context, emptied when the model changes */
	MemoryContext model_context;
	float	   *x;				/* n_inputs */
	float	   *scratch;
	double	   *out;			/* the head's values (at least 2) */

	/*
	 * row type last matched to the feature columns, and the rest of this
	 * struct, in row_context, emptied when the model or the row type
	 * changes; a named composite type's typcache entry tells when ALTER
	 * changed it
	 */
	MemoryContext row_context;
	Oid			row_type;
	int32		row_typmod;
	TypeCacheEntry *row_typentry;	/* NULL for RECORD */
	uint64		row_tupdesc_id; /* its tupDesc_identifier when matched */
	TupleDesc	row_desc;		/* NULL: nothing matched */
	int		   *atts;			/* 0-based attribute of each feature, -1
								 * for an optional column the row lacks */
	EstColumn  *cols;			/* features with the row's column types */
	EstEncoder *encoder;		/* bound to cols */
	int		   *identity;		/* 0 .. n_features-1 */
	Datum	   *values;			/* n_features, by source column */
	bool	   *nulls;
	/* rows without NULLs of plain numbers encode straight from their data */
	bool		has_scalars;
	EstScalarRow scalars;
	int			scalar_atts;	/* attributes such a row must have */
} PredictState;

PG_FUNCTION_INFO_V1(est_predict_record);
PG_FUNCTION_INFO_V1(est_predict_array);
PG_FUNCTION_INFO_V1(est_predict_proba_record);
PG_FUNCTION_INFO_V1(est_predict_proba_array);
PG_FUNCTION_INFO_V1(est_predict_values_record);
PG_FUNCTION_INFO_V1(est_predict_values_array);
PG_FUNCTION_INFO_V1(est_predict_label_record);
PG_FUNCTION_INFO_V1(est_predict_label_array);
PG_FUNCTION_INFO_V1(est_predict_support);

static void
UnpinModel(void *arg)
{
	PredictState *state = (PredictState *) arg;

	if (state->model != NULL)
		EstCacheRelease(state->model);
	state->model = NULL;
}

/*
 * SameSnapshot tells whether the active snapshot sees the catalog as it
 * was when the model was looked up: no transaction completed and no
 * command of ours ran since.  The user must be the same too, since the
 * privilege was checked for it: a call site that outlives a statement (a
 * PL/pgSQL expression) may run again after SET ROLE or inside and outside
 * a SECURITY DEFINER function under the same snapshot.
 */
static bool
SameSnapshot(PredictState *state, Snapshot snap)
{
	return state->userid == GetUserId() &&
		state->snap_xmin == snap->xmin &&
		state->snap_xmax == snap->xmax &&
		state->snap_curcid == snap->curcid &&
		state->snap_completions == snap->snapXactCompletionCount;
}

/*
 * SameName tells whether a model name argument is name, without making a
 * C string of it.
 */
static bool
SameName(text *arg, const char *name)
{
	Size		len = VARSIZE_ANY_EXHDR(arg);

	return len == strlen(name) && memcmp(VARDATA_ANY(arg), name, len) == 0;
}

/*
 * GetModel returns the state of this call site with the model named by
 * the first argument, as the active snapshot sees it.  The catalog is
 * consulted again only when the name or the snapshot changes, so a query
 * looks the model up once, and decodes it only if the cache does not
 * hold that version (cache.c).
 */
static PredictState *
GetModel(FunctionCallInfo fcinfo)
{
	PredictState *state = (PredictState *) fcinfo->flinfo->fn_extra;
	Snapshot	snap = GetActiveSnapshot();
	char	   *name;
	MemoryContext oldcontext;
	EstCachedModel *model;
	int			n_out;

	/* the same model as the last row's: the common case, made cheap */
	if (state != NULL && state->model != NULL && !PG_ARGISNULL(0) &&
		SameSnapshot(state, snap) &&
		SameName(PG_GETARG_TEXT_PP(0), state->model->name))
		return state;

	name = EstModelNameArg(fcinfo, 0);
	if (state != NULL && state->model != NULL &&
		strcmp(state->model->name, name) == 0 && SameSnapshot(state, snap))
		return state;

	if (state == NULL)
	{
		state = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt,
									   sizeof(PredictState));
		state->model_context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
													 "estimator call site model",
													 ALLOCSET_SMALL_SIZES);
		state->row_context = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt,
												   "estimator call site row type",
												   ALLOCSET_SMALL_SIZES);
		state->unpin.func = UnpinModel;
		state->unpin.arg = state;
		MemoryContextRegisterResetCallback(fcinfo->flinfo->fn_mcxt,
										   &state->unpin);
		fcinfo->flinfo->fn_extra = state;
	}

	model = EstCacheAcquireFor(name, EST_PRIV_PREDICT, "predict with");
	state->snap_xmin = snap->xmin;
	state->snap_xmax = snap->xmax;
	state->snap_curcid = snap->curcid;
	state->snap_completions = snap->snapXactCompletionCount;
	state->userid = GetUserId();
	if (model == state->model)
	{
		/* a new snapshot, the same model */
		EstCacheRelease(model);
		return state;
	}
	UnpinModel(state);
	state->model = model;

	/* what the call site kept of the last model and row type goes */
	state->row_desc = NULL;		/* match the row type again */
	MemoryContextReset(state->row_context);
	state->x = NULL;
	MemoryContextReset(state->model_context);

	n_out = Max(model->ckpt.net.sizes[model->ckpt.net.n_layers], 2);
	oldcontext = MemoryContextSwitchTo(state->model_context);
	state->x = palloc(model->def->n_inputs * sizeof(float));
	state->scratch = palloc(Max(EstNetworkScratchSize(&model->ckpt.net), 1) *
							sizeof(float));
	state->out = palloc(n_out * sizeof(double));
	MemoryContextSwitchTo(oldcontext);
	return state;
}

/*
 * SameRowType tells whether a row of type and typmod is of the row type
 * last matched, as it is now: a named composite type that ALTER TYPE or
 * ALTER TABLE changed since gets a new tupDesc_identifier in its typcache
 * entry (0 until the typcache loads it again), and its rows another
 * layout.  A registered RECORD type never changes.
 */
static inline bool
SameRowType(PredictState *state, Oid type, int32 typmod)
{
	return state->row_desc != NULL &&
		state->row_type == type && state->row_typmod == typmod &&
		(state->row_typentry == NULL ||
		 state->row_typentry->tupDesc_identifier == state->row_tupdesc_id);
}

/*
 * MatchRowType maps the model's feature columns to the attributes of a
 * row type, once per row type (and again when the type changes).  The
 * state says that a row type is matched (row_desc) only once all of it is
 * done.
 */
static void
MatchRowType(PredictState *state, Oid type, int32 typmod)
{
	EstModelDef *def = state->model->def;
	TupleDesc	tupdesc;
	TypeCacheEntry *typentry = NULL;
	uint64		tupdesc_id = 0;
	TupleDesc	row_desc;
	MemoryContext oldcontext;

	if (SameRowType(state, type, typmod))
		return;

	state->row_desc = NULL;
	MemoryContextReset(state->row_context);
	oldcontext = MemoryContextSwitchTo(state->row_context);
	/* the identifier first: a later change makes it stale, never the copy */
	if (type != RECORDOID)
	{
		typentry = lookup_type_cache(type, TYPECACHE_TUPDESC);
		tupdesc_id = typentry->tupDesc_identifier;
	}
	tupdesc = lookup_rowtype_tupdesc(type, typmod);
	row_desc = CreateTupleDescCopy(tupdesc);
	ReleaseTupleDesc(tupdesc);
	state->atts = palloc(def->n_features * sizeof(int));
	state->cols = palloc(def->n_features * sizeof(EstColumn));
	state->identity = palloc(def->n_features * sizeof(int));
	state->values = palloc(def->n_features * sizeof(Datum));
	state->nulls = palloc(def->n_features * sizeof(bool));

	for (int i = 0; i < def->n_features; i++)
	{
		EstColumn  *col = &state->cols[i];
		int			found = -1;

		*col = def->features[i];

		/*
		 * the cached definition classified the type when it was loaded,
		 * perhaps before the type was dropped: classify it again
		 */
		col->kind = EstClassifyType(col->type);
		for (int a = 0; a < row_desc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(row_desc, a);

			if (att->attisdropped ||
				strcmp(NameStr(att->attname), col->name) != 0)
				continue;
			/* as est_predict_table's source, a row names a feature once */
			if (found >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_AMBIGUOUS_COLUMN),
						 errmsg("column \"%s\" appears more than once in the row",
								col->name),
						 errhint("Give the row's columns distinct names.")));
			found = a;
		}
		state->identity[i] = i;
		if (found < 0 &&
			EstSourceTakesNull(&state->model->ckpt.transform, col->name))
		{
			state->atts[i] = -1;	/* read as NULL */
			/* a type dropped since training has no base type */
			col->base_type = col->kind == EST_COL_UNSUPPORTED ?
				InvalidOid : getBaseType(col->type);
			continue;
		}
		if (found < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("feature column \"%s\" of model \"%s\" is missing from the row",
							col->name, def->name),
					 errhint("Pass a row with the columns the model was trained on, or a feature array.")));
		col->type = TupleDescAttr(row_desc, found)->atttypid;
		col->base_type = getBaseType(col->type);
		/* a type dropped since training: the row's column decides */
		if (col->kind == EST_COL_UNSUPPORTED)
			col->kind = EstClassifyType(col->type);
		else if (EstClassifyType(col->type) != col->kind)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" has type %s, but model \"%s\" expects %s",
							col->name, format_type_be(col->type), def->name,
							format_type_be(def->features[i].type))));
		state->atts[i] = found;
	}
	{
		bool		any = false;

		for (int i = 0; i < def->n_features; i++)
			any |= state->atts[i] >= 0;
		if (!any)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("the row has none of the feature columns of model \"%s\"",
							def->name),
					 errhint("Pass a row with the columns the model was trained on, or a feature array.")));
	}
	state->encoder = EstEncoderCreate(&state->model->ckpt.transform,
									  state->cols, def->n_features,
									  state->identity);
	{
		bool		all = true;
		int		   *off = NULL;

		state->scalar_atts = 0;
		for (int i = 0; i < def->n_features; i++)
		{
			all &= state->atts[i] >= 0;
			state->scalar_atts = Max(state->scalar_atts, state->atts[i] + 1);
		}
		if (all)
			off = EstFixedOffsets(row_desc, state->atts,
								  def->n_features, state->scalar_atts);
		state->has_scalars = off != NULL &&
			EstScalarRowInit(&state->scalars, state->encoder, off);
	}
	state->row_type = type;
	state->row_typmod = typmod;
	state->row_typentry = typentry;
	state->row_tupdesc_id = tupdesc_id;
	state->row_desc = row_desc;
	MemoryContextSwitchTo(oldcontext);
}

/*
 * ScoreRecord fills state->out with the network's values for a row.
 */
static PredictState *
ScoreRecord(FunctionCallInfo fcinfo)
{
	PredictState *state = GetModel(fcinfo);
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(1);
	HeapTupleData tuple;
	float	   *x = state->x;

	MatchRowType(state, HeapTupleHeaderGetTypeId(rec),
				 HeapTupleHeaderGetTypMod(rec));

	/* a row without NULLs of plain numbers: straight from its data */
	if (!state->has_scalars || (rec->t_infomask & HEAP_HASNULL) ||
		HeapTupleHeaderGetNatts(rec) < state->scalar_atts ||
		!EstScalarRowEncode(&state->scalars, (const char *) rec + rec->t_hoff,
							x))
	{
		tuple.t_len = HeapTupleHeaderGetDatumLength(rec);
		ItemPointerSetInvalid(&tuple.t_self);
		tuple.t_tableOid = InvalidOid;
		tuple.t_data = rec;

		for (int i = 0; i < state->model->def->n_features; i++)
		{
			if (state->atts[i] < 0)
			{
				state->values[i] = (Datum) 0;
				state->nulls[i] = true;
				continue;
			}
			state->values[i] = heap_getattr(&tuple, state->atts[i] + 1,
											state->row_desc, &state->nulls[i]);
		}
		EstEncodeRow(state->encoder, state->values, state->nulls, x);
	}
	EstTransformApplyPlanned(&state->model->ckpt.transform,
							 state->model->normalise, x, 1);
	EstNetworkPredictOne(&state->model->ckpt.net, state->x, state->scratch,
						 state->out);
	return state;
}

/*
 * ScoreArray fills state->out with the network's values for a feature
 * array given in the order of the model's inputs.
 */
static PredictState *
ScoreArray(FunctionCallInfo fcinfo)
{
	PredictState *state = GetModel(fcinfo);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	int			n = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	const double *values;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature array must be one-dimensional")));
	for (int c = 0; c < state->model->ckpt.transform.n_columns; c++)
		if (state->model->ckpt.transform.columns[c].kind != EST_FC_NUMERIC)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("model \"%s\" has categorical feature columns, which a feature array cannot hold",
							state->model->def->name),
					 errdetail("Feature column \"%s\" is a %s column.",
							   state->model->ckpt.transform.columns[c].name,
							   state->model->ckpt.transform.columns[c].kind == EST_FC_BUCKETIZED ?
							   "bucketized" : "categorical"),
					 errhint("Pass a row: est_predict('model', t) FROM table t.")));
	if (n != state->model->def->n_inputs)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("feature array has %d elements, model \"%s\" expects %d",
						n, state->model->def->name, state->model->def->n_inputs)));
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
		state->x[i] = (float) values[i];
	}
	EstTransformApplyPlanned(&state->model->ckpt.transform,
							 state->model->normalise, state->x, 1);
	EstNetworkPredictOne(&state->model->ckpt.net, state->x, state->scratch,
						 state->out);
	return state;
}

/*
 * Outputs turns the network's values into the head's: regressors' values
 * go back to the label's units.  Returns how many there are.
 */
static int
Outputs(PredictState *state)
{
	const EstModelDef *def = state->model->def;
	const EstCheckpoint *ckpt = &state->model->ckpt;
	int			n = ckpt->net.sizes[ckpt->net.n_layers];

	EstCheckFinitePrediction(def, state->out, n);

	if (EST_IS_REGRESSOR(def->type))
	{
		for (int j = 0; j < def->label_dimension; j++)
			state->out[j] = state->out[j] * ckpt->labels.scale[j] +
				ckpt->labels.shift[j];
		return def->label_dimension;
	}
	if (def->n_classes == 2)
	{
		/* the sigmoid head gives the probability of class 1 */
		state->out[1] = state->out[0];
		state->out[0] = 1 - state->out[1];
	}
	return def->n_classes;
}

static void
RequireClassifier(PredictState *state, const char *function)
{
	const EstModelDef *def = state->model->def;

	if (EST_IS_REGRESSOR(def->type))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s needs a classifier, and model \"%s\" is a %s",
						function, def->name, EstModelTypeName(def->type)),
				 errhint("Use est_predict or est_predict_values.")));
}

/*
 * Prediction is the class id of a classifier (the most probable class;
 * for two classes, class 1 when its probability exceeds 0.5, as
 * TensorFlow's logistic head) or the value of a regressor.
 */
static Datum
Prediction(PredictState *state)
{
	const EstModelDef *def = state->model->def;
	int			n = Outputs(state);

	if (EST_IS_REGRESSOR(def->type))
	{
		if (n != 1)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("model \"%s\" predicts %d values", def->name, n),
					 errhint("Use est_predict_values for a model with label_dimension above 1.")));
		return Float8GetDatum(state->out[0]);
	}
	if (n == 2)
		return Float8GetDatum(state->out[1] > 0.5 ? 1.0 : 0.0);
	return Float8GetDatum((double) EstArgmax(state->out, n));
}

static Datum
ValueArray(PredictState *state, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));

	for (int k = 0; k < n; k++)
		elems[k] = Float8GetDatum(state->out[k]);
	return PointerGetDatum(construct_array(elems, n, FLOAT8OID, sizeof(float8),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
Probabilities(PredictState *state)
{
	RequireClassifier(state, "est_predict_proba");
	return ValueArray(state, Outputs(state));
}

static Datum
Values(PredictState *state)
{
	const EstModelDef *def = state->model->def;

	if (!EST_IS_REGRESSOR(def->type))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("est_predict_values needs a regressor, and model \"%s\" is a %s",
						def->name, EstModelTypeName(def->type)),
				 errhint("Use est_predict_proba for the class probabilities.")));
	return ValueArray(state, Outputs(state));
}

/* est_predict(model, record): the class id or value of a row */
Datum
est_predict_record(PG_FUNCTION_ARGS)
{
	return Prediction(ScoreRecord(fcinfo));
}

/* est_predict(model, float8[]): the class id or value of a feature array */
Datum
est_predict_array(PG_FUNCTION_ARGS)
{
	return Prediction(ScoreArray(fcinfo));
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

/* est_predict_values(model, record): a regressor's values for a row */
Datum
est_predict_values_record(PG_FUNCTION_ARGS)
{
	return Values(ScoreRecord(fcinfo));
}

/* est_predict_values(model, float8[]): a regressor's values */
Datum
est_predict_values_array(PG_FUNCTION_ARGS)
{
	return Values(ScoreArray(fcinfo));
}

/*
 * Label is the predicted class of a classifier by name: its entry in
 * label_vocabulary, or the class id as text.
 */
static Datum
Label(PredictState *state)
{
	const EstModelDef *def = state->model->def;
	int			cls;

	RequireClassifier(state, "est_predict_label");
	cls = (int) DatumGetFloat8(Prediction(state));
	if (def->n_label_vocabulary > 0)
		return CStringGetTextDatum(def->label_vocabulary[cls]);
	return CStringGetTextDatum(psprintf("%d", cls));
}

/* est_predict_label(model, record): the class name of a row */
Datum
est_predict_label_record(PG_FUNCTION_ARGS)
{
	return Label(ScoreRecord(fcinfo));
}

/* est_predict_label(model, float8[]): the class name of a feature array */
Datum
est_predict_label_array(PG_FUNCTION_ARGS)
{
	return Label(ScoreArray(fcinfo));
}

/*
 * What a row of the per-row prediction functions costs the planner, in
 * operators (cpu_operator_cost, about 6 nanoseconds of one core here):
 * EST_PREDICT_ROW_OPERATORS for the call and the row's encoding, and one
 * more for every EST_PREDICT_MACS_PER_OPERATOR multiply-adds of the
 * network.  A row's one-row layers stream their weights from the cache at
 * about 20 multiply-adds a nanosecond: the benchmark's network (6,400 of
 * them) scores a row in about half a microsecond, one of 67,000 in 3.5.
 */
#define EST_PREDICT_ROW_OPERATORS		30
#define EST_PREDICT_MACS_PER_OPERATOR	130

/*
 * PredictMacs returns the multiply-adds of one row through the network of
 * def: its dense layers, and for a linear or combined model a linear part
 * at most as wide as the input vector.
 */
static double
PredictMacs(const EstModelDef *def)
{
	int			outputs = EstModelOutputs(def);
	double		macs = 0;
	int			in = def->input_width;

	if (!EST_IS_LINEAR(def->type))
	{
		for (int l = 0; l < def->n_hidden; l++)
		{
			macs += (double) in * def->hidden[l];
			in = def->hidden[l];
		}
		macs += (double) in * outputs;
	}
	if (EST_IS_LINEAR(def->type) || EST_IS_COMBINED(def->type))
		macs += (double) def->input_width * outputs;
	return macs;
}

/*
 * est_predict_support(internal): the planner support function of the
 * per-row prediction functions.  Asked for their cost
 * (SupportRequestCost), it prices a call by the size of the model named
 * by a constant first argument, so that a query scoring rows with a small
 * network is not planned as hundreds of times costlier than it is (which
 * made PostgreSQL compile it with JIT, inlining and optimisation: a
 * quarter of a second of compilation for half a second of scoring a
 * million rows), and one scoring with a large network is planned as
 * costly as it is.  It answers nothing (the functions' COST then applies)
 * when the model is not a constant, does not exist, or the current user
 * may not predict with it: EXPLAIN must not tell a role without the
 * privilege that the model exists or how large it is.
 */
Datum
est_predict_support(PG_FUNCTION_ARGS)
{
	Node	   *rawreq = (Node *) PG_GETARG_POINTER(0);
	SupportRequestCost *req;
	FuncExpr   *expr;
	Const	   *name;
	EstModelDef *def;
	double		macs;

	if (!IsA(rawreq, SupportRequestCost))
		PG_RETURN_POINTER(NULL);
	req = (SupportRequestCost *) rawreq;
	if (req->node == NULL || !IsA(req->node, FuncExpr))
		PG_RETURN_POINTER(NULL);
	expr = (FuncExpr *) req->node;
	if (list_length(expr->args) < 1 || !IsA(linitial(expr->args), Const))
		PG_RETURN_POINTER(NULL);
	name = (Const *) linitial(expr->args);
	if (name->constisnull || name->consttype != TEXTOID)
		PG_RETURN_POINTER(NULL);

	SPI_connect();
	def = EstCatalogGetModel(TextDatumGetCString(name->constvalue), false, true);
	macs = def != NULL && EstCatalogHasPrivilege(def, EST_PRIV_PREDICT) ?
		PredictMacs(def) : -1;
	SPI_finish();
	if (macs < 0)
		PG_RETURN_POINTER(NULL);

	req->startup = 0;
	req->per_tuple = cpu_operator_cost *
		(EST_PREDICT_ROW_OPERATORS + macs / EST_PREDICT_MACS_PER_OPERATOR);
	PG_RETURN_POINTER(req);
}
