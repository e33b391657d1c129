/* bench_hs_floor: what one Hyperscan scan of a real log line costs here,
 * whatever code surrounds it.
 *
 *   bench_hs_floor [--corpus DIR] [--rounds N]
 *
 * Compiles caseless, single-match literal sets of 1, 16, 64 and 128 attack
 * strings of the kind the shipped web rules hold (traversal, SQL injection,
 * XSS, scanner names, JNDI), then scans the real Apache access-log lines of
 * the corpus (web/elastic_apache_logs.log), whole and cut to their first 64
 * bytes, and prints the median ns per scan over ROUNDS rounds.  The shipped
 * web profile is one such scan per access-log line, so this is the floor
 * under its detection cost: no rule layout can make a scan of the line
 * cheaper than Hyperscan scanning it (docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hs/hs.h>

#include "bench/bench_common.h"

static const char *const literals[] = {
    "../", "..%2f", "%2e%2e/", "%2e%2e%2f", "..\\", "..%5c", "/etc/passwd", "/etc/shadow", "c:\\windows\\",
    "/proc/self/environ", "union select", "union all select", "union+select", "union%20select", "' or 1=1",
    "%27%20or%201=1", "sleep(", "sleep%28", "benchmark(", "pg_sleep(", "waitfor delay", "information_schema",
    "@@version", "concat(0x", "group_concat(", "char(0x", "select%20*%20from", "load_file(", "into outfile",
    "xp_cmdshell", "exec(@", "cast(0x", "<script", "%3cscript", "javascript:", "onerror=", "onload=",
    "<iframe", "%3ciframe", "document.cookie", "alert(", "<svg", "%3csvg", "() {", "%28%29%20%7b", "${jndi:",
    "$%7bjndi:", "%24%7bjndi", "jndi:ldap:/", "jndi:rmi:/", "${::-j}", "${lower:j}", "nikto", "sqlmap",
    "nmap scripting engine", "masscan", "zgrab", "dirbuster", "gobuster", "wpscan", "nuclei", "acunetix",
    "netsparker", "w3af", "whatweb", "nessus", "openvas", "feroxbuster", "wfuzz", "hydra", "zmeu", "morfeus",
    "havij", "blackwidow", "arachni", "jorgee", "censysinspect", "expanse", "/wp-login.php", "/xmlrpc.php",
    "/phpmyadmin", "/.env", "/.git/config", "/cgi-bin/", "/server-status", "/actuator", "/console",
    "/manager/html", "cmd.exe", "/bin/sh", "/bin/bash", "wget%20", "curl%20", "base64_decode(", "eval(",
    "system(", "passthru(", "shell_exec(", "phpinfo(", "/etc/hosts", "win.ini", "boot.ini", "%00",
    "%252e%252e", "..;/", "%c0%ae", "%uff0e", "file://", "php://input", "php://filter", "data://", "expect://",
    "gopher://", "dict://", "ldap://", "<?php", "%3c%3fphp", "<!entity", "<!doctype", "select%28",
    "';shutdown", "drop table", "insert into", "delete from", "update%20", "or%201=1", "and%201=1",
    "having%201=1", "order%20by", "/*!", "0x3c", "char(", "chr(", "nchar(", "unhex(",
};
#define N_LITERALS (sizeof literals / sizeof literals[0])

struct line {
    const char *p;
    uint32_t len;
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx)
{
    (void)id, (void)from, (void)to, (void)flags;
    ++*(unsigned long *)ctx;
    return 0;
}

static double median_scan_ns(const hs_database_t *db, hs_scratch_t *s, const struct line *lines, size_t n,
                             uint32_t cut, int rounds, unsigned long *hits)
{
    double r[64];
    for (int k = 0; k < rounds; k++) {
        double t0 = bench_now_s();
        size_t scans = 0;
        do {
            for (size_t i = 0; i < n; i++) {
                uint32_t len = cut && lines[i].len > cut ? cut : lines[i].len;
                if (hs_scan(db, lines[i].p, len, 0, s, on_match, hits) != HS_SUCCESS) {
                    fprintf(stderr, "bench_hs_floor: scan error\n");
                    exit(1);
                }
            }
            scans += n;
        } while (bench_now_s() - t0 < 0.3);
        r[k] = (bench_now_s() - t0) * 1e9 / (double)scans;
    }
    qsort(r, (size_t)rounds, sizeof r[0], bench_cmp_double);
    return r[rounds / 2];
}

int main(int argc, char **argv)
{
    const char *corpus = "../shared/corpus";
    int rounds = 5;
    static const struct option lo[] = {{"corpus", 1, NULL, 'k'}, {"rounds", 1, NULL, 'r'}, {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'k': corpus = optarg; break;
        case 'r': rounds = atoi(optarg); break;
        default: fprintf(stderr, "usage: bench_hs_floor [--corpus DIR] [--rounds N]\n"); return 2;
        }
    }
    if (rounds < 1 || rounds > 64)
        rounds = 5;

    char path[4096];
    snprintf(path, sizeof path, "%s/web/elastic_apache_logs.log", corpus);
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    size_t cap = 0, n = 0, bytes = 0;
    struct line *lines = NULL;
    char *buf = NULL;
    size_t bcap = 0;
    ssize_t got;
    while ((got = getline(&buf, &bcap, f)) > 0) {
        while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            got--;
        if (!got)
            continue;
        if (n == cap && !(lines = realloc(lines, (cap = cap ? 2 * cap : 4096) * sizeof *lines)))
            return 1;
        char *copy = malloc((size_t)got);
        if (!copy)
            return 1;
        memcpy(copy, buf, (size_t)got);
        lines[n++] = (struct line){copy, (uint32_t)got};
        bytes += (size_t)got;
    }
    free(buf);
    fclose(f);
    if (!n) {
        fprintf(stderr, "bench_hs_floor: no lines in %s\n", path);
        return 1;
    }
    printf("bench_hs_floor: %zu Apache access-log lines (avg %.0f bytes), median of %d rounds\n", n,
           (double)bytes / (double)n, rounds);
    printf("%10s %14s %16s\n", "literals", "ns/scan line", "ns/scan 64 B");

    static const unsigned counts[] = {1, 16, 64, 128};
    for (unsigned c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        unsigned k = counts[c] < N_LITERALS ? counts[c] : (unsigned)N_LITERALS;
        const char *expr[N_LITERALS];
        size_t len[N_LITERALS];
        unsigned flags[N_LITERALS], ids[N_LITERALS];
        for (unsigned i = 0; i < k; i++) {
            expr[i] = literals[i];
            len[i] = strlen(literals[i]);
            flags[i] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH;
            ids[i] = i;
        }
        hs_database_t *db;
        hs_compile_error_t *err;
        if (hs_compile_lit_multi(expr, flags, ids, len, k, HS_MODE_BLOCK, NULL, &db, &err) != HS_SUCCESS) {
            fprintf(stderr, "bench_hs_floor: %s\n", err->message);
            return 1;
        }
        hs_scratch_t *s = NULL;
        if (hs_alloc_scratch(db, &s) != HS_SUCCESS)
            return 1;
        unsigned long hits = 0;
        double whole = median_scan_ns(db, s, lines, n, 0, rounds, &hits);
        double cut = median_scan_ns(db, s, lines, n, 64, rounds, &hits);
        printf("%10u %14.1f %16.1f\n", k, whole, cut);
        hs_free_scratch(s);
        hs_free_database(db);
    }
    for (size_t i = 0; i < n; i++)
        free((void *)lines[i].p);
    free(lines);
    return 0;
}
