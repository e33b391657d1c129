/* Debug tap: normalized events as JSON lines (engine/event_json.h), for an
 * operator who wants to see what the dataplane makes of the traffic.
 *
 * Each worker renders into its own buffer and writes it out when it is full
 * (one write(2) of up to TAP_BUF_BYTES under a mutex), so the tap costs
 * throughput while on and nothing while off.  Lines of different workers never
 * interleave mid-line.
 */
#ifndef VIGIL_DATAPLANE_TAP_H
#define VIGIL_DATAPLANE_TAP_H

#include <stddef.h>

#include "engine/event.h"

#define TAP_BUF_BYTES (1u << 20)

struct tap;
struct worker_counters;

/* path "-" is standard output.  Returns NULL with a message in err. */
struct tap *tap_open(const char *path, unsigned n_workers, char *err, size_t errlen);

/* Renders ev for worker w.  payload_len bounds the event's string bytes (all
 * its views point into one payload).  extra (extra_len bytes, may be 0) holds
 * more JSON members to add at the top level: the parser and parsed fields.
 * An event that cannot be written is counted in c->tap_dropped. */
void tap_write(struct tap *t, unsigned w, const struct vigil_event *ev, size_t payload_len, const char *extra,
               size_t extra_len, struct worker_counters *c);

struct vigil_signal;
struct rule_info;

/* Writes one detection signal line (signal_json_render). */
void tap_write_signal(struct tap *t, unsigned w, const struct vigil_signal *sig, const struct rule_info *ri,
                      struct worker_counters *c);

/* Writes out worker w's buffer. */
void tap_flush(struct tap *t, unsigned w);

/* Flushes every buffer and closes the file. */
void tap_close(struct tap *t);

#endif
