/* Detection signals: what a worker emits when a rule fires on an event.
 *
 * Fixed size and position independent (no pointers), because signals cross
 * from vigil-dp to vigil-cp through shared-memory rings and may be read by a
 * process that maps the ring at another address.  The rule is named by the
 * ruleset's hash and the rule's index in it, and by the rule's UUID, so a
 * control plane holding a different ruleset version can still tell which
 * rule it was.  Strings are NUL-padded, cut to fit, and hold the sender's
 * bytes as they were (renderers escape).
 */
#ifndef VIGIL_ENGINE_SIGNAL_H
#define VIGIL_ENGINE_SIGNAL_H

#include <stdint.h>

#include "engine/event.h"

#define SIGNAL_EXCERPT_MAX 96
#define SIGNAL_USER_MAX    32

enum signal_kind {
    SIGNAL_DETECTION = 1,      /* a Sigma detection rule matched a log event */
    SIGNAL_FLOW = 2,           /* a flow rule matched a NetFlow/IPFIX record (engine/flow_rules.h) */
};

struct vigil_signal {
    uint8_t kind;                    /* enum signal_kind */
    uint8_t level;                   /* enum rule_level (detect.h) */
    uint16_t excerpt_len;
    uint32_t rule_index;             /* index of the rule in its ruleset */
    uint64_t ruleset_hash;
    uint8_t rule_uuid[16];
    int64_t ts_ns;                   /* the event's @timestamp */
    int64_t received_ns;             /* event.created */
    struct vigil_ip observer;        /* who sent the log */
    struct vigil_ip source_ip;       /* source.ip of the event, if any */
    struct vigil_ip destination_ip;  /* destination.ip, if any */
    uint16_t source_port;            /* 0 when absent */
    uint16_t destination_port;
    char user_name[SIGNAL_USER_MAX]; /* user.name, if any */
    char excerpt[SIGNAL_EXCERPT_MAX];/* start of the message, cut to the configured limit */
    uint8_t pad[24];
};

_Static_assert(sizeof(struct vigil_signal) == 256, "signals are 256-byte ring records");

#endif
