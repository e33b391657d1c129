#include "dataplane/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/stats.h"
#include "engine/event_json.h"
#include "engine/signal.h"

struct tap_buf {
    char *data;
    size_t used;
};

struct tap {
    int fd;
    int owns_fd;
    pthread_mutex_t lock;
    unsigned n;
    struct tap_buf bufs[];
};

struct tap *tap_open(const char *path, unsigned n_workers, char *err, size_t errlen)
{
    struct tap *t = calloc(1, sizeof *t + n_workers * sizeof(struct tap_buf));
    if (!t) {
        snprintf(err, errlen, "tap: out of memory");
        return NULL;
    }
    t->n = n_workers;
    if (!strcmp(path, "-")) {
        t->fd = STDOUT_FILENO;
    } else {
        t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (t->fd < 0) {
            snprintf(err, errlen, "tap: cannot open %s: %s", path, strerror(errno));
            free(t);
            return NULL;
        }
        t->owns_fd = 1;
    }
    pthread_mutex_init(&t->lock, NULL);
    for (unsigned i = 0; i < n_workers; i++)
        if (!(t->bufs[i].data = malloc(TAP_BUF_BYTES))) {
            snprintf(err, errlen, "tap: out of memory");
            tap_close(t);
            return NULL;
        }
    return t;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* a debug tool: a full disk loses tap lines, never events */
        p += w;
        n -= (size_t)w;
    }
}

void tap_flush(struct tap *t, unsigned w)
{
    struct tap_buf *b = &t->bufs[w];
    if (!b->used || !b->data)
        return;
    pthread_mutex_lock(&t->lock);
    write_all(t->fd, b->data, b->used);
    pthread_mutex_unlock(&t->lock);
    b->used = 0;
}

void tap_write(struct tap *t, unsigned w, const struct vigil_event *ev, size_t payload_len, const char *extra,
               size_t extra_len, struct worker_counters *c)
{
    struct tap_buf *b = &t->bufs[w];
    size_t need = VIGIL_EVENT_JSON_MAX(payload_len) + extra_len + 1;
    if (need > TAP_BUF_BYTES) {
        c->tap_dropped++;
        return;
    }
    if (TAP_BUF_BYTES - b->used < need)
        tap_flush(t, w);
    size_t n = event_json_render(ev, b->data + b->used, TAP_BUF_BYTES - b->used);
    if (n == 0) {
        c->tap_dropped++;
        return;
    }
    if (extra_len) {
        /* The line ends "}\n": put ",extra" before that closing brace. */
        char *end = b->data + b->used + n - 2;
        *end++ = ',';
        memcpy(end, extra, extra_len);
        memcpy(end + extra_len, "}\n", 2);
        n += extra_len + 1;
    }
    b->used += n;
}

void tap_write_signal(struct tap *t, unsigned w, const struct vigil_signal *sig, const struct rule_info *ri,
                      struct worker_counters *c)
{
    struct tap_buf *b = &t->bufs[w];
    size_t need = 4096 + 6 * sizeof sig->excerpt;
    if (TAP_BUF_BYTES - b->used < need)
        tap_flush(t, w);
    size_t n = signal_json_render(sig, ri, b->data + b->used, TAP_BUF_BYTES - b->used);
    if (n == 0)
        c->tap_dropped++;
    b->used += n;
}

void tap_close(struct tap *t)
{
    if (!t)
        return;
    for (unsigned i = 0; i < t->n; i++) {
        tap_flush(t, i);
        free(t->bufs[i].data);
    }
    if (t->owns_fd)
        close(t->fd);
    pthread_mutex_destroy(&t->lock);
    free(t);
}
