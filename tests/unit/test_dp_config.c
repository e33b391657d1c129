/* vigil.yaml loading: the shipped file is valid, and each kind of mistake an
 * operator makes is reported with file, line and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "dataplane/config.h"
#include "test_support.h"

static char cfg_path[256];

static const char *write_tmp(const char *text)
{
    snprintf(cfg_path, sizeof cfg_path, "/tmp/vigil-cfg-test-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return cfg_path;
}

static const char *base =
    "eal:\n"
    "  args: [--no-huge]\n"
    "  main_lcore: 0\n"
    "ports:\n"
    "  - name: p0\n"
    "    device: net_null0\n"
    "    rx_queues: 2\n"
    "workers:\n"
    "  - lcore: 1\n"
    "    rx: [{port: p0, queue: 0}]\n"
    "  - lcore: 2\n"
    "    rx: [{port: p0, queue: 1}]\n"
    "syslog:\n"
    "  ports: [514]\n";

/* Loads text, expects failure, and checks the message holds each needle. */
static void expect_error(const char *text, const char *line_tag, const char *needle)
{
    struct vigil_config cfg;
    char err[512] = "";
    const char *p = write_tmp(text);
    int rc = config_load(p, &cfg, err, sizeof err);
    unlink(p);
    cr_assert_eq(rc, -1, "expected an error containing '%s'", needle);
    char want_prefix[300];
    snprintf(want_prefix, sizeof want_prefix, "%s:%s", p, line_tag);
    cr_assert(strstr(err, want_prefix) == err, "error '%s' does not start with '%s'", err, want_prefix);
    cr_assert(strstr(err, needle), "error '%s' does not mention '%s'", err, needle);
}

Test(config, shipped_config_is_valid)
{
    struct vigil_config cfg;
    char err[512] = "";
    int rc = config_load(source_path("configs/vigil.yaml"), &cfg, err, sizeof err);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(cfg.n_ports, 1);
    cr_assert_eq(cfg.n_workers, 1);
    cr_assert(cfg.ports[0].is_vdev);
    cr_assert(strstr(cfg.ports[0].device, "/configs/replay/demo.pcap"), "config_dir not expanded: %s",
              cfg.ports[0].device);
    cr_assert_eq(cfg.n_syslog_ports, 2);
    cr_assert_eq(cfg.syslog_ports[0], 514);
    cr_assert_eq(cfg.n_allowed, 2);
    cr_assert_eq(cfg.n_sources, 1);
    cr_assert_str_eq(cfg.sources[0].timezone, "America/New_York");
    config_free(&cfg);
}

Test(config, base_is_valid_with_defaults)
{
    struct vigil_config cfg;
    char err[512] = "";
    const char *p = write_tmp(base);
    cr_assert_eq(config_load(p, &cfg, err, sizeof err), 0, "%s", err);
    unlink(p);
    cr_assert_eq(cfg.burst_size, 32);
    cr_assert_eq(cfg.reasm.max_flows, 4096);
    cr_assert(cfg.allow_any_sender);
    cr_assert_eq(cfg.workers[1].rx[0].queue, 1);
    cr_assert_eq(cfg.n_eal_args, 1);
    config_free(&cfg);
}

Test(config, missing_file) {
    struct vigil_config cfg;
    char err[512];
    cr_assert_eq(config_load("/nonexistent/vigil.yaml", &cfg, err, sizeof err), -1);
    cr_assert(strstr(err, "/nonexistent/vigil.yaml: cannot open"), "%s", err);
}

Test(config, yaml_syntax_error_names_line)
{
    expect_error("eal:\n  args: [--no-huge\nports: []\n", "3", "YAML syntax");
}

Test(config, unknown_key_is_rejected_with_known_keys)
{
    char text[2048];
    snprintf(text, sizeof text, "%sburst_sise: 64\n", base);
    expect_error(text, "15", "burst_sise: unknown key");
    expect_error(text, "15", "burst_size");
}

Test(config, wrong_type)
{
    char text[2048];
    snprintf(text, sizeof text, "%sburst_size: lots\n", base);
    expect_error(text, "15", "burst_size: expected an integer, got 'lots'");
}

Test(config, out_of_range)
{
    char text[2048];
    snprintf(text, sizeof text, "%sburst_size: 100000\n", base);
    expect_error(text, "15", "100000 is out of range 1..512");
}

Test(config, nested_key_path)
{
    const char *t =
        "ports:\n"
        "  - name: p0\n"
        "    device: net_null0\n"
        "workers:\n"
        "  - lcore: 1\n"
        "    rx: [{port: p0, queue: x}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "6", "workers[0].rx[0].queue: expected an integer");
}

Test(config, unknown_port_name)
{
    const char *t =
        "ports:\n"
        "  - name: p0\n"
        "    device: net_null0\n"
        "workers:\n"
        "  - lcore: 1\n"
        "    rx: [{port: eth9}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "6", "no port named 'eth9'");
}

Test(config, queue_without_worker)
{
    const char *t =
        "ports:\n"
        "  - name: p0\n"
        "    device: net_null0\n"
        "    rx_queues: 2\n"
        "workers:\n"
        "  - lcore: 1\n"
        "    rx: [{port: p0, queue: 0}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "1", "queue 1 of port 'p0' is polled by no worker");
}

Test(config, queue_with_two_workers)
{
    const char *t =
        "ports:\n"
        "  - name: p0\n"
        "    device: net_null0\n"
        "workers:\n"
        "  - lcore: 1\n"
        "    rx: [{port: p0}]\n"
        "  - lcore: 2\n"
        "    rx: [{port: p0}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "1", "polled by 2 workers");
}

Test(config, worker_on_main_lcore)
{
    const char *t =
        "ports: [{name: p0, device: net_null0}]\n"
        "workers: [{lcore: 0, rx: [{port: p0}]}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "1", "which is eal.main_lcore");
}

Test(config, bad_device)
{
    const char *t =
        "ports: [{name: p0, device: eth0}]\n"
        "workers: [{lcore: 1, rx: [{port: p0}]}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "1", "ports[0].device: 'eth0' is neither a PCI address");
}

Test(config, pci_device_accepted)
{
    struct vigil_config cfg;
    char err[512] = "";
    const char *p = write_tmp(
        "ports: [{name: p0, device: \"0000:03:00.0\"}]\n"
        "workers: [{lcore: 1, rx: [{port: p0}]}]\n"
        "syslog: {ports: [514]}\n");
    cr_assert_eq(config_load(p, &cfg, err, sizeof err), 0, "%s", err);
    unlink(p);
    cr_assert(!cfg.ports[0].is_vdev);
    config_free(&cfg);
}

Test(config, bad_cidr)
{
    char text[2048];
    snprintf(text, sizeof text, "%s  allowed_senders: [10.0.0.0/33]\n", base);
    expect_error(text, "15", "syslog.allowed_senders: '10.0.0.0/33' is not an address or CIDR");
}

Test(config, unknown_timezone)
{
    char text[2048];
    snprintf(text, sizeof text, "%s  sources: [{cidr: 10.0.0.0/8, timezone: Mars/Olympus}]\n", base);
    expect_error(text, "15", "syslog.sources[0].timezone:");
}

Test(config, lcores_in_eal_args_rejected)
{
    const char *t =
        "eal: {args: [-l, 0-1]}\n"
        "ports: [{name: p0, device: net_null0}]\n"
        "workers: [{lcore: 1, rx: [{port: p0}]}]\n"
        "syslog: {ports: [514]}\n";
    expect_error(t, "1", "derived from eal.main_lcore");
}

Test(config, duplicate_key)
{
    char text[2048];
    snprintf(text, sizeof text, "%sburst_size: 8\nburst_size: 16\n", base);
    expect_error(text, "16", "burst_size: given twice");
}

Test(config, no_listener)
{
    const char *t =
        "ports: [{name: p0, device: net_null0}]\n"
        "workers: [{lcore: 1, rx: [{port: p0}]}]\n";
    expect_error(t, "1", "syslog.ports: at least one UDP port");
}

Test(config, empty_file)
{
    expect_error("", "0", "the file is empty");
}

Test(config, cidr_parsing)
{
    struct cfg_cidr c;
    cr_assert_eq(config_parse_cidr("10.1.2.3/8", &c), 0);
    cr_assert_eq(c.ip.family, 4);
    cr_assert_eq(c.prefix, 8);
    cr_assert_eq(c.ip.addr[0], 10);
    cr_assert_eq(c.ip.addr[1], 0, "host bits must be cleared");
    cr_assert_eq(config_parse_cidr("2001:db8::1/32", &c), 0);
    cr_assert_eq(c.ip.family, 6);
    cr_assert_eq(c.ip.addr[15], 0);
    cr_assert_eq(config_parse_cidr("192.0.2.7", &c), 0);
    cr_assert_eq(c.prefix, 32);
    cr_assert_eq(config_parse_cidr("192.0.2.7/", &c), -1);
    cr_assert_eq(config_parse_cidr("192.0.2.7/-1", &c), -1);
    cr_assert_eq(config_parse_cidr("::/129", &c), -1);
    cr_assert_eq(config_parse_cidr("host.example", &c), -1);
}
