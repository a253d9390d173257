/*
 * generate.c: the set-returning functions behind retailiq.generate_sample_data().
 *
 * One function per table; each rebuilds the World for its arguments and replays what it
 * needs (sample_simulate for orders, lines, events and inventory), writing rows into a
 * tuplestore. The SQL wrapper inserts them into the user's schema. They are internal
 * (named _sample_*): the documented entry point is generate_sample_data().
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "core/memory.h"
#include "sample/world.h"

#define INVENTORY_DAYS 90

typedef struct Emit
{
	Tuplestorestate *store;
	TupleDesc	desc;
	int64		next_id;
	int			window_start;	/* inventory: first day accumulated */
	int32	   *sold;			/* inventory: [day - start][store][product] */
} Emit;

static World *
world_from_args(FunctionCallInfo fcinfo)
{
	int			customers = PG_GETARG_INT32(0),
				stores = PG_GETARG_INT32(1),
				products = PG_GETARG_INT32(2),
				days = PG_GETARG_INT32(3);
	int64		seed = PG_GETARG_INT32(4);

	/* generate_sample_data checks these with friendly messages; this is the backstop */
	if (customers < 1 || stores < 1 || products < 2 || days < 1 ||
		customers > 10000000 || stores > 1000 || products > 100000 || days > 3660)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample data sizes out of range"),
				 errhint("Call retailiq.generate_sample_data(), which explains the limits.")));
	return sample_world((uint64) seed, customers, stores, products, days);
}

static void
emit_begin(FunctionCallInfo fcinfo, Emit *e)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	e->store = rsinfo->setResult;
	e->desc = rsinfo->setDesc;
	e->next_id = 1;
}

static void
emit_row(Emit *e, Datum *values, bool *nulls)
{
	tuplestore_putvalues(e->store, e->desc, values, nulls);
}

static Datum
date_of(const World *w, int day)
{
	return DateADTGetDatum(w->start_date + day);
}

static Datum
timestamp_of(const World *w, int day, int second)
{
	return TimestampTzGetDatum(((int64) (w->start_date + day) * SECS_PER_DAY + second) * USECS_PER_SEC);
}

#define TEXT(s) CStringGetTextDatum(s)

PG_FUNCTION_INFO_V1(sample_customers);
Datum
sample_customers(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int id = 1; id <= w->ncustomers; id++)
	{
		Customer	c;
		Datum		v[11];
		bool		n[11] = {0};
		char		buf[128];
		const char *first,
				   *last;
		uint64		h = riq_mix64(w->seed, (uint64) id);
		int			jd;

		CHECK_FOR_INTERRUPTS();
		sample_customer(w, id, &c);
		first = sample_first_name(c.first_name, c.female);
		last = sample_last_name(c.last_name);
		v[0] = Int32GetDatum(id);
		snprintf(buf, sizeof(buf), "%s %s", first, last);
		v[1] = TEXT(buf);
		snprintf(buf, sizeof(buf), "+86 1%d%d %04d %04d", 3 + (int) (h % 7), (int) ((h >> 8) % 10),
				 (int) ((h >> 16) % 10000), (int) ((h >> 32) % 10000));
		v[2] = TEXT(buf);
		snprintf(buf, sizeof(buf), "%s.%s%d@example.com", first, last, id);
		for (char *p = buf; *p; p++)
			*p = pg_ascii_tolower((unsigned char) *p);
		v[3] = TEXT(buf);
		jd = date2j(c.birth_year, 1, 1) + c.birth_doy;
		v[4] = DateADTGetDatum(jd - POSTGRES_EPOCH_JDATE);
		v[5] = TEXT(c.female ? "F" : "M");
		/* a customer lives in the city of their home store */
		v[6] = TEXT(sample_city(c.home_store));
		v[7] = Int32GetDatum(c.home_store + 1);
		v[8] = date_of(w, c.signup_day);
		v[9] = TEXT(sample_customer_type_names[c.type]);
		if (c.churn_day < w->ndays)
			v[10] = date_of(w, c.churn_day);
		else
			n[10] = true;
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_stores);
Datum
sample_stores(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int s = 0; s < w->nstores; s++)
	{
		Datum		v[6];
		bool		n[6] = {0};
		char		buf[64];
		double		size = w->store_weight[s] - (s > 0 ? w->store_weight[s - 1] : 0);

		snprintf(buf, sizeof(buf), "%s #%d", sample_city(s), s / sample_ncities() + 1);
		v[0] = Int32GetDatum(s + 1);
		v[1] = TEXT(buf);
		v[2] = TEXT(sample_city(s));
		v[3] = TEXT(sample_region(s));
		v[4] = DateADTGetDatum(w->start_date - 365 * (1 + (int) (riq_mix64(w->seed, s) % 15)));
		v[5] = Int32GetDatum((int) (size * 2000));
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_zones);
Datum
sample_zones(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int s = 0; s < w->nstores; s++)
		for (int z = 0; z < SAMPLE_NZONE; z++)
		{
			Datum		v[4];
			bool		n[4] = {0};
			int			cat = -1;

			for (int c = 0; c < SAMPLE_NCAT && cat < 0; c++)
				if (sample_category_zone[c] == z)
					cat = c;
			v[0] = Int32GetDatum(s + 1);
			v[1] = Int32GetDatum(z + 1);
			v[2] = TEXT(sample_zone_names[z]);
			if (cat >= 0)
				v[3] = TEXT(sample_category_names[cat]);
			else
				n[3] = true;
			emit_row(&e, v, n);
		}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_products);
Datum
sample_products(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int p = 0; p < w->nproducts; p++)
	{
		const Product *pr = &w->products[p];
		Datum		v[7];
		bool		n[7] = {0};
		char		buf[128];

		v[0] = Int32GetDatum(p + 1);
		snprintf(buf, sizeof(buf), "SKU-%06d", p + 1);
		v[1] = TEXT(buf);
		snprintf(buf, sizeof(buf), "%s %s %d", sample_brand(pr->brand),
				 sample_category_names[pr->category], p + 1);
		v[2] = TEXT(buf);
		v[3] = TEXT(sample_category_names[pr->category]);
		v[4] = TEXT(sample_brand(pr->brand));
		v[5] = Float8GetDatum(pr->price);
		v[6] = Float8GetDatum(round(pr->price * (0.55 + 0.2 * ((riq_mix64(w->seed, p) % 100) / 100.0)) * 100) / 100);
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_promotions);
Datum
sample_promotions(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int i = 0; i < w->npromos; i++)
	{
		const Promotion *pm = &w->promos[i];
		Datum		v[7];
		bool		n[7] = {0};

		v[0] = Int32GetDatum(i + 1);
		v[1] = Int32GetDatum(pm->product + 1);
		if (pm->store >= 0)
			v[2] = Int32GetDatum(pm->store + 1);
		else
			n[2] = true;
		v[3] = date_of(w, pm->start_day);
		v[4] = date_of(w, pm->end_day);
		v[5] = Float8GetDatum(pm->depth * 100.0);
		v[6] = BoolGetDatum(pm->featured);
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_calendar);
Datum
sample_calendar(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int d = 0; d < w->ndays; d++)
	{
		Datum		v[6];
		bool		n[6] = {0};
		int			dow = j2day(w->start_date + POSTGRES_EPOCH_JDATE + d);	/* 0 = Sunday */

		v[0] = date_of(w, d);
		v[1] = Int32GetDatum(dow);
		v[2] = BoolGetDatum(dow == 0 || dow == 6);
		v[3] = BoolGetDatum(w->is_holiday[d]);
		if (w->holiday_name[d])
			v[4] = TEXT(w->holiday_name[d]);
		else
			n[4] = true;
		v[5] = Float8GetDatum(w->temperature[d]);
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

PG_FUNCTION_INFO_V1(sample_rules);
Datum
sample_rules(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;

	emit_begin(fcinfo, &e);
	for (int r = 0; r < w->nrules; r++)
	{
		Datum		v[3];
		bool		n[3] = {0};

		v[0] = Int32GetDatum(w->rules[r].antecedent + 1);
		v[1] = Int32GetDatum(w->rules[r].consequent + 1);
		v[2] = Float8GetDatum(w->rules[r].probability);
		emit_row(&e, v, n);
	}
	PG_RETURN_NULL();
}

static void
order_row(void *arg, const World *w, const Order *o)
{
	Emit	   *e = arg;
	Datum		v[8];
	bool		n[8] = {0};
	double		total = 0,
				discount = 0;
	int			items = 0;

	for (int i = 0; i < o->nlines; i++)
	{
		total += o->lines[i].unit_price * o->lines[i].quantity - o->lines[i].discount;
		discount += o->lines[i].discount;
		items += o->lines[i].quantity;
	}
	v[0] = Int64GetDatum(o->order_id);
	v[1] = Int32GetDatum(o->customer->id);
	v[2] = Int32GetDatum(o->store + 1);
	v[3] = TEXT(o->online ? "online" : "store");
	v[4] = timestamp_of(w, o->day, o->second);
	v[5] = Int32GetDatum(items);
	v[6] = Float8GetDatum(round(total * 100.0) / 100.0);
	v[7] = Float8GetDatum(round(discount * 100.0) / 100.0);
	emit_row(e, v, n);
}

PG_FUNCTION_INFO_V1(sample_orders);
Datum
sample_orders(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;
	SampleCallbacks cb = {order_row, NULL, &e};

	emit_begin(fcinfo, &e);
	sample_simulate(w, &cb);
	PG_RETURN_NULL();
}

static void
line_rows(void *arg, const World *w, const Order *o)
{
	Emit	   *e = arg;

	for (int i = 0; i < o->nlines; i++)
	{
		const OrderLine *l = &o->lines[i];
		Datum		v[8];
		bool		n[8] = {0};

		v[0] = Int64GetDatum(o->order_id);
		v[1] = Int32GetDatum(i + 1);
		v[2] = Int32GetDatum(l->product + 1);
		v[3] = Int32GetDatum(l->quantity);
		v[4] = Float8GetDatum(l->unit_price);
		v[5] = Float8GetDatum(l->discount);
		if (l->promo >= 0)
			v[6] = Int32GetDatum(l->promo + 1);
		else
			n[6] = true;
		v[7] = BoolGetDatum(l->returned);
		emit_row(e, v, n);
	}
}

PG_FUNCTION_INFO_V1(sample_order_lines);
Datum
sample_order_lines(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;
	SampleCallbacks cb = {line_rows, NULL, &e};

	emit_begin(fcinfo, &e);
	sample_simulate(w, &cb);
	PG_RETURN_NULL();
}

/* event_id, customer_id, store_id, channel, event_type, product_id, zone_id, occurred_at, duration_s */
static void
event_row(Emit *e, const World *w, int customer, int store, bool online, const char *type,
		  int product, int zone, int day, int second, int duration)
{
	Datum		v[9];
	bool		n[9] = {0};

	/* events may start the evening before an early order, but never before day 0 */
	if (day == 0 && second < 0)
		second = 0;
	v[0] = Int64GetDatum(e->next_id++);
	v[1] = Int32GetDatum(customer);
	if (store >= 0)
		v[2] = Int32GetDatum(store + 1);
	else
		n[2] = true;
	v[3] = TEXT(online ? "online" : "store");
	v[4] = TEXT(type);
	if (product >= 0)
		v[5] = Int32GetDatum(product + 1);
	else
		n[5] = true;
	if (zone >= 0)
		v[6] = Int32GetDatum(zone + 1);
	else
		n[6] = true;
	v[7] = timestamp_of(w, day, second);
	if (duration > 0)
		v[8] = Int32GetDatum(duration);
	else
		n[8] = true;
	emit_row(e, v, n);
}

static void
order_events(void *arg, const World *w, const Order *o)
{
	Emit	   *e = arg;
	RiqRng		rng;
	int			cust = o->customer->id;

	riq_rng_seed(&rng, w->seed, UINT64CONST(2) << 40 | (uint64) o->order_id);
	if (o->online)
	{
		/* each bought product was viewed, sometimes twice, then put in the cart */
		int			t = o->second - 60 - 240 * o->nlines;	/* 240 s covers a line's events */

		for (int i = 0; i < o->nlines; i++)
		{
			int			views = 1 + (riq_rng_uniform(&rng) < 0.3);

			for (int k = 0; k < views; k++)
			{
				event_row(e, w, cust, -1, true, "view", o->lines[i].product, -1, o->day, t, 0);
				t += 20 + (int) riq_rng_below(&rng, 60);
			}
			event_row(e, w, cust, -1, true, "cart_add", o->lines[i].product, -1, o->day, t, 0);
			t += 10 + (int) riq_rng_below(&rng, 30);
		}
	}
	else
	{
		/* in store: each zone shopped (once), then the checkout */
		bool		zone_seen[SAMPLE_NZONE] = {0};
		int			dur[SAMPLE_NZONE + 2];
		int			zone[SAMPLE_NZONE + 2];
		int			nz = 0,
					total = 0,
					t;

		for (int i = 0; i < o->nlines; i++)
		{
			int			cat = w->products[o->lines[i].product].category;
			int			z = sample_category_zone[cat];

			if (zone_seen[z])
				continue;
			zone_seen[z] = true;
			zone[nz] = z;
			/* fresh-produce lovers linger there */
			if (cat == 0 && o->customer->fav_category == 0)
				dur[nz++] = 240 + (int) riq_rng_below(&rng, 600);
			else
				dur[nz++] = 45 + (int) riq_rng_below(&rng, 240);
		}
		zone[nz] = SAMPLE_NZONE - 1;
		dur[nz++] = 60 + (int) riq_rng_below(&rng, 240);
		for (int i = 0; i < nz; i++)
			total += dur[i];
		t = o->second - total;
		for (int i = 0; i < nz; i++)
		{
			event_row(e, w, cust, o->store, false, "dwell", -1, zone[i], o->day, t, dur[i]);
			t += dur[i];
		}
	}
}

static void
browse_events(void *arg, const World *w, const Customer *c, int day, int second,
			  bool online, int store, const int *viewed, int nviewed, int ncart)
{
	Emit	   *e = arg;
	int			t = second;

	for (int i = 0; i < nviewed; i++)
	{
		event_row(e, w, c->id, store, online, "view", viewed[i], -1, day, t, 0);
		t += 30 + (i * 17) % 90;
	}
	if (ncart > 0)
		event_row(e, w, c->id, store, online, "cart_add", viewed[nviewed - 1], -1, day, t, 0);
}

PG_FUNCTION_INFO_V1(sample_events);
Datum
sample_events(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;
	SampleCallbacks cb = {order_events, browse_events, &e};

	emit_begin(fcinfo, &e);
	sample_simulate(w, &cb);
	PG_RETURN_NULL();
}

static void
count_sold(void *arg, const World *w, const Order *o)
{
	Emit	   *e = arg;

	if (o->day < e->window_start)
		return;
	for (int i = 0; i < o->nlines; i++)
		e->sold[((Size) (o->day - e->window_start) * w->nstores + o->store) * w->nproducts +
				o->lines[i].product] += o->lines[i].quantity;
}

/*
 * Daily stock for the last INVENTORY_DAYS days: demand is what the simulated orders sold;
 * when stock at the end of a day is at or below the reorder level, a delivery of
 * reorder_qty arrives two days later. A day's sales are capped by the stock on hand.
 */
PG_FUNCTION_INFO_V1(sample_inventory_daily);
Datum
sample_inventory_daily(PG_FUNCTION_ARGS)
{
	World	   *w = world_from_args(fcinfo);
	Emit		e;
	SampleCallbacks cb = {count_sold, NULL, &e};
	int			ndays;
	Size		cells;

	emit_begin(fcinfo, &e);
	ndays = Min(INVENTORY_DAYS, w->ndays);
	e.window_start = w->ndays - ndays;
	cells = riq_mul_size((Size) ndays * w->nstores, w->nproducts, "sample inventory");
	e.sold = riq_alloc(CurrentMemoryContext, riq_mul_size(cells, sizeof(int32), "sample inventory"),
					   "sample inventory");
	memset(e.sold, 0, cells * sizeof(int32));
	sample_simulate(w, &cb);

	for (int s = 0; s < w->nstores; s++)
		for (int p = 0; p < w->nproducts; p++)
		{
			int64		total = 0;
			double		avg;
			int			level,
						qty,
						on_hand,
						arrives = -1;

			CHECK_FOR_INTERRUPTS();
			for (int d = 0; d < ndays; d++)
				total += e.sold[((Size) d * w->nstores + s) * w->nproducts + p];
			avg = (double) total / ndays;
			level = (int) ceil(avg * 4.0) + 2;
			qty = (int) ceil(avg * 10.0) + 6;
			on_hand = level + qty / 2 + (int) (riq_mix64(w->seed, (uint64) s * 1000003 + p) % (qty + 1));
			for (int d = 0; d < ndays; d++)
			{
				Datum		v[8];
				bool		n[8] = {0};
				int			received = 0,
							demand = e.sold[((Size) d * w->nstores + s) * w->nproducts + p],
							sold;

				if (arrives == d)
				{
					received = qty;
					on_hand += qty;
					arrives = -1;
				}
				sold = Min(demand, on_hand);
				on_hand -= sold;
				if (on_hand <= level && arrives < 0)
					arrives = d + 2;
				v[0] = date_of(w, e.window_start + d);
				v[1] = Int32GetDatum(s + 1);
				v[2] = Int32GetDatum(p + 1);
				v[3] = Int32GetDatum(on_hand);
				v[4] = Int32GetDatum(received);
				v[5] = Int32GetDatum(sold);
				v[6] = Int32GetDatum(level);
				v[7] = Int32GetDatum(qty);
				emit_row(&e, v, n);
			}
		}
	PG_RETURN_NULL();
}
