/*
 * recommend_fit.c: recommender_fit's final function: validation, the fit on the whole history,
 * and the model.
 *
 * The model keeps what prediction needs and nothing it could recompute cheaply: the sorted
 * customer and product ids, each customer's products with their basket counts, last purchase
 * day and recency-weighted counts under each mode's half-life, product popularity, the ALS
 * factors and each product's neighbours. The validation evidence goes to the metrics section.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/agg_state.h"
#include "core/memory.h"
#include "core/model.h"
#include "marketing/recommend.h"

static int
cmp_int64(const void *pa, const void *pb)
{
	int64		a = *(const int64 *) pa;
	int64		b = *(const int64 *) pb;

	return a < b ? -1 : (a > b);
}

static void
put_blend(ModelBuilder *mb, const char *prefix, const RecBlend *b)
{
	char		key[64];

	snprintf(key, sizeof(key), "%s_half_life", prefix);
	model_put_float(mb, MODEL_PARAMS, key, b->half_life);
	snprintf(key, sizeof(key), "%s_pop_half_life", prefix);
	model_put_float(mb, MODEL_PARAMS, key, b->pop_half_life);
	snprintf(key, sizeof(key), "%s_w_als", prefix);
	model_put_float(mb, MODEL_PARAMS, key, b->w_als);
	snprintf(key, sizeof(key), "%s_w_knn", prefix);
	model_put_float(mb, MODEL_PARAMS, key, b->w_knn);
	snprintf(key, sizeof(key), "%s_w_pop", prefix);
	model_put_float(mb, MODEL_PARAMS, key, b->w_pop);
	snprintf(key, sizeof(key), "%s_pop_first", prefix);
	model_put_bool(mb, MODEL_PARAMS, key, b->pop_first);
}

PG_FUNCTION_INFO_V1(recommender_fit_final);
Datum
recommender_fit_final(PG_FUNCTION_ARGS)
{
	RecState   *s;
	RecFitOptions o;
	MemoryContext work,
				old;
	int64		n;
	int64	   *cust,
			   *prod;
	int32	   *ucode,
			   *icode;
	int			nu = 0,
				ni = 0;
	RecValidation v;
	RecData    *d;
	RecAls		als;
	RecNeighbours *nb;
	ModelBuilder *mb;
	bytea	   *result;
	int			dims[2];

	(void) riq_agg_context(fcinfo, "recommender_fit_final");
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	s = (RecState *) PG_GETARG_POINTER(0);
	if (s->n == 0)
		PG_RETURN_NULL();
	o = s->opt;
	n = s->n;
	work = AllocSetContextCreate(CurrentMemoryContext, "recommender_fit", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	rec_sort_lines(s->lines, n);
	/* customers: runs of the sorted lines; products: sorted distinct ids */
	cust = riq_alloc(work, riq_mul_size(n, sizeof(int64), "recommender_fit"), "recommender_fit");
	prod = riq_alloc(work, riq_mul_size(n, sizeof(int64), "recommender_fit"), "recommender_fit");
	ucode = riq_alloc(work, riq_mul_size(n, sizeof(int32), "recommender_fit"), "recommender_fit");
	icode = riq_alloc(work, riq_mul_size(n, sizeof(int32), "recommender_fit"), "recommender_fit");
	for (int64 l = 0; l < n; l++)
	{
		if (l == 0 || s->lines[l].customer != s->lines[l - 1].customer)
		{
			if (nu == PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("recommender_fit takes at most %d customers", PG_INT32_MAX)));
			cust[nu++] = s->lines[l].customer;
		}
		ucode[l] = nu - 1;
		prod[l] = s->lines[l].product;
	}
	qsort(prod, n, sizeof(int64), cmp_int64);
	for (int64 l = 0; l < n; l++)
		if (l == 0 || prod[l] != prod[l - 1])
			prod[ni++] = prod[l];
	for (int64 l = 0; l < n; l++)
	{
		icode[l] = rec_find_id(prod, ni, s->lines[l].product);
		if ((l & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
	}

	rec_validate(s->lines, n, ucode, icode, nu, ni, &o, &v);

	d = rec_data_build(s->lines, n, ucode, icode, NULL, nu, ni);
	als = v.als;
	rec_als_fit(d, &als);
	nb = rec_knn_build(d, v.neighbours, v.knn_beta);

	mb = model_begin(MODEL_KIND_RECOMMENDER);
	model_put_int(mb, MODEL_PARAMS, "factors", als.factors);
	model_put_float(mb, MODEL_PARAMS, "lambda", als.lambda);
	model_put_float(mb, MODEL_PARAMS, "alpha", als.alpha);
	model_put_float(mb, MODEL_PARAMS, "als_half_life", als.half_life);
	model_put_int(mb, MODEL_PARAMS, "iterations", als.iterations);
	model_put_int(mb, MODEL_PARAMS, "seed", als.seed);
	model_put_int(mb, MODEL_PARAMS, "neighbours", v.neighbours);
	model_put_float(mb, MODEL_PARAMS, "neighbour_weighting", v.knn_beta);
	model_put_text(mb, MODEL_PARAMS, "confidence", als.confidence == REC_CONF_BM25 ? "bm25" : "linear");
	model_put_bool(mb, MODEL_PARAMS, "validated", v.customers > 0);
	put_blend(mb, "repeat", &v.repeat);
	put_blend(mb, "new", &v.fresh);

	model_put_int(mb, MODEL_METRICS, "lines", n);
	model_put_int(mb, MODEL_METRICS, "skipped_rows", s->skipped);
	model_put_int(mb, MODEL_METRICS, "customers", nu);
	model_put_int(mb, MODEL_METRICS, "products", ni);
	model_put_int(mb, MODEL_METRICS, "validation_customers", v.customers);
	if (v.customers > 0)
	{
		static const char *const cols[REC_GRID_COLS] = {
			"factors", "lambda", "alpha", "als_half_life", "half_life", "pop_half_life", "repeat",
			"w_als", "w_knn", "w_pop", "ndcg10", "recall10", "neighbours", "neighbour_weighting",
			"confidence", "pop_first"
		};

		model_put_float(mb, MODEL_METRICS, "validation_repeat_ndcg10", v.repeat_ndcg);
		model_put_float(mb, MODEL_METRICS, "validation_repeat_recall10", v.repeat_recall);
		model_put_float(mb, MODEL_METRICS, "validation_new_ndcg10", v.fresh_ndcg);
		model_put_float(mb, MODEL_METRICS, "validation_new_recall10", v.fresh_recall);
		model_put_float(mb, MODEL_METRICS, "baseline_own_top_ndcg10", v.own_top_ndcg);
		model_put_float(mb, MODEL_METRICS, "baseline_own_top_recall10", v.own_top_recall);
		model_put_float(mb, MODEL_METRICS, "baseline_knn_new_ndcg10", v.knn_fresh_ndcg);
		model_put_float(mb, MODEL_METRICS, "baseline_knn_new_recall10", v.knn_fresh_recall);
		model_put_float(mb, MODEL_METRICS, "baseline_popularity_new_ndcg10", v.pop_ndcg);
		model_put_float(mb, MODEL_METRICS, "baseline_popularity_new_recall10", v.pop_recall);
		dims[0] = v.grid_rows;
		dims[1] = REC_GRID_COLS;
		model_put_float_array(mb, MODEL_METRICS, "validation_grid", v.grid, 2, dims);
		model_put_text_array(mb, MODEL_METRICS, "validation_grid_columns", cols, REC_GRID_COLS);
	}

	/* the history, with each entry's counts and recency weights under both modes */
	{
		int64	   *uptr64 = d->uptr;
		int64	   *items = REC_ALLOC(d->nnz, int64);
		int64	   *baskets = REC_ALLOC(d->nnz, int64);
		int64	   *lastday = REC_ALLOC(d->nnz, int64);
		double	   *wrep = REC_ALLOC(d->nnz, double);
		double	   *wnew = REC_ALLOC(d->nnz, double);

		rec_entry_weights(d, v.repeat.half_life, wrep);
		rec_entry_weights(d, v.fresh.half_life, wnew);
		for (int64 e = 0; e < d->nnz; e++)
		{
			items[e] = d->item[e];
			baskets[e] = d->dptr[e + 1] - d->dptr[e];
			lastday[e] = d->days[d->dptr[e + 1] - 1];
		}
		dims[0] = nu;
		model_put_int_array(mb, MODEL_DATA, "customer_ids", cust, 1, dims);
		dims[0] = ni;
		model_put_int_array(mb, MODEL_DATA, "product_ids", prod, 1, dims);
		{
			double	   *pop = palloc(sizeof(double) * ni);

			rec_popularity(d, v.repeat.pop_half_life, v.repeat.pop_first, pop);
			model_put_float_array(mb, MODEL_DATA, "repeat_popularity", pop, 1, dims);
			rec_popularity(d, v.fresh.pop_half_life, v.fresh.pop_first, pop);
			model_put_float_array(mb, MODEL_DATA, "new_popularity", pop, 1, dims);
		}
		model_put_int(mb, MODEL_DATA, "ref_day", d->ref_day);
		dims[0] = nu + 1;
		model_put_int_array(mb, MODEL_DATA, "history_ptr", uptr64, 1, dims);
		dims[0] = (int) d->nnz;
		model_put_int_array(mb, MODEL_DATA, "history_product", items, 1, dims);
		model_put_int_array(mb, MODEL_DATA, "history_baskets", baskets, 1, dims);
		model_put_int_array(mb, MODEL_DATA, "history_last_day", lastday, 1, dims);
		model_put_float_array(mb, MODEL_DATA, "history_repeat_weight", wrep, 1, dims);
		model_put_float_array(mb, MODEL_DATA, "history_new_weight", wnew, 1, dims);
	}
	dims[0] = nu;
	dims[1] = als.factors;
	model_put_float_array(mb, MODEL_DATA, "customer_factors", als.x, 2, dims);
	dims[0] = ni;
	model_put_float_array(mb, MODEL_DATA, "product_factors", als.y, 2, dims);
	{
		int64	   *nbi = palloc(sizeof(int64) * (Size) ni * nb->k);

		for (Size k = 0; k < (Size) ni * nb->k; k++)
			nbi[k] = nb->item[k];
		dims[1] = nb->k;
		model_put_int_array(mb, MODEL_DATA, "neighbour_product", nbi, 2, dims);
		model_put_float_array(mb, MODEL_DATA, "neighbour_similarity", nb->sim, 2, dims);
	}
	MemoryContextSwitchTo(old);
	result = model_finish(mb);
	MemoryContextDelete(work);
	PG_RETURN_BYTEA_P(result);
}
