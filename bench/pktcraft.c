/* Frame crafting: see pktcraft.h. */
#include "bench/pktcraft.h"

#include <arpa/inet.h>
#include <string.h>

#define ETH_HDR_LEN  14
#define VLAN_LEN     4
#define IPV4_HDR_LEN 20
#define IPV6_HDR_LEN 40
#define UDP_HDR_LEN  8
#define FRAG_HDR_LEN 8
#define AH_LEN       16
#define PROTO_UDP    17
#define PROTO_FRAG   44

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

/* Ones' complement sum of big-endian 16-bit words (odd tail padded with 0). */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 1 < n; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (n & 1)
        sum += (uint32_t)p[n - 1] << 8;
    return sum;
}

static uint16_t fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

void pktcraft_opts_init(struct pktcraft_opts *o)
{
    memset(o, 0, sizeof *o);
    static const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t dmac[6] = {0x02, 0, 0, 0, 0, 0x02};
    memcpy(o->src_mac, smac, 6);
    memcpy(o->dst_mac, dmac, 6);
    o->ttl = 64;
    o->sport = 40000;
    o->dport = 514;
    o->ip_id = 1;
}

int pktcraft_parse_ip(const char *s, struct vigil_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    if (inet_pton(AF_INET, s, ip->addr) == 1) {
        ip->family = 4;
        return 0;
    }
    if (inet_pton(AF_INET6, s, ip->addr) == 1) {
        ip->family = 6;
        return 0;
    }
    return -1;
}

static int opts_valid(const struct pktcraft_opts *o)
{
    if (o->n_vlan > 2 || o->src.family != o->dst.family)
        return 0;
    if (o->src.family == 4)
        return o->ip_opts_len % 4 == 0 && o->ip_opts_len <= 40 && (o->ip_opts_len == 0 || o->ip_opts);
    if (o->src.family == 6)
        return o->n_ext <= PKTCRAFT_MAX_EXT;
    return 0;
}

static size_t l2_len(const struct pktcraft_opts *o)
{
    return ETH_HDR_LEN + (size_t)o->n_vlan * VLAN_LEN;
}

static size_t ext_hdr_len(const struct pktcraft_opts *o, uint8_t type)
{
    switch (type) {
    case PKTCRAFT_EXT_HOPOPTS:
    case PKTCRAFT_EXT_ROUTING:
    case PKTCRAFT_EXT_DSTOPTS:
        return 8 * ((size_t)o->ext_len8 + 1);
    case PKTCRAFT_EXT_FRAGMENT:
        return FRAG_HDR_LEN;
    case PKTCRAFT_EXT_AH:
        return AH_LEN;
    default:
        return 0;
    }
}

/* Bytes of extension headers, or SIZE_MAX for an unknown type. */
static size_t ext_chain_len(const struct pktcraft_opts *o)
{
    size_t n = 0;
    for (unsigned i = 0; i < o->n_ext; i++) {
        size_t l = ext_hdr_len(o, o->ext[i]);
        if (l == 0)
            return SIZE_MAX;
        n += l;
    }
    return n;
}

/* IP header bytes (with options or extension headers, and a fragment header
 * when frag), or SIZE_MAX when the options are invalid. */
static size_t l3_len(const struct pktcraft_opts *o, bool frag)
{
    if (!opts_valid(o))
        return SIZE_MAX;
    if (o->src.family == 4)
        return IPV4_HDR_LEN + o->ip_opts_len;
    size_t e = ext_chain_len(o);
    if (e == SIZE_MAX)
        return SIZE_MAX;
    return IPV6_HDR_LEN + e + (frag ? FRAG_HDR_LEN : 0);
}

size_t pktcraft_max_udp_payload(const struct pktcraft_opts *o)
{
    size_t h = l3_len(o, false);
    if (h == SIZE_MAX)
        return 0;
    /* IPv4 total length covers the header; IPv6 payload length does not. */
    size_t room = o->src.family == 4 ? 65535 - h : 65535 - (h - IPV6_HDR_LEN);
    return room > UDP_HDR_LEN ? room - UDP_HDR_LEN : 0;
}

static void write_l2(const struct pktcraft_opts *o, uint8_t *p)
{
    memcpy(p, o->dst_mac, 6);
    memcpy(p + 6, o->src_mac, 6);
    size_t off = 12;
    for (unsigned i = 0; i < o->n_vlan; i++) {
        uint16_t tpid = 0x8100;
        if (i == 0 && o->outer_tpid)
            tpid = o->outer_tpid;
        else if (i == 0 && o->n_vlan == 2)
            tpid = 0x88A8;
        wr16(p + off, tpid);
        wr16(p + off + 2, o->vlan[i] & 0x0fff);
        off += VLAN_LEN;
    }
    wr16(p + off, o->src.family == 4 ? 0x0800 : 0x86DD);
}

/* Writes the IP header(s) at p.  data_len: bytes after them (UDP datagram or
 * fragment data).  frag: write fragment fields (offset off, more flag). */
static void write_l3(const struct pktcraft_opts *o, uint8_t *p, size_t hlen, size_t data_len,
                     bool frag, size_t off, bool more)
{
    if (o->src.family == 4) {
        p[0] = (uint8_t)(0x40 | (hlen / 4));
        p[1] = 0;
        wr16(p + 2, (uint16_t)(hlen + data_len));
        wr16(p + 4, (uint16_t)o->ip_id);
        wr16(p + 6, frag ? (uint16_t)((more ? 0x2000 : 0) | ((off / 8) & 0x1fff)) : 0);
        p[8] = o->ttl;
        p[9] = PROTO_UDP;
        wr16(p + 10, 0);
        memcpy(p + 12, o->src.addr, 4);
        memcpy(p + 16, o->dst.addr, 4);
        if (o->ip_opts_len)
            memcpy(p + 20, o->ip_opts, o->ip_opts_len);
        wr16(p + 10, (uint16_t)~fold(sum16(0, p, hlen)));
        return;
    }
    wr32(p, 0x60000000u);
    wr16(p + 4, (uint16_t)(hlen - IPV6_HDR_LEN + data_len));
    p[7] = o->ttl;
    memcpy(p + 8, o->src.addr, 16);
    memcpy(p + 24, o->dst.addr, 16);
    uint8_t *nh = p + 6;
    size_t q = IPV6_HDR_LEN;
    for (unsigned i = 0; i < o->n_ext; i++) {
        uint8_t t = o->ext[i];
        size_t l = ext_hdr_len(o, t);
        uint8_t *e = p + q;
        *nh = t;
        memset(e, 0, l);
        nh = e;
        if (t == PKTCRAFT_EXT_AH) {
            e[1] = AH_LEN / 4 - 2;
            wr32(e + 4, 0x100);          /* SPI */
            wr32(e + 8, 1);              /* sequence */
        } else if (t == PKTCRAFT_EXT_FRAGMENT) {
            wr32(e + 4, o->ip_id);       /* atomic: offset 0, M = 0 */
        } else {
            e[1] = o->ext_len8;
            if (t == PKTCRAFT_EXT_ROUTING) {
                e[2] = 253;              /* experimental type; segments left 0 */
                e[3] = 0;
            } else {
                e[2] = 1;                /* PadN over the rest */
                e[3] = (uint8_t)(l - 4);
            }
        }
        q += l;
    }
    if (frag) {
        uint8_t *f = p + q;
        *nh = PROTO_FRAG;
        f[0] = PROTO_UDP;
        f[1] = 0;
        wr16(f + 2, (uint16_t)((off & 0xfff8) | (more ? 1 : 0)));
        wr32(f + 4, o->ip_id);
    } else {
        *nh = PROTO_UDP;
    }
}

/* The UDP datagram as an 8-byte header plus the caller's payload, so neither
 * frames nor fragments need it copied in one piece first. */
struct l4src {
    uint8_t hdr[UDP_HDR_LEN];
    const uint8_t *payload;
    size_t plen;
};

static void l4_make(const struct pktcraft_opts *o, const void *payload, size_t len, struct l4src *s)
{
    size_t ulen = len + UDP_HDR_LEN;
    s->payload = payload;
    s->plen = len;
    wr16(s->hdr, o->sport);
    wr16(s->hdr + 2, o->dport);
    wr16(s->hdr + 4, (uint16_t)ulen);
    wr16(s->hdr + 6, 0);
    uint32_t sum = 0;
    if (o->src.family == 4) {
        sum = sum16(sum, o->src.addr, 4);
        sum = sum16(sum, o->dst.addr, 4);
        sum += PROTO_UDP + (uint32_t)ulen;
    } else {
        sum = sum16(sum, o->src.addr, 16);
        sum = sum16(sum, o->dst.addr, 16);
        sum += (uint32_t)(ulen >> 16) + (uint32_t)(ulen & 0xffff) + PROTO_UDP;
    }
    sum = sum16(sum, s->hdr, UDP_HDR_LEN);
    sum = sum16(sum, payload, len);
    uint16_t ck = (uint16_t)~fold(sum);
    wr16(s->hdr + 6, ck ? ck : 0xffff);   /* 0 means "no checksum" */
}

static void l4_copy(const struct l4src *s, size_t off, size_t len, uint8_t *out)
{
    while (len && off < UDP_HDR_LEN) {
        *out++ = s->hdr[off++];
        len--;
    }
    if (len)
        memcpy(out, s->payload + (off - UDP_HDR_LEN), len);
}

size_t pktcraft_udp_datagram(const struct pktcraft_opts *o, const void *payload, size_t len,
                             uint8_t *out, size_t cap)
{
    if (!opts_valid(o) || len > 65535 - UDP_HDR_LEN || cap < len + UDP_HDR_LEN)
        return 0;
    struct l4src s;
    l4_make(o, payload, len, &s);
    l4_copy(&s, 0, len + UDP_HDR_LEN, out);
    return len + UDP_HDR_LEN;
}

/* Frame of headers + l4[off .. off+len); pads to the Ethernet minimum. */
static size_t build(const struct pktcraft_opts *o, const struct l4src *s, size_t off, size_t len,
                    bool frag, bool more, uint8_t *out, size_t cap)
{
    size_t h3 = l3_len(o, frag);
    if (h3 == SIZE_MAX)
        return 0;
    size_t h2 = l2_len(o);
    size_t ip_len = o->src.family == 4 ? h3 + len : h3 - IPV6_HDR_LEN + len;
    if (ip_len > 65535 || (frag && (off % 8 || off > 65528)))
        return 0;
    size_t flen = h2 + h3 + len;
    size_t total = flen < PKTCRAFT_ETH_MIN && !o->no_eth_pad ? PKTCRAFT_ETH_MIN : flen;
    if (total > cap)
        return 0;
    write_l2(o, out);
    write_l3(o, out + h2, h3, len, frag, off, more);
    l4_copy(s, off, len, out + h2 + h3);
    memset(out + flen, 0, total - flen);
    return total;
}

size_t pktcraft_udp_frame(const struct pktcraft_opts *o, const void *payload, size_t len,
                          uint8_t *out, size_t cap)
{
    if (!opts_valid(o) || len > pktcraft_max_udp_payload(o))
        return 0;
    struct l4src s;
    l4_make(o, payload, len, &s);
    return build(o, &s, 0, len + UDP_HDR_LEN, false, false, out, cap);
}

size_t pktcraft_fragment(const struct pktcraft_opts *o, const uint8_t *l4, size_t off, size_t len,
                         bool more, uint8_t *out, size_t cap)
{
    struct l4src s;
    memcpy(s.hdr, l4, UDP_HDR_LEN);
    s.payload = l4 + UDP_HDR_LEN;
    s.plen = 0;
    /* Offsets inside the header bytes come from hdr, the rest from payload;
     * l4_copy handles either. */
    return build(o, &s, off, len, true, more, out, cap);
}

int pktcraft_udp_fragments(const struct pktcraft_opts *o, const void *payload, size_t len,
                           unsigned mtu, uint8_t *buf, size_t cap,
                           struct pktcraft_frame *frames, unsigned max_frames)
{
    if (!opts_valid(o) || len > pktcraft_max_udp_payload(o) || max_frames == 0)
        return -1;
    struct l4src s;
    l4_make(o, payload, len, &s);
    size_t total = len + UDP_HDR_LEN;
    size_t h3 = l3_len(o, false);
    if (mtu == 0 || h3 + total <= mtu) {
        size_t n = build(o, &s, 0, total, false, false, buf, cap);
        if (n == 0)
            return -1;
        frames[0].data = buf;
        frames[0].len = (uint32_t)n;
        return 1;
    }
    size_t fh3 = l3_len(o, true);
    if (mtu < fh3 + 8)
        return -1;
    size_t per = (mtu - fh3) & ~(size_t)7;
    unsigned n = 0;
    size_t used = 0;
    for (size_t off = 0; off < total; off += per) {
        size_t chunk = total - off < per ? total - off : per;
        if (n == max_frames)
            return -1;
        size_t fl = build(o, &s, off, chunk, true, off + chunk < total, buf + used, cap - used);
        if (fl == 0)
            return -1;
        frames[n].data = buf + used;
        frames[n].len = (uint32_t)fl;
        used += fl;
        n++;
    }
    return (int)n;
}
