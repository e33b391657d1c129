/* libFuzzer target for the NetFlow v5 decoder.
 *
 * The input is framed as fuzz_netflow_common.h says, with the version
 * forced to 5, so the sequence tracking sees several packets of one
 * exporter.  A datagram either yields exactly its header count of records,
 * with the fields the v5 format always carries, or none.
 */
#include "fuzz_netflow_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nf_decoder *d;
    if (!d) {
        struct nf_config cfg;
        nf_config_default(&cfg);
        cfg.cache.max_exporters = 4;
        cfg.cache.max_templates = 4;
        cfg.cache.max_templates_per_exporter = 4;
        cfg.cache.max_fields_per_template = 16;
        cfg.cache.pending_max_sets = 0;
        d = nf_decoder_new(&cfg);
        if (!d)
            abort();
    }
    static struct nf_record recs[32];
    struct nf_output out = {recs, 32, 0, NULL, NULL};
    struct nf_source src = {.addr = {.family = 6, .addr = {0x20, 0x01, 0x0d, 0xb8}}, .port = 9995};
    size_t off = 0, len;
    uint8_t *pkt;
    for (unsigned k = 0; k < 64 && (pkt = fuzz_nf_next(data, size, &off, 5, &len)); k++) {
        out.n = 0;
        enum nf_status st = nf_decode(d, pkt, len, &src, 1700000000LL * NS + k, &out);
        unsigned count = len >= 4 ? (unsigned)pkt[2] << 8 | pkt[3] : 0;
        if (st == NF_OK ? out.n != count : out.n != 0)
            abort();
        for (uint32_t i = 0; i < out.n; i++) {
            const struct nf_record *r = &recs[i];
            if (r->version != 5 || r->src.family != 4 || r->dst.family != 4 ||
                !(r->present & NF_HAS_START) || r->sampling_interval > 0x3fff)
                abort();
            sink += r->bytes + r->packets + (uint64_t)r->start_ns + (uint64_t)r->end_ns;
        }
        free(pkt);
    }
    return 0;
}
