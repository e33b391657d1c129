/* bench_flow_rules: ns per flow record checked against flow rules, one core.
 *
 *   bench_flow_rules [--rounds N] [--seconds S] [FLOW_RULES_DIR]
 *
 * FLOW_RULES_DIR defaults to configs/flow-rules (run from the source tree).
 * Records: 256 synthesized flow records cycled through, shaped like an
 * edge exporter's output: mostly finished TCP connections (web, mail, ssh,
 * databases) and UDP (DNS, NTP, QUIC), some ICMP, a tenth IPv6, a fifth
 * with reverse counters (biflows), and a few percent of what the shipped
 * rules look for: SYN probes, refused connections (RST), flows touching a
 * blocklisted address, large uploads.  Rule sets timed:
 *   empty        flow_rules_eval with no rules: the call and loop overhead
 *   shipped      the pack in FLOW_RULES_DIR (list "blocklist" is bit 0)
 *   synthetic    100 generated rules of eight shapes (port sets, a 40-port
 *                bitmap, CIDR lists, counters, tcp.flags, reputation,
 *                "1 of" conditions) that seldom match
 *   both         shipped + synthetic
 * Each set runs ROUNDS rounds of SECONDS of thread CPU time each; the
 * median (and the range) of ns/record is printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/diag.h"
#include "engine/flow_rules.h"

/* 256 records (39 KiB) stay in L1 as a decoder's just-written output does;
 * a larger array would time cache misses on the records, not the rules. */
#define NREC 256

static void die(const char *what)
{
    fprintf(stderr, "bench_flow_rules: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

/* xorshift: the same records and rules on every run */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

/* CPU time of this thread: on a shared machine the time other processes
 * hold the core is not charged to the rules. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void v4(struct vigil_ip *ip, uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(ip, 0, sizeof *ip);
    ip->family = 4;
    ip->addr[0] = a, ip->addr[1] = b, ip->addr[2] = c, ip->addr[3] = d;
}

static void v6(struct vigil_ip *ip, uint32_t host)
{
    memset(ip, 0, sizeof *ip);
    ip->family = 6;
    ip->addr[0] = 0x20, ip->addr[1] = 0x01, ip->addr[2] = 0x0d, ip->addr[3] = 0xb8;
    memcpy(ip->addr + 12, &host, 4);
}

static struct nf_record recs[NREC];
static uint32_t rep_src[NREC], rep_dst[NREC];
static unsigned mix_count[8];
static const char *const mix_name[8] = {"tcp", "udp", "icmp", "syn probe", "rst", "blocklisted", "large upload",
                                        "ipv6"};

static void make_records(void)
{
    static const uint16_t tcp_ports[] = {443, 443, 443, 80, 22, 25, 993, 3306, 5432, 8080};
    static const uint16_t udp_ports[] = {53, 53, 53, 123, 443, 514, 161};
    for (unsigned i = 0; i < NREC; i++) {
        struct nf_record *r = &recs[i];
        memset(r, 0, sizeof *r);
        uint32_t x = rnd(), k = x % 100;
        bool out = rnd() % 2; /* inside -> outside, or the reverse */
        struct vigil_ip in, ext;
        v4(&in, 10, (uint8_t)(rnd() % 4), (uint8_t)rnd(), (uint8_t)(1 + rnd() % 250));
        v4(&ext, (uint8_t)(20 + rnd() % 180), (uint8_t)rnd(), (uint8_t)rnd(), (uint8_t)(1 + rnd() % 250));
        r->src = out ? in : ext;
        r->dst = out ? ext : in;
        r->src_port = (uint16_t)(32768 + rnd() % 28000);
        r->proto = 6;
        r->start_ns = 1700000000000000000LL + (int64_t)i * 1000000;
        r->end_ns = r->start_ns + (int64_t)(rnd() % 30000) * 1000000;
        r->export_ns = r->end_ns + 1000000000LL;
        v4(&r->observer, 192, 0, 2, 254);
        r->version = 10;
        r->present = NF_HAS_SRC_IP | NF_HAS_DST_IP | NF_HAS_SRC_PORT | NF_HAS_DST_PORT | NF_HAS_PROTO |
                     NF_HAS_BYTES | NF_HAS_PACKETS | NF_HAS_TCP_FLAGS | NF_HAS_START | NF_HAS_END;
        unsigned kind;
        if (k < 58) { /* finished TCP connection */
            kind = 0;
            r->dst_port = tcp_ports[rnd() % 10];
            r->packets = 5 + rnd() % 2000;
            r->bytes = r->packets * (60 + rnd() % 1400);
            r->tcp_flags = 0x1b; /* FSPA */
        } else if (k < 83) {
            kind = 1;
            r->proto = 17;
            r->dst_port = udp_ports[rnd() % 7];
            r->packets = 1 + rnd() % 20;
            r->bytes = r->packets * (60 + rnd() % 500);
            r->tcp_flags = 0;
        } else if (k < 86) {
            kind = 2;
            r->proto = 1;
            r->dst_port = 0x0800; /* echo request, v5-style type/code */
            r->packets = 1 + rnd() % 4;
            r->bytes = r->packets * 84;
            r->present &= ~(NF_HAS_SRC_PORT | NF_HAS_TCP_FLAGS);
        } else if (k < 91) {
            kind = 3;
            r->dst_port = (uint16_t)(1 + rnd() % 10000);
            r->packets = 1;
            r->bytes = 44;
            r->tcp_flags = 0x02;
        } else if (k < 94) {
            kind = 4;
            r->src_port = (uint16_t)(1 + rnd() % 10000);
            r->packets = 1;
            r->bytes = 40;
            r->tcp_flags = 0x14; /* RA */
        } else if (k < 96) {
            kind = 5;
            r->dst_port = 443;
            r->packets = 10 + rnd() % 100;
            r->bytes = r->packets * 500;
            r->tcp_flags = 0x1b;
            if (out)
                rep_dst[i] = 1;
            else
                rep_src[i] = 1;
        } else if (k < 97) {
            kind = 6;
            r->src = in;
            r->dst = ext;
            r->dst_port = 443;
            r->packets = 1000000;
            r->bytes = 1200000000ull + rnd();
            r->tcp_flags = 0x1b;
        } else {
            kind = 7; /* IPv6 web */
            v6(&r->src, rnd());
            v6(&r->dst, rnd());
            r->dst_port = 443;
            r->packets = 5 + rnd() % 200;
            r->bytes = r->packets * 900;
            r->tcp_flags = 0x1b;
        }
        if (kind != 3 && kind != 4 && kind != 6 && rnd() % 5 == 0) { /* biflow: about half each way */
            r->present |= NF_HAS_REVERSE;
            r->rev_packets = r->packets / 2;
            r->rev_bytes = r->bytes / 2;
        }
        mix_count[kind]++;
    }
}

/* 100 rules of eight shapes with random parameters; written to dir/synthetic.yml. */
static void make_synthetic(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/synthetic.yml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    for (int i = 0; i < 100; i++) {
        fprintf(f, "%stitle: Synthetic %d\nid: 00000000-0000-4000-8000-%012d\nlevel: low\n"
                   "logsource:\n  category: flow\ndetection:\n",
                i ? "---\n" : "", i, i);
        switch (i % 8) {
        case 0:
            fprintf(f, "  sel:\n    network.transport: tcp\n    destination.port: [%u, %u, %u]\n"
                       "    source.ip|cidr: [%u.0.0.0/8, 172.16.0.0/12]\n  condition: sel\n",
                    1000 + rnd() % 9000, 1000 + rnd() % 9000, 1000 + rnd() % 9000, 1 + rnd() % 9);
            break;
        case 1:
            fprintf(f, "  sel:\n    network.transport: udp\n    destination.port: %u\n    network.bytes|gt: %u\n"
                       "  condition: sel\n",
                    rnd() % 2 ? 53 : 2000 + rnd() % 1000, 100000 + rnd() % 100000);
            break;
        case 2:
            fprintf(f, "  dst:\n    destination.ip|cidr:\n");
            for (int k = 0; k < 5; k++)
                fprintf(f, "      - %u.%u.%u.0/24\n", 20 + rnd() % 180, rnd() % 256, rnd() % 256);
            fprintf(f, "  web:\n    destination.port: [80, 443]\n  condition: dst and not web\n");
            break;
        case 3:
            fprintf(f, "  sel:\n    network.transport: tcp\n    tcp.flags: [F, FA%s]\n    network.packets|lte: %u\n"
                       "  condition: sel\n",
                    rnd() % 2 ? ", FPA" : "", 1 + rnd() % 3);
            break;
        case 4:
            fprintf(f, "  sel:\n    network.transport: tcp\n    destination.port:\n");
            for (int k = 0; k < 40; k++)
                fprintf(f, "      - %u\n", 10000 + rnd() % 50000);
            fprintf(f, "  condition: sel\n");
            break;
        case 5:
            fprintf(f, "  src:\n    source.reputation: blocklist\n    destination.port: %u\n  condition: src\n",
                    rnd() % 1024);
            break;
        case 6:
            fprintf(f, "  long:\n    event.duration|gte: %u000000000\n    network.packets|lt: %u\n"
                       "  condition: long\n",
                    20 + rnd() % 100, 2 + rnd() % 5);
            break;
        default:
            fprintf(f, "  sel_a:\n    destination.port: %u\n    network.transport: tcp\n"
                       "  sel_b:\n    source.port: %u\n    network.transport: udp\n"
                       "  sel_c:\n    destination.ip: 198.51.100.%u\n"
                       "  condition: 1 of sel_*\n",
                    rnd() % 1024, rnd() % 1024, rnd() % 256);
            break;
        }
    }
    if (fclose(f))
        die(path);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double med, min, max, match_rate;
};

static uint64_t sink;

static struct result run(const struct flow_ruleset *rs, int rounds, double seconds)
{
    double *r = calloc((size_t)rounds, sizeof *r);
    uint64_t matched = 0, checked = 0;
    if (!r)
        die("calloc");
    for (int k = 0; k < rounds; k++) {
        uint32_t out[16];
        uint64_t n = 0;
        int64_t t0 = now_ns(), t1, limit = (int64_t)(seconds * 1e9);
        do { /* the clock is a system call: read it every 64 passes */
            for (unsigned pass = 0; pass < 64; pass++)
                for (unsigned i = 0; i < NREC; i++) {
                    unsigned m = flow_rules_eval(rs, &recs[i], rep_src[i], rep_dst[i], out, 16);
                    matched += m;
                    sink += m ? out[0] : 0;
                }
            n += 64 * NREC;
            t1 = now_ns();
        } while (t1 - t0 < limit);
        r[k] = (double)(t1 - t0) / (double)n;
        checked += n;
    }
    qsort(r, (size_t)rounds, sizeof *r, cmpd);
    struct result res = {r[rounds / 2], r[0], r[rounds - 1], (double)matched / (double)checked};
    free(r);
    return res;
}

static struct flow_ruleset *load(const char *const *paths, unsigned n)
{
    static const char *const reps[] = {"blocklist"};
    struct diag d;
    diag_init(&d);
    struct flow_ruleset *rs = NULL;
    if (flow_rules_load(paths, n, reps, 1, NULL, &rs, &d) || d.errors) {
        diag_print(&d, stderr);
        die("loading flow rules");
    }
    diag_free(&d);
    return rs;
}

int main(int argc, char **argv)
{
    int rounds = 7;
    double seconds = 1.0;
    const char *dir = "configs/flow-rules";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(stderr, "usage: bench_flow_rules [--rounds N] [--seconds S] [FLOW_RULES_DIR]\n");
            return 2;
        }
    }
    if (rounds < 1 || seconds <= 0) {
        fprintf(stderr, "bench_flow_rules: --rounds >= 1, --seconds > 0\n");
        return 2;
    }
    char tmp[] = "/tmp/vigil-bench-flowrules-XXXXXX";
    if (!mkdtemp(tmp))
        die("mkdtemp");
    make_records();
    make_synthetic(tmp);

    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nbench_flow_rules: %d records cycled, %d rounds of %.2fs, median, one core\nmix:", NREC, rounds, seconds);
    for (int k = 0; k < 8; k++)
        printf(" %s %.1f%%%s", mix_name[k], 100.0 * mix_count[k] / NREC, k < 7 ? "," : "\n");

    const char *shipped[] = {dir}, *synth[] = {tmp}, *both[] = {dir, tmp};
    struct flow_ruleset *sets[4] = {load(NULL, 0), load(shipped, 1), load(synth, 1), load(both, 2)};
    const char *names[4] = {"empty", "shipped", "synthetic", "shipped+synthetic"};
    printf("\n%-20s %6s %10s %14s %12s %10s\n", "rules", "count", "ns/record", "range", "M records/s", "matches/rec");
    for (int s = 0; s < 4; s++) {
        struct result r = run(sets[s], rounds, seconds);
        char mm[32];
        snprintf(mm, sizeof mm, "%.2f-%.2f", r.min, r.max);
        printf("%-20s %6u %10.2f %14s %12.1f %10.3f\n", names[s], flow_rules_count(sets[s]), r.med, mm, 1e3 / r.med,
               r.match_rate);
        fflush(stdout);
        flow_rules_free(sets[s]);
    }
    printf("(checksum %016llx)\n", (unsigned long long)sink);
    char path[512];
    snprintf(path, sizeof path, "%s/synthetic.yml", tmp);
    unlink(path);
    rmdir(tmp);
    return 0;
}
