#include "engine/genparse.h"

#include <stdlib.h>
#include <string.h>

#define CLAIM_WINDOW 256    /* "CEF:" / "LEEF:" must start within this many bytes */
#define JSON_DEPTH   16
#define JSON_KEY_MAX 256

/* ---- small helpers ------------------------------------------------------ */

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_blank(char c) { return c == ' ' || c == '\t'; }
static inline bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline bool is_keychar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '-';
}
static inline bool in_set(const uint8_t set[32], char ch)
{
    uint8_t c = (uint8_t)ch;
    return set[c >> 3] & (1u << (c & 7));
}

static bool parse_i64(const char *p, uint32_t len, int64_t *out)
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
    for (; k < len; k++) {
        if (!is_digit(p[k]))
            return false;
        unsigned d = (unsigned)(p[k] - '0');
        if (v > (UINT64_MAX - d) / 10)
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

static const char *find_lit(const char *p, uint32_t len, const char *lit, uint32_t ln)
{
    if (!ln)
        return p;
    if (ln > len)
        return NULL;
    const char *e = p + len - ln + 1;
    for (const char *q = p; q < e; q++) {
        q = memchr(q, lit[0], (size_t)(e - q));
        if (!q)
            return NULL;
        if (!memcmp(q, lit, ln))
            return q;
    }
    return NULL;
}

/* ---- names -------------------------------------------------------------- */

const char *gp_format_name(enum gp_format f)
{
    switch (f) {
    case GP_KV:
        return "kv";
    case GP_CEF:
        return "cef";
    case GP_LEEF:
        return "leef";
    case GP_JSON:
        return "json";
    }
    return "?";
}

enum gp_format gp_format_parse(const char *s)
{
    if (!strcmp(s, "kv"))
        return GP_KV;
    if (!strcmp(s, "cef"))
        return GP_CEF;
    if (!strcmp(s, "leef"))
        return GP_LEEF;
    if (!strcmp(s, "json"))
        return GP_JSON;
    return 0;
}

enum gp_vtype gp_vtype_for(const char *name)
{
    static const char *const ints[] = {".port", ".bytes", ".packets", ".pid", ".status_code",
                                       ".severity", ".duration", ".count"};
    size_t n = strlen(name);
    if (n >= 3 && !strcmp(name + n - 3, ".ip"))
        return GP_VIP;
    for (unsigned i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        size_t k = strlen(ints[i]);
        if (n >= k && !strcmp(name + n - k, ints[i]))
            return GP_VINT;
    }
    return GP_VSTR;
}

/* ---- key map ------------------------------------------------------------ */

static uint32_t hash_bytes(const char *p, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 16777619u;
    return h;
}

static inline bool same_key(const char *a, const char *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return false;
    return true;
}

static const struct gp_entry *map_find(const struct gp_map *m, const char *k, uint32_t kl)
{
    if (!m->nslots)
        return NULL;
    uint32_t h = hash_bytes(k, kl);
    for (unsigned i = 0; i < m->nslots; i++) {
        int32_t s = m->slot[(h + i) & (m->nslots - 1)];
        if (!s)
            return NULL;
        const struct gp_entry *e = &m->e[s - 1];
        if (e->klen == kl && same_key(e->key, k, kl))
            return e;
    }
    return NULL;
}

static int map_rehash(struct gp_map *m, unsigned nslots)
{
    int32_t *slot = calloc(nslots, sizeof *slot);
    if (!slot)
        return -1;
    for (unsigned i = 0; i < m->n; i++) {
        uint32_t h = hash_bytes(m->e[i].key, m->e[i].klen);
        unsigned j = 0;
        while (slot[(h + j) & (nslots - 1)])
            j++;
        slot[(h + j) & (nslots - 1)] = (int32_t)i + 1;
    }
    free(m->slot);
    m->slot = slot;
    m->nslots = nslots;
    return 0;
}

static int map_add(struct gp_map *m, const char *key, field_id fid, uint8_t vtype, bool forced)
{
    size_t kl = strlen(key);
    if (!kl || kl > 65535 || map_find(m, key, (uint32_t)kl))
        return -1;
    if (m->n == m->cap) {
        unsigned cap = m->cap ? m->cap * 2 : 16;
        struct gp_entry *ne = realloc(m->e, cap * sizeof *ne);
        if (!ne)
            return -1;
        m->e = ne;
        m->cap = cap;
    }
    char *k = strdup(key);
    if (!k)
        return -1;
    m->e[m->n] = (struct gp_entry){.key = k, .klen = (uint16_t)kl, .fid = fid, .vtype = vtype, .forced = forced};
    m->n++;
    if (m->n * 2 > m->nslots) {
        unsigned ns = m->nslots ? m->nslots : 16;
        while (m->n * 2 > ns)
            ns *= 2;
        if (map_rehash(m, ns) != 0) {
            free(k);
            m->n--;
            return -1;
        }
    } else {
        uint32_t h = hash_bytes(k, (uint32_t)kl);
        unsigned j = 0;
        while (m->slot[(h + j) & (m->nslots - 1)])
            j++;
        m->slot[(h + j) & (m->nslots - 1)] = (int32_t)m->n;
    }
    return 0;
}

static void map_free(struct gp_map *m)
{
    for (unsigned i = 0; i < m->n; i++)
        free(m->e[i].key);
    free(m->e);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

/* ---- setup -------------------------------------------------------------- */

void genparse_init(struct genparse *g, enum gp_format f)
{
    memset(g, 0, sizeof *g);
    g->format = (uint8_t)f;
    g->min_pairs = 2;
    genparse_set_separators(g, " \t");
}

void genparse_free(struct genparse *g)
{
    map_free(&g->map);
    map_free(&g->flags);
    free(g->claim);
    g->claim = NULL;
}

int genparse_map(struct genparse *g, const char *key, field_id fid, const char *field_name, int forced_vtype,
                 int alt_fid)
{
    uint8_t vt = (uint8_t)(forced_vtype >= 0 ? forced_vtype : (int)gp_vtype_for(field_name));
    if (map_add(&g->map, key, fid, vt, forced_vtype >= 0) != 0)
        return -1;
    if (alt_fid >= 0) {
        g->map.e[g->map.n - 1].has_alt = 1;
        g->map.e[g->map.n - 1].alt = (field_id)alt_fid;
    }
    return 0;
}

int genparse_flag(struct genparse *g, const char *word, field_id fid) { return map_add(&g->flags, word, fid, GP_VSTR, true); }

void genparse_lowercase(struct genparse *g, field_id fid)
{
    for (unsigned i = 0; i < g->map.n; i++)
        if (g->map.e[i].fid == fid)
            g->map.e[i].lower = 1;
}

int genparse_set_claim(struct genparse *g, const char *lit)
{
    free(g->claim);
    g->claim = NULL;
    g->claim_len = 0;
    if (!lit || !*lit)
        return 0;
    if (!(g->claim = strdup(lit)))
        return -1;
    g->claim_len = (uint32_t)strlen(lit);
    return 0;
}

void genparse_set_separators(struct genparse *g, const char *chars)
{
    memset(g->sep, 0, sizeof g->sep);
    for (const char *c = chars; *c; c++)
        g->sep[(uint8_t)*c >> 3] |= (uint8_t)(1u << ((uint8_t)*c & 7));
}

/* ---- emitting values ---------------------------------------------------- */

enum unesc {
    U_NONE = 0,
    U_KV,        /* \" \' \\ */
    U_CEF_HDR,   /* \| \\ */
    U_CEF_EXT,   /* \= \\ \n \r (and \| tolerated) */
    U_JSON,
};

struct emit_st {
    struct event_fields *ef;
    unsigned added;
    unsigned limit;
};

static uint32_t put_utf8(char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xC0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xE0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        d[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (char)(0xF0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    d[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int hex4(const char *p, const char *e, uint32_t *out)
{
    if (e - p < 4)
        return -1;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        unsigned d;
        if (is_digit(c))
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    *out = v;
    return 0;
}

/* Unescapes src[0..n) into d (which holds at least n bytes); returns the length.
 * No escape form makes the text longer: \uXXXX (6 bytes) gives at most 3,
 * a surrogate pair (12) gives 4. */
static uint32_t unescape(char *d, const char *s, uint32_t n, enum unesc u)
{
    const char *e = s + n;
    uint32_t o = 0;
    while (s < e) {
        char c = *s++;
        if (c != '\\' || s >= e || u == U_NONE) {
            d[o++] = c;
            continue;
        }
        char x = *s;
        switch (u) {
        case U_KV:
            if (x == '"' || x == '\'' || x == '\\') {
                d[o++] = x;
                s++;
            } else {
                d[o++] = '\\';
            }
            break;
        case U_CEF_HDR:
            if (x == '|' || x == '\\') {
                d[o++] = x;
                s++;
            } else {
                d[o++] = '\\';
            }
            break;
        case U_CEF_EXT:
            s++;
            if (x == '=' || x == '\\' || x == '|')
                d[o++] = x;
            else if (x == 'n')
                d[o++] = '\n';
            else if (x == 'r')
                d[o++] = '\r';
            else {
                d[o++] = '\\';
                s--;
            }
            break;
        case U_JSON: {
            s++;
            switch (x) {
            case 'b': d[o++] = '\b'; break;
            case 'f': d[o++] = '\f'; break;
            case 'n': d[o++] = '\n'; break;
            case 'r': d[o++] = '\r'; break;
            case 't': d[o++] = '\t'; break;
            case 'u': {
                uint32_t cp;
                if (hex4(s, e, &cp) != 0) {
                    d[o++] = '\\';
                    d[o++] = 'u';
                    break;
                }
                s += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (e - s >= 6 && s[0] == '\\' && s[1] == 'u' && hex4(s + 2, e, &lo) == 0 && lo >= 0xDC00 &&
                        lo <= 0xDFFF) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        s += 6;
                    } else {
                        cp = 0xFFFD;
                    }
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    cp = 0xFFFD;
                }
                o += put_utf8(d + o, cp);
                break;
            }
            default: d[o++] = x; break;   /* \" \\ \/ and anything else: the character */
            }
            break;
        }
        default:
            d[o++] = c;
            break;
        }
    }
    return o;
}

static bool fast_ipv4(const char *p, uint32_t len, struct vigil_ip *ip)
{
    if (len < 7 || len > 15 || !is_digit(p[0]))
        return false;
    uint8_t a[4];
    unsigned part = 0, v = 0, nd = 0;
    for (uint32_t k = 0; k < len; k++) {
        char c = p[k];
        if (is_digit(c)) {
            if (nd && v == 0)
                return false;
            v = v * 10 + (unsigned)(c - '0');
            if (++nd > 3 || v > 255)
                return false;
        } else if (c == '.' && nd && part < 3) {
            a[part++] = (uint8_t)v;
            v = nd = 0;
        } else {
            return false;
        }
    }
    if (part != 3 || !nd)
        return false;
    a[3] = (uint8_t)v;
    memset(ip, 0, sizeof *ip);
    ip->family = 4;
    memcpy(ip->addr, a, 4);
    return true;
}

static bool parse_ip(const char *p, uint32_t len, struct vigil_ip *ip)
{
    return fast_ipv4(p, len, ip) || field_parse_ip(p, len, ip);
}

static void add_value(struct emit_st *st, field_id fid, uint8_t vtype, bool lower, const char *v, uint32_t len,
                      enum unesc u, int alt)
{
    struct event_fields *ef = st->ef;
    if (len == 0)
        return;
    if (st->limit && st->added >= st->limit) {
        ef->dropped++;
        return;
    }
    int rc;
    if (u == U_NONE && vtype == GP_VINT) {
        int64_t i;
        if (parse_i64(v, len, &i)) {
            rc = event_fields_add_int(ef, fid, i);
            st->added += rc == 0;
            return;
        }
    }
    if (u == U_NONE && vtype == GP_VIP) {
        struct vigil_ip ip;
        if (parse_ip(v, len, &ip)) {
            rc = event_fields_add_ip(ef, fid, &ip);
            st->added += rc == 0;
            return;
        }
    }
    if (vtype != GP_VSTR && alt >= 0)
        fid = (field_id)alt;   /* did not convert: the fallback field takes the text */
    if (u == U_NONE && !lower) {
        rc = event_fields_add_str(ef, fid, v, len);
        st->added += rc == 0;
        return;
    }
    if (ef->n >= ef->max) {   /* would be refused: do not spend arena on it */
        ef->dropped++;
        return;
    }
    char *d = event_fields_alloc(ef, len);
    if (!d)
        return;   /* counted by event_fields_alloc */
    uint32_t n = unescape(d, v, len, u);
    if (lower)
        for (uint32_t i = 0; i < n; i++)
            if (d[i] >= 'A' && d[i] <= 'Z')
                d[i] = (char)(d[i] + 32);
    ef->arena_used -= len - n;   /* give back what unescaping saved (last allocation) */
    rc = event_fields_add_str(ef, fid, d, n);
    st->added += rc == 0;
}

static void emit(const struct genparse *g, struct emit_st *st, const char *k, uint32_t kl, const char *v,
                 uint32_t vl, enum unesc u)
{
    const struct gp_entry *m = map_find(&g->map, k, kl);
    if (m)
        add_value(st, m->fid, m->vtype, m->lower, v, vl, u, m->has_alt ? m->alt : -1);
}

/* ---- claim tests -------------------------------------------------------- */

static const char *find_head(const char *msg, uint32_t len, const char *tag, uint32_t tl)
{
    uint32_t win = len < CLAIM_WINDOW + tl ? len : CLAIM_WINDOW + tl;
    return find_lit(msg, win, tag, tl);
}

static const char *json_start(const char *msg, uint32_t len)
{
    const char *p = msg, *e = msg + len;
    while (p < e && is_space(*p))
        p++;
    if (e - p >= 5 && !memcmp(p, "@cee:", 5)) {
        p += 5;
        while (p < e && is_space(*p))
            p++;
    }
    return p < e && *p == '{' ? p : NULL;
}

bool genparse_claims(const struct genparse *g, const char *msg, uint32_t len)
{
    if (g->claim_len && !find_lit(msg, len, g->claim, g->claim_len))
        return false;
    switch (g->format) {
    case GP_KV:
        return memchr(msg, '=', len) != NULL;
    case GP_CEF:
        return find_head(msg, len, "CEF:", 4) != NULL;
    case GP_LEEF:
        return find_head(msg, len, "LEEF:", 5) != NULL;
    case GP_JSON:
        return json_start(msg, len) != NULL;
    }
    return false;
}

/* ---- kv ----------------------------------------------------------------- */

static int parse_kv(const struct genparse *g, const char *msg, uint32_t len, struct emit_st *st)
{
    const char *p = msg, *e = msg + len;
    unsigned pairs = 0;
    const char *prefix_end = NULL;
    while (p < e) {
        while (p < e && in_set(g->sep, *p))
            p++;
        if (p >= e)
            break;
        const char *t = p, *q = p;
        while (q < e && !in_set(g->sep, *q) && *q != '=')
            q++;
        if (q < e && *q == '=') {
            const char *k = q;
            while (k > t && is_keychar(k[-1]))
                k--;
            if (k == q) {   /* "=..." with no key: skip the token */
                p = q + 1;
                while (p < e && !in_set(g->sep, *p))
                    p++;
                continue;
            }
            if (!pairs)
                prefix_end = k;
            const char *v = q + 1, *ve;
            enum unesc u = U_NONE;
            if (v < e && (*v == '"' || *v == '\'')) {
                char qc = *v++;
                const char *w = v;
                while (w < e && *w != qc) {
                    if (*w == '\\' && w + 1 < e) {
                        u = U_KV;
                        w++;
                    }
                    w++;
                }
                ve = w;                   /* unterminated: to the end */
                p = w < e ? w + 1 : e;
            } else {
                const char *w = v;
                while (w < e && !in_set(g->sep, *w))
                    w++;
                ve = p = w;
            }
            pairs++;
            emit(g, st, k, (uint32_t)(q - k), v, (uint32_t)(ve - v), u);
        } else {
            if (pairs && g->flags.n) {
                const struct gp_entry *f = map_find(&g->flags, t, (uint32_t)(q - t));
                if (f)
                    add_value(st, f->fid, GP_VSTR, false, t, (uint32_t)(q - t), U_NONE, -1);
            }
            p = q;
        }
    }
    if (pairs < g->min_pairs || !pairs)
        return -1;
    if (g->has_prefix && prefix_end) {
        const char *s = msg, *pe = prefix_end;
        while (s < pe && is_blank(*s))
            s++;
        if (s < pe && *s == '[') {   /* kernel "[ 1234.567890]" */
            const char *r = s + 1;
            while (r < pe && (*r == ' ' || is_digit(*r) || *r == '.'))
                r++;
            if (r < pe && *r == ']')
                s = r + 1;
        }
        while (s < pe && is_blank(*s))
            s++;
        while (pe > s && (is_blank(pe[-1]) || pe[-1] == ':'))
            pe--;
        add_value(st, g->prefix_fid, GP_VSTR, false, s, (uint32_t)(pe - s), U_NONE, -1);
    }
    return 0;
}

/* ---- CEF ---------------------------------------------------------------- */

static const char *const cef_hdr[] = {"version", "deviceVendor", "deviceProduct", "deviceVersion",
                                      "signatureId", "name", "severity"};

static inline bool cef_keychar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c == '.' || c == '-' ||
           c == '[' || c == ']';
}

static int parse_cef(const struct genparse *g, const char *msg, uint32_t len, struct emit_st *st)
{
    const char *h = find_head(msg, len, "CEF:", 4);
    if (!h)
        return -1;
    const char *p = h + 4, *e = msg + len;
    const char *fs[7], *fe[7];
    bool fesc[7];
    for (int i = 0; i < 7; i++) {
        fs[i] = p;
        fesc[i] = false;
        while (p < e && *p != '|') {
            if (*p == '\\' && p + 1 < e) {
                fesc[i] = true;
                p++;
            }
            p++;
        }
        if (p >= e)
            return -1;   /* fewer than 7 header fields: not CEF */
        fe[i] = p++;
    }
    if (!is_digit(*fs[0]))
        return -1;
    for (int i = 0; i < 7; i++)
        emit(g, st, cef_hdr[i], (uint32_t)strlen(cef_hdr[i]), fs[i], (uint32_t)(fe[i] - fs[i]),
             fesc[i] ? U_CEF_HDR : U_NONE);
    /* extension */
    while (p < e && is_blank(*p))
        p++;
    while (p < e) {
        const char *k = p;
        while (p < e && cef_keychar(*p))
            p++;
        if (p >= e || *p != '=' || p == k) {   /* junk: skip a word */
            while (p < e && !is_blank(*p))
                p++;
            while (p < e && is_blank(*p))
                p++;
            continue;
        }
        const char *ke = p++;
        const char *v = p, *ve = e, *next = e;
        bool esc = false;
        while (p < e) {
            if (*p == '\\' && p + 1 < e) {
                esc = true;
                p += 2;
                continue;
            }
            if (*p == ' ') {
                const char *r = p;
                while (r < e && *r == ' ')
                    r++;
                const char *s = r;
                while (s < e && cef_keychar(*s))
                    s++;
                if (s > r && s < e && *s == '=') {
                    ve = p;
                    next = r;
                    break;
                }
                p = s > r ? s : r;
                continue;
            }
            p++;
        }
        if (p >= e) {
            ve = e;
            next = e;
        }
        while (ve > v && is_blank(ve[-1]))
            ve--;
        emit(g, st, k, (uint32_t)(ke - k), v, (uint32_t)(ve - v), esc ? U_CEF_EXT : U_NONE);
        p = next;
    }
    return 0;
}

/* ---- LEEF --------------------------------------------------------------- */

static int hexval(char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int parse_leef(const struct genparse *g, const char *msg, uint32_t len, struct emit_st *st)
{
    static const char *const hdr[] = {"version", "deviceVendor", "deviceProduct", "deviceVersion", "signatureId"};
    const char *h = find_head(msg, len, "LEEF:", 5);
    if (!h)
        return -1;
    const char *p = h + 5, *e = msg + len;
    const char *fs[5], *fe[5];
    for (int i = 0; i < 5; i++) {
        fs[i] = p;
        while (p < e && *p != '|')
            p++;
        if (p >= e)
            return -1;
        fe[i] = p++;
    }
    if (fe[0] == fs[0] || (*fs[0] != '1' && *fs[0] != '2'))
        return -1;
    for (int i = 0; i < 5; i++)
        emit(g, st, hdr[i], (uint32_t)strlen(hdr[i]), fs[i], (uint32_t)(fe[i] - fs[i]), U_NONE);
    char delim = '\t';
    if (*fs[0] == '2') {
        /* optional delimiter field: "X|", "xHH|", "0xHH|" */
        const char *bar = memchr(p, '|', (size_t)(e - p) < 8 ? (size_t)(e - p) : 8);
        if (bar) {
            const char *d = p;
            size_t dl = (size_t)(bar - p);
            if (dl == 1) {
                delim = *d;
                p = bar + 1;
            } else if (dl == 0) {
                p = bar + 1;
            } else {
                if (dl >= 2 && (d[0] == 'x' || d[0] == 'X')) {
                    d++;
                    dl--;
                } else if (dl >= 3 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
                    d += 2;
                    dl -= 2;
                } else {
                    dl = 0;
                }
                if (dl >= 1 && dl <= 4) {
                    int v = 0;
                    size_t i;
                    for (i = 0; i < dl && hexval(d[i]) >= 0; i++)
                        v = v * 16 + hexval(d[i]);
                    if (i == dl && v > 0 && v < 256) {
                        delim = (char)v;
                        p = bar + 1;
                    }
                }
            }
        }
    }
    while (p < e) {
        const char *a = p;
        const char *ae = memchr(p, delim, (size_t)(e - p));
        if (!ae)
            ae = e;
        const char *eq = memchr(a, '=', (size_t)(ae - a));
        if (eq) {
            const char *k = a;
            while (k < eq && is_blank(*k))
                k++;
            emit(g, st, k, (uint32_t)(eq - k), eq + 1, (uint32_t)(ae - eq - 1), U_NONE);
        }
        p = ae < e ? ae + 1 : e;
    }
    return 0;
}

/* ---- JSON --------------------------------------------------------------- */

struct jctx {
    const struct genparse *g;
    struct emit_st *st;
    const char *p, *e;
    char path[JSON_KEY_MAX];
    unsigned plen;
    bool overflow;       /* the current path did not fit: values under it are skipped */
};

static void jws(struct jctx *j)
{
    while (j->p < j->e && is_space(*j->p))
        j->p++;
}

/* At '"': sets [*s, *se) to the raw contents, *esc when it holds escapes. */
static int jstring(struct jctx *j, const char **s, const char **se, bool *esc)
{
    const char *p = j->p + 1;
    *esc = false;
    *s = p;
    while (p < j->e && *p != '"') {
        if (*p == '\\') {
            *esc = true;
            p++;
        }
        p++;
    }
    if (p >= j->e)
        return -1;
    *se = p;
    j->p = p + 1;
    return 0;
}

/* Skips one value without recursion. */
static int jskip(struct jctx *j)
{
    unsigned depth = 0;
    jws(j);
    do {
        if (j->p >= j->e)
            return -1;
        char c = *j->p;
        if (c == '"') {
            const char *s, *se;
            bool esc;
            if (jstring(j, &s, &se, &esc) != 0)
                return -1;
        } else if (c == '{' || c == '[') {
            depth++;
            j->p++;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return -1;
            depth--;
            j->p++;
        } else if (depth) {
            j->p++;
        } else {   /* a scalar at top level */
            while (j->p < j->e && *j->p != ',' && *j->p != '}' && *j->p != ']' && !is_space(*j->p))
                j->p++;
        }
    } while (depth);
    return 0;
}

static void jemit(struct jctx *j, const char *v, uint32_t vl, enum unesc u, bool is_number)
{
    if (j->overflow || !j->plen)
        return;
    const struct gp_entry *m = map_find(&j->g->map, j->path, j->plen);
    if (!m)
        return;
    uint8_t vt = m->vtype;
    if (is_number) /* integers when integral (add_value keeps other numbers as strings), unless forced :str */
        vt = m->forced && m->vtype == GP_VSTR ? GP_VSTR : GP_VINT;
    add_value(j->st, m->fid, vt, m->lower, v, vl, u, m->has_alt ? m->alt : -1);
}

static int jvalue(struct jctx *j, unsigned depth, bool in_array);

static int jobject(struct jctx *j, unsigned depth)
{
    j->p++;   /* '{' */
    jws(j);
    if (j->p < j->e && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        jws(j);
        if (j->p >= j->e || *j->p != '"')
            return -1;
        const char *ks, *ke;
        bool kesc;
        if (jstring(j, &ks, &ke, &kesc) != 0)
            return -1;
        unsigned save = j->plen;
        bool save_of = j->overflow;
        uint32_t kl = (uint32_t)(ke - ks);
        unsigned need = (j->plen ? 1 : 0) + kl;
        if (!j->overflow && j->plen + need < JSON_KEY_MAX) {
            if (j->plen)
                j->path[j->plen++] = '.';
            if (kesc)
                j->plen += unescape(j->path + j->plen, ks, kl, U_JSON);
            else {
                memcpy(j->path + j->plen, ks, kl);
                j->plen += kl;
            }
        } else {
            j->overflow = true;
        }
        jws(j);
        if (j->p >= j->e || *j->p != ':')
            return -1;
        j->p++;
        if (jvalue(j, depth + 1, false) != 0)
            return -1;
        j->plen = save;
        j->overflow = save_of;
        jws(j);
        if (j->p >= j->e)
            return -1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        return -1;
    }
}

static int jarray(struct jctx *j, unsigned depth)
{
    j->p++;   /* '[' */
    jws(j);
    if (j->p < j->e && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        jws(j);
        if (j->p >= j->e)
            return -1;
        if (jvalue(j, depth + 1, true) != 0)
            return -1;
        jws(j);
        if (j->p >= j->e)
            return -1;
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == ']') {
            j->p++;
            return 0;
        }
        return -1;
    }
}

static int jvalue(struct jctx *j, unsigned depth, bool in_array)
{
    jws(j);
    if (j->p >= j->e)
        return -1;
    char c = *j->p;
    if (c == '{' || c == '[') {
        if (in_array || depth >= JSON_DEPTH)
            return jskip(j);
        return c == '{' ? jobject(j, depth) : jarray(j, depth);
    }
    if (c == '"') {
        const char *s, *se;
        bool esc;
        if (jstring(j, &s, &se, &esc) != 0)
            return -1;
        jemit(j, s, (uint32_t)(se - s), esc ? U_JSON : U_NONE, false);
        return 0;
    }
    if (c == '-' || is_digit(c)) {
        const char *s = j->p;
        while (j->p < j->e && (is_digit(*j->p) || *j->p == '-' || *j->p == '+' || *j->p == '.' || *j->p == 'e' ||
                               *j->p == 'E'))
            j->p++;
        jemit(j, s, (uint32_t)(j->p - s), U_NONE, true);
        return 0;
    }
    if (j->e - j->p >= 4 && !memcmp(j->p, "true", 4)) {
        jemit(j, j->p, 4, U_NONE, false);
        j->p += 4;
        return 0;
    }
    if (j->e - j->p >= 5 && !memcmp(j->p, "false", 5)) {
        jemit(j, j->p, 5, U_NONE, false);
        j->p += 5;
        return 0;
    }
    if (j->e - j->p >= 4 && !memcmp(j->p, "null", 4)) {
        j->p += 4;
        return 0;
    }
    return -1;
}

static int parse_json(const struct genparse *g, const char *msg, uint32_t len, struct emit_st *st)
{
    const char *s = json_start(msg, len);
    if (!s)
        return -1;
    struct jctx j = {.g = g, .st = st, .p = s, .e = msg + len};
    return jobject(&j, 0);
}

/* ---- entry point -------------------------------------------------------- */

int genparse_parse(const struct genparse *g, const char *msg, uint32_t len, struct event_fields *ef)
{
    uint16_t save_n = ef->n;
    uint32_t save_drop = ef->dropped, save_arena = ef->arena_used;
    struct emit_st st = {ef, 0, g->max_fields};
    int rc = -1;
    if (!genparse_claims(g, msg, len))
        return -1;
    switch (g->format) {
    case GP_KV:
        rc = parse_kv(g, msg, len, &st);
        break;
    case GP_CEF:
        rc = parse_cef(g, msg, len, &st);
        break;
    case GP_LEEF:
        rc = parse_leef(g, msg, len, &st);
        break;
    case GP_JSON:
        rc = parse_json(g, msg, len, &st);
        break;
    }
    if (rc != 0) {
        ef->n = save_n;
        ef->dropped = save_drop;
        ef->arena_used = save_arena;
        return -1;
    }
    return (int)st.added;
}
