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
 * be exactly the fused sum over p in order that gemm.c promises.  Each
 * matrix ends where a page that may not be read begins (its last row has
 * no padding), so that a load of a float past its end, which a masked
 * vector load could do unseen by AddressSanitizer, ends the test.
 *
 *-------------------------------------------------------------------------
 */
/* mmap's MAP_ANONYMOUS, which -std=c99 leaves out */
#define _DEFAULT_SOURCE

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#define PAD 3

static float
Value(unsigned int i, unsigned int salt)
{
	return (float) (((i + salt) * 2654435761u) % 2001) / 1000.0f - 1.0f;
}

/*
 * Guarded returns room for floats floats that ends where a page mapped
 * without access begins; GuardedFree releases it.
 */
static float *
Guarded(size_t floats, size_t *mapped)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	size_t		bytes = (floats * sizeof(float) + page - 1) / page * page;
	char	   *base;

	*mapped = bytes + page;
	base = mmap(NULL, *mapped, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		abort();
	if (mprotect(base + bytes, page, PROT_NONE) != 0)
		abort();
	return (float *) (base + bytes) - floats;
}

static void
GuardedFree(float *p, size_t floats, size_t mapped)
{
	size_t		page = (size_t) sysconf(_SC_PAGESIZE);
	char	   *end = (char *) (p + floats);
	char	   *base = end - (mapped - page);

	munmap(base, mapped);
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
	/* the last row of each ends at its width, against the guard page */
	size_t		a_floats = (size_t) ((trans_a ? k : m) - 1) * lda +
		(trans_a ? m : k);
	size_t		b_floats = (size_t) (k - 1) * ldb + n;
	size_t		c_floats = (size_t) (m - 1) * ldc + n;
	size_t		a_mapped;
	size_t		b_mapped;
	size_t		c_mapped;
	float	   *a = Guarded(a_floats, &a_mapped);
	float	   *b = Guarded(b_floats, &b_mapped);
	float	   *c = Guarded(c_floats, &c_mapped);
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
		for (int j = 0; j < ldc && (size_t) i * ldc + j < c_floats; j++)
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
	GuardedFree(a, a_floats, a_mapped);
	GuardedFree(b, b_floats, b_mapped);
	GuardedFree(c, c_floats, c_mapped);
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
