#include "dataplane/worker.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/pkt_decode.h"
#include "dataplane/reasm.h"
#include "dataplane/senders.h"
#include "dataplane/signal_ring.h"
#include "dataplane/stats.h"
#include "dataplane/tap.h"
#include "engine/event_json.h"
#include "engine/ruleset.h"
#include "engine/syslog.h"

int worker_init(struct worker *w, unsigned index, unsigned lcore, const struct worker_env *env,
                struct worker_counters *c)
{
    int socket = (int)rte_lcore_to_socket_id(lcore);
    memset(w, 0, sizeof *w);
    w->index = index;
    w->lcore = lcore;
    w->env = env;
    w->c = c;
    w->linear = rte_malloc_socket("vigil_linear", WORKER_LINEAR_MAX, 64, socket);
    w->reasm = reasm_create(&env->reasm, socket);
    w->signals = rte_malloc_socket("vigil_signals", WORKER_MAX_SIGNALS * sizeof *w->signals, 64, socket);
    if (env->tap)
        w->tap_extra = rte_malloc_socket("vigil_tap_extra", WORKER_TAP_EXTRA, 64, socket);
    if (env->nf && flow_worker_init(&w->flow, env->nf, env->nf_persist))
        return -1;
    return w->linear && w->reasm && w->signals && (!env->tap || w->tap_extra) ? 0 : -1;
}

void worker_drain(struct worker *w)
{
    if (w->reasm)
        reasm_drain(w->reasm, w->c);
}

void worker_fini(struct worker *w)
{
    if (w->reasm)
        reasm_destroy(w->reasm);
    rte_free(w->linear);
    rte_free(w->signals);
    rte_free(w->tap_extra);
    flow_worker_fini(&w->flow);
    w->reasm = NULL;
    w->linear = NULL;
    w->signals = NULL;
    w->tap_extra = NULL;
}

/* Parses and checks one event with the burst's ruleset; signals go to
 * vigil-cp's ring (a full ring is a counted drop, never a wait) and to the
 * debug tap when it is on. */
static void run_rules(struct worker *w, const struct vigil_event *ev, uint32_t payload_len)
{
    struct worker_counters *c = w->c;
    const struct ruleset *rs = w->rs;
    struct tap *tap = w->env->tap;
    unsigned n = ruleset_process(rs, w->index, ev, w->signals, WORKER_MAX_SIGNALS);
    const struct event_fields *ef = ruleset_last_fields(rs, w->index);
    c->events_parsed += ef->parser >= 0;
    c->events_unparsed += ef->parser < 0;
    c->signals += n;
    if (n && w->sigring)
        c->signals_dropped_ring_full += n - signal_ring_enqueue(w->sigring, w->signals, n);
    if (!tap)
        return;
    size_t extra = 0;
    if (ef->parser >= 0) {
        const char *name = parser_set_name(rs->parsers, (unsigned)ef->parser);
        int k = snprintf(w->tap_extra, WORKER_TAP_EXTRA, "\"vigil.parser\":\"%s\"", name);
        size_t f = event_fields_json(ef, rs->reg, w->tap_extra + k + 1, WORKER_TAP_EXTRA - (size_t)k - 1);
        extra = (size_t)k;
        if (f != (size_t)-1 && f > 0) {
            w->tap_extra[k] = ',';
            extra += 1 + f;
        }
    }
    tap_write(tap, w->index, ev, payload_len, w->tap_extra, extra, c);
    for (unsigned i = 0; i < n; i++)
        tap_write_signal(tap, w->index, &w->signals[i], detect_rule(rs->rules, w->signals[i].rule_index), c);
}

static void handle_syslog(struct worker *w, const struct pkt_info *pi, const uint8_t *frame,
                          const struct tz_zone *zone)
{
    struct worker_counters *c = w->c;
    c->syslog_datagrams++;
    uint32_t len = pi->payload_len;
    uint32_t extra = 0;
    if (len > w->env->syslog_max_message) {
        len = w->env->syslog_max_message;
        extra = VIGIL_ANOM_TRUNCATED;
    }
    struct syslog_ctx ctx = {.received_ns = w->now_ns, .zone = zone};
    struct vigil_event ev;
    if (syslog_parse((const char *)frame + pi->payload_off, len, &ctx, &ev) != SYSLOG_OK) {
        c->syslog_empty++;
        return;
    }
    ev.observer_ip = pi->src;
    ev.observer_port = pi->src_port;
    ev.anomalies |= extra;
    c->syslog_events++;
    c->syslog_rfc5424 += ev.format == VIGIL_FMT_RFC5424;
    c->syslog_rfc3164 += ev.format == VIGIL_FMT_RFC3164;
    c->syslog_no_header += ev.format == VIGIL_FMT_NONE;
    for (uint32_t a = ev.anomalies; a; a &= a - 1)
        c->syslog_anomaly[__builtin_ctz(a)]++;
    if (w->rs)
        run_rules(w, &ev, len);
    else if (w->env->tap)
        tap_write(w->env->tap, w->index, &ev, len, NULL, 0, c);
}

/* A complete UDP datagram: is it for a listener, and from a sender we accept? */
static void handle_datagram(struct worker *w, const struct pkt_info *pi, const uint8_t *frame)
{
    w->c->udp_datagrams++;
    uint8_t kind = w->env->listen[pi->dst_port];
    if (kind == LISTEN_NONE) {
        w->c->drop_unknown_port++;
        return;
    }
    if (kind == LISTEN_NETFLOW) {
        if (!senders_allowed(w->env->exporters, &pi->src)) {
            w->c->drop_acl++;
            return;
        }
        flow_handle_datagram(w, pi, frame + pi->payload_off, pi->payload_len);
        return;
    }
    const struct tz_zone *zone;
    if (!senders_lookup(w->env->senders, &pi->src, &zone)) {
        w->c->drop_acl++;
        return;
    }
    handle_syslog(w, pi, frame, zone);
}

/* A fragment: reassembly copies it into its own pool, so m stays the
 * caller's to free. */
static void handle_fragment(struct worker *w, const struct rte_mbuf *m, struct pkt_info *pi, uint64_t tsc)
{
    struct worker_counters *c = w->c;
    /* The sender is in every fragment: refuse strangers before they can
     * occupy reassembly (a syslog sender or a NetFlow exporter). */
    if (!senders_allowed(w->env->senders, &pi->src) &&
        !(w->env->exporters && senders_allowed(w->env->exporters, &pi->src))) {
        c->drop_acl_fragments++;
        return;
    }
    struct rte_mbuf *whole = reasm_feed(w->reasm, m, pi, tsc, c);
    if (!whole)
        return;
    /* At most 65535 bytes of IP plus L2: always fits the linear buffer. */
    uint32_t len = rte_pktmbuf_pkt_len(whole);
    const uint8_t *data = len <= WORKER_LINEAR_MAX ? rte_pktmbuf_read(whole, 0, len, w->linear) : NULL;
    if (!data)
        c->malformed[PKT_DROP_FRAG_BAD]++;
    else if (pkt_decode(data, len, pi) != PKT_KIND_UDP)
        c->malformed[pi->drop_reason != PKT_OK ? pi->drop_reason : PKT_DROP_FRAG_BAD]++;
    else
        handle_datagram(w, pi, data);
    rte_pktmbuf_free(whole);
}

static void handle_frame(struct worker *w, struct rte_mbuf *m, uint64_t tsc)
{
    struct worker_counters *c = w->c;
    uint32_t len = rte_pktmbuf_pkt_len(m);
    c->rx_packets++;
    c->rx_bytes += len;

    /* Multi-segment frames (jumbo with scatter) are read into the linear
     * buffer; one longer than any IP datagram cannot be valid. */
    const uint8_t *data;
    if (m->nb_segs == 1)
        data = rte_pktmbuf_mtod(m, const uint8_t *);
    else if (len <= WORKER_LINEAR_MAX)
        data = rte_pktmbuf_read(m, 0, len, w->linear);
    else
        data = NULL;
    if (!data) {
        c->malformed[PKT_DROP_L2_TRUNCATED]++;
        return;
    }

    struct pkt_info pi;
    enum pkt_kind kind = pkt_decode(data, len, &pi);
    c->l2_vlan += pi.vlan_tags == 1;
    c->l2_qinq += pi.vlan_tags == 2;
    c->ipv4_packets += pi.ip_version == 4;
    c->ipv6_packets += pi.ip_version == 6;
    if (kind == PKT_KIND_UDP)
        handle_datagram(w, &pi, data);
    else if (kind == PKT_KIND_DROP)
        c->malformed[pi.drop_reason]++;
    else
        handle_fragment(w, m, &pi, tsc);
}

/* NetFlow housekeeping once a second: after a burst (a busy worker has no
 * quiet moments) or in a quiet moment. */
static void flow_tick(struct worker *w, int64_t now_ns)
{
    if (!w->env->nf || now_ns < w->next_flow_tick_ns)
        return;
    flow_worker_tick(w, now_ns);
    w->next_flow_tick_ns = now_ns + 1000000000;
}

void worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, uint16_t n, uint64_t now_tsc)
{
    /* One clock read and one ruleset per burst: a swap takes effect between
     * bursts, and the vDSO clock follows NTP without a syscall. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    w->now_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    w->rs = w->env->ruleset ? __atomic_load_n(w->env->ruleset, __ATOMIC_ACQUIRE) : NULL;
    w->fc = w->env->flow ? __atomic_load_n(w->env->flow, __ATOMIC_ACQUIRE) : NULL;
    for (uint16_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            /* the whole of the next frame (up to 512 bytes): parse and
             * detect read every byte of a message, not just its header */
            const char *d = rte_pktmbuf_mtod(pkts[i + 1], const char *);
            uint32_t dl = rte_pktmbuf_data_len(pkts[i + 1]);
            for (uint32_t o = 0; o < dl && o < 512; o += 64)
                rte_prefetch0(d + o);
        }
        if (i + 2 < n)
            rte_prefetch0(pkts[i + 2]);
        handle_frame(w, pkts[i], now_tsc);
    }
    rte_pktmbuf_free_bulk(pkts, n);
    reasm_tick(w->reasm, now_tsc, w->c);
    flow_tick(w, w->now_ns);
    w->rs = NULL;
    w->fc = NULL;
}

int worker_loop(void *arg)
{
    struct worker *w = arg;
    const struct worker_env *env = w->env;
    struct rte_mbuf *pkts[WORKER_MAX_BURST];
    struct worker_counters *c = w->c;
    if (env->qs) {
        rte_rcu_qsbr_thread_register(env->qs, w->index);
        rte_rcu_qsbr_thread_online(env->qs, w->index);
    }
    while (!*env->stop) {
        uint64_t tsc = rte_rdtsc();
        int got = 0;
        for (unsigned r = 0; r < w->n_rx; r++) {
            uint16_t n = rte_eth_rx_burst(w->rx[r].port_id, w->rx[r].queue, pkts, env->burst);
            if (n == 0) {
                c->idle_polls++;
                continue;
            }
            got = 1;
            c->rx_bursts++;
            c->last_rx_tsc = tsc;
            worker_handle_burst(w, pkts, n, tsc);
        }
        if (env->qs)
            rte_rcu_qsbr_quiescent(env->qs, w->index);
        if (!got) {
            /* Quiet moment: expire fragments, templates and held NetFlow
             * sets, and let the tap show what it holds. */
            reasm_tick(w->reasm, tsc, c);
            if (env->nf) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                flow_tick(w, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
            }
            if (env->tap)
                tap_flush(env->tap, w->index);
            rte_pause();
        }
    }
    if (env->qs) {
        rte_rcu_qsbr_thread_offline(env->qs, w->index);
        rte_rcu_qsbr_thread_unregister(env->qs, w->index);
    }
    if (env->tap)
        tap_flush(env->tap, w->index);
    return 0;
}
