#include "dataplane/worker.h"

#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "dataplane/pkt_decode.h"
#include "dataplane/reasm.h"
#include "dataplane/senders.h"
#include "dataplane/stats.h"
#include "dataplane/tap.h"
#include "engine/syslog.h"

void worker_clock_init(struct worker_clock *clk)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    clk->tsc0 = rte_rdtsc();
    clk->unix_ns0 = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    clk->ns_per_tsc = 1e9 / (double)rte_get_tsc_hz();
}

int64_t worker_clock_ns(const struct worker_clock *clk, uint64_t tsc)
{
    return clk->unix_ns0 + (int64_t)((double)(tsc - clk->tsc0) * clk->ns_per_tsc);
}

int worker_init(struct worker *w, unsigned index, unsigned lcore, const struct worker_env *env,
                struct worker_counters *c)
{
    int socket = (int)rte_lcore_to_socket_id(lcore);
    memset(w, 0, sizeof *w);
    w->index = index;
    w->lcore = lcore;
    w->burst = env->burst;
    w->listen = env->listen;
    w->senders = env->senders;
    w->syslog_max_message = env->syslog_max_message;
    w->tap = env->tap;
    w->clock = env->clock;
    w->stop = env->stop;
    w->c = c;
    w->linear = rte_malloc_socket("vigil_linear", WORKER_LINEAR_MAX, 64, socket);
    w->reasm = reasm_create(&env->reasm, socket);
    return w->linear && w->reasm ? 0 : -1;
}

void worker_fini(struct worker *w)
{
    if (w->reasm)
        reasm_destroy(w->reasm);
    rte_free(w->linear);
    w->reasm = NULL;
    w->linear = NULL;
}

static void handle_syslog(struct worker *w, const struct pkt_info *pi, const uint8_t *frame,
                          int64_t now_ns)
{
    struct worker_counters *c = w->c;
    c->syslog_datagrams++;
    uint32_t len = pi->payload_len;
    uint32_t extra = 0;
    if (len > w->syslog_max_message) {
        len = w->syslog_max_message;
        extra = VIGIL_ANOM_TRUNCATED;
    }
    struct syslog_ctx ctx = {.received_ns = now_ns, .zone = senders_zone(w->senders, &pi->src)};
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
    if (w->tap)
        tap_write(w->tap, w->index, &ev, len, c);
}

/* A complete UDP datagram: is it for a listener, and from a sender we accept? */
static void handle_datagram(struct worker *w, const struct pkt_info *pi, const uint8_t *frame,
                            int64_t now_ns)
{
    w->c->udp_datagrams++;
    uint8_t kind = w->listen[pi->dst_port];
    if (kind == LISTEN_NONE) {
        w->c->drop_unknown_port++;
        return;
    }
    if (!senders_allowed(w->senders, &pi->src)) {
        w->c->drop_acl++;
        return;
    }
    handle_syslog(w, pi, frame, now_ns);
}

/* Returns the mbuf the caller must free (NULL when reassembly kept it). */
static struct rte_mbuf *handle_frame(struct worker *w, struct rte_mbuf *m, uint64_t tsc, int64_t now_ns)
{
    struct worker_counters *c = w->c;
    uint32_t len = rte_pktmbuf_pkt_len(m);
    c->rx_packets++;
    c->rx_bytes += len;

    const uint8_t *data;
    if (m->nb_segs == 1)
        data = rte_pktmbuf_mtod(m, const uint8_t *);
    else if (len <= WORKER_LINEAR_MAX)
        data = rte_pktmbuf_read(m, 0, len, w->linear);
    else
        data = NULL;
    if (!data) {
        c->malformed[PKT_DROP_L2_TRUNCATED]++;
        return m;
    }

    struct pkt_info pi;
    enum pkt_kind kind = pkt_decode(data, len, &pi);
    c->l2_vlan += pi.vlan_tags == 1;
    c->l2_qinq += pi.vlan_tags == 2;
    c->ipv4_packets += pi.ip_version == 4;
    c->ipv6_packets += pi.ip_version == 6;

    if (kind == PKT_KIND_UDP) {
        handle_datagram(w, &pi, data, now_ns);
        return m;
    }
    if (kind == PKT_KIND_DROP) {
        c->malformed[pi.drop_reason]++;
        return m;
    }

    /* A fragment: reassembly owns it from here. */
    struct rte_mbuf *whole = reasm_feed(w->reasm, m, &pi, tsc, c);
    if (!whole)
        return NULL;
    len = rte_pktmbuf_pkt_len(whole);
    data = len <= WORKER_LINEAR_MAX ? rte_pktmbuf_read(whole, 0, len, w->linear) : NULL;
    if (!data) {
        c->frag_linearize_failed++;
        return whole;
    }
    if (pkt_decode(data, len, &pi) != PKT_KIND_UDP) {
        c->malformed[pi.drop_reason != PKT_OK ? pi.drop_reason : PKT_DROP_FRAG_BAD]++;
        return whole;
    }
    handle_datagram(w, &pi, data, now_ns);
    return whole;
}

void worker_handle_burst(struct worker *w, struct rte_mbuf **pkts, uint16_t n, uint64_t now_tsc)
{
    struct rte_mbuf *to_free[WORKER_MAX_BURST];
    unsigned nf = 0;
    int64_t now_ns = worker_clock_ns(&w->clock, now_tsc);
    for (uint16_t i = 0; i < n; i++) {
        if (i + 1 < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
        struct rte_mbuf *done = handle_frame(w, pkts[i], now_tsc, now_ns);
        if (done)
            to_free[nf++] = done;
    }
    if (nf)
        rte_pktmbuf_free_bulk(to_free, nf);
    reasm_tick(w->reasm, now_tsc, w->c);
}

int worker_loop(void *arg)
{
    struct worker *w = arg;
    struct rte_mbuf *pkts[WORKER_MAX_BURST];
    struct worker_counters *c = w->c;
    while (!*w->stop) {
        uint64_t tsc = rte_rdtsc();
        int got = 0;
        for (unsigned r = 0; r < w->n_rx; r++) {
            uint16_t n = rte_eth_rx_burst(w->rx[r].port_id, w->rx[r].queue, pkts, w->burst);
            if (n == 0) {
                c->idle_polls++;
                continue;
            }
            got = 1;
            c->rx_bursts++;
            c->last_rx_tsc = tsc;
            worker_handle_burst(w, pkts, n, tsc);
        }
        if (!got) {
            /* Expire fragments even when no traffic arrives. */
            reasm_tick(w->reasm, tsc, c);
            rte_pause();
        }
    }
    if (w->tap)
        tap_flush(w->tap, w->index);
    return 0;
}
