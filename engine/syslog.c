/* Syslog decoder: RFC 5424 and RFC 3164 as devices really send it.
 *
 * One forward pass over the header.  Where a form has to be recognised before
 * it is committed to (a Cisco sequence number, a zone word after the time) the
 * look-ahead is bounded by a small constant, so the work is linear in the
 * input however it is crafted.  Every read is checked against `end`: nothing
 * here relies on a terminator.
 */
#include "engine/syslog.h"

#include <string.h>

#include "engine/tz.h"

#define NS_PER_SEC 1000000000LL
#define SECS_PER_DAY 86400
/* Seconds that still fit in int64 nanoseconds once the fraction is added. */
#define MIN_TS_SECS (-9223372035LL)
#define MAX_TS_SECS 9223372035LL
/* A BSD timestamp may be this far ahead of the receive time (sender clock
 * skew) before it is taken to belong to the previous year. */
#define FUTURE_SLACK_SECS (31LL * SECS_PER_DAY)

/* RFC 5424 6.2 field limits; HOST_MAX also bounds a 3164 hostname. */
#define HOST_MAX 255
#define APP_MAX 48
#define PROCID_MAX 128        /* also bounds a 3164 "[pid]" */
#define MSGID_MAX 32
#define TAG_MAX 128           /* real tags exceed RFC 3164's 32 (systemd-resolved...) */
#define CISCO_TAG_MAX 96
#define SD_NAME_MAX 32
#define ZONE_WORD_MAX 6

enum ts_kind { TS_NONE = 0, TS_DATE, TS_UPTIME };

/* A timestamp as written; values are range-checked when it is resolved. */
struct ts {
    int year, mon, day, hour, min, sec;
    int off_min;
    uint32_t nsec;
    uint8_t kind;
    uint8_t has_year;
    uint8_t has_off;
};

static inline int is_digit(char c) { return (unsigned char)(c - '0') < 10u; }
static inline int is_alpha(char c) { return (unsigned char)((c | 0x20) - 'a') < 26u; }
static inline int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0' || c == '\v' ||
           c == '\f';
}

static inline size_t avail(const char *p, const char *end) { return (size_t)(end - p); }

/* Value of exactly two digits at p, or -1; the caller has checked p + 2 <= end. */
static inline int two(const char *p)
{
    if (!is_digit(p[0]) || !is_digit(p[1]))
        return -1;
    return (p[0] - '0') * 10 + (p[1] - '0');
}

static inline int four(const char *p)
{
    int a = two(p), b = two(p + 2);
    return (a < 0 || b < 0) ? -1 : a * 100 + b;
}

static inline struct vigil_str mkstr(const char *p, const char *e)
{
    return (struct vigil_str){p, (uint32_t)(e - p)};
}

/* Decimal value of [p, e) when it is 1..18 digits, else -1. */
static int64_t digits_value(const char *p, const char *e)
{
    if (e <= p || e - p > 18)
        return -1;
    int64_t v = 0;
    for (; p < e; p++) {
        if (!is_digit(*p))
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return 29;
    return dim[m - 1];
}

/* RFC 5424 6.4: a UTF-8 MSG may start with a BOM.  Some 3164 senders add it too. */
static inline const char *skip_bom(const char *p, const char *end)
{
    if (avail(p, end) >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
        (unsigned char)p[2] == 0xBF)
        return p + 3;
    return p;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Year of a day count since 1970-01-01 (inverse of tz_days_from_civil). */
static int64_t year_from_days(int64_t z)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const int64_t doe = z - era * 146097;
    const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const int64_t mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);   /* mp >= 10: January or February */
}

/* Consecutive messages of a stream carry the same date: each decoding
 * thread remembers the last one converted (and the last receive day), which
 * saves the calendar arithmetic on almost every message. */
static __thread int64_t last_civil_key = -1, last_civil_days;
static __thread int64_t last_recv_day_ns = INT64_MAX, last_recv_year;   /* start of the last receive day */

static int64_t civil_secs(int64_t y, const struct ts *t)
{
    int64_t key = y >= 0 ? (y << 9) | (t->mon << 5) | t->day : -1;
    if (key < 0 || key != last_civil_key) {
        last_civil_days = tz_days_from_civil(y, (unsigned)t->mon, (unsigned)t->day);
        last_civil_key = key;
    }
    return last_civil_days * SECS_PER_DAY + t->hour * 3600 + t->min * 60 + t->sec;
}

/* ---- timestamps ---------------------------------------------------------- */

/* 1..12 for a month abbreviation (any case) at p, else 0. */
static int month_at(const char *p, const char *end)
{
    if (avail(p, end) < 3)
        return 0;
    uint32_t k = (uint32_t)(p[0] | 0x20) << 16 | (uint32_t)(p[1] | 0x20) << 8 |
                 (uint32_t)(p[2] | 0x20);
#define M(a, b, c) ((uint32_t)(a) << 16 | (uint32_t)(b) << 8 | (uint32_t)(c))
    static const uint32_t names[12] = {
        M('j', 'a', 'n'), M('f', 'e', 'b'), M('m', 'a', 'r'), M('a', 'p', 'r'),
        M('m', 'a', 'y'), M('j', 'u', 'n'), M('j', 'u', 'l'), M('a', 'u', 'g'),
        M('s', 'e', 'p'), M('o', 'c', 't'), M('n', 'o', 'v'), M('d', 'e', 'c')};
#undef M
    for (int i = 0; i < 12; i++)
        if (names[i] == k)
            return i + 1;
    return 0;
}

/* Optional ".digits": keeps nanoseconds, drops digits past the ninth. */
static const char *parse_frac(const char *p, const char *end, uint32_t *ns)
{
    *ns = 0;
    if (avail(p, end) < 2 || p[0] != '.' || !is_digit(p[1]))
        return p;
    p++;
    uint32_t v = 0;
    int n = 0;
    for (; p < end && is_digit(*p); p++)
        if (n < 9) {
            v = v * 10 + (uint32_t)(*p - '0');
            n++;
        }
    for (; n < 9; n++)
        v *= 10;
    *ns = v;
    return p;
}

/* "hh:mm:ss" at p; returns the end or NULL. */
static const char *parse_hms(const char *p, const char *end, struct ts *t)
{
    if (avail(p, end) < 8 || p[2] != ':' || p[5] != ':')
        return NULL;
    if ((t->hour = two(p)) < 0 || (t->min = two(p + 3)) < 0 || (t->sec = two(p + 6)) < 0)
        return NULL;
    return parse_frac(p + 8, end, &t->nsec);
}

/* "Mmm dd hh:mm:ss", "Mmm  d ...", "Mmm d ...", optionally "Mmm dd YYYY hh:mm:ss". */
static const char *parse_bsd(const char *p, const char *end, struct ts *t)
{
    if (avail(p, end) < 14 || !(t->mon = month_at(p, end)) || p[3] != ' ')
        return NULL;
    const char *q = p + 4;
    if (*q == ' ')
        q++;
    if (!is_digit(*q))
        return NULL;
    t->day = *q++ - '0';
    if (q < end && is_digit(*q))
        t->day = t->day * 10 + (*q++ - '0');
    if (q >= end || *q++ != ' ')
        return NULL;
    if (avail(q, end) >= 5 && q[4] == ' ' && (t->year = four(q)) >= 0) {
        t->has_year = 1;
        q += 5;
    }
    if (!(q = parse_hms(q, end, t)))
        return NULL;
    t->kind = TS_DATE;
    return q;
}

/* RFC 3339: YYYY-MM-DDThh:mm:ss[.frac][Z|+hh:mm|+hhmm]; the offset may be
 * missing (then the sender's zone applies). */
static const char *parse_iso(const char *p, const char *end, struct ts *t)
{
    if (avail(p, end) < 19 || p[4] != '-' || p[7] != '-' || (p[10] | 0x20) != 't')
        return NULL;
    if ((t->year = four(p)) < 0 || (t->mon = two(p + 5)) < 0 || (t->day = two(p + 8)) < 0)
        return NULL;
    const char *q = parse_hms(p + 11, end, t);
    if (!q)
        return NULL;
    t->has_year = 1;
    t->kind = TS_DATE;
    if (q < end && (*q | 0x20) == 'z') {
        t->has_off = 1;
        t->off_min = 0;
        return q + 1;
    }
    if (q < end && (*q == '+' || *q == '-') && avail(q, end) >= 5) {
        int h = two(q + 1), m;
        const char *e;
        if (q[3] == ':' && avail(q, end) >= 6) {
            m = two(q + 4);
            e = q + 6;
        } else {
            m = two(q + 3);
            e = q + 5;
        }
        if (h < 0 || m < 0 || h > 23 || m > 59)
            return NULL;
        t->has_off = 1;
        t->off_min = (*q == '-' ? -1 : 1) * (h * 60 + m);
        return e;
    }
    return q;
}

/* Any timestamp form that can open a 3164 header. */
static const char *parse_any_ts(const char *p, const char *end, struct ts *t)
{
    memset(t, 0, sizeof *t);
    if (p >= end)
        return NULL;
    if (is_alpha(*p))
        return parse_bsd(p, end, t);
    if (!is_digit(*p))
        return NULL;
    if (avail(p, end) >= 5 && four(p) >= 0) {
        if (p[4] == '-')
            return parse_iso(p, end, t);
        if (p[4] == ' ') {
            /* "2019 May 06 09:28:12": the Wazuh agent's prefix */
            int y = four(p);
            const char *q = parse_bsd(p + 5, end, t);
            if (!q || t->has_year)
                return NULL;
            t->year = y;
            t->has_year = 1;
            return q;
        }
    }
    /* Cisco uptime "00:00:46:" (service timestamps uptime): not a date. */
    const char *q = p;
    while (q < end && is_digit(*q) && q - p < 6)
        q++;
    if (avail(q, end) >= 7 && q[0] == ':' && two(q + 1) >= 0 && q[3] == ':' &&
        two(q + 4) >= 0 && q[6] == ':') {
        t->kind = TS_UPTIME;
        return q + 6;
    }
    return NULL;
}

static int ts_fields_ok(const struct ts *t)
{
    return t->mon >= 1 && t->mon <= 12 && t->day >= 1 && t->day <= 31 && t->hour <= 23 &&
           t->min <= 59 && t->sec <= 60 &&
           (!t->has_year || t->day <= days_in_month(t->year, t->mon));
}

/* The year that puts month/day nearest the receive time, allowing the
 * message to be up to FUTURE_SLACK_SECS ahead.  Returns the year and, in
 * *local, the wall-clock seconds of t in it. */
static int64_t infer_year(const struct ts *t, int64_t received_ns, int64_t *local)
{
    /* recv = floor(received_ns / 1e9) is never computed: for an integer a,
     * recv < a exactly when received_ns < a * 1e9, so the two tests below
     * compare nanoseconds and a message costs no 64-bit division (the
     * receive day is recomputed only when received_ns leaves it) */
    if (received_ns < last_recv_day_ns ||
        (uint64_t)received_ns - (uint64_t)last_recv_day_ns >= (uint64_t)SECS_PER_DAY * NS_PER_SEC) {
        int64_t day = floor_div(floor_div(received_ns, NS_PER_SEC), SECS_PER_DAY);
        __int128 start = (__int128)day * SECS_PER_DAY * NS_PER_SEC;
        last_recv_year = year_from_days(day);
        last_recv_day_ns = start >= INT64_MIN ? (int64_t)start : INT64_MAX;   /* INT64_MAX: not cached */
    }
    int64_t y = last_recv_year;
    int64_t secs = civil_secs(y, t);
    if ((__int128)received_ns < (__int128)(secs - FUTURE_SLACK_SECS) * NS_PER_SEC)   /* secs - recv > slack */
        y--;
    else if ((__int128)received_ns >= (__int128)(secs - FUTURE_SLACK_SECS + 365LL * SECS_PER_DAY) * NS_PER_SEC)
        y++;   /* secs - recv <= slack - 365 days */
    else {
        *local = secs;
        return y;
    }
    *local = civil_secs(y, t);
    return y;
}

/* Sets @timestamp from t, or flags it bad and leaves the receive time. */
static void resolve_ts(struct vigil_event *ev, const struct ts *t, const struct syslog_ctx *ctx,
                       const struct tz_zone *zone)
{
    if (!ts_fields_ok(t))
        goto bad;
    int64_t y, local, utc;
    uint8_t src = VIGIL_TS_MESSAGE;
    if (t->has_year) {
        local = civil_secs(t->year, t);
    } else {
        y = infer_year(t, ctx->received_ns, &local);
        src = VIGIL_TS_INFERRED_YEAR;
        if (t->day > days_in_month((int)y, t->mon))
            goto bad;
    }
    int off_min;
    if (t->has_off) {
        off_min = t->off_min;
        utc = local - (int64_t)off_min * 60;
    } else {
        utc = tz_local_to_utc(zone, local, &off_min);
    }
    if (utc < MIN_TS_SECS || utc > MAX_TS_SECS)
        goto bad;
    ev->timestamp_ns = utc * NS_PER_SEC + (int64_t)t->nsec;
    ev->tz_offset_min = (int16_t)off_min;
    ev->ts_source = src;
    return;
bad:
    ev->anomalies |= VIGIL_ANOM_BAD_TIMESTAMP | VIGIL_ANOM_NO_TIMESTAMP;
}

/* ---- RFC 5424 ------------------------------------------------------------ */

static inline int sd_name_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 33 && u <= 126 && u != '=' && u != ']' && u != '"';
}

/* SD-NAME (SD-ID, PARAM-NAME): 1..32 of its characters; returns the end or NULL. */
static const char *sd_name(const char *p, const char *end)
{
    const char *s = p, *lim = avail(p, end) > SD_NAME_MAX ? p + SD_NAME_MAX : end;
    while (p < lim && sd_name_char(*p))
        p++;
    if (p == s || (p < end && sd_name_char(*p)))
        return NULL;
    return p;
}

/* Closing quote of a PARAM-VALUE starting at p, escapes skipped; NULL if none. */
static const char *sd_value_end(const char *p, const char *end)
{
    while (p < end && *p != '"') {
        if (*p == '\\' && p + 1 < end)
            p++;
        p++;
    }
    return p < end ? p : NULL;
}

/* One or more SD-ELEMENTs at p; returns the end of the last, or NULL when
 * malformed.  Picks up meta sequenceId on the way. */
static const char *scan_sd(const char *p, const char *end, int64_t *seq)
{
    if (p >= end || *p != '[')
        return NULL;
    while (p < end && *p == '[') {
        const char *id = p + 1;
        if (!(p = sd_name(id, end)))
            return NULL;
        int meta = p - id == 4 && !memcmp(id, "meta", 4);
        for (;;) {
            if (p >= end)
                return NULL;
            if (*p == ']') {
                p++;
                break;
            }
            if (*p != ' ')
                return NULL;
            const char *name = p + 1, *ne = sd_name(name, end);
            if (!ne || avail(ne, end) < 2 || ne[0] != '=' || ne[1] != '"')
                return NULL;
            const char *v = ne + 2, *ve = sd_value_end(v, end);
            if (!ve)
                return NULL;
            if (meta && ne - name == 10 && !memcmp(name, "sequenceId", 10))
                *seq = digits_value(v, ve);
            p = ve + 1;
        }
    }
    return p;
}

/* A header field of 1..max PRINTUSASCII followed by SP; "-" is absent. */
static const char *field_5424(const char *p, const char *end, size_t max, struct vigil_str *out)
{
    const char *s = p, *lim = avail(p, end) > max ? p + max : end;
    while (p < lim && (unsigned char)(*p - 33) < 94u)
        p++;
    if (p == s || p >= end || *p != ' ')
        return NULL;
    *out = (p - s == 1 && *s == '-') ? (struct vigil_str){NULL, 0} : mkstr(s, p);
    return p + 1;
}

/* p is just past "<PRI>1 ".  Fills ev and returns 1 only when the header is
 * valid RFC 5424; otherwise ev is untouched and the caller falls back. */
static int parse_5424(const char *p, const char *end, const struct syslog_ctx *ctx,
                      struct vigil_event *ev)
{
    struct ts t;
    int nil_ts = 0;
    if (avail(p, end) >= 2 && p[0] == '-' && p[1] == ' ') {
        nil_ts = 1;
        p += 2;
    } else {
        memset(&t, 0, sizeof t);
        const char *te = parse_iso(p, end, &t);
        if (!te || te >= end || *te != ' ' || !ts_fields_ok(&t))
            return 0;
        p = te + 1;
    }
    struct vigil_str host, app, procid, msgid;
    if (!(p = field_5424(p, end, HOST_MAX, &host)) || !(p = field_5424(p, end, APP_MAX, &app)) ||
        !(p = field_5424(p, end, PROCID_MAX, &procid)) ||
        !(p = field_5424(p, end, MSGID_MAX, &msgid)))
        return 0;
    if (p >= end)
        return 0;

    int64_t seq = -1;
    const char *msg = NULL;
    struct vigil_str sd = {NULL, 0};
    if (*p == '-' && (p + 1 == end || p[1] == ' ')) {
        msg = p + 1;
    } else {
        const char *se = scan_sd(p, end, &seq);
        if (se && (se == end || *se == ' ')) {
            sd = mkstr(p, se);
            msg = se;
        } else {
            seq = -1;
        }
    }

    ev->format = VIGIL_FMT_RFC5424;
    ev->hostname = host;
    ev->process_name = app;
    ev->procid = procid;
    ev->msgid = msgid;
    ev->pid = procid.ptr ? digits_value(procid.ptr, procid.ptr + procid.len) : -1;
    ev->structured_data = sd;
    ev->sequence = seq;
    if (msg) {
        if (msg < end)
            msg++;                                   /* the SP before MSG */
        ev->message = mkstr(skip_bom(msg, end), end);
    } else {
        ev->anomalies |= VIGIL_ANOM_BAD_SD;
        ev->message = mkstr(p, end);                 /* the SD, raw, and what follows */
    }
    if (nil_ts)
        ev->anomalies |= VIGIL_ANOM_NO_TIMESTAMP;
    else
        resolve_ts(ev, &t, ctx, ctx->zone);
    return 1;
}

/* ---- RFC 3164 ------------------------------------------------------------ */

/* "%FAC-SEV-MNEMONIC:" (Cisco IOS/ASA/NX-OS).  Returns the message start or NULL. */
static const char *parse_cisco_tag(const char *p, const char *end, struct vigil_event *ev)
{
    const char *q = p + 1, *sev = NULL;
    const char *lim = avail(q, end) > CISCO_TAG_MAX ? q + CISCO_TAG_MAX : end;
    for (; q < lim && *q != ':'; q++) {
        char c = *q;
        if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-')
            return NULL;
        /* The first "-d-" splits facility (which may itself hold '-') from mnemonic. */
        if (!sev && c == '-' && q > p + 1 && avail(q, lim) >= 3 && q[1] >= '0' && q[1] <= '7' &&
            q[2] == '-')
            sev = q + 1;
    }
    if (q >= lim || !sev || q <= sev + 2)
        return NULL;
    ev->process_name = mkstr(p + 1, sev - 1);
    ev->event_code = mkstr(sev + 2, q);
    ev->vendor_severity = (int16_t)(*sev - '0');
    q++;
    if (q < end && *q == ' ')
        q++;
    return q;
}

/* TAG forms: "name[pid]:", "name:", "name[pid] " (proftpd), "name 1.4.1:"
 * (sysklogd), Cisco "%FAC-SEV-MNEM:".  strict (no timestamp was seen) accepts
 * only the bracketed and Cisco forms, which prose does not produce by chance.
 * Returns the message start, or NULL when p does not hold a tag. */
static const char *parse_tag(const char *p, const char *end, int strict, struct vigil_event *ev)
{
    if (p >= end)
        return NULL;
    if (*p == '%') {
        const char *m = parse_cisco_tag(p, end, ev);
        if (m)
            return m;
    }
    const char *lim = avail(p, end) > TAG_MAX ? p + TAG_MAX : end;
    const char *q = p;
    while (q < lim && *q != ' ' && *q != ':' && *q != '[')
        q++;
    if (q == p || q == lim)
        return NULL;
    if (*q == '[') {
        const char *r = q + 1;
        const char *rl = avail(r, end) > PROCID_MAX ? r + PROCID_MAX : end;
        while (r < rl && *r != ']' && *r != ' ')
            r++;
        if (r >= rl || *r != ']')
            return NULL;
        const char *m = r + 1;
        if (m < end && *m == ':') {
            m++;
            if (m < end && *m == ' ')
                m++;
        } else if (strict) {
            return NULL;
        } else if (m < end && *m == ' ') {
            m++;
        } else if (m != end) {
            return NULL;
        }
        ev->process_name = mkstr(p, q);
        ev->procid = mkstr(q + 1, r);
        ev->pid = digits_value(q + 1, r);
        return m;
    }
    if (strict)
        return NULL;
    if (*q == ':') {
        /* "http://..." opening a message is not a tag */
        if (q + 1 < end && q[1] != ' ')
            return NULL;
        ev->process_name = mkstr(p, q);
        return q + 1 < end ? q + 2 : end;
    }
    /* "syslogd 1.4.1: restart." */
    const char *r = q + 1;
    if (r < end && is_digit(*r)) {
        while (r < end && r - q < 24 && (is_digit(*r) || *r == '.'))
            r++;
        if (r < end && *r == ':' && (r + 1 == end || r[1] == ' ')) {
            ev->process_name = mkstr(p, q);
            return r + 1 < end ? r + 2 : end;
        }
    }
    return NULL;
}

/* A facility or severity given as a number or a name; -1 when neither. */
static int name_code(const char *p, const char *e, const char *const *names, int n, int max)
{
    int64_t v = digits_value(p, e);
    if (v >= 0)
        return v <= max ? (int)v : -1;
    size_t l = (size_t)(e - p);
    for (int i = 0; i < n; i++)
        if (names[i] && strlen(names[i]) == l && !memcmp(names[i], p, l))
            return i;
    return -1;
}

/* FreeBSD syslogd -v / -vv put the priority after the timestamp: "<4.3>" or
 * "<auth.info>".  Returns the text after it, or NULL. */
static const char *parse_bsd_pri(const char *p, const char *end, int *fac, int *sev)
{
    static const char *const facs[24] = {
        "kern",   "user",   "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
        "uucp",   "cron",   "authpriv", "ftp",  "ntp",    "security", "console", NULL,
        "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
    static const char *const sevs[8] = {"emerg", "alert", "crit",  "err",
                                        "warning", "notice", "info", "debug"};
    const char *q = p + 1, *dot = NULL;
    const char *lim = avail(q, end) > 24 ? q + 24 : end;
    for (; q < lim && *q != '>'; q++)
        if (*q == '.' && !dot)
            dot = q;
    if (q >= lim || !dot)
        return NULL;
    int f = name_code(p + 1, dot, facs, 24, 23), s = name_code(dot + 1, q, sevs, 8, 7);
    if (f < 0 || s < 0)
        return NULL;
    q++;
    if (q < end && *q != ' ')
        return NULL;
    while (q < end && *q == ' ')
        q++;
    *fac = f;
    *sev = s;
    return q;
}

static int zone_word_is_utc(const char *p, const char *e)
{
    size_t l = (size_t)(e - p);
    char w[4] = {0};
    if (l > 3)
        return 0;
    for (size_t i = 0; i < l; i++)
        w[i] = (char)(p[i] | 0x20);
    return !strcmp(w, "utc") || !strcmp(w, "gmt") || !strcmp(w, "ut") || !strcmp(w, "z");
}

/* Does a timestamp (with Cisco's optional marker) start at p? */
static int ts_ahead(const char *p, const char *end)
{
    struct ts t;
    if (p < end && (*p == '*' || *p == '.'))
        p++;
    return parse_any_ts(p, end, &t) != NULL;
}

static void parse_3164(const char *p, const char *end, const struct syslog_ctx *ctx,
                       struct vigil_event *ev, int have_pri)
{
    const struct tz_zone *zone = ctx->zone;
    int header = have_pri, cisco = 0;

    /* Cisco IOS sequence number "123: ", possibly followed by the origin-id
     * hostname "router1: ".  Taken only when a timestamp or Cisco tag follows,
     * so a message that merely starts with a number stays intact. */
    if (p < end && is_digit(*p)) {
        const char *s = p;
        while (s < end && is_digit(*s) && s - p < 10)
            s++;
        if (avail(s, end) >= 2 && s[0] == ':' && s[1] == ' ') {
            const char *r = s + 2;
            if ((r < end && *r == '%') || ts_ahead(r, end)) {
                ev->sequence = digits_value(p, s);
                p = r;
                cisco = 1;
            } else {
                const char *h = r, *hl = avail(r, end) > 64 ? r + 64 : end;
                while (h < hl && *h != ' ' && *h != ':')
                    h++;
                if (h > r && avail(h, end) >= 3 && h[0] == ':' && h[1] == ' ' &&
                    (h[2] == '%' || ts_ahead(h + 2, end))) {
                    ev->sequence = digits_value(p, s);
                    ev->hostname = mkstr(r, h);
                    p = h + 2;
                    cisco = 1;
                }
            }
        }
    }

    /* Timestamp; Cisco marks it '*' (clock not set) or '.' (not synced). */
    struct ts t;
    const char *q = p, *te;
    if (q < end && (*q == '*' || *q == '.'))
        q++;
    int colon = 0;
    if ((te = parse_any_ts(q, end, &t))) {
        cisco |= q != p;
        const char *r = te;
        /* Cisco zone word: "03:32:04.114 gmt: %SEC-6-...".  Outside a Cisco
         * context only when a Cisco tag follows, so "su: ..." stays a tag. */
        if (r < end && *r == ' ' && t.kind == TS_DATE && !t.has_off) {
            const char *w = r + 1, *wl = avail(w, end) > ZONE_WORD_MAX ? w + ZONE_WORD_MAX : end;
            while (w < wl && is_alpha(*w))
                w++;
            if (w > r + 1 && w < end && *w == ':' &&
                (cisco || (avail(w, end) >= 3 && w[1] == ' ' && w[2] == '%'))) {
                if (zone_word_is_utc(r + 1, w))
                    zone = NULL;
                r = w;
            }
        }
        if (r < end && *r == ':') {
            colon = 1;
            r++;
        } else if (r < end && *r != ' ') {
            te = NULL;                       /* "Oct 11 22:14:15x": not a timestamp */
        }
        if (te) {
            while (r < end && *r == ' ')
                r++;
            p = r;
        }
    }

    if (te) {
        header = 1;
        int fac, sev;
        const char *r;
        if (!colon && p < end && *p == '<' && (r = parse_bsd_pri(p, end, &fac, &sev))) {
            if (!have_pri) {
                ev->facility = (int16_t)fac;
                ev->severity = (int16_t)sev;
                ev->anomalies &= ~(uint32_t)VIGIL_ANOM_NO_PRI;
            }
            p = r;
        }
    }

    const char *m = NULL;
    if (te && !colon) {
        /* "HOST TAG:" or "TAG:": a first token ending in ':' or holding '['
         * is the tag, anything else is the host. */
        size_t n = avail(p, end);
        const char *sp = memchr(p, ' ', n > HOST_MAX + 1 ? HOST_MAX + 1 : n);
        const char *t1 = sp ? sp : (n <= HOST_MAX ? end : NULL);
        if (t1 && t1 > p) {
            if (t1[-1] == ':' || *p == '%' || memchr(p, '[', (size_t)(t1 - p))) {
                m = parse_tag(p, end, 0, ev);
            } else {
                ev->hostname = mkstr(p, t1);
                p = t1;
                while (p < end && *p == ' ')
                    p++;
                if (avail(p, end) >= 2 && p[0] == ':' && p[1] == ' ')
                    p += 2;                  /* ASA "host : %ASA-..." */
                m = parse_tag(p, end, 0, ev);
            }
        }
    } else {
        m = parse_tag(p, end, !te, ev);
    }
    if (m) {
        header = 1;
        p = m;
    }
    ev->message = mkstr(skip_bom(p, end), end);
    ev->format = header ? VIGIL_FMT_RFC3164 : VIGIL_FMT_NONE;

    if (!te || t.kind != TS_DATE)
        ev->anomalies |= VIGIL_ANOM_NO_TIMESTAMP;
    else
        resolve_ts(ev, &t, ctx, zone);
}

/* ---- entry points -------------------------------------------------------- */

enum syslog_result syslog_parse(const char *buf, size_t len, const struct syslog_ctx *ctx,
                                struct vigil_event *ev)
{
    static const struct syslog_ctx utc_now = {0, NULL};
    if (!ctx)
        ctx = &utc_now;
    if (!buf)
        return SYSLOG_ERR_EMPTY;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == '\0'))
        len--;
    size_t i = 0;
    while (i < len && is_blank(buf[i]))
        i++;
    if (i == len)
        return SYSLOG_ERR_EMPTY;

    uint32_t anom = 0;
    if (len > UINT32_MAX) {
        len = UINT32_MAX;
        anom |= VIGIL_ANOM_TRUNCATED;
    }
    if (memchr(buf, '\0', len))
        anom |= VIGIL_ANOM_NUL_BYTES;

    ev->timestamp_ns = ctx->received_ns;
    ev->received_ns = ctx->received_ns;
    ev->format = VIGIL_FMT_NONE;
    ev->ts_source = VIGIL_TS_RECEIVED;
    ev->facility = 1;                                /* user.notice, RFC 3164 4.3.3 */
    ev->severity = 5;
    ev->tz_offset_min = 0;
    ev->anomalies = anom;
    ev->pid = -1;
    ev->sequence = -1;
    ev->hostname = ev->process_name = ev->procid = ev->msgid = ev->event_code =
        ev->structured_data = (struct vigil_str){NULL, 0};
    ev->vendor_severity = -1;

    const char *p = buf, *end = buf + len;
    int have_pri = 0;
    if (*p == '<') {
        const char *q = p + 1;
        int v = 0;
        while (q < end && is_digit(*q) && q - p <= 3)
            v = v * 10 + (*q++ - '0');
        if (q > p + 1 && q - p <= 4 && q < end && *q == '>' && v <= 191) {
            ev->facility = (int16_t)(v >> 3);
            ev->severity = (int16_t)(v & 7);
            have_pri = 1;
            p = q + 1;
        } else if (memchr(p + 1, '>', avail(p + 1, end) > 5 ? 5 : avail(p + 1, end))) {
            /* "<999>", "<>", "<W>": a PRI gone wrong.  Its bytes stay in the
             * message and nothing after it is trusted as a header. */
            ev->anomalies |= VIGIL_ANOM_BAD_PRI | VIGIL_ANOM_NO_TIMESTAMP;
            ev->message = mkstr(buf, end);
            return SYSLOG_OK;
        }
    }
    if (!have_pri)
        ev->anomalies |= VIGIL_ANOM_NO_PRI;

    if (have_pri && avail(p, end) >= 2 && p[0] == '1' && p[1] == ' ') {
        if (parse_5424(p + 2, end, ctx, ev))
            return SYSLOG_OK;
        ev->anomalies |= VIGIL_ANOM_5424_FALLBACK;
        p += 2;
    }
    parse_3164(p, end, ctx, ev, have_pri);
    return SYSLOG_OK;
}

void syslog_sd_iter_init(struct syslog_sd_iter *it, struct vigil_str sd)
{
    it->p = sd.ptr;
    it->end = sd.ptr ? sd.ptr + sd.len : NULL;
    it->sd_id = (struct vigil_str){NULL, 0};
}

/* The iterator re-validates as it goes: it may be handed any string, not only
 * one syslog_parse accepted.  On anything malformed it stops. */
int syslog_sd_next(struct syslog_sd_iter *it, struct syslog_sd_param *out)
{
    const char *p = it->p, *end = it->end;
    int first = 0;
    if (!p || p >= end)
        goto stop;
    if (*p == '[') {
        const char *id = p + 1, *ie = sd_name(id, end);
        if (!ie || ie >= end)
            goto stop;
        it->sd_id = mkstr(id, ie);
        p = ie;
        first = 1;
        if (*p == ']') {
            out->sd_id = it->sd_id;
            out->name = out->value = (struct vigil_str){NULL, 0};
            out->first_in_element = 1;
            it->p = p + 1;
            return 1;
        }
    }
    if (*p != ' ' || !it->sd_id.ptr)
        goto stop;
    const char *name = p + 1, *ne = sd_name(name, end);
    if (!ne || avail(ne, end) < 2 || ne[0] != '=' || ne[1] != '"')
        goto stop;
    const char *v = ne + 2, *ve = sd_value_end(v, end);
    if (!ve)
        goto stop;
    out->sd_id = it->sd_id;
    out->name = mkstr(name, ne);
    out->value = mkstr(v, ve);
    out->first_in_element = first;
    p = ve + 1;
    if (p < end && *p == ']')
        p++;
    it->p = p;
    return 1;
stop:
    it->p = NULL;
    return 0;
}
