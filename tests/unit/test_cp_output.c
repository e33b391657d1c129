/* vigil-cp outputs: configuration defaults and validation, the bounded queue,
 * the RFC 5424 message format and the dispatcher's argument checks.  The
 * outputs themselves are exercised against real sockets and files in
 * test_cp_output_{jsonl,syslog,webhook}.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mgmt/output.h"
#include "test_support.h"

static struct output_config valid_all(void)
{
    struct output_config c;
    output_config_defaults(&c);
    c.jsonl.enabled = true;
    snprintf(c.jsonl.path, sizeof c.jsonl.path, "/tmp/x.jsonl");
    c.syslog.enabled = true;
    snprintf(c.syslog.host, sizeof c.syslog.host, "collector.example");
    c.webhook.enabled = true;
    snprintf(c.webhook.url, sizeof c.webhook.url, "https://hooks.example/alert");
    return c;
}

static void expect_error(const struct output_config *c, const char *prefix)
{
    char err[256] = "";
    cr_assert_eq(output_config_validate(c, err, sizeof err), -1, "expected an error starting with %s", prefix);
    cr_assert_eq(strncmp(err, prefix, strlen(prefix)), 0, "error '%s' should start with '%s'", err, prefix);
}

Test(output_config, defaults_are_valid_and_disabled)
{
    struct output_config c;
    output_config_defaults(&c);
    char err[256];
    cr_assert_eq(output_config_validate(&c, err, sizeof err), 0);
    cr_assert(!c.jsonl.enabled && !c.syslog.enabled && !c.webhook.enabled);
    cr_assert_eq(c.syslog.port, 514);
    cr_assert_eq(c.syslog.facility, 16, "local0");
    cr_assert_eq(c.syslog.protocol, OUTPUT_SYSLOG_UDP);
    cr_assert_eq(c.jsonl.fsync, OUTPUT_FSYNC_BATCH);
    cr_assert_eq(c.webhook.batch, 0);
    cr_assert_eq(c.webhook.queue.max_alerts, OUTPUT_QUEUE_DEFAULT_ALERTS);
    struct output_config all = valid_all();
    cr_assert_eq(output_config_validate(&all, err, sizeof err), 0, "%s", err);
}

Test(output_config, errors_name_the_key)
{
    struct output_config c = valid_all();
    c.jsonl.path[0] = '\0';
    expect_error(&c, "outputs.jsonl.path:");
    c = valid_all();
    c.jsonl.fsync = OUTPUT_FSYNC_INTERVAL;
    c.jsonl.fsync_interval_ms = 0;
    expect_error(&c, "outputs.jsonl.fsync_interval_ms:");
    c = valid_all();
    c.jsonl.queue.max_bytes = 10;
    expect_error(&c, "outputs.jsonl.queue_max_bytes:");

    c = valid_all();
    c.syslog.port = 0;
    expect_error(&c, "outputs.syslog.port: must be 1..65535");
    c.syslog.port = 65536;
    expect_error(&c, "outputs.syslog.port: must be 1..65535");
    c = valid_all();
    c.syslog.host[0] = '\0';
    expect_error(&c, "outputs.syslog.host:");
    c = valid_all();
    c.syslog.facility = 24;
    expect_error(&c, "outputs.syslog.facility:");
    c = valid_all();
    c.syslog.protocol = (enum output_syslog_protocol)7;
    expect_error(&c, "outputs.syslog.protocol:");
    c = valid_all();
    c.syslog.max_message_bytes = 100;
    expect_error(&c, "outputs.syslog.max_message_bytes:");
    c.syslog.max_message_bytes = 100000;
    expect_error(&c, "outputs.syslog.max_message_bytes:");
    c.syslog.protocol = OUTPUT_SYSLOG_TCP;
    char err[256];
    cr_assert_eq(output_config_validate(&c, err, sizeof err), 0, "TCP frames may exceed a datagram");
    c = valid_all();
    c.syslog.reconnect_backoff_max_ms = c.syslog.reconnect_backoff_ms - 1;
    expect_error(&c, "outputs.syslog.reconnect_backoff_max_ms:");
    c = valid_all();
    c.syslog.queue.max_alerts = 0;
    expect_error(&c, "outputs.syslog.queue_max_alerts:");

    c = valid_all();
    snprintf(c.webhook.url, sizeof c.webhook.url, "ftp://x/");
    expect_error(&c, "outputs.webhook.url:");
    c = valid_all();
    c.webhook.retries = 101;
    expect_error(&c, "outputs.webhook.retries:");
    c = valid_all();
    c.webhook.timeout_ms = 0;
    expect_error(&c, "outputs.webhook.timeout_ms:");
    c = valid_all();
    c.webhook.batch = OUTPUT_WEBHOOK_MAX_BATCH + 1;
    expect_error(&c, "outputs.webhook.batch:");
    c = valid_all();
    c.webhook.n_headers = 1;
    snprintf(c.webhook.headers[0].name, sizeof c.webhook.headers[0].name, "Authorization");
    snprintf(c.webhook.headers[0].value, sizeof c.webhook.headers[0].value, "Bearer secret\r\nX-Evil: 1");
    expect_error(&c, "outputs.webhook.headers.Authorization:");
    cr_assert_eq(output_config_validate(&c, err, sizeof err), -1);
    cr_assert_null(strstr(err, "secret"), "a header value never shows up in an error: %s", err);
    snprintf(c.webhook.headers[0].name, sizeof c.webhook.headers[0].name, "Bad Name");
    expect_error(&c, "outputs.webhook.headers[0]:");
    c = valid_all();
    c.webhook.queue.max_alerts = OUTPUT_QUEUE_MAX_ALERTS + 1;
    expect_error(&c, "outputs.webhook.queue_max_alerts:");
}

Test(output_config, disabled_outputs_are_not_checked)
{
    struct output_config c;
    output_config_defaults(&c);
    c.syslog.port = 0;
    c.webhook.url[0] = '\0';
    char err[256];
    cr_assert_eq(output_config_validate(&c, err, sizeof err), 0);
}

Test(output_config, name_parsers)
{
    int f;
    cr_assert_eq(output_syslog_facility_parse("local0", &f), 0);
    cr_assert_eq(f, 16);
    cr_assert_eq(output_syslog_facility_parse("local7", &f), 0);
    cr_assert_eq(f, 23);
    cr_assert_eq(output_syslog_facility_parse("authpriv", &f), 0);
    cr_assert_eq(f, 10);
    cr_assert_eq(output_syslog_facility_parse("4", &f), 0);
    cr_assert_eq(f, 4);
    cr_assert_eq(output_syslog_facility_parse("24", &f), -1);
    cr_assert_eq(output_syslog_facility_parse("local8", &f), -1);
    cr_assert_eq(output_syslog_facility_parse("", &f), -1);
    enum output_syslog_protocol p;
    cr_assert_eq(output_syslog_protocol_parse("tcp", &p), 0);
    cr_assert_eq(p, OUTPUT_SYSLOG_TCP);
    cr_assert_eq(output_syslog_protocol_parse("TLS", &p), -1);
    enum output_fsync fs;
    cr_assert_eq(output_fsync_parse("interval", &fs), 0);
    cr_assert_eq(fs, OUTPUT_FSYNC_INTERVAL);
    cr_assert_str_eq(output_fsync_name(OUTPUT_FSYNC_NEVER), "never");
    cr_assert_eq(output_fsync_parse("always", &fs), -1);
    cr_assert_str_eq(output_kind_name(OUTPUT_WEBHOOK), "webhook");
}

Test(output_queue, bounded_by_count_and_bytes)
{
    struct output_queue *q = output_queue_new(3, 100);
    cr_assert_not_null(q);
    struct output_record *a[5];
    for (int i = 0; i < 5; i++)
        a[i] = output_record_new("0123456789", 10, 0, 3, "t", NULL);   /* cost 11 */
    for (int i = 0; i < 3; i++)
        cr_assert_eq(output_queue_push(q, a[i]), 0);
    cr_assert(!output_queue_has_room(q, 11));
    cr_assert_eq(output_queue_push(q, a[3]), -1, "count limit");
    struct output_record *got[4];
    cr_assert_eq(output_queue_pop(q, got, 4, UINT64_MAX, 0), 3);
    cr_assert_eq(got[0], a[0], "FIFO");
    cr_assert_eq(output_queue_push(q, a[3]), -1, "popped alerts stay charged until done");
    output_queue_done(q, got, 2, OUTPUT_DELIVERED);
    output_queue_done(q, got + 2, 1, OUTPUT_FAILED);
    struct output_stats st;
    output_queue_stats(q, &st);
    cr_assert_eq(st.submitted, 5);
    cr_assert_eq(st.delivered, 2);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.dropped_queue_full, 2);
    cr_assert_eq(st.queue_depth, 0);
    cr_assert_eq(st.queue_bytes, 0);

    struct output_record *big = output_record_new("x", 1, 0, 3, NULL, NULL);
    char hundred_one[101];
    memset(hundred_one, 'h', sizeof hundred_one);
    struct output_record *huge = output_record_new(hundred_one, sizeof hundred_one, 0, 3, NULL, NULL);
    cr_assert_eq(output_queue_push(q, huge), -1, "bigger than queue_max_bytes");
    output_record_unref(huge);
    cr_assert_eq(output_queue_push(q, a[4]), 0);
    cr_assert_eq(output_queue_push(q, big), 0);
    output_queue_stats(q, &st);
    cr_assert_eq(st.queue_depth, 2);
    cr_assert_eq(st.queue_bytes, 12);
    output_queue_free(q);   /* counts what waits as dropped_at_close and unrefs it */
    for (int i = 0; i < 5; i++)
        output_record_unref(a[i]);
    output_record_unref(big);
}

Test(output_queue, pop_respects_cost_but_takes_one)
{
    struct output_queue *q = output_queue_new(10, 1 << 20);
    char buf[100];
    memset(buf, 'x', sizeof buf);
    for (int i = 0; i < 4; i++) {
        struct output_record *a = output_record_new(buf, sizeof buf, 0, 1, NULL, NULL);
        output_queue_push(q, a);
        output_record_unref(a);
    }
    struct output_record *got[10];
    cr_assert_eq(output_queue_pop(q, got, 10, 50, 0), 1, "one even when it alone exceeds the cost cap");
    output_queue_done(q, got, 1, OUTPUT_DELIVERED);
    cr_assert_eq(output_queue_pop(q, got, 10, 250, 0), 2);
    output_queue_done(q, got, 2, OUTPUT_DELIVERED);
    output_queue_close(q, 0);
    cr_assert(output_queue_expired(q, output_mono_ns()));
    int64_t t0 = output_mono_ns();
    cr_assert_eq(output_queue_pop(q, got, 10, 1000, INT64_MAX), 1, "closed: hands out what is left");
    cr_assert_eq(output_queue_pop(q, got + 1, 10, 1000, INT64_MAX), 0, "closed and empty: no wait");
    cr_assert_lt(output_mono_ns() - t0, 1000000000LL);
    output_queue_done(q, got, 1, OUTPUT_ABANDONED);
    struct output_stats st;
    output_queue_stats(q, &st);
    cr_assert_eq(st.dropped_at_close, 1);
    output_queue_free(q);
}

Test(output_syslog_format, severity_mapping)
{
    cr_assert_eq(output_syslog_severity(5), 2, "critical -> crit");
    cr_assert_eq(output_syslog_severity(4), 3, "high -> err");
    cr_assert_eq(output_syslog_severity(3), 4, "medium -> warning");
    cr_assert_eq(output_syslog_severity(2), 5, "low -> notice");
    cr_assert_eq(output_syslog_severity(1), 6, "informational -> info");
    cr_assert_eq(output_syslog_severity(0), 6);
    cr_assert_eq(output_syslog_severity(9), 2);
}

Test(output_syslog_format, rfc5424_message)
{
    const char *json = "{\"rule\":{\"name\":\"x\"},\"message\":\"caf\xc3\xa9\"}";
    struct output_record *a = output_record_new(json, strlen(json), 1709296496789012345LL, 4,
                                              "Scan \"then\" [traversal] \\ x", "web 01");
    char buf[2048];
    bool trunc;
    size_t n = output_syslog_format(buf, sizeof buf, 2048, a, 16, "vigil-appliance", "4242", &trunc);
    buf[n] = '\0';
    const char *expect = "<131>1 2024-03-01T12:34:56.789012Z web_01 vigil 4242 alert "
                         "[vigil@32473 rule=\"Scan \\\"then\\\" [traversal\\] \\\\ x\" level=\"high\"] ";
    cr_assert_eq(strncmp(buf, expect, strlen(expect)), 0, "got: %s", buf);
    cr_assert_str_eq(buf + strlen(expect), json);
    cr_assert(!trunc);
    output_record_unref(a);

    /* No hint: the configured host name; no title: an empty parameter. */
    a = output_record_new("{}", 2, 1709296496000000000LL, 1, NULL, NULL);
    n = output_syslog_format(buf, sizeof buf, 2048, a, 4, "vigil-appliance", "1", &trunc);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "<38>1 2024-03-01T12:34:56.000000Z vigil-appliance vigil 1 alert "
                          "[vigil@32473 rule=\"\" level=\"informational\"] {}");
    output_record_unref(a);
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t l = s[i] < 0x80 ? 1 : (s[i] & 0xe0) == 0xc0 ? 2 : (s[i] & 0xf0) == 0xe0 ? 3 : (s[i] & 0xf8) == 0xf0 ? 4 : 0;
        if (l == 0 || i + l > n)
            return false;
        for (size_t k = 1; k < l; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += l;
    }
    return true;
}

Test(output_syslog_format, truncation_keeps_header_and_utf8)
{
    /* 3-byte characters so most cut points fall inside one. */
    char json[3000];
    size_t j = 0;
    json[j++] = '{';
    while (j < 2990) {
        json[j++] = (char)0xe2;
        json[j++] = (char)0x82;
        json[j++] = (char)0xac;
    }
    json[j++] = '}';
    char title[1200];
    memset(title, 'T', sizeof title - 1);
    title[sizeof title - 1] = '\0';
    for (size_t max = OUTPUT_SYSLOG_MIN_MESSAGE; max < 520; max++) {
        struct output_record *a = output_record_new(json, j, 1, 5, title, NULL);
        char buf[1024];
        bool trunc;
        size_t n = output_syslog_format(buf, sizeof buf, max, a, 16, "h", "1", &trunc);
        cr_assert(trunc);
        cr_assert_leq(n, max);
        cr_assert_geq(n, max - 3, "cut at most one character short");
        cr_assert(valid_utf8((unsigned char *)buf, n), "max %zu", max);
        buf[n] = '\0';
        cr_assert_not_null(strstr(buf, "\" level=\"critical\"] {"), "the header stays whole: %s", buf);
        output_record_unref(a);
    }
    /* A long title alone is cut to OUTPUT_SYSLOG_TITLE_MAX. */
    struct output_record *a = output_record_new("{}", 2, 1, 5, title, NULL);
    char buf[4096];
    bool trunc;
    size_t n = output_syslog_format(buf, sizeof buf, 4096, a, 16, "h", "1", &trunc);
    buf[n] = '\0';
    cr_assert(trunc);
    cr_assert_not_null(strstr(buf, "rule=\"TTTT"));
    cr_assert_eq(n, strlen("<130>1 1970-01-01T00:00:00.000000Z h vigil 1 alert [vigil@32473 rule=\"\" "
                           "level=\"critical\"] {}") + OUTPUT_SYSLOG_TITLE_MAX);
    output_record_unref(a);
}

Test(output_set, empty_set_and_argument_checks)
{
    struct output_config c;
    output_config_defaults(&c);
    struct output_set *s;
    char err[256];
    cr_assert_eq(output_set_open(&c, &s, err, sizeof err), 0, "%s", err);
    struct output_alert_meta m = {.level = 3, .rule_title = "r"};
    cr_assert_eq(output_submit(s, "{}", 2, &m), 0, "no output enabled: nobody refuses it");
    cr_assert_eq(output_submit(s, "{}", 0, &m), -1);
    cr_assert_eq(output_submit(s, "{}", 2, NULL), -1);
    cr_assert_eq(output_submit(s, "{\n}", 3, &m), -1, "a newline would break the JSON lines file");
    output_set_reopen(s);
    struct output_set_stats st;
    output_set_stats(s, &st);
    cr_assert(!st.enabled[OUTPUT_JSONL]);
    output_set_close(s, 1000, &st);
}

Test(output_set, open_reports_the_bad_key)
{
    test_tmpdir("cp-output");
    struct output_config c;
    output_config_defaults(&c);
    c.jsonl.enabled = true;
    snprintf(c.jsonl.path, sizeof c.jsonl.path, "%s", tmp_path("missing-dir/alerts.jsonl"));
    struct output_set *s = NULL;
    char err[512];
    cr_assert_eq(output_set_open(&c, &s, err, sizeof err), -1);
    cr_assert_eq(strncmp(err, "outputs.jsonl.path: cannot open", 31), 0, "%s", err);
    cr_assert_null(s);
    c.jsonl.enabled = false;
    c.syslog.enabled = true;
    snprintf(c.syslog.host, sizeof c.syslog.host, "localhost");
    c.syslog.port = 70000;
    cr_assert_eq(output_set_open(&c, &s, err, sizeof err), -1);
    cr_assert_str_eq(err, "outputs.syslog.port: must be 1..65535");
}
