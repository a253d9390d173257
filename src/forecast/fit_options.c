/*
 * fit_options.c: forecast_fit's options, read into the typed ForecastOptions once per
 * aggregate group. One dialect for every method: a key is known when it is one of the
 * collector's (gaps, allow_negative, min_length), one of the keys every local method
 * shares (below) or one a registered method declares; a JSON null means the default; an
 * error says "options.<key> must ..." with the SQLSTATE 22023.
 */
#include "postgres.h"

#include <math.h>

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "forecast/method.h"

static const char *const common_keys[] = {
	"level", "season", "seed", "validation", "verbose", "short",
	"warm_start", "reselect_days", "degrade_ratio", /* warm_start.c */
	NULL
};

/* every key forecast_fit knows: the shared ones and each registered method's */
static const char *const *
known_keys(void)
{
	static const char **keys = NULL;
	int			n = 0,
				i,
				k;

	if (keys != NULL)
		return keys;
	for (i = 0; i < forecast_method_count(); i++)
		for (k = 0; forecast_method_at(i)->option_keys && forecast_method_at(i)->option_keys[k]; k++)
			n++;
	keys = MemoryContextAllocZero(TopMemoryContext, sizeof(char *) * (n + lengthof(common_keys)));
	n = 0;
	for (k = 0; common_keys[k] != NULL; k++)
		keys[n++] = common_keys[k];
	for (i = 0; i < forecast_method_count(); i++)
	{
		const ForecastMethod *m = forecast_method_at(i);

		if (m->scope != METHOD_LOCAL)
			continue;
		for (k = 0; m->option_keys && m->option_keys[k]; k++)
		{
			int			d;

			for (d = 0; d < n && strcmp(keys[d], m->option_keys[k]) != 0; d++)
				;
			if (d == n)
				keys[n++] = m->option_keys[k];
		}
	}
	return keys;
}

static const char *
method_choices(void)
{
	StringInfoData buf;
	int			i,
				n = 0,
				seen = 0;

	for (i = 0; i < forecast_method_count(); i++)
		if (forecast_method_at(i)->requestable && forecast_method_at(i)->scope == METHOD_LOCAL)
			n++;
	initStringInfo(&buf);
	for (i = 0; i < forecast_method_count(); i++)
	{
		const ForecastMethod *m = forecast_method_at(i);

		if (!m->requestable || m->scope != METHOD_LOCAL)
			continue;
		seen++;
		appendStringInfo(&buf, "%s'%s'", seen == 1 ? "" : (seen == n ? " or " : ", "), m->name);
	}
	return buf.data;
}

void
forecast_options_parse(const char *method, Jsonb *j, ForecastOptions *o)
{
	const ForecastMethod *m = forecast_method_by_name(method);
	JsonbValue *v;
	int			i;

	memset(o, 0, sizeof(*o));
	if (m == NULL || m->scope != METHOD_LOCAL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("method must be %s", method_choices()),
				 errdetail("It is '%s'.", method),
				 errhint("For the neural network use retailiq.forecast_lstm_fit.")));
	o->method = m;
	series_check_option_keys(j, known_keys(), "forecast_fit");
	series_options_from_jsonb(j, &o->series);
	o->level = forecast_opt_number(j, "level", 0.8, 1e-6, 1 - 1e-6, false,
								   "The interval coverage is a probability such as 0.8 or 0.95.");
	o->season = (int) forecast_opt_number(j, "season", 0, 1, FIT_MAX_M, true,
										  "The season is a whole number of periods from 1 (none) to 64.");
	o->seed = (int64) forecast_opt_number(j, "seed", 42, 0, 9007199254740992.0, true,
										  "The seed is a non-negative integer.");
	o->validation = (int) forecast_opt_number(j, "validation", 0, 1, FORECAST_MAX_HORIZON, true,
											  "The number of final periods auto holds out to compare methods.");
	for (i = 0; i < forecast_method_count(); i++)
		if (forecast_method_at(i)->parse_options != NULL)
			forecast_method_at(i)->parse_options(j, o->per[i].bytes);
	o->verbose = forecast_opt_bool(j, "verbose", false);
	/* 'auto' serves nightly refreshes over many series: it falls back; a named method refuses */
	o->short_error = strcmp(m->name, "auto") != 0;
	if ((v = series_option_value(j, "short")) != NULL)
	{
		char	   *sv = v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;

		if (sv != NULL && strcmp(sv, "error") == 0)
			o->short_error = true;
		else if (sv != NULL && strcmp(sv, "fallback") == 0)
			o->short_error = false;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("options.short must be \"error\" or \"fallback\""),
					 errhint("\"error\" refuses a series too short for the method, \"fallback\" fits it with a simpler one and says so in a NOTICE.")));
	}
}
