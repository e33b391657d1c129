/* bench_dp_flowpath: what a worker spends per flow record on its NetFlow
 * path, decode plus checks, through the production code (flow_handle_datagram
 * on a real struct worker), with and without a reputation set of 1 M
 * prefixes.
 *
 *   bench_dp_flowpath [--corpus DIR] [--prefixes N] [--rounds N] [--seconds S]
 *
 * Exports:
 *   v5     30-record NetFlow v5 datagrams: a mix of web, DNS and mail flows
 *          and one SYN-only probe in ten (so flow_syn_probe fires);
 *   v9     the Cisco ASR9k template 260 and data datagram of the corpus
 *          (logstash-codec-netflow), data replayed;
 *   IPFIX  the OpenBSD pflow template and data datagram of the corpus.
 * Checks: configs/flow-rules, and a list "blocklist" of N random IPv4
 * prefixes (default 1 000 000; 90% /32, 9.9% /24, 0.1% /16, about 2% of the
 * address space) built with reputation_build.
 * Signals go nowhere (no ring): their cost to fill is counted, not the
 * enqueue.  Prints ns per record and M records/s, medians of ROUNDS rounds
 * of at least SECONDS each.  Needs about 1.5 GB for the EAL without
 * hugepages (-m 2048 is passed).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>

#include "dataplane/config.h"
#include "dataplane/flowpath.h"
#include "dataplane/pkt_decode.h"
#include "dataplane/reputation.h"
#include "dataplane/stats.h"
#include "dataplane/worker.h"
#include "engine/flow_rules.h"
#include "engine/signal.h"
#include "bench/bench_common.h"

struct dgram {
    uint8_t *p;
    uint32_t len;
};

static uint8_t *load(const char *path, uint32_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *p = malloc(n);
    memcpy(p, buf, n);
    *len = (uint32_t)n;
    return p;
}

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* A v5 datagram of 30 flows; one in ten a SYN-only probe. */
static struct dgram v5_dgram(unsigned seed)
{
    struct dgram d = {calloc(1, 24 + 30 * 48), 24 + 30 * 48};
    put16(d.p, 5);
    put16(d.p + 2, 30);
    put32(d.p + 4, 3600000);
    put32(d.p + 8, (uint32_t)time(NULL));
    put32(d.p + 16, seed * 30);
    for (unsigned i = 0; i < 30; i++) {
        uint8_t *r = d.p + 24 + 48 * i;
        unsigned k = seed * 30 + i;
        uint8_t src[4] = {10, (uint8_t)(k >> 16), (uint8_t)(k >> 8), (uint8_t)k};
        uint8_t dst[4] = {(uint8_t)(20 + k % 180), (uint8_t)(k * 7), (uint8_t)(k * 13), (uint8_t)(k * 31)};
        memcpy(r, src, 4);
        memcpy(r + 4, dst, 4);
        bool probe = k % 10 == 0, dns = k % 3 == 1;
        put32(r + 16, probe ? 1 : dns ? 2 : 20 + k % 50);
        put32(r + 20, probe ? 44 : dns ? 140 : 8000 + k % 20000);
        put32(r + 24, 3500000);
        put32(r + 28, 3599000);
        put16(r + 32, 40000 + k % 20000);
        put16(r + 34, probe ? k % 1024 : dns ? 53 : 443);
        r[37] = probe ? 0x02 : dns ? 0 : 0x1b;
        r[38] = dns ? 17 : 6;
    }
    return d;
}

static double run_set(struct worker *w, const struct dgram *ds, unsigned n, unsigned records_per_round, int rounds,
                      double seconds)
{
    double r[64];
    struct pkt_info pi;
    memset(&pi, 0, sizeof pi);
    pi.src.family = 4;
    pi.src.addr[0] = 192;
    pi.src.addr[3] = 254;
    pi.src_port = 40000;
    for (int k = 0; k < rounds; k++) {
        double t0 = bench_now_s();
        uint64_t recs = 0;
        do {
            for (unsigned i = 0; i < n; i++)
                flow_handle_datagram(w, &pi, ds[i].p, ds[i].len);
            recs += records_per_round;
        } while (bench_now_s() - t0 < seconds);
        r[k] = (bench_now_s() - t0) * 1e9 / (double)recs;
    }
    qsort(r, (size_t)rounds, sizeof r[0], bench_cmp_double);
    return r[rounds / 2];
}

int main(int argc, char **argv)
{
    const char *corpus = "../shared/corpus";
    unsigned long prefixes = 1000000;
    int rounds = 5;
    double seconds = 0.5;
    static const struct option lo[] = {{"corpus", 1, NULL, 'c'},
                                       {"prefixes", 1, NULL, 'p'},
                                       {"rounds", 1, NULL, 'r'},
                                       {"seconds", 1, NULL, 's'},
                                       {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': corpus = optarg; break;
        case 'p': prefixes = strtoul(optarg, NULL, 10); break;
        case 'r': rounds = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        default:
            fprintf(stderr, "usage: bench_dp_flowpath [--corpus DIR] [--prefixes N] [--rounds N] [--seconds S]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64)
        rounds = 5;
    char *eal[] = {"bench_dp_flowpath", "--no-huge", "-m", "2048", "--no-pci", "--no-shconf", "--no-telemetry",
                   "--log-level=lib.eal:error", "-l", "0"};
    if (rte_eal_init(10, eal) < 0) {
        fprintf(stderr, "bench_dp_flowpath: EAL init failed\n");
        return 1;
    }

    /* the reputation list: random prefixes into a temp file */
    char list[] = "/tmp/vigil-bench-blocklist-XXXXXX";
    int fd = mkstemp(list);
    FILE *lf = fdopen(fd, "w");
    srandom(42);
    for (unsigned long i = 0; i < prefixes; i++) {
        uint32_t a = (uint32_t)random() ^ ((uint32_t)random() << 16);
        /* shaped like real blocklists: mostly hosts, some /24s, a few /16s
         * (about 2% of the address space listed) */
        long pick = random() % 1000;
        unsigned len = pick < 900 ? 32 : pick < 999 ? 24 : 16;
        fprintf(lf, "%u.%u.%u.%u/%u\n", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, len);
    }
    fclose(lf);

    struct diag d;
    diag_init(&d);
    const char *rules = "configs/flow-rules", *names[] = {"blocklist"};
    struct flow_checks plain = {0}, listed = {0};
    if (flow_rules_load(&rules, 1, names, 1, NULL, &plain.rules, &d)) {
        diag_print(&d, stderr);
        return 1;
    }
    listed.rules = plain.rules;
    struct reputation_list_config lc;
    memset(&lc, 0, sizeof lc);
    snprintf(lc.name, sizeof lc.name, "blocklist");
    snprintf(lc.path, sizeof lc.path, "%s", list);
    char err[512];
    double t0 = bench_now_s();
    if (reputation_build(&lc, 1, 0, &listed.rep, err, sizeof err)) {
        fprintf(stderr, "bench_dp_flowpath: %s\n", err);
        return 1;
    }
    double build_s = bench_now_s() - t0;
    unlink(list);
    unsigned nr = flow_rules_count(plain.rules);
    plain.n_workers = listed.n_workers = 1;
    plain.matches = calloc(nr, sizeof(uint64_t));
    listed.matches = calloc(nr, sizeof(uint64_t));
    plain.rep_hits = calloc(CFG_MAX_REP_LISTS, sizeof(uint64_t));
    listed.rep_hits = calloc(CFG_MAX_REP_LISTS, sizeof(uint64_t));

    /* a worker as vigil-dp sets it up, without ports or rings */
    static struct vigil_config cfg;
    nf_config_default(&cfg.nf);
    static struct worker_env env;
    env.nf = &cfg.nf;
    env.reasm.max_flows = 16;
    env.reasm.max_fragments = 64;
    env.reasm.timeout_ms = 1000;
    static struct worker w;
    static struct worker_counters c;
    if (worker_init(&w, 0, rte_lcore_id(), &env, &c)) {
        fprintf(stderr, "bench_dp_flowpath: worker_init failed\n");
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w.now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;

    /* v5 */
    static struct dgram v5[64];
    for (unsigned i = 0; i < 64; i++)
        v5[i] = v5_dgram(i);
    /* v9 and IPFIX: templates first, then the data datagram replayed */
    char p[4096];
    struct dgram v9t, v9d, ipt, ipd;
    snprintf(p, sizeof p, "%s/netflow/logstash-codec-netflow/netflow9_test_cisco_asr9k_tpl260.dat", corpus);
    v9t.p = load(p, &v9t.len);
    snprintf(p, sizeof p, "%s/netflow/logstash-codec-netflow/netflow9_test_cisco_asr9k_data260.dat", corpus);
    v9d.p = load(p, &v9d.len);
    snprintf(p, sizeof p, "%s/netflow/logstash-codec-netflow/ipfix_test_openbsd_pflow_tpl.dat", corpus);
    ipt.p = load(p, &ipt.len);
    snprintf(p, sizeof p, "%s/netflow/logstash-codec-netflow/ipfix_test_openbsd_pflow_data.dat", corpus);
    ipd.p = load(p, &ipd.len);
    struct pkt_info pi;
    memset(&pi, 0, sizeof pi);
    pi.src.family = 4;
    pi.src.addr[0] = 192;
    pi.src.addr[3] = 254;
    pi.src_port = 40000;
    w.fc = &plain;
    flow_handle_datagram(&w, &pi, v9t.p, v9t.len);
    flow_handle_datagram(&w, &pi, ipt.p, ipt.len);
    uint64_t before = c.netflow_records;
    flow_handle_datagram(&w, &pi, v9d.p, v9d.len);
    unsigned v9_recs = (unsigned)(c.netflow_records - before);
    before = c.netflow_records;
    flow_handle_datagram(&w, &pi, ipd.p, ipd.len);
    unsigned ip_recs = (unsigned)(c.netflow_records - before);
    if (!v9_recs || !ip_recs) {
        fprintf(stderr, "bench_dp_flowpath: the corpus data did not decode (v9 %u, IPFIX %u records)\n", v9_recs,
                ip_recs);
        return 1;
    }

    printf("bench_dp_flowpath: flow_handle_datagram on one worker; %u flow rules; reputation: %lu IPv4 prefixes "
           "(built in %.2f s); median of %d rounds of >= %.1f s\n",
           nr, prefixes, build_s, rounds, seconds);
    printf("%-34s %14s %14s %16s\n", "export", "ns/record", "M records/s", "+1M list ns/rec");
    struct {
        const char *name;
        const struct dgram *d;
        unsigned n, recs;
    } sets[] = {{"NetFlow v5 (30 flows/datagram)", v5, 64, 64 * 30},
                {"NetFlow v9 (Cisco ASR9k, corpus)", &v9d, 1, v9_recs},
                {"IPFIX (OpenBSD pflow, corpus)", &ipd, 1, ip_recs}};
    for (unsigned i = 0; i < 3; i++) {
        w.fc = &plain;
        double a = run_set(&w, sets[i].d, sets[i].n, sets[i].recs, rounds, seconds);
        w.fc = &listed;
        double b = run_set(&w, sets[i].d, sets[i].n, sets[i].recs, rounds, seconds);
        printf("%-34s %14.1f %14.1f %16.1f\n", sets[i].name, a, 1e3 / a, b);
    }
    printf("(flow signals filled: %llu; reputation hits: %llu)\n", (unsigned long long)c.flow_signals,
           (unsigned long long)c.flow_reputation_hits);
    worker_fini(&w);
    reputation_free(listed.rep);
    flow_rules_free(plain.rules);
    rte_eal_cleanup();
    return 0;
}
