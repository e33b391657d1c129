/* bench_cp_correlate: signals correlated per second on one core.
 *
 *   bench_cp_correlate [--keys N] [--signals N] [--rounds N] [--max-keys N] [--seed S]
 *
 * Defaults: 100000 source addresses, 4000000 signals per round, 7 rounds,
 * max_keys 1048576 (vigil-cp's default; the pack opens about four windows
 * per active address).
 *
 * Rules: a realistic pack written the way the shipped one is: SSH brute
 * force (event_count, two detection rules, by source.ip), port scan
 * (value_count of destination.port, two firewall rules, by source.ip), sudo
 * failures (event_count by user.name), port scan then web traversal
 * (temporal_ordered chained on the port scan, by an alias) and a login after
 * failures (temporal_ordered by source.ip).
 *
 * Signals: the mix a perimeter appliance sees (40% firewall denies and SYN
 * probes on 1024 ports, 35% SSH failures, 10% web traversal, 5% sudo over
 * 1000 users, 5% SSH logins, 5% from rules no correlation references), from
 * source addresses drawn uniformly from --keys (uniform is the worst case
 * for caches), event time advancing 10 us per signal (100 k signals/s of
 * traffic, so a key sees about one signal a second).  Signals are prepared
 * in a 64 Ki ring before timing; the loop sets time and source address of
 * 32 at a time, as vigil-cp's copy out of its ring would, feeds them with
 * corr_feed_burst (and, second, corr_feed one by one) and calls
 * corr_expire(4096 units) every 4096 signals as vigil-cp's tick does.  Each
 * run warms one engine up with a round's signals first (full table, pages
 * mapped), then times the rounds in that steady state.
 *
 * Rates are per second of the thread's CPU time (CLOCK_THREAD_CPUTIME_ID),
 * so other processes on a shared machine do not count against it; the wall
 * clock rate is shown beside it.
 *
 * Output: per round the rate, then the median, fires, windows open,
 * evictions and memory per key (one window slot).  A third run with ten
 * times as many addresses as max_keys shows the cost of eviction under a
 * flood of new addresses.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include "engine/diag.h"
#include "engine/signal.h"
#include "mgmt/corr_rules.h"
#include "mgmt/correlate.h"
#include "bench/bench_common.h"

enum { D_FW_DENY, D_FW_SYN, D_SSH_FAIL, D_SSH_INVALID, D_SSH_OK, D_WEB_TRAV, D_SUDO, D_OTHER, D_COUNT };

static const char *const det_names[D_COUNT] = {"fw_deny",   "fw_syn",    "ssh_fail", "ssh_invalid",
                                               "ssh_ok",    "web_trav",  "sudo_fail", "other"};

static const char RULES[] =
    "title: SSH brute force\nid: 0b6c2f8a-5d4e-4a19-8c37-9e1f2a3b4c5d\nlevel: high\n"
    "correlation:\n  type: event_count\n  rules: [ssh_fail, ssh_invalid]\n  group-by: [source.ip]\n"
    "  timespan: 5m\n  condition: {gte: 10}\n"
    "---\n"
    "title: Port scan\nid: 6f3a9d1e-2b7c-4e58-9a41-0c5d8e7f1b23\nname: port_scan\nlevel: high\n"
    "correlation:\n  type: value_count\n  rules: [fw_deny, fw_syn]\n  group-by: [source.ip]\n"
    "  timespan: 2m\n  condition: {field: destination.port, gte: 10}\n"
    "---\n"
    "title: Sudo failures\nid: 1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6\nlevel: medium\n"
    "correlation:\n  type: event_count\n  rules: [sudo_fail]\n  group-by: [user.name]\n"
    "  timespan: 10m\n  condition: {gte: 3}\n"
    "---\n"
    "title: Recon then web attack\nid: 9c1d7e3f-4a2b-4f6c-8d5e-1a2b3c4d5e6f\nlevel: critical\n"
    "correlation:\n  type: temporal_ordered\n  rules: [port_scan, web_trav]\n  group-by: [attacker]\n"
    "  timespan: 10m\n  aliases:\n    attacker: {port_scan: source.ip, web_trav: source.ip}\n"
    "---\n"
    "title: Login after failures\nid: 2a3b4c5d-6e7f-4a8b-9c0d-e1f2a3b4c5d6\nlevel: high\n"
    "correlation:\n  type: temporal_ordered\n  rules: [ssh_fail, ssh_ok]\n  group-by: [source.ip]\n"
    "  timespan: 30m\n";

#define RING     (1u << 16)
#define STEP_NS  10000LL
#define T0       (1700000000LL * 1000000000LL)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint64_t fires;
static void on_fire(const struct corr_fire *f, void *arg)
{
    (void)f, (void)arg;
    fires++;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_cp_correlate: %s\n", what);
    exit(1);
}

struct run {
    double median, best, worst;
    struct corr_counters c;
    uint64_t fires;
};

/* One engine, fed n signals untimed (so the table is full and the pages
 * are mapped: the steady state of a running vigil-cp), then rounds of n
 * signals timed.  burst: corr_feed_burst over 32 signals, as vigil-cp
 * drains a ring; else corr_feed one by one. */
static struct run run(const struct corr_ruleset *rs, struct vigil_signal *ring, uint32_t keys, uint64_t n,
                      unsigned rounds, uint32_t max_keys, bool burst)
{
    double *rate = calloc(rounds, sizeof *rate);
    struct run out;
    memset(&out, 0, sizeof out);
    if (!rate)
        die("out of memory");
    struct corr_config cfg;
    corr_config_default(&cfg);
    cfg.max_keys = max_keys;
    char err[128];
    struct corr_engine *e = corr_engine_new(rs, &cfg, on_fire, NULL, err, sizeof err);
    if (!e)
        die(err);
    int64_t t = T0;
    uint64_t id = 1, pos = 0;
    for (unsigned r = 0; r <= rounds; r++) {
        fires = 0;
        double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
        for (uint64_t i = 0; i < n; i += 32) {
            struct vigil_signal *s = &ring[pos & (RING - 1)];
            uint64_t ids[32];
            for (unsigned j = 0; j < 32; j++) {
                uint32_t a = htonl(0x0a000000u + (uint32_t)(rnd() % keys));
                memcpy(s[j].source_ip.addr, &a, 4);
                s[j].ts_ns = s[j].received_ns = t;
                t += STEP_NS;
                ids[j] = id++;
            }
            if (burst) {
                corr_feed_burst(e, s, ids, 32, 0);
            } else {
                for (unsigned j = 0; j < 32; j++)
                    corr_feed(e, &s[j], ids[j], 0);
            }
            pos += 32;
            if ((i & 4095) == 4064)
                corr_expire(e, 0, 4096, NULL);
        }
        double dt = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0, wall = clock_s(CLOCK_MONOTONIC) - w0;
        corr_stats(e, &out.c);
        if (r == 0) {
            printf("  warm-up: %.2f M signals/s, %llu windows open\n", (double)n / dt / 1e6,
                   (unsigned long long)out.c.windows_open);
            continue;
        }
        rate[r - 1] = (double)n / dt;
        out.fires += fires;
        printf("  round %u: %.2f M signals/s (%.0f ns/signal; wall clock %.2f M/s), %llu fires, %llu windows open, "
               "%llu evicted so far\n",
               r, rate[r - 1] / 1e6, dt * 1e9 / (double)n, (double)n / wall / 1e6, (unsigned long long)fires,
               (unsigned long long)out.c.windows_open, (unsigned long long)out.c.windows_evicted_full);
        fflush(stdout);
    }
    corr_engine_free(e);
    qsort(rate, rounds, sizeof *rate, bench_cmp_double);
    out.median = rate[rounds / 2];
    out.worst = rate[0];
    out.best = rate[rounds - 1];
    free(rate);
    return out;
}

static void report(const char *what, const struct run *a)
{
    printf("%s: median %.2f M signals/s (min %.2f, max %.2f); %llu fires; %llu windows open; %llu evicted; "
           "%llu bytes per key; %.1f MiB of tables\n",
           what, a->median / 1e6, a->worst / 1e6, a->best / 1e6, (unsigned long long)a->fires,
           (unsigned long long)a->c.windows_open, (unsigned long long)a->c.windows_evicted_full,
           (unsigned long long)a->c.window_bytes, (double)a->c.memory_bytes / (1 << 20));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    uint32_t keys = 100000, max_keys = 1u << 20;
    uint64_t n = 4000000;
    unsigned rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--keys"))
            keys = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--signals"))
            n = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--max-keys"))
            max_keys = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && !strcmp(argv[i], "--seed"))
            rng = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: %s [--keys N] [--signals N] [--rounds N] [--max-keys N] [--seed S]\n", argv[0]);
            return 2;
        }
    }
    if (!keys || !n || !rounds || !max_keys)
        die("--keys, --signals, --rounds and --max-keys must be positive");

    struct corr_detection det[D_COUNT];
    for (int k = 0; k < D_COUNT; k++) {
        memset(&det[k], 0, sizeof det[k]);
        det[k].name = det_names[k];
        for (int b = 0; b < 16; b++)
            det[k].uuid[b] = (uint8_t)(0x11 * (k + 1) + b);
    }
    struct diag d;
    diag_init(&d);
    struct corr_ruleset *rs = corr_ruleset_new();
    if (!rs || corr_load_buffer(rs, RULES, sizeof RULES - 1, "bench-rules.yml", &d) < 0)
        die("out of memory");
    unsigned nr = corr_ruleset_resolve(rs, det, D_COUNT, &d);
    if (d.errors || nr != 5) {
        diag_print(&d, stderr);
        die("rules did not load");
    }

    /* the signal mix, prepared once */
    struct vigil_signal *ring = calloc(RING, sizeof *ring);
    if (!ring)
        die("out of memory");
    for (uint32_t i = 0; i < RING; i++) {
        struct vigil_signal *s = &ring[i];
        unsigned pick = (unsigned)(rnd() % 100);
        int k = pick < 25 ? D_FW_DENY : pick < 40 ? D_FW_SYN : pick < 70 ? D_SSH_FAIL : pick < 75 ? D_SSH_INVALID
              : pick < 85 ? D_WEB_TRAV : pick < 90 ? D_SUDO : pick < 95 ? D_SSH_OK : D_OTHER;
        s->kind = SIGNAL_DETECTION;
        s->level = 3;
        memcpy(s->rule_uuid, det[k].uuid, 16);
        s->source_ip.family = 4;
        s->destination_ip.family = 4;
        uint32_t dst = htonl(0xc0a80000u + (uint32_t)(rnd() % 256));
        memcpy(s->destination_ip.addr, &dst, 4);
        s->observer.family = 4;
        s->observer.addr[0] = 192, s->observer.addr[3] = 1;
        s->source_port = (uint16_t)(1024 + rnd() % 60000);
        s->destination_port = k == D_FW_DENY || k == D_FW_SYN ? (uint16_t)(1 + rnd() % 1024)
                              : k == D_WEB_TRAV ? 80 : 22;
        if (k == D_SUDO || k == D_SSH_FAIL || k == D_SSH_OK)
            snprintf(s->user_name, sizeof s->user_name, "user%u", (unsigned)(rnd() % 1000));
    }

    printf("bench_cp_correlate: %u rules, %llu signals per round, %u rounds, one core\n", nr,
           (unsigned long long)n, rounds);
    printf("%u source addresses, max_keys %u, corr_feed_burst (32):\n", keys, max_keys);
    struct run a = run(rs, ring, keys, n, rounds, max_keys, true);
    report("burst", &a);
    printf("%u source addresses, max_keys %u, corr_feed one by one:\n", keys, max_keys);
    struct run b = run(rs, ring, keys, n, rounds, max_keys, false);
    report("single", &b);
    uint32_t flood = max_keys * 10u;
    printf("flood: %u source addresses, max_keys %u, corr_feed_burst (32):\n", flood, max_keys);
    struct run c = run(rs, ring, flood, n, rounds, max_keys, true);
    report("flood", &c);
    free(ring);
    corr_ruleset_free(rs);
    diag_free(&d);
    return 0;
}
