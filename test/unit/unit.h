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

/* Test groups. */
extern void TestRngSeedKnown(void);
extern void TestRngReference(void);
extern void TestRngUniform(void);
extern void TestRngBounded(void);
extern void TestRngShuffle(void);

extern void TestNetworkInit(void);
extern void TestNetworkLimits(void);
extern void TestForwardByHand(void);
extern void TestForwardMatchesPredictOne(void);
extern void TestHeadLossValues(void);
extern void TestHeadLossStability(void);
extern void TestGradReluSoftmax(void);
extern void TestGradTanhSoftmax(void);
extern void TestGradSigmoidSquared(void);
extern void TestGradLinearSquared(void);
extern void TestGradDeepTanhWeighted(void);
extern void TestGradDeepReluSquaredWeighted(void);
extern void TestGradDeepSigmoidSoftmaxWeighted(void);
extern void TestGradNoHiddenSoftmax(void);
extern void TestGradNoHiddenSquared(void);
extern void TestGradCheckDetectsErrors(void);

extern void TestOptimizerDefaults(void);
extern void TestOptimizerSgd(void);
extern void TestOptimizerAdagrad(void);
extern void TestOptimizerAdam(void);

extern void TestMetricsSoftmax(void);
extern void TestMetricsSquared(void);
extern void TestFeatureState(void);
extern void TestTrainAdagradClassifier(void);
extern void TestTrainAdamRegressor(void);

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

#endif							/* UNIT_H */
