/* Field registry, per-event fields, log sources, the Hyperscan DB cache and
 * diagnostics: the small pieces the parser and detection engines stand on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "engine/diag.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"

Test(fields, registry_builtins_and_interning)
{
    struct field_registry *r = field_registry_new();
    cr_assert_not_null(r);
    cr_assert_eq(field_registry_find(r, "message"), FID_MESSAGE);
    cr_assert_eq(field_registry_find(r, "process.name"), FID_PROCESS_NAME);
    cr_assert_str_eq(field_registry_name(r, FID_OBSERVER_IP), "observer.ip");
    field_id a, b;
    cr_assert_eq(field_registry_intern(r, "source.ip", &a), 0);
    cr_assert_eq(a, FID__BUILTIN);
    cr_assert_eq(field_registry_intern(r, "source.ip", &b), 0);
    cr_assert_eq(a, b, "interning twice gives one id");
    cr_assert_eq(field_registry_find(r, "destination.ip"), -1);
    cr_assert_eq(field_registry_intern(r, "bad name", &a), -1);
    cr_assert_eq(field_registry_intern(r, "", &a), -1);
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(field_registry_intern(r, longname, &a), -1);
    field_registry_free(r);
}

Test(fields, registry_is_bounded)
{
    struct field_registry *r = field_registry_new();
    unsigned added = 0;
    char name[32];
    field_id id;
    for (unsigned i = 0; i < FIELD_REGISTRY_MAX + 10; i++) {
        snprintf(name, sizeof name, "custom.f%u", i);
        added += field_registry_intern(r, name, &id) == 0;
    }
    cr_assert_eq(added, FIELD_REGISTRY_MAX - FID__BUILTIN);
    cr_assert_eq(field_registry_count(r), FIELD_REGISTRY_MAX);
    cr_assert_eq(field_registry_find(r, "custom.f5"), FID__BUILTIN + 5);
    field_registry_free(r);
}

Test(fields, event_fields_limits_are_counted)
{
    struct event_fields ef;
    cr_assert_eq(event_fields_init(&ef, 4, 16), 0);
    cr_assert_eq(event_fields_add_int(&ef, 10, 1), 0);
    cr_assert_eq(event_fields_add_int(&ef, 11, 2), 0);
    cr_assert_eq(event_fields_add_str(&ef, 12, "x", 1), 0);
    cr_assert_eq(event_fields_add_int(&ef, 10, 3), 0, "a second value for one id is kept");
    cr_assert_eq(event_fields_add_int(&ef, 13, 4), -1);
    cr_assert_eq(ef.dropped, 1);
    cr_assert_eq(event_fields_get(&ef, 10)->v.i, 1, "lookups return the first value");
    cr_assert_null(event_fields_get(&ef, 13));
    cr_assert_not_null(event_fields_alloc(&ef, 10));
    cr_assert_not_null(event_fields_alloc(&ef, 6));
    cr_assert_null(event_fields_alloc(&ef, 1), "arena full");
    cr_assert_eq(ef.dropped, 2);
    event_fields_reset(&ef);
    cr_assert_eq(ef.n, 0);
    cr_assert_eq(ef.dropped, 0);
    cr_assert_not_null(event_fields_alloc(&ef, 16), "reset empties the arena");
    event_fields_free(&ef);

    cr_assert_eq(event_fields_init(&ef, 100000, 0), 0);
    cr_assert_eq(ef.max, FIELDS_HARD_MAX, "the hard limit caps the configured one");
    event_fields_free(&ef);
}

Test(fields, from_syslog_and_ip_parsing)
{
    struct vigil_event ev;
    memset(&ev, 0, sizeof ev);
    ev.message = (struct vigil_str){"hello", 5};
    ev.process_name = (struct vigil_str){"sshd", 4};
    ev.pid = 42;
    ev.facility = 4;
    ev.severity = 6;
    ev.observer_ip.family = 4;
    ev.observer_ip.addr[0] = 192;
    struct event_fields ef;
    event_fields_init(&ef, 64, 0);
    event_fields_from_syslog(&ef, &ev);
    cr_assert_eq(event_fields_get(&ef, FID_PROCESS_PID)->v.i, 42);
    cr_assert_eq(event_fields_get(&ef, FID_MESSAGE)->v.s.len, 5);
    cr_assert_null(event_fields_get(&ef, FID_HOST_HOSTNAME));
    cr_assert_eq(event_fields_get(&ef, FID_OBSERVER_IP)->v.ip.addr[0], 192);
    event_fields_free(&ef);

    struct vigil_ip ip;
    cr_assert(field_parse_ip("10.1.2.3", 8, &ip));
    cr_assert_eq(ip.family, 4);
    cr_assert(field_parse_ip("2001:db8::1]", 11, &ip), "only len bytes are read");
    cr_assert_eq(ip.family, 6);
    cr_assert(!field_parse_ip("10.1.2", 6, &ip));
    cr_assert(!field_parse_ip("", 0, &ip));
    cr_assert(!field_parse_ip("1.2.3.4 ", 8, &ip));
}

/* field_trim_end against a byte loop: every length up to 100 and every mix
 * of pad spaces, tabs and text near the vector boundaries (fixed-size frames
 * end in long runs of spaces; a tab or a word inside them stops the trim). */
Test(fields, trim_end_matches_a_byte_loop)
{
    char buf[128];
    uint64_t rng = 12345;
    for (unsigned len = 0; len <= 100; len++)
        for (unsigned round = 0; round < 200; round++) {
            for (unsigned i = 0; i < len; i++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                unsigned r = (unsigned)(rng >> 33) % 100;
                /* mostly spaces, so long runs cross 16- and 32-byte blocks */
                buf[i] = r < 85 ? ' ' : r < 90 ? '\t' : r < 95 ? 'x' : '\0';
            }
            uint32_t want = len;
            while (want && (buf[want - 1] == ' ' || buf[want - 1] == '\t'))
                want--;
            cr_assert_eq(field_trim_end(buf, len), want, "len %u round %u", len, round);
        }
    memset(buf, ' ', sizeof buf);
    cr_assert_eq(field_trim_end(buf, sizeof buf), 0);
    buf[0] = 'a';
    cr_assert_eq(field_trim_end(buf, sizeof buf), 1);
    buf[40] = 'b';
    cr_assert_eq(field_trim_end(buf, sizeof buf), 41);
}

Test(logsource, applies_and_interning)
{
    struct logsource_table *t = logsource_table_new();
    struct logsource sshd = {"linux", "sshd", ""}, linux_any = {"linux", "", ""}, web = {"", "", "webserver"};
    uint16_t a, b, c;
    cr_assert_eq(logsource_intern(t, &sshd, &a), 0);
    struct logsource sshd_upper = {"Linux", "SSHD", ""};
    cr_assert_eq(logsource_intern(t, &sshd_upper, &b), 0);
    cr_assert_eq(a, b, "keys compare case-insensitively");
    cr_assert_eq(logsource_intern(t, &web, &c), 0);
    cr_assert_neq(a, c);
    cr_assert(logsource_applies(&linux_any, &sshd));
    cr_assert(!logsource_applies(&sshd, &linux_any), "a sshd rule does not apply to all linux events");
    cr_assert(!logsource_applies(&web, &sshd));
    cr_assert(logsource_applies(logsource_get(t, 0), &web), "the empty log source applies to everything");
    char buf[128];
    logsource_format(&sshd, buf, sizeof buf);
    cr_assert_str_eq(buf, "product=linux service=sshd");
    logsource_table_free(t);
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
    (void)from;
    (void)to;
    (void)flags;
    *(unsigned *)ctx |= 1u << id;
    return 0;
}

static unsigned scan(hs_database_t *db, const char *text)
{
    hs_scratch_t *s = NULL;
    cr_assert_eq(hs_alloc_scratch(db, &s), HS_SUCCESS);
    unsigned hits = 0;
    cr_assert_eq(hs_scan(db, text, (unsigned)strlen(text), 0, s, on_match, &hits), HS_SUCCESS);
    hs_free_scratch(s);
    return hits;
}

Test(hsdb, cache_round_trip_reuses_databases)
{
    const char *exprs[] = {"^Failed password", "Invalid user"};
    unsigned flags[] = {HS_FLAG_SINGLEMATCH, HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS};
    unsigned ids[] = {0, 1};
    struct hsdb_patterns p = {exprs, flags, ids, NULL, 2};
    struct hsdb_cache *c = hsdb_cache_new();
    hs_database_t *db;
    int failed;
    char err[256];
    cr_assert_eq(hsdb_build(c, "t/a", &p, &db, &failed, err, sizeof err), 0, "%s", err);
    cr_assert_eq(scan(db, "Failed password for root"), 1u);
    cr_assert_eq(scan(db, "x INVALID USER y"), 2u);
    hs_free_database(db);

    char *blob;
    size_t len;
    cr_assert_eq(hsdb_cache_save(c, &blob, &len), 0);
    struct hsdb_cache *c2 = hsdb_cache_new();
    cr_assert_eq(hsdb_cache_load(c2, blob, len), 0);
    cr_assert_eq(hsdb_build(c2, "t/a", &p, &db, &failed, err, sizeof err), 0);
    unsigned compiled, reused;
    hsdb_cache_stats(c2, &compiled, &reused);
    cr_assert_eq(reused, 1);
    cr_assert_eq(compiled, 0);
    cr_assert_eq(scan(db, "Failed password for root"), 1u, "a deserialized database works");
    hs_free_database(db);

    /* Changed patterns under the same key: recompiled, not reused. */
    flags[1] = HS_FLAG_SINGLEMATCH;
    cr_assert_eq(hsdb_build(c2, "t/a", &p, &db, &failed, err, sizeof err), 0);
    hsdb_cache_stats(c2, &compiled, &reused);
    cr_assert_eq(compiled, 1);
    cr_assert_eq(scan(db, "x INVALID USER y"), 0u);
    hs_free_database(db);

    /* Truncated or corrupt blobs are refused, not trusted. */
    struct hsdb_cache *c3 = hsdb_cache_new();
    for (size_t cut = 0; cut < len; cut += 7)
        cr_assert_eq(hsdb_cache_load(c3, blob, cut), -1, "cut at %zu", cut);
    hsdb_cache_free(c3);
    free(blob);
    hsdb_cache_free(c);
    hsdb_cache_free(c2);
}

Test(hsdb, rejected_pattern_is_named)
{
    const char *exprs[] = {"fine", "(a)\\1"};
    unsigned flags[] = {0, 0}, ids[] = {0, 1};
    struct hsdb_patterns p = {exprs, flags, ids, NULL, 2};
    hs_database_t *db;
    int failed;
    char err[256];
    cr_assert_eq(hsdb_build(NULL, "t/bad", &p, &db, &failed, err, sizeof err), -1);
    cr_assert_eq(failed, 1);
    cr_assert_null(db);
    cr_assert(strlen(err) > 0);
}

Test(diag, bounded_and_counted)
{
    struct diag d;
    diag_init(&d);
    for (unsigned i = 0; i < DIAG_MAX_ENTRIES + 5; i++)
        diag_add(&d, i % 2 ? DIAG_WARNING : DIAG_ERROR, "rules/x.yml", i + 1, "rule-1", "problem %u", i);
    cr_assert_eq(d.n, DIAG_MAX_ENTRIES);
    cr_assert_eq(d.errors + d.warnings, DIAG_MAX_ENTRIES + 5);
    cr_assert_str_eq(d.entries[3].msg, "problem 3");
    cr_assert_eq(d.entries[3].line, 4);
    char *out = NULL;
    size_t outlen = 0;
    FILE *f = open_memstream(&out, &outlen);
    diag_print(&d, f);
    fclose(f);
    cr_assert(strstr(out, "rules/x.yml:1: error: [rule-1] problem 0\n"), "%.200s", out);
    cr_assert(strstr(out, "more errors"));
    free(out);
    diag_free(&d);
}
