/*
 * churn_util.c: the BFGS minimiser, digamma, the hypergeometric series and stable logistic
 * helpers of the churn fits (their row state is churn_rows.c).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/memory.h"
#include "churn/churn.h"

/* ---------- BFGS with a backtracking (Armijo) line search ---------- */

/* the largest absolute gradient component */
static double
grad_max(const double *g, int dim)
{
	double		gnorm = 0.0;

	for (int i = 0; i < dim; i++)
		gnorm = Max(gnorm, fabs(g[i]));
	return gnorm;
}

/* the inverse Hessian's starting guess: a scaled identity */
static void
hessian_reset(double *H, int dim, double f)
{
	for (int i = 0; i < dim * dim; i++)
		H[i] = 0.0;
	for (int i = 0; i < dim; i++)
		H[i * dim + i] = 1.0 / Max(1.0, fabs(f));
}

/* the quasi-Newton direction p = -H g, and its slope p.g */
static double
search_direction(const double *H, const double *g, double *p, int dim)
{
	double		slope = 0.0;

	for (int i = 0; i < dim; i++)
	{
		p[i] = 0.0;
		for (int j = 0; j < dim; j++)
			p[i] -= H[i * dim + j] * g[j];
		slope += p[i] * g[i];
	}
	return slope;
}

/* BFGS update of the inverse Hessian from the step sv and the gradient change yv */
static void
bfgs_update(double *H, const double *sv, const double *yv, double *Hy, double sy, int dim)
{
	double		yHy = 0.0;

	for (int i = 0; i < dim; i++)
	{
		Hy[i] = 0.0;
		for (int j = 0; j < dim; j++)
			Hy[i] += H[i * dim + j] * yv[j];
		yHy += yv[i] * Hy[i];
	}
	for (int i = 0; i < dim; i++)
		for (int j = 0; j < dim; j++)
			H[i * dim + j] += ((sy + yHy) * sv[i] * sv[j]) / (sy * sy)
				- (Hy[i] * sv[j] + sv[i] * Hy[j]) / sy;
}

ChurnOptimResult
churn_minimize(ChurnObjective fn, void *arg, int dim, double *theta, int max_iter, double gtol)
{
	ChurnOptimResult res = {0};
	double	   *H = palloc(sizeof(double) * dim * dim);
	double	   *g = palloc(sizeof(double) * dim);
	double	   *gn = palloc(sizeof(double) * dim);
	double	   *p = palloc(sizeof(double) * dim);
	double	   *tn = palloc(sizeof(double) * dim);
	double	   *sv = palloc(sizeof(double) * dim);
	double	   *yv = palloc(sizeof(double) * dim);
	double	   *Hy = palloc(sizeof(double) * dim);
	double		f;
	double		fn_val;
	int			stall = 0;

	if (!fn(theta, &f, g, arg))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the likelihood is not finite at the starting point"),
				 errhint("Check the input for extreme values.")));
	hessian_reset(H, dim, f);
	for (res.iterations = 0; res.iterations < max_iter; res.iterations++)
	{
		double		gnorm;
		double		slope;
		double		step = 1.0;
		double		pmax = 0.0;
		bool		accepted = false;
		double		sy = 0.0;

		CHECK_FOR_INTERRUPTS();
		gnorm = grad_max(g, dim);
		res.grad_norm = gnorm;
		if (gnorm <= gtol)
		{
			res.converged = true;
			break;
		}
		slope = search_direction(H, g, p, dim);
		if (slope >= 0.0)
		{
			/* not a descent direction: restart from steepest descent */
			hessian_reset(H, dim, f);
			for (int i = 0; i < dim; i++)
				p[i] = -g[i] * H[i * dim + i];
			slope = 0.0;
			for (int i = 0; i < dim; i++)
				slope += p[i] * g[i];
		}
		/* log-parameters: never jump more than 5 units (a factor e^5) at once */
		for (int i = 0; i < dim; i++)
			pmax = Max(pmax, fabs(p[i]));
		if (pmax > 5.0)
			step = 5.0 / pmax;
		for (int ls = 0; ls < 60; ls++)
		{
			for (int i = 0; i < dim; i++)
				tn[i] = theta[i] + step * p[i];
			if (fn(tn, &fn_val, gn, arg) && fn_val <= f + 1e-4 * step * slope)
			{
				accepted = true;
				break;
			}
			step *= 0.5;
		}
		if (!accepted)
		{
			/* no decrease along the direction: at the optimum to rounding, or stuck */
			res.converged = gnorm <= gtol * 1e3;
			break;
		}
		for (int i = 0; i < dim; i++)
		{
			sv[i] = tn[i] - theta[i];
			yv[i] = gn[i] - g[i];
			sy += sv[i] * yv[i];
		}
		if (fabs(f - fn_val) <= 1e-15 * Max(1.0, fabs(f)))
			stall++;
		else
			stall = 0;
		memcpy(theta, tn, sizeof(double) * dim);
		memcpy(g, gn, sizeof(double) * dim);
		f = fn_val;
		if (sy > 1e-300)
			bfgs_update(H, sv, yv, Hy, sy, dim);
		if (stall >= 3)
		{
			gnorm = Max(gnorm, grad_max(g, dim));
			res.grad_norm = gnorm;
			res.converged = gnorm <= gtol * 1e3;
			break;
		}
	}
	if (res.iterations >= max_iter)
	{
		res.grad_norm = grad_max(g, dim);
		res.converged = res.grad_norm <= gtol;
	}
	res.f = f;
	pfree(H);
	pfree(g);
	pfree(gn);
	pfree(p);
	pfree(tn);
	pfree(sv);
	pfree(yv);
	pfree(Hy);
	return res;
}

/* ---------- special functions ---------- */

double
churn_digamma(double x)
{
	double		r = 0.0;
	double		f;
	double		t;

	if (x <= 0.0)
		return NAN;
	/* recurrence up to x >= 6, then the asymptotic series */
	while (x < 6.0)
	{
		r -= 1.0 / x;
		x += 1.0;
	}
	f = 1.0 / (x * x);
	t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132 +
																					f * (691.0 / 32760 + f * (-1.0 / 12)))))));
	return r + log(x) - 0.5 / x + t;
}

double
churn_hyp2f1(double a, double b, double c, double z, bool *ok)
{
	double		term = 1.0;
	double		sum = 1.0;

	*ok = true;
	if (z == 0.0)
		return 1.0;
	for (int k = 0; k < 10000000; k++)
	{
		double		ratio = (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;

		if ((k & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		term *= ratio;
		sum += term;
		if (term == 0.0)
			return sum;
		/* the tail is about term * ratio / (1 - ratio) once the ratio is below 1 */
		if (fabs(ratio) < 1.0 &&
			fabs(term) * fabs(ratio) / (1.0 - fabs(ratio)) <= 1e-16 * fabs(sum))
			return sum;
		if (!isfinite(sum))
			break;
	}
	*ok = false;
	return sum;
}

double
churn_log1pexp(double x)
{
	if (x > 35.0)
		return x;
	if (x < -35.0)
		return exp(x);
	return log1p(exp(x));
}

double
churn_logistic(double x)
{
	if (x >= 0.0)
		return 1.0 / (1.0 + exp(-x));
	{
		double		e = exp(x);

		return e / (1.0 + e);
	}
}
