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

/*
 * EST_CLONES builds a function twice, for AVX2 and for the baseline, and
 * the loader picks one by the CPU (target_clones, on x86-64 with gcc or
 * clang).  It goes only on loops whose floats do not depend on the vector
 * width: elementwise arithmetic, and sums each in its own order; the core
 * is built with -ffp-contract=off, so a product and a sum stay two
 * roundings.  Both clones give the same floats (`make unit` compares a
 * build with them and one without, -DEST_NO_CLONES).
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(EST_NO_CLONES)
#define EST_CLONES __attribute__((target_clones("avx2", "default")))
#define EST_HAVE_AVX2_VARIANTS 1
#else
#define EST_CLONES
#endif

/*
 * EST_CLONES_WIDE adds an AVX-512 variant (x86-64-v4), for a loop of many
 * operations an element that the CPU decodes faster in wider vectors
 * (EstExpInPlace: 1.0 ns an element against 1.8 ns with AVX2).
 */
#if defined(EST_HAVE_AVX2_VARIANTS) && defined(__GNUC__) && \
	!defined(__clang__) && __GNUC__ >= 12
#define EST_CLONES_WIDE __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define EST_CLONES_WIDE EST_CLONES
#endif

/* Limits, checked before anything is allocated. */
#define EST_MAX_LAYERS		32			/* hidden layers */
#define EST_MAX_UNITS		65536		/* units of one layer, and inputs */
#define EST_MAX_CLASSES		65536
#define EST_MAX_PARAMS		((size_t) 1 << 28)	/* weights of one network */
#define EST_MAX_SEGMENTS	4096		/* input segments (feature columns) */
#define EST_MAX_BUCKETS		(1 << 24)	/* ids of one categorical column:
										 * exact in float32 */
#define EST_MAX_VOCABULARY	(1 << 20)	/* entries of one vocabulary */
#define EST_MAX_VOCAB_BYTES 1024		/* bytes of one vocabulary entry */
#define EST_MAX_EMBEDDING	1024		/* embedding dimension */
#define EST_MAX_MULTI		1024		/* values of one multi-valued column */

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
 * outputs (logits, no activation) read by the head.  Optionally:
 *
 *	 - the DNN reads only some of the inputs (dnn_inputs, in that order),
 *	   so that sizes[0] == n_dnn_inputs; by default it reads all n_inputs;
 *	 - a linear part (wide & deep) maps some inputs (linear_inputs) straight
 *	   to the logits, which it adds to the DNN's: logits = DNN(x_dnn) +
 *	   x_lin W_lin + b_lin.  A linear model is a network with no hidden
 *	   layer, not a linear part;
 *	 - batch normalisation of every hidden layer's pre-activation (as
 *	   Keras' BatchNormalization after each Dense, before the activation):
 *	   gamma and beta are trained, the moving mean and variance are
 *	   updated by training forwards (moving = momentum * moving + (1 -
 *	   momentum) * batch, with the batch's population variance) and used
 *	   by inference forwards;
 *	 - dropout of every hidden layer's output during training forwards
 *	   (inverted dropout: kept units are scaled by 1 / (1 - rate)).
 *
 * All trainable parameters live in one float32 vector: for each dense layer
 * l the kernel W_l (sizes[l] rows x sizes[l+1] columns, row-major) then
 * the bias b_l; then, with batch_norm, gamma_l and beta_l of each hidden
 * layer (sizes[l] each, l = 1 .. n_layers-1); then the table of each
 * embedding segment (buckets x dimension, row-major, in segment order;
 * drawn uniformly with standard deviation 1/sqrt(dimension), as TF's
 * embedding_column initializer); then, with a linear part, its
 * kernel (n_linear_inputs x n_outputs, row-major) and bias (n_outputs),
 * starting at linear_offset.  The tables belong to the DNN: only
 * dnn_inputs may read an embedding segment's part of the input vector.  Optimizers work on ranges of that vector, so
 * the linear part can have an optimizer of its own ([linear_offset,
 * n_params)) while the DNN has [0, linear_offset).
 * ----------------------------------------------------------------
 */
typedef enum EstActivation
{
	EST_ACT_RELU = 1,
	EST_ACT_TANH = 2,
	EST_ACT_SIGMOID = 3,
	EST_ACT_LINEAR = 4,
	EST_ACT_ELU = 5,			/* alpha 1 */
	EST_ACT_LEAKY_RELU = 6,		/* alpha 0.2, as tf.nn.leaky_relu */
	EST_ACT_GELU = 7			/* exact: x * Phi(x), with erf */
} EstActivation;

typedef enum EstHead
{
	EST_HEAD_SOFTMAX = 1,		/* multi-class: softmax cross-entropy; label
								 * is the class id 0..n_outputs-1 */
	EST_HEAD_SQUARED = 2,		/* regression: squared error over the
								 * n_outputs label values */
	EST_HEAD_SIGMOID = 3		/* binary: one logit, sigmoid cross-entropy;
								 * label is 0 or 1 */
} EstHead;

/* TensorFlow's loss_reduction: how the row losses of a batch combine. */
typedef enum EstReduction
{
	EST_REDUCE_SUM_OVER_BATCH_SIZE = 1, /* sum of weighted losses / rows
										 * (TF 2's default) */
	EST_REDUCE_SUM = 2,			/* sum of weighted losses */
	EST_REDUCE_MEAN = 3			/* sum of weighted losses / sum of weights */
} EstReduction;

/*
 * Input segments.  A row of X (n_inputs floats, the "compact row") is cut
 * into segments, in order; each segment becomes part of the "input vector"
 * the layers read (input_width floats):
 *	 - EST_INPUT_DENSE: slots floats, copied as they are;
 *	 - EST_INPUT_INDICATOR: slots ids (each an integer in 0..buckets-1 held
 *	   in a float, or -1 for an empty slot) become buckets floats holding
 *	   how many slots hold each id (one-hot for one slot, multi-hot counts
 *	   for several, as tf.feature_column.indicator_column);
 *	 - EST_INPUT_EMBEDDING: slots ids as above become dimension floats, the
 *	   rows of a trained table (buckets x dimension) combined: their sum,
 *	   their mean, or their sum divided by the square root of their number
 *	   (sqrtn); zeros when every slot is empty.
 * Without segments X is one dense segment of n_inputs floats.
 */
typedef enum EstInputKind
{
	EST_INPUT_DENSE = 1,
	EST_INPUT_INDICATOR = 2,
	EST_INPUT_EMBEDDING = 3
} EstInputKind;

typedef enum EstCombiner
{
	EST_COMBINER_SUM = 1,
	EST_COMBINER_MEAN = 2,
	EST_COMBINER_SQRTN = 3
} EstCombiner;

typedef struct EstInputSegment
{
	EstInputKind kind;
	int			slots;			/* floats of X: 1 .. EST_MAX_MULTI for ids,
								 * 1 .. EST_MAX_UNITS for dense */
	int			buckets;		/* indicator, embedding: 1 .. EST_MAX_BUCKETS */
	int			dimension;		/* embedding: 1 .. EST_MAX_EMBEDDING */
	EstCombiner combiner;		/* embedding */
} EstInputSegment;

/* What a network is; EstNetworkInit checks it. */
typedef struct EstNetworkSpec
{
	int			n_inputs;		/* columns of X */
	int			n_segments;		/* 0: X is one dense segment */
	const EstInputSegment *segments;	/* their slots add up to n_inputs */
	int			n_hidden;		/* hidden layers, 0 for a linear model */
	const int  *hidden;			/* their sizes */
	int			n_outputs;		/* 1 for the sigmoid head */
	EstActivation activation;
	EstHead		head;
	EstReduction reduction;		/* 0: EST_REDUCE_SUM_OVER_BATCH_SIZE */
	int			n_dnn_inputs;	/* 0: the whole input vector, in order */
	const int  *dnn_inputs;		/* indexes into the input vector */
	int			n_linear_inputs;	/* 0: no linear part */
	const int  *linear_inputs;
	int			batch_norm;		/* nonzero: normalise hidden layers */
	double		bn_momentum;	/* 0: 0.99 (Keras) */
	double		bn_epsilon;		/* 0: 0.001 (Keras) */
	double		dropout;		/* rate in [0, 1) */
} EstNetworkSpec;

typedef struct EstNetwork
{
	int			n_inputs;		/* floats of a row of X */
	int			n_segments;		/* >= 1: without segments in the
								 * specification, one dense segment */
	EstInputSegment *segments;
	int			input_width;	/* floats of the input vector */
	int			has_expansion;	/* some segment is not dense: the input
								 * vector is assembled in ws->assembled */
	size_t	   *offset_embed;	/* per segment: its table in params
								 * (embedding segments only) */
	int			n_layers;		/* dense layers, output layer included: >= 1 */
	int			sizes[EST_MAX_LAYERS + 2];	/* sizes[0] DNN inputs ..
											 * sizes[n_layers] outputs */
	EstActivation activation;	/* of the hidden layers */
	EstHead		head;
	EstReduction reduction;
	int			n_dnn_inputs;	/* 0: the DNN reads the input vector as it is */
	int		   *dnn_inputs;
	int			n_linear_inputs;	/* 0: no linear part */
	int		   *linear_inputs;
	int			batch_norm;
	double		bn_momentum;
	double		bn_epsilon;
	double		dropout;
	size_t		n_params;
	float	   *params;			/* n_params floats, layout above */
	size_t		offset_w[EST_MAX_LAYERS + 1];	/* of W_l in params */
	size_t		offset_b[EST_MAX_LAYERS + 1];	/* of b_l in params */
	size_t		offset_gamma[EST_MAX_LAYERS + 1];	/* hidden layer l = 1.. */
	size_t		offset_beta[EST_MAX_LAYERS + 1];
	size_t		linear_offset;	/* n_params when there is no linear part */
	size_t		n_stats;		/* 2 x hidden units with batch_norm, else 0 */
	float	   *stats;			/* per hidden layer: moving mean, then
								 * moving variance (not trained) */
	size_t		offset_stats[EST_MAX_LAYERS + 1];
} EstNetwork;

/*
 * EstNetworkInit checks the specification and allocates the network.
 * Kernels get Glorot-uniform values drawn from rng (TensorFlow's Dense
 * default), biases and beta zero, gamma one, moving means zero and moving
 * variances one; rng may be NULL to leave the trainable parameters zero
 * (the decoder fills them).  Returns EST_ELIMIT with a message giving both
 * figures when a size limit is exceeded, EST_EINVAL for an inconsistent
 * specification (the sigmoid head needs one output, indexes out of range,
 * a dropout rate outside [0, 1)...).
 */
extern EstStatus EstNetworkInit(EstNetwork *net, const EstNetworkSpec *spec,
								EstRng *rng, char *errmsg);
extern void EstNetworkFree(EstNetwork *net);
/* Number of trainable parameters of that specification, or 0 if over
 * EST_MAX_PARAMS or inconsistent. */
extern size_t EstNetworkParamCount(const EstNetworkSpec *spec);
/* Checks a specification as EstNetworkInit does, without allocating. */
extern EstStatus EstNetworkCheck(const EstNetworkSpec *spec, char *errmsg);

/* Buffers for batches of up to max_batch rows. */
typedef struct EstWorkspace
{
	int			max_batch;
	float	   *assembled;		/* max_batch x input_width: the input
								 * vectors (when net->has_expansion) */
	float	   *input;			/* max_batch x sizes[0]: the gathered DNN
								 * inputs (used when dnn_inputs is set) */
	float	   *act[EST_MAX_LAYERS + 2];	/* act[l]: batch x sizes[l];
											 * act[0] unused (input is
											 * the caller's X or input) */
	float	   *delta[EST_MAX_LAYERS + 2];	/* gradients during backward */
	float	   *pre[EST_MAX_LAYERS + 2];	/* hidden layers: normalised
										 * pre-activations x_hat with
										 * batch_norm, else the
										 * pre-activations */
	float	   *batch_mean[EST_MAX_LAYERS + 2];	/* batch_norm, per unit */
	float	   *batch_inv_std[EST_MAX_LAYERS + 2];
	float	   *mask[EST_MAX_LAYERS + 2];	/* dropout: 0 or 1/(1-rate) */
	int			training;		/* the last forward was a training one */
	int			keep_pre;		/* keep pre[l] for every activation (tests) */
	float	   *grad;			/* n_params, layout of params */
	double	   *exps;			/* softmax head: the exponentials of
								 * EST_EXP_GROUP logits (of one row, when
								 * more) */
	float	   *transposed;		/* a hidden layer's kernel, transposed for
								 * its input gradient (EST_TRANSPOSED_MAX) */
} EstWorkspace;

/*
 * The matrix products (gemm.c): C (m x n) = op(A) B + beta C, row major,
 * op(A) being A (m x k) or, with trans_a, the transpose of A (k x m); beta
 * is 0 or 1.  On a CPU with AVX-512, a B of at least EST_GEMM_MIN_COLUMNS
 * columns and at most EST_GEMM_MAX_B floats goes through the core's own
 * kernel (EstGemmOwnKernel says which), anything else through cblas_sgemm.
 */
#define EST_GEMM_MIN_COLUMNS	3
#define EST_GEMM_MAX_B			65536
extern void EstGemm(int trans_a, int m, int n, int k, const float *a,
					int lda, const float *b, int ldb, float beta, float *c,
					int ldc);
extern int	EstGemmOwnKernel(int n, int k);
/* EstTranspose writes the transpose of a (rows x cols) into t (cols x rows) */
extern void EstTranspose(const float *a, int rows, int cols, float *t);

/*
 * The input gradient delta W^T of a layer whose kernel has at most
 * EST_TRANSPOSED_MAX weights goes through a transposed copy of W, which
 * EstGemm multiplies faster (same floats from OpenBLAS), for batches of at
 * most EST_TRANSPOSED_ROWS rows or layers of at most EST_TRANSPOSED_OUTPUTS
 * outputs, and for any shape that EstGemm's own kernel takes.
 */
#define EST_TRANSPOSED_MAX		65536
#define EST_TRANSPOSED_ROWS		192
#define EST_TRANSPOSED_OUTPUTS	16
extern size_t EstTransposedFloats(const int *hidden, int n_hidden,
								  int n_outputs);

/* the logits whose exponentials the softmax loss computes at a time */
#define EST_EXP_GROUP		2048

extern EstStatus EstWorkspaceInit(EstWorkspace *ws, const EstNetwork *net,
								  int max_batch, char *errmsg);
/*
 * Rows (from 1 to max_rows) of a workspace whose buffers that grow with its
 * rows take at most about budget bytes: for scoring in blocks, so that a
 * wide network's blocks are shorter rather than larger.
 */
extern int	EstWorkspaceRows(const EstNetwork *net, int max_rows,
							 size_t budget);
extern void EstWorkspaceFree(EstWorkspace *ws);

/*
 * EstNetworkForward runs n rows of X (n x n_inputs, row-major, n <=
 * max_batch) through the network for inference (moving statistics, no
 * dropout) with EstGemm and keeps every activation in the workspace;
 * the logits are ws->act[n_layers].
 */
extern void EstNetworkForward(const EstNetwork *net, EstWorkspace *ws,
							  const float *X, int n);

/*
 * EstNetworkForwardTrain is the training forward: batch statistics for
 * batch normalisation (and an update of the moving statistics, which is
 * why net is not const), and dropout masks drawn from rng.
 */
extern void EstNetworkForwardTrain(EstNetwork *net, EstWorkspace *ws,
								   const float *X, int n, EstRng *rng);

/*
 * EstHeadLoss reads the logits of the last forward pass and returns the
 * batch loss under net->reduction (softmax cross-entropy computed stably
 * with log-sum-exp; sigmoid cross-entropy stably; squared error averaged
 * over the outputs of a row).  y holds one float per row for the softmax
 * head (the class id) and the sigmoid head (0 or 1), and n_outputs per row
 * for the squared head.  weights (NULL for all 1) scales each row's loss.
 * When with_grad is nonzero it also stores d(loss)/d(logits) in
 * ws->delta[n_layers].  A label out of range gives a NaN loss.
 */
extern double EstHeadLoss(const EstNetwork *net, EstWorkspace *ws,
						  const float *y, const float *weights, int n,
						  int with_grad);

/*
 * EstHeadLossOver is EstHeadLoss for n rows of a larger batch, whose
 * denominator (EstLossDenominator of the whole batch: its row count and
 * the sum of its weights, in double) it is given: the losses and
 * gradients of the parts of a batch then add up to the whole batch's.
 * Parallel training splits each batch so.
 */
extern double EstHeadLossOver(const EstNetwork *net, EstWorkspace *ws,
							  const float *y, const float *weights, int n,
							  int with_grad, double denom);
extern double EstLossDenominator(EstReduction reduction, int n,
								 double weight_sum);

/*
 * EstNetworkBackward backpropagates ws->delta[n_layers] (set by
 * EstHeadLoss) through the last forward (its dropout masks and batch
 * statistics) and writes the gradient of the loss with respect to every
 * trainable parameter into ws->grad.  X must be the batch of that forward.
 */
extern void EstNetworkBackward(const EstNetwork *net, EstWorkspace *ws,
							   const float *X, int n);

/*
 * Regularisation of the kernels (not biases, gamma, beta): EstNetwork-
 * Penalty returns l1 * sum|w| + l2 * sum w^2 over every kernel, the linear
 * part's included, and EstNetworkPenaltyGrad adds its gradient to
 * ws->grad (l1 * sign(w) + 2 * l2 * w).
 */
extern double EstNetworkPenalty(const EstNetwork *net, double l1, double l2);
extern void EstNetworkPenaltyGrad(const EstNetwork *net, EstWorkspace *ws,
								  double l1, double l2);

/*
 * EstClipByGlobalNorm scales grad[0..n-1] so that its L2 norm is at most
 * clip_norm (tf.clip_by_global_norm) and returns the norm before clipping.
 */
extern double EstClipByGlobalNorm(float *grad, size_t n, double clip_norm);

/*
 * exp of each of k values, in a loop that vectorises, for softmax's
 * logits less their largest (v[j] <= 0)
 */
extern void EstExpInPlace(double *v, size_t k);
/* softmax's exponentials of n rows of k logits, and a row's sum of them */
extern void EstSoftmaxExps(const float *z, int n, int k, double *e,
						   float *largest);
extern double EstSoftmaxSum(const double *e, int k);
/* the first index of the largest of k values (a class's prediction) */
extern int	EstArgmax(const double *v, int k);

/*
 * EstNetworkPredictOne scores one row x (n_inputs floats) without a
 * workspace, for inference: out receives the head's values, softmax
 * probabilities (n_outputs) for the softmax head, the probability of
 * class 1 (one value) for the sigmoid head, raw values for the squared
 * head.  scratch must hold EstNetworkScratchSize(net) floats.
 */
extern void EstNetworkPredictOne(const EstNetwork *net, const float *x,
								 float *scratch, double *out);
extern size_t EstNetworkScratchSize(const EstNetwork *net);

/* The head's values (as EstNetworkPredictOne) of the last forward's n
 * rows into out (n x n_outputs). */
extern void EstHeadProbabilities(const EstNetwork *net, const EstWorkspace *ws,
								 int n, double *out);

/* ----------------------------------------------------------------
 * Optimizers (optim.c), with Keras' update rules and defaults (g is the
 * gradient, lr the learning rate of the step):
 *	 sgd:	   w -= lr * g								(lr 0.01)
 *	 momentum: v = momentum * v - lr * g; w += v, or with nesterov
 *			   w += momentum * v - lr * g				(lr 0.01, 0.9)
 *	 adagrad:  a += g^2;  w -= lr * g / (sqrt(a) + epsilon),
 *			   a starts at initial_accumulator			(lr 0.05 as TF's
 *			   DNNClassifier, 0.1, 1e-7)
 *	 adam:	   t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *			   w -= lr * sqrt(1-b2^t)/(1-b1^t) * m / (sqrt(v) + epsilon)
 *			   (lr 0.001, 0.9, 0.999, 1e-7)
 *	 rmsprop:  s = rho s + (1-rho) g^2; centered: c = rho c + (1-rho) g,
 *			   d = s - c^2, else d = s; step = lr * g / (sqrt(d) + eps);
 *			   with momentum: u = momentum u + step, w -= u; else
 *			   w -= step								(lr 0.001, rho 0.9,
 *			   momentum 0, 1e-7)
 *	 ftrl:	   Keras' Ftrl (McMahan et al.), with learning_rate_power
 *			   -0.5, initial_accumulator 0.1, l1, l2, l2_shrinkage and
 *			   beta; weights whose |z| <= l1 are exactly zero (lr 0.001)
 * The slots are saved in checkpoints, so training continues where it
 * stopped.
 * ----------------------------------------------------------------
 */
typedef enum EstOptimizerKind
{
	EST_OPT_SGD = 1,
	EST_OPT_ADAGRAD = 2,
	EST_OPT_ADAM = 3,
	EST_OPT_MOMENTUM = 4,
	EST_OPT_RMSPROP = 5,
	EST_OPT_FTRL = 6
} EstOptimizerKind;

#define EST_MAX_SLOTS	3

typedef struct EstOptimizer
{
	EstOptimizerKind kind;
	double		learning_rate;	/* of the next step (schedules set it) */
	double		beta1;			/* adam */
	double		beta2;			/* adam */
	double		epsilon;		/* adagrad, adam, rmsprop */
	double		initial_accumulator;	/* adagrad, ftrl */
	double		momentum;		/* momentum, rmsprop */
	int			nesterov;		/* momentum */
	double		rho;			/* rmsprop */
	int			centered;		/* rmsprop */
	double		lr_power;		/* ftrl: learning_rate_power, <= 0 */
	double		l1;				/* ftrl */
	double		l2;				/* ftrl */
	double		l2_shrinkage;	/* ftrl */
	double		beta;			/* ftrl */
	int64_t		iterations;		/* updates applied so far */
	size_t		n;				/* parameters */
	int			n_slots;		/* see EstOptimizerSlotCount */
	float	   *slot[EST_MAX_SLOTS];
} EstOptimizer;

/*
 * Number of slot vectors the optimizer keeps: sgd 0, momentum 1, adagrad
 * 1, adam 2, rmsprop 1 + (momentum > 0) + centered, ftrl 2.
 */
extern int	EstOptimizerSlotCount(const EstOptimizer *opt);
/* Fills the kind's defaults (learning rate included) without allocating. */
extern void EstOptimizerDefaults(EstOptimizer *opt, EstOptimizerKind kind);
/* Checks the hyperparameters (EST_EINVAL with a message naming the bad
 * one: learning rate > 0 and finite, momentum and rho in [0, 1), betas in
 * [0, 1), epsilon > 0, lr_power <= 0, l1, l2, l2_shrinkage, beta and
 * initial_accumulator >= 0...). */
extern EstStatus EstOptimizerCheck(const EstOptimizer *opt, char *errmsg);
/* Checks, then allocates and initialises the slots for n parameters; opt's
 * kind and hyperparameters must be set (EstOptimizerDefaults, then
 * overrides). */
extern EstStatus EstOptimizerInit(EstOptimizer *opt, size_t n, char *errmsg);
extern void EstOptimizerFree(EstOptimizer *opt);
/* Applies one update to params with gradient grad (both opt->n long). */
extern void EstOptimizerApply(EstOptimizer *opt, float *params,
							  const float *grad);

/* ----------------------------------------------------------------
 * Learning-rate schedules (optim.c), as functions of the global step:
 *	 constant:			  lr
 *	 exponential_decay:	  lr * rate^(step / decay_steps), the exponent
 *						  floored when staircase
 *	 step:				  lr * rate^floor(step / decay_steps)
 *	 cosine:			  lr * ((1 - alpha) * (1 + cos(pi * min(step,
 *						  decay_steps) / decay_steps)) / 2 + alpha)
 * ----------------------------------------------------------------
 */
typedef enum EstScheduleKind
{
	EST_SCHED_CONSTANT = 1,
	EST_SCHED_EXPONENTIAL = 2,
	EST_SCHED_STEP = 3,
	EST_SCHED_COSINE = 4
} EstScheduleKind;

typedef struct EstSchedule
{
	EstScheduleKind kind;
	int64_t		decay_steps;	/* > 0 unless constant */
	double		decay_rate;		/* exponential, step: > 0 */
	int			staircase;		/* exponential */
	double		alpha;			/* cosine: in [0, 1] */
} EstSchedule;

extern double EstScheduleRate(const EstSchedule *schedule, double base_rate,
							  int64_t global_step);

/* ----------------------------------------------------------------
 * Metrics (metrics.c): streaming accumulators over scored batches, with
 * TensorFlow's evaluation keys.  Classification keeps a weighted confusion
 * matrix; with keep_scores it also keeps every row's score (probability of
 * class 1 for the sigmoid head, of each class for softmax) for exact AUCs
 * and ROC curves.  Regression keeps the sums for MSE, MAE, R^2 and the
 * explained variance over all outputs.
 * ----------------------------------------------------------------
 */
typedef struct EstMetrics
{
	EstHead		head;
	int			n_outputs;		/* classes (2 for sigmoid), or values */
	double		weight_sum;		/* rows (or sum of row weights) */
	double		loss_sum;		/* sum of row loss x weight */
	double	   *confusion;		/* classification: n_classes x n_classes,
								 * [label * n + predicted] */
	double		label_sum;		/* sums of label and prediction values x */
	double		pred_sum;		/* weight, over all outputs */
	double		sq_error_sum;	/* regression: of (y - p)^2 x weight */
	double		abs_error_sum;
	double		value_weight;	/* regression: weight of the values with a
								 * positive weight, for the running moments */
	double		label_mean;		/* weighted running mean of y, and the */
	double		label_m2;		/* weighted squares around it */
	double		error_mean;		/* the same of y - p */
	double		error_m2;
	const double *value_scale;	/* regression: a value p counts as p *
								 * value_scale + value_shift, in double
								 * precision (the label's units); NULL:
								 * as it is */
	const double *value_shift;
	int			keep_scores;
	size_t		n_scores;		/* rows kept */
	size_t		cap_scores;
	float	   *scores;			/* logits: n_scores x (n_outputs for
								 * softmax, 1 for sigmoid) */
	int32_t    *score_labels;
	float	   *score_weights;
} EstMetrics;

extern EstStatus EstMetricsInit(EstMetrics *m, const EstNetwork *net,
								int keep_scores, char *errmsg);
extern void EstMetricsFree(EstMetrics *m);
/*
 * EstMetricsAdd scores the logits of the last forward pass of n rows
 * against y (layout of EstHeadLoss) and adds them to m; EST_ENOMEM when
 * the kept scores cannot grow.  Rows whose label is out of range count as
 * wrong and add a NaN loss; the shell checks labels first.
 */
extern EstStatus EstMetricsAdd(EstMetrics *m, const EstNetwork *net,
							   const EstWorkspace *ws, const float *y,
							   const float *weights, int n, char *errmsg);
extern double EstMetricsMeanLoss(const EstMetrics *m);
/* classification */
extern double EstMetricsAccuracy(const EstMetrics *m);
extern double EstMetricsAccuracyBaseline(const EstMetrics *m);	/* share of
																 * the most
																 * frequent
																 * label */
extern double EstMetricsPrecision(const EstMetrics *m);	/* binary: class
														 * 1; else macro */
extern double EstMetricsRecall(const EstMetrics *m);
extern double EstMetricsF1(const EstMetrics *m);
/* Exact ROC AUC and PR AUC (average precision, as scikit-learn's
 * average_precision_score) from the kept scores; binary: class 1, else the
 * macro average of one-vs-rest.  NaN when undefined (one class only, or no
 * scores kept). */
extern double EstMetricsAuc(const EstMetrics *m);
extern double EstMetricsAucPr(const EstMetrics *m);
/*
 * EstMetricsRocCurve returns the ROC curve of class cls against the rest
 * (cls 1 for a binary model): points in order of decreasing threshold, the
 * first at threshold +inf (fpr 0, tpr 0); arrays from EstAlloc.
 */
extern EstStatus EstMetricsRocCurve(const EstMetrics *m, int cls,
									double **thresholds, double **fpr,
									double **tpr, size_t *n_points,
									char *errmsg);
/* label/mean and prediction/mean: for classification the mean label and
 * the mean predicted probability of class 1 (binary) or the mean predicted
 * class (multi-class); for regression the mean label and prediction. */
extern double EstMetricsLabelMean(const EstMetrics *m);
extern double EstMetricsPredictionMean(const EstMetrics *m);
/* regression */
extern double EstMetricsMse(const EstMetrics *m);
extern double EstMetricsMae(const EstMetrics *m);
extern double EstMetricsR2(const EstMetrics *m);
extern double EstMetricsExplainedVariance(const EstMetrics *m);

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
/* the same fit split among processes, as EstTransformFitPart and Parts */
extern size_t EstFeatureStateStatsSize(int n_inputs);
extern void EstFeatureStateFitPart(int n_inputs, const float *X, size_t n,
								   void *stats);
extern void EstFeatureStateFitPartAdd(int n_inputs, const float *X, size_t n,
									  void *stats);
extern void EstFeatureStateFitParts(EstFeatureState *fs, const void *parts,
									int n_parts);
/* Applies the transform to n rows of X in place. */
extern void EstFeatureStateApply(const EstFeatureState *fs, float *X,
								 size_t n);

/* ----------------------------------------------------------------
 * Feature columns (features.c): tf.feature_column's kinds on plain values.
 *
 * A transform is a list of feature columns.  Each reads one source column
 * (crossed: several) and owns a run of "slots" in the compact row X that
 * the network reads (see EstInputSegment):
 *	 - numeric (shape floats): the value, normalised (zscore: (x - mean) /
 *	   stddev, minmax: (x - min) / (max - min), none), a constant's scale
 *	   being 1; a NULL becomes the training mean (EST_NULL_MEAN), the
 *	   default_value (EST_NULL_DEFAULT), or is the shell's error;
 *	 - categorical (slots ids, one per value; -1 for an empty slot), shown
 *	   to the network as an indicator or an embedding:
 *		 bucketized: the number of boundaries <= x (n_boundaries + 1
 *		   buckets);
 *		 vocabulary: the index of the value in the vocabulary, else
 *		   vocab_size + hash(value) % num_oov (no id when num_oov is 0);
 *		 identity: the integer itself when in [0, num_buckets), else
 *		   default_id, else an error;
 *		 hash: hash(value) % num_buckets;
 *		 crossed: EstHashCross of the keys' values % num_buckets.
 *	   A NULL (or a NULL array element) takes bucket vocab_size of a
 *	   vocabulary with num_oov > 0, the default_id of an identity column,
 *	   and no id otherwise (EstTransformNull).  A multi-valued column (the
 *	   source is an array) has max_values slots (default 32), one per
 *	   element; a longer array is the shell's error.
 *
 * Values are UTF-8 strings (the shell converts text of other encodings
 * and prints non-text values in their SQL output form), numbers (double)
 * or integers.  The hash is FNV-1a (64 bits) of the UTF-8 bytes, followed
 * by the splitmix64 finaliser: the same on every machine, in every
 * database encoding, after dump and restore (see EstHashString).
 *
 * Learned state (statistics, learned vocabularies) comes from training
 * rows: while a transform is not yet fitted, the shell encodes rows in
 * which numeric slots hold raw values (NaN for a NULL), learned
 * vocabulary slots hold provisional ids and categorical NULLs a
 * provisional marker (EstTransformNull); EstTransformFit then learns the
 * state from the first rows and rewrites every row into final form.
 * ----------------------------------------------------------------
 */
typedef enum EstFeatureKind
{
	EST_FC_NUMERIC = 1,
	EST_FC_BUCKETIZED = 2,
	EST_FC_VOCABULARY = 3,
	EST_FC_IDENTITY = 4,
	EST_FC_HASH = 5,
	EST_FC_CROSSED = 6
} EstFeatureKind;

typedef enum EstNormalizer
{
	EST_NORM_NONE = 1,
	EST_NORM_ZSCORE = 2,
	EST_NORM_MINMAX = 3
} EstNormalizer;

typedef enum EstNullPolicy
{
	EST_NULL_ERROR = 1,			/* the shell reports a NULL */
	EST_NULL_DEFAULT = 2,		/* default_value */
	EST_NULL_MEAN = 3			/* the training mean (inferred columns) */
} EstNullPolicy;

typedef struct EstVocabIndex EstVocabIndex;	/* private to features.c */

typedef struct EstFeatureColumn
{
	/* declared (or inferred) by the shell; strings from EstAlloc */
	EstFeatureKind kind;
	char	   *name;			/* the feature column's name */
	int			n_keys;			/* source columns: 1, crossed 2 .. 8 */
	char	  **keys;
	int			shape;			/* numeric: floats of a row (>= 1) */
	int			multi;			/* categorical: the source is an array,
								 * up to max_values values a row */
	int			max_values;		/* multi: slots, 1 .. EST_MAX_MULTI */
	EstNormalizer normalizer;	/* numeric */
	EstNullPolicy null_policy;	/* numeric */
	double		default_value;	/* numeric, EST_NULL_DEFAULT */
	int			n_boundaries;	/* bucketized: increasing, finite */
	double	   *boundaries;
	int			vocab_size;		/* vocabulary: given, or learned */
	char	  **vocab;
	int			learned;		/* vocabulary: learned from training rows */
	int			max_size;		/* learned: at most this many (0: no bound
								 * but EST_MAX_VOCABULARY) */
	int			num_oov;		/* vocabulary: OOV buckets, >= 0 */
	int			hash_above;		/* learned vocabulary of an inferred column:
								 * when more distinct values than this (>
								 * 0) are seen, or a value longer than
								 * EST_MAX_VOCAB_BYTES, the column becomes
								 * a hash column of auto_buckets buckets,
								 * as an embedding of auto_dimension */
	int			auto_buckets;
	int			auto_dimension;
	int64_t		num_buckets;	/* identity; hash and crossed:
								 * hash_bucket_size */
	int64_t		default_id;		/* identity: -1 for none */
	EstInputKind representation;	/* categorical: INDICATOR (default) or
									 * EMBEDDING; numeric: DENSE */
	int			dimension;		/* embedding */
	EstCombiner combiner;		/* embedding (default mean, as TF) */

	/* set by EstTransformInit and EstTransformFit */
	int			offset;			/* first slot in the compact row */
	int			slots;			/* numeric: shape; categorical: 1 or
								 * max_values */
	int64_t		buckets;		/* categorical ids: 0 .. buckets-1 */
	int64_t		null_count;		/* NULL values (elements) in the fit rows */
	int64_t		value_count;	/* values (elements) in the fit rows */
	double	   *mean;			/* numeric: shape each, of the fit rows */
	double	   *stddev;			/* (population; NULLs left out) */
	double	   *min;
	double	   *max;
	double	   *shift;			/* x' = (x - shift) / scale */
	double	   *scale;
	int64_t    *vocab_counts;	/* learned vocabulary: fit rows holding
								 * each entry, most frequent first */
	EstVocabIndex *index;		/* vocabulary lookups */
} EstFeatureColumn;

/* What fitting makes of an inferred vocabulary column of too many values:
 * a hash column of auto_buckets buckets embedded in auto_dimension. */
extern void EstFeatureColumnToHash(EstFeatureColumn *col);

typedef struct EstTransform
{
	int			n_columns;
	EstFeatureColumn *columns;	/* from EstAlloc; the transform owns them */
	int			n_inputs;		/* floats of a compact row */
	int			fitted;			/* learned state known */
	int			legacy;			/* decoded from a version 1 checkpoint:
								 * one numeric column of shape n_inputs,
								 * zscore, no name, no statistics but
								 * shift and scale */
	void	   *pending;		/* provisional vocabularies while fitting */
	size_t		learn_budget;	/* bytes the provisional vocabularies may
								 * hold (0: no bound); not saved */
} EstTransform;

/*
 * EstTransformInit checks the declared columns (EST_EINVAL naming the
 * column for a bad declaration, EST_ELIMIT with both figures for a limit)
 * and sets offset, slots, buckets and n_inputs; a transform without
 * learned state (no numeric column, no learned vocabulary) is fitted at
 * once.
 */
extern EstStatus EstTransformInit(EstTransform *tf, char *errmsg);
extern void EstTransformFree(EstTransform *tf);
/* The network's input segments, one per column (n_columns of them). */
extern void EstTransformSegments(const EstTransform *tf,
								 EstInputSegment *segments);
/* Width of the input vector those segments give. */
extern int	EstTransformInputWidth(const EstTransform *tf);

/*
 * Encoders of one value into the slot(s) of column col (slot: the float
 * to write, inside the compact row).  They return EST_EINVAL with a
 * message naming the feature column for a value they cannot encode (an
 * identity value out of range without default_id, a string longer than
 * EST_MAX_VOCAB_BYTES while learning), EST_ENOMEM or EST_ELIMIT (too many
 * distinct values while learning: both figures).
 */
extern EstStatus EstTransformString(EstTransform *tf, int col,
									const char *s, size_t len, float *slot,
									char *errmsg);
extern EstStatus EstTransformInteger(EstTransform *tf, int col, int64_t v,
									 float *slot, char *errmsg);
extern void EstTransformBucket(const EstTransform *tf, int col, double v,
							   float *slot);
/* A NULL of a categorical column (see above): its id or -1. */
extern void EstTransformNull(const EstTransform *tf, int col, float *slot);
/* crossed: the n_keys values of one row, as UTF-8 strings */
extern void EstTransformCross(const EstTransform *tf, int col,
							  const char *const *values, const size_t *lens,
							  float *slot);

/*
 * EstTransformFit learns the state from the first n_fit rows of X (n_rows
 * x tf->n_inputs; numeric slots raw with NaN for NULL, learned vocabulary
 * slots provisional) and rewrites all n_rows rows into final form:
 * numeric normalised (NULLs filled by the policy), provisional ids mapped
 * to final ids (values cut by max_size or not seen in the fit rows go to
 * the OOV buckets).  Learned vocabularies are ordered most frequent first,
 * ties by the bytes of the value.  Afterwards tf->fitted is 1.
 */
extern EstStatus EstTransformFit(EstTransform *tf, float *X, size_t n_fit,
								 size_t n_rows, char *errmsg);
/* EstTransformApply normalises the numeric slots of n rows of a fitted
 * transform, filling NaN (NULL) values by the policy. */
extern void EstTransformApply(const EstTransform *tf, float *X, size_t n);
/*
 * A plan of the numeric columns' normalisation, for many calls of a few
 * rows each (a prediction's): the same floats as EstTransformApply.
 */
typedef struct EstNormalisePlan EstNormalisePlan;
extern EstNormalisePlan *EstTransformNormalisePlan(const EstTransform *tf);
extern void EstNormalisePlanFree(EstNormalisePlan *plan);
extern void EstTransformApplyPlanned(const EstTransform *tf,
									 const EstNormalisePlan *plan,
									 float *X, size_t n);

/*
 * A fit of a transform whose rows are split among processes (one that
 * learns no vocabulary, EstTransformFitsInParts): each computes
 * EstTransformFitPart over its rows (EstTransformFitStatsSize bytes of
 * statistics and counts), and EstTransformFitParts merges the parts, in
 * row order, fits tf and rewrites the rows X it is given.
 */
extern int	EstTransformFitsInParts(const EstTransform *tf);
extern size_t EstTransformFitStatsSize(const EstTransform *tf);
extern void EstTransformFitPart(const EstTransform *tf, const float *X,
								size_t n, void *stats);
extern void EstTransformFitPartAdd(const EstTransform *tf, const float *X,
								   size_t n, void *stats);
extern EstStatus EstTransformFitParts(EstTransform *tf, const void *parts,
									  int n_parts, float *X, size_t n_rows,
									  char *errmsg);

/*
 * The documented hashes (64 bits), a compatibility promise:
 *	 mix(z):	   z ^= z >> 30; z *= 0xbf58476d1ce4e5b9; z ^= z >> 27;
 *				   z *= 0x94d049bb133111eb; z ^= z >> 31 (splitmix64's
 *				   finaliser)
 *	 EstHashString: mix(FNV-1a 64 of the bytes), FNV-1a starting from
 *				   0xcbf29ce484222325, each byte xored in, then multiplied
 *				   by 0x100000001b3
 *	 EstHashCross: h = n; for each value in order,
 *				   h = mix((h ^ EstHashString(value)) + 0x9e3779b97f4a7c15)
 *				   (splitmix64's output for the state h ^ hash(value))
 * An integer is hashed as its decimal text.
 */
extern uint64_t EstHashString(const char *s, size_t len);
extern uint64_t EstHashFloats(uint64_t h, const float *v, size_t n);
extern uint64_t EstHashFinish(uint64_t h);
extern uint64_t EstHashCross(const char *const *values, const size_t *lens,
							 int n);

/* ----------------------------------------------------------------
 * Checkpoints (checkpoint.c)
 *
 * Little-endian on every machine:
 *	 header: magic "ESTCKPT\0" (8 bytes), format version (u32),
 *			 total length (u64), section count (u32)
 *	 sections, each: tag (4 ASCII bytes), payload length (u64), payload
 *		 "NETW": n_inputs u32, n_layers u32, activation u32, head u32,
 *				 reduction u32, (version 2: n_segments u32, then for
 *				 each kind, slots, buckets, dimension, combiner u32),
 *				 sizes (n_layers+1) x u32,
 *				 n_dnn_inputs u32, dnn_inputs x u32,
 *				 n_linear_inputs u32, linear_inputs x u32,
 *				 batch_norm u32, bn_momentum f64, bn_epsilon f64,
 *				 dropout f64, n_params u64, params n_params x f32,
 *				 n_stats u64, stats n_stats x f32
 *		 "OPTM": the optimizer of [0, linear_offset) (all parameters
 *				 without a linear part), and "OPTL": that of the linear part
 *				 [linear_offset, n_params), present exactly when the network
 *				 has one; each: kind u32, n_slots u32, learning_rate f64,
 *				 beta1 f64, beta2 f64, epsilon f64, initial_accumulator
 *				 f64, momentum f64, nesterov u32, rho f64, centered u32,
 *				 lr_power f64, l1 f64, l2 f64, l2_shrinkage f64, beta f64,
 *				 iterations i64, n u64, slots n_slots x n x f32
 *		 "FCOL" (version 2): the transform, every column with its
 *				 declaration and learned state (layout in checkpoint.c)
 *		 "FEAT" (version 1 only): n_inputs u32, shift n x f64,
 *				 scale n x f64; decodes to a legacy transform
 *		 "LABL": the same for the targets of a regressor (squared head),
 *				 present exactly then, with n = the network's outputs
 *		 "STEP": global_step i64, rng state 4 x u64, epoch rng state
 *				 4 x u64, epoch position u64, epoch rows u64
 *	 trailer: CRC-32C (Castagnoli, as in iSCSI) of all preceding bytes, u32
 *
 * The decoder checks the magic and the version first (a newer version is
 * EST_EVERSION whatever follows), then the length and the CRC, then every
 * length against the bytes that remain and against the EST_MAX_* limits
 * before it allocates, and rejects non-finite or out-of-range values.
 * ----------------------------------------------------------------
 */
#define EST_CHECKPOINT_MAGIC	"ESTCKPT"	/* plus its NUL: 8 bytes */
#define EST_CHECKPOINT_VERSION	2	/* version 1 (estimator 0.1.0) still
										 * decodes: NETW without segments,
										 * FEAT instead of FCOL */

/*
 * Where training stands in its shuffled pass over the rows: the rng state
 * that drew the current epoch's permutation, how many rows of it were
 * used, and how many rows the data had.  A later call over the same rows
 * redraws the permutation and carries on, so that 2 x 500 steps equal
 * 1000 steps bit for bit; over other data it starts a new epoch.
 */
typedef struct EstEpochState
{
	EstRng		rng;
	uint64_t	position;
	uint64_t	n_rows;			/* 0: no epoch started */
} EstEpochState;

typedef struct EstCheckpoint
{
	EstNetwork	net;
	EstOptimizer opt;			/* of [0, net.linear_offset) */
	EstOptimizer opt_linear;	/* of the linear part, when net has one */
	EstTransform transform;		/* the feature columns */
	EstFeatureState labels;		/* regressors: the standardisation of the
								 * targets (n_inputs = label dimension);
								 * classifiers: empty */
	int64_t		global_step;
	EstRng		rng;			/* initialisation, dropout */
	EstEpochState epoch;
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
