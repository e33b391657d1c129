/* Parser sets: pack loading (YAML), per-program dispatch, template buckets.
 *
 * Dispatch (parser_set_parse):
 *   1. The message body is trimmed of leading/trailing blanks.
 *   2. process.name picks a program entry: exact names through a hash table,
 *      then the longest "prefix*" program; no entry = the program-less one.
 *   3. The entry's templates (those written for the program, in file order,
 *      then those without a program filter, in file order) are split by the
 *      first byte of the body they can start with: the body's first byte picks
 *      one bucket.  Programs with identical template lists share buckets.
 *   4. In the bucket the lowest-numbered template whose walker accepts the
 *      message wins.  Large buckets are classified by one Hyperscan scan
 *      (anchored expressions, HS_FLAG_SINGLEMATCH, no start-of-match; the scan
 *      stops at once when the bucket's first template matches) and the walkers
 *      of the matches run in id order.  Buckets of at most PS_DIRECT_MAX
 *      templates skip the scan and run the walkers in order: a walker accepts
 *      only messages its expression matches, so the answer is the same.  In
 *      those buckets a template whose leading literal the body (blank runs
 *      collapsed) does not start with, or whose fixed end the body does not
 *      end with, is skipped, and templates sharing
 *      leading steps with the one walked before resume from, or fail with,
 *      its progress (tpl_walk_memo); none of these changes the answer.
 *   5. Otherwise the generic parsers (kv, cef, leef, json) of the entry, in the
 *      same order, each after its cheap claim test.
 *   6. Otherwise the event keeps the program's default log source.
 * Every template is compiled by Hyperscan once at load ("parser/check"), so a
 * template Hyperscan rejects is reported whichever path it ends up on.
 */
#define _GNU_SOURCE
#include "engine/parser.h"

#include "engine/source.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "engine/genparse.h"
#include "engine/template.h"

#define PS_MAX_CANDIDATES 32
/* Buckets of at most this many templates are not scanned: their walkers are
 * tried in order.  A walker accepts only messages its template's expression
 * matches, so the first walker that succeeds is exactly the lowest-id
 * Hyperscan match whose walker succeeds.  A walker that does not apply stops
 * at the first literal that differs (a few ns), while a Hyperscan scan costs
 * 30 ns plus 15-20 ns per live pattern on these structured expressions;
 * measured on the corpus (bench_parse_coverage), walkers win up to a few
 * dozen templates per bucket.  Larger buckets are scanned. */
#define PS_DIRECT_MAX 32
#define PS_NAME_MAX       96
#define PS_PROG_MAX       128
#define PS_DEFAULT_MAX_PARSERS 4096
#define PS_DEFAULT_MAX_FIELDS  64

enum { K_TEMPLATE = 0 };   /* else enum gp_format */

struct ps_const {
    field_id fid;
    uint8_t type;          /* FIELD_STR or FIELD_INT */
    int64_t i;
    char *s;
    uint32_t len;
};

/* What finish() reads on every claimed message comes first, in one cache
 * line; the generic parser's tables (gp, some 500 bytes) come last. */
struct ps_parser {
    struct field_value *cvals;   /* the constants as field values, ready to copy into an event */
    unsigned n_cvals;
    uint16_t logsource;
    bool has_ls;
    bool split_url;
    uint8_t kind;
    struct tpl *tpl;
    char *name;            /* "pack/name" */
    char **progs;          /* NULL = any program */
    unsigned n_progs;
    struct ps_const *consts;
    unsigned n_consts;
    unsigned pack;         /* index into the load's pack list */
    unsigned line;
    struct genparse gp;
};

/* A template of a walker-only bucket, with its prefilters: the first bytes of
 * its leading literal (tpl_literal_prefix), compared with the message's first
 * bytes, blank runs collapsed, and the bytes it must end with
 * (tpl_literal_suffix), compared with the message's last bytes, before the
 * walker runs.  The suffix test is what keeps a bucket of templates that share
 * a prefix and differ only after a DATA field ("pam_unix(%{DATA}): session
 * closed ...", "... check pass; user unknown") from walking each of them. */
#define PS_PREFIX 16
#define PS_SUFFIX 8

struct ps_cand {                   /* one cache line */
    const struct tpl *tpl;
    uint32_t pidx;
    uint8_t pre_len;               /* 0: starts with a field, no prefilter */
    uint8_t suf_len;               /* 0: no fixed end, no suffix test */
    uint64_t pre[2], pre_mask[2];  /* the prefix bytes, and which of the 16 count */
    uint64_t suf, suf_mask;        /* the end bytes, in the last suf_len bytes of a word */
} __attribute__((aligned(64)));

struct ps_db {
    hs_database_t *db;
    unsigned *pidx;        /* Hyperscan id -> parser index */
    unsigned n;
    struct ps_cand *cand;  /* walker-only bucket (db NULL): its templates in order */
    uint8_t *shared;       /* n x n: tpl_shared_steps of templates k and j (capped at 255); NULL: none share */
};

/* An entry's templates, split by the first byte of the message body: a
 * template goes to every byte it can start with, and each distinct list gets
 * its own database, so a scan only sees the templates that can match. */
struct ps_buckets {
    struct ps_db *dbs;
    unsigned n_dbs;
    const struct ps_db *by_byte[256];   /* NULL: no template starts with that byte */
};

/* What the parse path reads of an entry comes first, in one cache line;
 * `own` (2 KB of bucket pointers) is reached through tb. */
struct ps_prog {
    char *name;
    uint32_t len;          /* without the '*' of a prefix */
    bool prefix;
    uint16_t default_ls;
    const struct ps_buckets *tb;
    unsigned *gen;         /* generic parsers, in order */
    unsigned n_gen;
    struct ps_buckets own; /* used when it has templates of its own */
};

struct ps_progdef {        /* programs: entries, kept for the set */
    char *name;
    uint16_t ls;
};

/* A slot of the exact-name table holds the name's length and first 8 bytes,
 * so a probe (and a whole lookup of a short name: sshd, CRON, sudo) reads
 * the table alone. */
struct ps_slot {
    uint32_t idx1;         /* program index + 1; 0: empty */
    uint32_t len;
    uint64_t head;         /* the first min(len, 8) bytes, zero-padded */
};

struct parser_set {
    struct ps_parser *p;
    unsigned n, cap;
    struct ps_progdef *defs;
    unsigned n_defs, cap_defs;
    struct ps_prog *prog;
    unsigned n_prog;
    struct ps_slot *slot;  /* exact program names */
    unsigned nslots;
    unsigned *prefix;      /* prefix programs, longest first */
    unsigned n_prefix;
    struct ps_buckets any;
    unsigned *any_gen;
    unsigned n_any_gen;
    bool split_url;
    field_id fid_url_original, fid_url_path, fid_url_query;
    char **load_files;     /* during parser_set_load only: pack index -> file */
};

/* ---- small utilities ---------------------------------------------------- */

static inline uint64_t name_head(const char *p, uint32_t n)
{
    uint64_t h = 0;
    memcpy(&h, p, n < 8 ? n : 8);
    return h;
}

/* Hash of a program name for the exact-name table: the length and the first
 * two and last two bytes (process names differ there; a collision only costs
 * a probe). */
static inline uint32_t prog_hash(const char *p, uint32_t n)
{
    uint32_t a = (uint8_t)p[0], b = (uint8_t)p[n > 1], c = (uint8_t)p[n - 1], d = (uint8_t)p[n > 1 ? n - 2 : 0];
    uint32_t h = (n * 0x9E3779B1u) ^ (a | b << 8 | c << 16 | d << 24);
    h ^= h >> 16;   /* murmur3's finaliser */
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

static inline bool same_bytes(const char *a, const char *b, uint32_t n)
{
    uint64_t x, y;
    uint32_t u, v;
    if (n >= 8) {
        for (; n > 8; a += 8, b += 8, n -= 8) {
            memcpy(&x, a, 8);
            memcpy(&y, b, 8);
            if (x != y)
                return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        if (u != v)
            return false;
        memcpy(&u, a + n - 4, 4);
        memcpy(&v, b + n - 4, 4);
        return u == v;
    }
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static bool valid_ident(const char *s)
{
    if (!*s || strlen(s) > PS_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-' || *s == '.'))
            return false;
    return true;
}

static void parser_clear(struct ps_parser *p)
{
    free(p->name);
    tpl_free(p->tpl);
    if (p->kind != K_TEMPLATE)
        genparse_free(&p->gp);
    for (unsigned i = 0; i < p->n_progs; i++)
        free(p->progs[i]);
    free(p->progs);
    for (unsigned i = 0; i < p->n_consts; i++)
        free(p->consts[i].s);
    free(p->consts);
    free(p->cvals);
    memset(p, 0, sizeof *p);
}

static void db_clear(struct ps_db *d)
{
    if (d->db)
        hs_free_database(d->db);
    free(d->pidx);
    free(d->cand);
    free(d->shared);
    memset(d, 0, sizeof *d);
}

static void buckets_clear(struct ps_buckets *b)
{
    for (unsigned i = 0; i < b->n_dbs; i++)
        db_clear(&b->dbs[i]);
    free(b->dbs);
    memset(b, 0, sizeof *b);
}

static void progs_clear(struct parser_set *ps)
{
    for (unsigned i = 0; i < ps->n_prog; i++) {
        free(ps->prog[i].name);
        buckets_clear(&ps->prog[i].own);
        free(ps->prog[i].gen);
    }
    free(ps->prog);
    ps->prog = NULL;
    ps->n_prog = 0;
    free(ps->slot);
    ps->slot = NULL;
    ps->nslots = 0;
    free(ps->prefix);
    ps->prefix = NULL;
    ps->n_prefix = 0;
    buckets_clear(&ps->any);
    free(ps->any_gen);
    ps->any_gen = NULL;
    ps->n_any_gen = 0;
}

void parser_set_free(struct parser_set *ps)
{
    if (!ps)
        return;
    progs_clear(ps);
    for (unsigned i = 0; i < ps->n; i++)
        parser_clear(&ps->p[i]);
    free(ps->p);
    for (unsigned i = 0; i < ps->n_defs; i++)
        free(ps->defs[i].name);
    free(ps->defs);
    free(ps);
}

unsigned parser_set_count(const struct parser_set *ps) { return ps ? ps->n : 0; }

const char *parser_set_name(const struct parser_set *ps, unsigned idx)
{
    return ps && idx < ps->n ? ps->p[idx].name : NULL;
}

const struct field_value *parser_set_constants(const struct parser_set *ps, unsigned idx, unsigned *n)
{
    *n = ps && idx < ps->n ? ps->p[idx].n_cvals : 0;
    return *n ? ps->p[idx].cvals : NULL;
}

/* ---- YAML helpers ------------------------------------------------------- */

struct pack_ld {
    const char *file;
    char *name;
    yaml_document_t *doc;
    struct diag *d;
    struct field_registry *reg;
    struct logsource_table *lt;
    unsigned max_fields;
    unsigned errors;
    struct ps_parser *p;
    unsigned n, cap;
    struct ps_progdef *defs;
    unsigned n_defs, cap_defs;
    unsigned *def_lines;
    unsigned pack_index;
    bool split_url;
};

static unsigned line_of(const yaml_node_t *n) { return n ? (unsigned)n->start_mark.line + 1 : 0; }

#define PERR(ld, node, what, ...)                                                        \
    do {                                                                                 \
        diag_add((ld)->d, DIAG_ERROR, (ld)->file, line_of(node), (what), __VA_ARGS__);   \
        (ld)->errors++;                                                                  \
    } while (0)

static yaml_node_t *node_at(struct pack_ld *ld, int idx) { return yaml_document_get_node(ld->doc, idx); }

/* The scalar's text, or NULL (error reported) when it is not a clean scalar. */
static const char *scalar(struct pack_ld *ld, yaml_node_t *n, const char *what, const char *key)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        PERR(ld, n, what, "'%s' must be a string", key);
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        PERR(ld, n, what, "'%s' holds a NUL byte", key);
        return NULL;
    }
    return s;
}

static bool is_plain_int(yaml_node_t *n, int64_t *out)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *s = (const char *)n->data.scalar.value;
    if (!*s)
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return false;
    for (const char *c = s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (c == s && (*c == '-' || *c == '+'))))
            return false;
    *out = v;
    return true;
}

static int parse_bool(const char *s)
{
    if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
        return 1;
    if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
        return 0;
    return -1;
}

static int load_logsource(struct pack_ld *ld, yaml_node_t *n, const char *what, uint16_t *id)
{
    if (!n || n->type != YAML_MAPPING_NODE) {
        PERR(ld, n, what, "logsource must be a mapping of product, service, category");
        return -1;
    }
    struct logsource ls;
    memset(&ls, 0, sizeof ls);
    int rc = 0, keys = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
        const char *ks = scalar(ld, k, what, "logsource key");
        const char *vs = ks ? scalar(ld, v, what, ks) : NULL;
        if (!ks || !vs) {
            rc = -1;
            continue;
        }
        char *dst = !strcmp(ks, "product")    ? ls.product
                    : !strcmp(ks, "service")  ? ls.service
                    : !strcmp(ks, "category") ? ls.category
                                              : NULL;
        if (!dst) {
            PERR(ld, k, what, "unknown logsource key '%s' (product, service, category)", ks);
            rc = -1;
            continue;
        }
        if (!*vs || strlen(vs) >= LOGSOURCE_KEY_MAX) {
            PERR(ld, v, what, "logsource %s must be 1..%d characters", ks, LOGSOURCE_KEY_MAX - 1);
            rc = -1;
            continue;
        }
        strcpy(dst, vs);
        keys++;
    }
    if (rc)
        return -1;
    if (!keys) {
        PERR(ld, n, what, "empty logsource");
        return -1;
    }
    if (logsource_intern(ld->lt, &ls, id) != 0) {
        PERR(ld, n, what, "too many log sources (max %d)", LOGSOURCE_MAX);
        return -1;
    }
    return 0;
}

static int intern_field(struct pack_ld *ld, yaml_node_t *n, const char *what, const char *name, field_id *fid)
{
    if (field_registry_intern(ld->reg, name, fid) != 0) {
        PERR(ld, n, what, "bad field name '%s' (letters, digits, . _ - @; 1..63 bytes) or registry full", name);
        return -1;
    }
    return 0;
}

/* "field", "field:int|ip|str", "field|fallback", "field|fallback:type" */
static int split_typed(struct pack_ld *ld, yaml_node_t *n, const char *what, const char *s, char *name, size_t cap,
                       int *vtype, char *alt, size_t altcap)
{
    const char *colon = strchr(s, ':');
    size_t tl = colon ? (size_t)(colon - s) : strlen(s);
    const char *bar = memchr(s, '|', tl);
    size_t nl = bar ? (size_t)(bar - s) : tl;
    size_t al = bar ? tl - nl - 1 : 0;
    if (nl == 0 || nl >= cap || (bar && (al == 0 || al >= altcap))) {
        PERR(ld, n, what, "bad field name '%s'", s);
        return -1;
    }
    memcpy(name, s, nl);
    name[nl] = '\0';
    alt[0] = '\0';
    if (bar) {
        memcpy(alt, bar + 1, al);
        alt[al] = '\0';
    }
    *vtype = -1;
    if (colon) {
        if (!strcmp(colon + 1, "int"))
            *vtype = GP_VINT;
        else if (!strcmp(colon + 1, "ip"))
            *vtype = GP_VIP;
        else if (!strcmp(colon + 1, "str"))
            *vtype = GP_VSTR;
        else {
            PERR(ld, n, what, "unknown type '%s' in '%s' (int, ip, str)", colon + 1, s);
            return -1;
        }
    }
    return 0;
}

static int add_program(struct pack_ld *ld, struct ps_parser *p, yaml_node_t *n, const char *what, const char *s)
{
    size_t l = strlen(s);
    if (!l || l > PS_PROG_MAX) {
        PERR(ld, n, what, "program name must be 1..%d characters", PS_PROG_MAX);
        return -1;
    }
    const char *star = strchr(s, '*');
    if (star && star[1]) {
        PERR(ld, n, what, "'*' may only end a program name (prefix match): '%s'", s);
        return -1;
    }
    if (!strcmp(s, "*"))
        return 0;   /* any program */
    char **np = realloc(p->progs, (p->n_progs + 1) * sizeof *np);
    if (!np)
        return -1;
    p->progs = np;
    if (!(p->progs[p->n_progs] = strdup(s)))
        return -1;
    p->n_progs++;
    return 0;
}

/* ---- one parser ------------------------------------------------------------ */

static int load_parser(struct pack_ld *ld, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        PERR(ld, n, ld->name, "each parser must be a mapping");
        return -1;
    }
    struct ps_parser p;
    memset(&p, 0, sizeof p);
    p.pack = ld->pack_index;
    p.line = line_of(n);
    unsigned err0 = ld->errors;
    char what[PS_NAME_MAX * 2 + 2];
    snprintf(what, sizeof what, "%s/?", ld->name);

    yaml_node_t *name_n = NULL, *tmpl_n = NULL, *fmt_n = NULL, *claim_n = NULL, *map_n = NULL, *set_n = NULL,
                *ls_n = NULL, *prog_n = NULL, *flags_n = NULL, *prefix_n = NULL, *sep_n = NULL, *minp_n = NULL,
                *lower_n = NULL, *split_n = NULL;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
        const char *ks = scalar(ld, k, what, "key");
        if (!ks)
            continue;
        yaml_node_t **slot = !strcmp(ks, "name")           ? &name_n
                             : !strcmp(ks, "template")     ? &tmpl_n
                             : !strcmp(ks, "format")       ? &fmt_n
                             : !strcmp(ks, "claim")        ? &claim_n
                             : !strcmp(ks, "map")          ? &map_n
                             : !strcmp(ks, "set")          ? &set_n
                             : !strcmp(ks, "logsource")    ? &ls_n
                             : !strcmp(ks, "program")      ? &prog_n
                             : !strcmp(ks, "flags")        ? &flags_n
                             : !strcmp(ks, "prefix_field") ? &prefix_n
                             : !strcmp(ks, "separators")   ? &sep_n
                             : !strcmp(ks, "min_pairs")    ? &minp_n
                             : !strcmp(ks, "lowercase")    ? &lower_n
                             : !strcmp(ks, "split_url")    ? &split_n
                                                           : NULL;
        if (!strcmp(ks, "description") || !strcmp(ks, "example"))
            continue;
        if (!slot) {
            PERR(ld, k, what, "unknown parser key '%s'", ks);
            continue;
        }
        if (*slot) {
            PERR(ld, k, what, "duplicate key '%s'", ks);
            continue;
        }
        *slot = v;
    }
    /* name */
    const char *nm = name_n ? scalar(ld, name_n, what, "name") : NULL;
    if (!name_n)
        PERR(ld, n, what, "parser without a name");
    else if (nm && !valid_ident(nm))
        PERR(ld, name_n, what, "bad parser name '%s' (letters, digits, _ - .)", nm);
    if (nm && valid_ident(nm)) {
        snprintf(what, sizeof what, "%s/%s", ld->name, nm);
        for (unsigned i = 0; i < ld->n; i++)
            if (!strcmp(ld->p[i].name, what))
                PERR(ld, name_n, what, "duplicate parser name");
    }
    if (!(p.name = strdup(what)))
        goto oom;

    /* kind */
    if (!!tmpl_n == !!fmt_n) {
        PERR(ld, n, what, "a parser needs exactly one of 'template' and 'format'");
        goto done;
    }
    if (tmpl_n) {
        p.kind = K_TEMPLATE;
        const char *ts = scalar(ld, tmpl_n, what, "template");
        if (ts) {
            struct tpl_error te;
            if (tpl_compile(ts, ld->reg, ld->max_fields, &p.tpl, &te) != 0)
                PERR(ld, tmpl_n, what, "template column %u: %s", te.column, te.msg);
        }
        yaml_node_t *gen_only[] = {claim_n, map_n, flags_n, prefix_n, sep_n, minp_n, lower_n};
        const char *gen_names[] = {"claim", "map", "flags", "prefix_field", "separators", "min_pairs", "lowercase"};
        for (unsigned i = 0; i < sizeof gen_only / sizeof gen_only[0]; i++)
            if (gen_only[i])
                PERR(ld, gen_only[i], what, "'%s' applies to generic (format:) parsers only", gen_names[i]);
    } else {
        const char *fs = scalar(ld, fmt_n, what, "format");
        enum gp_format f = fs ? gp_format_parse(fs) : 0;
        if (fs && !f)
            PERR(ld, fmt_n, what, "unknown format '%s' (kv, cef, leef, json)", fs);
        if (!f)
            goto done;
        p.kind = (uint8_t)f;
        genparse_init(&p.gp, f);
        p.gp.max_fields = ld->max_fields;
        if (claim_n) {
            const char *cs = scalar(ld, claim_n, what, "claim");
            if (cs && !*cs)
                PERR(ld, claim_n, what, "empty claim literal");
            else if (cs && genparse_set_claim(&p.gp, cs) != 0)
                goto oom;
        }
        if (map_n && map_n->type != YAML_MAPPING_NODE)
            PERR(ld, map_n, what, "'map' must be a mapping of source key to field");
        else if (map_n) {
            for (yaml_node_pair_t *pr = map_n->data.mapping.pairs.start; pr < map_n->data.mapping.pairs.top; pr++) {
                yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
                const char *ks = scalar(ld, k, what, "map key");
                const char *vs = ks ? scalar(ld, v, what, ks) : NULL;
                char fname[FIELD_NAME_MAX + 1], aname[FIELD_NAME_MAX + 1];
                int vt;
                field_id fid, afid = 0;
                if (!vs || split_typed(ld, v, what, vs, fname, sizeof fname, &vt, aname, sizeof aname) != 0 ||
                    intern_field(ld, v, what, fname, &fid) != 0 ||
                    (aname[0] && intern_field(ld, v, what, aname, &afid) != 0))
                    continue;
                if (genparse_map(&p.gp, ks, fid, fname, vt, aname[0] ? (int)afid : -1) != 0)
                    PERR(ld, k, what, "key '%s' mapped twice", ks);
            }
        }
        if (!map_n)
            PERR(ld, n, what, "a generic parser needs a 'map'");
        if (p.kind != GP_KV) {
            yaml_node_t *kv_only[] = {flags_n, prefix_n, sep_n, minp_n};
            const char *kv_names[] = {"flags", "prefix_field", "separators", "min_pairs"};
            for (unsigned i = 0; i < sizeof kv_only / sizeof kv_only[0]; i++)
                if (kv_only[i])
                    PERR(ld, kv_only[i], what, "'%s' applies to format: kv only", kv_names[i]);
        } else {
            if (flags_n && flags_n->type != YAML_MAPPING_NODE)
                PERR(ld, flags_n, what, "'flags' must be a mapping of bare word to field");
            else if (flags_n) {
                for (yaml_node_pair_t *pr = flags_n->data.mapping.pairs.start; pr < flags_n->data.mapping.pairs.top;
                     pr++) {
                    yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
                    const char *ks = scalar(ld, k, what, "flag");
                    const char *vs = ks ? scalar(ld, v, what, ks) : NULL;
                    field_id fid;
                    if (!vs || intern_field(ld, v, what, vs, &fid) != 0)
                        continue;
                    if (genparse_flag(&p.gp, ks, fid) != 0)
                        PERR(ld, k, what, "flag '%s' listed twice", ks);
                }
            }
            if (prefix_n) {
                const char *ps = scalar(ld, prefix_n, what, "prefix_field");
                if (ps && intern_field(ld, prefix_n, what, ps, &p.gp.prefix_fid) == 0)
                    p.gp.has_prefix = true;
            }
            if (sep_n) {
                const char *ss = scalar(ld, sep_n, what, "separators");
                if (ss && (!*ss || strchr(ss, '=') || strchr(ss, '"')))
                    PERR(ld, sep_n, what, "separators must be non-empty and hold neither '=' nor '\"'");
                else if (ss)
                    genparse_set_separators(&p.gp, ss);
            }
            if (minp_n) {
                int64_t v;
                if (!is_plain_int(minp_n, &v) || v < 1 || v > 1000)
                    PERR(ld, minp_n, what, "min_pairs must be an integer 1..1000");
                else
                    p.gp.min_pairs = (unsigned)v;
            }
        }
        if (lower_n && lower_n->type != YAML_SEQUENCE_NODE)
            PERR(ld, lower_n, what, "'lowercase' must be a list of fields");
        else if (lower_n) {
            for (yaml_node_item_t *it = lower_n->data.sequence.items.start; it < lower_n->data.sequence.items.top;
                 it++) {
                yaml_node_t *v = node_at(ld, *it);
                const char *vs = scalar(ld, v, what, "lowercase");
                field_id fid;
                if (vs && intern_field(ld, v, what, vs, &fid) == 0)
                    genparse_lowercase(&p.gp, fid);
            }
        }
    }

    /* program */
    if (prog_n) {
        if (prog_n->type == YAML_SCALAR_NODE) {
            const char *s = scalar(ld, prog_n, what, "program");
            if (s && add_program(ld, &p, prog_n, what, s) != 0 && ld->errors == err0)
                goto oom;
        } else if (prog_n->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = prog_n->data.sequence.items.start; it < prog_n->data.sequence.items.top;
                 it++) {
                yaml_node_t *v = node_at(ld, *it);
                const char *s = scalar(ld, v, what, "program");
                if (s && add_program(ld, &p, v, what, s) != 0 && ld->errors == err0)
                    goto oom;
            }
            if (prog_n->data.sequence.items.start == prog_n->data.sequence.items.top)
                PERR(ld, prog_n, what, "empty program list");
        } else {
            PERR(ld, prog_n, what, "'program' must be a name or a list of names");
        }
    }

    /* constants */
    if (set_n && set_n->type != YAML_MAPPING_NODE)
        PERR(ld, set_n, what, "'set' must be a mapping of field to value");
    else if (set_n) {
        unsigned cnt = (unsigned)(set_n->data.mapping.pairs.top - set_n->data.mapping.pairs.start);
        p.consts = calloc(cnt ? cnt : 1, sizeof *p.consts);
        if (!p.consts)
            goto oom;
        for (yaml_node_pair_t *pr = set_n->data.mapping.pairs.start; pr < set_n->data.mapping.pairs.top; pr++) {
            yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
            const char *ks = scalar(ld, k, what, "set key");
            const char *vs = ks ? scalar(ld, v, what, ks) : NULL;
            field_id fid;
            if (!vs || intern_field(ld, k, what, ks, &fid) != 0)
                continue;
            struct ps_const *c = &p.consts[p.n_consts++];
            c->fid = fid;
            if (is_plain_int(v, &c->i)) {
                c->type = FIELD_INT;
            } else {
                c->type = FIELD_STR;
                if (!*vs) {
                    PERR(ld, v, what, "empty constant for '%s'", ks);
                    continue;
                }
                if (!(c->s = strdup(vs)))
                    goto oom;
                c->len = (uint32_t)strlen(vs);
            }
        }
    }

    if (ls_n && load_logsource(ld, ls_n, what, &p.logsource) == 0)
        p.has_ls = true;

    if (split_n) {
        const char *s = scalar(ld, split_n, what, "split_url");
        int b = s ? parse_bool(s) : -1;
        if (s && b < 0)
            PERR(ld, split_n, what, "split_url must be true or false");
        p.split_url = b == 1;
        if (p.split_url)
            ld->split_url = true;
    }

done:
    if (ld->errors == err0 && p.n_consts) {
        /* constants as ready field values: finish() copies them in one go */
        if (!(p.cvals = calloc(p.n_consts, sizeof *p.cvals)))
            goto oom;
        for (unsigned i = 0; i < p.n_consts; i++) {
            const struct ps_const *c = &p.consts[i];
            struct field_value *f = &p.cvals[p.n_cvals];
            f->id = c->fid;
            if (c->type == FIELD_INT) {
                f->type = FIELD_INT;
                f->v.i = c->i;
            } else if (c->s) {
                f->type = FIELD_STR;
                f->v.s.ptr = c->s;
                f->v.s.len = c->len;
            } else {
                continue;
            }
            p.n_cvals++;
        }
    }
    if (ld->errors != err0) {
        parser_clear(&p);
        return -1;
    }
    if (ld->n == ld->cap) {
        unsigned cap = ld->cap ? ld->cap * 2 : 16;
        struct ps_parser *np = realloc(ld->p, cap * sizeof *np);
        if (!np)
            goto oom;
        ld->p = np;
        ld->cap = cap;
    }
    ld->p[ld->n++] = p;
    return 0;
oom:
    PERR(ld, n, what, "out of memory");
    parser_clear(&p);
    return -1;
}

static int load_programs(struct pack_ld *ld, yaml_node_t *n)
{
    if (n->type != YAML_MAPPING_NODE) {
        PERR(ld, n, ld->name, "'programs' must be a mapping of process.name to logsource");
        return -1;
    }
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
        const char *ks = scalar(ld, k, ld->name, "program");
        if (!ks)
            continue;
        size_t l = strlen(ks);
        const char *star = strchr(ks, '*');
        if (!l || l > PS_PROG_MAX || (star && star[1]) || !strcmp(ks, "*")) {
            PERR(ld, k, ld->name, "bad program name '%s'", ks);
            continue;
        }
        bool dup = false;
        for (unsigned i = 0; i < ld->n_defs; i++)
            dup |= !strcmp(ld->defs[i].name, ks);
        if (dup) {
            PERR(ld, k, ld->name, "program '%s' listed twice", ks);
            continue;
        }
        uint16_t ls;
        if (load_logsource(ld, v, ld->name, &ls) != 0)
            continue;
        if (ld->n_defs == ld->cap_defs) {
            unsigned cap = ld->cap_defs ? ld->cap_defs * 2 : 16;
            struct ps_progdef *nd = realloc(ld->defs, cap * sizeof *nd);
            unsigned *nl = realloc(ld->def_lines, cap * sizeof *nl);
            if (nd)
                ld->defs = nd;
            if (nl)
                ld->def_lines = nl;
            if (!nd || !nl) {
                PERR(ld, k, ld->name, "out of memory");
                return -1;
            }
            ld->cap_defs = cap;
        }
        ld->def_lines[ld->n_defs] = line_of(k);
        ld->defs[ld->n_defs].ls = ls;
        if (!(ld->defs[ld->n_defs].name = strdup(ks))) {
            PERR(ld, k, ld->name, "out of memory");
            return -1;
        }
        ld->n_defs++;
    }
    return 0;
}

static void pack_ld_free(struct pack_ld *ld)
{
    for (unsigned i = 0; i < ld->n; i++)
        parser_clear(&ld->p[i]);
    free(ld->p);
    for (unsigned i = 0; i < ld->n_defs; i++)
        free(ld->defs[i].name);
    free(ld->defs);
    free(ld->def_lines);
    free(ld->name);
    memset(ld, 0, sizeof *ld);
}

/* Loads one pack file into ld.  Returns 0 when it has no error. */
static int load_pack(struct pack_ld *ld)
{
    size_t len;
    char why[128];
    char *buf = source_read(ld->file, &len, why, sizeof why);
    if (!buf) {
        diag_add(ld->d, DIAG_ERROR, ld->file, 0, "", "%s", why);
        ld->errors++;
        return -1;
    }
    yaml_parser_t yp;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&yp)) {
        free(buf);
        diag_add(ld->d, DIAG_ERROR, ld->file, 0, "", "out of memory");
        ld->errors++;
        return -1;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&yp, &doc)) {
        diag_add(ld->d, DIAG_ERROR, ld->file, (unsigned)yp.problem_mark.line + 1, "", "YAML: %s%s%s",
                 yp.problem ? yp.problem : "syntax error", yp.context ? " " : "", yp.context ? yp.context : "");
        ld->errors++;
        yaml_parser_delete(&yp);
        free(buf);
        return -1;
    }
    ld->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t *pack_n = NULL, *progs_n = NULL, *parsers_n = NULL;
    if (!root) {
        diag_add(ld->d, DIAG_ERROR, ld->file, 1, "", "empty pack");
        ld->errors++;
        goto out;
    }
    if (root->type != YAML_MAPPING_NODE) {
        PERR(ld, root, "", "a pack is a mapping with 'pack', 'programs' and 'parsers'");
        goto out;
    }
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = node_at(ld, pr->key), *v = node_at(ld, pr->value);
        const char *ks = scalar(ld, k, "", "key");
        if (!ks)
            continue;
        if (!strcmp(ks, "pack"))
            pack_n = v;
        else if (!strcmp(ks, "programs"))
            progs_n = v;
        else if (!strcmp(ks, "parsers"))
            parsers_n = v;
        else if (strcmp(ks, "description"))
            PERR(ld, k, "", "unknown top-level key '%s' (pack, description, programs, parsers)", ks);
    }
    const char *pn = pack_n ? scalar(ld, pack_n, "", "pack") : NULL;
    if (!pack_n)
        PERR(ld, root, "", "missing 'pack: NAME'");
    else if (pn && !valid_ident(pn))
        PERR(ld, pack_n, "", "bad pack name '%s' (letters, digits, _ - .)", pn);
    ld->name = strdup(pn && valid_ident(pn) ? pn : "?");
    if (!ld->name) {
        ld->errors++;
        goto out;
    }
    if (progs_n)
        load_programs(ld, progs_n);
    if (parsers_n) {
        if (parsers_n->type != YAML_SEQUENCE_NODE)
            PERR(ld, parsers_n, ld->name, "'parsers' must be a list");
        else
            for (yaml_node_item_t *it = parsers_n->data.sequence.items.start; it < parsers_n->data.sequence.items.top;
                 it++)
                load_parser(ld, node_at(ld, *it));
    }
out:
    yaml_document_delete(&doc);
    yaml_parser_delete(&yp);
    free(buf);
    ld->doc = NULL;
    return ld->errors ? -1 : 0;
}

/* ---- building the dispatch -------------------------------------------------- */

static bool spec_matches_exact(const char *spec, const char *name)
{
    size_t sl = strlen(spec);
    if (sl && spec[sl - 1] == '*')
        return !strncmp(spec, name, sl - 1);
    return !strcmp(spec, name);
}

/* Does a parser written for spec apply to a program key (exact or prefix)? */
static bool spec_applies(const char *spec, const struct ps_prog *pg)
{
    if (!pg->prefix)
        return spec_matches_exact(spec, pg->name);
    size_t sl = strlen(spec);
    if (!sl || spec[sl - 1] != '*')
        return false;   /* an exact spec never covers a whole prefix */
    return sl - 1 <= pg->len && !strncmp(spec, pg->name, sl - 1);
}

static bool parser_applies(const struct ps_parser *p, const struct ps_prog *pg)
{
    for (unsigned i = 0; i < p->n_progs; i++)
        if (spec_applies(p->progs[i], pg))
            return true;
    return false;
}

static int prog_key_add(struct parser_set *ps, const char *spec)
{
    size_t sl = strlen(spec);
    bool prefix = sl && spec[sl - 1] == '*';
    for (unsigned i = 0; i < ps->n_prog; i++)
        if (!strcmp(ps->prog[i].name, spec))
            return 0;
    struct ps_prog *np = realloc(ps->prog, (ps->n_prog + 1) * sizeof *np);
    if (!np)
        return -1;
    ps->prog = np;
    struct ps_prog *pg = &ps->prog[ps->n_prog];
    memset(pg, 0, sizeof *pg);
    if (!(pg->name = strdup(spec)))
        return -1;
    pg->prefix = prefix;
    pg->len = (uint32_t)(prefix ? sl - 1 : sl);
    ps->n_prog++;
    return 0;
}

static int build_db(struct hsdb_cache *cache, const char *key, const struct parser_set *ps, struct ps_db *db,
                    const unsigned *idx, unsigned n, int *failed_parser, struct diag *d)
{
    *failed_parser = -1;
    if (!n)
        return 0;
    const char **exprs = malloc(n * sizeof *exprs);
    unsigned *flags = malloc(n * sizeof *flags), *ids = malloc(n * sizeof *ids);
    db->pidx = malloc(n * sizeof *db->pidx);
    if (!exprs || !flags || !ids || !db->pidx) {
        free(exprs);
        free(flags);
        free(ids);
        diag_add(d, DIAG_ERROR, "", 0, key, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < n; i++) {
        exprs[i] = tpl_regex(ps->p[idx[i]].tpl);
        flags[i] = HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL;
        ids[i] = i;
        db->pidx[i] = idx[i];
    }
    db->n = n;
    struct hsdb_patterns pat = {exprs, flags, ids, NULL, n};
    int failed;
    char err[256];
    int rc = hsdb_build(cache, key, &pat, &db->db, &failed, err, sizeof err);
    if (rc != 0) {
        if (failed >= 0 && (unsigned)failed < n) {
            const struct ps_parser *p = &ps->p[idx[failed]];
            *failed_parser = (int)idx[failed];
            diag_add(d, DIAG_ERROR, ps->load_files ? ps->load_files[p->pack] : "", p->line, p->name,
                     "Hyperscan rejected the template: %s", err);
        } else {
            diag_add(d, DIAG_ERROR, "", 0, key, "Hyperscan could not build the database: %s", err);
        }
    }
    free(exprs);
    free(flags);
    free(ids);
    return rc;
}

/* A walker-only bucket: the templates in order, each with its literal-prefix
 * prefilter, and which templates share leading steps (tpl_walk_memo). */
static int direct_bucket(const struct parser_set *ps, struct ps_db *db, const unsigned *idx, unsigned n)
{
    db->pidx = malloc(n * sizeof *db->pidx);
    db->cand = aligned_alloc(64, n * sizeof *db->cand);   /* a candidate per cache line */
    if (db->cand)
        memset(db->cand, 0, n * sizeof *db->cand);
    if (!db->pidx || !db->cand)
        return -1;
    memcpy(db->pidx, idx, n * sizeof *db->pidx);
    db->n = n;
    bool any_shared = false;
    for (unsigned k = 0; k < n; k++) {
        struct ps_cand *c = &db->cand[k];
        char pre[PS_PREFIX] = {0};
        uint8_t mask[PS_PREFIX] = {0};
        c->tpl = ps->p[idx[k]].tpl;
        c->pidx = idx[k];
        c->pre_len = (uint8_t)tpl_literal_prefix(c->tpl, pre, PS_PREFIX);
        memset(mask, 0xff, c->pre_len);
        memcpy(c->pre, pre, sizeof c->pre);
        memcpy(c->pre_mask, mask, sizeof c->pre_mask);
        char sb[PS_SUFFIX], suf[PS_SUFFIX] = {0};
        uint8_t smask[PS_SUFFIX] = {0};
        c->suf_len = (uint8_t)tpl_literal_suffix(c->tpl, sb, PS_SUFFIX);
        memcpy(suf + PS_SUFFIX - c->suf_len, sb, c->suf_len);
        memset(smask + PS_SUFFIX - c->suf_len, 0xff, c->suf_len);
        memcpy(&c->suf, suf, sizeof c->suf);
        memcpy(&c->suf_mask, smask, sizeof c->suf_mask);
        for (unsigned j = k + 1; j < n; j++)
            any_shared |= tpl_shared_steps(c->tpl, ps->p[idx[j]].tpl) > 0;
    }
    if (any_shared) {
        if (!(db->shared = malloc((size_t)n * n)))
            return -1;
        for (unsigned k = 0; k < n; k++)
            for (unsigned j = 0; j < n; j++) {
                unsigned sh = tpl_shared_steps(db->cand[k].tpl, db->cand[j].tpl);
                db->shared[k * n + j] = (uint8_t)(sh > 255 ? 255 : sh);
            }
    }
    return 0;
}

/* Splits the template list idx[0..n) (priority order) by first byte and
 * builds one database per distinct list. */
static int build_buckets(struct hsdb_cache *cache, const char *key, const struct parser_set *ps,
                         struct ps_buckets *b, const unsigned *idx, unsigned n, int *failed_parser, struct diag *d)
{
    memset(b, 0, sizeof *b);
    *failed_parser = -1;
    if (!n)
        return 0;
    uint8_t (*first)[32] = malloc(n * sizeof *first);
    unsigned *lists = malloc(256 * (size_t)n * sizeof *lists);   /* lists[byte * n + k] */
    unsigned *len = calloc(256, sizeof *len);
    int *owner = malloc(256 * sizeof *owner);                      /* byte -> db index */
    b->dbs = calloc(256, sizeof *b->dbs);
    int rc = -1;
    if (!first || !lists || !len || !owner || !b->dbs) {
        diag_add(d, DIAG_ERROR, "", 0, key, "out of memory");
        goto out;
    }
    for (unsigned k = 0; k < n; k++)
        tpl_first_bytes(ps->p[idx[k]].tpl, first[k]);
    for (unsigned c = 0; c < 256; c++) {
        owner[c] = -1;
        for (unsigned k = 0; k < n; k++)
            if (first[k][c >> 3] & (1u << (c & 7)))
                lists[c * n + len[c]++] = idx[k];
    }
    for (unsigned c = 0; c < 256; c++) {
        if (!len[c])
            continue;
        for (unsigned o = 0; o < c && owner[c] < 0; o++)
            if (len[o] == len[c] && !memcmp(&lists[o * n], &lists[c * n], len[c] * sizeof *lists))
                owner[c] = owner[o];
        if (owner[c] >= 0)
            continue;
        struct ps_db *db = &b->dbs[b->n_dbs++];
        if (len[c] <= PS_DIRECT_MAX) {   /* walkers only: no database */
            if (direct_bucket(ps, db, &lists[c * n], len[c]) != 0) {
                diag_add(d, DIAG_ERROR, "", 0, key, "out of memory");
                goto out;
            }
        } else {
            char k2[PS_PROG_MAX + 32];
            snprintf(k2, sizeof k2, "%s#%02x", key, c);
            if (build_db(cache, k2, ps, db, &lists[c * n], len[c], failed_parser, d) != 0)
                goto out;   /* cleared with the rest */
        }
        owner[c] = (int)(b->n_dbs - 1);
    }
    for (unsigned c = 0; c < 256; c++)
        b->by_byte[c] = owner[c] >= 0 ? &b->dbs[owner[c]] : NULL;
    rc = 0;
out:
    free(first);
    free(lists);
    free(len);
    free(owner);
    return rc;
}

static int cmp_prefix_len(const void *a, const void *b, void *arg)
{
    const struct parser_set *ps = arg;
    uint32_t la = ps->prog[*(const unsigned *)a].len, lb = ps->prog[*(const unsigned *)b].len;
    return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Builds program entries and databases from ps->p.  On a template Hyperscan
 * rejects, *bad_parser is set and -1 returned. */
static int build(struct parser_set *ps, struct hsdb_cache *cache, int *bad_parser, struct diag *d)
{
    *bad_parser = -1;
    progs_clear(ps);
    unsigned *idx = malloc((ps->n + 1) * sizeof *idx);
    if (!idx)
        return -1;
    unsigned **lists = NULL, *list_n = NULL;   /* template lists already built, per program */
    int rc = -1;
    /* program keys: every spec and every programs: entry */
    for (unsigned i = 0; i < ps->n; i++)
        for (unsigned k = 0; k < ps->p[i].n_progs; k++)
            if (prog_key_add(ps, ps->p[i].progs[k]) != 0)
                goto out;
    for (unsigned i = 0; i < ps->n_defs; i++)
        if (prog_key_add(ps, ps->defs[i].name) != 0)
            goto out;

    /* every template compiles in Hyperscan (checked once, in one database,
     * whether or not its buckets end up scanned) */
    unsigned n = 0;
    for (unsigned i = 0; i < ps->n; i++)
        if (ps->p[i].kind == K_TEMPLATE)
            idx[n++] = i;
    {
        struct ps_db check = {0};
        int r = build_db(cache, "parser/check", ps, &check, idx, n, bad_parser, d);
        db_clear(&check);
        if (r != 0)
            goto out;
    }

    /* the program-less buckets and generic list */
    n = 0;
    for (unsigned i = 0; i < ps->n; i++)
        if (!ps->p[i].n_progs && ps->p[i].kind == K_TEMPLATE)
            idx[n++] = i;
    if (build_buckets(cache, "parser/*", ps, &ps->any, idx, n, bad_parser, d) != 0)
        goto out;
    n = 0;
    for (unsigned i = 0; i < ps->n; i++)
        if (!ps->p[i].n_progs && ps->p[i].kind != K_TEMPLATE)
            idx[n++] = i;
    if (n && !(ps->any_gen = malloc(n * sizeof *ps->any_gen)))
        goto out;
    if (n)
        memcpy(ps->any_gen, idx, n * sizeof *idx);
    ps->n_any_gen = n;

    lists = calloc(ps->n_prog + 1, sizeof *lists);
    list_n = calloc(ps->n_prog + 1, sizeof *list_n);
    if (!lists || !list_n)
        goto out;
    for (unsigned g = 0; g < ps->n_prog; g++) {
        struct ps_prog *pg = &ps->prog[g];
        /* own templates first, then the program-less ones */
        unsigned own = 0;
        n = 0;
        for (unsigned i = 0; i < ps->n; i++)
            if (ps->p[i].kind == K_TEMPLATE && ps->p[i].n_progs && parser_applies(&ps->p[i], pg))
                idx[n++] = i;
        own = n;
        for (unsigned i = 0; i < ps->n; i++)
            if (ps->p[i].kind == K_TEMPLATE && !ps->p[i].n_progs)
                idx[n++] = i;
        pg->tb = &ps->any;
        if (own) {
            /* programs with the same template list (ASA, PIX, FTD ...) share databases */
            for (unsigned h = 0; h < g && pg->tb == &ps->any; h++)
                if (lists[h] && list_n[h] == n && !memcmp(lists[h], idx, n * sizeof *idx))
                    pg->tb = ps->prog[h].tb;
            if (pg->tb == &ps->any) {
                char key[PS_PROG_MAX + 16];
                snprintf(key, sizeof key, "parser/%s", pg->name);
                if (build_buckets(cache, key, ps, &pg->own, idx, n, bad_parser, d) != 0)
                    goto out;
                pg->tb = &pg->own;
                if (!(lists[g] = malloc(n * sizeof *idx)))
                    goto out;
                memcpy(lists[g], idx, n * sizeof *idx);
                list_n[g] = n;
            }
        }
        n = 0;
        for (unsigned i = 0; i < ps->n; i++)
            if (ps->p[i].kind != K_TEMPLATE && ps->p[i].n_progs && parser_applies(&ps->p[i], pg))
                idx[n++] = i;
        for (unsigned i = 0; i < ps->n; i++)
            if (ps->p[i].kind != K_TEMPLATE && !ps->p[i].n_progs)
                idx[n++] = i;
        if (n && !(pg->gen = malloc(n * sizeof *pg->gen)))
            goto out;
        if (n)
            memcpy(pg->gen, idx, n * sizeof *idx);
        pg->n_gen = n;
    }

    /* hash of exact names; prefix list, longest first */
    unsigned n_exact = 0;
    for (unsigned g = 0; g < ps->n_prog; g++)
        n_exact += !ps->prog[g].prefix;
    ps->nslots = 16;
    while (ps->nslots < n_exact * 4)   /* at most a quarter full: a miss ends after a probe or two */
        ps->nslots *= 2;
    ps->slot = calloc(ps->nslots, sizeof *ps->slot);
    ps->prefix = malloc((ps->n_prog + 1) * sizeof *ps->prefix);
    if (!ps->slot || !ps->prefix)
        goto out;
    for (unsigned g = 0; g < ps->n_prog; g++) {
        struct ps_prog *pg = &ps->prog[g];
        if (pg->prefix) {
            ps->prefix[ps->n_prefix++] = g;
            continue;
        }
        uint32_t h = prog_hash(pg->name, pg->len);
        unsigned j = 0;
        while (ps->slot[(h + j) & (ps->nslots - 1)].idx1)
            j++;
        ps->slot[(h + j) & (ps->nslots - 1)] = (struct ps_slot){g + 1, pg->len, name_head(pg->name, pg->len)};
    }
    qsort_r(ps->prefix, ps->n_prefix, sizeof *ps->prefix, cmp_prefix_len, ps);

    /* default log sources: exact definition, else the longest prefix definition */
    for (unsigned g = 0; g < ps->n_prog; g++) {
        struct ps_prog *pg = &ps->prog[g];
        size_t best = 0;
        bool found = false;
        for (unsigned i = 0; i < ps->n_defs; i++) {
            const char *dn = ps->defs[i].name;
            size_t dl = strlen(dn);
            bool dpre = dl && dn[dl - 1] == '*';
            bool ok;
            if (!strcmp(dn, pg->name))
                ok = true, dl = (size_t)-1;
            else if (dpre)
                ok = dl - 1 <= pg->len && !strncmp(dn, pg->name, dl - 1);
            else
                ok = false;
            if (ok && (!found || dl > best)) {
                best = dl;
                found = true;
                pg->default_ls = ps->defs[i].ls;
            }
        }
    }
    rc = 0;
out:
    if (lists)
        for (unsigned g = 0; g < ps->n_prog; g++)
            free(lists[g]);
    free(lists);
    free(list_n);
    free(idx);
    return rc;
}

/* ---- loading ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool has_yaml_ext(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && ((l > 5 && !strcmp(n + l - 5, ".yaml")) || (l > 4 && !strcmp(n + l - 4, ".yml")));
}

/* Expands paths into a list of files (directories: *.yaml, *.yml in name order). */
static int expand_paths(const char *const *paths, unsigned n_paths, char ***out, unsigned *n_out, struct diag *d)
{
    char **files = NULL;
    unsigned n = 0, cap = 0;
    for (unsigned i = 0; i < n_paths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            diag_add(d, DIAG_ERROR, paths[i], 0, "", "cannot open: %s", strerror(errno));
            continue;
        }
        char **add = NULL;
        unsigned n_add = 0;
        if (S_ISDIR(st.st_mode)) {
            DIR *dir = opendir(paths[i]);
            if (!dir) {
                diag_add(d, DIAG_ERROR, paths[i], 0, "", "cannot open: %s", strerror(errno));
                continue;
            }
            struct dirent *de;
            unsigned cap_add = 0;
            while ((de = readdir(dir))) {
                if (!has_yaml_ext(de->d_name))
                    continue;
                if (n_add == cap_add) {
                    cap_add = cap_add ? cap_add * 2 : 16;
                    char **na = realloc(add, cap_add * sizeof *na);
                    if (!na)
                        break;
                    add = na;
                }
                size_t l = strlen(paths[i]) + strlen(de->d_name) + 2;
                char *f = malloc(l);
                if (!f)
                    break;
                snprintf(f, l, "%s/%s", paths[i], de->d_name);
                add[n_add++] = f;
            }
            closedir(dir);
            qsort(add, n_add, sizeof *add, cmp_str);
        } else {
            add = malloc(sizeof *add);
            if (add && (add[0] = strdup(paths[i])))
                n_add = 1;
        }
        for (unsigned k = 0; k < n_add; k++) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                char **nf = realloc(files, cap * sizeof *nf);
                if (!nf) {
                    for (; k < n_add; k++)
                        free(add[k]);
                    break;
                }
                files = nf;
            }
            files[n++] = add[k];
        }
        free(add);
    }
    *out = files;
    *n_out = n;
    return 0;
}

static void remove_pack(struct parser_set *ps, unsigned pack)
{
    unsigned w = 0;
    for (unsigned i = 0; i < ps->n; i++) {
        if (ps->p[i].pack == pack)
            parser_clear(&ps->p[i]);
        else
            ps->p[w++] = ps->p[i];
    }
    ps->n = w;
}

int parser_set_load(const char *const *paths, unsigned n_paths, struct field_registry *reg,
                    struct logsource_table *lt, const struct parser_limits *lim, struct hsdb_cache *cache,
                    struct parser_set **out, struct diag *d)
{
    *out = NULL;
    unsigned max_parsers = lim && lim->max_parsers ? lim->max_parsers : PS_DEFAULT_MAX_PARSERS;
    unsigned max_fields = lim && lim->max_fields ? lim->max_fields : PS_DEFAULT_MAX_FIELDS;
    if (max_fields > FIELDS_HARD_MAX)
        max_fields = FIELDS_HARD_MAX;
    struct parser_set *ps = calloc(1, sizeof *ps);
    if (!ps) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory");
        return -1;
    }
    char **files = NULL;
    unsigned n_files = 0;
    expand_paths(paths, n_paths, &files, &n_files, d);
    char **pack_names = calloc(n_files + 1, sizeof *pack_names);
    char **pack_files = calloc(n_files + 1, sizeof *pack_files);
    int rc = -1;
    if (!pack_names || !pack_files) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory");
        goto out;
    }

    for (unsigned f = 0; f < n_files; f++) {
        struct pack_ld ld = {.file = files[f], .d = d, .reg = reg, .lt = lt, .max_fields = max_fields,
                             .pack_index = f};
        pack_files[f] = files[f];
        if (load_pack(&ld) == 0) {
            /* checks against the packs already in the set */
            for (unsigned g = 0; g < f; g++)
                if (pack_names[g] && !strcmp(pack_names[g], ld.name)) {
                    diag_add(d, DIAG_ERROR, ld.file, 1, ld.name, "pack name already loaded from %s", pack_files[g]);
                    ld.errors++;
                }
            for (unsigned i = 0; i < ld.n; i++)
                for (unsigned k = 0; k < ps->n; k++)
                    if (!strcmp(ld.p[i].name, ps->p[k].name)) {
                        diag_add(d, DIAG_ERROR, ld.file, ld.p[i].line, ld.p[i].name, "parser name already loaded");
                        ld.errors++;
                    }
            if (ps->n + ld.n > max_parsers) {
                diag_add(d, DIAG_ERROR, ld.file, 1, ld.name, "parser limit reached (max_parsers %u)", max_parsers);
                ld.errors++;
            }
        }
        if (ld.errors) {
            pack_ld_free(&ld);
            continue;
        }
        /* accept: move parsers and program definitions into the set */
        if (ps->n + ld.n > ps->cap) {
            unsigned cap = ps->cap ? ps->cap : 64;
            while (cap < ps->n + ld.n)
                cap *= 2;
            struct ps_parser *np = realloc(ps->p, cap * sizeof *np);
            if (!np) {
                pack_ld_free(&ld);
                diag_add(d, DIAG_ERROR, files[f], 0, "", "out of memory");
                goto out;
            }
            ps->p = np;
            ps->cap = cap;
        }
        for (unsigned i = 0; i < ld.n; i++) {
            ps->p[ps->n++] = ld.p[i];
            ld.p[i].name = NULL;
        }
        ld.n = 0;
        for (unsigned i = 0; i < ld.n_defs; i++) {
            int have = -1;
            for (unsigned k = 0; k < ps->n_defs; k++)
                if (!strcmp(ps->defs[k].name, ld.defs[i].name))
                    have = (int)k;
            if (have >= 0) {
                if (ps->defs[have].ls != ld.defs[i].ls)
                    diag_add(d, DIAG_WARNING, ld.file, ld.def_lines[i], ld.defs[i].name,
                             "program already has a log source from another pack; keeping the first");
                continue;
            }
            if (ps->n_defs == ps->cap_defs) {
                unsigned cap = ps->cap_defs ? ps->cap_defs * 2 : 32;
                struct ps_progdef *nd = realloc(ps->defs, cap * sizeof *nd);
                if (!nd)
                    continue;
                ps->defs = nd;
                ps->cap_defs = cap;
            }
            ps->defs[ps->n_defs++] = ld.defs[i];
            ld.defs[i].name = NULL;
        }
        ps->split_url |= ld.split_url;
        pack_names[f] = ld.name;
        ld.name = NULL;
        pack_ld_free(&ld);
    }
    if (ps->split_url && (field_registry_intern(reg, "url.original", &ps->fid_url_original) != 0 ||
                          field_registry_intern(reg, "url.path", &ps->fid_url_path) != 0 ||
                          field_registry_intern(reg, "url.query", &ps->fid_url_query) != 0)) {
        diag_add(d, DIAG_ERROR, "", 0, "", "field registry full");
        goto out;
    }

    /* databases: a template Hyperscan rejects takes its whole pack out */
    ps->load_files = pack_files;
    for (;;) {
        int bad;
        if (build(ps, cache, &bad, d) == 0)
            break;
        if (bad < 0)
            goto out;
        remove_pack(ps, ps->p[bad].pack);
    }
    ps->load_files = NULL;
    *out = ps;
    ps = NULL;
    rc = 0;
out:
    parser_set_free(ps);
    for (unsigned f = 0; f < n_files; f++) {
        free(files[f]);
        if (pack_names)
            free(pack_names[f]);
    }
    free(files);
    free(pack_names);
    free(pack_files);
    return rc;
}

static int scratch_for(const struct ps_buckets *b, hs_scratch_t **s)
{
    for (unsigned i = 0; i < b->n_dbs; i++)
        if (b->dbs[i].db && hs_alloc_scratch(b->dbs[i].db, s) != HS_SUCCESS)
            return -1;
    return 0;
}

int parser_set_alloc_scratch(const struct parser_set *ps, hs_scratch_t **s)
{
    if (scratch_for(&ps->any, s) != 0)
        return -1;
    for (unsigned g = 0; g < ps->n_prog; g++)
        if (scratch_for(&ps->prog[g].own, s) != 0)
            return -1;
    return 0;
}

/* ---- parse path ---------------------------------------------------------------- */

static const struct ps_prog *lookup_prog(const struct parser_set *ps, const char *name, uint32_t len)
{
    if (!name || !len)
        return NULL;
    if (ps->nslots) {
        uint32_t h = prog_hash(name, len);
        uint64_t head = name_head(name, len);
        for (unsigned j = 0; j < ps->nslots; j++) {
            const struct ps_slot *s = &ps->slot[(h + j) & (ps->nslots - 1)];
            if (!s->idx1)
                break;
            if (s->len != len || s->head != head)
                continue;
            const struct ps_prog *pg = &ps->prog[s->idx1 - 1];
            if (len <= 8 || same_bytes(pg->name + 8, name + 8, len - 8))
                return pg;
        }
    }
    for (unsigned i = 0; i < ps->n_prefix; i++) {
        const struct ps_prog *pg = &ps->prog[ps->prefix[i]];
        if (pg->len <= len && !memcmp(pg->name, name, pg->len))
            return pg;
    }
    return NULL;
}

struct scan_ctx {
    unsigned n;
    unsigned id[PS_MAX_CANDIDATES];
    unsigned skip;       /* id not to collect (its walker already failed); UINT_MAX none */
    bool stop_at_zero;
};

static int on_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    struct scan_ctx *c = ctx;
    if (id == c->skip)
        return 0;
    /* keep the lowest ids, sorted */
    unsigned pos = c->n;
    while (pos > 0 && c->id[pos - 1] > id)
        pos--;
    if (pos < PS_MAX_CANDIDATES) {
        unsigned last = c->n < PS_MAX_CANDIDATES ? c->n : PS_MAX_CANDIDATES - 1;
        for (unsigned k = last; k > pos; k--)
            c->id[k] = c->id[k - 1];
        c->id[pos] = id;
        if (c->n < PS_MAX_CANDIDATES)
            c->n++;
    }
    return c->stop_at_zero && id == 0;
}

/* event_fields_add_str inlined (the same limit and counting). */
static inline void add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = FIELD_STR;
    f->v.s.ptr = p;
    f->v.s.len = len;
}

static int finish(const struct parser_set *ps, unsigned pi, const struct ps_prog *pg, struct event_fields *ef,
                  uint16_t first)
{
    const struct ps_parser *p = &ps->p[pi];
    if (p->split_url) {
        for (unsigned i = first; i < ef->n; i++) {
            const struct field_value *f = &ef->f[i];
            if (f->id != ps->fid_url_original || f->type != FIELD_STR)
                continue;
            const char *s = f->v.s.ptr;
            uint32_t len = f->v.s.len;
            const char *q = memchr(s, '?', len);
            uint32_t pl = q ? (uint32_t)(q - s) : len;
            if (pl)
                add_str(ef, ps->fid_url_path, s, pl);
            if (q && len - pl > 1)
                add_str(ef, ps->fid_url_query, q + 1, len - pl - 1);
            break;
        }
    }
    if (ef->n + p->n_cvals <= ef->max) {   /* the constants fit: one copy, marked as such */
        for (unsigned i = 0; i < p->n_cvals; i++)
            ef->f[ef->n + i] = p->cvals[i];
        ef->const_src = ps;
        ef->const_first = ef->n;
        ef->const_n = (uint16_t)p->n_cvals;
        ef->n = (uint16_t)(ef->n + p->n_cvals);
    } else {
        for (unsigned i = 0; i < p->n_cvals; i++) {
            const struct field_value *c = &p->cvals[i];
            if (c->type == FIELD_INT)
                event_fields_add_int(ef, c->id, c->v.i);
            else
                event_fields_add_str(ef, c->id, c->v.s.ptr, c->v.s.len);
        }
    }
    ef->parser = (int32_t)pi;
    ef->logsource = p->has_ls ? p->logsource : pg ? pg->default_ls : 0;
    return (int)pi;
}

static inline bool blank(char c) { return c == ' ' || c == '\t'; }

/* The first PS_PREFIX bytes of the body with every blank run collapsed to one
 * ' ', zero-padded, as two words; returns how many bytes there are.  The
 * candidates' literal prefixes are compared with it. */
static unsigned norm_prefix(const char *m, uint32_t len, uint64_t out[2])
{
    char buf[PS_PREFIX] = {0};
    unsigned n = 0;
    uint32_t i = 0;
    /* the usual case: no tab and no two blanks in a row in the first 16 bytes: a copy */
    if (len >= PS_PREFIX) {
#ifdef __SSE2__
        __m128i x = _mm_loadu_si128((const __m128i *)m);
        unsigned sp = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')));
        unsigned tab = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\t')));
        bool plain = !tab && !(sp & (sp >> 1));
#else
        bool plain = true;
        for (unsigned k = 0; k < PS_PREFIX; k++)
            plain &= m[k] != '\t' && !(m[k] == ' ' && k + 1 < PS_PREFIX && m[k + 1] == ' ');
#endif
        if (plain) {
            memcpy(out, m, 16);
            return PS_PREFIX;
        }
    }
    while (i < len && n < PS_PREFIX) {
        if (blank(m[i])) {
            buf[n++] = ' ';
            while (i < len && blank(m[i]))
                i++;
        } else {
            buf[n++] = m[i++];
        }
    }
    memcpy(out, buf, 16);
    return n;
}

int parser_set_parse(const struct parser_set *ps, hs_scratch_t *s, const struct vigil_event *ev,
                     struct event_fields *ef)
{
    /* the message as event_fields_from_syslog gave it to rules (trailing
     * blanks already trimmed, the first field); ev's own when ef lacks it */
    const struct field_value *mf = ef->n ? &ef->f[0] : NULL;
    const char *m = ev->message.ptr;
    uint32_t len = !m ? 0
                   : mf && mf->id == FID_MESSAGE && mf->type == FIELD_STR && mf->v.s.ptr == m
                       ? mf->v.s.len
                       : field_trim_end(m, ev->message.len);
    while (len && blank(*m)) {
        m++;
        len--;
    }
    const struct ps_prog *pg = lookup_prog(ps, ev->process_name.ptr, ev->process_name.len);
    uint16_t first = ef->n;
    if (!len) {
        ef->logsource = pg ? pg->default_ls : 0;
        return -1;
    }
    const struct ps_db *db = (pg ? pg->tb : &ps->any)->by_byte[(uint8_t)m[0]];

    if (db && !db->db) {   /* small bucket: walkers in priority order */
        uint64_t pre[2], tail = 0;
        unsigned pre_len = UINT32_MAX;   /* computed for the first candidate with a prefix */
        if (len >= PS_SUFFIX)
            memcpy(&tail, m + len - PS_SUFFIX, sizeof tail);
        struct tpl_memo memo;   /* only memo.t is set up front */
        struct tpl_memo *mp = db->shared ? &memo : NULL;
        unsigned ref = 0;       /* the candidate memo.t belongs to */
        memo.t = NULL;
        for (unsigned k = 0; k < db->n; k++) {
            const struct ps_cand *c = &db->cand[k];
            if (c->pre_len) {
                if (pre_len == UINT32_MAX)
                    pre_len = norm_prefix(m, len, pre);
                if (pre_len < c->pre_len || ((pre[0] ^ c->pre[0]) & c->pre_mask[0]) ||
                    ((pre[1] ^ c->pre[1]) & c->pre_mask[1]))
                    continue;   /* its leading literal is not there: the walker would refuse at once */
            }
            if (c->suf_len && (len >= PS_SUFFIX ? ((tail ^ c->suf) & c->suf_mask) != 0
                                                : len < c->suf_len || memcmp(m + len - c->suf_len,
                                                                             (const char *)&c->suf + PS_SUFFIX - c->suf_len,
                                                                             c->suf_len)))
                continue;   /* it does not end the way the template must */
            unsigned sh = mp && memo.t ? db->shared[ref * db->n + k] : 0;
            if (tpl_walk_memo(c->tpl, m, len, ef, mp, sh) >= 0)
                return finish(ps, c->pidx, pg, ef, first);
            if (mp && memo.t == c->tpl)
                ref = k;
        }
    } else if (db) {
        struct scan_ctx c = {.n = 0, .skip = UINT32_MAX, .stop_at_zero = true};
        hs_error_t err = hs_scan(db->db, m, len, 0, s, on_match, &c);
        if (err == HS_SUCCESS || err == HS_SCAN_TERMINATED) {
            for (unsigned k = 0; k < c.n; k++) {
                unsigned pi = db->pidx[c.id[k]];
                if (tpl_walk(ps->p[pi].tpl, m, len, ef) >= 0)
                    return finish(ps, pi, pg, ef, first);
            }
            if (err == HS_SCAN_TERMINATED) {
                /* id 0 matched but its walker refused: look for the others */
                struct scan_ctx c2 = {.n = 0, .skip = 0, .stop_at_zero = false};
                if (hs_scan(db->db, m, len, 0, s, on_match, &c2) == HS_SUCCESS)
                    for (unsigned k = 0; k < c2.n; k++) {
                        unsigned pi = db->pidx[c2.id[k]];
                        if (tpl_walk(ps->p[pi].tpl, m, len, ef) >= 0)
                            return finish(ps, pi, pg, ef, first);
                    }
            }
        }
    }
    const unsigned *gen = pg ? pg->gen : ps->any_gen;
    unsigned n_gen = pg ? pg->n_gen : ps->n_any_gen;
    for (unsigned k = 0; k < n_gen; k++) {
        const struct ps_parser *p = &ps->p[gen[k]];
        if (genparse_parse(&p->gp, m, len, ef) >= 0)
            return finish(ps, gen[k], pg, ef, first);
    }
    ef->logsource = pg ? pg->default_ls : 0;
    return -1;
}
