/* bench_detect: detection cost per event on real log lines.
 *
 *   bench_detect [--rules DIR]... [--fieldmap FILE] [--sigma-corpus] [--synthetic N]
 *                [--parsers DIR] [--corpus DIR] [--rounds N] [--seed S]
 *
 * Defaults: --rules configs/rules, --fieldmap configs/fieldmap.yaml,
 * --parsers configs/parsers (used when it loads), --corpus ../shared/corpus,
 * 7 rounds.  Run from the source tree.
 *
 * Rules: the shipped pack, plus every SigmaHQ rule of the corpus that loads
 * (--sigma-corpus), plus N synthetic rules (--synthetic N) written to a temp
 * directory: realistic contains / startswith / equals / cidr tests on
 * message, url.original, user.name and source.ip, spread over the shipped log
 * sources, their literals drawn from the corpus's own words so that some of
 * them match (the rest are near misses, which is what costs in a scanner).
 *
 * Events: every line of the corpus's syslog and web logs (loghub, elastic
 * auth.log, psad iptables, fail2ban, wazuh rule tests, the Apache access
 * log), decoded by syslog_parse, turned into fields (event_fields_from_syslog)
 * and parsed by the parser packs when they load.  Without parser packs the
 * bench assigns log sources from process.name and extracts the few fields the
 * shipped rules test (url.original, user_agent.original, source.ip,
 * user.name, ...) itself, and says so.
 *
 * Output: compile time (cold, and again from the warm hsdb cache), rules and
 * events, then the detect_eval cost per event.  Fields are rebuilt for each
 * event right before it is evaluated (event_fields_from_syslog + parsers), as
 * on the packet path, so the event is hot in cache; the detection cost is
 * (parse + detect) - (parse alone), each the median of ROUNDS rounds over the
 * same events, overall and per log source.  A second, steadier figure times
 * detect_eval alone: each event's parsed fields are captured once and
 * replayed (copied into one event_fields, then evaluated; the copy alone is
 * timed too and subtracted).  A third is the floor under both: the
 * Hyperscan scan of each event's message with the database its log source
 * uses (detect_message_db), nothing around it; what detect_eval costs above
 * it is Vigil's own work (fields, tables, rule code).  Per log source the
 * bench also prints what an event costs in work (detect_last_stats): fields,
 * field values checked, value-table lookups, Hyperscan scans and rules
 * evaluated.
 * BENCH_DETECT_FIRED=1 also lists how often each rule fired.
 * BENCH_DETECT_PROFILE=SECONDS runs only detect_eval on the replayed fields
 * for that long and exits (for perf record); BENCH_DETECT_LOGSOURCE=ID
 * restricts it to one log source id (the first column of the per log source
 * lines).
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
#include <unistd.h>

#include "engine/detect.h"
#include "engine/diag.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"
#include "engine/parser.h"
#include "engine/syslog.h"
#include "bench/bench_common.h"

/* Results go here so the compiler cannot drop the work being timed. */
static volatile int sink;

static void die(const char *what)
{
    fprintf(stderr, "bench_detect: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz)
        die(path);
    fclose(f);
    buf[sz] = 0;
    *len = (size_t)sz;
    return buf;
}

/* ---------------- events ---------------- */

static struct vigil_event *evs;
static size_t n_evs, cap_evs;

/* Buffers the events point into, freed at the end. */
static char **bufs;
static size_t n_bufs, cap_bufs;

static char *keep(char *b)
{
    if (n_bufs == cap_bufs) {
        cap_bufs = cap_bufs ? cap_bufs * 2 : 256;
        if (!(bufs = realloc(bufs, cap_bufs * sizeof *bufs)))
            die("realloc");
    }
    return bufs[n_bufs++] = b;
}

static void add_line(const char *line, size_t len, const char *program)
{
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    struct vigil_event ev;
    if (syslog_parse(line, len, &ctx, &ev) != SYSLOG_OK)
        return;
    if (ev.format == VIGIL_FMT_NONE && program) {
        size_t hl = strlen(program) + 48;
        char *buf = malloc(hl + len);   /* kept: the event points into it */
        if (!buf)
            die("malloc");
        keep(buf);
        int n = snprintf(buf, hl, "<13>Jan  1 00:00:00 vigil-bench %s: ", program);
        memcpy(buf + n, line, len);
        if (syslog_parse(buf, (size_t)n + len, &ctx, &ev) != SYSLOG_OK)
            return;
    }
    if (n_evs == cap_evs) {
        cap_evs = cap_evs ? cap_evs * 2 : 4096;
        if (!(evs = realloc(evs, cap_evs * sizeof *evs)))
            die("realloc");
    }
    evs[n_evs++] = ev;
}

enum kind { PLAIN, FAIL2BAN, WAZUH };

static void load_file(const char *path, enum kind kind, const char *program)
{
    size_t len;
    char *buf = slurp(path, &len);   /* kept: events point into it */
    if (!buf)
        return;
    keep(buf);
    for (char *p = buf, *e = buf + len; p < e;) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        char *le = nl ? nl : e, *ls = p;
        p = nl ? nl + 1 : e;
        if (le > ls && le[-1] == '\r')
            le--;
        if (le == ls || (kind == FAIL2BAN && ls[0] == '#'))
            continue;
        if (kind == WAZUH) {
            if (strncmp(ls, "log ", 4) != 0)
                continue;
            char *eq = memchr(ls, '=', (size_t)(le - ls));
            if (!eq)
                continue;
            for (ls = eq + 1; ls < le && *ls == ' '; ls++)
                ;
            if (ls == le)
                continue;
        }
        add_line(ls, (size_t)(le - ls), program);
    }
}

static const char *program_for(const char *name)
{
    if (!strncmp(name, "apache", 6) || !strcmp(name, "web_rules.ini") || !strcmp(name, "apache.ini") ||
        !strncmp(name, "php-", 4))
        return "httpd";
    if (!strncmp(name, "nginx", 5))
        return "nginx";
    if (!strncmp(name, "vsftpd", 6))
        return "vsftpd";
    if (!strncmp(name, "dovecot", 7))
        return "dovecot";
    if (!strncmp(name, "sshd", 4))
        return "sshd";
    return NULL;
}

static void load_dir(const char *dir, enum kind kind)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            load_file(p, kind, program_for(de->d_name));
    }
    closedir(d);
}

/* ---------------- fallback field extraction (no parser packs) ---------------- */

static field_id F_URL, F_UA, F_METHOD, F_STATUS, F_SRCIP, F_USER, F_OUTCOME;
static uint16_t LS_SSHD, LS_SUDO, LS_WEB, LS_FW, LS_ASA, LS_LINUX;

static bool eq(struct vigil_str s, const char *c) { return s.ptr && s.len == strlen(c) && !memcmp(s.ptr, c, s.len); }

static const char *find(const char *p, const char *e, const char *needle)
{
    size_t n = strlen(needle);
    for (; p + n <= e; p++)
        if (!memcmp(p, needle, n))
            return p;
    return NULL;
}

static void word_after(struct event_fields *ef, field_id id, const char *p, const char *e, const char *key)
{
    const char *k = find(p, e, key);
    if (!k)
        return;
    const char *v = k + strlen(key), *w = v;
    while (w < e && *w != ' ')
        w++;
    if (w > v) {
        struct vigil_ip ip;
        if (id == F_SRCIP && field_parse_ip(v, (uint32_t)(w - v), &ip))
            event_fields_add_ip(ef, id, &ip);
        else if (id != F_SRCIP)
            event_fields_add_str(ef, id, v, (uint32_t)(w - v));
    }
}

static void fallback_fields(const struct vigil_event *ev, struct event_fields *ef)
{
    const char *m = ev->message.ptr, *e = m + ev->message.len;
    struct vigil_str pn = ev->process_name;
    if (eq(pn, "sshd")) {
        ef->logsource = LS_SSHD;
        if (find(m, e, "for invalid user "))
            word_after(ef, F_USER, m, e, "for invalid user ");
        else
            word_after(ef, F_USER, m, e, " for ");
        word_after(ef, F_SRCIP, m, e, " from ");
        if (find(m, e, "Failed ") || find(m, e, "Invalid user"))
            event_fields_add_str(ef, F_OUTCOME, "failure", 7);
        else if (find(m, e, "Accepted "))
            event_fields_add_str(ef, F_OUTCOME, "success", 7);
    } else if (eq(pn, "sudo")) {
        ef->logsource = LS_SUDO;
    } else if (eq(pn, "kernel") && find(m, e, " SRC=")) {
        ef->logsource = LS_FW;
        word_after(ef, F_SRCIP, m, e, " SRC=");
    } else if (find(m, e, "devid=") && find(m, e, "logid=")) {
        ef->logsource = LS_FW;
    } else if (ev->event_code.ptr && (eq(pn, "ASA") || !pn.ptr)) {
        ef->logsource = LS_ASA;
    } else if (eq(pn, "httpd") || eq(pn, "nginx") || eq(pn, "apache") || eq(pn, "apache2")) {
        ef->logsource = LS_WEB;
        const char *q = find(m, e, "\"");
        if (q) {
            const char *sp = q + 1;
            while (sp < e && *sp != ' ' && *sp != '"')
                sp++;
            if (sp < e && *sp == ' ') {
                event_fields_add_str(ef, F_METHOD, q + 1, (uint32_t)(sp - q - 1));
                const char *u = sp + 1, *ue = u;
                while (ue < e && *ue != ' ' && *ue != '"')
                    ue++;
                event_fields_add_str(ef, F_URL, u, (uint32_t)(ue - u));
                const char *cq = find(ue, e, "\" ");
                if (cq && cq + 5 < e)
                    event_fields_add_int(ef, F_STATUS, strtol(cq + 2, NULL, 10));
            }
            /* the user agent is the last quoted string */
            const char *last = e;
            while (last > m && last[-1] != '"')
                last--;
            if (last > m + 1) {
                const char *ua = last - 1;
                while (ua > m && ua[-1] != '"')
                    ua--;
                if (ua < last - 1)
                    event_fields_add_str(ef, F_UA, ua, (uint32_t)(last - 1 - ua));
            }
        }
    } else if (pn.ptr) {
        ef->logsource = LS_LINUX;
    }
}

/* ---------------- synthetic rules ---------------- */

/* A run of 1..3 words of a random corpus message: real text, so some match. */
static int corpus_phrase(char *out, size_t cap, unsigned words)
{
    for (int tries = 0; tries < 50; tries++) {
        const struct vigil_event *ev = &evs[rnd() % n_evs];
        const char *m = ev->message.ptr;
        uint32_t n = ev->message.len;
        if (n < 12)
            continue;
        uint32_t at = (uint32_t)(rnd() % (n - 8));
        while (at > 0 && m[at - 1] != ' ')
            at--;
        uint32_t end = at;
        for (unsigned w = 0; w < words && end < n; w++) {
            while (end < n && m[end] != ' ')
                end++;
            if (w + 1 < words && end < n)
                end++;
        }
        if (end - at < 6 || end - at >= cap - 1)
            continue;
        size_t o = 0;
        for (uint32_t i = at; i < end; i++) {
            char c = m[i];
            if (c == '\'' || c == '\\' || c == '*' || c == '?' || (unsigned char)c < 0x20 || (unsigned char)c > 0x7e)
                c = ' ';
            out[o++] = c;
        }
        out[o] = '\0';
        return 0;
    }
    snprintf(out, cap, "no such phrase %llu", (unsigned long long)rnd());
    return 0;
}

static char *write_synthetic(unsigned n)
{
    static char dir[] = "/tmp/vigil-bench-rules-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp");
    char path[256];
    snprintf(path, sizeof path, "%s/synthetic.yml", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        die(path);
    static const char *const ls[] = {"product: linux\n    service: sshd", "product: linux\n    service: sudo",
                                     "category: webserver", "category: firewall", "product: cisco\n    service: asa",
                                     "product: linux"};
    for (unsigned i = 0; i < n; i++) {
        unsigned l = (unsigned)(rnd() % 6);
        char a[160], b[160];
        fprintf(f, "%stitle: Synthetic %u\nid: 00000000-0000-4000-8000-%012u\nlevel: low\nlogsource:\n    %s\n"
                   "detection:\n    selection:\n",
                i ? "---\n" : "", i, i, ls[l]);
        switch (rnd() % 8) {
        case 0:
        case 1:
        case 2: /* keyword-like contains on the message: a corpus phrase, and for
                 * seven rules in eight a near miss (the phrase plus a token no line has) */
            corpus_phrase(a, sizeof a, 2 + (unsigned)(rnd() % 3));
            if (rnd() % 8)
                fprintf(f, "        message|contains: '%s %s%u'\n", a,
                        (const char *[]){"from", "user", "port", "id"}[rnd() % 4], (unsigned)(rnd() % 1000000));
            else
                fprintf(f, "        message|contains: '%s'\n", a);
            if (rnd() % 3 == 0) {
                corpus_phrase(b, sizeof b, 2);
                fprintf(f, "    filter:\n        message|contains: '%s'\n    condition: selection and not filter\n", b);
                continue;
            }
            break;
        case 3: /* URL prefix */
            fprintf(f, "        url.original|startswith: '/%s%u/'\n",
                    (const char *[]){"wp-content/plugins/p", "cgi-bin/x", "admin/module", "api/v"}[rnd() % 4],
                    (unsigned)(rnd() % 5000));
            break;
        case 4: /* URL contains, list */
            fprintf(f, "        url.original|contains:\n            - '/vendor%u/'\n            - '.%s?id='\n",
                    (unsigned)(rnd() % 100000), (const char *[]){"php", "asp", "jsp", "cgi"}[rnd() % 4]);
            break;
        case 5: /* user name equals, with an outcome */
            fprintf(f, "        user.name: 'svc%u'\n        event.outcome: failure\n", (unsigned)(rnd() % 100000));
            break;
        case 6: /* source network, with a phrase */
            corpus_phrase(a, sizeof a, 3);
            fprintf(f, "        source.ip|cidr: '%u.%u.%u.0/24'\n        message|contains: '%s'\n",
                    (unsigned)(rnd() % 223 + 1), (unsigned)(rnd() % 256), (unsigned)(rnd() % 256), a);
            break;
        default: /* exact source address, or one of a few */
            fprintf(f, "        source.ip:\n            - '10.%u.%u.%u'\n            - '192.168.%u.%u'\n",
                    (unsigned)(rnd() % 256), (unsigned)(rnd() % 256), (unsigned)(rnd() % 256),
                    (unsigned)(rnd() % 256), (unsigned)(rnd() % 256));
            break;
        }
        fprintf(f, "    condition: selection\n");
    }
    fclose(f);
    return dir;
}

/* ---------------- timing ---------------- */

static const struct field_value *parser_constants(const void *ps, unsigned i, unsigned *n)
{
    return parser_set_constants(ps, i, n);
}

static void prepare(const struct parser_set *ps, hs_scratch_t *scratch, const struct vigil_event *ev,
                    struct event_fields *ef)
{
    event_fields_from_syslog(ef, ev);
    if (ps)
        parser_set_parse(ps, scratch, ev, ef);
    else
        fallback_fields(ev, ef);
}

struct timing {
    double parse, both; /* ns per event, medians */
};


static struct timing time_events(const struct parser_set *ps, hs_scratch_t *scratch, const struct rule_set *rs,
                                 struct detect_state *st, struct event_fields *ef, const size_t *idx, size_t n,
                                 unsigned rounds)
{
    double *a = calloc(rounds, sizeof *a), *b = calloc(rounds, sizeof *b);
    uint32_t out[256];
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = bench_now_s();
        for (size_t i = 0; i < n; i++) {
            prepare(ps, scratch, &evs[idx[i]], ef);
            sink += ef->n;
        }
        double t1 = bench_now_s();
        for (size_t i = 0; i < n; i++) {
            prepare(ps, scratch, &evs[idx[i]], ef);
            sink += detect_eval(rs, scratch, st, ef, out, 256);
        }
        double t2 = bench_now_s();
        a[r] = (t1 - t0) * 1e9 / (double)n;
        b[r] = (t2 - t1) * 1e9 / (double)n;
    }
    qsort(a, rounds, sizeof *a, bench_cmp_double);
    qsort(b, rounds, sizeof *b, bench_cmp_double);
    struct timing t = {a[rounds / 2], b[rounds / 2]};
    free(a);
    free(b);
    return t;
}

/* ---------------- replay: detect_eval alone ---------------- */

/* The fields of every event, captured once after parsing (strings the parser
 * unescaped into the arena copied out), so detect_eval can be timed without
 * the parsers: each event's fields are copied into one event_fields (hot in
 * cache, as on the packet path) and evaluated; the copy alone is timed too
 * and subtracted. */
struct snap {
    uint32_t off;
    uint16_t n, logsource;
    int32_t parser;
    uint16_t const_first, const_n;
};

static struct field_value *snap_f;
static struct snap *snaps;

static void capture(const struct parser_set *ps, hs_scratch_t *scratch, struct event_fields *ef)
{
    size_t cap = n_evs * 16, used = 0;
    snap_f = malloc(cap * sizeof *snap_f);
    snaps = malloc(n_evs * sizeof *snaps);
    if (!snap_f || !snaps)
        die("malloc");
    for (size_t i = 0; i < n_evs; i++) {
        prepare(ps, scratch, &evs[i], ef);
        if (used + ef->n > cap) {
            cap = (used + ef->n) * 2;
            if (!(snap_f = realloc(snap_f, cap * sizeof *snap_f)))
                die("realloc");
        }
        char *arena = NULL;
        if (ef->arena_used) {
            arena = keep(malloc(ef->arena_used));
            memcpy(arena, ef->arena, ef->arena_used);
        }
        for (unsigned k = 0; k < ef->n; k++) {
            struct field_value fv = ef->f[k];
            if (fv.type == FIELD_STR && fv.v.s.ptr && fv.v.s.ptr >= ef->arena &&
                fv.v.s.ptr < ef->arena + ef->arena_used)
                fv.v.s.ptr = arena + (fv.v.s.ptr - ef->arena);
            snap_f[used + k] = fv;
        }
        snaps[i] = (struct snap){(uint32_t)used, ef->n, ef->logsource, ef->parser, ef->const_first, ef->const_n};
        used += ef->n;
    }
}

static inline void replay(struct event_fields *ef, size_t i)
{
    const struct snap *sn = &snaps[i];
    ef->n = sn->n;
    ef->logsource = sn->logsource;
    ef->parser = sn->parser;
    ef->const_first = sn->const_first;
    ef->const_n = sn->const_n;
    memcpy(ef->f, snap_f + sn->off, sn->n * sizeof *ef->f);
}

/* Median ns/event of detect_eval alone over events idx[0..n). */
static double time_replay(const struct rule_set *rs, hs_scratch_t *scratch, struct detect_state *st,
                          struct event_fields *ef, const size_t *idx, size_t n, unsigned rounds)
{
    double *a = calloc(rounds, sizeof *a);
    uint32_t out[256];
    unsigned reps = n < 20000 ? (unsigned)(20000 / (n ? n : 1)) + 1 : 1;
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = bench_now_s();
        for (unsigned k = 0; k < reps; k++)
            for (size_t i = 0; i < n; i++) {
                replay(ef, idx[i]);
                sink += ef->n;
            }
        double t1 = bench_now_s();
        for (unsigned k = 0; k < reps; k++)
            for (size_t i = 0; i < n; i++) {
                replay(ef, idx[i]);
                sink += detect_eval(rs, scratch, st, ef, out, 256);
            }
        double t2 = bench_now_s();
        a[r] = ((t2 - t1) - (t1 - t0)) * 1e9 / (double)(n * reps);
    }
    qsort(a, rounds, sizeof *a, bench_cmp_double);
    double m = a[rounds / 2];
    free(a);
    return m;
}

/* The floor under detect_eval: per event, only the Hyperscan scan of its
 * message with the database its log source uses (detect_message_db), a
 * callback that counts and nothing else.  Median ns/event over idx[0..n). */
static int count_match(unsigned int id, unsigned long long from, unsigned long long to, unsigned int flags, void *ctx)
{
    (void)id, (void)from, (void)to, (void)flags;
    ++*(unsigned *)ctx;
    return 0;
}

static double time_floor(const struct rule_set *rs, hs_scratch_t *scratch, const size_t *idx, size_t n,
                         unsigned rounds)
{
    double *a = calloc(rounds, sizeof *a);
    unsigned reps = n < 20000 ? (unsigned)(20000 / (n ? n : 1)) + 1 : 1, hits = 0;
    for (unsigned r = 0; r < rounds; r++) {
        double t0 = bench_now_s();
        for (unsigned k = 0; k < reps; k++)
            for (size_t i = 0; i < n; i++) {
                const struct snap *sn = &snaps[idx[i]];
                const hs_database_t *db = detect_message_db(rs, sn->logsource);
                const struct field_value *m = snap_f + sn->off; /* the message is field 0 */
                if (db && sn->n && m->id == FID_MESSAGE && m->type == FIELD_STR && m->v.s.len)
                    hs_scan(db, m->v.s.ptr, m->v.s.len, 0, scratch, count_match, &hits);
            }
        a[r] = (bench_now_s() - t0) * 1e9 / (double)(n * reps);
    }
    sink += (int)hits;
    qsort(a, rounds, sizeof *a, bench_cmp_double);
    double m = a[rounds / 2];
    free(a);
    return m;
}

/* ---------------- main ---------------- */

int main(int argc, char **argv)
{
    const char *rules[16];
    unsigned n_rules_paths = 0;
    const char *fieldmap = "configs/fieldmap.yaml", *parsers = "configs/parsers", *corpus = "../shared/corpus";
    bool sigma_corpus = false;
    unsigned synthetic = 0, rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rules") && i + 1 < argc && n_rules_paths < 12)
            rules[n_rules_paths++] = argv[++i];
        else if (!strcmp(argv[i], "--fieldmap") && i + 1 < argc)
            fieldmap = argv[++i];
        else if (!strcmp(argv[i], "--sigma-corpus"))
            sigma_corpus = true;
        else if (!strcmp(argv[i], "--synthetic") && i + 1 < argc)
            synthetic = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--parsers") && i + 1 < argc)
            parsers = argv[++i];
        else if (!strcmp(argv[i], "--corpus") && i + 1 < argc)
            corpus = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr, "usage: %s [--rules DIR]... [--fieldmap FILE] [--sigma-corpus] [--synthetic N] "
                            "[--parsers DIR] [--corpus DIR] [--rounds N] [--seed S]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!n_rules_paths)
        rules[n_rules_paths++] = "configs/rules";
    if (!rounds)
        rounds = 1;

    /* events */
    char p[4096];
    snprintf(p, sizeof p, "%s/syslog/elastic_auth.log", corpus);
    load_file(p, PLAIN, NULL);
    snprintf(p, sizeof p, "%s/syslog/loghub/Linux_2k.log", corpus);
    load_file(p, PLAIN, NULL);
    snprintf(p, sizeof p, "%s/syslog/loghub/Apache_2k.log", corpus);
    load_file(p, PLAIN, "httpd");
    snprintf(p, sizeof p, "%s/syslog/iptables-psad", corpus);
    load_dir(p, PLAIN);
    snprintf(p, sizeof p, "%s/syslog/fail2ban/logs", corpus);
    load_dir(p, FAIL2BAN);
    snprintf(p, sizeof p, "%s/syslog/wazuh-ruletests", corpus);
    load_dir(p, WAZUH);
    snprintf(p, sizeof p, "%s/web/elastic_apache_logs.log", corpus);
    load_file(p, PLAIN, "httpd");
    if (!n_evs) {
        fprintf(stderr, "bench_detect: no corpus lines under %s\n", corpus);
        return 1;
    }

    struct field_registry *reg = field_registry_new();
    struct logsource_table *lt = logsource_table_new();
    struct hsdb_cache *cache = hsdb_cache_new();
    struct diag d;
    diag_init(&d);

    /* parser packs, when they load */
    struct parser_set *ps = NULL;
    hs_scratch_t *scratch = NULL;
    struct stat sb;
    if (stat(parsers, &sb) == 0) {
        const char *pp[] = {parsers};
        struct parser_limits pl = {0, 0};
        if (parser_set_load(pp, 1, reg, lt, &pl, cache, &ps, &d) != 0 || !ps || parser_set_count(ps) == 0) {
            parser_set_free(ps);
            ps = NULL;
        } else if (parser_set_alloc_scratch(ps, &scratch) != 0) {
            die("parser scratch");
        }
    }
    printf("events: %zu corpus lines; fields from %s\n", n_evs,
           ps ? "the parser packs" : "the bench's own extraction (no parser packs loaded)");
    if (ps)
        printf("parsers: %u from %s (%u load errors)\n", parser_set_count(ps), parsers, d.errors);

    struct logsource l = {0};
    strcpy(l.product, "linux");
    strcpy(l.service, "sshd");
    logsource_intern(lt, &l, &LS_SSHD);
    strcpy(l.service, "sudo");
    logsource_intern(lt, &l, &LS_SUDO);
    l.service[0] = '\0';
    logsource_intern(lt, &l, &LS_LINUX);
    memset(&l, 0, sizeof l);
    strcpy(l.category, "webserver");
    logsource_intern(lt, &l, &LS_WEB);
    strcpy(l.category, "firewall");
    logsource_intern(lt, &l, &LS_FW);
    memset(&l, 0, sizeof l);
    strcpy(l.product, "cisco");
    strcpy(l.service, "asa");
    logsource_intern(lt, &l, &LS_ASA);
    field_registry_intern(reg, "url.original", &F_URL);
    field_registry_intern(reg, "user_agent.original", &F_UA);
    field_registry_intern(reg, "http.request.method", &F_METHOD);
    field_registry_intern(reg, "http.response.status_code", &F_STATUS);
    field_registry_intern(reg, "source.ip", &F_SRCIP);
    field_registry_intern(reg, "user.name", &F_USER);
    field_registry_intern(reg, "event.outcome", &F_OUTCOME);

    /* rules */
    char sigma_dir[4096];
    if (sigma_corpus) {
        snprintf(sigma_dir, sizeof sigma_dir, "%s/rules/sigma/rules", corpus);
        rules[n_rules_paths++] = sigma_dir;
    }
    char *synth_dir = NULL;
    if (synthetic)
        rules[n_rules_paths++] = synth_dir = write_synthetic(synthetic);
    unsigned pre_errors = d.errors, pre_compiled, pre_reused;
    hsdb_cache_stats(cache, &pre_compiled, &pre_reused);
    struct rule_set *rs = NULL;
    double t0 = bench_now_s();
    if (detect_load(rules, n_rules_paths, fieldmap, reg, lt, NULL, cache, &rs, &d) != 0) {
        diag_print(&d, stderr);
        return 1;
    }
    double compile = bench_now_s() - t0;
    unsigned compiled, reused;
    hsdb_cache_stats(cache, &compiled, &reused);
    /* again, from the cache (what a ruleset file load costs) */
    struct diag d2;
    diag_init(&d2);
    struct rule_set *rs2 = NULL;
    t0 = bench_now_s();
    if (detect_load(rules, n_rules_paths, fieldmap, reg, lt, NULL, cache, &rs2, &d2) != 0)
        die("reload");
    double reload = bench_now_s() - t0;
    detect_free(rs2);
    diag_free(&d2);
    unsigned n_rules = detect_rule_count(rs);
    printf("rules: %u loaded (%u rejected) from", n_rules, d.errors - pre_errors);
    for (unsigned i = 0; i < n_rules_paths; i++)
        printf(" %s", rules[i]);
    printf("\ncompile: %.1f ms cold (%u Hyperscan databases, %u literals found through anchors), %.1f ms from the "
           "warm hsdb cache\n",
           compile * 1e3, compiled - pre_compiled, detect_anchored_literals(rs), reload * 1e3);

    if (detect_alloc_scratch(rs, &scratch) != 0)
        die("scratch");
    if (ps && detect_set_constants(rs, ps, parser_set_count(ps), parser_constants))
        die("parser constants");   /* what ruleset_load does: the parsers' constants checked once */
    struct detect_state *st = detect_state_new(rs);
    if (!st)
        die("state");

    /* Events are timed the way the worker runs them: fields are rebuilt for
     * each event (event_fields_from_syslog + the parser packs) right before
     * detect_eval, so the event is hot in cache as it is on the packet path.
     * The detection cost is (parse + detect) - (parse alone), each the median
     * of ROUNDS rounds over the same events. */
    struct event_fields ef;
    if (event_fields_init(&ef, 64, 4096))
        die("fields");
    size_t per_ls[LOGSOURCE_MAX] = {0};
    static uint64_t per_ls_work[LOGSOURCE_MAX][4]; /* detect_eval_stats summed per log source */
    uint16_t *ev_ls = malloc(n_evs * sizeof *ev_ls);
    uint32_t out[256];
    uint64_t matches = 0;
    uint64_t *fired = calloc(n_rules + 1, sizeof *fired);
    if (!ev_ls || !fired)
        die("malloc");
    for (size_t i = 0; i < n_evs; i++) { /* log sources, matches, warm-up */
        prepare(ps, scratch, &evs[i], &ef);
        ev_ls[i] = ef.logsource;
        per_ls[ef.logsource]++;
        int m = detect_eval(rs, scratch, st, &ef, out, 256);
        if (m < 0)
            die("detect_eval");
        matches += (uint64_t)m;
        struct detect_eval_stats es;
        detect_last_stats(st, &es);
        per_ls_work[ef.logsource][0] += es.fields;
        per_ls_work[ef.logsource][1] += es.lookups;
        per_ls_work[ef.logsource][2] += es.hs_scans;
        per_ls_work[ef.logsource][3] += es.rules;
        for (int k = 0; k < m && k < 256; k++)
            fired[out[k]]++;
    }
    printf("log sources of the events:");
    for (unsigned i = 0; i < logsource_count(lt); i++)
        if (per_ls[i]) {
            char buf[160];
            logsource_format(logsource_get(lt, (uint16_t)i), buf, sizeof buf);
            printf(" [%s] %zu;", i ? buf : "none", per_ls[i]);
        }
    printf("\n");
    if (getenv("BENCH_DETECT_FIRED"))
        for (unsigned r = 0; r < n_rules; r++)
            if (fired[r])
                printf("  %8llu  %s\n", (unsigned long long)fired[r], detect_rule(rs, r)->title);
    free(fired);

    size_t *all = malloc(n_evs * sizeof *all);
    for (size_t i = 0; i < n_evs; i++)
        all[i] = i;
    capture(ps, scratch, &ef);
    if (getenv("BENCH_DETECT_PROFILE")) { /* only detect_eval on replayed fields, for a profiler */
        double until = bench_now_s() + atof(getenv("BENCH_DETECT_PROFILE"));
        const char *ols = getenv("BENCH_DETECT_LOGSOURCE"); /* a log source id */
        int only = ols ? atoi(ols) : -1;
        uint32_t o[256];
            while (bench_now_s() < until)
            for (size_t i = 0; i < n_evs; i++)
                if (only < 0 || snaps[i].logsource == only) {
                    replay(&ef, i);
                    sink += detect_eval(rs, scratch, st, &ef, o, 256);
                }
        return 0;
    }
    struct timing tm = time_events(ps, scratch, rs, st, &ef, all, n_evs, rounds);
    double rp = time_replay(rs, scratch, st, &ef, all, n_evs, rounds);
    printf("parse alone: %.0f ns/event; parse + detect: %.0f ns/event (medians of %u rounds)\n", tm.parse, tm.both,
           rounds);
    printf("detect_eval: %.0f ns/event = %.2f M events/s; %.3f matches/event\n", tm.both - tm.parse,
           1e3 / (tm.both - tm.parse), (double)matches / (double)n_evs);
    printf("detect_eval alone on replayed fields: %.1f ns/event\n", rp);
    printf("floor: the Hyperscan scan of the message alone: %.1f ns/event\n",
           time_floor(rs, scratch, all, n_evs, rounds));
    printf("per log source (detect ns/event: parse+detect - parse | replayed fields | message scan alone; per "
           "event: fields, field values checked, value-table lookups, Hyperscan scans, rules evaluated):\n");
    for (unsigned ls = 0; ls < logsource_count(lt); ls++) {
        if (per_ls[ls] < 50)
            continue;
        size_t k = 0;
        for (size_t i = 0; i < n_evs; i++)
            if (ev_ls[i] == ls)
                all[k++] = i;
        struct timing g = time_events(ps, scratch, rs, st, &ef, all, k, rounds);
        double gr = time_replay(rs, scratch, st, &ef, all, k, rounds);
        double gf = time_floor(rs, scratch, all, k, rounds);
        char buf[160];
        logsource_format(logsource_get(lt, (uint16_t)ls), buf, sizeof buf);
        double ne = (double)k, nf = 0;
        for (size_t j = 0; j < k; j++)
            nf += snaps[all[j]].n;
        printf("  %3u %-48s %6zu events %6.0f ns | %6.1f ns | %6.1f ns  %5.1f  %5.2f %5.2f %5.2f %6.2f\n", ls,
               ls ? buf : "(none)", k, g.both - g.parse, gr, gf, nf / ne, (double)per_ls_work[ls][0] / ne,
               (double)per_ls_work[ls][1] / ne, (double)per_ls_work[ls][2] / ne, (double)per_ls_work[ls][3] / ne);
    }
    free(all);
    free(ev_ls);
    free(snap_f);
    free(snaps);
    event_fields_free(&ef);
    detect_state_free(st);
    hs_free_scratch(scratch);
    detect_free(rs);
    parser_set_free(ps);
    diag_free(&d);
    hsdb_cache_free(cache);
    logsource_table_free(lt);
    field_registry_free(reg);
    if (synth_dir) {
        char path[256];
        snprintf(path, sizeof path, "%s/synthetic.yml", synth_dir);
        unlink(path);
        rmdir(synth_dir);
    }
    for (size_t i = 0; i < n_bufs; i++)
        free(bufs[i]);
    free(bufs);
    free(evs);
    return 0;
}
