/*-------------------------------------------------------------------------
 *
 * transfer.c
 *	  Moving a model between databases (est_export, est_import) and
 *	  showing its weights (est_weights).
 *
 * A bundle is a model's definition and its serving checkpoint in one
 * bytea.  Every value is little-endian and written byte by byte; strings
 * are UTF-8, so that a bundle moves between databases of any encoding:
 *
 *	 header		 magic "ESTMODL\0" (8 bytes), bundle version u32 (1),
 *				 total length u64
 *	 definition	 length u64, then:
 *				 model_type str, label str,
 *				 n_features u32, and for each: name str, type str (its
 *				 schema-qualified name, format_type), kind u32 (how the
 *				 shell reads it: 1 number, 2 array of numbers, 3 boolean,
 *				 4 text, 5 text array), width u32,
 *				 n_inputs u32, input_width u32, n_classes u32 (0 for a
 *				 regressor), label_dimension u32 (0 for a classifier),
 *				 n_hidden u32, hidden_units n_hidden x u32,
 *				 activation str, optimizer str, learning_rate f64,
 *				 batch_size u32, params str (the jsonb as text),
 *				 n_label_vocabulary u32 (0: integer labels), the class
 *				 names n x str, global_step i64 (the checkpoint's step),
 *				 loss f64 (the checkpoint's; NaN when unknown)
 *	 checkpoint	 length u64, the checkpoint's bytes in the checkpoint
 *				 format (src/core/checkpoint.c), with its own CRC
 *	 trailer	 CRC-32C (EstCrc32c) of all preceding bytes, u32
 *
 * where str is a length u32 and as many bytes, without a NUL.
 *
 * The reader treats a bundle as hostile, as the checkpoint decoder does:
 * it checks the magic and the version first (a newer version is
 * feature_not_supported whatever follows), then the total length and the
 * CRC, then every length and count against the bytes that remain before it
 * allocates.  The checkpoint must then decode and match the definition as
 * a stored one must (EstDecodeCheckpoint), so an imported model predicts
 * exactly as the exported one did, and the params must be those the
 * checkpoint was trained with as far as it records them (its optimizer,
 * network and feature columns), so that training it further or anew
 * (reset => true) does what its checkpoint shows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "estimator.h"

#define BUNDLE_HEADER_LEN	20	/* magic, version, total length */
#define BUNDLE_TRAILER_LEN	4	/* CRC-32C */

PG_FUNCTION_INFO_V1(est_export);
PG_FUNCTION_INFO_V1(est_import);
PG_FUNCTION_INFO_V1(est_weights);

/* ----------------------------------------------------------------
 * Writing
 * ----------------------------------------------------------------
 */
static void
PutU32(StringInfo buf, uint32 v)
{
	unsigned char b[4];

	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char) (v >> (8 * i));
	appendBinaryStringInfo(buf, (char *) b, 4);
}

static void
PutU64(StringInfo buf, uint64 v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char) (v >> (8 * i));
	appendBinaryStringInfo(buf, (char *) b, 8);
}

static void
PutF64(StringInfo buf, double v)
{
	uint64		bits;

	memcpy(&bits, &v, sizeof(bits));
	PutU64(buf, bits);
}

/* PutString writes a string of the database encoding as UTF-8. */
static void
PutString(StringInfo buf, const char *s)
{
	char	   *utf8 = pg_server_to_any(s, strlen(s), PG_UTF8);
	size_t		len = strlen(utf8);

	PutU32(buf, (uint32) len);
	appendBinaryStringInfo(buf, utf8, len);
}

static void
StoreU32(uint8 *p, uint32 v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8) (v >> (8 * i));
}

static void
StoreU64(uint8 *p, uint64 v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8) (v >> (8 * i));
}

/*
 * WriteDefinition writes the definition part of a bundle (its payload,
 * without the length) for a model whose checkpoint is at step.
 */
static void
WriteDefinition(StringInfo buf, const EstModelDef *def, int64 step,
				double loss)
{
	PutString(buf, EstModelTypeName(def->type));
	PutString(buf, def->label);
	PutU32(buf, (uint32) def->n_features);
	for (int i = 0; i < def->n_features; i++)
	{
		PutString(buf, def->features[i].name);
		PutString(buf, format_type_be_qualified(def->features[i].type));
		PutU32(buf, (uint32) def->features[i].kind);
		PutU32(buf, (uint32) def->features[i].width);
	}
	PutU32(buf, (uint32) def->n_inputs);
	PutU32(buf, (uint32) def->input_width);
	PutU32(buf, (uint32) def->n_classes);
	PutU32(buf, (uint32) def->label_dimension);
	PutU32(buf, (uint32) def->n_hidden);
	for (int l = 0; l < def->n_hidden; l++)
		PutU32(buf, (uint32) def->hidden[l]);
	PutString(buf, EstActivationName(def->activation));
	PutString(buf, EstOptimizerName(def->optimizer));
	PutF64(buf, def->learning_rate);
	PutU32(buf, (uint32) def->batch_size);
	PutString(buf, def->params ?
			  JsonbToCString(NULL, &def->params->root, VARSIZE(def->params)) :
			  "{}");
	PutU32(buf, (uint32) def->n_label_vocabulary);
	for (int i = 0; i < def->n_label_vocabulary; i++)
		PutString(buf, def->label_vocabulary[i]);
	PutU64(buf, (uint64) step);
	PutF64(buf, loss);
}

/* ----------------------------------------------------------------
 * Reading
 * ----------------------------------------------------------------
 */

/* A definition as a bundle holds it, before it is resolved here. */
typedef struct BundleDef
{
	char	   *model_type;
	char	   *label;
	int			n_features;
	char	  **feature_names;
	char	  **feature_types;
	uint32	   *feature_kinds;
	uint32	   *feature_widths;
	uint32		n_inputs;
	uint32		input_width;
	uint32		n_classes;
	uint32		label_dimension;
	int			n_hidden;
	uint32		hidden[EST_MAX_LAYERS];
	char	   *activation;
	char	   *optimizer;
	double		learning_rate;
	uint32		batch_size;
	char	   *params;
	int			n_label_vocabulary;
	char	  **label_vocabulary;
	int64		global_step;
	double		loss;
	const uint8 *checkpoint;	/* inside the bundle */
	size_t		checkpoint_len;
	uint32		crc;
} BundleDef;

/* A cursor over part of a bundle. */
typedef struct Reader
{
	const uint8 *p;
	size_t		left;
} Reader;

static void
ReportCorrupt(const char *fmt,...)
pg_attribute_printf(1, 2);

/* ReportCorrupt raises data_corrupted with a detail sentence. */
static void
ReportCorrupt(const char *fmt,...)
{
	char		detail[512];
	va_list		args;

	va_start(args, fmt);
	vsnprintf(detail, sizeof(detail), fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("model bundle is corrupted"),
			 errdetail("%s", detail)));
}

static void
Need(Reader *r, size_t n, const char *what)
{
	if (r->left < n)
		ReportCorrupt("The %s needs %zu bytes, %zu remain.", what, n, r->left);
}

static uint32
GetU32(Reader *r, const char *what)
{
	uint32		v = 0;

	Need(r, 4, what);
	for (int i = 0; i < 4; i++)
		v |= (uint32) r->p[i] << (8 * i);
	r->p += 4;
	r->left -= 4;
	return v;
}

static uint64
GetU64(Reader *r, const char *what)
{
	uint64		v = 0;

	Need(r, 8, what);
	for (int i = 0; i < 8; i++)
		v |= (uint64) r->p[i] << (8 * i);
	r->p += 8;
	r->left -= 8;
	return v;
}

static double
GetF64(Reader *r, const char *what)
{
	uint64		bits = GetU64(r, what);
	double		v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

/* GetCount reads a count of at most max. */
static int
GetCount(Reader *r, uint32 max, const char *what)
{
	uint32		v = GetU32(r, what);

	if (v > max)
		ReportCorrupt("The %s is %u, at most %u.", what, v, max);
	return (int) v;
}

/*
 * GetString reads a UTF-8 string and returns it in the database encoding;
 * its length is checked against the bytes that remain before anything is
 * allocated.
 */
static char *
GetString(Reader *r, const char *what)
{
	uint32		len = GetU32(r, what);
	char	   *s;

	Need(r, len, what);
	if (memchr(r->p, '\0', len) != NULL)
		ReportCorrupt("The %s holds a zero byte.", what);
	if (!pg_verify_mbstr(PG_UTF8, (const char *) r->p, (int) len, true))
		ReportCorrupt("The %s is not valid UTF-8.", what);
	s = pg_any_to_server((const char *) r->p, (int) len, PG_UTF8);
	if (s == (const char *) r->p)
		s = pnstrdup((const char *) r->p, len);
	r->p += len;
	r->left -= len;
	return s;
}

/*
 * ReadBundle checks the framing of a bundle (magic, version, length, CRC)
 * and reads its definition; the checkpoint stays in place.
 */
static void
ReadBundle(const uint8 *buf, size_t len, BundleDef *b)
{
	Reader		r;
	Reader		d;
	uint32		version;
	uint64		total;
	uint64		def_len;
	uint64		ckpt_len;
	uint32		computed;

	memset(b, 0, sizeof(*b));
	if (len < BUNDLE_HEADER_LEN + BUNDLE_TRAILER_LEN)
		ReportCorrupt("It has %zu bytes, a bundle has at least %d.",
					  len, BUNDLE_HEADER_LEN + BUNDLE_TRAILER_LEN);
	if (memcmp(buf, EST_BUNDLE_MAGIC, sizeof(EST_BUNDLE_MAGIC)) != 0)
		ReportCorrupt("It does not start with the magic \"%s\".",
					  EST_BUNDLE_MAGIC);
	r.p = buf + sizeof(EST_BUNDLE_MAGIC);
	r.left = len - sizeof(EST_BUNDLE_MAGIC);
	version = GetU32(&r, "bundle version");
	if (version > EST_BUNDLE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model bundle was written by a newer version of estimator"),
				 errdetail("Its format version is %u, this version reads up to %d.",
						   version, EST_BUNDLE_VERSION),
				 errhint("Update the extension with ALTER EXTENSION estimator UPDATE.")));
	if (version == 0)
		ReportCorrupt("Its format version is 0.");
	total = GetU64(&r, "total length");
	if (total != len)
		ReportCorrupt("It has %zu bytes, its header says " UINT64_FORMAT ".",
					  len, total);
	b->crc = (uint32) buf[len - 4] | (uint32) buf[len - 3] << 8 |
		(uint32) buf[len - 2] << 16 | (uint32) buf[len - 1] << 24;
	computed = EstCrc32c(0, buf, len - BUNDLE_TRAILER_LEN);
	if (b->crc != computed)
		ReportCorrupt("Stored checksum is %08X, computed %08X.",
					  b->crc, computed);
	r.left -= BUNDLE_TRAILER_LEN;

	/* the definition, read within its own length */
	def_len = GetU64(&r, "definition length");
	Need(&r, def_len, "definition");
	d.p = r.p;
	d.left = (size_t) def_len;
	r.p += def_len;
	r.left -= def_len;

	b->model_type = GetString(&d, "model type");
	b->label = GetString(&d, "label");
	b->n_features = GetCount(&d, EST_MAX_FEATURES, "number of features");
	/* each feature takes at least 16 bytes: check before allocating */
	Need(&d, (size_t) b->n_features * 16, "feature list");
	b->feature_names = palloc0(Max(b->n_features, 1) * sizeof(char *));
	b->feature_types = palloc0(Max(b->n_features, 1) * sizeof(char *));
	b->feature_kinds = palloc0(Max(b->n_features, 1) * sizeof(uint32));
	b->feature_widths = palloc0(Max(b->n_features, 1) * sizeof(uint32));
	for (int i = 0; i < b->n_features; i++)
	{
		b->feature_names[i] = GetString(&d, "feature name");
		b->feature_types[i] = GetString(&d, "feature type");
		b->feature_kinds[i] = GetU32(&d, "feature kind");
		b->feature_widths[i] = GetU32(&d, "feature width");
	}
	b->n_inputs = GetU32(&d, "number of inputs");
	b->input_width = GetU32(&d, "input width");
	b->n_classes = GetU32(&d, "number of classes");
	b->label_dimension = GetU32(&d, "label dimension");
	b->n_hidden = GetCount(&d, EST_MAX_LAYERS, "number of hidden layers");
	for (int l = 0; l < b->n_hidden; l++)
		b->hidden[l] = GetU32(&d, "hidden units");
	b->activation = GetString(&d, "activation");
	b->optimizer = GetString(&d, "optimizer");
	b->learning_rate = GetF64(&d, "learning rate");
	b->batch_size = GetU32(&d, "batch size");
	b->params = GetString(&d, "params");
	b->n_label_vocabulary = GetCount(&d, EST_MAX_CLASSES,
									 "size of the label vocabulary");
	Need(&d, (size_t) b->n_label_vocabulary * 4, "label vocabulary");
	b->label_vocabulary = palloc0(Max(b->n_label_vocabulary, 1) *
								  sizeof(char *));
	for (int i = 0; i < b->n_label_vocabulary; i++)
		b->label_vocabulary[i] = GetString(&d, "class name");
	b->global_step = (int64) GetU64(&d, "global step");
	b->loss = GetF64(&d, "loss");
	if (d.left != 0)
		ReportCorrupt("The definition has %zu bytes past its end.", d.left);

	ckpt_len = GetU64(&r, "checkpoint length");
	if (ckpt_len != r.left)
		ReportCorrupt("The checkpoint length is " UINT64_FORMAT ", %zu bytes remain.",
					  ckpt_len, r.left);
	b->checkpoint = r.p;
	b->checkpoint_len = r.left;
}

/* In1To reports whether v lies in [1, max]. */
static bool
In1To(uint32 v, uint32 max)
{
	return v >= 1 && v <= max;
}

/*
 * ModelTypeOf, ActivationOf and OptimizerOf return the value of a name,
 * or -1 for a name this version does not know.
 */
static int
ModelTypeOf(const char *name)
{
	for (int t = EST_DNN_CLASSIFIER; t <= EST_COMBINED_REGRESSOR; t++)
		if (strcmp(EstModelTypeName((EstModelType) t), name) == 0)
			return t;
	return -1;
}

static int
ActivationOf(const char *name)
{
	for (int a = EST_ACT_RELU; a <= EST_ACT_GELU; a++)
		if (strcmp(EstActivationName((EstActivation) a), name) == 0)
			return a;
	return -1;
}

static int
OptimizerOf(const char *name)
{
	for (int o = EST_OPT_SGD; o <= EST_OPT_FTRL; o++)
		if (strcmp(EstOptimizerName((EstOptimizerKind) o), name) == 0)
			return o;
	return -1;
}

/* KindName names an EstColumnKind for messages. */
static const char *
KindName(uint32 kind)
{
	switch (kind)
	{
		case EST_COL_SCALAR:
			return "a number";
		case EST_COL_ARRAY:
			return "an array of numbers";
		case EST_COL_BOOL:
			return "a boolean";
		case EST_COL_TEXT:
			return "text";
		case EST_COL_TEXT_ARRAY:
			return "a text array";
	}
	return "a value it cannot read";
}

/* qsort comparator of C strings */
static int
CompareNames(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Uncorrupted runs check, a function that only reads and compares, and
 * turns its data exception (class 22: what a bundle says that est_train
 * would refuse) or undefined column (params naming a column that no feature
 * column reads) into a corrupted bundle's, with the message as detail; any
 * other error, a cancel or out of memory, stays what it is.  Such a check
 * holds no resource, so its error can be caught without a subtransaction.
 */
typedef void (*BundleCheck) (const EstModelDef *def, EstOptions *opts,
							 const EstCheckpoint *ckpt);

static void
Uncorrupted(BundleCheck check, const EstModelDef *def, EstOptions *opts,
			const EstCheckpoint *ckpt)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile message = NULL;

	PG_TRY();
	{
		check(def, opts, ckpt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
			edata->sqlerrcode != ERRCODE_UNDEFINED_COLUMN)
			PG_RE_THROW();
		FlushErrorState();
		message = edata->message;
	}
	PG_END_TRY();
	if (message != NULL)
		ReportCorrupt("Its params are not valid: %s.", message);
}

static void
ParseParamsCheck(const EstModelDef *def, EstOptions *opts,
				 const EstCheckpoint *ckpt)
{
	(void) ckpt;
	EstParseParams(def->params, opts);
}

/*
 * ResolveDefinition turns a bundle's definition into a model definition
 * of this database: names become enumerations, feature types are looked
 * up by name, and every figure is checked as training would have set it.
 * *opts is what its params say.
 */
static EstModelDef *
ResolveDefinition(const BundleDef *b, const char *name, EstOptions *opts)
{
	EstModelDef *def = palloc0(sizeof(EstModelDef));
	int			type = ModelTypeOf(b->model_type);
	int			activation = ActivationOf(b->activation);
	int			optimizer = OptimizerOf(b->optimizer);
	bool		regressor;

	if (type < 0)
		ReportCorrupt("It names the unknown model type \"%s\".", b->model_type);
	if (activation < 0)
		ReportCorrupt("It names the unknown activation \"%s\".", b->activation);
	if (optimizer < 0)
		ReportCorrupt("It names the unknown optimizer \"%s\".", b->optimizer);
	regressor = EST_IS_REGRESSOR(type);
	if (!In1To(b->n_inputs, INT_MAX) || !In1To(b->input_width, EST_MAX_UNITS))
		ReportCorrupt("It has %u inputs and an input width of %u.",
					  b->n_inputs, b->input_width);
	if (regressor ? (b->n_classes != 0 ||
					 !In1To(b->label_dimension, EST_MAX_CLASSES)) :
		(b->label_dimension != 0 || b->n_classes < 2 ||
		 b->n_classes > EST_MAX_CLASSES))
		ReportCorrupt("A %s cannot have %u classes and a label dimension of %u.",
					  b->model_type, b->n_classes, b->label_dimension);
	if (b->n_label_vocabulary != 0 &&
		(regressor || (uint32) b->n_label_vocabulary != b->n_classes))
		ReportCorrupt("It has %d class names for %u classes.",
					  b->n_label_vocabulary, b->n_classes);
	if (b->n_label_vocabulary > 1)
	{
		char	  **sorted = palloc(b->n_label_vocabulary * sizeof(char *));

		memcpy(sorted, b->label_vocabulary,
			   b->n_label_vocabulary * sizeof(char *));
		qsort(sorted, b->n_label_vocabulary, sizeof(char *), CompareNames);
		for (int i = 1; i < b->n_label_vocabulary; i++)
			if (strcmp(sorted[i], sorted[i - 1]) == 0)
				ReportCorrupt("Class name \"%s\" appears twice.", sorted[i]);
		pfree(sorted);
	}
	if (EST_IS_LINEAR(type) ? b->n_hidden != 0 : b->n_hidden == 0)
		ReportCorrupt("A %s cannot have %d hidden layers.",
					  b->model_type, b->n_hidden);
	for (int l = 0; l < b->n_hidden; l++)
		if (!In1To(b->hidden[l], EST_MAX_UNITS))
			ReportCorrupt("Hidden layer %d has %u units.", l + 1, b->hidden[l]);
	if (!(b->learning_rate > 0) || isinf(b->learning_rate) ||
		!In1To(b->batch_size, 65536) || b->global_step < 0 ||
		b->n_features < 1)
		ReportCorrupt("It has a learning rate of %g, a batch size of %u, step " INT64_FORMAT " and %d features.",
					  b->learning_rate, b->batch_size, b->global_step,
					  b->n_features);

	def->name = pstrdup(name);
	def->owner = GetUserId();
	def->type = (EstModelType) type;
	def->label = b->label;
	def->n_features = b->n_features;
	def->features = palloc0(b->n_features * sizeof(EstColumn));
	for (int i = 0; i < b->n_features; i++)
	{
		EstColumn  *col = &def->features[i];
		Oid			typid;
		int32		typmod;

		for (int j = 0; j < i; j++)
			if (strcmp(b->feature_names[j], b->feature_names[i]) == 0)
				ReportCorrupt("It names feature \"%s\" twice.",
							  b->feature_names[i]);
		parseTypeString(b->feature_types[i], &typid, &typmod, true);
		if (!OidIsValid(typid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("type \"%s\" of feature \"%s\" does not exist",
							b->feature_types[i], b->feature_names[i]),
					 errhint("Create the type in this database before importing the model.")));
		col->name = b->feature_names[i];
		col->type = typid;
		col->base_type = InvalidOid;
		col->kind = EstClassifyType(typid);
		col->width = (int) b->feature_widths[i];
		if ((uint32) col->kind != b->feature_kinds[i] ||
			col->kind == EST_COL_UNSUPPORTED)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("type \"%s\" of feature \"%s\" is read differently in this database",
							b->feature_types[i], col->name),
					 errdetail("The model reads the feature as %s, this database's type of that name as %s.",
							   KindName(b->feature_kinds[i]),
							   KindName((uint32) col->kind))));
		if (col->width < 1 || col->width > EST_MAX_UNITS)
			ReportCorrupt("Feature \"%s\" has a width of %u.", col->name,
						  b->feature_widths[i]);
	}
	def->n_inputs = (int) b->n_inputs;
	def->input_width = (int) b->input_width;
	def->n_classes = (int) b->n_classes;
	def->label_dimension = (int) b->label_dimension;
	def->n_label_vocabulary = b->n_label_vocabulary;
	def->label_vocabulary = b->label_vocabulary;
	def->n_hidden = b->n_hidden;
	for (int l = 0; l < b->n_hidden; l++)
		def->hidden[l] = (int) b->hidden[l];
	def->activation = (EstActivation) activation;
	def->optimizer = (EstOptimizerKind) optimizer;
	def->learning_rate = b->learning_rate;
	def->batch_size = (int) b->batch_size;
	{
		JsonLexContext *lex;
		JsonParseErrorType jerr;

		lex = makeJsonLexContextCstringLen(b->params, strlen(b->params),
										   GetDatabaseEncoding(), true);
		jerr = pg_parse_json(lex, &nullSemAction);
		if (jerr != JSON_SUCCESS)
			ReportCorrupt("Its params are not JSON: %s",
						  json_errdetail(jerr, lex));
	}
	def->params = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum(b->params)));
	Uncorrupted(ParseParamsCheck, def, opts, NULL);
	def->weight_column = opts->weight_column;
	def->global_step = b->global_step;
	return def;
}

/*
 * ParamsAgreeCheck checks that the params agree with the definition and
 * the checkpoint, as those of a call that continues training must (a
 * bundle whose params were changed and its CRC computed again names, say,
 * 2 classes for a model of 3).
 */
static void
ParamsAgreeCheck(const EstModelDef *def, EstOptions *opts,
				 const EstCheckpoint *ckpt)
{
	EstTrainRequest req;

	memset(&req, 0, sizeof(req));
	req.n_features = -1;
	req.n_hidden = -1;
	req.params = def->params;
	req.opts = *opts;
	EstCheckCompatible(def, &req);
	EstCheckCompatibleNetwork(def, opts, ckpt);
}

/* SourceList shows the source columns of a feature column as {a,b}. */
static char *
SourceList(const EstFeatureColumn *fc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < fc->n_keys; k++)
		appendStringInfo(&buf, "%s%s", k > 0 ? "," : "{",
						 quote_identifier(fc->keys[k]));
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* NullText says what a numeric column makes of a NULL. */
static char *
NullText(const EstFeatureColumn *fc)
{
	switch (fc->null_policy)
	{
		case EST_NULL_ERROR:
			return "an error";
		case EST_NULL_DEFAULT:
			return psprintf("the default value %s",
							float8out_internal(fc->default_value));
		case EST_NULL_MEAN:
			return "the training mean";
	}
	return "an unknown value";
}

/* MaxSizeText shows the bound of a learned vocabulary. */
static char *
MaxSizeText(const EstFeatureColumn *fc)
{
	return fc->max_size > 0 ? psprintf("%d", fc->max_size) : "none";
}

/*
 * SameDeclaration checks what a column's declaration says before it is
 * built, given that of the checkpoint's column c: the name, the kind, the
 * source columns and the settings of a numeric column (its shape decides
 * whether its source fits).  Once these agree, building the declared
 * column cannot fail on its sources where the checkpoint's did not.
 */
static void
SameDeclaration(const EstFeatureColumn *d, const EstFeatureColumn *t, int c,
				const char *who)
{
	bool		same_keys = d->n_keys == t->n_keys;

	if (strcmp(d->name, t->name) != 0)
		ReportCorrupt("%s name feature column %d \"%s\", its checkpoint \"%s\".",
					  who, c + 1, d->name, t->name);
	if (d->kind != t->kind)
		ReportCorrupt("%s make feature column \"%s\" a %s column, its checkpoint a %s column.",
					  who, t->name, EstFeatureKindName(d->kind),
					  EstFeatureKindName(t->kind));
	for (int k = 0; same_keys && k < t->n_keys; k++)
		same_keys = strcmp(d->keys[k], t->keys[k]) == 0;
	if (!same_keys)
		ReportCorrupt("%s give feature column \"%s\" source columns %s, its checkpoint %s.",
					  who, t->name, SourceList(d), SourceList(t));
	if (t->kind != EST_FC_NUMERIC)
		return;
	if (d->shape != t->shape)
		ReportCorrupt("%s give feature column \"%s\" shape %d, its checkpoint %d.",
					  who, t->name, d->shape, t->shape);
	if (d->normalizer != t->normalizer)
		ReportCorrupt("%s give feature column \"%s\" normalizer %s, its checkpoint %s.",
					  who, t->name, EstNormalizerName(d->normalizer),
					  EstNormalizerName(t->normalizer));
	if (d->null_policy != t->null_policy ||
		(t->null_policy == EST_NULL_DEFAULT &&
		 d->default_value != t->default_value))
		ReportCorrupt("%s make a NULL of feature column \"%s\" %s, its checkpoint %s.",
					  who, t->name, NullText(d), NullText(t));
}

/*
 * SameCategorical checks the settings of a built categorical column d
 * against the checkpoint's column t of the same kind: what training takes
 * from the declaration as it is.  A learned vocabulary's entries and
 * counts are learned from the rows, and not compared.
 */
static void
SameCategorical(const EstFeatureColumn *d, const EstFeatureColumn *t,
				const char *who)
{
	const char *name = t->name;

	if (d->slots != t->slots)
		ReportCorrupt("%s give feature column \"%s\" %d values a row, its checkpoint %d.",
					  who, name, d->slots, t->slots);
	if (d->representation != t->representation)
		ReportCorrupt("%s make feature column \"%s\" an %s, its checkpoint an %s.",
					  who, name, EstRepresentationName(d->representation),
					  EstRepresentationName(t->representation));
	if (t->representation == EST_INPUT_EMBEDDING && d->dimension != t->dimension)
		ReportCorrupt("%s give feature column \"%s\" embedding dimension %d, its checkpoint %d.",
					  who, name, d->dimension, t->dimension);
	if (t->representation == EST_INPUT_EMBEDDING && d->combiner != t->combiner)
		ReportCorrupt("%s give feature column \"%s\" combiner %s, its checkpoint %s.",
					  who, name, EstCombinerName(d->combiner),
					  EstCombinerName(t->combiner));
	switch (t->kind)
	{
		case EST_FC_BUCKETIZED:
			if (d->n_boundaries != t->n_boundaries)
				ReportCorrupt("%s give feature column \"%s\" %d boundaries, its checkpoint %d.",
							  who, name, d->n_boundaries, t->n_boundaries);
			for (int b = 0; b < t->n_boundaries; b++)
				if (d->boundaries[b] != t->boundaries[b])
					ReportCorrupt("%s give boundary %d of feature column \"%s\" as %s, its checkpoint as %s.",
								  who, b + 1, name,
								  float8out_internal(d->boundaries[b]),
								  float8out_internal(t->boundaries[b]));
			break;
		case EST_FC_VOCABULARY:
			if (d->learned != t->learned)
				ReportCorrupt(d->learned ?
							  "%s have feature column \"%s\" learn its vocabulary, its checkpoint's is given." :
							  "%s give feature column \"%s\" a vocabulary, its checkpoint's is learned.",
							  who, name);
			if (d->num_oov != t->num_oov)
				ReportCorrupt("%s give feature column \"%s\" %d OOV buckets, its checkpoint %d.",
							  who, name, d->num_oov, t->num_oov);
			if (t->learned &&
				(d->hash_above != t->hash_above ||
				 d->auto_buckets != t->auto_buckets ||
				 d->auto_dimension != t->auto_dimension))
				ReportCorrupt(d->hash_above > 0 ?
							  "%s infer feature column \"%s\", its checkpoint declared it." :
							  "%s declare feature column \"%s\", its checkpoint inferred it.",
							  who, name);
			if (t->learned && d->max_size != t->max_size)
				ReportCorrupt("%s give feature column \"%s\" max_size %s, its checkpoint %s.",
							  who, name, MaxSizeText(d), MaxSizeText(t));
			if (t->learned)
				break;
			if (d->vocab_size != t->vocab_size)
				ReportCorrupt("%s give feature column \"%s\" a vocabulary of %d entries, its checkpoint %d.",
							  who, name, d->vocab_size, t->vocab_size);
			for (int i = 0; i < t->vocab_size; i++)
				if (strcmp(d->vocab[i], t->vocab[i]) != 0)
					ReportCorrupt("%s and its checkpoint differ in entry %d of the vocabulary of feature column \"%s\".",
								  who, i + 1, name);
			break;
		case EST_FC_IDENTITY:
			if (d->num_buckets != t->num_buckets)
				ReportCorrupt("%s give feature column \"%s\" " INT64_FORMAT " buckets, its checkpoint " INT64_FORMAT ".",
							  who, name, d->num_buckets, t->num_buckets);
			if (d->default_id != t->default_id)
				ReportCorrupt("%s give feature column \"%s\" default id " INT64_FORMAT ", its checkpoint " INT64_FORMAT ".",
							  who, name, d->default_id, t->default_id);
			break;
		case EST_FC_HASH:
		case EST_FC_CROSSED:
			if (d->num_buckets != t->num_buckets)
				ReportCorrupt("%s give feature column \"%s\" a hash_bucket_size of " INT64_FORMAT ", its checkpoint " INT64_FORMAT ".",
							  who, name, d->num_buckets, t->num_buckets);
			break;
		case EST_FC_NUMERIC:
			break;
	}
}

/* the subject of SameDeclaration's and SameCategorical's details */
#define DECLARED_BY	"Its params"
#define INFERRED_BY	"Its params, which declare no feature columns,"

/*
 * LegacyShape tells whether a transform has the shape that
 * EstLegacyTransform gives the checkpoint of estimator 0.1.0, which the
 * model keeps when it trains on: numeric columns whose NULLs are errors.
 */
static bool
LegacyShape(const EstTransform *tf)
{
	for (int c = 0; c < tf->n_columns; c++)
		if (tf->columns[c].kind != EST_FC_NUMERIC ||
			tf->columns[c].null_policy != EST_NULL_ERROR)
			return false;
	return true;
}

/*
 * InferredAgree checks the transform of a checkpoint whose params declare
 * no feature columns against what inference makes of the definition's
 * features (EstBuildTransform without feature_columns), as ColumnsAgreeCheck
 * does declared ones, allowing for what fitting decides: an inferred
 * vocabulary column with too many values becomes a hash column.  A
 * transform of 0.1.0's shape may make NULLs errors where inference takes
 * the mean.  A bundle whose params lost their feature_columns would
 * otherwise predict as its checkpoint and train anew (reset => true) from
 * inferred columns.
 */
static void
InferredAgree(const EstModelDef *def, const EstTransform *tf)
{
	EstOptions	none;
	EstTransform inferred;
	bool		legacy = LegacyShape(tf);

	memset(&none, 0, sizeof(none));
	none.n_feature_columns = -1;
	EstBuildTransform(def->features, def->n_features, &none, &inferred);
	if (inferred.n_columns != tf->n_columns)
		ReportCorrupt(INFERRED_BY " infer %d feature columns, its checkpoint has %d.",
					  inferred.n_columns, tf->n_columns);
	for (int c = 0; c < tf->n_columns; c++)
	{
		EstFeatureColumn *d = &inferred.columns[c];
		const EstFeatureColumn *t = &tf->columns[c];

		if (d->kind == EST_FC_VOCABULARY && d->hash_above > 0 &&
			t->kind == EST_FC_HASH)
			EstFeatureColumnToHash(d);
		if (legacy && d->kind == EST_FC_NUMERIC)
			d->null_policy = EST_NULL_ERROR;
		SameDeclaration(d, t, c, INFERRED_BY);
		if (t->kind != EST_FC_NUMERIC)
			SameCategorical(d, t, INFERRED_BY);
	}
}

/*
 * ColumnsAgreeCheck checks the feature columns that params declare
 * against the checkpoint's transform, which training built from them: the
 * same columns in the same order, each of the same name, kind, source
 * columns and declared settings, after the defaults that training fills
 * in (EstBuildTransform).  What training learns from the rows (a learned
 * vocabulary's entries, statistics) is not declared and not compared.
 * Params without feature_columns declare nothing: the columns must be
 * those inferred from the features' types (InferredAgree).  A bundle whose
 * params were edited, an embedding dimension or a boundary, would
 * otherwise predict as its checkpoint and train anew (reset => true) as
 * its params say.
 */
static void
ColumnsAgreeCheck(const EstModelDef *def, EstOptions *opts,
				  const EstCheckpoint *ckpt)
{
	const EstTransform *tf = &ckpt->transform;
	EstTransform declared;

	if (opts->n_feature_columns < 0)
	{
		InferredAgree(def, tf);
		return;
	}
	if (opts->n_feature_columns != tf->n_columns)
		ReportCorrupt("Its params declare %d feature columns, its checkpoint %d.",
					  opts->n_feature_columns, tf->n_columns);
	for (int c = 0; c < tf->n_columns; c++)
		SameDeclaration(&opts->feature_columns[c], &tf->columns[c], c,
						DECLARED_BY);
	EstBuildTransform(def->features, def->n_features, opts, &declared);
	for (int c = 0; c < tf->n_columns; c++)
		if (tf->columns[c].kind != EST_FC_NUMERIC)
			SameCategorical(&declared.columns[c], &tf->columns[c],
							DECLARED_BY);
}

/*
 * PartColumnsCheck checks the column list of one part of a wide & deep
 * model, names (n_names < 0: left out, every column), against the inputs
 * its network reads there, as continuing training does (EstSameColumns).
 */
static void
PartColumnsCheck(const EstModelDef *def, const EstCheckpoint *ckpt,
				 char **names, int n_names, const char *param, bool linear,
				 const int *inputs, int n_inputs)
{
	if (n_names < 0 &&
		!EstSameColumns(def, &ckpt->transform, NULL, 0, param, linear,
						inputs, n_inputs))
		ReportCorrupt("Its params leave out %s, its checkpoint's network does not read every column in its %s part.",
					  param, linear ? "linear" : "DNN");
	if (n_names >= 0 &&
		!EstSameColumns(def, &ckpt->transform, names, n_names, param, linear,
						inputs, n_inputs))
		ReportCorrupt("Its params give %s other columns than its checkpoint's network reads in its %s part.",
					  param, linear ? "linear" : "DNN");
}

/*
 * NetworkColumnsCheck checks linear_feature_columns and
 * dnn_feature_columns, which split the columns of a wide & deep model
 * between its two parts, against its checkpoint's network: a bundle whose
 * params move a column from one part to the other would predict as its
 * network and train anew (reset => true) as its params say.
 */
static void
NetworkColumnsCheck(const EstModelDef *def, EstOptions *opts,
					const EstCheckpoint *ckpt)
{
	if (!EST_IS_COMBINED(def->type))
	{
		if (opts->n_linear_columns >= 0 || opts->n_dnn_columns >= 0)
			ReportCorrupt("Its params give linear_feature_columns or dnn_feature_columns to a %s.",
						  EstModelTypeName(def->type));
		return;
	}
	PartColumnsCheck(def, ckpt, opts->linear_columns, opts->n_linear_columns,
					 "linear_feature_columns", true, ckpt->net.linear_inputs,
					 ckpt->net.n_linear_inputs);
	PartColumnsCheck(def, ckpt, opts->dnn_columns, opts->n_dnn_columns,
					 "dnn_feature_columns", false, ckpt->net.dnn_inputs,
					 ckpt->net.n_dnn_inputs);
}

/*
 * CheckImportedParams checks the params against the definition and the
 * checkpoint: what continuing training checks, the feature columns, the
 * class names, and a weight column that is not a feature.
 */
static void
CheckImportedParams(const EstModelDef *def, EstOptions *opts,
					const EstCheckpoint *ckpt)
{
	Uncorrupted(ParamsAgreeCheck, def, opts, ckpt);
	Uncorrupted(ColumnsAgreeCheck, def, opts, ckpt);
	Uncorrupted(NetworkColumnsCheck, def, opts, ckpt);
	if (opts->n_label_vocabulary >= 0)
	{
		bool		same = opts->n_label_vocabulary == def->n_label_vocabulary;

		for (int i = 0; same && i < def->n_label_vocabulary; i++)
			same = strcmp(opts->label_vocabulary[i],
						  def->label_vocabulary[i]) == 0;
		if (!same)
			ReportCorrupt("Its params give other class names than its definition.");
	}
	for (int i = 0; opts->weight_column != NULL && i < def->n_features; i++)
		if (strcmp(def->features[i].name, opts->weight_column) == 0)
			ReportCorrupt("Its params make feature \"%s\" the weight column.",
						  opts->weight_column);
}

/*
 * OnlyEmbeddings tells whether every feature column of a checkpoint is an
 * embedding: the one kind of wide & deep model without a linear part.
 */
static bool
OnlyEmbeddings(const EstCheckpoint *ckpt)
{
	const EstTransform *tf = &ckpt->transform;
	EstInputSegment *segs = palloc(Max(tf->n_columns, 1) *
								   sizeof(EstInputSegment));
	bool		only = true;

	EstTransformSegments(tf, segs);
	for (int c = 0; c < tf->n_columns; c++)
		only &= segs[c].kind == EST_INPUT_EMBEDDING;
	pfree(segs);
	return only;
}

/*
 * CheckImportedCheckpoint checks what EstDecodeCheckpoint does not and
 * training relies on: the input vector, the activation, the parts of a
 * wide & deep network, the optimizer, feature columns that read only the
 * model's features, and params (opts, as ResolveDefinition read them)
 * that agree with both.  A definition that contradicts its network would
 * be shown in the catalog while the network's own description decides
 * what est_predict and est_train compute.
 */
static void
CheckImportedCheckpoint(const EstModelDef *def, EstOptions *opts,
						const EstCheckpoint *ckpt)
{
	bool		combined = EST_IS_COMBINED(def->type);

	if (ckpt->net.input_width != def->input_width)
		ReportCorrupt("Its checkpoint has an input vector of %d values, its definition %d.",
					  ckpt->net.input_width, def->input_width);
	if (def->n_hidden > 0 && ckpt->net.activation != def->activation)
		ReportCorrupt("Its checkpoint's hidden layers use activation %s, its definition %s.",
					  EstActivationName(ckpt->net.activation),
					  EstActivationName(def->activation));
	if (!combined && (ckpt->net.n_linear_inputs > 0 ||
					  ckpt->net.n_dnn_inputs > 0))
		ReportCorrupt("Its checkpoint holds a wide & deep network, its definition a %s.",
					  EstModelTypeName(def->type));
	if (combined && ckpt->net.n_linear_inputs == 0 && !OnlyEmbeddings(ckpt))
		ReportCorrupt("Its checkpoint's network has no linear part, its definition is a %s.",
					  EstModelTypeName(def->type));
	if (ckpt->opt.kind != def->optimizer)
		ReportCorrupt("Its checkpoint holds %s slots, its definition uses %s.",
					  EstOptimizerName(ckpt->opt.kind),
					  EstOptimizerName(def->optimizer));
	for (int c = 0; c < ckpt->transform.n_columns; c++)
	{
		const EstFeatureColumn *fc = &ckpt->transform.columns[c];

		for (int k = 0; k < fc->n_keys; k++)
		{
			bool		found = false;

			for (int i = 0; i < def->n_features && !found; i++)
				found = strcmp(def->features[i].name, fc->keys[k]) == 0;
			if (!found)
				ReportCorrupt("Feature column \"%s\" reads column \"%s\", which the definition does not have.",
							  fc->name, fc->keys[k]);
		}
	}
	/* and each reads what its source column holds, as training checks */
	EstCheckTransformSources((EstTransform *) &ckpt->transform, def->features,
							 def->n_features);
	CheckImportedParams(def, opts, ckpt);
}

/* ----------------------------------------------------------------
 * The SQL functions
 * ----------------------------------------------------------------
 */

/*
 * LoadServing reads and decodes the serving checkpoint of a model that the
 * caller may use for action, in the current memory context.
 */
static EstModelDef *
LoadServing(const char *name, const char *action, EstCheckpoint *ckpt,
			bytea **data, int64 *step, double *loss)
{
	EstModelDef *def;
	char		what[128 + EST_MAX_NAME_LEN];

	def = EstCatalogGetModel(name, false, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_PREDICT, action);
	*data = EstCatalogServingCheckpoint(name, step, loss);
	if (*data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no checkpoint", name),
				 errhint("Train it with est_train first.")));
	snprintf(what, sizeof(what), "checkpoint of model \"%s\" at step " INT64_FORMAT,
			 name, *step);
	EstDecodeCheckpoint(def, (const uint8 *) VARDATA_ANY(*data),
						VARSIZE_ANY_EXHDR(*data), *step, what, ckpt);
	return def;
}

/*
 * est_export(model) returns a bundle of the model's definition and its
 * serving checkpoint, which est_import reads in another database.
 */
Datum
est_export(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	MemoryContext callerContext = CurrentMemoryContext;
	EstModelDef *def;
	EstCheckpoint ckpt;
	bytea	   *data;
	int64		step;
	double		loss;
	StringInfoData defbuf;
	size_t		ckpt_len;
	size_t		total;
	bytea	   *result;
	uint8	   *p;

	SPI_connect();
	def = LoadServing(name, "export", &ckpt, &data, &step, &loss);
	initStringInfo(&defbuf);
	WriteDefinition(&defbuf, def, step, loss);

	ckpt_len = VARSIZE_ANY_EXHDR(data);
	total = add_size(add_size(BUNDLE_HEADER_LEN + 8 + 8 + BUNDLE_TRAILER_LEN,
							  defbuf.len), ckpt_len);
	if (total > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("model \"%s\" is too large to export", name),
				 errdetail("Its bundle needs %zu bytes, a bytea value holds at most %zu.",
						   total, (size_t) (MaxAllocSize - VARHDRSZ))));

	result = MemoryContextAlloc(callerContext, total + VARHDRSZ);
	SET_VARSIZE(result, total + VARHDRSZ);
	p = (uint8 *) VARDATA(result);
	memcpy(p, EST_BUNDLE_MAGIC, sizeof(EST_BUNDLE_MAGIC));
	p += sizeof(EST_BUNDLE_MAGIC);
	StoreU32(p, EST_BUNDLE_VERSION);
	p += 4;
	StoreU64(p, total);
	p += 8;
	StoreU64(p, (uint64) defbuf.len);
	p += 8;
	memcpy(p, defbuf.data, defbuf.len);
	p += defbuf.len;
	StoreU64(p, ckpt_len);
	p += 8;
	memcpy(p, VARDATA_ANY(data), ckpt_len);
	p += ckpt_len;
	StoreU32(p, EstCrc32c(0, VARDATA(result), total - BUNDLE_TRAILER_LEN));

	SPI_finish();
	PG_RETURN_BYTEA_P(result);
}

/*
 * est_import(model, bundle) creates a model, owned by the caller, from a
 * bundle that est_export wrote: its definition and one checkpoint.
 */
Datum
est_import(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = EstModelNameArg(fcinfo, 0);
	bytea	   *bundle = PG_GETARG_BYTEA_PP(1);
	BundleDef	b;
	EstModelDef *def;
	EstOptions	opts;
	EstCheckpoint ckpt;
	bytea	   *data;
	char		fingerprint[32];
	Datum		values[2];
	bool		nulls[2] = {false, false};

	EstCheckNotTraining(name, "import");
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	ReadBundle((const uint8 *) VARDATA_ANY(bundle),
			   VARSIZE_ANY_EXHDR(bundle), &b);

	if (EstCatalogGetModel(name, true, true) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" already exists", name),
				 errhint("Drop it with est_drop_model first, or import under another name.")));

	def = ResolveDefinition(&b, name, &opts);
	EstDecodeCheckpoint(def, b.checkpoint, b.checkpoint_len, def->global_step,
						"checkpoint in the model bundle", &ckpt);
	CheckImportedCheckpoint(def, &opts, &ckpt);
	EstCheckpointFree(&ckpt);

	/*
	 * A stored eval_source is SQL that the model's next trainings run with
	 * their rights, the importer's included, as SQL of the model's owner
	 * (CheckStoredEvalSource).  The bundle's was written by whoever made
	 * the exported model, not by the importer: it is left out.
	 */
	if (opts.eval_source != NULL)
	{
		ereport(NOTICE,
				(errmsg("model \"%s\" is imported without the eval_source of its params",
						name),
				 errdetail("The bundle's params give eval_source \"%s\", SQL that another role may have written.",
						   opts.eval_source),
				 errhint("Give eval_source in the params of a training.")));
		def->params = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete,
														 JsonbPGetDatum(def->params),
														 CStringGetTextDatum("eval_source")));
	}

	if (!EstCatalogInsertModel(def, false))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model \"%s\" was created by a concurrent transaction",
						name),
				 errhint("Drop it with est_drop_model first, or import under another name.")));
	EstCatalogForgetEvaluations(name);
	EstCatalogUpdateModel(def);

	data = palloc(b.checkpoint_len + VARHDRSZ);
	SET_VARSIZE(data, b.checkpoint_len + VARHDRSZ);
	memcpy(VARDATA(data), b.checkpoint, b.checkpoint_len);
	snprintf(fingerprint, sizeof(fingerprint), "crc32c:%08X", b.crc);
	EstCatalogInsertCheckpoint(name, def->global_step, b.loss, data,
							   "est_import", -1, fingerprint);
	SPI_finish();

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(def->global_step);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* WeightRow adds one row of est_weights. */
static void
WeightRow(ReturnSetInfo *rsinfo, int layer, const char *kind,
		  const char *name, int rows, int cols, const float *v)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	Datum		shape[2];
	size_t		n = (size_t) rows * (cols > 0 ? cols : 1);
	Datum	   *elems;

	if (n > MaxAllocSize / sizeof(Datum))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s \"%s\" has too many values to show", kind, name),
				 errdetail("It has %zu values, an array holds at most %zu.",
						   n, (size_t) (MaxAllocSize / sizeof(Datum)))));
	elems = palloc(Max(n, 1) * sizeof(Datum));
	for (size_t i = 0; i < n; i++)
		elems[i] = Float4GetDatum(v[i]);
	shape[0] = Int32GetDatum(rows);
	shape[1] = Int32GetDatum(cols);
	values[0] = Int32GetDatum(layer);
	values[1] = CStringGetTextDatum(kind);
	values[2] = CStringGetTextDatum(name);
	values[3] = PointerGetDatum(construct_array(shape, cols > 0 ? 2 : 1,
												INT4OID, sizeof(int32), true,
												TYPALIGN_INT));
	values[4] = Int32GetDatum((int32) n);
	values[5] = PointerGetDatum(construct_array(elems, (int) n, FLOAT4OID,
												sizeof(float4), true,
												TYPALIGN_INT));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	pfree(elems);
}

/*
 * est_weights(model) shows the trainable parameters of the serving
 * checkpoint, one row per array: for dense layer l (1 .. the output layer,
 * named hiddenlayer_<l-1> or logits, as TensorFlow does) its kernel
 * {inputs, units} in row-major order and its bias, with batch
 * normalisation gamma, beta and the moving mean and variance; at layer 0
 * the embedding table of each embedding column {buckets, dimension}, named
 * after the column, and the linear part of a wide & deep model.
 */
Datum
est_weights(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstCheckpoint ckpt;
	bytea	   *data;
	int64		step;
	double		loss;
	const EstNetwork *net;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	LoadServing(name, "inspect", &ckpt, &data, &step, &loss);
	net = &ckpt.net;

	/*
	 * The k-th embedding segment is the k-th embedding column: a network
	 * may hold adjacent dense columns as one segment, never embeddings.
	 */
	for (int s = 0, c = 0; s < net->n_segments; s++)
	{
		const EstInputSegment *seg = &net->segments[s];
		const char *column = "";

		if (seg->kind != EST_INPUT_EMBEDDING)
			continue;
		while (c < ckpt.transform.n_columns &&
			   ckpt.transform.columns[c].representation != EST_INPUT_EMBEDDING)
			c++;
		if (c < ckpt.transform.n_columns)
			column = ckpt.transform.columns[c++].name;
		WeightRow(rsinfo, 0, "embedding", column, seg->buckets,
				  seg->dimension, net->params + net->offset_embed[s]);
	}
	for (int l = 0; l < net->n_layers; l++)
	{
		char		layer_name[32];
		int			in = net->sizes[l];
		int			out = net->sizes[l + 1];

		CHECK_FOR_INTERRUPTS();
		if (l + 1 == net->n_layers)
			strlcpy(layer_name, "logits", sizeof(layer_name));
		else
			snprintf(layer_name, sizeof(layer_name), "hiddenlayer_%d", l);
		WeightRow(rsinfo, l + 1, "kernel", layer_name, in, out,
				  net->params + net->offset_w[l]);
		WeightRow(rsinfo, l + 1, "bias", layer_name, out, 0,
				  net->params + net->offset_b[l]);
		if (net->batch_norm && l + 1 < net->n_layers)
		{
			int			h = l + 1;

			WeightRow(rsinfo, h, "gamma", layer_name, out, 0,
					  net->params + net->offset_gamma[h]);
			WeightRow(rsinfo, h, "beta", layer_name, out, 0,
					  net->params + net->offset_beta[h]);
			WeightRow(rsinfo, h, "moving_mean", layer_name, out, 0,
					  net->stats + net->offset_stats[h]);
			WeightRow(rsinfo, h, "moving_variance", layer_name, out, 0,
					  net->stats + net->offset_stats[h] + out);
		}
	}
	if (net->n_linear_inputs > 0)
	{
		int			outputs = net->sizes[net->n_layers];

		WeightRow(rsinfo, 0, "linear_kernel", "linear", net->n_linear_inputs,
				  outputs, net->params + net->linear_offset);
		WeightRow(rsinfo, 0, "linear_bias", "linear", outputs, 0,
				  net->params + net->linear_offset +
				  (size_t) net->n_linear_inputs * outputs);
	}
	SPI_finish();
	return (Datum) 0;
}
