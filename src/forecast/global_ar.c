/*
 * global_ar.c: 'global_ar', one autoregression fitted to every series of a panel at once
 * (a global model: Montero-Manso & Hyndman 2021, "Principles and algorithms for forecasting
 * groups of time series: locality and globality"). Retail panels share their seasonal
 * shape and their response to it; a model pooled over a few hundred series can afford
 * years of lags that no single series could estimate.
 *
 * The model: on the log scale (log1p, so that a period with no sales is 0; a negative value,
 * a return, counts as 0), each period's value less the level of the m periods before it
 * (m the season; 1 for non-seasonal data) is an OLS regression on an intercept and the
 * p values before it, less the same level. Training windows are each series' last `windows`
 * periods that have max(p, m) periods before them, pooled over every series of the call;
 * defaults: p four seasons (at least 8), windows ten seasons (at least 40), so monthly data
 * uses 48 lags over its last ten years. (The rule was chosen on the forecast benchmark's
 * development windows only: doc/forecast.md.) A ridge of 1e-6 of each diagonal entry (and
 * 1e-12 of their mean) keeps the normal equations solvable when lags are collinear, as
 * the first lag is with the level at a season of 1, without moving the coefficients by
 * more than that.
 *
 * Forecasts are recursive: each step's level is the mean of the m values before it
 * (forecasts included), its forecast the level plus the regression's; a series shorter than
 * max(p, m) is padded with its first value. The interval is the log-scale forecast plus or
 * minus the normal quantile times the square root of the pooled residual variance times
 * the sum of the squared impulse responses of the model (written as an AR(max(p, m)) in the
 * values); both ends, and the point (the median), are expm1 of the log scale.
 *
 * The fit stage is per series (fit_stage.h): each series' fit stashes its last values in
 * scratch records (method code 0, so they never reach the model), and the panel step
 * (global_ar_finish_panel), which sees every series in key order whether the series were
 * fitted in one backend, in parallel workers, in streamed groups or on Citus workers, pools
 * them, solves once and writes each series' forecast path. So the model does not depend
 * on how the fit was spread. A warm start refits every series (the pool changes with any
 * of them).
 *
 * In a forecast_fit model a series has two records: the path (the log-scale forecasts of
 * the next GAR_PATH periods in the seasonal states, m = GAR_PATH; alpha the lags, beta the
 * training windows of this series, gamma those of the panel, sigma2 the pooled residual
 * variance) and its continuation (damped set; the cumulative variance of each step in the
 * seasonal states; alpha the season). Beyond GAR_PATH periods the path repeats its last
 * season and the variance grows by its last step's increment.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/blas.h"
#include "core/stats.h"
#include "forecast/global_ar.h"

#define FIT_GLOBAL_AR 11		/* per-series code in forecast_fit models: never renumber */
#define GAR_SCRATCH 16			/* records of stashed values: GAR_SCRATCH * FIT_MAX_M values */
#define GAR_RECORDS (2 + GAR_SCRATCH)
#define GAR_RIDGE 1e-6			/* of each diagonal entry of the normal equations */
#define GAR_RIDGE_FLOOR 1e-12	/* of their mean diagonal: a lag that is always 0 gets 0 */
#define GAR_LOG_LIMIT 700.0		/* |log-scale forecast| kept below: expm1 stays finite */
#define GAR_EXP_LIMIT 709.0		/* expm1 of more is not a double */
#define GAR_VAR_LIMIT 1e4		/* log-scale variance kept below */

StaticAssertDecl(GAR_RECORDS <= FORECAST_MAX_RECORDS, "raise FORECAST_MAX_RECORDS");
StaticAssertDecl(GAR_SCRATCH * FIT_MAX_M == GAR_MAX_VALUES, "the stash holds the values");

typedef struct GlobalArOptions
{
	int			lags;			/* 0 = four seasons */
	int			windows;		/* 0 = ten seasons */
} GlobalArOptions;

StaticAssertDecl(sizeof(GlobalArOptions) <= FORECAST_METHOD_OPTS, "options too large");

static const char *const global_ar_keys[] = {"global_lags", "global_windows", NULL};

static void
global_ar_options(Jsonb *j, void *opts)
{
	GlobalArOptions *g = opts;

	g->lags = (int) forecast_opt_number(j, "global_lags", 0, 0, GAR_MAX_LAGS, true,
										"The lags are the periods each forecast looks back, from 1 (0 = four seasons).");
	g->windows = (int) forecast_opt_number(j, "global_windows", 0, 0, GAR_MAX_VALUES, true,
										   "The windows are each series' last periods the pooled regression trains on, from 1 (0 = ten seasons).");
}

void
global_ar_shape(const ForecastOptions *o, int m, int *p, int *w, int *back)
{
	const GlobalArOptions *g = forecast_method_options(o, &global_ar_method);

	*p = g->lags > 0 ? g->lags : 4 * Max(m, 2);
	*w = g->windows > 0 ? g->windows : 10 * Max(m, 4);
	*back = Max(*p, Max(m, 1));
	if (*back + *w > GAR_MAX_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options.global_lags and options.global_windows ask for %d periods of each series, more than %d",
						*back + *w, GAR_MAX_VALUES),
				 errdetail("lags %d, windows %d, season %d.", *p, *w, m),
				 errhint("Ask for fewer lags or windows: the lags (or the season) plus the windows must be at most %d.",
						 GAR_MAX_VALUES)));
}

/* ---------- the pooled regression ---------- */

/* the design row of the window whose target is z[t]; returns its level */
static double
design_row(const double *z, int t, int p, int m, double *x)
{
	double		level = 0;

	for (int j = 1; j <= m; j++)
		level += z[t - j];
	level /= m;
	x[0] = 1;
	for (int j = 1; j <= p; j++)
		x[j] = z[t - j] - level;
	return level;
}

void
gar_pool_init(GarPool *pool, int p, int m)
{
	int			K = p + 1;

	pool->p = p;
	pool->m = Max(m, 1);
	pool->windows = 0;
	pool->xtx = palloc0(sizeof(double) * K * K);
	pool->xty = palloc0(sizeof(double) * K);
	pool->yty = 0;
	pool->x = NULL;
	pool->xrows = 0;
}

void
gar_pool_add(GarPool *pool, const double *z, int from, int to)
{
	int			K = pool->p + 1,
				rows = to - from;
	double	   *tg;

	if (rows <= 0)
		return;
	Assert(from >= Max(pool->p, pool->m));
	if (rows > pool->xrows)
	{
		pool->x = pool->x ? repalloc(pool->x, sizeof(double) * (Size) rows * (K + 1))
			: palloc(sizeof(double) * (Size) rows * (K + 1));
		pool->xrows = rows;
	}
	tg = pool->x + (Size) rows * K;
	for (int t = 0; t < rows; t++)
		tg[t] = z[from + t] - design_row(z, from + t, pool->p, pool->m, pool->x + (Size) t * K);
	riq_syrk_ata(K, rows, 1.0, pool->x, K, 1.0, pool->xtx);
	riq_gemv(true, rows, K, 1.0, pool->x, K, tg, 1.0, pool->xty);
	pool->yty += riq_dot(rows, tg, tg);
	pool->windows += rows;
}

bool
gar_pool_solve(GarPool *pool, double *beta, double *sigma2)
{
	int			K = pool->p + 1;
	double	   *a = palloc(sizeof(double) * K * K),
			   *xb = palloc(sizeof(double) * K),
				trace = 0,
				sse;
	bool		ok;

	if (pool->windows <= K)
		return false;
	memcpy(a, pool->xtx, sizeof(double) * K * K);
	for (int j = 0; j < K; j++)
		trace += a[j * K + j];
	for (int j = 0; j < K; j++)
		a[j * K + j] += GAR_RIDGE * a[j * K + j] + GAR_RIDGE_FLOOR * trace / K;
	memcpy(beta, pool->xty, sizeof(double) * K);
	ok = riq_posv(K, 1, a, beta);
	if (ok)
	{
		/* the residual sum of squares y'y - 2 b'X'y + b'X'X b */
		riq_gemv(false, K, K, 1.0, pool->xtx, K, beta, 0.0, xb);
		sse = pool->yty - 2 * riq_dot(K, beta, pool->xty) + riq_dot(K, beta, xb);
		*sigma2 = Min(Max(sse, 0) / (pool->windows - K), GAR_VAR_LIMIT);
		for (int j = 0; j < K; j++)
			ok = ok && isfinite(beta[j]);
		ok = ok && isfinite(*sigma2);
	}
	pfree(a);
	pfree(xb);
	return ok;
}

double
gar_predict(const double *beta, int p, int m, const double *z, int t)
{
	double		x[GAR_MAX_LAGS + 1],
				level = design_row(z, t, p, Max(m, 1), x),
				f = level;

	for (int j = 0; j <= p; j++)
		f += beta[j] * x[j];
	return Min(Max(f, -GAR_LOG_LIMIT), GAR_LOG_LIMIT);
}

void
gar_path(const double *beta, int p, int m, double sigma2, const double *z, int nz, int h,
		 double *path, double *cumvar)
{
	int			back = Max(p, Max(m, 1)),
				t,
				k,
				j;
	double	   *e = palloc(sizeof(double) * (back + h)),
			   *c = palloc0(sizeof(double) * (back + 1)),
				psi[GAR_PATH],
				sumb = 0,
				acc = 0;

	Assert(h <= GAR_PATH);
	m = Max(m, 1);
	/* the last `back` values, padded in front with the first */
	for (t = 0; t < back; t++)
		e[t] = z[Max(nz - back + t, 0)];
	for (t = back; t < back + h; t++)
		path[t - back] = e[t] = gar_predict(beta, p, m, e, t);
	/* the model as an AR(back) in the values, for its impulse responses */
	for (j = 1; j <= p; j++)
		sumb += beta[j];
	for (j = 1; j <= back; j++)
		c[j] = (j <= p ? beta[j] : 0) + (j <= m ? (1 - sumb) / m : 0);
	for (k = 0; k < h; k++)
	{
		psi[k] = k == 0 ? 1 : 0;
		for (j = 1; j <= Min(k, back); j++)
			psi[k] += c[j] * psi[k - j];
		if (!isfinite(psi[k]) || fabs(psi[k]) > 1e100)
			psi[k] = 1e100;
		acc = Min(acc + psi[k] * psi[k], 1e200);
		cumvar[k] = Min(sigma2 * acc, GAR_VAR_LIMIT);
	}
	pfree(e);
	pfree(c);
}

void
gar_store(SeriesFit *f, const double *beta, int p, int m, double sigma2, const double *z, int nz)
{
	gar_path(beta, p, m, sigma2, z, nz, GAR_PATH, f[0].s, f[1].s);
	f[0].method = FIT_GLOBAL_AR;
	f[0].damped = false;
	f[0].m = GAR_PATH;
	f[0].alpha = p;
	f[0].np = p + 1;
	f[0].sigma2 = sigma2;
	f[1].method = FIT_GLOBAL_AR;
	f[1].damped = true;
	f[1].m = GAR_PATH;
	f[1].alpha = Max(m, 1);
}

double
gar_expm1(double x)
{
	return expm1(Min(x, GAR_EXP_LIMIT));
}

void
gar_forecast(const SeriesFit *f, int h, double level, double *yhat, double *lo, double *hi)
{
	const SeriesFit *path = &f[0],
			   *var = &f[1];
	int			season = (int) var->alpha;
	double		zq = riq_normal_quantile((1 + level) / 2),
				step = var->s[GAR_PATH - 1] - var->s[GAR_PATH - 2];

	for (int t = 0; t < h; t++)
	{
		double		mu,
					v,
					sd;

		if (t < GAR_PATH)
		{
			mu = path->s[t];
			v = var->s[t];
		}
		else
		{
			mu = path->s[GAR_PATH - season + (t - GAR_PATH) % season];
			v = Min(var->s[GAR_PATH - 1] + (double) (t - GAR_PATH + 1) * step, GAR_VAR_LIMIT);
		}
		sd = sqrt(Max(v, 0));
		yhat[t] = gar_expm1(mu);
		lo[t] = gar_expm1(mu - zq * sd);
		hi[t] = gar_expm1(mu + zq * sd);
	}
}

/* ---------- the method ---------- */

static int
global_ar_min_length(const double *y, int n, int m, const ForecastOptions *o)
{
	return n < 2 ? 2 : 0;
}

/* value t of series f's stash (its scratch records' seasonal states, in order) */
static double
stash_get(const SeriesFit *f, int t)
{
	return f[2 + t / FIT_MAX_M].s[t % FIT_MAX_M];
}

/*
 * The fit stage: the series' last values (log1p) into the scratch records; the path comes
 * from the panel (global_ar_finish_panel). The path record's m stays 0 until then.
 */
static double
global_ar_fit(const double *y, int n, int m, const ForecastOptions *o, SeriesFit *fit)
{
	int			p,
				w,
				back,
				keep;

	global_ar_shape(o, m, &p, &w, &back);
	keep = Min(n, back + w);
	memset(fit, 0, sizeof(SeriesFit) * GAR_RECORDS);
	fit[0].method = FIT_GLOBAL_AR;
	fit[0].n = n;
	fit[0].np = keep;			/* values stashed */
	fit[0].alpha = p;
	fit[1].method = FIT_GLOBAL_AR;
	fit[1].damped = true;
	fit[1].alpha = Max(m, 1);
	for (int t = 0; t < keep; t++)
		fit[2 + t / FIT_MAX_M].s[t % FIT_MAX_M] = log1p(Max(y[n - keep + t], 0));
	return NAN;
}

/* a series whose values wait for the panel step */
static bool
global_ar_pending(const SeriesFit *f)
{
	return f->method == FIT_GLOBAL_AR && !f->damped && f->m == 0;
}

/*
 * The panel step: every pending series' stash pooled (in key order), solved once, and
 * each series' path and variances written; the stash leaves the records.
 */
static void
global_ar_finish_panel(SeriesFit *fits, int ns, int nrec, const ForecastOptions *o)
{
	int			p = -1,
				m = 0,
				w,
				back,
				i,
				t;
	GarPool		pool;
	double	   *beta,
			   *z,
				sigma2;

	/*
	 * Every pending series' shape, checked before it is read: the stages of a distributed
	 * fit come from outside (forecast_fit_merge); all have the season of the first.
	 */
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];
		double		season = f[1].alpha;

		if (!global_ar_pending(f))
			continue;
		if (nrec < GAR_RECORDS || !(f->np >= 0 && f->np <= GAR_MAX_VALUES) ||
			!(season >= 1 && season <= FIT_MAX_M && season == floor(season)) ||
			(m > 0 && season != m))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("global_ar: a fit stage holds an impossible stash"),
					 errdetail("%d records a series, %d values, season %g.", nrec, f->np, season),
					 errhint("Pass the values retailiq_internal.forecast_fit_part returned, unchanged.")));
		m = (int) season;
	}
	if (m == 0)
		return;
	global_ar_shape(o, m, &p, &w, &back);
	gar_pool_init(&pool, p, m);
	beta = palloc(sizeof(double) * (p + 1));
	z = palloc(sizeof(double) * GAR_MAX_VALUES);
	for (i = 0; i < ns; i++)
	{
		const SeriesFit *f = &fits[(Size) i * nrec];

		if (!global_ar_pending(f))
			continue;
		CHECK_FOR_INTERRUPTS();
		for (t = 0; t < f->np; t++)
			z[t] = stash_get(f, t);
		gar_pool_add(&pool, z, back, f->np);
	}
	if (pool.windows <= p + 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("global_ar: the series hold %d training windows for %d lags", pool.windows, p),
				 errdetail("A window is a period with %d periods before it among a series' last %d.",
						   back, w + back),
				 errhint("Fit longer series, or fewer lags (options.global_lags): the panel needs more windows than lags.")));
	if (!gar_pool_solve(&pool, beta, &sigma2))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("global_ar: the pooled regression of %d windows on %d lags cannot be solved", pool.windows, p),
				 errhint("The series are constant or their lags collinear: fewer lags (options.global_lags) may help.")));
	for (i = 0; i < ns; i++)
	{
		SeriesFit  *f = &fits[(Size) i * nrec];
		int			nz = f->np,
					rows = Max(nz - back, 0);
		double		sq = 0;

		if (!global_ar_pending(f))
			continue;
		CHECK_FOR_INTERRUPTS();
		for (t = 0; t < nz; t++)
			z[t] = stash_get(f, t);
		/* the in-sample one-step error on the series' own windows, on its scale */
		for (t = back; t < nz; t++)
		{
			double		e = gar_expm1(gar_predict(beta, p, m, z, t)) - gar_expm1(z[t]);

			sq += e * e;
		}
		gar_store(f, beta, p, m, sigma2, z, nz);
		f[0].beta = rows;
		f[0].gamma = pool.windows;
		f[0].mse = rows > 0 && isfinite(sq) ? sq / rows : 0;
		memset(&f[2], 0, sizeof(SeriesFit) * GAR_SCRATCH);
	}
}

static void
global_ar_forecast(const SeriesFit *fit, int h, double level, RiqRng *rng,
				   double *yhat, double *lo, double *hi)
{
	gar_forecast(fit, h, level, yhat, lo, hi);
}

/*
 * A stored record as a fit writes it: the path (the continuation after it) or the
 * continuation alone; every value within the limits the fit keeps.
 */
static const char *
global_ar_check(const SeriesFit *fit)
{
	const SeriesFit *var = fit->damped ? fit : &fit[1];
	int			k;

	if (var->method != FIT_GLOBAL_AR || !var->damped || var->m != GAR_PATH ||
		!(var->alpha >= 1 && var->alpha <= FIT_MAX_M && var->alpha == floor(var->alpha)))
		return "a global_ar record without its variances";
	for (k = 0; k < GAR_PATH; k++)
		if (!(var->s[k] >= 0 && var->s[k] <= GAR_VAR_LIMIT) ||
			(k > 0 && var->s[k] < var->s[k - 1]))
			return "invalid global_ar variances";
	if (fit->damped)
		return NULL;
	if (fit->m != GAR_PATH ||
		!(fit->alpha >= 1 && fit->alpha <= GAR_MAX_LAGS && fit->alpha == floor(fit->alpha)) ||
		!(fit->sigma2 >= 0 && fit->sigma2 <= GAR_VAR_LIMIT))
		return "invalid global_ar parameters";
	for (k = 0; k < GAR_PATH; k++)
		if (!(fabs(fit->s[k]) <= GAR_LOG_LIMIT))
			return "an invalid global_ar forecast";
	return NULL;
}

/* the season of its levels (the path record's m is the path's length) */
static int
global_ar_season(const SeriesFit *fit)
{
	return (int) (fit->damped ? fit : &fit[1])->alpha;
}

static const char *
global_ar_label(const SeriesFit *fit, char *buf)
{
	return "global_ar";
}

const ForecastMethod global_ar_method = {
	.name = "global_ar",
	.code = FIT_GLOBAL_AR,
	.kind = MODEL_KIND_FORECAST_GLOBAL,
	.scope = METHOD_LOCAL,
	.requestable = true,
	.records = GAR_RECORDS,
	.min_records = 1,			/* its continuation record is checked on its own */
	.pooled = true,
	.trainer = "forecast_fit",
	.description = "one autoregression of the log values on four seasons of lags, pooled over every series of the panel (a global model)",
	.option_keys = global_ar_keys,
	.parse_options = global_ar_options,
	.min_length = global_ar_min_length,
	.fit = global_ar_fit,
	.forecast = global_ar_forecast,
	.check = global_ar_check,
	.season = global_ar_season,
	.label = global_ar_label,
	.finish_panel = global_ar_finish_panel,
	.predict = forecast_local_predict,
};
