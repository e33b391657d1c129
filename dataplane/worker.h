/* The per-lcore packet loop of vigil-dp.
 *
 * A worker polls its rx queues, decodes each frame (pkt_decode), reassembles
 * fragments, applies the sender ACL, dispatches by UDP destination port, turns
 * syslog datagrams into normalized events, and runs the ruleset on them.  It
 * owns all its state (reassembly table and pool, counters, buffers); what it
 * shares is read-only (struct worker_env, the published ruleset) or a
 * per-worker slot (tap buffer, ruleset worker state), so workers never lock or
 * wait on each other.  Nothing on this path allocates.
 */
#ifndef VIGIL_DATAPLANE_WORKER_H
#define VIGIL_DATAPLANE_WORKER_H

#include <stdint.h>

#include "dataplane/config.h"
#include "dataplane/flowpath.h"
#include "dataplane/reasm.h"

struct rte_mbuf;
struct rte_rcu_qsbr;
struct ruleset;
struct senders;
struct signal_ring;
struct tap;
struct vigil_signal;
struct worker_counters;

/* What a UDP destination port is for. */
enum listen_kind {
    LISTEN_NONE = 0,
    LISTEN_SYSLOG,
    LISTEN_NETFLOW,
};

/* Largest datagram a worker linearizes (the IPv4/IPv6 limit plus L2). */
#define WORKER_LINEAR_MAX  (65535u + 64u)
#define WORKER_MAX_BURST   512
#define WORKER_MAX_SIGNALS 64
#define WORKER_TAP_EXTRA   (512u << 10)

/* What every worker shares, read-only, for the life of the process. */
struct worker_env {
    const uint8_t *listen;          /* 65536 entries of enum listen_kind, by UDP port */
    const struct senders *senders;     /* syslog senders (and, before reassembly, everyone allowed) */
    const struct senders *exporters;   /* NetFlow exporters; NULL: no netflow ports */
    const struct nf_config *nf;        /* decoder limits per worker; NULL: no netflow ports */
    bool nf_persist;                   /* a template store is configured: export template sets */
    uint32_t syslog_max_message;
    struct tap *tap;                /* NULL: no tap */
    const volatile int *stop;       /* set by the main lcore to end the loop */
    uint16_t burst;
    struct reasm_config reasm;
    /* The published ruleset (NULL: decode only).  Workers read it once per
     * burst and report a quiescent state to qs after each poll round, so the
     * main lcore knows when an old ruleset is no longer in use (RCU). */
    const struct ruleset *const *ruleset;
    const struct flow_checks *const *flow; /* flow rules and reputation lists; NULL: none */
    struct rte_rcu_qsbr *qs;
};

struct worker {
    unsigned index;
    unsigned lcore;
    unsigned n_rx;
    struct {
        uint16_t port_id;
        uint16_t queue;
    } rx[CFG_MAX_RX_PER_WORKER];
    const struct worker_env *env;

    const struct ruleset *rs;       /* the ruleset of the burst being handled */
    const struct flow_checks *fc;   /* the flow checks of the burst being handled */
    int64_t next_flow_tick_ns;
    int64_t now_ns;                 /* wall clock of the burst being handled */
    struct worker_counters *c;      /* this worker's slot in the stats block */
    struct reasm *reasm;
    uint8_t *linear;                /* WORKER_LINEAR_MAX bytes */
    char *tap_extra;                /* WORKER_TAP_EXTRA bytes when the tap is on */
    struct vigil_signal *signals;   /* WORKER_MAX_SIGNALS */
    struct signal_ring *sigring;    /* to vigil-cp; NULL: signals are only counted (and tapped) */
    struct flow_worker flow;        /* NetFlow decoder and template hand-over (env->nf set) */
};

/* Sets up worker index on lcore with env (which must outlive the worker) and
 * its counters in c, and allocates its reassembly table, pool and buffers on
 * the lcore's socket.  The caller fills rx[] and n_rx.  Returns 0, or -1
 * (rte_errno) when out of memory; worker_fini() releases what was allocated
 * either way. */
int worker_init(struct worker *w, unsigned index, unsigned lcore, const struct worker_env *env,
                struct worker_counters *c);
/* Drops the fragments still in reassembly (counted), so counters add up;
 * call after the worker stopped, before reading final counters. */
void worker_drain(struct worker *w);
void worker_fini(struct worker *w);

/* lcore entry point (rte_eal_remote_launch): loops until *env->stop. */
int worker_loop(void *w);

/* Handles one burst of received frames and frees them all.  Exposed for tests
 * and benches that drive a worker without ports. */
void worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, uint16_t n, uint64_t now_tsc);

#endif
