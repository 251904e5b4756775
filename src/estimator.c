/*-------------------------------------------------------------------------
 *
 * estimator.c
 *	  Module entry point: settings, the core's allocator and the
 *	  translation of core errors into PostgreSQL errors.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>
#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "estimator.h"

PG_MODULE_MAGIC;

int			estimator_max_memory = 1024 * 1024;	/* kB */
int			estimator_parallel_workers = 0;
int			estimator_log_step_count_steps = 100;

void		_PG_init(void);

/*
 * BackendAlloc gives the core memory from the current memory context.
 * Huge allocations are allowed and failure returns NULL, so that the core
 * can report EST_ENOMEM and the shell a clean error.
 */
static void *
BackendAlloc(size_t size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext,
									  size == 0 ? 1 : size,
									  MCXT_ALLOC_HUGE | MCXT_ALLOC_NO_OOM);
}

static void
BackendFree(void *ptr)
{
	if (ptr != NULL)
		pfree(ptr);
}

void
_PG_init(void)
{
	DefineCustomIntVariable("estimator.max_memory",
							"Memory that training may use for its data.",
							"Training reads its source into memory; a larger "
							"source is refused with an error that gives both "
							"sizes.",
							&estimator_max_memory,
							1024 * 1024,
							1024,
							MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("estimator.log_step_count_steps",
							"Training steps between two loss reports.",
							"Every so many steps training raises a NOTICE and "
							"writes a row to estimator.training_log; the "
							"model parameter log_step_count_steps overrides it.",
							&estimator_log_step_count_steps,
							100,
							1,
							INT_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("estimator.parallel_workers",
							"Parallel workers that one training may use.",
							"est_train trains with this many parallel workers "
							"besides its own backend, each computing the "
							"gradient of a share of every batch; the model "
							"parameter parallel_workers overrides it.  The "
							"workers come from max_parallel_workers.",
							&estimator_parallel_workers,
							0,
							0,
							EST_MAX_PARALLEL_WORKERS,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("estimator");

	EstSetAllocator(BackendAlloc, BackendFree);

	/* OpenBLAS loads, on one thread, when a product needs it (blas.c) */
}

/*
 * EstReportCoreError raises the PostgreSQL error for a core status.  The
 * core's message becomes the detail, as a sentence.
 */
void
EstReportCoreError(EstStatus status, const char *coremsg, const char *what)
{
	char		detail[EST_ERRMSG_LEN + 2];
	size_t		len;

	strlcpy(detail, coremsg, EST_ERRMSG_LEN);
	detail[0] = toupper((unsigned char) detail[0]);
	len = strlen(detail);
	if (len > 0 && detail[len - 1] != '.')
		strcat(detail, ".");

	switch (status)
	{
		case EST_OK:
			return;
		case EST_ENOMEM:
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory while building %s", what),
					 errdetail("%s", detail)));
			break;
		case EST_ELIMIT:
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s is too large", what),
					 errdetail("%s", detail)));
			break;
		case EST_ECORRUPT:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("%s is corrupted", what),
					 errdetail("%s", detail)));
			break;
		case EST_EVERSION:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s was written by a newer version of estimator",
							what),
					 errdetail("%s", detail),
					 errhint("Update the extension with ALTER EXTENSION estimator UPDATE.")));
			break;
		case EST_EINVAL:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s", what),
					 errdetail("%s", detail)));
			break;
	}
	elog(ERROR, "unrecognized core status: %d", (int) status);
}

/*
 * EstLoadCheckpoint decodes a checkpoint of a model and checks that it
 * matches the model's definition: with latest, the newest under a new
 * snapshot (training continues from it); without, the serving one under
 * the query's snapshot (evaluation and prediction use it).
 */
void
EstLoadCheckpoint(const EstModelDef *def, bool latest, EstCheckpoint *ckpt)
{
	EstLoadCheckpointAt(def, latest ? EST_STEP_NEWEST : EST_STEP_SERVING,
						latest, ckpt);
}

/*
 * EstLoadCheckpointAt decodes the checkpoint of a model at step (or
 * EST_STEP_NEWEST, EST_STEP_SERVING), read under a new snapshot when
 * latest, and checks that it matches the model's definition.
 */
void
EstLoadCheckpointAt(const EstModelDef *def, int64 want, bool latest,
					EstCheckpoint *ckpt)
{
	bytea	   *data;
	int64		step;
	char		what[128 + EST_MAX_NAME_LEN];

	data = EstCatalogGetCheckpoint(def->name, want, latest, &step);
	if (data == NULL && want >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no checkpoint at step " INT64_FORMAT,
						def->name, want),
				 errhint("est_checkpoints lists the checkpoints of a model.")));
	if (data == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" has no checkpoint", def->name),
				 errhint("Train it with est_train first.")));

	snprintf(what, sizeof(what), "checkpoint of model \"%s\" at step " INT64_FORMAT,
			 def->name, step);
	EstDecodeCheckpoint(def, (const uint8_t *) VARDATA_ANY(data),
						VARSIZE_ANY_EXHDR(data), step, what, ckpt);
	pfree(data);
}

/*
 * EstDecodeCheckpoint decodes the bytes of a checkpoint stored at step and
 * checks that it matches the model's definition: the shape of the network,
 * its head, the step, and feature columns that give the inputs the network
 * reads.  what names the checkpoint in errors ("checkpoint of model "m" at
 * step 10").  Damage is data_corrupted, a newer format feature_not_supported.
 */
void
EstDecodeCheckpoint(const EstModelDef *def, const uint8_t *buf, size_t len,
					int64 step, const char *what, EstCheckpoint *ckpt)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	coremsg[0] = '\0';
	status = EstCheckpointDecode(buf, len, ckpt, coremsg);
	/* stored shapes beyond the limits were never written by us */
	if (status == EST_ELIMIT)
		status = EST_ECORRUPT;
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, what);

	if (ckpt->net.n_inputs != def->n_inputs ||
		ckpt->net.sizes[ckpt->net.n_layers] != EstModelOutputs(def) ||
		ckpt->net.head != EstModelHead(def) ||
		ckpt->labels.n_inputs != (EST_IS_REGRESSOR(def->type) ? def->label_dimension : 0) ||
		ckpt->net.n_layers != def->n_hidden + 1 ||
		ckpt->global_step != step)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s is corrupted", what),
				 errdetail("The checkpoint holds a network of %d inputs, %d layers and %d outputs at step " INT64_FORMAT ", the model has %d inputs, %d layers and %d outputs.",
						   ckpt->net.n_inputs, ckpt->net.n_layers,
						   ckpt->net.sizes[ckpt->net.n_layers],
						   ckpt->global_step,
						   def->n_inputs, def->n_hidden + 1,
						   EstModelOutputs(def))));
	for (int l = 0; l < def->n_hidden; l++)
		if (ckpt->net.sizes[l + 1] != def->hidden[l])
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("%s is corrupted", what),
					 errdetail("Hidden layer %d has %d units in the checkpoint and %d in the model.",
							   l + 1, ckpt->net.sizes[l + 1], def->hidden[l])));

	/* a checkpoint of 0.1.0 names no feature columns: the model's are numeric */
	if (ckpt->transform.legacy)
		EstLegacyTransform(def, &ckpt->transform);
	if (ckpt->transform.n_inputs != ckpt->net.n_inputs ||
		EstTransformInputWidth(&ckpt->transform) != ckpt->net.input_width ||
		!ckpt->transform.fitted)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("%s is corrupted", what),
				 errdetail("Its feature columns give %d inputs and an input vector of %d, its network reads %d and %d.",
						   ckpt->transform.n_inputs,
						   EstTransformInputWidth(&ckpt->transform),
						   ckpt->net.n_inputs, ckpt->net.input_width)));
}

/*
 * EstCheckFinitePrediction refuses a prediction that overflowed: inputs so
 * far outside the training data that the network's values are infinite or
 * NaN, which would otherwise give NaN probabilities and an arbitrary class.
 */
void
EstCheckFinitePrediction(const EstModelDef *def, const double *values, int n)
{
	for (int j = 0; j < n; j++)
		if (isnan(values[j]) || isinf(values[j]))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("prediction of model \"%s\" is not finite", def->name),
					 errdetail("The inputs lie so far outside the training data that the network overflows.")));
}
