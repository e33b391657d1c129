#include "dataplane/senders.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

#include "engine/tz.h"

/* One LPM table per address family answers both questions with one lookup.
 * Every prefix of allowed_senders and syslog.sources is inserted once; its next
 * hop is computed for the prefix's whole range:
 *     bit 0      allowed (the longest allowed_senders prefix covering it exists)
 *     bits 1..   1 + index of the longest syslog.sources prefix covering it, or 0
 * This is exact because an address matches its longest inserted prefix P, and
 * any longer prefix of either list inside P is itself inserted and would have
 * matched instead.  An rte_lpm costs 64 MiB (its 2^24-entry first level), so a
 * family without prefixes gets no table at all. */
struct senders {
    bool allow_any;
    struct rte_lpm *lpm4;
    struct rte_lpm6 *lpm6;
    struct tz_zone **zones;          /* distinct zones */
    unsigned n_zones;
    unsigned *zone_of_source;        /* syslog.sources[i] -> zones[] index */
};

#define NH_ALLOWED 1u

static unsigned instance_seq;

/* Does a cover b (a's prefix is no longer than b's and they agree on it)? */
static bool covers(const struct cfg_cidr *a, const struct cfg_cidr *b)
{
    if (a->ip.family != b->ip.family || a->prefix > b->prefix)
        return false;
    unsigned full = a->prefix / 8, rem = a->prefix % 8;
    if (memcmp(a->ip.addr, b->ip.addr, full))
        return false;
    if (rem) {
        uint8_t mask = (uint8_t)(0xFF << (8 - rem));
        return (a->ip.addr[full] & mask) == (b->ip.addr[full] & mask);
    }
    return true;
}

static uint32_t next_hop_for(const struct vigil_config *cfg, const struct cfg_cidr *p)
{
    uint32_t nh = 0;
    for (unsigned i = 0; i < cfg->n_allowed; i++)
        if (covers(&cfg->allowed[i], p)) {
            nh |= NH_ALLOWED;
            break;
        }
    int best = -1;
    for (unsigned i = 0; i < cfg->n_sources; i++)
        if (covers(&cfg->sources[i].cidr, p) &&
            (best < 0 || cfg->sources[i].cidr.prefix > cfg->sources[best].cidr.prefix))
            best = (int)i;
    return nh | (uint32_t)(best + 1) << 1;
}

static int add_prefix(struct senders *s, const struct cfg_cidr *c, uint32_t nh)
{
    if (c->ip.family == 4) {
        uint32_t a = ((uint32_t)c->ip.addr[0] << 24) | ((uint32_t)c->ip.addr[1] << 16) |
                     ((uint32_t)c->ip.addr[2] << 8) | c->ip.addr[3];
        /* rte_lpm takes depths 1..32: a /0 is two /1s. */
        if (c->prefix == 0)
            return rte_lpm_add(s->lpm4, 0, 1, nh) || rte_lpm_add(s->lpm4, 0x80000000u, 1, nh);
        return rte_lpm_add(s->lpm4, a, c->prefix, nh);
    }
    if (c->prefix == 0) {
        uint8_t lo[16] = {0}, hi[16] = {0x80};
        return rte_lpm6_add(s->lpm6, lo, 1, nh) || rte_lpm6_add(s->lpm6, hi, 1, nh);
    }
    return rte_lpm6_add(s->lpm6, c->ip.addr, c->prefix, nh);
}

static unsigned count_family(const struct vigil_config *cfg, uint8_t family)
{
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->n_allowed; i++)
        n += cfg->allowed[i].ip.family == family;
    for (unsigned i = 0; i < cfg->n_sources; i++)
        n += cfg->sources[i].cidr.ip.family == family;
    return n;
}

struct senders *senders_create(const struct vigil_config *cfg, int socket_id, char *err, size_t errlen)
{
    struct senders *s = calloc(1, sizeof *s);
    if (!s || !(s->zones = calloc(cfg->n_sources + 1, sizeof *s->zones)) ||
        !(s->zone_of_source = calloc(cfg->n_sources + 1, sizeof *s->zone_of_source))) {
        snprintf(err, errlen, "out of memory");
        senders_destroy(s);
        return NULL;
    }
    s->allow_any = cfg->allow_any_sender;
    unsigned seq = __atomic_fetch_add(&instance_seq, 1, __ATOMIC_RELAXED);
    unsigned n4 = count_family(cfg, 4), n6 = count_family(cfg, 6);
    char name[RTE_LPM_NAMESIZE];
    if (n4) {
        snprintf(name, sizeof name, "senders4_%u", seq);
        /* Each prefix longer than /24 may need a tbl8 group of its own. */
        struct rte_lpm_config c = {.max_rules = 2 * n4, .number_tbl8s = n4 + 256};
        s->lpm4 = rte_lpm_create(name, socket_id, &c);
    }
    if (n6) {
        snprintf(name, sizeof name, "senders6_%u", seq);
        struct rte_lpm6_config c = {.max_rules = 2 * n6, .number_tbl8s = 1024 + 16 * n6};
        s->lpm6 = rte_lpm6_create(name, socket_id, &c);
    }
    if ((n4 && !s->lpm4) || (n6 && !s->lpm6)) {
        snprintf(err, errlen, "cannot create sender tables (%u IPv4, %u IPv6 prefixes): %s; an LPM table "
                 "needs about 64 MiB: raise -m in eal.args", n4, n6, rte_strerror(rte_errno));
        senders_destroy(s);
        return NULL;
    }
    /* One zone object per distinct name: an IANA zone takes milliseconds to load. */
    for (unsigned i = 0; i < cfg->n_sources; i++) {
        unsigned j;
        for (j = 0; j < s->n_zones; j++)
            if (!strcmp(tz_zone_name(s->zones[j]), cfg->sources[i].timezone))
                break;
        s->zone_of_source[i] = j;
        if (j < s->n_zones)
            continue;
        char why[160];
        if (tz_zone_load(cfg->sources[i].timezone, &s->zones[j], why, sizeof why)) {
            snprintf(err, errlen, "syslog.sources[%u].timezone: %s", i, why);
            senders_destroy(s);
            return NULL;
        }
        s->n_zones = j + 1;
    }
    for (unsigned i = 0; i < cfg->n_allowed + cfg->n_sources; i++) {
        const struct cfg_cidr *p = i < cfg->n_allowed ? &cfg->allowed[i] : &cfg->sources[i - cfg->n_allowed].cidr;
        if (add_prefix(s, p, next_hop_for(cfg, p))) {
            snprintf(err, errlen, "%s[%u]: cannot add the prefix to the table",
                     i < cfg->n_allowed ? "syslog.allowed_senders" : "syslog.sources",
                     i < cfg->n_allowed ? i : i - cfg->n_allowed);
            senders_destroy(s);
            return NULL;
        }
    }
    return s;
}

void senders_destroy(struct senders *s)
{
    if (!s)
        return;
    rte_lpm_free(s->lpm4);
    rte_lpm6_free(s->lpm6);
    for (unsigned i = 0; i < s->n_zones; i++)
        tz_zone_free(s->zones[i]);
    free(s->zones);
    free(s->zone_of_source);
    free(s);
}

/* Next hop for ip, 0 when no prefix matches. */
static uint32_t lookup(const struct senders *s, const struct vigil_ip *ip)
{
    uint32_t nh;
    if (ip->family == 4 && s->lpm4) {
        uint32_t a = ((uint32_t)ip->addr[0] << 24) | ((uint32_t)ip->addr[1] << 16) |
                     ((uint32_t)ip->addr[2] << 8) | ip->addr[3];
        return rte_lpm_lookup(s->lpm4, a, &nh) == 0 ? nh : 0;
    }
    if (ip->family == 6 && s->lpm6)
        return rte_lpm6_lookup(s->lpm6, ip->addr, &nh) == 0 ? nh : 0;
    return 0;
}

bool senders_allowed(const struct senders *s, const struct vigil_ip *ip)
{
    return s->allow_any || (lookup(s, ip) & NH_ALLOWED);
}

const struct tz_zone *senders_zone(const struct senders *s, const struct vigil_ip *ip)
{
    if (s->n_zones == 0)
        return NULL;
    uint32_t src = lookup(s, ip) >> 1;   /* 1 + syslog.sources index */
    return src ? s->zones[s->zone_of_source[src - 1]] : NULL;
}

bool senders_lookup(const struct senders *s, const struct vigil_ip *ip, const struct tz_zone **zone)
{
    uint32_t nh = s->n_zones || !s->allow_any ? lookup(s, ip) : 0;
    uint32_t src = nh >> 1;
    *zone = src && s->n_zones ? s->zones[s->zone_of_source[src - 1]] : NULL;
    return s->allow_any || (nh & NH_ALLOWED);
}
