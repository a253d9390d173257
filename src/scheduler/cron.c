/*
 * cron.c: schedules inside the server: parse errors as ereports, "@every" intervals, time
 * zones, and the SQL functions retailiq.check_schedule, next_run and next_runs. The
 * language itself (fields, names, shorthands, the minute search) is in cron_spec.c.
 *
 * Cron fields are matched against wall-clock time in a time zone (GUC retailiq.job_time_zone
 * unless one is given). Daylight-saving changes: every local time that matches fires once. A
 * local time that does not exist (skipped by a spring-forward change) is read the way
 * PostgreSQL reads such times, with the offset in force before the change, so it fires at
 * the instant the clock jumped plus its minutes past the missing hour (02:30 in a
 * 02:00->03:00 gap fires at 03:30); a local time that occurs twice (fall-back) fires once,
 * at its second occurrence, in standard time, which is how PostgreSQL reads such times.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "scheduler/scheduler.h"

#define CRON_SEARCH_YEARS 30

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

void
cron_parse(const char *schedule, Schedule *sched)
{
	CronError	err;
	ErrorContextCallback errcb;
	ParseContext pc;
	Interval   *iv;
	char	   *arg;
	int64		approx;

	memset(sched, 0, sizeof(*sched));
	if (!cron_spec_parse(schedule, &sched->spec, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_internal("%s", err.message),
				 err.detail[0] ? errdetail_internal("%s", err.detail) : 0,
				 errhint("%s", SCHEDULE_HINT)));
	if (!sched->spec.is_every)
		return;

	/* the interval of @every, read by PostgreSQL's interval input */
	arg = pnstrdup(schedule + sched->spec.every_offset, sched->spec.every_length);
	pc.schedule = schedule;
	errcb.callback = schedule_error_context;
	errcb.arg = &pc;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(arg),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	error_context_stack = errcb.previous;
	approx = iv->time + (int64) iv->day * USECS_PER_DAY + (int64) iv->month * 30 * USECS_PER_DAY;
	if (iv->time < 0 || iv->day < 0 || iv->month < 0 || approx < USECS_PER_SEC)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid interval field \"%s\" in schedule", arg),
				 errdetail("The interval of @every must be positive and at least 1 second."),
				 errhint("%s", SCHEDULE_HINT)));
	sched->every = *iv;
	pfree(arg);
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

TimestampTz
cron_next(const Schedule *sched, TimestampTz after, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	CronTime	t;
	int			start_year;

	if (TIMESTAMP_NOT_FINITE(after))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("the start time of a schedule search must be finite"),
				 errhint("Pass a real time such as now().")));
	if (sched->spec.is_every)
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(after),
													   IntervalPGetDatum(&sched->every)));
	if (timestamp2tm(after, &tzoff, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range"),
				 errhint("Search from a time between 4713 BC and 294276 AD.")));
	t.year = tm.tm_year;
	t.month = tm.tm_mon;
	t.day = tm.tm_mday;
	t.hour = tm.tm_hour;
	t.minute = tm.tm_min;
	start_year = t.year;
	for (;;)
	{
		Timestamp	result;

		CHECK_FOR_INTERRUPTS();
		if (!cron_spec_next(&sched->spec, &t, CRON_SEARCH_YEARS - (t.year - start_year)))
			break;
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = t.year;
		tm.tm_mon = t.month;
		tm.tm_mday = t.day;
		tm.tm_hour = t.hour;
		tm.tm_min = t.minute;
		tzoff = DetermineTimeZoneOffset(&tm, tz);
		if (tm2timestamp(&tm, 0, &tzoff, &result) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("timestamp out of range"),
					 errhint("Search from an earlier time.")));
		/* never at or before `after` (a search that starts inside a repeated hour) */
		if (result > after)
			return result;
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
	Schedule	sched;
	pg_tz	   *tz;

	check_schedule_arg(fcinfo);
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	tz = cron_time_zone(PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)));
	PG_RETURN_TIMESTAMPTZ(cron_next(&sched, PG_GETARG_TIMESTAMPTZ(1), tz));
}

/* retailiq.next_runs(schedule text, after timestamptz, n int, time_zone text) */
PG_FUNCTION_INFO_V1(scheduler_next_runs);
Datum
scheduler_next_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Schedule	sched;
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
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	tz = cron_time_zone(PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3)));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	t = PG_GETARG_TIMESTAMPTZ(1);
	for (i = 0; i < n; i++)
	{
		Datum		value;
		bool		isnull = false;

		CHECK_FOR_INTERRUPTS();
		t = cron_next(&sched, t, tz);
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
	Schedule	sched;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule must not be null"),
				 errhint("%s", SCHEDULE_HINT)));
	cron_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)), &sched);
	PG_RETURN_BOOL(true);
}
