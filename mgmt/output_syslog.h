/* Syslog forwarding of alerts (RFC 5424) to one collector over UDP (RFC 5426)
 * or TCP with octet-counting framing (RFC 6587 3.4.1: "LEN SP MSG").
 *
 * Each alert becomes
 *   <PRI>1 TIMESTAMP HOSTNAME vigil PROCID alert [vigil@32473 rule="..." level="high"] {json}
 * with PRI = facility * 8 + severity, the severity mapped from the alert level
 * (critical 2, high 3, medium 4, low 5, informational 6), TIMESTAMP the alert
 * time in UTC with microseconds, HOSTNAME the alert's hostname hint when it
 * has one (so the collector files the alert under the host it is about) and
 * the configured or system host name otherwise, and MSG the JSON as is
 * (MSG-ANY: no BOM, since JSON consumers do not expect one).  32473 is the
 * private enterprise number RFC 5612 reserves for documentation.
 *
 * A message longer than max_message_bytes is cut to it (counted as
 * truncated): the rule title in the structured data is shortened first so the
 * header stays well-formed, then the JSON is cut on a UTF-8 character
 * boundary.  A truncated MSG is no longer valid JSON; raise the limit, if the
 * collector allows, when the truncated counter moves.
 *
 * A dedicated thread owns the socket; sockets are non-blocking and every wait
 * is a bounded poll.  UDP: one datagram per alert, delivered = accepted by the
 * kernel (at-most-once; nothing tells a sender the datagram arrived).  TCP:
 * connects with backoff (reconnect_backoff_ms doubling to
 * reconnect_backoff_max_ms); while disconnected alerts wait in the bounded
 * queue.  A frame not completely written when the connection fails is sent
 * again, whole, on the next connection (counted in retries); frames the
 * kernel accepted before the peer went away are lost without notice, so TCP
 * is at-most-once too, with fewer losses.  The peer closing is noticed while
 * idle (a readable socket that reads EOF), so a restarted collector gets a
 * fresh connection before the next alert.
 */
#ifndef VIGIL_MGMT_OUTPUT_SYSLOG_H
#define VIGIL_MGMT_OUTPUT_SYSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/output_queue.h"

enum output_syslog_protocol { OUTPUT_SYSLOG_UDP = 0, OUTPUT_SYSLOG_TCP };

#define OUTPUT_SYSLOG_MIN_MESSAGE     480      /* RFC 5424 6.1: every receiver accepts this */
#define OUTPUT_SYSLOG_MAX_UDP_MESSAGE 65000    /* below the 65507-byte UDP/IPv4 payload limit */
#define OUTPUT_SYSLOG_MAX_TCP_MESSAGE (16u << 20)
#define OUTPUT_SYSLOG_SD_ID           "vigil@32473"
#define OUTPUT_SYSLOG_TITLE_MAX       255      /* bytes of rule title kept in the structured data */

struct output_syslog_config {
    bool enabled;
    char host[256];               /* collector: name or address */
    int port;                     /* 1..65535, default 514 */
    enum output_syslog_protocol protocol;   /* default udp */
    int facility;                 /* 0..23, default 16 (local0) */
    uint32_t max_message_bytes;   /* whole message, without TCP's length prefix; default 2048 */
    char hostname[256];           /* HOSTNAME when the alert has no hint; "" = gethostname() */
    uint32_t connect_timeout_ms;  /* TCP; default 5000 */
    uint32_t reconnect_backoff_ms;     /* first wait after a failure; default 500 */
    uint32_t reconnect_backoff_max_ms; /* the doubling stops here; default 30000 */
    struct output_queue_config queue;
};

void output_syslog_config_defaults(struct output_syslog_config *c);
/* 0 when valid; -1 with "outputs.syslog.KEY: reason" in err. */
int output_syslog_config_validate(const struct output_syslog_config *c, char *err, size_t errlen);
/* "udp" / "tcp" -> enum; -1 otherwise. */
int output_syslog_protocol_parse(const char *s, enum output_syslog_protocol *out);
/* A facility name (kern, user, mail, daemon, auth, syslog, lpr, news, uucp,
 * cron, authpriv, ftp, ntp, security, console, solaris-cron, local0..local7)
 * or a number 0..23 -> 0..23; -1 otherwise. */
int output_syslog_facility_parse(const char *s, int *out);

/* Syslog severity for an alert level 1..5 (out-of-range levels clamp). */
int output_syslog_severity(unsigned level);

/* Writes the RFC 5424 message for a into buf (no framing, no NUL) and returns
 * its length, at most min(max_bytes, cap).  max_bytes >= OUTPUT_SYSLOG_MIN_MESSAGE.
 * hostname and procid are used as given after replacing bytes syslog does not
 * allow (outside 33..126) with '_'; a->host overrides hostname.  *truncated is
 * set when the title or the JSON had to be shortened. */
size_t output_syslog_format(char *buf, size_t cap, size_t max_bytes, const struct output_record *a, int facility,
                            const char *hostname, const char *procid, bool *truncated);

struct output_syslog;

/* Starts the sender thread consuming q (q must outlive it).  The collector is
 * resolved and connected by the thread, so an unreachable collector at start
 * is not an error: it is retried with backoff.  0, or -1 with err. */
int output_syslog_start(const struct output_syslog_config *c, struct output_queue *q, struct output_syslog **out,
                        char *err, size_t errlen);
/* Joins the thread (the queue must have been closed) and frees the output. */
void output_syslog_join(struct output_syslog *o);

#endif
