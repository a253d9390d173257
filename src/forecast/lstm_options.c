/*
 * lstm_options.c: the JSON options of forecast_lstm_fit (doc/forecast-lstm.md lists them),
 * each checked against its range and read into an LstmConfig. A JSON null counts as
 * absent (the default), as for every forecasting option.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "forecast/lstm_options.h"
#include "forecast/method.h"

const char *const lstm_option_keys[] = {
	"window", "hidden", "layers", "epochs", "learning_rate", "horizon", "seed", "level",
	"quantiles", "validation", "ensemble", "batch_size", "windows_per_epoch", "patience",
	"refit", "verbose", "transform", "weighting", "base", "warm_start", "reselect_days",
	"validation_series", NULL
};

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
				 errmsg("options.%s must be a number", key),
				 errhint("Give a number between %.15g and %.15g, or leave \"%s\" out for its default.", lo, hi, key)));
	d = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(v.val.numeric)));
	if (!(d >= lo && d <= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.%s is out of range", key),
				 errdetail("It is %g; it must be between %.15g and %.15g.", d, lo, hi),
				 errhint("Leave \"%s\" out for its default (doc/forecast-lstm.md lists the options).", key)));
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
				 errdetail("It is %g.", d),
				 errhint("Give a whole number, or leave \"%s\" out for its default.", key)));
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

/* "level", or "quantiles" [lower, upper] which wins over it */
static void
read_quantiles(Jsonb *jb, LstmConfig *cfg)
{
	double		level;
	JsonbValue	v;

	level = opt_number(jb, "level", 0.8, 0.01, 0.99);
	cfg->q_lo = (1.0 - level) / 2.0;
	cfg->q_hi = 1.0 - cfg->q_lo;
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
				cfg->q_lo = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(a->val.numeric)));
				cfg->q_hi = DatumGetFloat8(DirectFunctionCall1(numeric_float8, NumericGetDatum(z->val.numeric)));
				bad = !(cfg->q_lo > 0 && cfg->q_lo < 0.5 && cfg->q_hi > 0.5 && cfg->q_hi < 1);
			}
		}
		if (bad)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.quantiles must be two numbers [lower, upper] with 0 < lower < 0.5 < upper < 1"),
					 errhint("For example \"quantiles\": [0.1, 0.9] (or \"level\": 0.8).")));
	}
}

void
lstm_options_horizon(Jsonb *jb, ForecastFreq freq, LstmConfig *cfg)
{
	cfg->horizon = opt_int(jb, "horizon", default_horizon(freq), 1, FORECAST_MAX_HORIZON);
	cfg->validation = opt_int(jb, "validation", cfg->horizon, 0, FORECAST_MAX_HORIZON);
	cfg->validation = Min(cfg->validation, cfg->horizon);
}

bool
lstm_options_window(Jsonb *jb, ForecastFreq freq, LstmConfig *cfg)
{
	bool		given = opt_get(jb, "window", &(JsonbValue) {0});

	cfg->window = opt_int(jb, "window", default_window(freq), 1, 10000);
	return given;
}

void
lstm_options_training(Jsonb *jb, const SeriesOptions *sopt, LstmConfig *cfg)
{
	cfg->hidden = opt_int(jb, "hidden", 32, 1, 1024);
	cfg->layers = opt_int(jb, "layers", 1, 1, LSTM_MAX_LAYERS);
	cfg->max_epochs = opt_int(jb, "epochs", 60, 1, 100000);
	cfg->learning_rate = opt_number(jb, "learning_rate", 0.003, 1e-7, 1.0);
	cfg->seed = opt_int(jb, "seed", 42, PG_INT32_MIN, PG_INT32_MAX);
	read_quantiles(jb, cfg);
	cfg->ensemble = opt_int(jb, "ensemble", 3, 1, 50);
	cfg->batch_size = opt_int(jb, "batch_size", 64, 1, 65536);
	cfg->windows_per_epoch = opt_int(jb, "windows_per_epoch", 4096, 1, PG_INT32_MAX);
	cfg->patience = opt_int(jb, "patience", 8, 1, 100000);
	cfg->validation_series = opt_int(jb, "validation_series", LSTM_DEFAULT_VALIDATION_SERIES, 1,
									 PG_INT32_MAX);
	cfg->refit = opt_bool(jb, "refit", true);
	cfg->verbose = opt_bool(jb, "verbose", false);
	cfg->nonnegative = !sopt->allow_negative;
	cfg->log_space = opt_text_choice(jb, "transform", "none", "log", "none") && !sopt->allow_negative;
	cfg->scale_weight = opt_text_choice(jb, "weighting", "equal", "scale", "equal");
	cfg->ets_base = opt_text_choice(jb, "base", "ets", "ets", "none");
}
