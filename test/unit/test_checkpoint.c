/*-------------------------------------------------------------------------
 *
 * test_checkpoint.c
 *	  Tests of the checkpoint codec, most of them hostile.
 *
 * Besides round trips of every feature (batch normalisation, dropout,
 * DNN input subsets, linear parts with their own optimizer, every
 * optimizer kind, every head), these tests damage valid checkpoints in
 * every way the format allows: flipped bytes, truncation, lengths and
 * counts that lie while the CRC is recomputed to match, non-finite and
 * out-of-range values, shapes beyond the limits, and missing, repeated,
 * unknown or reordered sections.  Each failure must return the right
 * status, leave the checkpoint zeroed, leak nothing, and allocate no
 * more than the input could justify.
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

/* What MakeCheckpoint builds. */
typedef struct CkptOptions
{
	const int  *hidden;
	int			n_hidden;
	EstHead		head;
	EstActivation activation;
	int			batch_norm;
	double		dropout;
	int			dnn_subset;		/* the DNN reads inputs 2, 0 */
	int			linear;			/* the linear part reads input 1 */
	EstOptimizerKind kind;
	EstOptimizerKind linear_kind;
	int			variant;		/* nesterov, centered, momentum... */
} CkptOptions;

static const int one_hidden[1] = {4};
static const int three_hidden[3] = {5, 1, 6};

static void
Options(CkptOptions *o, EstOptimizerKind kind, const int *hidden,
		int n_hidden)
{
	memset(o, 0, sizeof(*o));
	o->hidden = hidden;
	o->n_hidden = n_hidden;
	o->head = EST_HEAD_SOFTMAX;
	o->activation = EST_ACT_TANH;
	o->kind = kind;
	o->linear_kind = EST_OPT_FTRL;
}

/*
 * SetVariant sets the kind's optional hyperparameters from variant, so
 * that every slot layout occurs.
 */
static void
SetVariant(EstOptimizer *opt, int variant)
{
	opt->learning_rate = 0.125;
	if (opt->kind == EST_OPT_MOMENTUM)
		opt->nesterov = variant % 2;
	if (opt->kind == EST_OPT_RMSPROP)
	{
		opt->momentum = (variant & 1) ? 0.5 : 0.0;
		opt->centered = (variant & 2) ? 1 : 0;
	}
	if (opt->kind == EST_OPT_FTRL)
	{
		opt->l1 = 0.01 * variant;
		opt->l2 = 0.02;
		opt->l2_shrinkage = 0.03;
		opt->beta = 0.5;
	}
}

/*
 * MakeCheckpoint builds a complete checkpoint of 3 inputs and 2 outputs
 * (1 for the sigmoid head): the network of the options, optimizers after
 * two steps, random moving statistics, fitted features, a global step,
 * an advanced generator and an epoch half done.
 */
static void
MakeCheckpoint(EstCheckpoint *c, const CkptOptions *o)
{
	static const int dnn[2] = {2, 0};
	static const int lin[1] = {1};
	EstNetworkSpec spec;
	char		err[EST_ERRMSG_LEN];
	float		X[20 * 3];
	float	   *grad;
	size_t		i;
	int			k;

	memset(c, 0, sizeof(*c));
	EstRngSeed(&c->rng, 31);
	UnitSpec(&spec, 3, o->hidden, o->n_hidden,
			 o->head == EST_HEAD_SIGMOID ? 1 : 2, o->activation, o->head);
	spec.batch_norm = o->batch_norm;
	spec.dropout = o->dropout;
	if (o->dnn_subset)
	{
		spec.n_dnn_inputs = 2;
		spec.dnn_inputs = dnn;
	}
	if (o->linear)
	{
		spec.n_linear_inputs = 1;
		spec.linear_inputs = lin;
	}
	CHECKF(EstNetworkInit(&c->net, &spec, &c->rng, err) == EST_OK, "%s", err);
	for (i = 0; i < c->net.n_stats; i++)
		c->net.stats[i] = (float) EstRngUniform(&c->rng);
	EstOptimizerDefaults(&c->opt, o->kind);
	SetVariant(&c->opt, o->variant);
	CHECKF(EstOptimizerInit(&c->opt, c->net.linear_offset, err) == EST_OK,
		   "%s", err);
	if (o->linear)
	{
		EstOptimizerDefaults(&c->opt_linear, o->linear_kind);
		SetVariant(&c->opt_linear, o->variant + 1);
		CHECKF(EstOptimizerInit(&c->opt_linear,
								c->net.n_params - c->net.linear_offset,
								err) == EST_OK, "%s", err);
	}
	grad = malloc(sizeof(float) * c->net.n_params);
	for (k = 0; k < 2; k++)
	{
		for (i = 0; i < c->net.n_params; i++)
			grad[i] = (float) (EstRngUniform(&c->rng) - 0.5);
		EstOptimizerApply(&c->opt, c->net.params, grad);
		if (o->linear)
			EstOptimizerApply(&c->opt_linear,
							  c->net.params + c->net.linear_offset,
							  grad + c->net.linear_offset);
	}
	free(grad);
	for (i = 0; i < 60; i++)
		X[i] = (float) (10 * EstRngUniform(&c->rng) + (double) (i % 3));
	UnitColumns(&c->transform, 1);
	UnitColumn(&c->transform, 0, EST_FC_NUMERIC, "x")->shape = 3;
	CHECK(EstTransformInit(&c->transform, err) == EST_OK);
	CHECK(EstTransformFit(&c->transform, X, 20, 20, err) == EST_OK);
	if (o->head == EST_HEAD_SQUARED)
	{
		/* regressors carry the standardisation of their targets */
		CHECK(EstFeatureStateInit(&c->labels, c->net.sizes[c->net.n_layers],
								  err) == EST_OK);
		for (k = 0; k < c->labels.n_inputs; k++)
		{
			c->labels.shift[k] = 0.5 * k - 1;
			c->labels.scale[k] = 2.0 + k;
		}
	}
	c->global_step = INT64_C(123456789012);
	EstRngSeed(&c->epoch.rng, 77);
	c->epoch.n_rows = 150;
	c->epoch.position = 70;
}

/*
 * MakeFull builds the checkpoint with everything: batch_norm, dropout,
 * a DNN input subset, and a linear part with its own optimizer.
 */
static void
MakeFull(EstCheckpoint *c, EstOptimizerKind kind,
		 EstOptimizerKind linear_kind)
{
	CkptOptions o;

	Options(&o, kind, one_hidden, 1);
	o.batch_norm = 1;
	o.dropout = 0.25;
	o.dnn_subset = 1;
	o.linear = 1;
	o.linear_kind = linear_kind;
	MakeCheckpoint(c, &o);
}

static void
MakePlain(EstCheckpoint *c, EstOptimizerKind kind)
{
	CkptOptions o;

	Options(&o, kind, one_hidden, 1);
	MakeCheckpoint(c, &o);
}

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

static int
SameDouble(double a, double b)
{
	return memcmp(&a, &b, sizeof(double)) == 0;
}

/*
 * OptimizersEqual compares every field and slot bit for bit.
 */
static int
OptimizersEqual(const EstOptimizer *a, const EstOptimizer *b)
{
	int			s;

	if (a->kind != b->kind || a->n != b->n || a->n_slots != b->n_slots ||
		a->iterations != b->iterations || a->nesterov != b->nesterov ||
		a->centered != b->centered ||
		!SameDouble(a->learning_rate, b->learning_rate) ||
		!SameDouble(a->beta1, b->beta1) || !SameDouble(a->beta2, b->beta2) ||
		!SameDouble(a->epsilon, b->epsilon) ||
		!SameDouble(a->initial_accumulator, b->initial_accumulator) ||
		!SameDouble(a->momentum, b->momentum) ||
		!SameDouble(a->rho, b->rho) || !SameDouble(a->lr_power, b->lr_power) ||
		!SameDouble(a->l1, b->l1) || !SameDouble(a->l2, b->l2) ||
		!SameDouble(a->l2_shrinkage, b->l2_shrinkage) ||
		!SameDouble(a->beta, b->beta))
		return 0;
	for (s = 0; s < a->n_slots; s++)
		if (memcmp(a->slot[s], b->slot[s], sizeof(float) * a->n) != 0)
			return 0;
	return 1;
}

/*
 * CheckpointsEqual compares every field and every value bit for bit.
 */
static int
CheckpointsEqual(const EstCheckpoint *a, const EstCheckpoint *b)
{
	const EstNetwork *na = &a->net;
	const EstNetwork *nb = &b->net;
	int			l;

	if (na->n_inputs != nb->n_inputs || na->n_layers != nb->n_layers ||
		na->activation != nb->activation || na->head != nb->head ||
		na->reduction != nb->reduction || na->n_params != nb->n_params ||
		na->n_dnn_inputs != nb->n_dnn_inputs ||
		na->n_linear_inputs != nb->n_linear_inputs ||
		na->batch_norm != nb->batch_norm ||
		!SameDouble(na->bn_momentum, nb->bn_momentum) ||
		!SameDouble(na->bn_epsilon, nb->bn_epsilon) ||
		!SameDouble(na->dropout, nb->dropout) ||
		na->linear_offset != nb->linear_offset || na->n_stats != nb->n_stats)
		return 0;
	for (l = 0; l <= na->n_layers; l++)
		if (na->sizes[l] != nb->sizes[l])
			return 0;
	for (l = 0; l < na->n_layers; l++)
		if (na->offset_w[l] != nb->offset_w[l] ||
			na->offset_b[l] != nb->offset_b[l] ||
			na->offset_gamma[l] != nb->offset_gamma[l] ||
			na->offset_beta[l] != nb->offset_beta[l] ||
			na->offset_stats[l] != nb->offset_stats[l])
			return 0;
	for (l = 0; l < na->n_dnn_inputs; l++)
		if (na->dnn_inputs[l] != nb->dnn_inputs[l])
			return 0;
	for (l = 0; l < na->n_linear_inputs; l++)
		if (na->linear_inputs[l] != nb->linear_inputs[l])
			return 0;
	if (memcmp(na->params, nb->params, sizeof(float) * na->n_params) != 0 ||
		(na->n_stats > 0 &&
		 memcmp(na->stats, nb->stats, sizeof(float) * na->n_stats) != 0))
		return 0;
	if (!OptimizersEqual(&a->opt, &b->opt))
		return 0;
	if (na->n_linear_inputs > 0 &&
		!OptimizersEqual(&a->opt_linear, &b->opt_linear))
		return 0;
	if (!UnitTransformsEqual(&a->transform, &b->transform))
		return 0;
	if (a->labels.n_inputs != b->labels.n_inputs ||
		(a->labels.n_inputs > 0 &&
		 (memcmp(a->labels.shift, b->labels.shift,
				 sizeof(double) * a->labels.n_inputs) != 0 ||
		  memcmp(a->labels.scale, b->labels.scale,
				 sizeof(double) * a->labels.n_inputs) != 0)))
		return 0;
	if (a->global_step != b->global_step ||
		memcmp(&a->rng, &b->rng, sizeof(EstRng)) != 0 ||
		memcmp(&a->epoch, &b->epoch, sizeof(EstEpochState)) != 0)
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

static uint32_t
GetLE32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
		(uint32_t) p[3] << 24;
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
	size_t		cap;			/* bytes allocated for payload */
} Section;

typedef struct Parsed
{
	Section		sec[7];
	int			n;
} Parsed;

/*
 * Parse splits a valid checkpoint into its sections, copying payloads.
 */
static void
Parse(const uint8_t *buf, size_t len, Parsed *p)
{
	size_t		pos = 24;
	int			i = 0;

	while (pos < len - 4 && i < 7)
	{
		Section    *s = &p->sec[i++];

		memcpy(s->tag, buf + pos, 4);
		s->len = (size_t) GetLE64(buf + pos + 4);
		s->declared = s->len;
		s->cap = s->len;
		s->payload = malloc(s->len);
		memcpy(s->payload, buf + pos + 12, s->len);
		pos += 12 + s->len;
	}
	CHECK(i >= 4 && pos == len - 4);
	p->n = i;
}

static void
FreeParsed(Parsed *p)
{
	int			i;

	for (i = 0; i < p->n; i++)
		free(p->sec[i].payload);
}

static Section *
FindSection(Parsed *p, const char *tag)
{
	int			i;

	for (i = 0; i < p->n; i++)
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
	PutLE32(buf + 8, EST_CHECKPOINT_VERSION);
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
	const Section *order[7];
	int			i;

	for (i = 0; i < p->n; i++)
		order[i] = &p->sec[i];
	return Assemble(order, p->n, (uint32_t) p->n, out_len);
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

/*
 * The bytes of the input segments in NETW: their count, and 20 bytes of
 * each; the networks of these tests have one dense segment.  Offsets
 * below written as 20 + SEG + k are those of version 1 shifted by them.
 */
#define SEG		24

/*
 * ParamsAt returns the offset of the first weight in the NETW payload of
 * net: the fixed fields, the segments, the sizes, both index lists,
 * batch_norm and its three doubles, and n_params.
 */
static size_t
ParamsAt(const EstNetwork *net)
{
	int			n_segs = net->n_segments > 0 ? net->n_segments : 1;

	return 20 + 4 + 20 * (size_t) n_segs + 4 * (size_t) (net->n_layers + 1) +
		4 + 4 * (size_t) net->n_dnn_inputs +
		4 + 4 * (size_t) net->n_linear_inputs + 4 + 24 + 8;
}

/* Offsets in the OPTM and OPTL payloads. */
#define OPT_KIND		0
#define OPT_N_SLOTS		4
#define OPT_LR			8
#define OPT_BETA1		16
#define OPT_BETA2		24
#define OPT_EPSILON		32
#define OPT_INIT_ACC	40
#define OPT_MOMENTUM	48
#define OPT_NESTEROV	56
#define OPT_RHO			60
#define OPT_CENTERED	68
#define OPT_LR_POWER	72
#define OPT_L1			80
#define OPT_L2			88
#define OPT_SHRINKAGE	96
#define OPT_BETA		104
#define OPT_ITERATIONS	112
#define OPT_N			120
#define OPT_SLOTS		128

/*
 * Offsets in the FCOL payload of MakeCheckpoint's transform: one numeric
 * column "x" of shape 3 reading "x" (layout in checkpoint.c).
 */
#define FC_N_INPUTS		0
#define FC_FITTED		4
#define FC_LEGACY		8
#define FC_N_COLUMNS	12
#define FC_KIND			16
#define FC_NAME			20		/* length 1, then "x" */
#define FC_N_KEYS		25
#define FC_KEY			29
#define FC_SHAPE		34
#define FC_NORMALIZER	38
#define FC_NULL_POLICY	42
#define FC_DEFAULT		46
#define FC_MULTI		54
#define FC_MAX_VALUES	58
#define FC_N_BOUNDARIES 62
#define FC_LEARNED		66
#define FC_NUM_OOV		70
#define FC_MAX_SIZE		74
#define FC_HASH_ABOVE	78
#define FC_VOCAB_SIZE	90
#define FC_NUM_BUCKETS	94
#define FC_DEFAULT_ID	102
#define FC_REPR			110
#define FC_DIMENSION	114
#define FC_COMBINER		118
#define FC_OFFSET		122
#define FC_SLOTS		126
#define FC_BUCKETS		130
#define FC_NULL_COUNT	138
#define FC_VALUE_COUNT	146
#define FC_N_STATS		154
#define FC_MEAN			158
#define FC_STDDEV		(FC_MEAN + 24)
#define FC_MIN			(FC_MEAN + 48)
#define FC_MAX			(FC_MEAN + 72)
#define FC_SHIFT		(FC_MEAN + 96)
#define FC_SCALE		(FC_MEAN + 120)
#define FCOL_LEN		(FC_MEAN + 144)

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

/*
 * RoundTrip encodes c, decodes it, compares, and encodes the result
 * again to the same bytes.
 */
static void
RoundTrip(EstCheckpoint *a, const char *what)
{
	EstCheckpoint b;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *buf;
	uint8_t    *buf2;
	size_t		len;
	size_t		len2;

	buf = Encode(a, &len);
	if (buf == NULL)
		return;
	CHECK(len >= 28 && memcmp(buf, "ESTCKPT", 8) == 0);
	CHECK(GetLE64(buf + 12) == len);
	CHECKF(Decode(buf, len, &b, err) == EST_OK, "%s: %s", what, err);
	if (b.net.params == NULL)
	{
		EstFree(buf);
		return;
	}
	CHECKF(CheckpointsEqual(a, &b), "%s", what);
	buf2 = Encode(&b, &len2);
	CHECKF(len2 == len && memcmp(buf, buf2, len) == 0, "%s", what);
	EstFree(buf);
	EstFree(buf2);
	EstCheckpointFree(&b);
	CHECK(IsZeroed(&b));
}

void
TestCheckpointRoundTrip(void)
{
	static const EstHead heads[3] = {
		EST_HEAD_SOFTMAX, EST_HEAD_SQUARED, EST_HEAD_SIGMOID
	};
	int			kind;
	int			shape;
	int			feature;

	for (kind = EST_OPT_SGD; kind <= EST_OPT_FTRL; kind++)
	{
		for (shape = 0; shape < 3; shape++)
		{
			for (feature = 0; feature < 8; feature++)
			{
				EstCheckpoint a;
				CkptOptions o;
				char		what[128];

				if (shape == 0)
					Options(&o, (EstOptimizerKind) kind, NULL, 0);
				else if (shape == 1)
					Options(&o, (EstOptimizerKind) kind, one_hidden, 1);
				else
					Options(&o, (EstOptimizerKind) kind, three_hidden, 3);
				/* bit 0 batch_norm, bit 1 dropout, bit 2 linear part */
				o.batch_norm = feature & 1;
				o.dropout = (feature & 2) ? 0.375 : 0.0;
				o.linear = (feature & 4) ? 1 : 0;
				o.dnn_subset = (feature + shape) % 3 == 0;
				o.head = heads[(kind + feature) % 3];
				o.activation = (EstActivation) (1 + (kind + shape + feature) % 7);
				o.linear_kind = (EstOptimizerKind) (1 + (kind + feature) % 6);
				o.variant = feature % 4;
				MakeCheckpoint(&a, &o);
				snprintf(what, sizeof(what), "kind %d shape %d feature %d",
						 kind, shape, feature);
				RoundTrip(&a, what);
				EstCheckpointFree(&a);
			}
		}
	}

	/* rmsprop with momentum and centering: three slots */
	{
		EstCheckpoint a;
		CkptOptions o;

		Options(&o, EST_OPT_RMSPROP, one_hidden, 1);
		o.variant = 3;
		o.linear = 1;
		o.linear_kind = EST_OPT_RMSPROP;
		MakeCheckpoint(&a, &o);
		CHECK(a.opt.n_slots == 3 && a.opt_linear.n_slots == 1);
		RoundTrip(&a, "rmsprop, 3 slots");
		EstCheckpointFree(&a);
	}

	/*
	 * Values the encoder must keep as they are: a learning rate of 0 (the
	 * end of a cosine schedule), momentum 0, -0.0 weights, no epoch
	 * started with an all-zero epoch generator.
	 */
	{
		EstCheckpoint a;

		MakeFull(&a, EST_OPT_ADAM, EST_OPT_FTRL);
		a.opt.learning_rate = 0.0;
		a.opt_linear.learning_rate = 0.0;
		a.net.bn_momentum = 0.0;
		a.net.params[0] = -0.0f;
		memset(&a.epoch, 0, sizeof(a.epoch));
		RoundTrip(&a, "edge values");
		EstCheckpointFree(&a);
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

	MakeFull(&c, EST_OPT_ADAM, EST_OPT_FTRL);
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

	MakeFull(&c, EST_OPT_RMSPROP, EST_OPT_ADAGRAD);
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

/*
 * Resize changes the payload of s by delta bytes at its end, keeping the
 * declared length in step.  Bytes dropped come back when it grows again;
 * bytes beyond the original payload are zeros.
 */
static void
Resize(Section *s, long delta)
{
	size_t		len = (size_t) ((long) s->len + delta);

	if (len > s->cap)
	{
		s->payload = realloc(s->payload, len);
		memset(s->payload + s->cap, 0, len - s->cap);
		s->cap = len;
	}
	s->len = len;
	s->declared = len;
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
	size_t		n_params_at;
	size_t		n_stats_at;
	static const int64_t deltas[] = {-4, -1, 1, 4, 12};
	size_t		d;
	uint8_t		saved[8];

	MakeFull(&c, EST_OPT_ADAM, EST_OPT_FTRL);
	n_params_at = ParamsAt(&c.net) - 8;
	n_stats_at = ParamsAt(&c.net) + 4 * c.net.n_params;
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
	PutLE32(copy + 20, 6);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	PutLE32(copy + 20, 4);
	Recrc(copy, len);
	CHECK(Decode(copy, len, NULL, err) == EST_ECORRUPT);
	free(copy);

	/*
	 * Counts inside the sections, with the section lengths kept valid:
	 * one weight, statistic, slot value or feature value missing; counts
	 * one off or huge.
	 */
	Parse(buf, len, &p);
	CHECK(p.n == 5);
	s = FindSection(&p, "NETW");
	Resize(s, -4);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW one statistic short");
	Resize(s, +8);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW one statistic too many");
	Resize(s, -4);
	ExpectAssembled(&p, EST_OK, "NETW restored");
	memcpy(saved, s->payload + n_params_at, 8);
	PutLE64(s->payload + n_params_at, c.net.n_params + 1);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_params one too many");
	PutLE64(s->payload + n_params_at, UINT64_C(1) << 62);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_params huge");
	memcpy(s->payload + n_params_at, saved, 8);
	memcpy(saved, s->payload + n_stats_at, 8);
	PutLE64(s->payload + n_stats_at, c.net.n_stats - 1);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_stats one short");
	PutLE64(s->payload + n_stats_at, UINT64_C(1) << 40);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_stats huge");
	memcpy(s->payload + n_stats_at, saved, 8);
	/* n_dnn_inputs (at 32 + SEG) and n_linear_inputs (at 44 + SEG) */
	PutLE32(s->payload + 32 + SEG, 3);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_dnn_inputs one too many");
	PutLE32(s->payload + 32 + SEG, 60000);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_dnn_inputs past the end");
	PutLE32(s->payload + 32 + SEG, 0xFFFFFFFFu);
	ExpectAssembled(&p, EST_ELIMIT, "NETW n_dnn_inputs huge");
	PutLE32(s->payload + 32 + SEG, 2);
	PutLE32(s->payload + 44 + SEG, 0);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_linear_inputs zero");
	PutLE32(s->payload + 44 + SEG, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_linear_inputs one too many");
	PutLE32(s->payload + 44 + SEG, 1);
	ExpectAssembled(&p, EST_OK, "NETW counts restored");
	/* n_segments (at 20) */
	PutLE32(s->payload + 20, 0);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW no segment");
	PutLE32(s->payload + 20, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_segments one too many");
	PutLE32(s->payload + 20, 100000);
	ExpectAssembled(&p, EST_ELIMIT, "NETW n_segments huge");
	PutLE32(s->payload + 20, 4000);
	ExpectAssembled(&p, EST_ECORRUPT, "NETW n_segments past the end");
	PutLE32(s->payload + 20, 1);
	ExpectAssembled(&p, EST_OK, "NETW segments restored");

	s = FindSection(&p, "OPTM");
	Resize(s, -4);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM one value short");
	Resize(s, +4);
	PutLE64(s->payload + OPT_N, GetLE64(s->payload + OPT_N) + 1);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM n one too many");
	PutLE64(s->payload + OPT_N, UINT64_C(1) << 40);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM n huge");
	PutLE64(s->payload + OPT_N, c.net.linear_offset);
	Resize(s, -(long) s->len + 100);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTM shorter than its fixed part");
	FreeParsed(&p);

	Parse(buf, len, &p);
	s = FindSection(&p, "OPTL");
	Resize(s, -4);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTL one value short");
	Resize(s, +4);
	PutLE64(s->payload + OPT_N, c.net.n_params - c.net.linear_offset - 1);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTL n one short");
	PutLE64(s->payload + OPT_N, c.net.linear_offset);
	ExpectAssembled(&p, EST_ECORRUPT, "OPTL n of the DNN");
	PutLE64(s->payload + OPT_N, c.net.n_params - c.net.linear_offset);

	s = FindSection(&p, "FCOL");
	CHECK(s != NULL && s->len == FCOL_LEN);
	Resize(s, -8);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL one value short");
	Resize(s, +16);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL one value too many");
	Resize(s, -8);
	PutLE32(s->payload, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL n_inputs of the DNN");
	PutLE32(s->payload, 0xFFFFFFFFu);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL n_inputs huge");
	PutLE32(s->payload, 3);
	PutLE32(s->payload + 12, 0);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL no column");
	PutLE32(s->payload + 12, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL n_columns one too many");
	PutLE32(s->payload + 12, 5000);
	ExpectAssembled(&p, EST_ELIMIT, "FCOL n_columns huge");
	PutLE32(s->payload + 12, 1);
	PutLE32(s->payload + FC_NAME, 0xFFFFFFFFu);
	ExpectAssembled(&p, EST_ELIMIT, "FCOL name length huge");
	PutLE32(s->payload + FC_NAME, 1000);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL name past the end");
	PutLE32(s->payload + FC_NAME, 1);
	PutLE32(s->payload + FC_N_KEYS, 9);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL 9 keys");
	PutLE32(s->payload + FC_N_KEYS, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL 2 keys");
	PutLE32(s->payload + FC_N_KEYS, 1);
	PutLE32(s->payload + FC_SHAPE, 2);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL shape one short");
	PutLE32(s->payload + FC_SHAPE, 70000);
	ExpectAssembled(&p, EST_ELIMIT, "FCOL shape huge");
	PutLE32(s->payload + FC_SHAPE, 3);
	PutLE32(s->payload + FC_N_STATS, 4);
	ExpectAssembled(&p, EST_ECORRUPT, "FCOL n_stats one too many");
	PutLE32(s->payload + FC_N_STATS, 3);

	s = FindSection(&p, "STEP");
	Resize(s, -8);
	ExpectAssembled(&p, EST_ECORRUPT, "STEP short");
	Resize(s, +16);
	ExpectAssembled(&p, EST_ECORRUPT, "STEP long");
	Resize(s, -8);

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
	Section    *optl;
	Section    *fcol;
	Section    *step;
	uint8_t		saved[64];
	size_t		params_at;
	size_t		stats_at;
	size_t		n_params;
	size_t		n_optm;
	size_t		n_optl;

	MakeFull(&c, EST_OPT_ADAM, EST_OPT_FTRL);
	n_params = c.net.n_params;
	n_optm = c.net.linear_offset;
	n_optl = n_params - n_optm;
	params_at = ParamsAt(&c.net);
	stats_at = params_at + 4 * n_params + 8;
	buf = Encode(&c, &len);
	Parse(buf, len, &p);
	netw = FindSection(&p, "NETW");
	optm = FindSection(&p, "OPTM");
	optl = FindSection(&p, "OPTL");
	fcol = FindSection(&p, "FCOL");
	step = FindSection(&p, "STEP");

#define ALTER_TO(sec, off, size, stmt, expected, what) \
	do { \
		memcpy(saved, (sec)->payload + (off), (size)); \
		stmt; \
		ExpectAssembled(&p, (expected), what); \
		memcpy((sec)->payload + (off), saved, (size)); \
	} while (0)
#define ALTER(sec, off, size, stmt, what) \
	ALTER_TO(sec, off, size, stmt, EST_ECORRUPT, what)
#define U32(sec, off, v, what) \
	ALTER(sec, off, 4, PutLE32((sec)->payload + (off), (v)), what)
#define F64(sec, off, v, what) \
	ALTER(sec, off, 8, PutF64At((sec)->payload + (off), (v)), what)
#define F32(sec, off, v, what) \
	ALTER(sec, off, 4, PutF32At((sec)->payload + (off), (v)), what)

	/* NETW: n_inputs 0, n_layers 4, activation 8, head 12, reduction 16,
	 * sizes 20.., n_dnn 32, dnn 36 40, n_linear 44, linear 48,
	 * batch_norm 52, momentum 56, epsilon 64, dropout 72 */
	U32(netw, 0, 0, "zero inputs");
	U32(netw, 0, 2, "fewer inputs than the indexes need");
	ALTER_TO(netw, 0, 4, PutLE32(netw->payload, 70000), EST_ELIMIT,
			 "too many inputs");
	U32(netw, 4, 0, "no layers");
	U32(netw, 8, 0, "activation 0");
	U32(netw, 8, 8, "activation 8");
	U32(netw, 12, 0, "head 0");
	U32(netw, 12, 4, "head 4");
	U32(netw, 12, EST_HEAD_SIGMOID, "sigmoid head with 2 outputs");
	U32(netw, 16, 0, "reduction 0");
	U32(netw, 16, 4, "reduction 4");
	U32(netw, 20 + SEG, 0, "zero-sized first layer");
	U32(netw, 20 + SEG, 3, "first layer not the DNN input count");
	U32(netw, 28 + SEG, 1, "softmax with 1 output");
	U32(netw, 36 + SEG, 3, "DNN index out of range");
	U32(netw, 40 + SEG, 0xFFFFFFFFu, "DNN index -1");
	U32(netw, 48 + SEG, 3, "linear index out of range");
	U32(netw, 52 + SEG, 2, "batch_norm 2");
	F64(netw, 56 + SEG, 1.0, "momentum 1");
	F64(netw, 56 + SEG, -0.25, "momentum negative");
	F64(netw, 56 + SEG, NAN, "momentum NaN");
	F64(netw, 64 + SEG, 0.0, "epsilon 0");
	F64(netw, 64 + SEG, -1e-3, "epsilon negative");
	F64(netw, 64 + SEG, INFINITY, "epsilon infinite");
	F64(netw, 72 + SEG, 1.0, "dropout 1");
	F64(netw, 72 + SEG, -0.1, "dropout negative");
	F64(netw, 72 + SEG, NAN, "dropout NaN");
	F32(netw, params_at, NAN, "NaN first weight");
	F32(netw, params_at + 4 * (n_params - 1), INFINITY,
		"infinite last weight");
	F32(netw, stats_at, NAN, "NaN moving mean");
	F32(netw, stats_at + 4 * 4, -0.5f, "negative moving variance");
	F32(netw, stats_at + 4 * 7, INFINITY, "infinite moving variance");
	/* batch_norm off, with statistics still there */
	U32(netw, 52 + SEG, 0, "batch_norm 0 with statistics");
	/* the one dense segment at 24: kind, slots, buckets, dimension,
	 * combiner */
	U32(netw, 24, 0, "segment kind 0");
	U32(netw, 24, 4, "segment kind 4");
	U32(netw, 24, EST_INPUT_INDICATOR, "indicator segment of no bucket");
	U32(netw, 28, 2, "segment of fewer slots than inputs");
	U32(netw, 28, 0, "segment of no slot");
	U32(netw, 32, 1, "dense segment with buckets");
	U32(netw, 36, 1, "dense segment with a dimension");
	U32(netw, 40, EST_COMBINER_SUM, "dense segment with a combiner");

	U32(optm, OPT_KIND, 0, "optimizer kind 0");
	U32(optm, OPT_KIND, 7, "optimizer kind 7");
	U32(optm, OPT_N_SLOTS, 1, "adam with 1 slot");
	F64(optm, OPT_LR, NAN, "NaN learning rate");
	F64(optm, OPT_LR, -0.1, "negative learning rate");
	F64(optm, OPT_BETA1, 1.0, "beta1 1");
	F64(optm, OPT_BETA2, -0.5, "beta2 negative");
	F64(optm, OPT_EPSILON, INFINITY, "infinite epsilon");
	F64(optm, OPT_EPSILON, 0.0, "zero epsilon");
	F64(optm, OPT_INIT_ACC, -1.0, "negative initial accumulator");
	F64(optm, OPT_MOMENTUM, 1.0, "momentum 1");
	U32(optm, OPT_NESTEROV, 2, "nesterov 2");
	F64(optm, OPT_RHO, 1.5, "rho 1.5");
	U32(optm, OPT_CENTERED, 7, "centered 7");
	F64(optm, OPT_LR_POWER, 0.5, "positive learning rate power");
	F64(optm, OPT_L1, -1.0, "negative l1");
	F64(optm, OPT_L2, NAN, "NaN l2");
	F64(optm, OPT_SHRINKAGE, -1.0, "negative shrinkage");
	F64(optm, OPT_BETA, -INFINITY, "negative beta");
	ALTER(optm, OPT_ITERATIONS, 8,
		  PutLE64(optm->payload + OPT_ITERATIONS, UINT64_C(1) << 63),
		  "negative iterations");
	F32(optm, OPT_SLOTS, NAN, "NaN first moment");
	F32(optm, OPT_SLOTS + 4 * n_optm, -1.0f, "negative second moment");

	U32(optl, OPT_KIND, 9, "linear optimizer kind 9");
	U32(optl, OPT_N_SLOTS, 3, "ftrl with 3 slots");
	F32(optl, OPT_SLOTS, -0.5f, "negative ftrl accumulator");
	F32(optl, OPT_SLOTS + 4 * n_optl, NAN, "NaN ftrl linear slot");
	F64(optl, OPT_L1, INFINITY, "infinite ftrl l1");
	/* the linear optimizer may be of any kind; a plain sgd needs no slot */
	ALTER_TO(optl, 0, 8,
			 (PutLE32(optl->payload, EST_OPT_SGD),
			  PutLE32(optl->payload + 4, 0)), EST_ECORRUPT,
			 "sgd with the bytes of two slots");

	U32(fcol, FC_FITTED, 0, "transform not fitted");
	U32(fcol, FC_LEGACY, 2, "legacy 2");
	U32(fcol, FC_KIND, 0, "column kind 0");
	U32(fcol, FC_KIND, 7, "column kind 7");
	U32(fcol, FC_KIND, EST_FC_HASH, "numeric fields in a hash column");
	U32(fcol, FC_KIND, EST_FC_VOCABULARY, "numeric fields in a vocabulary");
	ALTER(fcol, FC_NAME + 4, 1, fcol->payload[FC_NAME + 4] = 0,
		  "zero byte in the name");
	ALTER(fcol, FC_KEY + 4, 1, fcol->payload[FC_KEY + 4] = 0,
		  "zero byte in the key");
	U32(fcol, FC_NORMALIZER, 0, "normalizer 0");
	U32(fcol, FC_NORMALIZER, 4, "normalizer 4");
	U32(fcol, FC_NULL_POLICY, 0, "NULL policy 0");
	F64(fcol, FC_DEFAULT, NAN, "NaN default value");
	F64(fcol, FC_DEFAULT, INFINITY, "infinite default value");
	U32(fcol, FC_MULTI, 1, "multi-valued numeric column");
	U32(fcol, FC_MAX_VALUES, 3, "numeric column with max values");
	U32(fcol, FC_N_BOUNDARIES, 1, "numeric column with boundaries");
	U32(fcol, FC_LEARNED, 1, "numeric column learned");
	U32(fcol, FC_NUM_OOV, 1, "numeric column with OOV buckets");
	U32(fcol, FC_MAX_SIZE, 1, "numeric column with max_size");
	U32(fcol, FC_HASH_ABOVE, 1, "numeric column with hash_above");
	U32(fcol, FC_VOCAB_SIZE, 1, "numeric column with a vocabulary");
	U32(fcol, FC_NUM_BUCKETS, 5, "numeric column with buckets");
	U32(fcol, FC_DEFAULT_ID, 1, "numeric column with a default id");
	U32(fcol, FC_REPR, EST_INPUT_INDICATOR, "numeric indicator");
	U32(fcol, FC_REPR, 0, "representation 0");
	U32(fcol, FC_DIMENSION, 2, "numeric column with a dimension");
	U32(fcol, FC_COMBINER, 1, "numeric column with a combiner");
	U32(fcol, FC_OFFSET, 1, "offset 1");
	U32(fcol, FC_SLOTS, 2, "slots not the shape");
	U32(fcol, FC_BUCKETS, 1, "numeric column with 1 bucket");
	ALTER(fcol, FC_NULL_COUNT, 8,
		  PutLE64(fcol->payload + FC_NULL_COUNT, UINT64_C(1) << 63),
		  "negative NULL count");
	ALTER(fcol, FC_VALUE_COUNT, 8,
		  PutLE64(fcol->payload + FC_VALUE_COUNT, UINT64_C(1) << 63),
		  "negative value count");
	F64(fcol, FC_MEAN, NAN, "NaN mean");
	F64(fcol, FC_STDDEV + 8, -1.0, "negative standard deviation");
	F64(fcol, FC_MIN + 16, 1e300, "min above max");
	F64(fcol, FC_MAX, INFINITY, "infinite max");
	F64(fcol, FC_SHIFT, NAN, "NaN shift");
	F64(fcol, FC_SCALE + 8, 0.0, "zero scale");
	F64(fcol, FC_SCALE + 16, -1.0, "negative scale");
	F64(fcol, FC_SCALE, -INFINITY, "infinite scale");
	/* a legacy flag on one z-scored numeric column is fine */
	ALTER_TO(fcol, FC_LEGACY, 4, PutLE32(fcol->payload + FC_LEGACY, 1),
			 EST_OK, "legacy flag");

	ALTER(step, 0, 8, PutLE64(step->payload, UINT64_C(1) << 63),
		  "negative global step");
	ALTER(step, 8, 32, memset(step->payload + 8, 0, 32), "zero rng state");
	ALTER(step, 72, 8, PutLE64(step->payload + 72, 151),
		  "epoch position past its rows");
	ALTER(step, 40, 32, memset(step->payload + 40, 0, 32),
		  "zero epoch rng state in an epoch");
	/* a finished epoch and no epoch at all are fine */
	ALTER_TO(step, 72, 8, PutLE64(step->payload + 72, 150), EST_OK,
			 "epoch position at its rows");
	ALTER_TO(step, 40, 48,
			 (memset(step->payload + 40, 0, 48)), EST_OK,
			 "no epoch");
	ALTER_TO(optm, OPT_LR, 8, PutF64At(optm->payload + OPT_LR, 0.0), EST_OK,
			 "learning rate 0");
#undef F32
#undef F64
#undef U32
#undef ALTER
#undef ALTER_TO

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

	MakePlain(&c, EST_OPT_SGD);
	buf = Encode(&c, &len);
	PutLE32(buf + 8, 7);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_EVERSION);
	CHECKF(strcmp(err, "checkpoint format version 7 is newer than the supported version 2") == 0,
		   "message: %s", err);
	PutLE32(buf + 8, 3);
	CHECK(Decode(buf, len, NULL, err) == EST_EVERSION);
	/* a newer format may change everything after the version */
	CHECK(Decode(buf, 12, NULL, err) == EST_EVERSION);
	PutLE32(buf + 8, 0);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_ECORRUPT);
	/* version 2 bytes do not make a version 1 checkpoint */
	PutLE32(buf + 8, 1);
	Recrc(buf, len);
	CHECK(Decode(buf, len, NULL, err) == EST_ECORRUPT);
	PutLE32(buf + 8, 2);
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
 * ReplaceNetwork swaps the NETW payload of p for a hand-made one of
 * n_inputs inputs and n_layers layers of the given sizes, without index
 * lists or batch_norm, claiming n_params parameters, followed by extra
 * zero bytes (n_stats 0 then weights).
 */
static void
ReplaceNetwork(Parsed *p, uint32_t n_layers, const uint32_t *sizes,
			   int n_sizes, uint64_t n_params, size_t extra)
{
	Section    *s = FindSection(p, "NETW");
	size_t		len = 20 + SEG + 4 * (size_t) n_sizes + 4 + 4 + 4 + 24 + 8 +
		extra;
	uint8_t    *q;
	int			i;

	free(s->payload);
	s->payload = calloc(1, len);
	q = s->payload;
	PutLE32(q, n_sizes > 0 ? sizes[0] : 1);
	PutLE32(q + 4, n_layers);
	PutLE32(q + 8, EST_ACT_RELU);
	PutLE32(q + 12, EST_HEAD_SOFTMAX);
	PutLE32(q + 16, EST_REDUCE_SUM);
	PutLE32(q + 20, 1);			/* one dense segment of every input */
	PutLE32(q + 24, EST_INPUT_DENSE);
	PutLE32(q + 28, n_sizes > 0 ? sizes[0] : 1);
	q += 20 + SEG;
	for (i = 0; i < n_sizes; i++)
		PutLE32(q + 4 * i, sizes[i]);
	q += 4 * n_sizes;
	q += 4 + 4 + 4;				/* no indexes, no batch_norm */
	PutF64At(q, 0.99);
	PutF64At(q + 8, 0.001);
	q += 24;
	PutLE64(q, n_params);
	s->len = len;
	s->cap = len;
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

	MakePlain(&c, EST_OPT_SGD);
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
	ReplaceNetwork(&p, 33, sizes, 34, 3 * 2 + 2 + 32 * 6,
				   4 * (3 * 2 + 2 + 32 * 6) + 8);
	bad = AssembleAll(&p, &bad_len);
	/* ...and fail only because the optimizer no longer matches */
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECKF(strstr(err, "optimizer") != NULL, "message: %s", err);
	free(bad);

	/* index lists beyond EST_MAX_UNITS, or past the end: no allocation */
	{
		Section    *s;

		sizes[0] = 3;
		sizes[1] = 4;
		sizes[2] = 2;
		ReplaceNetwork(&p, 2, sizes, 3, 3 * 4 + 4 + 4 * 2 + 2,
					   4 * (3 * 4 + 4 + 4 * 2 + 2) + 8);
		bad = AssembleAll(&p, &bad_len);
		/* the shape of the original: valid, with zero weights */
		CHECKF(Decode(bad, bad_len, NULL, err) == EST_OK, "%s", err);
		free(bad);
		s = FindSection(&p, "NETW");
		PutLE32(s->payload + 32 + SEG, EST_MAX_UNITS + 1);
		bad = AssembleAll(&p, &bad_len);
		allocs = unit_total_allocs;
		CHECK(Decode(bad, bad_len, NULL, err) == EST_ELIMIT);
		CHECK(unit_total_allocs == allocs);
		free(bad);
		PutLE32(s->payload + 32 + SEG, 0);
		PutLE32(s->payload + 36 + SEG, EST_MAX_UNITS);
		bad = AssembleAll(&p, &bad_len);
		allocs = unit_total_allocs;
		CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
		CHECK(unit_total_allocs == allocs);
		free(bad);
	}

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
	const Section *order[6];
	Section		unknown;
	Section		empty;
	Section    *optl;

	MakeFull(&c, EST_OPT_ADAGRAD, EST_OPT_FTRL);
	buf = Encode(&c, &len);
	Parse(buf, len, &p);
	CHECK(p.n == 5 && memcmp(p.sec[2].tag, "OPTL", 4) == 0);
	optl = &p.sec[2];

	/* any order is accepted */
	order[0] = &p.sec[4];
	order[1] = &p.sec[2];
	order[2] = &p.sec[3];
	order[3] = &p.sec[0];
	order[4] = &p.sec[1];
	bad = Assemble(order, 5, 5, &bad_len);
	CHECKF(Decode(bad, bad_len, &d, err) == EST_OK, "%s", err);
	if (d.net.params != NULL)
	{
		CHECK(CheckpointsEqual(&c, &d));
		EstCheckpointFree(&d);
	}
	free(bad);

	/* a missing section, OPTL included when there is a linear part */
	bad = Assemble(order + 1, 4, 4, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECK(strstr(err, "missing") != NULL);
	free(bad);
	order[1] = &p.sec[4];
	bad = Assemble(order + 1, 4, 4, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECKF(strstr(err, "OPTL") != NULL && strstr(err, "missing") != NULL,
		   "message: %s", err);
	free(bad);
	order[1] = optl;

	/* a repeated section */
	order[5] = &p.sec[0];
	bad = Assemble(order, 6, 6, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	CHECK(strstr(err, "more than once") != NULL);
	free(bad);
	order[5] = optl;
	bad = Assemble(order, 6, 6, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* an unknown tag, even with an empty payload */
	memcpy(unknown.tag, "XTRA", 4);
	unknown.payload = NULL;
	unknown.len = 0;
	unknown.declared = 0;
	order[5] = &unknown;
	bad = Assemble(order, 6, 6, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* lowercase tag */
	memcpy(unknown.tag, "netw", 4);
	order[3] = &unknown;
	bad = Assemble(order, 5, 5, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);

	/* an empty section of a known kind */
	memcpy(empty.tag, "NETW", 4);
	empty.payload = NULL;
	empty.len = 0;
	empty.declared = 0;
	order[3] = &empty;
	bad = Assemble(order, 5, 5, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);
	order[3] = &p.sec[0];
	memcpy(empty.tag, "OPTL", 4);
	order[1] = &empty;
	bad = Assemble(order, 5, 5, &bad_len);
	CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
	free(bad);
	order[1] = optl;

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

	/* an OPTL section on a network without a linear part */
	MakePlain(&c, EST_OPT_SGD);
	buf = Encode(&c, &len);
	Parse(buf, len, &p);
	CHECK(p.n == 4);
	{
		Section		extra;

		memcpy(extra.tag, "OPTL", 4);
		extra.payload = p.sec[1].payload;
		extra.len = p.sec[1].len;
		extra.declared = p.sec[1].len;
		order[0] = &p.sec[0];
		order[1] = &p.sec[1];
		order[2] = &extra;
		order[3] = &p.sec[2];
		order[4] = &p.sec[3];
		bad = Assemble(order, 5, 5, &bad_len);
		CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
		CHECKF(strstr(err, "no linear part") != NULL, "message: %s", err);
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

	MakeFull(&c, EST_OPT_ADAM, EST_OPT_FTRL);
	live = unit_live_allocs;

#define REJECT(stmt, undo) \
	do { \
		stmt; \
		CHECKF(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL, \
			   "%s", #stmt); \
		CHECK(buf == NULL && len == 0); \
		undo; \
	} while (0)

	saved = c.net.params[3];
	REJECT(c.net.params[3] = NAN, c.net.params[3] = saved);
	REJECT(c.opt.n--, c.opt.n++);
	REJECT(c.opt_linear.n++, c.opt_linear.n--);
	REJECT(c.opt_linear.n_slots = 1, c.opt_linear.n_slots = 2);
	REJECT(c.opt_linear.learning_rate = -1, c.opt_linear.learning_rate = 0.125);
	REJECT(c.opt.n_slots = 1, c.opt.n_slots = 2);
	REJECT(c.opt.beta1 = 1.0, c.opt.beta1 = 0.9);
	{
		EstFeatureColumn *col = &c.transform.columns[0];
		double		d;

		REJECT(c.transform.n_inputs = 2, c.transform.n_inputs = 3);
		REJECT(c.transform.fitted = 0, c.transform.fitted = 1);
		d = col->scale[1];
		REJECT(col->scale[1] = 0.0, col->scale[1] = d);
		d = col->mean[2];
		REJECT(col->mean[2] = NAN, col->mean[2] = d);
		d = col->stddev[0];
		REJECT(col->stddev[0] = -1.0, col->stddev[0] = d);
		REJECT(col->offset = 1, col->offset = 0);
		REJECT(col->normalizer = (EstNormalizer) 0,
			   col->normalizer = EST_NORM_ZSCORE);
		REJECT(col->null_count = -1, col->null_count = 0);
		REJECT(col->n_keys = 0, col->n_keys = 1);
		REJECT(col->kind = EST_FC_HASH, col->kind = EST_FC_NUMERIC);
	}
	REJECT(memset(&c.rng, 0, sizeof(c.rng)), EstRngSeed(&c.rng, 1));
	REJECT(c.epoch.position = 151, c.epoch.position = 70);
	REJECT(memset(&c.epoch.rng, 0, sizeof(c.epoch.rng)),
		   EstRngSeed(&c.epoch.rng, 1));
	REJECT(c.net.bn_momentum = 1.0, c.net.bn_momentum = 0.99);
	REJECT(c.net.bn_epsilon = 0.0, c.net.bn_epsilon = 0.001);
	REJECT(c.net.dropout = 1.0, c.net.dropout = 0.25);
	REJECT(c.net.batch_norm = 2, c.net.batch_norm = 1);
	REJECT(c.net.stats[c.net.sizes[1]] = -1.0f,
		   c.net.stats[c.net.sizes[1]] = 1.0f);
	REJECT(c.net.dnn_inputs[1] = 3, c.net.dnn_inputs[1] = 0);
	REJECT(c.net.linear_inputs[0] = -1, c.net.linear_inputs[0] = 1);
	REJECT(c.net.linear_offset--, c.net.linear_offset++);
	REJECT(c.net.reduction = (EstReduction) 0,
		   c.net.reduction = EST_REDUCE_SUM_OVER_BATCH_SIZE);
	REJECT(c.net.head = EST_HEAD_SIGMOID, c.net.head = EST_HEAD_SOFTMAX);
	REJECT(c.opt_linear.slot[0][0] = -1.0f, c.opt_linear.slot[0][0] = 0.1f);
	REJECT(c.global_step = -1, c.global_step = 5);
#undef REJECT

	CHECK(unit_live_allocs == live);
	CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_OK);
	EstFree(buf);
	EstCheckpointFree(&c);
}

/* ----------------------------------------------------------------
 * Feature columns and version 1
 * ----------------------------------------------------------------
 */

/* A growing buffer for checkpoints written by hand. */
typedef struct Bytes
{
	uint8_t		data[1024];
	size_t		len;
} Bytes;

static void
B32(Bytes *b, uint32_t v)
{
	PutLE32(b->data + b->len, v);
	b->len += 4;
}

static void
B64(Bytes *b, uint64_t v)
{
	PutLE64(b->data + b->len, v);
	b->len += 8;
}

static void
BF32(Bytes *b, float f)
{
	PutF32At(b->data + b->len, f);
	b->len += 4;
}

static void
BF64(Bytes *b, double d)
{
	PutF64At(b->data + b->len, d);
	b->len += 8;
}

static void
BTag(Bytes *b, const char *tag, uint64_t payload_len)
{
	memcpy(b->data + b->len, tag, 4);
	b->len += 4;
	B64(b, payload_len);
}

/*
 * SegmentsSupported says whether EstNetworkInit honours input segments
 * (network.c of the input segments' branch); tests of categorical columns
 * in checkpoints need it and are skipped without.
 */
static int
SegmentsSupported(void)
{
	EstInputSegment seg = {EST_INPUT_INDICATOR, 1, 3, 0, 0};
	EstNetworkSpec spec;
	EstNetwork	net;
	char		err[EST_ERRMSG_LEN];
	int			ok;

	UnitSpec(&spec, 1, NULL, 0, 2, EST_ACT_RELU, EST_HEAD_SOFTMAX);
	spec.n_segments = 1;
	spec.segments = &seg;
	memset(&net, 0, sizeof(net));
	ok = EstNetworkInit(&net, &spec, NULL, err) == EST_OK &&
		net.n_segments == 1 && net.input_width == 3 && net.sizes[0] == 3;
	EstNetworkFree(&net);
	return ok;
}

/*
 * WriteVersion1 writes by hand, in the layout of estimator 0.1.0, a
 * checkpoint of a linear softmax model of 2 inputs and 2 outputs with an
 * sgd optimizer, a FEAT section (shift 1.5 and -2, scale 2 and 0.5), a
 * global step 7 and no epoch.  extra_fcol adds an FCOL section, which
 * version 1 does not have.
 */
static void
WriteVersion1(Bytes *b, int extra_fcol)
{
	static const float w[6] = {0.5f, -1.0f, 0.25f, 2.0f, 0.125f, -0.0f};
	EstOptimizer opt;
	int			i;

	EstOptimizerDefaults(&opt, EST_OPT_SGD);
	b->len = 0;
	memcpy(b->data, "ESTCKPT", 8);
	b->len = 8;
	B32(b, 1);
	B64(b, 0);					/* total, below */
	B32(b, extra_fcol ? 5 : 4);

	BTag(b, "NETW", 20 + 8 + 4 + 4 + 4 + 24 + 8 + 24 + 8);
	B32(b, 2);					/* n_inputs */
	B32(b, 1);					/* n_layers */
	B32(b, EST_ACT_RELU);
	B32(b, EST_HEAD_SOFTMAX);
	B32(b, EST_REDUCE_SUM_OVER_BATCH_SIZE);
	B32(b, 2);					/* sizes */
	B32(b, 2);
	B32(b, 0);					/* no DNN subset */
	B32(b, 0);					/* no linear part */
	B32(b, 0);					/* batch_norm */
	BF64(b, 0.99);
	BF64(b, 0.001);
	BF64(b, 0.0);
	B64(b, 6);
	for (i = 0; i < 6; i++)
		BF32(b, w[i]);
	B64(b, 0);					/* n_stats */

	BTag(b, "OPTM", 128);
	B32(b, EST_OPT_SGD);
	B32(b, 0);
	BF64(b, opt.learning_rate);
	BF64(b, opt.beta1);
	BF64(b, opt.beta2);
	BF64(b, opt.epsilon);
	BF64(b, opt.initial_accumulator);
	BF64(b, opt.momentum);
	B32(b, 0);
	BF64(b, opt.rho);
	B32(b, 0);
	BF64(b, opt.lr_power);
	BF64(b, opt.l1);
	BF64(b, opt.l2);
	BF64(b, opt.l2_shrinkage);
	BF64(b, opt.beta);
	B64(b, 5);					/* iterations */
	B64(b, 6);					/* n */

	BTag(b, "FEAT", 4 + 32);
	B32(b, 2);
	BF64(b, 1.5);
	BF64(b, -2.0);
	BF64(b, 2.0);
	BF64(b, 0.5);

	if (extra_fcol)
	{
		BTag(b, "FCOL", 4);
		B32(b, 2);
	}

	BTag(b, "STEP", 88);
	B64(b, 7);
	for (i = 0; i < 4; i++)
		B64(b, UINT64_C(0x0123456789ABCDEF) + (uint64_t) i);
	for (i = 0; i < 6; i++)
		B64(b, 0);				/* no epoch */
	PutLE64(b->data + 12, b->len + 4);
	PutLE32(b->data + b->len, EstCrc32c(0, b->data, b->len));
	b->len += 4;
}

/*
 * A checkpoint of estimator 0.1.0 (format 1) decodes: its FEAT section
 * becomes a legacy transform that normalises as the feature state did,
 * and it encodes again as format 2, which decodes to the same.
 */
void
TestCheckpointVersion1(void)
{
	Bytes		b;
	EstCheckpoint c;
	EstCheckpoint d;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	uint8_t    *v2;
	uint8_t    *again;
	size_t		v2_len;
	size_t		again_len;
	float		x[2] = {3.5f, -1.0f};

	WriteVersion1(&b, 0);
	CHECKF(Decode(b.data, b.len, &c, err) == EST_OK, "%s", err);
	if (c.net.params == NULL)
		return;
	CHECK(c.net.n_inputs == 2 && c.net.n_params == 6);
	CHECK(c.net.params[3] == 2.0f && c.opt.iterations == 5);
	CHECK(c.global_step == 7 && c.epoch.n_rows == 0);
	CHECK(c.transform.legacy && c.transform.fitted);
	CHECK(c.transform.n_columns == 1 && c.transform.n_inputs == 2);
	col = &c.transform.columns[0];
	CHECK(col->kind == EST_FC_NUMERIC && col->shape == 2 &&
		  col->normalizer == EST_NORM_ZSCORE);
	CHECK(strcmp(col->name, "") == 0 && col->n_keys == 1 &&
		  strcmp(col->keys[0], "") == 0);
	CHECK(col->shift[0] == 1.5 && col->shift[1] == -2.0);
	CHECK(col->scale[0] == 2.0 && col->scale[1] == 0.5);
	CHECK(col->mean[1] == -2.0 && col->stddev[1] == 0.5);
	CHECK(col->min[0] == 0.0 && col->max[0] == 0.0);
	EstTransformApply(&c.transform, x, 1);
	CHECK(x[0] == 1.0f && x[1] == 2.0f);

	/* written again, as format 2 */
	v2 = Encode(&c, &v2_len);
	CHECK(v2 != NULL && GetLE64(v2 + 12) == v2_len && v2[8] == 2);
	CHECKF(Decode(v2, v2_len, &d, err) == EST_OK, "%s", err);
	if (d.net.params != NULL)
	{
		CHECK(CheckpointsEqual(&c, &d));
		again = Encode(&d, &again_len);
		CHECK(again_len == v2_len && memcmp(again, v2, v2_len) == 0);
		EstFree(again);
		EstCheckpointFree(&d);
	}
	EstFree(v2);
	EstCheckpointFree(&c);

	/* FCOL in version 1, FEAT in version 2 */
	WriteVersion1(&b, 1);
	CHECK(Decode(b.data, b.len, NULL, err) == EST_ECORRUPT);
	CHECKF(strstr(err, "\"FCOL\" is not part of format version 1") != NULL,
		   "message: %s", err);
	{
		Parsed		p;
		const Section *order[6];
		Section		feat;
		uint8_t    *bad;
		size_t		bad_len;
		int			i;

		MakePlain(&c, EST_OPT_SGD);
		v2 = Encode(&c, &v2_len);
		Parse(v2, v2_len, &p);
		memcpy(feat.tag, "FEAT", 4);
		feat.payload = b.data;	/* any bytes: refused before reading */
		feat.len = 36;
		feat.declared = 36;
		for (i = 0; i < p.n; i++)
			order[i] = &p.sec[i];
		order[p.n] = &feat;
		bad = Assemble(order, p.n + 1, (uint32_t) p.n + 1, &bad_len);
		CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
		CHECKF(strstr(err, "\"FEAT\" is not part of format version 2") != NULL,
			   "message: %s", err);
		free(bad);
		/* and no FCOL at all */
		for (i = 0; i < p.n; i++)
			if (memcmp(p.sec[i].tag, "FCOL", 4) == 0)
				order[i] = &feat;
		bad = Assemble(order, p.n, (uint32_t) p.n, &bad_len);
		CHECK(Decode(bad, bad_len, NULL, err) == EST_ECORRUPT);
		free(bad);
		FreeParsed(&p);
		EstFree(v2);
		EstCheckpointFree(&c);
	}

	/* a version 1 scale that is not positive */
	WriteVersion1(&b, 0);
	CHECK(memcmp(b.data + 24 + 12 + 104 + 12 + 128, "FEAT", 4) == 0);
	PutF64At(b.data + 24 + 12 + 104 + 12 + 128 + 12 + 4 + 16, -2.0);
	Recrc(b.data, b.len);
	CHECK(Decode(b.data, b.len, NULL, err) == EST_ECORRUPT);
	CHECKF(strstr(err, "feature state of value 0") != NULL, "message: %s",
		   err);
}

/*
 * ReplaceTransform gives c the transform tf (of as many inputs).
 */
static void
ReplaceTransform(EstCheckpoint *c, EstTransform *tf)
{
	EstTransformFree(&c->transform);
	c->transform = *tf;
	memset(tf, 0, sizeof(*tf));
}

/*
 * Transforms in checkpoints: several numeric columns of every normalizer
 * and NULL policy (one dense input vector, which every network supports),
 * and, where EstNetworkInit honours input segments, a transform of every
 * kind with its network, and damage to its FCOL section.
 */
void
TestCheckpointTransforms(void)
{
	EstCheckpoint c;
	EstTransform tf;
	EstFeatureColumn *col;
	char		err[EST_ERRMSG_LEN];
	float		X[4 * 3] = {1, 2, 3, NAN, 5, 6, 7, NAN, 9, 10, 11, NAN};

	/* numeric columns: zscore, minmax with default, none */
	MakePlain(&c, EST_OPT_ADAM);
	UnitColumns(&tf, 3);
	UnitColumn(&tf, 0, EST_FC_NUMERIC, "a");
	col = UnitColumn(&tf, 1, EST_FC_NUMERIC, "b");
	col->normalizer = EST_NORM_MINMAX;
	col->null_policy = EST_NULL_DEFAULT;
	col->default_value = -0.5;
	col = UnitColumn(&tf, 2, EST_FC_NUMERIC, "c");
	col->normalizer = EST_NORM_NONE;
	col->null_policy = EST_NULL_ERROR;
	CHECK(EstTransformInit(&tf, err) == EST_OK);
	CHECK(EstTransformFit(&tf, X, 3, 4, err) == EST_OK);
	ReplaceTransform(&c, &tf);
	RoundTrip(&c, "three numeric columns");
	/* a transform that is not the network's */
	c.transform.columns[2].shape = 2;
	c.transform.n_inputs = 4;
	{
		uint8_t    *buf = NULL;
		size_t		len = 0;

		CHECK(EstCheckpointEncode(&c, &buf, &len, err) == EST_EINVAL);
		CHECK(buf == NULL);
	}
	c.transform.columns[2].shape = 1;
	c.transform.n_inputs = 3;
	EstCheckpointFree(&c);

	if (!SegmentsSupported())
	{
		printf("    skipped: categorical columns in checkpoints need network.c with input segments\n");
		return;
	}

	/* every kind, with a network of its segments */
	{
		static const int hidden[1] = {4};
		static const int lin[2] = {0, 6};
		EstInputSegment segs[9];
		EstNetworkSpec spec;
		EstCheckpoint d;
		uint8_t    *buf;
		size_t		len;
		Parsed		p;
		Section    *fcol;
		Section    *netw;
		uint8_t    *fcol_orig;
		uint8_t    *netw_orig;

		memset(&c, 0, sizeof(c));
		EstRngSeed(&c.rng, 3);
		UnitTransformEveryKind(&c.transform, NULL);
		EstTransformSegments(&c.transform, segs);
		UnitSpec(&spec, c.transform.n_inputs, hidden, 1, 2, EST_ACT_RELU,
				 EST_HEAD_SOFTMAX);
		spec.n_segments = c.transform.n_columns;
		spec.segments = segs;
		spec.n_linear_inputs = 2;
		spec.linear_inputs = lin;
		CHECKF(EstNetworkInit(&c.net, &spec, &c.rng, err) == EST_OK, "%s",
			   err);
		EstOptimizerDefaults(&c.opt, EST_OPT_ADAGRAD);
		CHECK(EstOptimizerInit(&c.opt, c.net.linear_offset, err) == EST_OK);
		EstOptimizerDefaults(&c.opt_linear, EST_OPT_FTRL);
		CHECK(EstOptimizerInit(&c.opt_linear,
							   c.net.n_params - c.net.linear_offset,
							   err) == EST_OK);
		c.global_step = 9;
		RoundTrip(&c, "every kind");

		buf = Encode(&c, &len);
		Parse(buf, len, &p);
		fcol = FindSection(&p, "FCOL");
		netw = FindSection(&p, "NETW");
		ExpectAssembled(&p, EST_OK, "every kind, reassembled");
		/* each damage below puts the original bytes back */
		fcol_orig = malloc(fcol->len);
		memcpy(fcol_orig, fcol->payload, fcol->len);
		netw_orig = malloc(netw->len);
		memcpy(netw_orig, netw->payload, netw->len);
		/*
		 * The kind of "color" (column 3): the u32 before its name.  The
		 * name comes first; its source column, also "color", follows
		 * after n_keys, so the first match is the name's.
		 */
		{
			uint8_t    *at = NULL;
			uint8_t		saved[8];
			size_t		i;

			for (i = 4; i + 9 <= fcol->len && at == NULL; i++)
				if (memcmp(fcol->payload + i, "\005\0\0\0color", 9) == 0)
					at = fcol->payload + i - 4;
			CHECK(at != NULL);
			if (at != NULL)
			{
				CHECKF(GetLE32(at) == EST_FC_VOCABULARY,
					   "kind of \"color\": %lu",
					   (unsigned long) GetLE32(at));
				memcpy(saved, at, 4);
				PutLE32(at, EST_FC_HASH);
				ExpectAssembled(&p, EST_ECORRUPT, "vocabulary as hash");
				memcpy(at, saved, 4);
			}
			/* the learned counts of "city": 3, 3, made 3, 4 */
			at = NULL;
			for (i = 0; i + 16 <= fcol->len; i++)
				if (GetLE64(fcol->payload + i) == 3 &&
					GetLE64(fcol->payload + i + 8) == 3)
					at = fcol->payload + i + 8;
			CHECK(at != NULL);
			if (at != NULL)
			{
				memcpy(saved, at, 8);
				PutLE64(at, 4);
				ExpectAssembled(&p, EST_ECORRUPT, "counts not in order");
				memcpy(at, saved, 8);
			}
			/* the second boundary of "price", made the first */
			at = NULL;
			for (i = 0; i + 16 <= fcol->len; i++)
			{
				double		b0;
				double		b1;
				uint64_t	u0 = GetLE64(fcol->payload + i);
				uint64_t	u1 = GetLE64(fcol->payload + i + 8);

				memcpy(&b0, &u0, 8);
				memcpy(&b1, &u1, 8);
				if (b0 == 10.0 && b1 == 20.0)
					at = fcol->payload + i + 8;
			}
			CHECK(at != NULL);
			if (at != NULL)
			{
				memcpy(saved, at, 8);
				PutF64At(at, 10.0);
				ExpectAssembled(&p, EST_ECORRUPT, "boundaries not increasing");
				memcpy(at, saved, 8);
			}
		}
		/* the network's segments against the columns': the combiner of
		 * segment 2 (price), then the bytes as they were */
		{
			uint8_t    *at = netw->payload + 24 + 2 * 20 + 16;
			uint32_t	saved = GetLE32(at);

			CHECKF(saved == (uint32_t) c.transform.columns[2].combiner,
				   "combiner of segment 2: %lu", (unsigned long) saved);
			PutLE32(at, saved == EST_COMBINER_MEAN ? EST_COMBINER_SQRTN :
					EST_COMBINER_MEAN);
			ExpectAssembled(&p, EST_ECORRUPT, "segment not the column's");
			PutLE32(at, saved);
		}
		CHECK(memcmp(fcol->payload, fcol_orig, fcol->len) == 0);
		CHECK(memcmp(netw->payload, netw_orig, netw->len) == 0);
		free(fcol_orig);
		free(netw_orig);
		ExpectAssembled(&p, EST_OK, "every kind, restored");

		/* the decoded transform encodes new rows as the original */
		CHECK(Decode(buf, len, &d, err) == EST_OK);
		if (d.net.params != NULL)
		{
			float		v1;
			float		v2;

			CHECK(EstTransformString(&c.transform, 4, "rome", 4, &v1, err) ==
				  EST_OK);
			CHECK(EstTransformString(&d.transform, 4, "rome", 4, &v2, err) ==
				  EST_OK);
			CHECK(v1 == 1.0f && v2 == 1.0f);
			CHECK(EstTransformString(&d.transform, 3, "teal", 4, &v2, err) ==
				  EST_OK);
			CHECK(v2 == (float) (3 + EstHashString("teal", 4) % 2));
			EstCheckpointFree(&d);
		}
		FreeParsed(&p);
		EstFree(buf);
		EstCheckpointFree(&c);
	}
}
