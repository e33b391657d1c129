#define _GNU_SOURCE   /* strcasestr */
/* Webhook output against a tiny HTTP server (a thread answering canned
 * statuses on a loopback socket): body and headers, batching, retries on
 * 5xx/429/timeouts, no retry on 4xx, a dead receiver (bounded queue, fast
 * submits), and close flushing. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "mgmt/output.h"
#include "test_support.h"

#define SRV_MAX_REQS 512
#define HANG         (-1)       /* canned "status": read the request, never answer */

struct req {
    char head[4096];            /* request line and headers */
    char *body;
    size_t body_len;
};

struct srv {
    int lfd, port;
    pthread_t thr;
    atomic_bool stop;
    int statuses[16];           /* answer i to request i; the last one repeats */
    int n_statuses;
    pthread_mutex_t mu;
    struct req reqs[SRV_MAX_REQS];
    int n_reqs;
};

static ssize_t recv_some(int fd, char *buf, size_t cap)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 5000) != 1)
        return -1;
    return recv(fd, buf, cap, 0);
}

static void serve_one(struct srv *sv, int fd)
{
    struct req r;
    memset(&r, 0, sizeof r);
    size_t hl = 0;
    char *end = NULL;
    while (!end) {
        if (hl >= sizeof r.head - 1)
            return;
        ssize_t n = recv_some(fd, r.head + hl, sizeof r.head - 1 - hl);
        if (n <= 0)
            return;
        hl += (size_t)n;
        r.head[hl] = '\0';
        end = strstr(r.head, "\r\n\r\n");
    }
    size_t have = hl - (size_t)(end + 4 - r.head);
    size_t clen = 0;
    for (char *p = r.head; (p = strcasestr(p, "\r\ncontent-length:")); p++)
        clen = strtoul(p + 17, NULL, 10);
    r.body = malloc(clen + 1);
    memcpy(r.body, end + 4, have);
    while (have < clen) {
        ssize_t n = recv_some(fd, r.body + have, clen - have);
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    r.body[have] = '\0';
    r.body_len = have;
    end[2] = '\0';              /* keep the head without the blank line */

    pthread_mutex_lock(&sv->mu);
    int idx = sv->n_reqs;
    if (sv->n_reqs < SRV_MAX_REQS)
        sv->reqs[sv->n_reqs++] = r;
    else
        free(r.body);
    int status = sv->statuses[idx < sv->n_statuses ? idx : sv->n_statuses - 1];
    pthread_mutex_unlock(&sv->mu);

    if (status == HANG) {
        char junk[256];
        while (!atomic_load(&sv->stop) && recv_some(fd, junk, sizeof junk) > 0)
            ;                   /* until the client gives up */
        return;
    }
    char resp[256];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 %d Canned\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n"
                     "Connection: close\r\n\r\nok",
                     status);
    ssize_t w = send(fd, resp, (size_t)n, MSG_NOSIGNAL);
    (void)w;
}

static void *srv_thread(void *arg)
{
    struct srv *sv = arg;
    while (!atomic_load(&sv->stop)) {
        struct pollfd p = {.fd = sv->lfd, .events = POLLIN};
        if (poll(&p, 1, 20) != 1)
            continue;
        int fd = accept(sv->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        serve_one(sv, fd);
        close(fd);
    }
    return NULL;
}

static struct srv *srv_start(const int *statuses, int n)
{
    struct srv *sv = calloc(1, sizeof *sv);
    memcpy(sv->statuses, statuses, sizeof(int) * (size_t)n);
    sv->n_statuses = n;
    pthread_mutex_init(&sv->mu, NULL);
    sv->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(sv->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(sv->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(sv->lfd, (struct sockaddr *)&sa, &sl);
    sv->port = ntohs(sa.sin_port);
    cr_assert_eq(listen(sv->lfd, 16), 0);
    cr_assert_eq(pthread_create(&sv->thr, NULL, srv_thread, sv), 0);
    return sv;
}

static void srv_stop(struct srv *sv)
{
    atomic_store(&sv->stop, true);
    pthread_join(sv->thr, NULL);
    close(sv->lfd);
    for (int i = 0; i < sv->n_reqs; i++)
        free(sv->reqs[i].body);
    pthread_mutex_destroy(&sv->mu);
    free(sv);
}

static int srv_count(struct srv *sv)
{
    pthread_mutex_lock(&sv->mu);
    int n = sv->n_reqs;
    pthread_mutex_unlock(&sv->mu);
    return n;
}

static struct output_config webhook_config(int port)
{
    struct output_config c;
    output_config_defaults(&c);
    c.webhook.enabled = true;
    snprintf(c.webhook.url, sizeof c.webhook.url, "http://127.0.0.1:%d/hook", port);
    c.webhook.timeout_ms = 2000;
    c.webhook.retry_backoff_ms = 10;
    c.webhook.retry_backoff_max_ms = 50;
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
    return snprintf(buf, cap, "{\"event\":{\"kind\":\"alert\"},\"n\":%d,\"message\":\"caf\xc3\xa9\"}", n);
}

/* output_submit's result: 0 queued, 1 refused (one output). */
static int submit(struct output_set *s, int n)
{
    char json[256];
    int len = alert_json(json, sizeof json, n);
    struct output_alert_meta m = {.ts_ns = 1, .level = 4, .rule_title = "r"};
    return output_submit(s, json, (size_t)len, &m);
}

/* Polls until the webhook's delivered + failed reaches want (5 s at most). */
static struct output_stats wait_settled(struct output_set *s, uint64_t want)
{
    struct output_set_stats st;
    for (int i = 0; i < 1000; i++) {
        output_set_stats(s, &st);
        if (st.out[OUTPUT_WEBHOOK].delivered + st.out[OUTPUT_WEBHOOK].failed >= want)
            break;
        sleep_ms(5);
    }
    return st.out[OUTPUT_WEBHOOK];
}

Test(output_webhook, posts_body_and_headers)
{
    int ok[] = {200};
    struct srv *sv = srv_start(ok, 1);
    struct output_config c = webhook_config(sv->port);
    c.webhook.n_headers = 2;
    snprintf(c.webhook.headers[0].name, sizeof c.webhook.headers[0].name, "Authorization");
    snprintf(c.webhook.headers[0].value, sizeof c.webhook.headers[0].value, "Bearer s3cret-token");
    snprintf(c.webhook.headers[1].name, sizeof c.webhook.headers[1].name, "X-Vigil-Source");
    snprintf(c.webhook.headers[1].value, sizeof c.webhook.headers[1].value, "appliance-7");
    struct output_set *s = open_set(&c);
    cr_assert_eq(submit(s, 1), 0);
    struct output_stats st = wait_settled(s, 1);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(srv_count(sv), 1);
    const struct req *r = &sv->reqs[0];
    cr_assert_eq(strncmp(r->head, "POST /hook HTTP/1.1\r\n", 21), 0, "%s", r->head);
    cr_assert_not_null(strstr(r->head, "\r\nAuthorization: Bearer s3cret-token\r\n"), "%s", r->head);
    cr_assert_not_null(strstr(r->head, "\r\nX-Vigil-Source: appliance-7\r\n"));
    cr_assert_not_null(strstr(r->head, "\r\nContent-Type: application/json\r\n"));
    cr_assert_null(strcasestr(r->head, "Expect:"));
    char want[256];
    alert_json(want, sizeof want, 1);
    cr_assert_str_eq(r->body, want, "one alert per request: the object itself");
    cr_assert_eq(st.bytes, strlen(want));
    struct output_set_stats fin;
    output_set_close(s, 2000, &fin);
    cr_assert_eq(fin.out[OUTPUT_WEBHOOK].retries, 0);
    cr_assert_eq(fin.out[OUTPUT_WEBHOOK].errors, 0);
    srv_stop(sv);
}

Test(output_webhook, batches_are_json_arrays_in_order)
{
    int ok[] = {200};
    struct srv *sv = srv_start(ok, 1);
    struct output_config c = webhook_config(sv->port);
    c.webhook.batch = 8;
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 40; i++)
        cr_assert_eq(submit(s, i), 0);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    cr_assert_eq(fin.out[OUTPUT_WEBHOOK].delivered, 40);
    int next = 0;
    for (int i = 0; i < sv->n_reqs; i++) {
        json_error_t je;
        json_t *arr = json_loadb(sv->reqs[i].body, sv->reqs[i].body_len, 0, &je);
        cr_assert(json_is_array(arr), "body %d is not an array: %s", i, je.text);
        cr_assert_leq(json_array_size(arr), 8);
        for (size_t k = 0; k < json_array_size(arr); k++)
            cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, k), "n")), next++);
        json_decref(arr);
    }
    cr_assert_eq(next, 40);
    srv_stop(sv);
}

Test(output_webhook, server_error_then_ok_is_retried)
{
    int seq[] = {500, 429, 200};
    struct srv *sv = srv_start(seq, 3);
    struct output_config c = webhook_config(sv->port);
    struct output_set *s = open_set(&c);
    submit(s, 7);
    struct output_stats st = wait_settled(s, 1);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(st.retries, 2);
    cr_assert_eq(st.errors, 2);
    cr_assert_eq(st.failed, 0);
    cr_assert_eq(srv_count(sv), 3);
    cr_assert_str_eq(sv->reqs[0].body, sv->reqs[2].body, "the same body is sent again");
    output_set_close(s, 2000, NULL);
    srv_stop(sv);
}

Test(output_webhook, client_error_is_not_retried)
{
    int seq[] = {400, 200};
    struct srv *sv = srv_start(seq, 2);
    struct output_config c = webhook_config(sv->port);
    struct output_set *s = open_set(&c);
    submit(s, 1);
    struct output_stats st = wait_settled(s, 1);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.delivered, 0);
    cr_assert_eq(st.retries, 0);
    cr_assert_eq(st.errors, 1);
    cr_assert_str_eq(st.last_error, "webhook: HTTP 400");
    submit(s, 2);
    st = wait_settled(s, 2);
    cr_assert_eq(st.delivered, 1, "the next alert goes through");
    cr_assert_eq(srv_count(sv), 2);
    output_set_close(s, 2000, NULL);
    srv_stop(sv);
}

Test(output_webhook, retries_exhausted_counts_failed)
{
    int seq[] = {503};
    struct srv *sv = srv_start(seq, 1);
    struct output_config c = webhook_config(sv->port);
    c.webhook.retries = 2;
    struct output_set *s = open_set(&c);
    submit(s, 1);
    struct output_stats st = wait_settled(s, 1);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(st.retries, 2);
    cr_assert_eq(st.errors, 3);
    cr_assert_eq(srv_count(sv), 3, "first attempt + 2 retries");
    output_set_close(s, 2000, NULL);
    srv_stop(sv);
}

Test(output_webhook, timeout_is_retried)
{
    int seq[] = {HANG, 200};
    struct srv *sv = srv_start(seq, 2);
    struct output_config c = webhook_config(sv->port);
    c.webhook.timeout_ms = 200;
    struct output_set *s = open_set(&c);
    submit(s, 1);
    struct output_stats st = wait_settled(s, 1);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(st.retries, 1);
    cr_assert_eq(st.errors, 1);
    output_set_close(s, 2000, NULL);
    srv_stop(sv);
}

Test(output_webhook, dead_receiver_bounded_queue_fast_submit)
{
    /* A port nothing listens on: connections are refused. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    struct output_config c = webhook_config(ntohs(sa.sin_port));
    c.webhook.retries = 100;
    c.webhook.retry_backoff_ms = 100;
    c.webhook.retry_backoff_max_ms = 1000;
    c.webhook.queue.max_alerts = 10;
    struct output_set *s = open_set(&c);
    int64_t t0 = output_mono_ns();
    int refused = 0;
    for (int i = 0; i < 1000; i++)
        refused += submit(s, i);
    int64_t dt = output_mono_ns() - t0;
    cr_assert_lt(dt, 50 * 1000000LL, "1000 submits took %lld ns", (long long)dt);
    cr_assert_eq(refused, 990, "output_submit reports each refusal");
    struct output_set_stats st;
    output_set_stats(s, &st);
    const struct output_stats *w = &st.out[OUTPUT_WEBHOOK];
    cr_assert_eq(w->submitted, 1000);
    cr_assert_eq(w->dropped_queue_full, 990);
    cr_assert_eq(w->queue_depth, 10);
    cr_assert_eq(w->delivered, 0);

    int64_t c0 = output_mono_ns();
    struct output_set_stats fin;
    output_set_close(s, 300, &fin);
    cr_assert_lt(output_mono_ns() - c0, 2000 * 1000000LL, "close honours its deadline");
    w = &fin.out[OUTPUT_WEBHOOK];
    cr_assert_eq(w->delivered, 0);
    cr_assert_eq(w->failed + w->dropped_at_close, 10);
    cr_assert_gt(w->errors, 0);
    cr_assert_gt(w->retries, 0);
    cr_assert_eq(w->queue_depth, 0);
    cr_assert_eq(w->submitted, w->delivered + w->dropped_queue_full + w->failed + w->dropped_at_close);
}

Test(output_webhook, close_flushes)
{
    int ok[] = {200};
    struct srv *sv = srv_start(ok, 1);
    struct output_config c = webhook_config(sv->port);
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(submit(s, i), 0);
    struct output_set_stats fin;
    output_set_close(s, 10000, &fin);
    cr_assert_eq(fin.out[OUTPUT_WEBHOOK].delivered, 50);
    cr_assert_eq(fin.out[OUTPUT_WEBHOOK].dropped_at_close, 0);
    cr_assert_eq(srv_count(sv), 50);
    for (int i = 0; i < 50; i++) {
        char want[256];
        alert_json(want, sizeof want, i);
        cr_assert_str_eq(sv->reqs[i].body, want, "in order");
    }
    srv_stop(sv);
}

Test(output_webhook, classification)
{
    cr_assert_eq(output_webhook_classify(0, 200), OUTPUT_WEBHOOK_OK);
    cr_assert_eq(output_webhook_classify(0, 204), OUTPUT_WEBHOOK_OK);
    cr_assert_eq(output_webhook_classify(0, 500), OUTPUT_WEBHOOK_RETRY);
    cr_assert_eq(output_webhook_classify(0, 503), OUTPUT_WEBHOOK_RETRY);
    cr_assert_eq(output_webhook_classify(0, 429), OUTPUT_WEBHOOK_RETRY);
    cr_assert_eq(output_webhook_classify(0, 400), OUTPUT_WEBHOOK_FAIL);
    cr_assert_eq(output_webhook_classify(0, 401), OUTPUT_WEBHOOK_FAIL);
    cr_assert_eq(output_webhook_classify(0, 404), OUTPUT_WEBHOOK_FAIL);
    cr_assert_eq(output_webhook_classify(0, 301), OUTPUT_WEBHOOK_FAIL, "redirects are not followed");
    cr_assert_eq(output_webhook_classify(7 /* CURLE_COULDNT_CONNECT */, 0), OUTPUT_WEBHOOK_RETRY);
    cr_assert_eq(output_webhook_classify(28 /* CURLE_OPERATION_TIMEDOUT */, 0), OUTPUT_WEBHOOK_RETRY);
    cr_assert_eq(output_webhook_classify(1 /* CURLE_UNSUPPORTED_PROTOCOL */, 0), OUTPUT_WEBHOOK_FAIL);
}
