#include "mgmt/output_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct output_queue {
    pthread_mutex_t mu;
    pthread_cond_t cond;          /* the consumer waits here (pop and sleep) */
    struct output_record **ring;
    uint32_t cap, head, n;        /* n: waiting in the ring */
    /* Held = waiting + popped but not done.  Atomic so has_room can read
     * them without the lock; written only under it. */
    _Atomic uint64_t held, held_bytes;
    uint64_t max_bytes;
    bool pop_waiting;             /* the consumer sleeps in pop: a push must wake it */
    bool closing;
    int64_t deadline_ns;
    _Atomic uint64_t submitted, dropped_full;
    _Atomic uint64_t ctr[OQ__COUNT];
    char last_error[sizeof ((struct output_stats *)0)->last_error];
};

int64_t output_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timespec to_timespec(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

struct output_record *output_record_new(const char *json, size_t len, int64_t ts_ns, unsigned level,
                                      const char *title, const char *host)
{
    size_t tl = title ? strlen(title) : 0, hl = host ? strlen(host) : 0;
    if (len > UINT32_MAX || tl > UINT32_MAX || hl > UINT32_MAX)
        return NULL;
    struct output_record *a = malloc(sizeof *a + len + tl + hl + 3);
    if (!a)
        return NULL;
    atomic_init(&a->refs, 1);
    a->ts_ns = ts_ns;
    a->level = (uint8_t)(level < 1 ? 1 : level > 5 ? 5 : level);
    a->json_len = (uint32_t)len;
    a->title_len = (uint32_t)tl;
    a->host_len = (uint32_t)hl;
    char *p = a->json;
    memcpy(p, json, len);
    p[len] = '\0';
    p += len + 1;
    if (tl)
        memcpy(p, title, tl);
    p[tl] = '\0';
    a->title = p;
    p += tl + 1;
    if (host) {
        if (hl)
            memcpy(p, host, hl);
        p[hl] = '\0';
        a->host = p;
    } else {
        a->host = NULL;
    }
    return a;
}

void output_record_ref(struct output_record *a) { atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed); }

void output_record_unref(struct output_record *a)
{
    /* acq_rel: the last holder must see every other holder's reads finished. */
    if (a && atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1)
        free(a);
}

int output_queue_config_check(const struct output_queue_config *c, const char *prefix, char *err, size_t errlen)
{
    if (c->max_alerts < 1 || c->max_alerts > OUTPUT_QUEUE_MAX_ALERTS) {
        snprintf(err, errlen, "%s.queue_max_alerts: must be 1..%u", prefix, OUTPUT_QUEUE_MAX_ALERTS);
        return -1;
    }
    if (c->max_bytes < OUTPUT_QUEUE_MIN_BYTES || c->max_bytes > OUTPUT_QUEUE_MAX_BYTES) {
        snprintf(err, errlen, "%s.queue_max_bytes: must be %llu..%llu", prefix,
                 (unsigned long long)OUTPUT_QUEUE_MIN_BYTES, (unsigned long long)OUTPUT_QUEUE_MAX_BYTES);
        return -1;
    }
    return 0;
}

struct output_queue *output_queue_new(uint32_t max_alerts, uint64_t max_bytes)
{
    if (max_alerts == 0 || max_bytes == 0)
        return NULL;
    struct output_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ring = calloc(max_alerts, sizeof *q->ring);
    if (!q->ring) {
        free(q);
        return NULL;
    }
    q->cap = max_alerts;
    q->max_bytes = max_bytes;
    q->deadline_ns = INT64_MAX;
    pthread_mutex_init(&q->mu, NULL);
    /* Monotonic waits: a wall-clock step must not stretch a backoff or a deadline. */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->cond, &ca);
    pthread_condattr_destroy(&ca);
    return q;
}

void output_queue_abandon_waiting(struct output_queue *q)
{
    for (;;) {
        struct output_record *batch[64];
        size_t n = 0;
        pthread_mutex_lock(&q->mu);
        while (n < 64 && q->n > 0) {
            batch[n++] = q->ring[q->head];
            q->head = (q->head + 1) % q->cap;
            q->n--;
        }
        pthread_mutex_unlock(&q->mu);
        if (n == 0)
            return;
        output_queue_done(q, batch, n, OUTPUT_ABANDONED);
    }
}

void output_queue_free(struct output_queue *q)
{
    if (!q)
        return;
    output_queue_abandon_waiting(q);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
}

bool output_queue_has_room(const struct output_queue *q, uint64_t cost)
{
    uint64_t held = atomic_load_explicit(&q->held, memory_order_relaxed);
    uint64_t bytes = atomic_load_explicit(&q->held_bytes, memory_order_relaxed);
    return held < q->cap && cost <= q->max_bytes && bytes <= q->max_bytes - cost;
}

void output_queue_count_dropped(struct output_queue *q)
{
    atomic_fetch_add_explicit(&q->submitted, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&q->dropped_full, 1, memory_order_relaxed);
}

int output_queue_push(struct output_queue *q, struct output_record *a)
{
    uint64_t cost = output_record_cost(a);
    atomic_fetch_add_explicit(&q->submitted, 1, memory_order_relaxed);
    pthread_mutex_lock(&q->mu);
    uint64_t held = atomic_load_explicit(&q->held, memory_order_relaxed);
    uint64_t bytes = atomic_load_explicit(&q->held_bytes, memory_order_relaxed);
    /* held counts popped alerts too, so held < cap also guarantees ring space. */
    if (q->closing || held >= q->cap || cost > q->max_bytes || bytes > q->max_bytes - cost) {
        pthread_mutex_unlock(&q->mu);
        atomic_fetch_add_explicit(&q->dropped_full, 1, memory_order_relaxed);
        return -1;
    }
    output_record_ref(a);
    q->ring[(q->head + q->n) % q->cap] = a;
    q->n++;
    atomic_store_explicit(&q->held, held + 1, memory_order_relaxed);
    atomic_store_explicit(&q->held_bytes, bytes + cost, memory_order_relaxed);
    bool wake = q->pop_waiting;
    q->pop_waiting = false;       /* one signal is enough until the consumer waits again */
    pthread_mutex_unlock(&q->mu);
    if (wake)
        pthread_cond_signal(&q->cond);
    return 0;
}

size_t output_queue_pop(struct output_queue *q, struct output_record **out, size_t max, uint64_t max_cost,
                        int64_t wake_at_ns)
{
    if (max == 0)
        return 0;
    pthread_mutex_lock(&q->mu);
    while (q->n == 0 && !q->closing) {
        if (output_mono_ns() >= wake_at_ns)
            break;
        q->pop_waiting = true;
        struct timespec ts = to_timespec(wake_at_ns);
        int rc = pthread_cond_timedwait(&q->cond, &q->mu, &ts);
        q->pop_waiting = false;
        if (rc == ETIMEDOUT)
            break;
    }
    size_t n = 0;
    uint64_t cost = 0;
    while (n < max && q->n > 0) {
        struct output_record *a = q->ring[q->head];
        uint64_t c = output_record_cost(a);
        if (n > 0 && cost + c > max_cost)
            break;
        cost += c;
        out[n++] = a;
        q->head = (q->head + 1) % q->cap;
        q->n--;
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

void output_queue_done(struct output_queue *q, struct output_record **a, size_t n, enum output_outcome how)
{
    if (n == 0)
        return;
    uint64_t cost = 0;
    for (size_t i = 0; i < n; i++)
        cost += output_record_cost(a[i]);
    pthread_mutex_lock(&q->mu);
    atomic_store_explicit(&q->held, atomic_load_explicit(&q->held, memory_order_relaxed) - n,
                          memory_order_relaxed);
    atomic_store_explicit(&q->held_bytes, atomic_load_explicit(&q->held_bytes, memory_order_relaxed) - cost,
                          memory_order_relaxed);
    pthread_mutex_unlock(&q->mu);
    enum output_counter c = how == OUTPUT_DELIVERED ? OQ_DELIVERED : how == OUTPUT_FAILED ? OQ_FAILED
                                                                                         : OQ_DROPPED_AT_CLOSE;
    output_queue_add(q, c, n);
    for (size_t i = 0; i < n; i++)
        output_record_unref(a[i]);
}

void output_queue_add(struct output_queue *q, enum output_counter c, uint64_t n)
{
    atomic_fetch_add_explicit(&q->ctr[c], n, memory_order_relaxed);
}

void output_queue_set_error(struct output_queue *q, const char *fmt, ...)
{
    char buf[sizeof q->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&q->mu);
    memcpy(q->last_error, buf, sizeof buf);
    pthread_mutex_unlock(&q->mu);
}

void output_queue_close(struct output_queue *q, int64_t deadline_ns)
{
    pthread_mutex_lock(&q->mu);
    q->closing = true;
    q->deadline_ns = deadline_ns;
    pthread_mutex_unlock(&q->mu);
    pthread_cond_broadcast(&q->cond);
}

bool output_queue_closing(struct output_queue *q)
{
    pthread_mutex_lock(&q->mu);
    bool c = q->closing;
    pthread_mutex_unlock(&q->mu);
    return c;
}

int64_t output_queue_deadline(struct output_queue *q)
{
    pthread_mutex_lock(&q->mu);
    int64_t d = q->deadline_ns;
    pthread_mutex_unlock(&q->mu);
    return d;
}

bool output_queue_expired(struct output_queue *q, int64_t now_ns) { return now_ns >= output_queue_deadline(q); }

void output_queue_sleep(struct output_queue *q, int64_t until_ns)
{
    pthread_mutex_lock(&q->mu);
    bool was_closing = q->closing;
    for (;;) {
        int64_t until = until_ns < q->deadline_ns ? until_ns : q->deadline_ns;
        if (output_mono_ns() >= until || q->closing != was_closing)
            break;
        struct timespec ts = to_timespec(until);
        if (pthread_cond_timedwait(&q->cond, &q->mu, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&q->mu);
}

void output_queue_stats(struct output_queue *q, struct output_stats *st)
{
    memset(st, 0, sizeof *st);
    st->submitted = atomic_load_explicit(&q->submitted, memory_order_relaxed);
    st->dropped_queue_full = atomic_load_explicit(&q->dropped_full, memory_order_relaxed);
    st->delivered = atomic_load_explicit(&q->ctr[OQ_DELIVERED], memory_order_relaxed);
    st->failed = atomic_load_explicit(&q->ctr[OQ_FAILED], memory_order_relaxed);
    st->dropped_at_close = atomic_load_explicit(&q->ctr[OQ_DROPPED_AT_CLOSE], memory_order_relaxed);
    st->errors = atomic_load_explicit(&q->ctr[OQ_ERRORS], memory_order_relaxed);
    st->retries = atomic_load_explicit(&q->ctr[OQ_RETRIES], memory_order_relaxed);
    st->truncated = atomic_load_explicit(&q->ctr[OQ_TRUNCATED], memory_order_relaxed);
    st->reopens = atomic_load_explicit(&q->ctr[OQ_REOPENS], memory_order_relaxed);
    st->connects = atomic_load_explicit(&q->ctr[OQ_CONNECTS], memory_order_relaxed);
    st->bytes = atomic_load_explicit(&q->ctr[OQ_BYTES], memory_order_relaxed);
    pthread_mutex_lock(&q->mu);
    st->queue_depth = atomic_load_explicit(&q->held, memory_order_relaxed);
    st->queue_bytes = atomic_load_explicit(&q->held_bytes, memory_order_relaxed);
    memcpy(st->last_error, q->last_error, sizeof st->last_error);
    pthread_mutex_unlock(&q->mu);
}
