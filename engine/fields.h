/* Event fields: the typed name/value pairs parsers extract and rules test.
 *
 * Names are Elastic Common Schema names ("source.ip", "user.name") interned
 * in a field_registry owned by the ruleset, so the packet path handles small
 * integer ids, never strings.  The first FID__BUILTIN ids are fixed: they are
 * the fields every syslog event has (event.h) and exist in every registry.
 *
 * struct event_fields holds one event's fields.  It is sized once (per
 * worker) and reused: nothing here allocates after event_fields_init.  String
 * values are views into the message, or into the event's arena when a parser
 * had to unescape them (CEF, JSON, quoted key=value).  When an event has more
 * fields than the configured limit, or its arena is full, the extra fields
 * are dropped and counted, never written past the end.
 */
#ifndef VIGIL_ENGINE_FIELDS_H
#define VIGIL_ENGINE_FIELDS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/bytes.h"
#include "engine/event.h"

#if defined(__AVX2__) || defined(__SSE2__)
#include <immintrin.h>
#endif

typedef uint16_t field_id;

enum builtin_field {
    FID_MESSAGE = 0,          /* message */
    FID_HOST_HOSTNAME,        /* host.hostname */
    FID_PROCESS_NAME,         /* process.name */
    FID_PROCESS_PID,          /* process.pid (int) */
    FID_OBSERVER_IP,          /* observer.ip (ip) */
    FID_SYSLOG_FACILITY,      /* log.syslog.facility.code (int) */
    FID_SYSLOG_SEVERITY,      /* log.syslog.severity.code (int) */
    FID_SYSLOG_MSGID,         /* log.syslog.msgid */
    FID_EVENT_CODE,           /* event.code */
    FID__BUILTIN
};

#define FIELD_REGISTRY_MAX 4096   /* distinct field names in one ruleset */
#define FIELD_NAME_MAX     64
#define FIELDS_HARD_MAX    128    /* fields per event, whatever the configuration says */

enum field_type {
    FIELD_STR = 1,
    FIELD_INT,
    FIELD_IP,
};

struct field_registry;

/* A registry that already holds the built-in fields.  NULL on no memory. */
struct field_registry *field_registry_new(void);
void field_registry_free(struct field_registry *r);
/* Id of name, adding it if new.  -1 when the registry is full or the name is
 * not a valid field name (letters, digits, '.', '_', '-', '@'; 1..63 bytes). */
int field_registry_intern(struct field_registry *r, const char *name, field_id *out);
/* Id of name, or -1 when unknown. */
int field_registry_find(const struct field_registry *r, const char *name);
const char *field_registry_name(const struct field_registry *r, field_id id);
unsigned field_registry_count(const struct field_registry *r);

struct field_value {
    field_id id;
    uint8_t type;                 /* enum field_type */
    union {
        struct vigil_str s;
        int64_t i;
        struct vigil_ip ip;
    } v;
};

struct event_fields {
    uint16_t n;                   /* fields set */
    uint16_t max;                 /* configured limit, <= FIELDS_HARD_MAX */
    uint32_t dropped;             /* fields refused since the last reset (limit or arena) */
    int32_t parser;               /* index of the parser that claimed the event, -1 none */
    uint16_t logsource;           /* logsource id the parser assigned (0 = none) */
    /* f[const_first, const_first + const_n) are the constant values (`set:`)
     * of parser `parser` of the parser set const_src, exactly as that parser
     * holds them; detection checks them once per parser at load
     * (detect_set_constants), not per event.  const_n 0: none marked. */
    uint16_t const_first, const_n;
    const void *const_src;
    struct field_value f[FIELDS_HARD_MAX];
    char *arena;                  /* unescaped string values */
    uint32_t arena_used, arena_cap;
};

/* Sets limits and allocates the arena (arena_cap bytes).  0 or -1. */
int event_fields_init(struct event_fields *ef, unsigned max_fields, uint32_t arena_cap);
void event_fields_free(struct event_fields *ef);
/* Empties ef for the next event (O(1)). */
void event_fields_reset(struct event_fields *ef);

/* Adds one value.  A later value for the same id does not replace the first:
 * both are kept (a message may hold two addresses of one kind), and lookups
 * return the first.  Returns 0, or -1 when the field limit is reached
 * (counted in dropped). */
int event_fields_add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len);
int event_fields_add_int(struct event_fields *ef, field_id id, int64_t v);
int event_fields_add_ip(struct event_fields *ef, field_id id, const struct vigil_ip *ip);

/* Reserves len bytes in the arena for an unescaped value; NULL when full
 * (the caller then drops the field, counted in dropped). */
char *event_fields_alloc(struct event_fields *ef, uint32_t len);

/* First value of id, or NULL. */
const struct field_value *event_fields_get(const struct event_fields *ef, field_id id);

/* Resets ef and adds the built-in fields of a decoded syslog event. */
void event_fields_from_syslog(struct event_fields *ef, const struct vigil_event *ev);

/* len without the trailing spaces and tabs of p.  A vector of spaces at a
 * time (32 bytes with AVX2, else 16, else 8): messages sent in fixed-size
 * frames end in a hundred pad spaces or more, and every stage after the
 * decoder (templates, Hyperscan) would walk them. */
static inline uint32_t field_trim_end(const char *p, uint32_t len)
{
#if defined(__AVX2__)
    const __m256i sp = _mm256_set1_epi8(' ');
    while (len >= 32) {
        uint32_t m = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(p + len - 32)), sp));
        if (m != 0xffffffffu) {
            len -= (uint32_t)__builtin_clz(~m); /* the spaces above the last other byte */
            break;
        }
        len -= 32;
    }
#elif defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' ');
    while (len >= 16) {
        uint32_t m = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + len - 16)), sp));
        if (m != 0xffffu) {
            len -= (uint32_t)__builtin_clz(~m << 16);
            break;
        }
        len -= 16;
    }
#else
    while (len >= 8 && load_u64(p + len - 8) == 0x2020202020202020ull)
        len -= 8;
#endif
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return len;
}

/* Parses a decimal integer (optional sign) that is exactly p[0..len), into
 * int64 without overflow.  Inline: parsers call it for every numeric field. */
static inline bool field_parse_i64(const char *p, uint32_t len, int64_t *out)
{
    uint32_t k = 0;
    bool neg = false;
    if (k < len && (p[k] == '+' || p[k] == '-')) {
        neg = p[k] == '-';
        k++;
    }
    if (k == len)
        return false;
    uint64_t v = 0;
    if (len - k <= 18) { /* 18 digits cannot overflow: no range checks */
        for (; k < len; k++) {
            unsigned d = (unsigned)(uint8_t)p[k] - '0';
            if (d > 9)
                return false;
            v = v * 10 + d;
        }
        *out = neg ? -(int64_t)v : (int64_t)v;
        return true;
    }
    for (; k < len; k++) {
        unsigned d = (unsigned)(uint8_t)p[k] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

/* Parses a dotted IPv4 or an IPv6 address from a non-terminated buffer. */
bool field_parse_ip(const char *p, uint32_t len, struct vigil_ip *out);

#endif
