/* The per-lcore packet loop of vigil-dp.
 *
 * A worker polls its rx queues, decodes each frame (pkt_decode), reassembles
 * fragments, applies the sender ACL, dispatches by UDP destination port, and
 * turns syslog datagrams into normalized events.  It owns all its state
 * (reassembly table, counters, linear buffer); the only shared things are
 * read-only (port table, sender tables) or per-worker slots (tap buffers), so
 * workers never lock or wait on each other.  Nothing on this path allocates.
 */
#ifndef VIGIL_DATAPLANE_WORKER_H
#define VIGIL_DATAPLANE_WORKER_H

#include <stdint.h>

#include "dataplane/config.h"
#include "dataplane/reasm.h"

struct rte_mbuf;
struct reasm;
struct senders;
struct tap;
struct worker_counters;

/* What a UDP destination port is for. */
enum listen_kind {
    LISTEN_NONE = 0,
    LISTEN_SYSLOG,
};

/* Largest datagram a worker linearizes after reassembly (the IPv4/IPv6 limit). */
#define WORKER_LINEAR_MAX (65535u + 64u)
#define WORKER_MAX_BURST  512

/* Maps wall-clock time onto the TSC once at start, so the loop reads time with
 * rdtsc instead of a syscall. */
struct worker_clock {
    uint64_t tsc0;
    int64_t unix_ns0;
    double ns_per_tsc;
};

/* What every worker shares (read-only) and how it is set up. */
struct worker_env {
    const uint8_t *listen;          /* 65536 entries of enum listen_kind, by UDP port */
    const struct senders *senders;
    uint32_t syslog_max_message;
    struct tap *tap;                /* NULL: no tap */
    struct worker_clock clock;
    const volatile int *stop;       /* set by the main lcore to end the loop */
    uint16_t burst;
    struct reasm_config reasm;
};

struct worker {
    unsigned index;
    unsigned lcore;
    uint16_t burst;
    unsigned n_rx;
    struct {
        uint16_t port_id;
        uint16_t queue;
    } rx[CFG_MAX_RX_PER_WORKER];

    const uint8_t *listen;          /* 65536 entries of enum listen_kind, by UDP port */
    const struct senders *senders;
    uint32_t syslog_max_message;
    struct tap *tap;                /* NULL: no tap */
    struct worker_clock clock;
    const volatile int *stop;       /* set by the main lcore to end the loop */

    struct worker_counters *c;      /* this worker's slot in the stats block */
    struct reasm *reasm;
    uint8_t *linear;                /* WORKER_LINEAR_MAX bytes */
};

void worker_clock_init(struct worker_clock *clk);
int64_t worker_clock_ns(const struct worker_clock *clk, uint64_t tsc);

/* Sets up worker index on lcore from env, with its counters in c, and
 * allocates its reassembly table and linear buffer on the lcore's socket.
 * The caller fills rx[] and n_rx.  Returns 0, or -1 (rte_errno) when out of
 * memory; worker_fini() releases what was allocated either way. */
int worker_init(struct worker *w, unsigned index, unsigned lcore, const struct worker_env *env,
                struct worker_counters *c);
void worker_fini(struct worker *w);

/* lcore entry point (rte_eal_remote_launch): loops until *w->stop. */
int worker_loop(void *w);

/* Handles one burst of received frames and frees them all.  Exposed for tests
 * and benches that drive a worker without ports. */
void worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, uint16_t n, uint64_t now_tsc);

#endif
