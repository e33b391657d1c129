/* Signal rings in shared-memory files: see signal_ring.h for the contract. */
#define _GNU_SOURCE
#include "dataplane/signal_ring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "engine/signal.h"

#define RING_MAGIC   "VIGILSR"
#define RING_VERSION 1u
#define RING_OFFSET  256u /* the rte_ring starts here: cache-line aligned, after the header */

/* The file's first RING_OFFSET bytes.  Producer and consumer counters live
 * on separate cache lines so neither side's writes slow the other's. */
struct ring_file_hdr {
    char magic[8];
    uint32_t version;
    uint32_t rec_size;
    uint32_t capacity;          /* rte_ring count (a power of two) */
    uint32_t worker;
    uint64_t file_size;
    uint32_t ready;             /* set last, once the ring is initialized */
    uint8_t pad0[64 - 36];
    /* producer's line */
    volatile uint64_t enqueued;
    volatile uint64_t dropped_full;
    volatile int32_t producer_pid;
    volatile uint32_t producer_attaches;
    uint8_t pad1[64 - 24];
    /* consumer's line */
    volatile uint64_t dequeued;
    volatile int32_t consumer_pid;
    uint8_t pad2[64 - 12];
};

_Static_assert(sizeof(struct ring_file_hdr) <= RING_OFFSET, "header fits before the ring");

struct signal_ring {
    struct ring_file_hdr *hdr;
    struct rte_ring *ring;
    size_t map_len;
    dev_t dev;
    ino_t ino;
    char path[4096];
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int signal_ring_path(const char *dir, unsigned worker, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/vigil-signals.%u", dir, worker);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static size_t file_size_for(unsigned capacity)
{
    ssize_t ring = rte_ring_get_memsize_elem(sizeof(struct vigil_signal), capacity);
    return ring < 0 ? 0 : RING_OFFSET + (size_t)ring;
}

/* Maps fd (already validated or freshly sized) into r. */
static int map_file(struct signal_ring *r, int fd, size_t len, char *err, size_t errlen)
{
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return fail(err, errlen, "%s: mmap: %s", r->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        munmap(p, len);
        return fail(err, errlen, "%s: fstat: %s", r->path, strerror(errno));
    }
    r->hdr = p;
    r->ring = (struct rte_ring *)((char *)p + RING_OFFSET);
    r->map_len = len;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    return 0;
}

/* A header this build can use, with capacity cap (0: any). */
static bool header_ok(const struct ring_file_hdr *h, size_t file_len, unsigned cap)
{
    return !memcmp(h->magic, RING_MAGIC, sizeof RING_MAGIC) && h->version == RING_VERSION &&
           h->rec_size == sizeof(struct vigil_signal) && h->ready == 1 && (cap == 0 || h->capacity == cap) &&
           h->capacity >= SIGNAL_RING_MIN && h->capacity <= SIGNAL_RING_MAX && h->file_size == file_len &&
           file_size_for(h->capacity) == file_len;
}

/* The rte_ring inside the file indexes memory by its own size and mask:
 * they must be what the header says before either side uses them. */
static bool ring_ok(const struct signal_ring *r)
{
    const struct rte_ring *g = r->ring;
    uint32_t cap = r->hdr->capacity;
    return g->size == cap && g->mask == cap - 1 && g->capacity == cap - 1 && g->prod.single == 1 &&
           g->cons.single == 1;
}

/* Tries the existing file: 0 attached, 1 absent or unusable, -1 error.  A
 * file this user does not own, or that others may write, is refused: in a
 * shared directory someone else could have planted it. */
static int attach_existing(struct signal_ring *r, unsigned cap, char *err, size_t errlen)
{
    int fd = open(r->path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 1 : fail(err, errlen, "%s: %s", r->path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st)) {
        close(fd);
        return fail(err, errlen, "%s: fstat: %s", r->path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & S_IWOTH)) {
        close(fd);
        return fail(err, errlen, "%s: not a regular file owned by this user and closed to others: refused",
                    r->path);
    }
    if ((size_t)st.st_size < RING_OFFSET) {
        close(fd);
        return 1;
    }
    struct ring_file_hdr h;
    if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || !header_ok(&h, (size_t)st.st_size, cap)) {
        close(fd);
        return 1;
    }
    int rc = map_file(r, fd, (size_t)st.st_size, err, errlen);
    close(fd);
    if (rc == 0 && !ring_ok(r)) {
        munmap(r->hdr, r->map_len);
        r->hdr = NULL;
        return 1;
    }
    return rc;
}

int signal_ring_open_producer(const char *path, unsigned capacity, unsigned worker, struct signal_ring **out,
                              char *err, size_t errlen)
{
    *out = NULL;
    if (capacity < SIGNAL_RING_MIN || capacity > SIGNAL_RING_MAX || (capacity & (capacity - 1)))
        return fail(err, errlen, "%s: ring size %u: must be a power of two in [%u, %u]", path, capacity,
                    SIGNAL_RING_MIN, SIGNAL_RING_MAX);
    struct signal_ring *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, errlen, "%s: out of memory", path);
    if (snprintf(r->path, sizeof r->path, "%s", path) >= (int)sizeof r->path) {
        free(r);
        return fail(err, errlen, "%s: path too long", path);
    }
    int rc = attach_existing(r, capacity, err, errlen);
    if (rc < 0) {
        free(r);
        return -1;
    }
    if (rc == 0) {
        /* Only this side writes prod.head/tail: a head ahead of the tail is
         * an enqueue the previous vigil-dp never finished; forget it. */
        r->ring->prod.head = r->ring->prod.tail;
        r->hdr->producer_pid = (int32_t)getpid();
        r->hdr->producer_attaches++;
        *out = r;
        return 0;
    }
    /* A new file, built aside and renamed into place, so a consumer never
     * maps a half-initialized or resized ring. */
    size_t len = file_size_for(capacity);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.new.%d", path, (int)getpid());
    unlink(tmp); /* a leftover of a crashed start with this pid */
    int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0660);
    if (fd < 0) {
        free(r);
        return fail(err, errlen, "%s: %s", tmp, strerror(errno));
    }
    if (!len || ftruncate(fd, (off_t)len) || map_file(r, fd, len, err, errlen)) {
        if (err && errlen && !err[0])
            fail(err, errlen, "%s: cannot size the ring file: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(r);
        return -1;
    }
    close(fd);
    char name[RTE_RING_NAMESIZE];
    snprintf(name, sizeof name, "vigil_sig%u", worker);
    if (rte_ring_init(r->ring, name, capacity, RING_F_SP_ENQ | RING_F_SC_DEQ)) {
        munmap(r->hdr, r->map_len);
        unlink(tmp);
        free(r);
        return fail(err, errlen, "%s: rte_ring_init failed", path);
    }
    struct ring_file_hdr *h = r->hdr;
    memcpy(h->magic, RING_MAGIC, sizeof RING_MAGIC);
    h->version = RING_VERSION;
    h->rec_size = sizeof(struct vigil_signal);
    h->capacity = capacity;
    h->worker = worker;
    h->file_size = len;
    h->producer_pid = (int32_t)getpid();
    h->producer_attaches = 1;
    __atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
    if (rename(tmp, path)) {
        int e = errno;
        munmap(r->hdr, r->map_len);
        unlink(tmp);
        free(r);
        return fail(err, errlen, "%s: rename: %s", path, strerror(e));
    }
    *out = r;
    return 0;
}

int signal_ring_open_consumer(const char *path, struct signal_ring **out, char *err, size_t errlen)
{
    *out = NULL;
    struct signal_ring *r = calloc(1, sizeof *r);
    if (!r)
        return fail(err, errlen, "%s: out of memory", path);
    if (snprintf(r->path, sizeof r->path, "%s", path) >= (int)sizeof r->path) {
        free(r);
        return fail(err, errlen, "%s: path too long", path);
    }
    int rc = attach_existing(r, 0, err, errlen);
    if (rc != 0) {
        if (rc > 0 && access(path, F_OK) == 0) {
            free(r);
            return fail(err, errlen, "%s: not a signal ring of this version (record size %zu)", path,
                        sizeof(struct vigil_signal));
        }
        free(r);
        return rc;
    }
    /* A dequeue the previous vigil-cp did not finish is read again. */
    r->ring->cons.head = r->ring->cons.tail;
    r->hdr->consumer_pid = (int32_t)getpid();
    *out = r;
    return 0;
}

unsigned signal_ring_enqueue(struct signal_ring *r, const struct vigil_signal *s, unsigned n)
{
    unsigned k = rte_ring_sp_enqueue_burst_elem(r->ring, s, sizeof *s, n, NULL);
    r->hdr->enqueued += k;
    r->hdr->dropped_full += n - k;
    return k;
}

unsigned signal_ring_dequeue(struct signal_ring *r, struct vigil_signal *out, unsigned max)
{
    unsigned k = rte_ring_sc_dequeue_burst_elem(r->ring, out, sizeof *out, max, NULL);
    r->hdr->dequeued += k;
    return k;
}

void signal_ring_stats(const struct signal_ring *r, struct signal_ring_stats *st)
{
    const struct ring_file_hdr *h = r->hdr;
    st->enqueued = h->enqueued;
    st->dropped_full = h->dropped_full;
    st->dequeued = h->dequeued;
    st->used = rte_ring_count(r->ring);
    st->capacity = rte_ring_get_capacity(r->ring);
    st->worker = h->worker;
    st->producer_pid = h->producer_pid;
    st->consumer_pid = h->consumer_pid;
    st->producer_attaches = h->producer_attaches;
}

int signal_ring_peek_stats(const char *path, struct signal_ring_stats *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    struct stat sb;
    struct ring_file_hdr h;
    if (fstat(fd, &sb) || (size_t)sb.st_size < RING_OFFSET || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
        !header_ok(&h, (size_t)sb.st_size, 0)) {
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return -1;
    struct signal_ring r = {.hdr = p, .ring = (struct rte_ring *)((char *)p + RING_OFFSET)};
    if (!ring_ok(&r)) {
        munmap(p, (size_t)sb.st_size);
        return -1;
    }
    signal_ring_stats(&r, st);
    munmap(p, (size_t)sb.st_size);
    return 0;
}

bool signal_ring_replaced(const struct signal_ring *r)
{
    struct stat st;
    if (stat(r->path, &st))
        return false; /* gone, not replaced: keep draining what is mapped */
    return st.st_ino != r->ino || st.st_dev != r->dev;
}

void signal_ring_close(struct signal_ring *r)
{
    if (!r)
        return;
    munmap(r->hdr, r->map_len);
    free(r);
}
