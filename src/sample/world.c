/*
 * world.c: building the simulated retailer and replaying its customers (see world.h).
 *
 * What is planted, so tests can check that analytics recover it:
 *  - weekly seasonality (Saturday busiest, Monday/Tuesday quietest), a yearly cycle peaking
 *    in December with category-specific summer peaks (beverages, frozen), a small upward
 *    trend, and uplift on and just before holidays;
 *  - promotions (10-35% off for 7-14 days) that multiply a product's pick weight, and
 *    bargain hunters who buy mostly what is on promotion;
 *  - "bought together" rules: when the antecedent is in a basket, the consequent is added
 *    with the rule's probability;
 *  - five customer types with different visit rates, Gamma-distributed individual rates,
 *    new customers signing up during the period, and about a quarter of customers who
 *    churn: they slow down over the 60 days before their churn day and never buy again.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/date.h"
#include "utils/datetime.h"

#include "core/memory.h"
#include "sample/world.h"

const char *const sample_category_names[SAMPLE_NCAT] = {
	"fresh produce", "dairy", "bakery", "meat & fish", "beverages",
	"snacks", "frozen", "household", "personal care", "baby"
};

const char *const sample_zone_names[SAMPLE_NZONE] = {
	"entrance", "fresh produce", "dairy", "bakery", "meat & fish",
	"beverages & snacks", "frozen", "household & care", "baby", "checkout"
};

/* the zone where each category is shelved */
const int	sample_category_zone[SAMPLE_NCAT] = {1, 2, 3, 4, 5, 5, 6, 7, 7, 8};

const char *const sample_customer_type_names[CT_NTYPES] = {
	"loyal", "regular", "occasional", "bargain hunter", "online"
};

static const double category_price[SAMPLE_NCAT] = {2.5, 3.0, 2.8, 9.0, 2.2, 2.6, 4.5, 5.5, 6.0, 12.0};
static const double type_share[CT_NTYPES] = {0.20, 0.30, 0.25, 0.15, 0.10};
static const double type_rate[CT_NTYPES] = {1.0 / 8, 1.0 / 17, 1.0 / 45, 1.0 / 21, 1.0 / 14};
static const double type_basket[CT_NTYPES] = {5.0, 6.0, 3.5, 4.5, 6.5};
/* Monday .. Sunday */
static const double weekday_factor[7] = {0.85, 0.85, 0.90, 0.95, 1.10, 1.35, 1.15};

static const char *const first_f[] = {"Mei", "Li", "Xiu", "Fang", "Ying", "Anna", "Maria", "Emma", "Sofia", "Laura",
"Hana", "Yuki", "Priya", "Aisha", "Elena", "Julia", "Chloe", "Nora", "Lena", "Ines"};
static const char *const first_m[] = {"Wei", "Jun", "Hao", "Lei", "Tao", "John", "David", "Luca", "Omar", "Ivan",
"Kenji", "Ravi", "Paul", "Marco", "Tomas", "Felix", "Noah", "Adam", "Leo", "Hugo"};
static const char *const last_names[] = {"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou",
"Smith", "Garcia", "Muller", "Rossi", "Kim", "Tanaka", "Patel", "Silva", "Novak", "Dubois",
"Lopez", "Nguyen", "Ivanov", "Khan", "Cohen"};
static const char *const cities[] = {"Shanghai", "Hangzhou", "Suzhou", "Nanjing", "Ningbo", "Wuxi",
"Hefei", "Changzhou", "Shaoxing", "Jiaxing"};
static const char *const regions[] = {"East", "East", "East", "East", "East", "East",
"Central", "East", "East", "East"};
static const char *const brands[] = {"Harvest", "Blue Lake", "Golden Field", "Sunny", "Northwind",
"Evergreen", "Maple", "Riverside", "Orchard", "Brightside", "Store Brand", "Happy Cow"};

const char *
sample_first_name(int i, bool female)
{
	return female ? first_f[i % lengthof(first_f)] : first_m[i % lengthof(first_m)];
}

const char *
sample_last_name(int i)
{
	return last_names[i % lengthof(last_names)];
}

const char *
sample_city(int i)
{
	return cities[i % lengthof(cities)];
}

const char *
sample_region(int i)
{
	return regions[i % lengthof(regions)];
}

const char *
sample_brand(int i)
{
	return brands[i % lengthof(brands)];
}

int
sample_ncities(void)
{
	return lengthof(cities);
}

/* Holidays by (month, day), and Black Friday (fourth Friday of November). */
static const char *
holiday_of(int year, int month, int mday, int wday)
{
	if (month == 1 && mday == 1)
		return "New Year's Day";
	if (month == 2 && mday == 14)
		return "Valentine's Day";
	if (month == 5 && mday == 1)
		return "Labour Day";
	if (month == 6 && mday == 18)
		return "618 Shopping Festival";
	if (month == 10 && mday == 1)
		return "National Day";
	if (month == 11 && mday == 11)
		return "Singles' Day";
	if (month == 11 && wday == 5 && mday >= 22 && mday <= 28)
		return "Black Friday";
	if (month == 12 && mday == 24)
		return "Christmas Eve";
	if (month == 12 && mday == 25)
		return "Christmas Day";
	if (month == 12 && mday == 31)
		return "New Year's Eve";
	return NULL;
}

static void *
world_alloc(World *w, Size n, Size size, const char *what)
{
	return riq_alloc(CurrentMemoryContext, riq_mul_size(n, size, what), what);
}

/* products: category, brand, price, Zipf-like popularity in a shuffled order */
static void
world_products(World *w, RiqRng *rng)
{
	int			nproducts = w->nproducts;

	w->products = world_alloc(w, nproducts, sizeof(Product), "sample products");
	for (int p = 0; p < nproducts; p++)
	{
		Product    *pr = &w->products[p];
		double		u = riq_rng_uniform(rng);

		/* fresh, dairy and beverages have the most lines */
		pr->category = u < 0.16 ? 0 : u < 0.29 ? 1 : u < 0.39 ? 2 : u < 0.47 ? 3 : u < 0.60 ? 4 :
			u < 0.72 ? 5 : u < 0.80 ? 6 : u < 0.88 ? 7 : u < 0.96 ? 8 : 9;
		pr->brand = (int) riq_rng_below(rng, lengthof(brands));
		pr->price = round(category_price[pr->category] * exp(0.45 * riq_rng_normal(rng)) * 100.0) / 100.0;
		if (pr->price < 0.3)
			pr->price = 0.3;
		pr->popularity = 0;
	}
	for (int rank = 0; rank < nproducts; rank++)
	{
		/* rank r gets weight 1/(r+1)^0.9, assigned to products in a shuffled order */
		int			p = (int) riq_rng_below(rng, nproducts);

		while (w->products[p].popularity != 0)
			p = (p + 1) % nproducts;
		w->products[p].popularity = 1.0 / pow(rank + 1.0, 0.9);
	}
}

/* stores: size weights; the home store of customers follows them */
static void
world_stores(World *w, RiqRng *rng)
{
	double		cum = 0;

	w->store_weight = world_alloc(w, w->nstores, sizeof(double), "sample stores");
	for (int s = 0; s < w->nstores; s++)
	{
		cum += 0.5 + riq_rng_uniform(rng);
		w->store_weight[s] = cum;
	}
}

/* calendar: trend x weekday x year x holiday, and temperature */
static void
world_calendar(World *w, RiqRng *rng)
{
	int			ndays = w->ndays;
	int			year,
				month,
				mday;

	w->day_factor = world_alloc(w, ndays, sizeof(double), "sample calendar");
	w->is_holiday = world_alloc(w, ndays, sizeof(bool), "sample calendar");
	w->holiday_name = world_alloc(w, ndays, sizeof(char *), "sample calendar");
	w->temperature = world_alloc(w, ndays, sizeof(double), "sample calendar");
	for (int d = 0; d < ndays; d++)
	{
		int			jd = w->start_date + POSTGRES_EPOCH_JDATE + d;
		int			wday = j2day(jd);	/* 0 = Sunday */
		int			doy;
		double		f;

		j2date(jd, &year, &month, &mday);
		doy = jd - date2j(year, 1, 1);
		w->holiday_name[d] = holiday_of(year, month, mday, wday);
		w->is_holiday[d] = w->holiday_name[d] != NULL;
		f = weekday_factor[(wday + 6) % 7];
		f *= 1.0 + 0.12 * cos(2.0 * M_PI * (doy - 355) / 365.25);
		f *= 1.0 + 0.05 * d / 365.25;
		w->day_factor[d] = f;
		w->temperature[d] = round((16.0 + 11.0 * sin(2.0 * M_PI * (doy - 105) / 365.25) +
								   2.5 * riq_rng_normal(rng)) * 10.0) / 10.0;
	}
	for (int d = 0; d < ndays; d++)
	{
		/* shopping peaks the day before a holiday and on it */
		if (d + 1 < ndays && w->is_holiday[d + 1])
			w->day_factor[d] *= 1.6;
		if (w->is_holiday[d])
			w->day_factor[d] *= strcmp(w->holiday_name[d], "Christmas Day") == 0 ? 0.6 : 1.4;
	}
}

/* promotions: about one per product per quarter */
static void
world_promotions(World *w, RiqRng *rng)
{
	int			nproducts = w->nproducts,
				ndays = w->ndays;
	int			cap = Max(16, (int) (nproducts * (ndays / 91.0 + 1)));

	w->promos = world_alloc(w, cap, sizeof(Promotion), "sample promotions");
	for (int p = 0; p < nproducts && w->npromos < cap; p++)
	{
		int			n = (int) riq_rng_poisson(rng, ndays / 91.0);

		for (int i = 0; i < n && w->npromos < cap; i++)
		{
			Promotion  *pm = &w->promos[w->npromos++];
			int			len = 7 + (int) riq_rng_below(rng, 8);

			pm->product = p;
			pm->store = riq_rng_uniform(rng) < 0.2 ? (int) riq_rng_below(rng, w->nstores) : -1;
			pm->start_day = (int) riq_rng_below(rng, Max(1, ndays - len));
			pm->end_day = Min(ndays - 1, pm->start_day + len - 1);
			pm->depth = (10 + 5 * (int) riq_rng_below(rng, 6)) / 100.0;
			pm->featured = riq_rng_uniform(rng) < 0.3;
		}
	}
}

/* per-day pick weights: popularity x category season x promotion uplift */
static void
world_pick_weights(World *w)
{
	int			nproducts = w->nproducts,
				ndays = w->ndays;
	int			year,
				month,
				mday;
	int		   *count;

	w->promo_of = world_alloc(w, (Size) ndays * nproducts, sizeof(int), "sample promotion calendar");
	w->day_cum = world_alloc(w, (Size) ndays * nproducts, sizeof(double), "sample pick weights");
	for (Size i = 0; i < (Size) ndays * nproducts; i++)
		w->promo_of[i] = -1;
	for (int i = 0; i < w->npromos; i++)
		for (int d = w->promos[i].start_day; d <= w->promos[i].end_day; d++)
			w->promo_of[(Size) d * nproducts + w->promos[i].product] = i;
	w->promoted_on = world_alloc(w, ndays, sizeof(int *), "sample promotion calendar");
	count = palloc0(sizeof(int) * nproducts);
	for (int d = 0; d < ndays; d++)
	{
		int			jd = w->start_date + POSTGRES_EPOCH_JDATE + d;
		int			doy,
					np = 0;
		double		summer,
					cum;

		CHECK_FOR_INTERRUPTS();
		j2date(jd, &year, &month, &mday);
		doy = jd - date2j(year, 1, 1);
		summer = sin(2.0 * M_PI * (doy - 105) / 365.25);	/* +1 in July */
		cum = 0;
		for (int p = 0; p < nproducts; p++)
		{
			const Product *pr = &w->products[p];
			double		wgt = pr->popularity;
			int			pi = w->promo_of[(Size) d * nproducts + p];

			if (pr->category == 4 || pr->category == 6)
				wgt *= 1.0 + 0.35 * summer;
			if (pi >= 0)
			{
				wgt *= 1.0 + 6.0 * w->promos[pi].depth * (w->promos[pi].featured ? 1.5 : 1.0);
				count[np++] = p;
			}
			cum += wgt;
			w->day_cum[(Size) d * nproducts + p] = cum;
		}
		w->promoted_on[d] = palloc(sizeof(int) * (np + 1));
		memcpy(w->promoted_on[d], count, sizeof(int) * np);
		w->promoted_on[d][np] = -1;
	}
	pfree(count);
}

/* products grouped by category, for customers' favourite-category picks */
static void
world_categories(World *w)
{
	int			nproducts = w->nproducts;
	int			k = 0;

	w->cat_products = world_alloc(w, nproducts, sizeof(int), "sample categories");
	w->cat_cum = world_alloc(w, nproducts, sizeof(double), "sample categories");
	for (int c = 0; c < SAMPLE_NCAT; c++)
	{
		double		cum = 0;

		w->cat_start[c] = k;
		for (int p = 0; p < nproducts; p++)
			if (w->products[p].category == c)
			{
				cum += w->products[p].popularity;
				w->cat_products[k] = p;
				w->cat_cum[k] = cum;
				k++;
			}
	}
	w->cat_start[SAMPLE_NCAT] = k;
}

/* planted rules: a popular-enough antecedent pulls in a consequent of another category */
static void
world_rules(World *w, RiqRng *rng)
{
	int			nproducts = w->nproducts;

	w->nrules = Min(Max(nproducts / 20, 1), 60);
	if (nproducts < 4)
		w->nrules = 0;
	w->rules = world_alloc(w, Max(w->nrules, 1), sizeof(Rule), "sample rules");
	w->rules_from = world_alloc(w, nproducts, sizeof(int), "sample rules");
	for (int p = 0; p < nproducts; p++)
		w->rules_from[p] = -1;
	for (int r = 0; r < w->nrules; r++)
	{
		int			a,
					c;

		/* antecedents among the top third by popularity, each used once */
		do
		{
			a = (int) riq_rng_below(rng, nproducts);
		} while (w->products[a].popularity < 1.0 / pow(nproducts / 3.0 + 1.0, 0.9) ||
				 w->rules_from[a] >= 0);
		/* prefer another category; give up on that after many tries (tiny catalogues) */
		for (int tries = 0;; tries++)
		{
			c = (int) riq_rng_below(rng, nproducts);
			if (c != a && (w->products[c].category != w->products[a].category || tries > 1000))
				break;
		}
		w->rules[r].antecedent = a;
		w->rules[r].consequent = c;
		w->rules[r].probability = (35 + 5 * (int) riq_rng_below(rng, 8)) / 100.0;
		w->rules_from[a] = r;
	}
}

/*
 * The world, step by step: every step that draws takes the next numbers of one stream,
 * so the order of the steps is part of what a seed means.
 */
World *
sample_world(uint64 seed, int ncustomers, int nstores, int nproducts, int ndays)
{
	World	   *w = palloc0(sizeof(World));
	RiqRng		rng;

	w->seed = seed;
	w->ncustomers = ncustomers;
	w->nstores = nstores;
	w->nproducts = nproducts;
	w->ndays = ndays;
	w->start_date = date2j(2024, 1, 1) - POSTGRES_EPOCH_JDATE;

	riq_rng_seed(&rng, seed, 1);
	world_products(w, &rng);
	world_stores(w, &rng);
	world_calendar(w, &rng);
	world_promotions(w, &rng);
	world_pick_weights(w);
	world_categories(w);
	world_rules(w, &rng);
	return w;
}

void
sample_customer(const World *w, int id, Customer *c)
{
	double		u;

	riq_rng_seed(&c->rng, w->seed, UINT64CONST(1) << 32 | (uint64) id);
	c->id = id;
	u = riq_rng_uniform(&c->rng);
	c->type = CT_NTYPES - 1;
	for (int t = 0; t < CT_NTYPES; t++)
	{
		u -= type_share[t];
		if (u < 0)
		{
			c->type = (CustomerType) t;
			break;
		}
	}
	/* 60% were customers before the data starts; the rest sign up during it */
	if (riq_rng_uniform(&c->rng) < 0.6)
		c->signup_day = -(int) riq_rng_below(&c->rng, 1000) - 1;
	else
		c->signup_day = (int) riq_rng_below(&c->rng, Max(1, w->ndays - 30));
	/* a quarter churn, at least 60 days after joining and 30 before the end */
	c->churn_day = w->ndays;
	if (riq_rng_uniform(&c->rng) < 0.25)
	{
		int			lo = Max(c->signup_day + 60, 60);
		int			hi = w->ndays - 30;

		if (hi > lo)
			c->churn_day = lo + (int) riq_rng_below(&c->rng, hi - lo);
	}
	c->home_store = riq_rng_weighted(&c->rng, w->store_weight, w->nstores);
	c->fav_category = (int) riq_rng_below(&c->rng, SAMPLE_NCAT);
	/* Gamma(2)/2: mean 1, so individual rates vary as BG/NBD assumes */
	c->rate = type_rate[c->type] * riq_rng_gamma(&c->rng, 2.0) / 2.0;
	c->online_share = c->type == CT_ONLINE ? 0.8 : 0.08;
	c->female = riq_rng_uniform(&c->rng) < 0.55;
	c->birth_year = 1945 + (int) riq_rng_below(&c->rng, 62);
	c->birth_doy = (int) riq_rng_below(&c->rng, 365);
	c->first_name = (int) riq_rng_below(&c->rng, 1000);
	c->last_name = (int) riq_rng_below(&c->rng, 1000);
}

static int
pick_product(const World *w, Customer *c, int day)
{
	/* a third of picks come from the customer's favourite category */
	if (riq_rng_uniform(&c->rng) < 0.3)
	{
		int			lo = w->cat_start[c->fav_category],
					hi = w->cat_start[c->fav_category + 1];

		if (hi > lo)
			return w->cat_products[lo + riq_rng_weighted(&c->rng, w->cat_cum + lo, hi - lo)];
	}
	/* bargain hunters pick from what is on promotion most of the time */
	if (c->type == CT_BARGAIN && w->promoted_on[day][0] >= 0 && riq_rng_uniform(&c->rng) < 0.6)
	{
		int			n = 0;

		while (w->promoted_on[day][n] >= 0)
			n++;
		return w->promoted_on[day][riq_rng_below(&c->rng, n)];
	}
	return riq_rng_weighted(&c->rng, w->day_cum + (Size) day * w->nproducts, w->nproducts);
}

static bool
in_basket(const Order *o, int p)
{
	for (int i = 0; i < o->nlines; i++)
		if (o->lines[i].product == p)
			return true;
	return false;
}

static void
add_line(const World *w, Customer *c, Order *o, int p)
{
	OrderLine  *l;
	int			pi;

	if (o->nlines >= SAMPLE_MAX_BASKET || in_basket(o, p))
		return;
	l = &o->lines[o->nlines++];
	l->product = p;
	l->quantity = 1 + (riq_rng_uniform(&c->rng) < 0.2 ? 1 + (int) riq_rng_below(&c->rng, 3) : 0);
	l->unit_price = w->products[p].price;
	pi = w->promo_of[(Size) o->day * w->nproducts + p];
	if (pi >= 0 && (w->promos[pi].store < 0 || w->promos[pi].store == o->store))
	{
		l->promo = pi;
		l->discount = round(l->unit_price * l->quantity * w->promos[pi].depth * 100.0) / 100.0;
	}
	else
	{
		l->promo = -1;
		l->discount = 0;
	}
	l->returned = riq_rng_uniform(&c->rng) < 0.015;
}

/* seconds of the day: stores open 8:00-22:00 with lunch and evening peaks */
static int
visit_second(Customer *c, bool online)
{
	double		h;

	if (online)
		return (int) riq_rng_below(&c->rng, 86400);
	h = riq_rng_uniform(&c->rng) < 0.45 ? 12.0 + 1.5 * riq_rng_normal(&c->rng)
		: 18.0 + 1.8 * riq_rng_normal(&c->rng);
	if (h < 8.0)
		h = 8.0 + riq_rng_uniform(&c->rng);
	if (h > 21.9)
		h = 21.0 + 0.9 * riq_rng_uniform(&c->rng);
	return (int) (h * 3600.0);
}

void
sample_simulate(const World *w, const SampleCallbacks *cb)
{
	int64		next_order = 1;
	Order	   *o = palloc(sizeof(Order));
	int			viewed[16];

	for (int id = 1; id <= w->ncustomers; id++)
	{
		Customer	c;
		int			first;

		CHECK_FOR_INTERRUPTS();
		sample_customer(w, id, &c);
		first = Max(0, c.signup_day);
		for (int d = first; d < Min(c.churn_day, w->ndays); d++)
		{
			double		p = c.rate * w->day_factor[d];
			bool		online;

			/* churners slip away: half the rate over their last 60 days */
			if (c.churn_day < w->ndays && d >= c.churn_day - 60)
				p *= 0.5;
			if (c.type == CT_BARGAIN && w->promoted_on[d][0] >= 0)
				p *= 1.3;
			/* browsing without buying: the online cart that is abandoned */
			if (riq_rng_uniform(&c.rng) < p * (c.type == CT_ONLINE ? 0.6 : 0.15))
			{
				int			nv = 1 + (int) riq_rng_below(&c.rng, 5);
				int			second,
							ncart;

				/* draw everything whether or not this run emits events: every table's
				 * replay must consume the customer's random stream identically */
				for (int i = 0; i < nv; i++)
					viewed[i] = i > 0 && riq_rng_uniform(&c.rng) < 0.4 ? viewed[i - 1] : pick_product(w, &c, d);
				second = visit_second(&c, true);
				ncart = riq_rng_uniform(&c.rng) < 0.5 ? 1 : 0;
				if (cb->browse)
					cb->browse(cb->arg, w, &c, d, second, true, -1, viewed, nv, ncart);
			}
			if (!(riq_rng_uniform(&c.rng) < p))
				continue;

			online = riq_rng_uniform(&c.rng) < c.online_share;
			o->order_id = next_order++;
			o->customer = &c;
			o->online = online;
			o->store = online ? c.home_store :
				(riq_rng_uniform(&c.rng) < 0.85 ? c.home_store :
				 riq_rng_weighted(&c.rng, w->store_weight, w->nstores));
			o->day = d;
			o->second = visit_second(&c, online);
			o->nlines = 0;
			{
				int			want = 1 + (int) riq_rng_poisson(&c.rng, type_basket[c.type] - 1.0);

				for (int i = 0; i < want; i++)
					add_line(w, &c, o, pick_product(w, &c, d));
				/* planted rules: each antecedent pulls its consequent in */
				for (int i = 0; i < o->nlines; i++)
				{
					int			r = w->rules_from[o->lines[i].product];

					if (r >= 0 && riq_rng_uniform(&c.rng) < w->rules[r].probability)
						add_line(w, &c, o, w->rules[r].consequent);
				}
			}
			if (cb->order)
				cb->order(cb->arg, w, o);
		}
	}
	pfree(o);
}
