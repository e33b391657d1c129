/* Ruleset reload under traffic: vigil-dp replays a capture in a loop while it
 * is sent SIGHUP again and again.  Every event must be checked by exactly one
 * ruleset: with one rule that fires on every other line, the signals must be
 * exactly half the events, and nothing may be lost or counted twice. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "dataplane/stats.h"
#include "test_support.h"

static json_t *jget(json_t *o, const char *path)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *t = strtok(tmp, "."); t && o; t = strtok(NULL, "."))
        o = json_object_get(o, t);
    return o;
}

static void show(const char *path)
{
    char *s = read_whole_file(path, NULL);
    if (s)
        cr_log_error("%s:\n%.4000s", path, s);
    free(s);
}

Test(reload, sighup_under_traffic_loses_and_doubles_nothing, .timeout = 180)
{
    test_tmpdir("reload");
    mkdir(tmp_path("rules"), 0755);

    /* One line the rule fires on, one it does not, replayed alternately. */
    write_text(tmp_path("lines.log"),
               "<38>Mar 27 14:54:57 host1 sshd[2967]: Failed password for root from 203.0.113.5 port 40022 ssh2\n"
               "<38>Mar 27 14:54:58 host1 sshd[2968]: Accepted publickey for bob from 198.51.100.4 port 40023 ssh2\n");
    write_text(tmp_path("rules/failed.yml"),
               "title: Test failed password\n"
               "id: 0b5c3a8e-1c55-4a37-9b59-2f3f1f7f0a01\n"
               "author: Vigil tests\n"
               "level: medium\n"
               "logsource: {product: linux, service: sshd}\n"
               "detection:\n"
               "  selection:\n"
               "    event.outcome: failure\n"
               "    source.ip|cidr: 203.0.113.0/24\n"
               "  condition: selection\n");
    char *gen[] = {strdup(build_path("vigil-pcapgen")), "-o", (char *)tmp_path("loop.pcap"), (char *)tmp_path("lines.log"),
                   NULL};
    pid_t g = spawn_cmd(gen, tmp_path("gen.out"), tmp_path("gen.err"));
    cr_assert_eq(wait_cmd(g), 0);
    free(gen[0]);

    FILE *f = fopen(tmp_path("vigil.yaml"), "w");
    fprintf(f,
            "eal: {args: [--no-huge, -m, \"512\", --no-shconf, --no-telemetry, --log-level=lib.eal:error,"
            " --log-level=user1:warning]}\n"
            "ports: [{name: loop, device: \"net_pcap0,rx_pcap=%s,infinite_rx=1\"}]\n"
            "workers: [{lcore: 1, rx: [{port: loop}]}]\n"
            "mbufs: {pool_size: 4095}\n"
            "syslog: {ports: [514]}\n"
            "stats: {path: %s, rules_path: %s}\n"
            "signals: {dir: %s}\n"
            "engine:\n"
            "  parsers: %s/configs/parsers\n"
            "  rules: %s\n"
            "  compiled: %s\n",
            tmp_path("loop.pcap"), tmp_path("stats"), tmp_path("rules.json"), tmp_path("."), VIGIL_SOURCE_DIR, tmp_path("rules"),
            tmp_path("compiled.rules"));
    fclose(f);

    char *argv[] = {strdup(build_path("vigil-dp")), "-c", (char *)tmp_path("vigil.yaml"), "--stats-json", NULL};
    pid_t dp = spawn_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"));
    /* Wait until it replays, then reload, each time waiting (through the
     * stats block, as an operator's tool would) until the swap is published. */
    struct stats_block sb = {.fd = -1};
    for (int i = 0; i < 300 && (stats_open_readonly(&sb, tmp_path("stats")) || !sb.hdr->running); i++) {
        if (sb.hdr)
            stats_close(&sb);
        sleep_ms(50);
    }
    cr_assert(sb.hdr && sb.hdr->running, "vigil-dp did not start");
    const int reloads = 6;
    for (int i = 0; i < reloads; i++) {
        uint64_t before = __atomic_load_n(&sb.hdr->ruleset_swaps, __ATOMIC_ACQUIRE);
        kill(dp, SIGHUP);
        for (int t = 0; t < 400 && __atomic_load_n(&sb.hdr->ruleset_swaps, __ATOMIC_ACQUIRE) == before; t++)
            sleep_ms(25);
        cr_assert_eq(sb.hdr->ruleset_swaps, before + 1, "reload %d was not published within 10 s", i + 1);
        sleep_ms(100);  /* traffic on the new ruleset before the next swap */
    }
    stats_close(&sb);
    kill(dp, SIGTERM);
    int rc = wait_cmd(dp);
    free(argv[0]);
    if (rc)
        show(tmp_path("dp.err"));
    cr_assert_eq(rc, 0);

    size_t len;
    char *out = read_whole_file(tmp_path("dp.out"), &len);
    json_error_t e;
    json_t *j = json_loadb(out, len, 0, &e);
    if (!j)
        show(tmp_path("dp.err"));
    cr_assert_not_null(j, "%s", e.text);
    json_int_t swaps = json_integer_value(jget(j, "ruleset.swaps"));
    cr_assert_eq(swaps, reloads);
    cr_assert_eq(json_integer_value(jget(j, "ruleset.reload_failed")), 0);

    json_int_t events = json_integer_value(jget(j, "totals.syslog_events"));
    json_int_t parsed = json_integer_value(jget(j, "totals.events_parsed"));
    json_int_t unparsed = json_integer_value(jget(j, "totals.events_unparsed"));
    json_int_t signals = json_integer_value(jget(j, "totals.signals"));
    cr_assert_gt(events, 100000, "replay too short: %lld events", (long long)events);
    cr_assert_eq(parsed + unparsed, events, "every event went through exactly one ruleset");
    cr_assert_eq(parsed, events, "both lines are sshd lines the shipped pack parses");
    cr_assert(signals == events / 2 || signals == (events + 1) / 2,
              "%lld signals for %lld events: each attack line must fire exactly once", (long long)signals,
              (long long)events);
    json_int_t rx = json_integer_value(jget(j, "totals.rx_packets"));
    cr_assert_eq(rx, json_integer_value(jget(j, "totals.udp_datagrams")));
    cr_assert_eq(rx, events);
    json_decref(j);
    free(out);

    /* The per-rule counters file describes the last ruleset only; it exists and names the rule. */
    char *rules = read_whole_file(tmp_path("rules.json"), &len);
    cr_assert_not_null(rules);
    j = json_loadb(rules, len, 0, &e);
    cr_assert_not_null(j, "%s", e.text);
    cr_assert(json_is_object(jget(j, "fired")));
    json_decref(j);
    free(rules);

    /* Reloads after the first were served from the compiled file. */
    char *err = read_whole_file(tmp_path("dp.err"), NULL);
    cr_assert(strstr(err, "(reload 2: 0 databases compiled"), "%s", err);
    free(err);
}
