/* Correlation rules and engine (mgmt/corr_rules.h, mgmt/correlate.h): the
 * Sigma correlation spec's examples and schema tests, the errors (file,
 * line, rule id, reason), the four rule types over signals, aliases,
 * chaining, time and lateness, eviction under a flood, expiry with bounded
 * work, and checkpoint / restore. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/diag.h"
#include "engine/signal.h"
#include "mgmt/corr_rules.h"
#include "mgmt/correlate.h"
#include "test_support.h"

#define SEC   1000000000LL
#define BASE  (1700000000LL * SEC)   /* event times start here */

/* ---- a fake detection rule table ---- */

enum det {
    D_SPEC_FW,        /* the spec's 5638f7c0-... rule, name firewall_block */
    D_RECON_A, D_RECON_B, D_RECON_C,
    D_MANY_FAILED, D_SUCCESS_LOGIN,
    D_INTERNAL_ERROR, D_NEW_CONN,
    D_WEBSITE_ACCESS, D_RULE_A, D_PROC_CREATION,
    D_FW_SCAN, D_WEB_TRAV, D_SSH_FAIL, D_SSH_OK, D_OTHER,
    D_COUNT
};

static const char *const det_names[D_COUNT] = {
    "firewall_block", "recon_cmd_a", "recon_cmd_b", "recon_cmd_c", "many_failed_logins", "successful_login",
    "internal_error", "new_network_connection", "website_access", "rule_a_id", "process_creation",
    "fw_scan", "web_trav", "ssh_fail", "ssh_ok", "other",
};

static struct corr_detection dets[D_COUNT];
static char det_ids[D_COUNT][40];

static void det_uuid(int k, uint8_t u[16])
{
    if (k == D_SPEC_FW) {
        corr_parse_uuid("5638f7c0-ac70-491d-8465-2a65075e0d86", u);
        return;
    }
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(0x40 + k * 7 + i);
}

static void init_dets(void)
{
    for (int k = 0; k < D_COUNT; k++) {
        det_uuid(k, dets[k].uuid);
        const uint8_t *u = dets[k].uuid;
        snprintf(det_ids[k], sizeof det_ids[k],
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
                 u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
        dets[k].id = det_ids[k];
        dets[k].name = det_names[k];
    }
}

/* ---- fixture ---- */

#define MAX_FIRES 64

static struct diag d;
static struct corr_ruleset *rs;
static struct corr_engine *eng;
static struct corr_fire fires[MAX_FIRES];
static unsigned nfires;

static void on_fire(const struct corr_fire *f, void *arg)
{
    (void)arg;
    if (nfires < MAX_FIRES)
        fires[nfires] = *f;
    nfires++;
}

static void setup(void)
{
    diag_init(&d);
    init_dets();
    rs = corr_ruleset_new();
    nfires = 0;
}

static void teardown(void)
{
    corr_engine_free(eng);
    eng = NULL;
    corr_ruleset_free(rs);
    rs = NULL;
    diag_free(&d);
}

TestSuite(corr, .init = setup, .fini = teardown);

static void show_diag(void)
{
    if (d.n)
        diag_print(&d, stderr);
}

/* Loads yaml (as file t.yml) and resolves it against the fake table. */
static unsigned load(const char *yaml)
{
    corr_load_buffer(rs, yaml, strlen(yaml), "t.yml", &d);
    return corr_ruleset_resolve(rs, dets, D_COUNT, &d);
}

/* Loads rules that must all be fine, and starts an engine on them. */
static void start(const char *yaml, const struct corr_config *cfg)
{
    unsigned n = load(yaml);
    show_diag();
    cr_assert_eq(d.errors, 0, "unexpected error: %s", d.n ? d.entries[0].msg : "");
    cr_assert(n > 0);
    char err[128];
    eng = corr_engine_new(rs, cfg, on_fire, NULL, err, sizeof err);
    cr_assert_not_null(eng, "%s", err);
}

/* Expects exactly one error, whose message contains want, at line (0: any). */
static void expect_error(const char *yaml, unsigned line, const char *what, const char *want)
{
    unsigned n = load(yaml);
    cr_assert_eq(d.errors, 1, "want one error (%s), got %u: %s", want, d.errors, d.n ? d.entries[0].msg : "");
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
    cr_expect_eq(n, 0);
}

/* ---- signals ---- */

static void set_ip(struct vigil_ip *ip, const char *s)
{
    memset(ip, 0, sizeof *ip);
    if (!s)
        return;
    if (inet_pton(AF_INET, s, ip->addr) == 1)
        ip->family = 4;
    else if (inet_pton(AF_INET6, s, ip->addr) == 1)
        ip->family = 6;
    else
        cr_assert_fail("bad address %s", s);
}

/* A signal of detection rule k at BASE + t_ms milliseconds. */
static struct vigil_signal sig(int k, const char *src, const char *dst, uint16_t dport, const char *user, int64_t t_ms)
{
    struct vigil_signal s;
    memset(&s, 0, sizeof s);
    s.kind = SIGNAL_DETECTION;
    s.level = 3;
    memcpy(s.rule_uuid, dets[k].uuid, 16);
    s.ts_ns = BASE + t_ms * 1000000LL;
    s.received_ns = s.ts_ns;
    set_ip(&s.source_ip, src);
    set_ip(&s.destination_ip, dst);
    set_ip(&s.observer, "192.0.2.1");
    s.destination_port = dport;
    s.source_port = 40000;
    if (user)
        snprintf(s.user_name, sizeof s.user_name, "%s", user);
    return s;
}

static uint64_t next_id = 1;

static unsigned feed(struct vigil_signal s) { return corr_feed(eng, &s, next_id++, 0); }

static struct corr_counters stats(void)
{
    struct corr_counters c;
    corr_stats(eng, &c);
    return c;
}

/* ====================================================================== */
/* the spec's examples                                                     */

/* Splits the spec examples file into its '# --- block N ---' blocks. */
static unsigned spec_blocks(char *buf, char **blocks, unsigned max)
{
    unsigned n = 0;
    char *p = buf;
    while ((p = strstr(p, "\n# --- block "))) {
        p++;
        char *nl = strchr(p, '\n');
        cr_assert_not_null(nl);
        if (n > 0)
            *p = '\0';   /* ends the previous block */
        cr_assert(n < max);
        blocks[n++] = nl + 1;
        p = nl + 1;
    }
    return n;
}

static unsigned load_block(const char *name, const char *text, unsigned *errors)
{
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    unsigned e0 = d.errors;
    write_text(tmp_path(name), text);
    cr_assert_geq(corr_load_path(rs, tmp_path(name), &d), 0);
    unsigned n = corr_ruleset_resolve(rs, dets, D_COUNT, &d);
    *errors = d.errors - e0;
    return n;
}

Test(corr, spec_examples)
{
    char *buf = read_whole_file(corpus_path("rules/sigma-correlation/spec-examples.yml.txt"), NULL);
    cr_assert_not_null(buf);
    char *blocks[32];
    unsigned nb = spec_blocks(buf, blocks, 32);
    cr_assert_eq(nb, 14);
    test_tmpdir("corr");
    /* expected: rules loaded, errors, and a word of the error */
    static const struct {
        unsigned rules, errors;
        const char *msg;
    } want[14] = {
        {0, 1, "missing 'type'"},                      /* 1: a fragment without type */
        {0, 0, NULL}, {0, 0, NULL}, {0, 0, NULL},      /* 2-4: fragments, not correlation rules */
        {1, 0, NULL},                                  /* 5: event_count */
        {1, 0, NULL},                                  /* 6: value_count */
        {1, 0, NULL},                                  /* 7: temporal (no title: a warning) */
        {1, 0, NULL},                                  /* 8: temporal_ordered */
        {0, 1, "unsupported correlation type"},        /* 9: value_sum */
        {0, 1, "unsupported correlation type"},        /* 10: value_avg */
        {0, 1, "unsupported correlation type"},        /* 11: value_percentile */
        {0, 0, NULL}, {0, 0, NULL},                    /* 12-13: detection rules: skipped silently */
        {1, 0, NULL},                                  /* 14: temporal with aliases */
    };
    for (unsigned i = 0; i < nb; i++) {
        char name[32];
        snprintf(name, sizeof name, "block%u.yml", i + 1);
        unsigned errors, e0 = d.n;
        unsigned n = load_block(name, blocks[i], &errors);
        if (errors != want[i].errors)
            show_diag();
        cr_expect_eq(n, want[i].rules, "block %u: %u rules, want %u", i + 1, n, want[i].rules);
        cr_expect_eq(errors, want[i].errors, "block %u: %u errors, want %u", i + 1, errors, want[i].errors);
        if (want[i].msg) {
            bool found = false;
            for (unsigned k = e0; k < d.n; k++)
                found |= d.entries[k].severity == DIAG_ERROR && strstr(d.entries[k].msg, want[i].msg) &&
                         strstr(d.entries[k].file, name);
            cr_expect(found, "block %u: no error '%s'", i + 1, want[i].msg);
        }
        if (i == 4) {
            const struct corr_rule *r = rs->rules[0];
            cr_expect_eq(r->type, CORR_EVENT_COUNT);
            cr_expect_eq(r->timespan_ns, 3600 * SEC);
            cr_expect_eq(r->cond.lo, 100);
            cr_expect_not(r->cond.has_hi);
            cr_expect_str_eq(r->gtext[0], "observer.ip");   /* ComputerName */
            cr_expect_eq(r->refs[0].kind, CORR_REF_DETECTION);
            cr_expect_arr_eq(r->refs[0].uuid, dets[D_SPEC_FW].uuid, 16);
            uint8_t u[16];
            corr_parse_uuid("0e95725d-7320-415d-80f7-004da920fc11", u);
            cr_expect_arr_eq(r->uuid, u, 16);
            cr_expect_not(r->uuid_derived);
        }
        if (i == 5) {
            const struct corr_rule *r = rs->rules[0];
            cr_expect_eq(r->type, CORR_VALUE_COUNT);
            cr_expect_eq(r->ngroup, 2);
            cr_expect_str_eq(r->value_field, "User");
            cr_expect_eq(r->vtype, CORR_VT_USER);
            cr_expect_eq(r->vcap, 100);
            cr_expect_eq(r->timespan_ns, 86400 * SEC);
        }
        if (i == 6) {
            const struct corr_rule *r = rs->rules[0];
            cr_expect_eq(r->type, CORR_TEMPORAL);
            cr_expect(r->cond_default);
            cr_expect_eq(r->cond.lo, 3);   /* every rule */
            cr_expect(r->uuid_derived);
        }
        if (i == 7)
            cr_expect_eq(rs->rules[0]->type, CORR_TEMPORAL_ORDERED);
        if (i == 13) {
            const struct corr_rule *r = rs->rules[0];
            cr_expect_eq(r->ngroup, 2);
            cr_expect(r->group_alias[0] && r->group_alias[1]);
            cr_expect_str_eq(r->gtext[0], "internal_ip");
            cr_expect_eq(r->refs[0].gsel[0], CORR_F_DESTINATION_IP);   /* internal_error: destination.ip */
            cr_expect_eq(r->refs[1].gsel[0], CORR_F_SOURCE_IP);        /* new_network_connection: source.ip */
            cr_expect_eq(r->timespan_ns, 10 * SEC);
        }
    }
    /* blocks 12, 13 and 14 as one multi-document file: the detection rules
     * are skipped, the correlation rule names them */
    char multi[4096];
    snprintf(multi, sizeof multi, "%s\n---\n%s\n---\n%s", blocks[11], blocks[12], blocks[13]);
    unsigned errors;
    cr_expect_eq(load_block("multi.yml", multi, &errors), 1);
    cr_expect_eq(errors, 0);
    cr_expect_eq(rs->stats.detections, 2);
    free(buf);
}

Test(corr, schema_tests)
{
    cr_assert_geq(corr_load_path(rs, corpus_path("rules/sigma-correlation/schema-tests"), &d), 0);
    unsigned n = corr_ruleset_resolve(rs, dets, D_COUNT, &d);
    show_diag();
    cr_expect_eq(d.errors, 0);
    cr_expect_eq(n, 4);
    bool types[5] = {false};
    for (unsigned i = 0; i < rs->n; i++)
        types[rs->rules[i]->type] = true;
    cr_expect(types[CORR_EVENT_COUNT] && types[CORR_VALUE_COUNT] && types[CORR_TEMPORAL] &&
              types[CORR_TEMPORAL_ORDERED]);
    char err[128];
    eng = corr_engine_new(rs, NULL, on_fire, NULL, err, sizeof err);
    cr_assert_not_null(eng, "%s", err);
}

/* The shipped pack loads against the shipped detection rules' names and ids. */
Test(corr, shipped_pack)
{
    /* the shipped correlations refer to log rules and flow rules */
    static struct corr_detection det[256];
    static char names[256][64], ids[256][64];
    size_t n = 0;
    static const char *const dirs[] = {"configs/rules", "configs/flow-rules"};
    for (unsigned di = 0; di < 2; di++) {
        DIR *dir = opendir(source_path(dirs[di]));
        cr_assert_not_null(dir);
        struct dirent *e;
        while ((e = readdir(dir)) && n < 256) {
            if (!strstr(e->d_name, ".yml"))
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dirs[di], e->d_name);
            char *text = read_whole_file(source_path(path), NULL);
            cr_assert_not_null(text);
            char *p;
            if ((p = strstr(text, "\nname: ")))
                sscanf(p + 7, "%63s", names[n]);
            if ((p = strstr(text, "\nid: ")) || !strncmp(text, "id: ", 4))
                sscanf(p ? p + 5 : text + 4, "%63s", ids[n]);
            det[n].name = names[n][0] ? names[n] : NULL;
            det[n].id = ids[n][0] ? ids[n] : NULL;
            corr_parse_uuid(ids[n], det[n].uuid);
            free(text);
            n++;
        }
        closedir(dir);
    }
    cr_assert_geq(corr_load_path(rs, source_path("configs/correlation"), &d), 0);
    unsigned kept = corr_ruleset_resolve(rs, det, n, &d);
    show_diag();
    cr_expect_eq(d.errors, 0);
    cr_expect_eq(kept, rs->stats.rules);
    cr_expect_gt(kept, 0);
}

/* ====================================================================== */
/* rejections                                                              */

#define RULE_HEAD                                                                                   \
    "title: T\n"                                                                                    \
    "id: 11111111-2222-3333-4444-555555555555\n"                                                    \
    "correlation:\n"
#define RID "11111111-2222-3333-4444-555555555555"

Test(corr, reject_value_sum)
{
    static const char *const types[] = {"value_sum", "value_avg", "value_percentile"};
    for (int i = 0; i < 3; i++) {
        corr_ruleset_free(rs);
        rs = corr_ruleset_new();
        diag_free(&d);
        diag_init(&d);
        char y[512];
        snprintf(y, sizeof y,
                 RULE_HEAD "    type: %s\n    rules: [fw_scan]\n    group-by: [source.ip]\n    timespan: 1h\n"
                           "    condition:\n        field: destination.port\n        gt: 10\n",
                 types[i]);
        expect_error(y, 4, RID, "unsupported correlation type");
        cr_expect(strstr(d.entries[0].msg, types[i]) != NULL);
    }
}

Test(corr, reject_unknown_ref)
{
    expect_error(RULE_HEAD "    type: event_count\n    rules:\n        - fw_scan\n        - nope_rule\n"
                           "    timespan: 1h\n    condition:\n        gte: 3\n",
                 7, RID, "unknown rule 'nope_rule'");
}

Test(corr, reject_bad_timespan)
{
    static const char *const bad[] = {"10x", "0m", "m", "5 m", "-5m", "1.5h", "\"\"", "400d"};
    for (int i = 0; i < 8; i++) {
        corr_ruleset_free(rs);
        rs = corr_ruleset_new();
        diag_free(&d);
        diag_init(&d);
        char y[512];
        snprintf(y, sizeof y,
                 RULE_HEAD "    type: event_count\n    rules: [fw_scan]\n    timespan: %s\n"
                           "    condition:\n        gte: 3\n",
                 bad[i]);
        expect_error(y, 6, RID, "bad timespan");
    }
}

Test(corr, reject_bad_condition)
{
    static const struct {
        const char *cond;
        const char *want;
    } cases[] = {
        {"    condition:\n        gt: abc\n", "whole number"},
        {"    condition:\n        foo: 3\n", "unknown operator 'foo'"},
        {"    condition:\n        eq: 3\n        gt: 1\n", "'eq' cannot be combined"},
        {"    condition:\n        lt: 0\n", "never hold"},
        {"    condition:\n        gt: 10\n        lt: 5\n", "never hold"},
        {"    condition:\n        gt: 1\n        gte: 2\n", "gt with gte"},
        {"    condition: 5\n", "must be a map"},
        {"", "missing 'condition'"},
        {"    condition:\n        field: source.port\n        gte: 2\n", "only for value_count"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        corr_ruleset_free(rs);
        rs = corr_ruleset_new();
        diag_free(&d);
        diag_init(&d);
        char y[512];
        snprintf(y, sizeof y, RULE_HEAD "    type: event_count\n    rules: [fw_scan]\n    timespan: 1h\n%s",
                 cases[i].cond);
        expect_error(y, 0, RID, cases[i].want);
    }
    /* value_count without field, and over the distinct limit */
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    diag_free(&d);
    diag_init(&d);
    expect_error(RULE_HEAD "    type: value_count\n    rules: [fw_scan]\n    timespan: 1h\n"
                           "    condition:\n        gte: 3\n",
                 7, RID, "needs 'field'");
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    diag_free(&d);
    diag_init(&d);
    expect_error(RULE_HEAD "    type: value_count\n    rules: [fw_scan]\n    timespan: 1h\n"
                           "    condition:\n        field: destination.port\n        gte: 5000\n",
                 7, RID, "above 1024 distinct");
    /* temporal asking for more rules than it names */
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    diag_free(&d);
    diag_init(&d);
    expect_error(RULE_HEAD "    type: temporal\n    rules: [fw_scan, web_trav]\n    timespan: 1h\n"
                           "    condition:\n        gte: 3\n",
                 7, RID, "names only 2 rules");
}

Test(corr, reject_unsupported_field)
{
    expect_error(RULE_HEAD "    type: event_count\n    rules: [fw_scan]\n    group-by:\n        - ComputerNameX\n"
                           "    timespan: 1h\n    condition:\n        gte: 3\n",
                 0, RID, "unsupported field 'ComputerNameX'");
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    diag_free(&d);
    diag_init(&d);
    /* an alias naming an unsupported field for one rule */
    expect_error(RULE_HEAD "    type: temporal\n    rules: [fw_scan, web_trav]\n    group-by: [attacker]\n"
                           "    timespan: 1h\n    aliases:\n        attacker:\n            fw_scan: source.ip\n"
                           "            web_trav: c-ip\n",
                 0, RID, "unsupported field 'c-ip'");
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    diag_free(&d);
    diag_init(&d);
    /* an alias joining an address with a port */
    expect_error(RULE_HEAD "    type: temporal\n    rules: [fw_scan, web_trav]\n    group-by: [attacker]\n"
                           "    timespan: 1h\n    aliases:\n        attacker:\n            fw_scan: source.ip\n"
                           "            web_trav: source.port\n",
                 0, RID, "joins an address with a port");
}

Test(corr, bad_rule_rejected_alone)
{
    const char *y = RULE_HEAD "    type: value_sum\n    rules: [fw_scan]\n    timespan: 1h\n"
                              "    condition:\n        field: x\n        gt: 1\n"
                              "---\n"
                              "title: Good\nid: 22222222-2222-3333-4444-555555555555\ncorrelation:\n"
                              "    type: event_count\n    rules: [fw_scan]\n    timespan: 1h\n"
                              "    condition:\n        gte: 3\n"
                              "---\n"
                              "title: Dup\nid: 22222222-2222-3333-4444-555555555555\ncorrelation:\n"
                              "    type: event_count\n    rules: [fw_scan]\n    timespan: 1h\n"
                              "    condition:\n        gte: 3\n"
                              "---\n"
                              "title: Plain detection\nlogsource: {product: linux}\n"
                              "detection: {sel: {a: b}, condition: sel}\n";
    unsigned n = load(y);
    cr_expect_eq(n, 1);
    cr_expect_eq(d.errors, 2);
    cr_expect_str_eq(rs->rules[0]->title, "Good");
    cr_expect_eq(rs->stats.detections, 1);
    cr_expect_eq(rs->stats.rejected, 2);
    bool dup = false;
    for (unsigned i = 0; i < d.n; i++)
        dup |= strstr(d.entries[i].msg, "duplicate id") && d.entries[i].line == 21;
    cr_expect(dup);
}

Test(corr, reject_chain_loop)
{
    const char *y = "title: A\nname: a\ncorrelation:\n    type: temporal\n    rules: [b, fw_scan]\n"
                    "    group-by: [source.ip]\n    timespan: 1h\n"
                    "---\n"
                    "title: B\nname: b\ncorrelation:\n    type: temporal\n    rules: [a, web_trav]\n"
                    "    group-by: [source.ip]\n    timespan: 1h\n"
                    "---\n"
                    "title: C\nname: c\ncorrelation:\n    type: event_count\n    rules: [fw_scan]\n"
                    "    group-by: [source.ip]\n    timespan: 1h\n    condition: {gte: 2}\n";
    unsigned n = load(y);
    cr_expect_eq(n, 1);
    cr_expect_eq(d.errors, 2);
    bool loop = false;
    for (unsigned i = 0; i < d.n; i++)
        loop |= strstr(d.entries[i].msg, "loops back") != NULL;
    cr_expect(loop);
}

/* ====================================================================== */
/* event_count                                                             */

static const char *const SSH_BRUTE =
    "title: SSH brute force\n"
    "id: 0b6c2f8a-5d4e-4a19-8c37-9e1f2a3b4c5d\n"
    "level: high\n"
    "tags: [attack.credential-access, attack.t1110]\n"
    "correlation:\n"
    "    type: event_count\n"
    "    rules: [ssh_fail]\n"
    "    group-by: [source.ip]\n"
    "    timespan: 1m\n"
    "    condition:\n"
    "        gte: 5\n";

Test(corr, event_count_threshold_in_window)
{
    start(SSH_BRUTE, NULL);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(feed(sig(D_SSH_FAIL, "10.0.0.5", "10.0.0.1", 22, "root", i * 1000)), 0);
    cr_assert_eq(feed(sig(D_SSH_FAIL, "10.0.0.5", "10.0.0.1", 22, "root", 4000)), 1);
    cr_assert_eq(nfires, 1);
    const struct corr_fire *f = &fires[0];
    cr_expect_str_eq(f->rule->title, "SSH brute force");
    cr_expect_eq(f->rule->level, 4);
    cr_expect_eq(f->rule->ntags, 2);
    cr_expect_str_eq(f->group_key, "source.ip=10.0.0.5");
    cr_expect_eq(f->entity.family, 4);
    cr_expect_eq(f->entity.addr[0], 10);
    cr_expect_eq(f->entity.addr[3], 5);
    cr_expect_eq(f->count, 5);
    cr_expect_eq(f->reason, CORR_FIRE_THRESHOLD);
    cr_expect_eq(f->first_ns, BASE);
    cr_expect_eq(f->last_ns, BASE + 4 * SEC);
    cr_expect_eq(f->n_alert_ids, 5);
    cr_expect_eq(f->alert_ids_total, 5);
    for (unsigned k = 0; k < 5; k++)
        cr_expect_eq(f->alert_ids[k], k + 1);
    cr_expect_eq(f->trigger_alert_id, 5);
    /* a flood in the same window: still one fire */
    for (int i = 0; i < 40; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", "10.0.0.1", 22, "root", 5000 + i * 1000));
    cr_expect_eq(nfires, 1);
    cr_expect_gt(stats().fires_suppressed, 0);
    /* another source does not share the count */
    for (int i = 0; i < 4; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.6", "10.0.0.1", 22, "root", 50000 + i));
    cr_expect_eq(nfires, 1);
    /* other detection rules are not counted */
    for (int i = 0; i < 10; i++)
        feed(sig(D_OTHER, "10.0.0.6", "10.0.0.1", 22, "root", 50000 + i));
    cr_expect_eq(nfires, 1);
    cr_expect_eq(stats().signals_unreferenced, 10);
}

Test(corr, event_count_not_across_windows)
{
    start(SSH_BRUTE, NULL);
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 70000 + i * 1000));
    cr_expect_eq(nfires, 0, "3 + 3 signals 70 s apart are two windows");
    /* two more within the second minute make five */
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 73000));
    cr_expect_eq(nfires, 0);
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 74000));
    cr_expect_eq(nfires, 1);
    cr_expect_eq(fires[0].count, 5);
    cr_expect_eq(fires[0].first_ns, BASE + 70 * SEC);
}

Test(corr, event_count_refires_once_per_timespan)
{
    start(SSH_BRUTE, NULL);
    /* one signal a second for 200 s: a fire at 4 s, then one per minute */
    for (int i = 0; i < 200; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    cr_expect_eq(nfires, 4);
    cr_expect_eq(fires[0].last_ns, BASE + 4 * SEC);
    cr_expect_eq(fires[1].last_ns, BASE + 64 * SEC);
    for (unsigned k = 1; k < 4 && k < nfires; k++)
        cr_expect_geq(fires[k].first_ns, fires[k - 1].last_ns, "fire %u reuses old signals", k);
}

Test(corr, missing_group_field)
{
    start(SSH_BRUTE, NULL);
    for (int i = 0; i < 10; i++)
        feed(sig(D_SSH_FAIL, NULL, "10.0.0.1", 22, NULL, i));
    feed(sig(D_SSH_FAIL, "0.0.0.0", "10.0.0.1", 22, NULL, 20));
    cr_expect_eq(nfires, 0);
    cr_expect_eq(stats().signals_missing_field, 11);
    cr_expect_eq(stats().windows_open, 0);
}

/* An upper bound is decided when the window closes. */
Test(corr, upper_bound_fires_at_close)
{
    start("title: Few\nid: 33333333-2222-3333-4444-555555555555\ncorrelation:\n    type: event_count\n"
          "    rules: [ssh_ok]\n    group-by: [user.name]\n    timespan: 1m\n    condition:\n        lt: 3\n",
          NULL);
    feed(sig(D_SSH_OK, "10.0.0.5", NULL, 22, "alice", 0));
    feed(sig(D_SSH_OK, "10.0.0.5", NULL, 22, "alice", 1000));
    for (int i = 0; i < 4; i++)
        feed(sig(D_SSH_OK, "10.0.0.5", NULL, 22, "bob", i * 1000));
    cr_expect_eq(nfires, 0);
    bool more = true;
    unsigned ex = 0;
    for (int k = 0; k < 100 && more; k++)
        ex += corr_expire(eng, BASE + 3600 * SEC, 1000, &more);
    cr_expect_eq(ex, 2);
    cr_assert_eq(nfires, 1);
    cr_expect_str_eq(fires[0].group_key, "user.name=alice");
    cr_expect_eq(fires[0].count, 2);
    cr_expect_eq(fires[0].reason, CORR_FIRE_CLOSE);
    cr_expect_eq(fires[0].entity.family, 0);
    cr_expect_eq(fires[0].n_alert_ids, 2);
    cr_expect_eq(stats().fires_at_close, 1);
    /* a later signal past the end closes the window too */
    feed(sig(D_SSH_OK, "10.0.0.5", NULL, 22, "carol", 7200000));
    feed(sig(D_SSH_OK, "10.0.0.5", NULL, 22, "carol", 7200000 + 61000));
    cr_expect_eq(nfires, 2);
    cr_expect_str_eq(fires[1].group_key, "user.name=carol");
    cr_expect_eq(fires[1].count, 1);
}

/* ====================================================================== */
/* value_count                                                             */

static const char *const PORT_SCAN =
    "title: Port scan\n"
    "id: 6f3a9d1e-2b7c-4e58-9a41-0c5d8e7f1b23\n"
    "name: port_scan\n"
    "correlation:\n"
    "    type: value_count\n"
    "    rules: [fw_scan]\n"
    "    group-by: [source.ip]\n"
    "    timespan: 1m\n"
    "    condition:\n"
    "        field: destination.port\n"
    "        gte: 10\n";

Test(corr, value_count_port_scan)
{
    start(PORT_SCAN, NULL);
    for (int p = 1; p <= 9; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, p * 100));
    /* the same port again and again is not a scan */
    for (int i = 0; i < 20; i++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", 9, NULL, 1000 + i));
    cr_expect_eq(nfires, 0);
    feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", 10, NULL, 2000));
    cr_assert_eq(nfires, 1);
    cr_expect_eq(fires[0].count, 10);
    cr_expect_str_eq(fires[0].group_key, "source.ip=203.0.113.7");
    cr_expect_eq(fires[0].alert_ids_total, 30);
    cr_expect_eq(fires[0].n_alert_ids, 8);   /* the newest 8 of 30 */
    cr_expect_eq(fires[0].alert_ids[7], fires[0].trigger_alert_id);
    /* the rest of the scan, within the minute: still one */
    for (int p = 11; p <= 1000; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, 3000 + p));
    cr_expect_eq(nfires, 1);
    /* a source touching 5 ports is not a scan */
    for (int p = 1; p <= 5; p++)
        feed(sig(D_FW_SCAN, "203.0.113.8", "10.0.0.1", (uint16_t)p, NULL, 5000 + p));
    cr_expect_eq(nfires, 1);
    /* ten ports spread over more than a minute are not a scan either */
    for (int p = 1; p <= 10; p++)
        feed(sig(D_FW_SCAN, "203.0.113.9", "10.0.0.1", (uint16_t)p, NULL, 10000 + p * 8000));
    cr_expect_eq(nfires, 1);
}

/* ====================================================================== */
/* temporal                                                                */

Test(corr, temporal_all_rules_in_any_order)
{
    start("title: Recon\nid: 44444444-2222-3333-4444-555555555555\ncorrelation:\n    type: temporal\n"
          "    rules: [recon_cmd_a, recon_cmd_b, recon_cmd_c]\n    group-by: [observer.ip, user.name]\n"
          "    timespan: 5m\n",
          NULL);
    feed(sig(D_RECON_C, NULL, NULL, 0, "eve", 0));
    feed(sig(D_RECON_A, NULL, NULL, 0, "eve", 60000));
    cr_expect_eq(nfires, 0);
    feed(sig(D_RECON_B, NULL, NULL, 0, "eve", 120000));
    cr_assert_eq(nfires, 1);
    cr_expect_str_eq(fires[0].group_key, "observer.ip=192.0.2.1,user.name=eve");
    cr_expect_eq(fires[0].count, 3);
    cr_expect_eq(fires[0].first_ns, BASE);
    cr_expect_eq(fires[0].n_alert_ids, 3);
    /* one id per rule, in rule order: a (2), b (3), c (1) */
    cr_expect_eq(fires[0].alert_ids[0], 2);
    cr_expect_eq(fires[0].alert_ids[1], 3);
    cr_expect_eq(fires[0].alert_ids[2], 1);
    /* another user: c comes 6 minutes after a and b */
    feed(sig(D_RECON_A, NULL, NULL, 0, "mallory", 0));
    feed(sig(D_RECON_B, NULL, NULL, 0, "mallory", 1000));
    feed(sig(D_RECON_C, NULL, NULL, 0, "mallory", 361000));
    cr_expect_eq(nfires, 1);
}

/* ====================================================================== */
/* temporal_ordered                                                        */

static const char *const A_THEN_B =
    "title: Login after failures\nid: 55555555-2222-3333-4444-555555555555\ncorrelation:\n"
    "    type: temporal_ordered\n    rules: [many_failed_logins, successful_login]\n"
    "    group-by: [user.name]\n    timespan: 1h\n";

Test(corr, temporal_ordered_a_then_b)
{
    start(A_THEN_B, NULL);
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "alice", 0));
    cr_expect_eq(nfires, 0);
    feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "alice", 600000));
    cr_assert_eq(nfires, 1);
    cr_expect_eq(fires[0].count, 2);
    cr_expect_eq(fires[0].first_ns, BASE);
    cr_expect_eq(fires[0].last_ns, BASE + 600 * SEC);
    cr_expect_eq(fires[0].alert_ids[0], 1);
    cr_expect_eq(fires[0].alert_ids[1], 2);
}

Test(corr, temporal_ordered_not_b_then_a)
{
    start(A_THEN_B, NULL);
    feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "bob", 0));
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "bob", 1000));
    cr_expect_eq(nfires, 0);
    /* too far apart */
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "carol", 0));
    feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "carol", 3601000));
    cr_expect_eq(nfires, 0);
    /* a late B whose event time is before A does not complete the order */
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "dave", 3650000));
    feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "dave", 3640000));
    cr_expect_eq(nfires, 0);
}

/* ====================================================================== */
/* aliases and chaining                                                    */

Test(corr, aliases_join_fields_across_sources)
{
    /* the firewall calls the attacker source.ip, the web log client.ip */
    start("title: Scan then traversal\nid: 66666666-2222-3333-4444-555555555555\ncorrelation:\n"
          "    type: temporal_ordered\n    rules: [fw_scan, web_trav]\n    group-by: [attacker]\n"
          "    timespan: 10m\n    aliases:\n        attacker:\n            fw_scan: source.ip\n"
          "            web_trav: client.ip\n"
          "---\n"
          /* the spec's block 14 shape: the same hosts under swapped fields */
          "title: Error then connection\nid: 77777777-2222-3333-4444-555555555555\ncorrelation:\n"
          "    type: temporal\n    rules: [internal_error, new_network_connection]\n"
          "    group-by: [internal_ip, remote_ip]\n    timespan: 10s\n    aliases:\n"
          "        internal_ip:\n            internal_error: destination.ip\n"
          "            new_network_connection: source.ip\n"
          "        remote_ip:\n            internal_error: source.ip\n"
          "            new_network_connection: destination.ip\n",
          NULL);
    feed(sig(D_FW_SCAN, "198.51.100.4", "10.0.0.1", 22, NULL, 0));
    feed(sig(D_WEB_TRAV, "198.51.100.9", "10.0.0.80", 80, NULL, 60000));   /* another client */
    cr_expect_eq(nfires, 0);
    feed(sig(D_WEB_TRAV, "198.51.100.4", "10.0.0.80", 80, NULL, 120000));
    cr_assert_eq(nfires, 1);
    cr_expect_str_eq(fires[0].group_key, "attacker=198.51.100.4");
    cr_expect_eq(fires[0].entity.addr[3], 4);

    feed(sig(D_INTERNAL_ERROR, "203.0.113.50", "10.1.1.1", 443, NULL, 200000));
    feed(sig(D_NEW_CONN, "10.1.1.1", "203.0.113.51", 443, NULL, 201000));   /* other remote */
    cr_expect_eq(nfires, 1);
    feed(sig(D_NEW_CONN, "10.1.1.1", "203.0.113.50", 443, NULL, 202000));
    cr_assert_eq(nfires, 2);
    cr_expect_str_eq(fires[1].group_key, "internal_ip=10.1.1.1,remote_ip=203.0.113.50");
}

Test(corr, chaining_port_scan_then_traversal)
{
    /* the shipped pack's shape: a correlation of a correlation */
    char y[2048];
    snprintf(y, sizeof y,
             "%s---\ntitle: Recon then web attack\nid: 9c1d7e3f-4a2b-4f6c-8d5e-1a2b3c4d5e6f\nlevel: critical\n"
             "correlation:\n    type: temporal_ordered\n    rules: [port_scan, web_trav]\n"
             "    group-by: [attacker]\n    timespan: 10m\n    aliases:\n        attacker:\n"
             "            port_scan: source.ip\n            web_trav: source.ip\n",
             PORT_SCAN);
    start(y, NULL);
    for (int p = 1; p <= 12; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, p * 100));
    cr_assert_eq(nfires, 1);
    cr_expect_str_eq(fires[0].rule->title, "Port scan");
    feed(sig(D_WEB_TRAV, "203.0.113.7", "10.0.0.80", 80, NULL, 300000));
    cr_assert_eq(nfires, 2);
    const struct corr_fire *f = &fires[1];
    cr_expect_str_eq(f->rule->title, "Recon then web attack");
    cr_expect_str_eq(f->group_key, "attacker=203.0.113.7");
    cr_expect_eq(f->rule->level, 5);
    /* the scan's alerts flow into the chained fire */
    bool has_scan = false, has_web = false;
    for (unsigned k = 0; k < f->n_alert_ids; k++) {
        has_scan |= f->alert_ids[k] == fires[0].trigger_alert_id;
        has_web |= f->alert_ids[k] == f->trigger_alert_id;
    }
    cr_expect(has_scan && has_web);
    cr_expect_eq(stats().chained_events, 1);
    /* traversal first, scan later: no chain */
    feed(sig(D_WEB_TRAV, "203.0.113.99", "10.0.0.80", 80, NULL, 400000));
    for (int p = 1; p <= 12; p++)
        feed(sig(D_FW_SCAN, "203.0.113.99", "10.0.0.1", (uint16_t)p, NULL, 401000 + p));
    cr_expect_eq(nfires, 3);
    cr_expect_str_eq(fires[2].rule->title, "Port scan");
}

Test(corr, generate_flag)
{
    unsigned n = load("title: G\nid: 88888888-2222-3333-4444-555555555555\ncorrelation:\n"
                      "    type: event_count\n    rules: [ssh_fail]\n    timespan: 1m\n"
                      "    condition: {gte: 3}\n    generate: true\n"
                      "---\n"
                      "title: Q\nid: 99999999-2222-3333-4444-555555555555\ncorrelation:\n"
                      "    type: event_count\n    rules: [ssh_ok]\n    timespan: 1m\n    condition: {gte: 3}\n");
    cr_assert_eq(n, 2);
    cr_expect(corr_ruleset_detection_generates(rs, dets[D_SSH_FAIL].uuid));
    cr_expect_not(corr_ruleset_detection_generates(rs, dets[D_SSH_OK].uuid));
    cr_expect(corr_ruleset_detection_generates(rs, dets[D_OTHER].uuid));
}

/* ====================================================================== */
/* time                                                                    */

Test(corr, lateness_and_time_fallback)
{
    struct corr_config cfg;
    corr_config_default(&cfg);
    cfg.allowed_lateness_ns = 60 * SEC;
    start(SSH_BRUTE, &cfg);
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 1000000));   /* watermark: 1000 s */
    /* delivered 30 s late: used */
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 970000));
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 985000));
    cr_expect_eq(stats().late_signals_dropped, 0);
    /* delivered 100 s late (more than lateness + skew): dropped */
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 900000));
    cr_expect_eq(stats().late_signals_dropped, 1);
    cr_expect_eq(stats().time_from_receive, 0);
    /* a sender whose clock runs 10 s ahead (within the skew) keeps its event
     * time but does not move the watermark: a signal of a sender 10 s
     * behind, received at the same moment, is not late */
    struct vigil_signal ahead = sig(D_SSH_FAIL, "10.0.0.8", NULL, 22, NULL, 1010000);
    ahead.received_ns -= 10 * SEC;
    corr_feed(eng, &ahead, next_id++, 0);
    struct vigil_signal behind = sig(D_SSH_FAIL, "10.0.0.8", NULL, 22, NULL, 990000);
    behind.received_ns += 10 * SEC;
    corr_feed(eng, &behind, next_id++, 0);
    cr_expect_eq(stats().late_signals_dropped, 1);
    cr_expect_eq(stats().time_from_receive, 0);
    /* no event time: the receive time counts */
    struct vigil_signal s = sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 1001000);
    s.ts_ns = 0;
    corr_feed(eng, &s, next_id++, 0);
    cr_expect_eq(stats().time_from_receive, 1);
    /* an event time a year off (a sender with a wrong clock): the receive time counts */
    s = sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 1002000);
    s.ts_ns -= 365LL * 86400 * SEC;
    cr_expect_eq(corr_feed(eng, &s, next_id++, 0), 1, "the fifth signal in the window fires");
    cr_expect_eq(stats().time_from_receive, 2);
    cr_expect_eq(stats().late_signals_dropped, 1);
    cr_assert_eq(nfires, 1);
    cr_expect_eq(fires[0].count, 5);
    cr_expect_eq(fires[0].last_ns, BASE + 1002 * SEC);
    /* neither time: the caller's clock */
    s = sig(D_SSH_FAIL, "10.0.0.7", NULL, 22, NULL, 0);
    s.ts_ns = s.received_ns = 0;
    corr_feed(eng, &s, next_id++, BASE + 1003 * SEC);
    cr_expect_eq(stats().late_signals_dropped, 1);
    cr_expect_eq(stats().windows_open, 3);
}

/* ====================================================================== */
/* limits                                                                  */

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

Test(corr, eviction_under_flood)
{
    struct corr_config cfg;
    corr_config_default(&cfg);
    cfg.max_keys = 4096;
    start(SSH_BRUTE, &cfg);
    struct corr_counters c0 = stats();
    cr_expect_eq(c0.max_keys, 4096);
    cr_expect_gt(c0.window_bytes, 0);
    const unsigned N = 1000000;
    long rss_mid = 0;
    struct vigil_signal s = sig(D_SSH_FAIL, "10.0.0.1", NULL, 22, NULL, 0);
    struct vigil_signal keep = sig(D_SSH_FAIL, "192.0.2.77", NULL, 22, NULL, 0);
    for (unsigned i = 0; i < N; i++) {
        uint32_t a = htonl(0x0a000000u + i + 1);
        memcpy(s.source_ip.addr, &a, 4);
        s.ts_ns = s.received_ns = BASE + (int64_t)i * 1000;   /* 1 M signals in one second */
        corr_feed(eng, &s, next_id++, 0);
        /* one attacker keeps coming back during the flood */
        if (i % 1000 == 0) {
            keep.ts_ns = keep.received_ns = s.ts_ns;
            corr_feed(eng, &keep, next_id++, 0);
        }
        if (i == N / 10)
            rss_mid = rss_kb();
    }
    long rss_end = rss_kb();
    struct corr_counters c = stats();
    cr_expect_eq(c.windows_open, 4096);
    cr_expect_eq(c.windows_created, N + 1);
    cr_expect_eq(c.windows_evicted_full, N + 1 - 4096);
    cr_expect_eq(c.memory_bytes, c0.memory_bytes);
    cr_expect_lt(rss_end - rss_mid, 2048, "memory grew %ld KiB during the flood", rss_end - rss_mid);
    /* the returning attacker survived the flood (CLOCK keeps touched windows) */
    cr_expect_eq(nfires, 1);
    cr_expect_str_eq(fires[0].group_key, "source.ip=192.0.2.77");
    cr_expect_eq(fires[0].count, 5);
}

Test(corr, max_memory_caps_keys)
{
    struct corr_config cfg;
    corr_config_default(&cfg);
    cfg.max_keys = 1u << 20;
    cfg.max_memory = 1u << 20;
    start(SSH_BRUTE, &cfg);
    struct corr_counters c = stats();
    cr_expect_eq(c.max_keys, (1u << 20) / c.window_bytes);
    cr_expect_leq((uint64_t)c.max_keys * c.window_bytes, 1u << 20);
}

Test(corr, expiry_bounded_work)
{
    start(SSH_BRUTE, NULL);
    struct vigil_signal s = sig(D_SSH_FAIL, "10.0.0.1", NULL, 22, NULL, 0);
    for (unsigned i = 0; i < 10000; i++) {
        uint32_t a = htonl(0x0a000000u + i + 1);
        memcpy(s.source_ip.addr, &a, 4);
        s.ts_ns = s.received_ns = BASE + (int64_t)i * 1000000;   /* over 10 s */
        corr_feed(eng, &s, next_id++, 0);
    }
    cr_assert_eq(stats().windows_open, 10000);
    /* before any deadline: nothing */
    bool more;
    cr_expect_eq(corr_expire(eng, BASE + 20 * SEC, 1000000, &more), 0);
    cr_expect_not(more);
    cr_expect_eq(stats().windows_open, 10000);
    /* far later: 100 units of work per call */
    unsigned calls = 0, total = 0;
    do {
        unsigned n = corr_expire(eng, BASE + 7200 * SEC, 100, &more);
        cr_assert_leq(n, 100);
        total += n;
        calls++;
        cr_assert_lt(calls, 10000);
    } while (more);
    cr_expect_eq(total, 10000);
    cr_expect_geq(calls, 100);
    cr_expect_eq(stats().windows_open, 0);
    cr_expect_eq(stats().windows_expired, 10000);
    /* windows open again afterwards */
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 7300000));
    cr_expect_eq(stats().windows_open, 1);
}

Test(corr, expiry_keeps_live_windows)
{
    start(SSH_BRUTE, NULL);
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    /* deadline: last (2 s) + 60 s timespan + 60 s lateness */
    corr_expire(eng, BASE + 121 * SEC, 1000, NULL);
    cr_expect_eq(stats().windows_open, 1);
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 110000));   /* moves the deadline to 230 s */
    corr_expire(eng, BASE + 125 * SEC, 1000, NULL);
    cr_expect_eq(stats().windows_open, 1);
    corr_expire(eng, BASE + 229 * SEC, 1000, NULL);
    cr_expect_eq(stats().windows_open, 1);
    corr_expire(eng, BASE + 231 * SEC, 1000, NULL);
    cr_expect_eq(stats().windows_open, 0);
}

/* ====================================================================== */
/* checkpoint                                                              */

struct blobs {
    unsigned n;
    void *b[64];
    size_t len[64];
    uint8_t key[64][16 + CORR_KEY_MAX];
    size_t klen[64];
};

static int keep_blob(const void *key, size_t klen, const void *blob, size_t len, void *arg)
{
    struct blobs *bs = arg;
    cr_assert_lt(bs->n, 64);
    bs->b[bs->n] = malloc(len);
    memcpy(bs->b[bs->n], blob, len);
    bs->len[bs->n] = len;
    memcpy(bs->key[bs->n], key, klen);
    bs->klen[bs->n] = klen;
    bs->n++;
    return 0;
}

static void free_blobs(struct blobs *bs)
{
    for (unsigned i = 0; i < bs->n; i++)
        free(bs->b[i]);
    bs->n = 0;
}

/* A new engine (as after a restart) on rules loaded again from yaml. */
static void restart(const char *yaml)
{
    corr_engine_free(eng);
    corr_ruleset_free(rs);
    rs = corr_ruleset_new();
    start(yaml, NULL);
}

Test(corr, checkpoint_restore_round_trip)
{
    char y[4096];
    snprintf(y, sizeof y, "%s---\n%s---\n%s", SSH_BRUTE, PORT_SCAN, A_THEN_B);
    start(y, NULL);
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    for (int p = 1; p <= 6; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, 3000 + p));
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "alice", 4000));
    cr_assert_eq(stats().windows_open, 3);
    struct blobs bs = {0};
    cr_assert_eq(corr_checkpoint_each(eng, keep_blob, &bs), 0);
    cr_assert_eq(bs.n, 3);
    for (unsigned i = 0; i < bs.n; i++) {
        cr_expect_eq(bs.klen[i], 16 + (size_t)rs->rules[corr_ruleset_find(rs, bs.key[i])]->keylen);
        cr_expect_lt(bs.len[i], 4096);
    }

    restart(y);
    for (unsigned i = 0; i < bs.n; i++)
        cr_expect_eq(corr_restore(eng, bs.b[i], bs.len[i]), CORR_RESTORE_OK);
    cr_expect_eq(stats().restored, 3);
    cr_expect_eq(stats().windows_open, 3);
    /* completing each window after the restart fires, with the old alerts */
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 5000));
    cr_expect_eq(nfires, 0);
    feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 6000));
    cr_assert_eq(nfires, 1);
    cr_expect_eq(fires[0].count, 5);
    cr_expect_eq(fires[0].first_ns, BASE);
    cr_expect_eq(fires[0].alert_ids[0], 1);
    for (int p = 6; p <= 10; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, 7000 + p));
    cr_assert_eq(nfires, 2);
    cr_expect_eq(fires[1].count, 10);
    feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "alice", 8000));
    cr_assert_eq(nfires, 3);
    cr_expect_eq(fires[2].alert_ids[0], 10);   /* the failure before the restart */
    /* restoring the same blob again replaces the window, it does not add one */
    unsigned open = (unsigned)stats().windows_open;
    cr_expect_eq(corr_restore(eng, bs.b[0], bs.len[0]), CORR_RESTORE_OK);
    cr_expect_eq(stats().windows_open, open);
    free_blobs(&bs);
}

Test(corr, restore_rejects_bad_and_stale)
{
    start(SSH_BRUTE, NULL);
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    struct blobs bs = {0};
    corr_checkpoint_each(eng, keep_blob, &bs);
    cr_assert_eq(bs.n, 1);
    uint8_t *b = bs.b[0];
    size_t len = bs.len[0];
    /* every truncation and every single-bit flip is refused */
    for (size_t cut = 0; cut < len; cut++)
        cr_assert_eq(corr_restore(eng, b, cut), CORR_RESTORE_BAD, "cut at %zu", cut);
    for (size_t k = 0; k < len; k++) {
        b[k] ^= 0x10;
        cr_assert_eq(corr_restore(eng, b, len), CORR_RESTORE_BAD, "flip at %zu", k);
        b[k] ^= 0x10;
    }
    /* the rule changed (threshold): stale */
    char y[1024];
    snprintf(y, sizeof y, "%s", SSH_BRUTE);
    *strstr(y, "gte: 5") = '\0';
    strcat(y, "gte: 6\n");
    restart(y);
    cr_expect_eq(corr_restore(eng, b, len), CORR_RESTORE_STALE);
    /* the rule is gone: stale */
    restart(PORT_SCAN);
    cr_expect_eq(corr_restore(eng, b, len), CORR_RESTORE_STALE);
    cr_expect_eq(stats().restore_stale, 1);
    cr_expect_eq(stats().windows_open, 0);
    free_blobs(&bs);
}

Test(corr, engine_config_errors)
{
    load(SSH_BRUTE);
    struct corr_config cfg;
    char err[128];
    corr_config_default(&cfg);
    cfg.max_alert_ids = 0;
    cr_expect_null(corr_engine_new(rs, &cfg, on_fire, NULL, err, sizeof err));
    cr_expect(strstr(err, "max_alert_ids") != NULL);
    corr_config_default(&cfg);
    cfg.wheel_slots = 1000;
    cr_expect_null(corr_engine_new(rs, &cfg, on_fire, NULL, err, sizeof err));
    corr_config_default(&cfg);
    cfg.max_memory = 16;
    cr_expect_null(corr_engine_new(rs, &cfg, on_fire, NULL, err, sizeof err));
    cr_expect(strstr(err, "max_memory") != NULL);
}

/* ====================================================================== */
/* bursts                                                                  */

#define LOG_MAX 4096

struct fire_log {
    unsigned n;
    struct {
        uint32_t rule;
        uint64_t count, total, trigger;
        int64_t first, last;
        char key[CORR_GROUP_TEXT_MAX];
        uint32_t nids;
        uint64_t ids[CORR_MAX_ALERT_IDS];
    } f[LOG_MAX];
};

static void log_fire(const struct corr_fire *f, void *arg)
{
    struct fire_log *l = arg;
    if (l->n >= LOG_MAX)
        return;
    l->f[l->n].rule = f->rule_index;
    l->f[l->n].count = f->count;
    l->f[l->n].total = f->alert_ids_total;
    l->f[l->n].trigger = f->trigger_alert_id;
    l->f[l->n].first = f->first_ns;
    l->f[l->n].last = f->last_ns;
    memcpy(l->f[l->n].key, f->group_key, sizeof f->group_key);
    l->f[l->n].nids = f->n_alert_ids;
    memcpy(l->f[l->n].ids, f->alert_ids, sizeof f->alert_ids);
    l->n++;
}

/* corr_feed_burst gives exactly what corr_feed does, evictions and expiry included. */
Test(corr, burst_equals_single)
{
    char y[4096];
    snprintf(y, sizeof y, "%s---\n%s---\n%s---\n%s", SSH_BRUTE, PORT_SCAN, A_THEN_B,
             "title: Recon\nid: 44444444-2222-3333-4444-555555555555\ncorrelation:\n    type: temporal\n"
             "    rules: [fw_scan, ssh_fail, web_trav]\n    group-by: [source.ip]\n    timespan: 2m\n"
             "    condition: {gte: 2}\n");
    unsigned nr = load(y);
    cr_assert_eq(nr, 4);
    struct corr_config cfg;
    corr_config_default(&cfg);
    cfg.max_keys = 300;
    static struct fire_log la, lb;
    char err[128];
    struct corr_engine *a = corr_engine_new(rs, &cfg, log_fire, &la, err, sizeof err);
    struct corr_engine *b = corr_engine_new(rs, &cfg, log_fire, &lb, err, sizeof err);
    cr_assert(a && b);
    enum { N = 60000 };
    static struct vigil_signal sg[N];
    static uint64_t ids[N];
    uint64_t x = 12345;
    static const int kinds[] = {D_SSH_FAIL, D_FW_SCAN, D_WEB_TRAV, D_MANY_FAILED, D_SUCCESS_LOGIN, D_OTHER};
    for (unsigned i = 0; i < N; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        char src[32], user[16];
        snprintf(src, sizeof src, "10.9.%u.%u", (unsigned)(x >> 40) % 4, (unsigned)(x >> 48) % 200);
        snprintf(user, sizeof user, "u%u", (unsigned)(x >> 20) % 50);
        /* mostly in order, some up to 90 s late */
        int64_t t = (int64_t)i * 20 - ((x >> 8) % 10 == 0 ? (int64_t)((x >> 12) % 90000) : 0);
        sg[i] = sig(kinds[(x >> 33) % 6], src, "10.0.0.1", (uint16_t)(1 + (x >> 28) % 40), user, t);
        ids[i] = i + 1;
    }
    unsigned fa = 0, fb = 0;
    for (unsigned i = 0; i < N; i++) {
        fa += corr_feed(a, &sg[i], ids[i], 0);
        if (i % 997 == 996)
            corr_expire(a, 0, 50, NULL);
    }
    /* bursts of odd sizes, with expiry at the same points */
    for (unsigned i = 0; i < N;) {
        unsigned m = 1 + (i / 7) % 37;
        unsigned next = (i / 997 + 1) * 997;   /* the next expiry point */
        if (i + m > next)
            m = next - i;
        if (i + m > N)
            m = N - i;
        fb += corr_feed_burst(b, &sg[i], &ids[i], m, 0);
        i += m;
        if (i % 997 == 0)
            corr_expire(b, 0, 50, NULL);
    }
    cr_expect_eq(fa, fb);
    cr_assert_eq(la.n, lb.n);
    cr_expect_gt(la.n, 10);
    for (unsigned k = 0; k < la.n && k < LOG_MAX; k++)
        cr_assert(!memcmp(&la.f[k], &lb.f[k], sizeof la.f[k]),
                  "fire %u differs: rule %u/%u key %s/%s count %llu/%llu total %llu/%llu first %lld/%lld last "
                  "%lld/%lld trigger %llu/%llu nids %u/%u", k, la.f[k].rule, lb.f[k].rule, la.f[k].key, lb.f[k].key,
                  (unsigned long long)la.f[k].count, (unsigned long long)lb.f[k].count,
                  (unsigned long long)la.f[k].total, (unsigned long long)lb.f[k].total, (long long)la.f[k].first,
                  (long long)lb.f[k].first, (long long)la.f[k].last, (long long)lb.f[k].last,
                  (unsigned long long)la.f[k].trigger, (unsigned long long)lb.f[k].trigger, la.f[k].nids,
                  lb.f[k].nids);
    struct corr_counters ca, cb;
    corr_stats(a, &ca);
    corr_stats(b, &cb);
    cr_expect_eq(ca.windows_evicted_full, cb.windows_evicted_full);
    cr_expect_gt(ca.windows_evicted_full, 0);
    cr_expect_eq(ca.windows_open, cb.windows_open);
    cr_expect_eq(ca.late_signals_dropped, cb.late_signals_dropped);
    cr_expect_gt(ca.late_signals_dropped, 0);
    corr_engine_free(a);
    corr_engine_free(b);
}

/* Blobs that pass the checksum but carry nonsense (a bug elsewhere, a
 * hostile store) are refused or restored into windows that still work. */
static uint32_t fnv1a32(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

Test(corr, restore_fuzz)
{
    char y[4096];
    snprintf(y, sizeof y, "%s---\n%s---\n%s", SSH_BRUTE, PORT_SCAN, A_THEN_B);
    start(y, NULL);
    for (int i = 0; i < 3; i++)
        feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, i * 1000));
    for (int p = 1; p <= 6; p++)
        feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", (uint16_t)p, NULL, 3000 + p));
    feed(sig(D_MANY_FAILED, "10.0.0.5", NULL, 0, "alice", 4000));
    struct blobs bs = {0};
    corr_checkpoint_each(eng, keep_blob, &bs);
    cr_assert_eq(bs.n, 3);
    restart(y);
    uint64_t x = 99;
    unsigned ok = 0;
    uint8_t buf[8192];
    for (unsigned it = 0; it < 30000; it++) {
        unsigned k = it % bs.n;
        size_t len = bs.len[k];
        memcpy(buf, bs.b[k], len);
        for (int m = 0; m < 1 + (int)(it % 4); m++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = 48 + (size_t)(x >> 33) % (len - 52);   /* past the rule fields, before the checksum */
            buf[at] = (uint8_t)(x >> 24);
        }
        uint32_t c = fnv1a32(buf, len - 4);
        memcpy(buf + len - 4, &c, 4);
        ok += corr_restore(eng, buf, len) == CORR_RESTORE_OK;
        if (it % 100 == 0) {
            feed(sig(D_SSH_FAIL, "10.0.0.5", NULL, 22, NULL, 5000));
            feed(sig(D_FW_SCAN, "203.0.113.7", "10.0.0.1", 80, NULL, 5000));
            feed(sig(D_SUCCESS_LOGIN, "10.0.0.5", NULL, 0, "alice", 5000));
            corr_expire(eng, 0, 100, NULL);
        }
    }
    cr_expect_gt(ok, 0);
    cr_expect_lt(ok, 30000);
    corr_expire(eng, BASE + 86400 * SEC, 1000000, NULL);
    cr_expect_eq(stats().windows_open, 0);
    free_blobs(&bs);
}
