#include "dataplane/stats.h"

#include "engine/event_json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t block_size(unsigned n_workers, unsigned n_ports)
{
    return sizeof(struct stats_header) + n_workers * sizeof(struct worker_counters) +
           n_ports * sizeof(struct port_counters);
}

static void set_views(struct stats_block *sb, void *base)
{
    sb->hdr = base;
    sb->workers = (struct worker_counters *)((char *)base + sizeof(struct stats_header));
    sb->ports = (struct port_counters *)(sb->workers + sb->hdr->n_workers);
}

int stats_create(struct stats_block *sb, const char *path, unsigned n_workers, unsigned n_ports)
{
    memset(sb, 0, sizeof *sb);
    sb->fd = -1;
    if (n_workers > STATS_MAX_WORKERS || n_ports > STATS_MAX_PORTS)
        return -EINVAL;
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = block_size(n_workers, n_ports);
    if (ftruncate(fd, (off_t)len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct stats_header *h = base;
    h->version = STATS_VERSION;
    h->n_workers = n_workers;
    h->n_ports = n_ports;
    h->pid = (int32_t)getpid();
    sb->fd = fd;
    sb->map_len = len;
    set_views(sb, base);
    /* Magic last: a reader that sees it sees a complete header. */
    __atomic_store_n(&h->magic, STATS_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int stats_open_readonly(struct stats_block *sb, const char *path)
{
    memset(sb, 0, sizeof *sb);
    sb->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size < sizeof(struct stats_header)) {
        close(fd);
        return -EPROTO;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        close(fd);
        return -e;
    }
    const struct stats_header *h = base;
    if (h->magic != STATS_MAGIC || h->version != STATS_VERSION || h->n_workers > STATS_MAX_WORKERS ||
        h->n_ports > STATS_MAX_PORTS || (size_t)st.st_size < block_size(h->n_workers, h->n_ports)) {
        munmap(base, (size_t)st.st_size);
        close(fd);
        return -EPROTO;
    }
    sb->fd = fd;
    sb->map_len = (size_t)st.st_size;
    set_views(sb, base);
    return 0;
}

void stats_close(struct stats_block *sb)
{
    if (sb->hdr)
        munmap(sb->hdr, sb->map_len);
    if (sb->fd >= 0)
        close(sb->fd);
    memset(sb, 0, sizeof *sb);
    sb->fd = -1;
}

void stats_sum_workers(const struct stats_block *sb, struct worker_counters *sum)
{
    memset(sum, 0, sizeof *sum);
    for (unsigned w = 0; w < sb->hdr->n_workers; w++) {
        const struct worker_counters *c = &sb->workers[w];
#define X(name, help) sum->name += c->name;
        WORKER_COUNTERS(X)
#undef X
        for (int r = 0; r < PKT_DROP__COUNT; r++)
            sum->malformed[r] += c->malformed[r];
        for (int a = 0; a < VIGIL_ANOM_COUNT; a++)
            sum->syslog_anomaly[a] += c->syslog_anomaly[a];
        sum->idle_polls += c->idle_polls;
    }
}

static void print_worker_text(const struct worker_counters *c, FILE *out, const char *indent)
{
#define X(name, help) \
    if (c->name)      \
        fprintf(out, "%s%-24s %" PRIu64 "\n", indent, #name, c->name);
    WORKER_COUNTERS(X)
#undef X
    for (int r = 1; r < PKT_DROP__COUNT; r++)
        if (c->malformed[r])
            fprintf(out, "%smalformed.%-14s %" PRIu64 "\n", indent,
                    pkt_drop_reason_name((enum pkt_drop_reason)r), c->malformed[r]);
    for (int a = 0; a < VIGIL_ANOM_COUNT; a++)
        if (c->syslog_anomaly[a])
            fprintf(out, "%ssyslog_anomaly.%-9s %" PRIu64 "\n", indent, vigil_anomaly_name((unsigned)a),
                    c->syslog_anomaly[a]);
}

void stats_print_text(const struct stats_block *sb, FILE *out)
{
    struct worker_counters sum;
    stats_sum_workers(sb, &sum);
    if (sb->hdr->ruleset_hash)
        fprintf(out, "ruleset %016" PRIx64 " (%" PRIu64 " reloads, %" PRIu64 " failed)\n", sb->hdr->ruleset_hash,
                sb->hdr->ruleset_swaps, sb->hdr->ruleset_reload_failed);
    fprintf(out, "totals (%u worker%s):\n", sb->hdr->n_workers, sb->hdr->n_workers == 1 ? "" : "s");
    print_worker_text(&sum, out, "  ");
    if (sb->hdr->n_workers > 1)
        for (unsigned w = 0; w < sb->hdr->n_workers; w++) {
            fprintf(out, "worker %u (lcore %u):\n", w, sb->hdr->worker_lcore[w]);
            print_worker_text(&sb->workers[w], out, "  ");
        }
    for (unsigned p = 0; p < sb->hdr->n_ports; p++) {
        const struct port_counters *pc = &sb->ports[p];
        fprintf(out, "port %u (%s):\n", p, pc->name);
#define X(name, help) fprintf(out, "  %-24s %" PRIu64 "\n", #name, pc->name);
        PORT_COUNTERS(X)
#undef X
    }
}

static void print_worker_json(const struct worker_counters *c, FILE *out)
{
    const char *sep = "";
#define X(name, help)                                              \
    fprintf(out, "%s\"%s\":%" PRIu64, sep, #name, c->name); \
    sep = ",";
    WORKER_COUNTERS(X)
#undef X
    fprintf(out, ",\"malformed\":{");
    for (int r = 1; r < PKT_DROP__COUNT; r++)
        fprintf(out, "%s\"%s\":%" PRIu64, r > 1 ? "," : "",
                pkt_drop_reason_name((enum pkt_drop_reason)r), c->malformed[r]);
    fprintf(out, "},\"syslog_anomaly\":{");
    for (int a = 0; a < VIGIL_ANOM_COUNT; a++)
        fprintf(out, "%s\"%s\":%" PRIu64, a ? "," : "", vigil_anomaly_name((unsigned)a), c->syslog_anomaly[a]);
    fprintf(out, "},\"idle_polls\":%" PRIu64, c->idle_polls);
}

void stats_print_json(const struct stats_block *sb, FILE *out)
{
    struct worker_counters sum;
    stats_sum_workers(sb, &sum);
    fprintf(out, "{\"running\":%s,\"pid\":%d,\"ruleset\":{\"hash\":\"%016" PRIx64 "\",\"swaps\":%" PRIu64
                 ",\"reload_failed\":%" PRIu64 "},\"totals\":{",
            sb->hdr->running ? "true" : "false", sb->hdr->pid, sb->hdr->ruleset_hash, sb->hdr->ruleset_swaps,
            sb->hdr->ruleset_reload_failed);
    print_worker_json(&sum, out);
    fprintf(out, "},\"workers\":[");
    for (unsigned w = 0; w < sb->hdr->n_workers; w++) {
        fprintf(out, "%s{\"lcore\":%u,", w ? "," : "", sb->hdr->worker_lcore[w]);
        print_worker_json(&sb->workers[w], out);
        fputc('}', out);
    }
    fprintf(out, "],\"ports\":[");
    for (unsigned p = 0; p < sb->hdr->n_ports; p++) {
        const struct port_counters *pc = &sb->ports[p];
        /* Port names come from the operator's config: letters, digits, - and _ only. */
        fprintf(out, "%s{\"name\":\"%s\"", p ? "," : "", pc->name);
#define X(name, help) fprintf(out, ",\"%s\":%" PRIu64, #name, pc->name);
        PORT_COUNTERS(X)
#undef X
        fputc('}', out);
    }
    fprintf(out, "]}\n");
}
