/* Signal rings between vigil-dp and vigil-cp: order, full-ring drops,
 * re-attachment after either side restarts, replacement, bad files, and two
 * processes at once.  No EAL: neither side needs it for a ring in a file. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rte_ring.h>

#include "dataplane/signal_ring.h"
#include "engine/signal.h"
#include "test_support.h"

static struct vigil_signal sig(uint32_t i)
{
    struct vigil_signal s;
    memset(&s, 0, sizeof s);
    s.kind = SIGNAL_DETECTION;
    s.rule_index = i;
    s.ts_ns = (int64_t)i * 1000;
    snprintf(s.excerpt, sizeof s.excerpt, "signal %u", i);
    s.excerpt_len = (uint16_t)strlen(s.excerpt);
    return s;
}

static char path[4200];
static char err[512];

static void setup(void)
{
    test_tmpdir("sigring");
    cr_assert_eq(signal_ring_path(tmp_path("."), 3, path, sizeof path), 0);
}

TestSuite(signal_ring, .init = setup);

Test(signal_ring, records_arrive_in_order_and_a_full_ring_counts_drops)
{
    struct signal_ring *p, *c;
    cr_assert_eq(signal_ring_open_producer(path, 64, 3, &p, err, sizeof err), 0, "%s", err);
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    struct vigil_signal in[100];
    for (unsigned i = 0; i < 100; i++)
        in[i] = sig(i);
    /* 64 slots hold 63 records (rte_ring keeps one free) */
    unsigned put = signal_ring_enqueue(p, in, 100);
    cr_assert_eq(put, 63);
    struct signal_ring_stats st;
    signal_ring_stats(c, &st);
    cr_assert_eq(st.enqueued, 63);
    cr_assert_eq(st.dropped_full, 37);
    cr_assert_eq(st.used, 63);
    cr_assert_eq(st.capacity, 63);
    cr_assert_eq(st.worker, 3);
    struct vigil_signal out[128];
    unsigned got = signal_ring_dequeue(c, out, 128);
    cr_assert_eq(got, 63);
    for (unsigned i = 0; i < got; i++) {
        cr_assert_eq(out[i].rule_index, i);
        cr_assert_str_eq(out[i].excerpt, in[i].excerpt);
    }
    signal_ring_stats(p, &st);
    cr_assert_eq(st.dequeued, 63);
    cr_assert_eq(st.used, 0);
    signal_ring_close(p);
    signal_ring_close(c);
}

Test(signal_ring, a_restarted_producer_keeps_what_the_consumer_has_not_read)
{
    struct signal_ring *p, *c;
    cr_assert_eq(signal_ring_open_producer(path, 128, 3, &p, err, sizeof err), 0, "%s", err);
    struct vigil_signal s[10];
    for (unsigned i = 0; i < 10; i++)
        s[i] = sig(i);
    cr_assert_eq(signal_ring_enqueue(p, s, 10), 10);
    signal_ring_close(p); /* vigil-dp exits (or dies) */
    cr_assert_eq(signal_ring_open_producer(path, 128, 3, &p, err, sizeof err), 0, "%s", err);
    for (unsigned i = 0; i < 10; i++)
        s[i] = sig(10 + i);
    cr_assert_eq(signal_ring_enqueue(p, s, 10), 10);
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    cr_assert_not(signal_ring_replaced(c));
    struct vigil_signal out[64];
    cr_assert_eq(signal_ring_dequeue(c, out, 64), 20);
    for (unsigned i = 0; i < 20; i++)
        cr_assert_eq(out[i].rule_index, i);
    struct signal_ring_stats st;
    signal_ring_stats(c, &st);
    cr_assert_eq(st.producer_attaches, 2);
    cr_assert_eq(st.producer_pid, getpid());
    signal_ring_close(p);
    signal_ring_close(c);
}

Test(signal_ring, interrupted_enqueue_and_dequeue_are_repaired_on_attach)
{
    struct signal_ring *p, *c;
    cr_assert_eq(signal_ring_open_producer(path, 64, 3, &p, err, sizeof err), 0, "%s", err);
    struct vigil_signal s[4] = {sig(0), sig(1), sig(2), sig(3)};
    cr_assert_eq(signal_ring_enqueue(p, s, 4), 4);
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    struct vigil_signal out[8];
    cr_assert_eq(signal_ring_dequeue(c, out, 1), 1);
    signal_ring_close(p);
    signal_ring_close(c);
    /* Both sides die half-way: heads moved, tails not, which is what a
     * kill -9 between the two steps of rte_ring's enqueue and dequeue
     * leaves.  (The ring starts 256 bytes into the file: signal_ring.c.) */
    int fd = open(path, O_RDWR);
    cr_assert_geq(fd, 0);
    struct stat stt;
    cr_assert_eq(fstat(fd, &stt), 0);
    char *base = mmap(NULL, (size_t)stt.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert_neq(base, MAP_FAILED);
    struct rte_ring *r = (struct rte_ring *)(base + 256);
    r->prod.head += 2;
    r->cons.head += 2;
    munmap(base, (size_t)stt.st_size);
    close(fd);

    cr_assert_eq(signal_ring_open_producer(path, 64, 3, &p, err, sizeof err), 0, "%s", err);
    struct vigil_signal more = sig(4);
    cr_assert_eq(signal_ring_enqueue(p, &more, 1), 1, "the producer's half-done enqueue is forgotten");
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    cr_assert_eq(signal_ring_dequeue(c, out, 8), 4, "the consumer's half-done dequeue is read again");
    for (unsigned i = 0; i < 4; i++)
        cr_assert_eq(out[i].rule_index, i + 1);
    signal_ring_close(p);
    signal_ring_close(c);
}

Test(signal_ring, another_size_replaces_the_file_and_the_consumer_notices)
{
    struct signal_ring *p, *c;
    cr_assert_eq(signal_ring_open_producer(path, 64, 3, &p, err, sizeof err), 0, "%s", err);
    struct vigil_signal s = sig(7);
    cr_assert_eq(signal_ring_enqueue(p, &s, 1), 1);
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    signal_ring_close(p);
    /* vigil-dp restarts with signals.ring_size changed */
    cr_assert_eq(signal_ring_open_producer(path, 256, 3, &p, err, sizeof err), 0, "%s", err);
    cr_assert(signal_ring_replaced(c));
    struct vigil_signal out[4];
    cr_assert_eq(signal_ring_dequeue(c, out, 4), 1, "the old mapping still drains");
    cr_assert_eq(out[0].rule_index, 7);
    signal_ring_close(c);
    cr_assert_eq(signal_ring_open_consumer(path, &c, err, sizeof err), 0, "%s", err);
    struct signal_ring_stats st;
    signal_ring_stats(c, &st);
    cr_assert_eq(st.capacity, 255);
    signal_ring_close(p);
    signal_ring_close(c);
}

Test(signal_ring, missing_and_foreign_files_and_bad_sizes)
{
    struct signal_ring *r;
    cr_assert_eq(signal_ring_open_consumer(path, &r, err, sizeof err), 1, "no file yet: try later");
    write_text(path, "this is not a ring, but a file of text that is long enough to have a header .......... "
                     "........................................................................................"
                     "........................................................................................");
    cr_assert_eq(signal_ring_open_consumer(path, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "not a signal ring"), "%s", err);
    cr_assert_eq(signal_ring_open_producer(path, 100, 3, &r, err, sizeof err), -1);
    cr_assert(strstr(err, "power of two"), "%s", err);
    /* the producer replaces a foreign file rather than trusting it */
    cr_assert_eq(signal_ring_open_producer(path, 64, 3, &r, err, sizeof err), 0, "%s", err);
    signal_ring_close(r);
}

Test(signal_ring, two_processes_pass_every_record_in_order)
{
    struct signal_ring *p;
    cr_assert_eq(signal_ring_open_producer(path, 1024, 3, &p, err, sizeof err), 0, "%s", err);
    enum { TOTAL = 200000 };
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        struct signal_ring *c;
        if (signal_ring_open_consumer(path, &c, err, sizeof err))
            _exit(2);
        struct vigil_signal out[64];
        uint32_t next = 0;
        while (next < TOTAL) {
            unsigned n = signal_ring_dequeue(c, out, 64);
            for (unsigned i = 0; i < n; i++)
                if (out[i].rule_index != next++)
                    _exit(3);
        }
        _exit(0);
    }
    uint32_t i = 0;
    while (i < TOTAL) {
        struct vigil_signal s = sig(i);
        if (signal_ring_enqueue(p, &s, 1) == 1)
            i++;
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "consumer saw a gap or reorder (status %d)", status);
    struct signal_ring_stats st;
    signal_ring_stats(p, &st);
    cr_assert_eq(st.enqueued, TOTAL);
    cr_assert_eq(st.dequeued, TOTAL);
    signal_ring_close(p);
}
