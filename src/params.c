/*-------------------------------------------------------------------------
 *
 * params.c
 *	  The params jsonb of est_train: TensorFlow's names for everything that
 *	  has no SQL argument of its own.
 *
 * Keys are of two kinds.  Those that say what a model is (n_classes,
 * activation_fn, dropout, batch_norm, the optimizer's hyperparameters, the
 * wide & deep column lists...) are read when the model is created and are
 * fixed after; a later call may repeat them but not change them.  Those
 * that say how a call trains (seed, logging, checkpoints kept, clipping,
 * regularisation, the learning-rate schedule, evaluation and early
 * stopping) apply to the call that gives them; a call that leaves one out
 * gets the value of the model's creating call, or the default.  An unknown
 * key is an error, so that a misspelt parameter is never ignored.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>
#include <stddef.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "estimator.h"

static const char *const known_params[] = {
	"seed", "log_step_count_steps", "keep_checkpoint_max", "clip_norm",
	"l1_regularization", "l2_regularization", "learning_rate_schedule",
	"eval_fraction", "eval_source", "eval_every_steps", "early_stopping",
	"linear_learning_rate", "save_checkpoints_steps", "promote_if",
	"n_classes", "label_dimension", "activation_fn", "dropout", "batch_norm",
	"loss_reduction", "linear_feature_columns", "dnn_feature_columns",
	"linear_optimizer", "beta_1", "beta_2", "epsilon",
	"initial_accumulator_value", "momentum", "nesterov", "rho", "centered",
	"learning_rate_power", "l1_regularization_strength",
	"l2_regularization_strength", "l2_shrinkage_regularization_strength",
	"beta", "linear_l1_regularization_strength",
	"linear_l2_regularization_strength", "feature_columns",
	"label_vocabulary", "weight_column", "parallel_workers", NULL
};

static void
Invalid(const char *key, const char *must)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("parameter \"%s\" must be %s", key, must)));
}

/*
 * NextKey steps an iterator over a JSON object to its next key, which it
 * returns (NULL at the end), with the key's value in *value.
 */
static char *
NextKey(JsonbIterator **it, JsonbValue *value)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, value, true)) != WJB_DONE)
	{
		char	   *key;

		if (tok != WJB_KEY)
			continue;
		key = pnstrdup(value->val.string.val, value->val.string.len);
		JsonbIteratorNext(it, value, true);
		return key;
	}
	return NULL;
}

/*
 * NumberDouble returns a JSON number as a double, or an infinity when it is
 * beyond the range of double precision, so that the checks below name the
 * parameter instead of the conversion failing.
 */
static double
NumberDouble(const JsonbValue *v)
{
	return DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
											  NumericGetDatum(v->val.numeric)));
}

/* NumberText spells a JSON number for a message. */
static char *
NumberText(const JsonbValue *v, double d)
{
	if (isinf(d))
		return numeric_out_sci(v->val.numeric, 0);
	return psprintf("%g", d);
}

static double
NumberValue(const JsonbValue *v, const char *key)
{
	double		d;

	if (v->type != jbvNumeric)
		Invalid(key, "a number");
	d = NumberDouble(v);
	if (isnan(d) || isinf(d))
		Invalid(key, "a finite number");
	return d;
}

/*
 * WholeValue returns a JSON number that must be a whole number in [min,
 * max], or raises an error naming the parameter.
 */
static int64
WholeValue(const JsonbValue *v, const char *key, int64 min, int64 max)
{
	double		d;

	if (v->type != jbvNumeric)
		Invalid(key, "a number");
	d = NumberDouble(v);
	/* (double) PG_INT64_MAX rounds up to 2^63: compare near it exactly */
	if (isnan(d) || d != floor(d) || d < (double) min || d > (double) max ||
		(d >= 0x1p63 &&
		 DatumGetInt32(DirectFunctionCall2(numeric_cmp,
										   NumericGetDatum(v->val.numeric),
										   NumericGetDatum(int64_to_numeric(max)))) > 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be a whole number between "
						INT64_FORMAT " and " INT64_FORMAT, key, min, max)));
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/*
 * DoubleRangeValue returns a number in [min, max] (or (min, max] if open),
 * for a parameter that stays in double precision.
 */
static double
DoubleRangeValue(const JsonbValue *v, const char *key, double min,
				 bool open_min, double max, bool open_max)
{
	double		d;

	if (v->type != jbvNumeric)
		Invalid(key, "a number");
	d = NumberDouble(v);
	if ((open_min ? d <= min : d < min) || (open_max ? d >= max : d > max))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be %s %g and %s %g, not %s",
						key, open_min ? "above" : "at least", min,
						open_max ? "below" : "at most", max,
						NumberText(v, d))));
	/* a positive value that float32, the weights' type, makes 0 */
	if (open_min && min == 0 && (float) d == 0.0f)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be above 0 in float32, not %s",
						key, NumberText(v, d)),
				 errhint("Training computes in float32, whose smallest positive value is %g.",
						 (double) FLT_TRUE_MIN)));
	return d;
}

/*
 * RangeValue returns a number in [min, max] (or (min, max] if open) for a
 * parameter that training applies in float32: a value other than 0 that
 * is below float32's smallest normal number is refused, since float32
 * holds it as a denormal (or 0) that loses its precision, makes the
 * arithmetic slow, and turns 1/x into an infinity: a learning rate or an
 * epsilon of 1e-40 trained nothing or diverged.  Only a call's params
 * (strict) are checked so: a model stored before the check still loads.
 */
static double
RangeValue(const JsonbValue *v, const char *key, double min, bool open_min,
		   double max, bool open_max, bool strict)
{
	double		d = DoubleRangeValue(v, key, min, open_min, max, open_max);

	if (strict && d != 0.0 && fabs(d) < FLT_MIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must be %sat least %g and %s %g, not %s",
						key, open_min ? "" : "0, or ", (double) FLT_MIN,
						open_max ? "below" : "at most", max,
						NumberText(v, d)),
				 errhint("Training computes in float32, whose smallest normal positive number is %g.",
						 (double) FLT_MIN)));
	return d;
}

static char *
StringValue(const JsonbValue *v, const char *key)
{
	if (v->type != jbvString)
		Invalid(key, "a string");
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static bool
BoolValue(const JsonbValue *v, const char *key)
{
	if (v->type != jbvBool)
		Invalid(key, "true or false");
	return v->val.boolean;
}

/*
 * ColumnList reads an array of column names (a nested container of the
 * iterator's current value).
 */
static void
ColumnList(JsonbValue *v, const char *key, char ***names, int *n)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	int			count = 0;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		Invalid(key, "an array of column names");
	*names = palloc(Max(JsonContainerSize(v->val.binary.data), 1) *
					sizeof(char *));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type != jbvString)
			Invalid(key, "an array of column names");
		(*names)[count] = pnstrdup(elem.val.string.val, elem.val.string.len);
		for (int i = 0; i < count; i++)
			if (strcmp((*names)[i], (*names)[count]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" is listed more than once in \"%s\"",
								(*names)[count], key)));
		count++;
	}
	if (count == 0)
		Invalid(key, "a non-empty array of column names");
	*n = count;
}

static void
ParseSchedule(JsonbValue *v, EstOptions *opts, bool strict)
{
	JsonbIterator *it;
	JsonbValue	kv;
	char	   *k;
	EstSchedule *s = &opts->schedule;
	const char *key = "learning_rate_schedule";
	char	   *type = NULL;
	const char *inapplicable = NULL;
	bool		given_steps = false;
	bool		given_rate = false;
	bool		given_staircase = false;
	bool		given_alpha = false;

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		Invalid(key, "an object such as {\"type\": \"exponential_decay\", \"decay_steps\": 1000, \"decay_rate\": 0.96}");
	memset(s, 0, sizeof(*s));
	it = JsonbIteratorInit(v->val.binary.data);
	while ((k = NextKey(&it, &kv)) != NULL)
	{
		if (strcmp(k, "type") == 0)
		{
			type = StringValue(&kv, "learning_rate_schedule.type");
			if (strcmp(type, "constant") == 0)
				s->kind = EST_SCHED_CONSTANT;
			else if (strcmp(type, "exponential_decay") == 0)
				s->kind = EST_SCHED_EXPONENTIAL;
			else if (strcmp(type, "step") == 0)
				s->kind = EST_SCHED_STEP;
			else if (strcmp(type, "cosine") == 0)
				s->kind = EST_SCHED_COSINE;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unrecognized learning rate schedule \"%s\"", type),
						 errhint("Use \"constant\", \"exponential_decay\", \"step\" or \"cosine\".")));
		}
		else if (strcmp(k, "decay_steps") == 0)
		{
			s->decay_steps = WholeValue(&kv, "learning_rate_schedule.decay_steps",
										1, PG_INT64_MAX);
			given_steps = true;
		}
		else if (strcmp(k, "decay_rate") == 0)
		{
			s->decay_rate = RangeValue(&kv, "learning_rate_schedule.decay_rate",
									   0, true, 1e6, false, strict);
			given_rate = true;
		}
		else if (strcmp(k, "staircase") == 0)
		{
			s->staircase = BoolValue(&kv, "learning_rate_schedule.staircase");
			given_staircase = true;
		}
		else if (strcmp(k, "alpha") == 0)
		{
			s->alpha = RangeValue(&kv, "learning_rate_schedule.alpha",
								  0, false, 1, false, strict);
			given_alpha = true;
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized key \"%s\" in learning_rate_schedule", k),
					 errhint("Known keys are: type, decay_steps, decay_rate, staircase, alpha.")));
	}
	if (s->kind == 0)
		Invalid("learning_rate_schedule.type", "given");

	/*
	 * A key that this type of schedule does not read is never ignored in
	 * a call's params (stored params of models created before this check
	 * may still hold one).
	 */
	if (given_steps && s->kind == EST_SCHED_CONSTANT)
		inapplicable = "decay_steps";
	else if (given_rate && (s->kind == EST_SCHED_CONSTANT ||
							s->kind == EST_SCHED_COSINE))
		inapplicable = "decay_rate";
	else if (given_staircase && s->kind != EST_SCHED_EXPONENTIAL)
		inapplicable = "staircase";
	else if (given_alpha && s->kind != EST_SCHED_COSINE)
		inapplicable = "alpha";
	if (strict && inapplicable != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key \"%s\" does not apply to learning rate schedule \"%s\"",
						inapplicable, type),
				 errhint("Schedule \"%s\" reads %s.", type,
						 s->kind == EST_SCHED_CONSTANT ? "no other key" :
						 s->kind == EST_SCHED_EXPONENTIAL ?
						 "decay_steps, decay_rate and staircase" :
						 s->kind == EST_SCHED_STEP ?
						 "decay_steps and decay_rate" :
						 "decay_steps and alpha")));
	if (s->kind != EST_SCHED_CONSTANT && s->decay_steps == 0)
		Invalid("learning_rate_schedule.decay_steps", "given for this schedule");
	if ((s->kind == EST_SCHED_EXPONENTIAL || s->kind == EST_SCHED_STEP) &&
		s->decay_rate == 0)
		Invalid("learning_rate_schedule.decay_rate", "given for this schedule");
	opts->has_schedule = true;
}

static void
ParseEarlyStopping(JsonbValue *v, EstOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	kv;
	char	   *k;
	const char *key = "early_stopping";

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		Invalid(key, "an object such as {\"metric\": \"loss\", \"patience\": 5}");
	opts->es_metric = "loss";
	opts->es_patience = 5;
	opts->es_min_delta = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((k = NextKey(&it, &kv)) != NULL)
	{
		if (strcmp(k, "metric") == 0)
			opts->es_metric = StringValue(&kv, "early_stopping.metric");
		else if (strcmp(k, "patience") == 0)
			opts->es_patience = (int32) WholeValue(&kv, "early_stopping.patience",
												   1, 1000000);
		else if (strcmp(k, "min_delta") == 0)
			opts->es_min_delta = DoubleRangeValue(&kv, "early_stopping.min_delta",
												  0, false, 1e300, false);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized key \"%s\" in early_stopping", k),
					 errhint("Known keys are: metric, patience, min_delta.")));
	}
	opts->has_early_stopping = true;
}

/*
 * ParsePromoteIf reads the promotion gate of a call: which metric decides,
 * on which rows ("holdout": the call's evaluation rows, or a relation or
 * query), and by how much the new checkpoint may trail the serving one.
 */
static void
ParsePromoteIf(JsonbValue *v, EstOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	kv;
	char	   *k;
	const char *key = "promote_if";

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		Invalid(key, "an object such as {\"metric\": \"accuracy\", \"source\": \"holdout\"}");
	opts->promote_metric = NULL;
	opts->promote_source = "holdout";
	opts->promote_min_delta = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((k = NextKey(&it, &kv)) != NULL)
	{
		if (strcmp(k, "metric") == 0)
			opts->promote_metric = StringValue(&kv, "promote_if.metric");
		else if (strcmp(k, "source") == 0)
			opts->promote_source = StringValue(&kv, "promote_if.source");
		else if (strcmp(k, "min_delta") == 0)
			opts->promote_min_delta = DoubleRangeValue(&kv, "promote_if.min_delta",
													   -1e300, false, 1e300, false);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized key \"%s\" in promote_if", k),
					 errhint("Known keys are: metric, source, min_delta.")));
	}
	if (opts->promote_metric == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"promote_if\" must name a metric"),
				 errhint("Write promote_if as {\"metric\": \"accuracy\", \"source\": \"holdout\"}.")));
	opts->has_promote_if = true;
}

/*
 * The optimizer's hyperparameters: their keys (Keras' and TensorFlow's
 * names), their bits in EstOptions.opt_given, where they live in an
 * EstOptimizer, and their ranges.  Parsing, applying and comparing them all
 * read this table.
 */
typedef struct Hyperparameter
{
	const char *key;
	uint32		bit;
	size_t		offset;			/* of a double, or an int with flag */
	bool		flag;			/* true or false */
	bool		linear;			/* also "linear_" + key, for wide & deep */
	double		min;
	bool		open_min;
	double		max;
	bool		open_max;
} Hyperparameter;

static const Hyperparameter hyperparameters[] = {
	{"beta_1", EST_HYPER_BETA1, offsetof(EstOptimizer, beta1), false, false, 0, false, 1, true},
	{"beta_2", EST_HYPER_BETA2, offsetof(EstOptimizer, beta2), false, false, 0, false, 1, true},
	{"epsilon", EST_HYPER_EPSILON, offsetof(EstOptimizer, epsilon), false, false, 0, true, 1, false},
	{"initial_accumulator_value", EST_HYPER_INITIAL_ACCUMULATOR, offsetof(EstOptimizer, initial_accumulator), false, false, 0, false, 1e6, false},
	{"momentum", EST_HYPER_MOMENTUM, offsetof(EstOptimizer, momentum), false, false, 0, false, 1, true},
	{"nesterov", EST_HYPER_NESTEROV, offsetof(EstOptimizer, nesterov), true, false, 0, false, 1, false},
	{"rho", EST_HYPER_RHO, offsetof(EstOptimizer, rho), false, false, 0, false, 1, true},
	{"centered", EST_HYPER_CENTERED, offsetof(EstOptimizer, centered), true, false, 0, false, 1, false},
	{"learning_rate_power", EST_HYPER_LR_POWER, offsetof(EstOptimizer, lr_power), false, false, -1e6, false, 0, false},
	{"l1_regularization_strength", EST_HYPER_L1, offsetof(EstOptimizer, l1), false, true, 0, false, 1e6, false},
	{"l2_regularization_strength", EST_HYPER_L2, offsetof(EstOptimizer, l2), false, true, 0, false, 1e6, false},
	{"l2_shrinkage_regularization_strength", EST_HYPER_L2_SHRINKAGE, offsetof(EstOptimizer, l2_shrinkage), false, false, 0, false, 1e6, false},
	{"beta", EST_HYPER_BETA, offsetof(EstOptimizer, beta), false, false, 0, false, 1e6, false}
};

static double *
RealField(EstOptimizer *opt, const Hyperparameter *h)
{
	return (double *) ((char *) opt + h->offset);
}

static int *
FlagField(EstOptimizer *opt, const Hyperparameter *h)
{
	return (int *) ((char *) opt + h->offset);
}

/*
 * ParseHyperparameter stores the value of key when it names a
 * hyperparameter (or, with the prefix "linear_", one of the linear part's)
 * and returns whether it did; strict as for RangeValue.
 */
static bool
ParseHyperparameter(const char *key, const JsonbValue *v, EstOptimizer *opt,
					uint32 *given, EstOptimizer *linear_opt,
					uint32 *linear_given, bool strict)
{
	for (size_t i = 0; i < lengthof(hyperparameters); i++)
	{
		const Hyperparameter *h = &hyperparameters[i];
		EstOptimizer *target = opt;
		uint32	   *bits = given;

		if (strcmp(key, h->key) != 0)
		{
			if (!h->linear || strncmp(key, "linear_", 7) != 0 ||
				strcmp(key + 7, h->key) != 0)
				continue;
			target = linear_opt;
			bits = linear_given;
		}
		if (h->flag)
			*FlagField(target, h) = BoolValue(v, key) ? 1 : 0;
		else if (h->min < 0)
			/* learning_rate_power, the one that ftrl applies in double */
			*RealField(target, h) = DoubleRangeValue(v, key, h->min,
													 h->open_min, h->max,
													 h->open_max);
		else
			*RealField(target, h) = RangeValue(v, key, h->min, h->open_min,
											   h->max, h->open_max, strict);
		*bits |= h->bit;
		return true;
	}
	return false;
}

/*
 * Utf8String returns a JSON string converted to UTF-8, the encoding of
 * everything the core hashes and compares; in an SQL_ASCII database, whose
 * values the encoders take as the bytes they are, the bytes as they are.
 */
static char *
Utf8String(const JsonbValue *v, const char *key)
{
	char	   *s = StringValue(v, key);

	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return s;
	return (char *) pg_server_to_any(s, strlen(s), PG_UTF8);
}

/*
 * ElementCount checks that a value is an array and returns its length.
 */
static int
ElementCount(const JsonbValue *v, const char *key, const char *must)
{
	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		Invalid(key, must);
	return JsonContainerSize(v->val.binary.data);
}

/*
 * NextElement returns the next element of an array iterator, or false.
 */
static bool
NextElement(JsonbIterator **it, JsonbValue *elem)
{
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(it, elem, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			return true;
	return false;
}

static const char *const feature_keys[] = {
	"type", "name", "key", "keys", "shape", "default_value", "normalizer",
	"boundaries", "vocabulary", "num_oov_buckets", "max_size",
	"num_buckets", "hash_bucket_size", "embedding_dimension", "combiner",
	"max_values", NULL
};

static void
UnknownFeatureKey(const char *k, int pos)
{
	StringInfoData known;

	initStringInfo(&known);
	for (int i = 0; feature_keys[i] != NULL; i++)
		appendStringInfo(&known, "%s%s", i > 0 ? ", " : "", feature_keys[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized key \"%s\" in feature column %d", k, pos),
			 errhint("Known keys are: %s.", known.data)));
}

/*
 * FeatureKeyAllowed tells whether a key belongs to a kind of feature
 * column, so that a key another kind would read is never ignored.
 */
static bool
FeatureKeyAllowed(EstFeatureKind kind, const char *k)
{
	bool		categorical = kind != EST_FC_NUMERIC;

	if (strcmp(k, "type") == 0 || strcmp(k, "name") == 0)
		return true;
	if (strcmp(k, "key") == 0)
		return kind != EST_FC_CROSSED;
	if (strcmp(k, "keys") == 0 || strcmp(k, "hash_bucket_size") == 0)
		return kind == EST_FC_CROSSED || (kind == EST_FC_HASH &&
										  strcmp(k, "hash_bucket_size") == 0);
	if (strcmp(k, "shape") == 0 || strcmp(k, "normalizer") == 0)
		return kind == EST_FC_NUMERIC;
	if (strcmp(k, "default_value") == 0)
		return kind == EST_FC_NUMERIC || kind == EST_FC_IDENTITY;
	if (strcmp(k, "boundaries") == 0)
		return kind == EST_FC_BUCKETIZED;
	if (strcmp(k, "vocabulary") == 0 || strcmp(k, "num_oov_buckets") == 0 ||
		strcmp(k, "max_size") == 0)
		return kind == EST_FC_VOCABULARY;
	if (strcmp(k, "num_buckets") == 0)
		return kind == EST_FC_IDENTITY;
	if (strcmp(k, "max_values") == 0)
		return kind == EST_FC_VOCABULARY || kind == EST_FC_HASH;
	if (strcmp(k, "embedding_dimension") == 0 || strcmp(k, "combiner") == 0)
		return categorical;
	return false;
}

/*
 * ParseFeatureColumn reads one object of the feature_columns list into a
 * declaration for the core (tf.feature_column's names and defaults, except
 * that a numeric column is z-scored unless it says otherwise and a
 * vocabulary has one OOV bucket).
 */
static void
ParseFeatureColumn(JsonbValue *v, int pos, EstFeatureColumn *fc, bool strict)
{
	JsonbIterator *it;
	JsonbValue	kv;
	JsonbIteratorToken tok;
	char	   *k;
	char	   *type = NULL;
	bool		has_default = false;
	bool		has_combiner = false;
	char		what[64];

	if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature column %d must be a JSON object", pos),
				 errhint("Write it as {\"type\": \"numeric\", \"key\": \"age\"}.")));

	/* the type first: it says which keys are allowed */
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &kv, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY && kv.val.string.len == 4 &&
			strncmp(kv.val.string.val, "type", 4) == 0)
		{
			JsonbIteratorNext(&it, &kv, true);
			type = StringValue(&kv, "feature_columns.type");
		}
	}
	if (type == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature column %d has no \"type\"", pos),
				 errhint("Use one of \"numeric\", \"bucketized\", \"vocabulary\", \"identity\", \"hash\" or \"crossed\".")));
	memset(fc, 0, sizeof(*fc));
	fc->kind = EstFeatureKindFromName(type);

	fc->shape = 1;
	fc->normalizer = EST_NORM_ZSCORE;
	fc->null_policy = EST_NULL_ERROR;
	fc->num_oov = 1;
	fc->default_id = -1;
	fc->representation = fc->kind == EST_FC_NUMERIC ? EST_INPUT_DENSE :
		EST_INPUT_INDICATOR;
	fc->learned = fc->kind == EST_FC_VOCABULARY;

	it = JsonbIteratorInit(v->val.binary.data);
	while ((k = NextKey(&it, &kv)) != NULL)
	{
		snprintf(what, sizeof(what), "feature_columns[%d].%s", pos, k);
		if (!FeatureKeyAllowed(fc->kind, k))
		{
			bool		known = false;

			for (int i = 0; feature_keys[i] != NULL; i++)
				known |= strcmp(feature_keys[i], k) == 0;
			/* stored params of older models may hold one; it was ignored */
			if (!known && !strict)
				continue;
			if (!known)
				UnknownFeatureKey(k, pos);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key \"%s\" does not apply to a %s feature column",
							k, type)));
		}
		if (strcmp(k, "type") == 0)
			continue;
		else if (strcmp(k, "name") == 0)
			fc->name = StringValue(&kv, what);
		else if (strcmp(k, "key") == 0)
		{
			fc->n_keys = 1;
			fc->keys = palloc(sizeof(char *));
			fc->keys[0] = StringValue(&kv, what);
		}
		else if (strcmp(k, "keys") == 0)
		{
			JsonbIterator *ai;
			JsonbValue	elem;
			int			n = ElementCount(&kv, what, "an array of column names");

			if (n < 2 || n > 8)
				Invalid(what, "an array of 2 to 8 column names");
			fc->keys = palloc(n * sizeof(char *));
			ai = JsonbIteratorInit(kv.val.binary.data);
			while (NextElement(&ai, &elem))
				fc->keys[fc->n_keys++] = StringValue(&elem, what);
		}
		else if (strcmp(k, "shape") == 0)
			fc->shape = (int) WholeValue(&kv, what, 1, EST_MAX_UNITS);
		else if (strcmp(k, "default_value") == 0)
		{
			has_default = true;
			if (fc->kind == EST_FC_IDENTITY)
				fc->default_id = WholeValue(&kv, what, 0, EST_MAX_BUCKETS - 1);
			else
			{
				fc->default_value = NumberValue(&kv, what);
				fc->null_policy = EST_NULL_DEFAULT;
			}
		}
		else if (strcmp(k, "normalizer") == 0)
			fc->normalizer = EstNormalizerFromName(StringValue(&kv, what));
		else if (strcmp(k, "boundaries") == 0)
		{
			JsonbIterator *ai;
			JsonbValue	elem;
			int			n = ElementCount(&kv, what, "an array of numbers");

			if (n < 1)
				Invalid(what, "a non-empty array of numbers");
			fc->boundaries = palloc(n * sizeof(double));
			ai = JsonbIteratorInit(kv.val.binary.data);
			while (NextElement(&ai, &elem))
				fc->boundaries[fc->n_boundaries++] = NumberValue(&elem, what);
		}
		else if (strcmp(k, "vocabulary") == 0)
		{
			JsonbIterator *ai;
			JsonbValue	elem;
			int			n = ElementCount(&kv, what, "an array of strings");

			if (n < 1)
				Invalid(what, "a non-empty array of strings");
			if (n > EST_MAX_VOCABULARY)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("vocabulary of feature column %d has too many entries", pos),
						 errdetail("It has %d entries, a vocabulary at most %d.",
								   n, EST_MAX_VOCABULARY)));
			fc->vocab = palloc(n * sizeof(char *));
			ai = JsonbIteratorInit(kv.val.binary.data);
			while (NextElement(&ai, &elem))
				fc->vocab[fc->vocab_size++] = Utf8String(&elem, what);
			fc->learned = 0;
		}
		else if (strcmp(k, "num_oov_buckets") == 0)
			fc->num_oov = (int) WholeValue(&kv, what, 0, 1 << 20);
		else if (strcmp(k, "max_size") == 0)
			fc->max_size = (int) WholeValue(&kv, what, 1, EST_MAX_VOCABULARY);
		else if (strcmp(k, "num_buckets") == 0 ||
				 strcmp(k, "hash_bucket_size") == 0)
			fc->num_buckets = WholeValue(&kv, what, 1, EST_MAX_BUCKETS);
		else if (strcmp(k, "embedding_dimension") == 0)
		{
			fc->representation = EST_INPUT_EMBEDDING;
			fc->dimension = (int) WholeValue(&kv, what, 1, EST_MAX_EMBEDDING);
		}
		else if (strcmp(k, "combiner") == 0)
		{
			has_combiner = true;
			fc->combiner = EstCombinerFromName(StringValue(&kv, what));
		}
		else if (strcmp(k, "max_values") == 0)
			fc->max_values = (int) WholeValue(&kv, what, 1, EST_MAX_MULTI);
	}

	snprintf(what, sizeof(what), "feature_columns[%d]", pos);
	if (fc->n_keys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature column %d has no source column", pos),
				 errhint(fc->kind == EST_FC_CROSSED ?
						 "Name the crossed columns with \"keys\": [\"a\", \"b\"]." :
						 "Name the source column with \"key\": \"column\".")));
	if (fc->kind == EST_FC_BUCKETIZED && fc->n_boundaries == 0)
		Invalid(psprintf("%s.boundaries", what), "given for a bucketized column");
	if ((fc->kind == EST_FC_IDENTITY || fc->kind == EST_FC_HASH ||
		 fc->kind == EST_FC_CROSSED) && fc->num_buckets == 0)
		Invalid(psprintf("%s.%s", what, fc->kind == EST_FC_IDENTITY ?
						 "num_buckets" : "hash_bucket_size"),
				"given for this column type");
	if (fc->kind == EST_FC_VOCABULARY && !fc->learned && fc->max_size > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_size applies to a learned vocabulary"),
				 errhint("Leave out \"vocabulary\" to learn it from the training rows, or \"max_size\" to use the given one.")));
	if (has_combiner && fc->representation != EST_INPUT_EMBEDDING)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("combiner applies to embeddings"),
				 errhint("Set \"embedding_dimension\" too.")));
	if (fc->representation == EST_INPUT_EMBEDDING && fc->combiner == 0)
		fc->combiner = EST_COMBINER_MEAN;
	(void) has_default;

	/* TensorFlow's names: age, age_bucketized, city_X_weekday... */
	if (fc->name == NULL)
	{
		StringInfoData name;

		initStringInfo(&name);
		for (int i = 0; i < fc->n_keys; i++)
			appendStringInfo(&name, "%s%s", i > 0 ? "_X_" : "", fc->keys[i]);
		if (fc->kind == EST_FC_BUCKETIZED)
			appendStringInfoString(&name, "_bucketized");
		if (fc->representation == EST_INPUT_EMBEDDING)
			appendStringInfoString(&name, "_embedding");
		fc->name = name.data;
	}
}

/*
 * ParseFeatureColumns reads the feature_columns list.
 */
static void
ParseFeatureColumns(JsonbValue *v, EstOptions *opts, bool strict)
{
	JsonbIterator *it;
	JsonbValue	elem;
	int			n = ElementCount(v, "feature_columns",
								 "an array of feature column objects");

	if (n < 1)
		Invalid("feature_columns", "a non-empty array of feature column objects");
	if (n > EST_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many feature columns"),
				 errdetail("params declare %d feature columns, a model has at most %d.",
						   n, EST_MAX_FEATURES)));
	opts->feature_columns = palloc0(n * sizeof(EstFeatureColumn));
	opts->n_feature_columns = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while (NextElement(&it, &elem))
	{
		EstFeatureColumn *fc = &opts->feature_columns[opts->n_feature_columns];

		ParseFeatureColumn(&elem, opts->n_feature_columns + 1, fc, strict);
		for (int i = 0; i < opts->n_feature_columns; i++)
			if (strcmp(opts->feature_columns[i].name, fc->name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_OBJECT),
						 errmsg("feature column \"%s\" is declared more than once",
								fc->name),
						 errhint("Give one of them another \"name\".")));
		opts->n_feature_columns++;
	}
}

/*
 * ParseLabelVocabulary reads label_vocabulary: the class names, in the
 * order of the class ids.
 */
static void
ParseLabelVocabulary(JsonbValue *v, EstOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	elem;
	const char *key = "label_vocabulary";
	int			n = ElementCount(v, key, "an array of strings");

	if (n < 2 || n > EST_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameter \"%s\" must hold between 2 and %d class names",
						key, EST_MAX_CLASSES)));
	opts->label_vocabulary = palloc(n * sizeof(char *));
	opts->n_label_vocabulary = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while (NextElement(&it, &elem))
	{
		char	   *s = StringValue(&elem, key);

		for (int i = 0; i < opts->n_label_vocabulary; i++)
			if (strcmp(opts->label_vocabulary[i], s) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("class \"%s\" appears more than once in label_vocabulary",
								s)));
		opts->label_vocabulary[opts->n_label_vocabulary++] = s;
	}
}

/*
 * EstParamsSameValue tells whether params of a later call repeat key as
 * the stored params have it (or leave it out).
 */
bool
EstParamsSameValue(Jsonb *given, Jsonb *stored, const char *key)
{
	JsonbValue *a;
	JsonbValue *b;
	JsonbValue	k;

	if (given == NULL)
		return true;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	a = findJsonbValueFromContainer(&given->root, JB_FOBJECT, &k);
	if (a == NULL)
		return true;
	b = stored ? findJsonbValueFromContainer(&stored->root, JB_FOBJECT, &k) :
		NULL;
	if (b == NULL || a->type != b->type)
		return false;
	if (a->type == jbvBinary)
		return compareJsonbContainers(a->val.binary.data,
									  b->val.binary.data) == 0;
	if (a->type == jbvString)
		return a->val.string.len == b->val.string.len &&
			memcmp(a->val.string.val, b->val.string.val,
				   a->val.string.len) == 0;
	return false;
}

/*
 * ParseParams checks every key of a params object and stores what it says
 * in opts.  Strict, it also refuses the keys that earlier versions
 * ignored (an unknown key of a categorical feature column, a schedule key
 * that the schedule's type does not read): a call's params are parsed so,
 * the stored params of a model without it, so that older models still load.
 */
static void
ParseParams(Jsonb *params, EstOptions *opts, bool strict)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;

	memset(opts, 0, sizeof(*opts));
	opts->batch_norm = -1;
	opts->n_linear_columns = -1;
	opts->n_dnn_columns = -1;
	opts->l1_regularization = -1;
	opts->parallel_workers = -1;
	opts->l2_regularization = -1;
	opts->dropout = -1;
	opts->n_feature_columns = -1;
	opts->n_label_vocabulary = -1;
	if (params == NULL)
		return;

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

		/* how a call trains */
		if (strcmp(key, "seed") == 0)
		{
			opts->has_seed = true;
			opts->seed = (uint64) WholeValue(&v, key, 0, PG_INT64_MAX);
		}
		else if (strcmp(key, "log_step_count_steps") == 0)
			opts->log_step_count_steps = (int32) WholeValue(&v, key, 1,
															PG_INT32_MAX);
		else if (strcmp(key, "keep_checkpoint_max") == 0)
			opts->keep_checkpoint_max = (int32) WholeValue(&v, key, 1, 1000);
		else if (strcmp(key, "parallel_workers") == 0)
			opts->parallel_workers = (int32) WholeValue(&v, key, 0,
														EST_MAX_PARALLEL_WORKERS);
		else if (strcmp(key, "clip_norm") == 0)
			opts->clip_norm = RangeValue(&v, key, 0, true, 1e30, false,
										 strict);
		else if (strcmp(key, "l1_regularization") == 0)
			opts->l1_regularization = RangeValue(&v, key, 0, false, 1e6,
												 false, strict);
		else if (strcmp(key, "l2_regularization") == 0)
			opts->l2_regularization = RangeValue(&v, key, 0, false, 1e6,
												 false, strict);
		else if (strcmp(key, "learning_rate_schedule") == 0)
			ParseSchedule(&v, opts, strict);
		else if (strcmp(key, "eval_fraction") == 0)
			opts->eval_fraction = DoubleRangeValue(&v, key, 0, true, 1, true);
		else if (strcmp(key, "eval_source") == 0)
			opts->eval_source = StringValue(&v, key);
		else if (strcmp(key, "eval_every_steps") == 0)
			opts->eval_every_steps = WholeValue(&v, key, 1, PG_INT64_MAX);
		else if (strcmp(key, "early_stopping") == 0)
			ParseEarlyStopping(&v, opts);
		else if (strcmp(key, "linear_learning_rate") == 0)
			opts->linear_learning_rate = RangeValue(&v, key, 0, true, 1e6,
													false, strict);
		else if (strcmp(key, "save_checkpoints_steps") == 0)
			opts->save_checkpoints_steps = WholeValue(&v, key, 1,
													  PG_INT64_MAX);
		else if (strcmp(key, "promote_if") == 0)
			ParsePromoteIf(&v, opts);

		/* what a model is */
		else if (strcmp(key, "n_classes") == 0)
			opts->n_classes = (int32) WholeValue(&v, key, 2, EST_MAX_CLASSES);
		else if (strcmp(key, "label_dimension") == 0)
			opts->label_dimension = (int32) WholeValue(&v, key, 1,
													   EST_MAX_CLASSES);
		else if (strcmp(key, "activation_fn") == 0)
			opts->activation = EstActivationFromName(StringValue(&v, key));
		else if (strcmp(key, "dropout") == 0)
			opts->dropout = RangeValue(&v, key, 0, false, 1, true, strict);
		else if (strcmp(key, "batch_norm") == 0)
			opts->batch_norm = BoolValue(&v, key) ? 1 : 0;
		else if (strcmp(key, "loss_reduction") == 0)
			opts->reduction = EstReductionFromName(StringValue(&v, key));
		else if (strcmp(key, "linear_feature_columns") == 0)
			ColumnList(&v, key, &opts->linear_columns,
					   &opts->n_linear_columns);
		else if (strcmp(key, "dnn_feature_columns") == 0)
			ColumnList(&v, key, &opts->dnn_columns, &opts->n_dnn_columns);
		else if (strcmp(key, "linear_optimizer") == 0)
			opts->linear_optimizer = EstOptimizerFromName(StringValue(&v, key));
		else if (strcmp(key, "feature_columns") == 0)
			ParseFeatureColumns(&v, opts, strict);
		else if (strcmp(key, "label_vocabulary") == 0)
			ParseLabelVocabulary(&v, opts);
		else if (strcmp(key, "weight_column") == 0)
			opts->weight_column = StringValue(&v, key);

		/* the optimizer's hyperparameters, with Keras' names */
		else if (ParseHyperparameter(key, &v, &opts->opt, &opts->opt_given,
									 &opts->linear_opt,
									 &opts->linear_opt_given, strict))
			continue;
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
	if (opts->eval_fraction > 0 && opts->eval_source != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("parameters \"eval_fraction\" and \"eval_source\" cannot both be given")));
}

/*
 * EstParseParams parses the params stored with a model.
 */
void
EstParseParams(Jsonb *params, EstOptions *opts)
{
	ParseParams(params, opts, false);
}

/*
 * EstParseCallParams parses the params that a call of est_train gives.
 */
void
EstParseCallParams(Jsonb *params, EstOptions *opts)
{
	ParseParams(params, opts, true);
}

/*
 * EstMergeOptions fills the per-call settings that the call left out from
 * those of the model's creating call.
 */
void
EstMergeOptions(EstOptions *call, const EstOptions *stored)
{
	if (call->log_step_count_steps == 0)
		call->log_step_count_steps = stored->log_step_count_steps;
	if (call->keep_checkpoint_max == 0)
		call->keep_checkpoint_max = stored->keep_checkpoint_max;
	if (call->clip_norm == 0)
		call->clip_norm = stored->clip_norm;
	if (call->l1_regularization < 0)
		call->l1_regularization = stored->l1_regularization;
	if (call->l2_regularization < 0)
		call->l2_regularization = stored->l2_regularization;
	if (!call->has_schedule && stored->has_schedule)
	{
		call->schedule = stored->schedule;
		call->has_schedule = true;
	}
	if (call->eval_fraction == 0 && call->eval_source == NULL)
	{
		call->eval_fraction = stored->eval_fraction;
		call->eval_source = stored->eval_source;
	}
	if (call->eval_every_steps == 0)
		call->eval_every_steps = stored->eval_every_steps;
	if (!call->has_early_stopping && stored->has_early_stopping)
	{
		call->has_early_stopping = true;
		call->es_metric = stored->es_metric;
		call->es_patience = stored->es_patience;
		call->es_min_delta = stored->es_min_delta;
	}
	if (call->linear_learning_rate == 0)
		call->linear_learning_rate = stored->linear_learning_rate;
}

/*
 * EstApplyHyperparameters copies the hyperparameters that params gave
 * onto an optimizer holding its kind's defaults.
 */
void
EstApplyHyperparameters(EstOptimizer *opt, const EstOptimizer *given,
						uint32 mask)
{
	for (size_t i = 0; i < lengthof(hyperparameters); i++)
	{
		const Hyperparameter *h = &hyperparameters[i];

		if (!(mask & h->bit))
			continue;
		if (h->flag)
			*FlagField(opt, h) = *FlagField((EstOptimizer *) given, h);
		else
			*RealField(opt, h) = *RealField((EstOptimizer *) given, h);
	}
}

/*
 * EstHyperparametersDiffer names the first hyperparameter given in mask
 * whose value differs from the optimizer's, or returns NULL.
 */
const char *
EstHyperparametersDiffer(const EstOptimizer *opt, const EstOptimizer *given,
						 uint32 mask)
{
	for (size_t i = 0; i < lengthof(hyperparameters); i++)
	{
		const Hyperparameter *h = &hyperparameters[i];
		EstOptimizer *a = (EstOptimizer *) opt;
		EstOptimizer *b = (EstOptimizer *) given;

		if (!(mask & h->bit))
			continue;
		if (h->flag ? *FlagField(a, h) != *FlagField(b, h) :
			*RealField(a, h) != *RealField(b, h))
			return h->key;
	}
	return NULL;
}

/*
 * EstHyperparameterName is the params key of a hyperparameter bit.
 */
const char *
EstHyperparameterName(uint32 bit)
{
	for (size_t i = 0; i < lengthof(hyperparameters); i++)
		if (hyperparameters[i].bit == bit)
			return hyperparameters[i].key;
	elog(ERROR, "unrecognized hyperparameter: %u", bit);
	return NULL;				/* keep compiler quiet */
}
