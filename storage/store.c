/* The LMDB store: see store.h for the contract and docs/store.md for the
 * schema.  Layout of this file: helpers, handle and batch, open/close,
 * staging, commit (with the map-full path), retention, queries, stats,
 * verify.
 *
 * Key formats (all integers in keys are big-endian so byte order is numeric
 * order, which is what LMDB sorts by):
 *   alerts     id u64                            -> record || trailer(seq, hash)
 *   incidents  id u64                            -> record || trailer(seq, hash)
 *   entities   ip key (17 bytes, record_ip_key)  -> record
 *   corr       caller's bytes                    -> caller's bytes
 *   index      'E' bucket ip17 id | 'R' uuid16 id | 'T' time id -> (empty)  alerts
 *              (bucket = id >> ENTITY_BUCKET_SHIFT, u32)
 *              'I' ip17 incident id                        -> (empty)  incidents
 *   chain      "B" base point | "H" head point | 'e' seq u64 -> hc_entry
 *   meta       "sys.*" (the store's) and free-form keys
 * time in 'T' keys is event_ns with the sign bit flipped (so negative times sort first).
 */
#include "storage/store.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "storage/le.h"

enum {
    DB_ALERTS,
    DB_INCIDENTS,
    DB_ENTITIES,
    DB_CORR,
    DB_INDEX,
    DB_CHAIN,
    DB_META,
    DB__COUNT
};

static const char *const db_names[DB__COUNT] = {
    "alerts", "incidents", "entities", "corr", "index", "chain", "meta",
};

#define KEY_MAX          511     /* LMDB's default maximum key size */
#define META_KEY_MAX     200
#define COMMIT_ATTEMPTS  64      /* map-full retries of one batch before it is dropped */
#define IDX_ENTITY       'E'
#define IDX_RULE         'R'
#define IDX_TIME         'T'
#define IDX_INCIDENT     'I'
#define CHAIN_ENTRY      'e'

/* ---- small helpers -------------------------------------------------------- */

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static uint64_t time_key(int64_t ns) { return (uint64_t)ns ^ (1ull << 63); }

static int64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* An empty LMDB value that still points somewhere (LMDB copies 0 bytes from it). */
static uint8_t empty_byte;

/* ---- handle and batch ----------------------------------------------------- */

struct staged_alert {
    uint64_t id;
    size_t off;               /* encoded record in the arena */
    uint32_t len;
    int64_t event_ns;
    uint8_t entity[RECORD_IP_MAX];
    uint8_t uuid[16];
};

/* A staged incident (key = id, aux = entity) or entity (key = ip). */
struct staged_obj {
    uint8_t key[RECORD_IP_MAX];
    uint8_t klen;
    uint8_t aux[RECORD_IP_MAX];
    size_t off;
    uint32_t len;
};

struct staged_kv {
    uint8_t db;               /* DB_CORR or DB_META */
    uint8_t del;
    size_t koff, voff;
    uint32_t klen, vlen;
};

/* Open addressing from key bytes to index + 1 in a staged_obj array, so a
 * batch keeps one version per incident / entity without a linear search. */
struct objmap {
    uint32_t *slots;
    size_t cap;               /* power of two, or 0 */
};

struct batch {
    uint8_t *arena;
    size_t arena_len, arena_cap;
    struct staged_alert *alerts;
    size_t n_alerts, cap_alerts;
    struct staged_obj *incs, *ents;
    size_t n_incs, cap_incs, n_ents, cap_ents;
    struct objmap inc_map, ent_map;
    struct staged_kv *kvs;
    size_t n_kvs, cap_kvs;
    size_t items;
};

struct store {
    MDB_env *env;
    int lock_fd;              /* writer: flock'd path/writer.lock; -1 otherwise */
    MDB_dbi db[DB__COUNT];
    enum store_mode mode;
    struct store_config cfg;
    char err[256];
    uint8_t store_id[16];
    uint8_t genesis[HC_HASH_BYTES];
    /* committed chain state (writer) */
    struct hc_point head, base;
    uint64_t next_alert_id, next_incident_id;   /* next to hand out */
    uint64_t last_staged_alert_id;              /* ids are staged in increasing order */
    uint64_t committed_alert_id;
    uint64_t map_size, max_map_size;
    bool have_last_commit, age_pending;
    bool size_pruning;        /* above the fraction: prune a chunk per commit until under the low-water mark */
    int64_t last_commit_now, last_retention_now, last_sync_now;
    struct batch b;
    struct store_counters c;
    /* scratch (writer): a decoded alert / incident, a carried-forward list,
     * entity keys to delete */
    struct vigil_alert tmp_alert;
    struct vigil_incident tmp_inc;
    uint64_t *carry;
    size_t n_carry, cap_carry;
    uint8_t ent_resume[RECORD_IP_MAX];
    bool ent_resume_set;
};

static int fail(struct store *st, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof st->err, fmt, ap);
    va_end(ap);
    return code;
}

static int mdb_fail(struct store *st, int rc, const char *what)
{
    return fail(st, rc == ENOMEM ? STORE_ENOMEM : rc == MDB_MAP_FULL ? STORE_EFULL : STORE_EIO, "%s: %s", what,
                mdb_strerror(rc));
}

static int grow_array(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p)
        return -1;
    *arr = p;
    *cap = n;
    return 0;
}

/* Reserves n bytes at the end of the arena: the offset, or -1. */
static long arena_reserve(struct batch *b, size_t n)
{
    if (b->arena_len + n > b->arena_cap) {
        size_t c = b->arena_cap ? b->arena_cap : 64 * 1024;
        while (c < b->arena_len + n)
            c *= 2;
        uint8_t *p = realloc(b->arena, c);
        if (!p)
            return -1;
        b->arena = p;
        b->arena_cap = c;
    }
    long off = (long)b->arena_len;
    b->arena_len += n;
    return off;
}

static uint64_t hash_key(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static long objmap_find(const struct objmap *m, const struct staged_obj *objs, const uint8_t *key, size_t klen)
{
    if (!m->cap)
        return -1;
    for (size_t i = hash_key(key, klen) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        uint32_t s = m->slots[i];
        if (!s)
            return -1;
        const struct staged_obj *o = &objs[s - 1];
        if (o->klen == klen && memcmp(o->key, key, klen) == 0)
            return (long)(s - 1);
    }
}

static void objmap_place(struct objmap *m, const struct staged_obj *objs, size_t idx)
{
    size_t i = hash_key(objs[idx].key, objs[idx].klen) & (m->cap - 1);
    while (m->slots[i])
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = (uint32_t)(idx + 1);
}

/* Adds objs[idx] (n objects in all, idx included), growing at half full. */
static int objmap_add(struct objmap *m, const struct staged_obj *objs, size_t n, size_t idx)
{
    if (n * 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        while (n * 2 > cap)
            cap *= 2;
        uint32_t *s = calloc(cap, sizeof *s);
        if (!s)
            return -1;
        free(m->slots);
        m->slots = s;
        m->cap = cap;
        for (size_t i = 0; i < n; i++)
            if (i != idx)
                objmap_place(m, objs, i);
    }
    objmap_place(m, objs, idx);
    return 0;
}

static void batch_clear(struct batch *b)
{
    if (b->n_incs && b->inc_map.cap)
        memset(b->inc_map.slots, 0, b->inc_map.cap * sizeof *b->inc_map.slots);
    if (b->n_ents && b->ent_map.cap)
        memset(b->ent_map.slots, 0, b->ent_map.cap * sizeof *b->ent_map.slots);
    b->arena_len = 0;
    b->n_alerts = b->n_incs = b->n_ents = b->n_kvs = 0;
    b->items = 0;
}

static void batch_free(struct batch *b)
{
    free(b->arena);
    free(b->alerts);
    free(b->incs);
    free(b->ents);
    free(b->inc_map.slots);
    free(b->ent_map.slots);
    free(b->kvs);
    memset(b, 0, sizeof *b);
}

/* ---- configuration -------------------------------------------------------- */

void store_config_default(struct store_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->map_size = 1ull << 30;
    cfg->max_map_size = cfg->map_size;
    cfg->durability = STORE_SYNC;
    cfg->sync_interval_ms = 1000;
    cfg->batch_max = 1024;
    cfg->batch_delay_ms = 100;
    cfg->retention_fraction = 0.8;
    cfg->prune_chunk = 4096;
    cfg->retention_interval_ms = 1000;
}

static void config_fill(struct store_config *c)
{
    struct store_config d;
    store_config_default(&d);
    if (!c->map_size)
        c->map_size = d.map_size;
    if (c->max_map_size < c->map_size)
        c->max_map_size = c->map_size;
    if (!c->batch_max)
        c->batch_max = d.batch_max;
    if (!c->batch_delay_ms)
        c->batch_delay_ms = d.batch_delay_ms;
    if (!(c->retention_fraction > 0 && c->retention_fraction <= 1))
        c->retention_fraction = d.retention_fraction;
    if (!c->prune_chunk)
        c->prune_chunk = d.prune_chunk;
    if (!c->retention_interval_ms)
        c->retention_interval_ms = d.retention_interval_ms;
}

int store_durability_parse(const char *text, enum store_durability *out)
{
    static const char *const n[] = {"sync", "nometasync", "nosync"};
    for (int i = 0; i < 3; i++)
        if (strcmp(text, n[i]) == 0) {
            *out = (enum store_durability)i;
            return 0;
        }
    return -1;
}

const char *store_durability_name(enum store_durability d)
{
    return d == STORE_SYNC ? "sync" : d == STORE_NOMETASYNC ? "nometasync" : d == STORE_NOSYNC ? "nosync" : "?";
}

const char *store_strerror(int err)
{
    switch (err) {
    case STORE_OK: return "ok";
    case STORE_EINVAL: return "invalid argument";
    case STORE_ENOMEM: return "out of memory";
    case STORE_EIO: return "I/O or LMDB error";
    case STORE_ENOTFOUND: return "not found";
    case STORE_EFULL: return "store full: batch dropped";
    case STORE_ESCHEMA: return "incompatible or missing store schema";
    case STORE_ECORRUPT: return "stored value does not decode";
    case STORE_EREADONLY: return "store opened read-only";
    case STORE_ERANGE: return "buffer too small";
    case STORE_EBUSY: return "another writer has the store open";
    default: return "unknown store error";
    }
}

const char *store_last_error(const struct store *st) { return st->err; }

/* ---- meta helpers --------------------------------------------------------- */

static int meta_put_bytes(struct store *st, MDB_txn *txn, const char *key, const void *val, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, len ? (void *)val : &empty_byte};
    return mdb_put(txn, st->db[DB_META], &k, &v, 0);
}

static int meta_put_u64(struct store *st, MDB_txn *txn, const char *key, uint64_t val)
{
    uint8_t b[8];
    le64_put(b, val);
    return meta_put_bytes(st, txn, key, b, 8);
}

/* 0 and *out, MDB_NOTFOUND, or EINVAL when the stored value is not a u64. */
static int meta_get_u64(struct store *st, MDB_txn *txn, const char *key, uint64_t *out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, st->db[DB_META], &k, &v);
    if (rc)
        return rc;
    if (v.mv_size != 8)
        return EINVAL;
    *out = le64_get(v.mv_data);
    return 0;
}

static int chain_get_point(struct store *st, MDB_txn *txn, const char *which, struct hc_point *p)
{
    MDB_val k = {1, (void *)which}, v;
    int rc = mdb_get(txn, st->db[DB_CHAIN], &k, &v);
    if (rc)
        return rc;
    return hc_point_decode(v.mv_data, v.mv_size, p) ? EINVAL : 0;
}

static int chain_put_point(struct store *st, MDB_txn *txn, const char *which, const struct hc_point *p)
{
    uint8_t b[HC_POINT_BYTES];
    hc_point_write(b, p);
    MDB_val k = {1, (void *)which}, v = {sizeof b, b};
    return mdb_put(txn, st->db[DB_CHAIN], &k, &v, 0);
}

/* Appends chain entry seq (entries are written in seq order, after "B"/"H"). */
static int chain_put_entry(struct store *st, MDB_txn *txn, uint64_t seq, uint8_t type, uint64_t id,
                           const uint8_t hash[HC_HASH_BYTES], const uint8_t *payload, size_t plen)
{
    uint8_t kb[9];
    kb[0] = CHAIN_ENTRY;
    be64_put(kb + 1, seq);
    MDB_val k = {sizeof kb, kb}, v = {HC_ENTRY_BYTES + plen, NULL};
    int rc = mdb_put(txn, st->db[DB_CHAIN], &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return rc;
    hc_entry_write(v.mv_data, type, id, hash);
    if (plen)
        memcpy((uint8_t *)v.mv_data + HC_ENTRY_BYTES, payload, plen);
    return 0;
}

/* A read transaction; adopts a map another process grew. */
static int rtxn_begin(struct store *st, MDB_txn **txn)
{
    int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* The writer grew the map past ours; no txn of ours is active here. */
        rc = mdb_env_set_mapsize(st->env, 0);
        if (!rc)
            rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn);
    }
    return rc ? mdb_fail(st, rc, "mdb_txn_begin(read)") : 0;
}

/* A read txn with a cursor on DB dbi, for the queries that walk one DB:
 * 0, or the error (recorded) with nothing left open. */
static int rcursor_open(struct store *st, int dbi, MDB_txn **txn, MDB_cursor **c)
{
    int rc = rtxn_begin(st, txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(*txn, st->db[dbi], c))) {
        mdb_txn_abort(*txn);
        return mdb_fail(st, rc, "mdb_cursor_open");
    }
    return 0;
}

/* ---- open / close --------------------------------------------------------- */

static int init_new_store(struct store *st, MDB_txn *txn)
{
    randombytes_buf(st->store_id, sizeof st->store_id);
    hc_genesis(st->store_id, st->genesis);
    struct hc_point base = {1, {0}}, head = {0, {0}};
    memcpy(base.hash, st->genesis, HC_HASH_BYTES);
    memcpy(head.hash, st->genesis, HC_HASH_BYTES);
    int rc = meta_put_u64(st, txn, "sys.schema", STORE_SCHEMA_VERSION);
    if (!rc)
        rc = meta_put_bytes(st, txn, "sys.store_id", st->store_id, sizeof st->store_id);
    if (!rc)
        rc = meta_put_u64(st, txn, "sys.next_alert", 1);
    if (!rc)
        rc = meta_put_u64(st, txn, "sys.next_incident", 1);
    if (!rc)
        rc = chain_put_point(st, txn, "B", &base);
    if (!rc)
        rc = chain_put_point(st, txn, "H", &head);
    return rc;
}

/* Reads the store's identity and chain state from txn.  0 or a store_err. */
static int load_state(struct store *st, MDB_txn *txn)
{
    uint64_t schema;
    int rc = meta_get_u64(st, txn, "sys.schema", &schema);
    if (rc == MDB_NOTFOUND)
        return fail(st, STORE_ESCHEMA, "not a Vigil store (no schema version)");
    if (rc || schema != STORE_SCHEMA_VERSION)
        return fail(st, STORE_ESCHEMA, "store schema %llu, this build reads %d",
                    rc ? 0ull : (unsigned long long)schema, STORE_SCHEMA_VERSION);
    MDB_val k = {12, "sys.store_id"}, v;
    if (mdb_get(txn, st->db[DB_META], &k, &v) || v.mv_size != 16)
        return fail(st, STORE_ECORRUPT, "store id missing");
    memcpy(st->store_id, v.mv_data, 16);
    hc_genesis(st->store_id, st->genesis);
    if (meta_get_u64(st, txn, "sys.next_alert", &st->next_alert_id) ||
        meta_get_u64(st, txn, "sys.next_incident", &st->next_incident_id))
        return fail(st, STORE_ECORRUPT, "next ids missing");
    if (chain_get_point(st, txn, "H", &st->head) || chain_get_point(st, txn, "B", &st->base))
        return fail(st, STORE_ECORRUPT, "chain head or base missing");
    st->committed_alert_id = st->next_alert_id - 1;
    st->last_staged_alert_id = st->next_alert_id - 1;
    return 0;
}

static int open_dbs(struct store *st, MDB_txn *txn, unsigned flags)
{
    for (int i = 0; i < DB__COUNT; i++) {
        int rc = mdb_dbi_open(txn, db_names[i], flags, &st->db[i]);
        if (rc == MDB_NOTFOUND)
            return fail(st, STORE_ESCHEMA, "not a Vigil store (no '%s' database)", db_names[i]);
        if (rc)
            return mdb_fail(st, rc, "mdb_dbi_open");
    }
    return 0;
}

static int open_env(struct store *st, const char *path)
{
    int rc = mdb_env_create(&st->env);
    if (rc)
        return mdb_fail(st, rc, "mdb_env_create");
    mdb_env_set_maxdbs(st->env, DB__COUNT + 1);
    unsigned flags = MDB_NOTLS;   /* read txns are not tied to threads (and not to a writer's thread) */
    if (st->mode == STORE_READONLY) {
        flags |= MDB_RDONLY;
    } else {
        if (mkdir(path, 0750) != 0 && errno != EEXIST)
            return fail(st, STORE_EIO, "mkdir %s: %s", path, strerror(errno));
        /* One writer: two would each extend the chain from their own cached
         * head.  LMDB does not prevent that (it only serialises the
         * transactions), so the writer holds an exclusive flock. */
        char lp[4096];
        snprintf(lp, sizeof lp, "%s/writer.lock", path);
        st->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
        if (st->lock_fd < 0)
            return fail(st, STORE_EIO, "open %s: %s", lp, strerror(errno));
        if (flock(st->lock_fd, LOCK_EX | LOCK_NB) != 0)
            return fail(st, errno == EWOULDBLOCK ? STORE_EBUSY : STORE_EIO, "%s: %s", lp,
                        errno == EWOULDBLOCK ? "another writer has the store open" : strerror(errno));
        mdb_env_set_mapsize(st->env, st->cfg.map_size);
        if (st->cfg.durability == STORE_NOMETASYNC)
            flags |= MDB_NOMETASYNC;
        else if (st->cfg.durability == STORE_NOSYNC)
            flags |= MDB_NOSYNC;
    }
    rc = mdb_env_open(st->env, path, flags, 0640);
    if (rc)
        return fail(st, rc == ENOENT ? STORE_ENOTFOUND : STORE_EIO, "mdb_env_open %s: %s", path, mdb_strerror(rc));
    int dead = 0;
    if (mdb_reader_check(st->env, &dead) == 0)   /* slots of readers that died, which would pin old pages */
        st->c.stale_readers_cleared += (uint64_t)dead;
    return 0;
}

static int open_writer(struct store *st)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return mdb_fail(st, rc, "mdb_txn_begin");
    int err = open_dbs(st, txn, MDB_CREATE);
    uint64_t schema;
    if (!err && meta_get_u64(st, txn, "sys.schema", &schema) == MDB_NOTFOUND) {
        MDB_stat s;
        if (mdb_stat(txn, st->db[DB_META], &s) == 0 && s.ms_entries != 0)
            err = fail(st, STORE_ESCHEMA, "meta database without a schema version: not a Vigil store");
        else if ((rc = init_new_store(st, txn)))
            err = mdb_fail(st, rc, "initialise store");
    }
    if (!err)
        err = load_state(st, txn);
    uint64_t persisted = 0;
    if (!err)
        meta_get_u64(st, txn, "sys.map_size", &persisted);
    if (err) {
        mdb_txn_abort(txn);
        return err;
    }
    if ((rc = mdb_txn_commit(txn)))
        return mdb_fail(st, rc, "mdb_txn_commit(open)");
    /* A map grown before a restart stays grown (within the configured maximum). */
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->map_size = info.me_mapsize;
    uint64_t want = persisted < st->cfg.max_map_size ? persisted : st->cfg.max_map_size;
    if (want > st->map_size && mdb_env_set_mapsize(st->env, want) == 0)
        st->map_size = want;
    st->max_map_size = st->cfg.max_map_size > st->map_size ? st->cfg.max_map_size : st->map_size;
    return 0;
}

static int open_reader(struct store *st)
{
    MDB_txn *txn;
    int err = rtxn_begin(st, &txn);
    if (err)
        return err;
    err = open_dbs(st, txn, 0);
    if (!err)
        err = load_state(st, txn);
    if (err) {
        mdb_txn_abort(txn);
        return err;
    }
    /* Commit (not abort) a read txn that opened DBIs, so the handles stay valid. */
    int rc = mdb_txn_commit(txn);
    return rc ? mdb_fail(st, rc, "mdb_txn_commit(read)") : 0;
}

int store_open(struct store **out, const char *path, enum store_mode mode, const struct store_config *cfg,
               char *err, size_t errlen)
{
    *out = NULL;
    if (!path || (mode != STORE_WRITER && mode != STORE_READONLY)) {
        if (err && errlen)
            snprintf(err, errlen, "store_open: invalid argument");
        return STORE_EINVAL;
    }
    struct store *st = calloc(1, sizeof *st);
    if (!st) {
        if (err && errlen)
            snprintf(err, errlen, "store_open: out of memory");
        return STORE_ENOMEM;
    }
    st->mode = mode;
    st->lock_fd = -1;
    if (cfg)
        st->cfg = *cfg;
    config_fill(&st->cfg);
    int rc = hc_init() ? fail(st, STORE_EIO, "libsodium initialisation failed") : 0;
    if (!rc)
        rc = open_env(st, path);
    if (!rc)
        rc = mode == STORE_WRITER ? open_writer(st) : open_reader(st);
    if (rc) {
        if (err && errlen)
            snprintf(err, errlen, "%s", st->err);
        if (st->env)
            mdb_env_close(st->env);
        if (st->lock_fd >= 0)
            close(st->lock_fd);
        free(st);
        return rc;
    }
    *out = st;
    return 0;
}

static int commit_batch(struct store *st);

int store_close(struct store *st)
{
    if (!st)
        return 0;
    int rc = 0;
    if (st->mode == STORE_WRITER && st->b.items)
        rc = commit_batch(st);
    mdb_env_close(st->env);
    if (st->lock_fd >= 0)
        close(st->lock_fd);   /* releases the writer lock */
    batch_free(&st->b);
    free(st->carry);
    free(st);
    return rc;
}

/* ---- staging -------------------------------------------------------------- */

static int writer_only(struct store *st)
{
    return st->mode == STORE_WRITER ? 0 : fail(st, STORE_EREADONLY, "write call on a read-only store");
}

/* Count-triggered group commit, after an item was staged. */
static int staged_one(struct store *st)
{
    st->b.items++;
    return st->b.items >= st->cfg.batch_max ? commit_batch(st) : 0;
}

int store_stage_alert(struct store *st, struct vigil_alert *a)
{
    int err = writer_only(st);
    if (err)
        return err;
    struct batch *b = &st->b;
    if (grow_array((void **)&b->alerts, &b->cap_alerts, b->n_alerts + 1, sizeof *b->alerts))
        return fail(st, STORE_ENOMEM, "stage alert: out of memory");
    long off = arena_reserve(b, ALERT_ENCODED_MAX);
    if (off < 0)
        return fail(st, STORE_ENOMEM, "stage alert: out of memory");
    bool assigned = a->id == 0;
    if (assigned) {
        a->id = st->next_alert_id;
    } else if (a->id >= st->next_alert_id || a->id <= st->last_staged_alert_id) {
        /* not reserved, or out of order: the alerts index is by id */
        b->arena_len = (size_t)off;
        return fail(st, STORE_EINVAL, "stage alert: id %llu was not reserved, or is not above %llu",
                    (unsigned long long)a->id, (unsigned long long)st->last_staged_alert_id);
    }
    int n = record_alert_encode(a, b->arena + off, ALERT_ENCODED_MAX);
    if (n < 0) {
        b->arena_len = (size_t)off;
        if (assigned)
            a->id = 0;
        return fail(st, STORE_EINVAL, "stage alert: %s", record_strerror(n));
    }
    b->arena_len = (size_t)off + (size_t)n;
    if (assigned)
        st->next_alert_id++;
    st->last_staged_alert_id = a->id;
    struct staged_alert *sa = &b->alerts[b->n_alerts++];
    sa->id = a->id;
    sa->off = (size_t)off;
    sa->len = (uint32_t)n;
    sa->event_ns = a->event_ns;
    record_ip_key(&a->entity, sa->entity);
    memcpy(sa->uuid, a->rule_uuid, 16);
    st->c.alerts_staged++;
    return staged_one(st);
}

static struct staged_alert *staged_alert_find(struct store *st, uint64_t id)
{
    /* ids increase within a batch (reserved ones may leave gaps): bisect */
    struct batch *b = &st->b;
    size_t lo = 0, hi = b->n_alerts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->alerts[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < b->n_alerts && b->alerts[lo].id == id ? &b->alerts[lo] : NULL;
}

uint64_t store_alloc_alert_id(struct store *st)
{
    return st->mode == STORE_WRITER ? st->next_alert_id++ : 0;
}

int store_fold_alert(struct store *st, uint64_t id, int64_t last_seen_ns, uint32_t add)
{
    int err = writer_only(st);
    if (err)
        return err;
    struct staged_alert *sa = staged_alert_find(st, id);
    if (!sa)
        return fail(st, STORE_ENOTFOUND, "alert %llu is not staged", (unsigned long long)id);
    if (record_alert_fold(st->b.arena + sa->off, sa->len, last_seen_ns, add))
        return fail(st, STORE_ECORRUPT, "staged alert %llu does not decode", (unsigned long long)id);
    st->c.alerts_folded += add;
    return 0;
}

uint64_t store_alloc_incident_id(struct store *st)
{
    return st->mode == STORE_WRITER ? st->next_incident_id++ : 0;
}

/* Stages an encoded object under key into incs/ents, replacing a staged
 * version of the same key.  1 when it was new (counts as an item), 0 when
 * replaced, < 0 on no memory. */
static int stage_obj(struct batch *b, bool inc, const uint8_t *key, size_t klen, const uint8_t *aux,
                     const uint8_t *rec, size_t len)
{
    struct staged_obj **arr = inc ? &b->incs : &b->ents;
    size_t *n = inc ? &b->n_incs : &b->n_ents, *cap = inc ? &b->cap_incs : &b->cap_ents;
    struct objmap *m = inc ? &b->inc_map : &b->ent_map;
    long off = arena_reserve(b, len);
    if (off < 0)
        return -1;
    memcpy(b->arena + off, rec, len);
    long at = objmap_find(m, *arr, key, klen);
    if (at >= 0) {
        /* the old bytes stay in the arena until the batch is cleared */
        (*arr)[at].off = (size_t)off;
        (*arr)[at].len = (uint32_t)len;
        if (aux)
            memcpy((*arr)[at].aux, aux, RECORD_IP_MAX);
        return 0;
    }
    if (grow_array((void **)arr, cap, *n + 1, sizeof **arr))
        return -1;
    struct staged_obj *o = &(*arr)[*n];
    memset(o, 0, sizeof *o);
    memcpy(o->key, key, klen);
    o->klen = (uint8_t)klen;
    if (aux)
        memcpy(o->aux, aux, RECORD_IP_MAX);
    o->off = (size_t)off;
    o->len = (uint32_t)len;
    (*n)++;
    if (objmap_add(m, *arr, *n, *n - 1)) {
        (*n)--;
        return -1;
    }
    return 1;
}

int store_stage_incident(struct store *st, struct vigil_incident *inc)
{
    int err = writer_only(st);
    if (err)
        return err;
    bool assigned = false;
    if (!inc->id) {
        inc->id = st->next_incident_id++;
        assigned = true;
    } else if (inc->id >= st->next_incident_id) {
        /* An id the store never handed out would collide with a later one. */
        return fail(st, STORE_EINVAL, "stage incident: id %llu was not allocated by the store",
                    (unsigned long long)inc->id);
    }
    uint8_t rec[INCIDENT_ENCODED_MAX];
    int n = record_incident_encode(inc, rec, sizeof rec);
    if (n < 0) {
        if (assigned) {
            st->next_incident_id--;
            inc->id = 0;
        }
        return fail(st, STORE_EINVAL, "stage incident: %s", record_strerror(n));
    }
    uint8_t key[8], ent[RECORD_IP_MAX];
    be64_put(key, inc->id);
    record_ip_key(&inc->entity, ent);
    int added = stage_obj(&st->b, true, key, 8, ent, rec, (size_t)n);
    if (added < 0)
        return fail(st, STORE_ENOMEM, "stage incident: out of memory");
    st->c.incidents_staged++;
    return added ? staged_one(st) : 0;
}

int store_stage_entity(struct store *st, const struct vigil_entity *e)
{
    int err = writer_only(st);
    if (err)
        return err;
    uint8_t rec[ENTITY_ENCODED_MAX], key[RECORD_IP_MAX];
    int n = record_entity_encode(e, rec, sizeof rec);
    if (n < 0)
        return fail(st, STORE_EINVAL, "stage entity: %s", record_strerror(n));
    record_ip_key(&e->ip, key);
    int added = stage_obj(&st->b, false, key, RECORD_IP_MAX, NULL, rec, (size_t)n);
    if (added < 0)
        return fail(st, STORE_ENOMEM, "stage entity: out of memory");
    return added ? staged_one(st) : 0;
}

static int stage_kv(struct store *st, int db, bool del, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct batch *b = &st->b;
    if (vlen > UINT32_MAX)
        return fail(st, STORE_EINVAL, "value too large");
    if (grow_array((void **)&b->kvs, &b->cap_kvs, b->n_kvs + 1, sizeof *b->kvs))
        return fail(st, STORE_ENOMEM, "out of memory");
    long ko = arena_reserve(b, klen + vlen);
    if (ko < 0)
        return fail(st, STORE_ENOMEM, "out of memory");
    memcpy(b->arena + ko, key, klen);
    if (vlen)
        memcpy(b->arena + ko + klen, val, vlen);
    struct staged_kv *kv = &b->kvs[b->n_kvs++];
    kv->db = (uint8_t)db;
    kv->del = del;
    kv->koff = (size_t)ko;
    kv->klen = (uint32_t)klen;
    kv->voff = (size_t)ko + klen;
    kv->vlen = (uint32_t)vlen;
    return staged_one(st);
}

int store_corr_put(struct store *st, const void *key, size_t klen, const void *val, size_t vlen)
{
    int err = writer_only(st);
    if (err)
        return err;
    if (!klen || klen > KEY_MAX)
        return fail(st, STORE_EINVAL, "corr key must be 1..%d bytes", KEY_MAX);
    return stage_kv(st, DB_CORR, false, key, klen, val, vlen);
}

int store_corr_delete(struct store *st, const void *key, size_t klen)
{
    int err = writer_only(st);
    if (err)
        return err;
    if (!klen || klen > KEY_MAX)
        return fail(st, STORE_EINVAL, "corr key must be 1..%d bytes", KEY_MAX);
    return stage_kv(st, DB_CORR, true, key, klen, NULL, 0);
}

struct store_corr_txn {
    struct store *st;
    MDB_txn *txn;
    int rc;
    uint64_t puts;
};

/* put for store_corr_replace's filler: inside the replace transaction */
static int corr_replace_put(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    struct store_corr_txn *t = arg;
    if (t->rc)
        return t->rc;
    if (!klen || klen > KEY_MAX) {
        t->rc = STORE_EINVAL;
        return t->rc;
    }
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put(t->txn, t->st->db[DB_CORR], &k, &v, 0);
    if (rc) {
        t->rc = rc == MDB_MAP_FULL ? STORE_EFULL : STORE_EIO;
        return t->rc;
    }
    t->puts++;
    return 0;
}

int store_corr_replace(struct store *st, store_corr_fill_fn fill, void *ctx)
{
    int err = writer_only(st);
    if (err)
        return err;
    /* what is staged goes first, so the checkpoint is not older than the
     * alerts it may cite */
    if ((err = store_flush(st)) < 0)
        return err;
    struct store_corr_txn t = {.st = st};
    int rc = mdb_txn_begin(st->env, NULL, 0, &t.txn);
    if (rc)
        return fail(st, STORE_EIO, "corr replace: %s", mdb_strerror(rc));
    if ((rc = mdb_drop(t.txn, st->db[DB_CORR], 0))) {
        mdb_txn_abort(t.txn);
        return fail(st, STORE_EIO, "corr replace: %s", mdb_strerror(rc));
    }
    int frc = fill(ctx, corr_replace_put, &t);
    if (frc || t.rc) {
        mdb_txn_abort(t.txn);
        if (t.rc == STORE_EFULL)
            st->c.map_full_events++;
        return fail(st, t.rc ? t.rc : STORE_EINVAL, "corr replace: the checkpoint was not written (the previous "
                                                    "one stays)");
    }
    if ((rc = mdb_txn_commit(t.txn)))
        return fail(st, rc == MDB_MAP_FULL ? STORE_EFULL : STORE_EIO, "corr replace: %s", mdb_strerror(rc));
    st->c.kv_ops_written += t.puts;
    return 0;
}

static int user_meta_key(struct store *st, const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (!n || n > META_KEY_MAX || strncmp(key, "sys.", 4) == 0)
        return fail(st, STORE_EINVAL, "meta key must be 1..%d bytes and not start with \"sys.\"", META_KEY_MAX);
    return 0;
}

int store_meta_put(struct store *st, const char *key, const void *val, size_t vlen)
{
    int err = writer_only(st);
    if (!err)
        err = user_meta_key(st, key);
    return err ? err : stage_kv(st, DB_META, false, key, strlen(key), val, vlen);
}

int store_set_ruleset_hash(struct store *st, uint64_t hash)
{
    int err = writer_only(st);
    if (err)
        return err;
    uint8_t b[8];
    le64_put(b, hash);
    return stage_kv(st, DB_META, false, "sys.ruleset_hash", 16, b, 8);
}

size_t store_staged(const struct store *st) { return st->b.items; }
uint64_t store_committed_alert_id(const struct store *st) { return st->committed_alert_id; }
const struct store_counters *store_counters(const struct store *st) { return &st->c; }

/* ---- commit --------------------------------------------------------------- */

/* The entity index is bucketed by alert-id epoch: 'E' bucket ip id.  An
 * entity-clustered key would put each alert of a batch from many sources on
 * another page, and a commit would copy and write hundreds of index pages;
 * within one bucket a batch touches only that bucket's pages (~150 of them
 * at 2^14 alerts per bucket).  Queries probe the buckets newest first. */
#define ENTITY_BUCKET_SHIFT 14
#define EKEY_LEN (1 + 4 + RECORD_IP_MAX + 8)
#define RKEY_LEN (1 + 16 + 8)
#define TKEY_LEN (1 + 8 + 8)

static void be32_put(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void entity_prefix(uint8_t p[1 + 4 + RECORD_IP_MAX], uint64_t bucket, const uint8_t entity[RECORD_IP_MAX])
{
    p[0] = IDX_ENTITY;
    be32_put(p + 1, (uint32_t)bucket);
    memcpy(p + 5, entity, RECORD_IP_MAX);
}

static void alert_index_keys(uint8_t e[EKEY_LEN], uint8_t r[RKEY_LEN], uint8_t t[TKEY_LEN], uint64_t id,
                             const uint8_t entity[RECORD_IP_MAX], const uint8_t uuid[16], int64_t ev)
{
    entity_prefix(e, id >> ENTITY_BUCKET_SHIFT, entity);
    be64_put(e + 5 + RECORD_IP_MAX, id);
    r[0] = IDX_RULE;
    memcpy(r + 1, uuid, 16);
    be64_put(r + 17, id);
    t[0] = IDX_TIME;
    be64_put(t + 1, time_key(ev));
    be64_put(t + 9, id);
}

/* put (del = false) or delete the three index keys of an alert. */
static int alert_index(struct store *st, MDB_txn *txn, bool del, uint64_t id, const uint8_t entity[RECORD_IP_MAX],
                       const uint8_t uuid[16], int64_t ev)
{
    uint8_t e[EKEY_LEN], r[RKEY_LEN], t[TKEY_LEN];
    alert_index_keys(e, r, t, id, entity, uuid, ev);
    MDB_val keys[3] = {{sizeof e, e}, {sizeof r, r}, {sizeof t, t}};
    for (int i = 0; i < 3; i++) {
        MDB_val v = {0, &empty_byte};
        int rc = del ? mdb_del(txn, st->db[DB_INDEX], &keys[i], NULL)
                     : mdb_put(txn, st->db[DB_INDEX], &keys[i], &v, 0);
        if (rc && !(del && rc == MDB_NOTFOUND))
            return rc;
    }
    return 0;
}

static int incident_index(struct store *st, MDB_txn *txn, bool del, uint64_t id, const uint8_t entity[RECORD_IP_MAX])
{
    uint8_t kb[1 + RECORD_IP_MAX + 8];
    kb[0] = IDX_INCIDENT;
    memcpy(kb + 1, entity, RECORD_IP_MAX);
    be64_put(kb + 1 + RECORD_IP_MAX, id);
    MDB_val k = {sizeof kb, kb}, v = {0, &empty_byte};
    int rc = del ? mdb_del(txn, st->db[DB_INDEX], &k, NULL) : mdb_put(txn, st->db[DB_INDEX], &k, &v, 0);
    return del && rc == MDB_NOTFOUND ? 0 : rc;
}

/* Puts a chained record (alerts / incidents) with its trailer and appends
 * its chain entry; advances *h. */
static int put_chained(struct store *st, MDB_txn *txn, int db, uint8_t type, uint64_t id, const uint8_t *rec,
                       size_t len, struct hc_point *h)
{
    uint64_t seq = h->seq + 1;
    uint8_t hash[HC_HASH_BYTES], kb[8];
    hc_link(h->hash, rec, len, seq, hash);
    be64_put(kb, id);
    MDB_val k = {8, kb}, v = {len + HC_TRAILER_BYTES, NULL};
    /* Alerts arrive in id order: append (no tree search, full pages). */
    int rc = mdb_put(txn, st->db[db], &k, &v, MDB_RESERVE | (db == DB_ALERTS ? MDB_APPEND : 0));
    if (rc)
        return rc;
    memcpy(v.mv_data, rec, len);
    hc_trailer_write((uint8_t *)v.mv_data + len, seq, hash);
    rc = chain_put_entry(st, txn, seq, type, id, hash, NULL, 0);
    if (rc)
        return rc;
    h->seq = seq;
    memcpy(h->hash, hash, HC_HASH_BYTES);
    return 0;
}

/* The entity key of the stored version of incident id, if any. */
static int stored_incident_entity(struct store *st, MDB_txn *txn, const uint8_t idkey[8], uint8_t ent[RECORD_IP_MAX],
                                  bool *found)
{
    MDB_val k = {8, (void *)idkey}, v;
    *found = false;
    int rc = mdb_get(txn, st->db[DB_INCIDENTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc)
        return rc;
    size_t rl;
    uint64_t seq;
    const uint8_t *h;
    if (hc_trailer_split(v.mv_data, v.mv_size, &rl, &seq, &h) == 0 &&
        record_incident_decode(v.mv_data, rl, &st->tmp_inc) == 0) {
        record_ip_key(&st->tmp_inc.entity, ent);
        *found = true;
    }
    return 0;
}

/* Writes the whole batch in one transaction.  0, or the LMDB error (the txn
 * is aborted and nothing of the batch is stored). */
static int write_batch(struct store *st, struct hc_point *head_out)
{
    struct batch *b = &st->b;
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return rc;
    struct hc_point h = st->head;
    for (size_t i = 0; i < b->n_alerts && !rc; i++) {
        const struct staged_alert *sa = &b->alerts[i];
        rc = put_chained(st, txn, DB_ALERTS, HC_ENTRY_ALERT, sa->id, b->arena + sa->off, sa->len, &h);
        if (!rc)
            rc = alert_index(st, txn, false, sa->id, sa->entity, sa->uuid, sa->event_ns);
    }
    for (size_t i = 0; i < b->n_incs && !rc; i++) {
        const struct staged_obj *o = &b->incs[i];
        uint8_t old[RECORD_IP_MAX];
        bool found;
        rc = stored_incident_entity(st, txn, o->key, old, &found);
        if (!rc && found && memcmp(old, o->aux, RECORD_IP_MAX) != 0)
            rc = incident_index(st, txn, true, be64_get(o->key), old);
        if (!rc)
            rc = put_chained(st, txn, DB_INCIDENTS, HC_ENTRY_INCIDENT, be64_get(o->key), b->arena + o->off, o->len,
                             &h);
        if (!rc)
            rc = incident_index(st, txn, false, be64_get(o->key), o->aux);
    }
    for (size_t i = 0; i < b->n_ents && !rc; i++) {
        const struct staged_obj *o = &b->ents[i];
        MDB_val k = {o->klen, (void *)o->key}, v = {o->len, b->arena + o->off};
        rc = mdb_put(txn, st->db[DB_ENTITIES], &k, &v, 0);
    }
    for (size_t i = 0; i < b->n_kvs && !rc; i++) {
        const struct staged_kv *kv = &b->kvs[i];
        MDB_val k = {kv->klen, b->arena + kv->koff}, v = {kv->vlen, kv->vlen ? b->arena + kv->voff : &empty_byte};
        if (kv->del) {
            rc = mdb_del(txn, st->db[kv->db], &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        } else {
            rc = mdb_put(txn, st->db[kv->db], &k, &v, 0);
        }
    }
    if (!rc)
        rc = meta_put_u64(st, txn, "sys.next_alert", st->next_alert_id);
    if (!rc)
        rc = meta_put_u64(st, txn, "sys.next_incident", st->next_incident_id);
    if (!rc)
        rc = meta_put_u64(st, txn, "sys.last_commit", (uint64_t)clock_ns(CLOCK_REALTIME));
    if (!rc && h.seq != st->head.seq)
        rc = chain_put_point(st, txn, "H", &h);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (!rc)
        *head_out = h;
    return rc;
}

static long prune_for_space(struct store *st, uint64_t want_alerts, int reason);
static int size_retention(struct store *st, unsigned max_chunks);

static int grow_map(struct store *st)
{
    if (st->map_size >= st->max_map_size)
        return -1;
    uint64_t n = st->map_size * 2;
    if (n > st->max_map_size || n < st->map_size)
        n = st->max_map_size;
    if (mdb_env_set_mapsize(st->env, n))
        return -1;
    st->map_size = n;
    st->c.map_grows++;
    /* Remember it, so a restart maps the grown size (best effort). */
    MDB_txn *txn;
    if (mdb_txn_begin(st->env, NULL, 0, &txn) == 0) {
        if (meta_put_u64(st, txn, "sys.map_size", n) == 0)
            mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    return 0;
}

static uint64_t alerts_stored(struct store *st)
{
    MDB_txn *txn;
    MDB_stat s;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
        return 0;
    uint64_t n = mdb_stat(txn, st->db[DB_ALERTS], &s) == 0 ? s.ms_entries : 0;
    mdb_txn_abort(txn);
    return n;
}

static void drop_batch(struct store *st)
{
    st->c.batches_dropped++;
    st->c.items_dropped += st->b.items;
    st->c.alerts_dropped += st->b.n_alerts;
    batch_clear(&st->b);
}

/* Commits the staged batch, retrying it after MDB_MAP_FULL (see store.h). */
static int commit_batch(struct store *st)
{
    struct batch *b = &st->b;
    if (!b->items)
        return 0;
    int64_t t0 = clock_ns(CLOCK_MONOTONIC);
    int rc = 0, err = 0;
    struct hc_point head;
    for (int attempt = 0;; attempt++) {
        rc = write_batch(st, &head);
        if (rc != MDB_MAP_FULL)
            break;
        st->c.map_full_events++;
        if (attempt >= COMMIT_ATTEMPTS)
            break;
        /* 1: readers that died keep pages pinned; free their slots. */
        int dead = 0;
        if (mdb_reader_check(st->env, &dead) == 0 && dead > 0) {
            st->c.stale_readers_cleared += (uint64_t)dead;
            st->c.retries++;
            continue;
        }
        /* 2: the operator allows a bigger map. */
        if (grow_map(st) == 0) {
            st->c.retries++;
            continue;
        }
        /* 3: prune the oldest data: an eighth of the alerts (at least a
         * chunk and twice the batch), so a few rounds make room. */
        uint64_t want = alerts_stored(st) / 8;
        if (want < st->cfg.prune_chunk)
            want = st->cfg.prune_chunk;
        if (want < 2 * b->n_alerts)
            want = 2 * b->n_alerts;
        long pruned = prune_for_space(st, want, HC_PRUNE_MAP_FULL);
        if (pruned <= 0) {
            err = pruned < 0 ? (int)pruned : 0;
            break;
        }
        st->c.retries++;
    }
    int64_t dt = clock_ns(CLOCK_MONOTONIC) - t0;
    st->c.commit_ns_total += (uint64_t)dt;
    if ((uint64_t)dt > st->c.commit_ns_max)
        st->c.commit_ns_max = (uint64_t)dt;
    if (rc) {
        st->c.commit_errors++;
        size_t items = b->items;
        drop_batch(st);
        if (rc == MDB_MAP_FULL)
            return err ? err
                       : fail(st, STORE_EFULL, "store full: batch of %zu items dropped (nothing left to prune)",
                              items);
        return mdb_fail(st, rc, "commit");
    }
    st->head = head;
    if (b->n_alerts)
        st->committed_alert_id = b->alerts[b->n_alerts - 1].id;
    st->c.commits++;
    st->c.alerts_written += b->n_alerts;
    st->c.incidents_written += b->n_incs;
    st->c.entities_written += b->n_ents;
    st->c.kv_ops_written += b->n_kvs;
    st->c.batch_items_total += b->items;
    st->c.last_batch_items = b->items;
    if (b->items > st->c.batch_items_max)
        st->c.batch_items_max = b->items;
    batch_clear(b);
    /* Keep used pages under the fraction now, so the next batch rarely meets a full map. */
    size_retention(st, 1);
    return 0;
}

int store_flush(struct store *st)
{
    int err = writer_only(st);
    return err ? err : commit_batch(st);
}

int store_sync(struct store *st)
{
    int rc = mdb_env_sync(st->env, 1);
    if (rc)
        return mdb_fail(st, rc, "mdb_env_sync");
    st->c.syncs++;
    return 0;
}

/* ---- retention ------------------------------------------------------------ */

/* Pages in use: every DB's pages, the freelist's own, and the two meta pages. */
static int space_used(struct store *st, MDB_txn *txn, uint64_t *used, uint64_t *psize)
{
    MDB_stat s;
    uint64_t n = 2;
    MDB_dbi all[DB__COUNT + 2] = {0, 1};   /* LMDB's FREE_DBI and MAIN_DBI */
    for (int i = 0; i < DB__COUNT; i++)
        all[i + 2] = st->db[i];
    for (int i = 0; i < DB__COUNT + 2; i++) {
        int rc = mdb_stat(txn, all[i], &s);
        if (rc)
            return rc;
        n += s.ms_branch_pages + s.ms_leaf_pages + s.ms_overflow_pages;
        *psize = s.ms_psize;
    }
    *used = n;
    return 0;
}

struct prune_out {
    uint64_t alerts, incidents, carried, entries;
};

static int del_alert_with_index(struct store *st, MDB_txn *txn, const MDB_val *v, uint64_t id)
{
    size_t rl;
    uint64_t seq;
    const uint8_t *h;
    if (hc_trailer_split(v->mv_data, v->mv_size, &rl, &seq, &h) == 0 &&
        record_alert_decode(v->mv_data, rl, &st->tmp_alert) == 0) {
        uint8_t ent[RECORD_IP_MAX];
        record_ip_key(&st->tmp_alert.entity, ent);
        return alert_index(st, txn, true, id, ent, st->tmp_alert.rule_uuid, st->tmp_alert.event_ns);
    }
    return 0;   /* undecodable: its index keys cannot be named; they only point at nothing */
}

static bool incident_expired(const struct vigil_incident *inc, int reason, int64_t cutoff)
{
    return inc->status == INCIDENT_CLOSED && (reason != HC_PRUNE_AGE || inc->updated_ns < cutoff);
}

/* With no alert left to prune: is there any incident material below the
 * head that pruning would free?  (Otherwise moving the base would only
 * re-chain open incidents, over and over.) */
static int incidents_prunable(struct store *st, MDB_txn *txn, int reason, int64_t cutoff, bool *yes)
{
    MDB_cursor *c;
    *yes = false;
    int rc = mdb_cursor_open(txn, st->db[DB_CHAIN], &c);
    if (rc)
        return rc;
    uint8_t kb[9] = {CHAIN_ENTRY};
    MDB_val k = {9, kb}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && !*yes;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct hc_entry e;
        if (k.mv_size != 9 || hc_entry_decode(v.mv_data, v.mv_size, &e) || e.type != HC_ENTRY_INCIDENT)
            continue;
        uint64_t eseq = be64_get((const uint8_t *)k.mv_data + 1);
        uint8_t ik[8];
        be64_put(ik, e.id);
        MDB_val kk = {8, ik}, iv;
        size_t rl;
        uint64_t rseq;
        const uint8_t *h;
        bool current = mdb_get(txn, st->db[DB_INCIDENTS], &kk, &iv) == 0 &&
                       hc_trailer_split(iv.mv_data, iv.mv_size, &rl, &rseq, &h) == 0 && rseq == eseq;
        if (!current) {
            if (reason != HC_PRUNE_AGE)
                *yes = true;   /* a superseded version's entry frees space */
            continue;
        }
        if (record_incident_decode(iv.mv_data, rl, &st->tmp_inc) == 0 && incident_expired(&st->tmp_inc, reason, cutoff))
            *yes = true;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int carry_push(struct store *st, uint64_t id)
{
    if (grow_array((void **)&st->carry, &st->cap_carry, st->n_carry + 1, sizeof *st->carry))
        return ENOMEM;
    st->carry[st->n_carry++] = id;
    return 0;
}

/* Removes chain entries below S (and what they name, where it is to go),
 * collecting incidents to re-chain.  *prev gets hash(S - 1). */
static int prune_entries_below(struct store *st, MDB_txn *txn, uint64_t S, int reason, int64_t cutoff,
                               uint8_t prev[HC_HASH_BYTES], struct prune_out *po)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->db[DB_CHAIN], &c);
    if (rc)
        return rc;
    st->n_carry = 0;
    for (;;) {
        /* Always the first entry: each pass deletes it, so no cursor step over a deletion. */
        uint8_t kb[9] = {CHAIN_ENTRY};
        MDB_val k = {9, kb}, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (k.mv_size != 9 || ((uint8_t *)k.mv_data)[0] != CHAIN_ENTRY)
            break;
        uint64_t seq = be64_get((uint8_t *)k.mv_data + 1);
        if (seq >= S)
            break;
        struct hc_entry e;
        if (hc_entry_decode(v.mv_data, v.mv_size, &e) == 0) {
            memcpy(prev, e.hash, HC_HASH_BYTES);
            uint8_t ik[8];
            be64_put(ik, e.id);
            MDB_val kk = {8, ik}, rv;
            if (e.type == HC_ENTRY_ALERT) {
                /* normally gone already (alerts are pruned from the front) */
                if (mdb_get(txn, st->db[DB_ALERTS], &kk, &rv) == 0) {
                    rc = del_alert_with_index(st, txn, &rv, e.id);
                    if (!rc)
                        rc = mdb_del(txn, st->db[DB_ALERTS], &kk, NULL);
                    po->alerts++;
                }
            } else if (e.type == HC_ENTRY_INCIDENT && mdb_get(txn, st->db[DB_INCIDENTS], &kk, &rv) == 0) {
                size_t rl;
                uint64_t rseq;
                const uint8_t *h;
                if (hc_trailer_split(rv.mv_data, rv.mv_size, &rl, &rseq, &h) == 0 && rseq == seq) {
                    /* the current version is below the new base: delete or re-chain */
                    if (record_incident_decode(rv.mv_data, rl, &st->tmp_inc) == 0 &&
                        incident_expired(&st->tmp_inc, reason, cutoff)) {
                        uint8_t ent[RECORD_IP_MAX];
                        record_ip_key(&st->tmp_inc.entity, ent);
                        rc = incident_index(st, txn, true, e.id, ent);
                        if (!rc)
                            rc = mdb_del(txn, st->db[DB_INCIDENTS], &kk, NULL);
                        po->incidents++;
                    } else {
                        rc = carry_push(st, e.id);
                    }
                }
            }
        }
        if (!rc)
            rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        po->entries++;
    }
    mdb_cursor_close(c);
    return rc;
}

/* One prune transaction: up to max_alerts oldest alerts (for HC_PRUNE_AGE
 * only those received before cutoff), the chain below them, closed
 * incidents passed by the base; appends re-chained incidents and the prune
 * marker, moves the base.  1 when something was pruned, 0 when there was
 * nothing to prune, or an LMDB error (> 0; the txn is aborted). */
static int prune_once(struct store *st, int reason, int64_t cutoff, uint64_t max_alerts, struct prune_out *po)
{
    memset(po, 0, sizeof *po);
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return rc;
    struct hc_point h = st->head;
    uint64_t S = 0, last_seq = 0;
    MDB_cursor *c = NULL;
    rc = mdb_cursor_open(txn, st->db[DB_ALERTS], &c);
    bool alerts_left = false;
    while (!rc && po->alerts < max_alerts) {
        MDB_val k, v;
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        size_t rl;
        uint64_t seq;
        const uint8_t *hh;
        if (k.mv_size != 8 || hc_trailer_split(v.mv_data, v.mv_size, &rl, &seq, &hh)) {
            rc = EINVAL;   /* a damaged oldest record: do not guess where the chain goes */
            break;
        }
        int drc = record_alert_decode(v.mv_data, rl, &st->tmp_alert);
        if (reason == HC_PRUNE_AGE && (drc || st->tmp_alert.received_ns >= cutoff)) {
            alerts_left = true;
            break;
        }
        rc = del_alert_with_index(st, txn, &v, be64_get(k.mv_data));
        if (!rc)
            rc = mdb_cursor_del(c, 0);
        last_seq = seq;
        po->alerts++;
    }
    if (!rc && po->alerts == max_alerts) {
        MDB_val k, v;
        alerts_left = mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0;
    }
    if (c)
        mdb_cursor_close(c);
    if (!rc) {
        if (po->alerts) {
            S = last_seq + 1;
        } else if (!alerts_left) {
            bool yes;
            rc = incidents_prunable(st, txn, reason, cutoff, &yes);
            if (!rc && yes)
                S = h.seq + 1;
        }
    }
    if (rc || S <= st->base.seq) {
        mdb_txn_abort(txn);
        return rc;
    }
    uint8_t prev[HC_HASH_BYTES];
    memcpy(prev, st->base.hash, HC_HASH_BYTES);
    rc = prune_entries_below(st, txn, S, reason, cutoff, prev, po);
    /* re-chain the incidents that stay: same bytes, new seq above the base */
    for (size_t i = 0; i < st->n_carry && !rc; i++) {
        uint8_t ik[8];
        be64_put(ik, st->carry[i]);
        MDB_val kk = {8, ik}, rv;
        rc = mdb_get(txn, st->db[DB_INCIDENTS], &kk, &rv);
        uint8_t rec[INCIDENT_ENCODED_MAX];
        size_t rl = 0;
        uint64_t rseq;
        const uint8_t *hh;
        if (!rc && (hc_trailer_split(rv.mv_data, rv.mv_size, &rl, &rseq, &hh) || rl > sizeof rec))
            rc = EINVAL;
        if (!rc) {
            memcpy(rec, rv.mv_data, rl);   /* rv dies at the next write */
            rc = put_chained(st, txn, DB_INCIDENTS, HC_ENTRY_INCIDENT, st->carry[i], rec, rl, &h);
            po->carried++;
        }
    }
    struct hc_prune m = {st->base.seq, S, {0}, po->alerts, po->incidents, po->carried, clock_ns(CLOCK_REALTIME),
                         (uint8_t)reason};
    memcpy(m.prev_hash, prev, HC_HASH_BYTES);
    uint8_t mb[HC_PRUNE_BYTES], hash[HC_HASH_BYTES];
    hc_prune_write(mb, &m);
    uint64_t mseq = h.seq + 1;
    hc_link(h.hash, mb, sizeof mb, mseq, hash);
    if (!rc)
        rc = chain_put_entry(st, txn, mseq, HC_ENTRY_PRUNE, 0, hash, mb, sizeof mb);
    h.seq = mseq;
    memcpy(h.hash, hash, HC_HASH_BYTES);
    struct hc_point base = {S, {0}};
    memcpy(base.hash, prev, HC_HASH_BYTES);
    if (!rc)
        rc = chain_put_point(st, txn, "B", &base);
    if (!rc)
        rc = chain_put_point(st, txn, "H", &h);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    rc = mdb_txn_commit(txn);
    if (rc)
        return rc;
    st->head = h;
    st->base = base;
    st->c.prune_txns++;
    st->c.pruned_alerts += po->alerts;
    st->c.pruned_incidents += po->incidents;
    st->c.carried_incidents += po->carried;
    return 1;
}

/* LMDB reuses pages freed by transaction X only from transaction X + 2 on
 * (the last committed snapshot stays intact).  A tiny commit after a prune
 * makes the pruned pages available to the very next transaction: the
 * retried batch. */
static void tick(struct store *st)
{
    MDB_txn *txn;
    if (mdb_txn_begin(st->env, NULL, 0, &txn))
        return;
    if (meta_put_u64(st, txn, "sys.tick", st->c.prune_txns) == 0)
        mdb_txn_commit(txn);
    else
        mdb_txn_abort(txn);
}

/* Prunes up to want alerts' worth in chunks; a chunk that itself meets a
 * full map is halved (and grows back after a success).  Returns records
 * pruned, 0 when nothing could be pruned, < 0 on error. */
static long prune_for_space(struct store *st, uint64_t want, int reason)
{
    uint64_t chunk = st->cfg.prune_chunk, done = 0;
    long freed = 0;
    while (done < want) {
        if (chunk > want - done)
            chunk = want - done;
        struct prune_out po;
        int rc = prune_once(st, reason, 0, chunk, &po);
        if (rc == 1) {
            freed += (long)(po.alerts + po.incidents + po.entries);
            if (!po.alerts)
                break;   /* only incidents were left: one pass frees what can go */
            done += po.alerts;
            if (chunk * 2 <= st->cfg.prune_chunk)
                chunk *= 2;
            continue;
        }
        if (rc == 0)
            break;
        if (rc == MDB_MAP_FULL) {
            st->c.map_full_events++;
            if (chunk > 1) {
                chunk /= 2;
                continue;
            }
            break;
        }
        return mdb_fail(st, rc, "prune");
    }
    if (freed)
        tick(st);
    return freed;
}

/* Keeps used pages under retention_fraction of max_map_size: grows the map
 * while it may, then prunes.  Hysteresis: once above the fraction, prunes
 * continue (a chunk per call when max_chunks is 1) until used pages are
 * under 90 % of it, so pruning happens in a few larger steps, each with room
 * to run, rather than a sliver after every commit. */
static int size_retention(struct store *st, unsigned max_chunks)
{
    for (unsigned i = 0; !max_chunks || i < max_chunks; i++) {
        MDB_txn *txn;
        uint64_t used = 0, psize = 4096;
        if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
            return 0;
        int rc = space_used(st, txn, &used, &psize);
        mdb_txn_abort(txn);
        if (rc)
            return 0;
        double frac = st->cfg.retention_fraction;
        if ((double)used > frac * (double)(st->map_size / psize) && st->map_size < st->max_map_size &&
            grow_map(st) == 0)
            continue;
        double high = frac * (double)(st->max_map_size / psize);
        if ((double)used > high)
            st->size_pruning = true;
        else if ((double)used <= 0.9 * high)
            st->size_pruning = false;
        if (!st->size_pruning)
            return 0;
        struct prune_out po;
        rc = prune_once(st, HC_PRUNE_SIZE, 0, st->cfg.prune_chunk, &po);
        if (rc == MDB_MAP_FULL) {
            st->c.map_full_events++;
            /* no room even to prune a chunk: smaller steps */
            prune_for_space(st, st->cfg.prune_chunk, HC_PRUNE_SIZE);
            return 0;
        }
        if (rc != 1) {
            st->size_pruning = false;   /* nothing left to prune */
            return 0;
        }
    }
    return 0;
}

/* Entities last seen before cutoff with no open incident: up to max keys
 * looked at per call, resuming where the last call stopped. */
static long prune_entities(struct store *st, int64_t cutoff, size_t max)
{
    MDB_txn *txn;
    if (mdb_txn_begin(st->env, NULL, 0, &txn))
        return 0;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, st->db[DB_ENTITIES], &c)) {
        mdb_txn_abort(txn);
        return 0;
    }
    uint8_t (*del)[RECORD_IP_MAX] = malloc(max * RECORD_IP_MAX);
    size_t n_del = 0, seen = 0;
    MDB_val k = {RECORD_IP_MAX, st->ent_resume}, v;
    int rc = mdb_cursor_get(c, &k, &v, st->ent_resume_set ? MDB_SET_RANGE : MDB_FIRST);
    st->ent_resume_set = false;
    for (; del && rc == 0 && seen < max; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), seen++) {
        struct vigil_entity e;
        if (k.mv_size == RECORD_IP_MAX && record_entity_decode(v.mv_data, v.mv_size, &e) == 0 &&
            e.last_seen_ns < cutoff && e.open_incident_id == 0)
            memcpy(del[n_del++], k.mv_data, RECORD_IP_MAX);
    }
    if (rc == 0 && k.mv_size == RECORD_IP_MAX) {
        memcpy(st->ent_resume, k.mv_data, RECORD_IP_MAX);
        st->ent_resume_set = true;
    }
    mdb_cursor_close(c);
    rc = 0;
    for (size_t i = 0; i < n_del && !rc; i++) {
        MDB_val dk = {RECORD_IP_MAX, del[i]};
        rc = mdb_del(txn, st->db[DB_ENTITIES], &dk, NULL);
    }
    free(del);
    if (rc || (n_del && mdb_txn_commit(txn))) {
        if (rc)
            mdb_txn_abort(txn);
        return 0;
    }
    if (!n_del)
        mdb_txn_abort(txn);
    st->c.pruned_entities += n_del;
    return (long)n_del;
}

/* Age retention: up to max_chunks prune txns (0 = until done).  *more says
 * whether old alerts are probably left. */
static long age_retention(struct store *st, int64_t now_ns, unsigned max_chunks, bool *more)
{
    *more = false;
    if (!st->cfg.retention_age_s)
        return 0;
    int64_t cutoff = now_ns - (int64_t)st->cfg.retention_age_s * 1000000000;
    long total = 0;
    for (unsigned i = 0;; i++) {
        if (max_chunks && i >= max_chunks) {
            *more = true;
            break;
        }
        struct prune_out po;
        int rc = prune_once(st, HC_PRUNE_AGE, cutoff, st->cfg.prune_chunk, &po);
        if (rc == MDB_MAP_FULL) {
            /* not even room to prune: a smaller step next time */
            st->c.map_full_events++;
            prune_for_space(st, st->cfg.prune_chunk, HC_PRUNE_SIZE);
            *more = true;
            break;
        }
        if (rc != 1)
            break;
        total += (long)po.alerts;
        if (po.alerts < st->cfg.prune_chunk)
            break;
    }
    prune_entities(st, cutoff, st->cfg.prune_chunk);
    return total;
}

long store_retention_run(struct store *st, int64_t now_ns, unsigned max_chunks)
{
    int err = writer_only(st);
    if (err)
        return err;
    bool more;
    long n = age_retention(st, now_ns, max_chunks, &more);
    uint64_t before = st->c.pruned_alerts;
    size_retention(st, max_chunks);
    return n + (long)(st->c.pruned_alerts - before);
}

int store_commit_due(struct store *st, int64_t now_ns)
{
    int err = writer_only(st);
    if (err)
        return err;
    int committed = 0, rc = 0;
    struct batch *b = &st->b;
    if (b->items && (b->items >= st->cfg.batch_max || !st->have_last_commit ||
                     now_ns - st->last_commit_now >= (int64_t)st->cfg.batch_delay_ms * 1000000)) {
        rc = commit_batch(st);
        committed = rc == 0;
        st->last_commit_now = now_ns;
        st->have_last_commit = true;
    }
    if (st->cfg.retention_age_s &&
        (st->age_pending || now_ns - st->last_retention_now >= (int64_t)st->cfg.retention_interval_ms * 1000000)) {
        bool more;
        age_retention(st, now_ns, 4, &more);
        st->age_pending = more;
        st->last_retention_now = now_ns;
    }
    if (st->cfg.durability != STORE_SYNC && st->cfg.sync_interval_ms &&
        now_ns - st->last_sync_now >= (int64_t)st->cfg.sync_interval_ms * 1000000) {
        st->last_sync_now = now_ns;
        int src = store_sync(st);
        if (!rc && src)
            rc = src;
    }
    return rc < 0 ? rc : committed;
}

/* ---- queries -------------------------------------------------------------- */

/* Splits and decodes a stored alert value. */
static int alert_from_value(const MDB_val *v, struct vigil_alert *out)
{
    size_t rl;
    uint64_t seq;
    const uint8_t *h;
    if (hc_trailer_split(v->mv_data, v->mv_size, &rl, &seq, &h))
        return STORE_ECORRUPT;
    return record_alert_decode(v->mv_data, rl, out) ? STORE_ECORRUPT : 0;
}

static int incident_from_value(const MDB_val *v, struct vigil_incident *out)
{
    size_t rl;
    uint64_t seq;
    const uint8_t *h;
    if (hc_trailer_split(v->mv_data, v->mv_size, &rl, &seq, &h))
        return STORE_ECORRUPT;
    return record_incident_decode(v->mv_data, rl, out) ? STORE_ECORRUPT : 0;
}

static int get_alert_txn(struct store *st, MDB_txn *txn, uint64_t id, struct vigil_alert *out)
{
    uint8_t kb[8];
    be64_put(kb, id);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, st->db[DB_ALERTS], &k, &v);
    if (rc == MDB_NOTFOUND)
        return STORE_ENOTFOUND;
    if (rc)
        return mdb_fail(st, rc, "mdb_get(alerts)");
    rc = alert_from_value(&v, out);
    return rc ? fail(st, rc, "alert %llu does not decode", (unsigned long long)id) : 0;
}

int store_get_alert(struct store *st, uint64_t id, struct vigil_alert *out)
{
    if (st->mode == STORE_WRITER) {
        struct staged_alert *sa = staged_alert_find(st, id);
        if (sa)
            return record_alert_decode(st->b.arena + sa->off, sa->len, out) ? STORE_ECORRUPT : 0;
    }
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    rc = get_alert_txn(st, txn, id, out);
    mdb_txn_abort(txn);
    return rc;
}

/* Positions c at the greatest key <= key: 0, or MDB_NOTFOUND. */
static int seek_le(MDB_cursor *c, const uint8_t *key, size_t klen, MDB_val *k, MDB_val *v)
{
    k->mv_size = klen;
    k->mv_data = (void *)key;
    int rc = mdb_cursor_get(c, k, v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND)
        return mdb_cursor_get(c, k, v, MDB_LAST);
    if (rc)
        return rc;
    if (k->mv_size == klen && memcmp(k->mv_data, key, klen) == 0)
        return 0;
    return mdb_cursor_get(c, k, v, MDB_PREV);
}

static bool alert_matches(const struct vigil_alert *a, const struct store_alert_query *q, bool has_time,
                          int64_t since, int64_t until)
{
    if (a->level < q->min_level)
        return false;
    if (has_time && (a->event_ns < since || a->event_ns > until))
        return false;
    if (q->entity) {
        uint8_t x[RECORD_IP_MAX], y[RECORD_IP_MAX];
        record_ip_key(q->entity, x);
        record_ip_key(&a->entity, y);
        if (memcmp(x, y, RECORD_IP_MAX))
            return false;
    }
    if (q->rule_uuid && memcmp(q->rule_uuid, a->rule_uuid, 16))
        return false;
    if (q->before_id && a->id >= q->before_id)
        return false;
    return true;
}

/* One alert listing in progress. */
struct alert_walk {
    struct store *st;
    MDB_txn *txn;
    MDB_cursor *c;
    const struct store_alert_query *q;
    store_alert_fn fn;
    void *ctx;
    struct store_query_info *info;
    bool has_time, time_index, done;
    int64_t since, until;
    unsigned limit;
    uint64_t max_scan;
    int delivered;
};

/* Counts one record (or bucket probe) looked at: false when max_scan is reached. */
static bool walk_step(struct alert_walk *w)
{
    if (w->info->scanned >= w->max_scan) {
        w->info->truncated = true;
        w->done = true;
        return false;
    }
    w->info->scanned++;
    return true;
}

/* Hands a matching alert to the caller: false when the walk is over. */
static bool walk_offer(struct alert_walk *w, const struct vigil_alert *a)
{
    if (!alert_matches(a, w->q, w->has_time, w->since, w->until))
        return true;
    w->delivered++;
    if (w->fn(a, w->ctx) || (unsigned)w->delivered >= w->limit) {
        w->done = true;
        return false;
    }
    return true;
}

/* Index keys of klen bytes starting with prefix and ending in an alert id,
 * from the greatest key <= seek downwards. */
static int walk_index(struct alert_walk *w, const uint8_t *prefix, size_t plen, const uint8_t *seek, size_t klen)
{
    MDB_val k, v;
    int rc;
    for (rc = seek_le(w->c, seek, klen, &k, &v); rc == 0; rc = mdb_cursor_get(w->c, &k, &v, MDB_PREV)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != klen || memcmp(kp, prefix, plen) != 0)
            break;   /* left the prefix: no more */
        if (w->time_index && w->has_time && (int64_t)(be64_get(kp + 1) ^ (1ull << 63)) < w->since)
            break;
        if (!walk_step(w))
            break;
        struct vigil_alert a;
        if (get_alert_txn(w->st, w->txn, be64_get(kp + klen - 8), &a))
            continue;   /* pruned meanwhile, or damaged: verify's business, not a reason to hide the rest */
        if (!walk_offer(w, &a))
            break;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* First and last alert ids stored (0, 0 when none). */
static int alert_id_range(struct store *st, MDB_txn *txn, uint64_t *lo, uint64_t *hi)
{
    MDB_cursor *c;
    MDB_val k, v;
    *lo = *hi = 0;
    int rc = mdb_cursor_open(txn, st->db[DB_ALERTS], &c);
    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == 0 && k.mv_size == 8)
        *lo = be64_get(k.mv_data);
    if (rc == 0)
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    if (rc == 0 && k.mv_size == 8)
        *hi = be64_get(k.mv_data);
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_list_alerts(struct store *st, const struct store_alert_query *q, store_alert_fn fn, void *ctx,
                      struct store_query_info *info)
{
    struct store_query_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof *info);
    if (!q || !fn)
        return fail(st, STORE_EINVAL, "list alerts: no query or callback");
    if (q->before_id == 1)
        return 0;
    struct alert_walk w = {st, NULL, NULL, q, fn, ctx, info, q->since_ns || q->until_ns, false, false,
                           q->since_ns, q->until_ns ? q->until_ns : INT64_MAX, q->limit ? q->limit : 100,
                           q->max_scan ? q->max_scan : 1000000, 0};
    uint64_t hi_id = q->before_id ? q->before_id - 1 : UINT64_MAX;
    /* The most selective index drives the walk; the other criteria filter. */
    int dbi = q->entity || q->rule_uuid || w.has_time ? DB_INDEX : DB_ALERTS;
    int rc = rcursor_open(st, dbi, &w.txn, &w.c);
    if (rc)
        return rc;
    if (q->entity) {
        uint64_t lo, last;
        uint8_t ent[RECORD_IP_MAX], prefix[1 + 4 + RECORD_IP_MAX], seek[EKEY_LEN];
        record_ip_key(q->entity, ent);
        rc = alert_id_range(st, w.txn, &lo, &last);
        if (hi_id > last)
            hi_id = last;
        for (uint64_t b = hi_id >> ENTITY_BUCKET_SHIFT; !rc && lo && hi_id >= lo && !w.done; b--) {
            if (!walk_step(&w))
                break;
            entity_prefix(prefix, b, ent);
            memcpy(seek, prefix, sizeof prefix);
            be64_put(seek + sizeof prefix, hi_id);
            rc = walk_index(&w, prefix, sizeof prefix, seek, EKEY_LEN);
            if (b <= lo >> ENTITY_BUCKET_SHIFT)
                break;
        }
    } else if (q->rule_uuid) {
        uint8_t prefix[17], seek[RKEY_LEN];
        prefix[0] = IDX_RULE;
        memcpy(prefix + 1, q->rule_uuid, 16);
        memcpy(seek, prefix, 17);
        be64_put(seek + 17, hi_id);
        rc = walk_index(&w, prefix, 17, seek, RKEY_LEN);
    } else if (w.has_time) {
        uint8_t prefix[1] = {IDX_TIME}, seek[TKEY_LEN];
        seek[0] = IDX_TIME;
        be64_put(seek + 1, time_key(w.until));
        be64_put(seek + 9, UINT64_MAX);
        w.time_index = true;
        rc = walk_index(&w, prefix, 1, seek, TKEY_LEN);
    } else {
        uint8_t seek[8];
        be64_put(seek, hi_id);
        MDB_val k, v;
        for (rc = seek_le(w.c, seek, 8, &k, &v); rc == 0; rc = mdb_cursor_get(w.c, &k, &v, MDB_PREV)) {
            if (!walk_step(&w))
                break;
            struct vigil_alert a;
            if (k.mv_size != 8 || alert_from_value(&v, &a))
                continue;
            if (!walk_offer(&w, &a))
                break;
        }
        if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    int err = rc ? mdb_fail(st, rc, "list alerts") : 0;
    mdb_cursor_close(w.c);
    mdb_txn_abort(w.txn);
    return err ? err : w.delivered;
}

int store_list_incidents(struct store *st, const struct store_incident_query *q, store_incident_fn fn, void *ctx,
                         struct store_query_info *info)
{
    struct store_query_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof *info);
    if (!q || !fn)
        return fail(st, STORE_EINVAL, "list incidents: no query or callback");
    unsigned limit = q->limit ? q->limit : 100;
    uint64_t max_scan = q->max_scan ? q->max_scan : 1000000;
    if (q->before_id == 1)
        return 0;
    uint64_t hi_id = q->before_id ? q->before_id - 1 : UINT64_MAX;
    uint8_t prefix[1 + RECORD_IP_MAX], seek[1 + RECORD_IP_MAX + 8];
    size_t plen = 0, slen;
    int dbi;
    if (q->entity) {
        dbi = DB_INDEX;
        prefix[0] = IDX_INCIDENT;
        record_ip_key(q->entity, prefix + 1);
        plen = sizeof prefix;
        memcpy(seek, prefix, plen);
        be64_put(seek + plen, hi_id);
        slen = plen + 8;
    } else {
        dbi = DB_INCIDENTS;
        be64_put(seek, hi_id);
        slen = 8;
    }
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = rcursor_open(st, dbi, &txn, &c);
    if (rc)
        return rc;
    int delivered = 0, err = 0;
    struct vigil_incident inc;
    MDB_val k, v;
    for (rc = seek_le(c, seek, slen, &k, &v); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_PREV)) {
        if (info->scanned >= max_scan) {
            info->truncated = true;
            break;
        }
        info->scanned++;
        if (dbi == DB_INDEX) {
            if (k.mv_size != slen || memcmp(k.mv_data, prefix, plen) != 0)
                break;
            uint8_t ik[8];
            memcpy(ik, (uint8_t *)k.mv_data + plen, 8);
            MDB_val kk = {8, ik}, iv;
            if (mdb_get(txn, st->db[DB_INCIDENTS], &kk, &iv) || incident_from_value(&iv, &inc))
                continue;
        } else if (k.mv_size != 8 || incident_from_value(&v, &inc)) {
            continue;
        }
        if ((q->status_mask && !(q->status_mask & (1u << inc.status))) || inc.severity < q->min_severity)
            continue;
        delivered++;
        if (fn(&inc, ctx) || (unsigned)delivered >= limit)
            break;
    }
    if (rc && rc != MDB_NOTFOUND)
        err = mdb_fail(st, rc, "list incidents");
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return err ? err : delivered;
}

int store_get_incident(struct store *st, uint64_t id, struct vigil_incident *out, store_alert_fn fn, void *ctx,
                       unsigned *missing)
{
    if (missing)
        *missing = 0;
    bool have = false;
    if (st->mode == STORE_WRITER) {
        uint8_t key[8];
        be64_put(key, id);
        long at = objmap_find(&st->b.inc_map, st->b.incs, key, 8);
        if (at >= 0) {
            if (record_incident_decode(st->b.arena + st->b.incs[at].off, st->b.incs[at].len, out))
                return STORE_ECORRUPT;
            have = true;
        }
    }
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    if (!have) {
        uint8_t kb[8];
        be64_put(kb, id);
        MDB_val k = {8, kb}, v;
        rc = mdb_get(txn, st->db[DB_INCIDENTS], &k, &v);
        if (rc) {
            mdb_txn_abort(txn);
            return rc == MDB_NOTFOUND ? STORE_ENOTFOUND : mdb_fail(st, rc, "mdb_get(incidents)");
        }
        if ((rc = incident_from_value(&v, out))) {
            mdb_txn_abort(txn);
            return fail(st, rc, "incident %llu does not decode", (unsigned long long)id);
        }
    }
    struct vigil_alert a;
    for (unsigned i = 0; fn && i < out->n_chain; i++) {
        int arc = STORE_ENOTFOUND;
        if (st->mode == STORE_WRITER && staged_alert_find(st, out->chain[i])) {
            struct staged_alert *sa = staged_alert_find(st, out->chain[i]);
            arc = record_alert_decode(st->b.arena + sa->off, sa->len, &a) ? STORE_ECORRUPT : 0;
        } else {
            arc = get_alert_txn(st, txn, out->chain[i], &a);
        }
        if (arc) {
            if (missing)
                (*missing)++;
            continue;
        }
        if (fn(&a, ctx))
            break;
    }
    mdb_txn_abort(txn);
    return 0;
}

int store_get_entity(struct store *st, const struct vigil_ip *ip, struct vigil_entity *out)
{
    uint8_t key[RECORD_IP_MAX];
    record_ip_key(ip, key);
    if (st->mode == STORE_WRITER) {
        long at = objmap_find(&st->b.ent_map, st->b.ents, key, RECORD_IP_MAX);
        if (at >= 0)
            return record_entity_decode(st->b.arena + st->b.ents[at].off, st->b.ents[at].len, out) ? STORE_ECORRUPT
                                                                                                    : 0;
    }
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    MDB_val k = {RECORD_IP_MAX, key}, v;
    rc = mdb_get(txn, st->db[DB_ENTITIES], &k, &v);
    int err = rc == MDB_NOTFOUND ? STORE_ENOTFOUND
              : rc                ? mdb_fail(st, rc, "mdb_get(entities)")
              : record_entity_decode(v.mv_data, v.mv_size, out) ? STORE_ECORRUPT
                                                                 : 0;
    mdb_txn_abort(txn);
    return err;
}

static int kv_get(struct store *st, int db, const void *key, size_t klen, void *buf, size_t cap, size_t *len)
{
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    MDB_val k = {klen, (void *)key}, v;
    rc = mdb_get(txn, st->db[db], &k, &v);
    int err = 0;
    if (rc == MDB_NOTFOUND) {
        err = STORE_ENOTFOUND;
    } else if (rc) {
        err = mdb_fail(st, rc, "mdb_get");
    } else {
        if (len)
            *len = v.mv_size;
        if (v.mv_size > cap)
            err = STORE_ERANGE;
        else if (v.mv_size)
            memcpy(buf, v.mv_data, v.mv_size);
    }
    mdb_txn_abort(txn);
    return err;
}

int store_corr_get(struct store *st, const void *key, size_t klen, void *buf, size_t cap, size_t *len)
{
    if (!klen || klen > KEY_MAX)
        return fail(st, STORE_EINVAL, "corr key must be 1..%d bytes", KEY_MAX);
    return kv_get(st, DB_CORR, key, klen, buf, cap, len);
}

int store_meta_get(struct store *st, const char *key, void *buf, size_t cap, size_t *len)
{
    if (!key || !*key || strlen(key) > META_KEY_MAX)
        return fail(st, STORE_EINVAL, "bad meta key");
    return kv_get(st, DB_META, key, strlen(key), buf, cap, len);
}

int store_corr_iterate(struct store *st, const void *prefix, size_t plen, store_kv_fn fn, void *ctx)
{
    if (plen > KEY_MAX || !fn)
        return fail(st, STORE_EINVAL, "corr iterate: bad argument");
    MDB_txn *txn;
    MDB_cursor *c;
    int rc = rcursor_open(st, DB_CORR, &txn, &c);
    if (rc)
        return rc;
    MDB_val k = {plen, (void *)prefix}, v;
    int calls = 0;
    for (rc = mdb_cursor_get(c, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (plen && (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0))
            break;
        calls++;
        if (fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size, ctx))
            break;
    }
    int err = rc && rc != MDB_NOTFOUND ? mdb_fail(st, rc, "corr iterate") : 0;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return err ? err : calls;
}

/* ---- stats ---------------------------------------------------------------- */

int store_stats(struct store *st, struct store_stats *out)
{
    memset(out, 0, sizeof *out);
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    uint64_t *counts[DB__COUNT] = {&out->alerts,     &out->incidents,     &out->entities, &out->corr_keys,
                                   &out->index_keys, &out->chain_entries, &out->meta_keys};
    for (int i = 0; i < DB__COUNT && !rc; i++) {
        MDB_stat s;
        rc = mdb_stat(txn, st->db[i], &s);
        *counts[i] = s.ms_entries;
    }
    if (out->chain_entries >= 2)
        out->chain_entries -= 2;   /* "B" and "H" */
    if (!rc)
        rc = space_used(st, txn, &out->used_pages, &out->page_size);
    uint64_t v64 = 0;
    if (!rc) {
        if (meta_get_u64(st, txn, "sys.last_commit", &v64) == 0)
            out->last_commit_ns = (int64_t)v64;
        meta_get_u64(st, txn, "sys.next_alert", &out->next_alert_id);
        meta_get_u64(st, txn, "sys.next_incident", &out->next_incident_id);
        if (meta_get_u64(st, txn, "sys.schema", &v64) == 0)
            out->schema_version = (uint32_t)v64;
        meta_get_u64(st, txn, "sys.ruleset_hash", &out->ruleset_hash);
        struct hc_point base;
        if (chain_get_point(st, txn, "H", &out->head) == 0 && chain_get_point(st, txn, "B", &base) == 0)
            out->base_seq = base.seq;
        memcpy(out->store_id, st->store_id, 16);
    }
    mdb_txn_abort(txn);
    if (rc)
        return mdb_fail(st, rc, "stats");
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    out->map_size = info.me_mapsize;
    out->file_pages = info.me_last_pgno + 1;
    out->readers = info.me_numreaders;
    out->used_fraction = out->page_size ? (double)out->used_pages / (double)(out->map_size / out->page_size) : 0;
    return 0;
}

/* ---- verify --------------------------------------------------------------- */

const char *store_verify_problem_name(unsigned problem)
{
    static const char *const n[] = {"?",          "edited",    "deleted", "reordered", "gap",
                                    "unchained",  "head",      "base",    "corrupt",   "anchor"};
    return problem < sizeof n / sizeof n[0] ? n[problem] : "?";
}

/* Whether the record was already reported (a gap names the entry, not the
 * record: a record whose entry alone was deleted is reported as both). */
static bool issue_seen(const struct store_verify_result *r, uint8_t what, uint64_t id)
{
    for (unsigned i = 0; i < r->n_issues; i++)
        if (r->issues[i].problem != VERIFY_GAP && r->issues[i].what == what && r->issues[i].id == id)
            return true;
    return false;
}

static void issue(struct store_verify_result *r, uint8_t problem, uint8_t what, uint64_t id, uint64_t seq,
                  uint64_t other)
{
    r->ok = false;
    r->issues_total++;
    if (r->n_issues < STORE_VERIFY_MAX_ISSUES)
        r->issues[r->n_issues++] = (struct verify_issue){problem, what, id, seq, other};
}

/* Checks chain entry seq (an alert or incident) against its stored record.
 * *prev is hash(seq - 1) on entry (resync: unknown) and is left at the
 * entry's stored hash, so one break is reported once. */
static void verify_record(struct store *st, MDB_txn *txn, struct store_verify_result *r, const struct hc_entry *e,
                          uint64_t seq, bool resync, const uint8_t prev[HC_HASH_BYTES])
{
    bool is_alert = e->type == HC_ENTRY_ALERT;
    uint8_t kb[8];
    be64_put(kb, e->id);
    MDB_val k = {8, kb}, v;
    if (mdb_get(txn, st->db[is_alert ? DB_ALERTS : DB_INCIDENTS], &k, &v)) {
        if (!issue_seen(r, e->type, e->id))
            issue(r, VERIFY_DELETED, e->type, e->id, seq, 0);
        return;
    }
    size_t rl;
    uint64_t rseq;
    const uint8_t *rhash;
    if (hc_trailer_split(v.mv_data, v.mv_size, &rl, &rseq, &rhash)) {
        issue(r, VERIFY_CORRUPT, e->type, e->id, seq, 0);
        return;
    }
    uint8_t ptype = 0;
    uint64_t pid = 0;
    record_peek(v.mv_data, rl, &ptype, NULL, &pid);
    if (!is_alert && rseq > seq) {
        r->superseded++;   /* an older version: its bytes are gone, its hash links the chain */
        return;
    }
    if (rseq != seq) {
        /* alerts: the value under this id was chained at another seq (moved or
         * swapped); incidents: the stored version is older than the chain's newest */
        issue(r, VERIFY_REORDERED, e->type, e->id, seq, pid != e->id ? pid : 0);
        return;
    }
    if (pid != e->id || ptype != (is_alert ? RECORD_ALERT : RECORD_INCIDENT)) {
        issue(r, VERIFY_REORDERED, e->type, e->id, seq, pid);
        return;
    }
    uint8_t h[HC_HASH_BYTES];
    hc_link(prev, v.mv_data, rl, seq, h);
    if ((!resync && memcmp(h, e->hash, HC_HASH_BYTES) != 0) || memcmp(rhash, e->hash, HC_HASH_BYTES) != 0)
        issue(r, VERIFY_EDITED, e->type, e->id, seq, 0);
}

/* Every stored alert / incident must be named by the chain entry its trailer points at. */
static int verify_unchained(struct store *st, MDB_txn *txn, struct store_verify_result *r, int db, uint8_t type)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, st->db[db], &c);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        uint64_t id = k.mv_size == 8 ? be64_get(k.mv_data) : 0;
        size_t rl;
        uint64_t rseq;
        const uint8_t *rhash;
        if (k.mv_size != 8 || hc_trailer_split(v.mv_data, v.mv_size, &rl, &rseq, &rhash)) {
            if (!issue_seen(r, type, id))
                issue(r, VERIFY_CORRUPT, type, id, 0, 0);
            continue;
        }
        uint8_t eb[9] = {CHAIN_ENTRY};
        be64_put(eb + 1, rseq);
        MDB_val ek = {9, eb}, ev;
        struct hc_entry e;
        bool ok = rseq >= r->base_seq && mdb_get(txn, st->db[DB_CHAIN], &ek, &ev) == 0 &&
                  hc_entry_decode(ev.mv_data, ev.mv_size, &e) == 0 && e.type == type && e.id == id;
        if (!ok && !issue_seen(r, type, id))
            issue(r, VERIFY_UNCHAINED, type, id, rseq, 0);
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int store_verify(struct store *st, const struct hc_point *anchor, struct store_verify_result *r)
{
    memset(r, 0, sizeof *r);
    r->ok = true;
    MDB_txn *txn;
    int rc = rtxn_begin(st, &txn);
    if (rc)
        return rc;
    struct hc_point head, base;
    if (chain_get_point(st, txn, "H", &head) || chain_get_point(st, txn, "B", &base)) {
        mdb_txn_abort(txn);
        issue(r, VERIFY_CORRUPT, 0, 0, 0, 0);
        return 0;
    }
    r->head = head;
    r->base_seq = base.seq;
    uint8_t prev[HC_HASH_BYTES];
    memcpy(prev, base.hash, HC_HASH_BYTES);
    uint64_t expect = base.seq;
    bool resync = false, have_marker = false;
    struct hc_prune marker;
    uint8_t anchor_hash[HC_HASH_BYTES];
    bool anchor_seen = false;
    uint64_t last_alert_id = 0;

    MDB_cursor *c;
    if ((rc = mdb_cursor_open(txn, st->db[DB_CHAIN], &c))) {
        mdb_txn_abort(txn);
        return mdb_fail(st, rc, "mdb_cursor_open");
    }
    uint8_t kb[9] = {CHAIN_ENTRY};
    MDB_val k = {9, kb}, v;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const uint8_t *kp = k.mv_data;
        if (k.mv_size != 9 || kp[0] != CHAIN_ENTRY) {
            issue(r, VERIFY_CORRUPT, 0, 0, 0, 0);
            continue;
        }
        uint64_t seq = be64_get(kp + 1);
        struct hc_entry e;
        if (seq < base.seq) {
            issue(r, VERIFY_BASE, 0, 0, seq, 0);   /* entries the base says were pruned */
            continue;
        }
        bool decoded = hc_entry_decode(v.mv_data, v.mv_size, &e) == 0;
        if (seq > expect) {
            /* alert ids are consecutive in the chain: when alerts border the
             * gap, name the first missing one */
            bool alerts_around = decoded && e.type == HC_ENTRY_ALERT && last_alert_id && e.id > last_alert_id + 1;
            issue(r, VERIFY_GAP, alerts_around ? HC_ENTRY_ALERT : 0, alerts_around ? last_alert_id + 1 : 0, expect,
                  seq - expect);
            resync = true;
        }
        r->entries++;
        if (!decoded) {
            issue(r, VERIFY_CORRUPT, 0, 0, seq, 0);
            resync = true;
            expect = seq + 1;
            continue;
        }
        if (e.type == HC_ENTRY_PRUNE) {
            r->prunes++;
            uint8_t h[HC_HASH_BYTES];
            hc_link(prev, e.payload, e.payload_len, seq, h);
            if (!resync && memcmp(h, e.hash, HC_HASH_BYTES) != 0)
                issue(r, VERIFY_EDITED, HC_ENTRY_PRUNE, 0, seq, 0);
            if (hc_prune_decode(e.payload, e.payload_len, &marker) == 0)
                have_marker = true;
            else
                issue(r, VERIFY_CORRUPT, HC_ENTRY_PRUNE, 0, seq, 0);
        } else {
            if (e.type == HC_ENTRY_ALERT) {
                r->alerts++;
                last_alert_id = e.id;
            } else {
                r->incidents++;
            }
            verify_record(st, txn, r, &e, seq, resync, prev);
        }
        memcpy(prev, e.hash, HC_HASH_BYTES);
        if (anchor && anchor->seq == seq) {
            memcpy(anchor_hash, e.hash, HC_HASH_BYTES);
            anchor_seen = true;
        }
        resync = false;
        expect = seq + 1;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return mdb_fail(st, rc, "verify: chain walk");
    }
    uint64_t last = expect - 1;
    if (head.seq != last || (head.seq >= base.seq && memcmp(head.hash, prev, HC_HASH_BYTES) != 0))
        issue(r, VERIFY_HEAD, 0, 0, head.seq, last);
    /* The base must be where the last prune said it moved it (or at genesis). */
    if (base.seq == 1) {
        if (memcmp(base.hash, st->genesis, HC_HASH_BYTES) != 0)
            issue(r, VERIFY_BASE, 0, 0, base.seq, 0);
    } else if (!have_marker || marker.new_base != base.seq ||
               memcmp(marker.prev_hash, base.hash, HC_HASH_BYTES) != 0) {
        issue(r, VERIFY_BASE, 0, 0, base.seq, 0);
    }
    if (anchor) {
        if (anchor->seq > last) {
            issue(r, VERIFY_ANCHOR, 0, 0, anchor->seq, 0);   /* the chain is shorter than it was */
        } else if (anchor->seq >= base.seq) {
            r->anchor_checked = true;
            if (!anchor_seen || memcmp(anchor_hash, anchor->hash, HC_HASH_BYTES) != 0)
                issue(r, VERIFY_ANCHOR, 0, 0, anchor->seq, 0);
        }
    }
    rc = verify_unchained(st, txn, r, DB_ALERTS, HC_ENTRY_ALERT);
    if (!rc)
        rc = verify_unchained(st, txn, r, DB_INCIDENTS, HC_ENTRY_INCIDENT);
    mdb_txn_abort(txn);
    return rc ? mdb_fail(st, rc, "verify: records walk") : 0;
}
