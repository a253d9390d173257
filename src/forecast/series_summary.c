/*
 * series_summary.c: retailiq.forecast_series_summary, the panel a forecasting aggregate
 * would train on (frequency, season, each series' span, gaps and sums), as jsonb.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "forecast/series.h"

PG_FUNCTION_INFO_V1(forecast_series_summary_sfunc);
PG_FUNCTION_INFO_V1(forecast_series_summary_final);

Datum
forecast_series_summary_sfunc(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = series_collect_sfunc(fcinfo, PG_NARGS() > 4 ? 4 : 0);

	series_collect_options_from_args(st, fcinfo, 0, 5);
	PG_RETURN_POINTER(st);
}

Datum
forecast_series_summary_final(PG_FUNCTION_ARGS)
{
	SeriesCollector *st = PG_ARGISNULL(0) ? NULL : (SeriesCollector *) PG_GETARG_POINTER(0);
	SeriesOptions opt;
	ForecastPanel *panel;
	StringInfoData buf;
	const char *o = series_collect_options(st);
	int			k;

	series_options_from_jsonb(o ? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(o))) : NULL,
							  &opt);
	panel = series_collect_finish(st, &opt);
	if (panel == NULL)
		PG_RETURN_NULL();
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"frequency\": \"%s\", \"season\": %d, \"n_exog\": %d, \"nseries\": %d, \"series\": [",
					 series_freq_name(panel->freq), panel->season, panel->n_exog, panel->nseries);
	for (k = 0; k < panel->nseries; k++)
	{
		const ForecastSeries *s = &panel->series[k];
		double		sum = 0;
		int			t;

		for (t = 0; t < s->n; t++)
			sum += s->y[t];
		appendStringInfo(&buf, "%s{\"series\": ", k ? ", " : "");
		escape_json(&buf, s->key);
		appendStringInfo(&buf, ", \"start\": \"%s\", \"end\": \"%s\", \"n\": %d, \"filled\": %d, \"sum\": %.15g",
						 series_date_text(s->start), series_date_text(series_date_add(panel->freq, s->start, s->n - 1)),
						 s->n, s->n_filled, sum);
		if (panel->n_exog > 0)
		{
			int			j;

			appendStringInfoString(&buf, ", \"exog_sum\": [");
			for (j = 0; j < panel->n_exog; j++)
			{
				double		e = 0;

				for (t = 0; t < s->n; t++)
					e += s->exog[t * panel->n_exog + j];
				appendStringInfo(&buf, "%s%.15g", j ? ", " : "", e);
			}
			appendStringInfoChar(&buf, ']');
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

