/*
 * combo.c: 'combo', a combination of exponential smoothing (the form chosen by AICc),
 * seasonal naive, Theta and damped-trend ETS, the lesson of the M3 and M4 competitions
 * (Makridakis et al. 2020: combinations beat the single methods they combine; M4's
 * benchmarks include the seasonal naive, and its "Comb" averages SES, Holt and damped).
 *
 * The candidates: ETS searches every form, damped trends included, by AICc; seasonal naive
 * brings a season ETS cannot model (ETS drops a season of more than 24 periods, so weekly
 * data's 52 weeks reach a weekly forecast only through it and Theta's decomposition); Theta
 * is M4's reference; damped ETS (the best damped-trend form by AICc) is the member M4's Comb
 * has. Which of them are combined is not fixed: it is one of a few fixed member sets
 * (COMBO_SETS: ETS + seasonal naive + Theta, ETS + damped ETS + Theta, ETS + Theta, ETS
 * alone), the one whose combination had the lowest validation error pooled over the panel
 * (combo_finish_panel): the choice is made on the caller's own history, once per fit, and a
 * panel's pooled error is evidence enough where one series' few held-out periods are not
 * (on the benchmark's development windows, a choice per series, shrunk toward the panel's
 * or not, was worse than the panel's choice on both data sets; doc/forecast.md).
 *
 * Evidence comes from the caller's own history, at up to COMBO_ORIGINS rolling origins at
 * the end of it: at each, every candidate is fitted without the last v periods of the
 * stretch and forecasts them. Within a member set, a member's weight is proportional to the
 * inverse fourth power of its mean absolute error over every origin (Bates & Granger 1969's
 * inverse-error weighting, sharpened: with the mean absolute error, so that one bad period
 * does not decide), and each set's combination is scored over the same periods (so a set of
 * more members is flattered a little: its weights saw the errors it is scored on; ties go to
 * the set listed first). Every candidate is then refitted on the whole series. v is
 * options.validation, else the horizon asked (options.horizon) when it is shorter than a
 * season, else the season (7 for non-seasonal data), at most a quarter of the series;
 * origins are v / 2 apart, as many as leave two seasons to train on. A series too short to
 * hold v back takes the panel's set with equal weights. (The validation was chosen on the
 * benchmark's development windows, test/bench/forecast with FORECAST_BENCH_WINDOW=dev; see
 * doc/forecast.md.) The held-out errors of every candidate are the fit's evidence: the model
 * keeps each one's WAPE there and the pooled WAPE of every member set (forecast_fit.c,
 * validation_wape; model_info shows them).
 *
 * The forecast is the weighted mean of the members' forecasts, and each bound the
 * weighted mean of their bounds (quantile averaging), widened or narrowed around the
 * forecast by a calibration factor: the members' intervals assume their models are
 * right, and on real data they cover more or less than they say. The same held-out periods
 * measure it: each error of a set's combination as a multiple of its interval's half-width
 * on its side; the factor is the conformal level-quantile of those multiples (the
 * ceil(level (k + 1))-th smallest of k), the smallest widening that would have covered
 * `level` of them. One series' errors are few, so over a panel every combination takes the
 * conformal quantile of all the series' multiples of the chosen set pooled
 * (combo_finish_panel: up to COMBO_SET_SCORES of each series and set, kept in the
 * combination's record until then); a lone series keeps its own. (The median of the series'
 * own factors covers less than `level`: a series that needs a wide interval loses more than
 * one that needs a narrow one gains.)
 *
 * In a forecast_fit model a series takes 1 + COMBO_PARTS records: this method's own (the
 * weights in alpha, beta, gamma and slope; the interval calibration in phi, 0 = none (1);
 * sigma2 the weighted members' variance, for display) and then each candidate's fit as its
 * method stores it (ETS, seasonal naive, Theta, damped ETS; a candidate outside the chosen
 * set has weight 0 and an unused record). A model written before 2026-12-07 (branch acc17e)
 * has three component records (ETS, seasonal naive or, before that, damped ETS, Theta) and
 * no fourth weight; it forecasts as it did.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/stats.h"
#include "forecast/method.h"

#define FIT_COMBO 10			/* per-series code in forecast_fit models: never renumber */
#define COMBO_PARTS 4			/* candidates, one record each: never reorder */
#define COMBO_PARTS_BEFORE 3	/* component records of a model written before 2026-12-07 (acc17e) */
#define COMBO_ETS 0
#define COMBO_SNAIVE 1
#define COMBO_THETA 2
#define COMBO_DAMPED 3
#define COMBO_SETS 4			/* the member sets a panel chooses among */
#define COMBO_MIN_LENGTH 5		/* what ETS and Theta need */
#define COMBO_CALIB_MIN 0.1		/* the interval calibration's range */
#define COMBO_CALIB_MAX 10.0
#define COMBO_SCORES FIT_MAX_M	/* held-out multiples a series passes to its panel, in fit->s */
#define COMBO_SET_SCORES (COMBO_SCORES / COMBO_SETS)	/* of each member set */
#define COMBO_ORIGINS 3			/* rolling validation origins at the end of a series */
#define COMBO_POWER 4.0			/* weights: inverse validation error to this power */

/*
 * The validation's sums, kept in the combination's record until the model is written
 * (init_s, which a model does not store): each candidate's sum of absolute errors (NaN: not
 * fitted), the held-out actuals' sum of absolute values (NaN: nothing held out), each member
 * set's combination's, a mark that the record was fitted in this call (not read back from a
 * saved model by a warm start), the chosen set's, and the calibration's evidence.
 */
#define COMBO_E_SAE 0
#define COMBO_E_SAY (COMBO_E_SAE + COMBO_PARTS)
#define COMBO_E_SET (COMBO_E_SAY + 1)
#define COMBO_E_FRESH (COMBO_E_SET + COMBO_SETS)
#define COMBO_E_COMB (COMBO_E_FRESH + 1)
#define COMBO_COVERAGE (COMBO_E_COMB + 1)	/* held-out multiples inside the raw and the
											 * calibrated interval, and how many */

/* the member sets, by candidate: the first is the one a panel without evidence takes */
static const bool combo_sets[COMBO_SETS][COMBO_PARTS] = {
	{true, true, true, false},	/* ETS, seasonal naive, Theta */
	{true, false, true, true},	/* ETS, damped ETS, Theta */
	{true, false, true, false},	/* ETS, Theta */
	{true, false, false, false} /* ETS */
};
static const char *const combo_set_names[] = {
	"ets+snaive+theta", "ets+damped_ets+theta", "ets+theta", "ets", NULL
};

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
StaticAssertDecl(COMBO_SETS <= FORECAST_MAX_EVIDENCE, "raise FORECAST_MAX_EVIDENCE");
StaticAssertDecl(COMBO_SET_SCORES >= 1, "too many member sets");

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

/* candidate c of y[0 .. n): false when it cannot be fitted (its record stays unused) */
static bool
combo_fit_part(int c, const double *y, int n, int m, const ForecastOptions *o, SeriesFit *f)
{
	memset(f, 0, sizeof(*f));
	switch (c)
	{
		case COMBO_ETS:
			ets_method.fit(y, n, m, o, f);
			return true;
		case COMBO_SNAIVE:
			/* the last season repeated (the last value when the series is a season or less) */
			snaive_fit(y, n, m, f);
			return true;
		case COMBO_THETA:
			theta_method.fit(y, n, m, o, f);
			return true;
		default:
			{
				/*
				 * The damped trend, error and season still chosen by AICc (pinned like the
				 * ETS candidate's on a warm refit). Fitted right after the ETS candidate on
				 * the same stretch, its forms come from ETS's memo (ets_memo.c): no form
				 * is fitted twice.
				 */
				EtsOptions	d = *(const EtsOptions *) forecast_method_options(o, &ets_method);

				d.trend = ETS_ADD;
				d.damped = 1;
				d.allow_damped = true;
				if (ets_fit(y, n, m, &d, f))
					return true;
				memset(f, 0, sizeof(*f));
				return false;
			}
	}
}

/* the order candidates are fitted in: damped ETS right after ETS, for the memo */
static const int combo_fit_order[COMBO_PARTS] = {COMBO_ETS, COMBO_DAMPED, COMBO_SNAIVE, COMBO_THETA};

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
 * The weights of member set `set`: proportional to the inverse fourth power of each
 * member's sum of absolute errors sae[c] (the same periods for every candidate, so sums
 * compare as means do); a member with none takes the weight alone; sae NULL (nothing held
 * out): equal. Only candidates with usable[c] count. false: no member of the set usable.
 */
static bool
combo_set_weights(int set, const double *sae, const bool *usable, double *w)
{
	double		least = HUGE_VAL,
				total = 0;
	int			c;

	for (c = 0; c < COMBO_PARTS; c++)
	{
		w[c] = 0;
		if (combo_sets[set][c] && usable[c] && (sae == NULL || isfinite(sae[c])))
			least = Min(least, sae == NULL ? 1 : sae[c]);
	}
	if (!isfinite(least))
		return false;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		if (!combo_sets[set][c] || !usable[c] || (sae != NULL && !isfinite(sae[c])))
			continue;
		if (sae == NULL)
			w[c] = 1;
		else if (least == 0)
			w[c] = sae[c] == 0 ? 1 : 0;
		else
			w[c] = pow(least / sae[c], COMBO_POWER);	/* relative: no power overflows */
		total += w[c];
	}
	if (!(total > 0) || !isfinite(total))
		return false;
	for (c = 0; c < COMBO_PARTS; c++)
		w[c] /= total;
	return true;
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
 * The validation: each candidate is fitted without the last v periods of each origin's
 * stretch and forecasts those v. evid (init_s's layout above) gets each candidate's sum of
 * absolute errors, the actuals' and each member set's combination's (NaN: not measured);
 * scores[set * COMBO_SET_SCORES ..] each set's errors as multiples of its interval's
 * half-width (sorted; *nscores of them per set, at most COMBO_SET_SCORES: evenly spaced
 * ranks of more; none when a candidate was exact there, whose weight then makes the
 * combination exact too). Returns the number of held-out periods (0: the series is too
 * short to hold v back).
 */
static int
combo_validate(const double *y, int n, int m, const ForecastOptions *o, double *scores,
			   int *nscores, double *evid)
{
	int			v,
				step,
				norig = combo_origins(n, m, o, &v, &step),
				nv,
				c,
				k,
				t,
				set;
	double	   *yhat[COMBO_PARTS],
			   *part_lo[COMBO_PARTS],
			   *part_hi[COMBO_PARTS],
			   *actual,
			   *cf,
			   *clo,
			   *chi,
			   *all;
	bool		ok[COMBO_PARTS],
				exact = false;

	*nscores = 0;
	memset(scores, 0, sizeof(double) * COMBO_SCORES);
	for (c = 0; c < COMBO_COVERAGE; c++)
		evid[c] = NAN;
	if (norig == 0)
		return 0;
	nv = v * norig;
	actual = palloc(sizeof(double) * nv);
	for (k = 0; k < norig; k++)
		memcpy(actual + k * v, y + n - k * step - v, sizeof(double) * v);
	evid[COMBO_E_SAY] = 0;
	for (t = 0; t < nv; t++)
		evid[COMBO_E_SAY] += fabs(actual[t]);
	for (c = 0; c < COMBO_PARTS; c++)
	{
		yhat[c] = palloc(sizeof(double) * nv);
		part_lo[c] = palloc(sizeof(double) * nv);
		part_hi[c] = palloc(sizeof(double) * nv);
		ok[c] = true;
	}
	/* origin by origin, so that damped ETS follows ETS on the same stretch (the memo) */
	for (k = 0; k < norig; k++)
		for (int i = 0; i < COMBO_PARTS; i++)
		{
			SeriesFit	f;
			int			end = n - k * step;

			c = combo_fit_order[i];
			if (!ok[c])
				continue;
			CHECK_FOR_INTERRUPTS();
			ok[c] = combo_fit_part(c, y, end - v, m, o, &f);
			if (ok[c])
				combo_part_forecast(&f, v, o, yhat[c] + k * v, part_lo[c] + k * v,
									part_hi[c] + k * v);
		}
	for (c = 0; c < COMBO_PARTS; c++)
		if (ok[c])
		{
			evid[COMBO_E_SAE + c] = 0;
			for (t = 0; t < nv; t++)
				evid[COMBO_E_SAE + c] += fabs(actual[t] - yhat[c][t]);
			if (!isfinite(evid[COMBO_E_SAE + c]))
				ok[c] = false;
			exact = exact || evid[COMBO_E_SAE + c] == 0;
		}
	cf = palloc(sizeof(double) * nv);
	clo = palloc(sizeof(double) * nv);
	chi = palloc(sizeof(double) * nv);
	all = palloc(sizeof(double) * nv);
	*nscores = exact ? 0 : Min(nv, COMBO_SET_SCORES);
	for (set = 0; set < COMBO_SETS; set++)
	{
		double		w[COMBO_PARTS],
					sae = 0;

		if (!combo_set_weights(set, evid + COMBO_E_SAE, ok, w))
			continue;
		for (t = 0; t < nv; t++)
		{
			cf[t] = clo[t] = chi[t] = 0;
			for (c = 0; c < COMBO_PARTS; c++)
				if (w[c] > 0)
				{
					cf[t] += w[c] * yhat[c][t];
					clo[t] += w[c] * part_lo[c][t];
					chi[t] += w[c] * part_hi[c][t];
				}
			sae += fabs(actual[t] - cf[t]);
		}
		evid[COMBO_E_SET + set] = sae;
		if (*nscores > 0)
		{
			double	   *dst = scores + set * COMBO_SET_SCORES;

			combo_scores(actual, cf, clo, chi, nv, all);
			for (k = 0; k < *nscores; k++)
				dst[k] = all[*nscores == nv ? k : (int) ((double) k * (nv - 1) / (*nscores - 1))];
		}
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
	pfree(all);
	return nv;
}

/* candidate c's weight, kept in the combination's own record */
static double
combo_weight(const SeriesFit *fit, int c)
{
	return c == COMBO_ETS ? fit->alpha : c == COMBO_SNAIVE ? fit->beta :
		c == COMBO_THETA ? fit->gamma : fit->slope;
}

static void
combo_set_weight(SeriesFit *fit, int c, double w)
{
	if (c == COMBO_ETS)
		fit->alpha = w;
	else if (c == COMBO_SNAIVE)
		fit->beta = w;
	else if (c == COMBO_THETA)
		fit->gamma = w;
	else
		fit->slope = w;
}

/*
 * The combination of member set `set` in fit (its records fitted): the weights from the
 * validation's sums (equal without), the members' variances for display, the set's
 * validation error as the combination's. false: no member of the set fitted. (The
 * in-sample error, mse, is the ETS member's, whatever the set: what a warm refit compares
 * before the panel has chosen; ETS is in every set.)
 */
static bool
combo_use_set(SeriesFit *fit, int set)
{
	double		w[COMBO_PARTS];
	bool		usable[COMBO_PARTS];
	bool		validated = isfinite(fit->init_s[COMBO_E_SAY]);
	int			c;

	for (c = 0; c < COMBO_PARTS; c++)
		usable[c] = fit[1 + c].method != 0;
	if (!combo_set_weights(set, validated ? fit->init_s + COMBO_E_SAE : NULL, usable, w) &&
		!(validated && combo_set_weights(set, NULL, usable, w)))
		return false;
	fit->sigma2 = 0;
	for (c = 0; c < COMBO_PARTS; c++)
	{
		combo_set_weight(fit, c, w[c]);
		fit->sigma2 += w[c] * fit[1 + c].sigma2;
	}
	fit->mse = fit[1 + COMBO_ETS].mse;
	fit->init_s[COMBO_E_COMB] = fit->init_s[COMBO_E_SET + set];
	return true;
}

static double
combo_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	double		scores[COMBO_SCORES];
	int			nscores,
				nv,
				c;
	double		evid[COMBO_COVERAGE];

	memset(fit, 0, sizeof(SeriesFit) * (1 + COMBO_PARTS));
	nv = combo_validate(y, n, m, o, scores, &nscores, evid);
	for (int i = 0; i < COMBO_PARTS; i++)
	{
		c = combo_fit_order[i];
		CHECK_FOR_INTERRUPTS();
		if (!combo_fit_part(c, y, n, m, o, &fit[1 + c]))
			memset(&fit[1 + c], 0, sizeof(SeriesFit));
	}
	fit->method = FIT_COMBO;
	fit->m = 1;
	fit->n = n;
	/* the validation's sums, for the panel's choice and the model's evidence */
	memcpy(fit->init_s, evid, sizeof(evid));
	fit->init_s[COMBO_E_FRESH] = 1;
	/*
	 * Until the panel chooses (combo_finish_panel), the first set: what a forecast straight
	 * from this fit uses ('auto' comparing methods at its origins)
	 */
	if (!combo_use_set(fit, 0))
		elog(ERROR, "combo: no member of the first set fitted");	/* ETS always fits */
	/*
	 * The series' own calibration, and its multiples for the panel's (in the record's
	 * seasonal states and level, which a combination does not use; finish_panel clears them)
	 */
	fit->phi = nscores > 0 ? conformal_quantile(scores, nscores, o->level) : 1;
	memcpy(fit->s, scores, sizeof(double) * COMBO_SCORES);
	fit->level = nscores;
	/* the first set's validation error (what auto compares) */
	return nv > 0 && isfinite(fit->init_s[COMBO_E_COMB]) ? fit->init_s[COMBO_E_COMB] / nv : NAN;
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

/* a combination fitted in this call (a warm start's skipped series keep their saved one) */
static bool
combo_fresh(const SeriesFit *f)
{
	return f->method == FIT_COMBO && f->init_s[COMBO_E_FRESH] == 1;
}

/*
 * The panel's member set: the one whose combinations' validation errors, pooled over the
 * series where every set was measured, are the lowest (ties: the set listed first); the
 * first set when none was. pooled[set] gets each set's pooled WAPE (NaN: none measured).
 */
static int
combo_panel_set(const SeriesFit *fits, int ns, int nrec, double *pooled)
{
	double		say = 0;
	int			best = 0,
				set;

	for (set = 0; set < COMBO_SETS; set++)
		pooled[set] = 0;
	for (int i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];
		bool		all = combo_fresh(f) && f->init_s[COMBO_E_SAY] > 0;

		for (set = 0; set < COMBO_SETS && all; set++)
			all = isfinite(f->init_s[COMBO_E_SET + set]);
		if (!all)
			continue;
		for (set = 0; set < COMBO_SETS; set++)
			pooled[set] += f->init_s[COMBO_E_SET + set];
		say += f->init_s[COMBO_E_SAY];
	}
	for (set = 0; set < COMBO_SETS; set++)
	{
		pooled[set] = say > 0 ? pooled[set] / say : NAN;
		if (say > 0 && pooled[set] < pooled[best])
			best = set;
	}
	return best;
}

/*
 * After the panel is fitted: every combination fitted in this call takes the panel's member
 * set (combo_panel_set), weighted by its own validation (equal weights without); a
 * candidate outside it leaves an unused record. Then the calibration: over a panel, every
 * combination's interval takes the conformal quantile of the chosen set's held-out
 * multiples of every series pooled; a lone series keeps its own. The multiples leave the
 * records.
 */
static void
combo_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o)
{
	double		pooled[COMBO_SETS];
	int			set = combo_panel_set(fits, ns, nrec, pooled);
	double	   *pool;
	Size		k = 0;
	int			with = 0;

	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];

		if (!combo_fresh(f))
			continue;
		if (combo_use_set(f, set))
		{
			for (int c = 0; c < COMBO_PARTS; c++)
				if (combo_weight(f, c) == 0)
					memset(&f[1 + c], 0, sizeof(SeriesFit));
		}
		else
		{
			/* (cannot happen: every set has ETS, which always fits) its multiples are another set's */
			f->level = 0;
		}
		if (f->level >= 1)
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

		if (!combo_fresh(f))
			continue;
		for (int t = 0; t < (int) f->level && t < COMBO_SET_SCORES; t++)
			pool[k++] = f->s[set * COMBO_SET_SCORES + t];
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
	 * how many the members' own interval held (a multiple of at most 1) and how many the
	 * calibrated one holds (at most the calibration); then the multiples leave the records.
	 */
	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		int			raw = 0,
					cal = 0,
					cnt = Min((int) f->level, COMBO_SET_SCORES);
		const double *sc = f->s + set * COMBO_SET_SCORES;

		if (!combo_fresh(f))
			continue;
		if (with < 2 && cnt > 0)
			f->phi = conformal_quantile(sc, cnt, o->level);	/* a lone series: its own multiples (sorted) */
		for (int t = 0; t < cnt; t++)
		{
			raw += sc[t] <= 1;
			cal += sc[t] <= (f->phi > 0 ? f->phi : 1);
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
		/* (a record the model does not have reads as unused: local_model.c) */
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

static const char *const combo_evidence_names[] = {"ets", "snaive", "theta", "damped_ets", "combo", NULL};

/* the validation's sums kept by combo_fit (a record read back from a model has none) */
static bool
combo_evidence(const SeriesFit *fit, double *sae, double *say)
{
	if (fit->method != FIT_COMBO || !combo_fresh(fit) || !(fit->init_s[COMBO_E_SAY] > 0))
		return false;
	for (int c = 0; c < COMBO_PARTS; c++)
		sae[c] = fit->init_s[COMBO_E_SAE + c];
	sae[COMBO_PARTS] = fit->init_s[COMBO_E_COMB];
	*say = fit->init_s[COMBO_E_SAY];
	return true;
}

/*
 * The panel's choice, for model_info: the member sets, each one's validation WAPE pooled
 * over the series where every set was measured, and the set chosen.
 */
static void
combo_panel_evidence(ModelBuilder *b, const SeriesFit *fits, int ns, int nrec)
{
	double		pooled[COMBO_SETS];
	int			set = combo_panel_set(fits, ns, nrec, pooled),
				dims[1] = {COMBO_SETS};

	model_put_text_array(b, MODEL_METRICS, "validation_member_sets", combo_set_names, COMBO_SETS);
	model_put_float_array(b, MODEL_METRICS, "validation_member_sets_wape_pooled", pooled, 1, dims);
	model_put_text(b, MODEL_METRICS, "validation_member_set", combo_set_names[set]);
}

/* the calibration's evidence kept by combo_finish_panel (none: nothing held out) */
static bool
combo_coverage(const SeriesFit *fit, double *inside, double *inside_calibrated, double *count)
{
	if (fit->method != FIT_COMBO || !combo_fresh(fit) || !(fit->init_s[COMBO_COVERAGE + 2] > 0))
		return false;
	*inside = fit->init_s[COMBO_COVERAGE];
	*inside_calibrated = fit->init_s[COMBO_COVERAGE + 1];
	*count = fit->init_s[COMBO_COVERAGE + 2];
	return true;
}

static void
combo_shown(const SeriesFit *f, bool shown[4])
{
	shown[0] = shown[1] = shown[2] = true;	/* the weights of ETS, seasonal naive, Theta */
	shown[3] = f->phi > 0;		/* the interval calibration */
}

/*
 * "combo(E+S+T)": the weighted members, E = ETS, S = seasonal naive, T = Theta, D = damped
 * ETS (the second record of a model written before 2026-12-07 may be damped ETS too)
 */
static const char *
combo_label(const SeriesFit *f, char *buf)
{
	int			k = snprintf(buf, 16, "combo(");

	for (int c = 0; c < COMBO_PARTS; c++)
	{
		char		letter = c == COMBO_ETS ? 'E' : c == COMBO_THETA ? 'T' : c == COMBO_DAMPED ? 'D' :
			f[1 + c].method == FIT_ETS ? 'D' : 'S';

		if (combo_weight(f, c) <= 0)
			continue;
		if (k > 6)
			buf[k++] = '+';
		buf[k++] = letter;
	}
	buf[k++] = ')';
	buf[k] = '\0';
	return buf;
}

const ForecastMethod combo_method = {
	.name = "combo",
	.code = FIT_COMBO,
	.kind = MODEL_KIND_FORECAST_ENSEMBLE,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.records = 1 + COMBO_PARTS,
	.min_records = 1 + COMBO_PARTS_BEFORE,
	.trainer = "forecast_fit",
	.description = "ETS, seasonal naive, Theta and damped ETS: the member set the panel's validation chooses, weighted by their errors on the last periods",
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
	.panel_evidence = combo_panel_evidence,
	.coverage = combo_coverage,
	.label = combo_label,
	.predict = forecast_local_predict,
};
