/* Detection: Sigma rules (sigma.h) compiled onto Hyperscan (detect.h).
 *
 * Load:
 *   1. the field mapping file (format below and in docs/rules.md);
 *   2. every rule file, in name order; each rule is compiled alone into
 *      - tests: one per value (a Hyperscan pattern, or a direct test:
 *        gt..lte, cidr, null, exists, empty),
 *      - code: its condition in postfix over the tests (selections inlined),
 *      and rejected alone (diag error) when anything in it is unsupported;
 *   3. patterns are deduplicated per (rule log source, field, flags,
 *      expression): the unique pattern index is the match bit, so two rules
 *      testing `cs-method: GET` share one pattern and one bit;
 *   4. one Hyperscan database per (bucket, field), where a bucket is a
 *      distinct rule log source; a database Hyperscan refuses rejects the
 *      rules owning the refused pattern and the set is rebuilt (the hsdb
 *      cache makes the unchanged databases free).  Plain equality tests
 *      (`event.outcome: failure`, `user.name: root`) go into a hash table of
 *      values per (bucket, field) instead: parsed fields are short and
 *      usually tested for equality, and a hash lookup costs a fraction of a
 *      Hyperscan call;
 *   5. for every log source id already in the table, the list of buckets
 *      that apply to it (logsource_applies), and per bucket the rules that
 *      must be evaluated even with no match bit (their condition can be true
 *      with every pattern false: `not filter`, numeric or cidr only).
 *
 * Eval (no allocation): for each applicable bucket, each event field that has
 * a database (or value table) in the bucket is scanned (looked up) once per
 * value (integers and addresses are formatted to text first); matches set bits and are remembered in a
 * touched list.  Candidate rules are the rules of the touched bits plus the
 * buckets' always-evaluate rules; only they run their code.  Everything set
 * is cleared through the touched and candidate lists, so the cost of an
 * event does not grow with the number of rules loaded.
 *
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
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <yaml.h>

#include "engine/sigma.h"

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

struct test {
    uint8_t kind, cmp, prefix;
    field_id field;
    uint32_t bit;
    double num;
    struct vigil_ip net;
};

enum { OP_TEST = 1, OP_NOT, OP_AND, OP_OR };
#define OPC(op, arg) (((uint32_t)(op) << 24) | ((uint32_t)(arg) & 0xffffffu))

struct rule_rt {
    uint32_t code_off, code_len;
};

/* Exact values of one (bucket, field): open hashing on the ASCII-lowercased
 * value; each entry is caseless (Sigma's default) or cased (|cased). */
struct xent {
    uint32_t hash, len, off, bit, next;
    uint8_t cased;
};

struct xtab {
    uint32_t *head;
    uint32_t mask;
    struct xent *e;
    uint32_t n;
    char *pool;
};

struct fdb {
    field_id field;
    hs_database_t *db;          /* NULL when every test of the field is an exact value */
    struct xtab *x;             /* NULL when none is */
};

struct bucket {
    struct logsource ls;
    uint16_t lsid;
    struct fdb *dbs;
    unsigned n_dbs;
    int32_t *db_of_slot;        /* per tested field slot: index in dbs or -1 */
    uint32_t *always;
    unsigned n_always;
};

struct rule_set {
    unsigned n_rules;
    struct rule_info *info;
    struct rule_rt *rt;
    uint32_t *code;
    struct test *tests;
    unsigned n_bits;
    uint32_t *bit_off;          /* n_bits + 1 */
    uint32_t *bit_rules;
    struct bucket *b;
    unsigned n_b;
    unsigned n_slots;
    int16_t field_slot[FIELD_REGISTRY_MAX];
    unsigned n_ls;
    uint32_t *ls_off;           /* n_ls + 1 */
    uint16_t *ls_buckets;
    const struct logsource_table *lt;
    unsigned max_depth;
};

struct detect_state {
    unsigned n_bits, n_rules;
    uint64_t *bits;
    uint32_t *touched;
    uint32_t n_touched;
    uint64_t *rmark;
    uint32_t *cand;
    uint32_t n_cand;
    uint8_t *stack;
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

struct upat {
    char *expr;
    unsigned flags;
    uint16_t lsid;
    field_id field;
    uint32_t hash, next;
    char *lit;                  /* exact value (equality test), or NULL */
    uint32_t litlen;
};

struct ptab {
    struct upat *p;
    uint32_t n, cap;
    uint32_t *head;
    uint32_t nhead;             /* power of two */
};

struct staged {
    struct rule_info info;
    uint32_t code_off, code_len;
    uint32_t test_off, test_len;
    unsigned depth;
    bool dead;
};

struct loader {
    struct field_registry *reg;
    struct logsource_table *lt;
    struct diag *d;
    struct hsdb_cache *cache;
    unsigned max_rules, max_patterns;
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

static uint32_t pat_hash(uint16_t lsid, field_id field, unsigned flags, const char *expr)
{
    uint32_t h = 2166136261u;
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

/* Index of the pattern, added if new (*added).  -1 out of memory.  expr and
 * lit (the exact value, or NULL) are taken over: kept when added, freed
 * otherwise. */
static int64_t ptab_add(struct ptab *t, uint16_t lsid, field_id field, unsigned flags, char *expr, char *lit,
                        uint32_t litlen, bool *added)
{
    *added = false;
    uint32_t h = pat_hash(lsid, field, flags, expr);
    if (t->nhead) {
        for (uint32_t i = t->head[h & (t->nhead - 1)]; i != NONE32; i = t->p[i].next)
            if (t->p[i].hash == h && t->p[i].lsid == lsid && t->p[i].field == field && t->p[i].flags == flags &&
                !strcmp(t->p[i].expr, expr)) {
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
    u->expr = expr;
    u->lit = lit;
    u->litlen = litlen;
    u->flags = flags;
    u->lsid = lsid;
    u->field = field;
    u->hash = h;
    uint32_t s = h & (t->nhead - 1);
    u->next = t->head[s];
    t->head[s] = t->n;
    *added = true;
    return t->n++;
}

/* Drops the patterns added after mark (newest first: each is its chain's head). */
static void ptab_truncate(struct ptab *t, uint32_t mark)
{
    while (t->n > mark) {
        struct upat *u = &t->p[--t->n];
        t->head[u->hash & (t->nhead - 1)] = u->next;
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
    char err[DIAG_MSG_MAX];
    unsigned err_line;
    bool failed;
    field_id unknown[16];
    unsigned n_unknown;
};

static void rfail(struct rctx *c, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void rfail(struct rctx *c, unsigned line, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    c->err_line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
}

static void emit(struct rctx *c, uint32_t op)
{
    struct loader *L = c->L;
    if (c->failed)
        return;
    if (grow((void **)&L->code, &L->capc, L->nc + 1, sizeof *L->code)) {
        rfail(c, 0, "out of memory");
        return;
    }
    L->code[L->nc++] = op;
}

static uint32_t new_test(struct rctx *c, const struct test *t)
{
    struct loader *L = c->L;
    if (L->nt >= MAX_TESTS) {
        rfail(c, 0, "test limit (%u) reached", MAX_TESTS);
        return 0;
    }
    if (grow((void **)&L->t, &L->capt, L->nt + 1, sizeof *L->t)) {
        rfail(c, 0, "out of memory");
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
        rfail(c, it->line, "field name '%s' is not a valid field name", mapped);
        return -1;
    }
    if (field_registry_intern(c->L->reg, mapped, out)) {
        rfail(c, it->line, "field registry full (%d names)", FIELD_REGISTRY_MAX);
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

static void emit_value(struct rctx *c, const struct sigma_item *it, const struct sigma_value *v, field_id fid)
{
    struct test t = {.field = fid};
    if (it->mods & SIGMA_MOD_EXISTS) {
        t.kind = v->b ? TK_EXISTS : TK_ABSENT;
    } else if (v->type == SIGMA_V_NULL) {
        t.kind = TK_NULL;
    } else if (it->mods & SIGMA_MOD_CIDR) {
        t.kind = TK_CIDR;
        t.net = v->net;
        t.prefix = v->prefix;
    } else if (it->mods & SIGMA_MOD_NUMERIC) {
        t.kind = TK_NUM;
        t.num = v->num;
        t.cmp = (it->mods & SIGMA_MOD_GT)    ? CMP_GT
                : (it->mods & SIGMA_MOD_GTE) ? CMP_GTE
                : (it->mods & SIGMA_MOD_LT)  ? CMP_LT
                                             : CMP_LTE;
    } else {
        enum sigma_pattern_kind kind;
        char *expr;
        unsigned flags;
        char err[256];
        if (sigma_value_pattern(it->mods, v, &kind, &expr, &flags, err, sizeof err)) {
            rfail(c, v->line, "%s (field '%s')", err, it->field);
            return;
        }
        if (kind == SIGMA_PAT_ANY) {
            t.kind = TK_EXISTS;
        } else if (kind == SIGMA_PAT_EMPTY) {
            t.kind = TK_EMPTY;
        } else {
            if (it->mods & SIGMA_MOD_RE) {
                hs_expr_info_t *info = NULL;
                hs_compile_error_t *ce = NULL;
                if (hs_expression_info(expr, flags, &info, &ce) != HS_SUCCESS) {
                    rfail(c, v->line, "regular expression '%.200s' rejected by Hyperscan: %s", expr,
                          ce && ce->message ? ce->message : "invalid");
                    hs_free_compile_error(ce);
                    free(expr);
                    return;
                }
                free(info);
            }
            char *lit = NULL;
            uint32_t litlen = 0;
            if (!(it->mods & SIGMA_MOD_RE))
                sigma_value_literal(it->mods, v, &lit, &litlen);
            bool added;
            int64_t idx = ptab_add(&c->L->pt, c->lsid, fid, flags, expr, lit, litlen, &added);
            if (idx < 0) {
                rfail(c, v->line, "out of memory");
                return;
            }
            t.kind = TK_HS;
            t.bit = (uint32_t)idx;
        }
    }
    uint32_t ti = new_test(c, &t);
    emit(c, OPC(OP_TEST, ti));
}

static void emit_selection(struct rctx *c, const struct sigma_selection *s)
{
    for (unsigned m = 0; m < s->n && !c->failed; m++) {
        const struct sigma_map *map = &s->maps[m];
        for (unsigned i = 0; i < map->n && !c->failed; i++) {
            const struct sigma_item *it = &map->items[i];
            field_id fid;
            if (resolve_field(c, it, &fid))
                return;
            for (unsigned v = 0; v < it->nv && !c->failed; v++)
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

static unsigned code_depth(const uint32_t *code, uint32_t n)
{
    unsigned sp = 0, max = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        if (op == OP_TEST)
            sp++;
        else if (op == OP_AND || op == OP_OR)
            sp -= arg - 1;
        if (sp > max)
            max = sp;
    }
    return max;
}

static void parse_uuid(const char *s, uint8_t out[16], const char *title)
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

static void fill_info(struct rule_info *ri, const struct sigma_rule *sr, uint16_t lsid)
{
    memset(ri, 0, sizeof *ri);
    snprintf(ri->id, sizeof ri->id, "%s", sr->id ? sr->id : "");
    snprintf(ri->title, sizeof ri->title, "%s", sr->title ? sr->title : "");
    snprintf(ri->author, sizeof ri->author, "%s", sr->author ? sr->author : "");
    size_t o = 0;
    for (unsigned i = 0; i < sr->ntags; i++) {
        size_t l = strlen(sr->tags[i]);
        if (o + l + (o ? 1 : 0) >= sizeof ri->tags)
            break;
        o += (size_t)sprintf(ri->tags + o, "%s%s", o ? "," : "", sr->tags[i]);
    }
    snprintf(ri->file, sizeof ri->file, "%s", sr->file ? sr->file : "");
    ri->line = sr->line;
    ri->level = sr->level ? sr->level : RULE_LEVEL_MEDIUM;
    ri->logsource = lsid;
    parse_uuid(ri->id, ri->uuid, ri->title);
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
        rfail(&c, sr->line, "out of memory");
    for (unsigned i = 0; i < sr->nsel && !c.failed; i++)
        sel_off[i] = NONE32;
    for (unsigned k = 0; k < sr->ncond && !c.failed; k++) {
        const struct sigma_op *op = &sr->cond[k];
        switch (op->op) {
        case SIGMA_OP_SEL:
            if (sel_off[op->arg] == NONE32) {
                uint32_t off = L->nc;
                emit_selection(&c, &sr->sel[op->arg]);
                sel_off[op->arg] = off;
                sel_len[op->arg] = L->nc - off;
            } else {
                for (uint32_t j = 0; j < sel_len[op->arg] && !c.failed; j++)
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
            rfail(&c, sr->line, "rule too large (condition expands to more than %u operations)", MAX_RULE_CODE);
    }
    free(sel_off);
    free(sel_len);
    if (!c.failed && L->pt.n > L->max_patterns)
        rfail(&c, sr->line, "pattern limit (%u) reached", L->max_patterns);
    struct staged *st = NULL;
    if (!c.failed) {
        if (grow((void **)&L->r, &L->capr, L->nr + 1, sizeof *L->r))
            rfail(&c, sr->line, "out of memory");
        else
            st = &L->r[L->nr];
    }
    if (c.failed) {
        L->nt = t0;
        L->nc = c0;
        ptab_truncate(&L->pt, p0);
        diag_add(L->d, DIAG_ERROR, sr->file, c.err_line ? c.err_line : sr->line, what, "%s", c.err);
        return;
    }
    fill_info(&st->info, sr, c.lsid);
    st->code_off = c0;
    st->code_len = L->nc - c0;
    st->test_off = t0;
    st->test_len = L->nt - t0;
    st->depth = code_depth(L->code + c0, st->code_len);
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
/* rule files                                                           */

struct pathlist {
    char **p;
    unsigned n, cap;
};

static int pl_add(struct pathlist *pl, const char *s)
{
    if (pl->n == pl->cap) {
        unsigned cap = pl->cap ? pl->cap * 2 : 64;
        char **np = realloc(pl->p, cap * sizeof *np);
        if (!np)
            return -1;
        pl->p = np;
        pl->cap = cap;
    }
    if (!(pl->p[pl->n] = strdup(s)))
        return -1;
    pl->n++;
    return 0;
}

static bool rule_ext(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && !strcmp(name + n - 4, ".yml")) || (n > 5 && !strcmp(name + n - 5, ".yaml"));
}

static void collect(const char *path, struct pathlist *pl, const struct stat *skip, struct diag *d, int depth)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        diag_add(d, DIAG_ERROR, path, 0, "", "cannot open: %s", strerror(errno));
        return;
    }
    if (skip && st.st_dev == skip->st_dev && st.st_ino == skip->st_ino)
        return; /* the field map, when it lives among the rules */
    if (!S_ISDIR(st.st_mode)) {
        if (pl_add(pl, path))
            diag_add(d, DIAG_ERROR, path, 0, "", "out of memory");
        return;
    }
    if (depth > 32) {
        diag_add(d, DIAG_ERROR, path, 0, "", "directories nested too deeply");
        return;
    }
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        diag_add(d, DIAG_ERROR, path, 0, "", "cannot read directory: %s", strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        if (name[0] != '.') {
            char sub[4096];
            snprintf(sub, sizeof sub, "%s/%s", path, name);
            struct stat ss;
            if (stat(sub, &ss) == 0 && (S_ISDIR(ss.st_mode) || rule_ext(name)))
                collect(sub, pl, skip, d, depth + 1);
        }
        free(ents[i]);
    }
    free(ents);
}

/* ------------------------------------------------------------------ */
/* exact-value tables                                                   */

static inline uint32_t hash_lower(const char *p, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static inline bool eq_caseless(const char *a, const char *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint8_t x = (uint8_t)a[i], y = (uint8_t)b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y + 32);
        if (x != y)
            return false;
    }
    return true;
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
        memcpy(x->pool + off, u->lit, u->litlen);
        e->hash = hash_lower(u->lit, u->litlen);
        e->len = u->litlen;
        e->off = off;
        e->bit = ids[i];
        e->cased = !(u->flags & HS_FLAG_CASELESS);
        e->next = x->head[e->hash & x->mask];
        x->head[e->hash & x->mask] = i;
        off += u->litlen;
    }
    x->n = n;
    return x;
}

/* ------------------------------------------------------------------ */
/* building the set                                                     */

static void free_set(struct rule_set *rs)
{
    if (!rs)
        return;
    for (unsigned b = 0; b < rs->n_b; b++) {
        for (unsigned i = 0; i < rs->b[b].n_dbs; i++) {
            if (rs->b[b].dbs[i].db)
                hs_free_database(rs->b[b].dbs[i].db);
            xtab_free(rs->b[b].dbs[i].x);
        }
        free(rs->b[b].dbs);
        free(rs->b[b].db_of_slot);
        free(rs->b[b].always);
    }
    free(rs->b);
    free(rs->info);
    free(rs->rt);
    free(rs->code);
    free(rs->tests);
    free(rs->bit_off);
    free(rs->bit_rules);
    free(rs->ls_off);
    free(rs->ls_buckets);
    free(rs);
}

void detect_free(struct rule_set *rs) { free_set(rs); }

/* Trigger set of a rule's condition: bits such that the condition can only
 * be true when at least one of them is set.  Computed over the postfix:
 *   pattern test       {its bit}
 *   direct test, not   none (can be true with no bit set)
 *   or                 union of the operands' sets; none if any is none
 *   and                the cheapest operand's set (any one is enough); none
 *                      only if every operand is none
 * The cost of a set is the number of rule tests sharing its bits (users), so
 * a rule `user.name: x and event.outcome: failure` waits for the rare
 * user.name bit, not for the failure bit a thousand rules share.  Returns 1
 * with the set in t->bits[0..t->n), 0 when there is none, -1 out of memory. */
struct tent {
    uint32_t start, len;
    uint64_t cost;
    bool none;
};

struct trig {
    uint32_t *bits;
    uint32_t n, cap;
    struct tent *st;
    uint32_t nst, capst;
};

static int rule_trigger(struct trig *t, const struct test *tests, const uint32_t *code, uint32_t n,
                        const uint32_t *users)
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
            e->cost = 0;
            e->none = tests[arg].kind != TK_HS;
            if (!e->none) {
                if (grow((void **)&t->bits, &t->cap, t->n + 1, sizeof *t->bits))
                    return -1;
                t->bits[t->n++] = tests[arg].bit;
                e->len = 1;
                e->cost = users[tests[arg].bit];
            }
            break;
        }
        case OP_NOT: {
            struct tent *e = &t->st[t->nst - 1];
            t->n = e->start;
            e->len = 0;
            e->cost = 0;
            e->none = true;
            break;
        }
        case OP_AND:
        case OP_OR: {
            struct tent *c = &t->st[t->nst - arg], r = {c->start, 0, 0, op == OP_AND};
            if (op == OP_OR) {
                for (uint32_t k = 0; k < arg; k++) {
                    r.none |= c[k].none;
                    r.cost += c[k].cost;
                    r.len += c[k].len; /* operands' sets are contiguous */
                }
                if (r.none)
                    r.len = 0, r.cost = 0;
            } else {
                int best = -1;
                for (uint32_t k = 0; k < arg; k++)
                    if (!c[k].none &&
                        (best < 0 || c[k].cost < c[best].cost ||
                         (c[k].cost == c[best].cost && c[k].len < c[best].len)))
                        best = (int)k;
                if (best >= 0) {
                    memmove(t->bits + r.start, t->bits + c[best].start, c[best].len * sizeof *t->bits);
                    r.len = c[best].len;
                    r.cost = c[best].cost;
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

static int cmp_group(const void *a, const void *b, void *arg)
{
    const struct ptab *t = arg;
    const struct upat *x = &t->p[*(const uint32_t *)a], *y = &t->p[*(const uint32_t *)b];
    if (x->lsid != y->lsid)
        return x->lsid < y->lsid ? -1 : 1;
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/* Rejects the live rules that use pattern bad (or, when bad is NONE32, any
 * pattern of the (lsid, field) database Hyperscan refused as a whole). */
static void reject_owners(struct loader *L, uint32_t bad, uint16_t lsid, field_id f, const char *err)
{
    for (unsigned i = 0; i < L->nr; i++) {
        struct staged *s = &L->r[i];
        if (s->dead)
            continue;
        for (uint32_t t = s->test_off; t < s->test_off + s->test_len; t++) {
            const struct test *tt = &L->t[t];
            if (tt->kind != TK_HS)
                continue;
            const struct upat *u = &L->pt.p[tt->bit];
            bool hit = bad != NONE32 ? tt->bit == bad : (u->lsid == lsid && u->field == f && !u->lit);
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

/* One attempt at building every database from the live rules.  Returns 0,
 * 1 when a rule had to be rejected (the caller tries again), -1 on no
 * memory. */
static int build(struct loader *L, struct rule_set **out)
{
    *out = NULL;
    struct rule_set *rs = calloc(1, sizeof *rs);
    uint32_t *users = calloc(L->pt.n ? L->pt.n : 1, sizeof *users);
    uint32_t *ridx = calloc(L->nr ? L->nr : 1, sizeof *ridx); /* staged -> final index */
    if (!rs || !users || !ridx)
        goto oom;
    rs->lt = L->lt;
    memset(rs->field_slot, 0xff, sizeof rs->field_slot);

    /* live rules, their buckets, and which patterns they use */
    for (unsigned i = 0; i < L->nr; i++) {
        struct staged *s = &L->r[i];
        ridx[i] = NONE32;
        if (s->dead)
            continue;
        ridx[i] = rs->n_rules++;
        unsigned b;
        for (b = 0; b < rs->n_b && rs->b[b].lsid != s->info.logsource; b++)
            ;
        if (b == rs->n_b) {
            struct bucket *nb = realloc(rs->b, (rs->n_b + 1) * sizeof *nb);
            if (!nb)
                goto oom;
            rs->b = nb;
            memset(&rs->b[b], 0, sizeof rs->b[b]);
            rs->b[b].lsid = s->info.logsource;
            rs->b[b].ls = *logsource_get(L->lt, s->info.logsource);
            rs->n_b++;
        }
        for (uint32_t t = s->test_off; t < s->test_off + s->test_len; t++)
            if (L->t[t].kind == TK_HS)
                users[L->t[t].bit]++;
    }

    /* tested field slots */
    for (uint32_t p = 0; p < L->pt.n; p++) {
        field_id f = L->pt.p[p].field;
        if (users[p] && rs->field_slot[f] < 0)
            rs->field_slot[f] = (int16_t)rs->n_slots++;
    }
    for (unsigned b = 0; b < rs->n_b; b++) {
        if (!(rs->b[b].db_of_slot = malloc((rs->n_slots ? rs->n_slots : 1) * sizeof(int32_t))))
            goto oom;
        for (unsigned s = 0; s < rs->n_slots; s++)
            rs->b[b].db_of_slot[s] = -1;
    }

    /* one database and / or value table per (bucket, field); patterns in
     * index order within each (deterministic, so the hsdb cache hits) */
    uint32_t np = L->pt.n ? L->pt.n : 1;
    const char **exprs = malloc(np * sizeof *exprs);
    unsigned *flags = malloc(np * sizeof *flags);
    unsigned *ids = malloc(np * sizeof *ids);
    uint32_t *xids = malloc(np * sizeof *xids);
    uint32_t *order = malloc(np * sizeof *order);
    if (!exprs || !flags || !ids || !xids || !order) {
        free(exprs);
        free(flags);
        free(ids);
        free(xids);
        free(order);
        goto oom;
    }
    uint32_t n_live = 0;
    for (uint32_t p = 0; p < L->pt.n; p++)
        if (users[p])
            order[n_live++] = p;
    qsort_r(order, n_live, sizeof *order, cmp_group, &L->pt);
    int result = 0;
    for (uint32_t g = 0; g < n_live && result == 0;) {
        uint16_t lsid = L->pt.p[order[g]].lsid;
        field_id f = L->pt.p[order[g]].field;
        unsigned n = 0, nx = 0;
        for (; g < n_live && L->pt.p[order[g]].lsid == lsid && L->pt.p[order[g]].field == f; g++) {
            const struct upat *u = &L->pt.p[order[g]];
            if (u->lit) {
                xids[nx++] = order[g];
            } else {
                exprs[n] = u->expr;
                flags[n] = u->flags;
                ids[n] = order[g];
                n++;
            }
        }
        unsigned b;
        for (b = 0; b < rs->n_b && rs->b[b].lsid != lsid; b++)
            ;
        struct bucket *bk = &rs->b[b];
        hs_database_t *db = NULL;
        if (n) {
            char lsname[160], key[320];
            logsource_format(&bk->ls, lsname, sizeof lsname);
            snprintf(key, sizeof key, "detect/%s/%s", lsname, field_registry_name(L->reg, f));
            struct hsdb_patterns hp = {exprs, flags, ids, NULL, n};
            int failed;
            char err[256];
            if (hsdb_build(L->cache, key, &hp, &db, &failed, err, sizeof err)) {
                reject_owners(L, failed >= 0 ? ids[failed] : NONE32, lsid, f, err);
                result = 1;
                break;
            }
        }
        struct xtab *x = NULL;
        if (nx && !(x = xtab_build(&L->pt, xids, nx))) {
            if (db)
                hs_free_database(db);
            result = -1;
            break;
        }
        struct fdb *nd = realloc(bk->dbs, (bk->n_dbs + 1) * sizeof *nd);
        if (!nd) {
            if (db)
                hs_free_database(db);
            xtab_free(x);
            result = -1;
            break;
        }
        bk->dbs = nd;
        bk->dbs[bk->n_dbs].field = f;
        bk->dbs[bk->n_dbs].db = db;
        bk->dbs[bk->n_dbs].x = x;
        bk->db_of_slot[rs->field_slot[f]] = (int32_t)bk->n_dbs;
        bk->n_dbs++;
    }
    free(exprs);
    free(flags);
    free(ids);
    free(xids);
    free(order);
    if (result != 0) {
        free(users);
        free(ridx);
        free_set(rs);
        return result;
    }

    /* rules, code, tests */
    rs->n_bits = L->pt.n;
    rs->info = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *rs->info);
    rs->rt = calloc(rs->n_rules ? rs->n_rules : 1, sizeof *rs->rt);
    rs->code = malloc((L->nc ? L->nc : 1) * sizeof *rs->code);
    rs->tests = malloc((L->nt ? L->nt : 1) * sizeof *rs->tests);
    rs->bit_off = calloc(rs->n_bits + 1, sizeof *rs->bit_off);
    if (!rs->info || !rs->rt || !rs->code || !rs->tests || !rs->bit_off)
        goto oom;
    if (L->nc)
        memcpy(rs->code, L->code, L->nc * sizeof *rs->code);
    if (L->nt)
        memcpy(rs->tests, L->t, L->nt * sizeof *rs->tests);
    for (unsigned i = 0; i < L->nr; i++) {
        const struct staged *s = &L->r[i];
        if (ridx[i] == NONE32)
            continue;
        rs->info[ridx[i]] = s->info;
        rs->rt[ridx[i]].code_off = s->code_off;
        rs->rt[ridx[i]].code_len = s->code_len;
        if (s->depth > rs->max_depth)
            rs->max_depth = s->depth;
    }

    /* Candidates: each rule is registered under a trigger set of bits, such
     * that it can only be true when one of them is set (see rule_trigger);
     * a rule with none (it can be true with no bit set) is evaluated for
     * every event of its bucket. */
    struct trig tg = {0};
    uint32_t *toff = malloc((L->nr + 1) * sizeof *toff), *tlen = malloc((L->nr + 1) * sizeof *tlen);
    uint32_t *seen = malloc((rs->n_bits ? rs->n_bits : 1) * sizeof *seen), *all = NULL, nall = 0, capall = 0;
    if (!toff || !tlen || !seen) {
        free(toff), free(tlen), free(seen);
        goto oom;
    }
    memset(seen, 0xff, (rs->n_bits ? rs->n_bits : 1) * sizeof *seen);
    uint32_t total = 0;
    bool trig_oom = false;
    for (unsigned i = 0; i < L->nr && !trig_oom; i++) {
        const struct staged *s = &L->r[i];
        toff[i] = nall;
        tlen[i] = 0;
        if (ridx[i] == NONE32)
            continue;
        int r = rule_trigger(&tg, L->t, L->code + s->code_off, s->code_len, users);
        if (r < 0) {
            trig_oom = true;
            break;
        }
        if (r == 0) { /* no trigger: always evaluate in its bucket */
            unsigned b;
            for (b = 0; b < rs->n_b && rs->b[b].lsid != s->info.logsource; b++)
                ;
            uint32_t *na = realloc(rs->b[b].always, (rs->b[b].n_always + 1) * sizeof *na);
            if (!na) {
                trig_oom = true;
                break;
            }
            rs->b[b].always = na;
            na[rs->b[b].n_always++] = ridx[i];
            continue;
        }
        for (uint32_t k = 0; k < tg.n; k++) {
            uint32_t bit = tg.bits[k];
            if (seen[bit] == i)
                continue; /* once per rule */
            seen[bit] = i;
            if (grow((void **)&all, &capall, nall + 1, sizeof *all)) {
                trig_oom = true;
                break;
            }
            all[nall++] = bit;
            tlen[i]++;
            rs->bit_off[bit]++;
            total++;
        }
    }
    free(tg.bits);
    free(tg.st);
    free(seen);
    if (!trig_oom) {
        for (uint32_t b = 0, acc = 0; b <= rs->n_bits; b++) {
            uint32_t c = rs->bit_off[b];
            rs->bit_off[b] = acc;
            acc += c;
        }
        uint32_t *fill = calloc(rs->n_bits + 1, sizeof *fill);
        rs->bit_rules = malloc((total ? total : 1) * sizeof *rs->bit_rules);
        if (fill && rs->bit_rules) {
            for (unsigned i = 0; i < L->nr; i++)
                for (uint32_t k = toff[i]; k < toff[i] + tlen[i]; k++)
                    rs->bit_rules[rs->bit_off[all[k]] + fill[all[k]]++] = ridx[i];
        } else {
            trig_oom = true;
        }
        free(fill);
    }
    free(toff);
    free(tlen);
    free(all);
    if (trig_oom)
        goto oom;

    /* buckets per known log source id */
    rs->n_ls = logsource_count(L->lt);
    rs->ls_off = calloc(rs->n_ls + 1, sizeof *rs->ls_off);
    rs->ls_buckets = malloc(((size_t)rs->n_ls * rs->n_b + 1) * sizeof *rs->ls_buckets);
    if (!rs->ls_off || !rs->ls_buckets)
        goto oom;
    uint32_t k = 0;
    for (unsigned id = 0; id < rs->n_ls; id++) {
        rs->ls_off[id] = k;
        const struct logsource *ev = logsource_get(L->lt, (uint16_t)id);
        for (unsigned b = 0; b < rs->n_b; b++)
            if (logsource_applies(&rs->b[b].ls, ev))
                rs->ls_buckets[k++] = (uint16_t)b;
    }
    rs->ls_off[rs->n_ls] = k;
    free(users);
    free(ridx);
    *out = rs;
    return 0;
oom:
    free(users);
    free(ridx);
    free_set(rs);
    return -1;
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
    struct pathlist pl = {0};
    for (unsigned i = 0; i < n_paths; i++)
        collect(paths[i], &pl, skip, d, 0);

    int rc = 0;
    for (unsigned f = 0; f < pl.n; f++) {
        struct sigma_rule **rules = NULL;
        unsigned n = 0;
        if (sigma_parse_file(pl.p[f], &rules, &n, NULL, d) < 0)
            rc = -1;
        for (unsigned i = 0; i < n; i++)
            compile_rule(&L, rules[i]);
        sigma_rules_free(rules, n);
        free(pl.p[f]);
        pl.p[f] = NULL;
        if (rc)
            break;
    }
    for (unsigned f = 0; f < pl.n; f++)
        free(pl.p[f]);
    free(pl.p);

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
    for (unsigned b = 0; b < rs->n_b; b++)
        for (unsigned i = 0; i < rs->b[b].n_dbs; i++)
            if (rs->b[b].dbs[i].db && hs_alloc_scratch(rs->b[b].dbs[i].db, s) != HS_SUCCESS)
                return -1;
    return 0;
}

struct detect_state *detect_state_new(const struct rule_set *rs)
{
    struct detect_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->n_bits = rs->n_bits;
    st->n_rules = rs->n_rules;
    st->bits = calloc(rs->n_bits / 64 + 1, sizeof *st->bits);
    st->touched = malloc((rs->n_bits + 1) * sizeof *st->touched);
    st->rmark = calloc(rs->n_rules / 64 + 1, sizeof *st->rmark);
    st->cand = malloc((rs->n_rules + 1) * sizeof *st->cand);
    st->stack = malloc(rs->max_depth + 1);
    if (!st->bits || !st->touched || !st->rmark || !st->cand || !st->stack) {
        detect_state_free(st);
        return NULL;
    }
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
    free(st);
}

unsigned detect_rule_count(const struct rule_set *rs) { return rs->n_rules; }

const struct rule_info *detect_rule(const struct rule_set *rs, unsigned idx)
{
    return idx < rs->n_rules ? &rs->info[idx] : NULL;
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)from, (void)to, (void)flags;
    struct detect_state *st = ctx;
    uint64_t m = 1ull << (id & 63);
    if (!(st->bits[id >> 6] & m)) {
        st->bits[id >> 6] |= m;
        st->touched[st->n_touched++] = id;
    }
    return 0;
}

static inline void set_bit(struct detect_state *st, uint32_t id)
{
    uint64_t m = 1ull << (id & 63);
    if (!(st->bits[id >> 6] & m)) {
        st->bits[id >> 6] |= m;
        st->touched[st->n_touched++] = id;
    }
}

static void xtab_lookup(const struct xtab *x, const char *p, uint32_t len, struct detect_state *st)
{
    uint32_t h = hash_lower(p, len);
    for (uint32_t i = x->head[h & x->mask]; i != NONE32; i = x->e[i].next) {
        const struct xent *e = &x->e[i];
        if (e->hash != h || e->len != len)
            continue;
        const char *v = x->pool + e->off;
        if (e->cased ? !memcmp(v, p, len) : eq_caseless(v, p, len))
            set_bit(st, e->bit);
    }
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

static bool in_net(const struct vigil_ip *ip, const struct test *t)
{
    if (ip->family != t->net.family)
        return false;
    unsigned full = t->prefix / 8, rem = t->prefix % 8;
    if (memcmp(ip->addr, t->net.addr, full))
        return false;
    if (rem) {
        uint8_t mask = (uint8_t)(0xff00u >> rem);
        if ((ip->addr[full] & mask) != (t->net.addr[full] & mask))
            return false;
    }
    return true;
}

static bool direct_test(const struct test *t, const struct event_fields *ef)
{
    bool present = false, empty = false;
    for (unsigned i = 0; i < ef->n; i++) {
        const struct field_value *f = &ef->f[i];
        if (f->id != t->field)
            continue;
        present = true;
        switch (t->kind) {
        case TK_NUM: {
            double v;
            if (f->type == FIELD_INT)
                v = (double)f->v.i;
            else if (f->type != FIELD_STR || !f->v.s.ptr || !str_number(f->v.s.ptr, f->v.s.len, &v))
                break;
            bool r = t->cmp == CMP_GT ? v > t->num : t->cmp == CMP_GTE ? v >= t->num : t->cmp == CMP_LT ? v < t->num
                                                                                                            : v <= t->num;
            if (r)
                return true;
            break;
        }
        case TK_CIDR: {
            struct vigil_ip ip;
            if (f->type == FIELD_IP) {
                if (in_net(&f->v.ip, t))
                    return true;
            } else if (f->type == FIELD_STR && f->v.s.ptr && field_parse_ip(f->v.s.ptr, f->v.s.len, &ip)) {
                if (in_net(&ip, t))
                    return true;
            }
            break;
        }
        default:
            if (f->type == FIELD_STR && f->v.s.len == 0)
                empty = true;
            break;
        }
    }
    switch (t->kind) {
    case TK_NULL:
        return !present || empty;
    case TK_EXISTS:
        return present;
    case TK_ABSENT:
        return !present;
    case TK_EMPTY:
        return empty;
    default:
        return false;
    }
}

static bool eval_rule(const struct rule_set *rs, const struct detect_state *st, const struct event_fields *ef,
                      uint32_t r)
{
    const uint32_t *code = rs->code + rs->rt[r].code_off;
    uint32_t n = rs->rt[r].code_len;
    uint8_t *stk = st->stack;
    unsigned sp = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t op = code[i] >> 24, arg = code[i] & 0xffffff;
        switch (op) {
        case OP_TEST: {
            const struct test *t = &rs->tests[arg];
            stk[sp++] = t->kind == TK_HS ? (uint8_t)((st->bits[t->bit >> 6] >> (t->bit & 63)) & 1)
                                         : (uint8_t)direct_test(t, ef);
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

static inline void mark(struct detect_state *st, uint32_t r)
{
    uint64_t m = 1ull << (r & 63);
    if (!(st->rmark[r >> 6] & m)) {
        st->rmark[r >> 6] |= m;
        st->cand[st->n_cand++] = r;
    }
}

static int scan_bucket(const struct rule_set *rs, const struct bucket *b, hs_scratch_t *s, struct detect_state *st,
                       const struct event_fields *ef)
{
    for (unsigned a = 0; a < b->n_always; a++)
        mark(st, b->always[a]);
    if (!b->n_dbs)
        return 0;
    for (unsigned i = 0; i < ef->n; i++) {
        const struct field_value *f = &ef->f[i];
        if (f->id >= FIELD_REGISTRY_MAX)
            continue;
        int slot = rs->field_slot[f->id];
        if (slot < 0)
            continue;
        int d = b->db_of_slot[slot];
        if (d < 0)
            continue;
        char buf[64];
        const char *p;
        uint32_t len;
        if (!value_text(f, buf, &p, &len) || len == 0)
            continue;
        const struct fdb *fd = &b->dbs[d];
        if (fd->x)
            xtab_lookup(fd->x, p, len, st);
        if (fd->db && hs_scan(fd->db, p, len, 0, s, on_match, st) != HS_SUCCESS)
            return -1;
    }
    return 0;
}

static void clear_state(struct detect_state *st)
{
    for (uint32_t i = 0; i < st->n_touched; i++)
        st->bits[st->touched[i] >> 6] = 0;
    for (uint32_t i = 0; i < st->n_cand; i++)
        st->rmark[st->cand[i] >> 6] = 0;
    st->n_touched = 0;
    st->n_cand = 0;
}

int detect_eval(const struct rule_set *rs, hs_scratch_t *s, struct detect_state *st, const struct event_fields *ef,
                uint32_t *out, unsigned max)
{
    int rc = 0;
    if (ef->logsource < rs->n_ls) {
        for (uint32_t k = rs->ls_off[ef->logsource]; k < rs->ls_off[ef->logsource + 1] && rc == 0; k++)
            rc = scan_bucket(rs, &rs->b[rs->ls_buckets[k]], s, st, ef);
    } else {
        /* a log source interned after the rules were loaded */
        const struct logsource *ev = logsource_get(rs->lt, ef->logsource);
        for (unsigned b = 0; b < rs->n_b && rc == 0; b++)
            if (logsource_applies(&rs->b[b].ls, ev))
                rc = scan_bucket(rs, &rs->b[b], s, st, ef);
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
    /* rule order */
    uint32_t n = st->n_cand;
    if (n <= 32) {
        for (uint32_t i = 1; i < n; i++) {
            uint32_t v = st->cand[i], j = i;
            for (; j > 0 && st->cand[j - 1] > v; j--)
                st->cand[j] = st->cand[j - 1];
            st->cand[j] = v;
        }
    } else {
        uint32_t k = 0;
        for (uint32_t w = 0; w <= rs->n_rules / 64; w++)
            for (uint64_t m = st->rmark[w]; m; m &= m - 1)
                st->cand[k++] = w * 64 + (uint32_t)__builtin_ctzll(m);
    }
    int matched = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = st->cand[i];
        if (eval_rule(rs, st, ef, r)) {
            if ((unsigned)matched < max)
                out[matched] = r;
            matched++;
        }
    }
    clear_state(st);
    return matched;
}
