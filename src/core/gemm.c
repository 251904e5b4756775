/*-------------------------------------------------------------------------
 *
 * gemm.c
 *	  The matrix products of training and batch scoring.
 *
 * EstGemm computes C = op(A) B + beta C in row-major order, op(A) being A
 * or its transpose, for the network's layers (network.c).  On a CPU with
 * AVX-512 it multiplies in a kernel of its own; elsewhere, and for the
 * shapes that kernel does not suit, it calls OpenBLAS's cblas_sgemm.
 *
 * Why a kernel of our own: OpenBLAS chooses its kernels by the CPU it
 * finds, or by OPENBLAS_CORETYPE, and a machine that pins an AVX2 kernel
 * (as ours does, since OpenBLAS's AVX-512 kernels for older cores crash or
 * compute wrong results on newer ones) leaves half of each vector unit
 * idle.  At the shapes of a training step, a batch of 256 through layers of
 * 64, OpenBLAS's Haswell kernel runs 60 to 140 GFLOP/s on this project's
 * test machine (AMD EPYC, Zen 5) and this kernel about 200, near the
 * core's peak; the products are most of a step's arithmetic.  An output
 * layer of 3 to 15 units, a single vector under a mask, still runs 1.1 to
 * 2 times OpenBLAS's rate there (27 against 21 GFLOP/s for 3 classes, 119
 * against 63 for 12); for 1 or 2 columns OpenBLAS is as fast.
 *
 * The kernel: C is cut into blocks of MR rows and 32 columns (two vectors
 * of 16 floats; a last block of up to 16 columns takes one vector, under a
 * mask where it is narrower).  A block's 2 * MR sums stay in vector
 * registers over the whole inner dimension: at each step p, one row of B's
 * block is loaded and each of the block's rows of op(A) gives one float,
 * broadcast, and one fused multiply-add per vector.  No operand is packed:
 * op(A)'s block of rows is read once per block of columns from the L1
 * cache, and B, which EstGemm takes only up to EST_GEMM_MAX_B floats, stays
 * in the L2 cache over the row blocks.  Each of C's floats is the sum of
 * its products in the order of p, each added with one rounding (fused), so
 * the result does not depend on the shape's blocking, but it differs from
 * OpenBLAS's in the last bits, as OpenBLAS's kernels differ among
 * themselves.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include <cblas.h>

#include "estcore.h"

#define MR 12					/* rows of a block of C */

/* network.c transposes every kernel that EstGemm's own kernel takes */
_Static_assert(EST_GEMM_MAX_B <= EST_TRANSPOSED_MAX,
			   "EstGemm's own kernel takes kernels too large to transpose");

/*
 * EST_NO_GEMM_KERNEL leaves the kernel out: the fuzzer's build (clang-14
 * with libFuzzer's coverage, ASan and UBSan) took almost nine minutes to
 * compile it, for a target, the checkpoint decoder, that never multiplies.
 */
#if defined(__x86_64__) && !defined(EST_NO_GEMM_KERNEL) && \
	(defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 5))
#define EST_HAVE_GEMM_KERNEL 1
#include <immintrin.h>
#endif

#ifdef EST_HAVE_GEMM_KERNEL

/* HasAvx512 says whether the CPU (and the OS, which saves its registers) runs AVX-512F */
static int
HasAvx512(void)
{
	static int	has_avx512 = -1;

	if (has_avx512 < 0)
	{
		__builtin_cpu_init();
		has_avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
	}
	return has_avx512;
}

/*
 * Block computes rows of C's block (rows <= MR) over vectors (1 or 2) of
 * 16 columns, the last one under mask_last.  Both counts are constants in
 * each call that Kernel makes, so that the loops over them unroll and the
 * sums live in registers.
 */
__attribute__((always_inline, target("avx512f")))
static inline void
Block(int rows, int vectors, int k, const float *a, ptrdiff_t rsa,
	  ptrdiff_t csa, const float *b, ptrdiff_t ldb, float beta, float *c,
	  ptrdiff_t ldc, __mmask16 mask_last)
{
	__mmask16	mask0 = vectors == 1 ? mask_last : (__mmask16) 0xFFFF;
	__m512		sum0[MR];
	__m512		sum1[MR];
	int			i;
	int			p;

	_Pragma("GCC unroll 12")
	for (i = 0; i < rows; i++)
	{
		sum0[i] = _mm512_setzero_ps();
		sum1[i] = _mm512_setzero_ps();
	}
	for (p = 0; p < k; p++)
	{
		const float *bp = b + p * ldb;
		const float *ap = a + p * csa;
		__m512		b0 = _mm512_maskz_loadu_ps(mask0, bp);
		__m512		b1 = vectors == 2 ?
			_mm512_maskz_loadu_ps(mask_last, bp + 16) : _mm512_setzero_ps();

		_Pragma("GCC unroll 12")
		for (i = 0; i < rows; i++)
		{
			__m512		ai = _mm512_set1_ps(ap[i * rsa]);

			sum0[i] = _mm512_fmadd_ps(ai, b0, sum0[i]);
			if (vectors == 2)
				sum1[i] = _mm512_fmadd_ps(ai, b1, sum1[i]);
		}
	}
	_Pragma("GCC unroll 12")
	for (i = 0; i < rows; i++)
	{
		float	   *ci = c + i * ldc;

		if (beta != 0.0f)
			sum0[i] = _mm512_add_ps(sum0[i], _mm512_maskz_loadu_ps(mask0, ci));
		_mm512_mask_storeu_ps(ci, mask0, sum0[i]);
		if (vectors == 2)
		{
			if (beta != 0.0f)
				sum1[i] = _mm512_add_ps(sum1[i],
										_mm512_maskz_loadu_ps(mask_last, ci + 16));
			_mm512_mask_storeu_ps(ci + 16, mask_last, sum1[i]);
		}
	}
}

#define BLOCK_CASE(r) \
	case r: \
		if (width > 16) \
			Block(r, 2, k, ai, rsa, csa, b + j0, ldb, beta, ci + j0, ldc, mask); \
		else \
			Block(r, 1, k, ai, rsa, csa, b + j0, ldb, beta, ci + j0, ldc, mask); \
		break;

/*
 * Kernel computes C = op(A) B + beta C, op(A)'s element (i, p) being
 * a[i * rsa + p * csa], block by block: each block of MR rows of op(A)
 * goes over all the blocks of columns while it is in the L1 cache.
 */
__attribute__((target("avx512f")))
static void
Kernel(int m, int n, int k, const float *a, ptrdiff_t rsa, ptrdiff_t csa,
	   const float *b, ptrdiff_t ldb, float beta, float *c, ptrdiff_t ldc)
{
	int			i0;
	int			j0;

	for (i0 = 0; i0 < m; i0 += MR)
	{
		int			rows = m - i0 < MR ? m - i0 : MR;
		const float *ai = a + i0 * rsa;
		float	   *ci = c + (ptrdiff_t) i0 * ldc;

		for (j0 = 0; j0 < n; j0 += 32)
		{
			int			width = n - j0 < 32 ? n - j0 : 32;
			int			last = width > 16 ? width - 16 : width;
			__mmask16	mask = (__mmask16) ((1u << last) - 1);

			switch (rows)
			{
					BLOCK_CASE(1)
					BLOCK_CASE(2)
					BLOCK_CASE(3)
					BLOCK_CASE(4)
					BLOCK_CASE(5)
					BLOCK_CASE(6)
					BLOCK_CASE(7)
					BLOCK_CASE(8)
					BLOCK_CASE(9)
					BLOCK_CASE(10)
					BLOCK_CASE(11)
					BLOCK_CASE(12)
			}
		}
	}
}
#endif							/* EST_HAVE_GEMM_KERNEL */

/*
 * EstGemmOwnKernel says whether EstGemm multiplies a B of k rows and n
 * columns in its own kernel: on a CPU with AVX-512, for B of at least
 * EST_GEMM_MIN_COLUMNS columns and at most EST_GEMM_MAX_B floats.
 */
int
EstGemmOwnKernel(int n, int k)
{
#ifdef EST_HAVE_GEMM_KERNEL
	return n >= EST_GEMM_MIN_COLUMNS && k >= 1 &&
		(size_t) n * k <= EST_GEMM_MAX_B &&
		HasAvx512();
#else
	(void) n;
	(void) k;
	return 0;
#endif
}

/*
 * EstGemm computes C (m x n) = op(A) B + beta C, row major, where op(A)
 * is A (m x k, rows lda apart) or, with trans_a, the transpose of A
 * (k x m, rows lda apart); B is k x n with rows ldb apart, and beta is 0
 * (C is only written) or 1.
 */
void
EstGemm(int trans_a, int m, int n, int k, const float *a, int lda,
		const float *b, int ldb, float beta, float *c, int ldc)
{
#ifdef EST_HAVE_GEMM_KERNEL
	if (m >= 1 && (beta == 0.0f || beta == 1.0f) && EstGemmOwnKernel(n, k))
	{
		Kernel(m, n, k, a, trans_a ? 1 : lda, trans_a ? lda : 1, b, ldb,
			   beta, c, ldc);
		return;
	}
#endif
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
				CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

/*
 * TransposeBlocks writes the transpose of the rows x cols matrix a into t (cols
 * x rows), 8 x 8 blocks at a time in vector registers where the compiler
 * has gcc's vector shuffles, the edges one float at a time.  The loops
 * over a block are unrolled so that its eight vectors stay in registers:
 * kept in arrays on the stack, a 64 x 64 kernel took 1.3 microseconds
 * instead of 0.35 (a store of two halves read back whole).
 */
#if defined(__GNUC__) && !defined(__clang__)
typedef float EstTVec8 __attribute__((vector_size(8 * sizeof(float))));
typedef int EstTIdx8 __attribute__((vector_size(8 * sizeof(int))));
#define SHUFFLE8(a, b, ...) __builtin_shuffle(a, b, (EstTIdx8) {__VA_ARGS__})
#endif

EST_CLONES static void
TransposeBlocks(const float *a, int rows, int cols, float *t)
{
	int			r0 = 0;

#ifdef SHUFFLE8
	for (; r0 + 8 <= rows; r0 += 8)
	{
		int			c0 = 0;

		for (; c0 + 8 <= cols; c0 += 8)
		{
			EstTVec8	v[8];
			EstTVec8	p[8];
			EstTVec8	q[8];

			_Pragma("GCC unroll 8")
			for (int i = 0; i < 8; i++)
				memcpy(&v[i], a + (size_t) (r0 + i) * cols + c0, sizeof(v[i]));
			_Pragma("GCC unroll 4")
			for (int i = 0; i < 8; i += 2)
			{
				p[i] = SHUFFLE8(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
				p[i + 1] = SHUFFLE8(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
			}
			_Pragma("GCC unroll 2")
			for (int i = 0; i < 8; i += 4)
				_Pragma("GCC unroll 2")
				for (int j = 0; j < 2; j++)
				{
					q[i + 2 * j] = SHUFFLE8(p[i + j], p[i + j + 2],
											0, 1, 8, 9, 4, 5, 12, 13);
					q[i + 2 * j + 1] = SHUFFLE8(p[i + j], p[i + j + 2],
												2, 3, 10, 11, 6, 7, 14, 15);
				}
			_Pragma("GCC unroll 4")
			for (int i = 0; i < 4; i++)
			{
				EstTVec8	lo = SHUFFLE8(q[i], q[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
				EstTVec8	hi = SHUFFLE8(q[i], q[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);

				memcpy(t + (size_t) (c0 + i) * rows + r0, &lo, sizeof(lo));
				memcpy(t + (size_t) (c0 + i + 4) * rows + r0, &hi, sizeof(hi));
			}
		}
		for (; c0 < cols; c0++)
			for (int r = r0; r < r0 + 8; r++)
				t[(size_t) c0 * rows + r] = a[(size_t) r * cols + c0];
	}
#endif
	for (; r0 < rows; r0++)
		for (int c = 0; c < cols; c++)
			t[(size_t) c * rows + r0] = a[(size_t) r0 * cols + c];
}

/*
 * EstTranspose is TransposeBlocks under a name of its own: a function of
 * several clones (EST_CLONES) is called from other files only through a
 * plain one, since clang names no clone after the function itself.
 */
void
EstTranspose(const float *a, int rows, int cols, float *t)
{
	TransposeBlocks(a, rows, cols, t);
}
