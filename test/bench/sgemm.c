/*
 * sgemm.c: the hardware limit of the benchmark's network, measured.
 *
 * Times single-threaded OpenBLAS cblas_sgemm on the matrix products of one
 * training step of a batch through the DNN {in -> h1 -> h2 -> out}
 * (forward: three products; backward: three weight gradients and the two
 * input gradients below the top layer) and prints the rate in GFLOP/s.
 *
 *   sgemm [batch in h1 h2 out [seconds]]     default 256 32 64 64 4 1.0
 *
 * Prints "gflops=<rate> flops_per_step=<n>", the median of five timings of
 * at least seconds/5 each.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

/* C (m x n) = op(A) op(B), row major; k is the inner dimension. */
static void
Gemm(int ta, int tb, int m, int n, int k, const float *a, const float *b, float *c)
{
	cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
				tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f,
				a, ta ? m : k, b, tb ? k : n, 0.0f, c, n);
}

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
	int			B = 256, d[4] = {32, 64, 64, 4};
	double		seconds = 1.0, rates[5], flops = 0;
	float	   *w[3], *act[4], *grad[4], *gw[3];
	int			l, r;

	if (argc >= 6)
	{
		B = atoi(argv[1]);
		for (l = 0; l < 4; l++)
			d[l] = atoi(argv[2 + l]);
	}
	if (argc >= 7)
		seconds = atof(argv[6]);
	openblas_set_num_threads(1);

	for (l = 0; l < 4; l++)
	{
		act[l] = Fill((size_t) B * d[l]);
		grad[l] = Fill((size_t) B * d[l]);
	}
	for (l = 0; l < 3; l++)
	{
		w[l] = Fill((size_t) d[l] * d[l + 1]);
		gw[l] = Fill((size_t) d[l] * d[l + 1]);
		flops += 2.0 * B * d[l] * d[l + 1] * (l == 0 ? 2 : 3);
	}

	for (r = 0; r < 5; r++)
	{
		long		steps = 0;
		double		t0 = Now(), t;

		do
		{
			for (l = 0; l < 3; l++)		/* forward */
				Gemm(0, 0, B, d[l + 1], d[l], act[l], w[l], act[l + 1]);
			for (l = 2; l >= 0; l--)	/* backward */
			{
				Gemm(1, 0, d[l], d[l + 1], B, act[l], grad[l + 1], gw[l]);
				if (l > 0)
					Gemm(0, 1, B, d[l], d[l + 1], grad[l + 1], w[l], grad[l]);
			}
			steps++;
			t = Now() - t0;
		} while (t < seconds / 5);
		rates[r] = flops * steps / t / 1e9;
	}
	qsort(rates, 5, sizeof(double), Cmp);
	printf("gflops=%.3f flops_per_step=%.0f\n", rates[2], flops);
	return 0;
}
