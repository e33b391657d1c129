/* NetFlow v9 / IPFIX template cache.
 *
 * Layout: fixed arrays sized at nf_cache_new (exporters, their domain
 * states, templates, one field pool, the pending ring), with open-addressing
 * hash indexes over exporters and templates (linear probing, backward-shift
 * deletion, so no tombstones build up under churn) and doubly linked LRU
 * lists threaded through the arrays by slot number.  Every hot operation is
 * O(1); the only scans are bounded by a configured limit and happen when an
 * exporter at its template limit learns one more, or when a template
 * arrives while data sets are held.
 *
 * The hash seed is per cache and not predictable from outside, so an
 * exporter choosing template ids cannot aim them at one probe chain.
 */
#include "engine/nf_template_cache.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/bytes.h"

struct pending_entry {
    struct nf_pending_ctx ctx;
    uint32_t exporter;        /* exporter slot */
    uint32_t off, len;        /* bytes in the ring */
    int64_t arrived_ns;
    uint8_t live;             /* 0 once handed back or dropped */
};

struct nf_template_cache {
    struct nf_cache_config cfg;
    struct nf_cache_counters *ctr;
    _Atomic uint64_t generation;
    uint64_t seed;
    uint64_t use_clock;

    struct nf_exporter *exp;
    struct nf_domain *dom_pool;
    uint32_t *exp_hash, exp_mask;
    uint32_t exp_lru_head, exp_lru_tail;   /* head: most recently seen */
    uint32_t exp_free, n_exp;

    struct nf_template *tpl;
    uint64_t *tpl_last_use;
    struct nf_field *field_pool;
    uint32_t *tpl_hash, tpl_mask;
    uint32_t tpl_lru_head, tpl_lru_tail;
    uint32_t tpl_free, n_tpl;
    uint32_t sweep_pos;

    struct pending_entry *pend;
    uint32_t pend_head, pend_n;            /* ring of pending_max_sets entries */
    uint8_t *pbuf;

    struct nf_field *import_fields;        /* max_fields_per_template, for nf_cache_import */
};

/* ---- helpers -------------------------------------------------------------- */

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void bump_generation(struct nf_template_cache *c)
{
    atomic_fetch_add_explicit(&c->generation, 1, memory_order_release);
}

uint64_t nf_cache_generation(const struct nf_template_cache *c)
{
    return atomic_load_explicit(&((struct nf_template_cache *)c)->generation,
                                memory_order_acquire);
}

static uint32_t pow2_at_least(uint64_t n)
{
    uint64_t p = 16;
    while (p < n)
        p <<= 1;
    return (uint32_t)p;
}

/* The exporter key, normalized so IPv4 keys compare on zeroed tails. */
static void norm_ip(struct vigil_ip *out, const struct vigil_ip *in)
{
    memset(out, 0, sizeof *out);
    out->family = in->family;
    memcpy(out->addr, in->addr, in->family == 6 ? 16 : 4);
}

static uint64_t exp_hash_of(const struct nf_template_cache *c, const struct vigil_ip *ip,
                            uint16_t port)
{
    uint64_t a, b;
    memcpy(&a, ip->addr, 8);
    memcpy(&b, ip->addr + 8, 8);
    return mix64(mix64(a ^ c->seed) ^ b ^ ((uint64_t)port << 8 | ip->family));
}

static uint64_t tpl_hash_of(const struct nf_template_cache *c, uint32_t exporter, uint8_t version,
                            uint32_t domain, uint16_t id)
{
    uint64_t a = (uint64_t)exporter << 32 | domain;
    uint64_t b = (uint64_t)id << 8 | version;
    return mix64(mix64(a ^ c->seed) + b);
}

/* ---- intrusive LRU lists (by slot number, NF_NONE terminated) -------------- */

#define LIST_UNLINK(arr, slot, prev, next, head, tail)                                          \
    do {                                                                                        \
        uint32_t p_ = (arr)[slot].prev, n_ = (arr)[slot].next;                                  \
        if (p_ != NF_NONE)                                                                      \
            (arr)[p_].next = n_;                                                                \
        else                                                                                    \
            (head) = n_;                                                                        \
        if (n_ != NF_NONE)                                                                      \
            (arr)[n_].prev = p_;                                                                \
        else                                                                                    \
            (tail) = p_;                                                                        \
        (arr)[slot].prev = (arr)[slot].next = NF_NONE;                                          \
    } while (0)

#define LIST_PUSH_HEAD(arr, slot, prev, next, head, tail)                                       \
    do {                                                                                        \
        (arr)[slot].prev = NF_NONE;                                                             \
        (arr)[slot].next = (head);                                                              \
        if ((head) != NF_NONE)                                                                  \
            (arr)[head].prev = (slot);                                                          \
        else                                                                                    \
            (tail) = (slot);                                                                    \
        (head) = (slot);                                                                        \
    } while (0)

/* ---- construction -------------------------------------------------------- */

struct nf_template_cache *nf_cache_new(const struct nf_cache_config *cfg,
                                       struct nf_cache_counters *counters)
{
    if (!cfg || !counters || cfg->max_exporters == 0 || cfg->max_domains_per_exporter == 0 ||
        cfg->max_templates == 0 || cfg->max_templates_per_exporter == 0 ||
        cfg->max_fields_per_template == 0 || cfg->max_fields_per_template > 65535 ||
        cfg->max_exporters > (1u << 24) || cfg->max_templates > (1u << 24) ||
        cfg->max_domains_per_exporter > 256 || cfg->template_timeout_ns < 0 ||
        cfg->pending_timeout_ns < 0 || (cfg->pending_max_sets > 0 && cfg->pending_max_bytes == 0))
        return NULL;
    struct nf_template_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cfg = *cfg;
    c->ctr = counters;
    memset(counters, 0, sizeof *counters);
    atomic_init(&c->generation, 1);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->seed = mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)c);

    c->exp = calloc(cfg->max_exporters, sizeof *c->exp);
    c->dom_pool = calloc((size_t)cfg->max_exporters * cfg->max_domains_per_exporter,
                         sizeof *c->dom_pool);
    c->exp_mask = pow2_at_least((uint64_t)cfg->max_exporters * 2) - 1;
    c->exp_hash = calloc((size_t)c->exp_mask + 1, sizeof *c->exp_hash);
    c->tpl = calloc(cfg->max_templates, sizeof *c->tpl);
    c->tpl_last_use = calloc(cfg->max_templates, sizeof *c->tpl_last_use);
    c->field_pool = calloc((size_t)cfg->max_templates * cfg->max_fields_per_template,
                           sizeof *c->field_pool);
    c->tpl_mask = pow2_at_least((uint64_t)cfg->max_templates * 2) - 1;
    c->tpl_hash = calloc((size_t)c->tpl_mask + 1, sizeof *c->tpl_hash);
    c->import_fields = calloc(cfg->max_fields_per_template, sizeof *c->import_fields);
    if (cfg->pending_max_sets) {
        c->pend = calloc(cfg->pending_max_sets, sizeof *c->pend);
        c->pbuf = malloc(cfg->pending_max_bytes);
    }
    if (!c->exp || !c->dom_pool || !c->exp_hash || !c->tpl || !c->tpl_last_use ||
        !c->field_pool || !c->tpl_hash || !c->import_fields || (cfg->pending_max_sets && (!c->pend || !c->pbuf))) {
        nf_cache_free(c);
        return NULL;
    }
    c->exp_lru_head = c->exp_lru_tail = NF_NONE;
    c->exp_free = NF_NONE;
    for (uint32_t i = cfg->max_exporters; i-- > 0;) {
        c->exp[i].domains = c->dom_pool + (size_t)i * cfg->max_domains_per_exporter;
        c->exp[i].tpl_head = NF_NONE;
        c->exp[i].lru_prev = NF_NONE;
        c->exp[i].lru_next = c->exp_free;
        c->exp_free = i;
    }
    c->tpl_lru_head = c->tpl_lru_tail = NF_NONE;
    c->tpl_free = NF_NONE;
    for (uint32_t i = cfg->max_templates; i-- > 0;) {
        c->tpl[i].fields = c->field_pool + (size_t)i * cfg->max_fields_per_template;
        c->tpl[i].lru_prev = c->tpl[i].exp_prev = c->tpl[i].exp_next = NF_NONE;
        c->tpl[i].lru_next = c->tpl_free;
        c->tpl_free = i;
    }
    return c;
}

void nf_cache_free(struct nf_template_cache *c)
{
    if (!c)
        return;
    free(c->exp);
    free(c->dom_pool);
    free(c->exp_hash);
    free(c->tpl);
    free(c->tpl_last_use);
    free(c->field_pool);
    free(c->tpl_hash);
    free(c->pend);
    free(c->pbuf);
    free(c->import_fields);
    free(c);
}

const struct nf_cache_config *nf_cache_config_of(const struct nf_template_cache *c)
{
    return &c->cfg;
}

uint32_t nf_cache_template_count(const struct nf_template_cache *c) { return c->n_tpl; }
uint32_t nf_cache_exporter_count(const struct nf_template_cache *c) { return c->n_exp; }
uint32_t nf_cache_pending_count(const struct nf_template_cache *c) { return c->pend_n; }

/* ---- hash index (slot + 1 stored; 0 = empty) ------------------------------- */

static inline uint64_t exp_home(const struct nf_template_cache *c, uint32_t slot)
{
    const struct nf_exporter *e = &c->exp[slot];
    return exp_hash_of(c, &e->st.addr, e->st.port);
}

static inline uint64_t tpl_home(const struct nf_template_cache *c, uint32_t slot)
{
    const struct nf_template *t = &c->tpl[slot];
    return tpl_hash_of(c, t->exporter, t->version, t->domain, t->id);
}

/* Removes the entry at pos and shifts back the entries of its probe chain. */
static void hash_delete(const struct nf_template_cache *c, uint32_t *tab, uint32_t mask,
                        uint32_t pos, int is_tpl)
{
    uint32_t i = pos;
    tab[i] = 0;
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!tab[j])
            return;
        uint32_t k = (uint32_t)((is_tpl ? tpl_home(c, tab[j] - 1) : exp_home(c, tab[j] - 1)) & mask);
        /* Entry at j stays if its home lies cyclically in (i, j]. */
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        tab[i] = tab[j];
        tab[j] = 0;
        i = j;
    }
}

/* ---- exporters and domains ------------------------------------------------ */

static void pending_purge_exporter(struct nf_template_cache *c, uint32_t slot);
static void tpl_remove(struct nf_template_cache *c, uint32_t slot);

static void exporter_evict(struct nf_template_cache *c, uint32_t slot)
{
    struct nf_exporter *e = &c->exp[slot];
    while (e->tpl_head != NF_NONE) {
        tpl_remove(c, e->tpl_head);
        c->ctr->nf_templates_evicted_with_exporter++;
    }
    pending_purge_exporter(c, slot);
    uint64_t h = exp_hash_of(c, &e->st.addr, e->st.port);
    for (uint32_t i = (uint32_t)h & c->exp_mask;; i = (i + 1) & c->exp_mask) {
        if (c->exp_hash[i] == slot + 1) {
            hash_delete(c, c->exp_hash, c->exp_mask, i, 0);
            break;
        }
        if (!c->exp_hash[i])
            break;
    }
    LIST_UNLINK(c->exp, slot, lru_prev, lru_next, c->exp_lru_head, c->exp_lru_tail);
    e->in_use = 0;
    c->n_exp--;
    c->ctr->nf_exporters_evicted++;
    e->lru_next = c->exp_free;
    c->exp_free = slot;
}

struct nf_exporter *nf_cache_exporter(struct nf_template_cache *c, const struct vigil_ip *addr,
                                      uint16_t port, int64_t now_ns)
{
    struct vigil_ip key;
    norm_ip(&key, addr);
    if (c->cfg.ignore_source_port)
        port = 0;
    uint64_t h = exp_hash_of(c, &key, port);
    uint32_t i = (uint32_t)h & c->exp_mask;
    for (; c->exp_hash[i]; i = (i + 1) & c->exp_mask) {
        uint32_t s = c->exp_hash[i] - 1;
        struct nf_exporter *e = &c->exp[s];
        if (e->st.port == port && e->st.addr.family == key.family &&
            memcmp(e->st.addr.addr, key.addr, 16) == 0) {
            e->st.last_seen_ns = now_ns;
            if (c->exp_lru_head != s) {
                LIST_UNLINK(c->exp, s, lru_prev, lru_next, c->exp_lru_head, c->exp_lru_tail);
                LIST_PUSH_HEAD(c->exp, s, lru_prev, lru_next, c->exp_lru_head, c->exp_lru_tail);
            }
            return e;
        }
    }
    if (c->exp_free == NF_NONE) {
        exporter_evict(c, c->exp_lru_tail);
        /* the deletion may have moved entries: probe again for a free spot */
        for (i = (uint32_t)h & c->exp_mask; c->exp_hash[i]; i = (i + 1) & c->exp_mask)
            ;
    }
    uint32_t s = c->exp_free;
    struct nf_exporter *e = &c->exp[s];
    c->exp_free = e->lru_next;
    struct nf_domain *doms = e->domains;
    memset(e, 0, sizeof *e);
    memset(doms, 0, sizeof *doms * c->cfg.max_domains_per_exporter);
    e->domains = doms;
    e->st.addr = key;
    e->st.port = port;
    e->st.first_seen_ns = e->st.last_seen_ns = now_ns;
    e->tpl_head = NF_NONE;
    e->in_use = 1;
    c->exp_hash[i] = s + 1;
    LIST_PUSH_HEAD(c->exp, s, lru_prev, lru_next, c->exp_lru_head, c->exp_lru_tail);
    c->n_exp++;
    c->ctr->nf_exporters_created++;
    return e;
}

uint32_t nf_cache_exporter_slot(const struct nf_template_cache *c, const struct nf_exporter *e)
{
    return (uint32_t)(e - c->exp);
}

struct nf_domain *nf_cache_domain(struct nf_template_cache *c, struct nf_exporter *e,
                                  uint8_t version, uint32_t domain, int64_t now_ns)
{
    struct nf_domain *free_d = NULL, *oldest = NULL;
    for (uint32_t i = 0; i < c->cfg.max_domains_per_exporter; i++) {
        struct nf_domain *d = &e->domains[i];
        if (d->version == version && d->id == domain) {
            d->last_seen_ns = now_ns;
            return d;
        }
        if (!d->version) {
            if (!free_d)
                free_d = d;
        } else if (!oldest || d->last_seen_ns < oldest->last_seen_ns) {
            oldest = d;
        }
    }
    struct nf_domain *d = free_d;
    if (!d) {
        d = oldest;
        c->ctr->nf_domains_evicted++;
    }
    memset(d, 0, sizeof *d);
    d->version = version;
    d->id = domain;
    d->last_seen_ns = now_ns;
    return d;
}

uint32_t nf_cache_exporter_stats(const struct nf_template_cache *c, struct nf_exporter_stats *out,
                                 uint32_t cap)
{
    uint32_t n = 0;
    for (uint32_t s = c->exp_lru_head; s != NF_NONE && n < cap; s = c->exp[s].lru_next)
        out[n++] = c->exp[s].st;
    return n;
}

/* ---- template compilation ------------------------------------------------- */

/* What a field means to Vigil.  Lower prio wins when several fields of a
 * template carry the same meaning (e.g. octetDeltaCount over octetTotalCount);
 * among equals the first in the template wins. */
enum sem {
    SEM_NONE = 0,
    SEM_BYTES, SEM_PACKETS, SEM_REV_BYTES, SEM_REV_PACKETS,
    SEM_PROTO, SEM_TOS, SEM_TCP_FLAGS, SEM_SRC_PORT, SEM_DST_PORT,
    SEM_SRC4, SEM_DST4, SEM_SRC6, SEM_DST6, SEM_SRC_MASK, SEM_DST_MASK,
    SEM_IN_IF, SEM_OUT_IF, SEM_SRC_AS, SEM_DST_AS, SEM_DIRECTION,
    SEM_SAMPLING, SEM_SAMPLER_ID, SEM_START, SEM_END,
    /* options records */
    SEM_O_SAMPLER_ID, SEM_O_INTERVAL, SEM_O_PKT_INTERVAL, SEM_O_PKT_SPACE,
    SEM_O_SIZE, SEM_O_POPULATION, SEM_O_SYSINIT,
    SEM__COUNT
};

struct sem_map {
    uint8_t sem, prio, conv;
};

#define PEN_REVERSE 29305u   /* RFC 5103 reverse information elements */

static struct sem_map map_flow_field(uint32_t pen, uint16_t ie)
{
    struct sem_map m = {SEM_NONE, 0, NF_TIME_NONE};
#define M(s, p) (m.sem = (s), m.prio = (p))
#define T(s, p, cv) (m.sem = (s), m.prio = (p), m.conv = (cv))
    if (pen == PEN_REVERSE) {
        switch (ie) {
        case 1: M(SEM_REV_BYTES, 0); break;
        case 85: M(SEM_REV_BYTES, 1); break;
        case 2: M(SEM_REV_PACKETS, 0); break;
        case 86: M(SEM_REV_PACKETS, 1); break;
        default: break;
        }
        return m;
    }
    if (pen != 0)
        return m;
    switch (ie) {
    case 1: M(SEM_BYTES, 0); break;          /* octetDeltaCount */
    case 85: M(SEM_BYTES, 1); break;         /* octetTotalCount */
    case 231: M(SEM_BYTES, 2); break;        /* initiatorOctets (NSEL) */
    case 2: M(SEM_PACKETS, 0); break;        /* packetDeltaCount */
    case 86: M(SEM_PACKETS, 1); break;       /* packetTotalCount */
    case 298: M(SEM_PACKETS, 2); break;      /* initiatorPackets */
    case 232: M(SEM_REV_BYTES, 2); break;    /* responderOctets */
    case 299: M(SEM_REV_PACKETS, 2); break;  /* responderPackets */
    case 4: M(SEM_PROTO, 0); break;          /* protocolIdentifier */
    case 5: M(SEM_TOS, 0); break;            /* ipClassOfService */
    case 6: M(SEM_TCP_FLAGS, 0); break;      /* tcpControlBits */
    case 7: M(SEM_SRC_PORT, 0); break;       /* sourceTransportPort */
    case 180: M(SEM_SRC_PORT, 1); break;     /* udpSourcePort */
    case 182: M(SEM_SRC_PORT, 2); break;     /* tcpSourcePort */
    case 11: M(SEM_DST_PORT, 0); break;
    case 181: M(SEM_DST_PORT, 1); break;
    case 183: M(SEM_DST_PORT, 2); break;
    case 8: M(SEM_SRC4, 0); break;
    case 12: M(SEM_DST4, 0); break;
    case 27: M(SEM_SRC6, 0); break;
    case 28: M(SEM_DST6, 0); break;
    case 9: M(SEM_SRC_MASK, 0); break;
    case 29: M(SEM_SRC_MASK, 1); break;
    case 13: M(SEM_DST_MASK, 0); break;
    case 30: M(SEM_DST_MASK, 1); break;
    case 10: M(SEM_IN_IF, 0); break;         /* ingressInterface */
    case 252: M(SEM_IN_IF, 1); break;        /* ingressPhysicalInterface */
    case 14: M(SEM_OUT_IF, 0); break;
    case 253: M(SEM_OUT_IF, 1); break;
    case 16: M(SEM_SRC_AS, 0); break;
    case 17: M(SEM_DST_AS, 0); break;
    case 61: M(SEM_DIRECTION, 0); break;     /* flowDirection */
    case 34: M(SEM_SAMPLING, 0); break;      /* samplingInterval */
    case 50: M(SEM_SAMPLING, 1); break;      /* samplerRandomInterval */
    case 48: M(SEM_SAMPLER_ID, 0); break;    /* flowSamplerId */
    case 302: M(SEM_SAMPLER_ID, 1); break;   /* selectorId */
    case 152: T(SEM_START, 0, NF_TIME_MS); break;
    case 154: T(SEM_START, 1, NF_TIME_NTP); break;
    case 156: T(SEM_START, 2, NF_TIME_NTP); break;
    case 150: T(SEM_START, 3, NF_TIME_SEC); break;
    case 158: T(SEM_START, 4, NF_TIME_DELTA_US); break;
    case 22: T(SEM_START, 5, NF_TIME_SYSUPTIME_MS); break;
    case 153: T(SEM_END, 0, NF_TIME_MS); break;
    case 155: T(SEM_END, 1, NF_TIME_NTP); break;
    case 157: T(SEM_END, 2, NF_TIME_NTP); break;
    case 151: T(SEM_END, 3, NF_TIME_SEC); break;
    case 159: T(SEM_END, 4, NF_TIME_DELTA_US); break;
    case 21: T(SEM_END, 5, NF_TIME_SYSUPTIME_MS); break;
    default: break;
    }
    return m;
}

static struct sem_map map_options_field(uint32_t pen, uint16_t ie)
{
    struct sem_map m = {SEM_NONE, 0, NF_TIME_NONE};
    if (pen != 0)
        return m;
    switch (ie) {
    case 48: M(SEM_O_SAMPLER_ID, 0); break;
    case 302: M(SEM_O_SAMPLER_ID, 1); break;
    case 34: M(SEM_O_INTERVAL, 0); break;
    case 50: M(SEM_O_INTERVAL, 1); break;
    case 305: M(SEM_O_PKT_INTERVAL, 0); break;
    case 306: M(SEM_O_PKT_SPACE, 0); break;
    case 309: M(SEM_O_SIZE, 0); break;
    case 310: M(SEM_O_POPULATION, 0); break;
    case 160: M(SEM_O_SYSINIT, 0); break;
    default: break;
    }
#undef M
#undef T
    return m;
}

/* Where a meaning lands: record field (kind, byte offset) or scratch slot. */
static int sem_target(uint8_t sem, uint16_t len, uint8_t *kind, uint16_t *dst, uint32_t *present)
{
    bool int_ok = len >= 1 && len <= 8;
#define REC(k, field, bit)                                   \
    do {                                                     \
        if (!int_ok)                                         \
            return -1;                                       \
        *kind = (k);                                         \
        *dst = (uint16_t)offsetof(struct nf_record, field);  \
        *present = (bit);                                    \
        return 0;                                            \
    } while (0)
#define SCR(slot)                                            \
    do {                                                     \
        if (!int_ok)                                         \
            return -1;                                       \
        *kind = NF_OP_SCRATCH;                               \
        *dst = (slot);                                       \
        *present = 0;                                        \
        return 0;                                            \
    } while (0)
    switch (sem) {
    case SEM_BYTES: REC(NF_OP_W64, bytes, NF_HAS_BYTES);
    case SEM_PACKETS: REC(NF_OP_W64, packets, NF_HAS_PACKETS);
    case SEM_REV_BYTES: REC(NF_OP_W64, rev_bytes, NF_HAS_REVERSE);
    case SEM_REV_PACKETS: REC(NF_OP_W64, rev_packets, NF_HAS_REVERSE);
    case SEM_PROTO: REC(NF_OP_W8, proto, NF_HAS_PROTO);
    case SEM_TOS: REC(NF_OP_W8, tos, NF_HAS_TOS);
    case SEM_TCP_FLAGS: REC(NF_OP_W16, tcp_flags, NF_HAS_TCP_FLAGS);
    case SEM_SRC_PORT: REC(NF_OP_W16, src_port, NF_HAS_SRC_PORT);
    case SEM_DST_PORT: REC(NF_OP_W16, dst_port, NF_HAS_DST_PORT);
    case SEM_SRC_MASK: REC(NF_OP_W8, src_mask, 0);
    case SEM_DST_MASK: REC(NF_OP_W8, dst_mask, 0);
    case SEM_IN_IF: REC(NF_OP_W32, in_if, NF_HAS_IN_IF);
    case SEM_OUT_IF: REC(NF_OP_W32, out_if, NF_HAS_OUT_IF);
    case SEM_SRC_AS: REC(NF_OP_W32, src_as, NF_HAS_SRC_AS);
    case SEM_DST_AS: REC(NF_OP_W32, dst_as, NF_HAS_DST_AS);
    case SEM_DIRECTION: REC(NF_OP_W8, direction, NF_HAS_DIRECTION);
    case SEM_SAMPLING: REC(NF_OP_W32, sampling_interval, NF_HAS_SAMPLING);
    case SEM_SAMPLER_ID: SCR(NF_X_SAMPLER_ID);
    case SEM_START: SCR(NF_X_START_RAW);
    case SEM_END: SCR(NF_X_END_RAW);
    case SEM_SRC4:
    case SEM_DST4:
        if (len != 4)
            return -1;
        *kind = NF_OP_IP4;
        *dst = (uint16_t)(sem == SEM_SRC4 ? offsetof(struct nf_record, src)
                                          : offsetof(struct nf_record, dst));
        *present = sem == SEM_SRC4 ? NF_HAS_SRC_IP : NF_HAS_DST_IP;
        return 0;
    case SEM_SRC6:
    case SEM_DST6:
        if (len != 16)
            return -1;
        *kind = NF_OP_IP6;
        *dst = (uint16_t)(sem == SEM_SRC6 ? offsetof(struct nf_record, src)
                                          : offsetof(struct nf_record, dst));
        *present = sem == SEM_SRC6 ? NF_HAS_SRC_IP : NF_HAS_DST_IP;
        return 0;
    case SEM_O_SAMPLER_ID: SCR(NF_O_SAMPLER_ID);
    case SEM_O_INTERVAL: SCR(NF_O_INTERVAL);
    case SEM_O_PKT_INTERVAL: SCR(NF_O_PKT_INTERVAL);
    case SEM_O_PKT_SPACE: SCR(NF_O_PKT_SPACE);
    case SEM_O_SIZE: SCR(NF_O_SIZE);
    case SEM_O_POPULATION: SCR(NF_O_POPULATION);
    case SEM_O_SYSINIT: SCR(NF_O_SYSINIT_MS);
    default: return -1;
    }
#undef REC
#undef SCR
}

/* The one-load kind for an integer op of this length, when there is one. */
static uint8_t specialize(uint8_t kind, uint16_t len)
{
    switch (kind) {
    case NF_OP_W8: return len == 1 ? NF_OP_1_8 : kind;
    case NF_OP_W16: return len == 1 ? NF_OP_1_16 : len == 2 ? NF_OP_2_16 : kind;
    case NF_OP_W32: return len == 2 ? NF_OP_2_32 : len == 4 ? NF_OP_4_32 : kind;
    case NF_OP_W64: return len == 4 ? NF_OP_4_64 : len == 8 ? NF_OP_8_64 : kind;
    case NF_OP_SCRATCH:
        return len == 1 ? NF_OP_1_X : len == 2 ? NF_OP_2_X : len == 4 ? NF_OP_4_X
             : len == 8 ? NF_OP_8_X : kind;
    default: return kind;
    }
}

/* Builds t's op list from its fields.  Times need a known encoding length:
 * NTP timestamps are exactly 8 bytes. */
static void compile(struct nf_template *t)
{
    struct {
        int32_t field;
        uint8_t prio, conv;
    } best[SEM__COUNT];
    for (int s = 0; s < SEM__COUNT; s++)
        best[s].field = -1;
    uint32_t min_len = 0;
    bool varlen = false;
    for (uint32_t i = 0; i < t->n_fields; i++) {
        const struct nf_field *f = &t->fields[i];
        if (f->len == NF_VARLEN) {
            varlen = true;
            min_len += 1;
            continue;
        }
        min_len += f->len;
        bool scope = i < t->n_scope;
        struct sem_map m;
        if (t->kind == NF_TPL_OPTIONS) {
            /* v9 scope fields use their own type numbers (1 = System ...),
             * which are not information elements. */
            if (scope && t->version == 9)
                continue;
            m = map_options_field(f->pen, f->ie);
        } else {
            m = map_flow_field(f->pen, f->ie);
        }
        if (m.sem == SEM_NONE)
            continue;
        if (m.conv == NF_TIME_NTP && f->len != 8)
            continue;
        uint8_t kind;
        uint16_t dst;
        uint32_t present;
        if (sem_target(m.sem, f->len, &kind, &dst, &present) != 0)
            continue;
        if (best[m.sem].field < 0 || m.prio < best[m.sem].prio) {
            best[m.sem].field = (int32_t)i;
            best[m.sem].prio = m.prio;
            best[m.sem].conv = m.conv;
        }
    }
    t->varlen = varlen;
    t->rec_len = min_len;
    t->n_ops = 0;
    t->present = 0;
    t->opt_have = 0;
    t->start_conv = best[SEM_START].field >= 0 ? best[SEM_START].conv : NF_TIME_NONE;
    t->end_conv = best[SEM_END].field >= 0 ? best[SEM_END].conv : NF_TIME_NONE;
    t->sampler_lookup = t->kind == NF_TPL_DATA && best[SEM_SAMPLER_ID].field >= 0 &&
                        best[SEM_SAMPLING].field < 0;

    /* Emit ops in field order (the variable-length walk relies on it). */
    bool src_seen = false, dst_seen = false;
    uint32_t off = 0;
    for (uint32_t i = 0; i < t->n_fields && t->n_ops < NF_MAX_OPS; i++) {
        const struct nf_field *f = &t->fields[i];
        for (int s = 1; s < SEM__COUNT; s++) {
            if (best[s].field != (int32_t)i)
                continue;
            struct nf_op *op = &t->ops[t->n_ops];
            uint32_t present;
            if (sem_target((uint8_t)s, f->len, &op->kind, &op->dst, &present) != 0)
                continue;
            if (op->kind == NF_OP_IP4 || op->kind == NF_OP_IP6) {
                bool is_src = s == SEM_SRC4 || s == SEM_SRC6;
                bool *seen = is_src ? &src_seen : &dst_seen;
                if (*seen)
                    op->kind = op->kind == NF_OP_IP4 ? NF_OP_IP4_ALT : NF_OP_IP6_ALT;
                *seen = true;
            }
            op->off = (uint16_t)(off > 65535 ? 65535 : off);
            op->field = (uint16_t)i;
            op->len = (uint8_t)f->len;
            if (t->kind == NF_TPL_OPTIONS)
                t->opt_have |= NF_OPT_HAVE(op->dst);
            op->kind = specialize(op->kind, f->len);
            t->present |= present;
            t->n_ops++;
            break;
        }
        if (f->len != NF_VARLEN)
            off += f->len;
    }
}

/* ---- templates ------------------------------------------------------------ */

static void tpl_remove(struct nf_template_cache *c, uint32_t slot)
{
    struct nf_template *t = &c->tpl[slot];
    uint64_t h = tpl_hash_of(c, t->exporter, t->version, t->domain, t->id);
    for (uint32_t i = (uint32_t)h & c->tpl_mask;; i = (i + 1) & c->tpl_mask) {
        if (c->tpl_hash[i] == slot + 1) {
            hash_delete(c, c->tpl_hash, c->tpl_mask, i, 1);
            break;
        }
        if (!c->tpl_hash[i])
            break;
    }
    LIST_UNLINK(c->tpl, slot, lru_prev, lru_next, c->tpl_lru_head, c->tpl_lru_tail);
    struct nf_exporter *e = &c->exp[t->exporter];
    if (t->exp_prev != NF_NONE)
        c->tpl[t->exp_prev].exp_next = t->exp_next;
    else
        e->tpl_head = t->exp_next;
    if (t->exp_next != NF_NONE)
        c->tpl[t->exp_next].exp_prev = t->exp_prev;
    t->exp_prev = t->exp_next = NF_NONE;
    e->st.templates--;
    t->in_use = 0;
    t->lru_next = c->tpl_free;
    c->tpl_free = slot;
    c->n_tpl--;
    bump_generation(c);
}

static uint32_t tpl_lookup(const struct nf_template_cache *c, uint32_t exporter, uint8_t version,
                           uint32_t domain, uint16_t id)
{
    uint64_t h = tpl_hash_of(c, exporter, version, domain, id);
    for (uint32_t i = (uint32_t)h & c->tpl_mask; c->tpl_hash[i]; i = (i + 1) & c->tpl_mask) {
        uint32_t s = c->tpl_hash[i] - 1;
        const struct nf_template *t = &c->tpl[s];
        if (t->id == id && t->domain == domain && t->exporter == exporter && t->version == version)
            return s;
    }
    return NF_NONE;
}

static bool expired(const struct nf_template_cache *c, const struct nf_template *t, int64_t now)
{
    return c->cfg.template_timeout_ns > 0 && now - t->refreshed_ns > c->cfg.template_timeout_ns;
}

const struct nf_template *nf_cache_find(struct nf_template_cache *c, struct nf_exporter *e,
                                        uint8_t version, uint32_t domain, uint16_t id,
                                        int64_t now_ns)
{
    uint32_t s = tpl_lookup(c, (uint32_t)(e - c->exp), version, domain, id);
    if (s == NF_NONE)
        return NULL;
    struct nf_template *t = &c->tpl[s];
    if (expired(c, t, now_ns)) {
        tpl_remove(c, s);
        c->ctr->nf_templates_expired++;
        return NULL;
    }
    c->tpl_last_use[s] = ++c->use_clock;
    if (c->tpl_lru_head != s) {
        LIST_UNLINK(c->tpl, s, lru_prev, lru_next, c->tpl_lru_head, c->tpl_lru_tail);
        LIST_PUSH_HEAD(c->tpl, s, lru_prev, lru_next, c->tpl_lru_head, c->tpl_lru_tail);
    }
    return t;
}

static bool same_definition(const struct nf_template *t, uint8_t kind, uint16_t n_scope,
                            const struct nf_field *fields, uint32_t n_fields)
{
    if (t->kind != kind || t->n_scope != n_scope || t->n_fields != n_fields)
        return false;
    for (uint32_t i = 0; i < n_fields; i++)
        if (t->fields[i].ie != fields[i].ie || t->fields[i].len != fields[i].len ||
            t->fields[i].pen != fields[i].pen)
            return false;
    return true;
}

static void define(struct nf_template *t, uint8_t kind, uint16_t n_scope,
                   const struct nf_field *fields, uint32_t n_fields)
{
    t->kind = kind;
    t->n_scope = n_scope;
    t->n_fields = (uint16_t)n_fields;
    memcpy(t->fields, fields, n_fields * sizeof *fields);
    compile(t);
}

enum nf_learn_result nf_cache_learn(struct nf_template_cache *c, struct nf_exporter *e,
                                    uint8_t version, uint32_t domain, uint16_t id, uint8_t kind,
                                    uint16_t n_scope, const struct nf_field *fields,
                                    uint32_t n_fields, int64_t now_ns,
                                    const struct nf_template **out)
{
    *out = NULL;
    if (n_fields > c->cfg.max_fields_per_template) {
        c->ctr->nf_templates_refused_too_many_fields++;
        return NF_LEARN_REFUSED_FIELDS;
    }
    /* A record must hold at least one byte (or the data set walk could not
     * advance) and fit in one set. */
    uint64_t min_len = 0;
    for (uint32_t i = 0; i < n_fields; i++)
        min_len += fields[i].len == NF_VARLEN ? 1 : fields[i].len;
    if (min_len == 0 || min_len > 65535 - 4 || n_scope > n_fields) {
        c->ctr->nf_templates_refused_record_length++;
        return NF_LEARN_REFUSED_LENGTH;
    }
    uint32_t ex = (uint32_t)(e - c->exp);
    uint32_t s = tpl_lookup(c, ex, version, domain, id);
    if (s != NF_NONE) {
        struct nf_template *t = &c->tpl[s];
        t->refreshed_ns = now_ns;
        *out = t;
        if (same_definition(t, kind, n_scope, fields, n_fields)) {
            c->ctr->nf_templates_refreshed++;
            return NF_LEARN_REFRESHED;
        }
        define(t, kind, n_scope, fields, n_fields);
        c->ctr->nf_templates_redefined++;
        bump_generation(c);
        return NF_LEARN_REDEFINED;
    }
    if (e->st.templates >= c->cfg.max_templates_per_exporter) {
        /* the exporter's least recently used template makes room */
        uint32_t victim = NF_NONE;
        for (uint32_t v = e->tpl_head; v != NF_NONE; v = c->tpl[v].exp_next)
            if (victim == NF_NONE || c->tpl_last_use[v] < c->tpl_last_use[victim])
                victim = v;
        tpl_remove(c, victim);
        c->ctr->nf_templates_evicted_exporter_limit++;
    } else if (c->tpl_free == NF_NONE) {
        tpl_remove(c, c->tpl_lru_tail);
        c->ctr->nf_templates_evicted_total_limit++;
    }
    s = c->tpl_free;
    struct nf_template *t = &c->tpl[s];
    c->tpl_free = t->lru_next;
    struct nf_field *pool = t->fields;
    memset(t, 0, sizeof *t);
    t->fields = pool;
    t->exporter = ex;
    t->domain = domain;
    t->id = id;
    t->version = version;
    t->in_use = 1;
    t->refreshed_ns = now_ns;
    define(t, kind, n_scope, fields, n_fields);
    c->tpl_last_use[s] = ++c->use_clock;
    uint64_t h = tpl_hash_of(c, ex, version, domain, id);
    uint32_t i = (uint32_t)h & c->tpl_mask;
    while (c->tpl_hash[i])
        i = (i + 1) & c->tpl_mask;
    c->tpl_hash[i] = s + 1;
    LIST_PUSH_HEAD(c->tpl, s, lru_prev, lru_next, c->tpl_lru_head, c->tpl_lru_tail);
    t->exp_prev = NF_NONE;
    t->exp_next = e->tpl_head;
    if (e->tpl_head != NF_NONE)
        c->tpl[e->tpl_head].exp_prev = s;
    e->tpl_head = s;
    e->st.templates++;
    c->n_tpl++;
    c->ctr->nf_templates_learned++;
    bump_generation(c);
    *out = t;
    return NF_LEARN_NEW;
}

int nf_cache_withdraw(struct nf_template_cache *c, struct nf_exporter *e, uint8_t version,
                      uint32_t domain, uint16_t id)
{
    uint32_t s = tpl_lookup(c, (uint32_t)(e - c->exp), version, domain, id);
    if (s == NF_NONE) {
        c->ctr->nf_templates_withdraw_unknown++;
        return 0;
    }
    tpl_remove(c, s);
    c->ctr->nf_templates_withdrawn++;
    return 1;
}

uint32_t nf_cache_withdraw_all(struct nf_template_cache *c, struct nf_exporter *e,
                               uint8_t version, uint32_t domain, uint8_t kind)
{
    uint32_t n = 0;
    uint32_t s = e->tpl_head;
    while (s != NF_NONE) {
        uint32_t next = c->tpl[s].exp_next;
        const struct nf_template *t = &c->tpl[s];
        if (t->version == version && t->domain == domain && t->kind == kind) {
            tpl_remove(c, s);
            c->ctr->nf_templates_withdrawn++;
            n++;
        }
        s = next;
    }
    return n;
}

/* ---- pending data sets ---------------------------------------------------- */

static inline struct pending_entry *pend_at(struct nf_template_cache *c, uint32_t k)
{
    return &c->pend[(c->pend_head + k) % c->cfg.pending_max_sets];
}

/* Pops released entries off the head, and (when drop_one) the oldest live
 * one, counted as an overflow. */
static void pend_pop_dead(struct nf_template_cache *c)
{
    while (c->pend_n && !pend_at(c, 0)->live) {
        c->pend_head = (c->pend_head + 1) % c->cfg.pending_max_sets;
        c->pend_n--;
    }
}

static void pend_drop_oldest(struct nf_template_cache *c)
{
    struct pending_entry *p = pend_at(c, 0);
    if (p->live) {
        p->live = 0;
        c->ctr->nf_pending_dropped_overflow++;
    }
    c->pend_head = (c->pend_head + 1) % c->cfg.pending_max_sets;
    c->pend_n--;
    pend_pop_dead(c);
}

static void pend_expire(struct nf_template_cache *c, int64_t now)
{
    pend_pop_dead(c);
    while (c->pend_n) {
        struct pending_entry *p = pend_at(c, 0);
        if (now - p->arrived_ns <= c->cfg.pending_timeout_ns)
            break;
        p->live = 0;
        c->ctr->nf_pending_dropped_expired++;
        pend_pop_dead(c);
    }
}

/* Byte offset for len bytes in the ring after the newest entry, or -1.
 * Entries' bytes are in FIFO order around the ring, like the entries. */
static int64_t pend_place(const struct nf_template_cache *c, uint32_t len)
{
    uint32_t cap = c->cfg.pending_max_bytes;
    if (c->pend_n == 0)
        return len <= cap ? 0 : -1;
    const struct pending_entry *old = &c->pend[c->pend_head];
    const struct pending_entry *neu =
        &c->pend[(c->pend_head + c->pend_n - 1) % c->cfg.pending_max_sets];
    uint32_t head = old->off, tail = neu->off + neu->len;
    if (neu->off >= old->off) {          /* bytes in [head, tail) */
        if (cap - tail >= len)
            return tail;
        if (head >= len)
            return 0;
        return -1;
    }
    /* wrapped: bytes in [head, cap) and [0, tail) */
    return head - tail >= len ? (int64_t)tail : -1;
}

int nf_cache_pending_add(struct nf_template_cache *c, const struct nf_exporter *e,
                         const struct nf_pending_ctx *ctx, const uint8_t *records, uint32_t len,
                         int64_t now_ns)
{
    if (!c->cfg.pending_max_sets)
        return 0;
    if (len > c->cfg.pending_max_bytes || len == 0) {
        c->ctr->nf_pending_dropped_too_big++;
        return 0;
    }
    pend_expire(c, now_ns);
    if (c->pend_n == c->cfg.pending_max_sets)
        pend_drop_oldest(c);
    int64_t off;
    while ((off = pend_place(c, len)) < 0)
        pend_drop_oldest(c);   /* terminates: an empty ring takes any len <= cap */
    struct pending_entry *p = pend_at(c, c->pend_n);
    p->ctx = *ctx;
    p->exporter = (uint32_t)(e - c->exp);
    p->off = (uint32_t)off;
    p->len = len;
    p->arrived_ns = now_ns;
    p->live = 1;
    memcpy(c->pbuf + off, records, len);
    c->pend_n++;
    c->ctr->nf_pending_sets_held++;
    return 1;
}

uint32_t nf_cache_pending_drain(struct nf_template_cache *c, const struct nf_template *t,
                                int64_t now_ns, nf_pending_fn fn, void *arg)
{
    if (!c->pend_n)
        return 0;
    pend_expire(c, now_ns);
    uint32_t n = 0;
    for (uint32_t k = 0; k < c->pend_n; k++) {
        struct pending_entry *p = pend_at(c, k);
        if (!p->live || p->exporter != t->exporter || p->ctx.set_id != t->id ||
            p->ctx.domain != t->domain || p->ctx.version != t->version)
            continue;
        p->live = 0;    /* released before fn runs: fn may not add entries */
        fn(arg, &p->ctx, c->pbuf + p->off, p->len);
        c->ctr->nf_pending_sets_decoded++;
        n++;
    }
    pend_pop_dead(c);
    return n;
}

static void pending_purge_exporter(struct nf_template_cache *c, uint32_t slot)
{
    for (uint32_t k = 0; k < c->pend_n; k++) {
        struct pending_entry *p = pend_at(c, k);
        if (p->live && p->exporter == slot) {
            p->live = 0;
            c->ctr->nf_pending_dropped_exporter_gone++;
        }
    }
    pend_pop_dead(c);
}

void nf_cache_sweep(struct nf_template_cache *c, int64_t now_ns, uint32_t max_templates)
{
    if (c->cfg.pending_max_sets)
        pend_expire(c, now_ns);
    if (c->cfg.template_timeout_ns <= 0)
        return;
    if (max_templates > c->cfg.max_templates)
        max_templates = c->cfg.max_templates;
    for (uint32_t k = 0; k < max_templates; k++) {
        uint32_t s = c->sweep_pos;
        c->sweep_pos = (c->sweep_pos + 1) % c->cfg.max_templates;
        if (c->tpl[s].in_use && expired(c, &c->tpl[s], now_ns)) {
            tpl_remove(c, s);
            c->ctr->nf_templates_expired++;
        }
    }
}

/* ---- export / import -------------------------------------------------------
 *
 * Blob (all integers big-endian, no padding, no pointers):
 *   "VNFT" u16 format=1 u16 reserved=0 u32 count
 *   count x { u8 family, u8 addr[16], u16 port, u8 version, u8 kind, u32 domain,
 *             u16 template id, u16 n_scope, u16 n_fields,
 *             n_fields x { u16 ie, u16 len, u32 pen } }
 */

#define BLOB_MAGIC "VNFT"
#define BLOB_FORMAT 1
#define BLOB_HDR 12
#define BLOB_TPL_HDR 31
#define BLOB_FIELD 8

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}


size_t nf_cache_export(const struct nf_template_cache *c, uint8_t *buf, size_t cap, uint64_t *gen)
{
    if (gen)
        *gen = nf_cache_generation(c);
    size_t need = BLOB_HDR;
    uint32_t count = 0;
    for (uint32_t s = 0; s < c->cfg.max_templates; s++) {
        if (!c->tpl[s].in_use)
            continue;
        need += BLOB_TPL_HDR + (size_t)c->tpl[s].n_fields * BLOB_FIELD;
        count++;
    }
    if (need > cap || !buf)
        return need;
    uint8_t *p = buf;
    memcpy(p, BLOB_MAGIC, 4);
    p = put16(p + 4, BLOB_FORMAT);
    p = put16(p, 0);
    p = put32(p, count);
    for (uint32_t s = 0; s < c->cfg.max_templates; s++) {
        const struct nf_template *t = &c->tpl[s];
        if (!t->in_use)
            continue;
        const struct nf_exporter *e = &c->exp[t->exporter];
        *p++ = e->st.addr.family;
        memcpy(p, e->st.addr.addr, 16);
        p += 16;
        p = put16(p, e->st.port);
        *p++ = t->version;
        *p++ = t->kind;
        p = put32(p, t->domain);
        p = put16(p, t->id);
        p = put16(p, t->n_scope);
        p = put16(p, t->n_fields);
        for (uint32_t i = 0; i < t->n_fields; i++) {
            p = put16(p, t->fields[i].ie);
            p = put16(p, t->fields[i].len);
            p = put32(p, t->fields[i].pen);
        }
    }
    return need;
}

/* Walks a blob; with c == NULL only validates it. */
static int import_walk(struct nf_template_cache *c, const uint8_t *blob, size_t len,
                       int64_t now_ns, nf_import_filter filter, void *arg)
{
    if (len < BLOB_HDR || memcmp(blob, BLOB_MAGIC, 4) != 0 || load_be16(blob + 4) != BLOB_FORMAT)
        return -1;
    uint32_t count = load_be32(blob + 8);
    size_t off = BLOB_HDR;
    int imported = 0;
    for (uint32_t k = 0; k < count; k++) {
        if (len - off < BLOB_TPL_HDR)
            return -1;
        const uint8_t *h = blob + off;
        uint16_t n_fields = load_be16(h + 29), n_scope = load_be16(h + 27);
        uint8_t version = h[19], kind = h[20];
        size_t body = (size_t)n_fields * BLOB_FIELD;
        if (len - off - BLOB_TPL_HDR < body)
            return -1;
        if ((h[0] != 4 && h[0] != 6) || (version != 9 && version != 10) || kind > NF_TPL_OPTIONS ||
            n_fields == 0 || n_scope > n_fields || load_be16(h + 25) < 256)
            return -1;
        const uint8_t *fp = h + BLOB_TPL_HDR;
        off += BLOB_TPL_HDR + body;
        if (!c)
            continue;
        struct vigil_ip addr = {.family = h[0]};
        memcpy(addr.addr, h + 1, 16);
        uint16_t port = load_be16(h + 17);
        if ((filter && !filter(arg, &addr, port)) || n_fields > c->cfg.max_fields_per_template) {
            c->ctr->nf_templates_import_skipped++;
            continue;
        }
        struct nf_field *dst = c->import_fields;
        for (uint32_t i = 0; i < n_fields; i++) {
            dst[i].ie = load_be16(fp + i * BLOB_FIELD);
            dst[i].len = load_be16(fp + i * BLOB_FIELD + 2);
            dst[i].pen = load_be32(fp + i * BLOB_FIELD + 4);
        }
        struct nf_exporter *e = nf_cache_exporter(c, &addr, port, now_ns);
        const struct nf_template *t;
        enum nf_learn_result r = nf_cache_learn(c, e, version, load_be32(h + 21), load_be16(h + 25), kind,
                                                n_scope, dst, n_fields, now_ns, &t);
        if (r <= NF_LEARN_REDEFINED) {
            imported++;
            c->ctr->nf_templates_imported++;
        } else {
            c->ctr->nf_templates_import_skipped++;
        }
    }
    return off == len ? imported : -1;
}

int nf_cache_import(struct nf_template_cache *c, const uint8_t *blob, size_t len, int64_t now_ns,
                    nf_import_filter filter, void *arg)
{
    if (!blob || import_walk(NULL, blob, len, now_ns, NULL, NULL) < 0)
        return -1;
    int n = import_walk(c, blob, len, now_ns, filter, arg);
    bump_generation(c);
    return n;
}
