/* Parsers: from a syslog event's message to typed ECS fields.
 *
 * A parser pack is a YAML file of parsers (format: docs/parsers.md).  Two kinds:
 *  - template parsers, Grok-like: literals and typed fields,
 *      "Failed password for %{USER:user.name} from %{IP:source.ip} port %{INT:source.port}"
 *    with an optional program filter (process.name), constant fields to set
 *    (event.category, event.outcome, ...) and a log source;
 *  - generic parsers for formats whole product families share: key=value
 *    (FortiGate and most firewalls), CEF, LEEF and JSON messages, with a map
 *    from their keys to ECS names.
 *
 * How a message is parsed (no PCRE, no backtracking): templates are anchored
 * at the start of the message body.  The event's process.name picks its
 * program's templates (then the program-less ones), grouped by the first byte
 * a template can start with; the message's first byte picks the group.  A
 * group of more than PS_DIRECT_MAX templates is one Hyperscan database
 * (anchored, HS_FLAG_SINGLEMATCH, no start-of-match) that says which template
 * matches; a smaller group runs its compiled walkers in order, which measured
 * about three times faster than a scan on the shipped packs (docs/parsers.md)
 * and gives the same answer, because a walker accepts exactly what its
 * template's expression matches.  The walker extracts the typed fields in one
 * linear pass.  Generic parsers run when no template claimed the message and
 * their cheap claim test passes.  Every template is compiled by Hyperscan at
 * load either way, so a template Hyperscan rejects is a pack error.
 *
 * Everything here is read-only after parser_set_load, so workers share one
 * parser_set; each worker brings its own hs_scratch_t.
 */
#ifndef VIGIL_ENGINE_PARSER_H
#define VIGIL_ENGINE_PARSER_H

#include <hs/hs.h>

#include "engine/diag.h"
#include "engine/event.h"
#include "engine/fields.h"
#include "engine/hsdb.h"
#include "engine/logsource.h"

struct parser_set;

struct parser_limits {
    unsigned max_parsers;        /* templates + generic parsers in a set */
    unsigned max_fields;         /* typed fields one template may extract */
};

/* Loads every parser pack in paths (files, or directories whose *.yaml and
 * *.yml files are read in name order), interning field names into reg and log
 * sources into lt.  All-or-nothing: a pack with any error loads nothing from
 * that pack, and each error is in d with file, line and reason; the function
 * still returns the set of the packs that loaded.  Returns 0, or -1 when no
 * set could be built at all (e.g. out of memory, Hyperscan failure on the
 * whole set), with the reason in d. */
int parser_set_load(const char *const *paths, unsigned n_paths, struct field_registry *reg,
                    struct logsource_table *lt, const struct parser_limits *lim, struct hsdb_cache *cache,
                    struct parser_set **out, struct diag *d);
void parser_set_free(struct parser_set *ps);

/* Grows *s (hs_alloc_scratch) so it can scan every database of ps. */
int parser_set_alloc_scratch(const struct parser_set *ps, hs_scratch_t **s);

/* Parses ev's message.  ef must already hold ev's built-in fields
 * (event_fields_from_syslog): its message field, trimmed of trailing blanks
 * there, is what the templates see.  On a match adds the parser's fields and
 * constants, sets ef->parser and ef->logsource, and returns the parser's
 * index; otherwise sets ef->logsource from the program's default log source
 * (if any pack declares one) and returns -1. */
int parser_set_parse(const struct parser_set *ps, hs_scratch_t *s, const struct vigil_event *ev,
                     struct event_fields *ef);

unsigned parser_set_count(const struct parser_set *ps);
const char *parser_set_name(const struct parser_set *ps, unsigned idx);   /* "openssh/failed_password" */
/* The constant values (`set:`) parser idx adds to every event it claims, in
 * the order it adds them (*n of them; NULL when none).  An event that got
 * them through the one-copy path says so in its const_first / const_n. */
const struct field_value *parser_set_constants(const struct parser_set *ps, unsigned idx, unsigned *n);

#endif
