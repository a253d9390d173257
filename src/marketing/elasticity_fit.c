/*
 * elasticity_fit.c: the aggregate retailiq.elasticity_fit, from weekly (or daily) sales and
 * prices per product and store to a model of what a price does (elasticity.h has the model).
 *
 * The state keeps every row in the core row store, (product, store, day, units, price,
 * factors...), so that the final function can sort them into one canonical order (the same
 * model whatever the plan) and make the several passes a fixed-effects fit and the
 * per-store fits need. Rows with no units sold are counted and left out: log-log has no
 * place for them (documented; a retailer's zero weeks are usually stock-outs or no listing).
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/arrays.h"
#include "core/blas.h"
#include "core/memory.h"
#include "core/model.h"
#include "core/options.h"
#include "core/rowstore.h"
#include "core/stats.h"
#include "marketing/elasticity.h"

#define AGG_NAME "elasticity_fit"
/* ids travel as float8 in the row store: exact up to 2^53 */
#define ELAS_MAX_ID 9007199254740992.0

typedef struct ElasState
{
	RiqRows		rows;
	int			nfactors;		/* -1 until the first row */
	int64		zero_rows;		/* rows with units = 0, left out */
	char	   *options;		/* the first row's options as text, or NULL */
} ElasState;

/* the serial form's extra area; the options text (optlen bytes) follows */
typedef struct ElasWire
{
	int64		zero_rows;
	int32		nfactors;
	int32		optlen;			/* -1: no options */
} ElasWire;

static void
check_id(Datum d, const char *arg)
{
	int64		v = DatumGetInt64(d);

	if (v > (INT64CONST(1) << 53) || v < -(INT64CONST(1) << 53))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("%s is out of range for elasticity_fit", arg),
				 errdetail("It is " INT64_FORMAT "; at most 2^53 in absolute value is kept exactly.", v),
				 errhint("Number the %ss with smaller ids.", arg)));
}

PG_FUNCTION_INFO_V1(elasticity_fit_accum);
Datum
elasticity_fit_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, AGG_NAME);
	ElasState  *s;
	double		row[ELAS_FIXED_COLS + ELAS_MAX_FACTORS];
	const double *f = NULL;
	int			nf = 0;
	double		units,
				price;
	static const char *const names[] = {"product", "store", "period", "units", "price"};

	for (int i = 1; i <= 5; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL in elasticity_fit", names[i - 1]),
					 errhint("Leave out the rows without a %s (WHERE %s IS NOT NULL).",
							 names[i - 1], names[i - 1])));
	check_id(PG_GETARG_DATUM(1), "product");
	check_id(PG_GETARG_DATUM(2), "store");
	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period must be a finite date in elasticity_fit"),
				 errhint("Give the first day of each week (or the day) the sales belong to.")));
	units = PG_GETARG_FLOAT8(4);
	price = PG_GETARG_FLOAT8(5);
	if (!isfinite(units) || units < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("units must be a finite number at least 0 in elasticity_fit"),
				 errdetail("A row has units %g.", units),
				 errhint("Give the units sold in the period; returns are not sales.")));
	if (!isfinite(price) || price <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("price must be a finite number above 0 in elasticity_fit"),
				 errdetail("A row has price %g.", price),
				 errhint("Give the shelf price actually paid in the period; leave out free items.")));
	if (PG_NARGS() > 6 && !PG_ARGISNULL(6))
	{
		f = riq_float8_array(PG_GETARG_ARRAYTYPE_P(6), "factors", &nf, false);
		if (nf > ELAS_MAX_FACTORS)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("factors may hold at most %d values in elasticity_fit", ELAS_MAX_FACTORS),
					 errdetail("A row has %d.", nf),
					 errhint("Keep the factors that move sales: deal, feature, a few competitors' log prices.")));
	}

	if (PG_ARGISNULL(0))
	{
		s = MemoryContextAllocZero(aggcxt, sizeof(ElasState));
		riq_rows_init(&s->rows, aggcxt, ELAS_FIXED_COLS + nf, AGG_NAME);
		s->nfactors = nf;
		if (PG_NARGS() > 7 && !PG_ARGISNULL(7))
			s->options = MemoryContextStrdup(aggcxt,
											 DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(7))));
	}
	else
		s = (ElasState *) PG_GETARG_POINTER(0);
	if (nf != s->nfactors)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of elasticity_fit must have the same number of factors"),
				 errdetail("A row has %d factors; earlier rows had %d.", nf, s->nfactors),
				 errhint("Build factors from one fixed list (0 where a factor is absent, never NULL).")));
	if (units == 0)
	{
		s->zero_rows++;
		PG_RETURN_POINTER(s);
	}
	row[0] = (double) PG_GETARG_INT64(1);
	row[1] = (double) PG_GETARG_INT64(2);
	row[2] = (double) PG_GETARG_DATEADT(3);
	row[3] = units;
	row[4] = price;
	for (int j = 0; j < nf; j++)
		row[ELAS_FIXED_COLS + j] = f[j];
	riq_rows_append(&s->rows, row);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(elasticity_fit_combine);
Datum
elasticity_fit_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "elasticity_fit_combine");
	ElasState  *a,
			   *b;

	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_POINTER(PG_GETARG_POINTER(0));
	}
	b = (ElasState *) PG_GETARG_POINTER(1);
	if (PG_ARGISNULL(0))
	{
		a = MemoryContextAllocZero(aggcxt, sizeof(ElasState));
		riq_rows_init(&a->rows, aggcxt, b->rows.width, AGG_NAME);
		a->nfactors = b->nfactors;
	}
	else
		a = (ElasState *) PG_GETARG_POINTER(0);
	if (a->nfactors != b->nfactors)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("every row of elasticity_fit must have the same number of factors"),
				 errdetail("Rows have %d and %d factors.", a->nfactors, b->nfactors),
				 errhint("Build factors from one fixed list (0 where a factor is absent, never NULL).")));
	if (a->options == NULL && b->options != NULL)
		a->options = MemoryContextStrdup(aggcxt, b->options);
	riq_rows_concat(&a->rows, &b->rows);
	a->zero_rows += b->zero_rows;
	PG_RETURN_POINTER(a);
}

PG_FUNCTION_INFO_V1(elasticity_fit_serialize);
Datum
elasticity_fit_serialize(PG_FUNCTION_ARGS)
{
	ElasState  *s = (ElasState *) PG_GETARG_POINTER(0);
	ElasWire	w;
	Size		olen = s->options ? strlen(s->options) : 0;
	char	   *extra;

	(void) riq_agg_context(fcinfo, "elasticity_fit_serialize");
	memset(&w, 0, sizeof(w));
	w.zero_rows = s->zero_rows;
	w.nfactors = s->nfactors;
	w.optlen = s->options ? (int32) olen : -1;
	extra = palloc(sizeof(w) + olen);
	memcpy(extra, &w, sizeof(w));
	if (olen > 0)
		memcpy(extra + sizeof(w), s->options, olen);
	PG_RETURN_BYTEA_P(riq_rows_serialize(&s->rows, extra, sizeof(w) + olen));
}

PG_FUNCTION_INFO_V1(elasticity_fit_deserialize);
Datum
elasticity_fit_deserialize(PG_FUNCTION_ARGS)
{
	MemoryContext aggcxt = riq_agg_context(fcinfo, "elasticity_fit_deserialize");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	ElasState  *s = MemoryContextAllocZero(aggcxt, sizeof(ElasState));
	ElasWire	w;
	Size		extra_len;
	const char *extra;

	extra = riq_rows_deserialize(b, &s->rows, aggcxt, ELAS_FIXED_COLS + ELAS_MAX_FACTORS,
								 AGG_NAME, &extra_len);
	if (extra_len < sizeof(w))
		riq_state_corrupt(AGG_NAME, "Its settings are %zu bytes, shorter than %zu.", extra_len, sizeof(w));
	memcpy(&w, extra, sizeof(w));
	if (w.optlen < -1 || extra_len - sizeof(w) != (Size) Max(w.optlen, 0) || w.zero_rows < 0 ||
		w.nfactors != s->rows.width - ELAS_FIXED_COLS)
		riq_state_corrupt(AGG_NAME, "Its settings (%d factors, %d bytes of options) do not match its rows of width %d and %zu bytes.",
						  w.nfactors, w.optlen, s->rows.width, extra_len);
	s->nfactors = w.nfactors;
	s->zero_rows = w.zero_rows;
	if (w.optlen >= 0)
	{
		s->options = MemoryContextAlloc(aggcxt, w.optlen + 1);
		memcpy(s->options, extra + sizeof(w), w.optlen);
		s->options[w.optlen] = '\0';
		if (strlen(s->options) != (size_t) w.optlen)
			riq_state_corrupt(AGG_NAME, "Its options contain a NUL byte.");
	}
	/* every row as the transition function would have taken it */
	for (int64 i = 0; i < s->rows.n; i++)
	{
		const double *r = RIQ_ROW(&s->rows, i);

		if (!(fabs(r[0]) <= ELAS_MAX_ID && fabs(r[1]) <= ELAS_MAX_ID) ||
			r[0] != floor(r[0]) || r[1] != floor(r[1]) || r[2] != floor(r[2]) ||
			!(fabs(r[2]) < 1e8) || !(r[3] > 0) || !isfinite(r[3]) || !(r[4] > 0) || !isfinite(r[4]))
			riq_state_corrupt(AGG_NAME, "Row " INT64_FORMAT " is not a row elasticity_fit keeps.", i);
		for (int j = ELAS_FIXED_COLS; j < s->rows.width; j++)
			if (!isfinite(r[j]))
				riq_state_corrupt(AGG_NAME, "Row " INT64_FORMAT " has a factor that is not finite.", i);
	}
	PG_RETURN_POINTER(s);
}

/* ---------------------------------------------------------------- options */

typedef struct ElasOptions
{
	double		level;
	int			harmonics;		/* -1: the default */
	bool		shrink;
} ElasOptions;

static void
parse_options(const char *text, ElasOptions *o)
{
	Jsonb	   *j;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *pool;

	o->level = 0.95;
	o->harmonics = -1;
	o->shrink = true;
	if (text == NULL)
		return;
	j = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (!JB_ROOT_IS_OBJECT(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options of elasticity_fit must be a JSON object"),
				 errhint("For example '{\"harmonics\": 2, \"level\": 0.9}'.")));
	it = JsonbIteratorInit(&j->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
		{
			char	   *k = pnstrdup(v.val.string.val, v.val.string.len);

			if (strcmp(k, "level") != 0 && strcmp(k, "harmonics") != 0 && strcmp(k, "pooling") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\" of elasticity_fit", k),
						 errhint("The options are level, harmonics and pooling.")));
		}
	o->level = riq_option_number(j, "level", 0.95, 0.5, 0.999, false,
								 "level is the coverage of the intervals, e.g. 0.95.");
	o->harmonics = (int) riq_option_number(j, "harmonics", -1, 0, ELAS_MAX_HARMONICS, true,
										   "harmonics is the number of Fourier pairs of the yearly season, 0 to 10 (0 = none).");
	pool = riq_option_value(j, "pooling");
	if (pool != NULL)
	{
		char	   *p = pool->type == jbvString ? pnstrdup(pool->val.string.val, pool->val.string.len) : "";

		if (strcmp(p, "shrink") == 0)
			o->shrink = true;
		else if (strcmp(p, "none") == 0)
			o->shrink = false;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.pooling must be \"shrink\" or \"none\""),
					 errhint("\"shrink\" pulls each store toward the pooled estimate; \"none\" keeps each store's own least squares.")));
	}
}

/* ---------------------------------------------------------------- estimation */

/*
 * Least squares of yd on the columns of Xd (n x k, row-major) marked in use, both already
 * centred (within stores). beta and vdiag (the diagonal of (X'X)^-1) get 0 and NaN for
 * the columns not used. Returns false when X'X is not positive definite.
 */
static bool
ols(int n, int k, const double *Xd, const double *yd, const bool *use,
	double *beta, double *vdiag, double *rss)
{
	int			idx[1 + ELAS_MAX_FACTORS + 2 * ELAS_MAX_HARMONICS];
	int			kk = 0;
	double	   *xtx,
			   *xtx2,
			   *xty,
			   *inv;

	for (int j = 0; j < k; j++)
	{
		beta[j] = 0;
		vdiag[j] = NAN;
		if (use[j])
			idx[kk++] = j;
	}
	*rss = 0;
	if (kk == 0)
	{
		for (int i = 0; i < n; i++)
			*rss += yd[i] * yd[i];
		return true;
	}
	xtx = palloc0(sizeof(double) * kk * kk);
	xty = palloc0(sizeof(double) * kk);
	for (int i = 0; i < n; i++)
	{
		const double *x = Xd + (Size) i * k;

		for (int a = 0; a < kk; a++)
		{
			double		xa = x[idx[a]];

			xty[a] += xa * yd[i];
			for (int b = 0; b <= a; b++)
				xtx[a * kk + b] += xa * x[idx[b]];
		}
	}
	for (int a = 0; a < kk; a++)
		for (int b = 0; b < a; b++)
			xtx[b * kk + a] = xtx[a * kk + b];
	xtx2 = palloc(sizeof(double) * kk * kk);
	memcpy(xtx2, xtx, sizeof(double) * kk * kk);
	if (!riq_posv(kk, 1, xtx, xty))
		return false;
	inv = palloc0(sizeof(double) * kk * kk);
	for (int a = 0; a < kk; a++)
		inv[a * kk + a] = 1;
	if (!riq_posv(kk, kk, xtx2, inv))
		return false;
	for (int a = 0; a < kk; a++)
	{
		beta[idx[a]] = xty[a];
		vdiag[idx[a]] = inv[a * kk + a];
	}
	for (int i = 0; i < n; i++)
	{
		double		r = yd[i] - riq_dot(k, Xd + (Size) i * k, beta);

		*rss += r * r;
	}
	return true;
}

/* the columns of X (rows lo..hi) that vary within their store groups, as use[] */
static int
varying_columns(int k, const double *Xd, const double *Xraw, int lo, int hi, bool *use)
{
	int			count = 0;

	for (int j = 0; j < k; j++)
	{
		double		within = 0,
					raw = 0;

		for (int i = lo; i < hi; i++)
		{
			within += Xd[(Size) i * k + j] * Xd[(Size) i * k + j];
			raw += Xraw[(Size) i * k + j] * Xraw[(Size) i * k + j];
		}
		use[j] = within > 1e-10 * raw && within > 1e-300;
		count += use[j];
	}
	return count;
}

/* What one product's fit leaves in the model's arrays. */
typedef struct ElasOut
{
	int			k;
	int64	   *product,
			   *pstatus,
			   *prows,
			   *pdf;
	double	   *pooled,
			   *pooled_se,
			   *between;
	int64	   *offset;
	int64	   *store,
			   *sstatus,
			   *srows;
	double	   *scoef,
			   *sse,
			   *slevel,
			   *ssigma2;
} ElasOut;

/*
 * Fit one product: rows lo..hi of the sorted store (one product, stores in runs). p is
 * the product's index, r0 the index of its first store in the store arrays; returns the
 * number of stores.
 */
static int
fit_product(const RiqRows *rows, int64 lo, int64 hi, int harmonics, bool shrink,
			ElasOut *out, int p, int r0)
{
	int			k = out->k;
	int			nf = rows->width - ELAS_FIXED_COLS;
	int			n = (int) (hi - lo);
	double	   *X = palloc(sizeof(double) * (Size) n * k);
	double	   *Xd = palloc(sizeof(double) * (Size) n * k);
	double	   *y = palloc(sizeof(double) * n);
	double	   *yd = palloc(sizeof(double) * n);
	int		   *start = palloc(sizeof(int) * (n + 1));
	int			nstores = 0;
	bool		use[1 + ELAS_MAX_FACTORS + 2 * ELAS_MAX_HARMONICS];
	double	   *beta = out->pooled + (Size) p * k;
	double	   *se = out->pooled_se + (Size) p * k;
	double	   *tau = out->between + (Size) p * k;
	double	   *vd = palloc(sizeof(double) * k);
	double	   *bs = palloc(sizeof(double) * (Size) n * k);	/* per-store OLS */
	double	   *vs = palloc(sizeof(double) * (Size) n * k);	/* their variances */
	bool	   *own = palloc0(sizeof(bool) * n);
	double		rss;
	int			kk;
	int64		df;
	int			status = ELAS_OK;

	/* the design: log price, factors, season; stores as runs */
	for (int i = 0; i < n; i++)
	{
		const double *r = RIQ_ROW(rows, lo + i);
		double	   *x = X + (Size) i * k;

		y[i] = log(r[3]);
		x[0] = log(r[4]);
		for (int j = 0; j < nf; j++)
			x[1 + j] = r[ELAS_FIXED_COLS + j];
		elasticity_fourier(r[2], harmonics, x + 1 + nf);
		if (i == 0 || r[1] != RIQ_ROW(rows, lo + i - 1)[1])
			start[nstores++] = i;
	}
	start[nstores] = n;
	/* centre within each store: the fixed effects */
	for (int s = 0; s < nstores; s++)
	{
		int			a = start[s],
					b = start[s + 1];
		double		my = 0;

		for (int i = a; i < b; i++)
			my += y[i];
		my /= (b - a);
		for (int i = a; i < b; i++)
			yd[i] = y[i] - my;
		for (int j = 0; j < k; j++)
		{
			double		mx = 0;

			for (int i = a; i < b; i++)
				mx += X[(Size) i * k + j];
			mx /= (b - a);
			for (int i = a; i < b; i++)
				Xd[(Size) i * k + j] = X[(Size) i * k + j] - mx;
		}
	}

	out->product[p] = (int64) RIQ_ROW(rows, lo)[0];
	out->prows[p] = n;
	kk = varying_columns(k, Xd, X, 0, n, use);
	df = (int64) n - nstores - kk;
	for (int j = 0; j < k; j++)
		beta[j] = se[j] = tau[j] = NAN;
	if (!use[0])
		status = ELAS_PRICE_CONSTANT;
	else if (df <= 0)
		status = ELAS_TOO_FEW;
	else if (!ols(n, k, Xd, yd, use, beta, vd, &rss))
		status = ELAS_COLLINEAR;
	out->pstatus[p] = status;
	out->pdf[p] = Max(df, 0);
	if (status == ELAS_OK)
		for (int j = 0; j < k; j++)
			se[j] = use[j] ? sqrt(rss / df * vd[j]) : NAN;

	/* each store alone: its own least squares, the factors it cannot estimate held at the pooled values */
	for (int s = 0; s < nstores; s++)
	{
		int			a = start[s],
					b = start[s + 1],
					ns = b - a;
		bool		suse[1 + ELAS_MAX_FACTORS + 2 * ELAS_MAX_HARMONICS];
		double	   *ys = palloc(sizeof(double) * ns);
		double		srss;
		int			skk;

		CHECK_FOR_INTERRUPTS();
		out->store[r0 + s] = (int64) RIQ_ROW(rows, lo + a)[1];
		out->srows[r0 + s] = ns;
		if (status != ELAS_OK)
		{
			out->sstatus[r0 + s] = ELAS_STORE_NO_PRODUCT;
			continue;
		}
		skk = varying_columns(k, Xd, X, a, b, suse);
		for (int j = 0; j < k; j++)
			suse[j] = suse[j] && use[j];
		skk = 0;
		for (int j = 0; j < k; j++)
			skk += suse[j];
		for (int i = 0; i < ns; i++)
		{
			ys[i] = yd[a + i];
			for (int j = 0; j < k; j++)
				if (!suse[j] && use[j])
					ys[i] -= Xd[(Size) (a + i) * k + j] * beta[j];
		}
		if (!suse[0])
			out->sstatus[r0 + s] = ELAS_STORE_PRICE_CONST;
		else if (ns - 1 - skk <= 0)
			out->sstatus[r0 + s] = ELAS_STORE_TOO_FEW;
		else if (!ols(ns, k, Xd + (Size) a * k, ys, suse, bs + (Size) s * k, vs + (Size) s * k, &srss))
			out->sstatus[r0 + s] = ELAS_STORE_COLLINEAR;
		else
		{
			out->sstatus[r0 + s] = ELAS_OK;
			own[s] = true;
			for (int j = 0; j < k; j++)
				vs[(Size) s * k + j] *= srss / (ns - 1 - skk);
		}
		pfree(ys);
	}

	/* shrinkage per coefficient: between-store variance by the method of moments (DerSimonian-Laird) */
	for (int j = 0; j < k && status == ELAS_OK; j++)
	{
		double		sw = 0,
					sw2 = 0,
					swb = 0,
					q = 0,
					mean;
		int			m = 0;

		if (!use[j])
			continue;
		for (int s = 0; s < nstores; s++)
		{
			double		v = vs[(Size) s * k + j];

			if (!own[s] || !(v > 0) || !isfinite(v))
				continue;
			sw += 1 / v;
			sw2 += 1 / (v * v);
			swb += bs[(Size) s * k + j] / v;
			m++;
		}
		if (m < 2)
		{
			tau[j] = 0;
			continue;
		}
		mean = swb / sw;
		for (int s = 0; s < nstores; s++)
		{
			double		v = vs[(Size) s * k + j];

			if (own[s] && v > 0 && isfinite(v))
				q += (bs[(Size) s * k + j] - mean) * (bs[(Size) s * k + j] - mean) / v;
		}
		tau[j] = sqrt(Max(0, (q - (m - 1)) / (sw - sw2 / sw)));
	}

	/* each store's coefficients, level and residual variance */
	for (int s = 0; s < nstores && status == ELAS_OK; s++)
	{
		int			a = start[s],
					b = start[s + 1];
		double	   *c = out->scoef + (Size) (r0 + s) * k;
		double	   *cse = out->sse + (Size) (r0 + s) * k;
		double		level = 0,
					ss = 0;

		for (int j = 0; j < k; j++)
		{
			double		v = vs[(Size) s * k + j];
			bool		mine = own[s] && v > 0 && isfinite(v);

			if (!use[j])
			{
				c[j] = 0;
				cse[j] = NAN;
			}
			else if (!mine)
			{
				c[j] = beta[j];
				cse[j] = se[j];
			}
			else if (!shrink)
			{
				c[j] = bs[(Size) s * k + j];
				cse[j] = sqrt(v);
			}
			else if (tau[j] == 0)
			{
				c[j] = beta[j];
				cse[j] = se[j];
			}
			else
			{
				double		prec = 1 / v + 1 / (tau[j] * tau[j]);

				c[j] = (bs[(Size) s * k + j] / v + beta[j] / (tau[j] * tau[j])) / prec;
				cse[j] = sqrt(1 / prec);
			}
		}
		for (int i = a; i < b; i++)
			level += y[i] - riq_dot(k, X + (Size) i * k, c);
		level /= (b - a);
		for (int i = a; i < b; i++)
		{
			double		r = y[i] - level - riq_dot(k, X + (Size) i * k, c);

			ss += r * r;
		}
		out->slevel[r0 + s] = level;
		out->ssigma2[r0 + s] = (b - a) > 1 ? ss / (b - a - 1) : 0;
	}
	if (status != ELAS_OK)
		for (int s = 0; s < nstores; s++)
		{
			for (int j = 0; j < k; j++)
				out->scoef[(Size) (r0 + s) * k + j] = out->sse[(Size) (r0 + s) * k + j] = NAN;
			out->slevel[r0 + s] = out->ssigma2[r0 + s] = NAN;
		}
	return nstores;
}

PG_FUNCTION_INFO_V1(elasticity_fit_final);
Datum
elasticity_fit_final(PG_FUNCTION_ARGS)
{
	ElasState  *s;
	ElasOptions o;
	RiqRows    *rows;
	int			nf,
				k,
				harmonics;
	int64		nprod = 0,
				npairs = 0;
	double		dmin = 0,
				dmax = 0;
	ElasOut		out;
	MemoryContext work,
				old;
	ModelBuilder *b;
	int			dims[2];
	int64		r = 0;

	(void) riq_agg_context(fcinfo, "elasticity_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (ElasState *) PG_GETARG_POINTER(0);
	parse_options(s->options, &o);
	rows = &s->rows;
	if (rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("elasticity_fit has no rows with units sold"),
				 errdetail(INT64_FORMAT " rows had units 0.", s->zero_rows),
				 errhint("A log-log model needs periods with sales.")));
	if (rows->n > INT_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("elasticity_fit takes at most %d rows in one group", INT_MAX / 2),
				 errhint("Fit one category (GROUP BY) at a time.")));
	nf = s->nfactors;
	riq_rows_sort(rows);
	for (int64 i = 0; i < rows->n; i++)
	{
		const double *cur = RIQ_ROW(rows, i);

		if (i == 0 || cur[0] != RIQ_ROW(rows, i - 1)[0])
			nprod++;
		if (i == 0 || cur[0] != RIQ_ROW(rows, i - 1)[0] || cur[1] != RIQ_ROW(rows, i - 1)[1])
			npairs++;
		dmin = i == 0 ? cur[2] : Min(dmin, cur[2]);
		dmax = i == 0 ? cur[2] : Max(dmax, cur[2]);
	}
	harmonics = o.harmonics >= 0 ? o.harmonics : (dmax - dmin >= 364 ? 2 : 0);
	k = 1 + nf + 2 * harmonics;

	/* the model's arrays, and per product the design (n x k, twice) and per-store fits */
	riq_memory_check(CurrentMemoryContext,
					 add_size(riq_mul_size((Size) rows->n, sizeof(double) * (4 * k + 4), AGG_NAME),
							  riq_mul_size((Size) npairs, sizeof(double) * (2 * k + 6), AGG_NAME)),
					 AGG_NAME);
	out.k = k;
	out.product = palloc(sizeof(int64) * nprod);
	out.pstatus = palloc(sizeof(int64) * nprod);
	out.prows = palloc(sizeof(int64) * nprod);
	out.pdf = palloc(sizeof(int64) * nprod);
	out.pooled = palloc(sizeof(double) * nprod * k);
	out.pooled_se = palloc(sizeof(double) * nprod * k);
	out.between = palloc(sizeof(double) * nprod * k);
	out.offset = palloc(sizeof(int64) * (nprod + 1));
	out.store = palloc(sizeof(int64) * npairs);
	out.sstatus = palloc(sizeof(int64) * npairs);
	out.srows = palloc(sizeof(int64) * npairs);
	out.scoef = palloc(sizeof(double) * npairs * k);
	out.sse = palloc(sizeof(double) * npairs * k);
	out.slevel = palloc(sizeof(double) * npairs);
	out.ssigma2 = palloc(sizeof(double) * npairs);

	work = AllocSetContextCreate(CurrentMemoryContext, "elasticity_fit product", ALLOCSET_DEFAULT_SIZES);
	for (int64 lo = 0, p = 0; lo < rows->n; p++)
	{
		int64		hi = lo + 1;

		CHECK_FOR_INTERRUPTS();
		while (hi < rows->n && RIQ_ROW(rows, hi)[0] == RIQ_ROW(rows, lo)[0])
			hi++;
		out.offset[p] = r;
		old = MemoryContextSwitchTo(work);
		r += fit_product(rows, lo, hi, harmonics, o.shrink, &out, (int) p, (int) r);
		MemoryContextSwitchTo(old);
		MemoryContextReset(work);
		lo = hi;
	}
	out.offset[nprod] = r;
	MemoryContextDelete(work);

	b = model_begin(MODEL_KIND_ELASTICITY);
	model_put_float(b, MODEL_PARAMS, "level", o.level);
	model_put_int(b, MODEL_PARAMS, "harmonics", harmonics);
	model_put_int(b, MODEL_PARAMS, "n_factors", nf);
	model_put_text(b, MODEL_PARAMS, "pooling", o.shrink ? "shrink" : "none");
	model_put_int(b, MODEL_METRICS, "rows", rows->n);
	model_put_int(b, MODEL_METRICS, "rows_zero_units", s->zero_rows);
	model_put_int(b, MODEL_METRICS, "products", nprod);
	model_put_int(b, MODEL_METRICS, "stores", npairs);
	dims[0] = (int) nprod;
	model_put_int_array(b, MODEL_DATA, "product", out.product, 1, dims);
	model_put_int_array(b, MODEL_DATA, "product_status", out.pstatus, 1, dims);
	model_put_int_array(b, MODEL_DATA, "product_rows", out.prows, 1, dims);
	model_put_int_array(b, MODEL_DATA, "product_df", out.pdf, 1, dims);
	dims[0] = (int) nprod + 1;
	model_put_int_array(b, MODEL_DATA, "store_offset", out.offset, 1, dims);
	dims[0] = (int) nprod;
	dims[1] = k;
	model_put_float_array(b, MODEL_DATA, "pooled", out.pooled, 2, dims);
	model_put_float_array(b, MODEL_DATA, "pooled_se", out.pooled_se, 2, dims);
	model_put_float_array(b, MODEL_DATA, "between_sd", out.between, 2, dims);
	dims[0] = (int) npairs;
	model_put_int_array(b, MODEL_DATA, "store", out.store, 1, dims);
	model_put_int_array(b, MODEL_DATA, "store_status", out.sstatus, 1, dims);
	model_put_int_array(b, MODEL_DATA, "store_rows", out.srows, 1, dims);
	model_put_float_array(b, MODEL_DATA, "store_level", out.slevel, 1, dims);
	model_put_float_array(b, MODEL_DATA, "store_sigma2", out.ssigma2, 1, dims);
	model_put_float_array(b, MODEL_DATA, "store_coef", out.scoef, 2, dims);
	model_put_float_array(b, MODEL_DATA, "store_se", out.sse, 2, dims);
	PG_RETURN_POINTER(model_finish(b));
}
