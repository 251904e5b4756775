/*-------------------------------------------------------------------------
 *
 * model.c
 *	  SQL functions that manage models as a whole: dropping them, the
 *	  privileges of other roles on them, and the writes of their schedules.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/syscache.h"

#include "estimator.h"

/*
 * DropScheduledJobs removes the caller's pg_cron jobs that retrain a model
 * being dropped, as est_unschedule does (estimator.schedule_drop_strays),
 * so that they do not go on failing every night, or train a model made
 * later under the name.  It runs as the caller, since pg_cron removes only
 * the caller's own jobs; another role's job stays, and its runs fail.
 * Nothing happens where pg_cron is not installed in this database or the
 * caller may not use its schema (and so has no job).
 */
static void
DropScheduledJobs(const char *name)
{
	Oid			cron;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		return;
	cron = get_namespace_oid("cron", true);
	if (!OidIsValid(cron) ||
		pg_namespace_aclcheck(cron, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
		return;
	values[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT estimator.schedule_drop_strays($1, NULL)",
							  1, types, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not remove the pg_cron jobs of model \"%s\"", name);
}

/*
 * est_drop_model(model) drops a model with its checkpoints, log,
 * evaluations and schedule, and the caller's pg_cron jobs that retrain it.
 */
PG_FUNCTION_INFO_V1(est_drop_model);

Datum
est_drop_model(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstModelDef *def;

	EstCheckNotTraining(name, "drop");
	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_OWN, "drop");
	EstCatalogDropModel(name);
	DropScheduledJobs(name);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * estimator.schedule_put, schedule_record and schedule_lock, which
 * est_schedule and estimator.run_scheduled call, write a model's schedule
 * (which users cannot) for the current user: the role whose code calls
 * them, which is the role of the pg_cron job that a schedule's source runs
 * as.  Each calls its internal function estimator.<name>_for as the owner
 * of the schema, which checks that role and acts for it.  Up to 0.7.0 they
 * were SECURITY DEFINER functions that acted for the session's role, and
 * another role's code (an index evaluated by a superuser's ANALYZE) could
 * rewrite a superuser's schedule.
 */
PG_FUNCTION_INFO_V1(est_schedule_put);

Datum
est_schedule_put(PG_FUNCTION_ARGS)
{
	static const Oid types[] = {TEXTOID, TEXTOID, INT8OID, INT4OID,
		BOOLOID, INT8OID};
	bool		isnull;

	EstCatalogCallForCaller("schedule_put_for", fcinfo, types,
							lengthof(types), &isnull);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(est_schedule_record);

Datum
est_schedule_record(PG_FUNCTION_ARGS)
{
	static const Oid types[] = {TEXTOID, TEXTOID, TEXTOID};
	bool		isnull;

	EstCatalogCallForCaller("schedule_record_for", fcinfo, types,
							lengthof(types), &isnull);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(est_schedule_lock);

Datum
est_schedule_lock(PG_FUNCTION_ARGS)
{
	static const Oid types[] = {TEXTOID};
	bool		isnull;

	EstCatalogCallForCaller("schedule_lock_for", fcinfo, types,
							lengthof(types), &isnull);
	PG_RETURN_VOID();
}

/*
 * estimator.schedule_forget, which est_unschedule calls, deletes a
 * model's schedule whose pg_cron job is gone, if the current user may see
 * it: its role, or the model's owner.  Up to 0.7.0 it was a SECURITY
 * DEFINER function executable by PUBLIC that asked nothing of its caller:
 * any role deleted another role's schedule once that schedule's job was
 * gone, and learned the job id and role of any schedule from its error.
 */
PG_FUNCTION_INFO_V1(est_schedule_forget);

Datum
est_schedule_forget(PG_FUNCTION_ARGS)
{
	static const Oid types[] = {TEXTOID};
	bool		isnull;
	Datum		result;

	result = EstCatalogCallForCaller("schedule_forget_for", fcinfo, types,
									 lengthof(types), &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * DroppedRoleArg returns the OID that role spells in digits, when no role
 * has it: a role dropped since it was granted a privilege (the grant stays,
 * and estimator.model_grants shows its grantee as that number).  Anything
 * else is InvalidOid.
 */
static Oid
DroppedRoleArg(const char *role)
{
	char	   *end;
	unsigned long value;

	if (role[0] < '0' || role[0] > '9')
		return InvalidOid;
	errno = 0;
	value = strtoul(role, &end, 10);
	if (errno != 0 || *end != '\0' || value == 0 || value > PG_UINT32_MAX)
		return InvalidOid;
	if (SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum((Oid) value)))
		return InvalidOid;
	return (Oid) value;
}

/*
 * GranteeArg resolves a role name argument: a role, or "public"
 * (InvalidOid), as GRANT spells them.  A role whose name is "public" in
 * other case ("Public", which CREATE ROLE allows) is that role, not every
 * role.  With dropped_ok (est_revoke), the OID of a dropped role, as the
 * grants that DROP ROLE left show it, is that role.
 */
static Oid
GranteeArg(FunctionCallInfo fcinfo, int argno, bool dropped_ok)
{
	char	   *role;
	Oid			roleid;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be null"),
				 errhint("Name a role, or public.")));
	role = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(role, "public") == 0)
		return InvalidOid;
	roleid = get_role_oid(role, true);
	if (OidIsValid(roleid))
		return roleid;
	if (pg_strcasecmp(role, "public") == 0)
		return InvalidOid;
	if (dropped_ok)
	{
		roleid = DroppedRoleArg(role);
		if (OidIsValid(roleid))
			return roleid;
	}
	return get_role_oid(role, false);
}

/*
 * PrivilegeArg checks a privilege argument: "predict" or "train"; NULL is
 * allowed when null_ok (every privilege).
 */
static char *
PrivilegeArg(FunctionCallInfo fcinfo, int argno, bool null_ok)
{
	char	   *priv;

	if (PG_ARGISNULL(argno))
	{
		if (null_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("privilege must not be null"),
				 errhint("Use 'predict' or 'train'.")));
	}
	priv = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(priv, "predict") != 0 && strcmp(priv, "train") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized model privilege \"%s\"", priv),
				 errhint("Use 'predict' (predict, evaluate, inspect and export) or 'train' (that, and train and deploy).")));
	return priv;
}

/*
 * est_grant(model, role, privilege) lets a role (or public) use a model:
 * 'predict' or 'train'.  Only the owner grants.  Returns false when the
 * role already had the privilege.
 */
PG_FUNCTION_INFO_V1(est_grant);

Datum
est_grant(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	Oid			grantee = GranteeArg(fcinfo, 1, false);
	char	   *priv = PrivilegeArg(fcinfo, 2, false);
	EstModelDef *def;
	bool		added;

	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_OWN, "grant privileges on");
	added = EstCatalogGrant(name, grantee, priv);
	SPI_finish();
	PG_RETURN_BOOL(added);
}

/*
 * est_revoke(model, role, privilege) takes a privilege back (every
 * privilege of the role when NULL) and returns how many grants it removed.
 * Only the owner revokes.
 */
PG_FUNCTION_INFO_V1(est_revoke);

Datum
est_revoke(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	Oid			grantee = GranteeArg(fcinfo, 1, true);
	char	   *priv = PrivilegeArg(fcinfo, 2, true);
	EstModelDef *def;
	uint64		removed;

	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_OWN, "revoke privileges on");
	removed = EstCatalogRevoke(name, grantee, priv);
	SPI_finish();

	/*
	 * Digits that no role has as OID name a dropped role only when a grant
	 * of it was there to remove: any other number is a role that does not
	 * exist, as it was before est_revoke took OIDs.
	 */
	if (removed == 0 && OidIsValid(grantee) &&
		!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(grantee)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role \"%s\" does not exist",
						text_to_cstring(PG_GETARG_TEXT_PP(1)))));
	PG_RETURN_INT64((int64) removed);
}

/*
 * est_has_model_privilege(model, privilege) tells whether the current
 * user may use a model so ('predict', 'train' or 'owner'); false for a
 * model that does not exist.  The catalog's views and row-level security
 * policies call it.
 */
PG_FUNCTION_INFO_V1(est_has_model_privilege);

Datum
est_has_model_privilege(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *privtext = text_to_cstring(PG_GETARG_TEXT_PP(1));
	EstPrivilege priv;
	EstModelDef *def;
	bool		result = false;

	if (strcmp(privtext, "predict") == 0)
		priv = EST_PRIV_PREDICT;
	else if (strcmp(privtext, "train") == 0)
		priv = EST_PRIV_TRAIN;
	else if (strcmp(privtext, "owner") == 0)
		priv = EST_PRIV_OWN;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized model privilege \"%s\"", privtext),
				 errhint("Use 'predict', 'train' or 'owner'.")));
	if (strlen(name) == 0 || strlen(name) > EST_MAX_NAME_LEN)
		PG_RETURN_BOOL(false);
	SPI_connect();
	def = EstCatalogGetModel(name, false, true);
	if (def != NULL)
		result = EstCatalogHasPrivilege(def, priv);
	SPI_finish();
	PG_RETURN_BOOL(result);
}
