/*-------------------------------------------------------------------------
 *
 * alloc.c
 *	  The core's allocator hooks.
 *
 * Every allocation of the core goes through EstAlloc and EstFree.  The
 * backend points them at palloc and pfree, so that core memory lives in
 * a memory context; the unit tests and the fuzzer keep malloc and free.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "estcore.h"

static EstAllocFn est_alloc_fn = malloc;
static EstFreeFn est_free_fn = free;

/*
 * EstSetAllocator installs the allocation functions; a NULL argument
 * restores the default for that function.
 */
void
EstSetAllocator(EstAllocFn alloc_fn, EstFreeFn free_fn)
{
	est_alloc_fn = alloc_fn ? alloc_fn : malloc;
	est_free_fn = free_fn ? free_fn : free;
}

/*
 * EstAlloc returns size bytes, or NULL when the allocator fails.  A
 * request for 0 bytes asks for 1, so that success always means a valid
 * pointer.
 */
void *
EstAlloc(size_t size)
{
	return est_alloc_fn(size == 0 ? 1 : size);
}

/*
 * EstAllocZero returns n * size zeroed bytes, or NULL when the product
 * overflows or the allocator fails.
 */
void *
EstAllocZero(size_t n, size_t size)
{
	size_t		total;
	void	   *ptr;

	if (size != 0 && n > ((size_t) -1) / size)
		return NULL;
	total = n * size;
	ptr = EstAlloc(total);
	if (ptr != NULL)
		memset(ptr, 0, total == 0 ? 1 : total);
	return ptr;
}

/*
 * EstFree releases memory from EstAlloc; NULL is ignored.
 */
void
EstFree(void *ptr)
{
	if (ptr != NULL)
		est_free_fn(ptr);
}
