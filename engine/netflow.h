/* NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) decoder.
 *
 * One decoder per worker core: it owns the template cache
 * (nf_template_cache.h) and the counters, and is neither thread-safe nor
 * locked.  nf_decode() takes one UDP payload and the exporter it came from
 * (address and source port, which the caller knows from the IP/UDP headers)
 * and appends one struct nf_record (flow.h) per flow data record to the
 * caller's output array.  It never allocates, never prints, never writes to
 * the packet, and reads nothing outside pkt[0..len): all lengths and counts
 * in the packet are checked against the bytes that are really there, every
 * loop is bounded by the packet length or a configured limit, and anything
 * malformed is counted by reason in struct nf_counters and skipped.
 *
 *   NetFlow v5: header count (1..30) and length checked; sampling interval
 *     from the header; first/last from sysUptime and the export time.
 *   NetFlow v9: template and options template flowsets, data flowsets,
 *     scope fields, padding, 0-length fields, vendor field types.
 *   IPFIX: template and options template sets, template withdrawal (one id
 *     or all), variable-length fields, enterprise elements skipped by length
 *     (RFC 5103 reverse counters excepted), reduced-size encoding, the
 *     absolute time elements and sysUpTime ones via systemInitTimeMilliseconds.
 *
 * Options data records are not emitted as flows: their sampling fields
 * (IE 34, 50, 305/306, 309/310, keyed by IE 48/302 when present) and
 * systemInitTimeMilliseconds (IE 160) update the exporter's domain state,
 * which later flow records use.  Data sets that arrive before their template
 * are held (bounded) and decoded when it comes, within the nf_decode call
 * that delivers it.
 *
 * Sequence numbers are tracked per exporter and domain: v5 counts flows, v9
 * export packets, IPFIX data records (RFC 7011 section 3.1).  Gaps ahead are
 * counted as lost; packets up to a small window behind are counted as late
 * and what they carried as recovered; jumps beyond either window are taken
 * as an exporter restart (nf_seq_resets) and resynchronized without
 * counting loss.  See docs/netflow.md for the field mapping and choices.
 */
#ifndef VIGIL_ENGINE_NETFLOW_H
#define VIGIL_ENGINE_NETFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/flow.h"
#include "engine/nf_template_cache.h"

struct nf_config {
    struct nf_cache_config cache;
};

/* Defaults suited to one worker: 1024 exporters, 8 domains each, 4096
 * templates (256 per exporter, 256 fields each), 30 min template timeout,
 * 256 held sets / 1 MiB / 10 s. */
void nf_config_default(struct nf_config *cfg);

struct nf_counters {
    uint64_t nf_packets_v5;
    uint64_t nf_packets_v9;
    uint64_t nf_packets_ipfix;
    uint64_t nf_packets_bad_version;        /* not 5, 9 or 10 */
    uint64_t nf_records_v5;                 /* flow records decoded */
    uint64_t nf_records_v9;
    uint64_t nf_records_ipfix;
    uint64_t nf_options_records_v9;         /* options data records applied */
    uint64_t nf_options_records_ipfix;
    uint64_t nf_records_dropped_output_full;/* no room in nf_output and no flush */
    uint64_t nf_sampling_updates;           /* options records that set a sampling interval */
    uint64_t nf_data_sets_without_template; /* data sets whose template was not known */
    uint64_t nf_data_sets_dropped_no_template; /* ... and could not be held */
    uint64_t nf_sets_reserved_id;           /* set ids the RFCs reserve: skipped */
    uint64_t nf_v5_trailing_bytes;          /* v5 packets longer than their count says */
    uint64_t nf_ipfix_trailing_bytes;       /* datagrams longer than the IPFIX length */

    uint64_t nf_seq_gaps;                   /* sequence jumps ahead within the window */
    uint64_t nf_seq_lost_records;           /* v5 flows and IPFIX records lost in gaps */
    uint64_t nf_seq_lost_packets;           /* v9 export packets lost in gaps */
    uint64_t nf_seq_late_packets;           /* arrived behind the expected sequence */
    uint64_t nf_seq_recovered;              /* records/packets of late arrivals earlier counted lost */
    uint64_t nf_seq_resets;                 /* jumps outside the windows: resynchronized */

    /* malformed, by reason; the packet or the rest of the set is dropped */
    uint64_t nf_malformed_short_header;     /* shorter than the version's header */
    uint64_t nf_malformed_v5_count;         /* v5 count 0 or above 30 */
    uint64_t nf_malformed_v5_length;        /* v5 datagram shorter than 24 + 48 x count */
    uint64_t nf_malformed_ipfix_length;     /* IPFIX length below 16 or past the datagram */
    uint64_t nf_malformed_set_length;       /* set length below 4 or past the packet */
    uint64_t nf_malformed_template_id;      /* template id below 256 (not a withdrawal) */
    uint64_t nf_malformed_zero_field_template; /* v9 template with no fields */
    uint64_t nf_malformed_field_count;      /* template fields run past the set */
    uint64_t nf_malformed_options_length;   /* v9 scope/option lengths not multiples of 4 */
    uint64_t nf_malformed_scope;            /* IPFIX scope count 0 or above the field count */
    uint64_t nf_malformed_varlen;           /* variable-length field runs past the set */

    struct nf_cache_counters cache;         /* templates, exporters, pending sets */
};

/* Where decoded records go.  nf_decode appends at recs[n].  When n reaches
 * cap, flush (if set) is called with the full array and n restarts at 0;
 * without flush further records are counted in nf_records_dropped_output_full.
 * The records left in recs[0..n) at return are the caller's to consume.
 * flush must not call back into the decoder. */
struct nf_output {
    struct nf_record *recs;
    uint32_t cap;
    uint32_t n;
    void (*flush)(void *ctx, struct nf_record *recs, uint32_t n);
    void *ctx;
};

/* The exporter: the datagram's IP source address and UDP source port. */
struct nf_source {
    struct vigil_ip addr;
    uint16_t port;
};

enum nf_status {
    NF_OK = 0,          /* decoded; data sets without a template may be held */
    NF_PARTIAL,         /* header valid, but a set was malformed: the rest skipped (counted) */
    NF_ERR_SHORT,       /* shorter than the version's header */
    NF_ERR_VERSION,     /* not NetFlow v5, v9 or IPFIX */
    NF_ERR_LENGTH,      /* header count/length disagree with the datagram */
};

struct nf_decoder;

/* NULL when the configuration is invalid or memory is short.  All memory
 * the decoder will use is allocated here. */
struct nf_decoder *nf_decoder_new(const struct nf_config *cfg);
void nf_decoder_free(struct nf_decoder *d);

/* Decodes one datagram received at now_ns (used for template and pending
 * timeouts and exporter recency, not for record times). */
enum nf_status nf_decode(struct nf_decoder *d, const uint8_t *pkt, size_t len,
                         const struct nf_source *src, int64_t now_ns, struct nf_output *out);

/* Housekeeping the worker calls now and then (e.g. once a second): expires
 * templates and held sets past their timeouts, looking at no more than
 * max_templates template slots. */
void nf_decoder_tick(struct nf_decoder *d, int64_t now_ns, uint32_t max_templates);

const struct nf_counters *nf_decoder_counters(const struct nf_decoder *d);
/* The decoder's template cache: export/import, generation, exporter stats. */
struct nf_template_cache *nf_decoder_cache(struct nf_decoder *d);

#endif
