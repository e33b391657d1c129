/* vigil-dp on real NetFlow v5, v9 and IPFIX exports (the akvorado and
 * pmacct captures of the corpus) through net_pcap: every datagram and every
 * record is accounted for, the counters agree with the engine's decoder run
 * on the same payloads in this process, and templates saved by one run let
 * the next decode data at once.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <pcap/pcap.h>

#include "dataplane/pkt_decode.h"
#include "engine/netflow.h"
#include "test_support.h"

/* Templates before the data that needs them (the MANIFEST's advice). */
static const char *const captures[] = {
    "netflow/akvorado/template.pcap",
    "netflow/akvorado/data.pcap",
    "netflow/akvorado/data+templates.pcap",
    "netflow/akvorado/ipfixprobe-templates.pcap",
    "netflow/akvorado/ipfixprobe-data.pcap",
    "netflow/akvorado/options-template.pcap",
    "netflow/akvorado/options-data.pcap",
    "netflow/akvorado/samplingrate-template.pcap",
    "netflow/akvorado/samplingrate-data.pcap",
    "netflow/akvorado/nfv5.pcap",
    "netflow/akvorado/mpls.pcap",
    "netflow/akvorado/nat.pcap",
    "netflow/pmacct/100-IPFIXv10-CISCO/traffic-00.pcap",
    "netflow/pmacct/101-NFv9-CISCO-cust_primitives/traffic-00.pcap",
    "netflow/pmacct/102-NFv9-CISCO-f2rd-pretag-sampling-reload/traffic-00.pcap",
    "netflow/pmacct/104-IPFIXv10-IPv6-CISCO-sampling_option/traffic-00.pcap",
    "netflow/pmacct/112-IPFIXv10-CISCO-options-map-reassignment/traffic-00.pcap",
};
#define N_CAPTURES (sizeof captures / sizeof captures[0])

struct replay {
    unsigned frames;
    unsigned bad_checksum;    /* frames vigil-dp must drop (malformed.ipv4_bad_checksum) */
    unsigned datagrams;
    uint16_t ports[32];
    unsigned n_ports;
    struct nf_decoder *dec;   /* the engine's decoder on the same payloads */
    uint64_t records;
};

static void setup(void)
{
    test_tmpdir("netflow");
}

static void add_port(struct replay *r, uint16_t p)
{
    for (unsigned i = 0; i < r->n_ports; i++)
        if (r->ports[i] == p)
            return;
    cr_assert_lt(r->n_ports, 32);
    r->ports[r->n_ports++] = p;
}

/* Appends the frames of the given captures to out (a pcap), decoding each
 * UDP payload with r->dec as vigil-dp will. */
static void build(const char *out, const char *const *files, unsigned n, struct replay *r)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *dump = pcap_dump_open(dead, out);
    cr_assert_not_null(dump);
    memset(r, 0, sizeof *r);
    struct nf_config cfg;
    nf_config_default(&cfg);
    r->dec = nf_decoder_new(&cfg);
    cr_assert_not_null(r->dec);
    static struct nf_record recs[4096];
    for (unsigned f = 0; f < n; f++) {
        pcap_t *p = pcap_open_offline(corpus_path(files[f]), errbuf);
        cr_assert_not_null(p, "%s: %s", files[f], errbuf);
        int dlt = pcap_datalink(p);
        cr_assert(dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL, "%s: link type %d", files[f], dlt);
        struct pcap_pkthdr *h;
        const u_char *data;
        while (pcap_next_ex(p, &h, &data) == 1) {
            struct pkt_info pi;
            static u_char eth[65536 + 14];
            struct pcap_pkthdr eh = *h;
            if (dlt == DLT_LINUX_SLL) {
                /* pmacct's test 112 was captured on "any": its 16-byte
                 * cooked header becomes an Ethernet one (the protocol field
                 * is the ethertype), as a NIC would have delivered it */
                cr_assert_geq(h->caplen, 16);
                memset(eth, 0, 12);
                eth[0] = 0x02;
                eth[6] = 0x02;
                memcpy(eth + 12, data + 14, 2);
                memcpy(eth + 14, data + 16, h->caplen - 16);
                eh.caplen = h->caplen - 2;
                eh.len = h->len - 2;
                data = eth;
                h = &eh;
            }
            pcap_dump((u_char *)dump, h, data);
            r->frames++;
            enum pkt_kind kind = pkt_decode(data, h->caplen, &pi);
            /* akvorado's data+templates.pcap has an IPv4 header checksum
             * that is wrong (its addresses were rewritten): a NIC drops such
             * a frame, and so does vigil-dp, counted */
            if (kind == PKT_KIND_DROP && pi.drop_reason == PKT_DROP_IPV4_BAD_CHECKSUM) {
                r->bad_checksum++;
                continue;
            }
            cr_assert_eq(kind, PKT_KIND_UDP, "%s: a frame that is not one UDP datagram", files[f]);
            add_port(r, pi.dst_port);
            r->datagrams++;
            struct nf_source src = {.addr = pi.src, .port = pi.src_port};
            struct nf_output o = {.recs = recs, .cap = 4096};
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            nf_decode(r->dec, data + pi.payload_off, pi.payload_len, &src,
                      (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, &o);
            r->records += o.n;
        }
        pcap_close(p);
    }
    pcap_dump_close(dump);
    pcap_close(dead);
}

static void write_config(const char *pcap, const struct replay *r, const char *store)
{
    FILE *f = fopen(tmp_path("vigil.yaml"), "w");
    cr_assert_not_null(f);
    fprintf(f,
            "eal: {args: [--no-huge, -m, \"256\", --no-shconf, --no-telemetry, --log-level=lib.eal:error]}\n"
            "ports: [{name: replay, device: \"net_pcap0,rx_pcap=%s\"}]\n"
            "workers: [{lcore: 1, rx: [{port: replay}]}]\n"
            "mbufs: {pool_size: 4095}\n"
            "stats: {path: %s, netflow_path: %s}\n"
            "signals: {dir: %s}\n"
            "netflow:\n  ports: [",
            pcap, tmp_path("dp.stats"), tmp_path("netflow.json"), tmp_path("."));
    for (unsigned i = 0; i < r->n_ports; i++)
        fprintf(f, "%s%u", i ? ", " : "", r->ports[i]);
    fprintf(f, "]\n  rules: %s/configs/flow-rules\n  reputation: [{name: blocklist, path: %s/configs/reputation/blocklist.txt}]\n",
            VIGIL_SOURCE_DIR, VIGIL_SOURCE_DIR);
    if (store)
        fprintf(f, "  template_store: %s\n", store);
    fclose(f);
}

static json_t *run_dp(void)
{
    char *argv[] = {strdup(build_path("vigil-dp")), "-c", strdup(tmp_path("vigil.yaml")), "--exit-when-idle=500",
                    "--stats-json", NULL};
    int rc = run_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"), 0);
    cr_assert_eq(rc, 0, "%s", read_whole_file(tmp_path("dp.err"), NULL));
    free(argv[0]);
    free(argv[2]);
    json_error_t e;
    json_t *s = json_load_file(tmp_path("dp.out"), 0, &e);
    cr_assert_not_null(s, "%s", e.text);
    return s;
}

static json_int_t total(json_t *stats, const char *name)
{
    json_t *v = json_object_get(json_object_get(stats, "totals"), name);
    cr_assert_not_null(v, "no counter %s", name);
    return json_integer_value(v);
}

static json_int_t nf_total(json_t *nf, const char *name)
{
    json_t *v = json_object_get(json_object_get(nf, "totals"), name);
    cr_assert_not_null(v, "no netflow counter %s", name);
    return json_integer_value(v);
}

Test(dp_netflow, every_corpus_export_is_accounted_for, .init = setup, .timeout = 120)
{
    struct replay r;
    build(tmp_path("flows.pcap"), captures, N_CAPTURES, &r);
    cr_assert_gt(r.records, 50, "the corpus captures hold flows");
    write_config(tmp_path("flows.pcap"), &r, NULL);
    json_t *s = run_dp();

    /* every frame became a datagram for the decoder, or a counted drop */
    cr_assert_eq(total(s, "rx_packets"), r.frames);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(json_object_get(s, "totals"), "malformed"),
                                                    "ipv4_bad_checksum")),
                 r.bad_checksum);
    cr_assert_eq(total(s, "udp_datagrams"), r.datagrams);
    cr_assert_eq(total(s, "netflow_datagrams"), r.datagrams);
    cr_assert_eq(total(s, "drop_unknown_port") + total(s, "drop_acl"), 0);
    /* and every record the engine's decoder finds, vigil-dp found */
    cr_assert_eq(total(s, "netflow_records"), (json_int_t)r.records);

    json_error_t e;
    json_t *nf = json_load_file(tmp_path("netflow.json"), 0, &e);
    cr_assert_not_null(nf, "%s", e.text);
    const struct nf_counters *want = nf_decoder_counters(r.dec);
    cr_assert_eq(nf_total(nf, "nf_records_v5"), (json_int_t)want->nf_records_v5);
    cr_assert_eq(nf_total(nf, "nf_records_v9"), (json_int_t)want->nf_records_v9);
    cr_assert_eq(nf_total(nf, "nf_records_ipfix"), (json_int_t)want->nf_records_ipfix);
    cr_assert_gt(want->nf_records_v5, 0);
    cr_assert_gt(want->nf_records_v9, 0);
    cr_assert_gt(want->nf_records_ipfix, 0);
    cr_assert_eq(nf_total(nf, "nf_templates_learned"), (json_int_t)want->cache.nf_templates_learned);
    cr_assert_eq(nf_total(nf, "nf_data_sets_dropped_no_template"),
                 (json_int_t)want->nf_data_sets_dropped_no_template);
    /* malformed datagrams are the decoder's malformed datagrams */
    /* and per exporter: what each sent, by version, adds up to the totals */
    json_int_t by_exporter = 0, v5 = 0;
    size_t wi, ei;
    json_t *wk, *ex;
    json_array_foreach(json_object_get(nf, "workers"), wi, wk) json_array_foreach(json_object_get(wk, "exporters"), ei, ex)
    {
        by_exporter += json_integer_value(json_object_get(ex, "records"));
        v5 += json_integer_value(json_object_get(ex, "records_v5"));
    }
    cr_assert_eq(by_exporter, (json_int_t)r.records);
    cr_assert_eq(v5, (json_int_t)want->nf_records_v5);
    cr_assert_eq(nf_total(nf, "nf_malformed_set_length"), (json_int_t)want->nf_malformed_set_length);
    cr_assert_eq(nf_total(nf, "nf_malformed_field_count"), (json_int_t)want->nf_malformed_field_count);
    json_decref(nf);
    json_decref(s);
    nf_decoder_free(r.dec);
}

Test(dp_netflow, saved_templates_decode_data_after_a_restart, .init = setup, .timeout = 120)
{
    static const char *const tpl[] = {"netflow/akvorado/template.pcap"};
    static const char *const data[] = {"netflow/akvorado/data.pcap"};
    struct replay rt, rd;
    build(tmp_path("tpl.pcap"), tpl, 1, &rt);
    build(tmp_path("data.pcap"), data, 1, &rd);
    nf_decoder_free(rt.dec);
    nf_decoder_free(rd.dec);
    /* the ports of both captures */
    struct replay ports = rt;
    for (unsigned i = 0; i < rd.n_ports; i++)
        add_port(&ports, rd.ports[i]);

    /* without saved templates the data waits for templates that never come */
    write_config(tmp_path("data.pcap"), &ports, tmp_path("empty.lmdb"));
    json_t *s = run_dp();
    cr_assert_eq(total(s, "netflow_records"), 0);
    json_decref(s);

    /* learn the templates, exit (they are saved), then the data alone */
    write_config(tmp_path("tpl.pcap"), &ports, tmp_path("templates.lmdb"));
    json_decref(run_dp());
    write_config(tmp_path("data.pcap"), &ports, tmp_path("templates.lmdb"));
    s = run_dp();
    cr_assert_gt(total(s, "netflow_records"), 0, "saved templates decode the data at once");
    char *err = read_whole_file(tmp_path("dp.err"), NULL);
    cr_assert(strstr(err, "templates restored"), "%s", err);
    free(err);
    json_decref(s);
}

static json_int_t rep_hits(void)
{
    json_error_t e;
    json_t *nf = json_load_file(tmp_path("netflow.json"), 0, &e);
    cr_assert_not_null(nf, "%s", e.text);
    json_int_t hits = json_integer_value(
        json_object_get(json_array_get(json_object_get(json_object_get(nf, "checks"), "reputation"), 0), "hits"));
    json_decref(nf);
    return hits;
}

Test(dp_netflow, reputation_lists_reload_without_stopping_traffic, .init = setup, .timeout = 120)
{
    /* an office host talking to 198.51.100.250, replayed in a loop */
    write_text(tmp_path("flows.txt"), "192.0.2.10 198.51.100.250 50000 443 6 10 5000 1b 5\n"
                                      "192.0.2.11 192.0.2.53 53000 53 17 1 70 00 5\n");
    char *gen[] = {strdup(build_path("vigil-pcapgen")), "-o", strdup(tmp_path("loop.pcap")), "--src", "192.0.2.254",
                   "--dport", "2055", "--netflow5", strdup(tmp_path("flows.txt")), NULL};
    cr_assert_eq(run_cmd(gen, tmp_path("gen.out"), tmp_path("gen.err"), 0), 0);
    write_text(tmp_path("blocklist.txt"), "203.0.113.0/24\n");
    FILE *f = fopen(tmp_path("vigil.yaml"), "w");
    fprintf(f,
            "eal: {args: [--no-huge, -m, \"256\", --no-shconf, --no-telemetry, --log-level=lib.eal:error]}\n"
            "ports: [{name: replay, device: \"net_pcap0,rx_pcap=%s,infinite_rx=1\"}]\n"
            "workers: [{lcore: 1, rx: [{port: replay}]}]\n"
            "mbufs: {pool_size: 4095}\n"
            "stats: {path: %s, netflow_path: %s}\n"
            "signals: {dir: %s}\n"
            "netflow: {ports: [2055], rules: %s/configs/flow-rules,\n"
            "          reputation: [{name: blocklist, path: %s}]}\n",
            tmp_path("loop.pcap"), tmp_path("dp.stats"), tmp_path("netflow.json"), tmp_path("."), VIGIL_SOURCE_DIR,
            tmp_path("blocklist.txt"));
    fclose(f);
    char *argv[] = {strdup(build_path("vigil-dp")), "-c", strdup(tmp_path("vigil.yaml")), "--stats-json", NULL};
    int pid = spawn_cmd(argv, tmp_path("dp.out"), tmp_path("dp.err"));
    sleep_ms(2500);
    cr_assert_eq(rep_hits(), 0, "198.51.100.250 is not listed yet");

    /* the feed now lists it: SIGHUP, traffic goes on, flows get tagged */
    write_text(tmp_path("blocklist.txt"), "203.0.113.0/24\n198.51.100.248/29\n");
    kill(pid, SIGHUP);
    json_int_t hits = 0;
    for (int i = 0; i < 40 && !hits; i++) {
        sleep_ms(250);
        hits = rep_hits();
    }
    cr_assert_gt(hits, 0, "the reloaded list tags the flows: %s", read_whole_file(tmp_path("dp.err"), NULL));

    /* a broken list is refused with file:line, the loaded one stays */
    write_text(tmp_path("blocklist.txt"), "198.51.100.248/29\nnot-an-address\n");
    kill(pid, SIGHUP);
    sleep_ms(2500);
    cr_assert_gt(rep_hits(), hits, "the previous list still tags flows");
    kill(pid, SIGTERM);
    cr_assert_eq(wait_cmd(pid), 0);
    char *err = read_whole_file(tmp_path("dp.err"), NULL);
    cr_assert(strstr(err, "flow rules now active"), "%s", err);
    cr_assert(strstr(err, "blocklist.txt:2"), "the bad line is named: %s", err);
    free(err);
    json_error_t e;
    json_t *s = json_load_file(tmp_path("dp.out"), 0, &e);
    cr_assert_not_null(s, "%s", e.text);
    /* nothing was lost across the reloads: every datagram was decoded, 2 records each */
    cr_assert_eq(total(s, "netflow_datagrams"), total(s, "rx_packets"));
    cr_assert_eq(total(s, "netflow_records"), 2 * total(s, "rx_packets"));
    json_decref(s);
}
