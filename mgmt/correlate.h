/* Correlation engine: windows per (correlation rule, group key) over the
 * detection signals vigil-cp drains from the dataplane.
 *
 * vigil-cp turns each signal into an alert (with a u64 id) and feeds it
 * here; the engine calls the fire callback when a correlation rule's
 * condition holds.  docs/correlation.md is the operator's description; the
 * exact semantics:
 *
 * Time.  A signal's time is its event time (ts_ns) unless that is missing
 * (<= 0) or further than max_clock_skew_ns from its receive time
 * (received_ns), in which case it is the receive time (counted in
 * time_from_receive).  A missing receive time is replaced by the caller's
 * now_ns.  The watermark is the latest receive time seen (the appliance's
 * own clock, so a sender whose clock runs ahead cannot make other senders'
 * signals late).  A signal whose time is older than watermark -
 * max_clock_skew_ns - allowed_lateness_ns is dropped and counted
 * (late_signals_dropped): with event times trusted only within the skew,
 * that is a signal delivered more than allowed_lateness_ns behind the
 * newest one.  Anything newer is placed by its time even when it arrives
 * out of order.
 *
 * Windows.  Keyed by (rule, group key), where the key is the group-by values
 * of the signal; a signal missing one of them (absent address, port 0, empty
 * user) does not join that rule (signals_missing_field).  Two modes:
 *   - sliding (conditions with only a lower bound: gt, gte, temporal
 *     defaults): the condition is checked at every signal over the signals
 *     of the last timespan (times in [T - timespan, T], T the latest) and
 *     the rule fires at the signal that makes it hold.  After firing, the
 *     window stays quiet for one timespan ("hold"), so the next fire of that
 *     key is based only on signals at or after the previous fire: a flood
 *     gives one fire per timespan per key, not one per signal.
 *   - tumbling (any upper bound: lt, lte, eq, gt+lte...): a window opens at
 *     its first signal and closes timespan later; the condition is checked
 *     once, at the close (a later signal past the end, or corr_expire), so
 *     "fewer than N" can be decided.  A signal older than the open window's
 *     start counts toward it (its own window already closed).
 * The count the condition tests: event_count, signals (sliding: in 16
 * buckets of timespan/16, so a signal is never counted once it is more than
 * timespan old and always while less than 15/16 timespan old); value_count,
 * distinct values of the field (exact: a 64-bit hash per value with the time
 * it was last seen, up to the rule's threshold); temporal, referenced rules
 * seen; temporal_ordered, the longest prefix of the rule list seen in order
 * (event times non-decreasing) within timespan.
 *
 * Memory.  All windows are one preallocated array of equal slots; the slot
 * size depends on the loaded rules (corr_stats().window_bytes).  When every
 * slot is taken, a new key evicts an old window, chosen by a CLOCK sweep (a
 * window updated since the hand last passed survives, one seen once does
 * not), counted in windows_evicted_full; an evicted window is dropped
 * without being evaluated.
 *
 * Expiry.  A window is useless once the clock passes its deadline (sliding:
 * last signal + timespan + lateness; tumbling: start + timespan +
 * lateness): after that only a signal delivered late, or stamped by a
 * lagging clock, could change it, and such a signal opens a new window.
 * corr_expire walks a hashed timer wheel with bounded work per call.  The
 * clock is max(watermark, now_ns): now_ns lets idle windows close when no
 * signals arrive; pass 0 when replaying old traffic.
 *
 * Not thread-safe: one engine per thread.  The fire callback must not call
 * back into the engine.
 */
#ifndef VIGIL_MGMT_CORRELATE_H
#define VIGIL_MGMT_CORRELATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/signal.h"
#include "mgmt/corr_rules.h"

#define CORR_MAX_ALERT_IDS   64    /* ceiling of corr_config.max_alert_ids */
#define CORR_GROUP_TEXT_MAX  256
#define CORR_BUCKETS         16    /* sliding event counts: buckets per timespan */

struct corr_config {
    uint32_t max_keys;            /* windows kept at once (rule x group key); default 262144 */
    uint64_t max_memory;          /* bytes for the window slots, 0 = no cap; the smaller of the two wins */
    uint32_t max_alert_ids;       /* contributing alert ids kept per window (1..CORR_MAX_ALERT_IDS; default 8) */
    int64_t allowed_lateness_ns;  /* default 60 s */
    int64_t max_clock_skew_ns;    /* event vs receive time beyond which receive time is used; default 15 s */
    int64_t tick_ns;              /* expiry resolution; default 1 s */
    uint32_t wheel_slots;         /* timer wheel size (power of two); default 4096 */
};

void corr_config_default(struct corr_config *cfg);

enum corr_fire_reason {
    CORR_FIRE_THRESHOLD = 1,      /* sliding: the signal that made the condition hold */
    CORR_FIRE_CLOSE,              /* tumbling: the window closed with the condition holding */
};

/* What the engine reports when a rule fires.  Valid during the callback. */
struct corr_fire {
    const struct corr_rule *rule;     /* uuid, title, level, tags, name, id */
    uint32_t rule_index;              /* in the ruleset */
    uint8_t reason;                   /* enum corr_fire_reason */
    uint8_t chain_depth;              /* 0, or how many chained fires led here */
    char group_key[CORR_GROUP_TEXT_MAX]; /* "source.ip=10.0.0.5,user.name=root"; "" without group-by */
    struct vigil_ip entity;           /* first address-typed group-by value; family 0 if none */
    uint64_t count;                   /* what the condition tested (module comment) */
    uint64_t signals;                 /* event_count: as count; others: signals since the window opened or
                                       * last fired (tumbling: in the window) */
    int64_t first_ns, last_ns;        /* earliest and latest signal time of the window */
    uint64_t trigger_alert_id;        /* the alert that completed it (CORR_FIRE_THRESHOLD) or the last one */
    uint64_t alert_ids[CORR_MAX_ALERT_IDS]; /* contributing alerts in the window, oldest first; temporal
                                             * types list one per rule seen first */
    uint32_t n_alert_ids;
    uint64_t alert_ids_total;         /* contributing alerts (= signals), listed or not */
};

typedef void (*corr_fire_fn)(const struct corr_fire *f, void *arg);

struct corr_counters {
    uint64_t signals_in;              /* corr_feed calls */
    uint64_t signals_unreferenced;    /* no correlation rule references the signal's rule */
    uint64_t signals_missing_field;   /* (signal, rule) pairs skipped for a missing group-by/value field */
    uint64_t late_signals_dropped;
    uint64_t time_from_receive;       /* event time missing or implausible: receive time used */
    uint64_t windows_open;            /* now */
    uint64_t windows_created;
    uint64_t windows_evicted_full;
    uint64_t windows_expired;
    uint64_t fires;
    uint64_t fires_at_close;          /* of fires, CORR_FIRE_CLOSE */
    uint64_t fires_suppressed;        /* condition held during a hold: no fire */
    uint64_t chained_events;          /* fires fed to rules that reference a correlation rule */
    uint64_t restored;                /* windows restored from checkpoints */
    uint64_t restore_stale;           /* blobs of a rule that is gone or changed */
    uint64_t restore_bad;             /* blobs that failed to decode */
    uint64_t window_bytes;            /* memory per tracked group key (one slot) */
    uint64_t memory_bytes;            /* all tables: slots, hash buckets, wheel */
    uint32_t max_keys;                /* slots (after max_memory) */
};

struct corr_engine;

/* The engine borrows rs (resolved, see corr_ruleset_resolve): keep it alive
 * and unchanged until corr_engine_free.  cfg NULL means defaults.  Returns
 * NULL when out of memory or when cfg is invalid (why in err). */
struct corr_engine *corr_engine_new(const struct corr_ruleset *rs, const struct corr_config *cfg, corr_fire_fn fire,
                                    void *arg, char *err, size_t errlen);
void corr_engine_free(struct corr_engine *e);

/* One detection signal, turned into alert alert_id by the caller.  now_ns
 * is the caller's wall clock (used when the signal has no receive time).
 * Fires (and chained fires) are reported through the callback before this
 * returns.  Returns the number of fires. */
unsigned corr_feed(struct corr_engine *e, const struct vigil_signal *sig, uint64_t alert_id, int64_t now_ns);

/* The same for n signals in a row (a ring burst), alert_ids[i] being signal
 * i's: identical results to n corr_feed calls, about three times as fast on big
 * tables because the windows of up to 16 signals are fetched from memory
 * together.  Returns the number of fires. */
unsigned corr_feed_burst(struct corr_engine *e, const struct vigil_signal *sigs, const uint64_t *alert_ids,
                         unsigned n, int64_t now_ns);

/* Expires windows whose deadline is before max(watermark, now_ns), closing
 * tumbling windows (which may fire).  Does at most about max_work units
 * (a window examined or a wheel slot passed); *more (may be NULL) tells
 * whether work is left for the same clock.  Returns windows expired. */
unsigned corr_expire(struct corr_engine *e, int64_t now_ns, unsigned max_work, bool *more);

void corr_stats(const struct corr_engine *e, struct corr_counters *out);

/* Checkpoint.  Calls cb once per open window with a stable key (rule uuid
 * then the encoded group values; at most 16 + CORR_KEY_MAX bytes) and a
 * self-contained, versioned, checksummed, position-independent blob (valid
 * during the call).  cb returns nonzero to stop; that value is returned,
 * else 0.  Windows are not changed. */
typedef int (*corr_blob_fn)(const void *key, size_t keylen, const void *blob, size_t len, void *arg);
int corr_checkpoint_each(struct corr_engine *e, corr_blob_fn cb, void *arg);

enum corr_restore_result {
    CORR_RESTORE_OK = 0,
    CORR_RESTORE_BAD = -1,        /* truncated, corrupt or of another version */
    CORR_RESTORE_STALE = -2,      /* its rule is gone or changed since (uuid or fingerprint) */
};

/* Re-opens one checkpointed window (a full table evicts, as for a new key).
 * The watermark moves to the window's last signal if later. */
enum corr_restore_result corr_restore(struct corr_engine *e, const void *blob, size_t len);

#endif
