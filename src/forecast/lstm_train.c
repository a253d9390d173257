/*
 * lstm_train.c: training the global forecast_lstm model over a panel of series.
 *
 * Samples are windows: for a series and an origin t, the network reads the W periods
 * ending at t and predicts the horizon P periods after it (a direct multi-horizon head:
 * one output per step and quantile, trained jointly). Each window is scaled by its own
 * mean absolute value, so one network serves series of any size and level, and the log of
 * that scale is an input. Calendar features (day of week and of year for daily data, week
 * of year for weekly, month for monthly), the factors (exog) of each step, and for each
 * output step its seasonal-naive value are inputs too.
 *
 * The loss is the pinball loss of the median and of the two interval quantiles. Training is
 * minibatch Adam with global gradient-norm clipping; the last `validation` periods of every
 * series are held out: the validation WAPE of the median chooses the epoch (early stopping)
 * and halves the learning rate when it stalls, and the held-out forecasts calibrate the
 * interval widths. Then (refit) each network is trained again from the same initial weights
 * on the whole history for the chosen number of epochs with the same learning-rate
 * schedule. A few networks with different seeds are averaged (ensemble).
 *
 * Everything is sequential and seeded: the same panel and options give the same model bit
 * for bit.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "core/memory.h"
#include "core/stats.h"
#include "core/rng.h"
#include "forecast/demand_class.h"
#include "forecast/lstm_train.h"

#define LSTM_CLIP_NORM		1.0
#define LSTM_LR_PATIENCE	3
#define LSTM_EMA			0.99

typedef struct Sample
{
	int32		series;
	int32		t;				/* origin: last period the window sees */
} Sample;

/* What the training loop needs beyond the panel. */
typedef struct TrainCtx
{
	const ForecastPanel *panel;
	const LstmConfig *cfg;
	LstmLayout *L;
	LstmShape  *S;
	int			np;
	double		tau[LSTM_NQ];
	LstmWork   *w;
	int			B;
	double	   *x,
			   *f,
			   *out,
			   *dout,
			   *tgt,
			   *mask,
			   *scale;
	double	   *grad,
			   *m1,
			   *m2;
	double		mean_scale;
	SeriesFit  *base;			/* ETS base per series at its initial state, or NULL */
	double	   *basebuf;		/* horizon */
} TrainCtx;

/* The windows to train on: the training part, the whole history, the held-out origins. */
typedef struct SampleSets
{
	Sample	   *trn;
	Sample	   *full;
	Sample	   *val;
	int			ntrain;
	int			nfull;
	int			nval;
} SampleSets;

/* The held-out origins' inputs and targets (built once) and the forecasts of them. */
typedef struct ValSet
{
	int			n;
	double	   *x,
			   *f,
			   *tgt,
			   *mask,
			   *scale;
	double	   *med,			/* one network's forecasts, written by validate() */
			   *lo,
			   *hi;
	double	   *emed,			/* the mean forecasts of the held-out networks */
			   *elo,
			   *ehi;
} ValSet;

int
lstm_cal_dim(ForecastFreq freq)
{
	switch (freq)
	{
		case FREQ_DAY:
			return 9;			/* one-hot day of week, day of year as sin/cos */
		case FREQ_WEEK:
			return 4;			/* week of year, two harmonics */
		case FREQ_MONTH:
			return 12;			/* one-hot month */
	}
	return 0;
}

void
lstm_cal_features(ForecastFreq freq, DateADT start, int k, double *out)
{
	int			y,
				m,
				d;

	if (freq == FREQ_MONTH)
	{
		j2date(start + POSTGRES_EPOCH_JDATE, &y, &m, &d);
		m = ((m - 1 + k) % 12 + 12) % 12;
		for (int i = 0; i < 12; i++)
			out[i] = (i == m) ? 1.0 : 0.0;
	}
	else
	{
		int			jd = start + POSTGRES_EPOCH_JDATE + (freq == FREQ_WEEK ? 7 * k : k);
		double		doy,
					a;

		j2date(jd, &y, &m, &d);
		doy = jd - date2j(y, 1, 1);
		a = 2.0 * M_PI * doy / 365.25;
		if (freq == FREQ_DAY)
		{
			int			dow = j2day(jd);

			for (int i = 0; i < 7; i++)
				out[i] = (i == dow) ? 1.0 : 0.0;
			out[7] = sin(a);
			out[8] = cos(a);
		}
		else
		{
			out[0] = sin(a);
			out[1] = cos(a);
			out[2] = sin(2.0 * a);
			out[3] = cos(2.0 * a);
		}
	}
}

void
lstm_layout_finish(LstmLayout *L, bool ets_base)
{
	L->fdim = L->cal_dim + L->n_exog + 5 + (ets_base ? 1 : 0);
	L->base_col = ets_base ? L->cal_dim + L->n_exog + 5 : -1;
}

/*
 * The ETS base of one series on its first nfit periods, left at its initial state so that
 * it can be run forward to any origin. Its form is form's when given (a warm refit, or the
 * refit on the whole history of the form chosen without the held-out tail); else the
 * series' demand class chooses as it does for 'auto' (demand_class.c): a sporadic series
 * (intermittent, lumpy or no demand: 9,779 of the default sample's 10,000) gets simple
 * exponential smoothing, ETS(A,N,N), the level that Croston's method and SBA smooth too
 * (no ETS form models sporadic demand, and trying all of them was most of the LSTM's
 * time); a smooth or erratic one automatic ETS (AICc over R's forms, as forecast_fit's
 * 'ets'). The form fitted is written back into form. A series ETS cannot fit (constant,
 * too short) gets the naive forecast: ETS(A,N,N) with alpha 1.
 */
void
lstm_base_fit(const double *y, int nfit, int season, int8 form[4], SeriesFit *fit)
{
	EtsOptions	opt;
	double		adi,
				cv2;
	int			demands;

	ets_default_options(&opt);
	if (form[0] >= 0)
	{
		opt.error = form[0];
		opt.trend = form[1];
		opt.season = form[2];
		opt.damped = form[3];
	}
	else if (nfit >= 3)
	{
		DemandClass dc = demand_classify(y, nfit, &adi, &cv2, &demands);

		if (dc == DEMAND_NONE || dc == DEMAND_INTERMITTENT || dc == DEMAND_LUMPY)
		{
			opt.error = ETS_ADD;
			opt.trend = ETS_NONE;
			opt.season = ETS_NONE;
			opt.damped = 0;
		}
	}
	if (nfit >= 3 && ets_fit(y, nfit, season, &opt, fit))
	{
		ets_restart(fit);
		form[0] = fit->error;
		form[1] = fit->trend;
		form[2] = fit->season;
		form[3] = fit->damped ? 1 : 0;
		return;
	}
	memset(fit, 0, sizeof(*fit));
	fit->method = FIT_ETS;
	fit->error = ETS_ADD;
	fit->trend = ETS_NONE;
	fit->season = ETS_NONE;
	fit->m = 1;
	fit->alpha = 1.0;
	fit->phi = 1.0;
	fit->init_level = nfit > 0 ? y[0] : 0.0;
	ets_restart(fit);
	/* the naive fallback chose nothing: the next fit chooses again */
	form[0] = form[1] = form[2] = form[3] = -1;
}

SeriesFit *
lstm_fit_bases(const ForecastPanel *panel, int V, bool verbose, int8 *forms)
{
	SeriesFit  *base;
	int8	   *local = NULL;
	int			warm = 0;

	/* this copy, the training's and the model's final states */
	riq_memory_check(CurrentMemoryContext,
					 riq_mul_size(panel->nseries, 3 * sizeof(SeriesFit), "the ETS bases"),
					 "the ETS bases");
	base = palloc(sizeof(SeriesFit) * panel->nseries);
	if (forms == NULL)
	{
		local = palloc(sizeof(int8) * 4 * (Size) panel->nseries);
		memset(local, -1, sizeof(int8) * 4 * (Size) panel->nseries);
		forms = local;
	}
	for (int i = 0; i < panel->nseries; i++)
		warm += forms[(Size) i * 4] >= 0;

	/* without the held-out tail, so that validation stays honest; series by series */
	lstm_parallel_bases(panel, V, forms, base);
	ereport(verbose ? NOTICE : DEBUG1,
			(errmsg("forecast_lstm_fit: ETS base fitted to %d series (%d with their previous form)",
					panel->nseries, warm)));
	if (local)
		pfree(local);
	return base;
}

/*
 * Training on the whole history: so is its base, with the form chosen without the tail
 * (one fit per series, not a second search); the forms fitted go to cfg->base_form.
 */
static void
refit_bases(TrainCtx *c)
{
	int			ns = c->panel->nseries;
	int8	   *form = palloc(sizeof(int8) * 4 * (Size) ns);

	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &c->base[i];

		form[(Size) i * 4] = f->error;
		form[(Size) i * 4 + 1] = f->trend;
		form[(Size) i * 4 + 2] = f->season;
		form[(Size) i * 4 + 3] = f->damped ? 1 : 0;
	}
	lstm_parallel_bases(c->panel, 0, form, c->base);
	if (c->cfg->base_form != NULL)
		memcpy(c->cfg->base_form, form, sizeof(int8) * 4 * (Size) ns);
	pfree(form);
}

/*
 * Run the base from its initial state over y[0..t]: the state at origin t is left in *at
 * (when not NULL) and its forecasts of periods t+1..t+P in out (the last value if the
 * model breaks down on these data).
 */
static void
base_forecast(const SeriesFit *init, const double *y, int t, int P, double *out, SeriesFit *at)
{
	SeriesFit	f = *init;
	bool		ok = ets_filter(y, t + 1, &f, NULL) < HUGE_VAL;

	if (ok)
	{
		ets_point(&f, P, out);
		for (int k = 0; k < P; k++)
			ok &= isfinite(out[k]);
	}
	if (!ok)
	{
		for (int k = 0; k < P; k++)
			out[k] = y[t];
		memset(&f, 0, sizeof(f));
		f.method = FIT_ETS;
		f.error = ETS_ADD;
		f.m = 1;
		f.alpha = 1.0;
		f.phi = 1.0;
		f.level = y[t];
	}
	if (at)
		*at = f;
}

static double
window_scale(const double *y, int t, int W)
{
	double		s = 0.0;

	for (int p = t - W + 1; p <= t; p++)
		s += fabs(y[p]);
	s /= W;
	return s > 0.0 ? s : 1.0;
}

double
lstm_build_sample(const LstmLayout *L, const double *y, const double *exog,
				  int nexog_rows, DateADT start, int t, const double *base,
				  double *x, double *f)
{
	int			W = L->window,
				P = L->horizon,
				E = L->n_exog,
				C = L->cal_dim;
	double		s = window_scale(y, t, W);
	double		ls = (log(s) - L->ls_mean) / L->ls_sd;
	double		last_level = 0.0,
				growth = 1.0,
				snaive;
	int			m = Min(Max(L->season, 1), W);

	/*
	 * The level of the last season in the window and its growth over the season before
	 * (when the window holds two): the seasonal-naive value times that growth is the
	 * "seasonal naive with drift" forecast, a strong base the head can lean on.
	 */
	for (int p = t - m + 1; p <= t; p++)
		last_level += y[p];
	last_level /= m * s;
	if (W >= 2 * m)
	{
		double		prev = 0.0;

		for (int p = t - 2 * m + 1; p <= t - m; p++)
			prev += y[p];
		prev /= m * s;
		if (prev > 0 && last_level > 0)
			growth = Max(0.5, Min(2.0, last_level / prev));
	}

	for (int j = 0; j < W; j++)
	{
		int			p = t - W + 1 + j;
		double	   *row = x + (Size) j * L->din;

		row[0] = lstm_to_space(L, y[p] / s);
		lstm_cal_features(L->freq, start, p, row + 1);
		for (int e = 0; e < E; e++)
			row[1 + C + e] = p < nexog_rows ? exog[(Size) p * E + e] : 0.0;
		row[1 + C + E] = ls;
	}
	for (int k = 0; k < P; k++)
	{
		int			p = t + 1 + k;
		double	   *row = f + (Size) k * L->fdim;
		int			q;

		lstm_cal_features(L->freq, start, p, row);
		for (int e = 0; e < E; e++)
			row[C + e] = p < nexog_rows ? exog[(Size) p * E + e] : 0.0;
		/* the same season's value in the last season the window saw */
		q = L->season >= 2 ? p - L->season * ((p - t + L->season - 1) / L->season) : t;
		snaive = (q >= t - W + 1 ? y[q] : y[t]) / s;
		row[C + E] = lstm_to_space(L, snaive);
		row[C + E + 1] = lstm_to_space(L, snaive * growth);
		row[C + E + 2] = lstm_to_space(L, last_level);
		row[C + E + 3] = lstm_to_space(L, snaive * sqrt(growth));
		/* the same season's mean over every season the window holds, at today's level */
		{
			double		sum = 0.0;
			int			cnt = 0;

			for (int r = q; r >= t - W + 1 && L->season >= 2; r -= L->season)
			{
				sum += y[r];
				cnt++;
			}
			row[C + E + 4] = lstm_to_space(L, cnt > 0 ? sum / cnt / s * sqrt(growth) : snaive);
		}
		/* the ETS forecast, which the network's outputs correct (bounded if ETS runs away) */
		if (L->base_col >= 0)
		{
			double		zb = base[k] / s;

			row[L->base_col] = lstm_to_space(L, isfinite(zb) ? Max(-10.0, Min(10.0, zb)) : snaive);
		}
	}
	return s;
}

/* Forward every network of the ensemble on nb inputs; average into med/lo/hi (nb x P). */
static void
ensemble_forward(const LstmShape *S, int base_col, const double *params, int nmodels, int np,
				 LstmWork *w, double *out, int nb, const double *x, const double *f,
				 double *med, double *lo, double *hi)
{
	int			P = S->horizon;
	int			nout = P * S->nq;
	int			xstride = S->window * S->din;
	int			fstride = P * S->fdim;

	memset(med, 0, sizeof(double) * nb * P);
	memset(lo, 0, sizeof(double) * nb * P);
	memset(hi, 0, sizeof(double) * nb * P);
	for (int m = 0; m < nmodels; m++)
	{
		for (int b0 = 0; b0 < nb; b0 += w->maxb)
		{
			int			bn = Min(w->maxb, nb - b0);

			lstm_forward(S, params + (Size) m * np, w, bn, x + (Size) b0 * xstride,
						 f + (Size) b0 * fstride, out);
			for (int i = 0; i < bn; i++)
				for (int k = 0; k < P; k++)
				{
					const double *o = out + (Size) i * nout + k * S->nq;
					Size		at = (Size) (b0 + i) * P + k;

					med[at] += o[0] / nmodels;
					lo[at] += o[1] / nmodels;
					hi[at] += o[2] / nmodels;
				}
		}
	}
	/* with a base the network gives corrections to it */
	if (base_col >= 0)
		for (int i = 0; i < nb * P; i++)
		{
			double		z = f[(Size) i * S->fdim + base_col];

			med[i] += z;
			lo[i] += z;
			hi[i] += z;
		}
	/* the quantile heads are trained separately: keep them on the right side */
	for (int i = 0; i < nb * P; i++)
	{
		lo[i] = Min(lo[i], med[i]);
		hi[i] = Max(hi[i], med[i]);
	}
}

/*
 * Only a share (shrink) of the network's correction to the base: every output moves by
 * the same amount, so the interval keeps the width the network gave it.
 */
static void
shrink_toward_base(double shrink, int base_col, int fdim, int n, const double *f,
				   double *med, double *lo, double *hi)
{
	for (int i = 0; i < n; i++)
	{
		double		d = (1.0 - shrink) * (med[i] - f[(Size) i * fdim + base_col]);

		med[i] -= d;
		lo[i] -= d;
		hi[i] -= d;
	}
}

void
lstm_predict_scaled(const LstmTrained *m, LstmWork *w, int nb, const double *x,
					const double *f, double *med, double *lo, double *hi)
{
	double	   *out = palloc(sizeof(double) * w->maxb * m->shape.horizon * m->shape.nq);

	ensemble_forward(&m->shape, m->layout.base_col, m->params, m->nmodels, m->nparams, w, out,
					 nb, x, f, med, lo, hi);
	if (m->layout.base_col >= 0 && m->shrink < 1.0)
		shrink_toward_base(m->shrink, m->layout.base_col, m->shape.fdim, nb * m->shape.horizon,
						   f, med, lo, hi);
	for (int i = 0; i < nb * m->shape.horizon; i++)
	{
		lo[i] = med[i] - m->calib_lo * (med[i] - lo[i]);
		hi[i] = med[i] + m->calib_hi * (hi[i] - med[i]);
	}
	pfree(out);
}

/* Build the inputs of samples[0..n) into x/f (and targets up to period lim - 1). */
static void
build_batch(TrainCtx *c, const Sample *smp, int n, int lim_back, double *x, double *f,
			double *tgt, double *mask, double *scale)
{
	const LstmLayout *L = c->L;
	int			P = L->horizon;

	for (int i = 0; i < n; i++)
	{
		const ForecastSeries *sr = &c->panel->series[smp[i].series];
		int			t = smp[i].t;
		int			lim = sr->n - lim_back;
		double		s;

		if (c->base)
			base_forecast(&c->base[smp[i].series], sr->y, t, P, c->basebuf, NULL);
		s = lstm_build_sample(L, sr->y, sr->exog, sr->n, sr->start, t, c->base ? c->basebuf : NULL,
							  x + (Size) i * L->window * L->din, f + (Size) i * P * L->fdim);
		scale[i] = s;
		if (tgt)
			for (int k = 0; k < P; k++)
			{
				int			p = t + 1 + k;
				bool		ok = p < lim;

				tgt[(Size) i * P + k] = ok ? lstm_to_space(L, sr->y[p] / s) : 0.0;
				mask[(Size) i * P + k] = ok ? 1.0 : 0.0;
			}
	}
}

/* One minibatch: forward, pinball-loss gradient, backward, clip, Adam. */
static void
train_step(TrainCtx *c, const Sample *smp, int n, int lim_back, double lr, int64 *adam_t,
		   double *params)
{
	const LstmShape *S = c->S;
	int			P = S->horizon;
	int			nout = P * S->nq;
	double		count = 0.0,
				norm = 0.0,
				clipf,
				bc1,
				bc2;

	build_batch(c, smp, n, lim_back, c->x, c->f, c->tgt, c->mask, c->scale);
	lstm_forward(S, params, c->w, n, c->x, c->f, c->out);
	for (int i = 0; i < n * P; i++)
		count += c->mask[i];
	if (count <= 0)
		return;
	for (int i = 0; i < n; i++)
		for (int k = 0; k < P; k++)
		{
			Size		at = (Size) i * P + k;
			double		wt = c->cfg->scale_weight ? c->scale[i] / c->mean_scale : 1.0;

			double		z = c->L->base_col >= 0 ?
				c->f[((Size) i * P + k) * S->fdim + c->L->base_col] : 0.0;

			for (int q = 0; q < S->nq; q++)
			{
				Size		o = (Size) i * nout + k * S->nq + q;
				double		diff = c->tgt[at] - z - c->out[o];

				c->dout[o] = c->mask[at] * wt * (diff > 0 ? -c->tau[q] : 1.0 - c->tau[q]) / count;
			}
		}
	memset(c->grad, 0, sizeof(double) * c->np);
	lstm_backward(S, params, c->w, n, c->dout, c->grad);
	for (int i = 0; i < c->np; i++)
		norm += c->grad[i] * c->grad[i];
	norm = sqrt(norm);
	clipf = norm > LSTM_CLIP_NORM ? LSTM_CLIP_NORM / norm : 1.0;
	(*adam_t)++;
	bc1 = 1.0 - pow(0.9, (double) *adam_t);
	bc2 = 1.0 - pow(0.999, (double) *adam_t);
	for (int i = 0; i < c->np; i++)
	{
		double		g = c->grad[i] * clipf;

		c->m1[i] = 0.9 * c->m1[i] + 0.1 * g;
		c->m2[i] = 0.999 * c->m2[i] + 0.001 * g * g;
		params[i] -= lr * (c->m1[i] / bc1) / (sqrt(c->m2[i] / bc2) + 1e-8);
	}
}

/*
 * Validation forecasts (scaled by their window) of one network's parameters into
 * v->med/lo/hi; returns their WAPE.
 */
static double
validate(TrainCtx *c, const double *params, int nmodels, ValSet *v)
{
	double		num = 0.0,
				den = 0.0;
	int			P = c->S->horizon;

	ensemble_forward(c->S, c->L->base_col, params, nmodels, c->np, c->w, c->out, v->n, v->x, v->f,
					 v->med, v->lo, v->hi);
	for (int i = 0; i < v->n; i++)
		for (int k = 0; k < P; k++)
		{
			Size		at = (Size) i * P + k;
			double		yhat = lstm_from_space(c->L, v->med[at]);
			double		y = lstm_from_space(c->L, v->tgt[at]);

			if (c->cfg->nonnegative && yhat < 0)
				yhat = 0;
			if (v->mask[at] > 0)
			{
				num += fabs(y - yhat) * v->scale[i];
				den += fabs(y) * v->scale[i];
			}
		}
	return den > 0 ? num / den : num;
}

static void
shuffle(RiqRng *rng, int *idx, int n, int take)
{
	for (int i = 0; i < take && i < n - 1; i++)
	{
		int			j = i + (int) riq_rng_below(rng, (uint64) (n - i));
		int			tmp = idx[i];

		idx[i] = idx[j];
		idx[j] = tmp;
	}
}

/*
 * Train one network. With epochs_fixed < 0: early stopping on the validation samples val,
 * recording the learning rate of each epoch in lr_hist and returning the best epoch
 * (params hold the best weights). Otherwise (val unused, may be NULL): epochs_fixed epochs
 * following lr_hist.
 */
static int
train_net(TrainCtx *c, int netno, const Sample *smp, int nsmp, int lim_back, ValSet *val,
		  int epochs_fixed, double *lr_hist, double *params, double *best_val)
{
	const LstmConfig *cfg = c->cfg;
	RiqRng		rng;
	int		   *idx = palloc(sizeof(int) * nsmp);
	double	   *best = palloc(sizeof(double) * c->np);
	double	   *ema = palloc(sizeof(double) * c->np);
	int			per_epoch = cfg->windows_per_epoch;
	int			pos = 0;
	int			max_epochs = epochs_fixed >= 0 ? epochs_fixed : cfg->max_epochs;
	double		lr = cfg->learning_rate;
	int64		adam_t = 0;
	int			best_epoch = 0,
				bad = 0;

	riq_rng_seed(&rng, (uint64) cfg->seed, (uint64) netno + 1);
	lstm_init_params(c->S, params, &rng);
	memset(c->m1, 0, sizeof(double) * c->np);
	memset(c->m2, 0, sizeof(double) * c->np);
	for (int i = 0; i < nsmp; i++)
		idx[i] = i;
	*best_val = get_float8_infinity();
	memcpy(best, params, sizeof(double) * c->np);
	memcpy(ema, params, sizeof(double) * c->np);

	for (int epoch = 1; epoch <= max_epochs; epoch++)
	{
		if (epochs_fixed >= 0)
			lr = lr_hist[epoch - 1];
		else
			lr_hist[epoch - 1] = lr;
		for (int b0 = 0; b0 < per_epoch; b0 += c->B)
		{
			int			bn = Min(c->B, per_epoch - b0);
			Sample	   *batch = palloc(sizeof(Sample) * bn);

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < bn; i++)
			{
				/* walk through a fresh permutation of all samples, epoch after epoch */
				if (pos == 0)
					shuffle(&rng, idx, nsmp, nsmp);
				batch[i] = smp[idx[pos]];
				pos = (pos + 1) % nsmp;
			}
			train_step(c, batch, bn, lim_back, lr, &adam_t, params);
			/* Polyak averaging: the running mean of the weights is what gets used */
			for (int i = 0; i < c->np; i++)
				ema[i] = LSTM_EMA * ema[i] + (1.0 - LSTM_EMA) * params[i];
			pfree(batch);
		}
		if (epochs_fixed < 0)
		{
			double		v = validate(c, ema, 1, val);

			if (!isfinite(v))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("LSTM training diverged"),
						 errdetail("The validation error became %g at epoch %d.", v, epoch),
						 errhint("Lower \"learning_rate\" in the options.")));
			ereport(cfg->verbose ? NOTICE : DEBUG1,
					(errmsg("forecast_lstm_fit: network %d/%d, epoch %d: validation WAPE %.4f (learning rate %g)",
							netno + 1, cfg->ensemble, epoch, v, lr)));
			if (v < *best_val * (1.0 - 1e-4))
			{
				*best_val = v;
				best_epoch = epoch;
				memcpy(best, ema, sizeof(double) * c->np);
				bad = 0;
			}
			else
			{
				bad++;
				if (bad >= cfg->patience)
					break;
				if (bad % LSTM_LR_PATIENCE == 0)
					lr *= 0.5;
			}
		}
		else
			ereport(cfg->verbose ? NOTICE : DEBUG1,
					(errmsg("forecast_lstm_fit: network %d/%d, refit epoch %d of %d",
							netno + 1, cfg->ensemble, epoch, epochs_fixed)));
	}
	if (epochs_fixed < 0)
		memcpy(params, best, sizeof(double) * c->np);
	else
		memcpy(params, ema, sizeof(double) * c->np);
	if (epochs_fixed >= 0)
		best_epoch = epochs_fixed;
	pfree(idx);
	pfree(best);
	pfree(ema);
	return best_epoch;
}

/* factor a with P(y < med - a (med - lo)) = q on the validation points */
static double
calibrate_side(const double *r, int n, double q)
{
	double	   *v;
	double		a;
	int			at;

	if (n < 20)
		return 1.0;
	v = palloc(sizeof(double) * n);
	memcpy(v, r, sizeof(double) * n);
	qsort(v, n, sizeof(double), riq_cmp_double);
	at = (int) floor((1.0 - q) * (n - 1) + 0.5);
	a = v[Max(0, Min(n - 1, at))];
	pfree(v);
	return Max(0.25, Min(4.0, a));
}

/* The layout of the inputs and the network's shape from the panel and the options. */
static void
init_layout(LstmTrained *res, const ForecastPanel *panel, const LstmConfig *cfg)
{
	LstmLayout *L = &res->layout;
	LstmShape  *S = &res->shape;

	L->freq = panel->freq;
	L->season = panel->season;
	L->window = cfg->window;
	L->horizon = cfg->horizon;
	L->n_exog = panel->n_exog;
	L->cal_dim = lstm_cal_dim(panel->freq);
	L->din = 2 + L->cal_dim + L->n_exog;
	lstm_layout_finish(L, cfg->ets_base);
	L->ls_mean = 0.0;
	L->ls_sd = 1.0;
	L->log_space = cfg->log_space;
	S->din = L->din;
	S->hidden = cfg->hidden;
	S->layers = cfg->layers;
	S->window = cfg->window;
	S->horizon = cfg->horizon;
	S->nq = LSTM_NQ;
	S->fdim = L->fdim;
	lstm_check_shape(S);
	res->nparams = lstm_param_count(S);
	res->nmodels = cfg->ensemble;
	res->q_lo = cfg->q_lo;
	res->q_hi = cfg->q_hi;
}

/*
 * Count the samples: origins with a full window and at least one target. Without a
 * series long enough for a held-out tail, the training part is the whole history.
 */
static void
count_samples(const ForecastPanel *panel, int W, int V, SampleSets *ss)
{
	ss->ntrain = ss->nfull = ss->nval = 0;
	for (int i = 0; i < panel->nseries; i++)
	{
		int			n = panel->series[i].n;

		ss->nfull += Max(0, n - W);
		ss->ntrain += Max(0, n - V - W);
		if (n - V - 1 >= W - 1 && V > 0)
			ss->nval++;
	}
	if (ss->nval == 0)
		ss->ntrain = ss->nfull;
	if (ss->nfull == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every series is too short for the LSTM window"),
				 errdetail("The window is %d periods; a series needs at least %d.", W, W + 1),
				 errhint("Give a smaller \"window\" in the options, or longer series.")));
}

/*
 * List the samples counted by count_samples in work, and standardise log(scale) over the
 * training windows (into L). Returns the training windows' mean scale (1 without any).
 */
static double
collect_samples(const ForecastPanel *panel, int W, int V, MemoryContext work, SampleSets *ss,
				LstmLayout *L)
{
	int			nval = ss->nval;
	int			iv = 0;
	double		lsum = 0,
				lsq = 0,
				ssum = 0;
	int			nls = 0;

	ss->trn = riq_alloc(work, riq_mul_size(ss->ntrain, sizeof(Sample), "LSTM samples"), "LSTM samples");
	ss->full = riq_alloc(work, riq_mul_size(ss->nfull, sizeof(Sample), "LSTM samples"), "LSTM samples");
	ss->val = riq_alloc(work, riq_mul_size(Max(nval, 1), sizeof(Sample), "LSTM samples"), "LSTM samples");
	ss->ntrain = ss->nfull = 0;
	for (int i = 0; i < panel->nseries; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		for (int t = W - 1; t <= sr->n - 2; t++)
		{
			ss->full[ss->nfull].series = i;
			ss->full[ss->nfull++].t = t;
			if (nval == 0 || t <= sr->n - V - 2)
			{
				double		sc = window_scale(sr->y, t, W);
				double		ls = log(sc);

				ssum += sc;

				ss->trn[ss->ntrain].series = i;
				ss->trn[ss->ntrain++].t = t;
				lsum += ls;
				lsq += ls * ls;
				nls++;
			}
		}
		if (nval > 0 && sr->n - V - 1 >= W - 1)
		{
			ss->val[iv].series = i;
			ss->val[iv++].t = sr->n - V - 1;
		}
	}
	if (nls > 0)
	{
		L->ls_mean = lsum / nls;
		L->ls_sd = sqrt(Max(lsq / nls - L->ls_mean * L->ls_mean, 0.0));
		if (!(L->ls_sd > 1e-6))
			L->ls_sd = 1.0;
	}
	return nls > 0 && ssum > 0 ? ssum / nls : 1.0;
}

/*
 * The training context: the minibatch buffers (checked against the memory budget with
 * the validation buffers), the ETS bases and Adam's moments. Allocates in the current
 * context (the training's work context).
 */
static void
init_train_ctx(TrainCtx *c, LstmTrained *res, const ForecastPanel *panel, const LstmConfig *cfg,
			   double mean_scale, int nval, MemoryContext work)
{
	LstmLayout *L = &res->layout;
	LstmShape  *S = &res->shape;
	int			W = cfg->window,
				P = cfg->horizon;

	memset(c, 0, sizeof(*c));
	c->panel = panel;
	c->cfg = cfg;
	c->L = L;
	c->S = S;
	c->np = res->nparams;
	c->tau[0] = 0.5;
	c->tau[1] = res->q_lo;
	c->tau[2] = res->q_hi;
	c->B = cfg->batch_size;
	c->mean_scale = mean_scale;
	c->w = lstm_work_alloc(S, c->B, work);
	{
		Size		per = (Size) W * L->din + (Size) P * L->fdim + (Size) P * (2 + 2 * LSTM_NQ) + 1;
		Size		need = riq_mul_size(per, (Size) c->B + nval + Min(nval, cfg->validation_series),
										"LSTM batches");

		need += (Size) c->np * (4 + res->nmodels);
		riq_memory_check(work, riq_mul_size(need, sizeof(double), "LSTM batches"), "LSTM training");
	}
	c->x = palloc(sizeof(double) * c->B * W * L->din);
	c->f = palloc(sizeof(double) * c->B * P * L->fdim);
	c->out = palloc(sizeof(double) * c->B * P * LSTM_NQ);
	c->dout = palloc(sizeof(double) * c->B * P * LSTM_NQ);
	c->tgt = palloc(sizeof(double) * c->B * P);
	c->mask = palloc(sizeof(double) * c->B * P);
	c->scale = palloc(sizeof(double) * c->B);
	if (cfg->ets_base)
	{
		c->basebuf = palloc(sizeof(double) * P);
		if (cfg->base_init)
		{
			c->base = palloc(sizeof(SeriesFit) * panel->nseries);
			memcpy(c->base, cfg->base_init, sizeof(SeriesFit) * panel->nseries);
		}
		else
			c->base = lstm_fit_bases(panel, cfg->validation, cfg->verbose, cfg->base_form);
	}
	c->grad = palloc(sizeof(double) * c->np);
	c->m1 = palloc(sizeof(double) * c->np);
	c->m2 = palloc(sizeof(double) * c->np);
}

/*
 * The held-out origins' inputs, built once: their targets are the V held-out periods
 * only. Allocates in the current context (the training's work context).
 */
static void
init_validation(TrainCtx *c, const SampleSets *ss, int V, MemoryContext work, ValSet *v)
{
	const LstmLayout *L = c->L;
	int			nval = ss->nval,
				W = L->window,
				P = L->horizon;

	v->n = nval;
	v->x = MemoryContextAllocHuge(work, sizeof(double) * nval * W * L->din);
	v->f = MemoryContextAllocHuge(work, sizeof(double) * nval * P * L->fdim);
	v->tgt = palloc(sizeof(double) * nval * P);
	v->mask = palloc(sizeof(double) * nval * P);
	v->scale = palloc(sizeof(double) * nval);
	v->med = palloc(sizeof(double) * nval * P);
	v->lo = palloc(sizeof(double) * nval * P);
	v->hi = palloc(sizeof(double) * nval * P);
	v->emed = palloc0(sizeof(double) * nval * P);
	v->elo = palloc0(sizeof(double) * nval * P);
	v->ehi = palloc0(sizeof(double) * nval * P);
	build_batch(c, ss->val, nval, 0, v->x, v->f, v->tgt, v->mask, v->scale);
	for (int i = 0; i < nval; i++)
		for (int k = V; k < P; k++)
			v->mask[(Size) i * P + k] = 0.0;
}

/*
 * The held-out origins early stopping reads: all of them, or when there are more than
 * cfg->validation_series, that many series drawn without replacement by the seed (stream
 * LSTM_VAL_STREAM, apart from the networks'), kept in series order. The figures that
 * decide what the model is (the correction's share, the interval's calibration, the
 * window's WAPE) still come from every held-out origin; the sample only steers the epochs
 * and the learning rate, whose cost it bounds: a validation pass costs as much as training
 * on that many windows, every epoch.
 */
#define LSTM_VAL_STREAM 1000003

static ValSet *
validation_sample(const TrainCtx *c, ValSet *v)
{
	const LstmLayout *L = c->L;
	int			cap = c->cfg->validation_series,
				P = L->horizon;
	Size		xs = (Size) L->window * L->din,
				fs = (Size) P * L->fdim;
	ValSet	   *vs;
	int		   *idx;
	bool	   *take;
	RiqRng		rng;
	int			j = 0;

	if (v->n <= cap)
		return v;
	idx = palloc(sizeof(int) * v->n);
	take = palloc0(sizeof(bool) * v->n);
	for (int i = 0; i < v->n; i++)
		idx[i] = i;
	riq_rng_seed(&rng, (uint64) c->cfg->seed, LSTM_VAL_STREAM);
	shuffle(&rng, idx, v->n, cap);
	for (int i = 0; i < cap; i++)
		take[idx[i]] = true;
	vs = palloc0(sizeof(ValSet));
	vs->n = cap;
	vs->x = palloc(sizeof(double) * cap * xs);
	vs->f = palloc(sizeof(double) * cap * fs);
	vs->tgt = palloc(sizeof(double) * cap * P);
	vs->mask = palloc(sizeof(double) * cap * P);
	vs->scale = palloc(sizeof(double) * cap);
	vs->med = palloc(sizeof(double) * cap * P);
	vs->lo = palloc(sizeof(double) * cap * P);
	vs->hi = palloc(sizeof(double) * cap * P);
	for (int i = 0; i < v->n; i++)
	{
		if (!take[i])
			continue;
		memcpy(vs->x + j * xs, v->x + i * xs, sizeof(double) * xs);
		memcpy(vs->f + j * fs, v->f + i * fs, sizeof(double) * fs);
		memcpy(vs->tgt + (Size) j * P, v->tgt + (Size) i * P, sizeof(double) * P);
		memcpy(vs->mask + (Size) j * P, v->mask + (Size) i * P, sizeof(double) * P);
		vs->scale[j++] = v->scale[i];
	}
	pfree(idx);
	pfree(take);
	return vs;
}

/* keep the first network as trained against the tail (in res's context) */
static void
keep_held(LstmTrained *res, const double *params, int np, int epochs, const double *lr_hist)
{
	MemoryContext cxt = GetMemoryChunkContext(res);

	res->held.window = res->layout.window;
	res->held.nparams = np;
	res->held.epochs = epochs;
	res->held.params = MemoryContextAlloc(cxt, sizeof(double) * np);
	memcpy(res->held.params, params, sizeof(double) * np);
	res->held.lr_hist = MemoryContextAlloc(cxt, sizeof(double) * Max(epochs, 1));
	memcpy(res->held.lr_hist, lr_hist, sizeof(double) * epochs);
}

/*
 * Training with a held-out tail. With refit (the default) only the first network is
 * trained against the validation tail: it chooses the number of epochs and the
 * learning-rate schedule, and its held-out forecasts calibrate the intervals. Then every
 * network of the ensemble is trained on the whole history with that schedule. Without
 * refit each network stops early on its own and the held-out forecasts are the ensemble's.
 */
static void
train_held_out(TrainCtx *c, LstmTrained *res, const SampleSets *ss, ValSet *v, ValSet *vs,
			   double *lr_hist)
{
	const LstmConfig *cfg = c->cfg;
	int			V = cfg->validation,
				P = cfg->horizon;
	int			nheld = cfg->refit ? 1 : res->nmodels;
	int			epochs = 1;
	double		bv;

	for (int m = 0; m < nheld; m++)
	{
		double	   *params = res->params + (Size) m * c->np;
		int			e;

		if (m == 0 && cfg->held != NULL)
		{
			/* trained already (choose_window): the same network, bit for bit */
			Assert(cfg->held->nparams == c->np && cfg->held->window == cfg->window);
			memcpy(params, cfg->held->params, sizeof(double) * c->np);
			e = cfg->held->epochs;
			memcpy(lr_hist, cfg->held->lr_hist, sizeof(double) * e);
		}
		else
			e = train_net(c, m, ss->trn, ss->ntrain, V, vs, -1, lr_hist, params, &bv);
		if (m == 0)
			keep_held(res, params, c->np, e, lr_hist);
		/* the held-out forecasts of the kept (best) weights, on every held-out origin */
		validate(c, params, 1, v);
		for (int i = 0; i < v->n * P; i++)
		{
			v->emed[i] += v->med[i] / nheld;
			v->elo[i] += v->lo[i] / nheld;
			v->ehi[i] += v->hi[i] / nheld;
		}
		if (m == 0)
			epochs = Max(e, 1);
	}
	res->epochs = epochs;
	if (cfg->refit && c->base && V > 0)
		refit_bases(c);
	if (cfg->refit)
	{
		LstmConfig	rcfg = *cfg;

		/* the ensemble's networks, side by side in the forecast workers when there are any */
		rcfg.base_init = c->base;
		lstm_parallel_refit(c->panel, &rcfg, res->nmodels, c->np, epochs, lr_hist, res->params);
	}
}

/* Training without a held-out tail: a fixed number of epochs at the given rate. */
static void
train_whole(TrainCtx *c, LstmTrained *res, const SampleSets *ss, double *lr_hist)
{
	const LstmConfig *cfg = c->cfg;
	int			epochs = Min(cfg->max_epochs, 40);
	double		bv;

	for (int e = 0; e < epochs; e++)
		lr_hist[e] = cfg->learning_rate;
	if (c->base && cfg->validation > 0)
		refit_bases(c);
	for (int m = 0; m < res->nmodels; m++)
		train_net(c, m, ss->full, ss->nfull, 0, NULL, epochs, lr_hist,
				  res->params + (Size) m * c->np, &bv);
	res->epochs = epochs;
}

/*
 * One network of the ensemble trained on the whole history for `epochs` epochs following
 * lr_hist, its bases cfg->base_init (fitted on the whole history): what train_held_out's
 * refit does for network netno, on its own, so that a parallel worker can do it.
 */
void
lstm_train_refit_net(const ForecastPanel *panel, const LstmConfig *cfg, int netno, int epochs,
					 const double *lr_hist, double *params)
{
	MemoryContext work,
				old;
	LstmTrained res;
	TrainCtx	c;
	SampleSets	ss;
	double		mean_scale,
				bv;

	Assert(!cfg->ets_base || cfg->base_init != NULL);
	memset(&res, 0, sizeof(res));
	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_lstm_fit network", ALLOCSET_DEFAULT_SIZES);
	init_layout(&res, panel, cfg);
	count_samples(panel, cfg->window, cfg->validation, &ss);
	old = MemoryContextSwitchTo(work);
	mean_scale = collect_samples(panel, cfg->window, cfg->validation, work, &ss, &res.layout);
	init_train_ctx(&c, &res, panel, cfg, mean_scale, 0, work);
	train_net(&c, netno, ss.full, ss.nfull, 0, NULL, epochs, (double *) lr_hist, params, &bv);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
}

/* the parameter count of the network cfg describes for this panel */
int
lstm_train_nparams(const ForecastPanel *panel, const LstmConfig *cfg)
{
	LstmTrained res;

	memset(&res, 0, sizeof(res));
	init_layout(&res, panel, cfg);
	return res.nparams;
}

/*
 * Interval calibration and the validation figures (WAPE, coverage), from the held-out
 * ensemble forecasts in v.
 */
static void
calibrate(LstmTrained *res, const ValSet *v, const LstmConfig *cfg)
{
	const LstmLayout *L = &res->layout;
	int			nval = v->n,
				P = L->horizon;
	double	   *rlo = palloc(sizeof(double) * nval * P);
	double	   *rhi = palloc(sizeof(double) * nval * P);
	int			nr = 0;
	double		num = 0,
				den = 0,
				inside = 0;

	for (int i = 0; i < nval * P; i++)
	{
		double		md = v->emed[i],
					y = v->tgt[i];
		double		wl = md - Min(v->elo[i], md),
					wh = Max(v->ehi[i], md) - md;

		if (v->mask[i] <= 0)
			continue;
		rlo[nr] = wl > 1e-12 ? (md - y) / wl : (y < md ? 1e6 : -1e6);
		rhi[nr] = wh > 1e-12 ? (y - md) / wh : (y > md ? 1e6 : -1e6);
		nr++;
	}
	res->calib_lo = calibrate_side(rlo, nr, res->q_lo);
	res->calib_hi = calibrate_side(rhi, nr, 1.0 - res->q_hi);
	for (int i = 0; i < nval; i++)
		for (int k = 0; k < P; k++)
		{
			Size		at = (Size) i * P + k;
			double		md = v->emed[at],
						y = v->tgt[at];
			double		lo = md - res->calib_lo * (md - Min(v->elo[at], md));
			double		hi = md + res->calib_hi * (Max(v->ehi[at], md) - md);

			if (v->mask[at] <= 0)
				continue;
			{
				double		yh = lstm_from_space(L, md),
							yt = lstm_from_space(L, y);

				if (cfg->nonnegative)
					yh = Max(yh, 0.0);
				num += fabs(yt - yh) * v->scale[i];
				den += fabs(yt) * v->scale[i];
			}
			inside += (y >= lo && y <= hi) ? 1 : 0;
		}
	res->val_wape = den > 0 ? num / den : num;
	res->val_coverage = nr > 0 ? inside / nr : get_float8_nan();
}

/* validation WAPE of the base plus shrink times the network's correction */
static double
shrunk_wape(const LstmLayout *L, const ValSet *v, bool nonnegative, double shrink)
{
	int			P = L->horizon;
	double		num = 0.0,
				den = 0.0;

	for (int i = 0; i < v->n; i++)
		for (int k = 0; k < P; k++)
		{
			Size		at = (Size) i * P + k;
			double		z = v->f[at * L->fdim + L->base_col];
			double		yh = lstm_from_space(L, v->emed[at] - (1.0 - shrink) * (v->emed[at] - z)),
						yt = lstm_from_space(L, v->tgt[at]);

			if (v->mask[at] <= 0)
				continue;
			if (nonnegative)
				yh = Max(yh, 0.0);
			num += fabs(yt - yh) * v->scale[i];
			den += fabs(yt) * v->scale[i];
		}
	return den > 0 ? num / den : num;
}

/*
 * Whether the gain of shrink over the base on the held-out tail is shown, not just seen:
 * the series are the independent units (one origin each), so the per-series gains in
 * absolute error (in the WAPE's units) must have a mean above LSTM_SHRINK_Z standard errors
 * (a one-sided paired test at 5%). The network was stopped early on this same tail and the
 * share picked on it, so its held-out error flatters it; the test is what keeps a
 * correction fitted to noise from passing on that flattery.
 */
#define LSTM_SHRINK_Z 1.645

static bool
shrink_gain_shown(const LstmLayout *L, const ValSet *v, bool nonnegative, double shrink)
{
	int			P = L->horizon;
	double		sum = 0.0,
				sq = 0.0,
				mean,
				sd;

	if (v->n < 2)
		return false;
	for (int i = 0; i < v->n; i++)
	{
		double		gain = 0.0;

		for (int k = 0; k < P; k++)
		{
			Size		at = (Size) i * P + k;
			double		z = v->f[at * L->fdim + L->base_col];
			double		yb = lstm_from_space(L, z),
						yh = lstm_from_space(L, v->emed[at] - (1.0 - shrink) * (v->emed[at] - z)),
						yt = lstm_from_space(L, v->tgt[at]);

			if (v->mask[at] <= 0)
				continue;
			if (nonnegative)
			{
				yb = Max(yb, 0.0);
				yh = Max(yh, 0.0);
			}
			gain += (fabs(yt - yb) - fabs(yt - yh)) * v->scale[i];
		}
		sum += gain;
		sq += gain * gain;
	}
	mean = sum / v->n;
	sd = sqrt(Max(sq / v->n - mean * mean, 0.0) * v->n / (v->n - 1));
	return mean > LSTM_SHRINK_Z * sd / sqrt((double) v->n);
}

/*
 * Whether the network's correction is used, by evidence: on the held-out tail (the honest
 * ETS bases' forecasts and the held-out network's), the WAPE of the base alone, of the base
 * plus the whole correction, and of the base plus a share s of it for s in steps of
 * 1/LSTM_SHRINK_STEPS; the lowest wins, the smaller share on ties, and then only if its gain
 * over the base is shown across the series (shrink_gain_shown): otherwise the base alone is
 * used (s = 0). The WAPE is convex in s without the clamp at zero (a sum of absolute values
 * of lines in s), so the grid finds its minimum to a step.
 *
 * One share for the whole model, not one per series: the tail holds one origin per series,
 * and its `horizon` errors move together (the base's level error persists through the
 * horizon), so a series' own share would rest on about one independent error and be fitted
 * to noise, which is what this guards against. Pooled over every series it rests on them all.
 *
 * The shrunk held-out forecasts replace the network's in v, so that the interval is
 * calibrated and the validation figures computed for what is used. With s = 1 nothing in v
 * changes (the training and its model stay bit for bit what they were).
 */
#define LSTM_SHRINK_STEPS 20

static void
choose_shrink(LstmTrained *res, ValSet *v, const LstmConfig *cfg)
{
	const LstmLayout *L = &res->layout;
	double		best_s = 0.0,
				best;

	res->val_wape_base = best = shrunk_wape(L, v, cfg->nonnegative, 0.0);
	for (int j = 1; j <= LSTM_SHRINK_STEPS; j++)
	{
		double		s = (double) j / LSTM_SHRINK_STEPS;
		double		w = shrunk_wape(L, v, cfg->nonnegative, s);

		if (j == LSTM_SHRINK_STEPS)
			res->val_wape_net = w;
		if (w < best)
		{
			best = w;
			best_s = s;
		}
	}
	if (best_s > 0.0 && !shrink_gain_shown(L, v, cfg->nonnegative, best_s))
		best_s = 0.0;
	res->shrink = best_s;
	if (best_s < 1.0)
		shrink_toward_base(best_s, L->base_col, L->fdim, v->n * L->horizon, v->f,
						   v->emed, v->elo, v->ehi);
	ereport(cfg->verbose ? NOTICE : DEBUG1,
			(errmsg("forecast_lstm_fit: validation WAPE %.4f for the ETS base, %.4f with the network's correction; its weight is %g",
					res->val_wape_base, res->val_wape_net, res->shrink)));
}

/* each series' base at its last period: where forecasting starts from */
static SeriesFit *
final_bases(TrainCtx *c)
{
	const ForecastPanel *panel = c->panel;
	SeriesFit  *base = palloc(sizeof(SeriesFit) * panel->nseries);

	for (int i = 0; i < panel->nseries; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		base_forecast(&c->base[i], sr->y, sr->n - 1, c->L->horizon, c->basebuf, &base[i]);
	}
	return base;
}

LstmTrained *
lstm_train(const ForecastPanel *panel, const LstmConfig *cfg)
{
	MemoryContext work,
				old;
	LstmTrained *res = palloc0(sizeof(LstmTrained));
	TrainCtx	c;
	SampleSets	ss;
	ValSet		v,
			   *vs = NULL;
	double	   *lr_hist;
	double		mean_scale;
	instr_time	t0,
				t1;

	INSTR_TIME_SET_CURRENT(t0);
	work = AllocSetContextCreate(CurrentMemoryContext, "forecast_lstm_fit", ALLOCSET_DEFAULT_SIZES);
	init_layout(res, panel, cfg);
	count_samples(panel, cfg->window, cfg->validation, &ss);

	old = MemoryContextSwitchTo(work);
	mean_scale = collect_samples(panel, cfg->window, cfg->validation, work, &ss, &res->layout);
	init_train_ctx(&c, res, panel, cfg, mean_scale, ss.nval, work);
	memset(&v, 0, sizeof(v));
	if (ss.nval > 0)
	{
		init_validation(&c, &ss, cfg->validation, work, &v);
		vs = validation_sample(&c, &v);
	}
	lr_hist = palloc(sizeof(double) * Max(cfg->max_epochs, 1));
	MemoryContextSwitchTo(old);
	res->params = palloc(sizeof(double) * res->nmodels * c.np);
	old = MemoryContextSwitchTo(work);

	res->val_wape = get_float8_nan();
	res->val_coverage = get_float8_nan();
	if (ss.nval > 0)
		train_held_out(&c, res, &ss, &v, vs, lr_hist);
	else
		train_whole(&c, res, &ss, lr_hist);

	res->calib_lo = res->calib_hi = 1.0;
	res->shrink = 1.0;
	res->val_wape_base = res->val_wape_net = get_float8_nan();
	if (ss.nval > 0 && c.base)
		choose_shrink(res, &v, cfg);
	if (ss.nval > 0)
		calibrate(res, &v, cfg);
	if (ss.nval > 0 && !c.base)
		res->val_wape_net = res->val_wape;
	MemoryContextSwitchTo(old);
	if (c.base)
		res->base = final_bases(&c);
	MemoryContextDelete(work);
	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, t0);
	res->seconds = INSTR_TIME_GET_DOUBLE(t1);
	return res;
}
