/*-------------------------------------------------------------------------
 *
 * input.c
 *	  Reading sources through SPI: the input_fn of estimator.
 *
 * A source is either the name of a table, view, materialized view,
 * partitioned or foreign table (parsed as SQL parses a qualified name, and
 * resolved in the catalog), or the text of one SELECT, VALUES or WITH
 * query.  A name is never pasted into SQL: it is resolved to a relation
 * OID, and the query built from it quotes the catalog's own names.  A
 * query is prepared as it is and must plan to exactly one statement that
 * only reads.  Both run through an SPI cursor as the calling role, so
 * table, column and row-level privileges apply.
 *
 * Each row becomes float32 network inputs (one per scalar column, width
 * per array column) and, when a label is read, a float label.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "estimator.h"

#define EST_FETCH_ROWS	1000

struct EstReader
{
	const char *source;			/* as given, for messages */
	Portal		portal;
	TupleDesc	tupdesc;
	int			label_att;		/* 0-based, -1 when no label is read */
	Oid			label_type;
	EstLabelKind label_kind;
	EstColumn	label_col;		/* for values: name, type, kind, width */
	int			key_att;		/* 0-based, -1 when no key is read */
	FmgrInfo	key_out;		/* the key's output function */
	char	  **keys;			/* the keys of the last EstReaderNext */
	int			keys_size;
	MemoryContext context;		/* of the reader, which keys live in */
	int			n_features;
	EstColumn  *features;
	int		   *atts;			/* 0-based attribute of each feature */
	int			n_inputs;
	Datum	   *values;			/* deformed row */
	bool	   *nulls;
	SPITupleTable *tuptable;	/* current block */
	uint64		n_block;
	uint64		pos;
	bool		done;
};

static EstReader *ReaderOpen(const char *source, const char *label,
							 EstLabelKind label_kind, int label_width,
							 const char *key, EstColumn *features,
							 int n_features, bool infer_features);

/*
 * EstClassifyType says how a column of a type feeds the network.
 */
EstColumnKind
EstClassifyType(Oid type)
{
	switch (getBaseType(type))
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
		default:
			return EST_COL_UNSUPPORTED;
	}
}

static bool
IsLabelType(Oid type)
{
	Oid			base = getBaseType(type);

	return base == INT2OID || base == INT4OID || base == INT8OID;
}

/*
 * StartsWithKeyword tells whether text starts with the SQL keyword kw
 * (case-insensitively), followed by something that cannot continue an
 * identifier.
 */
static bool
StartsWithKeyword(const char *text, const char *kw)
{
	size_t		len = strlen(kw);

	if (pg_strncasecmp(text, kw, len) != 0)
		return false;
	return !(isalnum((unsigned char) text[len]) || text[len] == '_' ||
			 text[len] == '$' || IS_HIGHBIT_SET(text[len]));
}

static bool
IsQuerySource(const char *source)
{
	const char *p = source;

	while (*p == '(' || scanner_isspace(*p))
		p++;
	return StartsWithKeyword(p, "select") || StartsWithKeyword(p, "with") ||
		StartsWithKeyword(p, "values") || StartsWithKeyword(p, "table");
}

static void
ReportMissingLabel(const char *label, const char *source)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("label column \"%s\" does not exist in source \"%s\"",
					label, source),
			 errhint("Name the label column with label => 'column'.")));
}

static bool
IsFeature(const char *name, const EstColumn *features, int n_features)
{
	for (int i = 0; i < n_features; i++)
		if (strcmp(features[i].name, name) == 0)
			return true;
	return false;
}

static void
ReportMissingKey(const char *key, const char *source)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("key column \"%s\" does not exist in source \"%s\"",
					key, source)));
}

static void
ReportMissingFeature(const char *column, const char *source)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("feature column \"%s\" does not exist in source \"%s\"",
					column, source)));
}

/*
 * RelationQuery resolves a relation name and builds the query that reads
 * it: the columns wanted, or every column.
 */
static char *
RelationQuery(const char *source, const char *label, const char *key,
			  EstColumn *features, int n_features, bool infer)
{
	List	   *idents;
	List	   *names = NIL;
	ListCell   *lc;
	RangeVar   *rv;
	Oid			relid;
	char		relkind;
	StringInfoData sql;

	/* SplitIdentifierString parses like SQL, without raising an error */
	if (!SplitIdentifierString(pstrdup(source), '.', &idents) ||
		list_length(idents) < 1 || list_length(idents) > 3)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("source \"%s\" is neither a relation name nor a query",
						source),
				 errhint("Name a table or view, schema-qualified and quoted as in SQL if need be, or write one SELECT, VALUES or WITH query.")));
	foreach(lc, idents)
		names = lappend(names, makeString(lfirst(lc)));
	rv = makeRangeVarFromNameList(names);
	relid = RangeVarGetRelid(rv, AccessShareLock, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist",
						NameListToString(names)),
				 errhint("Name a table, view or materialized view, or write a SELECT query.")));

	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_PARTITIONED_TABLE &&
		relkind != RELKIND_FOREIGN_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table, view or materialized view",
						NameListToString(names)),
				 errhint("Name a table, view or materialized view, or write a SELECT query.")));

	/* name missing columns here, rather than in a parse error */
	if (!infer)
	{
		if (label != NULL && get_attnum(relid, label) == InvalidAttrNumber)
			ReportMissingLabel(label, source);
		if (key != NULL && get_attnum(relid, key) == InvalidAttrNumber)
			ReportMissingKey(key, source);
		for (int i = 0; i < n_features; i++)
			if (get_attnum(relid, features[i].name) == InvalidAttrNumber)
				ReportMissingFeature(features[i].name, source);
	}

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	if (infer)
		appendStringInfoString(&sql, "*");
	else
	{
		if (label != NULL)
			appendStringInfo(&sql, "%s, ", quote_identifier(label));
		if (key != NULL && !IsFeature(key, features, n_features))
			appendStringInfo(&sql, "%s, ", quote_identifier(key));
		for (int i = 0; i < n_features; i++)
			appendStringInfo(&sql, "%s%s", i > 0 ? ", " : "",
							 quote_identifier(features[i].name));
	}
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	return sql.data;
}

/*
 * CheckReadOnlyQuery accepts a prepared source query only if it is one
 * statement that reads and nothing else.
 */
static void
CheckReadOnlyQuery(SPIPlanPtr plan)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *ps;
	ListCell   *lc;

	if (list_length(sources) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must be a single query"),
				 errdetail("The source holds %d statements.",
						   list_length(sources))));

	ps = linitial(sources);
	if (ps->raw_parse_tree != NULL &&
		IsA(ps->raw_parse_tree->stmt, SelectStmt) &&
		((SelectStmt *) ps->raw_parse_tree->stmt)->intoClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source query must not modify data"),
				 errdetail("SELECT INTO creates a table.")));
	if (ps->raw_parse_tree == NULL ||
		!IsA(ps->raw_parse_tree->stmt, SelectStmt))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must be a SELECT, VALUES or WITH query"),
				 errdetail("The source is a %s statement.",
						   GetCommandTagName(ps->commandTag))));

	foreach(lc, ps->query_list)
	{
		Query	   *query = lfirst_node(Query, lc);

		if (query->commandType != CMD_SELECT || query->utilityStmt != NULL ||
			query->hasModifyingCTE)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source query must not modify data")));
		if (query->rowMarks != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source query must not lock rows"),
					 errhint("Remove the FOR UPDATE or FOR SHARE clause.")));
	}
}

static int
FindColumn(TupleDesc tupdesc, const char *name, const char *source)
{
	int			found = -1;

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0)
			continue;
		if (found >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_AMBIGUOUS_COLUMN),
					 errmsg("column \"%s\" appears more than once in source \"%s\"",
							name, source)));
		found = i;
	}
	return found;
}

static void
ReportUnsupportedType(const char *column, Oid type)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("column \"%s\" has unsupported type %s",
					column, format_type_be(type)),
			 errdetail("Feature columns must be smallint, integer, bigint, real, double precision, numeric, real[] or double precision[]."),
			 errhint("Leave the column out by listing the feature columns with features => '{...}'.")));
}

static const char *
KindName(EstColumnKind kind)
{
	return kind == EST_COL_ARRAY ? "an array of numbers" : "a number";
}

/*
 * FetchBlock reads the next rows of the cursor; false at the end.
 */
static bool
FetchBlock(EstReader *reader)
{
	if (reader->done)
		return false;
	if (reader->tuptable != NULL)
		SPI_freetuptable(reader->tuptable);
	reader->tuptable = NULL;
	SPI_cursor_fetch(reader->portal, true, EST_FETCH_ROWS);
	reader->tuptable = SPI_tuptable;
	reader->n_block = SPI_processed;
	reader->pos = 0;
	if (reader->n_block == 0)
	{
		reader->done = true;
		return false;
	}
	return true;
}

/*
 * ArrayWidth measures the array in attribute attnum of a row, which must
 * be one-dimensional, not empty and within the limits.
 */
static int
ArrayWidth(HeapTuple tuple, int attnum, TupleDesc tupdesc, const char *column)
{
	bool		isnull;
	Datum		value = heap_getattr(tuple, attnum, tupdesc, &isnull);
	ArrayType  *arr;
	int			width;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" contains a null value", column)));
	arr = DatumGetArrayTypeP(value);
	width = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	if (ARR_NDIM(arr) != 1 || width < 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("column \"%s\" must hold one-dimensional arrays with at least one element",
						column)));
	if (width > EST_MAX_UNITS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column \"%s\" holds arrays of %d elements",
						column, width),
				 errdetail("A model has at most %d inputs or outputs.",
						   EST_MAX_UNITS)));
	return width;
}

/*
 * EstReaderOpen opens a source for reading.  label names the label column
 * (NULL: none is read): class ids for EST_LABEL_CLASS, numbers or arrays
 * of label_width (-1: measured on the first row) for EST_LABEL_VALUE.
 * With infer_features every other column is a
 * feature; otherwise features lists the columns (their kinds and widths
 * are checked against the source when known, and set when not).
 */
EstReader *
EstReaderOpen(const char *source, const char *label, EstLabelKind label_kind,
			  int label_width, EstColumn *features, int n_features,
			  bool infer_features)
{
	return ReaderOpen(source, label, label_kind, label_width, NULL, features,
					  n_features, infer_features);
}

/*
 * EstReaderOpenLabelled opens a labelled source with an existing model's
 * feature columns and label: class ids for a classifier, label_dimension
 * values for a regressor.
 */
EstReader *
EstReaderOpenLabelled(const char *source, const EstModelDef *def)
{
	bool		regressor = EST_IS_REGRESSOR(def->type);

	return ReaderOpen(source, def->label,
					  regressor ? EST_LABEL_VALUE : EST_LABEL_CLASS,
					  regressor ? def->label_dimension : 1, NULL,
					  def->features, def->n_features, false);
}

/*
 * EstReaderOpenKeyed opens a source to score: the model's features and a
 * key column, which EstReaderKeys returns as text for each row read.
 */
EstReader *
EstReaderOpenKeyed(const char *source, const char *key, EstColumn *features,
				   int n_features)
{
	return ReaderOpen(source, NULL, EST_LABEL_CLASS, 1, key, features,
					  n_features, false);
}

static EstReader *
ReaderOpen(const char *source, const char *label, EstLabelKind label_kind,
		   int label_width, const char *key, EstColumn *features,
		   int n_features, bool infer_features)
{
	EstReader  *reader = palloc0(sizeof(EstReader));
	SPIPlanPtr	plan;
	char	   *sql;
	TupleDesc	tupdesc;
	bool		widths_known = true;

	reader->source = source;
	if (source[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must not be empty"),
				 errhint("Name a table or view, or write a SELECT query.")));

	for (int i = 0; i < n_features && label != NULL; i++)
		if (strcmp(features[i].name, label) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot be both the label and a feature",
							label)));

	if (IsQuerySource(source))
		sql = (char *) source;
	else
		sql = RelationQuery(source, label, key, features, n_features,
							infer_features);

	plan = SPI_prepare(sql, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for source \"%s\": %s",
			 source, SPI_result_code_string(SPI_result));
	if (sql == source)
		CheckReadOnlyQuery(plan);

	reader->portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	if (reader->portal == NULL)
		elog(ERROR, "SPI_cursor_open failed for source \"%s\": %s",
			 source, SPI_result_code_string(SPI_result));
	tupdesc = reader->tupdesc = reader->portal->tupDesc;
	if (tupdesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returns no columns", source)));

	reader->context = CurrentMemoryContext;
	reader->key_att = -1;
	if (key != NULL)
	{
		Oid			out;
		bool		varlena;

		reader->key_att = FindColumn(tupdesc, key, source);
		if (reader->key_att < 0)
			ReportMissingKey(key, source);
		getTypeOutputInfo(TupleDescAttr(tupdesc, reader->key_att)->atttypid,
						  &out, &varlena);
		fmgr_info(out, &reader->key_out);
	}

	reader->label_att = -1;
	if (label != NULL)
	{
		reader->label_att = FindColumn(tupdesc, label, source);
		if (reader->label_att < 0)
			ReportMissingLabel(label, source);
		reader->label_type = TupleDescAttr(tupdesc, reader->label_att)->atttypid;
		reader->label_kind = label_kind;
		if (label_kind == EST_LABEL_CLASS && !IsLabelType(reader->label_type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("label column \"%s\" has type %s",
							label, format_type_be(reader->label_type)),
					 errdetail("Class labels must be integers from 0 to n_classes - 1."),
					 errhint("For a numeric target, use a regressor model type such as dnn_regressor.")));
		reader->label_col.name = pstrdup(label);
		reader->label_col.type = reader->label_type;
		reader->label_col.base_type = getBaseType(reader->label_type);
		reader->label_col.kind = EstClassifyType(reader->label_type);
		reader->label_col.width = label_kind == EST_LABEL_CLASS ? 1 : label_width;
		if (label_kind == EST_LABEL_VALUE)
		{
			if (reader->label_col.kind == EST_COL_UNSUPPORTED)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("label column \"%s\" has type %s",
								label, format_type_be(reader->label_type)),
						 errdetail("Regression labels must be numbers, or real[] or double precision[] for label_dimension > 1.")));
			if (reader->label_col.kind == EST_COL_SCALAR)
			{
				if (label_width > 1)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("label column \"%s\" has type %s, but the model has label_dimension %d",
									label, format_type_be(reader->label_type),
									label_width),
							 errhint("Pass the labels as an array.")));
				reader->label_col.width = 1;
			}
		}
	}

	if (infer_features)
	{
		n_features = 0;
		features = palloc0(tupdesc->natts * sizeof(EstColumn));
		for (int i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (att->attisdropped || i == reader->label_att)
				continue;
			features[n_features].name = pstrdup(NameStr(att->attname));
			features[n_features].kind = EST_COL_UNSUPPORTED;
			features[n_features].width = -1;
			n_features++;
		}
		if (n_features == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" has no feature columns", source),
					 errdetail("Every column but the label is a feature, and the source has no other column.")));
		if (n_features > EST_MAX_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("source \"%s\" has too many feature columns", source),
					 errdetail("The source has %d feature columns, a model at most %d.",
							   n_features, EST_MAX_FEATURES)));
	}

	reader->n_features = n_features;
	reader->features = features;
	reader->atts = palloc(n_features * sizeof(int));
	for (int i = 0; i < n_features; i++)
	{
		EstColumn  *col = &features[i];
		int			att;
		EstColumnKind kind;

		att = FindColumn(tupdesc, col->name, source);
		if (att < 0)
			ReportMissingFeature(col->name, source);
		reader->atts[i] = att;
		col->type = TupleDescAttr(tupdesc, att)->atttypid;
		col->base_type = getBaseType(col->type);
		kind = EstClassifyType(col->type);
		if (kind == EST_COL_UNSUPPORTED)
			ReportUnsupportedType(col->name, col->type);
		if (col->kind != EST_COL_UNSUPPORTED && col->kind != kind)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature column \"%s\" has type %s, but the model expects %s",
							col->name, format_type_be(col->type),
							KindName(col->kind))));
		col->kind = kind;
		if (kind == EST_COL_SCALAR)
			col->width = 1;
		else if (col->width < 0)
			widths_known = false;
	}

	reader->values = palloc(tupdesc->natts * sizeof(Datum));
	reader->nulls = palloc(tupdesc->natts * sizeof(bool));

	if (reader->label_att >= 0 && label_kind == EST_LABEL_VALUE &&
		reader->label_col.width < 0)
		widths_known = false;

	/* array widths come from the first row */
	if (!widths_known && FetchBlock(reader))
	{
		HeapTuple	tuple = reader->tuptable->vals[0];

		for (int i = 0; i < n_features; i++)
			if (features[i].width < 0)
				features[i].width = ArrayWidth(tuple, reader->atts[i] + 1,
											   tupdesc, features[i].name);
		if (reader->label_att >= 0 && reader->label_col.width < 0)
			reader->label_col.width = ArrayWidth(tuple, reader->label_att + 1,
												 tupdesc,
												 reader->label_col.name);
	}
	if (reader->label_col.width < 0)
		reader->label_col.width = 0;	/* empty source: no row to measure */

	reader->n_inputs = 0;
	for (int i = 0; i < n_features; i++)
	{
		if (features[i].width < 0)
			features[i].width = 0;	/* empty source: no row to measure */
		reader->n_inputs += features[i].width;
	}
	if (reader->n_inputs > EST_MAX_UNITS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("source \"%s\" has too many inputs", source),
				 errdetail("The feature columns hold %d numbers, a model at most %d.",
						   reader->n_inputs, EST_MAX_UNITS)));
	return reader;
}

void
EstReaderColumns(EstReader *reader, EstColumn **features, int *n_features)
{
	*features = reader->features;
	*n_features = reader->n_features;
}

int
EstReaderInputs(EstReader *reader)
{
	return reader->n_inputs;
}

/* EstReaderKeys are the keys of the rows of the last EstReaderNext. */
char	  **
EstReaderKeys(EstReader *reader)
{
	return reader->keys;
}

/* EstReaderLabelWidth is the number of label floats of a row. */
int
EstReaderLabelWidth(EstReader *reader)
{
	if (reader->label_att < 0)
		return 0;
	return reader->label_kind == EST_LABEL_VALUE ? reader->label_col.width : 1;
}

/*
 * EstConvertValue turns one column value into network inputs, raising an
 * error that names the column for a NULL, NaN, infinity, a value beyond
 * float32, or an array of the wrong shape.
 */
void
EstConvertValue(Datum value, bool isnull, const EstColumn *col, float *out)
{
	Oid			type = OidIsValid(col->base_type) ? col->base_type :
		getBaseType(col->type);
	int			n = 1;
	Datum	   *elems = &value;
	double		d;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" contains a null value", col->name),
				 errhint("Leave such rows out of the source, or replace the nulls with COALESCE.")));

	if (type == FLOAT4ARRAYOID || type == FLOAT8ARRAYOID)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);
		bool	   *elem_nulls;

		type = (type == FLOAT4ARRAYOID) ? FLOAT4OID : FLOAT8OID;
		if (ARR_NDIM(arr) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("column \"%s\" holds an array of %d dimensions, expected one",
							col->name, ARR_NDIM(arr))));
		if (ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)) != col->width)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("column \"%s\" holds an array of %d elements, expected %d",
							col->name,
							ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr)),
							col->width)));
		deconstruct_array(arr, type, type == FLOAT4OID ? 4 : 8,
						  type == FLOAT4OID ? true : FLOAT8PASSBYVAL,
						  type == FLOAT4OID ? TYPALIGN_INT : TYPALIGN_DOUBLE,
						  &elems, &elem_nulls, &n);
		for (int i = 0; i < n; i++)
			if (elem_nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" holds an array with a null element",
								col->name)));
	}

	for (int i = 0; i < n; i++)
	{
		switch (type)
		{
			case INT2OID:
				d = DatumGetInt16(elems[i]);
				break;
			case INT4OID:
				d = DatumGetInt32(elems[i]);
				break;
			case INT8OID:
				d = (double) DatumGetInt64(elems[i]);
				break;
			case FLOAT4OID:
				d = DatumGetFloat4(elems[i]);
				break;
			case FLOAT8OID:
				d = DatumGetFloat8(elems[i]);
				break;
			case NUMERICOID:
				d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													   elems[i]));
				break;
			default:
				ReportUnsupportedType(col->name, col->type);
				d = 0;			/* keep compiler quiet */
		}
		if (isnan(d) || isinf(d))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("column \"%s\" contains %s", col->name,
							isnan(d) ? "NaN" : "an infinite value"),
					 errhint("Feature values must be finite numbers.")));
		if (fabs(d) > FLT_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("value %g in column \"%s\" is out of range for type real",
							d, col->name),
					 errdetail("Networks compute in single precision.")));
		out[i] = (float) d;
	}
}

/*
 * EstCheckLabel checks a class label against the model's classes;
 * n_classes 0 checks only the limits, for a model being created.
 */
void
EstCheckLabel(int64 label, int n_classes, const char *column)
{
	int			limit = n_classes > 0 ? n_classes : EST_MAX_CLASSES;

	if (label < 0 || label >= limit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label " INT64_FORMAT " in column \"%s\" is out of range",
						label, column),
				 n_classes > 0 ?
				 errdetail("The model has %d classes, so labels must be between 0 and %d.",
						   n_classes, n_classes - 1) :
				 errdetail("Class labels must be between 0 and %d.",
						   EST_MAX_CLASSES - 1)));
}

/*
 * EstReaderNext converts up to max_rows rows into X (n_inputs floats a
 * row) and y (the label, when one is read) and returns how many; 0 at the
 * end of the source.
 */
int
EstReaderNext(EstReader *reader, float *X, float *y, int max_rows)
{
	int			n = 0;

	while (n < max_rows)
	{
		HeapTuple	tuple;
		float	   *x = X + (size_t) n * reader->n_inputs;

		if (reader->tuptable == NULL || reader->pos >= reader->n_block)
		{
			if (!FetchBlock(reader))
				break;
		}
		tuple = reader->tuptable->vals[reader->pos++];
		heap_deform_tuple(tuple, reader->tupdesc, reader->values,
						  reader->nulls);

		for (int i = 0; i < reader->n_features; i++)
		{
			int			att = reader->atts[i];
			EstColumn  *col = &reader->features[i];

			EstConvertValue(reader->values[att], reader->nulls[att], col, x);
			x += col->width;
		}

		if (reader->key_att >= 0)
		{
			if (reader->keys_size < max_rows)
			{
				reader->keys = MemoryContextAlloc(reader->context,
												  max_rows * sizeof(char *));
				reader->keys_size = max_rows;
			}
			reader->keys[n] = reader->nulls[reader->key_att] ? NULL :
				OutputFunctionCall(&reader->key_out,
								   reader->values[reader->key_att]);
		}

		if (reader->label_att >= 0 && reader->label_kind == EST_LABEL_VALUE)
		{
			int			att = reader->label_att;

			EstConvertValue(reader->values[att], reader->nulls[att],
							&reader->label_col,
							y + (size_t) n * reader->label_col.width);
		}
		else if (reader->label_att >= 0)
		{
			int			att = reader->label_att;
			const char *name = reader->label_col.name;
			int64		label;

			if (reader->nulls[att])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("label column \"%s\" contains a null value",
								name)));
			switch (reader->label_col.base_type)
			{
				case INT2OID:
					label = DatumGetInt16(reader->values[att]);
					break;
				case INT4OID:
					label = DatumGetInt32(reader->values[att]);
					break;
				default:
					label = DatumGetInt64(reader->values[att]);
					break;
			}
			EstCheckLabel(label, 0, name);
			y[n] = (float) label;
		}
		n++;
	}
	return n;
}

void
EstReaderClose(EstReader *reader)
{
	if (reader->tuptable != NULL)
		SPI_freetuptable(reader->tuptable);
	reader->tuptable = NULL;
	SPI_cursor_close(reader->portal);
}

/*
 * EstCheckMemory raises an error when needed bytes exceed
 * estimator.max_memory, giving both figures.
 */
void
EstCheckMemory(Size needed, const char *what)
{
	Size		limit = (Size) estimator_max_memory * 1024;

	if (needed > limit)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("estimator.max_memory is too small for %s", what),
				 errdetail("Training needs %zu kB, estimator.max_memory is %d kB.",
						   (needed + 1023) / 1024, estimator_max_memory),
				 errhint("Raise estimator.max_memory, or train on a sample of the source.")));
}
