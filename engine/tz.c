/* Time zones: fixed offsets and IANA zones precomputed from the system tzdata. */
#include "engine/tz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SECS_PER_DAY 86400
/* The table covers 1970..2100: the receive window of any real message. */
#define WALK_FROM 0LL
#define WALK_TO 4102444800LL     /* 2100-01-01T00:00:00Z */
#define MAX_FIXED_OFF_MIN (18 * 60)

/* One stretch of constant offset, starting at utc_start.  local_start is the
 * wall-clock time at which it starts; it is monotonic across entries because
 * transitions are months apart while offsets change by hours, which is what
 * lets local times be looked up by searching on it. */
struct tz_span {
    int64_t utc_start;
    int64_t local_start;
    int32_t off;                 /* seconds east of UTC */
};

/* Wall-clock time is bucketed in 2^22 s (~48 day) steps from WALK_FROM so a
 * lookup starts at the right span instead of bisecting a few hundred of them;
 * a bucket rarely holds more than one transition, so the scan from there is a
 * step or two. */
#define BUCKET_SHIFT 22
#define N_BUCKETS ((uint32_t)(((WALK_TO + 2 * SECS_PER_DAY - WALK_FROM) >> BUCKET_SHIFT) + 1))

struct tz_zone {
    char *name;
    uint16_t *bucket;            /* NULL for fixed offsets; else first span of each bucket */
    uint32_t n;                  /* >= 1; span[0] starts at INT64_MIN */
    struct tz_span span[];
};

static void set_err(char *err, int errlen, const char *fmt, const char *name)
{
    if (err && errlen > 0)
        snprintf(err, (size_t)errlen, fmt, name);
}

static struct tz_zone *zone_new(const char *name, uint32_t n)
{
    struct tz_zone *z = malloc(sizeof *z + (size_t)n * sizeof z->span[0]);
    if (!z)
        return NULL;
    z->name = strdup(name);
    if (!z->name) {
        free(z);
        return NULL;
    }
    z->n = n;
    z->bucket = NULL;
    return z;
}

/* Last span whose wall-clock start is <= local, searching [lo, hi). */
static uint32_t span_search(const struct tz_zone *z, uint32_t lo, uint32_t hi, int64_t local)
{
    while (hi - lo > 1) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->span[mid].local_start <= local)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static int build_buckets(struct tz_zone *z)
{
    if (z->n > UINT16_MAX)
        return 0;                /* bisection alone still works */
    z->bucket = malloc(N_BUCKETS * sizeof *z->bucket);
    if (!z->bucket)
        return -1;
    for (uint32_t b = 0; b < N_BUCKETS; b++)
        z->bucket[b] = (uint16_t)span_search(z, 0, z->n, WALK_FROM + ((int64_t)b << BUCKET_SHIFT));
    return 0;
}

static int ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a, y = *b;
        if (x >= 'A' && x <= 'Z')
            x = (char)(x + 32);
        if (y >= 'A' && y <= 'Z')
            y = (char)(y + 32);
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int two_digits(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Returns 1 and the offset for "UTC", "GMT", "Z", "+hh", "+hhmm", "+hh:mm"
 * (and '-'), 0 when name is not of that shape, -1 when it is malformed. */
static int parse_fixed(const char *name, int *off_min)
{
    if (ascii_ieq(name, "UTC") || ascii_ieq(name, "GMT") || ascii_ieq(name, "Z") ||
        ascii_ieq(name, "UT")) {
        *off_min = 0;
        return 1;
    }
    if (name[0] != '+' && name[0] != '-')
        return 0;
    size_t l = strlen(name);
    int h, m = 0;
    if (l < 3 || (h = two_digits(name + 1)) < 0)
        return -1;
    if (l == 3) {
        /* "+hh" */
    } else if (l == 5) {
        if ((m = two_digits(name + 3)) < 0)
            return -1;
    } else if (l == 6 && name[3] == ':') {
        if ((m = two_digits(name + 4)) < 0)
            return -1;
    } else {
        return -1;
    }
    if (m > 59 || h * 60 + m > MAX_FIXED_OFF_MIN)
        return -1;
    *off_min = (name[0] == '-' ? -1 : 1) * (h * 60 + m);
    return 1;
}

/* glibc quietly treats an unknown TZ as UTC, so the name is checked against
 * the tzdata files first: a typo in the config must fail loudly. */
static int zoneinfo_exists(const char *name)
{
    for (const char *c = name; *c; c++) {
        int ok = (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                 (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' || *c == '-' ||
                 *c == '+' || *c == '.';
        if (!ok)
            return 0;
    }
    if (name[0] == '/' || name[0] == '.' || strstr(name, ".."))
        return 0;
    const char *dir = getenv("TZDIR");
    if (!dir || !*dir)
        dir = "/usr/share/zoneinfo";
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    char magic[4];
    int ok = fread(magic, 1, 4, f) == 4 && memcmp(magic, "TZif", 4) == 0;
    fclose(f);
    return ok;
}

static long gmtoff_at(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return 0;
    return tm.tm_gmtoff;
}

/* Walks 1970..2100 a day at a time under TZ=name, bisecting each offset
 * change to the second.  Two changes within one day would be missed; no zone
 * has had that since 1970. */
static struct tz_zone *load_iana(const char *name)
{
    char *saved = NULL;
    const char *old = getenv("TZ");
    if (old && !(saved = strdup(old)))
        return NULL;
    setenv("TZ", name, 1);
    tzset();

    size_t cap = 64, n = 0;
    struct tz_span *tmp = malloc(cap * sizeof *tmp);
    struct tz_zone *z = NULL;
    if (!tmp)
        goto out;
    long prev = gmtoff_at(WALK_FROM);
    tmp[n++] = (struct tz_span){INT64_MIN, INT64_MIN, (int32_t)prev};
    for (int64_t t = WALK_FROM + SECS_PER_DAY; t <= WALK_TO; t += SECS_PER_DAY) {
        long cur = gmtoff_at(t);
        if (cur == prev)
            continue;
        int64_t lo = t - SECS_PER_DAY, hi = t;   /* off(lo) == prev, off(hi) != prev */
        while (hi - lo > 1) {
            int64_t mid = lo + (hi - lo) / 2;
            if (gmtoff_at(mid) == prev)
                lo = mid;
            else
                hi = mid;
        }
        if (n == cap) {
            struct tz_span *nt = realloc(tmp, cap * 2 * sizeof *tmp);
            if (!nt)
                goto out;
            tmp = nt;
            cap *= 2;
        }
        tmp[n++] = (struct tz_span){hi, hi + cur, (int32_t)cur};
        prev = cur;
    }
    z = zone_new(name, (uint32_t)n);
    if (z) {
        memcpy(z->span, tmp, n * sizeof *tmp);
        if (build_buckets(z) != 0) {
            tz_zone_free(z);
            z = NULL;
        }
    }
out:
    free(tmp);
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    return z;
}

int tz_zone_load(const char *name, struct tz_zone **out, char *err, int errlen)
{
    *out = NULL;
    if (!name || !*name) {
        set_err(err, errlen, "empty time zone name%s", "");
        return -1;
    }
    int off_min;
    int r = parse_fixed(name, &off_min);
    if (r < 0) {
        set_err(err, errlen,
                "bad time zone offset '%s' (use +hh:mm, +hhmm or +hh, at most 18 hours)", name);
        return -1;
    }
    if (r == 0 && (!strncmp(name, "UTC", 3) || !strncmp(name, "GMT", 3)) &&
        (name[3] == '+' || name[3] == '-')) {
        /* POSIX reads "UTC+2" as two hours *west*; nobody writing it means that. */
        set_err(err, errlen,
                "ambiguous time zone '%s': write the offset as +hh:mm or -hh:mm", name);
        return -1;
    }
    struct tz_zone *z;
    if (r == 1) {
        z = zone_new(name, 1);
        if (z)
            z->span[0] = (struct tz_span){INT64_MIN, INT64_MIN, off_min * 60};
    } else {
        if (!zoneinfo_exists(name)) {
            set_err(err, errlen,
                    "unknown time zone '%s' (not a fixed offset nor a zone in the system tzdata)",
                    name);
            return -1;
        }
        z = load_iana(name);
    }
    if (!z) {
        set_err(err, errlen, "out of memory loading time zone '%s'", name);
        return -1;
    }
    *out = z;
    return 0;
}

void tz_zone_free(struct tz_zone *z)
{
    if (!z)
        return;
    free(z->name);
    free(z->bucket);
    free(z);
}

const char *tz_zone_name(const struct tz_zone *z)
{
    return z ? z->name : "UTC";
}

int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local_secs, int *offset_min)
{
    if (!z) {
        if (offset_min)
            *offset_min = 0;
        return local_secs;
    }
    /* Keeps the offset arithmetic below from overflowing on absurd input. */
    const int64_t lim = INT64_C(1) << 60;
    if (local_secs > lim)
        local_secs = lim;
    else if (local_secs < -lim)
        local_secs = -lim;
    /* Last span whose wall-clock start is <= local_secs (span[0] always is). */
    uint32_t lo;
    if (z->bucket && local_secs >= WALK_FROM &&
        ((local_secs - WALK_FROM) >> BUCKET_SHIFT) < (int64_t)N_BUCKETS) {
        lo = z->bucket[(local_secs - WALK_FROM) >> BUCKET_SHIFT];
        while (lo + 1 < z->n && z->span[lo + 1].local_start <= local_secs)
            lo++;
    } else {
        lo = span_search(z, 0, z->n, local_secs);
    }
    int32_t off = z->span[lo].off;
    /* In an autumn overlap the previous span also covers local_secs, and its
     * larger offset gives the earlier instant.  In a spring gap the search
     * already landed on the span before the gap, whose offset is the rule. */
    if (lo > 0) {
        int32_t prev = z->span[lo - 1].off;
        if (prev > off && local_secs - prev < z->span[lo].utc_start)
            off = prev;
    }
    if (offset_min)
        *offset_min = off / 60;
    return local_secs - off;
}

int64_t tz_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's days_from_civil: eras of 400 years, March-based years
     * so the leap day is the last day of the year. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;                                  /* [0, 399] */
    const int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + (int64_t)d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}
