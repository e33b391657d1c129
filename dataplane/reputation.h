/* IP reputation lists: named CIDR sets (millions of entries) that tag flows.
 *
 * Each list is a text file of IPv4/IPv6 addresses and CIDRs (format in
 * docs/reputation.md).  reputation_build() reads every list and builds one
 * DPDK longest-prefix-match table per address family whose next hop is the
 * bitmask of the lists containing the address (bit i = lists[i]).  The result
 * is read-only: any number of worker lcores may call reputation_lookup() on it
 * at once, without locks and without allocating.
 *
 * The tables are DPDK's FIB library (rte_fib DIR-24-8 for IPv4, rte_fib6 trie
 * for IPv6), not rte_lpm/rte_lpm6: both have the same lookup structure, but
 * rte_lpm adds a prefix in time linear in the table (80 k /32s took 19 s here)
 * and rte_lpm6 was slower still, while rte_fib builds 1 M mixed prefixes in
 * seconds.  docs/reputation.md has the measurements.
 *
 * Reload: build the new set aside (a control thread, after rte_eal_init),
 * publish it with RCU, free the old one once no worker can still hold it.
 * Two sets coexist: each build names its DPDK objects with a fresh generation.
 */
#ifndef VIGIL_DATAPLANE_REPUTATION_H
#define VIGIL_DATAPLANE_REPUTATION_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <rte_fib.h>
#include <rte_fib6.h>

#include "engine/event.h"

/* Lists per set: one bit each in the tables' next hop (rte_fib with 4-byte
 * next hops holds 31 bits; 16 keeps the mask a comfortable uint32_t). */
#define REPUTATION_MAX_LISTS 16
#define REPUTATION_NAME_MAX  64          /* including the NUL: 1..63 characters */
/* Accepted lines over all lists of one build; beyond it the build fails with a
 * message instead of exhausting memory. */
#define REPUTATION_MAX_ENTRIES (64u * 1024 * 1024)

struct reputation_list_config {
    char name[REPUTATION_NAME_MAX];      /* [a-z0-9_-]{1,63}, unique in the set */
    char path[PATH_MAX];
};

struct reputation_list_stats {
    uint64_t entries4;                   /* accepted IPv4 lines (duplicates included) */
    uint64_t entries6;
};

struct reputation_stats {
    struct reputation_list_stats list[REPUTATION_MAX_LISTS];
    uint64_t prefixes4;                  /* distinct prefixes in the IPv4 table (a /0 counts 2) */
    uint64_t prefixes6;
    uint64_t tbl8_groups4;               /* 1 KiB second-level groups reserved */
    uint64_t tbl8_groups6;
    uint64_t memory_bytes;               /* DPDK heap taken by both tables */
    uint64_t parse_ns;                   /* reading and parsing the files */
    uint64_t build_ns;                   /* whole reputation_build() call */
    unsigned generation;                 /* suffix of the DPDK object names */
};

/* Read-only after reputation_build().  Only reputation_lookup() reads fields
 * directly (it is inline, for the packet path); use the functions below. */
struct reputation {
    struct rte_fib *fib4;                /* NULL when no list has an IPv4 prefix */
    struct rte_fib6 *fib6;               /* NULL when no list has an IPv6 prefix */
    unsigned n_lists;
    char names[REPUTATION_MAX_LISTS][REPUTATION_NAME_MAX];
    struct reputation_stats stats;
};

/* Checks n <= REPUTATION_MAX_LISTS, each name ([a-z0-9_-], 1..63 characters,
 * unique) and that each path is set.  Returns 0, or -1 with a message naming
 * the list in err.  reputation_build() calls it first. */
int reputation_lists_validate(const struct reputation_list_config *lists, unsigned n,
                              char *err, size_t errlen);

/* Reads lists[0..n) and builds a new set on NUMA socket `socket` (or
 * SOCKET_ID_ANY).  Needs the EAL; allocates from the DPDK heap (about 64 MiB per
 * address family present plus the prefixes: docs/reputation.md).  Returns 0
 * and sets *out, or -1 with a one-line message in err ("path:line: ..." for a
 * malformed line) and *out untouched: nothing is left allocated, so the caller
 * keeps its current set.  n = 0 builds an empty set (every lookup is 0).
 * Off the packet path only: 1 M prefixes take seconds. */
int reputation_build(const struct reputation_list_config *lists, unsigned n, int socket,
                     struct reputation **out, char *err, size_t errlen);

/* Frees r (NULL is fine).  No worker may be using r any more (RCU). */
void reputation_free(struct reputation *r);

unsigned reputation_list_count(const struct reputation *r);
/* Name of list i (bit i of the lookup mask), NULL when i is out of range. */
const char *reputation_list_name(const struct reputation *r, unsigned i);
const struct reputation_stats *reputation_get_stats(const struct reputation *r);

/* Bitmask of the lists containing ip (bit i = list i), 0 when none does or ip
 * is absent.  No locks, no allocation; safe from any number of lcores. */
static inline uint32_t reputation_lookup(const struct reputation *r, const struct vigil_ip *ip)
{
    uint64_t nh = 0;   /* the tables' default next hop is 0 too: a miss is 0 */
    if (ip->family == 4 && r->fib4) {
        uint32_t a = ((uint32_t)ip->addr[0] << 24) | ((uint32_t)ip->addr[1] << 16) |
                     ((uint32_t)ip->addr[2] << 8) | ip->addr[3];
        rte_fib_lookup_bulk(r->fib4, &a, &nh, 1);
    } else if (ip->family == 6 && r->fib6) {
        uint8_t a[1][RTE_FIB6_IPV6_ADDR_SIZE];   /* the API takes a mutable array */
        memcpy(a[0], ip->addr, sizeof a[0]);
        rte_fib6_lookup_bulk(r->fib6, a, &nh, 1);
    }
    return (uint32_t)nh;
}

/* reputation_lookup() for ips[0..n) into masks[0..n).  The tables are walked
 * for up to 32 addresses at a time, so their cache misses overlap instead of
 * adding up: the NetFlow path's source and destination of a burst of records
 * cost a fraction of n single lookups (docs/reputation.md).  Same guarantees:
 * no locks, no allocation, any number of lcores. */
void reputation_lookup_bulk(const struct reputation *r, const struct vigil_ip *ips, uint32_t *masks,
                            unsigned n);

#endif
