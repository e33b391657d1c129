#include "mgmt/output.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct output_set {
    struct output_queue *q[OUTPUT__COUNT];   /* NULL: output disabled */
    struct output_jsonl *jsonl;
    struct output_syslog *syslog;
    struct output_webhook *webhook;
};

void output_config_defaults(struct output_config *c)
{
    output_jsonl_config_defaults(&c->jsonl);
    output_syslog_config_defaults(&c->syslog);
    output_webhook_config_defaults(&c->webhook);
}

int output_config_validate(const struct output_config *c, char *err, size_t errlen)
{
    if (c->jsonl.enabled && output_jsonl_config_validate(&c->jsonl, err, errlen) != 0)
        return -1;
    if (c->syslog.enabled && output_syslog_config_validate(&c->syslog, err, errlen) != 0)
        return -1;
    if (c->webhook.enabled && output_webhook_config_validate(&c->webhook, err, errlen) != 0)
        return -1;
    return 0;
}

const char *output_kind_name(enum output_kind k)
{
    static const char *const names[OUTPUT__COUNT] = {"jsonl", "syslog", "webhook"};
    return (unsigned)k < OUTPUT__COUNT ? names[k] : "?";
}

/* Closes every queue against one deadline, so the outputs drain in parallel,
 * then joins the threads; what nobody took is counted dropped_at_close. */
static void stop_all(struct output_set *s, int64_t deadline_ns)
{
    for (int k = 0; k < OUTPUT__COUNT; k++)
        if (s->q[k])
            output_queue_close(s->q[k], deadline_ns);
    output_jsonl_join(s->jsonl);
    output_syslog_join(s->syslog);
    output_webhook_join(s->webhook);
    s->jsonl = NULL;
    s->syslog = NULL;
    s->webhook = NULL;
    for (int k = 0; k < OUTPUT__COUNT; k++)
        if (s->q[k])
            output_queue_abandon_waiting(s->q[k]);
}

static void free_set(struct output_set *s)
{
    for (int k = 0; k < OUTPUT__COUNT; k++)
        output_queue_free(s->q[k]);
    free(s);
}

int output_set_open(const struct output_config *c, struct output_set **out, char *err, size_t errlen)
{
    if (output_config_validate(c, err, errlen) != 0)
        return -1;
    struct output_set *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "outputs: out of memory");
        return -1;
    }
    const struct output_queue_config *qc[OUTPUT__COUNT] = {&c->jsonl.queue, &c->syslog.queue, &c->webhook.queue};
    bool en[OUTPUT__COUNT] = {c->jsonl.enabled, c->syslog.enabled, c->webhook.enabled};
    for (int k = 0; k < OUTPUT__COUNT; k++) {
        if (!en[k])
            continue;
        s->q[k] = output_queue_new(qc[k]->max_alerts, qc[k]->max_bytes);
        if (!s->q[k]) {
            snprintf(err, errlen, "outputs.%s.queue_max_alerts: cannot allocate a queue of %u alerts",
                     output_kind_name((enum output_kind)k), qc[k]->max_alerts);
            free_set(s);
            return -1;
        }
    }
    /* The output threads inherit a full signal mask: SIGHUP, SIGTERM and
     * SIGPIPE (a collector closing mid-write) stay with vigil-cp's main
     * thread and never interrupt or kill a sender. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    if (c->jsonl.enabled)
        rc = output_jsonl_start(&c->jsonl, s->q[OUTPUT_JSONL], &s->jsonl, err, errlen);
    if (rc == 0 && c->syslog.enabled)
        rc = output_syslog_start(&c->syslog, s->q[OUTPUT_SYSLOG], &s->syslog, err, errlen);
    if (rc == 0 && c->webhook.enabled)
        rc = output_webhook_start(&c->webhook, s->q[OUTPUT_WEBHOOK], &s->webhook, err, errlen);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        stop_all(s, output_mono_ns());
        free_set(s);
        return -1;
    }
    *out = s;
    return 0;
}

int output_submit(struct output_set *s, const char *json, size_t len, const struct output_alert_meta *m)
{
    if (!s || !json || !m || len == 0 || memchr(json, '\n', len) || memchr(json, '\r', len))
        return -1;
    /* Copy only when some output can take it: with every receiver down and
     * every queue full, a submit costs a few atomic loads. */
    uint64_t cost = (uint64_t)len + (m->rule_title ? strlen(m->rule_title) : 0) +
                    (m->hostname_hint ? strlen(m->hostname_hint) : 0);
    bool any = false;
    for (int k = 0; k < OUTPUT__COUNT; k++)
        if (s->q[k] && output_queue_has_room(s->q[k], cost))
            any = true;
    struct output_record *r = NULL;
    if (any)
        r = output_record_new(json, len, m->ts_ns, m->level, m->rule_title, m->hostname_hint);
    int refused = 0;
    for (int k = 0; k < OUTPUT__COUNT; k++) {
        if (!s->q[k])
            continue;
        if (!r) {
            output_queue_count_dropped(s->q[k]);
            refused++;
        } else if (output_queue_push(s->q[k], r) != 0) {
            refused++;
        }
    }
    output_record_unref(r);       /* the queues hold their own references */
    return refused;
}

void output_set_reopen(struct output_set *s)
{
    /* s->jsonl is set once at start and cleared only by stop, which must
     * not race with this (output.h). */
    if (s)
        output_jsonl_reopen(s->jsonl);
}

void output_set_stats(struct output_set *s, struct output_set_stats *st)
{
    memset(st, 0, sizeof *st);
    for (int k = 0; k < OUTPUT__COUNT; k++) {
        st->enabled[k] = s->q[k] != NULL;
        if (s->q[k])
            output_queue_stats(s->q[k], &st->out[k]);
    }
}

void output_set_close(struct output_set *s, uint32_t deadline_ms, struct output_set_stats *final)
{
    if (!s) {
        if (final)
            memset(final, 0, sizeof *final);
        return;
    }
    stop_all(s, output_mono_ns() + (int64_t)deadline_ms * 1000000);
    if (final)
        output_set_stats(s, final);
    free_set(s);
}
