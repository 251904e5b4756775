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
#include <sys/mman.h>
#include <unistd.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tableam.h"
#include "storage/bufmgr.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/executor.h"
#include "utils/snapmgr.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "parser/scansup.h"
#include "tcop/pquery.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/portal.h"
#include "utils/regproc.h"
#include "utils/rls.h"
#include "utils/rel.h"
#include "utils/datum.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "estimator.h"

#define EST_FETCH_ROWS	1000

/* a class name and its id, in a list sorted by name */
typedef struct LabelEntry
{
	char	   *name;
	int			id;
	Datum		value;			/* a copy, to sort learned classes by */
} LabelEntry;

struct EstReader
{
	const char *source;			/* as given, for messages */
	Oid			relid;			/* the relation it names, or InvalidOid */
	Portal		portal;
	TupleDesc	tupdesc;
	int			label_att;		/* 0-based, -1 when no label is read */
	Oid			label_type;
	EstLabelKind label_kind;
	EstColumn	label_col;		/* for values: name, type, kind, width */
	FmgrInfo	label_out;		/* vocabulary: the label's output function */
	LabelEntry *classes;		/* vocabulary: sorted by name */
	int			n_classes;
	int			cap_classes;
	bool		learn_classes;
	int			weight_att;		/* 0-based, -1 when no weight is read */
	EstColumn	weight_col;
	EstTransform *tf;			/* NULL until known */
	EstEncoder *encoder;
	int			key_att;		/* 0-based, -1 when no key is read */
	FmgrInfo	key_out;		/* the key's output function */
	char	  **keys;			/* the keys of the last EstReaderNext */
	int			keys_size;
	MemoryContext context;		/* of the reader, which keys live in */
	MemoryContext label_context;	/* what a row's label and weight
									 * allocate, reset after each block */
	int			n_features;
	EstColumn  *features;
	int		   *atts;			/* 0-based attribute of each feature;
								 * tupdesc->natts, whose value is always
								 * NULL, for one the source lacks */
	int			n_missing;		/* features the source lacks */
	int			n_inputs;
	Datum	   *values;			/* deformed row, and a NULL after it */
	bool	   *nulls;
	SPITupleTable *tuptable;	/* current block */
	uint64		n_block;
	uint64		pos;
	bool		done;
	struct RowBlock *block;		/* rows that EstReaderNext fetched */

	/* a table read by a scan of its own (see DirectScan), or NULL */
	Relation	rel;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int		   *map;			/* the table's attribute of each column */
	int			map_atts;		/* attributes to deform */
	int		   *fixed_off;		/* each column's offset in a row without
								 * NULLs, when every attribute up to the
								 * last read has a fixed length; or NULL */
	/* with fixed_off, when every feature column is a number (ScalarRow) */
	bool		has_scalars;
	EstScalarRow scalars;
	int			n_others;
	int			others[3];		/* the label, weight and key columns */
};

typedef enum RowRead
{
	ROW_END,					/* no more rows */
	ROW_VALUES,					/* in reader->values and reader->nulls */
	ROW_ENCODED					/* its features encoded, the other columns
								 * in reader->values */
} RowRead;

/*
 * RowBlock receives the rows of one fetch of the cursor, deformed:
 * EstReaderNext fetches through it rather than through SPI, which would
 * form a heap tuple of each row only for the reader to deform it again.
 * By-reference values are copied into context, which lives until the next
 * fetch; the rows are encoded after the fetch, in order, as they were
 * from an SPI tuple table.
 */
typedef struct RowBlock
{
	DestReceiver pub;
	int			natts;
	bool		any_byref;
	int16	   *attlen;			/* per attribute, of by-reference types;
								 * 0 for by-value ones */
	Datum	   *values;			/* EST_FETCH_ROWS x natts */
	bool	   *nulls;
	uint64		n;				/* rows held */
	uint64		pos;			/* next row to encode */
	MemoryContext context;
} RowBlock;


static void OpenLabel(EstReader *reader, const EstReadSpec *spec,
					  TupleDesc tupdesc);
static int	AddClass(EstReader *reader, const char *name, Datum value);
static int	FindClass(EstReader *reader, const char *name);
static void ReadLabel(EstReader *reader, float *y, int n);

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
ReportMissingWeight(const char *weight, const char *source)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("weight column \"%s\" does not exist in source \"%s\"",
					weight, source),
			 errhint("weight_column in params names a column of example weights.")));
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
 * MissingAsNull tells whether a feature column that the source lacks
 * reads as NULL, as est_predict reads a row without it, rather than being
 * an error: only when spec asks for it and every feature column reading
 * the column takes a NULL.
 */
static bool
MissingAsNull(const EstReadSpec *spec, const char *column)
{
	return spec->missing_as_null && spec->transform != NULL &&
		EstSourceTakesNull(spec->transform, column);
}

/*
 * ResolveRelation resolves a source that names a relation, parsed as SQL
 * parses a qualified name, to its OID (locked in AccessShareLock) and
 * kind, refusing what is not a table, view or materialized view.
 */
static Oid
ResolveRelation(const char *source, char *relkind_out)
{
	List	   *idents;
	List	   *names = NIL;
	ListCell   *lc;
	RangeVar   *rv;
	Oid			relid;
	char		relkind;

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

	*relkind_out = relkind;
	return relid;
}

/*
 * RelationQuery resolves a relation name and builds the query that reads
 * it: the columns wanted, or every column; with a block range in spec,
 * only the rows stored in those blocks (a TID range scan).  *relid_out is
 * the relation, locked: the name is not resolved again, since another
 * relation may take it meanwhile (earlier in the search path).
 */
static char *
RelationQuery(const char *source, const EstReadSpec *spec,
			  EstColumn *features, int n_features, bool infer,
			  Oid *relid_out)
{
	Oid			relid;
	char		relkind;
	StringInfoData sql;

	relid = ResolveRelation(source, &relkind);
	*relid_out = relid;

	/* name missing columns here, rather than in a parse error */
	if (!infer)
	{
		const char *label = spec->label;
		const char *key = spec->key;

		if (label != NULL && get_attnum(relid, label) == InvalidAttrNumber)
			ReportMissingLabel(label, source);
		if (key != NULL && get_attnum(relid, key) == InvalidAttrNumber)
			ReportMissingKey(key, source);
		if (spec->weight != NULL &&
			get_attnum(relid, spec->weight) == InvalidAttrNumber)
			ReportMissingWeight(spec->weight, source);
		for (int i = 0; i < n_features; i++)
			if (get_attnum(relid, features[i].name) == InvalidAttrNumber &&
				!MissingAsNull(spec, features[i].name))
				ReportMissingFeature(features[i].name, source);
	}

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	if (infer)
		appendStringInfoString(&sql, "*");
	else
	{
		const char *sep = "";

		if (spec->label != NULL)
		{
			appendStringInfoString(&sql, quote_identifier(spec->label));
			sep = ", ";
		}
		if (spec->weight != NULL)
		{
			appendStringInfo(&sql, "%s%s", sep, quote_identifier(spec->weight));
			sep = ", ";
		}
		if (spec->key != NULL && !IsFeature(spec->key, features, n_features) &&
			(spec->weight == NULL || strcmp(spec->key, spec->weight) != 0))
		{
			appendStringInfo(&sql, "%s%s", sep, quote_identifier(spec->key));
			sep = ", ";
		}
		/* the columns the relation lacks read as NULL (MissingAsNull) */
		for (int i = 0; i < n_features; i++)
		{
			if (get_attnum(relid, features[i].name) == InvalidAttrNumber)
				continue;
			appendStringInfo(&sql, "%s%s", sep,
							 quote_identifier(features[i].name));
			sep = ", ";
		}
	}
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	if (spec->block_lo > 0)
		appendStringInfo(&sql, " WHERE ctid OPERATOR(pg_catalog.>=) '(%u,0)'::pg_catalog.tid",
						 (unsigned) spec->block_lo);
	if (spec->block_hi > 0)
		appendStringInfo(&sql, " %s ctid OPERATOR(pg_catalog.<) '(%u,0)'::pg_catalog.tid",
						 spec->block_lo > 0 ? "AND" : "WHERE",
						 (unsigned) spec->block_hi);
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
							name, source),
					 errhint("Give the source's columns distinct names.")));
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
			 errdetail("Feature columns must be numbers, booleans, text, varchar, char, name or enums, arrays of numbers, or arrays of text or enums."),
			 errhint("Leave the column out by listing the feature columns with features => '{...}'.")));
}

static const char *
KindName(EstColumnKind kind)
{
	switch (kind)
	{
		case EST_COL_ARRAY:
			return "an array of numbers";
		case EST_COL_BOOL:
			return "a boolean";
		case EST_COL_TEXT:
			return "text or an enum";
		case EST_COL_TEXT_ARRAY:
			return "an array of text or enums";
		default:
			return "a number";
	}
}

/*
 * NoSyncScanBegin turns synchronize_seqscans off until NoSyncScanEnd, around
 * a fetch (a scan starts at its first fetch).  A synchronized scan of a
 * large table starts where another scan of it is, so the same source would
 * give its rows in another order, and training with a seed would not
 * repeat itself.
 */
static int
NoSyncScanBegin(void)
{
	int			level = NewGUCNestLevel();

	(void) set_config_option("synchronize_seqscans", "off", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

static void
NoSyncScanEnd(int level)
{
	AtEOXact_GUC(true, level);
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
	{
		int			level = NoSyncScanBegin();

		SPI_cursor_fetch(reader->portal, true, EST_FETCH_ROWS);
		NoSyncScanEnd(level);
	}
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
 * OpenHeapRelation opens relid, a table or materialized view, when reading
 * its heap blocks gives exactly the rows of the query that reads it, and
 * returns NULL otherwise: when it is stored by another table access
 * method, has inheritance children (which the query reads too), or has
 * row-level security for the caller (whose policies the query applies,
 * and which may call what parallel mode forbids, nextval say).
 */
static Relation
OpenHeapRelation(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Relation	rel;

	if ((relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW) ||
		check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return NULL;
	rel = table_open(relid, AccessShareLock);
	if (rel->rd_tableam != GetHeapamTableAmRoutine() ||
		rel->rd_rel->relhassubclass)
	{
		table_close(rel, AccessShareLock);
		return NULL;
	}
	return rel;
}

/*
 * OpenHeapSource is OpenHeapRelation of the relation a source names.
 */
static Relation
OpenHeapSource(const char *source)
{
	char		relkind;

	return OpenHeapRelation(ResolveRelation(source, &relkind));
}

/*
 * EstFixedOffsets returns where each of the natts columns (the table's
 * attributes map) lies in the data of a row of reldesc without NULLs that
 * has at least map_atts attributes, as heap_deform_tuple would find it:
 * NULL unless every attribute up to the last one read (dropped ones
 * included, which keep their length) has a fixed length.  A composite
 * value of a row type is laid out as a table's row.
 */
int *
EstFixedOffsets(TupleDesc reldesc, const int *map, int natts, int map_atts)
{
	int		   *at = palloc(Max(map_atts, 1) * sizeof(int));
	int		   *off = palloc(Max(natts, 1) * sizeof(int));
	uint32		o = 0;

	for (int r = 0; r < map_atts; r++)
	{
		Form_pg_attribute att = TupleDescAttr(reldesc, r);

		if (att->attlen <= 0)
		{
			pfree(at);
			pfree(off);
			return NULL;
		}
		o = att_align_nominal(o, att->attalign);
		at[r] = (int) o;
		o += att->attlen;
	}
	for (int a = 0; a < natts; a++)
		off[a] = at[map[a]];
	pfree(at);
	return off;
}

/*
 * DirectScan lets the reader of a table read it with a scan of its own
 * rather than through the cursor's executor, which projected every row
 * into a new one only for the reader to copy its values: the cursor stays
 * open, so that PostgreSQL has checked the caller's privileges and its
 * snapshot is the scan's, but is never fetched from.  Only a table or
 * materialized view stored in heap blocks, without inheritance children
 * (which the cursor's query reads too) nor row-level security for the
 * caller (whose policies the cursor's plan applies), and before any
 * row was fetched through the cursor (to measure array widths), qualifies;
 * the scan reads the blocks the spec asks for, in order, as the cursor's
 * scan would, without synchronized scans.
 */
static void
DirectScan(EstReader *reader, const EstReadSpec *spec)
{
	Relation	rel;
	QueryDesc  *qd = reader->portal->queryDesc;
	TupleDesc	reldesc;
	int			natts = reader->tupdesc->natts;
	int		   *map;
	int			map_atts = 0;

	if (!OidIsValid(reader->relid) || reader->tuptable != NULL ||
		reader->done || qd == NULL || qd->snapshot == NULL)
		return;
	rel = OpenHeapRelation(reader->relid);
	if (rel == NULL)
		return;
	reldesc = RelationGetDescr(rel);
	map = palloc(Max(natts, 1) * sizeof(int));
	for (int a = 0; a < natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(reader->tupdesc, a);
		int			r;

		map[a] = -1;
		for (r = 0; r < reldesc->natts; r++)
		{
			Form_pg_attribute ratt = TupleDescAttr(reldesc, r);

			if (!ratt->attisdropped &&
				strcmp(NameStr(ratt->attname), NameStr(att->attname)) == 0 &&
				ratt->atttypid == att->atttypid)
				break;
		}
		if (r == reldesc->natts)
		{
			/* not plainly a column of the table: read through the cursor */
			table_close(rel, AccessShareLock);
			pfree(map);
			return;
		}
		map[a] = r;
		map_atts = Max(map_atts, r + 1);
	}
	reader->rel = rel;
	reader->map = map;
	reader->map_atts = map_atts;
	reader->slot = table_slot_create(rel, NULL);
	if (reader->slot->tts_ops == &TTSOpsBufferHeapTuple)
		reader->fixed_off = EstFixedOffsets(reldesc, map, natts, map_atts);
	reader->scan = table_beginscan_strat(rel, qd->snapshot, 0, NULL,
										 true, false);
	if (spec->block_lo > 0 || spec->block_hi > 0)
	{
		BlockNumber end = spec->block_hi > 0 ? spec->block_hi :
			RelationGetNumberOfBlocks(rel);

		heap_setscanlimits(reader->scan, spec->block_lo,
						   end > spec->block_lo ? end - spec->block_lo : 0);
	}
}

/*
 * EstReaderOpen opens a source for reading what spec says besides the
 * features.  With infer_features every column but the label and the weight
 * is a feature; otherwise features lists the columns (their kinds and
 * widths are checked against the source when known, and set when not).
 * Rows can be read once a transform is set, by spec or by
 * EstReaderSetTransform.
 */
EstReader *
EstReaderOpen(const char *source, const EstReadSpec *spec,
			  EstColumn *features, int n_features, bool infer_features)
{
	MemoryContext context = CurrentMemoryContext;
	EstReader  *reader = palloc0(sizeof(EstReader));
	SPIPlanPtr	plan;
	char	   *sql;
	TupleDesc	tupdesc;
	bool		widths_known = true;
	const char *label = spec->label;

	reader->source = source;
	if (source[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source must not be empty"),
				 errhint("Name a table or view, or write a SELECT query.")));

	for (int i = 0; i < n_features; i++)
	{
		if (label != NULL && strcmp(features[i].name, label) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot be both the label and a feature",
							label)));
		if (spec->weight != NULL && strcmp(features[i].name, spec->weight) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot be both the weight and a feature",
							spec->weight)));
	}
	if (label != NULL && spec->weight != NULL && strcmp(label, spec->weight) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" cannot be both the label and the weight",
						label)));

	if (IsQuerySource(source))
		sql = (char *) source;
	else
		sql = RelationQuery(source, spec, features, n_features,
							infer_features, &reader->relid);

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
	/* the cursor holds its own copy of an unsaved plan */
	SPI_freeplan(plan);
	tupdesc = reader->tupdesc = reader->portal->tupDesc;
	if (tupdesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returns no columns", source)));

	/* the reader's memory is the caller's, whichever SPI left current */
	MemoryContextSwitchTo(context);
	reader->context = context;
	reader->label_context = AllocSetContextCreate(reader->context,
												  "estimator row labels",
												  ALLOCSET_SMALL_SIZES);
	reader->key_att = -1;
	if (spec->key != NULL)
	{
		Oid			out;
		bool		varlena;

		reader->key_att = FindColumn(tupdesc, spec->key, source);
		if (reader->key_att < 0)
			ReportMissingKey(spec->key, source);
		getTypeOutputInfo(TupleDescAttr(tupdesc, reader->key_att)->atttypid,
						  &out, &varlena);
		fmgr_info(out, &reader->key_out);
	}

	reader->weight_att = -1;
	if (spec->weight != NULL)
	{
		reader->weight_att = FindColumn(tupdesc, spec->weight, source);
		if (reader->weight_att < 0)
			ReportMissingWeight(spec->weight, source);
		reader->weight_col.name = pstrdup(spec->weight);
		reader->weight_col.type = TupleDescAttr(tupdesc, reader->weight_att)->atttypid;
		reader->weight_col.base_type = getBaseType(reader->weight_col.type);
		reader->weight_col.kind = EST_COL_SCALAR;
		reader->weight_col.width = 1;
		if (EstClassifyType(reader->weight_col.type) != EST_COL_SCALAR)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("weight column \"%s\" has type %s",
							spec->weight, format_type_be(reader->weight_col.type)),
					 errdetail("Example weights must be numbers.")));
	}

	reader->label_att = -1;
	if (label != NULL)
		OpenLabel(reader, spec, tupdesc);

	if (infer_features)
	{
		n_features = 0;
		features = palloc0(tupdesc->natts * sizeof(EstColumn));
		for (int i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (att->attisdropped || i == reader->label_att ||
				i == reader->weight_att)
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
	reader->atts = palloc(Max(n_features, 1) * sizeof(int));
	for (int i = 0; i < n_features; i++)
	{
		EstColumn  *col = &features[i];
		int			att;
		EstColumnKind kind;

		att = FindColumn(tupdesc, col->name, source);
		if (att < 0 && MissingAsNull(spec, col->name))
		{
			/*
			 * the NULL after the row's values, of the model's type as in
			 * est_predict; a type dropped since training has no base type
			 */
			reader->atts[i] = tupdesc->natts;
			reader->n_missing++;
			col->kind = EstClassifyType(col->type);
			col->base_type = col->kind == EST_COL_UNSUPPORTED ?
				InvalidOid : getBaseType(col->type);
			if (col->width < 0)
				col->width = 1;
			continue;
		}
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
		if (kind != EST_COL_ARRAY)
			col->width = 1;
		else if (col->width < 0)
			widths_known = false;
	}

	/* a source must have one feature column at least, as est_predict's row */
	if (n_features > 0 && reader->n_missing == n_features)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("feature column \"%s\" does not exist in source \"%s\"",
						features[0].name, source),
				 errdetail("The source has none of the model's feature columns.")));

	/* the row's values, then the NULL that missing features read */
	reader->values = palloc((tupdesc->natts + 1) * sizeof(Datum));
	reader->nulls = palloc((tupdesc->natts + 1) * sizeof(bool));
	reader->values[tupdesc->natts] = (Datum) 0;
	reader->nulls[tupdesc->natts] = true;

	if (reader->label_att >= 0 && reader->label_kind == EST_LABEL_VALUE &&
		reader->label_col.width < 0)
		widths_known = false;

	/* array widths come from the first row */
	if (!widths_known && FetchBlock(reader))
	{
		HeapTuple	tuple = reader->tuptable->vals[0];

		for (int i = 0; i < n_features; i++)
			if (features[i].width < 0 && reader->atts[i] < tupdesc->natts)
				features[i].width = ArrayWidth(tuple, reader->atts[i] + 1,
											   tupdesc, features[i].name);
		if (reader->label_att >= 0 && reader->label_col.width < 0)
			reader->label_col.width = ArrayWidth(tuple, reader->label_att + 1,
												 tupdesc,
												 reader->label_col.name);
	}
	if (reader->label_col.width < 0)
		reader->label_col.width = 0;	/* empty source: no row to measure */
	for (int i = 0; i < n_features; i++)
		if (features[i].width < 0)
			features[i].width = 1;	/* empty source: no row to measure */

	DirectScan(reader, spec);
	if (spec->transform != NULL)
		EstReaderSetTransform(reader, spec->transform);
	return reader;
}

/*
 * EstReaderSetTransform sets the transform that encodes the rows, built
 * on the reader's columns.
 */
void
EstReaderSetTransform(EstReader *reader, EstTransform *tf)
{
	reader->tf = tf;
	reader->n_inputs = tf->n_inputs;
	reader->encoder = EstEncoderCreate(tf, reader->features,
									   reader->n_features, reader->atts);
	/* a row's data holds no value of a missing feature */
	reader->has_scalars = reader->fixed_off != NULL &&
		reader->n_missing == 0 &&
		EstScalarRowInit(&reader->scalars, reader->encoder, reader->fixed_off);
	if (reader->has_scalars)
	{
		reader->n_others = 0;
		if (reader->label_att >= 0)
			reader->others[reader->n_others++] = reader->label_att;
		if (reader->weight_att >= 0)
			reader->others[reader->n_others++] = reader->weight_att;
		if (reader->key_att >= 0)
			reader->others[reader->n_others++] = reader->key_att;
	}
}

/*
 * OpenLabel finds the label column and checks its type against what the
 * reader is asked for: class ids, values, or class names.
 */
static void
OpenLabel(EstReader *reader, const EstReadSpec *spec, TupleDesc tupdesc)
{
	const char *label = spec->label;
	EstLabelKind label_kind = spec->label_kind;

	reader->label_att = FindColumn(tupdesc, label, reader->source);
	if (reader->label_att < 0)
		ReportMissingLabel(label, reader->source);
	reader->label_type = TupleDescAttr(tupdesc, reader->label_att)->atttypid;
	reader->label_col.name = pstrdup(label);
	reader->label_col.type = reader->label_type;
	reader->label_col.base_type = getBaseType(reader->label_type);
	reader->label_col.kind = EstClassifyType(reader->label_type);
	reader->label_col.width = label_kind == EST_LABEL_VALUE ?
		spec->label_width : 1;

	/* a new classifier with class names learns them */
	if (label_kind == EST_LABEL_CLASS && spec->learn_vocabulary &&
		!EstIsIntegerType(reader->label_col.base_type))
		label_kind = EST_LABEL_VOCABULARY;
	reader->label_kind = label_kind;

	if (label_kind == EST_LABEL_CLASS &&
		!EstIsIntegerType(reader->label_col.base_type))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("label column \"%s\" has type %s",
						label, format_type_be(reader->label_type)),
				 errdetail("The model's classes are integers from 0 to n_classes - 1."),
				 errhint("For a numeric target, use a regressor model type such as dnn_regressor.")));
	if (label_kind == EST_LABEL_VOCABULARY)
	{
		Oid			out;
		bool		varlena;
		EstColumnKind kind = reader->label_col.kind;

		if (kind != EST_COL_TEXT && kind != EST_COL_BOOL &&
			!EstIsIntegerType(reader->label_col.base_type))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("label column \"%s\" has type %s",
							label, format_type_be(reader->label_type)),
					 errdetail("Class labels are integers, text, varchar, char, booleans or enums.")));
		getTypeOutputInfo(reader->label_type, &out, &varlena);
		fmgr_info(out, &reader->label_out);
		reader->learn_classes = spec->learn_vocabulary;
		reader->cap_classes = Max(spec->n_vocabulary, 16);
		reader->classes = palloc(reader->cap_classes * sizeof(LabelEntry));
		for (int i = 0; i < spec->n_vocabulary; i++)
		{
			if (FindClass(reader, spec->vocabulary[i]) >= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("class \"%s\" appears twice in the label vocabulary",
								spec->vocabulary[i])));
			AddClass(reader, spec->vocabulary[i], (Datum) 0);
		}
	}
	if (label_kind == EST_LABEL_VALUE)
	{
		if (reader->label_col.kind != EST_COL_SCALAR &&
			reader->label_col.kind != EST_COL_ARRAY)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("label column \"%s\" has type %s",
							label, format_type_be(reader->label_type)),
					 errdetail("Regression labels must be numbers, or real[] or double precision[] for label_dimension > 1.")));
		if (reader->label_col.kind == EST_COL_SCALAR)
		{
			if (spec->label_width > 1)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("label column \"%s\" has type %s, but the model has label_dimension %d",
								label, format_type_be(reader->label_type),
								spec->label_width),
						 errhint("Pass the labels as an array.")));
			reader->label_col.width = 1;
		}
	}
}

/*
 * FindClass returns the position of a class name in the sorted list, or
 * where it would go (as a negative number: -(position + 1)).
 */
static int
FindClass(EstReader *reader, const char *name)
{
	int			lo = 0;
	int			hi = reader->n_classes - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			cmp = strcmp(reader->classes[mid].name, name);

		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -(lo + 1);
}

/*
 * AddClass gives a new class name the next id.
 */
static int
AddClass(EstReader *reader, const char *name, Datum value)
{
	int			pos = FindClass(reader, name);
	MemoryContext old;

	if (pos >= 0)
		return reader->classes[pos].id;
	if (reader->n_classes >= EST_MAX_CLASSES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("label column \"%s\" has too many classes",
						reader->label_col.name),
				 errdetail("A classifier has at most %d classes.",
						   EST_MAX_CLASSES)));
	pos = -pos - 1;
	old = MemoryContextSwitchTo(reader->context);
	if (reader->n_classes == reader->cap_classes)
	{
		reader->cap_classes *= 2;
		reader->classes = repalloc(reader->classes,
								   reader->cap_classes * sizeof(LabelEntry));
	}
	memmove(&reader->classes[pos + 1], &reader->classes[pos],
			(reader->n_classes - pos) * sizeof(LabelEntry));
	reader->classes[pos].name = pstrdup(name);
	reader->classes[pos].id = reader->n_classes;
	reader->classes[pos].value = value == (Datum) 0 ? (Datum) 0 :
		datumCopy(value, get_typbyval(reader->label_type),
				  get_typlen(reader->label_type));
	MemoryContextSwitchTo(old);
	reader->n_classes++;
	return reader->classes[pos].id;
}

/*
 * LabelText is a label's class name: text as it is, char(n) without the
 * spaces that pad it (as a feature column reads it), booleans as "true"
 * or "false", other types in their output form.
 */
static char *
LabelText(EstReader *reader, Datum value)
{
	switch (reader->label_col.base_type)
	{
		case TEXTOID:
		case VARCHAROID:
			return TextDatumGetCString(value);
		case BPCHAROID:
			{
				text	   *t = DatumGetTextPP(value);
				int			n = VARSIZE_ANY_EXHDR(t);

				while (n > 0 && VARDATA_ANY(t)[n - 1] == ' ')
					n--;		/* char(n) pads; its value does not */
				return pnstrdup(VARDATA_ANY(t), n);
			}
		case BOOLOID:
			return DatumGetBool(value) ? "true" : "false";
		default:
			return OutputFunctionCall(&reader->label_out, value);
	}
}

static int
ClassOf(EstReader *reader, Datum value)
{
	char	   *name = LabelText(reader, value);
	int			pos = FindClass(reader, name);

	/* a model trained before char(n) labels lost their padding */
	if (pos < 0 && reader->label_col.base_type == BPCHAROID)
		pos = FindClass(reader, OutputFunctionCall(&reader->label_out, value));
	if (pos >= 0)
		return reader->classes[pos].id;
	if (reader->learn_classes)
		return AddClass(reader, name, value);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("label \"%s\" in column \"%s\" is not a class of the model",
					name, reader->label_col.name),
			 errdetail("The model knows %d classes.", reader->n_classes),
			 errhint("Leave rows of unknown classes out of the source, or list every class in label_vocabulary when creating the model.")));
	return -1;					/* keep compiler quiet */
}

/*
 * EstReaderVocabulary returns the class names by id (none when the label
 * holds class ids).
 */
char	  **
EstReaderVocabulary(EstReader *reader, int *n)
{
	char	  **names = palloc(Max(reader->n_classes, 1) * sizeof(char *));

	*n = 0;
	if (reader->label_kind != EST_LABEL_VOCABULARY)
		return names;
	for (int i = 0; i < reader->n_classes; i++)
		names[reader->classes[i].id] = reader->classes[i].name;
	*n = reader->n_classes;
	return names;
}

static int
CompareClasses(const void *a, const void *b, void *arg)
{
	const LabelEntry *ea = a;
	const LabelEntry *eb = b;
	EstReader  *reader = arg;
	TypeCacheEntry *tc = lookup_type_cache(reader->label_col.base_type,
										   TYPECACHE_CMP_PROC_FINFO);
	Oid			coll = TupleDescAttr(reader->tupdesc, reader->label_att)->attcollation;

	if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
		return strcmp(ea->name, eb->name);
	return DatumGetInt32(FunctionCall2Coll(&tc->cmp_proc_finfo, coll,
										   ea->value, eb->value));
}

/*
 * EstReaderSortVocabulary gives the classes learned by a reader their ids
 * in the order of the label's type (enums in their order, false before
 * true, text by the column's collation) and rewrites the n_rows labels of
 * y to match.
 */
void
EstReaderSortVocabulary(EstReader *reader, float *y, int64 n_rows)
{
	LabelEntry *sorted = palloc(Max(reader->n_classes, 1) * sizeof(LabelEntry));
	int		   *new_id = palloc(Max(reader->n_classes, 1) * sizeof(int));

	if (reader->label_kind != EST_LABEL_VOCABULARY)
		return;
	memcpy(sorted, reader->classes, reader->n_classes * sizeof(LabelEntry));
	qsort_arg(sorted, reader->n_classes, sizeof(LabelEntry), CompareClasses,
			  reader);
	for (int i = 0; i < reader->n_classes; i++)
		new_id[sorted[i].id] = i;
	for (int i = 0; i < reader->n_classes; i++)
		reader->classes[i].id = new_id[reader->classes[i].id];
	for (int64 i = 0; i < n_rows; i++)
		y[i] = (float) new_id[(int) y[i]];
}

/*
 * EstReaderOpenLabelled opens a labelled source with an existing model's
 * feature columns, transform, label (class ids, class names or values)
 * and weight column.
 */
EstReader *
EstReaderOpenLabelled(const char *source, const EstModelDef *def,
					  EstTransform *tf)
{
	EstReadSpec spec;
	bool		regressor = EST_IS_REGRESSOR(def->type);

	memset(&spec, 0, sizeof(spec));
	spec.label = def->label;
	spec.label_kind = regressor ? EST_LABEL_VALUE :
		def->n_label_vocabulary > 0 ? EST_LABEL_VOCABULARY : EST_LABEL_CLASS;
	spec.label_width = regressor ? def->label_dimension : 1;
	spec.n_vocabulary = def->n_label_vocabulary;
	spec.vocabulary = def->label_vocabulary;
	spec.weight = def->weight_column;
	spec.transform = tf;
	return EstReaderOpen(source, &spec, def->features, def->n_features,
						 false);
}

/*
 * EstReaderEstimatedRows is the planner's estimate of the rows that the
 * source gives, or -1 when its cursor has no plan to say.
 */
double
EstReaderEstimatedRows(EstReader *reader)
{
	Node	   *stmt;
	Plan	   *plan;

	if (reader->portal == NULL || list_length(reader->portal->stmts) != 1)
		return -1;
	stmt = linitial(reader->portal->stmts);
	if (!IsA(stmt, PlannedStmt))
		return -1;
	plan = ((PlannedStmt *) stmt)->planTree;
	return plan != NULL ? plan->plan_rows : -1;
}

/*
 * EstRoomForEstimate is how many rows to make room for at once where an
 * estimate expects rows: a tenth and 1024 more, so that an estimate a
 * little short does not grow the arrays, which would move them (see
 * FirstCapacity in train.c).  Callers bound it.
 */
double
EstRoomForEstimate(double rows)
{
	return rows * 1.1 + 1024;
}

/*
 * EstReaderOpenKeyed opens a source to score: the model's features and a
 * key column, which EstReaderKeys returns as text for each row read.
 */
EstReader *
EstReaderOpenKeyed(const char *source, const char *key,
				   const EstModelDef *def, EstTransform *tf)
{
	EstReadSpec spec;

	memset(&spec, 0, sizeof(spec));
	spec.key = key;
	spec.transform = tf;
	spec.missing_as_null = true;
	return EstReaderOpen(source, &spec, def->features, def->n_features,
						 false);
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
 * EstConvertValue turns one column value into numbers, raising an error
 * that names the column for a NULL, NaN, infinity, a value beyond
 * float32, or an array of the wrong shape.
 */
void
EstConvertValue(Datum value, bool isnull, const EstColumn *col, float *out)
{
	EstConvertNumbers(value, isnull, col, out, false);
}

/*
 * EstConvertNumbers is EstConvertValue that, with nulls_as_nan, turns a
 * NULL (or NULL elements of an array) into NaN, which feature columns
 * fill by their NULL policy.
 */
void
EstConvertNumbers(Datum value, bool isnull, const EstColumn *col, float *out,
				  bool nulls_as_nan)
{
	Oid			type;
	int			n = 1;
	Datum	   *elems = &value;
	bool	   *elem_nulls = NULL;
	double		d;

	/* a NULL of a column whose type was dropped (a missing one) too */
	if (isnull && nulls_as_nan)
	{
		for (int i = 0; i < Max(col->width, 1); i++)
			out[i] = NAN;
		return;
	}
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("column \"%s\" contains a null value", col->name),
				 errhint("Leave such rows out of the source, or replace the nulls with COALESCE.")));
	type = OidIsValid(col->base_type) ? col->base_type :
		getBaseType(col->type);

	if (type == FLOAT4ARRAYOID || type == FLOAT8ARRAYOID)
	{
		ArrayType  *arr = DatumGetArrayTypeP(value);

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
			if (elem_nulls[i] && !nulls_as_nan)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("column \"%s\" holds an array with a null element",
								col->name)));
	}

	for (int i = 0; i < n; i++)
	{
		if (elem_nulls != NULL && elem_nulls[i])
		{
			out[i] = NAN;
			continue;
		}
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
				/* a finite number beyond double precision is no infinity */
				if (isinf(d) && !numeric_is_inf(DatumGetNumeric(elems[i])))
					ereport(ERROR,
							(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
							 errmsg("value %s in column \"%s\" is out of range for type real",
									numeric_out_sci(DatumGetNumeric(elems[i]), 0),
									col->name),
							 errdetail("Networks compute in single precision.")));
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
					 errhint("The features, labels and weights of a model must be finite numbers.")));
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
 * ReceiveRow keeps one row of a fetch in the RowBlock: its values, with
 * by-reference ones copied, since the slot's may point into a buffer
 * page or into memory the executor frees before the rows are encoded.
 */
static bool
ReceiveRow(TupleTableSlot *slot, DestReceiver *self)
{
	RowBlock   *block = (RowBlock *) self;
	Datum	   *values;
	bool	   *nulls;

	if (block->n >= EST_FETCH_ROWS ||
		slot->tts_tupleDescriptor->natts != block->natts)
		elog(ERROR, "unexpected row from the cursor of a source");
	values = block->values + block->n * block->natts;
	nulls = block->nulls + block->n * block->natts;
	slot_getallattrs(slot);
	memcpy(values, slot->tts_values, block->natts * sizeof(Datum));
	memcpy(nulls, slot->tts_isnull, block->natts * sizeof(bool));
	if (block->any_byref)
	{
		MemoryContext old = MemoryContextSwitchTo(block->context);

		for (int a = 0; a < block->natts; a++)
			if (block->attlen[a] != 0 && !nulls[a])
				values[a] = datumCopy(values[a], false, block->attlen[a]);
		MemoryContextSwitchTo(old);
	}
	block->n++;
	return true;
}

/* a RowBlock needs no setup or cleanup around a fetch */
static void
ReceiveStartup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	(void) self;
	(void) operation;
	(void) typeinfo;
}

static void
ReceiveNothing(DestReceiver *self)
{
	(void) self;
}

/*
 * MakeRowBlock sets up the receiver of the reader's fetches, in the
 * reader's context.
 */
static RowBlock *
MakeRowBlock(EstReader *reader)
{
	MemoryContext old = MemoryContextSwitchTo(reader->context);
	RowBlock   *block = palloc0(sizeof(RowBlock));
	int			natts = reader->tupdesc->natts;

	block->pub.receiveSlot = ReceiveRow;
	block->pub.rStartup = ReceiveStartup;
	block->pub.rShutdown = ReceiveNothing;
	block->pub.rDestroy = ReceiveNothing;
	block->pub.mydest = DestNone;
	block->natts = natts;
	block->attlen = palloc0(Max(natts, 1) * sizeof(int16));
	for (int a = 0; a < natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(reader->tupdesc, a);

		if (!att->attbyval)
		{
			block->attlen[a] = att->attlen;
			block->any_byref = true;
		}
	}
	block->values = palloc(mul_size(mul_size(EST_FETCH_ROWS, Max(natts, 1)),
									sizeof(Datum)));
	block->nulls = palloc(mul_size(mul_size(EST_FETCH_ROWS, Max(natts, 1)),
								   sizeof(bool)));
	block->context = AllocSetContextCreate(reader->context,
										   "estimator fetched rows",
										   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(old);
	return block;
}

/*
 * FixedValues puts the values of columns atts (n of them) of a row without
 * NULLs, whose data is tp, in reader->values (see EstFixedOffsets).
 */
static inline void
FixedValues(EstReader *reader, const char *tp, const int *atts, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			a = atts != NULL ? atts[i] : i;
		Form_pg_attribute att = TupleDescAttr(reader->tupdesc, a);

		reader->values[a] = fetch_att(tp + reader->fixed_off[a],
									  att->attbyval, att->attlen);
		reader->nulls[a] = false;
	}
}

/*
 * ScalarRow encodes a row without NULLs, whose data is tp, straight into x
 * when every feature column is a plain number (EstScalarRowEncode); the
 * label, weight and key go in reader->values.  False for a value that
 * EstScalarOf refuses (not finite, or beyond float), which EstEncodeRow
 * treats.
 */
static inline bool
ScalarRow(EstReader *reader, const char *tp, float *x)
{
	if (!EstScalarRowEncode(&reader->scalars, tp, x))
		return false;
	FixedValues(reader, tp, reader->others, reader->n_others);
	return true;
}

/*
 * NextRow reads the next row of the source: into reader->values and
 * reader->nulls, or encoded into x with its other columns in
 * reader->values (see ScalarRow).  The rows that EstReaderOpen fetched
 * through SPI come first; then the cursor is read EST_FETCH_ROWS rows at
 * a time into the reader's RowBlock.
 */
static RowRead
NextRow(EstReader *reader, float *x)
{
	RowBlock   *block;
	int			natts = reader->tupdesc->natts;

	if (reader->scan != NULL)
	{
		TupleTableSlot *slot = reader->slot;

		if (reader->done ||
			!table_scan_getnextslot(reader->scan, ForwardScanDirection, slot))
		{
			reader->done = true;
			return ROW_END;
		}
		if (reader->fixed_off != NULL)
		{
			HeapTuple	tuple = ((BufferHeapTupleTableSlot *) slot)->base.tuple;

			/* a row without NULLs: each value where EstFixedOffsets says */
			if (!HeapTupleHasNulls(tuple) &&
				HeapTupleHeaderGetNatts(tuple->t_data) >= reader->map_atts)
			{
				const char *tp = (const char *) tuple->t_data +
					tuple->t_data->t_hoff;

				if (reader->has_scalars && ScalarRow(reader, tp, x))
					return ROW_ENCODED;
				FixedValues(reader, tp, NULL, natts);
				return ROW_VALUES;
			}
		}
		slot_getsomeattrs(slot, reader->map_atts);
		for (int a = 0; a < natts; a++)
		{
			reader->values[a] = slot->tts_values[reader->map[a]];
			reader->nulls[a] = slot->tts_isnull[reader->map[a]];
		}
		return ROW_VALUES;
	}

	if (reader->tuptable != NULL)
	{
		if (reader->pos < reader->n_block)
		{
			heap_deform_tuple(reader->tuptable->vals[reader->pos++],
							  reader->tupdesc, reader->values, reader->nulls);
			return ROW_VALUES;
		}
		SPI_freetuptable(reader->tuptable);
		reader->tuptable = NULL;
	}
	if (reader->block == NULL)
		reader->block = MakeRowBlock(reader);
	block = reader->block;
	if (block->pos >= block->n)
	{
		int			level;
		uint64		fetched;

		if (reader->done)
			return ROW_END;
		MemoryContextReset(block->context);
		block->n = 0;
		block->pos = 0;
		level = NoSyncScanBegin();
		fetched = PortalRunFetch(reader->portal, FETCH_FORWARD, EST_FETCH_ROWS,
								 &block->pub);
		NoSyncScanEnd(level);
		if (fetched == 0 || block->n == 0)
		{
			reader->done = true;
			return ROW_END;
		}
	}
	memcpy(reader->values, block->values + block->pos * natts,
		   natts * sizeof(Datum));
	memcpy(reader->nulls, block->nulls + block->pos * natts,
		   natts * sizeof(bool));
	block->pos++;
	return ROW_VALUES;
}

/*
 * EstReaderNext encodes up to max_rows rows into X (compact rows of the
 * transform), y (the label, when one is read) and w (the weight, when one
 * is read and w is not NULL) and returns how many; 0 at the end of the
 * source.  What it allocates (the keys, what the encoder learns) goes in
 * the caller's memory context.
 */
int
EstReaderNext(EstReader *reader, float *X, float *y, float *w, int max_rows)
{
	int			n = 0;
	MemoryContext old;

	Assert(reader->encoder != NULL);
	while (n < max_rows)
	{
		float	   *x = X + (size_t) n * reader->n_inputs;
		RowRead		read = NextRow(reader, x);

		if (read == ROW_END)
			break;
		if (read == ROW_VALUES)
			EstEncodeRow(reader->encoder, reader->values, reader->nulls, x);

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

		/* detoasted numbers, class names and arrays: until the block ends */
		old = MemoryContextSwitchTo(reader->label_context);
		if (reader->weight_att >= 0 && w != NULL)
		{
			int			att = reader->weight_att;

			EstConvertValue(reader->values[att], reader->nulls[att],
							&reader->weight_col, &w[n]);
			if (w[n] < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("weight column \"%s\" contains the negative weight %g",
								reader->weight_col.name, w[n]),
						 errhint("Example weights must be zero or positive.")));
		}

		if (reader->label_att >= 0)
			ReadLabel(reader, y, n);
		MemoryContextSwitchTo(old);
		n++;
	}
	MemoryContextReset(reader->label_context);
	return n;
}

/*
 * ReadLabel stores the label of the current row, the n-th of the block,
 * in y.
 */
static void
ReadLabel(EstReader *reader, float *y, int n)
{
	int			att = reader->label_att;
	const char *name = reader->label_col.name;
	int64		label;

	if (reader->label_kind == EST_LABEL_VALUE)
	{
		EstConvertValue(reader->values[att], reader->nulls[att],
						&reader->label_col,
						y + (size_t) n * reader->label_col.width);
		return;
	}
	if (reader->nulls[att])
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label column \"%s\" contains a null value", name)));
	if (reader->label_kind == EST_LABEL_VOCABULARY)
	{
		y[n] = (float) ClassOf(reader, reader->values[att]);
		return;
	}
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

void
EstReaderClose(EstReader *reader)
{
	if (reader->scan != NULL)
	{
		table_endscan(reader->scan);
		ExecDropSingleTupleTableSlot(reader->slot);
		table_close(reader->rel, NoLock);
		reader->scan = NULL;
	}
	if (reader->tuptable != NULL)
		SPI_freetuptable(reader->tuptable);
	reader->tuptable = NULL;
	SPI_cursor_close(reader->portal);
}

/*
 * EstScalarRowInit lays out in sr how a row without NULLs encodes when
 * every feature column of encoder is a plain number (see
 * EstEncoderScalarColumns): each value at off[its source] in the row's
 * data goes to its slot, and reals that lie side by side in the row and in
 * the slots are copied at once.  False when some column is not a plain
 * number.
 */
bool
EstScalarRowInit(EstScalarRow *sr, const EstEncoder *encoder, const int *off)
{
	int		   *atts;

	if (!EstEncoderScalarColumns(encoder, &sr->n, &atts, &sr->type,
								 &sr->slot))
		return false;
	sr->off = atts;
	sr->len = palloc(Max(sr->n, 1) * sizeof(int16));
	sr->run = palloc0(Max(sr->n, 1) * sizeof(int));
	for (int i = 0; i < sr->n; i++)
	{
		sr->off[i] = off[atts[i]];
		sr->len[i] = get_typlen(sr->type[i]);
	}
	for (int i = sr->n - 1; i >= 0; i--)
	{
		if (sr->type[i] != FLOAT4OID)
			continue;
		sr->run[i] = 1;
		if (i + 1 < sr->n && sr->run[i + 1] > 0 &&
			sr->off[i + 1] == sr->off[i] + (int) sizeof(float4) &&
			sr->slot[i + 1] == sr->slot[i] + 1)
			sr->run[i] += sr->run[i + 1];
	}
	return true;
}

/*
 * EstScalarRowEncode encodes the features of a row without NULLs, whose
 * data is tp, into x as EstEncodeRow would (EstScalarOf): a run of reals
 * is copied and then checked for NaN and infinity together, since
 * EstScalarOf gives a finite real its own bits.  False for a value that
 * EstScalarOf refuses, which EstEncodeRow reports.
 */
bool
EstScalarRowEncode(const EstScalarRow *sr, const char *tp, float *x)
{
	for (int i = 0; i < sr->n;)
	{
		int			run = sr->run[i];
		Datum		value;

		if (run > 0)
		{
			float	   *to = x + sr->slot[i];
			uint32		special = 0;

			memcpy(to, tp + sr->off[i], run * sizeof(float4));
			for (int k = 0; k < run; k++)
			{
				uint32		bits;

				memcpy(&bits, &to[k], sizeof(bits));
				special |= (bits & 0x7f800000) == 0x7f800000;
			}
			if (special)
				return false;
			i += run;
			continue;
		}
		value = fetch_att(tp + sr->off[i], true, sr->len[i]);
		if (!EstScalarOf(sr->type[i], value, x + sr->slot[i]))
			return false;
		i++;
	}
	return true;
}

/*
 * EstMapPages fills this process's page tables for len bytes at addr that
 * it is about to touch all of (to write, or only to read): one call
 * rather than a page fault for every page, of a shared memory segment or
 * of the process's own memory.  It is only an optimisation, and does
 * nothing where Linux cannot.
 */
void
EstMapPages(const void *addr, Size len, bool write)
{
#if defined(MADV_POPULATE_READ) && defined(MADV_POPULATE_WRITE)
	uintptr_t	page = (uintptr_t) sysconf(_SC_PAGESIZE);
	uintptr_t	start = (uintptr_t) addr & ~(page - 1);
	uintptr_t	end = (uintptr_t) addr + len;

	if (len > 0 && page > 0)
		(void) madvise((void *) start, end - start,
					   write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
#else
	(void) addr;
	(void) len;
	(void) write;
#endif
}

/* how far ahead of the rows appended EstMapRowsAhead maps the pages */
#define EST_MAP_AHEAD		((Size) 1024 * 1024)

/*
 * EstMapRowsAhead maps, before rows are appended to data (whose arrays
 * hold capacity rows) up to row upto, the pages of its arrays up to
 * EST_MAP_AHEAD bytes past those rows, a few megabytes at a time: one call
 * rather than a page fault for every page.  An array that moved since the
 * last call (it grew) counts as mapped up to its rows only.
 */
void
EstMapRowsAhead(EstRowsMap *map, const EstData *data, int64 upto,
				int64 capacity)
{
	const void *base[3] = {data->X, data->y, data->w};
	Size		width[3] = {data->n_inputs * sizeof(float),
		data->label_width * sizeof(float), sizeof(float)};

	for (int k = 0; k < 3; k++)
	{
		Size		want = upto * width[k];
		Size		end;

		if (base[k] == NULL)
			continue;
		if (base[k] != map->base[k])
		{
			map->base[k] = base[k];
			map->mapped[k] = Min(map->mapped[k], data->n_rows * width[k]);
		}
		if (want <= map->mapped[k])
			continue;
		end = Min(capacity * width[k], add_size(want, EST_MAP_AHEAD));
		EstMapPages((const char *) base[k] + map->mapped[k],
					end - map->mapped[k], true);
		map->mapped[k] = end;
	}
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

/*
 * EstSourceBlocks returns the number of blocks of a source that parallel
 * workers can read in block ranges: a table or materialized view named by
 * the source that OpenHeapSource accepts and that is not a temporary one,
 * and 0 for anything else.
 */
BlockNumber
EstSourceBlocks(const char *source)
{
	Relation	rel;
	BlockNumber blocks;

	if (source[0] == '\0' || IsQuerySource(source))
		return 0;
	rel = OpenHeapSource(source);
	if (rel == NULL)
		return 0;
	/* workers cannot see the backend's temporary tables */
	blocks = rel->rd_rel->relpersistence != RELPERSISTENCE_TEMP ?
		RelationGetNumberOfBlocks(rel) : 0;
	table_close(rel, AccessShareLock);
	return blocks;
}

/*
 * EstReaderSharableBlocks is the number of blocks of the table that reader
 * scans itself (see DirectScan), which a parallel scan could share with
 * parallel workers, and in *rel_workers the table's parallel_workers
 * storage parameter (-1 when not set); 0 when the reader reads through its
 * cursor, reads a temporary table (which workers cannot see) or has read
 * to its end.
 */
BlockNumber
EstReaderSharableBlocks(EstReader *reader, int *rel_workers)
{
	*rel_workers = -1;
	if (reader->scan == NULL || reader->done ||
		reader->rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return 0;
	*rel_workers = RelationGetParallelWorkers(reader->rel, -1);
	return RelationGetNumberOfBlocks(reader->rel);
}

/*
 * EstReaderSharedScanSize is the bytes of shared memory that a parallel
 * scan of reader's table takes (see EstReaderShareScan).
 */
Size
EstReaderSharedScanSize(EstReader *reader)
{
	Assert(reader->scan != NULL);
	return table_parallelscan_estimate(reader->rel, reader->scan->rs_snapshot);
}

/*
 * EstReaderRelation is the relation that reader's source names, as
 * resolved (and locked) when the reader opened, or InvalidOid for a query;
 * EstReaderRelationName is its schema-qualified name, or NULL.  Parallel
 * members open that name rather than the source's, which another relation
 * may have taken since, earlier in the search path; each checks that it
 * opened reader's relation (EstReaderCheckRelation), as a schema may have
 * been renamed meanwhile.
 */
Oid
EstReaderRelation(EstReader *reader)
{
	return reader->relid;
}

char *
EstReaderRelationName(EstReader *reader)
{
	char	   *nspname;
	char	   *relname;

	if (!OidIsValid(reader->relid))
		return NULL;
	nspname = get_namespace_name(get_rel_namespace(reader->relid));
	relname = get_rel_name(reader->relid);
	if (nspname == NULL || relname == NULL)
		elog(ERROR, "cache lookup failed for relation %u", reader->relid);
	return quote_qualified_identifier(nspname, relname);
}

void
EstReaderCheckRelation(EstReader *reader, Oid relid)
{
	if (reader->relid != relid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("source \"%s\" no longer names the relation that the call began to read",
						reader->source),
				 errhint("Do not rename relations or schemas while they are read.")));
}

/*
 * EstReaderShareScan makes the reader's scan of its table (see DirectScan)
 * its part of pscan, a parallel scan in shared memory that the backend sets
 * up (initialize) with its scan's snapshot before any row is read, and
 * that parallel workers join: the scans that share it read every block of
 * the table once between them, in chunks that each takes as it goes, so
 * that rows come in no set order.  A reader that does not scan the table
 * itself cannot share a scan: that is an error, as the reader would read
 * every row, and so is a pscan of another relation.
 */
void
EstReaderShareScan(EstReader *reader, ParallelTableScanDesc pscan,
				   bool initialize)
{
	if (reader->scan == NULL || reader->done)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("a parallel scorer cannot share the scan of its source")));
	if (!initialize)
		EstReaderCheckRelation(reader, pscan->phs_relid);
	if (initialize)
		table_parallelscan_initialize(reader->rel, pscan,
									  reader->scan->rs_snapshot);
	table_endscan(reader->scan);
	reader->scan = table_beginscan_parallel(reader->rel, pscan);
}

/*
 * EstReaderLearns tells whether encoding depends on the order of the rows:
 * class names or a vocabulary learned as they come.
 */
bool
EstReaderLearns(EstReader *reader)
{
	if (reader->learn_classes)
		return true;
	if (reader->tf != NULL && !reader->tf->fitted)
		for (int c = 0; c < reader->tf->n_columns; c++)
			if (reader->tf->columns[c].kind == EST_FC_VOCABULARY &&
				reader->tf->columns[c].learned)
				return true;
	return false;
}

/*
 * EstReaderLabelColumnWidth is the width of the label as read (values of
 * a regressor), for a reader that reads the same source again.
 */
int
EstReaderLabelColumnWidth(EstReader *reader)
{
	return reader->label_col.width;
}

/* EstReaderTransform is the transform the reader encodes with. */
EstTransform *
EstReaderTransform(EstReader *reader)
{
	return reader->tf;
}
