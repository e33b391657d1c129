/* Flow rules: Sigma rules compiled to field tests on struct nf_record.
 *
 * Layout: everything a ruleset holds lives in a handful of flat arrays
 * (rules, selections, maps, tests, condition code, value pools) addressed by
 * offsets, so a rule that fails halfway is undone by truncating the arrays,
 * and evaluation walks small contiguous structures.
 */
#define _GNU_SOURCE
#include "engine/flow_rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/sigma.h"
#include "engine/source.h"

/* ------------------------------------------------------------------ */
/* fields                                                               */

enum ffield {
    F_SRC_IP,
    F_DST_IP,
    F_OBS_IP,
    F_SRC_PORT,
    F_DST_PORT,
    F_PROTO,
    F_BYTES,
    F_PACKETS,
    F_SRC_BYTES,
    F_SRC_PACKETS,
    F_DST_BYTES,
    F_DST_PACKETS,
    F_TCP_BITS,
    F_TCP_FLAGS,
    F_DURATION,
    F_SRC_AS,
    F_DST_AS,
    F_SRC_REP,
    F_DST_REP,
    F_DIRECTION,
};

/* What values a field takes, hence which values and modifiers it accepts. */
enum fkind {
    K_IP = 1,   /* address: exact or |cidr */
    K_PORT,     /* 0..65535 */
    K_PROTO,    /* 0..255 or a transport name */
    K_PROTONUM, /* 0..255 */
    K_NUM,      /* unsigned 64-bit */
    K_FLAGS,    /* tcp.flags letters */
    K_REP,      /* reputation list names */
    K_DIR,      /* ingress / egress */
};

static const struct {
    const char *name;
    uint8_t field, kind;
} field_table[] = {
    {"source.ip", F_SRC_IP, K_IP},
    {"destination.ip", F_DST_IP, K_IP},
    {"observer.ip", F_OBS_IP, K_IP},
    {"source.port", F_SRC_PORT, K_PORT},
    {"destination.port", F_DST_PORT, K_PORT},
    {"network.transport", F_PROTO, K_PROTO},
    {"network.iana_number", F_PROTO, K_PROTONUM},
    {"network.bytes", F_BYTES, K_NUM},
    {"network.packets", F_PACKETS, K_NUM},
    {"source.bytes", F_SRC_BYTES, K_NUM},
    {"source.packets", F_SRC_PACKETS, K_NUM},
    {"destination.bytes", F_DST_BYTES, K_NUM},
    {"destination.packets", F_DST_PACKETS, K_NUM},
    {"netflow.tcp_control_bits", F_TCP_BITS, K_NUM},
    {"tcp.flags", F_TCP_FLAGS, K_FLAGS},
    {"event.duration", F_DURATION, K_NUM},
    {"source.as.number", F_SRC_AS, K_NUM},
    {"destination.as.number", F_DST_AS, K_NUM},
    {"source.reputation", F_SRC_REP, K_REP},
    {"destination.reputation", F_DST_REP, K_REP},
    {"network.direction", F_DIRECTION, K_DIR},
};

/* IANA protocol keywords in the lowercase form ECS uses for
 * network.transport; the first name of a number is the one printed. */
static const struct {
    const char *name;
    uint8_t num;
} proto_names[] = {
    {"icmp", 1},    {"igmp", 2},  {"ipv4", 4},      {"tcp", 6},      {"egp", 8},    {"udp", 17},
    {"ipv6", 41},   {"rsvp", 46}, {"gre", 47},      {"esp", 50},     {"ah", 51},    {"ipv6-icmp", 58},
    {"icmpv6", 58}, {"eigrp", 88}, {"ospf", 89},    {"pim", 103},    {"vrrp", 112}, {"l2tp", 115},
    {"sctp", 132},  {"udplite", 136},
};

/* tcp.flags letters, in the order they are printed ("SA", "RA", "FPA"). */
static const char flag_letters[] = "FSRPAU";
#define TCP_FLAGS6 0x3fu

/* ------------------------------------------------------------------ */
/* compiled form                                                        */

#define F_COUNT (F_DIRECTION + 1)

/* Tests as the loader builds them (per selection and map, for ordering and
 * the prefilter); each becomes one instruction of the rule's program. */
enum top {
    T_PRESENT = 1, /* |exists: true */
    T_ABSENT,      /* null, |exists: false */
    T_RANGE,       /* lo <= v <= hi (a, b) */
    T_SET,         /* v in u64[off .. off+n), sorted */
    T_PORTMAP,     /* bit v of u64[off .. off+1024) */
    T_BYTEMAP,     /* bit v of u64[off .. off+4); v < 256 */
    T_SMALLMAP,    /* bit v of a; v < 64 */
    T_MASK,        /* v & a */
    T_NET,         /* groups[off .. off+n): IPv4 ones first (b of them) */
};

struct ftest {
    uint8_t field;   /* enum ffield */
    uint8_t op;      /* enum top */
    uint8_t null_ok; /* an absent field passes (a null among the values) */
    uint8_t cost;    /* order within a map: cheap first */
    uint32_t n, off;
    uint64_t a, b;
};

/* One prefix length of a CIDR list: its networks, sorted, in net4 or net6. */
struct ngroup {
    uint8_t family;
    uint8_t prefix;
    uint32_t n, off;
    uint64_t mhi, mlo; /* mask; IPv4 in the low 32 bits of mlo */
};

struct n6 {
    uint64_t hi, lo;
};

struct fmap {
    uint32_t off, n; /* tests */
};

struct fsel {
    uint32_t off, n; /* maps */
};

/* A rule runs as a branch program: each instruction tests one field and
 * names the next instruction for pass and for fail, so the condition,
 * its selections (maps ORed) and their maps (tests ANDed) stop at the
 * first test that decides them.  Few operations, so the dispatch stays
 * predictable: presence and absence are ranges. */
enum iop {
    I_RANGE,    /* a <= v <= b */
    I_SET,      /* v in u64[off .. off+n), sorted */
    I_BITMAP,   /* bit v of u64[off ..] (a port list, a protocol set) */
    I_SMALLMAP, /* bit v of a (v < 64: tcp.flags, network.direction) */
    I_MASK,     /* v & a (reputation lists) */
    I_NET,      /* the address in groups[off .. off+n), IPv4 ones first (b of them) */
};

#define PC_ACCEPT UINT32_MAX
#define PC_REJECT (UINT32_MAX - 1)
#define MAX_RULE_CODE 65536

struct finst {
    uint8_t op;      /* enum iop */
    uint8_t field;   /* enum ffield */
    uint8_t null_ok; /* the result when the record lacks the field */
    uint32_t t, f;   /* next instruction (rule-relative) or PC_ACCEPT / PC_REJECT */
    uint32_t n, off;
    uint64_t a, b;
};

struct frule {
    uint32_t code, entry;
};

/* Prefilter.  A record falls in one of 64 buckets along each dimension.
 * Each rule is indexed as a few clauses (see node_clauses); for every
 * (dimension, bucket) the index holds the set of clauses that admit a
 * record in that bucket.  A record's candidates are the AND of its eight
 * rows, so most rules are never looked at: the shipped pack runs no rule at
 * all for an ordinary finished connection.  Buckets collide (several
 * values, or a value and "absent", share one); that only costs a needless
 * evaluation, never a missed match. */
enum pf_dim {
    D_PROTO,   /* network.iana_number & 63; absent: 63 */
    D_DPORT,   /* destination.port & 63; absent: 63 */
    D_FLAGS,   /* tcp.flags (6 bits); absent: 0 */
    D_BYTES,   /* bit length of network.bytes (see log_bucket); absent: 0 */
    D_PACKETS, /* bit length of network.packets; absent: 0 */
    D_REP,     /* source listed | destination listed << 1 */
    D_SNET,    /* IPv4 source.ip first octet >> 2; IPv6, absent: 63 */
    D_DNET,    /* the same for destination.ip */
    PF_DIMS
};

struct flow_ruleset {
    struct frule *rules;
    struct rule_info *info;
    unsigned n_rules;
    struct finst *code;
    uint64_t *u64;
    uint32_t *net4;
    struct n6 *net6;
    struct ngroup *groups;
    uint64_t *index;           /* [word][dim][bucket]: clauses 64w..64w+63 admitting the bucket */
    uint32_t *clause_rule;     /* rule of each clause (a rule's clauses are consecutive) */
    uint32_t pf_words;
    uint64_t hash;
};

/* ------------------------------------------------------------------ */
/* evaluation                                                           */

static inline uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t be64(const uint8_t *p) { return (uint64_t)be32(p) << 32 | be32(p + 4); }

/* A record's field values, computed once per record that some rule may
 * match (the prefilter rejected the others): tests then read an array
 * instead of deriving a value each time.  Addresses are tested in the
 * record itself; their slots only hold presence. */
struct fvals {
    uint64_t v[F_COUNT];
    uint32_t pres; /* bit f: the record has field f */
};

static void load_fields(const struct nf_record *r, uint32_t rep_src, uint32_t rep_dst, struct fvals *fv)
{
    const uint32_t p = r->present;
#define HAS(m) ((p & (m)) == (m))
    uint64_t *v = fv->v;
    uint32_t pres = 0;
    v[F_SRC_IP] = v[F_DST_IP] = v[F_OBS_IP] = 0;
    pres |= (uint32_t)(HAS(NF_HAS_SRC_IP) & (r->src.family == 4 || r->src.family == 6)) << F_SRC_IP;
    pres |= (uint32_t)(HAS(NF_HAS_DST_IP) & (r->dst.family == 4 || r->dst.family == 6)) << F_DST_IP;
    pres |= (uint32_t)(r->observer.family == 4 || r->observer.family == 6) << F_OBS_IP;
    v[F_SRC_PORT] = r->src_port;
    pres |= (uint32_t)HAS(NF_HAS_SRC_PORT) << F_SRC_PORT;
    v[F_DST_PORT] = r->dst_port;
    pres |= (uint32_t)HAS(NF_HAS_DST_PORT) << F_DST_PORT;
    v[F_PROTO] = r->proto;
    pres |= (uint32_t)HAS(NF_HAS_PROTO) << F_PROTO;
    v[F_BYTES] = r->bytes;
    pres |= (uint32_t)HAS(NF_HAS_BYTES) << F_BYTES;
    v[F_PACKETS] = r->packets;
    pres |= (uint32_t)HAS(NF_HAS_PACKETS) << F_PACKETS;
    /* saturating: an exporter's reverse count may exceed its total */
    v[F_SRC_BYTES] = r->bytes > r->rev_bytes ? r->bytes - r->rev_bytes : 0;
    pres |= (uint32_t)HAS(NF_HAS_BYTES | NF_HAS_REVERSE) << F_SRC_BYTES;
    v[F_SRC_PACKETS] = r->packets > r->rev_packets ? r->packets - r->rev_packets : 0;
    pres |= (uint32_t)HAS(NF_HAS_PACKETS | NF_HAS_REVERSE) << F_SRC_PACKETS;
    v[F_DST_BYTES] = r->rev_bytes;
    pres |= (uint32_t)HAS(NF_HAS_REVERSE) << F_DST_BYTES;
    v[F_DST_PACKETS] = r->rev_packets;
    pres |= (uint32_t)HAS(NF_HAS_REVERSE) << F_DST_PACKETS;
    v[F_TCP_BITS] = r->tcp_flags;
    pres |= (uint32_t)HAS(NF_HAS_TCP_FLAGS) << F_TCP_BITS;
    /* UDP records often carry a 0 flags word: tcp.flags '' must not match them */
    v[F_TCP_FLAGS] = r->tcp_flags & TCP_FLAGS6;
    pres |= (uint32_t)(HAS(NF_HAS_TCP_FLAGS | NF_HAS_PROTO) & (r->proto == 6)) << F_TCP_FLAGS;
    v[F_DURATION] = (uint64_t)r->end_ns - (uint64_t)r->start_ns;
    pres |= (uint32_t)(HAS(NF_HAS_START | NF_HAS_END) & (r->end_ns >= r->start_ns)) << F_DURATION;
    v[F_SRC_AS] = r->src_as;
    pres |= (uint32_t)HAS(NF_HAS_SRC_AS) << F_SRC_AS;
    v[F_DST_AS] = r->dst_as;
    pres |= (uint32_t)HAS(NF_HAS_DST_AS) << F_DST_AS;
    v[F_SRC_REP] = rep_src;
    pres |= (uint32_t)(rep_src != 0) << F_SRC_REP;
    v[F_DST_REP] = rep_dst;
    pres |= (uint32_t)(rep_dst != 0) << F_DST_REP;
    v[F_DIRECTION] = r->direction;
    pres |= (uint32_t)(HAS(NF_HAS_DIRECTION) & (r->direction <= NF_DIR_EGRESS)) << F_DIRECTION;
#undef HAS
    fv->pres = pres;
}

/* name(a, n, v): v is in the sorted a[0..n).  A scan for the short sets
 * most rules have, else a bisection.  One body for the u64 value sets and
 * the u32 IPv4 network sets: a macro, because both must stay inline in the
 * match loop and C has no generics. */
#define DEFINE_IN_SORTED(name, T)                                                                                  \
    static inline bool name(const T *a, uint32_t n, T v)                                                           \
    {                                                                                                              \
        if (n <= 8) {                                                                                              \
            for (uint32_t i = 0; i < n; i++)                                                                       \
                if (a[i] == v)                                                                                     \
                    return true;                                                                                   \
            return false;                                                                                          \
        }                                                                                                          \
        uint32_t lo = 0, hi = n;                                                                                   \
        while (lo < hi) {                                                                                          \
            uint32_t mid = lo + (hi - lo) / 2;                                                                     \
            if (a[mid] < v)                                                                                        \
                lo = mid + 1;                                                                                      \
            else                                                                                                   \
                hi = mid;                                                                                          \
        }                                                                                                          \
        return lo < n && a[lo] == v;                                                                               \
    }
DEFINE_IN_SORTED(in_sorted64, uint64_t)
DEFINE_IN_SORTED(in_sorted32, uint32_t)
#undef DEFINE_IN_SORTED

static inline bool n6_less(struct n6 a, struct n6 b) { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo); }

static inline bool in_sorted6(const struct n6 *a, uint32_t n, struct n6 v)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (n6_less(a[mid], v))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo].hi == v.hi && a[lo].lo == v.lo;
}

static bool net_match(const struct flow_ruleset *rs, const struct finst *t, const struct vigil_ip *ip)
{
    const struct ngroup *g = rs->groups + t->off;
    uint32_t n4 = (uint32_t)t->b;
    if (ip->family == 4) {
        uint32_t a = be32(ip->addr);
        for (uint32_t i = 0; i < n4; i++)
            if (in_sorted32(rs->net4 + g[i].off, g[i].n, a & (uint32_t)g[i].mlo))
                return true;
        return false;
    }
    struct n6 a = {be64(ip->addr), be64(ip->addr + 8)};
    for (uint32_t i = n4; i < t->n; i++) {
        struct n6 k = {a.hi & g[i].mhi, a.lo & g[i].mlo};
        if (in_sorted6(rs->net6 + g[i].off, g[i].n, k))
            return true;
    }
    return false;
}

static inline bool inst_eval(const struct flow_ruleset *rs, const struct nf_record *r, const struct fvals *fv,
                             const struct finst *t)
{
    if (!((fv->pres >> t->field) & 1))
        return t->null_ok;
    const uint64_t v = fv->v[t->field];
    switch (t->op) {
    case I_RANGE:
        return (v >= t->a) & (v <= t->b);
    case I_SMALLMAP:
        return (t->a >> v) & 1;
    case I_MASK:
        return (v & t->a) != 0;
    case I_BITMAP:
        return (rs->u64[t->off + (v >> 6)] >> (v & 63)) & 1;
    case I_SET:
        return in_sorted64(rs->u64 + t->off, t->n, v);
    default:
        return net_match(rs, t, t->field == F_SRC_IP ? &r->src : t->field == F_DST_IP ? &r->dst : &r->observer);
    }
}

static bool rule_eval(const struct flow_ruleset *rs, const struct nf_record *r, const struct fvals *fv,
                      const struct frule *ru)
{
    const struct finst *code = rs->code + ru->code;
    uint32_t pc = ru->entry;
    do {
        const struct finst *t = &code[pc];
        pc = inst_eval(rs, r, fv, t) ? t->t : t->f;
    } while (pc < PC_REJECT);
    return pc == PC_ACCEPT;
}

/* Bit length of v, with 0 and 1 sharing bucket 1 (0 is kept for absent)
 * and values from 2^62 up sharing 63: branch-free (lzcnt). */
static inline unsigned log_bucket(uint64_t v)
{
    unsigned b = 64u - (unsigned)__builtin_clzll(v | 1);
    return b - (b >> 6);
}

/* cond ? a : b without a branch: the record's fields decide these, and a
 * mispredicted branch costs more than the whole computation. */
static inline unsigned pick(bool cond, unsigned a, unsigned b) { return b ^ ((a ^ b) & -(unsigned)cond); }

/* The record's bucket along each dimension, as offsets in an index block. */
static inline void buckets(const struct nf_record *r, uint32_t rep_src, uint32_t rep_dst, unsigned b[PF_DIMS])
{
    const uint32_t p = r->present;
    const bool tcpf =
        (p & (NF_HAS_TCP_FLAGS | NF_HAS_PROTO)) == (NF_HAS_TCP_FLAGS | NF_HAS_PROTO) && r->proto == 6;
    b[D_PROTO] = D_PROTO * 64 + pick(p & NF_HAS_PROTO, r->proto & 63u, 63);
    b[D_DPORT] = D_DPORT * 64 + pick(p & NF_HAS_DST_PORT, r->dst_port & 63u, 63);
    b[D_FLAGS] = D_FLAGS * 64 + pick(tcpf, r->tcp_flags & TCP_FLAGS6, 0);
    b[D_BYTES] = D_BYTES * 64 + pick(p & NF_HAS_BYTES, log_bucket(r->bytes), 0);
    b[D_PACKETS] = D_PACKETS * 64 + pick(p & NF_HAS_PACKETS, log_bucket(r->packets), 0);
    b[D_REP] = D_REP * 64 + ((rep_src != 0) | (unsigned)(rep_dst != 0) << 1);
    b[D_SNET] = D_SNET * 64 + pick((p & NF_HAS_SRC_IP) && r->src.family == 4, r->src.addr[0] >> 2, 63);
    b[D_DNET] = D_DNET * 64 + pick((p & NF_HAS_DST_IP) && r->dst.family == 4, r->dst.addr[0] >> 2, 63);
}

static inline uint64_t candidates(const uint64_t *blk, const unsigned b[PF_DIMS])
{
    return blk[b[0]] & blk[b[1]] & blk[b[2]] & blk[b[3]] & blk[b[4]] & blk[b[5]] & blk[b[6]] & blk[b[7]];
}

/* Evaluates the candidates from index word w on, in rule order.  Out of
 * line: the prefilter alone decides most records, and inlined the
 * evaluator's register pressure made that path spill and save registers
 * on every call. */
__attribute__((noinline)) static unsigned run_from(const struct flow_ruleset *rs, const struct nf_record *r,
                                                   uint32_t rep_src, uint32_t rep_dst, uint32_t w, uint64_t bits,
                                                   uint32_t *out, unsigned max)
{
    unsigned b[PF_DIMS]; /* again: passing them would keep the caller's in memory */
    buckets(r, rep_src, rep_dst, b);
    struct fvals fv;
    load_fields(r, rep_src, rep_dst, &fv);
    unsigned m = 0, last = UINT32_MAX;
    for (;;) {
        while (bits) {
            unsigned i = rs->clause_rule[w * 64 + (unsigned)__builtin_ctzll(bits)];
            bits &= bits - 1;
            if (i == last) /* another clause of the rule just run */
                continue;
            last = i;
            if (rule_eval(rs, r, &fv, &rs->rules[i])) {
                if (m < max)
                    out[m] = i;
                m++;
            }
        }
        if (++w >= rs->pf_words)
            return m;
        bits = candidates(rs->index + (size_t)w * PF_DIMS * 64, b);
    }
}

unsigned flow_rules_eval(const struct flow_ruleset *rs, const struct nf_record *r, uint32_t rep_src,
                         uint32_t rep_dst, uint32_t *out, unsigned max)
{
    unsigned b[PF_DIMS];
    buckets(r, rep_src, rep_dst, b);
    const uint64_t *blk = rs->index;
    for (uint32_t w = 0; w < rs->pf_words; w++, blk += PF_DIMS * 64) {
        uint64_t bits = candidates(blk, b);
        if (bits)
            return run_from(rs, r, rep_src, rep_dst, w, bits, out, max);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* accessors and signals                                                */

unsigned flow_rules_count(const struct flow_ruleset *rs) { return rs ? rs->n_rules : 0; }

const struct rule_info *flow_rule_info(const struct flow_ruleset *rs, unsigned idx)
{
    return rs && idx < rs->n_rules ? &rs->info[idx] : NULL;
}

uint64_t flow_rules_hash(const struct flow_ruleset *rs) { return rs ? rs->hash : 0; }

static const char *proto_name(uint8_t p)
{
    for (size_t i = 0; i < sizeof proto_names / sizeof proto_names[0]; i++)
        if (proto_names[i].num == p)
            return proto_names[i].name;
    return NULL;
}

/* "192.0.2.1:22", "[2001:db8::1]:443", or the address alone when port < 0. */
/* The excerpt is written by hand, not with snprintf: a port scan at line
 * rate fills one signal per probe, and glibc's formatting costs several
 * hundred ns per signal.  The buffer always keeps room for the NUL. */
struct sbuf {
    char *b;
    size_t cap, o;
};

static void sb_put(struct sbuf *s, const char *p, size_t n)
{
    size_t room = s->cap - 1 - s->o;
    if (n > room)
        n = room;
    memcpy(s->b + s->o, p, n);
    s->o += n;
}

static void sb_str(struct sbuf *s, const char *p) { sb_put(s, p, strlen(p)); }

static void sb_u64(struct sbuf *s, uint64_t v)
{
    char t[20];
    size_t n = 0;
    do {
        t[sizeof t - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    sb_put(s, t + sizeof t - n, n);
}

static void sb_endpoint(struct sbuf *s, const struct vigil_ip *ip, int port)
{
    if (ip->family == 4) {
        for (int i = 0; i < 4; i++) {
            if (i)
                sb_put(s, ".", 1);
            sb_u64(s, ip->addr[i]);
        }
    } else if (ip->family == 6) {
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, ip->addr, a, sizeof a);
        if (port >= 0)
            sb_put(s, "[", 1);
        sb_str(s, a);
        if (port >= 0)
            sb_put(s, "]", 1);
    } else {
        sb_put(s, "?", 1);
    }
    if (port >= 0) {
        sb_put(s, ":", 1);
        sb_u64(s, (uint64_t)port);
    }
}

void flow_signal_fill(const struct flow_ruleset *rs, unsigned idx, const struct nf_record *r, int64_t received_ns,
                      struct vigil_signal *out)
{
    const struct rule_info *ri = flow_rule_info(rs, idx);
    const uint32_t p = r->present;
    memset(out, 0, sizeof *out);
    out->kind = SIGNAL_FLOW;
    out->rule_index = idx;
    out->ruleset_hash = rs->hash;
    if (ri) {
        out->level = ri->level;
        memcpy(out->rule_uuid, ri->uuid, sizeof out->rule_uuid);
    }
    out->ts_ns = (p & NF_HAS_START) ? r->start_ns : (p & NF_HAS_END) ? r->end_ns : r->export_ns;
    out->received_ns = received_ns;
    out->observer = r->observer;
    if (p & NF_HAS_SRC_IP)
        out->source_ip = r->src;
    if (p & NF_HAS_DST_IP)
        out->destination_ip = r->dst;
    if (p & NF_HAS_SRC_PORT)
        out->source_port = r->src_port;
    if (p & NF_HAS_DST_PORT)
        out->destination_port = r->dst_port;

    /* the excerpt: what an operator reads first, in the shape of a flow line */
    char *b = out->excerpt;
    const size_t cap = sizeof out->excerpt;
    struct sbuf sb = {b, cap, 0};
    const bool has_proto = p & NF_HAS_PROTO;
    const bool ported = has_proto && (r->proto == 6 || r->proto == 17 || r->proto == 132);
    const char *pn = has_proto ? proto_name(r->proto) : NULL;
    if (pn) {
        sb_str(&sb, pn);
    } else if (has_proto) {
        sb_str(&sb, "proto-");
        sb_u64(&sb, r->proto);
    } else {
        sb_str(&sb, "flow");
    }
    sb_put(&sb, " ", 1);
    sb_endpoint(&sb, &out->source_ip, ported && (p & NF_HAS_SRC_PORT) ? r->src_port : -1);
    sb_str(&sb, " -> ");
    sb_endpoint(&sb, &out->destination_ip, ported && (p & NF_HAS_DST_PORT) ? r->dst_port : -1);
    if (p & NF_HAS_PACKETS) {
        sb_str(&sb, " packets=");
        sb_u64(&sb, r->packets);
    }
    if (p & NF_HAS_BYTES) {
        sb_str(&sb, " bytes=");
        sb_u64(&sb, r->bytes);
    }
    if (has_proto && r->proto == 6 && (p & NF_HAS_TCP_FLAGS)) {
        char f[8];
        size_t k = 0;
        for (unsigned i = 0; i < 6; i++)
            if (r->tcp_flags & (1u << i))
                f[k++] = flag_letters[i];
        sb_str(&sb, " flags=");
        if (k)
            sb_put(&sb, f, k);
        else
            sb_str(&sb, "none");
    }
    size_t o = sb.o;
    memset(b + o, 0, cap - o); /* NUL-padded, as signals are compared and hashed whole */
    out->excerpt_len = (uint16_t)o;
}

/* ------------------------------------------------------------------ */
/* loader: growable arrays                                              */

static int grow(void **p, uint32_t *cap, uint64_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    if (need > UINT32_MAX / 2)
        return -1;
    uint32_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *np = realloc(*p, (size_t)c * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

struct builder {
    struct flow_ruleset *rs;
    struct clause *cl;        /* prefilter clauses of all rules, in rule order */
    uint32_t *cl_rule;        /* the rule of each clause */
    uint32_t n_cl, cap_cl, cap_cl_rule;
    /* the rule being compiled: its selections, maps and tests */
    struct fsel *sels;
    struct fmap *maps;
    struct ftest *tests;
    uint32_t cap_rules, cap_info, cap_sels, cap_maps, cap_tests, cap_code, cap_u64, cap_net4, cap_net6, cap_groups;
    uint32_t n_sels, n_maps, n_tests, n_code, n_u64, n_net4, n_net6, n_groups;
    const char *const *rep;
    unsigned n_rep;
    unsigned max_rules;
    uint64_t max_values, n_values;
    struct diag *d;
};

/* Per-rule compile state; the first error wins and names its line. */
struct rctx {
    struct builder *B;
    const struct sigma_rule *sr;
    bool oom;
    struct diag_first fail;
};

static void room(struct rctx *c, void **p, uint32_t *cap, uint64_t need, size_t elem)
{
    if (!c->fail.failed && grow(p, cap, need, elem)) {
        diag_first_set(&c->fail, c->sr->line, "out of memory");
        c->oom = true;
    }
}

static bool charge(struct rctx *c, unsigned line, uint64_t values)
{
    struct builder *B = c->B;
    if (B->n_values + values > B->max_values) {
        diag_first_set(&c->fail, line, "value limit (%" PRIu64 ") reached", B->max_values);
        return false;
    }
    B->n_values += values;
    return true;
}

/* ------------------------------------------------------------------ */
/* loader: values                                                       */

/* floor() and ceil() without libm, which vigil_engine does not link: any
 * double of magnitude 2^62 or more is already a whole number. */
static double dfloor(double x)
{
    if (!(x > -4611686018427387904.0 && x < 4611686018427387904.0))
        return x;
    double i = (double)(int64_t)x; /* truncates toward zero */
    return i > x ? i - 1 : i;
}

static double dceil(double x) { return -dfloor(-x); }

/* A whole number >= 0 (exactly, from the text when it is plain digits). */
static bool value_uint(const struct sigma_value *v, uint64_t *out)
{
    if (v->type != SIGMA_V_NUM && !(v->type == SIGMA_V_STR && v->num_ok))
        return false;
    const char *s = v->raw;
    size_t i = s[0] == '+';
    if (s[i] && strspn(s + i, "0123456789") == strlen(s + i)) {
        errno = 0;
        unsigned long long x = strtoull(s + i, NULL, 10);
        if (errno)
            return false;
        *out = x;
        return true;
    }
    /* 1e3, 22.0: whole numbers written otherwise */
    if (!v->num_ok || v->num < 0 || v->num >= 18446744073709551616.0 || dfloor(v->num) != v->num)
        return false;
    *out = (uint64_t)v->num;
    return true;
}

/* gt/gte/lt/lte on an unsigned field as an inclusive range [lo, hi];
 * false when no value can satisfy it.  Whole numbers are handled exactly
 * (a double cannot tell 2^62 from 2^62 + 1); fractions and negatives by
 * rounding toward what the comparison means. */
static bool value_bound(unsigned mods, const struct sigma_value *v, uint64_t *lo, uint64_t *hi)
{
    const double top = 18446744073709551616.0; /* 2^64 */
    const bool up = mods & (SIGMA_MOD_GT | SIGMA_MOD_GTE);
    *lo = 0;
    *hi = UINT64_MAX;
    uint64_t x;
    if (value_uint(v, &x)) {
        if (mods & SIGMA_MOD_GT)
            return x == UINT64_MAX ? false : (*lo = x + 1, true);
        if (mods & SIGMA_MOD_GTE)
            return *lo = x, true;
        if (mods & SIGMA_MOD_LT)
            return x == 0 ? false : (*hi = x - 1, true);
        return *hi = x, true;
    }
    if (up) {
        double b = (mods & SIGMA_MOD_GT) ? dfloor(v->num) + 1 : dceil(v->num);
        if (b >= top)
            return false;
        *lo = b <= 0 ? 0 : (uint64_t)b;
    } else {
        double b = (mods & SIGMA_MOD_LT) ? dceil(v->num) - 1 : dfloor(v->num);
        if (b < 0)
            return false;
        *hi = b >= top ? UINT64_MAX : (uint64_t)b;
    }
    return true;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static const char *mod_text(unsigned mods)
{
    for (unsigned bit = 1; bit <= SIGMA_MOD_CASED; bit <<= 1)
        if (mods & bit)
            return sigma_mod_name(bit);
    return "?";
}

static bool parse_flags(const char *s, uint32_t len, uint8_t *out)
{
    uint8_t m = 0;
    for (uint32_t i = 0; i < len; i++) {
        const char *at = strchr(flag_letters, toupper((unsigned char)s[i]));
        if (!s[i] || !at)
            return false;
        uint8_t bit = (uint8_t)(1u << (at - flag_letters));
        if (m & bit)
            return false;
        m |= bit;
    }
    *out = m;
    return true;
}

/* ------------------------------------------------------------------ */
/* loader: tests                                                        */

static struct ftest *new_test(struct rctx *c, uint8_t field, uint8_t op, bool null_ok)
{
    struct builder *B = c->B;
    room(c, (void **)&B->tests, &B->cap_tests, (uint64_t)B->n_tests + 1, sizeof(struct ftest));
    if (c->fail.failed)
        return NULL;
    struct ftest *t = &B->tests[B->n_tests++];
    memset(t, 0, sizeof *t);
    t->field = field;
    t->op = op;
    t->null_ok = null_ok;
    return t;
}

static uint32_t add_u64(struct rctx *c, const uint64_t *v, uint32_t n)
{
    struct builder *B = c->B;
    room(c, (void **)&B->rs->u64, &B->cap_u64, (uint64_t)B->n_u64 + n, sizeof(uint64_t));
    if (c->fail.failed)
        return 0;
    uint32_t off = B->n_u64;
    memcpy(B->rs->u64 + off, v, n * sizeof *v);
    B->n_u64 += n;
    return off;
}

struct netv {
    uint8_t family, prefix;
    struct n6 key; /* IPv4: lo holds the address */
};

static int cmp_netv(const void *a, const void *b)
{
    const struct netv *x = a, *y = b;
    if (x->family != y->family)
        return x->family < y->family ? -1 : 1;
    if (x->prefix != y->prefix)
        return x->prefix > y->prefix ? -1 : 1; /* longest first */
    if (x->key.hi != y->key.hi)
        return x->key.hi < y->key.hi ? -1 : 1;
    return x->key.lo < y->key.lo ? -1 : x->key.lo > y->key.lo;
}

/* CIDR list: networks grouped by (family, prefix), each group sorted, so a
 * lookup is one masked binary search per distinct prefix length. */
static void emit_net(struct rctx *c, uint8_t field, bool null_ok, struct netv *nv, uint32_t n)
{
    struct builder *B = c->B;
    qsort(nv, n, sizeof *nv, cmp_netv);
    uint32_t m = 0;
    for (uint32_t i = 0; i < n; i++)
        if (!m || cmp_netv(&nv[m - 1], &nv[i]) != 0)
            nv[m++] = nv[i];
    uint32_t g0 = B->n_groups, n4 = 0;
    for (uint32_t i = 0; i < m && !c->fail.failed;) {
        uint32_t j = i;
        while (j < m && nv[j].family == nv[i].family && nv[j].prefix == nv[i].prefix)
            j++;
        room(c, (void **)&B->rs->groups, &B->cap_groups, (uint64_t)B->n_groups + 1, sizeof(struct ngroup));
        if (c->fail.failed)
            return;
        struct ngroup *g = &B->rs->groups[B->n_groups++];
        memset(g, 0, sizeof *g);
        g->family = nv[i].family;
        g->prefix = nv[i].prefix;
        g->n = j - i;
        if (g->family == 4) {
            n4++;
            g->mlo = g->prefix ? (uint32_t)(0xffffffffu << (32 - g->prefix)) : 0;
            room(c, (void **)&B->rs->net4, &B->cap_net4, (uint64_t)B->n_net4 + g->n, sizeof(uint32_t));
            if (c->fail.failed)
                return;
            g->off = B->n_net4;
            for (uint32_t k = i; k < j; k++)
                B->rs->net4[B->n_net4++] = (uint32_t)nv[k].key.lo;
        } else {
            unsigned p = g->prefix;
            g->mhi = p >= 64 ? UINT64_MAX : p ? UINT64_MAX << (64 - p) : 0;
            g->mlo = p >= 128 ? UINT64_MAX : p > 64 ? UINT64_MAX << (128 - p) : 0;
            room(c, (void **)&B->rs->net6, &B->cap_net6, (uint64_t)B->n_net6 + g->n, sizeof(struct n6));
            if (c->fail.failed)
                return;
            g->off = B->n_net6;
            for (uint32_t k = i; k < j; k++)
                B->rs->net6[B->n_net6++] = nv[k].key;
        }
        i = j;
    }
    struct ftest *t = new_test(c, field, T_NET, null_ok);
    if (!t)
        return;
    t->off = g0;
    t->n = B->n_groups - g0;
    t->b = n4;
    t->cost = 3;
}

/* Compiles values v[0..nv) of one item into one test appended to the map. */
static void compile_values(struct rctx *c, const struct sigma_item *it, uint8_t field, uint8_t kind,
                           const struct sigma_value *v, unsigned nv)
{
    struct builder *B = c->B;
    const char *fname = it->field;
    const unsigned mods = it->mods & ~SIGMA_MOD_ALL;
    bool null_ok = false;
    unsigned nn = 0;
    for (unsigned i = 0; i < nv; i++)
        if (v[i].type == SIGMA_V_NULL)
            null_ok = true;
        else
            nn++;

    if (mods & SIGMA_MOD_EXISTS) {
        if (nv != 1) {
            diag_first_set(&c->fail, it->line, "modifier 'exists' takes one value, true or false (field '%s')", fname);
            return;
        }
        struct ftest *t = new_test(c, field, v[0].b ? T_PRESENT : T_ABSENT, false);
        if (t)
            t->cost = 0;
        return;
    }
    if (!nn) { /* field: null */
        struct ftest *t = new_test(c, field, T_ABSENT, false);
        if (t)
            t->cost = 0;
        return;
    }
    for (unsigned i = 0; i < nv; i++)
        if (v[i].type == SIGMA_V_BOOL) {
            diag_first_set(&c->fail, v[i].line, "boolean value '%s' for field '%s'", v[i].raw, fname);
            return;
        }
    if (!charge(c, it->line, nn))
        return;

    if (mods & SIGMA_MOD_CIDR) {
        if (kind != K_IP) {
            diag_first_set(&c->fail, it->line, "modifier 'cidr' applies to address fields, not '%s'", fname);
            return;
        }
    }
    if (mods & SIGMA_MOD_NUMERIC) {
        if (kind != K_PORT && kind != K_PROTO && kind != K_PROTONUM && kind != K_NUM) {
            diag_first_set(&c->fail, it->line, "modifier '%s' applies to numeric fields, not '%s'", mod_text(mods & SIGMA_MOD_NUMERIC),
                  fname);
            return;
        }
        /* a list is ORed: x > 3 or x > 5 is x > 3 */
        uint64_t lo = UINT64_MAX, hi = 0;
        bool any = false;
        for (unsigned i = 0; i < nv; i++) {
            uint64_t l, h;
            if (v[i].type == SIGMA_V_NULL || !value_bound(mods, &v[i], &l, &h))
                continue;
            any = true;
            if (l < lo)
                lo = l;
            if (h > hi)
                hi = h;
        }
        if (mods & (SIGMA_MOD_GT | SIGMA_MOD_GTE))
            hi = UINT64_MAX;
        else
            lo = 0;
        struct ftest *t = new_test(c, field, T_RANGE, null_ok);
        if (!t)
            return;
        t->a = any ? lo : 1; /* nothing satisfiable: an empty range */
        t->b = any ? hi : 0;
        t->cost = 1;
        return;
    }

    switch (kind) {
    case K_IP: {
        struct netv *nvs = calloc(nn, sizeof *nvs);
        if (!nvs) {
            diag_first_set(&c->fail, it->line, "out of memory");
            c->oom = true;
            return;
        }
        uint32_t k = 0;
        for (unsigned i = 0; i < nv && !c->fail.failed; i++) {
            if (v[i].type == SIGMA_V_NULL)
                continue;
            struct vigil_ip ip = v[i].net;
            uint8_t prefix = v[i].prefix;
            if (!(mods & SIGMA_MOD_CIDR)) {
                if (memchr(v[i].raw, '/', v[i].len)) {
                    diag_first_set(&c->fail, v[i].line, "'%s' is a network: use %s|cidr", v[i].raw, fname);
                    break;
                }
                if (memchr(v[i].raw, '\0', v[i].len) || !sigma_parse_cidr(v[i].raw, &ip, &prefix)) {
                    diag_first_set(&c->fail, v[i].line, "'%s' is not an IP address (field '%s')", v[i].raw, fname);
                    break;
                }
            }
            struct netv *x = &nvs[k++];
            x->family = ip.family;
            x->prefix = prefix;
            if (ip.family == 4)
                x->key.lo = be32(ip.addr);
            else
                x->key = (struct n6){be64(ip.addr), be64(ip.addr + 8)};
        }
        if (!c->fail.failed)
            emit_net(c, field, null_ok, nvs, k);
        free(nvs);
        return;
    }
    case K_PORT:
    case K_PROTO:
    case K_PROTONUM:
    case K_NUM: {
        uint64_t *vals = calloc(nn, sizeof *vals);
        if (!vals) {
            diag_first_set(&c->fail, it->line, "out of memory");
            c->oom = true;
            return;
        }
        uint32_t k = 0;
        const uint64_t maxv = kind == K_PORT ? 65535 : kind == K_NUM ? (field == F_TCP_BITS ? 65535 : UINT64_MAX) : 255;
        for (unsigned i = 0; i < nv; i++) {
            if (v[i].type == SIGMA_V_NULL)
                continue;
            uint64_t x = 0;
            bool ok = value_uint(&v[i], &x) && x <= maxv;
            if (!ok && kind == K_PROTO && !memchr(v[i].raw, '\0', v[i].len))
                for (size_t j = 0; j < sizeof proto_names / sizeof proto_names[0] && !ok; j++)
                    if (!strcasecmp(v[i].raw, proto_names[j].name))
                        x = proto_names[j].num, ok = true;
            if (!ok) {
                if (kind == K_PROTO)
                    diag_first_set(&c->fail, v[i].line, "unknown transport '%s' (a protocol name such as tcp, udp, icmp, or 0..255)",
                          v[i].raw);
                else
                    diag_first_set(&c->fail, v[i].line, "field '%s' needs a whole number 0..%" PRIu64 ", not '%s'", fname, maxv,
                          v[i].raw);
                break;
            }
            vals[k++] = x;
        }
        if (c->fail.failed) {
            free(vals);
            return;
        }
        qsort(vals, k, sizeof *vals, cmp_u64);
        uint32_t m = 0;
        for (uint32_t i = 0; i < k; i++)
            if (!m || vals[m - 1] != vals[i])
                vals[m++] = vals[i];
        struct ftest *t = NULL;
        if (kind == K_PROTO || kind == K_PROTONUM) {
            uint64_t bm[4] = {0};
            for (uint32_t i = 0; i < m; i++)
                bm[vals[i] >> 6] |= 1ull << (vals[i] & 63);
            uint32_t off = add_u64(c, bm, 4);
            if ((t = new_test(c, field, T_BYTEMAP, null_ok)))
                t->off = off, t->n = m, t->cost = 1;
        } else if (kind == K_PORT && m > 16) {
            /* a large port list: one bit test instead of a search; 8 KiB */
            if (!charge(c, it->line, 1024)) {
                free(vals);
                return;
            }
            uint64_t *bm = calloc(1024, sizeof *bm);
            if (!bm) {
                diag_first_set(&c->fail, it->line, "out of memory");
                c->oom = true;
                free(vals);
                return;
            }
            for (uint32_t i = 0; i < m; i++)
                bm[vals[i] >> 6] |= 1ull << (vals[i] & 63);
            uint32_t off = add_u64(c, bm, 1024);
            free(bm);
            if ((t = new_test(c, field, T_PORTMAP, null_ok)))
                t->off = off, t->n = m, t->cost = 2;
        } else {
            uint32_t off = add_u64(c, vals, m);
            if ((t = new_test(c, field, T_SET, null_ok)))
                t->off = off, t->n = m, t->cost = m <= 2 ? 1 : 2;
        }
        free(vals);
        return;
    }
    case K_FLAGS:
    case K_DIR:
    case K_REP: {
        uint64_t set = 0;
        for (unsigned i = 0; i < nv; i++) {
            if (v[i].type == SIGMA_V_NULL)
                continue;
            bool embedded_nul = memchr(v[i].raw, '\0', v[i].len) != NULL;
            if (kind == K_FLAGS) {
                uint8_t f;
                if (embedded_nul || !parse_flags(v[i].raw, v[i].len, &f)) {
                    diag_first_set(&c->fail, v[i].line, "tcp.flags value '%s': letters F S R P A U, each at most once (e.g. S, SA, RA)",
                          v[i].raw);
                    return;
                }
                set |= 1ull << f;
            } else if (kind == K_DIR) {
                if (!strcasecmp(v[i].raw, "ingress"))
                    set |= 1ull << NF_DIR_INGRESS;
                else if (!strcasecmp(v[i].raw, "egress"))
                    set |= 1ull << NF_DIR_EGRESS;
                else {
                    diag_first_set(&c->fail, v[i].line, "network.direction value '%s': flow records know ingress or egress", v[i].raw);
                    return;
                }
            } else {
                unsigned j = 0;
                while (j < B->n_rep && (embedded_nul || strcasecmp(v[i].raw, B->rep[j])))
                    j++;
                if (j == B->n_rep) {
                    char known[200];
                    size_t o = 0;
                    known[0] = '\0';
                    for (unsigned q = 0; q < B->n_rep && o < sizeof known - 40; q++)
                        o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", q ? ", " : "", B->rep[q]);
                    diag_first_set(&c->fail, v[i].line, "unknown reputation list '%s' (field '%s'; lists: %s)", v[i].raw, fname,
                          B->n_rep ? known : "none configured");
                    return;
                }
                set |= 1ull << j;
            }
        }
        struct ftest *t = new_test(c, field, kind == K_REP ? T_MASK : T_SMALLMAP, null_ok);
        if (t)
            t->a = set, t->cost = 0;
        return;
    }
    }
}

static void compile_item(struct rctx *c, const struct sigma_item *it)
{
    if (!it->field[0]) {
        diag_first_set(&c->fail, it->line, "keyword search is not supported on flow records");
        return;
    }
    const unsigned bad = SIGMA_MOD_CONTAINS | SIGMA_MOD_STARTSWITH | SIGMA_MOD_ENDSWITH | SIGMA_MOD_RE |
                         SIGMA_MOD_RE_I | SIGMA_MOD_RE_M | SIGMA_MOD_RE_S | SIGMA_MOD_CASED;
    if (it->mods & bad) {
        diag_first_set(&c->fail, it->line, "modifier '%s' is not supported on flow fields (field '%s')", mod_text(it->mods & bad),
              it->field);
        return;
    }
    int fi = -1;
    for (size_t i = 0; i < sizeof field_table / sizeof field_table[0]; i++)
        if (!strcmp(it->field, field_table[i].name))
            fi = (int)i;
    if (fi < 0) {
        diag_first_set(&c->fail, it->line, "unknown flow field '%s'", it->field);
        return;
    }
    const uint8_t field = field_table[fi].field, kind = field_table[fi].kind;
    if ((it->mods & SIGMA_MOD_ALL) && !(it->mods & SIGMA_MOD_EXISTS) && it->nv > 1) {
        /* |all: every value is its own test, all in the same map */
        for (unsigned i = 0; i < it->nv && !c->fail.failed; i++)
            compile_values(c, it, field, kind, &it->v[i], 1);
    } else {
        compile_values(c, it, field, kind, it->v, it->nv);
    }
}

static int cmp_cost(const void *a, const void *b)
{
    const struct ftest *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    return x->field < y->field ? -1 : x->field > y->field; /* deterministic, protocol before counters */
}

static void compile_selection(struct rctx *c, const struct sigma_selection *s)
{
    struct builder *B = c->B;
    if (s->keywords) {
        diag_first_set(&c->fail, s->line, "keyword selection '%s' (a search of the message) is not supported on flow records",
              s->name);
        return;
    }
    room(c, (void **)&B->sels, &B->cap_sels, (uint64_t)B->n_sels + 1, sizeof(struct fsel));
    if (c->fail.failed)
        return;
    uint32_t si = B->n_sels++;
    B->sels[si].off = B->n_maps;
    B->sels[si].n = s->n;
    room(c, (void **)&B->maps, &B->cap_maps, (uint64_t)B->n_maps + s->n, sizeof(struct fmap));
    if (c->fail.failed)
        return;
    uint32_t m0 = B->n_maps;
    B->n_maps += s->n;
    for (unsigned m = 0; m < s->n && !c->fail.failed; m++) {
        uint32_t t0 = B->n_tests;
        for (unsigned i = 0; i < s->maps[m].n && !c->fail.failed; i++)
            compile_item(c, &s->maps[m].items[i]);
        if (c->fail.failed)
            return;
        qsort(B->tests + t0, B->n_tests - t0, sizeof(struct ftest), cmp_cost);
        B->maps[m0 + m].off = t0;
        B->maps[m0 + m].n = B->n_tests - t0;
    }
}

/* ------------------------------------------------------------------ */
/* loader: condition and prefilter                                      */

struct cnode {
    uint8_t op;        /* enum sigma_opcode */
    uint32_t sel;      /* SIGMA_OP_SEL */
    uint32_t kid, nk;  /* children: kids[kid .. kid+nk) */
};

struct ctree {
    struct cnode *n;
    uint32_t *kids;
    uint32_t nn, nkids, root;
};

static int tree_build(const struct sigma_rule *sr, struct ctree *t)
{
    uint32_t *stack = malloc((sr->ncond + 1) * sizeof *stack);
    t->n = malloc((sr->ncond + 1) * sizeof *t->n);
    t->kids = malloc((sr->ncond + 1) * sizeof *t->kids);
    t->nn = t->nkids = 0;
    if (!stack || !t->n || !t->kids) {
        free(stack);
        return -1;
    }
    uint32_t sp = 0;
    for (unsigned i = 0; i < sr->ncond; i++) {
        const struct sigma_op *op = &sr->cond[i];
        struct cnode *nd = &t->n[t->nn];
        nd->op = op->op;
        nd->sel = 0;
        nd->kid = nd->nk = 0;
        if (op->op == SIGMA_OP_SEL) {
            nd->sel = op->arg;
        } else {
            uint32_t k = op->op == SIGMA_OP_NOT ? 1 : op->arg;
            if (k > sp || k == 0) { /* sigma.h promises well-formed postfix; never trust it blindly */
                free(stack);
                return -2;
            }
            nd->kid = t->nkids;
            nd->nk = k;
            memcpy(t->kids + t->nkids, stack + sp - k, k * sizeof *stack);
            t->nkids += k;
            sp -= k;
        }
        stack[sp++] = t->nn++;
    }
    int rc = sp == 1 ? 0 : -2;
    t->root = sp ? stack[0] : 0;
    free(stack);
    return rc;
}

/* One test as an instruction going to on_true / on_false; returns its
 * rule-relative index. */
static uint32_t emit_test(struct rctx *c, const struct ftest *t, uint32_t on_true, uint32_t on_false, uint32_t base)
{
    struct builder *B = c->B;
    if (B->n_code - base >= MAX_RULE_CODE)
        diag_first_set(&c->fail, c->sr->line, "rule too large (its condition expands to more than %u tests)", MAX_RULE_CODE);
    room(c, (void **)&B->rs->code, &B->cap_code, (uint64_t)B->n_code + 1, sizeof(struct finst));
    if (c->fail.failed)
        return PC_REJECT;
    struct finst *i = &B->rs->code[B->n_code];
    memset(i, 0, sizeof *i);
    i->field = t->field;
    i->null_ok = t->null_ok;
    i->t = on_true;
    i->f = on_false;
    i->n = t->n;
    i->off = t->off;
    i->a = t->a;
    i->b = t->b;
    switch (t->op) {
    case T_PRESENT: /* any value */
        i->op = I_RANGE, i->a = 0, i->b = UINT64_MAX, i->null_ok = 0;
        break;
    case T_ABSENT: /* no value */
        i->op = I_RANGE, i->a = 1, i->b = 0, i->null_ok = 1;
        break;
    case T_RANGE:
        i->op = I_RANGE;
        break;
    case T_SET:
        i->op = I_SET;
        break;
    case T_PORTMAP:
    case T_BYTEMAP:
        i->op = I_BITMAP;
        break;
    case T_SMALLMAP:
        i->op = I_SMALLMAP;
        break;
    case T_MASK:
        i->op = I_MASK;
        break;
    default:
        i->op = I_NET;
        break;
    }
    return B->n_code++ - base;
}

/* Emits the branch program of node x: true goes to t, false to f; returns
 * the entry.  Parts are emitted last to first so their targets exist. */
static uint32_t gen(struct rctx *c, const struct ctree *tr, uint32_t x, uint32_t t, uint32_t f, uint32_t base)
{
    const struct cnode *nd = &tr->n[x];
    struct builder *B = c->B;
    switch (nd->op) {
    case SIGMA_OP_SEL: {
        /* maps ORed: a failing map goes on to the next; tests ANDed */
        const struct fsel *s = &B->sels[nd->sel];
        uint32_t next = f;
        for (uint32_t mi = s->n; mi-- > 0 && !c->fail.failed;) {
            const struct fmap *mp = &B->maps[s->off + mi];
            uint32_t e = t;
            for (uint32_t k = mp->n; k-- > 0;)
                e = emit_test(c, &B->tests[mp->off + k], e, next, base);
            next = e;
        }
        return next;
    }
    case SIGMA_OP_NOT:
        return gen(c, tr, tr->kids[nd->kid], f, t, base);
    case SIGMA_OP_AND: {
        uint32_t e = t;
        for (uint32_t i = nd->nk; i-- > 0;)
            e = gen(c, tr, tr->kids[nd->kid + i], e, f, base);
        return e;
    }
    default: { /* OR */
        uint32_t e = f;
        for (uint32_t i = nd->nk; i-- > 0;)
            e = gen(c, tr, tr->kids[nd->kid + i], t, e, base);
        return e;
    }
    }
}

/* Buckets lo..hi (inclusive, <= 63) as a mask. */
static uint64_t span(unsigned lo, unsigned hi)
{
    uint64_t upto = hi >= 63 ? ~0ull : (1ull << (hi + 1)) - 1;
    return upto & ~((1ull << lo) - 1);
}

/* Residues (v & 63) of the values a numeric test accepts. */
static uint64_t residues(const struct flow_ruleset *rs, const struct ftest *t)
{
    uint64_t m = 0;
    switch (t->op) {
    case T_RANGE:
        if (t->a > t->b)
            return 0;
        if (t->b - t->a >= 63)
            return ~0ull;
        for (uint64_t v = t->a;; v++) {
            m |= 1ull << (v & 63);
            if (v == t->b)
                break;
        }
        return m;
    case T_SET:
        for (uint32_t i = 0; i < t->n; i++)
            m |= 1ull << (rs->u64[t->off + i] & 63);
        return m;
    case T_BYTEMAP:
    case T_PORTMAP: /* bit b of word w is value 64w + b: residue b */
        for (uint32_t w = 0; w < (t->op == T_BYTEMAP ? 4u : 1024u); w++)
            m |= rs->u64[t->off + w];
        return m;
    }
    return ~0ull;
}

/* Bit-length buckets of the values a numeric test accepts. */
static uint64_t log_buckets(const struct flow_ruleset *rs, const struct ftest *t)
{
    uint64_t m = 0;
    if (t->op == T_RANGE)
        return t->a > t->b ? 0 : span(log_bucket(t->a), log_bucket(t->b));
    if (t->op == T_SET) {
        for (uint32_t i = 0; i < t->n; i++)
            m |= 1ull << log_bucket(rs->u64[t->off + i]);
        return m;
    }
    return ~0ull;
}

/* First-octet buckets of the IPv4 networks of a T_NET test; IPv6 ones: 63. */
static uint64_t net_buckets(const struct flow_ruleset *rs, const struct ftest *t)
{
    uint64_t m = 0;
    for (uint32_t g = 0; g < t->n; g++) {
        const struct ngroup *gr = &rs->groups[t->off + g];
        if (gr->family != 4) {
            m |= 1ull << 63;
            continue;
        }
        for (uint32_t i = 0; i < gr->n; i++) {
            unsigned o = rs->net4[gr->off + i] >> 24, last = gr->prefix >= 8 ? o : o | (0xffu >> gr->prefix);
            m |= span(o >> 2, last >> 2);
        }
    }
    return m;
}

/* Which buckets of dimension dim a record can be in when test t passes.
 * Must never leave out a bucket of a passing record; a superset is fine. */
static uint64_t test_mask(const struct flow_ruleset *rs, const struct ftest *t, unsigned dim)
{
    /* what an absent field looks like along each dimension */
    static const uint64_t absent_bit[PF_DIMS] = {1ull << 63, 1ull << 63, 1, 1, 1, 0, 1ull << 63, 1ull << 63};
    const bool pos = t->op != T_ABSENT && t->op != T_PRESENT && !t->null_ok; /* needs a value */
    uint64_t m;
    switch (dim) {
    case D_PROTO:
        if (t->field == F_TCP_FLAGS) /* tcp.flags exists only on TCP records */
            return pos || t->op == T_PRESENT ? 1ull << 6 : ~0ull;
        if (t->field != F_PROTO)
            return ~0ull;
        m = residues(rs, t);
        break;
    case D_DPORT:
        if (t->field != F_DST_PORT)
            return ~0ull;
        m = residues(rs, t);
        break;
    case D_FLAGS:
        if (t->field != F_TCP_FLAGS)
            return ~0ull;
        m = t->op == T_SMALLMAP ? t->a : ~0ull;
        break;
    case D_BYTES:
    case D_PACKETS: {
        unsigned f = dim == D_BYTES ? F_BYTES : F_PACKETS, fs = dim == D_BYTES ? F_SRC_BYTES : F_SRC_PACKETS;
        if (t->field == fs) {
            /* source.x <= network.x, and both are present together: a lower
             * bound on source.x is one on network.x */
            if (!pos || (t->op == T_RANGE && t->a > t->b))
                return pos ? 0 : ~0ull;
            uint64_t lo = t->op == T_RANGE ? t->a : t->op == T_SET ? rs->u64[t->off] : 0;
            return span(log_bucket(lo), 63);
        }
        if (t->field != f)
            return ~0ull;
        m = log_buckets(rs, t);
        break;
    }
    case D_REP:
        if (t->field != F_SRC_REP && t->field != F_DST_REP)
            return ~0ull;
        {
            uint64_t listed = t->field == F_SRC_REP ? 0xa : 0xc; /* buckets with its bit set */
            if (t->op == T_ABSENT)
                return ~listed & 0xf;
            return t->op == T_MASK && !t->null_ok ? listed : ~0ull;
        }
    default: /* D_SNET, D_DNET */
        if (t->field != (dim == D_SNET ? F_SRC_IP : F_DST_IP))
            return ~0ull;
        m = t->op == T_NET ? net_buckets(rs, t) : ~0ull;
        break;
    }
    if (t->op == T_PRESENT)
        return ~0ull;
    if (t->op == T_ABSENT)
        return absent_bit[dim];
    return t->null_ok ? m | absent_bit[dim] : m;
}

/* The prefilter sees a rule as an OR of up to MAX_CLAUSES clauses, each an
 * AND over the dimensions (a mask of admitted buckets per dimension): its
 * condition in disjunctive form, so "1 of sel_*" over selections that
 * constrain different fields still rejects most records.  Past the bound,
 * clauses are merged (the union along each dimension), which only admits
 * more. */
#define MAX_CLAUSES 8

struct clause {
    uint64_t m[PF_DIMS];
};

struct clist {
    struct clause c[MAX_CLAUSES];
    unsigned n;
};

static void clist_all(struct clist *l)
{
    l->n = 1;
    for (unsigned k = 0; k < PF_DIMS; k++)
        l->c[0].m[k] = ~0ull;
}

/* Adds c unless no record can satisfy it; merges everything when full. */
static void clist_add(struct clist *l, const struct clause *c)
{
    for (unsigned k = 0; k < PF_DIMS; k++)
        if (!c->m[k])
            return;
    if (l->n < MAX_CLAUSES) {
        l->c[l->n++] = *c;
        return;
    }
    for (unsigned i = 1; i < l->n; i++)
        for (unsigned k = 0; k < PF_DIMS; k++)
            l->c[0].m[k] |= l->c[i].m[k];
    for (unsigned k = 0; k < PF_DIMS; k++)
        l->c[0].m[k] |= c->m[k];
    l->n = 1;
}

static void node_clauses(const struct builder *B, const struct ctree *tr, uint32_t x, struct clist *out)
{
    const struct cnode *nd = &tr->n[x];
    out->n = 0;
    if (nd->op == SIGMA_OP_SEL) { /* a clause per map */
        const struct fsel *s = &B->sels[nd->sel];
        for (uint32_t i = 0; i < s->n; i++) {
            const struct fmap *mp = &B->maps[s->off + i];
            struct clause c;
            for (unsigned k = 0; k < PF_DIMS; k++) {
                c.m[k] = ~0ull;
                for (uint32_t t = 0; t < mp->n; t++)
                    c.m[k] &= test_mask(B->rs, &B->tests[mp->off + t], k);
            }
            clist_add(out, &c);
        }
        return;
    }
    if (nd->op == SIGMA_OP_NOT) { /* "not x" says nothing usable about which values pass */
        clist_all(out);
        return;
    }
    struct clist kid;
    if (nd->op == SIGMA_OP_OR) {
        for (uint32_t i = 0; i < nd->nk; i++) {
            node_clauses(B, tr, tr->kids[nd->kid + i], &kid);
            for (unsigned j = 0; j < kid.n; j++)
                clist_add(out, &kid.c[j]);
        }
        return;
    }
    /* AND: the pairwise intersections of the children's clauses */
    clist_all(out);
    for (uint32_t i = 0; i < nd->nk && out->n; i++) {
        node_clauses(B, tr, tr->kids[nd->kid + i], &kid);
        struct clist acc = {.n = 0};
        for (unsigned a = 0; a < out->n; a++)
            for (unsigned b = 0; b < kid.n; b++) {
                struct clause c;
                for (unsigned k = 0; k < PF_DIMS; k++)
                    c.m[k] = out->c[a].m[k] & kid.c[b].m[k];
                clist_add(&acc, &c);
            }
        *out = acc;
    }
}

/* ------------------------------------------------------------------ */
/* loader: rules                                                        */

static bool is_flow_logsource(const struct logsource *ls)
{
    bool cat = !strcasecmp(ls->category, "flow");
    bool prod = !strcasecmp(ls->product, "netflow") || !strcasecmp(ls->product, "ipfix");
    return !ls->service[0] && (cat || !ls->category[0]) && (prod || !ls->product[0]) && (cat || prod);
}

/* Returns -1 when out of memory (the load stops), else 0. */
static int compile_rule(struct builder *B, const struct sigma_rule *sr)
{
    const char *what = sr->id ? sr->id : sr->title ? sr->title : "";
    struct flow_ruleset *rs = B->rs;
    if (!is_flow_logsource(&sr->ls)) {
        char ls[160];
        logsource_format(&sr->ls, ls, sizeof ls);
        diag_add(B->d, DIAG_WARNING, sr->file, sr->line, what,
                 "log source '%s' is not a flow log source (category: flow): skipped", ls);
        return 0;
    }
    if (rs->n_rules >= B->max_rules) {
        diag_add(B->d, DIAG_ERROR, sr->file, sr->line, what, "rule limit (%u) reached", B->max_rules);
        return 0;
    }
    /* selections, maps and tests are this rule's scratch; the rest is undone on error */
    B->n_sels = B->n_maps = B->n_tests = 0;
    const uint32_t c0 = B->n_code, u0 = B->n_u64, a0 = B->n_net4, b0 = B->n_net6, g0 = B->n_groups;
    const uint64_t v0 = B->n_values;
    struct rctx c = {.B = B, .sr = sr};
    for (unsigned i = 0; i < sr->nsel && !c.fail.failed; i++)
        compile_selection(&c, &sr->sel[i]);

    struct ctree tr = {0};
    uint32_t entry = PC_REJECT;
    if (!c.fail.failed) {
        int rc = tree_build(sr, &tr);
        if (rc == -1) {
            diag_first_set(&c.fail, sr->line, "out of memory");
            c.oom = true;
        } else if (rc) {
            diag_first_set(&c.fail, sr->line, "malformed condition");
        } else {
            entry = gen(&c, &tr, tr.root, PC_ACCEPT, PC_REJECT, c0);
        }
    }
    if (!c.fail.failed) {
        room(&c, (void **)&rs->rules, &B->cap_rules, (uint64_t)rs->n_rules + 1, sizeof *rs->rules);
        room(&c, (void **)&rs->info, &B->cap_info, (uint64_t)rs->n_rules + 1, sizeof *rs->info);
    }
    struct clist cls = {.n = 0};
    if (!c.fail.failed) {
        node_clauses(B, &tr, tr.root, &cls);
        room(&c, (void **)&B->cl, &B->cap_cl, (uint64_t)B->n_cl + cls.n, sizeof *B->cl);
        room(&c, (void **)&B->cl_rule, &B->cap_cl_rule, (uint64_t)B->n_cl + cls.n, sizeof *B->cl_rule);
    }
    if (c.fail.failed) {
        free(tr.n);
        free(tr.kids);
        B->n_code = c0, B->n_u64 = u0;
        B->n_net4 = a0, B->n_net6 = b0, B->n_groups = g0, B->n_values = v0;
        diag_add(B->d, DIAG_ERROR, sr->file, c.fail.line ? c.fail.line : sr->line, what, "%s", c.fail.msg);
        return c.oom ? -1 : 0;
    }
    struct frule *ru = &rs->rules[rs->n_rules];
    ru->code = c0;
    ru->entry = entry;
    /* no clause: nothing can satisfy the condition, and the rule is never run */
    for (unsigned i = 0; i < cls.n; i++) {
        B->cl[B->n_cl] = cls.c[i];
        B->cl_rule[B->n_cl++] = rs->n_rules;
    }
    free(tr.n);
    free(tr.kids);
    detect_rule_info_fill(&rs->info[rs->n_rules], sr, 0);
    rs->n_rules++;
    return 0;
}

/* ------------------------------------------------------------------ */
/* loader: files                                                        */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

void flow_rules_free(struct flow_ruleset *rs)
{
    if (!rs)
        return;
    free(rs->rules);
    free(rs->info);
    free(rs->code);
    free(rs->u64);
    free(rs->net4);
    free(rs->net6);
    free(rs->groups);
    free(rs->index);
    free(rs->clause_rule);
    free(rs);
}

/* The prefilter index: bit i of (word, dimension, bucket) says clause
 * 64 * word + i admits that bucket.  Every dimension takes part in the
 * AND, constrained or not: eight loads cost less than choosing which. */
static int build_index(struct flow_ruleset *rs, const struct builder *B)
{
    uint32_t W = (B->n_cl + 63) / 64;
    if (!W)
        W = 1;
    rs->pf_words = W;
    rs->index = calloc((size_t)PF_DIMS * 64 * W, sizeof *rs->index);
    rs->clause_rule = malloc((B->n_cl ? B->n_cl : 1) * sizeof *rs->clause_rule);
    if (!rs->index || !rs->clause_rule)
        return -1;
    if (B->n_cl)
        memcpy(rs->clause_rule, B->cl_rule, B->n_cl * sizeof *rs->clause_rule);
    for (uint32_t i = 0; i < B->n_cl; i++)
        for (unsigned k = 0; k < PF_DIMS; k++)
            for (unsigned b = 0; b < 64; b++)
                if (B->cl[i].m[k] >> b & 1)
                    rs->index[((size_t)(i / 64) * PF_DIMS + k) * 64 + b] |= 1ull << (i % 64);
    return 0;
}

static void warn_duplicate_ids(const struct flow_ruleset *rs, struct diag *d)
{
    for (unsigned i = 0; i < rs->n_rules && rs->n_rules <= 4096; i++) /* quadratic: ordinary sets only */
        for (unsigned j = 0; j < i && rs->info[i].id[0]; j++)
            if (!strcmp(rs->info[i].id, rs->info[j].id)) {
                diag_add(d, DIAG_WARNING, rs->info[i].file, rs->info[i].line, rs->info[i].id,
                         "duplicate rule id (also %s:%u)", rs->info[j].file, rs->info[j].line);
                break;
            }
}

int flow_rules_load(const char *const *paths, unsigned n_paths, const char *const *rep_lists, unsigned n_rep,
                    const struct flow_rules_limits *lim, struct flow_ruleset **out, struct diag *d)
{
    *out = NULL;
    if (n_rep > FLOW_REP_MAX) {
        diag_add(d, DIAG_ERROR, "", 0, "", "%u reputation lists: at most %d", n_rep, FLOW_REP_MAX);
        return -1;
    }
    for (unsigned i = 0; i < n_rep; i++)
        if (!rep_lists || !rep_lists[i] || !rep_lists[i][0]) {
            diag_add(d, DIAG_ERROR, "", 0, "", "reputation list %u has no name", i);
            return -1;
        }
    struct builder B = {.rep = rep_lists, .n_rep = n_rep, .d = d};
    B.max_rules = lim && lim->max_rules ? lim->max_rules : FLOW_RULES_DEFAULT_MAX_RULES;
    B.max_values = lim && lim->max_values ? lim->max_values : FLOW_RULES_DEFAULT_MAX_VALUES;
    if (!(B.rs = calloc(1, sizeof *B.rs))) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory");
        return -1;
    }
    /* a path that could not be listed is in d: load the rest */
    struct source_list files = {0};
    for (unsigned i = 0; i < n_paths; i++)
        source_list_yaml(paths[i], &files, NULL, d);

    uint64_t h = 14695981039346656037ull;
    int rc = 0;
    for (unsigned f = 0; f < files.n && !rc; f++) {
        const char *file = files.path[f];
        char why[160];
        size_t len;
        char *buf = source_read(file, &len, why, sizeof why);
        if (!buf) {
            diag_add(d, DIAG_ERROR, file, 0, "", "%s", why);
            continue;
        }
        h = fnv(h, file, strlen(file) + 1);
        h = fnv(h, buf, len);
        struct sigma_rule **rules = NULL;
        unsigned n = 0;
        if (sigma_parse_buffer(buf, len, file, &rules, &n, NULL, d) < 0)
            rc = -1;
        free(buf);
        for (unsigned i = 0; i < n && !rc; i++)
            rc = compile_rule(&B, rules[i]);
        sigma_rules_free(rules, n);
    }
    source_list_free(&files);
    if (!rc && build_index(B.rs, &B))
        rc = -1;
    free(B.cl);
    free(B.cl_rule);
    free(B.sels);
    free(B.maps);
    free(B.tests);
    if (rc) {
        diag_add(d, DIAG_ERROR, "", 0, "", "out of memory loading flow rules");
        flow_rules_free(B.rs);
        return -1;
    }
    B.rs->hash = h;
    warn_duplicate_ids(B.rs, d);
    *out = B.rs;
    return 0;
}
