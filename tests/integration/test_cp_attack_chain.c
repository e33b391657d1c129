/* The case Vigil exists for, end to end: the bundled capture (a port scan
 * from X, then directory traversal and SQL injection from X; an SSH brute
 * force from Y; benign traffic around them) through vigil-dp into vigil-cp,
 * then read back with vigilctl --json.  Plus what must survive: either
 * process started first or restarted, vigil-cp killed with SIGKILL during
 * heavy writes, and rings that fill up while vigil-cp is away.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "test_support.h"

#define X "203.0.113.66"
#define Y "198.51.100.23"

static void setup(void)
{
    test_tmpdir("chain");
}

/* A vigil.yaml in the test's directory: the shipped parsers, rules and
 * correlation rules, everything written under the test's directory. */
static void write_config(const char *pcap, bool loop, unsigned ring_size, unsigned batch_delay_ms)
{
    FILE *f = fopen(tmp_path("vigil.yaml"), "w");
    cr_assert_not_null(f);
    fprintf(f,
            "eal: {args: [--no-huge, -m, \"512\", --no-shconf, --no-telemetry, --log-level=lib.eal:error,"
            " --log-level=user1:warning]}\n"
            "ports: [{name: replay, device: \"net_pcap0,rx_pcap=%s%s\"}]\n"
            "workers: [{lcore: 1, rx: [{port: replay}]}]\n"
            "mbufs: {pool_size: 4095}\n"
            "syslog: {ports: [514, 1514], sources: [{cidr: 198.51.100.0/24, timezone: America/New_York}]}\n"
            "stats: {path: %s, rules_path: %s}\n"
            "engine:\n"
            "  parsers: %s/configs/parsers\n"
            "  rules: %s/configs/rules\n"
            "  fieldmap: %s/configs/fieldmap.yaml\n"
            "  compiled: %s\n"
            "netflow: {ports: [2055], rules: %s/configs/flow-rules, template_store: %s,\n"
            "          reputation: [{name: blocklist, path: %s/configs/reputation/blocklist.txt}]}\n"
            "signals: {dir: %s, ring_size: %u}\n"
            "control_plane:\n"
            "  store: {path: %s, map_size_mb: 64, batch_delay_ms: %u}\n"
            "  status_path: %s\n"
            "  socket: {path: %s}\n"
            "  correlation: {rules: %s/configs/correlation}\n"
            "  alerts: {fold_window_s: 1}\n"
            "  outputs: {jsonl: {path: %s, fsync: never}}\n",
            pcap, loop ? ",infinite_rx=1" : "", tmp_path("dp.stats"), tmp_path("rules.json"), VIGIL_SOURCE_DIR,
            VIGIL_SOURCE_DIR, VIGIL_SOURCE_DIR, tmp_path("compiled.rules"), VIGIL_SOURCE_DIR,
            tmp_path("nf-templates.lmdb"), VIGIL_SOURCE_DIR, tmp_path("."), ring_size,
            tmp_path("store"), batch_delay_ms, tmp_path("cp.status.json"), tmp_path("cp.sock"), VIGIL_SOURCE_DIR, tmp_path("alerts.jsonl"));
    fclose(f);
}

static const char *demo_pcap(void) { return source_path("configs/replay/demo.pcap"); }

static int run_dp(int kill_after_ms)
{
    char *argv[] = {strdup(build_path("vigil-dp")), "-c", strdup(tmp_path("vigil.yaml")), "--exit-when-idle=500",
                    NULL};
    int rc = run_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"), kill_after_ms);
    free(argv[0]);
    free(argv[2]);
    return rc;
}

static int spawn_cp(const char *idle_ms)
{
    char *argv[] = {strdup(build_path("vigil-cp")), "-c", strdup(tmp_path("vigil.yaml")), "--exit-when-idle",
                    (char *)idle_ms, NULL};
    char out[64], err[64];
    static int n;
    snprintf(out, sizeof out, "cp%d.out", n);
    snprintf(err, sizeof err, "cp%d.err", n++);
    int pid = spawn_cmd(argv, strdup(tmp_path(out)), strdup(tmp_path(err)));
    free(argv[0]);
    free(argv[2]);
    return pid;
}

/* vigilctl ARGS --json -c CONFIG: every output line parsed, in a JSON array. */
static json_t *ctl_json(const char *const *args, int n, int *rc_out)
{
    char *argv[16];
    int k = 0;
    argv[k++] = strdup(build_path("vigilctl"));
    for (int i = 0; i < n; i++)
        argv[k++] = (char *)args[i];
    argv[k++] = "--json";
    argv[k++] = "-c";
    argv[k++] = strdup(tmp_path("vigil.yaml"));
    argv[k] = NULL;
    int rc = run_cmd(argv, tmp_path("ctl.out"), tmp_path("ctl.err"), 0);
    free(argv[0]);
    free(argv[k - 1]);
    if (rc_out)
        *rc_out = rc;
    else
        cr_assert_eq(rc, 0, "vigilctl %s: %s", args[0], read_whole_file(tmp_path("ctl.err"), NULL));
    json_t *arr = json_array();
    char *text = read_whole_file(tmp_path("ctl.out"), NULL);
    cr_assert_not_null(text);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        cr_assert_not_null(o, "not JSON: %s (%s)", line, e.text);
        json_array_append_new(arr, o);
    }
    free(text);
    return arr;
}

static const char *jstr(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b)
        v = json_object_get(v, b);
    return json_string_value(v);
}

static bool has_tactic(json_t *alert, const char *tactic)
{
    json_t *names = json_object_get(json_object_get(json_object_get(alert, "threat"), "tactic"), "name");
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v) if (!strcmp(json_string_value(v), tactic)) return true;
    return false;
}

static void assert_verify_ok(void)
{
    int rc;
    json_t *v = ctl_json((const char *[]){"verify"}, 1, &rc);
    cr_assert_eq(rc, 0, "verify failed: %s", read_whole_file(tmp_path("ctl.out"), NULL));
    cr_assert(json_is_true(json_object_get(json_array_get(v, 0), "ok")));
    json_decref(v);
}

/* One incident for X (reconnaissance then initial access, critical), one for
 * Y (high), none for anybody else. */
static void assert_the_two_incidents(void)
{
    json_t *incs = ctl_json((const char *[]){"incidents"}, 1, NULL);
    cr_assert_eq(json_array_size(incs), 2, "incidents: %s", read_whole_file(tmp_path("ctl.out"), NULL));
    json_t *x = NULL, *y = NULL;
    size_t i;
    json_t *inc;
    json_array_foreach(incs, i, inc)
    {
        const char *ent = jstr(inc, "vigil", "entity");
        if (!strcmp(ent, X))
            x = inc;
        else if (!strcmp(ent, Y))
            y = inc;
    }
    cr_assert_not_null(x, "no incident for X");
    cr_assert_not_null(y, "no incident for Y");
    cr_assert_str_eq(jstr(x, "vigil", "severity"), "critical");
    cr_assert_str_eq(jstr(y, "vigil", "severity"), "high");

    /* X's chain as a timeline: reconnaissance first, initial access later */
    char id[32];
    snprintf(id, sizeof id, "%s", jstr(x, "event", "id"));
    json_t *show = ctl_json((const char *[]){"incidents", "show", id}, 3, NULL);
    cr_assert_gt(json_array_size(show), 3, "the incident and its alerts");
    int first_recon = -1, first_access = -1;
    bool traversal = false, sqli = false, scan = false, flow_probe = false;
    for (size_t k = 1; k < json_array_size(show); k++) {
        json_t *a = json_array_get(show, k);
        cr_assert_str_eq(jstr(a, "vigil", "entity"), X);
        if (first_recon < 0 && has_tactic(a, "reconnaissance"))
            first_recon = (int)k;
        if (first_access < 0 && has_tactic(a, "initial_access"))
            first_access = (int)k;
        const char *name = jstr(a, "rule", "name");
        traversal |= strstr(name, "Directory Traversal") != NULL;
        sqli |= strstr(name, "SQL Injection") != NULL;
        scan |= strstr(name, "Port Scan From One Source") != NULL;
        flow_probe |= strstr(name, "(Flow)") != NULL;
    }
    cr_assert(first_recon > 0 && first_access > first_recon, "recon (%d) before initial access (%d)", first_recon,
              first_access);
    cr_assert(traversal && sqli && scan, "traversal %d, sqli %d, port-scan correlation %d", traversal, sqli, scan);
    cr_assert(flow_probe, "the router's flows show the scan too");
    json_decref(show);
    json_decref(incs);
}

Test(attack_chain, replay_gives_one_critical_and_one_high_incident, .init = setup, .timeout = 180)
{
    write_config(demo_pcap(), false, 65536, 50);
    cr_assert_eq(run_dp(0), 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
    int cp = spawn_cp("1500");
    cr_assert_eq(wait_cmd(cp), 0, "%s", read_whole_file(tmp_path("cp0.err"), NULL));
    assert_the_two_incidents();
    assert_verify_ok();

    /* every stored alert was shipped: the JSON-lines output has them all */
    json_t *alerts = ctl_json((const char *[]){"alerts", "--limit", "1000"}, 3, NULL);
    char *lines = read_whole_file(tmp_path("alerts.jsonl"), NULL);
    cr_assert_not_null(lines);
    size_t n_lines = 0;
    for (char *p = lines; (p = strchr(p, '\n')); p++)
        n_lines++;
    cr_assert_eq(n_lines, json_array_size(alerts));
    cr_assert_gt(n_lines, 10);
    free(lines);
    json_decref(alerts);

    /* vigilctl entity and status read what vigil-cp and vigil-dp left */
    json_t *ent = ctl_json((const char *[]){"entity", X}, 2, NULL);
    cr_assert_str_eq(jstr(json_array_get(ent, 0), "ip", NULL), X);
    json_decref(ent);
    json_t *st = ctl_json((const char *[]){"status"}, 1, NULL);
    json_t *s0 = json_array_get(st, 0);
    cr_assert(json_integer_value(json_object_get(json_object_get(s0, "store"), "alerts")) > 10);
    /* the chain head status prints is an anchor verify accepts; a forged one fails */
    char head[128], forged[128];
    snprintf(head, sizeof head, "%s", jstr(json_object_get(s0, "store"), "chain_head", NULL));
    snprintf(forged, sizeof forged, "%s", head);
    char *colon = strchr(forged, ':');
    cr_assert_not_null(colon, "chain head %s", head);
    colon[1] = colon[1] == '0' ? '1' : '0';
    int rc;
    json_decref(ctl_json((const char *[]){"verify", "--anchor", head}, 3, &rc));
    cr_assert_eq(rc, 0, "the true head verifies");
    json_decref(ctl_json((const char *[]){"verify", "--anchor", forged}, 3, &rc));
    cr_assert_eq(rc, 1, "a different hash at that seq is a rewritten chain");
    json_t *ring = json_array_get(json_object_get(s0, "rings"), 0);
    cr_assert_eq(json_integer_value(json_object_get(ring, "used")), 0, "vigil-cp drained the ring");
    cr_assert_eq(json_integer_value(json_object_get(ring, "enqueued")),
                 json_integer_value(json_object_get(ring, "dequeued")));
    json_decref(st);
}

Test(attack_chain, control_plane_started_first_attaches_when_the_dataplane_comes, .init = setup, .timeout = 180)
{
    write_config(demo_pcap(), false, 65536, 50);
    int cp = spawn_cp("2500"); /* waits for rings that do not exist yet */
    sleep_ms(1500);
    cr_assert_eq(run_dp(0), 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
    cr_assert_eq(wait_cmd(cp), 0, "%s", read_whole_file(tmp_path("cp0.err"), NULL));
    assert_the_two_incidents();
    assert_verify_ok();
}

Test(attack_chain, a_restarted_control_plane_keeps_correlation_windows, .init = setup, .timeout = 180)
{
    /* First half of the capture (the port scan), vigil-cp stops; second half
     * (the web attack) with a new vigil-cp: the temporal_ordered correlation
     * still sees the scan, because its window was checkpointed. */
    char *all = read_whole_file(source_path("configs/replay/attack.log"), NULL);
    cr_assert_not_null(all);
    char *web = strstr(all, "web01");
    while (web > all && web[-1] != '\n')
        web--;
    FILE *a = fopen(tmp_path("scan.log"), "w"), *b = fopen(tmp_path("web.log"), "w");
    fwrite(all, 1, (size_t)(web - all), a);
    fputs(web, b);
    fclose(a);
    fclose(b);
    free(all);
    for (int half = 0; half < 2; half++) {
        char *gen[] = {strdup(build_path("vigil-pcapgen")), "-o", strdup(tmp_path(half ? "b.pcap" : "a.pcap")),
                       "--src", "192.0.2.1", strdup(tmp_path(half ? "web.log" : "scan.log")), NULL};
        cr_assert_eq(run_cmd(gen, tmp_path("gen.out"), tmp_path("gen.err"), 0), 0);
        write_config(tmp_path(half ? "b.pcap" : "a.pcap"), false, 65536, 50);
        cr_assert_eq(run_dp(0), 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
        int cp = spawn_cp("1500");
        cr_assert_eq(wait_cmd(cp), 0);
    }
    json_t *incs = ctl_json((const char *[]){"incidents", "--entity", X}, 3, NULL);
    cr_assert_eq(json_array_size(incs), 1);
    cr_assert_str_eq(jstr(json_array_get(incs, 0), "vigil", "severity"), "critical",
                     "the chain survived the restart");
    json_decref(incs);
    assert_verify_ok();
}

Test(attack_chain, kill_9_during_heavy_writes_loses_only_the_batch_in_flight, .init = setup, .timeout = 240)
{
    /* the capture replayed in a loop: a steady stream of signals */
    write_config(demo_pcap(), true, 65536, 20);
    char *dp_argv[] = {strdup(build_path("vigil-dp")), "-c", strdup(tmp_path("vigil.yaml")), NULL};
    int dp = spawn_cmd(dp_argv, tmp_path("dp.out"), tmp_path("dp.err"));
    int cp = spawn_cp("100000");
    /* wait until vigil-cp has committed alerts (a loaded machine may take a
     * while to compile the rules and fsync), then let it write a while more */
    json_t *first = NULL;
    for (int i = 0; i < 120 && (!first || !json_array_size(first)); i++) {
        json_decref(first);
        sleep_ms(250);
        int rc;
        first = ctl_json((const char *[]){"alerts", "--limit", "1"}, 3, &rc);
    }
    cr_assert_eq(json_array_size(first), 1, "vigil-cp committed nothing in 30 s");
    json_decref(first);
    sleep_ms(1000);
    cr_assert_eq(kill(cp, SIGKILL), 0);
    cr_assert_eq(wait_cmd(cp), -SIGKILL);
    assert_verify_ok(); /* the store opens and is intact right after the kill */
    json_t *before = ctl_json((const char *[]){"alerts", "--limit", "1"}, 3, NULL);
    cr_assert_eq(json_array_size(before), 1, "vigil-cp committed alerts before it was killed");
    long long last_before = atoll(jstr(json_array_get(before, 0), "event", "id"));
    json_decref(before);

    cp = spawn_cp("100000");
    sleep_ms(2500);
    kill(dp, SIGTERM);
    cr_assert_eq(wait_cmd(dp), 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
    sleep_ms(1500);
    kill(cp, SIGTERM);
    cr_assert_eq(wait_cmd(cp), 0, "%s", read_whole_file(tmp_path("cp1.err"), NULL));
    assert_verify_ok();
    /* every alert committed before the kill is still there, and the new
     * vigil-cp went on after it */
    char id[32];
    snprintf(id, sizeof id, "%lld", last_before);
    json_t *one = ctl_json((const char *[]){"alerts", "show", id}, 3, NULL);
    cr_assert_eq(json_array_size(one), 1);
    json_decref(one);
    json_t *after = ctl_json((const char *[]){"alerts", "--limit", "1"}, 3, NULL);
    cr_assert_gt(atoll(jstr(json_array_get(after, 0), "event", "id")), last_before);
    json_decref(after);
    /* ids were never handed out twice: every alert a correlation cites is
     * stored, about the same entity, and older than the correlation */
    json_t *all = ctl_json((const char *[]){"alerts", "--limit", "100000"}, 3, NULL);
    size_t i, k, checked = 0;
    json_t *a, *c;
    json_array_foreach(all, i, a)
    {
        if (strcmp(jstr(a, "rule", "category"), "correlation"))
            continue;
        json_array_foreach(json_object_get(json_object_get(a, "vigil"), "contributing_alerts"), k, c)
        {
            const char *cid = json_string_value(c);
            json_t *one = ctl_json((const char *[]){"alerts", "show", cid}, 3, NULL);
            cr_assert_eq(json_array_size(one), 1, "correlation %s cites alert %s, which is not stored",
                         jstr(a, "event", "id"), cid);
            json_t *ca = json_array_get(one, 0);
            cr_assert_str_eq(jstr(ca, "vigil", "entity"), jstr(a, "vigil", "entity"));
            cr_assert_lt(atoll(cid), atoll(jstr(a, "event", "id")));
            json_decref(one);
            if (++checked == 40)
                break;
        }
        if (checked >= 40)
            break;
    }
    cr_assert_gt(checked, 0, "the replay made correlations that cite alerts");
    json_decref(all);
    free(dp_argv[0]);
    free(dp_argv[2]);
}

Test(attack_chain, full_rings_are_counted_drops_and_the_dataplane_carries_on, .init = setup, .timeout = 180)
{
    /* no vigil-cp, and rings of 64 records: most signals cannot be queued */
    write_config(demo_pcap(), false, 64, 50);
    char *argv[] = {strdup(build_path("vigil-dp")), "-c", strdup(tmp_path("vigil.yaml")), "--exit-when-idle=500",
                    "--stats-json", NULL};
    cr_assert_eq(run_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"), 0), 0);
    json_error_t e;
    json_t *s = json_load_file(tmp_path("dp.out"), 0, &e);
    cr_assert_not_null(s, "%s", e.text);
    json_t *tot = json_object_get(s, "totals");
    /* log and flow signals share the ring */
    json_int_t signals = json_integer_value(json_object_get(tot, "signals")) +
                         json_integer_value(json_object_get(tot, "flow_signals"));
    json_int_t dropped = json_integer_value(json_object_get(tot, "signals_dropped_ring_full"));
    cr_assert_gt(signals, 63);
    cr_assert_eq(dropped, signals - 63, "63 fit (rte_ring keeps one slot free), the rest are counted");
    /* every frame of the capture was still decoded */
    cr_assert_gt(json_integer_value(json_object_get(tot, "syslog_events")), 500);
    json_decref(s);
    free(argv[0]);
    free(argv[2]);
}

static const char *incident_status(const char *entity)
{
    static char st[32];
    st[0] = '\0';
    int rc; /* the store may not exist yet */
    json_t *incs = ctl_json((const char *[]){"incidents", "--entity", entity}, 3, &rc);
    if (rc == 0 && json_array_size(incs))
        snprintf(st, sizeof st, "%s", jstr(json_array_get(incs, 0), "vigil", "status"));
    json_decref(incs);
    return st;
}

Test(attack_chain, an_operator_acknowledges_and_closes_incidents, .init = setup, .timeout = 180)
{
    write_config(demo_pcap(), false, 65536, 50);
    cr_assert_eq(run_dp(0), 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
    int cp = spawn_cp("100000");
    for (int i = 0; i < 120 && strcmp(incident_status(X), "open"); i++)
        sleep_ms(250);
    cr_assert_str_eq(incident_status(X), "open");
    json_t *incs = ctl_json((const char *[]){"incidents", "--entity", X}, 3, NULL);
    char id[32];
    snprintf(id, sizeof id, "%s", jstr(json_array_get(incs, 0), "event", "id"));
    json_decref(incs);

    int rc;
    json_decref(ctl_json((const char *[]){"incidents", "ack", id}, 3, &rc));
    cr_assert_eq(rc, 0, "%s", read_whole_file(tmp_path("ctl.err"), NULL));
    cr_assert_str_eq(incident_status(X), "acknowledged");
    json_decref(ctl_json((const char *[]){"incidents", "close", id}, 3, &rc));
    cr_assert_eq(rc, 0, "%s", read_whole_file(tmp_path("ctl.err"), NULL));
    cr_assert_str_eq(incident_status(X), "closed");
    json_decref(ctl_json((const char *[]){"incidents", "ack", id}, 3, &rc));
    cr_assert_eq(rc, 1, "a closed incident cannot be acknowledged");
    json_decref(ctl_json((const char *[]){"incidents", "close", "999999"}, 3, &rc));
    cr_assert_eq(rc, 1, "no such incident");
    cr_assert_str_eq(incident_status(Y), "open", "the other incident is untouched");

    kill(cp, SIGTERM);
    cr_assert_eq(wait_cmd(cp), 0, "%s", read_whole_file(tmp_path("cp0.err"), NULL));
    assert_verify_ok(); /* the status changes are chained versions like any other */
    /* without vigil-cp, a change is refused with a clear message */
    json_decref(ctl_json((const char *[]){"incidents", "ack", id}, 3, &rc));
    cr_assert_eq(rc, 1);
    char *err = read_whole_file(tmp_path("ctl.err"), NULL);
    cr_assert(strstr(err, "is vigil-cp running?"), "%s", err);
    free(err);
}
