/* Folding duplicate alerts: the same rule about the same entity (and user,
 * and correlation group) within a window becomes one alert with a count.
 *
 * An alert is held from its first occurrence until its window closes, then
 * emitted once with count, first_seen and last_seen.  Holding (instead of
 * writing the first occurrence and patching it later) keeps every stored
 * alert immutable, which is what the store's hash chain needs.  All alerts
 * wait the same window on the same clock, so they leave in the order they
 * came: emission order is id order.
 *
 * Bounded: at most max_pending alerts wait; alert_fold_full() tells the
 * caller to pop the oldest early (alert_fold_pop with force), which is
 * counted.  Single-threaded; no allocation after alert_fold_new.
 */
#ifndef VIGIL_MGMT_ALERT_FOLD_H
#define VIGIL_MGMT_ALERT_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/record.h"

struct alert_fold;

struct alert_fold_stats {
    uint64_t created;          /* alerts opened (each emitted once) */
    uint64_t folded;           /* duplicates counted into a waiting alert */
    uint64_t emitted;
    uint64_t emitted_early;    /* of emitted: popped before their window closed, table full */
    uint32_t pending;
};

/* NULL when out of memory.  window_ns >= 0 (0: every alert is due at once,
 * nothing folds). */
struct alert_fold *alert_fold_new(unsigned max_pending, int64_t window_ns);
void alert_fold_free(struct alert_fold *f);

bool alert_fold_full(const struct alert_fold *f);

/* Where new alerts get their ids (vigil-cp: the store, which never hands an
 * id out twice, crash or not). */
typedef uint64_t (*alert_id_fn)(void *ctx);

/* Adds a (its id is ignored): folds it into the waiting alert with the same
 * rule, entity, user and group key, else opens a new one with id
 * alloc(ctx).  now_ns is the clock windows run on (receive time).  Returns
 * the id of the alert it went into, or 0 when the table is full. */
uint64_t alert_fold_add(struct alert_fold *f, const struct vigil_alert *a, int64_t now_ns, alert_id_fn alloc,
                        void *ctx);

/* Pops up to max alerts whose window closed by now_ns, oldest first, into
 * out; force pops the oldest regardless (shutdown, table full). */
unsigned alert_fold_pop(struct alert_fold *f, int64_t now_ns, bool force, struct vigil_alert *out, unsigned max);

void alert_fold_stats(const struct alert_fold *f, struct alert_fold_stats *st);

#endif
