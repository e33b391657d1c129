/* vigil.yaml loader: libyaml document API, validated in one pass.
 *
 * The document is loaded whole (it is small) so every node keeps its line
 * number; each section parser walks a mapping, rejects keys it does not know,
 * and reports errors as "FILE:LINE: key.path: reason".
 */
#include "dataplane/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "dataplane/signal_ring.h"
#include "engine/tz.h"

struct loader {
    yaml_document_t doc;
    struct vigil_config *cfg;
    char *err;
    size_t errlen;
    int failed;
};

static int fail(struct loader *L, const yaml_node_t *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct loader *L, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
    if (L->failed)
        return -1;
    L->failed = 1;
    int off = snprintf(L->err, L->errlen, "%s:%zu: %s%s", L->cfg->path,
                       n ? n->start_mark.line + 1 : 0, key ? key : "", key && *key ? ": " : "");
    if (off < 0 || (size_t)off >= L->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + off, L->errlen - (size_t)off, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

static int expect(struct loader *L, const yaml_node_t *n, yaml_node_type_t t, const char *key)
{
    if (n->type == t)
        return 0;
    const char *want = t == YAML_SCALAR_NODE ? "a value" : t == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
    return fail(L, n, key, "expected %s, found %s", want, node_kind(n));
}

static int get_uint(struct loader *L, const yaml_node_t *n, const char *key, unsigned long min,
                    unsigned long max, unsigned long *out)
{
    const char *s = scalar(n);
    if (!s)
        return fail(L, n, key, "expected an integer, found %s", node_kind(n));
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return fail(L, n, key, "expected an integer, got '%s'", s);
    if (v < min || v > max)
        return fail(L, n, key, "%lu is out of range %lu..%lu", v, min, max);
    *out = v;
    return 0;
}

static int get_bool(struct loader *L, const yaml_node_t *n, const char *key, bool *out)
{
    const char *s = scalar(n);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
        *out = true;
        return 0;
    }
    if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
        *out = false;
        return 0;
    }
    return fail(L, n, key, "expected true or false");
}

/* Copies a scalar, expanding ${config_dir} so shipped configs can name files
 * beside themselves whatever the working directory. */
static int get_string(struct loader *L, const yaml_node_t *n, const char *key, char *dst, size_t cap)
{
    const char *s = scalar(n);
    if (!s)
        return fail(L, n, key, "expected a string, found %s", node_kind(n));
    static const char var[] = "${config_dir}";
    size_t o = 0;
    for (const char *p = s; *p;) {
        const char *piece = p;
        size_t len = 1;
        if (!strncmp(p, var, sizeof var - 1)) {
            piece = L->cfg->dir;
            len = strlen(piece);
            p += sizeof var - 1;
        } else {
            p++;
        }
        if (o + len >= cap)
            return fail(L, n, key, "longer than %zu bytes", cap - 1);
        memcpy(dst + o, piece, len);
        o += len;
    }
    dst[o] = '\0';
    return 0;
}

typedef int (*field_fn)(struct loader *L, const char *key, yaml_node_t *v, void *obj);

struct field {
    const char *name;
    field_fn fn;
};

/* Walks mapping n; each key must be one of fields[], each at most once. */
static int walk_map(struct loader *L, yaml_node_t *n, const char *path, const struct field *fields,
                    void *obj, unsigned *seen_mask)
{
    if (expect(L, n, YAML_MAPPING_NODE, path))
        return -1;
    unsigned seen = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(&L->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&L->doc, p->value);
        const char *ks = scalar(k);
        if (!ks)
            return fail(L, k, path, "keys must be plain strings");
        unsigned i;
        for (i = 0; fields[i].name; i++)
            if (!strcmp(fields[i].name, ks))
                break;
        char key[256];
        snprintf(key, sizeof key, "%s%s%s", path, *path ? "." : "", ks);
        if (!fields[i].name) {
            char known[512] = "";
            for (unsigned j = 0; fields[j].name; j++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", j ? ", " : "",
                         fields[j].name);
            return fail(L, k, key, "unknown key (known here: %s)", known);
        }
        if (seen & (1u << i))
            return fail(L, k, key, "given twice");
        seen |= 1u << i;
        if (fields[i].fn(L, key, v, obj))
            return -1;
    }
    if (seen_mask)
        *seen_mask = seen;
    return 0;
}

/* ---- eal ---------------------------------------------------------------- */

static int f_eal_args(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *a = yaml_document_get_node(&L->doc, *it);
        char buf[1024];
        if (get_string(L, a, key, buf, sizeof buf))
            return -1;
        if (c->n_eal_args >= CFG_MAX_EAL_ARGS)
            return fail(L, a, key, "more than %d arguments", CFG_MAX_EAL_ARGS);
        if (!strcmp(buf, "-l") || !strcmp(buf, "--lcores") || !strcmp(buf, "-c") ||
            !strcmp(buf, "--main-lcore") || !strncmp(buf, "--lcores=", 9))
            return fail(L, a, key, "'%s' is derived from eal.main_lcore and workers[].lcore; "
                        "remove it here", buf);
        if (!(c->eal_args[c->n_eal_args++] = strdup(buf)))
            return fail(L, a, key, "out of memory");
    }
    return 0;
}

static int f_main_lcore(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, CFG_MAX_LCORE, &x))
        return -1;
    ((struct vigil_config *)obj)->main_lcore = (unsigned)x;
    return 0;
}

static int f_main_cpu(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, 1023, &x))
        return -1;
    ((struct vigil_config *)obj)->main_cpu = (int)x;
    return 0;
}

static int f_eal(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {
        {"args", f_eal_args}, {"main_lcore", f_main_lcore}, {"main_cpu", f_main_cpu}, {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

/* ---- ports -------------------------------------------------------------- */

static int f_port_name(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct cfg_port *p = obj;
    if (get_string(L, v, key, p->name, sizeof p->name))
        return -1;
    for (const char *s = p->name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return fail(L, v, key, "'%s': use letters, digits, '-' and '_' only", p->name);
    return p->name[0] ? 0 : fail(L, v, key, "must not be empty");
}

static int f_port_device(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct cfg_port *p = obj;
    if (get_string(L, v, key, p->device, sizeof p->device))
        return -1;
    /* A vdev names its driver (net_pcap0, net_ring0, ...); anything else must
     * look like a PCI address, which the EAL gets with -a. */
    if (!strncmp(p->device, "net_", 4) || !strncmp(p->device, "eth_", 4)) {
        p->is_vdev = true;
        return 0;
    }
    /* The EAL names PCI ports 0000:03:00.0 (lower case, with domain): write
     * the address that way so the port is found by name after probing. */
    unsigned d = 0, b, s, fn;
    char tail;
    if ((sscanf(p->device, "%x:%x:%x.%x%c", &d, &b, &s, &fn, &tail) == 4 ||
         sscanf(p->device, "%x:%x.%x%c", &b, &s, &fn, &tail) == 3) &&
        d <= 0xFFFF && b <= 0xFF && s <= 0x1F && fn <= 7) {
        snprintf(p->device, sizeof p->device, "%04x:%02x:%02x.%x", d, b, s, fn);
        return 0;
    }
    return fail(L, v, key, "'%s' is neither a PCI address (0000:03:00.0) nor a vdev "
                "(net_pcap0,rx_pcap=FILE; net_null0; ...)", p->device);
}

static int f_port_rxq(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 1, 64, &x))
        return -1;
    ((struct cfg_port *)obj)->rx_queues = (uint16_t)x;
    return 0;
}

static int f_port_rxd(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 64, 32768, &x))
        return -1;
    ((struct cfg_port *)obj)->rx_descriptors = (uint16_t)x;
    return 0;
}

static int f_port_promisc(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    return get_bool(L, v, key, &((struct cfg_port *)obj)->promiscuous);
}

static int f_ports(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"name", f_port_name},         {"device", f_port_device},
                                     {"rx_queues", f_port_rxq},     {"rx_descriptors", f_port_rxd},
                                     {"promiscuous", f_port_promisc}, {0}};
    struct vigil_config *c = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *pn = yaml_document_get_node(&L->doc, *it);
        char path[64];
        snprintf(path, sizeof path, "%s[%u]", key, c->n_ports);
        if (c->n_ports >= CFG_MAX_PORTS)
            return fail(L, pn, path, "more than %d ports", CFG_MAX_PORTS);
        struct cfg_port *p = &c->ports[c->n_ports];
        p->rx_queues = 1;
        p->rx_descriptors = 1024;
        p->promiscuous = true;
        unsigned seen;
        if (walk_map(L, pn, path, f, p, &seen))
            return -1;
        if (!(seen & 1))
            return fail(L, pn, path, "'name' is required");
        if (!(seen & 2))
            return fail(L, pn, path, "'device' is required");
        for (unsigned i = 0; i < c->n_ports; i++)
            if (!strcmp(c->ports[i].name, p->name))
                return fail(L, pn, path, "port name '%s' is used twice", p->name);
        c->n_ports++;
    }
    return 0;
}

/* ---- workers ------------------------------------------------------------ */

static int find_port(const struct vigil_config *c, const char *name)
{
    for (unsigned i = 0; i < c->n_ports; i++)
        if (!strcmp(c->ports[i].name, name))
            return (int)i;
    return -1;
}

struct rx_ctx {
    struct vigil_config *cfg;
    struct cfg_rx *rx;
};

static int f_rx_port(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct rx_ctx *r = obj;
    char name[CFG_NAME_MAX];
    if (get_string(L, v, key, name, sizeof name))
        return -1;
    int i = find_port(r->cfg, name);
    if (i < 0)
        return fail(L, v, key, "no port named '%s' in ports (ports must be listed before workers)", name);
    r->rx->port = (uint16_t)i;
    return 0;
}

static int f_rx_queue(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, 63, &x))
        return -1;
    ((struct rx_ctx *)obj)->rx->queue = (uint16_t)x;
    return 0;
}

struct worker_ctx_cfg {
    struct vigil_config *cfg;
    struct cfg_worker *w;
};

static int f_worker_lcore(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, CFG_MAX_LCORE, &x))
        return -1;
    ((struct worker_ctx_cfg *)obj)->w->lcore = (unsigned)x;
    return 0;
}

static int f_worker_cpu(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, 1023, &x))
        return -1;
    ((struct worker_ctx_cfg *)obj)->w->cpu = (int)x;
    return 0;
}

static int f_worker_rx(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"port", f_rx_port}, {"queue", f_rx_queue}, {0}};
    struct worker_ctx_cfg *wc = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *rn = yaml_document_get_node(&L->doc, *it);
        char path[96];
        snprintf(path, sizeof path, "%s[%u]", key, wc->w->n_rx);
        if (wc->w->n_rx >= CFG_MAX_RX_PER_WORKER)
            return fail(L, rn, path, "more than %d rx queues for one worker", CFG_MAX_RX_PER_WORKER);
        struct rx_ctx r = {wc->cfg, &wc->w->rx[wc->w->n_rx]};
        unsigned seen;
        if (walk_map(L, rn, path, f, &r, &seen))
            return -1;
        if (!(seen & 1))
            return fail(L, rn, path, "'port' is required");
        wc->w->n_rx++;
    }
    return 0;
}

static int f_workers(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {
        {"lcore", f_worker_lcore}, {"cpu", f_worker_cpu}, {"rx", f_worker_rx}, {0}};
    struct vigil_config *c = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *wn = yaml_document_get_node(&L->doc, *it);
        char path[64];
        snprintf(path, sizeof path, "%s[%u]", key, c->n_workers);
        if (c->n_workers >= CFG_MAX_WORKERS)
            return fail(L, wn, path, "more than %d workers", CFG_MAX_WORKERS);
        struct cfg_worker *w = &c->workers[c->n_workers];
        w->cpu = -1;
        struct worker_ctx_cfg wc = {c, w};
        unsigned seen;
        if (walk_map(L, wn, path, f, &wc, &seen))
            return -1;
        if (!(seen & 1))
            return fail(L, wn, path, "'lcore' is required");
        if (!(seen & 4) || w->n_rx == 0)
            return fail(L, wn, path, "'rx' must list at least one {port, queue}");
        c->n_workers++;
    }
    return 0;
}

/* ---- mbufs, reassembly --------------------------------------------------- */

static int f_pool_size(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 1023, 16u << 20, &x))
        return -1;
    ((struct vigil_config *)obj)->mbuf_pool_size = (uint32_t)x;
    return 0;
}

static int f_cache_size(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, 512, &x)) /* RTE_MEMPOOL_CACHE_MAX_SIZE */
        return -1;
    ((struct vigil_config *)obj)->mbuf_cache_size = (uint32_t)x;
    return 0;
}

static int f_mbufs(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"pool_size", f_pool_size}, {"cache_size", f_cache_size}, {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

static int f_burst(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 1, 512, &x))
        return -1;
    ((struct vigil_config *)obj)->burst_size = (uint16_t)x;
    return 0;
}

static int f_reasm_flows(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 16, 1u << 20, &x))
        return -1;
    ((struct vigil_config *)obj)->reasm.max_flows = (uint32_t)x;
    return 0;
}

static int f_reasm_timeout(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 1, 60000, &x))
        return -1;
    ((struct vigil_config *)obj)->reasm.timeout_ms = (uint32_t)x;
    return 0;
}

static int f_reasm_frags(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 64, 1u << 22, &x))
        return -1;
    ((struct vigil_config *)obj)->reasm.max_fragments = (uint32_t)x;
    return 0;
}

static int f_reasm(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"max_flows", f_reasm_flows},
                                     {"timeout_ms", f_reasm_timeout},
                                     {"max_fragments", f_reasm_frags},
                                     {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

/* ---- syslog listener ------------------------------------------------------ */

int config_parse_cidr(const char *s, struct cfg_cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash = '\0';
    memset(out, 0, sizeof *out);
    unsigned maxp;
    if (inet_pton(AF_INET, buf, out->ip.addr) == 1) {
        out->ip.family = 4;
        maxp = 32;
    } else if (inet_pton(AF_INET6, buf, out->ip.addr) == 1) {
        out->ip.family = 6;
        maxp = 128;
    } else {
        return -1;
    }
    unsigned long p = maxp;
    if (slash) {
        char *end;
        if (!slash[1] || slash[1] == '-')
            return -1;
        p = strtoul(slash + 1, &end, 10);
        if (*end || p > maxp)
            return -1;
    }
    out->prefix = (uint8_t)p;
    for (unsigned bit = (unsigned)p; bit < maxp; bit++)
        out->ip.addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return 0;
}

/* A list of UDP ports into ports[*n]. */
static int get_ports(struct loader *L, yaml_node_t *v, const char *key, uint16_t *ports, unsigned *n)
{
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *pn = yaml_document_get_node(&L->doc, *it);
        unsigned long x = 0;
        if (get_uint(L, pn, key, 1, 65535, &x))
            return -1;
        if (*n >= CFG_MAX_LISTEN_PORTS)
            return fail(L, pn, key, "more than %d ports", CFG_MAX_LISTEN_PORTS);
        for (unsigned i = 0; i < *n; i++)
            if (ports[i] == x)
                return fail(L, pn, key, "port %lu listed twice", x);
        ports[(*n)++] = (uint16_t)x;
    }
    return 0;
}

static int f_syslog_ports(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_ports(L, v, key, c->syslog_ports, &c->n_syslog_ports);
}

static int f_syslog_max(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 480, 65535, &x)) /* RFC 5424 6.1: receivers accept at least 480 */
        return -1;
    ((struct vigil_config *)obj)->syslog_max_message = (uint32_t)x;
    return 0;
}

/* A list of CIDRs into a malloc'd array. */
static int get_cidrs(struct loader *L, yaml_node_t *v, const char *key, struct cfg_cidr **out, unsigned *n)
{
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    size_t cap = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    *out = calloc(cap ? cap : 1, sizeof **out);
    if (!*out)
        return fail(L, v, key, "out of memory");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *an = yaml_document_get_node(&L->doc, *it);
        const char *s = scalar(an);
        if (!s || config_parse_cidr(s, &(*out)[*n]))
            return fail(L, an, key, "'%s' is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)",
                        s ? s : "");
        (*n)++;
    }
    return 0;
}

static int f_allowed(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    c->allow_any_sender = false;
    return get_cidrs(L, v, key, &c->allowed, &c->n_allowed);
}

struct source_ctx {
    struct cfg_source *s;
};

static int f_src_cidr(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    const char *s = scalar(v);
    if (!s || config_parse_cidr(s, &((struct source_ctx *)obj)->s->cidr))
        return fail(L, v, key, "'%s' is not an address or CIDR", s ? s : "");
    return 0;
}

static int f_src_tz(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct cfg_source *s = ((struct source_ctx *)obj)->s;
    if (get_string(L, v, key, s->timezone, sizeof s->timezone))
        return -1;
    /* Load it once now so a typo stops startup here, with this line number. */
    struct tz_zone *z;
    char why[160];
    if (tz_zone_load(s->timezone, &z, why, sizeof why))
        return fail(L, v, key, "%s", why);
    tz_zone_free(z);
    return 0;
}

static int f_sources(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"cidr", f_src_cidr}, {"timezone", f_src_tz}, {0}};
    struct vigil_config *c = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    c->sources = calloc(n ? n : 1, sizeof *c->sources);
    if (!c->sources)
        return fail(L, v, key, "out of memory");
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *sn = yaml_document_get_node(&L->doc, *it);
        char path[64];
        snprintf(path, sizeof path, "%s[%u]", key, c->n_sources);
        struct source_ctx sc = {&c->sources[c->n_sources]};
        unsigned seen;
        if (walk_map(L, sn, path, f, &sc, &seen))
            return -1;
        if (seen != 3)
            return fail(L, sn, path, "'cidr' and 'timezone' are both required");
        c->n_sources++;
    }
    return 0;
}

static int f_syslog(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"ports", f_syslog_ports},
                                     {"max_message_bytes", f_syslog_max},
                                     {"allowed_senders", f_allowed},
                                     {"sources", f_sources},
                                     {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

static int f_stats_path(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->stats_path, sizeof c->stats_path);
}

static int f_rules_stats_path(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->rules_stats_path, sizeof c->rules_stats_path);
}

static int f_netflow_stats_path(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->netflow_stats_path, sizeof c->netflow_stats_path);
}

static int f_stats(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"path", f_stats_path}, {"rules_path", f_rules_stats_path},
                                     {"netflow_path", f_netflow_stats_path}, {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

/* ---- netflow -------------------------------------------------------------- */

static int f_nf_ports(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_ports(L, v, key, c->netflow_ports, &c->n_netflow_ports);
}

static int f_nf_exporters(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    c->allow_any_exporter = false;
    return get_cidrs(L, v, key, &c->exporters, &c->n_exporters);
}

/* Template cache limits: one table of (key, field, range, scale). */
static int f_nf_limit(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct nf_cache_config *nc = &((struct vigil_config *)obj)->nf.cache;
    static const struct {
        const char *name;
        unsigned long lo, hi;
    } lim[] = {{"max_exporters", 1, 1u << 20},       {"max_templates", 1, 1u << 22},
               {"max_templates_per_exporter", 1, 65535}, {"template_timeout_s", 0, 30 * 86400},
               {"pending_sets", 0, 1u << 20},         {"pending_bytes", 0, 1u << 30},
               {"pending_timeout_s", 1, 3600}};
    const char *name = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
    for (unsigned i = 0; i < sizeof lim / sizeof lim[0]; i++) {
        if (strcmp(lim[i].name, name))
            continue;
        unsigned long x = 0;
        if (get_uint(L, v, key, lim[i].lo, lim[i].hi, &x))
            return -1;
        switch (i) {
        case 0: nc->max_exporters = (uint32_t)x; break;
        case 1: nc->max_templates = (uint32_t)x; break;
        case 2: nc->max_templates_per_exporter = (uint32_t)x; break;
        case 3: nc->template_timeout_ns = (int64_t)x * 1000000000; break;
        case 4: nc->pending_max_sets = (uint32_t)x; break;
        case 5: nc->pending_max_bytes = (uint32_t)x; break;
        case 6: nc->pending_timeout_ns = (int64_t)x * 1000000000; break;
        }
        return 0;
    }
    return fail(L, v, key, "internal: no such limit");
}

static int f_nf_ignore_port(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    return get_bool(L, v, key, &((struct vigil_config *)obj)->nf.cache.ignore_source_port);
}

static int f_nf_store(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->nf_template_store, sizeof c->nf_template_store);
}

static int f_nf_rules(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->flow_rules_dir, sizeof c->flow_rules_dir);
}

static int f_rep_name(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct cfg_rep_list *r = obj;
    if (get_string(L, v, key, r->name, sizeof r->name))
        return -1;
    size_t n = strlen(r->name);
    if (!n || strspn(r->name, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
        return fail(L, v, key, "'%s': a list name is 1..63 of a-z, 0-9, _ and - (rules name it)", r->name);
    return 0;
}

static int f_rep_path(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct cfg_rep_list *r = obj;
    return get_string(L, v, key, r->path, sizeof r->path);
}

static int f_nf_reputation(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    if (expect(L, v, YAML_SEQUENCE_NODE, key))
        return -1;
    static const struct field f[] = {{"name", f_rep_name}, {"path", f_rep_path}, {0}};
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
        yaml_node_t *rn = yaml_document_get_node(&L->doc, *it);
        if (c->n_rep == CFG_MAX_REP_LISTS)
            return fail(L, rn, key, "more than %d lists", CFG_MAX_REP_LISTS);
        struct cfg_rep_list *r = &c->rep[c->n_rep];
        unsigned seen = 0;
        if (walk_map(L, rn, key, f, r, &seen))
            return -1;
        if (seen != 3)
            return fail(L, rn, key, "each list needs a name and a path");
        for (unsigned i = 0; i < c->n_rep; i++)
            if (!strcmp(c->rep[i].name, r->name))
                return fail(L, rn, key, "list '%s' given twice", r->name);
        c->n_rep++;
    }
    return 0;
}

static int f_netflow(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"ports", f_nf_ports},
                                     {"allowed_exporters", f_nf_exporters},
                                     {"max_exporters", f_nf_limit},
                                     {"max_templates", f_nf_limit},
                                     {"max_templates_per_exporter", f_nf_limit},
                                     {"template_timeout_s", f_nf_limit},
                                     {"pending_sets", f_nf_limit},
                                     {"pending_bytes", f_nf_limit},
                                     {"pending_timeout_s", f_nf_limit},
                                     {"ignore_source_port", f_nf_ignore_port},
                                     {"template_store", f_nf_store},
                                     {"rules", f_nf_rules},
                                     {"reputation", f_nf_reputation},
                                     {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

/* ---- signals -------------------------------------------------------------- */

static int f_sig_dir(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct vigil_config *c = obj;
    return get_string(L, v, key, c->signals_dir, sizeof c->signals_dir);
}

static int f_sig_ring(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    unsigned long x = 0;
    if (get_uint(L, v, key, 0, SIGNAL_RING_MAX, &x))
        return -1;
    if (x && (x < SIGNAL_RING_MIN || (x & (x - 1))))
        return fail(L, v, key, "%lu: must be 0 (no rings) or a power of two from %u", x, SIGNAL_RING_MIN);
    ((struct vigil_config *)obj)->signal_ring_size = (uint32_t)x;
    return 0;
}

static int f_signals(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"dir", f_sig_dir}, {"ring_size", f_sig_ring}, {0}};
    return walk_map(L, v, key, f, obj, NULL);
}

/* vigil-cp's section: vigil-cp validates it (vigil-cp --check-config). */
static int f_control_plane(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    (void)obj;
    return expect(L, v, YAML_MAPPING_NODE, key);
}

/* ---- engine --------------------------------------------------------------- */

static int f_eng_parsers(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct ruleset_config *e = &((struct vigil_config *)obj)->engine;
    return get_string(L, v, key, e->parsers_dir, sizeof e->parsers_dir);
}

static int f_eng_rules(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct ruleset_config *e = &((struct vigil_config *)obj)->engine;
    return get_string(L, v, key, e->rules_dir, sizeof e->rules_dir);
}

static int f_eng_fieldmap(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct ruleset_config *e = &((struct vigil_config *)obj)->engine;
    return get_string(L, v, key, e->fieldmap, sizeof e->fieldmap);
}

static int f_eng_compiled(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    struct ruleset_config *e = &((struct vigil_config *)obj)->engine;
    return get_string(L, v, key, e->compiled_path, sizeof e->compiled_path);
}

#define ENGINE_UINT(fn, member, lo, hi)                                              \
    static int fn(struct loader *L, const char *key, yaml_node_t *v, void *obj)      \
    {                                                                                \
        unsigned long x = 0;                                                         \
        if (get_uint(L, v, key, lo, hi, &x))                                         \
            return -1;                                                               \
        ((struct vigil_config *)obj)->engine.member = (unsigned)x;                   \
        return 0;                                                                    \
    }
ENGINE_UINT(f_eng_max_fields, max_fields, 8, FIELDS_HARD_MAX)
ENGINE_UINT(f_eng_excerpt, excerpt_max, 0, SIGNAL_EXCERPT_MAX)
ENGINE_UINT(f_eng_max_matches, max_matches, 1, 256)
ENGINE_UINT(f_eng_max_parsers, parser_limits.max_parsers, 1, 100000)
ENGINE_UINT(f_eng_tpl_fields, parser_limits.max_fields, 1, FIELDS_HARD_MAX)
ENGINE_UINT(f_eng_max_rules, detect_limits.max_rules, 1, 1000000)
ENGINE_UINT(f_eng_max_patterns, detect_limits.max_patterns, 1, 10000000)

static int f_engine(struct loader *L, const char *key, yaml_node_t *v, void *obj)
{
    static const struct field f[] = {{"parsers", f_eng_parsers},
                                     {"rules", f_eng_rules},
                                     {"fieldmap", f_eng_fieldmap},
                                     {"compiled", f_eng_compiled},
                                     {"max_fields_per_event", f_eng_max_fields},
                                     {"excerpt_bytes", f_eng_excerpt},
                                     {"max_matches_per_event", f_eng_max_matches},
                                     {"max_parsers", f_eng_max_parsers},
                                     {"max_fields_per_template", f_eng_tpl_fields},
                                     {"max_rules", f_eng_max_rules},
                                     {"max_patterns", f_eng_max_patterns},
                                     {0}};
    ((struct vigil_config *)obj)->engine_enabled = true;
    return walk_map(L, v, key, f, obj, NULL);
}

/* ---- whole file ----------------------------------------------------------- */

/* Checks that need the whole file: every queue polled exactly once, lcores
 * distinct, something to listen on. */
static int validate(struct loader *L, yaml_node_t *root)
{
    struct vigil_config *c = L->cfg;
    if (c->n_ports == 0)
        return fail(L, root, "ports", "at least one port is required");
    if (c->n_workers == 0)
        return fail(L, root, "workers", "at least one worker is required");
    if (c->n_syslog_ports == 0 && c->n_netflow_ports == 0)
        return fail(L, root, "syslog.ports", "at least one UDP port to listen on (syslog or netflow) is required");
    for (unsigned i = 0; i < c->n_netflow_ports; i++)
        for (unsigned j = 0; j < c->n_syslog_ports; j++)
            if (c->netflow_ports[i] == c->syslog_ports[j])
                return fail(L, root, "netflow.ports", "port %u is also a syslog port: one port, one protocol",
                            c->netflow_ports[i]);
    if ((c->flow_rules_dir[0] || c->n_rep || c->nf_template_store[0]) && c->n_netflow_ports == 0)
        return fail(L, root, "netflow", "flow rules, reputation lists or a template store without netflow.ports");
    for (unsigned i = 0; i < c->n_workers; i++) {
        if (c->workers[i].lcore == c->main_lcore)
            return fail(L, root, "workers", "worker %u uses lcore %u, which is eal.main_lcore", i,
                        c->main_lcore);
        for (unsigned j = 0; j < i; j++)
            if (c->workers[j].lcore == c->workers[i].lcore)
                return fail(L, root, "workers", "workers %u and %u both use lcore %u", j, i,
                            c->workers[i].lcore);
    }
    for (unsigned p = 0; p < c->n_ports; p++) {
        for (unsigned q = 0; q < c->ports[p].rx_queues; q++) {
            int owners = 0;
            for (unsigned i = 0; i < c->n_workers; i++)
                for (unsigned r = 0; r < c->workers[i].n_rx; r++)
                    owners += c->workers[i].rx[r].port == p && c->workers[i].rx[r].queue == q;
            if (owners == 0)
                return fail(L, root, "workers", "queue %u of port '%s' is polled by no worker "
                            "(its packets would be lost)", q, c->ports[p].name);
            if (owners > 1)
                return fail(L, root, "workers", "queue %u of port '%s' is polled by %d workers; "
                            "an rx queue must have exactly one", q, c->ports[p].name, owners);
        }
    }
    for (unsigned i = 0; i < c->n_workers; i++)
        for (unsigned r = 0; r < c->workers[i].n_rx; r++) {
            const struct cfg_rx *rx = &c->workers[i].rx[r];
            if (rx->queue >= c->ports[rx->port].rx_queues)
                return fail(L, root, "workers", "worker %u polls queue %u of port '%s', which has "
                            "rx_queues: %u", i, rx->queue, c->ports[rx->port].name,
                            c->ports[rx->port].rx_queues);
        }
    /* Every rx descriptor holds an mbuf, plus each worker's burst in flight and
     * each lcore's mempool cache: with less the NIC starves at start. */
    unsigned long need = (unsigned long)(c->n_workers + 1) * c->mbuf_cache_size +
                         (unsigned long)c->n_workers * c->burst_size + 256;
    for (unsigned p = 0; p < c->n_ports; p++)
        need += (unsigned long)c->ports[p].rx_queues * c->ports[p].rx_descriptors;
    if (c->mbuf_pool_size < need)
        return fail(L, root, "mbufs.pool_size", "%u mbufs cannot fill every rx ring and keep bursts in "
                    "flight: at least %lu are needed (rx_descriptors x queues + workers x (burst_size + "
                    "cache_size) + 256)", c->mbuf_pool_size, need);
    return 0;
}

static void set_defaults(struct vigil_config *c)
{
    c->main_lcore = 0;
    c->main_cpu = -1;
    c->mbuf_pool_size = 16383;
    c->mbuf_cache_size = 256;
    c->burst_size = 32;
    c->reasm.max_flows = 4096;
    c->reasm.timeout_ms = 2000;
    c->reasm.max_fragments = 8192;
    c->syslog_max_message = 65535;
    c->allow_any_sender = true;
    snprintf(c->stats_path, sizeof c->stats_path, "/dev/shm/vigil-dp.stats");
    snprintf(c->rules_stats_path, sizeof c->rules_stats_path, "/dev/shm/vigil-dp.rules.json");
    snprintf(c->netflow_stats_path, sizeof c->netflow_stats_path, "/dev/shm/vigil-dp.netflow.json");
    snprintf(c->signals_dir, sizeof c->signals_dir, "/dev/shm");
    c->signal_ring_size = 65536;
    c->allow_any_exporter = true;
    nf_config_default(&c->nf);
    ruleset_config_defaults(&c->engine);
}

int config_load(const char *path, struct vigil_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    set_defaults(cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    if (!realpath(dirname(tmp), cfg->dir))
        snprintf(cfg->dir, sizeof cfg->dir, ".");

    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct loader L = {.cfg = cfg, .err = err, .errlen = errlen};
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    int ok = yaml_parser_load(&parser, &L.doc);
    if (!ok) {
        snprintf(err, errlen, "%s:%zu: YAML syntax: %s%s%s", path, parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unreadable",
                 parser.context ? " " : "", parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(f);
        config_free(cfg);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(f);

    static const struct field top[] = {
        {"eal", f_eal},         {"ports", f_ports},       {"workers", f_workers},
        {"mbufs", f_mbufs},     {"burst_size", f_burst},  {"reassembly", f_reasm},
        {"syslog", f_syslog},   {"stats", f_stats},       {"engine", f_engine},
        {"signals", f_signals}, {"control_plane", f_control_plane}, {"netflow", f_netflow},
        {0}};
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    int rc;
    if (!root)
        rc = fail(&L, NULL, "", "the file is empty");
    else
        rc = walk_map(&L, root, "", top, cfg, NULL);
    if (!rc)
        rc = validate(&L, root);
    yaml_document_delete(&L.doc);
    if (rc) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

void config_free(struct vigil_config *cfg)
{
    for (unsigned i = 0; i < cfg->n_eal_args; i++)
        free(cfg->eal_args[i]);
    cfg->n_eal_args = 0;
    free(cfg->allowed);
    free(cfg->sources);
    free(cfg->exporters);
    cfg->exporters = NULL;
    cfg->n_exporters = 0;
    cfg->allowed = NULL;
    cfg->sources = NULL;
    cfg->n_allowed = cfg->n_sources = 0;
}
