/*
 * lstm_net.c: forward and backward passes of the forecast_lstm network, and the SQL
 * gradient check that tests them against finite differences.
 *
 * Every matrix product runs over the whole minibatch through riq_gemm: at each window step
 * a layer's gate pre-activations are [x_t, h_{t-1}] (B x (in + H)) times W^T
 * (W is 4H x (in + H), gates in the order input, forget, cell, output), and
 * backpropagation through time accumulates dW with one GEMM per step.
 *
 * Parameter layout (one flat vector):
 *   per layer l: W_l (4H x (in_l + H)) row-major, then b_l (4H)
 *   head: Wh (nout x H), Bf (horizon x nq x fdim), bo (nout)
 * out[b, k*nq + q] = Wh[k*nq+q] . h_T[b] + Bf[k, q] . f[b, k] + bo[k*nq+q]
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/blas.h"
#include "core/memory.h"
#include "core/rng.h"
#include "forecast/lstm_net.h"

PG_FUNCTION_INFO_V1(forecast_lstm_gradient_check);

static int
layer_in(const LstmShape *s, int l)
{
	return l == 0 ? s->din : s->hidden;
}

static int
layer_size(const LstmShape *s, int l)
{
	int			h4 = 4 * s->hidden;

	return h4 * (layer_in(s, l) + s->hidden) + h4;
}

static int
layer_offset(const LstmShape *s, int l)
{
	int			off = 0;

	for (int i = 0; i < l; i++)
		off += layer_size(s, i);
	return off;
}

static int
head_offset(const LstmShape *s)
{
	return layer_offset(s, s->layers);
}

static int
nout_of(const LstmShape *s)
{
	return s->horizon * s->nq;
}

void
lstm_check_shape(const LstmShape *s)
{
	if (s->layers < 1 || s->layers > LSTM_MAX_LAYERS || s->din < 1 || s->hidden < 1 ||
		s->hidden > 1024 || s->window < 1 || s->window > 10000 || s->horizon < 1 ||
		s->horizon > 10000 || s->nq < 1 || s->nq > 16 || s->fdim < 0 || s->din > 100000 ||
		s->fdim > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid LSTM shape"),
				 errdetail("layers %d, inputs %d, hidden %d, window %d, horizon %d, outputs per step %d, future features %d.",
						   s->layers, s->din, s->hidden, s->window, s->horizon, s->nq, s->fdim),
				 errhint("Use 1 or 2 layers, a hidden size up to 1024, and a window and horizon up to 10000.")));
}

int
lstm_param_count(const LstmShape *s)
{
	int64		n = 0;

	for (int l = 0; l < s->layers; l++)
		n += (int64) layer_size(s, l);
	n += (int64) nout_of(s) * s->hidden + (int64) s->horizon * s->nq * s->fdim + nout_of(s);
	if (n > 100000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the LSTM would have too many parameters"),
				 errdetail("It would have " INT64_FORMAT " parameters; the limit is 100000000.", n),
				 errhint("Lower hidden, horizon or the number of factors.")));
	return (int) n;
}

/*
 * Uniform(-1/sqrt(H), 1/sqrt(H)) weights (the classic LSTM initialisation), forget-gate
 * bias 1 so that memory is kept early in training, a small head.
 */
void
lstm_init_params(const LstmShape *s, double *p, RiqRng *rng)
{
	int			H = s->hidden;
	double		r = 1.0 / sqrt((double) H);
	int			nout = nout_of(s);
	double	   *q;

	for (int l = 0; l < s->layers; l++)
	{
		int			cols = layer_in(s, l) + H;
		double	   *w = p + layer_offset(s, l);
		double	   *b = w + 4 * H * cols;

		for (int i = 0; i < 4 * H * cols; i++)
			w[i] = (2.0 * riq_rng_uniform(rng) - 1.0) * r;
		for (int i = 0; i < 4 * H; i++)
			b[i] = (i >= H && i < 2 * H) ? 1.0 : 0.0;
	}
	q = p + head_offset(s);
	for (int i = 0; i < nout * H; i++)
		q[i] = (2.0 * riq_rng_uniform(rng) - 1.0) * r * 0.5;
	q += nout * H;
	for (int i = 0; i < s->horizon * s->nq * s->fdim; i++)
		q[i] = (2.0 * riq_rng_uniform(rng) - 1.0) * 0.05;
	q += s->horizon * s->nq * s->fdim;
	for (int i = 0; i < nout; i++)
		q[i] = 0.0;
}

LstmWork *
lstm_work_alloc(const LstmShape *s, int maxb, MemoryContext cxt)
{
	LstmWork   *w = MemoryContextAllocZero(cxt, sizeof(LstmWork));
	int			H = s->hidden;
	Size		total = 0;
	Size		steps = (Size) s->window * maxb;
	int			maxin = Max(s->din, H);

	for (int l = 0; l < s->layers; l++)
		total += steps * (layer_in(s, l) + H + 4 * H + 3 * H);
	total += (Size) maxb * (4 * H + maxin + H + 2 * H) + steps * H;
	riq_memory_check(cxt, riq_mul_size(total, sizeof(double), "the LSTM minibatch"),
					 "the LSTM minibatch");
	w->maxb = maxb;
	for (int l = 0; l < s->layers; l++)
	{
		w->xh[l] = MemoryContextAllocHuge(cxt, steps * (layer_in(s, l) + H) * sizeof(double));
		w->act[l] = MemoryContextAllocHuge(cxt, steps * 4 * H * sizeof(double));
		w->c[l] = MemoryContextAllocHuge(cxt, steps * H * sizeof(double));
		w->tc[l] = MemoryContextAllocHuge(cxt, steps * H * sizeof(double));
		w->h[l] = MemoryContextAllocHuge(cxt, steps * H * sizeof(double));
	}
	w->dz = MemoryContextAllocHuge(cxt, (Size) maxb * 4 * H * sizeof(double));
	w->dxh = MemoryContextAllocHuge(cxt, (Size) maxb * (maxin + H) * sizeof(double));
	w->dh = MemoryContextAllocHuge(cxt, (Size) maxb * H * sizeof(double));
	w->dc = MemoryContextAllocHuge(cxt, (Size) maxb * H * sizeof(double));
	w->dh_in = MemoryContextAllocHuge(cxt, steps * H * sizeof(double));
	return w;
}

static inline double
sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	else
	{
		double		e = exp(z);

		return e / (1.0 + e);
	}
}

void
lstm_forward(const LstmShape *s, const double *p, LstmWork *w, int b,
			 const double *x, const double *f, double *out)
{
	int			H = s->hidden;
	int			W = s->window;
	int			nout = nout_of(s);
	const double *wh,
			   *bf,
			   *bo;
	const double *htop;

	Assert(b >= 1 && b <= w->maxb);
	for (int l = 0; l < s->layers; l++)
	{
		int			in = layer_in(s, l);
		int			cols = in + H;
		const double *wl = p + layer_offset(s, l);
		const double *bl = wl + 4 * H * cols;

		for (int t = 0; t < W; t++)
		{
			double	   *xh = w->xh[l] + (Size) t * b * cols;
			double	   *act = w->act[l] + (Size) t * b * 4 * H;
			double	   *c = w->c[l] + (Size) t * b * H;
			double	   *tc = w->tc[l] + (Size) t * b * H;
			double	   *h = w->h[l] + (Size) t * b * H;

			/* [input_t, h_{t-1}] for the whole batch */
			for (int i = 0; i < b; i++)
			{
				double	   *row = xh + (Size) i * cols;

				if (l == 0)
					memcpy(row, x + ((Size) i * W + t) * s->din, sizeof(double) * in);
				else
					memcpy(row, w->h[l - 1] + ((Size) t * b + i) * H, sizeof(double) * in);
				if (t == 0)
					memset(row + in, 0, sizeof(double) * H);
				else
					memcpy(row + in, w->h[l] + ((Size) (t - 1) * b + i) * H, sizeof(double) * H);
			}
			riq_gemm(false, true, b, 4 * H, cols, 1.0, xh, cols, wl, cols, 0.0, act, 4 * H);
			for (int i = 0; i < b; i++)
			{
				double	   *a = act + (Size) i * 4 * H;
				const double *cprev = t > 0 ? w->c[l] + ((Size) (t - 1) * b + i) * H : NULL;

				for (int j = 0; j < H; j++)
				{
					double		ig = sigmoid(a[j] + bl[j]);
					double		fg = sigmoid(a[H + j] + bl[H + j]);
					double		gg = tanh(a[2 * H + j] + bl[2 * H + j]);
					double		og = sigmoid(a[3 * H + j] + bl[3 * H + j]);
					double		cc = ig * gg + (cprev ? fg * cprev[j] : 0.0);
					double		tcc = tanh(cc);

					a[j] = ig;
					a[H + j] = fg;
					a[2 * H + j] = gg;
					a[3 * H + j] = og;
					c[(Size) i * H + j] = cc;
					tc[(Size) i * H + j] = tcc;
					h[(Size) i * H + j] = og * tcc;
				}
			}
		}
	}

	/* head */
	wh = p + head_offset(s);
	bf = wh + (Size) nout * H;
	bo = bf + (Size) s->horizon * s->nq * s->fdim;
	htop = w->h[s->layers - 1] + (Size) (W - 1) * b * H;
	riq_gemm(false, true, b, nout, H, 1.0, htop, H, wh, H, 0.0, out, nout);
	for (int i = 0; i < b; i++)
	{
		double	   *o = out + (Size) i * nout;

		for (int k = 0; k < s->horizon; k++)
		{
			const double *fk = f + ((Size) i * s->horizon + k) * s->fdim;

			for (int q = 0; q < s->nq; q++)
			{
				int			oi = k * s->nq + q;
				const double *bk = bf + (Size) oi * s->fdim;
				double		sum = bo[oi];

				for (int j = 0; j < s->fdim; j++)
					sum += bk[j] * fk[j];
				o[oi] += sum;
			}
		}
	}
	w->f = f;
}

void
lstm_backward(const LstmShape *s, const double *p, LstmWork *w, int b,
			  const double *dout, double *grad)
{
	int			H = s->hidden;
	int			W = s->window;
	int			nout = nout_of(s);
	int			hoff = head_offset(s);
	const double *wh = p + hoff;
	double	   *gwh = grad + hoff;
	double	   *gbf = gwh + (Size) nout * H;
	double	   *gbo = gbf + (Size) s->horizon * s->nq * s->fdim;
	const double *htop = w->h[s->layers - 1] + (Size) (W - 1) * b * H;

	/* head */
	riq_gemm(true, false, nout, H, b, 1.0, dout, nout, htop, H, 1.0, gwh, H);
	for (int i = 0; i < b; i++)
	{
		const double *d = dout + (Size) i * nout;

		for (int k = 0; k < s->horizon; k++)
		{
			const double *fk = w->f + ((Size) i * s->horizon + k) * s->fdim;

			for (int q = 0; q < s->nq; q++)
			{
				int			oi = k * s->nq + q;
				double	   *gk = gbf + (Size) oi * s->fdim;

				for (int j = 0; j < s->fdim; j++)
					gk[j] += d[oi] * fk[j];
				gbo[oi] += d[oi];
			}
		}
	}

	/* gradient into the top layer's hidden states: only the last step feeds the head */
	memset(w->dh_in, 0, sizeof(double) * (Size) W * b * H);
	riq_gemm(false, false, b, H, nout, 1.0, dout, nout, wh, H, 0.0,
			 w->dh_in + (Size) (W - 1) * b * H, H);

	for (int l = s->layers - 1; l >= 0; l--)
	{
		int			in = layer_in(s, l);
		int			cols = in + H;
		int			loff = layer_offset(s, l);
		const double *wl = p + loff;
		double	   *gw = grad + loff;
		double	   *gb = gw + 4 * H * cols;

		memset(w->dh, 0, sizeof(double) * b * H);
		memset(w->dc, 0, sizeof(double) * b * H);
		for (int t = W - 1; t >= 0; t--)
		{
			const double *xh = w->xh[l] + (Size) t * b * cols;
			const double *act = w->act[l] + (Size) t * b * 4 * H;
			const double *tc = w->tc[l] + (Size) t * b * H;
			double	   *dhin = w->dh_in + (Size) t * b * H;

			for (int i = 0; i < b; i++)
			{
				const double *a = act + (Size) i * 4 * H;
				const double *cprev = t > 0 ? w->c[l] + ((Size) (t - 1) * b + i) * H : NULL;
				double	   *dz = w->dz + (Size) i * 4 * H;
				double	   *dh = w->dh + (Size) i * H;
				double	   *dc = w->dc + (Size) i * H;

				for (int j = 0; j < H; j++)
				{
					double		ig = a[j],
								fg = a[H + j],
								gg = a[2 * H + j],
								og = a[3 * H + j];
					double		tcc = tc[(Size) i * H + j];
					double		dhj = dh[j] + dhin[(Size) i * H + j];
					double		dcj = dc[j] + dhj * og * (1.0 - tcc * tcc);

					dz[j] = dcj * gg * ig * (1.0 - ig);
					dz[H + j] = cprev ? dcj * cprev[j] * fg * (1.0 - fg) : 0.0;
					dz[2 * H + j] = dcj * ig * (1.0 - gg * gg);
					dz[3 * H + j] = dhj * tcc * og * (1.0 - og);
					dc[j] = dcj * fg;
				}
			}
			/* dW += dZ^T [x, h_prev]; db += sum dZ; d[x, h_prev] = dZ W */
			riq_gemm(true, false, 4 * H, cols, b, 1.0, w->dz, 4 * H, xh, cols, 1.0, gw, cols);
			for (int i = 0; i < b; i++)
				for (int j = 0; j < 4 * H; j++)
					gb[j] += w->dz[(Size) i * 4 * H + j];
			riq_gemm(false, false, b, cols, 4 * H, 1.0, w->dz, 4 * H, wl, cols, 0.0, w->dxh, cols);
			for (int i = 0; i < b; i++)
			{
				const double *row = w->dxh + (Size) i * cols;

				memcpy(w->dh + (Size) i * H, row + in, sizeof(double) * H);
				/* the input part is the lower layer's dh at this step (saved after use) */
			}
			if (l > 0)
			{
				/* reuse dh_in of step t (already consumed) for the layer below */
				for (int i = 0; i < b; i++)
					memcpy(dhin + (Size) i * H, w->dxh + (Size) i * cols, sizeof(double) * H);
			}
		}
	}
}

/*
 * forecast_lstm_gradient_check(seed, layers): the largest relative difference between
 * the analytic gradient (backward) and central finite differences of a random linear
 * loss sum(out .* R) over a small random network and batch. A correct backward gives
 * about 1e-9 or less.
 */
Datum
forecast_lstm_gradient_check(PG_FUNCTION_ARGS)
{
	int32		seed = PG_GETARG_INT32(0);
	int32		layers = PG_GETARG_INT32(1);
	LstmShape	s;
	RiqRng		rng;
	int			np,
				nb = 3,
				nout;
	double	   *p,
			   *g,
			   *x,
			   *f,
			   *r,
			   *out;
	LstmWork   *w;
	double		worst = 0.0;
	const double eps = 1e-5;

	if (layers < 1 || layers > LSTM_MAX_LAYERS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("layers must be 1 or 2"),
				 errdetail("layers is %d.", layers)));
	s.din = 3;
	s.hidden = 4;
	s.layers = layers;
	s.window = 5;
	s.horizon = 3;
	s.nq = 2;
	s.fdim = 2;
	nout = s.horizon * s.nq;
	np = lstm_param_count(&s);
	riq_rng_seed(&rng, (uint64) (int64) seed, 0);
	p = palloc(sizeof(double) * np);
	g = palloc0(sizeof(double) * np);
	lstm_init_params(&s, p, &rng);
	/* perturb every parameter so that no gradient is trivially zero */
	for (int i = 0; i < np; i++)
		p[i] += 0.3 * riq_rng_normal(&rng);
	x = palloc(sizeof(double) * nb * s.window * s.din);
	f = palloc(sizeof(double) * nb * s.horizon * s.fdim);
	r = palloc(sizeof(double) * nb * nout);
	out = palloc(sizeof(double) * nb * nout);
	for (int i = 0; i < nb * s.window * s.din; i++)
		x[i] = riq_rng_normal(&rng);
	for (int i = 0; i < nb * s.horizon * s.fdim; i++)
		f[i] = riq_rng_normal(&rng);
	for (int i = 0; i < nb * nout; i++)
		r[i] = riq_rng_normal(&rng);
	w = lstm_work_alloc(&s, nb, CurrentMemoryContext);
	lstm_forward(&s, p, w, nb, x, f, out);
	lstm_backward(&s, p, w, nb, r, g);
	for (int i = 0; i < np; i++)
	{
		double		keep = p[i],
					lp = 0,
					lm = 0,
					num,
					err;

		CHECK_FOR_INTERRUPTS();
		p[i] = keep + eps;
		lstm_forward(&s, p, w, nb, x, f, out);
		for (int j = 0; j < nb * nout; j++)
			lp += out[j] * r[j];
		p[i] = keep - eps;
		lstm_forward(&s, p, w, nb, x, f, out);
		for (int j = 0; j < nb * nout; j++)
			lm += out[j] * r[j];
		p[i] = keep;
		num = (lp - lm) / (2.0 * eps);
		err = fabs(num - g[i]) / Max(Max(fabs(num), fabs(g[i])), 1e-3);
		worst = Max(worst, err);
	}
	PG_RETURN_FLOAT8(worst);
}
