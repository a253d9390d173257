/*
 * auto.c: 'auto', the entry of the method table that picks a method per series. The
 * series is classified first (Syntetos-Boylan-Croston, demand_class.c): an intermittent or
 * lumpy one (mean interval between sales of 1.32 periods or more), or one without any
 * sale, goes straight to the intermittent methods SBA, TSB and IMAPA, without trying the
 * ETS forms (most of the time of a fit, and no ETS form models sporadic demand); a smooth or
 * erratic series gets 'combo' (the member set among ETS, seasonal naive, Theta and damped
 * ETS that the panel's validation chooses, weighted by their own validation; as ETS, damped
 * ETS and Theta it beat ETS, Theta and the former
 * choice between ETS and seasonal naive on a development set of 418 monthly M3 series, sMAPE
 * 13.35 against 14.19, 13.64 and 14.50), and one with
 * at least 30% zero periods chooses among combo, Croston and SBA. A choice among candidates
 * fits each at up to three rolling origins at the end of the series and forecasts the v
 * periods after each; the one with the lowest mean absolute error over them is refitted on
 * the whole series. The candidates are named here, not taken from the registry, so a new
 * method changes no 'auto' forecast until it is added below.
 *
 * Given factors (a sales source with exog_columns, the benchmark's Dominick's), 'auto' is
 * the dynamic regression (regression_sql.c): the one method here whose forecast moves with
 * planned promotions and prices; it chooses its own form by validation. forecast_fit takes
 * no factors, so this is the method table's with_factors, which the sources follow.
 */
#include "postgres.h"

#include <math.h>

#include "forecast/demand_class.h"
#include "forecast/method.h"

#define AUTO_MIN_LENGTH 5		/* what ETS needs */
#define AUTO_ORIGINS 3			/* rolling validation origins at the end of a series */

extern const ForecastMethod combo_method;
extern const ForecastMethod croston_method;
extern const ForecastMethod sba_method;
extern const ForecastMethod tsb_method;
extern const ForecastMethod imapa_method;

/* the horizon asked is combo's option (the combinations' held-out stretch); auto lists it too */
static const char *const auto_keys[] = {"horizon", NULL};

static int
auto_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < AUTO_MIN_LENGTH ? AUTO_MIN_LENGTH : 0;
}

/*
 * auto: the method with the lowest mean absolute error over held-out stretches of v periods
 * (options.validation, else the season, at least 7) at up to three rolling origins at the
 * end of the series: one origin's errors decide by chance too often.
 */
static double
auto_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	int			v = o->validation > 0 ? o->validation : Max(m, 7);
	int			zeros = 0,
				demands,
				step,
				norig,
				t,
				k,
				c;
	double		adi,
				cv2;
	DemandClass dc = demand_classify(y, n, &adi, &cv2, &demands);
	bool		sporadic = dc == DEMAND_NONE || dc == DEMAND_INTERMITTENT || dc == DEMAND_LUMPY;
	const ForecastMethod *cand[4];
	int			ncand = 0;
	const ForecastMethod *best = &sba_method;
	double		best_mae = HUGE_VAL;
	double	   *yhat,
			   *lo,
			   *hi;
	RiqRng		rng;

	for (t = 0; t < n; t++)
		if (y[t] == 0)
			zeros++;
	if (sporadic)
	{
		cand[ncand++] = &sba_method;
		cand[ncand++] = &tsb_method;
		cand[ncand++] = &imapa_method;
		best = &sba_method;
	}
	else if (zeros < 0.3 * n)
	{
		/* smooth or erratic demand: the combination, weighted by its own validation */
		return combo_method.fit(y, n, m, o, fit);
	}
	else
	{
		cand[ncand++] = &combo_method;
		cand[ncand++] = &croston_method;
		cand[ncand++] = &sba_method;
		best = &combo_method;
	}
	/*
	 * Rolling origins: up to AUTO_ORIGINS, s = v / 2 periods apart, as many as leave each
	 * training stretch at least two seasons (8 periods); none left: ETS (or SBA), unscored.
	 */
	step = Max(v / 2, 1);
	for (norig = AUTO_ORIGINS; norig > 0; norig--)
		if (n - v - (norig - 1) * step >= Max(2 * m, 8))
			break;
	if (norig == 0)
	{
		(sporadic || zeros >= 0.3 * n ? &sba_method : &combo_method)->fit(y, n, m, o, fit);
		return NAN;
	}
	yhat = palloc(sizeof(double) * v);
	lo = palloc(sizeof(double) * v);
	hi = palloc(sizeof(double) * v);
	for (c = 0; c < ncand; c++)
	{
		double		mae = 0;

		for (k = 0; k < norig; k++)
		{
			int			end = n - k * step;	/* the origin's held-out stretch ends here */
			SeriesFit	f[FORECAST_MAX_RECORDS];

			memset(f, 0, sizeof(f));
			cand[c]->fit(y, end - v, m, o, f);
			riq_rng_seed(&rng, o->seed, 0);
			fit_forecast(f, v, o->level, !o->series.allow_negative, &rng, yhat, lo, hi);
			for (t = 0; t < v; t++)
				mae += fabs(y[end - v + t] - yhat[t]);
		}
		mae /= (double) v * norig;
		if (mae < best_mae)
		{
			best_mae = mae;
			best = cand[c];
		}
	}
	pfree(yhat);
	pfree(lo);
	pfree(hi);
	best->fit(y, n, m, o, fit);
	return best_mae;
}

const ForecastMethod auto_method = {
	.name = "auto",
	.code = 0,					/* never stored: each series keeps the method auto chose */
	.kind = MODEL_KIND_FORECAST_ENSEMBLE,
	.scope = METHOD_LOCAL,
	.factors = true,
	.with_factors = "regression",
	.intermittent = true,
	.requestable = true,
	.records = 5,				/* combo's (as a model keeps them, before 2026-12-08) */
	.records_for = combo_records_for,	/* combo's while it is fitted */
	.trainer = "forecast_fit",
	.description = "per series: SBA, TSB or IMAPA (by validation) for intermittent and lumpy demand, else combo (with Croston and SBA at 30% zeros or more); with factors, the regression",
	.option_keys = auto_keys,
	.min_length = auto_min_length,
	.fit = auto_fit,
	.predict = forecast_local_predict,
};
