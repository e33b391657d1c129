/* Reading rules out of YAML documents with libyaml.
 *
 * The Sigma loader (engine/sigma.c) and the correlation loader
 * (mgmt/corr_rules.c) read the same files, a document at a time, and judge
 * a document by the first thing wrong with it: that error is reported once,
 * at the line of the node it is about.  This module is what they share: the
 * documents of a buffer, node lookups, and that first error.
 *
 * Lookups accept NULL and nodes of the wrong type and then answer NULL (or
 * false), so a missing key and a key of the wrong kind need one check.
 */
#ifndef VIGIL_ENGINE_YAML_DOC_H
#define VIGIL_ENGINE_YAML_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "engine/diag.h"

/* ---- the documents of a buffer ---------------------------------------- */

struct yaml_doc_stream {
    yaml_parser_t parser;
    const char *file;   /* for messages */
    struct diag *d;
};

/* Reads buf[0..len) (which must outlive the stream).  0, or -1 after an
 * "out of memory" error in d. */
int yaml_doc_stream_open(struct yaml_doc_stream *s, const char *buf, size_t len, const char *file,
                         struct diag *d);
/* Loads the next document into *doc and returns its root; the caller
 * yaml_document_delete()s doc.  NULL when no document is left, or at a YAML
 * syntax error: that is a "YAML: ..." error in d at its line, and sets
 * *syntax_error (when not NULL).  After NULL the stream has nothing more:
 * libyaml cannot resume past a syntax error. */
yaml_node_t *yaml_doc_stream_next(struct yaml_doc_stream *s, yaml_document_t *doc, bool *syntax_error);
void yaml_doc_stream_close(struct yaml_doc_stream *s);

/* ---- one document ------------------------------------------------------ */

/* A document being turned into a rule, and the first error found in it.
 * Loaders embed it in their parse context. */
struct yaml_doc {
    yaml_document_t *doc;
    const char *file;
    char what[128];          /* what messages are about: the rule's id, name or title ("" if none) */
    struct diag_first fail;  /* the first error (failed: the document is rejected; line 0: no node) */
    bool oom;                /* ... and it was running out of memory */
};

/* Records an error at n's line (n may be NULL).  Only the first error of a
 * document is kept: later ones are usually its consequences. */
void yaml_doc_fail(struct yaml_doc *y, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* yaml_doc_fail with "out of memory", and sets oom: a loader may treat
 * running out of memory as fatal rather than as a bad document. */
void yaml_doc_oom(struct yaml_doc *y, const yaml_node_t *n);
/* Adds the recorded error to d, at its line or, when it names no node, at
 * doc_line (where the document starts). */
void yaml_doc_report(const struct yaml_doc *y, struct diag *d, unsigned doc_line);

/* The node of index idx (a key, value or item of a collection). */
yaml_node_t *yaml_doc_node(const struct yaml_doc *y, int idx);
/* n's line, 1-based; 0 for NULL. */
unsigned yaml_doc_line(const yaml_node_t *n);
/* A scalar's text and its length (*len, when len is not NULL).  The text
 * may hold NUL bytes ("\0" in a quoted scalar): use the length.  NULL when
 * n is NULL or not a scalar. */
const char *yaml_doc_scalar(const yaml_node_t *n, size_t *len);
/* n is a scalar whose text is exactly s. */
bool yaml_doc_scalar_is(const yaml_node_t *n, const char *s);
/* The value of key in map; NULL when map is not a map or lacks the key. */
yaml_node_t *yaml_doc_map_get(const struct yaml_doc *y, const yaml_node_t *map, const char *key);
/* The key node itself: errors about a whole block read best at the line
 * that names it. */
yaml_node_t *yaml_doc_map_key(const struct yaml_doc *y, const yaml_node_t *map, const char *key);

/* A NUL-terminated copy of s[0..len) (scalars are counted strings), or NULL
 * when out of memory. */
char *yaml_doc_copy(const char *s, size_t len);
/* A copy of scalar n's text; NULL after an error when n is not a scalar
 * ("'what' must be a string") or memory runs out.  NUL bytes in the scalar
 * are kept: the copy is read as a C string only up to the first. */
char *yaml_doc_str(struct yaml_doc *y, const yaml_node_t *n, const char *what);

#endif
