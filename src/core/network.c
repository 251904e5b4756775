/*-------------------------------------------------------------------------
 *
 * network.c
 *	  Dense layers: specifications, initialisation, forward and backward
 *	  passes, heads and regularisation.
 *
 * A network keeps its trainable parameters in one float32 vector (layout
 * in estcore.h): kernels and biases of the dense layers, then gamma and
 * beta of each batch-normalised hidden layer (gamma_1, beta_1, gamma_2,
 * beta_2, ...), then the table of each embedding segment, then the kernel
 * and bias of the linear part.  A batch of n rows flows through the
 * layers as row-major matrices.
 *
 * Input segments turn each compact row of X (n_inputs floats) into an
 * input vector (input_width floats): a dense segment is copied, an
 * indicator segment becomes the count of each of its ids, an embedding
 * segment the combination (sum, mean or sqrtn) of the table rows of its
 * ids.  A slot whose value is not an integer in [0, buckets) -- -1, but
 * also NaN, 2.5 or an id past the last bucket -- counts as empty, so that
 * no value of X can make the network read outside a table.  When every
 * segment is dense (always so without segments in the specification) the
 * input vector is the row of X itself and nothing is copied; otherwise
 * the forward pass first assembles the batch's input vectors into
 * ws->assembled, and the DNN and the linear part read those.
 *
 * For a hidden layer l (1 <= l < n_layers):
 *
 *		z = act[l-1] * W_{l-1} + b_{l-1}				(EstGemm)
 *		y = gamma_l * (z - mean) / sqrt(var + eps) + beta_l	(batch_norm)
 *		act[l] = f(y) * mask_l							(dropout, training)
 *
 * where act[0] is the input vector (the caller's X or ws->assembled), or
 * the DNN inputs gathered from it into ws->input when the specification
 * names dnn_inputs; without batch_norm y = z.
 * ws->pre[l] keeps, per hidden layer, what the backward pass needs to
 * recover y: x_hat = (z - mean) / sqrt(var + eps) with batch_norm (y is
 * then recomputed as gamma * x_hat + beta), z itself without, except for
 * relu, leaky relu and linear, whose derivatives the backward pass reads
 * off act[l] (see SignActivation).  The
 * output layer has neither batch_norm nor activation nor dropout; its
 * values plus the linear part's vec[:, linear_inputs] W_lin + b_lin (vec
 * the input vectors) are the logits read by the head.
 *
 * A training forward normalises with the batch's mean and population
 * variance (computed in double, column by column) and then moves the
 * moving statistics towards them; an inference forward normalises with
 * the moving statistics.  Dropout masks are drawn only by a training
 * forward with dropout > 0: one EstRngUniform per unit, layer by layer
 * (l = 1 .. n_layers-1), row by row, unit by unit; a unit is dropped
 * when its draw is below the rate, and kept units are scaled by
 * 1 / (1 - rate).
 *
 * The backward pass leaves in ws->delta[l] the gradient of the loss with
 * respect to the dense output z of layer l (before batch_norm), and in
 * ws->delta[n_layers] the gradient with respect to the logits, written by
 * EstHeadLoss.  After a training forward, batch_norm is differentiated
 * through the batch statistics; after an inference forward the moving
 * statistics are constants.  With embedding segments the backward pass
 * also computes, in ws->delta[0] (n x input_width), the gradient with
 * respect to the input vector's embedding columns -- delta[1] W_0^T, each
 * DNN input adding into the column it was gathered from -- and scatters
 * it into the gradients of the table rows that each row's ids selected,
 * scaled by the combiner's weight.  Indicator segments have no
 * parameters, and no gradient flows into X.
 *
 * EstNetworkPredictOne scores one row with its own loops, because a matrix
 * product of one row would not pay for the BLAS call.  A hidden layer
 * keeps 64 outputs at a time in vector registers while it walks the
 * inputs (out[j] += x[i] * W[i * out + j], i outside; LayerOne), the
 * logits accumulate in double, four at a time (AddProducts): each output
 * is always summed in the order of the inputs, so results are
 * deterministic.  It assembles the input vector with the same code as the
 * batched forward.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "estcore.h"

#define EST_DEFAULT_BN_MOMENTUM		0.99
#define EST_DEFAULT_BN_EPSILON		0.001
#define EST_LEAKY_RELU_ALPHA		0.2f

/* ----------------------------------------------------------------
 * Specifications
 * ----------------------------------------------------------------
 */

/*
 * SpecCount holds the sizes of a checked specification.
 */
typedef struct SpecCount
{
	int			input_width;
	int			has_expansion;
	int			n_layers;
	int			sizes[EST_MAX_LAYERS + 2];
	uint64_t	n_params;
	uint64_t	embed_offset;	/* of the first embedding table */
	uint64_t	linear_offset;
	uint64_t	n_stats;
} SpecCount;

static int
ValidActivation(EstActivation a)
{
	return a >= EST_ACT_RELU && a <= EST_ACT_GELU;
}

/*
 * CheckInputList checks a list of n input indexes (the DNN's, or the
 * linear part's): a sane count, within the limits, each index a column
 * of the input vector (below width).
 */
static EstStatus
CheckInputList(const int *inputs, int n, int width, const char *what,
			   char *errmsg)
{
	if (n < 0 || (n > 0 && inputs == NULL))
	{
		EstSetError(errmsg, "invalid number of %s inputs: %d", what, n);
		return EST_EINVAL;
	}
	if (n > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "%s reads %d inputs, the limit is %d", what, n,
					EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	for (int i = 0; i < n; i++)
	{
		if (inputs[i] < 0 || inputs[i] >= width)
		{
			EstSetError(errmsg, "%s input %d is %d, not an input index below %d",
						what, i, inputs[i], width);
			return EST_EINVAL;
		}
	}
	return EST_OK;
}

/*
 * SegmentWidth returns the floats a checked segment takes in the input
 * vector.
 */
static int
SegmentWidth(const EstInputSegment *seg)
{
	switch (seg->kind)
	{
		case EST_INPUT_INDICATOR:
			return seg->buckets;
		case EST_INPUT_EMBEDDING:
			return seg->dimension;
		default:
			return seg->slots;
	}
}

/*
 * CheckSegmentCount checks one count of input segment s (its slots or its
 * buckets): at least 1 (EST_EINVAL), at most max (EST_ELIMIT, with both
 * figures).
 */
static EstStatus
CheckSegmentCount(int s, int value, int max, const char *one,
				  const char *many, char *errmsg)
{
	if (value < 1)
	{
		EstSetError(errmsg, "input segment %d must have at least 1 %s, not %d",
					s, one, value);
		return EST_EINVAL;
	}
	if (value > max)
	{
		EstSetError(errmsg, "input segment %d has %d %s, the limit is %d",
					s, value, many, max);
		return EST_ELIMIT;
	}
	return EST_OK;
}

/*
 * CheckSegments checks the input segments of spec: their number, each
 * segment's kind, slots, buckets, dimension and combiner (the fields its
 * kind uses; the others are ignored), that their slots add up to
 * n_inputs and that the input vector fits in EST_MAX_UNITS.  It fills
 * count->input_width and count->has_expansion and adds the embedding
 * tables to *table_params.  Without segments X is one dense segment.
 * Sums run in 64 bits, so that no combination of valid segments
 * overflows them.
 */
static EstStatus
CheckSegments(const EstNetworkSpec *spec, SpecCount *count,
			  uint64_t *table_params, char *errmsg)
{
	EstStatus	status;
	uint64_t	slots = 0;
	uint64_t	width = 0;
	int			s;

	*table_params = 0;
	if (spec->n_segments == 0)
	{
		count->input_width = spec->n_inputs;
		count->has_expansion = 0;
		return EST_OK;
	}
	if (spec->n_segments < 0 || spec->segments == NULL)
	{
		EstSetError(errmsg, "invalid number of input segments: %d",
					spec->n_segments);
		return EST_EINVAL;
	}
	if (spec->n_segments > EST_MAX_SEGMENTS)
	{
		EstSetError(errmsg, "network has %d input segments, the limit is %d",
					spec->n_segments, EST_MAX_SEGMENTS);
		return EST_ELIMIT;
	}
	for (s = 0; s < spec->n_segments; s++)
	{
		const EstInputSegment *seg = &spec->segments[s];
		int			max_slots;

		if (seg->kind != EST_INPUT_DENSE && seg->kind != EST_INPUT_INDICATOR &&
			seg->kind != EST_INPUT_EMBEDDING)
		{
			EstSetError(errmsg, "unrecognized kind of input segment %d: %d",
						s, (int) seg->kind);
			return EST_EINVAL;
		}
		max_slots = seg->kind == EST_INPUT_DENSE ? EST_MAX_UNITS :
			EST_MAX_MULTI;
		status = CheckSegmentCount(s, seg->slots, max_slots, "slot", "slots",
								   errmsg);
		if (status == EST_OK && seg->kind != EST_INPUT_DENSE)
			status = CheckSegmentCount(s, seg->buckets, EST_MAX_BUCKETS,
									   "bucket", "buckets", errmsg);
		if (status != EST_OK)
			return status;
		if (seg->kind == EST_INPUT_EMBEDDING)
		{
			if (seg->dimension < 1)
			{
				EstSetError(errmsg, "embedding dimension of input segment %d must be at least 1, not %d",
							s, seg->dimension);
				return EST_EINVAL;
			}
			if (seg->dimension > EST_MAX_EMBEDDING)
			{
				EstSetError(errmsg, "input segment %d has embedding dimension %d, the limit is %d",
							s, seg->dimension, EST_MAX_EMBEDDING);
				return EST_ELIMIT;
			}
			if (seg->combiner != EST_COMBINER_SUM &&
				seg->combiner != EST_COMBINER_MEAN &&
				seg->combiner != EST_COMBINER_SQRTN)
			{
				EstSetError(errmsg, "unrecognized combiner of input segment %d: %d",
							s, (int) seg->combiner);
				return EST_EINVAL;
			}
			*table_params += (uint64_t) seg->buckets *
				(uint64_t) seg->dimension;
		}
		if (seg->kind != EST_INPUT_DENSE)
			count->has_expansion = 1;
		slots += (uint64_t) seg->slots;
		width += (uint64_t) SegmentWidth(seg);
	}
	if (slots != (uint64_t) spec->n_inputs)
	{
		EstSetError(errmsg, "input segments have %llu slots, the network has %d inputs",
					(unsigned long long) slots, spec->n_inputs);
		return EST_EINVAL;
	}
	if (width > (uint64_t) EST_MAX_UNITS)
	{
		EstSetError(errmsg, "input vector has %llu values, the limit is %d",
					(unsigned long long) width, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	count->input_width = (int) width;
	return EST_OK;
}

/*
 * CheckLinearInputs rejects a linear part that reads a column of an
 * embedding segment: the tables belong to the DNN and its optimizer.  It
 * marks the embedding columns of the input vector in a bitmap on the
 * stack (input_width <= EST_MAX_UNITS, checked), so that the check costs
 * one pass over the segments and one over the linear inputs.
 */
static EstStatus
CheckLinearInputs(const EstNetworkSpec *spec, int input_width, char *errmsg)
{
	uint8_t		embedded[(EST_MAX_UNITS + 7) / 8];
	int			any = 0;
	int			start = 0;
	int			s;
	int			k;

	if (spec->n_linear_inputs == 0 || spec->n_segments == 0)
		return EST_OK;
	memset(embedded, 0, ((size_t) input_width + 7) / 8);
	for (s = 0; s < spec->n_segments; s++)
	{
		const EstInputSegment *seg = &spec->segments[s];
		int			width = SegmentWidth(seg);

		if (seg->kind == EST_INPUT_EMBEDDING)
		{
			for (k = start; k < start + width; k++)
				embedded[k / 8] |= (uint8_t) (1 << (k % 8));
			any = 1;
		}
		start += width;
	}
	if (!any)
		return EST_OK;
	for (k = 0; k < spec->n_linear_inputs; k++)
	{
		int			p = spec->linear_inputs[k];

		if (embedded[p / 8] & (1 << (p % 8)))
		{
			/* find the segment for the message */
			start = 0;
			for (s = 0; s < spec->n_segments; s++)
			{
				start += SegmentWidth(&spec->segments[s]);
				if (p < start)
					break;
			}
			EstSetError(errmsg, "linear part input %d is %d, a column of embedding segment %d, which only the DNN can read",
						k, p, s);
			return EST_EINVAL;
		}
	}
	return EST_OK;
}

/*
 * CheckSpec checks spec against the limits and for consistency and fills
 * count.  It allocates nothing.  The parameter count is computed in 64
 * bits: with every size at most 65536, at most 33 dense layers and at
 * most 4096 tables of at most 2^34 values it cannot overflow.  Input
 * indexes (dnn_inputs, linear_inputs) are checked against the input
 * vector's width.
 */
static EstStatus
CheckSpec(const EstNetworkSpec *spec, SpecCount *count, char *errmsg)
{
	int			n_hidden = spec->n_hidden;
	int			n_outputs = spec->n_outputs;
	uint64_t	total = 0;
	uint64_t	hidden_units = 0;
	uint64_t	table_params;
	EstStatus	status;
	int			l;
	int			i;

	memset(count, 0, sizeof(*count));
	if (n_hidden < 0 || (n_hidden > 0 && spec->hidden == NULL))
	{
		EstSetError(errmsg, "invalid number of hidden layers: %d", n_hidden);
		return EST_EINVAL;
	}
	if (n_hidden > EST_MAX_LAYERS)
	{
		EstSetError(errmsg, "network has %d hidden layers, the limit is %d",
					n_hidden, EST_MAX_LAYERS);
		return EST_ELIMIT;
	}
	if (spec->n_inputs < 1)
	{
		EstSetError(errmsg, "network must have at least 1 input, not %d",
					spec->n_inputs);
		return EST_EINVAL;
	}
	if (spec->n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "network has %d inputs, the limit is %d",
					spec->n_inputs, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	status = CheckSegments(spec, count, &table_params, errmsg);
	if (status != EST_OK)
		return status;
	for (i = 0; i < n_hidden; i++)
	{
		if (spec->hidden[i] < 1)
		{
			EstSetError(errmsg, "hidden layer %d must have at least 1 unit, not %d",
						i + 1, spec->hidden[i]);
			return EST_EINVAL;
		}
		if (spec->hidden[i] > EST_MAX_UNITS)
		{
			EstSetError(errmsg, "hidden layer %d has %d units, the limit is %d",
						i + 1, spec->hidden[i], EST_MAX_UNITS);
			return EST_ELIMIT;
		}
	}
	if (n_outputs < 1)
	{
		EstSetError(errmsg, "network must have at least 1 output, not %d",
					n_outputs);
		return EST_EINVAL;
	}
	if (n_outputs > EST_MAX_CLASSES)
	{
		EstSetError(errmsg, "network has %d outputs, the limit is %d",
					n_outputs, EST_MAX_CLASSES);
		return EST_ELIMIT;
	}
	if (!ValidActivation(spec->activation))
	{
		EstSetError(errmsg, "unrecognized activation: %d",
					(int) spec->activation);
		return EST_EINVAL;
	}
	switch (spec->head)
	{
		case EST_HEAD_SOFTMAX:
			if (n_outputs < 2)
			{
				EstSetError(errmsg, "softmax head needs at least 2 classes, not %d",
							n_outputs);
				return EST_EINVAL;
			}
			break;
		case EST_HEAD_SQUARED:
			break;
		case EST_HEAD_SIGMOID:
			if (n_outputs != 1)
			{
				EstSetError(errmsg, "sigmoid head needs 1 output, not %d",
							n_outputs);
				return EST_EINVAL;
			}
			break;
		default:
			EstSetError(errmsg, "unrecognized head: %d", (int) spec->head);
			return EST_EINVAL;
	}
	if (spec->reduction != 0 &&
		spec->reduction != EST_REDUCE_SUM_OVER_BATCH_SIZE &&
		spec->reduction != EST_REDUCE_SUM &&
		spec->reduction != EST_REDUCE_MEAN)
	{
		EstSetError(errmsg, "unrecognized loss reduction: %d",
					(int) spec->reduction);
		return EST_EINVAL;
	}

	status = CheckInputList(spec->dnn_inputs, spec->n_dnn_inputs,
							count->input_width, "DNN", errmsg);
	if (status != EST_OK)
		return status;
	status = CheckInputList(spec->linear_inputs, spec->n_linear_inputs,
							count->input_width, "linear part", errmsg);
	if (status != EST_OK)
		return status;
	status = CheckLinearInputs(spec, count->input_width, errmsg);
	if (status != EST_OK)
		return status;

	/* batch normalisation and dropout */
	if (!isfinite(spec->bn_momentum) || spec->bn_momentum < 0.0 ||
		spec->bn_momentum >= 1.0)
	{
		EstSetError(errmsg, "batch normalization momentum must be in [0, 1), not %g",
					spec->bn_momentum);
		return EST_EINVAL;
	}
	if (!isfinite(spec->bn_epsilon) || spec->bn_epsilon < 0.0)
	{
		EstSetError(errmsg, "batch normalization epsilon must be positive, not %g",
					spec->bn_epsilon);
		return EST_EINVAL;
	}
	if (!isfinite(spec->dropout) || spec->dropout < 0.0 ||
		spec->dropout >= 1.0)
	{
		EstSetError(errmsg, "dropout rate must be in [0, 1), not %g",
					spec->dropout);
		return EST_EINVAL;
	}

	count->n_layers = n_hidden + 1;
	count->sizes[0] = spec->n_dnn_inputs > 0 ? spec->n_dnn_inputs :
		count->input_width;
	for (i = 0; i < n_hidden; i++)
	{
		count->sizes[i + 1] = spec->hidden[i];
		hidden_units += (uint64_t) spec->hidden[i];
	}
	count->sizes[n_hidden + 1] = n_outputs;
	for (l = 0; l < count->n_layers; l++)
		total += (uint64_t) count->sizes[l] * (uint64_t) count->sizes[l + 1] +
			(uint64_t) count->sizes[l + 1];
	if (spec->batch_norm)
	{
		total += 2 * hidden_units;
		count->n_stats = 2 * hidden_units;
	}
	count->embed_offset = total;
	total += table_params;
	count->linear_offset = total;
	if (spec->n_linear_inputs > 0)
		total += ((uint64_t) spec->n_linear_inputs + 1) * (uint64_t) n_outputs;
	count->n_params = total;
	if (total > (uint64_t) EST_MAX_PARAMS)
	{
		EstSetError(errmsg, "network needs %llu parameters, the limit is %llu",
					(unsigned long long) total,
					(unsigned long long) EST_MAX_PARAMS);
		return EST_ELIMIT;
	}
	return EST_OK;
}

/*
 * EstNetworkParamCount returns the number of trainable parameters of the
 * specification, or 0 when it is invalid or needs more than
 * EST_MAX_PARAMS.
 */
size_t
EstNetworkParamCount(const EstNetworkSpec *spec)
{
	SpecCount	count;

	if (CheckSpec(spec, &count, NULL) != EST_OK)
		return 0;
	return (size_t) count.n_params;
}

/*
 * EstNetworkCheck checks a specification as EstNetworkInit does, without
 * allocating anything, and says in errmsg what is wrong with it.
 */
EstStatus
EstNetworkCheck(const EstNetworkSpec *spec, char *errmsg)
{
	SpecCount	count;

	return CheckSpec(spec, &count, errmsg);
}

/*
 * UniformFill draws count values uniformly in [-limit, limit): (2u - 1) *
 * limit.
 */
static void
UniformFill(EstRng *rng, float *w, size_t count, double limit)
{
	size_t		k;

	for (k = 0; k < count; k++)
		w[k] = (float) ((2.0 * EstRngUniform(rng) - 1.0) * limit);
}

/*
 * GlorotFill draws count Glorot-uniform values for a kernel of fan_in
 * rows and fan_out columns: (2u - 1) * sqrt(6 / (fan_in + fan_out)).
 */
static void
GlorotFill(EstRng *rng, float *w, size_t count, int fan_in, int fan_out)
{
	UniformFill(rng, w, count,
				sqrt(6.0 / ((double) fan_in + (double) fan_out)));
}

/*
 * EstNetworkInit checks the specification, allocates the network and,
 * when rng is given, draws the Glorot-uniform kernels: those of the dense
 * layers in order (each row-major), then the linear part's; then the
 * embedding tables in segment order, uniform in [-sqrt(3/d), sqrt(3/d))
 * for dimension d (standard deviation 1/sqrt(d)), so that a network
 * without embeddings draws exactly what it drew before tables existed.
 * Biases and beta start at zero, gamma at one, moving means at zero and
 * moving variances at one (these last three also without rng).  Zero
 * momentum, epsilon and reduction mean the defaults.  The network keeps
 * a copy of the segments in which the fields their kind does not use are
 * zero; without segments in the specification it has one dense segment
 * of n_inputs.  On failure net is left zeroed.
 */
EstStatus
EstNetworkInit(EstNetwork *net, const EstNetworkSpec *spec, EstRng *rng,
			   char *errmsg)
{
	SpecCount	count;
	EstStatus	status;
	size_t		offset;
	size_t		stats_offset;
	int			n_segments;
	int			n_hidden;
	int			l;
	int			i;

	memset(net, 0, sizeof(*net));
	status = CheckSpec(spec, &count, errmsg);
	if (status != EST_OK)
		return status;

	n_hidden = spec->n_hidden;
	n_segments = spec->n_segments > 0 ? spec->n_segments : 1;
	net->n_inputs = spec->n_inputs;
	net->input_width = count.input_width;
	net->has_expansion = count.has_expansion;
	net->n_layers = count.n_layers;
	memcpy(net->sizes, count.sizes, sizeof(net->sizes));
	net->activation = spec->activation;
	net->head = spec->head;
	net->reduction = spec->reduction != 0 ? spec->reduction :
		EST_REDUCE_SUM_OVER_BATCH_SIZE;
	net->batch_norm = spec->batch_norm ? 1 : 0;
	net->bn_momentum = spec->bn_momentum != 0.0 ? spec->bn_momentum :
		EST_DEFAULT_BN_MOMENTUM;
	net->bn_epsilon = spec->bn_epsilon != 0.0 ? spec->bn_epsilon :
		EST_DEFAULT_BN_EPSILON;
	net->dropout = spec->dropout;
	net->n_params = (size_t) count.n_params;
	net->linear_offset = (size_t) count.linear_offset;
	net->n_stats = (size_t) count.n_stats;

	offset = 0;
	for (l = 0; l < net->n_layers; l++)
	{
		net->offset_w[l] = offset;
		offset += (size_t) net->sizes[l] * (size_t) net->sizes[l + 1];
		net->offset_b[l] = offset;
		offset += (size_t) net->sizes[l + 1];
	}
	stats_offset = 0;
	if (net->batch_norm)
	{
		for (l = 1; l <= n_hidden; l++)
		{
			net->offset_gamma[l] = offset;
			offset += (size_t) net->sizes[l];
			net->offset_beta[l] = offset;
			offset += (size_t) net->sizes[l];
			net->offset_stats[l] = stats_offset;
			stats_offset += 2 * (size_t) net->sizes[l];
		}
	}

	net->params = EstAllocZero(net->n_params, sizeof(float));
	net->segments = EstAllocZero((size_t) n_segments,
								 sizeof(EstInputSegment));
	net->offset_embed = EstAllocZero((size_t) n_segments, sizeof(size_t));
	if (net->n_stats > 0)
		net->stats = EstAllocZero(net->n_stats, sizeof(float));
	if (spec->n_dnn_inputs > 0)
		net->dnn_inputs = EstAllocZero((size_t) spec->n_dnn_inputs,
									   sizeof(int));
	if (spec->n_linear_inputs > 0)
		net->linear_inputs = EstAllocZero((size_t) spec->n_linear_inputs,
										  sizeof(int));
	if (net->params == NULL || net->segments == NULL ||
		net->offset_embed == NULL ||
		(net->n_stats > 0 && net->stats == NULL) ||
		(spec->n_dnn_inputs > 0 && net->dnn_inputs == NULL) ||
		(spec->n_linear_inputs > 0 && net->linear_inputs == NULL))
	{
		EstSetError(errmsg, "could not allocate a network of %zu parameters",
					net->n_params);
		EstNetworkFree(net);
		return EST_ENOMEM;
	}

	/* the segments, and the tables after gamma and beta */
	net->n_segments = n_segments;
	if (spec->n_segments == 0)
	{
		net->segments[0].kind = EST_INPUT_DENSE;
		net->segments[0].slots = spec->n_inputs;
	}
	offset = (size_t) count.embed_offset;
	for (i = 0; i < spec->n_segments; i++)
	{
		const EstInputSegment *seg = &spec->segments[i];
		EstInputSegment *copy = &net->segments[i];

		copy->kind = seg->kind;
		copy->slots = seg->slots;
		if (seg->kind != EST_INPUT_DENSE)
			copy->buckets = seg->buckets;
		if (seg->kind == EST_INPUT_EMBEDDING)
		{
			copy->dimension = seg->dimension;
			copy->combiner = seg->combiner;
			net->offset_embed[i] = offset;
			offset += (size_t) seg->buckets * (size_t) seg->dimension;
		}
	}

	net->n_dnn_inputs = spec->n_dnn_inputs;
	for (i = 0; i < spec->n_dnn_inputs; i++)
		net->dnn_inputs[i] = spec->dnn_inputs[i];
	net->n_linear_inputs = spec->n_linear_inputs;
	for (i = 0; i < spec->n_linear_inputs; i++)
		net->linear_inputs[i] = spec->linear_inputs[i];

	if (net->batch_norm)
	{
		for (l = 1; l <= n_hidden; l++)
		{
			float	   *gamma = net->params + net->offset_gamma[l];
			float	   *var = net->stats + net->offset_stats[l] + net->sizes[l];

			for (i = 0; i < net->sizes[l]; i++)
			{
				gamma[i] = 1.0f;
				var[i] = 1.0f;
			}
		}
	}

	if (rng != NULL)
	{
		for (l = 0; l < net->n_layers; l++)
			GlorotFill(rng, net->params + net->offset_w[l],
					   (size_t) net->sizes[l] * (size_t) net->sizes[l + 1],
					   net->sizes[l], net->sizes[l + 1]);
		if (net->n_linear_inputs > 0)
			GlorotFill(rng, net->params + net->linear_offset,
					   (size_t) net->n_linear_inputs *
					   (size_t) net->sizes[net->n_layers],
					   net->n_linear_inputs, net->sizes[net->n_layers]);
		for (i = 0; i < net->n_segments; i++)
		{
			const EstInputSegment *seg = &net->segments[i];

			if (seg->kind == EST_INPUT_EMBEDDING)
				UniformFill(rng, net->params + net->offset_embed[i],
							(size_t) seg->buckets * (size_t) seg->dimension,
							sqrt(3.0 / (double) seg->dimension));
		}
	}
	return EST_OK;
}

/*
 * EstNetworkFree releases the network and zeroes net; it is safe on a
 * zeroed or already freed network.
 */
void
EstNetworkFree(EstNetwork *net)
{
	EstFree(net->params);
	EstFree(net->segments);
	EstFree(net->offset_embed);
	EstFree(net->stats);
	EstFree(net->dnn_inputs);
	EstFree(net->linear_inputs);
	memset(net, 0, sizeof(*net));
}

/* ----------------------------------------------------------------
 * Workspaces
 * ----------------------------------------------------------------
 */

/*
 * AllocMatrix allocates rows x cols zeroed floats, or returns NULL.
 */
static float *
AllocMatrix(int rows, int cols)
{
	size_t		count = (size_t) rows;

	if (cols > 0 && count > ((size_t) -1) / sizeof(float) / (size_t) cols)
		return NULL;
	return EstAllocZero(count * (size_t) cols, sizeof(float));
}

/*
 * HasEmbedding returns whether some input segment of net is an
 * embedding.
 */
static int
HasEmbedding(const EstNetwork *net)
{
	int			s;

	if (!net->has_expansion)
		return 0;
	for (s = 0; s < net->n_segments; s++)
		if (net->segments[s].kind == EST_INPUT_EMBEDDING)
			return 1;
	return 0;
}

/*
 * EstWorkspaceRows returns the rows, from 1 to max_rows, of a workspace
 * whose buffers of a row each (those EstWorkspaceInit allocates for every
 * row: input vectors, activations, gradients, pre-activations and masks)
 * fit in budget bytes.
 */
int
EstWorkspaceRows(const EstNetwork *net, int max_rows, size_t budget)
{
	size_t		floats = 0;
	size_t		rows;

	if (net->has_expansion)
		floats += (size_t) net->input_width * (HasEmbedding(net) ? 2 : 1);
	if (net->n_dnn_inputs > 0)
		floats += (size_t) net->sizes[0];
	for (int l = 1; l <= net->n_layers; l++)
		floats += (size_t) net->sizes[l] *
			(l == net->n_layers ? 2 : net->dropout > 0.0 ? 4 : 3);
	rows = budget / ((floats > 0 ? floats : 1) * sizeof(float));
	if (rows < 1)
		return 1;
	return rows < (size_t) max_rows ? (int) rows : max_rows;
}

/*
 * EstWorkspaceInit allocates the buffers for batches of up to max_batch
 * rows of net: the assembled input vectors (when some segment is not
 * dense), activations and gradients of every layer, the gathered DNN
 * inputs, pre-activations of the hidden layers, batch statistics and
 * dropout masks as the network needs them, and with embedding segments
 * delta[0], the gradient with respect to the input vectors.  On failure
 * ws is zeroed.
 */
EstStatus
EstWorkspaceInit(EstWorkspace *ws, const EstNetwork *net, int max_batch,
				 char *errmsg)
{
	int			l;

	memset(ws, 0, sizeof(*ws));
	if (max_batch < 1)
	{
		EstSetError(errmsg, "batch size must be at least 1, not %d", max_batch);
		return EST_EINVAL;
	}
	ws->max_batch = max_batch;
	if (net->has_expansion)
	{
		ws->assembled = AllocMatrix(max_batch, net->input_width);
		if (ws->assembled == NULL)
			goto nomem;
	}
	if (HasEmbedding(net))
	{
		ws->delta[0] = AllocMatrix(max_batch, net->input_width);
		if (ws->delta[0] == NULL)
			goto nomem;
	}
	if (net->n_dnn_inputs > 0)
	{
		ws->input = AllocMatrix(max_batch, net->sizes[0]);
		if (ws->input == NULL)
			goto nomem;
	}
	for (l = 1; l <= net->n_layers; l++)
	{
		ws->act[l] = AllocMatrix(max_batch, net->sizes[l]);
		ws->delta[l] = AllocMatrix(max_batch, net->sizes[l]);
		if (ws->act[l] == NULL || ws->delta[l] == NULL)
			goto nomem;
		if (l == net->n_layers)
			break;
		ws->pre[l] = AllocMatrix(max_batch, net->sizes[l]);
		if (ws->pre[l] == NULL)
			goto nomem;
		if (net->batch_norm)
		{
			ws->batch_mean[l] = AllocMatrix(1, net->sizes[l]);
			ws->batch_inv_std[l] = AllocMatrix(1, net->sizes[l]);
			if (ws->batch_mean[l] == NULL || ws->batch_inv_std[l] == NULL)
				goto nomem;
		}
		if (net->dropout > 0.0)
		{
			ws->mask[l] = AllocMatrix(max_batch, net->sizes[l]);
			if (ws->mask[l] == NULL)
				goto nomem;
		}
	}
	{
		size_t		transposed = EstTransposedFloats(net->sizes + 1,
													 net->n_layers - 1,
													 net->sizes[net->n_layers]);

		if (transposed > 0)
		{
			ws->transposed = EstAlloc(sizeof(float) * transposed);
			if (ws->transposed == NULL)
				goto nomem;
		}
	}
	if (net->head == EST_HEAD_SOFTMAX)
	{
		int			k = net->sizes[net->n_layers];

		ws->exps = EstAlloc(sizeof(double) *
							(size_t) (k > EST_EXP_GROUP ? k : EST_EXP_GROUP));
		if (ws->exps == NULL)
			goto nomem;
	}
	ws->grad = EstAllocZero(net->n_params, sizeof(float));
	if (ws->grad == NULL)
		goto nomem;
	return EST_OK;

nomem:
	EstWorkspaceFree(ws);
	EstSetError(errmsg, "could not allocate a workspace for batches of %d rows",
				max_batch);
	return EST_ENOMEM;
}

/*
 * EstTransposedFloats returns the floats of the workspace's transposed
 * kernel for hidden layers of these n_hidden sizes and n_outputs outputs:
 * the largest kernel a hidden layer feeds (the next one's, or the output
 * layer's) of at most EST_TRANSPOSED_MAX weights, 0 when none is.
 */
size_t
EstTransposedFloats(const int *hidden, int n_hidden, int n_outputs)
{
	size_t		largest = 0;

	for (int l = 0; l < n_hidden; l++)
	{
		size_t		size = (size_t) hidden[l] *
			(size_t) (l + 1 < n_hidden ? hidden[l + 1] : n_outputs);

		if (size <= EST_TRANSPOSED_MAX && size > largest)
			largest = size;
	}
	return largest;
}

/*
 * EstWorkspaceFree releases the buffers and zeroes ws.
 */
void
EstWorkspaceFree(EstWorkspace *ws)
{
	int			l;

	EstFree(ws->assembled);
	EstFree(ws->input);
	for (l = 0; l < EST_MAX_LAYERS + 2; l++)
	{
		EstFree(ws->act[l]);
		EstFree(ws->delta[l]);
		EstFree(ws->pre[l]);
		EstFree(ws->batch_mean[l]);
		EstFree(ws->batch_inv_std[l]);
		EstFree(ws->mask[l]);
	}
	EstFree(ws->grad);
	EstFree(ws->exps);
	EstFree(ws->transposed);
	memset(ws, 0, sizeof(*ws));
}

/* ----------------------------------------------------------------
 * Activations
 * ----------------------------------------------------------------
 */

/*
 * Sigmoid computes the logistic function without overflowing exp: for
 * negative x it uses exp(x) / (1 + exp(x)), whose exp cannot overflow.
 */
static inline float
Sigmoid(float x)
{
	if (x >= 0.0f)
		return 1.0f / (1.0f + expf(-x));
	else
	{
		float		e = expf(x);

		return e / (1.0f + e);
	}
}

/*
 * SigmoidOfExp is the logistic function of x in double given e =
 * exp(-|x|), the exponential that Sigmoid takes on either side of 0.
 */
static inline double
SigmoidOfExp(double x, double e)
{
	return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/*
 * SigmoidD is the probability of class 1 of the sigmoid head.  A logit
 * too small to move it off 0.5 in double (|x| below about 2e-16) still
 * decides the class, as its sign does in evaluation (TensorFlow's binary
 * head: class 1 when the logit is positive): the probability is then
 * rounded away from 0.5, to its neighbour on the logit's side, which is
 * still within a unit in the last place of the exact value.
 */
static inline double
SigmoidD(double x)
{
	double		p = SigmoidOfExp(x, exp(-fabs(x)));

	if (p == 0.5 && x != 0.0)
		p = nextafter(0.5, x > 0.0 ? 1.0 : 0.0);
	return p;
}

#define EST_SQRT1_2		0.70710678118654752440f	/* 1 / sqrt(2) */
#define EST_INV_SQRT_2PI 0.39894228040143267794f	/* 1 / sqrt(2 pi) */

/*
 * Activate applies the activation to count values in place.  gelu is the
 * exact form x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2.
 */
EST_CLONES static void
Activate(EstActivation activation, float *v, size_t count)
{
	size_t		k;

	/*
	 * One loop per activation, each without a branch in its body, so that
	 * the compiler vectorises relu and leaky relu: with a branch per
	 * element, relu took as long as the matrix products.
	 */
	switch (activation)
	{
		case EST_ACT_RELU:
			for (k = 0; k < count; k++)
			{
				float		x = v[k];

				v[k] = x > 0.0f ? x : 0.0f;
			}
			break;
		case EST_ACT_TANH:
			for (k = 0; k < count; k++)
				v[k] = tanhf(v[k]);
			break;
		case EST_ACT_SIGMOID:
			for (k = 0; k < count; k++)
				v[k] = Sigmoid(v[k]);
			break;
		case EST_ACT_LINEAR:
			break;
		case EST_ACT_ELU:
			for (k = 0; k < count; k++)
				v[k] = v[k] > 0.0f ? v[k] : expm1f(v[k]);
			break;
		case EST_ACT_LEAKY_RELU:
			for (k = 0; k < count; k++)
			{
				float		x = v[k];

				v[k] = x > 0.0f ? x : EST_LEAKY_RELU_ALPHA * x;
			}
			break;
		case EST_ACT_GELU:
			for (k = 0; k < count; k++)
				v[k] = 0.5f * v[k] * (1.0f + erff(v[k] * EST_SQRT1_2));
			break;
	}
}

/*
 * Derivative returns f'(y) for the activation's input y.
 */
static inline float
Derivative(EstActivation activation, float y)
{
	switch (activation)
	{
		case EST_ACT_RELU:
			return y > 0.0f ? 1.0f : 0.0f;
		case EST_ACT_TANH:
			{
				float		t = tanhf(y);

				return 1.0f - t * t;
			}
		case EST_ACT_SIGMOID:
			{
				float		s = Sigmoid(y);

				return s * (1.0f - s);
			}
		case EST_ACT_LINEAR:
			return 1.0f;
		case EST_ACT_ELU:
			return y > 0.0f ? 1.0f : expf(y);
		case EST_ACT_LEAKY_RELU:
			return y > 0.0f ? 1.0f : EST_LEAKY_RELU_ALPHA;
		case EST_ACT_GELU:
			return 0.5f * (1.0f + erff(y * EST_SQRT1_2)) +
				y * EST_INV_SQRT_2PI * expf(-0.5f * y * y);
	}
	return 1.0f;
}

/*
 * SignActivation tells whether an activation's derivative depends only on
 * the sign of its input, which its output keeps (relu and leaky relu map
 * positive values to positive ones and the rest to zero or below, NaN to
 * no positive value; dropout's zeros multiply the gradient anyway): the
 * backward pass then reads the activations, and the forward pass keeps no
 * copy of the pre-activations.
 */
static inline int
SignActivation(EstActivation activation)
{
	return activation == EST_ACT_RELU || activation == EST_ACT_LEAKY_RELU ||
		activation == EST_ACT_LINEAR;
}

/*
 * ScaleByDerivative multiplies d[k] by f'(y[k]) for count values, with the
 * activation chosen once rather than per element, so that the relu loops
 * vectorise.
 */
EST_CLONES static void
ScaleByDerivative(EstActivation activation, float *d, const float *y,
				  size_t count)
{
	size_t		k;

	switch (activation)
	{
		case EST_ACT_RELU:
			for (k = 0; k < count; k++)
				d[k] = y[k] > 0.0f ? d[k] : 0.0f;
			break;
		case EST_ACT_LEAKY_RELU:
			for (k = 0; k < count; k++)
				d[k] = y[k] > 0.0f ? d[k] : EST_LEAKY_RELU_ALPHA * d[k];
			break;
		case EST_ACT_LINEAR:
			break;
		default:
			for (k = 0; k < count; k++)
				d[k] *= Derivative(activation, y[k]);
			break;
	}
}

/* ----------------------------------------------------------------
 * Forward pass
 * ----------------------------------------------------------------
 */

/*
 * SlotId returns the id that a slot of an indicator or embedding segment
 * holds, or -1 when the slot is empty: when its value is not an integer
 * in [0, buckets).  So -1, but also NaN, infinities, 2.5 or an id past
 * the last bucket, count as empty, and no value of X can make the
 * network read or write outside a table.
 */
static inline int
SlotId(float v, int buckets)
{
	int			id;

	if (!(v >= 0.0f && v < (float) buckets))
		return -1;
	id = (int) v;
	if ((float) id != v)
		return -1;
	return id;
}

/*
 * CombinerScale returns the factor by which an embedding segment scales
 * the sum of the table rows of its n (>= 1) ids: 1 for sum, 1/n for mean,
 * 1/sqrt(n) for sqrtn (TensorFlow's combiners, every id of weight 1).
 */
static inline float
CombinerScale(EstCombiner combiner, int n)
{
	switch (combiner)
	{
		case EST_COMBINER_MEAN:
			return (float) (1.0 / (double) n);
		case EST_COMBINER_SQRTN:
			return (float) (1.0 / sqrt((double) n));
		default:
			return 1.0f;
	}
}

/*
 * AssembleRow turns one compact row x (n_inputs floats) into its input
 * vector v (input_width floats), segment by segment.  Embedding rows are
 * summed in float in slot order, then scaled by the combiner, so that the
 * batched forward and EstNetworkPredictOne give the same values.
 */
static void
AssembleRow(const EstNetwork *net, const float *x, float *v)
{
	int			s;
	int			k;
	int			j;

	for (s = 0; s < net->n_segments; s++)
	{
		const EstInputSegment *seg = &net->segments[s];

		switch (seg->kind)
		{
			case EST_INPUT_INDICATOR:
				memset(v, 0, sizeof(float) * seg->buckets);
				for (k = 0; k < seg->slots; k++)
				{
					int			id = SlotId(x[k], seg->buckets);

					if (id >= 0)
						v[id] += 1.0f;
				}
				v += seg->buckets;
				break;
			case EST_INPUT_EMBEDDING:
				{
					int			dim = seg->dimension;
					const float *table = net->params + net->offset_embed[s];
					int			count = 0;

					memset(v, 0, sizeof(float) * dim);
					for (k = 0; k < seg->slots; k++)
					{
						int			id = SlotId(x[k], seg->buckets);
						const float *row;

						if (id < 0)
							continue;
						row = table + (size_t) id * dim;
						for (j = 0; j < dim; j++)
							v[j] += row[j];
						count++;
					}
					if (count > 0 && seg->combiner != EST_COMBINER_SUM)
					{
						float		scale = CombinerScale(seg->combiner, count);

						for (j = 0; j < dim; j++)
							v[j] *= scale;
					}
					v += dim;
				}
				break;
			default:
				memcpy(v, x, sizeof(float) * seg->slots);
				v += seg->slots;
				break;
		}
		x += seg->slots;
	}
}

/*
 * InputVectors returns the input vectors of the n rows of X: X itself
 * when every segment is dense, else the vectors assembled into
 * ws->assembled.
 */
static const float *
InputVectors(const EstNetwork *net, EstWorkspace *ws, const float *X, int n)
{
	int			i;

	if (!net->has_expansion)
		return X;
	for (i = 0; i < n; i++)
		AssembleRow(net, X + (size_t) i * net->n_inputs,
					ws->assembled + (size_t) i * net->input_width);
	return ws->assembled;
}

/*
 * DnnInput returns the matrix the first dense layer reads: the input
 * vectors vec themselves, or their dnn_inputs columns gathered into
 * ws->input.
 */
static const float *
DnnInput(const EstNetwork *net, EstWorkspace *ws, const float *vec, int n)
{
	int			s0 = net->sizes[0];
	int			i;
	int			k;

	if (net->n_dnn_inputs == 0)
		return vec;
	for (i = 0; i < n; i++)
	{
		const float *xi = vec + (size_t) i * net->input_width;
		float	   *gi = ws->input + (size_t) i * s0;

		for (k = 0; k < s0; k++)
			gi[k] = xi[net->dnn_inputs[k]];
	}
	return ws->input;
}

/*
 * BatchStatistics computes each unit's batch mean and population variance
 * of the n rows of z (in double, two passes), stores the mean and
 * 1 / sqrt(var + eps) in the workspace and, when moving is given, moves
 * the moving statistics towards them.
 */
static void
BatchStatistics(const EstNetwork *net, EstWorkspace *ws, int l,
				const float *z, int n, float *moving)
{
	int			units = net->sizes[l];
	double		momentum = net->bn_momentum;
	int			i;
	int			j;

	for (j = 0; j < units; j++)
	{
		double		mean = 0.0;
		double		var = 0.0;

		for (i = 0; i < n; i++)
			mean += z[(size_t) i * units + j];
		mean /= n;
		for (i = 0; i < n; i++)
		{
			double		d = z[(size_t) i * units + j] - mean;

			var += d * d;
		}
		var /= n;
		ws->batch_mean[l][j] = (float) mean;
		ws->batch_inv_std[l][j] = (float) (1.0 / sqrt(var + net->bn_epsilon));
		if (moving != NULL)
		{
			moving[j] = (float) (momentum * moving[j] + (1.0 - momentum) * mean);
			moving[units + j] = (float) (momentum * moving[units + j] +
										 (1.0 - momentum) * var);
		}
	}
}

/*
 * ForwardPass runs n rows of X through net: it assembles their input
 * vectors (when some segment is not dense) and feeds them to the DNN and
 * the linear part.  With training, batch_norm uses (and moving_net's
 * moving statistics follow) the batch statistics, and dropout masks are
 * drawn from rng; otherwise the moving statistics are used and nothing
 * is dropped.
 */
EST_CLONES static void
ForwardPass(const EstNetwork *net, EstNetwork *moving_net, EstWorkspace *ws,
			const float *X, int n, int training, EstRng *rng)
{
	const float *vec;
	const float *in;
	int			l;

	ws->training = training;
	if (n <= 0)
		return;
	vec = InputVectors(net, ws, X, n);
	in = DnnInput(net, ws, vec, n);
	for (l = 0; l < net->n_layers; l++)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		float	   *out = ws->act[l + 1];
		const float *w = net->params + net->offset_w[l];
		const float *b = net->params + net->offset_b[l];
		size_t		count = (size_t) n * out_size;
		int			hidden = l + 1;
		int			i;
		int			j;

		/* Start from the bias and let sgemm add the product (beta = 1). */
		for (i = 0; i < n; i++)
			memcpy(out + (size_t) i * out_size, b, sizeof(float) * out_size);
		EstGemm(0, n, out_size, in_size, in, in_size, w, out_size,
				1.0f, out, out_size);
		if (hidden == net->n_layers)
			break;

		if (net->batch_norm)
		{
			const float *gamma = net->params + net->offset_gamma[hidden];
			const float *beta = net->params + net->offset_beta[hidden];
			const float *moving = net->stats + net->offset_stats[hidden];
			float	   *mean = ws->batch_mean[hidden];
			float	   *inv_std = ws->batch_inv_std[hidden];
			float	   *xhat = ws->pre[hidden];

			if (training)
				BatchStatistics(net, ws, hidden, out, n,
								moving_net->stats +
								moving_net->offset_stats[hidden]);
			else
			{
				for (j = 0; j < out_size; j++)
				{
					mean[j] = moving[j];
					inv_std[j] = (float) (1.0 / sqrt((double) moving[out_size + j] +
													 net->bn_epsilon));
				}
			}
			for (i = 0; i < n; i++)
			{
				float	   *zi = out + (size_t) i * out_size;
				float	   *xi = xhat + (size_t) i * out_size;

				for (j = 0; j < out_size; j++)
				{
					xi[j] = (zi[j] - mean[j]) * inv_std[j];
					zi[j] = gamma[j] * xi[j] + beta[j];
				}
			}
		}
		else if (!SignActivation(net->activation) || ws->keep_pre)
			memcpy(ws->pre[hidden], out, sizeof(float) * count);

		Activate(net->activation, out, count);

		if (training && net->dropout > 0.0)
		{
			float	   *mask = ws->mask[hidden];
			float		scale = (float) (1.0 / (1.0 - net->dropout));
			size_t		k;

			for (k = 0; k < count; k++)
			{
				if (rng == NULL)
					mask[k] = 1.0f;
				else
					mask[k] = EstRngUniform(rng) < net->dropout ? 0.0f : scale;
				out[k] *= mask[k];
			}
		}
		in = out;
	}

	/*
	 * the linear part adds vec[:, linear_inputs] W_lin + b_lin to the
	 * logits
	 */
	if (net->n_linear_inputs > 0)
	{
		int			k_out = net->sizes[net->n_layers];
		const float *wl = net->params + net->linear_offset;
		const float *bl = wl + (size_t) net->n_linear_inputs * k_out;
		int			i;
		int			k;
		int			j;

		for (i = 0; i < n; i++)
		{
			const float *xi = vec + (size_t) i * net->input_width;
			float	   *zi = ws->act[net->n_layers] + (size_t) i * k_out;

			for (j = 0; j < k_out; j++)
				zi[j] += bl[j];
			for (k = 0; k < net->n_linear_inputs; k++)
			{
				float		xv = xi[net->linear_inputs[k]];
				const float *wk = wl + (size_t) k * k_out;

				for (j = 0; j < k_out; j++)
					zi[j] += xv * wk[j];
			}
		}
	}
}

/*
 * EstNetworkForward runs n rows of X through the network for inference
 * and keeps every activation in the workspace.
 */
void
EstNetworkForward(const EstNetwork *net, EstWorkspace *ws, const float *X,
				  int n)
{
	ForwardPass(net, NULL, ws, X, n, 0, NULL);
}

/*
 * EstNetworkForwardTrain runs n rows of X through the network for
 * training: batch statistics (and the update of the moving ones) and
 * dropout masks drawn from rng (NULL keeps every unit).
 */
void
EstNetworkForwardTrain(EstNetwork *net, EstWorkspace *ws, const float *X,
					   int n, EstRng *rng)
{
	ForwardPass(net, net, ws, X, n, 1, rng);
}

/* ----------------------------------------------------------------
 * Exponentials of softmax
 * ----------------------------------------------------------------
 */

/*
 * ExpInPlace (EstExpInPlace) sets v[j] = exp(v[j]) for j < k, for
 * softmax's logits less their largest (v[j] <= 0): within an ulp of libm's
 * exp, in a loop that vectorises, where libm's exp is a call per element,
 * which made the loss of a batch cost more than its matrix products from a
 * few dozen classes on.  exp(x) = 2^n exp(r), n = round(x / ln 2),
 * r = x - n ln 2 (ln 2 in two parts, so that n ln2_hi is exact) and
 * |r| <= ln(2) / 2,
 * where the Taylor series to r^13 is within 5e-18.  2^n is built from the
 * bits of x / ln 2 + 1.5 * 2^52, whose low bits hold n.  Below -708 (2^n
 * would not be a normal double) the result is 0, where libm's is 0 or a
 * subnormal; above 709 it saturates at exp(709); NaN stays NaN.  Only
 * IEEE operations, in one order: every build and CPU gives the same bits.
 */
/* ln 2 in two parts: n EST_LN2_HI is exact for the n that exp and log meet */
#define EST_LN2_HI		6.93147180369123816490e-01
#define EST_LN2_LO		1.90821492927058770002e-10

EST_CLONES_WIDE static void
ExpInPlace(double *v, size_t k)
{
	const double shifter = 0x1.8p52;
	const uint64_t shifter_bits = UINT64_C(0x4338000000000000);

	for (size_t j = 0; j < k; j++)
	{
		double		x = v[j];
		double		t;
		double		n;
		double		r;
		double		p;
		double		scale;
		uint64_t	bits;

		x = x < -708.0 ? -708.0 : x;
		x = x > 709.0 ? 709.0 : x;
		t = x * 1.4426950408889634 + shifter;
		n = t - shifter;
		r = (x - n * EST_LN2_HI) - n * EST_LN2_LO;
		p = 1.0 / 6227020800.0;
		p = p * r + 1.0 / 479001600.0;
		p = p * r + 1.0 / 39916800.0;
		p = p * r + 1.0 / 3628800.0;
		p = p * r + 1.0 / 362880.0;
		p = p * r + 1.0 / 40320.0;
		p = p * r + 1.0 / 5040.0;
		p = p * r + 1.0 / 720.0;
		p = p * r + 1.0 / 120.0;
		p = p * r + 1.0 / 24.0;
		p = p * r + 1.0 / 6.0;
		p = p * r + 0.5;
		p = p * r + 1.0;
		p = p * r + 1.0;
		memcpy(&bits, &t, sizeof(bits));
		bits = (bits - shifter_bits + 1023) << 52;
		memcpy(&scale, &bits, sizeof(scale));
		v[j] = v[j] < -708.0 ? 0.0 : p * scale;
	}
}

/*
 * (the extern functions call the variants through a static one: clang 14
 * names the variants' dispatcher so that another file cannot link to it)
 */
void
EstExpInPlace(double *v, size_t k)
{
	ExpInPlace(v, k);
}

/* ----------------------------------------------------------------
 * Heads
 * ----------------------------------------------------------------
 */

/*
 * LabelClass returns the class id that label holds, or -1 when it is not
 * an integer in [0, n_classes).
 */
static inline int
LabelClass(float label, int n_classes)
{
	int			c;

	if (!(label >= 0.0f && label < (float) n_classes))
		return -1;
	c = (int) label;
	if ((float) c != label)
		return -1;
	return c;
}

/*
 * RowLoss returns the squared head's loss of one row of k outputs z
 * against its labels y, the mean over outputs of the squared error
 * (Keras' "mean_squared_error"), and, when d is given, stores
 * d(row loss)/d(outputs) times scale in d.  (Softmax and sigmoid take a
 * batch at a time: SoftmaxLoss, SigmoidLoss.)
 */
static double
RowLoss(const float *z, const float *y, int k, float *d, double scale)
{
	double		sq = 0.0;

	for (int j = 0; j < k; j++)
	{
		double		e = (double) z[j] - (double) y[j];

		sq += e * e;
		if (d != NULL)
			d[j] = (float) (scale * 2.0 * e / k);
	}
	return sq / k;
}

/*
 * LargestLogit returns the largest of k logits (LargestValue of k
 * doubles), NaN when z[0] is NaN (a later NaN is passed over), as a loop
 * over them would, except that of a 0 and a -0 either may come back; in
 * eight interleaved maxima, which vectorise.
 */
#define DEFINE_LARGEST(name, type) \
static inline type \
name(const type *z, int k) \
{ \
	type		part[8]; \
	type		m; \
	int			j; \
\
	for (int t = 0; t < 8; t++) \
		part[t] = z[0]; \
	for (j = 1; j + 8 <= k; j += 8) \
		for (int t = 0; t < 8; t++) \
			part[t] = z[j + t] > part[t] ? z[j + t] : part[t]; \
	for (; j < k; j++) \
		part[0] = z[j] > part[0] ? z[j] : part[0]; \
	m = part[0]; \
	for (int t = 1; t < 8; t++) \
		m = part[t] > m ? part[t] : m; \
	return m; \
}
DEFINE_LARGEST(LargestLogit, float)
DEFINE_LARGEST(LargestValue, double)

/*
 * EstArgmax returns the first of k values that is the largest (0 when
 * v[0] is NaN; a later NaN is passed over), as the loop "v[j] >
 * v[best]" does; from 16 values on, which that loop's chain of
 * comparisons makes slow, it looks for the largest (LargestValue).
 */
int
EstArgmax(const double *v, int k)
{
	int			best = 0;
	double		m;

	if (k < 16)
	{
		for (int j = 1; j < k; j++)
			if (v[j] > v[best])
				best = j;
		return best;
	}
	m = LargestValue(v, k);
	for (int j = 0; j < k; j++)
		if (v[j] == m)
			return j;
	return 0;
}

/*
 * SoftmaxExps (EstSoftmaxExps) sets, for each of n rows of k logits z,
 * largest[i] to its largest logit (LargestLogit) and row i of e (n x k) to
 * the exponentials of its logits less that one, with one ExpInPlace.
 */
EST_CLONES_WIDE static void
SoftmaxExps(const float *z, int n, int k, double *e, float *largest)
{
	for (int i = 0; i < n; i++)
	{
		const float *zi = z + (size_t) i * k;
		double	   *ei = e + (size_t) i * k;
		float		m = LargestLogit(zi, k);

		largest[i] = m;
		for (int j = 0; j < k; j++)
			ei[j] = (double) zi[j] - (double) m;
	}
	ExpInPlace(e, (size_t) n * k);
}

void
EstSoftmaxExps(const float *z, int n, int k, double *e, float *largest)
{
	SoftmaxExps(z, n, k, e, largest);
}

/*
 * EstSoftmaxSum returns the sum of a row's k exponentials, in four
 * interleaved sums (which do not wait on each other) added last: the
 * loss and the metrics sum them alike.
 */
double
EstSoftmaxSum(const double *e, int k)
{
	double		part[4] = {0.0, 0.0, 0.0, 0.0};
	int			j;

	for (j = 0; j + 4 <= k; j += 4)
	{
		part[0] += e[j];
		part[1] += e[j + 1];
		part[2] += e[j + 2];
		part[3] += e[j + 3];
	}
	for (; j < k; j++)
		part[j % 4] += e[j];
	return (part[0] + part[1]) + (part[2] + part[3]);
}

/*
 * LogNearOne returns log(m) for m in [sqrt(1/2), sqrt(2)], as 2 atanh(s),
 * s = (m - 1) / (m + 1), |s| <= 0.172, whose odd series to s^23 is within
 * 1e-19; in IEEE operations only, without a call, so that a loop of them
 * vectorises and every build gives the same bits.
 */
static inline double
LogNearOne(double m)
{
	double		s = (m - 1.0) / (m + 1.0);
	double		z = s * s;
	double		p;

	p = 1.0 / 23.0;
	p = p * z + 1.0 / 21.0;
	p = p * z + 1.0 / 19.0;
	p = p * z + 1.0 / 17.0;
	p = p * z + 1.0 / 15.0;
	p = p * z + 1.0 / 13.0;
	p = p * z + 1.0 / 11.0;
	p = p * z + 1.0 / 9.0;
	p = p * z + 1.0 / 7.0;
	p = p * z + 1.0 / 5.0;
	p = p * z + 1.0 / 3.0;
	p = p * z;
	return 2.0 * s + 2.0 * s * p;
}

/*
 * Log1pUnit returns log(1 + x) for 0 <= x <= 1, as SigmoidLoss needs it
 * for x = exp(-|z|), within a few ulps of libm's log1p.  u = 1 + x
 * rounds; (x - (u - 1)) / u corrects for that; u = 2^k m with m in
 * [sqrt(1/2), sqrt(2)] (LogNearOne).
 */
static inline double
Log1pUnit(double x)
{
	double		u = 1.0 + x;
	double		c = (x - (u - 1.0)) / u;
	double		k = u > 1.4142135623730951 ? 1.0 : 0.0;
	double		m = u > 1.4142135623730951 ? u * 0.5 : u;

	return k * EST_LN2_HI + (LogNearOne(m) + (k * EST_LN2_LO + c));
}

/*
 * LogOfSum returns log(x) for a sum of softmax's exponentials, x >= 1
 * (the largest term is 1) and finite, within a few ulps of libm's log:
 * x = 2^e m with m in [sqrt(1/2), sqrt(2)], from the bits of x.  NaN stays
 * NaN.
 */
static inline double
LogOfSum(double x)
{
	uint64_t	bits;
	double		e;
	double		m;

	memcpy(&bits, &x, sizeof(bits));
	e = (double) ((int64_t) (bits >> 52) & 0x7ff) - 1023.0;
	bits = (bits & UINT64_C(0x000fffffffffffff)) | UINT64_C(0x3ff0000000000000);
	memcpy(&m, &bits, sizeof(m));
	e = m > 1.4142135623730951 ? e + 1.0 : e;
	m = m > 1.4142135623730951 ? m * 0.5 : m;
	return x != x ? x : e * EST_LN2_HI + (LogNearOne(m) + e * EST_LN2_LO);
}

/*
 * SoftmaxLoss is EstHeadLossOver for the softmax head: the sum over the
 * rows of w_i (log(sum_j exp(z_j)) - z_label), from each row's largest
 * logit m down so that exp never overflows, and the gradient
 * w_i / denom (exp(z_j - m) / sum - [j is the label]).  It takes the rows
 * EST_EXP_GROUP logits at a time (one row at a time past that many
 * classes), whose exponentials one EstExpInPlace computes in ws->exps
 * (EstSoftmaxExps, EstSoftmaxSum): the loss of a batch costs about what
 * its matrix products do, even with many classes.
 * A row with an invalid label adds NaN and has a zero gradient.
 */
EST_CLONES_WIDE static double
SoftmaxLoss(const EstNetwork *net, EstWorkspace *ws, const float *y,
			const float *weights, int n, int with_grad, double denom)
{
	int			k = net->sizes[net->n_layers];
	int			group = k < EST_EXP_GROUP ? EST_EXP_GROUP / k : 1;
	const float *z = ws->act[net->n_layers];
	double		loss_sum = 0.0;
	float		largest[EST_EXP_GROUP];
	double		sums[EST_EXP_GROUP];
	double		logs[EST_EXP_GROUP];

	for (int i0 = 0; i0 < n; i0 += group)
	{
		int			i1 = n - i0 < group ? n : i0 + group;

		SoftmaxExps(z + (size_t) i0 * k, i1 - i0, k, ws->exps, largest);
		for (int i = i0; i < i1; i++)
			sums[i - i0] = EstSoftmaxSum(ws->exps + (size_t) (i - i0) * k, k);
		for (int i = 0; i < i1 - i0; i++)
			logs[i] = LogOfSum(sums[i]);
		for (int i = i0; i < i1; i++)
		{
			const float *zi = z + (size_t) i * k;
			const double *ei = ws->exps + (size_t) (i - i0) * k;
			float	   *di = with_grad ?
				ws->delta[net->n_layers] + (size_t) i * k : NULL;
			double		w = weights ? (double) weights[i] : 1.0;
			double		scale = w / denom;
			int			c = LabelClass(y[i], k);
			double		share;

			if (c < 0)
			{
				if (di != NULL)
					memset(di, 0, sizeof(float) * k);
				loss_sum += w * NAN;
				continue;
			}
			share = scale / sums[i - i0];
			for (int j = 0; di != NULL && j < k; j++)
				di[j] = (float) (ei[j] * share - (j == c ? scale : 0.0));
			loss_sum += w * ((double) largest[i - i0] + logs[i - i0] - (double) zi[c]);
		}
	}
	return loss_sum;
}

/*
 * SigmoidLoss is EstHeadLossOver for the sigmoid head: the sum over the
 * rows of w_i (max(z, 0) - z y + log(1 + exp(-|z|))), and the gradient
 * w_i / denom (sigmoid(z) - y).  One ExpInPlace gives the exponentials
 * exp(-|z|) of EST_SIGMOID_GROUP rows, which serve the loss and the
 * gradient, and the rest is a loop without calls: where exp and log1p
 * were called for every row, the loss of a batch of 256 cost a fifth of
 * its matrix products at 16 inputs and 128 units.  A label other than 0
 * or 1 adds NaN and has a zero gradient.
 */
#define EST_SIGMOID_GROUP	256

EST_CLONES_WIDE static double
SigmoidLoss(const EstNetwork *net, EstWorkspace *ws, const float *y,
			const float *weights, int n, int with_grad, double denom)
{
	const float *z = ws->act[net->n_layers];
	float	   *delta = ws->delta[net->n_layers];
	double		loss_sum = 0.0;
	double		e[EST_SIGMOID_GROUP];
	double		g[EST_SIGMOID_GROUP];
	double		loss[EST_SIGMOID_GROUP];

	for (int i0 = 0; i0 < n; i0 += EST_SIGMOID_GROUP)
	{
		int			count = n - i0 < EST_SIGMOID_GROUP ? n - i0 : EST_SIGMOID_GROUP;
		const float *zi = z + i0;
		const float *yi = y + i0;

		for (int i = 0; i < count; i++)
			e[i] = -fabs((double) zi[i]);
		ExpInPlace(e, count);
		for (int i = 0; i < count; i++)
		{
			double		zz = zi[i];
			double		label = yi[i];
			int			valid = label == 0.0 || label == 1.0;

			g[i] = (zz >= 0.0 ? 1.0 : e[i]) / (1.0 + e[i]) - label;
			loss[i] = valid ?
				(zz > 0.0 ? zz : 0.0) - zz * label + Log1pUnit(e[i]) : NAN;
		}
		for (int i = 0; with_grad && i < count; i++)
		{
			double		w = weights ? (double) weights[i0 + i] : 1.0;

			delta[i0 + i] = yi[i] == 0.0f || yi[i] == 1.0f ?
				(float) (w / denom * g[i]) : 0.0f;
		}
		for (int i = 0; i < count; i++)
			loss_sum += (weights ? (double) weights[i0 + i] : 1.0) * loss[i];
	}
	return loss_sum;
}

/*
 * EstHeadLoss returns the loss of the logits of the last forward pass
 * under net->reduction and, with with_grad, stores d(loss)/d(logits) in
 * ws->delta[n_layers].  The row losses l_i, weighted by w_i, combine as
 * sum w_i l_i divided by n (SUM_OVER_BATCH_SIZE), by 1 (SUM) or by
 * sum w_i (MEAN); without weights MEAN and SUM_OVER_BATCH_SIZE agree.
 * When MEAN's weights sum to 0 or less, the loss and gradient are 0.
 */
double
EstLossDenominator(EstReduction reduction, int n, double weight_sum)
{
	switch (reduction)
	{
		case EST_REDUCE_SUM:
			return 1.0;
		case EST_REDUCE_MEAN:
			return weight_sum;
		default:
			return (double) n;
	}
}

double
EstHeadLoss(const EstNetwork *net, EstWorkspace *ws, const float *y,
			const float *weights, int n, int with_grad)
{
	double		weight_sum = 0.0;
	int			i;

	if (n <= 0)
		return 0.0;
	for (i = 0; i < n; i++)
		weight_sum += weights ? (double) weights[i] : 1.0;
	return EstHeadLossOver(net, ws, y, weights, n, with_grad,
						   EstLossDenominator(net->reduction, n, weight_sum));
}

double
EstHeadLossOver(const EstNetwork *net, EstWorkspace *ws, const float *y,
				const float *weights, int n, int with_grad, double denom)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	float	   *delta = ws->delta[net->n_layers];
	double		loss_sum = 0.0;
	int			i;

	if (n <= 0)
		return 0.0;
	if (!(denom > 0.0))
	{
		if (with_grad)
			memset(delta, 0, sizeof(float) * (size_t) n * k);
		return 0.0;
	}

	if (net->head == EST_HEAD_SOFTMAX)
	{
		/* (a workspace of another network has no exps: no loss) */
		if (ws->exps == NULL)
		{
			if (with_grad)
				memset(ws->delta[net->n_layers], 0,
					   sizeof(float) * (size_t) n * k);
			return NAN;
		}
		return SoftmaxLoss(net, ws, y, weights, n, with_grad, denom) / denom;
	}
	if (net->head == EST_HEAD_SIGMOID)
		return SigmoidLoss(net, ws, y, weights, n, with_grad, denom) / denom;

	/* squared: k labels a row */
	for (i = 0; i < n; i++)
	{
		double		w = weights ? (double) weights[i] : 1.0;

		loss_sum += w * RowLoss(z + (size_t) i * k, y + (size_t) i * k, k,
								with_grad ? delta + (size_t) i * k : NULL,
								w / denom);
	}
	return loss_sum / denom;
}

/* ----------------------------------------------------------------
 * Backward pass
 * ----------------------------------------------------------------
 */

/*
 * BatchNormBackward turns d, the gradient with respect to the batch
 * normalised values y of hidden layer l, into the gradient with respect
 * to its input z, and writes the gradients of gamma and beta.  After a
 * training forward the batch mean and variance depend on z:
 *
 *	 dz = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
 *
 * after an inference forward they are constants: dz = gamma * inv_std *
 * dy.  Sums run in double, unit by unit.
 */
static void
BatchNormBackward(const EstNetwork *net, EstWorkspace *ws, int l, float *d,
				  int n)
{
	int			units = net->sizes[l];
	const float *gamma = net->params + net->offset_gamma[l];
	const float *xhat = ws->pre[l];
	const float *inv_std = ws->batch_inv_std[l];
	float	   *ggamma = ws->grad + net->offset_gamma[l];
	float	   *gbeta = ws->grad + net->offset_beta[l];
	int			i;
	int			j;

	for (j = 0; j < units; j++)
	{
		double		sum_d = 0.0;
		double		sum_dx = 0.0;
		double		g = (double) gamma[j] * (double) inv_std[j];

		for (i = 0; i < n; i++)
		{
			size_t		idx = (size_t) i * units + j;

			sum_d += d[idx];
			sum_dx += (double) d[idx] * (double) xhat[idx];
		}
		ggamma[j] = (float) sum_dx;
		gbeta[j] = (float) sum_d;
		if (ws->training)
		{
			double		mean_d = sum_d / n;
			double		mean_dx = sum_dx / n;

			for (i = 0; i < n; i++)
			{
				size_t		idx = (size_t) i * units + j;

				d[idx] = (float) (g * ((double) d[idx] - mean_d -
									   (double) xhat[idx] * mean_dx));
			}
		}
		else
		{
			for (i = 0; i < n; i++)
			{
				size_t		idx = (size_t) i * units + j;

				d[idx] = (float) (g * (double) d[idx]);
			}
		}
	}
}

/*
 * InputGradient writes into columns [start, start + width) of ws->delta[0]
 * the gradient of the loss with respect to those columns of the input
 * vectors: delta[1] W_0^T restricted to them.  Without dnn_inputs that is
 * one product with rows [start, start + width) of W_0.  With dnn_inputs,
 * DNN input k contributes delta[1] W_0[k, :]^T to column dnn_inputs[k]
 * (several inputs may read one column); runs of consecutive DNN inputs
 * that read consecutive columns take one product each.  Returns 0 when
 * the DNN reads none of the columns (their gradient is then zero).
 */
static int
InputGradient(const EstNetwork *net, EstWorkspace *ws, int start, int width,
			  int n)
{
	int			iw = net->input_width;
	int			h = net->sizes[1];
	int			s0 = net->sizes[0];
	const float *d = ws->delta[1];
	const float *w0 = net->params + net->offset_w[0];
	float	   *g = ws->delta[0];
	int			found = 0;
	int			i;
	int			k;

	if (net->n_dnn_inputs == 0)
	{
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
					n, width, h,
					1.0f, d, h, w0 + (size_t) start * h, h,
					0.0f, g + start, iw);
		return 1;
	}

	for (i = 0; i < n; i++)
		memset(g + (size_t) i * iw + start, 0, sizeof(float) * width);
	k = 0;
	while (k < s0)
	{
		int			p = net->dnn_inputs[k];
		int			run = 1;

		if (p < start || p >= start + width)
		{
			k++;
			continue;
		}
		while (k + run < s0 && p + run < start + width &&
			   net->dnn_inputs[k + run] == p + run)
			run++;
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
					n, run, h,
					1.0f, d, h, w0 + (size_t) k * h, h,
					1.0f, g + p, iw);
		found = 1;
		k += run;
	}
	return found;
}

/*
 * EmbeddingBackward writes the gradients of the embedding tables: it
 * zeroes each table's gradient, then adds, for each row of the batch and
 * each id of the segment's slots in X, the combiner's scale times the
 * gradient with respect to the segment's columns of the input vector to
 * the gradient of the id's table row.  An id held by several slots of a
 * row adds several times, as it counts several times in the forward.
 */
static void
EmbeddingBackward(const EstNetwork *net, EstWorkspace *ws, const float *X,
				  int n)
{
	int			iw = net->input_width;
	int			start = 0;
	int			slot = 0;
	int			s;

	for (s = 0; s < net->n_segments; s++)
	{
		const EstInputSegment *seg = &net->segments[s];
		int			width = SegmentWidth(seg);

		if (seg->kind == EST_INPUT_EMBEDDING)
		{
			int			dim = seg->dimension;
			float	   *tg = ws->grad + net->offset_embed[s];
			int			i;
			int			k;
			int			j;

			memset(tg, 0, sizeof(float) * (size_t) seg->buckets * dim);
			if (InputGradient(net, ws, start, width, n))
			{
				for (i = 0; i < n; i++)
				{
					const float *xi = X + (size_t) i * net->n_inputs + slot;
					const float *gi = ws->delta[0] + (size_t) i * iw + start;
					int			count = 0;
					float		scale;

					for (k = 0; k < seg->slots; k++)
						if (SlotId(xi[k], seg->buckets) >= 0)
							count++;
					if (count == 0)
						continue;
					scale = CombinerScale(seg->combiner, count);
					for (k = 0; k < seg->slots; k++)
					{
						int			id = SlotId(xi[k], seg->buckets);
						float	   *row;

						if (id < 0)
							continue;
						row = tg + (size_t) id * dim;
						for (j = 0; j < dim; j++)
							row[j] += scale * gi[j];
					}
				}
			}
		}
		start += width;
		slot += seg->slots;
	}
}

/*
 * EstNetworkBackward turns ws->delta[n_layers] into the gradient of every
 * parameter, from the output layer down, through the dropout masks and
 * batch statistics of the last forward, and then into the gradients of
 * the embedding tables.  X must be the batch of the last forward, whose
 * assembled input vectors are still in the workspace.  No gradient flows
 * into X.
 */
EST_CLONES void
EstNetworkBackward(const EstNetwork *net, EstWorkspace *ws, const float *X,
				   int n)
{
	const float *vec;
	const float *input;
	int			l;

	if (n <= 0)
	{
		memset(ws->grad, 0, sizeof(float) * net->n_params);
		return;
	}
	vec = net->has_expansion ? ws->assembled : X;
	input = net->n_dnn_inputs > 0 ? ws->input : vec;

	/* the linear part: dW_lin = vec[:, linear_inputs]^T delta, db = sums */
	if (net->n_linear_inputs > 0)
	{
		int			k_out = net->sizes[net->n_layers];
		float	   *gw = ws->grad + net->linear_offset;
		float	   *gb = gw + (size_t) net->n_linear_inputs * k_out;
		int			i;
		int			k;
		int			j;

		memset(gw, 0, sizeof(float) * ((size_t) net->n_linear_inputs + 1) * k_out);
		for (i = 0; i < n; i++)
		{
			const float *xi = vec + (size_t) i * net->input_width;
			const float *di = ws->delta[net->n_layers] + (size_t) i * k_out;

			for (j = 0; j < k_out; j++)
				gb[j] += di[j];
			for (k = 0; k < net->n_linear_inputs; k++)
			{
				float		xv = xi[net->linear_inputs[k]];
				float	   *gk = gw + (size_t) k * k_out;

				for (j = 0; j < k_out; j++)
					gk[j] += xv * di[j];
			}
		}
	}

	for (l = net->n_layers - 1; l >= 0; l--)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		const float *in = (l == 0) ? input : ws->act[l];
		const float *d = ws->delta[l + 1];
		const float *w = net->params + net->offset_w[l];
		float	   *gw = ws->grad + net->offset_w[l];
		float	   *gb = ws->grad + net->offset_b[l];
		int			i;
		int			j;

		/* dW_l = in^T * delta[l+1] */
		EstGemm(1, in_size, out_size, n, in, in_size, d, out_size,
				0.0f, gw, out_size);

		/* db_l = column sums of delta[l+1] */
		for (j = 0; j < out_size; j++)
			gb[j] = 0.0f;
		for (i = 0; i < n; i++)
		{
			const float *di = d + (size_t) i * out_size;

			for (j = 0; j < out_size; j++)
				gb[j] += di[j];
		}

		if (l > 0)
		{
			float	   *dl = ws->delta[l];
			size_t		count = (size_t) n * in_size;
			size_t		idx;

			/* gradient with respect to act[l]: delta[l+1] * W_l^T */
			if (ws->transposed != NULL &&
				(size_t) in_size * out_size <= EST_TRANSPOSED_MAX &&
				(n <= EST_TRANSPOSED_ROWS || out_size <= EST_TRANSPOSED_OUTPUTS ||
				 EstGemmOwnKernel(in_size, out_size)))
			{
				EstTranspose(w, in_size, out_size, ws->transposed);
				EstGemm(0, n, in_size, out_size, d, out_size,
						ws->transposed, in_size, 0.0f, dl, in_size);
			}
			else
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
							n, in_size, out_size,
							1.0f, d, out_size, w, out_size,
							0.0f, dl, in_size);
			if (ws->training && net->dropout > 0.0)
				for (idx = 0; idx < count; idx++)
					dl[idx] *= ws->mask[l][idx];
			if (net->batch_norm)
			{
				const float *gamma = net->params + net->offset_gamma[l];
				const float *beta = net->params + net->offset_beta[l];

				for (i = 0; i < n; i++)
				{
					const float *xi = ws->pre[l] + (size_t) i * in_size;
					float	   *di = dl + (size_t) i * in_size;

					for (j = 0; j < in_size; j++)
						di[j] *= Derivative(net->activation,
											gamma[j] * xi[j] + beta[j]);
				}
				BatchNormBackward(net, ws, l, dl, n);
			}
			else
			{
				ScaleByDerivative(net->activation, dl,
								  SignActivation(net->activation) ?
								  ws->act[l] : ws->pre[l], count);
			}
		}
	}

	/*
	 * the embedding tables, from delta[1]; the workspace has delta[0]
	 * exactly when the network has embedding segments
	 */
	if (net->has_expansion && ws->delta[0] != NULL)
		EmbeddingBackward(net, ws, X, n);
}

/* ----------------------------------------------------------------
 * Regularisation and clipping
 * ----------------------------------------------------------------
 */

/*
 * KernelRange gives the start and length of kernel number k: the dense
 * layers' kernels for k < n_layers, then the linear part's.  It returns 0
 * when there is no kernel k.
 */
static int
KernelRange(const EstNetwork *net, int k, size_t *start, size_t *count)
{
	if (k < net->n_layers)
	{
		*start = net->offset_w[k];
		*count = (size_t) net->sizes[k] * (size_t) net->sizes[k + 1];
		return 1;
	}
	if (k == net->n_layers && net->n_linear_inputs > 0)
	{
		*start = net->linear_offset;
		*count = (size_t) net->n_linear_inputs *
			(size_t) net->sizes[net->n_layers];
		return 1;
	}
	return 0;
}

/*
 * EstNetworkPenalty returns l1 * sum |w| + l2 * sum w^2 over every kernel
 * (the linear part's included), summed in double.  Embedding tables are
 * not kernels and are not regularised: TensorFlow's embedding_column has
 * no regularizer, and a penalty would shrink every row of a table at
 * every step, even the rows of ids that the batch does not hold.
 */
double
EstNetworkPenalty(const EstNetwork *net, double l1, double l2)
{
	double		abs_sum = 0.0;
	double		sq_sum = 0.0;
	size_t		start;
	size_t		count;
	size_t		i;
	int			k;

	for (k = 0; KernelRange(net, k, &start, &count); k++)
	{
		for (i = 0; i < count; i++)
		{
			double		w = net->params[start + i];

			abs_sum += fabs(w);
			sq_sum += w * w;
		}
	}
	return l1 * abs_sum + l2 * sq_sum;
}

/*
 * EstNetworkPenaltyGrad adds the penalty's gradient, l1 * sign(w) +
 * 2 * l2 * w (sign(0) = 0), to ws->grad; as the penalty, it leaves the
 * embedding tables alone.
 */
void
EstNetworkPenaltyGrad(const EstNetwork *net, EstWorkspace *ws, double l1,
					  double l2)
{
	size_t		start;
	size_t		count;
	size_t		i;
	int			k;

	for (k = 0; KernelRange(net, k, &start, &count); k++)
	{
		for (i = 0; i < count; i++)
		{
			double		w = net->params[start + i];
			double		sign = w > 0.0 ? 1.0 : (w < 0.0 ? -1.0 : 0.0);

			ws->grad[start + i] += (float) (l1 * sign + 2.0 * l2 * w);
		}
	}
}

/*
 * EstClipByGlobalNorm scales grad so that its L2 norm (summed in double)
 * is at most clip_norm and returns the norm before clipping.  A clip_norm
 * that is not positive, or a norm that is not finite, leaves grad alone.
 */
double
EstClipByGlobalNorm(float *grad, size_t n, double clip_norm)
{
	double		sq = 0.0;
	double		norm;
	size_t		i;

	for (i = 0; i < n; i++)
		sq += (double) grad[i] * (double) grad[i];
	norm = sqrt(sq);
	if (clip_norm > 0.0 && isfinite(norm) && norm > clip_norm)
	{
		double		scale = clip_norm / norm;

		for (i = 0; i < n; i++)
			grad[i] = (float) (grad[i] * scale);
	}
	return norm;
}

/* ----------------------------------------------------------------
 * Scoring
 * ----------------------------------------------------------------
 */

/*
 * the classes from which SoftmaxRow's exponentials go through
 * EstExpInPlace: a loop of fewer takes longer than as many calls of exp
 */
#define SOFTMAX_VECTOR_MIN	8

/* SoftmaxShares divides k exponentials by their sum (summed in order) */
static inline void
SoftmaxShares(double *v, int k)
{
	double		sum = 0.0;

	for (int j = 0; j < k; j++)
		sum += v[j];
	for (int j = 0; j < k; j++)
		v[j] /= sum;
}

/*
 * SoftmaxRows turns n rows of k logits (k >= SOFTMAX_VECTOR_MIN) into
 * probabilities in place: each row less its largest logit, the
 * exponentials of all the rows at once, then each row's shares.
 */
EST_CLONES_WIDE static void
SoftmaxRows(double *v, int n, int k)
{
	for (int i = 0; i < n; i++)
	{
		double	   *vi = v + (size_t) i * k;
		double		m = LargestValue(vi, k);

		for (int j = 0; j < k; j++)
			vi[j] -= m;
	}
	ExpInPlace(v, (size_t) n * k);
	for (int i = 0; i < n; i++)
		SoftmaxShares(v + (size_t) i * k, k);
}

/*
 * SoftmaxRow turns k logits into probabilities in place, subtracting the
 * largest logit first so that exp never overflows.
 */
EST_CLONES_WIDE static void
SoftmaxRow(double *v, int k)
{
	double		m = v[0];

	if (k >= SOFTMAX_VECTOR_MIN)
	{
		SoftmaxRows(v, 1, k);
		return;
	}
	for (int j = 1; j < k; j++)
		m = v[j] > m ? v[j] : m;
	for (int j = 0; j < k; j++)
		v[j] = exp(v[j] - m);
	SoftmaxShares(v, k);
}

/*
 * HeadValues turns k logits into the head's values in place: softmax
 * probabilities, the sigmoid's probability of class 1, or raw values.
 */
static void
HeadValues(EstHead head, double *v, int k)
{
	if (head == EST_HEAD_SOFTMAX)
		SoftmaxRow(v, k);
	else if (head == EST_HEAD_SIGMOID)
		v[0] = SigmoidD(v[0]);
}

/*
 * MaxHidden returns the size of the largest hidden layer, 0 without one.
 */
static int
MaxHidden(const EstNetwork *net)
{
	int			largest = 0;
	int			l;

	for (l = 1; l < net->n_layers; l++)
		if (net->sizes[l] > largest)
			largest = net->sizes[l];
	return largest;
}

/*
 * EstNetworkScratchSize returns the floats EstNetworkPredictOne needs:
 * the input vector (when some segment is not dense), the gathered DNN
 * inputs (with dnn_inputs) and two buffers of the largest hidden layer;
 * at least 1.
 */
size_t
EstNetworkScratchSize(const EstNetwork *net)
{
	size_t		size = 2 * (size_t) MaxHidden(net);

	if (net->has_expansion)
		size += (size_t) net->input_width;
	if (net->n_dnn_inputs > 0)
		size += (size_t) net->sizes[0];
	return size > 0 ? size : 1;
}

/*
 * LayerOne sets h (out_size floats) to b + x W for one row x of in_size
 * floats.  A block of outputs stays in vector registers over all of x,
 * rather than going through memory at each input: blocks of 64 outputs,
 * then of 32, 16 and 8 (with blocks of 64 only, layers of 32 units went
 * one float at a time through memory, and est_predict of a
 * {32,32,32,32} model took three times as long), and where the CPU has
 * AVX2 the vectors are twice as wide.  Either way each output
 * is b_j, then + x_i * W_ij for i in order, a product then a sum (the core
 * is built with -ffp-contract=off): every variant gives the same floats
 * as the plain loop that ends the row.
 */
#define LAYER_ONE_BLOCKS(vec_type, lanes, block) \
	for (; j0 + (block) <= out_size; j0 += (block)) \
	{ \
		vec_type	acc[(block) / (lanes)]; \
\
		memcpy(acc, b + j0, sizeof(acc)); \
		for (int i = 0; i < in_size; i++) \
		{ \
			vec_type	xi = (vec_type) {0} + x[i]; \
			const float *wi = w + (size_t) i * out_size + j0; \
\
			_Pragma("GCC unroll 16") \
			for (int v = 0; v < (block) / (lanes); v++) \
			{ \
				vec_type	wv; \
\
				memcpy(&wv, wi + v * (lanes), sizeof(wv)); \
				acc[v] += xi * wv; \
			} \
		} \
		memcpy(h + j0, acc, sizeof(acc)); \
	}
#define LAYER_ONE_BODY(vec_type, lanes) \
	LAYER_ONE_BLOCKS(vec_type, lanes, 64) \
	LAYER_ONE_BLOCKS(vec_type, lanes, 32) \
	LAYER_ONE_BLOCKS(vec_type, lanes, 16) \
	LAYER_ONE_BLOCKS(vec_type, lanes, 8)

/* vector types of gcc and clang, which other compilers go without */
#if defined(__GNUC__) || defined(__clang__)
typedef float EstVec4 __attribute__((vector_size(4 * sizeof(float))));
#define HAVE_VECTOR_TYPES 1
#endif
#if defined(HAVE_VECTOR_TYPES) && defined(EST_HAVE_AVX2_VARIANTS)
typedef float EstVec8 __attribute__((vector_size(8 * sizeof(float))));

/* HasAvx2 says whether the CPU runs the AVX2 variants of the row loops */
static int
HasAvx2(void)
{
	static int	has_avx2 = -1;

	if (has_avx2 < 0)
	{
		__builtin_cpu_init();
		has_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
	}
	return has_avx2;
}

__attribute__((target("avx2")))
static int
LayerOneAvx2(const float *x, const float *w, const float *b, int in_size,
			 int out_size, float *h)
{
	int			j0 = 0;

	LAYER_ONE_BODY(EstVec8, 8)
	return j0;
}
#endif

static void
LayerOne(const float *x, const float *w, const float *b, int in_size,
		 int out_size, float *h)
{
	int			j0 = 0;

#if defined(HAVE_VECTOR_TYPES) && defined(EST_HAVE_AVX2_VARIANTS)
	if (HasAvx2())
		j0 = LayerOneAvx2(x, w, b, in_size, out_size, h);
	else
#endif
	{
#ifdef HAVE_VECTOR_TYPES
		LAYER_ONE_BODY(EstVec4, 4)
		LAYER_ONE_BLOCKS(EstVec4, 4, 4)
#endif
	}
	if (j0 < out_size)
	{
		int			rest = out_size - j0;

		memcpy(h + j0, b + j0, sizeof(float) * rest);
		for (int i = 0; i < in_size; i++)
		{
			float		xi = x[i];
			const float *wi = w + (size_t) i * out_size + j0;

			for (int j = 0; j < rest; j++)
				h[j0 + j] += xi * wi[j];
		}
	}
}

/*
 * AddProducts adds x_i * W_ij (the inputs x[index[i]], or x[i] without
 * index, for i < n) to out[j] for j < k, in double, each out[j] summed
 * over i in order.  ADD_PRODUCTS_BLOCK outputs at a time stay in vector
 * registers over all the inputs, in several vectors whose sums do not
 * wait on each other (one vector's chain of additions made the logits of
 * 100 classes two thirds of est_predict's time), twice as wide where the
 * CPU has AVX2; then four at a time, then one at a time.  Every variant
 * gives the same floats.
 */
#ifdef HAVE_VECTOR_TYPES
typedef double EstVec4d __attribute__((vector_size(4 * sizeof(double))));
#endif

#define ADD_PRODUCTS_BLOCK 16
#define ADD_PRODUCTS_BODY \
	for (; j0 + ADD_PRODUCTS_BLOCK <= k; j0 += ADD_PRODUCTS_BLOCK) \
	{ \
		EstVec4d	acc[ADD_PRODUCTS_BLOCK / 4]; \
\
		memcpy(acc, out + j0, sizeof(acc)); \
		for (int i = 0; i < n; i++) \
		{ \
			const float *wi = w + (size_t) i * k + j0; \
			double		xs = x[index ? index[i] : i]; \
			EstVec4d	xi = {xs, xs, xs, xs}; \
\
			_Pragma("GCC unroll 4") \
			for (int v = 0; v < ADD_PRODUCTS_BLOCK / 4; v++) \
			{ \
				EstVec4d	wv = {wi[4 * v], wi[4 * v + 1], wi[4 * v + 2], \
								  wi[4 * v + 3]}; \
\
				acc[v] += xi * wv; \
			} \
		} \
		memcpy(out + j0, acc, sizeof(acc)); \
	} \
	for (; j0 + 4 <= k; j0 += 4) \
	{ \
		EstVec4d	acc; \
\
		memcpy(&acc, out + j0, sizeof(acc)); \
		for (int i = 0; i < n; i++) \
		{ \
			const float *wi = w + (size_t) i * k + j0; \
			EstVec4d	wv = {wi[0], wi[1], wi[2], wi[3]}; \
\
			acc += (double) x[index ? index[i] : i] * wv; \
		} \
		memcpy(out + j0, &acc, sizeof(acc)); \
	}

#if defined(HAVE_VECTOR_TYPES) && defined(EST_HAVE_AVX2_VARIANTS)
__attribute__((target("avx2")))
static int
AddProductsAvx2(double *out, const float *x, const int *index, int n,
				const float *w, int k)
{
	int			j0 = 0;

	ADD_PRODUCTS_BODY
	return j0;
}
#endif

static void
AddProducts(double *out, const float *x, const int *index, int n,
			const float *w, int k)
{
	int			j0 = 0;

#if defined(HAVE_VECTOR_TYPES) && defined(EST_HAVE_AVX2_VARIANTS)
	if (HasAvx2())
		j0 = AddProductsAvx2(out, x, index, n, w, k);
	else
#endif
	{
#ifdef HAVE_VECTOR_TYPES
		ADD_PRODUCTS_BODY
#endif
	}
	for (; j0 < k; j0++)
	{
		double		acc = out[j0];

		for (int i = 0; i < n; i++)
			acc += (double) x[index ? index[i] : i] * (double) w[(size_t) i * k + j0];
		out[j0] = acc;
	}
}

/*
 * EstNetworkPredictOne scores one row x for inference.  It assembles the
 * input vector (when some segment is not dense) at the start of scratch,
 * as the batched forward does; hidden layers accumulate in float in
 * scratch, the logits in double in out, each layer walking its kernel
 * row by row; batch_norm uses the moving statistics exactly as
 * EstNetworkForward does.
 */
void
EstNetworkPredictOne(const EstNetwork *net, const float *x, float *scratch,
					 double *out)
{
	int			largest = MaxHidden(net);
	int			k_out = net->sizes[net->n_layers];
	float	   *bufs = scratch;
	const float *vec = x;
	const float *in;
	int			l;
	int			i;
	int			j;

	if (net->has_expansion)
	{
		AssembleRow(net, x, bufs);
		vec = bufs;
		bufs += net->input_width;
	}
	in = vec;
	if (net->n_dnn_inputs > 0)
	{
		for (i = 0; i < net->sizes[0]; i++)
			bufs[i] = vec[net->dnn_inputs[i]];
		in = bufs;
		bufs += net->sizes[0];
	}

	for (l = 0; l + 1 < net->n_layers; l++)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		const float *w = net->params + net->offset_w[l];
		float	   *h = bufs + (l % 2) * (size_t) largest;

		LayerOne(in, w, net->params + net->offset_b[l], in_size, out_size, h);
		if (net->batch_norm)
		{
			int			hl = l + 1;
			const float *gamma = net->params + net->offset_gamma[hl];
			const float *beta = net->params + net->offset_beta[hl];
			const float *moving = net->stats + net->offset_stats[hl];

			for (j = 0; j < out_size; j++)
			{
				float		inv_std = (float) (1.0 / sqrt((double) moving[out_size + j] +
														  net->bn_epsilon));
				float		xhat = (h[j] - moving[j]) * inv_std;

				h[j] = gamma[j] * xhat + beta[j];
			}
		}
		Activate(net->activation, h, (size_t) out_size);
		in = h;
	}

	{
		int			in_size = net->sizes[net->n_layers - 1];
		const float *w = net->params + net->offset_w[net->n_layers - 1];
		const float *b = net->params + net->offset_b[net->n_layers - 1];

		for (j = 0; j < k_out; j++)
			out[j] = b[j];
		AddProducts(out, in, NULL, in_size, w, k_out);
	}
	if (net->n_linear_inputs > 0)
	{
		const float *wl = net->params + net->linear_offset;
		const float *bl = wl + (size_t) net->n_linear_inputs * k_out;

		for (j = 0; j < k_out; j++)
			out[j] += bl[j];
		AddProducts(out, vec, net->linear_inputs, net->n_linear_inputs, wl,
					k_out);
	}
	HeadValues(net->head, out, k_out);
}

/*
 * EstHeadProbabilities writes the head's values of the logits of the last
 * forward pass into out (n x n_outputs): softmax probabilities, the
 * probability of class 1 for the sigmoid head, raw values for the squared
 * head.
 */
EST_CLONES_WIDE void
EstHeadProbabilities(const EstNetwork *net, const EstWorkspace *ws, int n,
					 double *out)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	size_t		count = (size_t) (n > 0 ? n : 0) * k;
	size_t		idx;
	int			i;

	for (idx = 0; idx < count; idx++)
		out[idx] = z[idx];
	if (net->head == EST_HEAD_SOFTMAX && k >= SOFTMAX_VECTOR_MIN)
	{
		/* SoftmaxRow's steps, the exponentials of all rows at once */
		SoftmaxRows(out, n, k);
		return;
	}
	for (i = 0; i < n; i++)
		HeadValues(net->head, out + (size_t) i * k, k);
}
