/* Templates: the Grok-like language parser packs are written in.
 *
 *   "Failed password for %{USER:user.name} from %{IP:source.ip} port %{INT:source.port} ssh2"
 *
 * A template is literal text and typed fields:
 *   %{TYPE:field.name}        match TYPE and capture it as field.name (ECS name)
 *   %{TYPE:field.name:MOD}    same, converting the value: MOD is int, ip or str
 *   %{TYPE:a.b|c.d}           capture into a.b when the value converts to a.b's
 *                             type (address, integer), else into c.d as a string:
 *                             %{IPORHOST:source.ip|source.domain}
 *   %{TYPE}                   match TYPE, capture nothing
 *   %%                        a literal '%' (so %%{ is a literal "%{"); a '%' not
 *                             followed by '{' or '%' is literal too
 * Whitespace in literals: any run of spaces/tabs in the template matches one or
 * more spaces/tabs in the message.  Leading and trailing whitespace of the
 * template is ignored (the parser trims the message body the same way).
 *
 * Matching: the template is anchored at the start of the message body and must
 * match all of it, unless it ends with DATA or GREEDYDATA (which take the rest).
 * Two fields must be separated by a literal (otherwise the split is ambiguous),
 * except that a final DATA or GREEDYDATA may directly follow a field
 * ("%{IP:source.ip}%{GREEDYDATA}": the address, then anything).
 *
 * A template compiles into (a) a Hyperscan regex, used to classify messages
 * (see parser.h), and (b) a walker program that extracts the fields in one
 * left-to-right pass with no backtracking:
 *   - token types (WORD, NOTSPACE, IP, ...) take the longest run of their
 *     characters; when the next literal starts with a character of the run,
 *     they stop at the last place inside the run where that literal matches;
 *   - fixed-shape types (INT, timestamps, UUID, MAC) take their longest shape;
 *   - DATA is lazy: up to the first occurrence of the next literal (or to the
 *     end when it is last); GREEDYDATA is greedy: up to the last occurrence of
 *     the next literal (or to the end);
 *   - QUOTEDSTRING takes "..." or '...' (backslash escapes), value without quotes;
 *   - DATA and GREEDYDATA values are trimmed of leading and trailing blanks.
 * Hyperscan has already confirmed that some split matches; when the walker's
 * choice differs and a later step fails, tpl_walk returns -1 and adds nothing.
 *
 * Values: INT/POSINT/NUMBER become integers when integral and within int64
 * (else strings), IP/IPV4/IPV6 become addresses (the walker fails when the
 * text is not one), IPORHOST becomes an address when it parses as one, the
 * rest are strings (views into the message).  :int / :ip convert any type
 * when the text parses (else string); :str keeps the text.  With a fallback
 * field (a|b), a value that does not convert goes to b as a string (an IP
 * type then does not fail the walk).  Empty captures
 * and captures that are exactly "-" (the usual "absent" marker) are not added.
 *
 * Nothing here allocates or makes system calls after tpl_compile.
 */
#ifndef VIGIL_ENGINE_TEMPLATE_H
#define VIGIL_ENGINE_TEMPLATE_H

#include <stdint.h>

#include "engine/fields.h"

#define TPL_MAX_LEN   4096   /* template source bytes */
#define TPL_MAX_STEPS 256

struct tpl;

struct tpl_error {
    unsigned column;         /* 1-based column in the template source; 0 = whole template */
    char msg[160];
};

/* Compiles src, interning captured field names into reg.  max_fields bounds
 * the number of captures (0 = FIELDS_HARD_MAX).  Returns 0, or -1 with err set
 * (unknown type, bad field name, unterminated %{, adjacent fields, empty
 * template, too many fields, out of memory). */
int tpl_compile(const char *src, struct field_registry *reg, unsigned max_fields, struct tpl **out,
                struct tpl_error *err);
void tpl_free(struct tpl *t);

/* The Hyperscan expression (anchored with ^, HS_FLAG_DOTALL expected). */
const char *tpl_regex(const struct tpl *t);
/* Number of captured fields. */
unsigned tpl_captures(const struct tpl *t);
/* The bytes a matching message can start with (bit b of set[b >> 3]). */
void tpl_first_bytes(const struct tpl *t, uint8_t set[32]);

/* Extracts the fields of msg[0..len) into ef.  Returns the number of values
 * added (fields refused by the limit are counted in ef->dropped), or -1 when
 * the message does not fit the template; then ef is left as it was. */
int tpl_walk(const struct tpl *t, const char *msg, uint32_t len, struct event_fields *ef);

/* Walking several templates over one message (parser dispatch): a template
 * whose first steps are the same as those of the template walked before it
 * (tpl_shared_steps: same literals, same field types followed by the same
 * literals; capture names and conversions may differ) needs not walk them
 * again.  tpl_walk_memo records, in memo, where each step of t ended on this
 * message (up to TPL_MEMO_STEPS steps) and which step failed.  Called with the
 * number of steps t shares with memo->t (memo->t NULL: none yet), it
 *   - fails at once when memo->t failed inside the shared steps (t would fail
 *     at the same step); memo is left as it was;
 *   - otherwise adds the shared steps' values from memo (under t's field
 *     names and conversions) and walks on from there.
 * The answer and the fields are those of tpl_walk; the memo belongs to one
 * message (zero memo->t before the first walk). */
#define TPL_MEMO_STEPS 64

struct tpl_memo {
    const struct tpl *t;     /* the template last walked (NULL: none) */
    unsigned fail;           /* the step it failed at (its step count: at the end) */
    unsigned done;           /* steps recorded in st */
    struct {
        const char *p, *ws;  /* position after the step; DATA may start back at ws */
        const char *vs, *ve; /* the field's value */
    } st[TPL_MEMO_STEPS];
};

unsigned tpl_shared_steps(const struct tpl *a, const struct tpl *b);

/* The template's leading literal, as the walker matches it (a blank run of the
 * template is one ' ', matching one or more blanks): its first bytes, up to
 * cap, copied to buf.  Returns how many (0: the template starts with a field).
 * A message whose body, blank runs collapsed to one ' ', does not start with
 * these bytes is one the walker refuses. */
unsigned tpl_literal_prefix(const struct tpl *t, char *buf, unsigned cap);
/* The end the template must match at: when it does not end with DATA or
 * GREEDYDATA and its last step is a literal, the bytes after that literal's
 * last blank, up to cap (the last cap of them), copied to buf.  Returns how
 * many (0: no such end).  The walker matches those bytes exactly and requires
 * the message to end right after them, so a message that does not end with
 * them is one the walker refuses. */
unsigned tpl_literal_suffix(const struct tpl *t, char *buf, unsigned cap);
int tpl_walk_memo(const struct tpl *t, const char *msg, uint32_t len, struct event_fields *ef, struct tpl_memo *memo,
                  unsigned shared);

/* The type table, for documentation and tests. */
unsigned tpl_type_count(void);
const char *tpl_type_name(unsigned i);
const char *tpl_type_regex(unsigned i);

#endif
