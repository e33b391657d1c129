/* Fragment reassembly on rte_ip_frag: see reasm.h.
 *
 * What DPDK (22.11) does with bad fragment sets, which the counters reflect:
 * - a duplicate first or last fragment, or a ninth fragment, frees every
 *   fragment held for that datagram at once;
 * - a duplicate middle fragment or overlapping fragments make the byte count
 *   exceed (or mis-match) the datagram length, so the datagram is freed when
 *   its last byte count is reached, or times out if the count never matches;
 * - a full table (max_flows datagrams in progress, none timed out) drops the
 *   new fragment.
 * All of these go through the death row, so frag_dropped counts them all.
 */
/* rte_ip_frag_table_del_expired_entries() is still marked experimental. */
#define ALLOW_EXPERIMENTAL_API 1

#include "dataplane/reasm.h"

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "dataplane/stats.h"

#define IPV6_FRAG_HDR_LEN 8

/* Hash slots per datagram in progress: rte_ip_frag uses two hash choices of
 * bucket_entries ways, so a table this sparse practically never refuses a
 * datagram for a collision before max_flows is reached. */
#define REASM_SLOTS_PER_FLOW 4
#define REASM_BUCKET_ENTRIES 8
#define REASM_MAX_FLOWS      (1u << 22)

/* One reassemble call puts at most the fragments of a stale entry it reuses
 * plus those of the datagram it abandons plus the new mbuf on the death row;
 * flushing with this much room left means the row never overflows. */
#define REASM_DR_HEADROOM (2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1))
#define REASM_PREFETCH    3

struct reasm {
    struct rte_ip_frag_tbl *tbl;
    struct rte_mempool *pool;      /* the only mbufs the table ever holds */
    struct rte_ip_frag_death_row dr;
};

static unsigned pool_seq;

struct reasm *reasm_create(const struct reasm_config *cfg, int socket_id)
{
    if (!cfg || cfg->max_flows == 0 || cfg->max_flows > REASM_MAX_FLOWS || cfg->timeout_ms == 0) {
        rte_errno = EINVAL;
        return NULL;
    }
    struct reasm *r = rte_zmalloc_socket("vigil_reasm", sizeof *r, RTE_CACHE_LINE_SIZE, socket_id);
    if (!r) {
        rte_errno = ENOMEM;
        return NULL;
    }
    uint32_t slots = cfg->max_flows * REASM_SLOTS_PER_FLOW;
    uint32_t bucket_num = rte_align32pow2((slots + REASM_BUCKET_ENTRIES - 1) / REASM_BUCKET_ENTRIES);
    uint64_t max_cycles = (rte_get_tsc_hz() + 999) / 1000 * cfg->timeout_ms;
    r->tbl = rte_ip_frag_table_create(bucket_num, REASM_BUCKET_ENTRIES, cfg->max_flows, max_cycles,
                                      socket_id);
    uint32_t n_mbufs = cfg->max_fragments ? cfg->max_fragments : cfg->max_flows * 4;
    char name[RTE_MEMPOOL_NAMESIZE];
    snprintf(name, sizeof name, "vigil_reasm_%u", __atomic_fetch_add(&pool_seq, 1, __ATOMIC_RELAXED));
    /* No per-lcore cache: reasm_held() is exact and nothing hides in a cache. */
    r->pool = rte_pktmbuf_pool_create(name, n_mbufs, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket_id);
    if (!r->tbl || !r->pool) {
        reasm_destroy(r);
        rte_errno = ENOMEM;
        return NULL;
    }
    return r;
}

unsigned reasm_held(const struct reasm *r)
{
    return rte_mempool_in_use_count(r->pool);
}

void reasm_destroy(struct reasm *r)
{
    if (!r)
        return;
    rte_ip_frag_free_death_row(&r->dr, 0);
    if (r->tbl)
        rte_ip_frag_table_destroy(r->tbl);   /* frees the mbufs still held */
    rte_mempool_free(r->pool);
    rte_free(r);
}

static void flush_death_row(struct reasm *r, struct worker_counters *c)
{
    if (r->dr.cnt == 0)
        return;
    /* One entry is one fragment except after a failed rebuild (a hole found
     * only when all bytes were in), where a partly chained set counts once. */
    c->frag_dropped += r->dr.cnt;
    rte_ip_frag_free_death_row(&r->dr, REASM_PREFETCH);
}

static void drop_now(struct rte_mbuf *m, struct worker_counters *c)
{
    c->frag_dropped++;
    rte_pktmbuf_free(m);
}

struct rte_mbuf *reasm_feed(struct reasm *r, const struct rte_mbuf *rx, const struct pkt_info *pi,
                            uint64_t now_tsc, struct worker_counters *c)
{
    if (r->dr.cnt > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN - REASM_DR_HEADROOM)
        flush_death_row(r, c);

    if (pi->kind == PKT_KIND_IPV4_FRAG)
        c->frag_ipv4_fragments++;
    else if (pi->kind == PKT_KIND_IPV6_FRAG)
        c->frag_ipv6_fragments++;
    struct rte_mbuf *m = rte_pktmbuf_copy(rx, r->pool, 0, UINT32_MAX);
    if (!m) {
        c->frag_no_mbuf++;
        c->frag_dropped++;
        return NULL;
    }
    struct rte_mbuf *out;
    m->l2_len = pi->l2_len;
    if (pi->kind == PKT_KIND_IPV4_FRAG) {
        m->l3_len = pi->l3_len;
        /* rte_ip_frag reads the headers through plain pointers. */
        if (rte_pktmbuf_data_len(m) < (uint32_t)pi->l2_len + pi->l3_len) {
            drop_now(m, c);
            return NULL;
        }
        struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, pi->l2_len);
        out = rte_ipv4_frag_reassemble_packet(r->tbl, &r->dr, m, now_tsc, ip);
        if (out) {
            /* DPDK rewrites total length and flags and leaves the checksum 0
             * (for tx offload); pkt_decode verifies it, so restore it. */
            ip = rte_pktmbuf_mtod_offset(out, struct rte_ipv4_hdr *, out->l2_len);
            ip->hdr_checksum = 0;
            ip->hdr_checksum = rte_ipv4_cksum(ip);
        }
    } else if (pi->kind == PKT_KIND_IPV6_FRAG) {
        /* DPDK's l3_len includes the fragment header (see pkt_decode.h). */
        m->l3_len = pi->l3_len + IPV6_FRAG_HDR_LEN;
        if (rte_pktmbuf_data_len(m) < (uint32_t)pi->frag_hdr_off + IPV6_FRAG_HDR_LEN ||
            pi->frag_hdr_off != pi->l2_len + sizeof(struct rte_ipv6_hdr)) {
            drop_now(m, c);
            return NULL;
        }
        struct rte_ipv6_hdr *ip = rte_pktmbuf_mtod_offset(m, struct rte_ipv6_hdr *, pi->l2_len);
        struct rte_ipv6_fragment_ext *fh =
            rte_pktmbuf_mtod_offset(m, struct rte_ipv6_fragment_ext *, pi->frag_hdr_off);
        out = rte_ipv6_frag_reassemble_packet(r->tbl, &r->dr, m, now_tsc, ip, fh);
    } else {
        drop_now(m, c);   /* not a fragment: a caller bug, but never a leak */
        return NULL;
    }
    if (out)
        c->frag_reassembled++;
    return out;
}

void reasm_tick(struct reasm *r, uint64_t now_tsc, struct worker_counters *c)
{
    /* Expiry stops by itself when the death row is full, so one tick frees at
     * most one death row; what is left expires on the next tick. */
    flush_death_row(r, c);
    rte_ip_frag_table_del_expired_entries(r->tbl, &r->dr, now_tsc);
    c->frag_timeout += r->dr.cnt;
    flush_death_row(r, c);
}

void reasm_drain(struct reasm *r, struct worker_counters *c)
{
    /* Far enough in the future that every entry is past its timeout. */
    uint64_t later = rte_rdtsc() + (uint64_t)3600 * rte_get_tsc_hz();
    flush_death_row(r, c);
    while (reasm_held(r) > 0) {
        rte_ip_frag_table_del_expired_entries(r->tbl, &r->dr, later);
        if (r->dr.cnt == 0)
            break;
        c->frag_timeout += r->dr.cnt;
        flush_death_row(r, c);
    }
}
