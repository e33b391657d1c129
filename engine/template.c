#include "engine/template.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* n digits exactly */
static bool digits(const char *p, const char *e, size_t n)
{
    if ((size_t)(e - p) < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_digit(p[i]))
            return false;
    return true;
}

/* 1..max digits, greedy; returns count */
static size_t digits_upto(const char *p, const char *e, size_t max)
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
static bool month3(const char *p, const char *e)
{
    return e - p >= 3 && is_upper(p[0]) && is_lower(p[1]) && is_lower(p[2]);
}

/* hh:mm:ss */
static bool hms(const char *p, const char *e)
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

/* d{1,2}/Mmm/dddd:hh:mm:ss [+-]dddd */
static size_t sh_httpdate(const char *p, const char *e)
{
    const char *q = p;
    size_t d = digits_upto(q, e, 2);
    if (!d)
        return 0;
    q += d;
    if (q >= e || *q != '/' || !month3(q + 1, e))
        return 0;
    q += 4;
    if (e - q < 6 || *q != '/' || !digits(q + 1, e, 4) || q[5] != ':')
        return 0;
    q += 6;
    if (!hms(q, e))
        return 0;
    q += 8;
    if (e - q < 6 || q[0] != ' ' || (q[1] != '+' && q[1] != '-') || !digits(q + 2, e, 4))
        return 0;
    return (size_t)(q + 6 - p);
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

/* ---- compiled form ----------------------------------------------------- */

enum { S_LIT = 1, S_FIELD };

struct tpl_step {
    uint8_t kind;
    uint8_t type;          /* index into types[] */
    uint8_t mod;
    uint8_t capture;
    uint8_t has_alt;       /* fallback field for values that do not convert */
    field_id fid;
    field_id alt;
    uint32_t off, len;     /* S_LIT: text in t->lit (blank runs collapsed to one ' ') */
    uint8_t set[32];       /* W_CHARSET: members */
    uint8_t first[32];     /* W_CHARSET: allowed first characters */
};

struct tpl {
    unsigned n;
    unsigned captures;
    struct tpl_step *s;
    char *lit;
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
        memcpy(set, s->first, 32);
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

int tpl_compile(const char *src, struct field_registry *reg, unsigned max_fields, struct tpl **out,
                struct tpl_error *err)
{
    *out = NULL;
    err->column = 0;
    err->msg[0] = '\0';
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
            fail(err, col + 2, "unknown type '%s'", spec);
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
        if (td->walk == W_CHARSET) {
            if (!strcmp(td->name, "NOTSPACE")) {
                memset(s->set, 0xff, 32);
                const char ws[] = {' ', '\t', '\n', '\v', '\f', '\r'};
                for (unsigned k = 0; k < sizeof ws; k++)
                    s->set[(uint8_t)ws[k] >> 3] &= (uint8_t)~(1u << (ws[k] & 7));
                memcpy(s->first, s->set, 32);
            } else {
                spec_to_set(td->chars, s->set);
                spec_to_set(td->first ? td->first : td->chars, s->first);
            }
        }
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
    t->s = steps;    /* not shrunk: a few spare steps cost less than a realloc path */
    steps = NULL;
    t->lit = lit.p ? lit.p : calloc(1, 1);
    lit.p = NULL;
    t->regex = rx.p;
    rx.p = NULL;
    if (!t->lit) {
        fail(err, 0, "out of memory%s", NULL);
        goto out;
    }
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

/* Matches literal l[0..ln) at p; a ' ' in l matches one or more blanks.
 * Returns the end, or NULL.  *trail gets the start of the final blank run
 * when the literal ends with one. */
static const char *lit_at(const char *p, const char *e, const char *l, uint32_t ln, const char **trail)
{
    for (uint32_t k = 0; k < ln; k++) {
        if (l[k] == ' ') {
            if (p >= e || !is_blank(*p))
                return NULL;
            if (trail)
                *trail = p;
            while (p < e && is_blank(*p))
                p++;
        } else {
            if (p >= e || *p != l[k])
                return NULL;
            p++;
        }
    }
    return p;
}

/* First q in [from, e) where the literal matches. */
static const char *lit_find(const char *from, const char *e, const char *l, uint32_t ln)
{
    if (!ln)
        return from;
    for (const char *q = from; q < e; q++) {
        if (l[0] == ' ') {
            if (!is_blank(*q))
                continue;
        } else {
            q = memchr(q, l[0], (size_t)(e - q));
            if (!q)
                return NULL;
        }
        if (lit_at(q, e, l, ln, NULL))
            return q;
    }
    return NULL;
}

/* Last q in [from, e) where the literal matches. */
static const char *lit_rfind(const char *from, const char *e, const char *l, uint32_t ln)
{
    if (!ln)
        return e;
    for (const char *q = e; q > from;) {
        q--;
        if (l[0] == ' ' ? !is_blank(*q) : *q != l[0])
            continue;
        if (lit_at(q, e, l, ln, NULL))
            return q;
    }
    return NULL;
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

/* Dotted IPv4 without the copy field_parse_ip makes; anything else goes to it. */
static bool parse_ip(const char *p, uint32_t len, struct vigil_ip *ip)
{
    if (len >= 7 && len <= 15 && is_digit(p[0])) {
        uint8_t a[4];
        unsigned part = 0, v = 0, nd = 0;
        uint32_t k;
        for (k = 0; k < len; k++) {
            char c = p[k];
            if (is_digit(c)) {
                if (nd && v == 0)
                    break;          /* leading zero: let inet_pton decide */
                v = v * 10 + (unsigned)(c - '0');
                if (++nd > 3 || v > 255)
                    break;
            } else if (c == '.' && nd && part < 3) {
                a[part++] = (uint8_t)v;
                v = nd = 0;
            } else {
                break;
            }
        }
        if (k == len && part == 3 && nd) {
            a[3] = (uint8_t)v;
            memset(ip, 0, sizeof *ip);
            ip->family = 4;
            memcpy(ip->addr, a, 4);
            return true;
        }
    }
    return field_parse_ip(p, len, ip);
}

/* Adds one captured value.  -1 only when the walk must fail (IP that is not one). */
static int emit(const struct tpl_step *s, const char *p, uint32_t len, struct event_fields *ef, int *added)
{
    if (!s->capture || len == 0 || (len == 1 && p[0] == '-'))
        return 0;
    unsigned kind = types[s->type].val;
    if (s->mod == MOD_INT)
        kind = V_INT;
    else if (s->mod == MOD_IP)
        kind = V_IPORHOST;   /* address when it parses, else string */
    else if (s->mod == MOD_STR)
        kind = V_STR;
    int64_t v;
    struct vigil_ip ip;
    field_id sid = s->fid;   /* where a string goes */
    switch (kind) {
    case V_INT:
        if (parse_i64(p, len, &v)) {
            *added += event_fields_add_int(ef, s->fid, v) == 0;
            return 0;
        }
        if (s->has_alt)
            sid = s->alt;
        break;
    case V_IP:
    case V_IPORHOST:
        if (parse_ip(p, len, &ip)) {
            *added += event_fields_add_ip(ef, s->fid, &ip) == 0;
            return 0;
        }
        if (s->has_alt)
            sid = s->alt;
        else if (kind == V_IP)
            return -1;
        break;
    default:
        break;
    }
    *added += event_fields_add_str(ef, sid, p, len) == 0;
    return 0;
}

int tpl_walk(const struct tpl *t, const char *msg, uint32_t len, struct event_fields *ef)
{
    uint16_t save_n = ef->n;
    uint32_t save_drop = ef->dropped, save_arena = ef->arena_used;
    const char *p = msg, *e = msg + len;
    const char *ws_back = NULL;   /* DATA may start inside the blank run the previous literal ended with */
    int added = 0;

    for (unsigned i = 0; i < t->n; i++) {
        const struct tpl_step *s = &t->s[i];
        if (s->kind == S_LIT) {
            const char *trail = NULL;
            const char *q = lit_at(p, e, t->lit + s->off, s->len, &trail);
            if (!q)
                goto fail;
            ws_back = (s->len && t->lit[s->off + s->len - 1] == ' ' && trail) ? trail + 1 : NULL;
            p = q;
            continue;
        }
        const struct type_def *td = &types[s->type];
        /* the next step is a literal, or nothing (end, or a final DATA/GREEDYDATA) */
        const struct tpl_step *nx = i + 1 < t->n && t->s[i + 1].kind == S_LIT ? &t->s[i + 1] : NULL;
        const char *nl = nx ? t->lit + nx->off : NULL;
        uint32_t nln = nx ? nx->len : 0;
        const char *vs = p, *ve, *np;
        switch (td->walk) {
        case W_DATA:
        case W_GREEDY: {
            if (!nx) {
                ve = np = e;
                break;
            }
            const char *from = ws_back && ws_back < p ? ws_back : p;
            const char *q = td->walk == W_DATA ? lit_find(from, e, nl, nln) : lit_rfind(from, e, nl, nln);
            if (!q)
                goto fail;
            if (td->walk == W_GREEDY && nl[0] == ' ')
                while (q > p && is_blank(q[-1]))
                    q--;   /* the value does not end with the blanks the literal matches */
            np = q;
            ve = q > p ? q : p;
            break;
        }
        case W_CHARSET: {
            if (p >= e || !in_set(s->first, *p))
                goto fail;
            const char *run = p + 1;
            while (run < e && in_set(s->set, *run))
                run++;
            const char *q = run;
            if (nx && nln && nl[0] != ' ' && in_set(s->set, nl[0])) {
                /* the literal may start inside the run: stop at its last match there */
                for (q = run; q > p; q--)
                    if (lit_at(q, e, nl, nln, NULL))
                        break;
                if (q == p)
                    goto fail;
            }
            if (!nx && i + 1 < t->n && td->val == V_IP) {
                /* an address followed directly by the open tail ("1.2.3.4: msg"):
                 * the longest prefix of the run that is an address */
                struct vigil_ip tmp;
                if (q - p > 45)
                    q = p + 45;
                while (q > p + 1 && !parse_ip(p, (uint32_t)(q - p), &tmp))
                    q--;
            }
            ve = np = q;
            break;
        }
        case W_SHAPE: {
            size_t k = td->shape(p, e);
            if (!k)
                goto fail;
            ve = np = p + k;
            break;
        }
        case W_QUOTED: {
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
        if (td->walk == W_DATA || td->walk == W_GREEDY) {   /* values do not start or end with blanks */
            while (vs < ve && is_blank(*vs))
                vs++;
            while (ve > vs && is_blank(ve[-1]))
                ve--;
        }
        if (emit(s, vs, (uint32_t)(ve - vs), ef, &added) != 0)
            goto fail;
        p = np;
        ws_back = NULL;
    }
    {
        const struct tpl_step *ls = &t->s[t->n - 1];
        bool open_end = ls->kind == S_FIELD && (types[ls->type].walk == W_DATA || types[ls->type].walk == W_GREEDY);
        if (!open_end && p != e)
            goto fail;
    }
    return added;
fail:
    ef->n = save_n;
    ef->dropped = save_drop;
    ef->arena_used = save_arena;
    return -1;
}
