/* Store write throughput: alerts per second through staging and group
 * commit, per durability mode and batch size, and bytes per alert on disk.
 *
 *   bench_store [--alerts N] [--rounds R] [--batches 256,1024,4096]
 *               [--modes sync,nometasync,nosync] [--entities] [--tmp DIR]
 *
 * Each round writes N alerts into a fresh store in a temp directory under
 * --tmp (default /tmp), timing from the first staging to the return of the
 * last commit, and deletes the store.  Alerts are realistic in size: a
 * title, a user, a ~90-byte excerpt, 4096 distinct source addresses, 64
 * rules.  --entities also stages an entity update per alert (coalesced per
 * batch, as vigil-cp would).  Prints the median and spread of the rounds,
 * then the bytes per alert (pages in use / alerts, and data file size /
 * alerts) and the time store_verify takes on the last store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage/store.h"
#include "bench/bench_common.h"

/* A store directory holds LMDB's two files and the writer lock. */
static void rm_store(const char *dir)
{
    char p[600];
    snprintf(p, sizeof p, "%s/writer.lock", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

static void mk_alert(struct vigil_alert *a, unsigned i, int64_t t0)
{
    memset(a, 0, offsetof(struct vigil_alert, title));
    a->kind = ALERT_DETECTION;
    a->level = (uint8_t)(i % 5);
    a->rule_uuid[0] = 0x5a;
    a->rule_uuid[15] = (uint8_t)(i % 64);
    a->event_ns = a->received_ns = a->first_seen_ns = a->last_seen_ns = t0 + (int64_t)i * 1000;
    a->count = 1;
    a->tactics = 1u << TACTIC_CREDENTIAL_ACCESS;
    a->n_techniques = 1;
    a->techniques[0] = 1110001;
    a->entity.family = 4;
    a->entity.addr[0] = 10;
    a->entity.addr[2] = (uint8_t)(i / 256 % 16);
    a->entity.addr[3] = (uint8_t)i;
    a->source_ip = a->entity;
    a->destination_ip.family = 4;
    a->destination_ip.addr[0] = 192, a->destination_ip.addr[1] = 168, a->destination_ip.addr[3] = 10;
    a->observer_ip = a->destination_ip;
    a->source_port = (uint16_t)(1024 + i % 60000);
    a->destination_port = 22;
    char t[128];
    int n = snprintf(t, sizeof t, "Failed password for invalid user admin from 10.0.%u.%u port %u ssh2",
                     i / 256 % 16, i % 256, 1024 + i % 60000);
    a->excerpt_len = record_copy_str(a->excerpt, sizeof a->excerpt, t, (size_t)n);
    a->title_len = record_copy_str(a->title, sizeof a->title, "SSH brute force: repeated failed logins", 39);
    a->user_len = record_copy_str(a->user, sizeof a->user, "admin", 5);
    a->group_key_len = 0;
    a->n_contrib = 0;
}

struct result {
    double rate;
    double used_per_alert, file_per_alert, verify_s;
};

static int one_round(const char *tmp, enum store_durability d, unsigned batch, unsigned n, bool entities,
                     struct result *res)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/vigil-bench-store-XXXXXX", tmp);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
        return -1;
    }
    struct store_config cfg;
    store_config_default(&cfg);
    cfg.durability = d;
    cfg.batch_max = batch;
    cfg.batch_delay_ms = 1000000;   /* count-triggered commits only */
    cfg.map_size = cfg.max_map_size = 4ull << 30;
    struct store *st;
    char err[256];
    if (store_open(&st, dir, STORE_WRITER, &cfg, err, sizeof err)) {
        fprintf(stderr, "store_open: %s\n", err);
        return -1;
    }
    struct vigil_alert a;
    struct vigil_entity e;
    memset(&e, 0, sizeof e);
    int64_t t0 = 1800000000LL * 1000000000LL;
    double start = bench_now_s();
    for (unsigned i = 0; i < n; i++) {
        mk_alert(&a, i, t0);
        if (store_stage_alert(st, &a)) {
            fprintf(stderr, "stage: %s\n", store_last_error(st));
            return -1;
        }
        if (entities) {
            e.ip = a.entity;
            e.first_seen_ns = t0;
            e.last_seen_ns = a.received_ns;
            e.alert_count = i / 4096 + 1;
            if (store_stage_entity(st, &e)) {
                fprintf(stderr, "stage entity: %s\n", store_last_error(st));
                return -1;
            }
        }
    }
    if (store_flush(st)) {
        fprintf(stderr, "flush: %s\n", store_last_error(st));
        return -1;
    }
    double dt = bench_now_s() - start;
    res->rate = n / dt;
    struct store_stats s;
    store_stats(st, &s);
    res->used_per_alert = (double)s.used_pages * (double)s.page_size / n;
    char data[600];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    struct stat sb;
    res->file_per_alert = stat(data, &sb) == 0 ? (double)sb.st_size / n : 0;
    struct store_verify_result vr;
    double v0 = bench_now_s();
    if (store_verify(st, NULL, &vr) || !vr.ok) {
        fprintf(stderr, "verify failed\n");
        return -1;
    }
    res->verify_s = bench_now_s() - v0;
    store_close(st);
    rm_store(dir);
    return 0;
}

static unsigned split_list(const char *s, char out[8][32])
{
    unsigned n = 0;
    while (*s && n < 8) {
        size_t l = strcspn(s, ",");
        snprintf(out[n++], 32, "%.*s", (int)l, s);
        s += l;
        if (*s == ',')
            s++;
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned n = 200000, rounds = 5;
    const char *batches = "256,1024,4096", *modes = "sync,nometasync,nosync", *tmp = "/tmp";
    bool entities = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--alerts") && i + 1 < argc)
            n = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batches") && i + 1 < argc)
            batches = argv[++i];
        else if (!strcmp(argv[i], "--modes") && i + 1 < argc)
            modes = argv[++i];
        else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
            tmp = argv[++i];
        else if (!strcmp(argv[i], "--entities"))
            entities = true;
        else {
            fprintf(stderr, "usage: %s [--alerts N] [--rounds R] [--batches 256,1024,4096] "
                            "[--modes sync,nometasync,nosync] [--entities] [--tmp DIR]\n", argv[0]);
            return 2;
        }
    }
    if (!n || !rounds || rounds > 64)
        return 2;
    char bl[8][32], ml[8][32];
    unsigned nb = split_list(batches, bl), nm = split_list(modes, ml);
    printf("command:");
    for (int i = 0; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n%u alerts per round, %u rounds, median [min..max]%s; store in %s\n\n", n, rounds,
           entities ? ", one entity update per alert" : "", tmp);
    printf("%-11s %6s %14s %22s %12s %12s %10s\n", "durability", "batch", "alerts/s", "spread", "B/alert used",
           "B/alert file", "verify");
    for (unsigned m = 0; m < nm; m++) {
        enum store_durability d;
        if (store_durability_parse(ml[m], &d)) {
            fprintf(stderr, "unknown mode %s\n", ml[m]);
            return 2;
        }
        for (unsigned b = 0; b < nb; b++) {
            unsigned batch = (unsigned)strtoul(bl[b], NULL, 10);
            double rates[64];
            struct result r = {0};
            for (unsigned k = 0; k < rounds; k++) {
                if (one_round(tmp, d, batch, n, entities, &r))
                    return 1;
                rates[k] = r.rate;
            }
            qsort(rates, rounds, sizeof rates[0], bench_cmp_double);
            char spread[64];
            snprintf(spread, sizeof spread, "[%.0fk..%.0fk]", rates[0] / 1e3, rates[rounds - 1] / 1e3);
            printf("%-11s %6u %12.0fk/s %22s %12.0f %12.0f %8.2fs\n", ml[m], batch, rates[rounds / 2] / 1e3, spread,
                   r.used_per_alert, r.file_per_alert, r.verify_s);
            fflush(stdout);
        }
    }
    return 0;
}
