/*
 * retailiq.c: the module's entry point.
 *
 * _PG_init runs in the postmaster when retailiq is in shared_preload_libraries, and every
 * backend inherits what it does: so it only defines GUCs (and, as parts land, registers
 * the background worker and the label provider). No allocation, no threads, no files.
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "utils/guc.h"

#include "core/memory.h"
#include "privacy/privacy.h"
#include "scheduler/scheduler.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("retailiq.max_memory",
							"Memory an analytic may hold in one backend before it stops with an error.",
							"Applies to in-memory training data such as k-means points and FP-trees.",
							&riq_max_memory_kb,
							2 * 1024 * 1024, 1024, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
	scheduler_init();
	privacy_init();
	MarkGUCPrefixReserved("retailiq");
}
