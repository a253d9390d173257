/*
 * cron_parse_fuzz.c: libFuzzer target for the schedule parser and minute search
 * (src/scheduler/cron_spec.c), run by test/fuzz/run_scheduler.sh.
 *
 * The input is an exact-size NUL-terminated copy, so AddressSanitizer sees any read past
 * the end. Beyond "no crash", every schedule the parser accepts is checked against the
 * definition of a match: the next fire time found from a start minute derived from the
 * input is strictly later, matches the schedule, and no minute in between matches (checked
 * minute by minute over up to two days). Error messages must be non-empty and terminated.
 */
#include "c.h"

#include "scheduler/cron_spec.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static long
minutes_between(const CronTime *a, const CronTime *b)
{
	/* days from civil (proleptic Gregorian), Howard Hinnant's algorithm */
	long		da,
				db;
	int			y,
				m;

#define DAYS(t, out) do { \
		y = (t)->year - ((t)->month <= 2); m = (t)->month; \
		long era = (y >= 0 ? y : y - 399) / 400; \
		long yoe = y - era * 400; \
		long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + (t)->day - 1; \
		long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; \
		(out) = era * 146097 + doe; \
	} while (0)
	DAYS(a, da);
	DAYS(b, db);
	return ((db - da) * 24 + (b->hour - a->hour)) * 60 + (b->minute - a->minute);
}

static void
step_minute(CronTime *t)
{
	if (++t->minute < 60)
		return;
	t->minute = 0;
	if (++t->hour < 24)
		return;
	t->hour = 0;
	if (++t->day <= cron_days_in_month(t->year, t->month))
		return;
	t->day = 1;
	if (++t->month <= 12)
		return;
	t->month = 1;
	t->year++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	CronSpec	spec;
	CronError	err;
	CronTime	start,
				next,
				probe;
	unsigned	seed = 0;

	if (size > 4096)
		return 0;
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i < size; i++)
		seed = seed * 31 + data[i];

	if (!cron_spec_parse(s, &spec, &err))
	{
		if (err.message[0] == '\0' || strnlen(err.message, sizeof(err.message)) == sizeof(err.message) ||
			strnlen(err.detail, sizeof(err.detail)) == sizeof(err.detail))
			__builtin_trap();
		free(s);
		return 0;
	}
	if (spec.is_every)
	{
		if (spec.every_offset < 0 || spec.every_length <= 0 ||
			(size_t) (spec.every_offset + spec.every_length) > size)
			__builtin_trap();
		free(s);
		return 0;
	}
	if (spec.minutes == 0 || spec.hours == 0 || spec.mdays == 0 || spec.months == 0 || spec.wdays == 0 ||
		(spec.minutes >> 60) != 0 || (spec.hours >> 24) != 0 || (spec.mdays & 1) != 0 ||
		(spec.months & 1) != 0 || (spec.months >> 13) != 0 || (spec.wdays >> 7) != 0)
		__builtin_trap();

	start.year = 1990 + (int) (seed % 200);
	start.month = 1 + (int) ((seed >> 8) % 12);
	start.day = 1 + (int) ((seed >> 12) % cron_days_in_month(start.year, start.month));
	start.hour = (int) ((seed >> 17) % 24);
	start.minute = (int) ((seed >> 22) % 60);
	next = start;
	if (cron_spec_next(&spec, &next, 30))
	{
		long		gap = minutes_between(&start, &next);

		if (gap <= 0 || !cron_spec_matches(&spec, &next))
			__builtin_trap();
		if (gap <= 2 * 24 * 60)
		{
			probe = start;
			for (long i = 1; i < gap; i++)
			{
				step_minute(&probe);
				if (cron_spec_matches(&spec, &probe))
					__builtin_trap();
			}
		}
	}
	free(s);
	return 0;
}
