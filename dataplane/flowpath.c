/* The NetFlow/IPFIX path of a worker: see flowpath.h. */
#include "dataplane/flowpath.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_malloc.h>

#include "dataplane/config.h"
#include "dataplane/pkt_decode.h"
#include "dataplane/reputation.h"
#include "dataplane/signal_ring.h"
#include "dataplane/stats.h"
#include "dataplane/worker.h"
#include "engine/detect.h"
#include "engine/event_json.h"
#include "engine/flow_rules.h"
#include "engine/nf_template_store.h"
#include "engine/signal.h"

#define FLOW_MAX_MATCHES 16            /* rules one record may fire; more are counted, not signalled */
#define EXPORT_INTERVAL_NS 1000000000LL
#define TICK_TEMPLATES 1024            /* template slots one tick may look at */

int flow_checks_load(const struct vigil_config *cfg, unsigned n_workers, int socket, struct flow_checks **out,
                     struct diag *d, char *err, size_t errlen)
{
    *out = NULL;
    struct flow_checks *fc = calloc(1, sizeof *fc);
    if (!fc) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    fc->n_workers = n_workers;
    const char *names[CFG_MAX_REP_LISTS];
    for (unsigned i = 0; i < cfg->n_rep; i++)
        names[i] = cfg->rep[i].name;
    if (cfg->flow_rules_dir[0]) {
        const char *path = cfg->flow_rules_dir;
        if (flow_rules_load(&path, 1, names, cfg->n_rep, NULL, &fc->rules, d)) {
            snprintf(err, errlen, "netflow.rules %s: no flow ruleset could be built", path);
            flow_checks_free(fc);
            return -1;
        }
    }
    if (cfg->n_rep) {
        struct reputation_list_config lists[CFG_MAX_REP_LISTS];
        memset(lists, 0, sizeof lists);
        for (unsigned i = 0; i < cfg->n_rep; i++) {
            snprintf(lists[i].name, sizeof lists[i].name, "%s", cfg->rep[i].name);
            snprintf(lists[i].path, sizeof lists[i].path, "%s", cfg->rep[i].path);
        }
        if (reputation_build(lists, cfg->n_rep, socket, &fc->rep, err, errlen)) {
            flow_checks_free(fc);
            return -1;
        }
    }
    unsigned nr = flow_checks_rule_count(fc);
    fc->matches = calloc((size_t)n_workers * (nr ? nr : 1), sizeof *fc->matches);
    fc->rep_hits = calloc((size_t)n_workers * CFG_MAX_REP_LISTS, sizeof *fc->rep_hits);
    if (!fc->matches || !fc->rep_hits) {
        snprintf(err, errlen, "out of memory");
        flow_checks_free(fc);
        return -1;
    }
    *out = fc;
    return 0;
}

void flow_checks_free(struct flow_checks *fc)
{
    if (!fc)
        return;
    flow_rules_free(fc->rules);
    reputation_free(fc->rep);
    free(fc->matches);
    free(fc->rep_hits);
    free(fc);
}

unsigned flow_checks_rule_count(const struct flow_checks *fc) { return fc->rules ? flow_rules_count(fc->rules) : 0; }

void flow_checks_print_json(const struct flow_checks *fc, FILE *f)
{
    unsigned nr = flow_checks_rule_count(fc);
    fputs("{\"rules\":[", f);
    for (unsigned r = 0; r < nr; r++) {
        uint64_t sum = 0;
        for (unsigned w = 0; w < fc->n_workers; w++)
            sum += fc->matches[(size_t)w * nr + r];
        const struct rule_info *ri = flow_rule_info(fc->rules, r);
        /* ids and names come from rule files: escaped like any other text */
        char id[6 * sizeof ri->id], name[6 * sizeof ri->name];
        size_t ni = json_escape(ri->id, strlen(ri->id), id, sizeof id);
        size_t nn = json_escape(ri->name, strlen(ri->name), name, sizeof name);
        fprintf(f, "%s{\"id\":\"%.*s\",\"name\":\"%.*s\",\"matches\":%" PRIu64 "}", r ? "," : "",
                ni == (size_t)-1 ? 0 : (int)ni, id, nn == (size_t)-1 ? 0 : (int)nn, name, sum);
    }
    fputs("],\"reputation\":[", f);
    unsigned nl = fc->rep ? reputation_list_count(fc->rep) : 0;
    for (unsigned l = 0; l < nl; l++) {
        uint64_t sum = 0;
        for (unsigned w = 0; w < fc->n_workers; w++)
            sum += fc->rep_hits[(size_t)w * CFG_MAX_REP_LISTS + l];
        fprintf(f, "%s{\"list\":\"%s\",\"hits\":%" PRIu64 "}", l ? "," : "", reputation_list_name(fc->rep, l),
                sum);
    }
    fputs("]}", f);
}

int flow_worker_init(struct flow_worker *fw, const struct nf_config *cfg, bool persist)
{
    memset(fw, 0, sizeof *fw);
    fw->dec = nf_decoder_new(cfg);
    fw->recs = calloc(FLOW_RECS_MAX, sizeof *fw->recs);
    fw->exporters = calloc(FLOW_EXPORTERS_SHOWN, sizeof *fw->exporters);
    /* the export buffer now, not on the worker core later */
    if (persist)
        fw->export_buf = malloc(FLOW_EXPORT_MAX);
    return fw->dec && fw->recs && fw->exporters && (!persist || fw->export_buf) ? 0 : -1;
}

void flow_worker_fini(struct flow_worker *fw)
{
    nf_decoder_free(fw->dec);
    free(fw->recs);
    free(fw->export_buf);
    free(fw->exporters);
    memset(fw, 0, sizeof *fw);
}

#define REP_BATCH 32 /* addresses looked up together: their cache misses overlap */

/* Reputation, rules, signals for n decoded records. */
static void check_records(struct worker *w, const struct nf_record *recs, uint32_t n)
{
    struct worker_counters *c = w->c;
    c->netflow_records += n;
    const struct flow_checks *fc = w->fc;
    if (!fc)
        return;
    unsigned nr = flow_checks_rule_count(fc);
    uint64_t *matches = fc->matches + (size_t)w->index * nr;
    uint64_t *hits = fc->rep_hits + (size_t)w->index * CFG_MAX_REP_LISTS;
    struct vigil_signal *sig = w->signals;
    unsigned n_sig = 0;
    for (uint32_t base = 0; base < n; base += REP_BATCH) {
        uint32_t k_batch = n - base < REP_BATCH ? n - base : REP_BATCH;
        /* source and destination of the batch in one bulk lookup; an
         * address the record lacks is family 0 and never listed */
        uint32_t rep[2 * REP_BATCH] = {0};
        if (fc->rep) {
            struct vigil_ip ips[2 * REP_BATCH];
            for (uint32_t i = 0; i < k_batch; i++) {
                const struct nf_record *r = &recs[base + i];
                ips[2 * i] = r->src;
                ips[2 * i + 1] = r->dst;
                if (!(r->present & NF_HAS_SRC_IP))
                    ips[2 * i].family = 0;
                if (!(r->present & NF_HAS_DST_IP))
                    ips[2 * i + 1].family = 0;
            }
            reputation_lookup_bulk(fc->rep, ips, rep, 2 * k_batch);
        }
        for (uint32_t i = 0; i < k_batch; i++) {
            const struct nf_record *r = &recs[base + i];
            uint32_t rep_src = rep[2 * i], rep_dst = rep[2 * i + 1];
            if (rep_src | rep_dst) {
                c->flow_reputation_hits++;
                for (uint32_t m = rep_src | rep_dst; m; m &= m - 1)
                    hits[__builtin_ctz(m)]++;
            }
            if (!nr)
                continue;
            uint32_t idx[FLOW_MAX_MATCHES];
            unsigned k = flow_rules_eval(fc->rules, r, rep_src, rep_dst, idx, FLOW_MAX_MATCHES);
            if (k > FLOW_MAX_MATCHES) {
                c->flow_matches_dropped += k - FLOW_MAX_MATCHES;
                k = FLOW_MAX_MATCHES;
            }
            for (unsigned j = 0; j < k; j++) {
                matches[idx[j]]++;
                if (n_sig == WORKER_MAX_SIGNALS) {
                    c->flow_signals += n_sig;
                    if (w->sigring)
                        c->signals_dropped_ring_full += n_sig - signal_ring_enqueue(w->sigring, sig, n_sig);
                    n_sig = 0;
                }
                flow_signal_fill(fc->rules, idx[j], r, w->now_ns, &sig[n_sig++]);
            }
        }
    }
    c->flow_signals += n_sig;
    if (n_sig && w->sigring)
        c->signals_dropped_ring_full += n_sig - signal_ring_enqueue(w->sigring, sig, n_sig);
}

/* The decoder's output array is full mid-datagram: check what it holds. */
static void flush_records(void *ctx, struct nf_record *recs, uint32_t n) { check_records(ctx, recs, n); }

void flow_handle_datagram(struct worker *w, const struct pkt_info *pi, const uint8_t *payload, uint32_t len)
{
    struct flow_worker *fw = &w->flow;
    w->c->netflow_datagrams++;
    struct nf_source src = {.addr = pi->src, .port = pi->src_port};
    struct nf_output out = {.recs = fw->recs, .cap = FLOW_RECS_MAX, .flush = flush_records, .ctx = w};
    enum nf_status st = nf_decode(fw->dec, payload, len, &src, w->now_ns, &out);
    if (st != NF_OK)
        w->c->netflow_malformed++; /* the reason is in the decoder's counters */
    check_records(w, fw->recs, out.n);
}

void flow_worker_snapshot_exporters(struct flow_worker *fw)
{
    __atomic_store_n(&fw->exporters_seq, fw->exporters_seq + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    uint32_t n = nf_cache_exporter_stats(nf_decoder_cache(fw->dec), fw->exporters, FLOW_EXPORTERS_SHOWN);
    __atomic_store_n(&fw->n_exporters, n, __ATOMIC_RELAXED);
    __atomic_store_n(&fw->exporters_seq, fw->exporters_seq + 1, __ATOMIC_RELEASE);
}

void flow_worker_tick(struct worker *w, int64_t now_ns)
{
    struct flow_worker *fw = &w->flow;
    nf_decoder_tick(fw->dec, now_ns, TICK_TEMPLATES);
    flow_worker_snapshot_exporters(fw);
    if (!w->env->nf_persist || __atomic_load_n(&fw->export_ready, __ATOMIC_ACQUIRE) || now_ns < fw->next_export_ns)
        return;
    const struct nf_template_cache *cache = nf_decoder_cache(fw->dec);
    if (!nf_cache_changed_since(cache, fw->export_gen))
        return;
    fw->next_export_ns = now_ns + EXPORT_INTERVAL_NS;
    uint64_t gen;
    size_t need = nf_cache_export(cache, fw->export_buf, FLOW_EXPORT_MAX, &gen);
    if (need > FLOW_EXPORT_MAX) {
        w->c->nf_template_exports_failed++;
        fw->export_gen = gen; /* do not retry until the set changes again */
        return;
    }
    fw->export_len = need;
    fw->export_gen = gen;
    w->c->nf_template_exports++;
    __atomic_store_n(&fw->export_ready, 1, __ATOMIC_RELEASE);
}

const uint8_t *flow_worker_take_export(struct flow_worker *fw, size_t *len)
{
    if (!__atomic_load_n(&fw->export_ready, __ATOMIC_ACQUIRE))
        return NULL;
    *len = fw->export_len;
    return fw->export_buf;
}

void flow_worker_release_export(struct flow_worker *fw) { __atomic_store_n(&fw->export_ready, 0, __ATOMIC_RELEASE); }

/* ---- main lcore ----------------------------------------------------------- */

struct restore_ctx {
    struct worker *workers;
    unsigned n;
    int64_t now_ns;
    bool own;          /* pass 2: each worker's own set; pass 1: sets of workers that no longer exist */
    int imported;
};

static int restore_blob(void *arg, const char *name, size_t name_len, const uint8_t *blob, size_t len)
{
    struct restore_ctx *r = arg;
    char buf[32];
    unsigned k = UINT32_MAX;
    if (name_len < sizeof buf) {
        memcpy(buf, name, name_len);
        buf[name_len] = '\0';
        if (sscanf(buf, "worker-%u", &k) != 1)
            k = UINT32_MAX;
    }
    if (r->own != (k < r->n))
        return 0;
    for (unsigned i = 0; i < r->n; i++) {
        if (r->own && i != k)
            continue;
        int m = nf_cache_import(nf_decoder_cache(r->workers[i].flow.dec), blob, len, r->now_ns, NULL, NULL);
        if (m > 0)
            r->imported += m;
    }
    return 0;
}

int flow_templates_restore(struct nf_template_store *st, struct worker *workers, unsigned n, int64_t now_ns,
                           char *err, size_t errlen)
{
    /* Sets saved by workers that no longer exist (fewer workers now, or
     * exporters moved by RSS) go to every worker first; each worker's own
     * set last, so a cache that fills up keeps its own exporters. */
    struct restore_ctx r = {workers, n, now_ns, false, 0};
    if (nf_store_foreach(st, restore_blob, &r, err, errlen))
        return -1;
    r.own = true;
    if (nf_store_foreach(st, restore_blob, &r, err, errlen))
        return -1;
    /* what was imported is what is saved: no need to write it back */
    for (unsigned i = 0; i < n; i++)
        workers[i].flow.export_gen = nf_cache_generation(nf_decoder_cache(workers[i].flow.dec));
    return r.imported;
}

unsigned flow_templates_save(struct nf_template_store *st, struct worker *workers, unsigned n, bool final,
                             char *err, size_t errlen)
{
    unsigned errors = 0;
    for (unsigned i = 0; i < n; i++) {
        struct flow_worker *fw = &workers[i].flow;
        if (!fw->dec)
            continue;
        char name[32];
        snprintf(name, sizeof name, "worker-%u", i);
        size_t len;
        const uint8_t *blob = flow_worker_take_export(fw, &len);
        if (blob) {
            if (nf_store_save(st, name, blob, len, err, errlen))
                errors++;
            flow_worker_release_export(fw);
        }
        /* after the worker stopped, whatever changed since its last export */
        if (final && nf_cache_changed_since(nf_decoder_cache(fw->dec), fw->export_gen) &&
            nf_store_save_cache(st, name, nf_decoder_cache(fw->dec), NULL, err, errlen))
            errors++;
    }
    return errors;
}

/* The decoder counters by name: one table instead of a printf per field. */
#define NFC(f) {#f, offsetof(struct nf_counters, f)}
#define NFCC(f) {#f, offsetof(struct nf_counters, cache) + offsetof(struct nf_cache_counters, f)}
static const struct {
    const char *name;
    size_t off;
} nf_counter_fields[] = {
    NFC(nf_packets_v5), NFC(nf_packets_v9), NFC(nf_packets_ipfix), NFC(nf_packets_bad_version),
    NFC(nf_records_v5), NFC(nf_records_v9), NFC(nf_records_ipfix), NFC(nf_options_records_v9),
    NFC(nf_options_records_ipfix), NFC(nf_records_dropped_output_full), NFC(nf_sampling_updates),
    NFC(nf_data_sets_without_template), NFC(nf_data_sets_dropped_no_template), NFC(nf_sets_reserved_id),
    NFC(nf_v5_trailing_bytes), NFC(nf_ipfix_trailing_bytes), NFC(nf_seq_gaps), NFC(nf_seq_lost_records),
    NFC(nf_seq_lost_packets), NFC(nf_seq_late_packets), NFC(nf_seq_recovered), NFC(nf_seq_resets),
    NFC(nf_malformed_short_header), NFC(nf_malformed_v5_count), NFC(nf_malformed_v5_length),
    NFC(nf_malformed_ipfix_length), NFC(nf_malformed_set_length), NFC(nf_malformed_template_id),
    NFC(nf_malformed_zero_field_template), NFC(nf_malformed_field_count), NFC(nf_malformed_options_length),
    NFC(nf_malformed_scope), NFC(nf_malformed_varlen),
    NFCC(nf_templates_learned), NFCC(nf_templates_refreshed), NFCC(nf_templates_redefined),
    NFCC(nf_templates_withdrawn), NFCC(nf_templates_withdraw_unknown), NFCC(nf_templates_expired),
    NFCC(nf_templates_evicted_exporter_limit), NFCC(nf_templates_evicted_total_limit),
    NFCC(nf_templates_evicted_with_exporter), NFCC(nf_templates_refused_too_many_fields),
    NFCC(nf_templates_refused_record_length), NFCC(nf_templates_imported), NFCC(nf_templates_import_skipped),
    NFCC(nf_exporters_created), NFCC(nf_exporters_evicted), NFCC(nf_domains_evicted), NFCC(nf_pending_sets_held),
    NFCC(nf_pending_sets_decoded), NFCC(nf_pending_dropped_expired), NFCC(nf_pending_dropped_overflow),
    NFCC(nf_pending_dropped_too_big), NFCC(nf_pending_dropped_exporter_gone),
};

void flow_write_counters(const char *path, struct worker *workers, unsigned n, const struct flow_checks *fc)
{
    if (!path[0])
        return;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    /* Counters are read while the workers write them: each is one aligned
     * 64-bit load, so a value may be a moment old but never torn. */
    fputs("{\"totals\":{", f);
    for (size_t k = 0; k < sizeof nf_counter_fields / sizeof nf_counter_fields[0]; k++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < n; i++)
            if (workers[i].flow.dec) {
                const char *base = (const char *)nf_decoder_counters(workers[i].flow.dec);
                sum += __atomic_load_n((const uint64_t *)(const void *)(base + nf_counter_fields[k].off),
                                       __ATOMIC_RELAXED);
            }
        fprintf(f, "%s\"%s\":%" PRIu64, k ? "," : "", nf_counter_fields[k].name, sum);
    }
    fputs("},\"workers\":[", f);
    static struct nf_exporter_stats snap[FLOW_EXPORTERS_SHOWN];
    for (unsigned i = 0; i < n; i++) {
        struct flow_worker *fw = &workers[i].flow;
        uint32_t k = 0;
        /* copy the worker's snapshot; retry (a few times) if it was
         * rewriting it meanwhile */
        for (int tries = 0; fw->exporters && tries < 4; tries++) {
            uint32_t s0 = __atomic_load_n(&fw->exporters_seq, __ATOMIC_ACQUIRE);
            if (s0 & 1)
                continue;
            k = __atomic_load_n(&fw->n_exporters, __ATOMIC_RELAXED);
            memcpy(snap, fw->exporters, k * sizeof *snap);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(&fw->exporters_seq, __ATOMIC_ACQUIRE) == s0)
                break;
            k = 0;
        }
        fprintf(f, "%s{\"worker\":%u,\"exporters\":[", i ? "," : "", i);
        for (uint32_t e = 0; e < k; e++) {
            const struct nf_exporter_stats *x = &snap[e];
            char addr[64] = "";
            if (x->addr.family == 4 || x->addr.family == 6)
                inet_ntop(x->addr.family == 4 ? AF_INET : AF_INET6, x->addr.addr, addr, sizeof addr);
            fprintf(f,
                    "%s{\"address\":\"%s\",\"port\":%u,\"packets\":%" PRIu64 ",\"packets_v5\":%" PRIu64
                    ",\"packets_v9\":%" PRIu64 ",\"packets_ipfix\":%" PRIu64 ",\"records\":%" PRIu64
                    ",\"records_v5\":%" PRIu64 ",\"records_v9\":%" PRIu64 ",\"records_ipfix\":%" PRIu64
                    ",\"malformed\":%" PRIu64 ",\"seq_gaps\":%" PRIu64 ",\"lost_records\":%" PRIu64
                    ",\"lost_packets\":%" PRIu64 ",\"templates\":%u}",
                    e ? "," : "", addr, x->port, x->packets, x->packets_by_version[0], x->packets_by_version[1],
                    x->packets_by_version[2], x->records, x->records_by_version[0], x->records_by_version[1],
                    x->records_by_version[2], x->malformed, x->seq_gaps, x->lost_records, x->lost_packets,
                    x->templates);
        }
        fputs("]}", f);
    }
    fputs("],\"checks\":", f);
    if (fc)
        flow_checks_print_json(fc, f);
    else
        fputs("null", f);
    fputs("}\n", f);
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        remove(tmp);
}
