/* Microbench: pkt_decode on a 256-byte syslog IPv4/UDP frame (and, for
 * comparison, a QinQ IPv6 frame with two extension headers).  Prints ns/frame,
 * median of 7 runs.  Usage: bench_dp_pkt_decode [ITERATIONS_PER_RUN] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/pktcraft.h"
#include "dataplane/pkt_decode.h"
#include "bench/bench_common.h"

#define RUNS 7

static double bench(const char *name, const uint8_t *frame, uint32_t len, long iters)
{
    double runs[RUNS];
    volatile uint32_t sink = 0;
    struct pkt_info pi;
    if (pkt_decode(frame, len, &pi) != PKT_KIND_UDP) {
        fprintf(stderr, "%s: frame does not decode as UDP (%s)\n", name,
                pkt_drop_reason_name(pi.drop_reason));
        exit(1);
    }
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_ns();
        for (long i = 0; i < iters; i++) {
            pkt_decode(frame, len, &pi);
            sink += pi.payload_len;
            __asm__ volatile("" ::: "memory");   /* keep each decode */
        }
        runs[r] = (bench_now_ns() - t0) / (double)iters;
    }
    qsort(runs, RUNS, sizeof runs[0], bench_cmp_double);
    printf("%-34s %4u bytes  %6.2f ns/frame (median of %d x %ld; min %.2f max %.2f)\n", name, len,
           runs[RUNS / 2], RUNS, iters, runs[0], runs[RUNS - 1]);
    (void)sink;
    return runs[RUNS / 2];
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 20000000;
    if (iters <= 0)
        iters = 20000000;
    static uint8_t frame[PKTCRAFT_MAX_FRAME];
    char msg[256];
    const char *line = "<34>Oct 11 22:14:15 fw01 sshd[4721]: Failed password for invalid user admin "
                       "from 203.0.113.45 port 52144 ssh2";
    struct pktcraft_opts o;

    pktcraft_opts_init(&o);
    pktcraft_parse_ip("198.51.100.7", &o.src);
    pktcraft_parse_ip("192.0.2.1", &o.dst);
    size_t plen = 256 - 14 - 20 - 8;
    memset(msg, ' ', sizeof msg);
    memcpy(msg, line, strlen(line));
    size_t n = pktcraft_udp_frame(&o, msg, plen, frame, sizeof frame);
    bench("ipv4/udp syslog", frame, (uint32_t)n, iters);

    pktcraft_opts_init(&o);
    pktcraft_parse_ip("2001:db8::7", &o.src);
    pktcraft_parse_ip("2001:db8::1", &o.dst);
    o.n_vlan = 2;
    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;
    o.ext[1] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = 2;
    plen = 256 - 22 - 40 - 16 - 8;
    n = pktcraft_udp_frame(&o, msg, plen, frame, sizeof frame);
    bench("qinq ipv6/hbh+dstopts/udp syslog", frame, (uint32_t)n, iters);
    return 0;
}
