/*
 * scheduler.h: the job scheduler's entry points and its schedule language.
 *
 * scheduler_init() is called from _PG_init: it defines the scheduler's GUCs and, only while
 * shared_preload_libraries is being processed, registers the launcher background worker.
 */
#ifndef RETAILIQ_SCHEDULER_H
#define RETAILIQ_SCHEDULER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

#include "scheduler/cron_spec.h"

extern void scheduler_init(void);

/* GUCs */
extern bool scheduler_enabled;
extern char *scheduler_databases;
extern int	scheduler_naptime_ms;
extern int	scheduler_max_job_workers;
extern int	scheduler_default_timeout_ms;
extern int	scheduler_history_retention_min;
extern char *scheduler_time_zone;

/* A parsed schedule: cron fields (cron_spec.h) or, for "@every", the interval. */
typedef struct Schedule
{
	CronSpec	spec;
	Interval	every;
} Schedule;

/* ERROR (22023) naming the bad field if the schedule is not valid */
extern void cron_parse(const char *schedule, Schedule *sched);
/* the first fire time strictly after `after`, cron fields read in time zone `tz` */
extern TimestampTz cron_next(const Schedule *sched, TimestampTz after, pg_tz *tz);
/* the named time zone, or retailiq.job_time_zone when name is NULL; ERROR if unknown */
extern pg_tz *cron_time_zone(const char *name);

#endif
