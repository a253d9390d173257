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
/* the workers that joined the fit (slot -1: nothing) */
extern void forecast_progress_workers(int slot, int workers);
/* n more series fitted; any participant may call it with the leader's slot */
extern void forecast_progress_add(int slot, int64 n);
/* the fit is over (done or failed): the row disappears */
extern void forecast_progress_end(int slot);

#endif							/* RETAILIQ_FORECAST_PROGRESS_H */
