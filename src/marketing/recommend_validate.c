/*
 * recommend_validate.c: choosing the recommender's settings on the caller's own history.
 *
 * Every customer with at least two purchase days (up to max_validation_customers of them, drawn
 * by a seeded hash of the id) has the products of his last purchase day held back; the rest of
 * the history trains. For each ALS setting tried (a coordinate search: confidence alpha x
 * regularisation lambda, then the recency of the confidences, then the number of factors), ALS
 * and the neighbours are fitted on the shortened history and every blend of the grid below is
 * scored by NDCG@10 against the held-back baskets, in both modes: repeat purchases allowed, and
 * new products only (the customer's past products excluded; the held-back basket is still the
 * whole basket, as in the usual protocol). The ALS setting is the one best for new products
 * (where the factors matter; repeat purchases are led by the customer's own history), and each
 * mode keeps its best blend under it. The best row of each (setting, recency, mode) is kept as
 * the evidence model_info shows.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "core/memory.h"
#include "core/rng.h"
#include "marketing/recommend.h"

#define TOPN 10
#define CAND 60

static const double half_lives[] = {-1, 0, 14, 60, 240};
#define NHL ((int) lengthof(half_lives))
static const double w_grid[] = {0, 0.1, 0.3, 1};
static const double w_pop_grid[] = {0, 0.05, 0.2};
#define NW ((int) lengthof(w_grid))
#define NP ((int) lengthof(w_pop_grid))
#define NCOMBO (NW * NW * NP)

typedef struct AlsSetting
{
	int			factors;
	double		lambda;
	double		alpha;
	double		half_life;
} AlsSetting;

static void
combo_blend(int c, double half_life, RecBlend *b)
{
	b->half_life = half_life;
	b->w_als = w_grid[c / (NW * NP)];
	b->w_knn = w_grid[(c / NP) % NW];
	b->w_pop = w_pop_grid[c % NP];
}

/* (hash, index) pairs by hash, then index */
static int
cmp_hash_pair(const void *pa, const void *pb)
{
	const uint64 *a = pa;
	const uint64 *b = pb;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : (a[1] > b[1]);
}

typedef struct ValSet
{
	RecData    *d;
	RecNeighbours *nb;
	int			nval;
	int32	   *vu;				/* validated customers (indexes) */
	int64	   *tptr;			/* nval + 1 offsets into titem */
	int32	   *titem;			/* held-back products */
} ValSet;

/* Scores of one ALS setting: sums over customers per (half-life, mode, combo). */
static void
score_setting(const ValSet *vs, const RecAls *als, int knn_k, double *ndcg, double *recall)
{
	const RecData *d = vs->d;
	RecScores	s;
	bool	   *mark = palloc0(sizeof(bool) * Max(d->ni, 1));
	bool	   *truth = palloc0(sizeof(bool) * Max(d->ni, 1));
	bool	   *own = palloc0(sizeof(bool) * Max(d->ni, 1));
	int32	   *cand = palloc(sizeof(int32) * Max(d->ni, 1));
	double	   *w = palloc(sizeof(double) * Max(d->nnz, 1));
	double		disc[TOPN];
	int32		top[TOPN];
	double		topv[TOPN];

	for (int r = 0; r < TOPN; r++)
		disc[r] = 1.0 / log2(r + 2.0);
	rec_scores_alloc(&s, d->ni);
	memset(ndcg, 0, sizeof(double) * NHL * 2 * NCOMBO);
	memset(recall, 0, sizeof(double) * NHL * 2 * NCOMBO);
	for (int h = 0; h < NHL; h++)
	{
		rec_entry_weights(d, half_lives[h], w);
		for (int v = 0; v < vs->nval; v++)
		{
			int			u = vs->vu[v];
			int64		nt = vs->tptr[v + 1] - vs->tptr[v];
			double		idcg = 0;
			int			nc;
			int64		e0 = d->uptr[u];
			int			nh = (int) (d->uptr[u + 1] - e0);

			CHECK_FOR_INTERRUPTS();
			for (int r = 0; r < Min(nt, TOPN); r++)
				idcg += disc[r];
			for (int64 t = vs->tptr[v]; t < vs->tptr[v + 1]; t++)
				truth[vs->titem[t]] = true;
			for (int t = 0; t < nh; t++)
				own[d->item[e0 + t]] = true;
			rec_scores_customer(&s, d->item + e0, w + e0, nh, als->x + (Size) u * als->factors,
								als->y, als->factors, vs->nb, knn_k, d->pop);
			nc = rec_candidates(&s, CAND, mark, cand);
			for (int mode = 0; mode < 2; mode++)
				for (int c = 0; c < NCOMBO; c++)
				{
					RecBlend	b;
					int			got;
					double		dcg = 0,
								hits = 0;
					Size		slot = ((Size) h * 2 + mode) * NCOMBO + c;

					combo_blend(c, half_lives[h], &b);
					got = rec_top(&s, &b, cand, nc, mode == 1 ? own : NULL, TOPN, top, topv);
					for (int r = 0; r < got; r++)
						if (truth[top[r]])
						{
							dcg += disc[r];
							hits += 1;
						}
					ndcg[slot] += dcg / idcg;
					recall[slot] += hits / (double) nt;
				}
			for (int64 t = vs->tptr[v]; t < vs->tptr[v + 1]; t++)
				truth[vs->titem[t]] = false;
			for (int t = 0; t < nh; t++)
				own[d->item[e0 + t]] = false;
		}
	}
	pfree(mark);
	pfree(truth);
	pfree(own);
	pfree(cand);
	pfree(w);
}

static void
set_defaults(const RecFitOptions *o, RecValidation *v)
{
	v->als.factors = o->factors > 0 ? o->factors : 32;
	v->als.lambda = o->lambda > 0 ? o->lambda : 10;
	v->als.alpha = o->alpha >= 0 ? o->alpha : 10;
	v->als.half_life = 0;
	v->als.iterations = o->iterations;
	v->als.seed = o->seed;
	v->repeat = (RecBlend) {0, 0.1, 0.1, 0.05};
	v->fresh = (RecBlend) {0, 1, 0.5, 0.05};
}

void
rec_validate(const RecLine *lines, int64 n, const int32 *ucode, const int32 *icode,
			 int nu, int ni, const RecFitOptions *o, RecValidation *v)
{
	int32	   *last = palloc(sizeof(int32) * Max(nu, 1));
	bool	   *multi = palloc0(sizeof(bool) * Max(nu, 1));
	bool	   *chosen = palloc0(sizeof(bool) * Max(nu, 1));
	bool	   *keep;
	uint64	   *order;
	int			neligible = 0;
	ValSet		vs;
	AlsSetting	tried[16];
	int			ntried = 0;
	double	   *ndcg = palloc(sizeof(double) * NHL * 2 * NCOMBO);
	double	   *recall = palloc(sizeof(double) * NHL * 2 * NCOMBO);
	double		best_fresh = -1;
	int			stage;

	memset(v, 0, sizeof(*v));
	set_defaults(o, v);
	for (int u = 0; u < nu; u++)
		last[u] = PG_INT32_MIN;
	for (int64 l = 0; l < n; l++)
	{
		int			u = ucode[l];

		if (last[u] != PG_INT32_MIN && lines[l].day != last[u])
			multi[u] = true;
		last[u] = Max(last[u], lines[l].day);
	}
	/* the validated customers: a seeded hash order of the ids, the first max of them */
	order = palloc(sizeof(uint64) * Max(nu, 1) * 2);
	for (int64 l = 0; l < n; l++)
		if (multi[ucode[l]] && (l == 0 || ucode[l - 1] != ucode[l]))
		{
			order[2 * neligible] = riq_mix64((uint64) o->seed, (uint64) lines[l].customer);
			order[2 * neligible + 1] = (uint64) ucode[l];
			neligible++;
		}
	if (!o->validate || neligible < 10)
		return;
	qsort(order, neligible, 2 * sizeof(uint64), cmp_hash_pair);
	vs.nval = Min(neligible, o->max_validation_customers);
	for (int i = 0; i < vs.nval; i++)
		chosen[order[2 * i + 1]] = true;
	keep = palloc(sizeof(bool) * Max(n, 1));
	for (int64 l = 0; l < n; l++)
		keep[l] = !(chosen[ucode[l]] && lines[l].day == last[ucode[l]]);
	vs.d = rec_data_build(lines, n, ucode, icode, keep, nu, ni);
	vs.vu = palloc(sizeof(int32) * vs.nval);
	vs.tptr = palloc(sizeof(int64) * (vs.nval + 1));
	vs.titem = palloc(sizeof(int32) * Max(n, 1));
	{
		int			k = 0;
		int64		t = 0;

		for (int64 l = 0; l < n; l++)
		{
			int			u = ucode[l];

			if (keep[l])
				continue;
			if (k == 0 || vs.vu[k - 1] != u)
			{
				vs.vu[k] = u;
				vs.tptr[k] = t;
				k++;
			}
			if (t == vs.tptr[k - 1] || vs.titem[t - 1] != icode[l])
				vs.titem[t++] = icode[l];
		}
		vs.tptr[k] = t;
		Assert(k == vs.nval);
	}
	vs.nb = rec_knn_build(vs.d, o->neighbours);
	v->customers = vs.nval;
	v->grid = palloc(sizeof(double) * 16 * NHL * 2 * REC_GRID_COLS);

	/*
	 * Coordinate search over the ALS settings the options leave open: (alpha, lambda) on a
	 * grid, then the recency of the confidences, then the number of factors.
	 */
	for (stage = 0; stage < 3; stage++)
	{
		AlsSetting	cands[8];
		int			nc = 0;
		AlsSetting	base = {v->als.factors, v->als.lambda, v->als.alpha, v->als.half_life};

		if (stage == 0)
		{
			static const double alphas[] = {5, 25};
			static const double lambdas[] = {5, 50};

			for (int a = 0; a < 2; a++)
				for (int l = 0; l < 2; l++)
				{
					cands[nc] = base;
					if (o->alpha < 0)
						cands[nc].alpha = alphas[a];
					if (o->lambda < 0)
						cands[nc].lambda = lambdas[l];
					nc++;
				}
		}
		else if (stage == 1)
		{
			cands[nc] = base;
			cands[nc++].half_life = 120;
		}
		else if (o->factors == 0)
		{
			cands[nc] = base;
			cands[nc++].factors = 16;
			cands[nc] = base;
			cands[nc++].factors = 64;
		}
		for (int c = 0; c < nc; c++)
		{
			RecAls		als = v->als;
			bool		seen = false;
			double		best_f = -1;
			MemoryContext fitcxt = AllocSetContextCreate(CurrentMemoryContext, "recommender validation",
														 ALLOCSET_DEFAULT_SIZES);
			MemoryContext old;

			for (int t = 0; t < ntried; t++)
				seen = seen || memcmp(&tried[t], &cands[c], sizeof(AlsSetting)) == 0;
			if (seen || ntried >= 16)
				continue;
			tried[ntried++] = cands[c];
			als.factors = cands[c].factors;
			als.lambda = cands[c].lambda;
			als.alpha = cands[c].alpha;
			als.half_life = cands[c].half_life;
			old = MemoryContextSwitchTo(fitcxt);
			rec_als_fit(vs.d, &als);
			score_setting(&vs, &als, o->neighbours, ndcg, recall);
			MemoryContextSwitchTo(old);
			for (int h = 0; h < NHL; h++)
				for (int mode = 0; mode < 2; mode++)
				{
					int			bc = -1;
					double		bn = -1;
					double	   *row = v->grid + (Size) v->grid_rows * REC_GRID_COLS;
					RecBlend	b;

					for (int k = 0; k < NCOMBO; k++)
					{
						Size		slot = ((Size) h * 2 + mode) * NCOMBO + k;

						if (ndcg[slot] > bn)
						{
							bn = ndcg[slot];
							bc = k;
						}
					}
					combo_blend(bc, half_lives[h], &b);
					row[0] = als.factors;
					row[1] = als.lambda;
					row[2] = als.alpha;
					row[3] = als.half_life;
					row[4] = b.half_life;
					row[5] = mode == 0 ? 1 : 0;
					row[6] = b.w_als;
					row[7] = b.w_knn;
					row[8] = b.w_pop;
					row[9] = bn / vs.nval;
					/* recall of the same blend */
					row[10] = recall[((Size) h * 2 + mode) * NCOMBO + bc] / vs.nval;
					v->grid_rows++;
					if (mode == 1 && bn > best_f)
						best_f = bn;
				}
			/* the baselines, from the first setting: they do not depend on ALS */
			if (ntried == 1)
			{
				/* own basket counts alone, ties by popularity: the customer's most-bought */
				Size		own_slot = ((Size) 1 * 2 + 0) * NCOMBO + 0;
				/* binary neighbours alone, new products only */
				Size		knn_slot = ((Size) 0 * 2 + 1) * NCOMBO + (0 * NW + 3) * NP + 0;
				/* popularity alone (the tie-break), new products only */
				Size		pop_slot = ((Size) 0 * 2 + 1) * NCOMBO + 0;

				v->own_top_ndcg = ndcg[own_slot] / vs.nval;
				v->own_top_recall = recall[own_slot] / vs.nval;
				v->knn_fresh_ndcg = ndcg[knn_slot] / vs.nval;
				v->knn_fresh_recall = recall[knn_slot] / vs.nval;
				v->pop_ndcg = ndcg[pop_slot] / vs.nval;
				v->pop_recall = recall[pop_slot] / vs.nval;
			}
			if (best_f > best_fresh)
			{
				best_fresh = best_f;
				v->als.factors = als.factors;
				v->als.lambda = als.lambda;
				v->als.alpha = als.alpha;
				v->als.half_life = als.half_life;
				/* the blends of both modes under this setting */
				for (int mode = 0; mode < 2; mode++)
				{
					double		bn = -1;

					for (int h = 0; h < NHL; h++)
						for (int k = 0; k < NCOMBO; k++)
						{
							Size		slot = ((Size) h * 2 + mode) * NCOMBO + k;

							if (ndcg[slot] > bn)
							{
								bn = ndcg[slot];
								combo_blend(k, half_lives[h], mode == 0 ? &v->repeat : &v->fresh);
								if (mode == 0)
								{
									v->repeat_ndcg = ndcg[slot] / vs.nval;
									v->repeat_recall = recall[slot] / vs.nval;
								}
								else
								{
									v->fresh_ndcg = ndcg[slot] / vs.nval;
									v->fresh_recall = recall[slot] / vs.nval;
								}
							}
						}
				}
			}
			MemoryContextDelete(fitcxt);
		}
	}
}
