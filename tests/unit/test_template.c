/* Templates: compile errors with columns, every type, walker bounds, lazy vs
 * greedy, and the invariant dispatch relies on: a message the walker accepts
 * is one the template's Hyperscan expression matches. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fields.h"
#include "engine/template.h"

static struct field_registry *reg;
static char *walked;
static struct event_fields ef;

static void setup(void)
{
    reg = field_registry_new();
    cr_assert_not_null(reg);
    cr_assert_eq(event_fields_init(&ef, 64, 4096), 0);
}

static void teardown(void)
{
    free(walked);
    walked = NULL;
    event_fields_free(&ef);
    field_registry_free(reg);
}

TestSuite(template, .init = setup, .fini = teardown);

static struct tpl *compile_ok(const char *src)
{
    struct tpl *t = NULL;
    struct tpl_error err;
    int rc = tpl_compile(src, reg, 0, &t, &err);
    cr_assert_eq(rc, 0, "'%s' did not compile: column %u: %s", src, err.column, err.msg);
    return t;
}

static void expect_error(const char *src, unsigned column, const char *needle)
{
    struct tpl *t = NULL;
    struct tpl_error err;
    cr_assert_eq(tpl_compile(src, reg, 0, &t, &err), -1, "'%s' compiled", src);
    cr_assert_null(t);
    cr_expect_eq(err.column, column, "'%s': column %u, want %u (%s)", src, err.column, column, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s': message '%s' lacks '%s'", src, err.msg, needle);
}

static int on_hit(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
    (void)id, (void)from, (void)to, (void)flags;
    *(int *)ctx = 1;
    return 0;
}

/* Does the template's expression match msg (Hyperscan, as the parser compiles it)? */
static bool hs_matches(const struct tpl *t, const char *msg, size_t len)
{
    hs_database_t *db;
    hs_compile_error_t *ce;
    hs_error_t rc = hs_compile(tpl_regex(t), HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL, HS_MODE_BLOCK, NULL, &db, &ce);
    cr_assert_eq(rc, HS_SUCCESS, "Hyperscan rejected %s: %s", tpl_regex(t), ce ? ce->message : "?");
    hs_scratch_t *s = NULL;
    cr_assert_eq(hs_alloc_scratch(db, &s), HS_SUCCESS);
    int hit = 0;
    hs_scan(db, len ? msg : "", (unsigned)len, 0, s, on_hit, &hit);
    hs_free_scratch(s);
    hs_free_database(db);
    return hit;
}

static const struct field_value *field(const char *name)
{
    int id = field_registry_find(reg, name);
    return id < 0 ? NULL : event_fields_get(&ef, (field_id)id);
}

static void expect_str(const char *name, const char *want)
{
    const struct field_value *f = field(name);
    if (!want) {
        cr_expect_null(f, "%s should be absent", name);
        return;
    }
    cr_assert_not_null(f, "%s absent, want '%s'", name, want);
    cr_assert_eq(f->type, FIELD_STR, "%s is not a string (type %d)", name, f->type);
    cr_expect(f->v.s.len == strlen(want) && !memcmp(f->v.s.ptr, want, f->v.s.len), "%s is '%.*s', want '%s'", name,
              (int)f->v.s.len, f->v.s.ptr, want);
}

static void expect_int(const char *name, int64_t want)
{
    const struct field_value *f = field(name);
    cr_assert_not_null(f, "%s absent", name);
    cr_assert_eq(f->type, FIELD_INT, "%s is not an integer (type %d)", name, f->type);
    cr_expect_eq(f->v.i, want, "%s is %lld, want %lld", name, (long long)f->v.i, (long long)want);
}

static void expect_ip(const char *name, const char *want)
{
    const struct field_value *f = field(name);
    cr_assert_not_null(f, "%s absent", name);
    cr_assert_eq(f->type, FIELD_IP, "%s is not an address (type %d)", name, f->type);
    char buf[64];
    inet_ntop(f->v.ip.family == 4 ? AF_INET : AF_INET6, f->v.ip.addr, buf, sizeof buf);
    cr_expect_str_eq(buf, want, "%s", name);
}

/* Walks msg (copied to an exact-size buffer, kept until the next walk so the
 * values can be checked) and checks the invariant. */
static int walk(const struct tpl *t, const char *msg)
{
    size_t len = strlen(msg);
    free(walked);
    char *buf = walked = malloc(len ? len : 1);
    memcpy(buf, msg, len);
    event_fields_reset(&ef);
    int rc = tpl_walk(t, buf, (uint32_t)len, &ef);
    if (rc >= 0)
        cr_expect(hs_matches(t, buf, len), "walker accepted what %s does not match: '%s'", tpl_regex(t), msg);
    else
        cr_expect_eq(ef.n, 0, "a refused walk left fields");
    return rc;
}

/* ---- compile errors ---------------------------------------------------- */

Test(template, errors_have_columns)
{
    expect_error("", 0, "empty");
    expect_error("   ", 0, "empty");
    expect_error("Failed %{FOO:user.name}", 10, "unknown type 'FOO'");
    expect_error("Failed %{USER:user name} from", 15, "bad field name");
    expect_error("x %{USER:a|b c}", 12, "bad field name 'b c'");
    expect_error("port %{INT:source.port", 6, "unterminated");
    expect_error("a %{INT:x}%{INT:y} b", 11, "literal between");
    expect_error("%{DATA:a}", 0, "would match every message");
    expect_error("%{GREEDYDATA}", 0, "would match every message");
    expect_error("a %{INT:x:float}", 11, "unknown conversion");
    expect_error("a %{} b", 3, "empty");
}

Test(template, field_limit_at_compile)
{
    struct tpl *t = NULL;
    struct tpl_error err;
    cr_assert_eq(tpl_compile("%{INT:a} %{INT:b} %{INT:c}", reg, 2, &t, &err), -1);
    cr_expect_eq(err.column, 25);
    cr_expect(strstr(err.msg, "more than 2") != NULL, "%s", err.msg);
    cr_assert_eq(tpl_compile("%{INT:a} %{INT:b} %{INT}", reg, 2, &t, &err), 0, "%s", err.msg);
    cr_expect_eq(tpl_captures(t), 2);
    tpl_free(t);
}

Test(template, escapes_and_regex)
{
    struct tpl *t = compile_ok("100%% done %%{x} %{INT:n}%");
    cr_expect_geq(walk(t, "100% done %{x} 42%"), 0);
    expect_int("n", 42);
    cr_expect_str_eq(tpl_regex(t), "^100\\%[ \\t]+done[ \\t]+\\%\\{x\\}[ \\t]+(?:[+-]?\\d+)\\%\\z");
    tpl_free(t);
    /* whitespace: runs match one or more blanks; the template is trimmed */
    t = compile_ok("  a  b %{WORD:w}  ");
    cr_expect_geq(walk(t, "a b c"), 0);
    cr_expect_geq(walk(t, "a \t   b\tc"), 0);
    expect_str("w", "c");
    cr_expect_eq(walk(t, "ab c"), -1);
    tpl_free(t);
}

/* ---- every type ---------------------------------------------------------- */

Test(template, every_type)
{
    static const struct {
        const char *tpl, *msg, *field, *want;   /* want: "i:N", "ip:A", "s:S", or NULL = must fail */
    } cases[] = {
        {"u=%{WORD:f} x", "u=ab_9 x", "f", "s:ab_9"},
        {"u=%{NOTSPACE:f} x", "u=a/b:c x", "f", "s:a/b:c"},
        {"u=%{USER:f} x", "u=j.doe@ex-1$ x", "f", "s:j.doe@ex-1$"},
        {"u=%{USERNAME:f} x", "u=DOM\\bob x", "f", "s:DOM\\bob"},
        {"h=%{HOSTNAME:f}.", "h=mail.example.com.", "f", "s:mail.example.com"},
        {"a=%{IPV4:f} x", "a=192.0.2.1 x", "f", "ip:192.0.2.1"},
        {"a=%{IPV4:f} x", "a=999.0.2.1 x", "f", NULL},
        {"a=%{IPV6:f} x", "a=2001:db8::1 x", "f", "ip:2001:db8::1"},
        {"a=%{IP:f}:%{INT:p}", "a=192.0.2.7:443", "f", "ip:192.0.2.7"},
        {"a=%{IP:f}:%{INT:p}", "a=::ffff:192.0.2.7:443", "f", "ip:::ffff:192.0.2.7"},
        {"a=%{IP:f} x", "a=nothost x", "f", NULL},
        {"a=%{IPORHOST:f} x", "a=192.0.2.9 x", "f", "ip:192.0.2.9"},
        {"a=%{IPORHOST:f} x", "a=www.example.com x", "f", "s:www.example.com"},
        {"n=%{INT:f} x", "n=-42 x", "f", "i:-42"},
        {"n=%{INT:f} x", "n=99999999999999999999 x", "f", "s:99999999999999999999"},
        {"n=%{PORT:f} x", "n=8080 x", "f", "i:8080"},
        {"n=%{POSINT:f} x", "n=7 x", "f", "i:7"},
        {"n=%{NUMBER:f} x", "n=3.25 x", "f", "s:3.25"},
        {"n=%{NUMBER:f}.", "n=12.", "f", "i:12"},
        {"n=%{BASE16NUM:f} x", "n=0x1F x", "f", "s:0x1F"},
        {"q=%{QUOTEDSTRING:f} x", "q=\"a \\\"b\\\" c\" x", "f", "s:a \\\"b\\\" c"},
        {"q=%{QUOTEDSTRING:f} x", "q='it''s' x", "f", NULL},
        {"m=%{MAC:f} x", "m=00:1b:21:3a:4f:5e x", "f", "s:00:1b:21:3a:4f:5e"},
        {"m=%{MAC:f} x", "m=0016.a421.94ef x", "f", "s:0016.a421.94ef"},
        {"m=%{MAC:f} x", "m=00:1b-21:3a:4f:5e x", "f", NULL},
        {"id=%{UUID:f}", "id=48420c8a-5c88-51e9-0424-a37f9e74621e", "f", "s:48420c8a-5c88-51e9-0424-a37f9e74621e"},
        {"GET %{URIPATH:f} H", "GET /a/b.php H", "f", "s:/a/b.php"},
        {"GET /a%{URIPARAM:f} H", "GET /a?x=1&y=2 H", "f", "s:?x=1&y=2"},
        {"GET %{URIPATHPARAM:f} H", "GET /a/b?x=%20 H", "f", "s:/a/b?x=%20"},
        {"t=%{SYSLOGTIMESTAMP:f} x", "t=Feb  4 23:05:57 x", "f", "s:Feb  4 23:05:57"},
        {"t=%{TIMESTAMP_ISO8601:f} x", "t=2020-03-23 06:47:42.801612-0700 x", "f", "s:2020-03-23 06:47:42.801612-0700"},
        {"t=%{TIMESTAMP_ISO8601:f} x", "t=2019-05-13T11:45:04Z x", "f", "s:2019-05-13T11:45:04Z"},
        {"[%{HTTPDATE:f}]", "[01/Jan/2024:10:00:00 +0000]", "f", "s:01/Jan/2024:10:00:00 +0000"},
        {"[%{HTTPDATE:f}]", "[1/Apr/2014:00:00:01 -0500]", "f", "s:1/Apr/2014:00:00:01 -0500"},
        {"[%{HTTPDERROR_DATE:f}]", "[Sat Jul 20 21:34:49.453232 2013]", "f", "s:Sat Jul 20 21:34:49.453232 2013"},
        {"%{HTTPDERROR_DATE:f} [pid", "Thu Sep  8 00:39:49 2016 [pid", "f", "s:Thu Sep  8 00:39:49 2016"},
        {"%{DATESTAMP:f} [", "2015/01/21 10:56:10 [", "f", "s:2015/01/21 10:56:10"},
        {"%{DATESTAMP:f} [", "2015/01-21 10:56:10 [", "f", NULL},
        {"a %{DATA:f} b", "a x y b", "f", "s:x y"},
        {"a %{GREEDYDATA:f}", "a  rest of it  ", "f", "s:rest of it"},
        /* conversions and fallbacks */
        {"b=%{NOTSPACE:f:int} x", "b=123 x", "f", "i:123"},
        {"b=%{NOTSPACE:f:int} x", "b=12k x", "f", "s:12k"},
        {"a=%{NOTSPACE:f:ip} x", "a=10.1.2.3 x", "f", "ip:10.1.2.3"},
        {"n=%{INT:f:str} x", "n=0042 x", "f", "s:0042"},
        {"a=%{IPORHOST:f|g} x", "a=10.1.2.3 x", "f", "ip:10.1.2.3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tpl *t = compile_ok(cases[i].tpl);
        int rc = walk(t, cases[i].msg);
        if (!cases[i].want) {
            cr_expect_eq(rc, -1, "'%s' accepted '%s'", cases[i].tpl, cases[i].msg);
        } else {
            cr_expect_geq(rc, 1, "'%s' refused '%s'", cases[i].tpl, cases[i].msg);
            if (rc >= 1) {
                const char *w = cases[i].want;
                if (!strncmp(w, "i:", 2))
                    expect_int(cases[i].field, strtoll(w + 2, NULL, 10));
                else if (!strncmp(w, "ip:", 3))
                    expect_ip(cases[i].field, w + 3);
                else
                    expect_str(cases[i].field, w + 2);
            }
        }
        tpl_free(t);
    }
    for (unsigned i = 0; i < tpl_type_count(); i++)
        cr_expect_not_null(tpl_type_regex(i), "%s", tpl_type_name(i));
}

Test(template, fallback_field_and_absent_values)
{
    struct tpl *t = compile_ok("%{IPORHOST:source.ip|source.domain} - %{NOTSPACE:user.name} %{NOTSPACE:bytes:int}");
    cr_assert_geq(walk(t, "crawler.example.org - - -"), 0);
    expect_str("source.domain", "crawler.example.org");
    cr_expect_null(field("source.ip"));
    cr_expect_null(field("user.name"), "'-' is not added");
    cr_expect_null(field("bytes"));
    cr_assert_geq(walk(t, "2001:db8::5 - bob 12"), 0);
    expect_ip("source.ip", "2001:db8::5");
    expect_str("user.name", "bob");
    expect_int("bytes", 12);
    tpl_free(t);
    /* an IP type with a fallback does not fail the walk */
    t = compile_ok("from %{IP:source.ip|source.address} port");
    cr_assert_geq(walk(t, "from dead:beef port"), 0);
    expect_str("source.address", "dead:beef");
    cr_expect_null(field("source.ip"));
    tpl_free(t);
}

/* ---- lazy, greedy, blanks ------------------------------------------------ */

Test(template, lazy_and_greedy)
{
    struct tpl *t = compile_ok("%{DATA:a}=%{GREEDYDATA:b}");
    cr_assert_geq(walk(t, "k=v=w"), 0);
    expect_str("a", "k");
    expect_str("b", "v=w");
    tpl_free(t);
    t = compile_ok("%{GREEDYDATA:a}=%{DATA:b}");
    cr_assert_geq(walk(t, "k=v=w"), 0);
    expect_str("a", "k=v");
    expect_str("b", "w");
    tpl_free(t);
    /* GREEDYDATA up to the last occurrence of the next literal */
    t = compile_ok("x %{GREEDYDATA:a} end");
    cr_assert_geq(walk(t, "x one end two end"), 0);
    expect_str("a", "one end two");
    tpl_free(t);
    /* a token whose next literal starts with one of its characters stops at the last place it fits */
    t = compile_ok("%{NOTSPACE:q}: reject: %{WORD:w}");
    cr_assert_geq(walk(t, "NOQUEUE: reject: RCPT"), 0);
    expect_str("q", "NOQUEUE");
    tpl_free(t);
}

Test(template, empty_data_between_blanks)
{
    /* sshd writes "Invalid user  from 1.2.3.4" for an empty user name */
    struct tpl *t = compile_ok("Invalid user %{DATA:user.name} from %{IP:source.ip}");
    cr_assert_geq(walk(t, "Invalid user  from 192.0.2.4"), 0);
    cr_expect_null(field("user.name"));
    expect_ip("source.ip", "192.0.2.4");
    cr_assert_geq(walk(t, "Invalid user a b from 192.0.2.4"), 0);
    expect_str("user.name", "a b");
    tpl_free(t);
}

Test(template, walker_refuses_what_hyperscan_matches)
{
    /* The expression matches with DATA = "1 y 2"; the lazy walker takes "1",
     * then INT "2", then finds " y 3" left over: it refuses cleanly. */
    struct tpl *t = compile_ok("x %{DATA:a} y %{INT:n}");
    const char *msg = "x 1 y 2 y 3";
    cr_expect(hs_matches(t, msg, strlen(msg)));
    event_fields_reset(&ef);
    event_fields_add_int(&ef, FID_PROCESS_PID, 7);
    uint16_t n0 = ef.n;
    uint32_t arena0 = ef.arena_used, drop0 = ef.dropped;
    cr_expect_eq(tpl_walk(t, msg, (uint32_t)strlen(msg), &ef), -1);
    cr_expect_eq(ef.n, n0, "fields added by a refused walk must be rolled back");
    cr_expect_eq(ef.arena_used, arena0);
    cr_expect_eq(ef.dropped, drop0);
    tpl_free(t);
}

Test(template, end_anchoring)
{
    struct tpl *t = compile_ok("Connection closed by %{IP:source.ip}");
    cr_expect_geq(walk(t, "Connection closed by 192.0.2.1"), 0);
    cr_expect_eq(walk(t, "Connection closed by 192.0.2.1 port 22"), -1);
    cr_expect(!hs_matches(t, "Connection closed by 192.0.2.1 port 22", 38));
    tpl_free(t);
    t = compile_ok("Connection closed by %{IP:source.ip}%{GREEDYDATA}");
    cr_expect_geq(walk(t, "Connection closed by 192.0.2.1 port 22"), 0);
    expect_ip("source.ip", "192.0.2.1");
    cr_expect_geq(walk(t, "Connection closed by 192.0.2.1: reason"), 0);
    expect_ip("source.ip", "192.0.2.1");
    tpl_free(t);
}

Test(template, field_limit_of_the_event)
{
    struct tpl *t = compile_ok("%{INT:a} %{INT:b} %{INT:c} %{INT:d}");
    struct event_fields small;
    cr_assert_eq(event_fields_init(&small, 2, 64), 0);
    int rc = tpl_walk(t, "1 2 3 4", 7, &small);
    cr_expect_eq(rc, 2, "two values fit");
    cr_expect_eq(small.n, 2);
    cr_expect_eq(small.dropped, 2, "the other two are counted");
    event_fields_free(&small);
    tpl_free(t);
}

Test(template, first_bytes)
{
    uint8_t set[32];
    struct tpl *t = compile_ok("Failed %{WORD:x}");
    tpl_first_bytes(t, set);
    for (unsigned c = 0; c < 256; c++)
        cr_expect_eq(!!(set[c >> 3] & (1u << (c & 7))), c == 'F', "byte %u", c);
    tpl_free(t);
    t = compile_ok("%{IP:a} x");
    tpl_first_bytes(t, set);
    cr_expect(set['1' >> 3] & (1u << ('1' & 7)));
    cr_expect(!(set['x' >> 3] & (1u << ('x' & 7))));
    tpl_free(t);
}

/* ---- bounds: every truncation, exact-size buffers ------------------------- */

Test(template, every_truncation_stays_in_bounds)
{
    static const struct {
        const char *tpl, *msg;
    } cases[] = {
        {"Failed %{NOTSPACE:m} for invalid user %{DATA:u} from %{IP:ip} port %{INT:p}%{GREEDYDATA}",
         "Failed password for invalid user admin from 192.0.2.10 port 40122 ssh2"},
        {"%{IPORHOST:ip|dom} %{NOTSPACE} %{NOTSPACE:u} [%{HTTPDATE}] \"%{WORD:m} %{NOTSPACE:url} "
         "HTTP/%{NUMBER:v:str}\" %{INT:s} %{NOTSPACE:b:int} \"%{DATA:r}\" \"%{DATA:ua}\"%{GREEDYDATA}",
         "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET /a/b.png?x=1 HTTP/1.1\" 200 203023 \"-\" \"Mozilla/5.0\""},
        {"[%{HTTPDERROR_DATE}] [%{DATA:mod}:%{WORD:lvl}] [pid %{DATA}] [client %{IP:ip}:%{INT:port}] %{GREEDYDATA:msg}",
         "[Sat Jul 20 21:34:49.453232 2013] [auth_basic:error] [pid 17512:tid 1401] [client 127.0.0.1:51386] AH01618: x"},
        {"q=%{QUOTEDSTRING:q} m=%{MAC:m} u=%{UUID:u} t=%{TIMESTAMP_ISO8601:t} d=%{DATESTAMP:d} s=%{SYSLOGTIMESTAMP:s}",
         "q=\"a\\\"b\" m=00:11:22:33:44:55 u=48420c8a-5c88-51e9-0424-a37f9e74621e t=2019-05-13T11:45:04.5+02:00 "
         "d=2015/01/21 10:56:10.25 s=Feb  4 23:05:57"},
        {"GET %{URIPATHPARAM:u} n=%{NUMBER:n} h=%{BASE16NUM:h} w=%{USER:w} h2=%{HOSTNAME:h2}.",
         "GET /p/a?b=c&d=%20 n=-1.5 h=0xFF w=bob h2=a.b.c."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tpl *t = compile_ok(cases[i].tpl);
        size_t n = strlen(cases[i].msg);
        cr_expect_geq(walk(t, cases[i].msg), 1, "full message of case %zu refused", i);
        for (size_t cut = 0; cut < n; cut++) {
            char *buf = malloc(cut ? cut : 1);   /* exact size: ASan sees any read past it */
            memcpy(buf, cases[i].msg, cut);
            event_fields_reset(&ef);
            int rc = tpl_walk(t, buf, (uint32_t)cut, &ef);
            if (rc >= 0)
                cr_expect(hs_matches(t, buf, cut), "case %zu cut %zu: walker accepted, expression did not", i, cut);
            /* every value lies inside the buffer */
            for (unsigned k = 0; k < ef.n; k++)
                if (ef.f[k].type == FIELD_STR)
                    cr_expect(ef.f[k].v.s.ptr >= buf && ef.f[k].v.s.ptr + ef.f[k].v.s.len <= buf + cut,
                              "case %zu cut %zu: value outside the message", i, cut);
            free(buf);
        }
        tpl_free(t);
    }
}

/* ---- the walker's fast paths (they must give what the plain walk gives) ---- */

/* The address parser field_parse_ip replaced: a NUL-terminated copy and inet_pton. */
static bool ref_parse_ip(const char *p, uint32_t len, struct vigil_ip *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    if (memchr(buf, ':', len)) {
        if (inet_pton(AF_INET6, buf, out->addr) != 1)
            return false;
        out->family = 6;
    } else {
        if (inet_pton(AF_INET, buf, out->addr) != 1)
            return false;
        out->family = 4;
    }
    return true;
}

static void same_ip_answer(const char *s, uint32_t len)
{
    struct vigil_ip a, b;
    bool x = ref_parse_ip(s, len, &a), y = field_parse_ip(s, len, &b);
    cr_assert_eq(x, y, "'%.*s': inet_pton %d, field_parse_ip %d", (int)len, s, x, y);
    if (x)
        cr_assert(!memcmp(&a, &b, sizeof a), "'%.*s': different address", (int)len, s);
}

Test(template, address_parser_matches_inet_pton)
{
    static const char *const fixed[] = {
        "1.2.3.4", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.02.3.4", "1.2.3", "1.2.3.4.", ".1.2.3.4",
        "1..2.3", "1.2.3.4.5", "1.2.3.04", "1.2.3.1000", "::", "::1", "1::", ":1", "1:", ":::", "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1::2::3", "12345::", "fe80::1%eth0",
        "::ffff:1.2.3.4", "::1.2.3.4", "1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:1.2.3", "::ffff:01.2.3.4",
        "2001:0db8:0000:f101:0000:0000:0000:0002", "2001:DB8::A", "g::1", "1.2.3.4:80", "[::1]", " 1.2.3.4", "1.2.3.4 ",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        same_ip_answer(fixed[i], (uint32_t)strlen(fixed[i]));
    /* a value holding a NUL: the old copy saw a C string ending there */
    same_ip_answer("1.2.3.4\0x", 9);
    same_ip_answer("::1\0:", 5);
    same_ip_answer("1.2\0.3.4", 8);
    /* generated: dotted quads with stray zeros, digits and separators; hex
     * groups and colons (a fixed LCG: the same strings every run) */
    uint32_t r = 12345;
#define NEXT() (r = r * 1103515245u + 12345u, (r >> 16) & 0x7fff)
    for (int it = 0; it < 200000; it++) {
        char s[64];
        uint32_t len = 0;
        if (it & 1) {
            unsigned parts = 3 + NEXT() % 3;
            for (unsigned k = 0; k < parts && len < 40; k++) {
                if (k)
                    s[len++] = NEXT() % 12 ? '.' : ":x."[NEXT() % 3];
                if (NEXT() % 9 == 0)
                    s[len++] = '0';
                len += (uint32_t)snprintf(s + len, sizeof s - len, "%u", NEXT() % 10 < 8 ? NEXT() % 256 : NEXT() % 1200);
            }
        } else {
            static const char alpha[] = "0123456789abcdefABCDEF::::...";
            len = NEXT() % 42;
            for (uint32_t k = 0; k < len; k++)
                s[k] = alpha[NEXT() % (sizeof alpha - 1)];
        }
        same_ip_answer(s, len);
    }
#undef NEXT
}

Test(template, literal_blank_runs_and_tabs)
{
    struct tpl *t = compile_ok("Failed password for %{USER:user.name} from %{IP:source.ip} port %{INT:p}");
    cr_expect_geq(walk(t, "Failed password for bob from 192.0.2.1 port 22"), 0);
    expect_str("user.name", "bob");
    /* a tab, and a run of blanks, where the template has one space */
    cr_expect_geq(walk(t, "Failed\tpassword  for bob from \t 192.0.2.1 port\t22"), 0);
    expect_str("user.name", "bob");
    expect_ip("source.ip", "192.0.2.1");
    expect_int("p", 22);
    cr_expect_eq(walk(t, "Failed passwordfor bob from 192.0.2.1 port 22"), -1);
    cr_expect_eq(walk(t, "Failed password for bob from 192.0.2.1 port"), -1);
    cr_expect_eq(walk(t, "Failed password fo"), -1);
    tpl_free(t);
    /* a literal longer than a word, cut anywhere by the end of the message */
    t = compile_ok("id %{WORD:w} has left the building for good %{INT:n}");
    const char *full = "id x has left the building for good 7";
    cr_expect_geq(walk(t, full), 0);
    for (size_t cut = 0; cut < strlen(full); cut++) {
        char m[64];
        memcpy(m, full, cut);
        m[cut] = '\0';
        cr_expect_eq(walk(t, m), -1, "cut at %zu", cut);
    }
    cr_expect_geq(walk(t, "id x has  left the\tbuilding for good 7"), 0);
    cr_expect_eq(walk(t, "id x has left the building for goods 7"), -1);
    tpl_free(t);
    /* a literal ending with a blank before DATA: the value starts after the run */
    t = compile_ok("user %{DATA:u} from %{WORD:w}");
    cr_expect_geq(walk(t, "user   alice from x"), 0);
    expect_str("u", "alice");
    tpl_free(t);
}

Test(template, integers_in_one_pass)
{
    struct tpl *t = compile_ok("%{INT:a} %{POSINT:b} %{PORT:c} %{INT:d|e} %{INT:f:str}");
    cr_expect_geq(walk(t, "-0 007 +12 5 -3"), 0);
    expect_int("a", 0);
    expect_int("b", 7);
    expect_int("c", 12);
    expect_int("d", 5);
    expect_str("f", "-3");
    cr_expect_geq(walk(t, "9223372036854775807 1 -9223372036854775808 99999999999999999999 0"), 0);
    expect_int("a", INT64_MAX);
    expect_int("c", INT64_MIN);
    expect_str("e", "99999999999999999999");   /* beyond int64: the fallback field, as a string */
    cr_expect_null(field("d"));
    cr_expect_geq(walk(t, "-9223372036854775809 123456789012345678 1 2 3"), 0);
    expect_str("a", "-9223372036854775809");
    expect_int("b", 123456789012345678);
    cr_expect_eq(walk(t, "+ 1 2 3 4"), -1);
    cr_expect_eq(walk(t, "1 -1 2 3 4"), -1, "POSINT takes no sign");
    tpl_free(t);
}

Test(template, literal_prefix)
{
    char buf[16];
    struct tpl *t = compile_ok("  Failed \t password for %{WORD:x}");
    unsigned n = tpl_literal_prefix(t, buf, sizeof buf);
    cr_expect_eq(n, 16);
    cr_expect(!memcmp(buf, "Failed password ", 16));
    cr_expect_eq(tpl_literal_prefix(t, buf, 4), 4);
    tpl_free(t);
    t = compile_ok("%{IP:a} x");
    cr_expect_eq(tpl_literal_prefix(t, buf, sizeof buf), 0);
    tpl_free(t);
}

/* The end a template must match at: the last blank-free run of its final
 * literal, none when it ends with a field or takes the rest of the message. */
Test(template, literal_suffix)
{
    char buf[8];
    struct tpl *t = compile_ok("pam_unix(%{DATA}): check pass;  user unknown  ");
    cr_expect_eq(tpl_literal_suffix(t, buf, sizeof buf), 7);
    cr_expect(!memcmp(buf, "unknown", 7));
    cr_expect_eq(tpl_literal_suffix(t, buf, 3), 3);
    cr_expect(!memcmp(buf, "own", 3), "the last bytes when the run is longer than cap");
    tpl_free(t);
    t = compile_ok("user %{WORD:u} does not exist in /etc/passwd");
    cr_expect_eq(tpl_literal_suffix(t, buf, sizeof buf), 8);
    cr_expect(!memcmp(buf, "c/passwd", 8));
    tpl_free(t);
    t = compile_ok("by %{USER:u}(uid=%{INT:id})");
    cr_expect_eq(tpl_literal_suffix(t, buf, sizeof buf), 1);
    cr_expect_eq(buf[0], ')');
    tpl_free(t);
    t = compile_ok("session closed for user %{USER:u}");
    cr_expect_eq(tpl_literal_suffix(t, buf, sizeof buf), 0);
    tpl_free(t);
    t = compile_ok("Connection closed by %{IP:ip} [preauth]%{GREEDYDATA}");
    cr_expect_eq(tpl_literal_suffix(t, buf, sizeof buf), 0);
    tpl_free(t);
}

/* Walking a group in order with the memo (as parser dispatch does) gives the
 * winner and the fields of walking each template on its own. */
Test(template, memo_resumes_and_propagates)
{
    static const char *const group[] = {
        "[%{INT:n}] [%{DATA:mod}:%{WORD:lvl}] [pid %{DATA}] [client %{IP:ip}:%{INT:port}] %{GREEDYDATA:msg}",
        "[%{INT:n}] [%{DATA:mod}:%{WORD:lvl}] [pid %{DATA}] [client %{IP:ip}] %{GREEDYDATA:msg}",
        "[%{INT:n}] [%{DATA:module}:%{WORD:level}] [pid %{DATA}] %{GREEDYDATA:message}",
        "[%{INT:n:str}] [%{WORD:lvl}] [client %{IP:ip}] %{GREEDYDATA:msg}",
        "[%{INT:n}] [%{WORD:lvl}] %{GREEDYDATA:msg}",
        "[%{INT:n}] %{GREEDYDATA:rest}",
    };
    enum { N = sizeof group / sizeof group[0] };
    static const char *const msgs[] = {
        "[1] [core:error] [pid 7:tid 9] [client 192.0.2.1:5000] AH0001: x",
        "[1] [core:error] [pid 7:tid 9] [client 192.0.2.1] AH0001: x",
        "[1] [core:error] [pid 7] File does not exist",
        "[2] [error] [client 192.0.2.9] File does not exist",
        "[2] [notice] workerEnv.init() ok",
        "[3] something else",
        "[x] nothing",
        "[1] [a:b] [pid 1] [client 300.1.1.1:5] y",
    };
    struct tpl *t[N];
    for (unsigned k = 0; k < N; k++)
        t[k] = compile_ok(group[k]);
    cr_expect_eq(tpl_shared_steps(t[0], t[1]), 9, "up to \"] [client \": the IP's next literal differs");
    cr_expect_eq(tpl_shared_steps(t[1], t[2]), 7);
    cr_expect_eq(tpl_shared_steps(t[2], t[0]), 7, "capture names may differ");
    cr_expect_eq(tpl_shared_steps(t[3], t[4]), 3, "INT:str and INT walk the same; WORD's next literal differs");
    cr_expect_eq(tpl_shared_steps(t[0], t[5]), 1);
    cr_expect_eq(tpl_shared_steps(t[0], NULL), 0);
    struct event_fields ref;
    cr_assert_eq(event_fields_init(&ref, 64, 64), 0);
    for (size_t m = 0; m < sizeof msgs / sizeof msgs[0]; m++) {
        uint32_t len = (uint32_t)strlen(msgs[m]);
        int want = -1;
        event_fields_reset(&ref);
        for (unsigned k = 0; k < N && want < 0; k++)
            if (tpl_walk(t[k], msgs[m], len, &ref) >= 0)
                want = (int)k;
        struct tpl_memo memo;
        memo.t = NULL;
        unsigned rk = 0;
        int got = -1;
        event_fields_reset(&ef);
        for (unsigned k = 0; k < N && got < 0; k++) {
            unsigned sh = memo.t ? tpl_shared_steps(t[rk], t[k]) : 0;
            if (tpl_walk_memo(t[k], msgs[m], len, &ef, &memo, sh) >= 0)
                got = (int)k;
            else if (memo.t == t[k])
                rk = k;
            else
                cr_expect_eq(ef.n, 0, "a skipped template added fields");
        }
        cr_expect_eq(got, want, "message %zu: memo walk chose %d, plain walk %d", m, got, want);
        cr_assert_eq(ef.n, ref.n, "message %zu", m);
        for (unsigned i = 0; i < ef.n; i++) {
            const struct field_value *a = &ef.f[i], *b = &ref.f[i];
            cr_expect(a->id == b->id && a->type == b->type, "message %zu field %u", m, i);
            if (a->type == FIELD_STR)
                cr_expect(a->v.s.ptr == b->v.s.ptr && a->v.s.len == b->v.s.len, "message %zu field %u", m, i);
            else if (a->type == FIELD_INT)
                cr_expect_eq(a->v.i, b->v.i);
            else
                cr_expect(!memcmp(&a->v.ip, &b->v.ip, sizeof a->v.ip));
        }
    }
    /* a template that failed inside the shared steps makes the next one fail
     * at once, and the memo still describes the first */
    struct tpl_memo memo;
    memo.t = NULL;
    const char *bad = "[x] [core:error] y";
    event_fields_reset(&ef);
    cr_expect_eq(tpl_walk_memo(t[0], bad, (uint32_t)strlen(bad), &ef, &memo, 0), -1);
    cr_expect_eq(memo.t, t[0]);
    cr_expect_eq(memo.fail, 1, "INT refused 'x'");
    cr_expect_eq(tpl_walk_memo(t[1], bad, (uint32_t)strlen(bad), &ef, &memo, tpl_shared_steps(t[0], t[1])), -1);
    cr_expect_eq(memo.t, t[0]);
    event_fields_free(&ref);
    for (unsigned k = 0; k < N; k++)
        tpl_free(t[k]);
}
