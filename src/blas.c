/*-------------------------------------------------------------------------
 *
 * blas.c
 *	  OpenBLAS, loaded when a product first needs it.
 *
 * The core calls cblas_sgemm for the products its own kernel does not take
 * (on CPUs without AVX-512, all of them).  The library does not link
 * OpenBLAS: loading it and the Fortran run time it needs took about 6 ms
 * of the 11.5 that LOAD 'estimator' took in a new backend, paid by every
 * connection's first call and every parallel worker's start, most of
 * which never multiply through it (est_predict scores a row with loops of
 * its own).  The cblas_sgemm below, hidden from other libraries, opens
 * OpenBLAS (the serial build the Makefile names, with an rpath's effect)
 * the first time the core calls it in a process, and forwards every call.
 * (For a model of one output, or on a CPU without AVX-512, that is in the
 * first step of est_train, whose seconds then count it.)
 * The core calls no other BLAS function: test/scripts/test.sh fails when
 * estimator.so needs any other symbol of CBLAS or OpenBLAS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <dlfcn.h>

/* what the core includes, made local to this library */
#pragma GCC visibility push(hidden)
#include <cblas.h>
#pragma GCC visibility pop

/* the soname of any OpenBLAS, where the Makefile found no serial build */
#define BLAS_SONAME "libopenblas.so.0"
#ifndef EST_BLAS_LIBRARY
#define EST_BLAS_LIBRARY BLAS_SONAME
#endif

/* OpenBLAS's header gives its integer type; netlib's CBLAS uses int */
#ifdef OPENBLAS_CONST
typedef blasint BlasInt;
#else
typedef int BlasInt;
#endif

typedef void (*SgemmFn) (const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
						 const enum CBLAS_TRANSPOSE, const BlasInt,
						 const BlasInt, const BlasInt, const float,
						 const float *, const BlasInt, const float *,
						 const BlasInt, const float, float *, const BlasInt);
typedef void (*SetThreadsFn) (int);

static SgemmFn blas_sgemm = NULL;

/*
 * OpenBlas returns a handle of OpenBLAS: a copy that another module of
 * this process has already loaded (one copy, whose internals a second
 * would bind to anyway), else EST_BLAS_LIBRARY, else any libopenblas.so.0
 * (a server whose serial build is missing, though the build's machine had
 * it).  It returns NULL, with the first error in *error, when none loads.
 */
static void *
OpenBlas(char **error)
{
	void	   *handle;

	handle = dlopen(BLAS_SONAME, RTLD_NOW | RTLD_NOLOAD);
	if (handle != NULL)
		return handle;
	handle = dlopen(EST_BLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (handle != NULL)
		return handle;
	*error = pstrdup(dlerror());
	if (strcmp(EST_BLAS_LIBRARY, BLAS_SONAME) != 0 &&
		(handle = dlopen(BLAS_SONAME, RTLD_NOW | RTLD_LOCAL)) != NULL)
		elog(DEBUG1, "estimator uses OpenBLAS \"%s\": %s", BLAS_SONAME, *error);
	return handle;
}

/*
 * LoadBlas opens OpenBLAS and finds cblas_sgemm in it, or raises an error:
 * a server without the library can still load the extension, read and
 * score models, and fails only where a product needs it.
 */
static void
LoadBlas(void)
{
	void	   *handle;
	char	   *error = NULL;
	SgemmFn		sgemm;
	SetThreadsFn set_threads;

	handle = OpenBlas(&error);
	if (handle == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FILE),
				 errmsg("could not load OpenBLAS library \"%s\"", EST_BLAS_LIBRARY),
				 errdetail("%s", error),
				 errhint("Install OpenBLAS on the server (Debian's libopenblas0-serial).")));
	sgemm = (SgemmFn) dlsym(handle, "cblas_sgemm");
	if (sgemm == NULL)
	{
		error = pstrdup(dlerror());
		dlclose(handle);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not find function \"cblas_sgemm\" in OpenBLAS library \"%s\"",
						EST_BLAS_LIBRARY),
				 errdetail("%s", error)));
	}

	/*
	 * One BLAS thread per backend: the server already runs one process per
	 * connection, and BLAS threads must never call palloc or ereport.
	 * (The serial build has no threads; a pthread build started its pool
	 * when it loaded, and this keeps the products on this thread.)
	 */
	set_threads = (SetThreadsFn) dlsym(handle, "openblas_set_num_threads");
	if (set_threads != NULL)
		set_threads(1);
	blas_sgemm = sgemm;
}

/*
 * cblas_sgemm is OpenBLAS's, once it is loaded.  The core calls it outside
 * any critical section, with its memory in memory contexts, so that the
 * error of a library that cannot load leaves nothing behind.
 */
void
cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE trans_a,
			const enum CBLAS_TRANSPOSE trans_b, const BlasInt m,
			const BlasInt n, const BlasInt k, const float alpha,
			const float *a, const BlasInt lda, const float *b,
			const BlasInt ldb, const float beta, float *c, const BlasInt ldc)
{
	if (unlikely(blas_sgemm == NULL))
		LoadBlas();
	blas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
			   beta, c, ldc);
}
