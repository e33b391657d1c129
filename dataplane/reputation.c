#include "dataplane/reputation.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include "dataplane/config.h"

/* How the tables answer "which lists contain this address" with one lookup.
 *
 * Every prefix of every list is inserted once, with next hop = the OR of the
 * list bits of every prefix covering it (itself included).  A lookup returns
 * the next hop of the longest inserted prefix P containing the address, and the
 * prefixes containing the address are exactly P and the prefixes covering P
 * (all prefixes containing one address are nested), so the answer is exact.
 *
 * The OR is computed while building: prefixes are sorted shortest first (and
 * identical ones merged), and each one's mask is ORed with a lookup of its
 * network address in the table built so far.  At that moment the table holds
 * only prefixes no longer than this one, so the lookup finds the longest prefix
 * covering it, whose next hop already holds the lists of every shorter cover.
 * Inserting shortest first also means a covering prefix never arrives after a
 * more specific one, and an IPv4 prefix of /24 or shorter never needs a tbl8
 * group, which is what makes the IPv4 tbl8 count below exact. */

/* rte_fib (DIR-24-8, 4-byte entries) and rte_fib6 (trie, 4-byte entries) keep
 * 31 bits of next hop. */
_Static_assert(REPUTATION_MAX_LISTS <= 31, "list bits must fit the 31-bit next hop");

/* A line is read up to this many bytes; the rest of a longer line can only be
 * ignored trailing text, since an entry is at most about 50 characters. */
#define LINE_KEEP 512
/* Longest entry text: an IPv6 address with a zone-less prefix ("/128") fits. */
#define TOKEN_MAX (INET6_ADDRSTRLEN + 8)
/* Slack of tbl8 groups over the computed need: rte_fib6 may hold one more
 * group while it writes a prefix, and both round the count to 64 anyway. */
#define TBL8_SLACK 64

struct pfx4 {
    uint32_t net;                 /* host order, host bits clear */
    uint32_t mask;                /* list bits */
    uint8_t depth;
};

struct pfx6 {
    uint8_t net[16];
    uint32_t mask;
    uint8_t depth;
};

struct parsed {
    struct pfx4 *p4;
    size_t n4, cap4;
    struct pfx6 *p6;
    size_t n6, cap6;
};

static unsigned generation_seq;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Copies s[0..len) into out for an error message: at most 48 characters,
 * non-printable bytes as '?', "..." when cut, so a binary file cannot flood or
 * corrupt a log line. */
static const char *shown(const char *s, size_t len, char out[56])
{
    size_t n = len < 48 ? len : 48, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (n < len) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
    return out;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static const char *name_problem(const char *name)
{
    size_t len = strnlen(name, REPUTATION_NAME_MAX);
    if (len == 0)
        return "is empty";
    if (len == REPUTATION_NAME_MAX)
        return "is longer than 63 characters";
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return "may only contain a-z, 0-9, '_' and '-'";
    }
    return NULL;
}

int reputation_lists_validate(const struct reputation_list_config *lists, unsigned n,
                              char *err, size_t errlen)
{
    char s[56];
    if (n > REPUTATION_MAX_LISTS) {
        snprintf(err, errlen, "%u reputation lists: at most %d", n, REPUTATION_MAX_LISTS);
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        const char *why = name_problem(lists[i].name);
        if (why) {
            snprintf(err, errlen, "reputation list %u: name '%s' %s", i,
                     shown(lists[i].name, strnlen(lists[i].name, REPUTATION_NAME_MAX), s), why);
            return -1;
        }
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(lists[i].name, lists[j].name)) {
                snprintf(err, errlen, "reputation list %u: name '%s' is also list %u's", i, lists[i].name, j);
                return -1;
            }
        size_t plen = strnlen(lists[i].path, PATH_MAX);
        if (plen == 0 || plen == PATH_MAX) {
            snprintf(err, errlen, "reputation list '%s': %s", lists[i].name,
                     plen ? "path is not NUL-terminated" : "no path");
            return -1;
        }
    }
    return 0;
}

static int push4(struct parsed *ps, uint32_t net, uint8_t depth, uint32_t mask)
{
    if (ps->n4 == ps->cap4) {
        size_t cap = ps->cap4 ? 2 * ps->cap4 : 4096;
        struct pfx4 *p = realloc(ps->p4, cap * sizeof *p);
        if (!p)
            return -1;
        ps->p4 = p;
        ps->cap4 = cap;
    }
    ps->p4[ps->n4++] = (struct pfx4){.net = net, .mask = mask, .depth = depth};
    return 0;
}

static int push6(struct parsed *ps, const uint8_t net[16], uint8_t depth, uint32_t mask)
{
    if (ps->n6 == ps->cap6) {
        size_t cap = ps->cap6 ? 2 * ps->cap6 : 1024;
        struct pfx6 *p = realloc(ps->p6, cap * sizeof *p);
        if (!p)
            return -1;
        ps->p6 = p;
        ps->cap6 = cap;
    }
    struct pfx6 *e = &ps->p6[ps->n6++];
    memcpy(e->net, net, 16);
    e->mask = mask;
    e->depth = depth;
    return 0;
}

/* Adds one parsed CIDR.  Both tables take depths from 1, so a /0 becomes its
 * two /1 halves (sorting then merges them with any real /1). */
static int add_cidr(struct parsed *ps, const struct cfg_cidr *c, uint32_t mask)
{
    if (c->ip.family == 4) {
        uint32_t a = ((uint32_t)c->ip.addr[0] << 24) | ((uint32_t)c->ip.addr[1] << 16) |
                     ((uint32_t)c->ip.addr[2] << 8) | c->ip.addr[3];
        if (c->prefix == 0)
            return push4(ps, 0, 1, mask) || push4(ps, 0x80000000u, 1, mask);
        return push4(ps, a, c->prefix, mask);
    }
    if (c->prefix == 0) {
        uint8_t lo[16] = {0}, hi[16] = {0x80};
        return push6(ps, lo, 1, mask) || push6(ps, hi, 1, mask);
    }
    return push6(ps, c->ip.addr, c->prefix, mask);
}

/* Why tok (not parsed by config_parse_cidr) is wrong, for the message. */
static const char *token_problem(const char *tok)
{
    char addr[TOKEN_MAX + 1];
    const char *slash = strchr(tok, '/');
    if (!slash)
        return "is not an IPv4/IPv6 address or CIDR";
    size_t n = (size_t)(slash - tok);
    memcpy(addr, tok, n);
    addr[n] = '\0';
    uint8_t buf[16];
    if (inet_pton(AF_INET, addr, buf) == 1)
        return "has a bad prefix length (IPv4 takes /0../32)";
    if (inet_pton(AF_INET6, addr, buf) == 1)
        return "has a bad prefix length (IPv6 takes /0../128)";
    return "is not an IPv4/IPv6 address or CIDR";
}

/* Reads one list file into ps with list bit `bit`.  Format: one entry per
 * line; '#' starts a comment anywhere; blank lines and surrounding whitespace
 * are ignored; the first whitespace-separated field is the entry and the rest
 * of the line is ignored (so "192.0.2.0/24 ; SBL123" style feeds load). */
static int parse_list(const struct reputation_list_config *l, uint32_t bit, struct parsed *ps,
                      struct reputation_list_stats *st, char *err, size_t errlen)
{
    FILE *f = fopen(l->path, "r");
    if (!f) {
        snprintf(err, errlen, "reputation list '%s': %s: %s", l->name, l->path, strerror(errno));
        return -1;
    }
    char line[LINE_KEEP], s[56];
    unsigned long lineno = 0;
    int c = 0, rc = 0;
    while (c != EOF && rc == 0) {
        size_t len = 0;
        bool cut = false, comment = false;
        lineno++;
        while ((c = getc_unlocked(f)) != EOF && c != '\n') {
            if (c == '#')
                comment = true;
            if (comment)
                continue;
            if (len < sizeof line)
                line[len++] = (char)c;
            else
                cut = true;
        }
        size_t i = 0;
        /* A UTF-8 byte order mark, as some editors write, is not an error. */
        if (lineno == 1 && len >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
            i = 3;
        while (i < len && is_space(line[i]))
            i++;
        if (i == len)
            continue;                       /* blank or comment only */
        size_t start = i;
        while (i < len && !is_space(line[i]))
            i++;
        size_t tlen = i - start;
        const char *tok = line + start;
        char tokz[TOKEN_MAX + 1];
        struct cfg_cidr cidr;
        const char *why = NULL;
        if ((i == len && cut) || tlen > TOKEN_MAX)
            why = "is too long for an address or CIDR";
        else if (memchr(tok, '\0', tlen))
            why = "contains a NUL byte";
        else {
            memcpy(tokz, tok, tlen);
            tokz[tlen] = '\0';
            if (config_parse_cidr(tokz, &cidr))
                why = token_problem(tokz);
        }
        if (why) {
            snprintf(err, errlen, "%s:%lu: '%s' %s (reputation list '%s')", l->path, lineno,
                     shown(tok, tlen, s), why, l->name);
            rc = -1;
        } else if (ps->n4 + ps->n6 >= REPUTATION_MAX_ENTRIES) {
            snprintf(err, errlen, "%s:%lu: more than %u entries in all reputation lists", l->path,
                     lineno, REPUTATION_MAX_ENTRIES);
            rc = -1;
        } else if (add_cidr(ps, &cidr, bit)) {
            snprintf(err, errlen, "%s:%lu: out of memory", l->path, lineno);
            rc = -1;
        } else if (cidr.ip.family == 4) {
            st->entries4++;
        } else {
            st->entries6++;
        }
    }
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "reputation list '%s': %s: %s", l->name, l->path, strerror(errno));
        rc = -1;
    }
    fclose(f);
    return rc;
}

static int cmp4(const void *a, const void *b)
{
    const struct pfx4 *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return (x->net > y->net) - (x->net < y->net);
}

static int cmp6(const void *a, const void *b)
{
    const struct pfx6 *x = a, *y = b;
    if (x->depth != y->depth)
        return x->depth < y->depth ? -1 : 1;
    return memcmp(x->net, y->net, 16);
}

/* After sorting, one entry per distinct prefix with the OR of its lists. */
static size_t merge4(struct pfx4 *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && p[w - 1].depth == p[i].depth && p[w - 1].net == p[i].net)
            p[w - 1].mask |= p[i].mask;
        else
            p[w++] = p[i];
    }
    return w;
}

static size_t merge6(struct pfx6 *p, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w && p[w - 1].depth == p[i].depth && !memcmp(p[w - 1].net, p[i].net, 16))
            p[w - 1].mask |= p[i].mask;
        else
            p[w++] = p[i];
    }
    return w;
}

/* tbl8 groups the IPv4 table needs: one per /24 holding a prefix longer than
 * /24 (shorter prefixes fill first-level entries only, inserted first). */
static int count_tbl8_4(const struct pfx4 *p, size_t n, uint64_t *groups)
{
    uint64_t *seen = calloc((1u << 24) / 64, sizeof *seen);   /* 2 MiB bitmap of /24s */
    if (!seen)
        return -1;
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].depth <= 24)
            continue;
        uint32_t k = p[i].net >> 8;
        if (!(seen[k / 64] & (1ull << (k % 64)))) {
            seen[k / 64] |= 1ull << (k % 64);
            g++;
        }
    }
    free(seen);
    *groups = g;
    return 0;
}

/* tbl8 groups for the IPv6 trie: a prefix of depth d > 24 spans ceil(d/8) - 3
 * byte levels below the 24-bit first level.  rte_fib6 reserves groups per
 * prefix by that rule (sharing with neighbours is not credited), so the sum is
 * what it demands, not only an upper bound: measured on DPDK 22.11, sizing by
 * the groups prefixes really share fails with -ENOSPC before the last adds. */
static uint64_t count_tbl8_6(const struct pfx6 *p, size_t n)
{
    uint64_t g = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i].depth > 24)
            g += (uint64_t)(p[i].depth + 7) / 8 - 3;
    return g;
}

static uint64_t heap_bytes(void)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < rte_socket_count(); i++) {
        struct rte_malloc_socket_stats s;
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) == 0)
            sum += s.heap_allocsz_bytes;
    }
    return sum;
}

/* What a table of `routes` prefixes and `groups` tbl8 groups costs, for the
 * message when it cannot be created: the 2^24-entry first level, 1 KiB per
 * group, and about 200 bytes per RIB node (two nodes per route reserved). */
static unsigned long long estimate_mib(uint64_t routes, uint64_t groups)
{
    return (64ull * 1048576 + groups * 1024 + routes * 2 * 200) / 1048576 + 1;
}

/* Heap growth since `before`; 0 if another thread freed meanwhile. */
static uint64_t heap_growth(uint64_t before)
{
    uint64_t now = heap_bytes();
    return now > before ? now - before : 0;
}

static uint64_t round_groups(uint64_t g)
{
    return (g + TBL8_SLACK + 63) / 64 * 64;
}

static int build4(struct reputation *r, struct pfx4 *p, size_t n, int socket, char *err, size_t errlen)
{
    uint64_t groups;
    if (count_tbl8_4(p, n, &groups)) {
        snprintf(err, errlen, "reputation: out of memory");
        return -1;
    }
    groups = round_groups(groups);
    char name[32];
    snprintf(name, sizeof name, "rep4_%u", r->stats.generation);
    struct rte_fib_conf c = {
        .type = RTE_FIB_DIR24_8,
        .default_nh = 0,
        .max_routes = (int)n,
        .dir24_8 = {.nh_sz = RTE_FIB_DIR24_8_4B, .num_tbl8 = (uint32_t)groups},
    };
    uint64_t before = heap_bytes();
    r->fib4 = rte_fib_create(name, socket, &c);
    if (!r->fib4) {
        snprintf(err, errlen, "reputation: cannot create the IPv4 table (%zu prefixes, %llu tbl8 groups, "
                 "about %llu MiB): %s; raise -m in eal.args", n, (unsigned long long)groups,
                 estimate_mib(n, groups), rte_strerror(rte_errno));
        return -1;
    }
    r->stats.memory_bytes += heap_growth(before);
    r->stats.tbl8_groups4 = groups;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = p[i].net;
        uint64_t cover = 0;
        rte_fib_lookup_bulk(r->fib4, &a, &cover, 1);
        uint64_t nh = cover | p[i].mask;
        /* Adds nothing a lookup could tell apart: the covering prefix already
         * answers the same lists for this whole range. */
        if (nh == cover)
            continue;
        int rc = rte_fib_add(r->fib4, p[i].net, p[i].depth, nh);
        if (rc) {
            struct in_addr ia = {.s_addr = htonl(p[i].net)};
            char txt[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &ia, txt, sizeof txt);
            snprintf(err, errlen, "reputation: cannot add %s/%u to the IPv4 table: %s", txt, p[i].depth,
                     rte_strerror(-rc));
            return -1;
        }
        r->stats.prefixes4++;
    }
    return 0;
}

static int build6(struct reputation *r, struct pfx6 *p, size_t n, int socket, char *err, size_t errlen)
{
    uint64_t groups = round_groups(count_tbl8_6(p, n));
    if (groups > INT32_MAX) {
        snprintf(err, errlen, "reputation: the IPv6 prefixes need %llu tbl8 groups (%llu GiB): "
                 "too many long IPv6 prefixes", (unsigned long long)groups,
                 (unsigned long long)(groups >> 20));
        return -1;
    }
    char name[32];
    snprintf(name, sizeof name, "rep6_%u", r->stats.generation);
    struct rte_fib6_conf c = {
        .type = RTE_FIB6_TRIE,
        .default_nh = 0,
        .max_routes = (int)n,
        .trie = {.nh_sz = RTE_FIB6_TRIE_4B, .num_tbl8 = (uint32_t)groups},
    };
    uint64_t before = heap_bytes();
    r->fib6 = rte_fib6_create(name, socket, &c);
    if (!r->fib6) {
        snprintf(err, errlen, "reputation: cannot create the IPv6 table (%zu prefixes, %llu tbl8 groups, "
                 "about %llu MiB): %s; raise -m in eal.args", n, (unsigned long long)groups,
                 estimate_mib(n, groups), rte_strerror(rte_errno));
        return -1;
    }
    r->stats.memory_bytes += heap_growth(before);
    r->stats.tbl8_groups6 = groups;
    for (size_t i = 0; i < n; i++) {
        uint8_t a[1][RTE_FIB6_IPV6_ADDR_SIZE];
        memcpy(a[0], p[i].net, 16);
        uint64_t cover = 0;
        rte_fib6_lookup_bulk(r->fib6, a, &cover, 1);
        uint64_t nh = cover | p[i].mask;
        if (nh == cover)
            continue;
        int rc = rte_fib6_add(r->fib6, p[i].net, p[i].depth, nh);
        if (rc) {
            char txt[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, p[i].net, txt, sizeof txt);
            snprintf(err, errlen, "reputation: cannot add %s/%u to the IPv6 table: %s", txt, p[i].depth,
                     rte_strerror(-rc));
            return -1;
        }
        r->stats.prefixes6++;
    }
    return 0;
}

int reputation_build(const struct reputation_list_config *lists, unsigned n, int socket,
                     struct reputation **out, char *err, size_t errlen)
{
    uint64_t t0 = now_ns();
    if (reputation_lists_validate(lists, n, err, errlen))
        return -1;
    struct reputation *r = calloc(1, sizeof *r);
    struct parsed ps = {0};
    int rc = -1;
    if (!r) {
        snprintf(err, errlen, "reputation: out of memory");
        return -1;
    }
    r->n_lists = n;
    r->stats.generation = __atomic_fetch_add(&generation_seq, 1, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < n; i++) {
        memcpy(r->names[i], lists[i].name, REPUTATION_NAME_MAX);
        if (parse_list(&lists[i], 1u << i, &ps, &r->stats.list[i], err, errlen))
            goto out;
    }
    r->stats.parse_ns = now_ns() - t0;

    /* A family without prefixes gets no table: each costs 64 MiB up front. */
    if (ps.n4) {
        qsort(ps.p4, ps.n4, sizeof *ps.p4, cmp4);
        ps.n4 = merge4(ps.p4, ps.n4);
        if (build4(r, ps.p4, ps.n4, socket, err, errlen))
            goto out;
    }
    if (ps.n6) {
        qsort(ps.p6, ps.n6, sizeof *ps.p6, cmp6);
        ps.n6 = merge6(ps.p6, ps.n6);
        if (build6(r, ps.p6, ps.n6, socket, err, errlen))
            goto out;
    }
    r->stats.build_ns = now_ns() - t0;
    *out = r;
    r = NULL;
    rc = 0;
out:
    reputation_free(r);
    free(ps.p4);
    free(ps.p6);
    return rc;
}

void reputation_free(struct reputation *r)
{
    if (!r)
        return;
    rte_fib_free(r->fib4);
    rte_fib6_free(r->fib6);
    free(r);
}

/* Chunk of reputation_lookup_bulk(): enough addresses in flight to hide
 * memory latency, small enough for the stack. */
#define BULK 32

void reputation_lookup_bulk(const struct reputation *r, const struct vigil_ip *ips, uint32_t *masks,
                            unsigned n)
{
    for (unsigned base = 0; base < n; base += BULK) {
        unsigned m = n - base < BULK ? n - base : BULK;
        uint32_t a4[BULK];
        uint8_t a6[BULK][RTE_FIB6_IPV6_ADDR_SIZE];
        uint64_t nh4[BULK], nh6[BULK];
        uint8_t at4[BULK], at6[BULK];
        unsigned n4 = 0, n6 = 0;
        for (unsigned i = 0; i < m; i++) {
            const struct vigil_ip *ip = &ips[base + i];
            masks[base + i] = 0;
            if (ip->family == 4 && r->fib4) {
                a4[n4] = ((uint32_t)ip->addr[0] << 24) | ((uint32_t)ip->addr[1] << 16) |
                         ((uint32_t)ip->addr[2] << 8) | ip->addr[3];
                at4[n4++] = (uint8_t)i;
            } else if (ip->family == 6 && r->fib6) {
                memcpy(a6[n6], ip->addr, sizeof a6[n6]);
                at6[n6++] = (uint8_t)i;
            }
        }
        if (n4) {
            rte_fib_lookup_bulk(r->fib4, a4, nh4, (int)n4);
            for (unsigned i = 0; i < n4; i++)
                masks[base + at4[i]] = (uint32_t)nh4[i];
        }
        if (n6) {
            rte_fib6_lookup_bulk(r->fib6, a6, nh6, (int)n6);
            for (unsigned i = 0; i < n6; i++)
                masks[base + at6[i]] = (uint32_t)nh6[i];
        }
    }
}

unsigned reputation_list_count(const struct reputation *r)
{
    return r->n_lists;
}

const char *reputation_list_name(const struct reputation *r, unsigned i)
{
    return i < r->n_lists ? r->names[i] : NULL;
}

const struct reputation_stats *reputation_get_stats(const struct reputation *r)
{
    return &r->stats;
}
