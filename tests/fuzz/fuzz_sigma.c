/* libFuzzer target for the Sigma loader, the condition parser and the rule
 * compiler.
 *
 * Each input is
 *   1. parsed as a Sigma file (sigma_parse_buffer): every rule that parses
 *      must be well formed (postfix that evaluates to one value, selection
 *      indices in range), and every pattern sigma_value_pattern makes from a
 *      non-regex value must be accepted by Hyperscan (hs_expression_info);
 *   2. parsed as a condition string over a fixed set of selection names;
 *   3. when it held at least one rule, loaded for real (detect_load, from a
 *      file in /dev/shm) and one event evaluated against it, so the compiler,
 *      the Hyperscan build and detect_eval run on whatever the loader accepts.
 *      The answers are compared with the same rules loaded without anchors
 *      and without parser constants (half of the event's fields are the
 *      constants of a stand-in parser, checked once by detect_set_constants
 *      in the first set): neither may change an answer.
 *
 * Build (links only the engine files it needs, no DPDK):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_sigma.c \
 *     engine/sigma.c engine/detect.c engine/fields.c engine/logsource.c engine/hsdb.c \
 *     engine/diag.c -lhs -lyaml -lstdc++ -lm -o fuzz_sigma
 *   ./fuzz_sigma -max_total_time=60 CORPUS_DIR configs/rules ../shared/corpus/rules/sigma/rules/...
 */
#include <hs/hs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/detect.h"
#include "engine/diag.h"
#include "engine/sigma.h"

static void check_postfix(const struct sigma_op *ops, unsigned n, unsigned nsel, unsigned depth)
{
    unsigned sp = 0, max = 0;
    for (unsigned i = 0; i < n; i++) {
        switch (ops[i].op) {
        case SIGMA_OP_SEL:
            if (ops[i].arg >= nsel)
                abort();
            sp++;
            break;
        case SIGMA_OP_NOT:
            if (sp < 1)
                abort();
            break;
        case SIGMA_OP_AND:
        case SIGMA_OP_OR:
            if (ops[i].arg < 2 || sp < ops[i].arg)
                abort();
            sp -= ops[i].arg - 1;
            break;
        default:
            abort();
        }
        if (sp > max)
            max = sp;
    }
    if (sp != 1 || max != depth)
        abort();
}

static void check_rule(const struct sigma_rule *r)
{
    if (!r->title || r->nsel == 0 || r->ncond == 0)
        abort();
    check_postfix(r->cond, r->ncond, r->nsel, r->cond_depth);
    for (unsigned s = 0; s < r->nsel; s++)
        for (unsigned m = 0; m < r->sel[s].n; m++)
            for (unsigned i = 0; i < r->sel[s].maps[m].n; i++) {
                const struct sigma_item *it = &r->sel[s].maps[m].items[i];
                if (it->nv == 0)
                    abort();
                if (it->mods & (SIGMA_MOD_EXISTS | SIGMA_MOD_CIDR | SIGMA_MOD_NUMERIC | SIGMA_MOD_RE))
                    continue;
                for (unsigned v = 0; v < it->nv; v++) {
                    if (it->v[v].type == SIGMA_V_NULL)
                        continue;
                    enum sigma_pattern_kind kind;
                    char *expr, err[128];
                    unsigned flags;
                    if (sigma_value_pattern(it->mods, &it->v[v], &kind, &expr, &flags, err, sizeof err))
                        abort(); /* every non-null plain value makes a pattern */
                    if (kind == SIGMA_PAT_HS) {
                        hs_expr_info_t *info = NULL;
                        hs_compile_error_t *ce = NULL;
                        if (hs_expression_info(expr, flags, &info, &ce) != HS_SUCCESS) {
                            fprintf(stderr, "generated pattern refused: %s: %s\n", expr, ce ? ce->message : "");
                            abort();
                        }
                        free(info);
                    }
                    free(expr);
                }
            }
}

static void fuzz_condition(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b", "sel", "sel_1", "sel_2", "filter", "_x", "1", "any"};
    struct sigma_selection sel[9];
    memset(sel, 0, sizeof sel);
    for (unsigned i = 0; i < 9; i++)
        sel[i].name = (char *)names[i];
    char *text = malloc(size + 1);
    if (!text)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    struct sigma_op *ops;
    unsigned n, depth;
    char err[256];
    if (sigma_condition_parse(text, sel, 9, &ops, &n, &depth, err, sizeof err) == 0) {
        check_postfix(ops, n, 9, depth);
        free(ops);
    } else if (!err[0]) {
        abort(); /* a failure always says why */
    }
    free(text);
}

/* A field value made from the input: integers for every third id, else a
 * slice of the input (the message: the rule text itself, so its literals are
 * there). */
static struct field_value input_value(const uint8_t *data, size_t size, unsigned id)
{
    struct field_value f = {.id = (field_id)id};
    size_t off = (id * 7) % (size ? size : 1), len = size - off < 40 ? size - off : 40;
    if (id == FID_MESSAGE)
        len = size < 512 ? size : 512;
    if (id % 3 == 0 && id != FID_MESSAGE) {
        f.type = FIELD_INT;
        f.v.i = (int64_t)id * 101 - 50;
    } else {
        f.type = FIELD_STR;
        f.v.s.ptr = (const char *)data + off;
        f.v.s.len = (uint32_t)len;
    }
    return f;
}

/* A stand-in parser set of one parser whose constants are consts[0, n). */
struct stand_in {
    struct field_value consts[24];
    unsigned n;
};

static const struct field_value *stand_in_constants(const void *src, unsigned i, unsigned *n)
{
    const struct stand_in *p = src;
    *n = i == 0 ? p->n : 0;
    return p->consts;
}

static void compile_and_eval(const uint8_t *data, size_t size)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/shm/fuzz_sigma.%d.yml", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(data, 1, size, f);
    fclose(f);
    struct field_registry *reg = field_registry_new();
    struct logsource_table *lt = logsource_table_new();
    struct diag d;
    diag_init(&d);
    struct rule_set *rs = NULL, *plain = NULL;
    const char *paths[] = {path};
    struct detect_limits lim = {64, 4096, false}, lim_plain = {64, 4096, true};
    if (detect_load(paths, 1, NULL, reg, lt, &lim, NULL, &rs, &d) == 0 && rs) {
        /* the same rules with every literal its own pattern: anchors must not change an answer */
        struct diag d2;
        diag_init(&d2);
        if (detect_load(paths, 1, NULL, reg, lt, &lim_plain, NULL, &plain, &d2) != 0 || !plain ||
            detect_rule_count(plain) != detect_rule_count(rs))
            abort();
        diag_free(&d2);
        hs_scratch_t *s = NULL;
        struct detect_state *st = detect_state_new(rs), *st2 = detect_state_new(plain);
        /* the odd field ids are the stand-in parser's constants */
        static struct stand_in parser;
        unsigned nf = field_registry_count(reg);
        parser.n = 0;
        for (unsigned id = 1; id < nf && id < 24; id += 2)
            if (id != FID_MESSAGE)
                parser.consts[parser.n++] = input_value(data, size, id);
        if (detect_set_constants(rs, &parser, 1, stand_in_constants) != 0)
            abort();
        if (detect_alloc_scratch(rs, &s) == 0 && detect_alloc_scratch(plain, &s) == 0 && st && st2) {
            struct event_fields ef;
            event_fields_init(&ef, 32, 256);
            /* an event on every log source the rules named, with every field they test */
            for (unsigned ls = 0; ls < logsource_count(lt); ls++) {
                event_fields_reset(&ef);
                ef.logsource = (uint16_t)ls;
                for (unsigned id = 0; id < nf && id < 24; id++)
                    if (id == FID_MESSAGE || id % 2 == 0)
                        ef.f[ef.n++] = input_value(data, size, id);
                /* the constants as parser_set_parse leaves them: one block, marked */
                ef.parser = 0;
                ef.const_src = &parser;
                ef.const_first = ef.n;
                ef.const_n = (uint16_t)parser.n;
                for (unsigned k = 0; k < parser.n; k++)
                    ef.f[ef.n++] = parser.consts[k];
                uint32_t out[8], out2[8];
                int m = detect_eval(rs, s, st, &ef, out, 8), m2 = detect_eval(plain, s, st2, &ef, out2, 8);
                if (m < -1 || (unsigned)(m > 0 ? m : 0) > detect_rule_count(rs))
                    abort();
                if (m != m2 || (m > 0 && memcmp(out, out2, (size_t)(m < 8 ? m : 8) * sizeof *out)))
                    abort();
                for (int k = 0; k < m && k < 8; k++)
                    if (out[k] >= detect_rule_count(rs) || (k && out[k] <= out[k - 1]))
                        abort();
            }
            event_fields_free(&ef);
        }
        detect_state_free(st);
        detect_state_free(st2);
        if (s)
            hs_free_scratch(s);
    }
    detect_free(rs);
    detect_free(plain);
    diag_free(&d);
    logsource_table_free(lt);
    field_registry_free(reg);
    unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16)
        return 0;
    /* an exact-size copy: libFuzzer's buffer may have slack ASan cannot see */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    struct diag d;
    diag_init(&d);
    struct sigma_rule **rules = NULL;
    unsigned n = 0;
    struct sigma_stats st = {0};
    int rc = sigma_parse_buffer(buf, size, "fuzz.yml", &rules, &n, &st, &d);
    if (rc >= 0 && (unsigned)rc != n)
        abort();
    for (unsigned i = 0; i < n; i++)
        check_rule(rules[i]);
    if (st.rules != n || d.errors < st.rejected)
        abort();
    sigma_rules_free(rules, n);
    diag_free(&d);

    fuzz_condition(data, size);
    if (n > 0)
        compile_and_eval(data, size);
    free(buf);
    return 0;
}
