/* Frame crafting for tests, vigil-pcapgen and benches (no DPDK).
 *
 * Builds Ethernet frames (0, 1 or 2 VLAN tags) carrying IPv4 (optional
 * options, correct header checksum) or IPv6 (optional extension header chain)
 * and UDP (correct checksum), and splits a UDP datagram into IP fragments.
 * Every function writes into a caller buffer and returns 0 (or -1) when it
 * does not fit or the options are invalid; nothing allocates.
 *
 * Typical use:
 *     struct pktcraft_opts o;
 *     pktcraft_opts_init(&o);
 *     pktcraft_parse_ip("192.0.2.7", &o.src);
 *     pktcraft_parse_ip("192.0.2.1", &o.dst);
 *     size_t n = pktcraft_udp_frame(&o, "<13>hello", 9, buf, sizeof buf);
 */
#ifndef VIGIL_BENCH_PKTCRAFT_H
#define VIGIL_BENCH_PKTCRAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"

#define PKTCRAFT_MAX_EXT      16   /* IPv6 extension headers in one chain */
#define PKTCRAFT_ETH_MIN      60   /* frames are zero-padded to this, as NICs deliver them */
#define PKTCRAFT_MAX_FRAME    (22 + 40 + 65535)   /* two tags + IPv6 header + largest payload */

/* IPv6 extension header types pktcraft can write (each with minimal content:
 * PadN-filled options, an experimental-type (253) routing header with 0
 * segments left, a 16-byte AH with a zeroed 4-byte ICV, an atomic fragment
 * header (offset 0, no more fragments) with o->ip_id). */
enum {
    PKTCRAFT_EXT_HOPOPTS = 0,
    PKTCRAFT_EXT_ROUTING = 43,
    PKTCRAFT_EXT_FRAGMENT = 44,
    PKTCRAFT_EXT_AH = 51,
    PKTCRAFT_EXT_DSTOPTS = 60,
};

struct pktcraft_opts {
    uint8_t src_mac[6];            /* pktcraft_opts_init: 02:00:00:00:00:01 */
    uint8_t dst_mac[6];            /* pktcraft_opts_init: 02:00:00:00:00:02 */
    uint8_t n_vlan;                /* 0, 1 or 2 tags */
    uint16_t vlan[2];              /* VLAN ids (12 bits), outer first */
    uint16_t outer_tpid;           /* TPID of the first tag; 0 = 0x8100 for one tag,
                                      0x88A8 for QinQ.  Inner tag is always 0x8100 */
    struct vigil_ip src, dst;      /* same family: 4 or 6 */
    uint16_t sport, dport;         /* host order */
    uint8_t ttl;                   /* TTL / hop limit (init: 64) */
    uint32_t ip_id;                /* IPv4 id (low 16 bits) / IPv6 fragment id */
    const uint8_t *ip_opts;        /* IPv4 options, copied as is */
    uint8_t ip_opts_len;           /* multiple of 4, at most 40 */
    uint8_t ext[PKTCRAFT_MAX_EXT]; /* IPv6 extension headers, in order (PKTCRAFT_EXT_*) */
    uint8_t n_ext;                 /* how many of ext[] */
    uint8_t ext_len8;              /* extra 8-byte units in each hop-by-hop/routing/
                                      destination options header (0 = 8 bytes each) */
    bool no_eth_pad;               /* do not pad short frames to 60 bytes */
};

/* One frame inside a caller buffer. */
struct pktcraft_frame {
    uint8_t *data;
    uint32_t len;
};

void pktcraft_opts_init(struct pktcraft_opts *o);

/* Parses a dotted IPv4 or an IPv6 address.  Returns 0, or -1 if it is neither. */
int pktcraft_parse_ip(const char *s, struct vigil_ip *ip);

/* Largest UDP payload that fits in one IP datagram with these options. */
size_t pktcraft_max_udp_payload(const struct pktcraft_opts *o);

/* Writes a UDP header (with checksum over the pseudo-header of o->src/o->dst)
 * and the payload: the bytes an IP packet or its fragments carry.  Returns the
 * length (8 + len), or 0 when it does not fit in cap or in 65535 bytes. */
size_t pktcraft_udp_datagram(const struct pktcraft_opts *o, const void *payload, size_t len,
                             uint8_t *out, size_t cap);

/* Writes a complete frame: Ethernet, tags, IP (with o's options or extension
 * headers), UDP, payload, then zero padding to 60 bytes.  Returns the frame
 * length or 0. */
size_t pktcraft_udp_frame(const struct pktcraft_opts *o, const void *payload, size_t len,
                          uint8_t *out, size_t cap);

/* Writes one fragment frame carrying l4[off .. off+len) of a UDP datagram made
 * by pktcraft_udp_datagram (any offsets, so tests can overlap or leave holes;
 * off must be a multiple of 8).  more = the more-fragments flag.  IPv4: o's
 * options go in every fragment.  IPv6: o's extension headers go before the
 * fragment header (which DPDK's reassembly does not support: leave n_ext 0
 * for reassembly tests).  Returns the frame length or 0. */
size_t pktcraft_fragment(const struct pktcraft_opts *o, const uint8_t *l4, size_t off, size_t len,
                         bool more, uint8_t *out, size_t cap);

/* Builds the UDP datagram for payload and, if its IP packet exceeds mtu bytes,
 * splits it into fragments whose IP packets are at most mtu bytes (mtu 0 =
 * never split).  Frames are written one after another into buf and described
 * in frames[].  Returns the number of frames (1 when not fragmented), or -1
 * when buf or max_frames is too small, mtu leaves no room for 8 data bytes, or
 * the payload is too large. */
int pktcraft_udp_fragments(const struct pktcraft_opts *o, const void *payload, size_t len,
                           unsigned mtu, uint8_t *buf, size_t cap,
                           struct pktcraft_frame *frames, unsigned max_frames);

#endif
