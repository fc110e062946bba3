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

#if !defined(LT_USE_SEM)
/* The condvar and Win32 back-ends wake a record through the condvar of the
 * lock it waits on: the record has nothing of its own to make. */
int lt__wake_init(lt__waiter_t *w)
{
    (void)w;
    return LT_OK;
}

void lt__wake_fini(lt__waiter_t *w)
{
    (void)w;
}

void lt__wake_at_fork_child(lt__waiter_t *w)
{
    (void)w;
}
#endif
