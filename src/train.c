/*-------------------------------------------------------------------------
 *
 * train.c
 *	  est_train: the TRAIN mode of an estimator.
 *
 * A call reads the source once into a float32 matrix (within
 * estimator.max_memory), holds out evaluation rows when asked, creates the
 * model on first use or loads its newest checkpoint, applies the feature
 * transform stored with the model (and, for regressors, standardises the
 * targets), then runs mini-batch steps over a seeded shuffle of the rows:
 * each epoch visits every row once, and batches run across epoch
 * boundaries as in tf.data's shuffle().repeat().batch().  The checkpoint
 * records where the current epoch stands, so that a later call over the
 * same rows carries on exactly: 2 x 500 steps equal 1000 steps, bit for
 * bit.
 *
 * Every log_step_count_steps it raises a NOTICE and writes a row of
 * estimator.training_log; with evaluation data (eval_fraction or
 * eval_source) it scores them every eval_every_steps, logs the metrics,
 * and with early_stopping stops when the chosen metric has not improved
 * for patience evaluations, keeping the best checkpoint.  At the end it
 * scores the training rows, stores a checkpoint and keeps the newest
 * keep_checkpoint_max.  Everything happens in the caller's transaction:
 * an error, a cancel or a ROLLBACK leaves the model as it was
 * (est_train_procedure, CALLed outside a transaction block, commits after
 * each checkpoint instead; see CommitCheckpoint).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/dsm.h"
#include "storage/lock.h"
#include "tcop/pquery.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "estimator.h"

/* TensorFlow's Iris tutorial trains for 5000 steps */
#define EST_DEFAULT_STEPS			5000
#define EST_DEFAULT_KEEP_CHECKPOINTS 5
#define EST_INITIAL_ROWS			1024
#define EST_SPLIT_SEED				UINT64CONST(0x5EED5EED5EED5EED)

typedef struct TrainResult
{
	int64		global_step;
	int64		serving_step;	/* -1: none */
	double		loss;
	double		accuracy;		/* NaN for regressors */
	int64		rows;
} TrainResult;

typedef struct TrainStream TrainStream;

/* What one call trains with, once the request and the model are known. */
typedef struct TrainPlan
{
	int			batch_size;
	int64		steps;
	int64		score_rows;		/* est_train's figures' (EstScoreSampleSize) */
	int			log_every;
	int			keep;
	double		learning_rate;
	double		linear_learning_rate;
	EstOptions	opts;			/* effective per-call settings */
	int64		eval_every;		/* 0: no evaluation */
	bool		eval_max;		/* early stopping maximises its metric */
	int64		save_every;		/* save_checkpoints_steps; 0: at the end */
	bool		commit;			/* commit after each checkpoint (CALL) */
	bool		nowait;
	int			parallel_workers;	/* 0: the backend alone */
	TrainStream *stream;		/* not NULL: the source is streamed */
	dsm_segment *rows_seg;		/* the rows' segment (ReadSource), or NULL */
	EstShard   *shard;			/* the members that hold the rows, or NULL */
	EstModelDef *register_def;	/* a new model whose catalog row waits for
								 * the end of parallel mode, or NULL */
	Oid			reset_owner;	/* ... its owner after a reset, or invalid */
	EstLineage	lineage;		/* of every checkpoint of the call */
} TrainPlan;

/* a source larger than estimator.max_memory, read once as a sample */
typedef struct SourceStream
{
	bool		active;
	int64		n_rows;			/* rows of the source */
	uint64		fingerprint;	/* of them all, as EstDataFingerprint */
	float		max_label;
} SourceStream;

static void ReadSample(EstReader *reader, EstData *data,
					   SourceStream *stream, int64 keep);

/* the training rows' figures, when parallel workers computed them */
typedef struct TrainScore
{
	bool		done;
	double		loss;
	double		accuracy;
} TrainScore;

/*
 * training_log rows held back until the call stores a checkpoint: no
 * other session sees them before, and parallel workers forbid writes
 */
typedef struct HeldLogs
{
	EstLogRow  *rows;
	int64		n;
	int64		size;
} HeldLogs;

/* the procedure's save_checkpoints_steps when params leave it out */
#define EST_PROCEDURE_SAVE_STEPS	1000

/*
 * The models this backend trains, innermost first: a source query can call
 * functions that reach the model under training (est_train of the same
 * model, est_drop_model), which its row lock does not hold back, since the
 * lock is the backend's own.  Each frame lives on the stack of the call.
 */
typedef struct TrainingFrame
{
	const char *model;
	struct TrainingFrame *outer;
} TrainingFrame;

static TrainingFrame *training_now = NULL;

PG_FUNCTION_INFO_V1(est_train);
PG_FUNCTION_INFO_V1(est_train_procedure);

/*
 * RowHash is the hash of one row as read, for the fingerprint of a data
 * set (see EstDataFingerprint).
 */
static uint64
RowHash(const float *x, int d, const float *y, int lw, float weight)
{
	uint64		h;

	h = EstHashFloats(0, x, d);
	h = EstHashFloats(h, y, lw);
	h = EstHashFloats(h, &weight, 1);
	return EstHashFinish(h);
}

/*
 * SampleRow offers row i (0-based, of all rows read) at src to a uniform
 * sample of data->n_rows rows (reservoir sampling): it replaces a random
 * row of the sample with probability n_rows / (i + 1).
 */
static void
SampleRow(EstData *data, EstRng *rng, int64 i, const float *x, const float *y,
		  const float *w)
{
	uint64		j = EstRngBounded(rng, (uint64) i + 1);
	int			d = data->n_inputs;
	int			lw = data->label_width;

	if (j >= (uint64) data->n_rows)
		return;
	memcpy(data->X + j * d, x, d * sizeof(float));
	memcpy(data->y + j * lw, y, lw * sizeof(float));
	if (data->w != NULL)
		data->w[j] = *w;
}

/*
 * StreamRow counts a row of a streamed source into its figures.
 */
static void
StreamRow(SourceStream *stream, const EstData *data, const float *x,
		  const float *y, const float *w)
{
	stream->n_rows++;
	stream->fingerprint += RowHash(x, data->n_inputs, y, data->label_width,
								   w ? *w : 1.0f);
	for (int j = 0; j < data->label_width; j++)
		stream->max_label = Max(stream->max_label, y[j]);
}

/*
 * MemoryRows is the number of rows, of n_inputs inputs and labels of
 * label_width floats, at which ReadAll stops holding them and streams the
 * source: the capacity it would have to double beyond
 * estimator.max_memory.
 */
static int64
MemoryRows(int n_inputs, int label_width)
{
	Size		row_bytes = (n_inputs + 2 * label_width + 2) * sizeof(float);
	Size		limit = (Size) estimator_max_memory * 1024;
	int64		capacity = EST_INITIAL_ROWS;

	while (capacity < PG_UINT32_MAX / 2 &&
		   mul_size(capacity * 2, row_bytes) <= limit)
		capacity *= 2;
	return capacity;
}

/*
 * FirstCapacity is the rows that ReadAll first makes room for: room for
 * the planner's estimate of the source's rows (EstRoomForEstimate),
 * within EST_INITIAL_ROWS and the rows at which it would stream
 * (MemoryRows).
 * Growing the arrays moves them, since repalloc remaps a large block's
 * pages to a new address, and in a virtual machine the first pass over
 * remapped pages is slow: on the benchmark's, reading 1,000,000 rows of 32
 * reals back after the doublings from 1024 rows took 0.11 s instead of
 * 0.015 s (the training data's fingerprint, or else the first epoch).
 * Room that the rows leave unused is never touched.
 */
static int64
FirstCapacity(EstReader *reader, int n_inputs, int label_width)
{
	double		estimate = EstReaderEstimatedRows(reader);
	int64		most = MemoryRows(n_inputs, label_width);

	if (estimate <= EST_INITIAL_ROWS || most <= EST_INITIAL_ROWS)
		return EST_INITIAL_ROWS;
	estimate = EstRoomForEstimate(estimate);
	return estimate >= (double) most ? most : (int64) estimate;
}

/*
 * GrowArray gives an array of ReadAll's room for capacity rows of width
 * floats (to which one byte is added, as palloc needs for zero rows).  A
 * new array (array NULL) may be refused with may_fail: NULL then.
 */
static float *
GrowArray(float *array, int64 capacity, int width, bool may_fail)
{
	Size		bytes = mul_size(capacity, width * sizeof(float)) + 1;

	if (array == NULL)
		return MemoryContextAllocExtended(CurrentMemoryContext, bytes,
										  MCXT_ALLOC_HUGE |
										  (may_fail ? MCXT_ALLOC_NO_OOM : 0));
	return repalloc_huge(array, bytes);
}

/*
 * AllocRows gives data room for capacity rows; false, with nothing
 * allocated, when may_fail and the system refuses the address space (where
 * memory is not overcommitted, an estimate too high can be refused).
 */
static bool
AllocRows(EstData *data, int64 capacity, bool weighted, bool may_fail)
{
	data->X = GrowArray(NULL, capacity, data->n_inputs, may_fail);
	data->y = data->X ? GrowArray(NULL, capacity, data->label_width, may_fail) : NULL;
	data->w = weighted && data->y ? GrowArray(NULL, capacity, 1, may_fail) : NULL;
	if (data->X != NULL && data->y != NULL && (data->w != NULL || !weighted))
		return true;
	if (data->X)
		pfree(data->X);
	if (data->y)
		pfree(data->y);
	data->X = data->y = data->w = NULL;
	return false;
}

/*
 * ReadAll reads every row of the source (and its weight, when weighted),
 * growing the matrix by doubling and checking estimator.max_memory before
 * each allocation.  When the matrix would outgrow estimator.max_memory
 * and stream is given, it keeps a uniform sample of the rows instead, in
 * a quarter of estimator.max_memory (the model, its workspace and the
 * shuffle buffer that takes the sample's place share the rest), counts
 * every row into stream (their
 * number, fingerprint and largest label) and marks it active: training
 * then fits the transform on the sample and streams the source (see
 * StreamNext).
 */
static void
ReadAll(EstReader *reader, const char *source, bool weighted, EstData *data,
		SourceStream *stream)
{
	int			n_inputs = EstReaderInputs(reader);
	int			label_width = EstReaderLabelWidth(reader);
	int64		capacity = FirstCapacity(reader, n_inputs, label_width);
	int64		most = MemoryRows(n_inputs, label_width);
	Size		row_bytes = (n_inputs + 2 * label_width + 2) * sizeof(float);
	Size		limit = (Size) estimator_max_memory * 1024;
	EstRowsMap	map;

	if (stream != NULL)
		memset(stream, 0, sizeof(*stream));
	memset(&map, 0, sizeof(map));
	data->n_inputs = n_inputs;
	data->label_width = label_width;
	data->n_rows = 0;
	EstCheckMemory(mul_size(capacity, row_bytes), "training data");
	if (!AllocRows(data, capacity, weighted, capacity > EST_INITIAL_ROWS))
	{
		capacity = EST_INITIAL_ROWS;
		AllocRows(data, capacity, weighted, false);
	}
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
			if (stream != NULL && capacity >= most)
			{
				ReadSample(reader, data, stream, limit / 4 / row_bytes);
				return;
			}
			/* double, but stop once at the rows that stream */
			capacity = capacity < most ? Min(capacity * 2, most) : capacity * 2;
			EstCheckMemory(mul_size(capacity, row_bytes), "training data");
			data->X = GrowArray(data->X, capacity, n_inputs, false);
			data->y = GrowArray(data->y, capacity, label_width, false);
			if (weighted)
				data->w = GrowArray(data->w, capacity, 1, false);
			continue;
		}
		EstMapRowsAhead(&map, data, data->n_rows + want, capacity);
		got = EstReaderNext(reader, data->X + data->n_rows * n_inputs,
							data->y + data->n_rows * label_width,
							weighted ? data->w + data->n_rows : NULL, want);
		if (got == 0)
			break;
		data->n_rows += got;
	}
}

/*
 * ReadSample turns the rows read so far into a uniform sample of at most
 * keep rows and reads the rest of the source into it (see ReadAll).  The
 * sample's random stream is fixed, so that the same rows give the same
 * sample.
 */
static void
ReadSample(EstReader *reader, EstData *data, SourceStream *stream, int64 keep)
{
	int			d = data->n_inputs;
	int			lw = data->label_width;
	int64		have = data->n_rows;
	EstRng		rng;
	float	   *X = palloc(mul_size(1000, d * sizeof(float)) + 1);
	float	   *y = palloc(mul_size(1000, lw * sizeof(float)) + 1);
	float	   *w = data->w ? palloc(1000 * sizeof(float)) : NULL;

	if (keep < 1)
		EstCheckMemory((Size) estimator_max_memory * 1024 + 1, "training data");
	EstRngSeed(&rng, EST_SPLIT_SEED);
	stream->active = true;
	for (int64 i = 0; i < have; i++)
		StreamRow(stream, data, data->X + i * d, data->y + i * lw,
				  data->w ? &data->w[i] : NULL);
	/* rows past the sample's size, already read, are offered to it */
	data->n_rows = Min(keep, have);
	for (int64 i = data->n_rows; i < have; i++)
		SampleRow(data, &rng, i, data->X + i * d, data->y + i * lw,
				  data->w ? &data->w[i] : NULL);
	data->X = repalloc_huge(data->X, mul_size(keep, d * sizeof(float)) + 1);
	data->y = repalloc_huge(data->y, mul_size(keep, lw * sizeof(float)) + 1);
	if (data->w)
		data->w = repalloc_huge(data->w, mul_size(keep, sizeof(float)) + 1);

	for (;;)
	{
		int			got;

		CHECK_FOR_INTERRUPTS();
		got = EstReaderNext(reader, X, y, w, 1000);
		if (got == 0)
			break;
		for (int k = 0; k < got; k++)
		{
			const float *xk = X + (size_t) k * d;
			const float *yk = y + (size_t) k * lw;
			const float *wk = w ? &w[k] : NULL;

			if (data->n_rows < keep)
			{
				memcpy(data->X + data->n_rows * d, xk, d * sizeof(float));
				memcpy(data->y + data->n_rows * lw, yk, lw * sizeof(float));
				if (data->w)
					data->w[data->n_rows] = *wk;
				data->n_rows++;
			}
			else
				SampleRow(data, &rng, stream->n_rows, xk, yk, wk);
			StreamRow(stream, data, xk, yk, wk);
		}
	}
	pfree(X);
	pfree(y);
	if (w)
		pfree(w);
}

/*
 * RequestedWorkers is the parallel workers a call asks for: the params'
 * parallel_workers, else estimator.parallel_workers.
 */
static int
RequestedWorkers(const EstOptions *opts)
{
	return opts->parallel_workers >= 0 ? opts->parallel_workers :
		estimator_parallel_workers;
}

/*
 * MayShard tells whether the members of a parallel call may keep the rows
 * they read and each train on its own (see EstShard): rows whose transform
 * learns no vocabulary (its fit merges the members' statistics and
 * counts), trained with nothing else the backend needs the rows for (an
 * evaluation, a promotion gate, a warm start) and nothing that writes the
 * catalog between steps or needs the whole batch in one process
 * (ParallelWorkers' reasons).  tf is a new model's transform.
 */
static bool
MayShard(const EstTrainRequest *req, const EstModelDef *def,
		 const EstCheckpoint *ckpt, const EstTransform *tf, bool commit)
{
	EstOptions	opts = req->opts;
	EstOptions	stored;

	if (RequestedWorkers(&req->opts) == 0 || commit ||
		req->warm_start_from != NULL)
		return false;
	EstParseParams(def ? def->params : NULL, &stored);
	EstMergeOptions(&opts, &stored);
	if (opts.eval_fraction > 0 || opts.eval_source != NULL ||
		opts.has_promote_if || opts.has_early_stopping ||
		opts.save_checkpoints_steps > 0)
		return false;
	if (def != NULL ? (ckpt->net.batch_norm || ckpt->net.dropout > 0) :
		(opts.batch_norm > 0 || opts.dropout > 0))
		return false;
	/* an existing model's transform is fitted: its members only apply it */
	return def != NULL || EstTransformFitsInParts(tf);
}

/*
 * RegisterModel writes the catalog row of the model a call creates, or
 * defines anew after a reset (reset_owner: its owner).  With nowait, a
 * concurrent transaction creating the same model is an error at once.
 */
static void
RegisterModel(EstModelDef *def, Oid reset_owner, bool nowait)
{
	if (OidIsValid(reset_owner))
	{
		def->owner = reset_owner;
		EstCatalogRedefineModel(def);
	}
	else if (!EstCatalogInsertModel(def, nowait))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("model \"%s\" was created by a concurrent transaction",
						def->name),
				 errhint("Run est_train again to continue training it.")));
	EstCatalogForgetEvaluations(def->name);
}

/*
 * ReadSource reads the training rows of a call with its reader (open on
 * the whole source), in parallel when the call asks for parallel workers
 * and the source is a table whose rows encode the same in any order (see
 * EstParallelRead); *reader may then be replaced by a reader of the same
 * columns, and the rows be in a segment of shared memory, *rows_seg, for
 * the workers that train on them (not when the call commits, which would
 * unmap it), which the caller detaches.  With shard not NULL, the members
 * may keep the rows they read instead, to train on them (*shard, see
 * EstParallelRead); data then holds the backend's only.  Rows too many
 * for estimator.max_memory are read again by the backend alone, which
 * streams them, as it would have without workers.
 */
static void
ReadSource(const EstTrainRequest *req, const EstModelDef *def,
		   const EstCheckpoint *ckpt, const EstReadSpec *spec,
		   EstReader **reader, EstData *data, SourceStream *stream,
		   bool commit, dsm_segment **rows_seg, EstShard **shard)
{
	int			workers = RequestedWorkers(&req->opts);
	BlockNumber blocks;
	char	   *table;

	memset(stream, 0, sizeof(*stream));
	if (shard != NULL)
		*shard = NULL;

	/*
	 * in parallel: a table whose blocks fit in half of estimator.max_memory
	 * (a larger one is streamed, by the backend alone)
	 */
	if (workers > 0 && !EstReaderLearns(*reader) &&
		(table = EstReaderRelationName(*reader)) != NULL &&
		(blocks = EstSourceBlocks(table)) >= (BlockNumber) (workers + 1) * 4 &&
		(double) blocks * BLCKSZ <= (double) estimator_max_memory * 1024 / 2)
	{
		/* the table that *reader resolved, not what the name finds now */
		bool		too_large;
		EstReader  *own = EstParallelRead(workers, table, blocks, spec,
										  *reader, def ? ckpt : NULL,
										  def ? NULL : req->params, data,
										  !commit, rows_seg, shard,
										  MemoryRows(EstReaderInputs(*reader),
													 EstReaderLabelWidth(*reader)),
										  &too_large);

		if (own != NULL)
		{
			*reader = own;
			/* rows encoded wider than stored: read alone, and stream */
			if (!too_large)
				return;
		}
	}
	ReadAll(*reader, req->source, spec->weight != NULL, data, stream);
}

/*
 * SwapRows exchanges rows a and b of a data set.
 */
static void
SwapRows(EstData *data, int64 a, int64 b)
{
	int			d = data->n_inputs;
	int			w = data->label_width;

	for (int j = 0; j < d; j++)
	{
		float		t = data->X[a * d + j];

		data->X[a * d + j] = data->X[b * d + j];
		data->X[b * d + j] = t;
	}
	for (int j = 0; j < w; j++)
	{
		float		t = data->y[a * w + j];

		data->y[a * w + j] = data->y[b * w + j];
		data->y[b * w + j] = t;
	}
	if (data->w != NULL)
	{
		float		t = data->w[a];

		data->w[a] = data->w[b];
		data->w[b] = t;
	}
}

/*
 * HoldOut moves a seeded sample of fraction of the rows to the end of the
 * data and returns how many rows stay for training.  For classifiers the
 * sample is stratified: each class gives its share (rounded), so that
 * evaluation sees every class the data has.  The sample depends only on
 * the rows and the seed, so every call over the same rows holds out the
 * same ones.
 */
static int64
HoldOut(EstData *data, double fraction, bool classifier, uint64 seed)
{
	int64		n = data->n_rows;
	bool	   *held = palloc0(Max(n, 1) * sizeof(bool));
	uint32	   *perm = MemoryContextAllocHuge(CurrentMemoryContext,
											  Max(n, 1) * sizeof(uint32));
	EstRng		rng;
	int64		n_train;
	int64		next;

	EstRngSeed(&rng, seed);
	for (int64 i = 0; i < n; i++)
		perm[i] = (uint32) i;
	EstRngShuffle(&rng, perm, n);

	if (classifier)
	{
		int			max_class = 0;
		int64	   *count;
		int64	   *taken;

		for (int64 i = 0; i < n; i++)
			max_class = Max(max_class, (int) data->y[i]);
		count = palloc0((max_class + 1) * sizeof(int64));
		taken = palloc0((max_class + 1) * sizeof(int64));
		for (int64 i = 0; i < n; i++)
			count[(int) data->y[i]]++;
		for (int64 i = 0; i < n; i++)
		{
			int			c = (int) data->y[perm[i]];

			if (taken[c] < (int64) rint(fraction * count[c]))
			{
				held[perm[i]] = true;
				taken[c]++;
			}
		}
	}
	else
	{
		int64		want = (int64) rint(fraction * n);

		for (int64 i = 0; i < want; i++)
			held[perm[i]] = true;
	}

	/* stable partition: training rows keep their order */
	n_train = 0;
	for (int64 i = 0; i < n; i++)
		if (!held[i])
			n_train++;
	if (n_train == 0 || n_train == n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("eval_fraction %g of %lld rows leaves %s",
						fraction, (long long) n,
						n_train == 0 ? "no training rows" : "no evaluation rows"),
				 errhint("Use a fraction that holds out some rows and keeps some.")));
	next = 0;
	for (int64 i = 0; i < n; i++)
	{
		if (held[i])
			continue;
		if (i != next)
		{
			/* row i moves up to next; the held row at next moves to i */
			SwapRows(data, i, next);
			held[i] = true;
			held[next] = false;
		}
		next++;
	}
	pfree(held);
	pfree(perm);
	return n_train;
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
 * ColumnInputs lists the positions in the network's input vector of the
 * named feature columns (a name is a feature column's, or a source
 * column's, which stands for every feature column reading it), for the
 * two parts of a wide & deep model.  NULL names mean every column, but
 * the linear part leaves embeddings to the DNN.
 */
static int *
ColumnInputs(const EstModelDef *def, const EstTransform *tf, char **names,
			 int n_names, const char *param, bool linear, int *n_inputs)
{
	int			width = EstTransformInputWidth(tf);
	int		   *inputs = palloc(Max(width, 1) * sizeof(int));
	int		   *start = palloc(Max(tf->n_columns, 1) * sizeof(int));
	bool	   *chosen = palloc0(Max(tf->n_columns, 1) * sizeof(bool));
	EstInputSegment *segs = palloc(Max(tf->n_columns, 1) * sizeof(EstInputSegment));
	int			n = 0;
	int			pos = 0;

	EstTransformSegments(tf, segs);
	for (int c = 0; c < tf->n_columns; c++)
	{
		start[c] = pos;
		pos += segs[c].kind == EST_INPUT_DENSE ? segs[c].slots :
			segs[c].kind == EST_INPUT_INDICATOR ? segs[c].buckets :
			segs[c].dimension;
	}
	for (int k = 0; k < (names ? n_names : tf->n_columns); k++)
	{
		bool		found = false;

		for (int c = 0; c < tf->n_columns; c++)
		{
			const EstFeatureColumn *fc = &tf->columns[c];
			bool		match = names == NULL ? c == k :
				strcmp(fc->name, names[k]) == 0;

			for (int j = 0; names != NULL && !match && j < fc->n_keys; j++)
				match = strcmp(fc->keys[j], names[k]) == 0;
			if (!match)
				continue;
			found = true;
			if (linear && segs[c].kind == EST_INPUT_EMBEDDING)
			{
				if (names == NULL)
					continue;
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("feature column \"%s\" of \"%s\" is an embedding",
								fc->name, param),
						 errdetail("Embeddings feed the DNN part of a wide & deep model."),
						 errhint("Feed the linear part the column as an indicator: leave out \"embedding_dimension\", or declare a second feature column.")));
			}
			chosen[c] = true;
		}
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of \"%s\" is not a feature of model \"%s\"",
							names[k], param, def->name)));
	}
	for (int c = 0; c < tf->n_columns; c++)
	{
		int			w = segs[c].kind == EST_INPUT_DENSE ? segs[c].slots :
			segs[c].kind == EST_INPUT_INDICATOR ? segs[c].buckets :
			segs[c].dimension;

		if (!chosen[c])
			continue;
		for (int j = 0; j < w; j++)
			inputs[n++] = start[c] + j;
	}
	*n_inputs = n;
	return inputs;
}

/*
 * EstSameColumns tells whether a column list of a wide & deep model, names
 * (NULL: params that leave the list out, every column), picks the inputs
 * that the network reads in that part, inputs.  It raises the errors of
 * ColumnInputs for names that no list of the model could hold.
 */
bool
EstSameColumns(const EstModelDef *def, const EstTransform *tf, char **names,
			   int n_names, const char *param, bool linear,
			   const int *inputs, int n_inputs)
{
	int		   *given;
	int			n_given;
	bool		same;

	given = ColumnInputs(def, tf, names, n_names, param, linear, &n_given);
	same = n_given == n_inputs &&
		(n_inputs == 0 || memcmp(given, inputs, n_inputs * sizeof(int)) == 0);
	pfree(given);
	return same;
}

/*
 * CheckSameColumns refuses a column list of a wide & deep model that a
 * later call gives differently from the one the model was made with.
 */
static void
CheckSameColumns(const EstModelDef *def, const EstTransform *tf, char **names,
				 int n_names, const char *param, bool linear,
				 const int *inputs, int n_inputs)
{
	if (n_names < 0)
		return;
	if (!EstSameColumns(def, tf, names, n_names, param, linear, inputs,
						n_inputs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s contradicts model \"%s\"", param, def->name),
				 errhint("Leave %s out to continue training, or drop the model with est_drop_model and train it anew.",
						 param)));
}

/*
 * InitCheckpoint builds the first checkpoint of a new model: its network,
 * initial weights, optimizer slots, its fitted feature transform and the
 * statistics of the targets of regressors.
 */
static void
InitCheckpoint(const EstModelDef *def, const EstOptions *opts,
			   EstTransform *tf, const EstData *data, int64 n_train,
			   const EstShard *shard, EstRng *rng, EstCheckpoint *ckpt)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstNetworkSpec spec;
	EstStatus	status;
	EstInputSegment *segments = palloc(Max(tf->n_columns, 1) *
									   sizeof(EstInputSegment));

	memset(ckpt, 0, sizeof(*ckpt));
	memset(&spec, 0, sizeof(spec));
	coremsg[0] = '\0';
	EstTransformSegments(tf, segments);
	spec.n_inputs = def->n_inputs;
	spec.n_segments = tf->n_columns;
	spec.segments = segments;
	spec.n_hidden = def->n_hidden;
	spec.hidden = def->hidden;
	spec.n_outputs = EstModelOutputs(def);
	spec.activation = def->activation;
	spec.head = EstModelHead(def);
	spec.reduction = opts->reduction ? opts->reduction :
		EST_REDUCE_SUM_OVER_BATCH_SIZE;
	spec.batch_norm = opts->batch_norm > 0;
	spec.dropout = opts->dropout > 0 ? opts->dropout : 0;
	if (EST_IS_COMBINED(def->type))
	{
		spec.dnn_inputs = ColumnInputs(def, tf, opts->dnn_columns,
									   opts->n_dnn_columns,
									   "dnn_feature_columns", false,
									   &spec.n_dnn_inputs);
		spec.linear_inputs = ColumnInputs(def, tf, opts->linear_columns,
										  opts->n_linear_columns,
										  "linear_feature_columns", true,
										  &spec.n_linear_inputs);
	}
	else if (opts->n_dnn_columns >= 0 || opts->n_linear_columns >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("linear_feature_columns and dnn_feature_columns belong to dnn_linear_combined models"),
				 errhint("Use features => to choose the columns of a %s.",
						 EstModelTypeName(def->type))));
	status = EstNetworkInit(&ckpt->net, &spec, rng, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "network");

	EstOptimizerDefaults(&ckpt->opt, def->optimizer);
	EstApplyHyperparameters(&ckpt->opt, &opts->opt, opts->opt_given);
	ckpt->opt.learning_rate = def->learning_rate;
	status = EstOptimizerInit(&ckpt->opt, ckpt->net.linear_offset, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "optimizer");
	if (ckpt->net.n_linear_inputs > 0)
	{
		EstOptimizerKind kind = opts->linear_optimizer ?
			opts->linear_optimizer : EST_OPT_FTRL;

		EstOptimizerDefaults(&ckpt->opt_linear, kind);
		EstApplyHyperparameters(&ckpt->opt_linear, &opts->linear_opt,
								opts->linear_opt_given);
		ckpt->opt_linear.learning_rate =
			EstDefaultLearningRate(kind, true, opts->n_linear_columns > 0 ?
								   opts->n_linear_columns : def->n_features);
		status = EstOptimizerInit(&ckpt->opt_linear,
								  ckpt->net.n_params - ckpt->net.linear_offset,
								  coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "linear optimizer");
	}

	/* the transform, fitted on the training rows, moves into the checkpoint */
	ckpt->transform = *tf;
	memset(tf, 0, sizeof(*tf));
	if (EST_IS_REGRESSOR(def->type))
	{
		status = EstFeatureStateInit(&ckpt->labels, def->label_dimension,
									 coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "label state");
		if (shard != NULL)
		{
			int			n_parts;
			const void *parts = EstShardLabelParts(shard, &n_parts);

			EstFeatureStateFitParts(&ckpt->labels, parts, n_parts);
		}
		else
			EstFeatureStateFit(&ckpt->labels, data->y, n_train);
	}
	ckpt->global_step = 0;
}

/*
 * MetricIsMaximised tells whether early stopping wants a metric high.
 */
static bool
MetricIsMaximised(const char *metric)
{
	return !(strcmp(metric, "loss") == 0 ||
			 strcmp(metric, "average_loss") == 0 ||
			 strcmp(metric, "mse") == 0 || strcmp(metric, "rmse") == 0 ||
			 strcmp(metric, "mae") == 0);
}

/*
 * Evaluate scores the evaluation rows (or source) with the current
 * weights and returns the metrics as jsonb; *value receives the metric
 * that early stopping watches.
 */
static Jsonb *
Evaluate(const EstModelDef *def, EstCheckpoint *ckpt, const EstData *eval,
		 EstWorkspace *ws, const char *metric, double *value)
{
	EstMetricSet set;

	EstScoreData(def, ckpt, ws, eval, &set);
	if (metric != NULL)
		*value = EstMetricSetValue(&set, metric);
	return EstMetricSetJsonb(&set);
}

/*
 * EstDataFingerprint hashes the rows of a data set as read (the encoded
 * features, the label and the weight of each row) into a number that does
 * not depend on their order: the sum, modulo 2^64, of a 64-bit hash of
 * each row.  Rows read again in another order give the same fingerprint;
 * one changed value gives another.
 */
uint64
EstDataFingerprint(const EstData *data)
{
	int			d = data->n_inputs;
	int			w = data->label_width;
	uint64		sum = 0;

	for (int64 i = 0; i < data->n_rows; i++)
		sum += RowHash(data->X + (size_t) i * d, d, data->y + (size_t) i * w, w,
					   data->w ? data->w[i] : 1.0f);
	return sum;
}

static void
StoreCheckpointBytes(const EstModelDef *def, int64 step, double loss,
					 const uint8_t *buf, size_t len, int keep,
					 const EstLineage *lineage)
{
	bytea	   *data;

	if (len > MaxAllocSize - VARHDRSZ)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("checkpoint of model \"%s\" is too large", def->name),
				 errdetail("It needs %zu bytes, a bytea value holds at most %zu.",
						   len, (size_t) (MaxAllocSize - VARHDRSZ))));
	data = palloc(len + VARHDRSZ);
	SET_VARSIZE(data, len + VARHDRSZ);
	memcpy(VARDATA(data), buf, len);
	EstCatalogStoreCheckpointLineage(def->name, step, loss, data, keep,
									 lineage);
	pfree(data);
}

/*
 * TransactionsWaitingForUs returns the virtual transaction ids of the
 * transactions that wait for this one to end (*n of them), in the current
 * memory context: while a procedure trains, those that want its model's
 * row.
 */
static VirtualTransactionId *
TransactionsWaitingForUs(int *n)
{
	TransactionId xid = GetTopTransactionIdIfAny();
	LOCKTAG		tag;
	LockData   *locks;
	VirtualTransactionId *waiters;

	*n = 0;
	if (!TransactionIdIsValid(xid))
		return NULL;
	SET_LOCKTAG_TRANSACTION(tag, xid);
	if (!LockHasWaiters(&tag, ExclusiveLock, false))
		return NULL;
	locks = GetLockStatusData();
	waiters = palloc(Max(locks->nelements, 1) * sizeof(VirtualTransactionId));
	for (int i = 0; i < locks->nelements; i++)
	{
		LockInstanceData *lock = &locks->locks[i];

		if (lock->waitLockMode == NoLock || lock->pid == MyProcPid ||
			lock->locktag.locktag_type != LOCKTAG_TRANSACTION ||
			lock->locktag.locktag_field1 != xid)
			continue;
		waiters[*n].backendId = lock->backend;
		waiters[*n].localTransactionId = lock->lxid;
		if (VirtualTransactionIdIsValid(waiters[*n]))
			(*n)++;
	}
	return waiters;
}

/*
 * CommitCheckpoint commits the transaction of a procedure call after it
 * stored a checkpoint, so that a cancel or a crash loses at most one
 * save_checkpoints_steps interval, then takes the model's lock again.
 * Everything training keeps lives in the SPI procedure context, below the
 * portal's, which the commit leaves alone.
 *
 * A transaction that waited for the model's row (a deploy, a drop, a
 * training) wakes at the commit only to find the row locked anew, and
 * would wait for the whole call; so, unless nowait, the call first waits
 * for the transactions that waited for it to end.  If another session
 * trained the model meanwhile, this call cannot go on; nor if the caller
 * lost the privilege to train it (est_revoke between the commits).
 */
static void
CommitCheckpoint(const EstModelDef *def, const TrainPlan *plan, int64 step)
{
	int64		now;
	VirtualTransactionId *waiters = NULL;
	int			n_waiters = 0;

	if (!plan->nowait)
		waiters = TransactionsWaitingForUs(&n_waiters);
	SPI_commit();
	for (int i = 0; i < n_waiters; i++)
		VirtualXactLock(waiters[i], true);
	if (waiters != NULL)
		pfree(waiters);
	EnsurePortalSnapshotExists();
	now = EstCatalogRelockModel(def->name, plan->nowait);
	if (now < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("model \"%s\" was dropped during training", def->name)));
	if (now != step)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("model \"%s\" was trained by a concurrent transaction",
						def->name),
				 errdetail("This call committed step " INT64_FORMAT ", the model is now at step " INT64_FORMAT ".",
						   step, now),
				 errhint("Call est_train_procedure again to continue from step " INT64_FORMAT ".",
						 now)));
	/* the owner may have revoked the caller's privilege meanwhile */
	EstCatalogCheckPrivilege(EstCatalogGetModel(def->name, false, false),
							 EST_PRIV_TRAIN, "train");
}

/* AllFinite tells whether none of n floats is NaN or infinite. */
static bool
AllFinite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(v[i]) || isinf(v[i]))
			return false;
	return true;
}

/*
 * EncodeCheckpoint checks that training did not diverge, then encodes.
 */
static void
EncodeCheckpoint(const EstModelDef *def, const EstCheckpoint *ckpt,
				 uint8_t **buf, size_t *len)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	if (!AllFinite(ckpt->net.params, ckpt->net.n_params))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("training of model \"%s\" diverged", def->name),
				 errdetail("A weight became NaN or infinite; no checkpoint was stored."),
				 errhint("Lower the learning_rate.")));
	/* an accumulator of squared gradients overflows before the weights */
	for (int part = 0; part < 2; part++)
	{
		const EstOptimizer *opt = part == 0 ? &ckpt->opt : &ckpt->opt_linear;

		for (int s = 0; s < opt->n_slots; s++)
			if (opt->slot[s] != NULL && !AllFinite(opt->slot[s], opt->n))
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("training of model \"%s\" diverged", def->name),
						 errdetail("A state of the optimizer became NaN or infinite; no checkpoint was stored."),
						 errhint("Lower the learning_rate, or scale down the features, labels or example weights.")));
	}
	coremsg[0] = '\0';
	status = EstCheckpointEncode(ckpt, buf, len, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "checkpoint");
}

/*
 * StartEpoch draws the permutation of a new epoch from the model's rng,
 * remembering the rng state that drew it.
 */
static void
StartEpoch(EstCheckpoint *ckpt, uint32 *perm, int64 n)
{
	for (int64 i = 0; i < n; i++)
		perm[i] = (uint32) i;
	ckpt->epoch.rng = ckpt->rng;
	ckpt->epoch.position = 0;
	ckpt->epoch.n_rows = (uint64) n;
	EstRngShuffle(&ckpt->rng, perm, n);
}

/*
 * ResumeEpoch redraws the permutation of the epoch a checkpoint stopped
 * in, when the rows are the same in number; otherwise it starts anew.
 */
static void
ResumeEpoch(EstCheckpoint *ckpt, uint32 *perm, int64 n)
{
	EstRng		rng = ckpt->epoch.rng;

	if (ckpt->epoch.n_rows != (uint64) n || ckpt->epoch.position > (uint64) n)
	{
		StartEpoch(ckpt, perm, n);
		return;
	}
	for (int64 i = 0; i < n; i++)
		perm[i] = (uint32) i;
	EstRngShuffle(&rng, perm, n);
}

/*
 * A source streamed through a shuffle buffer, as tf.data's
 * shuffle(buffer_size).repeat(): each epoch scans the source again, rows
 * enter a buffer of cap rows, and each row a step takes is a random one of
 * the buffer, whose place the next row of the scan takes.  When the scan
 * ends the buffer drains, then the next epoch begins.  Rows are encoded
 * and normalised (and a regressor's targets standardised) as they enter.
 */
struct TrainStream
{
	const char *source;			/* a query, or the table's qualified name */
	Oid			relid;			/* the table, as the call resolved it */
	EstReadSpec spec;
	EstColumn  *features;
	int			n_features;
	EstCheckpoint *ckpt;
	const EstModelDef *def;
	bool		regressor;
	EstReader  *reader;			/* NULL between scans */
	MemoryContext scan_context; /* the reader's memory, emptied each scan */
	int			d;
	int			lw;
	int64		cap;			/* the buffer's rows */
	int64		n;
	float	   *X;
	float	   *y;
	float	   *w;				/* NULL: unweighted */
	float	   *bX;				/* the block read last */
	float	   *by;
	float	   *bw;
	int			b_n;
	int			b_pos;
};

#define EST_STREAM_BLOCK	1000

/* how many rows ahead a step's gather asks for a row's cache lines */
#define EST_PREFETCH_ROWS	8

/*
 * StreamOpen prepares to stream the source of a model with a buffer of
 * cap rows: a query, or the qualified name of relid, the table that the
 * call read first, which each epoch reads again (and checks that it does,
 * a schema may have been renamed).
 */
static TrainStream *
StreamOpen(const char *source, Oid relid, const EstModelDef *def,
		   EstCheckpoint *ckpt, int64 cap)
{
	TrainStream *st = palloc0(sizeof(TrainStream));
	bool		weighted = def->weight_column != NULL;

	st->source = source;
	st->relid = relid;
	st->def = def;
	st->ckpt = ckpt;
	st->regressor = EST_IS_REGRESSOR(def->type);
	st->features = def->features;
	st->n_features = def->n_features;
	st->spec.label = def->label;
	st->spec.weight = def->weight_column;
	st->spec.label_kind = st->regressor ? EST_LABEL_VALUE :
		def->n_label_vocabulary > 0 ? EST_LABEL_VOCABULARY : EST_LABEL_CLASS;
	st->spec.label_width = st->regressor ? def->label_dimension : 1;
	st->spec.n_vocabulary = def->n_label_vocabulary;
	st->spec.vocabulary = def->label_vocabulary;
	st->spec.transform = &ckpt->transform;
	st->d = def->n_inputs;
	st->lw = st->regressor ? def->label_dimension : 1;
	st->cap = Max(cap, 1);
	st->X = MemoryContextAllocHuge(CurrentMemoryContext,
								   mul_size(st->cap, st->d * sizeof(float)) + 1);
	st->y = MemoryContextAllocHuge(CurrentMemoryContext,
								   mul_size(st->cap, st->lw * sizeof(float)) + 1);
	st->w = weighted ? MemoryContextAllocHuge(CurrentMemoryContext,
											  mul_size(st->cap, sizeof(float))) : NULL;
	st->bX = palloc(mul_size(EST_STREAM_BLOCK, st->d * sizeof(float)) + 1);
	st->by = palloc(mul_size(EST_STREAM_BLOCK, st->lw * sizeof(float)) + 1);
	st->bw = weighted ? palloc(EST_STREAM_BLOCK * sizeof(float)) : NULL;
	st->scan_context = AllocSetContextCreate(CurrentMemoryContext,
											 "estimator stream scan",
											 ALLOCSET_DEFAULT_SIZES);
	return st;
}

/*
 * StreamTake points at the next row of the scan; false at its end.
 */
static bool
StreamTake(TrainStream *st, float **x, float **y, float **w)
{
	if (st->b_pos == st->b_n)
	{
		if (st->reader == NULL)
			return false;
		CHECK_FOR_INTERRUPTS();
		st->b_n = EstReaderNext(st->reader, st->bX, st->by, st->bw,
								EST_STREAM_BLOCK);
		st->b_pos = 0;
		if (st->b_n == 0)
		{
			EstReaderClose(st->reader);
			st->reader = NULL;
			return false;
		}
		EstTransformApply(&st->ckpt->transform, st->bX, st->b_n);
		if (st->regressor)
			EstFeatureStateApply(&st->ckpt->labels, st->by, st->b_n);
		else
			for (int i = 0; i < st->b_n; i++)
				if ((int) st->by[i] >= st->def->n_classes)
					EstCheckLabel((int64) st->by[i], st->def->n_classes,
								  st->def->label);
	}
	*x = st->bX + (size_t) st->b_pos * st->d;
	*y = st->by + (size_t) st->b_pos * st->lw;
	*w = st->bw ? st->bw + st->b_pos : NULL;
	st->b_pos++;
	return true;
}

static void
StreamPut(TrainStream *st, int64 j, const float *x, const float *y,
		  const float *w)
{
	memcpy(st->X + j * st->d, x, st->d * sizeof(float));
	memcpy(st->y + j * st->lw, y, st->lw * sizeof(float));
	if (st->w)
		st->w[j] = *w;
}

/*
 * StreamNext copies the next training row into x, y and w.
 */
static void
StreamNext(TrainStream *st, float *x, float *y, float *w)
{
	float	   *ix;
	float	   *iy;
	float	   *iw;
	int64		j;

	if (st->n == 0)
	{
		/*
		 * a new epoch: scan the source again and fill the buffer, with the
		 * reader in memory that the next scan empties (or an epoch of
		 * thousands would keep a reader each)
		 */
		MemoryContext old;

		MemoryContextReset(st->scan_context);
		old = MemoryContextSwitchTo(st->scan_context);
		st->reader = EstReaderOpen(st->source, &st->spec, st->features,
								   st->n_features, false);
		MemoryContextSwitchTo(old);
		if (OidIsValid(st->relid))
			EstReaderCheckRelation(st->reader, st->relid);
		st->b_n = st->b_pos = 0;
		while (st->n < st->cap && StreamTake(st, &ix, &iy, &iw))
			StreamPut(st, st->n++, ix, iy, iw);
		if (st->n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("source \"%s\" returned no rows", st->source),
					 errhint("Training needs at least one labelled row.")));
	}
	j = (int64) EstRngBounded(&st->ckpt->rng, (uint64) st->n);
	memcpy(x, st->X + j * st->d, st->d * sizeof(float));
	memcpy(y, st->y + j * st->lw, st->lw * sizeof(float));
	if (w != NULL)
		*w = st->w[j];
	if (StreamTake(st, &ix, &iy, &iw))
		StreamPut(st, j, ix, iy, iw);
	else
	{
		st->n--;
		if (j != st->n)
			StreamPut(st, j, st->X + st->n * st->d, st->y + st->n * st->lw,
					  st->w ? &st->w[st->n] : NULL);
	}
}

static void
StreamClose(TrainStream *st)
{
	if (st->reader != NULL)
		EstReaderClose(st->reader);
	st->reader = NULL;
}

/*
 * EstStepRowsInit points rows at the training rows and allocates the
 * scratch for the rows a step gathers (all of a batch's, or with a team
 * this member's share, EstTeamStepRows, of the rows it holds,
 * EstTeamHeld); it redraws the order of the epoch the
 * checkpoint stands in (or starts one).
 */
void
EstStepRowsInit(EstStepRows *rows, EstCheckpoint *ckpt, const EstStepPlan *sp,
				const float *X, const float *y, const float *w, EstTeam *team)
{
	int			share = team != NULL ?
		EstTeamStepRows(team, sp->batch_size) : sp->batch_size;

	share = Max(share, 1);
	rows->stream = NULL;
	rows->X = X;
	rows->y = y;
	rows->w = w;
	rows->perm = MemoryContextAllocHuge(CurrentMemoryContext,
										mul_size(sp->n_train, sizeof(uint32)));
	ResumeEpoch(ckpt, rows->perm, sp->n_train);
	rows->Xb = palloc(mul_size(share, sp->n_inputs * sizeof(float)));
	rows->yb = palloc(mul_size(share, sp->label_width * sizeof(float)));
	rows->wb = w ? palloc(mul_size(share, sizeof(float))) : NULL;
	rows->first = 0;
	rows->n_own = -1;
	if (team != NULL)
		EstTeamHeld(team, &rows->first, &rows->n_own);
}

/*
 * EstTrainStep runs one mini-batch step and returns its loss (the
 * regularisation penalty included).  The batch is the next batch_size
 * rows of the epoch's order; with a team, this process computes the
 * gradient of its share of them only (a contiguous slice of the batch, or
 * when it holds some of the rows only, the batch's rows it holds), and
 * EstTeamReduce adds the shares up, so that every member applies the same
 * update.  When the loss is not finite nothing is applied: the caller
 * reports it.
 */
double
EstTrainStep(EstCheckpoint *ckpt, EstWorkspace *ws, EstStepRows *rows,
			 const EstStepPlan *sp, EstTeam *team)
{
	int			d = sp->n_inputs;
	int			lw = sp->label_width;
	int			lo = 0;
	int			hi = sp->batch_size;
	bool		held = rows->n_own >= 0;
	int64		n_held = held ? rows->n_own : sp->n_train;
	int			n = 0;
	double		weight_sum = 0;
	double		loss;
	float	   *grad = ws->grad;	/* the workspace's, for the team's sum */

	if (team != NULL && !held)
		EstTeamShare(team, sp->batch_size, &lo, &hi);
	for (int b = 0; rows->stream != NULL && b < sp->batch_size; b++)
	{
		StreamNext(rows->stream, rows->Xb + (size_t) b * d,
				   rows->yb + (size_t) b * lw, rows->wb ? &rows->wb[b] : NULL);
		weight_sum += rows->wb ? (double) rows->wb[b] : 1.0;
		n++;
	}
	for (int b = 0; rows->stream == NULL && b < sp->batch_size; b++)
	{
		int64		row;

		if (ckpt->epoch.position == (uint64) sp->n_train)
			StartEpoch(ckpt, rows->perm, sp->n_train);
		row = (int64) rows->perm[ckpt->epoch.position++] - rows->first;
		weight_sum += rows->w ? (double) rows->w[row] : 1.0;

		/*
		 * The rows are random rows of a matrix larger than the caches:
		 * ask for the cache lines of the row this member copies
		 * EST_PREFETCH_ROWS entries later now (every line it spans, and
		 * its label's and weight's), so that its copy does not wait for
		 * memory.  A member of a shard asks at every entry, its own or
		 * not, so that each of its rows is asked for.
		 */
		if (b + EST_PREFETCH_ROWS >= lo && b + EST_PREFETCH_ROWS < hi &&
			ckpt->epoch.position + EST_PREFETCH_ROWS <= (uint64) sp->n_train)
		{
			int64		ahead = (int64) rows->perm[ckpt->epoch.position +
												   EST_PREFETCH_ROWS - 1] -
				rows->first;

			if (ahead >= 0 && ahead < n_held)
			{
				const float *xa = rows->X + (size_t) ahead * d;
				uintptr_t	line = (uintptr_t) xa & ~(uintptr_t) 63;
				uintptr_t	end = (uintptr_t) (xa + d);

				for (; line < end; line += 64)
					__builtin_prefetch((const void *) line);
				__builtin_prefetch(rows->y + (size_t) ahead * lw);
				if (rows->w != NULL)
					__builtin_prefetch(rows->w + ahead);
			}
		}
		if (b < lo || b >= hi || row < 0 || row >= n_held)
			continue;
		memcpy(rows->Xb + (size_t) n * d, rows->X + (size_t) row * d,
			   d * sizeof(float));
		memcpy(rows->yb + (size_t) n * lw, rows->y + (size_t) row * lw,
			   lw * sizeof(float));
		if (rows->wb != NULL)
			rows->wb[n] = rows->w[row];
		n++;
	}

	if (sp->has_schedule)
	{
		ckpt->opt.learning_rate =
			EstScheduleRate(&sp->schedule, sp->learning_rate,
							ckpt->global_step);
		ckpt->opt_linear.learning_rate =
			EstScheduleRate(&sp->schedule, sp->linear_learning_rate,
							ckpt->global_step);
	}

	/* a member writes its share's gradient where the team sums them */
	if (team != NULL)
		ws->grad = EstTeamGradient(team);
	if (n > 0)
	{
		EstNetworkForwardTrain(&ckpt->net, ws, rows->Xb, n, &ckpt->rng);
		loss = EstHeadLossOver(&ckpt->net, ws, rows->yb, rows->wb, n, 1,
							   EstLossDenominator(ckpt->net.reduction,
												  sp->batch_size, weight_sum));
		EstNetworkBackward(&ckpt->net, ws, rows->Xb, n);
	}
	else
	{
		/* a member that holds none of the batch's rows adds nothing */
		memset(ws->grad, 0, ckpt->net.n_params * sizeof(float));
		loss = 0;
	}
	if (team != NULL)
	{
		ws->grad = grad;
		loss = EstTeamReduce(team, grad, ckpt->net.n_params, loss);
		if (EstTeamStopped(team))
			return NAN;
	}
	if (sp->l1 > 0 || sp->l2 > 0)
	{
		loss += EstNetworkPenalty(&ckpt->net, sp->l1, sp->l2);
		EstNetworkPenaltyGrad(&ckpt->net, ws, sp->l1, sp->l2);
	}
	if (isnan(loss) || isinf(loss))
		return loss;
	if (sp->clip_norm > 0)
		EstClipByGlobalNorm(ws->grad, ckpt->net.n_params, sp->clip_norm);
	EstOptimizerApply(&ckpt->opt, ckpt->net.params, ws->grad);
	if (ckpt->net.n_linear_inputs > 0)
		EstOptimizerApply(&ckpt->opt_linear,
						  ckpt->net.params + ckpt->net.linear_offset,
						  ws->grad + ckpt->net.linear_offset);
	ckpt->global_step++;
	return loss;
}

/*
 * ParallelWorkers returns the parallel workers a call trains with: the
 * params' parallel_workers, else estimator.parallel_workers, unless the
 * call needs what only one backend does (a NOTICE then says why).  The
 * workers share every batch and the same update, so what one backend
 * does alone is what depends on the order of random draws or writes the
 * catalog between steps.
 */
static int
ParallelWorkers(const TrainPlan *plan, const EstCheckpoint *ckpt)
{
	int			n = RequestedWorkers(&plan->opts);
	const char *why = NULL;

	if (n == 0)
		return 0;
	if (plan->commit)
		why = "est_train_procedure commits between steps";
	else if (plan->stream != NULL)
		why = "The source does not fit in estimator.max_memory, and one backend streams it";
	else if (plan->save_every > 0)
		why = "save_checkpoints_steps stores checkpoints between steps";
	else if (ckpt->net.batch_norm)
		why = "Batch normalisation needs the statistics of the whole batch";
	else if (ckpt->net.dropout > 0)
		why = "Dropout draws its masks from the model's random stream";
	if (why != NULL)
	{
		ereport(NOTICE,
				(errmsg("training in one backend without parallel workers"),
				 errdetail("%s.", why)));
		return 0;
	}
	return n;
}

static void WriteLogs(const EstModelDef *def, HeldLogs *logs);

/*
 * the log rows that one insert writes at most: a call without parallel
 * workers writes them as they reach this many, so that held rows stay
 * small whatever log_step_count_steps
 */
#define EST_LOG_ROWS_AT_ONCE	10000

/*
 * HoldLog keeps a training_log row of the step just logged, with the time
 * it was logged, for WriteLogs.  Without parallel workers (team NULL),
 * EST_LOG_ROWS_AT_ONCE held rows are written at once; with them, nothing
 * can be written before they end.
 */
static void
HoldLog(const EstModelDef *def, HeldLogs *logs, const EstTeam *team,
		int64 step, double loss, double seconds, Jsonb *metrics)
{
	EstLogRow  *row;

	if (team == NULL && logs->n >= EST_LOG_ROWS_AT_ONCE)
		WriteLogs(def, logs);
	if (logs->n == logs->size)
	{
		logs->size = Max(16, logs->size * 2);
		logs->rows = logs->rows == NULL ?
			palloc((Size) logs->size * sizeof(EstLogRow)) :
			repalloc_huge(logs->rows, (Size) logs->size * sizeof(EstLogRow));
	}
	row = &logs->rows[logs->n++];
	row->step = step;
	row->loss = loss;
	row->seconds = seconds;
	row->metrics = metrics;
	row->logged_at = GetCurrentTimestamp();
}

/*
 * WriteLogs inserts the rows HoldLog kept, EST_LOG_ROWS_AT_ONCE at most in
 * one statement.
 */
static void
WriteLogs(const EstModelDef *def, HeldLogs *logs)
{
	for (int64 i = 0; i < logs->n; i += EST_LOG_ROWS_AT_ONCE)
		EstCatalogLogRows(def->name, logs->rows + i,
						  (int) Min(EST_LOG_ROWS_AT_ONCE, logs->n - i));
	logs->n = 0;
}

/*
 * RunSteps trains for plan->steps mini-batches over the first n_train
 * rows of data, evaluating on eval (when not NULL) as the plan says.  It
 * returns the encoded checkpoint to store: the last one, or the best one
 * under early stopping.
 */
static void
RunSteps(const EstModelDef *def, EstCheckpoint *ckpt, const EstData *data,
		 int64 n_train, const float *y_train, const EstData *eval,
		 const TrainPlan *plan, EstWorkspace *ws, uint8_t **out,
		 size_t *out_len, int64 *out_step, Jsonb **out_metrics,
		 TrainScore *scored)
{
	const EstOptions *opts = &plan->opts;
	EstStepPlan sp;
	EstStepRows rows;
	EstTeam    *team = NULL;
	bool		team_stopped = false;
	HeldLogs	logs = {NULL, 0, 0};
	double		loss_sum = 0;
	int64		loss_count = 0;
	instr_time	log_start;
	double		loss_scale = 1;
	uint8_t    *best = NULL;
	size_t		best_len = 0;
	int64		best_step = -1;
	double		best_value = 0;
	Jsonb	   *best_metrics = NULL;
	Jsonb	   *last_metrics = NULL;
	int			bad_evals = 0;
	double		save_loss_sum = 0;
	int64		save_loss_count = 0;

	/* NOTICEs report regression losses in the units of the label */
	if (EST_IS_REGRESSOR(def->type))
	{
		double		sum = 0;

		for (int j = 0; j < ckpt->labels.n_inputs; j++)
			sum += ckpt->labels.scale[j] * ckpt->labels.scale[j];
		loss_scale = sum / Max(ckpt->labels.n_inputs, 1);
	}

	sp.batch_size = plan->batch_size;
	sp.n_train = n_train;
	sp.score_rows = plan->score_rows;
	sp.n_inputs = data->n_inputs;
	sp.label_width = data->label_width;
	sp.l1 = Max(opts->l1_regularization, 0);
	sp.l2 = Max(opts->l2_regularization, 0);
	sp.clip_norm = opts->clip_norm;
	sp.has_schedule = opts->has_schedule;
	sp.schedule = opts->schedule;
	sp.learning_rate = plan->learning_rate;
	sp.linear_learning_rate = plan->linear_learning_rate;

	/* parallel workers each take a share of every batch */
	if (plan->shard != NULL || plan->parallel_workers > 0)
	{
		uint8_t    *start;
		size_t		start_len;

		EncodeCheckpoint(def, ckpt, &start, &start_len);
		team = plan->shard != NULL ?
			EstTeamBeginShard(plan->shard, def, start, start_len,
							  ckpt->net.n_params, &sp, plan->steps, data) :
			EstTeamBegin(plan->parallel_workers, def, start, start_len,
						 ckpt->net.n_params, &sp, plan->steps, data->X,
						 y_train, data->y, data->w, plan->rows_seg);
		EstFree(start);
	}
	if (team != NULL)
		ereport(NOTICE,
				(errmsg_plural("training with %d parallel worker",
							   "training with %d parallel workers",
							   EstTeamSize(team) - 1,
							   EstTeamSize(team) - 1)));
	/* (a shard's weights are every member's, in the team's segment) */
	EstStepRowsInit(&rows, ckpt, &sp, data->X, y_train,
					plan->shard != NULL ? EstTeamWeights(team) : data->w, team);
	rows.stream = plan->stream;
	if (rows.stream != NULL)
	{
		/* no epoch of rows in memory to resume */
		ckpt->epoch.position = 0;
		ckpt->epoch.n_rows = 0;
	}

	INSTR_TIME_SET_CURRENT(log_start);
	for (int64 step = 0; step < plan->steps; step++)
	{
		double		loss;
		bool		last = (step == plan->steps - 1);
		bool		due_log;
		bool		due_eval;
		Jsonb	   *metrics = NULL;

		CHECK_FOR_INTERRUPTS();

		loss = EstTrainStep(ckpt, ws, &rows, &sp, team);
		if (isnan(loss) || isinf(loss))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("training of model \"%s\" diverged at step " INT64_FORMAT,
							def->name, ckpt->global_step + 1),
					 errdetail("The loss became %s; no checkpoint was stored.",
							   isnan(loss) ? "NaN" : "infinite"),
					 errhint("Lower the learning_rate.")));

		loss_sum += loss;
		loss_count++;
		save_loss_sum += loss;
		save_loss_count++;
		due_log = ckpt->global_step % plan->log_every == 0 || last;
		due_eval = eval != NULL &&
			(ckpt->global_step % plan->eval_every == 0 || last);
		if (due_eval)
		{
			double		value = 0;
			bool		stop = false;

			metrics = Evaluate(def, ckpt, eval, ws,
							   opts->has_early_stopping ? opts->es_metric : NULL,
							   &value);
			last_metrics = metrics;
			if (opts->has_early_stopping && !isnan(value))
			{
				bool		better = best_step < 0 ||
					(plan->eval_max ? value > best_value + opts->es_min_delta :
					 value < best_value - opts->es_min_delta);

				if (better)
				{
					if (best != NULL)
						EstFree(best);
					EncodeCheckpoint(def, ckpt, &best, &best_len);
					best_step = ckpt->global_step;
					best_metrics = metrics;
					best_value = value;
					bad_evals = 0;
				}
				else if (++bad_evals >= opts->es_patience)
					stop = true;
			}
			if (stop)
			{
				ereport(NOTICE,
						(errmsg("early stopping at step " INT64_FORMAT ": %s has not improved for %d evaluations, keeping step " INT64_FORMAT,
								ckpt->global_step, opts->es_metric,
								opts->es_patience, best_step)));
				due_log = true;
				last = true;
			}
		}
		if (due_log || due_eval)
		{
			double		seconds = ElapsedSeconds(log_start);
			double		mean = loss_sum / Max(loss_count, 1) * loss_scale;

			if (metrics != NULL)
				ereport(NOTICE,
						(errmsg("loss = %.4g, step = " INT64_FORMAT " (%.3f sec), eval: %s",
								mean, ckpt->global_step, seconds,
								JsonbToCString(NULL, &metrics->root,
											   VARSIZE(metrics)))));
			else
				ereport(NOTICE,
						(errmsg("loss = %.4g, step = " INT64_FORMAT " (%.3f sec)",
								mean, ckpt->global_step, seconds)));
			HoldLog(def, &logs, team, ckpt->global_step, mean, seconds,
					metrics);
			loss_sum = 0;
			loss_count = 0;
			INSTR_TIME_SET_CURRENT(log_start);
		}
		if (last)
		{
			/* early stopping: the workers wait for a step that will not come */
			if (team != NULL && step < plan->steps - 1)
			{
				EstTeamStop(team);
				team_stopped = true;
			}
			break;
		}

		/* save_checkpoints_steps: a checkpoint within the call */
		if (plan->save_every > 0 && ckpt->global_step % plan->save_every == 0)
		{
			EstLineage	lineage = plan->lineage;
			uint8_t    *buf;
			size_t		len;

			lineage.metrics = metrics;
			WriteLogs(def, &logs);
			EncodeCheckpoint(def, ckpt, &buf, &len);
			StoreCheckpointBytes(def, ckpt->global_step,
								 save_loss_sum / Max(save_loss_count, 1) * loss_scale,
								 buf, len, plan->keep, &lineage);
			EstFree(buf);
			save_loss_sum = 0;
			save_loss_count = 0;
			((EstModelDef *) def)->global_step = ckpt->global_step;
			EstCatalogUpdateModel(def);
			if (plan->commit)
				CommitCheckpoint(def, plan, ckpt->global_step);
		}
	}
	if (rows.stream != NULL)
		StreamClose(rows.stream);
	if (team != NULL)
	{
		/*
		 * The team scores the training rows when the weights it has are
		 * those stored (not an earlier best checkpoint); the catalog waits
		 * for its end.
		 */
		if (!team_stopped && (best == NULL || best_step == ckpt->global_step))
		{
			EstTeamScore(team, ckpt, ws, &scored->loss, &scored->accuracy);
			scored->done = true;
		}
		else if (!team_stopped)
			EstTeamStop(team);
		EstTeamEnd(team);
		if (plan->register_def != NULL)
			RegisterModel(plan->register_def, plan->reset_owner, plan->nowait);
	}
	WriteLogs(def, &logs);
	pfree(rows.perm);
	pfree(rows.Xb);
	pfree(rows.yb);

	if (best != NULL && best_step != ckpt->global_step)
	{
		*out = best;
		*out_len = best_len;
		*out_step = best_step;
		*out_metrics = best_metrics;
	}
	else
	{
		if (best != NULL)
			EstFree(best);
		EncodeCheckpoint(def, ckpt, out, out_len);
		*out_step = ckpt->global_step;
		*out_metrics = last_metrics;
	}
}

/*
 * ReportBadNetwork reports why the core refuses the network of def: too
 * many parameters (those of its embedding tables too), or another limit.
 */
static void
ReportBadNetwork(const EstModelDef *def, const EstNetworkSpec *spec)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status = EstNetworkCheck(spec, coremsg);
	char		what[64 + EST_MAX_NAME_LEN];

	if (status == EST_OK)
		elog(ERROR, "network of model \"%s\" has no parameter count",
			 def->name);
	snprintf(what, sizeof(what), "network of model \"%s\"", def->name);
	EstReportCoreError(status, coremsg, what);
}

/* the bytes a training takes for each row of data it holds */
#define TRAINING_ROW_BYTES(data) \
	(((data)->n_inputs + 2 * (data)->label_width + 2) * sizeof(float))

/*
 * TrainingBytes is what a training of def over the rows of data takes:
 * the rows, the model and its buffers (see CheckMemory).
 */
static Size
TrainingBytes(const EstModelDef *def, const EstTransform *tf,
			  const EstData *data, int batch_size)
{
	EstNetworkSpec spec;
	size_t		n_params;
	Size		bytes;
	EstInputSegment *segments = palloc(Max(tf->n_columns, 1) *
									   sizeof(EstInputSegment));

	EstTransformSegments(tf, segments);
	memset(&spec, 0, sizeof(spec));
	spec.n_inputs = def->n_inputs;
	spec.n_segments = tf->n_columns;
	spec.segments = segments;
	spec.n_hidden = def->n_hidden;
	spec.hidden = def->hidden;
	spec.n_outputs = EstModelOutputs(def);
	spec.activation = def->activation;
	spec.head = EstModelHead(def);
	n_params = EstNetworkParamCount(&spec);
	if (n_params == 0)
		ReportBadNetwork(def, &spec);

	/* weights, gradient, up to three slots, a linear part at most as large */
	bytes = mul_size(n_params, 2 * (2 + EST_MAX_SLOTS) * sizeof(float));
	for (int l = 0; l < def->n_hidden; l++)
		bytes = add_size(bytes,
						 mul_size((Size) Max(batch_size, EST_TRAIN_SCORE_BLOCK) *
								  6, def->hidden[l] * sizeof(float)));
	bytes = add_size(bytes,
					 mul_size((Size) Max(batch_size, EST_TRAIN_SCORE_BLOCK) * 2,
							  def->input_width * sizeof(float)));
	/* a hidden layer's kernel, transposed for its input gradient */
	bytes = add_size(bytes,
					 mul_size(EstTransposedFloats(def->hidden, def->n_hidden,
												  spec.n_outputs),
							  sizeof(float)));
	/* the logits and their gradients, and softmax's exponentials */
	bytes = add_size(bytes,
					 mul_size((Size) Max(batch_size, EST_TRAIN_SCORE_BLOCK) * 2,
							  spec.n_outputs * sizeof(float)));
	if (spec.head == EST_HEAD_SOFTMAX)
		bytes = add_size(bytes, mul_size(Max(EST_EXP_GROUP, spec.n_outputs),
										 sizeof(double)));
	bytes = add_size(bytes, mul_size(data->n_rows, TRAINING_ROW_BYTES(data)));
	/* scoring the training rows keeps a confusion matrix */
	bytes = add_size(bytes, mul_size(mul_size(def->n_classes, def->n_classes),
									 sizeof(double)));
	return bytes;
}

/*
 * CheckMemory refuses a training whose data and model would not fit in
 * estimator.max_memory, before allocating the model.
 */
static void
CheckMemory(const EstModelDef *def, const EstTransform *tf,
			const EstData *data, int batch_size)
{
	EstCheckMemory(TrainingBytes(def, tf, data, batch_size),
				   "the training data and the model");
}

/*
 * EvalWeighs tells whether evaluation rows have weight: without example
 * weights, or with some positive one.  Rows that weigh nothing make every
 * weighted metric 0/0.
 */
static bool
EvalWeighs(const EstData *eval)
{
	double		weight_sum = 0.0;

	if (eval->w == NULL)
		return true;
	for (int64 i = 0; i < eval->n_rows; i++)
		weight_sum += eval->w[i];
	return weight_sum > 0.0;
}

/*
 * ReadEvalSource reads the rows of eval_source, with the model's columns.
 */
static void
ReadEvalSource(const EstModelDef *def, EstTransform *tf, const char *source,
			   EstData *eval)
{
	EstReader  *reader;

	reader = EstReaderOpenLabelled(source, def, tf);
	ReadAll(reader, source, def->weight_column != NULL, eval, NULL);
	EstReaderClose(reader);
	EstTransformApply(tf, eval->X, eval->n_rows);
	if (eval->n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("eval_source \"%s\" returned no rows", source)));
	if (!EvalWeighs(eval))
		EstReportZeroWeight(def, source, "eval_source");
}

/*
 * JsonNumber prints a metric for jsonb: NaN and infinities become null.
 */
static char *
JsonNumber(double v)
{
	if (isnan(v) || isinf(v))
		return "null";
	return psprintf("%.17g", v);
}

/*
 * PromotionGate decides, after a call stored its checkpoint (the
 * candidate), whether the candidate or the checkpoint that served before
 * the call serves now (params' promote_if): it scores both on the gate's
 * rows, and keeps the old one when the candidate's metric does not beat
 * it by min_delta (a negative min_delta tolerates a small loss).  Serving
 * was pinned at the old step during training; a promotion moves the pin
 * to the candidate, or lets the newest serve again when nothing was
 * pinned before.  Both decisions are rows of estimator.deployments and of
 * estimator.training_log, and a NOTICE.
 */
static void
PromotionGate(const EstModelDef *def, EstCheckpoint *cand, EstWorkspace *ws,
			  const EstData *holdout, const TrainPlan *plan, int64 cand_step,
			  int64 gate_step, bool was_pinned, double loss)
{
	const EstOptions *opts = &plan->opts;
	const char *metric = opts->promote_metric;
	bool		pinned;
	int64		serving = EstCatalogServingStep(def->name, true, &pinned);
	EstData		gate_data;
	const EstData *data = holdout;
	EstCheckpoint old;
	EstMetricSet set;
	double		v_new;
	double		v_old;
	double		gain;
	bool		keep;
	StringInfoData detail;
	Jsonb	   *detail_jsonb;

	if (serving < 0 || serving == cand_step)
		return;
	/* a deploy while a procedure had committed counts as a pin */
	if (serving != gate_step)
		was_pinned = true;
	if (strcmp(opts->promote_source, "holdout") != 0)
	{
		ReadEvalSource(def, &cand->transform, opts->promote_source,
					   &gate_data);
		data = &gate_data;
	}
	EstScoreData(def, cand, ws, data, &set);
	v_new = EstMetricSetValue(&set, metric);
	EstLoadCheckpointAt(def, serving, true, &old);
	EstScoreData(def, &old, ws, data, &set);
	v_old = EstMetricSetValue(&set, metric);
	EstCheckpointFree(&old);

	gain = MetricIsMaximised(metric) ? v_new - v_old : v_old - v_new;
	keep = !(gain >= opts->promote_min_delta);

	initStringInfo(&detail);
	appendStringInfo(&detail, "{\"decision\": \"%s\", \"metric\": ",
					 keep ? "kept" : "promoted");
	escape_json(&detail, metric);
	appendStringInfoString(&detail, ", \"source\": ");
	escape_json(&detail, opts->promote_source);
	appendStringInfo(&detail,
					 ", \"rows\": " INT64_FORMAT ", \"min_delta\": %s"
					 ", \"candidate_step\": " INT64_FORMAT ", \"candidate\": %s"
					 ", \"serving_step\": " INT64_FORMAT ", \"serving\": %s}",
					 data->n_rows, JsonNumber(opts->promote_min_delta),
					 cand_step, JsonNumber(v_new), serving, JsonNumber(v_old));
	detail_jsonb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													  CStringGetDatum(detail.data)));

	if (keep)
	{
		EstCatalogSetServing(def->name, serving);
		EstCatalogRecordDeployment(def->name, serving, serving, "kept",
								   detail_jsonb);
		ereport(NOTICE,
				(errmsg("promote_if: model \"%s\" keeps serving step " INT64_FORMAT ", step " INT64_FORMAT " did not improve %s enough",
						def->name, serving, cand_step, metric),
				 errdetail("%s is %.4g at step " INT64_FORMAT " and %.4g at step " INT64_FORMAT ", min_delta is %g.",
						   metric, v_new, cand_step, v_old, serving,
						   opts->promote_min_delta)));
	}
	else
	{
		EstCatalogSetServing(def->name, was_pinned ? cand_step : -1);
		EstCatalogRecordDeployment(def->name, cand_step, serving, "promote",
								   detail_jsonb);
		ereport(NOTICE,
				(errmsg("promote_if: model \"%s\" serves step " INT64_FORMAT " instead of step " INT64_FORMAT,
						def->name, cand_step, serving),
				 errdetail("%s is %.4g at step " INT64_FORMAT " and %.4g at step " INT64_FORMAT ", min_delta is %g.",
						   metric, v_new, cand_step, v_old, serving,
						   opts->promote_min_delta)));
	}
	resetStringInfo(&detail);
	appendStringInfoString(&detail, "{\"promote_if\": ");
	appendStringInfoString(&detail, JsonbToCString(NULL, &detail_jsonb->root,
												   VARSIZE(detail_jsonb)));
	appendStringInfoChar(&detail, '}');
	EstCatalogLog(def->name, cand_step, loss, 0,
				  DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													 CStringGetDatum(detail.data))));
}

/*
 * SameInputs tells whether two models read the same input vector: the same
 * source columns in the same order and feature columns of the same names
 * and layout.  Their statistics and vocabularies may differ: each model
 * fits its own on its own rows.
 */
static bool
SameInputs(const EstModelDef *a, const EstCheckpoint *ca,
		   const EstModelDef *b, const EstCheckpoint *cb)
{
	if (a->n_features != b->n_features ||
		ca->transform.n_columns != cb->transform.n_columns ||
		ca->net.n_segments != cb->net.n_segments ||
		ca->net.input_width != cb->net.input_width)
		return false;
	for (int i = 0; i < a->n_features; i++)
		if (strcmp(a->features[i].name, b->features[i].name) != 0)
			return false;
	for (int c = 0; c < ca->transform.n_columns; c++)
		if (strcmp(ca->transform.columns[c].name,
				   cb->transform.columns[c].name) != 0 ||
			memcmp(&ca->net.segments[c], &cb->net.segments[c],
				   sizeof(EstInputSegment)) != 0)
			return false;
	return true;
}

/*
 * WarmStart copies into the first checkpoint of a new model the weights of
 * the serving checkpoint of another model, where they fit (TensorFlow's
 * WarmStartSettings): each dense layer whose kernel has the same shape (the
 * first only when both read the same input vector), the batch
 * normalisation of hidden layers of the same width, and the embedding of
 * each feature column of the same name and shape.  The new model keeps its
 * own feature transform, fitted on its rows, and a fresh optimizer.
 */
static void
WarmStart(const EstModelDef *def, EstCheckpoint *ckpt, const char *from)
{
	EstModelDef *src;
	EstCheckpoint sc;
	EstNetwork *a = &ckpt->net;
	EstNetwork *b;
	bool		same_inputs;
	int			layers = 0;
	int			embeddings = 0;

	if (strcmp(from, def->name) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" cannot warm start from itself", from),
				 errhint("Use reset => true to train it anew.")));
	src = EstCatalogGetModel(from, false, false);
	EstCatalogCheckPrivilege(src, EST_PRIV_PREDICT, "warm start from");
	EstLoadCheckpoint(src, false, &sc);
	b = &sc.net;
	same_inputs = SameInputs(def, ckpt, src, &sc);

	for (int l = 0; l < a->n_layers && l < b->n_layers; l++)
	{
		if (a->sizes[l] != b->sizes[l] || a->sizes[l + 1] != b->sizes[l + 1])
			continue;
		if (l == 0 && (!same_inputs || a->n_dnn_inputs != b->n_dnn_inputs ||
					   (a->n_dnn_inputs > 0 &&
						memcmp(a->dnn_inputs, b->dnn_inputs,
							   a->n_dnn_inputs * sizeof(int)) != 0)))
			continue;
		/* the output layer of one is not a hidden layer of the other */
		if ((l + 1 == a->n_layers) != (l + 1 == b->n_layers))
			continue;
		memcpy(a->params + a->offset_w[l], b->params + b->offset_w[l],
			   (size_t) a->sizes[l] * a->sizes[l + 1] * sizeof(float));
		memcpy(a->params + a->offset_b[l], b->params + b->offset_b[l],
			   (size_t) a->sizes[l + 1] * sizeof(float));
		if (a->batch_norm && b->batch_norm && l + 1 < a->n_layers)
		{
			int			h = l + 1;

			memcpy(a->params + a->offset_gamma[h], b->params + b->offset_gamma[h],
				   (size_t) a->sizes[h] * sizeof(float));
			memcpy(a->params + a->offset_beta[h], b->params + b->offset_beta[h],
				   (size_t) a->sizes[h] * sizeof(float));
			memcpy(a->stats + a->offset_stats[h], b->stats + b->offset_stats[h],
				   2 * (size_t) a->sizes[h] * sizeof(float));
		}
		layers++;
	}
	for (int c = 0; c < ckpt->transform.n_columns && c < a->n_segments; c++)
	{
		const EstInputSegment *sa = &a->segments[c];

		if (sa->kind != EST_INPUT_EMBEDDING)
			continue;
		for (int k = 0; k < sc.transform.n_columns && k < b->n_segments; k++)
		{
			const EstInputSegment *sb = &b->segments[k];

			if (sb->kind != EST_INPUT_EMBEDDING ||
				strcmp(ckpt->transform.columns[c].name,
					   sc.transform.columns[k].name) != 0 ||
				sa->buckets != sb->buckets || sa->dimension != sb->dimension)
				continue;
			memcpy(a->params + a->offset_embed[c],
				   b->params + b->offset_embed[k],
				   (size_t) sa->buckets * sa->dimension * sizeof(float));
			embeddings++;
		}
	}
	ereport(NOTICE,
			(errmsg("model \"%s\" warm starts from step " INT64_FORMAT " of model \"%s\": %d of %d dense layers, %d embeddings",
					def->name, sc.global_step, from, layers, a->n_layers,
					embeddings),
			 same_inputs ? 0 :
			 errdetail("The first layer starts anew: the models read different feature columns.")));
	EstCheckpointFree(&sc);
}

/*
 * CheckStoredEvalSource refuses a call that would evaluate on the
 * eval_source that the model's creating call stored, unless the caller
 * has no privilege that the owner lacks.  That source is SQL (a query, or
 * a relation whose view may call functions) that the owner wrote and the
 * caller did not see, and it runs with the caller's rights: a train
 * grantee, a superuser or a superuser's scheduled job would run the
 * owner's functions as themselves.  call holds the call's own params.
 */
static void
CheckStoredEvalSource(const EstModelDef *def, const EstOptions *call)
{
	EstOptions	stored;

	if (call->eval_fraction > 0 || call->eval_source != NULL)
		return;
	EstParseParams(def->params, &stored);
	if (stored.eval_source == NULL ||
		has_privs_of_role(def->owner, GetUserId()))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to evaluate model \"%s\" on its stored eval_source",
					def->name),
			 errdetail("The owner of the model gave eval_source \"%s\", which would run with the privileges of role \"%s\".",
					   stored.eval_source,
					   GetUserNameFromId(GetUserId(), false)),
			 errhint("Give eval_source or eval_fraction in params.")));
}

/*
 * CheckResetEvalSource refuses a reset whose own params give an
 * eval_source, unless the caller has the privileges of the model's owner.
 * A reset stores its params in the model, and CheckStoredEvalSource lets
 * the owner (and the owner's scheduled job) run the stored eval_source:
 * a train grantee's reset would leave SQL of its choosing to run with the
 * owner's rights at the owner's next training.
 */
static void
CheckResetEvalSource(const EstModelDef *def, const EstOptions *call)
{
	if (call->eval_source == NULL ||
		has_privs_of_role(GetUserId(), def->owner))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to store an eval_source in model \"%s\"",
					def->name),
			 errdetail("A reset stores its params in the model, and a stored eval_source runs with the privileges of whoever trains the model next, its owner included."),
			 errhint("Give eval_fraction in params, or ask the owner of the model to reset it.")));
}

/*
 * ResetRequest makes a call with reset => true train the model anew with
 * its stored definition: the model's type, label, features, hidden units,
 * optimizer, learning rate, batch size and params, where the call's
 * params add to or override the stored ones.
 */
static void
ResetRequest(EstTrainRequest *req, const EstModelDef *def)
{
	req->model_type = def->type;
	req->label = def->label;
	req->n_hidden = def->n_hidden;
	memcpy(req->hidden, def->hidden, def->n_hidden * sizeof(int));
	req->optimizer = def->optimizer;
	if (req->learning_rate == 0)
		req->learning_rate = def->learning_rate;
	if (req->batch_size == 0)
		req->batch_size = def->batch_size;
	if (def->params != NULL)
	{
		Datum		stored = JsonbPGetDatum(def->params);

		/*
		 * The call's evaluation rows replace the stored ones, as in a
		 * training without reset (EstMergeOptions): its eval_fraction and
		 * a stored eval_source were "cannot both be given".
		 */
		if (req->opts.eval_fraction > 0 || req->opts.eval_source != NULL)
		{
			stored = DirectFunctionCall2(jsonb_delete, stored,
										 CStringGetTextDatum("eval_fraction"));
			stored = DirectFunctionCall2(jsonb_delete, stored,
										 CStringGetTextDatum("eval_source"));
		}
		req->params = req->params == NULL ? DatumGetJsonbP(stored) :
			DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, stored,
											   JsonbPGetDatum(req->params)));
		EstParseParams(req->params, &req->opts);
	}
	if (req->opts.n_feature_columns < 0)
	{
		req->n_features = def->n_features;
		req->features = palloc(Max(def->n_features, 1) * sizeof(char *));
		for (int i = 0; i < def->n_features; i++)
			req->features[i] = def->features[i].name;
	}
}

/*
 * TrainModel does the work of est_train inside an SPI connection; with
 * commit (a CALL of est_train_procedure outside a transaction block), it
 * commits after each checkpoint.
 */
static void
TrainModel(EstTrainRequest *req, TrainResult *result, bool commit)
{
	EstModelDef *def;
	EstReader  *reader;
	char	   *source_table;
	Oid			source_relid;
	EstReadSpec spec;
	EstTransform tf;
	char	  **vocabulary = NULL;
	int			n_vocabulary = 0;
	EstColumn  *features = NULL;
	int			n_features = 0;
	bool		infer = false;
	bool		created = false;
	bool		regressor;
	EstData		data;
	EstData		eval_data;
	EstData    *eval = NULL;
	int64		n_train;
	float	   *y_train;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	TrainPlan	plan;
	EstOptions	stored;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	uint8_t    *buf;
	size_t		len;
	int64		stored_step;
	Jsonb	   *stored_metrics;
	int64		trained_step;
	EstMetricSet set;
	TrainScore	scored;
	SourceStream stream;
	int64		gate_step = -1;
	bool		gate_pinned = false;
	Oid			reset_owner = InvalidOid;
	int			score_rows;
	EstShard   *shard = NULL;
	int64		n_rows;			/* of all members of a shard */
	int64		newer_step = -1;

	def = EstCatalogGetModelForUpdate(req->model, req->nowait, true);
	if (def != NULL && req->reset)
	{
		/* reset: forget the history, train anew as the definition says */
		EstCatalogCheckPrivilege(def, EST_PRIV_TRAIN, "reset");
		CheckStoredEvalSource(def, &req->opts);
		CheckResetEvalSource(def, &req->opts);
		EstCheckCompatible(def, req);
		ResetRequest(req, def);
		EstCatalogResetModel(def->name);
		reset_owner = def->owner;
		def = NULL;
	}
	if (def != NULL && req->warm_start_from != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("warm_start_from applies to a new model, and model \"%s\" exists",
						def->name),
				 errhint("Add reset => true to train it anew from the weights of \"%s\".",
						 req->warm_start_from)));
	if (def != NULL)
	{
		EstCatalogCheckPrivilege(def, EST_PRIV_TRAIN, "train");
		CheckStoredEvalSource(def, &req->opts);
		EstCheckCompatible(def, req);
		features = def->features;
		n_features = def->n_features;

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
	}
	else if (req->opts.n_feature_columns >= 0)
	{
		if (req->n_features >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("features and feature_columns cannot both be given"),
					 errhint("The feature columns name their source columns with \"key\".")));
		EstDeclaredSources(&req->opts, &features, &n_features);
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
	regressor = def ? EST_IS_REGRESSOR(def->type) :
		(req->model_type != 0 && EST_IS_REGRESSOR(req->model_type));
	if (def == NULL && !regressor && req->opts.label_dimension)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label_dimension belongs to regressors"),
				 errhint("Use n_classes for a classifier.")));
	if (def == NULL && regressor && req->opts.n_classes)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_classes belongs to classifiers"),
				 errhint("Use label_dimension for a regressor.")));
	if (def == NULL && regressor && req->opts.n_label_vocabulary >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label_vocabulary belongs to classifiers")));
	if (def == NULL && req->opts.n_label_vocabulary >= 0 &&
		req->opts.n_classes &&
		req->opts.n_classes != req->opts.n_label_vocabulary)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n_classes is %d, but label_vocabulary names %d classes",
						req->opts.n_classes, req->opts.n_label_vocabulary)));

	/* input_fn: read the source as the caller */
	memset(&spec, 0, sizeof(spec));
	spec.label = def ? def->label : (req->label ? req->label : "label");
	spec.weight = def ? def->weight_column : req->opts.weight_column;
	if (def != NULL)
	{
		spec.label_kind = regressor ? EST_LABEL_VALUE :
			def->n_label_vocabulary > 0 ? EST_LABEL_VOCABULARY :
			EST_LABEL_CLASS;
		spec.label_width = regressor ? def->label_dimension : 1;
		spec.n_vocabulary = def->n_label_vocabulary;
		spec.vocabulary = def->label_vocabulary;
		spec.transform = &ckpt.transform;
	}
	else if (regressor)
	{
		spec.label_kind = EST_LABEL_VALUE;
		spec.label_width = req->opts.label_dimension ?
			req->opts.label_dimension : -1;
	}
	else if (req->opts.n_label_vocabulary >= 0)
	{
		spec.label_kind = EST_LABEL_VOCABULARY;
		spec.n_vocabulary = req->opts.n_label_vocabulary;
		spec.vocabulary = req->opts.label_vocabulary;
	}
	else
	{
		/* integer class ids, or class names learned from the rows */
		spec.label_kind = EST_LABEL_CLASS;
		spec.learn_vocabulary = true;
	}
	reader = EstReaderOpen(req->source, &spec, features, n_features, infer);
	EstReaderColumns(reader, &features, &n_features);
	if (def == NULL)
	{
		EstBuildTransform(features, n_features, &req->opts, &tf);
		/* learned vocabularies share estimator.max_memory with the data */
		tf.learn_budget = (size_t) estimator_max_memory * 1024 / 2;
		EstReaderSetTransform(reader, &tf);
	}
	plan.rows_seg = NULL;
	plan.register_def = NULL;
	plan.reset_owner = InvalidOid;
	ReadSource(req, def, &ckpt, &spec, &reader, &data, &stream, commit,
			   &plan.rows_seg,
			   MayShard(req, def, &ckpt, &tf, commit) ? &shard : NULL);
	n_rows = shard != NULL ? EstShardRows(shard) : data.n_rows;
	if (n_rows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("source \"%s\" returned no rows", req->source),
				 errhint("Training needs at least one labelled row.")));
	if (def == NULL && !regressor)
	{
		if (spec.learn_vocabulary)
			EstReaderSortVocabulary(reader, data.y, data.n_rows);
		vocabulary = EstReaderVocabulary(reader, &n_vocabulary);
	}
	/* what a stream reads again: the table read, not what the name finds */
	source_table = stream.active ? EstReaderRelationName(reader) : NULL;
	source_relid = EstReaderRelation(reader);
	EstReaderClose(reader);

	/* lineage: what every checkpoint of this call is trained on */
	plan.lineage.source = req->source;
	plan.lineage.rows_read = stream.active ? stream.n_rows : n_rows;
	plan.lineage.fingerprint = stream.active ? stream.fingerprint :
		shard != NULL ? EstShardFingerprint(shard) : EstDataFingerprint(&data);
	plan.lineage.metrics = NULL;

	if (def == NULL)
	{
		float		max_label = 0;

		def = EstNewModelDef(req);
		def->features = features;
		def->n_features = n_features;
		def->n_inputs = data.n_inputs;
		def->input_width = EstTransformInputWidth(&tf);
		def->weight_column = req->opts.weight_column;
		if (regressor)
			def->label_dimension = data.label_width;
		else if (n_vocabulary > 0)
		{
			def->n_label_vocabulary = n_vocabulary;
			def->label_vocabulary = vocabulary;
			def->n_classes = n_vocabulary;
			if (req->opts.n_classes && req->opts.n_classes != n_vocabulary)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("n_classes is %d, but label column \"%s\" holds %d classes",
								req->opts.n_classes, def->label, n_vocabulary),
						 errhint("Name every class in label_vocabulary when the source lacks some.")));
			if (def->n_classes < 2)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("source \"%s\" has only one class", req->source),
						 errdetail("Every label is \"%s\", and a classifier needs at least two classes.",
								   vocabulary[0]),
						 errhint("Name every class in label_vocabulary when the source lacks some.")));
		}
		else
		{
			/* a shard's members counted theirs, the backend's among them */
			if (shard != NULL)
				max_label = EstShardMaxLabel(shard);
			for (int64 i = 0; shard == NULL && i < data.n_rows; i++)
				max_label = Max(max_label, data.y[i]);
			if (stream.active)
				max_label = Max(max_label, stream.max_label);
			def->n_classes = req->opts.n_classes ? req->opts.n_classes :
				(int) max_label + 1;
			if (def->n_classes < 2)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("source \"%s\" has only one class", req->source),
						 errdetail("Every label is 0, and a classifier needs at least two classes."),
						 errhint("Set n_classes in params when the source lacks some classes.")));
		}
		if (def->learning_rate == 0)
			def->learning_rate =
				EstDefaultLearningRate(def->optimizer, EST_IS_LINEAR(def->type),
									   def->n_features);
		created = true;
	}
	if (!regressor && shard != NULL &&
		EstShardMaxLabel(shard) >= def->n_classes)
		EstCheckLabel((int64) EstShardMaxLabel(shard), def->n_classes,
					  def->label);
	for (int64 i = 0; !regressor && shard == NULL && i < data.n_rows; i++)
		if ((int) data.y[i] >= def->n_classes)
			EstCheckLabel((int64) data.y[i], def->n_classes, def->label);
	EstCheckOptionsForType(def->type, req);
	EstCheckHyperparameters(def->optimizer, req->opts.opt_given, "");

	/* what this call trains with */
	EstParseParams(created ? NULL : def->params, &stored);
	plan.opts = req->opts;
	EstMergeOptions(&plan.opts, &stored);
	plan.batch_size = req->batch_size ? req->batch_size : def->batch_size;
	plan.log_every = plan.opts.log_step_count_steps ?
		plan.opts.log_step_count_steps : estimator_log_step_count_steps;
	plan.keep = plan.opts.keep_checkpoint_max ?
		plan.opts.keep_checkpoint_max : EST_DEFAULT_KEEP_CHECKPOINTS;
	if (plan.opts.has_early_stopping)
	{
		if (!EstMetricKnown(def, plan.opts.es_metric))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("early_stopping metric \"%s\" is not a metric of a %s",
							plan.opts.es_metric, EstModelTypeName(def->type)),
					 errhint("Use a key of est_evaluate, such as \"loss\".")));
		if (plan.opts.eval_fraction == 0 && plan.opts.eval_source == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("early_stopping needs evaluation data"),
					 errhint("Set eval_fraction or eval_source in params.")));
		plan.eval_max = MetricIsMaximised(plan.opts.es_metric);
	}
	if (plan.opts.has_promote_if &&
		!EstMetricKnown(def, plan.opts.promote_metric))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("promote_if metric \"%s\" is not a metric of a %s",
						plan.opts.promote_metric, EstModelTypeName(def->type)),
				 errhint("Use a key of est_evaluate, such as \"accuracy\" or \"loss\".")));
	plan.commit = commit;
	plan.nowait = req->nowait;
	plan.save_every = plan.opts.save_checkpoints_steps;
	if (plan.save_every == 0 && commit)
		plan.save_every = EST_PROCEDURE_SAVE_STEPS;
	if (stream.active)
	{
		if (plan.opts.eval_fraction > 0)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("source \"%s\" does not fit in estimator.max_memory, and eval_fraction holds out rows in memory",
							req->source),
					 errhint("Give the evaluation rows as eval_source, or raise estimator.max_memory.")));
		if (commit)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("source \"%s\" does not fit in estimator.max_memory, and est_train_procedure cannot stream it",
							req->source),
					 errdetail("A commit closes the scan that streams the source."),
					 errhint("Use est_train, or raise estimator.max_memory.")));
	}

	/* hold out evaluation rows before any statistics are taken */
	n_train = n_rows;
	if (plan.opts.eval_fraction > 0)
	{
		n_train = HoldOut(&data, plan.opts.eval_fraction, !regressor,
						  EST_SPLIT_SEED ^ (uint64) data.n_rows);
		eval_data = data;
		eval_data.X = data.X + n_train * data.n_inputs;
		eval_data.y = data.y + n_train * data.label_width;
		eval_data.w = data.w ? data.w + n_train : NULL;
		eval_data.n_rows = data.n_rows - n_train;
		eval = &eval_data;
		if (!EvalWeighs(&eval_data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the weights of the rows that eval_fraction holds out sum to zero"),
					 errdetail("Weighted metrics divide by the sum of the weights in column \"%s\".",
							   def->weight_column),
					 errhint("Give more of the rows a positive weight, or evaluate on eval_source.")));
	}

	/* the feature transform: learned from the training rows, or the model's */
	if (created && shard != NULL)
	{
		/* each member normalises its own rows (EstTeamBeginShard) */
		int			n_parts;
		const void *parts = EstShardFitParts(shard, &n_parts);

		status = EstTransformFitParts(&tf, parts, n_parts, data.X, data.n_rows,
									  coremsg);
		if (status != EST_OK)
			EstReportTransformError(status, coremsg);
		def->input_width = EstTransformInputWidth(&tf);
	}
	else if (created)
	{
		status = EstTransformFit(&tf, data.X, n_train, data.n_rows, coremsg);
		if (status != EST_OK)
			EstReportTransformError(status, coremsg);
		def->input_width = EstTransformInputWidth(&tf);
	}
	else
		EstTransformApply(&ckpt.transform, data.X, data.n_rows);

	if (plan.opts.eval_fraction == 0 && plan.opts.eval_source != NULL)
	{
		ReadEvalSource(def, created ? &tf : &ckpt.transform,
					   plan.opts.eval_source, &eval_data);
		eval = &eval_data;
	}
	plan.eval_every = plan.opts.eval_every_steps ? plan.opts.eval_every_steps :
		Max(((stream.active ? stream.n_rows : n_train) + plan.batch_size - 1) /
			plan.batch_size, 1);
	if (plan.opts.has_promote_if &&
		strcmp(plan.opts.promote_source, "holdout") == 0 && eval == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("promote_if source \"holdout\" needs evaluation rows"),
				 errhint("Set eval_fraction or eval_source in params, or give promote_if a source.")));

	if (req->steps > 0)
		plan.steps = req->steps;
	else if (req->epochs == 0)
		plan.steps = EST_DEFAULT_STEPS;
	else
		plan.steps = PG_INT64_MAX;
	if (req->epochs > 0)
	{
		double		epoch_steps = ceil((double) req->epochs *
									   (stream.active ? stream.n_rows : n_train) /
									   plan.batch_size);

		plan.steps = Min(plan.steps,
						 (int64) Min(epoch_steps, (double) PG_INT64_MAX / 2));
	}
	plan.score_rows = EstScoreSampleSize(n_train, plan.steps, plan.batch_size);

	{
		/* the rows of all members, as one backend would hold them */
		EstData		all = data;

		all.n_rows = n_rows;
		CheckMemory(def, created ? &tf : &ckpt.transform, &all,
					plan.batch_size);
	}

	if (created)
	{
		EstRng		rng;

		EstRngSeed(&rng, plan.opts.has_seed ? plan.opts.seed : RandomSeed());
		InitCheckpoint(def, &plan.opts, &tf, &data, n_train, shard, &rng,
					   &ckpt);
		ckpt.rng = rng;
		if (req->warm_start_from != NULL)
			WarmStart(def, &ckpt, req->warm_start_from);

		/*
		 * Members that hold the rows keep parallel mode, in which nothing
		 * can be written, until the end of the training: the model's row
		 * waits until then (RunSteps).
		 */
		plan.reset_owner = reset_owner;
		if (shard != NULL)
			plan.register_def = def;
		else
			RegisterModel(def, reset_owner, plan.nowait);
	}
	else
	{
		if (ckpt.opt.kind != def->optimizer)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("checkpoint of model \"%s\" at step " INT64_FORMAT " is corrupted",
							def->name, ckpt.global_step),
					 errdetail("The checkpoint holds %s slots, the model uses %s.",
							   EstOptimizerName(ckpt.opt.kind),
							   EstOptimizerName(def->optimizer))));
		EstCheckCompatibleNetwork(def, &req->opts, &ckpt);
		CheckSameColumns(def, &ckpt.transform, req->opts.linear_columns,
						 req->opts.n_linear_columns, "linear_feature_columns",
						 true, ckpt.net.linear_inputs,
						 ckpt.net.n_linear_inputs);
		CheckSameColumns(def, &ckpt.transform, req->opts.dnn_columns,
						 req->opts.n_dnn_columns, "dnn_feature_columns",
						 false, ckpt.net.dnn_inputs, ckpt.net.n_dnn_inputs);
		if (req->opts.has_seed)
			EstRngSeed(&ckpt.rng,
					   req->opts.seed ^ ((uint64) ckpt.global_step * UINT64CONST(0x9E3779B97F4A7C15)));

		/*
		 * promote_if: the checkpoint serving now keeps serving while this
		 * call trains, even when a procedure commits newer ones.
		 */
		if (plan.opts.has_promote_if)
		{
			gate_step = EstCatalogServingStep(def->name, true, &gate_pinned);
			if (gate_step >= 0 && !gate_pinned)
			{
				/*
				 * A pin the gate lifts at the end; if a procedure stops
				 * before, after a commit, the old checkpoint keeps serving
				 * and this row says why (est_deploy(model) lifts it).
				 */
				EstCatalogSetServing(def->name, gate_step);
				EstCatalogRecordDeployment(def->name, gate_step, gate_step,
										   "gate", NULL);
			}
		}
	}
	plan.learning_rate = req->learning_rate > 0 ? req->learning_rate :
		def->learning_rate;
	ckpt.opt.learning_rate = plan.learning_rate;
	plan.linear_learning_rate = 0;
	if (ckpt.net.n_linear_inputs > 0)
	{
		int			n_columns = plan.opts.n_linear_columns > 0 ?
			plan.opts.n_linear_columns :
			(stored.n_linear_columns > 0 ? stored.n_linear_columns :
			 def->n_features);

		EstCheckHyperparameters(ckpt.opt_linear.kind,
								req->opts.linear_opt_given, "linear_");
		/* the base rate, not the checkpoint's, which a schedule decayed */
		plan.linear_learning_rate = plan.opts.linear_learning_rate > 0 ?
			plan.opts.linear_learning_rate :
			EstDefaultLearningRate(ckpt.opt_linear.kind, true, n_columns);
		ckpt.opt_linear.learning_rate = plan.linear_learning_rate;
	}

	/* regressors train on standardised targets */
	y_train = data.y;
	if (regressor)
	{
		/* (in a shard, the backend's own rows; each worker does its own) */
		int64		n_held = shard != NULL ? data.n_rows : n_train;

		y_train = MemoryContextAllocHuge(CurrentMemoryContext,
										 mul_size(n_held, data.label_width * sizeof(float)) + 1);
		memcpy(y_train, data.y, n_held * data.label_width * sizeof(float));
		EstFeatureStateApply(&ckpt.labels, y_train, n_held);
	}

	/*
	 * Rows are scored in blocks of up to EST_TRAIN_SCORE_BLOCK (or of a
	 * batch); a source of fewer rows, and no other rows to evaluate, needs
	 * no larger buffers (a small training spent a millisecond allocating
	 * them).  The blocks stay the same.
	 */
	score_rows = EST_TRAIN_SCORE_BLOCK;
	if (eval == NULL && !plan.opts.has_promote_if && !stream.active)
		score_rows = (int) Min(score_rows, n_rows);
	coremsg[0] = '\0';
	status = EstWorkspaceInit(&ws, &ckpt.net, Max(plan.batch_size, score_rows),
							  coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");

	plan.stream = NULL;
	if (stream.active)
	{
		/*
		 * A shuffle buffer as large as the sample (which stays for
		 * est_train's figures), or as what estimator.max_memory leaves
		 * besides the sample and the model when a wide model takes more
		 * than half of it, but at least a batch.
		 */
		Size		limit = (Size) estimator_max_memory * 1024;
		Size		need = TrainingBytes(def, &ckpt.transform, &data,
										 plan.batch_size);
		int64		cap = 0;

		if (need < limit)
			cap = Min(data.n_rows,
					  (int64) ((limit - need) / TRAINING_ROW_BYTES(&data)));
		if (cap < plan.batch_size)
		{
			EstData		both = data;

			both.n_rows = data.n_rows + plan.batch_size;
			CheckMemory(def, &ckpt.transform, &both, plan.batch_size);
			cap = plan.batch_size;
		}
		ereport(NOTICE,
				(errmsg("source \"%s\" does not fit in estimator.max_memory: training streams it",
						req->source),
				 errdetail("The transform is fitted on a uniform sample of " INT64_FORMAT " of its " INT64_FORMAT " rows; each epoch reads the source again through a shuffle buffer of " INT64_FORMAT " rows.",
						   data.n_rows, stream.n_rows, cap)));
		plan.stream = StreamOpen(source_table != NULL ? source_table :
								 req->source, source_relid, def, &ckpt, cap);
	}
	plan.shard = shard;
	plan.parallel_workers = shard != NULL ? 0 : ParallelWorkers(&plan, &ckpt);
	memset(&scored, 0, sizeof(scored));
	RunSteps(def, &ckpt, &data, n_train, y_train, eval, &plan, &ws,
			 &buf, &len, &stored_step, &stored_metrics, &scored);
	trained_step = ckpt.global_step;

	/* score the training rows with the weights that are kept */
	if (stored_step != ckpt.global_step)
	{
		EstCheckpointFree(&ckpt);
		status = EstCheckpointDecode(buf, len, &ckpt, coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "best checkpoint");
	}
	if (scored.done)
	{
		result->loss = scored.loss;
		result->accuracy = scored.accuracy;
	}
	else
	{
		/* a streamed source's sample is a uniform one of its rows */
		EstScoreSample(def, &ckpt, &ws, &data, n_train, plan.score_rows,
					   0, 0, n_train, &set);
		result->loss = EstMetricSetValue(&set, "average_loss");
		result->accuracy = regressor ? NAN :
			EstMetricSetValue(&set, "accuracy");
		/* rows that weigh nothing measure nothing, as EstTeamScore says */
		if (data.w != NULL)
		{
			double		weight_sum = 0.0;

			for (int64 k = 0; k < plan.score_rows; k++)
				weight_sum += data.w[k * n_train / plan.score_rows];
			if (!(weight_sum > 0.0))
				result->loss = result->accuracy = NAN;
		}
	}

	/* early stopping went back before checkpoints stored during the call */
	if (plan.save_every > 0 && stored_step < trained_step)
		newer_step = EstCatalogDeleteCheckpointsAfter(def->name, stored_step);
	plan.lineage.metrics = stored_metrics;
	/*
	 * a model created by this call, without save_checkpoints_steps, has no
	 * other checkpoint to prune
	 */
	StoreCheckpointBytes(def, stored_step, result->loss, buf, len,
						 created && plan.save_every == 0 ? 0 : plan.keep,
						 &plan.lineage);
	EstFree(buf);

	/*
	 * A checkpoint after the kept one that another session deployed between
	 * two commits of a procedure stays, and stays the newest: the model goes
	 * on from it, as training goes on from the newest checkpoint.
	 */
	def->global_step = Max(stored_step, newer_step);
	if (newer_step > stored_step)
		ereport(NOTICE,
				(errmsg("model \"%s\" goes on from step " INT64_FORMAT ", not from step " INT64_FORMAT " that early stopping keeps",
						def->name, newer_step, stored_step),
				 errdetail("Another session deployed step " INT64_FORMAT " during the call, so it was not deleted and is the newest checkpoint.",
						   newer_step),
				 errhint("est_deploy('%s', " INT64_FORMAT ") serves the checkpoint that early stopping kept.",
						 def->name, stored_step)));
	EstCatalogUpdateModel(def);

	if (gate_step >= 0)
		PromotionGate(def, &ckpt, &ws, eval, &plan, stored_step, gate_step,
					  gate_pinned, result->loss);
	{
		bool		pinned;

		result->serving_step = EstCatalogServingStep(def->name, true, &pinned);
	}

	result->global_step = stored_step;
	result->rows = stream.active ? stream.n_rows : n_rows;
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
	if (plan.rows_seg != NULL)
		dsm_detach(plan.rows_seg);
}

/*
 * CalledNonAtomic tells whether a procedure was called with CALL outside a
 * transaction block, where it may commit.
 */
static bool
CalledNonAtomic(FunctionCallInfo fcinfo)
{
	return fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;
}

/*
 * EstCheckNotTraining refuses to act on a model that this backend is
 * training, from a function that the training's source query calls: a
 * nested training or import would store checkpoints the outer training
 * does not know of (the model then stayed at the outer call's step, below
 * its newest checkpoint, and every later est_train failed), and a drop
 * would remove the rows the outer call goes on writing.
 */
void
EstCheckNotTraining(const char *name, const char *action)
{
	for (TrainingFrame *f = training_now; f != NULL; f = f->outer)
		if (strcmp(f->model, name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot %s model \"%s\" while this session trains it",
							action, name),
					 errdetail("The call comes from the source of the training of model \"%s\".",
							   name)));
}

/*
 * TrainGuarded runs TrainModel with the model on the stack of those this
 * backend trains, until it returns or fails.
 */
static void
TrainGuarded(EstTrainRequest *req, TrainResult *result, bool commit)
{
	TrainingFrame frame;

	EstCheckNotTraining(req->model, "train");
	frame.model = req->model;
	frame.outer = training_now;
	training_now = &frame;
	PG_TRY();
	{
		TrainModel(req, result, commit);
	}
	PG_FINALLY();
	{
		training_now = frame.outer;
	}
	PG_END_TRY();
}

/*
 * est_train(model, source, label, features, model_type, hidden_units,
 *			 steps, epochs, batch_size, learning_rate, optimizer, params
 *			 [, warm_start_from, reset, nowait])
 *	 returns (model, global_step, loss, accuracy, rows_read, seconds
 *			  [, serving_step])
 *
 * The bracketed arguments and column are those of 0.2.0; the function
 * serves the declarations of 0.1.0 too.
 */
Datum
est_train(PG_FUNCTION_ARGS)
{
	EstTrainRequest req;
	TupleDesc	tupdesc;
	TrainResult result;
	instr_time	start;
	Datum		values[7];
	bool		nulls[7] = {false};

	INSTR_TIME_SET_CURRENT(start);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	EstParseTrainRequest(fcinfo, &req);

	SPI_connect();
	TrainGuarded(&req, &result, false);
	SPI_finish();

	values[0] = CStringGetTextDatum(req.model);
	values[1] = Int64GetDatum(result.global_step);
	values[2] = Float8GetDatum(result.loss);
	nulls[2] = isnan(result.loss);
	values[3] = Float8GetDatum(result.accuracy);
	nulls[3] = isnan(result.accuracy);
	values[4] = Int64GetDatum(result.rows);
	values[5] = Float8GetDatum(ElapsedSeconds(start));
	values[6] = Int64GetDatum(result.serving_step);
	nulls[6] = result.serving_step < 0;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * est_train_procedure(same arguments as est_train): CALLed outside a
 * transaction block, it trains like est_train but commits after every
 * checkpoint (save_checkpoints_steps, EST_PROCEDURE_SAVE_STEPS by default),
 * so that other sessions see its progress and a cancel or a crash loses at
 * most one interval.  In a transaction block, or called from a function, it
 * cannot commit and is est_train without a result.
 */
Datum
est_train_procedure(PG_FUNCTION_ARGS)
{
	EstTrainRequest req;
	TrainResult result;
	bool		nonatomic = CalledNonAtomic(fcinfo);

	EstParseTrainRequest(fcinfo, &req);
	if (nonatomic)
		SPI_connect_ext(SPI_OPT_NONATOMIC);
	else
		SPI_connect();
	TrainGuarded(&req, &result, nonatomic);
	SPI_finish();
	PG_RETURN_VOID();
}
