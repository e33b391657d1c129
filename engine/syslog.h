/* Syslog message decoder: RFC 5424 and RFC 3164 as devices really send it.
 *
 * syslog_parse() turns one datagram payload into a normalized event.  It never
 * allocates, never writes to the input, and is bounded by the input length.
 * It is deliberately tolerant: anything that is not empty yields an event, and
 * what was odd about the message is reported in ev->anomalies, so a sloppy
 * sender is counted, never silently lost.
 *
 * Accepted forms (in this order of detection):
 *   <PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [BOM]MSG     RFC 5424
 *   <PRI>Mmm dd hh:mm:ss HOST TAG[pid]: MSG                RFC 3164
 *   <PRI>YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm) HOST TAG: MSG  ISO time, 3164 framing
 *   <PRI>Mmm dd YYYY hh:mm:ss ...                          year in the timestamp (Cisco ASA)
 *   <PRI>Mmm dd hh:mm:ss TAG: MSG                          no hostname
 *   <PRI>seq: [*]Mmm dd hh:mm:ss.mmm [TZ]: %FAC-SEV-MNEMONIC: MSG   Cisco IOS
 *   <PRI>%ASA-4-106023: MSG                                 Cisco ASA without timestamp
 *   MSG                                                      no PRI at all
 * Trailing CR, LF and NUL bytes are stripped; other bytes, including invalid
 * UTF-8, are kept as they are.
 */
#ifndef VIGIL_ENGINE_SYSLOG_H
#define VIGIL_ENGINE_SYSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"

struct tz_zone;

/* Per-message context the caller supplies. */
struct syslog_ctx {
    int64_t received_ns;          /* receive time; used for year inference and as fallback */
    const struct tz_zone *zone;   /* zone of timestamps written without an offset; NULL = UTC */
};

enum syslog_result {
    SYSLOG_OK = 0,
    SYSLOG_ERR_EMPTY,     /* nothing but whitespace, CR, LF or NUL */
};

/* Parses buf[0..len).  On SYSLOG_OK every field of *ev except observer_ip and
 * observer_port (the caller's) is set.  On error *ev is unspecified. */
enum syslog_result syslog_parse(const char *buf, size_t len, const struct syslog_ctx *ctx,
                                struct vigil_event *ev);

/* Walks the SD-PARAMs of an RFC 5424 STRUCTURED-DATA string (ev->structured_data).
 * Escapes (\" \\ \]) are left in the values; renderers undo them. */
struct syslog_sd_iter {
    const char *p, *end;
    struct vigil_str sd_id;       /* current SD-ELEMENT's SD-ID */
};

struct syslog_sd_param {
    struct vigil_str sd_id;
    struct vigil_str name;
    struct vigil_str value;       /* between the quotes, escapes still in */
    int first_in_element;         /* 1 on the first param of an element */
};

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct vigil_str sd);
/* Returns 1 and fills *out with the next param, 0 at the end.  An element
 * without params yields one entry with name.ptr == NULL. */
int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *out);

#endif
