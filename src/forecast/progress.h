/*
 * progress.h: the rows of retailiq.forecast_progress, one per forecast_fit that is fitting
 * now, kept in a small shared-memory area (one slot per backend) that exists only when
 * retailiq is in shared_preload_libraries. Without it every call here does nothing and the
 * view is empty.
 */
#ifndef RETAILIQ_FORECAST_PROGRESS_H
#define RETAILIQ_FORECAST_PROGRESS_H

#include "postgres.h"

extern char *forecast_progress_label;	/* GUC retailiq.progress_label */

/* _PG_init: ask for the area and set it up (only while preloading) */
extern void forecast_progress_init(void);

/* this backend starts fitting total series with method: its slot, or -1 without the area */
extern int	forecast_progress_begin(const char *method, int64 total);
/*
 * The same for a fit that counts `units` steps per series (the LSTM: its ETS bases, fitted
 * once without the validation tail and once on the whole history): forecast_progress_add
 * counts steps, the view shows whole series (steps / units).
 */
extern int	forecast_progress_begin_units(const char *method, int64 total, int units);
/* series done so far (steps / units); -1 without the area */
extern int64 forecast_progress_done(int slot);
/* the workers that joined the fit (slot -1: nothing) */
extern void forecast_progress_workers(int slot, int workers);
/* n more series fitted; any participant may call it with the leader's slot */
extern void forecast_progress_add(int slot, int64 n);
/* the fit is over (done or failed): the row disappears */
extern void forecast_progress_end(int slot);

/*
 * The fits of this session since the last reset, summed (done or failed): what the
 * scheduler keeps in a job run's record (retailiq.job_run.progress). Kept in the backend,
 * with or without the shared area.
 */
typedef struct ForecastRunTotals
{
	int64		fits;			/* forecast_fit calls that fitted series */
	int64		series_total;
	int64		series_done;	/* fitted (or skipped) before the end, even a failed end */
	int64		series_warm;	/* refitted warm (warm_start.c) */
	int64		series_skipped; /* no new rows: previous fit kept */
	double		seconds;		/* time spent fitting */
	int			workers;		/* the most parallel workers one fit had */
} ForecastRunTotals;

extern void forecast_run_totals_reset(void);
extern void forecast_run_totals_add(const ForecastRunTotals *one);
extern const ForecastRunTotals *forecast_run_totals(void);

#endif							/* RETAILIQ_FORECAST_PROGRESS_H */
