/*
 * churn_util.c: the row store behind the fitting aggregates (with its combine, serial and
 * deserial functions, shared by every churn aggregate), the BFGS minimiser, digamma, the
 * hypergeometric series and stable logistic helpers.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "libpq/pqformat.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "churn/churn.h"

/* ---------- row store ---------- */

static ChurnRows *
rows_new(MemoryContext cxt, int width)
{
	ChurnRows  *s = MemoryContextAllocZero(cxt, sizeof(ChurnRows));

	s->width = width;
	s->cxt = cxt;
	return s;
}

static void
rows_reserve(ChurnRows *s, int64 need)
{
	int64		newcap;
	Size		bytes;

	if (need <= s->cap)
		return;
	newcap = Max(need, Max(s->cap * 2, 1024));
	bytes = riq_mul_size(riq_mul_size((Size) newcap, (Size) s->width, "fit rows"),
						 sizeof(double), "fit rows");
	riq_memory_check(s->cxt, bytes - (Size) s->cap * s->width * sizeof(double), "the model fit");
	if (s->rows == NULL)
		s->rows = MemoryContextAllocHuge(s->cxt, bytes);
	else
		s->rows = repalloc_huge(s->rows, bytes);
	s->cap = newcap;
}

ChurnRows *
churn_rows_state(FunctionCallInfo fcinfo, int width, const char *fname)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, fname);

	if (PG_ARGISNULL(0))
		return rows_new(aggcxt, width);
	{
		ChurnRows  *s = (ChurnRows *) PG_GETARG_POINTER(0);

		if (s->width != width)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("every row of %s must have the same number of features", fname),
					 errdetail("A row has %d features; earlier rows had %d.", width - 1, s->width - 1),
					 errhint("Build the feature arrays with one fixed list of features.")));
		return s;
	}
}

void
churn_rows_append(ChurnRows *s, const double *row)
{
	rows_reserve(s, s->n + 1);
	memcpy(s->rows + s->n * s->width, row, sizeof(double) * s->width);
	s->n++;
}

static int	sort_width;

static int
row_cmp(const void *a, const void *b)
{
	const double *x = (const double *) a;
	const double *y = (const double *) b;

	for (int i = 0; i < sort_width; i++)
	{
		if (x[i] < y[i])
			return -1;
		if (x[i] > y[i])
			return 1;
	}
	return 0;
}

double *
churn_rows_sort_merge(ChurnRows *s, int keycols, bool merge)
{
	double	   *w;
	int64		out = 0;
	int			width = s->width;

	Assert(keycols == width);
	sort_width = width;
	if (s->n > 1)
		qsort(s->rows, (size_t) s->n, sizeof(double) * width, row_cmp);
	w = riq_alloc(CurrentMemoryContext, riq_mul_size((Size) Max(s->n, 1), sizeof(double), "weights"),
				  "the model fit");
	for (int64 i = 0; i < s->n; i++)
	{
		double	   *row = s->rows + i * width;

		if (merge && out > 0 && row_cmp(s->rows + (out - 1) * width, row) == 0)
		{
			w[out - 1] += 1.0;
			continue;
		}
		if (out != i)
			memmove(s->rows + out * width, row, sizeof(double) * width);
		w[out++] = 1.0;
	}
	s->n = out;
	return w;
}

PG_FUNCTION_INFO_V1(churn_rows_combine);
Datum
churn_rows_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt;
	ChurnRows  *a;
	ChurnRows  *b;

	aggcxt = riq_agg_context(fcinfo, "churn_rows_combine");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (ChurnRows *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		a = rows_new(aggcxt, b->width);
		a->have_params = b->have_params;
		memcpy(a->params, b->params, sizeof(a->params));
	}
	else
		a = (ChurnRows *) PG_GETARG_POINTER(0);
	if (a->width != b->width)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of the fit must have the same number of features"),
				 errdetail("Rows have %d and %d features.", a->width - 1, b->width - 1),
				 errhint("Build the feature arrays with one fixed list of features.")));
	if (!a->have_params && b->have_params)
	{
		a->have_params = true;
		memcpy(a->params, b->params, sizeof(a->params));
	}
	if (a->names == NULL && b->names != NULL)
	{
		a->names = MemoryContextAlloc(aggcxt, b->names_len);
		memcpy(a->names, b->names, b->names_len);
		a->names_len = b->names_len;
	}
	rows_reserve(a, a->n + b->n);
	if (b->n > 0)
		memcpy(a->rows + a->n * a->width, b->rows, sizeof(double) * a->width * b->n);
	a->n += b->n;
	a->skipped += b->skipped;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(churn_rows_serialize);
Datum
churn_rows_serialize(PG_FUNCTION_ARGS)
{
	ChurnRows  *s = (ChurnRows *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendint32(&buf, s->width);
	pq_sendint64(&buf, s->n);
	pq_sendint64(&buf, s->skipped);
	pq_sendbyte(&buf, s->have_params ? 1 : 0);
	for (int i = 0; i < CHURN_ROWS_MAX_PARAMS; i++)
		pq_sendfloat8(&buf, s->params[i]);
	pq_sendint32(&buf, s->names ? s->names_len : -1);
	if (s->names)
		pq_sendbytes(&buf, s->names, s->names_len);
	/* rows in native byte order: the bytes never leave this server */
	pq_sendbytes(&buf, (const char *) s->rows, (int) (sizeof(double) * s->width * s->n));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(churn_rows_deserialize);
Datum
churn_rows_deserialize(PG_FUNCTION_ARGS)
{
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	MemoryContext aggcxt;
	StringInfoData buf;
	ChurnRows  *s;
	int			width;
	int64		n;
	int			nlen;

	aggcxt = riq_agg_context(fcinfo, "churn_rows_deserialize");
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	width = pq_getmsgint(&buf, 4);
	n = pq_getmsgint64(&buf);
	if (width < 1 || n < 0 || width > CHURN_ROWS_MAX_WIDTH ||
		(Size) n > (Size) (buf.len - buf.cursor) / (sizeof(double) * width))
		riq_state_corrupt("churn", "Its header (%d columns, " INT64_FORMAT " rows) does not fit its %d bytes.",
						  width, n, buf.len);
	s = rows_new(aggcxt, width);
	s->skipped = pq_getmsgint64(&buf);
	s->have_params = pq_getmsgbyte(&buf) != 0;
	for (int i = 0; i < CHURN_ROWS_MAX_PARAMS; i++)
		s->params[i] = pq_getmsgfloat8(&buf);
	nlen = pq_getmsgint(&buf, 4);
	if (nlen >= 0)
	{
		s->names = MemoryContextAlloc(aggcxt, Max(nlen, 1));
		pq_copymsgbytes(&buf, s->names, nlen);
		s->names_len = nlen;
	}
	rows_reserve(s, n);
	if (n > 0)
		pq_copymsgbytes(&buf, (char *) s->rows, (int) (sizeof(double) * width * n));
	s->n = n;
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(s);
}

/* ---------- BFGS with a backtracking (Armijo) line search ---------- */

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
	for (int i = 0; i < dim * dim; i++)
		H[i] = 0.0;
	for (int i = 0; i < dim; i++)
		H[i * dim + i] = 1.0 / Max(1.0, fabs(f));
	for (res.iterations = 0; res.iterations < max_iter; res.iterations++)
	{
		double		gnorm = 0.0;
		double		slope = 0.0;
		double		step = 1.0;
		double		pmax = 0.0;
		bool		accepted = false;
		double		sy = 0.0;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < dim; i++)
			gnorm = Max(gnorm, fabs(g[i]));
		res.grad_norm = gnorm;
		if (gnorm <= gtol)
		{
			res.converged = true;
			break;
		}
		for (int i = 0; i < dim; i++)
		{
			p[i] = 0.0;
			for (int j = 0; j < dim; j++)
				p[i] -= H[i * dim + j] * g[j];
			slope += p[i] * g[i];
		}
		if (slope >= 0.0)
		{
			/* not a descent direction: restart from steepest descent */
			for (int i = 0; i < dim * dim; i++)
				H[i] = 0.0;
			for (int i = 0; i < dim; i++)
			{
				H[i * dim + i] = 1.0 / Max(1.0, fabs(f));
				p[i] = -g[i] * H[i * dim + i];
			}
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
		{
			/* BFGS update of the inverse Hessian */
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
		if (stall >= 3)
		{
			for (int i = 0; i < dim; i++)
				gnorm = Max(gnorm, fabs(g[i]));
			res.grad_norm = gnorm;
			res.converged = gnorm <= gtol * 1e3;
			break;
		}
	}
	if (res.iterations >= max_iter)
	{
		double		gnorm = 0.0;

		for (int i = 0; i < dim; i++)
			gnorm = Max(gnorm, fabs(g[i]));
		res.grad_norm = gnorm;
		res.converged = gnorm <= gtol;
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
