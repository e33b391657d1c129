/* Dataplane counters, in a shared-memory block other processes can read.
 *
 * Each worker owns one struct worker_counters and is its only writer: it bumps
 * plain uint64_t fields (no atomics, no locks; aligned 64-bit stores are not
 * torn on the platforms DPDK supports).  Readers (vigilctl, tests, the main
 * lcore) may see a counter a few increments stale, never a torn one.
 *
 * The block is a file (default /dev/shm/vigil-dp.stats) mapped MAP_SHARED.  It
 * outlives vigil-dp on purpose, so final counters can be read after exit; the
 * next start truncates and re-creates it.  Layout: struct stats_header, then
 * n_workers struct worker_counters, then n_ports struct port_counters.
 */
#ifndef VIGIL_DATAPLANE_STATS_H
#define VIGIL_DATAPLANE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "dataplane/pkt_decode.h"
#include "engine/event.h"

#define STATS_MAGIC   0x5649474c53544154ull   /* "VIGLSTAT" */
#define STATS_VERSION 1
#define STATS_MAX_WORKERS 64
#define STATS_MAX_PORTS   32

/* Worker counters, listed once: X(name, help).  Names are what operators see. */
#define WORKER_COUNTERS(X)                                                        \
    X(rx_packets,            "packets taken from rx queues")                      \
    X(rx_bytes,              "bytes taken from rx queues (frame length)")         \
    X(rx_bursts,             "rx bursts that returned at least one packet")       \
    X(l2_vlan,               "frames with one 802.1Q tag")                        \
    X(l2_qinq,               "frames with two VLAN tags (802.1ad/QinQ)")          \
    X(ipv4_packets,          "IPv4 packets (fragments counted once each)")        \
    X(ipv6_packets,          "IPv6 packets (fragments counted once each)")        \
    X(udp_datagrams,         "complete UDP datagrams (after reassembly)")         \
    X(frag_ipv4_fragments,   "IPv4 fragments received")                           \
    X(frag_ipv6_fragments,   "IPv6 fragments received")                           \
    X(frag_reassembled,      "datagrams completed by reassembly")                 \
    X(frag_dropped,          "fragments freed without completing a datagram (timeout, table full, overlap, too many)") \
    X(frag_timeout,          "of frag_dropped: datagrams not complete within reassembly.timeout_ms") \
    X(frag_no_mbuf,          "of frag_dropped: reassembly.max_fragments mbufs already held")  \
    X(drop_acl,              "datagrams from senders outside allowed_senders")   \
    X(drop_acl_fragments,    "fragments from senders outside allowed_senders, dropped before reassembly") \
    X(drop_unknown_port,     "UDP datagrams to a port no listener owns")          \
    X(syslog_datagrams,      "datagrams handed to the syslog decoder")            \
    X(syslog_events,         "normalized syslog events produced")                 \
    X(syslog_empty,          "syslog datagrams with nothing in them")             \
    X(syslog_rfc5424,        "events decoded as RFC 5424")                        \
    X(syslog_rfc3164,        "events decoded as RFC 3164 (and variants)")         \
    X(syslog_no_header,      "events with no PRI, timestamp or tag: all message") \
    X(events_parsed,         "syslog events a parser claimed")                    \
    X(events_unparsed,       "syslog events no parser claimed (still checked by keyword rules)") \
    X(signals,               "detection signals produced (one per rule that fired)") \
    X(signals_dropped_ring_full, "signals vigil-cp's ring had no room for (vigil-cp slow or not running)") \
    X(netflow_datagrams,     "datagrams handed to the NetFlow/IPFIX decoder")    \
    X(netflow_records,       "flow records decoded (v5, v9 and IPFIX)")          \
    X(netflow_malformed,     "NetFlow datagrams dropped or cut short as malformed (reasons: the netflow counters file)") \
    X(flow_signals,          "flow signals produced (one per flow rule that matched)") \
    X(flow_matches_dropped,  "flow rule matches beyond the per-record limit (16)") \
    X(flow_reputation_hits,  "flow records with a source or destination on a reputation list") \
    X(nf_template_exports,   "template sets handed to the main lcore for the template store") \
    X(nf_template_exports_failed, "template exports that did not fit (8 MiB) or had no buffer") \
    X(tap_dropped,           "events the debug tap could not write")

struct worker_counters {
#define X(name, help) uint64_t name;
    WORKER_COUNTERS(X)
#undef X
    uint64_t malformed[PKT_DROP__COUNT];        /* by enum pkt_drop_reason; [PKT_OK] unused */
    uint64_t syslog_anomaly[VIGIL_ANOM_COUNT];  /* by bit of enum vigil_event_anomaly */
    uint64_t idle_polls;                        /* rx polls that returned nothing */
    uint64_t last_rx_tsc;                       /* TSC of the last non-empty burst */
} __attribute__((aligned(64)));

/* Port counters, copied from rte_eth_stats by the main lcore every 50 ms. */
#define PORT_COUNTERS(X)                                          \
    X(ipackets,  "packets the NIC/PMD received")                  \
    X(ibytes,    "bytes the NIC/PMD received")                    \
    X(imissed,   "packets the NIC dropped: rx queues full")       \
    X(ierrors,   "erroneous packets the NIC received")            \
    X(rx_nombuf, "rx mbuf allocation failures")

struct port_counters {
#define X(name, help) uint64_t name;
    PORT_COUNTERS(X)
#undef X
    char name[32];
} __attribute__((aligned(64)));

struct stats_header {
    uint64_t magic;
    uint32_t version;
    uint32_t n_workers;
    uint32_t n_ports;
    uint32_t running;              /* 1 while vigil-dp runs, 0 after a clean exit */
    int32_t pid;
    uint32_t worker_lcore[STATS_MAX_WORKERS]; /* lcore id of worker i */
    uint64_t started_unix_ns;
    uint64_t tsc_hz;
    uint64_t ruleset_hash;         /* the ruleset the workers run now (0 = none) */
    uint64_t ruleset_swaps;        /* reloads published to the workers */
    uint64_t ruleset_reload_failed;/* reloads that produced nothing usable (old ruleset kept) */
} __attribute__((aligned(64)));

struct stats_block {
    struct stats_header *hdr;
    struct worker_counters *workers;
    struct port_counters *ports;
    size_t map_len;
    int fd;
};

/* Creates (or truncates) the stats file and maps it.  Returns 0 or -errno. */
int stats_create(struct stats_block *sb, const char *path, unsigned n_workers, unsigned n_ports);
/* Maps an existing stats file read-only.  Returns 0, -errno, or -EPROTO when the
 * file is not a stats block of this version. */
int stats_open_readonly(struct stats_block *sb, const char *path);
void stats_close(struct stats_block *sb);

/* Sums of all workers' counters into *sum. */
void stats_sum_workers(const struct stats_block *sb, struct worker_counters *sum);

/* Writes counters as human-readable text (totals, then per worker and port),
 * skipping zero counters, or as one JSON object. */
void stats_print_text(const struct stats_block *sb, FILE *out);
void stats_print_json(const struct stats_block *sb, FILE *out);

#endif
