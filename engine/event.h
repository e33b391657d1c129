/* Normalized event: what a decoder makes of one message.
 *
 * Field names in comments are the Elastic Common Schema names the event is
 * rendered with (event_json.h).  String fields are views (pointer + length)
 * into the buffer the decoder was given: the event is valid only while that
 * buffer is, and nothing in it is NUL-terminated or copied.  Bytes are kept as
 * the sender sent them (no UTF-8 validation, no unescaping); renderers escape.
 */
#ifndef VIGIL_ENGINE_EVENT_H
#define VIGIL_ENGINE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vigil_str {
    const char *ptr;   /* NULL when absent */
    uint32_t len;
};

static inline bool vigil_str_present(struct vigil_str s) { return s.ptr != NULL; }

/* An IPv4 address is stored in addr[0..3], network order. */
struct vigil_ip {
    uint8_t family;    /* 0 = absent, 4, 6 */
    uint8_t addr[16];
};

enum vigil_event_format {
    VIGIL_FMT_NONE = 0,    /* nothing header-like (no PRI, timestamp or tag): all message */
    VIGIL_FMT_RFC3164,     /* BSD syslog, including its many vendor variants */
    VIGIL_FMT_RFC5424,
};

/* What the decoder noticed but tolerated; the event is still produced.  The
 * dataplane counts each bit, so an operator sees which senders are sloppy. */
enum vigil_event_anomaly {
    VIGIL_ANOM_NO_PRI          = 1u << 0, /* no <PRI>: facility/severity default to user.notice */
    VIGIL_ANOM_BAD_PRI         = 1u << 1, /* <...> present but not a valid PRI (kept in message) */
    VIGIL_ANOM_NO_TIMESTAMP    = 1u << 2, /* @timestamp is the receive time */
    VIGIL_ANOM_BAD_TIMESTAMP   = 1u << 3, /* looked like a timestamp but was invalid */
    VIGIL_ANOM_5424_FALLBACK   = 1u << 4, /* "<PRI>1 " header that was not valid RFC 5424: parsed as 3164 */
    VIGIL_ANOM_BAD_SD          = 1u << 5, /* RFC 5424 STRUCTURED-DATA malformed: SD kept raw in message */
    VIGIL_ANOM_TRUNCATED       = 1u << 6, /* longer than syslog.max_message_bytes: cut by the dataplane */
    VIGIL_ANOM_NUL_BYTES       = 1u << 7, /* NUL bytes inside the message (kept) */
};
#define VIGIL_ANOM_COUNT 8

/* How @timestamp was obtained. */
enum vigil_ts_source {
    VIGIL_TS_RECEIVED = 0,   /* from the receive time (message had none usable) */
    VIGIL_TS_MESSAGE,        /* complete in the message (RFC 3339 with offset, or year+zone) */
    VIGIL_TS_INFERRED_YEAR,  /* BSD timestamp: year inferred from the receive time */
};

struct vigil_event {
    int64_t timestamp_ns;          /* @timestamp: UTC, ns since the epoch */
    int64_t received_ns;           /* event.created: when the packet arrived */
    struct vigil_ip observer_ip;   /* observer.ip: the packet's sender */
    uint16_t observer_port;        /* sender's UDP source port (not rendered) */

    uint8_t format;                /* enum vigil_event_format */
    uint8_t ts_source;             /* enum vigil_ts_source */
    int16_t facility;              /* log.syslog.facility.code, 0..23 */
    int16_t severity;              /* log.syslog.severity.code, 0..7 */
    int16_t tz_offset_min;         /* offset the timestamp was written in (minutes east of UTC) */
    uint32_t anomalies;            /* enum vigil_event_anomaly bits */

    int64_t pid;                   /* process.pid; -1 when absent or not numeric */
    int64_t sequence;              /* event.sequence (Cisco/RFC 5424 sequenceId); -1 when absent */

    struct vigil_str hostname;     /* host.hostname */
    struct vigil_str process_name; /* process.name: APP-NAME, TAG, or the Cisco facility (ASA, LINK) */
    struct vigil_str procid;       /* log.syslog.procid: RFC 5424 PROCID as sent, 3164 "[pid]" text */
    struct vigil_str msgid;        /* log.syslog.msgid (RFC 5424) */
    struct vigil_str event_code;   /* event.code: Cisco message id, "106023" of %ASA-4-106023 */
    int16_t vendor_severity;       /* log.level from a Cisco-style tag (0..7); -1 when absent */
    struct vigil_str structured_data; /* RFC 5424 SD, raw from '[' to the last ']' */
    struct vigil_str message;      /* message: the body, trailing CR/LF/NUL removed, BOM removed */
};

#endif
