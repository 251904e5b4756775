/*-------------------------------------------------------------------------
 *
 * unit.h
 *	  A minimal test harness for the core's unit tests.
 *
 * Each test is a function; CHECK records a failed condition with its
 * place and keeps going, so one run reports every broken check.  The
 * counting allocator lets tests prove that the core frees what it
 * allocates and allocates nothing before its checks pass.
 *
 *-------------------------------------------------------------------------
 */
#ifndef UNIT_H
#define UNIT_H

#include <stddef.h>

#include "estcore.h"

extern void UnitFail(const char *file, int line, const char *fmt,...);
extern int	UnitCheckCount(void);

#define CHECK(cond) \
	do { \
		UnitCheckCount(); \
		if (!(cond)) \
			UnitFail(__FILE__, __LINE__, "%s", #cond); \
	} while (0)

#define CHECKF(cond, ...) \
	do { \
		UnitCheckCount(); \
		if (!(cond)) \
			UnitFail(__FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

/* Counting allocator (run_tests.c). */
extern long unit_live_allocs;		/* allocations not yet freed */
extern long unit_total_allocs;		/* allocations since start */
extern size_t unit_largest_alloc;	/* largest request since start */
extern long unit_alloc_budget;		/* >= 0: allocations that may still
									 * succeed; -1: no limit */

/* Specifications with the defaults but for the shape (run_tests.c). */
extern void UnitSpec(EstNetworkSpec *spec, int n_inputs, const int *hidden,
					 int n_hidden, int n_outputs, EstActivation activation,
					 EstHead head);
extern EstStatus UnitNetworkInit(EstNetwork *net, int n_inputs,
								 const int *hidden, int n_hidden,
								 int n_outputs, EstActivation activation,
								 EstHead head, EstRng *rng, char *errmsg);

/* Feature column helpers (test_features.c); strings from EstAlloc. */
extern char *UnitStrdup(const char *s);
extern void UnitColumns(EstTransform *tf, int n);
extern EstFeatureColumn *UnitColumn(EstTransform *tf, int c,
									EstFeatureKind kind, const char *name);
extern void UnitTransformEveryKind(EstTransform *tf, float **X_out);
extern int	UnitTransformsEqual(const EstTransform *a, const EstTransform *b);

/* Test groups. */
extern void TestRngSeedKnown(void);
extern void TestRngReference(void);
extern void TestRngUniform(void);
extern void TestRngBounded(void);
extern void TestRngShuffle(void);

extern void TestNetworkInit(void);
extern void TestNetworkInitLayout(void);
extern void TestNetworkLimits(void);
extern void TestWorkspaceRows(void);
extern void TestForwardByHand(void);
extern void TestBatchNormByHand(void);
extern void TestDropoutByHand(void);
extern void TestWideAndDeepByHand(void);
extern void TestForwardMatchesPredictOne(void);
extern void TestPredictOneOrder(void);
extern void TestHeadLossValues(void);
extern void TestSigmoidHead(void);
extern void TestSigmoidLossMatchesLibm(void);
extern void TestHeadLossStability(void);
extern void TestExpInPlace(void);
extern void TestSoftmaxManyClasses(void);
extern void TestSoftmaxProbabilities(void);
extern void TestTransposedInputGradient(void);
extern void TestGradReluSoftmax(void);
extern void TestGradTanhSoftmax(void);
extern void TestGradSigmoidSquared(void);
extern void TestGradLinearSquared(void);
extern void TestGradEluSigmoidHead(void);
extern void TestGradLeakyReluSoftmax(void);
extern void TestGradGeluSquared(void);
extern void TestGradDeepTanhWeighted(void);
extern void TestGradDeepReluSquaredWeighted(void);
extern void TestGradDeepSigmoidSoftmaxWeighted(void);
extern void TestGradNoHiddenSoftmax(void);
extern void TestGradNoHiddenSquared(void);
extern void TestGradNoHiddenSigmoid(void);
extern void TestGradReductions(void);
extern void TestGradBatchNormTraining(void);
extern void TestGradBatchNormInference(void);
extern void TestGradDropout(void);
extern void TestGradLinearPart(void);
extern void TestGradPenalty(void);
extern void TestPenaltyByHand(void);
extern void TestClipByGlobalNorm(void);
extern void TestGradCheckDetectsErrors(void);
extern void TestSegmentsNone(void);
extern void TestSegmentsLayout(void);
extern void TestSegmentsLimits(void);
extern void TestSegmentsByHand(void);
extern void TestSegmentsBadIds(void);
extern void TestSegmentsMatchPredictOne(void);
extern void TestGradSegments(void);
extern void TestGradSegmentsWideAndDeep(void);
extern void TestSegmentsPenalty(void);

extern void TestOptimizerDefaults(void);
extern void TestOptimizerCheck(void);
extern void TestOptimizerSgd(void);
extern void TestOptimizerMomentum(void);
extern void TestOptimizerAdagrad(void);
extern void TestOptimizerAdam(void);
extern void TestOptimizerRmsprop(void);
extern void TestOptimizerFtrl(void);
extern void TestSchedules(void);

extern void TestMetricsBinary(void);
extern void TestMetricsOutOfMemory(void);
extern void TestMetricsMultiClass(void);
extern void TestMetricsRegression(void);

extern void TestFeatureState(void);
extern void TestFeatureHashes(void);
extern void TestFeatureDeclarations(void);
extern void TestFeatureEncoders(void);
extern void TestFeatureFitNumeric(void);
extern void TestFeatureFitParts(void);
extern void TestNormalisePlan(void);
extern void TestFeatureZscoreIdentity(void);
extern void TestFeatureLearnedVocabulary(void);
extern void TestFeatureAutoHash(void);
extern void TestFeatureLearningLimits(void);
extern void TestFeatureOutOfMemory(void);
extern void TestFeatureEveryKind(void);
extern void TestTrainAdagradClassifier(void);
extern void TestTrainAdamRegressor(void);
extern void TestTrainFtrlSigmoid(void);
extern void TestTrainBatchNormDropout(void);
extern void TestTrainDeterminism(void);
extern void TestTrainWideAndDeep(void);

extern void TestGemmShapes(void);
extern void TestGemmOwnKernel(void);

extern void TestCrc32c(void);
extern void TestCheckpointRoundTrip(void);
extern void TestCheckpointByteFlips(void);
extern void TestCheckpointTruncations(void);
extern void TestCheckpointLyingLengths(void);
extern void TestCheckpointBadValues(void);
extern void TestCheckpointNewerVersion(void);
extern void TestCheckpointLimits(void);
extern void TestCheckpointSections(void);
extern void TestCheckpointEncodeRejects(void);
extern void TestCheckpointVersion1(void);
extern void TestCheckpointTransforms(void);

#endif							/* UNIT_H */
