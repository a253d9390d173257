/*
 * regression.h: the dynamic regression forecaster shared by regression_fit.c (the
 * estimation: a panel to per-series coefficients, pooled with shrinkage) and
 * regression_sql.c (the aggregate, the model value and the predict functions).
 *
 * Per series i, on the scale z = log(1 + y) or z = y:
 *
 *   z_t = c_i + f(date_t)' g_i + x_t' b_i + u_t,      u_t = phi_i u_{t-1} + e_t,  e_t ~ N(0, s_i^2)
 *
 * c_i a level of its own, f the Fourier terms of the season in calendar time, x the
 * caller's factors, u AR(1) errors (phi_i estimated per series, 0 allowed) that carry a
 * departure from the level into the first forecast periods. The pooled coefficients
 * (g_i, b_i) have a normal prior N(mean, diag(tau^2)) whose mean and variances are
 * estimated from all series at once (empirical Bayes, EM): each series' coefficients are
 * its posterior means, shrunk toward the pooled ones as far as its own data are weak.
 */
#ifndef RETAILIQ_FORECAST_REGRESSION_H
#define RETAILIQ_FORECAST_REGRESSION_H

#include "postgres.h"

#include "forecast/series.h"

#define REG_MAX_EXOG      100	/* factors a model may take */
#define REG_MAX_HARMONICS 10	/* Fourier pairs of the season */
#define REG_MAX_PHI       0.98	/* AR(1) coefficient bound: stationary errors */
#define REG_MAX_PAIRS_EXOG 13	/* factors whose products (E (E - 1) / 2, with the factors
								 * at most REG_MAX_EXOG terms) a model may take */
#define REG_AUTO_PAIRS_EXOG 6	/* factors whose products validation offers unasked (at most
								 * 15 more terms: the normal equations grow as the square) */

typedef enum RegPooling
{
	REG_POOL_SHRINK = 0,		/* empirical Bayes: per series, shrunk toward the pool */
	REG_POOL_NONE = 1,			/* per series alone (ordinary least squares) */
	REG_POOL_FULL = 2			/* one set of coefficients for every series */
} RegPooling;

/* One candidate form of the model; validation chooses among them. */
typedef struct RegConfig
{
	bool		log_scale;		/* z = log(1 + y) */
	bool		median;			/* log scale: the point forecast is the median exp(mu) - 1, else the mean */
	int			harmonics;		/* Fourier pairs of the season (0 = none) */
	bool		ar;				/* AR(1) errors */
	RegPooling	pooling;
	double		halflife;		/* observation weights halve every halflife periods back (0 = equal) */
	bool		robust;			/* Huber weights: outlying periods count less */
	bool		lags;			/* each factor also one period earlier (the dip after a promotion) */
	bool		pairs;			/* the products of every two factors are terms too (a promotion
								 * changes the response to price) */
} RegConfig;

/* What every series shares: the calendar of the Fourier terms and the factor width. */
typedef struct RegLayout
{
	ForecastFreq freq;
	double		period;			/* the season in periods (weekly: 365.25 / 7); 0 = none */
	int			harmonics;
	int			n_exog;
	int			ncoef;			/* pooled coefficients: 2 * harmonics + n_exog */
} RegLayout;

/* A fitted panel: row i of coef is (c_i, g_i, b_i). */
typedef struct RegFit
{
	RegLayout	layout;
	RegConfig	config;
	int			nseries;
	double	   *coef;			/* nseries x (1 + ncoef) */
	double	   *phi;			/* nseries */
	double	   *sigma2;			/* nseries: innovation variance on the z scale */
	double	   *resid;			/* nseries: u at the last period fitted */
	int		   *nobs;			/* nseries: periods fitted (0 = the series was left out) */
	double	   *pooled;			/* ncoef: the prior mean */
	double	   *tau;			/* ncoef: the prior standard deviation (NaN: no pooling) */
	double	   *shrink;			/* ncoef: the prior's mean share of each series' precision */
	int			em_iterations;
} RegFit;

/* The calendar position of a date (periods since 2000-01-01, months for monthly data). */
extern double reg_position(ForecastFreq freq, DateADT d);

/* The Fourier terms of position pos: 2 * harmonics values (cos k, sin k, k = 1..). */
extern void reg_fourier(const RegLayout *L, double pos, double *out);

/*
 * Fit every series of the panel without its last `holdout` periods (0 = all of them);
 * series left with fewer than 2 periods are left out (nobs 0). Memory in the current
 * context, charged to retailiq.max_memory.
 */
extern RegFit *reg_fit(const ForecastPanel *panel, const RegLayout *L, const RegConfig *cfg,
					   int holdout, bool verbose);

/*
 * Forecast h periods of one fitted series on the z scale: the mean mu and the variance
 * var of each period, from the factors x (h x n_exog), the position of the first forecast
 * period and the fit (intercept + terms, phi, sigma2, resid).
 */
extern void reg_forecast_z(const RegLayout *L, const double *coef, double phi, double sigma2,
						   double resid, double pos0, int h, const double *x,
						   double *mu, double *var);

/*
 * From the z scale back to sales: the point forecast (on the log scale the median, or the
 * bias-corrected mean) and the central interval; false when they are not finite numbers (a
 * log-scale forecast beyond exp's range).
 */
extern bool reg_back(bool log_scale, bool median, double mu, double var, double zq, double calib,
					 bool nonnegative, double *yhat, double *lo, double *hi);

#endif							/* RETAILIQ_FORECAST_REGRESSION_H */
