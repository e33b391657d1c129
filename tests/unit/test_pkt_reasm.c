/* reasm on real mbufs: fragments crafted with bench/pktcraft, copied into
 * mbufs, fed through pkt_decode + reasm_feed; reassembled datagrams are
 * linearized and decoded again.  Every test checks what reassembly holds
 * (reasm_held: its own pool) and that all rx mbufs are back in the rx pool. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ip_frag.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "bench/pktcraft.h"
#include "dataplane/pkt_decode.h"
#include "dataplane/reasm.h"
#include "dataplane/stats.h"
#include "test_support.h"

#define POOL_SIZE 4095
#define MAX_FR    64

static struct rte_mempool *pool;
static struct worker_counters ctr;
static uint64_t hz;
static const uint64_t T0 = 1000000;   /* fake TSC start */

static uint8_t fbuf[1 << 20];
static struct pktcraft_frame fr[MAX_FR];
static char payload[70000];

static void setup_pool(uint16_t data_room)
{
    test_eal_init(NULL, 0);
    /* No per-lcore cache, so rte_mempool_avail_count is exact. */
    pool = rte_pktmbuf_pool_create("reasm_test", POOL_SIZE, 0, 0, data_room, rte_socket_id());
    cr_assert(pool, "pool: %s", rte_strerror(rte_errno));
    memset(&ctr, 0, sizeof ctr);
    hz = rte_get_tsc_hz();
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)(' ' + (i * 7 + i / 91) % 95);
}

static void setup(void)
{
    setup_pool(RTE_MBUF_DEFAULT_BUF_SIZE);
}

static struct reasm *mk(uint32_t max_flows, uint32_t timeout_ms)
{
    struct reasm_config cfg = {.max_flows = max_flows, .timeout_ms = timeout_ms, .max_fragments = 2048};
    struct reasm *r = reasm_create(&cfg, (int)rte_socket_id());
    cr_assert(r, "reasm_create: %s", rte_strerror(rte_errno));
    return r;
}

static uint64_t ms(uint64_t n)
{
    return hz / 1000 * n;
}

static void opts(struct pktcraft_opts *o, int v, uint32_t id)
{
    pktcraft_opts_init(o);
    pktcraft_parse_ip(v == 4 ? "198.51.100.7" : "2001:db8::7", &o->src);
    pktcraft_parse_ip(v == 4 ? "192.0.2.1" : "2001:db8::1", &o->dst);
    o->ip_id = id;
}

static int split(const struct pktcraft_opts *o, size_t len, unsigned mtu)
{
    int n = pktcraft_udp_fragments(o, payload, len, mtu, fbuf, sizeof fbuf, fr, MAX_FR);
    cr_assert_gt(n, 1, "not fragmented");
    return n;
}

/* Decodes a frame, copies it into an mbuf and feeds it.  Returns the
 * reassembled datagram, or NULL. */
static struct rte_mbuf *feed_frame(struct reasm *r, const uint8_t *data, uint32_t len, uint64_t now)
{
    struct pkt_info pi;
    enum pkt_kind k = pkt_decode(data, len, &pi);
    cr_assert(k == PKT_KIND_IPV4_FRAG || k == PKT_KIND_IPV6_FRAG, "kind %d (%s)", k,
              pkt_drop_reason_name(pi.drop_reason));
    struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
    cr_assert(m);
    char *p = rte_pktmbuf_append(m, (uint16_t)len);
    cr_assert(p);
    memcpy(p, data, len);
    struct rte_mbuf *out = reasm_feed(r, m, &pi, now, &ctr);
    /* reasm keeps a copy: the rx mbuf goes back to the rx pool at once. */
    cr_assert_eq(rte_mbuf_refcnt_read(m), 1);
    rte_pktmbuf_free(m);
    return out;
}

/* Linearizes the reassembled datagram, checks pkt_decode says UDP with the
 * original payload, and frees it. */
static void check_datagram(struct rte_mbuf *m, size_t len, int v)
{
    static uint8_t lin[70000];
    cr_assert(m);
    cr_assert_leq(m->pkt_len, sizeof lin);
    const uint8_t *p = rte_pktmbuf_read(m, 0, m->pkt_len, lin);
    cr_assert(p);
    struct pkt_info pi;
    enum pkt_kind k = pkt_decode(p, m->pkt_len, &pi);
    cr_assert_eq(k, PKT_KIND_UDP, "reassembled: kind %d (%s)", k, pkt_drop_reason_name(pi.drop_reason));
    cr_assert_eq(pi.ip_version, v);
    cr_assert_eq(pi.payload_len, len);
    cr_assert_eq(memcmp(p + pi.payload_off, payload, len), 0, "payload differs");
    cr_assert_eq(pi.payload_off + pi.payload_len, m->pkt_len, "padding left in the datagram");
    cr_assert_eq(pi.dst_port, 514);
    rte_pktmbuf_free(m);
}

static void run_order(int v, size_t len, unsigned mtu, const int *order, int n_order, int vlan)
{
    struct pktcraft_opts o;
    opts(&o, v, 77);
    o.n_vlan = (uint8_t)vlan;
    int n = split(&o, len, mtu);
    cr_assert_eq(n, n_order, "fragments: %d", n);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(64, 1000);
    struct rte_mbuf *out = NULL;
    for (int i = 0; i < n; i++) {
        struct rte_mbuf *m = feed_frame(r, fr[order[i]].data, fr[order[i]].len, T0 + (uint64_t)i);
        if (i < n - 1)
            cr_assert_null(m, "datagram complete after %d fragments", i + 1);
        else
            out = m;
    }
    check_datagram(out, len, v);
    reasm_tick(r, T0 + 10, &ctr);
    cr_assert_eq(v == 4 ? ctr.frag_ipv4_fragments : ctr.frag_ipv6_fragments, (uint64_t)n);
    cr_assert_eq(ctr.frag_reassembled, 1);
    cr_assert_eq(ctr.frag_dropped, 0);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, ipv4_in_order, .init = setup)
{
    const int order[] = {0, 1, 2};
    run_order(4, 4000, 1500, order, 3, 0);
}

Test(reasm, ipv4_out_of_order, .init = setup)
{
    const int order[] = {3, 1, 4, 0, 2};
    run_order(4, 6000, 1500, order, 5, 1);
}

Test(reasm, ipv4_last_first_eight_fragments, .init = setup)
{
    /* exactly RTE_LIBRTE_IP_FRAG_MAX_FRAG fragments still reassemble */
    const int order[] = {7, 6, 5, 4, 3, 2, 1, 0};
    run_order(4, 4000, 576, order, 8, 2);
}

Test(reasm, ipv4_with_options, .init = setup)
{
    static const uint8_t ipopts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    struct pktcraft_opts o;
    opts(&o, 4, 5);
    o.ip_opts = ipopts;
    o.ip_opts_len = sizeof ipopts;
    int n = split(&o, 3000, 1000);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 1000);
    struct rte_mbuf *out = NULL;
    for (int i = n - 1; i >= 0; i--)
        out = feed_frame(r, fr[i].data, fr[i].len, T0);
    check_datagram(out, 3000, 4);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, ipv6_in_order, .init = setup)
{
    const int order[] = {0, 1, 2, 3};
    run_order(6, 4000, 1280, order, 4, 0);
}

Test(reasm, ipv6_out_of_order, .init = setup)
{
    const int order[] = {2, 0, 3, 1};
    run_order(6, 4000, 1280, order, 4, 2);
}

/* Ethernet padding after the IP packet must not end up in the datagram. */
Test(reasm, padded_fragments, .init = setup)
{
    static uint8_t padded[MAX_FR][1600];
    for (int v = 4; v <= 6; v += 2) {
        struct pktcraft_opts o;
        opts(&o, v, 21);
        /* the last fragment carries 8 bytes; IPv4's is padded to 60 by pktcraft */
        size_t len = v == 4 ? 2 * 1472 : 2 * 1232;
        int n = split(&o, len, v == 4 ? 1492 : 1280);
        cr_assert_eq(n, 3);
        unsigned avail = rte_mempool_avail_count(pool);
        struct reasm *r = mk(8, 100);
        struct rte_mbuf *out = NULL;
        for (int i = n - 1; i >= 0; i--) {
            memcpy(padded[i], fr[i].data, fr[i].len);
            memset(padded[i] + fr[i].len, 0xee, 10);   /* junk trailer as well */
            out = feed_frame(r, padded[i], fr[i].len + 10, T0);
        }
        check_datagram(out, len, v);
        reasm_destroy(r);
        cr_assert_eq(rte_mempool_avail_count(pool), avail);
    }
}

/* DPDK keeps no byte map: a duplicated fragment makes the byte count exceed
 * the datagram length, and the whole datagram is dropped. */
Test(reasm, duplicated_fragment, .init = setup)
{
    struct pktcraft_opts o;
    opts(&o, 4, 9);
    int n = split(&o, 4000, 1500);
    cr_assert_eq(n, 3);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 100);
    const int order[] = {0, 1, 1, 2};
    for (int i = 0; i < 4; i++)
        cr_assert_null(feed_frame(r, fr[order[i]].data, fr[order[i]].len, T0));
    reasm_tick(r, T0 + 1, &ctr);
    cr_assert_eq(ctr.frag_dropped, 4);
    cr_assert_eq(ctr.frag_reassembled, 0);

    /* a duplicated first fragment drops what was held at once; the rest
     * starts a new datagram that never completes and times out */
    const int order2[] = {0, 0, 1, 2};
    memset(&ctr, 0, sizeof ctr);
    for (int i = 0; i < 4; i++)
        cr_assert_null(feed_frame(r, fr[order2[i]].data, fr[order2[i]].len, T0 + 2));
    reasm_tick(r, T0 + 3, &ctr);
    cr_assert_eq(ctr.frag_dropped, 2);
    reasm_tick(r, T0 + 3 + ms(101), &ctr);
    cr_assert_eq(ctr.frag_dropped, 4);
    cr_assert_eq(ctr.frag_reassembled, 0);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, overlapping_fragments, .init = setup)
{
    struct pktcraft_opts o;
    opts(&o, 4, 11);
    static uint8_t l4[4008];
    cr_assert_eq(pktcraft_udp_datagram(&o, payload, 4000, l4, sizeof l4), 4008);
    static uint8_t f[3][1600];
    size_t l0 = pktcraft_fragment(&o, l4, 0, 1480, true, f[0], sizeof f[0]);
    size_t l1 = pktcraft_fragment(&o, l4, 1472, 1480, true, f[1], sizeof f[1]);   /* overlaps 8 */
    size_t l2 = pktcraft_fragment(&o, l4, 2952, 4008 - 2952, false, f[2], sizeof f[2]);
    cr_assert(l0 && l1 && l2);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 100);
    cr_assert_null(feed_frame(r, f[0], (uint32_t)l0, T0));
    cr_assert_null(feed_frame(r, f[2], (uint32_t)l2, T0));
    cr_assert_null(feed_frame(r, f[1], (uint32_t)l1, T0));
    reasm_tick(r, T0 + ms(200), &ctr);
    cr_assert_eq(ctr.frag_dropped, 3);
    cr_assert_eq(ctr.frag_reassembled, 0);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, missing_fragment_times_out, .init = setup)
{
    struct pktcraft_opts o;
    opts(&o, 6, 12);
    int n = split(&o, 4000, 1280);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 50);
    for (int i = 0; i < n; i++)
        if (i != 1)
            cr_assert_null(feed_frame(r, fr[i].data, fr[i].len, T0));
    reasm_tick(r, T0 + ms(49), &ctr);
    cr_assert_eq(ctr.frag_dropped, 0);
    cr_assert_eq(reasm_held(r), (unsigned)(n - 1));
    reasm_tick(r, T0 + ms(51), &ctr);
    cr_assert_eq(ctr.frag_dropped, (uint64_t)(n - 1));
    cr_assert_eq(ctr.frag_timeout, (uint64_t)(n - 1));
    cr_assert_eq(reasm_held(r), 0);
    /* the late fragment starts a new entry, which times out in turn */
    cr_assert_null(feed_frame(r, fr[1].data, fr[1].len, T0 + ms(52)));
    reasm_tick(r, T0 + ms(200), &ctr);
    cr_assert_eq(ctr.frag_dropped, (uint64_t)n);
    cr_assert_eq(ctr.frag_reassembled, 0);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, more_than_max_fragments, .init = setup)
{
    struct pktcraft_opts o;
    opts(&o, 4, 13);
    int n = split(&o, 5000, 576);
    cr_assert_gt(n, RTE_LIBRTE_IP_FRAG_MAX_FRAG);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 100);
    for (int i = 0; i < n; i++)
        cr_assert_null(feed_frame(r, fr[i].data, fr[i].len, T0));
    reasm_tick(r, T0 + ms(101), &ctr);
    cr_assert_eq(ctr.frag_dropped, (uint64_t)n);
    cr_assert_eq(ctr.frag_reassembled, 0);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

/* A datagram reaching past 65535 bytes: pkt_decode rejects the fragment that
 * crosses the limit (frag_bad); the rest are fed and time out. */
Test(reasm, oversized_datagram, .init = setup)
{
    struct pktcraft_opts o;
    opts(&o, 4, 14);
    static uint8_t l4[80000];
    memset(l4, 'o', sizeof l4);
    cr_assert_eq(pktcraft_udp_datagram(&o, payload, 64000, l4, sizeof l4), 64008);
    /* jumbo-sized fragments so that fewer than 8 reach 65535 bytes */
    rte_mempool_free(pool);
    pool = rte_pktmbuf_pool_create("reasm_jumbo", 63, 0, 0, 9216 + RTE_PKTMBUF_HEADROOM, rte_socket_id());
    cr_assert(pool);
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 100);
    static uint8_t f[9100];
    unsigned fed = 0;
    for (size_t off = 0; off < 8 * 8960; off += 8960) {
        size_t fl = pktcraft_fragment(&o, l4, off, 8960, off + 8960 < 8 * 8960, f, sizeof f);
        cr_assert_gt(fl, 0);
        struct pkt_info pi;
        if (pkt_decode(f, (uint32_t)fl, &pi) == PKT_KIND_DROP) {
            cr_assert_eq(pi.drop_reason, PKT_DROP_FRAG_BAD);
            continue;
        }
        cr_assert_null(feed_frame(r, f, (uint32_t)fl, T0));
        fed++;
    }
    cr_assert_eq(fed, 7);
    reasm_tick(r, T0 + ms(101), &ctr);
    cr_assert_eq(ctr.frag_dropped, fed);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, table_full, .init = setup)
{
    const unsigned flows = 16, datagrams = 100;
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(flows, 100);
    struct pktcraft_opts o;
    for (unsigned d = 0; d < datagrams; d++) {
        opts(&o, d % 2 ? 6 : 4, 1000 + d);
        split(&o, 2000, 1280);
        cr_assert_null(feed_frame(r, fr[0].data, fr[0].len, T0));
    }
    reasm_tick(r, T0 + 1, &ctr);
    cr_assert_eq(ctr.frag_dropped, datagrams - flows);
    cr_assert_eq(reasm_held(r), flows);
    reasm_tick(r, T0 + ms(101), &ctr);
    cr_assert_eq(ctr.frag_dropped, datagrams);
    cr_assert_eq(reasm_held(r), 0);

    /* the table works again once the stale entries are gone */
    opts(&o, 4, 5000);
    int n = split(&o, 2000, 1280);
    struct rte_mbuf *out = NULL;
    for (int i = 0; i < n; i++)
        out = feed_frame(r, fr[i].data, fr[i].len, T0 + ms(102));
    check_datagram(out, 2000, 4);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

/* Thousands of drops without a tick in between: reasm_feed itself keeps the
 * death row from overflowing. */
Test(reasm, death_row_never_overflows, .init = setup)
{
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(1, 100);
    struct pktcraft_opts o;
    const unsigned datagrams = 3000;
    for (unsigned d = 0; d < datagrams; d++) {
        opts(&o, 4, d);
        split(&o, 2000, 1280);
        cr_assert_null(feed_frame(r, fr[0].data, fr[0].len, T0));
    }
    cr_assert_leq(reasm_held(r), RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - 1);
    reasm_tick(r, T0 + ms(101), &ctr);
    cr_assert_eq(ctr.frag_dropped, datagrams);
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, destroy_frees_pending, .init = setup)
{
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm *r = mk(8, 100);
    struct pktcraft_opts o;
    opts(&o, 4, 1);
    split(&o, 3000, 1280);
    cr_assert_null(feed_frame(r, fr[0].data, fr[0].len, T0));
    cr_assert_null(feed_frame(r, fr[1].data, fr[1].len, T0));
    reasm_destroy(r);
    cr_assert_eq(rte_mempool_avail_count(pool), avail);
}

Test(reasm, bad_config, .init = setup)
{
    struct reasm_config cfg = {.max_flows = 0, .timeout_ms = 100};
    cr_assert_null(reasm_create(&cfg, SOCKET_ID_ANY));
    cfg.max_flows = 8;
    cfg.timeout_ms = 0;
    cr_assert_null(reasm_create(&cfg, SOCKET_ID_ANY));
}

/* A sender that never completes its datagrams can hold at most the
 * reassembly's own pool: the rx pool the NIC needs stays untouched, and every
 * fragment is counted as held or dropped. */
Test(reasm, fragment_flood_is_bounded, .init = setup)
{
    unsigned avail = rte_mempool_avail_count(pool);
    struct reasm_config cfg = {.max_flows = 256, .timeout_ms = 100, .max_fragments = 64};
    struct reasm *r = reasm_create(&cfg, (int)rte_socket_id());
    cr_assert(r);
    struct pktcraft_opts o;
    const unsigned datagrams = 1000;
    for (unsigned d = 0; d < datagrams; d++) {
        opts(&o, 4, 20000 + d);
        split(&o, 3000, 1280);
        cr_assert_null(feed_frame(r, fr[0].data, fr[0].len, T0));
        cr_assert_null(feed_frame(r, fr[1].data, fr[1].len, T0));
        if (d % 32 == 31)
            reasm_tick(r, T0 + 1, &ctr);   /* as the worker does after each burst */
        cr_assert_eq(rte_mempool_avail_count(pool), avail, "rx mbufs are never held");
    }
    reasm_tick(r, T0 + 1, &ctr);
    cr_assert_leq(reasm_held(r), 64);
    cr_assert_gt(ctr.frag_no_mbuf, 0, "the pool ran out and said so");
    cr_assert_eq(ctr.frag_ipv4_fragments, 2 * datagrams);
    cr_assert_eq(ctr.frag_dropped + reasm_held(r), 2 * datagrams, "every fragment is held or counted");
    reasm_tick(r, T0 + ms(101), &ctr);
    cr_assert_eq(reasm_held(r), 0);
    cr_assert_eq(ctr.frag_dropped, 2 * datagrams);
    reasm_destroy(r);
}

/* reasm_drain at shutdown: whatever is still waiting is dropped and counted. */
Test(reasm, drain_counts_everything_held, .init = setup)
{
    struct reasm *r = mk(64, 60000);
    struct pktcraft_opts o;
    for (unsigned d = 0; d < 40; d++) {
        opts(&o, d % 2 ? 6 : 4, 30000 + d);
        split(&o, 3000, 1280);
        cr_assert_null(feed_frame(r, fr[0].data, fr[0].len, T0));
    }
    reasm_tick(r, T0 + 1, &ctr);
    cr_assert_eq(reasm_held(r), 40);
    reasm_drain(r, &ctr);
    cr_assert_eq(reasm_held(r), 0);
    cr_assert_eq(ctr.frag_dropped, 40);
    cr_assert_eq(ctr.frag_timeout, 40);
    reasm_destroy(r);
}
