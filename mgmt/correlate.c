#include "mgmt/correlate.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NIL      UINT32_MAX
#define T_NONE   INT64_MIN             /* "never" for times kept in windows */
#define T_MAX    (INT64_C(1) << 62)    /* later than this is not a time (and sums cannot overflow) */

/* ------------------------------------------------------------------ */
/* layout                                                               */

/* Every window is one 64-byte aligned slot: this header, then the encoded
 * group key (so a lookup reads the first two cache lines only), the ring of
 * contributing alert ids, then the rule type's state.  Links are slot
 * indices, not pointers: one allocation holds everything. */
struct win {
    uint64_t hash;
    uint32_t rule;          /* NIL when the slot is free */
    uint32_t wprev, wnext;  /* timer wheel (circular, with sentinel heads); wnext links free slots */
    uint16_t nids, idhead;  /* alert id ring */
    uint16_t nvals;         /* value_count entries */
    uint8_t ref;            /* CLOCK: touched since the hand passed */
    uint8_t pad[5];
    int64_t first_ns;       /* earliest signal since the window opened or last fired; T_NONE after a fire */
    int64_t last_ns;        /* latest signal time */
    int64_t start_ns;       /* tumbling: start of the window */
    int64_t hold_until;     /* sliding: no fire before this */
    int64_t deadline;       /* useless after this (clock time) */
    int64_t bhead;          /* sliding event_count: bucket index of the newest bucket */
    uint64_t total;         /* sliding event_count: sum of the buckets; else signals since open or last fire */
};

struct idrec {
    uint64_t id;
    int64_t t;
};

struct vrec {               /* value_count: one distinct value */
    uint64_t h;
    int64_t last;
};

struct trec {               /* temporal: one referenced rule */
    int64_t last;
    uint64_t id;
};

struct orec {               /* temporal_ordered: the prefix ending at this rule */
    int64_t start, end;
    uint64_t id;
};

struct rinfo {
    const struct corr_rule *r;
    bool tumbling;
    int64_t bucket_w;
    uint32_t dep_first, ndeps;   /* into engine deps[]: rules chained to this one */
};

struct pair {               /* a (rule, reference) a detection uuid feeds */
    uint8_t uuid[16];
    uint32_t rule;
    uint32_t ref;
};

struct dslot {              /* dispatch table: uuid -> run of pairs */
    uint8_t uuid[16];
    uint32_t first, n;      /* n == 0: empty */
};

struct link {
    uint32_t prev, next;
};

/* Window index: open addressing over (slot, upper hash bits), so a probe
 * reads one cache line and touches a slot only when the bits match. */
struct hent {
    uint32_t idx;           /* NIL: empty */
    uint32_t tag;           /* hash >> 32; its low bits are the home position */
};

struct corr_engine {
    const struct corr_ruleset *rs;
    struct corr_config cfg;
    corr_fire_fn fire;
    void *arg;
    struct rinfo *ri;

    uint8_t *slots;
    size_t slot_size;
    uint32_t nslots;
    uint32_t key_off, ids_off, st_off;
    uint32_t free_head;
    uint32_t hand;

    struct hent *tab;
    uint32_t tmask;
    uint64_t seed;

    struct link *sent;      /* wheel heads: wheel_slots sentinels, then the pending list */
    uint32_t wmask;
    uint32_t pending;       /* node index of the pending sentinel */
    int64_t wcursor;        /* next tick to process; T_NONE before the first window */

    int64_t watermark;
    bool have_wm;

    struct pair *pairs;
    struct dslot *dt;
    uint32_t dmask;
    uint32_t *deps;         /* pairs (rule, ref) flattened */

    uint8_t *blob;          /* checkpoint scratch */
    size_t blob_max;

    struct corr_counters c;
};

static inline struct win *W(const struct corr_engine *e, uint32_t i)
{
    return (struct win *)(e->slots + (size_t)i * e->slot_size);
}
static inline uint8_t *wkey(const struct corr_engine *e, struct win *w) { return (uint8_t *)w + e->key_off; }
static inline struct idrec *wids(const struct corr_engine *e, struct win *w)
{
    return (struct idrec *)((uint8_t *)w + e->ids_off);
}
static inline void *wstate(const struct corr_engine *e, struct win *w) { return (uint8_t *)w + e->st_off; }

static inline uint32_t *wbuckets(const struct corr_engine *e, struct win *w) { return wstate(e, w); }

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static size_t state_size(const struct corr_rule *r)
{
    switch (r->type) {
    case CORR_VALUE_COUNT: return (size_t)r->vcap * sizeof(struct vrec);
    case CORR_TEMPORAL: return r->nrefs * sizeof(struct trec);
    case CORR_TEMPORAL_ORDERED: return r->nrefs * sizeof(struct orec);
    default: return r->cond.has_hi ? 0 : CORR_BUCKETS * sizeof(uint32_t);   /* sliding event_count */
    }
}

/* ------------------------------------------------------------------ */
/* hashing                                                              */

static inline uint64_t mix64(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_bytes(uint64_t seed, const uint8_t *p, size_t n)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
        p += 8, n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, p, n);
        h = (h ^ v) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 29;
    }
    return mix64(h);
}

/* Distinct values are compared by this hash; it must not depend on the
 * engine's random seed, because checkpoints keep it. */
#define VALUE_SEED 0x2545f4914f6cdd1dull

static uint32_t fnv32(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* ------------------------------------------------------------------ */
/* config                                                               */

void corr_config_default(struct corr_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_keys = 262144;
    cfg->max_alert_ids = 8;
    cfg->allowed_lateness_ns = 60LL * 1000000000LL;
    cfg->max_clock_skew_ns = 15LL * 1000000000LL;
    cfg->tick_ns = 1000000000LL;
    cfg->wheel_slots = 4096;
}

/* ------------------------------------------------------------------ */
/* wheel lists: node i < nslots is a window, nslots + k is sentinel k     */

static inline uint32_t *lprev(struct corr_engine *e, uint32_t i)
{
    return i < e->nslots ? &W(e, i)->wprev : &e->sent[i - e->nslots].prev;
}
static inline uint32_t *lnext(struct corr_engine *e, uint32_t i)
{
    return i < e->nslots ? &W(e, i)->wnext : &e->sent[i - e->nslots].next;
}

static void list_unlink(struct corr_engine *e, uint32_t i)
{
    uint32_t p = *lprev(e, i), n = *lnext(e, i);
    *lnext(e, p) = n;
    *lprev(e, n) = p;
    *lprev(e, i) = *lnext(e, i) = i;
}

static void list_push(struct corr_engine *e, uint32_t head, uint32_t i)
{
    uint32_t n = *lnext(e, head);
    *lprev(e, i) = head;
    *lnext(e, i) = n;
    *lprev(e, n) = i;
    *lnext(e, head) = i;
}

static bool list_empty(struct corr_engine *e, uint32_t head) { return *lnext(e, head) == head; }

/* Moves every node of list src to the front of list dst, in O(1). */
static void list_splice(struct corr_engine *e, uint32_t src, uint32_t dst)
{
    if (list_empty(e, src))
        return;
    uint32_t first = *lnext(e, src), last = *lprev(e, src), dn = *lnext(e, dst);
    *lnext(e, dst) = first;
    *lprev(e, first) = dst;
    *lnext(e, last) = dn;
    *lprev(e, dn) = last;
    *lnext(e, src) = *lprev(e, src) = src;
}

static int64_t tick_ceil(const struct corr_engine *e, int64_t t) { return (t + e->cfg.tick_ns - 1) / e->cfg.tick_ns; }

/* Puts window i in the wheel slot of its deadline (or the next slot to be
 * processed when that is already past). */
static void wheel_link(struct corr_engine *e, uint32_t i)
{
    struct win *w = W(e, i);
    int64_t dt = tick_ceil(e, w->deadline);
    if (e->wcursor == T_NONE)
        e->wcursor = (e->have_wm ? e->watermark : w->deadline) / e->cfg.tick_ns;
    if (dt < e->wcursor)
        dt = e->wcursor;
    list_push(e, e->nslots + (uint32_t)(dt & e->wmask), i);
}

/* ------------------------------------------------------------------ */
/* engine                                                               */

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    int c = memcmp(x->uuid, y->uuid, 16);
    if (c)
        return c;
    return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static uint32_t uuid_slot(const uint8_t u[16])
{
    uint64_t a, b;
    memcpy(&a, u, 8);
    memcpy(&b, u + 8, 8);
    return (uint32_t)mix64(a ^ (b * 0x9e3779b97f4a7c15ull));
}

static const struct dslot *dispatch(const struct corr_engine *e, const uint8_t u[16])
{
    for (uint32_t s = uuid_slot(u) & e->dmask;; s = (s + 1) & e->dmask) {
        const struct dslot *d = &e->dt[s];
        if (!d->n)
            return NULL;
        if (!memcmp(d->uuid, u, 16))
            return d;
    }
}

static uint64_t random_seed(void)
{
    uint64_t s;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) == (ssize_t)sizeof s)
        return s;
    /* no entropy yet (early boot): a clock is still unknown to a sender */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return mix64((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)ts.tv_sec);
}

static size_t blob_bound(const struct corr_engine *e, const struct corr_rule *r)
{
    size_t st = r->type == CORR_VALUE_COUNT ? (size_t)r->vcap * 16 : r->type == CORR_TEMPORAL ? r->nrefs * 16u
                : r->type == CORR_TEMPORAL_ORDERED ? r->nrefs * 24u : CORR_BUCKETS * 4;
    return 64 + r->keylen + 6 * 8 + 2 + (size_t)e->cfg.max_alert_ids * 16 + 2 + st + 4;
}

struct corr_engine *corr_engine_new(const struct corr_ruleset *rs, const struct corr_config *cfg, corr_fire_fn fire,
                                    void *arg, char *err, size_t errlen)
{
    struct corr_config dc;
    if (!cfg) {
        corr_config_default(&dc);
        cfg = &dc;
    }
    const char *bad = NULL;
    if (!rs || !rs->resolved)
        bad = "ruleset not resolved (corr_ruleset_resolve)";
    else if (cfg->max_keys == 0 || cfg->max_keys > (1u << 30))
        bad = "max_keys must be 1 .. 2^30";
    else if (cfg->max_alert_ids == 0 || cfg->max_alert_ids > CORR_MAX_ALERT_IDS)
        bad = "max_alert_ids must be 1 .. 64";
    else if (cfg->allowed_lateness_ns < 0 || cfg->allowed_lateness_ns > CORR_MAX_TIMESPAN_NS)
        bad = "allowed_lateness must be 0 .. 366 days";
    else if (cfg->max_clock_skew_ns <= 0 || cfg->max_clock_skew_ns > CORR_MAX_TIMESPAN_NS)
        bad = "max_clock_skew must be > 0 and at most 366 days";
    else if (cfg->tick_ns <= 0 || cfg->tick_ns > 3600LL * 1000000000LL)
        bad = "tick must be > 0 and at most 1 hour";
    else if (cfg->wheel_slots < 16 || cfg->wheel_slots > (1u << 20) || (cfg->wheel_slots & (cfg->wheel_slots - 1)))
        bad = "wheel_slots must be a power of two, 16 .. 2^20";
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return NULL;
    }
    struct corr_engine *e = calloc(1, sizeof *e);
    if (!e)
        goto oom;
    e->rs = rs;
    e->cfg = *cfg;
    e->fire = fire;
    e->arg = arg;
    e->seed = random_seed();
    e->wcursor = T_NONE;

    /* slot layout: the most demanding rule sizes every slot */
    size_t keymax = 0, stmax = 0;
    e->blob_max = 64;
    if (rs->n && !(e->ri = calloc(rs->n, sizeof *e->ri)))
        goto oom;
    for (unsigned i = 0; i < rs->n; i++) {
        const struct corr_rule *r = rs->rules[i];
        struct rinfo *ri = &e->ri[i];
        ri->r = r;
        ri->tumbling = r->cond.has_hi;
        ri->bucket_w = r->timespan_ns / CORR_BUCKETS ? r->timespan_ns / CORR_BUCKETS : 1;
        if (r->keylen > keymax)
            keymax = r->keylen;
        if (state_size(r) > stmax)
            stmax = state_size(r);
        size_t bb = blob_bound(e, r);
        if (bb > e->blob_max)
            e->blob_max = bb;
    }
    e->key_off = (uint32_t)align8(sizeof(struct win));
    e->ids_off = (uint32_t)(e->key_off + align8(keymax));
    e->st_off = (uint32_t)(e->ids_off + (size_t)cfg->max_alert_ids * sizeof(struct idrec));
    e->slot_size = (e->st_off + stmax + 63) & ~(size_t)63;   /* whole cache lines */
    uint64_t nslots = cfg->max_keys;
    if (cfg->max_memory && cfg->max_memory / e->slot_size < nslots)
        nslots = cfg->max_memory / e->slot_size;
    if (nslots == 0) {
        snprintf(err, errlen, "max_memory is below one window (%zu bytes)", e->slot_size);
        corr_engine_free(e);
        return NULL;
    }
    e->nslots = (uint32_t)nslots;
    /* mmap: page aligned, and pages are zero until first touched, so a big
     * table costs nothing until keys arrive (and then never more) */
    void *m = mmap(NULL, (size_t)e->nslots * e->slot_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        goto oom;
    e->slots = m;
    /* free list in index order, so a fresh engine fills slots front to back */
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct win *w = W(e, i);
        w->rule = NIL;
        w->wprev = i;
        w->wnext = i + 1 < e->nslots ? i + 1 : NIL;
    }
    e->free_head = 0;
    uint32_t nb = 16;
    while (nb < 2 * e->nslots)   /* at most half full: probes stay short */
        nb <<= 1;
    e->tmask = nb - 1;
    if (!(e->tab = malloc((size_t)nb * sizeof *e->tab)))
        goto oom;
    memset(e->tab, 0xff, (size_t)nb * sizeof *e->tab);
    e->wmask = cfg->wheel_slots - 1;
    if (!(e->sent = malloc(((size_t)cfg->wheel_slots + 1) * sizeof *e->sent)))
        goto oom;
    for (uint32_t k = 0; k <= cfg->wheel_slots; k++)
        e->sent[k].prev = e->sent[k].next = e->nslots + k;
    e->pending = e->nslots + cfg->wheel_slots;
    if (!(e->blob = malloc(e->blob_max)))
        goto oom;

    /* dispatch: detection uuid -> (rule, ref) pairs */
    unsigned np = 0, nd = 0;
    for (unsigned i = 0; i < rs->n; i++)
        for (unsigned j = 0; j < rs->rules[i]->nrefs; j++)
            if (rs->rules[i]->refs[j].kind == CORR_REF_DETECTION)
                np++;
            else
                nd++;
    if (!(e->pairs = calloc(np ? np : 1, sizeof *e->pairs)))
        goto oom;
    np = 0;
    for (unsigned i = 0; i < rs->n; i++)
        for (unsigned j = 0; j < rs->rules[i]->nrefs; j++)
            if (rs->rules[i]->refs[j].kind == CORR_REF_DETECTION) {
                memcpy(e->pairs[np].uuid, rs->rules[i]->refs[j].uuid, 16);
                e->pairs[np].rule = i;
                e->pairs[np].ref = j;
                np++;
            }
    qsort(e->pairs, np, sizeof *e->pairs, pair_cmp);
    uint32_t ds = 8;
    while (ds < 2 * np)
        ds <<= 1;
    e->dmask = ds - 1;
    if (!(e->dt = calloc(ds, sizeof *e->dt)))
        goto oom;
    for (unsigned k = 0; k < np;) {
        unsigned run = 1;
        while (k + run < np && !memcmp(e->pairs[k].uuid, e->pairs[k + run].uuid, 16))
            run++;
        uint32_t s = uuid_slot(e->pairs[k].uuid) & e->dmask;
        while (e->dt[s].n)
            s = (s + 1) & e->dmask;
        memcpy(e->dt[s].uuid, e->pairs[k].uuid, 16);
        e->dt[s].first = k;
        e->dt[s].n = run;
        k += run;
    }
    /* chaining: for each rule, the (rule, ref) pairs its fires feed */
    if (!(e->deps = calloc(nd ? 2 * nd : 1, sizeof *e->deps)))
        goto oom;
    uint32_t o = 0;
    for (unsigned x = 0; x < rs->n; x++) {
        e->ri[x].dep_first = o;
        for (unsigned i = 0; i < rs->n; i++)
            for (unsigned j = 0; j < rs->rules[i]->nrefs; j++)
                if (rs->rules[i]->refs[j].kind == CORR_REF_CORRELATION && rs->rules[i]->refs[j].corr == x) {
                    e->deps[2 * o] = i;
                    e->deps[2 * o + 1] = j;
                    o++;
                }
        e->ri[x].ndeps = o - e->ri[x].dep_first;
    }

    e->c.window_bytes = e->slot_size;
    e->c.max_keys = e->nslots;
    e->c.memory_bytes = (uint64_t)e->nslots * e->slot_size + (uint64_t)nb * sizeof *e->tab +
                        ((uint64_t)cfg->wheel_slots + 1) * sizeof *e->sent + e->blob_max +
                        (uint64_t)ds * sizeof *e->dt + (uint64_t)(np ? np : 1) * sizeof *e->pairs;
    return e;
oom:
    snprintf(err, errlen, "out of memory");
    corr_engine_free(e);
    return NULL;
}

void corr_engine_free(struct corr_engine *e)
{
    if (!e)
        return;
    free(e->ri);
    if (e->slots)
        munmap(e->slots, (size_t)e->nslots * e->slot_size);
    free(e->tab);
    free(e->sent);
    free(e->blob);
    free(e->pairs);
    free(e->dt);
    free(e->deps);
    free(e);
}

void corr_stats(const struct corr_engine *e, struct corr_counters *out) { *out = e->c; }

/* ------------------------------------------------------------------ */
/* window table                                                         */

static inline uint32_t htag(uint64_t h) { return (uint32_t)(h >> 32); }

static uint32_t lookup(const struct corr_engine *e, uint32_t rule, uint64_t h, const uint8_t *key, unsigned keylen)
{
    uint32_t tag = htag(h);
    for (uint32_t p = tag & e->tmask;; p = (p + 1) & e->tmask) {
        const struct hent *t = &e->tab[p];
        if (t->idx == NIL)
            return NIL;
        if (t->tag == tag) {
            struct win *w = W(e, t->idx);
            if (w->hash == h && w->rule == rule && !memcmp(wkey(e, w), key, keylen))
                return t->idx;
        }
    }
}

static void index_add(struct corr_engine *e, uint64_t h, uint32_t i)
{
    uint32_t p = htag(h) & e->tmask;
    while (e->tab[p].idx != NIL)
        p = (p + 1) & e->tmask;
    e->tab[p] = (struct hent){.idx = i, .tag = htag(h)};
}

/* Removes slot i, shifting later entries of its run back so every entry
 * stays reachable from its home without tombstones. */
static void index_del(struct corr_engine *e, uint32_t i)
{
    uint32_t p = htag(W(e, i)->hash) & e->tmask;
    while (e->tab[p].idx != i)
        p = (p + 1) & e->tmask;
    for (uint32_t q = p;;) {
        q = (q + 1) & e->tmask;
        if (e->tab[q].idx == NIL)
            break;
        uint32_t home = e->tab[q].tag & e->tmask;
        /* the entry at q may move to p only if its home is not in (p, q] */
        bool stays = p <= q ? (home > p && home <= q) : (home > p || home <= q);
        if (stays)
            continue;
        e->tab[p] = e->tab[q];
        p = q;
    }
    e->tab[p].idx = NIL;
}

static void release(struct corr_engine *e, uint32_t i)
{
    struct win *w = W(e, i);
    index_del(e, i);
    list_unlink(e, i);
    w->rule = NIL;
    w->wnext = e->free_head;
    e->free_head = i;
    e->c.windows_open--;
}

/* A free slot, evicting with the CLOCK hand when there is none. */
static uint32_t take_slot(struct corr_engine *e)
{
    if (e->free_head == NIL) {
        for (;;) {
            uint32_t i = e->hand;
            e->hand = e->hand + 1 < e->nslots ? e->hand + 1 : 0;
            struct win *w = W(e, i);
            if (w->ref) {
                w->ref = 0;
                continue;
            }
            release(e, i);
            e->c.windows_evicted_full++;
            break;
        }
    }
    uint32_t i = e->free_head;
    e->free_head = W(e, i)->wnext;
    W(e, i)->wprev = W(e, i)->wnext = i;   /* not in any list yet */
    return i;
}

static void state_clear(const struct corr_engine *e, const struct rinfo *ri, struct win *w)
{
    const struct corr_rule *r = ri->r;
    w->total = 0;
    w->nids = w->idhead = 0;
    w->nvals = 0;
    if (r->type == CORR_EVENT_COUNT && !ri->tumbling) {
        memset(wbuckets(e, w), 0, CORR_BUCKETS * sizeof(uint32_t));
    } else if (r->type == CORR_TEMPORAL) {
        struct trec *t = wstate(e, w);
        for (unsigned j = 0; j < r->nrefs; j++)
            t[j] = (struct trec){.last = T_NONE, .id = 0};
    } else if (r->type == CORR_TEMPORAL_ORDERED) {
        struct orec *o = wstate(e, w);
        for (unsigned j = 0; j < r->nrefs; j++)
            o[j] = (struct orec){.start = T_NONE, .end = T_NONE, .id = 0};
    }
}

/* After this clock time only signals delivered more than allowed lateness
 * late (or from a sender whose clock lags) could still change the window.
 * The skew is left out on purpose: it may be large (hours), and such a
 * signal just opens a new window. */
static int64_t deadline_of(const struct corr_engine *e, const struct rinfo *ri, const struct win *w)
{
    int64_t base = ri->tumbling ? w->start_ns : w->last_ns;
    return base + ri->r->timespan_ns + e->cfg.allowed_lateness_ns;
}

static void window_open(struct corr_engine *e, const struct rinfo *ri, struct win *w, int64_t t)
{
    state_clear(e, ri, w);
    w->first_ns = w->last_ns = w->start_ns = t;
    w->hold_until = T_NONE;
    w->bhead = t / ri->bucket_w;
}

/* ------------------------------------------------------------------ */
/* signal values                                                        */

static bool enc_ip(const struct vigil_ip *ip, uint8_t *out)
{
    unsigned n = ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0;
    if (!n)
        return false;
    uint8_t any = 0;
    for (unsigned k = 0; k < n; k++)
        any |= ip->addr[k];
    if (!any)
        return false;   /* 0.0.0.0 / :: is how decoders say "no address" */
    out[0] = ip->family;
    memcpy(out + 1, ip->addr, n);
    memset(out + 1 + n, 0, 16 - n);
    return true;
}

static bool enc_field(const struct vigil_signal *s, uint8_t f, uint8_t *out)
{
    switch (f) {
    case CORR_F_SOURCE_IP: return enc_ip(&s->source_ip, out);
    case CORR_F_DESTINATION_IP: return enc_ip(&s->destination_ip, out);
    case CORR_F_OBSERVER_IP: return enc_ip(&s->observer, out);
    case CORR_F_SOURCE_PORT:
    case CORR_F_DESTINATION_PORT: {
        uint16_t p = f == CORR_F_SOURCE_PORT ? s->source_port : s->destination_port;
        if (!p)
            return false;
        out[0] = (uint8_t)(p >> 8);
        out[1] = (uint8_t)p;
        return true;
    }
    case CORR_F_USER_NAME: {
        size_t n = strnlen(s->user_name, SIGNAL_USER_MAX);
        if (!n)
            return false;
        memcpy(out, s->user_name, n);
        memset(out + n, 0, SIGNAL_USER_MAX - n);
        return true;
    }
    default:
        return false;
    }
}

/* Where a rule's input comes from: a detection signal, or another rule's
 * fire (chaining: its group values, its alert ids). */
struct src {
    const struct vigil_signal *sig;
    const struct corr_rule *xr;
    const uint8_t *xkey;
    const uint64_t *ids;
    uint32_t nids;
    uint64_t trigger;
    uint8_t depth;
};

static bool src_value(const struct src *s, uint8_t sel, uint8_t vtype, uint8_t *out)
{
    if (s->sig)
        return enc_field(s->sig, sel, out);
    memcpy(out, s->xkey + s->xr->goff[sel], corr_vtype_size(vtype));
    return true;
}

/* ------------------------------------------------------------------ */
/* fires                                                                */

struct pending_fire {
    bool set;
    uint32_t rule;
    struct corr_fire f;
    uint8_t key[CORR_KEY_MAX];
};

static void fmt_value(char *out, size_t cap, uint8_t vtype, const uint8_t *v)
{
    if (vtype == CORR_VT_IP) {
        if (!inet_ntop(v[0] == 4 ? AF_INET : AF_INET6, v + 1, out, (socklen_t)cap))
            snprintf(out, cap, "?");
    } else if (vtype == CORR_VT_PORT) {
        snprintf(out, cap, "%u", (unsigned)v[0] << 8 | v[1]);
    } else {
        snprintf(out, cap, "%.*s", (int)strnlen((const char *)v, SIGNAL_USER_MAX), (const char *)v);
    }
}

static void key_text(const struct corr_rule *r, const uint8_t *key, struct corr_fire *f)
{
    size_t o = 0;
    f->group_key[0] = '\0';
    memset(&f->entity, 0, sizeof f->entity);
    for (unsigned g = 0; g < r->ngroup; g++) {
        const uint8_t *v = key + r->goff[g];
        char val[64];
        fmt_value(val, sizeof val, r->gtype[g], v);
        int n = snprintf(f->group_key + o, sizeof f->group_key - o, "%s%s=%s", g ? "," : "", r->gtext[g], val);
        if (n < 0 || (size_t)n >= sizeof f->group_key - o) {
            o = sizeof f->group_key - 1;   /* cut: the key text is for people */
        } else {
            o += (size_t)n;
        }
        if (r->gtype[g] == CORR_VT_IP && !f->entity.family) {
            f->entity.family = v[0];
            memcpy(f->entity.addr, v + 1, 16);
        }
    }
}

static bool have_id(const struct corr_fire *f, uint64_t id)
{
    for (uint32_t k = 0; k < f->n_alert_ids; k++)
        if (f->alert_ids[k] == id)
            return true;
    return false;
}

/* Builds the fire of window w (evaluated at newest time T, count cnt). */
static void make_fire(struct corr_engine *e, uint32_t rule, struct win *w, uint8_t reason, int64_t T, uint64_t cnt,
                      uint64_t trigger, uint8_t depth, struct pending_fire *pf)
{
    const struct rinfo *ri = &e->ri[rule];
    const struct corr_rule *r = ri->r;
    struct corr_fire *f = &pf->f;
    memset(f, 0, sizeof *f);   /* callers may copy it whole: no stale stack bytes */
    pf->set = true;
    pf->rule = rule;
    memcpy(pf->key, wkey(e, w), r->keylen);
    f->rule = r;
    f->rule_index = rule;
    f->reason = reason;
    f->chain_depth = depth;
    key_text(r, pf->key, f);
    f->count = cnt;
    f->signals = w->total;
    f->alert_ids_total = w->total;
    f->last_ns = w->last_ns;
    f->n_alert_ids = 0;
    /* the evidence that counts: everything since the window opened
     * (tumbling), or since T - timespan (sliding) */
    int64_t low = ri->tumbling ? T_NONE + 1 : T - r->timespan_ns;
    int64_t first = w->first_ns == T_NONE ? w->last_ns : w->first_ns;
    int64_t ev = T_NONE;
    if (r->type == CORR_EVENT_COUNT && !ri->tumbling) {
        /* exact when the id ring still holds every counted signal, else the
         * start of the oldest counted bucket */
        const struct idrec *ids = wids(e, w);
        uint64_t inring = 0;
        int64_t oldest = T_NONE;
        for (uint32_t k = 0; k < w->nids; k++)
            if (ids[k].t >= low) {
                inring++;
                if (oldest == T_NONE || ids[k].t < oldest)
                    oldest = ids[k].t;
            }
        if (inring >= w->total && oldest != T_NONE) {
            ev = oldest;
        } else {
            const uint32_t *bk = wbuckets(e, w);
            for (int64_t b = w->bhead - CORR_BUCKETS + 1; b <= w->bhead && ev == T_NONE; b++)
                if (b >= 0 && bk[b % CORR_BUCKETS])
                    ev = b * ri->bucket_w;
        }
    } else if (r->type == CORR_VALUE_COUNT && !ri->tumbling) {
        const struct vrec *v = wstate(e, w);
        for (unsigned k = 0; k < w->nvals; k++)
            if (v[k].last >= low && (ev == T_NONE || v[k].last < ev))
                ev = v[k].last;
    } else if (r->type == CORR_TEMPORAL) {
        const struct trec *t = wstate(e, w);
        for (unsigned j = 0; j < r->nrefs; j++)
            if (t[j].last != T_NONE && t[j].last >= low) {
                if (ev == T_NONE || t[j].last < ev)
                    ev = t[j].last;
                if (f->n_alert_ids < e->cfg.max_alert_ids && !have_id(f, t[j].id))
                    f->alert_ids[f->n_alert_ids++] = t[j].id;
            }
    } else if (r->type == CORR_TEMPORAL_ORDERED && cnt > 0) {
        const struct orec *o = wstate(e, w);
        ev = o[cnt - 1].start;
        for (unsigned j = 0; j < cnt && f->n_alert_ids < e->cfg.max_alert_ids; j++)
            if (o[j].start != T_NONE && !have_id(f, o[j].id))
                f->alert_ids[f->n_alert_ids++] = o[j].id;
    }
    if (ev != T_NONE && ev > first)
        first = ev;
    if (first > f->last_ns)
        first = f->last_ns;
    f->first_ns = first;
    /* then the ring, oldest first */
    const struct idrec *ids = wids(e, w);
    uint32_t cap = e->cfg.max_alert_ids;
    uint32_t start = (w->idhead + cap - w->nids) % cap;
    /* when the ring holds more than fits after the stage ids, keep the newest */
    uint32_t room = cap - f->n_alert_ids, skip = 0, eligible = 0;
    for (uint32_t k = 0; k < w->nids; k++) {
        const struct idrec *d = &ids[(start + k) % cap];
        if (d->t >= low && !have_id(f, d->id))
            eligible++;
    }
    if (eligible > room)
        skip = eligible - room;
    for (uint32_t k = 0; k < w->nids && f->n_alert_ids < cap; k++) {
        const struct idrec *d = &ids[(start + k) % cap];
        if (d->t < low || have_id(f, d->id))
            continue;
        if (skip) {
            skip--;
            continue;
        }
        f->alert_ids[f->n_alert_ids++] = d->id;
    }
    if (f->alert_ids_total < f->n_alert_ids)
        f->alert_ids_total = f->n_alert_ids;
    f->trigger_alert_id = trigger;
}

static unsigned feed_rule(struct corr_engine *e, uint32_t rule, uint32_t refi, const struct src *s, int64_t t,
                          const uint64_t *hpre);

/* Reports a fire, then feeds it to the rules chained to its rule. */
static unsigned deliver(struct corr_engine *e, struct pending_fire *pf)
{
    if (!pf->set)
        return 0;
    e->c.fires++;
    if (pf->f.reason == CORR_FIRE_CLOSE)
        e->c.fires_at_close++;
    if (e->fire)
        e->fire(&pf->f, e->arg);
    unsigned n = 1;
    const struct rinfo *ri = &e->ri[pf->rule];
    for (uint32_t k = 0; k < ri->ndeps; k++) {
        uint32_t y = e->deps[2 * (ri->dep_first + k)], j = e->deps[2 * (ri->dep_first + k) + 1];
        struct src s = {.xr = ri->r, .xkey = pf->key, .ids = pf->f.alert_ids, .nids = pf->f.n_alert_ids,
                        .trigger = pf->f.trigger_alert_id, .depth = (uint8_t)(pf->f.chain_depth + 1)};
        e->c.chained_events++;
        n += feed_rule(e, y, j, &s, pf->f.last_ns, NULL);
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* window updates                                                       */

static uint64_t count_of(const struct corr_engine *e, const struct rinfo *ri, struct win *w, int64_t T)
{
    const struct corr_rule *r = ri->r;
    int64_t low = ri->tumbling ? T_NONE + 1 : T - r->timespan_ns;
    switch (r->type) {
    case CORR_EVENT_COUNT:
        return w->total;
    case CORR_VALUE_COUNT:
        return w->nvals;
    case CORR_TEMPORAL: {
        const struct trec *tr = wstate(e, w);
        uint64_t n = 0;
        for (unsigned j = 0; j < r->nrefs; j++)
            n += tr[j].last != T_NONE && tr[j].last >= low;
        return n;
    }
    default: {
        const struct orec *o = wstate(e, w);
        for (unsigned j = r->nrefs; j > 0; j--)
            if (o[j - 1].start != T_NONE && o[j - 1].start >= low)
                return j;
        return 0;
    }
    }
}

/* Sliding buckets: moves the ring so its newest bucket holds t (or later). */
static void buckets_add(const struct corr_engine *e, const struct rinfo *ri, struct win *w, int64_t t)
{
    uint32_t *bk = wbuckets(e, w);
    int64_t b = t / ri->bucket_w;
    if (b > w->bhead) {
        if (b - w->bhead >= CORR_BUCKETS) {
            memset(bk, 0, CORR_BUCKETS * sizeof *bk);
            w->total = 0;
        } else {
            for (int64_t k = w->bhead + 1; k <= b; k++) {
                w->total -= bk[k % CORR_BUCKETS];
                bk[k % CORR_BUCKETS] = 0;
            }
        }
        w->bhead = b;
    }
    if (b > w->bhead - CORR_BUCKETS) {   /* else older than the window: not counted */
        bk[b % CORR_BUCKETS]++;
        w->total++;
    }
}

static void ids_push(const struct corr_engine *e, struct win *w, uint64_t id, int64_t t)
{
    uint32_t cap = e->cfg.max_alert_ids;
    struct idrec *ids = wids(e, w);
    ids[w->idhead] = (struct idrec){.id = id, .t = t};
    w->idhead = (uint16_t)((w->idhead + 1) % cap);
    if (w->nids < cap)
        w->nids++;
}

static void value_add(const struct corr_engine *e, const struct rinfo *ri, struct win *w, uint64_t vh, int64_t t,
                      int64_t T)
{
    struct vrec *v = wstate(e, w);
    if (!ri->tumbling) {
        int64_t low = T - ri->r->timespan_ns;
        if (t < low)
            return;   /* a late sighting already outside the window */
        for (unsigned k = 0; k < w->nvals;)
            if (v[k].last < low)
                v[k] = v[--w->nvals];
            else
                k++;
    }
    for (unsigned k = 0; k < w->nvals; k++)
        if (v[k].h == vh) {
            if (t > v[k].last)
                v[k].last = t;
            return;
        }
    /* full: the count is already at the rule's decision point (threshold,
     * or one above its upper bound), so further values change nothing */
    if (w->nvals < ri->r->vcap)
        v[w->nvals++] = (struct vrec){.h = vh, .last = t};
}

static void ordered_add(const struct corr_engine *e, const struct rinfo *ri, struct win *w, uint32_t j, int64_t t,
                        uint64_t id)
{
    struct orec *o = wstate(e, w);
    if (j == 0) {
        /* the latest start leaves the most room for what follows */
        if (o[0].start == T_NONE || t >= o[0].start)
            o[0] = (struct orec){.start = t, .end = t, .id = id};
        return;
    }
    const struct orec *p = &o[j - 1];
    if (p->start == T_NONE || t < p->end || t - p->start > ri->r->timespan_ns)
        return;
    if (o[j].start == T_NONE || p->start > o[j].start || (p->start == o[j].start && t < o[j].end))
        o[j] = (struct orec){.start = p->start, .end = t, .id = id};
}

static void apply(struct corr_engine *e, const struct rinfo *ri, struct win *w, uint32_t refi, const struct src *s,
                  int64_t t, uint64_t vh)
{
    if (ri->r->type == CORR_EVENT_COUNT && !ri->tumbling)
        buckets_add(e, ri, w, t);
    else
        w->total++;
    if (w->first_ns == T_NONE || t < w->first_ns)
        w->first_ns = t;
    if (t > w->last_ns)
        w->last_ns = t;
    uint32_t n = s->nids < e->cfg.max_alert_ids ? s->nids : e->cfg.max_alert_ids;
    for (uint32_t k = s->nids - n; k < s->nids; k++)
        ids_push(e, w, s->ids[k], t);
    switch (ri->r->type) {
    case CORR_VALUE_COUNT:
        value_add(e, ri, w, vh, t, w->last_ns);
        break;
    case CORR_TEMPORAL: {
        struct trec *tr = wstate(e, w);
        if (tr[refi].last == T_NONE || t >= tr[refi].last)
            tr[refi] = (struct trec){.last = t, .id = s->trigger};
        break;
    }
    case CORR_TEMPORAL_ORDERED:
        ordered_add(e, ri, w, refi, t, s->trigger);
        break;
    default:
        break;
    }
}

/* The group key (and value_count's value hash) of input s for rule's
 * reference refi; false when s lacks one of the fields. */
static bool make_key(const struct corr_rule *r, uint32_t refi, const struct src *s, uint8_t *key, uint64_t *vh)
{
    const struct corr_ref *ref = &r->refs[refi];
    for (unsigned g = 0; g < r->ngroup; g++)
        if (!src_value(s, ref->gsel[g], r->gtype[g], key + r->goff[g]))
            return false;
    if (r->type == CORR_VALUE_COUNT) {
        uint8_t v[SIGNAL_USER_MAX];
        if (!src_value(s, ref->vsel, r->vtype, v))
            return false;
        *vh = hash_bytes(VALUE_SEED, v, corr_vtype_size(r->vtype));
    }
    return true;
}

static inline uint64_t key_hash(const struct corr_engine *e, uint32_t rule, const uint8_t *key, unsigned keylen)
{
    return hash_bytes(e->seed ^ (rule * 0x9e3779b97f4a7c15ull), key, keylen);
}

/* hpre: the key's hash when the caller already has it (bursts). */
static unsigned feed_rule(struct corr_engine *e, uint32_t rule, uint32_t refi, const struct src *s, int64_t t,
                          const uint64_t *hpre)
{
    const struct rinfo *ri = &e->ri[rule];
    const struct corr_rule *r = ri->r;
    uint8_t key[CORR_KEY_MAX];
    uint64_t vh = 0;
    if (!make_key(r, refi, s, key, &vh)) {
        e->c.signals_missing_field++;
        return 0;
    }
    uint64_t h = hpre ? *hpre : key_hash(e, rule, key, r->keylen);
    uint32_t i = lookup(e, rule, h, key, r->keylen);
    struct win *w;
    struct pending_fire pf;
    pf.set = false;
    if (i == NIL) {
        i = take_slot(e);
        w = W(e, i);
        w->rule = rule;
        w->hash = h;
        w->ref = 0;   /* a key seen once is the first to go */
        memcpy(wkey(e, w), key, r->keylen);
        index_add(e, h, i);
        window_open(e, ri, w, t);
        w->deadline = deadline_of(e, ri, w);
        wheel_link(e, i);
        e->c.windows_open++;
        e->c.windows_created++;
    } else {
        w = W(e, i);
        w->ref = 1;
        if (ri->tumbling && t >= w->start_ns + r->timespan_ns) {
            /* the window is over: decide it, then start the next one here */
            uint64_t cnt = count_of(e, ri, w, w->last_ns);
            if (corr_cond_holds(&r->cond, cnt)) {
                const struct idrec *ids = wids(e, w);
                uint64_t last = w->nids ? ids[(w->idhead + e->cfg.max_alert_ids - 1) % e->cfg.max_alert_ids].id : 0;
                make_fire(e, rule, w, CORR_FIRE_CLOSE, w->last_ns, cnt, last, s->depth, &pf);
            }
            window_open(e, ri, w, t);
        }
    }
    apply(e, ri, w, refi, s, t, vh);
    if (!ri->tumbling) {
        int64_t T = w->last_ns;
        uint64_t cnt = count_of(e, ri, w, T);
        if (corr_cond_holds(&r->cond, cnt)) {
            if (w->hold_until == T_NONE || T >= w->hold_until) {
                make_fire(e, rule, w, CORR_FIRE_THRESHOLD, T, cnt, s->trigger, s->depth, &pf);
                w->hold_until = T + r->timespan_ns;
                w->first_ns = T_NONE;
                if (r->type != CORR_EVENT_COUNT)
                    w->total = 0;   /* signals of the next run */
            } else {
                e->c.fires_suppressed++;
            }
        }
    }
    w->deadline = deadline_of(e, ri, w);   /* only ever later: the wheel re-files it lazily */
    return deliver(e, &pf);
}

/* ------------------------------------------------------------------ */
/* signals                                                              */

/* The signal's time (module comment); *recv gets its receive time. */
static int64_t signal_time(struct corr_engine *e, const struct vigil_signal *sig, int64_t now, int64_t *recv)
{
    int64_t r = sig->received_ns > 0 && sig->received_ns < T_MAX ? sig->received_ns : now;
    if (r < 0 || r >= T_MAX)
        r = 0;
    *recv = r;
    int64_t ts = sig->ts_ns;
    if (ts > 0 && ts < T_MAX) {
        int64_t d = ts > r ? ts - r : r - ts;
        if (r == 0 || d <= e->cfg.max_clock_skew_ns)
            return ts;
    }
    e->c.time_from_receive++;
    return r;
}

/* hs[k] is the key hash of the signal's k-th (rule, reference) pair when
 * bit k of have is set (bursts compute them ahead). */
static unsigned feed_one(struct corr_engine *e, const struct vigil_signal *sig, uint64_t alert_id, int64_t now_ns,
                         const uint64_t *hs, unsigned have)
{
    e->c.signals_in++;
    int64_t recv;
    int64_t t = signal_time(e, sig, now_ns, &recv);
    /* The watermark follows the appliance's clock (receive times), not
     * event times: a sender whose clock runs ahead must not make everyone
     * else's signals late. */
    if (!e->have_wm || recv > e->watermark) {
        e->watermark = recv;
        e->have_wm = true;
    }
    if (t < e->watermark - e->cfg.max_clock_skew_ns - e->cfg.allowed_lateness_ns) {
        e->c.late_signals_dropped++;
        return 0;
    }
    const struct dslot *d = dispatch(e, sig->rule_uuid);
    if (!d) {
        e->c.signals_unreferenced++;
        return 0;
    }
    /* a signal that made no stored alert (id 0) counts, but is not cited */
    struct src s = {.sig = sig, .ids = &alert_id, .nids = alert_id != 0, .trigger = alert_id};
    unsigned fires = 0;
    for (uint32_t k = 0; k < d->n; k++) {
        const struct pair *pr = &e->pairs[d->first + k];
        fires += feed_rule(e, pr->rule, pr->ref, &s, t, k < 32 && (have >> k & 1) ? &hs[k] : NULL);
    }
    return fires;
}

unsigned corr_feed(struct corr_engine *e, const struct vigil_signal *sig, uint64_t alert_id, int64_t now_ns)
{
    return feed_one(e, sig, alert_id, now_ns, NULL, 0);
}

/* Windows are spread over a table far bigger than the caches, so each
 * signal costs a few memory round trips (index line, window lines).  A
 * burst first computes every key and asks for its index line, then looks
 * the windows up and asks for their lines, and only then runs the signals
 * in order: the round trips of the burst overlap instead of adding up.
 * Prefetches change nothing but timing, so the results are corr_feed's. */
#define BURST       16
#define BURST_PAIRS 4

unsigned corr_feed_burst(struct corr_engine *e, const struct vigil_signal *sigs, const uint64_t *alert_ids,
                         unsigned n, int64_t now_ns)
{
    unsigned fires = 0;
    for (unsigned base = 0; base < n; base += BURST) {
        unsigned m = n - base < BURST ? n - base : BURST;
        uint64_t hs[BURST][BURST_PAIRS];
        unsigned have[BURST];
        for (unsigned i = 0; i < m; i++) {
            const struct vigil_signal *sig = &sigs[base + i];
            const struct dslot *d = dispatch(e, sig->rule_uuid);
            have[i] = 0;
            if (!d)
                continue;
            struct src s = {.sig = sig};
            for (unsigned k = 0; k < d->n && k < BURST_PAIRS; k++) {
                const struct pair *pr = &e->pairs[d->first + k];
                const struct corr_rule *r = e->ri[pr->rule].r;
                uint8_t key[CORR_KEY_MAX];
                uint64_t vh;
                if (!make_key(r, pr->ref, &s, key, &vh))
                    continue;
                hs[i][k] = key_hash(e, pr->rule, key, r->keylen);
                have[i] |= 1u << k;
                __builtin_prefetch(&e->tab[htag(hs[i][k]) & e->tmask]);
            }
        }
        for (unsigned i = 0; i < m; i++)
            for (unsigned k = 0; k < BURST_PAIRS; k++) {
                if (!(have[i] >> k & 1))
                    continue;
                uint32_t tag = htag(hs[i][k]);
                for (uint32_t p = tag & e->tmask;; p = (p + 1) & e->tmask) {
                    const struct hent *t = &e->tab[p];
                    if (t->idx == NIL)
                        break;
                    if (t->tag == tag) {
                        const uint8_t *w = (const uint8_t *)W(e, t->idx);
                        __builtin_prefetch(w, 1);
                        __builtin_prefetch(w + 64, 1);
                        __builtin_prefetch(w + e->ids_off, 1);
                        __builtin_prefetch(w + e->st_off, 1);
                        break;
                    }
                }
            }
        for (unsigned i = 0; i < m; i++)
            fires += feed_one(e, &sigs[base + i], alert_ids[base + i], now_ns, hs[i], have[i]);
    }
    return fires;
}

/* ------------------------------------------------------------------ */
/* expiry                                                               */

static void expire_one(struct corr_engine *e, uint32_t i)
{
    struct win *w = W(e, i);
    const struct rinfo *ri = &e->ri[w->rule];
    struct pending_fire pf;
    pf.set = false;
    if (ri->tumbling) {
        uint64_t cnt = count_of(e, ri, w, w->last_ns);
        if (corr_cond_holds(&ri->r->cond, cnt)) {
            const struct idrec *ids = wids(e, w);
            uint64_t last = w->nids ? ids[(w->idhead + e->cfg.max_alert_ids - 1) % e->cfg.max_alert_ids].id : 0;
            make_fire(e, w->rule, w, CORR_FIRE_CLOSE, w->last_ns, cnt, last, 0, &pf);
        }
    }
    release(e, i);
    e->c.windows_expired++;
    deliver(e, &pf);
}

unsigned corr_expire(struct corr_engine *e, int64_t now_ns, unsigned max_work, bool *more)
{
    int64_t clock = now_ns > 0 && now_ns < T_MAX ? now_ns : 0;
    if (e->have_wm && e->watermark > clock)
        clock = e->watermark;
    unsigned work = 0, expired = 0;
    if (e->wcursor == T_NONE) {
        if (more)
            *more = false;
        return 0;
    }
    int64_t target = clock / e->cfg.tick_ns;
    for (;;) {
        while (!list_empty(e, e->pending) && work < max_work) {
            uint32_t i = *lnext(e, e->pending);
            list_unlink(e, i);
            work++;
            if (W(e, i)->deadline <= clock) {
                expire_one(e, i);
                expired++;
            } else {
                wheel_link(e, i);   /* its deadline moved on since it was filed */
            }
        }
        if (work >= max_work || e->wcursor > target)
            break;
        /* one revolution visits every slot: no need to walk more ticks */
        if (target - e->wcursor >= (int64_t)e->cfg.wheel_slots)
            e->wcursor = target - e->cfg.wheel_slots + 1;
        list_splice(e, e->nslots + (uint32_t)(e->wcursor & e->wmask), e->pending);
        e->wcursor++;
        work++;
    }
    if (more)
        *more = !list_empty(e, e->pending) || e->wcursor <= target;
    return expired;
}

/* ------------------------------------------------------------------ */
/* checkpoint                                                           */

#define BLOB_MAGIC   0x57524356u   /* "VCRW" */
#define BLOB_VERSION 1
#define BLOB_TUMBLING 1u

struct wr {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct wr *b, uint64_t v, unsigned bytes)
{
    for (unsigned k = 0; k < bytes && b->n < b->cap; k++)
        b->p[b->n++] = (uint8_t)(v >> (8 * k));
}

static void put_bytes(struct wr *b, const void *p, size_t n)
{
    if (b->n + n <= b->cap) {
        memcpy(b->p + b->n, p, n);
        b->n += n;
    }
}

struct rd {
    const uint8_t *p;
    size_t n, o;
    bool bad;
};

static uint64_t get(struct rd *b, unsigned bytes)
{
    if (b->bad || b->n - b->o < bytes) {
        b->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v |= (uint64_t)b->p[b->o++] << (8 * k);
    return v;
}

static const uint8_t *get_bytes(struct rd *b, size_t n)
{
    if (b->bad || b->n - b->o < n) {
        b->bad = true;
        return NULL;
    }
    const uint8_t *q = b->p + b->o;
    b->o += n;
    return q;
}

static size_t encode(struct corr_engine *e, struct win *w)
{
    const struct rinfo *ri = &e->ri[w->rule];
    const struct corr_rule *r = ri->r;
    struct wr b = {.p = e->blob, .cap = e->blob_max};
    put(&b, BLOB_MAGIC, 4);
    put(&b, BLOB_VERSION, 2);
    put(&b, ri->tumbling ? BLOB_TUMBLING : 0, 2);
    put_bytes(&b, r->uuid, 16);
    put(&b, r->fingerprint, 8);
    put(&b, r->keylen, 2);
    put_bytes(&b, wkey(e, w), r->keylen);
    put(&b, (uint64_t)w->first_ns, 8);
    put(&b, (uint64_t)w->last_ns, 8);
    put(&b, (uint64_t)w->start_ns, 8);
    put(&b, (uint64_t)w->hold_until, 8);
    put(&b, (uint64_t)w->bhead, 8);
    put(&b, w->total, 8);
    uint32_t cap = e->cfg.max_alert_ids, start = (w->idhead + cap - w->nids) % cap;
    const struct idrec *ids = wids(e, w);
    put(&b, w->nids, 2);
    for (uint32_t k = 0; k < w->nids; k++) {
        put(&b, ids[(start + k) % cap].id, 8);
        put(&b, (uint64_t)ids[(start + k) % cap].t, 8);
    }
    if (r->type == CORR_VALUE_COUNT) {
        const struct vrec *v = wstate(e, w);
        put(&b, w->nvals, 2);
        for (unsigned k = 0; k < w->nvals; k++) {
            put(&b, v[k].h, 8);
            put(&b, (uint64_t)v[k].last, 8);
        }
    } else if (r->type == CORR_TEMPORAL) {
        const struct trec *t = wstate(e, w);
        put(&b, r->nrefs, 2);
        for (unsigned k = 0; k < r->nrefs; k++) {
            put(&b, (uint64_t)t[k].last, 8);
            put(&b, t[k].id, 8);
        }
    } else if (r->type == CORR_TEMPORAL_ORDERED) {
        const struct orec *o = wstate(e, w);
        put(&b, r->nrefs, 2);
        for (unsigned k = 0; k < r->nrefs; k++) {
            put(&b, (uint64_t)o[k].start, 8);
            put(&b, (uint64_t)o[k].end, 8);
            put(&b, o[k].id, 8);
        }
    } else if (!ri->tumbling) {
        const uint32_t *bk = wbuckets(e, w);
        put(&b, CORR_BUCKETS, 2);
        for (unsigned k = 0; k < CORR_BUCKETS; k++)
            put(&b, bk[k], 4);
    } else {
        put(&b, 0, 2);
    }
    put(&b, fnv32(b.p, b.n), 4);
    return b.n;
}

int corr_checkpoint_each(struct corr_engine *e, corr_blob_fn cb, void *arg)
{
    uint8_t key[16 + CORR_KEY_MAX];
    for (uint32_t i = 0; i < e->nslots; i++) {
        struct win *w = W(e, i);
        if (w->rule == NIL)
            continue;
        const struct corr_rule *r = e->ri[w->rule].r;
        memcpy(key, r->uuid, 16);
        memcpy(key + 16, wkey(e, w), r->keylen);
        size_t n = encode(e, w);
        int rc = cb(key, 16 + (size_t)r->keylen, e->blob, n, arg);
        if (rc)
            return rc;
    }
    return 0;
}

static bool time_ok(int64_t t) { return t == T_NONE || (t >= 0 && t < T_MAX); }

enum corr_restore_result corr_restore(struct corr_engine *e, const void *blob, size_t len)
{
    struct rd b = {.p = blob, .n = len};
    if (len < 4 || fnv32(blob, len - 4) != (uint32_t)(((const uint8_t *)blob)[len - 4] |
                                                        ((const uint8_t *)blob)[len - 3] << 8 |
                                                        ((const uint8_t *)blob)[len - 2] << 16 |
                                                        (uint32_t)((const uint8_t *)blob)[len - 1] << 24))
        goto bad;
    b.n = len - 4;
    if (get(&b, 4) != BLOB_MAGIC || get(&b, 2) != BLOB_VERSION)
        goto bad;
    unsigned flags = (unsigned)get(&b, 2);
    const uint8_t *uuid = get_bytes(&b, 16);
    uint64_t fp = get(&b, 8);
    unsigned keylen = (unsigned)get(&b, 2);
    if (b.bad || keylen > CORR_KEY_MAX)
        goto bad;
    const uint8_t *key = get_bytes(&b, keylen);
    if (b.bad)
        goto bad;
    int rule = corr_ruleset_find(e->rs, uuid);
    if (rule < 0 || e->rs->rules[rule]->fingerprint != fp || e->rs->rules[rule]->keylen != keylen ||
        e->ri[rule].tumbling != ((flags & BLOB_TUMBLING) != 0)) {
        e->c.restore_stale++;
        return CORR_RESTORE_STALE;
    }
    const struct rinfo *ri = &e->ri[rule];
    const struct corr_rule *r = ri->r;

    /* decode into locals first: a bad blob must not leave half a window */
    int64_t first = (int64_t)get(&b, 8), last = (int64_t)get(&b, 8), start = (int64_t)get(&b, 8);
    int64_t hold = (int64_t)get(&b, 8), bhead = (int64_t)get(&b, 8);
    uint64_t total = get(&b, 8);
    unsigned nids = (unsigned)get(&b, 2);
    const uint8_t *idp = get_bytes(&b, (size_t)nids * 16);
    unsigned nst = (unsigned)get(&b, 2);
    bool sliding_count = r->type == CORR_EVENT_COUNT && !ri->tumbling;
    size_t rec = r->type == CORR_VALUE_COUNT || r->type == CORR_TEMPORAL ? 16
                 : r->type == CORR_TEMPORAL_ORDERED ? 24 : 4;
    const uint8_t *stp = get_bytes(&b, (size_t)nst * rec);
    if (b.bad || b.o != b.n || !time_ok(first) || last < 0 || last >= T_MAX || start < 0 || start >= T_MAX ||
        !(hold == T_NONE || (hold >= 0 && hold < T_MAX)) || bhead < 0)
        goto bad;
    if (r->type == CORR_VALUE_COUNT ? nst > r->vcap
        : r->type == CORR_EVENT_COUNT ? nst != (sliding_count ? CORR_BUCKETS : 0u) : nst != r->nrefs)
        goto bad;
    uint32_t buckets[CORR_BUCKETS] = {0};
    if (sliding_count) {
        /* the running total must be the buckets' sum, or counts would drift */
        struct rd bb = {.p = stp, .n = (size_t)nst * rec};
        uint64_t sum = 0;
        for (unsigned k = 0; k < CORR_BUCKETS; k++)
            sum += buckets[k] = (uint32_t)get(&bb, 4);
        if (sum != total)
            goto bad;
    }
    if (bhead > T_MAX / ri->bucket_w)
        goto bad;
    /* times in the state take part in arithmetic: check them before use */
    struct rd vb = {.p = stp, .n = (size_t)nst * rec};
    for (unsigned k = 0; k < nst; k++) {
        bool ok;
        if (r->type == CORR_EVENT_COUNT) {
            ok = true;                                     /* buckets: checked above */
            get(&vb, 4);
        } else if (r->type == CORR_VALUE_COUNT) {
            get(&vb, 8);                                   /* value hash */
            ok = time_ok((int64_t)get(&vb, 8));            /* last seen */
        } else if (r->type == CORR_TEMPORAL) {
            ok = time_ok((int64_t)get(&vb, 8));            /* last seen */
            get(&vb, 8);                                   /* alert id */
        } else {
            ok = time_ok((int64_t)get(&vb, 8));            /* prefix start */
            ok = time_ok((int64_t)get(&vb, 8)) && ok;      /* prefix end */
            get(&vb, 8);                                   /* alert id */
        }
        if (!ok || vb.bad)
            goto bad;
    }

    /* an existing window of that key (restoring twice) is replaced */
    uint64_t h = key_hash(e, (uint32_t)rule, key, keylen);
    uint32_t old = lookup(e, (uint32_t)rule, h, key, keylen);
    if (old != NIL)
        release(e, old);
    if (!e->have_wm || last > e->watermark) {
        e->watermark = last;
        e->have_wm = true;
    }
    uint32_t i = take_slot(e);
    struct win *w = W(e, i);
    w->rule = (uint32_t)rule;
    w->hash = h;
    w->ref = 1;
    memcpy(wkey(e, w), key, keylen);
    index_add(e, h, i);
    state_clear(e, ri, w);
    w->first_ns = first;
    w->last_ns = last;
    w->start_ns = start;
    w->hold_until = hold;
    w->bhead = bhead;
    w->total = total;
    if (sliding_count)
        memcpy(wbuckets(e, w), buckets, sizeof buckets);
    /* a smaller ring than the checkpoint's keeps the newest ids */
    struct rd ib = {.p = idp, .n = (size_t)nids * 16};
    for (unsigned k = 0; k < nids; k++) {
        uint64_t id = get(&ib, 8);
        int64_t t = (int64_t)get(&ib, 8);
        ids_push(e, w, id, t);
    }
    struct rd sb = {.p = stp, .n = (size_t)nst * rec};
    if (r->type == CORR_VALUE_COUNT) {
        struct vrec *v = wstate(e, w);
        for (unsigned k = 0; k < nst; k++) {
            v[k].h = get(&sb, 8);
            v[k].last = (int64_t)get(&sb, 8);
        }
        w->nvals = (uint16_t)nst;
    } else if (r->type == CORR_TEMPORAL) {
        struct trec *t = wstate(e, w);
        for (unsigned k = 0; k < nst; k++) {
            t[k].last = (int64_t)get(&sb, 8);
            t[k].id = get(&sb, 8);
        }
    } else if (r->type == CORR_TEMPORAL_ORDERED) {
        struct orec *o = wstate(e, w);
        for (unsigned k = 0; k < nst; k++) {
            o[k].start = (int64_t)get(&sb, 8);
            o[k].end = (int64_t)get(&sb, 8);
            o[k].id = get(&sb, 8);
        }
    }
    w->deadline = deadline_of(e, ri, w);
    wheel_link(e, i);
    e->c.windows_open++;
    e->c.restored++;
    return CORR_RESTORE_OK;
bad:
    e->c.restore_bad++;
    return CORR_RESTORE_BAD;
}
