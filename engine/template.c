#define _GNU_SOURCE   /* memrchr */
#include "engine/template.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#ifdef __SSSE3__
#include <tmmintrin.h>
#endif
#ifdef __AVX2__
#include <immintrin.h>
#endif

#include "engine/bytes.h"

/* ---- types ------------------------------------------------------------ */

enum walk_kind {
    W_CHARSET = 1,   /* longest run of a character set (with backoff to the next literal) */
    W_SHAPE,         /* a fixed shape, longest match */
    W_QUOTED,        /* "..." or '...' */
    W_DATA,          /* lazy to the next literal */
    W_GREEDY,        /* greedy to the last occurrence of the next literal */
};

enum val_kind {
    V_STR = 0,
    V_INT,           /* integer when it fits, else string */
    V_IP,            /* address or the walk fails */
    V_IPORHOST,      /* address when it parses, else string */
};

enum tpl_mod { MOD_NONE = 0, MOD_INT, MOD_IP, MOD_STR };

typedef size_t (*shape_fn)(const char *p, const char *e);

struct type_def {
    const char *name;
    const char *regex;
    uint8_t walk;
    uint8_t val;
    const char *chars;     /* W_CHARSET: members, with a-z style ranges */
    const char *first;     /* W_CHARSET: allowed first characters (NULL = any member) */
    shape_fn shape;
};

static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
static inline bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static inline bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static inline bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static inline bool is_blank(char c) { return c == ' ' || c == '\t'; }

/* 2 and 4 digits at p (readable), a word at a time: every byte's high
 * nibble is 3, and adding 6 does not carry it to 4. */
static inline bool d2(const char *p)
{
    uint16_t x;
    memcpy(&x, p, 2);
    return (x & 0xF0F0) == 0x3030 && ((x + 0x0606) & 0xF0F0) == 0x3030;
}
static inline bool d4(const char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return (x & 0xF0F0F0F0u) == 0x30303030u && ((x + 0x06060606u) & 0xF0F0F0F0u) == 0x30303030u;
}

/* n digits exactly */
static inline bool digits(const char *p, const char *e, size_t n)
{
    if ((size_t)(e - p) < n)
        return false;
    if (n == 2)
        return d2(p);
    if (n == 4)
        return d4(p);
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return false;
    return true;
}

/* 1..max digits, greedy; returns count */
static inline size_t digits_upto(const char *p, const char *e, size_t max)
{
    size_t n = 0;
    while (p + n < e && n < max && is_digit(p[n]))
        n++;
    return n;
}

static size_t sh_int(const char *p, const char *e)
{
    const char *q = p;
    if (q < e && (*q == '+' || *q == '-'))
        q++;
    const char *d = q;
    while (q < e && is_digit(*q))
        q++;
    return q > d ? (size_t)(q - p) : 0;
}

static size_t sh_posint(const char *p, const char *e)
{
    const char *q = p;
    while (q < e && is_digit(*q))
        q++;
    return (size_t)(q - p);
}

static size_t sh_number(const char *p, const char *e)
{
    size_t n = sh_int(p, e);
    if (!n)
        return 0;
    const char *q = p + n;
    if (q + 1 < e && *q == '.' && is_digit(q[1])) {
        q++;
        while (q < e && is_digit(*q))
            q++;
    }
    return (size_t)(q - p);
}

static size_t sh_base16(const char *p, const char *e)
{
    const char *q = p;
    if (e - q >= 3 && q[0] == '0' && (q[1] == 'x' || q[1] == 'X') && is_hex(q[2]))
        q += 2;
    const char *d = q;
    while (q < e && is_hex(*q))
        q++;
    return q > d ? (size_t)(q - p) : 0;
}

static size_t sh_uuid(const char *p, const char *e)
{
    static const uint8_t groups[] = {8, 4, 4, 4, 12};
    const char *q = p;
    for (unsigned g = 0; g < 5; g++) {
        if (g) {
            if (q >= e || *q != '-')
                return 0;
            q++;
        }
        for (unsigned i = 0; i < groups[g]; i++, q++)
            if (q >= e || !is_hex(*q))
                return 0;
    }
    return (size_t)(q - p);
}

static size_t sh_mac(const char *p, const char *e)
{
    const char *q = p;
    /* 00:11:22:33:44:55 or 00-11-... */
    if (e - q >= 17 && (q[2] == ':' || q[2] == '-')) {
        char sep = q[2];
        for (unsigned i = 0; i < 6; i++) {
            if (!is_hex(q[0]) || !is_hex(q[1]))
                return 0;
            if (i < 5 && q[2] != sep)
                return 0;
            q += i < 5 ? 3 : 2;
        }
        return 17;
    }
    /* 0011.2233.4455 (Cisco) */
    if (e - q >= 14) {
        for (unsigned i = 0; i < 14; i++) {
            if (i == 4 || i == 9) {
                if (q[i] != '.')
                    return 0;
            } else if (!is_hex(q[i])) {
                return 0;
            }
        }
        return 14;
    }
    return 0;
}

/* Mmm */
static inline bool month3(const char *p, const char *e)
{
    return e - p >= 3 && is_upper(p[0]) && is_lower(p[1]) && is_lower(p[2]);
}

/* hh:mm:ss */
static inline bool hms(const char *p, const char *e)
{
    return e - p >= 8 && digits(p, e, 2) && p[2] == ':' && digits(p + 3, e, 2) && p[5] == ':' &&
           digits(p + 6, e, 2);
}

/* [.,]digits+ fraction, greedy; 0 when absent */
static size_t frac(const char *p, const char *e, bool comma)
{
    if (e - p >= 2 && (p[0] == '.' || (comma && p[0] == ',')) && is_digit(p[1]))
        return 1 + sh_posint(p + 1, e);
    return 0;
}

/* Mmm +d{1,2} hh:mm:ss */
static size_t sh_syslogts(const char *p, const char *e)
{
    const char *q = p;
    if (!month3(q, e))
        return 0;
    q += 3;
    const char *s = q;
    while (q < e && *q == ' ')
        q++;
    if (q == s)
        return 0;
    size_t d = digits_upto(q, e, 2);
    if (!d)
        return 0;
    q += d;
    if (q >= e || *q != ' ')
        return 0;
    q++;
    if (!hms(q, e))
        return 0;
    return (size_t)(q + 8 - p);
}

/* dddd-dd-dd[T ]dd:dd(:dd([.,]d+)?)?(Z|[+-]dd:?dd)? */
static size_t sh_iso8601(const char *p, const char *e)
{
    const char *q = p;
    if (!(digits(q, e, 4) && e - q >= 16 && q[4] == '-' && digits(q + 5, e, 2) && q[7] == '-' &&
          digits(q + 8, e, 2) && (q[10] == 'T' || q[10] == ' ') && digits(q + 11, e, 2) && q[13] == ':' &&
          digits(q + 14, e, 2)))
        return 0;
    q += 16;
    if (e - q >= 3 && q[0] == ':' && digits(q + 1, e, 2)) {
        q += 3;
        q += frac(q, e, true);
    }
    if (q < e && q[0] == 'Z') {
        q++;
    } else if (e - q >= 3 && (q[0] == '+' || q[0] == '-') && digits(q + 1, e, 2)) {
        if (e - q >= 6 && q[3] == ':' && digits(q + 4, e, 2))
            q += 6;
        else if (digits(q + 3, e, 2))
            q += 5;
    }
    return (size_t)(q - p);
}

/* d{1,2}/Mmm/dddd:hh:mm:ss [+-]dddd: after the day, exactly 24 bytes */
static size_t sh_httpdate(const char *p, const char *e)
{
    size_t d = digits_upto(p, e, 2);
    if (!d)
        return 0;
    const char *q = p + d;
    if (e - q < 24 || q[0] != '/' || !month3(q + 1, e) || q[4] != '/' || !d4(q + 5) || q[9] != ':' ||
        !hms(q + 10, e) || q[18] != ' ' || (q[19] != '+' && q[19] != '-') || !d4(q + 20))
        return 0;
    return d + 24;
}

/* Www Mmm +d{1,2} hh:mm:ss(.d+)? dddd   (Apache error log, vsftpd) */
static size_t sh_httpderror(const char *p, const char *e)
{
    const char *q = p;
    if (!month3(q, e) || e - q < 4 || q[3] != ' ' || !month3(q + 4, e))
        return 0;
    q += 7;
    const char *s = q;
    while (q < e && *q == ' ')
        q++;
    if (q == s)
        return 0;
    size_t d = digits_upto(q, e, 2);
    if (!d)
        return 0;
    q += d;
    if (q >= e || *q != ' ' || !hms(q + 1, e))
        return 0;
    q += 9;
    q += frac(q, e, false);
    if (e - q < 5 || q[0] != ' ' || !digits(q + 1, e, 4))
        return 0;
    return (size_t)(q + 5 - p);
}

/* dddd[/-]dd[/-]dd[ T]hh:mm:ss([.,]d+)? */
static size_t sh_datestamp(const char *p, const char *e)
{
    const char *q = p;
    if (!(e - q >= 19 && digits(q, e, 4) && (q[4] == '/' || q[4] == '-') && digits(q + 5, e, 2) &&
          q[7] == q[4] && digits(q + 8, e, 2) && (q[10] == ' ' || q[10] == 'T') && hms(q + 11, e)))
        return 0;
    q += 19;
    q += frac(q, e, true);
    return (size_t)(q - p);
}

#define URI_PATH_CHARS  "A-Za-z0-9$.+!*'(){},~:;=@#%&_/-"
#define URI_PARAM_CHARS "A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?[]<>-"

/* URI_PATH_CHARS and URI_PARAM_CHARS as bit sets (bit c of byte c >> 3);
 * constant, so walkers on several threads read them without a race. */
static const uint8_t uri_path_set[32] = {
    0x00, 0x00, 0x00, 0x00, 0xfa, 0xff, 0xff, 0x2f,
    0xff, 0xff, 0xff, 0x87, 0xfe, 0xff, 0xff, 0x6f,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t uri_param_set[32] = {
    0x00, 0x00, 0x00, 0x00, 0xfa, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xaf, 0xfe, 0xff, 0xff, 0x7f,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static inline bool in_set(const uint8_t set[32], char ch)
{
    uint8_t c = (uint8_t)ch;
    return set[c >> 3] & (1u << (c & 7));
}

static size_t sh_uripathparam(const char *p, const char *e)
{
    const char *q = p;
    if (q >= e || *q != '/')
        return 0;
    while (q < e && in_set(uri_path_set, *q))
        q++;
    if (q < e && *q == '?') {
        q++;
        while (q < e && in_set(uri_param_set, *q))
            q++;
    }
    return (size_t)(q - p);
}

/* Type expressions are deliberately loose where the walker checks the value
 * anyway (addresses): bounded repeats and alternations of exact address
 * grammars made Hyperscan 10-30 times slower on real lines. */
#define RX_IPV4 "\\d{1,3}(?:\\.\\d{1,3}){3}"
#define RX_IPV6 "[0-9A-Fa-f]*:[0-9A-Fa-f:.]*"
#define RX_HOST "[A-Za-z0-9_][A-Za-z0-9_.-]*"
#define RX_PATH "(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\\-]*)+"
#define RX_PARAM "\\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\\-\\[\\]<>]*"

static const struct type_def types[] = {
    {"DATA", ".*", W_DATA, V_STR, NULL, NULL, NULL},
    {"GREEDYDATA", ".*", W_GREEDY, V_STR, NULL, NULL, NULL},
    {"WORD", "\\w+", W_CHARSET, V_STR, "A-Za-z0-9_", NULL, NULL},
    {"NOTSPACE", "\\S+", W_CHARSET, V_STR, NULL, NULL, NULL},   /* chars: set specially */
    {"USER", "[A-Za-z0-9._@$\\\\\\-]+", W_CHARSET, V_STR, "A-Za-z0-9._@$\\-", NULL, NULL},
    {"USERNAME", "[A-Za-z0-9._@$\\\\\\-]+", W_CHARSET, V_STR, "A-Za-z0-9._@$\\-", NULL, NULL},
    {"HOSTNAME", RX_HOST, W_CHARSET, V_STR, "A-Za-z0-9_.-", "A-Za-z0-9_", NULL},
    {"IPV4", RX_IPV4, W_CHARSET, V_IP, "0-9.", "0-9", NULL},
    {"IPV6", RX_IPV6, W_CHARSET, V_IP, "0-9A-Fa-f:.", NULL, NULL},
    {"IP", "[0-9A-Fa-f:.]+", W_CHARSET, V_IP, "0-9A-Fa-f:.", NULL, NULL},
    {"IPORHOST", "[A-Za-z0-9_:][A-Za-z0-9_.:-]*", W_CHARSET, V_IPORHOST, "A-Za-z0-9_.:-", "A-Za-z0-9_:", NULL},
    {"INT", "[+-]?\\d+", W_SHAPE, V_INT, NULL, NULL, sh_int},
    {"PORT", "[+-]?\\d+", W_SHAPE, V_INT, NULL, NULL, sh_int},
    {"POSINT", "\\d+", W_SHAPE, V_INT, NULL, NULL, sh_posint},
    {"NUMBER", "[+-]?\\d+(?:\\.\\d+)?", W_SHAPE, V_INT, NULL, NULL, sh_number},
    {"BASE16NUM", "(?:0[xX])?[0-9A-Fa-f]+", W_SHAPE, V_STR, NULL, NULL, sh_base16},
    {"QUOTEDSTRING", "(?:\"(?:[^\"\\\\]|\\\\.)*\"|'(?:[^'\\\\]|\\\\.)*')", W_QUOTED, V_STR, NULL, NULL, NULL},
    {"MAC", "(?:(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}|(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}|"
            "[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4})",
     W_SHAPE, V_STR, NULL, NULL, sh_mac},
    {"UUID", "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}", W_SHAPE, V_STR,
     NULL, NULL, sh_uuid},
    {"URIPATH", RX_PATH, W_CHARSET, V_STR, URI_PATH_CHARS, "/", NULL},
    {"URIPARAM", RX_PARAM, W_CHARSET, V_STR, URI_PARAM_CHARS, "?", NULL},
    {"URIPATHPARAM", RX_PATH "(?:" RX_PARAM ")?", W_SHAPE, V_STR, NULL, NULL, sh_uripathparam},
    {"SYSLOGTIMESTAMP", "[A-Z][a-z]{2} +\\d{1,2} \\d{2}:\\d{2}:\\d{2}", W_SHAPE, V_STR, NULL, NULL, sh_syslogts},
    {"TIMESTAMP_ISO8601",
     "\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}(?::\\d{2}(?:[.,]\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?", W_SHAPE, V_STR,
     NULL, NULL, sh_iso8601},
    {"HTTPDATE", "\\d{1,2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}:\\d{2} [+-]\\d{4}", W_SHAPE, V_STR, NULL, NULL,
     sh_httpdate},
    {"HTTPDERROR_DATE", "[A-Z][a-z]{2} [A-Z][a-z]{2} +\\d{1,2} \\d{2}:\\d{2}:\\d{2}(?:\\.\\d+)? \\d{4}", W_SHAPE,
     V_STR, NULL, NULL, sh_httpderror},
    {"DATESTAMP", "\\d{4}(?:/\\d{2}/|-\\d{2}-)\\d{2}[ T]\\d{2}:\\d{2}:\\d{2}(?:[.,]\\d+)?", W_SHAPE, V_STR, NULL, NULL,
     sh_datestamp},
};
#define N_TYPES (sizeof types / sizeof types[0])

unsigned tpl_type_count(void) { return N_TYPES; }
const char *tpl_type_name(unsigned i) { return i < N_TYPES ? types[i].name : NULL; }
const char *tpl_type_regex(unsigned i) { return i < N_TYPES ? types[i].regex : NULL; }

/* "A-Za-z0-9._-": ranges are X-Y with X and Y alphanumeric; other '-' are literal. */
static bool is_alnum(char c) { return is_digit(c) || is_upper(c) || is_lower(c); }

static bool in_spec(const char *spec, char c)
{
    for (const char *s = spec; *s; s++) {
        if (s[1] == '-' && s[2] && is_alnum(s[0]) && is_alnum(s[2]) && s[0] <= s[2]) {
            if (c >= s[0] && c <= s[2])
                return true;
            s += 2;
            continue;
        }
        if (*s == c)
            return true;
    }
    return false;
}

static void spec_to_set(const char *spec, uint8_t set[32])
{
    memset(set, 0, 32);
    for (unsigned c = 0; c < 256; c++)
        if (in_spec(spec, (char)c))
            set[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* The member and first-character sets of a W_CHARSET type. */
static void type_sets(unsigned ti, uint8_t set[32], uint8_t first[32])
{
    const struct type_def *td = &types[ti];
    if (!strcmp(td->name, "NOTSPACE")) {
        memset(set, 0xff, 32);
        const char ws[] = {' ', '\t', '\n', '\v', '\f', '\r'};
        for (unsigned k = 0; k < sizeof ws; k++)
            set[(uint8_t)ws[k] >> 3] &= (uint8_t)~(1u << (ws[k] & 7));
        memcpy(first, set, 32);
    } else {
        spec_to_set(td->chars, set);
        spec_to_set(td->first ? td->first : td->chars, first);
    }
}

/* The same sets as one table for the walker: bit type_cls[ti] of
 * char_class[c] says c is a member of type ti's set, bit type_cls_first[ti]
 * that it may start a value.  One load and test per byte instead of a bit-set
 * lookup.  Built once, before the first template compiles (tpl_walk needs a
 * compiled template, so it never reads the table unbuilt). */
static uint32_t char_class[256];
static uint32_t type_cls[N_TYPES], type_cls_first[N_TYPES];
/* Sets of ASCII characters, for a 16-byte vector test (SSSE3 pshufb): c is a
 * member when bit (c >> 4) of type_lo[ti][c & 15] is set.  All-zero for the
 * sets that hold non-ASCII bytes (NOTSPACE, which has its own vector scan). */
static uint8_t type_lo[N_TYPES][16];
static bool type_ascii[N_TYPES];
static pthread_once_t class_once = PTHREAD_ONCE_INIT;

static void class_init(void)
{
    unsigned bit = 0;
    for (unsigned ti = 0; ti < N_TYPES; ti++) {
        if (types[ti].walk != W_CHARSET)
            continue;
        if (bit + 2 > 32)
            abort();   /* more W_CHARSET types than the table has bits: widen char_class */
        uint8_t set[32], first[32];
        type_sets(ti, set, first);
        type_cls[ti] = 1u << bit++;
        type_cls_first[ti] = 1u << bit++;
        type_ascii[ti] = true;
        for (unsigned c = 0; c < 256; c++) {
            if (set[c >> 3] & (1u << (c & 7))) {
                char_class[c] |= type_cls[ti];
                if (c < 128)
                    type_lo[ti][c & 15] |= (uint8_t)(1u << (c >> 4));
                else
                    type_ascii[ti] = false;
            }
            if (first[c >> 3] & (1u << (c & 7)))
                char_class[c] |= type_cls_first[ti];
        }
        if (!type_ascii[ti])
            memset(type_lo[ti], 0, 16);
    }
}

/* ---- compiled form ----------------------------------------------------- */

enum { S_LIT = 1, S_FIELD };

/* Step flags, computed once at compile time so the walker does not re-derive
 * them per message. */
enum {
    SF_BACKOFF = 1,       /* W_CHARSET: the next literal starts with a member: it may start inside the run */
    SF_IPTAIL = 2,        /* W_CHARSET address type right before the open tail: longest address prefix */
    SF_CANFAIL = 4,       /* emit refuses a value that is not an address (captured V_IP, no fallback) */
    SF_OPEN_TAIL = 8,     /* a field followed directly by the final DATA/GREEDYDATA */
    SF_TRAIL_BLANK = 16,  /* S_LIT: ends with a blank */
    SF_WS_BACK = 32,      /* S_LIT: ends with a blank and a DATA/GREEDYDATA follows (it may start inside the run) */
    SF_TRIM = 64,         /* field: DATA/GREEDYDATA value, trimmed of blanks */
};

/* What the walker does for a step: one dispatch per step. */
enum {
    OP_LIT = 1,       /* literal holding blanks: plain compare, lit_at when a blank run could explain a mismatch */
    OP_LIT_EXACT,     /* literal without blanks: plain compare */
    OP_LIT_SP,        /* the literal " " */
    OP_DATA,          /* W_DATA */
    OP_GREEDY,        /* W_GREEDY */
    OP_NOTSPACE,      /* W_CHARSET NOTSPACE: vector scan for the first white-space byte */
    OP_SETVEC,        /* W_CHARSET of ASCII characters: vector set test (type_lo) */
    OP_SET,           /* other W_CHARSET */
    OP_SHAPE,         /* W_SHAPE */
    OP_QUOTED,        /* W_QUOTED */
    OP_INT,           /* INT, PORT, POSINT captured as an integer: shape and value in one pass */
};

struct tpl_step {
    uint8_t op;            /* OP_* */
    uint8_t kind;
    uint8_t type;          /* index into types[] */
    uint8_t mod;
    uint8_t capture;
    uint8_t has_alt;       /* fallback field for values that do not convert */
    uint8_t vkind;         /* value kind after the conversion (enum val_kind) */
    uint8_t flags;         /* SF_* */
    field_id fid;
    field_id alt;
    uint32_t off, len;     /* S_LIT: text in t->lit (blank runs collapsed to one ' ') */
    uint64_t lv, lm;       /* S_LIT: its first min(len, 8) bytes as a word, and their mask */
    uint32_t noff, nlen;   /* S_FIELD: the next step's literal (nlen 0: none follows; it is step i + 1) */
    uint32_t cls, cls_first;   /* W_CHARSET: bits in char_class[] (members, first characters) */
    shape_fn shape;        /* W_SHAPE */
};

struct tpl {
    unsigned n;
    unsigned captures;
    bool open_end;         /* ends with DATA/GREEDYDATA: the rest of the message is taken */
    struct tpl_step *s;
    char *lit;
    uint8_t *seg;          /* per byte of lit: length of the blank-free run starting there (max 255), 0 = blank */
    char *regex;
};

const char *tpl_regex(const struct tpl *t) { return t->regex; }
unsigned tpl_captures(const struct tpl *t) { return t->captures; }

void tpl_first_bytes(const struct tpl *t, uint8_t set[32])
{
    const struct tpl_step *s = &t->s[0];
    memset(set, 0, 32);
    if (s->kind == S_LIT) {
        uint8_t c = (uint8_t)t->lit[s->off];   /* never a blank: the template is trimmed */
        set[c >> 3] |= (uint8_t)(1u << (c & 7));
        return;
    }
    const struct type_def *td = &types[s->type];
    const char *spec = NULL;
    switch (td->walk) {
    case W_CHARSET:
        {
            uint8_t members[32];
            type_sets(s->type, members, set);
        }
        return;
    case W_QUOTED:
        spec = "\"'";
        break;
    case W_SHAPE:
        if (td->shape == sh_int || td->shape == sh_number)
            spec = "0-9+-";
        else if (td->shape == sh_posint || td->shape == sh_iso8601 || td->shape == sh_httpdate ||
                 td->shape == sh_datestamp)
            spec = "0-9";
        else if (td->shape == sh_base16 || td->shape == sh_uuid || td->shape == sh_mac)
            spec = "0-9A-Fa-f";
        else if (td->shape == sh_syslogts || td->shape == sh_httpderror)
            spec = "A-Z";
        else if (td->shape == sh_uripathparam)
            spec = "/";
        break;
    default:
        break;
    }
    if (spec)
        spec_to_set(spec, set);
    else
        memset(set, 0xff, 32);   /* DATA, GREEDYDATA: anything */
}

void tpl_free(struct tpl *t)
{
    if (!t)
        return;
    free(t->s);
    free(t->lit);
    free(t->seg);
    free(t->regex);
    free(t);
}

/* ---- compiler ---------------------------------------------------------- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void sb_str(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* One literal byte as a Hyperscan expression. */
static void rx_lit_char(struct sbuf *rx, char c)
{
    unsigned char u = (unsigned char)c;
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9')) {
        sb_put(rx, &c, 1);
    } else if (u >= 0x21 && u <= 0x7e) {
        char e[2] = {'\\', c};
        sb_put(rx, e, 2);
    } else {
        char e[8];
        snprintf(e, sizeof e, "\\x%02x", u);
        sb_str(rx, e);
    }
}

static int fail(struct tpl_error *err, unsigned col, const char *fmt, const char *arg)
{
    err->column = col;
    snprintf(err->msg, sizeof err->msg, fmt, arg ? arg : "");
    return -1;
}

static bool valid_field_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '_' || c == '-' ||
           c == '@';
}

/* Derived step data: literal runs, next literals, flags, value kinds. */
static void finalize(struct tpl *t)
{
    const struct tpl_step *ls = &t->s[t->n - 1];
    t->open_end = ls->kind == S_FIELD && (types[ls->type].walk == W_DATA || types[ls->type].walk == W_GREEDY);
    for (unsigned i = 0; i < t->n; i++) {
        struct tpl_step *s = &t->s[i];
        if (s->kind == S_LIT) {
            const char *l = t->lit + s->off;
            const struct tpl_step *nx = i + 1 < t->n ? &t->s[i + 1] : NULL;
            s->flags = 0;
            if (l[s->len - 1] == ' ') {
                s->flags |= SF_TRAIL_BLANK;
                if (nx && (types[nx->type].walk == W_DATA || types[nx->type].walk == W_GREEDY))
                    s->flags |= SF_WS_BACK;
            }
            s->op = s->len == 1 && l[0] == ' ' ? OP_LIT_SP : memchr(l, ' ', s->len) ? OP_LIT : OP_LIT_EXACT;
            uint8_t v[8] = {0}, mk[8] = {0};
            uint32_t w = s->len < 8 ? s->len : 8;
            memcpy(v, l, w);
            memset(mk, 0xff, w);
            memcpy(&s->lv, v, 8);   /* as the message's bytes load: compared with ld64 */
            memcpy(&s->lm, mk, 8);
            for (uint32_t k = s->len; k-- > 0;) {
                uint32_t r = 0;
                if (t->lit[s->off + k] != ' ')
                    r = 1 + (k + 1 < s->len ? t->seg[s->off + k + 1] : 0);
                t->seg[s->off + k] = (uint8_t)(r > 255 ? 255 : r);
            }
            continue;
        }
        const struct type_def *td = &types[s->type];
        const struct tpl_step *nx = i + 1 < t->n && t->s[i + 1].kind == S_LIT ? &t->s[i + 1] : NULL;
        s->shape = td->shape;
        s->noff = nx ? nx->off : 0;
        s->nlen = nx ? nx->len : 0;
        s->vkind = td->val;
        if (s->mod == MOD_INT)
            s->vkind = V_INT;
        else if (s->mod == MOD_IP)
            s->vkind = V_IPORHOST;   /* address when it parses, else string */
        else if (s->mod == MOD_STR)
            s->vkind = V_STR;
        s->flags = 0;
        if (!nx && i + 1 < t->n)
            s->flags |= SF_OPEN_TAIL;
        if (s->capture && s->vkind == V_IP && !s->has_alt)
            s->flags |= SF_CANFAIL;
        switch (td->walk) {
        case W_DATA:
            s->op = OP_DATA;
            s->flags |= SF_TRIM;
            break;
        case W_GREEDY:
            s->op = OP_GREEDY;
            s->flags |= SF_TRIM;
            break;
        case W_SHAPE:
            s->op = s->capture && s->vkind == V_INT && (td->shape == sh_int || td->shape == sh_posint) ? OP_INT
                                                                                                      : OP_SHAPE;
            break;
        case W_QUOTED:
            s->op = OP_QUOTED;
            break;
        default:
            s->op = !strcmp(td->name, "NOTSPACE") ? OP_NOTSPACE : type_ascii[s->type] ? OP_SETVEC : OP_SET;
            break;
        }
        if (td->walk == W_CHARSET) {
            s->cls = type_cls[s->type];
            s->cls_first = type_cls_first[s->type];
            uint8_t c0 = nx ? (uint8_t)t->lit[nx->off] : 0;
            if (nx && nx->len && c0 != ' ' && (char_class[c0] & s->cls))
                s->flags |= SF_BACKOFF;
            if (!nx && i + 1 < t->n && td->val == V_IP)
                s->flags |= SF_IPTAIL;
        }
    }
}

int tpl_compile(const char *src, struct field_registry *reg, unsigned max_fields, struct tpl **out,
                struct tpl_error *err)
{
    *out = NULL;
    err->column = 0;
    err->msg[0] = '\0';
    pthread_once(&class_once, class_init);
    if (!src)
        return fail(err, 0, "empty template%s", NULL);
    size_t srclen = strlen(src);
    if (srclen > TPL_MAX_LEN)
        return fail(err, 0, "template longer than 4096 bytes%s", NULL);
    if (!max_fields || max_fields > FIELDS_HARD_MAX)
        max_fields = FIELDS_HARD_MAX;

    /* trim leading/trailing blanks: the message body is trimmed the same way */
    size_t b = 0, e = srclen;
    while (b < e && is_blank(src[b]))
        b++;
    while (e > b && is_blank(src[e - 1]))
        e--;
    if (b == e)
        return fail(err, 0, "empty template%s", NULL);

    struct tpl *t = calloc(1, sizeof *t);
    struct sbuf lit = {0}, rx = {0};
    struct tpl_step *steps = calloc(TPL_MAX_STEPS, sizeof *steps);
    if (!t || !steps) {
        free(t);
        free(steps);
        return fail(err, 0, "out of memory%s", NULL);
    }
    unsigned n = 0;
    int rc = -1;
    bool in_lit = false;          /* the last step is an open literal */
    bool last_blank = false;      /* the open literal ends with a collapsed blank */
    unsigned n_fixed = 0;         /* fields other than DATA/GREEDYDATA, plus literal bytes */
    unsigned last_field_col = 0;

    sb_str(&rx, "^");
    size_t i = b;
    while (i < e) {
        char c = src[i];
        bool literal = true;
        char lc = c;
        size_t adv = 1;
        if (c == '%' && i + 1 < e && src[i + 1] == '%') {
            lc = '%';
            adv = 2;
        } else if (c == '%' && i + 1 < e && src[i + 1] == '{') {
            literal = false;
        }
        if (literal) {
            if (!in_lit) {
                if (n >= TPL_MAX_STEPS) {
                    fail(err, (unsigned)(i + 1), "too many steps (max 256)%s", NULL);
                    goto out;
                }
                steps[n].kind = S_LIT;
                steps[n].off = (uint32_t)lit.n;
                n++;
                in_lit = true;
                last_blank = false;
            }
            if (is_blank(lc)) {
                if (!last_blank) {
                    sb_put(&lit, " ", 1);
                    sb_str(&rx, "[ \\t]+");
                    last_blank = true;
                }
            } else {
                sb_put(&lit, &lc, 1);
                rx_lit_char(&rx, lc);
                last_blank = false;
            }
            steps[n - 1].len = (uint32_t)(lit.n - steps[n - 1].off);
            n_fixed++;
            i += adv;
            continue;
        }
        /* %{TYPE[:name[:mod]]} */
        unsigned col = (unsigned)(i + 1);
        size_t j = i + 2;
        size_t close = j;
        while (close < e && src[close] != '}')
            close++;
        if (close >= e) {
            fail(err, col, "unterminated %%{%s", NULL);
            goto out;
        }
        char spec[160];
        size_t sl = close - j;
        if (sl == 0 || sl >= sizeof spec) {
            fail(err, col, sl ? "field spec too long%s" : "empty %%{}%s", NULL);
            goto out;
        }
        memcpy(spec, src + j, sl);
        spec[sl] = '\0';
        char *name = strchr(spec, ':');
        char *mod = NULL;
        if (name) {
            *name++ = '\0';
            mod = strchr(name, ':');
            if (mod)
                *mod++ = '\0';
        }
        unsigned ti;
        for (ti = 0; ti < N_TYPES; ti++)
            if (!strcmp(types[ti].name, spec))
                break;
        if (ti == N_TYPES) {
            fail(err, col + 2, "unknown type '%.100s'", spec);
            goto out;
        }
        bool open_tail = (types[ti].walk == W_DATA || types[ti].walk == W_GREEDY) && close + 1 >= e;
        if (n > 0 && steps[n - 1].kind == S_FIELD && !open_tail) {
            err->column = col;
            snprintf(err->msg, sizeof err->msg,
                     "field needs a literal between it and the field at column %u", last_field_col);
            goto out;
        }
        if (n >= TPL_MAX_STEPS) {
            fail(err, col, "too many steps (max 256)%s", NULL);
            goto out;
        }
        struct tpl_step *s = &steps[n];
        memset(s, 0, sizeof *s);
        s->kind = S_FIELD;
        s->type = (uint8_t)ti;
        unsigned name_col = col + 2 + (unsigned)strlen(spec) + 1;
        if (name) {
            char *alt = strchr(name, '|');
            if (alt)
                *alt++ = '\0';
            const char *names[2] = {name, alt};
            for (int k = 0; k < 2; k++) {
                const char *nm = names[k];
                if (!nm)
                    continue;
                unsigned ncol = k ? name_col + (unsigned)strlen(name) + 1 : name_col;
                size_t nl = strlen(nm);
                bool ok = nl > 0 && nl < FIELD_NAME_MAX;
                for (size_t q = 0; ok && q < nl; q++)
                    ok = valid_field_char(nm[q]);
                if (!ok) {
                    fail(err, ncol, "bad field name '%s'", nm);
                    goto out;
                }
                if (!k && t->captures >= max_fields) {
                    err->column = ncol;
                    snprintf(err->msg, sizeof err->msg, "more than %u captured fields", max_fields);
                    goto out;
                }
                if (field_registry_intern(reg, nm, k ? &s->alt : &s->fid) != 0) {
                    fail(err, ncol, "cannot add field '%s' (registry full)", nm);
                    goto out;
                }
            }
            s->capture = 1;
            s->has_alt = alt != NULL;
            t->captures++;
            if (mod)
                name_col += (unsigned)strlen(name) + (alt ? (unsigned)strlen(alt) + 1 : 0) + 1;
        }
        if (mod) {
            if (!strcmp(mod, "int"))
                s->mod = MOD_INT;
            else if (!strcmp(mod, "ip"))
                s->mod = MOD_IP;
            else if (!strcmp(mod, "str"))
                s->mod = MOD_STR;
            else {
                fail(err, name ? name_col : col, "unknown conversion '%s' (int, ip, str)", mod);
                goto out;
            }
        }
        const struct type_def *td = &types[ti];
        if (td->walk != W_DATA && td->walk != W_GREEDY)
            n_fixed++;
        /* an open end (DATA/GREEDYDATA last) needs no regex: it matches anything */
        bool last = close + 1 >= e;
        if (!(last && (td->walk == W_DATA || td->walk == W_GREEDY))) {
            sb_str(&rx, "(?:");
            sb_str(&rx, td->regex);
            sb_str(&rx, ")");
        }
        n++;
        in_lit = false;
        last_field_col = col;
        i = close + 1;
    }
    if (!n_fixed) {
        fail(err, 0, "template has no literal or typed field: it would match every message%s", NULL);
        goto out;
    }
    {
        const struct tpl_step *ls = &steps[n - 1];
        bool open_end = ls->kind == S_FIELD && (types[ls->type].walk == W_DATA || types[ls->type].walk == W_GREEDY);
        if (!open_end)
            sb_str(&rx, "\\z");
    }
    if (lit.oom || rx.oom) {
        fail(err, 0, "out of memory%s", NULL);
        goto out;
    }
    if (!lit.p)
        sb_put(&lit, "", 0);
    t->n = n;
    {
        struct tpl_step *shrunk = realloc(steps, n * sizeof *steps);
        t->s = shrunk ? shrunk : steps;
    }
    steps = NULL;
    t->lit = lit.p ? lit.p : calloc(1, 1);
    lit.p = NULL;
    t->regex = rx.p;
    rx.p = NULL;
    t->seg = malloc(lit.n ? lit.n : 1);
    if (!t->lit || !t->seg) {
        fail(err, 0, "out of memory%s", NULL);
        goto out;
    }
    finalize(t);
    *out = t;
    t = NULL;
    rc = 0;
out:
    free(steps);
    free(lit.p);
    free(rx.p);
    tpl_free(t);
    return rc;
}

/* ---- walker ------------------------------------------------------------ */


/* Index of the first differing byte of two words loaded from memory, x = their xor (non-zero). */
static inline unsigned first_diff(uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (unsigned)__builtin_clzll(x) >> 3;
#else
    return (unsigned)__builtin_ctzll(x) >> 3;
#endif
}

/* a[0..n) == b[0..n), both readable for n bytes; word compares, overlapping at the end. */
static inline bool bytes_eq(const char *a, const char *b, size_t n)
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

#ifdef __AVX2__
/* The rest of a long scan (URLs, user agents), 32 bytes a step; out of line
 * so the walker itself stays free of 256-bit registers (and of the
 * vzeroupper they would put before each of its calls). */
static __attribute__((noinline)) const char *find_byte_long(const char *p, const char *e, char c)
{
    const __m256i v = _mm256_set1_epi8(c);
    for (; e - p >= 32; p += 32) {
        unsigned m = (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)p), v));
        if (m)
            return p + __builtin_ctz(m);
    }
    for (; p < e; p++)
        if (*p == c)
            return p;
    return NULL;
}

static __attribute__((noinline)) const char *notspace_end_long(const char *p, const char *e)
{
    const __m256i sp = _mm256_set1_epi8(' '), nine = _mm256_set1_epi8(9), four = _mm256_set1_epi8(4);
    for (; e - p >= 32; p += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)p);
        __m256i d = _mm256_sub_epi8(x, nine);   /* \t \n \v \f \r: 0..4 */
        unsigned m = (unsigned)_mm256_movemask_epi8(
            _mm256_or_si256(_mm256_cmpeq_epi8(x, sp), _mm256_cmpeq_epi8(_mm256_min_epu8(d, four), d)));
        if (m)
            return p + __builtin_ctz(m);
    }
    while (p < e && *p != ' ' && !(*p >= '\t' && *p <= '\r'))
        p++;
    return p;
}
#endif

/* First c in [p, e), or NULL. */
static inline const char *find_byte(const char *p, const char *e, char c)
{
#ifdef __SSE2__
    const __m128i v = _mm_set1_epi8(c);
    for (; e - p >= 16; p += 16) {
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)p), v));
        if (m)
            return p + __builtin_ctz(m);
#ifdef __AVX2__
        if (e - p >= 48)
            return find_byte_long(p + 16, e, c);
#endif
    }
#endif
    for (; p < e; p++)
        if (*p == c)
            return p;
    return NULL;
}

/* First blank (space, tab) in [p, e), or NULL. */
static inline const char *find_blank(const char *p, const char *e)
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
    for (; p < e; p++)
        if (is_blank(*p))
            return p;
    return NULL;
}

/* End of the run of non-white-space bytes (NOTSPACE) starting at p. */
static inline const char *notspace_end(const char *p, const char *e)
{
#ifdef __SSE2__
    const __m128i sp = _mm_set1_epi8(' '), nine = _mm_set1_epi8(9), four = _mm_set1_epi8(4);
    for (; e - p >= 16; p += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)p);
        __m128i d = _mm_sub_epi8(x, nine);   /* \t \n \v \f \r: 0..4 */
        __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(x, sp), _mm_cmpeq_epi8(_mm_min_epu8(d, four), d));
        unsigned m = (unsigned)_mm_movemask_epi8(ws);
        if (m)
            return p + __builtin_ctz(m);
#ifdef __AVX2__
        if (e - p >= 48)
            return notspace_end_long(p + 16, e);
#endif
    }
#endif
    while (p < e && *p != ' ' && !(*p >= '\t' && *p <= '\r'))
        p++;
    return p;
}

/* End of the run of members of ASCII set ti starting at p. */
static inline const char *set_end(unsigned ti, uint32_t cls, const char *p, const char *e)
{
#ifdef __SSSE3__
    const __m128i lo_t = _mm_loadu_si128((const __m128i *)type_lo[ti]);
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
    (void)ti;
#endif
    while (p < e && (char_class[(uint8_t)*p] & cls))
        p++;
    return p;
}

/* Matches literal step l at p, blank by blank: a ' ' of the literal matches
 * one or more blanks.  Returns the end, or NULL.  *trail gets the start of the
 * last blank run matched.  Blank-free runs are compared a word at a time
 * (t->seg gives their lengths). */
static const char *lit_at(const struct tpl *t, const struct tpl_step *l, const char *p, const char *e,
                          const char **trail)
{
    const char *lt = t->lit + l->off;
    const uint8_t *sg = t->seg + l->off;
    uint32_t k = 0, ln = l->len;
    while (k < ln) {
        uint32_t r = sg[k];
        if (r == 0) {
            if (p >= e || !is_blank(*p))
                return NULL;
            if (trail)
                *trail = p;
            p++;
            while (p < e && is_blank(*p))
                p++;
            k++;
        } else {
            if ((size_t)(e - p) < r || !bytes_eq(p, lt + k, r))
                return NULL;
            p += r;
            k += r;
        }
    }
    return p;
}

/* lit_at, faster: the literal is first compared as plain bytes (each of its
 * blanks one space of the message).  When that matches, lit_at matches too,
 * with the same end once the blanks after a final blank are skipped.  When
 * it does not, lit_at can only match if the first differing byte of the
 * message is a blank (a tab, or a second blank where the literal has one);
 * only then does lit_at run. */
static inline const char *lit_match(const struct tpl *t, const struct tpl_step *l, const char *p, const char *e,
                                    const char **trail)
{
    size_t avail = (size_t)(e - p);
    if (avail < l->len)
        return NULL;   /* every byte of the literal needs one of the message */
    if (avail >= 8) {
        uint64_t x = (load_u64(p) ^ l->lv) & l->lm;
        if (!x && (l->len <= 8 || bytes_eq(p + 8, t->lit + l->off + 8, l->len - 8)))
            goto exact;
        if (l->op == OP_LIT_EXACT || (x && !is_blank(p[first_diff(x)])))
            return NULL;
    } else {
        if (bytes_eq(p, t->lit + l->off, l->len))
            goto exact;
        if (l->op == OP_LIT_EXACT)
            return NULL;
    }
    return lit_at(t, l, p, e, trail);
exact:
    p += l->len;
    if (l->flags & SF_TRAIL_BLANK) {
        if (trail)
            *trail = p - 1;   /* a non-blank precedes the literal's final blank */
        while (p < e && is_blank(*p))
            p++;
    }
    return p;
}

/* First q in [from, e) where literal step l matches. */
static const char *lit_find(const struct tpl *t, const struct tpl_step *l, const char *from, const char *e)
{
    char c0 = t->lit[l->off];
    for (const char *q = from; q < e; q++) {
        q = c0 == ' ' ? find_blank(q, e) : find_byte(q, e, c0);
        if (!q)
            return NULL;
        if (lit_match(t, l, q, e, NULL))
            return q;
    }
    return NULL;
}

/* Last q in [from, e) where literal step l matches. */
static const char *lit_rfind(const struct tpl *t, const struct tpl_step *l, const char *from, const char *e)
{
    char c0 = t->lit[l->off];
    for (const char *q = e; q > from;) {
        if (c0 == ' ') {
            q--;
            if (!is_blank(*q))
                continue;
        } else {
            q = memrchr(from, c0, (size_t)(q - from));
            if (!q)
                return NULL;
        }
        if (lit_match(t, l, q, e, NULL))
            return q;
    }
    return NULL;
}


/* event_fields_add_* (fields.c) inlined: the same limit and counting, no call. */
static inline int ef_add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return 0;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = FIELD_STR;
    f->v.s.ptr = p;
    f->v.s.len = len;
    return 1;
}

static inline int ef_add_int(struct event_fields *ef, field_id id, int64_t v)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return 0;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = FIELD_INT;
    f->v.i = v;
    return 1;
}

static inline int ef_add_ip(struct event_fields *ef, field_id id, const struct vigil_ip *ip)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return 0;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = FIELD_IP;
    f->v.ip = *ip;
    return 1;
}

/* Adds one captured value.  -1 only when the walk must fail (IP that is not one). */
static inline int emit(const struct tpl_step *s, const char *p, uint32_t len, struct event_fields *ef, int *added)
{
    if (!s->capture || len == 0 || (len == 1 && p[0] == '-'))
        return 0;
    field_id sid = s->fid;   /* where a string goes */
    switch (s->vkind) {
    case V_INT: {
        int64_t v;
        if (field_parse_i64(p, len, &v)) {
            *added += ef_add_int(ef, s->fid, v);
            return 0;
        }
        if (s->has_alt)
            sid = s->alt;
        break;
    }
    case V_IP:
    case V_IPORHOST: {
        struct vigil_ip ip;
        if (field_parse_ip(p, len, &ip)) {
            *added += ef_add_ip(ef, s->fid, &ip);
            return 0;
        }
        if (s->has_alt)
            sid = s->alt;
        else if (s->vkind == V_IP)
            return -1;
        break;
    }
    default:
        break;
    }
    *added += ef_add_str(ef, sid, p, len);
    return 0;
}

unsigned tpl_literal_prefix(const struct tpl *t, char *buf, unsigned cap)
{
    const struct tpl_step *s = &t->s[0];
    if (s->kind != S_LIT)
        return 0;
    unsigned n = s->len < cap ? s->len : cap;
    memcpy(buf, t->lit + s->off, n);
    return n;
}

unsigned tpl_literal_suffix(const struct tpl *t, char *buf, unsigned cap)
{
    if (t->open_end || !t->n || t->s[t->n - 1].kind != S_LIT)
        return 0;
    const struct tpl_step *s = &t->s[t->n - 1];
    const char *l = t->lit + s->off;
    unsigned k = s->len;   /* blank runs are one ' ' in lit; the template's trailing blanks are trimmed */
    while (k > 0 && l[k - 1] != ' ' && s->len - k < cap)
        k--;
    memcpy(buf, l + k, s->len - k);
    return s->len - k;
}

unsigned tpl_shared_steps(const struct tpl *a, const struct tpl *b)
{
    if (!a || !b)
        return 0;
    unsigned n = a->n < b->n ? a->n : b->n, i;
    for (i = 0; i < n; i++) {
        const struct tpl_step *x = &a->s[i], *y = &b->s[i];
        if (x->kind != y->kind)
            break;
        if (x->kind == S_LIT) {
            if (x->len != y->len || memcmp(a->lit + x->off, b->lit + y->off, x->len))
                break;
            continue;
        }
        /* a field walks the same when its type, its next literal, what follows
         * it and whether its value can fail the walk are the same; the field
         * it is captured into and the conversion may differ */
        if (x->type != y->type || x->nlen != y->nlen || memcmp(a->lit + x->noff, b->lit + y->noff, x->nlen) ||
            (x->flags & (SF_OPEN_TAIL | SF_CANFAIL)) != (y->flags & (SF_OPEN_TAIL | SF_CANFAIL)))
            break;
    }
    return i;
}

/* The walker; `record` is a constant at each call site, so the version
 * without a memo carries none of its bookkeeping. */
static inline __attribute__((always_inline)) int walk(const struct tpl *t, const char *msg, uint32_t len,
                                                      struct event_fields *ef, struct tpl_memo *memo,
                                                      unsigned shared, const bool record)
{
    uint16_t save_n = ef->n;
    uint32_t save_drop = ef->dropped, save_arena = ef->arena_used;
    const char *p = msg, *e = msg + len;
    const char *ws_back = NULL;   /* DATA may start inside the blank run the previous literal ended with */
    int added = 0;
    unsigned i = 0;

    if (record && memo->t && shared) {
        /* the first `shared` steps walk exactly as memo->t's did on this message */
        if (memo->fail < shared)
            return -1;   /* memo->t failed inside them: so does t (memo kept) */
        unsigned k = shared < memo->done ? shared : memo->done;
        for (; i < k; i++) {
            const struct tpl_step *s = &t->s[i];
            if (s->kind == S_FIELD && s->capture &&
                emit(s, memo->st[i].vs, (uint32_t)(memo->st[i].ve - memo->st[i].vs), ef, &added) != 0)
                goto fail;
        }
        if (k) {
            p = memo->st[k - 1].p;
            ws_back = memo->st[k - 1].ws;
        }
    }

    for (const struct tpl_step *s = t->s + i; i < t->n; i++, s++) {
        if (s->kind == S_LIT) {
            /* a literal, then (literals never follow each other) the field after it */
            if (s->op == OP_LIT_SP) {
                if (p >= e || !is_blank(*p))
                    goto fail;
                p++;
                ws_back = s->flags & SF_WS_BACK ? p : NULL;
                while (p < e && is_blank(*p))
                    p++;
            } else {
                const char *trail = NULL;
                const char *q = lit_match(t, s, p, e, &trail);
                if (!q)
                    goto fail;
                ws_back = (s->flags & SF_WS_BACK) && trail ? trail + 1 : NULL;
                p = q;
            }
            if (record && i < TPL_MEMO_STEPS) {
                memo->st[i].p = p;
                memo->st[i].ws = ws_back;
            }
            if (++i >= t->n)
                break;
            s++;
        }
        const char *vs = p, *ve, *np;
        switch (s->op) {
        case OP_DATA:
        case OP_GREEDY: {
            if (!s->nlen) {
                ve = np = e;
                break;
            }
            const char *from = ws_back && ws_back < p ? ws_back : p;
            const char *q = s->op == OP_DATA ? lit_find(t, s + 1, from, e) : lit_rfind(t, s + 1, from, e);
            if (!q)
                goto fail;
            if (s->op == OP_GREEDY && t->lit[s->noff] == ' ')
                while (q > p && is_blank(q[-1]))
                    q--;   /* the value does not end with the blanks the literal matches */
            np = q;
            ve = q > p ? q : p;
            break;
        }
        case OP_NOTSPACE:
        case OP_SETVEC:
        case OP_SET: {
            if (p >= e || !(char_class[(uint8_t)*p] & s->cls_first))
                goto fail;
            const char *q;
            if (s->op == OP_NOTSPACE) {
                q = notspace_end(p + 1, e);
            } else {
                q = s->op == OP_SETVEC ? set_end(s->type, s->cls, p + 1, e) : p + 1;
                while (q < e && (char_class[(uint8_t)*q] & s->cls))
                    q++;
            }
            if (s->flags & SF_BACKOFF) {
                /* the literal may start inside the run: stop at its last match there */
                for (; q > p; q--)
                    if (lit_match(t, s + 1, q, e, NULL))
                        break;
                if (q == p)
                    goto fail;
            }
            if (s->flags & SF_IPTAIL) {
                /* an address followed directly by the open tail ("1.2.3.4: msg"):
                 * the longest prefix of the run that is an address */
                struct vigil_ip tmp;
                if (q - p > 45)
                    q = p + 45;
                while (q > p + 1 && !field_parse_ip(p, (uint32_t)(q - p), &tmp))
                    q--;
            }
            ve = np = q;
            break;
        }
        case OP_SHAPE: {
            size_t k = s->shape(p, e);
            if (!k)
                goto fail;
            ve = np = p + k;
            break;
        }
        case OP_INT: {
            /* sh_int / sh_posint, and the value field_parse_i64 would give */
            const char *q = p;
            bool neg = false;
            if (s->shape == sh_int && q < e && (*q == '+' || *q == '-'))
                neg = *q++ == '-';
            const char *d = q;
            uint64_t v = 0;
            unsigned dg;
            while (q < e && (dg = (unsigned)(uint8_t)*q - '0') <= 9) {
                v = v * 10 + dg;
                q++;
            }
            if (q == d)
                goto fail;
            ve = np = q;
            if (q - d > 18)
                break;   /* may not fit: emit decides, as for any value */
            if (ef->n < ef->max) {
                struct field_value *f = &ef->f[ef->n++];
                f->id = s->fid;
                f->type = FIELD_INT;
                f->v.i = neg ? -(int64_t)v : (int64_t)v;
                added++;
            } else {
                ef->dropped++;
            }
            p = np;
            ws_back = NULL;
            if (record && i < TPL_MEMO_STEPS) {
                memo->st[i].p = p;
                memo->st[i].ws = NULL;
                memo->st[i].vs = vs;
                memo->st[i].ve = ve;
            }
            continue;
        }
        case OP_QUOTED: {
            if (p >= e || (*p != '"' && *p != '\''))
                goto fail;
            char qc = *p;
            const char *q = p + 1;
            while (q < e && *q != qc) {
                if (*q == '\\' && q + 1 < e)
                    q++;
                q++;
            }
            if (q >= e)
                goto fail;
            vs = p + 1;
            ve = q;
            np = q + 1;
            break;
        }
        default:
            goto fail;
        }
        if (s->flags & SF_TRIM) {   /* DATA, GREEDYDATA values do not start or end with blanks */
            while (vs < ve && is_blank(*vs))
                vs++;
            while (ve > vs && is_blank(ve[-1]))
                ve--;
        }
        if (s->capture && emit(s, vs, (uint32_t)(ve - vs), ef, &added) != 0)
            goto fail;
        p = np;
        ws_back = NULL;
        if (record && i < TPL_MEMO_STEPS) {
            memo->st[i].p = p;
            memo->st[i].ws = NULL;
            memo->st[i].vs = vs;
            memo->st[i].ve = ve;
        }
    }
    if (!t->open_end && p != e)
        goto fail;   /* i == t->n: fails after every step */
    return added;
fail:
    if (record) {
        memo->t = t;
        memo->fail = i;
        memo->done = i < TPL_MEMO_STEPS ? i : TPL_MEMO_STEPS;
    }
    ef->n = save_n;
    ef->dropped = save_drop;
    ef->arena_used = save_arena;
    return -1;
}

int tpl_walk_memo(const struct tpl *t, const char *msg, uint32_t len, struct event_fields *ef, struct tpl_memo *memo,
                  unsigned shared)
{
    if (memo)
        return walk(t, msg, len, ef, memo, shared, true);
    return walk(t, msg, len, ef, NULL, 0, false);
}

int tpl_walk(const struct tpl *t, const char *msg, uint32_t len, struct event_fields *ef)
{
    return walk(t, msg, len, ef, NULL, 0, false);
}
