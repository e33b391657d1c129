/* L2-L4 decode: see pkt_decode.h.
 *
 * Every read is checked against the smallest of the bytes on the wire and the
 * lengths the headers claim (which are themselves checked against the wire),
 * so a lying length field can only make the frame a counted drop.
 */
#include "dataplane/pkt_decode.h"

#include <string.h>

#define ETH_HDR_LEN   14
#define VLAN_TAG_LEN  4
#define IPV4_MIN_HDR  20
#define IPV6_HDR_LEN  40
#define IPV6_FRAG_LEN 8
#define UDP_HDR_LEN   8

#define ETHERTYPE_IPV4   0x0800
#define ETHERTYPE_IPV6   0x86DD
#define ETHERTYPE_VLAN   0x8100
#define ETHERTYPE_QINQ   0x88A8
#define ETHERTYPE_QINQ91 0x9100

#define PROTO_HOPOPTS  0
#define PROTO_UDP      17
#define PROTO_ROUTING  43
#define PROTO_FRAGMENT 44
#define PROTO_AH       51
#define PROTO_NONE     59
#define PROTO_DSTOPTS  60

/* Largest IP datagram a 16-bit length field can describe. */
#define IP_MAX_DATAGRAM 65535u

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline int is_vlan_tpid(uint16_t t)
{
    return t == ETHERTYPE_VLAN || t == ETHERTYPE_QINQ || t == ETHERTYPE_QINQ91;
}

static enum pkt_kind drop(struct pkt_info *pi, enum pkt_drop_reason r)
{
    pi->kind = PKT_KIND_DROP;
    pi->drop_reason = (uint8_t)r;
    return PKT_KIND_DROP;
}

/* RFC 1071 sum of the header (hlen is a multiple of 4).  The ones' complement
 * sum is byte-order independent and a correct header sums to 0xffff, which
 * reads the same either way, so native 32-bit loads are enough. */
static int ipv4_checksum_ok(const uint8_t *h, uint32_t hlen)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < hlen; i += 4) {
        uint32_t w;
        memcpy(&w, h + i, 4);
        sum += w;
    }
    sum = (sum & 0xffffffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    return sum == 0xffff;
}

/* UDP header at frame[l4_off], IP payload ends at ip_end (both already within
 * the frame).  The UDP length, not ip_end, delimits the payload: senders may
 * pad the IP payload, never the other way round. */
static enum pkt_kind decode_udp(const uint8_t *frame, uint32_t l4_off, uint32_t ip_end,
                                struct pkt_info *pi)
{
    if (ip_end - l4_off < UDP_HDR_LEN)
        return drop(pi, PKT_DROP_UDP_TRUNCATED);
    const uint8_t *u = frame + l4_off;
    uint16_t ulen = rd16(u + 4);
    if (ulen < UDP_HDR_LEN || ulen > ip_end - l4_off)
        return drop(pi, PKT_DROP_UDP_BAD_LEN);
    /* The UDP checksum is not verified: the Ethernet FCS already caught wire
     * corruption, and a sender's bad checksum does not change what it said. */
    pi->src_port = rd16(u);
    pi->dst_port = rd16(u + 2);
    pi->payload_off = l4_off + UDP_HDR_LEN;
    pi->payload_len = (uint32_t)ulen - UDP_HDR_LEN;
    pi->kind = PKT_KIND_UDP;
    return PKT_KIND_UDP;
}

static enum pkt_kind decode_ipv4(const uint8_t *frame, uint32_t len, uint32_t l3, struct pkt_info *pi)
{
    pi->ip_version = 4;
    if (len - l3 < IPV4_MIN_HDR)
        return drop(pi, PKT_DROP_IPV4_TRUNCATED);
    const uint8_t *ip = frame + l3;
    uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
    if ((ip[0] >> 4) != 4 || ihl < IPV4_MIN_HDR)
        return drop(pi, PKT_DROP_IPV4_BAD_IHL);
    if (len - l3 < ihl)
        return drop(pi, PKT_DROP_IPV4_TRUNCATED);
    if (!ipv4_checksum_ok(ip, ihl))
        return drop(pi, PKT_DROP_IPV4_BAD_CHECKSUM);
    uint32_t total = rd16(ip + 2);
    /* Bytes past total length are Ethernet padding (or junk): ignored. */
    if (total < ihl || total > len - l3)
        return drop(pi, PKT_DROP_IPV4_BAD_TOTAL_LEN);

    pi->l3_len = (uint16_t)ihl;
    pi->src.family = 4;
    memcpy(pi->src.addr, ip + 12, 4);
    pi->dst.family = 4;
    memcpy(pi->dst.addr, ip + 16, 4);

    /* Non-UDP fragments are dropped here rather than after reassembly, so they
     * never take a slot in the reassembly table. */
    if (ip[9] != PROTO_UDP)
        return drop(pi, PKT_DROP_NOT_UDP);

    uint16_t fo = rd16(ip + 6);
    uint32_t frag_off = (uint32_t)(fo & 0x1fff) * 8;
    int more = (fo & 0x2000) != 0;
    if (more || frag_off != 0) {
        uint32_t data = total - ihl;
        /* Empty fragments, non-final fragments that are not a multiple of 8
         * bytes, and ends past 65535 cannot belong to a valid datagram; some
         * rte_ip_frag versions mis-handle them, so they never reach it. */
        if (data == 0 || (more && (data & 7)) || frag_off + data + ihl > IP_MAX_DATAGRAM)
            return drop(pi, PKT_DROP_FRAG_BAD);
        pi->kind = PKT_KIND_IPV4_FRAG;
        return PKT_KIND_IPV4_FRAG;
    }
    return decode_udp(frame, l3 + ihl, l3 + total, pi);
}

static enum pkt_kind decode_ipv6(const uint8_t *frame, uint32_t len, uint32_t l3, struct pkt_info *pi)
{
    pi->ip_version = 6;
    if (len - l3 < IPV6_HDR_LEN)
        return drop(pi, PKT_DROP_IPV6_TRUNCATED);
    const uint8_t *ip = frame + l3;
    if ((ip[0] >> 4) != 6)
        return drop(pi, PKT_DROP_NOT_IP);
    uint32_t plen = rd16(ip + 4);
    uint8_t nh = ip[6];
    /* Payload length 0 with hop-by-hop options is a jumbogram (RFC 2675):
     * never used on Ethernet, and not something a syslog sender emits. */
    if (plen > len - l3 - IPV6_HDR_LEN || (plen == 0 && nh == PROTO_HOPOPTS))
        return drop(pi, PKT_DROP_IPV6_BAD_PAYLOAD_LEN);

    pi->src.family = 6;
    memcpy(pi->src.addr, ip + 8, 16);
    pi->dst.family = 6;
    memcpy(pi->dst.addr, ip + 24, 16);

    const uint32_t ip_end = l3 + IPV6_HDR_LEN + plen;
    uint32_t off = l3 + IPV6_HDR_LEN;
    for (unsigned n_ext = 0;; n_ext++) {
        if (nh == PROTO_UDP) {
            pi->l3_len = (uint16_t)(off - l3);
            return decode_udp(frame, off, ip_end, pi);
        }
        if (nh != PROTO_HOPOPTS && nh != PROTO_ROUTING && nh != PROTO_DSTOPTS &&
            nh != PROTO_AH && nh != PROTO_FRAGMENT)
            return drop(pi, PKT_DROP_NOT_UDP);   /* TCP, ICMPv6, ESP, No Next Header, ... */
        if (n_ext >= PKT_MAX_IPV6_EXT)
            return drop(pi, PKT_DROP_IPV6_TOO_MANY_EXT);
        if (ip_end - off < 8)
            return drop(pi, PKT_DROP_IPV6_TRUNCATED);
        const uint8_t *e = frame + off;

        if (nh == PROTO_FRAGMENT) {
            uint16_t fo = rd16(e + 2);
            uint32_t frag_off = (uint32_t)(fo & 0xfff8);
            int more = fo & 1;
            if (!more && frag_off == 0) {
                /* Atomic fragment (RFC 6946): a whole datagram; skip the header. */
                nh = e[0];
                off += IPV6_FRAG_LEN;
                continue;
            }
            /* Only the first fragment shows the transport, but every fragment
             * repeats the next-header value, so non-UDP is dropped early. */
            if (e[0] != PROTO_UDP && e[0] != PROTO_DSTOPTS && e[0] != PROTO_AH)
                return drop(pi, PKT_DROP_NOT_UDP);
            uint32_t data = ip_end - off - IPV6_FRAG_LEN;
            if (data == 0 || (more && (data & 7)) || frag_off + data > IP_MAX_DATAGRAM)
                return drop(pi, PKT_DROP_FRAG_BAD);
            /* rte_ipv6_frag_reassemble_packet (DPDK 22.11) rebuilds the
             * datagram assuming the fragment header follows the IPv6 header
             * directly; with headers in between it would produce a corrupt
             * datagram. */
            if (off != l3 + IPV6_HDR_LEN)
                return drop(pi, PKT_DROP_IPV6_FRAG_UNSUPPORTED);
            pi->l3_len = (uint16_t)(off - l3);
            pi->frag_hdr_off = (uint16_t)off;
            pi->kind = PKT_KIND_IPV6_FRAG;
            return PKT_KIND_IPV6_FRAG;
        }

        uint32_t elen = nh == PROTO_AH ? ((uint32_t)e[1] + 2) * 4 : ((uint32_t)e[1] + 1) * 8;
        if (elen > ip_end - off)
            return drop(pi, PKT_DROP_IPV6_TRUNCATED);
        nh = e[0];
        off += elen;
    }
}

enum pkt_kind pkt_decode(const uint8_t *frame, uint32_t len, struct pkt_info *pi)
{
    memset(pi, 0, sizeof *pi);
    if (len < ETH_HDR_LEN)
        return drop(pi, PKT_DROP_L2_TRUNCATED);

    uint32_t off = 12;
    uint16_t et = rd16(frame + off);
    while (is_vlan_tpid(et)) {
        if (pi->vlan_tags == 2)
            return drop(pi, PKT_DROP_L2_TOO_MANY_TAGS);
        pi->vlan_tags++;
        off += VLAN_TAG_LEN;
        if (len < off + 2)
            return drop(pi, PKT_DROP_L2_TRUNCATED);
        et = rd16(frame + off);
    }
    off += 2;
    pi->l2_len = (uint16_t)off;

    if (et == ETHERTYPE_IPV4)
        return decode_ipv4(frame, len, off, pi);
    if (et == ETHERTYPE_IPV6)
        return decode_ipv6(frame, len, off, pi);
    return drop(pi, PKT_DROP_NOT_IP);
}

const char *pkt_drop_reason_name(enum pkt_drop_reason r)
{
    static const char *const names[PKT_DROP__COUNT] = {
        [PKT_OK] = "ok",
        [PKT_DROP_L2_TRUNCATED] = "l2_truncated",
        [PKT_DROP_L2_TOO_MANY_TAGS] = "l2_too_many_tags",
        [PKT_DROP_NOT_IP] = "not_ip",
        [PKT_DROP_IPV4_TRUNCATED] = "ipv4_truncated",
        [PKT_DROP_IPV4_BAD_IHL] = "ipv4_bad_ihl",
        [PKT_DROP_IPV4_BAD_CHECKSUM] = "ipv4_bad_checksum",
        [PKT_DROP_IPV4_BAD_TOTAL_LEN] = "ipv4_bad_total_len",
        [PKT_DROP_IPV6_TRUNCATED] = "ipv6_truncated",
        [PKT_DROP_IPV6_BAD_PAYLOAD_LEN] = "ipv6_bad_payload_len",
        [PKT_DROP_IPV6_TOO_MANY_EXT] = "ipv6_too_many_ext",
        [PKT_DROP_NOT_UDP] = "not_udp",
        [PKT_DROP_UDP_TRUNCATED] = "udp_truncated",
        [PKT_DROP_UDP_BAD_LEN] = "udp_bad_len",
        [PKT_DROP_FRAG_BAD] = "frag_bad",
        [PKT_DROP_IPV6_FRAG_UNSUPPORTED] = "ipv6_frag_unsupported",
    };
    if ((unsigned)r >= PKT_DROP__COUNT || !names[r])
        return "unknown";
    return names[r];
}
