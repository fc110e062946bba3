/*
 * lt_common.c -- the parts of lowthread's C core that are the same on every
 * platform.
 */
#include <string.h>

#include "lt_internal.h"

/* The cut backs off over continuation bytes (10xxxxxx); bytes that are not
 * UTF-8 are cut like any others. */
size_t lt__utf8_prefix(const char *s, size_t max)
{
    size_t n = strlen(s);

    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

#ifndef _WIN32
/* POSIX has nothing to finish after an interrupted wait (Windows: the
 * console control handlers, lt_win32.c). */
void lt__wake_interrupted(lt__waiter_t *w)
{
    (void)w;
}
#endif
