/* Generic parsers: the message formats whole product families share.
 *
 *   kv    key=value pairs (FortiGate, iptables, most firewalls):
 *           key=value key="quoted \"value\"" key='v' ...
 *         Pairs are separated by blanks (or the configured separator set); a
 *         quoted value may hold separators, with \" \' \\ escapes (unescaped
 *         into the arena).  The key is the run of [A-Za-z0-9_.-] just before
 *         '=', so "Shorewall:net:DROP:IN=eth0" gives IN=eth0.  Tokens without
 *         '=' are skipped, unless listed in `flags` (bare words such as the
 *         TCP flags SYN ACK of iptables: the word becomes the value of the
 *         field it maps to).  The text before the first pair (after a kernel
 *         "[ 1234.5678]" stamp) can be kept as `prefix_field`.  Empty values
 *         are skipped.  Claim: the configured literal occurs, and at least
 *         min_pairs pairs parse.
 *   cef   CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
 *         after optional leftovers (the "CEF:" must start within the first 256
 *         bytes).  Header escapes \| \\; extension key=value pairs whose values
 *         run to the next " key=" (so they may hold spaces), escapes \= \\ \n \r.
 *         Header fields are map keys too: version, deviceVendor, deviceProduct,
 *         deviceVersion, signatureId, name, severity.
 *   leef  LEEF:1.0|Vendor|Product|Version|EventID|k=v<TAB>k=v...
 *         LEEF:2.0|Vendor|Product|Version|EventID|Delim|k=v<Delim>k=v...
 *         (Delim is one character, or xHH / 0xHH; omitted = tab).  Header map
 *         keys: version, deviceVendor, deviceProduct, deviceVersion, signatureId.
 *   json  one top-level object (optionally after "@cee:"): nested objects are
 *         flattened to dotted keys ("a.b.c"); strings are unescaped into the
 *         arena when they hold escapes (\uXXXX, surrogate pairs, to UTF-8);
 *         integral numbers that fit int64 become integers, other numbers and
 *         true/false become strings, null is skipped; every scalar element of
 *         an array is added as one more value of the array's key (objects and
 *         arrays inside arrays are skipped).  Nesting deeper than 16 or keys
 *         longer than 255 bytes are skipped, not errors.
 *
 * Every format maps source keys to ECS field ids (`map`); unmapped keys are
 * ignored.  The value type comes from the target field: names ending in
 * ".ip" become addresses, names ending in ".port", ".bytes", ".packets",
 * ".pid", ".status_code", ".severity", ".duration", ".count" become integers
 * (each only when the value parses; otherwise the string is kept).  A mapping
 * can force the type with a suffix on the field name: "x.y:int", ":ip", ":str".
 * Fields listed in `lowercase` are copied lower-cased into the arena.
 *
 * Parsing never allocates: values are views into the message, or arena
 * copies when they had to be unescaped or lower-cased.
 */
#ifndef VIGIL_ENGINE_GENPARSE_H
#define VIGIL_ENGINE_GENPARSE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/fields.h"

enum gp_format {
    GP_KV = 1,
    GP_CEF,
    GP_LEEF,
    GP_JSON,
};

enum gp_vtype {
    GP_VSTR = 0,
    GP_VINT,
    GP_VIP,
};

struct gp_entry {
    char *key;
    uint16_t klen;
    field_id fid;
    uint8_t vtype;      /* enum gp_vtype */
    uint8_t lower;      /* copy lower-cased */
    uint8_t forced;     /* vtype given explicitly (":str" ...) */
    uint8_t has_alt;    /* values that do not convert go to alt as strings */
    field_id alt;
};

/* Open-addressing table from source key to mapping. */
struct gp_map {
    struct gp_entry *e;
    unsigned n, cap;
    int32_t *slot;      /* index + 1, 0 = empty */
    unsigned nslots;    /* power of two */
};

enum { KVC_SEP = 1, KVC_EQ = 2, KVC_KEY = 4 };

struct genparse {
    uint8_t format;              /* enum gp_format */
    struct gp_map map;
    struct gp_map flags;         /* kv: bare word -> field */
    char *claim;                 /* literal that must occur (NULL = none) */
    uint32_t claim_len;
    unsigned min_pairs;          /* kv: pairs needed to claim (default 2) */
    uint8_t sep[32];             /* kv: separator characters (default blank) */
    uint8_t kvc[256];            /* kv: KVC_* bits per byte (separator, '=', key character) */
    bool blank_seps;             /* kv: the separators are exactly space and tab */
    uint8_t key_lo[16];          /* kv: key characters as a pshufb table (bit c >> 4 of key_lo[c & 15]) */
    bool has_prefix;             /* kv: keep the text before the first pair */
    field_id prefix_fid;
    unsigned max_fields;         /* values one message may add (0 = no limit but ef->max) */
};

const char *gp_format_name(enum gp_format f);
/* "kv", "cef", "leef", "json" -> format, or 0. */
enum gp_format gp_format_parse(const char *s);

void genparse_init(struct genparse *g, enum gp_format f);
void genparse_free(struct genparse *g);

/* Maps source key to field (vtype from the name unless forced >= 0); alt_fid
 * >= 0 names a fallback field for values that do not convert (an rhost that
 * is a name, not an address).  0, or -1 when the key is already mapped or out
 * of memory. */
int genparse_map(struct genparse *g, const char *key, field_id fid, const char *field_name, int forced_vtype,
                 int alt_fid);
/* kv bare words (e.g. SYN) kept as values of fid. */
int genparse_flag(struct genparse *g, const char *word, field_id fid);
/* Marks every mapping into fid as lower-cased. */
void genparse_lowercase(struct genparse *g, field_id fid);
int genparse_set_claim(struct genparse *g, const char *lit);
void genparse_set_separators(struct genparse *g, const char *chars);

/* Value type a field name implies (".ip" -> GP_VIP, ".port" ... -> GP_VINT). */
enum gp_vtype gp_vtype_for(const char *field_name);

/* The cheap test: could this parser claim msg?  No field is touched. */
bool genparse_claims(const struct genparse *g, const char *msg, uint32_t len);

/* Parses msg into ef.  Returns the number of values added (fields refused by
 * the limits are counted in ef->dropped), or -1 when the message is not of
 * this format (then ef is left as it was). */
int genparse_parse(const struct genparse *g, const char *msg, uint32_t len, struct event_fields *ef);

#endif
