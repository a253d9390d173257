/*
 * ets.c: exponential smoothing state space models (Hyndman, Koehler, Ord & Snyder 2008),
 * fitted by maximum likelihood and chosen by AICc, as R's forecast::ets does by default.
 *
 * Forms: error A or M; trend N, A or Ad (damped); season N, A or M; the "restricted" set
 * of R (no additive error with multiplicative season; no multiplicative trend), so 15
 * forms on positive data and 6 (additive error only) on data with zeros. The state
 * update, written in terms of the observation, is the same for additive and
 * multiplicative errors; only the likelihood differs:
 *     -2 log L + const = n log(sum e_t^2) [+ 2 sum log |mu_t|]     (e relative for M)
 * The smoothing parameters and the initial states (level, slope, m - 1 seasonal states;
 * the last one makes the seasonal states sum to 0 or m) are estimated together by
 * Nelder-Mead within R's "usual" bounds (1e-4 <= alpha, beta, gamma <= 0.9999,
 * beta <= alpha, gamma <= 1 - alpha, 0.8 <= phi <= 0.98), from R's starting values
 * (classical decomposition, regression on the first two seasons). The admissible-region
 * test R adds ("both") is not made: inside the usual bounds it rarely binds.
 *
 * Prediction intervals: exact normal ones for the class-1 forms (additive error, no
 * multiplicative season); for the others, quantiles of simulated sample paths drawn from
 * the fitted model (seeded, so the same model gives the same interval).
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "miscadmin.h"

#include "core/memory.h"
#include "core/stats.h"
#include "forecast/baselines.h"
#include "forecast/ets_memo.h"

#define TOL 1.0e-10
#define HUGEN 1.0e10
#define PENALTY 1.0e12

static const double lower_b[4] = {1e-4, 1e-4, 1e-4, 0.8};
static const double upper_b[4] = {0.9999, 0.9999, 0.9999, 0.98};

/* ---------- the filter ---------- */

/*
 * Run the model over y from the initial state in fit (R's layout: s[m - 1] applies to
 * y[0]); leave the final state in fit. Returns n log(SSE) [+ 2 sum log|mu|], or HUGE_VAL
 * if a forecast became unusable.
 */
double
ets_filter(const double *y, int n, SeriesFit *fit, double *sse_out)
{
	int			m = fit->season != ETS_NONE ? fit->m : 1;
	double		buf[FIT_MAX_M];
	int			p = 0;
	double		l = fit->level;
	double		b = fit->trend != ETS_NONE ? fit->slope : 0.0;
	double		phi = fit->damped ? fit->phi : 1.0;
	double		alpha = fit->alpha,
				beta = fit->beta,
				gamma = fit->gamma;
	double		sse = 0,
				lik2 = 0,
				prod = 1,		/* product of |mu| since lik2 was last updated */
				lik;
	int			t,
				k;

	for (k = 0; k < m; k++)
		buf[k] = fit->season != ETS_NONE ? fit->s[m - 1 - k] : 0.0;
	for (t = 0; t < n; t++)
	{
		double		phib = fit->trend != ETS_NONE ? phi * b : 0.0;
		double		q = l + phib;
		double		sold = buf[p];
		double		mu,
					e,
					pp,
					lnew;

		if (fit->season == ETS_ADD)
			mu = q + sold;
		else if (fit->season == ETS_MULT)
			mu = q * sold;
		else
			mu = q;
		if (!isfinite(mu))
			return HUGE_VAL;
		if (fit->error == ETS_ADD)
			e = y[t] - mu;
		else
		{
			if (fabs(mu) < TOL)
				return HUGE_VAL;
			e = (y[t] - mu) / mu;
			/* one log per few dozen steps instead of one per step */
			prod *= fabs(mu);
			if (prod > 1e200 || prod < 1e-200 || fabs(mu) > 1e100)
			{
				lik2 += log(prod);
				prod = 1;
			}
		}
		sse += e * e;

		if (fit->season == ETS_ADD)
			pp = y[t] - sold;
		else if (fit->season == ETS_MULT)
			pp = fabs(sold) < TOL ? HUGEN : y[t] / sold;
		else
			pp = y[t];
		lnew = q + alpha * (pp - q);
		if (fit->trend != ETS_NONE)
			b = phib + (beta / alpha) * (lnew - l - phib);
		if (fit->season != ETS_NONE)
		{
			double		tt;

			if (fit->season == ETS_ADD)
				tt = y[t] - q;
			else
				tt = fabs(q) < TOL ? HUGEN : y[t] / q;
			buf[p] = sold + gamma * (tt - sold);
			if (++p == m)
				p = 0;
		}
		l = lnew;
	}
	lik2 += log(prod);
	fit->level = l;
	fit->slope = fit->trend != ETS_NONE ? b : 0.0;
	if (fit->season != ETS_NONE)
		for (k = 0; k < m; k++)
			fit->s[k] = buf[(p + m - 1 - k) % m];
	if (sse_out)
		*sse_out = sse;
	if (!(sse > 0))
		sse = DBL_MIN;
	lik = n * log(sse);
	if (fit->error == ETS_MULT)
		lik += 2 * lik2;
	return lik;
}

void
ets_restart(SeriesFit *fit)
{
	fit->level = fit->init_level;
	fit->slope = fit->init_slope;
	if (fit->season != ETS_NONE)
		memcpy(fit->s, fit->init_s, sizeof(double) * fit->m);
}

/* ---------- starting values (R forecast's initstate) ---------- */

/* least squares fit y = a + b x over x = 1..n */
static void
linfit(const double *y, int n, double *a, double *b)
{
	double		sx = 0,
				sy = 0,
				sxx = 0,
				sxy = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		double		x = i + 1;

		sx += x;
		sy += y[i];
		sxx += x * x;
		sxy += x * y[i];
	}
	if (n < 2 || n * sxx - sx * sx == 0)
	{
		*b = 0;
		*a = n > 0 ? sy / n : 0;
		return;
	}
	*b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
	*a = (sy - *b * sx) / n;
}

/* Solve the small normal equations A x = r (k x k, k <= 4) by Gaussian elimination. */
static bool
solve_small(double *A, double *r, int k)
{
	int			i,
				j,
				c;

	for (c = 0; c < k; c++)
	{
		int			piv = c;
		double		tmp;

		for (i = c + 1; i < k; i++)
			if (fabs(A[i * k + c]) > fabs(A[piv * k + c]))
				piv = i;
		if (fabs(A[piv * k + c]) < 1e-12)
			return false;
		if (piv != c)
		{
			for (j = 0; j < k; j++)
			{
				tmp = A[c * k + j];
				A[c * k + j] = A[piv * k + j];
				A[piv * k + j] = tmp;
			}
			tmp = r[c];
			r[c] = r[piv];
			r[piv] = tmp;
		}
		for (i = c + 1; i < k; i++)
		{
			double		f = A[i * k + c] / A[c * k + c];

			for (j = c; j < k; j++)
				A[i * k + j] -= f * A[c * k + j];
			r[i] -= f * r[c];
		}
	}
	for (i = k - 1; i >= 0; i--)
	{
		double		s = r[i];

		for (j = i + 1; j < k; j++)
			s -= A[i * k + j] * r[j];
		r[i] = s / A[i * k + i];
	}
	return true;
}

/*
 * Seasonal component of each observation (length n): classical decomposition for n >= 3m,
 * else a regression on a trend and one Fourier pair.
 */
static void
seasonal_component(const double *y, int n, int m, bool mult, double *seas)
{
	int			i;

	if (n >= 3 * m)
	{
		double	   *trend = palloc(sizeof(double) * n);
		double		figure[FIT_MAX_M];
		double		mean = 0;
		int			k;

		/* centred moving average: weights 1/m (odd m) or (0.5, 1, ..., 1, 0.5)/m (even m) */
		for (i = 0; i < n; i++)
		{
			int			half = m / 2;

			trend[i] = NAN;
			if (i - half < 0 || i + half >= n)
				continue;
			if (m % 2 == 1)
			{
				double		s = 0;

				for (k = -half; k <= half; k++)
					s += y[i + k];
				trend[i] = s / m;
			}
			else
			{
				double		s = 0.5 * y[i - half] + 0.5 * y[i + half];

				for (k = -half + 1; k <= half - 1; k++)
					s += y[i + k];
				trend[i] = s / m;
			}
		}
		for (k = 0; k < m; k++)
		{
			double		s = 0;
			int			c = 0;

			for (i = k; i < n; i += m)
				if (!isnan(trend[i]))
				{
					s += mult ? y[i] / trend[i] : y[i] - trend[i];
					c++;
				}
			figure[k] = c > 0 ? s / c : (mult ? 1 : 0);
			mean += figure[k];
		}
		mean /= m;
		for (k = 0; k < m; k++)
			figure[k] = mult ? figure[k] / mean : figure[k] - mean;
		for (i = 0; i < n; i++)
			seas[i] = figure[i % m];
		pfree(trend);
	}
	else
	{
		/* y ~ a + b t + c sin(2 pi t / m) + d cos(2 pi t / m), t = 1..n */
		double		A[16] = {0},
					r[4] = {0};
		int			j,
					k;

		for (i = 0; i < n; i++)
		{
			double		t = i + 1;
			double		x[4] = {1, t, sin(2 * M_PI * t / m), cos(2 * M_PI * t / m)};

			for (j = 0; j < 4; j++)
			{
				for (k = 0; k < 4; k++)
					A[j * 4 + k] += x[j] * x[k];
				r[j] += x[j] * y[i];
			}
		}
		if (!solve_small(A, r, m == 2 ? 3 : 4))
		{
			double		a,
						bb;

			linfit(y, n, &a, &bb);
			r[0] = a;
			r[1] = bb;
		}
		for (i = 0; i < n; i++)
		{
			double		base = r[0] + r[1] * (i + 1);

			seas[i] = mult ? (base != 0 ? y[i] / base : 1) : y[i] - base;
		}
	}
}

/* Initial states into fit (level, slope, s[0..m-1]) */
static void
init_state(const double *y, int n, SeriesFit *fit)
{
	int			m = fit->season != ETS_NONE ? fit->m : 1;
	double	   *ysa = palloc(sizeof(double) * n);
	int			maxn,
				i;

	if (fit->season != ETS_NONE)
	{
		double	   *seas = palloc(sizeof(double) * n);
		bool		mult = fit->season == ETS_MULT;
		double		sum = 0;

		seasonal_component(y, n, m, mult, seas);
		/* R: init.seas = rev(seasonal[2:m]); the m-th state closes the sum */
		for (i = 0; i < m - 1; i++)
			fit->s[i] = seas[m - 1 - i];
		if (mult)
		{
			for (i = 0; i < m - 1; i++)
			{
				fit->s[i] = Max(fit->s[i], 1e-2);
				sum += fit->s[i];
			}
			if (sum > m)
				for (i = 0; i < m - 1; i++)
					fit->s[i] /= sum + 1e-2 * (m - 1);
			for (i = 0; i < n; i++)
				ysa[i] = y[i] / Max(seas[i], 1e-2);
		}
		else
			for (i = 0; i < n; i++)
				ysa[i] = y[i] - seas[i];
		sum = 0;
		for (i = 0; i < m - 1; i++)
			sum += fit->s[i];
		fit->s[m - 1] = (mult ? m : 0) - sum;
		pfree(seas);
	}
	else
		memcpy(ysa, y, sizeof(double) * n);

	maxn = Min(Max(10, 2 * m), n);
	if (fit->trend == ETS_NONE)
	{
		double		s = 0;

		for (i = 0; i < maxn; i++)
			s += ysa[i];
		fit->level = s / maxn;
		fit->slope = 0;
	}
	else
	{
		double		a,
					bb;

		linfit(ysa, maxn, &a, &bb);
		if (fabs(a + bb) < 1e-8)
		{
			a *= 1 + 1e-3;
			bb *= 1 - 1e-3;
		}
		fit->level = a;
		fit->slope = bb;
	}
	pfree(ysa);
}

/* ---------- the objective over the parameter vector ---------- */

typedef struct EtsProblem
{
	const double *y;
	int			n;
	SeriesFit	form;			/* error/trend/season/damped/m set */
	int			npar;			/* smoothing parameters in theta */
	int			ntheta;
	int			nevals;
} EtsProblem;

/* theta = alpha [beta] [gamma] [phi] level [slope] [s0 .. s(m-2)] */
static void
theta_to_fit(const EtsProblem *pb, const double *theta, SeriesFit *f)
{
	int			i = 0,
				k;
	int			m = pb->form.season != ETS_NONE ? pb->form.m : 1;

	*f = pb->form;
	f->alpha = theta[i++];
	f->beta = pb->form.trend != ETS_NONE ? theta[i++] : 0;
	f->gamma = pb->form.season != ETS_NONE ? theta[i++] : 0;
	f->phi = pb->form.damped ? theta[i++] : 1;
	f->level = theta[i++];
	f->slope = pb->form.trend != ETS_NONE ? theta[i++] : 0;
	if (pb->form.season != ETS_NONE)
	{
		double		sum = 0;

		for (k = 0; k < m - 1; k++)
		{
			f->s[k] = theta[i++];
			sum += f->s[k];
		}
		f->s[m - 1] = (pb->form.season == ETS_MULT ? m : 0) - sum;
	}
}

static int
fit_to_theta(const SeriesFit *f, double *theta)
{
	int			i = 0,
				k;

	theta[i++] = f->alpha;
	if (f->trend != ETS_NONE)
		theta[i++] = f->beta;
	if (f->season != ETS_NONE)
		theta[i++] = f->gamma;
	if (f->damped)
		theta[i++] = f->phi;
	theta[i++] = f->level;
	if (f->trend != ETS_NONE)
		theta[i++] = f->slope;
	if (f->season != ETS_NONE)
		for (k = 0; k < f->m - 1; k++)
			theta[i++] = f->s[k];
	return i;
}

static bool
params_ok(const SeriesFit *f)
{
	if (f->alpha < lower_b[0] || f->alpha > upper_b[0])
		return false;
	if (f->trend != ETS_NONE &&
		(f->beta < lower_b[1] || f->beta > upper_b[1] || f->beta > f->alpha))
		return false;
	if (f->season != ETS_NONE &&
		(f->gamma < lower_b[2] || f->gamma > upper_b[2] || f->gamma > 1 - f->alpha))
		return false;
	if (f->damped && (f->phi < lower_b[3] || f->phi > upper_b[3]))
		return false;
	return true;
}

static double
objective(EtsProblem *pb, const double *theta)
{
	SeriesFit	f;
	double		lik;
	int			k;

	pb->nevals++;
	theta_to_fit(pb, theta, &f);
	if (!params_ok(&f))
		return PENALTY;
	if (f.season == ETS_MULT)
		for (k = 0; k < f.m; k++)
			if (f.s[k] < 0)
				return 1e8;
	lik = ets_filter(pb->y, pb->n, &f, NULL);
	if (isnan(lik) || lik == HUGE_VAL)
		return PENALTY;
	if (lik < -1e10)
		lik = -1e10;
	return lik;
}

/* ---------- Nelder-Mead ---------- */

static double
nelder_mead(EtsProblem *pb, double *x, const double *step, int maxit)
{
	int			d = pb->ntheta;
	double	   *pts = palloc(sizeof(double) * (d + 1) * d);
	double	   *fv = palloc(sizeof(double) * (d + 1));
	double	   *cen = palloc(sizeof(double) * d);
	double	   *xr = palloc(sizeof(double) * d);
	double	   *xe = palloc(sizeof(double) * d);
	double		best;
	int			i,
				j,
				it = 0;
	const double reltol = 1.490116119384765625e-8;	/* sqrt(DBL_EPSILON), as R's optim */

	for (i = 0; i <= d; i++)
	{
		memcpy(pts + i * d, x, sizeof(double) * d);
		if (i > 0)
			pts[i * d + i - 1] += step[i - 1];
		fv[i] = objective(pb, pts + i * d);
	}
	while (pb->nevals < maxit)
	{
		int			hi = 0,
					lo = 0,
					nh = 0;
		double		fr,
					fe;

		if ((++it & 63) == 0)
			CHECK_FOR_INTERRUPTS();
		for (i = 1; i <= d; i++)
		{
			if (fv[i] > fv[hi])
				hi = i;
			if (fv[i] < fv[lo])
				lo = i;
		}
		nh = hi == 0 ? 1 : 0;	/* the second worst: any start but the worst */
		for (i = 0; i <= d; i++)
			if (i != hi && fv[i] > fv[nh])
				nh = i;
		if (fv[hi] <= fv[lo] + reltol * (fabs(fv[lo]) + reltol))
			break;
		for (j = 0; j < d; j++)
		{
			double		s = 0;

			for (i = 0; i <= d; i++)
				if (i != hi)
					s += pts[i * d + j];
			cen[j] = s / d;
		}
		for (j = 0; j < d; j++)
			xr[j] = cen[j] + (cen[j] - pts[hi * d + j]);
		fr = objective(pb, xr);
		if (fr < fv[lo])
		{
			for (j = 0; j < d; j++)
				xe[j] = cen[j] + 2.0 * (xr[j] - cen[j]);
			fe = objective(pb, xe);
			if (fe < fr)
			{
				memcpy(pts + hi * d, xe, sizeof(double) * d);
				fv[hi] = fe;
			}
			else
			{
				memcpy(pts + hi * d, xr, sizeof(double) * d);
				fv[hi] = fr;
			}
		}
		else if (fr < fv[nh])
		{
			memcpy(pts + hi * d, xr, sizeof(double) * d);
			fv[hi] = fr;
		}
		else
		{
			/* contract toward the better of the reflected and worst points */
			bool		outside = fr < fv[hi];
			double		fc;

			for (j = 0; j < d; j++)
				xe[j] = outside ? cen[j] + 0.5 * (xr[j] - cen[j])
					: cen[j] + 0.5 * (pts[hi * d + j] - cen[j]);
			fc = objective(pb, xe);
			if (fc < Min(fr, fv[hi]))
			{
				memcpy(pts + hi * d, xe, sizeof(double) * d);
				fv[hi] = fc;
			}
			else
			{
				/* shrink toward the best point */
				for (i = 0; i <= d; i++)
				{
					if (i == lo)
						continue;
					for (j = 0; j < d; j++)
						pts[i * d + j] = pts[lo * d + j] + 0.5 * (pts[i * d + j] - pts[lo * d + j]);
					fv[i] = objective(pb, pts + i * d);
				}
			}
		}
	}
	j = 0;
	for (i = 1; i <= d; i++)
		if (fv[i] < fv[j])
			j = i;
	memcpy(x, pts + j * d, sizeof(double) * d);
	best = fv[j];
	pfree(pts);
	pfree(fv);
	pfree(cen);
	pfree(xr);
	pfree(xe);
	return best;
}

/* ---------- one form ---------- */

static bool
ets_fit_form(const double *y, int n, SeriesFit *form, int maxit, double scale)
{
	EtsProblem	pb;
	double		theta[4 + 2 + FIT_MAX_M];
	double		step[4 + 2 + FIT_MAX_M];
	double		lik,
				sse;
	int			m = form->season != ETS_NONE ? form->m : 1;
	int			i,
				np;
	SeriesFit	f = *form;

	/* R forecast's initparam */
	f.alpha = lower_b[0] + 0.2 * (upper_b[0] - lower_b[0]) / m;
	f.beta = f.trend != ETS_NONE ? lower_b[1] + 0.1 * (Min(upper_b[1], f.alpha) - lower_b[1]) : 0;
	f.gamma = f.season != ETS_NONE ? lower_b[2] + 0.05 * (Min(upper_b[2], 1 - f.alpha) - lower_b[2]) : 0;
	f.phi = f.damped ? lower_b[3] + 0.99 * (upper_b[3] - lower_b[3]) : 1;
	init_state(y, n, &f);

	memset(&pb, 0, sizeof(pb));
	pb.y = y;
	pb.n = n;
	pb.form = f;
	pb.npar = 1 + (f.trend != ETS_NONE) + (f.season != ETS_NONE) + (f.damped ? 1 : 0);
	pb.ntheta = fit_to_theta(&f, theta);
	np = pb.ntheta;
	if (np >= n - 1)
		return false;

	/* steps: 0.05 for a smoothing parameter (inward for phi), a tenth of a state's size */
	for (i = 0; i < pb.ntheta; i++)
	{
		if (i < pb.npar)
			step[i] = (f.damped && i == pb.npar - 1) ? -0.05 : 0.05;
		else if (f.season == ETS_MULT && i >= pb.npar + 1 + (f.trend != ETS_NONE))
			step[i] = 0.1 * Max(fabs(theta[i]), 0.1);
		else
			step[i] = 0.1 * Max(fabs(theta[i]), 0.01 * scale);
	}
	/*
	 * Two starts: R's (small smoothing weights) and a livelier one (alpha 0.3, beta 0.03,
	 * gamma 0.2, same states); from each, Nelder-Mead restarted from its best point with a
	 * fresh simplex until a restart gains nothing (a single run often collapses early in
	 * these 10-20 dimensions). The first start gets the budget, the second half of it
	 * more; the better end wins.
	 */
	{
		double		theta2[4 + 2 + FIT_MAX_M];
		double		lik2;
		int			start;

		memcpy(theta2, theta, sizeof(double) * pb.ntheta);
		i = 0;
		theta2[i++] = 0.3;
		if (f.trend != ETS_NONE)
			theta2[i++] = 0.03;
		if (f.season != ETS_NONE)
			theta2[i++] = 0.2;
		lik = HUGE_VAL;
		for (start = 0; start < 2; start++)
		{
			double	   *th = start == 0 ? theta : theta2;
			int			budget = start == 0 ? maxit : maxit + maxit / 2;
			int			r;

			lik2 = nelder_mead(&pb, th, step, Min(budget, pb.nevals + 1000 + 100 * pb.ntheta));
			for (r = 0; r < 20 && pb.nevals < budget; r++)
			{
				double		prev = lik2;

				lik2 = nelder_mead(&pb, th, step, Min(budget, pb.nevals + 500 + 50 * pb.ntheta));
				if (prev - lik2 < 1e-6 * (fabs(prev) + 1e-6))
					break;
			}
			if (start == 0)
				lik = lik2;
			else if (lik2 < lik)
			{
				lik = lik2;
				memcpy(theta, theta2, sizeof(double) * pb.ntheta);
			}
		}
	}
	if (lik >= PENALTY / 2)
		return false;

	theta_to_fit(&pb, theta, &f);
	f.init_level = f.level;
	f.init_slope = f.slope;
	memcpy(f.init_s, f.s, sizeof(double) * m);
	*form = f;					/* initial state and parameters */
	lik = ets_filter(y, n, form, &sse);	/* leaves the final state */
	form->loglik = -0.5 * lik;
	form->np = np;
	form->n = n;
	form->sigma2 = sse / Max(n - np, 1);
	form->mse = sse / n;
	{
		int			k = np + 1;
		double		aic = lik + 2.0 * k;

		form->aicc = n - k - 1 > 0 ? aic + 2.0 * k * (k + 1) / (n - k - 1) : HUGE_VAL;
	}
	form->method = FIT_ETS;
	return isfinite(form->aicc);
}

void
ets_default_options(EtsOptions *opt)
{
	opt->allow_mult = true;
	opt->allow_damped = true;
	opt->allow_season = true;
	opt->maxit = 5000;
	opt->error = opt->trend = opt->season = opt->damped = -1;
}

bool
ets_fit(const double *y, int n, int m, const EtsOptions *opt, SeriesFit *fit)
{
	bool		positive = true;
	bool		constant = true;
	bool		found = false;
	bool		fitted;
	double		scale = 0;
	int			e,
				t,
				s,
				d,
				i;

	for (i = 0; i < n; i++)
	{
		if (y[i] <= 0)
			positive = false;
		if (y[i] != y[0])
			constant = false;
		scale += fabs(y[i]);
	}
	scale = n > 0 ? scale / n : 1;
	if (scale == 0)
		scale = 1;
	if (n < 3 || constant)
		return false;
	if (m < 2 || m > ETS_MAX_SEASON || n <= m || !opt->allow_season)
		m = 1;

	memset(fit, 0, sizeof(*fit));
	fit->aicc = HUGE_VAL;
	for (e = ETS_ADD; e <= ETS_MULT; e++)
		for (t = ETS_NONE; t <= ETS_ADD; t++)
			for (s = ETS_NONE; s <= ETS_MULT; s++)
				for (d = 0; d <= 1; d++)
				{
					SeriesFit	f;

					if (opt->error >= 0 && e != opt->error)
						continue;
					if (opt->trend >= 0 && t != opt->trend)
						continue;
					if (opt->season >= 0 && s != opt->season)
						continue;
					if (opt->damped >= 0 && d != opt->damped)
						continue;
					if (d && (t == ETS_NONE || !opt->allow_damped))
						continue;
					if (s != ETS_NONE && m == 1)
						continue;
					if (e == ETS_ADD && s == ETS_MULT)
						continue;	/* infinite variance: R's restrict */
					if (e == ETS_MULT && (!positive || !opt->allow_mult))
						continue;
					if (s == ETS_MULT && !opt->allow_mult)
						continue;
					CHECK_FOR_INTERRUPTS();
					memset(&f, 0, sizeof(f));
					f.error = e;
					f.trend = t;
					f.season = s;
					f.damped = d;
					f.m = s != ETS_NONE ? m : 1;
					if (!ets_memo_get(y, n, m, opt->maxit, &f, &fitted))
					{
						fitted = ets_fit_form(y, n, &f, opt->maxit, scale);
						ets_memo_put(y, n, m, opt->maxit, &f, fitted);	/* ets_memo.c */
					}
					if (!fitted)
						continue;
					if (f.aicc < fit->aicc)
					{
						*fit = f;
						found = true;
					}
				}
	return found;
}

/* ---------- forecasts ---------- */

/* point forecasts (the mean of the no-error path, as R's forecast.ets) */
void
ets_point(const SeriesFit *fit, int h, double *yhat)
{
	int			m = fit->season != ETS_NONE ? fit->m : 1;
	double		phi = fit->damped ? fit->phi : 1.0;
	double		phistar = phi;
	int			i;

	for (i = 0; i < h; i++)
	{
		double		f = fit->trend != ETS_NONE ? fit->level + phistar * fit->slope : fit->level;
		int			j = m - 1 - (i % m);

		if (fit->season == ETS_ADD)
			f += fit->s[j];
		else if (fit->season == ETS_MULT)
			f *= fit->s[j];
		yhat[i] = f;
		phistar += pow(phi, i + 2);
	}
}

/* the value below which a share p of the sorted v[0..n-1] lies (R's quantile type 7) */
static double
quantile7(const double *v, int n, double p)
{
	double		h = (n - 1) * p;
	int			lo = (int) floor(h);

	if (lo >= n - 1)
		return v[n - 1];
	return v[lo] + (h - lo) * (v[lo + 1] - v[lo]);
}

/*
 * Interval bounds by simulation: npaths sample paths of the fitted model with normal
 * innovations of variance sigma2 (relative to the mean for multiplicative errors).
 */
void
ets_simulate_interval(const SeriesFit *fit, int h, double level, RiqRng *rng, int npaths,
					  double *lo, double *hi)
{
	int			m = fit->season != ETS_NONE ? fit->m : 1;
	double		phi = fit->damped ? fit->phi : 1.0;
	double		sigma = sqrt(Max(fit->sigma2, 0));
	double	   *paths;
	double	   *col = palloc(sizeof(double) * npaths);
	int			p,
				i,
				k;

	/* npaths x h values: a long horizon asks for gigabytes, so the budget decides */
	paths = riq_alloc(CurrentMemoryContext,
					  riq_mul_size(riq_mul_size((Size) npaths, (Size) h, "the simulated sample paths"),
								   sizeof(double), "the simulated sample paths"),
					  "the simulated sample paths");
	for (p = 0; p < npaths; p++)
	{
		double		buf[FIT_MAX_M];
		int			pos = 0;
		double		l = fit->level,
					b = fit->trend != ETS_NONE ? fit->slope : 0;

		if ((p & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		for (k = 0; k < m; k++)
			buf[k] = fit->season != ETS_NONE ? fit->s[m - 1 - k] : 0;
		for (i = 0; i < h; i++)
		{
			double		phib = fit->trend != ETS_NONE ? phi * b : 0;
			double		q = l + phib;
			double		sold = buf[pos];
			double		mu = fit->season == ETS_ADD ? q + sold : (fit->season == ETS_MULT ? q * sold : q);
			double		e = sigma * riq_rng_normal(rng);
			double		y = fit->error == ETS_ADD ? mu + e : mu * (1 + e);
			double		pp,
						lnew;

			paths[(Size) i * npaths + p] = y;
			if (fit->season == ETS_ADD)
				pp = y - sold;
			else if (fit->season == ETS_MULT)
				pp = fabs(sold) < TOL ? HUGEN : y / sold;
			else
				pp = y;
			lnew = q + fit->alpha * (pp - q);
			if (fit->trend != ETS_NONE)
				b = phib + (fit->beta / fit->alpha) * (lnew - l - phib);
			if (fit->season != ETS_NONE)
			{
				double		tt = fit->season == ETS_ADD ? y - q : (fabs(q) < TOL ? HUGEN : y / q);

				buf[pos] = sold + fit->gamma * (tt - sold);
				pos = (pos + 1) % m;
			}
			l = lnew;
		}
	}
	for (i = 0; i < h; i++)
	{
		memcpy(col, paths + (Size) i * npaths, sizeof(double) * npaths);
		qsort(col, npaths, sizeof(double), riq_cmp_double);
		lo[i] = quantile7(col, npaths, (1 - level) / 2);
		hi[i] = quantile7(col, npaths, (1 + level) / 2);
	}
	pfree(paths);
	pfree(col);
}

/* class-1 forms (additive error, season N or A): exact h-step variances */
void
ets_class1_variance(const SeriesFit *fit, int h, double *var)
{
	int			m = fit->season != ETS_NONE ? fit->m : 1;
	double		phi = fit->damped ? fit->phi : 1.0;
	double		acc = 1.0;
	double		phij = 0;
	int			i;

	for (i = 0; i < h; i++)
	{
		int			j = i;		/* var for step i+1 sums c_1..c_i */

		var[i] = fit->sigma2 * acc;
		/* c_{j+1} for the next step */
		j = i + 1;
		phij += pow(phi, j);
		{
			double		c = fit->alpha;

			if (fit->trend != ETS_NONE)
				c += fit->beta * (fit->damped ? phij : j);
			if (fit->season != ETS_NONE && j % m == 0)
				c += fit->gamma;
			acc += c * c;
		}
	}
}
