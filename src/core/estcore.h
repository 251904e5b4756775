/*-------------------------------------------------------------------------
 *
 * estcore.h
 *	  The pure core of estimator: networks, optimizers, random numbers,
 *	  metrics and the checkpoint codec.
 *
 * Nothing here includes a PostgreSQL header.  The core needs only the C
 * library and CBLAS, reports errors by return value (EST_OK or an
 * EstStatus with a message in the caller's buffer) and allocates through
 * EstAlloc/EstFree, which the backend points at palloc and the unit tests
 * at malloc.  See the README section "Architecture".
 *
 *-------------------------------------------------------------------------
 */
#ifndef ESTCORE_H
#define ESTCORE_H

#include <stddef.h>
#include <stdint.h>

/* Limits, checked before anything is allocated. */
#define EST_MAX_LAYERS		32			/* hidden layers */
#define EST_MAX_UNITS		65536		/* units of one layer, and inputs */
#define EST_MAX_CLASSES		65536
#define EST_MAX_PARAMS		((size_t) 1 << 28)	/* weights of one network */

#define EST_ERRMSG_LEN		256

typedef enum EstStatus
{
	EST_OK = 0,
	EST_EINVAL,					/* bad argument (caller's bug or bad spec) */
	EST_ENOMEM,					/* the allocator returned NULL */
	EST_ELIMIT,					/* a size limit above was exceeded */
	EST_ECORRUPT,				/* checkpoint bytes are damaged */
	EST_EVERSION				/* checkpoint written by a newer format */
} EstStatus;

/* Formats a message into errmsg (EST_ERRMSG_LEN bytes, may be NULL). */
extern void EstSetError(char *errmsg, const char *fmt,...)
#ifdef __GNUC__
			__attribute__((format(printf, 2, 3)))
#endif
			;

/* ----------------------------------------------------------------
 * Allocator
 * ----------------------------------------------------------------
 */
typedef void *(*EstAllocFn) (size_t size);
typedef void (*EstFreeFn) (void *ptr);

/* Sets the allocator; the default is malloc/free. */
extern void EstSetAllocator(EstAllocFn alloc, EstFreeFn free);
/* Returns NULL on failure (or size 0: returns a valid pointer for 1 byte). */
extern void *EstAlloc(size_t size);
/* Like EstAlloc, but zero-filled; checks n * size for overflow. */
extern void *EstAllocZero(size_t n, size_t size);
extern void EstFree(void *ptr);	/* accepts NULL */

/* ----------------------------------------------------------------
 * Random numbers (rng.c): xoshiro256** seeded through splitmix64, so the
 * same seed gives the same stream on every machine.
 * ----------------------------------------------------------------
 */
typedef struct EstRng
{
	uint64_t	s[4];
} EstRng;

extern void EstRngSeed(EstRng *rng, uint64_t seed);
extern uint64_t EstRngNext(EstRng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
extern double EstRngUniform(EstRng *rng);
/* Uniform integer in [0, bound), unbiased (Lemire); bound > 0. */
extern uint64_t EstRngBounded(EstRng *rng, uint64_t bound);
/* Fisher-Yates shuffle of perm[0..n-1]. */
extern void EstRngShuffle(EstRng *rng, uint32_t *perm, size_t n);

/* ----------------------------------------------------------------
 * Networks (network.c)
 *
 * A network is a stack of dense layers: sizes[0] inputs, hidden layers
 * sizes[1..n_layers-1] with the hidden activation, and sizes[n_layers]
 * outputs (logits, no activation) read by the head.  All parameters live
 * in one float32 vector, layer by layer: the kernel W_l (sizes[l] rows x
 * sizes[l+1] columns, row-major), then the bias b_l (sizes[l+1]).  One
 * flat vector lets optimizers and the checkpoint treat it as a whole.
 * ----------------------------------------------------------------
 */
typedef enum EstActivation
{
	EST_ACT_RELU = 1,
	EST_ACT_TANH = 2,
	EST_ACT_SIGMOID = 3,
	EST_ACT_LINEAR = 4
} EstActivation;

typedef enum EstHead
{
	EST_HEAD_SOFTMAX = 1,		/* multi-class: softmax cross-entropy; label
								 * is the class id 0..n_outputs-1 */
	EST_HEAD_SQUARED = 2		/* regression: mean squared error over the
								 * n_outputs label values */
} EstHead;

typedef struct EstNetwork
{
	int			n_layers;		/* dense layers, output layer included: >= 1 */
	int			sizes[EST_MAX_LAYERS + 2];	/* sizes[0] inputs ..
											 * sizes[n_layers] outputs */
	EstActivation activation;	/* of the hidden layers */
	EstHead		head;
	size_t		n_params;
	float	   *params;			/* n_params floats, layout above */
	size_t		offset_w[EST_MAX_LAYERS + 1];	/* of W_l in params */
	size_t		offset_b[EST_MAX_LAYERS + 1];	/* of b_l in params */
} EstNetwork;

/*
 * EstNetworkInit checks the shape and allocates the parameters.  hidden
 * holds n_hidden sizes (n_hidden may be 0: a linear model).  Kernels get
 * Glorot-uniform values drawn from rng (TensorFlow's Dense default),
 * biases zero; rng may be NULL to leave all parameters zero (the decoder
 * fills them).  Returns EST_ELIMIT with a message giving both figures when
 * a size limit is exceeded.
 */
extern EstStatus EstNetworkInit(EstNetwork *net, int n_inputs,
								const int *hidden, int n_hidden,
								int n_outputs, EstActivation activation,
								EstHead head, EstRng *rng, char *errmsg);
extern void EstNetworkFree(EstNetwork *net);
/* Number of parameters of that shape, or 0 if over EST_MAX_PARAMS. */
extern size_t EstNetworkParamCount(int n_inputs, const int *hidden,
								   int n_hidden, int n_outputs);

/* Buffers for batches of up to max_batch rows. */
typedef struct EstWorkspace
{
	int			max_batch;
	float	   *act[EST_MAX_LAYERS + 2];	/* act[l]: batch x sizes[l];
											 * act[0] unused (input is
											 * the caller's X) */
	float	   *delta[EST_MAX_LAYERS + 2];	/* gradient of the loss with
											 * respect to act[l] */
	float	   *grad;			/* n_params, layout of params */
} EstWorkspace;

extern EstStatus EstWorkspaceInit(EstWorkspace *ws, const EstNetwork *net,
								  int max_batch, char *errmsg);
extern void EstWorkspaceFree(EstWorkspace *ws);

/*
 * EstNetworkForward runs n rows of X (n x sizes[0], row-major, n <=
 * max_batch) through the network with cblas_sgemm and keeps every
 * activation in the workspace; the logits are ws->act[n_layers].
 */
extern void EstNetworkForward(const EstNetwork *net, EstWorkspace *ws,
							  const float *X, int n);

/*
 * EstHeadLoss reads the logits of the last forward pass and returns the
 * mean loss over the n rows (softmax cross-entropy computed stably with
 * log-sum-exp; squared error averaged over rows and outputs).  y holds
 * one float per row for the softmax head (the class id) and n_outputs per
 * row for the squared head.  weights (NULL for all 1) scales each row's
 * loss; the mean divides by the sum of weights.  When with_grad is
 * nonzero it also stores d(mean loss)/d(logits) in ws->delta[n_layers].
 */
extern double EstHeadLoss(const EstNetwork *net, EstWorkspace *ws,
						  const float *y, const float *weights, int n,
						  int with_grad);

/*
 * EstNetworkBackward backpropagates ws->delta[n_layers] (set by
 * EstHeadLoss) and writes the gradient of the mean loss with respect to
 * every parameter into ws->grad.  X must be the batch of the last forward.
 */
extern void EstNetworkBackward(const EstNetwork *net, EstWorkspace *ws,
							   const float *X, int n);

/*
 * EstNetworkPredictOne scores one row x without a workspace: out receives
 * sizes[n_layers] values, softmax probabilities for the softmax head and
 * raw values for the squared head.  scratch must hold 2 * (largest layer
 * size) floats.  Used for per-row prediction, where sgemm would not pay.
 */
extern void EstNetworkPredictOne(const EstNetwork *net, const float *x,
								 float *scratch, double *out);

/* Softmax of each row of ws->act[n_layers] into probs (n x outputs). */
extern void EstHeadProbabilities(const EstNetwork *net, const EstWorkspace *ws,
								 int n, double *probs);

/* ----------------------------------------------------------------
 * Optimizers (optim.c), with Keras' update rules and defaults:
 *	 sgd:	  w -= lr * g
 *	 adagrad: a += g^2;  w -= lr * g / (sqrt(a) + epsilon),
 *			  a starts at initial_accumulator (0.1), epsilon 1e-7
 *	 adam:	  t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *			  w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon),
 *			  b1 0.9, b2 0.999, epsilon 1e-7
 * The slots are saved in checkpoints, so training continues where it
 * stopped.
 * ----------------------------------------------------------------
 */
typedef enum EstOptimizerKind
{
	EST_OPT_SGD = 1,
	EST_OPT_ADAGRAD = 2,
	EST_OPT_ADAM = 3
} EstOptimizerKind;

typedef struct EstOptimizer
{
	EstOptimizerKind kind;
	double		learning_rate;
	double		beta1;
	double		beta2;
	double		epsilon;
	double		initial_accumulator;
	int64_t		iterations;		/* updates applied so far */
	size_t		n;				/* parameters */
	int			n_slots;		/* 0 sgd, 1 adagrad, 2 adam */
	float	   *slot[2];		/* adagrad: accumulator; adam: m, v */
} EstOptimizer;

/* Number of slot vectors the kind keeps. */
extern int	EstOptimizerSlotCount(EstOptimizerKind kind);
/* Fills the kind's defaults (learning rate included) without allocating. */
extern void EstOptimizerDefaults(EstOptimizer *opt, EstOptimizerKind kind);
/* Allocates and initialises the slots for n parameters; opt's kind and
 * hyperparameters must be set (EstOptimizerDefaults, then overrides). */
extern EstStatus EstOptimizerInit(EstOptimizer *opt, size_t n, char *errmsg);
extern void EstOptimizerFree(EstOptimizer *opt);
/* Applies one update to params with gradient grad (both n long). */
extern void EstOptimizerApply(EstOptimizer *opt, float *params,
							  const float *grad);

/* ----------------------------------------------------------------
 * Metrics (metrics.c): streaming accumulators over scored batches.
 * ----------------------------------------------------------------
 */
typedef struct EstMetrics
{
	double		weight_sum;		/* rows (or sum of row weights) */
	double		loss_sum;		/* sum of row loss x weight */
	double		correct;		/* weight of rows whose argmax is the label */
	double		sq_error_sum;	/* regression */
	double		abs_error_sum;
} EstMetrics;

extern void EstMetricsReset(EstMetrics *m);
/*
 * EstMetricsAdd scores the logits of the last forward pass of n rows
 * against y (layout of EstHeadLoss) and adds them to m.
 */
extern void EstMetricsAdd(EstMetrics *m, const EstNetwork *net,
						  const EstWorkspace *ws, const float *y,
						  const float *weights, int n);
extern double EstMetricsAccuracy(const EstMetrics *m);
extern double EstMetricsMeanLoss(const EstMetrics *m);

/* ----------------------------------------------------------------
 * Feature state: the numeric transform x' = (x - shift) / scale for each
 * network input, computed from training data (z-score) and stored in the
 * checkpoint so that prediction applies exactly the training transform.
 * ----------------------------------------------------------------
 */
typedef struct EstFeatureState
{
	int			n_inputs;
	double	   *shift;			/* n_inputs */
	double	   *scale;			/* n_inputs, never 0 */
} EstFeatureState;

extern EstStatus EstFeatureStateInit(EstFeatureState *fs, int n_inputs,
									 char *errmsg);
extern void EstFeatureStateFree(EstFeatureState *fs);
/*
 * EstFeatureStateFit sets shift to the mean and scale to the population
 * standard deviation of each column of X (n x n_inputs), with scale 1
 * for a constant column.  Accumulates in double (Welford).
 */
extern void EstFeatureStateFit(EstFeatureState *fs, const float *X, size_t n);
/* Applies the transform to n rows of X in place. */
extern void EstFeatureStateApply(const EstFeatureState *fs, float *X,
								 size_t n);

/* ----------------------------------------------------------------
 * Checkpoints (checkpoint.c)
 *
 * Little-endian on every machine:
 *	 header: magic "ESTCKPT\0" (8 bytes), format version (u32),
 *			 total length (u64), section count (u32)
 *	 sections, each: tag (4 ASCII bytes), payload length (u64), payload
 *		 "NETW": n_layers u32, activation u32, head u32, sizes (n_layers+1)
 *				 x u32, n_params u64, params n_params x f32
 *		 "OPTM": kind u32, n_slots u32, learning_rate f64, beta1 f64,
 *				 beta2 f64, epsilon f64, initial_accumulator f64,
 *				 iterations i64, n u64, slots n_slots x n x f32
 *		 "FEAT": n_inputs u32, shift n x f64, scale n x f64
 *		 "STEP": global_step i64, rng state 4 x u64
 *	 trailer: CRC-32C (Castagnoli, as in iSCSI) of all preceding bytes, u32
 *
 * The decoder checks the CRC first, then every length against the bytes
 * that remain and against the EST_MAX_* limits before it allocates, and
 * rejects non-finite weights, slots or feature state.
 * ----------------------------------------------------------------
 */
#define EST_CHECKPOINT_MAGIC	"ESTCKPT"	/* plus its NUL: 8 bytes */
#define EST_CHECKPOINT_VERSION	1

typedef struct EstCheckpoint
{
	EstNetwork	net;
	EstOptimizer opt;
	EstFeatureState features;
	int64_t		global_step;
	EstRng		rng;
} EstCheckpoint;

/*
 * EstCheckpointEncode writes ckpt into a new buffer from EstAlloc; *out
 * and *out_len receive it.
 */
extern EstStatus EstCheckpointEncode(const EstCheckpoint *ckpt,
									 uint8_t **out, size_t *out_len,
									 char *errmsg);

/*
 * EstCheckpointDecode fills ckpt (all of whose parts it allocates) from
 * buf.  On failure nothing stays allocated and errmsg says what is wrong:
 * EST_ECORRUPT for damage (bad magic, CRC mismatch, a length past the
 * end, an inconsistent shape, a non-finite value, a missing section),
 * EST_EVERSION for a format newer than EST_CHECKPOINT_VERSION, EST_ELIMIT
 * for shapes beyond the limits.
 */
extern EstStatus EstCheckpointDecode(const uint8_t *buf, size_t len,
									 EstCheckpoint *ckpt, char *errmsg);
extern void EstCheckpointFree(EstCheckpoint *ckpt);

/* CRC-32C of len bytes, continuing from crc (start with 0). */
extern uint32_t EstCrc32c(uint32_t crc, const void *data, size_t len);

#endif							/* ESTCORE_H */
