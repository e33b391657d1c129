/* Flow record: what the NetFlow/IPFIX decoder makes of one flow data record.
 *
 * A flow record is the flow-side counterpart of struct vigil_event (event.h):
 * field names in comments are the Elastic Common Schema names it is rendered
 * with.  Unlike an event it holds no pointers: every value is copied out of
 * the packet, so a record stays valid after the packet buffer is gone and can
 * be passed through fixed-size rings between processes.
 *
 * Exporters report very different subsets of fields.  `present` (NF_HAS_*
 * bits) says which values were in the record, so a 0 that was sent is told
 * apart from a field the exporter never sends.  Counts are the exporter's
 * counts: they are never multiplied by the sampling interval (see
 * sampling_interval and docs/netflow.md).
 */
#ifndef VIGIL_ENGINE_FLOW_H
#define VIGIL_ENGINE_FLOW_H

#include <stdint.h>

#include "engine/event.h"

enum nf_has {
    NF_HAS_SRC_IP      = 1u << 0,
    NF_HAS_DST_IP      = 1u << 1,
    NF_HAS_SRC_PORT    = 1u << 2,
    NF_HAS_DST_PORT    = 1u << 3,
    NF_HAS_PROTO       = 1u << 4,
    NF_HAS_BYTES       = 1u << 5,
    NF_HAS_PACKETS     = 1u << 6,
    NF_HAS_REVERSE     = 1u << 7,   /* rev_bytes/rev_packets were reported */
    NF_HAS_TCP_FLAGS   = 1u << 8,
    NF_HAS_IN_IF       = 1u << 9,
    NF_HAS_OUT_IF      = 1u << 10,
    NF_HAS_START       = 1u << 11,  /* start_ns resolved to an absolute time */
    NF_HAS_END         = 1u << 12,
    NF_HAS_TOS         = 1u << 13,
    NF_HAS_SRC_AS      = 1u << 14,
    NF_HAS_DST_AS      = 1u << 15,
    NF_HAS_DIRECTION   = 1u << 16,
    NF_HAS_SAMPLING    = 1u << 17,  /* sampling_interval is known */
};

/* flow.direction as exporters report it (IPFIX IE 61 flowDirection). */
enum nf_direction { NF_DIR_INGRESS = 0, NF_DIR_EGRESS = 1 };

struct nf_record {
    int64_t start_ns;            /* event.start: UTC ns since the epoch (NF_HAS_START) */
    int64_t end_ns;              /* event.end (NF_HAS_END) */
    int64_t export_ns;           /* when the exporter sent the packet (header time) */
    uint64_t bytes;              /* network.bytes: both directions when rev_bytes is known */
    uint64_t packets;            /* network.packets */
    uint64_t rev_bytes;          /* destination.bytes: reverse direction (RFC 5103, NSEL responder) */
    uint64_t rev_packets;        /* destination.packets; source.* = network.* - destination.* */
    struct vigil_ip src;         /* source.ip */
    struct vigil_ip dst;         /* destination.ip */
    struct vigil_ip observer;    /* observer.ip: the exporter (the caller's UDP source address) */
    uint16_t src_port;           /* source.port */
    uint16_t dst_port;           /* destination.port */
    uint16_t observer_port;      /* exporter's UDP source port (not rendered) */
    uint16_t tcp_flags;          /* tcp flags as sent (IPFIX tcpControlBits, 8 or 16 bits) */
    uint16_t template_id;        /* 0 for NetFlow v5 */
    uint8_t proto;               /* network.transport as IANA protocol number (network.iana_number) */
    uint8_t version;             /* 5, 9 or 10 (IPFIX) */
    uint8_t tos;                 /* IP type of service / traffic class byte */
    uint8_t direction;           /* enum nf_direction (NF_HAS_DIRECTION) */
    uint8_t src_mask;            /* source prefix length (v5, IE 9/29); 0 unknown */
    uint8_t dst_mask;            /* destination prefix length (v5, IE 13/30) */
    uint32_t in_if;              /* observer.ingress.interface.id (SNMP ifIndex) */
    uint32_t out_if;             /* observer.egress.interface.id */
    uint32_t src_as;             /* source.as.number */
    uint32_t dst_as;             /* destination.as.number */
    uint32_t sampling_interval;  /* 1 in N packets sampled; 0 or 1: unsampled or not reported */
    uint32_t domain;             /* observation domain / v9 source id / v5 engine type<<8|id */
    uint32_t present;            /* enum nf_has bits */
};

#endif
