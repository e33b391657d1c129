#include "engine/genparse.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif

#include "engine/bytes.h"

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


/* First lit[0..ln) in p[0..len), or NULL.  Positions whose first and last
 * bytes both match are found 16 at a time, and only those are compared: a
 * claim literal often starts with a letter that is everywhere in a message
 * (the 'a' of "authentication failure", the 'l' of "logid="), and a
 * memchr + memcmp per occurrence cost more than the kv parse it guards. */
static const char *find_lit(const char *p, uint32_t len, const char *lit, uint32_t ln)
{
    if (ln <= 1)
        return ln ? memchr(p, lit[0], len) : p;
    if (ln > len)
        return NULL;
    uint32_t last = len - ln, i = 0;   /* the last start that fits */
#ifdef __SSE2__
    const __m128i f = _mm_set1_epi8(lit[0]), l = _mm_set1_epi8(lit[ln - 1]);
    for (; i + 15 <= last; i += 16) {   /* starts i .. i + 15; their last bytes end at len - 1 at most */
        __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i)), f);
        __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + i + ln - 1)), l);
        for (unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(a, b)); m; m &= m - 1) {
            uint32_t k = i + (uint32_t)__builtin_ctz(m);
            if (!memcmp(p + k + 1, lit + 1, ln - 2))
                return p + k;
        }
    }
#endif
    for (; i <= last; i++)
        if (p[i] == lit[0] && p[i + ln - 1] == lit[ln - 1] && !memcmp(p + i + 1, lit + 1, ln - 2))
            return p + i;
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


/* Key hash from word loads (the first and last up-to-8 bytes and the length)
 * rather than a byte loop: keys are short and differ there; keys that share
 * both ends only cost a probe. */
static inline uint32_t hash_bytes(const char *p, uint32_t n)
{
    uint64_t a, b;
    if (n >= 8) {
        a = load_u64(p);
        b = load_u64(p + n - 8);
    } else if (n >= 4) {
        a = load_u32(p);
        b = load_u32(p + n - 4);
    } else if (n) {
        a = (uint8_t)p[0] | (uint32_t)(uint8_t)p[n >> 1] << 8;
        b = (uint8_t)p[n - 1];
    } else {
        a = b = 0;
    }
    uint64_t h = (a ^ (b << 29 | b >> 35) ^ ((uint64_t)n << 56)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* a[0..n) == b[0..n): word compares, overlapping at the end. */
static inline bool same_key(const char *a, const char *b, uint32_t n)
{
    if (n >= 8) {
        while (n > 8) {
            if (load_u64(a) != load_u64(b))
                return false;
            a += 8;
            b += 8;
            n -= 8;
        }
        return load_u64(a + n - 8) == load_u64(b + n - 8);
    }
    if (n >= 4)
        return load_u32(a) == load_u32(b) && load_u32(a + n - 4) == load_u32(b + n - 4);
    if (n >= 2)
        return load_u16(a) == load_u16(b) && load_u16(a + n - 2) == load_u16(b + n - 2);
    return n == 0 || *a == *b;
}

static inline const struct gp_entry *map_find(const struct gp_map *m, const char *k, uint32_t kl)
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
    g->blank_seps = true;   /* separators are the blanks: vector scans find them */
    memset(g->key_lo, 0, sizeof g->key_lo);
    for (unsigned c = 0; c < 256; c++) {
        if (c < 128 && is_keychar((char)c))
            g->key_lo[c & 15] |= (uint8_t)(1u << (c >> 4));
        g->kvc[c] = (uint8_t)((in_set(g->sep, (char)c) ? KVC_SEP : 0) | (c == '=' ? KVC_EQ : 0) |
                              (is_keychar((char)c) ? KVC_KEY : 0));
        if (in_set(g->sep, (char)c) != (c == ' ' || c == '\t'))
            g->blank_seps = false;
    }
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

/* event_fields_add_* (fields.c) inlined: the same limit and counting, no call.
 * 1 when added. */
static inline struct field_value *ef_slot(struct event_fields *ef, field_id id, uint8_t type)
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

static inline int ef_add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len)
{
    struct field_value *f = ef_slot(ef, id, FIELD_STR);
    if (!f)
        return 0;
    f->v.s.ptr = p;
    f->v.s.len = len;
    return 1;
}

static void add_value_slow(struct emit_st *st, field_id fid, uint8_t vtype, bool lower, const char *v,
                           uint32_t len, enum unesc u, int alt);

/* The common case inline: a plain value (no escapes, no lower-casing). */
static inline void add_value(struct emit_st *st, field_id fid, uint8_t vtype, bool lower, const char *v, uint32_t len,
                             enum unesc u, int alt)
{
    struct event_fields *ef = st->ef;
    if (len == 0)
        return;
    if (st->limit && st->added >= st->limit) {
        ef->dropped++;
        return;
    }
    if (u != U_NONE || lower) {
        add_value_slow(st, fid, vtype, lower, v, len, u, alt);
        return;
    }
    if (vtype == GP_VINT) {
        int64_t i;
        if (field_parse_i64(v, len, &i)) {
            struct field_value *f = ef_slot(ef, fid, FIELD_INT);
            if (f) {
                f->v.i = i;
                st->added++;
            }
            return;
        }
    } else if (vtype == GP_VIP) {
        struct vigil_ip ip;
        if (field_parse_ip(v, len, &ip)) {
            struct field_value *f = ef_slot(ef, fid, FIELD_IP);
            if (f) {
                f->v.ip = ip;
                st->added++;
            }
            return;
        }
    }
    if (vtype != GP_VSTR && alt >= 0)
        fid = (field_id)alt;   /* did not convert: the fallback field takes the text */
    st->added += ef_add_str(ef, fid, v, len);
}

/* Past add_value's checks: escapes or lower-casing (or both). */
static void add_value_slow(struct emit_st *st, field_id fid, uint8_t vtype, bool lower, const char *v,
                           uint32_t len, enum unesc u, int alt)
{
    struct event_fields *ef = st->ef;
    if (u == U_NONE && vtype == GP_VINT) {
        int64_t i;
        if (field_parse_i64(v, len, &i)) {
            struct field_value *f = ef_slot(ef, fid, FIELD_INT);
            if (f) {
                f->v.i = i;
                st->added++;
            }
            return;
        }
    }
    if (u == U_NONE && vtype == GP_VIP) {
        struct vigil_ip ip;
        if (field_parse_ip(v, len, &ip)) {
            struct field_value *f = ef_slot(ef, fid, FIELD_IP);
            if (f) {
                f->v.ip = ip;
                st->added++;
            }
            return;
        }
    }
    if (vtype != GP_VSTR && alt >= 0)
        fid = (field_id)alt;   /* did not convert: the fallback field takes the text */
    if (u == U_NONE && !lower) {
        st->added += ef_add_str(ef, fid, v, len);
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
    st->added += ef_add_str(ef, fid, d, n);
}

static inline void emit(const struct genparse *g, struct emit_st *st, const char *k, uint32_t kl, const char *v,
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
    /* kv: a message without '=' has no pair; that test (one fast memchr)
     * first, before the claim literal's */
    if (g->format == GP_KV && !memchr(msg, '=', len))
        return false;
    if (g->claim_len && !find_lit(msg, len, g->claim, g->claim_len))
        return false;
    switch (g->format) {
    case GP_KV:
        return true;
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

/* First qc or backslash in [p, e), or e. */
static inline const char *find_quote_or_bs(const char *p, const char *e, char qc)
{
#ifdef __SSE2__
    const __m128i a = _mm_set1_epi8(qc), b = _mm_set1_epi8('\\');
    for (; e - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, a), _mm_cmpeq_epi8(x, b)));
        if (m)
            return p + __builtin_ctz(m);
    }
#endif
    while (p < e && *p != qc && *p != '\\')
        p++;
    return p;
}

/* The first byte at or after p that cannot be in a key, 16 bytes at a time
 * (pshufb set test, g->key_lo); the caller's byte loop finishes the tail. */
static inline const char *key_run_end(const struct genparse *g, const char *p, const char *e)
{
#ifdef __SSSE3__
    const __m128i lo_t = _mm_loadu_si128((const __m128i *)g->key_lo);
    const __m128i hi_t = _mm_setr_epi8(1, 2, 4, 8, 16, 32, 64, (char)128, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m128i low4 = _mm_set1_epi8(0x0f), zero = _mm_setzero_si128();
    for (; e - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i lo = _mm_shuffle_epi8(lo_t, _mm_and_si128(x, low4));
        __m128i hi = _mm_shuffle_epi8(hi_t, _mm_and_si128(_mm_srli_epi16(x, 4), low4));
        unsigned out = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(lo, hi), zero));
        if (out)
            return p + __builtin_ctz(out);
    }
#else
    (void)g;
    (void)e;
#endif
    return p;
}

/* First blank (space, tab) in [p, e), or e. */
static inline const char *find_blank_or_end(const char *p, const char *e)
{
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
    for (; e - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(x, tab)));
        if (m)
            return p + __builtin_ctz(m);
    }
#endif
    return p;   /* the caller's byte loop finishes the tail */
}

static int parse_kv(const struct genparse *g, const char *msg, uint32_t len, struct emit_st *st)
{
    const char *p = msg, *e = msg + len;
    const uint8_t *cl = g->kvc;
    unsigned pairs = 0;
    const char *prefix_end = NULL;
    if (!(cl['='] & KVC_SEP)) {
        /* Nothing is emitted before the first pair (flags count only after
         * one) and no token before the first '=' can be a pair, so the walk
         * starts at the token that holds it: "pam_unix(sshd:auth):
         * authentication failure; logname= ..." is not walked word by word. */
        const char *x = memchr(msg, '=', len);
        if (!x)
            return -1;
        while (x > msg && !(cl[(uint8_t)x[-1]] & KVC_SEP))
            x--;
        p = x;
    }
    while (p < e) {
        while (p < e && (cl[(uint8_t)*p] & KVC_SEP))
            p++;
        if (p >= e)
            break;
        /* to the first separator or '=', noting where the key would start:
         * after the last non-key byte (the key is the run of key bytes just
         * before the '=') */
        const char *t = p, *q = p, *k = p;
        for (;;) {
            if (g->blank_seps)
                q = key_run_end(g, q, e);
            while (q < e && (cl[(uint8_t)*q] & (KVC_KEY | KVC_SEP | KVC_EQ)) == KVC_KEY)
                q++;
            if (q >= e || (cl[(uint8_t)*q] & (KVC_SEP | KVC_EQ)))
                break;
            k = ++q;   /* a byte that cannot be in a key */
        }
        if (q < e && *q == '=') {
            if (k == q) {   /* "=..." with no key: skip the token */
                p = q + 1;
                while (p < e && !(cl[(uint8_t)*p] & KVC_SEP))
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
                for (;;) {
                    w = find_quote_or_bs(w, e, qc);
                    if (w >= e || *w == qc)
                        break;
                    if (w + 1 < e) {   /* a backslash escapes the next byte */
                        u = U_KV;
                        w++;
                    }
                    w++;
                }
                ve = w;                   /* unterminated: to the end */
                p = w < e ? w + 1 : e;
            } else {
                const char *w = g->blank_seps ? find_blank_or_end(v, e) : v;
                while (w < e && !(cl[(uint8_t)*w] & KVC_SEP))
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
