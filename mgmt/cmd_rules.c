#include "mgmt/cmd_rules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/event_json.h"
#include "engine/ruleset.h"
#include "engine/syslog.h"
#include "mgmt/term.h"

struct opts {
    struct ruleset_config cfg;
    const char *positional[2];
    int n_pos;
    int json;
    const char *out;
};

static int is_dir(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return !stat(p, &st) && S_ISREG(st.st_mode);
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof *o);
    ruleset_config_defaults(&o->cfg);
    const char *parsers = NULL, *rules = NULL, *fieldmap = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--parsers") || !strcmp(a, "--rules") || !strcmp(a, "--fieldmap") || !strcmp(a, "-o")) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--parsers"))
                parsers = v;
            else if (!strcmp(a, "--rules"))
                rules = v;
            else if (!strcmp(a, "--fieldmap"))
                fieldmap = v;
            else
                o->out = v;
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "vigilctl rules: unknown option '%s'\n", a);
            return -1;
        } else if (o->n_pos < 2) {
            o->positional[o->n_pos++] = a;
        } else {
            fprintf(stderr, "vigilctl rules: unexpected argument '%s'\n", a);
            return -1;
        }
    }
    /* A directory first argument is the configuration directory. */
    const char *dir = "/etc/vigil";
    if (o->n_pos > 0 && is_dir(o->positional[0])) {
        dir = o->positional[0];
        memmove(o->positional, o->positional + 1, sizeof o->positional[0]);
        o->n_pos--;
    }
    snprintf(o->cfg.parsers_dir, sizeof o->cfg.parsers_dir, "%s/parsers", dir);
    snprintf(o->cfg.rules_dir, sizeof o->cfg.rules_dir, "%s/rules", dir);
    snprintf(o->cfg.fieldmap, sizeof o->cfg.fieldmap, "%s/fieldmap.yaml", dir);
    if (!is_file(o->cfg.fieldmap))
        o->cfg.fieldmap[0] = '\0';
    if (parsers)
        snprintf(o->cfg.parsers_dir, sizeof o->cfg.parsers_dir, "%s", parsers);
    if (rules)
        snprintf(o->cfg.rules_dir, sizeof o->cfg.rules_dir, "%s", rules);
    if (fieldmap)
        snprintf(o->cfg.fieldmap, sizeof o->cfg.fieldmap, "%s", fieldmap);
    if (!is_dir(o->cfg.parsers_dir) && !parsers)
        o->cfg.parsers_dir[0] = '\0';
    if (!is_dir(o->cfg.rules_dir) && !rules)
        o->cfg.rules_dir[0] = '\0';
    if (!o->cfg.parsers_dir[0] && !o->cfg.rules_dir[0]) {
        fprintf(stderr, "vigilctl rules: %s has neither parsers/ nor rules/ (give DIR or --parsers/--rules)\n",
                dir);
        return -1;
    }
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct ruleset *load(const struct opts *o, int *errors)
{
    struct diag d;
    diag_init(&d);
    double t0 = now_s();
    struct ruleset *rs;
    int rc = ruleset_load(&o->cfg, &rs, &d);
    double took = now_s() - t0;
    diag_print(&d, stderr);
    *errors = (int)d.errors;
    if (rc == 0)
        fprintf(stderr,
                "vigilctl: %u parsers, %u rules loaded in %.2f s (%u Hyperscan databases compiled, %u reused); "
                "%u errors, %u warnings\n",
                rs->parsers ? parser_set_count(rs->parsers) : 0, rs->rules ? detect_rule_count(rs->rules) : 0,
                took, rs->compiled, rs->reused, d.errors, d.warnings);
    diag_free(&d);
    return rc == 0 ? rs : NULL;
}

static int do_check(const struct opts *o)
{
    int errors;
    struct ruleset *rs = load(o, &errors);
    if (!rs)
        return 1;
    ruleset_free(rs);
    return errors ? 1 : 0;
}

static int do_compile(struct opts *o)
{
    const char *out = o->out ? o->out : "compiled.rules";
    snprintf(o->cfg.compiled_path, sizeof o->cfg.compiled_path, "%s", out);
    int errors;
    struct ruleset *rs = load(o, &errors);
    if (!rs)
        return 1;
    fprintf(stderr, "vigilctl: compiled ruleset %016llx written to %s\n", (unsigned long long)rs->hash, out);
    ruleset_free(rs);
    return errors ? 1 : 0;
}

static const char *const level_names[] = {"?", "informational", "low", "medium", "high", "critical"};

static void print_escaped(const char *p, size_t n) { term_print_escaped(stdout, p, n); }

static void print_text(unsigned lineno, const char *line, size_t len, const struct ruleset *rs,
                       const struct event_fields *ef, const struct vigil_signal *sig, unsigned n_sig)
{
    printf("line %u: ", lineno);
    print_escaped(line, len);
    printf("\n  parser: %s\n", ef->parser >= 0 ? parser_set_name(rs->parsers, (unsigned)ef->parser) : "(none)");
    for (unsigned i = 0; i < ef->n; i++) {
        const struct field_value *f = &ef->f[i];
        if (f->id < FID__BUILTIN && f->id != FID_PROCESS_NAME && f->id != FID_HOST_HOSTNAME)
            continue;
        printf("    %-28s ", field_registry_name(rs->reg, f->id));
        if (f->type == FIELD_INT)
            printf("%lld", (long long)f->v.i);
        else if (f->type == FIELD_IP) {
            char buf[INET6_ADDRSTRLEN];
            printf("%s", inet_ntop(f->v.ip.family == 4 ? AF_INET : AF_INET6, f->v.ip.addr, buf, sizeof buf));
        } else
            print_escaped(f->v.s.ptr, f->v.s.len);
        putchar('\n');
    }
    for (unsigned i = 0; i < n_sig; i++) {
        const struct rule_info *ri = detect_rule(rs->rules, sig[i].rule_index);
        printf("  fired: [%s] %s %s (%s)\n", level_names[ri->level <= 5 ? ri->level : 0], ri->id, ri->title,
               ri->tags);
    }
    if (!n_sig)
        printf("  fired: (no rule)\n");
}

static void print_json(unsigned lineno, const char *line, size_t len, const struct ruleset *rs,
                       const struct event_fields *ef, const struct vigil_signal *sig, unsigned n_sig)
{
    static char buf[1 << 20];
    printf("{\"line\":%u,\"raw\":\"", lineno);
    print_escaped(line, len);
    printf("\",\"parser\":");
    if (ef->parser >= 0)
        printf("\"%s\"", parser_set_name(rs->parsers, (unsigned)ef->parser));
    else
        printf("null");
    size_t n = event_fields_json(ef, rs->reg, buf, sizeof buf);
    printf(",\"fields\":{%.*s},\"rules\":[", n == (size_t)-1 ? 0 : (int)n, buf);
    for (unsigned i = 0; i < n_sig; i++) {
        const struct rule_info *ri = detect_rule(rs->rules, sig[i].rule_index);
        printf("%s{\"id\":\"", i ? "," : "");
        print_escaped(ri->id, strlen(ri->id));
        printf("\",\"title\":\"");
        print_escaped(ri->title, strlen(ri->title));
        printf("\",\"level\":\"%s\"}", level_names[ri->level <= 5 ? ri->level : 0]);
    }
    printf("]}\n");
}

static int do_test(const struct opts *o)
{
    if (o->n_pos != 1) {
        fprintf(stderr, "vigilctl rules test: give the log FILE to test ('-' = stdin)\n");
        return 2;
    }
    FILE *in = strcmp(o->positional[0], "-") ? fopen(o->positional[0], "r") : stdin;
    if (!in) {
        fprintf(stderr, "vigilctl rules test: %s: %s\n", o->positional[0], strerror(errno));
        return 2;
    }
    int errors;
    struct ruleset *rs = load(o, &errors);
    if (!rs || ruleset_attach_workers(rs, 1)) {
        ruleset_free(rs);
        return 1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct syslog_ctx ctx = {.received_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, .zone = NULL};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    struct vigil_signal sig[64];
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (!len || line[0] == '#')
            continue;
        struct vigil_event ev;
        if (syslog_parse(line, (size_t)len, &ctx, &ev) != SYSLOG_OK)
            continue;
        unsigned n = ruleset_process(rs, 0, &ev, sig, 64);
        if (o->json)
            print_json(lineno, line, (size_t)len, rs, ruleset_last_fields(rs, 0), sig, n);
        else
            print_text(lineno, line, (size_t)len, rs, ruleset_last_fields(rs, 0), sig, n);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    ruleset_free(rs);
    return 0;
}

int cmd_rules(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: vigilctl rules check|test|compile [DIR] ...\n");
        return 2;
    }
    struct opts o;
    if (parse_opts(argc - 2, argv + 2, &o))
        return 2;
    if (!strcmp(argv[1], "check"))
        return do_check(&o);
    if (!strcmp(argv[1], "test"))
        return do_test(&o);
    if (!strcmp(argv[1], "compile"))
        return do_compile(&o);
    fprintf(stderr, "vigilctl rules: unknown subcommand '%s' (check, test, compile)\n", argv[1]);
    return 2;
}
