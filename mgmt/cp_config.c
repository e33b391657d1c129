/* The control_plane section of vigil.yaml, table-driven: every key is a
 * dotted path with a type, a range and where it goes. */
#include "mgmt/cp_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "storage/record.h"

enum kind { K_STR, K_UINT, K_U64MB, K_U64, K_LEVEL, K_DURABILITY, K_PERCENT, K_BOOL, K_FSYNC, K_PROTO, K_FACILITY,
            K_INT, K_HEADERS };

struct key {
    const char *path;       /* under control_plane */
    enum kind kind;
    size_t off;             /* into struct cp_config */
    size_t size;            /* K_STR: buffer size */
    unsigned long min, max;
};

#define S(p, f) {p, K_STR, offsetof(struct cp_config, f), sizeof(((struct cp_config *)0)->f), 0, 0}
#define U(p, f, lo, hi) {p, K_UINT, offsetof(struct cp_config, f), sizeof(((struct cp_config *)0)->f), lo, hi}

static const struct key keys[] = {
    S("store.path", store_path),
    {"store.map_size_mb", K_U64MB, offsetof(struct cp_config, store.map_size), 0, 1, 1ul << 24},
    {"store.max_map_size_mb", K_U64MB, offsetof(struct cp_config, store.max_map_size), 0, 1, 1ul << 24},
    {"store.durability", K_DURABILITY, offsetof(struct cp_config, store.durability), 0, 0, 0},
    U("store.sync_interval_ms", store.sync_interval_ms, 0, 3600000),
    U("store.batch_max", store.batch_max, 1, 1u << 20),
    U("store.batch_delay_ms", store.batch_delay_ms, 1, 60000),
    U("store.retention_days", store.retention_age_s, 0, 36500), /* scaled below */
    {"store.retention_max_used_percent", K_PERCENT, offsetof(struct cp_config, store.retention_fraction), 0, 10,
     95},
    S("status_path", status_path),
    S("socket.path", socket_path),
    S("socket.group", socket_group),
    S("correlation.rules", correlation_rules),
    U("correlation.max_windows", corr_max_windows, 16, 1u << 26),
    U("correlation.allowed_lateness_s", corr_allowed_lateness_s, 0, 86400),
    U("correlation.max_clock_skew_s", corr_max_clock_skew_s, 1, 31 * 86400),
    {"alerts.min_level", K_LEVEL, offsetof(struct cp_config, alert_min_level), 0, 0, 0},
    U("alerts.fold_window_s", fold_window_s, 0, 86400),
    U("alerts.max_pending", fold_max_pending, 16, 1u << 24),
    {"incidents.min_level", K_LEVEL, offsetof(struct cp_config, incident_min_level), 0, 0, 0},
    U("incidents.window_min", incident_window_min, 1, 525600),
    U("incidents.max_entities", incident_max_entities, 16, 1u << 26),
    /* outputs: a section that is present is enabled unless it says enabled: false */
    {"outputs.jsonl.enabled", K_BOOL, offsetof(struct cp_config, outputs.jsonl.enabled), 0, 0, 0},
    S("outputs.jsonl.path", outputs.jsonl.path),
    {"outputs.jsonl.fsync", K_FSYNC, offsetof(struct cp_config, outputs.jsonl.fsync), 0, 0, 0},
    U("outputs.jsonl.fsync_interval_ms", outputs.jsonl.fsync_interval_ms, 1, 3600000),
    U("outputs.jsonl.retry_interval_ms", outputs.jsonl.retry_interval_ms, 1, 3600000),
    U("outputs.jsonl.file_mode", outputs.jsonl.file_mode, 0, 0777), /* octal, e.g. 0640 */
    U("outputs.jsonl.queue_max_alerts", outputs.jsonl.queue.max_alerts, 1, OUTPUT_QUEUE_MAX_ALERTS),
    {"outputs.jsonl.queue_max_bytes", K_U64, offsetof(struct cp_config, outputs.jsonl.queue.max_bytes), 0,
     OUTPUT_QUEUE_MIN_BYTES, OUTPUT_QUEUE_MAX_BYTES},
    {"outputs.syslog.enabled", K_BOOL, offsetof(struct cp_config, outputs.syslog.enabled), 0, 0, 0},
    S("outputs.syslog.host", outputs.syslog.host),
    {"outputs.syslog.port", K_INT, offsetof(struct cp_config, outputs.syslog.port), 0, 1, 65535},
    {"outputs.syslog.protocol", K_PROTO, offsetof(struct cp_config, outputs.syslog.protocol), 0, 0, 0},
    {"outputs.syslog.facility", K_FACILITY, offsetof(struct cp_config, outputs.syslog.facility), 0, 0, 0},
    U("outputs.syslog.max_message_bytes", outputs.syslog.max_message_bytes, 480, 1u << 20),
    S("outputs.syslog.hostname", outputs.syslog.hostname),
    U("outputs.syslog.connect_timeout_ms", outputs.syslog.connect_timeout_ms, 1, 600000),
    U("outputs.syslog.reconnect_backoff_ms", outputs.syslog.reconnect_backoff_ms, 1, 3600000),
    U("outputs.syslog.reconnect_backoff_max_ms", outputs.syslog.reconnect_backoff_max_ms, 1, 3600000),
    U("outputs.syslog.queue_max_alerts", outputs.syslog.queue.max_alerts, 1, OUTPUT_QUEUE_MAX_ALERTS),
    {"outputs.syslog.queue_max_bytes", K_U64, offsetof(struct cp_config, outputs.syslog.queue.max_bytes), 0,
     OUTPUT_QUEUE_MIN_BYTES, OUTPUT_QUEUE_MAX_BYTES},
    {"outputs.webhook.enabled", K_BOOL, offsetof(struct cp_config, outputs.webhook.enabled), 0, 0, 0},
    S("outputs.webhook.url", outputs.webhook.url),
    {"outputs.webhook.headers", K_HEADERS, offsetof(struct cp_config, outputs.webhook), 0, 0, 0},
    U("outputs.webhook.timeout_ms", outputs.webhook.timeout_ms, 1, 600000),
    U("outputs.webhook.retries", outputs.webhook.retries, 0, 100),
    U("outputs.webhook.retry_backoff_ms", outputs.webhook.retry_backoff_ms, 1, 3600000),
    U("outputs.webhook.retry_backoff_max_ms", outputs.webhook.retry_backoff_max_ms, 1, 3600000),
    U("outputs.webhook.batch", outputs.webhook.batch, 0, 10000),
    {"outputs.webhook.batch_max_bytes", K_U64, offsetof(struct cp_config, outputs.webhook.batch_max_bytes), 0, 1024,
     256u << 20},
    S("outputs.webhook.ca_file", outputs.webhook.ca_file),
    U("outputs.webhook.queue_max_alerts", outputs.webhook.queue.max_alerts, 1, OUTPUT_QUEUE_MAX_ALERTS),
    {"outputs.webhook.queue_max_bytes", K_U64, offsetof(struct cp_config, outputs.webhook.queue.max_bytes), 0,
     OUTPUT_QUEUE_MIN_BYTES, OUTPUT_QUEUE_MAX_BYTES},
    {0},
};

struct loader {
    yaml_document_t doc;
    const char *file, *dir;
    char *err;
    size_t errlen;
    struct cp_config *c;
};

static int fail(struct loader *L, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct loader *L, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    int off = snprintf(L->err, L->errlen, "%s:%zu: control_plane.%s: ", L->file, n ? n->start_mark.line + 1 : 0,
                       key);
    if (off < 0 || (size_t)off >= L->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + off, L->errlen - (size_t)off, fmt, ap);
    va_end(ap);
    return -1;
}

static int set_headers(struct loader *L, yaml_node_t *v, const char *path)
{
    struct output_webhook_config *w = &L->c->outputs.webhook;
    if (v->type != YAML_MAPPING_NODE)
        return fail(L, v, path, "expected a mapping of header names to values");
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key), *x = yaml_document_get_node(&L->doc, p->value);
        if (k->type != YAML_SCALAR_NODE || x->type != YAML_SCALAR_NODE)
            return fail(L, k, path, "header names and values must be plain strings");
        if (w->n_headers == OUTPUT_WEBHOOK_MAX_HEADERS)
            return fail(L, k, path, "more than %d headers", OUTPUT_WEBHOOK_MAX_HEADERS);
        struct output_http_header *h = &w->headers[w->n_headers++];
        if (snprintf(h->name, sizeof h->name, "%s", (const char *)k->data.scalar.value) >= (int)sizeof h->name ||
            snprintf(h->value, sizeof h->value, "%s", (const char *)x->data.scalar.value) >= (int)sizeof h->value)
            return fail(L, k, path, "header '%s' is too long", (const char *)k->data.scalar.value);
    }
    return 0;
}

static int set_value(struct loader *L, const struct key *k, yaml_node_t *v, const char *path)
{
    if (k->kind == K_HEADERS)
        return set_headers(L, v, path);
    if (v->type != YAML_SCALAR_NODE)
        return fail(L, v, path, "expected a value");
    const char *s = (const char *)v->data.scalar.value;
    char *dst = (char *)L->c + k->off;
    switch (k->kind) {
    case K_STR: {
        static const char var[] = "${config_dir}";
        size_t o = 0;
        for (const char *p = s; *p;) {
            const char *piece = p;
            size_t len = 1;
            if (!strncmp(p, var, sizeof var - 1)) {
                piece = L->dir;
                len = strlen(piece);
                p += sizeof var - 1;
            } else {
                p++;
            }
            if (o + len >= k->size)
                return fail(L, v, path, "longer than %zu bytes", k->size - 1);
            memcpy(dst + o, piece, len);
            o += len;
        }
        dst[o] = '\0';
        return 0;
    }
    case K_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))
            *(bool *)dst = true;
        else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))
            *(bool *)dst = false;
        else
            return fail(L, v, path, "expected true or false, got '%s'", s);
        return 0;
    case K_FSYNC:
        if (output_fsync_parse(s, (enum output_fsync *)(void *)dst))
            return fail(L, v, path, "'%s': expected batch, interval or never", s);
        return 0;
    case K_PROTO:
        if (output_syslog_protocol_parse(s, (enum output_syslog_protocol *)(void *)dst))
            return fail(L, v, path, "'%s': expected udp or tcp", s);
        return 0;
    case K_FACILITY:
        if (output_syslog_facility_parse(s, (int *)(void *)dst))
            return fail(L, v, path, "'%s': expected a facility name (local0..local7, user, ...) or 0..23", s);
        return 0;
    case K_UINT:
    case K_U64MB:
    case K_U64:
    case K_INT:
    case K_PERCENT: {
        char *end;
        errno = 0;
        /* permissions are octal (0640); everything else is decimal */
        unsigned long x = strtoul(s, &end, strstr(k->path, "file_mode") ? 8 : 10);
        if (errno || end == s || *end || s[0] == '-')
            return fail(L, v, path, "expected an integer, got '%s'", s);
        if (x < k->min || x > k->max)
            return fail(L, v, path, "%lu is out of range %lu..%lu", x, k->min, k->max);
        if (k->kind == K_U64MB)
            *(uint64_t *)(void *)dst = (uint64_t)x << 20;
        else if (k->kind == K_U64)
            *(uint64_t *)(void *)dst = (uint64_t)x;
        else if (k->kind == K_INT)
            *(int *)(void *)dst = (int)x;
        else if (k->kind == K_PERCENT)
            *(double *)(void *)dst = (double)x / 100.0;
        else if (!strcmp(k->path, "store.retention_days"))
            *(uint64_t *)(void *)dst = (uint64_t)x * 86400u;
        else
            *(unsigned *)(void *)dst = (unsigned)x;
        return 0;
    }
    case K_LEVEL:
        for (unsigned l = ALERT_INFORMATIONAL; l <= ALERT_CRITICAL; l++)
            if (!strcmp(s, record_level_name(l))) {
                *(uint8_t *)dst = (uint8_t)l;
                return 0;
            }
        return fail(L, v, path, "'%s': expected informational, low, medium, high or critical", s);
    case K_DURABILITY:
        if (store_durability_parse(s, (enum store_durability *)(void *)dst))
            return fail(L, v, path, "'%s': expected sync, nometasync or nosync", s);
        return 0;
    default:
        return fail(L, v, path, "internal: unhandled key kind");
    }
}

/* Walks mapping n whose dotted path is prefix. */
static int walk(struct loader *L, yaml_node_t *n, const char *prefix)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(L, n, prefix[0] ? prefix : "(section)", "expected a mapping");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, p->value);
        if (k->type != YAML_SCALAR_NODE)
            return fail(L, k, prefix, "keys must be plain strings");
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", (const char *)k->data.scalar.value);
        /* naming an output's section turns it on (it may still say enabled: false) */
        if (!strcmp(path, "outputs.jsonl"))
            L->c->outputs.jsonl.enabled = true;
        else if (!strcmp(path, "outputs.syslog"))
            L->c->outputs.syslog.enabled = true;
        else if (!strcmp(path, "outputs.webhook"))
            L->c->outputs.webhook.enabled = true;
        const struct key *key = NULL;
        size_t plen = strlen(path);
        bool is_section = false;
        for (const struct key *e = keys; e->path; e++) {
            if (!strcmp(e->path, path))
                key = e;
            else if (!strncmp(e->path, path, plen) && e->path[plen] == '.')
                is_section = true;
        }
        if (key) {
            if (set_value(L, key, v, path))
                return -1;
        } else if (is_section) {
            if (walk(L, v, path))
                return -1;
        } else {
            /* the names allowed at this level, each once */
            char known[1024] = "";
            size_t pl = strlen(prefix);
            for (const struct key *e = keys; e->path; e++) {
                if (pl && (strncmp(e->path, prefix, pl) || e->path[pl] != '.'))
                    continue;
                const char *name = e->path + (pl ? pl + 1 : 0);
                size_t nl = strcspn(name, ".");
                char word[64];
                snprintf(word, sizeof word, "%.*s", (int)nl, name);
                bool dup = false;
                for (const char *q = known; (q = strstr(q, word)); q += nl)
                    if ((q == known || q[-1] == ' ') && (q[nl] == ',' || q[nl] == '\0'))
                        dup = true;
                if (!dup)
                    snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", known[0] ? ", " : "",
                             word);
            }
            return fail(L, k, path, "unknown key (known here: %s)", known);
        }
    }
    return 0;
}

void cp_config_defaults(struct cp_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->store_path, sizeof c->store_path, "/var/lib/vigil/store");
    store_config_default(&c->store);
    snprintf(c->status_path, sizeof c->status_path, "/dev/shm/vigil-cp.status.json");
    snprintf(c->socket_path, sizeof c->socket_path, "/run/vigil-cp.sock");
    c->corr_max_windows = 1u << 20;
    c->corr_allowed_lateness_s = 60;
    c->corr_max_clock_skew_s = 86400; /* relays that buffer for hours are common; a clock a day off is wrong */
    c->alert_min_level = ALERT_LOW;
    c->fold_window_s = 10;
    c->fold_max_pending = 65536;
    c->incident_min_level = ALERT_MEDIUM;
    c->incident_window_min = 60;
    c->incident_max_entities = 100000;
    output_config_defaults(&c->outputs);
}

int cp_config_load(const char *path, const char *config_dir, struct cp_config *c, char *err, size_t errlen)
{
    cp_config_defaults(c);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct loader L = {.file = path, .dir = config_dir, .err = err, .errlen = errlen, .c = c};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &L.doc);
    if (!ok) {
        snprintf(err, errlen, "%s:%zu: YAML syntax: %s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unreadable");
        yaml_parser_delete(&parser);
        fclose(f);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (root && root->type == YAML_MAPPING_NODE)
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && !rc; p++) {
            yaml_node_t *k = yaml_document_get_node(&L.doc, p->key);
            if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "control_plane"))
                rc = walk(&L, yaml_document_get_node(&L.doc, p->value), "");
        }
    yaml_document_delete(&L.doc);
    if (!rc && c->store.max_map_size && c->store.max_map_size < c->store.map_size) {
        snprintf(err, errlen, "%s: control_plane.store.max_map_size_mb is below map_size_mb", path);
        rc = -1;
    }
    if (!rc)
        rc = output_config_validate(&c->outputs, err, errlen);
    return rc;
}
