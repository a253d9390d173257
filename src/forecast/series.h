/*
 * series.h: the panel of sales series every forecasting method trains on.
 *
 * A forecasting aggregate (forecast_fit, forecast_lstm_fit, ...) feeds its rows
 * (series key, date, value, optional factors) to a SeriesCollector; the final function turns
 * the rows into a ForecastPanel: one regular series per key, sorted by key, dates checked and
 * gaps handled, the frequency inferred from the dates. Predict functions use the same
 * frequency helpers to lay out future dates. One implementation, shared by the statistical
 * baselines and the LSTM, so every method sees the same data the same way: the collector
 * (series_collect.c, its rows in the core row store), the panel (series_panel.c), the
 * options (series_options.c) and the calendar (series_dates.c).
 *
 * The collector is a parallel-safe aggregate state: the SQL objects
 * retailiq_internal.forecast_collect_combine / _serialize / _deserialize (series_collect.c)
 * serve every forecasting aggregate.
 */
#ifndef RETAILIQ_FORECAST_SERIES_H
#define RETAILIQ_FORECAST_SERIES_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/date.h"
#include "utils/jsonb.h"

#include "core/options.h"

/* Spacing of a series' dates; the value is the nominal length in days. */
typedef enum ForecastFreq
{
	FREQ_DAY = 1,
	FREQ_WEEK = 7,
	FREQ_MONTH = 30				/* calendar months: every date on the same day of month */
} ForecastFreq;

/* What to do with a missing period inside a series (between its first and last date). */
typedef enum SeriesGapPolicy
{
	GAPS_ZERO,					/* no row = no sales: value 0, factors 0 (the default) */
	GAPS_ERROR					/* refuse, naming the series and the first missing date */
} SeriesGapPolicy;

typedef struct SeriesOptions
{
	SeriesGapPolicy gaps;
	bool		allow_negative; /* returns may make sales negative; off by default */
	int			min_length;		/* fewer observations than this is an error (>= 1) */
	bool		sum_duplicates; /* "duplicates": "sum": rows of one series and date add up
								 * (factors averaged); else two such rows are an error */
} SeriesOptions;

typedef struct ForecastSeries
{
	char	   *key;			/* the series name as given */
	DateADT		start;			/* date of y[0] */
	int			n;				/* observations after gap handling */
	double	   *y;				/* n values */
	double	   *exog;			/* n * n_exog factors, row-major (period t at exog + t * n_exog); NULL if none */
	int			n_filled;		/* periods filled by the gap policy */
} ForecastSeries;

typedef struct ForecastPanel
{
	ForecastFreq freq;
	int			season;			/* seasonal period: 7 daily, 52 weekly, 12 monthly */
	int			n_exog;			/* factor width, 0 when no factors were given */
	int			nseries;
	ForecastSeries *series;		/* sorted by key (byte order), keys unique */
} ForecastPanel;

typedef struct SeriesCollector SeriesCollector;

/*
 * Add one row. state NULL starts a collector in the aggregate context. exog may be NULL
 * (no factors); once a row had factors every row must have the same width (error naming
 * the argument otherwise). NULL series/ts/y and non-finite values are refused with an
 * ERROR that names the argument. Memory is charged to retailiq.max_memory.
 */
extern SeriesCollector *series_collect_add(FunctionCallInfo fcinfo, SeriesCollector *state,
										   text *series, DateADT ts, double y, ArrayType *exog);

/*
 * The usual transition step: args 0..3 are (state internal, series text, ts date, y float8);
 * exog_argno is the float8[] factor argument (0 = the aggregate has none). NULL series, ts
 * or y are ERRORs (22004) naming the argument; so is a NULL exog after rows with factors.
 */
extern SeriesCollector *series_collect_sfunc(FunctionCallInfo fcinfo, int exog_argno);

/*
 * The transition step of a panel trainer (series text, ts date, y float8 [, exog float8[]
 * [, options jsonb]]), such as forecast_lstm_fit and forecast_regression_fit: NULL series,
 * ts or y are ERRORs (22004); the options (argument 5) travel with the rows. fname names the
 * transition function in the error for a call outside an aggregate.
 */
extern SeriesCollector *series_collect_panel_accum(FunctionCallInfo fcinfo, const char *fname);

/* An opaque per-aggregate options value (e.g. the jsonb text), kept with the rows and
 * carried through combine/serialize; the first non-NULL one wins, later ones must match. */
extern void series_collect_set_options(SeriesCollector *state, const char *options);
extern const char *series_collect_options(const SeriesCollector *state);
/* An opaque value kept with the rows, the first one given (forecast_fit_part's previous
 * model); not carried through combine/serialize (an aggregate using it has no combine). */
extern void series_collect_attach(SeriesCollector *state, bytea *value);
extern bytea *series_collect_attached(const SeriesCollector *state);

/*
 * The usual way to set them: the row's method (text argument method_argno, 0 = none) and
 * options (jsonb argument options_argno, may be NULL) as "method\noptions" text. Rows
 * with the same arguments as the previous row cost a byte comparison, no text.
 */
extern void series_collect_options_from_args(SeriesCollector *state, FunctionCallInfo fcinfo,
											 int method_argno, int options_argno);

/* Number of rows collected so far (0 for NULL). */
extern int64 series_collect_rows(const SeriesCollector *state);

/*
 * Sort, check and build the panel: duplicate (series, date) rows, dates that fit no single
 * frequency, too-short series, negative values (unless allowed) are ERRORs with a hint.
 * Returns NULL when no rows were collected.
 */
extern ForecastPanel *series_collect_finish(SeriesCollector *state, const SeriesOptions *opt);
/* the same with the frequency given (NULL: inferred), as the groups of a streamed fit need */
extern ForecastPanel *series_collect_finish_freq(SeriesCollector *state, const SeriesOptions *opt,
												 const ForecastFreq *freq);

/*
 * Streaming (forecast_fit): a plain aggregate's collector whose rows outgrow an eighth of
 * retailiq.max_memory moves them to SERIES_GROUPS temporary files, one per group of
 * series (a series' rows all in one group), and writes later rows straight to their
 * group's file; only the keys stay in memory. series_collect_stream (call it after each
 * row) decides; series_collect_groups is 0 for a collector in memory, else the number of
 * groups; series_collect_group reads group g back as a collector of its own in the current
 * memory context (NULL when the group has no row), and series_collect_groups_freq is the
 * frequency of all the rows, as series_collect_finish would infer it over all of them.
 */
#define SERIES_GROUPS 64
extern void series_collect_stream(FunctionCallInfo fcinfo, SeriesCollector *state);
extern int	series_collect_groups(const SeriesCollector *state);
extern int	series_collect_nseries(const SeriesCollector *state);	/* distinct keys */
extern SeriesCollector *series_collect_group(SeriesCollector *state, int g);
extern ForecastFreq series_collect_groups_freq(const SeriesCollector *state);

/* Parse the common options ("gaps": "zero"|"error", "allow_negative": bool,
 * "min_length": int) from a jsonb options value (NULL = defaults). Unknown keys are left
 * to the caller, which owns the rest of the options. */
/* the value of key in an options object; NULL when absent or JSON null: core/options.h */
#define series_option_value riq_option_value
/* a misspelt option is an error: keys (NULL-terminated) are fname's own, besides the collector's */
extern void series_check_option_keys(Jsonb *jb, const char *const *keys, const char *fname);
extern void series_options_from_jsonb(Jsonb *options, SeriesOptions *opt);

/* The date k periods after start (k may be negative). */
extern char *series_date_text(DateADT d);
extern void series_date_ymd(DateADT d, int *y, int *m, int *day);
extern int	series_days_in_month(int y, int m);
extern DateADT series_date_add(ForecastFreq freq, DateADT start, int k);

/* "day", "week", "month" and back; parse errors name the argument. */
extern const char *series_freq_name(ForecastFreq freq);
extern ForecastFreq series_freq_parse(const char *name, const char *argname);
/* a stored model's frequency (params.<key>, as series_freq_name writes it); else the model is corrupt */
struct ModelView;
extern ForecastFreq series_model_freq(const struct ModelView *mv, const char *key);
extern int	series_default_season(ForecastFreq freq);

/* Index of key in a model's series keys (sorted in byte order, as in a panel): binary
 * search; -1 if absent. */
extern int	series_key_index(char *const *keys, int n, const char *key);

#endif							/* RETAILIQ_FORECAST_SERIES_H */
