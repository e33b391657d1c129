/* NetFlow v9 / IPFIX template cache: one per worker core.
 *
 * Templates are scoped as RFC 3954 (section 5.1) and RFC 7011 (section 8)
 * require: by the exporter's address and UDP source port (the transport
 * session as a collector bound to one port sees it), the protocol version,
 * the Source ID / Observation Domain ID, and the Template ID.  The cache
 * also owns what else belongs to one exporter: its table entry with
 * per-exporter statistics, and per (exporter, version, domain) state for
 * sequence tracking, sampling rates and the IPFIX system init time.
 *
 * A learned template is compiled once into a short list of ops, one per
 * field the decoder keeps (source address, counters, times...), each with
 * its offset in the data record when the template has no variable-length
 * field.  Decoding a record is then a walk over those few ops; fields
 * Vigil does not map, vendor fields included, cost nothing.
 *
 * Not thread-safe and without locks: each worker owns its cache.  All memory
 * is allocated by nf_cache_new from the configured limits; nothing here
 * allocates afterwards.  Every limit is enforced by eviction or refusal, and
 * every eviction and refusal is counted in struct nf_cache_counters.
 *
 * Data sets whose template is not known yet are copied into a bounded
 * pending buffer (count, bytes and age limits) and handed back when their
 * template arrives (nf_cache_pending_drain), else dropped and counted.
 *
 * Persistence: nf_cache_export serializes every template with its key into
 * a compact, position-independent, big-endian blob and nf_cache_import
 * loads one back (through the same checks as templates off the wire).
 * nf_cache_generation changes whenever the set of templates does, and may be
 * read from any thread, so a helper thread can tell when a save is due.
 */
#ifndef VIGIL_ENGINE_NF_TEMPLATE_CACHE_H
#define VIGIL_ENGINE_NF_TEMPLATE_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"
#include "engine/flow.h"

struct nf_cache_config {
    uint32_t max_exporters;              /* exporter table entries */
    uint32_t max_domains_per_exporter;   /* (version, domain) states per exporter */
    uint32_t max_templates;              /* templates in total */
    uint32_t max_templates_per_exporter;
    uint32_t max_fields_per_template;    /* longer templates are refused (<= 65535) */
    int64_t template_timeout_ns;         /* not re-announced for this long: expired; 0 = never */
    uint32_t pending_max_sets;           /* data sets held for a template; 0 disables holding */
    uint32_t pending_max_bytes;          /* bytes of held data sets */
    int64_t pending_timeout_ns;          /* a held set older than this is dropped */
    /* Key exporters by address only (port taken as 0).  Off by default, as
     * the RFCs scope templates to the transport session; on for exporters
     * that send from changing source ports (as pmacct and nfdump key). */
    bool ignore_source_port;
};

struct nf_cache_counters {
    uint64_t nf_templates_learned;                 /* new (key) templates accepted */
    uint64_t nf_templates_refreshed;               /* re-announced, same definition */
    uint64_t nf_templates_redefined;               /* re-announced with new fields: replaced */
    uint64_t nf_templates_withdrawn;               /* IPFIX withdrawals that removed one */
    uint64_t nf_templates_withdraw_unknown;        /* withdrawal of a template not held */
    uint64_t nf_templates_expired;                 /* not refreshed within template_timeout */
    uint64_t nf_templates_evicted_exporter_limit;  /* LRU of an exporter at its limit */
    uint64_t nf_templates_evicted_total_limit;     /* global LRU, cache full */
    uint64_t nf_templates_evicted_with_exporter;   /* dropped with their evicted exporter */
    uint64_t nf_templates_refused_too_many_fields; /* over max_fields_per_template */
    uint64_t nf_templates_refused_record_length;   /* data records of 0 bytes or > 65535 */
    uint64_t nf_templates_imported;                /* loaded by nf_cache_import */
    uint64_t nf_templates_import_skipped;          /* import: filtered out or refused */
    uint64_t nf_exporters_created;
    uint64_t nf_exporters_evicted;                 /* LRU exporter dropped for a new one */
    uint64_t nf_domains_evicted;                   /* LRU domain state of an exporter reused */
    uint64_t nf_pending_sets_held;                 /* data sets copied to wait for a template */
    uint64_t nf_pending_sets_decoded;              /* ... handed back when it arrived */
    uint64_t nf_pending_dropped_expired;           /* ... dropped after pending_timeout */
    uint64_t nf_pending_dropped_overflow;          /* ... dropped (oldest) when full */
    uint64_t nf_pending_dropped_too_big;           /* ... larger than the whole buffer */
    uint64_t nf_pending_dropped_exporter_gone;     /* ... their exporter was evicted */
};

/* Template kinds. */
enum nf_tpl_kind { NF_TPL_DATA = 0, NF_TPL_OPTIONS = 1 };

/* One field specifier as announced.  pen is the IPFIX enterprise number
 * (0 for IANA elements and for all of v9); len 65535 is variable length. */
struct nf_field {
    uint16_t ie;
    uint16_t len;
    uint32_t pen;
};

#define NF_VARLEN 65535

/* Compiled op kinds.  W* store a big-endian unsigned integer of `len` bytes
 * (1..8, reduced-size encoding included) into a field of the record of that
 * width; IP* copy an address.  *_ALT write only when the record does not
 * already hold a non-zero address (a template carrying both v4 and v6).
 * The encodings exporters really use get their own kind, NF_OP_<bytes>_<field
 * bits> (X: a scratch slot), so each op is one dispatch and one load. */
enum nf_op_kind {
    NF_OP_W8 = 0,
    NF_OP_W16,
    NF_OP_W32,
    NF_OP_W64,
    NF_OP_SCRATCH,     /* integer into the decoder's scratch slot `dst` */
    NF_OP_IP4,
    NF_OP_IP6,
    NF_OP_IP4_ALT,
    NF_OP_IP6_ALT,
    NF_OP_1_8,
    NF_OP_1_16,
    NF_OP_2_16,
    NF_OP_2_32,
    NF_OP_4_32,
    NF_OP_4_64,
    NF_OP_8_64,
    NF_OP_1_X,
    NF_OP_2_X,
    NF_OP_4_X,
    NF_OP_8_X,
};

/* Scratch slots a flow record's ops may fill (NF_OP_SCRATCH). */
enum nf_flow_scratch {
    NF_X_START_RAW = 0,  /* start time as encoded; see start_conv */
    NF_X_END_RAW,
    NF_X_SAMPLER_ID,     /* IE 48 / 302: looked up in the domain's sampler table */
    NF_X__COUNT
};

/* Scratch slots of an options record. */
enum nf_opt_scratch {
    NF_O_SAMPLER_ID = 0, /* IE 48 flowSamplerId / 302 selectorId */
    NF_O_INTERVAL,       /* IE 34 samplingInterval / 50 samplerRandomInterval */
    NF_O_PKT_INTERVAL,   /* IE 305 samplingPacketInterval */
    NF_O_PKT_SPACE,      /* IE 306 samplingPacketSpace */
    NF_O_SIZE,           /* IE 309 samplingSize */
    NF_O_POPULATION,     /* IE 310 samplingPopulation */
    NF_O_SYSINIT_MS,     /* IE 160 systemInitTimeMilliseconds */
    NF_O__COUNT
};

/* Bits of nf_template.opt_have: which options scratch slots are filled. */
#define NF_OPT_HAVE(slot) (1u << (slot))

/* How a raw start/end value becomes UTC ns (the template decides). */
enum nf_time_conv {
    NF_TIME_NONE = 0,
    NF_TIME_SYSUPTIME_MS,  /* IE 21/22: ms of exporter uptime (v9 header uptime, IPFIX IE 160) */
    NF_TIME_SEC,           /* IE 150/151 */
    NF_TIME_MS,            /* IE 152/153 */
    NF_TIME_NTP,           /* IE 154..157: NTP 64-bit timestamp */
    NF_TIME_DELTA_US,      /* IE 158/159: microseconds before the export time */
};

struct nf_op {
    uint16_t off;     /* byte offset in the record (fixed-length templates) */
    uint16_t field;   /* index of the field in the template */
    uint16_t dst;     /* byte offset in struct nf_record, or scratch slot */
    uint8_t kind;     /* enum nf_op_kind */
    uint8_t len;      /* bytes in the record */
};

#define NF_MAX_OPS 32

struct nf_template {
    /* key */
    uint32_t exporter;        /* exporter slot */
    uint32_t domain;
    uint16_t id;
    uint8_t version;          /* 9 or 10 */
    uint8_t kind;             /* enum nf_tpl_kind */

    uint16_t n_fields;
    uint16_t n_scope;         /* options: leading scope fields */
    uint32_t rec_len;         /* data record bytes; for variable-length templates the minimum */
    uint8_t varlen;           /* has a variable-length field: records walked field by field */
    uint8_t n_ops;
    uint8_t start_conv;       /* enum nf_time_conv */
    uint8_t end_conv;
    uint32_t present;         /* NF_HAS_* bits every record of this template sets */
    uint32_t opt_have;        /* options: NF_OPT_HAVE bits */
    uint8_t sampler_lookup;   /* records carry a sampler id (NF_X_SAMPLER_ID) */
    uint8_t in_use;
    struct nf_op ops[NF_MAX_OPS];

    int64_t refreshed_ns;     /* last announced */
    uint32_t lru_prev, lru_next;   /* global use order */
    uint32_t exp_prev, exp_next;   /* the exporter's templates */
    struct nf_field *fields;  /* n_fields, in the cache's field pool */
};

#define NF_SAMPLERS_PER_DOMAIN 4

/* Per (exporter, version, observation domain) state. */
struct nf_domain {
    uint32_t id;
    uint8_t version;          /* 5, 9, 10; 0 = free slot */
    uint8_t seq_synced;       /* next_seq is meaningful */
    uint8_t n_samplers;
    uint8_t sampler_next;     /* round-robin replacement */
    uint32_t next_seq;        /* sequence number expected next */
    uint32_t default_sampling;/* from options records without a sampler id; 0 unknown */
    uint32_t sampler_id[NF_SAMPLERS_PER_DOMAIN];
    uint32_t sampler_interval[NF_SAMPLERS_PER_DOMAIN];
    int64_t sys_init_ms;      /* IPFIX systemInitTimeMilliseconds; 0 unknown */
    int64_t last_seen_ns;
    uint64_t lost;            /* lost records (v5, IPFIX) or packets (v9), net of late ones */
};

/* Per-exporter statistics, as nf_cache_exporter_stats copies them out. */
struct nf_exporter_stats {
    struct vigil_ip addr;
    uint16_t port;
    int64_t first_seen_ns;
    int64_t last_seen_ns;
    uint64_t packets;
    uint64_t records;          /* flow records emitted */
    uint64_t packets_by_version[3]; /* [0] v5, [1] v9, [2] IPFIX */
    uint64_t records_by_version[3];
    uint64_t options_records;
    uint64_t malformed;        /* packets or sets dropped as malformed */
    uint64_t seq_gaps;
    uint64_t lost_records;     /* v5 and IPFIX sequence gaps, in records */
    uint64_t lost_packets;     /* v9 sequence gaps, in export packets */
    uint64_t late_packets;     /* arrived behind the expected sequence number */
    uint64_t recovered;        /* records/packets of late arrivals earlier counted lost */
    uint64_t seq_resets;
    uint32_t templates;
};

struct nf_exporter {
    struct nf_exporter_stats st;
    uint8_t in_use;
    uint32_t lru_prev, lru_next;
    uint32_t tpl_head;        /* first template of this exporter, or NF_NONE */
    struct nf_domain *domains; /* max_domains_per_exporter, in the cache's pool */
};

#define NF_NONE 0xFFFFFFFFu

struct nf_template_cache;

/* Context a held data set needs to be decoded later. */
struct nf_pending_ctx {
    int64_t export_ns;        /* header export time */
    uint32_t sys_uptime_ms;   /* v9 header uptime */
    uint32_t domain;
    uint16_t set_id;
    uint8_t version;
};

/* NULL when the configuration is invalid (a zero limit, fields > 65535) or
 * memory is short.  counters must outlive the cache; it is zeroed here. */
struct nf_template_cache *nf_cache_new(const struct nf_cache_config *cfg,
                                       struct nf_cache_counters *counters);
void nf_cache_free(struct nf_template_cache *c);
const struct nf_cache_config *nf_cache_config_of(const struct nf_template_cache *c);

/* The exporter entry of addr/port, created (evicting the least recently seen
 * exporter when the table is full) if new.  Never NULL.  With
 * ignore_source_port, port is not part of the key (and stats show 0). */
struct nf_exporter *nf_cache_exporter(struct nf_template_cache *c, const struct vigil_ip *addr,
                                      uint16_t port, int64_t now_ns);
/* Slot number of e (the key templates and held sets use). */
uint32_t nf_cache_exporter_slot(const struct nf_template_cache *c, const struct nf_exporter *e);

/* The exporter's state for (version, domain id), created (reusing the least
 * recently seen one when all are taken) if new.  Never NULL. */
struct nf_domain *nf_cache_domain(struct nf_template_cache *c, struct nf_exporter *e,
                                  uint8_t version, uint32_t domain, int64_t now_ns);

/* The live template for the key, or NULL.  A template past its timeout is
 * expired here (counted) and NULL returned.  Marks it recently used. */
const struct nf_template *nf_cache_find(struct nf_template_cache *c, struct nf_exporter *e,
                                        uint8_t version, uint32_t domain, uint16_t id,
                                        int64_t now_ns);

enum nf_learn_result {
    NF_LEARN_NEW = 0,
    NF_LEARN_REFRESHED,
    NF_LEARN_REDEFINED,
    NF_LEARN_REFUSED_FIELDS,     /* more fields than max_fields_per_template */
    NF_LEARN_REFUSED_LENGTH,     /* records would be 0 or more than 65535 bytes */
};

/* Learns (or refreshes) a template.  fields[0..n_fields) is copied; for
 * options templates the first n_scope fields are the scope.  *out is set to
 * the stored template for NEW/REFRESHED/REDEFINED, else NULL.  When n_fields
 * is above max_fields_per_template, fields is not read (may be NULL). */
enum nf_learn_result nf_cache_learn(struct nf_template_cache *c, struct nf_exporter *e,
                                    uint8_t version, uint32_t domain, uint16_t id, uint8_t kind,
                                    uint16_t n_scope, const struct nf_field *fields,
                                    uint32_t n_fields, int64_t now_ns,
                                    const struct nf_template **out);

/* Withdraws one template (1 when it was held, 0 when unknown). */
int nf_cache_withdraw(struct nf_template_cache *c, struct nf_exporter *e, uint8_t version,
                      uint32_t domain, uint16_t id);
/* Withdraws every template of one kind of (exporter, version, domain):
 * IPFIX "all data templates" / "all options templates".  Returns how many. */
uint32_t nf_cache_withdraw_all(struct nf_template_cache *c, struct nf_exporter *e,
                               uint8_t version, uint32_t domain, uint8_t kind);

/* Holds a copy of a data set (its records, without the set header) until
 * its template arrives.  Returns 1 when held, 0 when dropped (counted). */
int nf_cache_pending_add(struct nf_template_cache *c, const struct nf_exporter *e,
                         const struct nf_pending_ctx *ctx, const uint8_t *records,
                         uint32_t len, int64_t now_ns);

typedef void (*nf_pending_fn)(void *arg, const struct nf_pending_ctx *ctx,
                              const uint8_t *records, uint32_t len);
/* Hands every held set of template t to fn (oldest first) and releases them.
 * Returns how many sets were handed back. */
uint32_t nf_cache_pending_drain(struct nf_template_cache *c, const struct nf_template *t,
                                int64_t now_ns, nf_pending_fn fn, void *arg);
uint32_t nf_cache_pending_count(const struct nf_template_cache *c);

/* Expires templates and held sets that are past their timeouts.  Bounded
 * work: looks at no more than max_templates template slots per call. */
void nf_cache_sweep(struct nf_template_cache *c, int64_t now_ns, uint32_t max_templates);

uint32_t nf_cache_template_count(const struct nf_template_cache *c);
uint32_t nf_cache_exporter_count(const struct nf_template_cache *c);
/* Copies up to cap exporters' statistics; returns how many were copied. */
uint32_t nf_cache_exporter_stats(const struct nf_template_cache *c, struct nf_exporter_stats *out,
                                 uint32_t cap);

/* Changes whenever templates are added, redefined, withdrawn, expired,
 * evicted or imported (not on a refresh).  Safe to read from any thread. */
uint64_t nf_cache_generation(const struct nf_template_cache *c);
/* Cheap check for a saver: has the template set changed since gen? */
static inline bool nf_cache_changed_since(const struct nf_template_cache *c, uint64_t gen)
{
    return nf_cache_generation(c) != gen;
}

/* Serializes every live template with its key into buf.  Returns the bytes
 * the blob needs; writes only when that is <= cap.  *gen (may be NULL) gets
 * the generation the blob reflects.  Owner thread only. */
size_t nf_cache_export(const struct nf_template_cache *c, uint8_t *buf, size_t cap,
                       uint64_t *gen);

/* Optional import filter: return false to skip an exporter's templates
 * (e.g. exporters another worker owns). */
typedef bool (*nf_import_filter)(void *arg, const struct vigil_ip *addr, uint16_t port);

/* Loads a blob from nf_cache_export.  Templates go through the same limits
 * as learned ones and count as refreshed now.  Returns the number imported,
 * or -1 (nothing imported) when the blob is malformed or from another format
 * version. */
int nf_cache_import(struct nf_template_cache *c, const uint8_t *blob, size_t len, int64_t now_ns,
                    nf_import_filter filter, void *arg);

#endif
