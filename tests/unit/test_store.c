/* The LMDB store: staging and group commit, reopen, queries, corr/meta,
 * retention by size (a tiny map written ten times over) and by age. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "storage/store.h"
#include "test_support.h"

#define SEC 1000000000LL
#define T0  (1800000000LL * SEC)   /* a fixed "now" for the tests */

static struct vigil_ip ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct vigil_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = 4;
    ip.addr[0] = a, ip.addr[1] = b, ip.addr[2] = c, ip.addr[3] = d;
    return ip;
}

static void rule_uuid(uint8_t out[16], unsigned r)
{
    memset(out, 0, 16);
    out[0] = 0xaa;
    out[15] = (uint8_t)r;
}

/* Alert i: entity 10.0.0.(i % 8), rule i % 3, level i % 5, event time T0 + i s. */
static void mk_alert(struct vigil_alert *a, unsigned i)
{
    memset(a, 0, sizeof *a);
    a->kind = ALERT_DETECTION;
    a->level = (uint8_t)(i % 5);
    rule_uuid(a->rule_uuid, i % 3);
    a->event_ns = a->received_ns = a->first_seen_ns = a->last_seen_ns = T0 + (int64_t)i * SEC;
    a->count = 1;
    a->entity = a->source_ip = ip4(10, 0, 0, (uint8_t)(i % 8));
    a->destination_ip = ip4(192, 168, 0, 1);
    a->observer_ip = ip4(172, 16, 0, 1);
    a->source_port = (uint16_t)(1024 + i % 1000);
    a->destination_port = 22;
    char t[64];
    int n = snprintf(t, sizeof t, "SSH brute force attempt %u", i);
    a->title_len = record_copy_str(a->title, sizeof a->title, t, (size_t)n);
    a->user_len = record_copy_str(a->user, sizeof a->user, "root", 4);
    n = snprintf(t, sizeof t, "Failed password for root from 10.0.0.%u port %u ssh2", i % 8, 1024 + i % 1000);
    a->excerpt_len = record_copy_str(a->excerpt, sizeof a->excerpt, t, (size_t)n);
    a->tactics = 1u << TACTIC_CREDENTIAL_ACCESS;
    a->n_techniques = 1;
    a->techniques[0] = 1110001;
}

static struct store *open_w(const char *dir, const struct store_config *cfg)
{
    struct store *st;
    char err[256];
    int rc = store_open(&st, dir, STORE_WRITER, cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "store_open(%s): %s", dir, err);
    return st;
}

static struct store *open_r(const char *dir)
{
    struct store *st;
    char err[256];
    int rc = store_open(&st, dir, STORE_READONLY, NULL, err, sizeof err);
    cr_assert_eq(rc, 0, "store_open(ro %s): %s", dir, err);
    return st;
}

static void stage_n(struct store *st, unsigned from, unsigned n)
{
    for (unsigned i = from; i < from + n; i++) {
        struct vigil_alert a;
        mk_alert(&a, i);
        int rc = store_stage_alert(st, &a);
        cr_assert_eq(rc, 0, "stage alert %u: %s", i, store_last_error(st));
    }
}

static void assert_verified(struct store *st)
{
    struct store_verify_result r;
    cr_assert_eq(store_verify(st, NULL, &r), 0, "verify ran: %s", store_last_error(st));
    if (!r.ok)
        for (unsigned i = 0; i < r.n_issues; i++)
            cr_log_error("issue: %s what=%u id=%llu seq=%llu other=%llu",
                         store_verify_problem_name(r.issues[i].problem), r.issues[i].what,
                         (unsigned long long)r.issues[i].id, (unsigned long long)r.issues[i].seq,
                         (unsigned long long)r.issues[i].other_id);
    cr_assert(r.ok, "verify: %llu issues", (unsigned long long)r.issues_total);
}

struct collect {
    uint64_t ids[256];
    unsigned n;
};

static int collect_alert(const struct vigil_alert *a, void *ctx)
{
    struct collect *c = ctx;
    if (c->n < 256)
        c->ids[c->n++] = a->id;
    return 0;
}

static int collect_incident(const struct vigil_incident *inc, void *ctx)
{
    struct collect *c = ctx;
    if (c->n < 256)
        c->ids[c->n++] = inc->id;
    return 0;
}

Test(store, stage_get_round_trip)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    struct vigil_alert a, b;
    mk_alert(&a, 7);
    cr_assert_eq(store_stage_alert(st, &a), 0);
    cr_assert_eq(a.id, 1, "the first alert id is 1");
    cr_assert_eq(store_get_alert(st, 1, &b), 0, "a writer sees its staged alert");
    cr_assert_eq(b.excerpt_len, a.excerpt_len);
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_staged(st), 0);
    memset(&b, 0, sizeof b);
    cr_assert_eq(store_get_alert(st, 1, &b), 0);
    cr_assert_eq(memcmp(b.title, a.title, a.title_len), 0);
    cr_assert_eq(b.event_ns, a.event_ns);
    cr_assert_eq(store_get_alert(st, 2, &b), STORE_ENOTFOUND);

    struct vigil_incident inc, io;
    memset(&inc, 0, sizeof inc);
    inc.entity = a.entity;
    inc.severity = 3;
    inc.n_chain = 1;
    inc.chain[0] = a.id;
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    cr_assert_eq(inc.id, 1);
    struct vigil_entity e, eo;
    memset(&e, 0, sizeof e);
    e.ip = a.entity;
    e.alert_count = 1;
    e.open_incident_id = inc.id;
    cr_assert_eq(store_stage_entity(st, &e), 0);
    cr_assert_eq(store_get_entity(st, &e.ip, &eo), 0, "staged entity visible");
    cr_assert_eq(store_get_incident(st, inc.id, &io, NULL, NULL, NULL), 0, "staged incident visible");
    cr_assert_eq(store_close(st), 0, "close flushes");

    st = open_r(dir);
    cr_assert_eq(store_get_entity(st, &e.ip, &eo), 0);
    cr_assert_eq(eo.open_incident_id, 1);
    cr_assert_eq(store_get_incident(st, 1, &io, NULL, NULL, NULL), 0);
    cr_assert_eq(io.chain[0], 1);
    cr_assert_eq(store_stage_alert(st, &a), STORE_EREADONLY);
    cr_assert_eq(store_flush(st), STORE_EREADONLY);
    assert_verified(st);
    store_close(st);
}

Test(store, invalid_input_is_refused)
{
    const char *dir = test_tmpdir("store");
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, tmp_path("absent"), STORE_READONLY, NULL, err, sizeof err), STORE_ENOTFOUND);
    st = open_w(dir, NULL);
    struct vigil_alert a;
    mk_alert(&a, 1);
    a.level = 9;
    cr_assert_eq(store_stage_alert(st, &a), STORE_EINVAL);
    cr_assert_eq(a.id, 0);
    cr_assert_eq(store_staged(st), 0);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.id = 500;
    cr_assert_eq(store_stage_incident(st, &inc), STORE_EINVAL, "ids come from the store");
    cr_assert_eq(store_meta_put(st, "sys.schema", "x", 1), STORE_EINVAL);
    cr_assert_eq(store_corr_put(st, "", 0, "x", 1), STORE_EINVAL);
    cr_assert_neq(strlen(store_last_error(st)), 0);
    mk_alert(&a, 1);
    cr_assert_eq(store_stage_alert(st, &a), 0);
    cr_assert_eq(a.id, 1, "a refused alert used no id");
    /* one writer at a time; readers any time */
    struct store *second;
    cr_assert_eq(store_open(&second, dir, STORE_WRITER, NULL, err, sizeof err), STORE_EBUSY);
    cr_assert_neq(strstr(err, "another writer"), NULL, "%s", err);
    cr_assert_eq(store_close(st), 0);
    cr_assert_eq(store_open(&second, dir, STORE_WRITER, NULL, err, sizeof err), 0, "free again after close: %s", err);
    struct vigil_alert b;
    cr_assert_eq(store_get_alert(second, 1, &b), 0, "close committed the staged alert");
    store_close(second);
}

Test(store, group_commit_by_count)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.batch_max = 10;
    struct store *st = open_w(dir, &cfg);
    stage_n(st, 0, 9);
    cr_assert_eq(store_staged(st), 9);
    cr_assert_eq(store_counters(st)->commits, 0);
    cr_assert_eq(store_committed_alert_id(st), 0);
    stage_n(st, 9, 1);
    cr_assert_eq(store_staged(st), 0, "the tenth item committed the batch");
    cr_assert_eq(store_counters(st)->commits, 1);
    cr_assert_eq(store_counters(st)->last_batch_items, 10);
    cr_assert_eq(store_committed_alert_id(st), 10);
    stage_n(st, 10, 25);
    cr_assert_eq(store_counters(st)->commits, 3);
    cr_assert_eq(store_staged(st), 5);
    cr_assert_eq(store_counters(st)->alerts_written, 30);
    cr_assert_eq(store_counters(st)->batch_items_max, 10);
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_counters(st)->alerts_written, 35);
    store_close(st);
}

Test(store, group_commit_by_time)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.batch_max = 1000;
    cfg.batch_delay_ms = 100;
    struct store *st = open_w(dir, &cfg);
    int64_t t = T0;
    cr_assert_eq(store_commit_due(st, t), 0, "nothing staged");
    stage_n(st, 0, 3);
    cr_assert_eq(store_commit_due(st, t), 1, "after idle, the first batch goes at once");
    stage_n(st, 3, 3);
    cr_assert_eq(store_commit_due(st, t + 50 * 1000000), 0, "within the delay: keep batching");
    cr_assert_eq(store_commit_due(st, t + 99 * 1000000), 0);
    cr_assert_eq(store_staged(st), 3);
    cr_assert_eq(store_commit_due(st, t + 100 * 1000000), 1);
    cr_assert_eq(store_staged(st), 0);
    cr_assert_eq(store_counters(st)->commits, 2);
    cr_assert_eq(store_commit_due(st, t + 500 * 1000000), 0, "empty batch: no commit");
    store_close(st);
}

Test(store, reopen_continues_ids_and_chain)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    stage_n(st, 0, 25);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.entity = ip4(10, 0, 0, 1);
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    uint64_t reserved = store_alloc_incident_id(st);
    cr_assert_eq(reserved, 2);
    cr_assert_eq(store_flush(st), 0);
    struct store_stats s1;
    cr_assert_eq(store_stats(st, &s1), 0);
    cr_assert_eq(s1.head.seq, 26, "25 alerts and one incident version");
    cr_assert_eq(store_close(st), 0);

    st = open_w(dir, NULL);
    struct vigil_alert a;
    mk_alert(&a, 100);
    cr_assert_eq(store_stage_alert(st, &a), 0);
    cr_assert_eq(a.id, 26, "ids continue after a restart");
    memset(&inc, 0, sizeof inc);
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    cr_assert_eq(inc.id, 3, "reserved incident ids are not handed out again");
    cr_assert_eq(store_flush(st), 0);
    struct store_stats s2;
    cr_assert_eq(store_stats(st, &s2), 0);
    cr_assert_eq(s2.head.seq, 28);
    cr_assert_eq(s2.alerts, 26);
    cr_assert_eq(memcmp(s1.store_id, s2.store_id, 16), 0);
    assert_verified(st);
    /* the old head is still an anchor the chain agrees with */
    struct store_verify_result r;
    cr_assert_eq(store_verify(st, &s1.head, &r), 0);
    cr_assert(r.ok);
    cr_assert(r.anchor_checked);
    store_close(st);
}

Test(store, queries)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    stage_n(st, 0, 100);   /* ids 1..100 = alert i 0..99 */
    struct vigil_incident inc[3];
    for (int k = 0; k < 3; k++) {
        memset(&inc[k], 0, sizeof inc[k]);
        inc[k].entity = ip4(10, 0, 0, (uint8_t)k);
        inc[k].status = (uint8_t)k;   /* open, acknowledged, closed */
        inc[k].severity = (uint16_t)(10 * k);
        inc[k].n_chain = 3;
        inc[k].chain[0] = 1 + (uint64_t)k;
        inc[k].chain[1] = 9 + (uint64_t)k;
        inc[k].chain[2] = 1000;       /* never existed: reported missing */
        cr_assert_eq(store_stage_incident(st, &inc[k]), 0);
    }
    cr_assert_eq(store_flush(st), 0);
    store_close(st);
    st = open_r(dir);

    struct collect c = {0};
    struct store_alert_query q = {0};
    q.limit = 5;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 5);
    cr_assert_eq(c.ids[0], 100, "newest first");
    cr_assert_eq(c.ids[4], 96);

    /* by entity 10.0.0.3: alerts i = 3, 11, 19, ... -> ids 4, 12, 20, ... */
    struct vigil_ip e3 = ip4(10, 0, 0, 3);
    memset(&c, 0, sizeof c);
    memset(&q, 0, sizeof q);
    q.entity = &e3;
    q.limit = 100;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 13);
    cr_assert_eq(c.ids[0], 100);
    for (unsigned i = 0; i < c.n; i++)
        cr_assert_eq((c.ids[i] - 1) % 8, 3);
    /* paging */
    memset(&c, 0, sizeof c);
    q.before_id = 92;
    q.limit = 2;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 2);
    cr_assert_eq(c.ids[0], 84);
    cr_assert_eq(c.ids[1], 76);

    /* by rule and min level: rule 1 = i % 3 == 1; level = i % 5 >= 3 */
    uint8_t r1[16];
    rule_uuid(r1, 1);
    memset(&c, 0, sizeof c);
    memset(&q, 0, sizeof q);
    q.rule_uuid = r1;
    q.min_level = ALERT_HIGH;
    q.limit = 100;
    int n = store_list_alerts(st, &q, collect_alert, &c, NULL);
    unsigned expect = 0;
    for (unsigned i = 0; i < 100; i++)
        expect += i % 3 == 1 && i % 5 >= 3;
    cr_assert_eq(n, (int)expect);
    for (unsigned i = 0; i < c.n; i++) {
        unsigned ai = (unsigned)c.ids[i] - 1;
        cr_assert(ai % 3 == 1 && ai % 5 >= 3);
    }

    /* by event time: [T0 + 10 s, T0 + 19 s] = alerts 10..19, newest first */
    memset(&c, 0, sizeof c);
    memset(&q, 0, sizeof q);
    q.since_ns = T0 + 10 * SEC;
    q.until_ns = T0 + 19 * SEC;
    q.limit = 100;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 10);
    cr_assert_eq(c.ids[0], 20);
    cr_assert_eq(c.ids[9], 11);
    /* time + entity: the entity index drives, time filters */
    memset(&c, 0, sizeof c);
    q.entity = &e3;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 2, "alerts 19 and 11");
    cr_assert_eq(c.ids[0], 20);
    cr_assert_eq(c.ids[1], 12);
    /* max_scan cuts a long walk and says so */
    struct store_query_info info;
    memset(&c, 0, sizeof c);
    memset(&q, 0, sizeof q);
    q.min_level = 4;
    q.before_id = 100;   /* ids 99, 98, 97 have levels 3, 2, 1 */
    q.max_scan = 3;
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, &info), 0);
    cr_assert(info.truncated);
    cr_assert_eq(info.scanned, 3);

    /* incidents */
    struct store_incident_query iq = {0};
    memset(&c, 0, sizeof c);
    cr_assert_eq(store_list_incidents(st, &iq, collect_incident, &c, NULL), 3);
    cr_assert_eq(c.ids[0], 3);
    memset(&c, 0, sizeof c);
    iq.status_mask = 1u << INCIDENT_OPEN | 1u << INCIDENT_ACKNOWLEDGED;
    iq.min_severity = 10;
    cr_assert_eq(store_list_incidents(st, &iq, collect_incident, &c, NULL), 1);
    cr_assert_eq(c.ids[0], 2);
    memset(&c, 0, sizeof c);
    memset(&iq, 0, sizeof iq);
    struct vigil_ip e2 = ip4(10, 0, 0, 2);
    iq.entity = &e2;
    cr_assert_eq(store_list_incidents(st, &iq, collect_incident, &c, NULL), 1);
    cr_assert_eq(c.ids[0], 3);

    struct vigil_incident io;
    unsigned missing = 0;
    memset(&c, 0, sizeof c);
    cr_assert_eq(store_get_incident(st, 2, &io, collect_alert, &c, &missing), 0);
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.ids[0], 2);
    cr_assert_eq(c.ids[1], 10);
    cr_assert_eq(missing, 1);
    cr_assert_eq(store_get_incident(st, 99, &io, NULL, NULL, NULL), STORE_ENOTFOUND);

    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_eq(s.alerts, 100);
    cr_assert_eq(s.incidents, 3);
    cr_assert_eq(s.index_keys, 303, "3 keys per alert, 1 per incident");
    cr_assert_eq(s.chain_entries, 103);
    cr_assert_eq(s.head.seq, 103);
    cr_assert_eq(s.base_seq, 1);
    cr_assert_eq(s.schema_version, STORE_SCHEMA_VERSION);
    cr_assert_gt(s.last_commit_ns, 0);
    cr_assert_gt(s.used_pages, 0);
    cr_assert_eq(s.next_alert_id, 101);
    store_close(st);
}

Test(store, incident_versions_update_in_place)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.entity = ip4(10, 9, 9, 9);
    inc.severity = 1;
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    inc.severity = 2;
    cr_assert_eq(store_stage_incident(st, &inc), 0, "a second version in one batch replaces the first");
    cr_assert_eq(store_staged(st), 1);
    cr_assert_eq(store_flush(st), 0);
    inc.severity = 5;
    inc.entity = ip4(10, 8, 8, 8);
    inc.status = INCIDENT_ACKNOWLEDGED;
    cr_assert_eq(store_stage_incident(st, &inc), 0);
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_counters(st)->incidents_written, 2);

    struct vigil_incident io;
    cr_assert_eq(store_get_incident(st, inc.id, &io, NULL, NULL, NULL), 0);
    cr_assert_eq(io.severity, 5);
    struct collect c = {0};
    struct store_incident_query iq = {0};
    struct vigil_ip old = ip4(10, 9, 9, 9);
    iq.entity = &old;
    cr_assert_eq(store_list_incidents(st, &iq, collect_incident, &c, NULL), 0, "old entity index removed");
    iq.entity = &inc.entity;
    cr_assert_eq(store_list_incidents(st, &iq, collect_incident, &c, NULL), 1);
    struct store_verify_result r;
    cr_assert_eq(store_verify(st, NULL, &r), 0);
    cr_assert(r.ok);
    cr_assert_eq(r.incidents, 2);
    cr_assert_eq(r.superseded, 1);
    store_close(st);
}

Test(store, fold_only_while_staged)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    struct vigil_alert a, b;
    mk_alert(&a, 1);
    cr_assert_eq(store_stage_alert(st, &a), 0);
    cr_assert_eq(store_fold_alert(st, a.id, a.last_seen_ns + 5 * SEC, 2), 0);
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_get_alert(st, a.id, &b), 0);
    cr_assert_eq(b.count, 3);
    cr_assert_eq(b.last_seen_ns, a.last_seen_ns + 5 * SEC);
    cr_assert_eq(store_fold_alert(st, a.id, 0, 1), STORE_ENOTFOUND, "committed alerts are immutable");
    assert_verified(st);
    store_close(st);
}

struct kvs {
    unsigned n;
    char keys[8][16];
};

static int collect_kv(const void *key, size_t klen, const void *val, size_t vlen, void *ctx)
{
    (void)val;
    (void)vlen;
    struct kvs *k = ctx;
    if (k->n < 8 && klen < 16) {
        memcpy(k->keys[k->n], key, klen);
        k->keys[k->n][klen] = '\0';
        k->n++;
    }
    return 0;
}

Test(store, corr_and_meta)
{
    const char *dir = test_tmpdir("store");
    struct store *st = open_w(dir, NULL);
    cr_assert_eq(store_corr_put(st, "w:a", 3, "one", 3), 0);
    cr_assert_eq(store_corr_put(st, "w:b", 3, "two", 3), 0);
    cr_assert_eq(store_corr_put(st, "x:c", 3, "", 0), 0);
    cr_assert_eq(store_meta_put(st, "cp.version", "1.2", 3), 0);
    cr_assert_eq(store_set_ruleset_hash(st, 0x1234abcd), 0);
    char buf[16];
    size_t len;
    cr_assert_eq(store_corr_get(st, "w:a", 3, buf, sizeof buf, &len), STORE_ENOTFOUND, "reads see committed state");
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_corr_get(st, "w:a", 3, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(buf, "one", 3), 0);
    cr_assert_eq(store_corr_get(st, "w:a", 3, buf, 2, &len), STORE_ERANGE);
    cr_assert_eq(len, 3);
    cr_assert_eq(store_corr_get(st, "x:c", 3, buf, sizeof buf, &len), 0);
    cr_assert_eq(len, 0);
    struct kvs k = {0};
    cr_assert_eq(store_corr_iterate(st, "w:", 2, collect_kv, &k), 2);
    cr_assert_str_eq(k.keys[0], "w:a");
    cr_assert_str_eq(k.keys[1], "w:b");
    memset(&k, 0, sizeof k);
    cr_assert_eq(store_corr_iterate(st, NULL, 0, collect_kv, &k), 3);
    /* put then delete in one batch: applied in order */
    cr_assert_eq(store_corr_put(st, "w:a", 3, "new", 3), 0);
    cr_assert_eq(store_corr_delete(st, "w:a", 3), 0);
    cr_assert_eq(store_corr_delete(st, "w:zz", 4), 0, "deleting an absent key is fine");
    cr_assert_eq(store_flush(st), 0);
    cr_assert_eq(store_corr_get(st, "w:a", 3, buf, sizeof buf, &len), STORE_ENOTFOUND);
    cr_assert_eq(store_meta_get(st, "cp.version", buf, sizeof buf, &len), 0);
    cr_assert_eq(memcmp(buf, "1.2", 3), 0);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_eq(s.ruleset_hash, 0x1234abcd);
    store_close(st);
}

/* A 1 MiB map written ten times over: the store keeps working by pruning,
 * counts it, loses no batch, and the chain still verifies. */
Test(store, tiny_map_written_ten_times_over)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = cfg.max_map_size = 1 << 20;
    cfg.durability = STORE_NOSYNC;
    cfg.batch_max = 64;
    cfg.prune_chunk = 256;
    struct store *st = open_w(dir, &cfg);
    /* incidents along the way: open ones must survive pruning, closed ones may go */
    struct vigil_incident open_inc, closed_inc;
    memset(&open_inc, 0, sizeof open_inc);
    open_inc.entity = ip4(10, 0, 0, 1);
    cr_assert_eq(store_stage_incident(st, &open_inc), 0);
    memset(&closed_inc, 0, sizeof closed_inc);
    closed_inc.entity = ip4(10, 0, 0, 2);
    closed_inc.status = INCIDENT_CLOSED;
    cr_assert_eq(store_stage_incident(st, &closed_inc), 0);

    unsigned total = 0;
    uint64_t bytes = 0;
    while (bytes < 10ull * cfg.map_size) {
        stage_n(st, total, 64);   /* each 64th staging commits */
        total += 64;
        bytes += 64 * 420;        /* ~ bytes per alert on disk (record, index, chain) */
        if (total % 2048 == 0) {
            open_inc.n_chain = 1;
            open_inc.chain[0] = total;
            cr_assert_eq(store_stage_incident(st, &open_inc), 0);
        }
    }
    cr_assert_eq(store_flush(st), 0);
    const struct store_counters *c = store_counters(st);
    cr_assert_eq(c->batches_dropped, 0, "no batch lost");
    cr_assert_eq(c->alerts_written, total);
    cr_assert_gt(c->pruned_alerts, total / 2, "most alerts were pruned (%llu of %u)",
                 (unsigned long long)c->pruned_alerts, total);
    cr_assert_gt(c->prune_txns, 0);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_lt(s.used_fraction, 0.95);
    cr_assert_eq(s.alerts + c->pruned_alerts, total);
    cr_assert_gt(s.base_seq, 1);
    struct vigil_alert a;
    cr_assert_eq(store_get_alert(st, total, &a), 0, "the newest alert is there");
    cr_assert_eq(store_get_alert(st, 1, &a), STORE_ENOTFOUND, "the oldest was pruned");
    struct vigil_incident io;
    cr_assert_eq(store_get_incident(st, open_inc.id, &io, NULL, NULL, NULL), 0, "open incident kept");
    cr_assert_eq(store_get_incident(st, closed_inc.id, &io, NULL, NULL, NULL), STORE_ENOTFOUND,
                 "closed incident pruned with its era");
    cr_assert_gt(c->carried_incidents, 0);
    assert_verified(st);
    cr_log_info("tiny map: %u alerts, %llu pruned, %llu prune txns, %llu map-full, %llu retries", total,
                (unsigned long long)c->pruned_alerts, (unsigned long long)c->prune_txns,
                (unsigned long long)c->map_full_events, (unsigned long long)c->retries);
    store_close(st);

    /* a reader agrees */
    st = open_r(dir);
    assert_verified(st);
    store_close(st);
}

/* The map grows up to max_map_size before anything is pruned. */
Test(store, map_grows_before_pruning)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = 1 << 20;
    cfg.max_map_size = 8 << 20;
    cfg.durability = STORE_NOSYNC;
    cfg.batch_max = 500;
    struct store *st = open_w(dir, &cfg);
    stage_n(st, 0, 8000);   /* about 3.5 MiB */
    cr_assert_eq(store_flush(st), 0);
    const struct store_counters *c = store_counters(st);
    cr_assert_gt(c->map_grows, 0);
    cr_assert_eq(c->pruned_alerts, 0);
    cr_assert_eq(c->batches_dropped, 0);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_gt(s.map_size, 1 << 20);
    cr_assert_leq(s.map_size, 8 << 20);
    store_close(st);
    /* the grown size survives a restart */
    st = open_w(dir, &cfg);
    struct store_stats s2;
    cr_assert_eq(store_stats(st, &s2), 0);
    cr_assert_eq(s2.map_size, s.map_size);
    assert_verified(st);
    store_close(st);
}

/* A batch bigger than the whole map cannot fit: dropped, counted, and the
 * store goes on. */
Test(store, batch_larger_than_map_is_dropped_and_counted)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = cfg.max_map_size = 1 << 20;
    cfg.durability = STORE_NOSYNC;
    cfg.batch_max = 100000;
    struct store *st = open_w(dir, &cfg);
    stage_n(st, 0, 100);
    cr_assert_eq(store_flush(st), 0);
    struct vigil_alert a;
    for (unsigned i = 0; i < 3000; i++) {
        mk_alert(&a, i);
        a.excerpt_len = ALERT_EXCERPT_MAX;
        memset(a.excerpt, 'x', ALERT_EXCERPT_MAX);
        cr_assert_eq(store_stage_alert(st, &a), 0);
    }
    cr_assert_eq(store_flush(st), STORE_EFULL);
    const struct store_counters *c = store_counters(st);
    cr_assert_eq(c->batches_dropped, 1);
    cr_assert_eq(c->alerts_dropped, 3000);
    cr_assert_gt(c->map_full_events, 0);
    cr_assert_eq(store_staged(st), 0);
    stage_n(st, 100, 10);
    cr_assert_eq(store_flush(st), 0, "the next batch is written");
    cr_assert_eq(store_get_alert(st, a.id + 10, &a), 0);
    assert_verified(st);
    store_close(st);
}

Test(store, age_retention)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.retention_age_s = 3600;
    cfg.prune_chunk = 7;     /* several chunks */
    struct store *st = open_w(dir, &cfg);
    /* alerts i received at T0 + i s, for 0..99 */
    stage_n(st, 0, 100);
    struct vigil_incident old_closed, old_open, new_closed;
    memset(&old_closed, 0, sizeof old_closed);
    old_closed.status = INCIDENT_CLOSED;
    old_closed.updated_ns = T0 + 5 * SEC;
    memset(&old_open, 0, sizeof old_open);
    old_open.updated_ns = T0 + 5 * SEC;
    memset(&new_closed, 0, sizeof new_closed);
    new_closed.status = INCIDENT_CLOSED;
    new_closed.updated_ns = T0 + 90 * SEC;
    cr_assert_eq(store_stage_incident(st, &old_closed), 0);
    cr_assert_eq(store_stage_incident(st, &old_open), 0);
    cr_assert_eq(store_stage_incident(st, &new_closed), 0);
    struct vigil_entity stale, busy;
    memset(&stale, 0, sizeof stale);
    stale.ip = ip4(1, 1, 1, 1);
    stale.last_seen_ns = T0;
    memset(&busy, 0, sizeof busy);
    busy.ip = ip4(2, 2, 2, 2);
    busy.last_seen_ns = T0;
    busy.open_incident_id = old_open.id;
    cr_assert_eq(store_stage_entity(st, &stale), 0);
    cr_assert_eq(store_stage_entity(st, &busy), 0);
    cr_assert_eq(store_flush(st), 0);
    stage_n(st, 100, 20);   /* newer alerts after the incidents in the chain */
    cr_assert_eq(store_flush(st), 0);

    /* now = T0 + 1 h + 50 s: alerts 0..49 are older than an hour */
    long n = store_retention_run(st, T0 + 3600 * SEC + 50 * SEC, 0);
    cr_assert_eq(n, 50, "pruned %ld", n);
    struct vigil_alert a;
    cr_assert_eq(store_get_alert(st, 50, &a), STORE_ENOTFOUND);
    cr_assert_eq(store_get_alert(st, 51, &a), 0);
    struct vigil_incident io;
    cr_assert_eq(store_get_incident(st, old_closed.id, &io, NULL, NULL, NULL), 0,
                 "incidents stay until the base passes them");
    assert_verified(st);

    /* a day later: every alert is old; closed incidents go, the open one is re-chained */
    n = store_retention_run(st, T0 + 86400 * SEC, 0);
    cr_assert_eq(n, 70);
    cr_assert_eq(store_get_incident(st, old_closed.id, &io, NULL, NULL, NULL), STORE_ENOTFOUND);
    cr_assert_eq(store_get_incident(st, new_closed.id, &io, NULL, NULL, NULL), STORE_ENOTFOUND);
    cr_assert_eq(store_get_incident(st, old_open.id, &io, NULL, NULL, NULL), 0);
    struct vigil_entity eo;
    cr_assert_eq(store_get_entity(st, &stale.ip, &eo), STORE_ENOTFOUND, "stale entity pruned");
    cr_assert_eq(store_get_entity(st, &busy.ip, &eo), 0, "entity with an open incident kept");
    const struct store_counters *c = store_counters(st);
    cr_assert_eq(c->pruned_alerts, 120);
    cr_assert_eq(c->pruned_incidents, 2);
    cr_assert_eq(c->pruned_entities, 1);
    cr_assert_geq(c->carried_incidents, 1);
    assert_verified(st);
    /* nothing more to do: no churn */
    uint64_t txns = c->prune_txns;
    cr_assert_eq(store_retention_run(st, T0 + 86400 * SEC, 0), 0);
    cr_assert_eq(c->prune_txns, txns);
    store_close(st);
    st = open_r(dir);
    assert_verified(st);
    store_close(st);
}

Test(store, age_retention_from_commit_due)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.retention_age_s = 10;
    cfg.retention_interval_ms = 1000;
    struct store *st = open_w(dir, &cfg);
    stage_n(st, 0, 30);   /* received T0 .. T0 + 29 s */
    cr_assert_eq(store_commit_due(st, T0 + 30 * SEC), 1);
    /* cutoff = now - 10 s = T0 + 20 s: alerts 0..19 go */
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_eq(s.alerts, 10);
    assert_verified(st);
    store_close(st);
}

struct desc_check {
    uint64_t last;
    unsigned n;
    bool bad;
};

static int check_entity3(const struct vigil_alert *a, void *ctx)
{
    struct desc_check *d = ctx;
    if ((d->n && a->id >= d->last) || (a->id - 1) % 8 != 3)
        d->bad = true;
    d->last = a->id;
    d->n++;
    return 0;
}

/* The entity index is bucketed by alert id (2^14 per bucket): a query walks
 * the buckets newest first, and paging crosses bucket boundaries. */
Test(store, entity_query_spans_buckets)
{
    const char *dir = test_tmpdir("store");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.durability = STORE_NOSYNC;
    struct store *st = open_w(dir, &cfg);
    stage_n(st, 0, 40000);   /* ids 1..40000: buckets 0, 1, 2 */
    cr_assert_eq(store_flush(st), 0);
    struct vigil_ip e3 = ip4(10, 0, 0, 3);
    struct store_alert_query q = {0};
    q.entity = &e3;
    q.limit = 100000;
    struct desc_check d = {0};
    cr_assert_eq(store_list_alerts(st, &q, check_entity3, &d, NULL), 5000);
    cr_assert(!d.bad, "newest first, entity 3 only");
    cr_assert_eq(d.last, 4, "down to the first one");
    /* a page that starts just above the bucket boundary 16384 */
    q.before_id = 16390;
    q.limit = 3;
    struct collect c = {0};
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, NULL), 3);
    cr_assert_eq(c.ids[0], 16388);
    cr_assert_eq(c.ids[1], 16380);
    cr_assert_eq(c.ids[2], 16372);
    /* an entity with no alerts probes the three buckets and finds nothing */
    struct vigil_ip none = ip4(10, 0, 0, 200);
    struct store_query_info info;
    q.entity = &none;
    q.before_id = 0;
    memset(&c, 0, sizeof c);
    cr_assert_eq(store_list_alerts(st, &q, collect_alert, &c, &info), 0);
    cr_assert_eq(info.scanned, 3);
    store_close(st);
}
