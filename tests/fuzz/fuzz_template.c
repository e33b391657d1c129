/* libFuzzer target for the template compiler and walker.
 *
 * Input: [selector][template bytes ...] 0x00 [message bytes ...]
 *   - selector < 0x60: a fixed template from the list below (selector % N),
 *     the rest of the input (after the selector) is the message;
 *   - 0x60 <= selector < 0x80: the rest is a message for the generic parsers
 *     (kv, cef, leef, json: selector & 3), whose values must also stay inside
 *     the message or the arena;
 *   - selector >= 0x80: the bytes up to the first 0x00 are a template
 *     (compiled; errors are fine), the bytes after it the message.
 * The template's expression is compiled with Hyperscan exactly as the parser
 * does (SINGLEMATCH | DOTALL) and the message scanned; the walker runs on an
 * exact-size copy of the message.  Checks:
 *   - the walker never reads outside the message (ASan) and every string
 *     value it adds lies inside it;
 *   - a refused walk leaves the fields as they were;
 *   - a message the walker accepts is one the expression matches (the
 *     invariant parser dispatch relies on);
 *   - a generated expression that Hyperscan rejects is a bug.
 *
 * Links: engine/template.c engine/genparse.c engine/fields.c and libhs, e.g.
 *   clang -fsanitize=fuzzer,address,undefined -I. engine/template.c engine/genparse.c \
 *         engine/fields.c tests/fuzz/fuzz_template.c -lhs
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hs/hs.h>

#include "engine/fields.h"
#include "engine/genparse.h"
#include "engine/template.h"

static const char *const fixed[] = {
    "Failed %{NOTSPACE:m} for invalid user %{DATA:u} from %{IP:ip} port %{INT:p}%{GREEDYDATA}",
    "Failed %{NOTSPACE:m} for %{DATA:u} from %{IP:ip} port %{INT:p}%{GREEDYDATA}",
    "%{IPORHOST:ip|dom} %{NOTSPACE} %{NOTSPACE:u} [%{HTTPDATE}] \"%{WORD:m} %{NOTSPACE:url} HTTP/%{NUMBER:v:str}\" "
    "%{INT:s} %{NOTSPACE:b:int} \"%{DATA:r}\" \"%{DATA:ua}\"%{GREEDYDATA}",
    "[%{HTTPDERROR_DATE}] [%{DATA:mod}:%{WORD:lvl}] [pid %{DATA}] [client %{IP:ip}:%{INT:port}] %{GREEDYDATA:msg}",
    "%{USER:u} : TTY=%{NOTSPACE:t} ; PWD=%{DATA:d} ; USER=%{USER:tu} ; COMMAND=%{GREEDYDATA:c}",
    "Deny %{WORD:pr} src %{DATA:i1}:%{IP:s}/%{INT:sp} dst %{DATA:i2}:%{IP:d}/%{INT:dp} by access-group "
    "%{QUOTEDSTRING:acl}%{GREEDYDATA}",
    "%{DATESTAMP} [%{WORD:l}] %{INT:pid}#%{INT:tid}: *%{INT:c} %{DATA:e}, client: %{IP:ip}, server: %{GREEDYDATA:s}",
    "%{GREEDYDATA:a}=%{DATA:b} %{MAC:m} %{UUID:u} %{TIMESTAMP_ISO8601:t} %{SYSLOGTIMESTAMP:st} x",
    "%{NOTSPACE:q}: %{NOTSPACE:a}: %{WORD:c} from %{HOSTNAME:h}[%{IP:ip}]: %{INT:s} %{NOTSPACE:dsn} %{DATA:r}; "
    "from=<%{DATA:f}> to=<%{DATA:t}>%{GREEDYDATA}",
    "GET %{URIPATHPARAM:u} %{BASE16NUM:h} %{POSINT:p} %{IPV4:a} %{IPV6:b} %{URIPATH:c}%{GREEDYDATA}",
    "x %{DATA:a} y %{INT:n}",
    "%{WORD:w} %{IP:ip}%{GREEDYDATA}",
};
#define N_FIXED (sizeof fixed / sizeof fixed[0])

static struct field_registry *reg;
static struct event_fields ef;
static hs_scratch_t *scratch;

struct compiled {
    struct tpl *t;
    hs_database_t *db;
};
static struct compiled fixed_c[N_FIXED];
static struct genparse gp[4];

static void setup_generic(void)
{
    static const char *const keys[] = {"src",     "dst",       "spt",   "msg",          "user",     "a.b",
                                       "a.b.c",   "deviceVendor", "name", "signatureId", "usrName",  "tags",
                                       "version", "severity",  "act",   "x",            "srcPort",  "k"};
    for (int f = 0; f < 4; f++) {
        genparse_init(&gp[f], (enum gp_format)(f + 1));
        gp[f].max_fields = 16;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            char name[64];
            field_id fid, alt;
            snprintf(name, sizeof name, "g.%s%s", keys[k], k % 3 == 0 ? ".ip" : k % 3 == 1 ? ".port" : "");
            if (field_registry_intern(reg, name, &fid) != 0 || field_registry_intern(reg, "g.alt", &alt) != 0)
                abort();
            genparse_map(&gp[f], keys[k], fid, name, -1, k % 2 ? (int)alt : -1);
            if (k % 4 == 0)
                genparse_lowercase(&gp[f], fid);
        }
        field_id ff;
        field_registry_intern(reg, "g.flag", &ff);
        genparse_flag(&gp[f], "SYN", ff);
        gp[f].has_prefix = true;
        gp[f].prefix_fid = ff;
        gp[f].min_pairs = 1;
    }
}

static void run_generic(int f, const uint8_t *msg, size_t len)
{
    char *buf = malloc(len ? len : 1);
    if (!buf)
        return;
    memcpy(buf, msg, len);
    event_fields_reset(&ef);
    int rc = genparse_parse(&gp[f], buf, (uint32_t)len, &ef);
    if (rc < 0 && (ef.n != 0 || ef.arena_used != 0))
        abort();
    for (unsigned i = 0; i < ef.n; i++) {
        const struct field_value *v = &ef.f[i];
        if (v->type != FIELD_STR)
            continue;
        bool in_msg = v->v.s.ptr >= buf && v->v.s.ptr + v->v.s.len <= buf + len;
        bool in_arena = v->v.s.ptr >= ef.arena && v->v.s.ptr + v->v.s.len <= ef.arena + ef.arena_used;
        if (!in_msg && !in_arena)
            abort();
    }
    free(buf);
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
    (void)id, (void)from, (void)to, (void)flags;
    *(int *)ctx = 1;
    return 1;
}

static int compile(const char *src, struct compiled *c)
{
    struct tpl_error err;
    c->t = NULL;
    c->db = NULL;
    if (tpl_compile(src, reg, 0, &c->t, &err) != 0) {
        if (err.column > strlen(src) + 1)
            abort();   /* a column past the template */
        return -1;
    }
    hs_compile_error_t *ce = NULL;
    if (hs_compile(tpl_regex(c->t), HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL, HS_MODE_BLOCK, NULL, &c->db, &ce) !=
        HS_SUCCESS) {
        /* Hyperscan may refuse a huge expression; anything else is a generation bug */
        if (!ce || !strstr(ce->message, "too large")) {
            fprintf(stderr, "Hyperscan rejected %s: %s\n", tpl_regex(c->t), ce ? ce->message : "?");
            abort();
        }
        hs_free_compile_error(ce);
        tpl_free(c->t);
        c->t = NULL;
        return -1;
    }
    if (hs_alloc_scratch(c->db, &scratch) != HS_SUCCESS)
        abort();
    return 0;
}

static void run(const struct compiled *c, const uint8_t *msg, size_t len)
{
    char *buf = malloc(len ? len : 1);   /* exact size */
    if (!buf)
        return;
    memcpy(buf, msg, len);
    event_fields_reset(&ef);
    event_fields_add_int(&ef, FID_PROCESS_PID, 1);
    uint16_t n0 = ef.n;
    int rc = tpl_walk(c->t, buf, (uint32_t)len, &ef);
    if (rc < 0) {
        if (ef.n != n0 || ef.arena_used != 0)
            abort();
    } else {
        for (unsigned i = n0; i < ef.n; i++) {
            const struct field_value *f = &ef.f[i];
            if (f->type == FIELD_STR && (f->v.s.ptr < buf || f->v.s.ptr + f->v.s.len > buf + len))
                abort();
        }
        int hit = 0;
        hs_scan(c->db, len ? buf : "", (unsigned)len, 0, scratch, on_match, &hit);
        if (!hit) {
            fprintf(stderr, "walker accepted what %s does not match: '%.*s'\n", tpl_regex(c->t), (int)len, buf);
            abort();
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!reg) {
        reg = field_registry_new();
        if (!reg || event_fields_init(&ef, 64, 1024) != 0)
            abort();
        for (size_t i = 0; i < N_FIXED; i++)
            if (compile(fixed[i], &fixed_c[i]) != 0)
                abort();
        setup_generic();
    }
    if (!size)
        return 0;
    uint8_t sel = data[0];
    if (sel >= 0x60 && sel < 0x80) {
        run_generic(sel & 3, data + 1, size - 1);
        return 0;
    }
    if (sel < 0x60) {
        run(&fixed_c[sel % N_FIXED], data + 1, size - 1);
        return 0;
    }
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t tl = nul ? (size_t)(nul - data - 1) : size - 1;
    if (tl > TPL_MAX_LEN)
        return 0;
    char *src = malloc(tl + 1);
    if (!src)
        return 0;
    memcpy(src, data + 1, tl);
    src[tl] = '\0';
    struct compiled c;
    if (compile(src, &c) == 0) {
        const uint8_t *msg = nul ? nul + 1 : data + size;
        run(&c, msg, (size_t)(data + size - msg));
        tpl_free(c.t);
        hs_free_database(c.db);
    }
    free(src);
    /* The registry fills up with fuzzed names: start a fresh one now and then
     * (fixed templates keep their ids, which the new registry re-interns). */
    if (field_registry_count(reg) > FIELD_REGISTRY_MAX - 64) {
        field_registry_free(reg);
        reg = field_registry_new();
        for (int f = 0; f < 4; f++)
            genparse_free(&gp[f]);
        setup_generic();
        for (size_t i = 0; i < N_FIXED; i++) {
            tpl_free(fixed_c[i].t);
            hs_free_database(fixed_c[i].db);
            if (compile(fixed[i], &fixed_c[i]) != 0)
                abort();
        }
    }
    return 0;
}
