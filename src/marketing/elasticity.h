/*
 * elasticity.h: the price-response model shared by elasticity_fit.c (the aggregate that
 * estimates it) and elasticity_model.c (the readers: elasticities, elasticity_predict).
 *
 * Per product, on log units:
 *
 *   log(units_st) = a_s + b log(price_st) + x_st' g + f(date_t)' d + e_st
 *
 * a_s a level per store (fixed effects), b the own-price elasticity, x the caller's factors
 * (deal, feature, other products' log prices for cross-price elasticities), f the Fourier
 * terms of the day of the year. The pooled fit is least squares with store fixed effects
 * (what R's lm gives with factor(store)); each store's own least-squares coefficients are
 * then shrunk toward the pooled ones by empirical Bayes (a normal random-effects prior per
 * coefficient whose variance is estimated by the method of moments across stores).
 *
 * The model (kind "elasticity"): params level, harmonics, n_factors, pooling; data, for P
 * products and R (product, store) pairs, with k = 1 + n_factors + 2 * harmonics coefficients
 * (elasticity first):
 *   product[P], product_status[P], product_rows[P], product_df[P], pooled[P,k],
 *   pooled_se[P,k], between_sd[P,k], store_offset[P+1] (the stores of product p are
 *   store_offset[p] .. store_offset[p+1]-1), store[R], store_status[R], store_rows[R],
 *   store_coef[R,k], store_se[R,k], store_level[R], store_sigma2[R].
 */
#ifndef RETAILIQ_MARKETING_ELASTICITY_H
#define RETAILIQ_MARKETING_ELASTICITY_H

#include "postgres.h"

#define ELAS_MAX_FACTORS   100
#define ELAS_MAX_HARMONICS 10
#define ELAS_FIXED_COLS    5	/* product, store, day, units, price */

/* why a product or store has no estimate of its own (0: it has one) */
#define ELAS_OK                 0
#define ELAS_PRICE_CONSTANT     1	/* product: price never moves within a store */
#define ELAS_TOO_FEW            2	/* product: no residual degrees of freedom */
#define ELAS_COLLINEAR          3	/* product: price moves only with the factors */
#define ELAS_STORE_PRICE_CONST  10	/* store: pooled estimate used */
#define ELAS_STORE_TOO_FEW      11	/* store: pooled estimate used */
#define ELAS_STORE_NO_PRODUCT   12	/* store: the product has no estimate */
#define ELAS_STORE_COLLINEAR    13	/* store: pooled estimate used */

/* the text a status reads as (NULL for ELAS_OK); NULL too for an unknown code */
extern const char *elasticity_reason(int64 status, bool *known);

/* the Fourier terms of a day (days since 2000-01-01): 2 * harmonics values */
extern void elasticity_fourier(double day, int harmonics, double *out);

#endif							/* RETAILIQ_MARKETING_ELASTICITY_H */
