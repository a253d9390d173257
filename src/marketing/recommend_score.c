/*
 * recommend_score.c: the scorer shared by validation and prediction.
 *
 * A customer's score for a product blends four components, each scaled to a maximum of 1 over
 * the products that customer may be recommended: the customer's own recency-weighted basket count (weight 1),
 * the ALS preference x_u . y_i, the item-to-item score (the sum of the product's similarities
 * to the customer's products, each weighted by its recency-weighted count) and popularity.
 * Ties go to the more popular product, then to the smaller id, so rankings are deterministic.
 */
#include "postgres.h"

#include <math.h>

#include "core/blas.h"
#include "core/memory.h"
#include "marketing/recommend.h"

void
rec_scores_alloc(RecScores *s, int ni)
{
	Size		n = (Size) Max(ni, 1);

	s->ni = ni;
	s->own = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "recommender"), "recommender");
	s->als = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "recommender"), "recommender");
	s->knn = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "recommender"), "recommender");
	s->pop = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "recommender"), "recommender");
	s->knn_from = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(int32), "recommender"), "recommender");
	s->best = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "recommender"), "recommender");
}

/*
 * Each component's scale: 1 / its largest magnitude over the products that may be recommended
 * (not banned), so that the blend weights mean the same for every customer and in both modes
 * (in "new products only" the customer's own products, which usually score highest, are out).
 * `which` is a bit mask of the components to rescale (REC_OWN ... REC_POP).
 */
void
rec_scores_scale(RecScores *s, const bool *banned, int which)
{
	double	   *comp[4] = {s->own, s->als, s->knn, s->pop};

	for (int k = 0; k < 4; k++)
	{
		double		m = 0;

		if (!(which & (1 << k)))
			continue;
		for (int i = 0; i < s->ni; i++)
			if (banned == NULL || !banned[i])
				m = Max(m, fabs(comp[k][i]));
		s->scale[k] = m > 0 ? 1.0 / m : 0.0;
	}
}

/* The ALS component: x_u . y_i for every product (zero without factors). */
void
rec_scores_als(RecScores *s, const double *xu, const double *y, int factors)
{
	if (xu != NULL && factors > 0)
		riq_gemv(false, s->ni, factors, 1.0, y, factors, xu, 0.0, s->als);
	else
		memset(s->als, 0, sizeof(double) * s->ni);
}

/*
 * The components that come from the customer's history: the own component (each past
 * product's weight) and the neighbours' (each past product pushes its weight times the
 * similarity to its k nearest neighbours), remembering which past product pushed most.
 */
void
rec_scores_history(RecScores *s, const int32 *items, const double *weights, int nitems,
				   const RecNeighbours *nb, int knn_k)
{
	int			ni = s->ni;

	memset(s->own, 0, sizeof(double) * ni);
	memset(s->knn, 0, sizeof(double) * ni);
	memset(s->best, 0, sizeof(double) * ni);
	for (int i = 0; i < ni; i++)
		s->knn_from[i] = -1;
	for (int t = 0; t < nitems; t++)
	{
		int32		j = items[t];

		s->own[j] = weights[t];
		for (int q = 0; q < Min(knn_k, nb->k); q++)
		{
			int32		i = nb->item[(Size) j * nb->k + q];
			double		c;

			if (i < 0)
				break;
			c = weights[t] * nb->sim[(Size) j * nb->k + q];
			s->knn[i] += c;
			if (c > s->best[i])
			{
				s->best[i] = c;
				s->knn_from[i] = j;
			}
		}
	}
}

void
rec_scores_pop(RecScores *s, const double *pop)
{
	memcpy(s->pop, pop, sizeof(double) * s->ni);
}

double
rec_blend_score(const RecScores *s, const RecBlend *b, int i)
{
	return s->scale[0] * s->own[i] + b->w_als * s->scale[1] * s->als[i] +
		b->w_knn * s->scale[2] * s->knn[i] + b->w_pop * s->scale[3] * s->pop[i];
}

/* a before b in the ranking */
static inline bool
ranks_before(const RecScores *s, double sa, int a, double sb, int b)
{
	if (sa != sb)
		return sa > sb;
	if (s->pop[a] != s->pop[b])
		return s->pop[a] > s->pop[b];
	return a < b;
}

/*
 * The n best products (among `cand`, or all when cand is NULL) that are not banned, best
 * first, into out (room for n); returns how many.
 */
typedef struct Ranked
{
	double		v;
	int			i;
	const RecScores *s;
} Ranked;

static int
cmp_ranked(const void *pa, const void *pb)
{
	const Ranked *a = pa;
	const Ranked *b = pb;

	if (ranks_before(a->s, a->v, a->i, b->v, b->i))
		return -1;
	return ranks_before(a->s, b->v, b->i, a->v, a->i) ? 1 : 0;
}

int
rec_top(const RecScores *s, const RecBlend *b, const int32 *cand, int ncand, const bool *banned,
		int n, int32 *out, double *score)
{
	int			got = 0;
	int			total = cand ? ncand : s->ni;

	/* a long list: sort everything once rather than insert into it */
	if (n > 64)
	{
		Ranked	   *all = palloc(sizeof(Ranked) * Max(total, 1));
		int			m = 0;

		for (int t = 0; t < total; t++)
		{
			int			i = cand ? cand[t] : t;

			if (banned != NULL && banned[i])
				continue;
			all[m].v = rec_blend_score(s, b, i);
			all[m].i = i;
			all[m].s = s;
			m++;
		}
		qsort(all, m, sizeof(Ranked), cmp_ranked);
		for (got = 0; got < Min(n, m); got++)
		{
			out[got] = all[got].i;
			score[got] = all[got].v;
		}
		pfree(all);
		return got;
	}

	for (int t = 0; t < total; t++)
	{
		int			i = cand ? cand[t] : t;
		double		v;
		int			p;

		if (banned != NULL && banned[i])
			continue;
		v = rec_blend_score(s, b, i);
		if (got == n && !ranks_before(s, v, i, score[n - 1], out[n - 1]))
			continue;
		p = got < n ? got++ : n - 1;
		while (p > 0 && ranks_before(s, v, i, score[p - 1], out[p - 1]))
		{
			out[p] = out[p - 1];
			score[p] = score[p - 1];
			p--;
		}
		out[p] = i;
		score[p] = v;
	}
	return got;
}

/* The c largest values of v (ties to the smaller index), best first; returns how many. */
int
rec_top_component(const double *v, int n, int c, int32 *top, double *val)
{
	int			got = 0;

	for (int i = 0; i < n; i++)
	{
		int			p;

		if (got == c && v[i] <= val[c - 1])
			continue;
		p = got < c ? got++ : c - 1;
		while (p > 0 && v[i] > val[p - 1])
		{
			top[p] = top[p - 1];
			val[p] = val[p - 1];
			p--;
		}
		top[p] = i;
		val[p] = v[i];
	}
	return got;
}
