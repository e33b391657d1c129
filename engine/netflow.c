/* NetFlow v5 / v9 / IPFIX decoder.
 *
 * Reading rules that keep hostile input harmless: every length is compared
 * with the bytes left (as a subtraction of offsets that are already known to
 * be in range, so nothing can wrap), every loop advances by at least one
 * byte per iteration or is bounded by a count checked against the bytes
 * left, and a set that turns out malformed is abandoned at that point (its
 * length still delimits the next set, so the rest of the packet is read).
 *
 * The record path is built for throughput: a data set is decoded with the
 * template's compiled ops (nf_template_cache.h) into a prototype record that
 * carries everything common to the set (exporter, version, export time,
 * domain sampling), so per record the work is one struct copy, one load and
 * store per mapped field, and the time conversions.
 */
#include "engine/netflow.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/bytes.h"

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS 1000000LL

#define V5_HDR 24
#define V5_REC 48
#define V5_MAX_COUNT 30
#define V9_HDR 20
#define IPFIX_HDR 16
#define NTP_UNIX_OFFSET 2208988800ULL     /* seconds from 1900 to 1970 */
/* scratch slots of a record: enough for a flow's or an options record's */
#define SCRATCH_SLOTS ((int)NF_O__COUNT > (int)NF_X__COUNT ? (int)NF_O__COUNT : (int)NF_X__COUNT)

/* Sequence windows.  Ahead: a jump up to this far is loss; beyond it, an
 * exporter restart.  Behind: reordering is short-range, so only a few
 * packets' worth counts as late; anything further back is a restart too
 * (treating it as late would freeze the expected number after a reset). */
#define SEQ_AHEAD_PACKETS (1u << 16)
#define SEQ_BEHIND_PACKETS 64u
#define SEQ_AHEAD_RECORDS (1u << 24)
#define SEQ_BEHIND_RECORDS (1u << 14)

struct nf_decoder {
    struct nf_config cfg;
    struct nf_counters ctr;
    struct nf_template_cache *cache;
    struct nf_field *fields;     /* max_fields_per_template: the template being read */
};

/* What one packet's sets share. */
struct pkt_ctx {
    struct nf_decoder *d;
    struct nf_exporter *e;
    struct nf_domain *dom;
    struct nf_output *out;
    int64_t now_ns;
    int64_t export_ns;
    uint32_t uptime_ms;          /* v9 sysUptime */
    uint32_t domain;
    uint8_t version;
    bool malformed;              /* a set was abandoned */
    bool count_unknown;          /* a data set's records could not be counted (IPFIX seq) */
    uint32_t records;            /* data records (flow + options) of this packet */
};

/* ---- byte access ------------------------------------------------------------ */

/* Big-endian unsigned integer of 1..8 bytes (reduced-size encoding included). */
static inline uint64_t load_be(const uint8_t *p, unsigned len)
{
    switch (len) {
    case 1:
        return p[0];
    case 2:
        return load_be16(p);
    case 4:
        return load_be32(p);
    case 8: {
        uint64_t v;
        memcpy(&v, p, 8);
        return __builtin_bswap64(v);
    }
    default: {
        uint64_t v = 0;
        for (unsigned i = 0; i < len; i++)
            v = v << 8 | p[i];
        return v;
    }
    }
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* ---- lifecycle ---------------------------------------------------------------- */

void nf_config_default(struct nf_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->cache.max_exporters = 1024;
    cfg->cache.max_domains_per_exporter = 8;
    cfg->cache.max_templates = 4096;
    cfg->cache.max_templates_per_exporter = 256;
    cfg->cache.max_fields_per_template = 256;
    cfg->cache.template_timeout_ns = 30LL * 60 * NS_PER_SEC;
    cfg->cache.pending_max_sets = 256;
    cfg->cache.pending_max_bytes = 1u << 20;
    cfg->cache.pending_timeout_ns = 10LL * NS_PER_SEC;
}

struct nf_decoder *nf_decoder_new(const struct nf_config *cfg)
{
    struct nf_decoder *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = *cfg;
    d->cache = nf_cache_new(&cfg->cache, &d->ctr.cache);
    d->fields = d->cache ? calloc(cfg->cache.max_fields_per_template, sizeof *d->fields) : NULL;
    if (!d->cache || !d->fields) {
        nf_decoder_free(d);
        return NULL;
    }
    return d;
}

void nf_decoder_free(struct nf_decoder *d)
{
    if (!d)
        return;
    nf_cache_free(d->cache);
    free(d->fields);
    free(d);
}

const struct nf_counters *nf_decoder_counters(const struct nf_decoder *d) { return &d->ctr; }
struct nf_template_cache *nf_decoder_cache(struct nf_decoder *d) { return d->cache; }

void nf_decoder_tick(struct nf_decoder *d, int64_t now_ns, uint32_t max_templates)
{
    nf_cache_sweep(d->cache, now_ns, max_templates);
}

/* ---- output ------------------------------------------------------------------- */

/* The next free record of out (flushing a full array when a flush is set),
 * or NULL when it is full and has no flush: the caller counts the drop. */
static inline struct nf_record *out_slot(struct nf_output *out)
{
    if (__builtin_expect(out->n >= out->cap, 0)) {
        if (!out->flush || !out->cap)
            return NULL;
        out->flush(out->ctx, out->recs, out->n);
        out->n = 0;
    }
    return &out->recs[out->n];
}

/* ---- sequence numbers ----------------------------------------------------------- */

enum seq_state { SEQ_RESYNC, SEQ_IN_ORDER, SEQ_LATE };

static enum seq_state seq_begin(struct nf_decoder *d, struct nf_exporter *e, struct nf_domain *dom,
                                uint32_t seq, bool packets)
{
    if (!dom->seq_synced)
        return SEQ_RESYNC;
    uint32_t ahead = seq - dom->next_seq;       /* modulo 2^32: wrap is just arithmetic */
    uint32_t behind = dom->next_seq - seq;
    if (ahead == 0)
        return SEQ_IN_ORDER;
    if (ahead <= (packets ? SEQ_AHEAD_PACKETS : SEQ_AHEAD_RECORDS)) {
        d->ctr.nf_seq_gaps++;
        e->st.seq_gaps++;
        if (packets) {
            d->ctr.nf_seq_lost_packets += ahead;
            e->st.lost_packets += ahead;
        } else {
            d->ctr.nf_seq_lost_records += ahead;
            e->st.lost_records += ahead;
        }
        dom->lost += ahead;
        return SEQ_IN_ORDER;
    }
    if (behind <= (packets ? SEQ_BEHIND_PACKETS : SEQ_BEHIND_RECORDS))
        return SEQ_LATE;
    d->ctr.nf_seq_resets++;
    e->st.seq_resets++;
    return SEQ_RESYNC;
}

static void seq_end(struct nf_decoder *d, struct nf_exporter *e, struct nf_domain *dom,
                    enum seq_state st, uint32_t seq, uint32_t advance, bool known)
{
    if (st == SEQ_LATE) {
        d->ctr.nf_seq_late_packets++;
        e->st.late_packets++;
        uint64_t back = known ? advance : 0;
        if (back > dom->lost)
            back = dom->lost;
        dom->lost -= back;
        d->ctr.nf_seq_recovered += back;
        e->st.recovered += back;
        return;     /* the expected number stays where the newest packet put it */
    }
    dom->next_seq = seq + advance;
    dom->seq_synced = known;
}

/* ---- times -------------------------------------------------------------------- */

/* Raw start/end value to UTC ns; false when it cannot be resolved. */
static inline bool resolve_time(uint8_t conv, uint64_t v, const struct pkt_ctx *pc, int64_t *out)
{
    switch (conv) {
    case NF_TIME_SYSUPTIME_MS:
        if (pc->version == 10) {
            /* IPFIX has no uptime in the header: relative to the exporter's
             * systemInitTimeMilliseconds, when an options record sent it. */
            if (!pc->dom->sys_init_ms || v > (uint64_t)1 << 40 ||
                pc->dom->sys_init_ms + v > (uint64_t)INT64_MAX / NS_PER_MS)
                return false;
            *out = (int64_t)(((uint64_t)pc->dom->sys_init_ms + v) * NS_PER_MS);
            return true;
        } else {
            /* v5/v9: header uptime and the field are the same 32-bit ms
             * clock; a small negative distance (flow ended after the header
             * was stamped) is real, so the difference is signed. */
            int32_t before = (int32_t)(pc->uptime_ms - (uint32_t)v);
            *out = pc->export_ns - (int64_t)before * NS_PER_MS;
            return true;
        }
    case NF_TIME_SEC:
        if (v > (uint64_t)INT64_MAX / NS_PER_SEC)
            return false;
        *out = (int64_t)(v * NS_PER_SEC);
        return true;
    case NF_TIME_MS:
        if (v > (uint64_t)INT64_MAX / NS_PER_MS)
            return false;
        *out = (int64_t)(v * NS_PER_MS);
        return true;
    case NF_TIME_NTP: {
        uint64_t sec = v >> 32, frac = v & 0xffffffffu;
        if (!v)
            return false;
        int64_t s = (int64_t)sec - (int64_t)NTP_UNIX_OFFSET;
        *out = s * NS_PER_SEC + (int64_t)((frac * (uint64_t)NS_PER_SEC) >> 32);
        return true;
    }
    case NF_TIME_DELTA_US:
        if (v > (uint64_t)1 << 50)
            return false;
        *out = pc->export_ns - (int64_t)(v * 1000);
        return true;
    default:
        return false;
    }
}

/* ---- records ------------------------------------------------------------------- */

static inline void apply_op(const struct nf_op *op, const uint8_t *s, uint8_t *rb, uint64_t *x)
{
    switch (op->kind) {
    case NF_OP_W8:
        rb[op->dst] = (uint8_t)load_be(s, op->len);
        break;
    case NF_OP_W16: {
        uint16_t v = (uint16_t)load_be(s, op->len);
        memcpy(rb + op->dst, &v, 2);
        break;
    }
    case NF_OP_W32: {
        uint32_t v = (uint32_t)load_be(s, op->len);
        memcpy(rb + op->dst, &v, 4);
        break;
    }
    case NF_OP_W64: {
        uint64_t v = load_be(s, op->len);
        memcpy(rb + op->dst, &v, 8);
        break;
    }
    case NF_OP_IP4: {
        struct vigil_ip *ip = (struct vigil_ip *)(rb + op->dst);
        ip->family = 4;
        memcpy(ip->addr, s, 4);
        break;
    }
    case NF_OP_IP6: {
        struct vigil_ip *ip = (struct vigil_ip *)(rb + op->dst);
        ip->family = 6;
        memcpy(ip->addr, s, 16);
        break;
    }
    case NF_OP_IP4_ALT:
    case NF_OP_IP6_ALT: {
        /* a second address family in the template: used when the first
         * one was absent or all zero */
        struct vigil_ip *ip = (struct vigil_ip *)(rb + op->dst);
        if (ip->family && !all_zero(ip->addr, 16))
            break;
        unsigned n = op->kind == NF_OP_IP4_ALT ? 4 : 16;
        memset(ip->addr, 0, 16);
        ip->family = (uint8_t)(n == 4 ? 4 : 6);
        memcpy(ip->addr, s, n);
        break;
    }
    case NF_OP_SCRATCH:
        x[op->dst] = load_be(s, op->len);
        break;
    case NF_OP_1_8:
        rb[op->dst] = s[0];
        break;
    case NF_OP_1_16: {
        uint16_t v = s[0];
        memcpy(rb + op->dst, &v, 2);
        break;
    }
    case NF_OP_2_16: {
        uint16_t v = load_be16(s);
        memcpy(rb + op->dst, &v, 2);
        break;
    }
    case NF_OP_2_32: {
        uint32_t v = load_be16(s);
        memcpy(rb + op->dst, &v, 4);
        break;
    }
    case NF_OP_4_32: {
        uint32_t v = load_be32(s);
        memcpy(rb + op->dst, &v, 4);
        break;
    }
    case NF_OP_4_64: {
        uint64_t v = load_be32(s);
        memcpy(rb + op->dst, &v, 8);
        break;
    }
    case NF_OP_8_64: {
        uint64_t v = load_be(s, 8);
        memcpy(rb + op->dst, &v, 8);
        break;
    }
    case NF_OP_1_X:
        x[op->dst] = s[0];
        break;
    case NF_OP_2_X:
        x[op->dst] = load_be16(s);
        break;
    case NF_OP_4_X:
        x[op->dst] = load_be32(s);
        break;
    case NF_OP_8_X:
        x[op->dst] = load_be(s, 8);
        break;
    default:
        break;
    }
}

static uint32_t sampler_interval(const struct nf_domain *dom, uint64_t id, uint32_t fallback)
{
    for (unsigned i = 0; i < dom->n_samplers; i++)
        if (dom->sampler_id[i] == id)
            return dom->sampler_interval[i];
    return fallback;
}

/* What every record of a flow template gets before its fields. */
static void flow_prototype(const struct pkt_ctx *pc, const struct nf_template *t,
                           const struct nf_source *src, struct nf_record *p)
{
    memset(p, 0, sizeof *p);
    p->export_ns = pc->export_ns;
    p->observer = src->addr;
    p->observer_port = src->port;
    p->version = pc->version;
    p->template_id = t->id;
    p->domain = pc->domain;
    p->present = t->present;
    if (!(t->present & NF_HAS_SAMPLING) && pc->dom->default_sampling) {
        p->sampling_interval = pc->dom->default_sampling;
        p->present |= NF_HAS_SAMPLING;
    }
}

/* Time conversions, reverse counters and sampler lookup of one record. */
static inline void flow_finish(const struct pkt_ctx *pc, const struct nf_template *t,
                               struct nf_record *r, const uint64_t *x)
{
    if (t->start_conv && resolve_time(t->start_conv, x[NF_X_START_RAW], pc, &r->start_ns))
        r->present |= NF_HAS_START;
    if (t->end_conv && resolve_time(t->end_conv, x[NF_X_END_RAW], pc, &r->end_ns))
        r->present |= NF_HAS_END;
    if (t->present & NF_HAS_REVERSE) {
        r->bytes += r->rev_bytes;
        r->packets += r->rev_packets;
    }
    if (t->sampler_lookup) {
        uint32_t v = sampler_interval(pc->dom, x[NF_X_SAMPLER_ID], r->sampling_interval);
        if (v) {
            r->sampling_interval = v;
            r->present |= NF_HAS_SAMPLING;
        }
    }
}

/* An options record: sampling rates and the IPFIX system init time. */
static void options_apply(struct pkt_ctx *pc, const struct nf_template *t, const uint64_t *x)
{
    struct nf_domain *dom = pc->dom;
    uint32_t have = t->opt_have;
    uint64_t interval = 0;
    if ((have & NF_OPT_HAVE(NF_O_INTERVAL)) && x[NF_O_INTERVAL])
        interval = x[NF_O_INTERVAL];
    else if ((have & NF_OPT_HAVE(NF_O_SIZE)) && (have & NF_OPT_HAVE(NF_O_POPULATION)) &&
             x[NF_O_SIZE] && x[NF_O_POPULATION] >= x[NF_O_SIZE])
        interval = x[NF_O_POPULATION] / x[NF_O_SIZE];   /* n-out-of-N: N/n */
    else if ((have & NF_OPT_HAVE(NF_O_PKT_INTERVAL)) && x[NF_O_PKT_INTERVAL])
        /* systematic count-based: interval selected, space skipped */
        interval = (x[NF_O_PKT_INTERVAL] + ((have & NF_OPT_HAVE(NF_O_PKT_SPACE))
                                                ? x[NF_O_PKT_SPACE] : 0)) / x[NF_O_PKT_INTERVAL];
    if (interval) {
        if (interval > UINT32_MAX)
            interval = UINT32_MAX;
        if (have & NF_OPT_HAVE(NF_O_SAMPLER_ID)) {
            uint64_t id = x[NF_O_SAMPLER_ID];
            unsigned i;
            for (i = 0; i < dom->n_samplers; i++)
                if (dom->sampler_id[i] == id)
                    break;
            if (i == dom->n_samplers) {
                if (dom->n_samplers < NF_SAMPLERS_PER_DOMAIN) {
                    dom->n_samplers++;
                } else {
                    i = dom->sampler_next;
                    dom->sampler_next = (uint8_t)((i + 1) % NF_SAMPLERS_PER_DOMAIN);
                }
                dom->sampler_id[i] = (uint32_t)id;
            }
            dom->sampler_interval[i] = (uint32_t)interval;
        } else {
            dom->default_sampling = (uint32_t)interval;
        }
        pc->d->ctr.nf_sampling_updates++;
    }
    if ((have & NF_OPT_HAVE(NF_O_SYSINIT_MS)) && x[NF_O_SYSINIT_MS] &&
        x[NF_O_SYSINIT_MS] < (uint64_t)INT64_MAX / NS_PER_MS)
        pc->dom->sys_init_ms = (int64_t)x[NF_O_SYSINIT_MS];
}

static void count_records(struct pkt_ctx *pc, const struct nf_template *t, uint32_t n)
{
    struct nf_counters *c = &pc->d->ctr;
    if (t->kind == NF_TPL_OPTIONS) {
        if (pc->version == 9)
            c->nf_options_records_v9 += n;
        else
            c->nf_options_records_ipfix += n;
        pc->e->st.options_records += n;
    } else {
        if (pc->version == 9)
            c->nf_records_v9 += n;
        else
            c->nf_records_ipfix += n;
        pc->e->st.records += n;
        pc->e->st.records_by_version[pc->version == 9 ? 1 : 2] += n;
    }
}

/* Fixed-length template: records at known offsets, trailing bytes shorter
 * than a record are padding.  Returns records decoded. */
static uint32_t decode_fixed(struct pkt_ctx *pc, const struct nf_template *t,
                             const struct nf_source *src, const uint8_t *b, uint32_t len)
{
    uint32_t rl = t->rec_len, n = len / rl;
    const struct nf_op *ops = t->ops;
    unsigned n_ops = t->n_ops;
    uint64_t x[SCRATCH_SLOTS];
    if (t->kind == NF_TPL_OPTIONS) {
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *rec = b + (size_t)i * rl;
            memset(x, 0, sizeof x);
            for (unsigned k = 0; k < n_ops; k++)
                apply_op(&ops[k], rec + ops[k].off, NULL, x);
            options_apply(pc, t, x);
        }
        return n;
    }
    struct nf_record proto;
    flow_prototype(pc, t, src, &proto);
    for (uint32_t i = 0; i < n; i++) {
        struct nf_record *r = out_slot(pc->out);
        if (!r) {
            pc->d->ctr.nf_records_dropped_output_full++;
            continue;
        }
        const uint8_t *rec = b + (size_t)i * rl;
        *r = proto;
        x[NF_X_START_RAW] = x[NF_X_END_RAW] = x[NF_X_SAMPLER_ID] = 0;
        for (unsigned k = 0; k < n_ops; k++)
            apply_op(&ops[k], rec + ops[k].off, (uint8_t *)r, x);
        flow_finish(pc, t, r, x);
        pc->out->n++;
    }
    return n;
}

/* Template with variable-length fields: each record is walked field by
 * field.  A record that runs past the set ends it: all-zero bytes there are
 * padding, anything else is malformed (counted).  Returns records decoded. */
static uint32_t decode_varlen(struct pkt_ctx *pc, const struct nf_template *t,
                              const struct nf_source *src, const uint8_t *b, uint32_t len)
{
    const uint8_t *p = b, *end = b + len;
    uint32_t n = 0;
    uint64_t x[SCRATCH_SLOTS];
    struct nf_record proto, scratch;
    if (t->kind == NF_TPL_DATA)
        flow_prototype(pc, t, src, &proto);
    while ((size_t)(end - p) >= t->rec_len) {
        const uint8_t *q = p;
        /* decoded in place when the output has room (the slot is only
         * taken once the record proved whole), else into scratch */
        struct nf_record *r = &scratch;
        bool to_out = false;
        if (t->kind == NF_TPL_DATA) {
            struct nf_record *o = out_slot(pc->out);
            if (o) {
                r = o;
                to_out = true;
            }
            *r = proto;
        }
        memset(x, 0, sizeof x);
        unsigned k = 0;
        bool bad = false;
        for (uint32_t i = 0; i < t->n_fields; i++) {
            uint32_t fl = t->fields[i].len;
            if (fl == NF_VARLEN) {
                if (q >= end) {
                    bad = true;
                    break;
                }
                fl = *q++;
                if (fl == 255) {
                    if (end - q < 2) {
                        bad = true;
                        break;
                    }
                    fl = load_be16(q);
                    q += 2;
                }
            }
            if ((size_t)(end - q) < fl) {
                bad = true;
                break;
            }
            for (; k < t->n_ops && t->ops[k].field == i; k++)
                apply_op(&t->ops[k], q, t->kind == NF_TPL_DATA ? (uint8_t *)r : NULL, x);
            q += fl;
        }
        if (bad) {
            if (!all_zero(p, (size_t)(end - p))) {
                pc->d->ctr.nf_malformed_varlen++;
                pc->malformed = true;
                pc->count_unknown = true;
            }
            break;
        }
        p = q;
        n++;
        if (t->kind == NF_TPL_OPTIONS) {
            options_apply(pc, t, x);
            continue;
        }
        flow_finish(pc, t, r, x);
        if (to_out)
            pc->out->n++;
        else
            pc->d->ctr.nf_records_dropped_output_full++;
    }
    return n;
}

static uint32_t decode_data(struct pkt_ctx *pc, const struct nf_template *t,
                            const struct nf_source *src, const uint8_t *b, uint32_t len)
{
    uint32_t n = t->varlen ? decode_varlen(pc, t, src, b, len) : decode_fixed(pc, t, src, b, len);
    count_records(pc, t, n);
    return n;
}

/* ---- held data sets ------------------------------------------------------------- */

struct drain_arg {
    struct pkt_ctx *pc;
    const struct nf_template *t;
    const struct nf_source *src;
};

/* A held set, decoded with the header context it arrived with. */
static void drain_one(void *arg, const struct nf_pending_ctx *ctx, const uint8_t *records,
                      uint32_t len)
{
    struct drain_arg *a = arg;
    struct pkt_ctx held = *a->pc;
    held.export_ns = ctx->export_ns;
    held.uptime_ms = ctx->sys_uptime_ms;
    held.malformed = false;
    decode_data(&held, a->t, a->src, records, len);
    if (held.malformed)
        a->pc->e->st.malformed++;
}

static void learned(struct pkt_ctx *pc, const struct nf_template *t, const struct nf_source *src)
{
    struct drain_arg a = {pc, t, src};
    nf_cache_pending_drain(pc->d->cache, t, pc->now_ns, drain_one, &a);
}

/* ---- template sets ---------------------------------------------------------------- */

static void set_malformed(struct pkt_ctx *pc, uint64_t *reason)
{
    (*reason)++;
    pc->malformed = true;
}

static void learn(struct pkt_ctx *pc, const struct nf_source *src, uint16_t id, uint8_t kind,
                  uint16_t n_scope, uint32_t n_fields)
{
    const struct nf_template *t;
    enum nf_learn_result r = nf_cache_learn(pc->d->cache, pc->e, pc->version, pc->domain, id, kind,
                                            n_scope, pc->d->fields, n_fields, pc->now_ns, &t);
    if (t && r <= NF_LEARN_REDEFINED)
        learned(pc, t, src);
}

/* v9 template flowset (id 0). */
static void v9_templates(struct pkt_ctx *pc, const struct nf_source *src, const uint8_t *b,
                         uint32_t len)
{
    struct nf_counters *c = &pc->d->ctr;
    uint32_t maxf = pc->d->cfg.cache.max_fields_per_template, off = 0;
    while (len - off >= 4) {
        if (all_zero(b + off, len - off))
            return;                                  /* padding */
        uint16_t id = load_be16(b + off), cnt = load_be16(b + off + 2);
        off += 4;
        if (cnt > (len - off) / 4) {
            set_malformed(pc, &c->nf_malformed_field_count);
            return;
        }
        const uint8_t *f = b + off;
        off += (uint32_t)cnt * 4;
        if (cnt == 0) {
            set_malformed(pc, &c->nf_malformed_zero_field_template);
            continue;
        }
        if (id < 256) {
            set_malformed(pc, &c->nf_malformed_template_id);
            continue;
        }
        if (cnt <= maxf)
            for (uint32_t i = 0; i < cnt; i++)
                pc->d->fields[i] = (struct nf_field){load_be16(f + 4 * i), load_be16(f + 4 * i + 2), 0};
        learn(pc, src, id, NF_TPL_DATA, 0, cnt);
    }
}

/* v9 options template flowset (id 1): scope and option lengths in bytes. */
static void v9_options(struct pkt_ctx *pc, const struct nf_source *src, const uint8_t *b,
                       uint32_t len)
{
    struct nf_counters *c = &pc->d->ctr;
    uint32_t maxf = pc->d->cfg.cache.max_fields_per_template, off = 0;
    while (len - off >= 6) {
        if (all_zero(b + off, len - off))
            return;
        uint16_t id = load_be16(b + off), scope_len = load_be16(b + off + 2), opt_len = load_be16(b + off + 4);
        off += 6;
        if (scope_len % 4 || opt_len % 4) {
            set_malformed(pc, &c->nf_malformed_options_length);
            return;
        }
        if ((uint32_t)scope_len + opt_len > len - off) {
            set_malformed(pc, &c->nf_malformed_field_count);
            return;
        }
        const uint8_t *f = b + off;
        uint32_t cnt = ((uint32_t)scope_len + opt_len) / 4;
        off += (uint32_t)scope_len + opt_len;
        if (cnt == 0) {
            set_malformed(pc, &c->nf_malformed_zero_field_template);
            continue;
        }
        if (id < 256) {
            set_malformed(pc, &c->nf_malformed_template_id);
            continue;
        }
        if (cnt <= maxf)
            for (uint32_t i = 0; i < cnt; i++)
                pc->d->fields[i] = (struct nf_field){load_be16(f + 4 * i), load_be16(f + 4 * i + 2), 0};
        learn(pc, src, id, NF_TPL_OPTIONS, (uint16_t)(scope_len / 4), cnt);
    }
}

/* IPFIX template set (2) or options template set (3), withdrawals included. */
static void ipfix_templates(struct pkt_ctx *pc, const struct nf_source *src, const uint8_t *b,
                            uint32_t len, bool options)
{
    struct nf_counters *c = &pc->d->ctr;
    uint32_t maxf = pc->d->cfg.cache.max_fields_per_template, off = 0;
    uint8_t kind = options ? NF_TPL_OPTIONS : NF_TPL_DATA;
    while (len - off >= 4) {
        if (all_zero(b + off, len - off))
            return;                                  /* padding */
        uint16_t id = load_be16(b + off), cnt = load_be16(b + off + 2);
        off += 4;
        if (cnt == 0) {
            /* withdrawal: of one template, or (id = set id) of all of this kind */
            if (id == (options ? 3 : 2))
                nf_cache_withdraw_all(pc->d->cache, pc->e, pc->version, pc->domain, kind);
            else if (id >= 256)
                nf_cache_withdraw(pc->d->cache, pc->e, pc->version, pc->domain, id);
            else
                set_malformed(pc, &c->nf_malformed_template_id);
            continue;
        }
        uint16_t scope = 0;
        if (options) {
            if (len - off < 2) {
                set_malformed(pc, &c->nf_malformed_field_count);
                return;
            }
            scope = load_be16(b + off);
            off += 2;
        }
        uint32_t i;
        for (i = 0; i < cnt; i++) {
            if (len - off < 4)
                break;
            uint16_t ie = load_be16(b + off), fl = load_be16(b + off + 2);
            uint32_t pen = 0;
            off += 4;
            if (ie & 0x8000) {
                if (len - off < 4)
                    break;
                pen = load_be32(b + off);
                off += 4;
                ie &= 0x7fff;
            }
            if (i < maxf)
                pc->d->fields[i] = (struct nf_field){ie, fl, pen};
        }
        if (i < cnt) {
            set_malformed(pc, &c->nf_malformed_field_count);
            return;
        }
        if (options && (scope == 0 || scope > cnt)) {
            set_malformed(pc, &c->nf_malformed_scope);
            continue;
        }
        if (id < 256) {
            set_malformed(pc, &c->nf_malformed_template_id);
            continue;
        }
        learn(pc, src, id, kind, scope, cnt);
    }
}

/* ---- sets --------------------------------------------------------------------------- */

static void data_set(struct pkt_ctx *pc, const struct nf_source *src, uint16_t id,
                     const uint8_t *b, uint32_t len)
{
    const struct nf_template *t =
        nf_cache_find(pc->d->cache, pc->e, pc->version, pc->domain, id, pc->now_ns);
    if (t) {
        pc->records += decode_data(pc, t, src, b, len);
        return;
    }
    pc->d->ctr.nf_data_sets_without_template++;
    pc->count_unknown = true;
    struct nf_pending_ctx hc = {pc->export_ns, pc->uptime_ms, pc->domain, id, pc->version};
    if (!nf_cache_pending_add(pc->d->cache, pc->e, &hc, b, len, pc->now_ns))
        pc->d->ctr.nf_data_sets_dropped_no_template++;
}

/* Walks the sets in p[off..end). */
static void walk_sets(struct pkt_ctx *pc, const struct nf_source *src, const uint8_t *p,
                      size_t off, size_t end)
{
    struct nf_counters *c = &pc->d->ctr;
    while (end - off >= 4) {
        uint16_t id = load_be16(p + off), slen = load_be16(p + off + 2);
        if (slen < 4 || slen > end - off) {
            /* v9 has no message length: exporters that pad the datagram
             * leave zeros after the last flowset */
            if (!(pc->version == 9 && all_zero(p + off, end - off)))
                set_malformed(pc, &c->nf_malformed_set_length);
            return;
        }
        const uint8_t *b = p + off + 4;
        uint32_t blen = (uint32_t)slen - 4;
        off += slen;
        if (pc->version == 9) {
            if (id == 0)
                v9_templates(pc, src, b, blen);
            else if (id == 1)
                v9_options(pc, src, b, blen);
            else if (id < 256)
                c->nf_sets_reserved_id++;
            else
                data_set(pc, src, id, b, blen);
        } else {
            if (id == 2 || id == 3)
                ipfix_templates(pc, src, b, blen, id == 3);
            else if (id < 256)
                c->nf_sets_reserved_id++;
            else
                data_set(pc, src, id, b, blen);
        }
    }
}

/* ---- versions ------------------------------------------------------------------------ */

static enum nf_status decode_v5(struct nf_decoder *d, const uint8_t *p, size_t len,
                                const struct nf_source *src, int64_t now, struct nf_output *out)
{
    if (len < V5_HDR) {
        d->ctr.nf_malformed_short_header++;
        return NF_ERR_SHORT;
    }
    uint16_t count = load_be16(p + 2);
    if (count == 0 || count > V5_MAX_COUNT) {
        d->ctr.nf_malformed_v5_count++;
        return NF_ERR_LENGTH;
    }
    size_t need = V5_HDR + (size_t)count * V5_REC;
    if (len < need) {
        d->ctr.nf_malformed_v5_length++;
        return NF_ERR_LENGTH;
    }
    if (len > need)
        d->ctr.nf_v5_trailing_bytes++;
    uint32_t uptime = load_be32(p + 4), secs = load_be32(p + 8), nsecs = load_be32(p + 12);
    uint32_t seq = load_be32(p + 16);
    uint32_t engine = (uint32_t)p[20] << 8 | p[21];
    uint16_t sampling = load_be16(p + 22);

    struct nf_exporter *e = nf_cache_exporter(d->cache, &src->addr, src->port, now);
    struct nf_domain *dom = nf_cache_domain(d->cache, e, 5, engine, now);
    d->ctr.nf_packets_v5++;
    e->st.packets++;
    e->st.packets_by_version[0]++;
    enum seq_state st = seq_begin(d, e, dom, seq, false);

    struct pkt_ctx pc = {.d = d, .e = e, .dom = dom, .out = out, .now_ns = now, .version = 5};
    pc.export_ns = (int64_t)secs * NS_PER_SEC + (nsecs < NS_PER_SEC ? nsecs : 0);
    pc.uptime_ms = uptime;
    struct nf_record proto;
    memset(&proto, 0, sizeof proto);
    proto.export_ns = pc.export_ns;
    proto.observer = src->addr;
    proto.observer_port = src->port;
    proto.version = 5;
    proto.domain = engine;
    proto.sampling_interval = sampling & 0x3fff;   /* top 2 bits: sampling mode */
    proto.present = NF_HAS_SRC_IP | NF_HAS_DST_IP | NF_HAS_SRC_PORT | NF_HAS_DST_PORT |
                    NF_HAS_PROTO | NF_HAS_BYTES | NF_HAS_PACKETS | NF_HAS_TCP_FLAGS |
                    NF_HAS_IN_IF | NF_HAS_OUT_IF | NF_HAS_START | NF_HAS_END | NF_HAS_TOS |
                    NF_HAS_SRC_AS | NF_HAS_DST_AS;
    if (proto.sampling_interval)
        proto.present |= NF_HAS_SAMPLING;
    proto.src.family = proto.dst.family = 4;

    for (unsigned i = 0; i < count; i++) {
        const uint8_t *r5 = p + V5_HDR + (size_t)i * V5_REC;
        struct nf_record *r = out_slot(out);
        if (!r) {
            d->ctr.nf_records_dropped_output_full++;
            continue;
        }
        *r = proto;
        memcpy(r->src.addr, r5, 4);
        memcpy(r->dst.addr, r5 + 4, 4);
        r->in_if = load_be16(r5 + 12);
        r->out_if = load_be16(r5 + 14);
        r->packets = load_be32(r5 + 16);
        r->bytes = load_be32(r5 + 20);
        resolve_time(NF_TIME_SYSUPTIME_MS, load_be32(r5 + 24), &pc, &r->start_ns);
        resolve_time(NF_TIME_SYSUPTIME_MS, load_be32(r5 + 28), &pc, &r->end_ns);
        r->src_port = load_be16(r5 + 32);
        r->dst_port = load_be16(r5 + 34);
        r->tcp_flags = r5[37];
        r->proto = r5[38];
        r->tos = r5[39];
        r->src_as = load_be16(r5 + 40);
        r->dst_as = load_be16(r5 + 42);
        r->src_mask = r5[44];
        r->dst_mask = r5[45];
        out->n++;
    }
    d->ctr.nf_records_v5 += count;
    e->st.records += count;
    e->st.records_by_version[0] += count;
    seq_end(d, e, dom, st, seq, count, true);
    return NF_OK;
}

static enum nf_status decode_v9(struct nf_decoder *d, const uint8_t *p, size_t len,
                                const struct nf_source *src, int64_t now, struct nf_output *out)
{
    if (len < V9_HDR) {
        d->ctr.nf_malformed_short_header++;
        return NF_ERR_SHORT;
    }
    uint32_t uptime = load_be32(p + 4), secs = load_be32(p + 8), seq = load_be32(p + 12);
    uint32_t source_id = load_be32(p + 16);
    struct nf_exporter *e = nf_cache_exporter(d->cache, &src->addr, src->port, now);
    struct nf_domain *dom = nf_cache_domain(d->cache, e, 9, source_id, now);
    d->ctr.nf_packets_v9++;
    e->st.packets++;
    e->st.packets_by_version[1]++;
    enum seq_state st = seq_begin(d, e, dom, seq, true);
    struct pkt_ctx pc = {.d = d, .e = e, .dom = dom, .out = out, .now_ns = now, .version = 9,
                         .domain = source_id, .uptime_ms = uptime,
                         .export_ns = (int64_t)secs * NS_PER_SEC};
    walk_sets(&pc, src, p, V9_HDR, len);
    /* v9 counts export packets: the count is known whatever the sets held */
    seq_end(d, e, dom, st, seq, 1, true);
    if (pc.malformed) {
        e->st.malformed++;
        return NF_PARTIAL;
    }
    return NF_OK;
}

static enum nf_status decode_ipfix(struct nf_decoder *d, const uint8_t *p, size_t len,
                                   const struct nf_source *src, int64_t now,
                                   struct nf_output *out)
{
    if (len < IPFIX_HDR) {
        d->ctr.nf_malformed_short_header++;
        return NF_ERR_SHORT;
    }
    uint16_t mlen = load_be16(p + 2);
    if (mlen < IPFIX_HDR || mlen > len) {
        d->ctr.nf_malformed_ipfix_length++;
        return NF_ERR_LENGTH;
    }
    if (mlen < len)
        d->ctr.nf_ipfix_trailing_bytes++;
    uint32_t secs = load_be32(p + 4), seq = load_be32(p + 8), domain = load_be32(p + 12);
    struct nf_exporter *e = nf_cache_exporter(d->cache, &src->addr, src->port, now);
    struct nf_domain *dom = nf_cache_domain(d->cache, e, 10, domain, now);
    d->ctr.nf_packets_ipfix++;
    e->st.packets++;
    e->st.packets_by_version[2]++;
    enum seq_state st = seq_begin(d, e, dom, seq, false);
    struct pkt_ctx pc = {.d = d, .e = e, .dom = dom, .out = out, .now_ns = now, .version = 10,
                         .domain = domain, .export_ns = (int64_t)secs * NS_PER_SEC};
    walk_sets(&pc, src, p, IPFIX_HDR, mlen);
    /* IPFIX counts data records: unknown when a set could not be read */
    seq_end(d, e, dom, st, seq, pc.records, !pc.count_unknown && !pc.malformed);
    if (pc.malformed) {
        e->st.malformed++;
        return NF_PARTIAL;
    }
    return NF_OK;
}

enum nf_status nf_decode(struct nf_decoder *d, const uint8_t *pkt, size_t len,
                         const struct nf_source *src, int64_t now_ns, struct nf_output *out)
{
    if (len < 2) {
        d->ctr.nf_malformed_short_header++;
        return NF_ERR_SHORT;
    }
    switch (load_be16(pkt)) {
    case 5:
        return decode_v5(d, pkt, len, src, now_ns, out);
    case 9:
        return decode_v9(d, pkt, len, src, now_ns, out);
    case 10:
        return decode_ipfix(d, pkt, len, src, now_ns, out);
    default:
        d->ctr.nf_packets_bad_version++;
        return NF_ERR_VERSION;
    }
}
