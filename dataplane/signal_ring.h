/* Signal rings: how detection signals cross from vigil-dp to vigil-cp.
 *
 * One ring per worker, each an rte_ring of fixed 256-byte records (struct
 * vigil_signal) placed in a file under a shared-memory directory
 * (/dev/shm by default) that both processes mmap.  The records hold no
 * pointers and rte_ring keeps only indices, so each process may map the file
 * at its own address; vigil-cp never calls rte_eal_init (PLATFORM.md has the
 * check).  Single producer (the worker), single consumer (vigil-cp).
 *
 * What a caller may rely on:
 * - signal_ring_enqueue never blocks: what does not fit is counted in the
 *   ring's dropped_full counter and returned as not enqueued.
 * - vigil-dp restarted re-attaches to the rings it finds (same record size
 *   and capacity), keeping the records vigil-cp has not read yet; a ring of
 *   another shape is replaced by a new file (rename), never resized under a
 *   reader.  vigil-cp restarted attaches to the rings where they are.
 * - A process killed in the middle of an enqueue or dequeue leaves the
 *   ring's head ahead of its tail; the next attach of that side moves the
 *   head back to the tail (single producer / single consumer: only that
 *   side ever writes them).  An interrupted dequeue is therefore read again.
 *   What vigil-cp had already taken out is its own: a crash loses what it
 *   had not yet stored (docs/operations.md says how much).
 * - Both processes must run as the same user: a ring file owned by someone
 *   else, or writable by others, is refused (the directory may be shared).
 * - Either process may be absent: the producer counts drops once the ring
 *   is full; the consumer finds the ring empty.
 */
#ifndef VIGIL_DATAPLANE_SIGNAL_RING_H
#define VIGIL_DATAPLANE_SIGNAL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vigil_signal;
struct signal_ring;

#define SIGNAL_RING_MIN 64u
#define SIGNAL_RING_MAX (1u << 24)

/* Counters and occupancy, readable from either side at any time. */
struct signal_ring_stats {
    uint64_t enqueued;        /* records the producer put in */
    uint64_t dropped_full;    /* records the producer could not put in: ring full */
    uint64_t dequeued;        /* records the consumer took out */
    uint32_t used;            /* records waiting now */
    uint32_t capacity;
    uint32_t worker;
    int32_t producer_pid;     /* last vigil-dp to attach (0: none yet) */
    int32_t consumer_pid;     /* last vigil-cp to attach (0: none yet) */
    uint32_t producer_attaches;
};

/* The ring file of worker w in dir: "<dir>/vigil-signals.<w>". */
int signal_ring_path(const char *dir, unsigned worker, char *buf, size_t cap);

/* Producer side (vigil-dp): attaches to the ring file at path when it has
 * this capacity (a power of two in [SIGNAL_RING_MIN, SIGNAL_RING_MAX]) and
 * record size, else creates a new one.  Returns 0, or -1 with a message in
 * err naming the file and the reason. */
int signal_ring_open_producer(const char *path, unsigned capacity, unsigned worker, struct signal_ring **out,
                              char *err, size_t errlen);

/* Consumer side (vigil-cp): attaches to an existing ring file.  Returns 0,
 * 1 when there is no such file yet (try again later), or -1 with a message
 * in err (not a ring file, other version or record size). */
int signal_ring_open_consumer(const char *path, struct signal_ring **out, char *err, size_t errlen);

/* Enqueues up to n signals; returns how many went in (the rest are counted
 * as dropped_full).  Producer only. */
unsigned signal_ring_enqueue(struct signal_ring *r, const struct vigil_signal *s, unsigned n);

/* Dequeues up to max signals into out; returns how many.  Consumer only. */
unsigned signal_ring_dequeue(struct signal_ring *r, struct vigil_signal *out, unsigned max);

void signal_ring_stats(const struct signal_ring *r, struct signal_ring_stats *st);

/* The stats of the ring file at path without attaching to it (read-only
 * mapping; neither side's state changes): for vigilctl status.  0, 1 when
 * there is no such file, -1 when it is not a ring of this version. */
int signal_ring_peek_stats(const char *path, struct signal_ring_stats *st);

/* True when the file at the ring's path is no longer the one mapped (a
 * restarted vigil-dp replaced it).  The consumer drains the old mapping,
 * closes it and opens the path again. */
bool signal_ring_replaced(const struct signal_ring *r);

void signal_ring_close(struct signal_ring *r);

#endif
