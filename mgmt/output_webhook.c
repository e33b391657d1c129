#define _GNU_SOURCE   /* pthread_setname_np */
#include "mgmt/output_webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define WEBHOOK_TICK_MS 200       /* idle wake-up, to notice close */
#define POLL_SLICE_MS   50        /* a request in flight checks the close deadline this often */
#define NS_PER_MS       1000000LL

/* ---- configuration ---------------------------------------------------- */

void output_webhook_config_defaults(struct output_webhook_config *c)
{
    memset(c, 0, sizeof *c);
    c->timeout_ms = 5000;
    c->retries = 3;
    c->retry_backoff_ms = 500;
    c->retry_backoff_max_ms = 30000;
    c->batch = 0;
    c->batch_max_bytes = 1u << 20;
    c->queue.max_alerts = OUTPUT_QUEUE_DEFAULT_ALERTS;
    c->queue.max_bytes = OUTPUT_QUEUE_DEFAULT_BYTES;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int output_webhook_config_validate(const struct output_webhook_config *c, char *err, size_t errlen)
{
    size_t ul = strnlen(c->url, sizeof c->url);
    if (ul == 0) {
        snprintf(err, errlen, "outputs.webhook.url: required when the output is enabled");
        return -1;
    }
    if (ul == sizeof c->url) {
        snprintf(err, errlen, "outputs.webhook.url: longer than %zu bytes", sizeof c->url - 1);
        return -1;
    }
    if (strncasecmp(c->url, "http://", 7) != 0 && strncasecmp(c->url, "https://", 8) != 0) {
        snprintf(err, errlen, "outputs.webhook.url: must start with http:// or https://");
        return -1;
    }
    for (size_t i = 0; i < ul; i++)
        if ((unsigned char)c->url[i] <= 0x20 || c->url[i] == 0x7f) {
            snprintf(err, errlen, "outputs.webhook.url: must not contain spaces or control characters");
            return -1;
        }
    if (c->n_headers > OUTPUT_WEBHOOK_MAX_HEADERS) {
        snprintf(err, errlen, "outputs.webhook.headers: at most %d headers", OUTPUT_WEBHOOK_MAX_HEADERS);
        return -1;
    }
    for (unsigned h = 0; h < c->n_headers; h++) {
        const struct output_http_header *hd = &c->headers[h];
        size_t nl = strnlen(hd->name, sizeof hd->name), vl = strnlen(hd->value, sizeof hd->value);
        if (nl == 0 || nl == sizeof hd->name) {
            snprintf(err, errlen, "outputs.webhook.headers[%u]: name must be 1..%zu bytes", h, sizeof hd->name - 1);
            return -1;
        }
        for (size_t i = 0; i < nl; i++)
            if (!is_tchar((unsigned char)hd->name[i])) {
                snprintf(err, errlen, "outputs.webhook.headers[%u]: name is not an HTTP token", h);
                return -1;
            }
        if (vl == sizeof hd->value) {
            snprintf(err, errlen, "outputs.webhook.headers.%s: value longer than %zu bytes", hd->name,
                     sizeof hd->value - 1);
            return -1;
        }
        for (size_t i = 0; i < vl; i++) {
            unsigned char ch = (unsigned char)hd->value[i];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
                snprintf(err, errlen, "outputs.webhook.headers.%s: value must not contain CR, LF or control characters",
                         hd->name);
                return -1;
            }
        }
    }
    if (c->timeout_ms < 1 || c->timeout_ms > 600000) {
        snprintf(err, errlen, "outputs.webhook.timeout_ms: must be 1..600000");
        return -1;
    }
    if (c->retries > 100) {
        snprintf(err, errlen, "outputs.webhook.retries: must be 0..100");
        return -1;
    }
    if (c->retry_backoff_ms < 1 || c->retry_backoff_ms > 3600000) {
        snprintf(err, errlen, "outputs.webhook.retry_backoff_ms: must be 1..3600000");
        return -1;
    }
    if (c->retry_backoff_max_ms < c->retry_backoff_ms || c->retry_backoff_max_ms > 3600000) {
        snprintf(err, errlen, "outputs.webhook.retry_backoff_max_ms: must be retry_backoff_ms..3600000");
        return -1;
    }
    if (c->batch > OUTPUT_WEBHOOK_MAX_BATCH) {
        snprintf(err, errlen, "outputs.webhook.batch: must be 0..%d", OUTPUT_WEBHOOK_MAX_BATCH);
        return -1;
    }
    if (c->batch_max_bytes < 1024 || c->batch_max_bytes > (256u << 20)) {
        snprintf(err, errlen, "outputs.webhook.batch_max_bytes: must be 1024..%u", 256u << 20);
        return -1;
    }
    if (strnlen(c->ca_file, sizeof c->ca_file) == sizeof c->ca_file) {
        snprintf(err, errlen, "outputs.webhook.ca_file: longer than %zu bytes", sizeof c->ca_file - 1);
        return -1;
    }
    return output_queue_config_check(&c->queue, "outputs.webhook", err, errlen);
}

enum output_webhook_verdict output_webhook_classify(int curl_code, long status)
{
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        break;
    /* The receiver could not be reached or did not answer in time: it may
     * well answer later. */
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return OUTPUT_WEBHOOK_RETRY;
    default:
        return OUTPUT_WEBHOOK_FAIL;
    }
    if (status >= 200 && status <= 299)
        return OUTPUT_WEBHOOK_OK;
    if (status == 429 || (status >= 500 && status <= 599))
        return OUTPUT_WEBHOOK_RETRY;
    return OUTPUT_WEBHOOK_FAIL;
}

/* ---- sender thread ---------------------------------------------------- */

struct output_webhook {
    struct output_webhook_config cfg;
    struct output_queue *q;
    pthread_t thr;
    CURL *easy;
    CURLM *multi;
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    char *body;                   /* a batch's JSON array */
    size_t body_cap;
    struct output_record **batch;
    size_t batch_max;
    unsigned seed;                /* backoff jitter */
};

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* One HTTP attempt through the multi interface, so a close deadline can stop
 * it mid-transfer.  *aborted when the deadline passed. */
static CURLcode perform(struct output_webhook *o, const char *body, size_t len, long *status, bool *aborted)
{
    *status = 0;
    *aborted = false;
    o->errbuf[0] = '\0';
    curl_easy_setopt(o->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(o->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    if (curl_multi_add_handle(o->multi, o->easy) != CURLM_OK)
        return CURLE_FAILED_INIT;
    CURLcode res = CURLE_FAILED_INIT;
    for (;;) {
        int running = 0;
        if (curl_multi_perform(o->multi, &running) != CURLM_OK)
            break;
        if (!running) {
            int left;
            CURLMsg *m;
            while ((m = curl_multi_info_read(o->multi, &left)))
                if (m->msg == CURLMSG_DONE)
                    res = m->data.result;
            break;
        }
        int64_t now = output_mono_ns();
        int64_t deadline = output_queue_deadline(o->q);
        if (now >= deadline) {
            *aborted = true;
            break;
        }
        int64_t ms = (deadline - now) / NS_PER_MS + 1;
        curl_multi_poll(o->multi, NULL, 0, ms < POLL_SLICE_MS ? (int)ms : POLL_SLICE_MS, NULL);
    }
    curl_multi_remove_handle(o->multi, o->easy);
    curl_easy_getinfo(o->easy, CURLINFO_RESPONSE_CODE, status);
    long conns = 0;
    if (curl_easy_getinfo(o->easy, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK && conns > 0)
        output_queue_add(o->q, OQ_CONNECTS, (uint64_t)conns);
    return res;
}

/* The body for batch[0..n): the alert itself, or a JSON array of them. */
static const char *build_body(struct output_webhook *o, size_t n, size_t *len)
{
    if (o->cfg.batch == 0) {
        *len = o->batch[0]->json_len;
        return o->batch[0]->json;
    }
    size_t need = 2 + (n ? n - 1 : 0);
    for (size_t i = 0; i < n; i++)
        need += o->batch[i]->json_len;
    if (need > o->body_cap) {
        char *b = realloc(o->body, need);
        if (!b)
            return NULL;
        o->body = b;
        o->body_cap = need;
    }
    size_t p = 0;
    o->body[p++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            o->body[p++] = ',';
        memcpy(o->body + p, o->batch[i]->json, o->batch[i]->json_len);
        p += o->batch[i]->json_len;
    }
    o->body[p++] = ']';
    *len = p;
    return o->body;
}

/* Wait before retry number attempt (0-based): exponential, half of it
 * random so many appliances do not retry in lockstep, and no shorter than
 * the receiver's Retry-After, all within retry_backoff_max_ms. */
static int64_t backoff_ns(struct output_webhook *o, unsigned attempt, curl_off_t retry_after_s)
{
    uint64_t ms = o->cfg.retry_backoff_ms;
    for (unsigned i = 0; i < attempt && ms < o->cfg.retry_backoff_max_ms; i++)
        ms *= 2;
    if (ms > o->cfg.retry_backoff_max_ms)
        ms = o->cfg.retry_backoff_max_ms;
    ms = ms / 2 + (uint64_t)rand_r(&o->seed) % (ms / 2 + 1);
    if (retry_after_s > 0 && (uint64_t)retry_after_s * 1000 > ms)
        ms = (uint64_t)retry_after_s * 1000 > o->cfg.retry_backoff_max_ms ? o->cfg.retry_backoff_max_ms
                                                                          : (uint64_t)retry_after_s * 1000;
    return (int64_t)ms * NS_PER_MS;
}

/* Delivers batch[0..n) with retries.  Returns false when the close deadline
 * cut it short (the batch is then already released). */
static bool deliver(struct output_webhook *o, size_t n)
{
    size_t len;
    const char *body = build_body(o, n, &len);
    if (!body) {
        output_queue_add(o->q, OQ_ERRORS, 1);
        output_queue_set_error(o->q, "out of memory building a batch");
        output_queue_done(o->q, o->batch, n, OUTPUT_FAILED);
        return true;
    }
    for (unsigned attempt = 0;; attempt++) {
        long status;
        bool aborted;
        CURLcode res = perform(o, body, len, &status, &aborted);
        if (aborted) {
            output_queue_done(o->q, o->batch, n, OUTPUT_ABANDONED);
            return false;
        }
        enum output_webhook_verdict v = output_webhook_classify((int)res, status);
        if (v == OUTPUT_WEBHOOK_OK) {
            output_queue_add(o->q, OQ_BYTES, len);
            output_queue_done(o->q, o->batch, n, OUTPUT_DELIVERED);
            return true;
        }
        output_queue_add(o->q, OQ_ERRORS, 1);
        /* The URL is left out: it may carry a token. */
        if (res != CURLE_OK)
            output_queue_set_error(o->q, "webhook: %s", o->errbuf[0] ? o->errbuf : curl_easy_strerror(res));
        else
            output_queue_set_error(o->q, "webhook: HTTP %ld", status);
        if (v == OUTPUT_WEBHOOK_FAIL || attempt >= o->cfg.retries) {
            output_queue_done(o->q, o->batch, n, OUTPUT_FAILED);
            return true;
        }
        curl_off_t retry_after = 0;
        if (res == CURLE_OK)
            curl_easy_getinfo(o->easy, CURLINFO_RETRY_AFTER, &retry_after);
        int64_t until = output_mono_ns() + backoff_ns(o, attempt, retry_after);
        int64_t now;
        while ((now = output_mono_ns()) < until && !output_queue_expired(o->q, now))
            output_queue_sleep(o->q, until);
        if (output_queue_expired(o->q, now)) {
            output_queue_done(o->q, o->batch, n, OUTPUT_ABANDONED);
            return false;
        }
        output_queue_add(o->q, OQ_RETRIES, 1);
    }
}

static void *webhook_thread(void *arg)
{
    struct output_webhook *o = arg;
    pthread_setname_np(pthread_self(), "vigil-webhook");
    for (;;) {
        int64_t now = output_mono_ns();
        if (output_queue_expired(o->q, now))
            break;
        size_t n = output_queue_pop(o->q, o->batch, o->batch_max, o->cfg.batch_max_bytes,
                                    now + WEBHOOK_TICK_MS * NS_PER_MS);
        if (n == 0) {
            if (output_queue_closing(o->q))
                break;
            continue;
        }
        if (!deliver(o, n))
            break;
    }
    return NULL;
}

static void free_webhook(struct output_webhook *o)
{
    if (o->multi)
        curl_multi_cleanup(o->multi);
    if (o->easy)
        curl_easy_cleanup(o->easy);
    curl_slist_free_all(o->headers);
    free(o->body);
    free(o->batch);
    free(o);
}

static int setup_curl(struct output_webhook *o, char *err, size_t errlen)
{
    const struct output_webhook_config *c = &o->cfg;
    o->easy = curl_easy_init();
    o->multi = curl_multi_init();
    if (!o->easy || !o->multi) {
        snprintf(err, errlen, "outputs.webhook: cannot initialise libcurl");
        return -1;
    }
    bool has_ct = false;
    struct curl_slist *h = NULL;
    for (unsigned i = 0; i < c->n_headers; i++) {
        char line[sizeof c->headers[0].name + sizeof c->headers[0].value + 4];
        /* "Name;" is libcurl's spelling of a header with an empty value. */
        if (c->headers[i].value[0])
            snprintf(line, sizeof line, "%s: %s", c->headers[i].name, c->headers[i].value);
        else
            snprintf(line, sizeof line, "%s;", c->headers[i].name);
        if (strcasecmp(c->headers[i].name, "Content-Type") == 0)
            has_ct = true;
        struct curl_slist *nh = curl_slist_append(h, line);
        if (!nh)
            goto oom;
        h = nh;
    }
    if (!has_ct) {
        struct curl_slist *nh = curl_slist_append(h, "Content-Type: application/json");
        if (!nh)
            goto oom;
        h = nh;
    }
    /* No "Expect: 100-continue" round trip before large bodies. */
    struct curl_slist *nh = curl_slist_append(h, "Expect:");
    if (!nh)
        goto oom;
    h = nh;
    o->headers = h;

    CURL *e = o->easy;
    curl_easy_setopt(e, CURLOPT_URL, c->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->timeout_ms);
    /* Signals belong to vigil-cp's main thread; libcurl must not use them for
     * DNS timeouts in this one. */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, o->errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "vigil-cp");
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (c->ca_file[0])
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    return 0;
oom:
    curl_slist_free_all(h);
    snprintf(err, errlen, "outputs.webhook: out of memory");
    return -1;
}

int output_webhook_start(const struct output_webhook_config *c, struct output_queue *q, struct output_webhook **out,
                         char *err, size_t errlen)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(err, errlen, "outputs.webhook: curl_global_init failed");
        return -1;
    }
    struct output_webhook *o = calloc(1, sizeof *o);
    if (!o) {
        curl_global_cleanup();
        snprintf(err, errlen, "outputs.webhook: out of memory");
        return -1;
    }
    o->cfg = *c;
    o->q = q;
    o->batch_max = c->batch ? c->batch : 1;
    o->seed = (unsigned)output_mono_ns() ^ (unsigned)(uintptr_t)o;
    o->batch = calloc(o->batch_max, sizeof *o->batch);
    if (!o->batch) {
        snprintf(err, errlen, "outputs.webhook: out of memory");
        goto fail;
    }
    if (setup_curl(o, err, errlen) != 0)
        goto fail;
    int rc = pthread_create(&o->thr, NULL, webhook_thread, o);
    if (rc != 0) {
        snprintf(err, errlen, "outputs.webhook: cannot start thread: %s", strerror(rc));
        goto fail;
    }
    *out = o;
    return 0;
fail:
    free_webhook(o);
    curl_global_cleanup();
    return -1;
}

void output_webhook_join(struct output_webhook *o)
{
    if (!o)
        return;
    pthread_join(o->thr, NULL);
    free_webhook(o);
    curl_global_cleanup();
}
