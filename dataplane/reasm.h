/* IPv4 and IPv6 fragment reassembly for one worker, on DPDK's rte_ip_frag.
 *
 * Fragments are copied into the reassembly's own mbuf pool (max_fragments
 * mbufs) before they enter the table, and the rx mbuf stays with the caller.
 * So whatever fragments a sender sends, they can hold at most this pool, never
 * the rx pool the NIC needs: a flood of never-completed fragments costs
 * fragments, not packets.  The table is bounded (max_flows datagrams in
 * progress, each of at most RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments) and
 * entries time out.  Every fragment that does not end up in a datagram is
 * counted in frag_dropped, and among those frag_timeout (expired) and
 * frag_no_mbuf (pool exhausted).  One reasm per worker: not thread-safe.
 */
#ifndef VIGIL_DATAPLANE_REASM_H
#define VIGIL_DATAPLANE_REASM_H

#include <stdint.h>

#include "dataplane/pkt_decode.h"

struct rte_mbuf;
struct worker_counters;

struct reasm_config {
    uint32_t max_flows;      /* datagrams in reassembly at once (table entries) */
    uint32_t timeout_ms;     /* a datagram not complete after this is dropped */
    uint32_t max_fragments;  /* mbufs the reassembly may hold (its own pool); 0 = 4 x max_flows */
};

struct reasm;

/* Returns NULL with rte_errno set on failure (e.g. no memory on that socket). */
struct reasm *reasm_create(const struct reasm_config *cfg, int socket_id);
void reasm_destroy(struct reasm *r);

/* Copies fragment m, which pkt_decode() classified as *pi (l2_len, l3_len,
 * frag header), into the reassembly; m stays the caller's.  Returns the
 * reassembled datagram (an mbuf chain from the reassembly's pool: the caller
 * frees it, before reasm_destroy; pkt_decode() of its linearized bytes gives
 * PKT_KIND_UDP) or NULL when the datagram is not complete yet or the fragment
 * was dropped.  Counters: frag_ipv4_fragments / frag_ipv6_fragments,
 * frag_reassembled, frag_dropped, frag_no_mbuf. */
struct rte_mbuf *reasm_feed(struct reasm *r, const struct rte_mbuf *m, const struct pkt_info *pi,
                            uint64_t now_tsc, struct worker_counters *c);

/* Frees mbufs of dropped fragments and expires timed-out datagrams; call after
 * each burst.  Bounded work: at most one death row's worth of mbufs. */
void reasm_tick(struct reasm *r, uint64_t now_tsc, struct worker_counters *c);

/* Drops every datagram still in progress (counted as frag_timeout), so the
 * counters add up at shutdown.  Not bounded: call only when stopping. */
void reasm_drain(struct reasm *r, struct worker_counters *c);

/* mbufs the reassembly holds now (fragments waiting for their datagram). */
unsigned reasm_held(const struct reasm *r);

#endif
