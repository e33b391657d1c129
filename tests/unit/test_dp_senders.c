/* Sender ACL and per-sender time zones on DPDK LPM tables. */
#include <arpa/inet.h>
#include <string.h>

#include <criterion/criterion.h>

#include "dataplane/senders.h"
#include "engine/tz.h"
#include "test_support.h"

static struct vigil_ip ip(const char *s)
{
    struct vigil_ip a;
    memset(&a, 0, sizeof a);
    if (inet_pton(AF_INET, s, a.addr) == 1)
        a.family = 4;
    else if (inet_pton(AF_INET6, s, a.addr) == 1)
        a.family = 6;
    return a;
}

static bool allowed(const struct senders *s, const char *addr)
{
    struct vigil_ip a = ip(addr);
    return senders_allowed(s, &a);
}

static const struct tz_zone *zone(const struct senders *s, const char *addr)
{
    struct vigil_ip a = ip(addr);
    return senders_zone(s, &a);
}

static void cidr(struct cfg_cidr *c, const char *s) { cr_assert_eq(config_parse_cidr(s, c), 0, "%s", s); }

Test(senders, acl_and_zones)
{
    test_eal_init(NULL, 0);
    static struct vigil_config cfg;
    struct cfg_cidr acl[3];
    struct cfg_source sources[2];
    cidr(&acl[0], "10.0.0.0/8");
    cidr(&acl[1], "192.0.2.7");
    cidr(&acl[2], "2001:db8::/32");
    cidr(&sources[0].cidr, "10.20.0.0/16");
    strcpy(sources[0].timezone, "Europe/Berlin");
    cidr(&sources[1].cidr, "2001:db8:5::/48");
    strcpy(sources[1].timezone, "+05:30");
    cfg.allowed = acl;
    cfg.n_allowed = 3;
    cfg.sources = sources;
    cfg.n_sources = 2;
    char err[256];
    struct senders *s = senders_create(&cfg, 0, err, sizeof err);
    cr_assert_not_null(s, "%s", err);

    cr_assert(allowed(s, "10.255.1.2"));
    cr_assert(allowed(s, "192.0.2.7"));
    cr_assert(!allowed(s, "192.0.2.8"));
    cr_assert(!allowed(s, "11.0.0.1"));
    cr_assert(allowed(s, "2001:db8:ffff::1"));
    cr_assert(!allowed(s, "2001:db9::1"));

    const struct tz_zone *z = zone(s, "10.20.3.4");
    cr_assert_not_null(z);
    cr_assert_str_eq(tz_zone_name(z), "Europe/Berlin");
    z = zone(s, "2001:db8:5:1::9");
    cr_assert_not_null(z);
    cr_assert_str_eq(tz_zone_name(z), "+05:30");
    cr_assert_null(zone(s, "10.21.0.1"), "no source entry: UTC");
    cr_assert_null(zone(s, "2001:db8:6::1"));
    senders_destroy(s);
}

Test(senders, allow_any_and_zero_prefixes)
{
    test_eal_init(NULL, 0);
    static struct vigil_config cfg;
    cfg.allow_any_sender = true;
    char err[256];
    struct senders *s = senders_create(&cfg, 0, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cr_assert(allowed(s, "203.0.113.9"));
    senders_destroy(s);

    struct cfg_cidr all[2];
    cidr(&all[0], "0.0.0.0/0");
    cidr(&all[1], "::/0");
    cfg.allow_any_sender = false;
    cfg.allowed = all;
    cfg.n_allowed = 2;
    s = senders_create(&cfg, 0, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cr_assert(allowed(s, "203.0.113.9"));
    cr_assert(allowed(s, "255.255.255.255"));
    cr_assert(allowed(s, "ffff::1"));
    cr_assert(allowed(s, "::1"));
    senders_destroy(s);
}

/* One table answers both questions: a longer prefix of one list inside a
 * shorter prefix of the other must keep both answers. */
Test(senders, nested_prefixes_of_both_lists)
{
    test_eal_init(NULL, 0);
    static struct vigil_config cfg;
    struct cfg_cidr acl[2];
    struct cfg_source src[2];
    cidr(&acl[0], "10.1.2.128/25");
    cidr(&acl[1], "172.16.0.0/12");
    cidr(&src[0].cidr, "10.1.2.0/24");
    strcpy(src[0].timezone, "Asia/Tokyo");
    cidr(&src[1].cidr, "172.16.5.0/24");
    strcpy(src[1].timezone, "UTC");
    cfg.allowed = acl;
    cfg.n_allowed = 2;
    cfg.sources = src;
    cfg.n_sources = 2;
    char err[256];
    struct senders *s = senders_create(&cfg, 0, err, sizeof err);
    cr_assert_not_null(s, "%s", err);
    cr_assert(allowed(s, "10.1.2.200"));
    cr_assert_str_eq(tz_zone_name(zone(s, "10.1.2.200")), "Asia/Tokyo", "ACL /25 inside source /24");
    cr_assert(!allowed(s, "10.1.2.5"), "source entries do not allow");
    cr_assert_str_eq(tz_zone_name(zone(s, "10.1.2.5")), "Asia/Tokyo");
    cr_assert(allowed(s, "172.16.5.9"), "source /24 inside ACL /12");
    cr_assert_str_eq(tz_zone_name(zone(s, "172.16.5.9")), "UTC");
    cr_assert(allowed(s, "172.17.0.1"));
    cr_assert_null(zone(s, "172.17.0.1"));
    cr_assert(!allowed(s, "2001:db8::1"), "no IPv6 prefixes: IPv6 senders are not allowed");
    senders_destroy(s);
}
