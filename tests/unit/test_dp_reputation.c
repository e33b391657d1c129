/* IP reputation lists on DPDK FIB tables: formats, nested prefixes across
 * lists, edges, errors, coexisting sets, and 1 M prefixes against brute force. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rte_malloc.h>
#include <rte_lcore.h>

#include "dataplane/reputation.h"
#include "test_support.h"

/* 2 tables at 64 MiB each plus the prefixes: the default -m 256 is tight. */
static void eal_init_mb(const char *mb)
{
    const char *args[] = {"-m", mb};
    test_eal_init(args, 2);
}

static struct vigil_ip ip(const char *s)
{
    struct vigil_ip a;
    memset(&a, 0, sizeof a);
    if (inet_pton(AF_INET, s, a.addr) == 1)
        a.family = 4;
    else if (inet_pton(AF_INET6, s, a.addr) == 1)
        a.family = 6;
    else
        cr_assert_fail("test address %s", s);
    return a;
}

static uint32_t look(const struct reputation *r, const char *addr)
{
    struct vigil_ip a = ip(addr);
    return reputation_lookup(r, &a);
}

/* Files made by one test, removed by cleanup(). */
static char made[32][PATH_MAX];
static unsigned n_made;

static struct reputation_list_config list(const char *name, const char *text)
{
    struct reputation_list_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    char file[96];
    snprintf(file, sizeof file, "%s-%u.txt", name, n_made);
    snprintf(c.path, sizeof c.path, "%s", tmp_path(file));
    write_text(c.path, text);
    if (n_made < 32)
        snprintf(made[n_made++], PATH_MAX, "%s", c.path);
    return c;
}

static void cleanup(const char *dir)
{
    for (unsigned i = 0; i < n_made; i++)
        unlink(made[i]);
    n_made = 0;
    rmdir(dir);
}

static uint64_t heap_bytes(void)
{
    uint64_t sum = 0;
    for (unsigned i = 0; i < rte_socket_count(); i++) {
        struct rte_malloc_socket_stats s;
        if (rte_malloc_get_socket_stats(rte_socket_id_by_idx(i), &s) == 0)
            sum += s.heap_allocsz_bytes;
    }
    return sum;
}

static struct reputation *build(const struct reputation_list_config *l, unsigned n)
{
    struct reputation *r = NULL;
    char err[512];
    cr_assert_eq(reputation_build(l, n, SOCKET_ID_ANY, &r, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(r);
    return r;
}

Test(reputation, exact_and_cidr_v4_v6)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[2] = {
        list("botnet", "192.0.2.7\n198.51.100.0/24\n2001:db8::1\n2001:db8:1::/48\n"),
        list("tor_exit", "203.0.113.0/25\n2001:db8:ff::/64\n"),
    };
    struct reputation *r = build(l, 2);
    cr_assert_eq(reputation_list_count(r), 2);
    cr_assert_str_eq(reputation_list_name(r, 0), "botnet");
    cr_assert_str_eq(reputation_list_name(r, 1), "tor_exit");
    cr_assert_null(reputation_list_name(r, 2));

    cr_assert_eq(look(r, "192.0.2.7"), 1);
    cr_assert_eq(look(r, "192.0.2.6"), 0);
    cr_assert_eq(look(r, "192.0.2.8"), 0);
    cr_assert_eq(look(r, "198.51.100.0"), 1);
    cr_assert_eq(look(r, "198.51.100.255"), 1);
    cr_assert_eq(look(r, "198.51.101.0"), 0);
    cr_assert_eq(look(r, "203.0.113.127"), 2);
    cr_assert_eq(look(r, "203.0.113.128"), 0);
    cr_assert_eq(look(r, "2001:db8::1"), 1);
    cr_assert_eq(look(r, "2001:db8::2"), 0);
    cr_assert_eq(look(r, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"), 1);
    cr_assert_eq(look(r, "2001:db8:2::"), 0);
    cr_assert_eq(look(r, "2001:db8:ff::1234"), 2);
    cr_assert_eq(look(r, "2001:db8:ff:1::"), 0);
    cr_assert_eq(look(r, "::ffff:192.0.2.7"), 0, "a mapped address is IPv6: not in the IPv4 table");
    struct vigil_ip absent = {0};
    cr_assert_eq(reputation_lookup(r, &absent), 0);

    /* Bulk answers equal single ones, across chunk boundaries and families. */
    const char *mix[] = {"192.0.2.7", "2001:db8::1", "10.0.0.1", "203.0.113.1", "2001:db8:ff::1", "::1",
                         "198.51.100.9", "2001:db8:1::77"};
    enum { NB = 75 };
    struct vigil_ip ips[NB];
    uint32_t masks[NB];
    for (unsigned i = 0; i < NB; i++)
        ips[i] = i % 9 == 8 ? absent : ip(mix[i % 8]);
    reputation_lookup_bulk(r, ips, masks, NB);
    for (unsigned i = 0; i < NB; i++)
        cr_assert_eq(masks[i], reputation_lookup(r, &ips[i]), "bulk[%u]", i);
    reputation_lookup_bulk(r, ips, masks, 0);

    const struct reputation_stats *st = reputation_get_stats(r);
    cr_assert_eq(st->list[0].entries4, 2);
    cr_assert_eq(st->list[0].entries6, 2);
    cr_assert_eq(st->list[1].entries4, 1);
    cr_assert_eq(st->list[1].entries6, 1);
    cr_assert_eq(st->prefixes4, 3);
    cr_assert_eq(st->prefixes6, 3);
    cr_assert_gt(st->memory_bytes, 128ull << 20, "two 64 MiB first levels at least");
    cr_assert_gt(st->build_ns, 0);
    reputation_free(r);
    cleanup(dir);
}

/* A more specific prefix must carry the lists of every prefix covering it,
 * whatever the list order and the order of lines in the files. */
static void check_nested(const unsigned bit[3], bool covering_last)
{
    const char *text[3][2] = {
        {"10.0.0.0/8\n2001:db8::/32\n", "2001:db8::/32\n10.0.0.0/8\n"},
        {"10.1.2.0/24\n2001:db8:1::/48\n", "2001:db8:1::/48\n10.1.2.0/24\n"},
        {"10.1.2.3/32\n2001:db8:1::5/128\n", "2001:db8:1::5/128\n10.1.2.3/32\n"},
    };
    const char *names[3] = {"a", "b", "c"};
    struct reputation_list_config l[3];
    for (unsigned i = 0; i < 3; i++) {
        /* covering_last: the most specific list first, its lines reversed too */
        unsigned which = covering_last ? 2 - i : i;
        l[bit[which]] = list(names[which], text[which][covering_last]);
    }
    struct reputation *r = build(l, 3);
    uint32_t A = 1u << bit[0], B = 1u << bit[1], C = 1u << bit[2];
    cr_assert_eq(look(r, "10.1.2.3"), A | B | C);
    cr_assert_eq(look(r, "10.1.2.4"), A | B);
    cr_assert_eq(look(r, "10.1.2.2"), A | B);
    cr_assert_eq(look(r, "10.2.0.1"), A);
    cr_assert_eq(look(r, "10.1.3.3"), A);
    cr_assert_eq(look(r, "11.1.2.3"), 0);
    cr_assert_eq(look(r, "2001:db8:1::5"), A | B | C);
    cr_assert_eq(look(r, "2001:db8:1::6"), A | B);
    cr_assert_eq(look(r, "2001:db8:2::5"), A);
    cr_assert_eq(look(r, "2001:db9:1::5"), 0);
    cr_assert_str_eq(reputation_list_name(r, bit[0]), "a");
    cr_assert_str_eq(reputation_list_name(r, bit[2]), "c");
    reputation_free(r);
}

Test(reputation, nested_prefixes_or_masks_any_order)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    check_nested((const unsigned[3]){0, 1, 2}, false);
    check_nested((const unsigned[3]){0, 1, 2}, true);
    check_nested((const unsigned[3]){2, 1, 0}, false);
    check_nested((const unsigned[3]){2, 0, 1}, true);
    cleanup(dir);
}

/* All 16 lists, each one level deeper inside the previous: every bit, up to
 * the last one, must survive. */
Test(reputation, sixteen_nested_lists)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[REPUTATION_MAX_LISTS];
    for (unsigned i = 0; i < REPUTATION_MAX_LISTS; i++) {
        char name[16], text[64];
        snprintf(name, sizeof name, "l%u", i);
        snprintf(text, sizeof text, "172.16.0.0/%u\n", 12 + i);     /* /12 .. /27 */
        l[REPUTATION_MAX_LISTS - 1 - i] = list(name, text);          /* deepest is list 0 */
    }
    struct reputation *r = build(l, REPUTATION_MAX_LISTS);
    cr_assert_eq(look(r, "172.16.0.1"), 0xFFFF);
    cr_assert_eq(look(r, "172.16.0.32"), 0xFFFE, "outside the /27 only");
    cr_assert_eq(look(r, "172.31.255.255"), 1u << 15, "inside the /12 only");
    cr_assert_eq(look(r, "172.32.0.0"), 0);
    reputation_free(r);
    cleanup(dir);
}

Test(reputation, zero_and_host_prefix_edges)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[4] = {
        list("all", "0.0.0.0/0\n::/0\n"),
        list("top", "255.255.255.255/32\nffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128\n"),
        list("bottom", "0.0.0.0/32\n::/128\n"),
        list("half", "128.0.0.0/1\n8000::/1\n"),
    };
    struct reputation *r = build(l, 4);
    cr_assert_eq(look(r, "0.0.0.0"), 1 | 4);
    cr_assert_eq(look(r, "0.0.0.1"), 1);
    cr_assert_eq(look(r, "127.255.255.255"), 1);
    cr_assert_eq(look(r, "128.0.0.0"), 1 | 8);
    cr_assert_eq(look(r, "255.255.255.254"), 1 | 8);
    cr_assert_eq(look(r, "255.255.255.255"), 1 | 2 | 8);
    cr_assert_eq(look(r, "::"), 1 | 4);
    cr_assert_eq(look(r, "::1"), 1);
    cr_assert_eq(look(r, "7fff::1"), 1);
    cr_assert_eq(look(r, "8000::"), 1 | 8);
    cr_assert_eq(look(r, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), 1 | 8);
    cr_assert_eq(look(r, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), 1 | 2 | 8);
    const struct reputation_stats *st = reputation_get_stats(r);
    cr_assert_eq(st->list[0].entries4, 1, "a /0 is one entry");
    cr_assert_eq(st->prefixes4, 4, "/0 as two /1 (one merged with 128/1), two /32");
    reputation_free(r);
    cleanup(dir);
}

Test(reputation, comments_whitespace_and_trailing_text)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[1] = {
        list("feed", "\xEF\xBB\xBF# exported 2024-01-01\n"
                     "\n"
                     "   \t\n"
                     "  10.0.0.1  # trailing comment\n"
                     "\t10.0.0.2 ; SBL123\r\n"
                     "10.0.0.3#no space\n"
                     "10.0.0.4/32\tscore=90 source=x\n"
                     "10.0.1.0/24\r\n"
                     "# 10.0.0.5\n"
                     "2001:DB8::A\n"
                     "10.0.0.6"),                   /* no final newline */
    };
    struct reputation *r = build(l, 1);
    for (int i = 1; i <= 4; i++) {
        char a[16];
        snprintf(a, sizeof a, "10.0.0.%d", i);
        cr_assert_eq(look(r, a), 1, "%s", a);
    }
    cr_assert_eq(look(r, "10.0.0.5"), 0, "commented out");
    cr_assert_eq(look(r, "10.0.0.6"), 1);
    cr_assert_eq(look(r, "10.0.1.77"), 1);
    cr_assert_eq(look(r, "2001:db8::a"), 1);
    cr_assert_eq(reputation_get_stats(r)->list[0].entries4, 6);
    cr_assert_eq(reputation_get_stats(r)->list[0].entries6, 1);
    reputation_free(r);
    cleanup(dir);
}

/* Host bits under the prefix are cleared, as config_parse_cidr does. */
Test(reputation, host_bits_cleared)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[1] = {list("x", "10.9.8.7/16\n2001:db8::1/32\n")};
    struct reputation *r = build(l, 1);
    cr_assert_eq(look(r, "10.9.0.0"), 1);
    cr_assert_eq(look(r, "10.9.255.255"), 1);
    cr_assert_eq(look(r, "2001:db8:ffff::"), 1);
    reputation_free(r);
    cleanup(dir);
}

static void expect_error(const char *bad_line, const char *why)
{
    char text[256];
    snprintf(text, sizeof text, "# header\n192.0.2.1\n%s\n192.0.2.2\n", bad_line);
    struct reputation_list_config l[2] = {list("good", "10.0.0.0/8\n::1\n"), list("bad", text)};
    struct reputation *sentinel = (struct reputation *)&l, *r = sentinel;
    char err[512] = "";
    uint64_t before = heap_bytes();
    cr_assert_eq(reputation_build(l, 2, SOCKET_ID_ANY, &r, err, sizeof err), -1, "%s accepted", bad_line);
    cr_assert_eq(r, sentinel, "*out untouched on error");
    cr_assert_eq(heap_bytes(), before, "nothing left allocated after '%s'", bad_line);
    char where[PATH_MAX + 16];
    snprintf(where, sizeof where, "%s:3: ", l[1].path);
    cr_assert(strstr(err, where), "error names file:line: %s", err);
    cr_assert(strstr(err, why), "'%s' in: %s", why, err);
    cr_assert(strstr(err, "'bad'"), "error names the list: %s", err);
}

Test(reputation, malformed_lines_fail_whole_build)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    expect_error("10.0.0.300", "'10.0.0.300' is not an IPv4/IPv6 address");
    expect_error("10.0.0.0/33", "'10.0.0.0/33' has a bad prefix length (IPv4 takes /0../32)");
    expect_error("2001:db8::/129", "bad prefix length (IPv6 takes /0../128)");
    expect_error("10.0.0.0/", "bad prefix length");
    expect_error("10.0.0.0/-1", "bad prefix length");
    expect_error("10.0.0.0/8x", "bad prefix length");
    expect_error("evil.example.com", "'evil.example.com' is not");
    expect_error("10.0.0.1,malware", "is not");
    expect_error("10.0.0.1;x", "is not");
    expect_error("\x01\x02junk\x7f", "'??junk?' is not");
    char longtok[300];
    memset(longtok, 'a', sizeof longtok - 1);
    longtok[sizeof longtok - 1] = '\0';
    expect_error(longtok, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...' is too long");

    /* A NUL byte inside an entry is an error, not a silently shorter entry. */
    struct reputation_list_config n[1] = {list("nul", "")};
    FILE *f = fopen(n[0].path, "wb");
    cr_assert_not_null(f);
    fwrite("10.0.0.1\n10.0.0.2\0" "5\n", 1, 20, f);
    fclose(f);
    struct reputation *r = NULL;
    char err[512];
    cr_assert_eq(reputation_build(n, 1, SOCKET_ID_ANY, &r, err, sizeof err), -1);
    cr_assert(strstr(err, ":2: '10.0.0.2?5' contains a NUL byte"), "%s", err);
    cr_assert_null(r);

    struct reputation_list_config m[1];
    memset(m, 0, sizeof m);
    strcpy(m[0].name, "missing");
    strcpy(m[0].path, "/nonexistent/vigil/list.txt");
    cr_assert_eq(reputation_build(m, 1, SOCKET_ID_ANY, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/vigil/list.txt") && strstr(err, "No such file"), "%s", err);
    snprintf(m[0].path, sizeof m[0].path, "%s", dir);
    cr_assert_eq(reputation_build(m, 1, SOCKET_ID_ANY, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "Is a directory"), "%s", err);
    cleanup(dir);
}

/* A set larger than the DPDK heap fails with the size it needed, after the
 * IPv4 table was already created: that one must be freed again. */
Test(reputation, heap_exhaustion_fails_cleanly)
{
    test_eal_init(NULL, 0);                    /* -m 256 */
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[2] = {list("v4", "10.0.0.0/8\n"), list("v6", "")};
    FILE *f = fopen(l[1].path, "w");
    cr_assert_not_null(f);
    for (unsigned i = 0; i < 20000; i++)         /* 13 tbl8 groups each: 260 MiB */
        fprintf(f, "2001:db8:%x::%x/128\n", i, i);
    cr_assert_eq(fclose(f), 0);
    struct reputation *r = NULL;
    char err[512];
    uint64_t before = heap_bytes();
    cr_assert_eq(reputation_build(l, 2, SOCKET_ID_ANY, &r, err, sizeof err), -1);
    cr_assert_null(r);
    cr_assert(strstr(err, "cannot create the IPv6 table (20000 prefixes") && strstr(err, "raise -m"), "%s", err);
    cr_assert_eq(heap_bytes(), before, "the IPv4 table was freed");
    r = build(l, 1);                            /* the IPv4 list alone still builds */
    cr_assert_eq(look(r, "10.1.1.1"), 1);
    reputation_free(r);
    cleanup(dir);
}

Test(reputation, empty_lists_and_no_lists)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[2] = {list("empty", ""), list("comments", "# nothing yet\n\n")};
    struct reputation *r = build(l, 2);
    cr_assert_eq(reputation_list_count(r), 2);
    cr_assert_null(r->fib4, "no IPv4 prefix: no 64 MiB table");
    cr_assert_null(r->fib6);
    cr_assert_eq(look(r, "10.0.0.1"), 0);
    cr_assert_eq(look(r, "::1"), 0);
    cr_assert_eq(reputation_get_stats(r)->memory_bytes, 0);
    reputation_free(r);

    r = build(NULL, 0);
    cr_assert_eq(reputation_list_count(r), 0);
    cr_assert_eq(look(r, "10.0.0.1"), 0);
    reputation_free(r);

    struct reputation_list_config v6only[1] = {list("v6", "2001:db8::/32\n")};
    r = build(v6only, 1);
    cr_assert_null(r->fib4);
    cr_assert_not_null(r->fib6);
    cr_assert_eq(look(r, "10.0.0.1"), 0);
    cr_assert_eq(look(r, "2001:db8::1"), 1);
    reputation_free(r);
    reputation_free(NULL);
    cleanup(dir);
}

static void expect_invalid(const struct reputation_list_config *l, unsigned n, const char *why)
{
    char err[512] = "";
    cr_assert_eq(reputation_lists_validate(l, n, err, sizeof err), -1, "accepted: %s", why);
    cr_assert(strstr(err, why), "'%s' in: %s", why, err);
    struct reputation *r = NULL;
    cr_assert_eq(reputation_build(l, n, SOCKET_ID_ANY, &r, err, sizeof err), -1);
    cr_assert_null(r);
}

Test(reputation, list_names_validated)
{
    static struct reputation_list_config l[REPUTATION_MAX_LISTS + 1];
    char err[256];
    for (unsigned i = 0; i <= REPUTATION_MAX_LISTS; i++) {
        snprintf(l[i].name, sizeof l[i].name, "list-%u_x", i);
        strcpy(l[i].path, "/dev/null");
    }
    cr_assert_eq(reputation_lists_validate(l, REPUTATION_MAX_LISTS, err, sizeof err), 0, "%s", err);
    expect_invalid(l, REPUTATION_MAX_LISTS + 1, "at most 16");

    strcpy(l[1].name, "");
    expect_invalid(l, 2, "reputation list 1: name '' is empty");
    strcpy(l[1].name, "Botnet");
    expect_invalid(l, 2, "name 'Botnet' may only contain a-z, 0-9, '_' and '-'");
    strcpy(l[1].name, "bad name");
    expect_invalid(l, 2, "may only contain");
    strcpy(l[1].name, "dot.name");
    expect_invalid(l, 2, "may only contain");
    memset(l[1].name, 'a', sizeof l[1].name);                 /* no NUL at all */
    expect_invalid(l, 2, "is longer than 63 characters");
    memset(l[1].name, 'a', 63);
    l[1].name[63] = '\0';
    cr_assert_eq(reputation_lists_validate(l, 2, err, sizeof err), 0, "63 characters: %s", err);
    strcpy(l[1].name, "list-0_x");
    expect_invalid(l, 2, "name 'list-0_x' is also list 0's");
    strcpy(l[1].name, "ok");
    l[1].path[0] = '\0';
    expect_invalid(l, 2, "reputation list 'ok': no path");
}

/* A reload builds the new set while the old one is still in use. */
Test(reputation, two_sets_coexist)
{
    eal_init_mb("768");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config a[1] = {list("x", "10.0.0.0/8\n2001:db8::/32\n")};
    struct reputation_list_config b[2] = {list("x", "10.1.0.0/16\n"), list("y", "10.0.0.0/8\n2001:db8::/48\n")};
    struct reputation *old = build(a, 1);
    struct reputation *new = build(b, 2);
    cr_assert_neq(reputation_get_stats(old)->generation, reputation_get_stats(new)->generation);
    cr_assert_eq(look(old, "10.1.2.3"), 1);
    cr_assert_eq(look(new, "10.1.2.3"), 1 | 2);
    cr_assert_eq(look(old, "10.2.0.1"), 1);
    cr_assert_eq(look(new, "10.2.0.1"), 2);
    cr_assert_eq(look(old, "2001:db8:1::1"), 1);
    cr_assert_eq(look(new, "2001:db8:1::1"), 0);
    cr_assert_eq(look(new, "2001:db8::1"), 2);
    reputation_free(old);                      /* after the RCU grace period */
    cr_assert_eq(look(new, "10.1.2.3"), 1 | 2);
    cr_assert_eq(look(new, "2001:db8::1"), 2);
    /* and once more, so names of freed sets are not reused by accident */
    struct reputation *third = build(a, 1);
    cr_assert_eq(look(third, "10.2.0.1"), 1);
    cr_assert_eq(look(new, "10.2.0.1"), 2);
    reputation_free(new);
    reputation_free(third);
    cleanup(dir);
}

/* Workers share one set read-only: lookups from several threads at once see
 * the same answers as one thread. */
struct reader {
    const struct reputation *r;
    const struct vigil_ip *ips;
    const uint32_t *want;
    unsigned n;
    unsigned wrong;
};

static void *reader_main(void *arg)
{
    struct reader *rd = arg;
    uint32_t masks[64];
    for (unsigned round = 0; round < 200; round++) {
        for (unsigned i = 0; i < rd->n; i++)
            rd->wrong += reputation_lookup(rd->r, &rd->ips[i]) != rd->want[i];
        reputation_lookup_bulk(rd->r, rd->ips, masks, rd->n);
        for (unsigned i = 0; i < rd->n; i++)
            rd->wrong += masks[i] != rd->want[i];
    }
    return NULL;
}

Test(reputation, concurrent_lookups)
{
    eal_init_mb("512");
    const char *dir = test_tmpdir("rep");
    struct reputation_list_config l[2] = {list("a", "10.0.0.0/8\n2001:db8::/32\n"),
                                          list("b", "10.1.2.0/24\n10.1.2.3\n2001:db8:1::/48\n")};
    struct reputation *r = build(l, 2);
    const char *addrs[] = {"10.1.2.3", "10.1.2.4", "10.9.9.9", "11.0.0.1", "2001:db8:1::1", "2001:db8:2::1", "::1"};
    enum { N = 64, THREADS = 4 };
    struct vigil_ip ips[N];
    uint32_t want[N];
    for (unsigned i = 0; i < N; i++) {
        ips[i] = ip(addrs[i % 7]);
        want[i] = reputation_lookup(r, &ips[i]);
    }
    cr_assert_eq(want[0], 3);
    struct reader rd[THREADS];
    pthread_t th[THREADS];
    for (unsigned t = 0; t < THREADS; t++) {
        rd[t] = (struct reader){.r = r, .ips = ips, .want = want, .n = N};
        cr_assert_eq(pthread_create(&th[t], NULL, reader_main, &rd[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(rd[t].wrong, 0, "thread %u", t);
    }
    reputation_free(r);
    cleanup(dir);
}

/* xorshift64*: reproducible addresses without libc's rand() state. */
static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd32(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

static uint32_t depth_mask(unsigned d) { return d ? ~0u << (32 - d) : 0; }

static uint32_t lookup4(const struct reputation *r, uint32_t a)
{
    struct vigil_ip v = {.family = 4, .addr = {(uint8_t)(a >> 24), (uint8_t)(a >> 16), (uint8_t)(a >> 8), (uint8_t)a}};
    return reputation_lookup(r, &v);
}

/* 1 M random IPv4 prefixes (/16../32, so many nest across lists) in 3 lists;
 * sampled lookups must equal a scan of every prefix. */
Test(reputation, million_prefixes_match_brute_force, .timeout = 600)
{
    eal_init_mb("1536");
    const char *dir = test_tmpdir("rep");
    enum { N = 1000000, LISTS = 3, SAMPLES = 1000 };
    uint32_t *net = malloc(N * sizeof *net), *pm = malloc(N * sizeof *pm);
    uint8_t *bit = malloc(N);
    cr_assert(net && pm && bit);
    struct reputation_list_config l[LISTS];
    FILE *f[LISTS];
    for (unsigned i = 0; i < LISTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "big%u", i);
        l[i] = list(name, "# generated\n");
        f[i] = fopen(l[i].path, "a");
        cr_assert_not_null(f[i]);
    }
    for (unsigned i = 0; i < N; i++) {
        unsigned d = 16 + rnd32() % 17;
        pm[i] = depth_mask(d);
        net[i] = rnd32() & pm[i];
        bit[i] = (uint8_t)(rnd32() % LISTS);
        fprintf(f[bit[i]], "%u.%u.%u.%u/%u\n", net[i] >> 24, (net[i] >> 16) & 255, (net[i] >> 8) & 255,
                net[i] & 255, d);
    }
    for (unsigned i = 0; i < LISTS; i++)
        cr_assert_eq(fclose(f[i]), 0);

    struct reputation *r = build(l, LISTS);
    const struct reputation_stats *st = reputation_get_stats(r);
    uint64_t entries = 0;
    for (unsigned i = 0; i < LISTS; i++)
        entries += st->list[i].entries4;
    cr_assert_eq(entries, N);
    cr_log_info("1M IPv4 prefixes: built in %.2f s (parse %.2f s), %llu in table, %llu tbl8 groups, "
                "%.0f MiB", st->build_ns / 1e9, st->parse_ns / 1e9, (unsigned long long)st->prefixes4,
                (unsigned long long)st->tbl8_groups4, st->memory_bytes / 1048576.0);

    unsigned hits = 0;
    static struct vigil_ip sampled[SAMPLES];
    static uint32_t single[SAMPLES], bulk[SAMPLES];
    for (unsigned s = 0; s < SAMPLES; s++) {
        uint32_t a;
        if (s % 2) {
            a = rnd32();                                   /* anywhere */
        } else {
            unsigned k = rnd32() % N;                      /* inside a listed prefix */
            a = net[k] | (rnd32() & ~pm[k]);
            if (s % 8 == 0)
                a = net[k];                                /* its first address */
            else if (s % 8 == 2)
                a = net[k] | ~pm[k];                       /* its last address */
        }
        uint32_t want = 0;
        for (unsigned i = 0; i < N; i++)
            if (((a ^ net[i]) & pm[i]) == 0)
                want |= 1u << bit[i];
        uint32_t got = lookup4(r, a);
        cr_assert_eq(got, want, "%u.%u.%u.%u: got %#x, want %#x", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
                     a & 255, got, want);
        hits += want != 0;
        sampled[s] = (struct vigil_ip){.family = 4, .addr = {(uint8_t)(a >> 24), (uint8_t)(a >> 16),
                                                             (uint8_t)(a >> 8), (uint8_t)a}};
        single[s] = got;
    }
    cr_assert_gt(hits, SAMPLES / 2, "the sample exercises listed addresses");
    reputation_lookup_bulk(r, sampled, bulk, SAMPLES);
    cr_assert_arr_eq(bulk, single, sizeof bulk, "bulk lookups agree with single ones");
    reputation_free(r);
    free(net);
    free(pm);
    free(bit);
    cleanup(dir);
}

/* Depth mix of IPv6 feeds: a few allocations, many sites, subnets and hosts. */
static unsigned rand_depth6(void)
{
    unsigned x = rnd32() % 100;
    return x < 5 ? 32 : x < 35 ? 48 : x < 45 ? 56 : x < 80 ? 64 : x < 95 ? 128 : 25 + rnd32() % 104;
}

/* Half the addresses under 64 shared /24s so prefixes nest across lists. */
static void rand_addr6(uint8_t a[16])
{
    for (int i = 0; i < 16; i++)
        a[i] = (uint8_t)rnd32();
    a[0] = (uint8_t)(0x20 | (a[0] & 0x1f));
    if (a[15] & 1) {
        unsigned hot = rnd32() % 64;
        a[0] = 0x2a;
        a[1] = (uint8_t)hot;
        a[2] = 0x10;
    }
}

static bool covers6(const uint8_t net[16], unsigned d, const uint8_t a[16])
{
    unsigned full = d / 8, rem = d % 8;
    if (memcmp(net, a, full))
        return false;
    return !rem || ((net[full] ^ a[full]) & (uint8_t)(0xFF << (8 - rem))) == 0;
}

/* The IPv6 trie with tens of thousands of nested prefixes against a scan. */
Test(reputation, ipv6_prefixes_match_brute_force, .timeout = 600)
{
    eal_init_mb("1024");
    const char *dir = test_tmpdir("rep");
    enum { N = 30000, LISTS = 3, SAMPLES = 2000 };
    static uint8_t net[N][16], dep[N], bit[N];
    struct reputation_list_config l[LISTS];
    FILE *f[LISTS];
    for (unsigned i = 0; i < LISTS; i++) {
        char name[16];
        snprintf(name, sizeof name, "v6_%u", i);
        l[i] = list(name, "");
        f[i] = fopen(l[i].path, "w");
        cr_assert_not_null(f[i]);
    }
    for (unsigned i = 0; i < N; i++) {
        dep[i] = (uint8_t)rand_depth6();
        rand_addr6(net[i]);
        for (unsigned b = dep[i]; b < 128; b++)
            net[i][b / 8] &= (uint8_t)~(0x80u >> (b % 8));
        bit[i] = (uint8_t)(rnd32() % LISTS);
        char txt[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, net[i], txt, sizeof txt);
        fprintf(f[bit[i]], "%s/%u\n", txt, dep[i]);
    }
    for (unsigned i = 0; i < LISTS; i++)
        cr_assert_eq(fclose(f[i]), 0);

    struct reputation *r = build(l, LISTS);
    const struct reputation_stats *st = reputation_get_stats(r);
    cr_log_info("%u IPv6 prefixes: built in %.2f s, %llu in table, %llu tbl8 groups, %.0f MiB", N,
                st->build_ns / 1e9, (unsigned long long)st->prefixes6, (unsigned long long)st->tbl8_groups6,
                st->memory_bytes / 1048576.0);
    unsigned hits = 0;
    static struct vigil_ip sampled[SAMPLES];
    static uint32_t single[SAMPLES], bulk[SAMPLES];
    for (unsigned s = 0; s < SAMPLES; s++) {
        struct vigil_ip a = {.family = 6};
        rand_addr6(a.addr);
        if (s % 2 == 0) {                         /* inside a listed prefix */
            unsigned k = rnd32() % N;
            for (unsigned b = 0; b < dep[k]; b++) {
                uint8_t m = (uint8_t)(0x80u >> (b % 8));
                a.addr[b / 8] = (uint8_t)((a.addr[b / 8] & ~m) | (net[k][b / 8] & m));
            }
        }
        uint32_t want = 0;
        for (unsigned i = 0; i < N; i++)
            if (covers6(net[i], dep[i], a.addr))
                want |= 1u << bit[i];
        uint32_t got = reputation_lookup(r, &a);
        char txt[INET6_ADDRSTRLEN];
        cr_assert_eq(got, want, "%s: got %#x, want %#x", inet_ntop(AF_INET6, a.addr, txt, sizeof txt), got, want);
        hits += want != 0;
        sampled[s] = a;
        single[s] = got;
    }
    cr_assert_geq(hits, SAMPLES / 2);
    reputation_lookup_bulk(r, sampled, bulk, SAMPLES);
    cr_assert_arr_eq(bulk, single, sizeof bulk, "bulk lookups agree with single ones");
    reputation_free(r);
    cleanup(dir);
}
