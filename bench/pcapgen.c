/* vigil-pcapgen: turns log lines into a replayable pcap of syslog-over-UDP
 * frames (and raw payload files into single UDP datagrams), for net_pcap
 * replays, integration tests and benches.  Run with --help for the options. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcap/pcap.h>

#include "bench/pktcraft.h"

#define PROG          "vigil-pcapgen"
#define MAX_SENDERS   4096
#define MAX_FRAMES    2048           /* fragments of one datagram at the smallest MTU */
#define FRAME_BUF     (8u << 20)
#define SNAPLEN       262144

static const char usage_text[] =
    "usage: " PROG " -o OUT.pcap [options] FILE...   ('-' = stdin)\n"
    "Each non-empty line of each FILE becomes one syslog UDP datagram.\n"
    "  -o, --out FILE        pcap to write (required)\n"
    "  --skip-comments       skip lines starting with '#'\n"
    "  --wazuh               use only the text after ' = ' of 'log N pass|fail = ...' lines\n"
    "  --pri N               prepend '<N>' to lines not starting with '<' (0..191)\n"
    "  --src ADDR            sender IPv4/IPv6 address; repeat for round-robin senders\n"
    "                        (default 198.51.100.10)\n"
    "  --dst ADDR            destination (default 192.0.2.1, or 2001:db8::1 for IPv6\n"
    "                        senders); give one per address family if senders are mixed\n"
    "  --dport N             destination port (default 514)\n"
    "  --sport N             source port (default 40000)\n"
    "  --vlan ID             add an 802.1Q tag; twice = QinQ (outer 0x88A8 first)\n"
    "  --mtu N               fragment datagrams whose IP packet exceeds N bytes\n"
    "  --repeat N            emit the whole input N times (default 1)\n"
    "  --pad-to N            pad (with trailing spaces) or cut each line to exactly N bytes\n"
    "  --start SECONDS       timestamp of the first frame (default 1700000000)\n"
    "  --pps N               frames per second for timestamps (default 100000)\n"
    "  --netflow5 FILE       NetFlow v5 exports of the flows in FILE, 30 per datagram\n"
    "                        (emitted before the lines); a line: SRC DST SPORT DPORT\n"
    "                        PROTO PACKETS BYTES TCPFLAGS [SECONDS_AGO]; the export\n"
    "                        time is --start, '#' lines are comments\n"
    "  --raw FILE            the whole FILE as one UDP payload (repeatable; emitted\n"
    "                        before the lines, in the order given)\n"
    "  --max-len N           cut lines longer than N bytes (default 65000), counted\n"
    "  --append              add to OUT.pcap instead of replacing it (one capture\n"
    "                        from several runs with different senders or tags)\n"
    "  --frames-dir DIR      also write each frame to DIR/PREFIXn (fuzzer seeds)\n"
    "  --frames-prefix P     file name prefix for --frames-dir (default 'frame-')\n";

struct msg {
    const char *p;
    uint32_t len;
    bool raw;        /* emitted as is: no --pri, --max-len, --pad-to */
};

static struct msg *msgs;
static size_t n_msgs, cap_msgs;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static unsigned long parse_num(const char *opt, const char *s, unsigned long lo, unsigned long hi)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        die("%s: '%s' is not a number in %lu..%lu", opt, s, lo, hi);
    return v;
}

static char *load_file(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f)
        die("cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        die("out of memory reading '%s'", path);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                die("out of memory reading '%s'", path);
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(f))
        die("cannot read '%s': %s", path, strerror(errno));
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static void add_msg(const char *p, size_t len, bool raw);

static void put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* Fills in the header of a v5 datagram of count records and queues it
 * (add_msg keeps dgram).  seq is the exporter's flow sequence: it counts
 * records, so it moves on by count. */
static void send_netflow5(uint8_t *dgram, unsigned count, uint32_t uptime_ms, uint64_t export_secs, uint32_t *seq)
{
    put16(dgram, 5);
    put16(dgram + 2, count);
    put32(dgram + 4, uptime_ms);
    put32(dgram + 8, (uint32_t)export_secs);
    put32(dgram + 16, *seq);
    *seq += count;
    add_msg((const char *)dgram, 24 + 48 * count, true);
}

/* NetFlow v5 (Cisco's format: 24-byte header, 48-byte records, at most 30
 * per datagram): the flow list of path as export datagrams sent at
 * export_secs by a router up for an hour.  A test and demo helper, so it
 * stops at the first line it cannot read. */
static void add_netflow5(const char *path, uint64_t export_secs)
{
    size_t len;
    char *raw = load_file(path, &len);
    /* load_file does not terminate the text; strtok needs it */
    char *text = malloc(len + 1);
    if (!text)
        die("out of memory");
    memcpy(text, raw, len);
    text[len] = '\0';
    free(raw);
    uint8_t *dgram = NULL;
    unsigned count = 0;
    static uint32_t seq;
    const uint32_t uptime_ms = 3600000;
    unsigned lineno = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        lineno++;
        if (line[0] == '#' || line[0] == '\0')
            continue;
        char src[64], dst[64];
        unsigned sport, dport, proto, flags;
        unsigned long packets, bytes, ago = 0;
        int k = sscanf(line, "%63s %63s %u %u %u %lu %lu %x %lu", src, dst, &sport, &dport, &proto, &packets, &bytes,
                       &flags, &ago);
        struct vigil_ip s4, d4;
        if (k < 8 || pktcraft_parse_ip(src, &s4) || pktcraft_parse_ip(dst, &d4) || s4.family != 4 || d4.family != 4 ||
            sport > 65535 || dport > 65535 || proto > 255 || flags > 255 || ago * 1000 >= uptime_ms)
            die("--netflow5 %s:%u: want SRC DST SPORT DPORT PROTO PACKETS BYTES TCPFLAGS(hex) [SECONDS_AGO < 3600], "
                "IPv4 only", path, lineno);
        if (!dgram) {
            if (!(dgram = calloc(1, 24 + 30 * 48)))
                die("out of memory");
            count = 0;
        }
        uint8_t *r = dgram + 24 + 48 * count;
        memcpy(r, s4.addr, 4);
        memcpy(r + 4, d4.addr, 4);
        put16(r + 12, 1);                                   /* input ifIndex */
        put16(r + 14, 2);                                   /* output ifIndex */
        put32(r + 16, (uint32_t)packets);
        put32(r + 20, (uint32_t)bytes);
        put32(r + 24, uptime_ms - (uint32_t)ago * 1000);    /* First */
        put32(r + 28, uptime_ms - (uint32_t)ago * 1000);    /* Last */
        put16(r + 32, sport);
        put16(r + 34, dport);
        r[37] = (uint8_t)flags;
        r[38] = (uint8_t)proto;
        r[44] = 24;                                         /* src mask */
        r[45] = 24;
        if (++count == 30) {
            send_netflow5(dgram, count, uptime_ms, export_secs, &seq);
            dgram = NULL;
        }
    }
    if (dgram)
        send_netflow5(dgram, count, uptime_ms, export_secs, &seq);
    free(text);
}

static void add_msg(const char *p, size_t len, bool raw)
{
    if (n_msgs == cap_msgs) {
        cap_msgs = cap_msgs ? cap_msgs * 2 : 1024;
        msgs = realloc(msgs, cap_msgs * sizeof *msgs);
        if (!msgs)
            die("out of memory");
    }
    msgs[n_msgs++] = (struct msg){.p = p, .len = (uint32_t)len, .raw = raw};
}

/* 'log N pass = TEXT' / 'log N fail = TEXT' -> TEXT; NULL for other lines. */
static const char *wazuh_text(const char *p, size_t len, size_t *out_len)
{
    const char *end = p + len;
    if (len < 4 || memcmp(p, "log ", 4) != 0)
        return NULL;
    const char *q = p + 4;
    if (q == end || *q < '0' || *q > '9')
        return NULL;
    while (q < end && *q >= '0' && *q <= '9')
        q++;
    if (end - q < 8 || (memcmp(q, " pass = ", 8) != 0 && memcmp(q, " fail = ", 8) != 0))
        return NULL;
    q += 8;
    *out_len = (size_t)(end - q);
    return q;
}

static void split_lines(const char *buf, size_t len, bool skip_comments, bool wazuh)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        size_t l = (size_t)(le - p);
        if (l && p[l - 1] == '\r')
            l--;
        const char *line = p;
        p = nl ? nl + 1 : end;
        if (skip_comments && l && line[0] == '#')
            continue;
        if (wazuh && !(line = wazuh_text(line, l, &l)))
            continue;
        if (l == 0)
            continue;
        add_msg(line, l, false);
    }
}

int main(int argc, char **argv)
{
    enum { O_SKIP = 256, O_WAZUH, O_PRI, O_SRC, O_DST, O_DPORT, O_SPORT, O_VLAN, O_MTU,
           O_REPEAT, O_PAD, O_START, O_PPS, O_RAW, O_NETFLOW5, O_MAXLEN, O_APPEND,
           O_FRAMES_DIR, O_FRAMES_PREFIX };
    static const struct option lopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"skip-comments", no_argument, NULL, O_SKIP},
        {"wazuh", no_argument, NULL, O_WAZUH},
        {"pri", required_argument, NULL, O_PRI},
        {"src", required_argument, NULL, O_SRC},
        {"dst", required_argument, NULL, O_DST},
        {"dport", required_argument, NULL, O_DPORT},
        {"sport", required_argument, NULL, O_SPORT},
        {"vlan", required_argument, NULL, O_VLAN},
        {"mtu", required_argument, NULL, O_MTU},
        {"repeat", required_argument, NULL, O_REPEAT},
        {"pad-to", required_argument, NULL, O_PAD},
        {"start", required_argument, NULL, O_START},
        {"pps", required_argument, NULL, O_PPS},
        {"raw", required_argument, NULL, O_RAW},
        {"netflow5", required_argument, NULL, O_NETFLOW5},
        {"max-len", required_argument, NULL, O_MAXLEN},
        {"append", no_argument, NULL, O_APPEND},
        {"frames-dir", required_argument, NULL, O_FRAMES_DIR},
        {"frames-prefix", required_argument, NULL, O_FRAMES_PREFIX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *frames_dir = NULL, *frames_prefix = "frame-";
    bool skip_comments = false, wazuh = false, append = false;
    long pri = -1;
    static struct vigil_ip senders[MAX_SENDERS];
    unsigned n_senders = 0;
    struct vigil_ip dst4, dst6;
    pktcraft_parse_ip("192.0.2.1", &dst4);
    pktcraft_parse_ip("2001:db8::1", &dst6);
    unsigned dport = 514, sport = 40000, mtu = 0, n_vlan = 0;
    uint16_t vlan[2] = {0, 0};
    unsigned long repeat = 1, pad_to = 0, max_len = 65000, pps = 100000;
    uint64_t start = 1700000000;
    const char *raw_files[256], *nf5_files[64];
    unsigned n_raw = 0, n_nf5 = 0;

    int c;
    while ((c = getopt_long(argc, argv, "o:h", lopts, NULL)) != -1) {
        struct vigil_ip ip;
        switch (c) {
        case 'o': out = optarg; break;
        case O_APPEND: append = true; break;
        case O_FRAMES_DIR: frames_dir = optarg; break;
        case O_FRAMES_PREFIX: frames_prefix = optarg; break;
        case O_SKIP: skip_comments = true; break;
        case O_WAZUH: wazuh = true; break;
        case O_PRI: pri = (long)parse_num("--pri", optarg, 0, 191); break;
        case O_SRC:
            if (pktcraft_parse_ip(optarg, &ip) != 0)
                die("--src: '%s' is not an IPv4 or IPv6 address", optarg);
            if (n_senders == MAX_SENDERS)
                die("--src: at most %d senders", MAX_SENDERS);
            senders[n_senders++] = ip;
            break;
        case O_DST:
            if (pktcraft_parse_ip(optarg, &ip) != 0)
                die("--dst: '%s' is not an IPv4 or IPv6 address", optarg);
            if (ip.family == 4)
                dst4 = ip;
            else
                dst6 = ip;
            break;
        case O_DPORT: dport = (unsigned)parse_num("--dport", optarg, 0, 65535); break;
        case O_SPORT: sport = (unsigned)parse_num("--sport", optarg, 0, 65535); break;
        case O_VLAN:
            if (n_vlan == 2)
                die("--vlan: at most two tags");
            vlan[n_vlan++] = (uint16_t)parse_num("--vlan", optarg, 0, 4095);
            break;
        case O_MTU: mtu = (unsigned)parse_num("--mtu", optarg, 68, 65535); break;
        case O_REPEAT: repeat = parse_num("--repeat", optarg, 1, 1000000000); break;
        case O_PAD: pad_to = parse_num("--pad-to", optarg, 1, 65507); break;
        case O_START: start = parse_num("--start", optarg, 0, 4000000000ul); break;
        case O_PPS: pps = parse_num("--pps", optarg, 1, 1000000000); break;
        case O_RAW:
            if (n_raw == sizeof raw_files / sizeof raw_files[0])
                die("--raw: too many files");
            raw_files[n_raw++] = optarg;
            break;
        case O_NETFLOW5:
            if (n_nf5 == sizeof nf5_files / sizeof nf5_files[0])
                die("--netflow5: too many files");
            nf5_files[n_nf5++] = optarg;
            break;
        case O_MAXLEN: max_len = parse_num("--max-len", optarg, 1, 65507); break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (!out) {
        fputs(usage_text, stderr);
        die("-o OUT.pcap is required");
    }
    if (optind == argc && n_raw == 0 && n_nf5 == 0) {
        fputs(usage_text, stderr);
        die("no input: give FILE..., --raw FILE or --netflow5 FILE");
    }
    if (n_senders == 0)
        pktcraft_parse_ip("198.51.100.10", &senders[n_senders++]);

    for (unsigned i = 0; i < n_nf5; i++)
        add_netflow5(nf5_files[i], start);
    /* Everything is loaded first: --repeat replays stdin too. */
    for (unsigned i = 0; i < n_raw; i++) {
        size_t len;
        char *buf = load_file(raw_files[i], &len);
        if (len == 0 || len > 65507) {
            free(buf);
            if (len == 0)
                die("--raw: '%s' is empty", raw_files[i]);
            die("--raw: '%s' has %zu bytes, more than one UDP datagram holds (65507)", raw_files[i], len);
        }
        add_msg(buf, len, true);
    }
    int stdin_used = 0;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "-") == 0 && stdin_used++)
            die("'-' (stdin) given twice");
        size_t len;
        char *buf = load_file(argv[i], &len);
        split_lines(buf, len, skip_comments, wazuh);
    }
    if (n_msgs == 0)
        die("no datagrams: the input has no usable lines");

    char prefix[8] = "";
    size_t prefix_len = 0;
    if (pri >= 0)
        prefix_len = (size_t)snprintf(prefix, sizeof prefix, "<%ld>", pri);
    uint64_t cut = 0;
    for (size_t i = 0; i < n_msgs; i++) {
        size_t l = msgs[i].len + (!msgs[i].raw && prefix_len && msgs[i].p[0] != '<' ? prefix_len : 0);
        if (!msgs[i].raw && l > max_len)
            cut++;
    }

    pcap_t *pd = pcap_open_dead(DLT_EN10MB, SNAPLEN);
    if (!pd)
        die("pcap_open_dead failed");
    /* pcap_dump_open_append creates the file when it does not exist yet. */
    pcap_dumper_t *dumper = append ? pcap_dump_open_append(pd, out) : pcap_dump_open(pd, out);
    if (!dumper)
        die("cannot write '%s': %s", out, pcap_geterr(pd));

    static char payload[65536 + 16];
    uint8_t *fbuf = malloc(FRAME_BUF);
    static struct pktcraft_frame frames[MAX_FRAMES];
    if (!fbuf)
        die("out of memory");
    struct pktcraft_opts o;
    pktcraft_opts_init(&o);
    o.sport = (uint16_t)sport;
    o.dport = (uint16_t)dport;
    o.n_vlan = (uint8_t)n_vlan;
    o.vlan[0] = vlan[0];
    o.vlan[1] = vlan[1];

    uint64_t n_frames = 0, n_dgrams = 0, n_fragmented = 0;
    for (unsigned long rep = 0; rep < repeat; rep++) {
        for (size_t i = 0; i < n_msgs; i++) {
            const struct msg *m = &msgs[i];
            size_t len = 0;
            if (m->raw) {
                memcpy(payload, m->p, m->len);
                len = m->len;
            } else {
                if (prefix_len && m->p[0] != '<') {
                    memcpy(payload, prefix, prefix_len);
                    len = prefix_len;
                }
                size_t l = m->len;
                if (len + l > max_len)
                    l = max_len > len ? max_len - len : 0;
                memcpy(payload + len, m->p, l);
                len += l;
                if (len > max_len)
                    len = max_len;
                if (pad_to) {
                    if (len < pad_to)
                        memset(payload + len, ' ', pad_to - len);
                    len = pad_to;
                }
            }
            o.src = senders[n_dgrams % n_senders];
            o.dst = o.src.family == 4 ? dst4 : dst6;
            o.ip_id = (uint32_t)(n_dgrams + 1);
            int nf = pktcraft_udp_fragments(&o, payload, len, mtu, fbuf, FRAME_BUF, frames, MAX_FRAMES);
            if (nf < 0)
                die("cannot build a frame for a %zu-byte datagram%s", len,
                    mtu ? " (is --mtu too small for the headers?)" : "");
            for (int f = 0; f < nf; f++) {
                struct pcap_pkthdr h;
                uint64_t us = n_frames * 1000000ull / pps;
                h.ts.tv_sec = (time_t)(start + us / 1000000);
                h.ts.tv_usec = (suseconds_t)(us % 1000000);
                h.caplen = h.len = frames[f].len;
                pcap_dump((u_char *)dumper, &h, frames[f].data);
                if (frames_dir) {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s%" PRIu64, frames_dir, frames_prefix, n_frames);
                    FILE *ff = fopen(path, "wb");
                    if (!ff || fwrite(frames[f].data, 1, frames[f].len, ff) != frames[f].len)
                        die("cannot write '%s': %s", path, strerror(errno));
                    fclose(ff);
                }
                n_frames++;
            }
            n_dgrams++;
            n_fragmented += nf > 1;
        }
    }
    if (pcap_dump_flush(dumper) != 0)
        die("write error on '%s'", out);
    pcap_dump_close(dumper);
    pcap_close(pd);
    free(fbuf);

    fprintf(stderr, PROG ": wrote %" PRIu64 " frames, %" PRIu64 " datagrams (%" PRIu64
            " fragmented) to %s\n", n_frames, n_dgrams, n_fragmented, out);
    if (cut)
        fprintf(stderr, PROG ": warning: %" PRIu64 " input lines longer than %lu bytes were cut\n",
                cut, max_len);
    return 0;
}
