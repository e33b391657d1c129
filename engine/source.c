#include "engine/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *source_read(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 14, n = 0, r;
    char *buf = malloc(cap + 1);
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n < cap)
            continue;
        char *nb = cap < SOURCE_MAX_BYTES ? realloc(buf, cap * 2 + 1) : NULL;
        if (!nb) {
            snprintf(why, whylen, cap < SOURCE_MAX_BYTES ? "out of memory" : "larger than %u MiB",
                     SOURCE_MAX_BYTES >> 20);
            free(buf);
            fclose(f);
            return NULL;
        }
        buf = nb;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        snprintf(why, whylen, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
