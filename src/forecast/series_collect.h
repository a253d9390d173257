/*
 * series_collect.h: what the panel builder (series_panel.c) reads of a series collector
 * (series_collect.c); the rest of the forecast part goes through series.h.
 *
 * The collector keeps its rows in the core row store: one fixed-width float8 row per input
 * row, (series key id, date, value, factors...), with the distinct series keys in a
 * dictionary beside it. Ids and dates are whole numbers well inside float8's exact range.
 */
#ifndef RETAILIQ_FORECAST_SERIES_COLLECT_H
#define RETAILIQ_FORECAST_SERIES_COLLECT_H

#include "core/rowstore.h"
#include "forecast/series.h"

/* the columns of a collected row */
#define SERIES_COL_KEY		0
#define SERIES_COL_DATE		1
#define SERIES_COL_Y		2
#define SERIES_COL_EXOG		3	/* the first factor; n_exog of them */

/* the collector's rows in canonical order, and the keys their first column indexes */
typedef struct SeriesRowsView
{
	const RiqRows *rows;
	char	   *const *keys;	/* NUL-terminated, in byte order */
	int			nkeys;			/* each key has at least one row */
	int			n_exog;
} SeriesRowsView;

/*
 * Put the collector in canonical form and describe it: key ids renumbered to the keys'
 * byte order, rows sorted by (key, date, value, factors). The rows stand for the same
 * input as before, so the collector may go on collecting afterwards (a window frame).
 */
extern void series_collect_canonical(SeriesCollector *state, SeriesRowsView *view);

/*
 * What the dates say about the frequency (series_panel.c): gathered row by row in any
 * order, from each row's date and an earlier date of its series, so the in-memory panel
 * and the groups of a streamed collector infer the same frequency.
 */
typedef struct SeriesDateFacts
{
	bool		same_dom;		/* every date on the same day of month (dom0) */
	bool		all_month_end;
	bool		any_diff;		/* some series has two dates */
	int64		g;				/* gcd of the gaps, days */
	int64		gm;				/* gcd of the gaps, calendar months */
	int			dom0;
} SeriesDateFacts;

extern void series_date_facts_init(SeriesDateFacts *f);
extern void series_date_facts_add(SeriesDateFacts *f, DateADT ref, DateADT d);
extern ForecastFreq series_date_facts_freq(const SeriesDateFacts *f);

#endif							/* RETAILIQ_FORECAST_SERIES_COLLECT_H */
