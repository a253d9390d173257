/*
 * recommend.h: the per-customer recommender shared by its files.
 *
 * recommender_fit collects purchase lines (customer, product, day, quantity) in its state
 * (recommend_state.c); the final function (recommend_fit.c) builds the customer x product
 * history, chooses the factors, regularisation, recency and blend weights by holding back each
 * customer's last purchase day (recommend_validate.c), fits implicit-feedback ALS
 * (recommend_als.c) and item-to-item cosine neighbours (recommend_knn.c), and writes a
 * retailiq.model. recommend_predict.c decodes the model and ranks products for a customer with
 * the same scorer (recommend_score.c) that validation used, so what was validated is what runs.
 */
#ifndef RETAILIQ_RECOMMEND_H
#define RETAILIQ_RECOMMEND_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "core/memory.h"

/* One purchase line; ids are kept as int64, never as float8 (pseudonyms use all 64 bits). */
typedef struct RecLine
{
	int64		customer;
	int64		product;
	int32		day;			/* days since 2000-01-01, UTC */
	int32		pad;			/* zero */
	double		qty;
} RecLine;

/* Fit options; a value < 0 (or 0 for factors) means "choose by validation". */
typedef struct RecFitOptions
{
	int32		factors;
	int32		iterations;
	double		lambda;
	double		alpha;
	int64		seed;
	int32		neighbours;
	int32		validate;		/* 0 or 1 */
	int32		max_validation_customers;
	double		neighbour_weighting;	/* exponent of rec_knn_build's customer weights; -1: choose */
	int32		confidence;		/* REC_CONF_*; -1: choose */
	int32		pad;			/* zero */
} RecFitOptions;

/* ALS confidence of a (customer, product) entry from its recency-weighted basket count r */
#define REC_CONF_LINEAR 0		/* 1 + alpha r */
#define REC_CONF_BM25	1		/* 1 + alpha bm25(r): see rec_als_fit */

#define REC_MAX_FACTORS		256
#define REC_MAX_NEIGHBOURS	500
#define REC_MAX_N			1000000

/*
 * A purchase history: customers x products, each (customer, product) entry with the days of the
 * baskets that held it. Customers and items are indexes into sorted id lists.
 */
typedef struct RecData
{
	int			nu;
	int			ni;
	int64		nnz;
	int64	   *uptr;			/* nu + 1 offsets into item/dptr */
	int32	   *item;			/* nnz item indexes, ascending within a customer */
	int64	   *dptr;			/* nnz + 1 offsets into days */
	int32	   *days;			/* basket days, ascending within an entry */
	int32		ref_day;		/* the last day of the history: recency is counted back from it */
	double	   *pop;			/* ni: baskets holding the item */
} RecData;

/* Item-item cosine neighbours: for each item up to k (item, similarity), best first; -1 pads. */
typedef struct RecNeighbours
{
	int			ni;
	int			k;
	int32	   *item;			/* ni x k */
	double	   *sim;			/* ni x k */
} RecNeighbours;

/* Blend of the scores of one mode: own history (weight 1), ALS, neighbours, popularity. */
typedef struct RecBlend
{
	double		half_life;		/* days; 0 = no decay (a basket count); -1 = binary */
	double		pop_half_life;	/* recency of popularity, days; 0 = none */
	double		w_als;
	double		w_knn;
	double		w_pop;
	bool		pop_first;		/* popularity counts first purchases only (rec_popularity) */
} RecBlend;

/* ALS settings and result */
typedef struct RecAls
{
	int			factors;
	double		lambda;
	double		alpha;
	double		half_life;		/* recency of the confidence weights, days; 0 = none */
	int			confidence;		/* REC_CONF_* */
	int			iterations;
	int64		seed;
	double	   *x;				/* nu x factors */
	double	   *y;				/* ni x factors */
} RecAls;

/* Dense per-customer score vectors of the four components, over all items. */
typedef struct RecScores
{
	int			ni;
	double	   *own;
	double	   *als;
	double	   *knn;
	int32	   *knn_from;		/* the history item that contributed most, -1 none */
	double	   *best;			/* that item's contribution */
	double	   *pop;
	double		scale[4];		/* own, ALS, neighbours, popularity: see rec_scores_scale */
} RecScores;

#define REC_OWN 1
#define REC_ALS 2
#define REC_KNN 4
#define REC_POP 8
#define REC_ALL 15

/* an array of n (at least 1) elements, charged to retailiq.max_memory (53200 beyond it) */
#define REC_ALLOC(n, type) \
	((type *) riq_alloc(CurrentMemoryContext, \
						riq_mul_size((Size) Max((n), 1), sizeof(type), "recommender_fit"), \
						"recommender_fit"))

/* recommender_fit's state */
typedef struct RecState
{
	RecLine    *lines;
	int64		n;
	int64		cap;
	int64		skipped;		/* rows with a NULL customer, product, quantity or time */
	bool		have_opt;
	RecFitOptions opt;
	MemoryContext cxt;
} RecState;

/* recommend_state.c */

extern void rec_fit_options_default(RecFitOptions *o);
extern void rec_fit_options_parse(Jsonb *jb, RecFitOptions *o);

/* recommend_data.c */
extern void rec_sort_lines(RecLine *lines, int64 n);
extern RecData *rec_data_build(const RecLine *lines, int64 n, const int32 *ucode, const int32 *icode,
							   const bool *keep, int nu, int ni);
extern double rec_decay(double half_life, int32 ref_day, int32 day);
extern void rec_entry_weights(const RecData *d, double half_life, double *w);
extern void rec_popularity(const RecData *d, double half_life, bool first, double *pop);
extern int32 rec_find_id(const int64 *ids, int n, int64 id);

/* recommend_als.c */
extern void rec_als_fit(const RecData *d, RecAls *als);

/* recommend_knn.c */
extern RecNeighbours *rec_knn_build(const RecData *d, int k, double beta);

/* recommend_score.c */
extern void rec_scores_alloc(RecScores *s, int ni);
extern void rec_scores_als(RecScores *s, const double *xu, const double *y, int factors);
extern void rec_scores_history(RecScores *s, const int32 *items, const double *weights, int nitems,
							   const RecNeighbours *nb, int knn_k);
extern void rec_scores_pop(RecScores *s, const double *pop);
extern void rec_scores_scale(RecScores *s, const bool *banned, int which);
extern double rec_blend_score(const RecScores *s, const RecBlend *b, int i);
extern int	rec_top(const RecScores *s, const RecBlend *b, const int32 *cand, int ncand,
					const bool *banned, int n, int32 *out, double *score);
extern int	rec_top_component(const double *v, int n, int c, int32 *top, double *val);

/* recommend_validate.c */
typedef struct RecValidation
{
	RecAls		als;			/* the chosen settings (factors not fitted) */
	int			neighbours;		/* the chosen number of neighbours a product */
	double		knn_beta;		/* the chosen customer weighting of the neighbours (rec_knn_build) */
	RecBlend	repeat;
	RecBlend	fresh;			/* new products only */
	int			customers;		/* held-back customers scored */
	double		repeat_ndcg, repeat_recall;
	double		fresh_ndcg, fresh_recall;
	double		own_top_ndcg, own_top_recall;	/* the customer's own most-bought products */
	double		knn_fresh_ndcg, knn_fresh_recall;	/* neighbours alone, new products only */
	double		pop_ndcg, pop_recall;			/* popularity alone */
	int			grid_rows;
	double	   *grid;			/* grid_rows x REC_GRID_COLS */
} RecValidation;

#define REC_GRID_COLS 16
extern void rec_validate(const RecLine *lines, int64 n, const int32 *ucode, const int32 *icode,
						 int nu, int ni, const RecFitOptions *o, RecValidation *v);

#endif
