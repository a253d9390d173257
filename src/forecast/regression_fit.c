/*
 * regression_fit.c: estimating the dynamic regression of regression.h over a panel.
 *
 * Each series is summarised by its normal equations on the Prais-Winsten scale of its AR(1)
 * errors (A = D'D, g = D'z), so that pooling costs a small solve per series and iteration,
 * never a pass over the rows. The fit runs twice: once with independent errors, whose
 * residuals give each series' phi (lag-1 autocorrelation, bounded to [0, REG_MAX_PHI]),
 * then with the errors whitened by that phi.
 *
 * Pooling with shrinkage (REG_POOL_SHRINK) is the normal random-effects model on the pooled
 * coefficients beta_i (Fourier terms and factors; the level c_i keeps a flat prior):
 * beta_i ~ N(mean, diag(tau^2)). With the level profiled out, series i's data say
 * I_i beta_i ~ s_i (I_i the Schur complement of its normal equations over s_i^2), so its
 * posterior is N(Q_i^-1 (s_i + tau^-2 mean), Q_i^-1) with Q_i = I_i + diag(tau^-2), and EM
 * over mean and tau^2 (Dempster, Laird & Rubin 1977; the James-Stein / empirical Bayes
 * estimate of the amount of shrinkage) converges to their marginal maximum likelihood.
 * A series whose own data pin a coefficient down keeps it; one with few promotions takes
 * most of its promotion effect from the pool. The innovation variance of each series is
 * shrunk toward the panel's median with a prior worth REG_SIGMA_DF periods.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/float.h"
#include "utils/memutils.h"

#include "core/blas.h"
#include "core/memory.h"
#include "core/stats.h"
#include "forecast/regression.h"

#define REG_SIGMA_DF   4.0		/* periods' worth of prior on each series' variance */
#define REG_EM_MAX     200
#define REG_EM_TOL     1e-6
#define REG_RIDGE      1e-8		/* relative ridge of the unpooled solves (numerical only) */

/* One series' normal equations on its whitened scale. */
typedef struct RegSeriesEq
{
	int			n;				/* periods used (0 = left out) */
	double		phi;
	double	   *A;				/* p x p */
	double	   *g;				/* p */
	double		zz;
	double		wsum;			/* the observations' total weight (n when equal) */
	double		rss;			/* residual sum of squares of the current coefficients */
	double		sigma2;
} RegSeriesEq;

double
reg_position(ForecastFreq freq, DateADT d)
{
	int			y,
				m,
				day;

	switch (freq)
	{
		case FREQ_DAY:
			return (double) d;
		case FREQ_WEEK:
			return (double) d / 7.0;
		case FREQ_MONTH:
			series_date_ymd(d, &y, &m, &day);
			return (double) (y - 2000) * 12.0 + (m - 1);
	}
	return 0.0;
}

void
reg_fourier(const RegLayout *L, double pos, double *out)
{
	for (int k = 1; k <= L->harmonics; k++)
	{
		double		a = 2.0 * M_PI * k * fmod(pos, L->period) / L->period;

		out[2 * (k - 1)] = cos(a);
		out[2 * (k - 1) + 1] = sin(a);
	}
}

static double
z_of(const RegConfig *cfg, double y)
{
	return cfg->log_scale ? log1p(y) : y;
}

/* the design row of period t of a series: 1, Fourier terms, factors */
static void
design_row(const RegLayout *L, const ForecastSeries *sr, double pos0, int t, double *row)
{
	row[0] = 1.0;
	if (L->harmonics > 0)
		reg_fourier(L, pos0 + t, row + 1);
	for (int k = 0; k < L->n_exog; k++)
		row[1 + 2 * L->harmonics + k] = sr->exog[(Size) t * L->n_exog + k];
}

/*
 * Solve M x = rhs for symmetric positive definite M (p x p, not changed), and when inv is
 * given its inverse's diagonal too. A matrix that is only semi-definite (a factor that
 * never moves in this series, unpooled) gets a small ridge, growing until it solves.
 */
static void
spd_solve(int p, const double *M, const double *rhs, double *x, double *invdiag, double *work)
{
	int			w = invdiag ? p + 1 : 1;
	double	   *a = work,
			   *b = work + (Size) p * p;
	double		scale = 0.0,
				ridge = 0.0;

	for (int j = 0; j < p; j++)
		scale = Max(scale, fabs(M[j * p + j]));
	if (!(scale > 0))
		scale = 1.0;
	for (int attempt = 0; attempt < 12; attempt++)
	{
		memcpy(a, M, sizeof(double) * p * p);
		for (int j = 0; j < p; j++)
			a[j * p + j] += ridge;
		for (int j = 0; j < p; j++)
		{
			b[j * w] = rhs[j];
			for (int k = 1; k < w; k++)
				b[j * w + k] = (k - 1 == j) ? 1.0 : 0.0;
		}
		if (riq_posv(p, w, a, b))
		{
			for (int j = 0; j < p; j++)
			{
				x[j] = b[j * w];
				if (invdiag)
					invdiag[j] = b[j * w + 1 + j];
			}
			return;
		}
		ridge = ridge == 0.0 ? scale * 1e-10 : ridge * 100.0;
	}
	elog(ERROR, "forecast_regression_fit: normal equations that no ridge makes solvable");
}

/* A = D'D, g = D'z, zz = z'z of one series' first n periods, whitened by phi */
static void
series_equations(const RegLayout *L, const RegConfig *cfg, const ForecastSeries *sr, int n,
				 double phi, const double *hw, double *D, double *zt, RegSeriesEq *eq)
{
	int			p = 1 + L->ncoef;
	double		pos0 = reg_position(L->freq, sr->start);
	double		r0 = sqrt(1.0 - phi * phi);

	for (int t = 0; t < n; t++)
	{
		double	   *row = D + (Size) t * p;

		design_row(L, sr, pos0, t, row);
		zt[t] = z_of(cfg, sr->y[t]);
	}
	/* whiten from the end, so each row still sees its predecessor unchanged */
	for (int t = n - 1; t >= 1; t--)
	{
		for (int j = 0; j < p; j++)
			D[(Size) t * p + j] -= phi * D[(Size) (t - 1) * p + j];
		zt[t] -= phi * zt[t - 1];
	}
	for (int j = 0; j < p; j++)
		D[j] *= r0;
	zt[0] *= r0;
	eq->wsum = n;
	if (cfg->halflife > 0 || hw != NULL)
	{
		/* discounted least squares: the latest period weighs 1, older ones less */
		eq->wsum = 0.0;
		for (int t = 0; t < n; t++)
		{
			double		w = cfg->halflife > 0 ? pow(0.5, (n - 1 - t) / cfg->halflife) : 1.0;

			if (hw != NULL)
				w *= hw[t];

			eq->wsum += w;
			w = sqrt(w);
			for (int j = 0; j < p; j++)
				D[(Size) t * p + j] *= w;
			zt[t] *= w;
		}
	}
	riq_syrk_ata(p, n, 1.0, D, p, 0.0, eq->A);
	riq_gemv(true, n, p, 1.0, D, p, zt, 0.0, eq->g);
	eq->zz = riq_dot(n, zt, zt);
}

/* residual sum of squares of coefficients c: z'z - 2 c'g + c'A c */
static double
equations_rss(int p, const RegSeriesEq *eq, const double *c)
{
	double		r = eq->zz;

	for (int j = 0; j < p; j++)
	{
		double		ac = 0.0;

		for (int k = 0; k < p; k++)
			ac += eq->A[j * p + k] * c[k];
		r += c[j] * (ac - 2.0 * eq->g[j]);
	}
	return Max(r, 0.0);
}

/*
 * Innovation variances: each series' rss over its residual degrees of freedom, shrunk
 * toward the panel's median with REG_SIGMA_DF periods' weight (a series of 3 periods gets
 * mostly the panel's variance, one of 100 its own).
 */
static void
shrink_variances(RegSeriesEq *eqs, const double *dfs, int ns)
{
	double	   *v = palloc(sizeof(double) * Max(ns, 1));
	int			nv = 0;
	double		s0,
				rsum = 0.0,
				nsum = 0.0;

	for (int i = 0; i < ns; i++)
	{
		if (eqs[i].n == 0)
			continue;
		rsum += eqs[i].rss;
		nsum += eqs[i].wsum;
		if (dfs[i] >= 1.0)
			v[nv++] = eqs[i].rss / dfs[i];
	}
	if (nv > 0)
	{
		qsort(v, nv, sizeof(double), riq_cmp_double);
		s0 = nv % 2 ? v[nv / 2] : 0.5 * (v[nv / 2 - 1] + v[nv / 2]);
	}
	else
		s0 = nsum > 0 ? rsum / nsum : 1.0;
	if (!(s0 > 1e-12))
		s0 = 1e-12;
	for (int i = 0; i < ns; i++)
		if (eqs[i].n > 0)
		{
			double		df = Max(dfs[i], 0.0);

			eqs[i].sigma2 = (eqs[i].rss + REG_SIGMA_DF * s0) / (df + REG_SIGMA_DF);
			if (!(eqs[i].sigma2 > 1e-12 * s0))
				eqs[i].sigma2 = 1e-12 * s0;
		}
	pfree(v);
}

/*
 * The pooled block's information and score of each series (level profiled out), then the
 * coefficients under cfg->pooling. Fills fit->coef, pooled, tau, shrink; returns in eff[i]
 * the effective number of coefficients series i estimated itself.
 */
static void
pool_coefficients(const RegLayout *L, const RegConfig *cfg, RegSeriesEq *eqs, int ns,
				  RegFit *fit, double *eff, bool verbose)
{
	int			p = 1 + L->ncoef,
				q = L->ncoef;
	double	   *info,
			   *score,
			   *m,
			   *cdiag,
			   *Q,
			   *rhs,
			   *work,
			   *mean = fit->pooled,
			   *tau2 = palloc0(sizeof(double) * Max(q, 1));
	int			nused = 0;

	if (q == 0)
	{
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				fit->coef[(Size) i * p] = eqs[i].g[0] / eqs[i].A[0];
				eff[i] = 1.0;
			}
		return;
	}
	info = riq_alloc(CurrentMemoryContext,
					 riq_mul_size(riq_mul_size(ns, (Size) q * q + 3 * q, "the pooled regression"),
								  sizeof(double), "the pooled regression"), "the pooled regression");
	score = info + (Size) ns * q * q;
	m = score + (Size) ns * q;
	cdiag = m + (Size) ns * q;
	Q = palloc(sizeof(double) * q * q);
	rhs = palloc(sizeof(double) * q);
	work = palloc(sizeof(double) * ((Size) q * q + (Size) q * (q + 1)));

	for (int i = 0; i < ns; i++)
	{
		const RegSeriesEq *eq = &eqs[i];
		double	   *I = info + (Size) i * q * q,
				   *s = score + (Size) i * q;
		double		a00 = eq->A[0];

		if (eq->n == 0)
			continue;
		nused++;
		for (int j = 0; j < q; j++)
		{
			for (int k = 0; k < q; k++)
				I[j * q + k] = (eq->A[(j + 1) * p + k + 1] - eq->A[(j + 1) * p] * eq->A[k + 1] / a00)
					/ eq->sigma2;
			s[j] = (eq->g[j + 1] - eq->A[(j + 1) * p] * eq->g[0] / a00) / eq->sigma2;
		}
		/* each series alone (a tiny ridge where a factor never moves): the start of EM */
		memcpy(Q, I, sizeof(double) * q * q);
		for (int j = 0; j < q; j++)
			Q[j * q + j] += REG_RIDGE * (Q[j * q + j] + 1.0);
		spd_solve(q, Q, s, m + (Size) i * q, cdiag + (Size) i * q, work);
	}

	if (cfg->pooling == REG_POOL_FULL)
	{
		/* one set of coefficients: the summed equations */
		memset(Q, 0, sizeof(double) * q * q);
		memset(rhs, 0, sizeof(double) * q);
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				for (int j = 0; j < q * q; j++)
					Q[j] += info[(Size) i * q * q + j];
				for (int j = 0; j < q; j++)
					rhs[j] += score[(Size) i * q + j];
			}
		for (int j = 0; j < q; j++)
			Q[j * q + j] += REG_RIDGE * (Q[j * q + j] + 1.0);
		spd_solve(q, Q, rhs, mean, NULL, work);
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				memcpy(m + (Size) i * q, mean, sizeof(double) * q);
				eff[i] = 1.0;
			}
		for (int k = 0; k < q; k++)
		{
			fit->tau[k] = 0.0;
			fit->shrink[k] = 1.0;
		}
	}
	else if (cfg->pooling == REG_POOL_NONE)
	{
		memset(mean, 0, sizeof(double) * q);
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				for (int k = 0; k < q; k++)
					mean[k] += m[(Size) i * q + k] / nused;
				eff[i] = 1.0 + q;
			}
		for (int k = 0; k < q; k++)
		{
			fit->tau[k] = get_float8_nan();
			fit->shrink[k] = 0.0;
		}
	}
	else
	{
		/* EM from the unpooled estimates: their mean and spread */
		for (int k = 0; k < q; k++)
		{
			double		s1 = 0.0,
						s2 = 0.0;

			for (int i = 0; i < ns; i++)
				if (eqs[i].n > 0)
					s1 += m[(Size) i * q + k];
			mean[k] = s1 / nused;
			for (int i = 0; i < ns; i++)
				if (eqs[i].n > 0)
					s2 += (m[(Size) i * q + k] - mean[k]) * (m[(Size) i * q + k] - mean[k]);
			tau2[k] = s2 / nused + 1e-8 * (1.0 + mean[k] * mean[k]);
		}
		for (int it = 0;; it++)
		{
			double		change = 0.0;

			CHECK_FOR_INTERRUPTS();
			for (int i = 0; i < ns; i++)
			{
				const double *I = info + (Size) i * q * q,
						   *s = score + (Size) i * q;

				if (eqs[i].n == 0)
					continue;
				memcpy(Q, I, sizeof(double) * q * q);
				for (int k = 0; k < q; k++)
				{
					Q[k * q + k] += 1.0 / tau2[k];
					rhs[k] = s[k] + mean[k] / tau2[k];
				}
				spd_solve(q, Q, rhs, m + (Size) i * q, cdiag + (Size) i * q, work);
			}
			if (it >= REG_EM_MAX)
				break;
			fit->em_iterations = it + 1;
			for (int k = 0; k < q; k++)
			{
				double		nm = 0.0,
							nt = 0.0,
							floor_k;

				for (int i = 0; i < ns; i++)
					if (eqs[i].n > 0)
						nm += m[(Size) i * q + k];
				nm /= nused;
				for (int i = 0; i < ns; i++)
					if (eqs[i].n > 0)
					{
						double		d = m[(Size) i * q + k] - nm;

						nt += d * d + cdiag[(Size) i * q + k];
					}
				nt /= nused;
				floor_k = 1e-12 * (1.0 + nm * nm);
				nt = Max(nt, floor_k);
				change = Max(change, fabs(nt - tau2[k]) / tau2[k]);
				change = Max(change, fabs(nm - mean[k]) / sqrt(nt));
				mean[k] = nm;
				tau2[k] = nt;
			}
			if (change < REG_EM_TOL)
				it = REG_EM_MAX - 1;	/* one more pass: the posteriors of the final prior */
		}
		for (int k = 0; k < q; k++)
		{
			double		sh = 0.0;

			fit->tau[k] = sqrt(tau2[k]);
			for (int i = 0; i < ns; i++)
				if (eqs[i].n > 0)
					sh += cdiag[(Size) i * q + k] / tau2[k];
			fit->shrink[k] = sh / nused;
		}
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				eff[i] = 1.0;
				for (int k = 0; k < q; k++)
					eff[i] += 1.0 - cdiag[(Size) i * q + k] / tau2[k];
			}
		if (verbose)
			ereport(NOTICE,
					(errmsg("forecast_regression_fit: pooled with shrinkage after %d EM iterations",
							fit->em_iterations)));
	}

	/* the level of each series given its pooled coefficients */
	for (int i = 0; i < ns; i++)
	{
		const RegSeriesEq *eq = &eqs[i];
		double	   *c = fit->coef + (Size) i * p;
		double		r = eq->g[0];

		if (eq->n == 0)
			continue;
		memcpy(c + 1, m + (Size) i * q, sizeof(double) * q);
		for (int k = 0; k < q; k++)
			r -= eq->A[k + 1] * c[k + 1];
		c[0] = r / eq->A[0];
	}
	pfree(info);
	pfree(Q);
	pfree(rhs);
	pfree(work);
	pfree(tau2);
}

/* the unwhitened residual of period t */
static double
residual_at(const RegLayout *L, const RegConfig *cfg, const ForecastSeries *sr, const double *c,
			double pos0, int t, double *row)
{
	double		r = z_of(cfg, sr->y[t]);

	design_row(L, sr, pos0, t, row);
	for (int j = 0; j <= L->ncoef; j++)
		r -= row[j] * c[j];
	return r;
}

RegFit *
reg_fit(const ForecastPanel *panel, const RegLayout *L, const RegConfig *cfg, int holdout,
		bool verbose)
{
	int			ns = panel->nseries,
				p = 1 + L->ncoef,
				longest = 0;
	RegFit	   *fit = palloc0(sizeof(RegFit));
	RegSeriesEq *eqs = palloc0(sizeof(RegSeriesEq) * ns);
	double	   *eff = palloc0(sizeof(double) * ns);
	double	   *dfs = palloc0(sizeof(double) * ns);
	double	   *D,
			   *zt,
			   *row = palloc(sizeof(double) * p),
			   *solve = palloc(sizeof(double) * (2 * (Size) p * p + p));	/* a matrix and spd_solve's work */
	int			passes = cfg->ar || cfg->robust ? 2 : 1;
	double	   *hw = NULL;
	Size		rows = 0;
	Size	   *woff = palloc0(sizeof(Size) * (ns + 1));

	fit->layout = *L;
	fit->config = *cfg;
	fit->nseries = ns;
	fit->coef = riq_alloc(CurrentMemoryContext,
						  riq_mul_size(riq_mul_size(ns, p, "the regression coefficients"),
									   sizeof(double), "the regression coefficients"),
						  "the regression coefficients");
	memset(fit->coef, 0, sizeof(double) * (Size) ns * p);
	fit->phi = palloc0(sizeof(double) * ns);
	fit->sigma2 = palloc0(sizeof(double) * ns);
	fit->resid = palloc0(sizeof(double) * ns);
	fit->nobs = palloc0(sizeof(int) * ns);
	fit->pooled = palloc0(sizeof(double) * Max(L->ncoef, 1));
	fit->tau = palloc0(sizeof(double) * Max(L->ncoef, 1));
	fit->shrink = palloc0(sizeof(double) * Max(L->ncoef, 1));
	for (int i = 0; i < ns; i++)
	{
		int			n = panel->series[i].n - holdout;

		eqs[i].n = n >= 1 ? n : 0;
		fit->nobs[i] = eqs[i].n;
		longest = Max(longest, eqs[i].n);
		eqs[i].A = riq_alloc(CurrentMemoryContext,
							 riq_mul_size((Size) p * p + p, sizeof(double), "the normal equations"),
							 "the normal equations");
		eqs[i].g = eqs[i].A + (Size) p * p;
	}
	D = riq_alloc(CurrentMemoryContext,
				  riq_mul_size(riq_mul_size(Max(longest, 1), p + 1, "the regression design"),
							   sizeof(double), "the regression design"), "the regression design");
	zt = D + (Size) Max(longest, 1) * p;

	for (int pass = 0; pass < passes; pass++)
	{
		/* each series' equations, and its own fit (a ridge only where a factor never moves) */
		for (int i = 0; i < ns; i++)
		{
			RegSeriesEq *eq = &eqs[i];
			double	   *c = fit->coef + (Size) i * p;

			if (eq->n == 0)
				continue;
			CHECK_FOR_INTERRUPTS();
			eq->phi = fit->phi[i];
			series_equations(L, cfg, &panel->series[i], eq->n, eq->phi,
							 pass > 0 && hw ? hw + woff[i] : NULL, D, zt, eq);
			memcpy(solve, eq->A, sizeof(double) * p * p);
			for (int j = 0; j < p; j++)
				solve[j * p + j] += REG_RIDGE * (solve[j * p + j] + 1.0);
			spd_solve(p, solve, eq->g, c, NULL, solve + (Size) p * p);
			eq->rss = equations_rss(p, eq, c);
			dfs[i] = eq->wsum - p;
		}
		shrink_variances(eqs, dfs, ns);
		pool_coefficients(L, cfg, eqs, ns, fit, eff, verbose && pass == passes - 1);
		/* the variances of the pooled fit, with the degrees of freedom it used */
		for (int i = 0; i < ns; i++)
			if (eqs[i].n > 0)
			{
				eqs[i].rss = equations_rss(p, &eqs[i], fit->coef + (Size) i * p);
				dfs[i] = eqs[i].wsum - eff[i];
			}
		shrink_variances(eqs, dfs, ns);
		if (pass == 0 && cfg->robust)
		{
			/*
			 * Huber weights (k = 1.345 robust standard deviations, 95% efficient under normal
			 * errors): a period the fit misses by far, a stock-out, a filled gap, a data
			 * error, pulls the coefficients less.
			 */
			for (int i = 0; i < ns; i++)
			{
				woff[i] = rows;
				rows += eqs[i].n;
			}
			woff[ns] = rows;
			hw = riq_alloc(CurrentMemoryContext, riq_mul_size(Max(rows, 1), 2 * sizeof(double), "the robust weights"),
						   "the robust weights");
			for (int i = 0; i < ns; i++)
			{
				const ForecastSeries *sr = &panel->series[i];
				double		pos0 = reg_position(L->freq, sr->start),
						   *w = hw + woff[i],
						   *a = hw + rows + woff[i],
							s;
				int			n = eqs[i].n;

				if (n == 0)
					continue;
				CHECK_FOR_INTERRUPTS();
				for (int t = 0; t < n; t++)
				{
					w[t] = residual_at(L, cfg, sr, fit->coef + (Size) i * p, pos0, t, row);
					a[t] = fabs(w[t]);
				}
				qsort(a, n, sizeof(double), riq_cmp_double);
				s = 1.4826 * (n % 2 ? a[n / 2] : 0.5 * (a[n / 2 - 1] + a[n / 2]));
				s = Max(s, sqrt(eqs[i].sigma2) * 1e-3);
				for (int t = 0; t < n; t++)
					w[t] = fabs(w[t]) <= 1.345 * s ? 1.0 : 1.345 * s / fabs(w[t]);
			}
		}
		if (pass == 0 && cfg->ar)
		{
			/* each series' phi: the lag-1 autocorrelation of its residuals */
			for (int i = 0; i < ns; i++)
			{
				const ForecastSeries *sr = &panel->series[i];
				double		pos0 = reg_position(L->freq, sr->start);
				double		prev = 0.0,
							num = 0.0,
							den = 0.0;

				if (eqs[i].n < 4)
					continue;
				CHECK_FOR_INTERRUPTS();
				for (int t = 0; t < eqs[i].n; t++)
				{
					double		r = residual_at(L, cfg, sr, fit->coef + (Size) i * p, pos0, t, row);

					den += r * r;
					if (t > 0)
						num += r * prev;
					prev = r;
				}
				fit->phi[i] = den > 0 ? Min(Max(num / den, 0.0), REG_MAX_PHI) : 0.0;
			}
		}
	}
	for (int i = 0; i < ns; i++)
	{
		const ForecastSeries *sr = &panel->series[i];

		if (eqs[i].n == 0)
			continue;
		fit->sigma2[i] = eqs[i].sigma2;
		fit->resid[i] = residual_at(L, cfg, sr, fit->coef + (Size) i * p,
									reg_position(L->freq, sr->start), eqs[i].n - 1, row);
		pfree(eqs[i].A);
	}
	pfree(D);
	if (hw)
		pfree(hw);
	pfree(woff);
	pfree(eqs);
	pfree(eff);
	pfree(dfs);
	pfree(row);
	pfree(solve);
	return fit;
}

void
reg_forecast_z(const RegLayout *L, const double *coef, double phi, double sigma2, double resid,
			   double pos0, int h, const double *x, double *mu, double *var)
{
	double		fo[2 * REG_MAX_HARMONICS];
	double		carry = resid,
				acc = 0.0,
				pk = 1.0;

	for (int k = 0; k < h; k++)
	{
		double		m = coef[0];

		if (L->harmonics > 0)
		{
			reg_fourier(L, pos0 + k, fo);
			for (int j = 0; j < 2 * L->harmonics; j++)
				m += coef[1 + j] * fo[j];
		}
		for (int j = 0; j < L->n_exog; j++)
			m += coef[1 + 2 * L->harmonics + j] * x[(Size) k * L->n_exog + j];
		carry *= phi;
		acc += pk;				/* sum of phi^(2j), j < k + 1 */
		pk *= phi * phi;
		mu[k] = m + carry;
		var[k] = sigma2 * acc;
	}
}

bool
reg_back(bool log_scale, bool median, double mu, double var, double zq, double calib,
		 bool nonnegative, double *yhat, double *lo, double *hi)
{
	double		half = zq * calib * sqrt(var);

	if (log_scale)
	{
		/* the median or the mean of a log-normal; the quantiles map through exp */
		*yhat = median ? expm1(mu) : expm1(mu + 0.5 * var);
		*lo = expm1(mu - half);
		*hi = expm1(mu + half);
	}
	else
	{
		*yhat = mu;
		*lo = mu - half;
		*hi = mu + half;
	}
	if (nonnegative)
	{
		*yhat = Max(*yhat, 0.0);
		*lo = Max(*lo, 0.0);
		*hi = Max(*hi, 0.0);
	}
	return isfinite(*yhat) && isfinite(*lo) && isfinite(*hi);
}
