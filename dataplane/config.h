/* vigil.yaml: the dataplane's configuration.
 *
 * config_load() parses and validates the whole file before anything starts:
 * unknown keys, wrong types, out-of-range values, queues polled by two workers
 * or by none, and unknown time zones are all errors.  Every error names the
 * file, the line and the key path ("vigil.yaml:14: workers[0].rx[1].queue: ...")
 * so an operator can fix it without reading code.  The result is plain data;
 * nothing here touches DPDK.
 */
#ifndef VIGIL_DATAPLANE_CONFIG_H
#define VIGIL_DATAPLANE_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/reasm.h"
#include "engine/netflow.h"
#include "engine/ruleset.h"
#include "engine/event.h"

#define CFG_MAX_PORTS          32
#define CFG_MAX_WORKERS        64
#define CFG_MAX_RX_PER_WORKER  16
#define CFG_MAX_LISTEN_PORTS   16
#define CFG_MAX_EAL_ARGS       64
#define CFG_MAX_LCORE          127
#define CFG_NAME_MAX           32

struct cfg_cidr {
    struct vigil_ip ip;          /* host bits cleared */
    uint8_t prefix;
};

struct cfg_port {
    char name[CFG_NAME_MAX];
    char device[1024];           /* PCI address (0000:03:00.0) or vdev string (net_pcap0,...) */
    bool is_vdev;
    uint16_t rx_queues;
    uint16_t rx_descriptors;
    bool promiscuous;
};

struct cfg_rx {
    uint16_t port;               /* index into ports[] */
    uint16_t queue;
};

struct cfg_worker {
    unsigned lcore;
    int cpu;                     /* CPU the lcore runs on; -1 = same number as lcore */
    unsigned n_rx;
    struct cfg_rx rx[CFG_MAX_RX_PER_WORKER];
};

struct cfg_source {
    struct cfg_cidr cidr;
    char timezone[64];
};

#define CFG_MAX_REP_LISTS 16

/* A named IP reputation list file (netflow.reputation). */
struct cfg_rep_list {
    char name[64];
    char path[PATH_MAX];
};

struct vigil_config {
    char path[PATH_MAX];
    char dir[PATH_MAX];          /* directory of the file: ${config_dir} in strings */

    char *eal_args[CFG_MAX_EAL_ARGS];
    unsigned n_eal_args;
    unsigned main_lcore;
    int main_cpu;

    struct cfg_port ports[CFG_MAX_PORTS];
    unsigned n_ports;
    struct cfg_worker workers[CFG_MAX_WORKERS];
    unsigned n_workers;

    uint32_t mbuf_pool_size;
    uint32_t mbuf_cache_size;
    uint16_t burst_size;
    struct reasm_config reasm;

    uint16_t syslog_ports[CFG_MAX_LISTEN_PORTS];
    unsigned n_syslog_ports;
    uint32_t syslog_max_message;   /* longer datagrams are cut (counted as truncated) */
    bool allow_any_sender;         /* allowed_senders absent */
    struct cfg_cidr *allowed;      /* malloc'd */
    unsigned n_allowed;
    struct cfg_source *sources;    /* malloc'd: per-sender time zones */
    unsigned n_sources;

    char stats_path[PATH_MAX];
    char rules_stats_path[PATH_MAX];   /* per-parser / per-rule counters, JSON, rewritten each second */
    char netflow_stats_path[PATH_MAX]; /* NetFlow decoder and flow rule counters, JSON, each second */

    /* NetFlow v5/v9/IPFIX listeners (netflow section; no ports: off). */
    uint16_t netflow_ports[CFG_MAX_LISTEN_PORTS];
    unsigned n_netflow_ports;
    bool allow_any_exporter;       /* netflow.allowed_exporters absent */
    struct cfg_cidr *exporters;    /* malloc'd */
    unsigned n_exporters;
    struct nf_config nf;           /* template cache limits, per worker */
    char nf_template_store[PATH_MAX];  /* LMDB directory for templates across restarts; "" = none */
    char flow_rules_dir[PATH_MAX];     /* Sigma flow rules; "" = no flow checks */
    struct cfg_rep_list rep[CFG_MAX_REP_LISTS];
    unsigned n_rep;

    /* Signal rings to vigil-cp: one file per worker in signals_dir,
     * signal_ring_size records each (0: no rings, signals only counted). */
    char signals_dir[PATH_MAX];
    uint32_t signal_ring_size;

    bool engine_enabled;               /* engine section present */
    struct ruleset_config engine;      /* parser packs, rules, limits */
};

/* Loads and validates path into *cfg (zeroed first).  Returns 0, or -1 with a
 * one-line message in err.  On error *cfg holds nothing to free. */
int config_load(const char *path, struct vigil_config *cfg, char *err, size_t errlen);
void config_free(struct vigil_config *cfg);

/* Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (host prefix). */
int config_parse_cidr(const char *s, struct cfg_cidr *out);

#endif
