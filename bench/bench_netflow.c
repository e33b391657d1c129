/* bench_netflow: flow records decoded per second on one core, NetFlow v5,
 * v9 and IPFIX.
 *
 *   bench_netflow [CORPUS_NETFLOW_DIR [SECONDS_PER_ROUND]]
 *
 * Templates are real ones from the corpus, learned before timing starts
 * from the exporter's own template packet:
 *   v9     Cisco ASR 9000 template 260 (23 fields, 65-byte records, sysUptime
 *          times, sampler id looked up per record)
 *          logstash-codec-netflow/netflow9_test_cisco_asr9k_tpl260.dat
 *   IPFIX  Cisco ASR 9000 IOS XR template 260 (33 fields incl. MPLS labels,
 *          103-byte records, millisecond times) from pmacct's
 *          100-IPFIXv10-CISCO/traffic-00.pcap
 *   IPFIX  OpenBSD pflow template 256 (12 fields, 54-byte records)
 *   IPFIX  Citrix NetScaler template 258 (39 fields, 12 of them
 *          variable-length enterprise strings): the field-by-field path
 * Data packets are synthesized for those templates: 30 records each, varied
 * addresses, ports, counters and times, 256 distinct packets per set, in
 * order sequence numbers.  v5 packets are synthesized the same way (30
 * records, the v5 maximum).  Each set is timed for ROUNDS rounds of
 * SECONDS_PER_ROUND; the median is printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/netflow.h"
#include "bench/bench_common.h"

#define ROUNDS 7
#define NPKT 256
#define RECS_PER_PKT 30
#define NS 1000000000LL

static void die(const char *what)
{
    fprintf(stderr, "bench_netflow: %s: %s\n", what, errno ? strerror(errno) : "failed");
    exit(1);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    if (fseek(f, 0, SEEK_END) != 0)
        die(path);
    long sz = ftell(f);
    if (sz < 0)
        die(path);
    rewind(f);
    uint8_t *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz)
        die(path);
    fclose(f);
    *len = (size_t)sz;
    return buf;
}

static uint16_t g16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t g32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* xorshift: the same packets on every run */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

struct buf {
    uint8_t *b;
    size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->cap + n) * 2;
        b->b = realloc(b->b, b->cap);
        if (!b->b)
            die("realloc");
    }
    memcpy(b->b + b->n, d, n);
    b->n += n;
}
static void put8(struct buf *b, unsigned v) { uint8_t x = (uint8_t)v; put(b, &x, 1); }
static void put16(struct buf *b, unsigned v) { put8(b, v >> 8); put8(b, v); }
static void put32(struct buf *b, uint32_t v) { put16(b, v >> 16); put16(b, v & 0xffff); }
static void putn(struct buf *b, uint64_t v, unsigned len)
{
    for (unsigned i = len; i-- > 0;)
        put8(b, (unsigned)(i < 8 ? v >> (8 * i) : 0));
}

/* ---- templates from the corpus ---------------------------------------------------- */

struct field {
    uint16_t ie, len;
    uint32_t pen;
};

struct tpl {
    const char *name;
    uint8_t version;
    uint16_t id;
    uint32_t domain;
    uint32_t n;
    struct field f[128];
    uint8_t *pkt;         /* the exporter's packet that defines it */
    size_t pkt_len;
};

/* Finds template id in a v9 / IPFIX datagram and copies its fields. */
static int find_template(const uint8_t *p, size_t len, struct tpl *t)
{
    unsigned v = g16(p);
    size_t off = v == 9 ? 20 : 16, end = v == 9 ? len : g16(p + 2);
    t->version = (uint8_t)v;
    t->domain = v == 9 ? g32(p + 16) : g32(p + 12);
    while (off + 4 <= end) {
        unsigned sid = g16(p + off), slen = g16(p + off + 2);
        if (slen < 4 || off + slen > end)
            return -1;
        if ((v == 9 && sid == 0) || (v == 10 && sid == 2)) {
            size_t o = off + 4;
            while (o + 4 <= off + slen) {
                unsigned id = g16(p + o), cnt = g16(p + o + 2);
                o += 4;
                t->n = 0;
                for (unsigned i = 0; i < cnt && o + 4 <= off + slen; i++) {
                    struct field f = {g16(p + o), g16(p + o + 2), 0};
                    o += 4;
                    if (v == 10 && (f.ie & 0x8000)) {
                        f.pen = g32(p + o);
                        f.ie &= 0x7fff;
                        o += 4;
                    }
                    if (t->n < 128)
                        t->f[t->n++] = f;
                }
                if (id == t->id)
                    return 0;
            }
        }
        off += slen;
    }
    return -1;
}

/* The first UDP payload of a classic little-endian pcap (Ethernet/IPv4). */
static uint8_t *pcap_first_payload(const char *path, size_t *len)
{
    size_t n;
    uint8_t *f = slurp(path, &n);
    size_t off = 24;
    while (off + 16 <= n) {
        uint32_t caplen = f[off + 8] | f[off + 9] << 8 | f[off + 10] << 16 | (uint32_t)f[off + 11] << 24;
        const uint8_t *fr = f + off + 16;
        off += 16 + caplen;
        if (caplen < 42 || g16(fr + 12) != 0x0800 || fr[23] != 17)
            continue;
        size_t ip = 14, udp = ip + (size_t)(fr[ip] & 15) * 4;
        size_t ulen = g16(fr + udp + 4);
        uint8_t *out = malloc(ulen - 8);
        memcpy(out, fr + udp + 8, ulen - 8);
        *len = ulen - 8;
        free(f);
        return out;
    }
    die(path);
    return NULL;
}

/* One synthesized value for a field, by what it means. */
static void synth_field(struct buf *b, const struct field *f, uint32_t uptime, uint64_t now_ms)
{
    if (f->len == 65535) {   /* variable length: a short string */
        put8(b, 8);
        put(b, "abcdefgh", 8);
        return;
    }
    uint64_t v;
    switch (f->pen ? 0 : f->ie) {
    case 8: case 12: v = 0x0a000000u | (rnd() & 0xffffff); break;
    case 27: case 28: {
        uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
        uint32_t r = rnd();
        memcpy(a + 12, &r, 4);
        put(b, a, f->len == 16 ? 16 : 0);
        if (f->len != 16)
            putn(b, 0, f->len);
        return;
    }
    case 7: case 11: v = 1024 + rnd() % 60000; break;
    case 4: v = rnd() & 1 ? 6 : 17; break;
    case 1: case 85: v = 40 + rnd() % 100000; break;
    case 2: case 86: v = 1 + rnd() % 100; break;
    case 21: v = uptime - rnd() % 1000; break;
    case 22: v = uptime - 1000 - rnd() % 60000; break;
    case 152: v = now_ms - 1000 - rnd() % 60000; break;
    case 153: v = now_ms - rnd() % 1000; break;
    case 10: case 14: v = rnd() % 512; break;
    case 48: case 302: v = 1; break;
    default: v = ((uint64_t)rnd() << 32) | rnd(); break;
    }
    putn(b, v, f->len);
}

struct pktset {
    const char *name;
    uint8_t *pkt[NPKT];
    size_t len[NPKT];
    size_t seq_off;       /* where the sequence number is */
    uint32_t seq_step;    /* per packet: 1 (v9) or records (v5, IPFIX) */
    size_t bytes;
    struct tpl *t;
};

static void synth_templated(struct pktset *s, struct tpl *t)
{
    s->t = t;
    s->seq_off = t->version == 9 ? 12 : 8;
    s->seq_step = t->version == 9 ? 1 : RECS_PER_PKT;
    uint32_t uptime = 900000000;
    uint32_t secs = 1700000000;
    for (unsigned k = 0; k < NPKT; k++) {
        struct buf b = {0};
        put16(&b, t->version);
        if (t->version == 9) {
            put16(&b, RECS_PER_PKT);
            put32(&b, uptime);
            put32(&b, secs);
            put32(&b, 0);
            put32(&b, t->domain);
        } else {
            put16(&b, 0);
            put32(&b, secs);
            put32(&b, 0);
            put32(&b, t->domain);
        }
        size_t set = b.n;
        put16(&b, t->id);
        put16(&b, 0);
        for (unsigned r = 0; r < RECS_PER_PKT; r++)
            for (unsigned i = 0; i < t->n; i++)
                synth_field(&b, &t->f[i], uptime, (uint64_t)secs * 1000);
        b.b[set + 2] = (uint8_t)((b.n - set) >> 8);
        b.b[set + 3] = (uint8_t)(b.n - set);
        if (t->version == 10) {
            b.b[2] = (uint8_t)(b.n >> 8);
            b.b[3] = (uint8_t)b.n;
        }
        if (b.n > 65535)
            die("packet too long");
        s->pkt[k] = b.b;
        s->len[k] = b.n;
        s->bytes += b.n;
        uptime += 1000;
        secs += 1;
    }
}

static void synth_v5(struct pktset *s)
{
    s->seq_off = 16;
    s->seq_step = RECS_PER_PKT;
    uint32_t uptime = 900000000, secs = 1700000000;
    for (unsigned k = 0; k < NPKT; k++) {
        struct buf b = {0};
        put16(&b, 5);
        put16(&b, RECS_PER_PKT);
        put32(&b, uptime);
        put32(&b, secs);
        put32(&b, 0);
        put32(&b, 0);
        put16(&b, 0);
        put16(&b, 0x4000 | 100);    /* 1 in 100, mode 1 */
        for (unsigned r = 0; r < RECS_PER_PKT; r++) {
            put32(&b, 0x0a000000u | (rnd() & 0xffffff));
            put32(&b, 0xc0a80000u | (rnd() & 0xffff));
            put32(&b, 0);
            put16(&b, rnd() % 64);
            put16(&b, rnd() % 64);
            put32(&b, 1 + rnd() % 100);
            put32(&b, 40 + rnd() % 100000);
            put32(&b, uptime - 1000 - rnd() % 60000);
            put32(&b, uptime - rnd() % 1000);
            put16(&b, 1024 + rnd() % 60000);
            put16(&b, rnd() & 1 ? 443 : 53);
            put8(&b, 0);
            put8(&b, 0x18);
            put8(&b, rnd() & 1 ? 6 : 17);
            put8(&b, 0);
            put16(&b, rnd() % 65536);
            put16(&b, rnd() % 65536);
            put8(&b, 24);
            put8(&b, 16);
            put16(&b, 0);
        }
        s->pkt[k] = b.b;
        s->len[k] = b.n;
        s->bytes += b.n;
        uptime += 1000;
        secs += 1;
    }
}

/* ---- timing ---------------------------------------------------------------------- */

static uint64_t sink;
static struct nf_record recs[64];

/* One round: passes over the set until secs have gone by; ns per record. */
static double round_ns(struct nf_decoder *d, struct pktset *s, uint32_t *seq, double secs,
                       uint64_t *records)
{
    struct nf_source src = {.addr = {.family = 4, .addr = {192, 0, 2, 1}}, .port = 2055};
    struct nf_output out = {recs, 64, 0, NULL, NULL};
    uint64_t n = 0, sum = 0;
    int64_t now = 1700000000LL * NS;
    double t0 = bench_now_s(), t;
    do {
        for (unsigned k = 0; k < NPKT; k++) {
            uint8_t *p = s->pkt[k];
            uint32_t q = *seq;
            p[s->seq_off] = (uint8_t)(q >> 24);
            p[s->seq_off + 1] = (uint8_t)(q >> 16);
            p[s->seq_off + 2] = (uint8_t)(q >> 8);
            p[s->seq_off + 3] = (uint8_t)q;
            *seq += s->seq_step;
            out.n = 0;
            nf_decode(d, p, s->len[k], &src, now, &out);
            for (uint32_t i = 0; i < out.n; i++)
                sum += recs[i].bytes ^ (uint64_t)recs[i].start_ns;
            n += out.n;
        }
        t = bench_now_s();
    } while (t - t0 < secs);
    sink += sum;
    *records = n;
    return (t - t0) * 1e9 / (double)n;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct result {
    double ns_rec, min, max;
};

static struct result bench_set(struct pktset *s, double secs)
{
    struct nf_config cfg;
    nf_config_default(&cfg);
    struct nf_decoder *d = nf_decoder_new(&cfg);
    if (!d)
        die("nf_decoder_new");
    struct nf_source src = {.addr = {.family = 4, .addr = {192, 0, 2, 1}}, .port = 2055};
    struct nf_output out = {recs, 64, 0, NULL, NULL};
    if (s->t)   /* the exporter's real template packet */
        nf_decode(d, s->t->pkt, s->t->pkt_len, &src, 1700000000LL * NS, &out);
    uint32_t seq = 1000;
    uint64_t n;
    double r[ROUNDS];
    round_ns(d, s, &seq, secs / 4, &n);     /* warm caches and predictors */
    const struct nf_counters *c = nf_decoder_counters(d);
    if (n == 0 || c->nf_data_sets_without_template)
        die("the data did not decode: template not learned");
    /* the first data packet may resynchronize against the template
     * packet's sequence number; after that everything is in order */
    struct nf_counters before = *c;
    for (int i = 0; i < ROUNDS; i++)
        r[i] = round_ns(d, s, &seq, secs, &n);
    if (c->nf_seq_gaps != before.nf_seq_gaps || c->nf_seq_resets != before.nf_seq_resets ||
        c->nf_malformed_set_length || c->nf_malformed_varlen || c->nf_records_dropped_output_full)
        die("unexpected counters");
    qsort(r, ROUNDS, sizeof r[0], cmpd);
    nf_decoder_free(d);
    return (struct result){r[ROUNDS / 2], r[0], r[ROUNDS - 1]};
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/corpus/netflow";
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    if (secs <= 0)
        secs = 1.0;
    char path[4096];

    static struct tpl v9 = {.name = "asr9k", .id = 260};
    snprintf(path, sizeof path, "%s/logstash-codec-netflow/netflow9_test_cisco_asr9k_tpl260.dat",
             dir);
    v9.pkt = slurp(path, &v9.pkt_len);
    if (find_template(v9.pkt, v9.pkt_len, &v9))
        die("v9 template 260 not found");

    static struct tpl ipx = {.name = "asr9k-ipfix", .id = 260};
    snprintf(path, sizeof path, "%s/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap", dir);
    ipx.pkt = pcap_first_payload(path, &ipx.pkt_len);
    if (find_template(ipx.pkt, ipx.pkt_len, &ipx))
        die("IPFIX template 260 not found");

    static struct tpl bsd = {.name = "pflow", .id = 256};
    snprintf(path, sizeof path, "%s/logstash-codec-netflow/ipfix_test_openbsd_pflow_tpl.dat", dir);
    bsd.pkt = slurp(path, &bsd.pkt_len);
    if (find_template(bsd.pkt, bsd.pkt_len, &bsd))
        die("IPFIX template 256 not found");

    static struct tpl ns = {.name = "netscaler", .id = 258};
    snprintf(path, sizeof path, "%s/logstash-codec-netflow/ipfix_test_netscaler_tpl.dat", dir);
    ns.pkt = slurp(path, &ns.pkt_len);
    if (find_template(ns.pkt, ns.pkt_len, &ns))
        die("IPFIX template 258 not found");

    static struct pktset sets[5];
    sets[0].name = "NetFlow v5";
    synth_v5(&sets[0]);
    sets[1].name = "NetFlow v9 ASR9k 260";
    synth_templated(&sets[1], &v9);
    sets[2].name = "IPFIX ASR9k 260";
    synth_templated(&sets[2], &ipx);
    sets[3].name = "IPFIX pflow 256";
    synth_templated(&sets[3], &bsd);
    sets[4].name = "IPFIX NetScaler 258 (varlen)";
    synth_templated(&sets[4], &ns);

    printf("bench_netflow: %d packets x %d records per set, %.2fs rounds, median of %d, one core\n",
           NPKT, RECS_PER_PKT, secs, ROUNDS);
    printf("\n%-30s %6s %9s %10s %12s %12s %12s\n", "set", "fields", "rec bytes", "ns/record",
           "M records/s", "min-max ns", "ns/packet");
    for (int i = 0; i < 5; i++) {
        struct pktset *s = &sets[i];
        struct result r = bench_set(s, secs);
        double rec_bytes = ((double)s->bytes / NPKT - (s->t ? (s->t->version == 9 ? 24 : 20) : 24)) /
                           RECS_PER_PKT;
        char mm[32];
        snprintf(mm, sizeof mm, "%.1f-%.1f", r.min, r.max);
        printf("%-30s %6u %9.1f %10.2f %12.2f %12s %12.0f\n", s->name, s->t ? s->t->n : 17u,
               rec_bytes, r.ns_rec, 1e3 / r.ns_rec, mm, r.ns_rec * RECS_PER_PKT);
    }
    printf("(checksum %016llx)\n", (unsigned long long)sink);
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < NPKT; k++)
            free(sets[i].pkt[k]);
    free(v9.pkt);
    free(ipx.pkt);
    free(bsd.pkt);
    free(ns.pkt);
    return 0;
}
