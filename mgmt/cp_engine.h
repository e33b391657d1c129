/* vigil-cp's pipeline, one object: signal -> alert -> fold and correlate ->
 * emit (incident, store, outputs).  vigil_cp.c owns the loop and the rings;
 * this module owns everything a signal goes through after it leaves a ring.
 *
 * Single-threaded (the outputs run their own threads behind bounded
 * queues).  Memory is bounded by cp_config: the fold table, the incident
 * tracker, the correlation windows and the output queues.
 */
#ifndef VIGIL_MGMT_CP_ENGINE_H
#define VIGIL_MGMT_CP_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/signal_ring.h"
#include "engine/diag.h"
#include "engine/signal.h"

struct cp_config;
struct ruleset;
struct store;
struct cp_engine;

struct flow_ruleset;

/* Builds the rule metadata of the detection rules (rs, may be NULL) and flow
 * rules (frs, may be NULL), loads the correlation rules against both (errors in d), and
 * allocates the fold table and incident tracker.  0, or -1 with err. */
int cp_engine_new(const struct cp_config *cfg, const struct ruleset *rs, const struct flow_ruleset *frs,
                  struct cp_engine **out, struct diag *d, char *err, size_t errlen);
unsigned cp_engine_correlation_rules(const struct cp_engine *e);

/* Uses st from now on: continues its alert and incident ids, restores open
 * incidents and correlation windows from it, records the ruleset hash. */
int cp_engine_attach_store(struct cp_engine *e, struct store *st, uint64_t ruleset_hash, int64_t now_ns, char *err,
                           size_t errlen);
int cp_engine_start_outputs(struct cp_engine *e, char *err, size_t errlen);
void cp_engine_reopen_outputs(struct cp_engine *e);

/* A burst of n signals from a ring; now_ns is the wall clock, mono_ns the
 * monotonic clock fold windows run on. */
void cp_engine_signals(struct cp_engine *e, const struct vigil_signal *s, unsigned n, int64_t now_ns,
                       int64_t mono_ns);

/* Emits folded alerts whose window closed, expires correlation windows
 * (bounded work), commits the store when due, checkpoints. */
void cp_engine_tick(struct cp_engine *e, int64_t now_ns, int64_t mono_ns);

/* An operator's command line from the control socket ("incident ack ID",
 * "incident close ID", "ping"); the answer goes to reply. */
void cp_engine_command(struct cp_engine *e, const char *request, char *reply, size_t cap);

/* Nothing waits to be emitted or committed. */
bool cp_engine_idle(const struct cp_engine *e);

/* Emits every waiting alert, checkpoints, commits, stops the outputs. */
void cp_engine_shutdown(struct cp_engine *e, int64_t now_ns);

/* Writes the counters (and the rings' stats) as JSON to path, atomically
 * (temp file + rename). */
void cp_engine_write_status(struct cp_engine *e, const char *path, const struct signal_ring_stats *rings,
                            const bool *attached, unsigned n_rings, int64_t now_ns);

void cp_engine_free(struct cp_engine *e);

#endif
