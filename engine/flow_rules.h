/* Flow rules: Sigma detection rules evaluated on NetFlow/IPFIX flow records.
 *
 * The same YAML as the log rules (engine/sigma.h parses it, so errors carry
 * file, line and rule id), applied to the fields of struct nf_record
 * (engine/flow.h) under their Elastic Common Schema names.  Only rules whose
 * logsource is `category: flow` (or `product: netflow` / `product: ipfix`;
 * the product does not narrow which records a rule sees) are flow rules; a
 * rule of another log source is skipped with a DIAG_WARNING.
 *
 * Fields (absent from a record when its NF_HAS_* bit is clear; a test on an
 * absent field is false, `field: null` is true, `field|exists: false` too):
 *
 *   source.ip, destination.ip, observer.ip   address; plain values are
 *       exact addresses, |cidr networks (IPv4 and IPv6 mixed freely)
 *   source.port, destination.port            0..65535; a list is a port set
 *   network.transport                        "tcp", "udp", "icmp",
 *       "ipv6-icmp", "sctp", "gre", "esp", ... (case-insensitive) or 0..255
 *   network.iana_number                      the same protocol, numbers only
 *   network.bytes, network.packets           the record's counters (both
 *       directions when the exporter reports reverse counters)
 *   destination.bytes, destination.packets   reverse counters (RFC 5103 /
 *       NSEL responder): present only when NF_HAS_REVERSE
 *   source.bytes, source.packets             network.* - destination.*:
 *       present only when NF_HAS_REVERSE (on a one-way record the
 *       source's count is network.*)
 *   netflow.tcp_control_bits                 the tcp flags word as sent
 *   tcp.flags                                exactly which of FIN, SYN, RST,
 *       PSH, ACK, URG were seen, as letters F S R P A U in any order ("S",
 *       "SA", "RA"; '' = none of them).  ECE, CWR and NS are ignored.
 *       Present only on TCP records (network.transport tcp) with flags.
 *   event.duration                           end - start, ns, when the
 *       record has both and end >= start
 *   source.as.number, destination.as.number  AS numbers
 *   network.direction                        "ingress" or "egress": the
 *       exporter's flowDirection, relative to its interface
 *   source.reputation, destination.reputation  names of the IP reputation
 *       lists the address is in.  List names are given at load (bit i of a
 *       mask = rep_lists[i]); the caller passes each record's source and
 *       destination masks to flow_rules_eval.  Absent when the mask is 0.
 *
 * Modifiers: cidr (addresses), gt, gte, lt, lte (numeric fields), exists,
 * all (every value must match).  A value list is ORed; a list of maps is
 * ORed; the items of a map are ANDed; conditions as in sigma.h (and, or,
 * not, parentheses, "1 of x*", "all of them").  Anything else -- contains,
 * startswith, endswith, re, cased, keyword selections, unknown fields,
 * unknown reputation lists, values a field cannot hold -- rejects the rule
 * alone, with its file, line, id and the construct named in the diag.
 *
 * Evaluation: each rule is compiled to a branch program of field tests
 * (sorted value arrays, 256-bit protocol sets, a 64 Ki-bit bitmap for a
 * port list of more than 16, CIDR lists grouped by prefix length and
 * searched per group, numeric comparisons folded to one range, cheap tests
 * first within a map) that stops at the first test deciding the
 * condition.  Before any test runs, a prefilter index over eight record
 * properties (protocol, destination port, tcp flags, bit length of bytes
 * and of packets, reputation, source and destination /6) picks the rules
 * the record could match: for an ordinary connection, none of the shipped
 * rules.  Read-only after load: any number of workers may evaluate one
 * ruleset concurrently.  docs/flows.md has the language, the shipped pack
 * and the costs.
 */
#ifndef VIGIL_ENGINE_FLOW_RULES_H
#define VIGIL_ENGINE_FLOW_RULES_H

#include <stdint.h>

#include "engine/detect.h"
#include "engine/diag.h"
#include "engine/flow.h"
#include "engine/signal.h"

#define FLOW_REP_MAX 32                   /* reputation lists: bits of a uint32_t mask */
#define FLOW_RULES_DEFAULT_MAX_RULES 4096
#define FLOW_RULES_DEFAULT_MAX_VALUES (1u << 20)

struct flow_rules_limits {
    unsigned max_rules;    /* rules kept; more are rejected (0: the default) */
    unsigned max_values;   /* values over all rules; a port list kept as a
                            * bitmap counts 1024 (its size in 64-bit words);
                            * 0: the default */
};

struct flow_ruleset;

/* Loads flow rules from paths: files (read whatever their name), or
 * directories (*.yml / *.yaml read recursively, in name order).  rep_lists
 * names the reputation lists in bit order (n_rep <= FLOW_REP_MAX; may be
 * NULL when n_rep is 0).  lim may be NULL.  A rule with an error is left
 * out with a DIAG_ERROR in d (file, line, id, construct); rules of other log
 * sources get a DIAG_WARNING; the rest load, possibly none.  Returns 0 with
 * *out set, or -1 (and *out NULL) when no ruleset could be built: out of
 * memory, or invalid rep_lists (the reason is in d). */
int flow_rules_load(const char *const *paths, unsigned n_paths, const char *const *rep_lists, unsigned n_rep,
                    const struct flow_rules_limits *lim, struct flow_ruleset **out, struct diag *d);
void flow_rules_free(struct flow_ruleset *rs);

unsigned flow_rules_count(const struct flow_ruleset *rs);
/* Metadata of rule idx (< flow_rules_count): id, uuid (as detect.h derives
 * it: the id when it is a UUID, else a hash of the title), name, title,
 * author, tags, file, line, level (medium when the rule sets none);
 * logsource is 0. */
const struct rule_info *flow_rule_info(const struct flow_ruleset *rs, unsigned idx);
/* FNV-1a of every source file read (path, NUL, contents), in load order:
 * names the ruleset version in signals. */
uint64_t flow_rules_hash(const struct flow_ruleset *rs);

/* Checks one record.  rep_src / rep_dst: reputation list masks of its
 * source and destination addresses (bit i = rep_lists[i] at load).  Writes
 * the indices of matching rules, in rule order, to out[0..max) and returns
 * how many rules matched, which may exceed max (the rest are not written).
 * Never allocates, never writes outside out[0..max). */
unsigned flow_rules_eval(const struct flow_ruleset *rs, const struct nf_record *r, uint32_t rep_src,
                         uint32_t rep_dst, uint32_t *out, unsigned max);

/* Fills the signal of rule idx matching r: kind SIGNAL_FLOW, the rule's
 * index, uuid and level, the ruleset hash, ts_ns = flow start (else end,
 * else export time), received_ns, observer = the exporter, source and
 * destination address and ports when the record has them, and an excerpt
 * such as "tcp 203.0.113.66:51234 -> 192.0.2.80:22 packets=1 bytes=44 flags=S"
 * (IPv6 addresses in brackets; ports only for tcp, udp and sctp; flags
 * only for tcp records that have them; cut to SIGNAL_EXCERPT_MAX - 1). */
void flow_signal_fill(const struct flow_ruleset *rs, unsigned idx, const struct nf_record *r, int64_t received_ns,
                      struct vigil_signal *out);

#endif
