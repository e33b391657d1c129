/* Detection rules: Sigma YAML compiled onto Hyperscan.
 *
 * Rules are read as SigmaHQ publishes them: title, id, level, tags (ATT&CK),
 * logsource, detection (selections over fields with the modifiers contains,
 * startswith, endswith, re, all, cidr, gt, gte, lt, lte, wildcards; keyword
 * lists; value lists) and condition (and, or, not, parentheses, "1 of x*",
 * "all of them", ...).  A field mapping file maps Sigma field names to ECS
 * names per log source.  A rule that uses anything unsupported is rejected
 * with its file, id and the construct, never silently dropped.
 *
 * Compilation: every string test becomes one Hyperscan pattern (literals where
 * possible, start-of-match never needed) or an exact value in a hash table;
 * CIDR, numeric, exists and empty tests become per-field tables.  For each
 * event log source (a profile: the union of every rule log source that
 * applies to it) and field there is one database and one set of tables.  An
 * event checks each field value its profile tests exactly once (fields that
 * are views into the message are matched by the message's own scan); matches
 * set bits, and only the rules whose trigger bits matched (or that must
 * always run) evaluate their condition over the bits.  Rules of other log
 * sources cost nothing; the cost of an event does not grow with the number
 * of rules loaded.  docs/rules.md has the details and measurements.
 *
 * Read-only after detect_load; each worker brings its own hs_scratch_t and
 * detect_state (bit sets sized at load).
 */
#ifndef VIGIL_ENGINE_DETECT_H
#define VIGIL_ENGINE_DETECT_H

#include <stdint.h>

#include <hs/hs.h>

#include "engine/diag.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"

enum rule_level {
    RULE_LEVEL_INFORMATIONAL = 1,
    RULE_LEVEL_LOW,
    RULE_LEVEL_MEDIUM,
    RULE_LEVEL_HIGH,
    RULE_LEVEL_CRITICAL,
};

struct rule_info {
    char id[64];                 /* Sigma id (a UUID) as written */
    uint8_t uuid[16];            /* parsed id; a hash of the title when the id is not a UUID */
    char name[64];               /* Sigma "name" (correlation rules refer to it); "" when absent */
    char title[256];
    char author[256];            /* kept: the Detection Rule License requires attribution */
    char tags[512];              /* comma-separated, e.g. "attack.credential_access,attack.t1110" */
    char file[256];
    unsigned line;
    uint8_t level;               /* enum rule_level */
    uint16_t logsource;          /* id in the logsource table */
};

struct rule_set;
struct detect_state;

struct detect_limits {
    unsigned max_rules;
    unsigned max_patterns;       /* Hyperscan patterns across all databases */
    bool no_anchors;             /* every plain literal its own Hyperscan pattern, never an anchor
                                    (see detect.c); the answers are the same, for tests and benches */
};

/* Loads Sigma rules from paths (files or directories, *.yml / *.yaml read
 * recursively in name order) with the field mapping file fieldmap (NULL: no
 * mapping).  Field names are interned into reg (after the parsers, so a rule
 * testing a field no parser produces gets a warning).  A rule with an error
 * is rejected alone, with its file, line, id and reason in d; the rest load.
 * Returns 0, or -1 when no rule set could be built at all. */
int detect_load(const char *const *paths, unsigned n_paths, const char *fieldmap, struct field_registry *reg,
                struct logsource_table *lt, const struct detect_limits *lim, struct hsdb_cache *cache,
                struct rule_set **out, struct diag *d);
void detect_free(struct rule_set *rs);

int detect_alloc_scratch(const struct rule_set *rs, hs_scratch_t **s);
struct detect_state *detect_state_new(const struct rule_set *rs);
void detect_state_free(struct detect_state *st);

/* Evaluates the rules that apply to ef->logsource.  Writes up to max indices
 * of matching rules into out, in rule order, and returns how many rules
 * matched (which may exceed max; the excess is not written).  Returns -1 on a
 * Hyperscan scan error. */
int detect_eval(const struct rule_set *rs, hs_scratch_t *s, struct detect_state *st, const struct event_fields *ef,
                uint32_t *out, unsigned max);

/* Constant fields.  A parser adds the same values (`set:`) to every event it
 * claims; checking them per event repeats one answer.  detect_set_constants
 * checks, in every profile of rs, the constant values of each of the
 * n_parsers parsers of src (consts(src, i, &n): parser i's values, n of them)
 * once, and keeps the bits they set.  detect_eval then skips the values
 * f[const_first, const_first + const_n) of an event whose const_src is src
 * and sets those bits instead: the same answers, without the lookups.  A
 * parser that sets `message` keeps its constants checked per event.  Call it
 * again after the parser set changes; 0, or -1 when out of memory or on a
 * scan error (then no constants are skipped). */
int detect_set_constants(struct rule_set *rs, const void *src, unsigned n_parsers,
                         const struct field_value *(*consts)(const void *src, unsigned i, unsigned *n));

/* How many literals of rs's databases Hyperscan finds through a shared
 * anchor rather than as themselves (each counted once per profile). */
unsigned detect_anchored_literals(const struct rule_set *rs);

/* What the last detect_eval on st did, for tests and benchmarks: field
 * values checked against the event's log source profile (each once), value
 * table lookups, Hyperscan scans, and rules whose condition was evaluated
 * (candidates: rules of the event's log source whose trigger bits matched,
 * or that must always run). */
struct detect_eval_stats {
    uint32_t fields, lookups, hs_scans, rules;
};
void detect_last_stats(const struct detect_state *st, struct detect_eval_stats *out);

/* The Hyperscan database an event of log source lsid scans its message with
 * (every keyword and message test of the rules that apply, plus the folded
 * patterns of fields that are views into the message), or NULL when nothing
 * scans the message.  For benchmarks: a bare hs_scan of it is the floor
 * under that log source's detection cost (bench_detect). */
const hs_database_t *detect_message_db(const struct rule_set *rs, uint16_t lsid);

/* A rule's UUID: id when it is one ("xxxxxxxx-xxxx-..."), else a hash of
 * the title.  Every rule loader (log, flow) names rules this way, so signals
 * of either kind name a rule alike. */
void detect_rule_uuid(const char *id, const char *title, uint8_t out[16]);

/* A loaded rule's rule_info from its Sigma source (strings cut to their
 * fields, tags joined by commas as far as they fit, level medium when
 * absent, uuid as above); the log and flow rule loaders share it. */
struct sigma_rule;
void detect_rule_info_fill(struct rule_info *ri, const struct sigma_rule *sr, uint16_t lsid);

unsigned detect_rule_count(const struct rule_set *rs);
const struct rule_info *detect_rule(const struct rule_set *rs, unsigned idx);

#endif
