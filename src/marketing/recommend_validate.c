/*
 * recommend_validate.c: choosing the recommender's settings on the caller's own history.
 *
 * Every customer with at least two purchase days (up to max_validation_customers of them, drawn
 * by a seeded hash of the id) has the products of his last purchase day held back; the rest of
 * the history trains. For each ALS setting tried (a coordinate search: confidence alpha x
 * regularisation lambda, the number of factors, the number of neighbours kept), ALS
 * and the neighbours are fitted on the shortened history and every blend of the grid below is
 * scored by NDCG@10 against the held-back baskets, in both modes: repeat purchases allowed, and
 * new products only (the customer's past products excluded; the held-back basket is still the
 * whole basket, as in the usual protocol). Popularity is tried counting every basket and, in
 * the best cell of each mode, counting only first purchases (rec_popularity). The ALS
 * setting is the one best for new products
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
#define VAL_ITERATIONS 6

static const double half_lives[] = {-1, 0, 14, 60, 240};
static const double pop_half_lives[] = {0, 4, 10, 30};
#define NHL ((int) lengthof(half_lives))
/* popularity: each half-life counting all baskets, then each counting first purchases only */
#define NPH ((int) lengthof(pop_half_lives))
#define NHP (2 * NPH)
#define POP_HL(hp) (pop_half_lives[(hp) % NPH])
#define POP_FIRST(hp) ((hp) >= NPH)
static const double w_grid[] = {0, 0.1, 0.3, 0.6, 1};
static const double w_pop_grid[] = {0, 0.05, 0.2, 0.5, 1};
#define NW ((int) lengthof(w_grid))
#define NP ((int) lengthof(w_pop_grid))
#define NCOMBO (NW * NW * NP)
#define NCELL (NHP * NHL * 2)
#define NSLOT (NCELL * NCOMBO)
#define CELL(hp, h, mode) (((hp) * NHL + (h)) * 2 + (mode))
#define SLOT(hp, h, mode, c) ((Size) CELL(hp, h, mode) * NCOMBO + (c))

typedef struct AlsSetting
{
	int			factors;
	double		lambda;
	double		alpha;
	double		half_life;
	int			neighbours;
	double		beta;			/* customer weighting of the neighbours (rec_knn_build) */
	int			confidence;		/* REC_CONF_* */
} AlsSetting;

/* the customer weightings of the neighbours tried: none (plain cosine), 1 / sqrt(|I_u|) */
#define REC_KNN_BETA 0.5

static void
combo_blend(int c, int hp, int h, RecBlend *b)
{
	b->half_life = half_lives[h];
	b->pop_half_life = POP_HL(hp);
	b->pop_first = POP_FIRST(hp);
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

/* one cell of the grid: (popularity, recency, mode) */
typedef struct Cell
{
	int			hp;
	int			h;
	int			mode;
} Cell;

typedef struct ValSet
{
	RecData    *d;
	RecNeighbours *nb;			/* plain cosine */
	RecNeighbours *nbw;			/* weighted by REC_KNN_BETA */
	int			nval;
	int32	   *vu;				/* validated customers (indexes) */
	int64	   *tptr;			/* nval + 1 offsets into titem */
	int32	   *titem;			/* held-back products */
} ValSet;

/*
 * Every blend of the grid on one customer's candidates: the four scaled components are copied
 * into short arrays first, so each blend is four multiply-adds a candidate and a top 10.
 */
static void
eval_combos(const RecScores *s, const int32 *cand, int nc, const bool *banned, const bool *truth,
			int64 nt, double idcg, double *ndcg, double *recall)
{
	double	   *comp = palloc(sizeof(double) * 5 * Max(nc, 1));
	int32	   *idx = palloc(sizeof(int32) * Max(nc, 1));
	int			m = 0;
	double		disc[TOPN];

	for (int r = 0; r < TOPN; r++)
		disc[r] = 1.0 / log2(r + 2.0);
	for (int t = 0; t < nc; t++)
	{
		int			i = cand[t];

		if (banned != NULL && banned[i])
			continue;
		comp[5 * m] = s->scale[0] * s->own[i];
		comp[5 * m + 1] = s->scale[1] * s->als[i];
		comp[5 * m + 2] = s->scale[2] * s->knn[i];
		comp[5 * m + 3] = s->scale[3] * s->pop[i];
		comp[5 * m + 4] = s->pop[i];
		idx[m++] = i;
	}
	for (int c = 0; c < NCOMBO; c++)
	{
		double		wa = w_grid[c / (NW * NP)],
					wk = w_grid[(c / NP) % NW],
					wp = w_pop_grid[c % NP];
		double		topv[TOPN];
		int			topk[TOPN];
		int			got = 0;
		double		dcg = 0,
					hits = 0;

		for (int t = 0; t < m; t++)
		{
			const double *x = comp + 5 * t;
			double		v = x[0] + wa * x[1] + wk * x[2] + wp * x[3];
			int			p;

			/* the order of rec_top: score, then popularity, then product */
#define BEFORE(va, ta, vb, tb) ((va) != (vb) ? (va) > (vb) : \
	comp[5 * (ta) + 4] != comp[5 * (tb) + 4] ? comp[5 * (ta) + 4] > comp[5 * (tb) + 4] : idx[ta] < idx[tb])
			if (got == TOPN && !BEFORE(v, t, topv[TOPN - 1], topk[TOPN - 1]))
				continue;
			p = got < TOPN ? got++ : TOPN - 1;
			while (p > 0 && BEFORE(v, t, topv[p - 1], topk[p - 1]))
			{
				topv[p] = topv[p - 1];
				topk[p] = topk[p - 1];
				p--;
			}
			topv[p] = v;
			topk[p] = t;
#undef BEFORE
		}
		for (int r = 0; r < got; r++)
			if (truth[idx[topk[r]]])
			{
				dcg += disc[r];
				hits += 1;
			}
		ndcg[c] += dcg / idcg;
		recall[c] += hits / (double) nt;
	}
	pfree(comp);
	pfree(idx);
}

/* Scores of one ALS setting: sums over customers per slot (pop recency, recency, mode, blend). */
static void
score_setting(const ValSet *vs, const RecAls *als, const RecNeighbours *nb, int knn_k, double *const *w,
			  double *const *popv, int32 *const *poptop, const int *npoptop, const bool *cells,
			  double *ndcg, double *recall)
{
	const RecData *d = vs->d;
	RecScores	s;
	bool	   *mark = palloc0(sizeof(bool) * Max(d->ni, 1));
	bool	   *truth = palloc0(sizeof(bool) * Max(d->ni, 1));
	bool	   *own = palloc0(sizeof(bool) * Max(d->ni, 1));
	int32	   *cand = REC_ALLOC(d->ni, int32);
	double		disc[TOPN];
	int32		top[Max(TOPN, CAND)];
	double		topv[Max(TOPN, CAND)];
	int32		alstop[CAND];
	int			nalstop;
	double		alsscale[2];
	double		hscale[2][4];

	for (int r = 0; r < TOPN; r++)
		disc[r] = 1.0 / log2(r + 2.0);
	rec_scores_alloc(&s, d->ni);
	for (int v = 0; v < vs->nval; v++)
	{
		int			u = vs->vu[v];
		int64		nt = vs->tptr[v + 1] - vs->tptr[v];
		double		idcg = 0;
		int64		e0 = d->uptr[u];
		int			nh = (int) (d->uptr[u + 1] - e0);

		CHECK_FOR_INTERRUPTS();
		for (int r = 0; r < Min(nt, TOPN); r++)
			idcg += disc[r];
		for (int64 t = vs->tptr[v]; t < vs->tptr[v + 1]; t++)
			truth[vs->titem[t]] = true;
		for (int t = 0; t < nh; t++)
			own[d->item[e0 + t]] = true;
		rec_scores_als(&s, als->x + (Size) u * als->factors, als->y, als->factors);
		nalstop = rec_top_component(s.als, d->ni, CAND, alstop, topv);
		for (int mode = 0; mode < 2; mode++)
		{
			rec_scores_scale(&s, mode == 1 ? own : NULL, REC_ALS);
			alsscale[mode] = s.scale[1];
		}
		for (int h = 0; h < NHL; h++)
		{
			int			nknn,
						nbase = 0;

			bool		any = false;

			for (int c = 0; c < NCELL; c++)
				any = any || (cells[c] && (c / 2) % NHL == h);
			if (!any)
				continue;
			rec_scores_history(&s, d->item + e0, w[h] + e0, nh, nb, knn_k);
			for (int mode = 0; mode < 2; mode++)
			{
				rec_scores_scale(&s, mode == 1 ? own : NULL, REC_OWN | REC_KNN);
				memcpy(hscale[mode], s.scale, sizeof(s.scale));
			}

			/* candidates: the customer's products and the best few of each other component */
			for (int t = 0; t < nh; t++)
			{
				mark[d->item[e0 + t]] = true;
				cand[nbase++] = d->item[e0 + t];
			}
			nknn = rec_top_component(s.knn, d->ni, CAND, top, topv);
			for (int t = 0; t < nknn + nalstop; t++)
			{
				int32		i = t < nknn ? top[t] : alstop[t - nknn];

				if (!mark[i])
				{
					mark[i] = true;
					cand[nbase++] = i;
				}
			}
			for (int hp = 0; hp < NHP; hp++)
			{
				int			nc = nbase;

				if (!cells[CELL(hp, h, 0)] && !cells[CELL(hp, h, 1)])
					continue;
				rec_scores_pop(&s, popv[hp]);
				for (int t = 0; t < npoptop[hp]; t++)
					if (!mark[poptop[hp][t]])
					{
						mark[poptop[hp][t]] = true;
						cand[nc++] = poptop[hp][t];
					}
				for (int mode = 0; mode < 2; mode++)
				{
					if (!cells[CELL(hp, h, mode)])
						continue;
					/* scales over what each mode may recommend */
					memcpy(s.scale, hscale[mode], sizeof(s.scale));
					s.scale[1] = alsscale[mode];
					rec_scores_scale(&s, mode == 1 ? own : NULL, REC_POP);
					eval_combos(&s, cand, nc, mode == 1 ? own : NULL, truth, nt, idcg,
								ndcg + SLOT(hp, h, mode, 0), recall + SLOT(hp, h, mode, 0));
				}
				for (int t = nbase; t < nc; t++)
					mark[cand[t]] = false;
			}
			for (int t = 0; t < nbase; t++)
				mark[cand[t]] = false;
		}
		for (int64 t = vs->tptr[v]; t < vs->tptr[v + 1]; t++)
			truth[vs->titem[t]] = false;
		for (int t = 0; t < nh; t++)
			own[d->item[e0 + t]] = false;
	}
	pfree(mark);
	pfree(truth);
	pfree(own);
	pfree(cand);
}

static void
set_defaults(const RecFitOptions *o, RecValidation *v)
{
	v->als.factors = o->factors > 0 ? o->factors : 32;
	v->als.lambda = o->lambda > 0 ? o->lambda : 5;
	v->als.alpha = o->alpha >= 0 ? o->alpha : 5;
	v->als.half_life = 120;
	v->als.confidence = o->confidence >= 0 ? o->confidence : REC_CONF_LINEAR;
	v->als.iterations = o->iterations;
	v->als.seed = o->seed;
	v->neighbours = o->neighbours > 0 ? o->neighbours : 20;
	v->knn_beta = o->neighbour_weighting >= 0 ? o->neighbour_weighting : 0;
	/* what validation chose on the Online Retail shared customers (doc/marketing.md) */
	v->repeat = (RecBlend) {240, 10, 0.3, 0, 0.5};
	v->fresh = (RecBlend) {14, 10, 1, 1, 1, true};
}

/* the best blend of a (popularity, recency, mode) cell, or of a mode (hp, h < 0: all scored cells) */
static int
best_slot(const double *ndcg, const bool *cells, int hp, int h, int mode, int *bhp, int *bh)
{
	int			bc = -1;
	double		bn = -1;

	for (int p = 0; p < NHP; p++)
		for (int q = 0; q < NHL; q++)
		{
			if ((hp >= 0 && p != hp) || (h >= 0 && q != h) || !cells[CELL(p, q, mode)])
				continue;
			for (int c = 0; c < NCOMBO; c++)
				if (ndcg[SLOT(p, q, mode, c)] > bn)
				{
					bn = ndcg[SLOT(p, q, mode, c)];
					bc = c;
					*bhp = p;
					*bh = q;
				}
		}
	return bc;
}

void
rec_validate(const RecLine *lines, int64 n, const int32 *ucode, const int32 *icode,
			 int nu, int ni, const RecFitOptions *o, RecValidation *v)
{
	int32	   *last = REC_ALLOC(nu, int32);
	bool	   *multi = palloc0(sizeof(bool) * Max(nu, 1));
	bool	   *chosen = palloc0(sizeof(bool) * Max(nu, 1));
	bool	   *keep;
	uint64	   *order;
	int			neligible = 0;
	ValSet		vs;
	AlsSetting	cands[8];
	int			ncand = 0;
	double	   *ndcg = palloc(sizeof(double) * NSLOT);
	double	   *recall = palloc(sizeof(double) * NSLOT);
	double	   *w[NHL];
	double	   *popv[NHP];
	int32	   *poptop[NHP];
	int			npoptop[NHP];

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
	order = REC_ALLOC(2 * (Size) nu, uint64);
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
	keep = REC_ALLOC(n, bool);
	for (int64 l = 0; l < n; l++)
		keep[l] = !(chosen[ucode[l]] && lines[l].day == last[ucode[l]]);
	vs.d = rec_data_build(lines, n, ucode, icode, keep, nu, ni);
	vs.vu = palloc(sizeof(int32) * vs.nval);
	vs.tptr = palloc(sizeof(int64) * (vs.nval + 1));
	vs.titem = REC_ALLOC(n, int32);
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
	}
	vs.nb = rec_knn_build(vs.d, Max(v->neighbours, o->neighbours > 0 ? o->neighbours : 50), v->knn_beta);
	vs.nbw = o->neighbour_weighting >= 0 ? NULL : rec_knn_build(vs.d, v->neighbours, REC_KNN_BETA);
	for (int h = 0; h < NHL; h++)
	{
		w[h] = REC_ALLOC(vs.d->nnz, double);
		rec_entry_weights(vs.d, half_lives[h], w[h]);
	}
	for (int hp = 0; hp < NHP; hp++)
	{
		double		val[CAND];

		popv[hp] = REC_ALLOC(ni, double);
		poptop[hp] = palloc(sizeof(int32) * CAND);
		rec_popularity(vs.d, POP_HL(hp), POP_FIRST(hp), popv[hp]);
		npoptop[hp] = rec_top_component(popv[hp], ni, CAND, poptop[hp], val);
	}
	v->customers = vs.nval;
	v->grid = palloc(sizeof(double) * lengthof(cands) * NHP * NHL * 2 * REC_GRID_COLS);

	/*
	 * The settings tried, one coordinate at a time from (32 factors, alpha 5, lambda 5,
	 * confidences halved every 120 days, 20 neighbours), among those the options leave open.
	 */
	{
		AlsSetting	base = {v->als.factors, v->als.lambda, v->als.alpha, v->als.half_life, v->neighbours,
		v->knn_beta, v->als.confidence};
		AlsSetting	c;

		cands[ncand++] = base;
		c = base;
		c.alpha = o->alpha >= 0 ? o->alpha : 20;
		cands[ncand++] = c;
		c = base;
		c.lambda = o->lambda > 0 ? o->lambda : 50;
		cands[ncand++] = c;
		c = base;
		c.factors = o->factors > 0 ? o->factors : 64;
		cands[ncand++] = c;
		c = base;
		c.neighbours = o->neighbours > 0 ? o->neighbours : 50;
		cands[ncand++] = c;
		c = base;
		c.beta = o->neighbour_weighting >= 0 ? o->neighbour_weighting : REC_KNN_BETA;
		cands[ncand++] = c;
		c = base;
		c.confidence = o->confidence >= 0 ? o->confidence : REC_CONF_BM25;
		cands[ncand++] = c;
	}
	/*
	 * The first setting is scored on the whole grid; the others only in the cell (recency,
	 * popularity) where new products scored best, which is where ALS matters; a winner
	 * other than the first is scored on the whole grid again for its blends. On the whole
	 * grid, popularity by first purchases is scored one coordinate further: in the best cell
	 * of each mode under basket popularity, with the same half-life (half the cost of
	 * scoring it everywhere, which took the 1,000,000-line fit past its time budget).
	 */
	{
		Cell		cell = {0, 0, 1};
		int			winner = -1;
		double		best_fresh = -1;
		MemoryContext basecxt = AllocSetContextCreate(CurrentMemoryContext, "recommender validation base",
													  ALLOCSET_DEFAULT_SIZES);
		RecAls		base_als = v->als;

		for (int ci = 0; ci <= ncand; ci++)
		{
			RecAls		als = v->als;
			bool		seen = false;
			bool		full = ci == 0 || ci == ncand;
			int			si = ci == ncand ? winner : ci;
			int			bhp,
						bh,
						bc;
			bool		scored[NCELL];
			MemoryContext fitcxt,
						old;

			if (ci == ncand && winner <= 0)
				break;
			for (int t = 0; t < ci && ci < ncand; t++)
				seen = seen || (cands[t].factors == cands[ci].factors &&
								 cands[t].lambda == cands[ci].lambda &&
								 cands[t].alpha == cands[ci].alpha &&
								 cands[t].half_life == cands[ci].half_life &&
								 cands[t].neighbours == cands[ci].neighbours &&
								 cands[t].beta == cands[ci].beta &&
								 cands[t].confidence == cands[ci].confidence);
			if (seen)
				continue;
			als.factors = cands[si].factors;
			als.lambda = cands[si].lambda;
			als.alpha = cands[si].alpha;
			als.half_life = cands[si].half_life;
			als.confidence = cands[si].confidence;
			als.iterations = Min(o->iterations, VAL_ITERATIONS);
			fitcxt = AllocSetContextCreate(CurrentMemoryContext, "recommender validation",
										   ALLOCSET_DEFAULT_SIZES);
			/*
			 * The first setting's factors are kept: a setting that differs from it only in
			 * the neighbours reuses them (the same seed gives the same factors bit for bit)
			 */
			if (si == 0 || !(als.factors == cands[0].factors && als.lambda == cands[0].lambda &&
							 als.alpha == cands[0].alpha && als.half_life == cands[0].half_life &&
							 als.confidence == cands[0].confidence))
			{
				old = MemoryContextSwitchTo(si == 0 ? basecxt : fitcxt);
				rec_als_fit(vs.d, &als);
				MemoryContextSwitchTo(old);
				if (si == 0)
					base_als = als;
			}
			else
				als = base_als;
			old = MemoryContextSwitchTo(fitcxt);
			memset(ndcg, 0, sizeof(double) * NSLOT);
			memset(recall, 0, sizeof(double) * NSLOT);
			memset(scored, 0, sizeof(scored));
			for (int hp = 0; hp < NHP; hp++)
				for (int h = 0; h < NHL; h++)
					for (int mode = 0; mode < 2; mode++)
						scored[CELL(hp, h, mode)] = full ? !POP_FIRST(hp) :
							(hp == cell.hp && h == cell.h && mode == cell.mode);
			score_setting(&vs, &als, cands[si].beta != cands[0].beta ? vs.nbw : vs.nb, cands[si].neighbours, w, popv,
						  poptop, npoptop, scored, ndcg, recall);
			if (full)
			{
				bool		first[NCELL];

				memset(first, 0, sizeof(first));
				for (int mode = 0; mode < 2; mode++)
				{
					(void) best_slot(ndcg, scored, -1, -1, mode, &bhp, &bh);
					first[CELL(bhp + NPH, bh, mode)] = true;
				}
				score_setting(&vs, &als, cands[si].beta != cands[0].beta ? vs.nbw : vs.nb, cands[si].neighbours, w, popv,
							  poptop, npoptop, first, ndcg, recall);
				for (int c = 0; c < NCELL; c++)
					scored[c] = scored[c] || first[c];
			}
			MemoryContextSwitchTo(old);
			MemoryContextDelete(fitcxt);
			for (int hp = 0; hp < NHP; hp++)
				for (int h = 0; h < NHL; h++)
					for (int mode = 0; mode < 2; mode++)
					{
						double	   *row = v->grid + (Size) v->grid_rows * REC_GRID_COLS;
						RecBlend	b;

						if (!scored[CELL(hp, h, mode)])
							continue;
						bc = best_slot(ndcg, scored, hp, h, mode, &bhp, &bh);
						combo_blend(bc, hp, h, &b);
						row[0] = als.factors;
						row[12] = cands[si].neighbours;
						row[13] = cands[si].beta;
						row[14] = cands[si].confidence;
						row[15] = b.pop_first ? 1 : 0;
						row[1] = als.lambda;
						row[2] = als.alpha;
						row[3] = als.half_life;
						row[4] = b.half_life;
						row[5] = b.pop_half_life;
						row[6] = mode == 0 ? 1 : 0;
						row[7] = b.w_als;
						row[8] = b.w_knn;
						row[9] = b.w_pop;
						row[10] = ndcg[SLOT(hp, h, mode, bc)] / vs.nval;
						row[11] = recall[SLOT(hp, h, mode, bc)] / vs.nval;
						v->grid_rows++;
					}
			if (ci == 0)
			{
				/* the baselines do not depend on ALS: own basket counts alone (ties by
				 * popularity: the customer's most-bought), binary neighbours alone and
				 * popularity alone, new products only */
				Size		own_slot = SLOT(0, 1, 0, 0);
				Size		knn_slot = SLOT(0, 0, 1, (0 * NW + (NW - 1)) * NP + 0);
				Size		pop_slot = SLOT(0, 0, 1, 0);

				v->own_top_ndcg = ndcg[own_slot] / vs.nval;
				v->own_top_recall = recall[own_slot] / vs.nval;
				v->knn_fresh_ndcg = ndcg[knn_slot] / vs.nval;
				v->knn_fresh_recall = recall[knn_slot] / vs.nval;
				v->pop_ndcg = ndcg[pop_slot] / vs.nval;
				v->pop_recall = recall[pop_slot] / vs.nval;
			}
			bc = best_slot(ndcg, scored, -1, -1, 1, &bhp, &bh);
			if (ci == 0)
			{
				cell.hp = bhp;
				cell.h = bh;
			}
			if (ci < ncand && ndcg[SLOT(bhp, bh, 1, bc)] > best_fresh)
			{
				best_fresh = ndcg[SLOT(bhp, bh, 1, bc)];
				winner = ci;
			}
			if (full && si == winner)
			{
				v->als.factors = als.factors;
				v->als.lambda = als.lambda;
				v->als.alpha = als.alpha;
				v->als.half_life = als.half_life;
				v->als.confidence = als.confidence;
				v->neighbours = cands[si].neighbours;
				v->knn_beta = cands[si].beta;
				combo_blend(bc, bhp, bh, &v->fresh);
				v->fresh_ndcg = ndcg[SLOT(bhp, bh, 1, bc)] / vs.nval;
				v->fresh_recall = recall[SLOT(bhp, bh, 1, bc)] / vs.nval;
				bc = best_slot(ndcg, scored, -1, -1, 0, &bhp, &bh);
				combo_blend(bc, bhp, bh, &v->repeat);
				v->repeat_ndcg = ndcg[SLOT(bhp, bh, 0, bc)] / vs.nval;
				v->repeat_recall = recall[SLOT(bhp, bh, 0, bc)] / vs.nval;
			}
		}
	}
}
