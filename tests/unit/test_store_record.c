/* Store records and hash-chain encodings: round trips at the bounds, and
 * decoders that refuse truncated, oversized and random input without
 * reading past it (ASan runs these too). */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "storage/hashchain.h"
#include "storage/record.h"

static struct vigil_ip ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    struct vigil_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = 4;
    ip.addr[0] = a, ip.addr[1] = b, ip.addr[2] = c, ip.addr[3] = d;
    return ip;
}

static struct vigil_ip ip6_full(void)
{
    struct vigil_ip ip;
    ip.family = 6;
    for (int i = 0; i < 16; i++)
        ip.addr[i] = (uint8_t)(0xf0 + i);
    return ip;
}

/* An alert with every bounded field at its maximum. */
static void full_alert(struct vigil_alert *a)
{
    memset(a, 0, sizeof *a);
    a->id = UINT64_MAX - 1;
    a->kind = ALERT_CORRELATION;
    a->level = ALERT_CRITICAL;
    a->tactics = TACTIC_ALL_MASK;
    a->n_techniques = ALERT_TECHNIQUES_MAX;
    for (unsigned i = 0; i < ALERT_TECHNIQUES_MAX; i++)
        a->techniques[i] = 1000000 + i * 1001;
    for (int i = 0; i < 16; i++)
        a->rule_uuid[i] = (uint8_t)(i * 17);
    a->event_ns = -5;              /* before the epoch: a sender with a broken clock */
    a->received_ns = INT64_MAX;
    a->first_seen_ns = INT64_MIN;
    a->last_seen_ns = 1234567890123456789;
    a->count = UINT32_MAX;
    a->source_port = 65535;
    a->destination_port = 1;
    a->entity = ip6_full();
    a->source_ip = ip4(10, 0, 0, 1);
    a->destination_ip = ip6_full();
    a->observer_ip = ip4(192, 168, 1, 254);
    a->incident_id = 77;
    a->contrib_more = 9;
    a->title_len = ALERT_TITLE_MAX;
    memset(a->title, 'T', ALERT_TITLE_MAX);
    a->user_len = ALERT_USER_MAX;
    memset(a->user, 'u', ALERT_USER_MAX);
    a->excerpt_len = ALERT_EXCERPT_MAX;
    for (int i = 0; i < ALERT_EXCERPT_MAX; i++)
        a->excerpt[i] = (char)(i % 251);   /* includes NUL and high bytes */
    a->group_key_len = ALERT_GROUP_KEY_MAX;
    memset(a->group_key, 'g', ALERT_GROUP_KEY_MAX);
    a->n_contrib = ALERT_CONTRIB_MAX;
    for (unsigned i = 0; i < ALERT_CONTRIB_MAX; i++)
        a->contrib[i] = 1000 + i;
}

static void assert_alert_eq(const struct vigil_alert *a, const struct vigil_alert *b)
{
    cr_assert_eq(a->id, b->id);
    cr_assert_eq(a->kind, b->kind);
    cr_assert_eq(a->level, b->level);
    cr_assert_eq(a->tactics, b->tactics);
    cr_assert_eq(a->n_techniques, b->n_techniques);
    cr_assert_eq(memcmp(a->techniques, b->techniques, sizeof(uint32_t) * a->n_techniques), 0);
    cr_assert_eq(memcmp(a->rule_uuid, b->rule_uuid, 16), 0);
    cr_assert_eq(a->event_ns, b->event_ns);
    cr_assert_eq(a->received_ns, b->received_ns);
    cr_assert_eq(a->first_seen_ns, b->first_seen_ns);
    cr_assert_eq(a->last_seen_ns, b->last_seen_ns);
    cr_assert_eq(a->count, b->count);
    cr_assert_eq(a->source_port, b->source_port);
    cr_assert_eq(a->destination_port, b->destination_port);
    cr_assert_eq(memcmp(&a->entity, &b->entity, sizeof a->entity), 0);
    cr_assert_eq(memcmp(&a->source_ip, &b->source_ip, sizeof a->source_ip), 0);
    cr_assert_eq(memcmp(&a->destination_ip, &b->destination_ip, sizeof a->destination_ip), 0);
    cr_assert_eq(memcmp(&a->observer_ip, &b->observer_ip, sizeof a->observer_ip), 0);
    cr_assert_eq(a->incident_id, b->incident_id);
    cr_assert_eq(a->contrib_more, b->contrib_more);
    cr_assert_eq(a->title_len, b->title_len);
    cr_assert_eq(memcmp(a->title, b->title, a->title_len), 0);
    cr_assert_eq(a->user_len, b->user_len);
    cr_assert_eq(memcmp(a->user, b->user, a->user_len), 0);
    cr_assert_eq(a->excerpt_len, b->excerpt_len);
    cr_assert_eq(memcmp(a->excerpt, b->excerpt, a->excerpt_len), 0);
    cr_assert_eq(a->group_key_len, b->group_key_len);
    cr_assert_eq(memcmp(a->group_key, b->group_key, a->group_key_len), 0);
    cr_assert_eq(a->n_contrib, b->n_contrib);
    cr_assert_eq(memcmp(a->contrib, b->contrib, 8 * a->n_contrib), 0);
}

Test(store_record, alert_round_trip_at_bounds)
{
    struct vigil_alert a, b;
    full_alert(&a);
    uint8_t buf[ALERT_ENCODED_MAX];
    int n = record_alert_encode(&a, buf, sizeof buf);
    cr_assert_eq(n, (int)ALERT_ENCODED_MAX - 2 * 12, "largest alert: two IPv4 addresses of four");
    cr_assert_eq(record_alert_decode(buf, (size_t)n, &b), 0);
    assert_alert_eq(&a, &b);
    cr_assert_eq(b.title[b.title_len], '\0', "decode terminates strings");

    /* the smallest: a detection alert with nothing optional */
    struct vigil_alert m, d;
    memset(&m, 0, sizeof m);
    m.kind = ALERT_DETECTION;
    n = record_alert_encode(&m, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_eq(record_alert_decode(buf, (size_t)n, &d), 0);
    assert_alert_eq(&m, &d);
    cr_assert_eq(d.entity.family, 0);

    uint8_t type, ver;
    uint64_t id;
    n = record_alert_encode(&a, buf, sizeof buf);
    cr_assert_eq(record_peek(buf, (size_t)n, &type, &ver, &id), 0);
    cr_assert_eq(type, RECORD_ALERT);
    cr_assert_eq(ver, RECORD_VERSION);
    cr_assert_eq(id, a.id);
}

Test(store_record, encode_refuses_out_of_range)
{
    struct vigil_alert a;
    uint8_t buf[ALERT_ENCODED_MAX];
    full_alert(&a);
    a.level = 5;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    a.kind = 0;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    a.title_len = ALERT_TITLE_MAX + 1;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    a.n_contrib = ALERT_CONTRIB_MAX + 1;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    a.source_ip.family = 5;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    a.tactics = 1u << TACTIC__COUNT;
    cr_assert_eq(record_alert_encode(&a, buf, sizeof buf), RECORD_ERANGE);
    full_alert(&a);
    cr_assert_eq(record_alert_encode(&a, buf, 100), RECORD_ENOSPC);

    struct vigil_incident inc;
    memset(&inc, 0, sizeof inc);
    uint8_t ib[INCIDENT_ENCODED_MAX];
    inc.status = 3;
    cr_assert_eq(record_incident_encode(&inc, ib, sizeof ib), RECORD_ERANGE);
    inc.status = INCIDENT_OPEN;
    inc.n_chain = INCIDENT_CHAIN_MAX + 1;
    cr_assert_eq(record_incident_encode(&inc, ib, sizeof ib), RECORD_ERANGE);
    inc.n_chain = 0;
    inc.label_len = INCIDENT_LABEL_MAX + 1;
    cr_assert_eq(record_incident_encode(&inc, ib, sizeof ib), RECORD_ERANGE);
}

Test(store_record, incident_and_entity_round_trip)
{
    struct vigil_incident inc, out;
    memset(&inc, 0, sizeof inc);
    inc.id = 42;
    inc.entity = ip4(203, 0, 113, 9);
    inc.status = INCIDENT_ACKNOWLEDGED;
    inc.severity = 65535;
    inc.label_len = record_copy_str(inc.label, sizeof inc.label, "critical-and-then-some-more-text-cut", 36);
    cr_assert_eq(inc.label_len, INCIDENT_LABEL_MAX, "copy_str cuts to the bound");
    inc.tactics = (1u << TACTIC_RECONNAISSANCE) | (1u << TACTIC_INITIAL_ACCESS);
    inc.first_seen_ns = 1;
    inc.last_seen_ns = 2;
    inc.updated_ns = 3;
    inc.n_chain = INCIDENT_CHAIN_MAX;
    for (unsigned i = 0; i < INCIDENT_CHAIN_MAX; i++)
        inc.chain[i] = 100 + i;
    inc.chain_more = 1000;
    uint8_t buf[INCIDENT_ENCODED_MAX];
    int n = record_incident_encode(&inc, buf, sizeof buf);
    cr_assert_eq(n, (int)INCIDENT_ENCODED_MAX - 12, "IPv4 entity: 12 bytes under the maximum");
    cr_assert_eq(record_incident_decode(buf, (size_t)n, &out), 0);
    cr_assert_eq(memcmp(&inc, &out, sizeof inc), 0, "incident round trip is exact");

    struct vigil_entity e, eo;
    memset(&e, 0, sizeof e);
    e.ip = ip6_full();
    e.first_seen_ns = -1;
    e.last_seen_ns = INT64_MAX;
    e.alert_count = UINT64_MAX;
    e.risk = 99;
    e.open_incident_id = 42;
    uint8_t eb[ENTITY_ENCODED_MAX];
    n = record_entity_encode(&e, eb, sizeof eb);
    cr_assert_eq(n, (int)ENTITY_ENCODED_MAX);
    cr_assert_eq(record_entity_decode(eb, (size_t)n, &eo), 0);
    cr_assert_eq(memcmp(&e, &eo, sizeof e), 0);

    /* a record of one type does not decode as another */
    struct vigil_alert a;
    cr_assert_eq(record_alert_decode(eb, (size_t)n, &a), RECORD_ETYPE);
    cr_assert_eq(record_entity_decode(buf, sizeof buf, &eo), RECORD_ETYPE);
}

Test(store_record, decode_rejects_truncation_and_trailing)
{
    struct vigil_alert a, b;
    full_alert(&a);
    uint8_t buf[ALERT_ENCODED_MAX + 1];
    int n = record_alert_encode(&a, buf, sizeof buf);
    for (int len = 0; len < n; len++) {
        /* a heap copy of exactly len bytes, so ASan catches any over-read */
        uint8_t *p = malloc(len ? (size_t)len : 1);
        memcpy(p, buf, (size_t)len);
        int rc = record_alert_decode(p, (size_t)len, &b);
        cr_assert_lt(rc, 0, "truncated to %d of %d bytes must fail", len, n);
        free(p);
    }
    buf[n] = 0;
    cr_assert_eq(record_alert_decode(buf, (size_t)n + 1, &b), RECORD_ETRAILING);
    buf[1] = 2;
    cr_assert_eq(record_alert_decode(buf, (size_t)n, &b), RECORD_EVERSION);
    buf[1] = 1;
    /* a string length above its bound */
    struct vigil_alert m;
    memset(&m, 0, sizeof m);
    m.kind = ALERT_DETECTION;
    int mn = record_alert_encode(&m, buf, sizeof buf);
    /* the title length sits right after the fixed part, 4 one-byte IPs, incident, contrib_more */
    size_t tl = (size_t)mn - 8;
    buf[tl] = 0xff, buf[tl + 1] = 0x7f;
    cr_assert_lt(record_alert_decode(buf, (size_t)mn, &b), 0);
}

Test(store_record, decode_survives_random_and_mutated_input)
{
    struct vigil_alert a, b;
    struct vigil_incident inc;
    struct vigil_entity ent;
    full_alert(&a);
    uint8_t good[ALERT_ENCODED_MAX];
    int n = record_alert_encode(&a, good, sizeof good);
    srand(12345);
    unsigned accepted = 0;
    for (int iter = 0; iter < 20000; iter++) {
        uint8_t *p = malloc((size_t)n);
        memcpy(p, good, (size_t)n);
        int flips = 1 + rand() % 4;
        for (int f = 0; f < flips; f++)
            p[rand() % n] = (uint8_t)rand();
        size_t len = (size_t)(rand() % 8 == 0 ? rand() % n : n);
        int rc = record_alert_decode(p, len, &b);
        if (rc == 0) {
            accepted++;
            /* whatever decoded is within bounds and re-encodes */
            uint8_t again[ALERT_ENCODED_MAX];
            cr_assert_gt(record_alert_encode(&b, again, sizeof again), 0);
        }
        record_incident_decode(p, len, &inc);
        record_entity_decode(p, len, &ent);
        free(p);
    }
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = (size_t)(rand() % 300);
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)rand();
        if (len > 1 && iter % 2) {
            p[0] = (uint8_t)(1 + iter % 3);   /* plausible header, garbage after */
            p[1] = 1;
        }
        record_alert_decode(p, len, &b);
        record_incident_decode(p, len, &inc);
        record_entity_decode(p, len, &ent);
        uint8_t t, v;
        uint64_t id;
        record_peek(p, len, &t, &v, &id);
        free(p);
    }
    cr_assert_lt(accepted, 20000u, "some mutations must be caught");
}

Test(store_record, fold_patches_in_place)
{
    struct vigil_alert a, b;
    memset(&a, 0, sizeof a);
    a.kind = ALERT_DETECTION;
    a.count = 1;
    a.first_seen_ns = a.last_seen_ns = 100;
    a.title_len = record_copy_str(a.title, sizeof a.title, "x", 1);
    uint8_t buf[ALERT_ENCODED_MAX];
    int n = record_alert_encode(&a, buf, sizeof buf);
    cr_assert_eq(record_alert_fold(buf, (size_t)n, 500, 3), 0);
    cr_assert_eq(record_alert_fold(buf, (size_t)n, 200, UINT32_MAX), 0, "earlier time, saturating count");
    cr_assert_eq(record_alert_decode(buf, (size_t)n, &b), 0);
    cr_assert_eq(b.count, UINT32_MAX);
    cr_assert_eq(b.last_seen_ns, 500);
    cr_assert_eq(b.first_seen_ns, 100);
    cr_assert_eq(record_alert_fold(buf, 10, 1, 1), RECORD_ETRUNC);
}

Test(store_record, attack_names_and_techniques)
{
    uint32_t t;
    char s[12];
    cr_assert_eq(record_technique_parse("T1110.001", 9, &t), 0);
    cr_assert_eq(t, 1110001);
    record_technique_format(t, s);
    cr_assert_str_eq(s, "T1110.001");
    cr_assert_eq(record_technique_parse("t1046", 5, &t), 0);
    record_technique_format(t, s);
    cr_assert_str_eq(s, "T1046");
    cr_assert_eq(record_technique_parse("T110", 4, &t), -1);
    cr_assert_eq(record_technique_parse("T1110.01", 8, &t), -1);
    cr_assert_eq(record_technique_parse("T1110x", 6, &t), -1);
    cr_assert_eq(record_tactic_parse("credential_access", 17), TACTIC_CREDENTIAL_ACCESS);
    cr_assert_eq(record_tactic_parse("Command-and-Control", 19), TACTIC_COMMAND_AND_CONTROL);
    cr_assert_eq(record_tactic_parse("nope", 4), -1);
    cr_assert_str_eq(record_tactic_name(TACTIC_IMPACT), "impact");
    cr_assert_null(record_tactic_name(TACTIC__COUNT));
    cr_assert_str_eq(record_level_name(ALERT_HIGH), "high");
    cr_assert_str_eq(record_status_name(INCIDENT_CLOSED), "closed");
}

Test(store_record, hashchain_encodings)
{
    cr_assert_eq(hc_init(), 0);
    uint8_t id[16] = {1, 2, 3}, g1[32], g2[32], h1[32], h2[32];
    hc_genesis(id, g1);
    id[0] = 9;
    hc_genesis(id, g2);
    cr_assert_neq(memcmp(g1, g2, 32), 0, "genesis depends on the store id");
    hc_link(g1, "abc", 3, 1, h1);
    hc_link(g1, "abc", 3, 2, h2);
    cr_assert_neq(memcmp(h1, h2, 32), 0, "the seq is hashed");
    hc_link(g2, "abc", 3, 1, h2);
    cr_assert_neq(memcmp(h1, h2, 32), 0, "the previous hash is hashed");

    uint8_t val[10 + HC_TRAILER_BYTES];
    memset(val, 7, 10);
    hc_trailer_write(val + 10, 99, h1);
    size_t rl;
    uint64_t seq;
    const uint8_t *h;
    cr_assert_eq(hc_trailer_split(val, sizeof val, &rl, &seq, &h), 0);
    cr_assert_eq(rl, 10);
    cr_assert_eq(seq, 99);
    cr_assert_eq(memcmp(h, h1, 32), 0);
    cr_assert_eq(hc_trailer_split(val, HC_TRAILER_BYTES, &rl, &seq, &h), -1);

    uint8_t e[HC_ENTRY_BYTES + HC_PRUNE_BYTES];
    struct hc_entry d;
    hc_entry_write(e, HC_ENTRY_ALERT, 5, h1);
    cr_assert_eq(hc_entry_decode(e, HC_ENTRY_BYTES, &d), 0);
    cr_assert_eq(d.type, HC_ENTRY_ALERT);
    cr_assert_eq(d.id, 5);
    cr_assert_eq(hc_entry_decode(e, HC_ENTRY_BYTES - 1, &d), -1);
    cr_assert_eq(hc_entry_decode(e, HC_ENTRY_BYTES + 1, &d), -1, "alert entries carry no payload");
    struct hc_prune p = {1, 50, {0}, 40, 2, 3, 123, HC_PRUNE_AGE}, q;
    memcpy(p.prev_hash, h2, 32);
    hc_entry_write(e, HC_ENTRY_PRUNE, 0, h1);
    hc_prune_write(e + HC_ENTRY_BYTES, &p);
    cr_assert_eq(hc_entry_decode(e, sizeof e, &d), 0);
    cr_assert_eq(hc_prune_decode(d.payload, d.payload_len, &q), 0);
    cr_assert(q.old_base == 1 && q.new_base == 50 && q.alerts == 40 && q.incidents == 2 && q.carried == 3 &&
              q.time_ns == 123 && q.reason == HC_PRUNE_AGE && memcmp(q.prev_hash, h2, 32) == 0);
    cr_assert_eq(hc_prune_decode(d.payload, d.payload_len - 1, &q), -1);

    struct hc_point pt = {77, {0}}, po;
    memcpy(pt.hash, h2, 32);
    uint8_t pb[HC_POINT_BYTES];
    hc_point_write(pb, &pt);
    cr_assert_eq(hc_point_decode(pb, sizeof pb, &po), 0);
    cr_assert_eq(memcmp(&pt, &po, sizeof pt), 0);
    cr_assert_eq(hc_point_decode(pb, sizeof pb - 1, &po), -1);
}
