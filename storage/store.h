/* The LMDB store: alerts, incidents, entities, correlation checkpoints.
 *
 * One LMDB environment (a directory: data.mdb + lock.mdb) with named DBs
 * alerts, incidents, entities, corr, index, chain and meta (docs/store.md
 * has the key formats).  Exactly one process writes (vigil-cp, mode
 * STORE_WRITER); any number of processes read at the same time (vigilctl,
 * STORE_READONLY): LMDB gives each read a consistent snapshot and never makes
 * the writer wait for it.  A read-only opener still needs write permission
 * on lock.mdb (LMDB's reader table lives there).
 *
 * Writing.  Alerts, incidents, entities, corr and meta changes are staged
 * into an in-memory batch and written together in one transaction (group
 * commit).  Each staged alert, each incident or entity new to the batch and
 * each corr / meta change is an item: store_commit_due(now) commits when
 * batch_max items are staged or batch_delay_ms has passed since the last
 * commit it made; staging the batch_max-th item commits at once;
 * store_flush commits now.  A batch is
 * atomic: after a crash either all of it is there or none.  What "committed"
 * survives depends on the durability mode (docs/store.md: loss windows).
 *
 * Alerts are immutable once committed: they are chained (hashchain.h) in id
 * order.  Duplicates can be folded into an alert only while it is staged
 * (store_fold_alert).  Incidents and entities are replaced whole, by id / by
 * address; within one batch only the last staged version of each is
 * written, and every committed incident version is a new chain entry.
 *
 * MDB_MAP_FULL never loses the batch in flight by itself: the transaction is
 * aborted, stale reader slots are cleared, the map grows (up to max_map_size)
 * or the oldest data is pruned, and the same batch is retried.  Only when
 * nothing more can be pruned is the batch dropped: STORE_EFULL, counted.
 *
 * Retention prunes the oldest alerts (with their index entries, and closed
 * incidents the pruning passes) by age and to keep used pages under a
 * fraction of the map, in bounded chunks; the hash chain's base moves with a
 * chained prune marker so store_verify still passes.
 *
 * Threads: a handle is used by one thread at a time.  Errors are returned as
 * enum store_err; store_last_error() has the text of the last one.
 */
#ifndef VIGIL_STORAGE_STORE_H
#define VIGIL_STORAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/hashchain.h"
#include "storage/record.h"

#define STORE_SCHEMA_VERSION 1

enum store_err {
    STORE_OK = 0,
    STORE_EINVAL = -1,     /* bad argument (or a record field out of range) */
    STORE_ENOMEM = -2,
    STORE_EIO = -3,        /* LMDB or file system error (text in store_last_error) */
    STORE_ENOTFOUND = -4,  /* no such record / key */
    STORE_EFULL = -5,      /* the batch cannot fit even after pruning: dropped and counted */
    STORE_ESCHEMA = -6,    /* the store was written by an incompatible version, or is not a store */
    STORE_ECORRUPT = -7,   /* a stored value does not decode */
    STORE_EREADONLY = -8,  /* a write call on a read-only handle */
    STORE_ERANGE = -9,     /* the caller's buffer is too small (the needed size is returned) */
    STORE_EBUSY = -10,     /* another process has the store open as writer */
};

enum store_mode {
    STORE_WRITER = 0,
    STORE_READONLY = 1,
};

enum store_durability {
    STORE_SYNC = 0,        /* fsync on every commit: a commit that returned survives power loss */
    STORE_NOMETASYNC,      /* data fsynced, meta page not: power loss may undo the last commit */
    STORE_NOSYNC,          /* no fsync: power loss may lose commits since the last sync */
};

struct store_config {
    uint64_t map_size;            /* initial map, bytes; 0 = 1 GiB */
    uint64_t max_map_size;        /* the map may grow up to this; 0 or < map_size = map_size */
    enum store_durability durability;
    uint32_t sync_interval_ms;    /* NOMETASYNC/NOSYNC: store_commit_due forces an fsync this often; 0 = never */
    uint32_t batch_max;           /* staged items per group commit; 0 = 1024 */
    uint32_t batch_delay_ms;      /* longest a staged item waits for store_commit_due; 0 = 100 */
    uint64_t retention_age_s;     /* prune alerts received longer ago than this; 0 = keep */
    double retention_fraction;    /* keep used pages under this fraction of max_map_size; 0 = 0.8 */
    uint32_t prune_chunk;         /* alerts per prune transaction; 0 = 4096 */
    uint32_t retention_interval_ms; /* how often store_commit_due runs age retention; 0 = 1000 */
};

/* Fills cfg with the defaults above. */
void store_config_default(struct store_config *cfg);
/* "sync", "nometasync", "nosync": 0, or -1 when unknown. */
int store_durability_parse(const char *text, enum store_durability *out);
const char *store_durability_name(enum store_durability d);

struct store;

/* Opens (a writer creates) the store in directory path.  cfg may be NULL
 * (defaults); a reader ignores it (it maps what the writer mapped).  On
 * failure returns an enum store_err and, when err is not NULL, a message in
 * err: STORE_ENOTFOUND (no store there), STORE_ESCHEMA (not a Vigil store,
 * or another schema version), STORE_EBUSY (a writer already has it: the
 * writer holds an exclusive flock on path/writer.lock, which the kernel
 * releases when that process dies), STORE_EIO. */
int store_open(struct store **out, const char *path, enum store_mode mode, const struct store_config *cfg,
               char *err, size_t errlen);
/* Commits what is staged (writer), then closes: the flush result. */
int store_close(struct store *st);
const char *store_last_error(const struct store *st);
const char *store_strerror(int err);

/* ---- writer --------------------------------------------------------------- */

/* Stages an alert.  When a->id is 0 the store assigns it (ids increase by
 * one per staged alert; an id is never reused, but a dropped batch leaves a
 * gap); otherwise a->id must come from store_alloc_alert_id and be above
 * every id staged before.  The id is valid at once (for incident chains and
 * outputs).  Returns 0, or
 * STORE_EINVAL when a field is out of range (nothing staged).  When this
 * alert fills the batch, the batch is committed before returning and that
 * commit's result is returned: < 0 means the whole batch, this alert
 * included, was dropped. */
int store_stage_alert(struct store *st, struct vigil_alert *a);
/* Reserves the next alert id without staging anything, for a writer that
 * must name an alert before it stages it (vigil-cp holds alerts while it
 * folds duplicates, and correlation cites them meanwhile).  Stage it later
 * with a->id set: ids must then be staged in increasing order.  Every commit
 * records the next unreserved id, so ids reserved before a crash are never
 * handed out again. */
uint64_t store_alloc_alert_id(struct store *st);
/* Folds add more duplicates (last seen at last_seen_ns) into a staged alert.
 * 0, or STORE_ENOTFOUND when alert id is no longer (or never was) staged:
 * committed alerts are immutable. */
int store_fold_alert(struct store *st, uint64_t id, int64_t last_seen_ns, uint32_t add);
/* Reserves an incident id without staging anything (so alerts can name the
 * incident before it is staged). */
uint64_t store_alloc_incident_id(struct store *st);
/* Stages an incident version: inc->id is assigned when 0.  Same returns as
 * store_stage_alert. */
int store_stage_incident(struct store *st, struct vigil_incident *inc);
/* Stages an entity (replaced whole, keyed by e->ip).  Same returns. */
int store_stage_entity(struct store *st, const struct vigil_entity *e);

/* Correlation checkpoints: opaque values under byte keys (1..511 bytes).
 * put and delete are staged and applied in order at commit, atomically with
 * the alerts of the batch; get and iterate read the committed state. */
int store_corr_put(struct store *st, const void *key, size_t klen, const void *val, size_t vlen);
int store_corr_delete(struct store *st, const void *key, size_t klen);
/* Replaces every correlation checkpoint at once, in one transaction of its
 * own (after committing what is staged): fill calls put(put_ctx, ...) for
 * each key/value; a failure anywhere leaves the previous set whole.  0, or
 * < 0. */
typedef int (*store_kv_put_fn)(void *put_ctx, const void *key, size_t klen, const void *val, size_t vlen);
typedef int (*store_corr_fill_fn)(void *ctx, store_kv_put_fn put, void *put_ctx);
int store_corr_replace(struct store *st, store_corr_fill_fn fill, void *ctx);
/* Copies the value into buf: 0, STORE_ENOTFOUND, or STORE_ERANGE when cap is
 * too small (*len is the size needed either way). */
int store_corr_get(struct store *st, const void *key, size_t klen, void *buf, size_t cap, size_t *len);
/* Calls fn for each committed key starting with prefix (plen 0: all), in
 * key order, until fn returns non-zero.  Returns the number of calls, or < 0. */
typedef int (*store_kv_fn)(const void *key, size_t klen, const void *val, size_t vlen, void *ctx);
int store_corr_iterate(struct store *st, const void *prefix, size_t plen, store_kv_fn fn, void *ctx);

/* Free-form meta values (key: a NUL-terminated string of 1..200 bytes not
 * starting with "sys.", which the store keeps for itself).  put is staged;
 * get reads the committed state, like store_corr_get. */
int store_meta_put(struct store *st, const char *key, const void *val, size_t vlen);
int store_meta_get(struct store *st, const char *key, void *buf, size_t cap, size_t *len);
/* The hash of the ruleset the alerts were made with (staged; in stats). */
int store_set_ruleset_hash(struct store *st, uint64_t hash);

/* Group commit.  now_ns is CLOCK_REALTIME ns (it is also the clock of age
 * retention).  Commits when due (see top), runs age retention every
 * retention_interval_ms and the periodic sync.  1 when it committed, 0 when
 * nothing was due, < 0 on error (the batch was dropped; see counters). */
int store_commit_due(struct store *st, int64_t now_ns);
/* Commits the staged batch now: 0 (also when empty) or < 0. */
int store_flush(struct store *st);
/* Forces an fsync of what is committed (for NOSYNC / NOMETASYNC). */
int store_sync(struct store *st);
/* Runs retention now: age (when configured, against now_ns) and size, at
 * most max_chunks prune transactions (0 = until done).  Returns alerts
 * pruned, or < 0.  Staged items are not touched. */
long store_retention_run(struct store *st, int64_t now_ns, unsigned max_chunks);

/* Items staged and not yet committed. */
size_t store_staged(const struct store *st);
/* Highest alert id whose commit has returned (0: none): everything up to it
 * is in the store, except what retention pruned. */
uint64_t store_committed_alert_id(const struct store *st);

struct store_counters {
    uint64_t alerts_staged, alerts_written, alerts_folded;
    uint64_t incidents_staged, incidents_written;   /* written = chained versions */
    uint64_t entities_written, kv_ops_written;
    uint64_t commits, commit_errors;
    uint64_t batch_items_total, batch_items_max, last_batch_items; /* items per commit */
    uint64_t commit_ns_total, commit_ns_max;        /* time in commit (incl. retries) */
    uint64_t map_full_events;   /* MDB_MAP_FULL seen (commits and prunes) */
    uint64_t map_grows;         /* mdb_env_set_mapsize growths */
    uint64_t retries;           /* batch retried after a map-full */
    uint64_t batches_dropped, items_dropped, alerts_dropped;
    uint64_t prune_txns;        /* prune transactions committed */
    uint64_t pruned_alerts, pruned_incidents, pruned_entities, carried_incidents;
    uint64_t stale_readers_cleared;
    uint64_t syncs;
};
const struct store_counters *store_counters(const struct store *st);

/* ---- queries (either mode) ------------------------------------------------
 * Each call reads one consistent snapshot of the committed state; on a
 * writer handle, store_get_alert/incident/entity also see staged items.
 * Callbacks run inside the read transaction: keep them short (a long read
 * keeps the writer from reusing freed pages). */

typedef int (*store_alert_fn)(const struct vigil_alert *a, void *ctx);      /* non-zero stops */
typedef int (*store_incident_fn)(const struct vigil_incident *inc, void *ctx);

struct store_alert_query {
    int64_t since_ns, until_ns;  /* event time (@timestamp) in [since, until]; both 0 = any */
    uint8_t min_level;           /* enum alert_level */
    const struct vigil_ip *entity;   /* NULL = any */
    const uint8_t *rule_uuid;        /* 16 bytes; NULL = any */
    uint64_t before_id;          /* paging: only ids below this; 0 = no bound */
    unsigned limit;              /* 0 = 100 */
    uint64_t max_scan;           /* give up after looking at this many; 0 = 1000000 */
};

struct store_query_info {
    uint64_t scanned;            /* records looked at */
    bool truncated;              /* max_scan was reached before limit */
};

/* Alerts matching q, newest first, at most q->limit, through fn.  Order:
 * by id (commit order) descending; when only a time range is given (no
 * entity, no rule) the time index is walked and the order is by event time
 * descending.  Returns how many fn received, or < 0.  info may be NULL. */
int store_list_alerts(struct store *st, const struct store_alert_query *q, store_alert_fn fn, void *ctx,
                      struct store_query_info *info);
int store_get_alert(struct store *st, uint64_t id, struct vigil_alert *out);

struct store_incident_query {
    uint8_t status_mask;         /* bits 1 << enum incident_status; 0 = any */
    uint16_t min_severity;
    const struct vigil_ip *entity;   /* NULL = any */
    uint64_t before_id;
    unsigned limit;              /* 0 = 100 */
    uint64_t max_scan;           /* 0 = 1000000 */
};
/* Incidents matching q, newest (highest id) first.  Returns count or < 0. */
int store_list_incidents(struct store *st, const struct store_incident_query *q, store_incident_fn fn, void *ctx,
                         struct store_query_info *info);
/* The incident, and when fn is not NULL its chain's alerts in chain order
 * from the same snapshot; *missing (may be NULL) counts chain alerts no
 * longer stored (pruned).  0, STORE_ENOTFOUND, or < 0. */
int store_get_incident(struct store *st, uint64_t id, struct vigil_incident *out, store_alert_fn fn, void *ctx,
                       unsigned *missing);
int store_get_entity(struct store *st, const struct vigil_ip *ip, struct vigil_entity *out);

struct store_stats {
    uint64_t alerts, incidents, entities, corr_keys, index_keys, chain_entries, meta_keys;
    uint64_t page_size;
    uint64_t map_size;           /* bytes mapped now */
    uint64_t used_pages;         /* pages holding data (all DBs + freelist + 2 meta pages) */
    uint64_t file_pages;         /* high-water mark of the data file */
    double used_fraction;        /* used_pages / map pages */
    int64_t last_commit_ns;      /* wall clock of the last commit; 0 = never */
    uint64_t next_alert_id, next_incident_id;
    struct hc_point head;        /* last chained seq and its hash (an anchor to keep elsewhere) */
    uint64_t base_seq;           /* first retained seq */
    uint32_t schema_version;
    uint64_t ruleset_hash;
    uint8_t store_id[16];
    unsigned readers;            /* reader slots in use (all processes) */
};
int store_stats(struct store *st, struct store_stats *out);

/* ---- verification --------------------------------------------------------- */

enum verify_problem {
    VERIFY_EDITED = 1,     /* the record's bytes do not reproduce its chain hash */
    VERIFY_DELETED,        /* the chain names a record that is not stored */
    VERIFY_REORDERED,      /* the record stored under this id belongs to another seq/id
                              (moved, swapped, or an incident rolled back to an older version) */
    VERIFY_GAP,            /* chain entries missing: seq .. seq + count - 1 (other_id = count);
                              id names the first missing alert when alerts border the gap */
    VERIFY_UNCHAINED,      /* a stored record no chain entry names (inserted, or its entry deleted) */
    VERIFY_HEAD,           /* the head does not match the chain's end (truncated or appended) */
    VERIFY_BASE,           /* the base does not match the last prune marker / genesis */
    VERIFY_CORRUPT,        /* a chain entry, trailer or marker that does not decode */
    VERIFY_ANCHOR,         /* the hash at the caller's anchor seq differs */
};

#define STORE_VERIFY_MAX_ISSUES 32

struct verify_issue {
    uint8_t problem;       /* enum verify_problem */
    uint8_t what;          /* enum hc_entry_type of the record (0: the chain itself) */
    uint64_t id;           /* alert / incident id (0 when none) */
    uint64_t seq;          /* chain seq concerned (0 when none) */
    uint64_t other_id;     /* REORDERED: the id whose record sits here; GAP: entries missing */
};

/* An anchor: a (seq, hash) the caller kept from an earlier store_stats (for
 * instance shipped off the appliance).  verify checks the chain still has
 * that hash at that seq: a rewrite of the chain from any point up to the
 * anchor is then detected too. */
struct store_verify_result {
    bool ok;
    uint64_t entries, alerts, incidents, prunes;   /* chain entries checked, by kind */
    uint64_t superseded;           /* incident versions whose bytes are gone (linked, not recomputed) */
    uint64_t base_seq;
    struct hc_point head;
    bool anchor_checked;           /* false when the anchor was pruned or not given */
    unsigned n_issues;             /* issues[] filled (the first STORE_VERIFY_MAX_ISSUES) */
    uint64_t issues_total;
    struct verify_issue issues[STORE_VERIFY_MAX_ISSUES];
};

/* Walks the committed chain in one read snapshot and checks every retained
 * chained record against it.  0 when the walk ran (res->ok says whether the
 * store is intact), < 0 when it could not run.  anchor may be NULL. */
int store_verify(struct store *st, const struct hc_point *anchor, struct store_verify_result *res);
const char *store_verify_problem_name(unsigned problem);

#endif
