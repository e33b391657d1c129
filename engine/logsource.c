#include "engine/logsource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct logsource_table {
    unsigned n;
    struct logsource e[LOGSOURCE_MAX];
};

struct logsource_table *logsource_table_new(void)
{
    struct logsource_table *t = calloc(1, sizeof *t);
    if (t)
        t->n = 1; /* id 0: the empty log source */
    return t;
}

void logsource_table_free(struct logsource_table *t) { free(t); }

static bool same(const struct logsource *a, const struct logsource *b)
{
    return !strcasecmp(a->product, b->product) && !strcasecmp(a->service, b->service) &&
           !strcasecmp(a->category, b->category);
}

int logsource_intern(struct logsource_table *t, const struct logsource *ls, uint16_t *id)
{
    for (unsigned i = 0; i < t->n; i++)
        if (same(&t->e[i], ls)) {
            *id = (uint16_t)i;
            return 0;
        }
    if (t->n >= LOGSOURCE_MAX)
        return -1;
    t->e[t->n] = *ls;
    *id = (uint16_t)t->n++;
    return 0;
}

const struct logsource *logsource_get(const struct logsource_table *t, uint16_t id)
{
    return id < t->n ? &t->e[id] : &t->e[0];
}

unsigned logsource_count(const struct logsource_table *t) { return t->n; }

static bool key_applies(const char *rule, const char *event) { return !rule[0] || !strcasecmp(rule, event); }

bool logsource_applies(const struct logsource *rule, const struct logsource *event)
{
    return key_applies(rule->product, event->product) && key_applies(rule->service, event->service) &&
           key_applies(rule->category, event->category);
}

void logsource_format(const struct logsource *ls, char *buf, unsigned cap)
{
    int n = 0;
    buf[0] = '\0';
    if (ls->product[0])
        n += snprintf(buf + n, cap - (unsigned)n, "product=%s", ls->product);
    if (ls->service[0] && (unsigned)n < cap)
        n += snprintf(buf + n, cap - (unsigned)n, "%sservice=%s", n ? " " : "", ls->service);
    if (ls->category[0] && (unsigned)n < cap)
        n += snprintf(buf + n, cap - (unsigned)n, "%scategory=%s", n ? " " : "", ls->category);
    if (!n)
        snprintf(buf, cap, "(any)");
}
