#include "mgmt/corr_rules.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "engine/detect.h"
#include "engine/source.h"
#include "engine/yaml_doc.h"

/* ------------------------------------------------------------------ */
/* fields                                                               */

static const struct {
    const char *name;
    enum corr_field f;
} field_names[] = {
    /* ECS names: what signals carry */
    {"source.ip", CORR_F_SOURCE_IP},
    {"destination.ip", CORR_F_DESTINATION_IP},
    {"source.port", CORR_F_SOURCE_PORT},
    {"destination.port", CORR_F_DESTINATION_PORT},
    {"user.name", CORR_F_USER_NAME},
    {"observer.ip", CORR_F_OBSERVER_IP},
    /* ECS-adjacent synonyms */
    {"host.ip", CORR_F_OBSERVER_IP},
    {"client.ip", CORR_F_SOURCE_IP},
    {"server.ip", CORR_F_DESTINATION_IP},
    {"client.port", CORR_F_SOURCE_PORT},
    {"server.port", CORR_F_DESTINATION_PORT},
    /* common log/tool names */
    {"src_ip", CORR_F_SOURCE_IP},
    {"dst_ip", CORR_F_DESTINATION_IP},
    {"dest_ip", CORR_F_DESTINATION_IP},
    {"src_port", CORR_F_SOURCE_PORT},
    {"dst_port", CORR_F_DESTINATION_PORT},
    {"dest_port", CORR_F_DESTINATION_PORT},
    {"username", CORR_F_USER_NAME},
    /* Windows / Sysmon names used by SigmaHQ rules and the spec's examples.
     * Signals carry addresses, not host names, so a computer is keyed by the
     * address its logs came from and a workstation by the client address. */
    {"SourceIp", CORR_F_SOURCE_IP},
    {"SourceIP", CORR_F_SOURCE_IP},
    {"IpAddress", CORR_F_SOURCE_IP},
    {"DestinationIp", CORR_F_DESTINATION_IP},
    {"SourcePort", CORR_F_SOURCE_PORT},
    {"IpPort", CORR_F_SOURCE_PORT},
    {"DestinationPort", CORR_F_DESTINATION_PORT},
    {"User", CORR_F_USER_NAME},
    {"TargetUserName", CORR_F_USER_NAME},
    {"ComputerName", CORR_F_OBSERVER_IP},
    {"Computer", CORR_F_OBSERVER_IP},
    {"WorkstationName", CORR_F_SOURCE_IP},
};

enum corr_field corr_field_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof field_names / sizeof field_names[0]; i++)
        if (!strcmp(field_names[i].name, name))
            return field_names[i].f;
    return CORR_F_NONE;
}

const char *corr_field_name(enum corr_field f)
{
    /* the first entries are the canonical names, in enum order */
    if (f <= CORR_F_NONE || f >= CORR_F_COUNT_)
        return "?";
    return field_names[f - 1].name;
}

enum corr_vtype corr_field_vtype(enum corr_field f)
{
    switch (f) {
    case CORR_F_SOURCE_PORT:
    case CORR_F_DESTINATION_PORT:
        return CORR_VT_PORT;
    case CORR_F_USER_NAME:
        return CORR_VT_USER;
    default:
        return CORR_VT_IP;
    }
}

unsigned corr_vtype_size(enum corr_vtype t)
{
    return t == CORR_VT_PORT ? 2 : t == CORR_VT_USER ? SIGNAL_USER_MAX : 17;
}

static const char *vtype_word(uint8_t t)
{
    return t == CORR_VT_PORT ? "a port" : t == CORR_VT_USER ? "a user name" : "an address";
}

/* ------------------------------------------------------------------ */
/* small parsers                                                        */

bool corr_parse_uuid(const char *s, uint8_t out[16])
{
    if (strlen(s) != 36)
        return false;
    uint8_t tmp[16];
    unsigned j = 0;
    for (unsigned i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int ch = tolower((unsigned char)s[i]);
        unsigned v;
        if (ch >= '0' && ch <= '9')
            v = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            v = (unsigned)(ch - 'a' + 10);
        else
            return false;
        if (j % 2 == 0)
            tmp[j / 2] = (uint8_t)(v << 4);
        else
            tmp[j / 2] |= (uint8_t)v;
        j++;
    }
    memcpy(out, tmp, 16);
    return true;
}

bool corr_parse_timespan(const char *s, size_t len, int64_t *ns)
{
    if (len < 2 || len > 16)
        return false;
    int64_t unit;
    switch (s[len - 1]) {
    case 's': unit = 1000000000LL; break;
    case 'm': unit = 60LL * 1000000000LL; break;
    case 'h': unit = 3600LL * 1000000000LL; break;
    case 'd': unit = 86400LL * 1000000000LL; break;
    default: return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > CORR_MAX_TIMESPAN_NS / 1000000000LL)   /* stops overflow below */
            return false;
    }
    if (v == 0 || v > CORR_MAX_TIMESPAN_NS / unit)
        return false;
    *ns = v * unit;
    return true;
}

/* FNV-1a, 64 bits: for derived UUIDs and rule fingerprints (not security). */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
#define FNV0 14695981039346656037ull

/* A rule without a UUID id still needs a stable uuid (fires and checkpoints
 * name rules by it): two hashes of the text, marked as an RFC 9562 version 8
 * (vendor-specific) UUID so it cannot pass for a random one. */
static void derive_uuid(const char *kind, const char *text, uint8_t out[16])
{
    uint64_t h1 = fnv(fnv(FNV0, kind, strlen(kind)), text, strlen(text));
    uint64_t h2 = fnv(fnv(h1 ^ 0x5bd1e995u, text, strlen(text)), kind, strlen(kind));
    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
    out[6] = (uint8_t)((out[6] & 0x0f) | 0x80);
    out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

/* ------------------------------------------------------------------ */
/* ruleset                                                              */

struct corr_ruleset *corr_ruleset_new(void) { return calloc(1, sizeof(struct corr_ruleset)); }

static void rule_free(struct corr_rule *r)
{
    if (!r)
        return;
    free(r->title);
    free(r->id);
    free(r->name);
    free(r->file);
    for (unsigned i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    for (unsigned i = 0; i < CORR_MAX_REFS; i++) {
        free(r->refs[i].text);
        for (unsigned g = 0; g < CORR_MAX_GROUP; g++)
            free(r->refs[i].gname[g]);
        free(r->refs[i].vname);
    }
    for (unsigned g = 0; g < CORR_MAX_GROUP; g++) {
        free(r->group[g]);
        free(r->gtext[g]);
    }
    free(r->value_field);
    free(r);
}

void corr_ruleset_free(struct corr_ruleset *rs)
{
    if (!rs)
        return;
    for (unsigned i = 0; i < rs->n; i++)
        rule_free(rs->rules[i]);
    free(rs->rules);
    free(rs);
}

static int push_rule(struct corr_ruleset *rs, struct corr_rule *r)
{
    if (rs->n == rs->cap) {
        unsigned cap = rs->cap ? rs->cap * 2 : 16;
        struct corr_rule **nr = realloc(rs->rules, cap * sizeof *nr);
        if (!nr)
            return -1;
        rs->rules = nr;
        rs->cap = cap;
    }
    rs->rules[rs->n++] = r;
    return 0;
}

int corr_ruleset_find(const struct corr_ruleset *rs, const uint8_t uuid[16])
{
    for (unsigned i = 0; i < rs->n; i++)
        if (!memcmp(rs->rules[i]->uuid, uuid, 16))
            return (int)i;
    return -1;
}

bool corr_ruleset_detection_generates(const struct corr_ruleset *rs, const uint8_t uuid[16])
{
    bool referenced = false;
    for (unsigned i = 0; i < rs->n; i++) {
        const struct corr_rule *r = rs->rules[i];
        for (unsigned j = 0; j < r->nrefs; j++)
            if (r->refs[j].kind == CORR_REF_DETECTION && !memcmp(r->refs[j].uuid, uuid, 16)) {
                if (r->generate)
                    return true;
                referenced = true;
            }
    }
    return !referenced;
}

/* ------------------------------------------------------------------ */
/* YAML access                                                          */

/* One document being parsed: the document and its first error (yaml_doc.h),
 * and the rule set it joins (ids and names must be unique in it). */
struct pctx {
    struct yaml_doc y;
    struct corr_ruleset *rs;
};

static bool null_scalar(const yaml_node_t *n)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    if (!v || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return len == 0 || (len == 1 && v[0] == '~') || (len == 4 && !strncasecmp(v, "null", 4));
}

/* A string scalar without NUL bytes, copied; NULL with an error otherwise:
 * references, fields and names are compared as C strings. */
static char *str_of(struct pctx *c, const yaml_node_t *n, const char *what)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    if (v && memchr(v, '\0', len)) {
        yaml_doc_fail(&c->y, n, "'%s' must be a string", what);
        return NULL;
    }
    return yaml_doc_str(&c->y, n, what);
}

/* A list of strings (a lone scalar counts as a list of one): fills out[] up
 * to max entries. */
static int str_list(struct pctx *c, const yaml_node_t *n, const char *what, char **out, unsigned max,
                    unsigned *count, unsigned *lines)
{
    *count = 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (!(out[0] = str_of(c, n, what)))
            return -1;
        if (lines)
            lines[0] = yaml_doc_line(n);
        *count = 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        yaml_doc_fail(&c->y, n, "'%s' must be a list of strings", what);
        return -1;
    }
    for (yaml_node_item_t *p = n->data.sequence.items.start; p < n->data.sequence.items.top; p++) {
        yaml_node_t *e = yaml_doc_node(&c->y, *p);
        if (*count >= max) {
            yaml_doc_fail(&c->y, e, "too many entries in '%s' (at most %u)", what, max);
            return -1;
        }
        if (!(out[*count] = str_of(c, e, what)))
            return -1;
        if (lines)
            lines[*count] = yaml_doc_line(e);
        (*count)++;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* document parsing                                                     */

static int parse_level(struct pctx *c, const yaml_node_t *root, struct corr_rule *r)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    r->level = RULE_LEVEL_MEDIUM;
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, "level");
    if (!n || null_scalar(n))
        return 0;
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    for (unsigned i = 0; v && i < 5; i++)
        if (len == strlen(names[i]) && !strncasecmp(v, names[i], len)) {
            r->level = (uint8_t)(RULE_LEVEL_INFORMATIONAL + i);
            return 0;
        }
    yaml_doc_fail(&c->y, n, "unknown level (informational, low, medium, high or critical)");
    return -1;
}

static int parse_tags(struct pctx *c, const yaml_node_t *root, struct corr_rule *r)
{
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, "tags");
    if (!n || null_scalar(n))
        return 0;
    size_t cnt = n->type == YAML_SEQUENCE_NODE ? (size_t)(n->data.sequence.items.top - n->data.sequence.items.start)
                                               : 1;
    if (!(r->tags = calloc(cnt ? cnt : 1, sizeof *r->tags))) {
        yaml_doc_oom(&c->y, n);
        return -1;
    }
    return str_list(c, n, "tags", r->tags, (unsigned)cnt, &r->ntags, NULL);
}

static int parse_u64(struct pctx *c, const yaml_node_t *n, const char *op, uint64_t *out)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    uint64_t x = 0;
    bool ok = v && len > 0 && len <= 18;
    for (size_t i = 0; ok && i < len; i++) {
        ok = isdigit((unsigned char)v[i]);
        x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (!ok) {
        yaml_doc_fail(&c->y, n, "bad condition: '%s' needs a whole number of at most 18 digits", op);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_condition(struct pctx *c, const yaml_node_t *kn, const yaml_node_t *cn, struct corr_rule *r)
{
    bool temporal = r->type == CORR_TEMPORAL || r->type == CORR_TEMPORAL_ORDERED;
    if (!cn || null_scalar(cn)) {
        if (!temporal) {
            yaml_doc_fail(&c->y, kn, "missing 'condition' (gt, gte, lt, lte or eq)");
            return -1;
        }
        /* Sigma: temporal rules without a condition need every rule */
        r->cond.lo = r->nrefs;
        r->cond_default = true;
        return 0;
    }
    if (cn->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, kn, "bad condition: must be a map of gt, gte, lt, lte, eq (and field)");
        return -1;
    }
    bool has[5] = {false};
    uint64_t val[5] = {0};
    static const char *const ops[] = {"gt", "gte", "lt", "lte", "eq"};
    for (yaml_node_pair_t *p = cn->data.mapping.pairs.start; p < cn->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(&c->y, p->key), *v = yaml_doc_node(&c->y, p->value);
        if (yaml_doc_scalar_is(k, "field")) {
            if (r->value_field) {
                yaml_doc_fail(&c->y, k, "bad condition: 'field' given twice");
                return -1;
            }
            if (r->type != CORR_VALUE_COUNT) {
                yaml_doc_fail(&c->y, k, "bad condition: 'field' is only for value_count");
                return -1;
            }
            if (!(r->value_field = str_of(c, v, "field")))
                return -1;
            continue;
        }
        int op = -1;
        for (int i = 0; i < 5; i++)
            if (yaml_doc_scalar_is(k, ops[i]))
                op = i;
        if (op < 0) {
            size_t len;
            const char *s = yaml_doc_scalar(k, &len);
            yaml_doc_fail(&c->y, k, "bad condition: unknown operator '%.*s' (gt, gte, lt, lte, eq)",
                          s ? (int)(len > 40 ? 40 : len) : 1, s ? s : "?");
            return -1;
        }
        if (has[op]) {
            yaml_doc_fail(&c->y, k, "bad condition: '%s' given twice", ops[op]);
            return -1;
        }
        if (parse_u64(c, v, ops[op], &val[op]))
            return -1;
        has[op] = true;
    }
    if (has[4] && (has[0] || has[1] || has[2] || has[3])) {
        yaml_doc_fail(&c->y, kn, "bad condition: 'eq' cannot be combined with other operators");
        return -1;
    }
    if ((has[0] && has[1]) || (has[2] && has[3])) {
        yaml_doc_fail(&c->y, kn, "bad condition: gt with gte, or lt with lte");
        return -1;
    }
    if (!(has[0] || has[1] || has[2] || has[3] || has[4])) {
        yaml_doc_fail(&c->y, kn, "bad condition: no operator (gt, gte, lt, lte or eq)");
        return -1;
    }
    /* a window exists only once a signal joined it, so every count is >= 1 */
    uint64_t lo = 1, hi = UINT64_MAX;
    bool has_hi = false;
    if (has[0])
        lo = val[0] + 1;
    if (has[1])
        lo = val[1];
    if (has[2]) {
        if (val[2] == 0) {
            yaml_doc_fail(&c->y, kn, "bad condition: lt 0 can never hold");
            return -1;
        }
        hi = val[2] - 1, has_hi = true;
    }
    if (has[3])
        hi = val[3], has_hi = true;
    if (has[4])
        lo = hi = val[4], has_hi = true;
    if (lo == 0)
        lo = 1;
    if (has_hi && lo > hi) {
        yaml_doc_fail(&c->y, kn, "bad condition: the range is empty, it can never hold");
        return -1;
    }
    r->cond = (struct corr_cond){.lo = lo, .hi = hi, .has_hi = has_hi};
    if (r->type == CORR_VALUE_COUNT && !r->value_field) {
        yaml_doc_fail(&c->y, kn,
                      "bad condition: value_count needs 'field' (the field whose distinct values are counted)");
        return -1;
    }
    if (temporal && r->cond.lo > r->nrefs) {
        yaml_doc_fail(&c->y, kn, "bad condition: can never hold, the rule names only %u rules", r->nrefs);
        return -1;
    }
    return 0;
}

/* aliases: alias -> {rule reference -> field}.  Fills every ref's gname[]
 * and vname from group-by entries and the value field. */
static int apply_aliases(struct pctx *c, const yaml_node_t *corr, struct corr_rule *r)
{
    yaml_node_t *al = yaml_doc_map_get(&c->y, corr, "aliases");
    if (al && null_scalar(al))
        al = NULL;
    if (al && al->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, al, "'aliases' must be a map: alias name -> {rule -> field}");
        return -1;
    }
    if (al) {
        for (yaml_node_pair_t *p = al->data.mapping.pairs.start; p < al->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_doc_node(&c->y, p->key), *v = yaml_doc_node(&c->y, p->value);
            size_t klen;
            const char *name = yaml_doc_scalar(k, &klen);
            if (!name || klen == 0) {
                yaml_doc_fail(&c->y, k, "an alias needs a name");
                return -1;
            }
            char aname[128];
            snprintf(aname, sizeof aname, "%.*s", (int)(klen > 100 ? 100 : klen), name);
            if (corr_field_lookup(aname) != CORR_F_NONE) {
                yaml_doc_fail(&c->y, k, "alias '%s' has the name of a field", aname);
                return -1;
            }
            if (v->type != YAML_MAPPING_NODE) {
                yaml_doc_fail(&c->y, v, "alias '%s' must map each rule to a field", aname);
                return -1;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *rk = yaml_doc_node(&c->y, q->key);
                bool known = false;
                for (unsigned j = 0; j < r->nrefs; j++)
                    known |= yaml_doc_scalar_is(rk, r->refs[j].text);
                if (!known) {
                    size_t l;
                    const char *s = yaml_doc_scalar(rk, &l);
                    yaml_doc_fail(&c->y, rk, "alias '%s' names rule '%.*s', which is not in 'rules'", aname,
                                  s ? (int)(l > 100 ? 100 : l) : 1, s ? s : "?");
                    return -1;
                }
            }
        }
    }
    /* Each group-by entry (and the value field) is an alias or a field. */
    unsigned n = r->ngroup + (r->value_field ? 1 : 0);
    for (unsigned g = 0; g < n; g++) {
        const char *gname = g < r->ngroup ? r->group[g] : r->value_field;
        yaml_node_t *alias = al ? yaml_doc_map_get(&c->y, al, gname) : NULL;
        if (g < r->ngroup)
            r->group_alias[g] = alias != NULL;
        if (!alias && corr_field_lookup(gname) == CORR_F_NONE) {
            yaml_doc_fail(&c->y, corr,
                          "unsupported field '%s' in %s (supported: source.ip, destination.ip, source.port, "
                          "destination.port, user.name, observer.ip and their documented synonyms)",
                          gname, g < r->ngroup ? "group-by" : "condition");
            return -1;
        }
        for (unsigned j = 0; j < r->nrefs; j++) {
            char *f;
            if (alias) {
                yaml_node_t *fv = yaml_doc_map_get(&c->y, alias, r->refs[j].text);
                if (!fv) {
                    yaml_doc_fail(&c->y, alias, "alias '%s' has no field for rule '%s'", gname, r->refs[j].text);
                    return -1;
                }
                f = str_of(c, fv, "alias field");
            } else {
                f = strdup(gname);
                if (!f)
                    yaml_doc_oom(&c->y, corr);
            }
            if (!f)
                return -1;
            if (g < r->ngroup)
                r->refs[j].gname[g] = f;
            else
                r->refs[j].vname = f;
        }
    }
    return 0;
}

static int parse_correlation(struct pctx *c, const yaml_node_t *corr, struct corr_rule *r)
{
    if (corr->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, corr, "'correlation' must be a map");
        return -1;
    }
    static const char *const known[] = {"type", "rules", "group-by", "timespan", "condition", "aliases", "generate"};
    for (yaml_node_pair_t *p = corr->data.mapping.pairs.start; p < corr->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(&c->y, p->key);
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= yaml_doc_scalar_is(k, known[i]);
        if (!ok) {
            size_t len;
            const char *s = yaml_doc_scalar(k, &len);
            yaml_doc_fail(&c->y, k,
                          "unknown key '%.*s' in correlation (type, rules, group-by, timespan, condition, aliases, "
                          "generate)", s ? (int)(len > 40 ? 40 : len) : 1, s ? s : "?");
            return -1;
        }
    }

    /* type first: an unsupported type is the error worth reporting */
    yaml_node_t *tn = yaml_doc_map_get(&c->y, corr, "type");
    size_t len;
    const char *t = yaml_doc_scalar(tn, &len);
    if (!tn) {
        yaml_doc_fail(&c->y, corr, "missing 'type' in correlation");
        return -1;
    }
    static const char *const types[] = {"event_count", "value_count", "temporal", "temporal_ordered"};
    for (unsigned i = 0; t && i < 4; i++)
        if (len == strlen(types[i]) && !memcmp(t, types[i], len))
            r->type = (uint8_t)(CORR_EVENT_COUNT + i);
    if (!r->type) {
        yaml_doc_fail(&c->y, tn,
                      "unsupported correlation type '%.*s' (event_count, value_count, temporal and temporal_ordered "
                      "are supported)", t ? (int)(len > 40 ? 40 : len) : 1, t ? t : "?");
        return -1;
    }

    yaml_node_t *rn = yaml_doc_map_get(&c->y, corr, "rules");
    if (!rn || null_scalar(rn)) {
        yaml_doc_fail(&c->y, rn ? rn : corr, "missing 'rules' in correlation");
        return -1;
    }
    char *texts[CORR_MAX_REFS] = {0};
    unsigned lines[CORR_MAX_REFS] = {0}, nt = 0;
    int rc = str_list(c, rn, "rules", texts, CORR_MAX_REFS, &nt, lines);
    for (unsigned i = 0; i < nt; i++) {
        r->refs[i].text = texts[i];
        r->refs[i].line = lines[i];
    }
    r->nrefs = nt;
    if (rc)
        return -1;
    if (nt == 0) {
        yaml_doc_fail(&c->y, rn, "'rules' is empty");
        return -1;
    }
    for (unsigned i = 0; i < nt; i++) {
        if (!texts[i][0]) {
            yaml_doc_fail(&c->y, rn, "empty rule reference");
            return -1;
        }
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(texts[i], texts[j])) {
                yaml_doc_fail(&c->y, rn, "rule '%s' listed twice", texts[i]);
                return -1;
            }
    }
    if ((r->type == CORR_TEMPORAL || r->type == CORR_TEMPORAL_ORDERED) && nt < 2)
        yaml_doc_fail(&c->y, rn, "%s needs at least two rules", types[r->type - 1]);

    yaml_node_t *gn = yaml_doc_map_get(&c->y, corr, "group-by");
    if (!c->y.fail.failed && gn && !null_scalar(gn) &&
        !str_list(c, gn, "group-by", r->group, CORR_MAX_GROUP, &r->ngroup, NULL))
        for (unsigned i = 0; i < r->ngroup; i++)
            for (unsigned j = 0; j < i; j++)
                if (!strcmp(r->group[i], r->group[j]))
                    yaml_doc_fail(&c->y, gn, "group-by lists '%s' twice", r->group[i]);

    yaml_node_t *ts = yaml_doc_map_get(&c->y, corr, "timespan");
    if (!c->y.fail.failed) {
        const char *s = yaml_doc_scalar(ts, &len);
        if (!ts)
            yaml_doc_fail(&c->y, corr, "missing 'timespan' in correlation");
        else if (!s || !corr_parse_timespan(s, len, &r->timespan_ns))
            yaml_doc_fail(&c->y, ts, "bad timespan '%.*s': a whole number followed by s, m, h or d, from 1s to 366d",
                          s ? (int)(len > 40 ? 40 : len) : 1, s ? s : "?");
    }

    if (!c->y.fail.failed)
        parse_condition(c, yaml_doc_map_key(&c->y, corr, "condition"), yaml_doc_map_get(&c->y, corr, "condition"), r);

    if (!c->y.fail.failed && r->type == CORR_VALUE_COUNT) {
        /* a window must hold lo distinct values to see the threshold crossed,
         * hi+1 to see an upper bound exceeded */
        uint64_t need = r->cond.has_hi ? r->cond.hi + 1 : r->cond.lo;
        if (need > CORR_MAX_DISTINCT)
            yaml_doc_fail(&c->y, yaml_doc_map_key(&c->y, corr, "condition"),
                          "bad condition: value_count thresholds above %u distinct values are not supported",
                          CORR_MAX_DISTINCT);
        else
            r->vcap = (uint32_t)need;
    }

    yaml_node_t *gen = yaml_doc_map_get(&c->y, corr, "generate");
    if (!c->y.fail.failed && gen && !null_scalar(gen)) {
        const char *s = yaml_doc_scalar(gen, &len);
        if (s && ((len == 4 && !strncasecmp(s, "true", 4)) || (len == 3 && !strncasecmp(s, "yes", 3))))
            r->generate = true;
        else if (!(s && ((len == 5 && !strncasecmp(s, "false", 5)) || (len == 2 && !strncasecmp(s, "no", 2)))))
            yaml_doc_fail(&c->y, gen, "'generate' must be true or false");
    }

    if (!c->y.fail.failed)
        apply_aliases(c, corr, r);
    return c->y.fail.failed ? -1 : 0;
}

/* A rule with neither id, name nor title (the spec's own examples have
 * some) is named by what it does, so the uuid stays the same across
 * restarts for as long as the rule does. */
static void anonymous_uuid(struct corr_rule *r)
{
    char buf[2048];
    size_t o = (size_t)snprintf(buf, sizeof buf, "%u|%lld|", r->type, (long long)r->timespan_ns);
    for (unsigned j = 0; j < r->nrefs && o < sizeof buf; j++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "r:%s|", r->refs[j].text);
    for (unsigned g = 0; g < r->ngroup && o < sizeof buf; g++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "g:%s|", r->group[g]);
    derive_uuid("def:", buf, r->uuid);
}

enum doc_result { DOC_RULE, DOC_ERROR, DOC_DETECTION, DOC_EMPTY };

static enum doc_result parse_doc(struct pctx *c, const yaml_node_t *root, unsigned doc_line, struct corr_rule **out)
{
    *out = NULL;
    if (root->type == YAML_SCALAR_NODE && null_scalar(root))
        return DOC_EMPTY;
    yaml_node_t *corr = yaml_doc_map_get(&c->y, root, "correlation");
    if (!corr)
        return DOC_DETECTION;   /* not ours: the detection loader judges it */

    /* name the rule in messages by id, else name, else title */
    const char *keys[] = {"id", "name", "title"};
    for (int i = 0; i < 3 && !c->y.what[0]; i++) {
        size_t len;
        const char *s = yaml_doc_scalar(yaml_doc_map_get(&c->y, root, keys[i]), &len);
        if (s && len)
            snprintf(c->y.what, sizeof c->y.what, "%.*s", (int)(len < 100 ? len : 100), s);
    }

    struct corr_rule *r = calloc(1, sizeof *r);
    if (!r) {
        yaml_doc_oom(&c->y, root);
        return DOC_ERROR;
    }
    r->line = doc_line;
    if (!(r->file = strdup(c->y.file)))
        yaml_doc_oom(&c->y, root);
    yaml_node_t *n;
    if (!c->y.fail.failed && (n = yaml_doc_map_get(&c->y, root, "title")) && !null_scalar(n))
        r->title = str_of(c, n, "title");
    if (!c->y.fail.failed && (n = yaml_doc_map_get(&c->y, root, "id")) && !null_scalar(n))
        r->id = str_of(c, n, "id");
    if (!c->y.fail.failed && (n = yaml_doc_map_get(&c->y, root, "name")) && !null_scalar(n))
        r->name = str_of(c, n, "name");
    if (!c->y.fail.failed && !r->title && !(r->title = strdup("")))
        yaml_doc_oom(&c->y, root);
    if (!c->y.fail.failed)
        parse_level(c, root, r);
    if (!c->y.fail.failed)
        parse_tags(c, root, r);
    if (!c->y.fail.failed)
        parse_correlation(c, corr, r);

    /* ids and names must be unique: references and checkpoints rely on it */
    for (unsigned i = 0; !c->y.fail.failed && i < c->rs->n; i++) {
        const struct corr_rule *o = c->rs->rules[i];
        if (r->id && o->id && !strcmp(r->id, o->id))
            yaml_doc_fail(&c->y, yaml_doc_map_get(&c->y, root, "id"), "duplicate id (first at %s:%u)", o->file,
                          o->line);
        else if (r->name && o->name && !strcmp(r->name, o->name))
            yaml_doc_fail(&c->y, yaml_doc_map_get(&c->y, root, "name"), "duplicate name '%s' (first at %s:%u)",
                          r->name, o->file, o->line);
    }
    if (c->y.fail.failed) {
        rule_free(r);
        return DOC_ERROR;
    }
    if (r->id && corr_parse_uuid(r->id, r->uuid)) {
        r->uuid_derived = false;
    } else {
        r->uuid_derived = true;
        if (r->id)
            derive_uuid("id:", r->id, r->uuid);
        else if (r->name)
            derive_uuid("name:", r->name, r->uuid);
        else if (r->title[0])
            derive_uuid("title:", r->title, r->uuid);
        else
            anonymous_uuid(r);
    }
    *out = r;
    return DOC_RULE;
}

int corr_load_buffer(struct corr_ruleset *rs, const char *buf, size_t len, const char *file, struct diag *d)
{
    struct yaml_doc_stream in;
    if (yaml_doc_stream_open(&in, buf, len, file, d))
        return -1;
    int added = 0;
    for (;;) {
        yaml_document_t doc;
        yaml_node_t *root = yaml_doc_stream_next(&in, &doc, NULL);
        if (!root)
            break;
        rs->stats.docs++;
        struct pctx c = {.y = {.doc = &doc, .file = file}, .rs = rs};
        unsigned line = yaml_doc_line(root);
        struct corr_rule *r = NULL;
        enum doc_result res = parse_doc(&c, root, line, &r);
        yaml_document_delete(&doc);
        if (res == DOC_RULE) {
            if (!r->title[0])
                diag_add(d, DIAG_WARNING, file, line, c.y.what, "correlation rule without a title%s",
                         r->id || r->name ? "" : ", id or name: named by its definition");
            if (push_rule(rs, r)) {
                rule_free(r);
                c.y.oom = true;
                diag_add(d, DIAG_ERROR, file, line, c.y.what, "out of memory");
            } else {
                rs->stats.rules++;
                added++;
            }
        } else if (res == DOC_ERROR) {
            yaml_doc_report(&c.y, d, line);
            rs->stats.rejected++;
        } else if (res == DOC_DETECTION) {
            rs->stats.detections++;
        }
        if (c.y.oom) {
            yaml_doc_stream_close(&in);
            return -1;
        }
    }
    yaml_doc_stream_close(&in);
    return added;
}

int corr_load_path(struct corr_ruleset *rs, const char *path, struct diag *d)
{
    struct source_list files = {0};
    int total = source_list_yaml(path, &files, NULL, d);
    for (unsigned i = 0; total >= 0 && i < files.n; i++) {
        size_t len;
        char why[128];
        char *buf = source_read(files.path[i], &len, why, sizeof why);
        if (!buf) {
            diag_add(d, DIAG_ERROR, files.path[i], 0, "", "%s", why);
            continue;
        }
        int rc = corr_load_buffer(rs, buf, len, files.path[i], d);
        free(buf);
        total = rc < 0 ? -1 : total + rc;
    }
    source_list_free(&files);
    return total;
}

/* ------------------------------------------------------------------ */
/* resolving                                                            */

struct rctx {
    struct corr_ruleset *rs;
    const struct corr_detection *det;
    size_t ndet;
    struct diag *d;
    bool *bad;
    uint8_t *state;   /* DFS: 0 new, 1 on the stack, 2 done */
};

static void rerr(struct rctx *x, unsigned i, unsigned line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void rerr(struct rctx *x, unsigned i, unsigned line, const char *fmt, ...)
{
    if (x->bad[i])
        return;
    x->bad[i] = true;
    const struct corr_rule *r = x->rs->rules[i];
    char msg[DIAG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *what = r->id ? r->id : r->name ? r->name : r->title;
    diag_add(x->d, DIAG_ERROR, r->file, line ? line : r->line, what, "%s", msg);
}

static void bind_ref(struct rctx *x, unsigned i, struct corr_ref *ref)
{
    uint8_t u[16];
    bool is_uuid = corr_parse_uuid(ref->text, u);
    for (size_t k = 0; k < x->ndet; k++) {
        const struct corr_detection *dt = &x->det[k];
        if ((is_uuid && !memcmp(dt->uuid, u, 16)) || (dt->id && !strcmp(dt->id, ref->text))) {
            ref->kind = CORR_REF_DETECTION;
            memcpy(ref->uuid, dt->uuid, 16);
            return;
        }
    }
    for (size_t k = 0; k < x->ndet; k++)
        if (x->det[k].name && !strcmp(x->det[k].name, ref->text)) {
            ref->kind = CORR_REF_DETECTION;
            memcpy(ref->uuid, x->det[k].uuid, 16);
            return;
        }
    for (unsigned k = 0; k < x->rs->n; k++) {
        const struct corr_rule *o = x->rs->rules[k];
        if ((o->name && !strcmp(o->name, ref->text)) || (o->id && !strcmp(o->id, ref->text))) {
            if (k == i) {
                rerr(x, i, ref->line, "rule '%s' references itself", ref->text);
                return;
            }
            ref->kind = CORR_REF_CORRELATION;
            ref->corr = k;
            return;
        }
    }
    rerr(x, i, ref->line, "unknown rule '%s': no detection rule has this id or name, and no correlation rule this name",
         ref->text);
}

/* Depth of a rule in the chain graph; rejects loops and chains to rejected rules. */
static unsigned chain_depth(struct rctx *x, unsigned i)
{
    struct corr_rule *r = x->rs->rules[i];
    if (x->state[i] == 2)
        return r->depth;
    x->state[i] = 1;
    unsigned depth = 0;
    for (unsigned j = 0; j < r->nrefs && !x->bad[i]; j++) {
        const struct corr_ref *ref = &r->refs[j];
        if (ref->kind != CORR_REF_CORRELATION)
            continue;
        if (x->state[ref->corr] == 1) {
            rerr(x, i, ref->line, "correlation chain loops back through rule '%s'", ref->text);
            break;
        }
        unsigned dd = chain_depth(x, ref->corr);
        if (x->bad[ref->corr]) {
            rerr(x, i, ref->line, "references rejected correlation rule '%s'", ref->text);
            break;
        }
        if (dd + 1 > depth)
            depth = dd + 1;
    }
    if (!x->bad[i] && depth > CORR_MAX_CHAIN_DEPTH)
        rerr(x, i, r->line, "correlation chain deeper than %d rules", CORR_MAX_CHAIN_DEPTH);
    r->depth = depth;
    x->state[i] = 2;
    return depth;
}

/* Where ref's value named fname comes from: a signal field, or a position
 * in the chained rule's key.  Returns its value type, or 0 after an error. */
static uint8_t bind_field(struct rctx *x, unsigned i, const struct corr_ref *ref, const char *fname, uint8_t *sel)
{
    enum corr_field f = corr_field_lookup(fname);
    if (ref->kind == CORR_REF_DETECTION) {
        if (f == CORR_F_NONE) {
            rerr(x, i, ref->line, "unsupported field '%s' (for rule '%s')", fname, ref->text);
            return 0;
        }
        *sel = (uint8_t)f;
        return corr_field_vtype(f);
    }
    const struct corr_rule *o = x->rs->rules[ref->corr];
    const char *want = f != CORR_F_NONE ? corr_field_name(f) : fname;
    for (unsigned p = 0; p < o->ngroup; p++)
        if (!strcmp(o->gtext[p], want)) {
            *sel = (uint8_t)p;
            return o->gtype[p];
        }
    rerr(x, i, ref->line, "chained rule '%s' does not group by '%s', so its fires carry no such value", ref->text,
         fname);
    return 0;
}

static uint64_t fingerprint(const struct corr_ruleset *rs, const struct corr_rule *r)
{
    uint64_t h = fnv(FNV0, "corr1", 5);
    h = fnv(h, &r->type, 1);
    h = fnv(h, &r->timespan_ns, 8);
    h = fnv(h, &r->cond, sizeof r->cond.lo + sizeof r->cond.hi);
    h = fnv(h, &r->cond.has_hi, 1);
    h = fnv(h, &r->nrefs, sizeof r->nrefs);
    h = fnv(h, &r->ngroup, sizeof r->ngroup);
    for (unsigned j = 0; j < r->nrefs; j++) {
        const struct corr_ref *ref = &r->refs[j];
        h = fnv(h, &ref->kind, 1);
        h = fnv(h, ref->kind == CORR_REF_DETECTION ? ref->uuid : rs->rules[ref->corr]->uuid, 16);
        h = fnv(h, ref->gsel, CORR_MAX_GROUP);
        h = fnv(h, &ref->vsel, 1);
    }
    h = fnv(h, r->gtype, CORR_MAX_GROUP);
    h = fnv(h, &r->keylen, sizeof r->keylen);
    h = fnv(h, &r->vcap, sizeof r->vcap);
    h = fnv(h, &r->vtype, 1);
    return h;
}

static void layout(struct rctx *x, unsigned i)
{
    struct corr_rule *r = x->rs->rules[i];
    unsigned off = 0;
    for (unsigned g = 0; g < r->ngroup && !x->bad[i]; g++) {
        uint8_t t0 = 0;
        for (unsigned j = 0; j < r->nrefs && !x->bad[i]; j++) {
            struct corr_ref *ref = &r->refs[j];
            uint8_t t = bind_field(x, i, ref, ref->gname[g], &ref->gsel[g]);
            if (!t)
                break;
            if (t0 && t != t0)
                rerr(x, i, ref->line, "group-by '%s' joins %s with %s ('%s' of rule '%s')", r->group[g],
                     vtype_word(t0), vtype_word(t), ref->gname[g], ref->text);
            t0 = t;
        }
        if (x->bad[i])
            break;
        r->gtype[g] = t0;
        r->goff[g] = (uint16_t)off;
        off += corr_vtype_size(t0);
        enum corr_field f = corr_field_lookup(r->group[g]);
        const char *text = r->group_alias[g] || f == CORR_F_NONE ? r->group[g] : corr_field_name(f);
        free(r->gtext[g]);
        if (!(r->gtext[g] = strdup(text)))
            rerr(x, i, r->line, "out of memory");
    }
    r->keylen = (uint16_t)off;
    if (r->type == CORR_VALUE_COUNT) {
        uint8_t t0 = 0;
        for (unsigned j = 0; j < r->nrefs && !x->bad[i]; j++) {
            struct corr_ref *ref = &r->refs[j];
            uint8_t t = bind_field(x, i, ref, ref->vname, &ref->vsel);
            if (t && t0 && t != t0)
                rerr(x, i, ref->line, "field '%s' counts %s for one rule and %s for another", r->value_field,
                     vtype_word(t0), vtype_word(t));
            t0 = t;
        }
        r->vtype = t0;
    }
    /* the same detection rule twice would count each signal twice */
    for (unsigned j = 0; j < r->nrefs && !x->bad[i]; j++)
        for (unsigned k = 0; k < j; k++) {
            const struct corr_ref *a = &r->refs[k], *b = &r->refs[j];
            if (a->kind == b->kind && (a->kind == CORR_REF_DETECTION ? !memcmp(a->uuid, b->uuid, 16) : a->corr == b->corr)) {
                rerr(x, i, b->line, "rules '%s' and '%s' are the same rule", a->text, b->text);
                break;
            }
        }
    if (!x->bad[i])
        r->fingerprint = fingerprint(x->rs, r);
}

unsigned corr_ruleset_resolve(struct corr_ruleset *rs, const struct corr_detection *det, size_t ndet, struct diag *d)
{
    if (rs->resolved || rs->n == 0) {
        rs->resolved = true;
        return rs->n;
    }
    unsigned n = rs->n;
    bool *bad = calloc(n, sizeof *bad);
    uint8_t *state = calloc(n, 1);
    unsigned *order = calloc(n, sizeof *order), *remap = calloc(n, sizeof *remap);
    if (!bad || !state || !order || !remap) {
        free(bad), free(state), free(order), free(remap);
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory resolving correlation rules");
        for (unsigned i = 0; i < rs->n; i++)
            rule_free(rs->rules[i]);
        rs->stats.rejected += rs->n;
        rs->n = 0;
        rs->resolved = true;
        return 0;
    }
    struct rctx x = {.rs = rs, .det = det, .ndet = ndet, .d = d, .bad = bad, .state = state};
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < rs->rules[i]->nrefs && !bad[i]; j++)
            bind_ref(&x, i, &rs->rules[i]->refs[j]);
    for (unsigned i = 0; i < n; i++)
        if (!bad[i])
            chain_depth(&x, i);
        else
            state[i] = 2;
    /* lay out by depth, so a chained rule's key is known before its users */
    unsigned no = 0;
    for (unsigned depth = 0; depth <= CORR_MAX_CHAIN_DEPTH; depth++)
        for (unsigned i = 0; i < n; i++)
            if (!bad[i] && rs->rules[i]->depth == depth)
                order[no++] = i;
    for (unsigned k = 0; k < no; k++) {
        unsigned i = order[k];
        struct corr_rule *r = rs->rules[i];
        for (unsigned j = 0; j < r->nrefs && !bad[i]; j++)
            if (r->refs[j].kind == CORR_REF_CORRELATION && bad[r->refs[j].corr])
                rerr(&x, i, r->refs[j].line, "references rejected correlation rule '%s'", r->refs[j].text);
        if (!bad[i])
            layout(&x, i);
    }
    /* uuids name windows in checkpoints and fires: a derived one could collide */
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < i && !bad[i]; k++)
            if (!bad[k] && !memcmp(rs->rules[i]->uuid, rs->rules[k]->uuid, 16))
                rerr(&x, i, rs->rules[i]->line, "same uuid as the rule at %s:%u (give each rule its own id)",
                     rs->rules[k]->file, rs->rules[k]->line);
    /* rejections above can strand rules chained to them: repeat until stable */
    for (bool again = true; again;) {
        again = false;
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = 0; !bad[i] && j < rs->rules[i]->nrefs; j++) {
                const struct corr_ref *ref = &rs->rules[i]->refs[j];
                if (ref->kind == CORR_REF_CORRELATION && bad[ref->corr]) {
                    rerr(&x, i, ref->line, "references rejected correlation rule '%s'", ref->text);
                    again = true;
                }
            }
    }
    unsigned kept = 0;
    for (unsigned i = 0; i < n; i++) {
        if (bad[i]) {
            rule_free(rs->rules[i]);
            rs->stats.rejected++;
            continue;
        }
        remap[i] = kept;
        rs->rules[kept++] = rs->rules[i];
    }
    rs->n = kept;
    for (unsigned i = 0; i < kept; i++)
        for (unsigned j = 0; j < rs->rules[i]->nrefs; j++)
            if (rs->rules[i]->refs[j].kind == CORR_REF_CORRELATION)
                rs->rules[i]->refs[j].corr = remap[rs->rules[i]->refs[j].corr];
    free(bad), free(state), free(order), free(remap);
    rs->resolved = true;
    return kept;
}
