/* bench_parse_coverage: how much of the real corpus the shipped parser packs
 * claim, and what parsing costs.
 *
 *   bench_parse_coverage [PACKS [CORPUS_SYSLOG_DIR]] [--verbose] [--dump FAMILY] [--rounds N] [--check FILE]
 *                        [--family NAME] [--by-parser]
 *                        [--family NAME]
 *
 * PACKS defaults to configs/parsers, CORPUS_SYSLOG_DIR to ../shared/corpus/syslog.
 * Each real line is decoded with syslog_parse, turned into event fields
 * (event_fields_from_syslog) and parsed with parser_set_parse.  Lines are
 * grouped in source families: elastic_auth, loghub Linux, loghub Apache, psad
 * iptables (the folder), the web access log of ../web, each fail2ban log, and
 * each wazuh rule-test file.
 *
 * Synthetic headers: files written by the program itself rather than by
 * syslog (Apache/nginx/vsftpd/dovecot logs, the raw lines of wazuh .ini files)
 * have no syslog header.  When syslog_parse finds none (format NONE) and the
 * family names a program (loghub Apache and apache-* / web: httpd or apache2;
 * nginx-*: nginx; other fail2ban files: their file name; wazuh apache,
 * web_rules: httpd; nginx: nginx; vsftpd, dovecot: that name), the line is sent
 * as "<13>Jan  1 00:00:00 vigil-bench PROGRAM: LINE", which is what the program
 * would send through syslog (fail2ban sshd-journal lines, "HOST sshd[PID]: MSG",
 * only get "<13>Jan  1 00:00:00 " in front).  Lines that already carry a header (including
 * Cisco "%ASA-..." lines, which the decoder recognises) are sent as they are.
 * fail2ban "#" comment lines and blank lines are skipped; wazuh lines are the
 * text after "log N pass =" / "log N fail =".
 *
 * Output: one row per family (lines, claimed, share), totals, and the parse
 * cost: median over ROUNDS of the time for event_fields_from_syslog +
 * parser_set_parse over every line, minus the time of event_fields_from_syslog
 * alone, in ns per message.  --verbose lists the most frequent unclaimed
 * shapes of each family (digits folded to 0); --dump FAMILY prints every line
 * of the families whose name contains FAMILY with its parser and fields.
 * --check FILE writes, for every line, the parser, log source, field count,
 * dropped count and every field (built-in ones too) with its type and exact
 * bytes (string values say whether they point into the message or the arena),
 * so two builds can be compared with diff: a parser change must leave FILE
 * byte-identical.  --family NAME keeps only the lines of the families whose
 * name contains NAME (to time or profile one family).  --by-parser times the
 * lines grouped by the parser that claimed them (the walks that failed before
 * it included) and lists the parsers with the largest share of parse time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/diag.h"
#include "engine/event.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"
#include "engine/parser.h"
#include "engine/syslog.h"
#include "bench/bench_common.h"

struct family {
    char name[96];
    size_t first, n;       /* range in the event array */
    size_t claimed;
    double ns;             /* parse cost per line, median of the rounds */
};

static struct vigil_event *events;
static size_t n_events, cap_events;
static struct family *fams;
static size_t n_fams, cap_fams;
static const char *only;   /* --family: keep only the families whose name contains this */

static void die(const char *what)
{
    fprintf(stderr, "bench_parse_coverage: %s: %s\n", what, strerror(errno));
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0)
        die(path);
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

static struct family *family_begin(const char *name)
{
    if (n_fams == cap_fams) {
        cap_fams = cap_fams ? cap_fams * 2 : 64;
        fams = realloc(fams, cap_fams * sizeof *fams);
        if (!fams)
            die("realloc");
    }
    struct family *f = &fams[n_fams++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->first = n_events;
    return f;
}

/* Decodes one line (kept alive: the event points into it). */
static void add_line(struct family *f, const char *line, size_t len, const char *program)
{
    if (only && !strstr(f->name, only))
        return;
    static const struct syslog_ctx ctx = {1774000000LL * 1000000000LL, NULL};
    struct vigil_event ev;
    if (syslog_parse(line, len, &ctx, &ev) != SYSLOG_OK)
        return;
    if (ev.format == VIGIL_FMT_NONE && program) {
        size_t hl = strlen(program) + 48;
        char *buf = malloc(hl + len);
        if (!buf)
            die("malloc");
        /* "" = the line already starts "HOST PROGRAM[PID]:" (journal style): only a timestamp */
        int n = *program ? snprintf(buf, hl, "<13>Jan  1 00:00:00 vigil-bench %s: ", program)
                         : snprintf(buf, hl, "<13>Jan  1 00:00:00 ");
        memcpy(buf + n, line, len);
        if (syslog_parse(buf, (size_t)n + len, &ctx, &ev) != SYSLOG_OK)
            return;
    }
    memset(&ev.observer_ip, 0, sizeof ev.observer_ip);   /* the caller's to set (syslog.h): no sender here */
    if (n_events == cap_events) {
        cap_events = cap_events ? cap_events * 2 : 4096;
        events = realloc(events, cap_events * sizeof *events);
        if (!events)
            die("realloc");
    }
    events[n_events++] = ev;
    f->n++;
}

enum lines_kind { PLAIN, FAIL2BAN, WAZUH };

static void load_file(struct family *f, const char *path, enum lines_kind kind, const char *program)
{
    size_t len;
    char *buf = slurp(path, &len);   /* never freed: events point into it */
    if (!buf) {
        fprintf(stderr, "bench_parse_coverage: skipping %s: %s\n", path, strerror(errno));
        return;
    }
    for (char *p = buf, *e = buf + len; p < e;) {
        char *nl = memchr(p, '\n', (size_t)(e - p));
        char *le = nl ? nl : e;
        char *ls = p;
        p = nl ? nl + 1 : e;
        if (le > ls && le[-1] == '\r')
            le--;
        if (le == ls)
            continue;
        if (kind == FAIL2BAN && ls[0] == '#')
            continue;
        if (kind == WAZUH) {
            if (strncmp(ls, "log ", 4) != 0)
                continue;
            char *eq = memchr(ls, '=', (size_t)(le - ls));
            if (!eq)
                continue;
            ls = eq + 1;
            while (ls < le && *ls == ' ')
                ls++;
            if (ls == le)
                continue;
        }
        add_line(f, ls, (size_t)(le - ls), program);
    }
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    char **v = NULL;
    size_t c = 0;
    *n = 0;
    if (!d)
        return NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (*n == c) {
            c = c ? c * 2 : 64;
            v = realloc(v, c * sizeof *v);
            if (!v)
                die("realloc");
        }
        v[(*n)++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static bool is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *fail2ban_program(const char *name)
{
    if (!strcmp(name, "sshd-journal"))
        return "";
    if (!strncmp(name, "apache-", 7))
        return "httpd";
    if (!strncmp(name, "nginx-", 6))
        return "nginx";
    return name;
}

static const char *wazuh_program(const char *name)
{
    static const char *const map[][2] = {{"apache.ini", "httpd"},   {"web_rules.ini", "httpd"},
                                         {"nginx.ini", "nginx"},    {"vsftpd.ini", "vsftpd"},
                                         {"dovecot.ini", "dovecot"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(map[i][0], name))
            return map[i][1];
    return NULL;
}

static void load_corpus(const char *dir)
{
    char path[4096];
    struct family *f;
    f = family_begin("elastic_auth");
    snprintf(path, sizeof path, "%s/elastic_auth.log", dir);
    load_file(f, path, PLAIN, NULL);
    f = family_begin("loghub Linux");
    snprintf(path, sizeof path, "%s/loghub/Linux_2k.log", dir);
    load_file(f, path, PLAIN, NULL);
    f = family_begin("loghub Apache (error log)");
    snprintf(path, sizeof path, "%s/loghub/Apache_2k.log", dir);
    load_file(f, path, PLAIN, "httpd");
    f = family_begin("psad iptables");
    snprintf(path, sizeof path, "%s/iptables-psad", dir);
    size_t n;
    char **names = list_dir(path, &n);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/iptables-psad/%s", dir, names[i]);
        load_file(f, path, PLAIN, NULL);
        free(names[i]);
    }
    free(names);
    snprintf(path, sizeof path, "%s/../web/elastic_apache_logs.log", dir);
    if (is_file(path)) {
        f = family_begin("web elastic_apache (access log)");
        load_file(f, path, PLAIN, "apache2");
    }
    snprintf(path, sizeof path, "%s/fail2ban/logs", dir);
    names = list_dir(path, &n);
    for (size_t i = 0; i < n; i++) {
        char fam[96];
        snprintf(path, sizeof path, "%s/fail2ban/logs/%s", dir, names[i]);
        if (is_file(path)) {
            snprintf(fam, sizeof fam, "fail2ban %s", names[i]);
            f = family_begin(fam);
            load_file(f, path, FAIL2BAN, fail2ban_program(names[i]));
        } else {   /* bsd/ */
            size_t m;
            char **sub = list_dir(path, &m);
            snprintf(fam, sizeof fam, "fail2ban %s/", names[i]);
            f = family_begin(fam);
            for (size_t k = 0; k < m; k++) {
                char p2[8192];
                snprintf(p2, sizeof p2, "%s/%s", path, sub[k]);
                load_file(f, p2, FAIL2BAN, NULL);
                free(sub[k]);
            }
            free(sub);
        }
        free(names[i]);
    }
    free(names);
    snprintf(path, sizeof path, "%s/wazuh-ruletests", dir);
    names = list_dir(path, &n);
    for (size_t i = 0; i < n; i++) {
        char fam[96];
        snprintf(fam, sizeof fam, "wazuh %s", names[i]);
        snprintf(path, sizeof path, "%s/wazuh-ruletests/%s", dir, names[i]);
        f = family_begin(fam);
        load_file(f, path, WAZUH, wazuh_program(names[i]));
        free(names[i]);
    }
    free(names);
}

/* ---- --verbose: frequent unclaimed shapes ---- */

struct shape {
    char text[100];
    unsigned count;
    char example[160];
};

static void shape_of(const struct vigil_event *ev, char *out, size_t cap)
{
    size_t o = 0;
    int pl = ev->process_name.ptr ? (int)ev->process_name.len : 0;
    o += (size_t)snprintf(out, cap, "%.*s: ", pl > 20 ? 20 : pl, pl ? ev->process_name.ptr : "");
    for (uint32_t i = 0; i < ev->message.len && o + 1 < cap && i < 60; i++) {
        char c = ev->message.ptr[i];
        out[o++] = (c >= '0' && c <= '9') ? '0' : (c < 32 || c > 126) ? '?' : c;
    }
    out[o < cap ? o : cap - 1] = '\0';
}

static void print_unclaimed(const struct family *f, const bool *claimed)
{
    struct shape *sh = calloc(f->n ? f->n : 1, sizeof *sh);
    size_t ns = 0;
    for (size_t i = f->first; i < f->first + f->n; i++) {
        if (claimed[i])
            continue;
        char s[100];
        shape_of(&events[i], s, sizeof s);
        size_t k;
        for (k = 0; k < ns; k++)
            if (!strcmp(sh[k].text, s))
                break;
        if (k == ns) {
            snprintf(sh[ns].text, sizeof sh[ns].text, "%s", s);
            snprintf(sh[ns].example, sizeof sh[ns].example, "%.*s", (int)events[i].message.len,
                     events[i].message.ptr);
            ns++;
        }
        sh[k].count++;
    }
    for (unsigned shown = 0; shown < 6; shown++) {
        size_t best = ns;
        for (size_t k = 0; k < ns; k++)
            if (sh[k].count && (best == ns || sh[k].count > sh[best].count))
                best = k;
        if (best == ns)
            break;
        printf("      %5u  %s\n", sh[best].count, sh[best].example);
        sh[best].count = 0;
    }
    free(sh);
}

static void dump_fields(const struct field_registry *reg, const struct event_fields *ef)
{
    for (unsigned i = FID__BUILTIN > 0 ? 0 : 0; i < ef->n; i++) {
        const struct field_value *fv = &ef->f[i];
        if (fv->id < FID__BUILTIN)
            continue;
        printf("    %s=", field_registry_name(reg, fv->id));
        if (fv->type == FIELD_INT) {
            printf("%lld", (long long)fv->v.i);
        } else if (fv->type == FIELD_IP) {
            char b[64];
            inet_ntop(fv->v.ip.family == 4 ? AF_INET : AF_INET6, fv->v.ip.addr, b, sizeof b);
            printf("%s (ip)", b);
        } else {
            printf("\"%.*s\"", (int)fv->v.s.len, fv->v.s.ptr);
        }
        printf("\n");
    }
}

/* --check: one record per line, everything parse produced, bytes escaped */
static void check_str(FILE *o, const char *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 32 || c > 126 || c == '\\' || c == '"')
            fprintf(o, "\\x%02x", c);
        else
            fputc(c, o);
    }
}

static void check_record(FILE *o, const struct parser_set *ps, const struct field_registry *reg, size_t line,
                         const struct vigil_event *ev, int r, const struct event_fields *ef)
{
    fprintf(o, "%zu %s ls=%u n=%u dropped=%u parser=%d\n", line, r >= 0 ? parser_set_name(ps, (unsigned)r) : "-",
            ef->logsource, ef->n, ef->dropped, ef->parser);
    for (unsigned i = 0; i < ef->n; i++) {
        const struct field_value *fv = &ef->f[i];
        fprintf(o, "  %s ", field_registry_name(reg, fv->id));
        if (fv->type == FIELD_INT) {
            fprintf(o, "int %lld", (long long)fv->v.i);
        } else if (fv->type == FIELD_IP) {
            fprintf(o, "ip %u ", fv->v.ip.family);
            for (unsigned k = 0; k < sizeof fv->v.ip.addr; k++)
                fprintf(o, "%02x", fv->v.ip.addr[k]);
        } else {
            const char *m = ev->message.ptr;
            bool in_msg = m && fv->v.s.ptr >= m && fv->v.s.ptr + fv->v.s.len <= m + ev->message.len;
            bool in_arena = fv->v.s.ptr >= ef->arena && fv->v.s.ptr < ef->arena + ef->arena_cap;
            fprintf(o, "str %s \"", in_msg ? "msg" : in_arena ? "arena" : "other");
            check_str(o, fv->v.s.ptr, fv->v.s.len);
            fputc('"', o);
        }
        fputc('\n', o);
    }
}

/* ---- --by-parser: where the parse time goes ---- */

struct parser_cost {
    int parser;          /* -1: no parser claimed the line */
    size_t n;
    double ns;           /* median parse ns of one of its lines */
};

static int cmp_cost_total(const void *a, const void *b)
{
    const struct parser_cost *x = a, *y = b;
    double tx = x->ns * (double)x->n, ty = y->ns * (double)y->n;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

/* The lines each parser claims (and the unclaimed ones) timed as a group:
 * (fields + parse) - fields, median of the rounds; the largest totals
 * first.  Tells which templates and which walks before them cost most. */
static void print_by_parser(const struct parser_set *ps, struct event_fields *ef, hs_scratch_t *scratch,
                            const int *winner, int rounds)
{
    unsigned np = parser_set_count(ps);
    struct parser_cost *pc = calloc(np + 1, sizeof *pc);
    size_t *idx = malloc(n_events * sizeof *idx), *start = calloc(np + 2, sizeof *start);
    double *v = malloc((size_t)rounds * sizeof *v);
    if (!pc || !idx || !start || !v)
        die("calloc");
    for (size_t i = 0; i < n_events; i++)   /* counting sort of the lines by winner (+1) */
        start[winner[i] + 2]++;
    for (unsigned k = 1; k <= np + 1; k++)
        start[k] += start[k - 1];
    for (size_t i = 0; i < n_events; i++)
        idx[start[winner[i] + 1]++] = i;
    volatile int sink = 0;
    double total = 0;
    for (unsigned k = 0; k <= np; k++) {
        size_t a0 = k ? start[k - 1] : 0, a1 = start[k];
        pc[k].parser = (int)k - 1;
        pc[k].n = a1 - a0;
        if (!pc[k].n)
            continue;
        for (int r = 0; r < rounds; r++) {
            double a = bench_now_ns();
            for (size_t j = a0; j < a1; j++) {
                event_fields_from_syslog(ef, &events[idx[j]]);
                sink += ef->n;
            }
            double b = bench_now_ns();
            for (size_t j = a0; j < a1; j++) {
                event_fields_from_syslog(ef, &events[idx[j]]);
                sink += parser_set_parse(ps, scratch, &events[idx[j]], ef);
            }
            double c = bench_now_ns();
            v[r] = ((c - b) - (b - a)) / (double)pc[k].n;
        }
        qsort(v, (size_t)rounds, sizeof *v, bench_cmp_double);
        pc[k].ns = v[rounds / 2];
        total += pc[k].ns * (double)pc[k].n;
    }
    (void)sink;
    qsort(pc, np + 1, sizeof *pc, cmp_cost_total);
    printf("\nparse cost by the parser that claimed the line (largest share of the total first):\n");
    printf("| parser | lines | ns/line | share of parse time |\n|---|---:|---:|---:|\n");
    for (unsigned k = 0; k <= np && k < 30 && pc[k].n; k++)
        printf("| %s | %zu | %.0f | %.1f%% |\n", pc[k].parser >= 0 ? parser_set_name(ps, (unsigned)pc[k].parser) : "(unclaimed)",
               pc[k].n, pc[k].ns, total > 0 ? 100.0 * pc[k].ns * (double)pc[k].n / total : 0);
    free(pc);
    free(idx);
    free(start);
    free(v);
}

int main(int argc, char **argv)
{
    const char *packs = "configs/parsers", *corpus = "../shared/corpus/syslog", *dump = NULL, *check = NULL;
    bool verbose = false, by_parser = false;
    int rounds = 7, pos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v"))
            verbose = true;
        else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
            dump = argv[++i];
        else if (!strcmp(argv[i], "--family") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--by-parser"))
            by_parser = true;
        else if (!strcmp(argv[i], "--check") && i + 1 < argc)
            check = argv[++i];
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (pos == 0)
            packs = argv[i], pos++;
        else if (pos == 1)
            corpus = argv[i], pos++;
        else {
            fprintf(stderr, "usage: %s [PACKS [CORPUS_SYSLOG_DIR]] [--verbose] [--dump FAMILY] [--rounds N] [--check FILE] [--family NAME] [--by-parser]\n",
                    argv[0]);
            return 2;
        }
    }
    if (rounds < 1)
        rounds = 1;

    struct field_registry *reg = field_registry_new();
    struct logsource_table *lt = logsource_table_new();
    struct hsdb_cache *cache = hsdb_cache_new();
    struct diag d;
    diag_init(&d);
    struct parser_set *ps;
    struct parser_limits lim = {4096, 64};
    double t0 = bench_now_ns();
    if (parser_set_load(&packs, 1, reg, lt, &lim, cache, &ps, &d) != 0) {
        diag_print(&d, stderr);
        return 1;
    }
    double t_load = bench_now_ns() - t0;
    diag_print(&d, stderr);
    hs_scratch_t *scratch = NULL;
    if (parser_set_alloc_scratch(ps, &scratch) != 0) {
        fprintf(stderr, "bench_parse_coverage: hs_alloc_scratch failed\n");
        return 1;
    }
    load_corpus(corpus);
    if (!n_events) {
        fprintf(stderr, "bench_parse_coverage: no lines under %s\n", corpus);
        return 1;
    }

    struct event_fields ef;
    if (event_fields_init(&ef, 64, 65536) != 0)
        die("event_fields_init");
    FILE *chk = NULL;
    if (check && !(chk = fopen(check, "w")))
        die(check);
    bool *claimed = calloc(n_events, sizeof *claimed);
    unsigned *hits = calloc(parser_set_count(ps) + 1, sizeof *hits);
    int *winner = malloc(n_events * sizeof *winner);
    if (!claimed || !hits || !winner)
        die("calloc");
    for (size_t fi = 0; fi < n_fams; fi++) {
        struct family *f = &fams[fi];
        bool dumping = dump && strstr(f->name, dump);
        for (size_t i = f->first; i < f->first + f->n; i++) {
            event_fields_from_syslog(&ef, &events[i]);
            int r = parser_set_parse(ps, scratch, &events[i], &ef);
            winner[i] = r;
            if (r >= 0) {
                claimed[i] = true;
                f->claimed++;
                hits[r]++;
            }
            if (chk)
                check_record(chk, ps, reg, i, &events[i], r, &ef);
            if (dumping) {
                printf("%s | %.*s: %.*s\n", r >= 0 ? parser_set_name(ps, (unsigned)r) : "-",
                       (int)events[i].process_name.len, events[i].process_name.ptr ? events[i].process_name.ptr : "",
                       (int)events[i].message.len, events[i].message.ptr);
                if (r >= 0)
                    dump_fields(reg, &ef);
            }
        }
    }

    if (chk && fclose(chk) != 0)
        die(check);

    /* per-family parse cost: (fields + parse) - fields, median of the rounds */
    {
        double *v = malloc((size_t)rounds * sizeof *v);
        volatile int sk = 0;
        for (size_t fi = 0; fi < n_fams; fi++) {
            struct family *f = &fams[fi];
            if (!f->n)
                continue;
            for (int r = 0; r < rounds; r++) {
                double a = bench_now_ns();
                for (size_t i = f->first; i < f->first + f->n; i++) {
                    event_fields_from_syslog(&ef, &events[i]);
                    sk += ef.n;
                }
                double b = bench_now_ns();
                for (size_t i = f->first; i < f->first + f->n; i++) {
                    event_fields_from_syslog(&ef, &events[i]);
                    sk += parser_set_parse(ps, scratch, &events[i], &ef);
                }
                double c = bench_now_ns();
                v[r] = ((c - b) - (b - a)) / (double)f->n;
            }
            qsort(v, (size_t)rounds, sizeof *v, bench_cmp_double);
            f->ns = v[rounds / 2];
        }
        (void)sk;
        free(v);
    }

    printf("Parser coverage of the corpus (%u parsers from %s, loaded in %.1f ms)\n\n", parser_set_count(ps), packs,
           t_load / 1e6);
    printf("| family | lines | claimed | share | parse ns/line |\n|---|---:|---:|---:|---:|\n");
    size_t tot = 0, tot_c = 0;
    for (size_t fi = 0; fi < n_fams; fi++) {
        const struct family *f = &fams[fi];
        if (!f->n)
            continue;
        printf("| %s | %zu | %zu | %.1f%% | %.0f |\n", f->name, f->n, f->claimed,
               100.0 * (double)f->claimed / (double)f->n, f->ns);
        if (verbose && f->claimed < f->n)
            print_unclaimed(f, claimed);
        tot += f->n;
        tot_c += f->claimed;
    }
    printf("| **all** | %zu | %zu | %.1f%% | |\n\n", tot, tot_c, 100.0 * (double)tot_c / (double)tot);
    unsigned unused = 0;
    for (unsigned i = 0; i < parser_set_count(ps); i++)
        unused += !hits[i];
    printf("parsers that claimed at least one corpus line: %u of %u\n", parser_set_count(ps) - unused,
           parser_set_count(ps));
    if (verbose && unused) {
        printf("parsers without a corpus line:");
        for (unsigned i = 0; i < parser_set_count(ps); i++)
            if (!hits[i])
                printf(" %s", parser_set_name(ps, i));
        printf("\n");
    }

    /* timing */
    double *base = malloc((size_t)rounds * sizeof *base), *full = malloc((size_t)rounds * sizeof *full);
    double *cl = malloc((size_t)rounds * sizeof *cl), *un = malloc((size_t)rounds * sizeof *un);
    volatile int sink = 0;
    for (int r = 0; r < rounds; r++) {
        double a = bench_now_ns();
        for (size_t i = 0; i < n_events; i++) {
            event_fields_from_syslog(&ef, &events[i]);
            sink += ef.n;
        }
        double b = bench_now_ns();
        for (size_t i = 0; i < n_events; i++) {
            event_fields_from_syslog(&ef, &events[i]);
            sink += parser_set_parse(ps, scratch, &events[i], &ef);
        }
        double c = bench_now_ns();
        base[r] = (b - a) / (double)n_events;
        full[r] = (c - b) / (double)n_events;
        /* claimed and unclaimed lines on their own */
        double ca = 0, ua = 0;
        size_t cn = 0, un_ = 0;
        for (int pass = 0; pass < 2; pass++) {
            double s0 = bench_now_ns();
            for (size_t i = 0; i < n_events; i++) {
                if (claimed[i] != (pass == 0))
                    continue;
                event_fields_from_syslog(&ef, &events[i]);
                sink += parser_set_parse(ps, scratch, &events[i], &ef);
                if (pass == 0)
                    cn++;
                else
                    un_++;
            }
            double s1 = bench_now_ns();
            if (pass == 0)
                ca = cn ? (s1 - s0) / (double)cn : 0;
            else
                ua = un_ ? (s1 - s0) / (double)un_ : 0;
        }
        cl[r] = ca - base[r];
        un[r] = ua - base[r];
    }
    (void)sink;
    qsort(base, (size_t)rounds, sizeof *base, bench_cmp_double);
    qsort(full, (size_t)rounds, sizeof *full, bench_cmp_double);
    qsort(cl, (size_t)rounds, sizeof *cl, bench_cmp_double);
    qsort(un, (size_t)rounds, sizeof *un, bench_cmp_double);
    int m = rounds / 2;
    printf("\nparse cost over %zu lines, median of %d rounds:\n", n_events, rounds);
    printf("  event_fields_from_syslog alone:            %6.1f ns/msg\n", base[m]);
    printf("  + parser_set_parse:                        %6.1f ns/msg\n", full[m]);
    printf("  parser_set_parse (difference):             %6.1f ns/msg\n", full[m] - base[m]);
    printf("    claimed lines only:                      %6.1f ns/msg\n", cl[m]);
    printf("    unclaimed lines only:                    %6.1f ns/msg\n", un[m]);
    if (by_parser)
        print_by_parser(ps, &ef, scratch, winner, rounds);
    unsigned comp, reused;
    hsdb_cache_stats(cache, &comp, &reused);
    printf("Hyperscan databases compiled: %u\n", comp);

    free(base);
    free(full);
    free(cl);
    free(un);
    free(claimed);
    free(hits);
    free(winner);
    event_fields_free(&ef);
    hs_free_scratch(scratch);
    parser_set_free(ps);
    hsdb_cache_free(cache);
    logsource_table_free(lt);
    field_registry_free(reg);
    diag_free(&d);
    return 0;
}
