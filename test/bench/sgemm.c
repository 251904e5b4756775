/*
 * sgemm.c: the hardware limit of the benchmark's network, measured.
 *
 * Times single-threaded OpenBLAS cblas_sgemm on the matrix products of one
 * training step of a batch through a DNN {d0 -> d1 -> ... -> dL}, with the
 * shapes and transposes that src/core/network.c uses:
 *
 *	 forward, every layer:	act[l+1] = act[l] W_l	(N, N)
 *	 backward, every layer: dW_l = act[l]^T delta[l+1]	(T, N)
 *	 backward, layers > 0:	delta[l] = delta[l+1] W_l^T	(N, T)
 *
 * (The extension's forward product adds onto rows holding the bias, beta
 * 1; here beta is 0 throughout, so that repeated steps cannot overflow.
 * The difference is one read of the output, batch x d[l+1] floats.)
 *
 * The products run in that order, one step after another, and the rate is
 * the step's FLOPs over the step's time: each shape counts in proportion to
 * its FLOPs, as it does in training.
 *
 *	 sgemm [batch seconds d0 d1 ... dL]		default 256 1.0 32 64 64 4
 *
 * Prints "gflops=<rate> flops_per_step=<n>", the median of five timings of
 * at least seconds/5 each.
 *
 * Built with -DSGEMM_CORE and src/core/gemm.c, it times the same products
 * as the extension's core multiplies them (EstGemm: its own kernel where
 * the CPU has AVX-512, OpenBLAS otherwise).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_SIZES 64

static double
Now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *
Fill(size_t n)
{
	float	   *p = malloc(n * sizeof(float));
	size_t		i;

	if (p == NULL)
	{
		perror("malloc");
		exit(1);
	}
	for (i = 0; i < n; i++)
		p[i] = (float) ((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
	return p;
}

#ifdef SGEMM_CORE
#include "estcore.h"

static float *transposed;

/*
 * C (m x n) = op(A) op(B) + beta C, row major, k the inner dimension, as
 * the extension's core multiplies: EstGemm, and for op(B) = B^T (the input
 * gradient) a transposed copy of B first where EstGemm's own kernel takes
 * the shape (network.c's backward pass), cblas_sgemm's NT form otherwise.
 */
static void
Gemm(int ta, int tb, int m, int n, int k, const float *a, const float *b,
	 float beta, float *c)
{
	if (!tb)
		EstGemm(ta, m, n, k, a, ta ? m : k, b, n, beta, c, n);
	else if (EstGemmOwnKernel(n, k) && (size_t) n * k <= EST_TRANSPOSED_MAX)
	{
		EstTranspose(b, n, k, transposed);
		EstGemm(0, m, n, k, a, k, transposed, n, beta, c, n);
	}
	else
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f,
					a, k, b, k, beta, c, n);
}
#else
/* C (m x n) = op(A) op(B) + beta C, row major; k is the inner dimension. */
static void
Gemm(int ta, int tb, int m, int n, int k, const float *a, const float *b,
	 float beta, float *c)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
				tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
				a, ta ? m : k, b, tb ? k : n, beta, c, n);
}
#endif

static int
Cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	static const int defaults[] = {32, 64, 64, 4};
	int			B = 256,
				n_sizes = 4,
				d[MAX_SIZES];
	double		seconds = 1.0,
				rates[5],
				flops = 0;
	float	   *w[MAX_SIZES],
			   *act[MAX_SIZES],
			   *grad[MAX_SIZES],
			   *gw[MAX_SIZES];
	int			l,
				r;

	for (l = 0; l < n_sizes; l++)
		d[l] = defaults[l];
	if (argc > 1)
	{
		if (argc < 5 || argc - 3 > MAX_SIZES)
		{
			fprintf(stderr, "usage: sgemm [batch seconds d0 d1 ... dL] "
					"(2 to %d sizes)\n", MAX_SIZES);
			return 2;
		}
		B = atoi(argv[1]);
		seconds = atof(argv[2]);
		n_sizes = argc - 3;
		for (l = 0; l < n_sizes; l++)
			d[l] = atoi(argv[3 + l]);
	}
	for (l = 0; l < n_sizes; l++)
	{
		if (d[l] < 1 || B < 1 || !(seconds > 0))
		{
			fprintf(stderr, "sgemm: batch, seconds and sizes must be positive\n");
			return 2;
		}
	}
	openblas_set_num_threads(1);
#ifdef SGEMM_CORE
	{
		size_t		largest = 1;

		for (l = 0; l < n_sizes - 1; l++)
			if ((size_t) d[l] * d[l + 1] > largest)
				largest = (size_t) d[l] * d[l + 1];
		transposed = Fill(largest);
	}
#endif

	for (l = 0; l < n_sizes; l++)
	{
		act[l] = Fill((size_t) B * d[l]);
		grad[l] = Fill((size_t) B * d[l]);
	}
	for (l = 0; l < n_sizes - 1; l++)
	{
		w[l] = Fill((size_t) d[l] * d[l + 1]);
		gw[l] = Fill((size_t) d[l] * d[l + 1]);
		/* forward and weight gradient; the input gradient above layer 0 */
		flops += 2.0 * B * d[l] * d[l + 1] * (l == 0 ? 2 : 3);
	}

	for (r = 0; r < 5; r++)
	{
		long		steps = 0;
		double		t0 = Now(),
					t;

		do
		{
			for (l = 0; l < n_sizes - 1; l++)	/* forward */
				Gemm(0, 0, B, d[l + 1], d[l], act[l], w[l], 0.0f, act[l + 1]);
			for (l = n_sizes - 2; l >= 0; l--)	/* backward */
			{
				Gemm(1, 0, d[l], d[l + 1], B, act[l], grad[l + 1], 0.0f, gw[l]);
				if (l > 0)
					Gemm(0, 1, B, d[l], d[l + 1], grad[l + 1], w[l], 0.0f,
						 grad[l]);
			}
			steps++;
			t = Now() - t0;
		} while (t < seconds / 5);
		rates[r] = flops * steps / t / 1e9;
	}
	qsort(rates, 5, sizeof(double), Cmp);
#ifdef SGEMM_CORE
	printf("gflops=%.3f flops_per_step=%.0f core=estimator\n", rates[2], flops);
#else
	printf("gflops=%.3f flops_per_step=%.0f core=%s\n", rates[2], flops,
		   openblas_get_corename());
#endif
	return 0;
}
