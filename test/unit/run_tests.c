/*-------------------------------------------------------------------------
 *
 * run_tests.c
 *	  Runs the unit tests of the core and reports the results.
 *
 * Prints one line per test and then "N passed, N failed"; the exit
 * status is nonzero when a test failed.  Every test runs with a counting
 * allocator, and a test that leaves core memory allocated fails.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

long		unit_live_allocs = 0;
long		unit_total_allocs = 0;
size_t		unit_largest_alloc = 0;
long		unit_alloc_budget = -1;

static int	current_failures = 0;
static int	current_checks = 0;

/*
 * UnitFail reports one failed check of the current test.
 */
void
UnitFail(const char *file, int line, const char *fmt,...)
{
	va_list		ap;

	current_failures++;
	if (current_failures > 20)
		return;					/* enough to diagnose */
	printf("    %s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

int
UnitCheckCount(void)
{
	return ++current_checks;
}

/*
 * UnitSpec fills spec with the shape and the defaults for the rest.
 */
void
UnitSpec(EstNetworkSpec *spec, int n_inputs, const int *hidden, int n_hidden,
		 int n_outputs, EstActivation activation, EstHead head)
{
	memset(spec, 0, sizeof(*spec));
	spec->n_inputs = n_inputs;
	spec->hidden = hidden;
	spec->n_hidden = n_hidden;
	spec->n_outputs = n_outputs;
	spec->activation = activation;
	spec->head = head;
}

/*
 * UnitNetworkInit initialises a plain network of that shape.
 */
EstStatus
UnitNetworkInit(EstNetwork *net, int n_inputs, const int *hidden,
				int n_hidden, int n_outputs, EstActivation activation,
				EstHead head, EstRng *rng, char *errmsg)
{
	EstNetworkSpec spec;

	UnitSpec(&spec, n_inputs, hidden, n_hidden, n_outputs, activation, head);
	return EstNetworkInit(net, &spec, rng, errmsg);
}

/*
 * CountingAlloc counts allocations and fails once unit_alloc_budget is
 * spent.
 */
static void *
CountingAlloc(size_t size)
{
	void	   *p;

	if (unit_alloc_budget == 0)
		return NULL;
	if (unit_alloc_budget > 0)
		unit_alloc_budget--;
	p = malloc(size);

	if (p != NULL)
	{
		unit_live_allocs++;
		unit_total_allocs++;
		if (size > unit_largest_alloc)
			unit_largest_alloc = size;
	}
	return p;
}

static void
CountingFree(void *p)
{
	unit_live_allocs--;
	free(p);
}

typedef struct UnitTest
{
	const char *name;
	void		(*fn) (void);
} UnitTest;

static const UnitTest tests[] = {
	{"rng: splitmix64 seeding gives the published values", TestRngSeedKnown},
	{"rng: xoshiro256** matches a reference implementation", TestRngReference},
	{"rng: uniform doubles", TestRngUniform},
	{"rng: bounded integers", TestRngBounded},
	{"rng: shuffle", TestRngShuffle},
	{"network: init, layout and Glorot kernels", TestNetworkInit},
	{"network: layout with batch norm, DNN inputs and a linear part", TestNetworkInitLayout},
	{"network: specification limits and consistency", TestNetworkLimits},
	{"network: scoring blocks within a memory budget", TestWorkspaceRows},
	{"network: forward pass by hand, every activation", TestForwardByHand},
	{"network: batch normalization by hand", TestBatchNormByHand},
	{"network: dropout by hand", TestDropoutByHand},
	{"network: wide and deep by hand", TestWideAndDeepByHand},
	{"network: forward matches EstNetworkPredictOne", TestForwardMatchesPredictOne},
	{"network: EstNetworkPredictOne sums each unit in order", TestPredictOneOrder},
	{"network: head loss values and reductions", TestHeadLossValues},
	{"network: sigmoid head", TestSigmoidHead},
	{"network: sigmoid loss agrees with libm", TestSigmoidLossMatchesLibm},
	{"network: head loss stability", TestHeadLossStability},
	{"network: exp of softmax within an ulp of libm", TestExpInPlace},
	{"network: softmax loss of many classes", TestSoftmaxManyClasses},
	{"network: softmax probabilities of a batch and a row", TestSoftmaxProbabilities},
	{"network: input gradients through a transposed kernel", TestTransposedInputGradient},
	{"gradient: relu, softmax", TestGradReluSoftmax},
	{"gradient: tanh, softmax", TestGradTanhSoftmax},
	{"gradient: sigmoid, squared", TestGradSigmoidSquared},
	{"gradient: linear, squared", TestGradLinearSquared},
	{"gradient: elu, sigmoid head, row weights", TestGradEluSigmoidHead},
	{"gradient: leaky relu, softmax, row weights", TestGradLeakyReluSoftmax},
	{"gradient: gelu, squared, row weights", TestGradGeluSquared},
	{"gradient: 3 tanh layers, softmax, row weights", TestGradDeepTanhWeighted},
	{"gradient: 3 relu layers, squared, row weights", TestGradDeepReluSquaredWeighted},
	{"gradient: 2 sigmoid layers, softmax, row weights", TestGradDeepSigmoidSoftmaxWeighted},
	{"gradient: no hidden layer, softmax", TestGradNoHiddenSoftmax},
	{"gradient: no hidden layer, squared, 3 outputs", TestGradNoHiddenSquared},
	{"gradient: no hidden layer, sigmoid head", TestGradNoHiddenSigmoid},
	{"gradient: every reduction and head, with and without weights", TestGradReductions},
	{"gradient: batch normalization, training forward", TestGradBatchNormTraining},
	{"gradient: batch normalization, inference forward", TestGradBatchNormInference},
	{"gradient: dropout with a fixed generator", TestGradDropout},
	{"gradient: linear part alone, and wide and deep", TestGradLinearPart},
	{"gradient: l1 and l2 penalties", TestGradPenalty},
	{"network: penalty by hand", TestPenaltyByHand},
	{"network: clipping by global norm", TestClipByGlobalNorm},
	{"gradient: the check detects a wrong gradient", TestGradCheckDetectsErrors},
	{"segments: none, or only dense ones, change nothing", TestSegmentsNone},
	{"segments: layout, tables and their draws", TestSegmentsLayout},
	{"segments: limits and consistency, checked before allocating", TestSegmentsLimits},
	{"segments: indicator and embedding by hand", TestSegmentsByHand},
	{"segments: ids out of range or not numbers are empty", TestSegmentsBadIds},
	{"segments: forward matches EstNetworkPredictOne", TestSegmentsMatchPredictOne},
	{"gradient: indicator and embedding segments, every combiner", TestGradSegments},
	{"gradient: segments with DNN inputs, linear part, batch norm", TestGradSegmentsWideAndDeep},
	{"segments: penalties leave the tables alone", TestSegmentsPenalty},
	{"optimizer: defaults and slots", TestOptimizerDefaults},
	{"optimizer: hyperparameter checks", TestOptimizerCheck},
	{"optimizer: sgd steps", TestOptimizerSgd},
	{"optimizer: momentum and nesterov steps", TestOptimizerMomentum},
	{"optimizer: adagrad steps", TestOptimizerAdagrad},
	{"optimizer: adam steps", TestOptimizerAdam},
	{"optimizer: rmsprop steps, plain, momentum, centered", TestOptimizerRmsprop},
	{"optimizer: ftrl steps, l1, l2, shrinkage, beta", TestOptimizerFtrl},
	{"optimizer: learning-rate schedules", TestSchedules},
	{"metrics: binary, confusion, AUCs with ties, ROC curve", TestMetricsBinary},
	{"metrics: kept scores cannot grow", TestMetricsOutOfMemory},
	{"metrics: three classes, macro averages", TestMetricsMultiClass},
	{"metrics: regression", TestMetricsRegression},
	{"features: fit and apply", TestFeatureState},
	{"feature columns: hashes keep their documented values", TestFeatureHashes},
	{"feature columns: bad declarations, limits, defaults and layout", TestFeatureDeclarations},
	{"feature columns: every encoder and NULLs", TestFeatureEncoders},
	{"feature columns: numeric statistics, normalizers, NULL policies", TestFeatureFitNumeric},
	{"feature columns: a numeric fit in parts, merged", TestFeatureFitParts},
	{"feature columns: a normalisation plan gives EstTransformApply's floats", TestNormalisePlan},
	{"feature columns: z-score is bit for bit the feature state's", TestFeatureZscoreIdentity},
	{"feature columns: learned vocabulary order, ties, max_size, OOV", TestFeatureLearnedVocabulary},
	{"feature columns: inferred column switches to hashing", TestFeatureAutoHash},
	{"feature columns: limits while learning", TestFeatureLearningLimits},
	{"feature columns: every allocation failure", TestFeatureOutOfMemory},
	{"feature columns: a transform of every kind", TestFeatureEveryKind},
	{"training: adagrad classifier on separable blobs", TestTrainAdagradClassifier},
	{"training: adam linear regressor", TestTrainAdamRegressor},
	{"training: ftrl, sigmoid head", TestTrainFtrlSigmoid},
	{"training: batch normalization and dropout on blobs", TestTrainBatchNormDropout},
	{"training: two runs give identical parameters", TestTrainDeterminism},
	{"training: wide and deep regressor", TestTrainWideAndDeep},
	{"matrix products: every shape near the kernel's blocks", TestGemmShapes},
	{"matrix products: the shapes of the core's own kernel", TestGemmOwnKernel},
	{"checkpoint: CRC-32C", TestCrc32c},
	{"checkpoint: bit-exact round trip of every feature", TestCheckpointRoundTrip},
	{"checkpoint: every single-byte flip is detected", TestCheckpointByteFlips},
	{"checkpoint: every truncation is detected", TestCheckpointTruncations},
	{"checkpoint: lying lengths with a valid CRC", TestCheckpointLyingLengths},
	{"checkpoint: bad values with a valid CRC", TestCheckpointBadValues},
	{"checkpoint: newer format version", TestCheckpointNewerVersion},
	{"checkpoint: limits checked before allocating", TestCheckpointLimits},
	{"checkpoint: section structure", TestCheckpointSections},
	{"checkpoint: encoder rejects invalid input", TestCheckpointEncodeRejects},
	{"checkpoint: a version 1 checkpoint decodes to a legacy transform", TestCheckpointVersion1},
	{"checkpoint: feature columns of every kind", TestCheckpointTransforms},
};

int
main(void)
{
	int			passed = 0;
	int			failed = 0;
	size_t		i;

	EstSetAllocator(CountingAlloc, CountingFree);
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
	{
		long		live_before = unit_live_allocs;

		current_failures = 0;
		current_checks = 0;
		tests[i].fn();
		if (unit_live_allocs != live_before)
			UnitFail(__FILE__, __LINE__, "%ld core allocations leaked",
					 unit_live_allocs - live_before);
		if (current_failures == 0)
		{
			passed++;
			printf("ok   %s (%d checks)\n", tests[i].name, current_checks);
		}
		else
		{
			failed++;
			printf("FAIL %s (%d of %d checks failed)\n", tests[i].name,
				   current_failures, current_checks);
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
