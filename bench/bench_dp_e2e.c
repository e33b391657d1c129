/* End-to-end dataplane bench: a generator on the main lcore feeds a net_ring
 * port (rte_eth_from_ring) with real syslog frames; one worker lcore runs the
 * production worker_loop() on it (decode, ACL, dispatch, syslog decode,
 * counters).  Reports messages per second per worker core, median of rounds.
 *
 * Closed loop by default (the generator waits when the ring is full), which
 * measures the worker's capacity.  --rate PPS paces the generator instead and
 * counts every frame the full ring refused as a drop, as a NIC would.
 *
 * --configs DIR also runs the ruleset of DIR (parsers/, rules/, fieldmap.yaml)
 * on every event, as vigil-dp does with an engine section; --no-anchors
 * compiles its keyword lists as plain literals (detect_limits.no_anchors), to
 * measure what anchors save.
 *
 * usage: bench_dp_e2e [--seconds S] [--rounds N] [--frame-size B] [--rate PPS] [--configs DIR] [--no-anchors]
 *                     [--hugepages] [--ring N] [--tap FILE] [LOGFILE...]
 * --ring sets the rx ring size (a power of two; default 4096, like a NIC's rx
 * descriptor ring): with --rate it decides how long a stall the worker rides out.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "bench/pktcraft.h"
#include "dataplane/config.h"
#include "dataplane/port.h"
#include "dataplane/senders.h"
#include "dataplane/stats.h"
#include "dataplane/tap.h"
#include "dataplane/worker.h"
#include "engine/ruleset.h"
#include "bench/bench_common.h"

#define MAX_TEMPLATES 8192
#define GEN_BURST 32

static volatile int stop;

/* Reads up to max non-empty lines from files into frames of exactly frame_size
 * bytes (payload padded with spaces or cut). */
static unsigned build_templates(struct rte_mempool *pool, char **files, int n_files, unsigned frame_size,
                                struct rte_mbuf **out, unsigned max)
{
    struct pktcraft_opts o;
    pktcraft_opts_init(&o);
    pktcraft_parse_ip("192.0.2.1", &o.dst);
    o.dport = 514;
    static uint8_t frame[PKTCRAFT_MAX_FRAME];
    unsigned payload_len = frame_size - 42; /* Ethernet 14 + IPv4 20 + UDP 8 */
    char *payload = malloc(payload_len);
    unsigned n = 0;
    for (int f = 0; f < n_files && n < max; f++) {
        FILE *fp = fopen(files[f], "r");
        if (!fp) {
            fprintf(stderr, "bench_dp_e2e: cannot open %s\n", files[f]);
            exit(2);
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        while (n < max && (len = getline(&line, &cap, fp)) > 0) {
            while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;
            if (!len || line[0] == '#')
                continue;
            int pri = line[0] == '<' ? 0 : snprintf(payload, payload_len, "<38>");
            size_t take = (size_t)len < payload_len - (size_t)pri ? (size_t)len : payload_len - (size_t)pri;
            memcpy(payload + pri, line, take);
            memset(payload + pri + take, ' ', payload_len - (size_t)pri - take);
            /* a few senders, so the ACL and zone lookups see more than one address */
            char src[32];
            snprintf(src, sizeof src, "192.0.2.%u", 10 + n % 16);
            pktcraft_parse_ip(src, &o.src);
            o.sport = (uint16_t)(40000 + n % 1000);
            size_t fl = pktcraft_udp_frame(&o, payload, payload_len, frame, sizeof frame);
            struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
            char *d = m ? rte_pktmbuf_append(m, (uint16_t)fl) : NULL;
            if (!fl || !d) {
                fprintf(stderr, "bench_dp_e2e: cannot build frame %u\n", n);
                exit(2);
            }
            memcpy(d, frame, fl);
            out[n++] = m;
        }
        free(line);
        fclose(fp);
    }
    free(payload);
    return n;
}

int main(int argc, char **argv)
{
    double seconds = 2.0, rate = 0;
    int rounds = 7, hugepages = 0, no_anchors = 0;
    unsigned frame_size = 256, ring_size = 4096;
    const char *tap_path = NULL, *configs = NULL;
    static const struct option lo[] = {{"seconds", 1, NULL, 's'}, {"rounds", 1, NULL, 'r'},
                                       {"frame-size", 1, NULL, 'f'}, {"rate", 1, NULL, 'R'},
                                       {"hugepages", 0, NULL, 'H'}, {"tap", 1, NULL, 't'},
                                       {"ring", 1, NULL, 'q'}, {"configs", 1, NULL, 'C'},
                                       {"no-anchors", 0, NULL, 'A'}, {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 's': seconds = atof(optarg); break;
        case 'r': rounds = atoi(optarg); break;
        case 'f': frame_size = (unsigned)atoi(optarg); break;
        case 'R': rate = atof(optarg); break;
        case 'H': hugepages = 1; break;
        case 't': tap_path = optarg; break;
        case 'q': ring_size = (unsigned)atoi(optarg); break;
        case 'C': configs = optarg; break;
        case 'A': no_anchors = 1; break;
        default:
            fprintf(stderr, "usage: bench_dp_e2e [--seconds S] [--rounds N] [--frame-size B] [--rate PPS] "
                            "[--hugepages] [--ring N] [--tap FILE] [--configs DIR] [--no-anchors] [LOGFILE...]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 100 || seconds <= 0 || frame_size < 64 || frame_size > 9000 ||
        ring_size < 64 || (ring_size & (ring_size - 1))) {
        fprintf(stderr, "bench_dp_e2e: bad --rounds, --seconds, --frame-size or --ring\n");
        return 2;
    }
    char *def_files[] = {"../shared/corpus/syslog/elastic_auth.log", "../shared/corpus/syslog/loghub/Linux_2k.log",
                         "../shared/corpus/syslog/iptables-psad/syn_scan_1000_1500.log"};
    char **files = optind < argc ? argv + optind : def_files;
    int n_files = optind < argc ? argc - optind : 3;

    char *eal[] = {"bench_dp_e2e", "-l", "0-1", "--main-lcore", "0", "--no-pci", "--no-shconf",
                   "--no-telemetry", "--log-level=lib.eal:warning", "-m", "1024", "--no-huge", NULL};
    int eal_argc = hugepages ? 11 : 12;
    if (rte_eal_init(eal_argc, eal) < 0) {
        fprintf(stderr, "bench_dp_e2e: EAL init failed: %s%s\n", rte_strerror(rte_errno),
                hugepages ? " (reserve hugepages first: bench/run.sh --hugepages does)" : "");
        return 1;
    }
    struct rte_mempool *pool = rte_pktmbuf_pool_create("bench", MAX_TEMPLATES + 4096, 256, 0,
                                                       RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
    static struct rte_mbuf *tmpl[MAX_TEMPLATES];
    unsigned n_tmpl = pool ? build_templates(pool, files, n_files, frame_size, tmpl, MAX_TEMPLATES) : 0;
    if (!n_tmpl) {
        fprintf(stderr, "bench_dp_e2e: no frames (pool: %s)\n", pool ? "ok" : rte_strerror(rte_errno));
        return 1;
    }
    struct rte_ring *ring = rte_ring_create("bench_rx", ring_size, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    int port = ring ? rte_eth_from_ring(ring) : -1;
    struct cfg_port pc = {.name = "bench_ring", .rx_queues = 1, .rx_descriptors = 1024};
    char err[256];
    bool rss, l4;
    if (port < 0 || port_setup(&pc, (uint16_t)port, pool, &rss, &l4, err, sizeof err)) {
        fprintf(stderr, "bench_dp_e2e: cannot create the ring port: %s\n", port < 0 ? rte_strerror(rte_errno) : err);
        return 1;
    }

    static struct vigil_config cfg;   /* zeroed: allow any sender, no zones */
    cfg.allow_any_sender = true;
    struct senders *senders = senders_create(&cfg, (int)rte_socket_id(), err, sizeof err);
    static uint8_t listen[65536];
    listen[514] = LISTEN_SYSLOG;
    struct tap *tap = tap_path ? tap_open(tap_path, 1, err, sizeof err) : NULL;
    if (!senders || (tap_path && !tap)) {
        fprintf(stderr, "bench_dp_e2e: %s\n", err);
        return 1;
    }
    struct stats_block sb;
    if (stats_create(&sb, "/dev/shm/vigil-bench-e2e.stats", 1, 0)) {
        fprintf(stderr, "bench_dp_e2e: cannot create stats block\n");
        return 1;
    }
    static struct ruleset *rs;
    if (configs) {
        struct ruleset_config rc;
        ruleset_config_defaults(&rc);
        rc.detect_limits.no_anchors = no_anchors;
        snprintf(rc.parsers_dir, sizeof rc.parsers_dir, "%s/parsers", configs);
        snprintf(rc.rules_dir, sizeof rc.rules_dir, "%s/rules", configs);
        snprintf(rc.fieldmap, sizeof rc.fieldmap, "%s/fieldmap.yaml", configs);
        struct diag d;
        diag_init(&d);
        if (ruleset_load(&rc, &rs, &d) || ruleset_attach_workers(rs, 1)) {
            diag_print(&d, stderr);
            return 1;
        }
        diag_free(&d);
    }
    struct worker_env env = {.ruleset = configs ? (const struct ruleset *const *)&rs : NULL, .listen = listen, .senders = senders, .syslog_max_message = 65535, .tap = tap,
                             .stop = &stop, .burst = 32,
                             .reasm = {.max_flows = 1024, .timeout_ms = 2000, .max_fragments = 1024}};
    static struct worker w;
    if (worker_init(&w, 0, 1, &env, &sb.workers[0])) {
        fprintf(stderr, "bench_dp_e2e: worker init failed\n");
        return 1;
    }
    w.n_rx = 1;
    w.rx[0].port_id = (uint16_t)port;
    w.rx[0].queue = 0;
    rte_eal_remote_launch(worker_loop, &w, 1);

    printf("bench_dp_e2e: %u distinct frames of %u bytes, %s, %s, %s, %d rounds of %.1f s\n", n_tmpl, frame_size,
           hugepages ? "hugepages" : "no hugepages", rate > 0 ? "paced" : "closed loop",
           configs ? "parse+detect on" : "decode only", rounds, seconds);
    printf("%-6s %12s %10s %12s %12s\n", "round", "Mmsg/s", "ns/msg", "offered", "ring drops");
    double hz = (double)rte_get_tsc_hz(), results[100];
    struct worker_counters *c = &sb.workers[0];
    unsigned next = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t ev0 = c->syslog_events, offered = 0, dropped = 0;
        uint64_t t0 = rte_rdtsc(), end = t0 + (uint64_t)(seconds * hz);
        double tsc_per_burst = rate > 0 ? hz * GEN_BURST / rate : 0;
        double due = (double)t0;
        uint64_t now;
        while ((now = rte_rdtsc()) < end) {
            if (rate > 0 && (double)now < due)
                continue;
            struct rte_mbuf *b[GEN_BURST];
            for (int i = 0; i < GEN_BURST; i++) {
                b[i] = tmpl[next];
                next = next + 1 == n_tmpl ? 0 : next + 1;
                rte_mbuf_refcnt_update(b[i], 1);  /* the worker's free drops this reference */
            }
            unsigned sent = rte_ring_enqueue_burst(ring, (void **)b, GEN_BURST, NULL);
            for (unsigned i = sent; i < GEN_BURST; i++)
                rte_mbuf_refcnt_update(b[i], -1);
            offered += GEN_BURST;
            dropped += GEN_BURST - sent;
            if (rate > 0)
                due += tsc_per_burst;
            else if (sent < GEN_BURST) {
                offered -= GEN_BURST - sent;   /* closed loop: a refusal is back-pressure, not a drop */
                dropped -= GEN_BURST - sent;
                next = (next + n_tmpl - (GEN_BURST - sent)) % n_tmpl;
                rte_pause();
            }
        }
        /* let the worker drain what is queued before reading its counters */
        while (rte_ring_count(ring))
            rte_pause();
        double secs = (double)(rte_rdtsc() - t0) / hz;
        double mps = (double)(c->syslog_events - ev0) / secs;
        results[r] = mps;
        printf("%-6d %12.3f %10.1f %12.3f %12lu\n", r + 1, mps / 1e6, 1e9 / mps, (double)offered / secs / 1e6,
               (unsigned long)dropped);
    }
    stop = 1;
    rte_eal_mp_wait_lcore();
    qsort(results, (size_t)rounds, sizeof results[0], bench_cmp_double);
    double med = results[rounds / 2];
    uint64_t malformed = 0;
    for (int i = 1; i < PKT_DROP__COUNT; i++)
        malformed += c->malformed[i];
    printf("median: %.3f M msgs/s per worker core, %.1f ns/msg (events %lu, parsed %lu, signals %lu, malformed %lu)\n",
           med / 1e6, 1e9 / med, (unsigned long)c->syslog_events, (unsigned long)c->events_parsed,
           (unsigned long)c->signals, (unsigned long)malformed);
    worker_fini(&w);
    tap_close(tap);
    stats_close(&sb);
    return 0;
}
