/* vigil-cp's alert folding, incident building and rule metadata. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "mgmt/alert_fold.h"
#include "mgmt/incident.h"
#include "mgmt/rule_meta.h"

#define SEC 1000000000LL

static uint64_t next_id(void *ctx) { return (*(uint64_t *)ctx)++; }
#define MIN (60 * SEC)

static struct vigil_ip ip4(const char *s)
{
    struct vigil_ip ip;
    memset(&ip, 0, sizeof ip);
    ip.family = 4;
    cr_assert_eq(inet_pton(AF_INET, s, ip.addr), 1);
    return ip;
}

static struct vigil_alert alert(uint8_t rule, const char *entity, int64_t ts, uint8_t level, uint32_t tactics)
{
    struct vigil_alert a;
    memset(&a, 0, sizeof a);
    a.kind = ALERT_DETECTION;
    a.rule_uuid[0] = rule;
    a.entity = ip4(entity);
    a.source_ip = a.entity;
    a.event_ns = a.first_seen_ns = a.last_seen_ns = a.received_ns = ts;
    a.level = level;
    a.tactics = tactics;
    a.count = 1;
    return a;
}

#define RECON (1u << TACTIC_RECONNAISSANCE)
#define DISC (1u << TACTIC_DISCOVERY)
#define INITIAL (1u << TACTIC_INITIAL_ACCESS)
#define CRED (1u << TACTIC_CREDENTIAL_ACCESS)

Test(alert_fold, duplicates_in_the_window_become_one_alert_with_a_count)
{
    struct alert_fold *f = alert_fold_new(16, 10 * SEC);
    cr_assert_not_null(f);
    uint64_t next = 100;
    for (int i = 0; i < 5; i++) {
        struct vigil_alert a = alert(1, "203.0.113.9", 1000 * SEC + i * SEC, ALERT_LOW, CRED);
        cr_assert_eq(alert_fold_add(f, &a, i * SEC, next_id, &next), 100, "folded into the first");
    }
    struct vigil_alert other = alert(1, "198.51.100.7", 1000 * SEC, ALERT_LOW, CRED);
    cr_assert_eq(alert_fold_add(f, &other, 4 * SEC, next_id, &next), 101, "another entity is another alert");
    struct vigil_alert out[4];
    cr_assert_eq(alert_fold_pop(f, 9 * SEC, false, out, 4), 0, "nothing is due before its window closes");
    cr_assert_eq(alert_fold_pop(f, 10 * SEC, false, out, 4), 1);
    cr_assert_eq(out[0].id, 100);
    cr_assert_eq(out[0].count, 5);
    cr_assert_eq(out[0].first_seen_ns, 1000 * SEC);
    cr_assert_eq(out[0].last_seen_ns, 1004 * SEC);
    /* after the window, the same rule and entity is a new alert */
    struct vigil_alert again = alert(1, "203.0.113.9", 1011 * SEC, ALERT_LOW, CRED);
    cr_assert_eq(alert_fold_add(f, &again, 11 * SEC, next_id, &next), 102);
    cr_assert_eq(alert_fold_pop(f, 100 * SEC, false, out, 4), 2);
    cr_assert_eq(out[0].id, 101, "emitted in id order");
    cr_assert_eq(out[1].id, 102);
    struct alert_fold_stats st;
    alert_fold_stats(f, &st);
    cr_assert_eq(st.created, 3);
    cr_assert_eq(st.folded, 4);
    cr_assert_eq(st.emitted, 3);
    cr_assert_eq(st.pending, 0);
    alert_fold_free(f);
}

Test(alert_fold, a_full_table_refuses_until_the_oldest_is_forced_out)
{
    struct alert_fold *f = alert_fold_new(2, 60 * SEC);
    uint64_t next = 1;
    struct vigil_alert a = alert(1, "192.0.2.1", 0, ALERT_LOW, 0), b = alert(2, "192.0.2.1", 0, ALERT_LOW, 0),
                       c = alert(3, "192.0.2.1", 0, ALERT_LOW, 0);
    cr_assert_eq(alert_fold_add(f, &a, 0, next_id, &next), 1);
    cr_assert_eq(alert_fold_add(f, &b, 0, next_id, &next), 2);
    cr_assert(alert_fold_full(f));
    cr_assert_eq(alert_fold_add(f, &c, 0, next_id, &next), 0);
    cr_assert_eq(alert_fold_add(f, &a, 0, next_id, &next), 1, "a duplicate still folds when full");
    struct vigil_alert out[2];
    cr_assert_eq(alert_fold_pop(f, 0, true, out, 1), 1);
    cr_assert_eq(out[0].id, 1);
    cr_assert_eq(out[0].count, 2);
    cr_assert_eq(alert_fold_add(f, &c, 0, next_id, &next), 3);
    struct alert_fold_stats st;
    alert_fold_stats(f, &st);
    cr_assert_eq(st.emitted_early, 1);
    alert_fold_free(f);
}

/* The incident the alert joined (the last version written), as before the
 * tracker could also close incidents: 1, or 0 when it joined none.  The
 * versions are kept in versions[] for the tests that look at closing. */
static struct vigil_incident versions[INCIDENT_MAX_VERSIONS];
static unsigned n_versions;

static int add(struct incident_tracker *t, struct vigil_alert *a, uint64_t *next, struct vigil_incident *inc)
{
    n_versions = incident_add_alert(t, a, next_id, next, versions);
    if (!n_versions || !a->incident_id)
        return 0;
    *inc = versions[n_versions - 1];
    return 1;
}

static struct incident_tracker *tracker(unsigned max_entities)
{
    struct incident_config c = {.max_entities = max_entities, .window_ns = 60 * MIN, .min_level = ALERT_MEDIUM};
    struct incident_tracker *t = incident_tracker_new(&c);
    cr_assert_not_null(t);
    return t;
}

Test(incident, recon_then_initial_access_is_one_critical_chain_in_order)
{
    struct incident_tracker *t = tracker(16);
    uint64_t next_inc = 1, id = 1;
    struct vigil_incident inc;
    int64_t t0 = 1700000000LL * SEC;
    /* port scan: firewall denies (low) and a port-scan correlation (high) */
    struct vigil_alert a = alert(1, "203.0.113.66", t0, ALERT_LOW, RECON | DISC);
    a.id = id++;
    cr_assert_eq(add(t, &a, &next_inc, &inc), 0, "a low alert alone opens nothing");
    struct vigil_alert scan = alert(2, "203.0.113.66", t0 + 30 * SEC, ALERT_HIGH, RECON | DISC);
    scan.kind = ALERT_CORRELATION;
    scan.id = id++;
    cr_assert_eq(add(t, &scan, &next_inc, &inc), 1);
    cr_assert_eq(inc.id, 1);
    cr_assert_eq(scan.incident_id, 1);
    cr_assert_eq(inc.n_chain, 2, "the earlier low alert starts the chain");
    cr_assert_eq(inc.chain[0], 1);
    cr_assert_str_eq(inc.label, "high");
    /* minutes later: directory traversal and SQL injection from the same address */
    struct vigil_alert trav = alert(3, "203.0.113.66", t0 + 5 * MIN, ALERT_HIGH, INITIAL | DISC);
    trav.id = id++;
    cr_assert_eq(add(t, &trav, &next_inc, &inc), 1);
    struct vigil_alert sqli = alert(4, "203.0.113.66", t0 + 6 * MIN, ALERT_HIGH, INITIAL);
    sqli.id = id++;
    cr_assert_eq(add(t, &sqli, &next_inc, &inc), 1);
    cr_assert_eq(inc.id, 1, "still the same incident");
    cr_assert_eq(inc.n_chain, 4);
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(inc.chain[i], i + 1, "chain in order");
    cr_assert(inc.tactics & RECON);
    cr_assert(inc.tactics & INITIAL);
    cr_assert_str_eq(inc.label, "critical", "rank %u", inc.severity);
    cr_assert_eq(inc.first_seen_ns, t0);
    cr_assert_eq(inc.last_seen_ns, t0 + 6 * MIN);
    incident_tracker_free(t);
}

Test(incident, ssh_brute_force_is_high_and_benign_lows_open_nothing)
{
    struct incident_tracker *t = tracker(16);
    uint64_t next_inc = 1, id = 1;
    struct vigil_incident inc;
    int64_t t0 = 1700000000LL * SEC;
    struct vigil_alert fail = alert(5, "198.51.100.23", t0, ALERT_LOW, CRED);
    fail.count = 40;
    fail.id = id++;
    cr_assert_eq(add(t, &fail, &next_inc, &inc), 0);
    struct vigil_alert inval = alert(6, "198.51.100.23", t0 + 10 * SEC, ALERT_MEDIUM, CRED | DISC);
    inval.id = id++;
    cr_assert_eq(add(t, &inval, &next_inc, &inc), 1);
    struct vigil_alert brute = alert(7, "198.51.100.23", t0 + 20 * SEC, ALERT_HIGH, CRED);
    brute.kind = ALERT_CORRELATION;
    brute.id = id++;
    cr_assert_eq(add(t, &brute, &next_inc, &inc), 1);
    cr_assert_str_eq(inc.label, "high", "rank %u", inc.severity);
    /* a benign host with one failed login: low, no incident */
    struct vigil_alert benign = alert(5, "192.0.2.10", t0, ALERT_LOW, CRED);
    benign.id = id++;
    cr_assert_eq(add(t, &benign, &next_inc, &inc), 0);
    struct incident_stats st;
    incident_stats(t, &st);
    cr_assert_eq(st.opened, 1);
    incident_tracker_free(t);
}

Test(incident, a_quiet_window_ends_an_incident_and_entities_are_bounded)
{
    struct incident_tracker *t = tracker(2);
    uint64_t next_inc = 1, id = 1;
    struct vigil_incident inc;
    int64_t t0 = 1700000000LL * SEC;
    struct vigil_alert a = alert(3, "203.0.113.1", t0, ALERT_HIGH, INITIAL);
    a.id = id++;
    cr_assert_eq(add(t, &a, &next_inc, &inc), 1);
    cr_assert_eq(inc.id, 1);
    struct vigil_alert b = alert(3, "203.0.113.1", t0 + 61 * MIN, ALERT_HIGH, INITIAL);
    b.id = id++;
    cr_assert_eq(add(t, &b, &next_inc, &inc), 1);
    cr_assert_eq(inc.id, 2, "an hour of quiet: a new incident");
    cr_assert_eq(n_versions, 2, "and the old one closed first");
    cr_assert_eq(versions[0].id, 1);
    cr_assert_eq(versions[0].status, INCIDENT_CLOSED);
    for (int i = 0; i < 10; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "10.0.0.%d", i + 1);
        struct vigil_alert x = alert(3, addr, t0, ALERT_HIGH, INITIAL);
        x.id = id++;
        add(t, &x, &next_inc, &inc);
    }
    struct incident_stats st;
    incident_stats(t, &st);
    cr_assert_eq(st.entities, 2);
    cr_assert_eq(st.entities_evicted, 9);
    cr_assert_eq(st.closed, 10, "every evicted entity's open incident was closed, not left open in the store");
    incident_tracker_free(t);
}

Test(incident, quiet_incidents_close_on_the_newest_alert_time)
{
    struct incident_tracker *t = tracker(16);
    uint64_t next_inc = 1, id = 1;
    struct vigil_incident inc;
    int64_t t0 = 1700000000LL * SEC;
    struct vigil_alert a = alert(3, "203.0.113.1", t0, ALERT_HIGH, INITIAL);
    a.id = id++;
    cr_assert_eq(add(t, &a, &next_inc, &inc), 1);
    struct vigil_incident closed[4];
    cr_assert_eq(incident_close_quiet(t, 100, closed, 4), 0, "not quiet yet");
    /* another entity's alert 61 minutes later moves the clock on */
    struct vigil_alert b = alert(3, "203.0.113.2", t0 + 61 * MIN, ALERT_HIGH, INITIAL);
    b.id = id++;
    cr_assert_eq(add(t, &b, &next_inc, &inc), 1);
    cr_assert_eq(incident_close_quiet(t, 100, closed, 4), 1);
    cr_assert_eq(closed[0].id, 1);
    cr_assert_eq(closed[0].status, INCIDENT_CLOSED);
    cr_assert_eq(incident_close_quiet(t, 100, closed, 4), 0, "closed once");
    incident_tracker_free(t);
}

Test(incident, restore_keeps_the_newest_incident_of_an_entity)
{
    struct incident_tracker *t = tracker(16);
    struct vigil_incident newer, older;
    memset(&newer, 0, sizeof newer);
    newer.id = 7;
    newer.entity = ip4("203.0.113.9");
    newer.status = INCIDENT_OPEN;
    newer.last_seen_ns = 2000 * SEC;
    older = newer;
    older.id = 3;
    older.last_seen_ns = 1000 * SEC;
    incident_restore(t, &newer, newer.last_seen_ns); /* newest first, as the store lists them */
    incident_restore(t, &older, older.last_seen_ns);
    uint64_t next_inc = 100;
    struct vigil_incident inc;
    struct vigil_alert a = alert(3, "203.0.113.9", 2100 * SEC, ALERT_HIGH, INITIAL);
    a.id = 1;
    cr_assert_eq(add(t, &a, &next_inc, &inc), 1);
    cr_assert_eq(inc.id, 7, "the alert extends the newest incident");
    incident_tracker_free(t);
}

Test(incident, phases_follow_the_kill_chain)
{
    cr_assert_eq(incident_phase(0), 0);
    cr_assert_eq(incident_phase(RECON), 1);
    cr_assert_eq(incident_phase(DISC | CRED), 2);
    cr_assert_eq(incident_phase(1u << TACTIC_EXECUTION), 3);
    cr_assert_eq(incident_phase(RECON | (1u << TACTIC_IMPACT)), 4);
    cr_assert_str_eq(incident_label(70), "critical");
    cr_assert_str_eq(incident_label(45), "high");
    cr_assert_str_eq(incident_label(25), "medium");
    cr_assert_str_eq(incident_label(24), "low");
}

Test(rule_meta, tags_give_tactics_and_techniques_in_either_spelling)
{
    struct rule_meta_table *t = rule_meta_new(4);
    uint8_t u[16] = {9};
    cr_assert_eq(rule_meta_add(t, u, "id-9", "Web SQL Injection", 4,
                               "attack.initial-access,attack.t1190,attack.credential_access,attack.t1595.002,cve.2021",
                               ALERT_DETECTION),
                 0);
    const struct rule_meta *m = rule_meta_find(t, u);
    cr_assert_not_null(m);
    cr_assert_eq(m->level, ALERT_HIGH);
    cr_assert_eq(m->tactics, INITIAL | CRED);
    cr_assert_eq(m->n_techniques, 2);
    cr_assert_eq(m->techniques[0], 1190000);
    cr_assert_eq(m->techniques[1], 1595002);
    uint8_t other[16] = {8};
    cr_assert_null(rule_meta_find(t, other));
    rule_meta_free(t);
}
