/*-------------------------------------------------------------------------
 *
 * columns.c
 *	  Feature columns on the PostgreSQL side: which source columns a model
 *	  reads, the transform declared in params or inferred from their types,
 *	  and the encoding of rows into the compact rows the network reads.
 *
 * The core (src/core/features.c) does the transforms on plain values;
 * this file turns Datums into those values: numbers into doubles (NaN for
 * a NULL the policy fills), text into UTF-8 strings (so that hashes and
 * vocabularies are the same in every database encoding), booleans into
 * "true" and "false", integers into themselves.  Inference, when params
 * declare no feature_columns:
 *
 *	 numbers			numeric, z-scored, NULLs take the training mean
 *	 boolean			numeric 0/1, not normalised, NULLs take the mean
 *	 real[], float8[]	numeric with the array's shape, as numbers
 *	 text, varchar,		vocabulary learned from the training rows, one OOV
 *	 char, name, enums	bucket, one-hot; above EST_AUTO_HASH_ABOVE distinct
 *						values a hashed embedding (EST_AUTO_HASH_BUCKETS
 *						buckets, dimension EST_AUTO_EMBEDDING)
 *	 text[] and such	the same, multi-hot, up to EST_DEFAULT_MAX_VALUES
 *						values a row
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "estimator.h"

#define EST_AUTO_HASH_ABOVE		100
#define EST_AUTO_HASH_BUCKETS	4096
#define EST_AUTO_EMBEDDING		16
#define EST_DEFAULT_MAX_VALUES	32
#define EST_TOP_VALUES			10

PG_FUNCTION_INFO_V1(est_feature_info);

/*
 * EstClassifyType says how a column of a type can feed the network.  A
 * type that no longer exists (a model's feature whose enum or domain was
 * dropped since it trained) is unsupported, so that the model can still be
 * listed, described and dropped; a source's column then decides its kind.
 */
EstColumnKind
EstClassifyType(Oid type)
{
	Oid			base;
	Oid			elem;

	if (!SearchSysCacheExists1(TYPEOID, ObjectIdGetDatum(type)))
		return EST_COL_UNSUPPORTED;
	base = getBaseType(type);

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return EST_COL_SCALAR;
		case FLOAT4ARRAYOID:
		case FLOAT8ARRAYOID:
			return EST_COL_ARRAY;
		case BOOLOID:
			return EST_COL_BOOL;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
			return EST_COL_TEXT;
		default:
			break;
	}
	if (type_is_enum(base))
		return EST_COL_TEXT;
	elem = get_element_type(base);
	if (OidIsValid(elem))
	{
		elem = getBaseType(elem);
		if (elem == TEXTOID || elem == VARCHAROID || elem == BPCHAROID ||
			elem == NAMEOID || type_is_enum(elem))
			return EST_COL_TEXT_ARRAY;
	}
	return EST_COL_UNSUPPORTED;
}

/* EstIsIntegerType tells whether a base type is smallint, integer or bigint. */
bool
EstIsIntegerType(Oid base)
{
	return base == INT2OID || base == INT4OID || base == INT8OID;
}

/*
 * EstDeclaredSources lists the source columns that declared feature
 * columns read: each key once, in the order of first use.
 */
void
EstDeclaredSources(const EstOptions *opts, EstColumn **features,
				   int *n_features)
{
	int			cap = 0;
	int			n = 0;
	EstColumn  *cols;

	for (int i = 0; i < opts->n_feature_columns; i++)
		cap += opts->feature_columns[i].n_keys;
	cols = palloc0(Max(cap, 1) * sizeof(EstColumn));
	for (int i = 0; i < opts->n_feature_columns; i++)
	{
		EstFeatureColumn *fc = &opts->feature_columns[i];

		for (int k = 0; k < fc->n_keys; k++)
		{
			bool		seen = false;

			for (int j = 0; j < n && !seen; j++)
				seen = strcmp(cols[j].name, fc->keys[k]) == 0;
			if (seen)
				continue;
			cols[n].name = fc->keys[k];
			cols[n].width = -1;
			n++;
		}
	}
	*features = cols;
	*n_features = n;
}

static int
SourceIndex(const EstColumn *sources, int n_sources, const char *name)
{
	for (int i = 0; i < n_sources; i++)
		if (strcmp(sources[i].name, name) == 0)
			return i;
	return -1;
}

static void
ReportWrongSource(const EstFeatureColumn *fc, const EstColumn *src,
				  const char *expected)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("feature column \"%s\" cannot read column \"%s\" of type %s",
					fc->name, src->name, format_type_be(src->type)),
			 errdetail("Feature columns of type %s read %s.",
					   EstFeatureKindName(fc->kind), expected)));
}

/* IsIntegerSource tells whether a source column holds integers. */
static bool
IsIntegerSource(const EstColumn *src)
{
	return EstIsIntegerType(OidIsValid(src->base_type) ? src->base_type :
							getBaseType(src->type));
}

/*
 * EstMissingDroppedColumn tells whether a source column is one that a row
 * passed to est_predict lacks, read as NULL, whose type was dropped since
 * the model trained: unsupported, without a base type (a column a row
 * has is of a type that exists, and has one).
 */
bool
EstMissingDroppedColumn(const EstColumn *src)
{
	return src->kind == EST_COL_UNSUPPORTED && !OidIsValid(src->base_type);
}

/*
 * EstSourceTakesNull tells whether every feature column of tf reading a
 * source column takes a NULL (a NULL policy, an OOV bucket, no id): a row
 * to predict (est_predict) or a source to score (est_predict_table) may
 * then lack the column, which reads as NULL.
 */
bool
EstSourceTakesNull(const EstTransform *tf, const char *column)
{
	for (int c = 0; c < tf->n_columns; c++)
	{
		const EstFeatureColumn *fc = &tf->columns[c];

		for (int k = 0; k < fc->n_keys; k++)
			if (strcmp(fc->keys[k], column) == 0 &&
				fc->kind == EST_FC_NUMERIC &&
				fc->null_policy == EST_NULL_ERROR)
				return false;
	}
	return true;
}

/*
 * CheckSource checks that a feature column can read its source columns,
 * whose kinds and widths are known, and sets what the source decides:
 * whether a categorical column is multi-valued, and a numeric shape.
 * With bound, the column is a model's, already set: the check changes
 * nothing and refuses sources that do not fit it (a row of other types, or
 * a definition that does not match its checkpoint).
 */
static void
CheckSource(EstFeatureColumn *fc, const EstColumn *sources, int n_sources,
			bool bound)
{
	const EstColumn *src;
	int			i;

	for (int k = 0; k < fc->n_keys; k++)
	{
		i = SourceIndex(sources, n_sources, fc->keys[k]);
		if (i < 0)
			elog(ERROR, "source column \"%s\" of feature column \"%s\" is not read",
				 fc->keys[k], fc->name);
		src = &sources[i];
		if (bound && EstMissingDroppedColumn(src))
			return;				/* gives NULLs only, which every kind reads */
		if (fc->kind == EST_FC_CROSSED &&
			!(src->kind == EST_COL_TEXT || src->kind == EST_COL_BOOL ||
			  (src->kind == EST_COL_SCALAR && IsIntegerSource(src))))
			ReportWrongSource(fc, src, "text, enum, boolean or integer columns");
	}
	if (fc->kind == EST_FC_CROSSED)
		return;

	src = &sources[SourceIndex(sources, n_sources, fc->keys[0])];
	if (bound && EstMissingDroppedColumn(src))
		return;
	switch (fc->kind)
	{
		case EST_FC_NUMERIC:
			if (src->kind != EST_COL_SCALAR && src->kind != EST_COL_ARRAY &&
				src->kind != EST_COL_BOOL)
				ReportWrongSource(fc, src,
								  "numbers, booleans, real[] or double precision[]");
			if (src->width >= 0 && src->width != fc->shape)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("feature column \"%s\" has shape %d, but column \"%s\" holds %d values",
								fc->name, fc->shape, src->name, src->width),
						 errhint("Set \"shape\" to the length of the arrays.")));
			break;
		case EST_FC_BUCKETIZED:
			if (src->kind != EST_COL_SCALAR)
				ReportWrongSource(fc, src, "numbers");
			break;
		case EST_FC_IDENTITY:
			if (src->kind != EST_COL_SCALAR ||
				!IsIntegerSource(src))
				ReportWrongSource(fc, src, "smallint, integer or bigint");
			break;
		case EST_FC_VOCABULARY:
		case EST_FC_HASH:
			if (!(src->kind == EST_COL_TEXT || src->kind == EST_COL_TEXT_ARRAY ||
				  src->kind == EST_COL_BOOL ||
				  (src->kind == EST_COL_SCALAR &&
				   IsIntegerSource(src))))
				ReportWrongSource(fc, src,
								  "text, enum, boolean or integer columns, or arrays of text or enums");
			if (bound)
			{
				if (fc->multi != (src->kind == EST_COL_TEXT_ARRAY))
					ReportWrongSource(fc, src, fc->multi ?
									  "arrays of text or enums" :
									  "text, enum, boolean or integer columns");
				break;
			}
			fc->multi = src->kind == EST_COL_TEXT_ARRAY;
			if (fc->max_values > 0 && !fc->multi)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("max_values of feature column \"%s\" applies to array columns",
								fc->name)));
			if (fc->multi && fc->max_values == 0)
				fc->max_values = EST_DEFAULT_MAX_VALUES;
			break;
		case EST_FC_CROSSED:
			break;
	}
}

/*
 * InferColumn makes the feature column of one source column, by type.
 */
static void
InferColumn(const EstColumn *src, EstFeatureColumn *fc)
{
	memset(fc, 0, sizeof(*fc));
	fc->name = pstrdup(src->name);
	fc->n_keys = 1;
	fc->keys = palloc(sizeof(char *));
	fc->keys[0] = pstrdup(src->name);
	fc->default_id = -1;
	switch (src->kind)
	{
		case EST_COL_SCALAR:
		case EST_COL_ARRAY:
		case EST_COL_BOOL:
			fc->kind = EST_FC_NUMERIC;
			fc->shape = src->kind == EST_COL_ARRAY ? src->width : 1;
			fc->normalizer = src->kind == EST_COL_BOOL ? EST_NORM_NONE :
				EST_NORM_ZSCORE;
			fc->null_policy = EST_NULL_MEAN;
			fc->representation = EST_INPUT_DENSE;
			break;
		case EST_COL_TEXT:
		case EST_COL_TEXT_ARRAY:
			fc->kind = EST_FC_VOCABULARY;
			fc->learned = 1;
			fc->num_oov = 1;
			fc->representation = EST_INPUT_INDICATOR;
			fc->hash_above = EST_AUTO_HASH_ABOVE;
			fc->auto_buckets = EST_AUTO_HASH_BUCKETS;
			fc->auto_dimension = EST_AUTO_EMBEDDING;
			break;
		case EST_COL_UNSUPPORTED:
			elog(ERROR, "column \"%s\" of unsupported type reached inference",
				 src->name);
	}
}

/*
 * EstBuildTransform makes the transform of a new model from the source
 * columns it reads (kinds and widths known): the declared feature columns
 * of params, or one inferred column per source column.
 */
void
EstBuildTransform(EstColumn *sources, int n_sources, const EstOptions *opts,
				  EstTransform *tf)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	int			n = opts->n_feature_columns >= 0 ? opts->n_feature_columns :
		n_sources;

	memset(tf, 0, sizeof(*tf));
	tf->columns = palloc0(Max(n, 1) * sizeof(EstFeatureColumn));
	for (int i = 0; i < n; i++)
	{
		if (opts->n_feature_columns >= 0)
			tf->columns[i] = opts->feature_columns[i];
		else
			InferColumn(&sources[i], &tf->columns[i]);
		CheckSource(&tf->columns[i], sources, n_sources, false);
	}
	tf->n_columns = n;
	status = EstTransformInit(tf, coremsg);
	if (status != EST_OK)
		EstReportTransformError(status, coremsg);
}

/*
 * EstReportTransformError reports what the core says of a declaration or
 * of the training rows of feature columns, in its own words.
 */
void
EstReportTransformError(EstStatus status, const char *coremsg)
{
	ereport(ERROR,
			(errcode(status == EST_ELIMIT ? ERRCODE_PROGRAM_LIMIT_EXCEEDED :
					 status == EST_ENOMEM ? ERRCODE_OUT_OF_MEMORY :
					 ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", coremsg)));
}

/*
 * EstCheckTransformSources refuses source columns that a model's feature
 * columns cannot read (see CheckSource): the row types of a query, or a
 * definition that does not fit its checkpoint.
 */
void
EstCheckTransformSources(EstTransform *tf, const EstColumn *sources,
						 int n_sources)
{
	for (int i = 0; i < tf->n_columns; i++)
		CheckSource(&tf->columns[i], sources, n_sources, true);
}

/*
 * EstLegacyTransform rebuilds the transform of a checkpoint written by
 * estimator 0.1.0 (one z-score per input, no names) as one numeric column
 * per source column of the model, with the same shifts and scales.
 */
void
EstLegacyTransform(const EstModelDef *def, EstTransform *tf)
{
	EstTransform legacy = *tf;
	const EstFeatureColumn *old = &legacy.columns[0];
	EstOptions	opts;
	int			offset = 0;

	if (old->slots != def->n_inputs)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checkpoint of model \"%s\" does not match its definition",
						def->name),
				 errdetail("The checkpoint transforms %d inputs, the model has %d.",
						   old->slots, def->n_inputs)));
	memset(&opts, 0, sizeof(opts));
	opts.n_feature_columns = -1;
	EstBuildTransform(def->features, def->n_features, &opts, tf);
	for (int i = 0; i < tf->n_columns; i++)
		if (tf->columns[i].kind != EST_FC_NUMERIC)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint of model \"%s\" does not match its definition",
							def->name),
					 errdetail("The checkpoint has z-scores only, and column \"%s\" is not a number.",
							   def->features[i].name)));
	if (tf->n_inputs != old->slots)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("checkpoint of model \"%s\" does not match its definition",
						def->name),
				 errdetail("The checkpoint transforms %d inputs, the columns of the model hold %d.",
						   old->slots, tf->n_inputs)));
	for (int i = 0; i < tf->n_columns; i++)
	{
		EstFeatureColumn *fc = &tf->columns[i];

		fc->null_policy = EST_NULL_ERROR;	/* as 0.1.0 did */
		for (int j = 0; j < fc->shape; j++)
		{
			fc->shift[j] = fc->mean[j] = old->shift[offset + j];
			fc->scale[j] = fc->stddev[j] = old->scale[offset + j];
		}
		offset += fc->shape;
	}
	tf->fitted = 1;
	EstTransformFree(&legacy);
}

/* ----------------------------------------------------------------
 * Encoding rows
 * ----------------------------------------------------------------
 */
/*
 * A numeric feature column over one smallint, integer, bigint, real or
 * double precision source, which EstEncodeRow reads inline: the base
 * type (InvalidOid for other columns), the source's attribute and the
 * slot.
 */
typedef struct ScalarColumn
{
	Oid			type;
	int			att;
	int			offset;
} ScalarColumn;

struct EstEncoder
{
	EstTransform *tf;
	const EstColumn *sources;
	int			n_sources;
	const int  *atts;			/* per source: its attribute, 0-based */
	int		  **keys;			/* per feature column: its sources */
	FmgrInfo   *out;			/* per source: output function, or NULL */
	ScalarColumn *scalar;		/* per feature column */
	bool		utf8;			/* the database encoding needs no
								 * conversion */
	MemoryContext tmp;			/* reset after each row */
	const char **cross_values;
	size_t	   *cross_lens;
	char		numbuf[8][32];
};

/*
 * EstEncoderCreate binds a transform to the source columns of a tuple
 * descriptor: atts gives each source column's attribute.  The source
 * kinds must be those the transform was built on (the reader checks).
 */
EstEncoder *
EstEncoderCreate(EstTransform *tf, const EstColumn *sources, int n_sources,
				 const int *atts)
{
	EstEncoder *enc = palloc0(sizeof(EstEncoder));
	int			enc_id = GetDatabaseEncoding();

	enc->tf = tf;
	enc->sources = sources;
	enc->n_sources = n_sources;
	enc->atts = atts;
	enc->utf8 = enc_id == PG_UTF8 || enc_id == PG_SQL_ASCII;
	enc->keys = palloc(Max(tf->n_columns, 1) * sizeof(int *));
	for (int i = 0; i < tf->n_columns; i++)
	{
		EstFeatureColumn *fc = &tf->columns[i];

		enc->keys[i] = palloc(fc->n_keys * sizeof(int));
		for (int k = 0; k < fc->n_keys; k++)
		{
			enc->keys[i][k] = SourceIndex(sources, n_sources, fc->keys[k]);
			if (enc->keys[i][k] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("feature column \"%s\" reads column \"%s\", which the model does not list",
								fc->name, fc->keys[k])));
		}
	}
	/* the sources must be those the transform was made for */
	EstCheckTransformSources(tf, sources, n_sources);
	enc->out = palloc0(Max(n_sources, 1) * sizeof(FmgrInfo));
	for (int i = 0; i < n_sources; i++)
	{
		Oid			type = sources[i].base_type;
		Oid			fn;
		bool		varlena;

		if (EstMissingDroppedColumn(&sources[i]))
			continue;			/* no value to print */
		if (!OidIsValid(type))
			type = getBaseType(sources[i].type);
		if (sources[i].kind == EST_COL_TEXT_ARRAY ||
			sources[i].kind == EST_COL_ARRAY)
			type = getBaseType(get_element_type(type));
		getTypeOutputInfo(type, &fn, &varlena);
		fmgr_info(fn, &enc->out[i]);
	}
	enc->scalar = palloc0(Max(tf->n_columns, 1) * sizeof(ScalarColumn));
	for (int c = 0; c < tf->n_columns; c++)
	{
		const EstColumn *col = &sources[enc->keys[c][0]];
		Oid			type;

		if (tf->columns[c].kind != EST_FC_NUMERIC ||
			col->kind != EST_COL_SCALAR)
			continue;
		type = OidIsValid(col->base_type) ? col->base_type :
			getBaseType(col->type);
		if ((EstIsIntegerType(type) || type == FLOAT4OID ||
			 type == FLOAT8OID))
		{
			enc->scalar[c].type = type;
			enc->scalar[c].att = atts[enc->keys[c][0]];
			enc->scalar[c].offset = tf->columns[c].offset;
		}
	}
	enc->cross_values = palloc(8 * sizeof(char *));
	enc->cross_lens = palloc(8 * sizeof(size_t));
	enc->tmp = AllocSetContextCreate(CurrentMemoryContext,
									 "estimator row encoding",
									 ALLOCSET_SMALL_SIZES);
	return enc;
}

/*
 * TextOf returns a value of type type as a UTF-8 string: text as it is,
 * booleans as "true" or "false", anything else in its output form.
 */
static const char *
TextOf(EstEncoder *enc, int src, Oid type, Datum value, size_t *len)
{
	const char *s;
	size_t		n;
	MemoryContext old = MemoryContextSwitchTo(enc->tmp);

	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				s = VARDATA_ANY(t);
				n = VARSIZE_ANY_EXHDR(t);
				break;
			}
		case BPCHAROID:
			{
				text	   *t = DatumGetTextPP(value);

				s = VARDATA_ANY(t);
				n = VARSIZE_ANY_EXHDR(t);
				while (n > 0 && s[n - 1] == ' ')
					n--;		/* char(n) pads; its value does not */
				break;
			}
		case NAMEOID:
			s = NameStr(*DatumGetName(value));
			n = strlen(s);
			break;
		case BOOLOID:
			s = DatumGetBool(value) ? "true" : "false";
			n = strlen(s);
			break;
		default:
			s = OutputFunctionCall(&enc->out[src], value);
			n = strlen(s);
			break;
	}
	if (!enc->utf8 && n > 0)
	{
		char	   *u = (char *) pg_do_encoding_conversion((unsigned char *) s,
														   (int) n,
														   GetDatabaseEncoding(),
														   PG_UTF8);

		if (u != s)
		{
			s = u;
			n = strlen(u);
		}
	}
	MemoryContextSwitchTo(old);
	*len = n;
	return s;
}

static int64
IntegerOf(Oid type, Datum value)
{
	switch (type)
	{
		case INT2OID:
			return DatumGetInt16(value);
		case INT4OID:
			return DatumGetInt32(value);
		default:
			return DatumGetInt64(value);
	}
}

static void
ReportNull(const EstFeatureColumn *fc, const EstColumn *src)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("column \"%s\" contains a null value", src->name),
			 errdetail("Feature column \"%s\" has no default_value.", fc->name),
			 errhint("Declare the feature column with a \"default_value\", or leave such rows out of the source.")));
}

/*
 * EncodeCategorical writes the id of one scalar value of a categorical
 * column into its slot.
 */
static void
EncodeCategorical(EstEncoder *enc, int c, int src, Oid type, Datum value,
				  float *slot)
{
	EstFeatureColumn *fc = &enc->tf->columns[c];
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	if (fc->kind == EST_FC_BUCKETIZED)
	{
		float		v;
		MemoryContext old = MemoryContextSwitchTo(enc->tmp);

		EstConvertNumbers(value, false, &enc->sources[src], &v, false);
		MemoryContextSwitchTo(old);
		EstTransformBucket(enc->tf, c, v, slot);
		return;
	}
	if (EstIsIntegerType(type))
		status = EstTransformInteger(enc->tf, c, IntegerOf(type, value),
									 slot, coremsg);
	else
	{
		size_t		len;
		const char *s = TextOf(enc, src, type, value, &len);

		status = EstTransformString(enc->tf, c, s, len, slot, coremsg);
	}
	if (status == EST_ELIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s", coremsg),
				 errhint("Raise estimator.max_memory, declare a hash column (it keeps no vocabulary), or leave the column out with features => '{...}'.")));
	if (status != EST_OK)
		EstReportTransformError(status, coremsg);
}

/*
 * EncodeMulti writes the ids of an array of text into the column's slots.
 */
static void
EncodeMulti(EstEncoder *enc, int c, int src, Datum value, float *slots)
{
	EstFeatureColumn *fc = &enc->tf->columns[c];
	const EstColumn *col = &enc->sources[src];
	MemoryContext prev = MemoryContextSwitchTo(enc->tmp);
	ArrayType  *arr = DatumGetArrayTypeP(value);
	Oid			elem = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			n;
	MemoryContext old;

	MemoryContextSwitchTo(prev);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("column \"%s\" holds an array of %d dimensions, expected one",
						col->name, ARR_NDIM(arr))));
	get_typlenbyvalalign(elem, &typlen, &typbyval, &typalign);
	old = MemoryContextSwitchTo(enc->tmp);
	deconstruct_array(arr, elem, typlen, typbyval, typalign, &elems,
					  &elem_nulls, &n);
	MemoryContextSwitchTo(old);
	if (n > fc->slots)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column \"%s\" holds an array of %d values, feature column \"%s\" reads at most %d",
						col->name, n, fc->name, fc->slots),
				 errhint("Declare the feature column with a larger \"max_values\".")));
	for (int i = 0; i < fc->slots; i++)
	{
		if (i >= n)
			slots[i] = -1;
		else if (elem_nulls[i])
			EstTransformNull(enc->tf, c, &slots[i]);
		else
			EncodeCategorical(enc, c, src, getBaseType(elem), elems[i],
							  &slots[i]);
	}
}

/*
 * EstEncoderScalarColumns tells whether every feature column of enc is a
 * numeric column over one smallint, integer, bigint, real or double
 * precision source, which a row encodes by storing its value in the
 * column's slot (EstScalarOf); if so, it gives the sources' attributes in
 * *atts, their base types in *types and the slots in *slots, *n of each.
 */
bool
EstEncoderScalarColumns(const EstEncoder *enc, int *n, int **atts,
						Oid **types, int **slots)
{
	int			n_columns = enc->tf->n_columns;

	for (int c = 0; c < n_columns; c++)
		if (!OidIsValid(enc->scalar[c].type))
			return false;
	*n = n_columns;
	*atts = palloc(Max(n_columns, 1) * sizeof(int));
	*types = palloc(Max(n_columns, 1) * sizeof(Oid));
	*slots = palloc(Max(n_columns, 1) * sizeof(int));
	for (int c = 0; c < n_columns; c++)
	{
		(*atts)[c] = enc->scalar[c].att;
		(*types)[c] = enc->scalar[c].type;
		(*slots)[c] = enc->scalar[c].offset;
	}
	return true;
}

/*
 * EstEncodeRow turns the values of one row into a compact row: numeric
 * slots raw (NaN for a NULL its policy fills), categorical slots as ids.
 * EstTransformApply (or EstTransformFit) finishes the numeric slots.
 */
void
EstEncodeRow(EstEncoder *enc, const Datum *values, const bool *nulls,
			 float *x)
{
	EstTransform *tf = enc->tf;

	/*
	 * Detoasted values, converted text and deconstructed arrays go in
	 * enc->tmp, reset after the row; the core allocates (learned
	 * vocabularies) in the caller's context.
	 */
	for (int c = 0; c < tf->n_columns; c++)
	{
		const ScalarColumn *sc = &enc->scalar[c];
		EstFeatureColumn *fc;
		float	   *slot;
		int			src;
		const EstColumn *col;
		int			att;

		/* plain numbers; NULLs and refused values take the general path */
		if (OidIsValid(sc->type) && !nulls[sc->att] &&
			EstScalarOf(sc->type, values[sc->att], x + sc->offset))
			continue;

		fc = &tf->columns[c];
		slot = x + fc->offset;
		src = enc->keys[c][0];
		col = &enc->sources[src];
		att = enc->atts[src];
		if (fc->kind == EST_FC_CROSSED)
		{
			bool		any_null = false;

			for (int k = 0; k < fc->n_keys; k++)
			{
				int			s = enc->keys[c][k];
				int			a = enc->atts[s];
				Oid			type = enc->sources[s].base_type;

				if (nulls[a])
				{
					any_null = true;
					break;
				}
				if (EstIsIntegerType(type))
				{
					snprintf(enc->numbuf[k], sizeof(enc->numbuf[k]),
							 INT64_FORMAT, IntegerOf(type, values[a]));
					enc->cross_values[k] = enc->numbuf[k];
					enc->cross_lens[k] = strlen(enc->numbuf[k]);
				}
				else
					enc->cross_values[k] = TextOf(enc, s, type, values[a],
												  &enc->cross_lens[k]);
			}
			if (any_null)
				*slot = -1;
			else
				EstTransformCross(tf, c, enc->cross_values, enc->cross_lens,
								  slot);
			continue;
		}

		if (fc->kind == EST_FC_NUMERIC)
		{
			if (nulls[att] && fc->null_policy == EST_NULL_ERROR)
				ReportNull(fc, col);
			if (col->kind == EST_COL_BOOL)
				*slot = nulls[att] ? NAN : (DatumGetBool(values[att]) ? 1 : 0);
			else
			{
				MemoryContext old = MemoryContextSwitchTo(enc->tmp);

				EstConvertNumbers(values[att], nulls[att], col, slot,
								  fc->null_policy != EST_NULL_ERROR);
				MemoryContextSwitchTo(old);
			}
			continue;
		}

		/* categorical */
		if (fc->multi)
		{
			if (nulls[att])
			{
				EstTransformNull(tf, c, slot);
				for (int i = 1; i < fc->slots; i++)
					slot[i] = -1;
			}
			else
				EncodeMulti(enc, c, src, values[att], slot);
		}
		else if (nulls[att])
			EstTransformNull(tf, c, slot);
		else
			EncodeCategorical(enc, c, src, col->base_type, values[att], slot);
	}
	MemoryContextReset(enc->tmp);
}

/* ----------------------------------------------------------------
 * est_feature_info
 * ----------------------------------------------------------------
 */
/*
 * ServerString turns a vocabulary entry, UTF-8, into the database
 * encoding; an SQL_ASCII database's entries are the bytes its rows held.
 */
static char *
ServerString(const char *utf8)
{
	if (GetDatabaseEncoding() == PG_SQL_ASCII)
		return (char *) utf8;
	return pg_any_to_server(utf8, strlen(utf8), PG_UTF8);
}

static void
AppendJsonNumbers(StringInfo buf, const char *key, const double *v, int n)
{
	appendStringInfo(buf, ", \"%s\": [", key);
	for (int i = 0; i < n; i++)
		appendStringInfo(buf, "%s%.17g", i ? ", " : "", v[i]);
	appendStringInfoChar(buf, ']');
}

/*
 * FeatureDetails writes what the row's fixed columns do not show, as a
 * JSON object: the declaration's settings, and per-element statistics of
 * a numeric column with a shape above 1.
 */
static Datum
FeatureDetails(const EstFeatureColumn *fc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"slots\": %d", fc->slots);
	switch (fc->kind)
	{
		case EST_FC_NUMERIC:
			appendStringInfo(&buf, ", \"shape\": %d, \"normalizer\": \"%s\", \"null_policy\": \"%s\"",
							 fc->shape, EstNormalizerName(fc->normalizer),
							 fc->null_policy == EST_NULL_MEAN ? "mean" :
							 fc->null_policy == EST_NULL_DEFAULT ? "default_value" :
							 "error");
			if (fc->null_policy == EST_NULL_DEFAULT)
				appendStringInfo(&buf, ", \"default_value\": %.17g",
								 fc->default_value);
			if (fc->shape > 1 && fc->mean != NULL)
			{
				AppendJsonNumbers(&buf, "mean", fc->mean, fc->shape);
				AppendJsonNumbers(&buf, "stddev", fc->stddev, fc->shape);
				AppendJsonNumbers(&buf, "min", fc->min, fc->shape);
				AppendJsonNumbers(&buf, "max", fc->max, fc->shape);
			}
			break;
		case EST_FC_BUCKETIZED:
			AppendJsonNumbers(&buf, "boundaries", fc->boundaries,
							  fc->n_boundaries);
			break;
		case EST_FC_VOCABULARY:
			appendStringInfo(&buf, ", \"num_oov_buckets\": %d, \"learned\": %s",
							 fc->num_oov, fc->learned ? "true" : "false");
			break;
		case EST_FC_IDENTITY:
			appendStringInfo(&buf, ", \"num_buckets\": " INT64_FORMAT,
							 fc->num_buckets);
			if (fc->default_id >= 0)
				appendStringInfo(&buf, ", \"default_value\": " INT64_FORMAT,
								 fc->default_id);
			break;
		case EST_FC_HASH:
		case EST_FC_CROSSED:
			appendStringInfo(&buf, ", \"hash_bucket_size\": " INT64_FORMAT,
							 fc->num_buckets);
			break;
	}
	if (fc->multi)
		appendStringInfo(&buf, ", \"max_values\": %d", fc->max_values);
	if (fc->representation == EST_INPUT_EMBEDDING)
		appendStringInfo(&buf, ", \"embedding_dimension\": %d, \"combiner\": \"%s\"",
						 fc->dimension, EstCombinerName(fc->combiner));
	appendStringInfoChar(&buf, '}');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

/*
 * est_feature_info(model) lists the feature columns of a model's newest
 * checkpoint: kind, source columns, how the network sees them, and the
 * statistics or vocabulary learned from the training rows.
 */
Datum
est_feature_info(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstCachedModel *model;
	EstTransform *tf;

	InitMaterializedSRF(fcinfo, 0);
	model = EstCacheAcquireFor(name, EST_PRIV_PREDICT, "inspect");
	PG_TRY();
	{
		tf = &model->ckpt.transform;
		for (int c = 0; c < tf->n_columns; c++)
		{
			EstFeatureColumn *fc = &tf->columns[c];
			Datum		values[15];
			bool		nulls[15];
			Datum	   *keys = palloc(fc->n_keys * sizeof(Datum));
			int			width;

			memset(nulls, 0, sizeof(nulls));
			for (int k = 0; k < fc->n_keys; k++)
				keys[k] = CStringGetTextDatum(fc->keys[k]);
			width = fc->representation == EST_INPUT_DENSE ? fc->slots :
				fc->representation == EST_INPUT_EMBEDDING ? fc->dimension :
				(int) fc->buckets;
			values[0] = Int32GetDatum(c + 1);
			values[1] = CStringGetTextDatum(fc->name);
			values[2] = CStringGetTextDatum(EstFeatureKindName(fc->kind));
			values[3] = PointerGetDatum(construct_array(keys, fc->n_keys,
														TEXTOID, -1, false,
														TYPALIGN_INT));
			values[4] = CStringGetTextDatum(EstRepresentationName(fc->representation));
			values[5] = Int32GetDatum(width);
			/* NULLs are counted where state is learned from the rows */
			values[6] = Int64GetDatum(fc->null_count);
			nulls[6] = !(fc->kind == EST_FC_NUMERIC ||
						 (fc->kind == EST_FC_VOCABULARY && fc->learned) ||
						 fc->hash_above > 0);
			if (fc->kind == EST_FC_NUMERIC && fc->shape == 1 && fc->mean != NULL)
			{
				values[7] = Float8GetDatum(fc->mean[0]);
				values[8] = Float8GetDatum(fc->stddev[0]);
				values[9] = Float8GetDatum(fc->min[0]);
				values[10] = Float8GetDatum(fc->max[0]);
			}
			else
				nulls[7] = nulls[8] = nulls[9] = nulls[10] = true;
			if (fc->kind != EST_FC_NUMERIC)
				values[11] = Int64GetDatum(fc->buckets);
			else
				nulls[11] = true;
			if (fc->kind == EST_FC_VOCABULARY && fc->vocab_size > 0)
			{
				int			n = Min(fc->vocab_size, EST_TOP_VALUES);
				Datum	   *top = palloc(n * sizeof(Datum));

				for (int i = 0; i < n; i++)
					top[i] = CStringGetTextDatum(ServerString(fc->vocab[i]));
				values[12] = Int32GetDatum(fc->vocab_size);
				values[13] = PointerGetDatum(construct_array(top, n, TEXTOID,
															 -1, false,
															 TYPALIGN_INT));
			}
			else
			{
				nulls[12] = true;
				nulls[13] = true;
			}
			values[14] = FeatureDetails(fc);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
								 nulls);
		}
	}
	PG_FINALLY();
	{
		EstCacheRelease(model);
	}
	PG_END_TRY();
	return (Datum) 0;
}
