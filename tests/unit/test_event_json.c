#define _GNU_SOURCE
/* The tap's JSON: valid JSON and valid UTF-8 whatever the message holds,
 * with ECS names and every byte of the message recoverable. */
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "engine/event_json.h"

static struct vigil_str S(const char *s) { return (struct vigil_str){s, (uint32_t)strlen(s)}; }

static void base_event(struct vigil_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->timestamp_ns = 1065910455003000000LL;   /* 2003-10-11T22:14:15.003Z */
    ev->received_ns = 1065910456000000000LL;
    ev->facility = 20;
    ev->severity = 5;
    ev->pid = -1;
    ev->sequence = -1;
    ev->vendor_severity = -1;
    ev->format = VIGIL_FMT_RFC5424;
    ev->ts_source = VIGIL_TS_MESSAGE;
    ev->observer_ip.family = 4;
    memcpy(ev->observer_ip.addr, (uint8_t[]){192, 0, 2, 10}, 4);
}

static json_t *render_parse(const struct vigil_event *ev)
{
    char buf[1 << 16];
    size_t n = event_json_render(ev, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_eq(buf[n - 1], '\n', "a JSON line ends with a newline");
    cr_assert_null(memchr(buf, '\n', n - 1), "exactly one line");
    json_error_t e;
    json_t *j = json_loadb(buf, n, JSON_ALLOW_NUL, &e);
    cr_assert_not_null(j, "invalid JSON (%s) in: %.*s", e.text, (int)n, buf);
    return j;
}

static const char *jstr(json_t *root, const char *path)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", path);
    json_t *cur = root;
    for (char *tok = strtok(tmp, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_get(cur, tok);
    return cur && json_is_string(cur) ? json_string_value(cur) : NULL;
}

Test(event_json, ecs_fields)
{
    struct vigil_event ev;
    base_event(&ev);
    ev.hostname = S("mymachine.example.com");
    ev.process_name = S("evntslog");
    ev.msgid = S("ID47");
    ev.pid = 4242;
    ev.procid = S("4242");
    ev.message = S("An application event log entry");
    json_t *j = render_parse(&ev);
    cr_assert_str_eq(jstr(j, "@timestamp"), "2003-10-11T22:14:15.003Z");
    cr_assert_str_eq(jstr(j, "event.created"), "2003-10-11T22:14:16.000Z");
    cr_assert_str_eq(jstr(j, "host.hostname"), "mymachine.example.com");
    cr_assert_str_eq(jstr(j, "process.name"), "evntslog");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "process"), "pid")), 4242);
    cr_assert_str_eq(jstr(j, "observer.ip"), "192.0.2.10");
    cr_assert_str_eq(jstr(j, "log.syslog.msgid"), "ID47");
    cr_assert_str_eq(jstr(j, "message"), "An application event log entry");
    json_t *sys = json_object_get(json_object_get(j, "log"), "syslog");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sys, "facility"), "code")), 20);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(sys, "severity"), "code")), 5);
    cr_assert_eq(json_integer_value(json_object_get(sys, "priority")), 165);
    cr_assert_str_eq(jstr(j, "log.level"), "notice");
    cr_assert_str_eq(jstr(j, "vigil.format"), "rfc5424");
    json_decref(j);
}

Test(event_json, hostile_bytes_stay_valid_and_recoverable)
{
    static const char msg[] = "quote\" back\\ nl\n cr\r tab\t nul\0 esc\x1b del\x7f bad\xff\xfe "
                              "lone\xc3 overlong\xc0\xaf surrogate\xed\xa0\x80 ok\xc3\xa9\xe2\x82\xac";
    struct vigil_event ev;
    base_event(&ev);
    ev.message = (struct vigil_str){msg, sizeof msg - 1};
    json_t *j = render_parse(&ev);
    json_t *jm = json_object_get(j, "message");
    cr_assert_not_null(jm);
    const char *m = json_string_value(jm);
    size_t len = json_string_length(jm);
#define HAS(lit) cr_assert(memmem(m, len, lit, sizeof lit - 1), "missing %s in %.*s", #lit, (int)len, m)
    HAS("quote\" back\\ nl\n cr\r tab\t nul\0 esc\x1b del\x7f");  /* controls and NUL round-trip */
    HAS("bad\\xff\\xfe");                 /* invalid bytes become \xHH text */
    HAS("lone\\xc3 ");
    HAS("overlong\\xc0\\xaf");
    HAS("surrogate\\xed\\xa0\\x80");
    HAS("ok\xc3\xa9\xe2\x82\xac");       /* valid UTF-8 passes through */
#undef HAS
    json_decref(j);
}

Test(event_json, structured_data_unescaped)
{
    static const char sd[] = "[exampleSDID@32473 iut=\"3\" eventSource=\"App \\\"x\\\" \\] \\\\\"][meta seq=\"1\"][empty]";
    struct vigil_event ev;
    base_event(&ev);
    ev.structured_data = S(sd);
    ev.message = S("m");
    json_t *j = render_parse(&ev);
    json_t *s = json_object_get(json_object_get(json_object_get(j, "log"), "syslog"), "structured_data");
    cr_assert_not_null(s);
    json_t *ex = json_object_get(s, "exampleSDID@32473");
    cr_assert_str_eq(json_string_value(json_object_get(ex, "iut")), "3");
    cr_assert_str_eq(json_string_value(json_object_get(ex, "eventSource")), "App \"x\" ] \\");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "meta"), "seq")), "1");
    cr_assert(json_is_object(json_object_get(s, "empty")));
    json_decref(j);
}

Test(event_json, anomalies_and_ipv6_and_cisco)
{
    struct vigil_event ev;
    base_event(&ev);
    ev.observer_ip.family = 6;
    memset(ev.observer_ip.addr, 0, 16);
    ev.observer_ip.addr[0] = 0x20;
    ev.observer_ip.addr[1] = 0x01;
    ev.observer_ip.addr[2] = 0x0d;
    ev.observer_ip.addr[3] = 0xb8;
    ev.observer_ip.addr[15] = 1;
    ev.anomalies = VIGIL_ANOM_NO_PRI | VIGIL_ANOM_NUL_BYTES;
    ev.event_code = S("106023");
    ev.vendor_severity = 4;
    ev.severity = 6;
    ev.sequence = 77;
    ev.message = S("Deny tcp src outside:192.0.2.1/1 dst inside:10.0.0.1/22");
    json_t *j = render_parse(&ev);
    cr_assert_str_eq(jstr(j, "observer.ip"), "2001:db8::1");
    cr_assert_str_eq(jstr(j, "event.code"), "106023");
    cr_assert_str_eq(jstr(j, "log.level"), "warning", "Cisco severity wins over the PRI's");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "event"), "sequence")), 77);
    json_t *an = json_object_get(json_object_get(j, "vigil"), "anomalies");
    cr_assert_eq(json_array_size(an), 2);
    cr_assert_str_eq(json_string_value(json_array_get(an, 0)), "no_pri");
    cr_assert_str_eq(json_string_value(json_array_get(an, 1)), "nul_bytes");
    json_decref(j);
}

Test(event_json, too_small_buffer_is_refused_not_overrun)
{
    struct vigil_event ev;
    base_event(&ev);
    ev.message = S("some message that does not fit");
    char buf[512];
    size_t full = event_json_render(&ev, buf, sizeof buf);
    cr_assert_gt(full, 0);
    for (size_t cap = 0; cap < full; cap++) {
        char small[512];
        memset(small, 'Z', sizeof small);
        cr_assert_eq(event_json_render(&ev, small, cap), 0, "cap %zu", cap);
        cr_assert_eq(small[cap], 'Z', "wrote past cap %zu", cap);
    }
}

Test(event_json, worst_case_bound_holds)
{
    static char msg[4096];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (char)(i % 2 ? 0x01 : 0xff);   /* 6- and 5-byte escapes */
    struct vigil_event ev;
    base_event(&ev);
    ev.message = (struct vigil_str){msg, sizeof msg};
    static char buf[VIGIL_EVENT_JSON_MAX(sizeof msg)];
    cr_assert_gt(event_json_render(&ev, buf, sizeof buf), 0);
}

/* Repeated SD-IDs merge and repeated names become arrays: no duplicate keys,
 * which Elasticsearch would reject. */
Test(event_json, repeated_structured_data_has_no_duplicate_keys)
{
    static const char sd[] = "[origin ip=\"192.0.2.1\" ip=\"192.0.2.129\" software=\"x\"][x@1 a=\"1\"][x@1 a=\"2\" b=\"3\"]";
    struct vigil_event ev;
    base_event(&ev);
    ev.structured_data = S(sd);
    ev.message = S("m");
    char buf[4096];
    size_t n = event_json_render(&ev, buf, sizeof buf);
    cr_assert_gt(n, 0);
    json_error_t e;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &e);
    cr_assert_not_null(j, "%s in %.*s", e.text, (int)n, buf);
    json_t *s = json_object_get(json_object_get(json_object_get(j, "log"), "syslog"), "structured_data");
    json_t *ips = json_object_get(json_object_get(s, "origin"), "ip");
    cr_assert(json_is_array(ips));
    cr_assert_str_eq(json_string_value(json_array_get(ips, 1)), "192.0.2.129");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "origin"), "software")), "x");
    json_t *x = json_object_get(s, "x@1");
    cr_assert_eq(json_array_size(json_object_get(x, "a")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(x, "b")), "3");
    json_decref(j);
}

/* A long SD value with multi-byte UTF-8 everywhere stays valid UTF-8. */
Test(event_json, long_structured_data_value_keeps_utf8)
{
    static char sd[6000];
    int o = snprintf(sd, sizeof sd, "[id k=\"");
    for (int i = 0; i < 1500; i++) {
        memcpy(sd + o, "\xc3\xa9", 2);   /* é */
        o += 2;
    }
    o += snprintf(sd + o, sizeof sd - (size_t)o, "\"]");
    struct vigil_event ev;
    base_event(&ev);
    ev.structured_data = (struct vigil_str){sd, (uint32_t)o};
    ev.message = S("m");
    static char buf[1 << 16];
    size_t n = event_json_render(&ev, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_null(memmem(buf, n, "\\\\x", 3), "a character split across chunks became \\x escapes");
    json_error_t e;
    json_t *j = json_loadb(buf, n, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    json_decref(j);
}
