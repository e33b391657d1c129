/* Syslog output against real loopback sockets: RFC 5424 datagrams over UDP
 * (PRI per level, structured data, the JSON as MSG, truncation), RFC 6587
 * octet-counted frames over TCP, and a collector that restarts. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mgmt/output.h"
#include "test_support.h"

#define TS_NS 1709296496789012345LL   /* 2024-03-01T12:34:56.789012Z */

static void set_rcv_timeout(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* A socket bound to 127.0.0.1:port (0: any free port, written back). */
static int bound_socket(int type, int *port)
{
    int fd = socket(AF_INET, type, 0);
    cr_assert_geq(fd, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)*port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int rc = -1;
    for (int i = 0; i < 200 && rc != 0; i++) {   /* a restarted listener may need a moment */
        rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
        if (rc != 0)
            sleep_ms(10);
    }
    cr_assert_eq(rc, 0, "bind: %s", strerror(errno));
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    *port = ntohs(sa.sin_port);
    if (type == SOCK_STREAM)
        cr_assert_eq(listen(fd, 8), 0);
    set_rcv_timeout(fd, 5000);
    return fd;
}

static int accept_within(int lfd, int ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, ms), 1, "no connection from the output");
    int fd = accept(lfd, NULL, NULL);
    cr_assert_geq(fd, 0);
    set_rcv_timeout(fd, 5000);
    return fd;
}

static struct output_config syslog_config(enum output_syslog_protocol proto, int port)
{
    struct output_config c;
    output_config_defaults(&c);
    c.syslog.enabled = true;
    snprintf(c.syslog.host, sizeof c.syslog.host, "127.0.0.1");
    c.syslog.port = port;
    c.syslog.protocol = proto;
    snprintf(c.syslog.hostname, sizeof c.syslog.hostname, "vigil-test");
    c.syslog.reconnect_backoff_ms = 20;
    c.syslog.reconnect_backoff_max_ms = 100;
    return c;
}

static struct output_set *open_set(const struct output_config *c)
{
    struct output_set *s = NULL;
    char err[512];
    cr_assert_eq(output_set_open(c, &s, err, sizeof err), 0, "%s", err);
    return s;
}

static int alert_json(char *buf, size_t cap, int n)
{
    return snprintf(buf, cap, "{\"event\":{\"kind\":\"alert\"},\"rule\":{\"name\":\"scan \\\"x\\\"\"},\"n\":%d}", n);
}

static void submit(struct output_set *s, int n, unsigned level)
{
    char json[256];
    int len = alert_json(json, sizeof json, n);
    struct output_alert_meta m = {.ts_ns = TS_NS, .level = (uint8_t)level, .rule_title = "Port scan then traversal"};
    int rc = output_submit(s, json, (size_t)len, &m);
    cr_assert(rc == 0 || rc == 1, "output_submit: %d", rc);
}

static struct output_stats wait_for(struct output_set *s, size_t off, uint64_t want)
{
    struct output_set_stats st;
    for (int i = 0; i < 1000; i++) {
        output_set_stats(s, &st);
        if (*(const uint64_t *)((const char *)&st.out[OUTPUT_SYSLOG] + off) >= want)
            break;
        sleep_ms(5);
    }
    return st.out[OUTPUT_SYSLOG];
}
#define WAIT_FOR(s, field, want) wait_for(s, offsetof(struct output_stats, field), want)

static const char *level_names[] = {"", "informational", "low", "medium", "high", "critical"};

/* The whole message we expect for alert n at level lv, facility local0. */
static void expected_message(char *buf, size_t cap, int n, unsigned lv)
{
    char json[256];
    alert_json(json, sizeof json, n);
    snprintf(buf, cap,
             "<%u>1 2024-03-01T12:34:56.789012Z vigil-test vigil %ld alert "
             "[vigil@32473 rule=\"Port scan then traversal\" level=\"%s\"] %s",
             16 * 8 + (7 - lv), (long)getpid(), level_names[lv], json);
}

Test(output_syslog, udp_rfc5424_per_level)
{
    int port = 0;
    int rfd = bound_socket(SOCK_DGRAM, &port);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_UDP, port);
    struct output_set *s = open_set(&c);
    for (unsigned lv = 1; lv <= 5; lv++) {
        submit(s, (int)lv, lv);
        char got[4096], want[4096];
        ssize_t n = recv(rfd, got, sizeof got - 1, 0);
        cr_assert_gt(n, 0, "no datagram for level %u", lv);
        got[n] = '\0';
        expected_message(want, sizeof want, (int)lv, lv);
        cr_assert_str_eq(got, want);
        /* MSG is the JSON, untouched and parseable. */
        const char *msg = strstr(got, "\"] ") + 3;
        json_error_t je;
        json_t *j = json_loads(msg, 0, &je);
        cr_assert_not_null(j, "MSG is not JSON: %s", je.text);
        cr_assert_eq(json_integer_value(json_object_get(j, "n")), lv);
        json_decref(j);
    }
    /* A hostname hint becomes HOSTNAME. */
    struct output_alert_meta m = {.ts_ns = TS_NS, .level = 4, .rule_title = "t", .hostname_hint = "db01.example"};
    cr_assert_eq(output_submit(s, "{}", 2, &m), 0);
    char got[4096];
    ssize_t n = recv(rfd, got, sizeof got - 1, 0);
    cr_assert_gt(n, 0);
    got[n] = '\0';
    cr_assert_eq(strncmp(got, "<131>1 2024-03-01T12:34:56.789012Z db01.example vigil ", 54), 0, "%s", got);

    struct output_set_stats fin;
    output_set_close(s, 2000, &fin);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].delivered, 6);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].truncated, 0);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].connects, 1);
    close(rfd);
}

Test(output_syslog, udp_truncates_to_max_message_bytes)
{
    int port = 0;
    int rfd = bound_socket(SOCK_DGRAM, &port);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_UDP, port);
    c.syslog.max_message_bytes = 480;
    struct output_set *s = open_set(&c);
    char json[2000];
    memset(json, 'a', sizeof json);
    json[0] = '{';
    json[sizeof json - 1] = '}';
    struct output_alert_meta m = {.ts_ns = TS_NS, .level = 2, .rule_title = "big"};
    cr_assert_eq(output_submit(s, json, sizeof json, &m), 0);
    char got[4096];
    ssize_t n = recv(rfd, got, sizeof got, 0);
    cr_assert_eq(n, 480);
    cr_assert_eq(strncmp(got, "<133>1 ", 7), 0);
    struct output_stats st = WAIT_FOR(s, delivered, 1);
    cr_assert_eq(st.truncated, 1);
    output_set_close(s, 2000, NULL);
    close(rfd);
}

Test(output_syslog, udp_without_receiver_does_not_stall)
{
    int port = 0;
    int fd = bound_socket(SOCK_DGRAM, &port);
    close(fd);   /* nothing listens: ICMP port unreachable comes back */
    struct output_config c = syslog_config(OUTPUT_SYSLOG_UDP, port);
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 50; i++) {
        submit(s, i, 3);
        sleep_ms(1);
    }
    struct output_set_stats fin;
    output_set_close(s, 2000, &fin);
    const struct output_stats *st = &fin.out[OUTPUT_SYSLOG];
    cr_assert_eq(st->submitted, 50);
    cr_assert_eq(st->delivered + st->failed, 50, "UDP is at-most-once: each datagram sent or failed");
    cr_assert_eq(st->dropped_at_close, 0);
}

/* Reads one "LEN SP MSG" frame into buf (NUL-terminated); returns LEN. */
static size_t read_frame(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        char ch;
        cr_assert_eq(recv(fd, &ch, 1, MSG_WAITALL), 1, "frame length cut short");
        if (ch == ' ')
            break;
        cr_assert(ch >= '0' && ch <= '9', "bad frame length byte 0x%02x", (unsigned char)ch);
        len = len * 10 + (size_t)(ch - '0');
    }
    cr_assert_lt(len, cap);
    size_t got = 0;
    while (got < len) {
        ssize_t r = recv(fd, buf + got, len - got, 0);
        cr_assert_gt(r, 0, "frame body cut short");
        got += (size_t)r;
    }
    buf[len] = '\0';
    return len;
}

static void expect_frame(int fd, int n, unsigned lv)
{
    char got[4096], want[4096];
    size_t len = read_frame(fd, got, sizeof got);
    expected_message(want, sizeof want, n, lv);
    cr_assert_eq(len, strlen(want));
    cr_assert_str_eq(got, want);
}

Test(output_syslog, tcp_octet_counted_frames)
{
    int port = 0;
    int lfd = bound_socket(SOCK_STREAM, &port);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_TCP, port);
    struct output_set *s = open_set(&c);
    int cfd = accept_within(lfd, 5000);
    for (int i = 0; i < 20; i++)
        submit(s, i, 1 + (unsigned)i % 5);
    for (int i = 0; i < 20; i++)
        expect_frame(cfd, i, 1 + (unsigned)i % 5);
    struct output_set_stats fin;
    output_set_close(s, 2000, &fin);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].delivered, 20);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].connects, 1);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].errors, 0);
    close(cfd);
    close(lfd);
}

Test(output_syslog, tcp_survives_collector_restart)
{
    int port = 0;
    int lfd = bound_socket(SOCK_STREAM, &port);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_TCP, port);
    c.syslog.queue.max_alerts = 4;
    struct output_set *s = open_set(&c);
    int cfd = accept_within(lfd, 5000);
    for (int i = 0; i < 3; i++)
        submit(s, i, 3);
    for (int i = 0; i < 3; i++)
        expect_frame(cfd, i, 3);

    /* The collector goes away: listener first, so reconnects are refused. */
    close(lfd);
    close(cfd);
    struct output_stats st = WAIT_FOR(s, errors, 1);
    cr_assert_geq(st.errors, 1, "the closed connection is noticed while idle");
    for (int i = 3; i < 53; i++)
        submit(s, i, 3);
    struct output_set_stats now;
    output_set_stats(s, &now);
    st = now.out[OUTPUT_SYSLOG];
    cr_assert_eq(st.delivered, 3);
    cr_assert_eq(st.queue_depth, 4, "held while down, bounded by queue_max_alerts");
    cr_assert_eq(st.dropped_queue_full, 46);
    cr_assert_neq(st.last_error[0], '\0');

    /* It comes back on the same port: the output reconnects and sends what
     * it held, in order, then new alerts. */
    lfd = bound_socket(SOCK_STREAM, &port);
    cfd = accept_within(lfd, 5000);
    for (int i = 3; i < 7; i++)
        expect_frame(cfd, i, 3);
    submit(s, 100, 5);
    expect_frame(cfd, 100, 5);
    struct output_set_stats fin;
    output_set_close(s, 2000, &fin);
    st = fin.out[OUTPUT_SYSLOG];
    cr_assert_eq(st.submitted, 54);
    cr_assert_eq(st.delivered, 8);
    cr_assert_eq(st.dropped_queue_full, 46);
    cr_assert_eq(st.connects, 2);
    cr_assert_eq(st.submitted, st.delivered + st.dropped_queue_full + st.failed + st.dropped_at_close);
    close(cfd);
    close(lfd);
}

Test(output_syslog, tcp_close_flushes)
{
    int port = 0;
    int lfd = bound_socket(SOCK_STREAM, &port);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_TCP, port);
    struct output_set *s = open_set(&c);
    int cfd = accept_within(lfd, 5000);
    for (int i = 0; i < 500; i++)
        submit(s, i, 4);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].delivered, 500);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].dropped_at_close, 0);
    for (int i = 0; i < 500; i++)
        expect_frame(cfd, i, 4);
    close(cfd);
    close(lfd);
}

Test(output_syslog, tcp_collector_down_at_close_is_bounded)
{
    int port = 0;
    int fd = bound_socket(SOCK_STREAM, &port);
    close(fd);
    struct output_config c = syslog_config(OUTPUT_SYSLOG_TCP, port);
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 10; i++)
        submit(s, i, 3);
    int64_t t0 = output_mono_ns();
    struct output_set_stats fin;
    output_set_close(s, 200, &fin);
    cr_assert_lt(output_mono_ns() - t0, 2000000000LL, "close honours its deadline");
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].dropped_at_close, 10);
    cr_assert_eq(fin.out[OUTPUT_SYSLOG].delivered, 0);
    cr_assert_gt(fin.out[OUTPUT_SYSLOG].errors, 0);
}
