/*
 * lstm_sql.c: forecast_lstm as SQL: the forecast_lstm_fit aggregates (rows gathered by the
 * shared series collector, so partial aggregation in parallel workers works as for every
 * forecasting aggregate), the options, the model value, and the predict functions
 * forecast_lstm, forecast_lstm_all and forecast_lstm_series.
 *
 * The model keeps, besides the network weights, the last `window` values (and factors) of
 * every series, so that predicting needs nothing but the model and the future factors.
 * Horizons longer than the trained one are forecast recursively: the medians of the first
 * block become the inputs of the next.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/float.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/tuplestore.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/memory.h"
#include "core/model.h"
#include "forecast/lstm_train.h"
#include "forecast/method.h"
#include "forecast/series.h"

PG_FUNCTION_INFO_V1(forecast_lstm_fit_accum);
PG_FUNCTION_INFO_V1(forecast_lstm_fit_final);
PG_FUNCTION_INFO_V1(forecast_lstm);
PG_FUNCTION_INFO_V1(forecast_lstm_all);
PG_FUNCTION_INFO_V1(forecast_lstm_series);


static const char *const lstm_option_keys[] = {
	"window", "hidden", "layers", "epochs", "learning_rate", "horizon", "seed", "level",
	"quantiles", "validation", "ensemble", "batch_size", "windows_per_epoch", "patience",
	"refit", "verbose", "transform", "weighting", "base", NULL
};

/* A decoded model: the trained network and the tails of its series. */
typedef struct LstmModel
{
	LstmTrained net;
	int			nseries;
	char	  **keys;
	int64	   *last;			/* date of each series' last observation */
	double	   *tail;			/* nseries x window */
	double	   *tail_exog;		/* nseries x window x n_exog, NULL without factors */
	SeriesFit  *base;			/* each series' ETS base at its last period, or NULL */
	bool		nonnegative;
} LstmModel;

/*
 * The ETS base of each series is stored at its final state as one row: trend, season,
 * phi (1 when not damped), level, slope, then the season's states (s[0] the latest).
 */
#define BASE_FIXED 5

static int
base_state_width(int season)
{
	return season >= 2 && season <= ETS_MAX_SEASON ? season : 1;
}

/* ---------------------------------------------------------------- aggregate */

Datum
forecast_lstm_fit_accum(PG_FUNCTION_ARGS)
{
	SeriesCollector *state = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	ArrayType  *exog = NULL;

	(void) riq_agg_context(fcinfo, "forecast_lstm_fit_accum");
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(1) ? "series" : PG_ARGISNULL(2) ? "ts" : "y"),
				 errhint("Filter out the rows with NULLs, or COALESCE a missing sale to 0.")));
	if (PG_NARGS() > 4 && !PG_ARGISNULL(4))
		exog = PG_GETARG_ARRAYTYPE_P(4);
	state = series_collect_add(fcinfo, state, PG_GETARG_TEXT_PP(1), PG_GETARG_DATEADT(2),
							   PG_GETARG_FLOAT8(3), exog);
	series_collect_options_from_args(state, fcinfo, 0, 5);
	PG_RETURN_POINTER(state);
}

/* an option's value; a JSON null counts as absent (the default, as everywhere) */
static bool
opt_get(Jsonb *jb, const char *key, JsonbValue *v)
{
	JsonbValue *found = series_option_value(jb, key);

	if (found == NULL)
		return false;
	*v = *found;
	return true;
}

static double
opt_number(Jsonb *jb, const char *key, double dflt, double lo, double hi)
{
	JsonbValue	v;
	double		d;

	if (!opt_get(jb, key, &v))
		return dflt;
	if (v.type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be a number", key)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!(d >= lo && d <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s is out of range", key),
				 errdetail("It is %g; it must be between %g and %g.", d, lo, hi)));
	return d;
}

static int
opt_int(Jsonb *jb, const char *key, int dflt, int lo, int hi)
{
	double		d = opt_number(jb, key, dflt, lo, hi);

	if (d != floor(d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be an integer", key),
				 errdetail("It is %g.", d)));
	return (int) d;
}

static bool
opt_bool(Jsonb *jb, const char *key, bool dflt)
{
	JsonbValue	v;

	if (!opt_get(jb, key, &v))
		return dflt;
	if (v.type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s must be true or false", key)));
	return v.val.boolean;
}

/* a text option with two allowed values; true for the first */
static bool
opt_text_choice(Jsonb *jb, const char *key, const char *dflt, const char *yes, const char *no)
{
	JsonbValue	v;
	char	   *s;

	if (!opt_get(jb, key, &v))
		return strcmp(dflt, yes) == 0;
	if (v.type == jbvString)
	{
		s = pnstrdup(v.val.string.val, v.val.string.len);
		if (strcmp(s, yes) == 0)
			return true;
		if (strcmp(s, no) == 0)
			return false;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("options.%s must be \"%s\" or \"%s\"", key, yes, no),
			 errhint("Leave \"%s\" out for the default, \"%s\".", key, dflt)));
	return false;
}

static int
default_horizon(ForecastFreq freq)
{
	return freq == FREQ_DAY ? 28 : freq == FREQ_WEEK ? 13 : 12;
}

static int
default_window(ForecastFreq freq)
{
	return freq == FREQ_DAY ? 28 : freq == FREQ_WEEK ? 52 : 24;
}

static void
put_model(ModelBuilder *b, const LstmTrained *t, const LstmConfig *cfg, const ForecastPanel *panel)
{
	const LstmLayout *L = &t->layout;
	int			W = L->window,
				E = L->n_exog,
				ns = panel->nseries;
	int			dims[2];
	const char **keys = palloc(sizeof(char *) * ns);
	int64	   *last = palloc(sizeof(int64) * ns);
	int64	   *len = palloc(sizeof(int64) * ns);
	double	   *tail = palloc(sizeof(double) * (Size) ns * W);
	double	   *tex = E > 0 ? palloc(sizeof(double) * (Size) ns * W * E) : NULL;

	model_put_text(b, MODEL_PARAMS, "freq", series_freq_name(L->freq));
	model_put_int(b, MODEL_PARAMS, "season", L->season);
	model_put_int(b, MODEL_PARAMS, "window", W);
	model_put_int(b, MODEL_PARAMS, "horizon", L->horizon);
	model_put_int(b, MODEL_PARAMS, "n_exog", E);
	model_put_int(b, MODEL_PARAMS, "hidden", t->shape.hidden);
	model_put_int(b, MODEL_PARAMS, "layers", t->shape.layers);
	model_put_int(b, MODEL_PARAMS, "ensemble", t->nmodels);
	model_put_int(b, MODEL_PARAMS, "seed", cfg->seed);
	model_put_float(b, MODEL_PARAMS, "learning_rate", cfg->learning_rate);
	model_put_int(b, MODEL_PARAMS, "max_epochs", cfg->max_epochs);
	model_put_int(b, MODEL_PARAMS, "validation", cfg->validation);
	model_put_int(b, MODEL_PARAMS, "batch_size", cfg->batch_size);
	model_put_int(b, MODEL_PARAMS, "windows_per_epoch", cfg->windows_per_epoch);
	model_put_int(b, MODEL_PARAMS, "patience", cfg->patience);
	model_put_bool(b, MODEL_PARAMS, "refit", cfg->refit);
	model_put_bool(b, MODEL_PARAMS, "nonnegative", cfg->nonnegative);
	model_put_text(b, MODEL_PARAMS, "transform", t->layout.log_space ? "log" : "none");
	model_put_text(b, MODEL_PARAMS, "weighting", cfg->scale_weight ? "scale" : "equal");
	model_put_text(b, MODEL_PARAMS, "base", cfg->ets_base ? "ets" : "none");
	model_put_float(b, MODEL_PARAMS, "q_lo", t->q_lo);
	model_put_float(b, MODEL_PARAMS, "q_hi", t->q_hi);

	model_put_int(b, MODEL_METRICS, "series", ns);
	model_put_int(b, MODEL_METRICS, "epochs", t->epochs);
	if (!isnan(t->val_wape))
		model_put_float(b, MODEL_METRICS, "validation_wape", t->val_wape);
	if (!isnan(t->val_coverage))
		model_put_float(b, MODEL_METRICS, "validation_coverage", t->val_coverage);
	/* no training time here: the same rows and seed must give the same value */

	model_put_float(b, MODEL_DATA, "ls_mean", L->ls_mean);
	model_put_float(b, MODEL_DATA, "ls_sd", L->ls_sd);
	model_put_float(b, MODEL_DATA, "calib_lo", t->calib_lo);
	model_put_float(b, MODEL_DATA, "calib_hi", t->calib_hi);
	dims[0] = t->nmodels;
	dims[1] = t->nparams;
	model_put_float_array(b, MODEL_DATA, "weights", t->params, 2, dims);
	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		keys[i] = sr->key;
		last[i] = series_date_add(L->freq, sr->start, sr->n - 1);
		len[i] = sr->n;
		memcpy(tail + (Size) i * W, sr->y + sr->n - W, sizeof(double) * W);
		if (E > 0)
			memcpy(tex + (Size) i * W * E, sr->exog + (Size) (sr->n - W) * E,
				   sizeof(double) * W * E);
	}
	model_put_text_array(b, MODEL_DATA, "series", keys, ns);
	dims[0] = ns;
	model_put_int_array(b, MODEL_DATA, "last_date", last, 1, dims);
	model_put_int_array(b, MODEL_DATA, "length", len, 1, dims);
	dims[1] = W;
	model_put_float_array(b, MODEL_DATA, "tail", tail, 2, dims);
	if (E > 0)
	{
		dims[1] = W * E;
		model_put_float_array(b, MODEL_DATA, "tail_exog", tex, 2, dims);
	}
	if (t->base)
	{
		int			M = base_state_width(L->season);
		double	   *st = palloc0(sizeof(double) * (Size) ns * (BASE_FIXED + M));

		for (int i = 0; i < ns; i++)
		{
			const SeriesFit *f = &t->base[i];
			double	   *row = st + (Size) i * (BASE_FIXED + M);

			row[0] = f->trend;
			row[1] = f->season;
			row[2] = f->damped ? f->phi : 1.0;
			row[3] = f->level;
			row[4] = f->slope;
			for (int k = 0; k < M && f->season != ETS_NONE; k++)
				row[BASE_FIXED + k] = f->s[k];
		}
		dims[1] = BASE_FIXED + M;
		model_put_float_array(b, MODEL_DATA, "base_state", st, 2, dims);
	}
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
 * validation WAPE wins (the default on ties). The ETS bases are fitted once for all.
 */
static int
choose_window(const ForecastPanel *panel, LstmConfig *cfg, int wmin)
{
	int			W0 = cfg->window;
	int			cand[3],
				ncand = 0,
				best = W0,
				shortest = INT_MAX;
	double		best_wape = get_float8_infinity();
	LstmConfig	trial = *cfg;

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
		cfg->base_init = lstm_fit_bases(panel, cfg->validation, cfg->verbose);
	trial.base_init = cfg->base_init;
	trial.refit = false;
	trial.ensemble = 1;
	for (int i = 0; i < ncand; i++)
	{
		LstmTrained *t;

		trial.window = cand[i];
		t = lstm_train(panel, &trial);
		ereport(cfg->verbose ? NOTICE : DEBUG1,
				(errmsg("forecast_lstm_fit: window %d: validation WAPE %.4f", cand[i], t->val_wape)));
		if (t->val_wape < best_wape)
		{
			best_wape = t->val_wape;
			best = cand[i];
		}
		pfree(t->params);
		if (t->base)
			pfree(t->base);
		pfree(t);
	}
	return best;
}

Datum
forecast_lstm_fit_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *state;
	const char *opttext;
	Jsonb	   *jb = NULL;
	SeriesOptions sopt;
	ForecastPanel *panel;
	LstmConfig	cfg;
	LstmTrained *t;
	ModelBuilder *b;
	int			shortest = INT_MAX,
				longest = 0,
				reserve,
				wmin;
	const char *short_key = NULL,
			   *long_key = NULL;
	bool		window_given;
	double		level;

	(void) riq_agg_context(fcinfo, "forecast_lstm_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (SeriesCollector *) PG_GETARG_POINTER(0);
	if (series_collect_rows(state) == 0)
		PG_RETURN_NULL();
	opttext = series_collect_options(state);
	if (opttext)
		jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(opttext)));
	series_check_option_keys(jb, lstm_option_keys, "forecast_lstm_fit");
	series_options_from_jsonb(jb, &sopt);

	panel = series_collect_finish(state, &sopt);
	if (panel == NULL || panel->nseries == 0)
		PG_RETURN_NULL();
	for (int i = 0; i < panel->nseries; i++)
		if (panel->series[i].n < shortest)
		{
			shortest = panel->series[i].n;
			short_key = panel->series[i].key;
		}

	memset(&cfg, 0, sizeof(cfg));
	cfg.horizon = opt_int(jb, "horizon", default_horizon(panel->freq), 1, FORECAST_MAX_HORIZON);
	cfg.validation = opt_int(jb, "validation", cfg.horizon, 0, FORECAST_MAX_HORIZON);
	cfg.validation = Min(cfg.validation, cfg.horizon);
	/*
	 * What the longest series must hold beyond one window: the validation tail and one
	 * training origin before it (the held-out forecasts calibrate the interval), or without
	 * validation the whole horizon after the window. The other series are padded (default
	 * window, with a NOTICE) or must hold a window and one target (explicit window).
	 */
	reserve = cfg.validation > 0 ? cfg.validation + 1 : cfg.horizon;
	for (int i = 0; i < panel->nseries; i++)
		if (panel->series[i].n > longest)
		{
			longest = panel->series[i].n;
			long_key = panel->series[i].key;
		}
	window_given = opt_get(jb, "window", &(JsonbValue) {0});
	cfg.window = opt_int(jb, "window", default_window(panel->freq), 1, 10000);
	wmin = Max(2, panel->season / 2);
	if (!window_given)
		/* the default window shrinks (down to half a season) to leave room for the tail */
		cfg.window = Max(Min(cfg.window, longest - reserve), wmin);
	if (window_given && shortest < cfg.window + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short for forecast_lstm_fit", short_key),
				 errdetail("It has %d periods; with a window of %d periods every series needs at least %d.",
						   shortest, cfg.window, cfg.window + 1),
				 errhint("Leave out the short series (e.g. HAVING count(*) > %d in a subquery), give a smaller \"window\", or leave \"window\" out (short series are then padded).",
						 cfg.window)));
	if (longest < cfg.window + reserve)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short for forecast_lstm_fit", long_key),
				 errdetail("It is the longest series with %d %ss; a window of %d %ss and %s need at least %d.",
						   longest, series_freq_name(panel->freq), cfg.window,
						   series_freq_name(panel->freq),
						   cfg.validation > 0 ? psprintf("a validation tail of %d with one training origin before it", cfg.validation) :
						   psprintf("a horizon of %d", cfg.horizon),
						   cfg.window + reserve),
				 errhint("Forecast short histories with retailiq.forecast_fit(..., 'auto'), which falls back to simpler methods, or lower \"horizon\", \"validation\" or \"window\".")));
	if (!window_given)
	{
		/*
		 * A series shorter than the window + 1 is padded at its start, so that a few new
		 * products do not cut the window of all the others: visibly.
		 */
		StringInfoData padded;
		int			npad = 0;
		const char *first = NULL;

		initStringInfo(&padded);
		for (int i = 0; i < panel->nseries; i++)
			if (panel->series[i].n < cfg.window + 1)
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
							cfg.window + 1, series_freq_name(panel->freq)),
					 errdetail("Padded series (periods): %s%s.", padded.data,
							   npad > 10 ? psprintf(" and %d more", npad - 10) : ""),
					 errhint("Their missing start repeats their first season; their forecasts lean on the other series. Forecast them with retailiq.forecast_fit(..., 'auto') if that is not wanted.")));
		pad_short_series(panel, cfg.window + 1);
	}
	cfg.hidden = opt_int(jb, "hidden", 32, 1, 1024);
	cfg.layers = opt_int(jb, "layers", 1, 1, LSTM_MAX_LAYERS);
	cfg.max_epochs = opt_int(jb, "epochs", 60, 1, 100000);
	cfg.learning_rate = opt_number(jb, "learning_rate", 0.003, 1e-7, 1.0);
	cfg.seed = opt_int(jb, "seed", 42, PG_INT32_MIN, PG_INT32_MAX);
	level = opt_number(jb, "level", 0.8, 0.01, 0.99);
	cfg.q_lo = (1.0 - level) / 2.0;
	cfg.q_hi = 1.0 - cfg.q_lo;
	{
		JsonbValue	v;

		if (opt_get(jb, "quantiles", &v))
		{
			JsonbValue *arr = &v;
			bool		bad = true;

			if (arr->type == jbvBinary && JsonContainerIsArray(arr->val.binary.data) &&
				JsonContainerSize(arr->val.binary.data) == 2)
			{
				JsonbValue *a = getIthJsonbValueFromContainer(arr->val.binary.data, 0);
				JsonbValue *z = getIthJsonbValueFromContainer(arr->val.binary.data, 1);

				if (a && z && a->type == jbvNumeric && z->type == jbvNumeric)
				{
					cfg.q_lo = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(a->val.numeric)));
					cfg.q_hi = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(z->val.numeric)));
					bad = !(cfg.q_lo > 0 && cfg.q_lo < 0.5 && cfg.q_hi > 0.5 && cfg.q_hi < 1);
				}
			}
			if (bad)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("options.quantiles must be two numbers [lower, upper] with 0 < lower < 0.5 < upper < 1"),
						 errhint("For example \"quantiles\": [0.1, 0.9] (or \"level\": 0.8).")));
		}
	}
	cfg.ensemble = opt_int(jb, "ensemble", 3, 1, 50);
	cfg.batch_size = opt_int(jb, "batch_size", 64, 1, 65536);
	cfg.windows_per_epoch = opt_int(jb, "windows_per_epoch", 4096, 1, PG_INT32_MAX);
	cfg.patience = opt_int(jb, "patience", 8, 1, 100000);
	cfg.refit = opt_bool(jb, "refit", true);
	cfg.verbose = opt_bool(jb, "verbose", false);
	cfg.nonnegative = !sopt.allow_negative;
	cfg.log_space = opt_text_choice(jb, "transform", "none", "log", "none") && !sopt.allow_negative;
	cfg.scale_weight = opt_text_choice(jb, "weighting", "equal", "scale", "equal");
	cfg.ets_base = opt_text_choice(jb, "base", "ets", "ets", "none");
	if (!window_given && cfg.validation > 0)
		cfg.window = choose_window(panel, &cfg, wmin);

	t = lstm_train(panel, &cfg);

	b = model_begin(MODEL_KIND_LSTM);
	put_model(b, t, &cfg, panel);
	PG_RETURN_BYTEA_P(model_finish(b));
}

/* ---------------------------------------------------------------- predicting */

static SeriesFit *
load_base_states(ModelView *mv, int n, int season)
{
	int			M = base_state_width(season);
	int			dims[2] = {n, BASE_FIXED + M};
	double	   *st = model_get_float_array(mv, MODEL_DATA, "base_state", 2, dims);
	SeriesFit  *base = palloc0(sizeof(SeriesFit) * n);

	for (int i = 0; i < n; i++)
	{
		const double *row = st + (Size) i * (BASE_FIXED + M);
		SeriesFit  *f = &base[i];

		for (int k = 0; k < BASE_FIXED + M; k++)
			if (!isfinite(row[k]))
				model_corrupt(mv, "An ETS base state is not finite.");
		if ((row[0] != ETS_NONE && row[0] != ETS_ADD) ||
			(row[1] != ETS_NONE && row[1] != ETS_ADD && row[1] != ETS_MULT) ||
			(row[1] != ETS_NONE && M < 2) || !(row[2] > 0 && row[2] <= 1))
			model_corrupt(mv, "An ETS base form is not valid.");
		f->method = FIT_ETS;
		f->trend = (int) row[0];
		f->season = (int) row[1];
		f->damped = row[2] < 1;
		f->phi = row[2];
		f->level = row[3];
		f->slope = row[4];
		f->m = f->season != ETS_NONE ? M : 1;
		for (int k = 0; k < M && f->season != ETS_NONE; k++)
			f->s[k] = row[BASE_FIXED + k];
	}
	return base;
}

static LstmModel *
load_model(FunctionCallInfo fcinfo)
{
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_LSTM);
	LstmModel  *m = palloc0(sizeof(LstmModel));
	LstmTrained *t = &m->net;
	LstmLayout *L = &t->layout;
	LstmShape  *S = &t->shape;
	char	   *freq;
	int			dims[2],
				n;

	freq = model_get_text(mv, MODEL_PARAMS, "freq");
	if (strcmp(freq, "day") == 0)
		L->freq = FREQ_DAY;
	else if (strcmp(freq, "week") == 0)
		L->freq = FREQ_WEEK;
	else if (strcmp(freq, "month") == 0)
		L->freq = FREQ_MONTH;
	else
		model_corrupt(mv, "The frequency \"%s\" is not day, week or month.", freq);
	L->season = (int) model_get_int(mv, MODEL_PARAMS, "season");
	L->window = (int) model_get_int(mv, MODEL_PARAMS, "window");
	L->horizon = (int) model_get_int(mv, MODEL_PARAMS, "horizon");
	L->n_exog = (int) model_get_int(mv, MODEL_PARAMS, "n_exog");
	S->hidden = (int) model_get_int(mv, MODEL_PARAMS, "hidden");
	S->layers = (int) model_get_int(mv, MODEL_PARAMS, "layers");
	t->nmodels = (int) model_get_int(mv, MODEL_PARAMS, "ensemble");
	m->nonnegative = model_get_bool(mv, MODEL_PARAMS, "nonnegative");
	{
		char	   *tr = model_get_text(mv, MODEL_PARAMS, "transform");

		if (strcmp(tr, "log") == 0)
			L->log_space = true;
		else if (strcmp(tr, "none") == 0)
			L->log_space = false;
		else
			model_corrupt(mv, "The transform \"%s\" is not log or none.", tr);
	}
	t->q_lo = model_get_float(mv, MODEL_PARAMS, "q_lo");
	t->q_hi = model_get_float(mv, MODEL_PARAMS, "q_hi");
	L->ls_mean = model_get_float(mv, MODEL_DATA, "ls_mean");
	L->ls_sd = model_get_float(mv, MODEL_DATA, "ls_sd");
	t->calib_lo = model_get_float(mv, MODEL_DATA, "calib_lo");
	t->calib_hi = model_get_float(mv, MODEL_DATA, "calib_hi");
	if (L->season < 1 || L->season > 1000 || L->window < 1 || L->window > 10000 ||
		L->horizon < 1 || L->horizon > FORECAST_MAX_HORIZON || L->n_exog < 0 || L->n_exog > 10000 ||
		S->hidden < 1 || S->hidden > 1024 || S->layers < 1 || S->layers > LSTM_MAX_LAYERS ||
		t->nmodels < 1 || t->nmodels > 50)
		model_corrupt(mv, "A size of the LSTM is out of range.");
	if (!(t->q_lo > 0 && t->q_lo < 0.5 && t->q_hi > 0.5 && t->q_hi < 1))
		model_corrupt(mv, "The interval quantiles %g and %g are not 0 < lower < 0.5 < upper < 1.",
					  t->q_lo, t->q_hi);
	if (!(isfinite(L->ls_mean) && L->ls_sd > 0 && isfinite(L->ls_sd) &&
		  t->calib_lo > 0 && isfinite(t->calib_lo) && t->calib_hi > 0 && isfinite(t->calib_hi)))
		model_corrupt(mv, "A scaling or calibration value is not a positive finite number.");
	L->cal_dim = lstm_cal_dim(L->freq);
	L->din = 2 + L->cal_dim + L->n_exog;
	{
		char	   *base = model_get_text(mv, MODEL_PARAMS, "base");

		if (strcmp(base, "ets") != 0 && strcmp(base, "none") != 0)
			model_corrupt(mv, "The base \"%s\" is not ets or none.", base);
		lstm_layout_finish(L, strcmp(base, "ets") == 0);
	}
	S->din = L->din;
	S->window = L->window;
	S->horizon = L->horizon;
	S->nq = LSTM_NQ;
	S->fdim = L->fdim;
	t->nparams = lstm_param_count(S);

	dims[0] = t->nmodels;
	dims[1] = t->nparams;
	t->params = model_get_float_array(mv, MODEL_DATA, "weights", 2, dims);
	for (Size i = 0; i < (Size) t->nmodels * t->nparams; i++)
		if (!isfinite(t->params[i]))
			model_corrupt(mv, "A network weight is not finite.");
	m->keys = model_get_text_array(mv, MODEL_DATA, "series", &n);
	m->nseries = n;
	for (int i = 1; i < n; i++)
		if (strcmp(m->keys[i - 1], m->keys[i]) >= 0)
			model_corrupt(mv, "The series keys are not sorted.");
	dims[0] = n;
	m->last = model_get_int_array(mv, MODEL_DATA, "last_date", 1, dims);
	for (int i = 0; i < n; i++)
		if (m->last[i] < -2451545 || m->last[i] > 100000000)
			model_corrupt(mv, "A last date is out of range.");
	dims[1] = L->window;
	m->tail = model_get_float_array(mv, MODEL_DATA, "tail", 2, dims);
	for (Size i = 0; i < (Size) n * L->window; i++)
		if (!isfinite(m->tail[i]))
			model_corrupt(mv, "A series value is not finite.");
	if (L->n_exog > 0)
	{
		dims[1] = L->window * L->n_exog;
		m->tail_exog = model_get_float_array(mv, MODEL_DATA, "tail_exog", 2, dims);
		for (Size i = 0; i < (Size) n * dims[1]; i++)
			if (!isfinite(m->tail_exog[i]))
				model_corrupt(mv, "A factor value is not finite.");
	}
	if (L->base_col >= 0)
		m->base = load_base_states(mv, n, L->season);
	return m;
}

/*
 * The future factors: a horizon x width array (forecast_lstm) or series x horizon x width
 * (forecast_lstm_all); NULL only for a model without factors. Returns NULL then.
 */
static double *
future_exog_values(FunctionCallInfo fcinfo, int argno, const LstmModel *m, int nseries,
				   int horizon, bool all)
{
	int			E = m->net.layout.n_exog;
	ArrayType  *a;
	int			ndim = all ? 3 : 2;
	int			expect[3];
	double	   *v;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
	{
		if (E > 0)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("future_exog must be given: the model was trained with %d factors", E),
					 errhint("Pass the factors of the forecast periods as a %s array.",
							 all ? "series x horizon x factors" : "horizon x factors")));
		return NULL;
	}
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (E == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("future_exog must be NULL: the model was trained without factors"),
				 errhint("Train with the exog argument of forecast_lstm_fit to use factors.")));
	if (all)
	{
		expect[0] = nseries;
		expect[1] = horizon;
		expect[2] = E;
	}
	else
	{
		expect[0] = horizon;
		expect[1] = E;
	}
	if (ARR_ELEMTYPE(a) != FLOAT8OID || ARR_NDIM(a) != ndim ||
		memcmp(ARR_DIMS(a), expect, sizeof(int) * ndim) != 0)
	{
		if (all)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("future_exog must be a %d x %d x %d array (series x horizon x factors)",
							nseries, horizon, E),
					 errhint("Give one row of %d factors per forecast period, one block per series in forecast_lstm_series() order.", E)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("future_exog must be a %d x %d array (horizon x factors)", horizon, E),
					 errhint("Give one row of %d factors per forecast period, e.g. ARRAY[[1, 0], [0, 0]].", E)));
	}
	if (ARR_HASNULL(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("future_exog must not contain NULLs")));
	v = (double *) ARR_DATA_PTR(a);
	for (Size i = 0; i < (Size) (all ? nseries : 1) * horizon * E; i++)
		if (!isfinite(v[i]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("future_exog must contain finite numbers only")));
	return v;
}

/*
 * Forecast the series which[0..ns) over h periods; fex is ns x h x E (or NULL).
 * yhat/lo/hi are ns x h.
 */
static void
lstm_forecast_many(const LstmModel *m, int ns, const int *which, int h, const double *fex,
				   double *yhat, double *lo, double *hi)
{
	const LstmTrained *t = &m->net;
	const LstmLayout *L = &t->layout;
	int			W = L->window,
				P = L->horizon,
				E = L->n_exog;
	int			len = W + h;
	int			maxb = Min(ns, 256);
	LstmWork   *w;
	double	   *ybuf,
			   *ebuf = NULL,
			   *x,
			   *f,
			   *scale,
			   *med,
			   *ql,
			   *qh;
	double	   *basefc = NULL;
	DateADT    *start;

	riq_memory_check(CurrentMemoryContext,
					 riq_mul_size(riq_mul_size(ns, (Size) len * (1 + E) + h + P + 4, "the forecast"),
								  sizeof(double), "the forecast"), "the forecast");
	w = lstm_work_alloc(&t->shape, maxb, CurrentMemoryContext);
	ybuf = palloc(sizeof(double) * (Size) ns * len);
	if (E > 0)
		ebuf = palloc(sizeof(double) * (Size) ns * len * E);
	start = palloc(sizeof(DateADT) * ns);
	for (int i = 0; i < ns; i++)
	{
		int			s = which[i];

		memcpy(ybuf + (Size) i * len, m->tail + (Size) s * W, sizeof(double) * W);
		if (E > 0)
		{
			memcpy(ebuf + (Size) i * len * E, m->tail_exog + (Size) s * W * E,
				   sizeof(double) * W * E);
			memcpy(ebuf + ((Size) i * len + W) * E, fex + (Size) i * h * E,
				   sizeof(double) * h * E);
		}
		start[i] = series_date_add(L->freq, (DateADT) m->last[s], -(W - 1));
	}
	if (m->base)
	{
		/* the base forecasts every block needs, all from the last period */
		basefc = palloc(sizeof(double) * (Size) ns * (h + P));
		for (int i = 0; i < ns; i++)
			ets_point(&m->base[which[i]], h + P, basefc + (Size) i * (h + P));
	}
	/* sized by the model's shape, which a hand-written model chooses: the budget decides */
	x = riq_alloc(CurrentMemoryContext,
				  riq_mul_size(riq_mul_size((Size) maxb * W, L->din, "the forecast inputs"),
							   sizeof(double), "the forecast inputs"), "the forecast inputs");
	f = riq_alloc(CurrentMemoryContext,
				  riq_mul_size(riq_mul_size((Size) maxb * P, L->fdim + LSTM_NQ, "the forecast inputs"),
							   sizeof(double), "the forecast inputs"), "the forecast inputs");
	scale = palloc(sizeof(double) * maxb);
	med = palloc(sizeof(double) * maxb * P);
	ql = palloc(sizeof(double) * maxb * P);
	qh = palloc(sizeof(double) * maxb * P);

	for (int pos = 0; pos < h; pos += P)
	{
		for (int b0 = 0; b0 < ns; b0 += maxb)
		{
			int			bn = Min(maxb, ns - b0);

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < bn; i++)
			{
				int			si = b0 + i;

				scale[i] = lstm_build_sample(L, ybuf + (Size) si * len,
											 E > 0 ? ebuf + (Size) si * len * E : NULL,
											 len, start[si], W - 1 + pos,
											 basefc ? basefc + (Size) si * (h + P) + pos : NULL,
											 x + (Size) i * W * L->din, f + (Size) i * P * L->fdim);
			}
			lstm_predict_scaled(t, w, bn, x, f, med, ql, qh);
			for (int i = 0; i < bn; i++)
			{
				int			si = b0 + i;

				for (int k = 0; k < P && pos + k < h; k++)
				{
					Size		at = (Size) si * h + pos + k;
					double		s = scale[i];
					double		md = lstm_from_space(L, med[i * P + k]) * s,
								l = lstm_from_space(L, ql[i * P + k]) * s,
								u = lstm_from_space(L, qh[i * P + k]) * s;

					/*
					 * Past the trained horizon each block's interval is conditional on
					 * the medians before it: widen it as if the blocks' errors added up
					 * independently (half-widths times the square root of the block).
					 */
					if (pos > 0)
					{
						double		grow = sqrt((double) (pos / P + 1));

						l = md - (md - l) * grow;
						u = md + (u - md) * grow;
					}
					if (m->nonnegative)
					{
						md = Max(md, 0.0);
						l = Max(l, 0.0);
						u = Max(u, 0.0);
					}
					yhat[at] = md;
					lo[at] = Min(l, md);
					hi[at] = Max(u, md);
					/* the median is the input of the next block */
					ybuf[(Size) si * len + W + pos + k] = md;
				}
			}
		}
	}
}

Datum
forecast_lstm(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LstmModel  *m;
	char	   *key;
	int32		horizon;
	int			s;
	double	   *fex,
			   *yhat,
			   *lo,
			   *hi;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL",
						PG_ARGISNULL(0) ? "model" : PG_ARGISNULL(1) ? "series" : "horizon")));
	horizon = PG_GETARG_INT32(2);
	forecast_check_horizon(horizon);
	m = load_model(fcinfo);
	key = text_to_cstring(PG_GETARG_TEXT_PP(1));
	s = series_key_index(m->keys, m->nseries, key);
	if (s < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is not in the model", key),
				 errhint("retailiq.forecast_lstm_series(model) lists the series the model was trained on.")));
	fex = future_exog_values(fcinfo, 3, m, 1, horizon, false);
	yhat = palloc(sizeof(double) * horizon);
	lo = palloc(sizeof(double) * horizon);
	hi = palloc(sizeof(double) * horizon);
	lstm_forecast_many(m, 1, &s, horizon, fex, yhat, lo, hi);

	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < horizon; k++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		values[0] = Int32GetDatum(k + 1);
		values[1] = DateADTGetDatum(series_date_add(m->net.layout.freq, (DateADT) m->last[s], k + 1));
		values[2] = Float8GetDatum(yhat[k]);
		values[3] = Float8GetDatum(lo[k]);
		values[4] = Float8GetDatum(hi[k]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

Datum
forecast_lstm_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	LstmModel  *m;
	int32		horizon;
	int		   *which;
	double	   *fex,
			   *yhat,
			   *lo,
			   *hi;
	int			ns;
	Size		cells;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "horizon")));
	horizon = PG_GETARG_INT32(1);
	forecast_check_horizon(horizon);
	m = load_model(fcinfo);
	ns = m->nseries;
	fex = future_exog_values(fcinfo, 2, m, ns, horizon, true);
	cells = riq_mul_size(ns, horizon, "the forecast");
	riq_memory_check(CurrentMemoryContext, riq_mul_size(cells, 3 * sizeof(double), "the forecast"),
					 "the forecast");
	which = palloc(sizeof(int) * ns);
	for (int i = 0; i < ns; i++)
		which[i] = i;
	yhat = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	lo = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	hi = MemoryContextAllocHuge(CurrentMemoryContext, cells * sizeof(double));
	lstm_forecast_many(m, ns, which, horizon, fex, yhat, lo, hi);

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < ns; i++)
	{
		Datum		key = CStringGetTextDatum(m->keys[i]);

		for (int k = 0; k < horizon; k++)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};
			Size		at = (Size) i * horizon + k;

			values[0] = key;
			values[1] = Int32GetDatum(k + 1);
			values[2] = DateADTGetDatum(series_date_add(m->net.layout.freq, (DateADT) m->last[i], k + 1));
			values[3] = Float8GetDatum(yhat[at]);
			values[4] = Float8GetDatum(lo[at]);
			values[5] = Float8GetDatum(hi[at]);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	PG_RETURN_NULL();
}

Datum
forecast_lstm_series(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ModelView  *mv = model_open_cached(fcinfo, 0, MODEL_KIND_LSTM);
	int			n;
	char	  **keys = model_get_text_array(mv, MODEL_DATA, "series", &n);

	TupleDesc	desc;
	MemoryContext old;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) || !(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	desc = CreateTemplateTupleDesc(1);
	TupleDescInitEntry(desc, (AttrNumber) 1, "series", TEXTOID, -1, 0);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = desc;
	MemoryContextSwitchTo(old);
	for (int i = 0; i < n; i++)
	{
		Datum		values[1];
		bool		nulls[1] = {false};

		values[0] = CStringGetTextDatum(keys[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}

/* ---------------------------------------------------------------- method table */

static Datum
lstm_predict(FunctionCallInfo fcinfo, bool all)
{
	return all ? forecast_lstm_all(fcinfo) : forecast_lstm(fcinfo);
}

const ForecastMethod lstm_method = {
	.name = "lstm",
	.kind = MODEL_KIND_LSTM,
	.scope = METHOD_GLOBAL,
	.factors = true,
	.intermittent = false,
	.requestable = true,
	.trainer = "forecast_lstm_fit",
	.description = "one LSTM over every series of the panel on an ETS base, with factors and calibrated intervals",
	.option_keys = lstm_option_keys,
	.predict = lstm_predict,
};
