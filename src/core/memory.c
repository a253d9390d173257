/*
 * memory.c: the retailiq.max_memory budget (see memory.h).
 */
#include "postgres.h"

#ifndef WIN32
#include <sys/mman.h>
#endif

#include "utils/memutils.h"

#include "core/memory.h"

int			riq_max_memory_kb = 2 * 1024 * 1024;

/* megabytes with two decimals: whole megabytes read "needs 0 MB more" for a small request */
static double
mb(Size bytes)
{
	return (double) bytes / (1024.0 * 1024.0);
}

bool
riq_memory_fits(MemoryContext cxt, Size bytes)
{
	Size		held = cxt ? MemoryContextMemAllocated(cxt, true) : 0;
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
						   mb(bytes), mb(cxt ? MemoryContextMemAllocated(cxt, true) : 0),
						   riq_max_memory_kb / 1024.0),
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
