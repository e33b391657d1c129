/* Sigma loader (engine/sigma.h): rule metadata, every modifier, values,
 * wildcards and escapes, keyword lists, the condition grammar, multi-document
 * files, and the errors (file, line, rule id, construct) for what Vigil does
 * not support. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/diag.h"
#include "engine/sigma.h"

static struct diag d;
static struct sigma_rule **rules;
static unsigned n_rules;
static struct sigma_stats stats;

static void setup(void) { diag_init(&d); }

static void teardown(void)
{
    sigma_rules_free(rules, n_rules);
    rules = NULL;
    n_rules = 0;
    memset(&stats, 0, sizeof stats);
    diag_free(&d);
}

TestSuite(sigma, .init = setup, .fini = teardown);

static int parse(const char *yaml)
{
    return sigma_parse_buffer(yaml, strlen(yaml), "t.yml", &rules, &n_rules, &stats, &d);
}

/* Parses a one-rule document and returns the rule; fails on any error. */
static struct sigma_rule *one(const char *yaml)
{
    parse(yaml);
    if (d.errors)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors, 0, "unexpected error: %s", d.n ? d.entries[0].msg : "");
    cr_assert_eq(n_rules, 1);
    return rules[0];
}

/* Expects exactly one error whose message contains want; checks its line and what. */
static void expect_error(const char *yaml, unsigned line, const char *what, const char *want)
{
    parse(yaml);
    cr_assert_eq(d.errors, 1, "want one error (%s), got %u", want, d.errors);
    const struct diag_entry *e = NULL;
    for (unsigned i = 0; i < d.n; i++)
        if (d.entries[i].severity == DIAG_ERROR)
            e = &d.entries[i];
    cr_assert_not_null(e);
    cr_expect_str_eq(e->file, "t.yml");
    cr_expect(strstr(e->msg, want) != NULL, "message '%s' lacks '%s'", e->msg, want);
    if (line)
        cr_expect_eq(e->line, line, "line %u want %u (%s)", e->line, line, e->msg);
    if (what)
        cr_expect_str_eq(e->what, what);
    cr_expect_eq(n_rules, 0);
}

#define HEAD                                                                                          \
    "title: T\n"                                                                                      \
    "id: 11111111-2222-3333-4444-555555555555\n"                                                      \
    "logsource:\n"                                                                                    \
    "    product: linux\n"                                                                            \
    "detection:\n"
#define RID "11111111-2222-3333-4444-555555555555"

/* ---- metadata ---- */

Test(sigma, metadata)
{
    struct sigma_rule *r = one("title: SSH brute force\n"
                               "id: 0e95725d-7320-415d-80f7-004da920fc11\n"
                               "status: test\n"
                               "description: ignored\n"
                               "author: Vigil\n"
                               "level: HIGH\n"
                               "tags:\n  - attack.credential-access\n  - attack.t1110\n"
                               "logsource:\n  product: linux\n  service: sshd\n  definition: whatever\n"
                               "detection:\n  keywords:\n    - 'Failed password'\n  condition: keywords\n"
                               "falsepositives:\n  - none\n");
    cr_expect_str_eq(r->title, "SSH brute force");
    cr_expect_str_eq(r->id, "0e95725d-7320-415d-80f7-004da920fc11");
    cr_expect_str_eq(r->status, "test");
    cr_expect_str_eq(r->author, "Vigil");
    cr_expect_eq(r->level, 4);
    cr_expect_eq(r->ntags, 2);
    cr_expect_str_eq(r->tags[1], "attack.t1110");
    cr_expect_str_eq(r->ls.product, "linux");
    cr_expect_str_eq(r->ls.service, "sshd");
    cr_expect_str_eq(r->ls.category, "");
    cr_expect_eq(r->line, 1);
    cr_expect_eq(stats.rules, 1);
    cr_expect_eq(stats.docs, 1);
}

Test(sigma, levels)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    for (unsigned i = 0; i < 5; i++) {
        char y[512];
        snprintf(y, sizeof y, HEAD "  k: [x]\n  condition: k\nlevel: %s\n", names[i]);
        parse(y);
    }
    cr_assert_eq(n_rules, 5);
    for (unsigned i = 0; i < 5; i++)
        cr_expect_eq(rules[i]->level, i + 1);
}

Test(sigma, unknown_level)
{
    expect_error(HEAD "  k: [x]\n  condition: k\nlevel: severe\n", 8, RID, "unknown level 'severe'");
}

Test(sigma, missing_parts)
{
    expect_error("id: x\nlogsource: {product: a}\ndetection: {k: [a], condition: k}\n", 1, "x", "missing 'title'");
}

Test(sigma, missing_logsource)
{
    expect_error("title: T\ndetection: {k: [a], condition: k}\n", 1, "T", "missing 'logsource'");
}

Test(sigma, missing_detection)
{
    expect_error("title: T\nlogsource: {product: a}\n", 1, "T", "missing 'detection'");
}

Test(sigma, missing_condition)
{
    expect_error(HEAD "  k: [a]\n", 6, RID, "no 'condition'");
}

Test(sigma, author_list)
{
    struct sigma_rule *r = one(HEAD "  k: [a]\n  condition: k\nauthor:\n  - A\n  - B\n");
    cr_expect_str_eq(r->author, "A, B");
}

/* ---- selections and values ---- */

Test(sigma, map_selection)
{
    struct sigma_rule *r = one(HEAD "  sel:\n    user.name: root\n    source.port: 22\n  condition: sel\n");
    cr_assert_eq(r->nsel, 1);
    struct sigma_selection *s = &r->sel[0];
    cr_expect_str_eq(s->name, "sel");
    cr_expect_not(s->keywords);
    cr_assert_eq(s->n, 1);
    cr_assert_eq(s->maps[0].n, 2);
    cr_expect_str_eq(s->maps[0].items[0].field, "user.name");
    cr_expect_eq(s->maps[0].items[0].mods, 0);
    cr_expect_eq(s->maps[0].items[0].v[0].type, SIGMA_V_STR);
    cr_expect_eq(s->maps[0].items[1].v[0].type, SIGMA_V_NUM);
    cr_expect_eq(s->maps[0].items[1].v[0].num, 22.0);
    cr_expect_eq(s->maps[0].items[1].line, 8);
}

Test(sigma, list_of_maps_and_value_list)
{
    struct sigma_rule *r = one(HEAD "  sel:\n    - a: 1\n    - b|contains:\n        - x\n        - y\n        - z\n"
                                    "  condition: sel\n");
    struct sigma_selection *s = &r->sel[0];
    cr_assert_eq(s->n, 2);
    cr_expect_str_eq(s->maps[1].items[0].field, "b");
    cr_expect_eq(s->maps[1].items[0].mods, SIGMA_MOD_CONTAINS);
    cr_expect_eq(s->maps[1].items[0].nv, 3);
    cr_expect_str_eq(s->maps[1].items[0].v[2].raw, "z");
}

Test(sigma, keywords)
{
    struct sigma_rule *r = one(HEAD "  keywords:\n    - 'Failed password'\n    - \"Invalid user\"\n  condition: keywords\n");
    struct sigma_selection *s = &r->sel[0];
    cr_expect(s->keywords);
    cr_assert_eq(s->maps[0].n, 1);
    cr_expect_str_eq(s->maps[0].items[0].field, "");
    cr_expect_eq(s->maps[0].items[0].mods, SIGMA_MOD_CONTAINS);
    cr_expect_eq(s->maps[0].items[0].nv, 2);
}

Test(sigma, keywords_all_map)
{
    /* SigmaHQ lnx_susp_jexboss: a keyword map with only modifiers as key */
    struct sigma_rule *r = one(HEAD "  keywords:\n    '|all':\n      - 'bash -c /bin/bash'\n      - '&/dev/tcp/'\n"
                                    "  condition: keywords\n");
    struct sigma_item *it = &r->sel[0].maps[0].items[0];
    cr_expect_str_eq(it->field, "");
    cr_expect_eq(it->mods, SIGMA_MOD_CONTAINS | SIGMA_MOD_ALL);
    cr_expect_eq(it->nv, 2);
}

Test(sigma, value_types)
{
    struct sigma_rule *r = one(HEAD "  sel:\n    a: null\n    b: ~\n    c: true\n    d: False\n    e: '42'\n"
                                    "    f: -1.5\n    g: ''\n    h: 'null'\n  condition: sel\n");
    struct sigma_item *it = r->sel[0].maps[0].items;
    cr_expect_eq(it[0].v[0].type, SIGMA_V_NULL);
    cr_expect_eq(it[1].v[0].type, SIGMA_V_NULL);
    cr_expect_eq(it[2].v[0].type, SIGMA_V_BOOL);
    cr_expect(it[2].v[0].b);
    cr_expect_eq(it[3].v[0].type, SIGMA_V_BOOL);
    cr_expect_not(it[3].v[0].b);
    cr_expect_eq(it[4].v[0].type, SIGMA_V_STR); /* quoted: a string, but usable as a number */
    cr_expect(it[4].v[0].num_ok);
    cr_expect_eq(it[5].v[0].type, SIGMA_V_NUM);
    cr_expect_eq(it[5].v[0].num, -1.5);
    cr_expect_eq(it[6].v[0].type, SIGMA_V_STR);
    cr_expect_eq(it[6].v[0].len, 0);
    cr_expect_eq(it[7].v[0].type, SIGMA_V_STR);
}

Test(sigma, empty_selection)
{
    expect_error(HEAD "  sel: []\n  condition: sel\n", 6, RID, "empty selection");
}

Test(sigma, mixed_list)
{
    expect_error(HEAD "  sel:\n    - a\n    - b: c\n  condition: sel\n", 7, RID, "mixes maps and plain values");
}

Test(sigma, nested_value)
{
    expect_error(HEAD "  sel:\n    a:\n      b: c\n  condition: sel\n", 8, RID, "nested map");
}

Test(sigma, timeframe)
{
    expect_error(HEAD "  sel: {a: b}\n  timeframe: 5m\n  condition: sel\n", 7, RID, "timeframe");
}

/* ---- modifiers ---- */

static unsigned mods_of(const char *key)
{
    char y[512];
    snprintf(y, sizeof y, HEAD "  sel:\n    %s: '%s'\n  condition: sel\n", key,
             strstr(key, "cidr") ? "10.0.0.0/8" : "1");
    parse(y);
    cr_assert_eq(d.errors, 0, "%s: %s", key, d.n ? d.entries[0].msg : "");
    unsigned m = rules[n_rules - 1]->sel[0].maps[0].items[0].mods;
    return m;
}

Test(sigma, each_modifier)
{
    cr_expect_eq(mods_of("f|contains"), SIGMA_MOD_CONTAINS);
    cr_expect_eq(mods_of("f|startswith"), SIGMA_MOD_STARTSWITH);
    cr_expect_eq(mods_of("f|endswith"), SIGMA_MOD_ENDSWITH);
    cr_expect_eq(mods_of("f|contains|all"), SIGMA_MOD_CONTAINS | SIGMA_MOD_ALL);
    cr_expect_eq(mods_of("f|all"), SIGMA_MOD_ALL);
    cr_expect_eq(mods_of("f|re"), SIGMA_MOD_RE);
    cr_expect_eq(mods_of("f|re|i"), SIGMA_MOD_RE | SIGMA_MOD_RE_I);
    cr_expect_eq(mods_of("f|re|m|s"), SIGMA_MOD_RE | SIGMA_MOD_RE_M | SIGMA_MOD_RE_S);
    cr_expect_eq(mods_of("f|gt"), SIGMA_MOD_GT);
    cr_expect_eq(mods_of("f|gte"), SIGMA_MOD_GTE);
    cr_expect_eq(mods_of("f|lt"), SIGMA_MOD_LT);
    cr_expect_eq(mods_of("f|lte"), SIGMA_MOD_LTE);
    cr_expect_eq(mods_of("f|contains|cased"), SIGMA_MOD_CONTAINS | SIGMA_MOD_CASED);
    cr_expect_eq(mods_of("f|cidr"), SIGMA_MOD_CIDR);
}

Test(sigma, cidr_values)
{
    struct sigma_rule *r = one(HEAD "  sel:\n    ip|cidr:\n      - 10.1.2.3/8\n      - '2001:db8::/32'\n"
                                    "      - 192.0.2.7\n  condition: sel\n");
    struct sigma_value *v = r->sel[0].maps[0].items[0].v;
    cr_expect_eq(v[0].net.family, 4);
    cr_expect_eq(v[0].prefix, 8);
    cr_expect_eq(v[0].net.addr[0], 10);
    cr_expect_eq(v[0].net.addr[1], 0, "host bits are cleared");
    cr_expect_eq(v[1].net.family, 6);
    cr_expect_eq(v[1].prefix, 32);
    cr_expect_eq(v[2].prefix, 32);
}

Test(sigma, exists_values)
{
    struct sigma_rule *r = one(HEAD "  sel:\n    a|exists: true\n    b|exists: false\n  condition: sel\n");
    cr_expect(r->sel[0].maps[0].items[0].v[0].b);
    cr_expect_not(r->sel[0].maps[0].items[1].v[0].b);
}

Test(sigma, unsupported_modifiers)
{
    static const char *const m[] = {"base64", "base64offset", "utf16le", "utf16be", "wide",
                                    "windash", "expand", "fieldref", "utf16"};
    for (unsigned i = 0; i < sizeof m / sizeof m[0]; i++) {
        char y[512], want[128];
        snprintf(y, sizeof y, HEAD "  sel:\n    CommandLine|%s|contains: x\n  condition: sel\n", m[i]);
        snprintf(want, sizeof want, "unsupported modifier '%s' (field 'CommandLine')", m[i]);
        expect_error(y, 7, RID, want);
        teardown();
        setup();
    }
}

Test(sigma, unknown_modifier)
{
    expect_error(HEAD "  sel:\n    f|sideways: x\n  condition: sel\n", 7, RID, "unknown modifier 'sideways'");
}

Test(sigma, re_flag_without_re)
{
    expect_error(HEAD "  sel:\n    f|contains|i: x\n  condition: sel\n", 7, RID, "only valid after 're'");
}

Test(sigma, conflicting_modifiers)
{
    expect_error(HEAD "  sel:\n    f|contains|re: x\n  condition: sel\n", 7, RID,
                 "conflicting modifiers 'contains' and 're'");
}

Test(sigma, bad_modifier_values)
{
    expect_error(HEAD "  sel:\n    f|gt: abc\n  condition: sel\n", 7, RID, "'gt' needs a number");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    f|cidr: 10.0.0.0/33\n  condition: sel\n", 7, RID, "invalid network");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    f|exists: yes\n  condition: sel\n", 7, RID, "'exists' needs true or false");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    f|contains: null\n  condition: sel\n", 7, RID, "null value with a modifier");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    f|re: ''\n  condition: sel\n", 7, RID, "non-empty regular expression");
}

/* ---- value patterns: wildcards, escapes, anchors ---- */

static const char *pat(unsigned mods, const char *raw, enum sigma_pattern_kind *kind, unsigned *flags)
{
    static char out[4][512];
    static unsigned k;
    struct sigma_value v = {.type = SIGMA_V_STR, .raw = (char *)raw, .len = (uint32_t)strlen(raw)};
    char *expr, err[128];
    enum sigma_pattern_kind kk;
    unsigned ff;
    cr_assert_eq(sigma_value_pattern(mods, &v, &kk, &expr, &ff, err, sizeof err), 0, "%s", err);
    if (kind)
        *kind = kk;
    if (flags)
        *flags = ff;
    char *o = out[k++ % 4];
    snprintf(o, 512, "%s", expr ? expr : "");
    free(expr);
    return o;
}

Test(sigma, patterns_anchors)
{
    unsigned fl;
    cr_expect_str_eq(pat(0, "root", NULL, &fl), "^root\\z");
    cr_expect(fl & HS_FLAG_CASELESS);
    cr_expect(fl & HS_FLAG_SINGLEMATCH);
    cr_expect_not(fl & HS_FLAG_SOM_LEFTMOST);
    cr_expect_str_eq(pat(SIGMA_MOD_CONTAINS, "union select", NULL, NULL), "union\\x20select");
    cr_expect_str_eq(pat(SIGMA_MOD_STARTSWITH, "/admin", NULL, NULL), "^\\x2fadmin");
    cr_expect_str_eq(pat(SIGMA_MOD_ENDSWITH, ".php", NULL, NULL), "\\x2ephp\\z");
    cr_expect_str_eq(pat(SIGMA_MOD_CONTAINS | SIGMA_MOD_CASED, "A", NULL, &fl), "A");
    cr_expect_not(fl & HS_FLAG_CASELESS);
}

Test(sigma, patterns_wildcards)
{
    cr_expect_str_eq(pat(0, "*foo*", NULL, NULL), "foo");                 /* exact with both stars = contains */
    cr_expect_str_eq(pat(0, "foo*", NULL, NULL), "^foo");
    cr_expect_str_eq(pat(0, "*foo", NULL, NULL), "foo\\z");
    cr_expect_str_eq(pat(0, "a*b", NULL, NULL), "^a.*b\\z");
    cr_expect_str_eq(pat(0, "a**b", NULL, NULL), "^a.*b\\z");
    cr_expect_str_eq(pat(0, "a?b", NULL, NULL), "^a.b\\z");
    cr_expect_str_eq(pat(SIGMA_MOD_CONTAINS, "wget * - http", NULL, NULL), "wget\\x20.*\\x20\\x2d\\x20http");
    unsigned fl;
    pat(0, "a*b", NULL, &fl);
    cr_expect(fl & HS_FLAG_DOTALL);
}

Test(sigma, patterns_escapes)
{
    cr_expect_str_eq(pat(0, "a\\*b", NULL, NULL), "^a\\x2ab\\z");          /* \* is a literal star */
    cr_expect_str_eq(pat(0, "a\\?b", NULL, NULL), "^a\\x3fb\\z");
    cr_expect_str_eq(pat(0, "a\\\\*", NULL, NULL), "^a\\x5c");              /* \\* : backslash, then wildcard */
    cr_expect_str_eq(pat(0, "C:\\Windows\\", NULL, NULL), "^C\\x3a\\x5cWindows\\x5c\\z"); /* lone \ is literal */
    cr_expect_str_eq(pat(0, "foo\\*", NULL, NULL), "^foo\\x2a\\z");         /* escaped trailing star keeps \z */
}

Test(sigma, patterns_special_kinds)
{
    enum sigma_pattern_kind k;
    pat(0, "*", &k, NULL);
    cr_expect_eq(k, SIGMA_PAT_ANY);
    pat(0, "", &k, NULL);
    cr_expect_eq(k, SIGMA_PAT_EMPTY);
    pat(SIGMA_MOD_CONTAINS, "", &k, NULL);
    cr_expect_eq(k, SIGMA_PAT_ANY);
    pat(0, "x", &k, NULL);
    cr_expect_eq(k, SIGMA_PAT_HS);
}

Test(sigma, patterns_re_and_numbers)
{
    unsigned fl;
    cr_expect_str_eq(pat(SIGMA_MOD_RE, "a.*b\\d", NULL, &fl), "a.*b\\d");
    cr_expect_not(fl & HS_FLAG_CASELESS);
    cr_expect_not(fl & HS_FLAG_DOTALL);
    pat(SIGMA_MOD_RE | SIGMA_MOD_RE_I | SIGMA_MOD_RE_S | SIGMA_MOD_RE_M, "x", NULL, &fl);
    cr_expect(fl & HS_FLAG_CASELESS);
    cr_expect(fl & HS_FLAG_DOTALL);
    cr_expect(fl & HS_FLAG_MULTILINE);
    struct sigma_value num = {.type = SIGMA_V_NUM, .raw = "404", .len = 3, .num = 404, .num_ok = true};
    struct sigma_value t = {.type = SIGMA_V_BOOL, .raw = "True", .len = 4, .b = true};
    char *e, err[64];
    enum sigma_pattern_kind k;
    cr_assert_eq(sigma_value_pattern(0, &num, &k, &e, &fl, err, sizeof err), 0);
    cr_expect_str_eq(e, "^404\\z");
    free(e);
    cr_assert_eq(sigma_value_pattern(0, &t, &k, &e, &fl, err, sizeof err), 0);
    cr_expect_str_eq(e, "^true\\z");
    free(e);
}

/* Every generated pattern must be accepted by Hyperscan. */
Test(sigma, patterns_compile)
{
    const char *vals[] = {"*", "a*b?c", "\\\\", "\x01\xff", "(){:;};", "${jndi:", "%252e", "\\*\\?"};
    unsigned mods[] = {0, SIGMA_MOD_CONTAINS, SIGMA_MOD_STARTSWITH, SIGMA_MOD_ENDSWITH, SIGMA_MOD_CASED};
    for (unsigned i = 0; i < sizeof vals / sizeof vals[0]; i++)
        for (unsigned m = 0; m < sizeof mods / sizeof mods[0]; m++) {
            enum sigma_pattern_kind k;
            unsigned fl;
            const char *e = pat(mods[m], vals[i], &k, &fl);
            if (k != SIGMA_PAT_HS)
                continue;
            hs_expr_info_t *info;
            hs_compile_error_t *ce;
            cr_expect_eq(hs_expression_info(e, fl, &info, &ce), HS_SUCCESS, "%s: %s", e, ce ? ce->message : "");
            if (ce)
                hs_free_compile_error(ce);
            else
                free(info);
        }
}

/* ---- conditions ---- */

static const char *names_abc[] = {"a", "b", "c", "sel1", "sel2", "_hidden", "filter_x", "filter_y"};

/* Postfix as text: a b & c |  (sel names, ! & | with counts). */
static const char *cond(const char *text)
{
    static struct sigma_selection sel[8];
    static char out[512];
    for (unsigned i = 0; i < 8; i++)
        sel[i].name = (char *)names_abc[i];
    struct sigma_op *ops;
    unsigned n, depth;
    char err[256];
    if (sigma_condition_parse(text, sel, 8, &ops, &n, &depth, err, sizeof err)) {
        snprintf(out, sizeof out, "ERR %s", err);
        return out;
    }
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        const char *sep = o ? " " : "";
        if (ops[i].op == SIGMA_OP_SEL)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%s", sep, names_abc[ops[i].arg]);
        else if (ops[i].op == SIGMA_OP_NOT)
            o += (size_t)snprintf(out + o, sizeof out - o, "%s!", sep);
        else
            o += (size_t)snprintf(out + o, sizeof out - o, "%s%c%u", sep, ops[i].op == SIGMA_OP_AND ? '&' : '|',
                                  ops[i].arg);
    }
    free(ops);
    return out;
}

Test(sigma, condition_precedence)
{
    cr_expect_str_eq(cond("not a and b or c"), "a ! b &2 c |2");
    cr_expect_str_eq(cond("a or b and c"), "a b c &2 |2");
    cr_expect_str_eq(cond("a and b and c"), "a b c &3");
    cr_expect_str_eq(cond("not not a"), "a ! !");
    cr_expect_str_eq(cond("a"), "a");
    cr_expect_str_eq(cond("A and b"), "ERR condition references undefined selection 'A'");
    cr_expect_str_eq(cond("a AND NOT b"), "a b ! &2"); /* keywords are case-insensitive */
}

Test(sigma, condition_parentheses)
{
    cr_expect_str_eq(cond("not (a or b)"), "a b |2 !");
    cr_expect_str_eq(cond("(a or b) and c"), "a b |2 c &2");
    cr_expect_str_eq(cond("((a))"), "a");
    cr_expect_str_eq(cond("a and (b or (c and not a))"), "a b c a ! &2 |2 &2");
}

Test(sigma, condition_quantifiers)
{
    cr_expect_str_eq(cond("1 of sel*"), "sel1 sel2 |2");
    cr_expect_str_eq(cond("any of sel*"), "sel1 sel2 |2");
    cr_expect_str_eq(cond("all of sel*"), "sel1 sel2 &2");
    cr_expect_str_eq(cond("1 of them"), "a b c sel1 sel2 filter_x filter_y |7"); /* _hidden excluded */
    cr_expect_str_eq(cond("all of them"), "a b c sel1 sel2 filter_x filter_y &7");
    cr_expect_str_eq(cond("a and not 1 of filter_*"), "a filter_x filter_y |2 ! &2");
    cr_expect_str_eq(cond("1 of a"), "a");
    cr_expect_str_eq(cond("all of s?l1"), "sel1");
}

Test(sigma, condition_errors)
{
    cr_expect(strstr(cond("a and"), "unexpected end"));
    cr_expect(strstr(cond("a b"), "unexpected 'b'"));
    cr_expect(strstr(cond("(a or b"), "missing ')'"));
    cr_expect(strstr(cond("a or b)"), "unexpected ')'"));
    cr_expect(strstr(cond("nope"), "undefined selection 'nope'"));
    cr_expect(strstr(cond("sel*"), "wildcard 'sel*' outside"));
    cr_expect(strstr(cond("1 of zz*"), "matches no selection"));
    cr_expect(strstr(cond("2 of sel*"), "'2 of' is not supported"));
    cr_expect(strstr(cond("all sel*"), "'all' must be followed by 'of'"));
    cr_expect(strstr(cond("a | count() > 5"), "aggregation"));
    cr_expect(strstr(cond("a near b"), "unexpected 'near'") || strstr(cond("a near b"), "near"));
    cr_expect(strstr(cond(""), "empty condition"));
    cr_expect(strstr(cond("   "), "empty condition"));
    cr_expect(strstr(cond("and"), "unexpected 'and'"));
    char deep[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(deep, "(");
    strcat(deep, "a");
    for (int i = 0; i < 70; i++)
        strcat(deep, ")");
    cr_expect(strstr(cond(deep), "nested too deeply"));
}

Test(sigma, condition_in_rule_errors)
{
    expect_error(HEAD "  sel: {a: b}\n  condition: sel | count() by x > 5\n", 7, RID, "aggregation");
    teardown();
    setup();
    expect_error(HEAD "  sel: {a: b}\n  condition: sel and other\n", 7, RID, "undefined selection 'other'");
}

Test(sigma, condition_list_is_or)
{
    struct sigma_rule *r = one(HEAD "  a: {f: 1}\n  b: {f: 2}\n  condition:\n    - a\n    - b\n");
    cr_assert_eq(r->ncond, 3);
    cr_expect_eq(r->cond[2].op, SIGMA_OP_OR);
    cr_expect_eq(r->cond[2].arg, 2);
}

Test(sigma, condition_depth)
{
    struct sigma_rule *r = one(HEAD "  a: {f: 1}\n  b: {f: 2}\n  c: {f: 3}\n  condition: a and (b or c)\n");
    cr_expect_eq(r->cond_depth, 3);
}

/* ---- files with several documents ---- */

Test(sigma, multi_document)
{
    parse(HEAD "  k: [a]\n  condition: k\n"
               "---\n"
               "title: Second\nlogsource: {category: webserver}\ndetection: {k: [b], condition: k}\n");
    cr_expect_eq(d.errors, 0);
    cr_assert_eq(n_rules, 2);
    cr_expect_str_eq(rules[1]->title, "Second");
    cr_expect_eq(rules[1]->line, 9);
    cr_expect_str_eq(rules[1]->ls.category, "webserver");
}

Test(sigma, multi_document_one_bad)
{
    parse("title: A\nlogsource: {product: x}\ndetection: {k: [a], condition: k}\n"
          "---\n"
          "title: B\nlogsource: {product: x}\ndetection: {k: [a], condition: k or z}\n"
          "---\n"
          "title: C\nlogsource: {product: x}\ndetection: {k: [a], condition: k}\n");
    cr_expect_eq(n_rules, 2);
    cr_expect_eq(d.errors, 1);
    cr_expect_eq(d.entries[0].line, 7);
    cr_expect_str_eq(d.entries[0].what, "B");
    cr_expect_eq(stats.rejected, 1);
}

Test(sigma, action_global_rejected)
{
    parse("action: global\ntitle: G\nlogsource: {product: windows}\ndetection: {condition: sel}\n"
          "---\n"
          "detection: {sel: {a: b}}\n");
    cr_expect_eq(n_rules, 0);
    cr_assert_eq(d.errors, 1, "one error for the collection");
    cr_expect(strstr(d.entries[0].msg, "rule collection ('action: global')"));
    cr_expect_eq(d.entries[0].line, 1);
}

Test(sigma, correlation_skipped)
{
    parse("title: Many failed logins\nid: c1\ncorrelation:\n  type: event_count\n  rules: [r1]\n"
          "  group-by: [source.ip]\n  timespan: 1h\n  condition: {gte: 10}\n"
          "---\n"
          "title: R1\nname: r1\nlogsource: {product: x}\ndetection: {k: [a], condition: k}\n");
    cr_expect_eq(n_rules, 1);
    cr_expect_eq(d.errors, 0);
    cr_expect_eq(d.warnings, 1);
    cr_expect_eq(stats.correlations, 1);
    cr_expect_str_eq(d.entries[0].what, "c1");
    cr_expect(strstr(d.entries[0].msg, "correlation rule: handled by vigil-cp"));
}

Test(sigma, yaml_syntax_error)
{
    parse("title: T\nlogsource: {product: x\ndetection: [\n");
    cr_expect_eq(n_rules, 0);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(d.entries[0].msg, "YAML"));
    cr_expect_gt(d.entries[0].line, 1);
}

Test(sigma, empty_file)
{
    parse("# nothing\n");
    cr_expect_eq(n_rules, 0);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(d.entries[0].msg, "no Sigma rule"));
}

Test(sigma, not_a_map)
{
    expect_error("- a\n- b\n", 1, "", "not a Sigma rule");
}

Test(sigma, bad_selection_name)
{
    expect_error(HEAD "  'my sel': {a: b}\n  condition: a\n", 6, RID, "cannot be used in a condition");
}

Test(sigma, duplicate_selection)
{
    expect_error(HEAD "  a: {f: 1}\n  a: {f: 2}\n  condition: a\n", 7, RID, "defined twice");
}

Test(sigma, parse_file_missing)
{
    sigma_parse_file("/nonexistent/x.yml", &rules, &n_rules, &stats, &d);
    cr_expect_eq(d.errors, 1);
    cr_expect(strstr(d.entries[0].msg, "cannot open"));
}

Test(sigma, cidr_parser)
{
    struct vigil_ip ip;
    uint8_t p;
    cr_expect(sigma_parse_cidr("192.168.0.0/16", &ip, &p));
    cr_expect_eq(p, 16);
    cr_expect(sigma_parse_cidr("::1", &ip, &p));
    cr_expect_eq(p, 128);
    cr_expect_not(sigma_parse_cidr("192.168.0.0/", &ip, &p));
    cr_expect_not(sigma_parse_cidr("192.168.0/16", &ip, &p));
    cr_expect_not(sigma_parse_cidr("fe80::/129", &ip, &p));
    cr_expect_not(sigma_parse_cidr("1.2.3.4/-1", &ip, &p));
}
