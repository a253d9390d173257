/*
 * baselines.h: the statistical baselines (seasonal naive, ETS, Croston/SBA) behind
 * retailiq.forecast_fit, and the fitted-series record every local method of the method
 * table (method.h) fills. forecast_fit.c stores the records in the model and reads them back.
 */
#ifndef RETAILIQ_FORECAST_BASELINES_H
#define RETAILIQ_FORECAST_BASELINES_H

#include "postgres.h"

#include "core/rng.h"

/* per-series method codes, stored in the model: never renumber */
typedef enum FitMethod
{
	FIT_SNAIVE = 1,
	FIT_ETS = 2,
	FIT_CROSTON = 3,
	FIT_SBA = 4,
	FIT_MEAN = 5				/* too little data for anything else: the mean */
} FitMethod;

/* ETS component codes (Hyndman et al. 2008) */
#define ETS_NONE 0
#define ETS_ADD 1
#define ETS_MULT 2

#define ETS_MAX_SEASON 24		/* like R forecast::ets: longer seasons are not modelled */

/*
 * A fitted series. State layout as in Hyndman et al.: s[0] is the most recent seasonal
 * state, s[m - 1] the one that applies to the next period. For seasonal naive s holds the
 * last m observations (s[0] the latest); for Croston, level = demand size, trend = interval.
 */
typedef struct SeriesFit
{
	int			method;			/* FitMethod */
	int			error;			/* ETS_ADD / ETS_MULT */
	int			trend;			/* ETS_NONE / ETS_ADD */
	int			season;			/* ETS_NONE / ETS_ADD / ETS_MULT */
	bool		damped;
	int			m;				/* seasonal period used (1 = none) */
	double		alpha,
				beta,
				gamma,
				phi;
	double		sigma2;			/* innovation variance (relative for multiplicative error) */
	double		level,
				slope;
	double		s[Max(ETS_MAX_SEASON, 64)];	/* up to 52 for weekly seasonal naive */
	double		loglik;			/* R forecast's convention: -0.5 * (n log SSE [+ 2 sum log|mu|]) */
	double		aicc;
	double		mse;			/* in-sample one-step mean squared error */
	int			np;				/* estimated parameters incl. initial states */
	int			n;				/* observations fitted */
	/* ETS: the estimated state before the first observation (ets_restart) */
	double		init_level,
				init_slope;
	double		init_s[ETS_MAX_SEASON];
} SeriesFit;

#define FIT_MAX_M 64

typedef struct EtsOptions
{
	bool		allow_mult;		/* multiplicative error/season (positive data only) */
	bool		allow_damped;
	bool		allow_season;
	int			maxit;			/* Nelder-Mead evaluations per model */
	/* a fixed form (all >= 0) instead of the AICc search; -1 = search */
	int			error,
				trend,
				season,
				damped;
} EtsOptions;

/* seasonal naive: m = season (1 = naive) */
extern void snaive_fit(const double *y, int n, int m, SeriesFit *fit);

/* automatic ETS by AICc, or the one form opt fixes; false if no form could be fitted */
extern bool ets_fit(const double *y, int n, int m, const EtsOptions *opt, SeriesFit *fit);
extern void ets_default_options(EtsOptions *opt);
/* an ets_model string ("ZZZ", "MAdM", ...) into opt's form fields; errors name options.ets_model */
extern void ets_parse_model(const char *s, EtsOptions *opt);

/* Croston (sba = false) or Syntetos-Boylan approximation; alpha <= 0 chooses it by MSE */
extern void croston_fit(const double *y, int n, double alpha, bool sba, SeriesFit *fit);

/* mean of the series (the fallback for very short series) */
extern void mean_fit(const double *y, int n, SeriesFit *fit);

/*
 * Point forecasts and a central prediction interval of coverage `level` for steps 1..h,
 * by the method that fitted fit (methods.c, through the method table). Non-negative data
 * (nonneg) clips the forecast and the interval at 0.
 */
extern void fit_forecast(const SeriesFit *fit, int h, double level, bool nonneg,
						 RiqRng *rng, double *yhat, double *lo, double *hi);

/* ETS pieces used by its entry of the method table (ets_method.c) */
extern void ets_point(const SeriesFit *fit, int h, double *yhat);
extern void ets_class1_variance(const SeriesFit *fit, int h, double *var);
extern void ets_simulate_interval(const SeriesFit *fit, int h, double level, RiqRng *rng,
								  int npaths, double *lo, double *hi);

/* ETS: put the state back to the initial one, to filter the series again from its start */
extern void ets_restart(SeriesFit *fit);

/* ETS one-step filter over y from an initial state; returns the R-style -2 log-likelihood
 * term (n log SSE [+ 2 sum log|mu|]) and leaves the final state in fit (exposed for tests) */
extern double ets_filter(const double *y, int n, SeriesFit *fit, double *sse);

#endif
