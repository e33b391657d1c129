/* Sigma correlation rules: YAML documents to resolved rules (loader side of
 * correlate.h).
 *
 * Reads the Sigma correlation spec with libyaml's document API, so every
 * error names the file, line and rule (id, else name, else title) it is
 * about.  Loading has two steps, because rules refer to each other and to
 * detection rules by id or name:
 *
 *   1. corr_load_buffer / corr_load_path parse documents.  A document with a
 *      `correlation:` key is a correlation rule; any other document is a
 *      detection rule (the detection loader's business) and is skipped
 *      silently.  What is read: title, id, name, level, tags, and under
 *      correlation: type (event_count, value_count, temporal,
 *      temporal_ordered; value_sum, value_avg and value_percentile are
 *      rejected as "unsupported correlation type"), rules, group-by,
 *      timespan (N followed by s, m, h or d), condition (gt, gte, lt, lte, eq,
 *      field), aliases, generate.
 *   2. corr_ruleset_resolve binds every reference to a detection rule the
 *      caller knows (by UUID, id as written, or name) or to another
 *      correlation rule of the set (chaining, by name or id), checks fields
 *      and aliases against what the references provide, rejects loops, and
 *      lays out each rule's group key.
 *
 * A rule with an error is rejected alone (one DIAG_ERROR); the others load.
 * Loaders never print.
 */
#ifndef VIGIL_MGMT_CORR_RULES_H
#define VIGIL_MGMT_CORR_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/diag.h"
#include "engine/signal.h"

#define CORR_MAX_REFS        16    /* rules one correlation rule names */
#define CORR_MAX_GROUP       4     /* group-by entries */
#define CORR_MAX_DISTINCT    1024  /* value_count thresholds above this are refused (memory per window) */
#define CORR_MAX_CHAIN_DEPTH 4     /* correlation -> correlation -> ... links */
#define CORR_MAX_TIMESPAN_NS (366LL * 86400 * 1000000000LL)
#define CORR_KEY_MAX         (CORR_MAX_GROUP * SIGNAL_USER_MAX) /* bytes of an encoded group key */

enum corr_type {
    CORR_EVENT_COUNT = 1,
    CORR_VALUE_COUNT,
    CORR_TEMPORAL,
    CORR_TEMPORAL_ORDERED,
};

/* Signal fields a correlation can group by or count.  Names are ECS; the
 * synonyms corr_field_lookup accepts are listed in docs/correlation.md. */
enum corr_field {
    CORR_F_NONE = 0,
    CORR_F_SOURCE_IP,
    CORR_F_DESTINATION_IP,
    CORR_F_SOURCE_PORT,
    CORR_F_DESTINATION_PORT,
    CORR_F_USER_NAME,
    CORR_F_OBSERVER_IP,
    CORR_F_COUNT_
};

/* How a field's value is encoded in a group key. */
enum corr_vtype {
    CORR_VT_IP = 1,    /* 17 bytes: family, 16 address bytes (IPv4 in the first 4, rest zero) */
    CORR_VT_PORT,      /* 2 bytes, big-endian */
    CORR_VT_USER,      /* SIGNAL_USER_MAX bytes, NUL-padded */
};

/* The canonical field a name stands for (ECS name or a documented synonym,
 * case-sensitive), or CORR_F_NONE. */
enum corr_field corr_field_lookup(const char *name);
const char *corr_field_name(enum corr_field f);   /* "source.ip" */
enum corr_vtype corr_field_vtype(enum corr_field f);
unsigned corr_vtype_size(enum corr_vtype t);

/* Condition as an inclusive range over the count the rule type defines:
 * gt N is lo = N+1, lte N is hi = N, eq N is lo = hi = N. */
struct corr_cond {
    uint64_t lo;
    uint64_t hi;
    bool has_hi;        /* an upper bound: decided when the window closes (correlate.h) */
};

static inline bool corr_cond_holds(const struct corr_cond *c, uint64_t n)
{
    return n >= c->lo && (!c->has_hi || n <= c->hi);
}

enum corr_ref_kind {
    CORR_REF_UNRESOLVED = 0,
    CORR_REF_DETECTION,     /* signals whose rule_uuid is uuid */
    CORR_REF_CORRELATION,   /* fires of rules[corr] (chaining) */
};

/* Per group-by entry, where a referenced rule's value comes from. */
struct corr_ref {
    char *text;                      /* as written in `rules:` */
    unsigned line;
    uint8_t kind;                    /* enum corr_ref_kind */
    uint8_t uuid[16];                /* CORR_REF_DETECTION */
    uint32_t corr;                   /* CORR_REF_CORRELATION: index in the ruleset */
    char *gname[CORR_MAX_GROUP];     /* field name for each group-by entry (alias resolved), as written */
    char *vname;                     /* value_count field name for this reference */
    /* after resolve: a field (detection refs) or a position in the chained
     * rule's key (correlation refs) */
    uint8_t gsel[CORR_MAX_GROUP];
    uint8_t vsel;
};

struct corr_rule {
    char *title;                     /* "" when the rule has none */
    char *id;                        /* as written; NULL when absent */
    char *name;                      /* NULL when absent */
    char *file;
    unsigned line;                   /* first line of the document */
    uint8_t uuid[16];                /* id when it is a UUID, else derived (see corr_rule_uuid) */
    bool uuid_derived;
    uint8_t level;                   /* enum rule_level (engine/detect.h); medium when not set */
    char **tags;
    unsigned ntags;
    uint8_t type;                    /* enum corr_type */
    struct corr_ref refs[CORR_MAX_REFS];
    unsigned nrefs;
    char *group[CORR_MAX_GROUP];     /* group-by entries as written (field, synonym or alias name) */
    bool group_alias[CORR_MAX_GROUP];
    unsigned ngroup;
    int64_t timespan_ns;
    struct corr_cond cond;
    bool cond_default;               /* temporal types without a condition: every rule */
    char *value_field;               /* value_count `field` as written */
    bool generate;

    /* laid out by corr_ruleset_resolve */
    char *gtext[CORR_MAX_GROUP];     /* group name in key text: canonical field, or the alias name */
    uint8_t gtype[CORR_MAX_GROUP];   /* enum corr_vtype */
    uint16_t goff[CORR_MAX_GROUP];   /* offset in the encoded key */
    uint16_t keylen;
    uint8_t vtype;                   /* value_count: enum corr_vtype of the counted field */
    uint32_t vcap;                   /* value_count: distinct values a window must hold to decide */
    uint64_t fingerprint;            /* hash of everything that shapes a window (checkpoint check) */
    uint32_t depth;                  /* 0: references detection rules only */
};

struct corr_load_stats {
    unsigned docs;          /* YAML documents seen */
    unsigned rules;         /* correlation rules parsed */
    unsigned detections;    /* detection documents skipped */
    unsigned rejected;      /* correlation rules rejected (one diag error each), parse or resolve */
};

struct corr_ruleset {
    struct corr_rule **rules;
    unsigned n, cap;
    bool resolved;
    struct corr_load_stats stats;
};

/* A detection rule the caller knows.  uuid is what signals carry
 * (vigil_signal.rule_uuid); id (as written) and name may be NULL. */
struct corr_detection {
    const char *id;
    const char *name;
    uint8_t uuid[16];
};

struct corr_ruleset *corr_ruleset_new(void);
void corr_ruleset_free(struct corr_ruleset *rs);

/* Parses every YAML document of buf.  Returns the number of correlation
 * rules added, or -1 when out of memory.  A YAML syntax error ends the file
 * (documents before it are kept). */
int corr_load_buffer(struct corr_ruleset *rs, const char *buf, size_t len, const char *file, struct diag *d);
/* A file, or a directory: its *.yml and *.yaml files and subdirectories, in
 * name order (dot entries skipped).  Returns rules added, or -1 when out of
 * memory; an unreadable path is one DIAG_ERROR. */
int corr_load_path(struct corr_ruleset *rs, const char *path, struct diag *d);

/* Binds references (see top), rejects rules that do not resolve (and rules
 * chained to a rejected one), and computes each rule's layout.  Call once,
 * after loading.  Returns the number of rules left. */
unsigned corr_ruleset_resolve(struct corr_ruleset *rs, const struct corr_detection *det, size_t ndet,
                              struct diag *d);

/* Sigma `generate`: whether a detection rule's own alerts should be kept.
 * false when at least one correlation rule references it and none of those
 * says generate: true; true otherwise.  vigil-cp decides what to do with it. */
bool corr_ruleset_detection_generates(const struct corr_ruleset *rs, const uint8_t uuid[16]);

/* Index of the rule with this uuid, or -1. */
int corr_ruleset_find(const struct corr_ruleset *rs, const uint8_t uuid[16]);

/* Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (any case). */
bool corr_parse_uuid(const char *s, uint8_t out[16]);

/* Parses a Sigma timespan ("30s", "10m", "1h", "7d"); false when invalid,
 * zero or above CORR_MAX_TIMESPAN_NS. */
bool corr_parse_timespan(const char *s, size_t len, int64_t *ns);

#endif
