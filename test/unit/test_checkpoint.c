/*-------------------------------------------------------------------------
 *
 * test_checkpoint.c
 *	  Tests of the checkpoint codec, most of them hostile.
 *
 * Besides the round trip, these tests damage valid checkpoints in every
 * way the format allows: flipped bytes, truncation, lengths and counts
 * that lie while the CRC is recomputed to match, non-finite values,
 * shapes beyond the limits, and missing, repeated, unknown or reordered
 * sections.  Each failure must return the right status, leave the
 * checkpoint zeroed, leak nothing, and allocate no more than the input
 * could justify.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

/* ----------------------------------------------------------------
 * Helpers
 * ----------------------------------------------------------------
 */

/*
 * MakeCheckpoint builds a complete checkpoint: a 3-hidden-2 tanh network
 * (hidden may be empty), an optimizer of the kind after two steps,
 * fitted features, a global step and an advanced generator.
 */
static void
MakeCheckpoint(EstCheckpoint *c, EstOptimizerKind kind, const int *hidden,
			   int n_hidden)
{
	char		err[EST_ERRMSG_LEN];
	float		X[20 * 3];
	float	   *grad;
	size_t		i;
	int			k;

	memset(c, 0, sizeof(*c));
	EstRngSeed(&c->rng, 31);
	CHECK(EstNetworkInit(&c->net, 3, hidden, n_hidden, 2, EST_ACT_TANH,
						 EST_HEAD_SOFTMAX, &c->rng, err) == EST_OK);
	EstOptimizerDefaults(&c->opt, kind);
	c->opt.learning_rate = 0.125;
	CHECK(EstOptimizerInit(&c->opt, c->net.n_params, err) == EST_OK);
	grad = malloc(sizeof(float) * c->net.n_params);
	for (k = 0; k < 2; k++)
	{
		for (i = 0; i < c->net.n_params; i++)
			grad[i] = (float) (EstRngUniform(&c->rng) - 0.5);
		EstOptimizerApply(&c->opt, c->net.params, grad);
	}
	free(grad);
	for (i = 0; i < 60; i++)
		X[i] = (float) (10 * EstRngUniform(&c->rng) + (double) (i % 3));
	CHECK(EstFeatureStateInit(&c->features, 3, err) == EST_OK);
	EstFeatureStateFit(&c->features, X, 20);
	c->global_step = INT64_C(123456789012);
}

static const int one_hidden[1] = {4};

/*
 * Encode returns the encoded bytes of c (from EstAlloc).
 */
static uint8_t *
Encode(const EstCheckpoint *c, size_t *len)
{
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf = NULL;

	CHECKF(EstCheckpointEncode(c, &buf, len, err) == EST_OK, "%s", err);
	return buf;
}

static int
IsZeroed(const EstCheckpoint *c)
{
	static const EstCheckpoint zero;

	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/*
 * Decode runs the decoder and checks what every call must satisfy: on
 * failure the checkpoint is zeroed and nothing stays allocated, and no
 * single allocation is larger than the input.  It frees a successful
 * result unless keep is given.
 */
static EstStatus
Decode(const uint8_t *buf, size_t len, EstCheckpoint *keep, char *err)
{
	EstCheckpoint c;
	EstStatus	status;
	long		live = unit_live_allocs;

	unit_largest_alloc = 0;
	memset(&c, 0x5A, sizeof(c));	/* garbage: the decoder must not care */
	err[0] = '\0';
	status = EstCheckpointDecode(buf, len, &c, err);
	CHECKF(unit_largest_alloc <= len + 16,
		   "allocated %zu bytes for an input of %zu", unit_largest_alloc, len);
	if (status != EST_OK)
	{
		CHECK(IsZeroed(&c));
		CHECK(unit_live_allocs == live);
		CHECK(err[0] != '\0');
		EstCheckpointFree(&c);	/* must be safe */
	}
	else if (keep != NULL)
		*keep = c;
	else
		EstCheckpointFree(&c);
	return status;
}

/*
 * CheckpointsEqual compares every field and every value bit for bit.
 */
static int
CheckpointsEqual(const EstCheckpoint *a, const EstCheckpoint *b)
{
	int			l;
	int			s;

	if (a->net.n_layers != b->net.n_layers ||
		a->net.activation != b->net.activation ||
		a->net.head != b->net.head || a->net.n_params != b->net.n_params)
		return 0;
	for (l = 0; l <= a->net.n_layers; l++)
		if (a->net.sizes[l] != b->net.sizes[l])
			return 0;
	for (l = 0; l < a->net.n_layers; l++)
		if (a->net.offset_w[l] != b->net.offset_w[l] ||
			a->net.offset_b[l] != b->net.offset_b[l])
			return 0;
	if (memcmp(a->net.params, b->net.params,
			   sizeof(float) * a->net.n_params) != 0)
		return 0;
	if (a->opt.kind != b->opt.kind ||
		memcmp(&a->opt.learning_rate, &b->opt.learning_rate, sizeof(double)) != 0 ||
		memcmp(&a->opt.beta1, &b->opt.beta1, sizeof(double)) != 0 ||
		memcmp(&a->opt.beta2, &b->opt.beta2, sizeof(double)) != 0 ||
		memcmp(&a->opt.epsilon, &b->opt.epsilon, sizeof(double)) != 0 ||
		memcmp(&a->opt.initial_accumulator, &b->opt.initial_accumulator,
			   sizeof(double)) != 0 ||
		a->opt.iterations != b->opt.iterations ||
		a->opt.n != b->opt.n || a->opt.n_slots != b->opt.n_slots)
		return 0;
	for (s = 0; s < a->opt.n_slots; s++)
		if (memcmp(a->opt.slot[s], b->opt.slot[s],
				   sizeof(float) * a->opt.n) != 0)
			return 0;
	if (a->features.n_inputs != b->features.n_inputs ||
		memcmp(a->features.shift, b->features.shift,
			   sizeof(double) * a->features.n_inputs) != 0 ||
		memcmp(a->features.scale, b->features.scale,
			   sizeof(double) * a->features.n_inputs) != 0)
		return 0;
	if (a->global_step != b->global_step ||
		memcmp(&a->rng, &b->rng, sizeof(EstRng)) != 0)
		return 0;
	return 1;
}

static void
PutLE32(uint8_t *p, uint32_t v)
{
	int			i;

	for (i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
PutLE64(uint8_t *p, uint64_t v)
{
	int			i;

	for (i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
GetLE64(const uint8_t *p)
{
	uint64_t	v = 0;
	int			i;

	for (i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* Recomputes the trailing CRC of buf so that only the lie remains. */
static void
Recrc(uint8_t *buf, size_t len)
{
	PutLE32(buf + len - 4, EstCrc32c(0, buf, len - 4));
}

/*
 * A parsed section of a valid checkpoint, which tests may alter and
 * reassemble.
 */
typedef struct Section
{
	char		tag[4];
	uint8_t    *payload;
	size_t		len;			/* bytes of payload */
	uint64_t	declared;		/* length written in the header */
} Section;

typedef struct Parsed
{
	Section		sec[4];
} Parsed;

/*
 * Parse splits a valid checkpoint into its sections, copying payloads.
 */
static void
Parse(const uint8_t *buf, size_t len, Parsed *p)
{
	size_t		pos = 24;
	int			i = 0;

	while (pos < len - 4 && i < 4)
	{
		Section    *s = &p->sec[i++];

		memcpy(s->tag, buf + pos, 4);
		s->len = (size_t) GetLE64(buf + pos + 4);
		s->declared = s->len;
		s->payload = malloc(s->len);
		memcpy(s->payload, buf + pos + 12, s->len);
		pos += 12 + s->len;
	}
	CHECK(i == 4 && pos == len - 4);
}

static void
FreeParsed(Parsed *p)
{
	int			i;

	for (i = 0; i < 4; i++)
		free(p->sec[i].payload);
}

static Section *
FindSection(Parsed *p, const char *tag)
{
	int			i;

	for (i = 0; i < 4; i++)
		if (memcmp(p->sec[i].tag, tag, 4) == 0)
			return &p->sec[i];
	return NULL;
}

/*
 * Assemble writes the sections order[0..n-1] of p with a correct header
 * (section count count_field), total length and CRC.
 */
static uint8_t *
Assemble(const Section *const *order, int n, uint32_t count_field,
		 size_t *out_len)
{
	size_t		len = 24 + 4;
	uint8_t    *buf;
	size_t		pos;
	int			i;

	for (i = 0; i < n; i++)
		len += 12 + order[i]->len;
	buf = malloc(len);
	memcpy(buf, "ESTCKPT", 8);
	PutLE32(buf + 8, 1);
	PutLE64(buf + 12, len);
	PutLE32(buf + 20, count_field);
	pos = 24;
	for (i = 0; i < n; i++)
	{
		memcpy(buf + pos, order[i]->tag, 4);
		PutLE64(buf + pos + 4, order[i]->declared);
		if (order[i]->len > 0)
			memcpy(buf + pos + 12, order[i]->payload, order[i]->len);
		pos += 12 + order[i]->len;
	}
	Recrc(buf, len);
	*out_len = len;
	return buf;
}

static uint8_t *
AssembleAll(Parsed *p, size_t *out_len)
{
	const Section *order[4];
	int			i;

	for (i = 0; i < 4; i++)
		order[i] = &p->sec[i];
	return Assemble(order, 4, 4, out_len);
}

/*
 * ExpectAssembled assembles p as is and checks that decoding gives
 * expected.
 */
static void
ExpectAssembled(Parsed *p, EstStatus expected, const char *what)
{
	char		err[EST_ERRMSG_LEN];
	size_t		len;
	uint8_t    *buf = AssembleAll(p, &len);
	EstStatus	status = Decode(buf, len, NULL, err);

	CHECKF(status == expected, "%s: status %d (%s), expected %d", what,
		   (int) status, err, (int) expected);
	free(buf);
}

/* ----------------------------------------------------------------
 * Tests
 * ----------------------------------------------------------------
 */
void
TestCrc32c(void)
{
	const char *check = "123456789";
	uint8_t		zeros[32];
	uint32_t	crc;

	CHECK(EstCrc32c(0, check, 9) == 0xE3069283u);
	CHECK(EstCrc32c(0, check, 0) == 0);
	/* continuing gives the CRC of the concatenation */
	crc = EstCrc32c(0, check, 4);
	CHECK(EstCrc32c(crc, check + 4, 5) == 0xE3069283u);
	/* RFC 3720, B.4: 32 bytes of zeros */
	memset(zeros, 0, sizeof(zeros));
	CHECK(EstCrc32c(0, zeros, 32) == 0x8A9136AAu);
	memset(zeros, 0xFF, sizeof(zeros));
	CHECK(EstCrc32c(0, zeros, 32) == 0x62A8AB43u);
}

void
TestCheckpointRoundTrip(void)
{
	static const EstOptimizerKind kinds[] = {
		EST_OPT_SGD, EST_OPT_ADAGRAD, EST_OPT_ADAM
	};
	static const int three_hidden[3] = {5, 1, 6};
	size_t		k;
	int			shape;

	for (k = 0; k < 3; k++)
	{
		for (shape = 0; shape < 3; shape++)
		{
			EstCheckpoint a;
			EstCheckpoint b;
			char		err[EST_ERRMSG_LEN];
			uint8_t    *buf;
			uint8_t    *buf2;
			size_t		len;
			size_t		len2;

			if (shape == 0)
				MakeCheckpoint(&a, kinds[k], NULL, 0);
			else if (shape == 1)
				MakeCheckpoint(&a, kinds[k], one_hidden, 1);
			else
				MakeCheckpoint(&a, kinds[k], three_hidden, 3);
			buf = Encode(&a, &len);
			CHECK(len >= 28 && memcmp(buf, "ESTCKPT", 8) == 0);
			CHECK(GetLE64(buf + 12) == len);
			CHECKF(Decode(buf, len, &b, err) == EST_OK, "%s", err);
			CHECKF(CheckpointsEqual(&a, &b), "kind %d shape %d",
				   (int) kinds[k], shape);
			/* encoding the decoded checkpoint gives the same bytes */
			buf2 = Encode(&b, &len2);
			CHECK(len2 == len && memcmp(buf, buf2, len) == 0);
			EstFree(buf);
			EstFree(buf2);
			EstCheckpointFree(&a);
			EstCheckpointFree(&b);
			CHECK(IsZeroed(&b));
		}
	}
}

void
TestCheckpointByteFlips(void)
{
	static const uint8_t masks[] = {0x01, 0x80, 0xFF};
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	uint8_t    *copy;
	size_t		len;
	size_t		i;
	size_t		m;
	int			wrong = 0;

	MakeCheckpoint(&c, EST_OPT_ADAM, one_hidden, 1);
	buf = Encode(&c, &len);
	copy = malloc(len);
	for (i = 0; i < len; i++)
	{
		for (m = 0; m < sizeof(masks); m++)
		{
			EstStatus	status;
			int			ok;

			memcpy(copy, buf, len);
			copy[i] ^= masks[m];
			status = Decode(copy, len, NULL, err);
			if (i >= 8 && i < 12)
				ok = (status == EST_EVERSION || status == EST_ECORRUPT);
			else
				ok = (status == EST_ECORRUPT);
			if (!ok && wrong++ < 5)
				printf("    byte %zu ^ %02X: status %d (%s)\n", i,
					   masks[m], (int) status, err);
		}
	}
	CHECKF(wrong == 0, "%d of %zu flips not detected", wrong, 3 * len);
	/* the last flip was of the CRC itself */
	CHECK(strstr(err, "stored checksum is") != NULL);
	free(copy);
	EstFree(buf);
	EstCheckpointFree(&c);
}

void
TestCheckpointTruncations(void)
{
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	uint8_t    *longer;
	size_t		len;
	size_t		i;
	int			wrong = 0;

	MakeCheckpoint(&c, EST_OPT_ADAGRAD, one_hidden, 1);
	buf = Encode(&c, &len);
	for (i = 0; i < len; i++)
	{
		/* a copy of exactly i bytes, so ASan sees any read past the end */
		uint8_t    *part = malloc(i > 0 ? i : 1);

		memcpy(part, buf, i);
		if (Decode(part, i, NULL, err) != EST_ECORRUPT)
			wrong++;
		free(part);
	}
	CHECKF(wrong == 0, "%d truncations not detected", wrong);
	CHECK(Decode(NULL, 0, NULL, err) == EST_ECORRUPT);

	/* one byte too many */
	longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	CHECK(Decode(longer, len + 1, NULL, err) == EST_ECORRUPT);
	free(longer);
	EstFree(buf);
	EstCheckpointFree(&c);
}

void
TestCheckpointLyingLengths(void)
{
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	uint8_t    *copy;
	size_t		len;
	Parsed		p;
	Section    *s;
	size_t		netw_len_at = 24 + 4;
	static const int64_t deltas[] = {-4, -1, 1, 4, 12};
	size_t		d;

	MakeCheckpoint(&c, EST_OPT_ADAM, one_hidden, 1);
	buf = Encode(&c, &len);
	copy = malloc(len);

	/* the first section's length, changed with a valid CRC */
	for (d = 0; d < sizeof(deltas) / sizeof(deltas[0]); d++)
	{
		memcpy(copy, buf, len);
		PutLE64(copy + netw_len_at, GetLE64(buf + netw_len_at) + deltas[d]);
		Recrc(copy, len);
		CHECKF(Decode(copy, len, NULL, err) == EST_ECORRUPT, "delta %lld",
			   (long long) deltas[d]);
	}
	memcpy(copy, buf, len);
	PutLE64(copy + netw_len_at, UINT64_C(0xFFFFFFFFFFFFFFF0));
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	CHECK(strstr(err, "claims") != NULL);

	/* the total length field */
	memcpy(copy, buf, len);
	PutLE64(copy + 12, len + 8);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	PutLE64(copy + 12, len - 1);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);

	/* the section count */
	memcpy(copy, buf, len);
	PutLE32(copy + 20, 5);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	PutLE32(copy + 20, 3);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);

	/* n_params of NETW (at payload offset 12 + 4 * 3) */
	memcpy(copy, buf, len);
	PutLE64(copy + 36 + 24, GetLE64(copy + 36 + 24) + 1);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	memcpy(copy, buf, len);
	PutLE64(copy + 36 + 24, UINT64_C(1) << 62);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	free(copy);

	/*
	 * Sections whose payload and declared length agree, but whose content
	 * does not: one weight missing, one optimizer value missing, one
	 * feature value missing, a longer STEP.
	 */
	Parse(buf, len, &p);
	s = FindSection(&p, "NETW");
	s->len -= 4;
	s->declared -= 4;
	ExpectAssembled(&p, EST_ECORRUPT, "NETW one weight short");
	s->len += 4;
	s->declared += 4;

	s = FindSection(&p, "OPTM");
	s->len -= 4;
	s->declared -= 4;
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM one value short");
	s->len += 4;
	s->declared += 4;
	PutLE64(s->payload + 56, GetLE64(s->payload + 56) + 1);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM n one too many");
	PutLE64(s->payload + 56, UINT64_C(1) << 40);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM n huge");
	PutLE64(s->payload + 56, c.net.n_params);

	s = FindSection(&p, "FEAT");
	s->len -= 8;
	s->declared -= 8;
	ExpectAssembled(&p, EST_ECORRUPT, "FEAT one value short");
	s->len += 8;
	s->declared += 8;
	PutLE32(s->payload, 4);
	ExpectAssembled(&p, EST_ECORRUPT, "FEAT n_inputs one too many");
	PutLE32(s->payload, 0xFFFFFFFFu);
	ExpectAssembled(&p, EST_ECORRUPT, "FEAT n_inputs huge");
	PutLE32(s->payload, 3);

	s = FindSection(&p, "STEP");
	s->len -= 8;
	s->declared -= 8;
	ExpectAssembled(&p, EST_ECORRUPT, "STEP short");
	s->len += 8;
	s->declared += 8;

	ExpectAssembled(&p, EST_OK, "reassembled unchanged");
	FreeParsed(&p);
	EstFree(buf);
	EstCheckpointFree(&c);
}

/*
 * PutF32At and PutF64At store a value into a payload, little-endian.
 */
static void
PutF32At(uint8_t *p, float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, 4);
	PutLE32(p, bits);
}

static void
PutF64At(uint8_t *p, double d)
{
	uint64_t	bits;

	memcpy(&bits, &d, 8);
	PutLE64(p, bits);
}

void
TestCheckpointBadValues(void)
{
	EstCheckpoint c;
	uint8_t    *buf;
	size_t		len;
	Parsed		p;
	Section    *netw;
	Section    *optm;
	Section    *feat;
	Section    *step;
	uint8_t		saved[64];
	size_t		params_at = 12 + 4 * 3 + 8;	/* in NETW, for 2 layers */
	size_t		slots_at = 64;	/* in OPTM */
	size_t		n_params;

	MakeCheckpoint(&c, EST_OPT_ADAM, one_hidden, 1);
	n_params = c.net.n_params;
	buf = Encode(&c, &len);
	Parse(buf, len, &p);
	netw = FindSection(&p, "NETW");
	optm = FindSection(&p, "OPTM");
	feat = FindSection(&p, "FEAT");
	step = FindSection(&p, "STEP");

#define ALTER(sec, off, size, stmt, what) \
	do { \
		memcpy(saved, (sec)->payload + (off), (size)); \
		stmt; \
		ExpectAssembled(&p, EST_ECORRUPT, what); \
		memcpy((sec)->payload + (off), saved, (size)); \
	} while (0)

	ALTER(netw, params_at, 4, PutF32At(netw->payload + params_at, NAN),
		  "NaN first weight");
	ALTER(netw, params_at + 4 * (n_params - 1), 4,
		  PutF32At(netw->payload + params_at + 4 * (n_params - 1), INFINITY),
		  "infinite last weight");
	ALTER(netw, 4, 4, PutLE32(netw->payload + 4, 0), "activation 0");
	ALTER(netw, 4, 4, PutLE32(netw->payload + 4, 5), "activation 5");
	ALTER(netw, 8, 4, PutLE32(netw->payload + 8, 3), "head 3");
	ALTER(netw, 0, 4, PutLE32(netw->payload, 0), "no layers");
	ALTER(netw, 12, 4, PutLE32(netw->payload + 12, 0), "zero inputs");

	ALTER(optm, 0, 4, PutLE32(optm->payload, 4), "optimizer kind 4");
	ALTER(optm, 4, 4, PutLE32(optm->payload + 4, 1), "adam with 1 slot");
	ALTER(optm, 8, 8, PutF64At(optm->payload + 8, NAN), "NaN learning rate");
	ALTER(optm, 16, 8, PutF64At(optm->payload + 16, 1.0), "beta1 1");
	ALTER(optm, 24, 8, PutF64At(optm->payload + 24, -0.5), "beta2 negative");
	ALTER(optm, 32, 8, PutF64At(optm->payload + 32, INFINITY),
		  "infinite epsilon");
	ALTER(optm, 48, 8, PutLE64(optm->payload + 48, UINT64_C(1) << 63),
		  "negative iterations");
	ALTER(optm, slots_at, 4, PutF32At(optm->payload + slots_at, NAN),
		  "NaN first moment");
	ALTER(optm, slots_at + 4 * n_params, 4,
		  PutF32At(optm->payload + slots_at + 4 * n_params, -1.0f),
		  "negative second moment");

	ALTER(feat, 4, 8, PutF64At(feat->payload + 4, NAN), "NaN shift");
	ALTER(feat, 4 + 8 * 3, 8, PutF64At(feat->payload + 4 + 8 * 3, 0.0),
		  "zero scale");
	ALTER(feat, 4 + 8 * 5, 8, PutF64At(feat->payload + 4 + 8 * 5, -INFINITY),
		  "infinite scale");

	ALTER(step, 0, 8, PutLE64(step->payload, UINT64_C(1) << 63),
		  "negative global step");
	ALTER(step, 8, 32, memset(step->payload + 8, 0, 32), "zero rng state");
#undef ALTER

	ExpectAssembled(&p, EST_OK, "unchanged");
	FreeParsed(&p);
	EstFree(buf);
	EstCheckpointFree(&c);
}

void
TestCheckpointNewerVersion(void)
{
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	size_t		len;

	MakeCheckpoint(&c, EST_OPT_SGD, one_hidden, 1);
	buf = Encode(&c, &len);
	PutLE32(buf + 8, 7);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_EVERSION);
	CHECKF(strcmp(err, "checkpoint format version 7 is newer than the supported version 1") == 0,
		   "message: %s", err);
	PutLE32(buf + 8, 2);
	CHECK(Decode(buf, len, NULL, err) == EST_EVERSION);
	/* a newer format may change everything after the version */
	CHECK(Decode(buf, 12, NULL, err) == EST_EVERSION);
	PutLE32(buf + 8, 0);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_ECORRUPT);
	PutLE32(buf + 8, 1);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_OK);
	/* wrong magic */
	buf[0] = 'X';
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_ECORRUPT);
	EstFree(buf);
	EstCheckpointFree(&c);
}

/*
 * ReplaceNetwork swaps the NETW payload of p for a hand-made header of
 * n_layers layers of the given sizes claiming n_params parameters,
 * followed by extra zero bytes.
 */
static void
ReplaceNetwork(Parsed *p, uint32_t n_layers, const uint32_t *sizes,
			   int n_sizes, uint64_t n_params, size_t extra)
{
	Section    *s = FindSection(p, "NETW");
	size_t		len = 12 + 4 * (size_t) n_sizes + 8 + extra;
	int			i;

	free(s->payload);
	s->payload = calloc(1, len);
	PutLE32(s->payload, n_layers);
	PutLE32(s->payload + 4, EST_ACT_RELU);
	PutLE32(s->payload + 8, EST_HEAD_SOFTMAX);
	for (i = 0; i < n_sizes; i++)
		PutLE32(s->payload + 12 + 4 * i, sizes[i]);
	PutLE64(s->payload + 12 + 4 * n_sizes, n_params);
	s->len = len;
	s->declared = len;
}

void
TestCheckpointLimits(void)
{
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	size_t		len;
	Parsed		p;
	uint8_t    *bad;
	size_t		bad_len;
	long		allocs;
	uint32_t	sizes[40];
	int			i;

	MakeCheckpoint(&c, EST_OPT_SGD, one_hidden, 1);
	buf = Encode(&c, &len);
	Parse(buf, len, &p);

	/* 65536 x 65536 x 65536 x 10: 8.6e9 parameters claimed honestly */
	sizes[0] = sizes[1] = sizes[2] = 65536;
	sizes[3] = 10;
	ReplaceNetwork(&p, 3, sizes, 4,
				   UINT64_C(65536) * 65536 * 2 + 65536 * 2 + 655360 + 10, 0);
	bad = AssembleAll(&p, &bad_len);
	allocs = unit_total_allocs;
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
	CHECKF(strstr(err, "the limit is 268435456") != NULL, "message: %s", err);
	CHECK(unit_total_allocs == allocs);
	free(bad);

	/* a layer beyond EST_MAX_UNITS */
	sizes[0] = 3;
	sizes[1] = 100000;
	sizes[2] = 2;
	ReplaceNetwork(&p, 2, sizes, 3, 3 * 100000 + 100000 + 200002, 0);
	bad = AssembleAll(&p, &bad_len);
	allocs = unit_total_allocs;
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
	CHECK(unit_total_allocs == allocs);
	free(bad);

	/* more outputs than EST_MAX_CLASSES */
	sizes[1] = 4;
	sizes[2] = EST_MAX_CLASSES + 1;
	ReplaceNetwork(&p, 2, sizes, 3, 0, 0);
	bad = AssembleAll(&p, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
	free(bad);

	/* too many layers, with and without the bytes for their sizes */
	for (i = 0; i < 40; i++)
		sizes[i] = 2;
	ReplaceNetwork(&p, 34, sizes, 35, 34 * 6, 0);
	bad = AssembleAll(&p, &bad_len);
	allocs = unit_total_allocs;
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
	CHECK(unit_total_allocs == allocs);
	free(bad);
	ReplaceNetwork(&p, 0xFFFFFFFFu, sizes, 2, 6, 0);
	bad = AssembleAll(&p, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
	free(bad);

	/* a valid shape whose weights are not there: nothing allocated */
	sizes[0] = 1000;
	sizes[1] = 1000;
	sizes[2] = 10;
	ReplaceNetwork(&p, 2, sizes, 3, 1000 * 1000 + 1000 + 10010, 16);
	bad = AssembleAll(&p, &bad_len);
	allocs = unit_total_allocs;
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECK(unit_total_allocs == allocs);
	free(bad);

	/* 32 hidden layers of 2 units are within the limits */
	for (i = 0; i < 40; i++)
		sizes[i] = 2;
	sizes[0] = 3;
	ReplaceNetwork(&p, 33, sizes, 34, 3 * 2 + 2 + 32 * 6, 4 * (3 * 2 + 2 + 32 * 6));
	bad = AssembleAll(&p, &bad_len);
	/* ...and fail only because the optimizer no longer matches */
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECKF(strstr(err, "optimizer") != NULL, "message: %s", err);
	free(bad);

	FreeParsed(&p);
	EstFree(buf);
	EstCheckpointFree(&c);
}

void
TestCheckpointSections(void)
{
	EstCheckpoint c;
	EstCheckpoint d;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	uint8_t    *bad;
	size_t		len;
	size_t		bad_len;
	Parsed		p;
	const Section *order[5];
	Section		unknown;
	Section		empty;

	MakeCheckpoint(&c, EST_OPT_ADAGRAD, one_hidden, 1);
	buf = Encode(&c, &len);
	Parse(buf, len, &p);

	/* any order is accepted */
	order[0] = &p.sec[3];
	order[1] = &p.sec[2];
	order[2] = &p.sec[0];
	order[3] = &p.sec[1];
	bad = Assemble(order, 4, 4, &bad_len);
	CHECKF(Decode(bad, bad_len, &d, err) == EST_OK, "%s", err);
	if (d.net.params != NULL)
	{
		CHECK(CheckpointsEqual(&c, &d));
		EstCheckpointFree(&d);
	}
	free(bad);

	/* a missing section */
	bad = Assemble(order, 3, 3, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECK(strstr(err, "missing") != NULL);
	free(bad);

	/* a repeated section */
	order[4] = &p.sec[0];
	bad = Assemble(order, 5, 5, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECK(strstr(err, "more than once") != NULL);
	free(bad);

	/* an unknown tag, even with an empty payload */
	memcpy(unknown.tag, "XTRA", 4);
	unknown.payload = NULL;
	unknown.len = 0;
	unknown.declared = 0;
	order[4] = &unknown;
	bad = Assemble(order, 5, 5, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* lowercase tag */
	memcpy(unknown.tag, "netw", 4);
	order[2] = &unknown;
	bad = Assemble(order, 4, 4, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* an empty section of a known kind */
	memcpy(empty.tag, "NETW", 4);
	empty.payload = NULL;
	empty.len = 0;
	empty.declared = 0;
	order[2] = &empty;
	bad = Assemble(order, 4, 4, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);
	memcpy(empty.tag, "OPTM", 4);
	order[2] = &p.sec[0];
	order[3] = &empty;
	bad = Assemble(order, 4, 4, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* no section at all */
	bad = Assemble(order, 0, 0, &bad_len);
	CHECK(bad_len == 28);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* a trailing partial section header */
	{
		uint8_t    *withtail;

		bad = AssembleAll(&p, &bad_len);
		withtail = malloc(bad_len + 6);
		memcpy(withtail, bad, bad_len - 4);
		memcpy(withtail + bad_len - 4, "NETW\0\0", 6);
		PutLE64(withtail + 12, bad_len + 6);
		Recrc(withtail, bad_len + 6);
		CHECK(Decode(withtail, bad_len + 6, NULL, err) == EST_ECORRUPT);
		free(withtail);
		free(bad);
	}

	FreeParsed(&p);
	EstFree(buf);
	EstCheckpointFree(&c);
}

void
TestCheckpointEncodeRejects(void)
{
	EstCheckpoint c;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf = (uint8_t *) err;
	size_t		len = 99;
	long		live;
	float		saved;

	MakeCheckpoint(&c, EST_OPT_ADAM, one_hidden, 1);
	live = unit_live_allocs;

	saved = c.net.params[3];
	c.net.params[3] = NAN;
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	CHECK(buf == NULL && len == 0);
	c.net.params[3] = saved;

	c.opt.n--;
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	c.opt.n++;

	c.features.n_inputs = 2;
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	c.features.n_inputs = 3;

	c.features.scale[1] = 0.0;
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	c.features.scale[1] = 1.0;

	memset(&c.rng, 0, sizeof(c.rng));
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	EstRngSeed(&c.rng, 1);

	c.opt.n_slots = 1;
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
	c.opt.n_slots = 2;

	CHECK(unit_live_allocs == live);
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_OK);
	EstFree(buf);
	EstCheckpointFree(&c);
}
