/*
 * method.h: the forecasting method table. Every method retailiq can forecast with is one
 * ForecastMethod entry: what it is (name, local or global, which inputs it takes), how its
 * options are read, how it fits one series, how it forecasts from what it fitted, and how
 * a stored fit is checked when a model value is read back. methods.c holds the registry
 * (the list in method_list.h) and the one dispatch behind retailiq.forecast,
 * retailiq.forecast_all and the view retailiq.forecast_methods.
 *
 * Adding a method: write one file that defines `const ForecastMethod <name>_method` and
 * add one line FORECAST_METHOD(<name>_method) to method_list.h. Nothing else names it.
 *
 * A local method's fit is a SeriesFit (baselines.h): the record a forecast_fit model
 * stores per series (a method code, five form codes, seven parameters, up to 64 seasonal
 * states). Each method says what its fields mean, and checks them when a model is read.
 * A method that needs more than one record per series (a combination keeps its components'
 * fits) says how many (`records`); it is then given that many consecutive records, the
 * first its own. The model stores every series with as many records as the method asked
 * for the most (unused ones have method code 0).
 */
#ifndef RETAILIQ_FORECAST_METHOD_H
#define RETAILIQ_FORECAST_METHOD_H

#include "postgres.h"
#include "fmgr.h"
#include "utils/jsonb.h"

#include "core/model.h"
#include "core/options.h"
#include "core/rng.h"
#include "forecast/baselines.h"
#include "forecast/series.h"

#define FORECAST_MAX_METHODS 24
#define FORECAST_MAX_RECORDS 26	/* SeriesFit records per series in a fit: combo's 7 and up to 19
									 * of stashed values (global_ar: 2 and 16) */
#define FORECAST_MAX_EVIDENCE 8	/* candidates a fit's validation evidence names */
#define FORECAST_METHOD_OPTS 64	/* bytes of typed options a method may keep */

/* One horizon limit for every predict function and every trainer that takes a horizon. */
#define FORECAST_MAX_HORIZON 10000

typedef union MethodOptions
{
	double		align;
	char		bytes[FORECAST_METHOD_OPTS];
} MethodOptions;

/*
 * The options of forecast_fit, typed: the ones every local method shares, and one block
 * per registered method (auto reads several). Parsed once per aggregate group.
 */
typedef struct ForecastOptions
{
	const struct ForecastMethod *method;	/* the method asked for */
	double		level;
	int			season;			/* 0 = from the frequency */
	int64		seed;
	int			validation;		/* 0 = the season */
	SeriesOptions series;
	bool		verbose;		/* progress NOTICEs */
	bool		short_error;	/* a series too short for the method: ERROR (else fall back) */
	MethodOptions per[FORECAST_MAX_METHODS];	/* by registry index */
} ForecastOptions;

typedef enum MethodScope
{
	METHOD_LOCAL,				/* one model per series (forecast_fit) */
	METHOD_GLOBAL				/* one model over the panel (its own trainer) */
} MethodScope;

typedef struct ForecastMethod
{
	const char *name;			/* as a user asks for it */
	int			code;			/* per-series code in forecast_fit models: never renumber; 0 = none */
	ModelKind	kind;			/* the kind of the model the method's trainer writes */
	MethodScope scope;
	bool		factors;		/* uses per-period factors (exog), itself or through with_factors */
	const char *with_factors;	/* the method that fits in its place when factors are given (NULL: itself) */
	bool		intermittent;	/* meant for series with many zero periods */
	bool		requestable;	/* a user may name it (the mean is only a fallback) */
	int			records;		/* local methods: SeriesFit records per series (0 = 1) */
	int			min_records;	/* the fewest a stored fit may have, when the layout grew (0 = records) */
	/* local methods: the records a fit at season m needs while it is fitted, when more than records (NULL = records) */
	int			(*records_for) (int m, const struct ForecastOptions *o);
	bool		pooled;			/* fitted over the panel (finish_panel): a warm start refits every series */
	const char *trainer;		/* the aggregate that fits it */
	const char *description;
	const char *const *option_keys; /* its own option keys (NULL-terminated) or NULL */

	/* typed options: read the method's keys of j (NULL = defaults) into opts */
	void		(*parse_options) (Jsonb *j, void *opts);
	/* local methods: the fewest periods y needs (0 = enough) */
	int			(*min_length) (const double *y, int n, int m, const ForecastOptions *o);
	/* what min_length asks beyond a number of periods, for the error (NULL = nothing) */
	const char *length_note;
	/* local methods: fit one series into fit[0 .. records - 1]; returns the validation error for auto, else NaN */
	double		(*fit) (const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit);
	/* local methods: point forecasts and a central interval of coverage level */
	void		(*forecast) (const SeriesFit *fit, int h, double level, RiqRng *rng,
							 double *yhat, double *lo, double *hi);
	/* local methods: NULL when a stored fit is one the method could produce, else why not */
	const char *(*check) (const SeriesFit *fit);
	/* local methods: which of alpha, beta, gamma, phi forecast_model_series shows (NULL = none) */
	void		(*shown) (const SeriesFit *fit, bool shown[4]);
	/*
	 * local methods: after every series of a forecast_fit call is fitted, what the method
	 * learns from the panel as a whole (fits: ns series of nrec records; NULL = nothing)
	 */
	void		(*finish_panel) (SeriesFit *fits, int ns, int nrec, const ForecastOptions *o);
	/*
	 * local methods: the candidates whose errors the fit measured on held-out periods
	 * (NULL-terminated, at most FORECAST_MAX_EVIDENCE; NULL = none), and each one's sum of
	 * absolute errors there (sae) with the held-out actuals' sum of absolute values (*say);
	 * false when the fit held nothing out. The model records them (validation_wape), model_info
	 * shows them.
	 */
	const char *const *evidence_names;
	bool		(*evidence) (const SeriesFit *fit, double *sae, double *say);
	/*
	 * local methods: what the panel's validation chose, into the model's metrics (NULL =
	 * nothing); model_info shows it and local_model.c checks it on read
	 */
	void		(*panel_evidence) (ModelBuilder *b, const SeriesFit *fits, int ns, int nrec);
	/*
	 * local methods with an interval calibrated on held-out periods: how many of the fit's
	 * held-out periods its uncalibrated interval held, how many the calibrated one holds, and
	 * how many there were (false: none; NULL = no calibration). The model records the pooled
	 * shares (validation_coverage, validation_coverage_calibrated).
	 */
	bool		(*coverage) (const SeriesFit *fit, double *inside, double *inside_calibrated,
							 double *count);
	/* local methods: the season forecast_model_series shows (NULL = the record's m) */
	int			(*season) (const SeriesFit *fit);
	/* local methods: the name forecast_model_series shows (buf has 16 bytes) */
	const char *(*label) (const SeriesFit *fit, char *buf);
	/* forecast(model, series, horizon, future_exog) / forecast_all(model, horizon, future_exog) */
	Datum		(*predict) (FunctionCallInfo fcinfo, bool all);
} ForecastMethod;

extern int	forecast_method_count(void);
extern const ForecastMethod *forecast_method_at(int i);
extern int	forecast_method_index(const ForecastMethod *m);
extern const ForecastMethod *forecast_method_by_name(const char *name);
extern const ForecastMethod *forecast_method_by_code(int code);
extern const ForecastMethod *forecast_method_by_kind(ModelKind kind);
/* the SeriesFit records per series method m writes (at least 1) */
extern int	forecast_method_records(const ForecastMethod *m);
/* the records per series a fit of o->method at season m is given (records_for, at least records) */
extern int	forecast_fit_records(const ForecastOptions *o, int m);
/* the fewest records a stored fit of method m may have (a model written before its layout grew) */
extern int	forecast_method_min_records(const ForecastMethod *m);

/* the method's own typed options block in o */
extern const void *forecast_method_options(const ForecastOptions *o, const ForecastMethod *m);

/* forecast_fit's options (fit_options.c): method and jsonb (NULL = defaults) */
extern void forecast_options_parse(const char *method, Jsonb *j, ForecastOptions *o);

/*
 * Reading one option, for every method's parser: core/options.h (the old names, which the
 * methods' parsers use).
 */
#define forecast_opt_number riq_option_number
#define forecast_opt_bool riq_option_bool

/* horizon must be between 1 and FORECAST_MAX_HORIZON (22023) */
extern void forecast_check_horizon(int64 horizon);

/*
 * The future factors a global method with factors predicts from (argument argno): horizon x
 * n_exog for one series, nseries x horizon x n_exog for forecast_all (series in the model's
 * order, retailiq.forecast_series); NULL for a model without factors. Missing (22004), given
 * to a model without factors (22023), of the wrong shape (2202E), with NULLs (22004) or
 * non-finite values (22023): an ERROR naming future_exog, with a hint. trainer names the
 * aggregate to train with factors.
 */
extern double *forecast_future_exog(FunctionCallInfo fcinfo, int argno, int n_exog, int nseries,
									int horizon, bool all, const char *trainer);

/* the rows of forecast_series, forecast_lstm_series, forecast_regression_series: the keys */
extern Datum forecast_emit_keys(FunctionCallInfo fcinfo, char *const *keys, int n);

/* every method's finish_panel over a forecast_fit panel's fits (ns series, nrec records each) */
extern void forecast_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o);

/* the records a combination (combo.c) is fitted in at season m: 'auto' gives series to it */
extern int	combo_records_for(int m, const ForecastOptions *o);

/* the local methods' predict (forecast_fit.c), shared by every local entry */
extern Datum forecast_local_predict(FunctionCallInfo fcinfo, bool all);

/* a flat forecast: value at every step, with the flat interval below */
extern void forecast_flat(const SeriesFit *fit, double value, int h, double level,
						  double *yhat, double *lo, double *hi);

/* the common interval of a method with a constant variance sigma2 (Croston, the mean) */
extern void forecast_flat_interval(const SeriesFit *fit, int h, double level, const double *yhat,
								   double *lo, double *hi);

#endif							/* RETAILIQ_FORECAST_METHOD_H */
