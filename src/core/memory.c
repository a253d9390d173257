/*
 * memory.c: the retailiq.max_memory budget (see memory.h).
 */
#include "postgres.h"

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
