#include "engine/fields.h"

#include <stdlib.h>
#include <string.h>

#define REG_SLOTS 8192   /* power of two, twice FIELD_REGISTRY_MAX: open addressing stays short */

struct field_registry {
    unsigned n;
    char names[FIELD_REGISTRY_MAX][FIELD_NAME_MAX];
    int16_t slot[REG_SLOTS];   /* id + 1, 0 = empty */
};

static const char *const builtin_names[FID__BUILTIN] = {
    [FID_MESSAGE] = "message",
    [FID_HOST_HOSTNAME] = "host.hostname",
    [FID_PROCESS_NAME] = "process.name",
    [FID_PROCESS_PID] = "process.pid",
    [FID_OBSERVER_IP] = "observer.ip",
    [FID_SYSLOG_FACILITY] = "log.syslog.facility.code",
    [FID_SYSLOG_SEVERITY] = "log.syslog.severity.code",
    [FID_SYSLOG_MSGID] = "log.syslog.msgid",
    [FID_EVENT_CODE] = "event.code",
};

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FIELD_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

struct field_registry *field_registry_new(void)
{
    struct field_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    for (unsigned i = 0; i < FID__BUILTIN; i++) {
        field_id id;
        field_registry_intern(r, builtin_names[i], &id);
    }
    return r;
}

void field_registry_free(struct field_registry *r) { free(r); }

int field_registry_find(const struct field_registry *r, const char *name)
{
    for (uint32_t h = hash_name(name), i = 0; i < REG_SLOTS; i++) {
        int16_t s = r->slot[(h + i) & (REG_SLOTS - 1)];
        if (s == 0)
            return -1;
        if (!strcmp(r->names[s - 1], name))
            return s - 1;
    }
    return -1;
}

int field_registry_intern(struct field_registry *r, const char *name, field_id *out)
{
    if (!valid_name(name))
        return -1;
    uint32_t h = hash_name(name);
    for (uint32_t i = 0; i < REG_SLOTS; i++) {
        int16_t *s = &r->slot[(h + i) & (REG_SLOTS - 1)];
        if (*s && !strcmp(r->names[*s - 1], name)) {
            *out = (field_id)(*s - 1);
            return 0;
        }
        if (*s == 0) {
            if (r->n >= FIELD_REGISTRY_MAX)
                return -1;
            strcpy(r->names[r->n], name);
            *s = (int16_t)(r->n + 1);
            *out = (field_id)r->n++;
            return 0;
        }
    }
    return -1;
}

const char *field_registry_name(const struct field_registry *r, field_id id)
{
    return id < r->n ? r->names[id] : "?";
}

unsigned field_registry_count(const struct field_registry *r) { return r->n; }

int event_fields_init(struct event_fields *ef, unsigned max_fields, uint32_t arena_cap)
{
    memset(ef, 0, sizeof *ef);
    ef->max = (uint16_t)(max_fields < FIELDS_HARD_MAX ? max_fields : FIELDS_HARD_MAX);
    ef->arena_cap = arena_cap;
    ef->parser = -1;
    ef->arena = arena_cap ? malloc(arena_cap) : NULL;
    return arena_cap && !ef->arena ? -1 : 0;
}

void event_fields_free(struct event_fields *ef)
{
    free(ef->arena);
    ef->arena = NULL;
}

void event_fields_reset(struct event_fields *ef)
{
    ef->n = 0;
    ef->dropped = 0;
    ef->parser = -1;
    ef->logsource = 0;
    ef->const_n = 0;
    ef->arena_used = 0;
}

static struct field_value *slot(struct event_fields *ef, field_id id, uint8_t type)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return NULL;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = type;
    return f;
}

int event_fields_add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len)
{
    struct field_value *f = slot(ef, id, FIELD_STR);
    if (!f)
        return -1;
    f->v.s.ptr = p;
    f->v.s.len = len;
    return 0;
}

int event_fields_add_int(struct event_fields *ef, field_id id, int64_t v)
{
    struct field_value *f = slot(ef, id, FIELD_INT);
    if (!f)
        return -1;
    f->v.i = v;
    return 0;
}

int event_fields_add_ip(struct event_fields *ef, field_id id, const struct vigil_ip *ip)
{
    struct field_value *f = slot(ef, id, FIELD_IP);
    if (!f)
        return -1;
    f->v.ip = *ip;
    return 0;
}

char *event_fields_alloc(struct event_fields *ef, uint32_t len)
{
    if (len > ef->arena_cap - ef->arena_used) {
        ef->dropped++;
        return NULL;
    }
    char *p = ef->arena + ef->arena_used;
    ef->arena_used += len;
    return p;
}

const struct field_value *event_fields_get(const struct event_fields *ef, field_id id)
{
    for (unsigned i = 0; i < ef->n; i++)
        if (ef->f[i].id == id)
            return &ef->f[i];
    return NULL;
}

void event_fields_from_syslog(struct event_fields *ef, const struct vigil_event *ev)
{
    event_fields_reset(ef);
    /* the message as parsers and rules see it: without trailing blanks,
     * which carry nothing and cost every scan (the event keeps them) */
    if (ev->message.ptr)
        event_fields_add_str(ef, FID_MESSAGE, ev->message.ptr, field_trim_end(ev->message.ptr, ev->message.len));
    if (ev->hostname.ptr)
        event_fields_add_str(ef, FID_HOST_HOSTNAME, ev->hostname.ptr, ev->hostname.len);
    if (ev->process_name.ptr)
        event_fields_add_str(ef, FID_PROCESS_NAME, ev->process_name.ptr, ev->process_name.len);
    if (ev->pid >= 0)
        event_fields_add_int(ef, FID_PROCESS_PID, ev->pid);
    if (ev->observer_ip.family)
        event_fields_add_ip(ef, FID_OBSERVER_IP, &ev->observer_ip);
    event_fields_add_int(ef, FID_SYSLOG_FACILITY, ev->facility);
    event_fields_add_int(ef, FID_SYSLOG_SEVERITY, ev->severity);
    if (ev->msgid.ptr)
        event_fields_add_str(ef, FID_SYSLOG_MSGID, ev->msgid.ptr, ev->msgid.len);
    if (ev->event_code.ptr)
        event_fields_add_str(ef, FID_EVENT_CODE, ev->event_code.ptr, ev->event_code.len);
}

/* The address parsers below are glibc's inet_pton4 / inet_pton6 rules, applied
 * in place: a dotted quad is exactly four decimal octets, each 0..255 without
 * a leading zero; IPv6 is 1..4 hex digits per group, at most one "::", an
 * optional dotted quad for the last 32 bits.  They replaced a copy into a
 * NUL-terminated buffer + inet_pton (the parsers call this once per address
 * value); field_parse_ip keeps that version's answers byte for byte, including
 * its C-string view of a value holding a NUL (tests/unit/test_template.c
 * compares the two). */
static bool ip4_parse(const char *s, const char *e, uint8_t dst[4])
{
    uint8_t tmp[4];
    unsigned octets = 0, cur = 0;
    bool saw_digit = false;
    while (s < e) {
        unsigned char ch = (unsigned char)*s++;
        if (ch >= '0' && ch <= '9') {
            unsigned nv = cur * 10 + (ch - '0');
            if (saw_digit && cur == 0)
                return false;           /* leading zero */
            if (nv > 255)
                return false;
            cur = nv;
            if (!saw_digit) {
                if (++octets > 4)
                    return false;
                saw_digit = true;
            }
        } else if (ch == '.' && saw_digit) {
            if (octets == 4)
                return false;
            tmp[octets - 1] = (uint8_t)cur;
            cur = 0;
            saw_digit = false;
        } else {
            return false;
        }
    }
    if (octets < 4)
        return false;                   /* a '.' after the fourth octet failed above */
    tmp[3] = (uint8_t)cur;
    memcpy(dst, tmp, 4);
    return true;
}

#define HX(c) ((c) >= '0' && (c) <= '9' ? (c) - '0' : (c) >= 'a' && (c) <= 'f' ? (c) - 'a' + 10 : \
               (c) >= 'A' && (c) <= 'F' ? (c) - 'A' + 10 : -1)
#define HX4(c) HX(c), HX((c) + 1), HX((c) + 2), HX((c) + 3)
#define HX16(c) HX4(c), HX4((c) + 4), HX4((c) + 8), HX4((c) + 12)
static const int8_t hex_tab[256] = {HX16(0),   HX16(16),  HX16(32),  HX16(48),  HX16(64),  HX16(80),
                                    HX16(96),  HX16(112), HX16(128), HX16(144), HX16(160), HX16(176),
                                    HX16(192), HX16(208), HX16(224), HX16(240)};

static inline int hex_value(unsigned char c) { return hex_tab[c]; }

static bool ip6_parse(const char *src, const char *end, uint8_t dst[16])
{
    uint8_t tmp[16];
    uint8_t *tp = memset(tmp, 0, sizeof tmp), *endp = tmp + 16, *colonp = NULL;
    if (src == end)
        return false;
    if (*src == ':') {
        ++src;
        if (src == end || *src != ':')
            return false;
    }
    const char *curtok = src;
    unsigned xdigits = 0, val = 0;
    while (src < end) {
        unsigned char ch = (unsigned char)*src++;
        int d = hex_value(ch);
        if (d >= 0) {
            if (xdigits == 4)
                return false;
            val = (val << 4) | (unsigned)d;
            if (val > 0xffff)
                return false;
            ++xdigits;
            continue;
        }
        if (ch == ':') {
            curtok = src;
            if (xdigits == 0) {
                if (colonp)
                    return false;
                colonp = tp;
                continue;
            } else if (src == end) {
                return false;
            }
            if (tp + 2 > endp)
                return false;
            *tp++ = (uint8_t)(val >> 8);
            *tp++ = (uint8_t)val;
            xdigits = 0;
            val = 0;
            continue;
        }
        if (ch == '.' && tp + 4 <= endp && ip4_parse(curtok, end, tp)) {
            tp += 4;
            xdigits = 0;
            break;
        }
        return false;
    }
    if (xdigits > 0) {
        if (tp + 2 > endp)
            return false;
        *tp++ = (uint8_t)(val >> 8);
        *tp++ = (uint8_t)val;
    }
    if (colonp) {
        if (tp == endp)
            return false;
        size_t n = (size_t)(tp - colonp);
        memmove(endp - n, colonp, n);
        memset(colonp, 0, (size_t)(endp - n - colonp));
        tp = endp;
    }
    if (tp != endp)
        return false;
    memcpy(dst, tmp, 16);
    return true;
}

/* One octet of a dotted quad at *pp (ip4_parse's rules); -1 when it is not one. */
static inline int ip4_octet(const char **pp, const char *e)
{
    const char *p = *pp;
    if (p >= e)
        return -1;
    unsigned v = (unsigned)(unsigned char)*p - '0';
    if (v > 9)
        return -1;
    p++;
    unsigned d;
    if (p < e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
        if (v == 0)
            return -1;   /* leading zero */
        v = v * 10 + d;
        p++;
        if (p < e && (d = (unsigned)(unsigned char)*p - '0') <= 9) {
            v = v * 10 + d;
            p++;
            if (v > 255 || (p < e && (unsigned)(unsigned char)*p - '0' <= 9))
                return -1;   /* a fourth digit is over 255 too */
        }
    }
    *pp = p;
    return (int)v;
}

bool field_parse_ip(const char *p, uint32_t len, struct vigil_ip *out)
{
    if (len == 0 || len >= 64)
        return false;
    memset(out, 0, sizeof *out);
    /* the common case, a dotted quad and nothing else: whatever it accepts,
     * ip4_parse accepts with the same value; anything else takes the full path */
    {
        const char *q = p, *e = p + len;
        int a = ip4_octet(&q, e), b, c, d;
        if (a >= 0 && q < e && *q++ == '.' && (b = ip4_octet(&q, e)) >= 0 && q < e && *q++ == '.' &&
            (c = ip4_octet(&q, e)) >= 0 && q < e && *q++ == '.' && (d = ip4_octet(&q, e)) >= 0 && q == e) {
            out->family = 4;
            out->addr[0] = (uint8_t)a;
            out->addr[1] = (uint8_t)b;
            out->addr[2] = (uint8_t)c;
            out->addr[3] = (uint8_t)d;
            return true;
        }
    }
    /* the value as the C string it used to be copied into: up to a NUL;
     * the family by a ':' anywhere in the len bytes */
    const char *nul = memchr(p, '\0', len);
    const char *e = nul ? nul : p + len;
    if (memchr(p, ':', len)) {
        if (!ip6_parse(p, e, out->addr))
            return false;
        out->family = 6;
    } else {
        if (!ip4_parse(p, e, out->addr))
            return false;
        out->family = 4;
    }
    return true;
}
