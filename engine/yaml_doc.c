/* YAML document access for the rule loaders: see yaml_doc.h. */
#include "engine/yaml_doc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int yaml_doc_stream_open(struct yaml_doc_stream *s, const char *buf, size_t len, const char *file,
                         struct diag *d)
{
    s->file = file;
    s->d = d;
    if (!yaml_parser_initialize(&s->parser)) {
        diag_add(d, DIAG_ERROR, file, 0, "", "out of memory");
        return -1;
    }
    yaml_parser_set_input_string(&s->parser, (const unsigned char *)buf, len);
    return 0;
}

yaml_node_t *yaml_doc_stream_next(struct yaml_doc_stream *s, yaml_document_t *doc, bool *syntax_error)
{
    const yaml_parser_t *p = &s->parser;
    if (!yaml_parser_load(&s->parser, doc)) {
        diag_add(s->d, DIAG_ERROR, s->file, (unsigned)p->problem_mark.line + 1, "", "YAML: %s%s%s",
                 p->problem ? p->problem : "syntax error", p->context ? " " : "", p->context ? p->context : "");
        if (syntax_error)
            *syntax_error = true;
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root)
        yaml_document_delete(doc); /* the end of the stream: an empty document */
    return root;
}

void yaml_doc_stream_close(struct yaml_doc_stream *s) { yaml_parser_delete(&s->parser); }

void yaml_doc_fail(struct yaml_doc *y, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_first_vset(&y->fail, yaml_doc_line(n), fmt, ap);
    va_end(ap);
}

void yaml_doc_oom(struct yaml_doc *y, const yaml_node_t *n)
{
    y->oom = true;
    yaml_doc_fail(y, n, "out of memory");
}

void yaml_doc_report(const struct yaml_doc *y, struct diag *d, unsigned doc_line)
{
    diag_add(d, DIAG_ERROR, y->file, y->fail.line ? y->fail.line : doc_line, y->what, "%s", y->fail.msg);
}

yaml_node_t *yaml_doc_node(const struct yaml_doc *y, int idx) { return yaml_document_get_node(y->doc, idx); }

unsigned yaml_doc_line(const yaml_node_t *n) { return n ? (unsigned)n->start_mark.line + 1 : 0; }

const char *yaml_doc_scalar(const yaml_node_t *n, size_t *len)
{
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    if (len)
        *len = n->data.scalar.length;
    return (const char *)n->data.scalar.value;
}

bool yaml_doc_scalar_is(const yaml_node_t *n, const char *s)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    return v && len == strlen(s) && !memcmp(v, s, len);
}

/* The pair of map whose key is key. */
static const yaml_node_pair_t *find_pair(const struct yaml_doc *y, const yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++)
        if (yaml_doc_scalar_is(yaml_doc_node(y, p->key), key))
            return p;
    return NULL;
}

yaml_node_t *yaml_doc_map_get(const struct yaml_doc *y, const yaml_node_t *map, const char *key)
{
    const yaml_node_pair_t *p = find_pair(y, map, key);
    return p ? yaml_doc_node(y, p->value) : NULL;
}

yaml_node_t *yaml_doc_map_key(const struct yaml_doc *y, const yaml_node_t *map, const char *key)
{
    const yaml_node_pair_t *p = find_pair(y, map, key);
    return p ? yaml_doc_node(y, p->key) : NULL;
}

char *yaml_doc_copy(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (!p)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *yaml_doc_str(struct yaml_doc *y, const yaml_node_t *n, const char *what)
{
    size_t len;
    const char *v = yaml_doc_scalar(n, &len);
    if (!v) {
        yaml_doc_fail(y, n, "'%s' must be a string", what);
        return NULL;
    }
    char *s = yaml_doc_copy(v, len);
    if (!s)
        yaml_doc_oom(y, n);
    return s;
}
