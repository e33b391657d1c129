/* Detection: Sigma rules (sigma.h) compiled onto Hyperscan (detect.h).
 *
 * Load:
 *   1. the field mapping file (format below and in docs/rules.md);
 *   2. every rule file, in name order; each rule is compiled alone into
 *      - tests: one per value, each reading one match bit (TK_NULL two),
 *      - atoms: what sets the bits while a field value is checked: a
 *        Hyperscan pattern, an exact value (hash table), a network, a
 *        numeric threshold, the field's presence, an empty value;
 *        identical atoms of one (rule log source, field) are one bit, so two
 *        rules testing `cs-method: GET` share it;
 *      - code: its condition in postfix over the tests (selections inlined),
 *      and rejected alone (diag error) when anything in it is unsupported;
 *   3. buckets: the rules of one distinct rule log source;
 *   4. profiles: for every log source id already in the table, the set of
 *      buckets that apply to it (logsource_applies); log sources with the
 *      same set share one profile.  Per profile and field, ONE fdb holding
 *      the atoms of all its buckets: one Hyperscan database (the union of
 *      the buckets' patterns), one value table, one network table, one
 *      threshold table.  Patterns of fields that are views into the message
 *      fold into the message's database (see struct fcomp); keyword
 *      lists that share text are found through anchors (struct kwdep).  A
 *      database Hyperscan refuses rejects the rules owning the refused
 *      pattern and the set is rebuilt (the hsdb cache makes the unchanged
 *      databases free);
 *   5. runtime code: tests resolved to bits, keyword lists fused (OP_ANY);
 *      each rule registered under a trigger set (rule_trigger), or, when its
 *      condition can be true with no bit set (`not filter` alone, null,
 *      exists: false), on its profiles' always-evaluate lists.
 *
 * Eval (no allocation): the event's log source id picks its profile (none:
 * no rule applies, done).  Each field value of the event that the profile
 * tests is checked once against its fdb; fields no rule of the profile tests
 * are skipped; matches set bits, remembered in a touched list.  Candidate
 * rules are the rules of the touched bits plus the profile's always-evaluate
 * rules; only they run their code.  Everything set is cleared through the
 * touched and candidate lists, so the cost of an event does not grow with
 * the number of rules loaded, and rules of other log sources cost nothing.
 * A log source interned after loading has no profile: it is covered by the
 * profiles of the buckets that apply to it (scan_unknown).

 * Field mapping file (YAML):
 *
 *   fields:                      # applied to every rule, after the log source maps
 *     SourceIP: source.ip
 *   logsources:
 *     - match: {category: webserver}     # applies when logsource_applies(match, rule's logsource)
 *       fields:
 *         c-uri: url.original
 *         cs-uri-query: url.query
 *
 * A rule field is looked up in each matching `logsources` entry in file order,
 * then in `fields`; unmapped names are used as they are.  Keywords test
 * `message`.
 */
#define _GNU_SOURCE
#include "engine/detect.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "engine/lit_anchor.h"
#include "engine/sigma.h"
#include "engine/source.h"

#define DEFAULT_MAX_RULES    100000u
#define DEFAULT_MAX_PATTERNS 1000000u
#define MAX_TESTS            (1u << 24)     /* test index fits the 24-bit operand */
#define MAX_RULE_CODE        (1u << 20)
#define NONE32               0xffffffffu

/* ------------------------------------------------------------------ */
/* compiled form                                                        */

enum test_kind {
    TK_HS = 1,   /* bit set by a Hyperscan match */
    TK_NUM,      /* numeric comparison */
    TK_CIDR,     /* address in network */
    TK_NULL,     /* field absent or empty */
    TK_EXISTS,   /* field present */
    TK_ABSENT,   /* field absent */
    TK_EMPTY,    /* field present with an empty value */
};

enum { CMP_GT, CMP_GTE, CMP_LT, CMP_LTE };

/* A test reads match bits: its atom's bit (bit), and for TK_NULL also the
 * field's empty-value bit (bit2).  TK_ABSENT and TK_NULL read the field's
 * exists bit negated. */
struct test {
    uint8_t kind;
    field_id field;
    uint32_t bit, bit2;
};

/* Atoms: what sets a match bit while a field value is scanned.  Every test
 * is one (or, TK_NULL, two) atoms; identical atoms of one (rule log source,
 * field) are one bit. */
enum atom_kind {
    A_HS = 1,    /* Hyperscan pattern */
    A_EXACT,     /* exact value: value table lookup */
    A_CIDR,      /* some value is an address in the network */
    A_NUM,       /* some value is a number that compares true */
    A_EXISTS,    /* the field is present */
    A_EMPTY,     /* some value is an empty string */
};

/* Loader code: OP_TEST over struct test.  Runtime code (rule_set.code):
 * OP_BIT / OP_NBIT read a match bit directly (tests resolved at build);
 * OP_ANY n / OP_ALL n are followed by n bit numbers (an or / and of plain
 * bits, e.g. a keyword list, evaluated in one step). */
enum { OP_TEST = 1, OP_NOT, OP_AND, OP_OR, OP_BIT, OP_NBIT, OP_ANY, OP_ALL };
#define OPC(op, arg) (((uint32_t)(op) << 24) | ((uint32_t)(arg) & 0xffffffu))

struct rule_rt {
    uint32_t code_off, code_len;
    uint32_t suf_off, suf_n;    /* rule_set.suf[suf_off, suf_off + suf_n): see rt_sufficient */
};

/* Match bits of one 64-bit word of detect_state.bits. */
struct wmask {
    uint64_t mask;
    uint32_t word;
};
#define SUF_WORDS_MAX 4

/* Exact values of one (profile, field): open hashing on the ASCII-lowercased
 * value; each entry is caseless (Sigma's default) or cased (|cased).  lens
 * has bit n set when some value is n bytes long (bit 63: 63 or more), so most
 * field values are rejected before they are hashed. */
struct xent {
    uint32_t hash, len, off, bit, next;
    uint8_t cased;
};

struct xtab {
    uint64_t lens;
    uint32_t *head;
    uint32_t mask;
    struct xent *e;
    uint32_t n;
    char *pool;
};

/* Networks of one (profile, field): one hash table keyed by (family, prefix,
 * masked address); a value is looked up once per distinct prefix length of
 * its family, so the cost does not grow with the number of networks. */
struct cnet {
    uint8_t addr[16];
    uint32_t bit, next;
    uint8_t family, prefix;
};

struct ctab {
    uint32_t *head;
    uint32_t mask;
    struct cnet *e;
    uint32_t n;
    uint8_t n4, n6;
    uint8_t pfx4[33], pfx6[129];
};

/* Numeric thresholds of one (profile, field), per comparison, sorted: the
 * tests a value makes true are a prefix (gt, gte) or a suffix (lt, lte). */
struct nent {
    double v;
    uint32_t bit;
};

struct ntab {
    struct nent *e;
    uint32_t off[5];            /* comparison c: e[off[c] .. off[c + 1]) */
};

/* A one-byte 'contains' literal (a ':' keyword): found with memchr.  In a
 * Hyperscan database a single byte is matched at every position and slows
 * the whole literal set (measured: 137 -> 250-370 ns a line on iptables
 * messages with 211 SigmaHQ keywords). */
struct btest {
    uint32_t bit;
    uint8_t c, alt;             /* the byte, and its other case (== c when cased or not a letter) */
};

/* Everything one field of an event is checked against, for one profile. */
struct fdb {
    hs_database_t *db;          /* Hyperscan patterns, or NULL */
    hs_database_t *rest;        /* folded field: the patterns that could not be folded, or NULL */
    int16_t fold_slot;          /* folded field: its region slot in the profile, else -1 */
    struct xtab *x;             /* exact values, or NULL */
    struct ctab *c;             /* networks, or NULL */
    struct ntab *nt;            /* numeric thresholds, or NULL */
    struct btest *bytes;        /* one-byte 'contains' tests (memchr), or NULL */
    uint32_t *exists;           /* bits set when the field is present */
    uint32_t *empty;            /* bits set when a value is an empty string */
    uint16_t n_exists, n_empty, n_bytes;
};

/* A bucket: the rules of one distinct rule log source. */
struct bucket {
    struct logsource ls;
    uint16_t lsid;
    uint16_t prof;              /* the profile of the log source lsid itself */
};

/* A profile: what an event of some log source is checked against, i.e. the
 * union of every bucket that applies to it.  Log sources with the same set
 * of buckets share one.  One fdb (one Hyperscan database at most) per field,
 * so an event scans each of its field values once, whatever the number of
 * buckets that apply to it. */
/* Folding.  A parser usually extracts a field as a view into the message
 * (url.original, user_agent.original, rule.name ...).  When a profile scans
 * the message anyway, the literal patterns of such fields are added to the
 * message database as well (without single-match, ids FOLD_ID + k): a match
 * of one inside the field's region of the message is a match on the field.
 * So an event whose fields are views scans the message once instead of once
 * per field.  A folded pattern is a literal, optionally anchored (^, \z), or
 * two literals joined by .* (a Sigma wildcard): component k of such a chain
 * records the earliest end of its first literal and the latest start of its
 * second inside the region, resolved after the scan (Hyperscan does not
 * report matches in order).  A field value that is not a view into the
 * message is scanned with the field's own full database.  The same chain
 * components (slot SLOT_SELF) replace a .* pattern in a field's own
 * database, so that most databases hold literals only. */
#define FOLD_ID 0x80000000u
#define SLOT_SELF 0xffffu /* a component of the scanned value itself: region [0, length) */

enum { FC_SINGLE = 0, FC_FIRST = 1, FC_LAST = 2, FC_ANCHOR = 3, FC_KIND = 3, FC_ASTART = 4, FC_AEND = 8 };

struct fcomp {
    uint32_t bit;               /* FC_SINGLE: the pattern's bit */
    uint32_t len;               /* bytes of the literal; FC_ANCHOR: how many literals it stands for */
    uint32_t chain;             /* FC_FIRST / FC_LAST: chain index in the profile; FC_ANCHOR: its first kwdep */
    uint16_t slot;              /* region slot of the field */
    uint8_t flags;
};

/* Anchors (lit_anchor.h).  A database of a few dozen plain literals (keyword
 * lists above all) looks for shared substrings instead: a match of anchor
 * component k (FC_ANCHOR, id FOLD_ID + k) is confirmed against each literal
 * it stands for, at the place where that literal would hold it.  The
 * literals are the patterns' own: unanchored, one literal, ANCHOR_MIN_LEN
 * bytes or more, of one field's own database (not the components folded in
 * from other fields), and only when the database holds no regular
 * expression.  Bounds, measured (docs/rules.md): below ANCHOR_MIN_SET the
 * database is small already; above ANCHOR_MAX_SET (broad rule sets,
 * thousands of keywords), or when anchors do not halve the patterns, the
 * confirmations cost more than the literals saved. */
#define ANCHOR_MIN_SET 12
#define ANCHOR_MAX_SET 256
#define ANCHOR_MIN_LEN 8
#define ANCHOR_MAX_LEN 16
#define ANCHOR_MAX_DEPS 8   /* bounds the confirmations of one anchor match */
#define ANCHOR_MAX_LIT 64   /* and their length: a longer literal stays its own pattern */
#define ANCHOR_MAX_KEPT_PCT 50   /* anchors + literals left alone, in % of the literals: else none */

struct kwdep {
    uint32_t bit;               /* the literal's pattern */
    uint32_t len;               /* its bytes: kw_pool[off .. off + len), lowercased unless cased */
    uint32_t off;
    uint32_t aend;              /* offset just past the anchor in it */
    uint8_t cased;
};

struct profile {
    uint16_t rep;               /* first log source id with this bucket set (names the databases) */
    uint16_t n_buckets;
    uint16_t *buckets;
    uint32_t n_fid;             /* size of db_of_field */
    int16_t *db_of_field;       /* field id -> index in dbs, or -1 */
    struct fdb *dbs;
    unsigned n_dbs;
    uint32_t *always;           /* rules evaluated with no bit set (rule order) */
    unsigned n_always;
    struct fcomp *fc;           /* folded pattern components: id FOLD_ID + k */
    uint32_t n_fc;
    uint32_t *chain_bit;        /* per chain: its pattern's bit */
    struct kwdep *kw;           /* the literals anchors stand for, grouped by anchor */
    uint32_t n_kw;
    char *kw_pool;
    uint32_t kw_pool_len;
    uint32_t n_chains;
    uint16_t n_slots;           /* folded fields */
    /* constant values of parser i (detect_set_constants) set the bits
     * const_bits[const_off[i], const_off[i + 1]) in this profile */
    uint32_t *const_off;
    uint32_t *const_bits;
};

#define NONE16 0xffffu

struct rule_set {
    unsigned n_rules;
    struct rule_info *info;
    struct rule_rt *rt;
    uint32_t *code;             /* runtime code: OP_BIT / OP_NBIT / OP_NOT / OP_AND / OP_OR */
    struct wmask *suf;          /* per rule (rule_rt.suf_off): bits any of which makes it true */
    unsigned n_bits;
    uint32_t *bit_off;          /* n_bits + 1 */
    uint32_t *bit_rules;
    struct bucket *b;
    unsigned n_b;
    struct profile *prof;
    unsigned n_prof;
    unsigned n_ls;
    uint16_t *ls_prof;          /* per log source id known at load: profile, or NONE16 (no rule applies) */
    const struct logsource_table *lt;
    unsigned max_depth;
    unsigned max_slots, max_chains; /* over the profiles: detect_state sizes */
    const void *const_src;      /* the parser set whose constants the profiles know, or NULL */
    unsigned n_const;           /* its parsers */
    uint8_t *const_ok;          /* per parser: its constants' bits are known (none is a message) */
};

struct detect_state {
    unsigned n_bits, n_rules, n_b;
    uint64_t *bits;
    uint32_t *touched;
    uint32_t n_touched;
    uint64_t *rmark;
    uint32_t *cand;
    uint32_t n_cand;
    uint8_t *stack;
    uint32_t *cover;            /* per bucket: epoch it was covered in (log sources unknown at load) */
    uint32_t epoch;
    /* folding, during the scan of the message */
    const struct fcomp *fc;     /* the profile's components */
    const struct kwdep *kw;     /* and its anchored literals */
    const char *kw_pool;
    const char *scan_ptr;       /* the value being scanned */
    uint32_t scan_len;          /* and its length */
    bool regions_live;          /* scanning the first message value: folded regions apply */
    uint32_t *reg0, *reg1;      /* per slot: region [reg0, reg1) of the message, valid when reg_ok */
    uint8_t *reg_ok;
    uint32_t *ch_end, *ch_start1; /* per chain: earliest first-literal end, latest second-literal start + 1 */
    uint32_t *ch_touched;
    uint32_t n_ch_touched;
    struct detect_eval_stats stats;
};

/* ------------------------------------------------------------------ */
/* loader state                                                         */

struct fm_pair {
    char *from, *to;
};

struct fm_entry {
    struct logsource match;
    struct fm_pair *p;
    unsigned n;
};

struct fieldmap {
    struct fm_pair *generic;
    unsigned ngeneric;
    struct fm_entry *e;
    unsigned n;
};

/* A unique atom (the key is kind, lsid, field, flags and expr; for atoms
 * that are not patterns expr is a canonical text of the parameters). */
struct upat {
    char *expr;
    unsigned flags;
    uint8_t kind;               /* enum atom_kind */
    uint8_t cmp, prefix;        /* A_NUM comparison, A_CIDR prefix */
    uint16_t lsid;
    field_id field;
    uint32_t hash, next;
    char *lit;                  /* A_EXACT: the value */
    uint32_t litlen;
    double num;                 /* A_NUM threshold */
    struct vigil_ip net;        /* A_CIDR network */
};

struct ptab {
    struct upat *p;
    uint32_t n, cap;
    uint32_t npat;              /* atoms that are patterns (A_HS, A_EXACT): what max_patterns limits */
    uint32_t *head;
    uint32_t nhead;             /* power of two */
};

struct staged {
    struct rule_info info;
    uint32_t code_off, code_len;
    uint32_t test_off, test_len;
    bool dead;
};

struct loader {
    struct field_registry *reg;
    struct logsource_table *lt;
    struct diag *d;
    struct hsdb_cache *cache;
    unsigned max_rules, max_patterns;
    bool no_anchors;
    unsigned n_known;           /* registry size before the rules */
    struct fieldmap fm;
    struct staged *r;
    unsigned nr, capr, alive;
    struct test *t;
    uint32_t nt, capt;
    uint32_t *code;
    uint32_t nc, capc;
    struct ptab pt;
};

static int grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint32_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, (size_t)c * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

/* ------------------------------------------------------------------ */
/* field map                                                            */

static bool valid_field_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FIELD_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

static void fieldmap_free(struct fieldmap *fm)
{
    for (unsigned i = 0; i < fm->ngeneric; i++) {
        free(fm->generic[i].from);
        free(fm->generic[i].to);
    }
    free(fm->generic);
    for (unsigned e = 0; e < fm->n; e++) {
        for (unsigned i = 0; i < fm->e[e].n; i++) {
            free(fm->e[e].p[i].from);
            free(fm->e[e].p[i].to);
        }
        free(fm->e[e].p);
    }
    free(fm->e);
    memset(fm, 0, sizeof *fm);
}

static const char *ystr(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static unsigned yline(const yaml_node_t *n) { return n ? (unsigned)n->start_mark.line + 1 : 0; }

static int fm_pairs(yaml_document_t *doc, const yaml_node_t *m, const char *path, struct diag *d,
                    struct fm_pair **out, unsigned *n)
{
    if (!m || m->type != YAML_MAPPING_NODE) {
        diag_add(d, DIAG_ERROR, path, yline(m), "fields", "'fields' must be a map of rule field -> event field");
        return -1;
    }
    size_t cnt = (size_t)(m->data.mapping.pairs.top - m->data.mapping.pairs.start);
    *out = calloc(cnt ? cnt : 1, sizeof **out);
    if (!*out) {
        diag_add(d, DIAG_ERROR, path, yline(m), "fields", "out of memory");
        return -1;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
        const char *ks = ystr(k), *vs = ystr(v);
        if (!ks || !vs) {
            diag_add(d, DIAG_ERROR, path, yline(k), ks ? ks : "", "a field mapping must be 'name: ecs.name'");
            return -1;
        }
        if (!valid_field_name(vs)) {
            diag_add(d, DIAG_ERROR, path, yline(v), ks, "'%s' is not a valid field name", vs);
            return -1;
        }
        (*out)[*n].from = strdup(ks);
        (*out)[*n].to = strdup(vs);
        (*n)++;
        if (!(*out)[*n - 1].from || !(*out)[*n - 1].to)
            return -1;
    }
    return 0;
}

static int fieldmap_load(const char *path, struct fieldmap *fm, struct diag *d)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_add(d, DIAG_ERROR, path, 0, "", "field map: cannot open: %s", strerror(errno));
        return -1;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int rc = -1;
    if (!yaml_parser_load(&parser, &doc)) {
        diag_add(d, DIAG_ERROR, path, (unsigned)parser.problem_mark.line + 1, "", "field map: YAML: %s",
                 parser.problem ? parser.problem : "syntax error");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root) {
        rc = 0; /* empty file: no mapping */
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        diag_add(d, DIAG_ERROR, path, yline(root), "", "field map: the document must be a map");
        goto out;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key), *v = yaml_document_get_node(&doc, p->value);
        const char *ks = ystr(k);
        if (ks && !strcmp(ks, "fields")) {
            if (fm_pairs(&doc, v, path, d, &fm->generic, &fm->ngeneric))
                goto out;
        } else if (ks && !strcmp(ks, "logsources")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                diag_add(d, DIAG_ERROR, path, yline(v), "logsources", "'logsources' must be a list");
                goto out;
            }
            size_t cnt = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
            if (!(fm->e = calloc(cnt ? cnt : 1, sizeof *fm->e)))
                goto out;
            for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
                yaml_node_t *en = yaml_document_get_node(&doc, *it);
                struct fm_entry *e = &fm->e[fm->n++];
                if (en->type != YAML_MAPPING_NODE) {
                    diag_add(d, DIAG_ERROR, path, yline(en), "logsources",
                             "each entry needs 'match' (a log source) and 'fields'");
                    goto out;
                }
                yaml_node_t *match = NULL, *fields = NULL;
                for (yaml_node_pair_t *q = en->data.mapping.pairs.start; q < en->data.mapping.pairs.top; q++) {
                    const char *qk = ystr(yaml_document_get_node(&doc, q->key));
                    yaml_node_t *qv = yaml_document_get_node(&doc, q->value);
                    if (qk && !strcmp(qk, "match"))
                        match = qv;
                    else if (qk && !strcmp(qk, "fields"))
                        fields = qv;
                    else {
                        diag_add(d, DIAG_ERROR, path, yline(qv), qk ? qk : "", "unknown key in a logsources entry");
                        goto out;
                    }
                }
                if (!match || match->type != YAML_MAPPING_NODE) {
                    diag_add(d, DIAG_ERROR, path, yline(en), "match", "'match' must be a map (product/service/category)");
                    goto out;
                }
                for (yaml_node_pair_t *q = match->data.mapping.pairs.start; q < match->data.mapping.pairs.top; q++) {
                    const char *qk = ystr(yaml_document_get_node(&doc, q->key));
                    const char *qv = ystr(yaml_document_get_node(&doc, q->value));
                    char *dst = NULL;
                    if (qk && !strcmp(qk, "product"))
                        dst = e->match.product;
                    else if (qk && !strcmp(qk, "service"))
                        dst = e->match.service;
                    else if (qk && !strcmp(qk, "category"))
                        dst = e->match.category;
                    if (!dst || !qv || strlen(qv) >= LOGSOURCE_KEY_MAX) {
                        diag_add(d, DIAG_ERROR, path, yline(match), qk ? qk : "",
                                 "'match' keys are product, service and category (strings)");
                        goto out;
                    }
                    strcpy(dst, qv);
                }
                if (fm_pairs(&doc, fields, path, d, &e->p, &e->n))
                    goto out;
            }
        } else {
            diag_add(d, DIAG_ERROR, path, yline(k), ks ? ks : "", "field map: unknown key (fields, logsources)");
            goto out;
        }
    }
    rc = 0;
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static const char *fieldmap_lookup(const struct fieldmap *fm, const struct logsource *ls, const char *name)
{
    for (unsigned e = 0; e < fm->n; e++)
        if (logsource_applies(&fm->e[e].match, ls))
            for (unsigned i = 0; i < fm->e[e].n; i++)
                if (!strcmp(fm->e[e].p[i].from, name))
                    return fm->e[e].p[i].to;
    for (unsigned i = 0; i < fm->ngeneric; i++)
        if (!strcmp(fm->generic[i].from, name))
            return fm->generic[i].to;
    return name;
}

/* ------------------------------------------------------------------ */
/* unique patterns                                                      */

static uint32_t pat_hash(uint8_t kind, uint16_t lsid, field_id field, unsigned flags, const char *expr)
{
    uint32_t h = 2166136261u;
    h = (h ^ kind) * 16777619u;
    h = (h ^ lsid) * 16777619u;
    h = (h ^ field) * 16777619u;
    h = (h ^ flags) * 16777619u;
    for (; *expr; expr++)
        h = (h ^ (uint8_t)*expr) * 16777619u;
    return h;
}

static int ptab_rehash(struct ptab *t, uint32_t nhead)
{
    uint32_t *h = malloc(nhead * sizeof *h);
    if (!h)
        return -1;
    memset(h, 0xff, nhead * sizeof *h);
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t s = t->p[i].hash & (nhead - 1);
        t->p[i].next = h[s];
        h[s] = i;
    }
    free(t->head);
    t->head = h;
    t->nhead = nhead;
    return 0;
}

/* Index of the atom a (kind, lsid, field, flags, expr and the parameters of
 * its kind), added if new.  -1 out of memory.  a->expr and a->lit (the exact
 * value, or NULL) are taken over: kept when added, freed otherwise. */
static int64_t ptab_add(struct ptab *t, const struct upat *a)
{
    char *expr = a->expr, *lit = a->lit;
    uint32_t h = pat_hash(a->kind, a->lsid, a->field, a->flags, expr);
    if (t->nhead) {
        for (uint32_t i = t->head[h & (t->nhead - 1)]; i != NONE32; i = t->p[i].next)
            if (t->p[i].hash == h && t->p[i].kind == a->kind && t->p[i].lsid == a->lsid &&
                t->p[i].field == a->field && t->p[i].flags == a->flags && !strcmp(t->p[i].expr, expr)) {
                free(expr);
                free(lit);
                return i;
            }
    }
    if ((t->n + 1 > t->nhead / 2 && ptab_rehash(t, t->nhead ? t->nhead * 2 : 1024)) ||
        grow((void **)&t->p, &t->cap, t->n + 1, sizeof *t->p)) {
        free(expr);
        free(lit);
        return -1;
    }
    struct upat *u = &t->p[t->n];
    *u = *a;
    u->hash = h;
    uint32_t s = h & (t->nhead - 1);
    u->next = t->head[s];
    t->head[s] = t->n;
    if (u->kind == A_HS || u->kind == A_EXACT)
        t->npat++;
    return t->n++;
}

/* Drops the patterns added after mark (newest first: each is its chain's head). */
static void ptab_truncate(struct ptab *t, uint32_t mark)
{
    while (t->n > mark) {
        struct upat *u = &t->p[--t->n];
        t->head[u->hash & (t->nhead - 1)] = u->next;
        if (u->kind == A_HS || u->kind == A_EXACT)
            t->npat--;
        free(u->expr);
        free(u->lit);
    }
}

/* ------------------------------------------------------------------ */
/* rule compilation                                                     */

struct rctx {
    struct loader *L;
    const struct sigma_rule *sr;
    uint16_t lsid;
    struct diag_first fail;
    field_id unknown[16];
    unsigned n_unknown;
};

static void emit(struct rctx *c, uint32_t op)
{
    struct loader *L = c->L;
    if (c->fail.failed)
        return;
    if (grow((void **)&L->code, &L->capc, L->nc + 1, sizeof *L->code)) {
        diag_first_set(&c->fail, 0, "out of memory");
        return;
    }
    L->code[L->nc++] = op;
}

static uint32_t new_test(struct rctx *c, const struct test *t)
{
    struct loader *L = c->L;
    if (L->nt >= MAX_TESTS) {
        diag_first_set(&c->fail, 0, "test limit (%u) reached", MAX_TESTS);
        return 0;
    }
    if (grow((void **)&L->t, &L->capt, L->nt + 1, sizeof *L->t)) {
        diag_first_set(&c->fail, 0, "out of memory");
        return 0;
    }
    L->t[L->nt] = *t;
    return L->nt++;
}

static int resolve_field(struct rctx *c, const struct sigma_item *it, field_id *out)
{
    const char *name = it->field[0] ? it->field : "message";
    const char *mapped = fieldmap_lookup(&c->L->fm, &c->sr->ls, name);
    if (!valid_field_name(mapped)) {
        diag_first_set(&c->fail, it->line, "field name '%s' is not a valid field name", mapped);
        return -1;
    }
    if (field_registry_intern(c->L->reg, mapped, out)) {
        diag_first_set(&c->fail, it->line, "field registry full (%d names)", FIELD_REGISTRY_MAX);
        return -1;
    }
    if (*out >= c->L->n_known) {
        bool seen = false;
        for (unsigned i = 0; i < c->n_unknown; i++)
            seen |= c->unknown[i] == *out;
        if (!seen && c->n_unknown < sizeof c->unknown / sizeof c->unknown[0])
            c->unknown[c->n_unknown++] = *out;
    }
    return 0;
}

/* Bit of an atom of this rule's log source on field fid (a->kind, flags,
 * expr, lit and parameters set by the caller; expr and lit taken over).
 * NONE32 on failure (the rule is failed). */
static uint32_t atom(struct rctx *c, struct upat *a, field_id fid, unsigned line)
{
    a->lsid = c->lsid;
    a->field = fid;
    if (!a->expr) {
        free(a->lit);
        diag_first_set(&c->fail, line, "out of memory");
        return NONE32;
    }
    int64_t idx = ptab_add(&c->L->pt, a);
    if (idx < 0) {
        diag_first_set(&c->fail, line, "out of memory");
        return NONE32;
    }
    return (uint32_t)idx;
}

static uint32_t atom_simple(struct rctx *c, uint8_t kind, field_id fid, unsigned line)
{
    struct upat a = {.kind = kind, .expr = strdup(kind == A_EXISTS ? "exists" : "empty")};
    return atom(c, &a, fid, line);
}

static void emit_value(struct rctx *c, const struct sigma_item *it, const struct sigma_value *v, field_id fid)
{
    struct test t = {.field = fid};
    if (it->mods & SIGMA_MOD_EXISTS) {
        t.kind = v->b ? TK_EXISTS : TK_ABSENT;
        t.bit = atom_simple(c, A_EXISTS, fid, v->line);
    } else if (v->type == SIGMA_V_NULL) {
        t.kind = TK_NULL;
        t.bit = atom_simple(c, A_EXISTS, fid, v->line);
        t.bit2 = atom_simple(c, A_EMPTY, fid, v->line);
    } else if (it->mods & SIGMA_MOD_CIDR) {
        struct upat a = {.kind = A_CIDR, .net = v->net, .prefix = v->prefix};
        char buf[64];
        int o = snprintf(buf, sizeof buf, "cidr %u/%u ", v->net.family, v->prefix);
        for (int k = 0; k < 16; k++)
            o += snprintf(buf + o, sizeof buf - (size_t)o, "%02x", v->net.addr[k]);
        a.expr = strdup(buf);
        t.kind = TK_CIDR;
        t.bit = atom(c, &a, fid, v->line);
    } else if (it->mods & SIGMA_MOD_NUMERIC) {
        struct upat a = {.kind = A_NUM, .num = v->num};
        a.cmp = (it->mods & SIGMA_MOD_GT)    ? CMP_GT
                : (it->mods & SIGMA_MOD_GTE) ? CMP_GTE
                : (it->mods & SIGMA_MOD_LT)  ? CMP_LT
                                             : CMP_LTE;
        char buf[64];
        snprintf(buf, sizeof buf, "num %u %a", a.cmp, v->num);
        a.expr = strdup(buf);
        t.kind = TK_NUM;
        t.bit = atom(c, &a, fid, v->line);
    } else {
        enum sigma_pattern_kind kind;
        char *expr;
        unsigned flags;
        char err[256];
        if (sigma_value_pattern(it->mods, v, &kind, &expr, &flags, err, sizeof err)) {
            diag_first_set(&c->fail, v->line, "%s (field '%s')", err, it->field);
            return;
        }
        if (kind == SIGMA_PAT_ANY) {
            free(expr);
            t.kind = TK_EXISTS;
            t.bit = atom_simple(c, A_EXISTS, fid, v->line);
        } else if (kind == SIGMA_PAT_EMPTY) {
            free(expr);
            t.kind = TK_EMPTY;
            t.bit = atom_simple(c, A_EMPTY, fid, v->line);
        } else {
            if (it->mods & SIGMA_MOD_RE) {
                hs_expr_info_t *info = NULL;
                hs_compile_error_t *ce = NULL;
                if (hs_expression_info(expr, flags, &info, &ce) != HS_SUCCESS) {
                    diag_first_set(&c->fail, v->line, "regular expression '%.200s' rejected by Hyperscan: %s", expr,
                          ce && ce->message ? ce->message : "invalid");
                    hs_free_compile_error(ce);
                    free(expr);
                    return;
                }
                free(info);
            }
            struct upat a = {.kind = A_HS, .expr = expr, .flags = flags};
            if (!(it->mods & SIGMA_MOD_RE) && sigma_value_literal(it->mods, v, &a.lit, &a.litlen) && a.lit)
                a.kind = A_EXACT;
            t.kind = TK_HS;
            t.bit = atom(c, &a, fid, v->line);
        }
    }
    if (c->fail.failed)
        return;
    uint32_t ti = new_test(c, &t);
    emit(c, OPC(OP_TEST, ti));
}

static void emit_selection(struct rctx *c, const struct sigma_selection *s)
{
    for (unsigned m = 0; m < s->n && !c->fail.failed; m++) {
        const struct sigma_map *map = &s->maps[m];
        for (unsigned i = 0; i < map->n && !c->fail.failed; i++) {
            const struct sigma_item *it = &map->items[i];
            field_id fid;
            if (resolve_field(c, it, &fid))
                return;
            for (unsigned v = 0; v < it->nv && !c->fail.failed; v++)
                emit_value(c, it, &it->v[v], fid);
            if (it->nv > 1)
                emit(c, OPC((it->mods & SIGMA_MOD_ALL) ? OP_AND : OP_OR, it->nv));
        }
        if (map->n > 1)
            emit(c, OPC(OP_AND, map->n));
    }
    if (s->n > 1)
        emit(c, OPC(OP_OR, s->n));
}

/* Stack depth of runtime code. */
static unsigned rt_depth(const uint32_t *code, uint32_t n)
{
    unsigned sp = 0, max = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        if (op == OP_BIT || op == OP_NBIT)
            sp++;
        else if (op == OP_ANY || op == OP_ALL)
            sp++, i += arg;
        else if (op == OP_AND || op == OP_OR)
            sp -= arg - 1;
        if (sp > max)
            max = sp;
    }
    return max;
}

/* Bits any one of which makes the condition code[0, n) true whatever the
 * others are: a bit read plainly, the bits of an or of plain bits (a keyword
 * list), the union over an or's operands, an and's single operand; nothing
 * under a not or an and of several.  Usually the keyword bits of
 * "keywords or (selection and not filter)", so a rule that fired through a
 * keyword is decided by one word test instead of running its code.  Writes
 * at most SUF_WORDS_MAX word masks (a subset of the set is sufficient too)
 * into out; returns how many.  tmp and stk hold n entries. */
static unsigned rt_sufficient(const uint32_t *code, uint32_t n, uint32_t *tmp, uint32_t (*stk)[2],
                              struct wmask out[SUF_WORDS_MAX])
{
    uint32_t len = 0, sp = 0; /* stk[i] = {start, count} of its bits in tmp */
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        switch (op) {
        case OP_BIT:
            stk[sp][0] = len, stk[sp++][1] = 1;
            tmp[len++] = arg;
            break;
        case OP_NBIT:
            stk[sp][0] = len, stk[sp++][1] = 0;
            break;
        case OP_ANY:
        case OP_ALL: {
            bool any = op == OP_ANY || arg == 1;
            stk[sp][0] = len, stk[sp++][1] = any ? arg : 0;
            for (uint32_t j = 1; any && j <= arg; j++)
                tmp[len++] = code[i + j];
            i += arg;
            break;
        }
        case OP_NOT:
            len = stk[sp - 1][0];
            stk[sp - 1][1] = 0;
            break;
        case OP_AND:
        case OP_OR: {
            uint32_t start = stk[sp - arg][0];
            bool keep = op == OP_OR || arg == 1; /* the operands' bits are contiguous from start */
            sp -= arg;
            if (!keep)
                len = start;
            stk[sp][0] = start, stk[sp++][1] = keep ? len - start : 0;
            break;
        }
        }
    }
    unsigned nw = 0;
    for (uint32_t k = 0; sp == 1 && k < stk[0][1]; k++) {
        uint32_t b = tmp[stk[0][0] + k], w = b >> 6;
        unsigned j = 0;
        while (j < nw && out[j].word != w)
            j++;
        if (j == nw) {
            if (nw == SUF_WORDS_MAX)
                continue;
            out[nw++] = (struct wmask){0, w};
        }
        out[j].mask |= 1ull << (b & 63);
    }
    return nw;
}

void detect_rule_uuid(const char *s, const char *title, uint8_t out[16])
{
    static const int dash[] = {8, 13, 18, 23};
    bool ok = strlen(s) == 36;
    for (int i = 0, k = 0, j = 0; ok && i < 36; i++) {
        if (k < 4 && i == dash[k]) {
            ok = s[i] == '-';
            k++;
            continue;
        }
        if (!isxdigit((unsigned char)s[i])) {
            ok = false;
            break;
        }
        int v = isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10);
        if (j % 2 == 0)
            out[j / 2] = (uint8_t)(v << 4);
        else
            out[j / 2] |= (uint8_t)v;
        j++;
    }
    if (ok)
        return;
    /* not a UUID: two FNV-1a hashes of the title */
    uint64_t h1 = 14695981039346656037ull, h2 = 1099511628211ull * 31;
    for (const char *p = title; *p; p++) {
        h1 = (h1 ^ (uint8_t)*p) * 1099511628211ull;
        h2 = (h2 ^ (uint8_t)*p) * 1099511628211ull + 7;
    }
    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
}

void detect_rule_info_fill(struct rule_info *ri, const struct sigma_rule *sr, uint16_t lsid)
{
    memset(ri, 0, sizeof *ri);
    snprintf(ri->id, sizeof ri->id, "%s", sr->id ? sr->id : "");
    snprintf(ri->title, sizeof ri->title, "%s", sr->title ? sr->title : "");
    snprintf(ri->name, sizeof ri->name, "%s", sr->name ? sr->name : "");
    snprintf(ri->author, sizeof ri->author, "%s", sr->author ? sr->author : "");
    size_t o = 0;
    for (unsigned i = 0; i < sr->ntags; i++) {
        size_t l = strlen(sr->tags[i]);
        if (o + l + (o ? 1 : 0) >= sizeof ri->tags)
            break;
        o += (size_t)snprintf(ri->tags + o, sizeof ri->tags - o, "%s%s", o ? "," : "", sr->tags[i]);
    }
    snprintf(ri->file, sizeof ri->file, "%s", sr->file ? sr->file : "");
    ri->line = sr->line;
    ri->level = sr->level ? sr->level : RULE_LEVEL_MEDIUM;
    ri->logsource = lsid;
    detect_rule_uuid(ri->id, ri->title, ri->uuid);
}

static void compile_rule(struct loader *L, const struct sigma_rule *sr)
{
    const char *what = sr->id ? sr->id : sr->title ? sr->title : "";
    if (L->alive >= L->max_rules) {
        diag_add(L->d, DIAG_ERROR, sr->file, sr->line, what, "rule limit (%u) reached", L->max_rules);
        return;
    }
    struct rctx c = {.L = L, .sr = sr};
    if (logsource_intern(L->lt, &sr->ls, &c.lsid)) {
        diag_add(L->d, DIAG_ERROR, sr->file, sr->line, what, "log source table full (%d)", LOGSOURCE_MAX);
        return;
    }
    uint32_t t0 = L->nt, c0 = L->nc, p0 = L->pt.n;
    uint32_t *sel_off = calloc(sr->nsel, sizeof *sel_off), *sel_len = calloc(sr->nsel, sizeof *sel_len);
    if (!sel_off || !sel_len)
        diag_first_set(&c.fail, sr->line, "out of memory");
    for (unsigned i = 0; i < sr->nsel && !c.fail.failed; i++)
        sel_off[i] = NONE32;
    for (unsigned k = 0; k < sr->ncond && !c.fail.failed; k++) {
        const struct sigma_op *op = &sr->cond[k];
        switch (op->op) {
        case SIGMA_OP_SEL:
            if (sel_off[op->arg] == NONE32) {
                uint32_t off = L->nc;
                emit_selection(&c, &sr->sel[op->arg]);
                sel_off[op->arg] = off;
                sel_len[op->arg] = L->nc - off;
            } else {
                for (uint32_t j = 0; j < sel_len[op->arg] && !c.fail.failed; j++)
                    emit(&c, L->code[sel_off[op->arg] + j]);
            }
            break;
        case SIGMA_OP_NOT:
            emit(&c, OPC(OP_NOT, 0));
            break;
        case SIGMA_OP_AND:
            emit(&c, OPC(OP_AND, op->arg));
            break;
        case SIGMA_OP_OR:
            emit(&c, OPC(OP_OR, op->arg));
            break;
        }
        if (L->nc - c0 > MAX_RULE_CODE)
            diag_first_set(&c.fail, sr->line, "rule too large (condition expands to more than %u operations)", MAX_RULE_CODE);
    }
    free(sel_off);
    free(sel_len);
    if (!c.fail.failed && L->pt.npat > L->max_patterns)
        diag_first_set(&c.fail, sr->line, "pattern limit (%u) reached", L->max_patterns);
    struct staged *st = NULL;
    if (!c.fail.failed) {
        if (grow((void **)&L->r, &L->capr, L->nr + 1, sizeof *L->r))
            diag_first_set(&c.fail, sr->line, "out of memory");
        else
            st = &L->r[L->nr];
    }
    if (c.fail.failed) {
        L->nt = t0;
        L->nc = c0;
        ptab_truncate(&L->pt, p0);
        diag_add(L->d, DIAG_ERROR, sr->file, c.fail.line ? c.fail.line : sr->line, what, "%s", c.fail.msg);
        return;
    }
    detect_rule_info_fill(&st->info, sr, c.lsid);
    st->code_off = c0;
    st->code_len = L->nc - c0;
    st->test_off = t0;
    st->test_len = L->nt - t0;
    st->dead = false;
    L->nr++;
    L->alive++;
    if (c.n_unknown) {
        char list[400];
        size_t o = 0;
        list[0] = '\0';
        for (unsigned i = 0; i < c.n_unknown && o < sizeof list - 80; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                                  field_registry_name(L->reg, c.unknown[i]));
        diag_add(L->d, DIAG_WARNING, sr->file, sr->line, what,
                 "no parser produces field(s) %s: their tests never match until one does", list);
    }
}

/* ------------------------------------------------------------------ */
/* value tables                                                         */

/* ASCII lowercase of 8 bytes at once (bytes >= 0x80 unchanged). */
static inline uint64_t lower8(uint64_t w)
{
    uint64_t h = w & 0x7f7f7f7f7f7f7f7full;
    uint64_t gt_z = h + 0x2525252525252525ull; /* 0x80 set in bytes > 'Z' */
    uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3full; /* 0x80 set in bytes >= 'A' */
    uint64_t upper = ~w & (ge_a ^ gt_z) & 0x8080808080808080ull;
    return w | (upper >> 2);
}

/* The n < 8 bytes at p, little-endian, upper bytes zero; reads only them. */
static inline uint64_t load_tail(const char *p, uint32_t n)
{
    if (n >= 4) { /* two overlapping 4-byte loads */
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        return lo | ((uint64_t)hi << (8 * (n - 4)));
    }
    if (!n)
        return 0;
    return (uint64_t)(uint8_t)p[0] | ((uint64_t)(uint8_t)p[n / 2] << (8 * (n / 2))) |
           ((uint64_t)(uint8_t)p[n - 1] << (8 * (n - 1)));
}

static inline uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 32);
}

static inline uint32_t hash_lower(const char *p, uint32_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        h = mix(h, lower8(load8(p + i)));
    if (i < n)
        h = mix(h, lower8(load_tail(p + i, n - i)));
    return (uint32_t)(h ^ (h >> 29));
}

/* a (an event value) equals b (stored ASCII-lowercased), ignoring ASCII case */
static inline bool eq_lowered(const char *a, const char *b, uint32_t n)
{
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8)
        if (lower8(load8(a + i)) != load8(b + i))
            return false;
    return i == n || lower8(load_tail(a + i, n - i)) == load_tail(b + i, n - i);
}

static void xtab_free(struct xtab *x)
{
    if (!x)
        return;
    free(x->head);
    free(x->e);
    free(x->pool);
    free(x);
}

static struct xtab *xtab_build(const struct ptab *pt, const uint32_t *ids, unsigned n)
{
    struct xtab *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    uint32_t nhead = 8;
    while (nhead < 2 * n)
        nhead *= 2;
    size_t pool = 0;
    for (unsigned i = 0; i < n; i++)
        pool += pt->p[ids[i]].litlen;
    x->head = malloc(nhead * sizeof *x->head);
    x->e = malloc(n * sizeof *x->e);
    x->pool = malloc(pool ? pool : 1);
    if (!x->head || !x->e || !x->pool) {
        xtab_free(x);
        return NULL;
    }
    memset(x->head, 0xff, nhead * sizeof *x->head);
    x->mask = nhead - 1;
    uint32_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct upat *u = &pt->p[ids[i]];
        struct xent *e = &x->e[i];
        e->cased = !(u->flags & HS_FLAG_CASELESS);
        for (uint32_t k = 0; k < u->litlen; k++) { /* caseless values are kept lowercased */
            char ch = u->lit[k];
            x->pool[off + k] = !e->cased && ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
        }
        e->hash = hash_lower(u->lit, u->litlen);
        e->len = u->litlen;
        e->off = off;
        e->bit = ids[i];
        e->next = x->head[e->hash & x->mask];
        x->head[e->hash & x->mask] = i;
        x->lens |= 1ull << (u->litlen < 63 ? u->litlen : 63);
        off += u->litlen;
    }
    x->n = n;
    return x;
}

static inline void mask_addr(const uint8_t in[16], unsigned prefix, uint8_t out[16])
{
    unsigned full = prefix / 8, rem = prefix % 8;
    memset(out, 0, 16);
    memcpy(out, in, full);
    if (rem)
        out[full] = in[full] & (uint8_t)(0xff00u >> rem);
}

static inline uint32_t net_hash(uint8_t family, uint8_t prefix, const uint8_t a[16])
{
    uint64_t h = mix(0x9e3779b97f4a7c15ull ^ ((uint64_t)family << 8 | prefix), load8((const char *)a));
    return (uint32_t)mix(h, load8((const char *)a + 8));
}

static void ctab_free(struct ctab *c)
{
    if (!c)
        return;
    free(c->head);
    free(c->e);
    free(c);
}

static struct ctab *ctab_build(const struct ptab *pt, const uint32_t *ids, unsigned n)
{
    struct ctab *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    uint32_t nhead = 8;
    while (nhead < 2 * n)
        nhead *= 2;
    c->head = malloc(nhead * sizeof *c->head);
    c->e = malloc(n * sizeof *c->e);
    if (!c->head || !c->e) {
        ctab_free(c);
        return NULL;
    }
    memset(c->head, 0xff, nhead * sizeof *c->head);
    c->mask = nhead - 1;
    bool seen4[33] = {0}, seen6[129] = {0};
    for (unsigned i = 0; i < n; i++) {
        const struct upat *u = &pt->p[ids[i]];
        struct cnet *e = &c->e[i];
        e->family = u->net.family;
        e->prefix = u->prefix;
        mask_addr(u->net.addr, u->prefix, e->addr);
        e->bit = ids[i];
        uint32_t h = net_hash(e->family, e->prefix, e->addr) & c->mask;
        e->next = c->head[h];
        c->head[h] = i;
        if (e->family == 4 && e->prefix <= 32 && !seen4[e->prefix]) {
            seen4[e->prefix] = true;
            c->pfx4[c->n4++] = e->prefix;
        } else if (e->family == 6 && e->prefix <= 128 && !seen6[e->prefix]) {
            seen6[e->prefix] = true;
            c->pfx6[c->n6++] = e->prefix;
        }
    }
    c->n = n;
    return c;
}

static void ntab_free(struct ntab *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

static int cmp_nent(const void *a, const void *b)
{
    const struct nent *x = a, *y = b;
    if (x->v != y->v)
        return x->v < y->v ? -1 : 1;
    return x->bit < y->bit ? -1 : x->bit > y->bit;
}

static struct ntab *ntab_build(const struct ptab *pt, const uint32_t *ids, unsigned n)
{
    struct ntab *t = calloc(1, sizeof *t);
    if (!t || !(t->e = malloc((n ? n : 1) * sizeof *t->e))) {
        free(t);
        return NULL;
    }
    uint32_t k = 0;
    for (unsigned c = 0; c < 4; c++) {
        t->off[c] = k;
        for (unsigned i = 0; i < n; i++) {
            const struct upat *u = &pt->p[ids[i]];
            if (u->cmp == c && u->num == u->num) /* a NaN threshold is never true: left out */
                t->e[k++] = (struct nent){u->num, ids[i]};
        }
        qsort(t->e + t->off[c], k - t->off[c], sizeof *t->e, cmp_nent);
    }
    t->off[4] = k;
    return t;
}

/* ------------------------------------------------------------------ */
/* building the set                                                     */

static void free_set(struct rule_set *rs)
{
    if (!rs)
        return;
    for (unsigned p = 0; p < rs->n_prof; p++) {
        struct profile *pf = &rs->prof[p];
        for (unsigned i = 0; i < pf->n_dbs; i++) {
            struct fdb *fd = &pf->dbs[i];
            if (fd->db)
                hs_free_database(fd->db);
            if (fd->rest)
                hs_free_database(fd->rest);
            xtab_free(fd->x);
            ctab_free(fd->c);
            ntab_free(fd->nt);
            free(fd->exists);
            free(fd->empty);
            free(fd->bytes);
        }
        free(pf->dbs);
        free(pf->db_of_field);
        free(pf->buckets);
        free(pf->always);
        free(pf->fc);
        free(pf->chain_bit);
        free(pf->kw);
        free(pf->kw_pool);
        free(pf->const_off);
        free(pf->const_bits);
    }
    free(rs->const_ok);
    free(rs->prof);
    free(rs->b);
    free(rs->info);
    free(rs->rt);
    free(rs->code);
    free(rs->suf);
    free(rs->bit_off);
    free(rs->bit_rules);
    free(rs->ls_prof);
    free(rs);
}

void detect_free(struct rule_set *rs) { free_set(rs); }

/* Trigger set of a rule's condition: bits such that the condition can only
 * be true when at least one of them is set.  Computed over the postfix:
 *   positive test      {its bit} (pattern, value, cidr, numeric, exists, empty)
 *   absent, null, not  none (can be true with no bit set)
 *   or                 union of the operands' sets; none if any is none
 *   and                the cheapest operand's set (any one is enough); none
 *                      only if every operand is none
 * The cost of a set is first the sum of its bits' estimated match
 * probabilities (atom_p: an equality on a field such as cs-method: GET is
 * assumed to hold on most events, a long literal rarely), so a rule
 * `cs-method: GET and keywords` waits for a keyword; then the number of rule
 * tests sharing its bits (users), so a rule `user.name: x and
 * event.outcome: failure` waits for the rare user.name bit, not for the
 * failure bit a thousand rules share.  Returns 1 with the set in
 * t->bits[0..t->n), 0 when there is none, -1 out of memory. */
struct tent {
    uint32_t start, len;
    double p;
    uint64_t users;
    bool none;
};

/* k is a cheaper operand than b (NULL: none yet) */
static bool cheaper(const struct tent *k, const struct tent *b)
{
    if (!b)
        return true;
    if (k->p < b->p * (1 - 1e-9))
        return true;
    if (k->p > b->p * (1 + 1e-9))
        return false;
    return k->users < b->users || (k->users == b->users && k->len < b->len);
}

struct trig {
    uint32_t *bits;
    uint32_t n, cap;
    struct tent *st;
    uint32_t nst, capst;
};

static bool positive_test(uint8_t kind) { return kind != TK_ABSENT && kind != TK_NULL; }

static int rule_trigger(struct trig *t, const struct test *tests, const uint32_t *code, uint32_t n,
                        const uint32_t *users, const float *prob)
{
    t->n = 0;
    t->nst = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        if (grow((void **)&t->st, &t->capst, t->nst + 1, sizeof *t->st))
            return -1;
        switch (op) {
        case OP_TEST: {
            struct tent *e = &t->st[t->nst++];
            e->start = t->n;
            e->len = 0;
            e->p = 0;
            e->users = 0;
            e->none = !positive_test(tests[arg].kind);
            if (!e->none) {
                if (grow((void **)&t->bits, &t->cap, t->n + 1, sizeof *t->bits))
                    return -1;
                t->bits[t->n++] = tests[arg].bit;
                e->len = 1;
                e->p = prob[tests[arg].bit];
                e->users = users[tests[arg].bit];
            }
            break;
        }
        case OP_NOT: {
            struct tent *e = &t->st[t->nst - 1];
            t->n = e->start;
            e->len = 0;
            e->p = 0;
            e->users = 0;
            e->none = true;
            break;
        }
        case OP_AND:
        case OP_OR: {
            struct tent *c = &t->st[t->nst - arg], r = {c->start, 0, 0, 0, op == OP_AND};
            if (op == OP_OR) {
                for (uint32_t k = 0; k < arg; k++) {
                    r.none |= c[k].none;
                    r.p += c[k].p;
                    r.users += c[k].users;
                    r.len += c[k].len; /* operands' sets are contiguous */
                }
                if (r.none)
                    r.len = 0, r.p = 0, r.users = 0;
            } else {
                int best = -1;
                for (uint32_t k = 0; k < arg; k++)
                    if (!c[k].none && cheaper(&c[k], best < 0 ? NULL : &c[best]))
                        best = (int)k;
                if (best >= 0) {
                    memmove(t->bits + r.start, t->bits + c[best].start, c[best].len * sizeof *t->bits);
                    r.len = c[best].len;
                    r.p = c[best].p;
                    r.users = c[best].users;
                    r.none = false;
                }
            }
            t->n = r.start + r.len;
            t->nst -= arg;
            t->st[t->nst++] = r;
            break;
        }
        }
    }
    if (t->nst != 1 || t->st[0].none)
        return 0;
    return 1;
}

static int cmp_field(const void *a, const void *b, void *arg)
{
    const struct ptab *t = arg;
    const struct upat *x = &t->p[*(const uint32_t *)a], *y = &t->p[*(const uint32_t *)b];
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* A pattern that is literal text: [^] LIT [.* LIT] [\z], LIT one or more of
 * [A-Za-z0-9] and \xHH (what sigma_value_pattern writes for values; a
 * regular expression of that shape means the same).  Valid without
 * HS_FLAG_MULTILINE only, and with HS_FLAG_DOTALL when it has .*; a chain
 * (two literals) only when both are CHAIN_MIN bytes or more. */
#define CHAIN_MIN 4 /* bytes, each literal of a chain */

struct litpat {
    uint8_t ncomp;
    bool a_start, a_end;
    uint32_t off[2], elen[2]; /* the components' text in the expression */
    uint32_t len[2];          /* and their length in bytes */
};

static bool parse_litpat(const char *e, unsigned flags, struct litpat *lp)
{
    memset(lp, 0, sizeof *lp);
    if (flags & (HS_FLAG_MULTILINE | HS_FLAG_UTF8 | HS_FLAG_UCP | HS_FLAG_SOM_LEFTMOST))
        return false;
    const char *p = e;
    if (*p == '^')
        lp->a_start = true, p++;
    for (;;) {
        const char *c0 = p;
        uint32_t len = 0;
        for (;;) {
            if (isalnum((unsigned char)*p)) {
                p++;
            } else if (p[0] == '\\' && p[1] == 'x' && isxdigit((unsigned char)p[2]) && isxdigit((unsigned char)p[3])) {
                p += 4;
            } else {
                break;
            }
            len++;
        }
        if (!len || lp->ncomp == 2)
            return false;
        lp->off[lp->ncomp] = (uint32_t)(c0 - e);
        lp->elen[lp->ncomp] = (uint32_t)(p - c0);
        lp->len[lp->ncomp++] = len;
        if (p[0] == '.' && p[1] == '*') {
            if (!(flags & HS_FLAG_DOTALL))
                return false;
            p += 2;
            continue;
        }
        if (p[0] == '\\' && p[1] == 'z' && !p[2])
            lp->a_end = true;
        else if (*p)
            return false;
        /* a chain is matched as its two literals: not when one is so short
         * that it would match all the time (' ' in 'select * ') */
        return lp->ncomp == 1 || (lp->len[0] >= CHAIN_MIN && lp->len[1] >= CHAIN_MIN);
    }
}

/* The n bytes a literal component of a litpat spells from e: alphanumerics
 * as they are, \xHH as the byte. */
static inline unsigned hex_nibble(char c) { return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10); }

static void litpat_bytes(const char *e, uint32_t n, char *out)
{
    for (uint32_t k = 0; k < n; k++)
        if (*e == '\\') {   /* parse_litpat checked the two hex digits */
            out[k] = (char)(hex_nibble(e[2]) << 4 | hex_nibble(e[3]));
            e += 4;
        } else {
            out[k] = *e++;
        }
}

/* A pattern that can be folded into the message database: a literal of
 * FOLD_MIN bytes or more (a shorter one, matched at every position of the
 * message without single-match, would cost more than it saves), or a chain. */
#define FOLD_MIN 3

/* A one-byte unanchored literal: a memchr (struct btest). */
static bool byte_lit(const struct upat *u, const struct litpat *lp, bool lit)
{
    return u->kind == A_HS && lit && lp->ncomp == 1 && lp->len[0] == 1 && !lp->a_start && !lp->a_end;
}

static bool foldable(const struct upat *u, struct litpat *lp)
{
    return parse_litpat(u->expr, u->flags, lp) && (lp->ncomp == 2 || lp->len[0] >= FOLD_MIN);
}

/* Hyperscan flags of a plain pattern in its own field's database: a literal
 * of CHAIN_MIN bytes or more loses single-match (measured faster; a repeated
 * match only sets its bit again); a shorter one keeps it, so a ':' does not
 * report every colon of the message. */
static unsigned own_flags(const struct upat *u, const struct litpat *lp, bool lit)
{
    return lit && lp->ncomp == 1 && lp->len[0] >= CHAIN_MIN ? u->flags & ~(unsigned)HS_FLAG_SINGLEMATCH : u->flags;
}

/* Estimated probability that an atom matches an event that has its field:
 * a guess, used only to pick trigger sets (rule_trigger).  Equality and
 * presence hold often (they test enumerations: methods, outcomes, codes);
 * a literal of n bytes about 2^-n. */
static float atom_p(const struct upat *u)
{
    switch (u->kind) {
    case A_EXACT: return 0.9f;
    case A_EXISTS: return 0.95f;
    case A_EMPTY: return 0.1f;
    case A_CIDR: return 0.3f;
    case A_NUM: return 0.5f;
    default: break;
    }
    struct litpat lp;
    if (!parse_litpat(u->expr, u->flags, &lp))
        return 0.1f; /* a regular expression */
    uint32_t n = lp.len[0] > lp.len[1] ? lp.len[0] : lp.len[1];
    float p = 1.0f;
    for (uint32_t i = 0; i < n && p > 1e-4f; i++)
        p *= 0.5f;
    return p < 1e-4f ? 1e-4f : p > 0.9f ? 0.9f : p;
}

/* Rejects the live rules that use pattern bad (or, when bad is NONE32, any
 * pattern on field f of a bucket in the profile member[] whose database
 * Hyperscan refused as a whole; for the message, that includes the patterns
 * folded into it). */
static void reject_owners(struct loader *L, uint32_t bad, const uint8_t *member, const uint16_t *bucket_of,
                          field_id f, const char *err)
{
    struct litpat lp;
    for (unsigned i = 0; i < L->nr; i++) {
        struct staged *s = &L->r[i];
        if (s->dead)
            continue;
        for (uint32_t t = s->test_off; t < s->test_off + s->test_len; t++) {
            const struct test *tt = &L->t[t];
            if (tt->kind != TK_HS)
                continue;
            const struct upat *u = &L->pt.p[tt->bit];
            bool hit = bad != NONE32 ? tt->bit == bad
                                     : (u->kind == A_HS && member[bucket_of[u->lsid]] &&
                                        (u->field == f || (f == FID_MESSAGE && foldable(u, &lp))));
            if (hit) {
                diag_add(L->d, DIAG_ERROR, s->info.file, s->info.line, s->info.id[0] ? s->info.id : s->info.title,
                         "pattern '%.200s' on %s rejected by Hyperscan: %s", u->expr, field_registry_name(L->reg, f),
                         err);
                s->dead = true;
                L->alive--;
                break;
            }
        }
    }
}

/* Scratch arrays of one build. */
struct bscratch {
    const char **exprs;
    unsigned *flags, *ids;
    uint32_t *xids, *cids, *nids, *eb, *mb;
    const char **rexprs;        /* a folded field's patterns that stay */
    unsigned *rflags, *rids;
    /* the profile's folded components, as message patterns */
    char **fexprs;
    unsigned *fflags, *fids;
    uint32_t nf, capf, capff, capfi;
    /* the components of a field's own .* patterns */
    char **sexprs;
    uint32_t ns, caps;
    struct btest *bt;
    uint32_t capbt;
    /* the field's plain literals, anchored together when there are enough */
    struct alit *al;
    uint32_t nal, capal;
};

struct alit {
    uint32_t id;                /* the pattern */
    const char *expr;
    unsigned flags;
    char *bytes;                /* the literal it is */
    uint32_t len;
};

static void free_alits(struct bscratch *b)
{
    for (uint32_t i = 0; i < b->nal; i++)
        free(b->al[i].bytes);
    b->nal = 0;
}

static void free_sexprs(struct bscratch *b)
{
    for (uint32_t i = 0; i < b->ns; i++)
        free(b->sexprs[i]);
    b->ns = 0;
}

static void bscratch_free(struct bscratch *b)
{
    free(b->exprs);
    free(b->flags);
    free(b->ids);
    free(b->xids);
    free(b->cids);
    free(b->nids);
    free(b->eb);
    free(b->mb);
    free(b->rexprs);
    free(b->rflags);
    free(b->rids);
    for (uint32_t i = 0; i < b->nf; i++)
        free(b->fexprs[i]);
    free(b->fexprs);
    free(b->fflags);
    free(b->fids);
    free_sexprs(b);
    free(b->sexprs);
    free(b->bt);
    free_alits(b);
    free(b->al);
}

static void *dup_mem(const void *a, size_t n)
{
    void *r = malloc(n ? n : 1);
    if (r && n)
        memcpy(r, a, n);
    return r;
}

static uint32_t *dup_u32(const uint32_t *a, unsigned n) { return dup_mem(a, n * sizeof *a); }

static int hs_build(struct loader *L, const struct profile *pf, field_id f, const char *suffix,
                    const struct hsdb_patterns *hp, hs_database_t **db, int *failed, char *err, size_t errlen)
{
    char lsname[160], key[340];
    logsource_format(logsource_get(L->lt, pf->rep), lsname, sizeof lsname);
    snprintf(key, sizeof key, "detect/%s/%s%s", lsname, field_registry_name(L->reg, f), suffix);
    return hsdb_build(L->cache, key, hp, db, failed, err, errlen);
}

/* The bit a pattern id of a profile database stands for. */
static uint32_t id_bit(const struct profile *pf, unsigned id)
{
    if (id < FOLD_ID)
        return id;
    const struct fcomp *c = &pf->fc[id - FOLD_ID];
    switch (c->flags & FC_KIND) {
    case FC_SINGLE: return c->bit;
    case FC_ANCHOR: return NONE32;   /* stands for several: the field's patterns */
    default: return pf->chain_bit[c->chain];
    }
}

/* Appends the components of pattern id (parsed as lp) for region slot to
 * pf->fc; *first is the index of the first.  0 or -1. */
static int add_components(struct profile *pf, uint32_t id, const struct litpat *lp, uint16_t slot, uint32_t *first)
{
    uint8_t anch = (uint8_t)((lp->a_start ? FC_ASTART : 0) | (lp->a_end ? FC_AEND : 0));
    struct fcomp c[2] = {{.bit = id, .len = lp->len[0], .slot = slot}};
    if (lp->ncomp == 1) {
        c[0].flags = (uint8_t)(FC_SINGLE | anch);
    } else {
        uint32_t *ncb = realloc(pf->chain_bit, (pf->n_chains + 1) * sizeof *ncb);
        if (!ncb)
            return -1;
        pf->chain_bit = ncb;
        ncb[pf->n_chains] = id;
        c[0].chain = pf->n_chains++;
        c[0].flags = (uint8_t)(FC_FIRST | (anch & FC_ASTART));
        c[1] = c[0];
        c[1].len = lp->len[1];
        c[1].flags = (uint8_t)(FC_LAST | (anch & FC_AEND));
    }
    struct fcomp *nfc = realloc(pf->fc, (pf->n_fc + lp->ncomp) * sizeof *nfc);
    if (!nfc)
        return -1;
    pf->fc = nfc;
    *first = pf->n_fc;
    for (unsigned k = 0; k < lp->ncomp; k++)
        pf->fc[pf->n_fc++] = c[k];
    return 0;
}

/* Adds the plain literals collected in b->al to the database being built
 * (b->exprs, *n): as anchors (FC_ANCHOR components and their kwdeps) where
 * lit_anchor_pick finds them, as themselves otherwise.  0 or -1. */
static int add_anchored(struct profile *pf, struct bscratch *b, bool literals_only, unsigned *n)
{
    static const struct lit_anchor_params ap = {ANCHOR_MIN_LEN, ANCHOR_MAX_LEN, 2, ANCHOR_MAX_DEPS};
    struct lit_anchor_set as = {0};
    if (literals_only && b->nal >= ANCHOR_MIN_SET && b->nal <= ANCHOR_MAX_SET) {
        const char **lits = malloc(b->nal * sizeof *lits);
        uint32_t *lens = malloc(b->nal * sizeof *lens);
        int r = lits && lens ? 0 : -1;
        for (uint32_t i = 0; i < b->nal && !r; i++) {
            lits[i] = b->al[i].bytes;
            lens[i] = b->al[i].len;
        }
        if (!r)
            r = lit_anchor_pick(lits, lens, b->nal, &ap, &as);
        free(lits);
        free(lens);
        if (r)
            return -1;
        uint32_t alone = 0;
        for (uint32_t i = 0; i < b->nal; i++)
            alone += as.of_lit[i] < 0;
        if ((as.n_anchors + alone) * 100 > b->nal * ANCHOR_MAX_KEPT_PCT)
            lit_anchor_free(&as);   /* too few literals saved to pay for the confirmations */
    }
    int rc = -1;
    for (unsigned k = 0; k < as.n_anchors; k++) {
        uint32_t first = pf->n_kw, deps = 0;
        for (uint32_t i = 0; i < b->nal; i++) {
            const struct alit *a = &b->al[i];
            if (as.of_lit[i] != (int32_t)k)
                continue;
            struct kwdep *nk = realloc(pf->kw, (pf->n_kw + 1) * sizeof *nk);
            if (!nk)
                goto out;
            pf->kw = nk;
            char *np = realloc(pf->kw_pool, pf->kw_pool_len + a->len);
            if (!np)
                goto out;
            pf->kw_pool = np;
            bool cased = !(a->flags & HS_FLAG_CASELESS);
            for (uint32_t j = 0; j < a->len; j++) {   /* ASCII only, as eq_lowered and Hyperscan fold */
                char ch = a->bytes[j];
                np[pf->kw_pool_len + j] = !cased && ch >= 'A' && ch <= 'Z' ? (char)(ch + 32) : ch;
            }
            pf->kw[pf->n_kw++] = (struct kwdep){a->id, a->len, pf->kw_pool_len, as.aend[i], cased};
            pf->kw_pool_len += a->len;
            deps++;
        }
        /* the anchor: a caseless literal, every match reported */
        char *expr = malloc(4 * (size_t)as.a_len[k] + 1);
        if (!expr || grow((void **)&b->sexprs, &b->caps, b->ns + 1, sizeof *b->sexprs)) {
            free(expr);
            goto out;
        }
        char *o = expr;
        for (uint32_t j = 0; j < as.a_len[k]; j++) {
            unsigned char c = (unsigned char)as.pool[as.a_off[k] + j];
            o += isalnum(c) ? sprintf(o, "%c", c) : sprintf(o, "\\x%02x", c);
        }
        b->sexprs[b->ns++] = expr;
        struct fcomp *nfc = realloc(pf->fc, (pf->n_fc + 1) * sizeof *nfc);
        if (!nfc)
            goto out;
        pf->fc = nfc;
        pf->fc[pf->n_fc] = (struct fcomp){.len = deps, .chain = first, .slot = SLOT_SELF, .flags = FC_ANCHOR};
        b->exprs[*n] = expr;
        b->flags[*n] = HS_FLAG_CASELESS;
        b->ids[(*n)++] = FOLD_ID + pf->n_fc++;
    }
    for (uint32_t i = 0; i < b->nal; i++)
        if (!as.of_lit || as.of_lit[i] < 0) {
            b->exprs[*n] = b->al[i].expr;
            b->flags[*n] = b->al[i].flags;
            b->ids[(*n)++] = b->al[i].id;
        }
    rc = 0;
out:
    lit_anchor_free(&as);
    free_alits(b);
    return rc;
}

/* The fdb of profile pf for the live atoms order[g0..g1) (all on field f)
 * of its buckets, when there are any.  fold_slot >= 0: the field is folded
 * (its foldable patterns are in the message database).  The message's
 * database also gets the profile's folded components (bs->fexprs).
 * Returns 0, 1 when Hyperscan refused a pattern (owners rejected), -1 on no
 * memory. */
static int build_fdb(struct loader *L, struct profile *pf, const uint8_t *member, const uint16_t *bucket_of,
                     const uint32_t *order, uint32_t g0, uint32_t g1, int fold_slot, struct bscratch *b)
{
    field_id f = L->pt.p[order[g0]].field;
    unsigned n = 0, nr = 0, nx = 0, nc = 0, nn = 0, ne = 0, nm = 0;
    bool regex = false;   /* a pattern that is not literal text: the database is not a pure literal set */
    uint32_t nb = 0;
    /* one-byte literals leave Hyperscan only when there are other patterns
     * to scan for (alone, they are a fast single-byte scan) */
    bool other = f == FID_MESSAGE && b->nf;
    for (uint32_t g = g0; g < g1 && !other; g++) {
        const struct upat *u = &L->pt.p[order[g]];
        struct litpat lp;
        other = u->kind == A_HS && member[bucket_of[u->lsid]] &&
                !byte_lit(u, &lp, parse_litpat(u->expr, u->flags, &lp));
    }
    for (uint32_t g = g0; g < g1; g++) {
        uint32_t id = order[g];
        const struct upat *u = &L->pt.p[id];
        if (!member[bucket_of[u->lsid]])
            continue;
        switch (u->kind) {
        case A_HS: {
            struct litpat lp;
            bool lit = parse_litpat(u->expr, u->flags, &lp);
            regex |= !lit;
            if (other && byte_lit(u, &lp, lit)) {
                char ch;
                litpat_bytes(u->expr + lp.off[0], 1, &ch);
                uint8_t c = (uint8_t)ch, alt = c;
                if ((u->flags & HS_FLAG_CASELESS) && isalpha(c))
                    alt = (uint8_t)(isupper(c) ? tolower(c) : toupper(c));
                if (grow((void **)&b->bt, &b->capbt, nb + 1, sizeof *b->bt))
                    goto oom;
                b->bt[nb++] = (struct btest){id, c, alt};
                break;
            }
            if (lit && lp.ncomp == 2) { /* a .* b: two literals and a chain */
                uint32_t k0;
                if (add_components(pf, id, &lp, SLOT_SELF, &k0))
                    goto oom;
                for (unsigned k = 0; k < 2; k++) {
                    if (grow((void **)&b->sexprs, &b->caps, b->ns + 1, sizeof *b->sexprs) ||
                        !(b->sexprs[b->ns] = strndup(u->expr + lp.off[k], lp.elen[k])))
                        goto oom;
                    b->exprs[n] = b->sexprs[b->ns++];
                    b->flags[n] = u->flags & ~(unsigned)HS_FLAG_SINGLEMATCH;
                    b->ids[n++] = FOLD_ID + k0 + k;
                }
            } else if (lit && !lp.a_start && !lp.a_end && lp.len[0] >= ANCHOR_MIN_LEN && lp.len[0] <= ANCHOR_MAX_LIT) {
                if (grow((void **)&b->al, &b->capal, b->nal + 1, sizeof *b->al))
                    goto oom;
                struct alit *a = &b->al[b->nal];
                if (!(a->bytes = malloc(lp.len[0])))
                    goto oom;
                b->nal++;
                litpat_bytes(u->expr + lp.off[0], lp.len[0], a->bytes);
                a->id = id;
                a->expr = u->expr;
                a->flags = own_flags(u, &lp, lit);
                a->len = lp.len[0];
            } else {
                b->exprs[n] = u->expr;
                b->flags[n] = own_flags(u, &lp, lit);
                b->ids[n++] = id;
            }
            if (fold_slot >= 0 && !foldable(u, &lp)) { /* (fold_slot >= 0: other is true) */
                b->rexprs[nr] = u->expr;
                b->rflags[nr] = u->flags;
                b->rids[nr++] = id;
            }
            break;
        }
        case A_EXACT: b->xids[nx++] = id; break;
        case A_CIDR: b->cids[nc++] = id; break;
        case A_NUM: b->nids[nn++] = id; break;
        case A_EXISTS: b->eb[ne++] = id; break;
        case A_EMPTY: b->mb[nm++] = id; break;
        }
    }
    if (b->nal && add_anchored(pf, b, !regex && !L->no_anchors, &n))
        goto oom;
    if (!(n | nx | nc | nn | ne | nm | nb))
        return 0;
    if (ne > 0xffff || nm > 0xffff || nb > 0xffff)
        goto oom; /* one per bucket (bytes: 256 per bucket): cannot happen with LOGSOURCE_MAX buckets */
    struct fdb fd = {.fold_slot = (int16_t)fold_slot};
    int failed;
    char err[256];
    if (f == FID_MESSAGE && b->nf) { /* + the folded components (even when the message's own patterns all
                                          * went to memchr: the folded fields are matched in this scan) */
        for (uint32_t k = 0; k < b->nf; k++) {
            b->exprs[n + k] = b->fexprs[k];
            b->flags[n + k] = b->fflags[k];
            b->ids[n + k] = b->fids[k];
        }
        n += b->nf;
    }
    if (n) {
        struct hsdb_patterns hp = {b->exprs, b->flags, b->ids, NULL, n};
        int r = hs_build(L, pf, f, "", &hp, &fd.db, &failed, err, sizeof err);
        free_sexprs(b);
        if (r) {
            reject_owners(L, failed >= 0 ? id_bit(pf, b->ids[failed]) : NONE32, member, bucket_of, f, err);
            return 1;
        }
    }
    if (nr) {
        struct hsdb_patterns hp = {b->rexprs, b->rflags, b->rids, NULL, nr};
        if (hs_build(L, pf, f, "/unfolded", &hp, &fd.rest, &failed, err, sizeof err)) {
            if (fd.db)
                hs_free_database(fd.db);
            reject_owners(L, failed >= 0 ? b->rids[failed] : NONE32, member, bucket_of, f, err);
            return 1;
        }
    }
    fd.n_exists = (uint16_t)ne;
    fd.n_empty = (uint16_t)nm;
    fd.n_bytes = (uint16_t)nb;
    bool oom = (nb && !(fd.bytes = dup_mem(b->bt, nb * sizeof *b->bt))) ||
               (nx && !(fd.x = xtab_build(&L->pt, b->xids, nx))) || (nc && !(fd.c = ctab_build(&L->pt, b->cids, nc))) ||
               (nn && !(fd.nt = ntab_build(&L->pt, b->nids, nn))) || (ne && !(fd.exists = dup_u32(b->eb, ne))) ||
               (nm && !(fd.empty = dup_u32(b->mb, nm)));
    struct fdb *nd = oom ? NULL : realloc(pf->dbs, (pf->n_dbs + 1) * sizeof *nd);
    if (!nd) {
        if (fd.db)
            hs_free_database(fd.db);
        if (fd.rest)
            hs_free_database(fd.rest);
        xtab_free(fd.x);
        ctab_free(fd.c);
        ntab_free(fd.nt);
        free(fd.exists);
        free(fd.empty);
        free(fd.bytes);
        return -1;
    }
    pf->dbs = nd;
    pf->dbs[pf->n_dbs] = fd;
    pf->db_of_field[f] = (int16_t)pf->n_dbs;
    pf->n_dbs++;
    return 0;
oom:
    free_sexprs(b);
    free_alits(b);
    return -1;
}

static int add_fold_pattern(struct bscratch *b, const char *expr, uint32_t elen, unsigned flags, unsigned id)
{
    if (grow((void **)&b->fexprs, &b->capf, b->nf + 1, sizeof *b->fexprs))
        return -1;
    if (grow((void **)&b->fflags, &b->capff, b->nf + 1, sizeof *b->fflags) ||
        grow((void **)&b->fids, &b->capfi, b->nf + 1, sizeof *b->fids))
        return -1;
    if (!(b->fexprs[b->nf] = strndup(expr, elen)))
        return -1;
    b->fflags[b->nf] = flags & ~(unsigned)HS_FLAG_SINGLEMATCH;
    b->fids[b->nf++] = id;
    return 0;
}

/* Every fdb of profile pf; groups are the field ranges of the live atoms
 * order[gs[i] .. gs[i + 1]).  Decides which fields fold into the message. */
static int build_profile(struct loader *L, struct profile *pf, const uint8_t *member, const uint16_t *bucket_of,
                         const uint32_t *order, const uint32_t *gs, unsigned ng, struct bscratch *b)
{
    for (uint32_t i = 0; i < b->nf; i++)
        free(b->fexprs[i]);
    b->nf = 0;
    /* does the profile scan the message? */
    bool msg = false;
    for (unsigned gi = 0; gi < ng && !msg; gi++)
        for (uint32_t g = gs[gi]; g < gs[gi + 1] && !msg; g++) {
            const struct upat *u = &L->pt.p[order[g]];
            msg = u->field == FID_MESSAGE && u->kind == A_HS && member[bucket_of[u->lsid]];
        }
    int *slot = malloc((ng ? ng : 1) * sizeof *slot);
    if (!slot)
        return -1;
    for (unsigned gi = 0; gi < ng; gi++) {
        slot[gi] = -1;
        if (!msg || L->pt.p[order[gs[gi]]].field == FID_MESSAGE)
            continue;
        for (uint32_t g = gs[gi]; g < gs[gi + 1]; g++) {
            uint32_t id = order[g];
            const struct upat *u = &L->pt.p[id];
            struct litpat lp;
            if (u->kind != A_HS || !member[bucket_of[u->lsid]] || !foldable(u, &lp))
                continue;
            if (slot[gi] < 0)
                slot[gi] = pf->n_slots++;
            uint32_t k0;
            if (add_components(pf, id, &lp, (uint16_t)slot[gi], &k0)) {
                free(slot);
                return -1;
            }
            for (unsigned k = 0; k < lp.ncomp; k++)
                if (add_fold_pattern(b, u->expr + lp.off[k], lp.elen[k], u->flags, FOLD_ID + k0 + k)) {
                    free(slot);
                    return -1;
                }
        }
    }
    int r = 0;
    for (unsigned gi = 0; gi < ng && r == 0; gi++)
        r = build_fdb(L, pf, member, bucket_of, order, gs[gi], gs[gi + 1], slot[gi], b);
    free(slot);
    return r;
}

/* One attempt at building every database from the live rules.  Returns 0,
 * 1 when a rule had to be rejected (the caller tries again), -1 on no
 * memory. */
static int build(struct loader *L, struct rule_set **out)
{
    *out = NULL;
    int result = -1;
    uint32_t np = L->pt.n ? L->pt.n : 1;
    struct rule_set *rs = calloc(1, sizeof *rs);
    uint32_t *users = calloc(np, sizeof *users);
    uint32_t *ridx = calloc(L->nr ? L->nr : 1, sizeof *ridx); /* staged -> final index */
    uint32_t *order = malloc(np * sizeof *order), *gs = NULL;
    uint8_t *member = NULL;
    uint16_t *list = NULL, bucket_of[LOGSOURCE_MAX];
    struct bscratch bs = {0};
    struct trig tg = {0};
    uint32_t *toff = NULL, *tlen = NULL, *seen = NULL, *all = NULL, nall = 0, capall = 0;
    uint32_t **b_always = NULL, *b_nalways = NULL;
    unsigned n_b_always = 0;
    float *prob = NULL;
    if (!rs || !users || !ridx || !order)
        goto out;
    rs->lt = L->lt;
    memset(bucket_of, 0xff, sizeof bucket_of);

    /* live rules, their buckets, and which atoms they use */
    for (unsigned i = 0; i < L->nr; i++) {
        struct staged *s = &L->r[i];
        ridx[i] = NONE32;
        if (s->dead)
            continue;
        ridx[i] = rs->n_rules++;
        uint16_t ls = s->info.logsource;
        if (bucket_of[ls] == NONE16) {
            struct bucket *nb = realloc(rs->b, (rs->n_b + 1) * sizeof *nb);
            if (!nb)
                goto out;
            rs->b = nb;
            memset(&rs->b[rs->n_b], 0, sizeof rs->b[rs->n_b]);
            rs->b[rs->n_b].lsid = ls;
            rs->b[rs->n_b].ls = *logsource_get(L->lt, ls);
            bucket_of[ls] = (uint16_t)rs->n_b++;
        }
        for (uint32_t t = s->test_off; t < s->test_off + s->test_len; t++) {
            users[L->t[t].bit]++;
            if (L->t[t].kind == TK_NULL)
                users[L->t[t].bit2]++;
        }
    }

    /* profiles: the set of buckets that apply to each log source known now */
    rs->n_ls = logsource_count(L->lt);
    rs->ls_prof = malloc((rs->n_ls ? rs->n_ls : 1) * sizeof *rs->ls_prof);
    rs->prof = calloc(rs->n_ls ? rs->n_ls : 1, sizeof *rs->prof);
    member = malloc(rs->n_b + 1);
    list = malloc((rs->n_b + 1) * sizeof *list);
    if (!rs->ls_prof || !rs->prof || !member || !list)
        goto out;
    for (unsigned id = 0; id < rs->n_ls; id++) {
        const struct logsource *ev = logsource_get(L->lt, (uint16_t)id);
        unsigned k = 0;
        for (unsigned b = 0; b < rs->n_b; b++)
            if (logsource_applies(&rs->b[b].ls, ev))
                list[k++] = (uint16_t)b;
        rs->ls_prof[id] = NONE16;
        if (!k)
            continue;
        unsigned p;
        for (p = 0; p < rs->n_prof; p++)
            if (rs->prof[p].n_buckets == k && !memcmp(rs->prof[p].buckets, list, k * sizeof *list))
                break;
        if (p == rs->n_prof) {
            struct profile *pf = &rs->prof[rs->n_prof++];
            pf->rep = (uint16_t)id;
            pf->n_buckets = (uint16_t)k;
            if (!(pf->buckets = malloc(k * sizeof *list)))
                goto out;
            memcpy(pf->buckets, list, k * sizeof *list);
        }
        rs->ls_prof[id] = (uint16_t)p;
    }
    for (unsigned b = 0; b < rs->n_b; b++)
        rs->b[b].prof = rs->ls_prof[rs->b[b].lsid]; /* a bucket applies to its own log source */

    /* live atoms by field; per profile and field, one fdb of the atoms of
     * the profile's buckets (index order: deterministic, so the hsdb cache
     * hits) */
    uint32_t n_live = 0;
    field_id max_fid = 0;
    for (uint32_t p = 0; p < L->pt.n; p++)
        if (users[p]) {
            order[n_live++] = p;
            if (L->pt.p[p].field > max_fid)
                max_fid = L->pt.p[p].field;
        }
    qsort_r(order, n_live, sizeof *order, cmp_field, &L->pt);
    unsigned ng = 0;
    if (!(gs = malloc((n_live + 2) * sizeof *gs)))
        goto out;
    for (uint32_t g = 0; g < n_live; g++)
        if (g == 0 || L->pt.p[order[g]].field != L->pt.p[order[g - 1]].field)
            gs[ng++] = g;
    gs[ng] = n_live;
    size_t npx = 2 * (size_t)np + 2; /* a chain is two patterns; folded components join the message's */
    if (!(bs.exprs = malloc(npx * sizeof *bs.exprs)) || !(bs.flags = malloc(npx * sizeof *bs.flags)) ||
        !(bs.ids = malloc(npx * sizeof *bs.ids)) || !(bs.xids = malloc(np * sizeof *bs.xids)) ||
        !(bs.cids = malloc(np * sizeof *bs.cids)) || !(bs.nids = malloc(np * sizeof *bs.nids)) ||
        !(bs.eb = malloc(np * sizeof *bs.eb)) || !(bs.mb = malloc(np * sizeof *bs.mb)) ||
        !(bs.rexprs = malloc(np * sizeof *bs.rexprs)) || !(bs.rflags = malloc(np * sizeof *bs.rflags)) ||
        !(bs.rids = malloc(np * sizeof *bs.rids)))
        goto out;
    for (unsigned p = 0; p < rs->n_prof; p++) {
        struct profile *pf = &rs->prof[p];
        memset(member, 0, rs->n_b + 1);
        for (unsigned k = 0; k < pf->n_buckets; k++)
            member[pf->buckets[k]] = 1;
        pf->n_fid = n_live ? (uint32_t)max_fid + 1 : 0;
        if (!(pf->db_of_field = malloc((pf->n_fid ? pf->n_fid : 1) * sizeof *pf->db_of_field)))
            goto out;
        memset(pf->db_of_field, 0xff, (pf->n_fid ? pf->n_fid : 1) * sizeof *pf->db_of_field);
        int r = build_profile(L, pf, member, bucket_of, order, gs, ng, &bs);
        if (r) {
            result = r;
            goto out;
        }
        if (pf->n_slots > rs->max_slots)
            rs->max_slots = pf->n_slots;
        if (pf->n_chains > rs->max_chains)
            rs->max_chains = pf->n_chains;
    }

    /* rules and their runtime code (tests resolved to bits) */
    rs->n_bits = L->pt.n;
    rs->info = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *rs->info);
    rs->rt = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *rs->rt);
    rs->bit_off = calloc(rs->n_bits + 1, sizeof *rs->bit_off);
    uint32_t ncode = 0, capcode = 0, nsuf = 0, capsuf = 0;
    if (!rs->info || !rs->rt || !rs->bit_off)
        goto out;
    for (unsigned i = 0; i < L->nr; i++) {
        const struct staged *s = &L->r[i];
        if (ridx[i] == NONE32)
            continue;
        struct rule_rt *rt = &rs->rt[ridx[i]];
        rs->info[ridx[i]] = s->info;
        rt->code_off = ncode;
        uint32_t run = 0, nrun = 0, nrun_prev = 0;
        for (uint32_t k = s->code_off; k < s->code_off + s->code_len; k++) {
            uint32_t op = L->code[k] >> 24, arg = L->code[k] & 0xffffff, o[3], no = 0;
            if (op != OP_TEST) {
                o[no++] = L->code[k];
            } else {
                const struct test *t = &L->t[arg];
                if (t->kind == TK_ABSENT) {
                    o[no++] = OPC(OP_NBIT, t->bit);
                } else if (t->kind == TK_NULL) { /* absent or empty */
                    o[no++] = OPC(OP_NBIT, t->bit);
                    o[no++] = OPC(OP_BIT, t->bit2);
                    o[no++] = OPC(OP_OR, 2);
                } else {
                    o[no++] = OPC(OP_BIT, t->bit);
                }
            }
            if (grow((void **)&rs->code, &capcode, ncode + no + 1, sizeof *rs->code))
                goto out;
            for (uint32_t j = 0; j < no; j++) {
                uint32_t w = o[j], wop = w >> 24, warg = w & 0xffffff;
                if (wop == OP_NOT && run) { /* not bit -> nbit, not nbit -> bit */
                    bool to_bit = (rs->code[ncode - 1] >> 24) == OP_NBIT;
                    rs->code[ncode - 1] = OPC(to_bit ? OP_BIT : OP_NBIT, rs->code[ncode - 1] & 0xffffff);
                    nrun = to_bit ? nrun_prev + 1 : 0;
                    continue;
                }
                if ((wop == OP_OR || wop == OP_AND) && warg >= 2 && warg <= nrun) {
                    /* the operands are the last warg plain bits: fuse */
                    uint32_t *q = rs->code + ncode - warg;
                    memmove(q + 1, q, warg * sizeof *q);
                    q[0] = OPC(wop == OP_OR ? OP_ANY : OP_ALL, warg);
                    for (uint32_t k = 1; k <= warg; k++)
                        q[k] &= 0xffffff;
                    ncode++;
                    run = nrun = 0;
                    continue;
                }
                rs->code[ncode++] = w;
                run = wop == OP_BIT || wop == OP_NBIT; /* the last word is a bit (a not can flip it) */
                if (run)
                    nrun_prev = nrun;                  /* trailing plain bits before it */
                nrun = wop == OP_BIT ? nrun + 1 : 0;   /* trailing plain bits (each a whole operand) */
            }
        }
        rt->code_len = ncode - rt->code_off;
        unsigned depth = rt_depth(rs->code + rt->code_off, rt->code_len);
        if (depth > rs->max_depth)
            rs->max_depth = depth;
        uint32_t *tmp = malloc((rt->code_len + 1) * sizeof *tmp);
        uint32_t(*stk)[2] = malloc((rt->code_len + 1) * sizeof *stk);
        struct wmask wm[SUF_WORDS_MAX];
        unsigned nw = tmp && stk ? rt_sufficient(rs->code + rt->code_off, rt->code_len, tmp, stk, wm) : 0;
        bool oom = !tmp || !stk;
        free(tmp);
        free(stk);
        if (oom)
            goto out;
        rt->suf_off = nsuf;
        rt->suf_n = nw;
        if (nw && grow((void **)&rs->suf, &capsuf, nsuf + nw, sizeof *rs->suf))
            goto out;
        for (unsigned k = 0; k < nw; k++)
            rs->suf[nsuf++] = wm[k];
    }

    /* Candidates: each rule is registered under a trigger set of bits, such
     * that it can only be true when one of them is set (see rule_trigger);
     * a rule with none (it can be true with no bit set) is evaluated for
     * every event its log source applies to. */
    if (!(prob = malloc(np * sizeof *prob)))
        goto out;
    for (uint32_t p = 0; p < L->pt.n; p++)
        prob[p] = atom_p(&L->pt.p[p]);
    toff = malloc((L->nr + 1) * sizeof *toff);
    tlen = malloc((L->nr + 1) * sizeof *tlen);
    seen = malloc((rs->n_bits ? rs->n_bits : 1) * sizeof *seen);
    n_b_always = rs->n_b + 1;
    b_always = calloc(n_b_always, sizeof *b_always);
    b_nalways = calloc(rs->n_b + 1, sizeof *b_nalways);
    if (!toff || !tlen || !seen || !b_always || !b_nalways)
        goto out;
    memset(seen, 0xff, (rs->n_bits ? rs->n_bits : 1) * sizeof *seen);
    uint32_t total = 0;
    for (unsigned i = 0; i < L->nr; i++) {
        const struct staged *s = &L->r[i];
        toff[i] = nall;
        tlen[i] = 0;
        if (ridx[i] == NONE32)
            continue;
        int r = rule_trigger(&tg, L->t, L->code + s->code_off, s->code_len, users, prob);
        if (r < 0)
            goto out;
        if (r == 0) { /* no trigger: always evaluate where its bucket applies */
            uint16_t b = bucket_of[s->info.logsource];
            uint32_t *na = realloc(b_always[b], (b_nalways[b] + 1) * sizeof *na);
            if (!na)
                goto out;
            b_always[b] = na;
            na[b_nalways[b]++] = ridx[i];
            continue;
        }
        for (uint32_t k = 0; k < tg.n; k++) {
            uint32_t bit = tg.bits[k];
            if (seen[bit] == i)
                continue; /* once per rule */
            seen[bit] = i;
            if (grow((void **)&all, &capall, nall + 1, sizeof *all))
                goto out;
            all[nall++] = bit;
            tlen[i]++;
            rs->bit_off[bit]++;
            total++;
        }
    }
    for (uint32_t b = 0, acc = 0; b <= rs->n_bits; b++) {
        uint32_t c = rs->bit_off[b];
        rs->bit_off[b] = acc;
        acc += c;
    }
    uint32_t *fill = calloc(rs->n_bits + 1, sizeof *fill);
    rs->bit_rules = malloc((total ? total : 1) * sizeof *rs->bit_rules);
    if (!fill || !rs->bit_rules) {
        free(fill);
        goto out;
    }
    for (unsigned i = 0; i < L->nr; i++)
        for (uint32_t k = toff[i]; k < toff[i] + tlen[i]; k++)
            rs->bit_rules[rs->bit_off[all[k]] + fill[all[k]]++] = ridx[i];
    free(fill);

    /* each profile's always-evaluated rules: its buckets', in rule order */
    for (unsigned p = 0; p < rs->n_prof; p++) {
        struct profile *pf = &rs->prof[p];
        unsigned n = 0;
        for (unsigned k = 0; k < pf->n_buckets; k++)
            n += b_nalways[pf->buckets[k]];
        if (!n)
            continue;
        if (!(pf->always = malloc(n * sizeof *pf->always)))
            goto out;
        for (unsigned k = 0; k < pf->n_buckets; k++) {
            uint16_t b = pf->buckets[k];
            if (!b_nalways[b])
                continue;
            memcpy(pf->always + pf->n_always, b_always[b], b_nalways[b] * sizeof *pf->always);
            pf->n_always += b_nalways[b];
        }
        qsort(pf->always, pf->n_always, sizeof *pf->always, cmp_u32);
    }
    result = 0;
    *out = rs;
    rs = NULL;
out:
    for (unsigned b = 0; b_always && b < n_b_always; b++)
        free(b_always[b]);
    free(b_always);
    free(b_nalways);
    free(tg.bits);
    free(tg.st);
    free(toff);
    free(tlen);
    free(seen);
    free(all);
    bscratch_free(&bs);
    free(member);
    free(list);
    free(order);
    free(gs);
    free(users);
    free(prob);
    free(ridx);
    free_set(rs);
    return result;
}

static void warn_duplicate_ids(const struct rule_set *rs, struct diag *d)
{
    for (unsigned i = 0; i < rs->n_rules; i++) {
        if (!rs->info[i].id[0])
            continue;
        for (unsigned j = 0; j < i; j++)
            if (!strcmp(rs->info[i].id, rs->info[j].id)) {
                diag_add(d, DIAG_WARNING, rs->info[i].file, rs->info[i].line, rs->info[i].id,
                         "duplicate rule id (also %s:%u)", rs->info[j].file, rs->info[j].line);
                break;
            }
        if (rs->n_rules > 4096)
            break; /* quadratic check only for ordinary sets */
    }
}

int detect_load(const char *const *paths, unsigned n_paths, const char *fieldmap, struct field_registry *reg,
                struct logsource_table *lt, const struct detect_limits *lim, struct hsdb_cache *cache,
                struct rule_set **out, struct diag *d)
{
    *out = NULL;
    struct loader L = {.reg = reg, .lt = lt, .d = d, .cache = cache};
    L.max_rules = lim && lim->max_rules ? lim->max_rules : DEFAULT_MAX_RULES;
    L.max_patterns = lim && lim->max_patterns ? lim->max_patterns : DEFAULT_MAX_PATTERNS;
    L.no_anchors = lim && lim->no_anchors;
    L.n_known = field_registry_count(reg);
    struct stat fmst, *skip = NULL;
    if (fieldmap && fieldmap[0]) {
        if (fieldmap_load(fieldmap, &L.fm, d)) {
            fieldmap_free(&L.fm);
            return -1;
        }
        if (stat(fieldmap, &fmst) == 0)
            skip = &fmst;
    }
    /* a path that could not be listed is in d: load the rest */
    struct source_list files = {0};
    for (unsigned i = 0; i < n_paths; i++)
        source_list_yaml(paths[i], &files, skip, d);

    int rc = 0;
    for (unsigned f = 0; f < files.n; f++) {
        struct sigma_rule **rules = NULL;
        unsigned n = 0;
        if (sigma_parse_file(files.path[f], &rules, &n, NULL, d) < 0)
            rc = -1;
        for (unsigned i = 0; i < n; i++)
            compile_rule(&L, rules[i]);
        sigma_rules_free(rules, n);
        free(files.path[f]);
        files.path[f] = NULL;
        if (rc)
            break;
    }
    source_list_free(&files);

    struct rule_set *rs = NULL;
    while (rc == 0) {
        int b = build(&L, &rs);
        if (b == 0)
            break;
        if (b < 0) {
            diag_add(d, DIAG_ERROR, "", 0, "", "out of memory building the rule set");
            rc = -1;
        }
    }
    if (rs)
        warn_duplicate_ids(rs, d);
    ptab_truncate(&L.pt, 0);
    free(L.pt.p);
    free(L.pt.head);
    free(L.r);
    free(L.t);
    free(L.code);
    fieldmap_free(&L.fm);
    if (rc)
        return -1;
    *out = rs;
    return 0;
}

/* ------------------------------------------------------------------ */
/* runtime                                                              */

int detect_alloc_scratch(const struct rule_set *rs, hs_scratch_t **s)
{
    for (unsigned p = 0; p < rs->n_prof; p++)
        for (unsigned i = 0; i < rs->prof[p].n_dbs; i++) {
            const struct fdb *fd = &rs->prof[p].dbs[i];
            if ((fd->db && hs_alloc_scratch(fd->db, s) != HS_SUCCESS) ||
                (fd->rest && hs_alloc_scratch(fd->rest, s) != HS_SUCCESS))
                return -1;
        }
    return 0;
}

struct detect_state *detect_state_new(const struct rule_set *rs)
{
    struct detect_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->n_bits = rs->n_bits;
    st->n_rules = rs->n_rules;
    st->n_b = rs->n_b;
    st->bits = calloc(rs->n_bits / 64 + 1, sizeof *st->bits);
    st->touched = malloc((rs->n_bits + 1) * sizeof *st->touched);
    st->rmark = calloc(rs->n_rules / 64 + 1, sizeof *st->rmark);
    st->cand = malloc((rs->n_rules + 1) * sizeof *st->cand);
    st->stack = malloc(rs->max_depth + 1);
    st->cover = calloc(rs->n_b + 1, sizeof *st->cover);
    st->reg0 = malloc((rs->max_slots + 1) * sizeof *st->reg0);
    st->reg1 = malloc((rs->max_slots + 1) * sizeof *st->reg1);
    st->reg_ok = calloc(rs->max_slots + 1, 1);
    st->ch_end = malloc((rs->max_chains + 1) * sizeof *st->ch_end);
    st->ch_start1 = calloc(rs->max_chains + 1, sizeof *st->ch_start1);
    st->ch_touched = malloc((rs->max_chains + 1) * sizeof *st->ch_touched);
    if (!st->bits || !st->touched || !st->rmark || !st->cand || !st->stack || !st->cover || !st->reg0 || !st->reg1 ||
        !st->reg_ok || !st->ch_end || !st->ch_start1 || !st->ch_touched) {
        detect_state_free(st);
        return NULL;
    }
    memset(st->ch_end, 0xff, (rs->max_chains + 1) * sizeof *st->ch_end);
    return st;
}

void detect_state_free(struct detect_state *st)
{
    if (!st)
        return;
    free(st->bits);
    free(st->touched);
    free(st->rmark);
    free(st->cand);
    free(st->stack);
    free(st->cover);
    free(st->reg0);
    free(st->reg1);
    free(st->reg_ok);
    free(st->ch_end);
    free(st->ch_start1);
    free(st->ch_touched);
    free(st);
}

unsigned detect_rule_count(const struct rule_set *rs) { return rs->n_rules; }

const struct rule_info *detect_rule(const struct rule_set *rs, unsigned idx)
{
    return idx < rs->n_rules ? &rs->info[idx] : NULL;
}

void detect_last_stats(const struct detect_state *st, struct detect_eval_stats *out) { *out = st->stats; }

unsigned detect_anchored_literals(const struct rule_set *rs)
{
    unsigned n = 0;
    for (unsigned p = 0; p < rs->n_prof; p++)
        n += rs->prof[p].n_kw;
    return n;
}

const hs_database_t *detect_message_db(const struct rule_set *rs, uint16_t lsid)
{
    if (lsid >= rs->n_ls || rs->ls_prof[lsid] == NONE16)
        return NULL;
    const struct profile *pf = &rs->prof[rs->ls_prof[lsid]];
    int d = FID_MESSAGE < pf->n_fid ? pf->db_of_field[FID_MESSAGE] : -1;
    return d >= 0 ? pf->dbs[d].db : NULL;
}

static inline void set_bit(struct detect_state *st, uint32_t id)
{
    uint64_t m = 1ull << (id & 63);
    if (!(st->bits[id >> 6] & m)) {
        st->bits[id >> 6] |= m;
        st->touched[st->n_touched++] = id;
    }
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)from, (void)to, (void)flags;
    set_bit(ctx, id); /* a profile without components (else on_match_fold) */
    return 0;
}

/* An anchor ended at `to` in the scanned value: each literal it stands for
 * that is not matched yet, compared where it would hold the anchor. */
static void confirm_anchor(struct detect_state *st, const struct fcomp *c, unsigned long long to)
{
    for (uint32_t k = c->chain; k < c->chain + c->len; k++) {
        const struct kwdep *d = &st->kw[k];
        if (to < d->aend || ((st->bits[d->bit >> 6] >> (d->bit & 63)) & 1))
            continue;
        uint64_t start = to - d->aend;
        if (start + d->len > st->scan_len)
            continue;
        const char *p = st->scan_ptr + start, *v = st->kw_pool + d->off;
        if (d->cased ? !memcmp(p, v, d->len) : eq_lowered(p, v, d->len))
            set_bit(st, d->bit);
    }
}

/* Matches of a profile with components: a pattern's own id sets its bit; a
 * component counts only inside its region: the scanned value itself
 * (SLOT_SELF), or a folded field's region while the first message value is
 * scanned. */
static int on_match_fold(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags,
                         void *ctx)
{
    (void)from, (void)flags;
    struct detect_state *st = ctx;
    if (id < FOLD_ID) {
        set_bit(st, id);
        return 0;
    }
    const struct fcomp *c = &st->fc[id - FOLD_ID];
    if ((c->flags & FC_KIND) == FC_ANCHOR) {
        confirm_anchor(st, c, to);
        return 0;
    }
    uint64_t r0 = 0, r1 = st->scan_len;
    if (c->slot != SLOT_SELF) {
        if (!st->regions_live || !st->reg_ok[c->slot])
            return 0;
        r0 = st->reg0[c->slot];
        r1 = st->reg1[c->slot];
    }
    if (to < c->len)
        return 0;
    uint64_t start = to - c->len;
    if (start < r0 || to > r1 || ((c->flags & FC_ASTART) && start != r0) || ((c->flags & FC_AEND) && to != r1))
        return 0;
    switch (c->flags & FC_KIND) {
    case FC_SINGLE:
        set_bit(st, c->bit);
        break;
    case FC_FIRST:
        if (st->ch_end[c->chain] == NONE32 && !st->ch_start1[c->chain])
            st->ch_touched[st->n_ch_touched++] = c->chain;
        if ((uint32_t)to < st->ch_end[c->chain])
            st->ch_end[c->chain] = (uint32_t)to;
        break;
    case FC_LAST:
        if (st->ch_end[c->chain] == NONE32 && !st->ch_start1[c->chain])
            st->ch_touched[st->n_ch_touched++] = c->chain;
        if ((uint32_t)start + 1 > st->ch_start1[c->chain])
            st->ch_start1[c->chain] = (uint32_t)start + 1;
        break;
    }
    return 0;
}

/* Chains whose first literal ends before their second starts, inside the
 * region, match. */
static void resolve_chains(const struct profile *pf, struct detect_state *st)
{
    for (uint32_t i = 0; i < st->n_ch_touched; i++) {
        uint32_t c = st->ch_touched[i];
        if (st->ch_start1[c] && st->ch_end[c] <= st->ch_start1[c] - 1)
            set_bit(st, pf->chain_bit[c]);
        st->ch_end[c] = NONE32;
        st->ch_start1[c] = 0;
    }
    st->n_ch_touched = 0;
}

static inline void xtab_lookup(const struct xtab *x, const char *p, uint32_t len, struct detect_state *st)
{
    if (!((x->lens >> (len < 63 ? len : 63)) & 1))
        return;
    uint32_t h = hash_lower(p, len);
    for (uint32_t i = x->head[h & x->mask]; i != NONE32; i = x->e[i].next) {
        const struct xent *e = &x->e[i];
        if (e->hash != h || e->len != len)
            continue;
        const char *v = x->pool + e->off;
        if (e->cased ? !memcmp(v, p, len) : eq_lowered(p, v, len))
            set_bit(st, e->bit);
    }
}

static inline void ctab_lookup(const struct ctab *c, const struct vigil_ip *ip, struct detect_state *st)
{
    const uint8_t *pfx = ip->family == 4 ? c->pfx4 : c->pfx6;
    unsigned n = ip->family == 4 ? c->n4 : ip->family == 6 ? c->n6 : 0;
    for (unsigned k = 0; k < n; k++) {
        uint8_t a[16];
        mask_addr(ip->addr, pfx[k], a);
        for (uint32_t i = c->head[net_hash(ip->family, pfx[k], a) & c->mask]; i != NONE32; i = c->e[i].next) {
            const struct cnet *e = &c->e[i];
            if (e->prefix == pfx[k] && e->family == ip->family && !memcmp(e->addr, a, 16))
                set_bit(st, e->bit);
        }
    }
}

static inline void ntab_lookup(const struct ntab *t, double v, struct detect_state *st)
{
    for (uint32_t i = t->off[CMP_GT]; i < t->off[CMP_GT + 1] && t->e[i].v < v; i++) /* v > threshold */
        set_bit(st, t->e[i].bit);
    for (uint32_t i = t->off[CMP_GTE]; i < t->off[CMP_GTE + 1] && t->e[i].v <= v; i++)
        set_bit(st, t->e[i].bit);
    for (uint32_t i = t->off[CMP_LT + 1]; i > t->off[CMP_LT] && t->e[i - 1].v > v; i--) /* v < threshold */
        set_bit(st, t->e[i - 1].bit);
    for (uint32_t i = t->off[CMP_LTE + 1]; i > t->off[CMP_LTE] && t->e[i - 1].v >= v; i--)
        set_bit(st, t->e[i - 1].bit);
}

static uint32_t fmt_i64(int64_t v, char *buf)
{
    char tmp[24];
    uint32_t n = 0, o = 0;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        buf[o++] = '-';
    while (n)
        buf[o++] = tmp[--n];
    return o;
}

/* Text of a value for pattern tests: strings as they are, integers in
 * decimal, addresses in their usual notation. */
static bool value_text(const struct field_value *f, char *buf, const char **p, uint32_t *len)
{
    switch (f->type) {
    case FIELD_STR:
        *p = f->v.s.ptr;
        *len = f->v.s.len;
        return f->v.s.ptr != NULL;
    case FIELD_INT:
        *len = fmt_i64(f->v.i, buf);
        *p = buf;
        return true;
    case FIELD_IP:
        if (f->v.ip.family == 4) { /* dotted quad by hand: glibc's inet_ntop goes through sprintf */
            uint32_t o = 0;
            for (int k = 0; k < 4; k++) {
                if (k)
                    buf[o++] = '.';
                o += fmt_i64(f->v.ip.addr[k], buf + o);
            }
            buf[o] = '\0';
            *len = o;
        } else {
            if (!inet_ntop(AF_INET6, f->v.ip.addr, buf, 64))
                return false;
            *len = (uint32_t)strlen(buf);
        }
        *p = buf;
        return true;
    }
    return false;
}

static bool str_number(const char *p, uint32_t len, double *out)
{
    char buf[64];
    while (len && (*p == ' ' || *p == '\t'))
        p++, len--;
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof buf)
        return false;
    for (uint32_t i = 0; i < len; i++)
        if (!(isdigit((unsigned char)p[i]) || p[i] == '-' || p[i] == '+' || p[i] == '.' || p[i] == 'e' ||
              p[i] == 'E'))
            return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    char *end;
    double v = strtod(buf, &end);
    if (end != buf + len)
        return false;
    *out = v;
    return true;
}

static inline void mark(struct detect_state *st, uint32_t r)
{
    uint64_t m = 1ull << (r & 63);
    if (!(st->rmark[r >> 6] & m)) {
        st->rmark[r >> 6] |= m;
        st->cand[st->n_cand++] = r;
    }
}

/* One field value against its database fd: the exists / empty bits, the
 * one-byte tests, the value table, one Hyperscan scan (of fd->rest when the
 * value is folded: its folded patterns were matched in the message; regions
 * apply while the first message value is scanned), networks, thresholds.
 * -1 on a scan error.  Always inlined: its hot caller is the per-field loop
 * of scan_profile (a call there costs 10 ns an sshd event). */
static inline __attribute__((always_inline)) int check_value(const struct profile *pf, hs_scratch_t *s,
                                                             struct detect_state *st, const struct field_value *f,
                                                             const struct fdb *fd, bool folded, bool first_message)
{
    st->stats.fields++;
    for (unsigned k = 0; k < fd->n_exists; k++)
        set_bit(st, fd->exists[k]);
    if (fd->n_empty && f->type == FIELD_STR && f->v.s.len == 0)
        for (unsigned k = 0; k < fd->n_empty; k++)
            set_bit(st, fd->empty[k]);
    if (fd->x || fd->db || fd->n_bytes) {
        char buf[64];
        const char *p;
        uint32_t len;
        if (value_text(f, buf, &p, &len) && len) {
            for (unsigned k = 0; k < fd->n_bytes; k++) {
                const struct btest *bt = &fd->bytes[k];
                if (memchr(p, bt->c, len) || (bt->alt != bt->c && memchr(p, bt->alt, len)))
                    set_bit(st, bt->bit);
            }
            if (fd->x) {
                st->stats.lookups++;
                xtab_lookup(fd->x, p, len, st);
            }
            const hs_database_t *db = folded ? fd->rest : fd->db;
            if (db) {
                st->scan_ptr = p;
                st->scan_len = len;
                st->regions_live = first_message;
                match_event_handler cb = pf->n_fc ? on_match_fold : on_match;
                st->stats.hs_scans++;
                if (hs_scan(db, p, len, 0, s, cb, st) != HS_SUCCESS)
                    return -1;
                if (st->n_ch_touched)
                    resolve_chains(pf, st);
            }
        }
    }
    if (fd->c) {
        struct vigil_ip ip;
        if (f->type == FIELD_IP)
            ctab_lookup(fd->c, &f->v.ip, st);
        else if (f->type == FIELD_STR && f->v.s.ptr && field_parse_ip(f->v.s.ptr, f->v.s.len, &ip))
            ctab_lookup(fd->c, &ip, st);
    }
    if (fd->nt) {
        double v;
        if (f->type == FIELD_INT)
            ntab_lookup(fd->nt, (double)f->v.i, st);
        else if (f->type == FIELD_STR && f->v.s.ptr && str_number(f->v.s.ptr, f->v.s.len, &v))
            ntab_lookup(fd->nt, v, st);
    }
    return 0;
}

/* Appends to sel[ns..] the indices in [from, to) of ef's fields that the
 * profile tests, and their databases to seld, in one branch-free pass;
 * returns the new count. */
static inline unsigned select_fields(const struct profile *pf, const struct event_fields *ef, unsigned from,
                                     unsigned to, uint8_t *sel, int16_t *seld, unsigned ns)
{
    const int16_t *dof = pf->db_of_field;
    const uint32_t nfid = pf->n_fid;
    for (unsigned i = from; i < to; i++) {
        unsigned id = ef->f[i].id;
        int d = id < nfid ? dof[id] : -1;
        sel[ns] = (uint8_t)i;
        seld[ns] = (int16_t)d;
        ns += d >= 0;
    }
    return ns;
}

/* Checks each field value of the event that the profile tests once (see
 * check_value).  Fields no rule of the profile tests cost one load; a
 * parser's constants, when the event carries them as the parser gave them,
 * cost the bits detect_set_constants found for them. */
static int scan_profile(const struct rule_set *rs, const struct profile *pf, hs_scratch_t *s,
                        struct detect_state *st, const struct event_fields *ef)
{
    for (unsigned a = 0; a < pf->n_always; a++)
        mark(st, pf->always[a]);
    st->fc = pf->fc;
    st->kw = pf->kw;
    st->kw_pool = pf->kw_pool;
    unsigned c0 = 0, cn = 0; /* f[c0, c0 + cn): constants whose bits are known */
    if (ef->const_n && rs->const_src && ef->const_src == rs->const_src && (unsigned)ef->parser < rs->n_const &&
        rs->const_ok[ef->parser]) {
        c0 = ef->const_first;
        cn = ef->const_n;
        for (uint32_t k = pf->const_off[ef->parser]; k < pf->const_off[ef->parser + 1]; k++)
            set_bit(st, pf->const_bits[k]);
    }
    /* the event's fields the profile tests (usually a few of a dozen),
     * around the constants */
    uint8_t sel[FIELDS_HARD_MAX];
    int16_t seld[FIELDS_HARD_MAX];
    unsigned nf = ef->n < FIELDS_HARD_MAX ? ef->n : FIELDS_HARD_MAX;
    unsigned ns = select_fields(pf, ef, 0, cn ? c0 : nf, sel, seld, 0);
    if (cn)
        ns = select_fields(pf, ef, c0 + cn, nf, sel, seld, ns);
    /* folding: the regions of the folded fields' values that are views into
     * the first message value */
    uint64_t folded[FIELDS_HARD_MAX / 64] = {0};
    int msg_i = -1;
    if (pf->n_slots) {
        memset(st->reg_ok, 0, pf->n_slots);
        for (unsigned k = 0; k < ns && msg_i < 0; k++) {
            const struct field_value *f = &ef->f[sel[k]];
            if (f->id == FID_MESSAGE && f->type == FIELD_STR && f->v.s.ptr && f->v.s.len)
                msg_i = sel[k];
        }
        const char *m0 = msg_i >= 0 ? ef->f[msg_i].v.s.ptr : NULL, *m1 = m0 ? m0 + ef->f[msg_i].v.s.len : NULL;
        for (unsigned k = 0; m0 && k < ns; k++) {
            const struct field_value *f = &ef->f[sel[k]];
            int sl = pf->dbs[seld[k]].fold_slot;
            const char *p = f->v.s.ptr;
            if (sl < 0 || f->type != FIELD_STR || !f->v.s.len || st->reg_ok[sl] || !p || p < m0 || p > m1 ||
                (size_t)(m1 - p) < f->v.s.len)
                continue;
            st->reg0[sl] = (uint32_t)(p - m0);
            st->reg1[sl] = st->reg0[sl] + f->v.s.len;
            st->reg_ok[sl] = 1;
            folded[sel[k] / 64] |= 1ull << (sel[k] % 64);
        }
    }
    for (unsigned k = 0; k < ns; k++) {
        unsigned i = sel[k];
        if (check_value(pf, s, st, &ef->f[i], &pf->dbs[seld[k]], (folded[i / 64] >> (i % 64)) & 1, (int)i == msg_i))
            return -1;
    }
    return 0;
}

/* A log source interned after the rules loaded has no profile: every bucket
 * that applies to it is covered by scanning that bucket's own profile (all
 * of whose buckets then apply too), largest profiles first. */
static int scan_unknown(const struct rule_set *rs, hs_scratch_t *s, struct detect_state *st,
                        const struct event_fields *ef)
{
    const struct logsource *ev = logsource_get(rs->lt, ef->logsource);
    if (++st->epoch == 0) {
        memset(st->cover, 0, st->n_b * sizeof *st->cover);
        st->epoch = 1;
    }
    for (;;) {
        const struct profile *best = NULL;
        for (unsigned b = 0; b < rs->n_b; b++) {
            if (st->cover[b] == st->epoch || !logsource_applies(&rs->b[b].ls, ev))
                continue;
            const struct profile *pf = &rs->prof[rs->b[b].prof];
            if (!best || pf->n_buckets > best->n_buckets)
                best = pf;
        }
        if (!best)
            return 0;
        for (unsigned k = 0; k < best->n_buckets; k++)
            st->cover[best->buckets[k]] = st->epoch;
        if (scan_profile(rs, best, s, st, ef))
            return -1;
    }
}

static bool eval_code(const struct rule_set *rs, const struct detect_state *st, uint32_t r)
{
    const uint32_t *code = rs->code + rs->rt[r].code_off;
    uint32_t n = rs->rt[r].code_len;
    uint8_t *stk = st->stack;
    unsigned sp = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        switch (op) {
        case OP_BIT:
            stk[sp++] = (uint8_t)((st->bits[arg >> 6] >> (arg & 63)) & 1);
            break;
        case OP_NBIT:
            stk[sp++] = (uint8_t)(~(st->bits[arg >> 6] >> (arg & 63)) & 1);
            break;
        case OP_ANY: {
            uint8_t v = 0;
            for (uint32_t j = 1; j <= arg && !v; j++)
                v = (uint8_t)((st->bits[code[i + j] >> 6] >> (code[i + j] & 63)) & 1);
            stk[sp++] = v;
            i += arg;
            break;
        }
        case OP_ALL: {
            uint8_t v = 1;
            for (uint32_t j = 1; j <= arg && v; j++)
                v = (uint8_t)((st->bits[code[i + j] >> 6] >> (code[i + j] & 63)) & 1);
            stk[sp++] = v;
            i += arg;
            break;
        }
        case OP_NOT:
            stk[sp - 1] ^= 1;
            break;
        case OP_AND: {
            sp -= arg;
            uint8_t v = 1;
            for (uint32_t j = 0; j < arg; j++)
                v &= stk[sp + j];
            stk[sp++] = v;
            break;
        }
        case OP_OR: {
            sp -= arg;
            uint8_t v = 0;
            for (uint32_t j = 0; j < arg; j++)
                v |= stk[sp + j];
            stk[sp++] = v;
            break;
        }
        }
    }
    return sp == 1 && stk[0];
}

/* A rule's condition: true at once when one of its sufficient bits is set
 * (rt_sufficient), else its code runs. */
static bool eval_rule(const struct rule_set *rs, const struct detect_state *st, uint32_t r)
{
    const struct rule_rt *rt = &rs->rt[r];
    for (uint32_t k = rt->suf_off; k < rt->suf_off + rt->suf_n; k++)
        if (st->bits[rs->suf[k].word] & rs->suf[k].mask) {
            assert(eval_code(rs, st, r)); /* debug builds: the shortcut agrees with the code */
            return true;
        }
    return eval_code(rs, st, r);
}

static void clear_state(struct detect_state *st)
{
    for (uint32_t i = 0; i < st->n_touched; i++)
        st->bits[st->touched[i] >> 6] = 0;
    for (uint32_t i = 0; i < st->n_cand; i++)
        st->rmark[st->cand[i] >> 6] = 0;
    st->n_touched = 0;
    st->n_cand = 0;
    for (uint32_t i = 0; i < st->n_ch_touched; i++) { /* after a scan error */
        st->ch_end[st->ch_touched[i]] = NONE32;
        st->ch_start1[st->ch_touched[i]] = 0;
    }
    st->n_ch_touched = 0;
}

/* Sorts a[0..n) (no allocation: the packet path). */
static void sort_u32(uint32_t *a, uint32_t n)
{
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t v = a[i], j = i;
            for (; j > 0 && a[j - 1] > v; j--)
                a[j] = a[j - 1];
            a[j] = v;
        }
        return;
    }
    /* heapsort */
    for (uint32_t k = n / 2; k-- > 0;)
        for (uint32_t i = k;;) {
            uint32_t c = 2 * i + 1;
            if (c >= n)
                break;
            if (c + 1 < n && a[c + 1] > a[c])
                c++;
            if (a[i] >= a[c])
                break;
            uint32_t t = a[i];
            a[i] = a[c];
            a[c] = t;
            i = c;
        }
    for (uint32_t end = n - 1; end > 0; end--) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        for (uint32_t i = 0;;) {
            uint32_t c = 2 * i + 1;
            if (c >= end)
                break;
            if (c + 1 < end && a[c + 1] > a[c])
                c++;
            if (a[i] >= a[c])
                break;
            t = a[i];
            a[i] = a[c];
            a[c] = t;
            i = c;
        }
    }
}

int detect_eval(const struct rule_set *rs, hs_scratch_t *s, struct detect_state *st, const struct event_fields *ef,
                uint32_t *out, unsigned max)
{
    memset(&st->stats, 0, sizeof st->stats);
    int rc;
    if (ef->logsource < rs->n_ls) {
        uint16_t p = rs->ls_prof[ef->logsource];
        if (p == NONE16)
            return 0; /* no rule applies to this log source */
        rc = scan_profile(rs, &rs->prof[p], s, st, ef);
    } else {
        rc = scan_unknown(rs, s, st, ef);
    }
    if (rc) {
        clear_state(st);
        return -1;
    }
    for (uint32_t i = 0; i < st->n_touched; i++) {
        uint32_t bit = st->touched[i];
        for (uint32_t k = rs->bit_off[bit]; k < rs->bit_off[bit + 1]; k++)
            mark(st, rs->bit_rules[k]);
    }
    /* rule order: sort the candidates, or collect them from the marks when
     * there are so many that walking the mark words is cheaper */
    uint32_t n = st->n_cand;
    if (n <= 32 || (uint64_t)n * 8 < rs->n_rules / 64) {
        sort_u32(st->cand, n);
    } else {
        uint32_t k = 0;
        for (uint32_t w = 0; w <= rs->n_rules / 64; w++)
            for (uint64_t m = st->rmark[w]; m; m &= m - 1)
                st->cand[k++] = w * 64 + (uint32_t)__builtin_ctzll(m);
    }
    st->stats.rules = n;
    int matched = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = st->cand[i];
        if (eval_rule(rs, st, r)) {
            if ((unsigned)matched < max)
                out[matched] = r;
            matched++;
        }
    }
    clear_state(st);
    return matched;
}

int detect_set_constants(struct rule_set *rs, const void *src, unsigned n_parsers,
                         const struct field_value *(*consts)(const void *src, unsigned i, unsigned *n))
{
    rs->const_src = NULL; /* until every profile has its table */
    hs_scratch_t *s = NULL;
    struct detect_state *st = NULL;
    uint8_t *ok = calloc(n_parsers + 1, 1);
    int rc = -1;
    if (!ok || detect_alloc_scratch(rs, &s) || !(st = detect_state_new(rs)))
        goto out;
    /* a message constant would take part in folding: such a parser's
     * constants stay checked per event */
    for (unsigned i = 0; i < n_parsers; i++) {
        unsigned nv;
        const struct field_value *v = consts(src, i, &nv);
        ok[i] = 1;
        for (unsigned k = 0; k < nv; k++)
            if (v[k].id == FID_MESSAGE)
                ok[i] = 0;
    }
    for (unsigned p = 0; p < rs->n_prof; p++) {
        struct profile *pf = &rs->prof[p];
        free(pf->const_off);
        free(pf->const_bits);
        pf->const_bits = NULL;
        uint32_t n = 0, cap = 0;
        if (!(pf->const_off = malloc((n_parsers + 1) * sizeof *pf->const_off)))
            goto out;
        st->fc = pf->fc;
        st->kw = pf->kw;
        st->kw_pool = pf->kw_pool;
        for (unsigned i = 0; i < n_parsers; i++) {
            pf->const_off[i] = n;
            unsigned nv;
            const struct field_value *v = consts(src, i, &nv);
            for (unsigned k = 0; ok[i] && k < nv; k++) {
                int d = v[k].id < pf->n_fid ? pf->db_of_field[v[k].id] : -1;
                if (d >= 0 && check_value(pf, s, st, &v[k], &pf->dbs[d], false, false)) {
                    clear_state(st);
                    goto out;
                }
            }
            if (grow((void **)&pf->const_bits, &cap, n + st->n_touched, sizeof *pf->const_bits)) {
                clear_state(st);
                goto out;
            }
            if (st->n_touched)
                memcpy(pf->const_bits + n, st->touched, st->n_touched * sizeof *st->touched);
            n += st->n_touched;
            clear_state(st);
        }
        pf->const_off[n_parsers] = n;
    }
    free(rs->const_ok);
    rs->const_ok = ok;
    ok = NULL;
    rs->n_const = n_parsers;
    rs->const_src = src;
    rc = 0;
out:
    free(ok);
    detect_state_free(st);
    hs_free_scratch(s);
    return rc;
}
