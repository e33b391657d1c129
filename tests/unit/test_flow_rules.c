/* Flow rules (engine/flow_rules.h): the shipped pack on crafted records and
 * their near misses, every field and modifier, CIDR and port-set paths,
 * numeric boundaries, null/exists, the condition grammar, rejections with
 * file and line, signals, and the bounds of flow_rules_eval's output. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/diag.h"
#include "engine/flow_rules.h"
#include "engine/sigma.h"
#include "test_support.h"

static struct diag d;
static struct flow_ruleset *rs;
static const char *const reps[] = {"blocklist", "tor_exit"};
#define BLOCK 1u
#define TOR 2u

static bool have_dir; /* this test's directory (each Criterion test is a process) */

static void setup(void) { diag_init(&d); }

/* One directory per test, made on first use and removed at the end, so
 * tests that load hundreds of rule files leave nothing behind. */
static const char *tmp_file(const char *name)
{
    if (!have_dir)
        test_tmpdir("flowrules");
    have_dir = true;
    return tmp_path(name);
}

static void teardown(void)
{
    flow_rules_free(rs);
    rs = NULL;
    diag_free(&d);
    if (have_dir) {
        unlink(tmp_path("t.yml"));
        unlink(tmp_path("r.yml"));
        rmdir(tmp_path(""));
        have_dir = false;
    }
}

TestSuite(flow_rules, .init = setup, .fini = teardown);

static void load_pack(void)
{
    const char *dirs[] = {source_path("configs/flow-rules")};
    cr_assert_eq(flow_rules_load(dirs, 1, reps, 2, NULL, &rs, &d), 0);
    if (d.n)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors + d.warnings, 0);
}

static int rule_named(const char *name)
{
    for (unsigned i = 0; i < flow_rules_count(rs); i++)
        if (!strcmp(flow_rule_info(rs, i)->name, name))
            return (int)i;
    cr_assert_fail("no rule named %s", name);
    return -1;
}

/* Loads yaml as the file t.yml of a fresh directory; returns its path. */
static const char *load_text(const char *yaml)
{
    const char *p = tmp_file("t.yml");
    write_text(p, yaml);
    const char *paths[] = {p};
    cr_assert_eq(flow_rules_load(paths, 1, reps, 2, NULL, &rs, &d), 0);
    return p;
}

/* One rule that must load cleanly. */
static void load_ok(const char *yaml)
{
    load_text(yaml);
    if (d.n)
        diag_print(&d, stderr);
    cr_assert_eq(d.errors, 0);
    cr_assert_eq(flow_rules_count(rs), 1);
}

#define HEAD                                                                                          \
    "title: T\n"                                                                                      \
    "id: 11111111-2222-3333-4444-555555555555\n"                                                      \
    "logsource:\n"                                                                                    \
    "    category: flow\n"                                                                            \
    "detection:\n"
#define RID "11111111-2222-3333-4444-555555555555"

/* Expects the rule to be rejected with exactly one error containing want, on line. */
static void expect_error(const char *yaml, unsigned line, const char *want)
{
    const char *path = load_text(yaml);
    cr_assert_eq(d.errors, 1, "want one error (%s), got %u", want, d.errors);
    const struct diag_entry *e = &d.entries[0];
    cr_expect_str_eq(e->file, path);
    cr_expect_str_eq(e->what, RID);
    cr_expect(strstr(e->msg, want) != NULL, "message '%s' lacks '%s'", e->msg, want);
    cr_expect_eq(e->line, line, "line %u want %u (%s)", e->line, line, e->msg);
    cr_expect_eq(flow_rules_count(rs), 0);
}

/* ---- records ---- */

static void set_ip(struct vigil_ip *ip, const char *s)
{
    memset(ip, 0, sizeof *ip);
    if (inet_pton(AF_INET, s, ip->addr) == 1)
        ip->family = 4;
    else if (inet_pton(AF_INET6, s, ip->addr) == 1)
        ip->family = 6;
    else
        cr_assert_fail("bad address %s", s);
}

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10
#define URG 0x20
#define ECE 0x40
#define CWR 0x80

/* A one-way TCP record with everything a v9/IPFIX exporter usually sends. */
static struct nf_record tcp(const char *src, uint16_t sport, const char *dst, uint16_t dport, uint64_t packets,
                            uint64_t bytes, uint16_t flags)
{
    struct nf_record r;
    memset(&r, 0, sizeof r);
    set_ip(&r.src, src);
    set_ip(&r.dst, dst);
    set_ip(&r.observer, "192.0.2.254");
    r.src_port = sport;
    r.dst_port = dport;
    r.proto = 6;
    r.packets = packets;
    r.bytes = bytes;
    r.tcp_flags = flags;
    r.start_ns = 1700000000000000000LL;
    r.end_ns = r.start_ns + 1500000;
    r.export_ns = r.start_ns + 60000000000LL;
    r.version = 10;
    r.present = NF_HAS_SRC_IP | NF_HAS_DST_IP | NF_HAS_SRC_PORT | NF_HAS_DST_PORT | NF_HAS_PROTO | NF_HAS_BYTES |
                NF_HAS_PACKETS | NF_HAS_TCP_FLAGS | NF_HAS_START | NF_HAS_END;
    return r;
}

static struct nf_record udp(const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
    struct nf_record r = tcp(src, sport, dst, dport, 1, 80, 0);
    r.proto = 17;
    return r;
}

static unsigned matches(const struct nf_record *r, uint32_t rs_, uint32_t rd, uint32_t *out)
{
    return flow_rules_eval(rs, r, rs_, rd, out, 16);
}

/* Does rule idx fire on r? */
static bool fires_rep(int idx, const struct nf_record *r, uint32_t rep_src, uint32_t rep_dst)
{
    uint32_t out[16];
    unsigned n = matches(r, rep_src, rep_dst, out);
    for (unsigned i = 0; i < n && i < 16; i++)
        if (out[i] == (uint32_t)idx)
            return true;
    return false;
}

static bool fires(int idx, const struct nf_record *r) { return fires_rep(idx, r, 0, 0); }

/* The single loaded rule on r. */
static bool hit(const struct nf_record *r) { return fires(0, r); }

/* ---- the shipped pack ---- */

Test(flow_rules, pack_loads)
{
    load_pack();
    cr_assert_eq(flow_rules_count(rs), 4);
    static const char *const names[] = {"flow_large_transfer", "flow_rejected_probe", "flow_reputation_match",
                                        "flow_syn_probe"};
    static const uint8_t levels[] = {RULE_LEVEL_MEDIUM, RULE_LEVEL_LOW, RULE_LEVEL_HIGH, RULE_LEVEL_LOW};
    static const char *const tags[] = {"attack.t1048", "attack.t1046", "attack.t1071", "attack.t1046"};
    for (unsigned i = 0; i < 4; i++) {
        const struct rule_info *ri = flow_rule_info(rs, i);
        cr_expect_str_eq(ri->name, names[i]); /* file name order */
        cr_expect_eq(ri->level, levels[i], "%s", ri->name);
        cr_expect(strstr(ri->tags, tags[i]) != NULL, "%s tags %s", ri->name, ri->tags);
        cr_expect_str_eq(ri->author, "Vigil");
        cr_expect_eq(strlen(ri->id), 36);
        cr_expect(strstr(ri->file, "configs/flow-rules/") != NULL);
        cr_expect_eq(ri->line, 1);
        char hex[3];
        snprintf(hex, sizeof hex, "%02x", ri->uuid[0]);
        cr_expect(!strncmp(ri->id, hex, 2), "uuid %s from id %s", hex, ri->id);
    }
    cr_expect_null(flow_rule_info(rs, 4));
    uint64_t h = flow_rules_hash(rs);
    cr_expect_neq(h, 0);
    flow_rules_free(rs);
    rs = NULL;
    load_pack();
    cr_expect_eq(flow_rules_hash(rs), h, "hash is stable");
}

Test(flow_rules, pack_needs_the_blocklist)
{
    const char *dirs[] = {source_path("configs/flow-rules")};
    static const char *const other[] = {"spamhaus"};
    cr_assert_eq(flow_rules_load(dirs, 1, other, 1, NULL, &rs, &d), 0);
    cr_expect_eq(flow_rules_count(rs), 3);
    cr_assert_eq(d.errors, 1);
    cr_expect(strstr(d.entries[0].msg, "unknown reputation list 'blocklist'") != NULL, "%s", d.entries[0].msg);
    cr_expect(strstr(d.entries[0].msg, "lists: spamhaus") != NULL, "%s", d.entries[0].msg);
    cr_expect(strstr(d.entries[0].file, "flow_reputation_match.yml") != NULL);
}

Test(flow_rules, syn_probe)
{
    load_pack();
    int syn = rule_named("flow_syn_probe");
    struct nf_record r = tcp("203.0.113.66", 51234, "192.0.2.80", 22, 1, 44, SYN);
    cr_expect(fires(syn, &r));
    r.packets = 2; /* one retransmission */
    cr_expect(fires(syn, &r));
    r.tcp_flags = SYN | RST; /* half-open scan of an open port */
    cr_expect(fires(syn, &r));
    r.tcp_flags = SYN | ECE | CWR; /* ECN setup bits do not matter */
    cr_expect(fires(syn, &r));

    r.tcp_flags = SYN | ACK; /* near misses */
    cr_expect_not(fires(syn, &r));
    r.tcp_flags = SYN;
    r.packets = 3;
    cr_expect_not(fires(syn, &r));
    r.packets = 1;
    r.present &= ~NF_HAS_TCP_FLAGS;
    cr_expect_not(fires(syn, &r), "no flags: tcp.flags absent");
    r = tcp("203.0.113.66", 51234, "192.0.2.80", 22, 1, 44, SYN);
    r.proto = 17;
    cr_expect_not(fires(syn, &r), "UDP");
    r.proto = 6;
    r.present &= ~NF_HAS_PACKETS;
    cr_expect_not(fires(syn, &r), "packets absent");

    /* biflow: the replies are in network.packets; count what the source sent */
    r = tcp("203.0.113.66", 51234, "192.0.2.80", 22, 3, 144, SYN | RST);
    r.rev_packets = 1;
    r.rev_bytes = 44;
    r.present |= NF_HAS_REVERSE;
    cr_expect(fires(syn, &r));
    r.packets = 4;
    cr_expect_not(fires(syn, &r));
}

Test(flow_rules, rejected_probe)
{
    load_pack();
    int rej = rule_named("flow_rejected_probe");
    struct nf_record r = tcp("192.0.2.80", 22, "203.0.113.66", 51234, 1, 40, RST | ACK);
    cr_expect(fires(rej, &r));
    r.tcp_flags = RST;
    cr_expect(fires(rej, &r));
    r.tcp_flags = RST | ACK | PSH;
    cr_expect_not(fires(rej, &r));
    r.tcp_flags = RST;
    r.packets = 3;
    cr_expect_not(fires(rej, &r));
    r.packets = 2;
    cr_expect(fires(rej, &r));
    cr_expect_not(fires(rule_named("flow_syn_probe"), &r));
}

Test(flow_rules, reputation_match)
{
    load_pack();
    int rep = rule_named("flow_reputation_match");
    struct nf_record r = tcp("10.0.0.5", 50000, "198.51.100.7", 443, 12, 4000, SYN | ACK | PSH | FIN);
    cr_expect(fires_rep(rep, &r, 0, BLOCK));
    cr_expect(fires_rep(rep, &r, BLOCK, 0));
    cr_expect(fires_rep(rep, &r, BLOCK | TOR, TOR));
    cr_expect_not(fires_rep(rep, &r, TOR, TOR), "only another list");
    cr_expect_not(fires_rep(rep, &r, 0, 0));
    uint32_t out[4];
    cr_expect_eq(flow_rules_eval(rs, &r, 0, BLOCK, out, 4), 1, "nothing else fires on a normal flow");
}

Test(flow_rules, large_transfer)
{
    load_pack();
    int big = rule_named("flow_large_transfer");
    struct nf_record r = tcp("10.0.0.5", 50000, "198.51.100.7", 443, 800000, 2000000000ull, SYN | ACK | PSH | FIN);
    cr_expect(fires(big, &r));
    r.bytes = 1000000000;
    cr_expect(fires(big, &r), "boundary: gte");
    r.bytes = 999999999;
    cr_expect_not(fires(big, &r));
    r.bytes = 5000000000ull;
    static const char *const private_dst[] = {"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                                              "127.0.0.1", "fd00::1",   "fe80::1",        "::1"};
    for (size_t i = 0; i < sizeof private_dst / sizeof *private_dst; i++) {
        set_ip(&r.dst, private_dst[i]);
        cr_expect_not(fires(big, &r), "private destination %s", private_dst[i]);
    }
    static const char *const public_dst[] = {"172.32.0.1", "11.0.0.1", "2001:db8::1", "192.169.0.1"};
    for (size_t i = 0; i < sizeof public_dst / sizeof *public_dst; i++) {
        set_ip(&r.dst, public_dst[i]);
        cr_expect(fires(big, &r), "public destination %s", public_dst[i]);
    }
    r.present &= ~NF_HAS_DST_IP;
    cr_expect_not(fires(big, &r), "destination absent");
    r.present |= NF_HAS_DST_IP;
    r.present &= ~NF_HAS_BYTES;
    cr_expect_not(fires(big, &r), "bytes absent");
    r.present |= NF_HAS_BYTES;

    /* biflow: a large download is not an upload */
    r.present |= NF_HAS_REVERSE;
    r.rev_bytes = r.bytes - 1000;
    r.rev_packets = 1000;
    cr_expect_not(fires(big, &r));
    r.rev_bytes = 1000;
    cr_expect(fires(big, &r));
}

Test(flow_rules, pack_quiet_on_benign)
{
    load_pack();
    struct nf_record recs[] = {
        tcp("10.0.0.5", 50000, "198.51.100.7", 443, 30, 20000, SYN | ACK | PSH | FIN),
        tcp("10.0.0.5", 50001, "198.51.100.7", 80, 2, 120, ACK),
        udp("10.0.0.5", 50002, "8.8.8.8", 53),
    };
    uint32_t out[4];
    for (size_t i = 0; i < sizeof recs / sizeof *recs; i++)
        cr_expect_eq(flow_rules_eval(rs, &recs[i], 0, 0, out, 4), 0, "record %zu", i);
}

/* ---- fields and modifiers ---- */

Test(flow_rules, cidr_v4_v6)
{
    load_ok(HEAD "  sel:\n    source.ip|cidr:\n      - 10.0.0.0/8\n      - 192.0.2.128/25\n      - 198.51.100.7/32\n"
                 "      - 2001:db8::/32\n      - 2001:db8:1::5/128\n      - 2a00::/7\n  condition: sel\n");
    struct nf_record r = udp("10.255.1.1", 1, "1.1.1.1", 2);
    cr_expect(hit(&r));
    static const char *const yes[] = {"10.0.0.0", "192.0.2.128", "192.0.2.255", "198.51.100.7", "2001:db8:ffff::1",
                                      "2001:db8:1::5", "2bff::1"};
    static const char *const no[] = {"11.0.0.0", "192.0.2.127", "198.51.100.8", "2001:db9::", "2c00::1", "::"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        set_ip(&r.src, yes[i]);
        cr_expect(hit(&r), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
        set_ip(&r.src, no[i]);
        cr_expect_not(hit(&r), "%s", no[i]);
    }
}

Test(flow_rules, cidr_large_and_zero)
{
    /* 40 /24s (binary search within a prefix group) plus ::/0 */
    char y[8192];
    size_t o = (size_t)snprintf(y, sizeof y, HEAD "  sel:\n    destination.ip|cidr:\n");
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(y + o, sizeof y - o, "      - 100.%d.%d.0/24\n", i * 3, 7);
    snprintf(y + o, sizeof y - o, "      - ::/0\n  condition: sel\n");
    load_ok(y);
    struct nf_record r = udp("10.0.0.1", 1, "100.0.7.9", 2);
    for (int i = 0; i < 40; i++) {
        char a[32];
        snprintf(a, sizeof a, "100.%d.7.200", i * 3);
        set_ip(&r.dst, a);
        cr_expect(hit(&r), "%s", a);
        snprintf(a, sizeof a, "100.%d.7.200", i * 3 + 1);
        set_ip(&r.dst, a);
        cr_expect_not(hit(&r), "%s", a);
        snprintf(a, sizeof a, "100.%d.8.1", i * 3);
        set_ip(&r.dst, a);
        cr_expect_not(hit(&r), "%s", a);
    }
    set_ip(&r.dst, "2001:db8::9");
    cr_expect(hit(&r), "::/0 takes every IPv6 address");
}

Test(flow_rules, exact_addresses)
{
    load_ok(HEAD "  sel:\n    destination.ip: [192.0.2.1, '2001:db8::1']\n    observer.ip: 192.0.2.254\n"
                 "  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "192.0.2.1", 2);
    cr_expect(hit(&r));
    set_ip(&r.dst, "2001:db8::1");
    cr_expect(hit(&r));
    set_ip(&r.dst, "192.0.2.2");
    cr_expect_not(hit(&r));
    set_ip(&r.dst, "192.0.2.1");
    set_ip(&r.observer, "192.0.2.253");
    cr_expect_not(hit(&r));
}

Test(flow_rules, port_lists)
{
    load_ok(HEAD "  sel:\n    destination.port: [22, 23, 3389]\n    source.port|gte: 1024\n  condition: sel\n");
    struct nf_record r = tcp("10.0.0.1", 1024, "10.0.0.2", 22, 1, 1, SYN);
    cr_expect(hit(&r));
    r.dst_port = 3389;
    cr_expect(hit(&r));
    r.dst_port = 24;
    cr_expect_not(hit(&r));
    r.dst_port = 23;
    r.src_port = 1023;
    cr_expect_not(hit(&r), "gte boundary");
    r.src_port = 65535;
    cr_expect(hit(&r));
}

Test(flow_rules, large_port_list_bitmap)
{
    /* 300 ports: kept as a 64 Ki-bit bitmap */
    char y[16384];
    size_t o = (size_t)snprintf(y, sizeof y, HEAD "  sel:\n    destination.port:\n");
    for (int p = 1000; p < 1600; p += 2)
        o += (size_t)snprintf(y + o, sizeof y - o, "      - %d\n", p);
    snprintf(y + o, sizeof y - o, "      - 65535\n      - 0\n  condition: sel\n");
    load_ok(y);
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 0, 1, 1, SYN);
    for (int p = 0; p < 65536; p++) {
        r.dst_port = (uint16_t)p;
        bool want = p == 0 || p == 65535 || (p >= 1000 && p < 1600 && p % 2 == 0);
        if (hit(&r) != want)
            cr_assert_fail("port %d: want %d", p, want);
    }
    r.present &= ~NF_HAS_DST_PORT;
    r.dst_port = 1000;
    cr_expect_not(hit(&r), "absent port");
}

Test(flow_rules, numeric_boundaries)
{
    load_ok(HEAD "  a:\n    network.bytes|gt: 100\n  b:\n    network.bytes|lt: 200\n"
                 "  c:\n    network.packets|lte: 5\n  d:\n    network.packets|gte: 2\n"
                 "  condition: a and b and c and d\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    r.packets = 3;
    uint64_t bytes[] = {99, 100, 101, 199, 200};
    bool want[] = {false, false, true, true, false};
    for (int i = 0; i < 5; i++) {
        r.bytes = bytes[i];
        cr_expect_eq(hit(&r), want[i], "bytes %lu", (unsigned long)bytes[i]);
    }
    r.bytes = 150;
    uint64_t pk[] = {1, 2, 5, 6};
    bool wantp[] = {false, true, true, false};
    for (int i = 0; i < 4; i++) {
        r.packets = pk[i];
        cr_expect_eq(hit(&r), wantp[i], "packets %lu", (unsigned long)pk[i]);
    }
}

Test(flow_rules, numeric_fractions_and_lists)
{
    /* gt 2.5 is >= 3; lt 0 never; a list of bounds is their union */
    load_ok(HEAD "  a:\n    network.packets|gt: 2.5\n  b:\n    network.packets|lt: 0\n"
                 "  c:\n    network.bytes|lte: [10, 1000]\n  condition: a and not b and c\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    r.bytes = 1000;
    r.packets = 2;
    cr_expect_not(hit(&r));
    r.packets = 3;
    cr_expect(hit(&r));
    r.bytes = 1001;
    cr_expect_not(hit(&r));
}

Test(flow_rules, big_numbers_exact)
{
    load_ok(HEAD "  sel:\n    network.bytes: 18446744073709551615\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    r.bytes = UINT64_MAX;
    cr_expect(hit(&r));
    r.bytes = UINT64_MAX - 1;
    cr_expect_not(hit(&r));
}

Test(flow_rules, transport_names_and_numbers)
{
    load_ok(HEAD "  sel:\n    network.transport: [UDP, icmp, ipv6-icmp, 132, gre, esp]\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    uint8_t yes[] = {17, 1, 58, 132, 47, 50}, no[] = {6, 0, 2, 255};
    for (size_t i = 0; i < sizeof yes; i++) {
        r.proto = yes[i];
        cr_expect(hit(&r), "proto %u", yes[i]);
    }
    for (size_t i = 0; i < sizeof no; i++) {
        r.proto = no[i];
        cr_expect_not(hit(&r), "proto %u", no[i]);
    }
    r.proto = 17;
    r.present &= ~NF_HAS_PROTO;
    cr_expect_not(hit(&r), "proto absent");
}

Test(flow_rules, iana_number_range)
{
    load_ok(HEAD "  sel:\n    network.iana_number|gte: 100\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    cr_expect_not(hit(&r));
    r.proto = 100;
    cr_expect(hit(&r));
    r.proto = 255;
    cr_expect(hit(&r));
}

Test(flow_rules, tcp_flags_notation)
{
    load_ok(HEAD "  sel:\n    tcp.flags: [as, FPA, '']\n  condition: sel\n");
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 1, 1, SYN | ACK);
    cr_expect(hit(&r));
    r.tcp_flags = FIN | PSH | ACK | ECE;
    cr_expect(hit(&r));
    r.tcp_flags = 0;
    cr_expect(hit(&r), "'' = none of the six");
    r.tcp_flags = SYN;
    cr_expect_not(hit(&r));
    r.tcp_flags = SYN | ACK | URG;
    cr_expect_not(hit(&r));
    r = udp("10.0.0.1", 1, "10.0.0.2", 2); /* flags 0, but not TCP: field absent */
    cr_expect_not(hit(&r));
}

Test(flow_rules, tcp_control_bits)
{
    load_ok(HEAD "  sel:\n    netflow.tcp_control_bits: [2, 194]\n  condition: sel\n");
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 1, 1, SYN);
    cr_expect(hit(&r));
    r.tcp_flags = SYN | ECE | CWR;
    cr_expect(hit(&r));
    r.tcp_flags = SYN | ECE;
    cr_expect_not(hit(&r));
}

Test(flow_rules, directional_counters)
{
    load_ok(HEAD "  sel:\n    source.bytes|gte: 1000\n    destination.packets: 4\n    source.packets: 6\n"
                 "  condition: sel\n");
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 10, 1500, ACK);
    cr_expect_not(hit(&r), "no reverse counters: absent");
    r.present |= NF_HAS_REVERSE;
    r.rev_bytes = 500;
    r.rev_packets = 4;
    cr_expect(hit(&r));
    r.rev_bytes = 501;
    cr_expect_not(hit(&r));
    r.rev_bytes = 5000; /* more than the total: source.bytes saturates at 0 */
    cr_expect_not(hit(&r));
}

Test(flow_rules, duration_direction_as)
{
    load_ok(HEAD "  sel:\n    event.duration|gte: 1000000000\n    network.direction: egress\n"
                 "    destination.as.number: [15169, 13335]\n  condition: sel\n");
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 10, 1500, ACK);
    r.end_ns = r.start_ns + 1000000000;
    r.direction = NF_DIR_EGRESS;
    r.dst_as = 13335;
    r.present |= NF_HAS_DIRECTION | NF_HAS_DST_AS;
    cr_expect(hit(&r));
    r.end_ns--;
    cr_expect_not(hit(&r));
    r.end_ns = r.start_ns - 5000000000LL;
    cr_expect_not(hit(&r), "end before start: no duration");
    r.end_ns = r.start_ns + 2000000000LL;
    r.present &= ~NF_HAS_START;
    cr_expect_not(hit(&r), "start absent");
    r.present |= NF_HAS_START;
    r.direction = NF_DIR_INGRESS;
    cr_expect_not(hit(&r));
    r.direction = NF_DIR_EGRESS;
    r.present &= ~NF_HAS_DST_AS;
    cr_expect_not(hit(&r));
}

Test(flow_rules, reputation_lists)
{
    load_ok(HEAD "  sel:\n    destination.reputation: [TOR_EXIT]\n"
                 "  both:\n    source.reputation|all: [blocklist, tor_exit]\n"
                 "  condition: sel or both\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    cr_expect(fires_rep(0, &r, 0, TOR));
    cr_expect_not(fires_rep(0, &r, 0, BLOCK));
    cr_expect_not(fires_rep(0, &r, BLOCK, 0));
    cr_expect(fires_rep(0, &r, BLOCK | TOR, 0));
}

Test(flow_rules, null_and_exists)
{
    load_ok(HEAD "  a:\n    source.port: null\n  b:\n    destination.port|exists: true\n"
                 "  c:\n    destination.reputation|exists: false\n  condition: a and b and c\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
    cr_expect_not(hit(&r), "source.port present");
    r.present &= ~NF_HAS_SRC_PORT;
    cr_expect(hit(&r));
    cr_expect_not(fires_rep(0, &r, 0, BLOCK), "reputation present");
    r.present &= ~NF_HAS_DST_PORT;
    cr_expect_not(hit(&r));
}

Test(flow_rules, null_in_a_list)
{
    load_ok(HEAD "  sel:\n    destination.port: [null, 53]\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 53);
    cr_expect(hit(&r));
    r.dst_port = 54;
    cr_expect_not(hit(&r));
    r.present &= ~NF_HAS_DST_PORT;
    cr_expect(hit(&r), "absent passes (and the prefilter lets it through)");
}

Test(flow_rules, all_modifier)
{
    load_ok(HEAD "  sel:\n    destination.ip|cidr|all: [10.0.0.0/8, 10.1.0.0/16]\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.1.2.3", 2);
    cr_expect(hit(&r));
    set_ip(&r.dst, "10.2.0.1");
    cr_expect_not(hit(&r));
}

/* Every comparison against values around powers of two: the prefilter
 * buckets counters by bit length, so its masks must agree with the tests
 * at every edge. */
Test(flow_rules, comparisons_at_bucket_edges)
{
    static const uint64_t edge[] = {0, 1, 2, 3, 4, 7, 8, 9, 63, 64, 65, 1023, 1024, 1025, 4294967295ull,
                                    4294967296ull, (1ull << 62) - 1, 1ull << 62, (1ull << 63) - 1, 1ull << 63,
                                    UINT64_MAX - 1, UINT64_MAX};
    static const char *const ops[] = {"gt", "gte", "lt", "lte", "eq"};
    const size_t ne = sizeof edge / sizeof *edge;
    for (size_t o = 0; o < 5; o++)
        for (size_t k = 0; k < ne; k++) {
            char y[512];
            if (o == 4)
                snprintf(y, sizeof y, HEAD "  sel:\n    network.packets: %llu\n  condition: sel\n",
                         (unsigned long long)edge[k]);
            else
                snprintf(y, sizeof y, HEAD "  sel:\n    network.packets|%s: %llu\n  condition: sel\n", ops[o],
                         (unsigned long long)edge[k]);
            flow_rules_free(rs);
            rs = NULL;
            load_ok(y);
            struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 2);
            for (size_t j = 0; j < ne; j++) {
                uint64_t v = edge[j], t = edge[k];
                bool want = o == 0 ? v > t : o == 1 ? v >= t : o == 2 ? v < t : o == 3 ? v <= t : v == t;
                r.packets = v;
                if (hit(&r) != want)
                    cr_assert_fail("packets %llu %s %llu: want %d", (unsigned long long)v, ops[o],
                                   (unsigned long long)t, want);
            }
        }
}

Test(flow_rules, many_clauses_merge)
{
    /* 12 selections, each in its own packets bucket (2^i) and transport:
     * more clauses than the prefilter keeps per rule, so they are merged;
     * no selection may be lost in the merge */
    char y[4096];
    size_t o = (size_t)snprintf(y, sizeof y, HEAD);
    for (int i = 0; i < 12; i++)
        o += (size_t)snprintf(y + o, sizeof y - o, "  s%02d:\n    network.packets: %d\n    network.transport: %s\n", i,
                              1 << i, i % 2 ? "tcp" : "udp");
    snprintf(y + o, sizeof y - o, "  condition: 1 of them\n");
    load_ok(y);
    for (int i = 0; i < 12; i++) {
        struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, (uint64_t)1 << i, 500, ACK);
        r.proto = i % 2 ? 6 : 17;
        cr_expect(hit(&r), "selection %d", i);
        r.packets++;
        cr_expect_not(hit(&r), "selection %d, count + 1", i); /* 2 = 2^1 is s01's, but that is tcp */
    }
}

Test(flow_rules, unsatisfiable_rule_loads_and_never_fires)
{
    load_ok(HEAD "  a:\n    network.transport: tcp\n  b:\n    network.transport: udp\n  condition: a and b\n");
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 5, 500, ACK);
    cr_expect_not(hit(&r));
    r.proto = 17;
    cr_expect_not(hit(&r));
}

Test(flow_rules, tcp_flags_imply_tcp_but_null_does_not)
{
    /* tcp.flags: null holds on every non-TCP record: the prefilter must let them through */
    load_ok(HEAD "  sel:\n    tcp.flags: null\n    destination.port: 53\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 53);
    cr_expect(hit(&r));
    r = tcp("10.0.0.1", 1, "10.0.0.2", 53, 5, 500, ACK);
    cr_expect_not(hit(&r));
    r.present &= ~NF_HAS_TCP_FLAGS;
    cr_expect(hit(&r));
}

/* ---- conditions ---- */

#define SELS                                                                                          \
    "  tcp_sel:\n    network.transport: tcp\n"                                                        \
    "  ssh_port:\n    destination.port: 22\n"                                                         \
    "  web_port:\n    destination.port: [80, 443]\n"                                                  \
    "  internal:\n    source.ip|cidr: 10.0.0.0/8\n"

static bool cond_hit(const char *cond, const struct nf_record *r)
{
    char y[2048];
    snprintf(y, sizeof y, HEAD SELS "  condition: %s\n", cond);
    flow_rules_free(rs);
    rs = NULL;
    diag_free(&d);
    diag_init(&d);
    load_ok(y);
    return hit(r);
}

Test(flow_rules, condition_grammar)
{
    struct nf_record ssh = tcp("10.0.0.1", 40000, "192.0.2.1", 22, 5, 500, SYN | ACK | PSH);
    struct nf_record web = tcp("203.0.113.9", 40000, "192.0.2.1", 443, 5, 500, SYN | ACK | PSH);
    struct nf_record dns = udp("10.0.0.1", 40000, "192.0.2.1", 53);
    cr_expect(cond_hit("tcp_sel and ssh_port", &ssh));
    cr_expect_not(cond_hit("tcp_sel and ssh_port", &web));
    cr_expect(cond_hit("ssh_port or web_port", &web));
    cr_expect_not(cond_hit("ssh_port or web_port", &dns));
    cr_expect(cond_hit("not tcp_sel", &dns));
    cr_expect_not(cond_hit("not tcp_sel", &ssh));
    cr_expect(cond_hit("tcp_sel and not (ssh_port or internal)", &web));
    cr_expect_not(cond_hit("tcp_sel and not (ssh_port or internal)", &ssh));
    cr_expect(cond_hit("1 of *_port", &web));
    cr_expect_not(cond_hit("1 of *_port", &dns));
    cr_expect(cond_hit("all of *_sel and internal", &ssh));
    cr_expect_not(cond_hit("all of them", &ssh));
    cr_expect(cond_hit("1 of them", &dns), "internal");
    cr_expect(cond_hit("internal and not 1 of *_port", &dns));
    cr_expect_not(cond_hit("internal and not 1 of *_port", &ssh));
    cr_expect(cond_hit("not not ssh_port", &ssh));
    cr_expect(cond_hit("(tcp_sel or internal) and (ssh_port or not web_port)", &dns));
    cr_expect_not(cond_hit("(tcp_sel or internal) and (ssh_port or not web_port)", &web));
}

Test(flow_rules, condition_list_is_ored)
{
    load_ok(HEAD SELS "  condition:\n    - ssh_port\n    - web_port\n");
    struct nf_record r = tcp("1.2.3.4", 1, "5.6.7.8", 80, 1, 1, ACK);
    cr_expect(hit(&r));
    r.dst_port = 81;
    cr_expect_not(hit(&r));
}

Test(flow_rules, list_of_maps)
{
    load_ok(HEAD "  sel:\n    - network.transport: udp\n      destination.port: 53\n"
                 "    - network.transport: tcp\n      destination.port: 853\n  condition: sel\n");
    struct nf_record r = udp("10.0.0.1", 1, "10.0.0.2", 53);
    cr_expect(hit(&r));
    r.dst_port = 853;
    cr_expect_not(hit(&r));
    r.proto = 6;
    cr_expect(hit(&r));
}

/* Cross-check against the same predicate written in C on random records,
 * so the prefilter and test ordering never lose a match. */
Test(flow_rules, random_cross_check)
{
    load_ok(HEAD "  web:\n    network.transport: tcp\n    destination.port: [80, 443, 8080]\n"
                 "  dns:\n    network.transport: udp\n    destination.port: 53\n    network.bytes|gt: 512\n"
                 "  nets:\n    destination.ip|cidr: [192.0.2.0/24, 198.51.100.0/24]\n"
                 "  quiet:\n    network.packets|lte: 3\n"
                 "  condition: web and not quiet or dns and nets or (web or dns) and quiet and nets\n");
    static const uint16_t ports[] = {80, 443, 8080, 53, 22, 81};
    static const uint8_t protos[] = {6, 17, 1};
    static const char *const dsts[] = {"192.0.2.9", "198.51.100.9", "192.0.3.9", "198.51.101.9"};
    uint64_t x = 88172645463325252ull;
    unsigned seen = 0;
    for (int i = 0; i < 100000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned di = (unsigned)(x >> 40) % 4;
        struct nf_record r = tcp("10.0.0.1", 1, dsts[di], ports[(x >> 8) % 6], (x >> 16) % 6, (x >> 24) % 1024, ACK);
        r.proto = protos[x % 3];
        if ((x >> 42) % 8 == 0)
            r.present &= ~NF_HAS_PROTO;
        if ((x >> 45) % 8 == 0)
            r.present &= ~NF_HAS_DST_PORT;
        bool proto = r.present & NF_HAS_PROTO, port = r.present & NF_HAS_DST_PORT;
        bool web = proto && r.proto == 6 && port && (r.dst_port == 80 || r.dst_port == 443 || r.dst_port == 8080);
        bool dns = proto && r.proto == 17 && port && r.dst_port == 53 && r.bytes > 512;
        bool nets = di < 2;
        bool quiet = r.packets <= 3;
        bool want = (web && !quiet) || (dns && nets) || ((web || dns) && quiet && nets);
        seen += want;
        if (hit(&r) != want)
            cr_assert_fail("record %d: want %d", i, want);
    }
    cr_expect_gt(seen, 1000);
}

/* ---- differential: random rules against a naive reading of the AST ---- */

static uint64_t xs = 0x2545f4914f6cdd1dull;
static uint32_t rnd(void)
{
    xs ^= xs << 13, xs ^= xs >> 7, xs ^= xs << 17;
    return (uint32_t)(xs >> 16);
}
#define PICK(a) (a)[rnd() % (sizeof(a) / sizeof *(a))]

/* The field's value as the spec (flow_rules.h) words it; false if absent. */
static bool ref_num(const char *f, const struct nf_record *r, uint32_t rs_, uint32_t rd, uint64_t *v)
{
    uint32_t p = r->present;
    bool rev = p & NF_HAS_REVERSE;
    if (!strcmp(f, "destination.port"))
        return *v = r->dst_port, p & NF_HAS_DST_PORT;
    if (!strcmp(f, "source.port"))
        return *v = r->src_port, p & NF_HAS_SRC_PORT;
    if (!strcmp(f, "network.transport"))
        return *v = r->proto, p & NF_HAS_PROTO;
    if (!strcmp(f, "network.packets"))
        return *v = r->packets, p & NF_HAS_PACKETS;
    if (!strcmp(f, "network.bytes"))
        return *v = r->bytes, p & NF_HAS_BYTES;
    if (!strcmp(f, "destination.bytes"))
        return *v = r->rev_bytes, rev;
    if (!strcmp(f, "source.bytes"))
        return *v = r->bytes >= r->rev_bytes ? r->bytes - r->rev_bytes : 0, rev && (p & NF_HAS_BYTES);
    if (!strcmp(f, "tcp.flags"))
        return *v = r->tcp_flags & 0x3f, (p & NF_HAS_TCP_FLAGS) && (p & NF_HAS_PROTO) && r->proto == 6;
    if (!strcmp(f, "source.reputation"))
        return *v = rs_, rs_ != 0;
    if (!strcmp(f, "destination.reputation"))
        return *v = rd, rd != 0;
    if (!strcmp(f, "destination.ip"))
        return *v = 0, (p & NF_HAS_DST_IP) != 0;
    cr_assert_fail("reference lacks %s", f);
    return false;
}

static bool ref_value(const struct sigma_item *it, const struct sigma_value *sv, const struct nf_record *r,
                      uint64_t v)
{
    const char *f = it->field;
    if (it->mods & SIGMA_MOD_CIDR) {
        if (r->dst.family != sv->net.family)
            return false;
        for (unsigned bit = 0; bit < sv->prefix; bit++)
            if ((r->dst.addr[bit / 8] ^ sv->net.addr[bit / 8]) & (0x80 >> (bit % 8)))
                return false;
        return true;
    }
    double x = sv->num;
    if (it->mods & SIGMA_MOD_GT)
        return (double)v > x;
    if (it->mods & SIGMA_MOD_GTE)
        return (double)v >= x;
    if (it->mods & SIGMA_MOD_LT)
        return (double)v < x;
    if (it->mods & SIGMA_MOD_LTE)
        return (double)v <= x;
    if (!strcmp(f, "network.transport")) {
        uint64_t want = (uint64_t)x;
        if (!strcmp(sv->raw, "tcp"))
            want = 6;
        else if (!strcmp(sv->raw, "udp"))
            want = 17;
        else if (!strcmp(sv->raw, "icmp"))
            want = 1;
        return v == want;
    }
    if (!strcmp(f, "tcp.flags")) {
        uint64_t want = 0;
        for (const char *c = sv->raw; *c; c++)
            want |= 1u << (strchr("FSRPAU", *c) - "FSRPAU");
        return v == want;
    }
    if (strstr(f, "reputation"))
        return (v & (!strcmp(sv->raw, "blocklist") ? BLOCK : TOR)) != 0;
    if (!strcmp(f, "destination.ip")) {
        struct vigil_ip ip;
        set_ip(&ip, sv->raw);
        return !memcmp(&ip, &r->dst, sizeof ip);
    }
    return v == (uint64_t)x;
}

static bool ref_item(const struct sigma_item *it, const struct nf_record *r, uint32_t rs_, uint32_t rd)
{
    uint64_t v;
    bool has = ref_num(it->field, r, rs_, rd, &v);
    if (it->mods & SIGMA_MOD_EXISTS)
        return has == it->v[0].b;
    bool all = it->mods & SIGMA_MOD_ALL;
    for (unsigned i = 0; i < it->nv; i++) {
        bool ok = it->v[i].type == SIGMA_V_NULL ? !has : has && ref_value(it, &it->v[i], r, v);
        if (ok && !all)
            return true;
        if (!ok && all)
            return false;
    }
    return all;
}

static bool ref_rule(const struct sigma_rule *sr, const struct nf_record *r, uint32_t rs_, uint32_t rd)
{
    bool st[256];
    unsigned sp = 0;
    for (unsigned k = 0; k < sr->ncond; k++) {
        const struct sigma_op *op = &sr->cond[k];
        if (op->op == SIGMA_OP_SEL) {
            const struct sigma_selection *s = &sr->sel[op->arg];
            bool any = false;
            for (unsigned m = 0; m < s->n && !any; m++) {
                bool every = true;
                for (unsigned i = 0; i < s->maps[m].n && every; i++)
                    every = ref_item(&s->maps[m].items[i], r, rs_, rd);
                any = every;
            }
            st[sp++] = any;
        } else if (op->op == SIGMA_OP_NOT) {
            st[sp - 1] = !st[sp - 1];
        } else {
            bool acc = op->op == SIGMA_OP_AND;
            for (unsigned i = sp - op->arg; i < sp; i++)
                acc = op->op == SIGMA_OP_AND ? acc && st[i] : acc || st[i];
            sp -= op->arg;
            st[sp++] = acc;
        }
    }
    return st[0];
}

static void random_item(char *y, size_t cap, size_t *o)
{
    static const char *const ports[] = {"22", "53", "80", "443", "0", "65535", "8080"};
    static const char *const counts[] = {"0", "1", "2", "3", "4", "7", "8", "100", "1000000000"};
    static const char *const mods[] = {"|gt", "|gte", "|lt", "|lte", ""};
    static const char *const nets[] = {"10.0.0.0/8", "192.0.2.0/24", "'2001:db8::/32'", "198.51.100.7/32",
                                       "0.0.0.0/1"};
#define PUT(...) (*o += (size_t)snprintf(y + *o, cap - *o, __VA_ARGS__))
    switch (rnd() % 11) {
    case 0:
    case 1: {
        const char *f = rnd() % 3 ? "destination.port" : "source.port";
        unsigned kind = rnd() % 4;
        if (kind == 0)
            PUT("    %s%s: %s\n", f, PICK(mods), PICK(ports));
        else if (kind == 3) { /* a large list: the bitmap */
            PUT("    %s:\n", f);
            for (int i = 0; i < 20; i++)
                PUT("      - %u\n", rnd() % 2 ? (unsigned)(1000 + i * 7) : (unsigned)atoi(PICK(ports)));
        } else
            PUT("    %s: [%s, %s]\n", f, PICK(ports), PICK(ports));
        break;
    }
    case 2: {
        static const char *const t[] = {"tcp", "udp", "icmp", "17", "[tcp, udp]"};
        PUT("    network.transport: %s\n", PICK(t));
        break;
    }
    case 3:
    case 4:
        PUT("    %s%s: %s\n", rnd() % 2 ? "network.packets" : "network.bytes", PICK(mods), PICK(counts));
        break;
    case 5: {
        static const char *const f[] = {"S", "SA", "RA", "R", "FPA", "''", "[S, SR]"};
        PUT("    tcp.flags: %s\n", PICK(f));
        break;
    }
    case 6:
        if (rnd() % 3)
            PUT("    destination.ip|cidr: [%s, %s]\n", PICK(nets), PICK(nets));
        else
            PUT("    destination.ip: 192.0.2.1\n");
        break;
    case 7:
        PUT("    %s.reputation: %s\n", rnd() % 2 ? "source" : "destination", rnd() % 2 ? "blocklist" : "tor_exit");
        break;
    case 8:
        PUT("    %s|exists: %s\n", PICK(((const char *const[]){"destination.bytes", "tcp.flags", "destination.port",
                                                            "source.reputation", "destination.ip"})),
            rnd() % 2 ? "true" : "false");
        break;
    case 9:
    {
        static const char *const f[][2] = {{"destination.bytes", "53"},
                                           {"tcp.flags", "S"},
                                           {"source.port", "53"},
                                           {"source.reputation", "blocklist"},
                                           {"destination.ip", "192.0.2.1"}};
        unsigned k = rnd() % 5;
        if (rnd() % 2)
            PUT("    %s: null\n", f[k][0]);
        else
            PUT("    %s: [null, %s]\n", f[k][0], f[k][1]);
    }
        break;
    default:
        PUT("    source.bytes%s: %s\n", PICK(mods), PICK(counts));
        break;
    }
}

static struct nf_record random_record(uint32_t *rs_, uint32_t *rd)
{
    static const char *const dsts[] = {"10.1.2.3", "192.0.2.1", "192.0.2.200", "198.51.100.7", "2001:db8::5",
                                       "2001:db9::1", "203.0.113.9"};
    static const uint16_t ports[] = {22, 53, 80, 443, 0, 65535, 8080, 1007, 1014, 5000};
    static const uint64_t counts[] = {0, 1, 2, 3, 4, 7, 8, 9, 100, 999999999, 1000000000, 5000000000ull};
    static const uint16_t flags[] = {0x02, 0x12, 0x14, 0x04, 0x19, 0x00, 0x06, 0x1b, 0xc2};
    static const uint8_t protos[] = {6, 6, 17, 1, 58};
    struct nf_record r = tcp("10.0.0.1", PICK(ports), PICK(dsts), PICK(ports), PICK(counts), PICK(counts),
                             PICK(flags));
    r.proto = PICK(protos);
    static const uint32_t masks[] = {NF_HAS_DST_PORT, NF_HAS_SRC_PORT, NF_HAS_PROTO, NF_HAS_TCP_FLAGS,
                                     NF_HAS_PACKETS,  NF_HAS_BYTES,    NF_HAS_DST_IP};
    for (size_t i = 0; i < sizeof masks / sizeof *masks; i++)
        if (rnd() % 10 == 0)
            r.present &= ~masks[i];
    if (rnd() % 3 == 0) {
        r.present |= NF_HAS_REVERSE;
        r.rev_bytes = PICK(counts);
        r.rev_packets = PICK(counts);
    }
    *rs_ = rnd() % 4 == 0 ? 1 + rnd() % 3 : 0;
    *rd = rnd() % 4 == 0 ? 1 + rnd() % 3 : 0;
    return r;
}

Test(flow_rules, differential_random_rules)
{
    static const char *const conds[] = {"s0",
                                        "s0 and s1",
                                        "s0 or s1",
                                        "s0 and not s1",
                                        "not s0",
                                        "1 of s*",
                                        "all of s*",
                                        "(s0 or s1) and s2",
                                        "s0 or s1 and not s2",
                                        "not (s0 and s1) or s2",
                                        "1 of them and not s1",
                                        "(s0 or s2) and (s1 or not s0)"};
    unsigned fired = 0, checked = 0;
    for (int round = 0; round < 60; round++) {
        /* 40 random rules in one file */
        size_t cap = 1 << 16, o = 0;
        char *y = malloc(cap);
        cr_assert_not_null(y);
        for (int k = 0; k < 40; k++) {
            o += (size_t)snprintf(y + o, cap - o, "%stitle: R%d\nlogsource: {category: flow}\ndetection:\n",
                                  k ? "---\n" : "", k);
            for (int sidx = 0; sidx < 3; sidx++) {
                o += (size_t)snprintf(y + o, cap - o, "  s%d:\n", sidx);
                if (rnd() % 4 == 0) { /* a list of maps */
                    for (int m = 0; m < 2; m++) {
                        size_t start = o;
                        random_item(y, cap, &o);
                        y[start + 2] = '-'; /* "    field" -> "  - field" */
                        random_item(y, cap, &o);
                    }
                } else {
                    unsigned n = 1 + rnd() % 3;
                    for (unsigned i = 0; i < n; i++)
                        random_item(y, cap, &o);
                }
            }
            o += (size_t)snprintf(y + o, cap - o, "  condition: %s\n", PICK(conds));
        }
        cr_assert_lt(o, cap - 1);
        write_text(tmp_file("r.yml"), y);
        /* repeated keys in one map are a YAML error: those rules drop out of both sides */
        struct sigma_rule **sr = NULL;
        unsigned nsr = 0;
        struct diag d2;
        diag_init(&d2);
        sigma_parse_buffer(y, o, "r.yml", &sr, &nsr, NULL, &d2);
        diag_free(&d2);
        free(y);
        flow_rules_free(rs);
        rs = NULL;
        diag_free(&d);
        diag_init(&d);
        const char *paths[] = {tmp_path("r.yml")};
        cr_assert_eq(flow_rules_load(paths, 1, reps, 2, NULL, &rs, &d), 0);
        if (d.errors)
            diag_print(&d, stderr);
        cr_assert_eq(d.errors, 0);
        cr_assert_eq(flow_rules_count(rs), nsr);
        for (int i = 0; i < 3000; i++) {
            uint32_t rs_, rd, out[64];
            struct nf_record r = random_record(&rs_, &rd);
            unsigned n = flow_rules_eval(rs, &r, rs_, rd, out, 64);
            unsigned j = 0;
            for (unsigned k = 0; k < nsr; k++) {
                bool want = ref_rule(sr[k], &r, rs_, rd);
                bool got = j < n && out[j] == k;
                j += got;
                if (want != got) {
                    char ex[SIGNAL_EXCERPT_MAX];
                    struct vigil_signal sg;
                    flow_signal_fill(rs, 0, &r, 0, &sg);
                    memcpy(ex, sg.excerpt, sizeof ex);
                    cr_assert_fail("round %d rule %u (%s:%u) want %d on %s rep %u/%u present %#x", round, k,
                                   sr[k]->file, sr[k]->line, want, ex, rs_, rd, r.present);
                }
                fired += want;
                checked++;
            }
            cr_assert_eq(j, n);
        }
        sigma_rules_free(sr, nsr);
    }
    cr_expect_gt(fired, checked / 50, "matches are not vanishingly rare (%u of %u)", fired, checked);
}

/* ---- rejections ---- */

Test(flow_rules, reject_unknown_field)
{
    expect_error(HEAD "  sel:\n    network.protocol: dns\n  condition: sel\n", 7,
                 "unknown flow field 'network.protocol'");
}

Test(flow_rules, reject_contains)
{
    expect_error(HEAD "  sel:\n    destination.ip|contains: '10.'\n  condition: sel\n", 7,
                 "modifier 'contains' is not supported on flow fields");
}

Test(flow_rules, reject_re_and_startswith)
{
    expect_error(HEAD "  sel:\n    network.transport: tcp\n    source.ip|startswith: '10.'\n  condition: sel\n", 8,
                 "modifier 'startswith'");
}

Test(flow_rules, reject_unknown_reputation_list)
{
    expect_error(HEAD "  sel:\n    destination.reputation:\n      - blocklist\n      - spamhaus_drop\n"
                      "  condition: sel\n",
                 9, "unknown reputation list 'spamhaus_drop'");
    cr_expect(strstr(d.entries[0].msg, "lists: blocklist, tor_exit") != NULL, "%s", d.entries[0].msg);
}

Test(flow_rules, reject_keywords)
{
    expect_error(HEAD "  keywords:\n    - 'scan'\n  condition: keywords\n", 6, "keyword selection 'keywords'");
}

Test(flow_rules, reject_bad_values)
{
    expect_error(HEAD "  sel:\n    destination.port: 70000\n  condition: sel\n", 7, "needs a whole number 0..65535");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    destination.port: ssh\n  condition: sel\n", 7, "not 'ssh'");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    network.transport: tcpp\n  condition: sel\n", 7, "unknown transport 'tcpp'");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    tcp.flags: SYN\n  condition: sel\n", 7, "tcp.flags value 'SYN'");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    destination.ip: 10.0.0.0/8\n  condition: sel\n", 7, "use destination.ip|cidr");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    source.ip: host.example\n  condition: sel\n", 7, "not an IP address");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    network.bytes: true\n  condition: sel\n", 7, "boolean value");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    network.direction: inbound\n  condition: sel\n", 7, "network.direction value");
}

Test(flow_rules, reject_misplaced_modifiers)
{
    expect_error(HEAD "  sel:\n    destination.port|cidr: 10.0.0.0/8\n  condition: sel\n", 7,
                 "modifier 'cidr' applies to address fields");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    source.ip|gt: 5\n  condition: sel\n", 7, "modifier 'gt' applies to numeric fields");
    teardown();
    setup();
    expect_error(HEAD "  sel:\n    tcp.flags|lt: 5\n  condition: sel\n", 7, "modifier 'lt'");
}

Test(flow_rules, reject_only_the_bad_rule)
{
    const char *path = load_text(HEAD "  sel:\n    destination.port: 22\n  condition: sel\n"
                                      "---\n"
                                      "title: Bad\nid: bad-one\nlogsource:\n    category: flow\ndetection:\n"
                                      "  sel:\n    destination.port: 22\n    user.name: root\n  condition: sel\n"
                                      "---\n"
                                      "title: Not a flow rule\nlogsource:\n    product: linux\n    service: sshd\n"
                                      "detection:\n  sel:\n    user.name: root\n  condition: sel\n");
    cr_expect_eq(flow_rules_count(rs), 1);
    cr_assert_eq(d.errors, 1);
    cr_assert_eq(d.warnings, 1);
    for (unsigned i = 0; i < d.n; i++) {
        const struct diag_entry *e = &d.entries[i];
        cr_expect_str_eq(e->file, path);
        if (e->severity == DIAG_ERROR) {
            cr_expect_str_eq(e->what, "bad-one");
            cr_expect_eq(e->line, 17);
            cr_expect(strstr(e->msg, "unknown flow field 'user.name'") != NULL, "%s", e->msg);
        } else {
            cr_expect_str_eq(e->what, "Not a flow rule");
            cr_expect_eq(e->line, 20);
            cr_expect(strstr(e->msg, "not a flow log source") != NULL, "%s", e->msg);
        }
    }
}

Test(flow_rules, netflow_and_ipfix_products)
{
    load_text("title: A\nlogsource: {product: netflow}\ndetection: {s: {destination.port: 1}, condition: s}\n"
              "---\n"
              "title: B\nlogsource: {product: ipfix, category: flow}\n"
              "detection: {s: {destination.port: 1}, condition: s}\n"
              "---\n"
              "title: C\nlogsource: {category: network_connection}\n"
              "detection: {s: {destination.port: 1}, condition: s}\n");
    cr_expect_eq(flow_rules_count(rs), 2);
    cr_expect_eq(d.errors, 0);
    cr_expect_eq(d.warnings, 1);
    /* not a UUID: the uuid is a hash of the title, stable and distinct */
    cr_expect_neq(memcmp(flow_rule_info(rs, 0)->uuid, flow_rule_info(rs, 1)->uuid, 16), 0);
}

Test(flow_rules, rule_limit)
{
    char y[4096];
    size_t o = 0;
    for (int i = 0; i < 5; i++)
        o += (size_t)snprintf(y + o, sizeof y - o, "%stitle: R%d\nlogsource: {category: flow}\n"
                                                   "detection: {s: {destination.port: %d}, condition: s}\n",
                              i ? "---\n" : "", i, i);
    write_text(tmp_file("t.yml"), y);
    const char *paths[] = {tmp_path("t.yml")};
    struct flow_rules_limits lim = {.max_rules = 3};
    cr_assert_eq(flow_rules_load(paths, 1, NULL, 0, &lim, &rs, &d), 0);
    cr_expect_eq(flow_rules_count(rs), 3);
    cr_expect_eq(d.errors, 2);
    cr_expect(strstr(d.entries[0].msg, "rule limit (3)") != NULL);
}

Test(flow_rules, bad_rep_lists_and_paths)
{
    static const char *const bad[] = {"a", ""};
    const char *dirs[] = {source_path("configs/flow-rules")};
    cr_expect_eq(flow_rules_load(dirs, 1, bad, 2, NULL, &rs, &d), -1);
    cr_expect_null(rs);
    const char *missing[] = {"/nonexistent/flow-rules"};
    cr_expect_eq(flow_rules_load(missing, 1, NULL, 0, NULL, &rs, &d), 0);
    cr_expect_eq(flow_rules_count(rs), 0);
    cr_expect(strstr(d.entries[d.n - 1].msg, "cannot open") != NULL);
}

/* ---- eval bounds and signals ---- */

Test(flow_rules, eval_never_writes_past_max)
{
    char y[8192];
    size_t o = 0;
    for (int i = 0; i < 10; i++)
        o += (size_t)snprintf(y + o, sizeof y - o, "%stitle: R%d\nlogsource: {category: flow}\n"
                                                   "detection: {s: {network.transport: tcp}, condition: s}\n",
                              i ? "---\n" : "", i);
    write_text(tmp_file("t.yml"), y);
    const char *paths[] = {tmp_path("t.yml")};
    cr_assert_eq(flow_rules_load(paths, 1, NULL, 0, NULL, &rs, &d), 0);
    cr_assert_eq(flow_rules_count(rs), 10);
    struct nf_record r = tcp("10.0.0.1", 1, "10.0.0.2", 2, 1, 1, ACK);
    uint32_t out[8];
    for (int i = 0; i < 8; i++)
        out[i] = 0xdeadbeef;
    cr_expect_eq(flow_rules_eval(rs, &r, 0, 0, out, 3), 10);
    cr_expect_eq(out[0], 0);
    cr_expect_eq(out[1], 1);
    cr_expect_eq(out[2], 2);
    for (int i = 3; i < 8; i++)
        cr_expect_eq(out[i], 0xdeadbeef);
    cr_expect_eq(flow_rules_eval(rs, &r, 0, 0, NULL, 0), 10);
}

Test(flow_rules, signal_fill)
{
    load_pack();
    int syn = rule_named("flow_syn_probe");
    struct nf_record r = tcp("203.0.113.66", 51234, "192.0.2.80", 22, 1, 44, SYN);
    uint32_t out[4];
    cr_assert_eq(flow_rules_eval(rs, &r, 0, 0, out, 4), 1);
    cr_assert_eq(out[0], (uint32_t)syn);
    struct vigil_signal s;
    memset(&s, 0xab, sizeof s);
    flow_signal_fill(rs, out[0], &r, 1700000099000000000LL, &s);
    const struct rule_info *ri = flow_rule_info(rs, out[0]);
    cr_expect_eq(s.kind, SIGNAL_FLOW);
    cr_expect_eq(s.level, RULE_LEVEL_LOW);
    cr_expect_eq(s.rule_index, out[0]);
    cr_expect_eq(s.ruleset_hash, flow_rules_hash(rs));
    cr_expect_eq(memcmp(s.rule_uuid, ri->uuid, 16), 0);
    cr_expect_eq(s.rule_uuid[0], 0x19);
    cr_expect_eq(s.ts_ns, r.start_ns);
    cr_expect_eq(s.received_ns, 1700000099000000000LL);
    cr_expect_eq(memcmp(&s.observer, &r.observer, sizeof r.observer), 0);
    cr_expect_eq(memcmp(&s.source_ip, &r.src, sizeof r.src), 0);
    cr_expect_eq(memcmp(&s.destination_ip, &r.dst, sizeof r.dst), 0);
    cr_expect_eq(s.source_port, 51234);
    cr_expect_eq(s.destination_port, 22);
    cr_expect_str_eq(s.user_name, "");
    cr_expect_str_eq(s.excerpt, "tcp 203.0.113.66:51234 -> 192.0.2.80:22 packets=1 bytes=44 flags=S");
    cr_expect_eq(s.excerpt_len, strlen(s.excerpt));
    for (size_t i = s.excerpt_len; i < sizeof s.excerpt; i++)
        cr_expect_eq(s.excerpt[i], 0);
    for (size_t i = 0; i < sizeof s.pad; i++)
        cr_expect_eq(s.pad[i], 0);
}

Test(flow_rules, signal_fill_variants)
{
    load_pack();
    struct vigil_signal s;
    struct nf_record r = tcp("2001:db8::66", 51234, "2001:db8:1::80", 443, 3, 180, SYN | ACK | PSH);
    r.present &= ~NF_HAS_START;
    flow_signal_fill(rs, 0, &r, 5, &s);
    cr_expect_str_eq(s.excerpt, "tcp [2001:db8::66]:51234 -> [2001:db8:1::80]:443 packets=3 bytes=180 flags=SPA");
    cr_expect_eq(s.ts_ns, r.end_ns, "no start: end");
    r.present &= ~NF_HAS_END;
    flow_signal_fill(rs, 0, &r, 5, &s);
    cr_expect_eq(s.ts_ns, r.export_ns, "neither: export time");

    r = udp("10.0.0.1", 5353, "224.0.0.251", 5353);
    r.proto = 1;
    r.present &= ~(NF_HAS_SRC_PORT | NF_HAS_BYTES);
    flow_signal_fill(rs, 0, &r, 5, &s);
    cr_expect_str_eq(s.excerpt, "icmp 10.0.0.1 -> 224.0.0.251 packets=1");
    cr_expect_eq(s.source_port, 0);
    cr_expect_eq(s.destination_port, 5353);

    r.proto = 99;
    r.present &= ~(NF_HAS_SRC_IP | NF_HAS_DST_PORT);
    flow_signal_fill(rs, 0, &r, 5, &s);
    cr_expect_str_eq(s.excerpt, "proto-99 ? -> 224.0.0.251 packets=1");
    cr_expect_eq(s.source_ip.family, 0);

    /* the longest possible line is cut, NUL-terminated, length consistent */
    r = tcp("2001:db8:ffff:ffff:ffff:ffff:ffff:fff1", 65535, "2001:db8:ffff:ffff:ffff:ffff:ffff:fff2", 65535,
            UINT64_MAX, UINT64_MAX, 0x3f);
    flow_signal_fill(rs, 0, &r, 5, &s);
    cr_expect_eq(s.excerpt_len, SIGNAL_EXCERPT_MAX - 1);
    cr_expect_eq(strlen(s.excerpt), SIGNAL_EXCERPT_MAX - 1);
    cr_expect(!strncmp(s.excerpt, "tcp [2001:db8:ffff:ffff:ffff:ffff:ffff:fff1]:65535 -> ", 54));
}
