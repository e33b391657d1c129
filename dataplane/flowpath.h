/* The NetFlow/IPFIX path of a vigil-dp worker.
 *
 * A datagram to a netflow port from an allowed exporter is decoded by the
 * worker's own decoder (engine/netflow.h: template cache, sequence tracking,
 * held data sets), and every flow record is checked: reputation lists on its
 * source and destination (dataplane/reputation.h), then the flow rules
 * (engine/flow_rules.h).  A rule that matches becomes a flow signal
 * (SIGNAL_FLOW) in the worker's signal ring to vigil-cp, exactly like a
 * detection signal.  Nothing here allocates after flow_worker_init.
 *
 * The checks (rules + lists) are a value published by the main lcore and
 * replaced under RCU on SIGHUP, like the syslog ruleset: a worker reads the
 * pointer once per burst.
 *
 * Templates survive restarts: when a worker's template set changed, at most
 * once a second it exports the set into a buffer it owns and hands it to the
 * main lcore (flow_worker_take_export), which writes it to the template
 * store (engine/nf_template_store.h) off the packet path.
 */
#ifndef VIGIL_DATAPLANE_FLOWPATH_H
#define VIGIL_DATAPLANE_FLOWPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "engine/diag.h"
#include "engine/netflow.h"

struct flow_ruleset;
struct reputation;
struct vigil_config;
struct worker;
struct pkt_info;

#define FLOW_RECS_MAX    512     /* records decoded before they are checked (a v9/IPFIX datagram rarely holds more) */
#define FLOW_EXPORT_MAX  (8u << 20) /* largest template export a worker hands over */
#define FLOW_EXPORTERS_SHOWN 256    /* exporters per worker in the counters file */

/* What a worker checks flow records against.  Read-only once published. */
struct flow_checks {
    struct flow_ruleset *rules;        /* NULL: no flow rules */
    struct reputation *rep;            /* NULL: no lists */
    unsigned n_workers;
    uint64_t *matches;                 /* [worker * n_rules + rule]: written by that worker only */
    uint64_t *rep_hits;                /* [worker * n_lists + list] */
};

/* Builds the checks of cfg (netflow.rules, netflow.reputation) for
 * n_workers.  Rule errors go to d (file, line); a list that cannot be read
 * or parsed is an error in err and nothing is built.  0, or -1. */
int flow_checks_load(const struct vigil_config *cfg, unsigned n_workers, int socket, struct flow_checks **out,
                     struct diag *d, char *err, size_t errlen);
void flow_checks_free(struct flow_checks *fc);
unsigned flow_checks_rule_count(const struct flow_checks *fc);

/* Per-rule and per-list counters summed over workers, as one JSON object. */
void flow_checks_print_json(const struct flow_checks *fc, FILE *f);

struct flow_worker {
    struct nf_decoder *dec;
    struct nf_record *recs;            /* FLOW_RECS_MAX */
    /* template hand-over: the worker fills export_buf when export_ready is
     * 0, then sets it to 1; the main lcore saves it and sets it back to 0 */
    uint8_t *export_buf;
    size_t export_len;
    uint64_t export_gen;               /* generation the buffer (or the last save) reflects */
    int64_t next_export_ns;
    int export_ready;
    /* per-exporter counters, copied by the worker once a second for the
     * main lcore (a sequence lock: odd while the worker writes) */
    struct nf_exporter_stats *exporters;   /* FLOW_EXPORTERS_SHOWN */
    uint32_t n_exporters;
    uint32_t exporters_seq;
};

/* Allocates the decoder (cfg limits) and buffers (with persist, the
 * template export buffer too).  0, or -1. */
int flow_worker_init(struct flow_worker *fw, const struct nf_config *cfg, bool persist);
void flow_worker_fini(struct flow_worker *fw);

/* One datagram to a netflow port (payload = the UDP payload). */
void flow_handle_datagram(struct worker *w, const struct pkt_info *pi, const uint8_t *payload, uint32_t len);

/* Copies the exporters' counters for flow_write_counters.  The worker's own
 * thread, or any thread once the worker stopped. */
void flow_worker_snapshot_exporters(struct flow_worker *fw);

/* Housekeeping in quiet moments: template and held-set expiry, template
 * export.  now_ns: wall clock. */
void flow_worker_tick(struct worker *w, int64_t now_ns);

/* Main lcore: the worker's template export, if one is ready (*len bytes at
 * the returned pointer, valid until flow_worker_release_export). */
const uint8_t *flow_worker_take_export(struct flow_worker *fw, size_t *len);
void flow_worker_release_export(struct flow_worker *fw);

/* ---- main lcore ----------------------------------------------------------- */

struct nf_template_store;

/* Before the workers start: each worker's saved template set into its
 * cache, and the sets of workers that no longer exist into every worker
 * (first, so a full cache keeps the worker's own).  Returns the templates
 * imported in all, or -1 with err (the store could not be read). */
int flow_templates_restore(struct nf_template_store *st, struct worker *workers, unsigned n, int64_t now_ns,
                           char *err, size_t errlen);

/* While running (once a second): saves the exports workers handed over.
 * After the workers stopped, with final set: exports and saves every
 * worker's cache directly.  Returns the number of save errors. */
unsigned flow_templates_save(struct nf_template_store *st, struct worker *workers, unsigned n, bool final,
                             char *err, size_t errlen);

/* The NetFlow decoder counters of every worker (summed, and the exporter
 * table of each) and the flow checks' counters, as one JSON document
 * written to path atomically (temp file + rename). */
void flow_write_counters(const char *path, struct worker *workers, unsigned n, const struct flow_checks *fc);

#endif
