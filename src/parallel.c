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
 * The dynamic shared memory segment holds the training rows (the
 * transformed inputs, the training targets and the weights), the
 * checkpoint to start from, the plan of the steps, and one gradient
 * buffer per member.  Every member decodes the same checkpoint and draws
 * the same epoch orders from it, so each knows every batch.  At each step
 * member k computes the gradient of its share of the batch (a contiguous
 * slice: batch_size / (N + 1) rows, give or take one), scaled by the
 * denominator of the whole batch, so that the shares add up to the
 * gradient of the whole batch.  EstTeamReduce adds them, in member order,
 * so that every member gets the same sum and applies the same update: the
 * weights of all members stay identical, and the training is the
 * one-backend training with the batch's rows summed in another order (it
 * converges the same way; the results differ in the last bits).
 *
 * The members meet once a step at a barrier: a counter in shared memory
 * that each member increments after writing its gradient, waiting (by
 * spinning, then yielding) until every member of the step has.  Two
 * buffers alternate between steps, so that a member may write the next
 * step's gradient while a slower one still reads this step's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <sched.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "storage/shm_toc.h"
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

typedef struct TeamShared
{
	pg_atomic_uint64 arrived;	/* members at barriers, all steps summed */
	pg_atomic_uint32 ready;		/* the leader has filled in the members */
	int			n_members;
	int			member_of[EST_MAX_PARALLEL_WORKERS];	/* by worker number;
														 * -1: not a member */
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
	/* each member's score of its rows: loss, accuracy, weight sum */
	double		scores[EST_MAX_PARALLEL_WORKERS + 1][3];
} TeamShared;

struct EstTeam
{
	ParallelContext *pcxt;		/* NULL in a worker */
	TeamShared *shared;
	int			member;			/* 0: the leader */
	float	   *grads;			/* [2][n_members][n_params] */
	double	   *losses;			/* [2][n_members] */
	uint64		rounds;			/* barriers passed */
	const float *X;				/* the training rows, in shared memory */
	const float *y_score;		/* their labels, in the label's units */
	const float *w;
};

PGDLLEXPORT void est_parallel_train_main(dsm_segment *seg, shm_toc *toc);

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
 * EstTeamBegin starts n_workers parallel workers of model def for
 * plan->steps steps that start from the encoded checkpoint ckpt, over the
 * rows X, y (the training targets) and w (NULL: unweighted); y_score are
 * the labels in their own units (y itself but for regressors), for
 * EstTeamScore.  It returns NULL, having said so in a NOTICE, when
 * no worker could start: the backend then trains alone.
 */
EstTeam *
EstTeamBegin(int n_workers, const EstModelDef *def, const uint8_t *ckpt,
			 size_t ckpt_len, const EstStepPlan *sp, int64 steps,
			 const float *X, const float *y, const float *y_score,
			 const float *w)
{
	ParallelContext *pcxt;
	TeamShared *shared;
	EstTeam    *team;
	Size		x_bytes = mul_size(mul_size(sp->n_train, sp->n_inputs),
								   sizeof(float));
	Size		y_bytes = mul_size(mul_size(sp->n_train, sp->label_width),
								   sizeof(float));
	Size		w_bytes = w ? mul_size(sp->n_train, sizeof(float)) : 0;
	size_t		n_params;
	int			members = 1;
	char	   *area;
	EstCheckpoint probe;
	char		coremsg[EST_ERRMSG_LEN];

	/* the gradient's size, from the checkpoint the workers will decode */
	coremsg[0] = '\0';
	if (EstCheckpointDecode(ckpt, ckpt_len, &probe, coremsg) != EST_OK)
		EstReportCoreError(EST_EINVAL, coremsg, "checkpoint");
	n_params = probe.net.n_params;
	EstCheckpointFree(&probe);

	EnterParallelMode();
	pcxt = CreateParallelContext("estimator", "est_parallel_train_main",
								 n_workers);
	shm_toc_estimate_chunk(&pcxt->estimator, sizeof(TeamShared));
	shm_toc_estimate_chunk(&pcxt->estimator, ckpt_len);
	shm_toc_estimate_chunk(&pcxt->estimator, x_bytes);
	shm_toc_estimate_chunk(&pcxt->estimator, y_bytes);
	if (w != NULL)
		shm_toc_estimate_chunk(&pcxt->estimator, w_bytes);
	if (y_score != y)
		shm_toc_estimate_chunk(&pcxt->estimator, y_bytes);
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

	shared = shm_toc_allocate(pcxt->toc, sizeof(TeamShared));
	memset(shared, 0, sizeof(TeamShared));
	pg_atomic_init_u64(&shared->arrived, 0);
	pg_atomic_init_u32(&shared->ready, 0);
	for (int i = 0; i < EST_MAX_PARALLEL_WORKERS; i++)
		shared->member_of[i] = -1;
	shared->sp = *sp;
	shared->steps = steps;
	shared->ckpt_len = ckpt_len;
	shared->n_params = n_params;
	shared->weighted = w != NULL;
	shared->own_labels = y_score != y;
	shared->model_type = def->type;
	shared->n_classes = def->n_classes;
	strlcpy(shared->name, def->name, NAMEDATALEN);
	strlcpy(shared->label, def->label ? def->label : "", NAMEDATALEN);
	shm_toc_insert(pcxt->toc, EST_KEY_TEAM, shared);

	area = shm_toc_allocate(pcxt->toc, ckpt_len);
	memcpy(area, ckpt, ckpt_len);
	shm_toc_insert(pcxt->toc, EST_KEY_CHECKPOINT, area);
	team = palloc0(sizeof(EstTeam));
	team->X = CopyToSegment(pcxt, EST_KEY_X, X, x_bytes);
	team->y_score = CopyToSegment(pcxt, EST_KEY_Y, y, y_bytes);
	if (y_score != y)
		team->y_score = CopyToSegment(pcxt, EST_KEY_LABELS, y_score, y_bytes);
	if (w != NULL)
		team->w = CopyToSegment(pcxt, EST_KEY_W, w, w_bytes);
	area = shm_toc_allocate(pcxt->toc, GradsBytes(n_workers + 1, n_params));
	shm_toc_insert(pcxt->toc, EST_KEY_GRADS, area);

	LaunchParallelWorkers(pcxt);
	if (pcxt->nworkers_launched > 0)
		WaitForParallelWorkersToAttach(pcxt);

	/* the members: the leader, then every worker that attached */
	for (int i = 0; i < pcxt->nworkers_launched; i++)
		if (pcxt->known_attached_workers[i])
			shared->member_of[i] = members++;
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
	AttachGrads(team, area);
	return team;
}

int
EstTeamSize(const EstTeam *team)
{
	return team->shared->n_members;
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
 * TeamCheck raises the error of a worker that stopped before the end
 * (its own error reaches us through CHECK_FOR_INTERRUPTS; this catches a
 * worker that vanished without one).
 */
static void
TeamCheck(EstTeam *team)
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
								   &pid) == BGWH_STOPPED)
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
		TeamCheck(team);
		sched_yield();
	}
	pg_read_barrier();
}

/*
 * EstTeamReduce is the barrier of a step: it publishes this member's
 * gradient (n floats) and loss, waits for every member's, and replaces
 * grad with their sum, added in member order so that every member gets
 * the very same floats.  It returns the summed loss.
 */
double
EstTeamReduce(EstTeam *team, float *grad, size_t n, double loss)
{
	TeamShared *shared = team->shared;
	int			m = shared->n_members;
	int			parity = (int) (team->rounds % 2);
	float	   *mine = team->grads + ((size_t) parity * m + team->member) * n;
	const float *first = team->grads + (size_t) parity * m * n;
	double		sum;

	Assert(n == shared->n_params);
	memcpy(mine, grad, n * sizeof(float));
	team->losses[parity * m + team->member] = loss;
	TeamBarrier(team);

	memcpy(grad, first, n * sizeof(float));
	for (int k = 1; k < m; k++)
	{
		const float *other = first + (size_t) k * n;

		for (size_t i = 0; i < n; i++)
			grad[i] += other[i];
	}
	sum = 0;
	for (int k = 0; k < m; k++)
		sum += team->losses[parity * m + k];
	return sum;
}

/*
 * EstTeamScore scores the training rows with the trained weights, each
 * member its contiguous share, and returns in *loss and *accuracy the
 * figures of all the rows, as EstScoreData gives them (both are sums over
 * the rows divided by the weight sum, so the shares' add up).
 */
void
EstTeamScore(EstTeam *team, EstCheckpoint *ckpt, EstWorkspace *ws,
			 double *loss, double *accuracy)
{
	TeamShared *shared = team->shared;
	int64		n = shared->sp.n_train;
	int64		lo = n * team->member / shared->n_members;
	int64		hi = n * (team->member + 1) / shared->n_members;
	int			d = shared->sp.n_inputs;
	int			lw = shared->sp.label_width;
	EstModelDef def;
	EstData		rows;
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
	rows.n_rows = hi - lo;
	rows.n_inputs = d;
	rows.label_width = lw;
	rows.X = (float *) team->X + (size_t) lo * d;
	rows.y = (float *) team->y_score + (size_t) lo * lw;
	rows.w = team->w ? (float *) team->w + lo : NULL;
	for (int64 i = 0; i < rows.n_rows; i++)
		weight_sum += rows.w ? (double) rows.w[i] : 1.0;
	if (rows.n_rows > 0)
	{
		EstScoreData(&def, ckpt, ws, &rows, &set, false);
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
	pfree(team);
}

/*
 * est_parallel_train_main is a worker's life: wait until the leader has
 * counted the members, decode the checkpoint, and run the same steps with
 * its share of every batch.  Its weights are thrown away at the end: the
 * leader's are the same.
 */
void
est_parallel_train_main(dsm_segment *seg, shm_toc *toc)
{
	TeamShared *shared = shm_toc_lookup(toc, EST_KEY_TEAM, false);
	EstTeam		team;
	EstCheckpoint ckpt;
	EstWorkspace ws;
	EstStepRows rows;
	char		coremsg[EST_ERRMSG_LEN];
	EstStatus	status;
	int			lo;
	int			hi;

	(void) seg;
	while (pg_atomic_read_u32(&shared->ready) == 0)
	{
		CHECK_FOR_INTERRUPTS();
		pg_spin_delay();
	}
	pg_read_barrier();
	if (ParallelWorkerNumber < 0 ||
		ParallelWorkerNumber >= EST_MAX_PARALLEL_WORKERS ||
		shared->member_of[ParallelWorkerNumber] < 0)
		return;

	memset(&team, 0, sizeof(team));
	team.shared = shared;
	team.member = shared->member_of[ParallelWorkerNumber];
	AttachGrads(&team, shm_toc_lookup(toc, EST_KEY_GRADS, false));

	coremsg[0] = '\0';
	status = EstCheckpointDecode(shm_toc_lookup(toc, EST_KEY_CHECKPOINT, false),
								 shared->ckpt_len, &ckpt, coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "checkpoint");
	EstTeamShare(&team, shared->sp.batch_size, &lo, &hi);
	status = EstWorkspaceInit(&ws, &ckpt.net, Max(hi - lo, 1), coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	team.X = shm_toc_lookup(toc, EST_KEY_X, false);
	team.y_score = shm_toc_lookup(toc, shared->own_labels ? EST_KEY_LABELS :
								  EST_KEY_Y, false);
	team.w = shared->weighted ? shm_toc_lookup(toc, EST_KEY_W, false) : NULL;
	EstStepRowsInit(&rows, &ckpt, &shared->sp, team.X,
					shm_toc_lookup(toc, EST_KEY_Y, false), team.w, hi - lo);

	for (int64 step = 0; step < shared->steps; step++)
	{
		double		loss = EstTrainStep(&ckpt, &ws, &rows, &shared->sp, &team);

		/* the leader stops with an error; so does the training here */
		if (isnan(loss) || isinf(loss))
			return;
	}

	/* the training rows' figures, in blocks as large as the leader's */
	EstWorkspaceFree(&ws);
	status = EstWorkspaceInit(&ws, &ckpt.net, Max(shared->sp.batch_size, 1024),
							  coremsg);
	if (status != EST_OK)
		EstReportCoreError(status, coremsg, "workspace");
	{
		double		loss;
		double		accuracy;

		EstTeamScore(&team, &ckpt, &ws, &loss, &accuracy);
	}
	EstWorkspaceFree(&ws);
	EstCheckpointFree(&ckpt);
}
