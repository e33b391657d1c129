/* IPv4 and IPv6 fragment reassembly for one worker, on DPDK's rte_ip_frag.
 *
 * The table is bounded (max_flows datagrams in progress, each of at most
 * RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments) and entries time out; every fragment
 * that does not end up in a datagram is freed through the death row and counted
 * as frag_dropped.  One reasm per worker: not thread-safe.
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
};

struct reasm;

/* Returns NULL with rte_errno set on failure (e.g. no memory on that socket). */
struct reasm *reasm_create(const struct reasm_config *cfg, int socket_id);
void reasm_destroy(struct reasm *r);

/* Takes ownership of fragment m, which pkt_decode() classified as *pi (l2_len,
 * l3_len, frag header).  Returns the reassembled datagram (an mbuf chain the
 * caller owns; pkt_decode() of its linearized bytes gives PKT_KIND_UDP) or NULL
 * when the datagram is not complete yet or the fragment was dropped.  Counters:
 * frag_ipv4_fragments / frag_ipv6_fragments, frag_reassembled, frag_dropped. */
struct rte_mbuf *reasm_feed(struct reasm *r, struct rte_mbuf *m, const struct pkt_info *pi,
                            uint64_t now_tsc, struct worker_counters *c);

/* Frees mbufs of dropped fragments and expires timed-out datagrams; call after
 * each burst.  Bounded work: at most one death row's worth of mbufs. */
void reasm_tick(struct reasm *r, uint64_t now_tsc, struct worker_counters *c);

#endif
