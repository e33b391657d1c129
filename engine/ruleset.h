/* A ruleset: parser packs, Sigma rules and the field mapping, loaded and
 * compiled together, plus the per-worker state that runs them.
 *
 * Loading is the slow part (Hyperscan compiles) and happens off the packet
 * path: in vigilctl (rules compile), or in a vigil-dp control thread.  The
 * compiled databases are kept in a file (compiled_path) next to a hash of
 * every source file, so a later load with the same sources deserializes them
 * in milliseconds instead of compiling.  Once loaded, a ruleset is read-only
 * except for each worker's own slot (scratch, field buffer, counters), so
 * workers never share writable state.
 *
 * Per event: ruleset_process() turns a decoded syslog event into fields
 * (parsers), evaluates the detection rules on them, and writes one signal per
 * matching rule.
 */
#ifndef VIGIL_ENGINE_RULESET_H
#define VIGIL_ENGINE_RULESET_H

#include <limits.h>
#include <stdint.h>

#include <hs/hs.h>

#include "engine/detect.h"
#include "engine/diag.h"
#include "engine/event.h"
#include "engine/fields.h"
#include "engine/parser.h"
#include "engine/signal.h"

struct ruleset_config {
    char parsers_dir[PATH_MAX];
    char rules_dir[PATH_MAX];
    char fieldmap[PATH_MAX];          /* "" = no field mapping */
    char compiled_path[PATH_MAX];     /* "" = compile every time */
    const char *extra_rules[8];       /* more rule files or directories (caller-owned), e.g. for benches */
    unsigned n_extra_rules;
    struct parser_limits parser_limits;
    struct detect_limits detect_limits;
    unsigned max_fields;              /* fields per event (<= FIELDS_HARD_MAX) */
    unsigned excerpt_max;             /* bytes of message in a signal (<= SIGNAL_EXCERPT_MAX) */
    unsigned max_matches;             /* rules that may fire on one event; more are counted */
};

/* Sensible limits for an appliance; callers override from vigil.yaml. */
void ruleset_config_defaults(struct ruleset_config *c);

/* One worker's private state and counters. */
struct ruleset_worker {
    hs_scratch_t *scratch;
    struct detect_state *dstate;
    struct event_fields ef;
    uint32_t *matches;
    uint64_t *parsed;                 /* per parser: events it claimed */
    uint64_t *unparsed;               /* per log source id: events no parser claimed */
    uint64_t *fired;                  /* per rule: matches */
    uint64_t events, scan_errors, fields_dropped, matches_dropped;
};

struct ruleset {
    struct field_registry *reg;
    struct logsource_table *lt;
    struct parser_set *parsers;
    struct rule_set *rules;
    uint64_t hash;                    /* of every source file, in load order */
    unsigned compiled, reused;        /* Hyperscan databases compiled vs loaded from compiled_path */
    unsigned excerpt_max, max_fields, max_matches;
    field_id fid_source_ip, fid_destination_ip, fid_source_port, fid_destination_port, fid_user_name;
    uint8_t *key_of_field;            /* field id -> 1 + its place among the five above, or 0 */
    unsigned n_key_of_field;
    unsigned n_workers;
    struct ruleset_worker *w;
};

/* Loads and compiles.  Parser packs and rules with errors are left out and
 * reported in d (file, line, reason); the rest load.  Returns 0, or -1 when
 * nothing usable could be built (the reason is in d). */
int ruleset_load(const struct ruleset_config *cfg, struct ruleset **out, struct diag *d);

/* Allocates per-worker state for n workers (scratch sized for every
 * database).  0, or -1 when out of memory. */
int ruleset_attach_workers(struct ruleset *rs, unsigned n);

void ruleset_free(struct ruleset *rs);

/* Parses and checks one event on worker w.  Fills out[0..max) with signals
 * and returns how many were written.  Never allocates. */
unsigned ruleset_process(const struct ruleset *rs, unsigned w, const struct vigil_event *ev,
                         struct vigil_signal *out, unsigned max);

/* The fields of the last event processed on worker w (for tools and the tap). */
const struct event_fields *ruleset_last_fields(const struct ruleset *rs, unsigned w);

/* Writes counters (per parser, per rule, per log source, totals) summed over
 * workers as one JSON object. */
void ruleset_print_counters_json(const struct ruleset *rs, void *file /* FILE * */);

#endif
