/*
 * recommend_predict.c: recommend_for_customer and recommend_for_customers.
 *
 * The model is decoded once per call site and kept in fn_extra, recognised again by its size
 * and its header (which holds the checksum of the whole value): a LATERAL call per customer
 * reads only the first bytes of a TOASTed model, not all of it. Decoding checks every array
 * against the counts it must match (sorted ids, offsets within bounds, indexes within the
 * catalogue, finite values), so crafted bytes end in XX001, never in a wild read.
 *
 * Options: "repeat" (default true: the customer's past products may be recommended; false: new
 * products only), "method" ("blend", the default, or one component alone with its raw score:
 * "own", "als", "item", "popularity"), "exclude" (product ids never to recommend, e.g. out of stock at the customer's
 * home store), "only" (the product ids allowed, e.g. the products of some categories) and
 * "peers" (customer ids of the customer's segment: popularity is counted among them, which is
 * what a customer without history is recommended).
 */
#include "postgres.h"

#include <math.h>

#include "access/detoast.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "core/model.h"
#include "core/rng.h"
#include "marketing/recommend.h"

#define KEY_BYTES 24

typedef struct RecModel
{
	int			nu,
				ni,
				f,
				k;
	int64		nnz;
	int32		ref_day;
	int64	   *cust;
	int64	   *prod;
	double	   *pop_rep;
	double	   *pop_new;
	int64	   *hptr;
	int32	   *hitem;
	int64	   *hbaskets;
	int64	   *hlast;
	double	   *wrep;
	double	   *wnew;
	double	   *x;
	double	   *y;
	RecNeighbours nb;
	RecBlend	repeat;
	RecBlend	fresh;
} RecModel;

typedef struct RecCache
{
	MemoryContext cxt;
	Size		size;
	char		key[KEY_BYTES];
	RecModel   *m;
	RecScores	s;
	bool	   *banned;
	int32	   *out;
	double	   *score;
	double	   *peer_pop;
	uint64		peer_hash;		/* 0: no peers cached */
} RecCache;

typedef enum RecMethod
{
	METHOD_BLEND,
	METHOD_OWN,
	METHOD_ALS,
	METHOD_ITEM,
	METHOD_POPULARITY
} RecMethod;

typedef struct RecOptions
{
	bool		repeat;
	RecMethod	method;
	int64	   *exclude;
	int			nexclude;
	int64	   *only;
	int			nonly;			/* -1: no restriction */
	int64	   *peers;
	int			npeers;			/* -1: none given */
} RecOptions;

static void
check_sorted(const ModelView *v, const int64 *ids, int n, const char *what)
{
	for (int i = 1; i < n; i++)
		if (ids[i] <= ids[i - 1])
			model_corrupt(v, "Its %s are not in strictly ascending order.", what);
}

static void
check_finite(const ModelView *v, const double *a, Size n, double lo, const char *what)
{
	for (Size i = 0; i < n; i++)
		if (!isfinite(a[i]) || a[i] < lo)
			model_corrupt(v, "Its %s hold a value out of range.", what);
}

static void
get_blend(const ModelView *v, const char *prefix, RecBlend *b)
{
	char		key[64];

	snprintf(key, sizeof(key), "%s_half_life", prefix);
	b->half_life = model_get_float(v, MODEL_PARAMS, key);
	snprintf(key, sizeof(key), "%s_pop_half_life", prefix);
	b->pop_half_life = model_get_float(v, MODEL_PARAMS, key);
	snprintf(key, sizeof(key), "%s_w_als", prefix);
	b->w_als = model_get_float(v, MODEL_PARAMS, key);
	snprintf(key, sizeof(key), "%s_w_knn", prefix);
	b->w_knn = model_get_float(v, MODEL_PARAMS, key);
	snprintf(key, sizeof(key), "%s_w_pop", prefix);
	b->w_pop = model_get_float(v, MODEL_PARAMS, key);
	/* models of 0.2.0 have no first-purchase popularity */
	snprintf(key, sizeof(key), "%s_pop_first", prefix);
	b->pop_first = model_find(v, MODEL_PARAMS, key) != NULL && model_get_bool(v, MODEL_PARAMS, key);
	if (!(b->half_life >= -1 && b->half_life < 1e9) || !(b->pop_half_life >= 0 && b->pop_half_life < 1e9) || !isfinite(b->w_als) || !isfinite(b->w_knn) ||
		!isfinite(b->w_pop) || fabs(b->w_als) > 1e6 || fabs(b->w_knn) > 1e6 || fabs(b->w_pop) > 1e6)
		model_corrupt(v, "Its %s blend is out of range.", prefix);
}

static RecModel *
decode_model(bytea *raw)
{
	ModelView  *v = model_open(raw, MODEL_KIND_RECOMMENDER);
	RecModel   *m = palloc0(sizeof(RecModel));
	int			dims[2];
	int64	   *nbi;

	dims[0] = -1;
	m->cust = model_get_int_array(v, MODEL_DATA, "customer_ids", 1, dims);
	m->nu = dims[0];
	dims[0] = -1;
	m->prod = model_get_int_array(v, MODEL_DATA, "product_ids", 1, dims);
	m->ni = dims[0];
	if (m->ni < 1)
		model_corrupt(v, "It has no products.");
	dims[0] = m->ni;
	m->pop_rep = model_get_float_array(v, MODEL_DATA, "repeat_popularity", 1, dims);
	m->pop_new = model_get_float_array(v, MODEL_DATA, "new_popularity", 1, dims);
	dims[0] = m->nu + 1;
	m->hptr = model_get_int_array(v, MODEL_DATA, "history_ptr", 1, dims);
	dims[0] = -1;
	{
		int64	   *items = model_get_int_array(v, MODEL_DATA, "history_product", 1, dims);

		m->nnz = dims[0];
		m->hitem = palloc(sizeof(int32) * Max(m->nnz, 1));
		for (int64 e = 0; e < m->nnz; e++)
		{
			if (items[e] < 0 || items[e] >= m->ni)
				model_corrupt(v, "Its history names product %lld of %d.", (long long) items[e], m->ni);
			m->hitem[e] = (int32) items[e];
		}
	}
	dims[0] = (int) m->nnz;
	m->hbaskets = model_get_int_array(v, MODEL_DATA, "history_baskets", 1, dims);
	m->hlast = model_get_int_array(v, MODEL_DATA, "history_last_day", 1, dims);
	m->wrep = model_get_float_array(v, MODEL_DATA, "history_repeat_weight", 1, dims);
	m->wnew = model_get_float_array(v, MODEL_DATA, "history_new_weight", 1, dims);
	m->ref_day = (int32) model_get_int(v, MODEL_DATA, "ref_day");
	dims[0] = m->nu;
	dims[1] = -1;
	m->x = model_get_float_array(v, MODEL_DATA, "customer_factors", 2, dims);
	m->f = dims[1];
	if (m->f != model_get_int(v, MODEL_PARAMS, "factors") || m->f < 1 || m->f > REC_MAX_FACTORS)
		model_corrupt(v, "Its factors do not match its factor matrices.");
	dims[0] = m->ni;
	dims[1] = m->f;
	m->y = model_get_float_array(v, MODEL_DATA, "product_factors", 2, dims);
	dims[0] = m->ni;
	dims[1] = -1;
	nbi = model_get_int_array(v, MODEL_DATA, "neighbour_product", 2, dims);
	m->k = dims[1];
	if (m->k < 1 || m->k > REC_MAX_NEIGHBOURS)
		model_corrupt(v, "It keeps %d neighbours a product.", m->k);
	m->nb.sim = model_get_float_array(v, MODEL_DATA, "neighbour_similarity", 2, dims);
	m->nb.ni = m->ni;
	m->nb.k = m->k;
	m->nb.item = palloc(sizeof(int32) * (Size) m->ni * m->k);
	for (Size q = 0; q < (Size) m->ni * m->k; q++)
	{
		if (nbi[q] < -1 || nbi[q] >= m->ni)
			model_corrupt(v, "Its neighbours name product %lld of %d.", (long long) nbi[q], m->ni);
		m->nb.item[q] = (int32) nbi[q];
	}
	get_blend(v, "repeat", &m->repeat);
	get_blend(v, "new", &m->fresh);

	check_sorted(v, m->cust, m->nu, "customer ids");
	check_sorted(v, m->prod, m->ni, "product ids");
	if (m->hptr[0] != 0 || m->hptr[m->nu] != m->nnz)
		model_corrupt(v, "Its history offsets do not span its history.");
	for (int u = 0; u < m->nu; u++)
	{
		if (m->hptr[u + 1] < m->hptr[u] || m->hptr[u + 1] > m->nnz)
			model_corrupt(v, "Its history offsets are not ascending.");
		for (int64 e = m->hptr[u] + 1; e < m->hptr[u + 1]; e++)
			if (m->hitem[e] <= m->hitem[e - 1])
				model_corrupt(v, "A customer's history is not in product order.");
	}
	for (int64 e = 0; e < m->nnz; e++)
		if (m->hbaskets[e] < 1 || m->hlast[e] < -36524 || m->hlast[e] > 73049)
			model_corrupt(v, "Its history holds a count or a day out of range.");
	if (m->ref_day < -36524 || m->ref_day > 73049)
		model_corrupt(v, "Its last day is out of range.");
	check_finite(v, m->pop_rep, m->ni, 0, "popularity");
	check_finite(v, m->pop_new, m->ni, 0, "popularity");
	check_finite(v, m->wrep, m->nnz, 0, "recency weights");
	check_finite(v, m->wnew, m->nnz, 0, "recency weights");
	check_finite(v, m->x, (Size) m->nu * m->f, -HUGE_VAL, "customer factors");
	check_finite(v, m->y, (Size) m->ni * m->f, -HUGE_VAL, "product factors");
	check_finite(v, m->nb.sim, (Size) m->ni * m->k, 0, "similarities");
	return m;
}

static RecCache *
get_model(FunctionCallInfo fcinfo)
{
	RecCache   *c = (RecCache *) fcinfo->flinfo->fn_extra;
	Datum		d = PG_GETARG_DATUM(0);
	Size		size = toast_raw_datum_size(d);
	bytea	   *head = DatumGetByteaPSlice(d, 0, KEY_BYTES);
	char		key[KEY_BYTES];
	MemoryContext old;

	memset(key, 0, sizeof(key));
	memcpy(key, VARDATA_ANY(head), Min(VARSIZE_ANY_EXHDR(head), KEY_BYTES));
	if (c != NULL && c->m != NULL && c->size == size && memcmp(c->key, key, KEY_BYTES) == 0)
		return c;
	if (c == NULL)
	{
		c = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RecCache));
		c->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "retailiq recommender",
									   ALLOCSET_DEFAULT_SIZES);
		fcinfo->flinfo->fn_extra = c;
	}
	MemoryContextReset(c->cxt);
	c->m = NULL;
	c->peer_hash = 0;
	old = MemoryContextSwitchTo(c->cxt);
	{
		RecModel   *m = decode_model(PG_GETARG_MODEL_P(0));

		rec_scores_alloc(&c->s, m->ni);
		c->banned = palloc(sizeof(bool) * m->ni);
		c->out = palloc(sizeof(int32) * m->ni);
		c->score = palloc(sizeof(double) * m->ni);
		c->peer_pop = palloc(sizeof(double) * m->ni);
		c->m = m;
	}
	MemoryContextSwitchTo(old);
	c->size = size;
	memcpy(c->key, key, KEY_BYTES);
	return c;
}

/* a JSON array of integer ids */
static int64 *
option_ids(JsonbValue *v, const char *key, int *n)
{
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int64	   *ids;
	int			cap = 16;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be a JSON array of ids", key),
				 errhint("For example '{\"%s\": [101, 102]}'.", key)));
	ids = palloc(sizeof(int64) * cap);
	*n = 0;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *txt;
		bool		ok = e.type == jbvNumeric;

		if (tok != WJB_ELEM)
			continue;
		if (ok)
		{
			txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(e.val.numeric)));
			for (char *p = txt + (*txt == '-'); *p && ok; p++)
				ok = *p >= '0' && *p <= '9';
			ok = ok && strlen(txt) <= 20;
		}
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" must be a JSON array of ids", key),
					 errdetail("An element is not a whole number."),
					 errhint("For example '{\"%s\": [101, 102]}'.", key)));
		if (*n == cap)
		{
			if (cap >= 10000000)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("option \"%s\" holds more than %d ids", key, cap)));
			cap *= 2;
			ids = repalloc(ids, sizeof(int64) * cap);
		}
		ids[(*n)++] = pg_strtoint64(txt);
	}
	return ids;
}

static void
parse_options(FunctionCallInfo fcinfo, int argno, RecOptions *o)
{
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	o->repeat = true;
	o->method = METHOD_BLEND;
	o->nexclude = 0;
	o->nonly = -1;
	o->npeers = -1;
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	jb = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("For example '{\"repeat\": false, \"exclude\": [101]}'.")));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && key != NULL)
		{
			if (v.type == jbvNull)
				continue;
			if (strcmp(key, "repeat") == 0)
			{
				if (v.type != jbvBool)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"repeat\" must be true or false"),
							 errhint("true lets a customer's past products be recommended; false recommends new products only.")));
				o->repeat = v.val.boolean;
			}
			else if (strcmp(key, "method") == 0)
			{
				static const char *const names[] = {"blend", "own", "als", "item", "popularity"};
				bool		found = false;

				for (int k = 0; k < (int) lengthof(names) && v.type == jbvString; k++)
					if (v.val.string.len == (int) strlen(names[k]) &&
						memcmp(v.val.string.val, names[k], v.val.string.len) == 0)
					{
						o->method = (RecMethod) k;
						found = true;
					}
				if (!found)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("option \"method\" must be \"blend\", \"own\", \"als\", \"item\" or \"popularity\""),
							 errhint("\"blend\" (the default) mixes the others with the weights chosen by validation.")));
			}
			else if (strcmp(key, "exclude") == 0)
				o->exclude = option_ids(&v, key, &o->nexclude);
			else if (strcmp(key, "only") == 0)
				o->only = option_ids(&v, key, &o->nonly);
			else if (strcmp(key, "peers") == 0)
				o->peers = option_ids(&v, key, &o->npeers);
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown option \"%s\"", key),
						 errhint("The options are repeat, method, exclude, only and peers.")));
		}
	}
}

/* Popularity: over the whole history, or the baskets of the peers (cached by their list). */
static const double *
popularity(RecCache *c, const RecOptions *o)
{
	RecModel   *m = c->m;
	uint64		h = 0x9e3779b97f4a7c15ULL;
	/* as the mode's own popularity: baskets, or the peers who bought it (first purchases) */
	bool		first = o->repeat ? m->repeat.pop_first : m->fresh.pop_first;

	if (o->npeers < 0)
		return o->repeat ? m->pop_rep : m->pop_new;
	for (int p = 0; p < o->npeers; p++)
		h = riq_mix64(h, (uint64) o->peers[p]);
	h = riq_mix64(h, (uint64) o->npeers);
	h = riq_mix64(h, first ? 1 : 0) | 1;
	if (h == c->peer_hash)
		return c->peer_pop;
	memset(c->peer_pop, 0, sizeof(double) * m->ni);
	for (int p = 0; p < o->npeers; p++)
	{
		int			u = rec_find_id(m->cust, m->nu, o->peers[p]);

		CHECK_FOR_INTERRUPTS();
		if (u < 0)
			continue;
		for (int64 e = m->hptr[u]; e < m->hptr[u + 1]; e++)
			c->peer_pop[m->hitem[e]] += first ? 1.0 : (double) m->hbaskets[e];
	}
	c->peer_hash = h;
	return c->peer_pop;
}

/* the products every customer may get under these options */
static void
base_bans(RecCache *c, const RecOptions *o)
{
	RecModel   *m = c->m;

	memset(c->banned, o->nonly >= 0 ? 1 : 0, sizeof(bool) * m->ni);
	for (int t = 0; t < o->nonly; t++)
	{
		int			i = rec_find_id(m->prod, m->ni, o->only[t]);

		if (i >= 0)
			c->banned[i] = false;
	}
	for (int t = 0; t < o->nexclude; t++)
	{
		int			i = rec_find_id(m->prod, m->ni, o->exclude[t]);

		if (i >= 0)
			c->banned[i] = true;
	}
}

static char *
format_day(int64 day)
{
	int			y,
				mo,
				d;

	j2date((int) day + POSTGRES_EPOCH_JDATE, &y, &mo, &d);
	return psprintf("%04d-%02d-%02d", y, mo, d);
}

/*
 * Rank the products for customer index u (-1: not in the model) and emit up to n rows.
 * A customer's own past products are banned only while this call runs (new products only).
 */
static void
recommend_one(RecCache *c, const RecOptions *o, int u, int n, Tuplestorestate *ts, TupleDesc td,
			  bool with_customer, int64 customer_id)
{
	RecModel   *m = c->m;
	const double *pop = popularity(c, o);
	const RecBlend *b = o->repeat ? &m->repeat : &m->fresh;
	RecBlend	cold = {0, 0, 0, 0, 1};
	RecBlend	single = {0, 0, 1, 1, 1};
	int64		e0 = u >= 0 ? m->hptr[u] : 0;
	int			nh = u >= 0 ? (int) (m->hptr[u + 1] - e0) : 0;
	bool	   *own_banned = palloc(sizeof(bool) * Max(nh, 1));
	int			got;

	if (nh == 0)
		b = &cold;
	rec_scores_history(&c->s, m->hitem + e0, (o->repeat ? m->wrep : m->wnew) + e0, nh, &m->nb, m->k);
	rec_scores_als(&c->s, nh > 0 ? m->x + (Size) u * m->f : NULL, m->y, m->f);
	rec_scores_pop(&c->s, pop);
	for (int t = 0; t < nh; t++)
	{
		own_banned[t] = c->banned[m->hitem[e0 + t]];
		if (!o->repeat)
			c->banned[m->hitem[e0 + t]] = true;
	}
	rec_scores_scale(&c->s, c->banned, REC_ALL);
	if (o->method != METHOD_BLEND)
	{
		/* one component, unscaled: the raw score of that method */
		b = &single;
		memset(c->s.scale, 0, sizeof(c->s.scale));
		c->s.scale[o->method == METHOD_OWN ? 0 : o->method == METHOD_ALS ? 1 :
				   o->method == METHOD_ITEM ? 2 : 3] = 1.0;
	}
	got = rec_top(&c->s, b, NULL, 0, c->banned, n, c->out, c->score);
	for (int t = 0; t < nh; t++)
		c->banned[m->hitem[e0 + t]] = own_banned[t];
	pfree(own_banned);

	for (int r = 0; r < got; r++)
	{
		int			i = c->out[r];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};
		double		parts[4];
		int			best = 3;
		char	   *reason;
		int			col = 0;

		parts[0] = c->s.scale[0] * c->s.own[i];
		parts[1] = b->w_als * c->s.scale[1] * c->s.als[i];
		parts[2] = b->w_knn * c->s.scale[2] * c->s.knn[i];
		parts[3] = b->w_pop * c->s.scale[3] * c->s.pop[i];
		if (nh > 0 || o->method != METHOD_BLEND)
		{
			best = 0;
			for (int k = 1; k < 4; k++)
				if (parts[k] > parts[best])
					best = k;
			if (o->method != METHOD_BLEND)
				best = o->method == METHOD_OWN ? 0 : o->method == METHOD_ALS ? 1 :
					o->method == METHOD_ITEM ? 2 : 3;
			/* a product with nothing from its method is a popularity fill */
			if (parts[best] <= 0)
				best = 3;
		}
		if (best == 0)
		{
			int			lo = 0,
						hi = nh - 1;
			int64		e = -1;

			while (lo <= hi)
			{
				int			mid = lo + (hi - lo) / 2;

				if (m->hitem[e0 + mid] == i)
				{
					e = e0 + mid;
					break;
				}
				if (m->hitem[e0 + mid] < i)
					lo = mid + 1;
				else
					hi = mid - 1;
			}
			reason = e < 0 ? pstrdup("bought before") :
				psprintf("bought before: in %lld basket%s, last on %s", (long long) m->hbaskets[e],
						 m->hbaskets[e] == 1 ? "" : "s", format_day(m->hlast[e]));
		}
		else if (best == 1)
			reason = pstrdup("customers with similar purchases buy it");
		else if (best == 2 && c->s.knn_from[i] >= 0)
			reason = psprintf("often bought by customers who bought product %lld",
							  (long long) m->prod[c->s.knn_from[i]]);
		else if (o->npeers >= 0)
			reason = pstrdup(nh > 0 ? "popular in the customer's segment" :
							 "popular in the customer's segment (no purchase history)");
		else
			reason = pstrdup(nh > 0 ? "popular" : "popular (no purchase history)");
		if (with_customer)
		{
			values[col++] = Int64GetDatum(customer_id);
			values[col++] = Int32GetDatum(r + 1);
		}
		values[col++] = Int64GetDatum(m->prod[i]);
		values[col++] = Float8GetDatum(c->score[r]);
		values[col++] = CStringGetTextDatum(reason);
		tuplestore_putvalues(ts, td, values, nulls);
	}
}

static int
get_n(FunctionCallInfo fcinfo, int argno)
{
	int32		n;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n must not be NULL"),
				 errhint("Pass how many products to recommend, e.g. 10.")));
	n = PG_GETARG_INT32(argno);
	if (n < 1 || n > REC_MAX_N)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 1 and %d", REC_MAX_N),
				 errdetail("n is %d.", n),
				 errhint("Ask for the number of products to show, e.g. 10.")));
	return n;
}

static void
need_model(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL"),
				 errhint("Pass a model trained by retailiq.recommender_fit (it is NULL when it saw no purchase lines).")));
}

PG_FUNCTION_INFO_V1(recommend_for_customer);
Datum
recommend_for_customer(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RecCache   *c;
	RecOptions	o;
	int			n;
	int64		customer;

	need_model(fcinfo);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("customer must not be NULL"),
				 errhint("Pass the customer's id; a customer the model has not seen gets what sells.")));
	customer = PG_GETARG_INT64(1);
	n = get_n(fcinfo, 2);
	parse_options(fcinfo, 3, &o);
	c = get_model(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	base_bans(c, &o);
	recommend_one(c, &o, rec_find_id(c->m->cust, c->m->nu, customer), Min(n, c->m->ni),
				  rsinfo->setResult, rsinfo->setDesc, false, customer);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(recommend_for_customers);
Datum
recommend_for_customers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RecCache   *c;
	RecOptions	o;
	int			n;
	MemoryContext old,
				row;

	need_model(fcinfo);
	n = get_n(fcinfo, 1);
	parse_options(fcinfo, 2, &o);
	c = get_model(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	base_bans(c, &o);
	row = AllocSetContextCreate(CurrentMemoryContext, "recommend_for_customers", ALLOCSET_DEFAULT_SIZES);
	for (int u = 0; u < c->m->nu; u++)
	{
		CHECK_FOR_INTERRUPTS();
		old = MemoryContextSwitchTo(row);
		recommend_one(c, &o, u, Min(n, c->m->ni), rsinfo->setResult, rsinfo->setDesc, true,
					  c->m->cust[u]);
		MemoryContextSwitchTo(old);
		MemoryContextReset(row);
	}
	MemoryContextDelete(row);
	return (Datum) 0;
}
