/*-------------------------------------------------------------------------
 *
 * score.c
 *	  est_predict_table: batch scoring of a whole source.
 *
 * Where est_predict scores one row at a time inside a query, this reads a
 * table, view or query in blocks and runs each block through the network
 * with cblas_sgemm, returning a row of (key, prediction, outputs, label) for each
 * row of the source.  Memory stays one block whatever the source's size:
 * EST_SCORE_BLOCK rows, or fewer for a network so wide that their buffers
 * would take more than EST_SCORE_BLOCK_BYTES.
 *
 * A table large enough for a parallel sequential scan is scored in
 * parallel, by PostgreSQL's rules for one (ScoreWorkers): parallel workers
 * and the backend share a parallel scan of it (EstReaderShareScan), each
 * scoring the chunks of blocks it takes, and the workers send their scores
 * through a queue each to the backend, which makes the result rows of all
 * (PutScores).  Rows then come in no set order, as from a parallel scan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/parallel.h"
#include "access/relscan.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/paths.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "estimator.h"

#define EST_SCORE_BLOCK	1024

/* the keys of a parallel scoring's table of contents */
#define EST_KEY_SCORE			UINT64CONST(0xE571000000000021)
#define EST_KEY_SCORE_TEXT		UINT64CONST(0xE571000000000022)
#define EST_KEY_SCORE_CKPT		UINT64CONST(0xE571000000000023)
#define EST_KEY_SCORE_SCAN		UINT64CONST(0xE571000000000024)
#define EST_KEY_SCORE_QUEUES	UINT64CONST(0xE571000000000025)

/* each worker's queue of scores: about eight blocks of four classes */
#define EST_SCORE_QUEUE_BYTES	(1024 * 1024)

/*
 * A message: its int32 count of rows (a block's, or as many of them as
 * keep the message within EST_SCORE_QUEUE_BYTES, at least one), padded to
 * SCORE_MSG_HEADER bytes so that the scores that follow are aligned, then
 * their keys; or SCORE_MSG_END alone, the last.
 */
#define SCORE_MSG_HEADER	((Size) sizeof(double))
#define SCORE_MSG_END	-1

typedef struct ScoreShared
{
	pg_atomic_uint32 ready;		/* the backend has numbered the members */
	int			member_of[EST_MAX_PARALLEL_WORKERS];	/* by worker number */
	int			n_features;
	int			n_inputs;		/* floats the backend's reader encodes a row */
	bool		has_key;
	bool		regressor;
	int			n_out;
	Size		ckpt_len;
} ScoreShared;

/* the backend's side of a parallel scoring */
typedef struct ParallelScore
{
	ParallelContext *pcxt;
	int			n_queues;		/* by worker number */
	shm_mq_handle **queues;
	bool	   *ended;			/* a worker sent its last scores */
	int			n_running;		/* members whose end is yet to come */
	char	  **keys;			/* a message's keys, EST_SCORE_BLOCK */
	double	   *out;			/* its scores, copied to align them */
} ParallelScore;

PGDLLEXPORT void est_parallel_score_main(dsm_segment *seg, shm_toc *toc);

PG_FUNCTION_INFO_V1(est_predict_table);

/*
 * PutScores adds the rows of a scored block to the result: the head's
 * values (probabilities of each class, or a regressor's values) in out,
 * n_out of them a row; names holds the text of each class (classifiers).
 * The key's text and the array of outputs are built in buffers that
 * serve every row, since the tuplestore copies each row it takes.
 */
static void
PutScores(ReturnSetInfo *rsinfo, const EstModelDef *def, char **keys,
		  const double *out, int n, int n_out, const Datum *names)
{
	bool		regressor = EST_IS_REGRESSOR(def->type);
	bool		binary = !regressor && def->n_classes == 2;
	int			width = binary ? 2 : n_out;
	Size		array_bytes = ARR_OVERHEAD_NONULLS(1) + width * sizeof(float8);
	ArrayType  *array = palloc0(array_bytes);
	float8	   *elems;
	text	   *key_text = NULL;
	Size		key_cap = 0;

	/* as construct_array makes a one-dimensional float8[] without nulls */
	SET_VARSIZE(array, array_bytes);
	array->ndim = 1;
	array->dataoffset = 0;
	array->elemtype = FLOAT8OID;
	ARR_DIMS(array)[0] = width;
	ARR_LBOUND(array)[0] = 1;
	elems = (float8 *) ARR_DATA_PTR(array);

	for (int i = 0; i < n; i++)
	{
		const double *o = out + (size_t) i * n_out;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		double		prediction;

		EstCheckFinitePrediction(def, o, n_out);
		if (binary)
		{
			elems[0] = 1 - o[0];
			elems[1] = o[0];
			prediction = o[0] > 0.5 ? 1 : 0;
		}
		else
		{
			for (int j = 0; j < n_out; j++)
				elems[j] = o[j];
			prediction = regressor ? o[0] : EstArgmax(o, n_out);
		}
		values[0] = (Datum) 0;
		nulls[0] = keys == NULL || keys[i] == NULL;
		if (!nulls[0])
		{
			Size		len = strlen(keys[i]);

			if (key_text == NULL || len + VARHDRSZ > key_cap)
			{
				if (key_text != NULL)
					pfree(key_text);
				key_cap = Max(len + VARHDRSZ, 64);
				key_text = palloc(key_cap);
			}
			SET_VARSIZE(key_text, len + VARHDRSZ);
			memcpy(VARDATA(key_text), keys[i], len);
			values[0] = PointerGetDatum(key_text);
		}
		values[1] = Float8GetDatum(prediction);
		/* a regressor of several values has no one prediction, as in est_predict */
		nulls[1] = regressor && n_out > 1;
		values[2] = PointerGetDatum(array);
		/* the class's name (0.2.0); the result of 0.1.0 has three columns */
		if (rsinfo->setDesc->natts > 3)
		{
			nulls[3] = regressor;
			if (!regressor)
				values[3] = names[(int) prediction];
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(array);
	if (key_text != NULL)
		pfree(key_text);
}

/*
 * ScoreBlock runs n rows of X (as the reader encoded them) through the
 * checkpoint's network and writes the head's values, n_out a row, to out.
 * A regressor's values go back to the label's units in double precision,
 * as est_predict's do: a value beyond float32 is a number there, and
 * would be an infinity here if restored in the network's floats.
 */
static void
ScoreBlock(EstCheckpoint *ckpt, EstWorkspace *ws, bool regressor, float *X,
		   int n, double *out)
{
	EstTransformApply(&ckpt->transform, X, n);
	EstNetworkForward(&ckpt->net, ws, X, n);
	EstHeadProbabilities(&ckpt->net, ws, n, out);
	if (regressor)
	{
		const EstFeatureState *labels = &ckpt->labels;
		int			d = labels->n_inputs;

		for (int i = 0; i < n; i++)
			for (int j = 0; j < d; j++)
				out[(size_t) i * d + j] = out[(size_t) i * d + j] *
					labels->scale[j] + labels->shift[j];
	}
}

/*
 * ScoreWorkers is how many parallel workers score a source with the
 * backend: as many as PostgreSQL would plan for a parallel sequential scan
 * of it (its parallel_workers storage parameter, else one for a table of
 * min_parallel_table_scan_size and one more each time it triples, up to
 * max_parallel_workers_per_gather), none when the reader cannot share its
 * scan (a view, a query, a temporary table, row-level security) or the
 * call runs in parallel mode already.
 */
static int
ScoreWorkers(EstReader *reader)
{
	int			rel_workers;
	BlockNumber blocks;
	int			workers;

	if (max_parallel_workers_per_gather <= 0 || IsInParallelMode())
		return 0;
	blocks = EstReaderSharableBlocks(reader, &rel_workers);
	if (blocks == 0)
		return 0;
	if (rel_workers >= 0)
		workers = rel_workers;
	else
	{
		double		threshold = Max(min_parallel_table_scan_size, 1);

		if ((double) blocks < threshold)
			return 0;
		workers = 1;
		while ((double) blocks >= threshold * 3)
		{
			workers++;
			threshold *= 3;
		}
	}
	workers = Min(workers, max_parallel_workers_per_gather);
	return Min(workers, EST_MAX_PARALLEL_WORKERS);
}

/*
 * BeginParallelScore starts n_workers parallel workers to score the table
 * that reader reads with the backend, reader being the backend's (open,
 * nothing read): it puts in the segment what they need (the table's
 * qualified name, the key, the feature columns, the checkpoint and the
 * parallel scan), makes the reader's scan the backend's part of the
 * parallel scan, and launches them.  NULL, the reader untouched, when
 * PostgreSQL has no segment to give.
 */
static ParallelScore *
BeginParallelScore(int n_workers, const char *key, const EstModelDef *def,
				   const EstCheckpoint *ckpt, EstReader *reader, int n_out)
{
	ParallelScore *ps;
	ParallelContext *pcxt;
	ScoreShared *shared;
	StringInfoData text;
	uint8_t    *blob = NULL;
	size_t		blob_len = 0;
	EstColumn  *features;
	int			n_features;
	Size		scan_size = EstReaderSharedScanSize(reader);
	char		coremsg[EST_ERRMSG_LEN];
	char	   *area;

	coremsg[0] = '\0';
	if (EstCheckpointEncode(ckpt, &blob, &blob_len, coremsg) != EST_OK)
		EstReportCoreError(EST_EINVAL, coremsg, "checkpoint");
	EstReaderColumns(reader, &features, &n_features);
	initStringInfo(&text);
	/* the table the backend reads, not whatever the name finds in a worker */
	EstPackText(&text, EstReaderRelationName(reader));
	EstPackText(&text, key);
	EstPackFeatures(&text, features, n_features);

	EnterParallelMode();
	pcxt = CreateParallelContext("estimator", "est_parallel_score_main",
								 n_workers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(ScoreShared));
	shm_toc_estimate_chunk(&pcxt->estimator, text.len);
	shm_toc_estimate_chunk(&pcxt->estimator, blob_len);
	shm_toc_estimate_chunk(&pcxt->estimator, scan_size);
	shm_toc_estimate_chunk(&pcxt->estimator,
						   mul_size(EST_SCORE_QUEUE_BYTES, n_workers));
	shm_toc_estimate_keys(&pcxt->estimator, 5);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		EstFree(blob);
		return NULL;
	}

	shared = shm_toc_allocate(pcxt->toc, sizeof(ScoreShared));
	memset(shared, 0, sizeof(ScoreShared));
	pg_atomic_init_u32(&shared->ready, 0);
	for (int i = 0; i < EST_MAX_PARALLEL_WORKERS; i++)
		shared->member_of[i] = -1;
	shared->n_features = n_features;
	shared->n_inputs = EstReaderInputs(reader);
	shared->has_key = key != NULL;
	shared->regressor = EST_IS_REGRESSOR(def->type);
	shared->n_out = n_out;
	shared->ckpt_len = blob_len;
	shm_toc_insert(pcxt->toc, EST_KEY_SCORE, shared);
	area = shm_toc_allocate(pcxt->toc, text.len);
	memcpy(area, text.data, text.len);
	shm_toc_insert(pcxt->toc, EST_KEY_SCORE_TEXT, area);
	area = shm_toc_allocate(pcxt->toc, blob_len);
	memcpy(area, blob, blob_len);
	shm_toc_insert(pcxt->toc, EST_KEY_SCORE_CKPT, area);
	EstFree(blob);
	area = shm_toc_allocate(pcxt->toc, scan_size);
	EstReaderShareScan(reader, (ParallelTableScanDesc) area, true);
	shm_toc_insert(pcxt->toc, EST_KEY_SCORE_SCAN, area);
	area = shm_toc_allocate(pcxt->toc,
							mul_size(EST_SCORE_QUEUE_BYTES, n_workers));
	shm_toc_insert(pcxt->toc, EST_KEY_SCORE_QUEUES, area);

	ps = palloc0(sizeof(ParallelScore));
	ps->pcxt = pcxt;
	ps->n_queues = n_workers;
	ps->ended = palloc0(n_workers * sizeof(bool));
	ps->keys = palloc(EST_SCORE_BLOCK * sizeof(char *));
	ps->out = palloc(mul_size(EST_SCORE_BLOCK, n_out * sizeof(double)));
	ps->queues = EstCreateQueues(pcxt, area, n_workers, EST_SCORE_QUEUE_BYTES,
								 NULL);
	(void) EstLaunchMembers(pcxt, shared->member_of);
	for (int i = 0; i < n_workers; i++)
	{
		if (i < pcxt->nworkers_launched && shared->member_of[i] > 0)
		{
			shm_mq_set_handle(ps->queues[i], pcxt->worker[i].bgwhandle);
			ps->n_running++;
		}
		else
			ps->ended[i] = true;	/* never started: nothing will come */
	}
	pg_write_barrier();
	pg_atomic_write_u32(&shared->ready, 1);
	return ps;
}

/*
 * PutMessage adds to the result the rows of a worker's message of nbytes at
 * msg, of n rows (n_out scores each, then their keys with has_key: \x01 and
 * the key's text with its NUL, or one NUL for a NULL key).
 */
static void
PutMessage(ParallelScore *ps, const char *msg, Size nbytes, int32 n,
		   ReturnSetInfo *rsinfo, const EstModelDef *def, int n_out,
		   const Datum *names, bool has_key)
{
	Size		values;
	const char *end = msg + nbytes;
	const char *k;

	if (n <= 0 || n > EST_SCORE_BLOCK ||
		nbytes < SCORE_MSG_HEADER + (Size) n * n_out * sizeof(double))
		elog(ERROR, "message of %zu bytes from a parallel worker for %d rows",
			 nbytes, n);
	values = (Size) n * n_out * sizeof(double);
	k = msg + SCORE_MSG_HEADER + values;
	for (int r = 0; r < n && has_key; r++)
	{
		const char *nul = NULL;

		if (k < end && *k++ == '\0')
		{
			ps->keys[r] = NULL;
			continue;
		}
		if (k < end)
			nul = memchr(k, '\0', end - k);
		if (nul == NULL)
			elog(ERROR, "message of %zu bytes from a parallel worker for %d keys",
				 nbytes, n);
		ps->keys[r] = (char *) k;
		k = nul + 1;
	}
	/* the queue's ring may not align the scores for double */
	memcpy(ps->out, msg + SCORE_MSG_HEADER, values);
	PutScores(rsinfo, def, has_key ? ps->keys : NULL, ps->out, n, n_out, names);
}

/*
 * ReceiveScores adds to the result the scores that the workers have sent
 * until none is waiting, or with wait until every worker has sent its
 * last; it returns whether some worker has more to send.  A worker that
 * stopped without its last message failed: its error is raised here.
 */
static bool
ReceiveScores(ParallelScore *ps, bool wait, ReturnSetInfo *rsinfo,
			  const EstModelDef *def, int n_out, const Datum *names,
			  bool has_key, MemoryContext block_context)
{
	for (;;)
	{
		bool		got = false;

		/* once a round, as the workers may keep the queues from emptying */
		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < ps->n_queues; i++)
		{
			Size		nbytes;
			void	   *msg;
			shm_mq_result res;
			int32		n;
			MemoryContext oldcontext;

			if (ps->ended[i])
				continue;
			res = shm_mq_receive(ps->queues[i], &nbytes, &msg, true);
			if (res == SHM_MQ_WOULD_BLOCK)
				continue;
			if (res == SHM_MQ_DETACHED)
			{
				/* raises the worker's error, if it sent one */
				WaitForParallelWorkersToFinish(ps->pcxt);
				ereport(ERROR,
						(errcode(ERRCODE_INTERNAL_ERROR),
						 errmsg("a parallel worker stopped before sending all its scores")));
			}
			got = true;
			if (nbytes < sizeof(int32))
				elog(ERROR, "short message from a parallel worker");
			memcpy(&n, msg, sizeof(int32));
			if (n == SCORE_MSG_END)
			{
				ps->ended[i] = true;
				ps->n_running--;
				continue;
			}
			MemoryContextReset(block_context);
			oldcontext = MemoryContextSwitchTo(block_context);
			PutMessage(ps, msg, nbytes, n, rsinfo, def, n_out, names, has_key);
			MemoryContextSwitchTo(oldcontext);
		}
		if (ps->n_running == 0 || (!got && !wait))
			break;
		if (got)
			continue;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1,
						 WAIT_EVENT_MQ_RECEIVE);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return ps->n_running > 0;
}

/*
 * EndParallelScore waits for the workers to exit and leaves parallel mode.
 */
static void
EndParallelScore(ParallelScore *ps)
{
	WaitForParallelWorkersToFinish(ps->pcxt);
	DestroyParallelContext(ps->pcxt);
	ExitParallelMode();
}

/*
 * KeyBytes is the bytes that the key of row r takes in a message: \x01,
 * the key's text and its NUL, or one NUL for a NULL key; none without keys.
 */
static Size
KeyBytes(char **keys, int r)
{
	if (keys == NULL)
		return 0;
	return keys[r] == NULL ? 1 : strlen(keys[r]) + 2;
}

/*
 * SendScores sends the backend a worker's n scored rows (out, n_out scores
 * a row, and their keys, or NULL) in messages as large as the queue, or
 * one row each if need be, rather than one message of the whole block:
 * long keys would make it larger than a buffer can be (1 GB), where one
 * backend scores them.  False when the backend has gone.
 */
static bool
SendScores(shm_mq_handle *mqh, StringInfo msg, const double *out, int n,
		   int n_out, char **keys)
{
	Size		row_bytes = (Size) n_out * sizeof(double);
	int			first = 0;

	while (first < n)
	{
		Size		bytes = SCORE_MSG_HEADER + row_bytes + KeyBytes(keys, first);
		int			last = first + 1;
		int32		count;

		while (last < n &&
			   bytes + row_bytes + KeyBytes(keys, last) <= EST_SCORE_QUEUE_BYTES)
			bytes += row_bytes + KeyBytes(keys, last++);
		count = last - first;
		resetStringInfo(msg);
		enlargeStringInfo(msg, bytes);
		memset(msg->data, 0, SCORE_MSG_HEADER);
		memcpy(msg->data, &count, sizeof(int32));
		msg->len = SCORE_MSG_HEADER;
		appendBinaryStringInfo(msg, (const char *) (out + (size_t) first * n_out),
							   count * row_bytes);
		for (int r = first; r < last && keys != NULL; r++)
		{
			if (keys[r] == NULL)
				appendStringInfoChar(msg, '\0');
			else
			{
				appendStringInfoChar(msg, '\x01');
				appendBinaryStringInfo(msg, keys[r], strlen(keys[r]) + 1);
			}
		}
		if (shm_mq_send(mqh, msg->len, msg->data, false, true) != SHM_MQ_SUCCESS)
			return false;
		first = last;
	}
	return true;
}

/*
 * est_parallel_score_main is a parallel worker's scoring: it joins the
 * backend's parallel scan of the source with a reader of the model's
 * feature columns (and the key), scores each block it reads with the
 * checkpoint, and sends the scores and keys to the backend.
 */
void
est_parallel_score_main(dsm_segment *seg, shm_toc *toc)
{
	ScoreShared *shared = shm_toc_lookup(toc, EST_KEY_SCORE, false);
	const char *p = shm_toc_lookup(toc, EST_KEY_SCORE_TEXT, false);
	const uint8_t *blob = shm_toc_lookup(toc, EST_KEY_SCORE_CKPT, false);
	ParallelTableScanDesc pscan = shm_toc_lookup(toc, EST_KEY_SCORE_SCAN, false);
	char	   *queues = shm_toc_lookup(toc, EST_KEY_SCORE_QUEUES, false);
	EstReadSpec spec;
	const char *source;
	EstColumn  *features;
	EstReader  *reader;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	shm_mq_handle *mqh;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	float	   *X;
	double	   *out;
	int			block;			/* rows of a block */
	StringInfoData msg;
	MemoryContext block_context;
	bool		gone = false;	/* the backend has gone */
	int32		n;

	if (EstMemberIndex(&shared->ready, shared->member_of) < 0)
		return;
	mqh = EstWorkerQueue(seg, queues, EST_SCORE_QUEUE_BYTES);

	memset(&spec, 0, sizeof(spec));
	source = EstUnpackText(&p);
	spec.key = EstUnpackText(&p);
	if (!shared->has_key)
		spec.key = NULL;
	features = EstUnpackFeatures(&p, shared->n_features);
	coremsg[0] = '\0';
	status = EstCheckpointDecode(blob, shared->ckpt_len, &ckpt, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "checkpoint");
	spec.transform = &ckpt.transform;
	spec.missing_as_null = true;	/* as the backend's reader */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	reader = EstReaderOpen(source, &spec, features, shared->n_features, false);
	EstReaderShareScan(reader, pscan, false);
	if (EstReaderInputs(reader) != shared->n_inputs ||
		ckpt.net.sizes[ckpt.net.n_layers] != shared->n_out)
		elog(ERROR, "a parallel worker encodes rows of %d inputs and scores %d outputs, the backend %d and %d",
			 EstReaderInputs(reader), ckpt.net.sizes[ckpt.net.n_layers],
			 shared->n_inputs, shared->n_out);
	coremsg[0] = '\0';
	block = EstWorkspaceRows(&ckpt.net, EST_SCORE_BLOCK, EST_SCORE_BLOCK_BYTES);
	status = EstWorkspaceInit(&ws, &ckpt.net, block, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	X = palloc(mul_size(block, shared->n_inputs * sizeof(float)));
	out = palloc(mul_size(block, shared->n_out * sizeof(double)));
	initStringInfo(&msg);
	block_context = AllocSetContextCreate(CurrentMemoryContext,
										  "estimator scoring block",
										  ALLOCSET_DEFAULT_SIZES);
	do
	{
		MemoryContext oldcontext;

		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(block_context);
		oldcontext = MemoryContextSwitchTo(block_context);
		n = EstReaderNext(reader, X, NULL, NULL, block);
		MemoryContextSwitchTo(oldcontext);
		if (n > 0)
		{
			ScoreBlock(&ckpt, &ws, shared->regressor, X, n, out);
			if (!SendScores(mqh, &msg, out, n, shared->n_out,
							shared->has_key ? EstReaderKeys(reader) : NULL))
				gone = true;
		}
	} while (n > 0 && !gone);

	/*
	 * Close the scan even when the backend has gone: the worker's
	 * transaction commits, and would warn of every buffer pin, relation
	 * and snapshot still held.
	 */
	EstReaderClose(reader);
	SPI_finish();
	if (gone)
		return;
	n = SCORE_MSG_END;
	(void) shm_mq_send(mqh, sizeof(int32), &n, false, true);
}

/*
 * est_predict_table(model, source, key) scores every row of a source and
 * returns (key, prediction, outputs, label): the key column as text (NULL
 * when no key is named), the class id or value, the class probabilities or
 * the regressor's values, and the class's name (NULL for regressors).
 */
Datum
est_predict_table(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *model = EstModelNameArg(fcinfo, 0);
	char	   *source;
	char	   *key = NULL;
	EstModelDef *def;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	EstReader  *reader;
	MemoryContext block_context;
	MemoryContext oldcontext;
	float	   *X;
	double	   *out;
	int			block;			/* rows of a block */
	int			n_out;
	Datum	   *names = NULL;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	int			workers;
	ParallelScore *ps = NULL;
	bool		reading;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source must not be null"),
				 errhint("Name a table or view, or write a SELECT query.")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!PG_ARGISNULL(2))
		key = text_to_cstring(PG_GETARG_TEXT_PP(2));

	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();
	def = EstCatalogGetModel(model, false, false);
	EstCatalogCheckPrivilege(def, EST_PRIV_PREDICT, "predict with");
	EstLoadCheckpoint(def, false, &ckpt);
	reader = EstReaderOpenKeyed(source, key, def, &ckpt.transform);

	coremsg[0] = '\0';
	block = EstWorkspaceRows(&ckpt.net, EST_SCORE_BLOCK, EST_SCORE_BLOCK_BYTES);
	status = EstWorkspaceInit(&ws, &ckpt.net, block, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	n_out = ckpt.net.sizes[ckpt.net.n_layers];
	/* the text of each class, made once */
	if (!EST_IS_REGRESSOR(def->type))
	{
		names = palloc(def->n_classes * sizeof(Datum));
		for (int k = 0; k < def->n_classes; k++)
			names[k] = CStringGetTextDatum(def->n_label_vocabulary > 0 ?
										   def->label_vocabulary[k] :
										   psprintf("%d", k));
	}
	X = palloc(mul_size(block, def->n_inputs * sizeof(float)));
	out = palloc(mul_size(block, n_out * sizeof(double)));
	block_context = AllocSetContextCreate(CurrentMemoryContext,
										  "estimator scoring block",
										  ALLOCSET_DEFAULT_SIZES);
	workers = ScoreWorkers(reader);
	if (workers > 0)
		ps = BeginParallelScore(workers, key, def, &ckpt, reader, n_out);
	/* as in a parallel scan, the backend reads too unless told not to */
	reading = ps == NULL || ps->n_running == 0 || parallel_leader_participation;
	while (reading || ps != NULL)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		if (reading)
		{
			MemoryContextReset(block_context);
			oldcontext = MemoryContextSwitchTo(block_context);
			n = EstReaderNext(reader, X, NULL, NULL, block);
			/* the block's rows are made in block_context, freed at the next */
			if (n > 0)
			{
				ScoreBlock(&ckpt, &ws, EST_IS_REGRESSOR(def->type), X, n, out);
				PutScores(rsinfo, def, key ? EstReaderKeys(reader) : NULL,
						  out, n, n_out, names);
			}
			MemoryContextSwitchTo(oldcontext);
			reading = n > 0;
		}
		/*
		 * the workers' scores, waiting for them once the backend's are in;
		 * the segment, which holds the scan, lasts until the backend's
		 * reading ends too
		 */
		if (ps != NULL &&
			!ReceiveScores(ps, !reading, rsinfo, def, n_out, names,
						   key != NULL, block_context) && !reading)
		{
			EndParallelScore(ps);
			ps = NULL;
		}
	}
	EstReaderClose(reader);
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
	SPI_finish();
	return (Datum) 0;
}
