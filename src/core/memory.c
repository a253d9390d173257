/*
 * memory.c: the retailiq.max_memory budget (see memory.h).
 */
#include "postgres.h"

#ifndef WIN32
#include <sys/mman.h>
#endif

#include "access/xact.h"
#include "storage/proc.h"
#include "utils/memutils.h"

#include "core/memory.h"

int			riq_max_memory_kb = 2 * 1024 * 1024;

/* megabytes with two decimals: whole megabytes read "needs 0 MB more" for a small request */
static double
mb(Size bytes)
{
	return (double) bytes / (1024.0 * 1024.0);
}

/*
 * A call can hold its data in several contexts at once (a panel in the aggregate's context,
 * batches in a work context), each under the budget while together they are not. So the
 * contexts asked about during a statement are remembered, and the budget holds for all of
 * them together: each is forgotten when it is reset or deleted (a reset callback), and the
 * list starts afresh with each statement. A context inside a remembered one is counted by
 * its ancestor; the backend's long-lived contexts are never remembered.
 */
#define TRACKED_MAX 32
static MemoryContext tracked[TRACKED_MAX];
static int	ntracked;
static TimestampTz tracked_stmt;
static LocalTransactionId tracked_lxid = InvalidLocalTransactionId;

static void
forget_context(void *arg)
{
	int			i;

	for (i = 0; i < ntracked; i++)
		if (tracked[i] == (MemoryContext) arg)
			tracked[i--] = tracked[--ntracked];
}

static bool
is_inside(MemoryContext c, MemoryContext ancestor)
{
	for (c = c->parent; c != NULL; c = c->parent)
		if (c == ancestor)
			return true;
	return false;
}

static void
remember_context(MemoryContext cxt)
{
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	LocalTransactionId lxid = MyProc ? MyProc->lxid : InvalidLocalTransactionId;
	MemoryContextCallback *cb;
	int			i;

	if (stmt != tracked_stmt || lxid != tracked_lxid)
	{
		ntracked = 0;
		tracked_stmt = stmt;
		tracked_lxid = lxid;
	}
	if (cxt == NULL || cxt == TopMemoryContext || cxt == CacheMemoryContext ||
		cxt == ErrorContext)
		return;
	for (i = 0; i < ntracked; i++)
		if (tracked[i] == cxt || is_inside(cxt, tracked[i]))
			return;
	for (i = 0; i < ntracked; i++)
		if (is_inside(tracked[i], cxt))
			tracked[i--] = tracked[--ntracked];
	if (ntracked == TRACKED_MAX)
		return;
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));
	cb->func = forget_context;
	cb->arg = cxt;
	MemoryContextRegisterResetCallback(cxt, cb);
	tracked[ntracked++] = cxt;
}

/* what the call holds: the remembered contexts, and `cxt` if it could not be remembered */
static Size
memory_held(MemoryContext cxt)
{
	Size		held = 0;
	bool		counted = (cxt == NULL);
	int			i;

	remember_context(cxt);
	for (i = 0; i < ntracked; i++)
	{
		held += MemoryContextMemAllocated(tracked[i], true);
		if (!counted && (tracked[i] == cxt || is_inside(cxt, tracked[i])))
			counted = true;
	}
	if (!counted)
		held += MemoryContextMemAllocated(cxt, true);
	return held;
}

bool
riq_memory_fits(MemoryContext cxt, Size bytes)
{
	Size		held = memory_held(cxt);
	Size		limit = (Size) riq_max_memory_kb * 1024;

	return bytes <= limit && held <= limit - bytes;
}

void
riq_memory_check(MemoryContext cxt, Size bytes, const char *what)
{
	if (!riq_memory_fits(cxt, bytes))
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("%s needs more memory than retailiq.max_memory allows", what),
				 errdetail("It needs %.2f MB more on top of %.2f MB held; the limit is %.2f MB.",
						   mb(bytes), mb(memory_held(cxt)), riq_max_memory_kb / 1024.0),
				 errhint("Raise retailiq.max_memory (SET retailiq.max_memory = '8GB'), or reduce the input.")));
}

Size
riq_mul_size(Size n, Size size, const char *what)
{
	if (size != 0 && n > SIZE_MAX / size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large", what),
				 errdetail("%zu elements of %zu bytes overflow the address space.", n, size)));
	return n * size;
}

void *
riq_alloc(MemoryContext cxt, Size bytes, const char *what)
{
	riq_memory_check(cxt, bytes, what);
	return MemoryContextAllocExtended(cxt ? cxt : CurrentMemoryContext, Max(bytes, 1),
									  MCXT_ALLOC_HUGE);
}

/*
 * The first write to each 4 kB page of a fresh array is a page fault, and in a virtual
 * machine the faults of an array of tens of MB cost more than the work done on it (a
 * quarter of a k-means call on 300,000 rows went there). Where the kernel offers
 * transparent huge pages on request (MADV_HUGEPAGE, "madvise" mode), the 2 MB-aligned part
 * of the array is put under them: one fault per 2 MB. Only a hint: if the kernel declines,
 * nothing but the speed changes.
 */
void
riq_huge_pages(void *p, Size bytes)
{
#ifdef MADV_HUGEPAGE
	const uintptr_t huge = (uintptr_t) 2 * 1024 * 1024;
	uintptr_t	start = TYPEALIGN(huge, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN(huge, (uintptr_t) p + bytes);

	if (p != NULL && bytes >= 2 * huge && end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}
