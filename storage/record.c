/* Record encoding: see record.h.  Layouts (version 1), all little-endian:
 *
 * alert:    type ver | id u64 | kind level n_tech n_contrib (u8 each) | tactics u32 |
 *           rule_uuid[16] | event_ns received_ns first_seen_ns last_seen_ns (i64) |
 *           count u32 | sport dport (u16) | ip entity source destination observer |
 *           incident_id u64 | contrib_more u32 | techniques u32[n_tech] |
 *           str title user excerpt group_key | contrib u64[n_contrib]
 * incident: type ver | id u64 | ip entity | status u8 | label_len u8 | severity u16 |
 *           tactics u32 | first_seen last_seen updated (i64) | n_chain u16 |
 *           chain_more u32 | label bytes | chain u64[n_chain]
 * entity:   type ver | ip | first_seen last_seen (i64) | alert_count u64 | risk u32 |
 *           open_incident_id u64
 *
 * ip = family u8, then 0, 4 or 16 address bytes; str = u16 length, bytes.
 * The alert's fixed part comes first so last_seen/count sit at fixed offsets
 * (record_alert_fold patches them without a decode).
 */
#include "storage/record.h"

#include <string.h>

#define ALERT_OFF_LAST_SEEN 58
#define ALERT_OFF_COUNT     66

/* ---- bounded writer / reader ------------------------------------------ */

struct wbuf {
    uint8_t *p;
    size_t cap, len;
    int overflow;
};

static void put_bytes(struct wbuf *w, const void *src, size_t n)
{
    if (w->overflow || n > w->cap - w->len) {
        w->overflow = 1;
        return;
    }
    if (n)
        memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v) { put_bytes(w, &v, 1); }

static void put_le(struct wbuf *w, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    put_bytes(w, b, n);
}

static void put_ip(struct wbuf *w, const struct vigil_ip *ip)
{
    put_u8(w, ip->family);
    put_bytes(w, ip->addr, ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0);
}

static void put_str(struct wbuf *w, const char *s, uint16_t len)
{
    put_le(w, len, 2);
    put_bytes(w, s, len);
}

struct rbuf {
    const uint8_t *p;
    size_t len, off;
    int err;     /* first error: once set, every read returns zeros */
};

static int get_bytes(struct rbuf *r, void *dst, size_t n)
{
    if (r->err || n > r->len - r->off) {
        if (!r->err)
            r->err = RECORD_ETRUNC;
        if (n)
            memset(dst, 0, n);
        return -1;
    }
    if (n)
        memcpy(dst, r->p + r->off, n);
    r->off += n;
    return 0;
}

static uint64_t get_le(struct rbuf *r, unsigned n)
{
    uint8_t b[8];
    uint64_t v = 0;
    if (get_bytes(r, b, n) < 0)
        return 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static uint8_t get_u8(struct rbuf *r) { return (uint8_t)get_le(r, 1); }

static void range_error(struct rbuf *r)
{
    if (!r->err)
        r->err = RECORD_ERANGE;
}

static void get_ip(struct rbuf *r, struct vigil_ip *ip)
{
    memset(ip, 0, sizeof *ip);
    ip->family = get_u8(r);
    if (ip->family == 4)
        get_bytes(r, ip->addr, 4);
    else if (ip->family == 6)
        get_bytes(r, ip->addr, 16);
    else if (ip->family != 0)
        range_error(r);
}

/* A length-prefixed string into dst (cap = max + 1); longer than max is an error. */
static void get_str(struct rbuf *r, char *dst, uint16_t *len, size_t max)
{
    uint16_t n = (uint16_t)get_le(r, 2);
    dst[0] = '\0';
    *len = 0;
    if (r->err)
        return;
    if (n > max) {
        range_error(r);
        return;
    }
    if (get_bytes(r, dst, n) == 0) {
        dst[n] = '\0';
        *len = n;
    }
}

static int ip_ok(const struct vigil_ip *ip) { return ip->family == 0 || ip->family == 4 || ip->family == 6; }

/* Header check shared by the decoders. */
static int get_header(struct rbuf *r, uint8_t type)
{
    uint8_t t = get_u8(r), v = get_u8(r);
    if (r->err)
        return r->err;
    if (t != type)
        return RECORD_ETYPE;
    if (v != 1)
        return RECORD_EVERSION;
    return 0;
}

static int finish(struct rbuf *r)
{
    if (r->err)
        return r->err;
    return r->off == r->len ? 0 : RECORD_ETRAILING;
}

/* ---- alerts -------------------------------------------------------------- */

int record_alert_encode(const struct vigil_alert *a, uint8_t *buf, size_t cap)
{
    if ((a->kind != ALERT_DETECTION && a->kind != ALERT_CORRELATION) || a->level > ALERT_CRITICAL ||
        a->n_techniques > ALERT_TECHNIQUES_MAX || a->n_contrib > ALERT_CONTRIB_MAX ||
        (a->tactics & ~TACTIC_ALL_MASK) || a->title_len > ALERT_TITLE_MAX || a->user_len > ALERT_USER_MAX ||
        a->excerpt_len > ALERT_EXCERPT_MAX || a->group_key_len > ALERT_GROUP_KEY_MAX || !ip_ok(&a->entity) ||
        !ip_ok(&a->source_ip) || !ip_ok(&a->destination_ip) || !ip_ok(&a->observer_ip))
        return RECORD_ERANGE;
    struct wbuf w = {buf, cap, 0, 0};
    put_u8(&w, RECORD_ALERT);
    put_u8(&w, RECORD_VERSION);
    put_le(&w, a->id, 8);
    put_u8(&w, a->kind);
    put_u8(&w, a->level);
    put_u8(&w, a->n_techniques);
    put_u8(&w, a->n_contrib);
    put_le(&w, a->tactics, 4);
    put_bytes(&w, a->rule_uuid, 16);
    put_le(&w, (uint64_t)a->event_ns, 8);
    put_le(&w, (uint64_t)a->received_ns, 8);
    put_le(&w, (uint64_t)a->first_seen_ns, 8);
    put_le(&w, (uint64_t)a->last_seen_ns, 8);
    put_le(&w, a->count, 4);
    put_le(&w, a->source_port, 2);
    put_le(&w, a->destination_port, 2);
    put_ip(&w, &a->entity);
    put_ip(&w, &a->source_ip);
    put_ip(&w, &a->destination_ip);
    put_ip(&w, &a->observer_ip);
    put_le(&w, a->incident_id, 8);
    put_le(&w, a->contrib_more, 4);
    for (unsigned i = 0; i < a->n_techniques; i++)
        put_le(&w, a->techniques[i], 4);
    put_str(&w, a->title, a->title_len);
    put_str(&w, a->user, a->user_len);
    put_str(&w, a->excerpt, a->excerpt_len);
    put_str(&w, a->group_key, a->group_key_len);
    for (unsigned i = 0; i < a->n_contrib; i++)
        put_le(&w, a->contrib[i], 8);
    return w.overflow ? RECORD_ENOSPC : (int)w.len;
}

int record_alert_decode(const void *buf, size_t len, struct vigil_alert *a)
{
    struct rbuf r = {buf, len, 0, 0};
    int rc = get_header(&r, RECORD_ALERT);
    if (rc)
        return rc;
    memset(a, 0, offsetof(struct vigil_alert, title));
    a->id = get_le(&r, 8);
    a->kind = get_u8(&r);
    a->level = get_u8(&r);
    a->n_techniques = get_u8(&r);
    a->n_contrib = get_u8(&r);
    a->tactics = (uint32_t)get_le(&r, 4);
    get_bytes(&r, a->rule_uuid, 16);
    a->event_ns = (int64_t)get_le(&r, 8);
    a->received_ns = (int64_t)get_le(&r, 8);
    a->first_seen_ns = (int64_t)get_le(&r, 8);
    a->last_seen_ns = (int64_t)get_le(&r, 8);
    a->count = (uint32_t)get_le(&r, 4);
    a->source_port = (uint16_t)get_le(&r, 2);
    a->destination_port = (uint16_t)get_le(&r, 2);
    if (!r.err && ((a->kind != ALERT_DETECTION && a->kind != ALERT_CORRELATION) || a->level > ALERT_CRITICAL ||
                   a->n_techniques > ALERT_TECHNIQUES_MAX || a->n_contrib > ALERT_CONTRIB_MAX ||
                   (a->tactics & ~TACTIC_ALL_MASK)))
        range_error(&r);
    get_ip(&r, &a->entity);
    get_ip(&r, &a->source_ip);
    get_ip(&r, &a->destination_ip);
    get_ip(&r, &a->observer_ip);
    a->incident_id = get_le(&r, 8);
    a->contrib_more = (uint32_t)get_le(&r, 4);
    for (unsigned i = 0; i < a->n_techniques && !r.err; i++)
        a->techniques[i] = (uint32_t)get_le(&r, 4);
    get_str(&r, a->title, &a->title_len, ALERT_TITLE_MAX);
    get_str(&r, a->user, &a->user_len, ALERT_USER_MAX);
    get_str(&r, a->excerpt, &a->excerpt_len, ALERT_EXCERPT_MAX);
    get_str(&r, a->group_key, &a->group_key_len, ALERT_GROUP_KEY_MAX);
    memset(a->contrib, 0, sizeof a->contrib);
    for (unsigned i = 0; i < a->n_contrib && !r.err; i++)
        a->contrib[i] = get_le(&r, 8);
    return finish(&r);
}

int record_alert_fold(uint8_t *buf, size_t len, int64_t last_seen_ns, uint32_t add)
{
    if (len < ALERT_OFF_COUNT + 4)
        return RECORD_ETRUNC;
    if (buf[0] != RECORD_ALERT)
        return RECORD_ETYPE;
    if (buf[1] != 1)
        return RECORD_EVERSION;
    struct rbuf r = {buf, len, ALERT_OFF_LAST_SEEN, 0};
    int64_t last = (int64_t)get_le(&r, 8);
    uint32_t count = (uint32_t)get_le(&r, 4);
    if (last_seen_ns > last)
        last = last_seen_ns;
    count = add > UINT32_MAX - count ? UINT32_MAX : count + add;
    struct wbuf w = {buf + ALERT_OFF_LAST_SEEN, 12, 0, 0};
    put_le(&w, (uint64_t)last, 8);
    put_le(&w, count, 4);
    return 0;
}

/* ---- incidents ----------------------------------------------------------- */

int record_incident_encode(const struct vigil_incident *inc, uint8_t *buf, size_t cap)
{
    if (!ip_ok(&inc->entity) || inc->status > INCIDENT_CLOSED || inc->label_len > INCIDENT_LABEL_MAX ||
        (inc->tactics & ~TACTIC_ALL_MASK) || inc->n_chain > INCIDENT_CHAIN_MAX)
        return RECORD_ERANGE;
    struct wbuf w = {buf, cap, 0, 0};
    put_u8(&w, RECORD_INCIDENT);
    put_u8(&w, RECORD_VERSION);
    put_le(&w, inc->id, 8);
    put_ip(&w, &inc->entity);
    put_u8(&w, inc->status);
    put_u8(&w, inc->label_len);
    put_le(&w, inc->severity, 2);
    put_le(&w, inc->tactics, 4);
    put_le(&w, (uint64_t)inc->first_seen_ns, 8);
    put_le(&w, (uint64_t)inc->last_seen_ns, 8);
    put_le(&w, (uint64_t)inc->updated_ns, 8);
    put_le(&w, inc->n_chain, 2);
    put_le(&w, inc->chain_more, 4);
    put_bytes(&w, inc->label, inc->label_len);
    for (unsigned i = 0; i < inc->n_chain; i++)
        put_le(&w, inc->chain[i], 8);
    return w.overflow ? RECORD_ENOSPC : (int)w.len;
}

int record_incident_decode(const void *buf, size_t len, struct vigil_incident *inc)
{
    struct rbuf r = {buf, len, 0, 0};
    int rc = get_header(&r, RECORD_INCIDENT);
    if (rc)
        return rc;
    memset(inc, 0, sizeof *inc);
    inc->id = get_le(&r, 8);
    get_ip(&r, &inc->entity);
    inc->status = get_u8(&r);
    inc->label_len = get_u8(&r);
    inc->severity = (uint16_t)get_le(&r, 2);
    inc->tactics = (uint32_t)get_le(&r, 4);
    inc->first_seen_ns = (int64_t)get_le(&r, 8);
    inc->last_seen_ns = (int64_t)get_le(&r, 8);
    inc->updated_ns = (int64_t)get_le(&r, 8);
    inc->n_chain = (uint16_t)get_le(&r, 2);
    inc->chain_more = (uint32_t)get_le(&r, 4);
    if (!r.err && (inc->status > INCIDENT_CLOSED || inc->label_len > INCIDENT_LABEL_MAX ||
                   (inc->tactics & ~TACTIC_ALL_MASK) || inc->n_chain > INCIDENT_CHAIN_MAX))
        range_error(&r);
    if (!r.err)
        get_bytes(&r, inc->label, inc->label_len);
    if (r.err)
        inc->label_len = 0;
    inc->label[inc->label_len] = '\0';
    for (unsigned i = 0; i < inc->n_chain && !r.err; i++)
        inc->chain[i] = get_le(&r, 8);
    return finish(&r);
}

/* ---- entities ------------------------------------------------------------ */

int record_entity_encode(const struct vigil_entity *e, uint8_t *buf, size_t cap)
{
    if (!ip_ok(&e->ip))
        return RECORD_ERANGE;
    struct wbuf w = {buf, cap, 0, 0};
    put_u8(&w, RECORD_ENTITY);
    put_u8(&w, RECORD_VERSION);
    put_ip(&w, &e->ip);
    put_le(&w, (uint64_t)e->first_seen_ns, 8);
    put_le(&w, (uint64_t)e->last_seen_ns, 8);
    put_le(&w, e->alert_count, 8);
    put_le(&w, e->risk, 4);
    put_le(&w, e->open_incident_id, 8);
    return w.overflow ? RECORD_ENOSPC : (int)w.len;
}

int record_entity_decode(const void *buf, size_t len, struct vigil_entity *e)
{
    struct rbuf r = {buf, len, 0, 0};
    int rc = get_header(&r, RECORD_ENTITY);
    if (rc)
        return rc;
    memset(e, 0, sizeof *e);
    get_ip(&r, &e->ip);
    e->first_seen_ns = (int64_t)get_le(&r, 8);
    e->last_seen_ns = (int64_t)get_le(&r, 8);
    e->alert_count = get_le(&r, 8);
    e->risk = (uint32_t)get_le(&r, 4);
    e->open_incident_id = get_le(&r, 8);
    return finish(&r);
}

/* ---- helpers ------------------------------------------------------------- */

int record_peek(const void *buf, size_t len, uint8_t *type, uint8_t *version, uint64_t *id)
{
    struct rbuf r = {buf, len, 0, 0};
    uint8_t t = get_u8(&r), v = get_u8(&r);
    uint64_t i = 0;
    if (r.err)
        return RECORD_ETRUNC;
    if (v != 1)
        return RECORD_EVERSION;
    if (t == RECORD_ALERT || t == RECORD_INCIDENT) {
        i = get_le(&r, 8);
        if (r.err)
            return RECORD_ETRUNC;
    } else if (t != RECORD_ENTITY) {
        return RECORD_ETYPE;
    }
    if (type)
        *type = t;
    if (version)
        *version = v;
    if (id)
        *id = i;
    return 0;
}

uint16_t record_copy_str(char *dst, size_t cap, const void *src, size_t n)
{
    if (cap == 0)
        return 0;
    if (n > cap - 1)
        n = cap - 1;
    if (n > UINT16_MAX)
        n = UINT16_MAX;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
    return (uint16_t)n;
}

void record_ip_key(const struct vigil_ip *ip, uint8_t out[RECORD_IP_MAX])
{
    memset(out, 0, RECORD_IP_MAX);
    out[0] = ip->family;
    memcpy(out + 1, ip->addr, ip->family == 4 ? 4 : ip->family == 6 ? 16 : 0);
}

void record_ip_from_key(const uint8_t key[RECORD_IP_MAX], struct vigil_ip *ip)
{
    ip->family = key[0];
    memcpy(ip->addr, key + 1, 16);
}

int record_technique_parse(const char *text, size_t len, uint32_t *out)
{
    if (len < 2 || (text[0] != 'T' && text[0] != 't'))
        return -1;
    size_t i = 1;
    uint32_t main = 0, sub = 0;
    unsigned digits = 0;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++, digits++)
        if (digits < 5)
            main = main * 10 + (uint32_t)(text[i] - '0');
    if (digits != 4)     /* ATT&CK technique numbers are four digits */
        return -1;
    if (i < len) {
        if (text[i] != '.' || len - i != 4)
            return -1;
        for (i++; i < len; i++) {
            if (text[i] < '0' || text[i] > '9')
                return -1;
            sub = sub * 10 + (uint32_t)(text[i] - '0');
        }
    }
    *out = main * 1000 + sub;
    return 0;
}

void record_technique_format(uint32_t id, char buf[12])
{
    uint32_t main = (id / 1000) % 10000, sub = id % 1000;
    buf[0] = 'T';
    for (int i = 4; i >= 1; i--, main /= 10)
        buf[i] = (char)('0' + main % 10);
    if (sub) {
        buf[5] = '.';
        for (int i = 8; i >= 6; i--, sub /= 10)
            buf[i] = (char)('0' + sub % 10);
        buf[9] = '\0';
    } else {
        buf[5] = '\0';
    }
}

static const char *const tactic_names[TACTIC__COUNT] = {
    "reconnaissance", "resource_development", "initial_access", "execution",
    "persistence", "privilege_escalation", "defense_evasion", "credential_access",
    "discovery", "lateral_movement", "collection", "command_and_control",
    "exfiltration", "impact",
};

const char *record_tactic_name(unsigned tactic) { return tactic < TACTIC__COUNT ? tactic_names[tactic] : NULL; }

int record_tactic_parse(const char *text, size_t len)
{
    for (unsigned i = 0; i < TACTIC__COUNT; i++) {
        size_t n = strlen(tactic_names[i]);
        if (n != len)
            continue;
        size_t k = 0;
        for (; k < n; k++) {
            char c = text[k];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c == '-')      /* "command-and-control" spelling */
                c = '_';
            if (c != tactic_names[i][k])
                break;
        }
        if (k == n)
            return (int)i;
    }
    return -1;
}

const char *record_level_name(unsigned level)
{
    static const char *const n[] = {"informational", "low", "medium", "high", "critical"};
    return level <= ALERT_CRITICAL ? n[level] : NULL;
}

const char *record_status_name(unsigned status)
{
    static const char *const n[] = {"open", "acknowledged", "closed"};
    return status <= INCIDENT_CLOSED ? n[status] : NULL;
}

const char *record_strerror(int err)
{
    switch (err) {
    case 0: return "ok";
    case RECORD_ETRUNC: return "record truncated";
    case RECORD_ETYPE: return "record of another type";
    case RECORD_EVERSION: return "unknown record version";
    case RECORD_ERANGE: return "record field out of range";
    case RECORD_ETRAILING: return "trailing bytes after record";
    case RECORD_ENOSPC: return "buffer too small for record";
    default: return "unknown record error";
    }
}
