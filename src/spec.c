/*-------------------------------------------------------------------------
 *
 * spec.c
 *	  Model definitions: the arguments of est_train and its params jsonb,
 *	  their defaults (TensorFlow's DNNClassifier), validation and errors.
 *
 * A new model takes its architecture from the first est_train call; a
 * later call may change how long and how fast it trains (steps, epochs,
 * batch_size, learning_rate, seed, logging) but not what it is (type,
 * label, features, hidden units, activation, classes, optimizer).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "estimator.h"

/* TensorFlow's DNNClassifier defaults, as in the Iris tutorial. */
#define EST_DEFAULT_MODEL_TYPE	"dnn_classifier"
#define EST_DEFAULT_BATCH_SIZE	32
#define EST_DEFAULT_LABEL		"label"

static const int default_hidden[] = {10, 10};

static const char *const known_params[] = {
	"seed", "log_step_count_steps", "keep_checkpoint_max", "n_classes",
	"activation_fn", NULL
};

/* model types of the contract that this version does not train yet */
static const char *const later_model_types[] = {
	"dnn_regressor", "linear_classifier", "linear_regressor",
	"dnn_linear_combined_classifier", "dnn_linear_combined_regressor", NULL
};

/*
 * EstModelNameArg returns argument argno as a model name, checked: not
 * NULL, not empty, at most EST_MAX_NAME_LEN bytes.
 */
char *
EstModelNameArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *name;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model name must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("model name must not be empty")));
	if (strlen(name) > EST_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("model name \"%s\" is too long", name),
				 errdetail("Model names have at most %d bytes.",
						   EST_MAX_NAME_LEN)));
	return name;
}

/* names of enumerated arguments, as SQL spells them */
typedef struct NamedValue
{
	const char *name;
	int			value;
} NamedValue;

static const NamedValue optimizer_names[] = {
	{"sgd", EST_OPT_SGD},
	{"adagrad", EST_OPT_ADAGRAD},
	{"adam", EST_OPT_ADAM},
	{NULL, 0}
};

/* optimizers of the contract that this version does not have yet */
static const char *const later_optimizers[] = {
	"momentum", "rmsprop", "ftrl", NULL
};

static const NamedValue activation_names[] = {
	{"relu", EST_ACT_RELU},
	{"tanh", EST_ACT_TANH},
	{"sigmoid", EST_ACT_SIGMOID},
	{"linear", EST_ACT_LINEAR},
	{NULL, 0}
};

static const char *
NameOf(const NamedValue *table, int value, const char *what)
{
	for (int i = 0; table[i].name != NULL; i++)
		if (table[i].value == value)
			return table[i].name;
	elog(ERROR, "unrecognized %s: %d", what, value);
	return NULL;				/* keep compiler quiet */
}

/* ValueOf returns the value of a name, or -1 if the table lacks it. */
static int
ValueOf(const NamedValue *table, const char *name)
{
	for (int i = 0; table[i].name != NULL; i++)
		if (strcmp(table[i].name, name) == 0)
			return table[i].value;
	return -1;
}

/* NameList writes the names of a table as: "a", "b" or "c" */
static char *
NameList(const NamedValue *table)
{
	StringInfoData buf;
	int			n = 0;

	while (table[n].name != NULL)
		n++;
	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s\"%s\"",
						 i == 0 ? "" : (i == n - 1 ? " or " : ", "),
						 table[i].name);
	return buf.data;
}

const char *
EstOptimizerName(EstOptimizerKind kind)
{
	return NameOf(optimizer_names, kind, "optimizer");
}

EstOptimizerKind
EstOptimizerFromName(const char *name)
{
	int			kind = ValueOf(optimizer_names, name);

	if (kind >= 0)
		return (EstOptimizerKind) kind;
	for (int i = 0; later_optimizers[i] != NULL; i++)
		if (strcmp(name, later_optimizers[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("optimizer \"%s\" is not supported yet", name),
					 errhint("Use %s.", NameList(optimizer_names))));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized optimizer \"%s\"", name),
			 errhint("Use %s.", NameList(optimizer_names))));
	return 0;					/* keep compiler quiet */
}

const char *
EstActivationName(EstActivation act)
{
	return NameOf(activation_names, act, "activation");
}

EstActivation
EstActivationFromName(const char *name)
{
	int			act = ValueOf(activation_names, name);

	if (act >= 0)
		return (EstActivation) act;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized activation_fn \"%s\"", name),
			 errhint("Use %s.", NameList(activation_names))));
	return 0;					/* keep compiler quiet */
}

/*
 * JsonbIntValue returns a JSON number that must be a whole number in
 * [min, max], or raises an error naming the parameter.
 */
static int64
JsonbIntValue(const JsonbValue *v, const char *key, int64 min, int64 max)
{
	double		d;

	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a number", key)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
										   NumericGetDatum(v->val.numeric)));
	if (isnan(d) || d != floor(d) || d < (double) min || d > (double) max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a whole number between "
						INT64_FORMAT " and " INT64_FORMAT, key, min, max)));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

static char *
JsonbStringValue(const JsonbValue *v, const char *key)
{
	if (v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a string", key)));
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * ParseParams checks every key of the params object and stores the known
 * ones in req.  An unknown key is an error, so that a misspelt parameter
 * is never silently ignored.
 */
static void
ParseParams(Jsonb *params, EstTrainRequest *req)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (!JB_ROOT_IS_OBJECT(params) || JB_ROOT_IS_SCALAR(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("params must be a JSON object"),
				 errhint("Write params as '{\"seed\": 42}'.")));

	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(v.val.string.val, v.val.string.len);
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);

		if (strcmp(key, "seed") == 0)
		{
			req->has_seed = true;
			req->seed = (uint64) JsonbIntValue(&v, key, 0, PG_INT64_MAX);
		}
		else if (strcmp(key, "log_step_count_steps") == 0)
			req->log_step_count_steps = (int32) JsonbIntValue(&v, key, 1,
															  PG_INT32_MAX);
		else if (strcmp(key, "keep_checkpoint_max") == 0)
			req->keep_checkpoint_max = (int32) JsonbIntValue(&v, key, 1, 1000);
		else if (strcmp(key, "n_classes") == 0)
			req->n_classes = (int32) JsonbIntValue(&v, key, 2,
												   EST_MAX_CLASSES);
		else if (strcmp(key, "activation_fn") == 0)
			req->activation = EstActivationFromName(JsonbStringValue(&v, key));
		else
		{
			StringInfoData known;

			initStringInfo(&known);
			for (int i = 0; known_params[i] != NULL; i++)
				appendStringInfo(&known, "%s%s", i > 0 ? ", " : "",
								 known_params[i]);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized parameter \"%s\" in params", key),
					 errhint("Known parameters are: %s.", known.data)));
		}
	}
}

/*
 * EstParamsInt reads an integer parameter stored with a model, or dflt.
 */
int32
EstParamsInt(Jsonb *params, const char *key, int32 dflt)
{
	JsonbValue *v;

	if (params == NULL)
		return dflt;
	v = getKeyJsonValueFromContainer(&params->root, key, strlen(key), NULL);
	if (v == NULL || v->type != jbvNumeric)
		return dflt;
	return DatumGetInt32(DirectFunctionCall1(numeric_int4,
											 NumericGetDatum(v->val.numeric)));
}

static void
ParseHiddenUnits(ArrayType *arr, EstTrainRequest *req)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("hidden_units must be a one-dimensional array")));
	deconstruct_array(arr, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &values, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hidden_units must not be empty"),
				 errhint("A DNN needs at least one hidden layer, as in '{10,10}'.")));
	if (n > EST_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many hidden layers: %d", n),
				 errdetail("A network has at most %d hidden layers.",
						   EST_MAX_LAYERS)));
	for (int i = 0; i < n; i++)
	{
		int32		units;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("hidden_units must not contain nulls")));
		units = DatumGetInt32(values[i]);
		if (units < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("hidden layer %d has %d units", i + 1, units),
					 errhint("Every hidden layer needs at least one unit.")));
		if (units > EST_MAX_UNITS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("hidden layer %d has %d units", i + 1, units),
					 errdetail("A layer has at most %d units.", EST_MAX_UNITS)));
		req->hidden[i] = units;
	}
	req->n_hidden = n;
}

static void
ParseFeatureNames(ArrayType *arr, EstTrainRequest *req)
{
	Datum	   *values;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("features must be a one-dimensional array")));
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &values, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must not be empty"),
				 errhint("Pass NULL to use every column except the label.")));
	if (n > EST_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many features: %d", n),
				 errdetail("A model has at most %d feature columns.",
						   EST_MAX_FEATURES)));
	req->features = palloc(n * sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("features must not contain nulls")));
		req->features[i] = TextDatumGetCString(values[i]);
		for (int j = 0; j < i; j++)
			if (strcmp(req->features[i], req->features[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature \"%s\" is listed more than once",
								req->features[i])));
	}
	req->n_features = n;
}

static void
CheckModelType(const char *type)
{
	if (strcmp(type, EST_DEFAULT_MODEL_TYPE) == 0)
		return;
	for (int i = 0; later_model_types[i] != NULL; i++)
		if (strcmp(type, later_model_types[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("model type \"%s\" is not supported yet", type),
					 errhint("Use \"dnn_classifier\".")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized model type \"%s\"", type),
			 errhint("Use \"dnn_classifier\".")));
}

/*
 * EstParseTrainRequest reads and checks every argument of est_train.
 */
void
EstParseTrainRequest(FunctionCallInfo fcinfo, EstTrainRequest *req)
{
	memset(req, 0, sizeof(*req));
	req->n_features = -1;
	req->n_hidden = -1;

	req->model = EstModelNameArg(fcinfo, 0);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Name a table or view, or write a SELECT query.")));
	req->source = text_to_cstring(PG_GETARG_TEXT_PP(1));

	/* NULL: "label" for a new model, the model's label for an existing one */
	if (!PG_ARGISNULL(2))
	{
		req->label = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (req->label[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("label must not be empty"),
					 errhint("Name the column that holds the class id.")));
	}

	if (!PG_ARGISNULL(3))
		ParseFeatureNames(PG_GETARG_ARRAYTYPE_P(3), req);

	if (!PG_ARGISNULL(4))
	{
		req->model_type = text_to_cstring(PG_GETARG_TEXT_PP(4));
		CheckModelType(req->model_type);
	}

	if (!PG_ARGISNULL(5))
		ParseHiddenUnits(PG_GETARG_ARRAYTYPE_P(5), req);

	if (!PG_ARGISNULL(6))
	{
		req->steps = PG_GETARG_INT64(6);
		if (req->steps < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("steps must be positive, not " INT64_FORMAT,
							req->steps)));
	}

	if (!PG_ARGISNULL(7))
	{
		req->epochs = PG_GETARG_INT32(7);
		if (req->epochs < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("epochs must be positive, not %d", req->epochs)));
	}

	if (!PG_ARGISNULL(8))
	{
		req->batch_size = PG_GETARG_INT32(8);
		if (req->batch_size < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("batch_size must be positive, not %d",
							req->batch_size)));
		if (req->batch_size > 65536)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("batch_size %d is too large", req->batch_size),
					 errdetail("A batch has at most %d rows.", 65536)));
	}

	if (!PG_ARGISNULL(9))
	{
		req->learning_rate = PG_GETARG_FLOAT8(9);
		if (!(req->learning_rate > 0) || isinf(req->learning_rate))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("learning_rate must be a positive finite number, not %g",
							req->learning_rate)));
	}

	if (!PG_ARGISNULL(10))
		req->optimizer = EstOptimizerFromName(text_to_cstring(PG_GETARG_TEXT_PP(10)));

	if (!PG_ARGISNULL(11))
	{
		req->params = PG_GETARG_JSONB_P(11);
		ParseParams(req->params, req);
	}
}

/*
 * EstNewModelDef builds the definition of a new model from the request,
 * filling TensorFlow's defaults.  Features, inputs and classes are set by
 * the caller once the source has been read.
 */
EstModelDef *
EstNewModelDef(const EstTrainRequest *req)
{
	EstModelDef *def = palloc0(sizeof(EstModelDef));
	EstOptimizer defaults;

	def->name = req->model;
	def->owner = GetUserId();
	def->model_type = req->model_type ? req->model_type : EST_DEFAULT_MODEL_TYPE;
	def->label = req->label ? req->label : EST_DEFAULT_LABEL;
	if (req->n_hidden >= 0)
	{
		def->n_hidden = req->n_hidden;
		memcpy(def->hidden, req->hidden, req->n_hidden * sizeof(int));
	}
	else
	{
		def->n_hidden = lengthof(default_hidden);
		memcpy(def->hidden, default_hidden, sizeof(default_hidden));
	}
	def->activation = req->activation ? req->activation : EST_ACT_RELU;
	def->optimizer = req->optimizer ? req->optimizer : EST_OPT_ADAGRAD;
	EstOptimizerDefaults(&defaults, def->optimizer);
	def->learning_rate = req->learning_rate > 0 ? req->learning_rate :
		defaults.learning_rate;
	def->batch_size = req->batch_size > 0 ? req->batch_size :
		EST_DEFAULT_BATCH_SIZE;
	def->params = req->params;
	def->global_step = 0;
	return def;
}

static void
Contradiction(const EstModelDef *def, const char *what, const char *given,
			  const char *stored)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s %s contradicts model \"%s\", which has %s %s",
					what, given, def->name, what, stored),
			 errhint("Leave %s out to continue training, or drop the model with est_drop_model and train it anew.",
					 what)));
}

static char *
Quoted(const char *value)
{
	return psprintf("\"%s\"", value);
}

static char *
FormatHidden(const int *hidden, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
		appendStringInfo(&buf, "%s%d", i > 0 ? "," : "", hidden[i]);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * EstCheckCompatible raises an error when a call on an existing model
 * asks for another architecture.
 */
void
EstCheckCompatible(const EstModelDef *def, const EstTrainRequest *req)
{
	if (req->model_type && strcmp(req->model_type, def->model_type) != 0)
		Contradiction(def, "model_type", Quoted(req->model_type),
					  Quoted(def->model_type));
	if (req->label && strcmp(req->label, def->label) != 0)
		Contradiction(def, "label", Quoted(req->label), Quoted(def->label));
	if (req->n_hidden >= 0 &&
		(req->n_hidden != def->n_hidden ||
		 memcmp(req->hidden, def->hidden, def->n_hidden * sizeof(int)) != 0))
		Contradiction(def, "hidden_units",
					  FormatHidden(req->hidden, req->n_hidden),
					  FormatHidden(def->hidden, def->n_hidden));
	if (req->optimizer && req->optimizer != def->optimizer)
		Contradiction(def, "optimizer", Quoted(EstOptimizerName(req->optimizer)),
					  Quoted(EstOptimizerName(def->optimizer)));
	if (req->activation && req->activation != def->activation)
		Contradiction(def, "activation_fn",
					  Quoted(EstActivationName(req->activation)),
					  Quoted(EstActivationName(def->activation)));
	if (req->n_classes && req->n_classes != def->n_classes)
		Contradiction(def, "n_classes", psprintf("%d", req->n_classes),
					  psprintf("%d", def->n_classes));
	if (req->n_features >= 0)
	{
		bool		same = req->n_features == def->n_features;

		for (int i = 0; same && i < def->n_features; i++)
			same = strcmp(req->features[i], def->features[i].name) == 0;
		if (!same)
		{
			StringInfoData given;
			StringInfoData stored;

			initStringInfo(&given);
			initStringInfo(&stored);
			for (int i = 0; i < req->n_features; i++)
				appendStringInfo(&given, "%s%s", i ? "," : "{",
								 quote_identifier(req->features[i]));
			appendStringInfoChar(&given, '}');
			for (int i = 0; i < def->n_features; i++)
				appendStringInfo(&stored, "%s%s", i ? "," : "{",
								 quote_identifier(def->features[i].name));
			appendStringInfoChar(&stored, '}');
			Contradiction(def, "features", given.data, stored.data);
		}
	}
}
