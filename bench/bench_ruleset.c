/* Parse + detect cost per message, with the shipped packs and with larger
 * rule sets, and how long each ruleset takes to compile.
 *
 * usage: bench_ruleset [--configs DIR] [--corpus DIR] [--rounds N] [--seconds S]
 *
 * Messages are the real lines of the corpus (syslog/ and web/ access lines
 * wrapped in a syslog header).  Each line is decoded once per round; the
 * timings are medians over rounds of:
 *   decode            syslog_parse alone
 *   decode+parse      + ruleset_process with the parser packs and no rules
 *   decode+parse+detect  + the rules of the configuration under test
 * Configurations: the shipped packs; + every corpus Sigma rule that loads;
 * + 1 000 and + 10 000 synthetic rules (contains / startswith / exact / cidr
 * tests over message, user.name, url.original, source.ip, in four log sources).
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/ruleset.h"
#include "engine/syslog.h"
#include "bench/bench_common.h"

struct line {
    char *p;
    size_t len;
};

static struct line *lines;
static size_t n_lines, cap_lines;

static void add_line(const char *p, size_t len)
{
    if (n_lines == cap_lines) {
        cap_lines = cap_lines ? cap_lines * 2 : 4096;
        lines = realloc(lines, cap_lines * sizeof *lines);
    }
    lines[n_lines].p = malloc(len);
    memcpy(lines[n_lines].p, p, len);
    lines[n_lines++].len = len;
}

/* wrap: 0 = as is; 1 = web access line wrapped in "<190>Mmm dd hh:mm:ss web01 apache2: " */
static void load_file(const char *path, int wrap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char *l = NULL, buf[70000];
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&l, &cap, f)) > 0) {
        while (len && (l[len - 1] == '\n' || l[len - 1] == '\r'))
            len--;
        if (!len || l[0] == '#')
            continue;
        const char *body = l;
        size_t blen = (size_t)len;
        char *eq = strstr(l, " pass = ");
        if (!eq)
            eq = strstr(l, " fail = ");
        if (!strncmp(l, "log ", 4) && eq) { /* Wazuh .ini test line */
            body = eq + 8;
            blen = (size_t)len - (size_t)(body - l);
        }
        if (wrap && blen + 64 < sizeof buf) {
            int h = snprintf(buf, sizeof buf, "<190>May 17 10:05:03 web01 apache2: ");
            memcpy(buf + h, body, blen);
            add_line(buf, (size_t)h + blen);
        } else {
            add_line(body, blen);
        }
    }
    free(l);
    fclose(f);
}

static void load_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strstr(de->d_name, ".csv") || strstr(de->d_name, "LICENSE"))
            continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(p, &st))
            continue;
        if (S_ISDIR(st.st_mode))
            load_tree(p);
        else
            load_file(p, 0);
    }
    closedir(d);
}

static void write_synthetic(const char *dir, unsigned n)
{
    static const char *const words[] = {"password", "session", "invalid", "denied", "admin", "root", "failure",
                                        "connect", "timeout", "refused", "backup", "shell", "cron", "token",
                                        "upload", "kernel", "scanner", "exploit", "payload", "beacon"};
    static const char *const ls[] = {"product: linux\n    service: sshd", "category: webserver",
                                     "category: firewall", "product: linux"};
    mkdir(dir, 0755);
    for (unsigned i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/synthetic_%05u.yml", dir, i);
        FILE *f = fopen(path, "w");
        const char *w1 = words[i % 20], *w2 = words[(i / 20) % 20];
        fprintf(f, "title: Synthetic %u\nid: %08x-0000-4000-8000-%012x\nauthor: bench\nlevel: low\n"
                   "logsource:\n    %s\ndetection:\n    selection:\n",
                i, i, i, ls[i % 4]);
        switch (i % 5) {
        case 0: fprintf(f, "        message|contains: '%s %s %u'\n", w1, w2, i); break;
        case 1: fprintf(f, "        user.name: '%s%u'\n", w1, i); break;
        case 2: fprintf(f, "        url.original|startswith: '/%s/%s%u'\n", w1, w2, i); break;
        case 3: fprintf(f, "        message|contains|all:\n            - '%s%u'\n            - '%s'\n", w1, i, w2); break;
        default: fprintf(f, "        source.ip|cidr: '10.%u.%u.0/24'\n", (i >> 8) & 255, i & 255); break;
        }
        fprintf(f, "    condition: selection\n");
        fclose(f);
    }
}

struct result {
    double ns_decode, ns_parse, ns_full, signals_per_msg, load_s;
};

/* Median ns/message of decode alone, and of decode + ruleset_process. */
static double time_rounds(const struct ruleset *rs, int rounds, double seconds, double *signals)
{
    double r[64];
    struct vigil_signal sig[64];
    struct syslog_ctx ctx = {.received_ns = 1774000000LL * 1000000000LL};
    uint64_t total_sig = 0, total_msgs = 0;
    for (int k = 0; k < rounds; k++) {
        double t0 = bench_now_s(), t;
        uint64_t msgs = 0;
        do {
            for (size_t i = 0; i < n_lines; i++) {
                struct vigil_event ev;
                if (syslog_parse(lines[i].p, lines[i].len, &ctx, &ev) != SYSLOG_OK)
                    continue;
                if (rs) {
                    unsigned n = ruleset_process(rs, 0, &ev, sig, 64);
                    total_sig += n;
                }
                msgs++;
            }
            t = bench_now_s() - t0;
        } while (t < seconds);
        total_msgs += msgs;
        r[k] = t * 1e9 / (double)msgs;
    }
    qsort(r, (size_t)rounds, sizeof r[0], bench_cmp_double);
    if (signals)
        *signals = (double)total_sig / (double)total_msgs;
    return r[rounds / 2];
}

static struct ruleset *load(struct ruleset_config *cfg, double *secs)
{
    struct diag d;
    diag_init(&d);
    struct ruleset *rs;
    double t0 = bench_now_s();
    int rc = ruleset_load(cfg, &rs, &d);
    *secs = bench_now_s() - t0;
    if (rc || ruleset_attach_workers(rs, 1)) {
        diag_print(&d, stderr);
        exit(1);
    }
    diag_free(&d);
    return rs;
}

int main(int argc, char **argv)
{
    const char *configs = "configs", *corpus = "../shared/corpus";
    int rounds = 5;
    double seconds = 0.5;
    int shipped_only = 0;
    static const struct option lo[] = {{"configs", 1, NULL, 'c'}, {"corpus", 1, NULL, 'k'},
                                       {"rounds", 1, NULL, 'r'}, {"seconds", 1, NULL, 's'},
                                       {"shipped-only", 0, NULL, 'o'}, {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': configs = optarg; break;
        case 'k': corpus = optarg; break;
        case 'r': rounds = atoi(optarg); break;
        case 's': seconds = atof(optarg); break;
        case 'o': shipped_only = 1; break;
        default:
            fprintf(stderr, "usage: bench_ruleset [--configs DIR] [--corpus DIR] [--rounds N] [--seconds S] "
                            "[--shipped-only]\n");
            return 2;
        }
    }
    if (rounds < 1 || rounds > 64)
        rounds = 5;
    char p[4096];
    snprintf(p, sizeof p, "%s/syslog", corpus);
    load_tree(p);
    snprintf(p, sizeof p, "%s/web/elastic_apache_logs.log", corpus);
    load_file(p, 1);
    if (!n_lines) {
        fprintf(stderr, "bench_ruleset: no lines under %s\n", corpus);
        return 1;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < n_lines; i++)
        bytes += lines[i].len;
    printf("bench_ruleset: %zu real lines (avg %.0f bytes), median of %d rounds of >= %.1f s\n", n_lines,
           (double)bytes / (double)n_lines, rounds, seconds);

    char tmp[] = "/tmp/vigil-bench-rules-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char syn1k[4200], syn10k[4200], sigma[4200];
    snprintf(syn1k, sizeof syn1k, "%s/syn1k", tmp);
    snprintf(syn10k, sizeof syn10k, "%s/syn10k", tmp);
    snprintf(sigma, sizeof sigma, "%s/rules/sigma", corpus);
    if (!shipped_only) {
        write_synthetic(syn1k, 1000);
        write_synthetic(syn10k, 10000);
    }

    struct ruleset_config base;
    ruleset_config_defaults(&base);
    snprintf(base.parsers_dir, sizeof base.parsers_dir, "%s/parsers", configs);
    snprintf(base.fieldmap, sizeof base.fieldmap, "%s/fieldmap.yaml", configs);

    double dec = time_rounds(NULL, rounds, seconds, NULL);
    double load_s;
    struct ruleset *parse_only = load(&base, &load_s);
    double parse = time_rounds(parse_only, rounds, seconds, NULL);
    ruleset_free(parse_only);
    printf("\n%-34s %8s %10s %10s %12s %10s\n", "ruleset", "rules", "compile s", "ns/msg", "detect ns", "signals/msg");
    printf("%-34s %8s %10s %10.1f %12s %10s\n", "decode only", "-", "-", dec, "-", "-");
    printf("%-34s %8u %10.2f %10.1f %12s %10s\n", "decode+parse (shipped parsers)", 0u, load_s, parse, "-", "-");

    struct {
        const char *name;
        const char *extra;
    } sets[] = {{"shipped packs", NULL},
                {"shipped + corpus Sigma", sigma},
                {"shipped + 1 000 synthetic", syn1k},
                {"shipped + 10 000 synthetic", syn10k}};
    unsigned n_sets = shipped_only ? 1 : sizeof sets / sizeof sets[0];
    for (unsigned i = 0; i < n_sets; i++) {
        struct ruleset_config c = base;
        snprintf(c.rules_dir, sizeof c.rules_dir, "%s/rules", configs);
        if (sets[i].extra)
            c.extra_rules[c.n_extra_rules++] = sets[i].extra;
        double sig;
        struct ruleset *rs = load(&c, &load_s);
        double full = time_rounds(rs, rounds, seconds, &sig);
        printf("%-34s %8u %10.2f %10.1f %12.1f %10.3f\n", sets[i].name, rs->rules ? detect_rule_count(rs->rules) : 0,
               load_s, full, full - parse, sig);
        ruleset_free(rs);
    }
    printf("\n(detect ns = decode+parse+detect minus decode+parse; compile s = cold load, no compiled file)\n");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_ruleset: could not remove %s\n", tmp);
    return 0;
}
