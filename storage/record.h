/* Versioned binary records of the store: alerts, incidents, entities.
 *
 * These are the values the LMDB store keeps and vigilctl renders.  A record
 * is encoded as
 *
 *     u8 type (enum record_type) | u8 version | fields, little-endian
 *
 * so a reader can tell what a value is and which layout it has before it
 * trusts a single length.  Decoding is bounds-checked against the buffer and
 * against the limits below: a truncated, oversized or otherwise malformed
 * value is rejected with an error code, never read past, never a crash.  A
 * decoder accepts every version it knows (today: 1); an encoder always
 * writes RECORD_VERSION.
 *
 * Strings are length + bytes, cut to the limits below by the caller
 * (record_copy_str).  They hold the sender's bytes as they were, which may
 * include NUL; decode also writes a NUL after the last byte for convenience,
 * but renderers must use the length and escape.
 *
 * The structs are plain values with fixed-size arrays: copying one is safe,
 * and nothing in them points anywhere.
 */
#ifndef VIGIL_STORAGE_RECORD_H
#define VIGIL_STORAGE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "engine/event.h"

#define RECORD_VERSION 1

enum record_type {
    RECORD_ALERT = 1,
    RECORD_INCIDENT = 2,
    RECORD_ENTITY = 3,
};

/* Error codes of encode and decode (all negative). */
enum record_err {
    RECORD_ETRUNC = -1,    /* decode: the buffer ends inside the record */
    RECORD_ETYPE = -2,     /* decode: the type byte names another record type */
    RECORD_EVERSION = -3,  /* decode: a version this build does not know */
    RECORD_ERANGE = -4,    /* a field is out of range (level, count above its bound, bad IP family...) */
    RECORD_ETRAILING = -5, /* decode: bytes left over after the record */
    RECORD_ENOSPC = -6,    /* encode: the output buffer is too small */
};

/* Bounds.  Values above them are refused by encode and decode alike. */
#define ALERT_TITLE_MAX      255
#define ALERT_USER_MAX       64
#define ALERT_EXCERPT_MAX    512
#define ALERT_GROUP_KEY_MAX  255
#define ALERT_TECHNIQUES_MAX 8
#define ALERT_CONTRIB_MAX    32
#define INCIDENT_LABEL_MAX   31
#define INCIDENT_CHAIN_MAX   64

enum alert_kind {
    ALERT_DETECTION = 1,     /* one Sigma detection rule matched */
    ALERT_CORRELATION = 2,   /* a correlation rule fired over other alerts */
};

/* 0..4.  Note: engine/detect.h's enum rule_level is 1..5; level = rule_level - 1. */
enum alert_level {
    ALERT_INFORMATIONAL = 0,
    ALERT_LOW = 1,
    ALERT_MEDIUM = 2,
    ALERT_HIGH = 3,
    ALERT_CRITICAL = 4,
};

enum incident_status {
    INCIDENT_OPEN = 0,
    INCIDENT_ACKNOWLEDGED = 1,
    INCIDENT_CLOSED = 2,
};

/* MITRE ATT&CK enterprise tactics, in kill-chain order.  A tactics bitmask
 * has bit (1u << tactic) set for each tactic reached. */
enum attack_tactic {
    TACTIC_RECONNAISSANCE = 0,
    TACTIC_RESOURCE_DEVELOPMENT,
    TACTIC_INITIAL_ACCESS,
    TACTIC_EXECUTION,
    TACTIC_PERSISTENCE,
    TACTIC_PRIVILEGE_ESCALATION,
    TACTIC_DEFENSE_EVASION,
    TACTIC_CREDENTIAL_ACCESS,
    TACTIC_DISCOVERY,
    TACTIC_LATERAL_MOVEMENT,
    TACTIC_COLLECTION,
    TACTIC_COMMAND_AND_CONTROL,
    TACTIC_EXFILTRATION,
    TACTIC_IMPACT,
    TACTIC__COUNT
};
#define TACTIC_ALL_MASK ((1u << TACTIC__COUNT) - 1)

struct vigil_alert {
    uint64_t id;                     /* assigned by the store; increasing */
    uint8_t kind;                    /* enum alert_kind */
    uint8_t level;                   /* enum alert_level */
    uint8_t n_techniques;
    uint8_t n_contrib;
    uint32_t tactics;                /* TACTIC_ALL_MASK bits only */
    uint32_t techniques[ALERT_TECHNIQUES_MAX]; /* record_technique_parse form: T1110.001 = 1110001 */
    uint8_t rule_uuid[16];
    int64_t event_ns;                /* @timestamp of the (first) event */
    int64_t received_ns;             /* when the appliance received it (event.created) */
    int64_t first_seen_ns;           /* fold window: first and last duplicate */
    int64_t last_seen_ns;
    uint32_t count;                  /* events folded into this alert (>= 1 in practice) */
    uint16_t source_port;
    uint16_t destination_port;
    struct vigil_ip entity;          /* the address the alert is about */
    struct vigil_ip source_ip;
    struct vigil_ip destination_ip;
    struct vigil_ip observer_ip;     /* who sent the log */
    uint64_t incident_id;            /* 0 = none */
    uint32_t contrib_more;           /* correlation: contributing alerts beyond contrib[] */
    uint16_t title_len;
    uint16_t user_len;
    uint16_t excerpt_len;
    uint16_t group_key_len;          /* correlation: group-by values as text */
    char title[ALERT_TITLE_MAX + 1];
    char user[ALERT_USER_MAX + 1];
    char excerpt[ALERT_EXCERPT_MAX + 1];
    char group_key[ALERT_GROUP_KEY_MAX + 1];
    uint64_t contrib[ALERT_CONTRIB_MAX]; /* correlation: ids of contributing alerts, in order */
};

struct vigil_incident {
    uint64_t id;                     /* assigned by the store */
    struct vigil_ip entity;
    uint8_t status;                  /* enum incident_status */
    uint8_t label_len;
    uint16_t severity;               /* rank: higher is worse; meaning is the correlator's */
    uint32_t tactics;                /* tactics reached, TACTIC_ALL_MASK bits */
    int64_t first_seen_ns;
    int64_t last_seen_ns;
    int64_t updated_ns;              /* when this version was made */
    uint16_t n_chain;
    uint32_t chain_more;             /* alerts of the chain beyond chain[] (newest are dropped) */
    char label[INCIDENT_LABEL_MAX + 1]; /* severity label, e.g. "high" */
    uint64_t chain[INCIDENT_CHAIN_MAX]; /* alert ids forming the chain, in order */
};

struct vigil_entity {
    struct vigil_ip ip;
    int64_t first_seen_ns;
    int64_t last_seen_ns;
    uint64_t alert_count;
    uint32_t risk;                   /* risk score; scale is the correlator's */
    uint64_t open_incident_id;       /* 0 = none */
};

/* Largest encodings, to size buffers. */
#define RECORD_IP_MAX     17
#define ALERT_ENCODED_MAX (2 + 8 + 4 + 4 + 16 + 32 + 4 + 4 + 4 * RECORD_IP_MAX + 8 + 4 + \
                           4 * ALERT_TECHNIQUES_MAX + 8 + ALERT_TITLE_MAX + ALERT_USER_MAX + \
                           ALERT_EXCERPT_MAX + ALERT_GROUP_KEY_MAX + 8 * ALERT_CONTRIB_MAX)
#define INCIDENT_ENCODED_MAX (2 + 8 + RECORD_IP_MAX + 1 + 1 + 2 + 4 + 24 + 2 + 4 + \
                              INCIDENT_LABEL_MAX + 8 * INCIDENT_CHAIN_MAX)
#define ENTITY_ENCODED_MAX (2 + RECORD_IP_MAX + 8 + 8 + 8 + 4 + 8)

/* Encode into buf: the number of bytes written (> 0), or RECORD_ERANGE when
 * a field is out of its bounds, RECORD_ENOSPC when cap is too small. */
int record_alert_encode(const struct vigil_alert *a, uint8_t *buf, size_t cap);
int record_incident_encode(const struct vigil_incident *inc, uint8_t *buf, size_t cap);
int record_entity_encode(const struct vigil_entity *e, uint8_t *buf, size_t cap);

/* Decode exactly len bytes: 0, or a negative enum record_err.  On error *out
 * is left in an unspecified but harmless state. */
int record_alert_decode(const void *buf, size_t len, struct vigil_alert *out);
int record_incident_decode(const void *buf, size_t len, struct vigil_incident *out);
int record_entity_decode(const void *buf, size_t len, struct vigil_entity *out);

/* Type, version and (alerts, incidents) id of an encoded record without
 * decoding the rest: 0, or RECORD_ETRUNC / RECORD_EVERSION.  *id is 0 for
 * entities. */
int record_peek(const void *buf, size_t len, uint8_t *type, uint8_t *version, uint64_t *id);

/* Folds duplicates into an encoded alert in place: last_seen_ns becomes
 * last_seen_ns (when later) and count grows by add (saturating).  0, or a
 * negative enum record_err when buf is not an alert this build can patch. */
int record_alert_fold(uint8_t *buf, size_t len, int64_t last_seen_ns, uint32_t add);

/* Copies min(n, cap - 1) bytes of src into dst, NUL-terminates, returns the
 * length copied: the way to fill a bounded string field, e.g.
 *     a.title_len = record_copy_str(a.title, sizeof a.title, t, strlen(t)); */
uint16_t record_copy_str(char *dst, size_t cap, const void *src, size_t n);

/* The 17-byte canonical form of an address (family, then 16 address bytes,
 * zero past the family's length): store keys use it. */
void record_ip_key(const struct vigil_ip *ip, uint8_t out[RECORD_IP_MAX]);
void record_ip_from_key(const uint8_t key[RECORD_IP_MAX], struct vigil_ip *ip);

/* ATT&CK technique ids: "T1110" = 1110000, "T1110.001" = 1110001 (case-
 * insensitive T).  parse: 0, or -1 when text is not a technique id.  format
 * writes "T1110" / "T1110.001" into buf (at least 12 bytes). */
int record_technique_parse(const char *text, size_t len, uint32_t *out);
void record_technique_format(uint32_t id, char buf[12]);

/* "credential_access" (Sigma tag spelling, after "attack.") <-> enum attack_tactic. */
const char *record_tactic_name(unsigned tactic);              /* NULL when out of range */
int record_tactic_parse(const char *text, size_t len);         /* -1 when unknown */
const char *record_level_name(unsigned level);                 /* "informational".."critical", NULL out of range */
const char *record_status_name(unsigned status);               /* "open", "acknowledged", "closed" */
const char *record_strerror(int err);

#endif
