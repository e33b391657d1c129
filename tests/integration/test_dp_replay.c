/* vigil-dp end to end: captures built from real corpus lines are replayed
 * through net_pcap ports (no hugepages, no NIC), and the counters and the tap
 * must account for every frame in them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <pcap/pcap.h>

#include "bench/pktcraft.h"
#include "dataplane/stats.h"
#include "test_support.h"

static void show_file(const char *path)
{
    char *s = read_whole_file(path, NULL);
    if (s)
        cr_log_error("%s:\n%s", path, s);
    free(s);
}

static void pcapgen(const char *out, const char *const *args)
{
    char *argv[48];
    int n = 0;
    argv[n++] = strdup(build_path("vigil-pcapgen"));
    argv[n++] = "-o";
    argv[n++] = (char *)out;
    for (; *args && n < 46; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    int rc = run_cmd(argv, tmp_path("pcapgen.out"), tmp_path("pcapgen.err"), 0);
    if (rc)
        show_file(tmp_path("pcapgen.err"));
    cr_assert_eq(rc, 0, "vigil-pcapgen failed for %s", out);
    free(argv[0]);
}

static long count_frames(const char *path)
{
    char eb[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, eb);
    cr_assert_not_null(p, "%s: %s", path, eb);
    struct pcap_pkthdr *h;
    const u_char *d;
    long n = 0;
    while (pcap_next_ex(p, &h, &d) == 1)
        n++;
    pcap_close(p);
    return n;
}

static long count_lines(const char *path)
{
    size_t len;
    char *s = read_whole_file(path, &len);
    cr_assert_not_null(s, "%s", path);
    long n = 0;
    for (char *line = s, *nl; line < s + len; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(s + len - line));
        if (!nl)
            nl = s + len;
        size_t l = (size_t)(nl - line);
        if (l && line[l - 1] == '\r')
            l--;
        n += l > 0;
    }
    free(s);
    return n;
}

/* Writes n lines, each the concatenation of 40 consecutive corpus lines, so
 * each is several kilobytes and must travel as IP fragments. */
static void write_long_lines(const char *src, const char *dst, int n)
{
    size_t len;
    char *s = read_whole_file(src, &len);
    cr_assert_not_null(s);
    FILE *f = fopen(dst, "w");
    char *line = s;
    for (int i = 0; i < n; i++) {
        fprintf(f, "<38>");
        for (int j = 0; j < 40; j++) {
            char *nl = strchr(line, '\n');
            cr_assert_not_null(nl);
            fprintf(f, "%s%.*s", j ? " | " : "", (int)(nl - line), line);
            line = nl + 1;
        }
        fputc('\n', f);
    }
    fclose(f);
    free(s);
}

/* p5: what a hostile or broken sender sends, written frame by frame:
 * truncated frames, bad checksums, non-UDP, fragment sets that never
 * complete, and fragments from a sender outside the ACL. */
struct hostile {
    long malformed, incomplete_fragments, acl_fragments;
};

static void dump(pcap_dumper_t *d, const uint8_t *data, uint32_t len)
{
    static long n;
    struct pcap_pkthdr h = {.ts = {1700000000 + n / 1000, (n % 1000) * 1000}, .caplen = len, .len = len};
    n++;
    pcap_dump((u_char *)d, &h, data);
}

static void fix_ipv4_checksum(uint8_t *ip)
{
    uint32_t sum = 0;
    ip[10] = ip[11] = 0;
    for (int i = 0; i < 20; i += 2)
        sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    ip[10] = (uint8_t)(~sum >> 8);
    ip[11] = (uint8_t)~sum;
}

static void write_hostile(const char *path, struct hostile *h)
{
    pcap_t *pd = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = pcap_dump_open(pd, path);
    cr_assert_not_null(d);
    static uint8_t buf[1 << 20];
    static struct pktcraft_frame fr[64];
    static char msg[4000];
    memset(msg, 'x', sizeof msg);
    memcpy(msg, "<13>hostile", 11);
    struct pktcraft_opts o;
    pktcraft_opts_init(&o);
    pktcraft_parse_ip("192.0.2.66", &o.src);
    pktcraft_parse_ip("192.0.2.1", &o.dst);
    o.dport = 514;
    memset(h, 0, sizeof *h);
    for (int i = 0; i < 10; i++) {
        size_t n = pktcraft_udp_frame(&o, msg, 200, buf, sizeof buf);
        dump(d, buf, 14 + 16);                        /* cut inside the IPv4 header */
        buf[14 + 10] ^= 0x5a;                          /* header checksum wrong */
        dump(d, buf, (uint32_t)n);
        buf[14 + 10] ^= 0x5a;
        buf[14 + 9] = 6;                               /* TCP: not for us */
        fix_ipv4_checksum(buf + 14);
        dump(d, buf, (uint32_t)n);
        h->malformed += 3;
    }
    for (uint32_t id = 1; id <= 5; id++) {            /* never completed: the last fragment is lost */
        o.ip_id = 7000 + id;
        int nf = pktcraft_udp_fragments(&o, msg, sizeof msg, 1500, buf, sizeof buf, fr, 64);
        cr_assert_gt(nf, 2);
        for (int f = 0; f < nf - 1; f++)
            dump(d, fr[f].data, fr[f].len);
        h->incomplete_fragments += nf - 1;
    }
    pktcraft_parse_ip("10.66.66.66", &o.src);         /* outside allowed_senders */
    for (uint32_t id = 1; id <= 5; id++) {
        o.ip_id = 8000 + id;
        int nf = pktcraft_udp_fragments(&o, msg, sizeof msg, 1500, buf, sizeof buf, fr, 64);
        for (int f = 0; f < nf; f++)
            dump(d, fr[f].data, fr[f].len);
        h->acl_fragments += nf;
    }
    pcap_dump_close(d);
    pcap_close(pd);
}

struct replay {
    struct hostile hostile;
    long frames;
    long events_expected;
    long unknown_port_expected;
    long acl_expected;
    long long_lines;
    long auth_lines;
    long linux_lines;
};

static void build_captures(struct replay *r)
{
    const char *auth = strdup(corpus_path("syslog/elastic_auth.log"));
    const char *linux2k = strdup(corpus_path("syslog/loghub/Linux_2k.log"));
    const char *psad = strdup(corpus_path("syslog/iptables-psad/syn_scan_1000_1500.log"));
    const char *asa_ini = strdup(corpus_path("syslog/wazuh-ruletests/cisco_asa.ini"));
    write_long_lines(linux2k, tmp_path("long.log"), 6);  /* ~4 KB each: 3-4 fragments */

    /* p0: Linux auth.log from two IPv4 senders, plain Ethernet. */
    pcapgen(tmp_path("p0.pcap"), (const char *[]){"--pri", "38", "--src", "192.0.2.10", "--src", "192.0.2.11",
                                                auth, NULL});
    /* p1: loghub Linux over IPv6 in QinQ, to the second syslog port. */
    pcapgen(tmp_path("p1.pcap"), (const char *[]){"--pri", "13", "--src", "2001:db8::10", "--vlan", "100",
                                                "--vlan", "200", "--dport", "1514", linux2k, NULL});
    /* p2: long messages fragmented over IPv4 and IPv6, VLAN tagged, plus psad
     * iptables lines and Cisco ASA lines without any header. */
    pcapgen(tmp_path("p2a.pcap"), (const char *[]){"--src", "192.0.2.12", "--vlan", "7", "--mtu", "1500",
                                                 tmp_path("long.log"), NULL});
    pcapgen(tmp_path("p2b.pcap"), (const char *[]){"--src", "2001:db8::12", "--mtu", "1280", tmp_path("long.log"),
                                                 NULL});
    pcapgen(tmp_path("p2c.pcap"), (const char *[]){"--pri", "4", "--src", "192.0.2.13", psad, NULL});
    pcapgen(tmp_path("p2d.pcap"), (const char *[]){"--wazuh", "--pri", "164", "--src", "192.0.2.14", asa_ini,
                                                 NULL});
    /* p3: syslog to a port nobody listens on; p4: from a sender outside the ACL. */
    pcapgen(tmp_path("p3.pcap"), (const char *[]){"--pri", "13", "--dport", "9999", psad, NULL});
    pcapgen(tmp_path("p4.pcap"), (const char *[]){"--pri", "13", "--src", "10.9.9.9", psad, NULL});
    write_hostile(tmp_path("p5.pcap"), &r->hostile);

    r->auth_lines = count_lines(auth);
    r->linux_lines = count_lines(linux2k);
    r->long_lines = 6;
    long psad_lines = count_lines(psad);
    long asa_frames = count_frames(tmp_path("p2d.pcap"));
    r->events_expected = r->auth_lines + r->linux_lines + 2 * r->long_lines + psad_lines + asa_frames;
    r->unknown_port_expected = psad_lines;
    r->acl_expected = psad_lines;
    r->frames = 0;
    const char *caps[] = {"p0.pcap", "p1.pcap", "p2a.pcap", "p2b.pcap", "p2c.pcap",
                          "p2d.pcap", "p3.pcap", "p4.pcap", "p5.pcap"};
    for (unsigned i = 0; i < sizeof caps / sizeof caps[0]; i++)
        r->frames += count_frames(tmp_path(caps[i]));
    cr_assert_gt(count_frames(tmp_path("p2a.pcap")), r->long_lines, "long lines were not fragmented");
    cr_assert_gt(asa_frames, 10);
    free((void *)auth);
    free((void *)linux2k);
    free((void *)psad);
    free((void *)asa_ini);
}

static void write_config(const char *path, int two_workers)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "eal:\n"
            "  args: [--no-huge, -m, \"512\", --no-shconf, --no-telemetry, --log-level=lib.eal:error]\n"
            "  main_lcore: 0\n"
            "ports:\n");
    const char *caps[] = {"p0.pcap", "p1.pcap", "p2a.pcap", "p2b.pcap", "p2c.pcap",
                          "p2d.pcap", "p3.pcap", "p4.pcap", "p5.pcap"};
    const int n_caps = (int)(sizeof caps / sizeof caps[0]);
    for (int i = 0; i < n_caps; i++)
        fprintf(f, "  - {name: p%d, device: \"net_pcap%d,rx_pcap=%s\"}\n", i, i, tmp_path(caps[i]));
    fprintf(f, "workers:\n  - lcore: 1\n    rx:\n");
    for (int i = 0; i < n_caps; i++)
        if (!two_workers || i % 2 == 0)
            fprintf(f, "      - {port: p%d}\n", i);
    if (two_workers) {
        fprintf(f, "  - lcore: 2\n    cpu: 0\n    rx:\n");
        for (int i = 1; i < n_caps; i += 2)
            fprintf(f, "      - {port: p%d}\n", i);
    }
    fprintf(f,
            "syslog:\n"
            "  ports: [514, 1514]\n"
            "  allowed_senders: [192.0.2.0/24, \"2001:db8::/32\"]\n"
            "stats:\n"
            "  path: %s\n"
            "signals: {dir: %s}\n",
            tmp_path("stats"), tmp_path("."));
    fclose(f);
}

static json_t *jget(json_t *o, const char *path)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *t = strtok(tmp, "."); t && o; t = strtok(NULL, "."))
        o = json_object_get(o, t);
    return o;
}

static void replay_and_check(int two_workers)
{
    test_tmpdir("it");
    struct replay r;
    build_captures(&r);
    write_config(tmp_path("vigil.yaml"), two_workers);

    char *argv[] = {strdup(build_path("vigil-dp")), "-c", (char *)tmp_path("vigil.yaml"), "--exit-when-idle=400",
                    "--tap", (char *)tmp_path("tap.jsonl"), NULL};
    int rc = run_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"), 0);
    if (rc) {
        show_file(tmp_path("dp.err"));
        show_file(tmp_path("dp.out"));
    }
    cr_assert_eq(rc, 0, "vigil-dp exited with %d", rc);
    free(argv[0]);

    struct stats_block sb;
    cr_assert_eq(stats_open_readonly(&sb, tmp_path("stats")), 0);
    cr_assert_eq(sb.hdr->running, 0, "clean exit clears running");
    cr_assert_eq(sb.hdr->n_workers, two_workers ? 2u : 1u);
    struct worker_counters c;
    stats_sum_workers(&sb, &c);

    uint64_t malformed = 0;
    for (int i = 1; i < PKT_DROP__COUNT; i++)
        malformed += c.malformed[i];
    cr_expect_eq(c.rx_packets, (uint64_t)r.frames, "every frame of the captures was received");
    uint64_t port_ipackets = 0;
    for (unsigned p = 0; p < sb.hdr->n_ports; p++)
        port_ipackets += sb.ports[p].ipackets;
    cr_expect_eq(port_ipackets, (uint64_t)r.frames, "port counters agree");
    cr_expect_eq(malformed, (uint64_t)r.hostile.malformed, "only the hostile frames are malformed");
    cr_expect_eq(c.malformed[PKT_DROP_IPV4_TRUNCATED], 10);
    cr_expect_eq(c.malformed[PKT_DROP_IPV4_BAD_CHECKSUM], 10);
    cr_expect_eq(c.malformed[PKT_DROP_NOT_UDP], 10);
    cr_expect_eq(c.frag_reassembled, (uint64_t)(2 * r.long_lines));
    cr_expect_eq(c.frag_dropped, (uint64_t)r.hostile.incomplete_fragments,
                 "incomplete datagrams are dropped and counted, at the latest at exit");
    cr_expect_eq(c.frag_timeout, (uint64_t)r.hostile.incomplete_fragments);
    cr_expect_eq(c.drop_acl_fragments, (uint64_t)r.hostile.acl_fragments,
                 "fragments of strangers never reach reassembly");
    cr_expect_eq(c.rx_packets, (c.udp_datagrams - c.frag_reassembled) + malformed + c.frag_ipv4_fragments +
                                   c.frag_ipv6_fragments + c.drop_acl_fragments,
                 "frames = whole datagrams + malformed + fragments");
    cr_expect_eq(c.udp_datagrams, c.syslog_datagrams + c.drop_unknown_port + c.drop_acl);
    cr_expect_eq(c.syslog_datagrams, c.syslog_events + c.syslog_empty);
    cr_expect_eq(c.syslog_events, c.syslog_rfc5424 + c.syslog_rfc3164 + c.syslog_no_header);
    cr_expect_eq(c.drop_unknown_port, (uint64_t)r.unknown_port_expected);
    cr_expect_eq(c.drop_acl, (uint64_t)r.acl_expected);
    cr_expect_eq(c.syslog_events, (uint64_t)r.events_expected);
    cr_expect_eq(c.l2_qinq, (uint64_t)r.linux_lines);
    cr_expect_gt(c.l2_vlan, 0);
    cr_expect_eq(c.tap_dropped, 0);
    stats_close(&sb);

    /* The tap: one valid JSON object per event, with the sender and fields right. */
    FILE *f = fopen(tmp_path("tap.jsonl"), "r");
    cr_assert_not_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long events = 0, from_10 = 0, from_11 = 0, from_v6 = 0, long_seen = 0, invalid_user = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t e;
        json_t *j = json_loadb(line, (size_t)n, 0, &e);
        cr_assert_not_null(j, "tap line %ld is not JSON: %s", events + 1, e.text);
        events++;
        const char *ip = json_string_value(jget(j, "observer.ip"));
        cr_assert_not_null(ip);
        from_10 += !strcmp(ip, "192.0.2.10");
        from_11 += !strcmp(ip, "192.0.2.11");
        from_v6 += !strcmp(ip, "2001:db8::10");
        const char *msg = json_string_value(jget(j, "message"));
        cr_assert_not_null(msg);
        if (strstr(msg, " | ") && json_string_length(jget(j, "message")) > 1500)
            long_seen++;
        if (!strcmp(msg, "Invalid user support from 95.152.57.58")) {
            invalid_user++;
            cr_expect_str_eq(json_string_value(jget(j, "host.hostname")), "ip-10-77-20-248");
            cr_expect_str_eq(json_string_value(jget(j, "process.name")), "sshd");
            cr_expect_eq(json_integer_value(jget(j, "process.pid")), 2967);
            cr_expect_eq(json_integer_value(jget(j, "log.syslog.facility.code")), 4);
            cr_expect_eq(json_integer_value(jget(j, "log.syslog.severity.code")), 6);
            const char *ts = json_string_value(jget(j, "@timestamp"));
            cr_expect(ts && strstr(ts, "-03-27T14:54:57.000Z"), "timestamp %s", ts);
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    cr_expect_eq(events, r.events_expected, "one tap line per event");
    cr_expect_eq(from_10, (r.auth_lines + 1) / 2, "senders round-robin per line");
    cr_expect_eq(from_11, r.auth_lines / 2);
    cr_expect_eq(from_v6, r.linux_lines);
    cr_expect_eq(long_seen, 2 * r.long_lines, "reassembled messages arrive whole");
    cr_expect_eq(invalid_user, 1);
}

Test(replay, every_frame_accounted_one_worker, .timeout = 240)
{
    replay_and_check(0);
}

Test(replay, every_frame_accounted_two_workers, .timeout = 240)
{
    replay_and_check(1);
}

Test(replay, sigterm_stops_cleanly_with_counters, .timeout = 120)
{
    test_tmpdir("it");
    pcapgen(tmp_path("loop.pcap"), (const char *[]){"--pri", "38", corpus_path("syslog/rsyslog-seeds/rfc5424-basic.txt"),
                                                  NULL});
    FILE *f = fopen(tmp_path("vigil.yaml"), "w");
    fprintf(f,
            "eal: {args: [--no-huge, -m, \"256\", --no-shconf, --no-telemetry, --log-level=lib.eal:error]}\n"
            "ports: [{name: loop, device: \"net_pcap0,rx_pcap=%s,infinite_rx=1\"}]\n"
            "workers: [{lcore: 1, rx: [{port: loop}]}]\n"
            "mbufs: {pool_size: 4095}\n"
            "syslog: {ports: [514]}\n"
            "stats: {path: %s}\n"
            "signals: {dir: %s}\n",
            tmp_path("loop.pcap"), tmp_path("stats"), tmp_path("."));
    fclose(f);
    char *argv[] = {strdup(build_path("vigil-dp")), "-c", (char *)tmp_path("vigil.yaml"), "--stats-json", NULL};
    int rc = run_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"), 1500);
    free(argv[0]);
    if (rc)
        show_file(tmp_path("dp.err"));
    cr_assert_eq(rc, 0);
    size_t len;
    char *out = read_whole_file(tmp_path("dp.out"), &len);
    json_error_t e;
    json_t *j = json_loadb(out, len, 0, &e);
    cr_assert_not_null(j, "final counters are JSON: %s\n%s", e.text, out);
    json_int_t ev = json_integer_value(jget(j, "totals.syslog_events"));
    cr_assert_gt(ev, 1000, "an endless replay produced %lld events in 1.5 s", (long long)ev);
    cr_assert_eq(json_integer_value(jget(j, "totals.syslog_rfc5424")), ev);
    cr_assert(json_is_false(jget(j, "running")));

    /* The stats block outlives the process: --show-stats reads the same totals. */
    char *argv2[] = {strdup(build_path("vigil-dp")), "-c", (char *)tmp_path("vigil.yaml"), "--show-stats",
                     "--stats-json", NULL};
    cr_assert_eq(run_cmd(argv2, tmp_path("show.out"), tmp_path("show.err"), 0), 0);
    free(argv2[0]);
    char *shown = read_whole_file(tmp_path("show.out"), &len);
    json_t *j2 = json_loadb(shown, len, 0, &e);
    cr_assert_not_null(j2, "%s", e.text);
    cr_assert_eq(json_integer_value(jget(j2, "totals.syslog_events")), ev);
    cr_assert_eq(json_integer_value(jget(j2, "totals.rx_packets")), json_integer_value(jget(j, "totals.rx_packets")));
    json_decref(j2);
    free(shown);
    json_decref(j);
    free(out);
}

Test(replay, check_config_reports_file_line_key)
{
    test_tmpdir("it");
    FILE *f = fopen(tmp_path("bad.yaml"), "w");
    fprintf(f, "ports: [{name: p0, device: net_null0}]\nworkers: [{lcore: 1, rx: [{port: p0}]}]\n"
               "syslog:\n  ports: [514]\n  allowed_senders: [not-an-address]\n");
    fclose(f);
    char *argv[] = {strdup(build_path("vigil-dp")), "--check-config", "-c", (char *)tmp_path("bad.yaml"), NULL};
    int rc = run_cmd(argv, tmp_path("out"), tmp_path("err"), 0);
    free(argv[0]);
    cr_assert_eq(rc, 1);
    char *err = read_whole_file(tmp_path("err"), NULL);
    char want[256];
    snprintf(want, sizeof want, "%s:5: syslog.allowed_senders: 'not-an-address'", tmp_path("bad.yaml"));
    cr_assert(strstr(err, want), "stderr was: %s", err);
    free(err);

    char *argv2[] = {strdup(build_path("vigil-dp")), "--check-config", "-c",
                     (char *)source_path("configs/vigil.yaml"), NULL};
    rc = run_cmd(argv2, tmp_path("out"), tmp_path("err"), 0);
    free(argv2[0]);
    cr_assert_eq(rc, 0, "the shipped config is valid");
}
