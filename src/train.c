/*-------------------------------------------------------------------------
 *
 * train.c
 *	  est_train: the TRAIN mode of an estimator.
 *
 * A call reads the source once into a float32 matrix (within
 * estimator.max_memory), creates the model on first use or loads its
 * latest checkpoint, applies the feature transform stored with the model,
 * then runs mini-batch steps over a seeded shuffle of the rows: each
 * epoch visits every row once, and batches run across epoch boundaries
 * as in tf.data's shuffle().repeat().batch().  Every log_step_count_steps
 * it raises a NOTICE and writes a row of estimator.training_log.  At the
 * end it scores the training data, stores a checkpoint and keeps the
 * newest keep_checkpoint_max.  Everything happens in the caller's
 * transaction: an error, a cancel or a ROLLBACK leaves the model as it
 * was.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "estimator.h"

/* TensorFlow's Iris tutorial trains for 5000 steps */
#define EST_DEFAULT_STEPS			5000
#define EST_DEFAULT_KEEP_CHECKPOINTS 5
#define EST_INITIAL_ROWS			1024

typedef struct TrainData
{
	int64		n_rows;
	int			n_inputs;
	float	   *X;				/* n_rows x n_inputs */
	float	   *y;				/* n_rows */
} TrainData;

typedef struct TrainResult
{
	int64		global_step;
	double		loss;
	double		accuracy;
	int64		rows;
} TrainResult;

PG_FUNCTION_INFO_V1(est_train);

/*
 * ReadTrainingData reads every row of the source, growing the matrix by
 * doubling and checking estimator.max_memory before each allocation.
 */
static void
ReadTrainingData(EstReader *reader, const char *source, TrainData *data)
{
	int64		capacity = EST_INITIAL_ROWS;
	int			n_inputs = EstReaderInputs(reader);
	Size		row_bytes = (n_inputs + 2) * sizeof(float);	/* x, y, perm */

	data->n_inputs = n_inputs;
	data->n_rows = 0;
	EstCheckMemory(mul_size(capacity, row_bytes), "training data");
	data->X = MemoryContextAllocHuge(CurrentMemoryContext,
									 mul_size(capacity, n_inputs * sizeof(float)) + 1);
	data->y = MemoryContextAllocHuge(CurrentMemoryContext,
									 mul_size(capacity, sizeof(float)));
	for (;;)
	{
		int			want = (int) Min(capacity - data->n_rows, 1000);
		int			got;

		CHECK_FOR_INTERRUPTS();
		if (want == 0)
		{
			if (capacity >= PG_UINT32_MAX / 2)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("source \"%s\" has too many rows", source),
						 errdetail("Training reads at most %u rows.",
								   PG_UINT32_MAX / 2)));
			capacity *= 2;
			EstCheckMemory(mul_size(capacity, row_bytes), "training data");
			data->X = repalloc_huge(data->X,
									mul_size(capacity, n_inputs * sizeof(float)) + 1);
			data->y = repalloc_huge(data->y, mul_size(capacity, sizeof(float)));
			continue;
		}
		got = EstReaderNext(reader, data->X + data->n_rows * n_inputs,
							data->y + data->n_rows, want);
		if (got == 0)
			break;
		data->n_rows += got;
	}
}

/*
 * InitCheckpoint builds the first checkpoint of a new model: initial
 * weights, optimizer slots and the feature statistics of the data.
 */
static void
InitCheckpoint(const EstModelDef *def, const TrainData *data, EstRng *rng,
			   EstCheckpoint *ckpt)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	memset(ckpt, 0, sizeof(*ckpt));
	coremsg[0] = '\0';
	status = EstNetworkInit(&ckpt->net, def->n_inputs, def->hidden,
							def->n_hidden, def->n_classes, def->activation,
							EST_HEAD_SOFTMAX, rng, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "network");
	EstOptimizerDefaults(&ckpt->opt, def->optimizer);
	ckpt->opt.learning_rate = def->learning_rate;
	status = EstOptimizerInit(&ckpt->opt, ckpt->net.n_params, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "optimizer");
	status = EstFeatureStateInit(&ckpt->features, def->n_inputs, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "feature state");
	EstFeatureStateFit(&ckpt->features, data->X, data->n_rows);
	ckpt->global_step = 0;
}

static uint64
RandomSeed(void)
{
	uint64		seed;

	if (!pg_strong_random(&seed, sizeof(seed)))
		seed = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	return seed;
}

static double
ElapsedSeconds(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/*
 * RunSteps trains for steps mini-batches and returns the global step
 * reached.  The permutation of rows is reshuffled each time an epoch ends.
 */
static void
RunSteps(const EstModelDef *def, EstCheckpoint *ckpt, const TrainData *data,
		 int batch_size, int64 steps, int log_every, EstWorkspace *ws)
{
	uint32	   *perm;
	float	   *Xb;
	float	   *yb;
	int64		pos = 0;
	int64		n = data->n_rows;
	int			d = data->n_inputs;
	double		loss_sum = 0;
	int64		loss_count = 0;
	instr_time	log_start;

	perm = MemoryContextAllocHuge(CurrentMemoryContext, mul_size(n, sizeof(uint32)));
	for (int64 i = 0; i < n; i++)
		perm[i] = (uint32) i;
	EstRngShuffle(&ckpt->rng, perm, n);
	Xb = palloc(mul_size(batch_size, d * sizeof(float)));
	yb = palloc(batch_size * sizeof(float));

	INSTR_TIME_SET_CURRENT(log_start);
	for (int64 step = 0; step < steps; step++)
	{
		double		loss;

		CHECK_FOR_INTERRUPTS();

		for (int b = 0; b < batch_size; b++)
		{
			uint32		row;

			if (pos == n)
			{
				EstRngShuffle(&ckpt->rng, perm, n);
				pos = 0;
			}
			row = perm[pos++];
			memcpy(Xb + (size_t) b * d, data->X + (size_t) row * d,
				   d * sizeof(float));
			yb[b] = data->y[row];
		}

		EstNetworkForward(&ckpt->net, ws, Xb, batch_size);
		loss = EstHeadLoss(&ckpt->net, ws, yb, NULL, batch_size, 1);
		if (isnan(loss) || isinf(loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("training of model \"%s\" diverged at step " INT64_FORMAT,
							def->name, ckpt->global_step + 1),
					 errdetail("The loss became %s; no checkpoint was stored.",
							   isnan(loss) ? "NaN" : "infinite"),
					 errhint("Lower the learning_rate.")));
		EstNetworkBackward(&ckpt->net, ws, Xb, batch_size);
		EstOptimizerApply(&ckpt->opt, ckpt->net.params, ws->grad);
		ckpt->global_step++;

		loss_sum += loss;
		loss_count++;
		if (ckpt->global_step % log_every == 0 || step == steps - 1)
		{
			double		seconds = ElapsedSeconds(log_start);
			double		mean = loss_sum / loss_count;

			ereport(NOTICE,
					(errmsg("loss = %.4g, step = " INT64_FORMAT " (%.3f sec)",
							mean, ckpt->global_step, seconds)));
			EstCatalogLog(def->name, ckpt->global_step, mean, seconds);
			loss_sum = 0;
			loss_count = 0;
			INSTR_TIME_SET_CURRENT(log_start);
		}
	}
	pfree(perm);
	pfree(Xb);
	pfree(yb);
}

/*
 * ScoreTrainingData computes the mean loss and accuracy of the network on
 * all training rows, in blocks of the workspace's size.
 */
static void
ScoreTrainingData(EstCheckpoint *ckpt, const TrainData *data,
				  EstWorkspace *ws, TrainResult *result)
{
	EstMetrics	metrics;

	EstMetricsReset(&metrics);
	for (int64 start = 0; start < data->n_rows; start += ws->max_batch)
	{
		int			n = (int) Min(ws->max_batch, data->n_rows - start);
		const float *X = data->X + start * data->n_inputs;

		CHECK_FOR_INTERRUPTS();
		EstNetworkForward(&ckpt->net, ws, X, n);
		EstMetricsAdd(&metrics, &ckpt->net, ws, data->y + start, NULL, n);
	}
	result->loss = EstMetricsMeanLoss(&metrics);
	result->accuracy = EstMetricsAccuracy(&metrics);
}

static void
StoreCheckpoint(const EstModelDef *def, const EstCheckpoint *ckpt,
				double loss, int keep)
{
	uint8_t    *buf;
	size_t		len;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	bytea	   *data;

	for (size_t i = 0; i < ckpt->net.n_params; i++)
		if (isnan(ckpt->net.params[i]) || isinf(ckpt->net.params[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("training of model \"%s\" diverged", def->name),
					 errdetail("A weight became NaN or infinite; no checkpoint was stored."),
					 errhint("Lower the learning_rate.")));

	coremsg[0] = '\0';
	status = EstCheckpointEncode(ckpt, &buf, &len, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "checkpoint");
	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("checkpoint of model \"%s\" is too large", def->name),
				 errdetail("It needs %zu bytes, a bytea value holds at most %zu.",
						   len, (size_t) (MaxAllocSize - VARHDRSZ))));
	data = palloc(len + VARHDRSZ);
	SET_VARSIZE(data, len + VARHDRSZ);
	memcpy(VARDATA(data), buf, len);
	EstFree(buf);
	EstCatalogStoreCheckpoint(def->name, ckpt->global_step, loss, data, keep);
}

static void
ReportTooManyParams(const EstModelDef *def)
{
	double		count = 0;
	int			prev = def->n_inputs;

	for (int l = 0; l <= def->n_hidden; l++)
	{
		int			units = l < def->n_hidden ? def->hidden[l] : def->n_classes;

		count += ((double) prev + 1) * units;
		prev = units;
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("network of model \"%s\" is too large", def->name),
			 errdetail("It has %.0f parameters, the limit is %zu.",
					   count, (size_t) EST_MAX_PARAMS)));
}

/*
 * TrainModel does the work of est_train inside an SPI connection.
 */
static void
TrainModel(const EstTrainRequest *req, TrainResult *result)
{
	EstModelDef *def;
	EstReader  *reader;
	EstColumn  *features = NULL;
	int			n_features = 0;
	bool		infer = false;
	bool		created = false;
	TrainData	data;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	EstRng		rng;
	int			batch_size;
	int64		steps;
	int			log_every;
	int			keep;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	Size		model_bytes;
	size_t		n_params;
	float		max_label = 0;

	def = EstCatalogGetModel(req->model, true, true);
	if (def != NULL)
	{
		EstCatalogCheckOwner(def, "train");
		EstCheckCompatible(def, req);
		features = def->features;
		n_features = def->n_features;
	}
	else if (req->n_features >= 0)
	{
		n_features = req->n_features;
		features = palloc0(n_features * sizeof(EstColumn));
		for (int i = 0; i < n_features; i++)
		{
			features[i].name = req->features[i];
			features[i].width = -1;
		}
	}
	else
		infer = true;

	/* input_fn: read the source as the caller */
	reader = EstReaderOpen(req->source,
						   def ? def->label : (req->label ? req->label : "label"),
						   features, n_features, infer);
	EstReaderColumns(reader, &features, &n_features);
	ReadTrainingData(reader, req->source, &data);
	EstReaderClose(reader);
	if (data.n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returned no rows", req->source),
				 errhint("Training needs at least one labelled row.")));

	for (int64 i = 0; i < data.n_rows; i++)
		max_label = Max(max_label, data.y[i]);

	if (def == NULL)
	{
		def = EstNewModelDef(req);
		def->features = features;
		def->n_features = n_features;
		def->n_inputs = data.n_inputs;
		def->n_classes = req->n_classes ? req->n_classes : (int) max_label + 1;
		if (def->n_classes < 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" has only one class", req->source),
					 errdetail("Every label is 0, and a classifier needs at least two classes."),
					 errhint("Set n_classes in params when the source lacks some classes.")));
		created = true;
	}
	if ((int) max_label >= def->n_classes)
		EstCheckLabel((int64) max_label, def->n_classes, def->label);

	/* what this call trains with */
	batch_size = req->batch_size ? req->batch_size : def->batch_size;
	if (req->steps > 0)
		steps = req->steps;
	else if (req->epochs == 0)
		steps = EST_DEFAULT_STEPS;
	else
		steps = PG_INT64_MAX;
	if (req->epochs > 0)
	{
		double		epoch_steps = ceil((double) req->epochs * data.n_rows /
									   batch_size);

		steps = Min(steps, (int64) Min(epoch_steps, (double) PG_INT64_MAX / 2));
	}
	log_every = req->log_step_count_steps ? req->log_step_count_steps :
		EstParamsInt(def->params, "log_step_count_steps",
					 estimator_log_step_count_steps);
	keep = req->keep_checkpoint_max ? req->keep_checkpoint_max :
		EstParamsInt(def->params, "keep_checkpoint_max",
					 EST_DEFAULT_KEEP_CHECKPOINTS);

	/* the model and its workspace must fit beside the data */
	n_params = EstNetworkParamCount(def->n_inputs, def->hidden,
									def->n_hidden, def->n_classes);
	if (n_params == 0)
		ReportTooManyParams(def);
	model_bytes = mul_size(n_params, 4 * sizeof(float));
	for (int l = 0; l < def->n_hidden; l++)
		model_bytes = add_size(model_bytes,
							   mul_size((Size) Max(batch_size, 1024) * 2,
										def->hidden[l] * sizeof(float)));
	EstCheckMemory(add_size(model_bytes,
							mul_size(data.n_rows,
									 (data.n_inputs + 2) * sizeof(float))),
				   "the training data and the model");

	if (created)
	{
		EstRngSeed(&rng, req->has_seed ? req->seed : RandomSeed());
		InitCheckpoint(def, &data, &rng, &ckpt);
		ckpt.rng = rng;
		if (!EstCatalogInsertModel(def))
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("model \"%s\" was created by a concurrent transaction",
							def->name),
					 errhint("Run est_train again to continue training it.")));
	}
	else
	{
		/* after waiting for the lock, continue from the newest checkpoint */
		EstLoadCheckpoint(def, true, &ckpt);
		if (ckpt.global_step != def->global_step)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("model \"%s\" was trained by a concurrent transaction",
							def->name),
					 errdetail("Its newest checkpoint is at step " INT64_FORMAT ", the model at step " INT64_FORMAT ".",
							   ckpt.global_step, def->global_step),
					 errhint("Run est_train again.")));
		if (ckpt.opt.kind != def->optimizer)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint of model \"%s\" at step " INT64_FORMAT " is corrupted",
							def->name, ckpt.global_step),
					 errdetail("The checkpoint holds %s slots, the model uses %s.",
							   EstOptimizerName(ckpt.opt.kind),
							   EstOptimizerName(def->optimizer))));
		if (req->has_seed)
			EstRngSeed(&ckpt.rng,
					   req->seed ^ ((uint64) ckpt.global_step * UINT64CONST(0x9E3779B97F4A7C15)));
	}
	ckpt.opt.learning_rate = req->learning_rate > 0 ? req->learning_rate :
		def->learning_rate;

	EstFeatureStateApply(&ckpt.features, data.X, data.n_rows);

	coremsg[0] = '\0';
	status = EstWorkspaceInit(&ws, &ckpt.net, Max(batch_size, 1024), coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");

	RunSteps(def, &ckpt, &data, batch_size, steps, log_every, &ws);
	ScoreTrainingData(&ckpt, &data, &ws, result);

	StoreCheckpoint(def, &ckpt, result->loss, keep);
	def->global_step = ckpt.global_step;
	EstCatalogUpdateModel(def);

	result->global_step = ckpt.global_step;
	result->rows = data.n_rows;
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
}

/*
 * est_train(model, source, label, features, model_type, hidden_units,
 *			 steps, epochs, batch_size, learning_rate, optimizer, params)
 *	 returns (model, global_step, loss, accuracy, rows_read, seconds)
 */
Datum
est_train(PG_FUNCTION_ARGS)
{
	EstTrainRequest req;
	TupleDesc	tupdesc;
	TrainResult result;
	instr_time	start;
	Datum		values[6];
	bool		nulls[6] = {false};

	INSTR_TIME_SET_CURRENT(start);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	EstParseTrainRequest(fcinfo, &req);

	SPI_connect();
	TrainModel(&req, &result);
	SPI_finish();

	values[0] = CStringGetTextDatum(req.model);
	values[1] = Int64GetDatum(result.global_step);
	values[2] = Float8GetDatum(result.loss);
	values[3] = Float8GetDatum(result.accuracy);
	values[4] = Int64GetDatum(result.rows);
	values[5] = Float8GetDatum(ElapsedSeconds(start));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
