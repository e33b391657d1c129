/* NetFlow/IPFIX decoder on crafted packets: hostile input (zero-field
 * templates, field and set lengths past their bounds, 65535 field counts,
 * template floods), the template cache (held data, expiry, withdrawal,
 * limits), sequence tracking, sampling, and template persistence through
 * the export blob and LMDB. */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/flow.h"
#include "engine/netflow.h"
#include "engine/nf_template_cache.h"
#include "engine/nf_template_store.h"
#include "test_support.h"

#define NS 1000000000LL
#define MS 1000000LL
#define T0 (1700000000LL * NS)
#define MAXREC 4096

static struct nf_decoder *dec;
static struct nf_record recs[MAXREC];
static struct nf_output out;
static struct nf_source src;
static const struct nf_counters *ctr;
static struct nf_config cfg;

static void start(void)
{
    dec = nf_decoder_new(&cfg);
    cr_assert_not_null(dec);
    ctr = nf_decoder_counters(dec);
    out = (struct nf_output){recs, MAXREC, 0, NULL, NULL};
    memset(&src, 0, sizeof src);
    src.addr.family = 4;
    memcpy(src.addr.addr, (uint8_t[]){198, 51, 100, 7}, 4);
    src.port = 4739;
}

static void setup(void)
{
    nf_config_default(&cfg);
    start();
}

static void teardown(void) { nf_decoder_free(dec); }

/* Restarts the decoder with a changed configuration. */
static void restart(void)
{
    nf_decoder_free(dec);
    start();
}

/* ---- packet builder ---------------------------------------------------------- */

struct pkt {
    uint8_t b[70000];
    size_t n;
    size_t set_at;
};

static struct pkt pk;

static void p8(struct pkt *p, unsigned v) { p->b[p->n++] = (uint8_t)v; }
static void p16(struct pkt *p, unsigned v)
{
    p8(p, v >> 8);
    p8(p, v);
}
static void p32(struct pkt *p, uint32_t v)
{
    p16(p, v >> 16);
    p16(p, v & 0xffff);
}
static void p64(struct pkt *p, uint64_t v)
{
    p32(p, (uint32_t)(v >> 32));
    p32(p, (uint32_t)v);
}
static void pbytes(struct pkt *p, const void *d, size_t n)
{
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void ipfix_begin(struct pkt *p, uint32_t seq, uint32_t domain, uint32_t secs)
{
    p->n = 0;
    p16(p, 10);
    p16(p, 0); /* length, patched by finish */
    p32(p, secs);
    p32(p, seq);
    p32(p, domain);
}

static void v9_begin(struct pkt *p, uint32_t seq, uint32_t source_id, uint32_t uptime,
                     uint32_t secs)
{
    p->n = 0;
    p16(p, 9);
    p16(p, 0);
    p32(p, uptime);
    p32(p, secs);
    p32(p, seq);
    p32(p, source_id);
}

static void set_begin(struct pkt *p, unsigned id)
{
    p->set_at = p->n;
    p16(p, id);
    p16(p, 0);
}

static void set_end(struct pkt *p)
{
    size_t len = p->n - p->set_at;
    p->b[p->set_at + 2] = (uint8_t)(len >> 8);
    p->b[p->set_at + 3] = (uint8_t)len;
}

static void ipfix_finish(struct pkt *p)
{
    p->b[2] = (uint8_t)(p->n >> 8);
    p->b[3] = (uint8_t)p->n;
}

struct fs {
    uint16_t ie, len;
    uint32_t pen;
};

static void tpl_record(struct pkt *p, unsigned id, const struct fs *f, unsigned n, bool ipfix)
{
    p16(p, id);
    p16(p, n);
    for (unsigned i = 0; i < n; i++) {
        p16(p, f[i].ie | (ipfix && f[i].pen ? 0x8000 : 0));
        p16(p, f[i].len);
        if (ipfix && f[i].pen)
            p32(p, f[i].pen);
    }
}

/* The test's usual flow template: 45-byte records. */
static const struct fs FLOW[] = {
    {8, 4, 0}, {12, 4, 0}, {7, 2, 0}, {11, 2, 0}, {4, 1, 0},
    {1, 8, 0}, {2, 8, 0}, {152, 8, 0}, {153, 8, 0},
};
#define FLOW_N (sizeof FLOW / sizeof FLOW[0])
#define FLOW_LEN 45

static void flow_rec(struct pkt *p, uint32_t a, uint32_t b, unsigned sp, unsigned dp,
                     unsigned proto, uint64_t bytes, uint64_t pkts, uint64_t start_ms)
{
    p32(p, a);
    p32(p, b);
    p16(p, sp);
    p16(p, dp);
    p8(p, proto);
    p64(p, bytes);
    p64(p, pkts);
    p64(p, start_ms);
    p64(p, start_ms + 1000);
}

static enum nf_status send_at(struct pkt *p, int64_t now)
{
    return nf_decode(dec, p->b, p->n, &src, now, &out);
}

static enum nf_status send(struct pkt *p) { return send_at(p, T0); }

/* An IPFIX message with the FLOW template as id. */
static void ipfix_template(struct pkt *p, uint32_t seq, unsigned id)
{
    ipfix_begin(p, seq, 1, 1700000000);
    set_begin(p, 2);
    tpl_record(p, id, FLOW, FLOW_N, true);
    set_end(p);
    ipfix_finish(p);
}

/* An IPFIX message with n FLOW records for template id. */
static void ipfix_data(struct pkt *p, uint32_t seq, unsigned id, unsigned n, uint32_t secs)
{
    ipfix_begin(p, seq, 1, secs);
    set_begin(p, id);
    for (unsigned i = 0; i < n; i++)
        flow_rec(p, 0x0a000001 + i, 0x0a000101, 1000 + i, 80, 6, 100 * (i + 1), i + 1,
                 1700000000000ULL + i);
    set_end(p);
    ipfix_finish(p);
}

TestSuite(netflow, .init = setup, .fini = teardown);

/* ---- basics ---------------------------------------------------------------------- */

Test(netflow, ipfix_template_then_data)
{
    ipfix_template(&pk, 0, 300);
    cr_assert_eq(send(&pk), NF_OK);
    ipfix_data(&pk, 0, 300, 3, 1700000100);
    cr_assert_eq(send(&pk), NF_OK);
    cr_assert_eq(out.n, 3);
    const struct nf_record *r = &recs[2];
    cr_expect_eq(r->src.family, 4);
    cr_expect_arr_eq(r->src.addr, ((uint8_t[]){10, 0, 0, 3}), 4);
    cr_expect_arr_eq(r->dst.addr, ((uint8_t[]){10, 0, 1, 1}), 4);
    cr_expect_eq(r->src_port, 1002);
    cr_expect_eq(r->dst_port, 80);
    cr_expect_eq(r->bytes, 300);
    cr_expect_eq(r->packets, 3);
    cr_expect_eq(r->start_ns, (1700000000000LL + 2) * MS);
    cr_expect_eq(r->end_ns, (1700000001000LL + 2) * MS);
    cr_expect_eq(r->export_ns, 1700000100LL * NS);
    cr_expect_eq(r->template_id, 300);
    cr_expect_eq(r->domain, 1);
    cr_expect_eq(r->observer_port, 4739);
    cr_expect_eq(ctr->nf_records_ipfix, 3);
    cr_expect_eq(ctr->nf_packets_ipfix, 2);
}

Test(netflow, short_and_unknown_headers)
{
    uint8_t b[64] = {0};
    cr_expect_eq(nf_decode(dec, b, 0, &src, T0, &out), NF_ERR_SHORT);
    cr_expect_eq(nf_decode(dec, b, 1, &src, T0, &out), NF_ERR_SHORT);
    b[1] = 5;
    cr_expect_eq(nf_decode(dec, b, 23, &src, T0, &out), NF_ERR_SHORT);
    b[1] = 9;
    cr_expect_eq(nf_decode(dec, b, 19, &src, T0, &out), NF_ERR_SHORT);
    b[1] = 10;
    cr_expect_eq(nf_decode(dec, b, 15, &src, T0, &out), NF_ERR_SHORT);
    cr_expect_eq(ctr->nf_malformed_short_header, 5);
    b[1] = 7;
    cr_expect_eq(nf_decode(dec, b, 64, &src, T0, &out), NF_ERR_VERSION);
    cr_expect_eq(ctr->nf_packets_bad_version, 1);
    cr_expect_eq(nf_cache_exporter_count(nf_decoder_cache(dec)), 0);
}

Test(netflow, ipfix_message_length_checked)
{
    ipfix_template(&pk, 0, 300);
    pk.b[2] = 0x10;   /* 4096 > datagram */
    cr_expect_eq(send(&pk), NF_ERR_LENGTH);
    pk.b[2] = 0;
    pk.b[3] = 12;     /* below the header */
    cr_expect_eq(send(&pk), NF_ERR_LENGTH);
    cr_expect_eq(ctr->nf_malformed_ipfix_length, 2);
    ipfix_template(&pk, 0, 300);
    pk.n += 5;        /* trailing bytes after the message: ignored, counted */
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(ctr->nf_ipfix_trailing_bytes, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 1);
}

/* ---- hostile templates ---------------------------------------------------------- */

Test(netflow, v9_zero_field_template_is_malformed)
{
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 260, NULL, 0, false);
    tpl_record(&pk, 261, FLOW, FLOW_N, false);   /* the next one still counts */
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_zero_field_template, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 1);
}

Test(netflow, ipfix_zero_field_count_is_a_withdrawal)
{
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 300, NULL, 0, true);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(ctr->cache.nf_templates_withdraw_unknown, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 0);
}

Test(netflow, field_specifiers_past_the_set)
{
    /* claims 10 fields, the set holds 2; a valid set follows */
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 0);
    p16(&pk, 260);
    p16(&pk, 10);
    p16(&pk, 8);
    p16(&pk, 4);
    p16(&pk, 12);
    p16(&pk, 4);
    set_end(&pk);
    set_begin(&pk, 0);
    tpl_record(&pk, 261, FLOW, FLOW_N, false);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_field_count, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 1);
    /* IPFIX: an enterprise bit whose number is cut off by the set end */
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    p16(&pk, 300);
    p16(&pk, 1);
    p16(&pk, 0x8001);
    p16(&pk, 4);
    p16(&pk, 0);   /* 2 of the 4 PEN bytes */
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_field_count, 2);
}

Test(netflow, set_length_past_the_packet)
{
    ipfix_template(&pk, 0, 300);
    pk.b[16 + 2] = 0x07;   /* set length 0x07xx > message */
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_set_length, 1);
    ipfix_template(&pk, 0, 300);
    pk.b[16 + 2] = 0;
    pk.b[16 + 3] = 3;   /* set length below its own header */
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_set_length, 2);
    cr_expect_eq(ctr->cache.nf_templates_learned, 0);
    /* v9 has no message length: zeros after the last flowset are padding */
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 261, FLOW, FLOW_N, false);
    set_end(&pk);
    memset(pk.b + pk.n, 0, 150);
    pk.n += 150;
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(ctr->nf_malformed_set_length, 2);
}

Test(netflow, field_count_65535)
{
    /* more fields than a set could hold */
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    p16(&pk, 300);
    p16(&pk, 65535);
    for (int i = 0; i < 100; i++) {
        p16(&pk, 1);
        p16(&pk, 8);
    }
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_field_count, 1);
    /* 16000 real fields (64 KB of specifiers): over the limit, refused and
     * skipped; the template after it in the same set is learned */
    ipfix_begin(&pk, 1, 1, 1700000000);
    set_begin(&pk, 2);
    p16(&pk, 301);
    p16(&pk, 16000);
    for (int i = 0; i < 16000; i++) {
        p16(&pk, 2);
        p16(&pk, 4);
    }
    tpl_record(&pk, 302, FLOW, FLOW_N, true);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_assert_lt(pk.n, 65536);
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(ctr->cache.nf_templates_refused_too_many_fields, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 1);
    /* v9 with 65535 in the count */
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 0);
    p16(&pk, 260);
    p16(&pk, 65535);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_field_count, 2);
}

Test(netflow, records_of_zero_bytes_are_refused)
{
    /* every field 0 bytes long: a data set could never advance */
    static const struct fs zero[] = {{8, 0, 0}, {12, 0, 0}};
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 260, zero, 2, false);
    set_end(&pk);
    set_begin(&pk, 260);
    p32(&pk, 0);
    p32(&pk, 0);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(ctr->cache.nf_templates_refused_record_length, 1);
    cr_expect_eq(out.n, 0);
    cr_expect_eq(ctr->nf_data_sets_without_template, 1);
}

Test(netflow, template_ids_below_256_and_reserved_sets)
{
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 255, FLOW, FLOW_N, true);
    set_end(&pk);
    set_begin(&pk, 7);   /* reserved set id */
    p32(&pk, 0xdeadbeef);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_template_id, 1);
    cr_expect_eq(ctr->nf_sets_reserved_id, 1);
    cr_expect_eq(ctr->cache.nf_templates_learned, 0);
}

Test(netflow, options_scope_count_checked)
{
    static const struct fs opt[] = {{302, 4, 0}, {305, 4, 0}};
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 3);
    p16(&pk, 400);
    p16(&pk, 2);
    p16(&pk, 0);   /* scope count 0: RFC 7011 forbids it */
    for (int i = 0; i < 2; i++) {
        p16(&pk, opt[i].ie);
        p16(&pk, opt[i].len);
    }
    p16(&pk, 401);
    p16(&pk, 2);
    p16(&pk, 3);   /* more scope fields than fields */
    for (int i = 0; i < 2; i++) {
        p16(&pk, opt[i].ie);
        p16(&pk, opt[i].len);
    }
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_scope, 2);
    cr_expect_eq(ctr->cache.nf_templates_learned, 0);
    /* v9: scope and option lengths must be multiples of 4 */
    v9_begin(&pk, 0, 0, 1000, 1700000000);
    set_begin(&pk, 1);
    p16(&pk, 260);
    p16(&pk, 6);
    p16(&pk, 4);
    p32(&pk, 0);
    p32(&pk, 0);
    p16(&pk, 0);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_options_length, 1);
}

Test(netflow, variable_length_field_past_the_set)
{
    static const struct fs vt[] = {{8, 4, 0}, {82, NF_VARLEN, 0}, {1, 4, 0}};
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 310, vt, 3, true);
    set_end(&pk);
    set_begin(&pk, 310);
    p32(&pk, 0x0a000001);           /* a good record: 3-byte string */
    p8(&pk, 3);
    pbytes(&pk, "abc", 3);
    p32(&pk, 77);
    p32(&pk, 0x0a000002);           /* then a string claiming 200 bytes */
    p8(&pk, 200);
    pbytes(&pk, "xyzxyzxyzx", 10);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(out.n, 1);
    cr_expect_eq(recs[0].bytes, 77);
    cr_expect_eq(ctr->nf_malformed_varlen, 1);
    /* the 3-byte length escape (255, then 16 bits): 256 bytes announced,
     * 3 present */
    ipfix_begin(&pk, 2, 1, 1700000000);
    set_begin(&pk, 310);
    p32(&pk, 0x0a000003);
    p8(&pk, 255);
    p16(&pk, 256);
    pbytes(&pk, "xyz", 3);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_PARTIAL);
    cr_expect_eq(ctr->nf_malformed_varlen, 2);
    /* the escape used properly: a 300-byte string */
    ipfix_begin(&pk, 3, 1, 1700000000);
    set_begin(&pk, 310);
    p32(&pk, 0x0a000004);
    p8(&pk, 255);
    p16(&pk, 300);
    for (int i = 0; i < 300; i++)
        p8(&pk, 'a');
    p32(&pk, 99);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_expect_eq(out.n, 2);
    cr_expect_eq(recs[1].bytes, 99);
}

Test(netflow, template_flood_is_bounded)
{
    cfg.cache.max_templates = 16;
    cfg.cache.max_templates_per_exporter = 8;
    restart();
    struct nf_template_cache *c = nf_decoder_cache(dec);
    /* one exporter announces 100 templates */
    for (unsigned id = 256; id < 356; id++) {
        ipfix_template(&pk, 0, id);
        send(&pk);
        cr_assert_leq(nf_cache_template_count(c), 8);
    }
    cr_expect_eq(ctr->cache.nf_templates_learned, 100);
    cr_expect_eq(ctr->cache.nf_templates_evicted_exporter_limit, 92);
    /* the most recent ones survive */
    ipfix_data(&pk, 1, 355, 1, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 1);
    /* four exporters x 8: the cache holds 16 in total */
    for (unsigned e = 0; e < 4; e++) {
        src.addr.addr[3] = (uint8_t)(20 + e);
        for (unsigned id = 256; id < 264; id++) {
            ipfix_template(&pk, 0, id);
            send(&pk);
            cr_assert_leq(nf_cache_template_count(c), 16);
        }
    }
    cr_expect_eq(nf_cache_template_count(c), 16);
    cr_expect_gt(ctr->cache.nf_templates_evicted_total_limit, 0);
}

/* ---- data before its template -------------------------------------------------------- */

Test(netflow, data_held_until_template)
{
    ipfix_data(&pk, 0, 300, 4, 1699999990);
    cr_expect_eq(send_at(&pk, T0), NF_OK);
    cr_expect_eq(out.n, 0);
    cr_expect_eq(ctr->nf_data_sets_without_template, 1);
    cr_expect_eq(ctr->cache.nf_pending_sets_held, 1);
    cr_expect_eq(nf_cache_pending_count(nf_decoder_cache(dec)), 1);
    ipfix_template(&pk, 4, 300);
    cr_expect_eq(send_at(&pk, T0 + 2 * NS), NF_OK);
    cr_assert_eq(out.n, 4);
    cr_expect_eq(ctr->cache.nf_pending_sets_decoded, 1);
    cr_expect_eq(recs[3].bytes, 400);
    /* decoded with the header time it was sent with */
    cr_expect_eq(recs[0].export_ns, 1699999990LL * NS);
    cr_expect_eq(nf_cache_pending_count(nf_decoder_cache(dec)), 0);
    cr_expect_eq(ctr->nf_records_ipfix, 4);
}

Test(netflow, held_data_expires)
{
    cfg.cache.pending_timeout_ns = 1 * NS;
    restart();
    ipfix_data(&pk, 0, 300, 2, 1700000000);
    send_at(&pk, T0);
    ipfix_template(&pk, 2, 300);
    send_at(&pk, T0 + 3 * NS);
    cr_expect_eq(out.n, 0);
    cr_expect_eq(ctr->cache.nf_pending_dropped_expired, 1);
    cr_expect_eq(ctr->cache.nf_pending_sets_decoded, 0);
    /* the tick expires held sets without any packet */
    ipfix_data(&pk, 3, 301, 2, 1700000000);
    send_at(&pk, T0 + 4 * NS);
    nf_decoder_tick(dec, T0 + 10 * NS, 64);
    cr_expect_eq(ctr->cache.nf_pending_dropped_expired, 2);
    cr_expect_eq(nf_cache_pending_count(nf_decoder_cache(dec)), 0);
}

Test(netflow, held_data_bounded_by_count_and_bytes)
{
    cfg.cache.pending_max_sets = 4;
    cfg.cache.pending_max_bytes = 4 * (3 * FLOW_LEN) + 10;
    restart();
    for (unsigned i = 0; i < 6; i++) {
        ipfix_data(&pk, i * 3, 300, 3, 1700000000);
        send(&pk);
    }
    cr_expect_eq(ctr->cache.nf_pending_sets_held, 6);
    cr_expect_eq(ctr->cache.nf_pending_dropped_overflow, 2);
    ipfix_template(&pk, 18, 300);
    send(&pk);
    cr_expect_eq(out.n, 12, "the 4 newest sets");
    cr_expect_eq(ctr->cache.nf_pending_sets_decoded, 4);
    /* bytes: 5-record sets (225 bytes) only fit two at a time */
    out.n = 0;
    for (unsigned i = 0; i < 3; i++) {
        ipfix_data(&pk, 100 + i, 302, 5, 1700000000);
        send(&pk);
    }
    cr_expect_eq(ctr->cache.nf_pending_dropped_overflow, 3);
    ipfix_template(&pk, 200, 302);
    send(&pk);
    cr_expect_eq(out.n, 10);
    /* a set larger than the whole buffer */
    ipfix_data(&pk, 300, 303, 20, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->cache.nf_pending_dropped_too_big, 1);
    cr_expect_eq(ctr->nf_data_sets_dropped_no_template, 1);
}

Test(netflow, holding_disabled_drops_and_counts)
{
    cfg.cache.pending_max_sets = 0;
    restart();
    ipfix_data(&pk, 0, 300, 2, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->nf_data_sets_without_template, 1);
    cr_expect_eq(ctr->nf_data_sets_dropped_no_template, 1);
    ipfix_template(&pk, 0, 300);
    send(&pk);
    cr_expect_eq(out.n, 0);
}

/* ---- template lifecycle ------------------------------------------------------------------- */

Test(netflow, template_withdrawal)
{
    struct nf_template_cache *c = nf_decoder_cache(dec);
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 300, FLOW, FLOW_N, true);
    tpl_record(&pk, 301, FLOW, FLOW_N, true);
    set_end(&pk);
    set_begin(&pk, 3);   /* an options template: survives "withdraw all data" */
    p16(&pk, 400);
    p16(&pk, 2);
    p16(&pk, 1);
    p16(&pk, 302);
    p16(&pk, 4);
    p16(&pk, 34);
    p16(&pk, 4);
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_assert_eq(nf_cache_template_count(c), 3);
    uint64_t gen = nf_cache_generation(c);

    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 300, NULL, 0, true);   /* withdraw 300 */
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_expect_eq(ctr->cache.nf_templates_withdrawn, 1);
    cr_expect(nf_cache_changed_since(c, gen));
    ipfix_data(&pk, 0, 300, 1, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 0, "withdrawn: the data waits");
    ipfix_data(&pk, 1, 301, 1, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 1);

    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 2, NULL, 0, true);     /* template id 2: all data templates */
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_expect_eq(ctr->cache.nf_templates_withdrawn, 2);
    cr_expect_eq(nf_cache_template_count(c), 1, "the options template remains");
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 3);
    tpl_record(&pk, 3, NULL, 0, true);     /* id 3 in an options set: all options */
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_expect_eq(nf_cache_template_count(c), 0);
}

Test(netflow, template_redefinition_and_refresh)
{
    struct nf_template_cache *c = nf_decoder_cache(dec);
    ipfix_template(&pk, 0, 300);
    send(&pk);
    uint64_t gen = nf_cache_generation(c);
    send(&pk);   /* same definition again */
    cr_expect_eq(ctr->cache.nf_templates_refreshed, 1);
    cr_expect_not(nf_cache_changed_since(c, gen), "a refresh is not a change");
    static const struct fs small[] = {{8, 4, 0}, {2, 4, 0}};
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 300, small, 2, true);
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_expect_eq(ctr->cache.nf_templates_redefined, 1);
    cr_expect(nf_cache_changed_since(c, gen));
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 300);
    p32(&pk, 0x01020304);
    p32(&pk, 9);
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    cr_assert_eq(out.n, 1);
    cr_expect_eq(recs[0].packets, 9);
    cr_expect_eq(recs[0].src_port, 0);
}

Test(netflow, template_timeout)
{
    cfg.cache.template_timeout_ns = 10 * NS;
    restart();
    ipfix_template(&pk, 0, 300);
    send_at(&pk, T0);
    ipfix_data(&pk, 0, 300, 1, 1700000000);
    send_at(&pk, T0 + 5 * NS);
    cr_expect_eq(out.n, 1);
    ipfix_template(&pk, 1, 300);
    send_at(&pk, T0 + 9 * NS);     /* re-announced: good until T0 + 19 s */
    ipfix_data(&pk, 1, 300, 1, 1700000000);
    send_at(&pk, T0 + 18 * NS);
    cr_expect_eq(out.n, 2);
    ipfix_data(&pk, 2, 300, 1, 1700000000);
    send_at(&pk, T0 + 20 * NS);
    cr_expect_eq(out.n, 2);
    cr_expect_eq(ctr->cache.nf_templates_expired, 1);
    /* the sweep expires without traffic */
    ipfix_template(&pk, 3, 301);
    send_at(&pk, T0 + 30 * NS);
    nf_decoder_tick(dec, T0 + 50 * NS, 1000000);
    cr_expect_eq(ctr->cache.nf_templates_expired, 2);
    cr_expect_eq(nf_cache_template_count(nf_decoder_cache(dec)), 0);
}

Test(netflow, exporter_and_domain_tables_are_bounded)
{
    cfg.cache.max_exporters = 4;
    cfg.cache.max_domains_per_exporter = 2;
    restart();
    struct nf_template_cache *c = nf_decoder_cache(dec);
    for (unsigned e = 0; e < 6; e++) {
        src.addr.addr[3] = (uint8_t)e;
        ipfix_template(&pk, 0, 300);
        send(&pk);
    }
    cr_expect_eq(nf_cache_exporter_count(c), 4);
    cr_expect_eq(ctr->cache.nf_exporters_evicted, 2);
    cr_expect_eq(ctr->cache.nf_templates_evicted_with_exporter, 2);
    cr_expect_eq(nf_cache_template_count(c), 4);
    /* the first exporter was evicted with its template */
    src.addr.addr[3] = 0;
    ipfix_data(&pk, 1, 300, 1, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 0);
    /* three observation domains on an exporter that keeps two */
    src.addr.addr[3] = 5;
    for (uint32_t d = 1; d <= 3; d++) {
        ipfix_begin(&pk, 0, d, 1700000000);
        set_begin(&pk, 2);
        tpl_record(&pk, 300, FLOW, FLOW_N, true);
        set_end(&pk);
        ipfix_finish(&pk);
        send_at(&pk, T0 + d);
    }
    cr_expect_eq(ctr->cache.nf_domains_evicted, 1);
    struct nf_exporter_stats st[8];
    uint32_t n = nf_cache_exporter_stats(c, st, 8);
    cr_expect_eq(n, 4);
    cr_expect_eq(st[0].addr.addr[3], 5, "most recently seen first");
    cr_expect_eq(st[0].packets, 4);
}

Test(netflow, output_full_without_and_with_flush)
{
    ipfix_template(&pk, 0, 300);
    send(&pk);
    out.cap = 2;
    ipfix_data(&pk, 0, 300, 5, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 2);
    cr_expect_eq(ctr->nf_records_dropped_output_full, 3);
    cr_expect_eq(ctr->nf_records_ipfix, 5, "decoded even if not delivered");
}

static unsigned flushed;
static void count_flush(void *ctx, struct nf_record *r, uint32_t n)
{
    (void)ctx;
    for (uint32_t i = 0; i < n; i++)
        cr_expect_eq(r[i].bytes, 100 * (flushed + i + 1));
    flushed += n;
}

Test(netflow, output_flush_batches)
{
    ipfix_template(&pk, 0, 300);
    send(&pk);
    out = (struct nf_output){recs, 4, 0, count_flush, NULL};
    ipfix_data(&pk, 0, 300, 10, 1700000000);
    send(&pk);
    cr_expect_eq(flushed, 8);
    cr_expect_eq(out.n, 2);
    cr_expect_eq(ctr->nf_records_dropped_output_full, 0);
}

/* ---- record contents ------------------------------------------------------------------- */

Test(netflow, reduced_size_enterprise_and_two_families)
{
    /* 3-byte octetDeltaCount, an 8-byte vendor field between known ones,
     * and both address families in one template (v4 all zero) */
    static const struct fs f[] = {
        {1, 3, 0}, {100, 8, 9}, {8, 4, 0}, {27, 16, 0}, {12, 4, 0}, {28, 16, 0}, {7, 2, 0},
    };
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 320, f, 7, true);
    set_end(&pk);
    set_begin(&pk, 320);
    p8(&pk, 0x01);
    p16(&pk, 0x0203);
    p64(&pk, 0xffffffffffffffffULL);
    p32(&pk, 0);
    uint8_t v6a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, v6b[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
    pbytes(&pk, v6a, 16);
    p32(&pk, 0xc0000201);     /* destination v4 is set: it wins */
    pbytes(&pk, v6b, 16);
    p16(&pk, 443);
    p8(&pk, 0);               /* 1 byte of padding */
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_assert_eq(out.n, 1);
    cr_expect_eq(recs[0].bytes, 0x010203);
    cr_expect_eq(recs[0].src.family, 6);
    cr_expect_arr_eq(recs[0].src.addr, v6a, 16);
    cr_expect_eq(recs[0].dst.family, 4);
    cr_expect_arr_eq(recs[0].dst.addr, ((uint8_t[]){192, 0, 2, 1}), 4);
    cr_expect_eq(recs[0].src_port, 443);
}

Test(netflow, ipfix_sampling_options_and_sysuptime)
{
    /* options: scope selectorId; samplingPacketInterval 1 / space 99 (1 in
     * 100) for selector 5, systemInitTimeMilliseconds for the domain */
    static const struct fs o[] = {{302, 4, 0}, {305, 4, 0}, {306, 4, 0}, {160, 8, 0}};
    static const struct fs d[] = {{8, 4, 0}, {302, 4, 0}, {22, 4, 0}, {21, 4, 0}, {2, 4, 0}};
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 3);
    p16(&pk, 400);
    p16(&pk, 4);
    p16(&pk, 1);
    for (int i = 0; i < 4; i++) {
        p16(&pk, o[i].ie);
        p16(&pk, o[i].len);
    }
    set_end(&pk);
    set_begin(&pk, 2);
    tpl_record(&pk, 330, d, 5, true);
    set_end(&pk);
    set_begin(&pk, 400);
    p32(&pk, 5);
    p32(&pk, 1);
    p32(&pk, 99);
    p64(&pk, 1699990000000ULL);
    set_end(&pk);
    set_begin(&pk, 330);
    p32(&pk, 0x0a000001);
    p32(&pk, 5);              /* sampled by selector 5 */
    p32(&pk, 1000);
    p32(&pk, 2500);
    p32(&pk, 7);
    p32(&pk, 0x0a000002);
    p32(&pk, 6);              /* an unknown selector: no rate claimed */
    p32(&pk, 0);
    p32(&pk, 0);
    p32(&pk, 1);
    set_end(&pk);
    ipfix_finish(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_assert_eq(out.n, 2);
    cr_expect_eq(recs[0].sampling_interval, 100);
    cr_expect(recs[0].present & NF_HAS_SAMPLING);
    cr_expect_eq(recs[0].packets, 7, "counts are never multiplied");
    cr_expect_eq(recs[0].start_ns, (1699990000000LL + 1000) * MS);
    cr_expect_eq(recs[0].end_ns, (1699990000000LL + 2500) * MS);
    cr_expect_eq(recs[1].sampling_interval, 0);
    cr_expect_not(recs[1].present & NF_HAS_SAMPLING);
}

Test(netflow, v9_options_scope_system_sets_default_sampling)
{
    /* scope type 1 (System), length 4: not IE 1 octetDeltaCount */
    v9_begin(&pk, 0, 7, 100000, 1700000000);
    set_begin(&pk, 1);
    p16(&pk, 260);
    p16(&pk, 4);
    p16(&pk, 8);
    p16(&pk, 1);
    p16(&pk, 4);
    p16(&pk, 34);
    p16(&pk, 4);
    p16(&pk, 35);
    p16(&pk, 1);
    p16(&pk, 0);   /* padding */
    set_end(&pk);
    set_begin(&pk, 260);
    p32(&pk, 0x0a0a0a0a);
    p32(&pk, 512);
    p8(&pk, 2);
    set_end(&pk);
    set_begin(&pk, 0);
    tpl_record(&pk, 261, FLOW, FLOW_N, false);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    v9_begin(&pk, 1, 7, 100000, 1700000000);
    set_begin(&pk, 261);
    flow_rec(&pk, 1, 2, 3, 4, 17, 10, 1, 0);
    set_end(&pk);
    cr_expect_eq(send(&pk), NF_OK);
    cr_assert_eq(out.n, 1);
    cr_expect_eq(recs[0].sampling_interval, 512);
    cr_expect_eq(ctr->nf_options_records_v9, 1);
    /* another source id of the same exporter has its own (unknown) rate */
    v9_begin(&pk, 0, 8, 100000, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 261, FLOW, FLOW_N, false);
    set_end(&pk);
    set_begin(&pk, 261);
    flow_rec(&pk, 1, 2, 3, 4, 17, 10, 1, 0);
    set_end(&pk);
    send(&pk);
    cr_assert_eq(out.n, 2);
    cr_expect_eq(recs[1].sampling_interval, 0);
}

Test(netflow, v9_uptime_times_across_wrap)
{
    /* sysUptime wrapped past 2^32 ms (49.7 days) since the flow started */
    static const struct fs f[] = {{8, 4, 0}, {22, 4, 0}, {21, 4, 0}};
    v9_begin(&pk, 0, 0, 500, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 260, f, 3, false);
    set_end(&pk);
    set_begin(&pk, 260);
    p32(&pk, 1);
    p32(&pk, 0xfffffc18);   /* 1000 ms before the wrap */
    p32(&pk, 400);
    set_end(&pk);
    send(&pk);
    cr_assert_eq(out.n, 1);
    cr_expect_eq(recs[0].start_ns, 1700000000LL * NS - 1500 * MS);
    cr_expect_eq(recs[0].end_ns, 1700000000LL * NS - 100 * MS);
}

/* ---- sequence numbers ------------------------------------------------------------------- */

Test(netflow, ipfix_sequence_gap_late_and_wrap)
{
    ipfix_template(&pk, 0, 300);
    send(&pk);
    ipfix_data(&pk, 0, 300, 3, 1700000000);
    send(&pk);
    ipfix_data(&pk, 3, 300, 3, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->nf_seq_gaps, 0);
    ipfix_data(&pk, 9, 300, 3, 1700000000);   /* records 6..8 missing */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_gaps, 1);
    cr_expect_eq(ctr->nf_seq_lost_records, 3);
    ipfix_data(&pk, 6, 300, 3, 1700000000);   /* ...arrive late */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_late_packets, 1);
    cr_expect_eq(ctr->nf_seq_recovered, 3);
    ipfix_data(&pk, 12, 300, 3, 1700000000);  /* in order after the late one */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_gaps, 1);
    ipfix_data(&pk, 0x40000000, 300, 3, 1700000000);   /* far outside both windows */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_resets, 1, "an exporter restart, not a loss");
    cr_expect_eq(ctr->nf_seq_lost_records, 3);
    ipfix_data(&pk, 0x40000003, 300, 3, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->nf_seq_gaps, 1);
    struct nf_exporter_stats st;
    cr_assert_eq(nf_cache_exporter_stats(nf_decoder_cache(dec), &st, 1), 1);
    cr_expect_eq(st.lost_records, 3);
    cr_expect_eq(st.recovered, 3);
    cr_expect_eq(st.late_packets, 1);
    cr_expect_eq(st.seq_resets, 1);
    cr_expect_eq(st.records, 21);
}

Test(netflow, ipfix_sequence_wraps)
{
    ipfix_template(&pk, 0xfffffffa, 300);
    send(&pk);
    ipfix_data(&pk, 0xfffffffa, 300, 3, 1700000000);
    send(&pk);
    ipfix_data(&pk, 0xfffffffd, 300, 3, 1700000000);   /* next expected: 0 */
    send(&pk);
    ipfix_data(&pk, 0, 300, 3, 1700000000);
    send(&pk);
    ipfix_data(&pk, 5, 300, 3, 1700000000);            /* 3 and 4 lost */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_resets, 0);
    cr_expect_eq(ctr->nf_seq_gaps, 1);
    cr_expect_eq(ctr->nf_seq_lost_records, 2);
}

Test(netflow, ipfix_sequence_unknown_count_resynchronizes)
{
    ipfix_data(&pk, 100, 300, 3, 1700000000);   /* no template: count unknown */
    send(&pk);
    ipfix_template(&pk, 150, 300);              /* far ahead: no loss assumed */
    send(&pk);
    ipfix_data(&pk, 150, 300, 2, 1700000000);
    send(&pk);
    ipfix_data(&pk, 152, 300, 2, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->nf_seq_gaps, 0);
    cr_expect_eq(ctr->nf_seq_resets, 0);
}

Test(netflow, v9_and_v5_sequences)
{
    for (uint32_t s = 10; s < 14; s++) {
        if (s == 12)
            continue;
        v9_begin(&pk, s, 0, 1000, 1700000000);
        send(&pk);
    }
    cr_expect_eq(ctr->nf_seq_lost_packets, 1);
    v9_begin(&pk, 12, 0, 1000, 1700000000);
    send(&pk);
    cr_expect_eq(ctr->nf_seq_late_packets, 1);
    cr_expect_eq(ctr->nf_seq_recovered, 1);
    v9_begin(&pk, 5000000, 0, 1000, 1700000000);   /* exporter restart */
    send(&pk);
    cr_expect_eq(ctr->nf_seq_resets, 1);

    /* v5 counts flows: 2 flows at 0, then 4 at 2, then 1 at 10 (4 lost) */
    uint32_t seqs[] = {0, 2, 10}, counts[] = {2, 4, 1};
    for (int k = 0; k < 3; k++) {
        pk.n = 0;
        p16(&pk, 5);
        p16(&pk, counts[k]);
        p32(&pk, 1000);
        p32(&pk, 1700000000);
        p32(&pk, 0);
        p32(&pk, seqs[k]);
        p16(&pk, 0);
        p16(&pk, 0);
        memset(pk.b + pk.n, 0, 48 * counts[k]);
        pk.n += 48 * counts[k];
        cr_expect_eq(send(&pk), NF_OK);
    }
    cr_expect_eq(ctr->nf_seq_lost_records, 4);
    cr_expect_eq(out.n, 7);
}

/* ---- persistence ----------------------------------------------------------------------------- */

/* Learns a mix of templates: two exporters (v4, v6), v9 and IPFIX, an
 * options template and a variable-length one. */
static void learn_mix(void)
{
    ipfix_template(&pk, 0, 300);
    send(&pk);
    static const struct fs vt[] = {{8, 4, 0}, {82, NF_VARLEN, 0}, {1, 4, 0}, {5, 2, 12345}};
    ipfix_begin(&pk, 0, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 310, vt, 4, true);
    set_end(&pk);
    set_begin(&pk, 3);
    p16(&pk, 400);
    p16(&pk, 2);
    p16(&pk, 1);
    p16(&pk, 302);
    p16(&pk, 4);
    p16(&pk, 34);
    p16(&pk, 4);
    set_end(&pk);
    ipfix_finish(&pk);
    send(&pk);
    struct nf_source keep = src;
    src.addr.family = 6;
    memcpy(src.addr.addr, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, [15] = 9}, 16);
    src.port = 9995;
    v9_begin(&pk, 0, 77, 1000, 1700000000);
    set_begin(&pk, 0);
    tpl_record(&pk, 260, FLOW, FLOW_N, false);
    set_end(&pk);
    send(&pk);
    src = keep;
}

Test(netflow, export_import_round_trip)
{
    learn_mix();
    struct nf_template_cache *c = nf_decoder_cache(dec);
    cr_assert_eq(nf_cache_template_count(c), 4);
    size_t need = nf_cache_export(c, NULL, 0, NULL);
    uint8_t *blob = malloc(need);
    uint64_t gen;
    cr_assert_eq(nf_cache_export(c, blob, need, &gen), need);
    cr_expect_eq(gen, nf_cache_generation(c));
    cr_expect_eq(nf_cache_export(c, blob, need - 1, NULL), need, "too small: size only");

    restart();   /* a new collector */
    c = nf_decoder_cache(dec);
    uint64_t g0 = nf_cache_generation(c);
    cr_assert_eq(nf_cache_import(c, blob, need, T0, NULL, NULL), 4);
    cr_expect(nf_cache_changed_since(c, g0));
    cr_expect_eq(ctr->cache.nf_templates_imported, 4);
    /* data decodes at once */
    ipfix_data(&pk, 0, 300, 2, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 2);
    src.addr.family = 6;
    memcpy(src.addr.addr, (uint8_t[]){0x20, 0x01, 0x0d, 0xb8, [15] = 9}, 16);
    src.port = 9995;
    v9_begin(&pk, 1, 77, 1000, 1700000000);
    set_begin(&pk, 260);
    flow_rec(&pk, 1, 2, 3, 4, 6, 55, 1, 0);
    set_end(&pk);
    send(&pk);
    cr_assert_eq(out.n, 3);
    cr_expect_eq(recs[2].bytes, 55);
    /* a second export of the imported cache is the same size */
    cr_expect_eq(nf_cache_export(c, NULL, 0, NULL), need);
    free(blob);
}

Test(netflow, import_refuses_damaged_blobs)
{
    learn_mix();
    struct nf_template_cache *c = nf_decoder_cache(dec);
    size_t need = nf_cache_export(c, NULL, 0, NULL);
    uint8_t *blob = malloc(need), *bad = malloc(need + 8);
    nf_cache_export(c, blob, need, NULL);
    restart();
    c = nf_decoder_cache(dec);
    /* every truncation */
    for (size_t l = 0; l < need; l++)
        cr_assert_eq(nf_cache_import(c, blob, l, T0, NULL, NULL), -1, "truncated at %zu", l);
    /* trailing bytes, wrong magic, wrong format, inflated counts */
    memcpy(bad, blob, need);
    cr_expect_eq(nf_cache_import(c, bad, need + 8, T0, NULL, NULL), -1);
    bad[0] = 'X';
    cr_expect_eq(nf_cache_import(c, bad, need, T0, NULL, NULL), -1);
    memcpy(bad, blob, need);
    bad[5] = 2;
    cr_expect_eq(nf_cache_import(c, bad, need, T0, NULL, NULL), -1);
    memcpy(bad, blob, need);
    bad[8] = 0xff;
    cr_expect_eq(nf_cache_import(c, bad, need, T0, NULL, NULL), -1);
    memcpy(bad, blob, need);
    bad[12 + 29] = 0xff;   /* first template's field count */
    cr_expect_eq(nf_cache_import(c, bad, need, T0, NULL, NULL), -1);
    cr_expect_eq(nf_cache_template_count(c), 0, "nothing from a damaged blob");
    free(blob);
    free(bad);
}

static bool only_v6(void *arg, const struct vigil_ip *addr, uint16_t port)
{
    (void)arg;
    (void)port;
    return addr->family == 6;
}

Test(netflow, lmdb_round_trip)
{
    learn_mix();
    test_tmpdir("nfstore");
    const char *path = tmp_path("templates.mdb");
    char err[256];
    struct nf_template_store *st;
    cr_assert_eq(nf_store_open(path, 0, &st, err, sizeof err), 0, "%s", err);
    uint64_t gen = 0;
    cr_assert_eq(nf_store_save_cache(st, "worker-0", nf_decoder_cache(dec), &gen, err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(gen, nf_cache_generation(nf_decoder_cache(dec)));
    cr_assert_eq(nf_store_save(st, "worker-1", (const uint8_t *)"junk", 4, err, sizeof err), 0);
    nf_store_close(st);

    restart();
    cr_assert_eq(nf_store_open(path, 0, &st, err, sizeof err), 0, "%s", err);
    struct nf_template_cache *c = nf_decoder_cache(dec);
    cr_expect_eq(nf_store_load_cache(st, "worker-0", c, T0, NULL, NULL, err, sizeof err), 4);
    cr_expect_eq(nf_store_load_cache(st, "worker-9", c, T0, NULL, NULL, err, sizeof err), 0,
                 "nothing saved under that name");
    cr_expect_eq(nf_store_load_cache(st, "worker-1", c, T0, NULL, NULL, err, sizeof err), -1,
                 "a damaged blob is an error, not a crash");
    ipfix_data(&pk, 0, 300, 3, 1700000000);
    send(&pk);
    cr_expect_eq(out.n, 3, "the restarted collector decodes at once");

    /* a filtered load takes only the v6 exporter's template */
    restart();
    c = nf_decoder_cache(dec);
    cr_expect_eq(nf_store_load_cache(st, "worker-0", c, T0, only_v6, NULL, err, sizeof err), 1);
    cr_expect_eq(ctr->cache.nf_templates_import_skipped, 3);
    nf_store_close(st);
}

static int count_blob(void *arg, const char *name, size_t name_len, const uint8_t *blob,
                      size_t len)
{
    (void)blob;
    (void)len;
    cr_expect(name_len == 8 && memcmp(name, "worker-", 7) == 0);
    ++*(int *)arg;
    return 0;
}

Test(netflow, lmdb_foreach_and_errors)
{
    char err[256];
    struct nf_template_store *st;
    cr_expect_eq(nf_store_open("/nonexistent-dir/x.mdb", 0, &st, err, sizeof err), -1);
    cr_expect_neq(err[0], 0);
    test_tmpdir("nfstore2");
    cr_assert_eq(nf_store_open(tmp_path("t.mdb"), 0, &st, err, sizeof err), 0, "%s", err);
    cr_expect_eq(nf_store_save(st, "", (const uint8_t *)"x", 1, err, sizeof err), -1);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "worker-%d", i);
        cr_assert_eq(nf_store_save(st, name, (const uint8_t *)"blob", 4, err, sizeof err), 0);
    }
    int n = 0;
    cr_expect_eq(nf_store_foreach(st, count_blob, &n, err, sizeof err), 0);
    cr_expect_eq(n, 3);
    uint8_t *b;
    size_t l;
    cr_expect_eq(nf_store_load(st, "worker-2", &b, &l, err, sizeof err), 0);
    cr_expect_eq(l, 4);
    free(b);
    nf_store_close(st);
}

/* ---- random damage ---------------------------------------------------------------------------- */

Test(netflow, random_damage_never_escapes)
{
    /* a template + data message, damaged byte by byte and at random: the
     * decoder must stay inside the buffer (ASan) and keep its bounds */
    learn_mix();
    ipfix_begin(&pk, 5, 1, 1700000000);
    set_begin(&pk, 2);
    tpl_record(&pk, 300, FLOW, FLOW_N, true);
    set_end(&pk);
    set_begin(&pk, 300);
    for (int i = 0; i < 3; i++)
        flow_rec(&pk, 1, 2, 3, 4, 6, 10, 1, 0);
    set_end(&pk);
    ipfix_finish(&pk);
    uint8_t orig[512];
    size_t n = pk.n;
    memcpy(orig, pk.b, n);
    uint32_t rnd = 12345;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(pk.b, orig, n);
        pk.n = n;
        for (int k = 0; k < 1 + iter % 4; k++) {
            rnd = rnd * 1103515245u + 12345u;
            pk.b[(rnd >> 8) % n] = (uint8_t)(rnd >> 20);
        }
        if (iter % 7 == 0)
            pk.n = (rnd >> 4) % (n + 1);
        uint8_t *exact = malloc(pk.n ? pk.n : 1);   /* no slack for ASan to miss */
        memcpy(exact, pk.b, pk.n);
        out.n = 0;
        nf_decode(dec, exact, pk.n, &src, T0 + iter, &out);
        free(exact);
        cr_assert_leq(out.n, MAXREC);
    }
    struct nf_template_cache *c = nf_decoder_cache(dec);
    cr_expect_leq(nf_cache_template_count(c), cfg.cache.max_templates);
    cr_expect_leq(nf_cache_pending_count(c), cfg.cache.pending_max_sets);
}
