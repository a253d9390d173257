/*
 * combo.c: 'combo', a combination of exponential smoothing (the form chosen by AICc),
 * seasonal naive and Theta, the lesson of the M3 and M4 competitions (Makridakis et al.
 * 2020: combinations beat the single methods they combine; M4's benchmarks include the
 * seasonal naive, and its "Comb" averages SES, Holt and damped).
 *
 * The members: ETS searches every form, damped trends included, by AICc; seasonal naive
 * brings a season ETS cannot model (ETS drops a season of more than 24 periods, so weekly
 * data's 52 weeks reach a weekly forecast only through it and Theta's decomposition); Theta
 * is M4's reference. A damped-trend ETS member (the member before 2026-12-07) repeated forms
 * ETS's own search covers: on the benchmark's development windows the combination without it
 * and with seasonal naive was better on both data sets (doc/forecast.md).
 *
 * Weights come from the caller's own history, at up to COMBO_ORIGINS rolling origins at the
 * end of it: at each, every component is fitted without the last v periods of the stretch
 * and forecasts them; a component's weight is proportional to the inverse fourth power of
 * its mean absolute error over every origin (Bates & Granger 1969's inverse-error weighting,
 * sharpened: with the mean absolute error, so that one bad period does not decide), then
 * every component is refitted on the whole series. v is options.validation, else the
 * horizon asked (options.horizon) when it is shorter than a season, else the season (7 for
 * non-seasonal data), at most a quarter of the series; origins are v / 2 apart, as many as
 * leave two seasons to train on. When the series is too short to hold v back the weights are
 * equal. (Chosen on the benchmark's development windows, test/bench/forecast with
 * FORECAST_BENCH_WINDOW=dev: one origin of a season and inverse squares before; see
 * doc/forecast.md.) The held-out errors of every candidate are the fit's evidence: the model
 * keeps each one's WAPE there (forecast_fit.c, validation_wape; model_info shows them).
 *
 * The forecast is the weighted mean of the components' forecasts, and each bound the
 * weighted mean of their bounds (quantile averaging), widened or narrowed around the
 * forecast by a calibration factor: the components' intervals assume their models are
 * right, and on real data they cover more or less than they say. The same held-out periods
 * measure it: each error as a multiple of the combined interval's half-width on its side;
 * the factor is the conformal level-quantile of those multiples (the ceil(level (k + 1))-th
 * smallest of k), the smallest widening that would have covered `level` of them. One
 * series' errors are few, so over a panel every combination
 * takes the conformal quantile of all the series' multiples pooled (combo_finish_panel: up
 * to COMBO_SCORES of each, kept in the combination's record until then); a lone series keeps
 * its own. (The median of the series' own factors covers less than `level`: a series that
 * needs a wide interval loses more than one that needs a narrow one gains.)
 *
 * In a forecast_fit model a series takes 1 + COMBO_PARTS records: this method's own (the
 * weights in alpha, beta, gamma; the interval calibration in phi, 0 = none (1); sigma2 the
 * weighted components' variance, for display)
 * and then each component's fit as its method stores it (ETS, seasonal naive, Theta; a model
 * written before 2026-12-07 has damped ETS in the second, which forecasts as it did). A
 * component that could not be fitted has weight 0 and an unused record.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/stats.h"
#include "forecast/method.h"

#define FIT_COMBO 10			/* per-series code in forecast_fit models: never renumber */
#define COMBO_PARTS 3
#define COMBO_MIN_LENGTH 5		/* what ETS and Theta need */
#define COMBO_CALIB_MIN 0.1		/* the interval calibration's range */
#define COMBO_CALIB_MAX 10.0
#define COMBO_SCORES FIT_MAX_M		/* held-out multiples a series passes to its panel, in fit->s */
#define COMBO_EVIDENCE (COMBO_PARTS + 2)	/* validation sums: components, combination, actuals */
#define COMBO_COVERAGE COMBO_EVIDENCE	/* then, in init_s: held-out multiples inside the raw and
										 * the calibrated interval, and how many */
#define COMBO_ORIGINS 3			/* rolling validation origins at the end of a series */
#define COMBO_POWER 4.0			/* weights: inverse validation error to this power */

/* combo's own options ('auto' passes them on to the combinations it fits) */
typedef struct ComboOptions
{
	int			horizon;		/* the forecasts asked for: the held-out stretch (0 = the season) */
} ComboOptions;

StaticAssertDecl(sizeof(ComboOptions) <= FORECAST_METHOD_OPTS, "options too large");

static const char *const combo_keys[] = {"horizon", NULL};

StaticAssertDecl(1 + COMBO_PARTS <= FORECAST_MAX_RECORDS, "raise FORECAST_MAX_RECORDS");
StaticAssertDecl(COMBO_COVERAGE + 3 <= ETS_MAX_SEASON, "the validation sums live in init_s");
StaticAssertDecl(COMBO_PARTS + 1 <= FORECAST_MAX_EVIDENCE, "raise FORECAST_MAX_EVIDENCE");

extern const ForecastMethod combo_method;
extern const ForecastMethod ets_method;
extern const ForecastMethod theta_method;

static void
combo_options(Jsonb *j, void *opts)
{
	ComboOptions *co = opts;

	co->horizon = (int) forecast_opt_number(j, "horizon", 0, 1, FORECAST_MAX_HORIZON, true,
											"The horizon is the number of periods ahead the forecasts are for, from 1.");
}

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
			/* the last season repeated (the last value when the series is a season or less) */
			snaive_fit(y, n, m, f);
			return true;
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
 * How many periods each origin holds out, and how many origins fit: v is options.validation,
 * else options.horizon (the forecasts the caller asks for), else the season (7 for
 * non-seasonal data), at most a quarter of the series; up to COMBO_ORIGINS origins, v / 2
 * periods apart, as many as leave each training stretch two seasons (8 periods). 0 origins:
 * the series is too short to hold v back.
 */
static int
combo_origins(int n, int m, const ForecastOptions *o, int *v_out, int *step_out)
{
	const ComboOptions *co = forecast_method_options(o, &combo_method);
	int			v = Max(m, 7),
				step,
				norig;

	if (o->validation > 0)
		v = o->validation;
	else if (co->horizon > 0)
		v = Min(co->horizon, v);
	v = Min(v, n / 4);
	step = Max(v / 2, 1);
	*v_out = v;
	*step_out = step;
	if (v < 1)
		return 0;
	for (norig = COMBO_ORIGINS; norig > 0; norig--)
		if (n - v - (norig - 1) * step >= Max(2 * m, 8))
			break;
	return norig;
}

/*
 * The validation: each component is fitted without the last v periods of each origin's
 * stretch and forecasts those v; its mean absolute error over every origin gives its weight,
 * proportional to the inverse fourth power. The errors of the weighted combination are expressed
 * as multiples of its interval's half-width (sorted, *nscores of them, at most COMBO_SCORES:
 * evenly spaced ranks of more). evid[c] gets component c's sum of absolute errors there (NaN:
 * not fitted), evid[COMBO_PARTS] the combination's and evid[COMBO_PARTS + 1] the held-out
 * actuals' sum of absolute values (all NaN: nothing held out). Returns the combination's own
 * error there (what auto compares), or NaN when the series is too short to hold v back.
 */
static double
combo_weights(const double *y, int n, int m, const ForecastOptions *o, double *w,
			  double *scores, int *nscores, double *evid)
{
	int			v,
				step,
				norig = combo_origins(n, m, o, &v, &step),
				nv,
				c,
				k,
				t;
	double		mae[COMBO_PARTS],
				total = 0,
				comb_mae = 0;
	double	   *yhat[COMBO_PARTS],
			   *part_lo[COMBO_PARTS],
			   *part_hi[COMBO_PARTS],
			   *actual,
			   *cf,
			   *clo,
			   *chi;
	bool		ok[COMBO_PARTS];

	*nscores = 0;
	memset(scores, 0, sizeof(double) * COMBO_SCORES);
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] = 1.0 / COMBO_PARTS;
	for (c = 0; c < COMBO_EVIDENCE; c++)
		evid[c] = NAN;
	if (norig == 0)
		return NAN;
	nv = v * norig;
	actual = palloc(sizeof(double) * nv);
	for (k = 0; k < norig; k++)
		memcpy(actual + k * v, y + n - k * step - v, sizeof(double) * v);
	evid[COMBO_PARTS + 1] = 0;
	for (t = 0; t < nv; t++)
		evid[COMBO_PARTS + 1] += fabs(actual[t]);
	for (c = 0; c < COMBO_PARTS; c++)
	{
		yhat[c] = palloc(sizeof(double) * nv);
		part_lo[c] = palloc(sizeof(double) * nv);
		part_hi[c] = palloc(sizeof(double) * nv);
		ok[c] = true;
		mae[c] = 0;
		for (k = 0; k < norig && ok[c]; k++)
		{
			SeriesFit	f;
			int			end = n - k * step;

			CHECK_FOR_INTERRUPTS();
			ok[c] = combo_fit_part(c, y, end - v, m, o, &f);
			if (ok[c])
				combo_part_forecast(&f, v, o, yhat[c] + k * v, part_lo[c] + k * v,
									part_hi[c] + k * v);
		}
		if (ok[c])
		{
			for (t = 0; t < nv; t++)
				mae[c] += fabs(actual[t] - yhat[c][t]);
			evid[c] = mae[c];
			mae[c] /= nv;
		}
	}
	/* inverse errors; a perfect component (error 0) takes the weight alone */
	for (c = 0; c < COMBO_PARTS; c++)
		if (ok[c] && mae[c] == 0)
		{
			for (int j = 0; j < COMBO_PARTS; j++)
				w[j] = j == c ? 1 : 0;
			evid[COMBO_PARTS] = 0;
			return 0;			/* no scores: calibration 1, nothing to widen */
		}
	{
		/* relative to the smallest error, so that no power overflows */
		double		least = HUGE_VAL;

		for (c = 0; c < COMBO_PARTS; c++)
			if (ok[c] && isfinite(mae[c]))
				least = Min(least, mae[c]);
		for (c = 0; c < COMBO_PARTS; c++)
		{
			w[c] = ok[c] && isfinite(mae[c]) ? pow(least / mae[c], COMBO_POWER) : 0;
			total += w[c];
		}
	}
	if (!(total > 0) || !isfinite(total))
	{
		for (c = 0; c < COMBO_PARTS; c++)
			w[c] = 1.0 / COMBO_PARTS;
		return NAN;
	}
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] /= total;
	cf = palloc0(sizeof(double) * nv);
	clo = palloc0(sizeof(double) * nv);
	chi = palloc0(sizeof(double) * nv);
	for (t = 0; t < nv; t++)
	{
		for (c = 0; c < COMBO_PARTS; c++)
			if (w[c] > 0)
			{
				cf[t] += w[c] * yhat[c][t];
				clo[t] += w[c] * part_lo[c][t];
				chi[t] += w[c] * part_hi[c][t];
			}
		comb_mae += fabs(actual[t] - cf[t]);
	}
	evid[COMBO_PARTS] = comb_mae;
	{
		double	   *all = palloc(sizeof(double) * nv);

		combo_scores(actual, cf, clo, chi, nv, all);
		*nscores = Min(nv, COMBO_SCORES);
		for (k = 0; k < *nscores; k++)
			scores[k] = all[*nscores == nv ? k : (int) ((double) k * (nv - 1) / (*nscores - 1))];
		pfree(all);
	}
	for (c = 0; c < COMBO_PARTS; c++)
	{
		pfree(yhat[c]);
		pfree(part_lo[c]);
		pfree(part_hi[c]);
	}
	pfree(actual);
	pfree(cf);
	pfree(clo);
	pfree(chi);
	return comb_mae / nv;
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
	double		evid[COMBO_EVIDENCE];
	double		vmae = combo_weights(y, n, m, o, w, scores, &nscores, evid),
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
		memset(&fit[2], 0, sizeof(SeriesFit) * (COMBO_PARTS - 1));
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
	memcpy(fit->s, scores, sizeof(double) * COMBO_SCORES);
	fit->level = nscores;
	/* the validation's sums, for the model's evidence (init_s is not stored in a model) */
	memcpy(fit->init_s, evid, sizeof(evid));
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
	/*
	 * The evidence of the calibration (combo_coverage): of each series' held-out multiples,
	 * how many the components' own interval held (a multiple of at most 1) and how many the
	 * calibrated one holds (at most the calibration); then the multiples leave the records.
	 */
	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		int			raw = 0,
					cal = 0,
					cnt = Min((int) f->level, COMBO_SCORES);

		if (f->method != FIT_COMBO)
			continue;
		for (int t = 0; t < cnt; t++)
		{
			raw += f->s[t] <= 1;
			cal += f->s[t] <= (f->phi > 0 ? f->phi : 1);
		}
		f->init_s[COMBO_COVERAGE] = raw;
		f->init_s[COMBO_COVERAGE + 1] = cal;
		f->init_s[COMBO_COVERAGE + 2] = cnt;
		f->level = 0;
		memset(f->s, 0, sizeof(f->s));
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

static const char *const combo_evidence_names[] = {"ets", "snaive", "theta", "combo", NULL};

/* the validation's sums kept by combo_fit (a record read back from a model has none) */
static bool
combo_evidence(const SeriesFit *fit, double *sae, double *say)
{
	if (fit->method != FIT_COMBO || !(fit->init_s[COMBO_PARTS + 1] > 0))
		return false;
	for (int c = 0; c <= COMBO_PARTS; c++)
		sae[c] = fit->init_s[c];
	*say = fit->init_s[COMBO_PARTS + 1];
	return true;
}

/* the calibration's evidence kept by combo_finish_panel (none: nothing held out) */
static bool
combo_coverage(const SeriesFit *fit, double *inside, double *inside_calibrated, double *count)
{
	if (fit->method != FIT_COMBO || !(fit->init_s[COMBO_COVERAGE + 2] > 0))
		return false;
	*inside = fit->init_s[COMBO_COVERAGE];
	*inside_calibrated = fit->init_s[COMBO_COVERAGE + 1];
	*count = fit->init_s[COMBO_COVERAGE + 2];
	return true;
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
	.description = "ETS, seasonal naive and Theta combined, weighted by their errors on the last periods",
	.option_keys = combo_keys,
	.parse_options = combo_options,
	.min_length = combo_min_length,
	.fit = combo_fit,
	.forecast = combo_forecast,
	.check = combo_check,
	.finish_panel = combo_finish_panel,
	.shown = combo_shown,
	.evidence_names = combo_evidence_names,
	.evidence = combo_evidence,
	.coverage = combo_coverage,
	.label = combo_label,
	.predict = forecast_local_predict,
};
