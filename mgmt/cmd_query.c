/* vigilctl's queries: alerts, incidents, entity, verify, status; and the two
 * changes an operator makes, incidents ack / close, sent to vigil-cp.
 *
 * Every query opens the LMDB store read-only (one snapshot per query), so it
 * works while vigil-cp writes and never slows it.  Text output escapes log
 * content for the terminal; --json prints the same ECS JSON the outputs
 * ship, one object per line.
 */
#define _GNU_SOURCE
#include "mgmt/cmd_query.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/config.h"
#include "dataplane/signal_ring.h"
#include "dataplane/stats.h"
#include "engine/fields.h"
#include "mgmt/alert_json.h"
#include "mgmt/control.h"
#include "mgmt/cp_config.h"
#include "mgmt/incident.h"
#include "mgmt/term.h"
#include "storage/hashchain.h"
#include "storage/store.h"

struct qopts {
    const char *config;
    const char *store;
    bool json;
    int64_t since, until;
    int min_level;           /* -1: any */
    bool has_entity;
    struct vigil_ip entity;
    bool has_rule;
    uint8_t rule[16];
    unsigned limit;
    uint8_t status_mask;
    unsigned min_severity;
    const char *positional[4];
    unsigned n_positional;
    bool has_anchor;
    struct hc_point anchor;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* "15m", "2h", "7d" ago; "2026-11-28T10:00:00Z"; or Unix seconds. */
static int parse_time(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!errno && end != s) {
        static const struct {
            char unit;
            int64_t ns;
        } units[] = {{'s', 1000000000LL}, {'m', 60000000000LL}, {'h', 3600000000000LL}, {'d', 86400000000000LL}};
        for (unsigned i = 0; i < 4; i++)
            if (end[0] == units[i].unit && !end[1]) {
                *out = now_ns() - (int64_t)(v * (double)units[i].ns);
                return 0;
            }
        if (!*end) {
            *out = (int64_t)(v * 1e9);
            return 0;
        }
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *r = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!r)
        r = strptime(s, "%Y-%m-%d", &tm);
    if (!r || (*r && strcmp(r, "Z")))
        return -1;
    *out = (int64_t)timegm(&tm) * 1000000000;
    return 0;
}

static int parse_level(const char *s)
{
    for (unsigned l = ALERT_INFORMATIONAL; l <= ALERT_CRITICAL; l++)
        if (!strcmp(s, record_level_name(l)))
            return (int)l;
    return -1;
}

static int parse_uuid(const char *s, uint8_t out[16])
{
    unsigned k = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '-')
            continue;
        unsigned v;
        if (k == 32 || sscanf(p, "%1x", &v) != 1)
            return -1;
        out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
        k++;
    }
    return k == 32 ? 0 : -1;
}

/* "SEQ:64 hex digits", as verify prints the chain head. */
static int parse_anchor(const char *s, struct hc_point *p)
{
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(s, &end, 10);
    if (errno || end == s || *end != ':' || strlen(end + 1) != 2 * HC_HASH_BYTES)
        return -1;
    for (unsigned i = 0; i < HC_HASH_BYTES; i++) {
        unsigned v;
        if (sscanf(end + 1 + 2 * i, "%2x", &v) != 1)
            return -1;
        p->hash[i] = (uint8_t)v;
    }
    p->seq = seq;
    return 0;
}

static void print_point(const struct hc_point *p)
{
    printf("%llu:", (unsigned long long)p->seq);
    for (unsigned i = 0; i < HC_HASH_BYTES; i++)
        printf("%02x", p->hash[i]);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: vigilctl alerts [show ID] [--since T] [--until T] [--min-level L] [--entity ADDR] [--rule UUID]\n"
            "                [--limit N] [--json]\n"
            "       vigilctl incidents [show ID] [--status open|acknowledged|closed] [--min-severity low|medium|high|"
            "critical|N]\n"
            "                [--entity ADDR] [--limit N] [--json]\n"
            "       vigilctl incidents ack ID | close ID   (asks vigil-cp over its control socket)\n"
            "       vigilctl entity ADDR [--json]\n"
            "       vigilctl verify [--anchor SEQ:HASH] [--json]\n"
            "       vigilctl status [--json]\n"
            "common: -c CONFIG (default /etc/vigil/vigil.yaml: control_plane.store.path) or --store DIR\n"
            "T: 15m, 2h, 7d (ago), 2026-11-28T10:00:00Z, or Unix seconds\n");
}

static int parse_opts(int argc, char **argv, struct qopts *o)
{
    memset(o, 0, sizeof *o);
    o->config = "/etc/vigil/vigil.yaml";
    o->min_level = -1;
    static const struct option lo[] = {
        {"config", 1, NULL, 'c'},      {"store", 1, NULL, 'S'},  {"json", 0, NULL, 'j'},
        {"since", 1, NULL, 's'},       {"until", 1, NULL, 'u'},  {"min-level", 1, NULL, 'l'},
        {"entity", 1, NULL, 'e'},      {"rule", 1, NULL, 'r'},   {"limit", 1, NULL, 'n'},
        {"status", 1, NULL, 't'},      {"min-severity", 1, NULL, 'v'}, {"help", 0, NULL, 'h'},
        {"anchor", 1, NULL, 'a'},
        {0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:n:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'S': o->store = optarg; break;
        case 'j': o->json = true; break;
        case 's':
        case 'u':
            if (parse_time(optarg, ch == 's' ? &o->since : &o->until)) {
                fprintf(stderr, "vigilctl: --%s %s: not a time (15m, 2h, 2026-11-28T10:00:00Z)\n",
                        ch == 's' ? "since" : "until", optarg);
                return -1;
            }
            break;
        case 'l':
            if ((o->min_level = parse_level(optarg)) < 0) {
                fprintf(stderr, "vigilctl: --min-level %s: informational, low, medium, high or critical\n", optarg);
                return -1;
            }
            break;
        case 'e':
            if (!field_parse_ip(optarg, strlen(optarg), &o->entity)) {
                fprintf(stderr, "vigilctl: --entity %s: not an IPv4 or IPv6 address\n", optarg);
                return -1;
            }
            o->has_entity = true;
            break;
        case 'r':
            if (parse_uuid(optarg, o->rule)) {
                fprintf(stderr, "vigilctl: --rule %s: not a UUID\n", optarg);
                return -1;
            }
            o->has_rule = true;
            break;
        case 'n': o->limit = (unsigned)strtoul(optarg, NULL, 10); break;
        case 't':
            if (!strcmp(optarg, "open"))
                o->status_mask |= 1u << INCIDENT_OPEN;
            else if (!strcmp(optarg, "acknowledged"))
                o->status_mask |= 1u << INCIDENT_ACKNOWLEDGED;
            else if (!strcmp(optarg, "closed"))
                o->status_mask |= 1u << INCIDENT_CLOSED;
            else {
                fprintf(stderr, "vigilctl: --status %s: open, acknowledged or closed\n", optarg);
                return -1;
            }
            break;
        case 'v': {
            static const unsigned floor_of[] = {0, 0, 25, 45, 70}; /* incident.h's labels */
            int l = parse_level(optarg);
            if (l >= 0)
                o->min_severity = floor_of[l];
            else
                o->min_severity = (unsigned)strtoul(optarg, NULL, 10);
            break;
        }
        case 'a':
            if (parse_anchor(optarg, &o->anchor)) {
                fprintf(stderr, "vigilctl: --anchor %s: want SEQ:HASH as vigilctl verify prints it\n", optarg);
                return -1;
            }
            o->has_anchor = true;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->n_positional == 4) {
            usage(stderr);
            return -1;
        }
        o->positional[o->n_positional++] = argv[i];
    }
    return 0;
}

/* The store directory: --store, else control_plane.store.path of -c. */
static struct store *open_store(const struct qopts *o)
{
    static struct cp_config cfg;
    const char *path = o->store;
    char err[1024];
    if (!path) {
        static struct vigil_config dp;
        if (config_load(o->config, &dp, err, sizeof err)) {
            fprintf(stderr, "vigilctl: %s (give -c CONFIG or --store DIR)\n", err);
            return NULL;
        }
        int rc = cp_config_load(o->config, dp.dir, &cfg, err, sizeof err);
        config_free(&dp);
        if (rc) {
            fprintf(stderr, "vigilctl: %s\n", err);
            return NULL;
        }
        path = cfg.store_path;
    }
    struct store *st;
    if (store_open(&st, path, STORE_READONLY, NULL, err, sizeof err)) {
        fprintf(stderr, "vigilctl: store %s: %s\n", path, err);
        return NULL;
    }
    return st;
}

static void tactics_text(uint32_t tactics, char *buf, size_t cap)
{
    buf[0] = '\0';
    for (unsigned t = 0; t < TACTIC__COUNT; t++)
        if (tactics & (1u << t))
            snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", buf[0] ? "," : "", record_tactic_name(t));
    if (!buf[0])
        snprintf(buf, cap, "-");
}

static void short_time(int64_t ns, char buf[40])
{
    alert_json_time(ns, buf);
    buf[19] = 'Z'; /* seconds are enough in a table */
    buf[20] = '\0';
}

static void print_alert_line(const struct vigil_alert *a)
{
    char t[40], ent[64], tac[256];
    short_time(a->event_ns ? a->event_ns : a->received_ns, t);
    alert_json_ip(&a->entity, ent);
    tactics_text(a->tactics, tac, sizeof tac);
    printf("%-8" PRIu64 " %s  %-13s %-16s x%-5u %-40.40s %s\n    ", a->id, t, record_level_name(a->level),
           ent[0] ? ent : "-", a->count, a->title, tac);
    term_print_escaped(stdout, a->excerpt, a->excerpt_len < 160 ? a->excerpt_len : 160);
    putchar('\n');
}

static int alert_out(const struct vigil_alert *a, void *ctx)
{
    const struct qopts *o = ctx;
    if (o->json) {
        static char buf[ALERT_JSON_MAX];
        if (alert_json_render(a, buf, sizeof buf))
            puts(buf);
    } else {
        print_alert_line(a);
    }
    return 0;
}

static int cmd_alerts(struct store *st, const struct qopts *o)
{
    if (o->n_positional >= 1 && !strcmp(o->positional[0], "show")) {
        if (o->n_positional != 2) {
            usage(stderr);
            return 2;
        }
        struct vigil_alert a;
        uint64_t id = strtoull(o->positional[1], NULL, 10);
        int rc = store_get_alert(st, id, &a);
        if (rc) {
            fprintf(stderr, "vigilctl: alert %s: %s\n", o->positional[1], store_strerror(rc));
            return 1;
        }
        alert_out(&a, (void *)o);
        return 0;
    }
    if (o->n_positional) {
        usage(stderr);
        return 2;
    }
    struct store_alert_query q = {.since_ns = o->since, .until_ns = o->until,
                                  .min_level = (uint8_t)(o->min_level < 0 ? 0 : o->min_level),
                                  .entity = o->has_entity ? &o->entity : NULL, .rule_uuid = o->has_rule ? o->rule : NULL,
                                  .limit = o->limit};
    if (!o->json)
        printf("%-8s %-20s  %-13s %-16s %-6s %-40s %s\n", "ID", "TIME", "LEVEL", "ENTITY", "COUNT", "RULE",
               "TACTICS");
    struct store_query_info info;
    int n = store_list_alerts(st, &q, alert_out, (void *)o, &info);
    if (n < 0) {
        fprintf(stderr, "vigilctl: %s\n", store_strerror(n));
        return 1;
    }
    if (info.truncated)
        fprintf(stderr, "vigilctl: stopped after scanning %" PRIu64 " alerts; narrow the query\n", info.scanned);
    return 0;
}

static int incident_out(const struct vigil_incident *inc, void *ctx)
{
    const struct qopts *o = ctx;
    if (o->json) {
        static char buf[ALERT_JSON_MAX];
        if (incident_json_render(inc, buf, sizeof buf))
            puts(buf);
        return 0;
    }
    char first[40], last[40], ent[64], tac[256];
    short_time(inc->first_seen_ns, first);
    short_time(inc->last_seen_ns, last);
    alert_json_ip(&inc->entity, ent);
    tactics_text(inc->tactics, tac, sizeof tac);
    printf("%-6" PRIu64 " %-9s %4u  %-13s %-16s %s  %s  %6u  %s\n", inc->id, inc->label, inc->severity,
           record_status_name(inc->status), ent, first, last, inc->n_chain + inc->chain_more, tac);
    return 0;
}

struct timeline {
    struct vigil_alert a[INCIDENT_CHAIN_MAX];
    unsigned n;
};

static int collect_alert(const struct vigil_alert *a, void *ctx)
{
    struct timeline *t = ctx;
    if (t->n < INCIDENT_CHAIN_MAX)
        t->a[t->n++] = *a;
    return 0;
}

static void print_timeline_alert(const struct vigil_alert *a, unsigned n)
{
    char when[40], tac[256];
    /* a detection happened when its first event did; a correlation when it fired */
    short_time(a->kind == ALERT_CORRELATION ? a->last_seen_ns : a->first_seen_ns ? a->first_seen_ns : a->event_ns,
               when);
    tactics_text(a->tactics, tac, sizeof tac);
    printf("  %2u. %s  #%-6" PRIu64 " %-8s %-11s x%-4u %s\n      ", n, when, a->id, record_level_name(a->level),
           a->kind == ALERT_CORRELATION ? "correlation" : "detection", a->count, a->title);
    printf("tactics: %s\n      ", tac);
    term_print_escaped(stdout, a->excerpt, a->excerpt_len < 200 ? a->excerpt_len : 200);
    putchar('\n');
}

static int cmd_incidents(struct store *st, const struct qopts *o)
{
    if (o->n_positional >= 1 && !strcmp(o->positional[0], "show")) {
        if (o->n_positional != 2) {
            usage(stderr);
            return 2;
        }
        /* the incident and its alerts from one snapshot */
        struct vigil_incident inc;
        static struct timeline t;
        t.n = 0;
        unsigned missing = 0;
        int rc = store_get_incident(st, strtoull(o->positional[1], NULL, 10), &inc, collect_alert, &t, &missing);
        if (rc) {
            fprintf(stderr, "vigilctl: incident %s: %s\n", o->positional[1], store_strerror(rc));
            return 1;
        }
        if (o->json) {
            incident_out(&inc, (void *)o);
            for (unsigned i = 0; i < t.n; i++)
                alert_out(&t.a[i], (void *)o);
            return 0;
        }
        char first[40], last[40], ent[64], tac[256];
        alert_json_time(inc.first_seen_ns, first);
        alert_json_time(inc.last_seen_ns, last);
        alert_json_ip(&inc.entity, ent);
        tactics_text(inc.tactics, tac, sizeof tac);
        printf("incident %" PRIu64 ": %s (rank %u), %s\nentity:  %s\nfirst:   %s\nlast:    %s\ntactics: %s\n"
               "timeline (%u alerts%s):\n",
               inc.id, inc.label, inc.severity, record_status_name(inc.status), ent, first, last, tac,
               inc.n_chain + inc.chain_more, inc.chain_more ? ", the first ones shown" : "");
        for (unsigned i = 0; i < t.n; i++)
            print_timeline_alert(&t.a[i], i + 1);
        if (missing)
            printf("  (%u alerts of the chain were pruned by retention)\n", missing);
        return 0;
    }
    if (o->n_positional) {
        usage(stderr);
        return 2;
    }
    struct store_incident_query q = {.status_mask = o->status_mask, .min_severity = (uint16_t)o->min_severity,
                                     .entity = o->has_entity ? &o->entity : NULL, .limit = o->limit};
    if (!o->json)
        printf("%-6s %-9s %4s  %-13s %-16s %-20s  %-20s  %6s  %s\n", "ID", "SEVERITY", "RANK", "STATUS", "ENTITY",
               "FIRST SEEN", "LAST SEEN", "ALERTS", "TACTICS");
    int n = store_list_incidents(st, &q, incident_out, (void *)o, NULL);
    if (n < 0) {
        fprintf(stderr, "vigilctl: %s\n", store_strerror(n));
        return 1;
    }
    return 0;
}

static int cmd_entity(struct store *st, const struct qopts *o)
{
    struct vigil_ip ip;
    if (o->n_positional != 1 || !field_parse_ip(o->positional[0], strlen(o->positional[0]), &ip)) {
        fprintf(stderr, "vigilctl: entity wants one IPv4 or IPv6 address\n");
        return 2;
    }
    struct vigil_entity e;
    int rc = store_get_entity(st, &ip, &e);
    if (rc) {
        fprintf(stderr, "vigilctl: entity %s: %s\n", o->positional[0], store_strerror(rc));
        return 1;
    }
    char first[40], last[40], addr[64];
    alert_json_time(e.first_seen_ns, first);
    alert_json_time(e.last_seen_ns, last);
    alert_json_ip(&e.ip, addr);
    if (o->json)
        printf("{\"ip\":\"%s\",\"first_seen\":\"%s\",\"last_seen\":\"%s\",\"alerts\":%" PRIu64
               ",\"risk\":%u,\"open_incident_id\":\"%" PRIu64 "\"}\n",
               addr, first, last, e.alert_count, e.risk, e.open_incident_id);
    else
        printf("entity %s\nfirst seen: %s\nlast seen:  %s\nalerts:     %" PRIu64 "\nrisk:       %u (%s)\n"
               "incident:   %" PRIu64 "\n",
               addr, first, last, e.alert_count, e.risk, incident_label(e.risk), e.open_incident_id);
    struct qopts ao = *o;
    ao.has_entity = true;
    ao.entity = ip;
    ao.n_positional = 0;
    if (!o->json)
        printf("recent alerts:\n");
    struct store_alert_query q = {.entity = &ip, .limit = o->limit ? o->limit : 20};
    return store_list_alerts(st, &q, alert_out, &ao, NULL) < 0;
}

static int cmd_verify(struct store *st, const struct qopts *o)
{
    static struct store_verify_result r;
    int rc = store_verify(st, o->has_anchor ? &o->anchor : NULL, &r);
    if (rc < 0) {
        fprintf(stderr, "vigilctl: verify could not run: %s\n", store_strerror(rc));
        return 2;
    }
    if (o->json) {
        printf("{\"ok\":%s,\"entries\":%" PRIu64 ",\"alerts\":%" PRIu64 ",\"incidents\":%" PRIu64
               ",\"issues_total\":%" PRIu64 ",\"issues\":[",
               r.ok ? "true" : "false", r.entries, r.alerts, r.incidents, r.issues_total);
        for (unsigned i = 0; i < r.n_issues; i++)
            printf("%s{\"problem\":\"%s\",\"id\":\"%" PRIu64 "\",\"seq\":%" PRIu64 ",\"other_id\":\"%" PRIu64 "\"}",
                   i ? "," : "", store_verify_problem_name(r.issues[i].problem), r.issues[i].id, r.issues[i].seq,
                   r.issues[i].other_id);
        printf("],\"head\":\"");
        print_point(&r.head);
        printf("\",\"anchor_checked\":%s}\n", r.anchor_checked ? "true" : "false");
    } else {
        printf("chain: %" PRIu64 " entries (%" PRIu64 " alerts, %" PRIu64 " incident versions, %" PRIu64
               " prunes) from seq %" PRIu64 "\n",
               r.entries, r.alerts, r.incidents, r.prunes, r.base_seq);
        for (unsigned i = 0; i < r.n_issues; i++) {
            const struct verify_issue *v = &r.issues[i];
            printf("TAMPERED: %s: %s %" PRIu64 " (chain seq %" PRIu64 ")", store_verify_problem_name(v->problem),
                   v->what == 2 ? "incident" : "alert", v->id, v->seq);
            if (v->other_id)
                printf(", other %" PRIu64, v->other_id);
            putchar('\n');
        }
        if (r.issues_total > r.n_issues)
            printf("... and %" PRIu64 " more issues\n", r.issues_total - r.n_issues);
        printf("chain head: ");
        print_point(&r.head);
        printf("\n  (keep it off the appliance; `vigilctl verify --anchor` with it later also detects a chain\n"
               "   recomputed by someone with write access)\n");
        if (o->has_anchor) {
            bool differs = false;
            for (unsigned i = 0; i < r.n_issues; i++)
                differs |= r.issues[i].problem == VERIFY_ANCHOR;
            printf("anchor: %s\n", !r.anchor_checked ? "not checked (pruned by retention)"
                                    : differs        ? "DIFFERS: the chain up to it was rewritten"
                                                     : "matches");
        }
        printf("%s\n", r.ok ? "verify: OK, every retained record matches the chain"
                            : "verify: FAILED, the store was modified outside vigil-cp");
    }
    return r.ok ? 0 : 1;
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("null");
        return;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        while (n && (buf[n - 1] == '\n'))
            n--;
        fwrite(buf, 1, n, stdout);
    }
    fclose(f);
}

static int cmd_status(const struct qopts *o)
{
    char err[1024];
    static struct vigil_config dp;
    static struct cp_config cp;
    if (config_load(o->config, &dp, err, sizeof err) || cp_config_load(o->config, dp.dir, &cp, err, sizeof err)) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return 1;
    }
    struct stats_block sb;
    int have_dp = stats_open_readonly(&sb, dp.stats_path) == 0;
    struct store *st = NULL;
    struct store_stats ss;
    int have_store = !store_open(&st, o->store ? o->store : cp.store_path, STORE_READONLY, NULL, err, sizeof err) &&
                     store_stats(st, &ss) == 0;
    if (o->json) {
        printf("{\"dataplane\":");
        if (have_dp) {
            /* one line: --json prints one object per line */
            char *text = NULL;
            size_t len = 0;
            FILE *m = open_memstream(&text, &len);
            if (m) {
                stats_print_json(&sb, m);
                fclose(m);
                for (size_t i = 0; i < len; i++)
                    if (text[i] != '\n')
                        putchar(text[i]);
                free(text);
            }
        } else {
            printf("null");
        }
        printf(",\"control_plane\":");
        print_file(cp.status_path);
        printf(",\"rings\":[");
    } else {
        printf("vigil-dp: %s\n", have_dp ? (sb.hdr->running ? "running" : "stopped (counters of the last run)")
                                         : "no stats block (never started here)");
        if (have_dp) {
            struct worker_counters sum;
            stats_sum_workers(&sb, &sum);
            printf("  rx_packets %" PRIu64 ", syslog_events %" PRIu64 ", signals %" PRIu64
                   ", signals_dropped_ring_full %" PRIu64 "\n",
                   sum.rx_packets, sum.syslog_events, sum.signals, sum.signals_dropped_ring_full);
        }
        FILE *f = fopen(cp.status_path, "r");
        printf("vigil-cp: %s\n", f ? "status file present" : "no status file (not started here)");
        if (f) {
            char line[4096];
            if (fgets(line, sizeof line, f)) {
                char *p = strstr(line, "\"pid\":");
                char *q = strstr(line, "\"alerts_emitted\":");
                printf("  pid %ld, alerts emitted %lld\n", p ? strtol(p + 6, NULL, 10) : 0L,
                       q ? strtoll(q + 17, NULL, 10) : 0LL);
            }
            fclose(f);
        }
        printf("signal rings (%s):\n", dp.signals_dir);
    }
    for (unsigned i = 0; i < dp.n_workers; i++) {
        char path[PATH_MAX + 32];
        struct signal_ring_stats rs;
        signal_ring_path(dp.signals_dir, i, path, sizeof path);
        int rc = signal_ring_peek_stats(path, &rs);
        if (o->json) {
            if (rc)
                printf("%s{\"worker\":%u,\"present\":false}", i ? "," : "", i);
            else
                printf("%s{\"worker\":%u,\"present\":true,\"used\":%u,\"capacity\":%u,\"enqueued\":%" PRIu64
                       ",\"dropped_full\":%" PRIu64 ",\"dequeued\":%" PRIu64 "}",
                       i ? "," : "", i, rs.used, rs.capacity, rs.enqueued, rs.dropped_full, rs.dequeued);
        } else if (rc) {
            printf("  worker %u: no ring yet\n", i);
        } else {
            printf("  worker %u: %u/%u used (%.1f%%), enqueued %" PRIu64 ", dropped (full) %" PRIu64
                   ", dequeued %" PRIu64 "\n",
                   i, rs.used, rs.capacity, rs.capacity ? 100.0 * rs.used / rs.capacity : 0.0, rs.enqueued,
                   rs.dropped_full, rs.dequeued);
        }
    }
    if (o->json) {
        printf("],\"store\":");
        if (have_store)
        {
            printf("{\"alerts\":%" PRIu64 ",\"incidents\":%" PRIu64 ",\"entities\":%" PRIu64
                   ",\"map_size\":%" PRIu64 ",\"used_fraction\":%.4f,\"last_commit_ns\":%" PRId64
                   ",\"chain_head\":\"",
                   ss.alerts, ss.incidents, ss.entities, ss.map_size, ss.used_fraction, ss.last_commit_ns);
            print_point(&ss.head);
            printf("\"}");
        }
        else
            printf("null");
        printf("}\n");
    } else if (have_store) {
        printf("store: %" PRIu64 " alerts, %" PRIu64 " incidents, %" PRIu64 " entities; map %.1f%% used of %" PRIu64
               " MiB\nchain head: ",
               ss.alerts, ss.incidents, ss.entities, 100.0 * ss.used_fraction, ss.map_size >> 20);
        print_point(&ss.head);
        printf("\n");
    } else {
        printf("store: not readable (%s)\n", err);
    }
    if (st)
        store_close(st);
    if (have_dp)
        stats_close(&sb);
    config_free(&dp);
    return 0;
}

/* incidents ack ID / close ID: a change, so vigil-cp (the only writer) makes
 * it; vigilctl asks over the control socket. */
static int cmd_incident_change(const struct qopts *o)
{
    if (o->n_positional != 2 || !strtoull(o->positional[1], NULL, 10)) {
        fprintf(stderr, "vigilctl: incidents %s wants one incident id\n", o->positional[0]);
        return 2;
    }
    char err[1024];
    static struct vigil_config dp;
    static struct cp_config cp;
    if (config_load(o->config, &dp, err, sizeof err) || cp_config_load(o->config, dp.dir, &cp, err, sizeof err)) {
        fprintf(stderr, "vigilctl: %s\n", err);
        return 1;
    }
    config_free(&dp);
    if (!cp.socket_path[0]) {
        fprintf(stderr, "vigilctl: control_plane.socket.path is empty in %s: vigil-cp takes no commands\n",
                o->config);
        return 1;
    }
    char req[128], reply[512];
    snprintf(req, sizeof req, "incident %s %llu", o->positional[0], strtoull(o->positional[1], NULL, 10));
    if (control_request(cp.socket_path, req, reply, sizeof reply)) {
        fprintf(stderr, "vigilctl: %s\n", reply);
        return 1;
    }
    bool ok = !strncmp(reply, "ok", 2);
    if (o->json)
        printf("{\"ok\":%s,\"reply\":\"%s\"}\n", ok ? "true" : "false", reply);
    else
        fprintf(ok ? stdout : stderr, "%s\n", reply);
    return ok ? 0 : 1;
}

int cmd_query(const char *what, int argc, char **argv)
{
    struct qopts o;
    if (parse_opts(argc, argv, &o))
        return 2;
    if (!strcmp(what, "status"))
        return cmd_status(&o);
    if (!strcmp(what, "incidents") && o.n_positional &&
        (!strcmp(o.positional[0], "ack") || !strcmp(o.positional[0], "close")))
        return cmd_incident_change(&o);
    struct store *st = open_store(&o);
    if (!st)
        return 1;
    int rc;
    if (!strcmp(what, "alerts"))
        rc = cmd_alerts(st, &o);
    else if (!strcmp(what, "incidents"))
        rc = cmd_incidents(st, &o);
    else if (!strcmp(what, "entity"))
        rc = cmd_entity(st, &o);
    else
        rc = cmd_verify(st, &o);
    store_close(st);
    return rc;
}
