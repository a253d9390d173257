/*
 * series_dates.c: the calendar of a forecasting panel: the date k periods after a start for
 * daily, weekly and calendar-monthly series, frequency names, default seasons, and the
 * lookup of a series key in a model's sorted keys.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "core/model.h"
#include "forecast/series.h"

char *
series_date_text(DateADT d)
{
	return DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum(d)));
}

void
series_date_ymd(DateADT d, int *y, int *m, int *day)
{
	j2date(d + POSTGRES_EPOCH_JDATE, y, m, day);
}

int
series_days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dim[m - 1];
}

DateADT
series_date_add(ForecastFreq freq, DateADT start, int k)
{
	int64		r;

	if (freq == FREQ_MONTH)
	{
		int			y,
					m,
					d;
		int64		mi;

		series_date_ymd(start, &y, &m, &d);
		mi = (int64) y * 12 + (m - 1) + k;
		y = (int) (mi >= 0 ? mi / 12 : -((-mi + 11) / 12));
		m = (int) (mi - (int64) y * 12) + 1;
		if (y > 5000000 || y < -4713)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("date out of range: %d months after %s", k, series_date_text(start))));
		d = Min(d, series_days_in_month(y, m));
		r = (int64) date2j(y, m, d) - POSTGRES_EPOCH_JDATE;
	}
	else
		r = (int64) start + (int64) k * (freq == FREQ_WEEK ? 7 : 1);
	if (!IS_VALID_DATE(r))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("date out of range: %d periods after %s", k, series_date_text(start))));
	return (DateADT) r;
}

const char *
series_freq_name(ForecastFreq freq)
{
	switch (freq)
	{
		case FREQ_DAY:
			return "day";
		case FREQ_WEEK:
			return "week";
		case FREQ_MONTH:
			return "month";
	}
	return "?";
}

ForecastFreq
series_model_freq(const ModelView *mv, const char *key)
{
	const char *name = model_get_text(mv, MODEL_PARAMS, key);

	static const ForecastFreq all[] = {FREQ_DAY, FREQ_WEEK, FREQ_MONTH};

	for (size_t i = 0; i < lengthof(all); i++)
		if (strcmp(name, series_freq_name(all[i])) == 0)
			return all[i];
	model_corrupt(mv, "The frequency \"%s\" is not day, week or month.", name);
}

ForecastFreq
series_freq_parse(const char *name, const char *argname)
{
	if (strcmp(name, "day") == 0 || strcmp(name, "daily") == 0)
		return FREQ_DAY;
	if (strcmp(name, "week") == 0 || strcmp(name, "weekly") == 0)
		return FREQ_WEEK;
	if (strcmp(name, "month") == 0 || strcmp(name, "monthly") == 0)
		return FREQ_MONTH;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be 'day', 'week' or 'month'", argname),
			 errdetail("It is \"%s\".", name)));
	return FREQ_DAY;			/* keep the compiler quiet */
}

int
series_default_season(ForecastFreq freq)
{
	switch (freq)
	{
		case FREQ_DAY:
			return 7;
		case FREQ_WEEK:
			return 52;
		case FREQ_MONTH:
			return 12;
	}
	return 1;
}

int
series_key_index(char *const *keys, int n, const char *key)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(keys[mid], key);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

