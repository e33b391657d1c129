/* Rulesets (engine/ruleset.h) with the shipped packs: what a worker hands to
 * vigil-cp.  One signal per rule that fired, each with the event's key fields
 * (addresses, ports, user, a bounded excerpt of the message) and the rule's
 * identity; nothing for an event no rule matches; counters per parser and
 * per rule. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine/ruleset.h"
#include "engine/syslog.h"
#include "test_support.h"

static struct ruleset *rs;
static struct diag d;

static void setup(void)
{
    struct ruleset_config c;
    ruleset_config_defaults(&c);
    snprintf(c.parsers_dir, sizeof c.parsers_dir, "%s/configs/parsers", VIGIL_SOURCE_DIR);
    snprintf(c.rules_dir, sizeof c.rules_dir, "%s/configs/rules", VIGIL_SOURCE_DIR);
    snprintf(c.fieldmap, sizeof c.fieldmap, "%s/configs/fieldmap.yaml", VIGIL_SOURCE_DIR);
    c.excerpt_max = 40;
    diag_init(&d);
    cr_assert_eq(ruleset_load(&c, &rs, &d), 0);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(ruleset_attach_workers(rs, 2), 0);
}

static void teardown(void)
{
    ruleset_free(rs);
    diag_free(&d);
}

TestSuite(ruleset, .init = setup, .fini = teardown);

static unsigned process(unsigned w, const char *line, struct vigil_event *ev, struct vigil_signal *sig, unsigned max)
{
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    cr_assert_eq(syslog_parse(line, strlen(line), &ctx, ev), SYSLOG_OK);
    ev->observer_ip.family = 4;
    memcpy(ev->observer_ip.addr, (uint8_t[]){192, 0, 2, 77}, 4);
    return ruleset_process(rs, w, ev, sig, max);
}

static bool rule_named(const struct vigil_signal *s, const char *name)
{
    const struct rule_info *ri = detect_rule(rs->rules, s->rule_index);
    return ri && !strncmp(ri->name, name, sizeof ri->name);
}

Test(ruleset, signals_carry_the_events_key_fields)
{
    struct vigil_event ev;
    struct vigil_signal sig[8];
    const char *line = "<38>Mar 27 13:07:11 web-1 sshd[4242]: Failed password for root from 198.51.100.23 port 50022 ssh2";
    unsigned n = process(0, line, &ev, sig, 8);
    cr_assert_eq(n, 2, "failed password and root login");
    bool failed = false, root = false;
    for (unsigned i = 0; i < n; i++) {
        const struct vigil_signal *s = &sig[i];
        const struct rule_info *ri = detect_rule(rs->rules, s->rule_index);
        failed |= rule_named(s, "linux_sshd_failed_password");
        root |= rule_named(s, "linux_sshd_root_login");
        cr_expect_eq(s->kind, SIGNAL_DETECTION);
        cr_expect_eq(s->level, ri->level);
        cr_expect(!memcmp(s->rule_uuid, ri->uuid, 16));
        cr_expect_eq(s->ruleset_hash, rs->hash);
        cr_expect_eq(s->ts_ns, ev.timestamp_ns);
        cr_expect_eq(s->received_ns, ev.received_ns);
        cr_expect_eq(s->observer.family, 4);
        cr_expect_eq(s->observer.addr[3], 77);
        cr_expect_eq(s->source_ip.family, 4);
        cr_expect(!memcmp(s->source_ip.addr, (uint8_t[]){198, 51, 100, 23}, 4));
        cr_expect_eq(s->source_port, 50022);
        cr_expect_eq(s->destination_ip.family, 0, "no destination.ip in an sshd line");
        cr_expect_eq(s->destination_port, 0);
        cr_expect_str_eq(s->user_name, "root");
        cr_expect_eq(s->excerpt_len, 40, "cut to excerpt_max");
        cr_expect(!memcmp(s->excerpt, "Failed password for root from 198.51.100", 40));
        for (unsigned k = 40; k < sizeof s->excerpt; k++)
            cr_expect_eq(s->excerpt[k], 0, "the rest of the excerpt is zero");
    }
    cr_expect(failed && root);
    /* the counters saw it: one event, the parser, both rules */
    const struct ruleset_worker *w = &rs->w[0];
    cr_expect_eq(w->events, 1);
    cr_expect_eq(w->parsed[ruleset_last_fields(rs, 0)->parser], 1);
    for (unsigned i = 0; i < n; i++)
        cr_expect_eq(w->fired[sig[i].rule_index], 1);
    cr_expect_eq(rs->w[1].events, 0, "the other worker's slot is its own");
}

Test(ruleset, firewall_signal_has_both_ends)
{
    struct vigil_event ev;
    struct vigil_signal sig[8];
    const char *line = "<4>Mar 27 13:07:11 gw kernel: [12345.678901] DROP IN=eth0 OUT= MAC=00:11:22:33:44:55:66:77:88:99:aa:bb:08:00 "
                       "SRC=203.0.113.9 DST=192.0.2.10 LEN=44 TOS=0x00 PREC=0x00 TTL=49 ID=54321 PROTO=TCP SPT=41000 DPT=23 "
                       "WINDOW=1024 RES=0x00 SYN URGP=0";
    unsigned n = process(1, line, &ev, sig, 8);
    cr_assert_geq(n, 1);
    for (unsigned i = 0; i < n; i++) {
        cr_expect(!memcmp(sig[i].source_ip.addr, (uint8_t[]){203, 0, 113, 9}, 4));
        cr_expect(!memcmp(sig[i].destination_ip.addr, (uint8_t[]){192, 0, 2, 10}, 4));
        cr_expect_eq(sig[i].source_port, 41000);
        cr_expect_eq(sig[i].destination_port, 23);
        cr_expect_eq(sig[i].user_name[0], 0);
    }
    /* max bounds the signals written; the rest are counted as dropped matches only by rs->max_matches */
    cr_expect_eq(process(1, line, &ev, sig, 1), 1);
    /* a key field given twice: the signal carries its first value */
    const char *twice = "<4>Mar 27 13:07:11 gw kernel: [12345.678901] DROP IN=eth0 OUT= SRC=203.0.113.9 DST=192.0.2.10 "
                        "LEN=44 TTL=49 ID=54321 PROTO=TCP SPT=41000 DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0 SRC=198.51.100.1";
    n = process(1, twice, &ev, sig, 8);
    cr_assert_geq(n, 1);
    cr_expect(!memcmp(sig[0].source_ip.addr, (uint8_t[]){203, 0, 113, 9}, 4));
}

Test(ruleset, no_signal_for_a_benign_line)
{
    struct vigil_event ev;
    struct vigil_signal sig[8];
    memset(sig, 0xa5, sizeof sig);
    cr_expect_eq(process(0, "<86>Mar 27 13:07:11 web-1 CRON[99]: pam_unix(cron:session): session closed for user root", &ev,
                         sig, 8),
                 0);
    cr_expect_eq(sig[0].kind, 0xa5, "nothing written");
    cr_expect_geq(ruleset_last_fields(rs, 0)->parser, 0, "parsed all the same");
}
