/* vigil-cp's pipeline: see cp_engine.h. */
#define _GNU_SOURCE
#include "mgmt/cp_engine.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/detect.h"
#include "engine/flow_rules.h"
#include "engine/ruleset.h"
#include "mgmt/alert_fold.h"
#include "mgmt/alert_json.h"
#include "mgmt/cp_config.h"
#include "mgmt/cp_correlate.h"
#include "mgmt/incident.h"
#include "mgmt/output.h"
#include "mgmt/rule_meta.h"
#include "storage/store.h"

#define EMIT_BURST 256
#define ENTITY_CACHE 4096
#define CLOSE_WORK 256            /* entities looked at per tick for quiet incidents */

struct cp_engine;
static void emit_one(struct cp_engine *e, struct vigil_alert *a);
static void on_fire(const struct corr_fire *f, void *arg);

struct cp_counters {
    uint64_t signals_in;
    uint64_t signals_unknown_rule;     /* rule UUID not in this ruleset (dp runs another version) */
    uint64_t signals_below_floor;      /* correlated, not stored: level under alerts.min_level */
    uint64_t signals_not_generated;    /* correlated, not stored: Sigma generate: false */
    uint64_t alerts_emitted;
    uint64_t alerts_store_errors;      /* alerts in a batch the store dropped */
    uint64_t incidents_closed;
    uint64_t correlation_alerts;
    uint64_t incidents_staged;
    uint64_t output_submit_dropped;
};

struct cp_engine {
    const struct cp_config *cfg;
    struct rule_meta_table *meta;
    struct cp_correlate *corr;
    struct alert_fold *fold;
    struct incident_tracker *inc;
    struct output_set *out;
    struct store *st;
    int64_t mono_now;          /* of the signal or tick being handled: fold windows run on it */
    int64_t wall_now;
    bool attached;             /* the store is attached and its state restored */
    struct cp_counters c;
    /* entities touched lately, so an alert does not cost a read transaction
     * (vigil-cp is the only writer: the cache is never stale) */
    struct vigil_entity *ent_cache;    /* ENTITY_CACHE slots, direct-mapped by address */
    struct vigil_alert emit[EMIT_BURST];
    char json[ALERT_JSON_MAX];
};

int cp_engine_new(const struct cp_config *cfg, const struct ruleset *rs, const struct flow_ruleset *frs,
                  struct cp_engine **out, struct diag *d, char *err, size_t errlen)
{
    *out = NULL;
    struct cp_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->cfg = cfg;
    unsigned n_det = rs && rs->rules ? detect_rule_count(rs->rules) : 0;
    if (cp_correlate_new(cfg, rs, frs, on_fire, e, &e->corr, d, err, errlen)) {
        cp_engine_free(e);
        return -1;
    }
    unsigned n_corr = cp_correlate_rule_count(e->corr), n_flow = frs ? flow_rules_count(frs) : 0;
    e->meta = rule_meta_new(n_det + n_flow + n_corr + 1);
    bool ok = e->meta && (!rs || rule_meta_add_detection(e->meta, rs->rules) >= 0);
    for (unsigned i = 0; ok && i < n_flow; i++) {
        const struct rule_info *ri = flow_rule_info(frs, i);
        ok = !rule_meta_add(e->meta, ri->uuid, ri->id, ri->title, ri->level, ri->tags, ALERT_DETECTION);
    }
    if (!ok || cp_correlate_add_meta(e->corr, e->meta)) {
        snprintf(err, errlen, "out of memory for rule metadata");
        cp_engine_free(e);
        return -1;
    }
    e->fold = alert_fold_new(cfg->fold_max_pending, (int64_t)cfg->fold_window_s * 1000000000);
    e->ent_cache = calloc(ENTITY_CACHE, sizeof *e->ent_cache);
    struct incident_config ic = {.max_entities = cfg->incident_max_entities,
                                 .window_ns = (int64_t)cfg->incident_window_min * 60 * 1000000000,
                                 .min_level = cfg->incident_min_level};
    e->inc = incident_tracker_new(&ic);
    if (!e->fold || !e->inc || !e->ent_cache) {
        snprintf(err, errlen, "out of memory for %u pending alerts / %u entities (control_plane.alerts.max_pending, "
                              "incidents.max_entities)", cfg->fold_max_pending, cfg->incident_max_entities);
        cp_engine_free(e);
        return -1;
    }
    *out = e;
    return 0;
}

unsigned cp_engine_correlation_rules(const struct cp_engine *e) { return cp_correlate_rule_count(e->corr); }

static int restore_incident(const struct vigil_incident *inc, void *ctx)
{
    incident_restore(ctx, inc, inc->last_seen_ns);
    return 0;
}

int cp_engine_attach_store(struct cp_engine *e, struct store *st, uint64_t ruleset_hash, int64_t now_ns, char *err,
                           size_t errlen)
{
    e->st = st;
    struct store_stats ss;
    int rc = store_stats(st, &ss);
    if (rc < 0) {
        snprintf(err, errlen, "store: %s", store_strerror(rc));
        return -1;
    }
    store_set_ruleset_hash(st, ruleset_hash);
    /* newest first: an entity keeps its newest open incident */
    struct store_incident_query q = {.status_mask = 1u << INCIDENT_OPEN | 1u << INCIDENT_ACKNOWLEDGED,
                                     .limit = e->cfg->incident_max_entities};
    if ((rc = store_list_incidents(st, &q, restore_incident, e->inc, NULL)) < 0) {
        snprintf(err, errlen, "store: reading open incidents: %s", store_strerror(rc));
        return -1;
    }
    (void)now_ns;
    if (cp_correlate_restore(e->corr, st, err, errlen))
        return -1;
    e->attached = true;
    return 0;
}

int cp_engine_start_outputs(struct cp_engine *e, char *err, size_t errlen)
{
    return output_set_open(&e->cfg->outputs, &e->out, err, errlen);
}

void cp_engine_reopen_outputs(struct cp_engine *e)
{
    if (e->out)
        output_set_reopen(e->out);
}

static void fill_common(struct vigil_alert *a, const struct rule_meta *m)
{
    a->level = m->level;
    a->tactics = m->tactics;
    a->n_techniques = m->n_techniques;
    memcpy(a->techniques, m->techniques, sizeof a->techniques);
    memcpy(a->rule_uuid, m->uuid, 16);
    a->title_len = record_copy_str(a->title, sizeof a->title, m->title, strlen(m->title));
}

/* Ids come from the store alone: it records the next free one at every
 * commit, so an id handed to a waiting alert (and cited by a checkpointed
 * correlation window) is never handed out again, even after a crash. */
static uint64_t alloc_alert_id(void *st) { return store_alloc_alert_id(st); }
static uint64_t alloc_incident_id(void *st) { return store_alloc_incident_id(st); }

/* Queues a for emission, making room in the fold table if it is full. */
static uint64_t fold(struct cp_engine *e, const struct vigil_alert *a, int64_t mono_ns)
{
    if (alert_fold_full(e->fold)) {
        struct vigil_alert *old = &e->emit[0];
        if (alert_fold_pop(e->fold, mono_ns, true, old, 1) == 1)
            emit_one(e, old);
    }
    return alert_fold_add(e->fold, a, mono_ns, alloc_alert_id, e->st);
}

/* A correlation rule fired: its alert goes through folding like any other. */
static void on_fire(const struct corr_fire *f, void *arg)
{
    struct cp_engine *e = arg;
    const struct rule_meta *m = rule_meta_find(e->meta, f->rule->uuid);
    if (!m)
        return;
    struct vigil_alert a;
    memset(&a, 0, sizeof a);
    a.kind = ALERT_CORRELATION;
    fill_common(&a, m);
    a.event_ns = a.first_seen_ns = f->first_ns;
    a.last_seen_ns = f->last_ns;
    a.received_ns = e->wall_now;
    a.count = 1;
    a.entity = f->entity;
    a.source_ip = f->entity;
    a.group_key_len = record_copy_str(a.group_key, sizeof a.group_key, f->group_key, strlen(f->group_key));
    a.n_contrib = (uint8_t)(f->n_alert_ids < ALERT_CONTRIB_MAX ? f->n_alert_ids : ALERT_CONTRIB_MAX);
    memcpy(a.contrib, f->alert_ids, a.n_contrib * sizeof a.contrib[0]);
    a.contrib_more = f->alert_ids_total > a.n_contrib ? (uint32_t)(f->alert_ids_total - a.n_contrib) : 0;
    char what[96];
    snprintf(what, sizeof what, "%s: %" PRIu64 " (%" PRIu64 " signals)",
             f->rule->type == CORR_VALUE_COUNT ? "distinct values" : f->rule->type == CORR_EVENT_COUNT ? "events"
                                                                                                     : "rules seen",
             f->count, f->signals);
    a.excerpt_len = record_copy_str(a.excerpt, sizeof a.excerpt, what, strlen(what));
    e->c.correlation_alerts++;
    fold(e, &a, e->mono_now);
}

/* The alert signal s becomes (folded or new), or 0 when it is not stored. */
static uint64_t signal_alert(struct cp_engine *e, const struct vigil_signal *s, int64_t now_ns, int64_t mono_ns)
{
    const struct rule_meta *m = rule_meta_find(e->meta, s->rule_uuid);
    if (!m) {
        e->c.signals_unknown_rule++;
        return 0;
    }
    uint64_t id = 0;
    if (m->level < e->cfg->alert_min_level) {
        e->c.signals_below_floor++;
    } else if (!cp_correlate_generates(e->corr, m->uuid)) {
        e->c.signals_not_generated++;
    } else {
        struct vigil_alert a;
        memset(&a, 0, sizeof a);
        a.kind = ALERT_DETECTION;
        fill_common(&a, m);
        a.event_ns = a.first_seen_ns = a.last_seen_ns = s->ts_ns;
        a.received_ns = s->received_ns ? s->received_ns : now_ns;
        a.count = 1;
        a.source_ip = s->source_ip;
        a.destination_ip = s->destination_ip;
        a.source_port = s->source_port;
        a.destination_port = s->destination_port;
        a.observer_ip = s->observer;
        /* the entity is the attacker's address when the log names one, else the host that logged */
        a.entity = s->source_ip.family ? s->source_ip : s->observer;
        a.user_len = record_copy_str(a.user, sizeof a.user, s->user_name, strnlen(s->user_name, sizeof s->user_name));
        a.excerpt_len = record_copy_str(a.excerpt, sizeof a.excerpt, s->excerpt,
                                        s->excerpt_len < sizeof s->excerpt ? s->excerpt_len : sizeof s->excerpt);
        id = fold(e, &a, mono_ns);
    }
    return id;
}

void cp_engine_signals(struct cp_engine *e, const struct vigil_signal *s, unsigned n, int64_t now_ns,
                       int64_t mono_ns)
{
    e->mono_now = mono_ns;
    e->wall_now = now_ns;
    e->c.signals_in += n;
    uint64_t ids[64];
    for (unsigned done = 0; done < n;) {
        unsigned k = n - done < 64 ? n - done : 64;
        for (unsigned i = 0; i < k; i++)
            ids[i] = signal_alert(e, &s[done + i], now_ns, mono_ns);
        cp_correlate_feed(e->corr, s + done, ids, k, now_ns);
        done += k;
    }
}

static struct vigil_entity *entity_slot(struct cp_engine *e, const struct vigil_ip *ip)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < 16; i++)
        h = (h ^ ip->addr[i]) * 0x100000001b3ull;
    return &e->ent_cache[(h ^ ip->family) % ENTITY_CACHE];
}

/* The entity record of ip: from the cache, else the store, else new. */
static struct vigil_entity *entity_get(struct cp_engine *e, const struct vigil_ip *ip, int64_t first_seen_ns)
{
    struct vigil_entity *ent = entity_slot(e, ip);
    if (ent->ip.family == ip->family && !memcmp(ent->ip.addr, ip->addr, 16))
        return ent;
    if (store_get_entity(e->st, ip, ent) != 0) {
        memset(ent, 0, sizeof *ent);
        ent->ip = *ip;
        ent->first_seen_ns = first_seen_ns;
    }
    return ent;
}

/* Stores incident versions, oldest first; a closed one clears its entity's
 * open incident (so retention may prune both in time). */
static void stage_incidents(struct cp_engine *e, const struct vigil_incident *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct vigil_incident inc = v[i];
        if (store_stage_incident(e->st, &inc) < 0)
            e->c.alerts_store_errors++;
        e->c.incidents_staged++;
        if (inc.status == INCIDENT_CLOSED) {
            e->c.incidents_closed++;
            struct vigil_entity *ent = entity_get(e, &inc.entity, inc.first_seen_ns);
            if (ent->open_incident_id == inc.id) {
                ent->open_incident_id = 0;
                store_stage_entity(e->st, ent);
            }
        }
    }
}

/* Incident, store, outputs: what happens to an alert when its fold window
 * closes (or when a full fold table pushes it out early). */
static void emit_one(struct cp_engine *e, struct vigil_alert *a)
{
    struct vigil_incident v[INCIDENT_MAX_VERSIONS];
    unsigned nv = incident_add_alert(e->inc, a, alloc_incident_id, e->st, v);
    if (store_stage_alert(e->st, a) < 0)
        e->c.alerts_store_errors++;
    stage_incidents(e, v, nv);
    if (a->entity.family) {
        struct vigil_entity *ent = entity_get(e, &a->entity, a->first_seen_ns);
        if (a->last_seen_ns > ent->last_seen_ns)
            ent->last_seen_ns = a->last_seen_ns;
        ent->alert_count += a->count;
        if (a->incident_id && nv) {
            ent->open_incident_id = a->incident_id;
            ent->risk = v[nv - 1].severity;
        }
        store_stage_entity(e->st, ent);
    }
    e->c.alerts_emitted++;
    size_t n = alert_json_render(a, e->json, sizeof e->json);
    if (n && e->out) {
        char host[64];
        alert_json_ip(&a->observer_ip, host);
        struct output_alert_meta om = {.ts_ns = a->event_ns, .level = (uint8_t)(a->level + 1),
                                       .rule_title = a->title, .hostname_hint = host[0] ? host : NULL};
        if (output_submit(e->out, e->json, n, &om))
            e->c.output_submit_dropped++;
    }
}

/* ack or close one incident: in the tracker when it is open there, else in
 * its stored record; a new version either way (chained like any other). */
static void set_incident_status(struct cp_engine *e, uint64_t id, uint8_t status, char *reply, size_t cap)
{
    struct vigil_incident inc;
    int rc = incident_set_status(e->inc, id, status, &inc);
    if (rc == 0) {
        if (store_get_incident(e->st, id, &inc, NULL, NULL, NULL)) {
            snprintf(reply, cap, "error: no incident %llu", (unsigned long long)id);
            return;
        }
        if (inc.status == INCIDENT_CLOSED) {
            snprintf(reply, cap, "error: incident %llu is closed", (unsigned long long)id);
            return;
        }
        inc.status = status;
        inc.updated_ns = e->wall_now;
    }
    stage_incidents(e, &inc, 1);
    store_flush(e->st); /* the operator sees it in the next query */
    snprintf(reply, cap, "ok: incident %llu %s", (unsigned long long)id, record_status_name(status));
}

void cp_engine_command(struct cp_engine *e, const char *request, char *reply, size_t cap)
{
    char verb[16];
    unsigned long long id;
    if (!strcmp(request, "ping")) {
        snprintf(reply, cap, "ok: vigil-cp %d", (int)getpid());
    } else if (sscanf(request, "incident %15s %llu", verb, &id) == 2 && !strcmp(verb, "ack")) {
        set_incident_status(e, id, INCIDENT_ACKNOWLEDGED, reply, cap);
    } else if (sscanf(request, "incident %15s %llu", verb, &id) == 2 && !strcmp(verb, "close")) {
        set_incident_status(e, id, INCIDENT_CLOSED, reply, cap);
    } else {
        snprintf(reply, cap, "error: unknown request (incident ack ID | incident close ID | ping)");
    }
}

void cp_engine_tick(struct cp_engine *e, int64_t now_ns, int64_t mono_ns)
{
    e->mono_now = mono_ns;
    e->wall_now = now_ns;
    unsigned n;
    while ((n = alert_fold_pop(e->fold, mono_ns, false, e->emit, EMIT_BURST)) > 0)
        for (unsigned i = 0; i < n; i++)
            emit_one(e, &e->emit[i]);
    struct vigil_incident closed[16];
    if ((n = incident_close_quiet(e->inc, CLOSE_WORK, closed, 16)) > 0)
        stage_incidents(e, closed, n);
    cp_correlate_tick(e->corr, now_ns);
    if (cp_correlate_checkpoint_due(e->corr, now_ns)) {
        /* A checkpointed window cites alert ids; the alerts still waiting
         * to fold are stored first, so after a crash every cited alert
         * exists (a fold window therefore ends at a checkpoint). */
        while ((n = alert_fold_pop(e->fold, INT64_MAX, true, e->emit, EMIT_BURST)) > 0)
            for (unsigned i = 0; i < n; i++)
                emit_one(e, &e->emit[i]);
        cp_correlate_checkpoint(e->corr, e->st);
    }
    store_commit_due(e->st, now_ns);
}

bool cp_engine_idle(const struct cp_engine *e)
{
    struct alert_fold_stats fs;
    alert_fold_stats(e->fold, &fs);
    return fs.pending == 0 && store_staged(e->st) == 0;
}

void cp_engine_shutdown(struct cp_engine *e, int64_t now_ns)
{
    if (!e->attached)
        return; /* nothing was restored: do not overwrite the stored windows with nothing */
    e->wall_now = now_ns;
    unsigned n;
    while ((n = alert_fold_pop(e->fold, INT64_MAX, true, e->emit, EMIT_BURST)) > 0)
        for (unsigned i = 0; i < n; i++)
            emit_one(e, &e->emit[i]);
    cp_correlate_checkpoint(e->corr, e->st);
    store_flush(e->st);
    if (e->out) {
        output_set_close(e->out, 2000, NULL);
        e->out = NULL;
    }
}

void cp_engine_write_status(struct cp_engine *e, const char *path, const struct signal_ring_stats *rings,
                            const bool *attached, unsigned n_rings, int64_t now_ns)
{
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    struct alert_fold_stats fs;
    alert_fold_stats(e->fold, &fs);
    struct incident_stats is;
    incident_stats(e->inc, &is);
    fprintf(f, "{\"time_ns\":%" PRId64 ",\"pid\":%d,\"signals_in\":%" PRIu64 ",\"signals_unknown_rule\":%" PRIu64
               ",\"signals_below_floor\":%" PRIu64 ",\"signals_not_generated\":%" PRIu64 ",\"alerts_emitted\":%" PRIu64 ",\"alerts_store_errors\":%" PRIu64
               ",\"incidents_closed\":%" PRIu64 ",\"correlation_alerts\":%" PRIu64 ",\"incidents_staged\":%" PRIu64
               ",\"output_submit_dropped\":%" PRIu64,
            now_ns, (int)getpid(), e->c.signals_in, e->c.signals_unknown_rule, e->c.signals_below_floor, e->c.signals_not_generated,
            e->c.alerts_emitted, e->c.alerts_store_errors, e->c.incidents_closed, e->c.correlation_alerts,
            e->c.incidents_staged, e->c.output_submit_dropped);
    fprintf(f, ",\"fold\":{\"created\":%" PRIu64 ",\"folded\":%" PRIu64 ",\"emitted\":%" PRIu64
               ",\"emitted_early\":%" PRIu64 ",\"pending\":%u}",
            fs.created, fs.folded, fs.emitted, fs.emitted_early, fs.pending);
    fprintf(f, ",\"incidents\":{\"opened\":%" PRIu64 ",\"updated\":%" PRIu64 ",\"entities\":%u,\"entities_evicted\":%"
               PRIu64 "}",
            is.opened, is.updated, is.entities, is.entities_evicted);
    const struct store_counters *sc = store_counters(e->st);
    fprintf(f, ",\"store\":{\"alerts_written\":%" PRIu64 ",\"incidents_written\":%" PRIu64 ",\"commits\":%" PRIu64
               ",\"commit_errors\":%" PRIu64 ",\"map_full_events\":%" PRIu64 ",\"pruned_alerts\":%" PRIu64
               ",\"batches_dropped\":%" PRIu64 ",\"alerts_dropped\":%" PRIu64 "}",
            sc->alerts_written, sc->incidents_written, sc->commits, sc->commit_errors, sc->map_full_events,
            sc->pruned_alerts, sc->batches_dropped, sc->alerts_dropped);
    fputs(",\"correlation\":", f);
    cp_correlate_write_stats(e->corr, f);
    fputs(",\"outputs\":", f);
    fputc('{', f);
    if (e->out) {
        struct output_set_stats os;
        output_set_stats(e->out, &os);
        bool first = true;
        for (unsigned k = 0; k < OUTPUT__COUNT; k++) {
            if (!os.enabled[k])
                continue;
            const struct output_stats *o = &os.out[k];
            fprintf(f, "%s\"%s\":{\"submitted\":%" PRIu64 ",\"delivered\":%" PRIu64 ",\"dropped_queue_full\":%" PRIu64
                       ",\"failed\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"queue_depth\":%" PRIu64 "}",
                    first ? "" : ",", output_kind_name((enum output_kind)k), o->submitted, o->delivered,
                    o->dropped_queue_full, o->failed, o->errors, o->retries, o->queue_depth);
            first = false;
        }
    }
    fputc('}', f);
    fputs(",\"rings\":[", f);
    for (unsigned i = 0; i < n_rings; i++) {
        if (!attached[i]) {
            fprintf(f, "%s{\"worker\":%u,\"attached\":false}", i ? "," : "", i);
            continue;
        }
        const struct signal_ring_stats *r = &rings[i];
        fprintf(f, "%s{\"worker\":%u,\"attached\":true,\"used\":%u,\"capacity\":%u,\"enqueued\":%" PRIu64
                   ",\"dropped_full\":%" PRIu64 ",\"dequeued\":%" PRIu64 ",\"producer_pid\":%d}",
                i ? "," : "", i, r->used, r->capacity, r->enqueued, r->dropped_full, r->dequeued, r->producer_pid);
    }
    fputs("]}\n", f);
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        unlink(tmp);
}

void cp_engine_free(struct cp_engine *e)
{
    if (!e)
        return;
    if (e->out)
        output_set_close(e->out, 0, NULL);
    cp_correlate_free(e->corr);
    rule_meta_free(e->meta);
    alert_fold_free(e->fold);
    incident_tracker_free(e->inc);
    free(e->ent_cache);
    free(e);
}
