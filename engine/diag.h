/* Diagnostics from loading parser packs and rule files.
 *
 * Loaders never print: they append "FILE:LINE: reason" entries here and the
 * caller (vigil-dp, vigilctl) decides what to show.  Bounded: past
 * DIAG_MAX_ENTRIES further entries are only counted.
 */
#ifndef VIGIL_ENGINE_DIAG_H
#define VIGIL_ENGINE_DIAG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define DIAG_MAX_ENTRIES 1024
#define DIAG_MSG_MAX     512

enum diag_severity {
    DIAG_ERROR = 0,    /* the file, rule or template was rejected */
    DIAG_WARNING,      /* loaded, but something deserves attention */
};

struct diag_entry {
    enum diag_severity severity;
    char file[256];
    unsigned line;          /* 1-based; 0 when not tied to a line */
    char what[128];         /* rule id / template name / key the entry is about ("" if none) */
    char msg[DIAG_MSG_MAX];
};

struct diag {
    struct diag_entry *entries;   /* malloc'd */
    unsigned n, cap;
    unsigned errors, warnings;    /* all of them, including those not kept */
};

void diag_init(struct diag *d);
void diag_free(struct diag *d);
void diag_add(struct diag *d, enum diag_severity sev, const char *file, unsigned line, const char *what,
              const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The first error of a multi-step compile (one rule): later ones are
 * dropped, since they usually follow from it.  The caller turns it into a
 * diag entry once the compile is over. */
struct diag_first {
    bool failed;
    unsigned line;          /* 0: the caller's own line (e.g. the rule's) */
    char msg[DIAG_MSG_MAX];
};
void diag_first_set(struct diag_first *f, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void diag_first_vset(struct diag_first *f, unsigned line, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prints every entry as "FILE:LINE: error: [what] msg". */
void diag_print(const struct diag *d, void *file /* FILE * */);

#endif
