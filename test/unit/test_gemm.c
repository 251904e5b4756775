/*-------------------------------------------------------------------------
 *
 * test_gemm.c
 *	  Tests of the matrix products (EstGemm).
 *
 * Every shape near the kernel's blocks (rows 1 to 13 and beyond, columns
 * on both sides of 16 and 32, inner dimensions from 1), both forms of
 * op(A), both betas and padded leading dimensions: the products must
 * match a sum in double, leave C's padding alone and, with beta 0, never
 * read C.  Where the CPU runs the core's own kernel, each float must also
 * be exactly the fused sum over p in order that gemm.c promises.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#define PAD 3

static float
Value(unsigned int i, unsigned int salt)
{
	return (float) (((i + salt) * 2654435761u) % 2001) / 1000.0f - 1.0f;
}

/* op(A)'s element (i, p) */
static float
ElementA(const float *a, int trans_a, int lda, int i, int p)
{
	return trans_a ? a[(size_t) p * lda + i] : a[(size_t) i * lda + p];
}

static int
Product(int trans_a, int m, int n, int k, float beta)
{
	int			lda = (trans_a ? m : k) + PAD;
	int			ldb = n + PAD;
	int			ldc = n + PAD;
	size_t		a_floats = (size_t) (trans_a ? k : m) * lda;
	size_t		b_floats = (size_t) k * ldb;
	size_t		c_floats = (size_t) m * ldc;
	float	   *a = malloc(sizeof(float) * a_floats);
	float	   *b = malloc(sizeof(float) * b_floats);
	float	   *c = malloc(sizeof(float) * c_floats);
	float	   *before = malloc(sizeof(float) * c_floats);
	int			own = EstGemmOwnKernel(n, k);
	int			bad = 0;

	for (size_t x = 0; x < a_floats; x++)
		a[x] = Value(x, 1);
	for (size_t x = 0; x < b_floats; x++)
		b[x] = Value(x, 2);
	for (size_t x = 0; x < c_floats; x++)
		c[x] = beta == 0.0f ? NAN : Value(x, 3);
	memcpy(before, c, sizeof(float) * c_floats);

	EstGemm(trans_a, m, n, k, a, lda, b, ldb, beta, c, ldc);

	for (int i = 0; i < m; i++)
	{
		for (int j = 0; j < ldc; j++)
		{
			size_t		at = (size_t) i * ldc + j;
			double		sum = 0.0;
			double		size = 0.0;
			float		fused = 0.0f;
			float		expect;

			if (j >= n)
			{
				/* padding: untouched, NaN included */
				if (memcmp(&c[at], &before[at], sizeof(float)) != 0)
					bad++;
				continue;
			}
			for (int p = 0; p < k; p++)
			{
				float		x = ElementA(a, trans_a, lda, i, p);
				float		y = b[(size_t) p * ldb + j];

				sum += (double) x * y;
				size += fabs((double) x * y);
				fused = fmaf(x, y, fused);
			}
			if (beta != 0.0f)
			{
				sum += before[at];
				size += fabs(before[at]);
			}
			expect = beta != 0.0f ? fused + before[at] : fused;
			if (!isfinite(c[at]) || fabs(c[at] - sum) > 1e-6 * size + 1e-30)
				bad++;
			else if (own && memcmp(&c[at], &expect, sizeof(float)) != 0)
				bad++;
		}
	}
	free(a);
	free(b);
	free(c);
	free(before);
	return bad;
}

/*
 * TestGemmShapes multiplies every shape of the grid and checks each float.
 */
void
TestGemmShapes(void)
{
	static const int rows[] = {1, 2, 5, 11, 12, 13, 24, 25, 37};
	static const int columns[] = {1, 2, 3, 4, 15, 16, 17, 31, 32, 33, 48, 64, 70};
	static const int inner[] = {1, 2, 7, 64, 300};

	for (int t = 0; t < 2; t++)
		for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
			for (size_t c = 0; c < sizeof(columns) / sizeof(columns[0]); c++)
				for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++)
					for (int beta = 0; beta < 2; beta++)
					{
						int			bad = Product(t, rows[r], columns[c],
												  inner[i], (float) beta);

						CHECKF(bad == 0,
							   "%d of C's floats wrong, trans_a %d, m %d, n %d, k %d, beta %d",
							   bad, t, rows[r], columns[c], inner[i], beta);
					}
}

/*
 * TestGemmOwnKernel checks which shapes go through the core's kernel: on
 * a CPU with AVX-512, B of 3 columns or more and EST_GEMM_MAX_B floats or
 * fewer; elsewhere none.
 */
void
TestGemmOwnKernel(void)
{
	int			avx512 = 0;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
	__builtin_cpu_init();
	avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
#endif
	CHECK(EstGemmOwnKernel(64, 64) == avx512);
	CHECK(EstGemmOwnKernel(16, 1) == avx512);
	CHECK(EstGemmOwnKernel(256, 256) == avx512);
	CHECK(EstGemmOwnKernel(3, 64) == avx512);
	CHECK(EstGemmOwnKernel(2, 64) == 0);
	CHECK(EstGemmOwnKernel(1, 64) == 0);
	CHECK(EstGemmOwnKernel(64, 0) == 0);
	CHECK(EstGemmOwnKernel(257, 256) == 0);
	CHECK(EstGemmOwnKernel(65536, 2) == 0);
}
