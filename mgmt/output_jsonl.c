#define _GNU_SOURCE   /* pthread_setname_np */
#include "mgmt/output_jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define JSONL_BATCH      256               /* alerts per writev: 2 iovecs each, under IOV_MAX */
#define JSONL_BATCH_COST (4u << 20)        /* and at most this many bytes of them */
#define NS_PER_MS        1000000LL

struct output_jsonl {
    struct output_jsonl_config cfg;
    struct output_queue *q;
    pthread_t thr;
    int fd;
    atomic_bool reopen_req;
    bool reopen_pending;          /* a reopen failed: try again at retry_at */
    /* The batch being written: batch[cur..nb) are unwritten, and the first
     * off bytes of batch[cur]'s line (JSON + '\n') are already in the file. */
    struct output_record *batch[JSONL_BATCH];
    size_t nb, cur, off;
    int64_t retry_at;             /* after a write error, no attempt before this */
    bool dirty;                   /* written since the last fdatasync */
    int64_t last_sync;
};

void output_jsonl_config_defaults(struct output_jsonl_config *c)
{
    memset(c, 0, sizeof *c);
    c->fsync = OUTPUT_FSYNC_BATCH;
    c->fsync_interval_ms = 1000;
    c->retry_interval_ms = 1000;
    c->file_mode = 0640;
    c->queue.max_alerts = OUTPUT_QUEUE_DEFAULT_ALERTS;
    c->queue.max_bytes = OUTPUT_QUEUE_DEFAULT_BYTES;
}

static const char *const fsync_names[] = {"batch", "interval", "never"};

int output_fsync_parse(const char *s, enum output_fsync *out)
{
    for (unsigned i = 0; i < sizeof fsync_names / sizeof fsync_names[0]; i++)
        if (s && strcmp(s, fsync_names[i]) == 0) {
            *out = (enum output_fsync)i;
            return 0;
        }
    return -1;
}

const char *output_fsync_name(enum output_fsync f)
{
    return (unsigned)f < sizeof fsync_names / sizeof fsync_names[0] ? fsync_names[f] : "?";
}

int output_jsonl_config_validate(const struct output_jsonl_config *c, char *err, size_t errlen)
{
    size_t pl = strnlen(c->path, sizeof c->path);
    if (pl == 0) {
        snprintf(err, errlen, "outputs.jsonl.path: required when the output is enabled");
        return -1;
    }
    if (pl == sizeof c->path) {
        snprintf(err, errlen, "outputs.jsonl.path: longer than %zu bytes", sizeof c->path - 1);
        return -1;
    }
    if ((unsigned)c->fsync > OUTPUT_FSYNC_NEVER) {
        snprintf(err, errlen, "outputs.jsonl.fsync: must be batch, interval or never");
        return -1;
    }
    if (c->fsync == OUTPUT_FSYNC_INTERVAL && (c->fsync_interval_ms < 1 || c->fsync_interval_ms > 3600000)) {
        snprintf(err, errlen, "outputs.jsonl.fsync_interval_ms: must be 1..3600000");
        return -1;
    }
    if (c->retry_interval_ms < 1 || c->retry_interval_ms > 3600000) {
        snprintf(err, errlen, "outputs.jsonl.retry_interval_ms: must be 1..3600000");
        return -1;
    }
    if (c->file_mode > 0777) {
        snprintf(err, errlen, "outputs.jsonl.file_mode: must be an octal mode 0..0777");
        return -1;
    }
    return output_queue_config_check(&c->queue, "outputs.jsonl", err, errlen);
}

static int open_path(const struct output_jsonl *o)
{
    return open(o->cfg.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, (mode_t)o->cfg.file_mode);
}

/* EINVAL/EROFS: the path is something that cannot be synced (a pipe, a
 * character device); that is the operator's choice, not an error. */
static void sync_file(struct output_jsonl *o, int64_t now)
{
    if (o->fd >= 0 && fdatasync(o->fd) != 0 && errno != EINVAL && errno != EROFS) {
        output_queue_add(o->q, OQ_ERRORS, 1);
        output_queue_set_error(o->q, "fdatasync %s: %s", o->cfg.path, strerror(errno));
    }
    o->dirty = false;
    o->last_sync = now;
}

static void do_reopen(struct output_jsonl *o, int64_t now)
{
    int fd = open_path(o);
    if (fd < 0) {
        /* Keep writing to the old file (it still exists, renamed) rather
         * than stall; try again later. */
        output_queue_add(o->q, OQ_ERRORS, 1);
        output_queue_set_error(o->q, "reopen %s: %s", o->cfg.path, strerror(errno));
        o->reopen_pending = true;
        o->retry_at = now + (int64_t)o->cfg.retry_interval_ms * NS_PER_MS;
        return;
    }
    if (o->fd >= 0) {
        if (o->off > 0) {
            /* A line torn by an earlier error: end it so the old file's next
             * reader sees one bad line, not a bad line glued to nothing, and
             * write the whole line again to the new file. */
            ssize_t r = write(o->fd, "\n", 1);
            (void)r;
            o->off = 0;
        }
        if (o->cfg.fsync != OUTPUT_FSYNC_NEVER && o->dirty)
            sync_file(o, now);
        close(o->fd);
    }
    o->fd = fd;
    o->reopen_pending = false;
    o->retry_at = 0;              /* anything held may be retried on the new file at once */
    output_queue_add(o->q, OQ_REOPENS, 1);
}

/* Writes batch[cur..nb) until done or an error.  Returns 0 when everything
 * was written, -1 after an error (counted; retry_at set). */
static int write_pending(struct output_jsonl *o, int64_t now)
{
    static const char nl = '\n';
    while (o->cur < o->nb) {
        struct iovec iov[2 * JSONL_BATCH];
        int niov = 0;
        for (size_t i = o->cur; i < o->nb; i++) {
            struct output_record *a = o->batch[i];
            size_t skip = i == o->cur ? o->off : 0;
            if (skip < a->json_len)
                iov[niov++] = (struct iovec){a->json + skip, a->json_len - skip};
            iov[niov++] = (struct iovec){(void *)&nl, 1};
        }
        ssize_t r = writev(o->fd, iov, niov);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            output_queue_add(o->q, OQ_ERRORS, 1);
            output_queue_set_error(o->q, "write %s: %s", o->cfg.path, strerror(e));
            o->retry_at = now + (int64_t)o->cfg.retry_interval_ms * NS_PER_MS;
            return -1;
        }
        output_queue_add(o->q, OQ_BYTES, (uint64_t)r);
        o->dirty = true;
        /* Advance over the lines now complete; release them in one go. */
        size_t first = o->cur;
        size_t left = (size_t)r;
        while (left > 0 && o->cur < o->nb) {
            size_t line = (size_t)o->batch[o->cur]->json_len + 1 - o->off;
            if (left < line) {
                o->off += left;
                left = 0;
            } else {
                left -= line;
                o->off = 0;
                o->cur++;
            }
        }
        output_queue_done(o->q, o->batch + first, o->cur - first, OUTPUT_DELIVERED);
    }
    return 0;
}

static void *jsonl_thread(void *arg)
{
    struct output_jsonl *o = arg;
    pthread_setname_np(pthread_self(), "vigil-jsonl");
    for (;;) {
        int64_t now = output_mono_ns();
        if (output_queue_expired(o->q, now))
            break;
        if (atomic_exchange(&o->reopen_req, false) || (o->reopen_pending && now >= o->retry_at))
            do_reopen(o, now);
        if (o->cur < o->nb) {
            /* A batch left over by a write error (disk full): retry later. */
            if (now < o->retry_at) {
                int64_t until = o->retry_at;
                int64_t tick = now + OUTPUT_JSONL_TICK_MS * NS_PER_MS;   /* notice reopen requests */
                output_queue_sleep(o->q, until < tick ? until : tick);
                continue;
            }
            output_queue_add(o->q, OQ_RETRIES, 1);
        } else {
            int64_t wake = now + OUTPUT_JSONL_TICK_MS * NS_PER_MS;
            if (o->cfg.fsync == OUTPUT_FSYNC_INTERVAL && o->dirty) {
                int64_t due = o->last_sync + (int64_t)o->cfg.fsync_interval_ms * NS_PER_MS;
                if (due <= now) {
                    sync_file(o, now);
                    continue;
                }
                if (due < wake)
                    wake = due;
            }
            o->nb = output_queue_pop(o->q, o->batch, JSONL_BATCH, JSONL_BATCH_COST, wake);
            o->cur = o->off = 0;
            if (o->nb == 0) {
                if (output_queue_closing(o->q))
                    break;
                continue;
            }
            now = output_mono_ns();
        }
        if (write_pending(o, now) == 0 && o->cfg.fsync == OUTPUT_FSYNC_BATCH)
            sync_file(o, now);
    }
    /* Closing: make what was written durable unless told not to, and count
     * what is left over. */
    if (o->dirty && o->cfg.fsync != OUTPUT_FSYNC_NEVER)
        sync_file(o, output_mono_ns());
    output_queue_done(o->q, o->batch + o->cur, o->nb - o->cur, OUTPUT_ABANDONED);
    o->cur = o->nb = 0;
    return NULL;
}

int output_jsonl_start(const struct output_jsonl_config *c, struct output_queue *q, struct output_jsonl **out,
                       char *err, size_t errlen)
{
    struct output_jsonl *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "outputs.jsonl: out of memory");
        return -1;
    }
    o->cfg = *c;
    o->q = q;
    atomic_init(&o->reopen_req, false);
    o->fd = open_path(o);
    if (o->fd < 0) {
        snprintf(err, errlen, "outputs.jsonl.path: cannot open '%s': %s", c->path, strerror(errno));
        free(o);
        return -1;
    }
    o->last_sync = output_mono_ns();
    int rc = pthread_create(&o->thr, NULL, jsonl_thread, o);
    if (rc != 0) {
        snprintf(err, errlen, "outputs.jsonl: cannot start thread: %s", strerror(rc));
        close(o->fd);
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void output_jsonl_reopen(struct output_jsonl *o)
{
    if (o)
        atomic_store(&o->reopen_req, true);
}

void output_jsonl_join(struct output_jsonl *o)
{
    if (!o)
        return;
    pthread_join(o->thr, NULL);
    if (o->fd >= 0)
        close(o->fd);
    free(o);
}
