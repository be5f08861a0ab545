/* posix2024.h - what tests/posix-check.sh allows beyond POSIX.1-2008 with
 * XSI: names every target has (glibc, musl, macOS, the BSDs), most of them
 * standardised since in POSIX.1-2024, that glibc hides under strict
 * feature macros. Only for that syntax check: the macro values below are
 * placeholders. Adding a name here needs the same argument. */
#include <stdarg.h>
#include <stddef.h>

void *memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen); /* POSIX.1-2024 */
int asprintf(char **strp, const char *fmt, ...);                                  /* POSIX.1-2024 */
int vasprintf(char **strp, const char *fmt, va_list ap);                          /* POSIX.1-2024 */

#include <signal.h>
#include <sys/mman.h>
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS 0x20 /* POSIX.1-2024 */
#endif
#ifndef NSIG
#define NSIG 65 /* every libc; POSIX.1-2024 has NSIG_MAX */
#endif
