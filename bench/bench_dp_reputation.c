/* Bench: IP reputation tables (dataplane/reputation.c).
 *
 * Generates N4 random IPv4 prefixes (/16../32, as the unit test) and N6 random
 * IPv6 prefixes (mostly /48, /56, /64 and /128) into 4 list files, then measures:
 *   - reputation_build() time (median of ROUNDS builds),
 *   - reputation_lookup() ns per address for IPv4/IPv6 hits and misses, one
 *     address at a time as the NetFlow path calls it (median of ROUNDS passes
 *     over 1 M random addresses prepared beforehand: hits inside a random
 *     listed prefix, misses drawn at random and kept when no list has them).
 * Usage: bench_dp_reputation [--v4 N4] [--v4-depths MIN-MAX] [--v6 N6] [--rounds R]
 *                            [--mem MB] [--dir DIR]
 * Runs the EAL without hugepages (-m MB, default 2048): with hugepages lookups
 * miss the TLB less, so figures here are an upper bound. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_memory.h>

#include "dataplane/reputation.h"
#include "bench/bench_common.h"

#define LISTS 4
#define PROBES (1u << 20)
#define MAX_ROUNDS 31

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t rnd32(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return v[n / 2];
}

struct v6p {
    uint8_t a[16];
    uint8_t depth;
};

static unsigned min4 = 16, max4 = 32;   /* IPv4 prefix lengths drawn from min4..max4 */
static uint32_t *nets4;
static uint8_t *depth4;
static struct v6p *nets6;

/* IPv6 addresses in 2000::/3; half under 64 shared /24s, so prefixes nest
 * (real allocations cluster under a few registries' blocks). */
static void rand6(uint8_t a[16])
{
    for (int i = 0; i < 16; i += 4) {
        uint32_t x = rnd32();
        for (int k = 0; k < 4; k++)
            a[i + k] = (uint8_t)(x >> (8 * k));
    }
    a[0] = (uint8_t)(0x20 | (a[0] & 0x1f));
    if (a[15] & 1) {
        a[0] = 0x2a;
        a[1] = (uint8_t)(rnd32() % 64);
        a[2] = 0x10;
    }
}

/* Depth mix of IPv6 feeds: a few allocations, many sites, subnets and hosts. */
static unsigned rand_depth6(void)
{
    unsigned x = rnd32() % 100;
    return x < 5 ? 32 : x < 35 ? 48 : x < 45 ? 56 : x < 80 ? 64 : x < 95 ? 128 : 25 + rnd32() % 104;
}

static void mask6(uint8_t a[16], unsigned d)
{
    for (unsigned b = d; b < 128; b++)
        a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

static void write_lists(const char *dir, struct reputation_list_config *l, unsigned n4, unsigned n6)
{
    FILE *f[LISTS];
    for (unsigned i = 0; i < LISTS; i++) {
        memset(&l[i], 0, sizeof l[i]);
        snprintf(l[i].name, sizeof l[i].name, "bench%u", i);
        snprintf(l[i].path, sizeof l[i].path, "%s/bench%u.txt", dir, i);
        f[i] = fopen(l[i].path, "w");
        if (!f[i]) {
            perror(l[i].path);
            exit(1);
        }
    }
    for (unsigned i = 0; i < n4; i++) {
        unsigned d = min4 + rnd32() % (max4 - min4 + 1);
        uint32_t m = d ? ~0u << (32 - d) : 0;
        nets4[i] = rnd32() & m;
        depth4[i] = (uint8_t)d;
        fprintf(f[rnd32() % LISTS], "%u.%u.%u.%u/%u\n", nets4[i] >> 24, (nets4[i] >> 16) & 255,
                (nets4[i] >> 8) & 255, nets4[i] & 255, d);
    }
    for (unsigned i = 0; i < n6; i++) {
        unsigned d = rand_depth6();
        rand6(nets6[i].a);
        mask6(nets6[i].a, d);
        nets6[i].depth = (uint8_t)d;
        char txt[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, nets6[i].a, txt, sizeof txt);
        fprintf(f[rnd32() % LISTS], "%s/%u\n", txt, d);
    }
    for (unsigned i = 0; i < LISTS; i++)
        fclose(f[i]);
}

/* ns per reputation_lookup() over probes[], median of rounds; *hit_rate is the
 * share of non-zero answers, to show the probes are what they claim. */
static double time_lookups(const struct reputation *r, const struct vigil_ip *probes, int rounds, double *hit_rate)
{
    double t[MAX_ROUNDS];
    volatile uint32_t sink = 0;
    unsigned hits = 0;
    for (unsigned i = 0; i < PROBES; i++)
        hits += reputation_lookup(r, &probes[i]) != 0;
    *hit_rate = (double)hits / PROBES;
    for (int k = 0; k < rounds; k++) {
        double t0 = bench_now_ns();
        uint32_t acc = 0;
        for (unsigned i = 0; i < PROBES; i++)
            acc += reputation_lookup(r, &probes[i]);
        t[k] = (bench_now_ns() - t0) / PROBES;
        sink += acc;
    }
    (void)sink;
    return median(t, rounds);
}

/* The same through reputation_lookup_bulk(), `batch` addresses per call. */
static double time_bulk(const struct reputation *r, const struct vigil_ip *probes, unsigned batch, int rounds)
{
    double t[MAX_ROUNDS];
    static uint32_t masks[PROBES];
    volatile uint32_t sink = 0;
    for (int k = 0; k < rounds; k++) {
        double t0 = bench_now_ns();
        for (unsigned i = 0; i < PROBES; i += batch)
            reputation_lookup_bulk(r, probes + i, masks + i, PROBES - i < batch ? PROBES - i : batch);
        t[k] = (bench_now_ns() - t0) / PROBES;
        sink += masks[k];
    }
    (void)sink;
    return median(t, rounds);
}

int main(int argc, char **argv)
{
    unsigned n4 = 1000000, n6 = 100000;
    int rounds = 5;
    const char *mem = "2048", *dir_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--v4") && i + 1 < argc)
            n4 = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--v6") && i + 1 < argc)
            n6 = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--v4-depths") && i + 1 < argc &&
                 sscanf(argv[i + 1], "%u-%u", &min4, &max4) == 2 && min4 <= max4 && max4 <= 32)
            i++;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mem") && i + 1 < argc)
            mem = argv[++i];
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--v4 N4] [--v4-depths MIN-MAX] [--v6 N6] [--rounds R] [--mem MB] "
                    "[--dir DIR]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1 || rounds > MAX_ROUNDS)
        rounds = 5;
    char *eal[] = {argv[0], "-l", "0", "--no-huge", "--no-pci", "-m", (char *)mem, "--no-shconf",
                   "--no-telemetry", "--log-level=lib.eal:warning", NULL};
    if (rte_eal_init(10, eal) < 0) {
        fprintf(stderr, "rte_eal_init: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    char dir[] = "/tmp/vigil-bench-rep-XXXXXX";
    if (!dir_arg && !mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    nets4 = malloc((n4 ? n4 : 1) * sizeof *nets4);
    depth4 = malloc(n4 ? n4 : 1);
    nets6 = malloc((n6 ? n6 : 1) * sizeof *nets6);
    struct vigil_ip *probes = malloc(PROBES * sizeof *probes);
    if (!nets4 || !depth4 || !nets6 || !probes)
        return 1;
    struct reputation_list_config l[LISTS];
    write_lists(dir_arg ? dir_arg : dir, l, n4, n6);

    printf("$");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\nbench_dp_reputation: %u IPv4 prefixes (/%u../%u), %u IPv6 prefixes (/32../128), "
           "%d lists, no hugepages (-m %s), median of %d\n", n4, min4, max4, n6, LISTS, mem, rounds);
    double bt[MAX_ROUNDS], pt[MAX_ROUNDS];
    struct reputation *r = NULL;
    char err[512];
    for (int k = 0; k < rounds; k++) {
        if (r)
            reputation_free(r);
        r = NULL;
        if (reputation_build(l, LISTS, SOCKET_ID_ANY, &r, err, sizeof err)) {
            fprintf(stderr, "build: %s\n", err);
            return 1;
        }
        bt[k] = r->stats.build_ns / 1e6;
        pt[k] = r->stats.parse_ns / 1e6;
    }
    const struct reputation_stats *st = reputation_get_stats(r);
    printf("build %u+%u prefixes: %.0f ms (parse %.0f ms); in tables %llu v4 + %llu v6; "
           "tbl8 groups %llu v4, %llu v6; memory %.0f MiB\n",
           n4, n6, median(bt, rounds), median(pt, rounds), (unsigned long long)st->prefixes4,
           (unsigned long long)st->prefixes6, (unsigned long long)st->tbl8_groups4,
           (unsigned long long)st->tbl8_groups6, st->memory_bytes / 1048576.0);

    struct {
        const char *what;
        int family;
        int hit;
    } cases[] = {{"ipv4 hit", 4, 1}, {"ipv4 miss", 4, 0}, {"ipv6 hit", 6, 1}, {"ipv6 miss", 6, 0}};
    for (unsigned c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        unsigned n = cases[c].family == 4 ? n4 : n6;
        if (n == 0)
            continue;                                  /* no table of that family */
        for (unsigned i = 0; i < PROBES; i++) {
            struct vigil_ip *p = &probes[i];
            unsigned tries = 0;
            do {
                memset(p, 0, sizeof *p);
                p->family = (uint8_t)cases[c].family;
                if (cases[c].family == 4) {
                    uint32_t a = rnd32();
                    if (cases[c].hit) {
                        unsigned k = rnd32() % n;
                        a = nets4[k] | (depth4[k] ? a & ~(~0u << (32 - depth4[k])) : a);
                    }
                    p->addr[0] = (uint8_t)(a >> 24);
                    p->addr[1] = (uint8_t)(a >> 16);
                    p->addr[2] = (uint8_t)(a >> 8);
                    p->addr[3] = (uint8_t)a;
                } else {
                    uint8_t rnd[16];
                    rand6(rnd);
                    const struct v6p *s = cases[c].hit ? &nets6[rnd32() % n] : NULL;
                    for (unsigned b = 0; b < 128; b++) {
                        uint8_t m = (uint8_t)(0x80u >> (b % 8));
                        uint8_t src = s && b < s->depth ? s->a[b / 8] : rnd[b / 8];
                        p->addr[b / 8] = (uint8_t)((p->addr[b / 8] & ~m) | (src & m));
                    }
                }
            } while (!cases[c].hit && reputation_lookup(r, p) != 0 && ++tries < 1000);
        }
        double rate;
        double ns = time_lookups(r, probes, rounds, &rate);
        double bulk = time_bulk(r, probes, 32, rounds);
        printf("lookup %-10s %6.1f ns/address one at a time, %6.1f ns in bursts of 32 (%.0f%% of probes listed)\n",
               cases[c].what, ns, bulk, rate * 100);
    }
    reputation_free(r);
    if (!dir_arg) {
        for (unsigned i = 0; i < LISTS; i++)
            unlink(l[i].path);
        rmdir(dir);
    }
    free(probes);
    free(nets4);
    free(depth4);
    free(nets6);
    rte_eal_cleanup();
    return 0;
}
