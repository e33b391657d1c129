/* Rule metadata by UUID: an open-addressing table sized at creation. */
#include "mgmt/rule_meta.h"

#include <stdlib.h>
#include <string.h>

#include "engine/detect.h"

struct rule_meta_table {
    struct rule_meta *m;
    uint32_t *slot;      /* index + 1 into m; 0 = empty */
    uint32_t mask;
    unsigned n, cap;
};

static uint32_t uuid_hash(const uint8_t u[16])
{
    uint64_t a, b;
    memcpy(&a, u, 8);
    memcpy(&b, u + 8, 8);
    a ^= b * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(a ^ (a >> 29));
}

struct rule_meta_table *rule_meta_new(unsigned cap)
{
    struct rule_meta_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    uint32_t slots = 16;
    while (slots < 2u * cap)
        slots <<= 1;
    t->m = calloc(cap ? cap : 1, sizeof *t->m);
    t->slot = calloc(slots, sizeof *t->slot);
    t->mask = slots - 1;
    t->cap = cap;
    if (!t->m || !t->slot) {
        rule_meta_free(t);
        return NULL;
    }
    return t;
}

void rule_meta_free(struct rule_meta_table *t)
{
    if (!t)
        return;
    free(t->m);
    free(t->slot);
    free(t);
}

void rule_meta_parse_tags(const char *tags, uint32_t *tactics, uint32_t *techniques, uint8_t *n_techniques)
{
    *tactics = 0;
    *n_techniques = 0;
    const char *p = tags ? tags : "";
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        while (len && *p == ' ')
            p++, len--;
        if (len > 7 && !strncmp(p, "attack.", 7)) {
            char word[64];
            size_t wl = len - 7 < sizeof word - 1 ? len - 7 : sizeof word - 1;
            for (size_t i = 0; i < wl; i++)
                word[i] = p[7 + i] == '-' ? '_' : p[7 + i]; /* Sigma spells tactics both ways */
            word[wl] = '\0';
            uint32_t tech;
            int tac = record_tactic_parse(word, wl);
            if (tac >= 0)
                *tactics |= 1u << tac;
            else if (!record_technique_parse(word, wl, &tech) && *n_techniques < ALERT_TECHNIQUES_MAX)
                techniques[(*n_techniques)++] = tech;
        }
        if (!e)
            break;
        p = e + 1;
    }
}

int rule_meta_add(struct rule_meta_table *t, const uint8_t uuid[16], const char *id, const char *title,
                  unsigned sigma_level, const char *tags, uint8_t kind)
{
    uint32_t h = uuid_hash(uuid) & t->mask;
    while (t->slot[h]) {
        struct rule_meta *m = &t->m[t->slot[h] - 1];
        if (!memcmp(m->uuid, uuid, 16))
            return 0; /* a duplicate id: the first rule keeps it (the loader warned) */
        h = (h + 1) & t->mask;
    }
    if (t->n == t->cap)
        return -1;
    struct rule_meta *m = &t->m[t->n];
    memset(m, 0, sizeof *m);
    memcpy(m->uuid, uuid, 16);
    m->level = (uint8_t)(sigma_level >= 1 && sigma_level <= 5 ? sigma_level - 1 : ALERT_MEDIUM);
    m->kind = kind;
    record_copy_str(m->title, sizeof m->title, title ? title : "", title ? strlen(title) : 0);
    record_copy_str(m->id, sizeof m->id, id ? id : "", id ? strlen(id) : 0);
    rule_meta_parse_tags(tags, &m->tactics, m->techniques, &m->n_techniques);
    t->slot[h] = ++t->n;
    return 0;
}

int rule_meta_add_detection(struct rule_meta_table *t, const struct rule_set *rs)
{
    unsigned n = rs ? detect_rule_count(rs) : 0;
    for (unsigned i = 0; i < n; i++) {
        const struct rule_info *ri = detect_rule(rs, i);
        if (rule_meta_add(t, ri->uuid, ri->id, ri->title, ri->level, ri->tags, ALERT_DETECTION))
            return -1;
    }
    return (int)n;
}

const struct rule_meta *rule_meta_find(const struct rule_meta_table *t, const uint8_t uuid[16])
{
    for (uint32_t h = uuid_hash(uuid) & t->mask; t->slot[h]; h = (h + 1) & t->mask) {
        const struct rule_meta *m = &t->m[t->slot[h] - 1];
        if (!memcmp(m->uuid, uuid, 16))
            return m;
    }
    return NULL;
}

unsigned rule_meta_count(const struct rule_meta_table *t) { return t->n; }
