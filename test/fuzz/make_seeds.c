/*-------------------------------------------------------------------------
 *
 * make_seeds.c
 *	  Writes real checkpoints, one per optimizer and shape, as the seed
 *	  corpus of fuzz_checkpoint.
 *
 *	  usage: make_seeds DIRECTORY
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>

#include "estcore.h"

static int
WriteSeed(const char *dir, int n, const int *hidden, int n_hidden,
		  EstOptimizerKind kind)
{
	EstCheckpoint ckpt = {0};
	EstRng		rng;
	char		errmsg[EST_ERRMSG_LEN];
	char		path[4096];
	uint8_t    *buf;
	size_t		len;
	FILE	   *f;

	EstRngSeed(&rng, (uint64_t) n + 1);
	if (EstNetworkInit(&ckpt.net, 3, hidden, n_hidden, 2 + n % 3,
					   EST_ACT_RELU, EST_HEAD_SOFTMAX, &rng, errmsg) != EST_OK)
		return -1;
	EstOptimizerDefaults(&ckpt.opt, kind);
	if (EstOptimizerInit(&ckpt.opt, ckpt.net.n_params, errmsg) != EST_OK ||
		EstFeatureStateInit(&ckpt.features, 3, errmsg) != EST_OK)
		return -1;
	ckpt.global_step = 100 * n;
	ckpt.rng = rng;
	if (EstCheckpointEncode(&ckpt, &buf, &len, errmsg) != EST_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/seed-%d", dir, n);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
		return -1;
	EstFree(buf);
	EstCheckpointFree(&ckpt);
	return 0;
}

int
main(int argc, char **argv)
{
	static const int none[1] = {0};
	static const int one[1] = {4};
	static const int two[2] = {5, 3};

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
		return 2;
	}
	if (WriteSeed(argv[1], 0, none, 0, EST_OPT_SGD) != 0 ||
		WriteSeed(argv[1], 1, one, 1, EST_OPT_ADAGRAD) != 0 ||
		WriteSeed(argv[1], 2, two, 2, EST_OPT_ADAM) != 0 ||
		WriteSeed(argv[1], 3, two, 2, EST_OPT_ADAGRAD) != 0)
	{
		fprintf(stderr, "%s: could not write the seeds\n", argv[0]);
		return 1;
	}
	return 0;
}
