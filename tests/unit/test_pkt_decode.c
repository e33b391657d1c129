/* pkt_decode on frames crafted with bench/pktcraft.  Each decode runs on a
 * malloc'd copy of exactly the frame's length, so ASan builds catch any read
 * past the end. */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/pktcraft.h"
#include "dataplane/pkt_decode.h"
#include "test_support.h"

static const char MSG[] = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";

static uint8_t frame[PKTCRAFT_MAX_FRAME];

static void opts4(struct pktcraft_opts *o)
{
    pktcraft_opts_init(o);
    cr_assert_eq(pktcraft_parse_ip("198.51.100.7", &o->src), 0);
    cr_assert_eq(pktcraft_parse_ip("192.0.2.1", &o->dst), 0);
    o->sport = 51234;
    o->dport = 514;
}

static void opts6(struct pktcraft_opts *o)
{
    pktcraft_opts_init(o);
    cr_assert_eq(pktcraft_parse_ip("2001:db8::7", &o->src), 0);
    cr_assert_eq(pktcraft_parse_ip("2001:db8::1", &o->dst), 0);
    o->sport = 51234;
    o->dport = 514;
}

static size_t craft(const struct pktcraft_opts *o, const void *payload, size_t len)
{
    size_t n = pktcraft_udp_frame(o, payload, len, frame, sizeof frame);
    cr_assert_gt(n, 0, "pktcraft_udp_frame failed");
    return n;
}

/* Decodes a private exact-length copy of buf[0..len). */
static enum pkt_kind decode(const uint8_t *buf, size_t len, struct pkt_info *pi)
{
    uint8_t *copy = malloc(len ? len : 1);
    cr_assert(copy);
    memcpy(copy, buf, len);
    enum pkt_kind k = pkt_decode(copy, (uint32_t)len, pi);
    if (k == PKT_KIND_UDP) {
        cr_assert_leq((uint64_t)pi->payload_off + pi->payload_len, len);
    }
    free(copy);
    return k;
}

static void expect_drop(const uint8_t *buf, size_t len, enum pkt_drop_reason r)
{
    struct pkt_info pi;
    enum pkt_kind k = decode(buf, len, &pi);
    cr_assert_eq(k, PKT_KIND_DROP, "expected drop %s, got kind %d", pkt_drop_reason_name(r), k);
    cr_assert_eq(pi.drop_reason, r, "expected %s, got %s", pkt_drop_reason_name(r),
                 pkt_drop_reason_name(pi.drop_reason));
}

static void expect_udp(const uint8_t *buf, size_t len, struct pkt_info *pi, const void *payload,
                       size_t plen)
{
    enum pkt_kind k = decode(buf, len, pi);
    cr_assert_eq(k, PKT_KIND_UDP, "expected UDP, got kind %d (%s)", k,
                 pkt_drop_reason_name(pi->drop_reason));
    cr_assert_eq(pi->drop_reason, PKT_OK);
    cr_assert_eq(pi->payload_len, plen);
    cr_assert_eq(memcmp(buf + pi->payload_off, payload, plen), 0);
}

static void fix_ipv4_checksum(uint8_t *ip)
{
    unsigned ihl = (ip[0] & 15) * 4;
    ip[10] = ip[11] = 0;
    uint32_t sum = 0;
    for (unsigned i = 0; i + 1 < ihl; i += 2)
        sum += (uint32_t)ip[i] << 8 | ip[i + 1];
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    sum = ~sum & 0xffff;
    ip[10] = (uint8_t)(sum >> 8);
    ip[11] = (uint8_t)sum;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

Test(pkt_decode, ipv4_udp)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    struct pkt_info pi;
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.ip_version, 4);
    cr_assert_eq(pi.vlan_tags, 0);
    cr_assert_eq(pi.l2_len, 14);
    cr_assert_eq(pi.l3_len, 20);
    cr_assert_eq(pi.payload_off, 14 + 20 + 8);
    cr_assert_eq(pi.src_port, 51234);
    cr_assert_eq(pi.dst_port, 514);
    cr_assert_eq(pi.src.family, 4);
    cr_assert_eq(pi.dst.family, 4);
    const uint8_t s[4] = {198, 51, 100, 7}, d[4] = {192, 0, 2, 1};
    cr_assert_eq(memcmp(pi.src.addr, s, 4), 0);
    cr_assert_eq(memcmp(pi.dst.addr, d, 4), 0);
}

Test(pkt_decode, vlan_and_qinq)
{
    struct pktcraft_opts o;
    struct pkt_info pi;
    opts4(&o);
    o.n_vlan = 1;
    o.vlan[0] = 100;
    size_t n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.vlan_tags, 1);
    cr_assert_eq(pi.l2_len, 18);

    const uint16_t outer[] = {0 /* 0x88A8 */, 0x9100, 0x8100};
    for (unsigned i = 0; i < 3; i++) {
        o.n_vlan = 2;
        o.vlan[1] = 200;
        o.outer_tpid = outer[i];
        n = craft(&o, MSG, strlen(MSG));
        expect_udp(frame, n, &pi, MSG, strlen(MSG));
        cr_assert_eq(pi.vlan_tags, 2);
        cr_assert_eq(pi.l2_len, 22);
    }

    opts6(&o);
    o.n_vlan = 2;
    n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.ip_version, 6);
    cr_assert_eq(pi.l2_len, 22);
}

Test(pkt_decode, three_tags)
{
    struct pktcraft_opts o;
    opts4(&o);
    o.n_vlan = 2;
    size_t n = craft(&o, MSG, strlen(MSG));
    /* insert a third 802.1Q tag after the second */
    memmove(frame + 24, frame + 20, n - 20);
    put16(frame + 20, 0x8100);
    put16(frame + 22, 300);
    expect_drop(frame, n + 4, PKT_DROP_L2_TOO_MANY_TAGS);
}

Test(pkt_decode, not_ip)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    put16(frame + 12, 0x0806);   /* ARP */
    expect_drop(frame, n, PKT_DROP_NOT_IP);
    put16(frame + 12, 0x0040);   /* 802.3 length field */
    expect_drop(frame, n, PKT_DROP_NOT_IP);
}

Test(pkt_decode, ipv4_options)
{
    static const uint8_t opts[12] = {0x01, 0x01, 0x01, 0x01, 0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00};
    struct pktcraft_opts o;
    opts4(&o);
    o.ip_opts = opts;
    o.ip_opts_len = sizeof opts;
    size_t n = craft(&o, MSG, strlen(MSG));
    struct pkt_info pi;
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.l3_len, 32);
    cr_assert_eq(pi.payload_off, 14 + 32 + 8);
}

Test(pkt_decode, ipv4_bad_ihl_and_version)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    uint8_t *ip = frame + 14;
    ip[0] = 0x44;
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_IHL);
    ip[0] = 0x55;
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_IHL);
    /* IHL 15 claims 60 header bytes: within this frame, but then the checksum
     * covers the payload too and fails; with a short frame it is truncated. */
    ip[0] = 0x4f;
    expect_drop(frame, 14 + 40, PKT_DROP_IPV4_TRUNCATED);
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_CHECKSUM);
}

Test(pkt_decode, ipv4_bad_checksum)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    frame[14 + 10] ^= 0x01;
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_CHECKSUM);
    frame[14 + 10] ^= 0x01;
    frame[14 + 8] = 1;   /* TTL changed without updating the checksum */
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_CHECKSUM);
}

Test(pkt_decode, ipv4_total_length_lies)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    uint8_t *ip = frame + 14;
    put16(ip + 2, (uint16_t)(n - 14 + 1));   /* one byte more than the frame */
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_TOTAL_LEN);
    put16(ip + 2, 19);                       /* shorter than the header */
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_IPV4_BAD_TOTAL_LEN);
    put16(ip + 2, 20 + 4);                   /* room for half a UDP header */
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_UDP_TRUNCATED);
    put16(ip + 2, 20);                       /* no transport bytes at all */
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_UDP_TRUNCATED);
}

Test(pkt_decode, ethernet_padding)
{
    struct pktcraft_opts o;
    opts4(&o);
    struct pkt_info pi;
    size_t n = craft(&o, "<1>x", 4);
    cr_assert_eq(n, 60);   /* 14 + 20 + 8 + 4 = 46, padded */
    expect_udp(frame, n, &pi, "<1>x", 4);

    /* junk after total length, as some NICs and switches leave it */
    n = craft(&o, MSG, strlen(MSG));
    memset(frame + n, 0xee, 24);
    expect_udp(frame, n + 24, &pi, MSG, strlen(MSG));

    opts6(&o);
    n = craft(&o, MSG, strlen(MSG));
    memset(frame + n, 0xee, 24);
    expect_udp(frame, n + 24, &pi, MSG, strlen(MSG));
}

Test(pkt_decode, ipv6_ext_headers)
{
    struct pktcraft_opts o;
    struct pkt_info pi;
    opts6(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.ip_version, 6);
    cr_assert_eq(pi.l3_len, 40);
    cr_assert_eq(pi.src.family, 6);
    struct vigil_ip a;
    pktcraft_parse_ip("2001:db8::7", &a);
    cr_assert_eq(memcmp(pi.src.addr, a.addr, 16), 0);
    pktcraft_parse_ip("2001:db8::1", &a);
    cr_assert_eq(memcmp(pi.dst.addr, a.addr, 16), 0);

    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;
    o.ext[1] = PKTCRAFT_EXT_DSTOPTS;
    o.ext[2] = PKTCRAFT_EXT_ROUTING;
    o.ext[3] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = 4;
    n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.l3_len, 40 + 32);
    cr_assert_eq(pi.src_port, 51234);

    o.ext_len8 = 3;   /* 32-byte option headers */
    n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.l3_len, 40 + 4 * 32);

    o.ext_len8 = 0;
    o.ext[4] = PKTCRAFT_EXT_AH;
    o.ext[5] = PKTCRAFT_EXT_FRAGMENT;   /* atomic fragment: a whole datagram */
    o.n_ext = 6;
    n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    cr_assert_eq(pi.l3_len, 40 + 32 + 16 + 8);
}

Test(pkt_decode, ipv6_ext_truncated)
{
    struct pktcraft_opts o;
    opts6(&o);
    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;
    o.ext[1] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = 2;
    size_t n = craft(&o, MSG, strlen(MSG));
    uint8_t *ip = frame + 14;
    ip[40 + 8 + 1] = 200;   /* destination options claim 1608 bytes */
    expect_drop(frame, n, PKT_DROP_IPV6_TRUNCATED);
    ip[40 + 8 + 1] = 0;
    put16(ip + 4, 12);      /* payload ends inside the second header */
    expect_drop(frame, n, PKT_DROP_IPV6_TRUNCATED);
    put16(ip + 4, 4);       /* ... inside the first */
    expect_drop(frame, n, PKT_DROP_IPV6_TRUNCATED);
}

Test(pkt_decode, ipv6_too_many_ext)
{
    struct pktcraft_opts o;
    struct pkt_info pi;
    opts6(&o);
    for (unsigned i = 0; i < PKT_MAX_IPV6_EXT; i++)
        o.ext[i] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = PKT_MAX_IPV6_EXT;
    size_t n = craft(&o, MSG, strlen(MSG));
    expect_udp(frame, n, &pi, MSG, strlen(MSG));
    o.ext[PKT_MAX_IPV6_EXT] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = PKT_MAX_IPV6_EXT + 1;
    n = craft(&o, MSG, strlen(MSG));
    expect_drop(frame, n, PKT_DROP_IPV6_TOO_MANY_EXT);
}

Test(pkt_decode, ipv6_payload_length_lies)
{
    struct pktcraft_opts o;
    opts6(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    uint8_t *ip = frame + 14;
    put16(ip + 4, (uint16_t)(n - 14 - 40 + 1));
    expect_drop(frame, n, PKT_DROP_IPV6_BAD_PAYLOAD_LEN);
    put16(ip + 4, 20);   /* shorter than the UDP length */
    expect_drop(frame, n, PKT_DROP_UDP_BAD_LEN);
    put16(ip + 4, 6);
    expect_drop(frame, n, PKT_DROP_UDP_TRUNCATED);
    expect_drop(frame, 14 + 39, PKT_DROP_IPV6_TRUNCATED);

    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;   /* jumbogram: payload length 0 */
    o.n_ext = 1;
    n = craft(&o, MSG, strlen(MSG));
    put16(frame + 14 + 4, 0);
    expect_drop(frame, n, PKT_DROP_IPV6_BAD_PAYLOAD_LEN);
}

Test(pkt_decode, not_udp)
{
    struct pktcraft_opts o;
    opts4(&o);
    size_t n = craft(&o, MSG, strlen(MSG));
    uint8_t *ip = frame + 14;
    const uint8_t protos4[] = {6, 1, 47, 50};
    for (unsigned i = 0; i < sizeof protos4; i++) {
        ip[9] = protos4[i];
        fix_ipv4_checksum(ip);
        expect_drop(frame, n, PKT_DROP_NOT_UDP);
    }
    /* a TCP fragment never reaches reassembly */
    ip[9] = 6;
    put16(ip + 6, 0x2000);
    fix_ipv4_checksum(ip);
    expect_drop(frame, n, PKT_DROP_NOT_UDP);

    opts6(&o);
    n = craft(&o, MSG, strlen(MSG));
    ip = frame + 14;
    const uint8_t protos6[] = {6, 58, 59, 50};
    for (unsigned i = 0; i < sizeof protos6; i++) {
        ip[6] = protos6[i];
        expect_drop(frame, n, PKT_DROP_NOT_UDP);
    }
    /* No Next Header after a destination options header */
    o.ext[0] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = 1;
    n = craft(&o, MSG, strlen(MSG));
    frame[14 + 40] = 59;
    expect_drop(frame, n, PKT_DROP_NOT_UDP);
}

Test(pkt_decode, udp_length_lies)
{
    struct pktcraft_opts o;
    struct pkt_info pi;
    for (int v = 4; v <= 6; v += 2) {
        if (v == 4)
            opts4(&o);
        else
            opts6(&o);
        size_t n = craft(&o, MSG, strlen(MSG));
        uint8_t *udp = frame + 14 + (v == 4 ? 20 : 40);
        put16(udp + 4, 7);
        expect_drop(frame, n, PKT_DROP_UDP_BAD_LEN);
        put16(udp + 4, 0);
        expect_drop(frame, n, PKT_DROP_UDP_BAD_LEN);
        put16(udp + 4, (uint16_t)(8 + strlen(MSG) + 1));
        expect_drop(frame, n, PKT_DROP_UDP_BAD_LEN);
        /* shorter than the IP payload: the UDP length wins */
        put16(udp + 4, 8 + 10);
        expect_udp(frame, n, &pi, MSG, 10);
        put16(udp + 4, 8);
        expect_udp(frame, n, &pi, MSG, 0);
    }
}

/* Every prefix of a frame decodes without reading past it, and every prefix
 * shorter than the real packet is a drop. */
static void all_prefixes(const struct pktcraft_opts *o, const void *payload, size_t plen, bool frag)
{
    uint8_t *full;
    size_t n;
    static uint8_t buf[PKTCRAFT_MAX_FRAME];
    if (frag) {
        struct pktcraft_frame fr[8];
        int nf = pktcraft_udp_fragments(o, payload, plen, 200, buf, sizeof buf, fr, 8);
        cr_assert_gt(nf, 1);
        full = fr[0].data;
        n = fr[0].len;
    } else {
        n = pktcraft_udp_frame(o, payload, plen, buf, sizeof buf);
        full = buf;
    }
    cr_assert_gt(n, 0);
    struct pkt_info pi;
    enum pkt_kind want = decode(full, n, &pi);
    cr_assert_neq(want, PKT_KIND_DROP, "%s", pkt_drop_reason_name(pi.drop_reason));
    for (size_t len = 0; len < n; len++) {
        enum pkt_kind k = decode(full, len, &pi);
        cr_assert_eq(k, PKT_KIND_DROP, "prefix %zu of %zu decoded as kind %d", len, n, k);
        cr_assert_neq(pi.drop_reason, PKT_OK);
    }
}

Test(pkt_decode, truncated_everywhere)
{
    static const uint8_t opts[8] = {1, 1, 1, 1, 1, 1, 1, 0};
    struct pktcraft_opts o;
    char big[600];
    memset(big, 'a', sizeof big);

    opts4(&o);
    o.no_eth_pad = true;
    all_prefixes(&o, MSG, strlen(MSG), false);
    o.n_vlan = 2;
    o.ip_opts = opts;
    o.ip_opts_len = sizeof opts;
    all_prefixes(&o, MSG, strlen(MSG), false);
    all_prefixes(&o, big, sizeof big, true);

    opts6(&o);
    o.no_eth_pad = true;
    all_prefixes(&o, MSG, strlen(MSG), false);
    o.n_vlan = 1;
    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;
    o.ext[1] = PKTCRAFT_EXT_ROUTING;
    o.ext[2] = PKTCRAFT_EXT_AH;
    o.ext[3] = PKTCRAFT_EXT_DSTOPTS;
    o.n_ext = 4;
    o.ext_len8 = 1;
    all_prefixes(&o, MSG, strlen(MSG), false);
    o.n_ext = 0;
    all_prefixes(&o, big, sizeof big, true);
}

Test(pkt_decode, ipv4_fragments)
{
    struct pktcraft_opts o;
    static uint8_t buf[1 << 17];
    struct pktcraft_frame fr[16];
    char big[4000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    opts4(&o);
    o.n_vlan = 1;
    static const uint8_t opts[4] = {1, 1, 1, 0};
    o.ip_opts = opts;
    o.ip_opts_len = 4;
    int nf = pktcraft_udp_fragments(&o, big, sizeof big, 1500, buf, sizeof buf, fr, 16);
    cr_assert_eq(nf, 3);
    for (int i = 0; i < nf; i++) {
        struct pkt_info pi;
        cr_assert_leq(fr[i].len, 18 + 1500);
        cr_assert_eq(decode(fr[i].data, fr[i].len, &pi), PKT_KIND_IPV4_FRAG);
        cr_assert_eq(pi.l2_len, 18);
        cr_assert_eq(pi.l3_len, 24);
        cr_assert_eq(pi.ip_version, 4);
        cr_assert_eq(pi.src.family, 4);
    }
    /* at the MTU exactly: not fragmented */
    nf = pktcraft_udp_fragments(&o, big, 1500 - 24 - 8, 1500, buf, sizeof buf, fr, 16);
    cr_assert_eq(nf, 1);
    struct pkt_info pi;
    expect_udp(fr[0].data, fr[0].len, &pi, big, 1500 - 24 - 8);
}

Test(pkt_decode, ipv6_fragments)
{
    struct pktcraft_opts o;
    static uint8_t buf[1 << 17];
    struct pktcraft_frame fr[16];
    char big[4000];
    memset(big, 'z', sizeof big);
    opts6(&o);
    o.n_vlan = 2;
    int nf = pktcraft_udp_fragments(&o, big, sizeof big, 1280, buf, sizeof buf, fr, 16);
    cr_assert_eq(nf, 4);
    for (int i = 0; i < nf; i++) {
        struct pkt_info pi;
        cr_assert_eq(decode(fr[i].data, fr[i].len, &pi), PKT_KIND_IPV6_FRAG, "%s",
                     pkt_drop_reason_name(pi.drop_reason));
        cr_assert_eq(pi.l2_len, 22);
        cr_assert_eq(pi.l3_len, 40);
        cr_assert_eq(pi.frag_hdr_off, 22 + 40);
        cr_assert_eq(pi.ip_version, 6);
        cr_assert_eq(pi.src.family, 6);
    }
    /* headers before the fragment header: DPDK cannot rebuild those */
    o.ext[0] = PKTCRAFT_EXT_HOPOPTS;
    o.n_ext = 1;
    nf = pktcraft_udp_fragments(&o, big, sizeof big, 1280, buf, sizeof buf, fr, 16);
    cr_assert_gt(nf, 1);
    expect_drop(fr[0].data, fr[0].len, PKT_DROP_IPV6_FRAG_UNSUPPORTED);
}

Test(pkt_decode, fragment_bounds)
{
    struct pktcraft_opts o;
    static uint8_t l4[65536 + 64];   /* fragments copy l4[off..off+len) */
    char pl[56];
    memset(pl, 'q', sizeof pl);
    struct pkt_info pi;
    for (int v = 4; v <= 6; v += 2) {
        if (v == 4)
            opts4(&o);
        else
            opts6(&o);
        cr_assert_eq(pktcraft_udp_datagram(&o, pl, sizeof pl, l4, sizeof l4), 64);
        memset(l4 + 64, 'r', sizeof l4 - 64);
        size_t n = pktcraft_fragment(&o, l4, 0, 16, true, frame, sizeof frame);
        cr_assert_eq(decode(frame, n, &pi), v == 4 ? PKT_KIND_IPV4_FRAG : PKT_KIND_IPV6_FRAG);
        /* last fragment ending past 65535 */
        n = pktcraft_fragment(&o, l4, 65528, 16, false, frame, sizeof frame);
        cr_assert_gt(n, 0);
        expect_drop(frame, n, PKT_DROP_FRAG_BAD);
        /* a highest-offset fragment that still fits */
        n = pktcraft_fragment(&o, l4, 65528 - (v == 4 ? 24 : 8), 1, false, frame, sizeof frame);
        cr_assert_eq(decode(frame, n, &pi), v == 4 ? PKT_KIND_IPV4_FRAG : PKT_KIND_IPV6_FRAG);
        /* non-final fragment not a multiple of 8 bytes */
        n = pktcraft_fragment(&o, l4, 8, 13, true, frame, sizeof frame);
        expect_drop(frame, n, PKT_DROP_FRAG_BAD);
        /* empty fragment */
        n = pktcraft_fragment(&o, l4, 8, 0, true, frame, sizeof frame);
        expect_drop(frame, n, PKT_DROP_FRAG_BAD);
    }
}

Test(pkt_decode, drop_reason_names)
{
    for (int r = 1; r < PKT_DROP__COUNT; r++) {
        const char *a = pkt_drop_reason_name((enum pkt_drop_reason)r);
        cr_assert_str_neq(a, "unknown");
        for (const char *p = a; *p; p++)
            cr_assert((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_', "%s", a);
        for (int s = 1; s < r; s++)
            cr_assert_str_neq(a, pkt_drop_reason_name((enum pkt_drop_reason)s));
    }
    cr_assert_str_eq(pkt_drop_reason_name(PKT_DROP_L2_TRUNCATED), "l2_truncated");
    cr_assert_str_eq(pkt_drop_reason_name(PKT_DROP_IPV4_BAD_CHECKSUM), "ipv4_bad_checksum");
    cr_assert_str_eq(pkt_drop_reason_name(PKT_DROP__COUNT), "unknown");
}
