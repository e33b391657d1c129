/* bench_syslog: syslog_parse throughput on the real log lines of the corpus.
 *
 *   bench_syslog [CORPUS_SYSLOG_DIR [SECONDS_PER_ROUND [ZONE]]]
 *
 * Loads the same lines the unit test decodes (loghub, elastic auth.log, psad,
 * rsyslog seeds, fail2ban, wazuh rule tests), parses them as they are, and
 * times ROUNDS rounds over all of them, then each format on its own.  The
 * corpus has only two RFC 5424 lines, so a 5424 set is also synthesized from
 * the 3164 lines (their host, tag and body re-framed as RFC 5424 with SD),
 * which is what rsyslog forwarding real traffic looks like.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/event.h"
#include "engine/syslog.h"
#include "engine/tz.h"
#include "bench/bench_common.h"

#define ROUNDS 7

struct lineset {
    const char *name;
    const char **ptr;
    uint32_t *len;
    size_t n, cap;
    size_t bytes;
};

/* File contents stay loaded (the lines point into them) until the end. */
static char **files;
static size_t n_files;

static void die(const char *what)
{
    fprintf(stderr, "bench_syslog: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void push(struct lineset *s, const char *p, uint32_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->ptr = realloc(s->ptr, s->cap * sizeof *s->ptr);
        s->len = realloc(s->len, s->cap * sizeof *s->len);
        if (!s->ptr || !s->len)
            die("realloc");
    }
    s->ptr[s->n] = p;
    s->len[s->n] = len;
    s->n++;
    s->bytes += len;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    if (fseek(f, 0, SEEK_END) != 0)
        die(path);
    long sz = ftell(f);
    if (sz < 0)
        die(path);
    rewind(f);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz)
        die(path);
    fclose(f);
    buf[sz] = 0;
    *len = (size_t)sz;
    return buf;
}

enum kind { PLAIN, FAIL2BAN, WAZUH };

/* Splits a file into lines (kept in memory for the whole run). */
static void load_file(struct lineset *all, const char *path, enum kind kind)
{
    size_t len;
    char *buf = slurp(path, &len);
    files = realloc(files, (n_files + 1) * sizeof *files);
    if (!files)
        die("realloc");
    files[n_files++] = buf;
    char *p = buf, *end = buf + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *s = p;
        p = nl ? nl + 1 : end;
        if (kind == FAIL2BAN && s < e && *s == '#')
            continue;
        if (kind == WAZUH) {
            /* "log N pass = RAW" / "log N fail = RAW" */
            if (e - s < 4 || memcmp(s, "log ", 4) != 0)
                continue;
            char *eq = memmem(s, (size_t)(e - s), " = ", 3);
            char *w = s + 4;
            while (w < e && *w >= '0' && *w <= '9')
                w++;
            if (!eq || w == s + 4 || (memcmp(w, " pass", 5) && memcmp(w, " fail", 5)))
                continue;
            s = eq + 3;
        }
        while (e > s && (e[-1] == '\r'))
            e--;
        if (e == s)
            continue;
        push(all, s, (uint32_t)(e - s));
    }
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Files of dir (recursively when deep), sorted, filtered by suffix. */
static void load_dir(struct lineset *all, const char *dir, const char *suffix, enum kind kind,
                     int deep)
{
    DIR *d = opendir(dir);
    if (!d)
        die(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        if (!names || asprintf(&names[n], "%s/%s", dir, de->d_name) < 0)
            die("alloc");
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmpstr);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) != 0)
            die(names[i]);
        size_t l = strlen(names[i]), sl = suffix ? strlen(suffix) : 0;
        if (S_ISDIR(st.st_mode)) {
            if (deep)
                load_dir(all, names[i], suffix, kind, deep);
        } else if (!suffix || (l >= sl && !strcmp(names[i] + l - sl, suffix))) {
            load_file(all, names[i], kind);
        }
        free(names[i]);
    }
    free(names);
}

/* Folds the fields into a value the optimiser cannot discard. */
static inline uint64_t fold(const struct vigil_event *ev, const char *line)
{
    return (uint64_t)ev->timestamp_ns ^ ((uint64_t)ev->hostname.len << 1) ^
           ((uint64_t)ev->process_name.len << 9) ^ ((uint64_t)ev->message.len << 17) ^
           (uint64_t)(ev->message.ptr - line) ^ ((uint64_t)ev->anomalies << 33) ^
           ((uint64_t)ev->facility << 41) ^ ((uint64_t)ev->severity << 49) ^
           (uint64_t)ev->pid ^ (uint64_t)ev->structured_data.len ^ (uint64_t)ev->event_code.len;
}

static uint64_t sink;

/* One round: whole passes over the set until `secs` have gone by. */
static double round_ns(const struct lineset *s, const struct syslog_ctx *ctx, double secs,
                       uint64_t *msgs_out)
{
    struct vigil_event ev;
    uint64_t sum = 0, msgs = 0;
    double t0 = bench_now_s(), t;
    do {
        for (size_t i = 0; i < s->n; i++) {
            if (syslog_parse(s->ptr[i], s->len[i], ctx, &ev) == SYSLOG_OK)
                sum += fold(&ev, s->ptr[i]);
        }
        msgs += s->n;
        t = bench_now_s();
    } while (t - t0 < secs);
    sink += sum;
    *msgs_out = msgs;
    return (t - t0) * 1e9 / (double)msgs;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench_set(const struct lineset *s, const struct syslog_ctx *ctx, double secs,
                        int verbose)
{
    double r[ROUNDS];
    uint64_t msgs;
    round_ns(s, ctx, secs / 4, &msgs);      /* warm caches and branch predictors */
    for (int i = 0; i < ROUNDS; i++) {
        r[i] = round_ns(s, ctx, secs, &msgs);
        if (verbose)
            printf("  round %d: %8.1f ns/msg  %7.2f M msg/s  (%llu msgs)\n", i + 1, r[i],
                   1e3 / r[i], (unsigned long long)msgs);
    }
    qsort(r, ROUNDS, sizeof r[0], cmpd);
    return r[ROUNDS / 2];
}

/* Re-frames a parsed 3164 line as RFC 5424 with structured data. */
static void synth_5424(struct lineset *out, const struct vigil_event *ev, uint64_t seq)
{
    char *buf;
    int n = asprintf(&buf,
                     "<%d>1 2026-03-20T09:46:40.%06llu+01:00 %.*s %.*s %.*s ID%llu "
                     "[meta sequenceId=\"%llu\"][origin ip=\"192.0.2.%llu\" software=\"rsyslogd\"] %.*s",
                     ev->facility * 8 + ev->severity, (unsigned long long)(seq % 1000000),
                     (int)ev->hostname.len, ev->hostname.ptr, (int)ev->process_name.len,
                     ev->process_name.ptr, ev->procid.ptr ? (int)ev->procid.len : 1,
                     ev->procid.ptr ? ev->procid.ptr : "-", (unsigned long long)(seq % 97),
                     (unsigned long long)seq, (unsigned long long)(seq % 254 + 1),
                     (int)ev->message.len, ev->message.ptr);
    if (n < 0)
        die("asprintf");
    push(out, buf, (uint32_t)n);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/corpus/syslog";
    double secs = argc > 2 ? atof(argv[2]) : 1.0;
    struct tz_zone *zone = NULL;
    if (argc > 3) {
        char err[256];
        if (tz_zone_load(argv[3], &zone, err, sizeof err) != 0) {
            fprintf(stderr, "bench_syslog: %s\n", err);
            return 1;
        }
    }
    if (secs <= 0)
        secs = 1.0;

    struct lineset all = {.name = "all real lines"};
    char path[4096];
#define P(rel) (snprintf(path, sizeof path, "%s/%s", dir, rel), path)
    load_file(&all, P("loghub/Linux_2k.log"), PLAIN);
    load_file(&all, P("loghub/Apache_2k.log"), PLAIN);
    load_file(&all, P("elastic_auth.log"), PLAIN);
    load_dir(&all, P("iptables-psad"), ".log", PLAIN, 0);
    load_dir(&all, P("rsyslog-seeds"), ".txt", PLAIN, 0);
    load_dir(&all, P("fail2ban/logs"), NULL, FAIL2BAN, 1);
    load_dir(&all, P("wazuh-ruletests"), ".ini", WAZUH, 0);
#undef P

    /* 2026-03-20T09:46:40Z: year inference has work to do on BSD stamps. */
    struct syslog_ctx ctx = {1774000000LL * 1000000000LL, zone};
    struct lineset f5424 = {.name = "RFC 5424 (real)"}, f3164 = {.name = "RFC 3164"},
                   fnone = {.name = "no header"}, synth = {.name = "RFC 5424 (synth)"};
    struct vigil_event ev;
    for (size_t i = 0; i < all.n; i++) {
        if (syslog_parse(all.ptr[i], all.len[i], &ctx, &ev) != SYSLOG_OK)
            continue;
        struct lineset *s = ev.format == VIGIL_FMT_RFC5424   ? &f5424
                            : ev.format == VIGIL_FMT_RFC3164 ? &f3164
                                                             : &fnone;
        push(s, all.ptr[i], all.len[i]);
        if (ev.format == VIGIL_FMT_RFC3164 && ev.hostname.ptr && ev.process_name.ptr &&
            ev.ts_source != VIGIL_TS_RECEIVED)
            synth_5424(&synth, &ev, i);
    }

    printf("bench_syslog: %zu lines, %.1f avg bytes, %.2fs rounds, median of %d, zone %s\n",
           all.n, (double)all.bytes / (double)all.n, secs, ROUNDS, zone ? tz_zone_name(zone) : "UTC");
    printf("%s:\n", all.name);
    double m_all = bench_set(&all, &ctx, secs, 1);

    const struct lineset *parts[] = {&f3164, &fnone, &f5424, &synth};
    double m[4];
    for (int i = 0; i < 4; i++)
        m[i] = parts[i]->n ? bench_set(parts[i], &ctx, secs / 3, 0) : 0;

    printf("\n%-20s %8s %10s %12s %12s\n", "set", "lines", "avg bytes", "median ns", "M msg/s");
    printf("%-20s %8zu %10.1f %12.1f %12.2f\n", all.name, all.n,
           (double)all.bytes / (double)all.n, m_all, 1e3 / m_all);
    for (int i = 0; i < 4; i++) {
        if (!parts[i]->n)
            continue;
        printf("%-20s %8zu %10.1f %12.1f %12.2f\n", parts[i]->name, parts[i]->n,
               (double)parts[i]->bytes / (double)parts[i]->n, m[i], 1e3 / m[i]);
    }
    printf("(checksum %016llx)\n", (unsigned long long)sink);

    for (size_t i = 0; i < synth.n; i++)
        free((char *)synth.ptr[i]);
    struct lineset *sets[] = {&all, &f5424, &f3164, &fnone, &synth};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        free(sets[i]->ptr);
        free(sets[i]->len);
    }
    for (size_t i = 0; i < n_files; i++)
        free(files[i]);
    free(files);
    tz_zone_free(zone);
    return 0;
}
