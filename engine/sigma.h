/* Sigma rules: YAML documents to a rule AST (loader side of detect.h).
 *
 * Reads SigmaHQ detection rules with libyaml's document API, so every error
 * names the file and line it comes from.  What is read: title, id, status,
 * level, tags, author, logsource (product, service, category; `definition`
 * is ignored) and detection:
 *
 *   - a selection is a map (field[|modifier...] -> value or list of values,
 *     all items ANDed, list values ORed unless |all), a list of such maps
 *     (ORed), or a plain list of values (keywords: matched anywhere in the
 *     message; a map key "" or "|mod" is a keyword item too);
 *   - condition: a string or a list of strings (ORed) with and, or, not,
 *     parentheses, "1 of x*", "all of x*", "any of x*", "1 of them",
 *     "all of them".  Precedence: not > and > or.
 *
 * Values: strings (Sigma wildcards * and ?, escapes \*, \?, \\), numbers,
 * booleans and null.  Modifiers: contains, startswith, endswith, all, re
 * (with i, m, s), cidr, gt, gte, lt, lte, exists, cased.  Anything else
 * (base64, base64offset, utf16*, wide, windash, expand, fieldref, time
 * parts, aggregations, near, rule collections with `action:`) rejects the
 * rule, with the construct named in the diag entry (file, line, rule id).
 *
 * Correlation rules (a `correlation:` key) are not detection rules: they are
 * skipped with a DIAG_WARNING and counted.
 *
 * Nothing here touches Hyperscan except sigma_value_pattern(), which turns
 * one value into the Hyperscan expression detect.c compiles.
 */
#ifndef VIGIL_ENGINE_SIGMA_H
#define VIGIL_ENGINE_SIGMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/diag.h"
#include "engine/event.h"
#include "engine/logsource.h"

enum sigma_mod {
    SIGMA_MOD_CONTAINS   = 1u << 0,
    SIGMA_MOD_STARTSWITH = 1u << 1,
    SIGMA_MOD_ENDSWITH   = 1u << 2,
    SIGMA_MOD_ALL        = 1u << 3,
    SIGMA_MOD_RE         = 1u << 4,
    SIGMA_MOD_RE_I       = 1u << 5,   /* re|i: caseless */
    SIGMA_MOD_RE_M       = 1u << 6,   /* re|m: ^ and $ at line ends */
    SIGMA_MOD_RE_S       = 1u << 7,   /* re|s: . matches newline */
    SIGMA_MOD_CIDR       = 1u << 8,
    SIGMA_MOD_GT         = 1u << 9,
    SIGMA_MOD_GTE        = 1u << 10,
    SIGMA_MOD_LT         = 1u << 11,
    SIGMA_MOD_LTE        = 1u << 12,
    SIGMA_MOD_EXISTS     = 1u << 13,
    SIGMA_MOD_CASED      = 1u << 14,  /* case-sensitive string match */
};
#define SIGMA_MOD_NUMERIC (SIGMA_MOD_GT | SIGMA_MOD_GTE | SIGMA_MOD_LT | SIGMA_MOD_LTE)

enum sigma_vtype {
    SIGMA_V_STR = 1,   /* quoted, or a plain scalar that is not one of the below */
    SIGMA_V_NUM,       /* plain scalar that is a decimal number */
    SIGMA_V_BOOL,      /* plain true / false */
    SIGMA_V_NULL,      /* plain null, ~ or empty: the field is absent or empty */
};

struct sigma_value {
    uint8_t type;           /* enum sigma_vtype */
    bool b;                 /* SIGMA_V_BOOL */
    double num;             /* SIGMA_V_NUM, and strings that parse as numbers (for gt..lte) */
    bool num_ok;            /* num holds a number */
    char *raw;              /* text after YAML unquoting; Sigma escapes still in (NUL-terminated) */
    uint32_t len;           /* bytes of raw (a YAML string may hold NUL) */
    struct vigil_ip net;    /* |cidr: network address */
    uint8_t prefix;         /* |cidr: prefix length */
    unsigned line;
};

struct sigma_item {         /* one "field|mods: value(s)" entry */
    char *field;            /* "" for keywords (the message) */
    unsigned mods;          /* enum sigma_mod bits */
    struct sigma_value *v;
    unsigned nv;
    unsigned line;
};

struct sigma_map {          /* items ANDed */
    struct sigma_item *items;
    unsigned n;
    unsigned line;
};

struct sigma_selection {    /* maps ORed */
    char *name;
    struct sigma_map *maps;
    unsigned n;
    bool keywords;          /* a plain value list */
    unsigned line;
};

/* Condition in postfix over selection indices. */
enum sigma_opcode {
    SIGMA_OP_SEL = 1,       /* push selection arg */
    SIGMA_OP_NOT,           /* pop 1, push not */
    SIGMA_OP_AND,           /* pop arg (>= 2), push and */
    SIGMA_OP_OR,            /* pop arg (>= 2), push or */
};

struct sigma_op {
    uint8_t op;
    uint32_t arg;
};

#define SIGMA_COND_MAX_OPS   4096   /* after "x of" expansion */
#define SIGMA_COND_MAX_NEST  64
#define SIGMA_RULE_MAX_VALUES 65536

struct sigma_rule {
    char *title, *id, *name, *status, *author, *level_text; /* name: Sigma's optional rule name (correlations refer to it) */
    char **tags;
    unsigned ntags;
    uint8_t level;          /* 1 informational .. 5 critical (detect.h enum rule_level); 0 = not set */
    struct logsource ls;
    struct sigma_selection *sel;
    unsigned nsel;
    struct sigma_op *cond;
    unsigned ncond;
    unsigned cond_depth;    /* stack the postfix needs */
    char *file;
    unsigned line;          /* first line of the document */
};

struct sigma_stats {
    unsigned docs;          /* YAML documents seen */
    unsigned rules;         /* detection rules parsed */
    unsigned rejected;      /* documents rejected (one diag error each) */
    unsigned correlations;  /* correlation rules skipped (one diag warning each) */
};

/* Parses every YAML document of buf (len bytes; file names it in messages).
 * Each detection rule that parses is appended to *rules / *n (a realloc'd
 * array the caller frees with sigma_rules_free).  A document that does not
 * parse is reported in d (DIAG_ERROR: file, line, rule id or title, the
 * construct) and left out; a correlation rule gets a DIAG_WARNING.  A YAML
 * syntax error ends the file (documents before it are kept).  Returns the
 * number of rules appended, or -1 when out of memory. */
int sigma_parse_buffer(const char *buf, size_t len, const char *file, struct sigma_rule ***rules, unsigned *n,
                       struct sigma_stats *st, struct diag *d);
/* The same for a file; an unreadable file is one DIAG_ERROR. */
int sigma_parse_file(const char *path, struct sigma_rule ***rules, unsigned *n, struct sigma_stats *st,
                     struct diag *d);
void sigma_rule_free(struct sigma_rule *r);
void sigma_rules_free(struct sigma_rule **rules, unsigned n);

/* Compiles a condition string over the named selections into postfix
 * (*ops malloc'd, *n ops, *depth the stack it needs).  0, or -1 with the
 * reason in err. */
int sigma_condition_parse(const char *text, const struct sigma_selection *sel, unsigned nsel,
                          struct sigma_op **ops, unsigned *n, unsigned *depth, char *err, size_t errlen);

/* How one value of an item is tested. */
enum sigma_pattern_kind {
    SIGMA_PAT_HS = 1,       /* *expr / *flags: a Hyperscan pattern (HS_FLAG_SINGLEMATCH set) */
    SIGMA_PAT_ANY,          /* matches any value the field has ("*", contains "") */
    SIGMA_PAT_EMPTY,        /* the value must be the empty string */
};

/* Builds the Hyperscan expression of a string, number or boolean value under
 * the item's modifiers (not for null, exists, cidr or gt..lte): literals with
 * every non-alphanumeric byte escaped, ^ / \z anchors for startswith /
 * endswith / exact, Sigma wildcards as .* and . (HS_FLAG_DOTALL), caseless
 * unless |cased; re values as written with i/m/s flags.  *expr is malloc'd.
 * Returns 0, or -1 with the reason in err. */
int sigma_value_pattern(unsigned mods, const struct sigma_value *v, enum sigma_pattern_kind *kind, char **expr,
                        unsigned *flags, char *err, size_t errlen);

/* When the value is a plain equality test (no modifier other than cased or
 * all, no Sigma wildcard; a string, number or boolean): its bytes with the
 * escapes resolved (*lit malloc'd, *len bytes, not empty).  detect.c matches
 * those through a hash table of values instead of Hyperscan.  false otherwise. */
bool sigma_value_literal(unsigned mods, const struct sigma_value *v, char **lit, uint32_t *len);

/* "10.0.0.0/8", "2001:db8::/32", or a bare address (full prefix). */
bool sigma_parse_cidr(const char *s, struct vigil_ip *net, uint8_t *prefix);

/* Name of a modifier bit ("contains"), for messages. */
const char *sigma_mod_name(unsigned bit);

#endif
