/*
 * cron_spec.h: the schedule language without the server: parsing five cron fields and
 * shorthands into bit sets, and finding the next matching wall-clock minute. Plain C over
 * caller-owned memory (no palloc, no ereport), so the fuzz target links it on its own;
 * cron.c adds time zones, @every intervals and error reporting.
 */
#ifndef RETAILIQ_CRON_SPEC_H
#define RETAILIQ_CRON_SPEC_H

#include "c.h"

/* A parsed schedule: cron bit sets (bit n = value n), or "@every" and where its interval is. */
typedef struct CronSpec
{
	bool		is_every;
	int			every_offset;	/* @every: the interval text starts here in the schedule */
	int			every_length;
	uint64		minutes;		/* 0..59 */
	uint32		hours;			/* 0..23 */
	uint32		mdays;			/* 1..31 */
	uint16		months;			/* 1..12 */
	uint8		wdays;			/* 0..6, Sunday = 0 */
	bool		mday_star;		/* day-of-month field starts with '*' */
	bool		wday_star;		/* day-of-week field starts with '*' */
} CronSpec;

typedef struct CronError
{
	char		message[256];
	char		detail[256];
} CronError;

/* A local wall-clock minute. */
typedef struct CronTime
{
	int			year;
	int			month;			/* 1..12 */
	int			day;			/* 1..31 */
	int			hour;
	int			minute;
} CronTime;

/* false (and *err filled) if the schedule is not valid */
extern bool cron_spec_parse(const char *schedule, CronSpec *spec, CronError *err);
/* advance *t to the first matching minute strictly after it; false if none within max_years */
extern bool cron_spec_next(const CronSpec *spec, CronTime *t, int max_years);
/* does minute *t match the (non-@every) schedule? */
extern bool cron_spec_matches(const CronSpec *spec, const CronTime *t);
extern int	cron_days_in_month(int year, int month);
extern int	cron_day_of_week(int year, int month, int day);	/* Sunday = 0 */

#endif
