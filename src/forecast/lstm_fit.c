/*
 * lstm_fit.c: the forecast_lstm_fit aggregates. Rows are gathered by the shared series
 * collector, so partial aggregation in parallel workers works as for every forecasting
 * aggregate; the final function holds the training policy: the horizon, validation tail
 * and window fitted to the series (short series padded, with a NOTICE), the window chosen
 * on the validation tail when none is given, then lstm_train and the model value.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"

#include "core/agg_state.h"
#include "core/model.h"
#include "forecast/lstm_model.h"
#include "forecast/lstm_options.h"
#include "forecast/lstm_train.h"
#include "forecast/method.h"
#include "forecast/progress.h"
#include "forecast/series.h"
#include "forecast/warm_start.h"

PG_FUNCTION_INFO_V1(forecast_lstm_fit_accum);
PG_FUNCTION_INFO_V1(forecast_lstm_fit_final);

Datum
forecast_lstm_fit_accum(PG_FUNCTION_ARGS)
{
	PG_RETURN_POINTER(series_collect_panel_accum(fcinfo, "forecast_lstm_fit_accum"));
}

/*
 * Lengthen every series shorter than `need` periods at its start: the missing periods
 * repeat the same season's value of the series' first season (its mean when it has less
 * than a season), factors 0.
 */
static void
pad_short_series(ForecastPanel *panel, int need)
{
	int			E = panel->n_exog;
	int			m = Max(panel->season, 1);

	for (int i = 0; i < panel->nseries; i++)
	{
		ForecastSeries *sr = &panel->series[i];
		int			pad = need - sr->n;
		double	   *y,
					mean = 0.0;

		if (pad <= 0)
			continue;
		for (int p = 0; p < sr->n; p++)
			mean += sr->y[p] / sr->n;
		y = palloc(sizeof(double) * need);
		for (int p = 0; p < pad; p++)
		{
			int			phase = ((p - pad) % m + m) % m;

			y[p] = phase < sr->n && sr->n >= m ? sr->y[phase] : mean;
		}
		memcpy(y + pad, sr->y, sizeof(double) * sr->n);
		sr->y = y;
		if (E > 0)
		{
			double	   *ex = palloc0(sizeof(double) * (Size) need * E);

			memcpy(ex + (Size) pad * E, sr->exog, sizeof(double) * (Size) sr->n * E);
			sr->exog = ex;
		}
		sr->start = series_date_add(panel->freq, sr->start, -pad);
		sr->n = need;
	}
}

/*
 * Without an explicit window the validation tail chooses it: one network (no refit, no
 * ensemble) per candidate window, half the default, the default, and twice the default
 * when every series is long enough for that and its validation tail, and the lowest
 * validation WAPE of the network (its whole correction to the base) wins (the default on
 * ties). The window is the network's: how much of the correction to use is decided after,
 * on the chosen network (lstm_train). The ETS bases are fitted once for all.
 */
static int
choose_window(const ForecastPanel *panel, LstmConfig *cfg, int wmin)
{
	int			W0 = cfg->window;
	int			cand[3],
				ncand = 0,
				best = 0,
				shortest = INT_MAX;
	double		best_wape = get_float8_infinity(),
				wape[3];
	LstmConfig	trial = *cfg;
	LstmHeld   *held = palloc0(sizeof(LstmHeld) * 3);

	for (int i = 0; i < panel->nseries; i++)
		shortest = Min(shortest, panel->series[i].n);
	cand[ncand++] = W0;
	if (W0 / 2 >= wmin && W0 / 2 < W0)
		cand[ncand++] = W0 / 2;
	if (shortest >= 2 * W0 + cfg->validation + 1)
		cand[ncand++] = 2 * W0;
	if (ncand == 1)
		return W0;
	if (cfg->ets_base)
		cfg->base_init = lstm_fit_bases(panel, cfg->validation, cfg->verbose, cfg->base_form);
	trial.base_init = cfg->base_init;
	trial.refit = false;
	trial.ensemble = 1;
	trial.held = NULL;
	/* one network per candidate, side by side in the forecast workers when there are any */
	lstm_parallel_windows(panel, &trial, ncand, cand, wape, held);
	for (int i = 0; i < ncand; i++)
	{
		ereport(cfg->verbose ? NOTICE : DEBUG1,
				(errmsg("forecast_lstm_fit: window %d: validation WAPE %.4f", cand[i], wape[i])));
		if (wape[i] < best_wape)
		{
			best_wape = wape[i];
			best = i;
		}
	}
	/* the final fit's first network is the chosen candidate's: it is not trained again */
	if (held[best].params != NULL)
		cfg->held = &held[best];
	return cand[best];
}

/* the options as JSON (NULL without any), every key checked; sopt: the series options */
static Jsonb *
fit_options(SeriesCollector *state, SeriesOptions *sopt)
{
	const char *opttext = series_collect_options(state);
	Jsonb	   *jb = NULL;

	if (opttext)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(opttext)));
	series_check_option_keys(jb, lstm_option_keys, "forecast_lstm_fit");
	series_options_from_jsonb(jb, sopt);
	return jb;
}

/* the first of the shortest and the first of the longest series (panel not empty) */
static void
series_extremes(const ForecastPanel *panel, const ForecastSeries **shortest,
				const ForecastSeries **longest)
{
	*shortest = *longest = &panel->series[0];
	for (int i = 1; i < panel->nseries; i++)
	{
		if (panel->series[i].n < (*shortest)->n)
			*shortest = &panel->series[i];
		if (panel->series[i].n > (*longest)->n)
			*longest = &panel->series[i];
	}
}

/*
 * Every series must hold a window and one target when the window is given (shorter ones
 * are padded otherwise), the longest a window and `reserve` periods.
 */
static void
check_lengths(const ForecastPanel *panel, const LstmConfig *cfg, bool window_given, int reserve,
			  const ForecastSeries *shortest_sr, const ForecastSeries *longest_sr)
{
	int			shortest = shortest_sr->n,
				longest = longest_sr->n;
	const char *short_key = shortest_sr->key,
			   *long_key = longest_sr->key;

	if (window_given && shortest < cfg->window + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short for forecast_lstm_fit", short_key),
				 errdetail("It has %d periods; with a window of %d periods every series needs at least %d.",
						   shortest, cfg->window, cfg->window + 1),
				 errhint("Leave out the short series (e.g. HAVING count(*) > %d in a subquery), give a smaller \"window\", or leave \"window\" out (short series are then padded).",
						 cfg->window)));
	if (longest < cfg->window + reserve)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short for forecast_lstm_fit", long_key),
				 errdetail("It is the longest series with %d %ss; a window of %d %ss and %s need at least %d.",
						   longest, series_freq_name(panel->freq), cfg->window,
						   series_freq_name(panel->freq),
						   cfg->validation > 0 ? psprintf("a validation tail of %d with one training origin before it", cfg->validation) :
						   psprintf("a horizon of %d", cfg->horizon),
						   cfg->window + reserve),
				 errhint("Forecast short histories with retailiq.forecast_fit(..., 'auto'), which falls back to simpler methods, or lower \"horizon\", \"validation\" or \"window\".")));
}

/*
 * A series shorter than the window + 1 is padded at its start, so that a few new
 * products do not cut the window of all the others: visibly.
 */
static void
pad_with_notice(ForecastPanel *panel, const LstmConfig *cfg)
{
	StringInfoData padded;
	int			npad = 0;
	const char *first = NULL;

	initStringInfo(&padded);
	for (int i = 0; i < panel->nseries; i++)
		if (panel->series[i].n < cfg->window + 1)
		{
			if (npad < 10)
				appendStringInfo(&padded, "%s\"%s\" (%d)", npad ? ", " : "",
								 panel->series[i].key, panel->series[i].n);
			if (npad == 0)
				first = panel->series[i].key;
			npad++;
		}
	if (npad > 0)
		ereport(NOTICE,
				(errmsg("forecast_lstm_fit: series \"%s\"%s shorter than the window + 1 (%d %ss) and padded",
						first, npad > 1 ? psprintf(" and %d more are", npad - 1) : " is",
						cfg->window + 1, series_freq_name(panel->freq)),
				 errdetail("Padded series (periods): %s%s.", padded.data,
						   npad > 10 ? psprintf(" and %d more", npad - 10) : ""),
				 errhint("Their missing start repeats their first season; their forecasts lean on the other series. Forecast them with retailiq.forecast_fit(..., 'auto') if that is not wanted.")));
	pad_short_series(panel, cfg->window + 1);
}

/*
 * Fit the window to the series. What the longest series must hold beyond one window: the
 * validation tail and one training origin before it (the held-out forecasts calibrate the
 * interval), or without validation the whole horizon after the window. The other series
 * are padded (default window, with a NOTICE) or must hold a window and one target
 * (explicit window).
 */
static void
fit_window_to_series(ForecastPanel *panel, LstmConfig *cfg, bool window_given, int wmin)
{
	int			reserve = cfg->validation > 0 ? cfg->validation + 1 : cfg->horizon;
	const ForecastSeries *shortest,
			   *longest;

	series_extremes(panel, &shortest, &longest);
	if (!window_given)
		/* the default window shrinks (down to half a season) to leave room for the tail */
		cfg->window = Max(Min(cfg->window, longest->n - reserve), wmin);
	check_lengths(panel, cfg, window_given, reserve, shortest, longest);
	if (!window_given)
		pad_with_notice(panel, cfg);
}

/*
 * The bases' forms. Each series' is chosen anew (-1), except with "warm_start": a series
 * of the previous LSTM model (same ETS base and season) whose base form was chosen fewer
 * than "reselect_days" days (default 7) before the series' new last date keeps that form,
 * so its bases are refitted once each instead of searched (the nightly refit).
 */
static void
plan_base_forms(Jsonb *jb, const ForecastPanel *panel, LstmConfig *cfg)
{
	int			ns = panel->nseries,
				reselect,
				np,
				dims[2],
				j = 0;
	bytea	   *prev;
	ModelView  *mv;
	char	  **keys;
	int64	   *form,
			   *selected;

	cfg->base_form = palloc(sizeof(int8) * 4 * (Size) ns);
	memset(cfg->base_form, -1, sizeof(int8) * 4 * (Size) ns);
	cfg->base_selected = palloc(sizeof(int32) * (Size) ns);
	for (int i = 0; i < ns; i++)
		cfg->base_selected[i] = series_date_add(panel->freq, panel->series[i].start,
												panel->series[i].n - 1);
	reselect = (int) forecast_opt_number(jb, "reselect_days", WARM_DEFAULT_RESELECT_DAYS, 0, 36600, true,
										 "Days between choices of a series' base form, e.g. 7 (0 chooses at every refit).");
	prev = warm_start_load(jb);
	if (prev == NULL)
		return;
	mv = model_open(prev, MODEL_KIND_ANY);
	if (mv->kind != MODEL_KIND_LSTM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.warm_start: the model named is not a forecast_lstm_fit model"),
				 errhint("An LSTM refit keeps the base forms of an earlier LSTM model of the same series.")));
	/* a model without recorded forms (older, or without the ETS base) starts cold */
	if (strcmp(model_get_text(mv, MODEL_PARAMS, "base"), "ets") != 0 ||
		model_get_int(mv, MODEL_PARAMS, "season") != panel->season ||
		model_find(mv, MODEL_DATA, "base_form") == NULL)
		return;
	keys = model_get_text_array(mv, MODEL_DATA, "series", &np);
	dims[0] = np;
	dims[1] = 4;
	form = model_get_int_array(mv, MODEL_DATA, "base_form", 2, dims);
	selected = model_get_int_array(mv, MODEL_DATA, "base_selected", 1, dims);
	for (int k = 0; k < np; k++)
	{
		const int64 *f = form + (Size) k * 4;

		if (k > 0 && strcmp(keys[k - 1], keys[k]) >= 0)
			model_corrupt(mv, "The series keys are not sorted.");
		if (f[0] < 0 && (f[1] >= 0 || f[2] >= 0 || f[3] >= 0))
			model_corrupt(mv, "A base form is partly chosen.");
		if (f[0] >= 0 && !((f[0] == ETS_ADD || f[0] == ETS_MULT) &&
						   (f[1] == ETS_NONE || f[1] == ETS_ADD) &&
						   (f[2] == ETS_NONE || f[2] == ETS_ADD || f[2] == ETS_MULT) &&
						   (f[3] == 0 || (f[3] == 1 && f[1] == ETS_ADD))))
			model_corrupt(mv, "A base form is not a form of ETS.");
		if (selected[k] < -2451545 || selected[k] > 100000000)
			model_corrupt(mv, "A base selection date is out of range.");
	}
	/* both sorted by key: one merge */
	for (int i = 0; i < ns && j < np; i++)
	{
		int			c = 1;

		while (j < np && (c = strcmp(keys[j], panel->series[i].key)) < 0)
			j++;
		if (j >= np || c != 0 || form[(Size) j * 4] < 0)
			continue;
		if ((int64) cfg->base_selected[i] - selected[j] >= reselect)
			continue;
		for (int k = 0; k < 4; k++)
			cfg->base_form[(Size) i * 4 + k] = (int8) form[(Size) j * 4 + k];
		cfg->base_selected[i] = (int32) selected[j];
	}
}

/*
 * The window choice and the training, reported as forecast_fit's fits are: a row of
 * retailiq.forecast_progress while it runs (its series counted as their ETS bases are
 * fitted: twice each with a validation tail, the held-out pass and the whole history; the
 * networks, whose cost does not grow with the series, come after the last base), and the
 * session's run totals (the scheduler's run record), a failed fit's too.
 */
static LstmTrained *
train_tracked(ForecastPanel *panel, LstmConfig *cfg, bool window_given, int wmin)
{
	int			ns = panel->nseries;
	int			units = cfg->ets_base && cfg->validation > 0 ? 2 : 1;
	int			slot = forecast_progress_begin_units("lstm", ns, units);
	volatile bool trained = false;
	LstmTrained *t = NULL;
	instr_time	t0;
	int64		warm = 0;

	/* a warm refit: the series whose bases keep their previous form (plan_base_forms) */
	for (int i = 0; cfg->base_form != NULL && i < ns; i++)
		warm += cfg->base_form[(Size) i * 4] >= 0;
	INSTR_TIME_SET_CURRENT(t0);
	(void) lstm_parallel_track(slot);
	PG_TRY();
	{
		if (!window_given && cfg->validation > 0)
			cfg->window = choose_window(panel, cfg, wmin);
		t = lstm_train(panel, cfg);
		trained = true;
	}
	PG_FINALLY();
	{
		ForecastRunTotals one;
		instr_time	now;
		int64		done = forecast_progress_done(slot);

		memset(&one, 0, sizeof(one));
		one.workers = lstm_parallel_track(-1);
		forecast_progress_end(slot);
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, t0);
		one.fits = 1;
		one.series_total = ns;
		one.series_done = trained ? ns : Max(done, 0);
		one.series_warm = warm;
		one.seconds = INSTR_TIME_GET_DOUBLE(now);
		forecast_run_totals_add(&one);
	}
	PG_END_TRY();
	return t;
}

Datum
forecast_lstm_fit_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *state;
	Jsonb	   *jb;
	SeriesOptions sopt;
	ForecastPanel *panel;
	LstmConfig	cfg;
	LstmTrained *t;
	ModelBuilder *b;
	int			wmin;
	bool		window_given;

	(void) riq_agg_context(fcinfo, "forecast_lstm_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesCollector *) PG_GETARG_POINTER(0);
	if (series_collect_rows(state) == 0)
		PG_RETURN_NULL();
	jb = fit_options(state, &sopt);

	panel = series_collect_finish(state, &sopt);
	if (panel == NULL || panel->nseries == 0)
		PG_RETURN_NULL();

	memset(&cfg, 0, sizeof(cfg));
	lstm_options_horizon(jb, panel->freq, &cfg);
	window_given = lstm_options_window(jb, panel->freq, &cfg);
	wmin = Max(2, panel->season / 2);
	fit_window_to_series(panel, &cfg, window_given, wmin);
	lstm_options_training(jb, &sopt, &cfg);
	if (cfg.ets_base)
		plan_base_forms(jb, panel, &cfg);
	t = train_tracked(panel, &cfg, window_given, wmin);

	b = model_begin(MODEL_KIND_LSTM);
	lstm_model_put(b, t, &cfg, panel);
	PG_RETURN_BYTEA_P(model_finish(b));
}
