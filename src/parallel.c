/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Training on several cores: synchronous data parallelism over
 *	  PostgreSQL's parallel workers.
 *
 * est_train with parallel_workers = N starts N parallel workers through a
 * ParallelContext, the machinery of parallel query and parallel index
 * builds: the workers join the caller's transaction, run as its role and
 * end with it, and an error in any of them is raised in the caller.  The
 * backend and its workers form a team of N + 1 members.
 *
 * Where the rows are read in parallel (EstParallelRead, below), each
 * member usually keeps the rows it read and trains on them: a shard
 * (EstShard, EstTeamBeginShard).  Otherwise the dynamic shared memory
 * segment holds the training rows (the transformed inputs, the training
 * targets and the weights), or the workers map the segment the parallel
 * read put them in; the team's segment holds the checkpoint to start
 * from, the plan of the steps, and one gradient buffer per member.
 * Every member decodes the same checkpoint and draws the same epoch
 * orders from it, so each knows every batch.  At each step member k
 * computes the gradient of its share of the batch (in a shard, the
 * batch's rows it holds; else a contiguous slice, batch_size / (N + 1)
 * rows, give or take one), scaled by the denominator of the whole batch,
 * so that the shares add up to the gradient of the whole batch.
 * EstTeamReduce adds them, in member order, so that every member gets the
 * same sum and applies the same update: the weights of all members stay
 * identical, and the training is the one-backend training with the
 * batch's rows summed in another order (it converges the same way; the
 * results differ in the last bits).
 *
 * The members meet once a step at a barrier: a counter in shared memory
 * that each member increments after writing its gradient (its backward
 * pass writes it straight into the team's segment), waiting (by
 * spinning, then yielding) until every member of the step has.  Two
 * buffers alternate between steps, so that a member may write the next
 * step's gradient while a slower one still reads this step's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "executor/spi.h"
#include "storage/dsm_impl.h"
#include "storage/proc.h"
#include "storage/shm_mq.h"
#include "storage/shm_toc.h"
#include "utils/wait_event.h"
#include "utils/memutils.h"

#include "estimator.h"

/* the keys of the segment's table of contents */
#define EST_KEY_TEAM		UINT64CONST(0xE571000000000001)
#define EST_KEY_CHECKPOINT	UINT64CONST(0xE571000000000002)
#define EST_KEY_X			UINT64CONST(0xE571000000000003)
#define EST_KEY_Y			UINT64CONST(0xE571000000000004)
#define EST_KEY_W			UINT64CONST(0xE571000000000005)
#define EST_KEY_GRADS		UINT64CONST(0xE571000000000006)
#define EST_KEY_LABELS		UINT64CONST(0xE571000000000007)

/* spins before a waiting member yields its core */
#define EST_SPINS_BEFORE_YIELD	2000

/*
 * The arrays of rows a team shares, each in the team's segment or, when
 * the parallel read left it there, in the segment of the rows
 * (EstParallelRead's share_rows): at an offset in it, or TEAM_ARRAY_HERE.
 */
typedef enum TeamArray
{
	TEAM_X,
	TEAM_Y,						/* the training targets */
	TEAM_LABELS,				/* the labels in their own units */
	TEAM_W,
	N_TEAM_ARRAYS
} TeamArray;

#define TEAM_ARRAY_HERE	((Size) -1)

typedef struct TeamShared
{
	pg_atomic_uint64 arrived;	/* members at barriers, all steps summed */
	pg_atomic_uint32 ready;		/* the leader has filled in the members */
	int			n_members;
	int			member_of[EST_MAX_PARALLEL_WORKERS];	/* by worker number;
														 * -1: not a member */
	uint64		stop_round;		/* the barrier at which the leader stopped
								 * early (EstTeamStop), or 0 */
	EstStepPlan sp;
	int64		steps;
	size_t		ckpt_len;
	size_t		n_params;
	bool		weighted;
	bool		own_labels;		/* y_score is not y (regressors) */
	EstModelType model_type;	/* for scoring the training rows */
	int			n_classes;
	char		name[NAMEDATALEN];
	char		label[NAMEDATALEN];
	/* the rows read in parallel, if they stayed in their own segment */
	dsm_handle	rows_handle;	/* or DSM_HANDLE_INVALID */
	Size		rows_offset[N_TEAM_ARRAYS]; /* or TEAM_ARRAY_HERE */
	/* each member's score of its rows: loss, accuracy, weight sum */
	double		scores[EST_MAX_PARALLEL_WORKERS + 1][3];
	bool		shard;			/* each member trains on the rows it read */
} TeamShared;

struct EstTeam
{
	ParallelContext *pcxt;		/* NULL in a worker */
	TeamShared *shared;
	int			member;			/* 0: the leader */
	float	   *grads;			/* [2][n_members][n_params] */
	double	   *losses;			/* [2][n_members] */
	uint64		rounds;			/* barriers passed */
	bool		stopped;		/* the leader said stop at the last one */
	const float *X;				/* the training rows, in shared memory */
	const float *y_score;		/* their labels, in the label's units */
	const float *w;

	/*
	 * A shard's team (EstTeamBeginShard): the rows above are the member's
	 * own, rows [first, first + n_own) of all; the team's segment is seg.
	 * n_own is -1 in other teams, whose members see every row.
	 */
	int64		first;
	int64		n_own;
	dsm_segment *seg;
	struct EstShard *shard;		/* the leader's, to end it */
};

PGDLLEXPORT void est_parallel_train_main(dsm_segment *seg, shm_toc *toc);
PGDLLEXPORT void est_parallel_read_main(dsm_segment *seg, shm_toc *toc);

typedef struct ReadShared ReadShared;

static Size
GradsBytes(int n_members, size_t n_params)
{
	return add_size(mul_size(mul_size(2, n_members),
							 mul_size(n_params, sizeof(float))),
					mul_size(mul_size(2, n_members), sizeof(double)));
}

static void
AttachGrads(EstTeam *team, void *area)
{
	size_t		floats = 2 * (size_t) team->shared->n_members *
		team->shared->n_params;

	team->grads = area;
	team->losses = (double *) ((char *) area + floats * sizeof(float));
}

/*
 * SharedMemoryRoom tells, without a word, whether /dev/shm has the room
 * for a segment of size bytes (any other kind of segment has it); when
 * it has not, *free_bytes is how much it has.
 */
static bool
SharedMemoryRoom(Size size, double *free_bytes)
{
	struct statvfs fs;

	if (dynamic_shared_memory_type != DSM_IMPL_POSIX ||
		statvfs("/dev/shm", &fs) != 0)
		return true;
	*free_bytes = (double) fs.f_bavail * fs.f_frsize;
	return *free_bytes >= (double) size * 1.1;
}

/*
 * SharedMemoryFits tells whether a dynamic shared memory segment of size
 * bytes can be created: with POSIX shared memory, whether /dev/shm has the
 * room (a container's is often small).  If not, it says so in a NOTICE:
 * the backend trains alone, rather than failing for want of room.
 */
static bool
SharedMemoryFits(Size size)
{
	double		free_bytes;

	if (SharedMemoryRoom(size, &free_bytes))
		return true;
	ereport(NOTICE,
			(errmsg("training in one backend without parallel workers"),
			 errdetail("The rows need %zu MB of shared memory, and /dev/shm has %.0f MB free.",
					   size / (1024 * 1024), free_bytes / (1024 * 1024))));
	return false;
}

/*
 * CopyToSegment copies bytes into a new chunk of the segment under key.
 */
static const float *
CopyToSegment(ParallelContext *pcxt, uint64 key, const void *src, Size bytes)
{
	void	   *chunk = shm_toc_allocate(pcxt->toc, bytes);

	memcpy(chunk, src, bytes);
	shm_toc_insert(pcxt->toc, key, chunk);
	return chunk;
}

/*
 * EstLaunchMembers launches the workers of pcxt, waits until each has
 * attached or failed, and numbers the members: the leader 0, then every
 * worker that attached (member_of, by worker number; -1 for the others).
 * It returns the number of members.
 */
int
EstLaunchMembers(ParallelContext *pcxt, int *member_of)
{
	int			members = 1;

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched > 0)
		WaitForParallelWorkersToAttach(pcxt);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		if (pcxt->known_attached_workers[i])
			member_of[i] = members++;
	return members;
}

/*
 * RowsOffset is where bytes at p lie in the segment of the rows
 * (rows_seg, or NULL), or TEAM_ARRAY_HERE if they do not.
 */
static Size
RowsOffset(dsm_segment *rows_seg, const void *p, Size bytes)
{
	const char *base;
	Size		length;

	if (rows_seg == NULL || p == NULL)
		return TEAM_ARRAY_HERE;
	base = dsm_segment_address(rows_seg);
	length = dsm_segment_map_length(rows_seg);
	if ((const char *) p < base || (const char *) p >= base + length ||
		bytes > length - (Size) ((const char *) p - base))
		return TEAM_ARRAY_HERE;
	return (Size) ((const char *) p - base);
}

/*
 * PlaceArray gives the members an array of the team: where it lies in the
 * segment of the rows, or a copy in the team's segment under key.
 */
static const float *
PlaceArray(ParallelContext *pcxt, TeamShared *shared, dsm_segment *rows_seg,
		   TeamArray which, uint64 key, const float *src, Size bytes)
{
	if (shared->rows_offset[which] != TEAM_ARRAY_HERE)
		return (const float *) ((const char *) dsm_segment_address(rows_seg) +
								shared->rows_offset[which]);
	return CopyToSegment(pcxt, key, src, bytes);
}

/*
 * TeamArrayOf is a member's pointer to an array of the team (see
 * PlaceArray): rows_base is where it mapped the segment of the rows.
 */
static const float *
TeamArrayOf(shm_toc *toc, const TeamShared *shared, const char *rows_base,
			TeamArray which, uint64 key)
{
	if (shared->rows_offset[which] != TEAM_ARRAY_HERE)
		return (const float *) (rows_base + shared->rows_offset[which]);
	return shm_toc_lookup(toc, key, false);
}

/*
 * PutTeam puts in a team's segment (toc) its state, not ready, with what
 * every team has (the model, the plan of the steps), and the encoded
 * checkpoint it starts from; the caller fills in the rest.
 */
static TeamShared *
PutTeam(shm_toc *toc, const EstModelDef *def, const uint8_t *ckpt,
		size_t ckpt_len, size_t n_params, const EstStepPlan *sp, int64 steps)
{
	TeamShared *shared = shm_toc_allocate(toc, sizeof(TeamShared));
	char	   *area;

	memset(shared, 0, sizeof(TeamShared));
	pg_atomic_init_u64(&shared->arrived, 0);
	pg_atomic_init_u32(&shared->ready, 0);
	shared->sp = *sp;
	shared->steps = steps;
	shared->ckpt_len = ckpt_len;
	shared->n_params = n_params;
	shared->model_type = def->type;
	shared->n_classes = def->n_classes;
	strlcpy(shared->name, def->name, NAMEDATALEN);
	strlcpy(shared->label, def->label ? def->label : "", NAMEDATALEN);
	shm_toc_insert(toc, EST_KEY_TEAM, shared);
	area = shm_toc_allocate(toc, ckpt_len);
	memcpy(area, ckpt, ckpt_len);
	shm_toc_insert(toc, EST_KEY_CHECKPOINT, area);
	return shared;
}

/*
 * EstTeamBegin starts n_workers parallel workers of model def for
 * plan->steps steps that start from the encoded checkpoint ckpt (of
 * n_params parameters), over the
 * rows X, y (the training targets) and w (NULL: unweighted); y_score are
 * the labels in their own units (y itself but for regressors), for
 * EstTeamScore.  What of them lies in rows_seg (the segment that
 * EstParallelRead read the rows into, or NULL) the workers map from
 * there; the rest is copied into the team's segment.  It returns NULL,
 * having said so in a NOTICE, when no worker could start: the backend
 * then trains alone.
 */
EstTeam *
EstTeamBegin(int n_workers, const EstModelDef *def, const uint8_t *ckpt,
			 size_t ckpt_len, size_t n_params, const EstStepPlan *sp,
			 int64 steps, const float *X, const float *y,
			 const float *y_score, const float *w, dsm_segment *rows_seg)
{
	ParallelContext *pcxt;
	TeamShared *shared;
	EstTeam    *team;
	Size		x_bytes = mul_size(mul_size(sp->n_train, sp->n_inputs),
								   sizeof(float));
	Size		y_bytes = mul_size(mul_size(sp->n_train, sp->label_width),
								   sizeof(float));
	Size		w_bytes = w ? mul_size(sp->n_train, sizeof(float)) : 0;
	Size		offset[N_TEAM_ARRAYS];
	Size		bytes[N_TEAM_ARRAYS];
	int			members;
	char	   *area;
	Size		needed;

	bytes[TEAM_X] = x_bytes;
	bytes[TEAM_Y] = y_bytes;
	bytes[TEAM_LABELS] = y_score != y ? y_bytes : 0;
	bytes[TEAM_W] = w_bytes;
	offset[TEAM_X] = RowsOffset(rows_seg, X, x_bytes);
	offset[TEAM_Y] = RowsOffset(rows_seg, y, y_bytes);
	offset[TEAM_LABELS] = y_score != y ?
		RowsOffset(rows_seg, y_score, y_bytes) : TEAM_ARRAY_HERE;
	offset[TEAM_W] = RowsOffset(rows_seg, w, w_bytes);

	/* the segment lives in /dev/shm, which may be smaller than the rows */
	needed = add_size(ckpt_len, GradsBytes(n_workers + 1, n_params));
	for (int a = 0; a < N_TEAM_ARRAYS; a++)
		if (offset[a] == TEAM_ARRAY_HERE)
			needed = add_size(needed, bytes[a]);
	if (!SharedMemoryFits(needed))
		return NULL;

	EnterParallelMode();
	pcxt = CreateParallelContext("estimator", "est_parallel_train_main",
								 n_workers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TeamShared));
	shm_toc_estimate_chunk(&pcxt->estimator, ckpt_len);
	for (int a = 0; a < N_TEAM_ARRAYS; a++)
		if (offset[a] == TEAM_ARRAY_HERE && bytes[a] > 0)
			shm_toc_estimate_chunk(&pcxt->estimator, bytes[a]);
	shm_toc_estimate_chunk(&pcxt->estimator,
						   GradsBytes(n_workers + 1, n_params));
	shm_toc_estimate_keys(&pcxt->estimator, 7);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		/* no dynamic shared memory: no worker can start */
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		ereport(NOTICE,
				(errmsg("training in one backend without parallel workers"),
				 errdetail("No dynamic shared memory segment could be created.")));
		return NULL;
	}

	shared = PutTeam(pcxt->toc, def, ckpt, ckpt_len, n_params, sp, steps);
	for (int i = 0; i < EST_MAX_PARALLEL_WORKERS; i++)
		shared->member_of[i] = -1;
	shared->weighted = w != NULL;
	shared->own_labels = y_score != y;
	shared->rows_handle = rows_seg ? dsm_segment_handle(rows_seg) :
		DSM_HANDLE_INVALID;
	memcpy(shared->rows_offset, offset, sizeof(offset));
	team = palloc0(sizeof(EstTeam));
	team->X = PlaceArray(pcxt, shared, rows_seg, TEAM_X, EST_KEY_X, X, x_bytes);
	team->y_score = PlaceArray(pcxt, shared, rows_seg, TEAM_Y, EST_KEY_Y,
							   y, y_bytes);
	if (y_score != y)
		team->y_score = PlaceArray(pcxt, shared, rows_seg, TEAM_LABELS,
								   EST_KEY_LABELS, y_score, y_bytes);
	if (w != NULL)
		team->w = PlaceArray(pcxt, shared, rows_seg, TEAM_W, EST_KEY_W,
							 w, w_bytes);
	area = shm_toc_allocate(pcxt->toc, GradsBytes(n_workers + 1, n_params));
	shm_toc_insert(pcxt->toc, EST_KEY_GRADS, area);

	members = EstLaunchMembers(pcxt, shared->member_of);
	shared->n_members = members;
	pg_write_barrier();
	pg_atomic_write_u32(&shared->ready, 1);

	if (members == 1)
	{
		pfree(team);
		WaitForParallelWorkersToFinish(pcxt);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		ereport(NOTICE,
				(errmsg("training in one backend without parallel workers"),
				 errdetail("No parallel worker could start."),
				 errhint("Raise max_worker_processes or max_parallel_workers.")));
		return NULL;
	}

	team->pcxt = pcxt;
	team->shared = shared;
	team->member = 0;
	team->n_own = -1;
	AttachGrads(team, area);
	return team;
}

int
EstTeamSize(const EstTeam *team)
{
	return team->shared->n_members;
}

/* the weights of the team's rows (NULL: unweighted); a shard's, every member's */
const float *
EstTeamWeights(const EstTeam *team)
{
	return team->w;
}

/*
 * EstTeamHeld tells whether this member holds some of the rows only (a
 * shard's member): rows [*first, *first + *n_own) of all.
 */
bool
EstTeamHeld(const EstTeam *team, int64 *first, int64 *n_own)
{
	if (team->n_own < 0)
		return false;
	*first = team->first;
	*n_own = team->n_own;
	return true;
}

/*
 * EstTeamStepRows is how many of a batch's rows this member computes at
 * most: its slice (EstTeamShare), or in a shard, any number of them.
 */
int
EstTeamStepRows(const EstTeam *team, int batch_size)
{
	int			lo;
	int			hi;

	if (team->n_own >= 0)
		return batch_size;
	EstTeamShare(team, batch_size, &lo, &hi);
	return hi - lo;
}

/*
 * EstTeamShare gives the rows [lo, hi) of a batch that this member
 * computes: contiguous slices, in member order, that differ in size by at
 * most one row.
 */
void
EstTeamShare(const EstTeam *team, int batch_size, int *lo, int *hi)
{
	int64		m = team->shared->n_members;

	*lo = (int) ((int64) batch_size * team->member / m);
	*hi = (int) ((int64) batch_size * (team->member + 1) / m);
}

/*
 * TeamCheck raises the error of a worker that stopped before the barrier
 * of target arrivals (its own error reaches us through
 * CHECK_FOR_INTERRUPTS; this catches a worker that vanished without one).
 * A worker that arrived and then ended, after the last barrier, is fine.
 */
static void
TeamCheck(EstTeam *team, uint64 target)
{
	CHECK_FOR_INTERRUPTS();
	if (team->pcxt == NULL)
		return;
	for (int i = 0; i < team->pcxt->nworkers_launched; i++)
	{
		pid_t		pid;

		if (team->shared->member_of[i] < 0)
			continue;
		if (GetBackgroundWorkerPid(team->pcxt->worker[i].bgwhandle,
								   &pid) == BGWH_STOPPED &&
			pg_atomic_read_u64(&team->shared->arrived) < target)
		{
			/* its last messages, an error among them, come first */
			HandleParallelMessages();
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a parallel worker of the training exited before the end")));
		}
	}
}

/*
 * TeamBarrier returns once every member has called it as often as this
 * one: after the full barrier of the increment, what each wrote before is
 * visible to all.
 */
static void
TeamBarrier(EstTeam *team)
{
	TeamShared *shared = team->shared;
	uint64		target;
	int			spins = 0;

	team->rounds++;
	target = team->rounds * (uint64) shared->n_members;
	pg_atomic_fetch_add_u64(&shared->arrived, 1);	/* a full barrier */
	while (pg_atomic_read_u64(&shared->arrived) < target)
	{
		if (++spins < EST_SPINS_BEFORE_YIELD)
		{
			pg_spin_delay();
			continue;
		}
		spins = 0;
		TeamCheck(team, target);
		sched_yield();
	}
	pg_read_barrier();
}

/*
 * EstTeamGradient returns where this member writes the gradient of its
 * share of the coming step: its own place in the step's buffer (of two
 * that alternate), which EstTeamReduce then reads, so that the gradient
 * is not copied there.
 */
float *
EstTeamGradient(EstTeam *team)
{
	TeamShared *shared = team->shared;
	int			parity = (int) (team->rounds % 2);

	return team->grads +
		((size_t) parity * shared->n_members + team->member) * shared->n_params;
}

/*
 * EstTeamReduce is the barrier of a step: once this member has written its
 * gradient where EstTeamGradient said, it publishes its loss, waits for
 * every member's gradient, and writes their sum (n floats) into sum,
 * added in member order so that every member gets the very same floats.
 * It returns the summed loss.
 */
double
EstTeamReduce(EstTeam *team, float *sum, size_t n, double loss)
{
	TeamShared *shared = team->shared;
	int			m = shared->n_members;
	int			parity = (int) (team->rounds % 2);
	const float *first = team->grads + (size_t) parity * m * n;
	double		total;

	Assert(n == shared->n_params);
	team->losses[parity * m + team->member] = loss;
	TeamBarrier(team);

	/*
	 * the stop of this barrier only: a member that passes a step's barrier
	 * late may find the leader already gone on to stop at the next one,
	 * which it must still reach (else the leader waits there for a member
	 * that ended, and fails)
	 */
	if (shared->stop_round == team->rounds)
	{
		team->stopped = true;
		return NAN;
	}

	/* a team has two members or more: the first two in one pass */
	Assert(m >= 2);
	for (size_t i = 0; i < n; i++)
		sum[i] = first[i] + first[n + i];
	for (int k = 2; k < m; k++)
	{
		const float *other = first + (size_t) k * n;

		for (size_t i = 0; i < n; i++)
			sum[i] += other[i];
	}
	total = 0;
	for (int k = 0; k < m; k++)
		total += team->losses[parity * m + k];
	return total;
}

/*
 * EstTeamStop, in the leader, ends the steps before their number: the
 * workers, waiting at the next step's barrier, pass it and find the stop
 * (EstTeamStopped), and end without scoring.
 */
void
EstTeamStop(EstTeam *team)
{
	team->shared->stop_round = team->rounds + 1;
	pg_write_barrier();
	TeamBarrier(team);
}

bool
EstTeamStopped(const EstTeam *team)
{
	return team->stopped;
}

/*
 * EstTeamScore scores the training rows (EstScoreSample's) with the
 * trained weights, each member its contiguous share (a shard's member the
 * rows it holds), and returns in *loss and *accuracy the
 * figures of all the rows, as EstScoreData gives them (both are sums over
 * the rows divided by the weight sum, so the shares' add up).
 */
void
EstTeamScore(EstTeam *team, EstCheckpoint *ckpt, EstWorkspace *ws,
			 double *loss, double *accuracy)
{
	TeamShared *shared = team->shared;
	int64		n = shared->sp.n_train;
	int64		size = shared->sp.score_rows;
	int64		lo = size * team->member / shared->n_members;
	int64		hi = size * (team->member + 1) / shared->n_members;
	int64		first = 0;
	EstModelDef def;
	EstData		all;
	EstMetricSet set;
	double		weight_sum = 0;
	double		total_loss = 0;
	double		total_accuracy = 0;
	double		total_weight = 0;
	bool		regressor = EST_IS_REGRESSOR(shared->model_type);

	memset(&def, 0, sizeof(def));
	def.name = shared->name;
	def.type = shared->model_type;
	def.n_classes = shared->n_classes;
	def.label = shared->label;
	memset(&all, 0, sizeof(all));
	all.n_rows = n;
	all.n_inputs = shared->sp.n_inputs;
	all.label_width = shared->sp.label_width;
	all.X = (float *) team->X;
	all.y = (float *) team->y_score;
	all.w = (float *) team->w;
	if (team->n_own >= 0)
	{
		/* the rows of the sample, k * n / size, that this member holds */
		first = team->first;
		lo = (first * size + n - 1) / n;
		hi = ((first + team->n_own) * size + n - 1) / n;
	}
	for (int64 k = lo; k < hi; k++)
		weight_sum += all.w ? (double) all.w[k * n / size - first] : 1.0;
	if (hi > lo)
	{
		EstScoreSample(&def, ckpt, ws, &all, n, size, first, lo, hi, &set);
		shared->scores[team->member][0] = EstMetricSetValue(&set, "average_loss");
		shared->scores[team->member][1] = regressor ? 0 :
			EstMetricSetValue(&set, "accuracy");
	}
	shared->scores[team->member][2] = weight_sum;
	TeamBarrier(team);

	for (int k = 0; k < shared->n_members; k++)
	{
		double		wk = shared->scores[k][2];

		if (wk > 0)
		{
			total_loss += shared->scores[k][0] * wk;
			total_accuracy += shared->scores[k][1] * wk;
			total_weight += wk;
		}
	}
	*loss = total_weight > 0 ? total_loss / total_weight : NAN;
	*accuracy = regressor ? NAN :
		total_weight > 0 ? total_accuracy / total_weight : NAN;
}

/*
 * EstTeamEnd waits for the workers to finish (raising the error of any
 * that failed) and leaves parallel mode, so that the catalog can be
 * written again.
 */
void
EstTeamEnd(EstTeam *team)
{
	WaitForParallelWorkersToFinish(team->pcxt);
	DestroyParallelContext(team->pcxt);
	ExitParallelMode();
	if (team->seg != NULL)
		dsm_detach(team->seg);
	if (team->shard != NULL)
		pfree(team->shard);
	pfree(team);
}

/*
 * EstMemberIndex waits until the leader has counted the members (ready) and
 * returns this worker's place among them, or -1 when it is none: it
 * attached too late, and has nothing to do.
 */
int
EstMemberIndex(pg_atomic_uint32 *ready, const int *member_of)
{
	while (pg_atomic_read_u32(ready) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		pg_spin_delay();
	}
	pg_read_barrier();
	if (ParallelWorkerNumber < 0 ||
		ParallelWorkerNumber >= EST_MAX_PARALLEL_WORKERS)
		return -1;
	return member_of[ParallelWorkerNumber];
}

/*
 * MemberSteps is a worker's training: the same steps as the leader's,
 * with its share of every batch (y: the training targets of its rows),
 * then its share of the training rows' figures.  Its weights are thrown
 * away at the end: the leader's are the same.
 */
static void
MemberSteps(EstTeam *team, EstCheckpoint *ckpt, const float *y)
{
	TeamShared *shared = team->shared;
	EstWorkspace ws;
	EstStepRows rows;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	bool		stopped = false;

	coremsg[0] = '\0';
	status = EstWorkspaceInit(&ws, &ckpt->net,
							  Max(EstTeamStepRows(team, shared->sp.batch_size), 1),
							  coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	EstStepRowsInit(&rows, ckpt, &shared->sp, team->X, y, team->w, team);

	for (int64 step = 0; step < shared->steps; step++)
	{
		double		loss = EstTrainStep(ckpt, &ws, &rows, &shared->sp, team);

		/*
		 * early stopping: the leader said so; a divergence: the leader
		 * stops with an error
		 */
		if (team->stopped || isnan(loss) || isinf(loss))
		{
			stopped = true;
			break;
		}
	}

	/* the training rows' figures, in blocks as large as the leader's */
	if (!stopped)
	{
		double		loss;
		double		accuracy;

		EstWorkspaceFree(&ws);
		status = EstWorkspaceInit(&ws, &ckpt->net,
								  Max(shared->sp.batch_size,
									  EST_TRAIN_SCORE_BLOCK), coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "workspace");
		EstTeamScore(team, ckpt, &ws, &loss, &accuracy);
	}
	EstWorkspaceFree(&ws);
}

/*
 * DecodeTeamCheckpoint decodes the checkpoint the team starts from.
 */
static void
DecodeTeamCheckpoint(shm_toc *toc, const TeamShared *shared,
					 EstCheckpoint *ckpt)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	coremsg[0] = '\0';
	status = EstCheckpointDecode(shm_toc_lookup(toc, EST_KEY_CHECKPOINT, false),
								 shared->ckpt_len, ckpt, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "checkpoint");
}

/*
 * est_parallel_train_main is a worker's life: wait until the leader has
 * counted the members, decode the checkpoint, map the rows and train.
 */
void
est_parallel_train_main(dsm_segment *seg, shm_toc *toc)
{
	TeamShared *shared = shm_toc_lookup(toc, EST_KEY_TEAM, false);
	EstTeam		team;
	EstCheckpoint ckpt;
	dsm_segment *rows_seg = NULL;
	const char *rows_base = NULL;

	(void) seg;
	memset(&team, 0, sizeof(team));
	team.member = EstMemberIndex(&shared->ready, shared->member_of);
	if (team.member < 0)
		return;
	team.shared = shared;
	team.n_own = -1;
	AttachGrads(&team, shm_toc_lookup(toc, EST_KEY_GRADS, false));
	DecodeTeamCheckpoint(toc, shared, &ckpt);
	if (shared->rows_handle != DSM_HANDLE_INVALID)
	{
		rows_seg = dsm_attach(shared->rows_handle);
		if (rows_seg == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not map the segment of the training rows")));
		rows_base = dsm_segment_address(rows_seg);
		EstMapPages(rows_base, dsm_segment_map_length(rows_seg), false);
	}
	team.X = TeamArrayOf(toc, shared, rows_base, TEAM_X, EST_KEY_X);
	team.y_score = shared->own_labels ?
		TeamArrayOf(toc, shared, rows_base, TEAM_LABELS, EST_KEY_LABELS) :
		TeamArrayOf(toc, shared, rows_base, TEAM_Y, EST_KEY_Y);
	team.w = shared->weighted ?
		TeamArrayOf(toc, shared, rows_base, TEAM_W, EST_KEY_W) : NULL;
	MemberSteps(&team, &ckpt,
				TeamArrayOf(toc, shared, rows_base, TEAM_Y, EST_KEY_Y));
	EstCheckpointFree(&ckpt);
	if (rows_seg != NULL)
		dsm_detach(rows_seg);
}

/* ----------------------------------------------------------------
 * Reading a table in parallel
 *
 * Before training, the backend and its workers can read a table (or
 * materialized view) together: the table's blocks are cut into one
 * contiguous range per member, each member reads its range through SPI
 * as the caller (a TID range scan, with the caller's privileges and
 * row-level security) and encodes the rows with the same transform.  The
 * ranges go together in block order, which is the order of a sequential
 * scan, so that the rows (and what training does with them) are those of
 * a read in one backend.  When the rows are for parallel training, each
 * member keeps its rows until all have said how many they have (hold, in
 * ReadShared).  In a shard, they stay there: each member also counts the
 * figures of its rows that the backend needs (ShardTally), and trains on
 * them when the backend has built the model.  Otherwise the backend makes
 * one segment of shared memory for all of them, and each member copies
 * its own into place at once: the workers that train map that segment;
 * or (a procedure, whose commits would unmap the segment, or no room in
 * /dev/shm) the workers send their rows through shared memory queues, and
 * the backend puts them in its own memory.  Only encodings that do not
 * depend on the order of the rows qualify: no vocabulary or class name
 * learned as the rows come.
 * ----------------------------------------------------------------
 */

#define EST_KEY_READ		UINT64CONST(0xE571000000000011)
#define EST_KEY_READ_TEXT	UINT64CONST(0xE571000000000012)
#define EST_KEY_READ_BLOB	UINT64CONST(0xE571000000000013)
#define EST_KEY_READ_QUEUES UINT64CONST(0xE571000000000014)
#define EST_KEY_READ_STATS	UINT64CONST(0xE571000000000015)
#define EST_KEY_READ_LABELS UINT64CONST(0xE571000000000016)

/* the table of contents of a shard's team segment (EstTeamBeginShard) */
#define EST_TEAM_MAGIC		0x45535453

#define EST_READ_QUEUE_BYTES	(4 * 1024 * 1024)
#define EST_READ_BLOCK_ROWS		1000

struct ReadShared
{
	pg_atomic_uint32 ready;
	int			n_members;
	int			member_of[EST_MAX_PARALLEL_WORKERS];
	BlockNumber bounds[EST_MAX_PARALLEL_WORKERS + 2];	/* member k: [k, k+1) */
	double		rows_per_block; /* the planner's estimate, or 0 */
	int			n_features;
	Oid			relid;			/* the source's table, as the backend resolved it */
	EstLabelKind label_kind;
	int			label_width;
	bool		learn_vocabulary;
	int			n_vocabulary;
	bool		has_label;
	bool		has_weight;
	bool		from_checkpoint;	/* blob: a checkpoint, else params */
	Size		blob_len;
	int			n_inputs;		/* what the rows must be */
	int			row_label_width;

	/*
	 * hold: each worker keeps its rows, says how many, and waits until the
	 * backend has placed them: placed becomes ROWS_PLACED, and the worker
	 * copies them into rows_handle's segment from row first_row[member];
	 * or ROWS_SEND, and it sends them as without hold; or ROWS_DROP, when
	 * the rows are too many to hold (max_rows, see EstParallelRead), and
	 * it drops them and ends.  A member stops reading when its own rows
	 * reach max_rows, and then says -1.
	 */
	bool		hold;
	int64		max_rows;		/* with hold, 0 or the rows past which the
								 * caller streams the source (ROWS_DROP) */
	pg_atomic_uint32 placed;
	dsm_handle	rows_handle;
	int64		n_rows;			/* of all members */
	int64		first_row[EST_MAX_PARALLEL_WORKERS + 1];

	/*
	 * shard (with hold): each member keeps its rows to train on them (see
	 * EstShard).  Before it says how many it has, it puts in its slots the
	 * figures of them that the backend needs (ShardFigures): their
	 * fingerprint, their largest label, with fit_parts its part of the
	 * transform's fit (stats_size bytes each, under EST_KEY_READ_STATS)
	 * and, with label_parts, its part of a new regressor's label
	 * statistics (label_stats_size bytes each, under EST_KEY_READ_LABELS).  Once every member has, parts_ready becomes
	 * 1: each worker then fits the transform from the parts itself (the
	 * backend's very floats) and normalises its rows while the backend
	 * builds the model.  placed then becomes ROWS_TRAIN, with the team's
	 * segment in team_handle.
	 */
	bool		shard;
	bool		fit_parts;
	bool		label_parts;
	pg_atomic_uint32 parts_ready;
	Size		stats_size;
	Size		label_stats_size;
	dsm_handle	team_handle;
	uint64		fingerprint[EST_MAX_PARALLEL_WORKERS + 1];
	float		max_label[EST_MAX_PARALLEL_WORKERS + 1];
};

#define ROWS_WAIT	0
#define ROWS_PLACED	1
#define ROWS_SEND	2
#define ROWS_TRAIN	3
#define ROWS_DROP	4			/* too many rows: the backend reads alone */

/*
 * A shard: the parallel workers that read a table with the backend, each
 * keeping its rows in its own memory, and staying to train on them
 * (EstTeamBeginShard): member k holds rows [first_row[k], first_row[k + 1])
 * of all, in block order.  Nothing is copied; each member's rows stay in
 * the pages it read them into.  Parallel mode lasts from the read to the
 * end of the training (EstTeamEnd).
 */
struct EstShard
{
	ParallelContext *pcxt;
	ReadShared *shared;
	shm_mq	  **mqs;			/* by worker number */
	char	   *stats;			/* the members' parts of the fit */
	char	   *labels;			/* ... of a regressor's labels */
};

/* the messages of a worker's queue: rows, or one of these in their count */
#define MSG_END		-1			/* no more rows */
#define MSG_HELD	-2			/* followed by the int64 count of held rows */

/* what a member's rows are appended to */
typedef struct RowBuffer
{
	EstData		data;
	int64		capacity;
	bool		ended;
	bool		counted;		/* a holding worker said how many */
	int64		held;			/* ... rows it holds, or -1: too many */
	int64		max_rows;		/* 0, or the rows it stops reading at */
	bool		overflow;		/* ... having reached them */
	int64		expected;		/* the rows it first makes room for, or 0 */
	EstRowsMap	map;			/* its pages mapped */
} RowBuffer;

/*
 * AppendRows adds n rows to buf, growing it by doubling within
 * estimator.max_memory (counted over every member's rows, *total).
 */
static void
AppendRows(RowBuffer *buf, const float *X, const float *y, const float *w,
		   int n, Size *total)
{
	EstData    *d = &buf->data;
	Size		row_bytes = (d->n_inputs + d->label_width + (d->w ? 1 : 0)) *
		sizeof(float);

	if (d->n_rows + n > buf->capacity)
	{
		int64		cap = buf->capacity * 2;

		/*
		 * at first, room for the rows expected, within estimator.max_memory:
		 * growing moves the arrays, whose pages are then slow to read once
		 * (see FirstCapacity in train.c)
		 */
		if (buf->capacity == 0 && buf->expected > 0)
		{
			Size		limit = (Size) estimator_max_memory * 1024;

			cap = Min(buf->expected,
					  (int64) ((limit - Min(*total, limit)) / row_bytes));
		}

		/* within the rows one backend would hold (ReadBlock stops there) */
		if (buf->max_rows > 0)
			cap = Min(cap, buf->max_rows);
		cap = Max(cap, d->n_rows + n);

		if (cap >= PG_UINT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the source has too many rows"),
					 errdetail("Training reads at most %u rows.",
							   PG_UINT32_MAX / 2)));
		EstCheckMemory(add_size(*total, mul_size(cap - buf->capacity, row_bytes)),
					   "training data");
		*total = add_size(*total, mul_size(cap - buf->capacity, row_bytes));
		d->X = repalloc_huge(d->X, mul_size(cap, d->n_inputs * sizeof(float)) + 1);
		d->y = repalloc_huge(d->y, mul_size(cap, d->label_width * sizeof(float)) + 1);
		if (d->w)
			d->w = repalloc_huge(d->w, mul_size(cap, sizeof(float)) + 1);
		buf->capacity = cap;
	}
	EstMapRowsAhead(&buf->map, d, d->n_rows + n, buf->capacity);
	memcpy(d->X + (size_t) d->n_rows * d->n_inputs, X,
		   (size_t) n * d->n_inputs * sizeof(float));
	memcpy(d->y + (size_t) d->n_rows * d->label_width, y,
		   (size_t) n * d->label_width * sizeof(float));
	if (d->w)
		memcpy(d->w + d->n_rows, w, (size_t) n * sizeof(float));
	d->n_rows += n;
}

/*
 * ExpectedRows is the room for the rows that member's range of blocks
 * should give by the planner's estimate (EstRoomForEstimate); 0 without an
 * estimate.
 */
static int64
ExpectedRows(const ReadShared *shared, int member)
{
	double		blocks;

	if (shared->rows_per_block <= 0 || member + 1 >= EST_MAX_PARALLEL_WORKERS + 2)
		return 0;
	blocks = (double) shared->bounds[member + 1] - (double) shared->bounds[member];
	if (blocks <= 0)
		return 0;
	return (int64) Min(EstRoomForEstimate(blocks * shared->rows_per_block),
					   (double) (PG_UINT32_MAX / 2));
}

/*
 * InitRowBuffer empties buf, which makes room for expected rows when the
 * first come (0: for them alone, then doubling).
 */
static void
InitRowBuffer(RowBuffer *buf, int n_inputs, int label_width, bool weighted,
			  int64 expected)
{
	memset(buf, 0, sizeof(*buf));
	buf->expected = expected;
	buf->data.n_inputs = n_inputs;
	buf->data.label_width = label_width;
	buf->data.X = palloc(1);
	buf->data.y = palloc(1);
	buf->data.w = weighted ? palloc(1) : NULL;
}

/* a block of rows as EstReaderNext encodes them, before they are kept */
typedef struct ReadScratch
{
	float	   *X;
	float	   *y;
	float	   *w;
} ReadScratch;

static void
InitScratch(ReadScratch *scratch, int n_inputs, int label_width, bool weighted)
{
	scratch->X = palloc(mul_size(EST_READ_BLOCK_ROWS, n_inputs * sizeof(float)));
	scratch->y = palloc(mul_size(EST_READ_BLOCK_ROWS, Max(label_width, 1) * sizeof(float)));
	scratch->w = weighted ? palloc(EST_READ_BLOCK_ROWS * sizeof(float)) : NULL;
}

/*
 * A member's figures of the rows it reads for a shard (see ReadShared),
 * counted a block at a time as the rows come, while they are in the
 * cache: its slots of the fingerprint, the largest label and the parts of
 * the fits.
 */
typedef struct ShardTally
{
	ReadShared *shared;
	int			member;
	const EstTransform *tf;
	char	   *stats;			/* its part of the fit, or NULL */
	char	   *labels;			/* ... of the labels, or NULL */
} ShardTally;

static void ShardTallyStart(ShardTally *tally, ReadShared *shared,
							char *stats, char *labels, int member,
							const EstTransform *tf);
static void ShardTallyRows(ShardTally *tally, const ReadScratch *scratch,
						   int n_inputs, int label_width, int n);

/*
 * ReadBlock reads the next block of rows of reader into buf, counting them
 * into tally (unless NULL), and returns how many; 0 at the end, or when
 * buf would reach its max_rows (buf->overflow: the call streams the
 * source instead, see EstParallelRead).
 */
static int
ReadBlock(EstReader *reader, ReadScratch *scratch, RowBuffer *buf, Size *total,
		  ShardTally *tally)
{
	int			got;

	CHECK_FOR_INTERRUPTS();
	got = EstReaderNext(reader, scratch->X, scratch->y, scratch->w,
						EST_READ_BLOCK_ROWS);
	if (got > 0 && buf->max_rows > 0 &&
		buf->data.n_rows + got >= buf->max_rows)
	{
		buf->overflow = true;
		return 0;
	}
	if (got > 0 && tally != NULL)
		ShardTallyRows(tally, scratch, buf->data.n_inputs,
					   buf->data.label_width, got);
	if (got > 0)
		AppendRows(buf, scratch->X, scratch->y, scratch->w, got, total);
	return got;
}

/*
 * ReceiveRows takes one message from a worker's queue into buf; it
 * returns false when the queue has nothing now (nowait) or has ended.
 */
static bool
ReceiveRows(shm_mq_handle *mqh, RowBuffer *buf, bool nowait, Size *total)
{
	Size		nbytes;
	void	   *msg;
	shm_mq_result res;
	int32		n;
	const float *p;
	EstData    *d = &buf->data;

	res = shm_mq_receive(mqh, &nbytes, &msg, nowait);
	if (res == SHM_MQ_WOULD_BLOCK)
		return false;
	if (res == SHM_MQ_DETACHED)
	{
		if (!buf->ended)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("a parallel worker stopped before sending all its rows")));
		return false;
	}
	if (nbytes < sizeof(int32))
		elog(ERROR, "short message from a parallel worker");
	memcpy(&n, msg, sizeof(int32));
	if (n == MSG_HELD)
	{
		if (nbytes != sizeof(int32) + sizeof(int64))
			elog(ERROR, "message of %zu bytes from a parallel worker for its count",
				 nbytes);
		memcpy(&buf->held, (const char *) msg + sizeof(int32), sizeof(int64));
		buf->counted = true;
		return true;
	}
	if (n < 0)
	{
		buf->ended = true;
		return false;
	}
	if (nbytes != sizeof(int32) + (Size) n * (d->n_inputs + d->label_width +
											   (d->w ? 1 : 0)) * sizeof(float))
		elog(ERROR, "message of %zu bytes from a parallel worker for %d rows",
			 nbytes, n);
	p = (const float *) ((const char *) msg + sizeof(int32));
	AppendRows(buf, p, p + (size_t) n * d->n_inputs,
			   d->w ? p + (size_t) n * (d->n_inputs + d->label_width) : NULL,
			   n, total);
	return true;
}

/*
 * AppendData copies the rows of from after those of to, which has the
 * room.
 */
static void
AppendData(EstData *to, const EstData *from)
{
	memcpy(to->X + (size_t) to->n_rows * to->n_inputs, from->X,
		   (size_t) from->n_rows * to->n_inputs * sizeof(float));
	memcpy(to->y + (size_t) to->n_rows * to->label_width, from->y,
		   (size_t) from->n_rows * to->label_width * sizeof(float));
	if (to->w != NULL)
		memcpy(to->w + to->n_rows, from->w, (size_t) from->n_rows * sizeof(float));
	to->n_rows += from->n_rows;
}

static void
FreeData(EstData *data)
{
	pfree(data->X);
	pfree(data->y);
	if (data->w != NULL)
		pfree(data->w);
}

/*
 * RowsLayout lays n rows out in a segment of the rows: the inputs, the
 * labels, the weights (when data->w is set), each MAXALIGNed; it points
 * data's arrays into base (which may be NULL, to learn the size) and
 * returns the segment's size.
 */
static Size
RowsLayout(int64 n, char *base, EstData *data)
{
	Size		x_bytes = MAXALIGN(mul_size(n, data->n_inputs * sizeof(float)));
	Size		y_bytes = MAXALIGN(mul_size(n, data->label_width * sizeof(float)));
	Size		w_bytes = data->w != NULL ? mul_size(n, sizeof(float)) : 0;

	if (base != NULL)
	{
		data->X = (float *) base;
		data->y = (float *) (base + x_bytes);
		data->w = data->w != NULL ? (float *) (base + x_bytes + y_bytes) : NULL;
	}
	return add_size(add_size(x_bytes, y_bytes), Max(w_bytes, 1));
}

/*
 * CopyRowsAt copies the rows of from into to, from its row first on.
 */
static void
CopyRowsAt(EstData *to, int64 first, const EstData *from)
{
	EstData		at = *to;

	at.n_rows = first;
	AppendData(&at, from);
}

/*
 * WakeWorkers sets the latch of every worker of a read, which waits for
 * what the backend says in shared.
 */
static void
WakeWorkers(ParallelContext *pcxt, const ReadShared *shared, shm_mq **mqs)
{
	for (int i = 0; i < pcxt->nworkers_launched; i++)
	{
		PGPROC	   *proc;

		if (shared->member_of[i] > 0 &&
			(proc = shm_mq_get_sender(mqs[i])) != NULL)
			SetLatch(&proc->procLatch);
	}
}

/*
 * CountRows gives each member the first of its rows among all, in block
 * order, from their counts (the backend's rows in bufs[0], each worker's
 * count in its buffer), and returns how many there are.
 */
static int64
CountRows(ReadShared *shared, const RowBuffer *bufs)
{
	int64		n = 0;

	for (int k = 0; k < shared->n_members; k++)
	{
		shared->first_row[k] = n;
		n += k == 0 ? bufs[0].data.n_rows : bufs[k].held;
	}
	shared->n_rows = n;
	return n;
}

/*
 * PlaceRows is the backend's side of hold (see ReadShared): with the
 * members' counts (its own rows in bufs[0], each worker's count in its
 * buffer) it makes a segment of dynamic shared memory for all the rows,
 * in block order, tells the workers where to copy theirs (or, when
 * /dev/shm lacks the room or no segment is left, to send them), and
 * copies its own.  It returns the segment, the rows in *data, or NULL.
 */
static dsm_segment *
PlaceRows(ParallelContext *pcxt, ReadShared *shared, shm_mq **mqs,
		  RowBuffer *bufs, EstData *data)
{
	int64		n = CountRows(shared, bufs);
	EstData		all = bufs[0].data;
	Size		size;
	double		free_bytes;
	dsm_segment *seg = NULL;

	size = RowsLayout(n, NULL, &all);
	if (n > 0 && SharedMemoryRoom(size, &free_bytes))
		seg = dsm_create(size, DSM_CREATE_NULL_IF_MAXSEGMENTS);
	if (seg != NULL)
		shared->rows_handle = dsm_segment_handle(seg);
	pg_write_barrier();
	pg_atomic_write_u32(&shared->placed, seg != NULL ? ROWS_PLACED : ROWS_SEND);
	WakeWorkers(pcxt, shared, mqs);
	if (seg == NULL)
		return NULL;
	/* the backend writes its rows, then reads them all */
	EstMapPages(dsm_segment_address(seg), size, true);
	RowsLayout(n, dsm_segment_address(seg), &all);
	CopyRowsAt(&all, 0, &bufs[0].data);
	FreeData(&bufs[0].data);
	all.n_rows = n;
	*data = all;
	return seg;
}

/*
 * TooManyRows tells whether the members of a read with hold hold, in all,
 * at least the rows past which the caller streams the source (see
 * ReadShared's max_rows), or some stopped reading there.
 */
static bool
TooManyRows(const ReadShared *shared, const RowBuffer *bufs)
{
	int64		n = 0;

	if (shared->max_rows == 0)
		return false;
	for (int k = 0; k < shared->n_members; k++)
	{
		if (bufs[k].overflow || (k > 0 && bufs[k].held < 0))
			return true;
		n += k == 0 ? bufs[0].data.n_rows : bufs[k].held;
	}
	return n >= shared->max_rows;
}

/*
 * ShardOf is the shard of a parallel read whose members have said how
 * many rows they hold (see EstShard).
 */
static EstShard *
ShardOf(ParallelContext *pcxt, ReadShared *shared, shm_mq **mqs,
		const RowBuffer *bufs, char *stats, char *labels)
{
	EstShard   *shard = palloc0(sizeof(EstShard));

	pg_read_barrier();
	CountRows(shared, bufs);
	pg_write_barrier();
	pg_atomic_write_u32(&shared->parts_ready, 1);
	WakeWorkers(pcxt, shared, mqs);
	shard->pcxt = pcxt;
	shard->shared = shared;
	shard->mqs = mqs;
	shard->stats = stats;
	shard->labels = labels;
	return shard;
}

/* the rows of all members of a shard */
int64
EstShardRows(const EstShard *shard)
{
	return shard->shared->n_rows;
}

/* the fingerprint of all the rows (EstDataFingerprint's, a sum) */
uint64
EstShardFingerprint(const EstShard *shard)
{
	uint64		sum = 0;

	for (int k = 0; k < shard->shared->n_members; k++)
		sum += shard->shared->fingerprint[k];
	return sum;
}

/* the largest label of all the rows (0 if none is larger) */
float
EstShardMaxLabel(const EstShard *shard)
{
	float		max_label = 0;

	for (int k = 0; k < shard->shared->n_members; k++)
		max_label = Max(max_label, shard->shared->max_label[k]);
	return max_label;
}

/*
 * EstShardFitParts returns the members' parts of the fit of a new model's
 * transform, in row order, for EstTransformFitParts; *n_parts is their
 * number.
 */
const void *
EstShardFitParts(const EstShard *shard, int *n_parts)
{
	*n_parts = shard->shared->n_members;
	return shard->stats;
}

/*
 * EstShardLabelParts returns the members' parts of a new regressor's
 * label statistics, in row order, for EstFeatureStateFitParts.
 */
const void *
EstShardLabelParts(const EstShard *shard, int *n_parts)
{
	*n_parts = shard->shared->n_members;
	return shard->labels;
}

/*
 * EstTeamBeginShard starts the training of a shard's members, each on
 * its own rows (own: the backend's), for steps steps from the encoded
 * checkpoint ckpt of n_params parameters: a segment of its own holds the
 * team's state, the checkpoint and the gradients, and the workers, which
 * have waited since the read, map it.  The workers have normalised their
 * rows already (ShardNormalise); own's must be too.
 */
EstTeam *
EstTeamBeginShard(EstShard *shard, const EstModelDef *def,
				  const uint8_t *ckpt, size_t ckpt_len, size_t n_params,
				  const EstStepPlan *sp, int64 steps, const EstData *own)
{
	ReadShared *rs = shard->shared;
	int			members = rs->n_members;
	shm_toc_estimator e;
	Size		size;
	dsm_segment *seg;
	shm_toc    *toc;
	TeamShared *shared;
	EstTeam    *team;
	char	   *area;
	Size		w_bytes = own->w != NULL ? mul_size(rs->n_rows, sizeof(float)) : 0;
	double		free_bytes;

	shm_toc_initialize_estimator(&e);
	shm_toc_estimate_chunk(&e, sizeof(TeamShared));
	shm_toc_estimate_chunk(&e, ckpt_len);
	shm_toc_estimate_chunk(&e, GradsBytes(members, n_params));
	if (w_bytes > 0)
		shm_toc_estimate_chunk(&e, w_bytes);
	shm_toc_estimate_keys(&e, 4);
	size = shm_toc_estimate(&e);
	if (!SharedMemoryRoom(size, &free_bytes))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("parallel training needs %zu MB of shared memory, and /dev/shm has %.0f MB free",
						size / (1024 * 1024) + 1, free_bytes / (1024 * 1024)),
				 errhint("Give /dev/shm more room, or train without parallel_workers.")));
	seg = dsm_create(size, 0);
	toc = shm_toc_create(EST_TEAM_MAGIC, dsm_segment_address(seg), size);

	shared = PutTeam(toc, def, ckpt, ckpt_len, n_params, sp, steps);
	memcpy(shared->member_of, rs->member_of, sizeof(shared->member_of));
	shared->n_members = members;
	pg_atomic_write_u32(&shared->ready, 1);
	shared->rows_handle = DSM_HANDLE_INVALID;
	shared->shard = true;
	shared->weighted = w_bytes > 0;
	shared->own_labels = EST_IS_REGRESSOR(def->type);
	area = shm_toc_allocate(toc, GradsBytes(members, n_params));
	shm_toc_insert(toc, EST_KEY_GRADS, area);

	team = palloc0(sizeof(EstTeam));
	team->pcxt = shard->pcxt;
	team->shared = shared;
	team->member = 0;
	team->X = own->X;
	team->y_score = own->y;
	team->first = 0;
	team->n_own = own->n_rows;
	team->seg = seg;
	team->shard = shard;
	AttachGrads(team, area);

	/*
	 * Weighted rows: every member needs the weight of every batch row for
	 * the batch's weight sum, so each puts its weights in one array (4
	 * bytes a row), at its rows' place.
	 */
	if (w_bytes > 0)
	{
		float	   *w = shm_toc_allocate(toc, w_bytes);

		memcpy(w, own->w, (Size) own->n_rows * sizeof(float));
		shm_toc_insert(toc, EST_KEY_W, w);
		team->w = w;
	}

	/* the workers, waiting since they said how many rows they hold, go */
	rs->team_handle = dsm_segment_handle(seg);
	pg_write_barrier();
	pg_atomic_write_u32(&rs->placed, ROWS_TRAIN);
	WakeWorkers(shard->pcxt, rs, shard->mqs);
	if (w_bytes > 0)
		TeamBarrier(team);		/* every member's weights are in place */
	return team;
}

/*
 * EstPackText appends NUL-terminated strings to buf.
 */
void
EstPackText(StringInfo buf, const char *s)
{
	appendBinaryStringInfo(buf, s ? s : "", strlen(s ? s : "") + 1);
}

const char *
EstUnpackText(const char **p)
{
	const char *s = *p;

	*p += strlen(s) + 1;
	return s;
}

/*
 * EstPackFeatures appends to buf the feature columns that a parallel
 * worker's reader opens the source with: each one's name, width and type
 * (which a column the source lacks keeps: the model's).
 */
void
EstPackFeatures(StringInfo buf, const EstColumn *features, int n)
{
	for (int i = 0; i < n; i++)
	{
		EstPackText(buf, features[i].name);
		appendBinaryStringInfo(buf, (const char *) &features[i].width,
							   sizeof(int));
		appendBinaryStringInfo(buf, (const char *) &features[i].type,
							   sizeof(Oid));
	}
}

/* EstUnpackFeatures reads back n columns of EstPackFeatures at *p. */
EstColumn *
EstUnpackFeatures(const char **p, int n)
{
	EstColumn  *features = palloc0(Max(n, 1) * sizeof(EstColumn));

	for (int i = 0; i < n; i++)
	{
		features[i].name = pstrdup(EstUnpackText(p));
		memcpy(&features[i].width, *p, sizeof(int));
		*p += sizeof(int);
		memcpy(&features[i].type, *p, sizeof(Oid));
		*p += sizeof(Oid);
	}
	return features;
}

/*
 * EstCreateQueues makes n queues of bytes each, side by side in area of
 * pcxt's segment, that the backend receives from: mqs (if not NULL) gets
 * the queues, and the result their handles, by worker number.
 */
shm_mq_handle **
EstCreateQueues(ParallelContext *pcxt, char *area, int n, Size bytes,
				shm_mq **mqs)
{
	shm_mq_handle **queues = palloc0(n * sizeof(shm_mq_handle *));

	for (int i = 0; i < n; i++)
	{
		shm_mq	   *mq = shm_mq_create(area + (Size) i * bytes, bytes);

		shm_mq_set_receiver(mq, MyProc);
		queues[i] = shm_mq_attach(mq, pcxt->seg, NULL);
		if (mqs != NULL)
			mqs[i] = mq;
	}
	return queues;
}

/*
 * EstWorkerQueue attaches a parallel worker, as its sender, to its queue of
 * those EstCreateQueues made in queues.
 */
shm_mq_handle *
EstWorkerQueue(dsm_segment *seg, char *queues, Size bytes)
{
	shm_mq	   *mq = (shm_mq *) (queues + (Size) ParallelWorkerNumber * bytes);

	shm_mq_set_sender(mq, MyProc);
	return shm_mq_attach(mq, seg, NULL);
}

/*
 * EstParallelRead reads source, a table of blocks blocks, with n_workers
 * parallel workers into data, in the order of a sequential scan.  reader
 * is the caller's reader of the whole source, already open (its columns
 * resolved, its transform set), which it closes; source is the qualified
 * name of its table (EstReaderRelationName), which every member checks it
 * opened (EstReaderCheckRelation); spec and features are
 * what opened it.  The workers encode with the model's checkpoint
 * (ckpt, an existing model) or the transform that params builds (a new
 * one).  It returns a reader of the backend's own range, read to its end,
 * for the caller to ask for the classes and close; or NULL, having read
 * nothing and left reader open, when no worker could start (the caller
 * then reads alone).  With share_rows, the rows go in a segment of
 * dynamic shared memory, *rows_seg, for parallel workers to train on
 * (see PlaceRows), if one can be had; the caller detaches it.  With
 * shard (a transform that fits in parts), each member keeps its rows instead, for a
 * training in which each trains on its own (see EstShard): data is then
 * the backend's rows only, and *shard the rest, for EstTeamBeginShard,
 * which the caller must reach (or fail before).
 *
 * With share_rows or shard, max_rows (unless 0) is the number of rows past
 * which the caller, reading alone, would stream the source: rows encoded
 * wider than the table stores them may outgrow estimator.max_memory even
 * though its blocks fit.  When the members hold that many rows in all,
 * they drop them and the call sets *too_large and returns a reader of the
 * whole table, for the caller to read alone (and stream), data empty.
 */
EstReader *
EstParallelRead(int n_workers, const char *source, BlockNumber blocks,
				const EstReadSpec *spec, EstReader *reader,
				const EstCheckpoint *ckpt, Jsonb *params, EstData *data,
				bool share_rows, dsm_segment **rows_seg, EstShard **shard,
				int64 max_rows, bool *too_large)
{
	ParallelContext *pcxt;
	ReadShared *shared;
	StringInfoData text;
	uint8_t    *blob = NULL;
	size_t		blob_len = 0;
	EstColumn  *features;
	int			n_features;
	int			n_inputs = EstReaderInputs(reader);
	int			label_width = EstReaderLabelWidth(reader);
	bool		weighted = spec->weight != NULL;
	int			members;
	char	   *area;
	shm_mq_handle **queues;
	shm_mq	  **mqs;
	RowBuffer  *bufs;
	EstReadSpec own = *spec;
	EstTransform *tf = EstReaderTransform(reader);
	Size		total = 0;
	char		coremsg[EST_ERRMSG_LEN];
	bool		fit_parts = shard != NULL && ckpt == NULL;
	bool		label_parts = fit_parts && spec->label_kind == EST_LABEL_VALUE;
	Size		stats_size = fit_parts ? EstTransformFitStatsSize(tf) : 0;
	Size		label_stats_size = label_parts ?
		EstFeatureStateStatsSize(label_width) : 0;
	char	   *stats = NULL;
	char	   *labels = NULL;
	Oid			relid;
	bool		dropped = false;

	*rows_seg = NULL;
	*too_large = false;
	if (shard != NULL)
	{
		*shard = NULL;
		if (fit_parts && !EstTransformFitsInParts(tf))
			elog(ERROR, "a shard's transform cannot be fitted in parts");
	}
	EstReaderColumns(reader, &features, &n_features);
	if (ckpt != NULL)
	{
		coremsg[0] = '\0';
		if (EstCheckpointEncode(ckpt, &blob, &blob_len, coremsg) != EST_OK)
			EstReportCoreError(EST_EINVAL, coremsg, "checkpoint");
	}
	else if (params != NULL)
	{
		blob_len = VARSIZE(params);
		blob = (uint8_t *) params;
	}

	initStringInfo(&text);
	EstPackText(&text, source);
	EstPackText(&text, spec->label);
	EstPackText(&text, spec->weight);
	EstPackFeatures(&text, features, n_features);
	for (int i = 0; i < spec->n_vocabulary; i++)
		EstPackText(&text, spec->vocabulary[i]);

	EnterParallelMode();
	pcxt = CreateParallelContext("estimator", "est_parallel_read_main",
								 n_workers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(ReadShared));
	shm_toc_estimate_chunk(&pcxt->estimator, text.len);
	shm_toc_estimate_chunk(&pcxt->estimator, Max(blob_len, 1));
	shm_toc_estimate_chunk(&pcxt->estimator,
						   mul_size(EST_READ_QUEUE_BYTES, n_workers));
	if (fit_parts)
		shm_toc_estimate_chunk(&pcxt->estimator,
							   mul_size(stats_size, n_workers + 1));
	if (label_parts)
		shm_toc_estimate_chunk(&pcxt->estimator,
							   mul_size(label_stats_size, n_workers + 1));
	shm_toc_estimate_keys(&pcxt->estimator, 6);
	InitializeParallelDSM(pcxt);
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	shared = shm_toc_allocate(pcxt->toc, sizeof(ReadShared));
	memset(shared, 0, sizeof(ReadShared));
	pg_atomic_init_u32(&shared->ready, 0);
	for (int i = 0; i < EST_MAX_PARALLEL_WORKERS; i++)
		shared->member_of[i] = -1;
	shared->n_features = n_features;
	shared->relid = EstReaderRelation(reader);
	shared->rows_per_block = blocks > 0 ?
		Max(EstReaderEstimatedRows(reader), 0) / blocks : 0;
	shared->label_kind = spec->label_kind;
	shared->label_width = EstReaderLabelColumnWidth(reader);
	shared->learn_vocabulary = spec->learn_vocabulary;
	shared->n_vocabulary = spec->n_vocabulary;
	shared->has_label = spec->label != NULL;
	shared->has_weight = weighted;
	shared->from_checkpoint = ckpt != NULL;
	shared->blob_len = blob_len;
	shared->n_inputs = n_inputs;
	shared->row_label_width = label_width;
	shared->hold = share_rows || shard != NULL;
	shared->max_rows = shared->hold ? max_rows : 0;
	shared->shard = shard != NULL;
	shared->fit_parts = fit_parts;
	shared->label_parts = label_parts;
	shared->stats_size = stats_size;
	shared->label_stats_size = label_stats_size;
	shared->team_handle = DSM_HANDLE_INVALID;
	pg_atomic_init_u32(&shared->parts_ready, 0);
	pg_atomic_init_u32(&shared->placed, ROWS_WAIT);
	shm_toc_insert(pcxt->toc, EST_KEY_READ, shared);
	area = shm_toc_allocate(pcxt->toc, text.len);
	memcpy(area, text.data, text.len);
	shm_toc_insert(pcxt->toc, EST_KEY_READ_TEXT, area);
	area = shm_toc_allocate(pcxt->toc, Max(blob_len, 1));
	if (blob_len > 0)
		memcpy(area, blob, blob_len);
	shm_toc_insert(pcxt->toc, EST_KEY_READ_BLOB, area);
	area = shm_toc_allocate(pcxt->toc, mul_size(EST_READ_QUEUE_BYTES, n_workers));
	shm_toc_insert(pcxt->toc, EST_KEY_READ_QUEUES, area);
	if (fit_parts)
	{
		stats = shm_toc_allocate(pcxt->toc, mul_size(stats_size, n_workers + 1));
		shm_toc_insert(pcxt->toc, EST_KEY_READ_STATS, stats);
	}
	if (label_parts)
	{
		labels = shm_toc_allocate(pcxt->toc,
								  mul_size(label_stats_size, n_workers + 1));
		shm_toc_insert(pcxt->toc, EST_KEY_READ_LABELS, labels);
	}
	mqs = palloc0(n_workers * sizeof(shm_mq *));
	queues = EstCreateQueues(pcxt, area, n_workers, EST_READ_QUEUE_BYTES, mqs);

	members = EstLaunchMembers(pcxt, shared->member_of);
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		if (shared->member_of[i] > 0)
			shm_mq_set_handle(queues[i], pcxt->worker[i].bgwhandle);
	shared->n_members = members;

	/*
	 * Without hold, the backend also takes in the workers' rows, which
	 * costs it about a quarter of reading them: it reads a smaller range,
	 * three quarters of a worker's, so that all finish together.
	 */
	shared->bounds[0] = 0;
	for (int k = 1; k <= members; k++)
		shared->bounds[k] = (BlockNumber) (shared->hold ?
										   (double) blocks * k / members :
										   (double) blocks * (k - 0.25) / (members - 0.25));
	pg_write_barrier();
	pg_atomic_write_u32(&shared->ready, 1);
	if (members == 1)
	{
		WaitForParallelWorkersToFinish(pcxt);
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		return NULL;
	}

	/* the backend reads the first range, taking the workers' rows meanwhile */
	EstReaderClose(reader);
	own.block_lo = 0;
	own.block_hi = shared->bounds[1];
	own.transform = tf;
	reader = EstReaderOpen(source, &own, features, n_features, false);
	EstReaderCheckRelation(reader, shared->relid);
	bufs = palloc0(members * sizeof(RowBuffer));
	for (int k = 0; k < members; k++)
		InitRowBuffer(&bufs[k], n_inputs, label_width, weighted,
					  ExpectedRows(shared, k));
	bufs[0].max_rows = shared->max_rows;
	{
		ReadScratch scratch;
		ShardTally	tally;

		InitScratch(&scratch, n_inputs, label_width, weighted);
		if (shard != NULL)
			ShardTallyStart(&tally, shared, stats, labels, 0, tf);
		while (ReadBlock(reader, &scratch, &bufs[0], &total,
						 shard != NULL ? &tally : NULL) > 0)
		{
			for (int i = 0; i < pcxt->nworkers_launched && !shared->hold; i++)
				if (shared->member_of[i] > 0)
					while (ReceiveRows(queues[i], &bufs[shared->member_of[i]],
									   true, &total))
						;
		}
	}
	if (shared->hold)
	{
		/* the workers' counts, then where every member's rows go */
		for (int i = 0; i < pcxt->nworkers_launched; i++)
			if (shared->member_of[i] > 0)
				while (!bufs[shared->member_of[i]].counted &&
					   !bufs[shared->member_of[i]].ended)
				{
					CHECK_FOR_INTERRUPTS();
					ReceiveRows(queues[i], &bufs[shared->member_of[i]], false, &total);
				}
		if (TooManyRows(shared, bufs))
		{
			/* the workers drop their rows and end */
			dropped = true;
			pg_atomic_write_u32(&shared->placed, ROWS_DROP);
			WakeWorkers(pcxt, shared, mqs);
		}
		else if (shard != NULL)
		{
			*shard = ShardOf(pcxt, shared, mqs, bufs, stats, labels);
			*data = bufs[0].data;
			if (ckpt != NULL)
				EstFree(blob);
			return reader;
		}
		else
			*rows_seg = PlaceRows(pcxt, shared, mqs, bufs, data);
	}
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		if (shared->member_of[i] > 0)
			while (!bufs[shared->member_of[i]].ended)
			{
				CHECK_FOR_INTERRUPTS();
				ReceiveRows(queues[i], &bufs[shared->member_of[i]], false, &total);
			}
	relid = shared->relid;
	WaitForParallelWorkersToFinish(pcxt);
	DestroyParallelContext(pcxt);
	ExitParallelMode();

	if (dropped)
	{
		/* a reader of the whole table, for the caller to stream */
		for (int k = 0; k < members; k++)
			FreeData(&bufs[k].data);
		EstReaderClose(reader);
		own.block_lo = 0;
		own.block_hi = 0;
		reader = EstReaderOpen(source, &own, features, n_features, false);
		EstReaderCheckRelation(reader, relid);
		memset(data, 0, sizeof(*data));
		*too_large = true;
	}
	/* the ranges in block order: the backend's rows, then each worker's */
	else if (*rows_seg == NULL)
	{
		int64		n = 0;

		*data = bufs[0].data;
		for (int k = 0; k < members; k++)
			n += bufs[k].data.n_rows;
		data->X = repalloc_huge(data->X, mul_size(n, n_inputs * sizeof(float)) + 1);
		data->y = repalloc_huge(data->y, mul_size(n, label_width * sizeof(float)) + 1);
		if (weighted)
			data->w = repalloc_huge(data->w, mul_size(n, sizeof(float)) + 1);
		for (int k = 1; k < members; k++)
		{
			AppendData(data, &bufs[k].data);
			FreeData(&bufs[k].data);
		}
	}
	if (ckpt != NULL)
		EstFree(blob);
	return reader;
}

/*
 * SendRows sends n rows of d from row lo on, packed in msg: their count,
 * inputs, labels and weights.  False: the backend has gone.
 */
static bool
SendRows(shm_mq_handle *mqh, char *msg, const EstData *d, int64 lo, int32 n)
{
	float	   *p = (float *) (msg + sizeof(int32));

	memcpy(msg, &n, sizeof(int32));
	memcpy(p, d->X + (size_t) lo * d->n_inputs,
		   (size_t) n * d->n_inputs * sizeof(float));
	p += (size_t) n * d->n_inputs;
	memcpy(p, d->y + (size_t) lo * d->label_width,
		   (size_t) n * d->label_width * sizeof(float));
	p += (size_t) n * d->label_width;
	if (d->w != NULL)
	{
		memcpy(p, d->w + lo, (size_t) n * sizeof(float));
		p += n;
	}
	return shm_mq_send(mqh, (Size) ((char *) p - msg), msg, false, true) ==
		SHM_MQ_SUCCESS;
}

/*
 * StreamRows is a worker's reading without hold: it sends its rows as it
 * reads them, a block at a time.  False: the backend has gone.
 */
static bool
StreamRows(ReadShared *shared, shm_mq_handle *mqh, EstReader *reader,
		   char *msg)
{
	ReadScratch scratch;
	EstData		block;
	int			got;

	InitScratch(&scratch, shared->n_inputs, shared->row_label_width,
				shared->has_weight);
	block.n_inputs = shared->n_inputs;
	block.label_width = shared->row_label_width;
	block.X = scratch.X;
	block.y = scratch.y;
	block.w = scratch.w;
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		got = EstReaderNext(reader, scratch.X, scratch.y, scratch.w,
							EST_READ_BLOCK_ROWS);
		if (got == 0)
			return true;
		if (!SendRows(mqh, msg, &block, 0, got))
			return false;
	}
}

/*
 * ShardTallyStart makes tally count member's rows of a shard into its
 * slots (see ReadShared), zeroed; tf is the transform that encodes them.
 */
static void
ShardTallyStart(ShardTally *tally, ReadShared *shared, char *stats,
				char *labels, int member, const EstTransform *tf)
{
	tally->shared = shared;
	tally->member = member;
	tally->tf = tf;
	tally->stats = NULL;
	tally->labels = NULL;
	shared->fingerprint[member] = 0;
	shared->max_label[member] = 0;
	if (shared->fit_parts)
	{
		if (EstTransformFitStatsSize(tf) != shared->stats_size)
			elog(ERROR, "a parallel worker's fit has %zu bytes of statistics, the backend's %zu",
				 EstTransformFitStatsSize(tf), shared->stats_size);
		tally->stats = stats + (Size) member * shared->stats_size;
		memset(tally->stats, 0, shared->stats_size);
	}
	if (shared->label_parts)
	{
		tally->labels = labels + (Size) member * shared->label_stats_size;
		memset(tally->labels, 0, shared->label_stats_size);
	}
}

/*
 * ShardTallyRows counts n rows as read (in scratch) into a member's
 * figures: those the backend needs of all the rows, which add up (the
 * fingerprint is a sum) or merge (the largest label, the parts of the
 * fits).
 */
static void
ShardTallyRows(ShardTally *tally, const ReadScratch *scratch, int n_inputs,
			   int label_width, int n)
{
	ReadShared *shared = tally->shared;
	EstData		block;
	float		max_label = shared->max_label[tally->member];

	block.n_rows = n;
	block.n_inputs = n_inputs;
	block.label_width = label_width;
	block.X = scratch->X;
	block.y = scratch->y;
	block.w = scratch->w;
	shared->fingerprint[tally->member] += EstDataFingerprint(&block);
	for (size_t i = 0; i < (size_t) n * label_width; i++)
		max_label = Max(max_label, block.y[i]);
	shared->max_label[tally->member] = max_label;
	if (tally->stats != NULL)
		EstTransformFitPartAdd(tally->tf, block.X, n, tally->stats);
	if (tally->labels != NULL)
		EstFeatureStateFitPartAdd(label_width, block.y, n, tally->labels);
}

/*
 * ShardNormalise normalises a worker's rows of a shard, as the backend
 * does its own: with a new model's transform, fitted from every member's
 * part of the statistics (the same floats as the backend's fit, the same
 * code over the same parts), or an existing model's.
 */
static void
ShardNormalise(ReadShared *shared, const char *stats, EstData *own,
			   EstTransform *tf)
{
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;

	if (!shared->fit_parts)
	{
		EstTransformApply(tf, own->X, own->n_rows);
		return;
	}
	coremsg[0] = '\0';
	status = EstTransformFitParts(tf, stats, shared->n_members, own->X,
								  own->n_rows, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "transform");
}

/*
 * ShardMember is a worker's training in a shard: it maps the team's
 * segment and trains on its rows own, normalised already (rows [first,
 * first + own->n_rows) of all), with a regressor's labels standardised as
 * the backend does its own, and its weights put with every member's.
 */
static void
ShardMember(const ReadShared *rs, EstData *own, int member)
{
	dsm_segment *seg = dsm_attach(rs->team_handle);
	shm_toc    *toc;
	EstTeam		team;
	EstCheckpoint ckpt;
	float	   *y;

	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map the segment of the training team")));
	toc = shm_toc_attach(EST_TEAM_MAGIC, dsm_segment_address(seg));
	if (toc == NULL)
		elog(ERROR, "the segment of the training team has a bad magic number");
	memset(&team, 0, sizeof(team));
	team.shared = shm_toc_lookup(toc, EST_KEY_TEAM, false);
	team.member = member;
	AttachGrads(&team, shm_toc_lookup(toc, EST_KEY_GRADS, false));
	DecodeTeamCheckpoint(toc, team.shared, &ckpt);
	team.X = own->X;
	team.y_score = own->y;
	team.first = rs->first_row[member];
	team.n_own = own->n_rows;
	if (team.first < 0 || team.first > rs->n_rows - own->n_rows)
		elog(ERROR, "rows " INT64_FORMAT " to " INT64_FORMAT " lie outside the " INT64_FORMAT " of the shard",
			 team.first, team.first + own->n_rows, rs->n_rows);
	if (team.shared->weighted)
	{
		float	   *w = shm_toc_lookup(toc, EST_KEY_W, false);

		memcpy(w + team.first, own->w, (Size) own->n_rows * sizeof(float));
		TeamBarrier(&team);
		team.w = w + team.first;	/* indexed by rows of this member */
	}
	y = own->y;
	if (team.shared->own_labels)
	{
		Size		bytes = mul_size(own->n_rows, own->label_width * sizeof(float));

		y = MemoryContextAllocHuge(CurrentMemoryContext, bytes + 1);
		memcpy(y, own->y, bytes);
		EstFeatureStateApply(&ckpt.labels, y, own->n_rows);
	}
	MemberSteps(&team, &ckpt, y);
	EstCheckpointFree(&ckpt);
	dsm_detach(seg);
}

/*
 * HoldRows is a worker's side of hold (see ReadShared): it reads its
 * range into its own memory, says how many rows it holds, waits until
 * the backend has placed them, and copies them where it says, or sends
 * them; in a shard, it trains on them.  False: the backend has gone.
 */
static bool
HoldRows(ReadShared *shared, shm_mq_handle *mqh, EstReader *reader,
		 int member, char *msg, char *stats, char *labels)
{
	RowBuffer	buf;
	Size		total = 0;
	int			n_inputs = shared->n_inputs;
	int			label_width = shared->row_label_width;
	bool		weighted = shared->has_weight;
	ReadScratch scratch;
	char		count[sizeof(int32) + sizeof(int64)];
	int32		tag = MSG_HELD;
	uint32		placed;
	bool		normalised = false;
	ShardTally	tally;

	InitRowBuffer(&buf, n_inputs, label_width, weighted,
				  ExpectedRows(shared, member));
	buf.max_rows = shared->max_rows;
	InitScratch(&scratch, n_inputs, label_width, weighted);
	if (shared->shard)
		ShardTallyStart(&tally, shared, stats, labels, member,
						EstReaderTransform(reader));
	while (ReadBlock(reader, &scratch, &buf, &total,
					 shared->shard ? &tally : NULL) > 0)
		;
	pg_write_barrier();			/* the figures, before the count */
	memcpy(count, &tag, sizeof(int32));
	if (buf.overflow)
		buf.data.n_rows = -1;	/* too many: the backend reads alone */
	memcpy(count + sizeof(int32), &buf.data.n_rows, sizeof(int64));
	if (shm_mq_send(mqh, sizeof(count), count, false, true) != SHM_MQ_SUCCESS)
		return false;

	/* a shard's rows are normalised as soon as the transform is known */
	while ((placed = pg_atomic_read_u32(&shared->placed)) == ROWS_WAIT)
	{
		if (shared->shard && !normalised && !buf.overflow &&
			(!shared->fit_parts || pg_atomic_read_u32(&shared->parts_ready)))
		{
			pg_read_barrier();
			ShardNormalise(shared, stats, &buf.data, EstReaderTransform(reader));
			normalised = true;
			continue;
		}
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pg_read_barrier();
	if (placed == ROWS_DROP)
		return true;
	if (placed == ROWS_TRAIN)
	{
		if (!normalised)
			ShardNormalise(shared, stats, &buf.data, EstReaderTransform(reader));
		ShardMember(shared, &buf.data, member);
		return true;
	}
	if (placed == ROWS_PLACED)
	{
		dsm_segment *seg = dsm_attach(shared->rows_handle);
		EstData		all = buf.data;
		int64		first = shared->first_row[member];

		if (seg == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("could not map the segment of the training rows")));
		if (first < 0 || first > shared->n_rows - buf.data.n_rows)
			elog(ERROR, "rows " INT64_FORMAT " to " INT64_FORMAT " lie outside the " INT64_FORMAT " of the segment",
				 first, first + buf.data.n_rows, shared->n_rows);
		RowsLayout(shared->n_rows, dsm_segment_address(seg), &all);
		EstMapPages(all.X + (size_t) first * n_inputs,
					(Size) buf.data.n_rows * n_inputs * sizeof(float), true);
		EstMapPages(all.y + (size_t) first * label_width,
					(Size) buf.data.n_rows * label_width * sizeof(float), true);
		if (weighted)
			EstMapPages(all.w + first, (Size) buf.data.n_rows * sizeof(float),
						true);
		CopyRowsAt(&all, first, &buf.data);
		dsm_detach(seg);
		return true;
	}
	for (int64 lo = 0; lo < buf.data.n_rows; lo += EST_READ_BLOCK_ROWS)
		if (!SendRows(mqh, msg, &buf.data, lo,
					  (int32) Min(EST_READ_BLOCK_ROWS, buf.data.n_rows - lo)))
			return false;
	return true;
}

/*
 * est_parallel_read_main is a reading worker's life: open the same source
 * on its block range, encode as the backend does, and send the rows.
 */
void
est_parallel_read_main(dsm_segment *seg, shm_toc *toc)
{
	ReadShared *shared = shm_toc_lookup(toc, EST_KEY_READ, false);
	const char *p = shm_toc_lookup(toc, EST_KEY_READ_TEXT, false);
	const uint8_t *blob = shm_toc_lookup(toc, EST_KEY_READ_BLOB, false);
	char	   *queues = shm_toc_lookup(toc, EST_KEY_READ_QUEUES, false);
	char	   *stats = shm_toc_lookup(toc, EST_KEY_READ_STATS, true);
	char	   *labels = shm_toc_lookup(toc, EST_KEY_READ_LABELS, true);
	EstReadSpec spec;
	const char *source;
	EstColumn  *features;
	EstReader  *reader;
	EstTransform tf;
	EstCheckpoint ckpt;
	shm_mq_handle *mqh;
	int			member;
	int			n_inputs;
	int			label_width;
	int			row_floats;
	char	   *msg;
	bool		sent;			/* false: the backend has gone */

	member = EstMemberIndex(&shared->ready, shared->member_of);
	if (member < 0)
		return;
	mqh = EstWorkerQueue(seg, queues, EST_READ_QUEUE_BYTES);

	memset(&spec, 0, sizeof(spec));
	source = EstUnpackText(&p);
	spec.label = EstUnpackText(&p);
	spec.weight = EstUnpackText(&p);
	if (!shared->has_label)
		spec.label = NULL;
	if (!shared->has_weight)
		spec.weight = NULL;
	spec.label_kind = shared->label_kind;
	spec.label_width = shared->label_width;
	spec.learn_vocabulary = shared->learn_vocabulary;
	features = EstUnpackFeatures(&p, shared->n_features);
	spec.n_vocabulary = shared->n_vocabulary;
	spec.vocabulary = palloc0(Max(shared->n_vocabulary, 1) * sizeof(char *));
	for (int i = 0; i < shared->n_vocabulary; i++)
		spec.vocabulary[i] = pstrdup(EstUnpackText(&p));
	spec.block_lo = shared->bounds[member];
	spec.block_hi = member + 1 < shared->n_members ? shared->bounds[member + 1] : 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	reader = EstReaderOpen(source, &spec, features, shared->n_features, false);
	EstReaderCheckRelation(reader, shared->relid);
	if (shared->from_checkpoint)
	{
		char		coremsg[EST_ERRMSG_LEN];
		EstStatus	status;

		coremsg[0] = '\0';
		status = EstCheckpointDecode(blob, shared->blob_len, &ckpt, coremsg);
		if (status != EST_OK)
			EstReportCoreError(status, coremsg, "checkpoint");
		EstReaderSetTransform(reader, &ckpt.transform);
	}
	else
	{
		EstOptions	opts;

		EstParseParams(shared->blob_len > 0 ? (Jsonb *) blob : NULL, &opts);
		EstBuildTransform(features, shared->n_features, &opts, &tf);
		EstReaderSetTransform(reader, &tf);
	}
	n_inputs = EstReaderInputs(reader);
	label_width = EstReaderLabelWidth(reader);
	if (n_inputs != shared->n_inputs || label_width != shared->row_label_width)
		elog(ERROR, "a parallel worker encodes rows of %d inputs and %d label floats, the backend %d and %d",
			 n_inputs, label_width, shared->n_inputs, shared->row_label_width);

	row_floats = n_inputs + label_width + (shared->has_weight ? 1 : 0);
	msg = palloc(sizeof(int32) + (Size) EST_READ_BLOCK_ROWS * row_floats * sizeof(float));
	sent = shared->hold ?
		HoldRows(shared, mqh, reader, member, msg, stats, labels) :
		StreamRows(shared, mqh, reader, msg);
	/* close the scan before the commit even when the backend has gone */
	EstReaderClose(reader);
	SPI_finish();
	if (!sent)
		return;
	{
		int32		end = MSG_END;

		shm_mq_send(mqh, sizeof(int32), &end, false, true);
	}
}
