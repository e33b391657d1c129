/* Incident tracking per entity: a hash table on the address with an LRU
 * list, both in arrays sized at creation. */
#include "mgmt/incident.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX
#define EARLY_MAX 8 /* low alerts kept per entity until an incident opens */

struct early {
    uint64_t id;
    int64_t ts;
    uint32_t tactics;
    uint8_t level;
};

struct entity_slot {
    struct vigil_ip ip;
    uint32_t hnext, prev, next;      /* hash chain, LRU list */
    bool open;                       /* inc is an open incident */
    bool correlated;
    bool progressed;
    uint8_t max_level;
    uint8_t min_phase;               /* lowest phase seen so far in the chain (0: none yet) */
    uint8_t n_early;
    uint16_t rank_floor;             /* rank of a restored incident (its parts are not stored) */
    int64_t last_alert_ns;
    struct early early[EARLY_MAX];
    struct vigil_incident inc;
};

struct incident_tracker {
    struct incident_config cfg;
    int64_t newest_ns;                  /* newest alert time seen: the clock incidents close on */
    struct entity_slot *e;
    uint32_t *bucket;
    uint32_t mask, n, lru_head, lru_tail; /* head = most recent */
    struct incident_stats st;
};

static uint32_t ip_hash(const struct vigil_ip *ip)
{
    uint64_t a, b;
    memcpy(&a, ip->addr, 8);
    memcpy(&b, ip->addr + 8, 8);
    a = (a ^ (b * 0x9e3779b97f4a7c15ull) ^ ip->family) * 0xff51afd7ed558ccdull;
    return (uint32_t)(a >> 32);
}

static bool ip_eq(const struct vigil_ip *x, const struct vigil_ip *y)
{
    return x->family == y->family && !memcmp(x->addr, y->addr, 16);
}

struct incident_tracker *incident_tracker_new(const struct incident_config *c)
{
    if (!c->max_entities)
        return NULL;
    struct incident_tracker *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cfg = *c;
    uint32_t b = 16;
    while (b < 2u * c->max_entities)
        b <<= 1;
    t->e = calloc(c->max_entities, sizeof *t->e);
    t->bucket = malloc(b * sizeof *t->bucket);
    if (!t->e || !t->bucket) {
        incident_tracker_free(t);
        return NULL;
    }
    memset(t->bucket, 0xff, b * sizeof *t->bucket);
    t->mask = b - 1;
    t->lru_head = t->lru_tail = NIL;
    return t;
}

void incident_tracker_free(struct incident_tracker *t)
{
    if (!t)
        return;
    free(t->e);
    free(t->bucket);
    free(t);
}

static void lru_unlink(struct incident_tracker *t, uint32_t i)
{
    struct entity_slot *s = &t->e[i];
    if (s->prev != NIL)
        t->e[s->prev].next = s->next;
    else
        t->lru_head = s->next;
    if (s->next != NIL)
        t->e[s->next].prev = s->prev;
    else
        t->lru_tail = s->prev;
}

static void lru_front(struct incident_tracker *t, uint32_t i)
{
    struct entity_slot *s = &t->e[i];
    s->prev = NIL;
    s->next = t->lru_head;
    if (t->lru_head != NIL)
        t->e[t->lru_head].prev = i;
    t->lru_head = i;
    if (t->lru_tail == NIL)
        t->lru_tail = i;
}

static void hash_remove(struct incident_tracker *t, uint32_t i)
{
    uint32_t *link = &t->bucket[ip_hash(&t->e[i].ip) & t->mask];
    while (*link != i)
        link = &t->e[*link].hnext;
    *link = t->e[i].hnext;
}

/* Closes s's open incident into *out. */
static void close_incident(struct incident_tracker *t, struct entity_slot *s, struct vigil_incident *out)
{
    s->open = false;
    s->inc.status = INCIDENT_CLOSED;
    s->inc.updated_ns = t->newest_ns;
    *out = s->inc;
    t->st.closed++;
}

/* The entity's slot, created (evicting the least recently active) if new.
 * An evicted entity's open incident is closed into out[*n]. */
static struct entity_slot *entity(struct incident_tracker *t, const struct vigil_ip *ip, struct vigil_incident *out,
                                  unsigned *n)
{
    uint32_t *head = &t->bucket[ip_hash(ip) & t->mask];
    for (uint32_t i = *head; i != NIL; i = t->e[i].hnext)
        if (ip_eq(&t->e[i].ip, ip)) {
            lru_unlink(t, i);
            lru_front(t, i);
            return &t->e[i];
        }
    uint32_t i;
    if (t->n < t->cfg.max_entities) {
        i = t->n++;
    } else {
        i = t->lru_tail;
        if (t->e[i].open && out)
            close_incident(t, &t->e[i], &out[(*n)++]);
        lru_unlink(t, i);
        hash_remove(t, i);
        t->st.entities_evicted++;
        head = &t->bucket[ip_hash(ip) & t->mask]; /* unchanged, but the chain may have been */
    }
    struct entity_slot *s = &t->e[i];
    memset(s, 0, sizeof *s);
    s->ip = *ip;
    s->hnext = *head;
    *head = i;
    lru_front(t, i);
    return s;
}

unsigned incident_phase(uint32_t tactics)
{
    static const uint32_t phase_mask[5] = {
        0,
        (1u << TACTIC_RECONNAISSANCE) | (1u << TACTIC_RESOURCE_DEVELOPMENT) | (1u << TACTIC_DISCOVERY),
        (1u << TACTIC_INITIAL_ACCESS) | (1u << TACTIC_CREDENTIAL_ACCESS),
        (1u << TACTIC_EXECUTION) | (1u << TACTIC_PERSISTENCE) | (1u << TACTIC_PRIVILEGE_ESCALATION) |
            (1u << TACTIC_DEFENSE_EVASION) | (1u << TACTIC_LATERAL_MOVEMENT),
        (1u << TACTIC_COLLECTION) | (1u << TACTIC_COMMAND_AND_CONTROL) | (1u << TACTIC_EXFILTRATION) |
            (1u << TACTIC_IMPACT),
    };
    for (unsigned p = 4; p >= 1; p--)
        if (tactics & phase_mask[p])
            return p;
    return 0;
}

const char *incident_label(unsigned rank)
{
    return rank >= 70 ? "critical" : rank >= 45 ? "high" : rank >= 25 ? "medium" : "low";
}

static unsigned rank_of(const struct entity_slot *s)
{
    static const unsigned level_w[5] = {0, 10, 20, 35, 50};
    unsigned tactics = (unsigned)__builtin_popcount(s->inc.tactics);
    unsigned phase = incident_phase(s->inc.tactics);
    unsigned r = level_w[s->max_level <= ALERT_CRITICAL ? s->max_level : ALERT_CRITICAL];
    r += 5 * (tactics > 1 ? (tactics - 1 < 3 ? tactics - 1 : 3) : 0);
    r += s->progressed ? 20 : 0;
    r += s->correlated ? 10 : 0;
    r += phase > 1 ? 5 * (phase - 1) : 0;
    if (r < s->rank_floor)
        r = s->rank_floor;
    return r > 100 ? 100 : r;
}

/* Appends one alert to the open incident's chain and updates what the rank
 * depends on. */
static void chain_add(struct entity_slot *s, uint64_t id, int64_t ts, uint32_t tactics, uint8_t level)
{
    struct vigil_incident *inc = &s->inc;
    if (inc->n_chain < INCIDENT_CHAIN_MAX)
        inc->chain[inc->n_chain++] = id;
    else
        inc->chain_more++;
    inc->tactics |= tactics & TACTIC_ALL_MASK;
    if (level > s->max_level)
        s->max_level = level;
    unsigned phase = incident_phase(tactics);
    if (phase) {
        if (s->min_phase && phase > s->min_phase)
            s->progressed = true;
        if (!s->min_phase || phase < s->min_phase)
            s->min_phase = (uint8_t)phase;
    }
    if (!inc->first_seen_ns || ts < inc->first_seen_ns)
        inc->first_seen_ns = ts;
    if (ts > inc->last_seen_ns)
        inc->last_seen_ns = ts;
}

static int64_t alert_time(const struct vigil_alert *a)
{
    return a->first_seen_ns ? a->first_seen_ns : a->event_ns ? a->event_ns : a->received_ns;
}

unsigned incident_add_alert(struct incident_tracker *t, struct vigil_alert *a, incident_id_fn alloc, void *ctx,
                            struct vigil_incident out[INCIDENT_MAX_VERSIONS])
{
    if (a->entity.family != 4 && a->entity.family != 6) {
        t->st.alerts_without_entity++;
        return 0;
    }
    unsigned n = 0;
    struct entity_slot *s = entity(t, &a->entity, out, &n);
    int64_t ts = alert_time(a);
    if (ts > t->newest_ns)
        t->newest_ns = ts;
    if (s->open && ts > s->last_alert_ns + t->cfg.window_ns)
        close_incident(t, s, &out[n++]); /* quiet too long: the next incident starts fresh */
    if (ts > s->last_alert_ns)
        s->last_alert_ns = ts;
    bool opens = a->level >= t->cfg.min_level || a->kind == ALERT_CORRELATION;
    if (!s->open && !opens) {
        /* remember it in case an incident opens soon (oldest dropped) */
        if (s->n_early == EARLY_MAX) {
            memmove(s->early, s->early + 1, (EARLY_MAX - 1) * sizeof s->early[0]);
            s->n_early--;
        }
        s->early[s->n_early++] = (struct early){a->id, ts, a->tactics, a->level};
        return n;
    }
    if (!s->open) {
        memset(&s->inc, 0, sizeof s->inc);
        s->inc.id = alloc(ctx);
        s->inc.entity = a->entity;
        s->inc.status = INCIDENT_OPEN;
        s->open = true;
        s->correlated = s->progressed = false;
        s->max_level = 0;
        s->min_phase = 0;
        s->rank_floor = 0;
        for (unsigned k = 0; k < s->n_early; k++)
            if (ts - s->early[k].ts <= t->cfg.window_ns)
                chain_add(s, s->early[k].id, s->early[k].ts, s->early[k].tactics, s->early[k].level);
        s->n_early = 0;
        t->st.opened++;
    } else {
        t->st.updated++;
    }
    if (a->kind == ALERT_CORRELATION)
        s->correlated = true;
    chain_add(s, a->id, ts, a->tactics, a->level);
    unsigned rank = rank_of(s);
    s->inc.severity = (uint16_t)rank;
    const char *label = incident_label(rank);
    s->inc.label_len = (uint8_t)record_copy_str(s->inc.label, sizeof s->inc.label, label, strlen(label));
    s->inc.updated_ns = a->received_ns;
    a->incident_id = s->inc.id;
    out[n++] = s->inc;
    return n;
}

int incident_set_status(struct incident_tracker *t, uint64_t id, uint8_t status, struct vigil_incident *out)
{
    /* open incidents live in at most one slot each: a scan of the tracked
     * entities (an operator's command, not the alert path) */
    for (uint32_t i = 0; i < t->n; i++) {
        struct entity_slot *s = &t->e[i];
        if (!s->open || s->inc.id != id)
            continue;
        if (status == INCIDENT_CLOSED) {
            close_incident(t, s, out);
        } else {
            s->inc.status = status;
            s->inc.updated_ns = t->newest_ns;
            *out = s->inc;
        }
        return 1;
    }
    return 0;
}

unsigned incident_close_quiet(struct incident_tracker *t, unsigned max_work, struct vigil_incident *out,
                              unsigned cap)
{
    unsigned n = 0;
    /* from the least recently active entity towards the most recent */
    for (uint32_t i = t->lru_tail; i != NIL && max_work && n < cap; i = t->e[i].prev, max_work--) {
        struct entity_slot *s = &t->e[i];
        if (s->open && s->last_alert_ns + t->cfg.window_ns < t->newest_ns)
            close_incident(t, s, &out[n++]);
    }
    return n;
}

void incident_restore(struct incident_tracker *t, const struct vigil_incident *inc, int64_t last_alert_ns)
{
    if (inc->status == INCIDENT_CLOSED)
        return;
    for (uint32_t i = t->bucket[ip_hash(&inc->entity) & t->mask]; i != NIL; i = t->e[i].hnext)
        if (ip_eq(&t->e[i].ip, &inc->entity))
            return; /* a newer incident of the entity was restored first */
    struct entity_slot *s = entity(t, &inc->entity, NULL, NULL);
    s->inc = *inc;
    s->open = true;
    s->last_alert_ns = last_alert_ns ? last_alert_ns : inc->last_seen_ns;
    /* what the rank was made of is not stored; rebuild what the record tells */
    s->min_phase = (uint8_t)incident_phase(inc->tactics);
    s->progressed = false;
    s->correlated = false;
    s->max_level = 0;
    s->rank_floor = inc->severity;
    if (s->last_alert_ns > t->newest_ns)
        t->newest_ns = s->last_alert_ns;
}

void incident_stats(const struct incident_tracker *t, struct incident_stats *st)
{
    *st = t->st;
    st->entities = t->n;
}
