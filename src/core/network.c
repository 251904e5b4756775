/*-------------------------------------------------------------------------
 *
 * network.c
 *	  Dense layers: shapes, initialisation, forward and backward passes.
 *
 * A network keeps all of its parameters in one float32 vector, layer by
 * layer (kernel W_l row-major, then bias b_l).  A batch of n rows flows
 * through the layers as row-major matrices:
 *
 *		act[l+1] = f(act[l] * W_l + b_l)
 *
 * where act[0] is the caller's X, f is the hidden activation for hidden
 * layers and the identity for the output layer, whose values are the
 * logits read by the head.  Both passes use cblas_sgemm; the per-row
 * scorer EstNetworkPredictOne uses plain loops, because a matrix product
 * of one row would not pay for the BLAS call.
 *
 * The backward pass leaves in ws->delta[l] (for l >= 1) the gradient of
 * the mean loss with respect to the pre-activation values of layer l-1's
 * output, i.e. after multiplying by f'; ws->delta[n_layers] is the
 * gradient with respect to the logits, written by EstHeadLoss.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cblas.h>

#include "estcore.h"


/*
 * ExactParamCount returns the number of parameters of a network whose
 * layer sizes are sizes[0..n_layers], computed in 64 bits.  With sizes of
 * at most 65536 and at most EST_MAX_LAYERS + 1 layers it cannot overflow.
 */
static uint64_t
ExactParamCount(const int *sizes, int n_layers)
{
	uint64_t	total = 0;
	int			l;

	for (l = 0; l < n_layers; l++)
		total += (uint64_t) sizes[l] * (uint64_t) sizes[l + 1] +
			(uint64_t) sizes[l + 1];
	return total;
}

/*
 * FillSizes builds the sizes array of a shape.  It returns 0 when a count
 * is out of range, without looking at sizes beyond the limits.
 */
static int
FillSizes(int *sizes, int n_inputs, const int *hidden, int n_hidden,
		  int n_outputs)
{
	int			i;

	if (n_hidden < 0 || n_hidden > EST_MAX_LAYERS ||
		(n_hidden > 0 && hidden == NULL))
		return 0;
	if (n_inputs < 1 || n_inputs > EST_MAX_UNITS ||
		n_outputs < 1 || n_outputs > EST_MAX_CLASSES)
		return 0;
	sizes[0] = n_inputs;
	for (i = 0; i < n_hidden; i++)
	{
		if (hidden[i] < 1 || hidden[i] > EST_MAX_UNITS)
			return 0;
		sizes[i + 1] = hidden[i];
	}
	sizes[n_hidden + 1] = n_outputs;
	return 1;
}

/*
 * EstNetworkParamCount returns the number of parameters of the shape, or
 * 0 when the shape is invalid or needs more than EST_MAX_PARAMS.
 */
size_t
EstNetworkParamCount(int n_inputs, const int *hidden, int n_hidden,
					 int n_outputs)
{
	int			sizes[EST_MAX_LAYERS + 2];
	uint64_t	total;

	if (!FillSizes(sizes, n_inputs, hidden, n_hidden, n_outputs))
		return 0;
	total = ExactParamCount(sizes, n_hidden + 1);
	if (total > (uint64_t) EST_MAX_PARAMS)
		return 0;
	return (size_t) total;
}

/*
 * EstNetworkInit checks the shape against the limits, allocates the
 * parameter vector and, when rng is given, draws Glorot-uniform kernels
 * in parameter order.  On failure net is left zeroed.
 */
EstStatus
EstNetworkInit(EstNetwork *net, int n_inputs, const int *hidden,
			   int n_hidden, int n_outputs, EstActivation activation,
			   EstHead head, EstRng *rng, char *errmsg)
{
	uint64_t	total;
	size_t		offset;
	int			l;
	int			i;

	memset(net, 0, sizeof(*net));

	if (n_hidden < 0 || (n_hidden > 0 && hidden == NULL))
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
	if (n_inputs < 1)
	{
		EstSetError(errmsg, "network must have at least 1 input, not %d",
				 n_inputs);
		return EST_EINVAL;
	}
	if (n_inputs > EST_MAX_UNITS)
	{
		EstSetError(errmsg, "network has %d inputs, the limit is %d",
				 n_inputs, EST_MAX_UNITS);
		return EST_ELIMIT;
	}
	for (i = 0; i < n_hidden; i++)
	{
		if (hidden[i] < 1)
		{
			EstSetError(errmsg, "hidden layer %d must have at least 1 unit, not %d",
					 i + 1, hidden[i]);
			return EST_EINVAL;
		}
		if (hidden[i] > EST_MAX_UNITS)
		{
			EstSetError(errmsg, "hidden layer %d has %d units, the limit is %d",
					 i + 1, hidden[i], EST_MAX_UNITS);
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
	if (activation != EST_ACT_RELU && activation != EST_ACT_TANH &&
		activation != EST_ACT_SIGMOID && activation != EST_ACT_LINEAR)
	{
		EstSetError(errmsg, "unrecognized activation: %d", (int) activation);
		return EST_EINVAL;
	}
	if (head != EST_HEAD_SOFTMAX && head != EST_HEAD_SQUARED)
	{
		EstSetError(errmsg, "unrecognized head: %d", (int) head);
		return EST_EINVAL;
	}

	net->n_layers = n_hidden + 1;
	(void) FillSizes(net->sizes, n_inputs, hidden, n_hidden, n_outputs);
	total = ExactParamCount(net->sizes, net->n_layers);
	if (total > (uint64_t) EST_MAX_PARAMS)
	{
		EstSetError(errmsg, "network needs %llu parameters, the limit is %llu",
				 (unsigned long long) total,
				 (unsigned long long) EST_MAX_PARAMS);
		memset(net, 0, sizeof(*net));
		return EST_ELIMIT;
	}
	net->activation = activation;
	net->head = head;
	net->n_params = (size_t) total;

	offset = 0;
	for (l = 0; l < net->n_layers; l++)
	{
		net->offset_w[l] = offset;
		offset += (size_t) net->sizes[l] * (size_t) net->sizes[l + 1];
		net->offset_b[l] = offset;
		offset += (size_t) net->sizes[l + 1];
	}

	net->params = EstAllocZero(net->n_params, sizeof(float));
	if (net->params == NULL)
	{
		EstSetError(errmsg, "could not allocate %zu parameters",
				 net->n_params);
		memset(net, 0, sizeof(*net));
		return EST_ENOMEM;
	}

	if (rng != NULL)
	{
		for (l = 0; l < net->n_layers; l++)
		{
			size_t		count = (size_t) net->sizes[l] *
				(size_t) net->sizes[l + 1];
			double		limit = sqrt(6.0 / ((double) net->sizes[l] +
											(double) net->sizes[l + 1]));
			float	   *w = net->params + net->offset_w[l];
			size_t		k;

			for (k = 0; k < count; k++)
				w[k] = (float) ((2.0 * EstRngUniform(rng) - 1.0) * limit);
		}
	}
	return EST_OK;
}

/*
 * EstNetworkFree releases the parameters and zeroes net; it is safe on a
 * zeroed or already freed network.
 */
void
EstNetworkFree(EstNetwork *net)
{
	EstFree(net->params);
	memset(net, 0, sizeof(*net));
}

/*
 * EstWorkspaceInit allocates the activation and gradient buffers for
 * batches of up to max_batch rows.  On failure ws is left zeroed.
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
	for (l = 1; l <= net->n_layers; l++)
	{
		size_t		count = (size_t) max_batch;

		if ((size_t) net->sizes[l] > ((size_t) -1) / sizeof(float) / count)
			goto nomem;
		count *= (size_t) net->sizes[l];
		ws->act[l] = EstAllocZero(count, sizeof(float));
		ws->delta[l] = EstAllocZero(count, sizeof(float));
		if (ws->act[l] == NULL || ws->delta[l] == NULL)
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
 * EstWorkspaceFree releases the buffers and zeroes ws.
 */
void
EstWorkspaceFree(EstWorkspace *ws)
{
	int			l;

	for (l = 0; l < EST_MAX_LAYERS + 2; l++)
	{
		EstFree(ws->act[l]);
		EstFree(ws->delta[l]);
	}
	EstFree(ws->grad);
	memset(ws, 0, sizeof(*ws));
}

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
 * Activate applies the activation to count values in place.
 */
static void
Activate(EstActivation activation, float *v, size_t count)
{
	size_t		k;

	switch (activation)
	{
		case EST_ACT_RELU:
			for (k = 0; k < count; k++)
				v[k] = v[k] > 0.0f ? v[k] : 0.0f;
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
	}
}

/*
 * MultiplyDerivative multiplies d by the activation's derivative, which
 * it computes from the activation's outputs a.
 */
static void
MultiplyDerivative(EstActivation activation, const float *a, float *d,
				   size_t count)
{
	size_t		k;

	switch (activation)
	{
		case EST_ACT_RELU:
			for (k = 0; k < count; k++)
				if (!(a[k] > 0.0f))
					d[k] = 0.0f;
			break;
		case EST_ACT_TANH:
			for (k = 0; k < count; k++)
				d[k] *= 1.0f - a[k] * a[k];
			break;
		case EST_ACT_SIGMOID:
			for (k = 0; k < count; k++)
				d[k] *= a[k] * (1.0f - a[k]);
			break;
		case EST_ACT_LINEAR:
			break;
	}
}

/*
 * EstNetworkForward runs n rows of X through the network and keeps every
 * activation in the workspace for the backward pass.
 */
void
EstNetworkForward(const EstNetwork *net, EstWorkspace *ws, const float *X,
				  int n)
{
	int			l;

	if (n <= 0)
		return;
	for (l = 0; l < net->n_layers; l++)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		const float *in = (l == 0) ? X : ws->act[l];
		float	   *out = ws->act[l + 1];
		const float *w = net->params + net->offset_w[l];
		const float *b = net->params + net->offset_b[l];
		int			i;

		/* Start from the bias and let sgemm add the product (beta = 1). */
		for (i = 0; i < n; i++)
			memcpy(out + (size_t) i * out_size, b, sizeof(float) * out_size);
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
					n, out_size, in_size,
					1.0f, in, in_size, w, out_size,
					1.0f, out, out_size);
		if (l < net->n_layers - 1)
			Activate(net->activation, out, (size_t) n * out_size);
	}
}

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
 * EstHeadLoss returns the weighted mean loss of the logits of the last
 * forward pass and, with with_grad, stores d(mean loss)/d(logits) in
 * ws->delta[n_layers].
 *
 * The softmax head's row loss is log(sum_j exp(z_j)) - z_label, computed
 * from the largest logit down so that exp never overflows.  The squared
 * head's row loss is the mean over outputs of the squared error, so that
 * the loss of a row does not grow with the number of outputs (Keras'
 * "mean_squared_error"); the batch loss is the weighted mean of the row
 * losses.  A label that is not a valid class id gives a NaN loss and a
 * zero gradient for its row; the caller checks labels first.  When the
 * weights sum to 0 or less, the loss and the gradient are 0.
 */
double
EstHeadLoss(const EstNetwork *net, EstWorkspace *ws, const float *y,
			const float *weights, int n, int with_grad)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	float	   *delta = ws->delta[net->n_layers];
	double		weight_sum = 0.0;
	double		loss_sum = 0.0;
	int			i;
	int			j;

	if (n <= 0)
		return 0.0;
	for (i = 0; i < n; i++)
		weight_sum += weights ? (double) weights[i] : 1.0;
	if (!(weight_sum > 0.0))
	{
		if (with_grad)
			memset(delta, 0, sizeof(float) * (size_t) n * k);
		return 0.0;
	}

	for (i = 0; i < n; i++)
	{
		const float *zi = z + (size_t) i * k;
		float	   *di = delta + (size_t) i * k;
		double		w = weights ? (double) weights[i] : 1.0;

		if (net->head == EST_HEAD_SOFTMAX)
		{
			int			c = LabelClass(y[i], k);
			double		m = zi[0];
			double		sum = 0.0;
			double		lse;

			for (j = 1; j < k; j++)
				if (zi[j] > m)
					m = zi[j];
			for (j = 0; j < k; j++)
				sum += exp((double) zi[j] - m);
			lse = m + log(sum);
			if (c < 0)
			{
				loss_sum += NAN;
				if (with_grad)
					memset(di, 0, sizeof(float) * k);
				continue;
			}
			loss_sum += w * (lse - (double) zi[c]);
			if (with_grad)
			{
				double		scale = w / weight_sum;

				for (j = 0; j < k; j++)
				{
					double		p = exp((double) zi[j] - lse);

					di[j] = (float) (scale * (p - (j == c ? 1.0 : 0.0)));
				}
			}
		}
		else
		{
			const float *yi = y + (size_t) i * k;
			double		sq = 0.0;

			for (j = 0; j < k; j++)
			{
				double		e = (double) zi[j] - (double) yi[j];

				sq += e * e;
				if (with_grad)
					di[j] = (float) (2.0 * w * e / (weight_sum * k));
			}
			loss_sum += w * sq / k;
		}
	}
	return loss_sum / weight_sum;
}

/*
 * EstNetworkBackward turns ws->delta[n_layers] into the gradient of every
 * parameter, from the output layer down.  The input of layer 0 is X, and
 * no gradient is propagated into X.
 */
void
EstNetworkBackward(const EstNetwork *net, EstWorkspace *ws, const float *X,
				   int n)
{
	int			l;

	if (n <= 0)
	{
		memset(ws->grad, 0, sizeof(float) * net->n_params);
		return;
	}
	for (l = net->n_layers - 1; l >= 0; l--)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		const float *in = (l == 0) ? X : ws->act[l];
		const float *d = ws->delta[l + 1];
		const float *w = net->params + net->offset_w[l];
		float	   *gw = ws->grad + net->offset_w[l];
		float	   *gb = ws->grad + net->offset_b[l];
		int			i;
		int			j;

		/* dW_l = in^T * delta[l+1] */
		cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans,
					in_size, out_size, n,
					1.0f, in, in_size, d, out_size,
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

		/* delta[l] = delta[l+1] * W_l^T, times f'(act[l]) */
		if (l > 0)
		{
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
						n, in_size, out_size,
						1.0f, d, out_size, w, out_size,
						0.0f, ws->delta[l], in_size);
			MultiplyDerivative(net->activation, ws->act[l], ws->delta[l],
							   (size_t) n * in_size);
		}
	}
}

/*
 * SoftmaxRow turns k logits into probabilities in place, subtracting the
 * largest logit first so that exp never overflows.
 */
static void
SoftmaxRow(double *v, int k)
{
	double		m = v[0];
	double		sum = 0.0;
	int			j;

	for (j = 1; j < k; j++)
		if (v[j] > m)
			m = v[j];
	for (j = 0; j < k; j++)
	{
		v[j] = exp(v[j] - m);
		sum += v[j];
	}
	for (j = 0; j < k; j++)
		v[j] /= sum;
}

/*
 * EstNetworkPredictOne scores one row with plain loops, accumulating in
 * double.  Hidden activations go to scratch, alternating between its two
 * halves; the output layer writes straight into out.
 */
void
EstNetworkPredictOne(const EstNetwork *net, const float *x, float *scratch,
					 double *out)
{
	int			largest = 0;
	const float *in = x;
	int			l;

	for (l = 1; l < net->n_layers; l++)
		if (net->sizes[l] > largest)
			largest = net->sizes[l];

	for (l = 0; l < net->n_layers; l++)
	{
		int			in_size = net->sizes[l];
		int			out_size = net->sizes[l + 1];
		const float *w = net->params + net->offset_w[l];
		const float *b = net->params + net->offset_b[l];
		int			last = (l == net->n_layers - 1);
		float	   *hidden = scratch + (l % 2) * (size_t) largest;
		int			i;
		int			j;

		for (j = 0; j < out_size; j++)
		{
			double		acc = b[j];

			for (i = 0; i < in_size; i++)
				acc += (double) in[i] * (double) w[(size_t) i * out_size + j];
			if (last)
				out[j] = acc;
			else
				hidden[j] = (float) acc;
		}
		if (!last)
		{
			Activate(net->activation, hidden, (size_t) out_size);
			in = hidden;
		}
	}
	if (net->head == EST_HEAD_SOFTMAX)
		SoftmaxRow(out, net->sizes[net->n_layers]);
}

/*
 * EstHeadProbabilities writes the softmax of each row of the logits of
 * the last forward pass into probs.  For the squared head, which has no
 * probabilities, it copies the raw outputs, like EstNetworkPredictOne.
 */
void
EstHeadProbabilities(const EstNetwork *net, const EstWorkspace *ws, int n,
					 double *probs)
{
	int			k = net->sizes[net->n_layers];
	const float *z = ws->act[net->n_layers];
	size_t		count = (size_t) (n > 0 ? n : 0) * k;
	size_t		idx;
	int			i;

	for (idx = 0; idx < count; idx++)
		probs[idx] = z[idx];
	if (net->head != EST_HEAD_SOFTMAX)
		return;
	for (i = 0; i < n; i++)
		SoftmaxRow(probs + (size_t) i * k, k);
}
