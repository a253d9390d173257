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
 * has; the global model (global_ar.h: one autoregression of the log values on four
 * seasons of lags, pooled over every combination's series of the panel) brings what the
 * panel shares. Which of them are combined is not fixed: it is one of a few fixed member
 * sets (COMBO_SETS: ETS + seasonal naive + Theta, ETS + damped ETS + Theta, ETS + Theta,
 * ETS alone, ETS + seasonal naive + Theta + the global model), the one whose combination
 * had the lowest validation error pooled over the panel
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
 * The global member is measured in the panel step (combo_global_member), where every
 * series is seen in key order: each combination's fit leaves its last values and its first
 * set's held-out forecasts in scratch records (the stash), the regression is pooled over
 * every series' windows before each origin's held-out stretch and once over all of them,
 * and each series' held-out periods are forecast from its values before them. So the
 * model is the same however the fit was spread (workers, streamed groups, Citus parts). A
 * series too short for the global regression's lags is forecast from its first value
 * padded; a validation stretch longer than GAR_PATH, or a stash beyond the records a fit
 * may have, leaves the global member out (its set is then the first set).
 *
 * In a forecast_fit model a series takes 1 + COMBO_PARTS records, or COMBO_RECORDS when
 * the panel chose the global set: this method's own (the weights in alpha, beta, gamma,
 * slope and, for the global member, level; the interval calibration in phi, 0 = none (1);
 * sigma2 the weighted members' variance, for display) and then each candidate's fit as its
 * method stores it (ETS, seasonal naive, Theta, damped ETS, the global model's path and its
 * variances; a candidate outside the chosen set has weight 0 and unused records). A model
 * written before 2026-12-07 (branch acc17e) has three component records (ETS, seasonal naive
 * or, before that, damped ETS, Theta) and no fourth weight; one written before 2026-12-08 no
 * global member (its level is 0); both forecast as they did.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/stats.h"
#include "forecast/global_ar.h"
#include "forecast/method.h"

#define FIT_COMBO 10			/* per-series code in forecast_fit models: never renumber */
#define COMBO_PARTS 4			/* candidates fitted per series, one record each: never reorder */
#define COMBO_PARTS_BEFORE 3	/* component records of a model written before 2026-12-07 (acc17e) */
#define COMBO_ETS 0
#define COMBO_SNAIVE 1
#define COMBO_THETA 2
#define COMBO_DAMPED 3
#define COMBO_GLOBAL 4			/* the panel's member: global_ar's path and variances records */
#define COMBO_MEMBERS 5
#define COMBO_REC_GLOBAL (1 + COMBO_GLOBAL)
#define COMBO_RECORDS (COMBO_REC_GLOBAL + 2)	/* what a model keeps of a series, at most */
#define COMBO_STASH_PER (FIT_MAX_M + ETS_MAX_SEASON)	/* stash doubles per scratch record */
#define COMBO_SETS 5			/* the member sets a panel chooses among */
#define COMBO_SET_GLOBAL 4		/* the set with the global member: set 0's members and it */
#define COMBO_MIN_LENGTH 5		/* what ETS and Theta need */
#define COMBO_CALIB_MIN 0.1		/* the interval calibration's range */
#define COMBO_CALIB_MAX 10.0
#define COMBO_SCORES FIT_MAX_M	/* held-out multiples a series passes to its panel, in fit->s */
#define COMBO_SET_SCORES (COMBO_SCORES / COMBO_SET_GLOBAL)	/* of each set scored per series */
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
#define COMBO_E_SAY (COMBO_E_SAE + COMBO_MEMBERS)
#define COMBO_E_SET (COMBO_E_SAY + 1)
#define COMBO_E_FRESH (COMBO_E_SET + COMBO_SETS)
#define COMBO_E_COMB (COMBO_E_FRESH + 1)
#define COMBO_COVERAGE (COMBO_E_COMB + 1)	/* held-out multiples inside the raw and the
											 * calibrated interval, and how many */

/* the member sets, by candidate: the first is the one a panel without evidence takes */
static const bool combo_sets[COMBO_SETS][COMBO_MEMBERS] = {
	{true, true, true, false, false},	/* ETS, seasonal naive, Theta */
	{true, false, true, true, false},	/* ETS, damped ETS, Theta */
	{true, false, true, false, false},	/* ETS, Theta */
	{true, false, false, false, false}, /* ETS */
	{true, true, true, false, true} /* set 0 and the global model (COMBO_SET_GLOBAL) */
};
static const char *const combo_set_names[] = {
	"ets+snaive+theta", "ets+damped_ets+theta", "ets+theta", "ets", "ets+snaive+theta+global_ar", NULL
};

/* combo's own options ('auto' passes them on to the combinations it fits) */
typedef struct ComboOptions
{
	int			horizon;		/* the forecasts asked for: the held-out stretch (0 = the season) */
} ComboOptions;

StaticAssertDecl(sizeof(ComboOptions) <= FORECAST_METHOD_OPTS, "options too large");

static const char *const combo_keys[] = {"horizon", NULL};

StaticAssertDecl(COMBO_RECORDS <= FORECAST_MAX_RECORDS, "raise FORECAST_MAX_RECORDS");
StaticAssertDecl(COMBO_COVERAGE + 3 <= ETS_MAX_SEASON, "the validation sums live in init_s");
StaticAssertDecl(COMBO_MEMBERS + 1 <= FORECAST_MAX_EVIDENCE, "raise FORECAST_MAX_EVIDENCE");
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

	for (c = 0; c < COMBO_MEMBERS; c++)
	{
		w[c] = 0;
		if (combo_sets[set][c] && usable[c] && (sae == NULL || isfinite(sae[c])))
			least = Min(least, sae == NULL ? 1 : sae[c]);
	}
	if (!isfinite(least))
		return false;
	for (c = 0; c < COMBO_MEMBERS; c++)
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
	for (c = 0; c < COMBO_MEMBERS; c++)
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

/* count evenly spaced ranks of the n sorted multiples into dst (all of them when count is n) */
static void
combo_sample_scores(const double *sorted, int n, int count, double *dst)
{
	for (int k = 0; k < count; k++)
		dst[k] = sorted[count == n ? k : (int) ((double) k * (n - 1) / (count - 1))];
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
			   int *nscores, double *evid, double *held)
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
	bool		ok[COMBO_MEMBERS],
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
	ok[COMBO_GLOBAL] = false;	/* measured in the panel step (combo_global_member) */
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
		double		w[COMBO_MEMBERS],
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
		if (set == 0 && held != NULL)
		{
			/* the first set's combination, which the global set extends (combo_global_member) */
			memcpy(held, cf, sizeof(double) * nv);
			memcpy(held + nv, clo, sizeof(double) * nv);
			memcpy(held + 2 * nv, chi, sizeof(double) * nv);
		}
		if (*nscores > 0 && set < COMBO_SET_GLOBAL)
		{
			double	   *dst = scores + set * COMBO_SET_SCORES;

			combo_scores(actual, cf, clo, chi, nv, all);
			combo_sample_scores(all, nv, *nscores, dst);
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

/* a finished global member (its records written by the panel step) */
static bool
combo_global_ready(const SeriesFit *fit)
{
	return fit[COMBO_REC_GLOBAL].method == global_ar_method.code && fit[COMBO_REC_GLOBAL].m == GAR_PATH;
}

/*
 * candidate c's weight, kept in the combination's own record; the global member's in level
 * (which holds the held-out multiples' count until the panel step, when the member is not
 * written yet)
 */
static double
combo_weight(const SeriesFit *fit, int c)
{
	if (c == COMBO_GLOBAL)
		return combo_global_ready(fit) ? fit->level : 0;
	return c == COMBO_ETS ? fit->alpha : c == COMBO_SNAIVE ? fit->beta :
		c == COMBO_THETA ? fit->gamma : fit->slope;
}

/* the weights of the members fitted per series (the global member's: combo_finish_panel) */
static void
combo_set_weight(SeriesFit *fit, int c, double w)
{
	if (c == COMBO_ETS)
		fit->alpha = w;
	else if (c == COMBO_SNAIVE)
		fit->beta = w;
	else if (c == COMBO_THETA)
		fit->gamma = w;
	else if (c == COMBO_DAMPED)
		fit->slope = w;
}

/*
 * The combination of member set `set` in fit (its records fitted): the weights from the
 * validation's sums (equal without) into w and the record (all but the global member's,
 * which the caller keeps), the members' variances for display, the set's validation error
 * as the combination's. false: no member of the set fitted. (The in-sample error, mse, is
 * the ETS member's, whatever the set: what a warm refit compares before the panel has
 * chosen; ETS is in every set.)
 */
static bool
combo_use_set(SeriesFit *fit, int set, double *w)
{
	bool		usable[COMBO_MEMBERS];
	bool		validated = isfinite(fit->init_s[COMBO_E_SAY]);
	int			c;

	for (c = 0; c < COMBO_PARTS; c++)
		usable[c] = fit[1 + c].method != 0;
	usable[COMBO_GLOBAL] = combo_global_ready(fit);
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

/*
 * The global member's stash: what the panel step (combo_global_member) needs of a series,
 * in the seasonal states of the global member's two records and of the records after them
 * (all of code 0 until then; no model keeps the ones after): the series' last T values,
 * then the first member set's held-out forecasts, lower and upper bounds (nv each). Its
 * shape is in the global member's first record's other fields: n, np = T, phi the season,
 * beta v, gamma the origins' step, slope the origins, level nv, aicc the log of the first
 * set's summed inverse fourth powers of its members' errors, loglik how many of those
 * errors are 0.
 */
static double *
stash_at(SeriesFit *fit, int k)
{
	SeriesFit  *r = &fit[COMBO_REC_GLOBAL + k / COMBO_STASH_PER];
	int			i = k % COMBO_STASH_PER;

	return i < FIT_MAX_M ? &r->s[i] : &r->init_s[i - FIT_MAX_M];
}

/*
 * the stash's length at season m (the longest series), and the records it needs beyond the
 * global member's two; -1: it does not fit (the global member is then no candidate)
 */
static int
combo_stash_records(int m, const ForecastOptions *o, int *len_out)
{
	const ComboOptions *co = forecast_method_options(o, &combo_method);
	int			p,
				w,
				back,
				v = Max(m, 7),
				step,
				len,
				recs;

	global_ar_shape(o, m, &p, &w, &back);
	if (o->validation > 0)
		v = o->validation;
	else if (co->horizon > 0)
		v = Min(co->horizon, v);
	if (v > GAR_PATH)
		return -1;				/* the path the member is validated with is GAR_PATH long */
	step = Max(v / 2, 1);
	len = back + w + v + (COMBO_ORIGINS - 1) * step + 3 * v * COMBO_ORIGINS;
	recs = Max((len + COMBO_STASH_PER - 1) / COMBO_STASH_PER - 2, 0);
	if (COMBO_RECORDS + recs > FORECAST_MAX_RECORDS)
		return -1;
	if (len_out)
		*len_out = len;
	return recs;
}

/* can the global member be measured and used on a series of n periods (held-out stretches as given) */
static bool
combo_global_candidate(const ForecastOptions *o, int m, int n, int v, int step, int norig)
{
	int			p,
				w,
				back;

	global_ar_shape(o, m, &p, &w, &back);
	return n - v - (Max(norig, 1) - 1) * step > back;
}

/* the records per series a combination is fitted in at season m: its own, its members', the stash */
int
combo_records_for(int m, const ForecastOptions *o)
{
	return COMBO_RECORDS + Max(combo_stash_records(m, o, NULL), 0);
}

/*
 * log of the first set's summed inverse fourth powers of its members' held-out errors (the
 * unnormalised weights of combo_set_weights), and how many of them are exactly 0
 */
static double
combo_first_set_logu(const double *evid, int *nzero)
{
	double		lmin = HUGE_VAL,
				sum = 0;
	int			c;

	*nzero = 0;
	for (c = 0; c < COMBO_MEMBERS; c++)
		if (combo_sets[0][c] && isfinite(evid[COMBO_E_SAE + c]))
		{
			if (evid[COMBO_E_SAE + c] == 0)
				(*nzero)++;
			else
				lmin = Min(lmin, log(evid[COMBO_E_SAE + c]));
		}
	if (*nzero > 0 || !isfinite(lmin))
		return 0;
	for (c = 0; c < COMBO_MEMBERS; c++)
		if (combo_sets[0][c] && isfinite(evid[COMBO_E_SAE + c]))
			sum += exp(-COMBO_POWER * (log(evid[COMBO_E_SAE + c]) - lmin));
	return -COMBO_POWER * lmin + log(sum);
}

static double
combo_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	double		scores[COMBO_SCORES],
				w[COMBO_MEMBERS];
	int			nscores,
				nv,
				c,
				len,
				recs = combo_stash_records(m, o, &len),
				v,
				step,
				norig = combo_origins(n, m, o, &v, &step);
	double		evid[COMBO_COVERAGE];
	double	   *held = palloc(sizeof(double) * Max(3 * v * Max(norig, 1), 1));

	memset(fit, 0, sizeof(SeriesFit) * (COMBO_RECORDS + Max(recs, 0)));
	nv = combo_validate(y, n, m, o, scores, &nscores, evid, held);
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
	if (!combo_use_set(fit, 0, w))
		elog(ERROR, "combo: no member of the first set fitted");	/* ETS always fits */
	/*
	 * The series' own calibration, and its multiples for the panel's (in the record's
	 * seasonal states and level, which a combination does not use; finish_panel clears them)
	 */
	fit->phi = nscores > 0 ? conformal_quantile(scores, nscores, o->level) : 1;
	memcpy(fit->s, scores, sizeof(double) * COMBO_SCORES);
	fit->level = nscores;
	/*
	 * the global member's stash, for the panel step: only for a series with a window of its
	 * own (back periods before a target) before its earliest origin's held-out stretch, so
	 * that its held-out and final forecasts start from its own values, not padding
	 */
	if (recs >= 0 && combo_global_candidate(o, m, n, v, step, norig))
	{
		SeriesFit  *g = &fit[COMBO_REC_GLOBAL];
		int			p,
					win,
					back,
					T;
		int			nzero;

		global_ar_shape(o, m, &p, &win, &back);
		T = Min(n, back + win + v + (COMBO_ORIGINS - 1) * step);
		g->n = n;
		g->np = T;
		g->phi = Max(m, 1);
		g->beta = v;
		g->gamma = step;
		g->slope = norig;
		g->level = nv;
		g->aicc = combo_first_set_logu(evid, &nzero);
		g->loglik = nzero;
		for (int t = 0; t < T; t++)
			*stash_at(fit, t) = y[n - T + t];
		for (int t = 0; t < 3 * nv; t++)
			*stash_at(fit, T + t) = held[t];
	}
	pfree(held);
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
	for (c = 0; c < COMBO_MEMBERS; c++)
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

/* a combination fitted in this call whose global member waits for the panel step */
static bool
combo_global_pending(const SeriesFit *f)
{
	return combo_fresh(f) && f[COMBO_REC_GLOBAL].method == 0 && f[COMBO_REC_GLOBAL].np > 0;
}

/* the stash's values as log1p (negative ones, returns, as 0) into z, and returns T */
static int
stash_logs(SeriesFit *f, double *z)
{
	int			T = f[COMBO_REC_GLOBAL].np;

	for (int t = 0; t < T; t++)
		z[t] = log1p(Max(*stash_at(f, t), 0));
	return T;
}

/*
 * A stash's shape as combo_fit writes it, checked before it is read: the stages of a
 * distributed fit come from outside (forecast_fit_merge), and every index below is taken
 * from these fields. m, when given, is the season the other series' stashes have.
 */
static void
combo_stash_check(const SeriesFit *f, int nrec, const ForecastOptions *o, const int *m)
{
	const SeriesFit *g = &f[COMBO_REC_GLOBAL];
	double		season = g->phi,
				T = g->np,
				v = g->beta,
				norig = g->slope,
				nv = g->level;
	int			p,
				w,
				back;
	bool		ok = season >= 1 && season <= FIT_MAX_M && season == floor(season) &&
		(m == NULL || season == *m) &&
		v >= 1 && v <= GAR_PATH && v == floor(v) && g->gamma == Max(floor(v / 2), 1) &&
		norig >= 0 && norig <= COMBO_ORIGINS && norig == floor(norig) && nv == v * norig &&
		T + 3 * nv <= (double) (nrec - COMBO_REC_GLOBAL) * COMBO_STASH_PER &&
		isfinite(g->aicc) && g->loglik >= 0 && g->loglik <= COMBO_PARTS && g->loglik == floor(g->loglik);

	if (ok)
	{
		global_ar_shape(o, (int) season, &p, &w, &back);
		ok = T - v - (Max(norig, 1) - 1) * g->gamma > back;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("combo: a fit stage holds an impossible global member stash"),
				 errdetail("Season %g, %g values, held-out stretch %g at %g origins, %g held-out periods.",
						   season, T, v, norig, nv),
				 errhint("Pass the values retailiq_internal.forecast_fit_part returned, unchanged.")));
}

/*
 * The global member (global_ar.h), measured like the others: its regression pooled over
 * every combination's series with its own windows before each origin's held-out stretch
 * (and once over all of them for the forecast); at each origin each series' held-out
 * periods forecast from its values before them. Its errors give its weight in the global
 * set (the first set's members and it: the first set's combination, kept by the fit,
 * weighted against the global forecast as combo_set_weights would weigh the four), the
 * set's error and its interval's multiples (mult, COMBO_SET_SCORES a series). A series
 * without held-out periods, or whose member could not be measured, keeps the first set's
 * error and multiples for the global set. Returns false when no combination has a stash
 * or the panel's regressions cannot be solved (the global set is then the first set).
 * beta and sigma2 get the regression over all windows.
 */
static bool
combo_global_member(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o, double *mult,
					double **beta_out, double *sigma2_out, int *p_out, int *m_out)
{
	int			p = 0,
				m = 0,
				w,
				back,
				i,
				k,
				t;
	GarPool		pool[1 + COMBO_ORIGINS];
	double	   *beta[1 + COMBO_ORIGINS],
				sigma2[1 + COMBO_ORIGINS],
			   *z = palloc(sizeof(double) * (GAR_MAX_VALUES + 3 * GAR_PATH)),
				zq = riq_normal_quantile((1 + o->level) / 2);
	bool		solved[1 + COMBO_ORIGINS];

	for (i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];

		if (combo_fresh(f))
			memcpy(mult + (Size) i * COMBO_SET_SCORES, f->s, sizeof(double) * COMBO_SET_SCORES);
		if (combo_global_pending(f))
		{
			combo_stash_check(f, nrec, o, m == 0 ? NULL : &m);
			m = (int) f[COMBO_REC_GLOBAL].phi;
		}
	}
	if (m == 0)
		return false;
	global_ar_shape(o, m, &p, &w, &back);
	for (k = 0; k <= COMBO_ORIGINS; k++)
	{
		gar_pool_init(&pool[k], p, m);
		beta[k] = palloc(sizeof(double) * (p + 1));
	}
	/* pool 0: every window; pool 1 + k: the windows before origin k's held-out stretch */
	for (i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		const SeriesFit *g = &f[COMBO_REC_GLOBAL];
		int			T,
					v = (int) g->beta,
					step = (int) g->gamma;

		if (!combo_global_pending(f))
			continue;
		CHECK_FOR_INTERRUPTS();
		T = stash_logs(f, z);
		gar_pool_add(&pool[0], z, Max(back, T - w), T);
		for (k = 0; k < COMBO_ORIGINS; k++)
		{
			int			end = T - k * step - v;

			gar_pool_add(&pool[1 + k], z, Max(back, end - w), Max(end, back));
		}
	}
	for (k = 0; k <= COMBO_ORIGINS; k++)
		solved[k] = gar_pool_solve(&pool[k], beta[k], &sigma2[k]);
	if (!solved[0])
		return false;
	for (i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		SeriesFit  *g = &f[COMBO_REC_GLOBAL];
		int			T,
					v = (int) g->beta,
					step = (int) g->gamma,
					norig = (int) g->slope,
					nv = (int) g->level,
					nzero = (int) g->loglik,
					nscores = (int) f->level;
		double		sae = 0,
					sae_set = 0,
					lambda,
					path[GAR_PATH],
					cumvar[GAR_PATH],
					logu = g->aicc;
		double	   *fg,
				   *lg,
				   *hg,
				   *cf,
				   *clo,
				   *chi,
				   *act,
				   *all;
		bool		ok = norig >= 1 && nv == v * norig && v <= GAR_PATH;

		if (!combo_global_pending(f))
			continue;
		for (k = 0; k < norig && ok; k++)
			ok = solved[1 + k];
		if (!ok)
			continue;
		CHECK_FOR_INTERRUPTS();
		T = stash_logs(f, z);
		fg = palloc(sizeof(double) * nv * 8);
		lg = fg + nv;
		hg = lg + nv;
		cf = hg + nv;
		clo = cf + nv;
		chi = clo + nv;
		act = chi + nv;
		all = act + nv;
		for (k = 0; k < norig; k++)
		{
			int			end = T - k * step - v;

			gar_path(beta[1 + k], p, m, sigma2[1 + k], z, end, v, path, cumvar);
			for (t = 0; t < v; t++)
			{
				double		sd = sqrt(cumvar[t]);
				int			at = k * v + t;

				act[at] = *stash_at(f, end + t);
				fg[at] = gar_expm1(path[t]);
				lg[at] = gar_expm1(path[t] - zq * sd);
				hg[at] = gar_expm1(path[t] + zq * sd);
				if (!o->series.allow_negative)
				{
					fg[at] = Max(fg[at], 0);
					lg[at] = Max(lg[at], 0);
					hg[at] = Max(hg[at], 0);
				}
				sae += fabs(act[at] - fg[at]);
			}
		}
		if (!isfinite(sae))
		{
			pfree(fg);
			continue;
		}
		/* the first set's weight against the global member's, as combo_set_weights gives them */
		if (nzero > 0)
			lambda = sae == 0 ? (double) nzero / (nzero + 1) : 1;
		else if (sae == 0)
			lambda = 0;
		else
			lambda = 1 / (1 + exp(-COMBO_POWER * log(sae) - logu));
		for (t = 0; t < nv; t++)
		{
			cf[t] = lambda * *stash_at(f, T + t) + (1 - lambda) * fg[t];
			clo[t] = lambda * *stash_at(f, T + nv + t) + (1 - lambda) * lg[t];
			chi[t] = lambda * *stash_at(f, T + 2 * nv + t) + (1 - lambda) * hg[t];
			sae_set += fabs(act[t] - cf[t]);
		}
		f->init_s[COMBO_E_SAE + COMBO_GLOBAL] = sae;
		f->init_s[COMBO_E_SET + COMBO_SET_GLOBAL] = sae_set;
		if (nscores > 0)
		{
			combo_scores(act, cf, clo, chi, nv, all);
			combo_sample_scores(all, nv, nscores, mult + (Size) i * COMBO_SET_SCORES);
		}
		pfree(fg);
	}
	*beta_out = beta[0];
	*sigma2_out = sigma2[0];
	*p_out = p;
	*m_out = m;
	return true;
}

/* series i's held-out multiples of member set `set` (the global set's: mult, from the panel step) */
static const double *
combo_set_multiples(const SeriesFit *f, int i, int set, const double *mult)
{
	return set == COMBO_SET_GLOBAL ? mult + (Size) i * COMBO_SET_SCORES : f->s + set * COMBO_SET_SCORES;
}

/*
 * After the panel is fitted: the global member measured (combo_global_member); every
 * combination fitted in this call takes the panel's member set (combo_panel_set), weighted
 * by its own validation (equal weights without); a candidate outside it leaves an unused
 * record, and the global member is written only where its set is chosen. Then the
 * calibration: over a panel, every combination's interval takes the conformal quantile of
 * the chosen set's held-out multiples of every series pooled; a lone series keeps its own.
 * The multiples and the stash leave the records.
 */
static void
combo_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o)
{
	double		pooled[COMBO_SETS];
	double	   *mult = palloc(sizeof(double) * Max(ns, 1) * COMBO_SET_SCORES),
			   *wg = palloc0(sizeof(double) * Max(ns, 1)),
			   *gbeta = NULL,
				gsigma2 = 0;
	int			gp = 0,
				gm = 0;
	bool		global = combo_global_member(fits, ns, nrec, o, mult, &gbeta, &gsigma2, &gp, &gm);
	int			set = combo_panel_set(fits, ns, nrec, pooled);
	double	   *pool,
			   *z = palloc(sizeof(double) * GAR_MAX_VALUES * 2);
	Size		k = 0;
	int			with = 0;

	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		double		w[COMBO_MEMBERS];

		if (!combo_fresh(f))
			continue;
		/* the global member's records: written where its set is chosen, else unused */
		if (combo_global_pending(f) && global && set == COMBO_SET_GLOBAL)
		{
			int			T = stash_logs(f, z);

			memset(&f[COMBO_REC_GLOBAL], 0, sizeof(SeriesFit) * 2);
			gar_store(&f[COMBO_REC_GLOBAL], gbeta, gp, gm, gsigma2, z, T);
		}
		else if (!combo_global_ready(f))
			memset(&f[COMBO_REC_GLOBAL], 0, sizeof(SeriesFit) * 2);
		if (nrec > COMBO_RECORDS)
			memset(&f[COMBO_RECORDS], 0, sizeof(SeriesFit) * (nrec - COMBO_RECORDS));
		if (combo_use_set(f, set, w))
		{
			for (int c = 0; c < COMBO_PARTS; c++)
				if (w[c] == 0)
					memset(&f[1 + c], 0, sizeof(SeriesFit));
			if (w[COMBO_GLOBAL] == 0)
				memset(&f[COMBO_REC_GLOBAL], 0, sizeof(SeriesFit) * 2);
			wg[i] = w[COMBO_GLOBAL];
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
		const double *sc = combo_set_multiples(f, i, set, mult);

		if (!combo_fresh(f))
			continue;
		for (int t = 0; t < (int) f->level && t < COMBO_SET_SCORES; t++)
			pool[k++] = sc[t];
	}
	if (with >= 2)
	{
		double		c,
					c_first = NAN;

		qsort(pool, k, sizeof(double), riq_cmp_double);
		c = conformal_quantile(pool, (int) k, o->level);
		/*
		 * Where the panel chose the global set, a series whose combination gives the global
		 * member no weight (too short for its lags) combines the first set's members: its
		 * interval takes the quantile of the first set's multiples pooled over the panel,
		 * not of the global set's, which err differently.
		 */
		if (set == COMBO_SET_GLOBAL)
		{
			k = 0;
			for (int i = 0; i < ns; i++)
			{
				SeriesFit  *f = &fits[(Size) i * nrec];

				if (!combo_fresh(f))
					continue;
				for (int t = 0; t < (int) f->level && t < COMBO_SET_SCORES; t++)
					pool[k++] = f->s[t];
			}
			qsort(pool, k, sizeof(double), riq_cmp_double);
			c_first = conformal_quantile(pool, (int) k, o->level);
		}
		for (int i = 0; i < ns; i++)
		{
			SeriesFit  *f = &fits[(Size) i * nrec];
			bool		global = (combo_fresh(f) ? wg[i] : combo_weight(f, COMBO_GLOBAL)) > 0;

			if (f->method == FIT_COMBO && f->phi > 0)
				f->phi = set == COMBO_SET_GLOBAL && !global ? c_first : c;
		}
	}
	/*
	 * The evidence of the calibration (combo_coverage): of each series' held-out multiples,
	 * how many the members' own interval held (a multiple of at most 1) and how many the
	 * calibrated one holds (at most the calibration); then the multiples leave the records,
	 * and level takes the global member's weight.
	 */
	for (int i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		int			raw = 0,
					cal = 0,
					cnt = Min((int) f->level, COMBO_SET_SCORES);
		const double *sc = combo_set_multiples(f, i, set, mult);

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
		f->level = wg[i];
		memset(f->s, 0, sizeof(f->s));
	}
	pfree(pool);
	pfree(mult);
	pfree(wg);
	pfree(z);
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
	for (c = 0; c < COMBO_MEMBERS; c++)
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
		if (pm == NULL || pm->check == NULL || pm == &combo_method ||
			(c == COMBO_GLOBAL ? pm != &global_ar_method : forecast_method_records(pm) != 1))
			return "a combination component of no known method";
		if (pm->check(part) != NULL)
			return pm->check(part);
	}
	if (fabs(sum - 1) > 1e-9)
		return "combination weights that do not sum to 1";
	return NULL;
}

static const char *const combo_evidence_names[] = {"ets", "snaive", "theta", "damped_ets", "global_ar", "combo", NULL};

/* the validation's sums kept by combo_fit (a record read back from a model has none) */
static bool
combo_evidence(const SeriesFit *fit, double *sae, double *say)
{
	if (fit->method != FIT_COMBO || !combo_fresh(fit) || !(fit->init_s[COMBO_E_SAY] > 0))
		return false;
	for (int c = 0; c < COMBO_MEMBERS; c++)
		sae[c] = fit->init_s[COMBO_E_SAE + c];
	sae[COMBO_MEMBERS] = fit->init_s[COMBO_E_COMB];
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
 * ETS (the second record of a model written before 2026-12-07 may be damped ETS too), G =
 * the global model
 */
static const char *
combo_label(const SeriesFit *f, char *buf)
{
	int			k = snprintf(buf, 16, "combo(");

	for (int c = 0; c < COMBO_MEMBERS; c++)
	{
		char		letter = c == COMBO_ETS ? 'E' : c == COMBO_THETA ? 'T' : c == COMBO_DAMPED ? 'D' :
			c == COMBO_GLOBAL ? 'G' : f[1 + c].method == FIT_ETS ? 'D' : 'S';

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
	.records_for = combo_records_for,
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
