/* Parser sets: the shipped packs on real corpus lines (exact fields), the
 * generic formats with their escapes, pack errors, limits, dispatch. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/diag.h"
#include "engine/event.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"
#include "engine/parser.h"
#include "engine/syslog.h"
#include "test_support.h"

static struct field_registry *reg;
static struct logsource_table *lt;
static struct parser_set *ps;
static hs_scratch_t *scratch;
static struct event_fields ef;
static struct diag d;
static struct vigil_event ev;
static char *line;   /* the message being looked at (fields point into it) */

static void setup(void)
{
    reg = field_registry_new();
    lt = logsource_table_new();
    cr_assert(reg && lt);
    diag_init(&d);
    cr_assert_eq(event_fields_init(&ef, 64, 4096), 0);
}

static void teardown(void)
{
    free(line);
    line = NULL;
    if (scratch)
        hs_free_scratch(scratch);
    scratch = NULL;
    parser_set_free(ps);
    ps = NULL;
    event_fields_free(&ef);
    diag_free(&d);
    logsource_table_free(lt);
    field_registry_free(reg);
}

TestSuite(parser, .init = setup, .fini = teardown);

static void load_paths(const char *const *paths, unsigned n, const struct parser_limits *lim)
{
    cr_assert_eq(parser_set_load(paths, n, reg, lt, lim, NULL, &ps, &d), 0);
    cr_assert_not_null(ps);
    cr_assert_eq(parser_set_alloc_scratch(ps, &scratch), 0);
}

static void load_shipped(void)
{
    const char *p = source_path("configs/parsers");
    load_paths(&p, 1, NULL);
    if (d.errors)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors, 0, "the shipped packs have %u errors", d.errors);
}

/* Decodes raw (a whole syslog line) and parses it; returns the parser index. */
static int parse(const char *raw)
{
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    free(line);
    size_t n = strlen(raw);
    line = malloc(n ? n : 1);   /* exact size */
    memcpy(line, raw, n);
    cr_assert_eq(syslog_parse(line, n, &ctx, &ev), SYSLOG_OK, "%s", raw);
    event_fields_from_syslog(&ef, &ev);
    return parser_set_parse(ps, scratch, &ev, &ef);
}

/* A body sent by program prog. */
static int parse_prog(const char *prog, const char *body)
{
    char buf[8192];
    snprintf(buf, sizeof buf, "<13>Jan  1 00:00:00 host %s: %s", prog, body);
    return parse(buf);
}

static void expect_parser(int idx, const char *name)
{
    cr_assert_geq(idx, 0, "not claimed, want %s: %.*s", name, (int)ev.message.len, ev.message.ptr);
    cr_expect_str_eq(parser_set_name(ps, (unsigned)idx), name, "for: %.*s", (int)ev.message.len, ev.message.ptr);
    cr_expect_eq(ef.parser, idx);
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
    cr_assert_not_null(f, "%s absent, want '%s' (%.*s)", name, want, (int)ev.message.len, ev.message.ptr);
    cr_assert_eq(f->type, FIELD_STR, "%s is not a string (type %d)", name, f->type);
    cr_expect(f->v.s.len == strlen(want) && !memcmp(f->v.s.ptr, want, f->v.s.len), "%s is '%.*s', want '%s'", name,
              (int)f->v.s.len, f->v.s.ptr, want);
}

static void expect_int(const char *name, int64_t want)
{
    const struct field_value *f = field(name);
    cr_assert_not_null(f, "%s absent (%.*s)", name, (int)ev.message.len, ev.message.ptr);
    cr_assert_eq(f->type, FIELD_INT, "%s is not an integer (type %d)", name, f->type);
    cr_expect_eq(f->v.i, want, "%s is %lld, want %lld", name, (long long)f->v.i, (long long)want);
}

static void expect_ip(const char *name, const char *want)
{
    const struct field_value *f = field(name);
    cr_assert_not_null(f, "%s absent (%.*s)", name, (int)ev.message.len, ev.message.ptr);
    cr_assert_eq(f->type, FIELD_IP, "%s is not an address (type %d)", name, f->type);
    char buf[64];
    inet_ntop(f->v.ip.family == 4 ? AF_INET : AF_INET6, f->v.ip.addr, buf, sizeof buf);
    cr_expect_str_eq(buf, want, "%s", name);
}

/* All values of a field, joined with ',' (for repeated values such as TCP flags). */
static void expect_all(const char *name, const char *want)
{
    int id = field_registry_find(reg, name);
    cr_assert_geq(id, 0, "%s unknown", name);
    char buf[256] = "";
    for (unsigned i = 0; i < ef.n; i++)
        if (ef.f[i].id == id && ef.f[i].type == FIELD_STR)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%.*s", buf[0] ? "," : "", (int)ef.f[i].v.s.len,
                     ef.f[i].v.s.ptr);
    cr_expect_str_eq(buf, want, "%s", name);
}

static void expect_logsource(const char *product, const char *service, const char *category)
{
    const struct logsource *ls = logsource_get(lt, ef.logsource);
    cr_expect_str_eq(ls->product, product);
    cr_expect_str_eq(ls->service, service);
    cr_expect_str_eq(ls->category, category);
}

/* First line of a corpus file containing needle (wazuh "log N pass = " stripped). */
static char *corpus_line(const char *rel, const char *needle)
{
    size_t len;
    char *buf = read_whole_file(corpus_path(rel), &len);
    cr_assert_not_null(buf, "cannot read %s", rel);
    char *hit = strstr(buf, needle);
    cr_assert_not_null(hit, "no '%s' in %s", needle, rel);
    char *s = hit, *e = hit;
    while (s > buf && s[-1] != '\n')
        s--;
    while (*e && *e != '\n')
        e++;
    if (!strncmp(s, "log ", 4)) {
        s = strchr(s, '=') + 1;
        while (*s == ' ')
            s++;
    }
    char *out = strndup(s, (size_t)(e - s));
    free(buf);
    return out;
}

static int parse_corpus(const char *rel, const char *needle)
{
    char *l = corpus_line(rel, needle);
    int r = parse(l);
    free(l);
    return r;
}

static int parse_corpus_prog(const char *prog, const char *rel, const char *needle)
{
    char *l = corpus_line(rel, needle);
    int r = parse_prog(prog, l);
    free(l);
    return r;
}

/* ---- the shipped packs ---------------------------------------------------- */

Test(parser, shipped_packs_load_without_errors)
{
    load_shipped();
    cr_expect_geq(parser_set_count(ps), 200);
    for (unsigned i = 0; i < parser_set_count(ps); i++) {
        const char *n = parser_set_name(ps, i);
        cr_assert_not_null(n);
        cr_expect_not_null(strchr(n, '/'), "%s is not pack/name", n);
        for (unsigned k = 0; k < i; k++)
            cr_expect_str_neq(n, parser_set_name(ps, k));
    }
    cr_expect_null(parser_set_name(ps, parser_set_count(ps)));
}

Test(parser, openssh_elastic_auth)
{
    load_shipped();
    expect_parser(parse_corpus("syslog/elastic_auth.log", "Failed password for root from"), "openssh/failed_password");
    expect_str("user.name", "root");
    expect_str("system.auth.ssh.method", "password");
    expect_str("event.category", "authentication");
    expect_str("event.outcome", "failure");
    expect_str("event.action", "ssh_login");
    cr_expect_not_null(field("source.ip"));
    cr_expect_eq(field("source.ip")->type, FIELD_IP);
    cr_expect_eq(field("source.port")->type, FIELD_INT);
    expect_logsource("linux", "sshd", "");

    expect_parser(parse("Mar 27 13:07:49 ip-10-77-20-248 sshd[1365]: Invalid user admin from 122.176.37.221"),
                  "openssh/invalid_user");
    char *l = corpus_line("syslog/elastic_auth.log", "Invalid user ");
    expect_parser(parse(l), "openssh/invalid_user");
    free(l);
    cr_expect_not_null(field("user.name"));
    expect_str("event.action", "invalid_user");

    expect_parser(parse_corpus("syslog/elastic_auth.log", "Failed password for invalid user"),
                  "openssh/failed_invalid_user");
    expect_str("event.reason", "invalid_user");

    expect_parser(parse("Mar 27 13:11:04 ip-10-77-20-248 sshd[1460]: Accepted publickey for ubuntu from 85.245.107.41 "
                        "port 54259 ssh2: RSA SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg"),
                  "openssh/accepted_publickey");
    expect_str("user.name", "ubuntu");
    expect_ip("source.ip", "85.245.107.41");
    expect_int("source.port", 54259);
    expect_str("system.auth.ssh.signature", "SHA256:Kl8kPGZrTiz7g4FO1hyqHdsSBBb5Fge6NWOobN03XJg");
    expect_str("event.outcome", "success");

    expect_parser(parse_corpus("syslog/elastic_auth.log", "Disconnecting: Too many authentication failures"),
                  "openssh/too_many_failures");
    expect_parser(parse_corpus("syslog/elastic_auth.log", "maximum authentication attempts exceeded for invalid user"),
                  "openssh/max_attempts_invalid_user");
    expect_parser(parse_corpus("syslog/elastic_auth.log", "Connection closed by"), "openssh/connection_closed_port");
    expect_parser(parse_corpus("syslog/elastic_auth.log", "message repeated"), "openssh/repeated_failed_password");
    expect_parser(parse("Mar 28 03:08:42 ip-10-77-20-248 sshd[3536]: Received disconnect from 85.245.107.41 port 54259:11: "
                        "disconnected by user"),
                  "openssh/received_disconnect");
    expect_int("system.auth.ssh.disconnect_code", 11);
    expect_str("event.reason", "disconnected by user");
    /* empty user name ("Invalid user  from"): no user.name value */
    expect_parser(parse("Apr  3 10:01:02 h sshd[1]: Invalid user  from 192.0.2.9"), "openssh/invalid_user");
    expect_str("user.name", NULL);
    expect_ip("source.ip", "192.0.2.9");
}

Test(parser, openssh_other_sources)
{
    load_shipped();
    expect_parser(parse("Apr  2 17:53:01 pancake sshd[55657]: error: PAM: authentication error for illegal user "
                        "oracle from example.com"),
                  "openssh/pam_error_illegal_user_host");
    expect_str("user.name", "oracle");
    expect_str("source.domain", "example.com");
    expect_str("event.reason", "authentication error");
    expect_parser(parse("Oct 20 12:33:07 ar-agent sshd[3433]: Address 192.168.18.54 maps to "
                        "nmap.18.168.192.in-addr.arpa, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!"),
                  "openssh/address_maps_back");
    expect_ip("source.ip", "192.168.18.54");
    expect_str("source.domain", "nmap.18.168.192.in-addr.arpa");
    expect_parser(parse_corpus("syslog/wazuh-ruletests/sshd.ini", "Failed password for invalid user sammy"),
                  "openssh/failed_invalid_user");
    expect_str("user.name", "sammy");
    expect_ip("source.ip", "82.202.219.155");
    expect_int("source.port", 51676);
    /* "Failed ... port N" without ssh2, and an IPv6 source */
    expect_parser(parse("Jan  1 00:00:00 h sshd[1]: Failed password for invalid user ROOT from aaaa:bbbb:cccc:1234::1:1 port 12345"),
                  "openssh/failed_invalid_user");
    expect_ip("source.ip", "aaaa:bbbb:cccc:1234::1:1");
}

Test(parser, sudo_su_pam)
{
    load_shipped();
    expect_parser(parse("Mar 27 13:07:37 ip-10-77-20-248 sudo:   ubuntu : TTY=pts/0 ; PWD=/home/ubuntu ; USER=root ; "
                        "COMMAND=/usr/bin/vim /etc/ssh/sshd_config"),
                  "sudo/command");
    expect_str("user.name", "ubuntu");
    expect_str("user.target.name", "root");
    expect_str("system.auth.sudo.tty", "pts/0");
    expect_str("process.working_directory", "/home/ubuntu");
    expect_str("process.command_line", "/usr/bin/vim /etc/ssh/sshd_config");
    expect_logsource("linux", "sudo", "");
    expect_parser(parse_prog("sudo", "mallory : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/home/mallory ; "
                                     "USER=root ; COMMAND=/bin/cat /etc/shadow"),
                  "sudo/incorrect_password");
    expect_int("system.auth.sudo.attempts", 3);
    expect_str("event.outcome", "failure");

    expect_parser(parse_corpus("syslog/elastic_auth.log", "Successful su for"), "su/successful");
    expect_str("user.name", "root");
    expect_str("user.target.name", "root");
    expect_parser(parse_corpus("syslog/wazuh-ruletests/su.ini", "BAD SU"), "su/bad_su");
    expect_str("user.name", "ger");
    expect_str("user.target.name", "fwmaster");

    /* pam_unix: sessions (any program), auth failures through the kv parser */
    expect_parser(parse_corpus("syslog/elastic_auth.log", "pam_unix(sudo:session): session opened for user root by ubuntu"),
                  "pam/session_opened_by");
    expect_str("user.name", "ubuntu");
    expect_str("user.target.name", "root");
    expect_int("user.id", 0);
    expect_parser(parse_corpus("syslog/elastic_auth.log", "pam_unix(cron:session): session closed"), "pam/session_closed");
    expect_logsource("linux", "cron", "");
    expect_parser(parse_corpus("syslog/elastic_auth.log", "rhost=218.60.136.106  user=root"), "pam/auth_failure");
    expect_ip("source.ip", "218.60.136.106");
    expect_str("user.name", "root");
    expect_str("event.outcome", "failure");
    expect_logsource("linux", "sshd", "");
    expect_parser(parse_corpus("syslog/loghub/Linux_2k.log", "rhost=218.188.2.4"), "pam/auth_failure");
    expect_ip("source.ip", "218.188.2.4");
    expect_str("system.auth.pam.tty", "NODEVssh");
    expect_logsource("linux", "sshd", "");
    /* rhost that is a name goes to source.domain */
    expect_parser(parse_corpus("syslog/fail2ban/logs/pam-generic", "rhost=71-13-115-12.static.mdsn.wi.charter.com  user=root"),
                  "pam/auth_failure");
    expect_str("source.domain", "71-13-115-12.static.mdsn.wi.charter.com");
    cr_expect_null(field("source.ip"));
    expect_parser(parse_corpus("syslog/wazuh-ruletests/su.ini", "ruser=dcid rhost=  user=root"), "pam/auth_failure");
    expect_str("source.user.name", "dcid");
    expect_str("user.name", "root");
    expect_logsource("linux", "su", "");
}

Test(parser, iptables_psad)
{
    load_shipped();
    expect_parser(parse_corpus("syslog/iptables-psad/syn_scan_1000_1500.log", "[463490.251762] DROP"), "iptables/netfilter");
    expect_ip("source.ip", "192.168.10.55");
    expect_ip("destination.ip", "192.168.10.1");
    expect_int("source.port", 56247);
    expect_int("destination.port", 1025);
    expect_str("network.transport", "tcp");
    expect_all("iptables.tcp.flags", "SYN");
    expect_str("rule.name", "DROP");
    expect_str("observer.ingress.interface.name", "eth1");
    expect_str("observer.egress.interface.name", NULL);
    expect_int("iptables.ttl", 53);
    expect_logsource("linux", "iptables", "firewall");

    expect_parser(parse_corpus("syslog/iptables-psad/ipv6_tcp_connect_nmap_default_scan.log", "DPT=443"),
                  "iptables/netfilter");
    expect_ip("source.ip", "2001:db8:0:f101::2");
    expect_int("destination.port", 443);
    expect_parser(parse_corpus("syslog/iptables-psad/ipv4_igmp.log", "Shorewall"), "iptables/netfilter");
    expect_str("rule.name", "Shorewall:wlan0_mac:DROP");
    expect_str("network.transport", "2");
    expect_parser(parse_corpus("syslog/wazuh-ruletests/iptables.ini", "FIREWALL_OUT"), "iptables/netfilter");
    expect_all("iptables.tcp.flags", "ACK,RST");
    expect_all("iptables.fragment_flags", "DF");
    expect_str("rule.name", "FIREWALL_OUT");
    expect_str("observer.egress.interface.name", "eth0");
    expect_parser(parse_corpus("syslog/iptables-psad/syslog_time_fmt1.log", "SRC=4.4.4.4"), "iptables/netfilter");
    expect_str("rule.name", "DROP");
    expect_int("destination.port", 21);
}

Test(parser, cisco_asa)
{
    load_shipped();
    char *l = corpus_line("syslog/wazuh-ruletests/cisco_asa.ini", "%ASA-4-106023: Deny tcp");
    char buf[512];
    snprintf(buf, sizeof buf, "<164>%s", l);
    free(l);
    expect_parser(parse(buf), "cisco-asa/106023");
    expect_str("event.code", "106023");
    expect_str("network.transport", "tcp");
    expect_str("observer.ingress.interface.name", "inside");
    expect_ip("source.ip", "111.11.11.1");
    expect_int("source.port", 2143);
    expect_str("observer.egress.interface.name", "YYY");
    expect_ip("destination.ip", "172.11.1.11");
    expect_int("destination.port", 139);
    expect_str("rule.name", "inside_inbound");
    expect_str("event.outcome", "failure");
    expect_logsource("cisco", "asa", "firewall");

    l = corpus_line("syslog/wazuh-ruletests/cisco_asa.ini", "%ASA-4-733100");
    snprintf(buf, sizeof buf, "<164>%s", l);
    free(l);
    expect_parser(parse(buf), "cisco-asa/733100");
    expect_str("rule.name", "Object");
    expect_int("cisco.asa.burst_rate", 9);
    expect_int("cisco.asa.total_count", 9198);
    expect_str("event.category", "intrusion_detection");

    /* the object-name variant: names where addresses usually are */
    expect_parser(parse("<164>Oct 03 2018 17:34:08: %ASA-4-106023: Deny udp src office:1.1.1.1/3217 dst "
                        "FE_xUI:Server_Windows/15000 by access-group \"ACLoffice\" [0x0, 0x0]"),
                  "cisco-asa/106023_objects");
    expect_ip("source.address", "1.1.1.1");
    expect_str("destination.address", "Server_Windows");

    expect_parser(parse("<166>%ASA-6-302013: Built outbound TCP connection 9 for outside:10.1.2.1/22 (10.1.2.1/22) to "
                        "inside:10.1.1.2/53496 (10.1.1.2/53496)"),
                  "cisco-asa/302013_outbound");
    expect_ip("destination.ip", "10.1.2.1");
    expect_ip("source.ip", "10.1.1.2");
    expect_str("network.direction", "outbound");
    expect_parser(parse("<166>%ASA-6-302014: Teardown TCP connection 4211 for external:171.70.168.183/53 to "
                        "mgmt:192.168.1.185/1032 duration 0:00:00 bytes 526"),
                  "cisco-asa/302014_teardown");
    expect_int("network.bytes", 526);
    expect_str("cisco.asa.duration", "0:00:00");
    expect_parser(parse("<163>%ASA-3-710003: TCP access denied by ACL from 192.168.0.1/11 to outside:192.168.0.2/22"),
                  "cisco-asa/710003");
    expect_int("destination.port", 22);
}

Test(parser, web_access_and_errors)
{
    load_shipped();
    expect_parser(parse_corpus_prog("nginx", "syslog/fail2ban/logs/nginx-botsearch", "7.8.9.10 - root"),
                  "web-access/combined");
    expect_ip("source.ip", "7.8.9.10");
    expect_str("user.name", "root");
    expect_str("http.request.method", "GET");
    expect_str("url.original", "/cgi-bin/recent.cgi");
    expect_str("url.path", "/cgi-bin/recent.cgi");
    expect_str("url.query", NULL);
    expect_str("http.version", "1.1");
    expect_int("http.response.status_code", 404);
    expect_int("http.response.body.bytes", 162);
    expect_str("http.request.referrer", NULL);
    expect_logsource("nginx", "", "webserver");

    expect_parser(parse_prog("apache2", "83.149.9.216 - - [17/May/2015:10:05:50 +0000] \"GET /search?q=x%20y&p=2 "
                                        "HTTP/1.1\" 200 1234 \"http://example.com/\" \"Mozilla/5.0 (X11)\""),
                  "web-access/combined");
    expect_str("url.original", "/search?q=x%20y&p=2");
    expect_str("url.path", "/search");
    expect_str("url.query", "q=x%20y&p=2");
    expect_str("http.request.referrer", "http://example.com/");
    expect_str("user_agent.original", "Mozilla/5.0 (X11)");
    expect_logsource("apache", "", "webserver");

    expect_parser(parse_corpus_prog("httpd", "syslog/fail2ban/logs/apache-auth", "[auth_basic:error] [pid 17512:tid 140123079128832]"),
                  "apache/error24_client_port");
    expect_str("apache.error.module", "auth_basic");
    expect_str("log.level", "error");
    expect_ip("source.ip", "127.0.0.1");
    expect_int("source.port", 51386);
    expect_str("error.message", "AH01618: user  not found: /basic/file/cant_get_me.html");
    expect_logsource("apache", "error", "");
    expect_parser(parse_corpus_prog("httpd", "syslog/loghub/Apache_2k.log", "[client 222.166.160.184]"),
                  "apache/error22_client");
    expect_ip("source.ip", "222.166.160.184");
    expect_str("error.message", "Directory index forbidden by rule: /var/www/html/");

    expect_parser(parse_corpus_prog("nginx", "syslog/fail2ban/logs/nginx-http-auth", "user \"xyz\" was not found"),
                  "nginx/auth_user_not_found");
    expect_str("user.name", "xyz");
    expect_ip("source.ip", "192.0.43.10");
    expect_str("event.outcome", "failure");
    expect_int("process.thread.id", 0);
    expect_logsource("nginx", "error", "");
}

Test(parser, mail_and_ftp)
{
    load_shipped();
    expect_parser(parse_corpus("syslog/fail2ban/logs/postfix", "Relay access denied"), "postfix/smtpd_reject_from_to");
    expect_str("postfix.queue_id", "NOQUEUE");
    expect_str("postfix.smtp.command", "RCPT");
    expect_str("source.domain", "1-2-3-4-example.com");
    expect_ip("source.ip", "1.2.3.4");
    expect_int("postfix.status_code", 554);
    expect_str("email.from.address", "john@example.com");
    expect_str("email.to.address", "smtp@example.org");
    expect_logsource("postfix", "", "mail");
    expect_parser(parse_corpus("syslog/fail2ban/logs/postfix", "SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
                  "postfix/sasl_failed");
    expect_ip("source.ip", "82.221.106.233");
    expect_str("event.outcome", "failure");

    expect_parser(parse_corpus("syslog/fail2ban/logs/dovecot", "Disconnected (auth failed, 2 attempts)"),
                  "dovecot/login_auth_failed");
    expect_str("user.name", "username.bob");
    expect_ip("source.ip", "49.176.98.87");
    expect_ip("destination.ip", "113.212.99.194");
    expect_int("dovecot.attempts", 2);
    expect_logsource("dovecot", "", "mail");
    expect_parser(parse_corpus("syslog/fail2ban/logs/dovecot", "Jan 29 05:32:50 mail dovecot: auth-worker(304)"),
                  "dovecot/passdb_failure");
    expect_str("dovecot.passdb", "pam");
    expect_str("user.name", "username");
    expect_ip("source.ip", "1.2.3.4");

    expect_parser(parse_corpus_prog("vsftpd", "syslog/fail2ban/logs/vsftpd", "[pid 27202] [anonymous] FAIL LOGIN"),
                  "ftp/vsftpd_log_fail_login");
    expect_str("user.name", "anonymous");
    expect_ip("source.ip", "64.106.46.98");
    expect_parser(parse_corpus("syslog/fail2ban/logs/vsftpd", "[username] FAIL LOGIN"), "ftp/vsftpd_fail_login");
    expect_ip("source.ip", "192.0.2.222");
    expect_parser(parse_corpus_prog("vsftpd", "syslog/wazuh-ruletests/vsftpd.ini", "FAIL LOGIN: Client \"fe80"),
                  "ftp/vsftpd_log_fail_login");
    expect_ip("source.ip", "fe80::baac:6fff:fe7d:d2e0");
}

Test(parser, ids_alerts)
{
    load_shipped();
    expect_parser(parse_prog("suricata[1234]", "[1:2010935:3] ET SCAN Suspicious inbound to MSSQL port 1433 "
                                               "[Classification: Potentially Bad Traffic] [Priority: 2] {TCP} "
                                               "1.2.3.4:1234 -> 5.6.7.8:1433"),
                  "ids/alert_ports");
    expect_str("rule.id", "2010935");
    expect_str("rule.name", "ET SCAN Suspicious inbound to MSSQL port 1433");
    expect_str("rule.category", "Potentially Bad Traffic");
    expect_int("event.severity", 2);
    expect_str("network.transport", "TCP");
    expect_ip("source.ip", "1.2.3.4");
    expect_int("source.port", 1234);
    expect_ip("destination.ip", "5.6.7.8");
    expect_int("destination.port", 1433);
    expect_logsource("suricata", "", "ids");
    expect_parser(parse_prog("snort", "[1:384:5] ICMP PING [Classification: Misc activity] [Priority: 3]: <eth0> {ICMP} "
                                      "192.0.2.1 -> 192.0.2.2"),
                  "ids/alert");
    expect_ip("destination.ip", "192.0.2.2");
}

Test(parser, fortigate_kv)
{
    load_shipped();
    char *l = corpus_line("syslog/wazuh-ruletests/fortigate.ini", "srcip=10.1.100.11 srcport=60446");
    char buf[4096];
    snprintf(buf, sizeof buf, "<189>%s", l);
    free(l);
    expect_parser(parse(buf), "fortigate/fortios");
    expect_ip("source.ip", "10.1.100.11");
    expect_int("source.port", 60446);
    expect_ip("destination.ip", "172.16.200.55");
    expect_int("destination.port", 80);
    expect_str("event.code", "0000000013");
    expect_str("event.action", "close");
    expect_str("network.protocol", "http");
    expect_str("observer.ingress.interface.name", "port12");
    expect_int("source.bytes", 412);
    expect_str("rule.id", "4");
    expect_str("observer.vendor", "Fortinet");
    expect_logsource("fortigate", "", "firewall");
    expect_parser(parse_corpus("syslog/wazuh-ruletests/fortigate.ini", "Admin login failed\" sn=0 user=\"root\""),
                  "fortigate/fortios");
    expect_str("user.name", "root");
    expect_str("fortinet.firewall.msg", "Administrator root login failed from ssh(222.186.130.227) because of invalid user name");
}

Test(parser, program_prefix_and_default_logsource)
{
    load_shipped();
    expect_parser(parse_corpus("syslog/fail2ban/logs/postfix", "postfix/submission/smtpd[11538]: warning: unknown[82.221.106.233]: SASL LOGIN authentication failed: UGFzc3dvcmQ6"),
                  "postfix/sasl_failed");
    expect_logsource("postfix", "", "mail");
    /* an unparsed message keeps its program's log source */
    cr_expect_eq(parse_prog("sshd[42]", "Some message no template knows"), -1);
    cr_expect_eq(ef.parser, -1);
    expect_logsource("linux", "sshd", "");
    cr_expect_eq(parse_prog("unknownd", "Some message no template knows"), -1);
    cr_expect_eq(ef.logsource, 0);
    /* names that share a length and their first 8 bytes with a pack's
     * program, or are a prefix of it, are other programs */
    cr_expect_eq(parse_prog("systemd-logine", "New session 3 of user bob."), -1);
    cr_expect_eq(ef.logsource, 0);
    cr_expect_eq(parse_prog("systemd-lXgind", "New session 3 of user bob."), -1, "same hash, differs after 8 bytes");
    cr_expect_eq(ef.logsource, 0);
    cr_expect_eq(parse_prog("systemd-login", "New session 3 of user bob."), -1);
    cr_expect_eq(ef.logsource, 0);
    cr_expect_geq(parse_prog("systemd-logind", "New session 3 of user bob."), 0);
    expect_logsource("linux", "systemd-logind", "");
    cr_expect_eq(parse_prog("ssh", "Some message no template knows"), -1);
    cr_expect_eq(ef.logsource, 0);
    cr_expect_eq(parse_prog("sshdd", "Some message no template knows"), -1);
    cr_expect_eq(ef.logsource, 0);
    /* an empty body */
    cr_expect_eq(parse("<13>Jan  1 00:00:00 host sshd: "), -1);
    expect_logsource("linux", "sshd", "");
}

/* ---- packs written by the test ------------------------------------------------ */

static char tmpdir[64];

static const char *write_pack(const char *name, const char *text)
{
    if (!tmpdir[0]) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/vigil-parser-XXXXXX");
        cr_assert_not_null(mkdtemp(tmpdir));
    }
    static char path[16][256];
    static unsigned next;
    char *p = path[next++ % 16];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void remove_tmpdir(void)
{
    if (!tmpdir[0])
        return;
    DIR *dir = opendir(tmpdir);
    struct dirent *de;
    while (dir && (de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
        unlink(p);
    }
    if (dir)
        closedir(dir);
    rmdir(tmpdir);
    tmpdir[0] = '\0';
}

static const char generic_pack[] =
    "pack: gen\n"
    "parsers:\n"
    "  - name: cef\n"
    "    format: cef\n"
    "    map: {deviceVendor: observer.vendor, deviceProduct: observer.product, signatureId: rule.id, name: rule.name,\n"
    "          severity: event.severity, src: source.ip, dst: destination.ip, spt: source.port, msg: message.text,\n"
    "          cs1: cef.cs1, duser: user.name}\n"
    "  - name: leef\n"
    "    format: leef\n"
    "    map: {deviceVendor: observer.vendor, signatureId: rule.id, src: source.ip, dst: destination.ip,\n"
    "          srcPort: source.port, usrName: user.name, cat: event.category}\n"
    "  - name: json\n"
    "    format: json\n"
    "    map: {src.ip: source.ip, src.port: source.port, user: user.name, n: j.n, f: j.f, ok: j.ok, nul: j.nul,\n"
    "          tags: tags, tags.x: j.tagx, esc: j.esc, deep.a.b.c: j.deep, \"k\\u00e9y\": j.key, id: j.id:str}\n"
    "  - name: kv\n"
    "    format: kv\n"
    "    claim: \"act=\"\n"
    "    map: {user: user.name, src: source.ip|source.domain, msg: j.msg, act: event.action, empty: j.empty}\n"
    "    lowercase: [event.action]\n"
    "    set: {event.kind: event, event.risk: 7}\n";

Test(parser, generic_formats_with_escapes)
{
    const char *p = write_pack("gen.yaml", generic_pack);
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);

    /* CEF: header escapes, extension escapes, values with spaces */
    expect_parser(parse_prog("x", "CEF:0|Sec\\|urity|threat\\\\manager|1.0|100|worm successfully stopped|10|src=10.0.0.1 "
                                  "dst=2.1.2.2 spt=1232 msg=Detected a \\= sign and \\\\ \\n next cs1=with spaces here  "
                                  "duser=bob"),
                  "gen/cef");
    expect_str("observer.vendor", "Sec|urity");
    expect_str("observer.product", "threat\\manager");
    expect_str("rule.id", "100");
    expect_str("rule.name", "worm successfully stopped");
    expect_int("event.severity", 10);
    expect_ip("source.ip", "10.0.0.1");
    expect_int("source.port", 1232);
    expect_str("message.text", "Detected a = sign and \\ \n next");
    expect_str("cef.cs1", "with spaces here");
    expect_str("user.name", "bob");
    /* CEF after syslog leftovers; not CEF without the 7 header fields */
    expect_parser(parse_prog("x", "host1 CEF:0|V|P|1|7|N|3|src=192.0.2.1"), "gen/cef");
    expect_ip("source.ip", "192.0.2.1");
    cr_expect_eq(parse_prog("x", "CEF:0|V|P|1|7|N"), -1);

    /* LEEF 1.0 (tabs), 2.0 with '^' and with a hex delimiter */
    expect_parser(parse_prog("x", "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.7\tdst=172.50.123.1\t"
                                  "srcPort=81\tusrName=joe black\tcat=anomaly"),
                  "gen/leef");
    expect_str("observer.vendor", "Microsoft");
    expect_str("rule.id", "15345");
    expect_ip("source.ip", "192.0.2.7");
    expect_int("source.port", 81);
    expect_str("user.name", "joe black");
    expect_parser(parse_prog("x", "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^srcPort=8080"),
                  "gen/leef");
    expect_ip("destination.ip", "10.0.0.5");
    expect_int("source.port", 8080);
    expect_parser(parse_prog("x", "LEEF:2.0|V|P|1|42|x7C|src=10.0.1.9|usrName=amy"), "gen/leef");
    expect_ip("source.ip", "10.0.1.9");
    expect_str("user.name", "amy");

    /* JSON: nesting, \u escapes with a surrogate pair, numbers, arrays */
    expect_parser(parse_prog("x", "@cee: {\"src\":{\"ip\":\"10.1.2.3\",\"port\":443},\"user\":\"j\\u00fcrgen "
                                  "\\ud83d\\ude00\",\"n\":-12,\"f\":1.5,\"ok\":true,\"nul\":null,"
                                  "\"tags\":[\"a\",\"b\",{\"x\":1}],\"esc\":\"a\\\"b\\\\c\\nd\\/\","
                                  "\"deep\":{\"a\":{\"b\":{\"c\":\"down\"}}},\"k\\u00e9y\":\"v\",\"id\":0042}"),
                  "gen/json");
    expect_ip("source.ip", "10.1.2.3");
    expect_int("source.port", 443);
    expect_str("user.name", "j\xc3\xbcrgen \xf0\x9f\x98\x80");
    expect_int("j.n", -12);
    expect_str("j.f", "1.5");
    expect_str("j.ok", "true");
    expect_str("j.nul", NULL);
    expect_all("tags", "a,b");
    expect_str("j.tagx", NULL);
    expect_str("j.esc", "a\"b\\c\nd/");
    expect_str("j.deep", "down");
    expect_str("j.key", "v");
    expect_str("j.id", "0042");
    uint16_t n0 = 0;
    cr_expect_eq(parse_prog("x", "{\"user\": \"x\", \"broken\": [1, 2"), -1);
    (void)n0;
    cr_expect_str_eq(field_registry_name(reg, ef.f[ef.n - 1].id), "log.syslog.severity.code",
                     "a refused JSON message leaves only the built-in fields");

    /* kv: quotes with escapes, single quotes, empty values, lowercase, fallback field, constants */
    expect_parser(parse_prog("x", "user=\"John \\\"JD\\\" Doe\" src=fw.example.com msg='it is' empty= act=DENY"), "gen/kv");
    expect_str("user.name", "John \"JD\" Doe");
    expect_str("source.domain", "fw.example.com");
    expect_str("j.msg", "it is");
    expect_str("j.empty", NULL);
    expect_str("event.action", "deny");
    expect_str("event.kind", "event");
    expect_int("event.risk", 7);
    cr_expect_eq(parse_prog("x", "act=only-one-pair"), -1, "kv needs min_pairs (2) pairs");
    remove_tmpdir();
}

Test(parser, bad_pack_is_rejected_whole)
{
    const char *good = write_pack("a-good.yaml", "pack: good\n"
                                                 "parsers:\n"
                                                 "  - name: hello\n"
                                                 "    template: \"hello %{WORD:user.name}\"\n");
    write_pack("b-bad.yaml", "pack: bad\n"                                   /* 1 */
                             "parsers:\n"                                    /* 2 */
                             "  - name: fine\n"                              /* 3 */
                             "    template: \"fine %{WORD:user.name}\"\n"    /* 4 */
                             "  - name: broken\n"                            /* 5 */
                             "    template: \"x %{NOPE:user.name}\"\n"       /* 6 */
                             "  - name: odd\n"                               /* 7 */
                             "    templte: \"y\"\n");                        /* 8 */
    write_pack("c-syntax.yml", "pack: syn\nparsers:\n  - name: [unclosed\n");
    write_pack("d-dup.yaml", "pack: dup\nparsers:\n  - name: a\n    template: \"a %{INT:n}\"\n  - name: a\n"
                             "    template: \"b %{INT:n}\"\n");
    write_pack("ignored.txt", "not a pack");
    (void)good;
    const char *dir = tmpdir;
    load_paths(&dir, 1, NULL);
    cr_expect_eq(parser_set_count(ps), 1, "only the good pack loads");
    cr_expect_str_eq(parser_set_name(ps, 0), "good/hello");
    cr_expect_geq(d.errors, 4);
    bool bad_type = false, bad_key = false, syntax = false, missing_kind = false, dup = false;
    for (unsigned i = 0; i < d.n; i++) {
        const struct diag_entry *e = &d.entries[i];
        if (strstr(e->file, "b-bad.yaml") && e->line == 6 && strstr(e->msg, "unknown type 'NOPE'") &&
            strstr(e->msg, "column 5") && !strcmp(e->what, "bad/broken"))
            bad_type = true;
        if (strstr(e->file, "b-bad.yaml") && e->line == 8 && strstr(e->msg, "unknown parser key 'templte'"))
            bad_key = true;
        if (strstr(e->file, "b-bad.yaml") && e->line == 7 && strstr(e->msg, "exactly one of"))
            missing_kind = true;
        if (strstr(e->file, "c-syntax.yml") && e->line >= 3 && strstr(e->msg, "YAML"))
            syntax = true;
        if (strstr(e->file, "d-dup.yaml") && e->line == 5 && strstr(e->msg, "duplicate parser name"))
            dup = true;
    }
    if (!(bad_type && bad_key && syntax && missing_kind && dup))
        diag_print(&d, stderr);
    cr_expect(bad_type, "unknown type reported with file, line 6 and column");
    cr_expect(bad_key, "unknown key reported at line 8");
    cr_expect(missing_kind, "parser without template/format reported at line 7");
    cr_expect(syntax, "YAML syntax error reported with its line");
    cr_expect(dup, "duplicate parser name reported");
    /* the good pack works; the bad pack's good parser did not load */
    expect_parser(parse_prog("p", "hello world"), "good/hello");
    cr_expect_eq(parse_prog("p", "fine world"), -1);
    remove_tmpdir();
}

Test(parser, limits_are_enforced_and_counted)
{
    /* max_fields at load: a template capturing more is an error for its pack */
    const char *p = write_pack("lim.yaml", "pack: lim\nparsers:\n"
                                           "  - name: three\n    template: \"%{INT:a} %{INT:b} %{INT:c}\"\n");
    const char *q = write_pack("kv.yaml", "pack: kv\nparsers:\n"
                                          "  - name: many\n    format: kv\n"
                                          "    map: {a: f.a, b: f.b, c: f.c, d: f.d, e: f.e}\n"
                                          "  - name: two\n    template: \"two %{INT:a} %{INT:b}\"\n");
    const char *paths[] = {p, q};
    struct parser_limits lim = {.max_parsers = 100, .max_fields = 2};
    load_paths(paths, 2, &lim);
    cr_expect_eq(d.errors, 1);
    cr_expect(d.n && strstr(d.entries[0].msg, "more than 2"), "%s", d.n ? d.entries[0].msg : "");
    cr_expect_eq(parser_set_count(ps), 2);
    /* generic parsers stop at max_fields and count the rest */
    expect_parser(parse_prog("x", "a=1 b=2 c=3 d=4 e=5"), "kv/many");
    unsigned got = 0;
    for (unsigned i = 0; i < ef.n; i++)
        got += ef.f[i].id >= FID__BUILTIN;
    cr_expect_eq(got, 2);
    cr_expect_eq(ef.dropped, 3);
    /* the event's own limit */
    struct event_fields small;
    cr_assert_eq(event_fields_init(&small, 6, 256), 0);
    static const struct syslog_ctx ctx = {0, NULL};
    const char *raw = "<13>Jan  1 00:00:00 host x: two 1 2";
    cr_assert_eq(syslog_parse(raw, strlen(raw), &ctx, &ev), SYSLOG_OK);
    event_fields_from_syslog(&small, &ev);
    cr_assert_eq(small.n, 5, "message, host, program, facility, severity");
    cr_expect_geq(parser_set_parse(ps, scratch, &ev, &small), 0);
    cr_expect_eq(small.n, 6);
    cr_expect_eq(small.dropped, 1, "the value past the event limit is counted");
    event_fields_free(&small);
    parser_set_free(ps);
    ps = NULL;
    hs_free_scratch(scratch);
    scratch = NULL;
    diag_free(&d);
    diag_init(&d);
    /* max_parsers: the pack that does not fit is rejected whole */
    struct parser_limits lim2 = {.max_parsers = 1, .max_fields = 8};
    load_paths(paths, 2, &lim2);
    cr_expect_eq(parser_set_count(ps), 1);
    bool limit = false;
    for (unsigned i = 0; i < d.n; i++)
        limit |= strstr(d.entries[i].msg, "parser limit") != NULL;
    cr_expect(limit);
    remove_tmpdir();
}

/* Walker-only buckets: the literal-prefix prefilter collapses blank runs as
 * the walker does; templates sharing leading steps resume or fail together;
 * the first template in file order that accepts still wins. */
Test(parser, prefilter_and_shared_steps_keep_file_order)
{
    const char *p = write_pack("pf.yaml",
        "pack: pf\nprograms:\n  t: {product: test}\nparsers:\n"
        "  - name: invalid\n    program: t\n    template: \"Failed password for invalid user %{DATA:user.name} from %{IP:source.ip}\"\n"
        "  - name: password\n    program: t\n    template: \"Failed password for %{DATA:user.name} from %{IP:source.ip}\"\n"
        "  - name: method\n    program: t\n    template: \"Failed %{WORD:m} for %{DATA:user.name} from %{IP:source.ip}\"\n"
        "    set: {event.outcome: failure, event.risk: 3}\n"
        "  - name: x\n    program: t\n    template: \"[%{INT:n}] [%{WORD:w}] x %{GREEDYDATA:r}\"\n"
        "  - name: client\n    program: t\n    template: \"[%{INT:n}] [%{WORD:w}] [client %{IP:source.ip}] %{GREEDYDATA:r}\"\n"
        "  - name: any\n    program: t\n    template: \"[%{INT:n}] [%{WORD:level}] %{GREEDYDATA:rest}\"\n");
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);
    expect_parser(parse_prog("t", "Failed password for bob from 192.0.2.1"), "pf/password");
    expect_str("user.name", "bob");
    /* a tab and a double space where the template has one blank */
    expect_parser(parse_prog("t", "Failed\tpassword  for bob from 192.0.2.1"), "pf/password");
    expect_parser(parse_prog("t", "Failed password \t for invalid  user eve from 192.0.2.2"), "pf/invalid");
    expect_str("user.name", "eve");
    expect_parser(parse_prog("t", "Failed publickey for bob from 192.0.2.3"), "pf/method");
    expect_str("m", "publickey");
    expect_str("event.outcome", "failure");
    expect_int("event.risk", 3);
    cr_expect_eq(parse_prog("t", "Failed"), -1);
    cr_expect_eq(parse_prog("t", "Failed password for bob from nowhere"), -1);
    /* "x" fails after [INT] [WORD]; "client" resumes from there; "any" too */
    expect_parser(parse_prog("t", "[5] [error] x y"), "pf/x");
    expect_str("r", "y");
    expect_parser(parse_prog("t", "[5] [error] [client 192.0.2.4] z"), "pf/client");
    expect_int("n", 5);
    expect_str("w", "error");
    expect_ip("source.ip", "192.0.2.4");
    expect_parser(parse_prog("t", "[5] [error] [client 300.0.0.1] z"), "pf/any");
    expect_int("n", 5);
    expect_str("level", "error");
    cr_expect_null(field("w"), "no value of a template that refused the message");
    expect_str("rest", "[client 300.0.0.1] z");
    cr_expect_eq(parse_prog("t", "[x] [error] z"), -1);
    /* constants that do not all fit the event: the ones that fit, the rest counted */
    struct event_fields small;
    cr_assert_eq(event_fields_init(&small, 9, 64), 0);
    static const struct syslog_ctx ctx = {0, NULL};
    const char *raw = "<13>Jan  1 00:00:00 host t: Failed publickey for bob from 192.0.2.3";
    cr_assert_eq(syslog_parse(raw, strlen(raw), &ctx, &ev), SYSLOG_OK);
    event_fields_from_syslog(&small, &ev);
    cr_assert_eq(small.n, 5);
    int r = parser_set_parse(ps, scratch, &ev, &small);
    cr_assert_geq(r, 0);
    cr_expect_str_eq(parser_set_name(ps, (unsigned)r), "pf/method");
    cr_expect_eq(small.parser, r);
    cr_expect_eq(small.n, 9, "three captures and one constant");
    cr_expect_eq(small.dropped, 1);
    cr_expect_eq(small.f[8].type, FIELD_STR);
    event_fields_free(&small);
    remove_tmpdir();
}

/* Walker-only buckets: the suffix prefilter skips a template whose final
 * literal is not at the message's end, and never one that would accept:
 * blank runs before the final word, messages shorter than a word, a final
 * literal longer than the test, and the same literal inside the message. */
Test(parser, suffix_prefilter_keeps_answers)
{
    const char *p = write_pack("sf.yaml",
        "pack: sf\nprograms:\n  t: {product: test}\nparsers:\n"
        "  - name: unknown\n    program: t\n    template: \"pam_unix(%{DATA}): check pass; user unknown\"\n"
        "  - name: opened\n    program: t\n    template: \"pam_unix(%{DATA}): session opened for user %{USER:user.name} by %{DATA}(uid=%{INT:user.id})\"\n"
        "  - name: closed\n    program: t\n    template: \"pam_unix(%{DATA}): session closed for user %{USER:user.name}\"\n"
        "  - name: passwd\n    program: t\n    template: \"pam_unix(%{DATA}): user %{QUOTEDSTRING:user.name} does not exist in /etc/passwd\"\n"
        "  - name: rest\n    program: t\n    template: \"pam_unix(%{DATA}): %{GREEDYDATA:message}\"\n"
        "  - name: short\n    program: t\n    template: \"ab %{INT:n} z\"\n"
        "  - name: short_any\n    program: t\n    template: \"ab %{GREEDYDATA:message}\"\n");
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);
    expect_parser(parse_prog("t", "pam_unix(sshd:auth): check pass; user unknown"), "sf/unknown");
    expect_parser(parse_prog("t", "pam_unix(sshd:auth): check pass; user \t unknown"), "sf/unknown");
    expect_parser(parse_prog("t", "pam_unix(cron:session): session opened for user root by (uid=0)"), "sf/opened");
    expect_parser(parse_prog("t", "pam_unix(cron:session): session opened for user root by (uid=0) "), "sf/opened");
    expect_parser(parse_prog("t", "pam_unix(cron:session): session opened for user root by root(uid=0)"), "sf/opened");
    expect_int("user.id", 0);
    expect_parser(parse_prog("t", "pam_unix(cron:session): session closed for user root"), "sf/closed");
    expect_str("user.name", "root");
    expect_parser(parse_prog("t", "pam_unix(chpasswd:chauthtok): user \"x\" does not exist in /etc/passwd"), "sf/passwd");
    expect_str("user.name", "x");
    /* the final literal in the middle, not at the end */
    expect_parser(parse_prog("t", "pam_unix(a): check pass; user unknown, twice"), "sf/rest");
    expect_parser(parse_prog("t", "pam_unix(a): user \"x\" does not exist in /etc/passwd."), "sf/rest");
    /* shorter than a word: compared byte by byte */
    expect_parser(parse_prog("t", "ab 1 z"), "sf/short");
    expect_int("n", 1);
    expect_parser(parse_prog("t", "ab 1 y"), "sf/short_any");
    expect_parser(parse_prog("t", "ab z"), "sf/short_any");
    remove_tmpdir();
}

/* A kv claim literal is found wherever it is: at the start, at the very end,
 * across every 16-byte boundary, among many bytes that match its first or
 * last byte; and a message that only nearly holds it is not claimed. */
Test(parser, kv_claim_literal_anywhere)
{
    const char *p = write_pack("claim.yaml",
        "pack: claim\nparsers:\n"
        "  - name: zq\n    format: kv\n    claim: \"zqz=\"\n    min_pairs: 1\n    map:\n      zqz: event.code\n");
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);
    char body[128];
    for (int n = 0; n < 70; n++) {
        /* n bytes of near misses ("zqq=", "z=", ...) before the literal */
        static const char junk[] = "z=zq=zqq=zz=";
        int k = 0;
        for (; k < n; k++)
            body[k] = junk[k % (sizeof junk - 1)];
        snprintf(body + k, sizeof body - (size_t)k, " zqz=%d", n);
        expect_parser(parse_prog("x", body), "claim/zq");
        char want[8];
        snprintf(want, sizeof want, "%d", n);
        expect_str("event.code", want);
        body[k + 5] = '\0';   /* " zqz=": the literal ends the message */
        expect_parser(parse_prog("x", body), "claim/zq");
        body[k + 4] = 'q';    /* " zqzq": the literal is gone */
        cr_expect_eq(parse_prog("x", body), -1, "%s", body);
    }
    expect_parser(parse_prog("x", "zqz=1"), "claim/zq");
    cr_expect_eq(parse_prog("x", "zqz"), -1);
    remove_tmpdir();
}

/* Text before the first pair is the prefix; a pair's key is the key-byte run
 * just before its '=' even when other bytes are glued in front; a token that
 * is only "=value" is no pair; bare words are flags only after a pair. */
Test(parser, kv_prefix_and_first_pair)
{
    const char *p = write_pack("pre.yaml",
        "pack: pre\nparsers:\n"
        "  - name: blanks\n    format: kv\n    claim: \"alpha\"\n    min_pairs: 2\n    prefix_field: rule.name\n"
        "    flags: {SYN: j.syn, ACK: j.ack}\n    map: {user: user.name, rhost: source.ip, uid: j.uid}\n"
        "  - name: semi\n    format: kv\n    claim: \"beta\"\n    min_pairs: 2\n    separators: \";\"\n"
        "    prefix_field: rule.name\n    map: {a: j.a, b: j.b}\n");
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);
    expect_parser(parse_prog("x", "  pam_unix(sshd:auth): alpha failure; ACK =skip=me logname= "
                                  "x(uid=0 SYN rhost=192.0.2.9  user=root"),
                  "pre/blanks");
    expect_str("rule.name", "pam_unix(sshd:auth): alpha failure; ACK =skip=me");
    expect_str("j.uid", "0");
    expect_str("j.syn", "SYN");
    expect_str("j.ack", NULL);
    expect_ip("source.ip", "192.0.2.9");
    expect_str("user.name", "root");
    /* keyless tokens only: no pair at all */
    cr_expect_eq(parse_prog("x", "alpha =1 =2 =3"), -1);
    /* a separator set without blanks: the prefix runs to the token of the first key */
    expect_parser(parse_prog("x", "beta: one two;a=1;(b=2"), "pre/semi");
    expect_str("rule.name", "beta: one two;");
    expect_str("j.a", "1");
    expect_str("j.b", "2");
    remove_tmpdir();
}

/* A program with more templates than a bucket tries directly: Hyperscan
 * classifies, the lowest id wins, a refused walk falls through. */
Test(parser, hyperscan_buckets)
{
    char *text = malloc(1 << 16);
    size_t o = (size_t)snprintf(text, 1 << 16, "pack: big\nprograms:\n  big: {product: test}\nparsers:\n");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(text + o, (1 << 16) - o,
                              "  - name: t%02d\n    program: big\n    template: \"ev %02d %%{WORD:user.name} from %%{IP:source.ip}\"\n",
                              i, i);
    /* two that both match "ev x ...": the first in file order wins */
    o += (size_t)snprintf(text + o, (1 << 16) - o,
                          "  - name: lazy\n    program: big\n    template: \"ev x %%{DATA:a} y %%{INT:n}\"\n"
                          "  - name: greedy\n    program: big\n    template: \"ev x %%{GREEDYDATA:a} y %%{INT:n}\"\n"
                          "  - name: any\n    program: big\n    template: \"ev x %%{GREEDYDATA:b}\"\n");
    const char *p = write_pack("big.yaml", text);
    free(text);
    load_paths(&p, 1, NULL);
    cr_assert_eq(d.errors, 0);
    expect_parser(parse_prog("big", "ev 35 alice from 192.0.2.35"), "big/t35");
    expect_str("user.name", "alice");
    expect_ip("source.ip", "192.0.2.35");
    expect_logsource("test", "", "");
    expect_parser(parse_prog("big", "ev x 1 y 2"), "big/lazy");
    expect_str("a", "1");
    /* the expression of "lazy" matches, its walker refuses (lazy DATA, then
     * " y 3" is left): the next match, "greedy", claims it */
    expect_parser(parse_prog("big", "ev x 1 y 2 y 3"), "big/greedy");
    expect_str("a", "1 y 2");
    expect_int("n", 3);
    expect_parser(parse_prog("big", "ev x no number"), "big/any");
    cr_expect_eq(parse_prog("big", "ev 99 bob from 192.0.2.1"), -1);
    cr_expect_eq(parse_prog("big", "ev 07 bob from not-an-ip"), -1);
    remove_tmpdir();
}

/* ---- every shipped parser claims something ------------------------------------ */

/* Lines from vendor documentation for parsers the corpus has no line for. */
static const struct {
    const char *parser, *raw;
} examples[] = {
    {"apache/syslog_error24_client", "<11>Jan  1 00:00:00 h httpd: [proxy_fcgi:error] [pid 22075:tid 140322524440320] "
                                     "[client 127.0.0.1] AH01071: Got error 'Primary script unknown'"},
    {"apache/syslog_error24", "<11>Jan  1 00:00:00 h httpd: [ssl:info] [pid 18838] SSL Library Error: error:1407609B"},
    {"cisco-asa/106007", "<161>%ASA-2-106007: Deny inbound UDP from 192.0.2.10/53 to 10.1.1.5/33001 due to DNS Response."},
    {"cisco-asa/106023_icmp", "<164>%ASA-4-106023: Deny icmp src outside:198.51.100.7 dst inside:10.0.0.5 (type 8, code 0) "
                              "by access-group \"outside_in\" [0x0, 0x0]"},
    {"cisco-asa/106100", "<166>%ASA-6-106100: access-list outside_in denied tcp outside/198.51.100.10(3351) -> "
                         "inside/10.0.0.5(80) hit-cnt 1 first hit [0x95b9b5d2, 0x0]"},
    {"cisco-asa/302013_inbound", "<166>%ASA-6-302013: Built inbound TCP connection 76118 for outside:198.51.100.20/55001 "
                                 "(198.51.100.20/55001) to inside:10.0.0.5/443 (203.0.113.5/443)"},
    {"cisco-asa/302020_icmp", "<166>%ASA-6-302020: Built inbound ICMP connection for faddr 198.51.100.7/1 gaddr "
                              "203.0.113.5/0 laddr 10.0.0.5/0"},
    {"cisco-asa/733100_scanning", "<164>%ASA-4-733100: [ Scanning] drop rate-1 exceeded. Current burst rate is 10 per "
                                  "second, max configured rate is 10; Current average rate is 5 per second, max "
                                  "configured rate is 5; Cumulative total count is 3154"},
    {"cisco-asa/733101_attacking", "<164>%ASA-4-733101: Host 198.51.100.33 is attacking. Current burst rate is 200 per "
                                   "second, max configured rate is 0; Current average rate is 35 per second, max "
                                   "configured rate is 0; Cumulative total count is 2100."},
    {"cisco-asa/733101_targeted", "<164>%ASA-4-733101: Subnet 10.0.0.0 is targeted. Current burst rate is 200 per "
                                  "second, max configured rate is 0; Current average rate is 35 per second, max "
                                  "configured rate is 0; Cumulative total count is 2100."},
    {"cisco-asa/733102", "<164>%ASA-4-733102: Threat-detection adds host 198.51.100.33 to shun list"},
    {"cisco-asa/733103", "<164>%ASA-4-733103: Threat-detection removes host 198.51.100.33 from shun list"},
    {"cisco-asa/733104_733105_syn_flood", "<164>%ASA-4-733104: TCP Intercept SYN flood attack detected to 203.0.113.5/80 "
                                          "(real 10.0.0.5/80). Average rate of 1500 SYNs/sec exceeded the threshold of 1000."},
    {"cisco-asa/733104_733105_td_syslog", "<164>%ASA-4-733105: TD_SYSLOG_TCP_INTERCEPT_BURST_RATE_EXCEED"},
    {"cisco-asa/4000xx_ips", "<164>%ASA-4-400013: IPS:2003 ICMP redirect from 10.4.1.2 to 10.2.1.1 on interface dmz"},
    {"cisco-asa/113005_aaa_rejected", "<166>%ASA-6-113005: AAA user authentication Rejected : reason = AAA failure : "
                                      "server = 10.10.1.2 : user = admin : user IP = 198.51.100.9"},
    {"cisco-asa/113004_aaa_successful", "<166>%ASA-6-113004: AAA user authentication Successful : server = 10.10.1.2 : "
                                        "user = admin"},
    {"dovecot/login_auth_failed_nolip", "<22>Jan  1 00:00:00 h dovecot: pop3-login: Aborted login (auth failed, 1 attempts "
                                        "in 2 secs): user=<grace>, method=PLAIN, rip=212.9.180.3"},
    {"dovecot/login", "<22>Jan  1 00:00:00 h dovecot: imap-login: Login: user=<alice>, method=PLAIN, rip=198.51.100.4, "
                      "lip=192.0.2.1, mpid=2851, TLS, session=<abc>"},
    {"dovecot/login_info", "<22>Jan  1 00:00:00 h imap-login: Info: Login: user=<alice>, method=PLAIN, rip=198.51.100.4, "
                           "lip=192.0.2.1"},
    {"dovecot/passdb_failure_session", "<22>Jan  1 00:00:00 h auth-worker: Info: sql(admin@example.de,192.0.2.5,"
                                       "<n4JLdHNVngZGpV2j>): unknown user"},
    {"openssh/reverse_mapping_failed", "<38>Jan  1 00:00:00 h sshd[1]: reverse mapping checking getaddrinfo for "
                                       "scanner.example.com [198.51.100.7] failed - POSSIBLE BREAK-IN ATTEMPT!"},
    {"ftp/vsftpd_ok_login", "<30>Jan  1 00:00:00 h vsftpd[1]: [alice] OK LOGIN: Client \"198.51.100.4\""},
    {"ftp/vsftpd_log_ok_login", "<30>Jan  1 00:00:00 h vsftpd: Fri Jan 19 12:20:33 2007 [pid 27202] [alice] OK LOGIN: "
                                "Client \"198.51.100.4\", anon password \"x\""},
    {"ftp/vsftpd_connect", "<30>Jan  1 00:00:00 h vsftpd[1]: CONNECT: Client \"198.51.100.4\""},
    {"ftp/proftpd_incorrect_password", "<30>Jan  1 00:00:00 h proftpd[1]: ftp.example.com (mail.example.net"
                                       "[198.51.100.66]) - USER bob (Login failed): Incorrect password."},
    {"ids/alert_ports", "<33>Jan  1 00:00:00 h suricata[9]: [1:2010935:3] ET SCAN Suspicious inbound to MSSQL port 1433 "
                        "[Classification: Potentially Bad Traffic] [Priority: 2] {TCP} 1.2.3.4:1234 -> 5.6.7.8:1433"},
    {"ids/alert", "<33>Jan  1 00:00:00 h snort[9]: [1:384:5] ICMP PING [Classification: Misc activity] [Priority: 3] "
                  "{ICMP} 192.0.2.1 -> 192.0.2.2"},
    {"ids/alert_noclass_ports", "<33>Jan  1 00:00:00 h snort[9]: [1:1000001:1] LOCAL test [Priority: 0] {UDP} "
                                "192.0.2.1:53 -> 192.0.2.2:5353"},
    {"ids/alert_noclass", "<33>Jan  1 00:00:00 h snort[9]: [1:1000002:1] LOCAL ping [Priority: 0] {ICMP} 192.0.2.1 -> "
                          "192.0.2.2"},
    {"linux/userdel_delete_user", "<86>Jan  1 00:00:00 h userdel[7]: delete user 'bob'"},
    {"linux/passwd_changed", "<86>Jan  1 00:00:00 h passwd[7]: password for 'bob' changed by 'root'"},
    {"nginx/error_connection", "<11>Jan  1 00:00:00 h nginx: 2015/01/21 10:56:10 [error] 2833#0: *16336 upstream timed "
                               "out (110: Connection timed out) while reading response header from upstream"},
    {"openssh/repeated_failed_invalid_user", "<38>Jan  1 00:00:00 h sshd[1]: message repeated 3 times: [ Failed password "
                                             "for invalid user admin from 198.51.100.7 port 40122 ssh2]"},
    {"openssh/too_many_failures_authenticating", "<38>Jan  1 00:00:00 h sshd[1]: Disconnecting authenticating user root "
                                                 "198.51.100.7 port 40122: Too many authentication failures [preauth]"},
    {"openssh/connection_reset", "<38>Jan  1 00:00:00 h sshd[1]: Connection reset by 198.51.100.7"},
    {"openssh/disconnected_known_user", "<38>Jan  1 00:00:00 h sshd[1]: Disconnected from user bob 198.51.100.7 port 40122"},
    {"openssh/unable_to_negotiate_noport", "<38>Jan  1 00:00:00 h sshd[1]: Unable to negotiate with 198.51.100.7: no "
                                           "matching cipher found. Their offer: aes128-cbc"},
    {"postfix/smtpd_connect", "<22>Jan  1 00:00:00 h postfix/smtpd[5]: connect from mail.example.com[192.0.2.25]"},
    {"postfix/smtpd_client", "<22>Jan  1 00:00:00 h postfix/smtpd[5]: 4BCDE12345: client=mail.example.com[192.0.2.25]"},
    {"postfix/cleanup_message_id", "<22>Jan  1 00:00:00 h postfix/cleanup[5]: 4BCDE12345: message-id=<20240101@example.com>"},
    {"postfix/qmgr_from", "<22>Jan  1 00:00:00 h postfix/qmgr[5]: 4BCDE12345: from=<alice@example.com>, size=1234, "
                          "nrcpt=1 (queue active)"},
    {"postfix/qmgr_removed", "<22>Jan  1 00:00:00 h postfix/qmgr[5]: 4BCDE12345: removed"},
    {"postfix/delivery_status_orig", "<22>Jan  1 00:00:00 h postfix/smtp[5]: 4BCDE12345: to=<bob@example.org>, "
                                     "orig_to=<b@example.org>, relay=mx.example.org[198.51.100.2]:25, delay=1.2, "
                                     "delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 OK)"},
    {"postfix/delivery_status", "<22>Jan  1 00:00:00 h postfix/smtp[5]: 4BCDE12345: to=<bob@example.org>, "
                                "relay=mx.example.org[198.51.100.2]:25, delay=1.2, delays=0.1/0/0.5/0.6, dsn=5.1.1, "
                                "status=bounced (host said: 550 5.1.1 unknown user)"},
    {"su/failed", "<86>Jan  1 00:00:00 h su[9]: FAILED su for root by alice"},
    {"su/session_tty_failed", "<86>Jan  1 00:00:00 h su[9]: - /dev/pts/1 alice:root"},
    {"sudo/command_env", "<86>Jan  1 00:00:00 h sudo: alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; ENV=A=b ; "
                         "COMMAND=/bin/ls"},
    {"sudo/incorrect_password", "<86>Jan  1 00:00:00 h sudo: alice : 3 incorrect password attempts ; TTY=pts/0 ; "
                                "PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"},
    {"sudo/not_in_sudoers", "<86>Jan  1 00:00:00 h sudo: mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/mallory ; "
                            "USER=root ; COMMAND=/bin/cat /etc/shadow"},
    {"sudo/refused", "<86>Jan  1 00:00:00 h sudo: alice : command not allowed ; TTY=pts/0 ; PWD=/home/alice ; USER=root "
                     "; COMMAND=/usr/bin/vi"},
    {"web-access/common", "<150>Jan  1 00:00:00 h apache2: 198.51.100.8 - bob [10/Oct/2023:13:55:36 -0700] \"GET "
                          "/admin/../etc/passwd?x=1 HTTP/1.0\" 404 209"},
};

static unsigned *hits;

static void count_line(const char *l, size_t n, const char *program)
{
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    char *buf = malloc(n + 64 + (program ? strlen(program) : 0));
    memcpy(buf, l, n);
    struct vigil_event e;
    if (syslog_parse(buf, n, &ctx, &e) != SYSLOG_OK) {
        free(buf);
        return;
    }
    if (e.format == VIGIL_FMT_NONE && program) {   /* as bench_parse_coverage: a synthetic header */
        int h = *program ? sprintf(buf, "<13>Jan  1 00:00:00 vigil-bench %s: ", program)
                         : sprintf(buf, "<13>Jan  1 00:00:00 ");
        memcpy(buf + h, l, n);
        cr_assert_eq(syslog_parse(buf, (size_t)h + n, &ctx, &e), SYSLOG_OK);
    }
    event_fields_from_syslog(&ef, &e);
    int r = parser_set_parse(ps, scratch, &e, &ef);
    if (r >= 0)
        hits[r]++;
    free(buf);
}

static void count_file(const char *path, const char *program, bool wazuh)
{
    size_t len;
    char *buf = read_whole_file(path, &len);
    if (!buf)
        return;
    for (char *p = buf, *e = buf + len; p < e;) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        char *le = nl ? nl : e, *ls = p;
        p = nl ? nl + 1 : e;
        if (le == ls || *ls == '#')
            continue;
        if (wazuh) {
            if (strncmp(ls, "log ", 4))
                continue;
            char *eq = memchr(ls, '=', (size_t)(le - ls));
            if (!eq)
                continue;
            for (ls = eq + 1; ls < le && *ls == ' '; ls++)
                ;
        }
        count_line(ls, (size_t)(le - ls), program);
    }
    free(buf);
}

static void count_dir(const char *rel, bool fail2ban, bool wazuh)
{
    DIR *dir = opendir(corpus_path(rel));
    cr_assert_not_null(dir, "%s", rel);
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", rel, de->d_name);
        struct stat st;
        if (stat(corpus_path(sub), &st) == 0 && S_ISDIR(st.st_mode)) {   /* fail2ban bsd/ */
            count_dir(sub, false, false);
            continue;
        }
        const char *prog = NULL;
        if (fail2ban)
            prog = !strcmp(de->d_name, "sshd-journal")     ? ""
                   : !strncmp(de->d_name, "apache-", 7)    ? "httpd"
                   : !strncmp(de->d_name, "nginx-", 6)     ? "nginx"
                                                           : de->d_name;
        if (wazuh)
            prog = !strcmp(de->d_name, "nginx.ini")                                           ? "nginx"
                   : !strcmp(de->d_name, "apache.ini") || !strcmp(de->d_name, "web_rules.ini") ? "httpd"
                   : !strcmp(de->d_name, "vsftpd.ini")                                        ? "vsftpd"
                   : !strcmp(de->d_name, "dovecot.ini")                                       ? "dovecot"
                                                                                              : NULL;
        count_file(corpus_path(sub), prog, wazuh);
    }
    closedir(dir);
}

Test(parser, every_shipped_parser_claims_a_line, .timeout = 120)
{
    load_shipped();
    hits = calloc(parser_set_count(ps), sizeof *hits);
    count_file(corpus_path("syslog/elastic_auth.log"), NULL, false);
    count_file(corpus_path("syslog/loghub/Linux_2k.log"), NULL, false);
    count_file(corpus_path("syslog/loghub/Apache_2k.log"), "httpd", false);
    count_file(corpus_path("web/elastic_apache_logs.log"), "apache2", false);
    count_dir("syslog/iptables-psad", false, false);
    count_dir("syslog/fail2ban/logs", true, false);
    count_dir("syslog/wazuh-ruletests", false, true);
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++) {
        int r = parse(examples[i].raw);
        expect_parser(r, examples[i].parser);
        if (r >= 0)
            hits[r]++;
    }
    for (unsigned i = 0; i < parser_set_count(ps); i++)
        cr_expect_gt(hits[i], 0, "%s claimed no line", parser_set_name(ps, i));
    free(hits);
}
