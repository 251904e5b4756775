/*-------------------------------------------------------------------------
 *
 * checkpoint.c
 *	  Serialize trained networks to bytes and check them on load.
 *
 * Format (little-endian on every machine, see estcore.h): magic, format
 * version, total length and section count, then the sections NETW
 * (specification with its input segments, float32 weights in row-major
 * order and batch normalisation statistics), OPTM (the optimizer of the
 * DNN part: every hyperparameter and the slots), OPTL (the same for the
 * linear part, present exactly when the network has one), FCOL (the
 * feature columns), LABL (the standardisation of a regressor's targets)
 * and STEP (global step, random state and epoch position), each as tag,
 * payload length and payload, then a CRC-32C of all preceding bytes.
 * Every value is written and read byte by byte, so neither alignment nor
 * host byte order matters.  The encoder writes version 2 only.
 *
 * FCOL (version 2).  A string is its length (u32, at most
 * EST_MAX_VOCAB_BYTES) and its bytes, without NUL and without a zero byte
 * inside.  Fields that a column's kind does not use are written as 0 and
 * must be 0, so that every transform has exactly one encoding:
 *	 n_inputs u32, fitted u32 (1), legacy u32 (0 or 1), n_columns u32
 *	 (1 .. EST_MAX_SEGMENTS), then for each column:
 *	   kind u32, name string, n_keys u32, n_keys key strings,
 *	   shape u32, normalizer u32, null_policy u32, default_value f64
 *		   (numeric),
 *	   multi u32, max_values u32 (categorical; max_values when multi),
 *	   n_boundaries u32, n_boundaries x f64 (bucketized),
 *	   learned u32, num_oov u32 (vocabulary),
 *	   max_size u32, hash_above u32, auto_buckets u32, auto_dimension u32
 *		   (learned vocabulary),
 *	   vocab_size u32, vocab_size entry strings (vocabulary),
 *	   vocab_size counts x i64 (learned vocabulary only),
 *	   num_buckets i64 (identity, hash, crossed), default_id i64 (identity),
 *	   representation u32, dimension u32, combiner u32 (embedding),
 *	   offset u32, slots u32, buckets i64,
 *	   null_count i64, value_count i64,
 *	   n_stats u32 (numeric: shape, else 0), then mean, stddev, min, max,
 *		   shift and scale, n_stats x f64 each.
 * The decoder rebuilds the transform with EstTransformInit (which checks
 * every declaration and indexes the vocabularies) and then requires the
 * stored offsets, slots, buckets and n_inputs to be the ones it computes,
 * the columns' segments to be the network's (adjacent dense segments
 * being one), every statistic to be finite (standard deviation not
 * negative, min <= max, scale positive) and the counts not negative, the
 * vocabulary counts most frequent first.  A version 1 checkpoint has no
 * segments in NETW and a FEAT section instead of FCOL (n_inputs u32,
 * shift and scale n x f64); it decodes to a legacy transform: one
 * numeric z-score column of all inputs.
 *
 * The decoder treats its input as hostile: checkpoints are bytea values
 * that a user can replace.  It checks the magic, the version, the total
 * length and the checksum first; then it walks the sections, checking
 * each length against the bytes that remain, and accepts each known tag
 * at most once.  Inside a section it reads through a cursor that never
 * passes the section's end.  Each count is compared with the EST_MAX_*
 * limits and with the bytes that remain before anything is allocated, so
 * a few bytes cannot make it allocate much; every index must name an
 * input, every enum a known value, every float be finite and within its
 * range (rates and momenta in [0, 1), epsilons positive, variances and
 * accumulators not negative).  On failure it frees what it allocated and
 * leaves the checkpoint zeroed.  The encoder applies the same checks and
 * returns EST_EINVAL rather than write bytes that the decoder would
 * reject; only the learning rate may be 0 in a checkpoint (a schedule
 * such as cosine decay with alpha 0 ends there), whereas
 * EstOptimizerCheck wants it positive.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "estcore.h"

#define HEADER_LEN			24	/* magic 8, version 4, length 8, count 4 */
#define SECTION_HEADER_LEN	12	/* tag 4, payload length 8 */
#define TRAILER_LEN			4	/* CRC-32C */

#define OPTM_FIXED_LEN		128 /* everything before the slots */
#define FEAT_FIXED_LEN		4	/* n_inputs */
#define FCOL_FIXED_LEN		16	/* n_inputs, fitted, legacy, n_columns */
#define SEGMENT_LEN			20	/* kind, slots, buckets, dimension,
								 * combiner */
/* the smallest column: one key, every count 0 */
#define FCOL_MIN_COLUMN_LEN (4 + 4 + 4 + 4 + 12 + 8 + 8 + 4 + 8 + 16 + 4 + \
							 16 + 12 + 16 + 16 + 4)
#define STEP_LEN			88	/* global_step, 2 x 4 words of rng state,
								 * epoch position and rows */

enum
{
	SEC_NETW = 0,
	SEC_OPTM,
	SEC_OPTL,
	SEC_FEAT,
	SEC_STEP,
	SEC_LABL,
	SEC_FCOL,
	N_SECTIONS
};

static const char *const section_tags[N_SECTIONS] = {
	"NETW", "OPTM", "OPTL", "FEAT", "STEP", "LABL", "FCOL"
};

/* CRC-32C table for the reflected polynomial 0x82F63B78. */
static const uint32_t crc32c_table[256] = {
	0x00000000, 0xF26B8303, 0xE13B70F7, 0x1350F3F4,
	0xC79A971F, 0x35F1141C, 0x26A1E7E8, 0xD4CA64EB,
	0x8AD958CF, 0x78B2DBCC, 0x6BE22838, 0x9989AB3B,
	0x4D43CFD0, 0xBF284CD3, 0xAC78BF27, 0x5E133C24,
	0x105EC76F, 0xE235446C, 0xF165B798, 0x030E349B,
	0xD7C45070, 0x25AFD373, 0x36FF2087, 0xC494A384,
	0x9A879FA0, 0x68EC1CA3, 0x7BBCEF57, 0x89D76C54,
	0x5D1D08BF, 0xAF768BBC, 0xBC267848, 0x4E4DFB4B,
	0x20BD8EDE, 0xD2D60DDD, 0xC186FE29, 0x33ED7D2A,
	0xE72719C1, 0x154C9AC2, 0x061C6936, 0xF477EA35,
	0xAA64D611, 0x580F5512, 0x4B5FA6E6, 0xB93425E5,
	0x6DFE410E, 0x9F95C20D, 0x8CC531F9, 0x7EAEB2FA,
	0x30E349B1, 0xC288CAB2, 0xD1D83946, 0x23B3BA45,
	0xF779DEAE, 0x05125DAD, 0x1642AE59, 0xE4292D5A,
	0xBA3A117E, 0x4851927D, 0x5B016189, 0xA96AE28A,
	0x7DA08661, 0x8FCB0562, 0x9C9BF696, 0x6EF07595,
	0x417B1DBC, 0xB3109EBF, 0xA0406D4B, 0x522BEE48,
	0x86E18AA3, 0x748A09A0, 0x67DAFA54, 0x95B17957,
	0xCBA24573, 0x39C9C670, 0x2A993584, 0xD8F2B687,
	0x0C38D26C, 0xFE53516F, 0xED03A29B, 0x1F682198,
	0x5125DAD3, 0xA34E59D0, 0xB01EAA24, 0x42752927,
	0x96BF4DCC, 0x64D4CECF, 0x77843D3B, 0x85EFBE38,
	0xDBFC821C, 0x2997011F, 0x3AC7F2EB, 0xC8AC71E8,
	0x1C661503, 0xEE0D9600, 0xFD5D65F4, 0x0F36E6F7,
	0x61C69362, 0x93AD1061, 0x80FDE395, 0x72966096,
	0xA65C047D, 0x5437877E, 0x4767748A, 0xB50CF789,
	0xEB1FCBAD, 0x197448AE, 0x0A24BB5A, 0xF84F3859,
	0x2C855CB2, 0xDEEEDFB1, 0xCDBE2C45, 0x3FD5AF46,
	0x7198540D, 0x83F3D70E, 0x90A324FA, 0x62C8A7F9,
	0xB602C312, 0x44694011, 0x5739B3E5, 0xA55230E6,
	0xFB410CC2, 0x092A8FC1, 0x1A7A7C35, 0xE811FF36,
	0x3CDB9BDD, 0xCEB018DE, 0xDDE0EB2A, 0x2F8B6829,
	0x82F63B78, 0x709DB87B, 0x63CD4B8F, 0x91A6C88C,
	0x456CAC67, 0xB7072F64, 0xA457DC90, 0x563C5F93,
	0x082F63B7, 0xFA44E0B4, 0xE9141340, 0x1B7F9043,
	0xCFB5F4A8, 0x3DDE77AB, 0x2E8E845F, 0xDCE5075C,
	0x92A8FC17, 0x60C37F14, 0x73938CE0, 0x81F80FE3,
	0x55326B08, 0xA759E80B, 0xB4091BFF, 0x466298FC,
	0x1871A4D8, 0xEA1A27DB, 0xF94AD42F, 0x0B21572C,
	0xDFEB33C7, 0x2D80B0C4, 0x3ED04330, 0xCCBBC033,
	0xA24BB5A6, 0x502036A5, 0x4370C551, 0xB11B4652,
	0x65D122B9, 0x97BAA1BA, 0x84EA524E, 0x7681D14D,
	0x2892ED69, 0xDAF96E6A, 0xC9A99D9E, 0x3BC21E9D,
	0xEF087A76, 0x1D63F975, 0x0E330A81, 0xFC588982,
	0xB21572C9, 0x407EF1CA, 0x532E023E, 0xA145813D,
	0x758FE5D6, 0x87E466D5, 0x94B49521, 0x66DF1622,
	0x38CC2A06, 0xCAA7A905, 0xD9F75AF1, 0x2B9CD9F2,
	0xFF56BD19, 0x0D3D3E1A, 0x1E6DCDEE, 0xEC064EED,
	0xC38D26C4, 0x31E6A5C7, 0x22B65633, 0xD0DDD530,
	0x0417B1DB, 0xF67C32D8, 0xE52CC12C, 0x1747422F,
	0x49547E0B, 0xBB3FFD08, 0xA86F0EFC, 0x5A048DFF,
	0x8ECEE914, 0x7CA56A17, 0x6FF599E3, 0x9D9E1AE0,
	0xD3D3E1AB, 0x21B862A8, 0x32E8915C, 0xC083125F,
	0x144976B4, 0xE622F5B7, 0xF5720643, 0x07198540,
	0x590AB964, 0xAB613A67, 0xB831C993, 0x4A5A4A90,
	0x9E902E7B, 0x6CFBAD78, 0x7FAB5E8C, 0x8DC0DD8F,
	0xE330A81A, 0x115B2B19, 0x020BD8ED, 0xF0605BEE,
	0x24AA3F05, 0xD6C1BC06, 0xC5914FF2, 0x37FACCF1,
	0x69E9F0D5, 0x9B8273D6, 0x88D28022, 0x7AB90321,
	0xAE7367CA, 0x5C18E4C9, 0x4F48173D, 0xBD23943E,
	0xF36E6F75, 0x0105EC76, 0x12551F82, 0xE03E9C81,
	0x34F4F86A, 0xC69F7B69, 0xD5CF889D, 0x27A40B9E,
	0x79B737BA, 0x8BDCB4B9, 0x988C474D, 0x6AE7C44E,
	0xBE2DA0A5, 0x4C4623A6, 0x5F16D052, 0xAD7D5351,
};

/*
 * EstCrc32c continues the CRC-32C crc over len more bytes; start with 0.
 */
uint32_t
EstCrc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t		i;

	crc = ~crc;
	for (i = 0; i < len; i++)
		crc = crc32c_table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
	return ~crc;
}


/* ----------------------------------------------------------------
 * Little-endian access, byte by byte
 * ----------------------------------------------------------------
 */
static uint32_t
GetU32(const uint8_t *p)
{
	return (uint32_t) p[0] | ((uint32_t) p[1] << 8) |
		((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

static uint64_t
GetU64(const uint8_t *p)
{
	return (uint64_t) GetU32(p) | ((uint64_t) GetU32(p + 4) << 32);
}

static float
GetF32(const uint8_t *p)
{
	uint32_t	bits = GetU32(p);
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

static double
GetF64(const uint8_t *p)
{
	uint64_t	bits = GetU64(p);
	double		d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static uint8_t *
PutU32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
	p[2] = (uint8_t) (v >> 16);
	p[3] = (uint8_t) (v >> 24);
	return p + 4;
}

static uint8_t *
PutU64(uint8_t *p, uint64_t v)
{
	p = PutU32(p, (uint32_t) v);
	return PutU32(p, (uint32_t) (v >> 32));
}

static uint8_t *
PutF32(uint8_t *p, float f)
{
	uint32_t	bits;

	memcpy(&bits, &f, sizeof(bits));
	return PutU32(p, bits);
}

static uint8_t *
PutF64(uint8_t *p, double d)
{
	uint64_t	bits;

	memcpy(&bits, &d, sizeof(bits));
	return PutU64(p, bits);
}

static uint8_t *
PutSectionHeader(uint8_t *p, int section, uint64_t payload_len)
{
	memcpy(p, section_tags[section], 4);
	return PutU64(p + 4, payload_len);
}


/* ----------------------------------------------------------------
 * Checks shared by the encoder and the decoder
 * ----------------------------------------------------------------
 */

/*
 * NetCounts holds what the shape of a network implies.
 */
typedef struct NetCounts
{
	uint64_t	n_params;
	uint64_t	linear_offset;
	uint64_t	n_stats;
} NetCounts;

/*
 * ShapeCounts computes the parameter and statistics counts of the shape
 * in 64 bits, with table_params weights of embedding tables between the
 * DNN and the linear part; the sizes must already be within the limits,
 * so nothing can overflow.
 */
static NetCounts
ShapeCounts(const int *sizes, int n_layers, int batch_norm,
			int n_linear_inputs, uint64_t table_params)
{
	NetCounts	c;
	uint64_t	hidden_units = 0;
	int			l;

	c.n_params = 0;
	for (l = 0; l < n_layers; l++)
		c.n_params += (uint64_t) sizes[l] * (uint64_t) sizes[l + 1] +
			(uint64_t) sizes[l + 1];
	for (l = 1; l < n_layers; l++)
		hidden_units += (uint64_t) sizes[l];
	c.n_stats = batch_norm ? 2 * hidden_units : 0;
	c.n_params += c.n_stats + table_params;
	c.linear_offset = c.n_params;
	if (n_linear_inputs > 0)
		c.n_params += ((uint64_t) n_linear_inputs + 1) *
			(uint64_t) sizes[n_layers];
	return c;
}

/*
 * SegmentLayout is what a network's input segments imply: the width of
 * the input vector and the weights of the embedding tables.
 */
typedef struct SegmentLayout
{
	uint64_t	input_width;
	uint64_t	table_params;
	int			has_embedding;
} SegmentLayout;

/*
 * EffectiveSegments returns the segments of net: its own, or one dense
 * segment of all inputs (in *one) for a network without segments.
 */
static const EstInputSegment *
EffectiveSegments(const EstNetwork *net, EstInputSegment *one, int *n)
{
	if (net->n_segments > 0 && net->segments != NULL)
	{
		*n = net->n_segments;
		return net->segments;
	}
	memset(one, 0, sizeof(*one));
	one->kind = EST_INPUT_DENSE;
	one->slots = net->n_inputs;
	*n = 1;
	return one;
}

/*
 * AddSegment checks segment i as a checkpoint stores it (fields that its
 * kind does not use are 0) and adds it to the layout and the slots.
 */
static EstStatus
AddSegment(const EstInputSegment *sg, int i, SegmentLayout *layout,
		   uint64_t *slots, char *errmsg)
{
	uint32_t	kind = (uint32_t) sg->kind;
	int			ids = kind != EST_INPUT_DENSE;

	if (kind < EST_INPUT_DENSE || kind > EST_INPUT_EMBEDDING)
	{
		EstSetError(errmsg, "input segment %d has an unrecognized kind: %lu",
					i, (unsigned long) kind);
		return EST_ECORRUPT;
	}
	if (sg->slots < 1 || (!ids && sg->buckets != 0) ||
		(kind != EST_INPUT_EMBEDDING &&
		 (sg->dimension != 0 || sg->combiner != 0)) ||
		(ids && sg->buckets < 1) ||
		(kind == EST_INPUT_EMBEDDING &&
		 (sg->dimension < 1 || sg->combiner < EST_COMBINER_SUM ||
		  sg->combiner > EST_COMBINER_SQRTN)))
	{
		EstSetError(errmsg, "input segment %d is inconsistent", i);
		return EST_ECORRUPT;
	}
	if (sg->slots > (ids ? EST_MAX_MULTI : EST_MAX_UNITS) ||
		sg->buckets > EST_MAX_BUCKETS ||
		sg->dimension > EST_MAX_EMBEDDING)
	{
		EstSetError(errmsg, "input segment %d has %d slots, %d buckets and %d dimensions, the limits are %d, %d and %d",
					i, sg->slots, sg->buckets, sg->dimension,
					ids ? EST_MAX_MULTI : EST_MAX_UNITS, EST_MAX_BUCKETS,
					EST_MAX_EMBEDDING);
		return EST_ELIMIT;
	}
	*slots += (uint64_t) sg->slots;
	if (kind == EST_INPUT_DENSE)
		layout->input_width += (uint64_t) sg->slots;
	else if (kind == EST_INPUT_INDICATOR)
		layout->input_width += (uint64_t) sg->buckets;
	else
	{
		layout->input_width += (uint64_t) sg->dimension;
		layout->table_params += (uint64_t) sg->buckets *
			(uint64_t) sg->dimension;
		layout->has_embedding = 1;
	}
	return EST_OK;
}

/*
 * FinishSegments checks that the segments' slots are the network's inputs
 * and that the input vector is not too wide.
 */
static EstStatus
FinishSegments(const SegmentLayout *layout, uint64_t slots,
			   uint32_t n_inputs, char *errmsg)
{
	if (slots != (uint64_t) n_inputs)
	{
		EstSetError(errmsg, "input segments have %llu slots, the network %lu inputs",
					(unsigned long long) slots, (unsigned long) n_inputs);
		return EST_ECORRUPT;
	}
	if (layout->input_width > (uint64_t) INT32_MAX)
	{
		EstSetError(errmsg, "input vector has %llu values, the limit is %ld",
					(unsigned long long) layout->input_width,
					(long) INT32_MAX);
		return EST_ELIMIT;
	}
	return EST_OK;
}

/*
 * CheckSegments checks n segments against n_inputs and computes their
 * layout.  Returns EST_ECORRUPT or EST_ELIMIT with a message.
 */
static EstStatus
CheckSegments(const EstInputSegment *segs, int n, uint32_t n_inputs,
			  SegmentLayout *layout, char *errmsg)
{
	uint64_t	slots = 0;
	EstStatus	status;
	int			i;

	memset(layout, 0, sizeof(*layout));
	for (i = 0; i < n; i++)
	{
		status = AddSegment(&segs[i], i, layout, &slots, errmsg);
		if (status != EST_OK)
			return status;
	}
	return FinishSegments(layout, slots, n_inputs, errmsg);
}
/*
 * ReadsEmbedding says whether one of the n indexes into the input vector
 * falls in an embedding segment's part of it, which only the DNN may
 * read.  The indexes are checked one segment at a time.
 */
static int
ReadsEmbedding(const EstInputSegment *segs, int n_segs, const int *idx,
			   int n)
{
	uint64_t	start = 0;
	int			s;
	int			i;

	for (s = 0; s < n_segs; s++)
	{
		uint64_t	width;

		if (segs[s].kind == EST_INPUT_DENSE)
			width = (uint64_t) segs[s].slots;
		else if (segs[s].kind == EST_INPUT_INDICATOR)
			width = (uint64_t) segs[s].buckets;
		else
		{
			width = (uint64_t) segs[s].dimension;
			for (i = 0; i < n; i++)
				if ((uint64_t) idx[i] >= start &&
					(uint64_t) idx[i] < start + width)
					return 1;
		}
		start += width;
	}
	return 0;
}

/*
 * NextMerged returns in *out the segment at *pos, with the dense segments
 * that follow a dense one added to it, and moves *pos past them.
 */
static void
NextMerged(const EstInputSegment *segs, int n, int *pos,
		   EstInputSegment *out)
{
	*out = segs[*pos];
	(*pos)++;
	if (out->kind != EST_INPUT_DENSE)
		return;
	while (*pos < n && segs[*pos].kind == EST_INPUT_DENSE)
	{
		out->slots += segs[*pos].slots;
		(*pos)++;
	}
}

/*
 * SegmentsAgree says whether two lists of segments give the network the
 * same input vector: equal, once adjacent dense segments are joined.
 */
static int
SegmentsAgree(const EstInputSegment *a, int na, const EstInputSegment *b,
			  int nb)
{
	int			i = 0;
	int			j = 0;

	while (i < na && j < nb)
	{
		EstInputSegment x;
		EstInputSegment y;

		NextMerged(a, na, &i, &x);
		NextMerged(b, nb, &j, &y);
		if (x.kind != y.kind || x.slots != y.slots ||
			(x.kind != EST_INPUT_DENSE && x.buckets != y.buckets) ||
			(x.kind == EST_INPUT_EMBEDDING &&
			 (x.dimension != y.dimension || x.combiner != y.combiner)))
			return 0;
	}
	return i == na && j == nb;
}

static int
ValidActivation(uint32_t a)
{
	return a >= EST_ACT_RELU && a <= EST_ACT_GELU;
}

static int
ValidHead(uint32_t h)
{
	return h == EST_HEAD_SOFTMAX || h == EST_HEAD_SQUARED ||
		h == EST_HEAD_SIGMOID;
}

static int
ValidReduction(uint32_t r)
{
	return r == EST_REDUCE_SUM_OVER_BATCH_SIZE || r == EST_REDUCE_SUM ||
		r == EST_REDUCE_MEAN;
}

/*
 * HeadOutputsValid says whether the head accepts that many outputs: the
 * sigmoid head exactly 1, the softmax head at least 2.
 */
static int
HeadOutputsValid(uint32_t head, int n_outputs)
{
	if (head == EST_HEAD_SIGMOID)
		return n_outputs == 1;
	if (head == EST_HEAD_SOFTMAX)
		return n_outputs >= 2;
	return 1;
}

/*
 * BatchNormError returns NULL when the batch normalisation and dropout
 * settings are valid, else the name of the first bad one.
 */
static const char *
BatchNormError(uint32_t batch_norm, double momentum, double epsilon,
			   double dropout)
{
	if (batch_norm > 1)
		return "batch normalization flag";
	if (!isfinite(momentum) || momentum < 0.0 || momentum >= 1.0)
		return "batch normalization momentum";
	if (!isfinite(epsilon) || !(epsilon > 0.0))
		return "batch normalization epsilon";
	if (!isfinite(dropout) || dropout < 0.0 || dropout >= 1.0)
		return "dropout rate";
	return NULL;
}

/*
 * CheckOptimizerValues checks opt's hyperparameters as EstOptimizerCheck
 * does, except that a learning rate of 0 is allowed.
 */
static EstStatus
CheckOptimizerValues(const EstOptimizer *opt, char *errmsg)
{
	EstOptimizer copy = *opt;

	if (copy.learning_rate == 0.0)
		copy.learning_rate = 1.0;
	return EstOptimizerCheck(&copy, errmsg);
}

/*
 * SlotValueValid says whether v may be stored in the given slot: every
 * slot value is finite, and the accumulators that go under a square root
 * or a power (adagrad's, adam's second moment, rmsprop's mean square,
 * ftrl's accumulator) are not negative.
 */
static int
SlotValueValid(EstOptimizerKind kind, int slot, float v)
{
	if (!isfinite(v))
		return 0;
	if (v < 0.0f &&
		((kind == EST_OPT_ADAGRAD && slot == 0) ||
		 (kind == EST_OPT_ADAM && slot == 1) ||
		 (kind == EST_OPT_RMSPROP && slot == 0) ||
		 (kind == EST_OPT_FTRL && slot == 0)))
		return 0;
	return 1;
}

static int
RngIsZero(const EstRng *rng)
{
	return (rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3]) == 0;
}

/*
 * EpochError returns NULL when the epoch state is valid, else what is
 * wrong: the position is at most the rows, and a started epoch has a
 * usable generator.
 */
static const char *
EpochError(const EstEpochState *epoch)
{
	if (epoch->position > epoch->n_rows)
		return "epoch position is past the epoch's rows";
	if (epoch->n_rows > 0 && RngIsZero(&epoch->rng))
		return "epoch random number generator state is all zero";
	return NULL;
}

/* ----------------------------------------------------------------
 * Encoder
 * ----------------------------------------------------------------
 */

static EstStatus DecodeFcol(const uint8_t *p, uint64_t len,
							const EstInputSegment *segs, int n_segs,
							uint32_t n_inputs, EstTransform *tf,
							char *errmsg);

/*
 * IndexesValid checks n indexes against n_inputs.
 */
static int
IndexesValid(const int *idx, int n, int n_inputs)
{
	int			i;

	if (n < 0 || n > EST_MAX_UNITS || (n > 0 && idx == NULL))
		return 0;
	for (i = 0; i < n; i++)
		if (idx[i] < 0 || idx[i] >= n_inputs)
			return 0;
	return 1;
}

/*
 * CheckNetworkForEncode makes sure that the network is complete and
 * consistent.
 */
static EstStatus
CheckNetworkForEncode(const EstNetwork *net, char *errmsg)
{
	NetCounts	counts;
	EstInputSegment one;
	const EstInputSegment *segs;
	SegmentLayout layout;
	int			n_segs;
	int			width;
	const char *bad;
	size_t		i;
	int			l;

	if (net->n_layers < 1 || net->n_layers > EST_MAX_LAYERS + 1 ||
		net->params == NULL)
	{
		EstSetError(errmsg, "cannot encode a network with %d layers",
					net->n_layers);
		return EST_EINVAL;
	}
	if (net->n_inputs < 1 || net->n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "cannot encode a network of %d inputs",
					net->n_inputs);
		return EST_EINVAL;
	}
	for (l = 0; l <= net->n_layers; l++)
	{
		int			limit = (l == net->n_layers) ? EST_MAX_CLASSES : EST_MAX_UNITS;

		if (net->sizes[l] < 1 || net->sizes[l] > limit)
		{
			EstSetError(errmsg, "cannot encode a layer of %d units",
						net->sizes[l]);
			return EST_EINVAL;
		}
	}
	if (!ValidActivation((uint32_t) net->activation) ||
		!ValidHead((uint32_t) net->head) ||
		!ValidReduction((uint32_t) net->reduction) ||
		!HeadOutputsValid((uint32_t) net->head, net->sizes[net->n_layers]))
	{
		EstSetError(errmsg, "network has an unrecognized activation, head or reduction");
		return EST_EINVAL;
	}
	segs = EffectiveSegments(net, &one, &n_segs);
	if (n_segs > EST_MAX_SEGMENTS)
	{
		EstSetError(errmsg, "cannot encode a network of %d input segments",
					n_segs);
		return EST_EINVAL;
	}
	if (CheckSegments(segs, n_segs, (uint32_t) net->n_inputs, &layout,
					  errmsg) != EST_OK)
		return EST_EINVAL;
	width = (int) layout.input_width;
	if (!IndexesValid(net->dnn_inputs, net->n_dnn_inputs, width) ||
		(uint64_t) net->sizes[0] != (net->n_dnn_inputs > 0 ?
									 (uint64_t) net->n_dnn_inputs :
									 layout.input_width))
	{
		EstSetError(errmsg, "network DNN inputs are inconsistent");
		return EST_EINVAL;
	}
	if (!IndexesValid(net->linear_inputs, net->n_linear_inputs, width) ||
		ReadsEmbedding(segs, n_segs, net->linear_inputs,
					   net->n_linear_inputs))
	{
		EstSetError(errmsg, "network linear inputs are inconsistent");
		return EST_EINVAL;
	}
	bad = BatchNormError((uint32_t) net->batch_norm, net->bn_momentum,
						 net->bn_epsilon, net->dropout);
	if (bad != NULL || net->batch_norm < 0)
	{
		EstSetError(errmsg, "network %s is out of range",
					bad ? bad : "batch normalization flag");
		return EST_EINVAL;
	}
	counts = ShapeCounts(net->sizes, net->n_layers, net->batch_norm,
						 net->n_linear_inputs, layout.table_params);
	if (counts.n_params != (uint64_t) net->n_params ||
		net->n_params > EST_MAX_PARAMS ||
		counts.linear_offset != (uint64_t) net->linear_offset ||
		counts.n_stats != (uint64_t) net->n_stats)
	{
		EstSetError(errmsg, "network has %zu parameters, but its shape needs %llu",
					net->n_params, (unsigned long long) counts.n_params);
		return EST_EINVAL;
	}
	for (i = 0; i < net->n_params; i++)
	{
		if (!isfinite(net->params[i]))
		{
			EstSetError(errmsg, "network parameter %zu is not finite", i);
			return EST_EINVAL;
		}
	}
	if (net->n_stats > 0 && net->stats == NULL)
	{
		EstSetError(errmsg, "network statistics are missing");
		return EST_EINVAL;
	}
	for (l = 1; net->batch_norm && l < net->n_layers; l++)
	{
		const float *st = net->stats + net->offset_stats[l];
		int			units = net->sizes[l];
		int			j;

		for (j = 0; j < 2 * units; j++)
		{
			if (!isfinite(st[j]) || (j >= units && st[j] < 0.0f))
			{
				EstSetError(errmsg, "moving statistic %d of layer %d is out of range",
							j, l);
				return EST_EINVAL;
			}
		}
	}
	return EST_OK;
}

/*
 * CheckOptimizerForEncode makes sure that opt is valid for n parameters.
 */
static EstStatus
CheckOptimizerForEncode(const EstOptimizer *opt, size_t n, const char *what,
						char *errmsg)
{
	EstStatus	status;
	size_t		i;
	int			s;

	status = CheckOptimizerValues(opt, errmsg);
	if (status != EST_OK)
		return status;
	if (opt->n_slots != EstOptimizerSlotCount(opt))
	{
		EstSetError(errmsg, "%s has %d slots, its kind keeps %d", what,
					opt->n_slots, EstOptimizerSlotCount(opt));
		return EST_EINVAL;
	}
	if (opt->n != n)
	{
		EstSetError(errmsg, "%s has %zu parameters, the network part %zu",
					what, opt->n, n);
		return EST_EINVAL;
	}
	for (s = 0; s < opt->n_slots; s++)
	{
		if (opt->slot[s] == NULL)
		{
			EstSetError(errmsg, "%s slot %d is missing", what, s);
			return EST_EINVAL;
		}
		for (i = 0; i < opt->n; i++)
		{
			if (!SlotValueValid(opt->kind, s, opt->slot[s][i]))
			{
				EstSetError(errmsg, "%s slot %d value %zu is out of range",
							what, s, i);
				return EST_EINVAL;
			}
		}
	}
	return EST_OK;
}

/*
 * LabelsExpected is the size of the label state a network needs: its
 * outputs for the squared head (regressors standardise their targets),
 * none otherwise.
 */
static int
LabelsExpected(const EstNetwork *net)
{
	return net->head == EST_HEAD_SQUARED ? net->sizes[net->n_layers] : 0;
}

static EstStatus
CheckLabelsForEncode(const EstCheckpoint *ckpt, char *errmsg)
{
	const EstFeatureState *ls = &ckpt->labels;

	if (ls->n_inputs != LabelsExpected(&ckpt->net) ||
		(ls->n_inputs > 0 && (ls->shift == NULL || ls->scale == NULL)))
	{
		EstSetError(errmsg, "label state has %d values, the network needs %d",
					ls->n_inputs, LabelsExpected(&ckpt->net));
		return EST_EINVAL;
	}
	for (int l = 0; l < ls->n_inputs; l++)
	{
		if (!isfinite(ls->shift[l]) || !isfinite(ls->scale[l]) ||
			ls->scale[l] == 0.0)
		{
			EstSetError(errmsg, "label state of output %d is out of range", l);
			return EST_EINVAL;
		}
	}
	return EST_OK;
}

/*
 * StringBytes returns the encoded size of a string (length and bytes), or
 * 0 when it is missing or too long.
 */
static uint64_t
StringBytes(const char *s)
{
	size_t		len;

	if (s == NULL)
		return 0;
	len = strlen(s);
	return len > EST_MAX_VOCAB_BYTES ? 0 : 4 + (uint64_t) len;
}

/*
 * ColumnBytes returns the encoded size of a column (layout in the file
 * header), or 0 when a string or an array it needs is missing or too
 * large to encode.
 */
static uint64_t
ColumnBytes(const EstFeatureColumn *col)
{
	int			numeric = col->kind == EST_FC_NUMERIC;
	int			vocabulary = col->kind == EST_FC_VOCABULARY;
	uint64_t	total = FCOL_MIN_COLUMN_LEN - 4;	/* but the one key */
	uint64_t	len;
	int			i;

	if (col->n_keys < 1 || col->n_keys > 8 || col->keys == NULL ||
		(len = StringBytes(col->name)) == 0)
		return 0;
	total += len - 4;
	for (i = 0; i < col->n_keys; i++)
	{
		if ((len = StringBytes(col->keys[i])) == 0)
			return 0;
		total += len;
	}
	if (col->kind == EST_FC_BUCKETIZED)
	{
		if (col->n_boundaries < 0 || col->n_boundaries >= EST_MAX_BUCKETS ||
			(col->n_boundaries > 0 && col->boundaries == NULL))
			return 0;
		total += 8 * (uint64_t) col->n_boundaries;
	}
	if (vocabulary)
	{
		if (col->vocab_size < 0 || col->vocab_size > EST_MAX_VOCABULARY ||
			(col->vocab_size > 0 && col->vocab == NULL) ||
			(col->learned && col->vocab_size > 0 &&
			 col->vocab_counts == NULL))
			return 0;
		for (i = 0; i < col->vocab_size; i++)
		{
			if ((len = StringBytes(col->vocab[i])) == 0)
				return 0;
			total += len + (col->learned ? 8 : 0);
		}
	}
	if (numeric)
	{
		if (col->shape < 1 || col->shape > EST_MAX_UNITS ||
			col->mean == NULL || col->stddev == NULL || col->min == NULL ||
			col->max == NULL || col->shift == NULL || col->scale == NULL)
			return 0;
		total += 48 * (uint64_t) col->shape;
	}
	return total;
}

/*
 * CheckTransformForEncode makes sure that the transform can be written
 * and computes the FCOL payload's length; the encoder then decodes what
 * it wrote (DecodeFcol) for every other check.
 */
static EstStatus
CheckTransformForEncode(const EstTransform *tf, const EstNetwork *net,
						uint64_t *fcol_len, char *errmsg)
{
	uint64_t	total = FCOL_FIXED_LEN;
	int			c;

	if (!tf->fitted || tf->n_columns < 1 ||
		tf->n_columns > EST_MAX_SEGMENTS || tf->columns == NULL)
	{
		EstSetError(errmsg, "cannot encode a transform of %d feature columns that is %sfitted",
					tf->n_columns, tf->fitted ? "" : "not ");
		return EST_EINVAL;
	}
	if (tf->n_inputs != net->n_inputs)
	{
		EstSetError(errmsg, "transform has %d inputs, the network %d",
					tf->n_inputs, net->n_inputs);
		return EST_EINVAL;
	}
	for (c = 0; c < tf->n_columns; c++)
	{
		uint64_t	len = ColumnBytes(&tf->columns[c]);

		if (len == 0)
		{
			EstSetError(errmsg, "cannot encode feature column %d", c + 1);
			return EST_EINVAL;
		}
		total += len;
	}
	*fcol_len = total;
	return EST_OK;
}

static uint8_t *
PutString(uint8_t *p, const char *s)
{
	size_t		len = strlen(s);

	p = PutU32(p, (uint32_t) len);
	memcpy(p, s, len);
	return p + len;
}

/*
 * PutColumn writes a column of the FCOL section, with 0 for every field
 * that its kind does not use.
 */
static uint8_t *
PutColumn(uint8_t *p, const EstFeatureColumn *col)
{
	int			numeric = col->kind == EST_FC_NUMERIC;
	int			vocabulary = col->kind == EST_FC_VOCABULARY;
	int			learned = vocabulary && col->learned;
	int			hashed = col->kind == EST_FC_IDENTITY ||
		col->kind == EST_FC_HASH || col->kind == EST_FC_CROSSED;
	int			embedding = !numeric &&
		col->representation == EST_INPUT_EMBEDDING;
	int			n_boundaries = col->kind == EST_FC_BUCKETIZED ?
		col->n_boundaries : 0;
	int			vocab_size = vocabulary ? col->vocab_size : 0;
	int			i;

	p = PutU32(p, (uint32_t) col->kind);
	p = PutString(p, col->name);
	p = PutU32(p, (uint32_t) col->n_keys);
	for (i = 0; i < col->n_keys; i++)
		p = PutString(p, col->keys[i]);
	p = PutU32(p, numeric ? (uint32_t) col->shape : 0);
	p = PutU32(p, numeric ? (uint32_t) col->normalizer : 0);
	p = PutU32(p, numeric ? (uint32_t) col->null_policy : 0);
	p = PutF64(p, numeric ? col->default_value : 0.0);
	p = PutU32(p, numeric ? 0 : (uint32_t) col->multi);
	p = PutU32(p, !numeric && col->multi ? (uint32_t) col->max_values : 0);
	p = PutU32(p, (uint32_t) n_boundaries);
	for (i = 0; i < n_boundaries; i++)
		p = PutF64(p, col->boundaries[i]);
	p = PutU32(p, vocabulary ? (uint32_t) col->learned : 0);
	p = PutU32(p, vocabulary ? (uint32_t) col->num_oov : 0);
	p = PutU32(p, learned ? (uint32_t) col->max_size : 0);
	p = PutU32(p, learned ? (uint32_t) col->hash_above : 0);
	p = PutU32(p, learned ? (uint32_t) col->auto_buckets : 0);
	p = PutU32(p, learned ? (uint32_t) col->auto_dimension : 0);
	p = PutU32(p, (uint32_t) vocab_size);
	for (i = 0; i < vocab_size; i++)
		p = PutString(p, col->vocab[i]);
	for (i = 0; learned && i < vocab_size; i++)
		p = PutU64(p, (uint64_t) col->vocab_counts[i]);
	p = PutU64(p, hashed ? (uint64_t) col->num_buckets : 0);
	p = PutU64(p, col->kind == EST_FC_IDENTITY ?
			   (uint64_t) col->default_id : 0);
	p = PutU32(p, (uint32_t) col->representation);
	p = PutU32(p, embedding ? (uint32_t) col->dimension : 0);
	p = PutU32(p, embedding ? (uint32_t) col->combiner : 0);
	p = PutU32(p, (uint32_t) col->offset);
	p = PutU32(p, (uint32_t) col->slots);
	p = PutU64(p, numeric ? 0 : (uint64_t) col->buckets);
	p = PutU64(p, (uint64_t) col->null_count);
	p = PutU64(p, (uint64_t) col->value_count);
	p = PutU32(p, numeric ? (uint32_t) col->shape : 0);
	if (numeric)
	{
		const double *const arrays[6] = {
			col->mean, col->stddev, col->min, col->max, col->shift,
			col->scale
		};
		int			a;

		for (a = 0; a < 6; a++)
			for (i = 0; i < col->shape; i++)
				p = PutF64(p, arrays[a][i]);
	}
	return p;
}

/*
 * PutFcol writes the FCOL section of length fcol_len.
 */
static uint8_t *
PutFcol(uint8_t *p, const EstTransform *tf, uint64_t fcol_len)
{
	int			c;

	p = PutSectionHeader(p, SEC_FCOL, fcol_len);
	p = PutU32(p, (uint32_t) tf->n_inputs);
	p = PutU32(p, 1);
	p = PutU32(p, tf->legacy ? 1 : 0);
	p = PutU32(p, (uint32_t) tf->n_columns);
	for (c = 0; c < tf->n_columns; c++)
		p = PutColumn(p, &tf->columns[c]);
	return p;
}

/*
 * CheckForEncode makes sure that ckpt is complete and consistent, so
 * that the decoder will accept what the encoder writes.
 */
static EstStatus
CheckForEncode(const EstCheckpoint *ckpt, uint64_t *fcol_len, char *errmsg)
{
	const EstNetwork *net = &ckpt->net;
	EstStatus	status;
	const char *bad;

	status = CheckNetworkForEncode(net, errmsg);
	if (status != EST_OK)
		return status;
	status = CheckOptimizerForEncode(&ckpt->opt, net->linear_offset,
									 "optimizer", errmsg);
	if (status != EST_OK)
		return status;
	if (net->n_linear_inputs > 0)
	{
		status = CheckOptimizerForEncode(&ckpt->opt_linear,
										 net->n_params - net->linear_offset,
										 "linear optimizer", errmsg);
		if (status != EST_OK)
			return status;
	}

	status = CheckTransformForEncode(&ckpt->transform, net, fcol_len,
									 errmsg);
	if (status != EST_OK)
		return status;

	status = CheckLabelsForEncode(ckpt, errmsg);
	if (status != EST_OK)
		return status;

	if (ckpt->global_step < 0)
	{
		EstSetError(errmsg, "global step %lld is negative",
					(long long) ckpt->global_step);
		return EST_EINVAL;
	}
	if (RngIsZero(&ckpt->rng))
	{
		EstSetError(errmsg, "random number generator state is all zero");
		return EST_EINVAL;
	}
	bad = EpochError(&ckpt->epoch);
	if (bad != NULL)
	{
		EstSetError(errmsg, "%s", bad);
		return EST_EINVAL;
	}
	return EST_OK;
}

/*
 * PutOptimizer writes an OPTM or OPTL section.
 */
static uint8_t *
PutOptimizer(uint8_t *p, int section, const EstOptimizer *opt)
{
	size_t		i;
	int			s;

	p = PutSectionHeader(p, section, OPTM_FIXED_LEN +
						 4 * (uint64_t) opt->n_slots * opt->n);
	p = PutU32(p, (uint32_t) opt->kind);
	p = PutU32(p, (uint32_t) opt->n_slots);
	p = PutF64(p, opt->learning_rate);
	p = PutF64(p, opt->beta1);
	p = PutF64(p, opt->beta2);
	p = PutF64(p, opt->epsilon);
	p = PutF64(p, opt->initial_accumulator);
	p = PutF64(p, opt->momentum);
	p = PutU32(p, (uint32_t) opt->nesterov);
	p = PutF64(p, opt->rho);
	p = PutU32(p, (uint32_t) opt->centered);
	p = PutF64(p, opt->lr_power);
	p = PutF64(p, opt->l1);
	p = PutF64(p, opt->l2);
	p = PutF64(p, opt->l2_shrinkage);
	p = PutF64(p, opt->beta);
	p = PutU64(p, (uint64_t) opt->iterations);
	p = PutU64(p, (uint64_t) opt->n);
	for (s = 0; s < opt->n_slots; s++)
		for (i = 0; i < opt->n; i++)
			p = PutF32(p, opt->slot[s][i]);
	return p;
}

/*
 * PutTransform writes a LABL section: a shift and a scale for each value.
 */
static uint8_t *
PutTransform(uint8_t *p, int section, const EstFeatureState *fs)
{
	p = PutSectionHeader(p, section, FEAT_FIXED_LEN + 16 * (uint64_t) fs->n_inputs);
	p = PutU32(p, (uint32_t) fs->n_inputs);
	for (int l = 0; l < fs->n_inputs; l++)
		p = PutF64(p, fs->shift[l]);
	for (int l = 0; l < fs->n_inputs; l++)
		p = PutF64(p, fs->scale[l]);
	return p;
}

/*
 * EstCheckpointEncode checks ckpt and writes it into a new buffer.
 */
EstStatus
EstCheckpointEncode(const EstCheckpoint *ckpt, uint8_t **out,
					size_t *out_len, char *errmsg)
{
	const EstNetwork *net = &ckpt->net;
	const EstOptimizer *opt = &ckpt->opt;
	const EstOptimizer *optl = &ckpt->opt_linear;
	int			has_linear = net->n_linear_inputs > 0;
	EstInputSegment one;
	const EstInputSegment *segs;
	int			n_segs;
	EstTransform check;
	uint8_t    *fcol_at;
	uint64_t	netw_len;
	uint64_t	optm_len;
	uint64_t	optl_len = 0;
	uint64_t	fcol_len = 0;
	uint64_t	labl_len = 0;
	uint64_t	total;
	int			has_labels = ckpt->labels.n_inputs > 0;
	uint32_t	n_sections = 4 + (has_linear ? 1 : 0) + (has_labels ? 1 : 0);
	uint8_t    *buf;
	uint8_t    *p;
	EstStatus	status;
	size_t		i;
	int			l;

	*out = NULL;
	*out_len = 0;
	status = CheckForEncode(ckpt, &fcol_len, errmsg);
	if (status != EST_OK)
		return status;
	segs = EffectiveSegments(net, &one, &n_segs);

	/* n_params <= 2^28 and counts <= 2^16: none of these can overflow */
	netw_len = 20 + 4 + SEGMENT_LEN * (uint64_t) n_segs +
		4 * (uint64_t) (net->n_layers + 1) +
		4 + 4 * (uint64_t) net->n_dnn_inputs +
		4 + 4 * (uint64_t) net->n_linear_inputs +
		4 + 24 + 8 + 4 * (uint64_t) net->n_params +
		8 + 4 * (uint64_t) net->n_stats;
	optm_len = OPTM_FIXED_LEN + 4 * (uint64_t) opt->n_slots * opt->n;
	if (has_linear)
		optl_len = OPTM_FIXED_LEN + 4 * (uint64_t) optl->n_slots * optl->n;
	if (has_labels)
		labl_len = FEAT_FIXED_LEN + 16 * (uint64_t) ckpt->labels.n_inputs;
	total = HEADER_LEN + (uint64_t) n_sections * SECTION_HEADER_LEN +
		netw_len + optm_len + optl_len + fcol_len + labl_len + STEP_LEN +
		TRAILER_LEN;
	if (total > (uint64_t) ((size_t) -1))
	{
		EstSetError(errmsg, "checkpoint of %llu bytes is too large",
					(unsigned long long) total);
		return EST_ELIMIT;
	}
	buf = EstAlloc((size_t) total);
	if (buf == NULL)
	{
		EstSetError(errmsg, "could not allocate %llu bytes for the checkpoint",
					(unsigned long long) total);
		return EST_ENOMEM;
	}

	p = buf;
	memcpy(p, EST_CHECKPOINT_MAGIC, 8);
	p += 8;
	p = PutU32(p, EST_CHECKPOINT_VERSION);
	p = PutU64(p, total);
	p = PutU32(p, n_sections);

	p = PutSectionHeader(p, SEC_NETW, netw_len);
	p = PutU32(p, (uint32_t) net->n_inputs);
	p = PutU32(p, (uint32_t) net->n_layers);
	p = PutU32(p, (uint32_t) net->activation);
	p = PutU32(p, (uint32_t) net->head);
	p = PutU32(p, (uint32_t) net->reduction);
	p = PutU32(p, (uint32_t) n_segs);
	for (l = 0; l < n_segs; l++)
	{
		int			ids = segs[l].kind != EST_INPUT_DENSE;
		int			embedding = segs[l].kind == EST_INPUT_EMBEDDING;

		p = PutU32(p, (uint32_t) segs[l].kind);
		p = PutU32(p, (uint32_t) segs[l].slots);
		p = PutU32(p, ids ? (uint32_t) segs[l].buckets : 0);
		p = PutU32(p, embedding ? (uint32_t) segs[l].dimension : 0);
		p = PutU32(p, embedding ? (uint32_t) segs[l].combiner : 0);
	}
	for (l = 0; l <= net->n_layers; l++)
		p = PutU32(p, (uint32_t) net->sizes[l]);
	p = PutU32(p, (uint32_t) net->n_dnn_inputs);
	for (l = 0; l < net->n_dnn_inputs; l++)
		p = PutU32(p, (uint32_t) net->dnn_inputs[l]);
	p = PutU32(p, (uint32_t) net->n_linear_inputs);
	for (l = 0; l < net->n_linear_inputs; l++)
		p = PutU32(p, (uint32_t) net->linear_inputs[l]);
	p = PutU32(p, (uint32_t) net->batch_norm);
	p = PutF64(p, net->bn_momentum);
	p = PutF64(p, net->bn_epsilon);
	p = PutF64(p, net->dropout);
	p = PutU64(p, (uint64_t) net->n_params);
	for (i = 0; i < net->n_params; i++)
		p = PutF32(p, net->params[i]);
	p = PutU64(p, (uint64_t) net->n_stats);
	for (i = 0; i < net->n_stats; i++)
		p = PutF32(p, net->stats[i]);

	p = PutOptimizer(p, SEC_OPTM, opt);
	if (has_linear)
		p = PutOptimizer(p, SEC_OPTL, optl);

	fcol_at = p + SECTION_HEADER_LEN;
	p = PutFcol(p, &ckpt->transform, fcol_len);
	if (has_labels)
		p = PutTransform(p, SEC_LABL, &ckpt->labels);

	p = PutSectionHeader(p, SEC_STEP, STEP_LEN);
	p = PutU64(p, (uint64_t) ckpt->global_step);
	for (l = 0; l < 4; l++)
		p = PutU64(p, ckpt->rng.s[l]);
	for (l = 0; l < 4; l++)
		p = PutU64(p, ckpt->epoch.rng.s[l]);
	p = PutU64(p, ckpt->epoch.position);
	p = PutU64(p, ckpt->epoch.n_rows);

	p = PutU32(p, EstCrc32c(0, buf, (size_t) (p - buf)));

	/* every check of the decoder, on the bytes it will read */
	memset(&check, 0, sizeof(check));
	status = DecodeFcol(fcol_at, fcol_len, segs, n_segs,
						(uint32_t) net->n_inputs, &check, errmsg);
	EstTransformFree(&check);
	if (status != EST_OK)
	{
		EstFree(buf);
		return status == EST_ENOMEM ? status : EST_EINVAL;
	}

	*out = buf;
	*out_len = (size_t) total;
	return EST_OK;
}

/* ----------------------------------------------------------------
 * Decoder
 * ----------------------------------------------------------------
 */

/*
 * A Cursor reads a section's payload and never passes its end.
 */
typedef struct Cursor
{
	const uint8_t *p;
	uint64_t	left;
} Cursor;

static int
TakeU32(Cursor *c, uint32_t *v)
{
	if (c->left < 4)
		return 0;
	*v = GetU32(c->p);
	c->p += 4;
	c->left -= 4;
	return 1;
}

static int
TakeU64(Cursor *c, uint64_t *v)
{
	if (c->left < 8)
		return 0;
	*v = GetU64(c->p);
	c->p += 8;
	c->left -= 8;
	return 1;
}

static int
TakeF64(Cursor *c, double *v)
{
	if (c->left < 8)
		return 0;
	*v = GetF64(c->p);
	c->p += 8;
	c->left -= 8;
	return 1;
}

/*
 * TakeIndexes reads a count and that many input indexes into a new array
 * (NULL for a count of 0), checking the count against the limit and the
 * bytes that remain before allocating, and each index against n_inputs.
 */
static EstStatus
TakeIndexes(Cursor *c, const char *what, uint32_t n_inputs, int *count,
			int **indexes, char *errmsg)
{
	uint32_t	n;
	uint32_t	i;

	*count = 0;
	*indexes = NULL;
	if (!TakeU32(c, &n))
	{
		EstSetError(errmsg, "network section ends before its %s", what);
		return EST_ECORRUPT;
	}
	if (n > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "network has %lu %s, the limit is %d",
					(unsigned long) n, what, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	if (c->left < 4 * (uint64_t) n)
	{
		EstSetError(errmsg, "network section is too short for %lu %s",
					(unsigned long) n, what);
		return EST_ECORRUPT;
	}
	if (n == 0)
		return EST_OK;
	*indexes = EstAlloc(sizeof(int) * (size_t) n);
	if (*indexes == NULL)
	{
		EstSetError(errmsg, "could not allocate %lu %s",
					(unsigned long) n, what);
		return EST_ENOMEM;
	}
	for (i = 0; i < n; i++)
	{
		uint32_t	v = 0;

		(void) TakeU32(c, &v);
		if (v >= n_inputs)
		{
			EstSetError(errmsg, "%s %lu is %lu, not an input index below %lu",
						what, (unsigned long) i, (unsigned long) v,
						(unsigned long) n_inputs);
			EstFree(*indexes);
			*indexes = NULL;
			return EST_ECORRUPT;
		}
		(*indexes)[i] = (int) v;
	}
	*count = (int) n;
	return EST_OK;
}

/*
 * ReadSegment reads a stored segment; a field above INT32_MAX is out of
 * every range, and becomes INT32_MAX.
 */
static void
ReadSegment(const uint8_t *p, EstInputSegment *sg)
{
	uint32_t	v[5];
	int			k;

	for (k = 0; k < 5; k++)
	{
		v[k] = GetU32(p + 4 * k);
		if (v[k] > (uint32_t) INT32_MAX)
			v[k] = (uint32_t) INT32_MAX;
	}
	sg->kind = (EstInputKind) v[0];
	sg->slots = (int) v[1];
	sg->buckets = (int) v[2];
	sg->dimension = (int) v[3];
	sg->combiner = (EstCombiner) v[4];
}

/*
 * SkimSegments checks the input segments of a version 2 NETW payload
 * where they are, without allocating, computes their layout and leaves
 * *at pointing at them for CopySegments.
 */
static EstStatus
SkimSegments(Cursor *c, uint32_t n_inputs, const uint8_t **at, int *n_segs,
			 SegmentLayout *layout, char *errmsg)
{
	uint64_t	slots = 0;
	uint32_t	n;
	uint32_t	i;
	EstStatus	status;

	memset(layout, 0, sizeof(*layout));
	if (!TakeU32(c, &n))
	{
		EstSetError(errmsg, "network section ends before its input segments");
		return EST_ECORRUPT;
	}
	if (n == 0)
	{
		EstSetError(errmsg, "network has no input segment");
		return EST_ECORRUPT;
	}
	if (n > EST_MAX_SEGMENTS)
	{
		EstSetError(errmsg, "network has %lu input segments, the limit is %d",
					(unsigned long) n, EST_MAX_SEGMENTS);
		return EST_ELIMIT;
	}
	if (c->left < SEGMENT_LEN * (uint64_t) n)
	{
		EstSetError(errmsg, "network section is too short for %lu input segments",
					(unsigned long) n);
		return EST_ECORRUPT;
	}
	*at = c->p;
	for (i = 0; i < n; i++)
	{
		EstInputSegment sg;

		ReadSegment(c->p, &sg);
		c->p += SEGMENT_LEN;
		c->left -= SEGMENT_LEN;
		status = AddSegment(&sg, (int) i, layout, &slots, errmsg);
		if (status != EST_OK)
			return status;
	}
	*n_segs = (int) n;
	return FinishSegments(layout, slots, n_inputs, errmsg);
}

/*
 * CopySegments reads the n checked segments at p into a new array.
 */
static EstStatus
CopySegments(const uint8_t *p, int n, EstInputSegment **segs, char *errmsg)
{
	int			i;

	*segs = EstAllocZero((size_t) n, sizeof(EstInputSegment));
	if (*segs == NULL)
	{
		EstSetError(errmsg, "could not allocate %d input segments", n);
		return EST_ENOMEM;
	}
	for (i = 0; i < n; i++)
		ReadSegment(p + SEGMENT_LEN * (size_t) i, &(*segs)[i]);
	return EST_OK;
}

/*
 * DecodeNetworkBody reads the NETW payload of the given format version
 * into ckpt->net, using dnn_inputs, linear_inputs and segments (which the
 * caller frees) for the arrays; a version 1 payload has no segments.
 */
static EstStatus
DecodeNetworkBody(Cursor *c, uint32_t version, EstCheckpoint *ckpt,
				  int **dnn_inputs, int **linear_inputs,
				  EstInputSegment **segments, int *n_segments,
				  char *errmsg)
{
	SegmentLayout layout;
	EstInputSegment one;
	const uint8_t *segments_at = NULL;
	uint32_t	n_inputs;
	uint32_t	n_layers;
	uint32_t	activation;
	uint32_t	head;
	uint32_t	reduction;
	uint32_t	batch_norm;
	double		momentum;
	double		epsilon;
	double		dropout;
	int			sizes[EST_MAX_LAYERS + 2];
	int			n_dnn;
	int			n_linear;
	uint64_t	n_params;
	uint64_t	n_stats;
	NetCounts	counts;
	EstNetworkSpec spec;
	EstNetwork *net = &ckpt->net;
	const char *bad;
	EstStatus	status;
	uint32_t	l;
	size_t		i;

	if (!TakeU32(c, &n_inputs) || !TakeU32(c, &n_layers) ||
		!TakeU32(c, &activation) || !TakeU32(c, &head) ||
		!TakeU32(c, &reduction))
	{
		EstSetError(errmsg, "network section is too short: %llu bytes",
					(unsigned long long) c->left);
		return EST_ECORRUPT;
	}
	if (n_inputs == 0)
	{
		EstSetError(errmsg, "network has no inputs");
		return EST_ECORRUPT;
	}
	if (n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "network has %lu inputs, the limit is %d",
					(unsigned long) n_inputs, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	if (n_layers == 0)
	{
		EstSetError(errmsg, "network has no layers");
		return EST_ECORRUPT;
	}
	if (n_layers > EST_MAX_LAYERS + 1)
	{
		EstSetError(errmsg, "network has %lu layers, the limit is %d",
					(unsigned long) n_layers, EST_MAX_LAYERS + 1);
		return EST_ELIMIT;
	}
	if (!ValidActivation(activation))
	{
		EstSetError(errmsg, "unrecognized activation: %lu",
					(unsigned long) activation);
		return EST_ECORRUPT;
	}
	if (!ValidHead(head))
	{
		EstSetError(errmsg, "unrecognized head: %lu", (unsigned long) head);
		return EST_ECORRUPT;
	}
	if (!ValidReduction(reduction))
	{
		EstSetError(errmsg, "unrecognized loss reduction: %lu",
					(unsigned long) reduction);
		return EST_ECORRUPT;
	}
	if (version >= 2)
	{
		status = SkimSegments(c, n_inputs, &segments_at, n_segments,
							  &layout, errmsg);
		if (status != EST_OK)
			return status;
	}
	else
	{
		memset(&one, 0, sizeof(one));
		one.kind = EST_INPUT_DENSE;
		one.slots = (int) n_inputs;
		(void) CheckSegments(&one, 1, n_inputs, &layout, errmsg);
	}
	for (l = 0; l <= n_layers; l++)
	{
		uint32_t	size;
		uint32_t	limit = (l == n_layers) ? EST_MAX_CLASSES : EST_MAX_UNITS;

		if (!TakeU32(c, &size))
		{
			EstSetError(errmsg, "network section cannot hold %lu layers",
						(unsigned long) n_layers);
			return EST_ECORRUPT;
		}
		if (size == 0)
		{
			EstSetError(errmsg, "layer size %lu is zero", (unsigned long) l);
			return EST_ECORRUPT;
		}
		if (size > limit)
		{
			EstSetError(errmsg, "layer size %lu is %lu, the limit is %lu",
						(unsigned long) l, (unsigned long) size,
						(unsigned long) limit);
			return EST_ELIMIT;
		}
		sizes[l] = (int) size;
	}
	if (!HeadOutputsValid(head, sizes[n_layers]))
	{
		EstSetError(errmsg, "head %lu cannot have %d outputs",
					(unsigned long) head, sizes[n_layers]);
		return EST_ECORRUPT;
	}

	status = TakeIndexes(c, "DNN inputs", (uint32_t) layout.input_width,
						 &n_dnn, dnn_inputs, errmsg);
	if (status != EST_OK)
		return status;
	if ((uint64_t) sizes[0] != (n_dnn > 0 ? (uint64_t) n_dnn :
								layout.input_width))
	{
		EstSetError(errmsg, "network reads %llu inputs, but its first layer has %d",
					n_dnn > 0 ? (unsigned long long) n_dnn :
					(unsigned long long) layout.input_width, sizes[0]);
		return EST_ECORRUPT;
	}
	status = TakeIndexes(c, "linear inputs", (uint32_t) layout.input_width,
						 &n_linear, linear_inputs, errmsg);
	if (status != EST_OK)
		return status;

	if (!TakeU32(c, &batch_norm) || !TakeF64(c, &momentum) ||
		!TakeF64(c, &epsilon) || !TakeF64(c, &dropout))
	{
		EstSetError(errmsg, "network section ends before its batch normalization");
		return EST_ECORRUPT;
	}
	bad = BatchNormError(batch_norm, momentum, epsilon, dropout);
	if (bad != NULL)
	{
		EstSetError(errmsg, "network %s is out of range", bad);
		return EST_ECORRUPT;
	}

	counts = ShapeCounts(sizes, (int) n_layers, (int) batch_norm, n_linear,
						 layout.table_params);
	if (counts.n_params > (uint64_t) EST_MAX_PARAMS)
	{
		EstSetError(errmsg, "network needs %llu parameters, the limit is %llu",
					(unsigned long long) counts.n_params,
					(unsigned long long) EST_MAX_PARAMS);
		return EST_ELIMIT;
	}
	if (!TakeU64(c, &n_params))
	{
		EstSetError(errmsg, "network section ends before its parameters");
		return EST_ECORRUPT;
	}
	if (n_params != counts.n_params)
	{
		EstSetError(errmsg, "network claims %llu parameters, its shape needs %llu",
					(unsigned long long) n_params,
					(unsigned long long) counts.n_params);
		return EST_ECORRUPT;
	}
	/* n_params <= 2^28: no overflow */
	if (c->left < 4 * n_params + 8)
	{
		EstSetError(errmsg, "network section has %llu bytes left, %llu parameters need %llu",
					(unsigned long long) c->left,
					(unsigned long long) n_params,
					(unsigned long long) (4 * n_params + 8));
		return EST_ECORRUPT;
	}
	n_stats = GetU64(c->p + 4 * n_params);
	if (n_stats != counts.n_stats)
	{
		EstSetError(errmsg, "network claims %llu statistics, its shape needs %llu",
					(unsigned long long) n_stats,
					(unsigned long long) counts.n_stats);
		return EST_ECORRUPT;
	}
	if (c->left - 4 * n_params - 8 != 4 * n_stats)
	{
		EstSetError(errmsg, "network section has %llu bytes, expected %llu",
					(unsigned long long) c->left,
					(unsigned long long) (4 * n_params + 8 + 4 * n_stats));
		return EST_ECORRUPT;
	}

	if (segments_at != NULL)
	{
		status = CopySegments(segments_at, *n_segments, segments, errmsg);
		if (status != EST_OK)
			return status;
		if (ReadsEmbedding(*segments, *n_segments, *linear_inputs, n_linear))
		{
			EstSetError(errmsg, "network linear part reads an embedding");
			return EST_ECORRUPT;
		}
	}

	memset(&spec, 0, sizeof(spec));
	spec.n_inputs = (int) n_inputs;
	spec.n_segments = *n_segments;
	spec.segments = *segments;
	spec.n_hidden = (int) n_layers - 1;
	spec.hidden = &sizes[1];
	spec.n_outputs = sizes[n_layers];
	spec.activation = (EstActivation) activation;
	spec.head = (EstHead) head;
	spec.reduction = (EstReduction) reduction;
	spec.n_dnn_inputs = n_dnn;
	spec.dnn_inputs = *dnn_inputs;
	spec.n_linear_inputs = n_linear;
	spec.linear_inputs = *linear_inputs;
	spec.batch_norm = (int) batch_norm;
	spec.bn_momentum = momentum;
	spec.bn_epsilon = epsilon;
	spec.dropout = dropout;
	status = EstNetworkInit(net, &spec, NULL, errmsg);
	if (status == EST_EINVAL)
		return EST_ECORRUPT;
	if (status != EST_OK)
		return status;
	if ((uint64_t) net->n_params != counts.n_params ||
		(uint64_t) net->linear_offset != counts.linear_offset)
	{
		/* a network without support for these segments */
		EstSetError(errmsg, "network shape needs %llu parameters, but the network has %zu",
					(unsigned long long) counts.n_params, net->n_params);
		return EST_ECORRUPT;
	}
	if (net->n_segments == 0 && *segments != NULL &&
		(*n_segments > 1 || (*segments)[0].kind != EST_INPUT_DENSE))
	{
		/* it would be written back as one dense segment */
		EstSetError(errmsg, "network has %d input segments, but this build supports one dense segment",
					*n_segments);
		return EST_ECORRUPT;
	}
	/* 0 means the default to EstNetworkInit, but not here */
	net->bn_momentum = momentum;
	net->bn_epsilon = epsilon;

	for (i = 0; i < net->n_params; i++)
	{
		float		v = GetF32(c->p + 4 * i);

		if (!isfinite(v))
		{
			EstSetError(errmsg, "network parameter %zu is not finite", i);
			return EST_ECORRUPT;
		}
		net->params[i] = v;
	}
	c->p += 4 * n_params + 8;
	for (l = 1; net->batch_norm && l < n_layers; l++)
	{
		float	   *st = net->stats + net->offset_stats[l];
		int			units = net->sizes[l];
		int			j;

		for (j = 0; j < 2 * units; j++)
		{
			float		v = GetF32(c->p + 4 * (net->offset_stats[l] + (size_t) j));

			if (!isfinite(v) || (j >= units && v < 0.0f))
			{
				EstSetError(errmsg, "moving statistic %d of layer %lu is out of range",
							j, (unsigned long) l);
				return EST_ECORRUPT;
			}
			st[j] = v;
		}
	}
	return EST_OK;
}

/*
 * DecodeNetwork reads the NETW payload into ckpt->net, and returns its
 * input segments (version 2; NULL for version 1) in *segments, which the
 * caller frees.
 */
static EstStatus
DecodeNetwork(const uint8_t *p, uint64_t len, uint32_t version,
			  EstCheckpoint *ckpt, EstInputSegment **segments,
			  int *n_segments, char *errmsg)
{
	Cursor		c;
	int		   *dnn_inputs = NULL;
	int		   *linear_inputs = NULL;
	EstStatus	status;

	c.p = p;
	c.left = len;
	*segments = NULL;
	*n_segments = 0;
	status = DecodeNetworkBody(&c, version, ckpt, &dnn_inputs,
							   &linear_inputs, segments, n_segments, errmsg);
	EstFree(dnn_inputs);
	EstFree(linear_inputs);
	return status;
}

/*
 * DecodeOptimizer reads an OPTM or OPTL payload into opt, which must
 * cover n parameters.
 */
static EstStatus
DecodeOptimizer(const uint8_t *p, uint64_t len, EstOptimizer *opt,
				size_t n, const char *what, char *errmsg)
{
	Cursor		c;
	uint32_t	kind = 0;
	uint32_t	n_slots = 0;
	uint32_t	nesterov = 0;
	uint32_t	centered = 0;
	uint64_t	iterations = 0;
	uint64_t	stored_n = 0;
	double		learning_rate;
	EstStatus	status;
	int			expected_slots;
	uint32_t	s;
	size_t		i;

	if (len < OPTM_FIXED_LEN)
	{
		EstSetError(errmsg, "%s section is too short: %llu bytes", what,
					(unsigned long long) len);
		return EST_ECORRUPT;
	}
	c.p = p;
	c.left = len;
	(void) TakeU32(&c, &kind);
	(void) TakeU32(&c, &n_slots);
	if (kind < EST_OPT_SGD || kind > EST_OPT_FTRL)
	{
		EstSetError(errmsg, "unrecognized %s: %lu", what,
					(unsigned long) kind);
		return EST_ECORRUPT;
	}
	EstOptimizerDefaults(opt, (EstOptimizerKind) kind);
	(void) TakeF64(&c, &opt->learning_rate);
	(void) TakeF64(&c, &opt->beta1);
	(void) TakeF64(&c, &opt->beta2);
	(void) TakeF64(&c, &opt->epsilon);
	(void) TakeF64(&c, &opt->initial_accumulator);
	(void) TakeF64(&c, &opt->momentum);
	(void) TakeU32(&c, &nesterov);
	(void) TakeF64(&c, &opt->rho);
	(void) TakeU32(&c, &centered);
	(void) TakeF64(&c, &opt->lr_power);
	(void) TakeF64(&c, &opt->l1);
	(void) TakeF64(&c, &opt->l2);
	(void) TakeF64(&c, &opt->l2_shrinkage);
	(void) TakeF64(&c, &opt->beta);
	(void) TakeU64(&c, &iterations);
	(void) TakeU64(&c, &stored_n);
	opt->nesterov = nesterov > 1 ? 2 : (int) nesterov;
	opt->centered = centered > 1 ? 2 : (int) centered;
	opt->iterations = (int64_t) iterations;
	status = CheckOptimizerValues(opt, errmsg);
	if (status != EST_OK)
	{
		memset(opt, 0, sizeof(*opt));
		return EST_ECORRUPT;
	}
	expected_slots = EstOptimizerSlotCount(opt);
	if (n_slots != (uint32_t) expected_slots)
	{
		EstSetError(errmsg, "%s has %lu slots, its kind keeps %d", what,
					(unsigned long) n_slots, expected_slots);
		memset(opt, 0, sizeof(*opt));
		return EST_ECORRUPT;
	}
	if (stored_n != (uint64_t) n)
	{
		EstSetError(errmsg, "%s has %llu parameters, the network part %zu",
					what, (unsigned long long) stored_n, n);
		memset(opt, 0, sizeof(*opt));
		return EST_ECORRUPT;
	}
	/* n <= EST_MAX_PARAMS and n_slots <= 3: no overflow */
	if (c.left != 4 * (uint64_t) n_slots * stored_n)
	{
		EstSetError(errmsg, "%s section has %llu bytes, expected %llu", what,
					(unsigned long long) len,
					(unsigned long long) (OPTM_FIXED_LEN +
										  4 * (uint64_t) n_slots * stored_n));
		memset(opt, 0, sizeof(*opt));
		return EST_ECORRUPT;
	}

	/* EstOptimizerInit wants a positive rate; a checkpoint may hold 0 */
	learning_rate = opt->learning_rate;
	if (learning_rate == 0.0)
		opt->learning_rate = 1.0;
	status = EstOptimizerInit(opt, n, errmsg);
	opt->learning_rate = learning_rate;
	if (status != EST_OK)
		return status;
	opt->iterations = (int64_t) iterations;
	for (s = 0; s < n_slots; s++)
	{
		for (i = 0; i < n; i++)
		{
			float		v = GetF32(c.p + 4 * ((size_t) s * n + i));

			if (!SlotValueValid(opt->kind, (int) s, v))
			{
				EstSetError(errmsg, "%s slot %lu value %zu is out of range",
							what, (unsigned long) s, i);
				return EST_ECORRUPT;
			}
			opt->slot[s][i] = v;
		}
	}
	return EST_OK;
}

/*
 * DecodeFeatureState reads a FEAT or LABL payload into fs, which must hold
 * expected values (the network's inputs, or its outputs for LABL).
 */
static EstStatus
DecodeFeatureState(const uint8_t *p, uint64_t len, EstFeatureState *fs,
				   int expected, const char *what, char *errmsg)
{
	uint32_t	n;
	EstStatus	status;
	uint32_t	j;

	if (len < FEAT_FIXED_LEN)
	{
		EstSetError(errmsg, "%s section is too short: %llu bytes", what,
					(unsigned long long) len);
		return EST_ECORRUPT;
	}
	n = GetU32(p);
	if (n != (uint32_t) expected)
	{
		EstSetError(errmsg, "%s state has %lu values, the network needs %d",
					what, (unsigned long) n, expected);
		return EST_ECORRUPT;
	}
	if (len - FEAT_FIXED_LEN != 16 * (uint64_t) n)
	{
		EstSetError(errmsg, "%s section has %llu bytes, expected %llu", what,
					(unsigned long long) len,
					(unsigned long long) (FEAT_FIXED_LEN + 16 * (uint64_t) n));
		return EST_ECORRUPT;
	}
	status = EstFeatureStateInit(fs, (int) n, errmsg);
	if (status != EST_OK)
		return status;
	p += FEAT_FIXED_LEN;
	for (j = 0; j < n; j++)
	{
		double		shift = GetF64(p + 8 * (size_t) j);
		double		scale = GetF64(p + 8 * ((size_t) n + j));

		if (!isfinite(shift) || !isfinite(scale) || scale == 0.0)
		{
			EstSetError(errmsg, "%s state of value %lu is out of range", what,
						(unsigned long) j);
			return EST_ECORRUPT;
		}
		fs->shift[j] = shift;
		fs->scale[j] = scale;
	}
	return EST_OK;
}

/*
 * TakeString reads a string of the FCOL section into a new NUL-terminated
 * copy, checking its length against the limit and the bytes that remain
 * first; a zero byte inside is corruption.
 */
static EstStatus
TakeString(Cursor *c, int col_no, const char *what, char **out,
		   char *errmsg)
{
	uint32_t	len;

	*out = NULL;
	if (!TakeU32(c, &len))
	{
		EstSetError(errmsg, "feature column %d ends before its %s", col_no,
					what);
		return EST_ECORRUPT;
	}
	if (len > EST_MAX_VOCAB_BYTES)
	{
		EstSetError(errmsg, "feature column %d has a %s of %lu bytes, the limit is %d",
					col_no, what, (unsigned long) len, EST_MAX_VOCAB_BYTES);
		return EST_ELIMIT;
	}
	if (c->left < len)
	{
		EstSetError(errmsg, "feature column %d ends inside its %s", col_no,
					what);
		return EST_ECORRUPT;
	}
	if (memchr(c->p, '\0', len) != NULL)
	{
		EstSetError(errmsg, "feature column %d has a %s with a zero byte",
					col_no, what);
		return EST_ECORRUPT;
	}
	*out = EstAlloc((size_t) len + 1);
	if (*out == NULL)
	{
		EstSetError(errmsg, "could not allocate a %s of %lu bytes", what,
					(unsigned long) len);
		return EST_ENOMEM;
	}
	memcpy(*out, c->p, len);
	(*out)[len] = '\0';
	c->p += len;
	c->left -= len;
	return EST_OK;
}

/*
 * What a stored column says of its layout, compared with what
 * EstTransformInit computes, and where its statistics are.
 */
typedef struct StoredColumn
{
	uint32_t	offset;
	uint32_t	slots;
	int64_t		buckets;
	const uint8_t *stats;
} StoredColumn;

/* A u32 field that must fit an int (larger ones are out of every range). */
static int
AsInt(uint32_t v)
{
	return v > (uint32_t) INT32_MAX ? INT32_MAX : (int) v;
}

/* Whether one of the fields u[from .. to] does not fit an int. */
static int
AnyAboveInt(const uint32_t *u, int from, int to)
{
	int			i;

	for (i = from; i <= to; i++)
		if (u[i] > (uint32_t) INT32_MAX)
			return 1;
	return 0;
}

/*
 * DecodeColumn reads column col_no (counted from 1 in messages) of the
 * FCOL section into col, which starts zeroed; whatever it allocates
 * belongs to col even on failure.
 */
static EstStatus
DecodeColumn(Cursor *c, int col_no, EstFeatureColumn *col,
			 StoredColumn *stored, char *errmsg)
{
	uint32_t	u[25];
	uint64_t	w[2];
	uint64_t	q[5];
	double		default_value = 0.0;
	int			numeric;
	int			vocabulary;
	int			learned;
	int			embedding;
	int			bad = 0;
	EstStatus	status;
	uint32_t	i;

	if (!TakeU32(c, &u[0]))
		goto truncated;
	col->kind = (EstFeatureKind) AsInt(u[0]);
	status = TakeString(c, col_no, "name", &col->name, errmsg);
	if (status != EST_OK)
		return status;
	if (col->kind < EST_FC_NUMERIC || col->kind > EST_FC_CROSSED)
	{
		EstSetError(errmsg, "feature column \"%s\" has an unrecognized kind: %lu",
					col->name, (unsigned long) u[0]);
		return EST_ECORRUPT;
	}
	numeric = col->kind == EST_FC_NUMERIC;
	vocabulary = col->kind == EST_FC_VOCABULARY;
	if (!TakeU32(c, &u[1]))
		goto truncated;
	if (u[1] < 1 || u[1] > 8)
	{
		EstSetError(errmsg, "feature column \"%s\" reads %lu source columns",
					col->name, (unsigned long) u[1]);
		return EST_ECORRUPT;
	}
	col->keys = EstAllocZero(u[1], sizeof(char *));
	if (col->keys == NULL)
	{
		EstSetError(errmsg, "could not allocate the source columns of feature column \"%s\"",
					col->name);
		return EST_ENOMEM;
	}
	col->n_keys = (int) u[1];
	for (i = 0; i < u[1]; i++)
	{
		status = TakeString(c, col_no, "source column", &col->keys[i],
							errmsg);
		if (status != EST_OK)
			return status;
	}

	/* shape, normalizer, null_policy, default_value, multi, max_values */
	if (!TakeU32(c, &u[2]) || !TakeU32(c, &u[3]) || !TakeU32(c, &u[4]) ||
		!TakeF64(c, &default_value) || !TakeU32(c, &u[5]) ||
		!TakeU32(c, &u[6]) || !TakeU32(c, &u[7]))
		goto truncated;
	if (AnyAboveInt(u, 2, 6))
	{
		EstSetError(errmsg, "feature column \"%s\" has a field out of range",
					col->name);
		return EST_ECORRUPT;
	}
	if (numeric && u[2] > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "feature column \"%s\" has shape %lu, the limit is %d",
					col->name, (unsigned long) u[2], EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	col->shape = AsInt(u[2]);
	col->normalizer = (EstNormalizer) AsInt(u[3]);
	col->null_policy = (EstNullPolicy) AsInt(u[4]);
	col->default_value = default_value;
	col->multi = AsInt(u[5]);
	col->max_values = AsInt(u[6]);
	if (!numeric && (u[2] | u[3] | u[4]) != 0)
		bad = 1;
	if (!numeric && (default_value != 0.0 || signbit(default_value)))
		bad = 1;
	if ((numeric && (u[5] | u[6]) != 0) || u[5] > 1 ||
		(u[5] == 0 && u[6] != 0) || (u[5] == 1 && u[6] == 0))
		bad = 1;

	/* boundaries */
	if (col->kind != EST_FC_BUCKETIZED && u[7] != 0)
		bad = 1;
	if (u[7] > EST_MAX_BUCKETS - 1)
	{
		EstSetError(errmsg, "feature column \"%s\" has %lu boundaries, the limit is %d",
					col->name, (unsigned long) u[7], EST_MAX_BUCKETS - 1);
		return EST_ELIMIT;
	}
	if (c->left < 8 * (uint64_t) u[7])
		goto truncated;
	if (u[7] > 0 && !bad)
	{
		col->boundaries = EstAlloc(sizeof(double) * u[7]);
		if (col->boundaries == NULL)
		{
			EstSetError(errmsg, "could not allocate %lu boundaries",
						(unsigned long) u[7]);
			return EST_ENOMEM;
		}
		col->n_boundaries = (int) u[7];
		for (i = 0; i < u[7]; i++)
			(void) TakeF64(c, &col->boundaries[i]);
	}
	else
	{
		c->p += 8 * (size_t) u[7];
		c->left -= 8 * (uint64_t) u[7];
	}

	/* learned, num_oov, max_size, hash_above, auto_*, vocab_size */
	for (i = 8; i <= 14; i++)
		if (!TakeU32(c, &u[i]))
			goto truncated;
	if (AnyAboveInt(u, 8, 14))
	{
		EstSetError(errmsg, "feature column \"%s\" has a field out of range",
					col->name);
		return EST_ECORRUPT;
	}
	learned = vocabulary && u[8] == 1;
	if (u[8] > 1 || (!vocabulary && (u[8] | u[9] | u[14]) != 0) ||
		(!learned && (u[10] | u[11] | u[12] | u[13]) != 0))
		bad = 1;
	if (bad)
		goto unused;
	col->learned = (int) u[8];
	col->num_oov = AsInt(u[9]);
	col->max_size = AsInt(u[10]);
	col->hash_above = AsInt(u[11]);
	col->auto_buckets = AsInt(u[12]);
	col->auto_dimension = AsInt(u[13]);
	if (u[14] > EST_MAX_VOCABULARY)
	{
		EstSetError(errmsg, "feature column \"%s\" has a vocabulary of %lu entries, the limit is %d",
					col->name, (unsigned long) u[14], EST_MAX_VOCABULARY);
		return EST_ELIMIT;
	}
	if (c->left < (uint64_t) u[14] * (learned ? 12 : 4))
		goto truncated;
	if (u[14] > 0)
	{
		col->vocab = EstAllocZero(u[14], sizeof(char *));
		if (col->vocab == NULL ||
			(learned &&
			 (col->vocab_counts = EstAlloc(sizeof(int64_t) * u[14])) == NULL))
		{
			EstSetError(errmsg, "could not allocate a vocabulary of %lu entries",
						(unsigned long) u[14]);
			return EST_ENOMEM;
		}
		col->vocab_size = (int) u[14];
		for (i = 0; i < u[14]; i++)
		{
			status = TakeString(c, col_no, "vocabulary entry", &col->vocab[i],
								errmsg);
			if (status != EST_OK)
				return status;
		}
		for (i = 0; learned && i < u[14]; i++)
		{
			uint64_t	count;

			if (!TakeU64(c, &count))
				goto truncated;
			col->vocab_counts[i] = (int64_t) count;
			if (col->vocab_counts[i] < 0 ||
				(i > 0 && col->vocab_counts[i] > col->vocab_counts[i - 1]))
			{
				EstSetError(errmsg, "feature column \"%s\" has vocabulary counts that are negative or not most frequent first",
							col->name);
				return EST_ECORRUPT;
			}
		}
	}

	/* num_buckets, default_id, representation, dimension, combiner */
	if (!TakeU64(c, &w[0]) || !TakeU64(c, &w[1]) || !TakeU32(c, &u[15]) ||
		!TakeU32(c, &u[16]) || !TakeU32(c, &u[17]))
		goto truncated;
	if (AnyAboveInt(u, 15, 17))
		goto unused;
	col->num_buckets = (int64_t) w[0];
	col->default_id = (int64_t) w[1];
	if (col->kind != EST_FC_IDENTITY && col->kind != EST_FC_HASH &&
		col->kind != EST_FC_CROSSED && w[0] != 0)
		goto unused;
	if (col->kind != EST_FC_IDENTITY && w[1] != 0)
		goto unused;
	embedding = !numeric && u[15] == EST_INPUT_EMBEDDING;
	if ((numeric && u[15] != EST_INPUT_DENSE) ||
		(!numeric && u[15] != EST_INPUT_INDICATOR && !embedding) ||
		(!embedding && (u[16] | u[17]) != 0) || (embedding && u[17] == 0))
		goto unused;
	col->representation = (EstInputKind) u[15];
	col->dimension = AsInt(u[16]);
	col->combiner = (EstCombiner) AsInt(u[17]);

	/* offset, slots, buckets, null_count, value_count, n_stats */
	if (!TakeU32(c, &stored->offset) || !TakeU32(c, &stored->slots) ||
		!TakeU64(c, &q[0]) || !TakeU64(c, &q[1]) || !TakeU64(c, &q[2]) ||
		!TakeU32(c, &u[18]))
		goto truncated;
	stored->buckets = (int64_t) q[0];
	col->null_count = (int64_t) q[1];
	col->value_count = (int64_t) q[2];
	if (col->null_count < 0 || col->value_count < 0)
	{
		EstSetError(errmsg, "feature column \"%s\" has a negative count",
					col->name);
		return EST_ECORRUPT;
	}
	if (u[18] != (numeric ? u[2] : 0))
	{
		EstSetError(errmsg, "feature column \"%s\" has %lu statistics, expected %lu",
					col->name, (unsigned long) u[18],
					(unsigned long) (numeric ? u[2] : 0));
		return EST_ECORRUPT;
	}
	if (c->left < 48 * (uint64_t) u[18])
		goto truncated;
	stored->stats = c->p;
	c->p += 48 * (size_t) u[18];
	c->left -= 48 * (uint64_t) u[18];
	return EST_OK;

truncated:
	EstSetError(errmsg, "feature column %d is truncated", col_no);
	return EST_ECORRUPT;
unused:
	EstSetError(errmsg, "feature column \"%s\" sets a field that its kind does not use",
				col->name);
	return EST_ECORRUPT;
}

/*
 * CheckFittedColumn checks what EstTransformInit does not: the stored
 * layout against the computed one, learned sizes against their bounds,
 * and reads the statistics of a numeric column.
 */
static EstStatus
CheckFittedColumn(EstFeatureColumn *col, const StoredColumn *stored,
				  char *errmsg)
{
	int			j;

	if (stored->offset != (uint32_t) col->offset ||
		stored->slots != (uint32_t) col->slots ||
		stored->buckets != (col->kind == EST_FC_NUMERIC ? 0 : col->buckets))
	{
		EstSetError(errmsg, "feature column \"%s\" claims offset %lu, %lu slots and %lld buckets, its declaration gives %d, %d and %lld",
					col->name, (unsigned long) stored->offset,
					(unsigned long) stored->slots,
					(long long) stored->buckets, col->offset, col->slots,
					(long long) (col->kind == EST_FC_NUMERIC ? 0 :
								 col->buckets));
		return EST_ECORRUPT;
	}
	if (col->kind == EST_FC_VOCABULARY && col->learned &&
		((col->max_size > 0 && col->vocab_size > col->max_size) ||
		 (col->hash_above > 0 && col->vocab_size > col->hash_above)))
	{
		EstSetError(errmsg, "feature column \"%s\" has learned %d entries, more than it may keep",
					col->name, col->vocab_size);
		return EST_ECORRUPT;
	}
	if (col->kind != EST_FC_NUMERIC)
		return EST_OK;
	for (j = 0; j < col->shape; j++)
	{
		size_t		n = (size_t) col->shape;

		col->mean[j] = GetF64(stored->stats + 8 * (size_t) j);
		col->stddev[j] = GetF64(stored->stats + 8 * (n + j));
		col->min[j] = GetF64(stored->stats + 8 * (2 * n + j));
		col->max[j] = GetF64(stored->stats + 8 * (3 * n + j));
		col->shift[j] = GetF64(stored->stats + 8 * (4 * n + j));
		col->scale[j] = GetF64(stored->stats + 8 * (5 * n + j));
		if (!isfinite(col->mean[j]) || !isfinite(col->stddev[j]) ||
			!isfinite(col->min[j]) || !isfinite(col->max[j]) ||
			!isfinite(col->shift[j]) || !isfinite(col->scale[j]) ||
			col->stddev[j] < 0.0 || col->min[j] > col->max[j] ||
			!(col->scale[j] > 0.0))
		{
			EstSetError(errmsg, "feature column \"%s\" has statistics of value %d out of range",
						col->name, j);
			return EST_ECORRUPT;
		}
	}
	return EST_OK;
}

/*
 * DecodeFcol reads an FCOL payload into tf, which starts zeroed and is
 * the caller's to free even on failure, and checks it against the
 * network's input segments and inputs.  The encoder runs it too, on the
 * bytes it writes.
 */
static EstStatus
DecodeFcol(const uint8_t *p, uint64_t len, const EstInputSegment *segs,
		   int n_segs, uint32_t n_inputs, EstTransform *tf, char *errmsg)
{
	Cursor		c;
	uint32_t	head[4];
	StoredColumn *stored = NULL;
	EstInputSegment *mine = NULL;
	EstStatus	status = EST_OK;
	int			i;

	c.p = p;
	c.left = len;
	if (len < FCOL_FIXED_LEN)
	{
		EstSetError(errmsg, "feature column section is too short: %llu bytes",
					(unsigned long long) len);
		return EST_ECORRUPT;
	}
	for (i = 0; i < 4; i++)
		(void) TakeU32(&c, &head[i]);
	if (head[1] != 1 || head[2] > 1)
	{
		EstSetError(errmsg, "feature columns have an invalid fitted or legacy flag");
		return EST_ECORRUPT;
	}
	if (head[3] == 0)
	{
		EstSetError(errmsg, "checkpoint has no feature column");
		return EST_ECORRUPT;
	}
	if (head[3] > EST_MAX_SEGMENTS)
	{
		EstSetError(errmsg, "checkpoint has %lu feature columns, the limit is %d",
					(unsigned long) head[3], EST_MAX_SEGMENTS);
		return EST_ELIMIT;
	}
	if (c.left < FCOL_MIN_COLUMN_LEN * (uint64_t) head[3])
	{
		EstSetError(errmsg, "feature column section is too short for %lu columns",
					(unsigned long) head[3]);
		return EST_ECORRUPT;
	}
	tf->columns = EstAllocZero(head[3], sizeof(EstFeatureColumn));
	stored = EstAllocZero(head[3], sizeof(StoredColumn));
	mine = EstAllocZero(head[3], sizeof(EstInputSegment));
	if (tf->columns == NULL || stored == NULL || mine == NULL)
	{
		EstSetError(errmsg, "could not allocate %lu feature columns",
					(unsigned long) head[3]);
		status = EST_ENOMEM;
		goto done;
	}
	tf->n_columns = (int) head[3];
	for (i = 0; i < tf->n_columns && status == EST_OK; i++)
		status = DecodeColumn(&c, i + 1, &tf->columns[i], &stored[i], errmsg);
	if (status != EST_OK)
		goto done;
	if (c.left != 0)
	{
		EstSetError(errmsg, "feature column section has %llu bytes after its columns",
					(unsigned long long) c.left);
		status = EST_ECORRUPT;
		goto done;
	}
	if (head[2] && (tf->n_columns != 1 ||
					tf->columns[0].kind != EST_FC_NUMERIC ||
					tf->columns[0].normalizer != EST_NORM_ZSCORE))
	{
		EstSetError(errmsg, "legacy feature columns are not one z-scored numeric column");
		status = EST_ECORRUPT;
		goto done;
	}
	tf->fitted = 1;
	tf->legacy = (int) head[2];
	status = EstTransformInit(tf, errmsg);
	if (status == EST_EINVAL)
		status = EST_ECORRUPT;
	for (i = 0; i < tf->n_columns && status == EST_OK; i++)
		status = CheckFittedColumn(&tf->columns[i], &stored[i], errmsg);
	if (status != EST_OK)
		goto done;
	if ((uint32_t) tf->n_inputs != head[0] || head[0] != n_inputs)
	{
		EstSetError(errmsg, "feature columns have %d inputs and claim %lu, the network has %lu",
					tf->n_inputs, (unsigned long) head[0],
					(unsigned long) n_inputs);
		status = EST_ECORRUPT;
		goto done;
	}
	EstTransformSegments(tf, mine);
	if (!SegmentsAgree(mine, tf->n_columns, segs, n_segs))
	{
		EstSetError(errmsg, "feature columns do not match the network's input segments");
		status = EST_ECORRUPT;
	}

done:
	EstFree(stored);
	EstFree(mine);
	return status;
}

/*
 * DecodeLegacyFeatures reads the FEAT section of a version 1 checkpoint
 * into a legacy transform: one numeric z-score column of all inputs whose
 * mean and shift are the stored shift, whose standard deviation and scale
 * the stored scale (positive, as version 1 wrote it).
 */
static EstStatus
DecodeLegacyFeatures(const uint8_t *p, uint64_t len, int n_inputs,
					 EstTransform *tf, char *errmsg)
{
	EstFeatureState fs;
	EstFeatureColumn *col;
	EstStatus	status;
	int			j;

	memset(&fs, 0, sizeof(fs));
	status = DecodeFeatureState(p, len, &fs, n_inputs, "feature", errmsg);
	if (status != EST_OK)
	{
		EstFeatureStateFree(&fs);
		return status;
	}
	tf->columns = EstAllocZero(1, sizeof(EstFeatureColumn));
	if (tf->columns == NULL)
		goto nomem;
	tf->n_columns = 1;
	col = &tf->columns[0];
	col->kind = EST_FC_NUMERIC;
	col->name = EstAllocZero(1, 1);
	col->keys = EstAllocZero(1, sizeof(char *));
	if (col->name == NULL || col->keys == NULL)
		goto nomem;
	col->n_keys = 1;
	col->keys[0] = EstAllocZero(1, 1);
	if (col->keys[0] == NULL)
		goto nomem;
	col->shape = n_inputs;
	col->normalizer = EST_NORM_ZSCORE;
	col->null_policy = EST_NULL_ERROR;
	col->representation = EST_INPUT_DENSE;
	tf->fitted = 1;
	tf->legacy = 1;
	status = EstTransformInit(tf, errmsg);
	if (status != EST_OK)
	{
		EstFeatureStateFree(&fs);
		return status == EST_EINVAL ? EST_ECORRUPT : status;
	}
	for (j = 0; j < n_inputs; j++)
	{
		if (!(fs.scale[j] > 0.0))
		{
			EstSetError(errmsg, "feature state of value %d is out of range",
						j);
			EstFeatureStateFree(&fs);
			return EST_ECORRUPT;
		}
		col->mean[j] = col->shift[j] = fs.shift[j];
		col->stddev[j] = col->scale[j] = fs.scale[j];
	}
	EstFeatureStateFree(&fs);
	return EST_OK;

nomem:
	EstFeatureStateFree(&fs);
	EstSetError(errmsg, "could not allocate the legacy feature column");
	return EST_ENOMEM;
}

/*
 * DecodeStep reads the STEP payload.  An all-zero random state is
 * rejected: xoshiro would then return only zeros, and EstRngBounded
 * would never finish.
 */
static EstStatus
DecodeStep(const uint8_t *p, uint64_t len, EstCheckpoint *ckpt,
		   char *errmsg)
{
	int64_t		step;
	const char *bad;
	int			i;

	if (len != STEP_LEN)
	{
		EstSetError(errmsg, "step section has %llu bytes, expected %d",
					(unsigned long long) len, STEP_LEN);
		return EST_ECORRUPT;
	}
	step = (int64_t) GetU64(p);
	if (step < 0)
	{
		EstSetError(errmsg, "global step %lld is negative", (long long) step);
		return EST_ECORRUPT;
	}
	for (i = 0; i < 4; i++)
	{
		ckpt->rng.s[i] = GetU64(p + 8 + 8 * i);
		ckpt->epoch.rng.s[i] = GetU64(p + 40 + 8 * i);
	}
	ckpt->epoch.position = GetU64(p + 72);
	ckpt->epoch.n_rows = GetU64(p + 80);
	if (RngIsZero(&ckpt->rng))
	{
		EstSetError(errmsg, "random number generator state is all zero");
		return EST_ECORRUPT;
	}
	bad = EpochError(&ckpt->epoch);
	if (bad != NULL)
	{
		EstSetError(errmsg, "%s", bad);
		return EST_ECORRUPT;
	}
	ckpt->global_step = step;
	return EST_OK;
}

static EstStatus DecodeAfterNetwork(const uint8_t *const *payload,
									const uint64_t *payload_len,
									uint32_t version,
									const EstInputSegment *segments,
									int n_segments, EstCheckpoint *ckpt,
									char *errmsg);

/*
 * DecodeChecked does the work of EstCheckpointDecode; the caller frees
 * whatever it allocated when it fails.
 */
static EstStatus
DecodeChecked(const uint8_t *buf, size_t len, EstCheckpoint *ckpt,
			  char *errmsg)
{
	const uint8_t *payload[N_SECTIONS] = {NULL};
	uint64_t	payload_len[N_SECTIONS] = {0};
	EstInputSegment *segments = NULL;
	int			n_segments = 0;
	int			absent;
	uint32_t	version;
	uint64_t	total;
	uint32_t	stored;
	uint32_t	computed;
	uint32_t	n_sections;
	uint32_t	found = 0;
	size_t		pos;
	size_t		end;
	EstStatus	status;
	int			sec;

	if (buf == NULL || len < 12)
	{
		EstSetError(errmsg, "checkpoint is too short: %zu bytes",
					buf == NULL ? (size_t) 0 : len);
		return EST_ECORRUPT;
	}
	if (memcmp(buf, EST_CHECKPOINT_MAGIC, 8) != 0)
	{
		EstSetError(errmsg, "checkpoint does not start with the magic number");
		return EST_ECORRUPT;
	}
	version = GetU32(buf + 8);
	if (version > EST_CHECKPOINT_VERSION)
	{
		EstSetError(errmsg, "checkpoint format version %lu is newer than the supported version %d",
					(unsigned long) version, EST_CHECKPOINT_VERSION);
		return EST_EVERSION;
	}
	if (version == 0)
	{
		EstSetError(errmsg, "checkpoint format version 0 is invalid");
		return EST_ECORRUPT;
	}
	if (len < HEADER_LEN + TRAILER_LEN)
	{
		EstSetError(errmsg, "checkpoint is too short: %zu bytes", len);
		return EST_ECORRUPT;
	}
	total = GetU64(buf + 12);
	if (total != (uint64_t) len)
	{
		EstSetError(errmsg, "checkpoint length field is %llu, but the checkpoint has %zu bytes",
					(unsigned long long) total, len);
		return EST_ECORRUPT;
	}
	stored = GetU32(buf + len - TRAILER_LEN);
	computed = EstCrc32c(0, buf, len - TRAILER_LEN);
	if (stored != computed)
	{
		EstSetError(errmsg, "stored checksum is %08X, computed %08X",
					(unsigned int) stored, (unsigned int) computed);
		return EST_ECORRUPT;
	}

	/* Walk the sections, checking each length against what remains. */
	n_sections = GetU32(buf + 20);
	pos = HEADER_LEN;
	end = len - TRAILER_LEN;
	while (pos < end)
	{
		const uint8_t *tag;
		uint64_t	plen;

		if (end - pos < SECTION_HEADER_LEN)
		{
			EstSetError(errmsg, "section header at byte %zu is truncated", pos);
			return EST_ECORRUPT;
		}
		tag = buf + pos;
		plen = GetU64(buf + pos + 4);
		pos += SECTION_HEADER_LEN;
		for (sec = 0; sec < N_SECTIONS; sec++)
			if (memcmp(tag, section_tags[sec], 4) == 0)
				break;
		if (sec == N_SECTIONS)
		{
			EstSetError(errmsg, "unrecognized section tag %02X%02X%02X%02X at byte %zu",
						tag[0], tag[1], tag[2], tag[3], pos - SECTION_HEADER_LEN);
			return EST_ECORRUPT;
		}
		if (plen > (uint64_t) (end - pos))
		{
			EstSetError(errmsg, "section \"%s\" claims %llu bytes, but only %zu remain",
						section_tags[sec], (unsigned long long) plen, end - pos);
			return EST_ECORRUPT;
		}
		if (payload[sec] != NULL)
		{
			EstSetError(errmsg, "section \"%s\" appears more than once",
						section_tags[sec]);
			return EST_ECORRUPT;
		}
		payload[sec] = buf + pos;
		payload_len[sec] = plen;
		pos += (size_t) plen;
		found++;
	}
	if (found != n_sections)
	{
		EstSetError(errmsg, "checkpoint claims %lu sections, but has %lu",
					(unsigned long) n_sections, (unsigned long) found);
		return EST_ECORRUPT;
	}
	/* version 1 has FEAT where version 2 has FCOL */
	absent = version < 2 ? SEC_FCOL : SEC_FEAT;
	if (payload[absent] != NULL)
	{
		EstSetError(errmsg, "section \"%s\" is not part of format version %lu",
					section_tags[absent], (unsigned long) version);
		return EST_ECORRUPT;
	}
	for (sec = 0; sec < N_SECTIONS; sec++)
	{
		if (payload[sec] == NULL && sec != SEC_OPTL && sec != SEC_LABL &&
			sec != absent)
		{
			EstSetError(errmsg, "section \"%s\" is missing", section_tags[sec]);
			return EST_ECORRUPT;
		}
	}

	status = DecodeNetwork(payload[SEC_NETW], payload_len[SEC_NETW], version,
						   ckpt, &segments, &n_segments, errmsg);
	if (status != EST_OK)
	{
		EstFree(segments);
		return status;
	}
	status = DecodeAfterNetwork(payload, payload_len, version, segments,
								n_segments, ckpt, errmsg);
	EstFree(segments);
	return status;
}

/*
 * DecodeAfterNetwork reads the sections that depend on the decoded
 * network: the optimizers, the feature columns (FCOL checked against the
 * network's segments, or a version 1 FEAT), the labels and the step.
 */
static EstStatus
DecodeAfterNetwork(const uint8_t *const *payload, const uint64_t *payload_len,
				   uint32_t version, const EstInputSegment *segments,
				   int n_segments, EstCheckpoint *ckpt, char *errmsg)
{
	EstStatus	status;

	if (ckpt->net.n_linear_inputs > 0 && payload[SEC_OPTL] == NULL)
	{
		EstSetError(errmsg, "section \"OPTL\" is missing, but the network has a linear part");
		return EST_ECORRUPT;
	}
	if (ckpt->net.n_linear_inputs == 0 && payload[SEC_OPTL] != NULL)
	{
		EstSetError(errmsg, "section \"OPTL\" is present, but the network has no linear part");
		return EST_ECORRUPT;
	}
	status = DecodeOptimizer(payload[SEC_OPTM], payload_len[SEC_OPTM],
							 &ckpt->opt, ckpt->net.linear_offset,
							 "optimizer", errmsg);
	if (status == EST_OK && payload[SEC_OPTL] != NULL)
		status = DecodeOptimizer(payload[SEC_OPTL], payload_len[SEC_OPTL],
								 &ckpt->opt_linear,
								 ckpt->net.n_params - ckpt->net.linear_offset,
								 "linear optimizer", errmsg);
	if (status == EST_OK && version < 2)
		status = DecodeLegacyFeatures(payload[SEC_FEAT],
									  payload_len[SEC_FEAT],
									  ckpt->net.n_inputs, &ckpt->transform,
									  errmsg);
	else if (status == EST_OK)
		status = DecodeFcol(payload[SEC_FCOL], payload_len[SEC_FCOL],
							segments, n_segments,
							(uint32_t) ckpt->net.n_inputs, &ckpt->transform,
							errmsg);
	if (status == EST_OK && (payload[SEC_LABL] != NULL) !=
		(LabelsExpected(&ckpt->net) > 0))
	{
		EstSetError(errmsg, "section \"LABL\" is %s, but the network is %sa regressor",
					payload[SEC_LABL] != NULL ? "present" : "missing",
					payload[SEC_LABL] != NULL ? "not " : "");
		status = EST_ECORRUPT;
	}
	if (status == EST_OK && payload[SEC_LABL] != NULL)
		status = DecodeFeatureState(payload[SEC_LABL], payload_len[SEC_LABL],
									&ckpt->labels, LabelsExpected(&ckpt->net),
									"label", errmsg);
	if (status == EST_OK)
		status = DecodeStep(payload[SEC_STEP], payload_len[SEC_STEP], ckpt,
							errmsg);
	return status;
}

/*
 * EstCheckpointDecode fills ckpt from len bytes of buf.  On failure it
 * frees everything it allocated and leaves ckpt zeroed, so that
 * EstCheckpointFree is still safe.
 */
EstStatus
EstCheckpointDecode(const uint8_t *buf, size_t len, EstCheckpoint *ckpt,
					char *errmsg)
{
	EstStatus	status;

	memset(ckpt, 0, sizeof(*ckpt));
	status = DecodeChecked(buf, len, ckpt, errmsg);
	if (status != EST_OK)
		EstCheckpointFree(ckpt);
	return status;
}

/*
 * EstCheckpointFree releases every part of ckpt and zeroes it.
 */
void
EstCheckpointFree(EstCheckpoint *ckpt)
{
	EstNetworkFree(&ckpt->net);
	EstOptimizerFree(&ckpt->opt);
	EstOptimizerFree(&ckpt->opt_linear);
	EstTransformFree(&ckpt->transform);
	EstFeatureStateFree(&ckpt->labels);
	memset(ckpt, 0, sizeof(*ckpt));
}
