/*
 * memory.h: the memory budget. Analytics that hold data in memory (k-means points,
 * FP-trees, LSTM batches) ask before they grow, so that a too-large input ends with a
 * clear ERROR naming retailiq.max_memory instead of the out-of-memory killer. The budget
 * holds for all the contexts asked about in a statement together (while they live), so
 * data spread over several contexts cannot pass it.
 */
#ifndef RETAILIQ_MEMORY_H
#define RETAILIQ_MEMORY_H

#include "postgres.h"

extern int	riq_max_memory_kb;	/* GUC retailiq.max_memory */

/* ERROR (53200) if `bytes` more, on top of what `cxt` already holds, exceed the budget. */
extern void riq_memory_check(MemoryContext cxt, Size bytes, const char *what);
/* Whether `bytes` more fit the budget (for an optional speed-up that can do without them). */
extern bool riq_memory_fits(MemoryContext cxt, Size bytes);
/* overflow-checked n * size, for sizing arrays from counts that came from data */
extern Size riq_mul_size(Size n, Size size, const char *what);
/* palloc of `bytes` (huge allowed) after the budget check */
extern void *riq_alloc(MemoryContext cxt, Size bytes, const char *what);
/* a hint that an array of `bytes` (several MB) at p, not yet written, be given huge pages */
extern void riq_huge_pages(void *p, Size bytes);

#endif
