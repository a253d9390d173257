/*
 * series_panel.c: series_collect_finish (series.h), the collected rows as a panel: one
 * regular series per key in the keys' byte order, the frequency inferred from the dates
 * (days, weeks or calendar months), duplicate dates, short series and negative values
 * refused, gaps filled or refused by the gap policy.
 *
 * It reads the collector in canonical form (series_collect.h): rows sorted by (key, date),
 * so each series is one run of rows and nothing depends on the order rows arrived in.
 * With "duplicates": "sum" the rows of one key and date become one period (values added
 * in the canonical order, so the sum does not depend on the arrival order; factors
 * averaged): a source's raw rows can be fitted without a GROUP BY of their own (the
 * refresh's path: no sort or hash of every row before the collector's own sort).
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "core/memory.h"
#include "core/rowstore.h"
#include "forecast/series.h"
#include "forecast/series_collect.h"

#define ROW_KEY(v, i)	((int) RIQ_ROW((v)->rows, i)[SERIES_COL_KEY])
#define ROW_DATE(v, i)	((DateADT) RIQ_ROW((v)->rows, i)[SERIES_COL_DATE])
#define ROW_Y(v, i)		(RIQ_ROW((v)->rows, i)[SERIES_COL_Y])
#define ROW_EXOG(v, i)	(RIQ_ROW((v)->rows, i) + SERIES_COL_EXOG)

static int64
gcd64(int64 a, int64 b)
{
	while (b != 0)
	{
		int64		t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Period index of date d relative to start under freq (d on the grid). */
static int64
period_index(ForecastFreq freq, DateADT start, DateADT d)
{
	if (freq == FREQ_MONTH)
	{
		int			y0,
					m0,
					d0,
					y1,
					m1,
					d1;

		series_date_ymd(start, &y0, &m0, &d0);
		series_date_ymd(d, &y1, &m1, &d1);
		return ((int64) y1 * 12 + m1) - ((int64) y0 * 12 + m0);
	}
	return ((int64) d - start) / (freq == FREQ_WEEK ? 7 : 1);
}

/*
 * The date facts (series_collect.h) of one more row dated d, of a series with an earlier
 * row dated ref (ref == d for its first row). The gaps enter through their gcd only, and
 * the gcd of a series' gaps between consecutive dates is the gcd of its dates' distances
 * from any one of them: so the facts do not depend on the order rows arrive in, and the
 * groups of a streamed fit (series_collect.c) gather the facts of the whole panel.
 */
void
series_date_facts_add(SeriesDateFacts *f, DateADT ref, DateADT d)
{
	int			y,
				m,
				day,
				y0,
				m0,
				d0;

	series_date_ymd(d, &y, &m, &day);
	if (f->dom0 < 0)
		f->dom0 = day;
	else if (day != f->dom0)
		f->same_dom = false;
	if (day != series_days_in_month(y, m))
		f->all_month_end = false;
	if (d == ref)
		return;
	series_date_ymd(ref, &y0, &m0, &d0);
	f->any_diff = true;
	f->g = gcd64(f->g, Abs((int64) d - ref));
	f->gm = gcd64(f->gm, Abs(((int64) y * 12 + m) - ((int64) y0 * 12 + m0)));
}

void
series_date_facts_init(SeriesDateFacts *f)
{
	f->same_dom = true;
	f->all_month_end = true;
	f->any_diff = false;
	f->g = 0;
	f->gm = 0;
	f->dom0 = -1;
}

/*
 * One pass over the rows in (key, date) order: each key's first row and row count, the
 * date facts; two rows of one series on one date are an error unless they are summed (sum).
 */
static void
scan_rows(const SeriesRowsView *v, bool sum, int64 *first, int64 *count, SeriesDateFacts *ds)
{
	series_date_facts_init(ds);
	for (int64 i = 0; i < v->rows->n; i++)
	{
		int			s = ROW_KEY(v, i);
		DateADT		ts = ROW_DATE(v, i);

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (count[s] == 0)
			first[s] = i;
		count[s]++;
		if (count[s] > 1 && ts == ROW_DATE(v, i - 1) && !sum)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("series \"%s\" has more than one row for %s",
							v->keys[s], series_date_text(ts)),
					 errhint("Aggregate to one row per series and date first (for instance sum(units) ... GROUP BY series, day).")));
		series_date_facts_add(ds, count[s] > 1 ? ROW_DATE(v, i - 1) : ts, ts);
	}
}

/*
 * The frequency the date facts say: calendar months when every date is the same day of
 * month, else days or weeks by the gcd of the gaps. (Two distinct dates of a series on one
 * day of month, or two month ends, are at least 28 days apart: no smallest gap is needed.)
 */
ForecastFreq
series_date_facts_freq(const SeriesDateFacts *ds)
{
	if (!ds->any_diff)
		return FREQ_DAY;
	if (ds->same_dom)
	{
		if (ds->dom0 > 28)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("monthly dates must fall on a day of month up to 28"),
					 errdetail("Every date is day %d of its month.", ds->dom0),
					 errhint("Date each month by its first day (date_trunc('month', ts)::date).")));
		if (ds->gm != 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the dates fit no single frequency: they are %lld months apart", (long long) ds->gm),
					 errhint("Forecasting works on daily, weekly or monthly series; aggregate quarterly data to months or forecast it elsewhere.")));
		return FREQ_MONTH;
	}
	if (ds->all_month_end)
		/* month ends are 28..31 days apart: read as daily they would be gap-filled with zeros */
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("monthly dates must fall on a day of month up to 28"),
				 errdetail("Every date is the last day of its month."),
				 errhint("Date each month by its first day (date_trunc('month', ts)::date).")));
	if (ds->g == 1)
		return FREQ_DAY;
	if (ds->g == 7)
		return FREQ_WEEK;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the dates fit no single frequency: they are multiples of %lld days apart", (long long) ds->g),
			 errhint("Give daily dates, weekly dates on one weekday, or monthly dates on one day of the month.")));
	return FREQ_DAY;			/* not reached */
}

/*
 * Series s (its cnt rows from row lo) as a regular series in fs: gaps filled or refused by
 * the gap policy, length and sign checked.
 */
static void
build_series(const SeriesRowsView *v, int s, int64 lo, int64 cnt, ForecastFreq freq,
			 const SeriesOptions *opt, ForecastSeries *fs)
{
	int			n_exog = v->n_exog;
	DateADT		start = ROW_DATE(v, lo);
	DateADT		last = ROW_DATE(v, lo + cnt - 1);
	int64		n = period_index(freq, start, last) + 1;
	int64		j,
				distinct = 1;
	int		   *rows_at = NULL;	/* rows per period, to average duplicates' factors */

	if (n > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("series \"%s\" spans too many periods", v->keys[s])));
	fs->key = v->keys[s];
	fs->start = start;
	fs->n = (int) n;
	for (j = 1; j < cnt; j++)
		distinct += ROW_DATE(v, lo + j) != ROW_DATE(v, lo + j - 1);
	fs->n_filled = (int) (n - distinct);
	if (fs->n_filled > 0 && opt->gaps == GAPS_ERROR)
	{
		/* first missing period */
		for (j = 0; j < cnt; j++)
			if (period_index(freq, start, ROW_DATE(v, lo + j)) != j)
				break;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" has no row for %s", v->keys[s],
						series_date_text(series_date_add(freq, start, (int) j))),
				 errdetail("%d of its %lld %ss between %s and %s are missing.",
						   fs->n_filled, (long long) n, series_freq_name(freq),
						   series_date_text(start), series_date_text(last)),
				 errhint("Add the missing rows, or use the option \"gaps\": \"zero\" to count them as no sales.")));
	}
	if (n < opt->min_length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("series \"%s\" is too short: %lld %ss, at least %d needed",
						v->keys[s], (long long) n, series_freq_name(freq), opt->min_length),
				 errhint("Filter out the short series (for instance HAVING count(*) >= %d) or lower options.min_length.",
						 opt->min_length)));
	fs->y = riq_alloc(CurrentMemoryContext, riq_mul_size(n, sizeof(double), "the forecast panel"),
					  "the forecast panel");
	memset(fs->y, 0, sizeof(double) * n);
	if (n_exog > 0)
	{
		Size		b = riq_mul_size(n, sizeof(double) * n_exog, "the forecast panel");

		fs->exog = riq_alloc(CurrentMemoryContext, b, "the forecast panel");
		memset(fs->exog, 0, b);
		if (distinct < cnt)
			rows_at = palloc0(sizeof(int) * n);
	}
	for (j = 0; j < cnt; j++)
	{
		DateADT		ts = ROW_DATE(v, lo + j);
		double		y = ROW_Y(v, lo + j);
		int64		t = period_index(freq, start, ts);

		if (freq == FREQ_WEEK && ((int64) ts - start) % 7 != 0)
			elog(ERROR, "weekly date off the grid");
		if (y < 0 && !opt->allow_negative && !opt->sum_duplicates)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("y must not be negative"),
					 errdetail("Series \"%s\" has %g on %s.", v->keys[s], y, series_date_text(ts)),
					 errhint("Clip returns to 0 (greatest(y, 0)), or set the option \"allow_negative\": true.")));
		if (rows_at != NULL)
		{
			/* duplicates summed: the factors added here, averaged below */
			const double *x = ROW_EXOG(v, lo + j);

			for (int e = 0; e < n_exog; e++)
				fs->exog[t * n_exog + e] += x[e];
			rows_at[t]++;
		}
		else if (n_exog > 0)
			memcpy(fs->exog + t * n_exog, ROW_EXOG(v, lo + j), sizeof(double) * n_exog);
		/* a second row of the date only when duplicates are summed (scan_rows) */
		if (j > 0 && ts == ROW_DATE(v, lo + j - 1))
		{
			fs->y[t] += y;
			if (isinf(fs->y[t]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the sum of series \"%s\" on %s is out of range",
								v->keys[s], series_date_text(ts)),
						 errhint("Scale the values down (for instance to thousands).")));
		}
		else
			fs->y[t] = y;
	}
	/* summed, a day's returns may offset its sales: the sums must not be negative */
	for (j = 0; j < n && opt->sum_duplicates && !opt->allow_negative; j++)
		if (fs->y[j] < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("y must not be negative"),
					 errdetail("Series \"%s\" has %g on %s.", v->keys[s], fs->y[j],
							   series_date_text(series_date_add(freq, start, (int) j))),
					 errhint("Clip returns to 0 (greatest(y, 0)), or set the option \"allow_negative\": true.")));
	if (rows_at != NULL)
	{
		for (j = 0; j < n; j++)
			for (int e = 0; e < n_exog && rows_at[j] > 1; e++)
				fs->exog[j * n_exog + e] /= rows_at[j];
		pfree(rows_at);
	}
}

ForecastPanel *
series_collect_finish(SeriesCollector *state, const SeriesOptions *opt)
{
	return series_collect_finish_freq(state, opt, NULL);
}

ForecastPanel *
series_collect_finish_freq(SeriesCollector *state, const SeriesOptions *opt, const ForecastFreq *given)
{
	SeriesRowsView v;
	ForecastPanel *panel;
	int64	   *first;			/* first row of each series */
	int64	   *count;
	SeriesDateFacts ds;
	ForecastFreq freq;

	if (series_collect_rows(state) == 0)
		return NULL;
	series_collect_canonical(state, &v);

	first = palloc0(sizeof(int64) * v.nkeys);
	count = palloc0(sizeof(int64) * v.nkeys);
	scan_rows(&v, opt->sum_duplicates, first, count, &ds);
	freq = given ? *given : series_date_facts_freq(&ds);

	panel = palloc0(sizeof(ForecastPanel));
	panel->freq = freq;
	panel->season = series_default_season(freq);
	panel->n_exog = v.n_exog;
	panel->nseries = v.nkeys;
	panel->series = palloc0(sizeof(ForecastSeries) * v.nkeys);
	for (int k = 0; k < v.nkeys; k++)
	{
		CHECK_FOR_INTERRUPTS();
		/* the collector interns a key only with a row, and deserialize checks it */
		if (count[k] == 0)
			elog(ERROR, "forecast series key \"%s\" has no row", v.keys[k]);
		build_series(&v, k, first[k], count[k], freq, opt, &panel->series[k]);
	}
	pfree(first);
	pfree(count);
	return panel;
}
