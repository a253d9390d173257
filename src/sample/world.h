/*
 * world.h: the simulated retailer behind retailiq.generate_sample_data().
 *
 * A World is everything fixed about the retailer for a (seed, sizes) pair: products with
 * categories, prices and popularity, stores and zones, a calendar with holidays and
 * weather, promotions, and the planted "bought together" rules. Customers are derived one
 * at a time from (seed, customer id), and sample_simulate() replays every customer's
 * visits and orders in a fixed order, so each table's set-returning function can rerun
 * the same simulation and emit its own rows: all tables agree, for a seed, on any machine.
 */
#ifndef RETAILIQ_SAMPLE_WORLD_H
#define RETAILIQ_SAMPLE_WORLD_H

#include "postgres.h"

#include "core/rng.h"

#define SAMPLE_NCAT   10
#define SAMPLE_NZONE  10
#define SAMPLE_MAX_BASKET 40

typedef enum CustomerType
{
	CT_LOYAL, CT_REGULAR, CT_OCCASIONAL, CT_BARGAIN, CT_ONLINE, CT_NTYPES
} CustomerType;

typedef struct Product
{
	int			category;
	int			brand;
	double		price;			/* list price */
	double		popularity;		/* relative pick weight */
} Product;

typedef struct Promotion
{
	int			product;		/* 0-based */
	int			store;			/* -1: every store */
	int			start_day;		/* inclusive, 0-based day index */
	int			end_day;		/* inclusive */
	double		depth;			/* fraction off, 0.1 .. 0.35 */
	bool		featured;
} Promotion;

typedef struct Rule
{
	int			antecedent;		/* 0-based product */
	int			consequent;
	double		probability;	/* P(consequent added | antecedent in basket) */
} Rule;

typedef struct World
{
	uint64		seed;
	int			ncustomers;
	int			nstores;
	int			nproducts;
	int			ndays;
	int32		start_date;		/* PostgreSQL DateADT of day 0 */
	Product    *products;
	double	   *store_weight;	/* cumulative, by store size */
	double	   *day_factor;		/* trend x week x year x holiday */
	bool	   *is_holiday;
	const char **holiday_name;
	double	   *temperature;
	Promotion  *promos;
	int			npromos;
	int		   *promo_of;		/* [day * nproducts + p]: promo index or -1 */
	double	   *day_cum;		/* [day * nproducts + p]: cumulative pick weights */
	int		   *cat_products;	/* products grouped by category */
	int			cat_start[SAMPLE_NCAT + 1];
	double	   *cat_cum;		/* cumulative popularity within each category group */
	int		  **promoted_on;	/* per day: promoted products, -1 terminated */
	Rule	   *rules;
	int			nrules;
	int		   *rules_from;		/* [p]: first rule index with antecedent p, or -1 */
} World;

typedef struct Customer
{
	int			id;				/* 1-based */
	CustomerType type;
	int			signup_day;		/* may be negative: joined before the data starts */
	int			churn_day;		/* ndays if the customer never churns */
	int			home_store;		/* 0-based */
	int			fav_category;
	double		rate;			/* expected orders per day before day factors */
	double		online_share;
	int			birth_year;
	int			birth_doy;
	bool		female;
	int			first_name;
	int			last_name;
	RiqRng		rng;			/* this customer's own stream */
} Customer;

typedef struct OrderLine
{
	int			product;
	int			quantity;
	double		unit_price;
	double		discount;		/* total discount on the line */
	int			promo;			/* promotion index or -1 */
	bool		returned;
} OrderLine;

typedef struct Order
{
	int64		order_id;
	const Customer *customer;
	int			store;
	bool		online;
	int			day;
	int			second;			/* of the day, UTC */
	int			nlines;
	OrderLine	lines[SAMPLE_MAX_BASKET];
} Order;

/* A visit that did or did not end in an order; events are derived from it. */
typedef struct SampleCallbacks
{
	void		(*order) (void *arg, const World *w, const Order *o);
	void		(*browse) (void *arg, const World *w, const Customer *c, int day, int second,
						   bool online, int store, const int *viewed, int nviewed, int ncart);
	void	   *arg;
} SampleCallbacks;

extern const char *const sample_category_names[SAMPLE_NCAT];
extern const char *const sample_zone_names[SAMPLE_NZONE];
extern const int sample_category_zone[SAMPLE_NCAT];
extern const char *const sample_customer_type_names[CT_NTYPES];

extern World *sample_world(uint64 seed, int ncustomers, int nstores, int nproducts, int ndays);
extern void sample_customer(const World *w, int id, Customer *c);
extern void sample_simulate(const World *w, const SampleCallbacks *cb);

/* names and labels, deterministic from indexes */
extern const char *sample_first_name(int i, bool female);
extern const char *sample_last_name(int i);
extern const char *sample_city(int i);
extern const char *sample_region(int i);
extern const char *sample_brand(int i);
extern int	sample_ncities(void);

#endif
