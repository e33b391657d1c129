/* The bounded hand-off between vigil-cp's main loop and one output's thread.
 *
 * Correlation must never wait on a slow disk, a dead syslog collector or a
 * webhook that times out, so each output owns one of these queues: the main
 * loop pushes in O(1) (a pointer into a preallocated ring) and the output's
 * own thread pops, delivers and reports the outcome.  The queue is bounded by
 * a count and by bytes; a push that would exceed either is refused and counted
 * as dropped_queue_full.  Alerts an output thread has popped but not finished
 * (a batch waiting for a reconnect or a retry) stay charged to the queue, so
 * the bound holds for everything the output holds, not just what waits.
 *
 * The mutex is only held for ring updates and counter reads, never during I/O
 * or allocation, so a push waits at most for another push or pop of a few
 * pointers.
 *
 * An alert is one immutable, reference-counted record shared by every queue
 * it was pushed to: one copy of the JSON however many outputs are enabled.
 */
#ifndef VIGIL_MGMT_OUTPUT_QUEUE_H
#define VIGIL_MGMT_OUTPUT_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One alert, as the outputs see it.  Immutable after output_record_new. */
struct output_record {
    atomic_uint refs;
    int64_t ts_ns;            /* alert time, ns since the Unix epoch (0 = unknown) */
    uint8_t level;            /* 1 informational .. 5 critical (clamped on creation) */
    uint32_t json_len;        /* bytes of json, without the NUL after it */
    uint32_t title_len;
    uint32_t host_len;
    const char *title;        /* NUL-terminated, inside data; "" when none */
    const char *host;         /* NUL-terminated, inside data; NULL when no hint */
    char json[];              /* json_len bytes + NUL, then title + NUL, then host + NUL */
};

/* Copies the JSON and the strings into one allocation with one reference.
 * NULL title/host are allowed; level outside 1..5 is clamped into it.
 * Returns NULL on allocation failure or a length above UINT32_MAX. */
struct output_record *output_record_new(const char *json, size_t len, int64_t ts_ns, unsigned level,
                                      const char *title, const char *host);
void output_record_ref(struct output_record *a);
void output_record_unref(struct output_record *a);
/* What the alert costs against queue_max_bytes: JSON + title + host bytes. */
static inline uint64_t output_record_cost(const struct output_record *a)
{
    return (uint64_t)a->json_len + a->title_len + a->host_len;
}

/* A point-in-time copy of one output's counters.  At rest,
 * submitted = delivered + dropped_queue_full + failed + dropped_at_close + queue_depth. */
struct output_stats {
    uint64_t submitted;          /* alerts offered to this output (accepted or not) */
    uint64_t delivered;          /* written / sent / acknowledged, per the output's semantics */
    uint64_t dropped_queue_full; /* refused at submit: queue_max_alerts or queue_max_bytes reached */
    uint64_t failed;             /* given up: a permanent error, or retries exhausted */
    uint64_t dropped_at_close;   /* still held when the close deadline passed */
    uint64_t errors;             /* failed attempts: write, connect, send, HTTP (one per attempt) */
    uint64_t retries;            /* attempts repeated after an error */
    uint64_t truncated;          /* syslog: messages cut to max_message_bytes */
    uint64_t reopens;            /* jsonl: successful reopens of the file */
    uint64_t connects;           /* syslog/webhook: connections established (syslog TCP, UDP socket setups) */
    uint64_t bytes;              /* bytes delivered (lines, frames, request bodies) */
    uint64_t queue_depth;        /* alerts held now: waiting plus in flight */
    uint64_t queue_bytes;        /* their cost (output_record_cost) */
    char last_error[192];        /* the most recent error, "" when none */
};

enum output_counter {
    OQ_DELIVERED,
    OQ_FAILED,
    OQ_DROPPED_AT_CLOSE,
    OQ_ERRORS,
    OQ_RETRIES,
    OQ_TRUNCATED,
    OQ_REOPENS,
    OQ_CONNECTS,
    OQ_BYTES,
    OQ__COUNT
};

/* Limits of one output's queue (YAML: queue_max_alerts, queue_max_bytes). */
struct output_queue_config {
    uint32_t max_alerts;          /* 1..OUTPUT_QUEUE_MAX_ALERTS; the ring of pointers is preallocated */
    uint64_t max_bytes;           /* OUTPUT_QUEUE_MIN_BYTES..OUTPUT_QUEUE_MAX_BYTES, by output_record_cost */
};
#define OUTPUT_QUEUE_DEFAULT_ALERTS 10000u
#define OUTPUT_QUEUE_DEFAULT_BYTES  (64ull << 20)
#define OUTPUT_QUEUE_MAX_ALERTS     10000000u
#define OUTPUT_QUEUE_MIN_BYTES      1024ull
#define OUTPUT_QUEUE_MAX_BYTES      (64ull << 30)

/* 0 when valid; otherwise -1 and "PREFIX.queue_max_alerts: must be ..." in err. */
int output_queue_config_check(const struct output_queue_config *c, const char *prefix, char *err, size_t errlen);

struct output_queue;

/* CLOCK_MONOTONIC in nanoseconds: every deadline below uses it. */
int64_t output_mono_ns(void);

/* max_alerts >= 1 (the ring is allocated now), max_bytes >= 1.  NULL on ENOMEM. */
struct output_queue *output_queue_new(uint32_t max_alerts, uint64_t max_bytes);
/* Releases what is still queued (counted dropped_at_close) and the queue.
 * The consumer thread must have been joined. */
void output_queue_free(struct output_queue *q);

/* Cheap, unlocked check whether a push of this cost could succeed now; lets
 * the producer skip copying an alert nobody can take.  May be stale. */
bool output_queue_has_room(const struct output_queue *q, uint64_t cost);
/* Counts a submission; queues a (taking a reference) if it fits.
 * 0 when queued, -1 when refused (counted dropped_queue_full). */
int output_queue_push(struct output_queue *q, struct output_record *a);
/* Counts a submission refused without trying (has_room said no). */
void output_queue_count_dropped(struct output_queue *q);

/* Consumer side.  Moves up to max alerts, and no more than max_cost bytes of
 * them (at least one whatever its cost), into out; they stay charged to the
 * queue until output_queue_done.  Waits until something is there, wake_at_ns
 * (absolute, monotonic) passes, or the queue is closed.  Returns the count. */
size_t output_queue_pop(struct output_queue *q, struct output_record **out, size_t max, uint64_t max_cost,
                        int64_t wake_at_ns);

enum output_outcome { OUTPUT_DELIVERED, OUTPUT_FAILED, OUTPUT_ABANDONED };
/* Ends n popped alerts: counts them (delivered / failed / dropped_at_close),
 * uncharges them and drops the references.  Delivered bytes are counted
 * separately with output_queue_add. */
void output_queue_done(struct output_queue *q, struct output_record **a, size_t n, enum output_outcome how);

/* Adds n to a counter (relaxed atomics: counters are for operators). */
void output_queue_add(struct output_queue *q, enum output_counter c, uint64_t n);
/* Records the latest error text for the stats (printf-style, truncated). */
void output_queue_set_error(struct output_queue *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Shutdown: from now on pop never waits for new alerts, and the consumer is
 * expected to finish what it holds and exit; it must give up (abandon) what
 * is left once deadline_ns has passed.  Wakes the consumer. */
void output_queue_close(struct output_queue *q, int64_t deadline_ns);
bool output_queue_closing(struct output_queue *q);
/* True once closed and the deadline has passed: the consumer should stop. */
bool output_queue_expired(struct output_queue *q, int64_t now_ns);
/* Closing deadline, or INT64_MAX while open. */
int64_t output_queue_deadline(struct output_queue *q);
/* Sleeps until until_ns, returning early when the queue is closed (then
 * again at the deadline).  For backoffs that must not delay shutdown. */
void output_queue_sleep(struct output_queue *q, int64_t until_ns);
/* Abandons everything still waiting (counted dropped_at_close). */
void output_queue_abandon_waiting(struct output_queue *q);

void output_queue_stats(struct output_queue *q, struct output_stats *st);

#endif
