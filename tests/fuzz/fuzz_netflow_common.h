/* What the NetFlow libFuzzer targets share.
 *
 * An input is a sequence of datagrams, each prefixed by a 16-bit big-endian
 * length (a prefix running past the end takes the rest), so one input can
 * drive an exporter through several packets.  Each datagram is decoded from
 * an exact-size copy (ASan sees any read past it) with its version field
 * forced, so every mutation exercises the version under test.
 *
 * v9 and IPFIX differ only in that version, so their whole run is here
 * (fuzz_nf_templated): one input defines templates, withdraws them and sends
 * data; every record is read field by field and checked; time moves on
 * between datagrams so timeouts fire; and at the end the learned templates
 * go through export and import into a second decoder.  Limits are small so
 * floods hit them.
 *
 * Static functions in a header: each target is one translation unit linked
 * with the decoder alone (tests/fuzz/CMakeLists.txt).
 */
#ifndef VIGIL_FUZZ_NETFLOW_COMMON_H
#define VIGIL_FUZZ_NETFLOW_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/netflow.h"
#include "engine/nf_template_cache.h"

#define NS 1000000000LL

/* Reads of the records land here, so the compiler cannot drop them. */
static volatile uint64_t sink;

/* The next datagram of the input after *off, as an exact-size malloc'd
 * copy (*len bytes) with its version forced to version; *off moves past
 * it.  NULL when fewer than two bytes (a length prefix) are left. */
static inline uint8_t *fuzz_nf_next(const uint8_t *data, size_t size, size_t *off, uint8_t version, size_t *len)
{
    if (*off >= size || size - *off < 2)
        return NULL;
    size_t want = (size_t)data[*off] << 8 | data[*off + 1];
    *off += 2;
    size_t n = size - *off;
    if (want < n)
        n = want;
    uint8_t *pkt = malloc(n ? n : 1);
    if (!pkt)
        abort();
    memcpy(pkt, data + *off, n);
    if (n >= 2) {
        pkt[0] = 0;
        pkt[1] = version;
    }
    *off += n;
    *len = n;
    return pkt;
}

static inline void fuzz_nf_check_records(const struct nf_output *out, uint8_t version)
{
    for (uint32_t i = 0; i < out->n; i++) {
        const struct nf_record *r = &out->recs[i];
        const uint8_t *b = (const uint8_t *)r;
        uint64_t acc = 0;
        for (size_t k = 0; k < sizeof *r; k++)
            acc += b[k];
        sink += acc;
        if ((r->src.family != 0 && r->src.family != 4 && r->src.family != 6) ||
            (r->dst.family != 0 && r->dst.family != 4 && r->dst.family != 6) ||
            r->version != version || r->template_id < 256)
            abort();
    }
}

static inline struct nf_decoder *fuzz_nf_new_decoder(void)
{
    struct nf_config cfg;
    nf_config_default(&cfg);
    cfg.cache.max_exporters = 4;
    cfg.cache.max_domains_per_exporter = 2;
    cfg.cache.max_templates = 32;
    cfg.cache.max_templates_per_exporter = 16;
    cfg.cache.max_fields_per_template = 64;
    cfg.cache.template_timeout_ns = 30 * NS;
    cfg.cache.pending_max_sets = 8;
    cfg.cache.pending_max_bytes = 4096;
    cfg.cache.pending_timeout_ns = 5 * NS;
    struct nf_decoder *d = nf_decoder_new(&cfg);
    if (!d)
        abort();
    return d;
}

/* One input through a template-based decoder (version 9 or 10). */
static inline int fuzz_nf_templated(const uint8_t *data, size_t size, uint8_t version)
{
    struct nf_decoder *d = fuzz_nf_new_decoder();
    static struct nf_record recs[64];
    struct nf_output out = {recs, 64, 0, NULL, NULL};
    struct nf_source src = {.addr = {.family = 4, .addr = {192, 0, 2, 1}}, .port = 2055};
    int64_t now = 1700000000LL * NS;
    size_t off = 0, len;
    uint8_t *pkt;
    for (unsigned k = 0; k < 64 && (pkt = fuzz_nf_next(data, size, &off, version, &len)); k++) {
        src.addr.addr[3] = (uint8_t)(1 + (k & 1));   /* two exporters */
        out.n = 0;
        nf_decode(d, pkt, len, &src, now, &out);
        fuzz_nf_check_records(&out, version);
        free(pkt);
        now += (int64_t)(k % 5) * 3 * NS;
        if (k % 3 == 2)
            nf_decoder_tick(d, now, 8);
    }
    /* persistence: what was learned survives export/import */
    struct nf_template_cache *c = nf_decoder_cache(d);
    size_t need = nf_cache_export(c, NULL, 0, NULL);
    uint8_t *blob = malloc(need);
    if (!blob || nf_cache_export(c, blob, need, NULL) != need)
        abort();
    struct nf_decoder *d2 = fuzz_nf_new_decoder();
    if (nf_cache_import(nf_decoder_cache(d2), blob, need, now, NULL, NULL) < 0)
        abort();
    if (nf_cache_template_count(nf_decoder_cache(d2)) > nf_cache_template_count(c))
        abort();
    free(blob);
    nf_decoder_free(d2);
    nf_decoder_free(d);
    return 0;
}

#endif
