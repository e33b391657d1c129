/* vigil-cp's use of the correlation engine (correlate.h): loading the
 * correlation rules against the loaded detection rules, checkpointing open
 * windows into the store's corr database and restoring them at start, and
 * the counters in vigil-cp's status file.
 */
#ifndef VIGIL_MGMT_CP_CORRELATE_H
#define VIGIL_MGMT_CP_CORRELATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/diag.h"
#include "mgmt/correlate.h"

struct cp_config;
struct ruleset;
struct rule_meta_table;
struct store;
struct cp_correlate;

/* Loads cfg->correlation_rules ("" = none) resolved against rs's detection
 * rules and frs's flow rules (may be NULL); errors per rule in d.  fire is called for every fire.  0, or -1
 * with err (out of memory, bad limits). */
struct flow_ruleset;
int cp_correlate_new(const struct cp_config *cfg, const struct ruleset *rs, const struct flow_ruleset *frs,
                     corr_fire_fn fire, void *arg, struct cp_correlate **out, struct diag *d, char *err,
                     size_t errlen);
void cp_correlate_free(struct cp_correlate *c);

unsigned cp_correlate_rule_count(const struct cp_correlate *c);
/* Adds each correlation rule's title, level and tags to t. */
int cp_correlate_add_meta(const struct cp_correlate *c, struct rule_meta_table *t);
/* Sigma `generate`: whether detection rule uuid's own alerts are kept. */
int cp_correlate_generates(const struct cp_correlate *c, const uint8_t uuid[16]);

/* Re-opens the windows checkpointed in st (stale ones are dropped and
 * counted).  0, or -1 with err when the store cannot be read. */
int cp_correlate_restore(struct cp_correlate *c, struct store *st, char *err, size_t errlen);

/* n signals of one ring burst, alert_ids[i] the alert signal i became (0:
 * none); fires go to the callback given at creation before this returns. */
void cp_correlate_feed(struct cp_correlate *c, const struct vigil_signal *s, const uint64_t *alert_ids, unsigned n,
                       int64_t now_ns);

/* Expires windows (bounded work). */
void cp_correlate_tick(struct cp_correlate *c, int64_t now_ns);

/* True every 10 s: time to checkpoint (the caller first stores every
 * alert a window may cite, then calls cp_correlate_checkpoint). */
bool cp_correlate_checkpoint_due(struct cp_correlate *c, int64_t now_ns);

/* Replaces the stored checkpoint with the open windows, in one transaction
 * of its own (what is staged is committed first).  Its cost grows with the
 * open windows (one put each): the interval is 10 s. */
void cp_correlate_checkpoint(struct cp_correlate *c, struct store *st);

void cp_correlate_write_stats(const struct cp_correlate *c, FILE *f);

#endif
