/* store_verify against tampering done behind the store's back: the LMDB
 * environment is opened directly with the lmdb API and values are edited,
 * deleted, swapped or rolled back; verify must notice and name the record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <lmdb.h>

#include "storage/hashchain.h"
#include "storage/store.h"
#include "test_support.h"

#define SEC 1000000000LL
#define T0  (1800000000LL * SEC)

static struct vigil_ip ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct vigil_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = 4;
    ip.addr[0] = a, ip.addr[1] = b, ip.addr[2] = c, ip.addr[3] = d;
    return ip;
}

static void mk_alert(struct vigil_alert *a, unsigned i)
{
    memset(a, 0, sizeof *a);
    a->kind = ALERT_DETECTION;
    a->level = (uint8_t)(i % 5);
    a->rule_uuid[0] = (uint8_t)(i % 3);
    a->event_ns = a->received_ns = a->first_seen_ns = a->last_seen_ns = T0 + (int64_t)i * SEC;
    a->count = 1;
    a->entity = a->source_ip = ip4(10, 0, 0, (uint8_t)(i % 8));
    char t[64];
    int n = snprintf(t, sizeof t, "alert number %u", i);
    a->title_len = record_copy_str(a->title, sizeof a->title, t, (size_t)n);
    a->excerpt_len = record_copy_str(a->excerpt, sizeof a->excerpt, "Failed password for root", 24);
}

/* A store with alerts 1..n_alerts and (when with_incident) incident 1 in
 * two versions, the second after the alerts. */
static const char *make_store(unsigned n_alerts, bool with_incident)
{
    const char *dir = test_tmpdir("verify");
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, NULL, err, sizeof err), 0, "%s", err);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.entity = ip4(10, 0, 0, 1);
    inc.severity = 1;
    if (with_incident) {
        cr_assert_eq(store_stage_incident(st, &inc), 0);
        cr_assert_eq(store_flush(st), 0);
    }
    for (unsigned i = 0; i < n_alerts; i++) {
        struct vigil_alert a;
        mk_alert(&a, i);
        cr_assert_eq(store_stage_alert(st, &a), 0);
    }
    cr_assert_eq(store_flush(st), 0);
    if (with_incident) {
        inc.severity = 4;
        inc.status = INCIDENT_ACKNOWLEDGED;
        inc.n_chain = 2;
        inc.chain[0] = 1;
        inc.chain[1] = 2;
        cr_assert_eq(store_stage_incident(st, &inc), 0);
        cr_assert_eq(store_flush(st), 0);
    }
    cr_assert_eq(store_close(st), 0);
    return dir;
}

static struct store_verify_result verify_dir(const char *dir, const struct hc_point *anchor)
{
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_READONLY, NULL, err, sizeof err), 0, "%s", err);
    struct store_verify_result r;
    cr_assert_eq(store_verify(st, anchor, &r), 0, "verify ran: %s", store_last_error(st));
    for (unsigned i = 0; i < r.n_issues; i++)
        cr_log_info("issue: %s what=%u id=%llu seq=%llu other=%llu", store_verify_problem_name(r.issues[i].problem),
                    r.issues[i].what, (unsigned long long)r.issues[i].id, (unsigned long long)r.issues[i].seq,
                    (unsigned long long)r.issues[i].other_id);
    store_close(st);
    return r;
}

static bool has_issue(const struct store_verify_result *r, unsigned problem, unsigned what, uint64_t id)
{
    for (unsigned i = 0; i < r->n_issues; i++)
        if (r->issues[i].problem == problem && r->issues[i].what == what && r->issues[i].id == id)
            return true;
    return false;
}

/* ---- raw LMDB access: the tamperer's tools ---- */

struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
};

static struct raw raw_open(const char *dir, const char *db)
{
    struct raw r;
    cr_assert_eq(mdb_env_create(&r.env), 0);
    mdb_env_set_maxdbs(r.env, 16);
    cr_assert_eq(mdb_env_open(r.env, dir, 0, 0640), 0);
    cr_assert_eq(mdb_txn_begin(r.env, NULL, 0, &r.txn), 0);
    cr_assert_eq(mdb_dbi_open(r.txn, db, 0, &r.dbi), 0, "open db %s", db);
    return r;
}

static void raw_close(struct raw *r)
{
    cr_assert_eq(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

static void id_key(uint8_t k[8], uint64_t id)
{
    for (int i = 7; i >= 0; i--, id >>= 8)
        k[i] = (uint8_t)id;
}

static void seq_key(uint8_t k[9], uint64_t seq)
{
    k[0] = 'e';
    id_key(k + 1, seq);
}

/* Copy of the value under key (malloc'd). */
static uint8_t *raw_get(struct raw *r, const void *key, size_t klen, size_t *len)
{
    MDB_val k = {klen, (void *)key}, v;
    cr_assert_eq(mdb_get(r->txn, r->dbi, &k, &v), 0, "raw get");
    uint8_t *p = malloc(v.mv_size);
    memcpy(p, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return p;
}

static void raw_put(struct raw *r, const void *key, size_t klen, const void *val, size_t len)
{
    MDB_val k = {klen, (void *)key}, v = {len, (void *)val};
    cr_assert_eq(mdb_put(r->txn, r->dbi, &k, &v, 0), 0, "raw put");
}

static void raw_del(struct raw *r, const void *key, size_t klen)
{
    MDB_val k = {klen, (void *)key};
    cr_assert_eq(mdb_del(r->txn, r->dbi, &k, NULL), 0, "raw del");
}

/* ---- tests ---- */

Test(store_verify, honest_store_passes)
{
    const char *dir = make_store(50, true);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(r.ok);
    cr_assert_eq(r.alerts, 50);
    cr_assert_eq(r.incidents, 2);
    cr_assert_eq(r.superseded, 1);
    cr_assert_eq(r.entries, 52);
    cr_assert_eq(r.head.seq, 52);
    cr_assert_eq(r.n_issues, 0);
}

Test(store_verify, edited_alert_is_named)
{
    const char *dir = make_store(20, true);
    struct raw w = raw_open(dir, "alerts");
    uint8_t k[8];
    size_t len;
    id_key(k, 7);
    uint8_t *v = raw_get(&w, k, 8, &len);
    v[len - 40 - 3] ^= 0x20;   /* a letter of the excerpt, before the trailer */
    raw_put(&w, k, 8, v, len);
    free(v);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_EDITED, HC_ENTRY_ALERT, 7));
    cr_assert_eq(r.issues_total, 1, "one edit, one issue");
}

Test(store_verify, edited_level_with_rehashed_record_is_named)
{
    /* the tamperer also fixes the record's own trailer hash: the chain entry still disagrees */
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "alerts");
    uint8_t k[8];
    size_t len;
    id_key(k, 3);
    uint8_t *v = raw_get(&w, k, 8, &len);
    v[2 + 8 + 1] = ALERT_INFORMATIONAL;   /* level byte: downgrade */
    uint8_t prev[32] = {0}, h[32];
    hc_link(prev, v, len - 40, 3, h);
    memcpy(v + len - 32, h, 32);
    raw_put(&w, k, 8, v, len);
    free(v);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_EDITED, HC_ENTRY_ALERT, 3));
}

Test(store_verify, deleted_alert_is_named)
{
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "alerts");
    uint8_t k[8];
    id_key(k, 11);
    raw_del(&w, k, 8);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_DELETED, HC_ENTRY_ALERT, 11));
    cr_assert_eq(r.issues[0].seq, 11);
    cr_assert_eq(r.issues_total, 1);
}

Test(store_verify, swapped_alerts_are_named)
{
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "alerts");
    uint8_t k4[8], k5[8];
    size_t l4, l5;
    id_key(k4, 4);
    id_key(k5, 5);
    uint8_t *v4 = raw_get(&w, k4, 8, &l4), *v5 = raw_get(&w, k5, 8, &l5);
    raw_put(&w, k4, 8, v5, l5);
    raw_put(&w, k5, 8, v4, l4);
    free(v4);
    free(v5);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_REORDERED, HC_ENTRY_ALERT, 4));
    cr_assert(has_issue(&r, VERIFY_REORDERED, HC_ENTRY_ALERT, 5));
    for (unsigned i = 0; i < r.n_issues; i++)
        if (r.issues[i].id == 4)
            cr_assert_eq(r.issues[i].other_id, 5, "alert 4 holds alert 5's record");
    cr_assert_eq(r.issues_total, 2);
}

Test(store_verify, edited_incident_is_named)
{
    const char *dir = make_store(10, true);
    struct raw w = raw_open(dir, "incidents");
    uint8_t k[8];
    size_t len;
    id_key(k, 1);
    uint8_t *v = raw_get(&w, k, 8, &len);
    /* status byte: after type, version, id and a 5-byte IPv4 entity; "close" it */
    cr_assert_eq(v[2 + 8 + 5], INCIDENT_ACKNOWLEDGED);
    v[2 + 8 + 5] = INCIDENT_CLOSED;
    raw_put(&w, k, 8, v, len);
    free(v);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_EDITED, HC_ENTRY_INCIDENT, 1));
    cr_assert_eq(r.issues_total, 1);
}

Test(store_verify, rolled_back_incident_is_named)
{
    const char *dir = test_tmpdir("verify");
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, NULL, err, sizeof err), 0, "%s", err);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.severity = 1;
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    cr_assert_eq(store_flush(st), 0);
    store_close(st);
    struct raw w = raw_open(dir, "incidents");
    uint8_t k[8];
    size_t l1;
    id_key(k, 1);
    uint8_t *v1 = raw_get(&w, k, 8, &l1);   /* the tamperer kept version 1 */
    raw_close(&w);
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, NULL, err, sizeof err), 0, "%s", err);
    inc.status = INCIDENT_CLOSED;
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    cr_assert_eq(store_flush(st), 0);
    store_close(st);
    w = raw_open(dir, "incidents");
    raw_put(&w, k, 8, v1, l1);   /* ... and puts it back */
    raw_close(&w);
    free(v1);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_REORDERED, HC_ENTRY_INCIDENT, 1));
}

Test(store_verify, deleted_chain_entry_and_record_are_a_gap)
{
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "chain");
    uint8_t k[9];
    seq_key(k, 6);
    raw_del(&w, k, 9);
    raw_close(&w);
    w = raw_open(dir, "alerts");
    uint8_t ak[8];
    id_key(ak, 6);
    raw_del(&w, ak, 8);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert_eq(r.issues[0].problem, VERIFY_GAP);
    cr_assert_eq(r.issues[0].seq, 6);
    cr_assert_eq(r.issues[0].other_id, 1, "one entry missing");
    cr_assert_eq(r.issues[0].what, HC_ENTRY_ALERT);
    cr_assert_eq(r.issues[0].id, 6, "the missing alert is named");
}

Test(store_verify, chain_entry_deleted_leaves_record_unchained)
{
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "chain");
    uint8_t k[9];
    seq_key(k, 9);
    raw_del(&w, k, 9);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_UNCHAINED, HC_ENTRY_ALERT, 9));
}

Test(store_verify, truncated_tail_is_caught_by_the_head)
{
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "chain");
    uint8_t k[9];
    seq_key(k, 20);
    raw_del(&w, k, 9);
    raw_close(&w);
    w = raw_open(dir, "alerts");
    uint8_t ak[8];
    id_key(ak, 20);
    raw_del(&w, ak, 8);
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert_eq(r.issues[0].problem, VERIFY_HEAD);
    cr_assert_eq(r.issues[0].seq, 20, "head says 20");
    cr_assert_eq(r.issues[0].other_id, 19, "chain ends at 19");
}

Test(store_verify, base_moved_without_prune_marker)
{
    /* a pruner with write access drops the oldest alerts and moves the base
     * correctly, but no chained prune marker says so */
    const char *dir = make_store(20, false);
    struct raw w = raw_open(dir, "chain");
    uint8_t k[9];
    size_t len;
    seq_key(k, 5);
    uint8_t *e5 = raw_get(&w, k, 9, &len);
    struct hc_entry e;
    cr_assert_eq(hc_entry_decode(e5, len, &e), 0);
    struct hc_point base = {6, {0}};
    memcpy(base.hash, e.hash, 32);
    uint8_t pb[HC_POINT_BYTES];
    hc_point_write(pb, &base);
    raw_put(&w, "B", 1, pb, sizeof pb);
    for (uint64_t s = 1; s <= 5; s++) {
        seq_key(k, s);
        raw_del(&w, k, 9);
    }
    free(e5);
    raw_close(&w);
    w = raw_open(dir, "alerts");
    for (uint64_t id = 1; id <= 5; id++) {
        uint8_t ak[8];
        id_key(ak, id);
        raw_del(&w, ak, 8);
    }
    raw_close(&w);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert_eq(r.issues[0].problem, VERIFY_BASE);
    cr_assert_eq(r.issues_total, 1);
}

/* A tamperer who recomputes the chain from the edit on passes verify alone;
 * an anchor kept from before catches it.  (The documented limit.) */
Test(store_verify, rewritten_chain_is_caught_by_an_anchor)
{
    const char *dir = make_store(20, false);
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_READONLY, NULL, err, sizeof err), 0, "%s", err);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    struct hc_point anchor = s.head;
    store_close(st);

    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi alerts, chain;
    cr_assert_eq(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 16);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0640), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "alerts", 0, &alerts), 0);
    cr_assert_eq(mdb_dbi_open(txn, "chain", 0, &chain), 0);
    uint8_t prev[32];
    for (uint64_t seq = 5; seq <= 20; seq++) {
        uint8_t ek[9], ak[8];
        seq_key(ek, seq);
        id_key(ak, seq);
        MDB_val k = {9, ek}, v;
        cr_assert_eq(mdb_get(txn, chain, &k, &v), 0);
        uint8_t ent[HC_ENTRY_BYTES];
        memcpy(ent, v.mv_data, HC_ENTRY_BYTES);
        if (seq == 5) {
            seq_key(ek, 4);
            MDB_val pk = {9, ek}, pv;
            cr_assert_eq(mdb_get(txn, chain, &pk, &pv), 0);
            memcpy(prev, (uint8_t *)pv.mv_data + 10, 32);
            seq_key(ek, 5);
        }
        MDB_val kk = {8, ak}, av;
        cr_assert_eq(mdb_get(txn, alerts, &kk, &av), 0);
        size_t len = av.mv_size;
        uint8_t *rec = malloc(len);
        memcpy(rec, av.mv_data, len);
        if (seq == 5)
            rec[2 + 8 + 1] = 0;   /* the edit: level to informational */
        hc_link(prev, rec, len - 40, seq, prev);
        memcpy(rec + len - 32, prev, 32);
        MDB_val nv = {len, rec};
        cr_assert_eq(mdb_put(txn, alerts, &kk, &nv, 0), 0);
        memcpy(ent + 10, prev, 32);
        MDB_val ev = {sizeof ent, ent};
        cr_assert_eq(mdb_put(txn, chain, &k, &ev, 0), 0);
        free(rec);
    }
    struct hc_point head = {20, {0}};
    memcpy(head.hash, prev, 32);
    uint8_t hb[HC_POINT_BYTES];
    hc_point_write(hb, &head);
    MDB_val hk = {1, "H"}, hv = {sizeof hb, hb};
    cr_assert_eq(mdb_put(txn, chain, &hk, &hv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);

    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(r.ok, "a full rewrite is invisible without an anchor");
    r = verify_dir(dir, &anchor);
    cr_assert(!r.ok);
    cr_assert(r.anchor_checked);
    cr_assert_eq(r.issues[0].problem, VERIFY_ANCHOR);
    cr_assert_eq(r.issues[0].seq, 20);
}

Test(store_verify, pruned_store_still_verifies_and_names_edits)
{
    const char *dir = test_tmpdir("verify");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.retention_age_s = 60;
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, &cfg, err, sizeof err), 0, "%s", err);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    for (unsigned i = 0; i < 200; i++) {
        struct vigil_alert a;
        mk_alert(&a, i);
        cr_assert_eq(store_stage_alert(st, &a), 0);
    }
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_retention_run(st, T0 + 160 * SEC, 0), 100);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_gt(s.base_seq, 100);
    store_close(st);
    struct store_verify_result r = verify_dir(dir, NULL);
    cr_assert(r.ok);
    cr_assert_eq(r.prunes, 1);
    cr_assert_eq(r.alerts, 100);

    struct raw w = raw_open(dir, "alerts");
    uint8_t k[8];
    size_t len;
    id_key(k, 150);
    uint8_t *v = raw_get(&w, k, 8, &len);
    v[20] ^= 1;
    raw_put(&w, k, 8, v, len);
    free(v);
    raw_close(&w);
    r = verify_dir(dir, NULL);
    cr_assert(!r.ok);
    cr_assert(has_issue(&r, VERIFY_EDITED, HC_ENTRY_ALERT, 150));
}
