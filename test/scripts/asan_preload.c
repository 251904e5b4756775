/*
 * asan_preload.c: preloaded after libasan into the stock postgres by
 * test/scripts/sanitize.sh (make sanitize), so that AddressSanitizer can
 * start inside a server that was not built with it.
 *
 * postgres does not link libasan, so libasan is preloaded (LD_PRELOAD) and
 * initializes itself on the first malloc, which comes from a constructor of
 * one of the server's libraries before libasan's own constructor runs:
 * libgpg-error's calls bindtextdomain (in postgres), libp11-kit's calls
 * newlocale (in initdb).  glibc holds a write lock there
 * (_nl_state_lock, __libc_setlocale_lock) while it calls malloc, and
 * libasan's initialization ends with dlsym(RTLD_DEFAULT, "swift_demangle")
 * and dlerror(), whose message glibc translates with dcgettext, which takes
 * and releases the same lock as a reader in the same thread.  That release
 * drops the write lock; the caller's own release later leaves the lock's
 * counter negative, and the next bindtextdomain or setlocale of the process
 * waits on it forever: LD_PRELOAD=libasan.so postgres -V never returns on
 * Debian 12 (glibc 2.36, gcc 12's libasan and clang 14's runtime alike).
 *
 * With this symbol defined, the dlsym finds it, dlerror has nothing to
 * translate, and no lock is touched.  libasan calls it only to demangle
 * Swift names in its reports; returning NULL means "not a Swift name".
 */
#include <stddef.h>
#include <stdint.h>

char	   *swift_demangle(const char *mangled, size_t length, char *buffer,
						   size_t *buffer_size, uint32_t flags);

char *
swift_demangle(const char *mangled, size_t length, char *buffer,
			   size_t *buffer_size, uint32_t flags)
{
	(void) mangled;
	(void) length;
	(void) buffer;
	(void) buffer_size;
	(void) flags;
	return NULL;
}
