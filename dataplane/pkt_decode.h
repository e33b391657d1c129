/* L2-L4 decode of one received frame: Ethernet, 802.1Q/QinQ, IPv4 (with
 * options), IPv6 (with extension headers), UDP.
 *
 * pkt_decode() reads only frame[0..len), trusts no length field in the packet,
 * and classifies the frame as a complete UDP datagram, an IP fragment (to be
 * given to reassembly), or a drop with a reason the caller counts.  It needs no
 * DPDK state, so tests and fuzzers call it on plain buffers.
 */
#ifndef VIGIL_DATAPLANE_PKT_DECODE_H
#define VIGIL_DATAPLANE_PKT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"

/* Why a frame was dropped.  Every value is a counter (stats.h, malformed[]);
 * pkt_drop_reason_name() gives the counter's name. */
enum pkt_drop_reason {
    PKT_OK = 0,
    PKT_DROP_L2_TRUNCATED,         /* shorter than its Ethernet header and tags */
    PKT_DROP_L2_TOO_MANY_TAGS,     /* more than two VLAN tags */
    PKT_DROP_NOT_IP,               /* ethertype is neither IPv4 nor IPv6 (ARP, LLDP, ...) */
    PKT_DROP_IPV4_TRUNCATED,       /* fewer bytes than the IPv4 header (IHL) claims */
    PKT_DROP_IPV4_BAD_IHL,         /* IHL < 5 or version != 4 */
    PKT_DROP_IPV4_BAD_CHECKSUM,    /* header checksum wrong */
    PKT_DROP_IPV4_BAD_TOTAL_LEN,   /* total length < header or > bytes on the wire */
    PKT_DROP_IPV6_TRUNCATED,       /* fewer than 40 bytes, or an extension header cut off */
    PKT_DROP_IPV6_BAD_PAYLOAD_LEN, /* payload length > bytes on the wire (or jumbogram) */
    PKT_DROP_IPV6_TOO_MANY_EXT,    /* more extension headers than PKT_MAX_IPV6_EXT */
    PKT_DROP_NOT_UDP,              /* transport is not UDP (TCP, ICMP, ...) */
    PKT_DROP_UDP_TRUNCATED,        /* fewer than 8 bytes for the UDP header */
    PKT_DROP_UDP_BAD_LEN,          /* UDP length < 8 or > the IP payload */
    PKT_DROP_FRAG_BAD,             /* fragment with impossible offset/length (e.g. past 65535) */
    PKT_DROP_IPV6_FRAG_UNSUPPORTED,/* IPv6 fragment header not right after the IPv6 header:
                                      DPDK 22.11 reassembly would corrupt the datagram */
    PKT_DROP__COUNT
};

#define PKT_MAX_IPV6_EXT 8

enum pkt_kind {
    PKT_KIND_DROP = 0,
    PKT_KIND_UDP,          /* complete UDP datagram: payload fields valid */
    PKT_KIND_IPV4_FRAG,    /* IPv4 fragment: l2_len, l3_len, src, dst valid */
    PKT_KIND_IPV6_FRAG,    /* IPv6 fragment: l2_len, l3_len (up to the fragment header), frag_hdr_off,
                              src, dst valid */
};

/* l3_len of an IPv6 fragment is the IPv6 header plus the extension headers
 * before the fragment header, NOT including the 8-byte fragment header; since
 * fragments with headers before the fragment header are dropped
 * (PKT_DROP_IPV6_FRAG_UNSUPPORTED) it is always 40.  DPDK's
 * rte_ipv6_frag_reassemble_packet() wants mbuf->l3_len to INCLUDE the fragment
 * header (it computes the fragment's data length as payload_len - 8 and strips
 * l2_len + l3_len from every non-first fragment), so reasm_feed() sets
 * m->l3_len = pi->l3_len + 8.  For IPv4 l3_len is IHL * 4 in both places. */

struct pkt_info {
    uint8_t kind;            /* enum pkt_kind */
    uint8_t drop_reason;     /* enum pkt_drop_reason, PKT_OK unless kind == DROP */
    uint8_t vlan_tags;       /* 0, 1 or 2 */
    uint8_t ip_version;      /* 4 or 6 (0 before L3) */
    uint16_t l2_len;         /* bytes before the IP header */
    uint16_t l3_len;         /* IP header incl. options / extension headers before the
                                fragment header (IPv6) or before UDP */
    uint16_t frag_hdr_off;   /* IPv6: offset of the fragment header from frame start */
    struct vigil_ip src;
    struct vigil_ip dst;
    uint16_t src_port;       /* host order */
    uint16_t dst_port;       /* host order */
    uint32_t payload_off;    /* UDP payload: offset from frame start ... */
    uint32_t payload_len;    /* ... and length, from the UDP length field, validated */
};

/* Decodes frame[0..len).  Returns pi->kind; every field it documents for that
 * kind is set.  After reassembly the caller decodes the reassembled (linear)
 * datagram again, which then reports PKT_KIND_UDP. */
enum pkt_kind pkt_decode(const uint8_t *frame, uint32_t len, struct pkt_info *pi);

const char *pkt_drop_reason_name(enum pkt_drop_reason r);

#endif
