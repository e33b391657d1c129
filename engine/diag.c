#include "engine/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diag_init(struct diag *d) { memset(d, 0, sizeof *d); }

void diag_free(struct diag *d)
{
    free(d->entries);
    memset(d, 0, sizeof *d);
}

void diag_add(struct diag *d, enum diag_severity sev, const char *file, unsigned line, const char *what,
              const char *fmt, ...)
{
    if (sev == DIAG_ERROR)
        d->errors++;
    else
        d->warnings++;
    if (d->n >= DIAG_MAX_ENTRIES)
        return;
    if (d->n == d->cap) {
        unsigned cap = d->cap ? d->cap * 2 : 16;
        struct diag_entry *e = realloc(d->entries, cap * sizeof *e);
        if (!e)
            return;
        d->entries = e;
        d->cap = cap;
    }
    struct diag_entry *e = &d->entries[d->n++];
    e->severity = sev;
    e->line = line;
    snprintf(e->file, sizeof e->file, "%s", file ? file : "");
    snprintf(e->what, sizeof e->what, "%s", what ? what : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void diag_print(const struct diag *d, void *file)
{
    FILE *f = file;
    for (unsigned i = 0; i < d->n; i++) {
        const struct diag_entry *e = &d->entries[i];
        fprintf(f, "%s:%u: %s: %s%s%s%s\n", e->file, e->line, e->severity == DIAG_ERROR ? "error" : "warning",
                e->what[0] ? "[" : "", e->what, e->what[0] ? "] " : "", e->msg);
    }
    unsigned shown_e = 0, shown_w = 0;
    for (unsigned i = 0; i < d->n; i++)
        if (d->entries[i].severity == DIAG_ERROR)
            shown_e++;
        else
            shown_w++;
    if (d->errors + d->warnings > d->n)
        fprintf(f, "... and %u more errors, %u more warnings not shown\n", d->errors - shown_e,
                d->warnings - shown_w);
}

void diag_first_vset(struct diag_first *f, unsigned line, const char *fmt, va_list ap)
{
    if (f->failed)
        return;
    f->failed = true;
    f->line = line;
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
}

void diag_first_set(struct diag_first *f, unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_first_vset(f, line, fmt, ap);
    va_end(ap);
}
