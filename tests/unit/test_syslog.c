/* Syslog decoder: the real corpus, exact fields of representative lines, and
 * the edge cases senders produce. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/event.h"
#include "engine/syslog.h"
#include "engine/tz.h"
#include "test_support.h"

#define NS 1000000000LL

/* UTC nanoseconds of a civil time. */
static int64_t utc_ns(int64_t y, unsigned mo, unsigned d, int h, int mi, int s)
{
    return (tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * NS;
}

/* 2026-03-20T09:46:40Z, the receive time unless a test needs another. */
#define RECV (1774000000LL * NS)

static struct vigil_event ev;

static void parse_at(const char *buf, size_t len, int64_t recv, const struct tz_zone *zone)
{
    struct syslog_ctx ctx = {recv, zone};
    memset(&ev, 0xA5, sizeof ev);   /* every field must be set by the parser */
    cr_assert_eq(syslog_parse(buf, len, &ctx, &ev), SYSLOG_OK, "not OK: %.*s", (int)len, buf);
    cr_assert_eq(ev.received_ns, recv);
}

static void parse(const char *s) { parse_at(s, strlen(s), RECV, NULL); }

/* Field equals the C string, or is absent when want is NULL. */
#define expect_str(field, want)                                                               \
    do {                                                                                       \
        const char *w_ = (want);                                                               \
        struct vigil_str f_ = (field);                                                         \
        if (!w_) {                                                                             \
            cr_expect_null(f_.ptr, #field " should be absent, is '%.*s'", (int)f_.len, f_.ptr); \
        } else {                                                                               \
            cr_expect_not_null(f_.ptr, #field " absent, want '%s'", w_);                      \
            if (f_.ptr)                                                                        \
                cr_expect(f_.len == strlen(w_) && memcmp(f_.ptr, w_, f_.len) == 0,             \
                          #field " is '%.*s', want '%s'", (int)f_.len, f_.ptr, w_);            \
        }                                                                                      \
    } while (0)

static void expect_header(int fmt, int fac, int sev, uint32_t anomalies)
{
    cr_expect_eq(ev.format, fmt, "format %d want %d", ev.format, fmt);
    cr_expect_eq(ev.facility, fac, "facility %d want %d", ev.facility, fac);
    cr_expect_eq(ev.severity, sev, "severity %d want %d", ev.severity, sev);
    cr_expect_eq(ev.anomalies, anomalies, "anomalies %#x want %#x", ev.anomalies, anomalies);
}

static void expect_ts(int64_t ns, int src, int off_min)
{
    cr_expect_eq(ev.timestamp_ns, ns, "timestamp %lld want %lld (diff %lld s)",
                 (long long)ev.timestamp_ns, (long long)ns, (long long)((ev.timestamp_ns - ns) / NS));
    cr_expect_eq(ev.ts_source, src, "ts_source %d want %d", ev.ts_source, src);
    cr_expect_eq(ev.tz_offset_min, off_min, "tz_offset_min %d want %d", ev.tz_offset_min, off_min);
}

static struct tz_zone *zone(const char *name)
{
    struct tz_zone *z;
    char err[256];
    cr_assert_eq(tz_zone_load(name, &z, err, sizeof err), 0, "%s", err);
    return z;
}

/* ---- the real corpus ------------------------------------------------------ */

enum kind { PLAIN, FAIL2BAN, WAZUH };
enum check { ANY, FULL_HEADER };

struct corpus_stats {
    size_t lines;
};

/* Decodes every line of one file; FULL_HEADER files must yield hostname,
 * process name and a message timestamp on every line. */
static size_t check_file(const char *path, enum kind kind, enum check check)
{
    size_t len, n = 0;
    char *buf = read_whole_file(path, &len);
    cr_assert_not_null(buf, "cannot read %s", path);
    char *p = buf, *end = buf + len;
    for (size_t lineno = 1; p < end; lineno++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *s = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        if (kind == FAIL2BAN && s < e && *s == '#')
            continue;
        if (kind == WAZUH) {
            if (e - s < 4 || memcmp(s, "log ", 4) != 0)
                continue;
            char *w = s + 4;
            while (w < e && *w >= '0' && *w <= '9')
                w++;
            if (w == s + 4 || e - w < 8 || (memcmp(w, " pass = ", 8) && memcmp(w, " fail = ", 8)))
                continue;
            s = w + 8;
        }
        int blank = 1;
        for (char *c = s; c < e; c++)
            if (*c != ' ' && *c != '\t' && *c != '\r')
                blank = 0;
        struct syslog_ctx ctx = {RECV, NULL};
        /* copy to an exact-size heap buffer so ASan sees any over-read */
        size_t l = (size_t)(e - s);
        char *line = malloc(l ? l : 1);
        memcpy(line, s, l);
        enum syslog_result r = syslog_parse(line, l, &ctx, &ev);
        if (blank) {
            cr_expect_eq(r, SYSLOG_ERR_EMPTY, "%s:%zu blank line not EMPTY", path, lineno);
            free(line);
            continue;
        }
        n++;
        cr_expect_eq(r, SYSLOG_OK, "%s:%zu: %.*s", path, lineno, (int)l, s);
        if (r == SYSLOG_OK) {
            cr_expect(ev.message.ptr >= line && ev.message.ptr + ev.message.len <= line + l,
                      "%s:%zu message outside the line", path, lineno);
            if (check == FULL_HEADER) {
                cr_expect_not_null(ev.hostname.ptr, "%s:%zu no hostname", path, lineno);
                cr_expect_neq(ev.ts_source, VIGIL_TS_RECEIVED, "%s:%zu no timestamp", path, lineno);
                cr_expect_eq(ev.anomalies, VIGIL_ANOM_NO_PRI, "%s:%zu anomalies %#x", path, lineno,
                             ev.anomalies);
                cr_expect_eq(ev.format, VIGIL_FMT_RFC3164, "%s:%zu", path, lineno);
                /* login(1) on this host logged "combo  -- root[2421]: ROOT LOGIN":
                 * no tag where the tag belongs, so none is reported. */
                if (!(ev.message.len > 3 && !memcmp(ev.message.ptr, "-- ", 3)))
                    cr_expect_not_null(ev.process_name.ptr, "%s:%zu no process name: %.*s", path,
                                       lineno, (int)l, s);
            }
        }
        free(line);
    }
    free(buf);
    return n;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t check_dir(const char *dir, const char *suffix, enum kind kind, enum check check,
                        int deep)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    char **names = NULL;
    size_t nn = 0, lines = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        names = realloc(names, (nn + 1) * sizeof *names);
        cr_assert(asprintf(&names[nn++], "%s/%s", dir, de->d_name) > 0);
    }
    closedir(d);
    qsort(names, nn, sizeof *names, cmpstr);
    for (size_t i = 0; i < nn; i++) {
        struct stat st;
        cr_assert_eq(stat(names[i], &st), 0);
        size_t l = strlen(names[i]), sl = suffix ? strlen(suffix) : 0;
        if (S_ISDIR(st.st_mode)) {
            if (deep)
                lines += check_dir(names[i], suffix, kind, check, deep);
        } else if (!suffix || (l >= sl && !strcmp(names[i] + l - sl, suffix))) {
            lines += check_file(names[i], kind, check);
        }
        free(names[i]);
    }
    free(names);
    return lines;
}

static char dirbuf[4096];
static const char *cpath(const char *rel)
{
    snprintf(dirbuf, sizeof dirbuf, "%s", corpus_path(rel));
    return dirbuf;
}

Test(corpus, linux_2k_full_header)
{
    cr_expect_eq(check_file(cpath("syslog/loghub/Linux_2k.log"), PLAIN, FULL_HEADER), 2000);
}

Test(corpus, elastic_auth_full_header)
{
    cr_expect_eq(check_file(cpath("syslog/elastic_auth.log"), PLAIN, FULL_HEADER), 7121);
}

Test(corpus, psad_full_header)
{
    cr_expect_eq(check_dir(cpath("syslog/iptables-psad"), ".log", PLAIN, FULL_HEADER, 0), 3164);
}

Test(corpus, apache_no_header)
{
    cr_expect_eq(check_file(cpath("syslog/loghub/Apache_2k.log"), PLAIN, ANY), 2000);
}

Test(corpus, rsyslog_seeds)
{
    cr_expect_eq(check_dir(cpath("syslog/rsyslog-seeds"), ".txt", PLAIN, ANY, 0), 4);
}

Test(corpus, fail2ban_logs)
{
    size_t n = check_dir(cpath("syslog/fail2ban/logs"), NULL, FAIL2BAN, ANY, 1);
    cr_expect_eq(n, 997, "%zu lines", n);
}

Test(corpus, wazuh_ruletests)
{
    cr_expect_eq(check_dir(cpath("syslog/wazuh-ruletests"), ".ini", WAZUH, ANY, 0), 340);
}

/* ---- representative lines, every field ----------------------------------- */

Test(fields, linux_auth_failed_password)
{
    /* elastic_auth.log:1616; received 2026-03-20, so Mar 29 is 9 days ahead:
     * within the clock-skew allowance, same year. */
    parse("Mar 29 10:42:45 ip-10-77-20-248 sshd[1193]: Failed password for elastic_user_7 "
          "from 127.0.0.1 port 52942 ssh2");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_ts(utc_ns(2026, 3, 29, 10, 42, 45), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "ip-10-77-20-248");
    expect_str(ev.process_name, "sshd");
    expect_str(ev.procid, "1193");
    cr_expect_eq(ev.pid, 1193);
    expect_str(ev.message, "Failed password for elastic_user_7 from 127.0.0.1 port 52942 ssh2");
    expect_str(ev.msgid, NULL);
    expect_str(ev.event_code, NULL);
    expect_str(ev.structured_data, NULL);
    cr_expect_eq(ev.sequence, -1);
    cr_expect_eq(ev.vendor_severity, -1);

    /* the same line received in May: Mar 29 is in the past, same year */
    parse_at("Mar 29 10:42:45 ip-10-77-20-248 sshd[1193]: x", 45, utc_ns(2026, 5, 1, 0, 0, 0), NULL);
    expect_ts(utc_ns(2026, 3, 29, 10, 42, 45), VIGIL_TS_INFERRED_YEAR, 0);
    /* ...in February of the next year, 37 days ahead: too far ahead, last year's */
    parse_at("Mar 29 10:42:45 ip-10-77-20-248 sshd[1193]: x", 45, utc_ns(2027, 2, 20, 0, 0, 0), NULL);
    expect_ts(utc_ns(2026, 3, 29, 10, 42, 45), VIGIL_TS_INFERRED_YEAR, 0);
    /* ...on 1 March of the next year, 28 days ahead: sender clock skew, that year */
    parse_at("Mar 29 10:42:45 ip-10-77-20-248 sshd[1193]: x", 45, utc_ns(2027, 3, 1, 0, 0, 0), NULL);
    expect_ts(utc_ns(2027, 3, 29, 10, 42, 45), VIGIL_TS_INFERRED_YEAR, 0);
}

Test(fields, linux_pam_tag_with_parens)
{
    parse("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 "
          "euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_ts(utc_ns(2025, 6, 14, 15, 16, 1), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "combo");
    expect_str(ev.process_name, "sshd(pam_unix)");
    cr_expect_eq(ev.pid, 19939);
    expect_str(ev.message,
               "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 ");
}

Test(fields, sysklogd_version_tag)
{
    parse("Jun 19 04:09:11 combo syslogd 1.4.1: restart.");
    expect_str(ev.hostname, "combo");
    expect_str(ev.process_name, "syslogd");
    expect_str(ev.message, "restart.");
    cr_expect_eq(ev.pid, -1);
}

Test(fields, iptables_kernel_line)
{
    parse("Mar 15 20:57:02 linux kernel: [810401.287751] DROP INVALID IN=eth0 OUT= "
          "MAC=23:87:fc:c6:24:58:00:21:3f:98:99:78:09:00 SRC=192.168.10.55 DST=192.168.10.1 LEN=40 "
          "PROTO=TCP SPT=52983 DPT=1025 WINDOW=3072 RES=0x00 FIN URGP=0 ");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_ts(utc_ns(2026, 3, 15, 20, 57, 2), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "linux");
    expect_str(ev.process_name, "kernel");
    expect_str(ev.procid, NULL);
    cr_expect_eq(ev.pid, -1);
    expect_str(ev.message, "[810401.287751] DROP INVALID IN=eth0 OUT= "
                           "MAC=23:87:fc:c6:24:58:00:21:3f:98:99:78:09:00 SRC=192.168.10.55 "
                           "DST=192.168.10.1 LEN=40 PROTO=TCP SPT=52983 DPT=1025 WINDOW=3072 "
                           "RES=0x00 FIN URGP=0 ");
}

Test(fields, iptables_iso_timestamp)
{
    parse("2015-03-07T05:09:30.045015+02:00 servername kernel: DROP: IN=eth0 OUT=");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_ts(utc_ns(2015, 3, 7, 3, 9, 30) + 45015000, VIGIL_TS_MESSAGE, 120);
    expect_str(ev.hostname, "servername");
    expect_str(ev.process_name, "kernel");
    expect_str(ev.message, "DROP: IN=eth0 OUT=");
}

Test(fields, cisco_asa_without_timestamp)
{
    /* wazuh cisco_asa.ini, with a PRI as the ASA sends it (local4.warning) */
    parse("<164>%ASA-4-106023: Deny tcp src inside:111.11.11.1/2143 dst YYY:172.11.1.11/139 by "
          "access-group \"inside_inbound\"");
    expect_header(VIGIL_FMT_RFC3164, 20, 4, VIGIL_ANOM_NO_TIMESTAMP);
    expect_ts(RECV, VIGIL_TS_RECEIVED, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "ASA");
    expect_str(ev.event_code, "106023");
    cr_expect_eq(ev.vendor_severity, 4);
    cr_expect_eq(ev.pid, -1);
    expect_str(ev.message, "Deny tcp src inside:111.11.11.1/2143 dst YYY:172.11.1.11/139 by "
                           "access-group \"inside_inbound\"");
}

Test(fields, cisco_asa_with_year_timestamp)
{
    parse("<164>Oct 03 2018 17:34:08: %ASA-4-106023: Deny udp src office:1.1.1.1/3217 dst "
          "FE_xUI:Server_Windows/15000 by access-group \"ACLoffice\" [0x0, 0x0]");
    expect_header(VIGIL_FMT_RFC3164, 20, 4, 0);
    expect_ts(utc_ns(2018, 10, 3, 17, 34, 8), VIGIL_TS_MESSAGE, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "ASA");
    expect_str(ev.event_code, "106023");
    cr_expect_eq(ev.vendor_severity, 4);
    expect_str(ev.message, "Deny udp src office:1.1.1.1/3217 dst FE_xUI:Server_Windows/15000 by "
                           "access-group \"ACLoffice\" [0x0, 0x0]");

    /* "logging device-id hostname": "fw01 : %ASA-..." */
    parse("<166>Oct 03 2018 17:34:08 fw01 : %ASA-6-302013: Built inbound TCP connection 1");
    expect_header(VIGIL_FMT_RFC3164, 20, 6, 0);
    expect_ts(utc_ns(2018, 10, 3, 17, 34, 8), VIGIL_TS_MESSAGE, 0);
    expect_str(ev.hostname, "fw01");
    expect_str(ev.process_name, "ASA");
    expect_str(ev.event_code, "302013");
    cr_expect_eq(ev.vendor_severity, 6);
    expect_str(ev.message, "Built inbound TCP connection 1");

    /* the year form is in the sender's zone */
    struct tz_zone *z = zone("Europe/Berlin");
    const char *l = "<166>Oct 03 2018 17:34:08: %ASA-6-1: x";
    parse_at(l, strlen(l), RECV, z);
    expect_ts(utc_ns(2018, 10, 3, 15, 34, 8), VIGIL_TS_MESSAGE, 120);
    tz_zone_free(z);
}

Test(fields, cisco_ios_host_then_tag)
{
    parse("Sep  1 10:25:29 10.10.10.1 %SEC-6-IPACCESSLOGP: list 102 denied tcp 10.0.6.56(3067) -> "
          "172.36.4.7(139), 1 packet");
    expect_str(ev.hostname, "10.10.10.1");
    expect_str(ev.process_name, "SEC");
    expect_str(ev.event_code, "IPACCESSLOGP");
    cr_expect_eq(ev.vendor_severity, 6);
    expect_str(ev.message, "list 102 denied tcp 10.0.6.56(3067) -> 172.36.4.7(139), 1 packet");
    expect_ts(utc_ns(2025, 9, 1, 10, 25, 29), VIGIL_TS_INFERRED_YEAR, 0);

    /* a facility that itself holds '-' (Catalyst supervisor) */
    parse("<187>%LINK-SP-3-UPDOWN: Interface Gi1/1, changed state to down");
    expect_str(ev.process_name, "LINK-SP");
    expect_str(ev.event_code, "UPDOWN");
    cr_expect_eq(ev.vendor_severity, 3);
    expect_str(ev.message, "Interface Gi1/1, changed state to down");
}

Test(fields, apache_error_line)
{
    parse("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6");
    expect_header(VIGIL_FMT_NONE, 1, 5, VIGIL_ANOM_NO_PRI | VIGIL_ANOM_NO_TIMESTAMP);
    expect_ts(RECV, VIGIL_TS_RECEIVED, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, NULL);
    expect_str(ev.message, "[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6");
}

/* First line of a corpus file, without its newline. */
static char *first_line(const char *rel, size_t *len)
{
    char *buf = read_whole_file(corpus_path(rel), len);
    cr_assert_not_null(buf);
    char *nl = memchr(buf, '\n', *len);
    if (nl)
        *len = (size_t)(nl - buf);
    return buf;
}

Test(fields, rfc5424_basic_with_sd)
{
    size_t len;
    char *l = first_line("syslog/rsyslog-seeds/rfc5424-basic.txt", &len);
    parse_at(l, len, RECV, NULL);
    expect_header(VIGIL_FMT_RFC5424, 20, 5, 0);
    expect_ts(utc_ns(2003, 10, 11, 22, 14, 15) + 3000000, VIGIL_TS_MESSAGE, 0);
    expect_str(ev.hostname, "mymachine.example.com");
    expect_str(ev.process_name, "evntslog");
    expect_str(ev.procid, NULL);
    cr_expect_eq(ev.pid, -1);
    expect_str(ev.msgid, "ID47");
    expect_str(ev.structured_data, "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\"]");
    expect_str(ev.message, "An application event log entry");
    expect_str(ev.event_code, NULL);
    cr_expect_eq(ev.sequence, -1);
    cr_expect_eq(ev.vendor_severity, -1);

    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    syslog_sd_iter_init(&it, ev.structured_data);
    cr_assert_eq(syslog_sd_next(&it, &p), 1);
    expect_str(p.sd_id, "exampleSDID@32473");
    expect_str(p.name, "iut");
    expect_str(p.value, "3");
    cr_expect_eq(p.first_in_element, 1);
    cr_assert_eq(syslog_sd_next(&it, &p), 1);
    expect_str(p.sd_id, "exampleSDID@32473");
    expect_str(p.name, "eventSource");
    expect_str(p.value, "Application");
    cr_expect_eq(p.first_in_element, 0);
    cr_expect_eq(syslog_sd_next(&it, &p), 0);
    cr_expect_eq(syslog_sd_next(&it, &p), 0);
    free(l);
}

Test(fields, rfc5424_nil)
{
    size_t len;
    char *l = first_line("syslog/rsyslog-seeds/rfc5424-nil.txt", &len);
    parse_at(l, len, RECV, NULL);
    expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_ts(RECV, VIGIL_TS_RECEIVED, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, NULL);
    expect_str(ev.procid, NULL);
    expect_str(ev.msgid, NULL);
    expect_str(ev.structured_data, NULL);
    expect_str(ev.message, "minimal");
    cr_expect_eq(ev.pid, -1);
    cr_expect_eq(ev.sequence, -1);
    free(l);
}

Test(fields, rfc3164_with_rfc3339_timestamp)
{
    size_t len;
    char *l = first_line("syslog/rsyslog-seeds/rfc3164-rfc3339.txt", &len);
    parse_at(l, len, RECV, NULL);
    expect_header(VIGIL_FMT_RFC3164, 1, 5, 0);
    expect_ts(utc_ns(2026, 7, 23, 7, 30, 45) + 123000000, VIGIL_TS_MESSAGE, 120);
    expect_str(ev.hostname, "host");
    expect_str(ev.process_name, "daemon");
    expect_str(ev.message, "timestamp variant");
    free(l);

    /* an explicit offset wins over the sender's configured zone */
    struct tz_zone *z = zone("America/New_York");
    const char *s = "<13>2026-07-23T09:30:45.123+02:00 host daemon: x";
    parse_at(s, strlen(s), RECV, z);
    expect_ts(utc_ns(2026, 7, 23, 7, 30, 45) + 123000000, VIGIL_TS_MESSAGE, 120);
    /* without one, the zone applies */
    s = "<13>2026-07-23T09:30:45 host daemon: x";
    parse_at(s, strlen(s), RECV, z);
    expect_ts(utc_ns(2026, 7, 23, 13, 30, 45), VIGIL_TS_MESSAGE, -240);
    tz_zone_free(z);
}

Test(fields, rfc3164_basic)
{
    size_t len;
    char *l = first_line("syslog/rsyslog-seeds/rfc3164-basic.txt", &len);
    parse_at(l, len, RECV, NULL);
    expect_header(VIGIL_FMT_RFC3164, 4, 2, 0);
    /* Oct 11 is seven months ahead of a March receive time: last year */
    expect_ts(utc_ns(2025, 10, 11, 22, 14, 15), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "mymachine");
    expect_str(ev.process_name, "su");
    expect_str(ev.message, "'su root' failed for lonvick on /dev/pts/8");
    free(l);
}

Test(fields, no_hostname)
{
    parse("<34>Oct 11 22:14:15 su: 'su root' failed");
    expect_header(VIGIL_FMT_RFC3164, 4, 2, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "su");
    expect_str(ev.message, "'su root' failed");

    parse("Jun 21 16:47:48 test-demo[13709]: F2B: failure from 192.0.2.1");
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "test-demo");
    cr_expect_eq(ev.pid, 13709);
    expect_str(ev.message, "F2B: failure from 192.0.2.1");
}

Test(fields, freebsd_verbose_priority)
{
    parse("Apr  2 17:51:27 <4.3> pancake sshd[55624]: error: PAM: authentication error for nick");
    expect_header(VIGIL_FMT_RFC3164, 4, 3, 0);
    expect_ts(utc_ns(2026, 4, 2, 17, 51, 27), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "pancake");
    expect_str(ev.process_name, "sshd");
    cr_expect_eq(ev.pid, 55624);
    expect_str(ev.message, "error: PAM: authentication error for nick");

    parse("Mar 19 23:48:18 <auth.info> pancake sshd[55517]: Invalid user r00t from 183.60.159.20");
    expect_header(VIGIL_FMT_RFC3164, 4, 6, 0);
    expect_str(ev.hostname, "pancake");
    expect_str(ev.process_name, "sshd");
    expect_str(ev.message, "Invalid user r00t from 183.60.159.20");

    /* a real PRI wins over the verbose one */
    parse("<13>Mar 19 23:48:18 <local7.debug> pancake sshd[1]: x");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, 0);
    expect_str(ev.hostname, "pancake");

    /* an unknown name is not a priority: the token is read as any other
     * (here as the host), and the default priority stays */
    parse("Mar 19 23:48:18 <nope.info> pancake sshd[1]: x");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_str(ev.hostname, "<nope.info>");
    expect_str(ev.process_name, NULL);
    expect_str(ev.message, "pancake sshd[1]: x");
}

Test(fields, tag_forms)
{
    parse("<13>Jan 10 00:00:00 myhost proftpd[12345] myhost.domain.com (1.2.3.4[1.2.3.4]): USER x");
    expect_str(ev.process_name, "proftpd");
    cr_expect_eq(ev.pid, 12345);
    expect_str(ev.message, "myhost.domain.com (1.2.3.4[1.2.3.4]): USER x");

    parse("<13>Jan 10 00:00:00 myhost app[abc]: x");
    expect_str(ev.process_name, "app");
    expect_str(ev.procid, "abc");
    cr_expect_eq(ev.pid, -1);

    parse("<13>Jan 10 00:00:00 myhost postfix/smtpd[14398]: NOQUEUE: reject");
    expect_str(ev.process_name, "postfix/smtpd");
    cr_expect_eq(ev.pid, 14398);
    expect_str(ev.message, "NOQUEUE: reject");

    /* no tag: the whole rest is the message */
    parse("<13>Jan 10 00:00:00 myhost http://example.com/ is down");
    expect_str(ev.hostname, "myhost");
    expect_str(ev.process_name, NULL);
    expect_str(ev.message, "http://example.com/ is down");

    parse("<13>Jan 10 00:00:00 myhost some words here");
    expect_str(ev.hostname, "myhost");
    expect_str(ev.process_name, NULL);
    expect_str(ev.message, "some words here");

    /* a tag at the very end */
    parse("<13>Jan 10 00:00:00 myhost app:");
    expect_str(ev.process_name, "app");
    expect_str(ev.message, "");

    parse("<13>Jan 10 00:00:00 myhost");
    expect_str(ev.hostname, "myhost");
    expect_str(ev.process_name, NULL);
    expect_str(ev.message, "");
}

/* ---- edge cases ----------------------------------------------------------- */

/* The skew allowance to the second, with receive times that are not whole
 * seconds (the receive second counts, not the fraction), and the receive day
 * changing between messages in either direction. */
Test(edge, year_inference_boundaries_to_the_second)
{
    const char *l = "<13>Apr  1 00:00:00 h app: x";   /* 31 days after Mar 1: the allowance exactly */
    parse_at(l, strlen(l), utc_ns(2026, 3, 1, 0, 0, 0) + 999999999, NULL);
    expect_ts(utc_ns(2026, 4, 1, 0, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
    l = "<13>Apr  1 00:00:01 h app: x";   /* one second more: last year's */
    parse_at(l, strlen(l), utc_ns(2026, 3, 1, 0, 0, 0) + 999999999, NULL);
    expect_ts(utc_ns(2025, 4, 1, 0, 0, 1), VIGIL_TS_INFERRED_YEAR, 0);
    parse_at(l, strlen(l), utc_ns(2026, 3, 1, 0, 0, 1), NULL);   /* received a second later: this year's */
    expect_ts(utc_ns(2026, 4, 1, 0, 0, 1), VIGIL_TS_INFERRED_YEAR, 0);
    /* the other end: 334 days behind is this year, one second more is next year's */
    l = "<13>Mar  1 00:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2027, 1, 29, 0, 0, 0) + 1, NULL);   /* 334 days after Mar 1 2026 */
    expect_ts(utc_ns(2027, 3, 1, 0, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
    parse_at(l, strlen(l), utc_ns(2027, 1, 28, 23, 59, 59) + 999999999, NULL);
    expect_ts(utc_ns(2026, 3, 1, 0, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
    /* the receive day moving back and forth across New Year */
    l = "<13>Dec 31 12:00:00 h app: x";
    for (int k = 0; k < 3; k++) {
        parse_at(l, strlen(l), utc_ns(2027, 1, 1, 0, 0, 0), NULL);
        expect_ts(utc_ns(2026, 12, 31, 12, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
        parse_at(l, strlen(l), utc_ns(2026, 12, 31, 23, 59, 59) + 999999999, NULL);
        expect_ts(utc_ns(2026, 12, 31, 12, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
        parse_at(l, strlen(l), utc_ns(2026, 1, 1, 0, 0, 0), NULL);
        expect_ts(utc_ns(2025, 12, 31, 12, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);   /* not 364.5 days ahead: 12 h behind */
    }
}

Test(edge, year_inference_across_new_year)
{
    const char *l = "<13>Dec 31 23:59:58 h app: x";
    parse_at(l, strlen(l), utc_ns(2027, 1, 1, 0, 0, 5), NULL);
    expect_ts(utc_ns(2026, 12, 31, 23, 59, 58), VIGIL_TS_INFERRED_YEAR, 0);

    l = "<13>Jan  1 00:00:01 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 12, 31, 23, 59, 59), NULL);
    expect_ts(utc_ns(2027, 1, 1, 0, 0, 1), VIGIL_TS_INFERRED_YEAR, 0);

    /* a mid-year message is this year either side of New Year's Eve */
    l = "<13>Jul  4 12:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2027, 1, 1, 0, 0, 5), NULL);
    expect_ts(utc_ns(2026, 7, 4, 12, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);

    /* Feb 29 goes to the leap year */
    l = "<13>Feb 29 12:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2029, 1, 10, 0, 0, 0), NULL);
    expect_ts(utc_ns(2028, 2, 29, 12, 0, 0), VIGIL_TS_INFERRED_YEAR, 0);
    /* ...and where the chosen year has none it is a bad timestamp */
    parse_at(l, strlen(l), utc_ns(2026, 3, 10, 0, 0, 0), NULL);
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP);
    expect_ts(utc_ns(2026, 3, 10, 0, 0, 0), VIGIL_TS_RECEIVED, 0);
    expect_str(ev.hostname, "h");
    expect_str(ev.process_name, "app");

    /* New Year in the sender's zone, not in UTC: Tokyo is already in 2027 */
    struct tz_zone *z = zone("Asia/Tokyo");
    l = "<13>Jan  1 08:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 12, 31, 23, 0, 1), z);
    expect_ts(utc_ns(2026, 12, 31, 23, 0, 0), VIGIL_TS_INFERRED_YEAR, 540);
    tz_zone_free(z);
}

Test(edge, per_source_zone_berlin)
{
    struct tz_zone *z = zone("Europe/Berlin");
    const char *l = "<13>Jul  1 12:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 7, 2, 0, 0, 0), z);
    expect_ts(utc_ns(2026, 7, 1, 10, 0, 0), VIGIL_TS_INFERRED_YEAR, 120);

    l = "<13>Jan 15 12:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 1, 20, 0, 0, 0), z);
    expect_ts(utc_ns(2026, 1, 15, 11, 0, 0), VIGIL_TS_INFERRED_YEAR, 60);

    /* the autumn overlap takes the earlier instant */
    l = "<13>Oct 25 02:30:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 10, 25, 3, 0, 0), z);
    expect_ts(utc_ns(2026, 10, 25, 0, 30, 0), VIGIL_TS_INFERRED_YEAR, 120);

    /* fractional BSD seconds */
    l = "<13>Jan 15 12:00:00.250 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 1, 20, 0, 0, 0), z);
    expect_ts(utc_ns(2026, 1, 15, 11, 0, 0) + 250000000, VIGIL_TS_INFERRED_YEAR, 60);

    /* RFC 5424 without an offset (not valid, tolerated): the zone applies */
    l = "<13>1 2026-01-15T12:00:00 h app - - - x";
    parse_at(l, strlen(l), RECV, z);
    cr_expect_eq(ev.format, VIGIL_FMT_RFC5424);
    expect_ts(utc_ns(2026, 1, 15, 11, 0, 0), VIGIL_TS_MESSAGE, 60);
    tz_zone_free(z);

    struct tz_zone *f = zone("-05:00");
    l = "Jan 15 12:00:00 h app: x";
    parse_at(l, strlen(l), utc_ns(2026, 1, 20, 0, 0, 0), f);
    expect_ts(utc_ns(2026, 1, 15, 17, 0, 0), VIGIL_TS_INFERRED_YEAR, -300);
    tz_zone_free(f);
}

Test(edge, bsd_day_forms)
{
    parse("<13>Oct  6 03:32:04 h app: x");
    expect_ts(utc_ns(2025, 10, 6, 3, 32, 4), VIGIL_TS_INFERRED_YEAR, 0);
    parse("<13>Oct 6 03:32:04 h app: x");
    expect_ts(utc_ns(2025, 10, 6, 3, 32, 4), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "h");
    parse("<13>Oct 06 03:32:04 h app: x");
    expect_ts(utc_ns(2025, 10, 6, 3, 32, 4), VIGIL_TS_INFERRED_YEAR, 0);
    /* the Wazuh agent's "YYYY Mmm dd hh:mm:ss host->ip" prefix */
    parse("2019 May 06 09:28:12 vm-ubuntu16->10.0.0.16 sshd[1]: x");
    expect_ts(utc_ns(2019, 5, 6, 9, 28, 12), VIGIL_TS_MESSAGE, 0);
    expect_str(ev.hostname, "vm-ubuntu16->10.0.0.16");
    /* impossible values: consumed, flagged, receive time used */
    parse("<13>Oct 32 03:32:04 h app: x");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP);
    expect_ts(RECV, VIGIL_TS_RECEIVED, 0);
    expect_str(ev.hostname, "h");
    parse("<13>Oct 12 24:00:00 h app: x");
    cr_expect_eq(ev.anomalies, VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP);
    /* not followed by a separator: not a timestamp at all */
    parse("<13>Oct 12 03:32:04x h app: x");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.hostname, NULL);
    expect_str(ev.message, "Oct 12 03:32:04x h app: x");
    /* year beyond what int64 nanoseconds hold */
    parse("<13>9999-12-31T23:59:59Z h app: x");
    cr_expect_eq(ev.anomalies, VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.process_name, "app");
}

Test(edge, fractional_seconds)
{
    parse("<13>1 2026-01-01T00:00:00.5Z h a - - - x");
    expect_ts(utc_ns(2026, 1, 1, 0, 0, 0) + 500000000, VIGIL_TS_MESSAGE, 0);
    parse("<13>1 2026-01-01T00:00:00.123456Z h a - - - x");
    expect_ts(utc_ns(2026, 1, 1, 0, 0, 0) + 123456000, VIGIL_TS_MESSAGE, 0);
    /* more digits than RFC 5424 allows: kept to the nanosecond, rest dropped */
    parse("<13>1 2026-01-01T00:00:00.123456789987Z h a - - - x");
    expect_ts(utc_ns(2026, 1, 1, 0, 0, 0) + 123456789, VIGIL_TS_MESSAGE, 0);
    cr_expect_eq(ev.format, VIGIL_FMT_RFC5424);
    parse("<13>1 2026-01-01T00:00:00.000001-05:30 h a - - - x");
    expect_ts(utc_ns(2026, 1, 1, 5, 30, 0) + 1000, VIGIL_TS_MESSAGE, -330);
    parse("<13>2016-11-20T00:04:00.110+0100 h a: x");
    expect_ts(utc_ns(2016, 11, 19, 23, 4, 0) + 110000000, VIGIL_TS_MESSAGE, 60);
}

Test(edge, no_pri)
{
    parse("Oct 11 22:14:15 host app: x");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_PRI);
    expect_str(ev.hostname, "host");
    parse("just some text");
    expect_header(VIGIL_FMT_NONE, 1, 5, VIGIL_ANOM_NO_PRI | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "just some text");
    /* '<' that does not look like a PRI at all */
    parse("<co ts=\"2014-06-02T22:02:13.94\" pi=\"72a9\"/>");
    expect_header(VIGIL_FMT_NONE, 1, 5, VIGIL_ANOM_NO_PRI | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "<co ts=\"2014-06-02T22:02:13.94\" pi=\"72a9\"/>");
}

Test(edge, bad_pri)
{
    const char *bad[] = {"<999>Oct 11 22:14:15 host app: x", "<>Oct 11 22:14:15 host app: x",
                         "<192>x", "<1234>x", "<W>2015-11-29 16:38:01.818 1 => x", "<-1>x", "<>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        parse(bad[i]);
        expect_header(VIGIL_FMT_NONE, 1, 5, VIGIL_ANOM_BAD_PRI | VIGIL_ANOM_NO_TIMESTAMP);
        expect_str(ev.message, bad[i]);
        expect_str(ev.hostname, NULL);
        expect_ts(RECV, VIGIL_TS_RECEIVED, 0);
    }
    /* boundaries that are valid */
    parse("<0>x");
    expect_header(VIGIL_FMT_RFC3164, 0, 0, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "x");
    parse("<191>x");
    expect_header(VIGIL_FMT_RFC3164, 23, 7, VIGIL_ANOM_NO_TIMESTAMP);
    parse("<13>");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "");
}

Test(edge, bom_removed)
{
    parse("<13>1 2026-01-01T00:00:00Z h a - - - \xEF\xBB\xBFhello");
    expect_str(ev.message, "hello");
    parse("<13>1 2026-01-01T00:00:00Z h a - - [x@1 a=\"b\"] \xEF\xBB\xBF");
    expect_str(ev.message, "");
    /* only at the start, and only a whole BOM */
    parse("<13>1 2026-01-01T00:00:00Z h a - - - \xEF\xBB" "x");
    expect_str(ev.message, "\xEF\xBB" "x");
    parse("<13>1 2026-01-01T00:00:00Z h a - - - x\xEF\xBB\xBF");
    expect_str(ev.message, "x\xEF\xBB\xBF");
    parse("<13>Jan  1 00:00:00 h a: \xEF\xBB\xBFhi");
    expect_str(ev.message, "hi");
}

static void expect_params(struct vigil_str sd, const char *const *want, int n)
{
    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    syslog_sd_iter_init(&it, sd);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(syslog_sd_next(&it, &p), 1, "param %d of %.*s missing", i, (int)sd.len, sd.ptr);
        expect_str(p.sd_id, want[4 * i]);
        expect_str(p.name, want[4 * i + 1]);
        expect_str(p.value, want[4 * i + 2]);
        cr_expect_eq(p.first_in_element, want[4 * i + 3][0] == '1', "first of param %d", i);
    }
    cr_expect_eq(syslog_sd_next(&it, &p), 0, "extra param in %.*s", (int)sd.len, sd.ptr);
}

Test(edge, sd_escapes_and_elements)
{
    parse("<13>1 - h a - - [x@1 k=\"a\\\"b\\\\c\\]d\" e=\"\"][meta sequenceId=\"42\"][empty] m");
    expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.structured_data,
               "[x@1 k=\"a\\\"b\\\\c\\]d\" e=\"\"][meta sequenceId=\"42\"][empty]");
    expect_str(ev.message, "m");
    cr_expect_eq(ev.sequence, 42);
    const char *want[] = {"x@1",   "k",  "a\\\"b\\\\c\\]d", "1", "x@1", "e", "", "0",
                          "meta", "sequenceId", "42", "1", "empty", NULL, NULL, "1"};
    expect_params(ev.structured_data, want, 4);

    /* a raw ']' inside a value is tolerated; the value ends at the quote */
    parse("<13>1 - h a - - [x k=\"a]b\"] m");
    cr_expect_eq(ev.anomalies, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.structured_data, "[x k=\"a]b\"]");
    /* SD at the very end, no MSG */
    parse("<13>1 - h a - - [x k=\"v\"]");
    expect_str(ev.structured_data, "[x k=\"v\"]");
    expect_str(ev.message, "");
    /* backslash before an ordinary character stays literal */
    parse("<13>1 - h a - - [x k=\"C:\\dir\"] m");
    expect_str(ev.structured_data, "[x k=\"C:\\dir\"]");
    const char *want2[] = {"x", "k", "C:\\dir", "1"};
    expect_params(ev.structured_data, want2, 1);
}

Test(edge, sd_iterator_on_garbage)
{
    const char *bad[] = {"", "x", "[", "[]", "[x", "[x k]", "[x k=\"v]", "[x k=v]", "[x  k=\"v\"]",
                         "[x k=\"v\"", "[x\"y k=\"v\"]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct syslog_sd_iter it;
        struct syslog_sd_param p;
        syslog_sd_iter_init(&it, (struct vigil_str){bad[i], (uint32_t)strlen(bad[i])});
        int n = 0;
        while (syslog_sd_next(&it, &p) && n < 10) {
            cr_expect(p.sd_id.ptr >= bad[i] && p.sd_id.ptr + p.sd_id.len <= bad[i] + strlen(bad[i]));
            n++;
        }
        cr_expect_lt(n, 2, "%s yielded %d params", bad[i], n);
    }
    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    syslog_sd_iter_init(&it, (struct vigil_str){NULL, 0});
    cr_expect_eq(syslog_sd_next(&it, &p), 0);
}

Test(edge, malformed_sd)
{
    const char *cases[][2] = {
        {"<13>1 - h a - - [x@1 k=v] msg", "[x@1 k=v] msg"},
        {"<13>1 - h a - - [x@1 k=\"v\" msg", "[x@1 k=\"v\" msg"},
        {"<13>1 - h a - - [x@1 k=\"v] msg", "[x@1 k=\"v] msg"},
        {"<13>1 - h a - - [] msg", "[] msg"},
        {"<13>1 - h a - - [x@1  k=\"v\"] msg", "[x@1  k=\"v\"] msg"},
        {"<13>1 - h a - - [x@1 k=\"v\"]msg", "[x@1 k=\"v\"]msg"},
        {"<13>1 - h a - - [x=y k=\"v\"] msg", "[x=y k=\"v\"] msg"},
        {"<13>1 - h a - - msg without sd", "msg without sd"},
        {"<13>1 - h a - - -msg", "-msg"},
        /* 33 characters of SD-ID, of PARAM-NAME */
        {"<13>1 - h a - - [abcdefghijklmnopqrstuvwxyz0123456] m",
         "[abcdefghijklmnopqrstuvwxyz0123456] m"},
        {"<13>1 - h a - - [x abcdefghijklmnopqrstuvwxyz0123456=\"v\"] m",
         "[x abcdefghijklmnopqrstuvwxyz0123456=\"v\"] m"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        parse(cases[i][0]);
        expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_BAD_SD | VIGIL_ANOM_NO_TIMESTAMP);
        expect_str(ev.hostname, "h");
        expect_str(ev.process_name, "a");
        expect_str(ev.structured_data, NULL);
        expect_str(ev.message, cases[i][1]);
        cr_expect_eq(ev.sequence, -1);
    }
    /* exactly 32 is fine */
    parse("<13>1 - h a - - [abcdefghijklmnopqrstuvwxyz012345 abcdefghijklmnopqrstuvwxyz012345=\"v\"] m");
    expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "m");
}

Test(edge, trailing_and_embedded_nul_crlf)
{
    parse_at("<13>Jan  1 00:00:00 h a: msg\r\n", 30, RECV, NULL);
    expect_str(ev.message, "msg");
    cr_expect_eq(ev.anomalies & VIGIL_ANOM_NUL_BYTES, 0);
    parse_at("<13>Jan  1 00:00:00 h a: msg\n\0\0\r", 32, RECV, NULL);
    expect_str(ev.message, "msg");
    cr_expect_eq(ev.anomalies & VIGIL_ANOM_NUL_BYTES, 0);
    /* trailing spaces are content */
    parse("<13>Jan  1 00:00:00 h a: msg  ");
    expect_str(ev.message, "msg  ");

    static const char nul[] = "<13>Jan  1 00:00:00 h a: m\0s\0g\n";
    parse_at(nul, sizeof nul - 1, RECV, NULL);
    cr_expect_eq(ev.anomalies, VIGIL_ANOM_NUL_BYTES);
    cr_expect_eq(ev.message.len, 5);
    cr_expect_eq(memcmp(ev.message.ptr, "m\0s\0g", 5), 0);
    expect_str(ev.process_name, "a");

    /* a NUL in the header is only counted; the rest still parses */
    static const char hn[] = "<13>Jan  1 00:00:00 h\0x a: m";
    parse_at(hn, sizeof hn - 1, RECV, NULL);
    cr_expect(ev.anomalies & VIGIL_ANOM_NUL_BYTES);
    cr_expect_eq(ev.hostname.len, 3);
}

Test(edge, invalid_utf8_kept)
{
    static const char raw[] = "<13>1 - h\xff a - - - \xc3\x28\xa0\xa1\xff\xfe\xed\xa0\x80";
    parse_at(raw, sizeof raw - 1, RECV, NULL);
    /* 0xff is not PRINTUSASCII: the 5424 header is rejected and 3164 takes over */
    cr_expect_eq(ev.anomalies & VIGIL_ANOM_5424_FALLBACK, VIGIL_ANOM_5424_FALLBACK);

    static const char m[] = "<13>1 - h a - - - \xc3\x28\xa0\xa1\xff\xfe\xed\xa0\x80";
    parse_at(m, sizeof m - 1, RECV, NULL);
    cr_expect_eq(ev.format, VIGIL_FMT_RFC5424);
    cr_expect_eq(ev.message.len, 9);
    cr_expect_eq(memcmp(ev.message.ptr, "\xc3\x28\xa0\xa1\xff\xfe\xed\xa0\x80", 9), 0);

    static const char b[] = "<13>Jan  1 00:00:00 h\xe9te app\xff[1]: caf\xe9";
    parse_at(b, sizeof b - 1, RECV, NULL);
    expect_str(ev.hostname, "h\xe9te");
    expect_str(ev.process_name, "app\xff");
    expect_str(ev.message, "caf\xe9");
}

Test(edge, empty_inputs)
{
    struct syslog_ctx ctx = {RECV, NULL};
    const char *empty[] = {"", " ", "   \t ", "\r\n", "\n", " \t\r\n\v\f"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        cr_expect_eq(syslog_parse(empty[i], strlen(empty[i]), &ctx, &ev), SYSLOG_ERR_EMPTY, "[%s]",
                     empty[i]);
    cr_expect_eq(syslog_parse("\0\0\0", 3, &ctx, &ev), SYSLOG_ERR_EMPTY);
    cr_expect_eq(syslog_parse(" \0 \r\n\0", 6, &ctx, &ev), SYSLOG_ERR_EMPTY);
    cr_expect_eq(syslog_parse(NULL, 0, &ctx, &ev), SYSLOG_ERR_EMPTY);
    cr_expect_eq(syslog_parse("x", 0, &ctx, &ev), SYSLOG_ERR_EMPTY);
    cr_expect_eq(syslog_parse(" x", 2, &ctx, &ev), SYSLOG_OK);
    expect_str(ev.message, " x");
}

Test(edge, rfc5424_fallback)
{
    /* month 13 */
    parse("<13>1 2026-13-01T00:00:00Z h a - - - m");
    expect_header(VIGIL_FMT_RFC3164, 1, 5,
                  VIGIL_ANOM_5424_FALLBACK | VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.hostname, "h");
    expect_str(ev.msgid, NULL);
    expect_str(ev.message, "a - - - m");
    /* a BSD timestamp behind a 5424 version */
    parse("<13>1 Oct 11 22:14:15 host app[7]: msg");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_5424_FALLBACK);
    expect_ts(utc_ns(2025, 10, 11, 22, 14, 15), VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, "host");
    expect_str(ev.process_name, "app");
    cr_expect_eq(ev.pid, 7);
    expect_str(ev.message, "msg");
    /* header cut short before STRUCTURED-DATA */
    parse("<13>1 - - - - -");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_5424_FALLBACK | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.message, "- - - - -");
    /* two spaces make an empty field */
    parse("<13>1 -  h a - - - m");
    cr_expect_eq(ev.format, VIGIL_FMT_RFC3164);
    cr_expect(ev.anomalies & VIGIL_ANOM_5424_FALLBACK);
    /* nothing of a partial 5424 parse leaks into the fallback event */
    parse("<13>1 - host app 123 ID1 [x k=\"v\"]\x01");
    cr_expect_eq(ev.format, VIGIL_FMT_RFC5424);   /* SD glued to MSG: BAD_SD, not fallback */
    cr_expect_eq(ev.anomalies, VIGIL_ANOM_BAD_SD | VIGIL_ANOM_NO_TIMESTAMP);
    parse("<13>1 - host app 123 ID1");
    expect_header(VIGIL_FMT_RFC3164, 1, 5, VIGIL_ANOM_5424_FALLBACK | VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.msgid, NULL);
    expect_str(ev.procid, NULL);
    cr_expect_eq(ev.pid, -1);
}

Test(edge, rfc5424_all_fields)
{
    parse("<134>1 2026-03-20T10:00:00.000001+01:00 web01.example.com nginx 4242 ACCESS "
          "[meta sequenceId=\"7\" sysUpTime=\"12\"][origin ip=\"192.0.2.1\"] GET / 200");
    expect_header(VIGIL_FMT_RFC5424, 16, 6, 0);
    expect_ts(utc_ns(2026, 3, 20, 9, 0, 0) + 1000, VIGIL_TS_MESSAGE, 60);
    expect_str(ev.hostname, "web01.example.com");
    expect_str(ev.process_name, "nginx");
    expect_str(ev.procid, "4242");
    cr_expect_eq(ev.pid, 4242);
    expect_str(ev.msgid, "ACCESS");
    cr_expect_eq(ev.sequence, 7);
    expect_str(ev.message, "GET / 200");
    expect_str(ev.event_code, NULL);
    cr_expect_eq(ev.vendor_severity, -1);

    parse("<134>1 - h a proc-1 - - m");
    expect_str(ev.procid, "proc-1");
    cr_expect_eq(ev.pid, -1);
}

Test(edge, cisco_ios_sequence_prefix)
{
    parse("<189>123: *Mar  1 00:00:01.123: %LINK-3-UPDOWN: Interface FastEthernet0/1, changed state to up");
    expect_header(VIGIL_FMT_RFC3164, 23, 5, 0);
    cr_expect_eq(ev.sequence, 123);
    expect_ts(utc_ns(2026, 3, 1, 0, 0, 1) + 123000000, VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "LINK");
    expect_str(ev.event_code, "UPDOWN");
    cr_expect_eq(ev.vendor_severity, 3);
    expect_str(ev.message, "Interface FastEthernet0/1, changed state to up");

    /* origin-id hostname, '.' marker, zone word */
    struct tz_zone *z = zone("Europe/Berlin");
    const char *l = "<189>124: router1: .Mar  1 00:00:01.123 UTC: %SYS-5-CONFIG_I: Configured";
    parse_at(l, strlen(l), RECV, z);
    cr_expect_eq(ev.sequence, 124);
    expect_str(ev.hostname, "router1");
    expect_ts(utc_ns(2026, 3, 1, 0, 0, 1) + 123000000, VIGIL_TS_INFERRED_YEAR, 0);
    expect_str(ev.process_name, "SYS");
    expect_str(ev.event_code, "CONFIG_I");
    cr_expect_eq(ev.vendor_severity, 5);
    expect_str(ev.message, "Configured");
    /* a zone word that is not UTC leaves the sender's zone in force */
    l = "<189>125: Mar  1 00:00:01 CET: %SYS-5-CONFIG_I: Configured";
    parse_at(l, strlen(l), RECV, z);
    expect_ts(utc_ns(2026, 2, 28, 23, 0, 1), VIGIL_TS_INFERRED_YEAR, 60);
    tz_zone_free(z);

    /* wazuh cisco_ios.ini lines */
    parse("3924923: *Oct  6 03:32:04.114 gmt: %SEC-6-IPACCESSLOGP: list bcv_out denied tcp");
    cr_expect_eq(ev.sequence, 3924923);
    expect_str(ev.process_name, "SEC");
    expect_str(ev.message, "list bcv_out denied tcp");
    parse("Oct 6 03:32:02 mng: %SEC-6-IPACCESSLOGP: list 1111 denied udp");
    cr_expect_eq(ev.sequence, -1);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, "SEC");
    expect_ts(utc_ns(2025, 10, 6, 3, 32, 2), VIGIL_TS_INFERRED_YEAR, 0);
    /* uptime stamps carry no date */
    parse("<187>00:00:46: %LINK-3-UPDOWN: Interface Port-channel1, changed state to up");
    expect_header(VIGIL_FMT_RFC3164, 23, 3, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.process_name, "LINK");
    expect_str(ev.message, "Interface Port-channel1, changed state to up");
    /* a message that merely starts with a number keeps it */
    parse("<13>404: not found");
    cr_expect_eq(ev.sequence, -1);
    expect_str(ev.message, "404: not found");
}

Test(edge, message_64k)
{
    size_t body = 64 * 1024;
    const char *hdr = "<13>Jan  1 00:00:00 host app[1]: ";
    size_t hl = strlen(hdr);
    char *buf = malloc(hl + body);
    memcpy(buf, hdr, hl);
    for (size_t i = 0; i < body; i++)
        buf[hl + i] = (char)('a' + i % 26);
    parse_at(buf, hl + body, RECV, NULL);
    expect_header(VIGIL_FMT_RFC3164, 1, 5, 0);
    cr_expect_eq(ev.message.ptr, buf + hl);
    cr_expect_eq(ev.message.len, body);
    expect_str(ev.hostname, "host");
    free(buf);

    /* 64 KiB of SD value in RFC 5424 */
    const char *h5 = "<13>1 - h a - - [x k=\"";
    size_t h5l = strlen(h5);
    buf = malloc(h5l + body + 4);
    memcpy(buf, h5, h5l);
    memset(buf + h5l, 'v', body);
    memcpy(buf + h5l + body, "\"] m", 4);
    parse_at(buf, h5l + body + 4, RECV, NULL);
    expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    cr_expect_eq(ev.structured_data.len, body + 8);
    expect_str(ev.message, "m");
    free(buf);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

Test(edge, fields_at_maximum_length)
{
    char *h255 = repeat('h', 255), *a48 = repeat('a', 48), *p128 = repeat('7', 128),
         *m32 = repeat('m', 32);
    char *line;
    cr_assert(asprintf(&line, "<13>1 - %s %s %s %s - x", h255, a48, p128, m32) > 0);
    parse(line);
    expect_header(VIGIL_FMT_RFC5424, 1, 5, VIGIL_ANOM_NO_TIMESTAMP);
    expect_str(ev.hostname, h255);
    expect_str(ev.process_name, a48);
    expect_str(ev.procid, p128);
    cr_expect_eq(ev.pid, -1);   /* 128 digits do not fit */
    expect_str(ev.msgid, m32);
    expect_str(ev.message, "x");
    free(line);

    /* one more byte in any field is not RFC 5424 */
    const char *fmt[] = {"<13>1 - %sh %s %s %s - x", "<13>1 - %s %sa %s %s - x",
                         "<13>1 - %s %s %s7 %s - x", "<13>1 - %s %s %s %sm - x"};
    for (int i = 0; i < 4; i++) {
        cr_assert(asprintf(&line, fmt[i], h255, a48, p128, m32) > 0);
        parse(line);
        cr_expect_eq(ev.format, VIGIL_FMT_RFC3164, "field %d", i);
        cr_expect(ev.anomalies & VIGIL_ANOM_5424_FALLBACK, "field %d", i);
        free(line);
    }

    /* 3164: a 255-byte hostname is one; 256 bytes is not a hostname */
    cr_assert(asprintf(&line, "<13>Jan  1 00:00:00 %s app: x", h255) > 0);
    parse(line);
    expect_str(ev.hostname, h255);
    expect_str(ev.process_name, "app");
    free(line);
    cr_assert(asprintf(&line, "<13>Jan  1 00:00:00 %sh app: x", h255) > 0);
    parse(line);
    expect_str(ev.hostname, NULL);
    expect_str(ev.process_name, NULL);
    free(line);
    free(h255);
    free(a48);
    free(p128);
    free(m32);
}

/* Every prefix of a valid message decodes without reading past its end
 * (each copy is an exact-size heap block, so ASan sees an over-read), and
 * every view stays inside it. */
static void all_prefixes(const char *msg)
{
    size_t n = strlen(msg);
    struct syslog_ctx ctx = {RECV, NULL};
    for (size_t len = 0; len <= n; len++) {
        char *b = malloc(len ? len : 1);
        memcpy(b, msg, len);
        struct vigil_event e;
        enum syslog_result r = syslog_parse(b, len, &ctx, &e);
        if (len == 0)
            cr_expect_eq(r, SYSLOG_ERR_EMPTY);
        else
            cr_expect_eq(r, SYSLOG_OK, "prefix %zu of %s", len, msg);
        if (r == SYSLOG_OK) {
            struct vigil_str f[] = {e.hostname, e.process_name, e.procid, e.msgid,
                                    e.event_code, e.structured_data, e.message};
            for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
                if (f[i].ptr)
                    cr_expect(f[i].ptr >= b && f[i].ptr + f[i].len <= b + len,
                              "field %zu out of bounds at prefix %zu", i, len);
            cr_expect_not_null(e.message.ptr);
            struct syslog_sd_iter it;
            struct syslog_sd_param p;
            syslog_sd_iter_init(&it, e.structured_data);
            while (syslog_sd_next(&it, &p))
                cr_expect(p.value.ptr == NULL ||
                          (p.value.ptr >= b && p.value.ptr + p.value.len <= b + len));
        }
        free(b);
    }
}

Test(edge, every_prefix_of_5424)
{
    all_prefixes("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 "
                 "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"lication\"][meta sequenceId=\"9\"]"
                 " \xEF\xBB\xBF" "An application event log entry");
    /* and the last full one parses completely */
    parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog 1234 ID47 "
          "[exampleSDID@32473 iut=\"3\"][meta sequenceId=\"9\"] \xEF\xBB\xBFhi");
    cr_expect_eq(ev.anomalies, 0);
    cr_expect_eq(ev.sequence, 9);
    expect_str(ev.message, "hi");
}

Test(edge, every_prefix_of_3164_forms)
{
    all_prefixes("<34>Oct 11 22:14:15 mymachine su[12]: 'su root' failed for lonvick");
    all_prefixes("<189>123: router1: *Mar  1 00:00:01.123 UTC: %LINK-3-UPDOWN: Interface up");
    all_prefixes("<13>2026-07-23T09:30:45.123+02:00 host daemon: timestamp variant");
    all_prefixes("Apr  2 17:51:27 <auth.info> pancake sshd[55624]: error");
    all_prefixes("<166>Oct 03 2018 17:34:08 fw01 : %ASA-6-302013: Built");
    all_prefixes("<13>1 Oct 11 22:14:15 host app[7]: msg");
}
