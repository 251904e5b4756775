/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  The estimator.* tables: models, checkpoints and the training log.
 *
 * Users cannot write these tables; the functions do, through SPI, as the
 * owner of the schema "estimator" (a local user switch like the one
 * PostgreSQL's referential integrity triggers make), after checking that
 * the caller may act on the model.  Sources are read elsewhere, as the
 * caller.  Every query names its tables and operators with their schema,
 * so no search_path can redirect it; nor does one use IS DISTINCT FROM,
 * NULLIF, IN or CASE x WHEN, which look up "=" in the search_path (and
 * would run another role's operator with the owner's rights).
 *
 * Training locks the model's row (SELECT ... FOR NO KEY UPDATE), so two
 * sessions training one model take turns, while evaluations and
 * predictions never wait; a rolled back training leaves the model as it
 * was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "estimator.h"

#define MODEL_COLUMNS \
	"name, owner, model_type, label, features, feature_types, " \
	"feature_widths, n_inputs, n_classes, hidden_units, activation, " \
	"optimizer, learning_rate, batch_size, params, global_step, " \
	"label_dimension, input_width, label_vocabulary"

/*
 * InstalledVersion returns the version of the extension whose OID is
 * extension, as pg_extension gives it.
 */
static char *
InstalledVersion(Oid extension)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extension));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		datum = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(datum);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * CheckInstalledVersion raises an error when the extension's SQL objects
 * in this database are of another version than this library.  A new
 * library serves every database at once, but each keeps the tables and
 * functions of its version until ALTER EXTENSION estimator UPDATE, and the
 * library's catalog statements would fail on what an older version lacks,
 * with an error that says nothing of versions.  The extension's OID is
 * remembered once its version matches, so that the check costs one
 * lookup of it a statement; its scripts themselves are not checked.
 */
static void
CheckInstalledVersion(void)
{
	static Oid	matched = InvalidOid;
	Oid			extension;
	char	   *version;

	if (creating_extension)
		return;
	extension = get_extension_oid("estimator", true);
	if (!OidIsValid(extension) || extension == matched)
		return;
	version = InstalledVersion(extension);
	if (version != NULL && strcmp(version, EST_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"estimator\" is at version \"%s\", but its library is version \"%s\"",
						version, EST_VERSION),
				 errhint("Update the extension with ALTER EXTENSION estimator UPDATE.")));
	matched = extension;
}

static Oid
CatalogOwner(void)
{
	Oid			nsp = get_namespace_oid("estimator", true);
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"estimator\" does not exist"),
				 errhint("Create the extension with CREATE EXTENSION estimator.")));
	CheckInstalledVersion();
	tuple = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tuple))->nspowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * CatalogExecute runs one catalog statement as the owner of the schema
 * "estimator" and returns the SPI result code.
 */
static int
CatalogExecute(const char *sql, int nargs, Oid *types, Datum *values,
			   const char *nulls, bool read_only, long count)
{
	Oid			save_userid;
	int			save_sec_context;
	int			ret;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(CatalogOwner(),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	ret = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only,
								count);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (ret < 0)
		elog(ERROR, "catalog query failed: %s: %s",
			 SPI_result_code_string(ret), sql);
	return ret;
}

/*
 * CatalogExecuteForModel runs a catalog statement whose one parameter, $1,
 * is a model name.
 */
static int
CatalogExecuteForModel(const char *sql, const char *name, bool read_only,
					   long count)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	values[0] = CStringGetTextDatum(name);
	return CatalogExecute(sql, 1, types, values, NULL, read_only, count);
}

/*
 * EstCatalogCallForCaller calls the internal function estimator.<function>
 * as the owner of the schema, with the current user (GetUserId()) as its
 * first argument, a regrole, and the nargs arguments of the call fcinfo
 * after it, of the types argtypes.  The schedule helpers go through it:
 * they act for the role whose code calls them, which a SECURITY DEFINER
 * function cannot see (the session's role is another one when a
 * superuser's ANALYZE evaluates an index of another role's table).  The
 * function's result is returned, and must be of a type passed by value
 * (void or boolean); *isnull says whether it is NULL.
 */
Datum
EstCatalogCallForCaller(const char *function, FunctionCallInfo fcinfo,
						const Oid *argtypes, int nargs, bool *isnull)
{
	Datum		result = (Datum) 0;
	Oid			types[FUNC_MAX_ARGS];
	Datum		values[FUNC_MAX_ARGS];
	char		nulls[FUNC_MAX_ARGS];
	StringInfoData sql;

	if (PG_NARGS() != nargs || nargs >= FUNC_MAX_ARGS)
		elog(ERROR, "estimator.%s takes %d arguments, not %d",
			 function, nargs, (int) PG_NARGS());
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT estimator.%s($1", function);
	types[0] = REGROLEOID;
	values[0] = ObjectIdGetDatum(GetUserId());
	nulls[0] = ' ';
	for (int i = 0; i < nargs; i++)
	{
		types[i + 1] = argtypes[i];
		values[i + 1] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i + 1] = PG_ARGISNULL(i) ? 'n' : ' ';
		appendStringInfo(&sql, ", $%d", i + 2);
	}
	appendStringInfoChar(&sql, ')');
	*isnull = true;
	SPI_connect();
	CatalogExecute(sql.data, nargs + 1, types, values, nulls, false, 0);
	if (SPI_processed == 1 && SPI_tuptable != NULL &&
		SPI_tuptable->tupdesc->natts == 1 &&
		TupleDescAttr(SPI_tuptable->tupdesc, 0)->attbyval)
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							   1, isnull);
	SPI_finish();
	return result;
}

static Datum
TextArrayDatum(char **strings, int n)
{
	Datum	   *elems = palloc(n * sizeof(Datum));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(strings[i]);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false,
										   TYPALIGN_INT));
}

static Datum
Int4ArrayDatum(const int *ints, int n)
{
	Datum	   *elems = palloc(Max(n, 1) * sizeof(Datum));

	for (int i = 0; i < n; i++)
		elems[i] = Int32GetDatum(ints[i]);
	return PointerGetDatum(construct_array(elems, n, INT4OID, sizeof(int32),
										   true, TYPALIGN_INT));
}

static void
DeconstructInts(Datum arr, Oid elemtype, int *out, int max, int *n)
{
	Datum	   *elems;
	bool	   *nulls;
	int			count;

	deconstruct_array(DatumGetArrayTypeP(arr), elemtype, 4, true,
					  TYPALIGN_INT, &elems, &nulls, &count);
	if (count > max)
		elog(ERROR, "catalog array has %d elements, at most %d expected",
			 count, max);
	for (int i = 0; i < count; i++)
		out[i] = DatumGetInt32(elems[i]);
	*n = count;
}

/*
 * ModelFromTuple copies a row of estimator.model_catalog into a new
 * EstModelDef, in the current memory context.
 */
static EstModelDef *
ModelFromTuple(HeapTuple tuple, TupleDesc tupdesc)
{
	EstModelDef *def = palloc0(sizeof(EstModelDef));
	bool		isnull;
	Datum	   *names;
	bool	   *nulls;
	int			n;
	int		   *types;
	int		   *widths;
	int			n_types;
	int			n_widths;

#define COL(i) SPI_getbinval(tuple, tupdesc, (i), &isnull)
	def->name = TextDatumGetCString(COL(1));
	def->owner = DatumGetObjectId(COL(2));
	def->type = EstModelTypeFromName(TextDatumGetCString(COL(3)));
	def->label = TextDatumGetCString(COL(4));

	deconstruct_array(DatumGetArrayTypeP(COL(5)), TEXTOID, -1, false,
					  TYPALIGN_INT, &names, &nulls, &n);
	types = palloc(Max(n, 1) * sizeof(int));
	widths = palloc(Max(n, 1) * sizeof(int));
	DeconstructInts(COL(6), REGTYPEOID, types, n, &n_types);
	DeconstructInts(COL(7), INT4OID, widths, n, &n_widths);
	if (n_types != n || n_widths != n)
		elog(ERROR, "model \"%s\" has %d features but %d types and %d widths",
			 def->name, n, n_types, n_widths);
	def->n_features = n;
	def->features = palloc0(Max(n, 1) * sizeof(EstColumn));
	for (int i = 0; i < n; i++)
	{
		def->features[i].name = TextDatumGetCString(names[i]);
		def->features[i].type = (Oid) types[i];
		def->features[i].base_type = InvalidOid;	/* set by the reader */
		def->features[i].kind = EstClassifyType((Oid) types[i]);
		def->features[i].width = widths[i];
	}

	def->n_inputs = DatumGetInt32(COL(8));
	def->n_classes = DatumGetInt32(COL(9));
	if (isnull)
		def->n_classes = 0;
	DeconstructInts(COL(10), INT4OID, def->hidden, EST_MAX_LAYERS,
					&def->n_hidden);
	def->activation = EstActivationFromName(TextDatumGetCString(COL(11)));
	def->optimizer = EstOptimizerFromName(TextDatumGetCString(COL(12)));
	def->learning_rate = DatumGetFloat8(COL(13));
	def->batch_size = DatumGetInt32(COL(14));
	def->params = DatumGetJsonbPCopy(COL(15));
	def->global_step = DatumGetInt64(COL(16));
	def->label_dimension = DatumGetInt32(COL(17));
	if (isnull)
		def->label_dimension = 0;
	def->input_width = DatumGetInt32(COL(18));
	if (isnull)
		def->input_width = def->n_inputs;
	{
		Datum		vocab = COL(19);

		def->n_label_vocabulary = 0;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *elem_nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(vocab), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &elem_nulls, &n);
			def->label_vocabulary = palloc(Max(n, 1) * sizeof(char *));
			for (int i = 0; i < n; i++)
				def->label_vocabulary[i] = TextDatumGetCString(elems[i]);
			def->n_label_vocabulary = n;
			if (n != def->n_classes)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("model \"%s\" is corrupted", def->name),
						 errdetail("It has %d classes but %d class names.",
								   def->n_classes, n)));
		}
	}
	{
		EstOptions	opts;

		EstParseParams(def->params, &opts);
		def->weight_column = opts.weight_column;
	}
#undef COL
	return def;
}

/*
 * FetchedModel returns the model that the last catalog query read, or
 * NULL when it read none and missing_ok.
 */
static EstModelDef *
FetchedModel(const char *name, bool missing_ok)
{
	EstModelDef *def;

	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" does not exist", name),
				 errhint("Train it with est_train first.")));
	}
	def = ModelFromTuple(SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
	SPI_freetuptable(SPI_tuptable);
	return def;
}

/*
 * EstCatalogGetModel returns the definition of a model, allocated in the
 * caller's memory context, or NULL when missing_ok and there is none.
 * for_update locks the model's row until the end of the transaction.
 */
EstModelDef *
EstCatalogGetModel(const char *name, bool for_update, bool missing_ok)
{
	MemoryContext target = CurrentMemoryContext;

	CatalogExecuteForModel(for_update ?
						   "SELECT " MODEL_COLUMNS " FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1 FOR NO KEY UPDATE" :
						   "SELECT " MODEL_COLUMNS " FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1",
						   name, !for_update, 1);
	MemoryContextSwitchTo(target);
	return FetchedModel(name, missing_ok);
}

/*
 * EstCatalogHasPrivilege tells whether the current user may use a model
 * so: its owner (a member of the owning role, or a superuser) may do
 * anything; others what est_grant gave them or PUBLIC, where 'train'
 * includes 'predict'.
 */
bool
EstCatalogHasPrivilege(const EstModelDef *def, EstPrivilege priv)
{
	Oid			types[3] = {TEXTOID, TEXTARRAYOID, OIDOID};
	Datum		values[3];
	Datum		privs[2];
	bool		found;

	if (has_privs_of_role(GetUserId(), def->owner))
		return true;
	if (priv == EST_PRIV_OWN)
		return false;
	privs[0] = CStringGetTextDatum("train");
	privs[1] = CStringGetTextDatum("predict");
	values[0] = CStringGetTextDatum(def->name);
	values[1] = PointerGetDatum(construct_array(privs,
												priv == EST_PRIV_PREDICT ? 2 : 1,
												TEXTOID, -1, false,
												TYPALIGN_INT));
	values[2] = ObjectIdGetDatum(GetUserId());
	CatalogExecute("SELECT 1 FROM estimator.model_grants"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND privilege OPERATOR(pg_catalog.=) ANY ($2)"
				   " AND (grantee IS NULL OR"
				   "  pg_catalog.pg_has_role($3, grantee::pg_catalog.oid, 'USAGE'))"
				   " LIMIT 1",
				   3, types, values, NULL, true, 1);
	found = SPI_processed > 0;
	if (SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * EstCatalogCheckPrivilege raises insufficient_privilege unless the
 * current user may use the model so; action says for what ("predict
 * with", "train", "drop"...).
 */
void
EstCatalogCheckPrivilege(const EstModelDef *def, EstPrivilege priv,
						 const char *action)
{
	if (EstCatalogHasPrivilege(def, priv))
		return;
	if (priv == EST_PRIV_OWN)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of model \"%s\" to %s it",
						def->name, action)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s model \"%s\"", action, def->name),
			 errhint("The owner of the model can give the privilege with est_grant('%s', role, '%s').",
					 def->name, priv == EST_PRIV_TRAIN ? "train" : "predict")));
}

static Oid	model_types[18] = {TEXTOID, OIDOID, TEXTOID, TEXTOID, TEXTARRAYOID,
	OIDARRAYOID, INT4ARRAYOID, INT4OID, INT4OID, INT4ARRAYOID, TEXTOID,
TEXTOID, FLOAT8OID, INT4OID, JSONBOID, INT4OID, INT4OID, TEXTARRAYOID};

/*
 * ModelValues gives the 18 parameters of a model's row, in the order of
 * model_types.
 */
static void
ModelValues(const EstModelDef *def, Datum *values, char *nulls)
{
	char	  **names = palloc(def->n_features * sizeof(char *));
	Datum	   *typoids = palloc(def->n_features * sizeof(Datum));
	int		   *widths = palloc(def->n_features * sizeof(int));

	for (int i = 0; i < def->n_features; i++)
	{
		names[i] = def->features[i].name;
		typoids[i] = ObjectIdGetDatum(def->features[i].type);
		widths[i] = def->features[i].width;
	}

	values[0] = CStringGetTextDatum(def->name);
	values[1] = ObjectIdGetDatum(def->owner);
	memset(nulls, ' ', 18);
	values[2] = CStringGetTextDatum(EstModelTypeName(def->type));
	values[3] = CStringGetTextDatum(def->label);
	values[4] = TextArrayDatum(names, def->n_features);
	values[5] = PointerGetDatum(construct_array(typoids, def->n_features,
												OIDOID, sizeof(Oid), true,
												TYPALIGN_INT));
	values[6] = Int4ArrayDatum(widths, def->n_features);
	values[7] = Int32GetDatum(def->n_inputs);
	values[8] = Int32GetDatum(def->n_classes);
	if (def->n_classes == 0)
		nulls[8] = 'n';
	values[9] = Int4ArrayDatum(def->hidden, def->n_hidden);
	values[10] = CStringGetTextDatum(EstActivationName(def->activation));
	values[11] = CStringGetTextDatum(EstOptimizerName(def->optimizer));
	values[12] = Float8GetDatum(def->learning_rate);
	values[13] = Int32GetDatum(def->batch_size);
	values[14] = def->params ? JsonbPGetDatum(def->params) :
		DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	values[15] = Int32GetDatum(def->label_dimension);
	if (def->label_dimension == 0)
		nulls[15] = 'n';
	values[16] = Int32GetDatum(def->input_width);
	values[17] = def->n_label_vocabulary > 0 ?
		TextArrayDatum(def->label_vocabulary, def->n_label_vocabulary) :
		(Datum) 0;
	if (def->n_label_vocabulary == 0)
		nulls[17] = 'n';
}

/*
 * LockNewModel takes, until the transaction ends, a lock on the name of a
 * model that the transaction is about to create.  A model that does not
 * exist has no row to lock, and inserting a name that another transaction
 * has inserted but not yet committed waits for its end, even for a call
 * with nowait; with the lock taken first, such a call fails at once.  The
 * lock is an advisory lock of this database on a 64-bit hash of the name,
 * with a fourth field (EST_NEW_MODEL_LOCK) that the SQL advisory lock
 * functions never use, so that it meets none of theirs.
 */
#define EST_NEW_MODEL_LOCK	0x4553

static void
LockNewModel(const char *name, bool nowait)
{
	uint64		h = hash_bytes_extended((const unsigned char *) name,
										strlen(name), 0);
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 EST_NEW_MODEL_LOCK);
	if (LockAcquire(&tag, ExclusiveLock, false, nowait) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock model \"%s\": another transaction is creating it",
						name),
				 errhint("Leave out nowait => true to wait for it.")));
}

/*
 * EstCatalogInsertModel stores a new model; false when a concurrent
 * transaction created one of the same name first.  With nowait, it fails
 * with 55P03 rather than wait for another transaction creating it
 * (LockNewModel).
 */
bool
EstCatalogInsertModel(const EstModelDef *def, bool nowait)
{
	Datum		values[18];
	char		nulls[18];

	LockNewModel(def->name, nowait);
	ModelValues(def, values, nulls);
	CatalogExecute("INSERT INTO estimator.model_catalog"
				   " (name, owner, model_type, label, features, feature_types,"
				   " feature_widths, n_inputs, n_classes, hidden_units,"
				   " activation, optimizer, learning_rate, batch_size, params,"
				   " label_dimension, input_width, label_vocabulary)"
				   " VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.regtype[],"
				   " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
				   " ON CONFLICT (name) DO NOTHING",
				   18, model_types, values, nulls, false, 0);
	return SPI_processed == 1;
}

/*
 * EstCatalogRedefineModel replaces the definition of a model that reset
 * trains anew, keeping its name, owner, creation time and grants.
 */
void
EstCatalogRedefineModel(const EstModelDef *def)
{
	Datum		values[18];
	char		nulls[18];

	ModelValues(def, values, nulls);
	CatalogExecute("UPDATE estimator.model_catalog SET"
				   " (model_type, label, features, feature_types,"
				   " feature_widths, n_inputs, n_classes, hidden_units,"
				   " activation, optimizer, learning_rate, batch_size, params,"
				   " label_dimension, input_width, label_vocabulary,"
				   " global_step, serving_step, updated)"
				   " = ($3, $4, $5, $6::pg_catalog.regtype[],"
				   " $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,"
				   " 0, NULL, pg_catalog.now())"
				   " WHERE name OPERATOR(pg_catalog.=) $1"
				   " AND $2 IS NOT NULL",
				   18, model_types, values, nulls, false, 0);
}

/*
 * EstCatalogUpdateModel records a model's new global step.
 */
void
EstCatalogUpdateModel(const EstModelDef *def)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(def->name);
	values[1] = Int64GetDatum(def->global_step);
	CatalogExecute("UPDATE estimator.model_catalog"
				   " SET global_step = $2, updated = pg_catalog.now()"
				   " WHERE name OPERATOR(pg_catalog.=) $1",
				   2, types, values, NULL, false, 0);
}

/*
 * EstCatalogDropModel deletes a model; its checkpoints and log go with it
 * (ON DELETE CASCADE), and its evaluations, which have no foreign key.
 */
void
EstCatalogDropModel(const char *name)
{
	CatalogExecuteForModel("DELETE FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
	EstCatalogForgetEvaluations(name);
}

/*
 * EstCatalogForgetEvaluations deletes the evaluations recorded under a
 * model name: when the model is dropped, and when a new model takes the
 * name of one whose evaluation committed after it was dropped.
 */
void
EstCatalogForgetEvaluations(const char *name)
{
	CatalogExecuteForModel("DELETE FROM estimator.evaluations"
						   " WHERE model OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
}

/*
 * EstCatalogLatestCheckpoint returns a copy of a checkpoint of a model, in
 * the caller's memory context, or NULL if it has none.  With latest, it
 * reads the newest checkpoint under a new snapshot: what a trainer that
 * waited for the model's lock must continue from.  Without, it reads the
 * serving checkpoint (serving_step, or the newest when that is NULL) under
 * the query's snapshot: what evaluation and prediction use.
 */
bytea *
EstCatalogLatestCheckpoint(const char *name, bool latest, int64 *global_step)
{
	return EstCatalogGetCheckpoint(name,
								   latest ? EST_STEP_NEWEST : EST_STEP_SERVING,
								   latest, global_step);
}

/*
 * EstCatalogGetCheckpoint returns a copy of the checkpoint of a model at
 * step (or EST_STEP_NEWEST, EST_STEP_SERVING), in the caller's memory
 * context, or NULL if there is none; latest reads under a new snapshot.
 */
bytea *
EstCatalogGetCheckpoint(const char *name, int64 step, bool latest,
						int64 *global_step)
{
	MemoryContext target = CurrentMemoryContext;
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		isnull;
	bytea	   *data;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(step);
	if (step == EST_STEP_NEWEST)
		CatalogExecute("SELECT global_step, data FROM estimator.checkpoints"
					   " WHERE model OPERATOR(pg_catalog.=) $1"
					   " ORDER BY global_step DESC LIMIT 1",
					   1, types, values, NULL, !latest, 1);
	else if (step == EST_STEP_SERVING)
		CatalogExecute("SELECT c.global_step, c.data"
					   " FROM estimator.model_catalog m"
					   " JOIN estimator.checkpoints c"
					   " ON c.model OPERATOR(pg_catalog.=) m.name"
					   " WHERE m.name OPERATOR(pg_catalog.=) $1"
					   " AND (m.serving_step IS NULL OR"
					   "  c.global_step OPERATOR(pg_catalog.=) m.serving_step)"
					   " ORDER BY c.global_step DESC LIMIT 1",
					   1, types, values, NULL, !latest, 1);
	else
		CatalogExecute("SELECT global_step, data FROM estimator.checkpoints"
					   " WHERE model OPERATOR(pg_catalog.=) $1"
					   " AND global_step OPERATOR(pg_catalog.=) $2",
					   2, types, values, NULL, !latest, 1);
	MemoryContextSwitchTo(target);
	if (SPI_processed == 0)
		return NULL;
	*global_step = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1,
											   &isnull));
	data = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											SPI_tuptable->tupdesc, 2,
											&isnull));
	SPI_freetuptable(SPI_tuptable);
	return data;
}

/*
 * EstCatalogModelVersion tells which rows hold a model's definition and
 * serving checkpoint now: a change to either gives another xmin or ctid
 * (deploying or rolling back updates the definition's row), or another
 * file of its table (the extension dropped and created again, or the
 * table truncated, in the same transaction, which gives the same xmin and
 * ctids to other rows).
 * Returns false when the model does not exist.
 */
bool
EstCatalogModelVersion(const char *name, EstModelVersion *version)
{
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;

	CatalogExecuteForModel("SELECT m.xmin, m.ctid, c.ckpt_xmin, c.ckpt_ctid,"
						   " c.global_step,"
						   " pg_catalog.pg_relation_filenode(m.tableoid),"
						   " c.ckpt_file"
						   " FROM estimator.model_catalog m LEFT JOIN LATERAL"
						   " (SELECT xmin AS ckpt_xmin, ctid AS ckpt_ctid, global_step,"
						   "  pg_catalog.pg_relation_filenode(tableoid) AS ckpt_file"
						   "  FROM estimator.checkpoints"
						   "  WHERE model OPERATOR(pg_catalog.=) m.name"
						   "  AND (m.serving_step IS NULL OR"
						   "   global_step OPERATOR(pg_catalog.=) m.serving_step)"
						   "  ORDER BY global_step DESC LIMIT 1) c ON true"
						   " WHERE m.name OPERATOR(pg_catalog.=) $1",
						   name, true, 1);
	if (SPI_processed == 0)
		return false;
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	memset(version, 0, sizeof(*version));
	version->model_xmin = DatumGetTransactionId(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	version->model_tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tuple, tupdesc, 2, &isnull));
	version->model_file = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 6, &isnull));
	version->ckpt_xmin = DatumGetTransactionId(SPI_getbinval(tuple, tupdesc, 3, &isnull));
	version->has_checkpoint = !isnull;
	if (version->has_checkpoint)
	{
		version->ckpt_tid = *(ItemPointer) DatumGetPointer(SPI_getbinval(tuple, tupdesc, 4, &isnull));
		version->global_step = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 5, &isnull));
		version->ckpt_file = DatumGetObjectId(SPI_getbinval(tuple, tupdesc, 7, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * EstCatalogStoreCheckpoint adds a checkpoint without lineage and keeps
 * only the newest keep of the model (and its serving one).
 */
void
EstCatalogStoreCheckpoint(const char *name, int64 global_step, double loss,
						  bytea *data, int keep)
{
	EstCatalogStoreCheckpointLineage(name, global_step, loss, data, keep,
									 NULL);
}

/*
 * EstCatalogStoreCheckpointLineage adds a checkpoint with what it was
 * trained on (lineage may be NULL), then deletes the model's checkpoints
 * older than its newest keep, except the pinned serving one; keep 0 says
 * that the model has no other checkpoint (it was created by this call,
 * which stored none before), and skips the delete.  A checkpoint
 * already stored at that step (early stopping keeps a step that
 * save_checkpoints_steps stored) gets the new loss and lineage.
 */
void
EstCatalogStoreCheckpointLineage(const char *name, int64 global_step,
								 double loss, bytea *data, int keep,
								 const EstLineage *lineage)
{
	Oid			types[8] = {TEXTOID, INT8OID, FLOAT8OID, BYTEAOID, TEXTOID,
	INT8OID, TEXTOID, JSONBOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', 'n', 'n', 'n', 'n'};
	Oid			del_types[2] = {TEXTOID, INT4OID};
	Datum		del_values[2];

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(global_step);
	values[2] = Float8GetDatum(loss);
	values[3] = PointerGetDatum(data);
	if (lineage != NULL)
	{
		if (lineage->source != NULL)
		{
			values[4] = CStringGetTextDatum(lineage->source);
			nulls[4] = ' ';
		}
		values[5] = Int64GetDatum(lineage->rows_read);
		nulls[5] = ' ';
		values[6] = CStringGetTextDatum(psprintf("%016llx",
												 (unsigned long long) lineage->fingerprint));
		nulls[6] = ' ';
		if (lineage->metrics != NULL)
		{
			values[7] = JsonbPGetDatum(lineage->metrics);
			nulls[7] = ' ';
		}
	}
	CatalogExecute("INSERT INTO estimator.checkpoints"
				   " (model, global_step, loss, data, source, rows_read,"
				   " fingerprint, metrics)"
				   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				   " ON CONFLICT (model, global_step) DO UPDATE"
				   " SET loss = EXCLUDED.loss, data = EXCLUDED.data,"
				   " source = EXCLUDED.source, rows_read = EXCLUDED.rows_read,"
				   " fingerprint = EXCLUDED.fingerprint,"
				   " metrics = COALESCE(EXCLUDED.metrics,"
				   "  estimator.checkpoints.metrics)",
				   8, types, values, nulls, false, 0);

	if (keep == 0)
		return;
	del_values[0] = values[0];
	del_values[1] = Int32GetDatum(keep);
	CatalogExecute("DELETE FROM estimator.checkpoints"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND global_step OPERATOR(pg_catalog.<)"
				   " (SELECT pg_catalog.min(s.global_step) FROM"
				   "  (SELECT global_step FROM estimator.checkpoints"
				   "   WHERE model OPERATOR(pg_catalog.=) $1"
				   "   ORDER BY global_step DESC LIMIT $2) s)"
				   " AND NOT EXISTS (SELECT 1 FROM estimator.model_catalog m"
				   "  WHERE m.name OPERATOR(pg_catalog.=) $1"
				   "  AND m.serving_step OPERATOR(pg_catalog.=)"
				   "   estimator.checkpoints.global_step)",
				   2, del_types, del_values, NULL, false, 0);
}

/*
 * LogArray is the one-dimensional array of n datums of a built-in type
 * (NULL where nulls says so, when nulls is not NULL).
 */
static Datum
LogArray(Datum *elems, bool *nulls, int n, Oid type)
{
	int16		len;
	bool		byval;
	char		align;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  type, len, byval, align));
}

/*
 * EstCatalogLogRows writes n rows of estimator.training_log with one
 * statement, each with the time it was logged.  Training holds its rows
 * back until the call stores a checkpoint (nobody else can see them
 * before the commit), so that a call of many logs costs one insert.
 */
void
EstCatalogLogRows(const char *name, const EstLogRow *rows, int n)
{
	Oid			types[6] = {TEXTOID, INT8ARRAYOID, FLOAT8ARRAYOID,
	FLOAT8ARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		values[6];
	Datum	   *steps;
	Datum	   *losses;
	Datum	   *seconds;
	Datum	   *metrics;
	Datum	   *times;
	bool	   *no_metrics;

	if (n <= 0)
		return;
	steps = palloc(n * sizeof(Datum));
	losses = palloc(n * sizeof(Datum));
	seconds = palloc(n * sizeof(Datum));
	metrics = palloc(n * sizeof(Datum));
	times = palloc(n * sizeof(Datum));
	no_metrics = palloc(n * sizeof(bool));
	for (int i = 0; i < n; i++)
	{
		steps[i] = Int64GetDatum(rows[i].step);
		losses[i] = Float8GetDatum(rows[i].loss);
		seconds[i] = Float8GetDatum(rows[i].seconds);
		metrics[i] = rows[i].metrics ? JsonbPGetDatum(rows[i].metrics) : (Datum) 0;
		no_metrics[i] = rows[i].metrics == NULL;
		times[i] = TimestampTzGetDatum(rows[i].logged_at);
	}
	values[0] = CStringGetTextDatum(name);
	values[1] = LogArray(steps, NULL, n, INT8OID);
	values[2] = LogArray(losses, NULL, n, FLOAT8OID);
	values[3] = LogArray(seconds, NULL, n, FLOAT8OID);
	values[4] = LogArray(metrics, no_metrics, n, JSONBOID);
	values[5] = LogArray(times, NULL, n, TIMESTAMPTZOID);
	CatalogExecute("INSERT INTO estimator.training_log"
				   " (model, global_step, loss, seconds, eval_metrics, logged_at)"
				   " SELECT $1, u.step, u.loss, u.seconds, u.metrics, u.logged_at"
				   " FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3),"
				   "  pg_catalog.unnest($4), pg_catalog.unnest($5),"
				   "  pg_catalog.unnest($6))"
				   "  AS u(step, loss, seconds, metrics, logged_at)",
				   6, types, values, NULL, false, 0);
}

/*
 * EstCatalogLog writes one row of estimator.training_log, logged now.
 */
void
EstCatalogLog(const char *name, int64 global_step, double loss,
			  double seconds, Jsonb *eval_metrics)
{
	EstLogRow	row;

	row.step = global_step;
	row.loss = loss;
	row.seconds = seconds;
	row.metrics = eval_metrics;
	row.logged_at = GetCurrentTimestamp();
	EstCatalogLogRows(name, &row, 1);
}

/*
 * EstCatalogRecordEvaluation keeps the metrics of an evaluation in
 * estimator.evaluations, with the checkpoint they scored.
 */
void
EstCatalogRecordEvaluation(const char *name, int64 global_step,
						   const char *source, Jsonb *metrics)
{
	Oid			types[4] = {TEXTOID, INT8OID, TEXTOID, JSONBOID};
	Datum		values[4];

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(global_step);
	values[2] = CStringGetTextDatum(source);
	values[3] = JsonbPGetDatum(metrics);
	CatalogExecute("INSERT INTO estimator.evaluations"
				   " (model, global_step, source, metrics)"
				   " VALUES ($1, $2, $3, $4)",
				   4, types, values, NULL, false, 0);
}

/*
 * EstCatalogGrant records that grantee (InvalidOid: PUBLIC) may use a model
 * so; false when it already may.
 */
bool
EstCatalogGrant(const char *name, Oid grantee, const char *privilege)
{
	Oid			types[4] = {TEXTOID, OIDOID, TEXTOID, OIDOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(grantee);
	nulls[1] = OidIsValid(grantee) ? ' ' : 'n';
	values[2] = CStringGetTextDatum(privilege);
	values[3] = ObjectIdGetDatum(GetUserId());
	CatalogExecute("INSERT INTO estimator.model_grants"
				   " (model, grantee, privilege, grantor)"
				   " VALUES ($1, $2::pg_catalog.regrole, $3, $4::pg_catalog.regrole)"
				   " ON CONFLICT DO NOTHING",
				   4, types, values, nulls, false, 0);
	return SPI_processed == 1;
}

/*
 * EstCatalogRevoke removes grants of a model to grantee (InvalidOid:
 * PUBLIC): of privilege, or of every privilege when it is NULL.  Returns
 * how many it removed.
 */
uint64
EstCatalogRevoke(const char *name, Oid grantee, const char *privilege)
{
	Oid			types[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(grantee);
	nulls[1] = OidIsValid(grantee) ? ' ' : 'n';
	values[2] = privilege ? CStringGetTextDatum(privilege) : (Datum) 0;
	nulls[2] = privilege ? ' ' : 'n';
	CatalogExecute("DELETE FROM estimator.model_grants"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND (($2 IS NULL AND grantee IS NULL) OR"
				   "  grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $2)"
				   " AND ($3 IS NULL OR privilege OPERATOR(pg_catalog.=) $3)",
				   3, types, values, nulls, false, 0);
	return SPI_processed;
}

/*
 * EstCatalogServingCheckpoint returns a copy of the checkpoint that serves
 * a model, in the caller's memory context: the one at serving_step when
 * that is set, else the newest; NULL if there is none.  *loss is NaN when
 * the checkpoint has no loss.
 */
bytea *
EstCatalogServingCheckpoint(const char *name, int64 *global_step,
							double *loss)
{
	MemoryContext target = CurrentMemoryContext;
	HeapTuple	tuple;
	TupleDesc	tupdesc;
	bool		isnull;
	Datum		value;
	bytea	   *data;

	CatalogExecuteForModel("SELECT c.global_step, c.data, c.loss"
						   " FROM estimator.model_catalog m"
						   " JOIN estimator.checkpoints c"
						   "  ON c.model OPERATOR(pg_catalog.=) m.name"
						   " WHERE m.name OPERATOR(pg_catalog.=) $1"
						   " AND (m.serving_step IS NULL OR"
						   "  c.global_step OPERATOR(pg_catalog.=) m.serving_step)"
						   " ORDER BY c.global_step DESC LIMIT 1",
						   name, true, 1);
	MemoryContextSwitchTo(target);
	if (SPI_processed == 0)
		return NULL;
	tuple = SPI_tuptable->vals[0];
	tupdesc = SPI_tuptable->tupdesc;
	*global_step = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 1, &isnull));
	data = DatumGetByteaPCopy(SPI_getbinval(tuple, tupdesc, 2, &isnull));
	value = SPI_getbinval(tuple, tupdesc, 3, &isnull);
	*loss = isnull ? get_float8_nan() : DatumGetFloat8(value);
	SPI_freetuptable(SPI_tuptable);
	return data;
}

/*
 * CatalogHasLineage tells whether estimator.checkpoints has the lineage
 * columns source, rows_read and fingerprint (added by 0.2.0).
 */
static bool
CatalogHasLineage(void)
{
	bool		isnull;
	int64		n;

	CatalogExecute("SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute"
				   " WHERE attrelid OPERATOR(pg_catalog.=)"
				   "  'estimator.checkpoints'::pg_catalog.regclass"
				   " AND attname OPERATOR(pg_catalog.=)"
				   "  ANY ('{source,rows_read,fingerprint}'::pg_catalog.name[])"
				   " AND NOT attisdropped",
				   0, NULL, NULL, NULL, true, 1);
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return n == 3;
}

/*
 * EstCatalogInsertCheckpoint adds one checkpoint with its lineage, when
 * the table has the lineage columns: where it came from (source), how many
 * rows it read (rows_read, -1: unknown) and a fingerprint (NULL: none).
 * A NaN loss is stored as NULL.
 */
void
EstCatalogInsertCheckpoint(const char *name, int64 global_step, double loss,
						   bytea *data, const char *source, int64 rows_read,
						   const char *fingerprint)
{
	Oid			types[7] = {TEXTOID, INT8OID, FLOAT8OID, BYTEAOID, TEXTOID,
	INT8OID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(global_step);
	values[2] = Float8GetDatum(loss);
	if (isnan(loss))
		nulls[2] = 'n';
	values[3] = PointerGetDatum(data);
	values[4] = source ? CStringGetTextDatum(source) : (Datum) 0;
	if (source == NULL)
		nulls[4] = 'n';
	values[5] = Int64GetDatum(rows_read);
	if (rows_read < 0)
		nulls[5] = 'n';
	values[6] = fingerprint ? CStringGetTextDatum(fingerprint) : (Datum) 0;
	if (fingerprint == NULL)
		nulls[6] = 'n';

	if (CatalogHasLineage())
		CatalogExecute("INSERT INTO estimator.checkpoints"
					   " (model, global_step, loss, data, source, rows_read,"
					   " fingerprint) VALUES ($1, $2, $3, $4, $5, $6, $7)",
					   7, types, values, nulls, false, 0);
	else
		CatalogExecute("INSERT INTO estimator.checkpoints"
					   " (model, global_step, loss, data) VALUES ($1, $2, $3, $4)",
					   4, types, values, nulls, false, 0);
}

/* ----------------------------------------------------------------
 * History and deployment (see deploy.c)
 * ----------------------------------------------------------------
 */

/*
 * EstCatalogGetModelForUpdate returns the definition of a model with its
 * row locked until the end of the transaction, or NULL when missing_ok and
 * there is none.  With nowait, a row that another transaction holds is
 * lock_not_available at once instead of a wait: the lock is tried with SKIP
 * LOCKED, so that the error can name the model.
 */
EstModelDef *
EstCatalogGetModelForUpdate(const char *name, bool nowait, bool missing_ok)
{
	MemoryContext target = CurrentMemoryContext;

	if (!nowait)
		return EstCatalogGetModel(name, true, missing_ok);
	CatalogExecuteForModel("SELECT " MODEL_COLUMNS " FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1"
						   " FOR NO KEY UPDATE SKIP LOCKED",
						   name, false, 1);
	MemoryContextSwitchTo(target);
	if (SPI_processed == 0)
	{
		/* missing, or locked by another transaction */
		CatalogExecuteForModel("SELECT 1 FROM estimator.model_catalog"
							   " WHERE name OPERATOR(pg_catalog.=) $1",
							   name, false, 1);
		MemoryContextSwitchTo(target);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock model \"%s\": another transaction is training or deploying it",
							name),
					 errhint("Leave out nowait => true to wait for it.")));
	}
	return FetchedModel(name, missing_ok);
}

/*
 * EstCatalogRelockModel locks a model's row again after a commit released
 * it, and returns its global step, or -1 when the model no longer exists.
 */
int64
EstCatalogRelockModel(const char *name, bool nowait)
{
	bool		isnull;
	int64		step;

	CatalogExecuteForModel(nowait ?
						   "SELECT global_step FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1"
						   " FOR NO KEY UPDATE NOWAIT" :
						   "SELECT global_step FROM estimator.model_catalog"
						   " WHERE name OPERATOR(pg_catalog.=) $1"
						   " FOR NO KEY UPDATE",
						   name, false, 1);
	if (SPI_processed == 0)
		return -1;
	step = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return step;
}

/*
 * EstCatalogServingStep returns the step of a model's serving checkpoint
 * (its pinned serving_step, or its newest checkpoint), or -1 when it has
 * none; *pinned tells whether serving_step is set.  latest reads under a
 * new snapshot.
 */
int64
EstCatalogServingStep(const char *name, bool latest, bool *pinned)
{
	bool		isnull;
	int64		step = -1;
	Datum		d;

	CatalogExecuteForModel("SELECT m.serving_step,"
						   " (SELECT pg_catalog.max(c.global_step)"
						   "  FROM estimator.checkpoints c"
						   "  WHERE c.model OPERATOR(pg_catalog.=) m.name)"
						   " FROM estimator.model_catalog m"
						   " WHERE m.name OPERATOR(pg_catalog.=) $1",
						   name, !latest, 1);
	*pinned = false;
	if (SPI_processed == 0)
		return -1;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					  &isnull);
	if (!isnull)
	{
		*pinned = true;
		step = DatumGetInt64(d);
	}
	else
	{
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
						  &isnull);
		if (!isnull)
			step = DatumGetInt64(d);
	}
	SPI_freetuptable(SPI_tuptable);
	return step;
}

/*
 * EstCatalogHasCheckpoint tells whether a model has a checkpoint at step,
 * under a new snapshot.
 */
bool
EstCatalogHasCheckpoint(const char *name, int64 step)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		found;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(step);
	CatalogExecute("SELECT 1 FROM estimator.checkpoints"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND global_step OPERATOR(pg_catalog.=) $2",
				   2, types, values, NULL, false, 1);
	found = SPI_processed > 0;
	if (SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
	return found;
}

/*
 * EstCatalogSetServing pins a model's serving checkpoint at step, or with
 * -1 lets the newest serve.
 */
void
EstCatalogSetServing(const char *name, int64 step)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(step);
	if (step < 0)
		nulls[1] = 'n';
	CatalogExecute("UPDATE estimator.model_catalog SET serving_step = $2"
				   " WHERE name OPERATOR(pg_catalog.=) $1",
				   2, types, values, nulls, false, 0);
}

/*
 * EstCatalogRecordDeployment adds a row to estimator.deployments, as the
 * current user; previous_step -1 is NULL.
 */
void
EstCatalogRecordDeployment(const char *name, int64 global_step,
						   int64 previous_step, const char *action,
						   Jsonb *detail)
{
	Oid			types[6] = {TEXTOID, INT8OID, INT8OID, TEXTOID, OIDOID,
	JSONBOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(global_step);
	values[2] = Int64GetDatum(previous_step);
	if (previous_step < 0)
		nulls[2] = 'n';
	values[3] = CStringGetTextDatum(action);
	values[4] = ObjectIdGetDatum(GetUserId());
	values[5] = detail ? JsonbPGetDatum(detail) : (Datum) 0;
	if (detail == NULL)
		nulls[5] = 'n';
	CatalogExecute("INSERT INTO estimator.deployments"
				   " (model, global_step, previous_step, action, by_role,"
				   " detail) VALUES ($1, $2, $3, $4, $5::pg_catalog.regrole, $6)",
				   6, types, values, nulls, false, 0);
}

/*
 * EstCatalogRollbackTarget finds the serving step that est_rollback
 * returns to: deployments form a stack, each rollback undoing the newest
 * change not yet undone, and rows that changed nothing (promote_if kept
 * the serving checkpoint) are skipped.  Returns -1 when there is nothing
 * to undo.
 */
int64
EstCatalogRollbackTarget(const char *name)
{
	int			pending = 0;
	int64		target = -1;

	CatalogExecuteForModel("SELECT action, global_step, previous_step"
						   " FROM estimator.deployments"
						   " WHERE model OPERATOR(pg_catalog.=) $1"
						   " ORDER BY deployed_at DESC, ctid DESC",
						   name, false, 0);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	tupdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *action = TextDatumGetCString(SPI_getbinval(tuple, tupdesc, 1, &isnull));
		int64		step = DatumGetInt64(SPI_getbinval(tuple, tupdesc, 2, &isnull));
		Datum		prev = SPI_getbinval(tuple, tupdesc, 3, &isnull);

		if (strcmp(action, "rollback") == 0)
		{
			pending++;
			continue;
		}
		if (isnull || DatumGetInt64(prev) == step)
			continue;
		if (pending > 0)
		{
			pending--;
			continue;
		}
		target = DatumGetInt64(prev);
		break;
	}
	if (SPI_tuptable != NULL)
		SPI_freetuptable(SPI_tuptable);
	return target;
}

/*
 * EstCatalogDeleteCheckpointsAfter deletes a model's checkpoints newer
 * than step: those that save_checkpoints_steps stored after the step that
 * early stopping kept, but not one that another session deployed between
 * two commits of the procedure.  Returns the step of that one, which stays
 * the newest, or -1 when none is newer than step.
 */
int64
EstCatalogDeleteCheckpointsAfter(const char *name, int64 step)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	bool		isnull;
	Datum		d;
	int64		newer = -1;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(step);
	CatalogExecute("DELETE FROM estimator.checkpoints"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND global_step OPERATOR(pg_catalog.>) $2"
				   " AND NOT EXISTS (SELECT 1 FROM estimator.model_catalog m"
				   "  WHERE m.name OPERATOR(pg_catalog.=) $1"
				   "  AND m.serving_step OPERATOR(pg_catalog.=)"
				   "   estimator.checkpoints.global_step)",
				   2, types, values, NULL, false, 0);
	CatalogExecute("SELECT pg_catalog.max(global_step)"
				   " FROM estimator.checkpoints"
				   " WHERE model OPERATOR(pg_catalog.=) $1"
				   " AND global_step OPERATOR(pg_catalog.>) $2",
				   2, types, values, NULL, false, 1);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
					  &isnull);
	if (!isnull)
		newer = DatumGetInt64(d);
	SPI_freetuptable(SPI_tuptable);
	return newer;
}

/*
 * EstCatalogResetModel deletes a model's checkpoints, log and deployments
 * and puts its global step back to 0, keeping its definition, owner and
 * grants.
 */
void
EstCatalogResetModel(const char *name)
{
	CatalogExecuteForModel("DELETE FROM estimator.checkpoints"
						   " WHERE model OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
	CatalogExecuteForModel("DELETE FROM estimator.training_log"
						   " WHERE model OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
	CatalogExecuteForModel("DELETE FROM estimator.deployments"
						   " WHERE model OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
	CatalogExecuteForModel("UPDATE estimator.model_catalog"
						   " SET global_step = 0, serving_step = NULL,"
						   " updated = pg_catalog.now()"
						   " WHERE name OPERATOR(pg_catalog.=) $1",
						   name, false, 0);
	EstCatalogForgetEvaluations(name);
}

/*
 * EstCatalogListCheckpoints runs the query behind est_checkpoints under
 * the query's snapshot and leaves its rows in SPI_tuptable.
 */
void
EstCatalogListCheckpoints(const char *name)
{
	CatalogExecuteForModel("SELECT c.global_step, c.created, c.loss, c.metrics,"
						   " pg_catalog.octet_length(c.data)::pg_catalog.int4,"
						   " c.source, c.rows_read, c.fingerprint,"
						   " c.global_step OPERATOR(pg_catalog.=)"
						   "  COALESCE(m.serving_step,"
						   "   (SELECT pg_catalog.max(n.global_step)"
						   "    FROM estimator.checkpoints n"
						   "    WHERE n.model OPERATOR(pg_catalog.=) m.name))"
						   " FROM estimator.checkpoints c"
						   " JOIN estimator.model_catalog m"
						   " ON m.name OPERATOR(pg_catalog.=) c.model"
						   " WHERE c.model OPERATOR(pg_catalog.=) $1"
						   " ORDER BY c.global_step",
						   name, true, 0);
}
