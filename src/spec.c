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

#include <float.h>
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
#define EST_DEFAULT_BATCH_SIZE	32
#define EST_DEFAULT_LABEL		"label"

static const int default_hidden[] = {10, 10};

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
	{"momentum", EST_OPT_MOMENTUM},
	{"adagrad", EST_OPT_ADAGRAD},
	{"adam", EST_OPT_ADAM},
	{"rmsprop", EST_OPT_RMSPROP},
	{"ftrl", EST_OPT_FTRL},
	{NULL, 0}
};

static const NamedValue activation_names[] = {
	{"relu", EST_ACT_RELU},
	{"tanh", EST_ACT_TANH},
	{"sigmoid", EST_ACT_SIGMOID},
	{"linear", EST_ACT_LINEAR},
	{"elu", EST_ACT_ELU},
	{"leaky_relu", EST_ACT_LEAKY_RELU},
	{"gelu", EST_ACT_GELU},
	{NULL, 0}
};

static const NamedValue model_type_names[] = {
	{"dnn_classifier", EST_DNN_CLASSIFIER},
	{"dnn_regressor", EST_DNN_REGRESSOR},
	{"linear_classifier", EST_LINEAR_CLASSIFIER},
	{"linear_regressor", EST_LINEAR_REGRESSOR},
	{"dnn_linear_combined_classifier", EST_COMBINED_CLASSIFIER},
	{"dnn_linear_combined_regressor", EST_COMBINED_REGRESSOR},
	{NULL, 0}
};

static const NamedValue reduction_names[] = {
	{"sum_over_batch_size", EST_REDUCE_SUM_OVER_BATCH_SIZE},
	{"sum", EST_REDUCE_SUM},
	{"mean", EST_REDUCE_MEAN},
	{NULL, 0}
};

static const NamedValue feature_kind_names[] = {
	{"numeric", EST_FC_NUMERIC},
	{"bucketized", EST_FC_BUCKETIZED},
	{"vocabulary", EST_FC_VOCABULARY},
	{"identity", EST_FC_IDENTITY},
	{"hash", EST_FC_HASH},
	{"crossed", EST_FC_CROSSED},
	{NULL, 0}
};

static const NamedValue normalizer_names[] = {
	{"zscore", EST_NORM_ZSCORE},
	{"minmax", EST_NORM_MINMAX},
	{"none", EST_NORM_NONE},
	{NULL, 0}
};

static const NamedValue combiner_names[] = {
	{"mean", EST_COMBINER_MEAN},
	{"sum", EST_COMBINER_SUM},
	{"sqrtn", EST_COMBINER_SQRTN},
	{NULL, 0}
};

static const NamedValue representation_names[] = {
	{"dense", EST_INPUT_DENSE},
	{"indicator", EST_INPUT_INDICATOR},
	{"embedding", EST_INPUT_EMBEDDING},
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

/*
 * Lookup returns the value of a name, or raises the error that lists the
 * names the table knows.
 */
static int
Lookup(const NamedValue *table, const char *name, const char *what)
{
	int			value = ValueOf(table, name);

	if (value < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized %s \"%s\"", what, name),
				 errhint("Use %s.", NameList(table))));
	return value;
}

const char *
EstOptimizerName(EstOptimizerKind kind)
{
	return NameOf(optimizer_names, kind, "optimizer");
}

EstOptimizerKind
EstOptimizerFromName(const char *name)
{
	return (EstOptimizerKind) Lookup(optimizer_names, name, "optimizer");
}

const char *
EstModelTypeName(EstModelType type)
{
	return NameOf(model_type_names, type, "model type");
}

EstModelType
EstModelTypeFromName(const char *name)
{
	return (EstModelType) Lookup(model_type_names, name, "model type");
}

EstReduction
EstReductionFromName(const char *name)
{
	return (EstReduction) Lookup(reduction_names, name, "loss_reduction");
}

/* The names of feature columns' settings, as params spell them. */
const char *
EstFeatureKindName(EstFeatureKind kind)
{
	return NameOf(feature_kind_names, kind, "feature column type");
}

EstFeatureKind
EstFeatureKindFromName(const char *name)
{
	return (EstFeatureKind) Lookup(feature_kind_names, name,
								   "feature column type");
}

const char *
EstNormalizerName(EstNormalizer norm)
{
	return NameOf(normalizer_names, norm, "normalizer");
}

EstNormalizer
EstNormalizerFromName(const char *name)
{
	return (EstNormalizer) Lookup(normalizer_names, name, "normalizer");
}

const char *
EstCombinerName(EstCombiner comb)
{
	return NameOf(combiner_names, comb, "combiner");
}

EstCombiner
EstCombinerFromName(const char *name)
{
	return (EstCombiner) Lookup(combiner_names, name, "combiner");
}

const char *
EstRepresentationName(EstInputKind kind)
{
	return NameOf(representation_names, kind, "representation");
}

/*
 * EstModelHead is the head of a model: squared error for regressors, a
 * single sigmoid logit for two classes (as TensorFlow's binary head), a
 * softmax over more.
 */
EstHead
EstModelHead(const EstModelDef *def)
{
	if (EST_IS_REGRESSOR(def->type))
		return EST_HEAD_SQUARED;
	return def->n_classes == 2 ? EST_HEAD_SIGMOID : EST_HEAD_SOFTMAX;
}

/* EstModelOutputs is the number of logits of a model's network. */
int
EstModelOutputs(const EstModelDef *def)
{
	switch (EstModelHead(def))
	{
		case EST_HEAD_SQUARED:
			return def->label_dimension;
		case EST_HEAD_SIGMOID:
			return 1;
		case EST_HEAD_SOFTMAX:
			return def->n_classes;
	}
	elog(ERROR, "unrecognized head");
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
	return (EstActivation) Lookup(activation_names, name, "activation_fn");
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
	if (n == 0 && req->model_type != 0 && EST_IS_LINEAR(req->model_type))
	{
		req->n_hidden = 0;
		return;
	}
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
		req->model_type = EstModelTypeFromName(text_to_cstring(PG_GETARG_TEXT_PP(4)));

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
		/*
		 * the optimizer applies it in float32, where a denormal loses its
		 * digits and 1 / rate is an infinity
		 */
		if (req->learning_rate < FLT_MIN || req->learning_rate > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("learning_rate %g is outside float32's range",
							req->learning_rate),
					 errhint("Training computes in float32: give a value from %g to %g.",
							 (double) FLT_MIN, (double) FLT_MAX)));
	}

	if (!PG_ARGISNULL(10))
		req->optimizer = EstOptimizerFromName(text_to_cstring(PG_GETARG_TEXT_PP(10)));

	if (!PG_ARGISNULL(11))
		req->params = PG_GETARG_JSONB_P(11);
	EstParseCallParams(req->params, &req->opts);

	/* warm_start_from, reset and nowait (0.2.0; 0.1.0 passes 12 arguments) */
	if (PG_NARGS() > 12 && !PG_ARGISNULL(12))
		req->warm_start_from = text_to_cstring(PG_GETARG_TEXT_PP(12));
	if (PG_NARGS() > 13 && !PG_ARGISNULL(13))
		req->reset = PG_GETARG_BOOL(13);
	if (PG_NARGS() > 14 && !PG_ARGISNULL(14))
		req->nowait = PG_GETARG_BOOL(14);
}

/*
 * EstCheckOptionsForType refuses what a model type does not have: hidden
 * layer options on linear models, linear_* parameters on models without a
 * linear part.
 */
void
EstCheckOptionsForType(EstModelType type, const EstTrainRequest *req)
{
	if (EST_IS_LINEAR(type))
	{
		const char *hidden_only = NULL;

		if (req->n_hidden > 0)
			hidden_only = "hidden_units";
		else if (req->opts.activation)
			hidden_only = "activation_fn";
		else if (req->opts.dropout >= 0)
			hidden_only = "dropout";
		else if (req->opts.batch_norm >= 0)
			hidden_only = "batch_norm";
		if (hidden_only != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s applies to hidden layers, and a %s has none",
							hidden_only, EstModelTypeName(type)),
					 errhint("Leave %s out, or use a DNN model type.",
							 hidden_only)));
	}
	if (!EST_IS_COMBINED(type) &&
		(req->opts.linear_optimizer || req->opts.linear_learning_rate > 0 ||
		 req->opts.linear_opt_given))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the linear_* parameters belong to dnn_linear_combined models"),
				 errhint("Use optimizer, learning_rate and the optimizer parameters for a %s.",
						 EstModelTypeName(type))));
}

/*
 * EstCheckHyperparameters refuses optimizer parameters that the optimizer
 * does not have, such as rho for adam.
 */
void
EstCheckHyperparameters(EstOptimizerKind kind, uint32 given, const char *prefix)
{
	uint32		allowed = 0;

	switch (kind)
	{
		case EST_OPT_SGD:
			break;
		case EST_OPT_MOMENTUM:
			allowed = EST_HYPER_MOMENTUM | EST_HYPER_NESTEROV;
			break;
		case EST_OPT_ADAGRAD:
			allowed = EST_HYPER_INITIAL_ACCUMULATOR | EST_HYPER_EPSILON;
			break;
		case EST_OPT_ADAM:
			allowed = EST_HYPER_BETA1 | EST_HYPER_BETA2 | EST_HYPER_EPSILON;
			break;
		case EST_OPT_RMSPROP:
			allowed = EST_HYPER_RHO | EST_HYPER_MOMENTUM |
				EST_HYPER_CENTERED | EST_HYPER_EPSILON;
			break;
		case EST_OPT_FTRL:
			allowed = EST_HYPER_LR_POWER | EST_HYPER_INITIAL_ACCUMULATOR |
				EST_HYPER_L1 | EST_HYPER_L2 | EST_HYPER_L2_SHRINKAGE |
				EST_HYPER_BETA;
			break;
	}
	for (uint32 bit = 1; bit <= EST_HYPER_BETA; bit <<= 1)
		if ((given & bit) && !(allowed & bit))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("parameter \"%s%s\" does not apply to optimizer \"%s\"",
							prefix, EstHyperparameterName(bit),
							EstOptimizerName(kind))));
}

/*
 * EstNewModelDef builds the definition of a new model from the request,
 * filling TensorFlow's defaults: a DNN of {10,10} ReLU units trained by
 * Adagrad, a linear model trained by FTRL.  Features, inputs, classes and
 * the learning rate of FTRL (which depends on the number of feature
 * columns) are set by the caller once the source has been read.
 */
EstModelDef *
EstNewModelDef(const EstTrainRequest *req)
{
	EstModelDef *def = palloc0(sizeof(EstModelDef));

	def->name = req->model;
	def->owner = GetUserId();
	def->type = req->model_type ? req->model_type : EST_DNN_CLASSIFIER;
	def->label = req->label ? req->label : EST_DEFAULT_LABEL;
	if (EST_IS_LINEAR(def->type))
		def->n_hidden = 0;
	else if (req->n_hidden >= 0)
	{
		def->n_hidden = req->n_hidden;
		memcpy(def->hidden, req->hidden, req->n_hidden * sizeof(int));
	}
	else
	{
		def->n_hidden = lengthof(default_hidden);
		memcpy(def->hidden, default_hidden, sizeof(default_hidden));
	}
	def->activation = req->opts.activation ? req->opts.activation : EST_ACT_RELU;
	if (req->optimizer)
		def->optimizer = req->optimizer;
	else
		def->optimizer = EST_IS_LINEAR(def->type) ? EST_OPT_FTRL : EST_OPT_ADAGRAD;
	def->learning_rate = req->learning_rate;	/* 0: the default, later */
	def->batch_size = req->batch_size > 0 ? req->batch_size :
		EST_DEFAULT_BATCH_SIZE;
	def->params = req->params;
	def->global_step = 0;
	return def;
}

/*
 * EstDefaultLearningRate is TensorFlow's: 0.05 for DNN optimizers, and
 * min(0.2, 1 / sqrt(feature columns)) for FTRL on a linear part; other
 * optimizers take Keras' default.
 */
double
EstDefaultLearningRate(EstOptimizerKind kind, bool linear, int n_columns)
{
	EstOptimizer defaults;

	if (linear && kind == EST_OPT_FTRL)
		return Min(0.2, 1.0 / sqrt((double) Max(n_columns, 1)));
	if (kind == EST_OPT_ADAGRAD)
		return 0.05;
	EstOptimizerDefaults(&defaults, kind);
	return defaults.learning_rate;
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

static void
HyperContradiction(const EstModelDef *def, const char *parameter)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" contradicts the optimizer of model \"%s\"",
					parameter, def->name),
			 errhint("Leave %s out to continue training, or drop the model with est_drop_model and train it anew.",
					 parameter)));
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
	const EstOptions *opts = &req->opts;

	if (req->model_type && req->model_type != def->type)
		Contradiction(def, "model_type", Quoted(EstModelTypeName(req->model_type)),
					  Quoted(EstModelTypeName(def->type)));
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
	if (opts->activation && opts->activation != def->activation)
		Contradiction(def, "activation_fn",
					  Quoted(EstActivationName(opts->activation)),
					  Quoted(EstActivationName(def->activation)));
	if (opts->n_classes && opts->n_classes != def->n_classes)
		Contradiction(def, "n_classes", psprintf("%d", opts->n_classes),
					  def->n_classes ? psprintf("%d", def->n_classes) : "none");
	if (opts->label_dimension && opts->label_dimension != def->label_dimension)
		Contradiction(def, "label_dimension",
					  psprintf("%d", opts->label_dimension),
					  def->label_dimension ?
					  psprintf("%d", def->label_dimension) : "none");
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
	{
		static const char *const fixed[] = {
			"feature_columns", "label_vocabulary", "weight_column"
		};

		for (size_t i = 0; i < lengthof(fixed); i++)
			if (!EstParamsSameValue(req->params, def->params, fixed[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s contradicts model \"%s\"", fixed[i], def->name),
						 errhint("Leave %s out to continue training, or drop the model with est_drop_model and train it anew.",
								 fixed[i])));
	}
}

/*
 * EstCheckCompatibleNetwork raises an error when params ask for another
 * network or optimizer than the model's checkpoint holds.
 */
void
EstCheckCompatibleNetwork(const EstModelDef *def, const EstOptions *opts,
						  const EstCheckpoint *ckpt)
{
	const char *hyper;

	if (opts->dropout >= 0 && opts->dropout != ckpt->net.dropout)
		Contradiction(def, "dropout", psprintf("%g", opts->dropout),
					  psprintf("%g", ckpt->net.dropout));
	if (opts->batch_norm >= 0 && opts->batch_norm != (ckpt->net.batch_norm != 0))
		Contradiction(def, "batch_norm", opts->batch_norm ? "true" : "false",
					  ckpt->net.batch_norm ? "true" : "false");
	if (opts->reduction && opts->reduction != ckpt->net.reduction)
		Contradiction(def, "loss_reduction",
					  Quoted(NameOf(reduction_names, opts->reduction, "reduction")),
					  Quoted(NameOf(reduction_names, ckpt->net.reduction, "reduction")));
	hyper = EstHyperparametersDiffer(&ckpt->opt, &opts->opt, opts->opt_given);
	if (hyper != NULL)
		HyperContradiction(def, hyper);
	if (opts->linear_optimizer && ckpt->net.n_linear_inputs > 0 &&
		opts->linear_optimizer != ckpt->opt_linear.kind)
		Contradiction(def, "linear_optimizer",
					  Quoted(EstOptimizerName(opts->linear_optimizer)),
					  Quoted(EstOptimizerName(ckpt->opt_linear.kind)));
	if (ckpt->net.n_linear_inputs > 0)
	{
		hyper = EstHyperparametersDiffer(&ckpt->opt_linear, &opts->linear_opt,
										 opts->linear_opt_given);
		if (hyper != NULL)
			HyperContradiction(def, psprintf("linear_%s", hyper));
	}
}
