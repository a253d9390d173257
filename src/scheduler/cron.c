/*
 * cron.c: the schedule language of retailiq jobs and the search for the next fire time.
 *
 * A schedule is either the five cron fields "minute hour day-of-month month day-of-week"
 * (lists, ranges, steps, three-letter or full month and day names, 7 = Sunday), a shorthand
 * (@yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly), or "@every <interval>"
 * (at least one second). Cron fields are matched against wall-clock time in a time zone
 * (GUC retailiq.job_time_zone unless one is given). As in Vixie cron, when both day fields
 * are restricted (neither starts with '*') a day matches if either matches.
 *
 * Daylight-saving changes: every local time that matches fires once. A local time that does
 * not exist (skipped by a spring-forward change) is read the way PostgreSQL reads such times,
 * with the offset in force before the change, so it fires at the instant the clock jumped
 * plus its minutes past the missing hour (02:30 in a 02:00->03:00 gap fires at 03:30); a
 * local time that occurs twice (fall-back) fires at its first occurrence only.
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "scheduler/scheduler.h"

#define CRON_SEARCH_YEARS 30

static const char *const field_names[5] = {"minute", "hour", "day-of-month", "month", "day-of-week"};
static const int field_min[5] = {0, 0, 1, 1, 0};
static const int field_max[5] = {59, 23, 31, 12, 7};
static const char *const field_ranges[5] = {
	"Minutes are 0 to 59.",
	"Hours are 0 to 23.",
	"Days of the month are 1 to 31.",
	"Months are 1 to 12 or jan to dec.",
	"Days of the week are 0 to 7 (0 and 7 are Sunday) or sun to sat."
};
static const char *const month_names[12] = {
	"january", "february", "march", "april", "may", "june", "july", "august",
	"september", "october", "november", "december"
};
static const char *const day_names[7] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"
};

#define SCHEDULE_HINT "A schedule is five fields \"minute hour day-of-month month day-of-week\" " \
	"such as '30 2 * * *' or '*/15 8-18 * * mon-fri', a shorthand such as '@daily', " \
	"or '@every <interval>' such as '@every 5 minutes'."

typedef struct ParseContext
{
	const char *schedule;
} ParseContext;

static void
schedule_error_context(void *arg)
{
	ParseContext *pc = (ParseContext *) arg;

	errcontext("schedule \"%s\"", pc->schedule);
}

static void pg_attribute_noreturn()
field_error(int field, const char *text, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid %s field \"%s\" in schedule", field_names[field], text),
			 errdetail("%s", detail),
			 errhint("%s %s", field_ranges[field], SCHEDULE_HINT)));
}

/* A number or (months, days of the week) a name; -1 when it is neither. */
static int
parse_value(int field, const char *s, int len)
{
	int			v = 0;
	int			i;

	if (len <= 0)
		return -1;
	if (isdigit((unsigned char) s[0]))
	{
		for (i = 0; i < len; i++)
		{
			if (!isdigit((unsigned char) s[i]) || i >= 4)
				return -1;
			v = v * 10 + (s[i] - '0');
		}
		return v;
	}
	if (field == 3 || field == 4)
	{
		const char *const *names = (field == 3) ? month_names : day_names;
		int			n = (field == 3) ? 12 : 7;

		for (i = 0; i < n; i++)
		{
			/* three-letter abbreviation or the full name, any case */
			if ((len == 3 || len == (int) strlen(names[i])) &&
				pg_strncasecmp(s, names[i], len) == 0)
				return (field == 3) ? i + 1 : i;
		}
	}
	return -1;
}

static uint64
parse_field(int field, const char *text, bool *star)
{
	uint64		bits = 0;
	const char *p = text;
	int			lo = field_min[field];
	int			hi = field_max[field];

	*star = (text[0] == '*');
	for (;;)
	{
		const char *item = p;
		const char *end = strchr(p, ',');
		const char *slash;
		const char *dash;
		int			len = end ? (int) (end - p) : (int) strlen(p);
		int			a,
					b,
					step = 1,
					v;
		char		detail[160];

		if (len == 0)
			field_error(field, text, "A list has an empty item.");
		slash = memchr(item, '/', len);
		if (slash)
		{
			step = parse_value(0, slash + 1, (int) (item + len - slash - 1));
			if (step < 1 || step > hi)
			{
				snprintf(detail, sizeof(detail), "The step \"%.*s\" is not a whole number from 1 to %d.",
						 (int) (item + len - slash - 1), slash + 1, hi);
				field_error(field, text, detail);
			}
			len = (int) (slash - item);
		}
		if (len == 1 && item[0] == '*')
		{
			a = lo;
			b = (field == 4) ? 6 : hi;
		}
		else
		{
			dash = memchr(item, '-', len);
			if (dash)
			{
				a = parse_value(field, item, (int) (dash - item));
				b = parse_value(field, dash + 1, (int) (item + len - dash - 1));
			}
			else
			{
				a = parse_value(field, item, len);
				/* "N/step" means from N to the end of the range, as in Vixie cron */
				b = slash ? ((field == 4) ? 6 : hi) : a;
			}
			if (a < 0 || b < 0)
			{
				snprintf(detail, sizeof(detail), "\"%.*s\" is not a number%s.", len, item,
						 field == 3 ? " or month name" : field == 4 ? " or day name" : "");
				field_error(field, text, detail);
			}
			if (a < lo || a > hi || b < lo || b > hi)
			{
				snprintf(detail, sizeof(detail), "\"%.*s\" is out of range.", len, item);
				field_error(field, text, detail);
			}
			if (a > b)
			{
				snprintf(detail, sizeof(detail), "The range \"%.*s\" starts after it ends.", len, item);
				field_error(field, text, detail);
			}
		}
		for (v = a; v <= b; v += step)
			bits |= UINT64CONST(1) << ((field == 4 && v == 7) ? 0 : v);
		if (!end)
			break;
		p = end + 1;
	}
	return bits;
}

/* Can a day-of-month-only schedule ever fire (e.g. "0 0 30 2 *" cannot)? */
static bool
cron_days_possible(const CronSpec *spec)
{
	int			m,
				d;

	for (m = 1; m <= 12; m++)
	{
		if (!(spec->months & (1 << m)))
			continue;
		for (d = 1; d <= day_tab[1][m - 1]; d++)
			if (spec->mdays & (UINT64CONST(1) << d))
				return true;
	}
	return false;
}

static void
parse_every(const char *arg, CronSpec *spec)
{
	Interval   *iv;
	int64		approx;

	while (isspace((unsigned char) *arg))
		arg++;
	if (*arg == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid interval field \"\" in schedule"),
				 errdetail("@every needs an interval."),
				 errhint("%s", SCHEDULE_HINT)));
	iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(arg),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	approx = iv->time + (int64) iv->day * USECS_PER_DAY + (int64) iv->month * 30 * USECS_PER_DAY;
	if (iv->time < 0 || iv->day < 0 || iv->month < 0 || approx < USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid interval field \"%s\" in schedule", arg),
				 errdetail("The interval of @every must be positive and at least 1 second."),
				 errhint("%s", SCHEDULE_HINT)));
	spec->is_every = true;
	spec->every = *iv;
}

void
cron_parse(const char *schedule, CronSpec *spec)
{
	ErrorContextCallback errcb;
	ParseContext pc;
	char	   *copy;
	char	   *fields[5];
	char	   *p;
	int			n = 0;
	int			i;
	bool		star;

	memset(spec, 0, sizeof(*spec));
	pc.schedule = schedule;
	errcb.callback = schedule_error_context;
	errcb.arg = &pc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	copy = pstrdup(schedule);
	p = copy;
	while (isspace((unsigned char) *p))
		p++;
	if (*p == '@')
	{
		static const struct
		{
			const char *name;
			const char *expansion;
		}			shorthands[] = {
			{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
			{"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"}, {"@midnight", "0 0 * * *"},
			{"@hourly", "0 * * * *"}
		};
		char	   *word = p;
		char	   *q = p;

		while (*q && !isspace((unsigned char) *q))
			q++;
		if (*q)
			*q++ = '\0';
		if (pg_strcasecmp(word, "@every") == 0)
		{
			char	   *e = q + strlen(q);

			while (e > q && isspace((unsigned char) e[-1]))
				*--e = '\0';
			parse_every(q, spec);
			error_context_stack = errcb.previous;
			pfree(copy);
			return;
		}
		while (isspace((unsigned char) *q))
			q++;
		for (i = 0; i < (int) lengthof(shorthands); i++)
		{
			if (pg_strcasecmp(word, shorthands[i].name) == 0)
			{
				if (*q)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("unexpected text \"%s\" after %s in schedule", q, shorthands[i].name),
							 errhint("%s", SCHEDULE_HINT)));
				pfree(copy);
				copy = pstrdup(shorthands[i].expansion);
				p = copy;
				break;
			}
		}
		if (i == (int) lengthof(shorthands))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown schedule shorthand \"%s\"", word),
					 errdetail("Known shorthands are @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly and @every <interval>."),
					 errhint("%s", SCHEDULE_HINT)));
	}

	/* split into whitespace-separated fields */
	while (*p)
	{
		while (isspace((unsigned char) *p))
			p++;
		if (!*p)
			break;
		if (n == 5)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("too many fields in schedule: \"%s\" is a sixth field", p),
					 errdetail("Schedules have five fields; seconds and years are not supported."),
					 errhint("%s", SCHEDULE_HINT)));
		fields[n++] = p;
		while (*p && !isspace((unsigned char) *p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (n < 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too few fields in schedule: the %s field is missing", field_names[n]),
				 errdetail("The schedule has %d field%s; five are needed.", n, n == 1 ? "" : "s"),
				 errhint("%s", SCHEDULE_HINT)));

	spec->minutes = parse_field(0, fields[0], &star);
	spec->hours = (uint32) parse_field(1, fields[1], &star);
	spec->mdays = (uint32) parse_field(2, fields[2], &spec->mday_star);
	spec->months = (uint16) parse_field(3, fields[3], &star);
	spec->wdays = (uint8) parse_field(4, fields[4], &spec->wday_star);

	if (spec->wday_star && !cron_days_possible(spec))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid day-of-month field \"%s\" in schedule", fields[2]),
				 errdetail("No month in \"%s\" has any of these days, so the schedule would never fire.", fields[3]),
				 errhint("%s", SCHEDULE_HINT)));

	error_context_stack = errcb.previous;
	pfree(copy);
}

pg_tz *
cron_time_zone(const char *name)
{
	pg_tz	   *tz;

	if (name == NULL)
		name = scheduler_time_zone;
	tz = pg_tzset(name);
	if (tz == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" is not recognized", name),
				 errhint("Use a name from pg_timezone_names, such as 'UTC' or 'Europe/Paris'.")));
	return tz;
}

static bool
day_matches(const CronSpec *spec, int year, int mon, int mday)
{
	bool		dom = (spec->mdays & (UINT64CONST(1) << mday)) != 0;
	bool		dow = (spec->wdays & (1 << j2day(date2j(year, mon, mday)))) != 0;

	if (spec->mday_star || spec->wday_star)
		return dom && dow;
	return dom || dow;
}

/* Advance the local broken-down time at one level, resetting the levels below. */
enum
{
	LVL_MIN, LVL_HOUR, LVL_DAY, LVL_MON
};

static void
advance(struct pg_tm *tm, int level)
{
	switch (level)
	{
		case LVL_MIN:
			if (++tm->tm_min <= 59)
				return;
			/* FALLTHROUGH */
		case LVL_HOUR:
			tm->tm_min = 0;
			if (++tm->tm_hour <= 23)
				return;
			/* FALLTHROUGH */
		case LVL_DAY:
			tm->tm_min = 0;
			tm->tm_hour = 0;
			if (++tm->tm_mday <= day_tab[isleap(tm->tm_year)][tm->tm_mon - 1])
				return;
			/* FALLTHROUGH */
		case LVL_MON:
			tm->tm_min = 0;
			tm->tm_hour = 0;
			tm->tm_mday = 1;
			if (++tm->tm_mon > 12)
			{
				tm->tm_mon = 1;
				tm->tm_year++;
			}
	}
}

TimestampTz
cron_next(const CronSpec *spec, TimestampTz after, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int			start_year;
	long		guard;

	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the start time of a schedule search must be finite"),
				 errhint("Pass a real time such as now().")));
	if (spec->is_every)
	{
		Datum		d = DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(after),
										   IntervalPGetDatum(&spec->every));

		return DatumGetTimestampTz(d);
	}
	if (timestamp2tm(after, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	tm.tm_sec = 0;
	start_year = tm.tm_year;
	advance(&tm, LVL_MIN);
	for (guard = 0; guard < 10000000; guard++)
	{
		Timestamp	result;

		if (tm.tm_year > start_year + CRON_SEARCH_YEARS)
			break;
		if (!(spec->months & (1 << tm.tm_mon)))
		{
			advance(&tm, LVL_MON);
			continue;
		}
		if (!day_matches(spec, tm.tm_year, tm.tm_mon, tm.tm_mday))
		{
			advance(&tm, LVL_DAY);
			continue;
		}
		if (!(spec->hours & (1 << tm.tm_hour)))
		{
			advance(&tm, LVL_HOUR);
			continue;
		}
		if (!(spec->minutes & (UINT64CONST(1) << tm.tm_min)))
		{
			advance(&tm, LVL_MIN);
			continue;
		}
		tm.tm_sec = 0;
		tzoff = DetermineTimeZoneOffset(&tm, tz);
		if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range")));
		if (result > after)
			return result;
		/* a repeated (fall-back) local time already passed: keep looking */
		advance(&tm, LVL_MIN);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("schedule does not fire within %d years", CRON_SEARCH_YEARS),
			 errhint("%s", SCHEDULE_HINT)));
	return 0;					/* keep the compiler quiet */
}

static void
check_schedule_arg(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be null"),
				 errhint("%s", SCHEDULE_HINT)));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("after must not be null"),
				 errhint("Pass the time to search from, such as now().")));
}

/* retailiq.next_run(schedule text, after timestamptz, time_zone text) */
PG_FUNCTION_INFO_V1(scheduler_next_run);
Datum
scheduler_next_run(PG_FUNCTION_ARGS)
{
	CronSpec	spec;
	pg_tz	   *tz;

	check_schedule_arg(fcinfo);
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &spec);
	tz = cron_time_zone(PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_TIMESTAMPTZ(cron_next(&spec, PG_GETARG_TIMESTAMPTZ(1), tz));
}

/* retailiq.next_runs(schedule text, after timestamptz, n int, time_zone text) */
PG_FUNCTION_INFO_V1(scheduler_next_runs);
Datum
scheduler_next_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CronSpec	spec;
	pg_tz	   *tz;
	TimestampTz t;
	int			n,
				i;

	check_schedule_arg(fcinfo);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("n must not be null"),
				 errhint("Ask for a count of fire times, such as 10.")));
	n = PG_GETARG_INT32(2);
	if (n < 0 || n > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("n must be between 0 and 100000"),
				 errdetail("n is %d.", n),
				 errhint("Ask for fewer fire times.")));
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &spec);
	tz = cron_time_zone(PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	t = PG_GETARG_TIMESTAMPTZ(1);
	for (i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		t = cron_next(&spec, t, tz);
		value = TimestampTzGetDatum(t);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	return (Datum) 0;
}

/* retailiq.check_schedule(schedule text): true, or the parse error of a bad schedule */
PG_FUNCTION_INFO_V1(scheduler_check_schedule);
Datum
scheduler_check_schedule(PG_FUNCTION_ARGS)
{
	CronSpec	spec;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be null"),
				 errhint("%s", SCHEDULE_HINT)));
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &spec);
	PG_RETURN_BOOL(true);
}
