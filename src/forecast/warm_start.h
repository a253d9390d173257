/*
 * warm_start.h: refitting a forecast_fit model from the previous one (the nightly refresh).
 *
 * With the option "warm_start": {"model": name[, "version": v]}, forecast_fit reads that
 * saved model and plans each series before any fit (warm_start_plan): a series whose rows
 * are the ones the previous model was fitted on keeps its fit (skipped); one whose form was
 * selected fewer than "reselect_days" days before its new last date is refitted with the
 * previous method and form, parameters re-estimated (warm); the others, and a warm refit
 * whose in-sample error grew beyond "degrade_ratio" times the previous one, are fitted cold
 * (the method's full selection). The fitter (fit_parallel.c) calls warm_start_fit for the
 * warm ones, in the backend or a worker alike; forecast_fit.c writes each series' status,
 * data hash and selection date into the model (warm_start_put), so the next refit can plan.
 */
#ifndef RETAILIQ_FORECAST_WARM_START_H
#define RETAILIQ_FORECAST_WARM_START_H

#include "core/model.h"
#include "forecast/method.h"

/* what happened to a series, as the model records it ("warm_status"); never renumber */
typedef enum WarmStatus
{
	WARM_NEW = 0,				/* cold: no previous fit of the series (or no warm start) */
	WARM_REFIT = 1,				/* warm: previous method and form, parameters re-estimated */
	WARM_SKIPPED = 2,			/* no new rows: the previous fit kept as it was */
	WARM_RESELECT_AGE = 3,		/* cold: reselect_days passed since the form was selected */
	WARM_RESELECT_DEGRADED = 4, /* cold: the warm refit degraded (or its form no longer fits) */
	WARM_RESELECT_OTHER = 5		/* cold: the previous fit cannot be reused (a short-series fallback) */
} WarmStatus;

#define WARM_NSTATUS 6
#define WARM_DEFAULT_RESELECT_DAYS 7	/* option reselect_days */
#define WARM_FORMS 3			/* records whose ETS form is kept: a method's own, combo's ETS (and
								 * the damped ETS of a combination saved before 2026-12-07, unused) */

/* one series' plan; the fitter updates status (a degraded warm refit becomes cold) */
typedef struct WarmPlan
{
	int8		status;			/* WarmStatus */
	int8		form[WARM_FORMS][4];	/* error, trend, season, damped of records 0..2; -1 none */
	int32		method;			/* the previous method code of record 0 */
	int32		selected;		/* DateADT: the last date when the form was last selected */
	double		prev_mse;		/* previous in-sample MSE (NaN: unknown) */
	double		prev_vmae;		/* previous validation error, kept by a skipped series */
	double		degrade;		/* degrade_ratio */
} WarmPlan;

/*
 * The plan of every series of panel (plans[ns], all WARM_NEW without "warm_start" in j);
 * a skipped series' previous records are copied into fits (nrec records per series).
 * Errors: a bad warm_start, reselect_days or degrade_ratio option (22023), no such saved
 * model (42704), one that is not a forecast_fit model (22023) or is corrupt (XX001).
 * given, when not NULL, is the model options.warm_start names, passed in by the caller
 * (forecast_fit_part on a Citus worker, where retailiq.models is not the coordinator's).
 */
extern WarmPlan *warm_start_plan(Jsonb *j, const ForecastOptions *o, const ForecastPanel *panel,
								 int m, SeriesFit *fits, int nrec, bytea *given);

/* a warm refit of one series (plan->status WARM_REFIT); returns the validation error (NaN) */
extern double warm_start_fit(WarmPlan *plan, const double *y, int n, int m,
							 const ForecastOptions *o, SeriesFit *fit);

/*
 * The saved model options.warm_start names ({"model": name[, "version": v]}), read as the
 * caller; NULL without the option. Errors as warm_start_plan's. (The LSTM's warm bases.)
 */
extern bytea *warm_start_load(Jsonb *j);

/* a hash of a series' values and start (the model's fit_hash: equal = no new rows) */
extern int64 warm_start_hash(const ForecastSeries *s);

/* the warm-start record of the kept series (the first ns of panel, plans and hashes beside them) */
extern void warm_start_put(ModelBuilder *b, const ForecastPanel *panel, const WarmPlan *plans,
						   const int64 *hash, int ns);

#endif							/* RETAILIQ_FORECAST_WARM_START_H */
