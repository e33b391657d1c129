/* vigil-dp: the dataplane.
 *
 * main() reads vigil.yaml, turns it into EAL arguments, brings up the mbuf
 * pool and the ports, launches worker_loop() on every worker lcore, and then
 * the main lcore keeps time: it copies port statistics into the shared stats
 * block, notices when a replayed capture is consumed (--exit-when-idle), and
 * on SIGINT/SIGTERM stops the workers and prints the final counters.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef VIGIL_NO_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "dataplane/config.h"
#include "dataplane/flowpath.h"
#include "dataplane/port.h"
#include "dataplane/senders.h"
#include "dataplane/signal_ring.h"
#include "dataplane/stats.h"
#include "dataplane/tap.h"
#include "dataplane/worker.h"
#include "engine/flow_rules.h"
#include "engine/nf_template_store.h"
#include "engine/ruleset.h"

#define DEFAULT_CONFIG "/etc/vigil/vigil.yaml"

static volatile int stop_requested;
static volatile int reload_requested;

static void on_signal(int sig)
{
    if (sig == SIGHUP)
        reload_requested = 1;
    else
        stop_requested = 1;
}

/* ---- rulesets ----------------------------------------------------------------
 * The workers read `current` once per burst.  A reload compiles a new ruleset
 * in a control thread (Hyperscan compiles take seconds and must not stall the
 * main lcore), the main lcore publishes it, waits until every worker has
 * passed a quiescent state (RCU), and only then frees the old one: no packet
 * waits, none is processed twice, none sees a half-built ruleset. */
static const struct ruleset *current;
static const struct flow_checks *current_flow; /* the same, for NetFlow records */

struct reload {
    pthread_t thread;
    int running;
    volatile int done;          /* set by the thread when result/diag are ready */
    struct ruleset *result;     /* NULL: the load failed */
    struct flow_checks *flow;   /* NULL: no flow checks configured, or their load failed (flow_failed) */
    int flow_failed;
    char flow_err[512];
    struct diag diag;
    const struct ruleset_config *cfg;
    const struct vigil_config *vcfg;
    unsigned n_workers;
    double took_ms;
};

static struct ruleset *load_ruleset(const struct ruleset_config *cfg, unsigned n_workers, struct diag *d)
{
    struct ruleset *rs;
    if (ruleset_load(cfg, &rs, d))
        return NULL;
    if (ruleset_attach_workers(rs, n_workers)) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory for %u workers' rule state", n_workers);
        ruleset_free(rs);
        return NULL;
    }
    return rs;
}

static void *reload_thread(void *arg)
{
    struct reload *r = arg;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->result = r->cfg ? load_ruleset(r->cfg, r->n_workers, &r->diag) : NULL;
    r->flow = NULL;
    r->flow_failed = 0;
    if (r->vcfg->flow_rules_dir[0] || r->vcfg->n_rep)
        r->flow_failed = flow_checks_load(r->vcfg, r->n_workers, (int)rte_socket_id(), &r->flow, &r->diag,
                                          r->flow_err, sizeof r->flow_err) != 0;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->took_ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void publish_ruleset(struct ruleset *rs, struct rte_rcu_qsbr *qs, struct stats_block *sb)
{
    const struct ruleset *old = current;
    __atomic_store_n(&current, rs, __ATOMIC_RELEASE);
    if (old) {
        uint64_t token = rte_rcu_qsbr_start(qs);
        rte_rcu_qsbr_check(qs, token, true);
        ruleset_free((struct ruleset *)old);
        sb->hdr->ruleset_swaps++;
    }
    sb->hdr->ruleset_hash = rs->hash;
}

/* The same for the flow checks. */
static void publish_flow(struct flow_checks *fc, struct rte_rcu_qsbr *qs)
{
    const struct flow_checks *old = current_flow;
    __atomic_store_n(&current_flow, fc, __ATOMIC_RELEASE);
    if (old) {
        uint64_t token = rte_rcu_qsbr_start(qs);
        rte_rcu_qsbr_check(qs, token, true);
        flow_checks_free((struct flow_checks *)old);
    }
}

/* Rewrites the per-parser and per-rule counters file (tmp + rename, so a
 * reader never sees half of it). */
static void write_rules_stats(const char *path)
{
    const struct ruleset *rs = current;
    if (!rs || !path[0])
        return;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    ruleset_print_counters_json(rs, f);
    if (fclose(f) == 0)
        rename(tmp, path);
    else
        unlink(tmp);
}

struct options {
    const char *config;
    const char *tap;
    int check_only;
    long idle_exit_ms;     /* 0 = run until signalled */
    int stats_json;
    int show_stats;        /* print the counters of a running (or finished) vigil-dp */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigil-dp [-c FILE] [--check-config] [--tap FILE] [--exit-when-idle[=MS]] [--stats-json]\n"
            "  -c, --config FILE       configuration (default " DEFAULT_CONFIG ")\n"
            "      --check-config      validate the configuration and exit (0 = valid)\n"
            "      --tap FILE          write every normalized event as a JSON line ('-' = stdout)\n"
            "      --exit-when-idle[=MS]  stop once every rx queue has been empty for MS ms\n"
            "                          (default 500): for replayed captures\n"
            "      --stats-json        print the final counters as JSON instead of text\n"
            "      --show-stats        print the counters of the vigil-dp using this config's\n"
            "                          stats.path (running or finished), then exit\n");
}

static int parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'k'},
        {"tap", required_argument, NULL, 't'},
        {"exit-when-idle", optional_argument, NULL, 'i'},
        {"stats-json", no_argument, NULL, 'j'},
        {"show-stats", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {0}};
    memset(o, 0, sizeof *o);
    o->config = DEFAULT_CONFIG;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c': o->config = optarg; break;
        case 'k': o->check_only = 1; break;
        case 't': o->tap = optarg; break;
        case 'j': o->stats_json = 1; break;
        case 's': o->show_stats = 1; break;
        case 'i': {
            o->idle_exit_ms = 500;
            if (optarg) {
                char *end;
                o->idle_exit_ms = strtol(optarg, &end, 10);
                if (*end || o->idle_exit_ms <= 0) {
                    fprintf(stderr, "vigil-dp: --exit-when-idle wants a positive number of ms, got '%s'\n",
                            optarg);
                    return -1;
                }
            }
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "vigil-dp: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

/* jemalloc replaces malloc only if the dynamic linker kept it (DPDK links with
 * --as-needed): prove it serves this thread's allocations. */
static int check_jemalloc(void)
{
#ifdef VIGIL_NO_JEMALLOC
    return 0;
#else
    const char *version;
    size_t sz = sizeof version;
    if (mallctl("version", &version, &sz, NULL, 0)) {
        fprintf(stderr, "vigil-dp: jemalloc is not linked in (mallctl failed)\n");
        return -1;
    }
    uint64_t before, after;
    sz = sizeof before;
    if (mallctl("thread.allocated", &before, &sz, NULL, 0) == 0) {
        void *volatile p = malloc(1 << 20);
        sz = sizeof after;
        mallctl("thread.allocated", &after, &sz, NULL, 0);
        free(p);
        if (after - before < (1 << 20)) {
            fprintf(stderr, "vigil-dp: jemalloc %s is linked but malloc() is not served by it\n",
                    version);
            return -1;
        }
    }
    return 0;
#endif
}

static int cpu_for(int cpu, unsigned lcore)
{
    if (cpu >= 0)
        return cpu;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)(n > 0 ? lcore % (unsigned long)n : 0);
}

/* EAL arguments: lcores from main_lcore and workers (so operators cannot get
 * them out of step), the operator's eal.args, and a -a or --vdev per port. */
static int build_eal_args(const struct vigil_config *cfg, char **argv, int max, char *lcores, size_t lcap)
{
    int argc = 0;
    int has_pci = 0, names_pci = 0;
    size_t o = (size_t)snprintf(lcores, lcap, "%u@%d", cfg->main_lcore, cpu_for(cfg->main_cpu, cfg->main_lcore));
    for (unsigned i = 0; i < cfg->n_workers && o < lcap; i++)
        o += (size_t)snprintf(lcores + o, lcap - o, ",%u@%d", cfg->workers[i].lcore,
                              cpu_for(cfg->workers[i].cpu, cfg->workers[i].lcore));
    static char main_lcore[16];
    snprintf(main_lcore, sizeof main_lcore, "%u", cfg->main_lcore);
    argv[argc++] = "vigil-dp";
    argv[argc++] = "--lcores";
    argv[argc++] = lcores;
    argv[argc++] = "--main-lcore";
    argv[argc++] = main_lcore;
    for (unsigned i = 0; i < cfg->n_eal_args && argc < max - 4; i++) {
        const char *a = cfg->eal_args[i];
        if (!strcmp(a, "--no-pci") || !strcmp(a, "-a") || !strcmp(a, "--allow") || !strcmp(a, "-b"))
            names_pci = 1;
        argv[argc++] = cfg->eal_args[i];
    }
    for (unsigned i = 0; i < cfg->n_ports && argc < max - 3; i++) {
        argv[argc++] = cfg->ports[i].is_vdev ? "--vdev" : "-a";
        argv[argc++] = (char *)cfg->ports[i].device;
        has_pci |= !cfg->ports[i].is_vdev;
    }
    /* Without PCI ports, keep the EAL from probing (and grabbing) the host's NICs. */
    if (!has_pci && !names_pci && argc < max - 1)
        argv[argc++] = "--no-pci";
    argv[argc] = NULL;
    return argc;
}

static void update_port_stats(const uint16_t *port_ids, unsigned n, struct stats_block *sb)
{
    for (unsigned i = 0; i < n; i++) {
        struct rte_eth_stats es;
        if (rte_eth_stats_get(port_ids[i], &es))
            continue;
        struct port_counters *pc = &sb->ports[i];
        pc->ipackets = es.ipackets;
        pc->ibytes = es.ibytes;
        pc->imissed = es.imissed;
        pc->ierrors = es.ierrors;
        pc->rx_nombuf = es.rx_nombuf;
    }
}

/* True once every worker has seen no packet for idle_ms (counted from launch). */
static int all_idle(const struct worker *w, unsigned n, uint64_t launch_tsc, long idle_ms)
{
    uint64_t now = rte_rdtsc(), limit = (uint64_t)idle_ms * (rte_get_tsc_hz() / 1000);
    for (unsigned i = 0; i < n; i++) {
        uint64_t last = __atomic_load_n(&w[i].c->last_rx_tsc, __ATOMIC_RELAXED);
        if (last < launch_tsc)
            last = launch_tsc;
        if (now - last < limit)
            return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    struct options opt;
    if (parse_options(argc, argv, &opt))
        return 2;
    /* First thing: a SIGHUP or SIGTERM during a slow start (rule compiles)
     * must be handled, not kill the process. */
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    /* A tap on a pipe that closes (vigil-dp --tap - | head) must not kill us. */
    signal(SIGPIPE, SIG_IGN);

    static struct vigil_config cfg;
    char err[512];
    if (config_load(opt.config, &cfg, err, sizeof err)) {
        fprintf(stderr, "vigil-dp: %s\n", err);
        return 1;
    }
    struct ruleset *initial = NULL;
    if (cfg.engine_enabled && !opt.show_stats) {
        struct diag d;
        diag_init(&d);
        initial = load_ruleset(&cfg.engine, cfg.n_workers, &d);
        diag_print(&d, stderr);
        int errors = (int)d.errors;
        diag_free(&d);
        if (!initial) {
            fprintf(stderr, "vigil-dp: no usable ruleset (engine section of %s)\n", opt.config);
            config_free(&cfg);
            return 1;
        }
        fprintf(stderr, "vigil-dp: ruleset %016llx: %u parsers, %u rules (%u databases compiled, %u reused)%s\n",
                (unsigned long long)initial->hash, initial->parsers ? parser_set_count(initial->parsers) : 0,
                initial->rules ? detect_rule_count(initial->rules) : 0, initial->compiled, initial->reused,
                errors ? "; the files with errors above were left out" : "");
        if (opt.check_only && errors) {
            ruleset_free(initial);
            config_free(&cfg);
            return 1;
        }
    }
    if (opt.check_only && cfg.flow_rules_dir[0]) {
        /* flow rules load without the EAL; reputation lists are built (LPM) at start */
        struct diag d;
        diag_init(&d);
        const char *names[CFG_MAX_REP_LISTS], *path = cfg.flow_rules_dir;
        for (unsigned i = 0; i < cfg.n_rep; i++)
            names[i] = cfg.rep[i].name;
        struct flow_ruleset *frs = NULL;
        int frc = flow_rules_load(&path, 1, names, cfg.n_rep, NULL, &frs, &d);
        diag_print(&d, stderr);
        int errors = (int)d.errors;
        diag_free(&d);
        if (!frc)
            fprintf(stderr, "vigil-dp: %u flow rules from %s\n", flow_rules_count(frs), path);
        flow_rules_free(frs);
        if (frc || errors) {
            ruleset_free(initial);
            config_free(&cfg);
            return 1;
        }
    }
    if (opt.check_only) {
        printf("%s: configuration is valid (%u port%s, %u worker%s, syslog on %u port%s, netflow on %u port%s%s)\n",
               opt.config, cfg.n_ports, cfg.n_ports == 1 ? "" : "s", cfg.n_workers, cfg.n_workers == 1 ? "" : "s",
               cfg.n_syslog_ports, cfg.n_syslog_ports == 1 ? "" : "s", cfg.n_netflow_ports,
               cfg.n_netflow_ports == 1 ? "" : "s", initial ? ", rules valid" : "");
        ruleset_free(initial);
        config_free(&cfg);
        return 0;
    }
    if (opt.show_stats) {
        struct stats_block ro;
        int e = stats_open_readonly(&ro, cfg.stats_path);
        if (e) {
            fprintf(stderr, "vigil-dp: %s: %s\n", cfg.stats_path,
                    e == -EPROTO ? "not a vigil-dp stats block of this version" : strerror(-e));
            config_free(&cfg);
            return 1;
        }
        if (opt.stats_json)
            stats_print_json(&ro, stdout);
        else
            stats_print_text(&ro, stdout);
        stats_close(&ro);
        config_free(&cfg);
        return 0;
    }
    if (check_jemalloc())
        return 1;

    char *eal_argv[CFG_MAX_EAL_ARGS + 2 * CFG_MAX_PORTS + 8];
    char lcores[1024];
    int eal_argc = build_eal_args(&cfg, eal_argv, (int)(sizeof eal_argv / sizeof eal_argv[0]), lcores,
                                  sizeof lcores);
    if (rte_eal_init(eal_argc, eal_argv) < 0) {
        fprintf(stderr, "vigil-dp: EAL initialisation failed: %s (EAL arguments come from eal.args in %s)\n",
                rte_strerror(rte_errno), opt.config);
        return 1;
    }

    int rc = 1;
    struct stats_block sb = {.fd = -1};
    struct rte_mempool *pool = NULL;
    struct senders *senders = NULL, *exporters = NULL;
    struct flow_checks *initial_flow = NULL;
    struct nf_template_store *nf_store = NULL;
    struct tap *tap = NULL;
    static struct worker workers[CFG_MAX_WORKERS];
    static uint16_t port_ids[CFG_MAX_PORTS];
    unsigned ports_up = 0;
    uint8_t *listen = NULL;
    struct rte_rcu_qsbr *qs = NULL;
    static struct reload reload;
    FILE *report = opt.tap && !strcmp(opt.tap, "-") ? stderr : stdout;

    int e = stats_create(&sb, cfg.stats_path, cfg.n_workers, cfg.n_ports);
    if (e) {
        fprintf(stderr, "vigil-dp: stats.path %s: %s\n", cfg.stats_path, strerror(-e));
        goto out;
    }
    sb.hdr->tsc_hz = rte_get_tsc_hz();
    for (unsigned i = 0; i < cfg.n_ports; i++)
        snprintf(sb.ports[i].name, sizeof sb.ports[i].name, "%s", cfg.ports[i].name);

    pool = rte_pktmbuf_pool_create("vigil_rx", cfg.mbuf_pool_size, cfg.mbuf_cache_size, 0,
                                   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
    if (!pool) {
        fprintf(stderr, "vigil-dp: cannot create a pool of %u mbufs: %s (lower mbufs.pool_size or give the "
                "EAL more memory with -m in eal.args)\n", cfg.mbuf_pool_size, rte_strerror(rte_errno));
        goto out;
    }
    for (unsigned i = 0; i < cfg.n_ports; i++) {
        bool rss, l4_hash;
        if (port_resolve(&cfg.ports[i], &port_ids[i])) {
            fprintf(stderr, "vigil-dp: port '%s': device '%s' was not found by the EAL\n", cfg.ports[i].name,
                    cfg.ports[i].device);
            goto out;
        }
        if (port_setup(&cfg.ports[i], port_ids[i], pool, &rss, &l4_hash, err, sizeof err)) {
            fprintf(stderr, "vigil-dp: %s\n", err);
            goto out;
        }
        ports_up = i + 1;
        fprintf(stderr, "vigil-dp: port '%s' up: %u rx queue%s%s\n", cfg.ports[i].name, cfg.ports[i].rx_queues,
                cfg.ports[i].rx_queues == 1 ? "" : "s", rss ? ", RSS on IP addresses" : "");
        if (rss && l4_hash)
            fprintf(stderr, "vigil-dp: note: port '%s' has a separate UDP hash type; RSS hashes IP addresses "
                    "only, so check that its queues all receive traffic\n", cfg.ports[i].name);
    }

    if (!(senders = senders_create(&cfg, (int)rte_socket_id(), err, sizeof err))) {
        fprintf(stderr, "vigil-dp: %s\n", err);
        goto out;
    }
    if (!(listen = calloc(65536, 1)))
        goto out;
    for (unsigned i = 0; i < cfg.n_syslog_ports; i++)
        listen[cfg.syslog_ports[i]] = LISTEN_SYSLOG;
    if (cfg.n_netflow_ports) {
        /* the exporter ACL is a sender table of its own (no time zones) */
        static struct vigil_config ecfg;
        ecfg = cfg;
        ecfg.allow_any_sender = cfg.allow_any_exporter;
        ecfg.allowed = cfg.exporters;
        ecfg.n_allowed = cfg.n_exporters;
        ecfg.sources = NULL;
        ecfg.n_sources = 0;
        if (!(exporters = senders_create(&ecfg, (int)rte_socket_id(), err, sizeof err))) {
            fprintf(stderr, "vigil-dp: netflow.allowed_exporters: %s\n", err);
            goto out;
        }
        for (unsigned i = 0; i < cfg.n_netflow_ports; i++)
            listen[cfg.netflow_ports[i]] = LISTEN_NETFLOW;
        if (cfg.flow_rules_dir[0] || cfg.n_rep) {
            struct diag d;
            diag_init(&d);
            int frc = flow_checks_load(&cfg, cfg.n_workers, (int)rte_socket_id(), &initial_flow, &d, err,
                                       sizeof err);
            diag_print(&d, stderr);
            diag_free(&d);
            if (frc) {
                fprintf(stderr, "vigil-dp: %s\n", err);
                goto out;
            }
            fprintf(stderr, "vigil-dp: netflow on %u port%s: %u flow rules, %u reputation list%s\n",
                    cfg.n_netflow_ports, cfg.n_netflow_ports == 1 ? "" : "s", flow_checks_rule_count(initial_flow),
                    cfg.n_rep, cfg.n_rep == 1 ? "" : "s");
        }
        /* room for every worker's largest export, twice (LMDB copies on write) */
        size_t map = (size_t)cfg.n_workers * FLOW_EXPORT_MAX * 2 + (64u << 20);
        if (cfg.nf_template_store[0] && nf_store_open(cfg.nf_template_store, map, &nf_store, err, sizeof err)) {
            fprintf(stderr, "vigil-dp: netflow.template_store: %s\n", err);
            goto out;
        }
    }
    if (opt.tap && !(tap = tap_open(opt.tap, cfg.n_workers, err, sizeof err))) {
        fprintf(stderr, "vigil-dp: %s\n", err);
        goto out;
    }

    if (initial || initial_flow) {
        qs = rte_zmalloc("vigil_rcu", rte_rcu_qsbr_get_memsize(cfg.n_workers), RTE_CACHE_LINE_SIZE);
        if (!qs || rte_rcu_qsbr_init(qs, cfg.n_workers)) {
            fprintf(stderr, "vigil-dp: cannot set up RCU for %u workers\n", cfg.n_workers);
            goto out;
        }
        if (initial)
            publish_ruleset(initial, qs, &sb);
        if (initial_flow)
            publish_flow(initial_flow, qs);
        initial = NULL;
        initial_flow = NULL;
    }
    static struct worker_env env;
    env = (struct worker_env){.listen = listen, .senders = senders, .syslog_max_message = cfg.syslog_max_message,
                              .tap = tap, .stop = &stop_requested, .burst = cfg.burst_size, .reasm = cfg.reasm,
                              .ruleset = qs ? &current : NULL, .qs = qs, .exporters = exporters,
                              .nf = cfg.n_netflow_ports ? &cfg.nf : NULL, .nf_persist = nf_store != NULL,
                              .flow = qs ? &current_flow : NULL};
    for (unsigned i = 0; i < cfg.n_workers; i++) {
        const struct cfg_worker *cw = &cfg.workers[i];
        struct worker *w = &workers[i];
        sb.hdr->worker_lcore[i] = cw->lcore;
        if (worker_init(w, i, cw->lcore, &env, &sb.workers[i])) {
            fprintf(stderr, "vigil-dp: worker %u: out of memory for reassembly (%u flows, %u fragment mbufs) or "
                    "the NetFlow template cache; lower reassembly.max_flows / max_fragments or netflow.max_templates, "
                    "or raise -m in eal.args\n", i, cfg.reasm.max_flows, cfg.reasm.max_fragments);
            goto out;
        }
        if (qs && cfg.signal_ring_size) {
            char path[PATH_MAX + 32];
            if (signal_ring_path(cfg.signals_dir, i, path, sizeof path) ||
                signal_ring_open_producer(path, cfg.signal_ring_size, i, &w->sigring, err, sizeof err)) {
                fprintf(stderr, "vigil-dp: signals: %s (signals.dir in %s)\n", err, opt.config);
                goto out;
            }
        }
        w->n_rx = cw->n_rx;
        for (unsigned r = 0; r < cw->n_rx; r++) {
            w->rx[r].port_id = port_ids[cw->rx[r].port];
            w->rx[r].queue = cw->rx[r].queue;
        }
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (nf_store) {
        /* templates saved by the last run: data decodes at once after a restart */
        int k = flow_templates_restore(nf_store, workers, cfg.n_workers,
                                       (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, err, sizeof err);
        if (k < 0)
            fprintf(stderr, "vigil-dp: netflow.template_store: %s (starting without saved templates)\n", err);
        else
            fprintf(stderr, "vigil-dp: %d NetFlow/IPFIX templates restored from %s\n", k, cfg.nf_template_store);
    }
    sb.hdr->started_unix_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    sb.hdr->running = 1;
    uint64_t launch_tsc = rte_rdtsc();
    int launch_failed = 0;
    for (unsigned i = 0; i < cfg.n_workers; i++) {
        int lrc = rte_eal_remote_launch(worker_loop, &workers[i], workers[i].lcore);
        if (lrc) {
            fprintf(stderr, "vigil-dp: cannot launch worker on lcore %u: %s\n", workers[i].lcore,
                    rte_strerror(-lrc));
            stop_requested = 1;
            launch_failed = 1;
            break;
        }
    }
    fprintf(stderr, "vigil-dp: %u worker%s running; stats in %s\n", cfg.n_workers,
            cfg.n_workers == 1 ? "" : "s", cfg.stats_path);

    unsigned ticks = 0;
    while (!stop_requested) {
        struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
        update_port_stats(port_ids, ports_up, &sb);
        if (++ticks % 20 == 0) {
            write_rules_stats(cfg.rules_stats_path);
            if (cfg.n_netflow_ports)
                flow_write_counters(cfg.netflow_stats_path, workers, cfg.n_workers, current_flow);
            if (nf_store && flow_templates_save(nf_store, workers, cfg.n_workers, false, err, sizeof err))
                fprintf(stderr, "vigil-dp: netflow.template_store: %s\n", err);
        }
        if (reload_requested && !reload.running) {
            reload_requested = 0;
            if (!qs) {
                fprintf(stderr, "vigil-dp: SIGHUP ignored: no engine section or flow checks in %s\n", opt.config);
            } else {
                diag_init(&reload.diag);
                reload.cfg = current ? &cfg.engine : NULL;
                reload.vcfg = &cfg;
                reload.n_workers = cfg.n_workers;
                reload.done = 0;
                reload.running = pthread_create(&reload.thread, NULL, reload_thread, &reload) == 0;
                if (!reload.running)
                    sb.hdr->ruleset_reload_failed++;
            }
        }
        if (reload.running && __atomic_load_n(&reload.done, __ATOMIC_ACQUIRE)) {
            pthread_join(reload.thread, NULL);
            reload.running = 0;
            diag_print(&reload.diag, stderr);
            diag_free(&reload.diag);
            if (reload.flow_failed) {
                fprintf(stderr, "vigil-dp: flow checks reload failed (%s); the previous ones stay active\n",
                        reload.flow_err);
            } else if (reload.flow) {
                flow_write_counters(cfg.netflow_stats_path, workers, cfg.n_workers, current_flow);
                publish_flow(reload.flow, qs);
                reload.flow = NULL;
                fprintf(stderr, "vigil-dp: %u flow rules now active\n", flow_checks_rule_count(current_flow));
            }
            if (!reload.cfg) {
                /* flow checks only */
            } else if (reload.result) {
                write_rules_stats(cfg.rules_stats_path); /* the old ruleset's last counters */
                publish_ruleset(reload.result, qs, &sb);
                fprintf(stderr, "vigil-dp: ruleset %016llx now active (reload %llu: %u databases compiled, %u "
                        "reused, loaded in %.0f ms)\n", (unsigned long long)current->hash,
                        (unsigned long long)sb.hdr->ruleset_swaps, current->compiled, current->reused, reload.took_ms);
            } else {
                sb.hdr->ruleset_reload_failed++;
                fprintf(stderr, "vigil-dp: reload failed; the previous ruleset stays active\n");
            }
        }
        if (opt.idle_exit_ms && !reload.running && all_idle(workers, cfg.n_workers, launch_tsc, opt.idle_exit_ms))
            stop_requested = 1;
    }
    rte_eal_mp_wait_lcore();
    for (unsigned i = 0; i < cfg.n_workers; i++)
        worker_drain(&workers[i]);
    update_port_stats(port_ids, ports_up, &sb);
    write_rules_stats(cfg.rules_stats_path);
    if (cfg.n_netflow_ports) {
        for (unsigned i = 0; i < cfg.n_workers; i++)
            if (workers[i].flow.dec) /* the workers stopped: their final counts */
                flow_worker_snapshot_exporters(&workers[i].flow);
        flow_write_counters(cfg.netflow_stats_path, workers, cfg.n_workers, current_flow);
    }
    if (nf_store && flow_templates_save(nf_store, workers, cfg.n_workers, true, err, sizeof err))
        fprintf(stderr, "vigil-dp: netflow.template_store: %s\n", err);
    rc = launch_failed;

out:
    if (sb.hdr) {
        sb.hdr->running = 0;
        if (sb.hdr->started_unix_ns) {
            if (opt.stats_json)
                stats_print_json(&sb, report);
            else
                stats_print_text(&sb, report);
        }
    }
    tap_close(tap);
    if (reload.running) {
        pthread_join(reload.thread, NULL);
        ruleset_free(reload.result);
        flow_checks_free(reload.flow);
        diag_free(&reload.diag);
    }
    ruleset_free((struct ruleset *)current);
    ruleset_free(initial);
    flow_checks_free((struct flow_checks *)current_flow);
    flow_checks_free(initial_flow);
    nf_store_close(nf_store);
    rte_free(qs);
    for (unsigned i = 0; i < cfg.n_workers; i++) {
        signal_ring_close(workers[i].sigring);
        workers[i].sigring = NULL;
        worker_fini(&workers[i]);
    }
    for (unsigned i = 0; i < ports_up; i++)
        port_shutdown(port_ids[i]);
    senders_destroy(senders);
    senders_destroy(exporters);
    free(listen);
    rte_mempool_free(pool);
    stats_close(&sb);
    config_free(&cfg);
    rte_eal_cleanup();
    return rc;
}
