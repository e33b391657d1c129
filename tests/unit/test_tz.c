/* Time zones: fixed offsets, IANA zones with their transitions, civil dates. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "engine/tz.h"
#include "test_support.h"

/* Wall-clock seconds of a civil time, as if it were UTC. */
static int64_t wall(int64_t y, unsigned mo, unsigned d, int h, int mi, int s)
{
    return tz_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
}

static struct tz_zone *load(const char *name)
{
    struct tz_zone *z = NULL;
    char err[256] = "";
    int r = tz_zone_load(name, &z, err, sizeof err);
    cr_assert_eq(r, 0, "loading %s: %s", name, err);
    cr_assert_not_null(z);
    return z;
}

static void expect(const struct tz_zone *z, int64_t local, int64_t utc, int off_min)
{
    int off = 12345;
    cr_expect_eq(tz_local_to_utc(z, local, &off), utc, "local %lld in %s", (long long)local,
                 tz_zone_name(z));
    cr_expect_eq(off, off_min, "offset for local %lld in %s", (long long)local, tz_zone_name(z));
}

static void expect_rejected(const char *name, const char *needle)
{
    struct tz_zone *z = (struct tz_zone *)1;
    char err[256] = "";
    cr_expect_eq(tz_zone_load(name, &z, err, sizeof err), -1, "'%s' accepted", name);
    cr_expect_null(z, "'%s' left *out set", name);
    cr_expect_neq(err[0], 0, "no reason given for '%s'", name);
    if (needle)
        cr_expect_not_null(strstr(err, needle), "reason for '%s' is '%s'", name, err);
}

Test(tz, days_from_civil_known_values)
{
    cr_expect_eq(tz_days_from_civil(1970, 1, 1), 0);
    cr_expect_eq(tz_days_from_civil(1969, 12, 31), -1);
    cr_expect_eq(tz_days_from_civil(2000, 2, 29), 11016);
    cr_expect_eq(tz_days_from_civil(2000, 3, 1), 11017);
    cr_expect_eq(tz_days_from_civil(2100, 3, 1), 47541);
    cr_expect_eq(tz_days_from_civil(1600, 1, 1), -135140);
    cr_expect_eq(tz_days_from_civil(1, 1, 1), -719162);
    cr_expect_eq(tz_days_from_civil(0, 3, 1), -719468);
    cr_expect_eq(tz_days_from_civil(9999, 12, 31), 2932896);
    cr_expect_eq(tz_days_from_civil(2026, 3, 20), 20532);
}

Test(tz, null_zone_is_utc)
{
    expect(NULL, 1774000000, 1774000000, 0);
    cr_expect_eq(tz_local_to_utc(NULL, -5, NULL), -5);
    cr_expect_str_eq(tz_zone_name(NULL), "UTC");
}

Test(tz, fixed_offsets)
{
    struct tz_zone *z = load("+05:30");
    cr_expect_str_eq(tz_zone_name(z), "+05:30");
    expect(z, 0, -19800, 330);
    tz_zone_free(z);

    z = load("-0800");
    expect(z, wall(2026, 7, 1, 12, 0, 0), wall(2026, 7, 1, 20, 0, 0), -480);
    tz_zone_free(z);

    z = load("+05");
    expect(z, 3600 * 5, 0, 300);
    tz_zone_free(z);

    z = load("-03:45");
    expect(z, 0, 13500, -225);
    tz_zone_free(z);

    const char *utc[] = {"UTC", "utc", "GMT", "Z", "+00:00", "-0000"};
    for (size_t i = 0; i < sizeof utc / sizeof utc[0]; i++) {
        z = load(utc[i]);
        expect(z, 1000, 1000, 0);
        tz_zone_free(z);
    }
}

Test(tz, bad_names_rejected)
{
    expect_rejected("UTC+2", "ambiguous");
    expect_rejected("GMT-5", "ambiguous");
    expect_rejected("+5", "offset");
    expect_rejected("+25:00", "offset");
    expect_rejected("+05:60", "offset");
    expect_rejected("+05:3", "offset");
    expect_rejected("+05:30:00", "offset");
    expect_rejected("Mars/Olympus_Mons", "unknown");
    expect_rejected("Europe/Berlinn", "unknown");
    expect_rejected("Europe/Berlin ", "unknown");
    expect_rejected("../../etc/passwd", "unknown");
    expect_rejected("/usr/share/zoneinfo/Europe/Berlin", "unknown");
    expect_rejected("zone.tab", "unknown");   /* exists, but is not a TZif file */
    expect_rejected("Europe", "unknown");     /* a directory */
    expect_rejected("", NULL);
    /* a short error buffer is filled without overflow */
    struct tz_zone *z;
    char small[8];
    memset(small, 'x', sizeof small);
    cr_expect_eq(tz_zone_load("Nowhere/Land", &z, small, sizeof small), -1);
    cr_expect_eq(small[7], 0);
    cr_expect_eq(tz_zone_load("Nowhere/Land", &z, NULL, 0), -1);
}

Test(tz, berlin_summer_winter_and_history)
{
    struct tz_zone *z = load("Europe/Berlin");
    cr_expect_str_eq(tz_zone_name(z), "Europe/Berlin");
    expect(z, wall(2026, 7, 1, 12, 0, 0), wall(2026, 7, 1, 10, 0, 0), 120);
    expect(z, wall(2026, 1, 15, 12, 0, 0), wall(2026, 1, 15, 11, 0, 0), 60);
    /* West Germany had no DST in 1975 */
    expect(z, wall(1975, 7, 1, 12, 0, 0), wall(1975, 7, 1, 11, 0, 0), 60);
    /* far future follows the current rule (last Sunday of March / October) */
    expect(z, wall(2080, 7, 1, 12, 0, 0), wall(2080, 7, 1, 10, 0, 0), 120);
    expect(z, wall(2080, 12, 1, 12, 0, 0), wall(2080, 12, 1, 11, 0, 0), 60);
    /* before the table (1970) and after it (2100+) the edge offsets hold */
    expect(z, wall(1960, 1, 1, 0, 0, 0), wall(1959, 12, 31, 23, 0, 0), 60);
    expect(z, wall(2150, 1, 1, 0, 0, 0), wall(2149, 12, 31, 23, 0, 0), 60);
    tz_zone_free(z);
}

Test(tz, berlin_spring_gap)
{
    /* 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC). */
    struct tz_zone *z = load("Europe/Berlin");
    expect(z, wall(2026, 3, 29, 1, 59, 59), wall(2026, 3, 29, 0, 59, 59), 60);
    /* 02:00..02:59 does not exist: the offset before the gap applies */
    expect(z, wall(2026, 3, 29, 2, 0, 0), wall(2026, 3, 29, 1, 0, 0), 60);
    expect(z, wall(2026, 3, 29, 2, 30, 0), wall(2026, 3, 29, 1, 30, 0), 60);
    expect(z, wall(2026, 3, 29, 2, 59, 59), wall(2026, 3, 29, 1, 59, 59), 60);
    expect(z, wall(2026, 3, 29, 3, 0, 0), wall(2026, 3, 29, 1, 0, 0), 120);
    expect(z, wall(2026, 3, 29, 3, 30, 0), wall(2026, 3, 29, 1, 30, 0), 120);
    tz_zone_free(z);
}

Test(tz, berlin_autumn_overlap)
{
    /* 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC). */
    struct tz_zone *z = load("Europe/Berlin");
    expect(z, wall(2026, 10, 25, 1, 59, 59), wall(2026, 10, 24, 23, 59, 59), 120);
    /* 02:00..02:59 happens twice: the earlier instant (still CEST) wins */
    expect(z, wall(2026, 10, 25, 2, 0, 0), wall(2026, 10, 25, 0, 0, 0), 120);
    expect(z, wall(2026, 10, 25, 2, 30, 0), wall(2026, 10, 25, 0, 30, 0), 120);
    expect(z, wall(2026, 10, 25, 2, 59, 59), wall(2026, 10, 25, 0, 59, 59), 120);
    expect(z, wall(2026, 10, 25, 3, 0, 0), wall(2026, 10, 25, 2, 0, 0), 60);
    tz_zone_free(z);
}

Test(tz, new_york)
{
    struct tz_zone *z = load("America/New_York");
    expect(z, wall(2026, 7, 4, 12, 0, 0), wall(2026, 7, 4, 16, 0, 0), -240);
    expect(z, wall(2026, 1, 15, 12, 0, 0), wall(2026, 1, 15, 17, 0, 0), -300);
    /* 2026-03-08 02:00 EST -> 03:00 EDT: gap uses EST */
    expect(z, wall(2026, 3, 8, 2, 30, 0), wall(2026, 3, 8, 7, 30, 0), -300);
    expect(z, wall(2026, 3, 8, 3, 0, 0), wall(2026, 3, 8, 7, 0, 0), -240);
    /* 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 twice, EDT first */
    expect(z, wall(2026, 11, 1, 1, 30, 0), wall(2026, 11, 1, 5, 30, 0), -240);
    expect(z, wall(2026, 11, 1, 2, 0, 0), wall(2026, 11, 1, 7, 0, 0), -300);
    /* 2006 still had the old rule: DST from the first Sunday in April */
    expect(z, wall(2006, 3, 20, 12, 0, 0), wall(2006, 3, 20, 17, 0, 0), -300);
    expect(z, wall(2006, 4, 10, 12, 0, 0), wall(2006, 4, 10, 16, 0, 0), -240);
    tz_zone_free(z);
}

Test(tz, southern_hemisphere_and_half_hours)
{
    struct tz_zone *z = load("Australia/Adelaide");   /* +09:30, DST +10:30 in January */
    expect(z, wall(2026, 1, 15, 12, 0, 0), wall(2026, 1, 15, 1, 30, 0), 630);
    expect(z, wall(2026, 7, 15, 12, 0, 0), wall(2026, 7, 15, 2, 30, 0), 570);
    tz_zone_free(z);
    z = load("Asia/Kolkata");
    expect(z, wall(2026, 7, 15, 12, 0, 0), wall(2026, 7, 15, 6, 30, 0), 330);
    tz_zone_free(z);
    z = load("Etc/UTC");
    expect(z, 42, 42, 0);
    tz_zone_free(z);
}

Test(tz, loading_restores_TZ)
{
    setenv("TZ", "America/New_York", 1);
    struct tz_zone *z = load("Europe/Berlin");
    cr_expect_str_eq(getenv("TZ"), "America/New_York");
    tz_zone_free(z);

    unsetenv("TZ");
    z = load("Asia/Tokyo");
    cr_expect_null(getenv("TZ"));
    expect(z, wall(2026, 7, 1, 9, 0, 0), wall(2026, 7, 1, 0, 0, 0), 540);
    tz_zone_free(z);
    tz_zone_free(NULL);
}
