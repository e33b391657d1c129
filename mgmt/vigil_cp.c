/* vigil-cp: the control plane.
 *
 *   vigil-cp [-c vigil.yaml] [--check-config] [--exit-when-idle MS]
 *
 * Drains the dataplane workers' signal rings (shared-memory rte_rings; no
 * EAL), turns signals into alerts (folding duplicates), feeds them to the
 * correlation engine, builds incidents per entity, writes alerts, incidents
 * and entities to the LMDB store (the only writer) and hands alerts to the
 * outputs.  The loop, from the top:
 *
 *   drain rings -> signal_to_alert -> fold, correlate -> (window closes)
 *   -> emit: incident, store, outputs -> group commit -> status file
 *
 * Signals below alerts.min_level are correlated but not stored.  Nothing in
 * the loop blocks on an output or on vigil-dp: a missing ring is retried
 * every second, a slow output counts its own drops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/config.h"
#include "dataplane/signal_ring.h"
#include "engine/detect.h"
#include "engine/flow_rules.h"
#include "engine/ruleset.h"
#include "engine/signal.h"
#include "mgmt/alert_fold.h"
#include "mgmt/alert_json.h"
#include "mgmt/cp_config.h"
#include "mgmt/control.h"
#include "mgmt/cp_engine.h"
#include "storage/store.h"

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t reopen_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_hup(int sig)
{
    (void)sig;
    reopen_requested = 1;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct ring_slot {
    char path[PATH_MAX + 32];
    struct signal_ring *ring;
    int64_t next_try_ns;
    uint64_t signals;
};

static void on_command(void *ctx, const char *request, char *reply, size_t cap)
{
    cp_engine_command(ctx, request, reply, cap);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vigil-cp [-c vigil.yaml] [--check-config] [--exit-when-idle MS]\n");
}

int main(int argc, char **argv)
{
    const char *config_path = "/etc/vigil/vigil.yaml";
    bool check_only = false;
    long idle_exit_ms = 0;
    static const struct option lo[] = {{"config", 1, NULL, 'c'},         {"check-config", 0, NULL, 'k'},
                                       {"exit-when-idle", 1, NULL, 'i'}, {"help", 0, NULL, 'h'},
                                       {0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'c': config_path = optarg; break;
        case 'k': check_only = true; break;
        case 'i':
            idle_exit_ms = strtol(optarg, NULL, 10);
            if (idle_exit_ms <= 0) {
                fprintf(stderr, "vigil-cp: --exit-when-idle wants a positive number of ms, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vigil-cp: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }

    /* Signals first: a SIGTERM during the ruleset load still stops cleanly. */
    struct sigaction sa = {.sa_handler = on_stop};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct sigaction sh = {.sa_handler = on_hup};
    sigaction(SIGHUP, &sh, NULL);
    signal(SIGPIPE, SIG_IGN);

    char err[1024];
    static struct vigil_config dp;
    if (config_load(config_path, &dp, err, sizeof err)) {
        fprintf(stderr, "vigil-cp: %s\n", err);
        return 1;
    }
    static struct cp_config cfg;
    if (cp_config_load(config_path, dp.dir, &cfg, err, sizeof err)) {
        fprintf(stderr, "vigil-cp: %s\n", err);
        config_free(&dp);
        return 1;
    }
    if (!dp.engine_enabled && !dp.flow_rules_dir[0]) {
        fprintf(stderr, "vigil-cp: %s has neither an engine section nor netflow.rules: there are no rules to make "
                "alerts from\n", config_path);
        config_free(&dp);
        return 1;
    }

    struct diag d;
    diag_init(&d);
    struct ruleset *rs = NULL;
    if (dp.engine_enabled && ruleset_load(&dp.engine, &rs, &d)) {
        diag_print(&d, stderr);
        fprintf(stderr, "vigil-cp: no usable ruleset (engine section of %s)\n", config_path);
        diag_free(&d);
        config_free(&dp);
        return 1;
    }
    diag_free(&d);
    diag_init(&d);
    /* the flow rules too: flow signals name them, correlations refer to them */
    struct flow_ruleset *frs = NULL;
    if (dp.flow_rules_dir[0]) {
        const char *names[CFG_MAX_REP_LISTS], *path = dp.flow_rules_dir;
        for (unsigned i = 0; i < dp.n_rep; i++)
            names[i] = dp.rep[i].name;
        if (flow_rules_load(&path, 1, names, dp.n_rep, NULL, &frs, &d))
            frs = NULL;
    }
    struct cp_engine *eng = NULL;
    int erc = cp_engine_new(&cfg, rs, frs, &eng, &d, err, sizeof err);
    diag_print(&d, stderr);
    diag_free(&d);
    if (erc) {
        fprintf(stderr, "vigil-cp: %s\n", err);
        flow_rules_free(frs);
        ruleset_free(rs);
        config_free(&dp);
        return 1;
    }
    fprintf(stderr, "vigil-cp: ruleset %016" PRIx64 ": %u detection rules, %u flow rules, %u correlation rules\n",
            rs ? rs->hash : 0, rs && rs->rules ? detect_rule_count(rs->rules) : 0, frs ? flow_rules_count(frs) : 0,
            cp_engine_correlation_rules(eng));
    if (check_only) {
        printf("vigil-cp: %s: configuration OK\n", config_path);
        cp_engine_free(eng);
        flow_rules_free(frs);
        ruleset_free(rs);
        config_free(&dp);
        return 0;
    }

    int rc = 1;
    struct store *st = NULL;
    struct control_server *ctl = NULL;
    unsigned n_rings = dp.n_workers;
    static struct ring_slot rings[CFG_MAX_WORKERS];
    if (store_open(&st, cfg.store_path, STORE_WRITER, &cfg.store, err, sizeof err)) {
        fprintf(stderr, "vigil-cp: store %s: %s (control_plane.store.path)\n", cfg.store_path, err);
        goto out;
    }
    if (cp_engine_attach_store(eng, st, rs ? rs->hash : (frs ? flow_rules_hash(frs) : 0), realtime_ns(), err,
                               sizeof err)) {
        fprintf(stderr, "vigil-cp: %s\n", err);
        goto out;
    }
    if (cp_engine_start_outputs(eng, err, sizeof err)) {
        fprintf(stderr, "vigil-cp: %s\n", err);
        goto out;
    }
    if (cfg.socket_path[0] && !(ctl = control_open(cfg.socket_path, cfg.socket_group, err, sizeof err))) {
        fprintf(stderr, "vigil-cp: control_plane.socket: %s\n", err);
        goto out;
    }

    for (unsigned i = 0; i < n_rings; i++)
        if (signal_ring_path(dp.signals_dir, i, rings[i].path, sizeof rings[i].path)) {
            fprintf(stderr, "vigil-cp: signals.dir %s: path too long\n", dp.signals_dir);
            goto out;
        }
    fprintf(stderr, "vigil-cp: store %s; draining %u signal ring%s in %s\n", cfg.store_path, n_rings,
            n_rings == 1 ? "" : "s", dp.signals_dir);

    static struct vigil_signal batch[512];
    int64_t last_activity = mono_ns(), next_status = 0;
    bool seen_any = false;
    while (!stop_requested) {
        int64_t now_mono = mono_ns(), now = realtime_ns();
        unsigned got = 0;
        for (unsigned i = 0; i < n_rings; i++) {
            struct ring_slot *r = &rings[i];
            if (!r->ring) {
                if (now_mono < r->next_try_ns)
                    continue;
                int orc = signal_ring_open_consumer(r->path, &r->ring, err, sizeof err);
                if (orc < 0)
                    fprintf(stderr, "vigil-cp: %s\n", err);
                if (orc) {
                    r->next_try_ns = now_mono + 1000000000;
                    continue;
                }
                fprintf(stderr, "vigil-cp: attached to %s\n", r->path);
            }
            unsigned n = signal_ring_dequeue(r->ring, batch, sizeof batch / sizeof batch[0]);
            cp_engine_signals(eng, batch, n, now, now_mono);
            r->signals += n;
            got += n;
            /* a restarted vigil-dp with another ring size replaced the file */
            if (!n && signal_ring_replaced(r->ring)) {
                signal_ring_close(r->ring);
                r->ring = NULL;
                r->next_try_ns = 0;
            }
        }
        cp_engine_tick(eng, now, now_mono);
        if (ctl)
            control_poll(ctl, now_mono / 1000000, on_command, eng);
        if (reopen_requested) {
            reopen_requested = 0;
            cp_engine_reopen_outputs(eng);
        }
        if (now_mono >= next_status) {
            struct signal_ring_stats rst[CFG_MAX_WORKERS];
            bool attached[CFG_MAX_WORKERS];
            for (unsigned i = 0; i < n_rings; i++) {
                attached[i] = rings[i].ring != NULL;
                if (attached[i])
                    signal_ring_stats(rings[i].ring, &rst[i]);
            }
            cp_engine_write_status(eng, cfg.status_path, rst, attached, n_rings, now);
            next_status = now_mono + 1000000000;
        }
        if (got) {
            last_activity = now_mono;
            seen_any = true;
        } else {
            if (idle_exit_ms && seen_any && cp_engine_idle(eng) &&
                now_mono - last_activity > idle_exit_ms * 1000000)
                break;
            struct timespec nap = {0, 1000000}; /* 1 ms: vigil-cp is not a packet core */
            nanosleep(&nap, NULL);
        }
    }
    rc = 0;
out:
    control_close(ctl);
    /* what is still in the rings stays there for the next vigil-cp */
    for (unsigned i = 0; i < CFG_MAX_WORKERS; i++)
        signal_ring_close(rings[i].ring);
    if (eng && st) {
        cp_engine_shutdown(eng, realtime_ns());
        struct signal_ring_stats none[1];
        bool no[1] = {false};
        cp_engine_write_status(eng, cfg.status_path, none, no, 0, realtime_ns());
    }
    cp_engine_free(eng);
    if (st && store_close(st) < 0) {
        fprintf(stderr, "vigil-cp: store close: the last batch could not be committed\n");
        rc = 1;
    }
    flow_rules_free(frs);
    ruleset_free(rs);
    config_free(&dp);
    return rc;
}
