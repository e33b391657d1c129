/* vigil-cp and the correlation engine: see cp_correlate.h. */
#define _GNU_SOURCE
#include "mgmt/cp_correlate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine/detect.h"
#include "engine/flow_rules.h"
#include "engine/ruleset.h"
#include "mgmt/cp_config.h"
#include "mgmt/rule_meta.h"
#include "storage/record.h"
#include "storage/store.h"

#define CHECKPOINT_INTERVAL_NS (10LL * 1000000000)
#define EXPIRE_WORK 4096

struct cp_correlate {
    struct corr_ruleset *rules;
    struct corr_engine *eng;   /* NULL when there are no rules */
    int64_t next_checkpoint;
    uint64_t checkpoints, checkpoint_windows, checkpoint_errors;
};

int cp_correlate_new(const struct cp_config *cfg, const struct ruleset *rs, const struct flow_ruleset *frs,
                     corr_fire_fn fire, void *arg, struct cp_correlate **out, struct diag *d, char *err,
                     size_t errlen)
{
    *out = NULL;
    struct cp_correlate *c = calloc(1, sizeof *c);
    if (!c || !(c->rules = corr_ruleset_new())) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (cfg->correlation_rules[0] && corr_load_path(c->rules, cfg->correlation_rules, d) < 0) {
        snprintf(err, errlen, "out of memory loading %s", cfg->correlation_rules);
        cp_correlate_free(c);
        return -1;
    }
    /* signals name rules by UUID, whether a log or a flow rule made them */
    unsigned n_log = rs && rs->rules ? detect_rule_count(rs->rules) : 0, n_flow = frs ? flow_rules_count(frs) : 0;
    unsigned n_det = n_log + n_flow;
    struct corr_detection *det = calloc(n_det ? n_det : 1, sizeof *det);
    if (!det) {
        snprintf(err, errlen, "out of memory");
        cp_correlate_free(c);
        return -1;
    }
    for (unsigned i = 0; i < n_det; i++) {
        const struct rule_info *ri = i < n_log ? detect_rule(rs->rules, i) : flow_rule_info(frs, i - n_log);
        det[i].id = ri->id[0] ? ri->id : NULL;
        det[i].name = ri->name[0] ? ri->name : NULL;
        memcpy(det[i].uuid, ri->uuid, 16);
    }
    unsigned n = corr_ruleset_resolve(c->rules, det, n_det, d);
    free(det);
    if (n) {
        struct corr_config cc;
        corr_config_default(&cc);
        cc.max_keys = cfg->corr_max_windows;
        cc.allowed_lateness_ns = (int64_t)cfg->corr_allowed_lateness_s * 1000000000;
        cc.max_clock_skew_ns = (int64_t)cfg->corr_max_clock_skew_s * 1000000000;
        if (!(c->eng = corr_engine_new(c->rules, &cc, fire, arg, err, errlen))) {
            cp_correlate_free(c);
            return -1;
        }
    }
    *out = c;
    return 0;
}

void cp_correlate_free(struct cp_correlate *c)
{
    if (!c)
        return;
    corr_engine_free(c->eng);
    corr_ruleset_free(c->rules);
    free(c);
}

unsigned cp_correlate_rule_count(const struct cp_correlate *c) { return c->eng ? c->rules->n : 0; }

int cp_correlate_add_meta(const struct cp_correlate *c, struct rule_meta_table *t)
{
    for (unsigned i = 0; c->eng && i < c->rules->n; i++) {
        const struct corr_rule *r = c->rules->rules[i];
        char tags[512] = "";
        for (unsigned k = 0; k < r->ntags; k++)
            snprintf(tags + strlen(tags), sizeof tags - strlen(tags), "%s%s", k ? "," : "", r->tags[k]);
        if (rule_meta_add(t, r->uuid, r->id, r->title, r->level, tags, ALERT_CORRELATION))
            return -1;
    }
    return 0;
}

int cp_correlate_generates(const struct cp_correlate *c, const uint8_t uuid[16])
{
    return !c->eng || corr_ruleset_detection_generates(c->rules, uuid);
}

struct restore_ctx {
    struct cp_correlate *c;
    uint64_t ok, stale, bad;
};

static int restore_one(const void *key, size_t klen, const void *val, size_t vlen, void *arg)
{
    (void)key, (void)klen;
    struct restore_ctx *r = arg;
    switch (corr_restore(r->c->eng, val, vlen)) {
    case CORR_RESTORE_OK: r->ok++; break;
    case CORR_RESTORE_STALE: r->stale++; break;
    default: r->bad++; break;
    }
    return 0;
}

int cp_correlate_restore(struct cp_correlate *c, struct store *st, char *err, size_t errlen)
{
    if (!c->eng)
        return 0;
    struct restore_ctx r = {.c = c};
    int rc = store_corr_iterate(st, NULL, 0, restore_one, &r);
    if (rc < 0) {
        snprintf(err, errlen, "store: reading correlation checkpoints: %s", store_strerror(rc));
        return -1;
    }
    return 0;
}

void cp_correlate_feed(struct cp_correlate *c, const struct vigil_signal *s, const uint64_t *alert_ids, unsigned n,
                       int64_t now_ns)
{
    if (c->eng && n)
        corr_feed_burst(c->eng, s, alert_ids, n, now_ns);
}

struct fill_ctx {
    struct corr_engine *eng;
    store_kv_put_fn put;
    void *put_ctx;
};

static int put_window(const void *key, size_t keylen, const void *blob, size_t len, void *arg)
{
    struct fill_ctx *f = arg;
    return f->put(f->put_ctx, key, keylen, blob, len) ? 1 : 0;
}

static int fill_windows(void *ctx, store_kv_put_fn put, void *put_ctx)
{
    struct fill_ctx f = {ctx, put, put_ctx};
    return corr_checkpoint_each(f.eng, put_window, &f);
}

void cp_correlate_checkpoint(struct cp_correlate *c, struct store *st)
{
    if (!c->eng)
        return;
    /* One transaction replaces the whole set: a crash leaves the previous
     * checkpoint or this one, never a mix. */
    if (store_corr_replace(st, fill_windows, c->eng)) {
        c->checkpoint_errors++;
        return;
    }
    struct corr_counters cc;
    corr_stats(c->eng, &cc);
    c->checkpoints++;
    c->checkpoint_windows = cc.windows_open;
}

void cp_correlate_tick(struct cp_correlate *c, int64_t now_ns)
{
    if (c->eng)
        corr_expire(c->eng, now_ns, EXPIRE_WORK, NULL);
}

bool cp_correlate_checkpoint_due(struct cp_correlate *c, int64_t now_ns)
{
    if (!c->eng || now_ns < c->next_checkpoint)
        return false;
    bool first = c->next_checkpoint == 0;
    c->next_checkpoint = now_ns + CHECKPOINT_INTERVAL_NS;
    return !first;
}

void cp_correlate_write_stats(const struct cp_correlate *c, FILE *f)
{
    struct corr_counters k;
    memset(&k, 0, sizeof k);
    if (c->eng)
        corr_stats(c->eng, &k);
    fprintf(f, "{\"rules\":%u,\"signals_in\":%" PRIu64 ",\"signals_missing_field\":%" PRIu64
               ",\"late_signals_dropped\":%" PRIu64 ",\"windows_open\":%" PRIu64 ",\"windows_evicted_full\":%" PRIu64
               ",\"windows_expired\":%" PRIu64 ",\"fires\":%" PRIu64 ",\"restored\":%" PRIu64
               ",\"restore_stale\":%" PRIu64 ",\"window_bytes\":%" PRIu64 ",\"checkpoints\":%" PRIu64
               ",\"checkpoint_windows\":%" PRIu64 ",\"checkpoint_errors\":%" PRIu64 "}",
            cp_correlate_rule_count(c), k.signals_in, k.signals_missing_field, k.late_signals_dropped,
            k.windows_open, k.windows_evicted_full, k.windows_expired, k.fires, k.restored, k.restore_stale,
            k.window_bytes, c->checkpoints, c->checkpoint_windows, c->checkpoint_errors);
}
