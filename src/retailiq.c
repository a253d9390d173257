/*
 * retailiq.c: the module's entry point.
 *
 * _PG_init runs in the postmaster when retailiq is in shared_preload_libraries, and every
 * backend inherits what it does: so it only defines GUCs, registers the background worker
 * and the label provider, and asks for the forecast progress area (shared memory, only
 * while preloading). No allocation, no threads, no files.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "postmaster/bgworker_internals.h"
#include "utils/guc.h"

#include "core/memory.h"
#include "forecast/fit_parallel.h"
#include "forecast/progress.h"
#include "privacy/privacy.h"
#include "scheduler/scheduler.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("retailiq.max_memory",
							"Memory an analytic may hold in one backend before it stops with an error.",
							"Applies to in-memory training data such as k-means points, FP-trees and training batches, counted together over the contexts a call holds at once.",
							&riq_max_memory_kb,
							2 * 1024 * 1024, 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomIntVariable("retailiq.forecast_workers",
							"Parallel workers one forecast_fit call may use to fit its series.",
							"0 fits every series in the backend. The workers come from max_parallel_workers and max_worker_processes; with fewer, the backend fits the rest.",
							&forecast_workers,
							2, 0, MAX_PARALLEL_WORKER_LIMIT,
							PGC_USERSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("retailiq.progress_label",
							   "What retailiq.forecast_progress shows as the label of the fits this session runs.",
							   "refresh_forecasts sets it to the sales source's name for each refresh.",
							   &forecast_progress_label,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("retailiq.debug_fail_series",
							   "Makes forecast_fit fail when it fits the series of this key (for testing error handling).",
							   NULL,
							   &forecast_debug_fail_series,
							   "",
							   PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	forecast_progress_init();
	scheduler_init();
	privacy_init();
	MarkGUCPrefixReserved("retailiq");
}
