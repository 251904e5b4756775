/*-------------------------------------------------------------------------
 *
 * deploy.c
 *	  est_checkpoints, est_deploy and est_rollback: a model's checkpoint
 *	  history and which of its checkpoints serves.
 *
 * Every model has a serving checkpoint: the one at serving_step of
 * estimator.model_catalog, or its newest checkpoint when serving_step is
 * NULL.  Prediction and evaluation use it (see EstLoadCheckpoint), and the
 * prediction cache follows it (EstCatalogModelVersion).  Training always
 * continues from the newest checkpoint, as TensorFlow continues from the
 * latest checkpoint of its model_dir whichever SavedModel is being served.
 *
 * est_deploy pins a checkpoint (or, with NULL, lets the newest serve
 * again); est_rollback undoes the newest change of the serving checkpoint
 * not yet undone.  Each change is a row of estimator.deployments, written
 * in the caller's transaction: other sessions keep the old serving
 * checkpoint until it commits.  Both lock the model's row, so they wait
 * for a training of the model in progress (at most one checkpoint interval
 * with est_train_procedure).  The pinned serving checkpoint is never
 * deleted by keep_checkpoint_max.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "estimator.h"

PG_FUNCTION_INFO_V1(est_checkpoints);
PG_FUNCTION_INFO_V1(est_deploy);
PG_FUNCTION_INFO_V1(est_rollback);

/*
 * DeployResult returns the row (model, global_step, previous_step).
 */
static Datum
DeployResult(FunctionCallInfo fcinfo, const char *name, int64 step,
			 int64 previous)
{
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(step);
	values[2] = Int64GetDatum(previous);
	nulls[2] = previous < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * est_checkpoints(model) returns the stored checkpoints of a model, oldest
 * first: (global_step, created, loss, metrics, bytes, source, rows_read,
 * fingerprint, serving).
 */
Datum
est_checkpoints(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	EstModelDef *def;
	MemoryContext oldcontext;

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	def = EstCatalogGetModel(name, false, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_PREDICT, "inspect");
	EstCatalogListCheckpoints(name);
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		Datum		values[9];
		bool		nulls[9];

		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
						  values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 nulls);
	}
	MemoryContextSwitchTo(oldcontext);
	SPI_finish();
	return (Datum) 0;
}

/*
 * est_deploy(model, global_step) makes the checkpoint at global_step serve
 * the model; with NULL, the newest checkpoint serves again, now and after
 * every later training.  Returns (model, global_step, previous_step).
 */
Datum
est_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstModelDef *def;
	int64		previous;
	int64		step;
	bool		pinned;
	Jsonb	   *detail = NULL;

	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_TRAIN, "deploy");
	previous = EstCatalogServingStep(name, true, &pinned);
	if (PG_ARGISNULL(1))
	{
		step = EstCatalogServingStep(name, true, &pinned);
		if (pinned)
		{
			EstCatalogSetServing(name, -1);
			step = EstCatalogServingStep(name, true, &pinned);
		}
		if (step < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no checkpoint", name),
					 errhint("Train it with est_train first.")));
		detail = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum("{\"serving\": \"newest\"}")));
	}
	else
	{
		step = PG_GETARG_INT64(1);
		if (!EstCatalogHasCheckpoint(name, step))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("model \"%s\" has no checkpoint at step " INT64_FORMAT,
							name, step),
					 errhint("est_checkpoints lists the checkpoints of a model.")));
		EstCatalogSetServing(name, step);
	}
	EstCatalogRecordDeployment(name, step, previous, "deploy", detail);
	SPI_finish();
	return DeployResult(fcinfo, name, step, previous);
}

/*
 * est_rollback(model) serves again the checkpoint that served before the
 * newest deploy, promotion or rollback-undone change, and pins it.
 * Returns (model, global_step, previous_step).
 */
Datum
est_rollback(PG_FUNCTION_ARGS)
{
	char	   *name = EstModelNameArg(fcinfo, 0);
	EstModelDef *def;
	int64		previous;
	int64		target;
	bool		pinned;

	SPI_connect();
	def = EstCatalogGetModel(name, true, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_TRAIN, "roll back");
	previous = EstCatalogServingStep(name, true, &pinned);
	target = EstCatalogRollbackTarget(name);
	if (target < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("model \"%s\" has no deployment to roll back", name),
				 errdetail("est_rollback undoes a change that est_deploy or promote_if recorded in estimator.deployments."),
				 errhint("Use est_deploy to serve another checkpoint.")));
	if (!EstCatalogHasCheckpoint(name, target))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no checkpoint at step " INT64_FORMAT " to roll back to",
						name, target),
				 errdetail("keep_checkpoint_max deleted it."),
				 errhint("Use est_deploy to serve another checkpoint.")));
	EstCatalogSetServing(name, target);
	EstCatalogRecordDeployment(name, target, previous, "rollback", NULL);
	SPI_finish();
	return DeployResult(fcinfo, name, target, previous);
}
