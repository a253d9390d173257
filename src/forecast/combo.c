/*
 * combo.c: 'combo', a combination of exponential smoothing (the form chosen by AICc),
 * damped-trend exponential smoothing and Theta, the lesson of the M3 and M4 competitions
 * (Makridakis et al. 2020: combinations beat the single methods they combine; M4's "Comb"
 * benchmark averages SES, Holt and damped).
 *
 * Weights come from the caller's own history: each component is fitted without the last v
 * periods and forecasts them; its weight is proportional to the inverse square of its mean
 * absolute error there (Bates & Granger 1969's inverse-MSE weighting, with the mean absolute
 * error so that one bad period does not decide), then every component is refitted on the
 * whole series. v is options.validation, else the season (7 for non-seasonal data), at most a
 * quarter of the series; when the series is too short to hold v back the weights are equal.
 *
 * The forecast is the weighted mean of the components' forecasts, and each bound the
 * weighted mean of their bounds (quantile averaging), widened or narrowed around the
 * forecast by a calibration factor: the components' intervals assume their models are
 * right, and on real data they cover more or less than they say. The same held-out periods
 * measure it: each error as a multiple of the combined interval's half-width on its side;
 * the factor is the conformal level-quantile of those multiples (the ceil(level (v + 1))-th
 * smallest of v), the smallest widening that would have covered `level` of them. One
 * series' v errors are few and come from one origin, so over a panel every combination
 * takes the conformal quantile of all the series' multiples pooled (combo_finish_panel: up
 * to COMBO_SCORES of each, kept in the combination's record until then); a lone series keeps
 * its own. (The median of the series' own factors covers less than `level`: a series that
 * needs a wide interval loses more than one that needs a narrow one gains.)
 *
 * In a forecast_fit model a series takes 1 + COMBO_PARTS records: this method's own (the
 * weights in alpha, beta, gamma; the interval calibration in phi, 0 = none (1); sigma2 the
 * weighted components' variance, for display)
 * and then each component's fit as its method stores it. A component that could not be
 * fitted (damped ETS on a constant series) has weight 0 and an unused record.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/stats.h"
#include "forecast/method.h"
#include "forecast/warm_start.h"

#define FIT_COMBO 10			/* per-series code in forecast_fit models: never renumber */
#define COMBO_PARTS 3
#define COMBO_MIN_LENGTH 5		/* what ETS and Theta need */
#define COMBO_CALIB_MIN 0.1		/* the interval calibration's range */
#define COMBO_CALIB_MAX 10.0
#define COMBO_SCORES FIT_MAX_M		/* held-out multiples a series passes to its panel, in fit->s */

StaticAssertDecl(1 + COMBO_PARTS <= FORECAST_MAX_RECORDS, "raise FORECAST_MAX_RECORDS");

extern const ForecastMethod combo_method;
extern const ForecastMethod ets_method;
extern const ForecastMethod theta_method;

static int
combo_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < COMBO_MIN_LENGTH ? COMBO_MIN_LENGTH : 0;
}

/* component c of y[0 .. n): false when it cannot be fitted (its record stays unused) */
static bool
combo_fit_part(int c, const double *y, int n, int m, const ForecastOptions *o, SeriesFit *f)
{
	memset(f, 0, sizeof(*f));
	switch (c)
	{
		case 0:
			ets_method.fit(y, n, m, o, f);
			return true;
		case 1:
			{
				/* the damped trend, error and season still chosen by AICc */
				EtsOptions	d = *(const EtsOptions *) forecast_method_options(o, &ets_method);

				d.trend = ETS_ADD;
				d.damped = 1;
				d.allow_damped = true;
				warm_start_damped_form(&d);	/* a warm refit: its previous form */
				if (ets_fit(y, n, m, &d, f))
					return true;
				memset(f, 0, sizeof(*f));
				return false;
			}
		default:
			theta_method.fit(y, n, m, o, f);
			return true;
	}
}

/* the forecasts and interval of a fitted component over h periods */
static void
combo_part_forecast(const SeriesFit *f, int h, const ForecastOptions *o, double *yhat,
					double *lo, double *hi)
{
	RiqRng		rng;

	riq_rng_seed(&rng, (uint64) o->seed, 0);
	fit_forecast(f, h, o->level, !o->series.allow_negative, &rng, yhat, lo, hi);
}

/*
 * The conformal calibration of the combined interval over the v held-out periods: the
 * ceil(level (v + 1))-th smallest of the errors as multiples of the interval's half-width
 * on their side (an error inside the interval is a multiple of at most 1).
 */
static double
conformal_quantile(const double *sorted, int n, double level)
{
	int			rank = (int) ceil(level * (n + 1)) - 1;

	return Min(Max(sorted[Min(Max(rank, 0), n - 1)], COMBO_CALIB_MIN), COMBO_CALIB_MAX);
}

/* the multiples, sorted, into score[0 .. v) */
static void
combo_scores(const double *y, const double *f, const double *lo, const double *hi, int v,
			 double *score)
{
	for (int t = 0; t < v; t++)
	{
		double		e = y[t] - f[t],
					half = e >= 0 ? hi[t] - f[t] : f[t] - lo[t];

		score[t] = e == 0 ? 0 : half > 0 ? fabs(e) / half : COMBO_CALIB_MAX;
	}
	qsort(score, v, sizeof(double), riq_cmp_double);
}

/*
 * The validation: each component's mean absolute error on the last v periods, fitted
 * without them; weights proportional to their inverses, and the held-out errors as multiples
 * of the combined interval's half-width (sorted, *nscores of them, at most COMBO_SCORES:
 * evenly spaced ranks of more). Returns the combination's own error there (what auto
 * compares), or NaN when the series is too short to hold v back.
 */
static double
combo_weights(const double *y, int n, int m, const ForecastOptions *o, double *w,
			  double *scores, int *nscores)
{
	int			v = o->validation > 0 ? o->validation : Max(m, 7);
	double		mae[COMBO_PARTS],
				total = 0,
				comb_mae = 0;
	double	   *yhat[COMBO_PARTS],
			   *part_lo[COMBO_PARTS],
			   *part_hi[COMBO_PARTS],
			   *cf,
			   *clo,
			   *chi;
	bool		ok[COMBO_PARTS];
	int			c,
				t;

	*nscores = 0;
	v = Min(v, n / 4);
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] = 1.0 / COMBO_PARTS;
	if (v < 1 || n - v < Max(2 * m, 8))
		return NAN;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		SeriesFit	f;

		yhat[c] = palloc(sizeof(double) * v);
		part_lo[c] = palloc(sizeof(double) * v);
		part_hi[c] = palloc(sizeof(double) * v);
		ok[c] = combo_fit_part(c, y, n - v, m, o, &f);
		mae[c] = 0;
		if (ok[c])
		{
			combo_part_forecast(&f, v, o, yhat[c], part_lo[c], part_hi[c]);
			for (t = 0; t < v; t++)
				mae[c] += fabs(y[n - v + t] - yhat[c][t]);
			mae[c] /= v;
		}
	}
	/* inverse errors; a perfect component (error 0) takes the weight alone */
	for (c = 0; c < COMBO_PARTS; c++)
		if (ok[c] && mae[c] == 0)
		{
			for (int k = 0; k < COMBO_PARTS; k++)
				w[k] = k == c ? 1 : 0;
			return 0;			/* no scores: calibration 1, nothing to widen */
		}
	for (c = 0; c < COMBO_PARTS; c++)
	{
		w[c] = ok[c] && isfinite(mae[c]) ? 1 / (mae[c] * mae[c]) : 0;
		total += w[c];
	}
	if (!(total > 0) || !isfinite(total))
	{
		for (c = 0; c < COMBO_PARTS; c++)
			w[c] = 1.0 / COMBO_PARTS;
		return NAN;
	}
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] /= total;
	cf = palloc0(sizeof(double) * v);
	clo = palloc0(sizeof(double) * v);
	chi = palloc0(sizeof(double) * v);
	for (t = 0; t < v; t++)
	{
		for (c = 0; c < COMBO_PARTS; c++)
			if (w[c] > 0)
			{
				cf[t] += w[c] * yhat[c][t];
				clo[t] += w[c] * part_lo[c][t];
				chi[t] += w[c] * part_hi[c][t];
			}
		comb_mae += fabs(y[n - v + t] - cf[t]);
	}
	{
		double	   *all = palloc(sizeof(double) * v);

		combo_scores(y + n - v, cf, clo, chi, v, all);
		*nscores = Min(v, COMBO_SCORES);
		for (int k = 0; k < *nscores; k++)
			scores[k] = all[*nscores == v ? k : (int) ((double) k * (v - 1) / (*nscores - 1))];
		pfree(all);
	}
	for (c = 0; c < COMBO_PARTS; c++)
	{
		pfree(yhat[c]);
		pfree(part_lo[c]);
		pfree(part_hi[c]);
	}
	pfree(cf);
	pfree(clo);
	pfree(chi);
	return comb_mae / v;
}

/* component c's weight, kept in the combination's own record */
static double
combo_weight(const SeriesFit *fit, int c)
{
	return c == 0 ? fit->alpha : c == 1 ? fit->beta : fit->gamma;
}

static double
combo_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	double		w[COMBO_PARTS],
				scores[COMBO_SCORES];
	int			nscores;
	double		vmae = combo_weights(y, n, m, o, w, scores, &nscores),
				total = 0;
	int			c;

	memset(fit, 0, sizeof(*fit));
	for (c = 0; c < COMBO_PARTS; c++)
	{
		CHECK_FOR_INTERRUPTS();
		if (w[c] > 0 && !combo_fit_part(c, y, n, m, o, &fit[1 + c]))
			w[c] = 0;
		total += w[c];
	}
	if (!(total > 0))
	{
		/* nothing but ETS, which always fits (its own fallback included) */
		combo_fit_part(0, y, n, m, o, &fit[1]);
		w[0] = total = 1;
		w[1] = w[2] = 0;
	}
	fit->method = FIT_COMBO;
	fit->m = 1;
	fit->n = n;
	fit->alpha = w[0] / total;
	fit->beta = w[1] / total;
	fit->gamma = w[2] / total;
	/*
	 * The series' own calibration, and its multiples for the panel's (in the record's
	 * seasonal states and level, which a combination does not use; finish_panel clears them)
	 */
	fit->phi = nscores > 0 ? conformal_quantile(scores, nscores, o->level) : 1;
	memcpy(fit->s, scores, sizeof(double) * nscores);
	fit->level = nscores;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		fit->sigma2 += combo_weight(fit, c) * fit[1 + c].sigma2;
		fit->mse += combo_weight(fit, c) * fit[1 + c].mse;
	}
	return vmae;
}

static void
combo_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
			   double *yhat, double *lo, double *hi)
{
	double	   *py = palloc(sizeof(double) * h),
			   *pl = palloc(sizeof(double) * h),
			   *ph = palloc(sizeof(double) * h);
	int			c,
				t;

	for (t = 0; t < h; t++)
		yhat[t] = lo[t] = hi[t] = 0;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		double		w = combo_weight(fit, c);

		if (w <= 0)
			continue;
		fit_forecast(&fit[1 + c], h, level, false, rng, py, pl, ph);
		for (t = 0; t < h; t++)
		{
			yhat[t] += w * py[t];
			lo[t] += w * pl[t];
			hi[t] += w * ph[t];
		}
	}
	if (fit->phi > 0)
		for (t = 0; t < h; t++)
		{
			lo[t] = yhat[t] - fit->phi * (yhat[t] - lo[t]);
			hi[t] = yhat[t] + fit->phi * (hi[t] - yhat[t]);
		}
	pfree(py);
	pfree(pl);
	pfree(ph);
}

/*
 * Over a panel, every combination's interval takes the conformal quantile of the series'
 * held-out multiples pooled; a lone series keeps its own. The multiples leave the records.
 */
static void
combo_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o)
{
	double	   *pool;
	Size		k = 0;
	int			with = 0;

	for (int i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];

		if (f->method == FIT_COMBO && f->level >= 1)
		{
			k += (Size) f->level;
			with++;
		}
	}
	pool = palloc(sizeof(double) * Max(k, 1));
	k = 0;
	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];

		if (f->method != FIT_COMBO)
			continue;
		for (int t = 0; t < (int) f->level && t < COMBO_SCORES; t++)
			pool[k++] = f->s[t];
		f->level = 0;
		memset(f->s, 0, sizeof(f->s));
	}
	if (with >= 2)
	{
		double		c;

		qsort(pool, k, sizeof(double), riq_cmp_double);
		c = conformal_quantile(pool, (int) k, o->level);
		for (int i = 0; i < ns; i++)
		{
			SeriesFit  *f = &fits[(Size) i * nrec];

			if (f->method == FIT_COMBO && f->phi > 0)
				f->phi = c;
		}
	}
	pfree(pool);
}

/* weights in [0, 1] summing to 1; every weighted component a valid fit of its method */
static const char *
combo_check(const SeriesFit *fit)
{
	double		sum = 0;
	int			c;

	if (fit->m != 1)
		return "an invalid combination";
	if (fit->phi != 0 && !(fit->phi >= COMBO_CALIB_MIN && fit->phi <= COMBO_CALIB_MAX))
		return "an interval calibration outside [0.1, 10]";
	for (c = 0; c < COMBO_PARTS; c++)
	{
		double		w = combo_weight(fit, c);
		const SeriesFit *part = &fit[1 + c];
		const ForecastMethod *pm;

		if (!(w >= 0 && w <= 1))
			return "a combination weight outside [0, 1]";
		sum += w;
		if (w == 0)
			continue;
		pm = forecast_method_by_code(part->method);
		if (pm == NULL || pm->check == NULL || forecast_method_records(pm) != 1 ||
			pm == &combo_method)
			return "a combination component of no known method";
		if (pm->check(part) != NULL)
			return pm->check(part);
	}
	if (fabs(sum - 1) > 1e-9)
		return "combination weights that do not sum to 1";
	return NULL;
}

static void
combo_shown(const SeriesFit *f, bool shown[4])
{
	shown[0] = shown[1] = shown[2] = true;	/* the weights */
	shown[3] = f->phi > 0;		/* the interval calibration */
}

static const char *
combo_label(const SeriesFit *f, char *buf)
{
	snprintf(buf, 16, "combo");
	return buf;
}

const ForecastMethod combo_method = {
	.name = "combo",
	.code = FIT_COMBO,
	.kind = MODEL_KIND_FORECAST_ENSEMBLE,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.records = 1 + COMBO_PARTS,
	.trainer = "forecast_fit",
	.description = "ETS, damped ETS and Theta combined, weighted by their errors on the last periods",
	.min_length = combo_min_length,
	.fit = combo_fit,
	.forecast = combo_forecast,
	.check = combo_check,
	.finish_panel = combo_finish_panel,
	.shown = combo_shown,
	.label = combo_label,
	.predict = forecast_local_predict,
};
