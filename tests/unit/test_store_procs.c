/* The store across processes: a read-only process querying while the writer
 * writes (and grows the map under it), and a writer killed with SIGKILL in
 * the middle of heavy writes, after which the store opens, verifies, and
 * holds every alert whose commit the writer had reported. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "storage/store.h"
#include "test_support.h"

#define SEC 1000000000LL
#define T0  (1800000000LL * SEC)

static void mk_alert(struct vigil_alert *a, unsigned i)
{
    memset(a, 0, sizeof *a);
    a->kind = ALERT_DETECTION;
    a->level = (uint8_t)(i % 5);
    a->rule_uuid[0] = (uint8_t)(i % 7);
    a->event_ns = a->received_ns = a->first_seen_ns = a->last_seen_ns = T0 + (int64_t)i * 1000;
    a->count = 1;
    a->entity.family = 4;
    a->entity.addr[0] = 10;
    a->entity.addr[2] = (uint8_t)(i / 256 % 16);
    a->entity.addr[3] = (uint8_t)i;
    a->source_ip = a->entity;
    char t[96];
    int n = snprintf(t, sizeof t, "Failed password for invalid user admin%u from 10.0.%u.%u port 22 ssh2", i,
                     i / 256 % 16, i % 256);
    a->excerpt_len = record_copy_str(a->excerpt, sizeof a->excerpt, t, (size_t)n);
    a->title_len = record_copy_str(a->title, sizeof a->title, "SSH brute force", 15);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct newest {
    uint64_t last;
    unsigned n;
    bool bad;
};

static int check_desc(const struct vigil_alert *a, void *ctx)
{
    struct newest *c = ctx;
    if (c->n && a->id >= c->last)
        c->bad = true;   /* newest first, strictly */
    if (a->kind != ALERT_DETECTION || a->title_len != 15)
        c->bad = true;
    c->last = a->id;
    c->n++;
    return 0;
}

/* The reader child: exit 0 when every query it made was consistent and it
 * saw the store grow while it read; a distinct code per failure otherwise. */
static int reader_child(const char *dir, uint64_t total)
{
    struct store *st;
    if (store_open(&st, dir, STORE_READONLY, NULL, NULL, 0))
        return 10;
    uint64_t prev = 0, distinct = 0, verifies = 0;
    int64_t deadline = mono_ms() + 60000;
    for (unsigned it = 0; mono_ms() < deadline; it++) {
        struct store_stats s;
        if (store_stats(st, &s))
            return 11;
        if (s.alerts < prev)
            return 12;   /* snapshots never go back */
        if (s.alerts != prev)
            distinct++;
        prev = s.alerts;
        struct store_alert_query q = {0};
        q.limit = 16;
        struct newest c = {0};
        int n = store_list_alerts(st, &q, check_desc, &c, NULL);
        if (n < 0 || c.bad || (s.alerts >= 16 && n != 16))
            return 13;
        struct vigil_alert a;
        if (s.next_alert_id > 1 && store_get_alert(st, s.next_alert_id - 1, &a) != 0)
            return 14;
        if (it % 64 == 0) {
            struct store_verify_result r;
            if (store_verify(st, NULL, &r) || !r.ok)
                return 15;
            verifies++;
        }
        if (s.alerts >= total)
            break;
    }
    store_close(st);
    if (prev < total)
        return 16;   /* timed out */
    return distinct >= 3 && verifies >= 1 ? 0 : 17;
}

Test(store_procs, reader_process_while_writer_writes)
{
    const char *dir = test_tmpdir("procs");
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.map_size = 1 << 20;          /* grows under the reader: it must adopt the new size */
    cfg.max_map_size = 256 << 20;
    cfg.durability = STORE_NOSYNC;
    cfg.batch_max = 500;
    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, &cfg, err, sizeof err), 0, "%s", err);
    struct vigil_alert a;
    for (unsigned i = 0; i < 100; i++) {
        mk_alert(&a, i);
        cr_assert_eq(store_stage_alert(st, &a), 0);
    }
    cr_assert_eq(store_flush(st), 0);
    const unsigned total = 60000;
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0)
        _exit(reader_child(dir, total));
    for (unsigned i = 100; i < total; i++) {
        mk_alert(&a, i);
        int rc = store_stage_alert(st, &a);
        cr_assert_eq(rc, 0, "stage %u: %s", i, store_last_error(st));
        if (i % 5000 == 0)
            sleep_ms(20);   /* let the reader see a few distinct states */
    }
    cr_assert_eq(store_flush(st), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "reader died by a signal");
    cr_assert_eq(WEXITSTATUS(status), 0, "reader failed with code %d", WEXITSTATUS(status));
    cr_assert_gt(store_counters(st)->map_grows, 0, "the map grew while the reader read");
    store_close(st);
}

/* The writer child: stages forever; after every commit reports the highest
 * committed alert id on fd.  Never returns. */
static void writer_child(const char *dir, enum store_durability d, int fd)
{
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.durability = d;
    cfg.batch_max = 200;
    cfg.map_size = 64 << 20;
    cfg.max_map_size = 512 << 20;
    struct store *st;
    if (store_open(&st, dir, STORE_WRITER, &cfg, NULL, 0))
        _exit(20);
    uint64_t reported = store_committed_alert_id(st);
    for (unsigned i = 0;; i++) {
        struct vigil_alert a;
        mk_alert(&a, i);
        if (store_stage_alert(st, &a))
            _exit(21);
        uint64_t c = store_committed_alert_id(st);
        if (c != reported) {
            if (write(fd, &c, sizeof c) != sizeof c)
                _exit(22);
            reported = c;
        }
    }
}

static void kill_round(const char *dir, enum store_durability d, unsigned round)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        close(p[0]);
        writer_child(dir, d, p[1]);
    }
    close(p[1]);
    uint64_t last = 0, v;
    unsigned reports = 0;
    while (reports < 20 + round * 7 && read(p[0], &v, sizeof v) == sizeof v) {
        last = v;
        reports++;
    }
    cr_assert_geq(reports, 20, "the writer reported commits");
    sleep_ms(3 + round * 5);   /* somewhere inside a later commit */
    cr_assert_eq(kill(pid, SIGKILL), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writer was killed, not exited (%d)", status);
    while (read(p[0], &v, sizeof v) == sizeof v)   /* reports written before the kill */
        last = v;
    close(p[0]);

    struct store *st;
    char err[256];
    cr_assert_eq(store_open(&st, dir, STORE_WRITER, NULL, err, sizeof err), 0, "reopen after kill: %s", err);
    struct store_verify_result r;
    cr_assert_eq(store_verify(st, NULL, &r), 0);
    cr_assert(r.ok, "verify after kill -9: %llu issues", (unsigned long long)r.issues_total);
    struct store_stats s;
    cr_assert_eq(store_stats(st, &s), 0);
    cr_assert_geq(s.alerts, last, "round %u: %llu alerts stored, %llu reported committed", round,
                  (unsigned long long)s.alerts, (unsigned long long)last);
    struct vigil_alert a;
    for (uint64_t id = 1; id <= last; id++)
        cr_assert_eq(store_get_alert(st, id, &a), 0, "reported alert %llu is missing", (unsigned long long)id);
    cr_log_info("round %u (%s): %u reports, last reported %llu, stored %llu", round, store_durability_name(d),
                reports, (unsigned long long)last, (unsigned long long)s.alerts);
    cr_assert_eq(store_close(st), 0);
}

Test(store_procs, kill9_writer_then_reopen)
{
    const char *dir = test_tmpdir("procs");
    kill_round(dir, STORE_SYNC, 0);
    kill_round(dir, STORE_NOMETASYNC, 1);
    kill_round(dir, STORE_NOSYNC, 2);
    kill_round(dir, STORE_SYNC, 3);
}
