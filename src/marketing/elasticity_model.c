/*
 * elasticity_model.c: reading an elasticity model (elasticity.h): retailiq.elasticities,
 * one row per product (pooled) and per store (shrunk), and retailiq.elasticity_predict,
 * the expected units of a product in a store at a price.
 *
 * The model is decoded once per query (kept in fn_extra while the bytes stay the same)
 * and every field is checked against the others before use: a crafted model whose counts,
 * offsets, codes or numbers do not hold together is XX001, never a wrong read.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/memutils.h"

#include "core/arrays.h"
#include "core/model.h"
#include "core/stats.h"
#include "marketing/elasticity.h"

const char *
elasticity_reason(int64 status, bool *known)
{
	*known = true;
	switch (status)
	{
		case ELAS_OK:
			return NULL;
		case ELAS_PRICE_CONSTANT:
			return "no estimate: the price never changes within a store";
		case ELAS_TOO_FEW:
			return "no estimate: fewer periods than stores plus coefficients";
		case ELAS_COLLINEAR:
			return "no estimate: the price moves only together with the factors";
		case ELAS_STORE_PRICE_CONST:
			return "pooled estimate: the price never changes in this store";
		case ELAS_STORE_TOO_FEW:
			return "pooled estimate: too few periods in this store for its own";
		case ELAS_STORE_NO_PRODUCT:
			return "no estimate: the product has none";
		case ELAS_STORE_COLLINEAR:
			return "pooled estimate: in this store the price moves only with the factors";
	}
	*known = false;
	return NULL;
}

void
elasticity_fourier(double day, int harmonics, double *out)
{
	double		pos = day / 365.25;

	for (int h = 1; h <= harmonics; h++)
	{
		out[2 * (h - 1)] = cos(2 * M_PI * h * pos);
		out[2 * (h - 1) + 1] = sin(2 * M_PI * h * pos);
	}
}

typedef struct ElasModel
{
	int			P,
				R,
				k,
				nf,
				harmonics;
	double		level;
	int64	   *product,
			   *pstatus,
			   *prows,
			   *offset,
			   *store,
			   *sstatus,
			   *srows;
	double	   *pooled,
			   *pooled_se,
			   *scoef,
			   *sse,
			   *slevel,
			   *ssigma2;
} ElasModel;

typedef struct ElasCache
{
	bytea	   *copy;
	ElasModel  *m;
	MemoryContext cxt;
} ElasCache;

static int64 *
int_array(ModelView *v, const char *key, int len)
{
	int			dims[1] = {len};

	return model_get_int_array(v, MODEL_DATA, key, 1, dims);
}

static double *
float_array(ModelView *v, const char *key, int rows, int cols)
{
	int			dims[2] = {rows, cols};

	return model_get_float_array(v, MODEL_DATA, key, cols < 0 ? 1 : 2, dims);
}

static bool
finite_nonneg(double v)
{
	return isfinite(v) && v >= 0;
}

static ElasModel *
decode(bytea *value)
{
	ModelView  *v = model_open(value, MODEL_KIND_ELASTICITY);
	ElasModel  *m = palloc0(sizeof(ElasModel));
	int			dims[1] = {-1};
	int64		nf = model_get_int(v, MODEL_PARAMS, "n_factors");
	int64		h = model_get_int(v, MODEL_PARAMS, "harmonics");
	bool		known;

	if (nf < 0 || nf > ELAS_MAX_FACTORS || h < 0 || h > ELAS_MAX_HARMONICS)
		model_corrupt(v, "Its n_factors " INT64_FORMAT " or harmonics " INT64_FORMAT " is out of range.", nf, h);
	m->nf = (int) nf;
	m->harmonics = (int) h;
	m->k = 1 + m->nf + 2 * m->harmonics;
	m->level = model_get_float(v, MODEL_PARAMS, "level");
	if (!(m->level >= 0.5 && m->level <= 0.999))
		model_corrupt(v, "Its level %g is not between 0.5 and 0.999.", m->level);
	m->product = model_get_int_array(v, MODEL_DATA, "product", 1, dims);
	m->P = dims[0];
	if (m->P < 1)
		model_corrupt(v, "It has no products.");
	m->pstatus = int_array(v, "product_status", m->P);
	m->prows = int_array(v, "product_rows", m->P);
	m->offset = int_array(v, "store_offset", m->P + 1);
	m->pooled = float_array(v, "pooled", m->P, m->k);
	m->pooled_se = float_array(v, "pooled_se", m->P, m->k);
	dims[0] = -1;
	m->store = model_get_int_array(v, MODEL_DATA, "store", 1, dims);
	m->R = dims[0];
	m->sstatus = int_array(v, "store_status", m->R);
	m->srows = int_array(v, "store_rows", m->R);
	m->scoef = float_array(v, "store_coef", m->R, m->k);
	m->sse = float_array(v, "store_se", m->R, m->k);
	m->slevel = float_array(v, "store_level", m->R, -1);
	m->ssigma2 = float_array(v, "store_sigma2", m->R, -1);
	if (m->offset[0] != 0 || m->offset[m->P] != m->R)
		model_corrupt(v, "Its store_offset does not run from 0 to its %d stores.", m->R);
	for (int p = 0; p < m->P; p++)
	{
		bool		ok = m->pstatus[p] == ELAS_OK;

		if (m->offset[p + 1] <= m->offset[p] || (p > 0 && m->product[p] <= m->product[p - 1]))
			model_corrupt(v, "Its products or their store offsets are not in order at product %d.", p);
		(void) elasticity_reason(m->pstatus[p], &known);
		if (!known || m->pstatus[p] >= ELAS_STORE_PRICE_CONST || m->prows[p] < 1)
			model_corrupt(v, "Product %d has status " INT64_FORMAT " and " INT64_FORMAT " rows.",
						  p, m->pstatus[p], m->prows[p]);
		if (ok && !(isfinite(m->pooled[(Size) p * m->k]) && finite_nonneg(m->pooled_se[(Size) p * m->k])))
			model_corrupt(v, "Product %d has an estimate that is not a finite number.", p);
		for (int64 r = m->offset[p]; r < m->offset[p + 1]; r++)
		{
			int64		st = m->sstatus[r];

			if (r > m->offset[p] && m->store[r] <= m->store[r - 1])
				model_corrupt(v, "The stores of product %d are not in order.", p);
			(void) elasticity_reason(st, &known);
			if (!known || m->srows[r] < 1 || (ok != (st != ELAS_STORE_NO_PRODUCT)) ||
				(st != ELAS_OK && st < ELAS_STORE_PRICE_CONST))
				model_corrupt(v, "Store " INT64_FORMAT " has status " INT64_FORMAT " and " INT64_FORMAT " rows.",
							  r, st, m->srows[r]);
			if (!ok)
				continue;
			if (!isfinite(m->slevel[r]) || !finite_nonneg(m->ssigma2[r]) ||
				!finite_nonneg(m->sse[(Size) r * m->k]))
				model_corrupt(v, "Store " INT64_FORMAT " has a level, variance or interval that is not a finite number.", r);
			for (int j = 0; j < m->k; j++)
				if (!isfinite(m->scoef[(Size) r * m->k + j]))
					model_corrupt(v, "Store " INT64_FORMAT " has a coefficient that is not a finite number.", r);
		}
	}
	return m;
}

static ElasModel *
open_cached(FunctionCallInfo fcinfo, int argno)
{
	ElasCache  *c = (ElasCache *) fcinfo->flinfo->fn_extra;
	bytea	   *value = PG_GETARG_MODEL_P(argno);
	MemoryContext old;

	if (c != NULL && c->m != NULL && VARSIZE_ANY(value) == VARSIZE_ANY(c->copy) &&
		memcmp(value, c->copy, VARSIZE_ANY(value)) == 0)
		return c->m;
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ElasCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retailiq elasticity model",
									   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->cxt);
	c->m = NULL;
	old = MemoryContextSwitchTo(c->cxt);
	c->copy = palloc(VARSIZE_ANY(value));
	memcpy(c->copy, value, VARSIZE_ANY(value));
	c->m = decode(c->copy);
	MemoryContextSwitchTo(old);
	return c->m;
}

PG_FUNCTION_INFO_V1(elasticity_elasticities);
Datum
elasticity_elasticities(PG_FUNCTION_ARGS)
{
	ElasModel  *m = open_cached(fcinfo, 0);
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	double		z = riq_normal_quantile(0.5 + m->level / 2);
	bool		known;

	InitMaterializedSRF(fcinfo, 0);
	for (int p = 0; p < m->P; p++)
	{
		CHECK_FOR_INTERRUPTS();
		for (int64 r = m->offset[p] - 1; r < m->offset[p + 1]; r++)
		{
			Datum		values[7];
			bool		nulls[7] = {false, false, false, false, false, false, false};
			bool		pooled = r < m->offset[p];
			int64		status = pooled ? m->pstatus[p] : m->sstatus[r];
			const char *why = elasticity_reason(status, &known);
			double		e,
						se;

			values[0] = Int64GetDatum(m->product[p]);
			values[1] = pooled ? (Datum) 0 : Int64GetDatum(m->store[r]);
			nulls[1] = pooled;
			values[5] = Int64GetDatum(pooled ? m->prows[p] : m->srows[r]);
			values[6] = why ? CStringGetTextDatum(why) : (Datum) 0;
			nulls[6] = why == NULL;
			if (m->pstatus[p] != ELAS_OK)
			{
				nulls[2] = nulls[3] = nulls[4] = true;
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
				continue;
			}
			e = pooled ? m->pooled[(Size) p * m->k] : m->scoef[(Size) r * m->k];
			se = pooled ? m->pooled_se[(Size) p * m->k] : m->sse[(Size) r * m->k];
			values[2] = Float8GetDatum(e);
			values[3] = Float8GetDatum(e - z * se);
			values[4] = Float8GetDatum(e + z * se);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/* index of key in the sorted ids lo..hi-1, or -1 */
static int64
find_id(const int64 *ids, int64 lo, int64 hi, int64 key)
{
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (ids[mid] == key)
			return mid;
		if (ids[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * elasticity_predict(model, product, store, period, price [, factors]): the expected units
 * of the product in the store, exp(level + x'coef + sigma2 / 2) with the store's (shrunk)
 * coefficients; NULL for a product or store the model does not know or could not estimate.
 */
PG_FUNCTION_INFO_V1(elasticity_predict);
Datum
elasticity_predict(PG_FUNCTION_ARGS)
{
	ElasModel  *m;
	int64		p,
				r;
	double		x[1 + ELAS_MAX_FACTORS + 2 * ELAS_MAX_HARMONICS];
	double		price;
	const double *f = NULL;
	int			nf = 0;
	double		eta;

	for (int i = 0; i < 5; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();
	m = open_cached(fcinfo, 0);
	price = PG_GETARG_FLOAT8(4);
	if (!isfinite(price) || price <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("price must be a finite number above 0"),
				 errdetail("It is %g.", price),
				 errhint("Give the shelf price to predict at.")));
	if (DATE_NOT_FINITE(PG_GETARG_DATEADT(3)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("period must be a finite date"),
				 errhint("Give the first day of the period to predict.")));
	if (PG_NARGS() > 5 && !PG_ARGISNULL(5))
		f = riq_float8_array(PG_GETARG_ARRAYTYPE_P(5), "factors", &nf, false);
	if (nf != m->nf)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("factors must hold %d values for this model", m->nf),
				 errdetail("It holds %d.", nf),
				 errhint("Give the factors in the order the model was trained with.")));
	p = find_id(m->product, 0, m->P, PG_GETARG_INT64(1));
	if (p < 0 || m->pstatus[p] != ELAS_OK)
		PG_RETURN_NULL();
	r = find_id(m->store, m->offset[p], m->offset[p + 1], PG_GETARG_INT64(2));
	if (r < 0)
		PG_RETURN_NULL();
	x[0] = log(price);
	for (int j = 0; j < nf; j++)
		x[1 + j] = f[j];
	elasticity_fourier((double) PG_GETARG_DATEADT(3), m->harmonics, x + 1 + m->nf);
	eta = m->slevel[r] + m->ssigma2[r] / 2;
	for (int j = 0; j < m->k; j++)
		eta += x[j] * m->scoef[(Size) r * m->k + j];
	if (!isfinite(exp(eta)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("the expected units are out of range"),
				 errhint("Check the price and factors: they lie far outside what the model saw.")));
	PG_RETURN_FLOAT8(exp(eta));
}
