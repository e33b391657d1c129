#include "engine/sigma.h"

#include "engine/source.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hs/hs.h>
#include <yaml.h>

#include "engine/fields.h"
#include "engine/yaml_doc.h"

/* ------------------------------------------------------------------ */
/* small helpers                                                        */

/* A strict decimal number: [-+]digits[.digits][e[-+]digits]. */
static bool parse_number(const char *s, size_t n, double *out)
{
    size_t i = 0;
    bool digits = false;
    if (n == 0 || n > 63)
        return false;
    if (s[i] == '-' || s[i] == '+')
        i++;
    while (i < n && isdigit((unsigned char)s[i]))
        i++, digits = true;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && isdigit((unsigned char)s[i]))
            i++, digits = true;
    }
    if (!digits)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        if (i >= n || !isdigit((unsigned char)s[i]))
            return false;
        while (i < n && isdigit((unsigned char)s[i]))
            i++;
    }
    if (i != n)
        return false;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    double v = strtod(buf, NULL);
    if (errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

bool sigma_parse_cidr(const char *s, struct vigil_ip *net, uint8_t *prefix)
{
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (!field_parse_ip(s, (uint32_t)alen, net))
        return false;
    unsigned max = net->family == 4 ? 32 : 128, p = max;
    if (slash) {
        const char *q = slash + 1;
        if (!*q || strlen(q) > 3)
            return false;
        p = 0;
        for (; *q; q++) {
            if (!isdigit((unsigned char)*q))
                return false;
            p = p * 10 + (unsigned)(*q - '0');
        }
        if (p > max)
            return false;
    }
    /* keep the network part only: "10.1.2.3/8" is 10.0.0.0/8 */
    for (unsigned bit = p; bit < max; bit++)
        net->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    *prefix = (uint8_t)p;
    return true;
}

static const struct {
    const char *name;
    unsigned bit;
} mod_names[] = {
    {"contains", SIGMA_MOD_CONTAINS}, {"startswith", SIGMA_MOD_STARTSWITH}, {"endswith", SIGMA_MOD_ENDSWITH},
    {"all", SIGMA_MOD_ALL},           {"re", SIGMA_MOD_RE},                 {"cidr", SIGMA_MOD_CIDR},
    {"gt", SIGMA_MOD_GT},             {"gte", SIGMA_MOD_GTE},               {"lt", SIGMA_MOD_LT},
    {"lte", SIGMA_MOD_LTE},           {"exists", SIGMA_MOD_EXISTS},         {"cased", SIGMA_MOD_CASED},
};

/* Modifiers Sigma defines that Vigil does not implement. */
static const char *const unsupported_mods[] = {
    "base64", "base64offset", "utf16le", "utf16be", "utf16", "wide", "windash", "expand", "fieldref",
    "minute", "hour",         "day",     "week",    "month", "year", "neq",  "not",
};

const char *sigma_mod_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof mod_names / sizeof mod_names[0]; i++)
        if (mod_names[i].bit == bit)
            return mod_names[i].name;
    if (bit == SIGMA_MOD_RE_I)
        return "re|i";
    if (bit == SIGMA_MOD_RE_M)
        return "re|m";
    if (bit == SIGMA_MOD_RE_S)
        return "re|s";
    return "?";
}

/* ------------------------------------------------------------------ */
/* freeing                                                              */

static void free_selection(struct sigma_selection *s)
{
    for (unsigned m = 0; m < s->n; m++) {
        struct sigma_map *map = &s->maps[m];
        for (unsigned i = 0; i < map->n; i++) {
            struct sigma_item *it = &map->items[i];
            for (unsigned v = 0; v < it->nv; v++)
                free(it->v[v].raw);
            free(it->v);
            free(it->field);
        }
        free(map->items);
    }
    free(s->maps);
    free(s->name);
}

void sigma_rule_free(struct sigma_rule *r)
{
    if (!r)
        return;
    free(r->title);
    free(r->id);
    free(r->name);
    free(r->status);
    free(r->author);
    free(r->level_text);
    for (unsigned i = 0; i < r->ntags; i++)
        free(r->tags[i]);
    free(r->tags);
    for (unsigned i = 0; i < r->nsel; i++)
        free_selection(&r->sel[i]);
    free(r->sel);
    free(r->cond);
    free(r->file);
    free(r);
}

void sigma_rules_free(struct sigma_rule **rules, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sigma_rule_free(rules[i]);
    free(rules);
}

/* ------------------------------------------------------------------ */
/* condition parser                                                     */

struct cparse {
    const char *s;
    size_t pos;
    const struct sigma_selection *sel;
    unsigned nsel;
    struct sigma_op *ops;
    unsigned n, cap;
    unsigned nest;
    char *err;
    size_t errlen;
    bool failed;
    /* current token */
    int tok;            /* 0 end, '(' ')' or 'w' (word) */
    const char *w;
    size_t wlen;
    size_t tokpos;
};

static void cerr(struct cparse *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cerr(struct cparse *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
}

static void cnext(struct cparse *c)
{
    while (c->s[c->pos] && isspace((unsigned char)c->s[c->pos]))
        c->pos++;
    c->tokpos = c->pos;
    char ch = c->s[c->pos];
    if (!ch) {
        c->tok = 0;
        return;
    }
    if (ch == '(' || ch == ')') {
        c->tok = ch;
        c->pos++;
        return;
    }
    if (ch == '|') {
        cerr(c, "aggregation expression ('|' in condition) is not supported: use a correlation rule");
        c->tok = 0;
        return;
    }
    c->tok = 'w';
    c->w = c->s + c->pos;
    while (c->s[c->pos] && !isspace((unsigned char)c->s[c->pos]) && c->s[c->pos] != '(' && c->s[c->pos] != ')' &&
           c->s[c->pos] != '|')
        c->pos++;
    c->wlen = (size_t)(c->s + c->pos - c->w);
}

static bool word_is(const struct cparse *c, const char *kw)
{
    return c->tok == 'w' && c->wlen == strlen(kw) && !strncasecmp(c->w, kw, c->wlen);
}

static void emit(struct cparse *c, uint8_t op, uint32_t arg)
{
    if (c->failed)
        return;
    if (c->n >= SIGMA_COND_MAX_OPS) {
        cerr(c, "condition too large (more than %u operations)", SIGMA_COND_MAX_OPS);
        return;
    }
    if (c->n == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 16;
        struct sigma_op *o = realloc(c->ops, cap * sizeof *o);
        if (!o) {
            cerr(c, "out of memory");
            return;
        }
        c->ops = o;
        c->cap = cap;
    }
    c->ops[c->n].op = op;
    c->ops[c->n].arg = arg;
    c->n++;
}

/* Glob with '*' (any run) and '?' (one char), case-sensitive like names. */
static bool glob(const char *p, size_t pn, const char *s)
{
    size_t pi = 0, si = 0, star = (size_t)-1, mark = 0;
    size_t sn = strlen(s);
    while (si < sn) {
        if (pi < pn && (p[pi] == '?' || p[pi] == s[si])) {
            pi++, si++;
        } else if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

static bool is_keyword(const struct cparse *c)
{
    return word_is(c, "and") || word_is(c, "or") || word_is(c, "not") || word_is(c, "of") || word_is(c, "them");
}

static void c_or(struct cparse *c);

static void c_primary(struct cparse *c)
{
    if (c->failed)
        return;
    if (c->tok == '(') {
        if (++c->nest > SIGMA_COND_MAX_NEST) {
            cerr(c, "condition nested too deeply (more than %d levels)", SIGMA_COND_MAX_NEST);
            return;
        }
        cnext(c);
        c_or(c);
        if (c->failed)
            return;
        if (c->tok != ')') {
            cerr(c, "condition: missing ')' at column %zu", c->tokpos + 1);
            return;
        }
        c->nest--;
        cnext(c);
        return;
    }
    if (c->tok == ')') {
        cerr(c, "condition: unexpected ')' at column %zu", c->tokpos + 1);
        return;
    }
    if (c->tok == 0) {
        cerr(c, "condition: unexpected end");
        return;
    }
    /* quantifier: 1 of / any of / all of / N of */
    const char *w = c->w;
    size_t wl = c->wlen, wpos = c->tokpos;
    bool all = word_is(c, "all"), one = word_is(c, "1") || word_is(c, "any");
    bool num = wl > 0 && strspn(w, "0123456789") >= wl;
    size_t save = c->pos;
    if (all || one || num) {
        cnext(c);
        if (c->failed)
            return;
        if (!word_is(c, "of")) {
            if (all || num) {
                if (all)
                    cerr(c, "condition: 'all' must be followed by 'of' (column %zu)", wpos + 1);
                else
                    goto ident_restore;
                return;
            }
            goto ident_restore; /* "any" / "1" used as a selection name */
        }
        if (num && !one) {
            cerr(c, "'%.*s of' is not supported (only '1 of', 'any of' and 'all of')", (int)wl, w);
            return;
        }
        cnext(c);
        if (c->failed)
            return;
        if (c->tok != 'w' || (is_keyword(c) && !word_is(c, "them"))) {
            cerr(c, "condition: '%s of' needs a selection pattern or 'them' (column %zu)", all ? "all" : "1",
                 c->tokpos + 1);
            return;
        }
        bool them = word_is(c, "them");
        unsigned k = 0;
        for (unsigned i = 0; i < c->nsel && !c->failed; i++) {
            bool m = them ? c->sel[i].name[0] != '_' : glob(c->w, c->wlen, c->sel[i].name);
            if (m) {
                emit(c, SIGMA_OP_SEL, i);
                k++;
            }
        }
        if (c->failed)
            return;
        if (k == 0) {
            cerr(c, "condition: '%s of %.*s' matches no selection", all ? "all" : "1", (int)c->wlen, c->w);
            return;
        }
        if (k > 1)
            emit(c, all ? SIGMA_OP_AND : SIGMA_OP_OR, k);
        cnext(c);
        return;
    ident_restore:
        c->pos = save;
        c->tok = 'w';
        c->w = w;
        c->wlen = wl;
        c->tokpos = wpos;
    }
    if (is_keyword(c)) {
        cerr(c, "condition: unexpected '%.*s' at column %zu", (int)c->wlen, c->w, c->tokpos + 1);
        return;
    }
    if (word_is(c, "near")) {
        cerr(c, "'near' in condition is not supported: use a correlation rule");
        return;
    }
    for (unsigned i = 0; i < c->nsel; i++)
        if (strlen(c->sel[i].name) == c->wlen && !memcmp(c->sel[i].name, c->w, c->wlen)) {
            emit(c, SIGMA_OP_SEL, i);
            cnext(c);
            return;
        }
    if (memchr(c->w, '*', c->wlen))
        cerr(c, "condition: wildcard '%.*s' outside '1 of' / 'all of'", (int)c->wlen, c->w);
    else
        cerr(c, "condition references undefined selection '%.*s'", (int)c->wlen, c->w);
}

static void c_not(struct cparse *c)
{
    if (c->failed)
        return;
    if (word_is(c, "not")) {
        if (++c->nest > SIGMA_COND_MAX_NEST) {
            cerr(c, "condition nested too deeply (more than %d levels)", SIGMA_COND_MAX_NEST);
            return;
        }
        cnext(c);
        c_not(c);
        emit(c, SIGMA_OP_NOT, 0);
        c->nest--;
        return;
    }
    c_primary(c);
}

static void c_and(struct cparse *c)
{
    unsigned k = 1;
    c_not(c);
    while (!c->failed && word_is(c, "and")) {
        cnext(c);
        c_not(c);
        k++;
    }
    if (k > 1)
        emit(c, SIGMA_OP_AND, k);
}

static void c_or(struct cparse *c)
{
    unsigned k = 1;
    c_and(c);
    while (!c->failed && word_is(c, "or")) {
        cnext(c);
        c_and(c);
        k++;
    }
    if (k > 1)
        emit(c, SIGMA_OP_OR, k);
}

int sigma_condition_parse(const char *text, const struct sigma_selection *sel, unsigned nsel,
                          struct sigma_op **ops, unsigned *n, unsigned *depth, char *err, size_t errlen)
{
    struct cparse c = {.s = text, .sel = sel, .nsel = nsel, .err = err, .errlen = errlen};
    *ops = NULL;
    *n = 0;
    *depth = 0;
    if (errlen)
        err[0] = '\0';
    cnext(&c);
    if (!c.failed && c.tok == 0)
        cerr(&c, "empty condition");
    c_or(&c);
    if (!c.failed && c.tok != 0) {
        if (c.tok == ')')
            cerr(&c, "condition: unexpected ')' at column %zu", c.tokpos + 1);
        else
            cerr(&c, "condition: unexpected '%.*s' at column %zu", (int)c.wlen, c.w, c.tokpos + 1);
    }
    if (c.failed) {
        free(c.ops);
        return -1;
    }
    /* stack depth, and a sanity check of the postfix */
    unsigned sp = 0, max = 0;
    for (unsigned i = 0; i < c.n; i++) {
        switch (c.ops[i].op) {
        case SIGMA_OP_SEL:
            sp++;
            break;
        case SIGMA_OP_NOT:
            break;
        default:
            sp -= c.ops[i].arg - 1;
            break;
        }
        if (sp > max)
            max = sp;
    }
    *ops = c.ops;
    *n = c.n;
    *depth = max;
    return 0;
}

/* ------------------------------------------------------------------ */
/* value patterns                                                       */

enum { TOK_LIT, TOK_STAR, TOK_QMARK };

int sigma_value_pattern(unsigned mods, const struct sigma_value *v, enum sigma_pattern_kind *kind, char **expr,
                        unsigned *flags, char *err, size_t errlen)
{
    *expr = NULL;
    *flags = 0;
    if (v->type == SIGMA_V_NULL) {
        snprintf(err, errlen, "null value cannot be a pattern");
        return -1;
    }
    if (mods & SIGMA_MOD_RE) {
        if (v->len == 0) {
            snprintf(err, errlen, "empty regular expression");
            return -1;
        }
        if (memchr(v->raw, '\0', v->len)) {
            snprintf(err, errlen, "regular expression holds a NUL byte");
            return -1;
        }
        if (!(*expr = yaml_doc_copy(v->raw, v->len))) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        *flags = HS_FLAG_SINGLEMATCH | ((mods & SIGMA_MOD_RE_I) ? HS_FLAG_CASELESS : 0) |
                 ((mods & SIGMA_MOD_RE_M) ? HS_FLAG_MULTILINE : 0) | ((mods & SIGMA_MOD_RE_S) ? HS_FLAG_DOTALL : 0);
        *kind = SIGMA_PAT_HS;
        return 0;
    }
    const char *text = v->raw;
    size_t len = v->len;
    bool wild = v->type == SIGMA_V_STR;
    if (v->type == SIGMA_V_BOOL) {
        text = v->b ? "true" : "false";
        len = strlen(text);
    }
    /* tokens: one per literal byte or wildcard */
    uint8_t *tk = malloc(len + 1);
    char *lit = malloc(len + 1);
    if (!tk || !lit) {
        free(tk);
        free(lit);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = text[i];
        if (wild && ch == '\\' && i + 1 < len && (text[i + 1] == '*' || text[i + 1] == '?' || text[i + 1] == '\\')) {
            tk[n] = TOK_LIT;
            lit[n++] = text[++i];
        } else if (wild && ch == '*') {
            if (n > 0 && tk[n - 1] == TOK_STAR)
                continue;   /* ** is * */
            tk[n++] = TOK_STAR;
        } else if (wild && ch == '?') {
            tk[n++] = TOK_QMARK;
        } else {
            tk[n] = TOK_LIT;
            lit[n++] = ch;
        }
    }
    size_t lo = 0, hi = n;
    bool lead = false, trail = false;
    if (lo < hi && tk[lo] == TOK_STAR)
        lo++, lead = true;
    if (hi > lo && tk[hi - 1] == TOK_STAR)
        hi--, trail = true;
    bool contains = mods & SIGMA_MOD_CONTAINS, sw = mods & SIGMA_MOD_STARTSWITH, ew = mods & SIGMA_MOD_ENDSWITH;
    bool exact = !contains && !sw && !ew;
    if (lo == hi) {
        free(tk);
        free(lit);
        if (lead || trail || !exact)
            *kind = SIGMA_PAT_ANY;    /* "*", or contains/startswith/endswith "" */
        else
            *kind = SIGMA_PAT_EMPTY;  /* exactly "" */
        return 0;
    }
    bool a_start = !lead && (exact || sw), a_end = !trail && (exact || ew);
    char *out = malloc(4 * (hi - lo) + 8), *o = out;
    if (!out) {
        free(tk);
        free(lit);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (a_start)
        *o++ = '^';
    for (size_t i = lo; i < hi; i++) {
        if (tk[i] == TOK_STAR) {
            *o++ = '.';
            *o++ = '*';
        } else if (tk[i] == TOK_QMARK) {
            *o++ = '.';
        } else if (isalnum((unsigned char)lit[i])) {
            *o++ = lit[i];
        } else {
            o += sprintf(o, "\\x%02x", (unsigned char)lit[i]);
        }
    }
    if (a_end) {
        *o++ = '\\';
        *o++ = 'z';
    }
    *o = '\0';
    free(tk);
    free(lit);
    *expr = out;
    *flags = HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL | ((mods & SIGMA_MOD_CASED) ? 0 : HS_FLAG_CASELESS);
    *kind = SIGMA_PAT_HS;
    return 0;
}

bool sigma_value_literal(unsigned mods, const struct sigma_value *v, char **lit, uint32_t *len)
{
    *lit = NULL;
    *len = 0;
    if (mods & ~(SIGMA_MOD_CASED | SIGMA_MOD_ALL))
        return false;
    const char *text = v->raw;
    size_t n = v->len;
    if (v->type == SIGMA_V_BOOL) {
        text = v->b ? "true" : "false";
        n = strlen(text);
    } else if (v->type != SIGMA_V_STR && v->type != SIGMA_V_NUM) {
        return false;
    }
    char *out = malloc(n + 1);
    if (!out)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = text[i];
        if (v->type == SIGMA_V_STR) {
            if (ch == '\\' && i + 1 < n && (text[i + 1] == '*' || text[i + 1] == '?' || text[i + 1] == '\\')) {
                out[o++] = text[++i];
                continue;
            }
            if (ch == '*' || ch == '?') {
                free(out);
                return false;
            }
        }
        out[o++] = ch;
    }
    if (o == 0) {
        free(out);
        return false;
    }
    out[o] = '\0';
    *lit = out;
    *len = (uint32_t)o;
    return true;
}

/* ------------------------------------------------------------------ */
/* YAML to rule                                                         */

/* One document being parsed: the document and its first error (yaml_doc.h),
 * and the rule's size so far. */
struct pctx {
    struct yaml_doc y;
    struct diag *d;
    unsigned nvalues;
};

static bool plain(const yaml_node_t *n) { return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE; }

static bool is_null_scalar(const yaml_node_t *n)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    if (!v || !plain(n))
        return false;
    return len == 0 || (len == 1 && v[0] == '~') || (len == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) ||
                                                                   !memcmp(v, "NULL", 4)));
}

/* A scalar string field of the rule (title, id, ...); NULL when absent. */
static char *str_field(struct pctx *c, const yaml_node_t *root, const char *key, bool required)
{
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, key);
    if (!n) {
        if (required)
            yaml_doc_fail(&c->y, root, "missing '%s'", key);
        return NULL;
    }
    return yaml_doc_str(&c->y, n, key);
}

static int parse_value(struct pctx *c, const yaml_node_t *n, struct sigma_value *v)
{
    size_t len;
    const char *s = yaml_doc_scalar(n, &len);
    memset(v, 0, sizeof *v);
    v->line = yaml_doc_line(n);
    if (!s) {
        yaml_doc_fail(&c->y, n, "a value must be a string, number, boolean or null (nested %s)",
                      n->type == YAML_MAPPING_NODE ? "map" : "list");
        return -1;
    }
    if (++c->nvalues > SIGMA_RULE_MAX_VALUES) {
        yaml_doc_fail(&c->y, n, "rule too large (more than %u values)", SIGMA_RULE_MAX_VALUES);
        return -1;
    }
    if (!(v->raw = yaml_doc_copy(s, len))) {
        yaml_doc_oom(&c->y, n);
        return -1;
    }
    v->len = (uint32_t)len;
    v->type = SIGMA_V_STR;
    if (plain(n)) {
        if (is_null_scalar(n)) {
            v->type = SIGMA_V_NULL;
        } else if ((len == 4 && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")))) {
            v->type = SIGMA_V_BOOL;
            v->b = true;
        } else if ((len == 5 && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")))) {
            v->type = SIGMA_V_BOOL;
            v->b = false;
        } else if (parse_number(s, len, &v->num)) {
            v->type = SIGMA_V_NUM;
            v->num_ok = true;
        }
    } else {
        v->num_ok = parse_number(s, len, &v->num);
    }
    return 0;
}

static int parse_mods(struct pctx *c, const yaml_node_t *kn, const char *key, size_t klen, struct sigma_item *it)
{
    const char *bar = memchr(key, '|', klen);
    size_t flen = bar ? (size_t)(bar - key) : klen;
    if (!(it->field = yaml_doc_copy(key, flen))) {
        yaml_doc_oom(&c->y, kn);
        return -1;
    }
    if (memchr(it->field, '\0', flen)) {
        yaml_doc_fail(&c->y, kn, "field name holds a NUL byte");
        return -1;
    }
    unsigned types = 0;
    const char *first_type = NULL;
    const char *p = bar, *end = key + klen;
    while (p && p < end) {
        p++; /* skip '|' */
        const char *q = memchr(p, '|', (size_t)(end - p));
        size_t ml = q ? (size_t)(q - p) : (size_t)(end - p);
        char m[32];
        if (ml == 0) {
            yaml_doc_fail(&c->y, kn, "empty modifier in '%.*s'", (int)klen, key);
            return -1;
        }
        if (ml >= sizeof m) {
            yaml_doc_fail(&c->y, kn, "unknown modifier '%.*s'", (int)ml, p);
            return -1;
        }
        memcpy(m, p, ml);
        m[ml] = '\0';
        unsigned bit = 0;
        for (size_t i = 0; i < sizeof mod_names / sizeof mod_names[0]; i++)
            if (!strcmp(m, mod_names[i].name))
                bit = mod_names[i].bit;
        if (!bit && (it->mods & SIGMA_MOD_RE) && (!strcmp(m, "i") || !strcmp(m, "m") || !strcmp(m, "s")))
            bit = m[0] == 'i' ? SIGMA_MOD_RE_I : m[0] == 'm' ? SIGMA_MOD_RE_M : SIGMA_MOD_RE_S;
        if (!bit) {
            for (size_t i = 0; i < sizeof unsupported_mods / sizeof unsupported_mods[0]; i++)
                if (!strcmp(m, unsupported_mods[i])) {
                    yaml_doc_fail(&c->y, kn, "unsupported modifier '%s' (field '%s')", m, it->field);
                    return -1;
                }
            if (!strcmp(m, "i") || !strcmp(m, "m") || !strcmp(m, "s"))
                yaml_doc_fail(&c->y, kn, "modifier '%s' is only valid after 're' (field '%s')", m, it->field);
            else
                yaml_doc_fail(&c->y, kn, "unknown modifier '%s' (field '%s')", m, it->field);
            return -1;
        }
        const unsigned type_bits = SIGMA_MOD_CONTAINS | SIGMA_MOD_STARTSWITH | SIGMA_MOD_ENDSWITH | SIGMA_MOD_RE |
                                   SIGMA_MOD_CIDR | SIGMA_MOD_NUMERIC | SIGMA_MOD_EXISTS;
        if (bit & type_bits) {
            if (types) {
                yaml_doc_fail(&c->y, kn, "conflicting modifiers '%s' and '%s' (field '%s')", first_type, m, it->field);
                return -1;
            }
            types |= bit;
            first_type = sigma_mod_name(bit);
        }
        if (it->mods & bit) {
            yaml_doc_fail(&c->y, kn, "modifier '%s' repeated (field '%s')", m, it->field);
            return -1;
        }
        it->mods |= bit;
        p = q;
    }
    return 0;
}

/* Checks and prepares each value against the item's modifiers. */
static int check_values(struct pctx *c, const yaml_node_t *n, struct sigma_item *it)
{
    for (unsigned i = 0; i < it->nv; i++) {
        struct sigma_value *v = &it->v[i];
        const char *f = it->field[0] ? it->field : "(keywords)";
        if (v->type == SIGMA_V_NULL && (it->mods & ~SIGMA_MOD_ALL)) {
            yaml_doc_fail(&c->y, n, "null value with a modifier (field '%s')", f);
            return -1;
        }
        if (it->mods & SIGMA_MOD_EXISTS) {
            if (v->type != SIGMA_V_BOOL) {
                yaml_doc_fail(&c->y, n, "modifier 'exists' needs true or false (field '%s')", f);
                return -1;
            }
        } else if (it->mods & SIGMA_MOD_NUMERIC) {
            if (!v->num_ok) {
                yaml_doc_fail(&c->y, n, "modifier '%s' needs a number, not '%s' (field '%s')",
                              sigma_mod_name(it->mods & SIGMA_MOD_NUMERIC), v->raw, f);
                return -1;
            }
        } else if (it->mods & SIGMA_MOD_CIDR) {
            if (v->type == SIGMA_V_BOOL || memchr(v->raw, '\0', v->len) ||
                !sigma_parse_cidr(v->raw, &v->net, &v->prefix)) {
                yaml_doc_fail(&c->y, n, "modifier 'cidr': invalid network '%s' (field '%s')", v->raw, f);
                return -1;
            }
        } else if (it->mods & SIGMA_MOD_RE) {
            if (v->type == SIGMA_V_BOOL || v->len == 0) {
                yaml_doc_fail(&c->y, n, "modifier 're' needs a non-empty regular expression (field '%s')", f);
                return -1;
            }
        }
    }
    return 0;
}

static int parse_item(struct pctx *c, const yaml_node_t *kn, const yaml_node_t *vn, struct sigma_item *it)
{
    size_t klen;
    const char *key = yaml_doc_scalar(kn, &klen);
    memset(it, 0, sizeof *it);
    it->line = yaml_doc_line(kn);
    if (!key) {
        yaml_doc_fail(&c->y, kn, "a selection key must be a field name");
        return -1;
    }
    if (parse_mods(c, kn, key, klen, it))
        return -1;
    if (!it->field[0] && !(it->mods & (SIGMA_MOD_CONTAINS | SIGMA_MOD_STARTSWITH | SIGMA_MOD_ENDSWITH |
                                       SIGMA_MOD_RE | SIGMA_MOD_CIDR | SIGMA_MOD_NUMERIC | SIGMA_MOD_EXISTS)))
        it->mods |= SIGMA_MOD_CONTAINS; /* keywords match anywhere in the message */
    if (vn->type == YAML_SEQUENCE_NODE) {
        size_t cnt = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
        if (cnt == 0) {
            yaml_doc_fail(&c->y, vn, "empty value list (field '%s')", it->field);
            return -1;
        }
        if (cnt > SIGMA_RULE_MAX_VALUES) {
            yaml_doc_fail(&c->y, vn, "rule too large (more than %u values)", SIGMA_RULE_MAX_VALUES);
            return -1;
        }
        if (!(it->v = calloc(cnt, sizeof *it->v))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        for (yaml_node_item_t *p = vn->data.sequence.items.start; p < vn->data.sequence.items.top; p++) {
            if (parse_value(c, yaml_doc_node(&c->y, *p), &it->v[it->nv]))
                return -1;
            it->nv++;
        }
    } else {
        if (!(it->v = calloc(1, sizeof *it->v))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        if (parse_value(c, vn, &it->v[0]))
            return -1;
        it->nv = 1;
    }
    return check_values(c, vn, it);
}

static int parse_map(struct pctx *c, const yaml_node_t *mn, struct sigma_map *m)
{
    size_t cnt = (size_t)(mn->data.mapping.pairs.top - mn->data.mapping.pairs.start);
    m->line = yaml_doc_line(mn);
    if (cnt == 0) {
        yaml_doc_fail(&c->y, mn, "empty map in selection");
        return -1;
    }
    if (!(m->items = calloc(cnt, sizeof *m->items))) {
        yaml_doc_oom(&c->y, mn);
        return -1;
    }
    for (yaml_node_pair_t *p = mn->data.mapping.pairs.start; p < mn->data.mapping.pairs.top; p++) {
        int rc = parse_item(c, yaml_doc_node(&c->y, p->key), yaml_doc_node(&c->y, p->value), &m->items[m->n]);
        m->n++; /* counted even on error, so it is freed */
        if (rc)
            return -1;
    }
    return 0;
}

static int parse_selection(struct pctx *c, const yaml_node_t *kn, const yaml_node_t *vn, struct sigma_selection *s)
{
    size_t nl;
    const char *name = yaml_doc_scalar(kn, &nl);
    s->line = yaml_doc_line(kn);
    if (!name || nl == 0 || memchr(name, '\0', nl)) {
        yaml_doc_fail(&c->y, kn, "a selection needs a name");
        return -1;
    }
    if (!(s->name = yaml_doc_copy(name, nl))) {
        yaml_doc_oom(&c->y, kn);
        return -1;
    }
    for (const char *p = s->name; *p; p++)
        if (isspace((unsigned char)*p) || *p == '(' || *p == ')' || *p == '|' || *p == '*') {
            yaml_doc_fail(&c->y, kn,
                          "selection name '%s' cannot be used in a condition (space, parenthesis, '|' or '*')",
                          s->name);
            return -1;
        }
    if (vn->type == YAML_MAPPING_NODE) {
        if (!(s->maps = calloc(1, sizeof *s->maps))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        s->n = 1;
        return parse_map(c, vn, &s->maps[0]);
    }
    if (vn->type == YAML_SCALAR_NODE) {
        if (is_null_scalar(vn)) {
            yaml_doc_fail(&c->y, vn, "empty selection '%s'", s->name);
            return -1;
        }
        /* a single keyword */
        if (!(s->maps = calloc(1, sizeof *s->maps)) || !(s->maps[0].items = calloc(1, sizeof(struct sigma_item)))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        s->n = 1;
        s->keywords = true;
        struct sigma_item *it = s->maps[0].items;
        s->maps[0].n = 1;
        it->line = yaml_doc_line(vn);
        it->mods = SIGMA_MOD_CONTAINS;
        if (!(it->field = yaml_doc_copy("", 0)) || !(it->v = calloc(1, sizeof *it->v))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        if (parse_value(c, vn, &it->v[0]))
            return -1;
        it->nv = 1;
        return check_values(c, vn, it);
    }
    /* sequence: all maps (ORed) or all values (keywords) */
    size_t cnt = (size_t)(vn->data.sequence.items.top - vn->data.sequence.items.start);
    if (cnt == 0) {
        yaml_doc_fail(&c->y, vn, "empty selection '%s'", s->name);
        return -1;
    }
    unsigned maps = 0, scalars = 0;
    for (yaml_node_item_t *p = vn->data.sequence.items.start; p < vn->data.sequence.items.top; p++) {
        yaml_node_t *e = yaml_doc_node(&c->y, *p);
        if (e->type == YAML_MAPPING_NODE)
            maps++;
        else if (e->type == YAML_SCALAR_NODE)
            scalars++;
    }
    if (maps && maps == cnt) {
        if (!(s->maps = calloc(cnt, sizeof *s->maps))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        for (yaml_node_item_t *p = vn->data.sequence.items.start; p < vn->data.sequence.items.top; p++) {
            int rc = parse_map(c, yaml_doc_node(&c->y, *p), &s->maps[s->n]);
            s->n++;
            if (rc)
                return -1;
        }
        return 0;
    }
    if (scalars == cnt) {
        if (!(s->maps = calloc(1, sizeof *s->maps)) || !(s->maps[0].items = calloc(1, sizeof(struct sigma_item)))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        s->n = 1;
        s->keywords = true;
        s->maps[0].n = 1;
        s->maps[0].line = yaml_doc_line(vn);
        struct sigma_item *it = s->maps[0].items;
        it->line = s->maps[0].line;
        it->mods = SIGMA_MOD_CONTAINS;
        if (!(it->field = yaml_doc_copy("", 0)) || !(it->v = calloc(cnt, sizeof *it->v))) {
            yaml_doc_oom(&c->y, vn);
            return -1;
        }
        for (yaml_node_item_t *p = vn->data.sequence.items.start; p < vn->data.sequence.items.top; p++) {
            if (parse_value(c, yaml_doc_node(&c->y, *p), &it->v[it->nv]))
                return -1;
            it->nv++;
        }
        return check_values(c, vn, it);
    }
    yaml_doc_fail(&c->y, vn, "selection '%s' mixes maps and plain values (or nests lists)", s->name);
    return -1;
}

static int parse_level(struct pctx *c, const yaml_node_t *root, struct sigma_rule *r)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, "level");
    if (!n)
        return 0;
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    if (!v) {
        yaml_doc_fail(&c->y, n, "'level' must be a string");
        return -1;
    }
    for (unsigned i = 0; i < 5; i++)
        if (len == strlen(names[i]) && !strncasecmp(v, names[i], len)) {
            r->level = (uint8_t)(i + 1);
            r->level_text = strdup(names[i]);
            return 0;
        }
    yaml_doc_fail(&c->y, n, "unknown level '%.*s' (informational, low, medium, high or critical)",
                  (int)(len > 40 ? 40 : len), v);
    return -1;
}

static int parse_tags(struct pctx *c, const yaml_node_t *root, struct sigma_rule *r)
{
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, "tags");
    if (!n || is_null_scalar(n))
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (!(r->tags = calloc(1, sizeof *r->tags)) ||
            !(r->tags[0] = yaml_doc_copy(yaml_doc_scalar(n, NULL), n->data.scalar.length))) {
            yaml_doc_oom(&c->y, n);
            return -1;
        }
        r->ntags = 1;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE) {
        yaml_doc_fail(&c->y, n, "'tags' must be a list");
        return -1;
    }
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (!(r->tags = calloc(cnt ? cnt : 1, sizeof *r->tags))) {
        yaml_doc_oom(&c->y, n);
        return -1;
    }
    for (yaml_node_item_t *p = n->data.sequence.items.start; p < n->data.sequence.items.top; p++) {
        size_t len;
        const char *v = yaml_doc_scalar(yaml_doc_node(&c->y, *p), &len);
        if (!v) {
            yaml_doc_fail(&c->y, yaml_doc_node(&c->y, *p), "a tag must be a string");
            return -1;
        }
        if (!(r->tags[r->ntags] = yaml_doc_copy(v, len))) {
            yaml_doc_oom(&c->y, n);
            return -1;
        }
        r->ntags++;
    }
    return 0;
}

static int parse_logsource(struct pctx *c, const yaml_node_t *root, struct sigma_rule *r)
{
    yaml_node_t *n = yaml_doc_map_get(&c->y, root, "logsource");
    if (!n) {
        yaml_doc_fail(&c->y, root, "missing 'logsource'");
        return -1;
    }
    if (n->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, n, "'logsource' must be a map");
        return -1;
    }
    static const char *const keys[] = {"product", "service", "category"};
    char *dst[] = {r->ls.product, r->ls.service, r->ls.category};
    for (int k = 0; k < 3; k++) {
        yaml_node_t *v = yaml_doc_map_get(&c->y, n, keys[k]);
        if (!v || is_null_scalar(v))
            continue;
        size_t len;
        const char *s = yaml_doc_scalar(v, &len);
        if (!s) {
            yaml_doc_fail(&c->y, v, "logsource '%s' must be a string", keys[k]);
            return -1;
        }
        if (len >= LOGSOURCE_KEY_MAX || memchr(s, '\0', len)) {
            yaml_doc_fail(&c->y, v, "logsource '%s' too long (max %d bytes)", keys[k], LOGSOURCE_KEY_MAX - 1);
            return -1;
        }
        memcpy(dst[k], s, len);
        dst[k][len] = '\0';
    }
    return 0;
}

static int parse_condition(struct pctx *c, const yaml_node_t *cn, struct sigma_rule *r)
{
    char err[DIAG_MSG_MAX - 64];
    char *text = NULL;
    size_t len = 0;
    const char *s = yaml_doc_scalar(cn, &len);
    if (s) {
        if (memchr(s, '\0', len)) {
            yaml_doc_fail(&c->y, cn, "condition holds a NUL byte");
            return -1;
        }
        text = yaml_doc_copy(s, len);
    } else if (cn->type == YAML_SEQUENCE_NODE) {
        /* a list of conditions is their 'or' */
        size_t total = 1;
        for (yaml_node_item_t *p = cn->data.sequence.items.start; p < cn->data.sequence.items.top; p++) {
            const char *e = yaml_doc_scalar(yaml_doc_node(&c->y, *p), &len);
            if (!e || memchr(e, '\0', len)) {
                yaml_doc_fail(&c->y, yaml_doc_node(&c->y, *p), "a condition must be a string");
                return -1;
            }
            total += len + 8;
        }
        if (cn->data.sequence.items.top == cn->data.sequence.items.start) {
            yaml_doc_fail(&c->y, cn, "empty condition list");
            return -1;
        }
        text = malloc(total);
        if (text) {
            size_t o = 0;
            for (yaml_node_item_t *p = cn->data.sequence.items.start; p < cn->data.sequence.items.top; p++) {
                const char *e = yaml_doc_scalar(yaml_doc_node(&c->y, *p), &len);
                o += (size_t)sprintf(text + o, "%s(%.*s)", o ? " or " : "", (int)len, e);
            }
        }
    } else {
        yaml_doc_fail(&c->y, cn, "condition must be a string or a list of strings");
        return -1;
    }
    if (!text) {
        yaml_doc_oom(&c->y, cn);
        return -1;
    }
    int rc = sigma_condition_parse(text, r->sel, r->nsel, &r->cond, &r->ncond, &r->cond_depth, err, sizeof err);
    free(text);
    if (rc) {
        yaml_doc_fail(&c->y, cn, "%s", err);
        return -1;
    }
    return 0;
}

static int parse_detection(struct pctx *c, const yaml_node_t *root, struct sigma_rule *r)
{
    yaml_node_t *det = yaml_doc_map_get(&c->y, root, "detection");
    if (!det) {
        yaml_doc_fail(&c->y, root, "missing 'detection'");
        return -1;
    }
    if (det->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, det, "'detection' must be a map");
        return -1;
    }
    size_t cnt = (size_t)(det->data.mapping.pairs.top - det->data.mapping.pairs.start);
    if (!(r->sel = calloc(cnt ? cnt : 1, sizeof *r->sel))) {
        yaml_doc_oom(&c->y, det);
        return -1;
    }
    yaml_node_t *cond = NULL;
    for (yaml_node_pair_t *p = det->data.mapping.pairs.start; p < det->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_doc_node(&c->y, p->key), *v = yaml_doc_node(&c->y, p->value);
        if (yaml_doc_scalar_is(k, "condition")) {
            if (cond) {
                yaml_doc_fail(&c->y, k, "two conditions in one detection");
                return -1;
            }
            cond = v;
            continue;
        }
        if (yaml_doc_scalar_is(k, "timeframe")) {
            yaml_doc_fail(&c->y, k, "'timeframe' (aggregation window) is not supported: use a correlation rule");
            return -1;
        }
        int rc = parse_selection(c, k, v, &r->sel[r->nsel]);
        r->nsel++;
        if (rc)
            return -1;
        for (unsigned i = 0; i + 1 < r->nsel; i++)
            if (!strcmp(r->sel[i].name, r->sel[r->nsel - 1].name)) {
                yaml_doc_fail(&c->y, k, "selection '%s' defined twice", r->sel[i].name);
                return -1;
            }
    }
    if (!cond) {
        yaml_doc_fail(&c->y, det, "detection has no 'condition'");
        return -1;
    }
    if (r->nsel == 0) {
        yaml_doc_fail(&c->y, det, "detection has no selection");
        return -1;
    }
    return parse_condition(c, cond, r);
}

enum doc_result { DOC_RULE, DOC_ERROR, DOC_SKIP, DOC_STOP, DOC_EMPTY };

static enum doc_result parse_doc(struct pctx *c, const yaml_node_t *root, unsigned doc_line, struct sigma_rule **out)
{
    *out = NULL;
    if (root->type == YAML_SCALAR_NODE && is_null_scalar(root))
        return DOC_EMPTY;
    if (root->type != YAML_MAPPING_NODE) {
        yaml_doc_fail(&c->y, root, "not a Sigma rule (the document is not a map)");
        return DOC_ERROR;
    }
    /* name the rule in messages by id, else title */
    size_t len;
    const char *s = yaml_doc_scalar(yaml_doc_map_get(&c->y, root, "id"), &len);
    if (!s)
        s = yaml_doc_scalar(yaml_doc_map_get(&c->y, root, "title"), &len);
    if (s)
        snprintf(c->y.what, sizeof c->y.what, "%.*s", (int)(len < 100 ? len : 100), s);
    if (yaml_doc_map_get(&c->y, root, "correlation"))
        return DOC_SKIP;
    yaml_node_t *act = yaml_doc_map_get(&c->y, root, "action");
    if (act) {
        const char *a = yaml_doc_scalar(act, &len);
        yaml_doc_fail(&c->y, act,
                      "rule collection ('action: %.*s') is not supported: write each rule as its own document",
                      a ? (int)(len < 20 ? len : 20) : 1, a ? a : "?");
        return DOC_STOP;
    }
    if (yaml_doc_map_get(&c->y, root, "filter") && !yaml_doc_map_get(&c->y, root, "detection")) {
        yaml_doc_fail(&c->y, root, "Sigma filter rule ('filter:') is not supported");
        return DOC_ERROR;
    }
    struct sigma_rule *r = calloc(1, sizeof *r);
    if (!r) {
        yaml_doc_oom(&c->y, root);
        return DOC_ERROR;
    }
    r->line = doc_line;
    r->file = strdup(c->y.file);
    r->title = str_field(c, root, "title", true);
    if (!c->y.fail.failed)
        r->id = str_field(c, root, "id", false);
    if (!c->y.fail.failed)
        r->name = str_field(c, root, "name", false);
    if (!c->y.fail.failed)
        r->status = str_field(c, root, "status", false);
    if (!c->y.fail.failed) {
        yaml_node_t *an = yaml_doc_map_get(&c->y, root, "author");
        if (an && an->type == YAML_SEQUENCE_NODE) {
            /* some rules list authors */
            size_t total = 1;
            for (yaml_node_item_t *p = an->data.sequence.items.start; p < an->data.sequence.items.top; p++)
                if (yaml_doc_scalar(yaml_doc_node(&c->y, *p), &len))
                    total += len + 2;
            if ((r->author = malloc(total))) {
                size_t o = 0;
                r->author[0] = '\0';
                for (yaml_node_item_t *p = an->data.sequence.items.start; p < an->data.sequence.items.top; p++)
                    if ((s = yaml_doc_scalar(yaml_doc_node(&c->y, *p), &len)))
                        o += (size_t)sprintf(r->author + o, "%s%.*s", o ? ", " : "", (int)len, s);
            }
        } else {
            r->author = str_field(c, root, "author", false);
        }
    }
    if (!c->y.fail.failed && r->title && r->title[0] == '\0')
        yaml_doc_fail(&c->y, root, "empty title");
    if (!c->y.fail.failed)
        parse_level(c, root, r);
    if (!c->y.fail.failed)
        parse_tags(c, root, r);
    if (!c->y.fail.failed)
        parse_logsource(c, root, r);
    if (!c->y.fail.failed)
        parse_detection(c, root, r);
    if (c->y.fail.failed) {
        sigma_rule_free(r);
        return DOC_ERROR;
    }
    *out = r;
    return DOC_RULE;
}

static int push_rule(struct sigma_rule ***rules, unsigned *n, struct sigma_rule *r)
{
    if ((*n & (*n - 1)) == 0 || *n == 0) {
        unsigned cap = *n ? *n * 2 : 8;
        if (*n && cap < 8)
            cap = 8;
        struct sigma_rule **nr = realloc(*rules, cap * sizeof *nr);
        if (!nr)
            return -1;
        *rules = nr;
    }
    (*rules)[(*n)++] = r;
    return 0;
}

int sigma_parse_buffer(const char *buf, size_t len, const char *file, struct sigma_rule ***rules, unsigned *n,
                       struct sigma_stats *st, struct diag *d)
{
    struct sigma_stats dummy = {0};
    if (!st)
        st = &dummy;
    struct yaml_doc_stream in;
    if (yaml_doc_stream_open(&in, buf, len, file, d))
        return -1;
    int added = 0;
    unsigned seen = 0;
    for (;;) {
        yaml_document_t doc;
        bool syntax_error = false;
        yaml_node_t *root = yaml_doc_stream_next(&in, &doc, &syntax_error);
        if (!root) {
            if (syntax_error) {
                st->rejected++;
                seen++;
            }
            break;
        }
        st->docs++;
        struct pctx c = {.y = {.doc = &doc, .file = file}, .d = d};
        struct sigma_rule *r = NULL;
        unsigned line = yaml_doc_line(root);
        enum doc_result res = parse_doc(&c, root, line, &r);
        switch (res) {
        case DOC_RULE:
            if (push_rule(rules, n, r)) {
                sigma_rule_free(r);
                yaml_document_delete(&doc);
                yaml_doc_stream_close(&in);
                diag_add(d, DIAG_ERROR, file, line, c.y.what, "out of memory");
                return -1;
            }
            st->rules++;
            added++;
            seen++;
            break;
        case DOC_SKIP:
            diag_add(d, DIAG_WARNING, file, line, c.y.what, "correlation rule: handled by vigil-cp");
            st->correlations++;
            seen++;
            break;
        case DOC_ERROR:
        case DOC_STOP:
            yaml_doc_report(&c.y, d, line);
            st->rejected++;
            seen++;
            break;
        case DOC_EMPTY:
            break;
        }
        yaml_document_delete(&doc);
        if (res == DOC_STOP)
            break;
    }
    yaml_doc_stream_close(&in);
    if (!seen) {
        diag_add(d, DIAG_ERROR, file, 0, "", "no Sigma rule in the file");
        st->rejected++;
    }
    return added;
}

int sigma_parse_file(const char *path, struct sigma_rule ***rules, unsigned *n, struct sigma_stats *st,
                     struct diag *d)
{
    size_t len;
    char why[128];
    char *buf = source_read(path, &len, why, sizeof why);
    if (!buf) {
        diag_add(d, DIAG_ERROR, path, 0, "", "%s", why);
        if (st)
            st->rejected++;
        return 0;
    }
    int rc = sigma_parse_buffer(buf, len, path, rules, n, st, d);
    free(buf);
    return rc;
}
