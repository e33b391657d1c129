/* Literal anchors: greedy set cover over the literals' substrings (see the
 * header).  Every substring of length min_len..max_len that starts in the
 * first LIT_ANCHOR_SCAN bytes of a literal is a candidate, with the list of
 * literals that contain it (its postings).  The candidate covering the most
 * literals not yet covered is taken, lazily: a candidate's count only falls
 * as literals get covered, so the top of a max-heap is recounted when it is
 * popped and pushed back down when its count fell. */
#include "engine/lit_anchor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define NONE 0xffffffffu

struct cand {
    uint32_t lit, off;          /* first occurrence: low[lit] + off */
    uint32_t len;
    uint32_t n;                 /* literals that contain it */
    uint32_t key;               /* heap key: uncovered literals when last counted */
    uint32_t head;              /* postings, newest first */
};

struct pick {
    char **low;                 /* the literals, lowercased (what anchors are searched in) */
    struct cand *c;
    uint32_t nc;
    uint32_t *plit, *paend, *pnext;
    uint32_t np;
    uint32_t *heap;
    uint32_t nh;
};

static inline char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c; }

static uint32_t fnv(const char *s, uint32_t n)
{
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

/* a before b in the heap: more literals, then longer, then first seen */
static bool above(const struct pick *k, uint32_t a, uint32_t b)
{
    const struct cand *x = &k->c[a], *y = &k->c[b];
    if (x->key != y->key)
        return x->key > y->key;
    if (x->len != y->len)
        return x->len > y->len;
    return a < b;
}

static void sift_down(struct pick *k, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < k->nh && above(k, k->heap[l], k->heap[m]))
            m = l;
        if (r < k->nh && above(k, k->heap[r], k->heap[m]))
            m = r;
        if (m == i)
            return;
        uint32_t t = k->heap[i];
        k->heap[i] = k->heap[m];
        k->heap[m] = t;
        i = m;
    }
}

static uint32_t uncovered(const struct pick *k, const struct cand *c, const bool *covered)
{
    uint32_t r = 0;
    for (uint32_t j = c->head; j != NONE; j = k->pnext[j])
        r += !covered[k->plit[j]];
    return r;
}

static int add_anchor(struct lit_anchor_set *s, uint32_t *cap, uint32_t *pool_len, const char *bytes, uint32_t len)
{
    if (s->n_anchors == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 16;
        uint32_t *o = realloc(s->a_off, nc * sizeof *o);
        if (!o)
            return -1;
        s->a_off = o;
        uint32_t *l = realloc(s->a_len, nc * sizeof *l);
        if (!l)
            return -1;
        s->a_len = l;
        char *pl = realloc(s->pool, (size_t)nc * LIT_ANCHOR_SCAN);   /* an anchor is at most LIT_ANCHOR_SCAN bytes */
        if (!pl)
            return -1;
        s->pool = pl;
        *cap = nc;
    }
    memcpy(s->pool + *pool_len, bytes, len);
    s->a_off[s->n_anchors] = *pool_len;
    s->a_len[s->n_anchors++] = len;
    *pool_len += len;
    return 0;
}

static void pick_free(struct pick *k, unsigned n)
{
    if (k->low)
        for (unsigned i = 0; i < n; i++)
            free(k->low[i]);
    free(k->low);
    free(k->c);
    free(k->plit);
    free(k->paend);
    free(k->pnext);
    free(k->heap);
}

int lit_anchor_pick(const char *const *lits, const uint32_t *lens, unsigned n, const struct lit_anchor_params *p,
                    struct lit_anchor_set *out)
{
    memset(out, 0, sizeof *out);
    out->of_lit = malloc((n ? n : 1) * sizeof *out->of_lit);
    out->aend = calloc(n ? n : 1, sizeof *out->aend);
    if (!out->of_lit || !out->aend) {
        lit_anchor_free(out);
        return -1;
    }
    for (unsigned i = 0; i < n; i++)
        out->of_lit[i] = -1;
    unsigned minl = p->min_len ? p->min_len : 1, maxl = p->max_len > LIT_ANCHOR_SCAN ? LIT_ANCHOR_SCAN : p->max_len;
    unsigned min_deps = p->min_deps < 2 ? 2 : p->min_deps, max_deps = p->max_deps < min_deps ? min_deps : p->max_deps;
    if (n < min_deps || n > LIT_ANCHOR_MAX_LITS || maxl < minl)
        return 0;

    /* candidates: at most LIT_ANCHOR_SCAN starts per length per literal */
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned L = minl; L <= maxl && L <= lens[i]; L++)
            total += lens[i] - L + 1 < LIT_ANCHOR_SCAN ? lens[i] - L + 1 : LIT_ANCHOR_SCAN;
    if (total < min_deps)
        return 0;
    uint32_t cap = 1;
    while (cap < 2 * total)
        cap *= 2;
    struct pick k = {0};
    uint32_t *slot = calloc(cap, sizeof *slot);
    bool *covered = calloc(n, sizeof *covered);
    k.low = calloc(n, sizeof *k.low);
    k.c = malloc(total * sizeof *k.c);
    k.plit = malloc(total * sizeof *k.plit);
    k.paend = malloc(total * sizeof *k.paend);
    k.pnext = malloc(total * sizeof *k.pnext);
    if (!slot || !covered || !k.low || !k.c || !k.plit || !k.paend || !k.pnext)
        goto oom;
    for (unsigned i = 0; i < n; i++) {
        uint32_t m = lens[i] < LIT_ANCHOR_SCAN + maxl ? lens[i] : LIT_ANCHOR_SCAN + maxl;
        if (!(k.low[i] = malloc(m ? m : 1)))
            goto oom;
        for (uint32_t j = 0; j < m; j++)
            k.low[i][j] = lower(lits[i][j]);
        for (unsigned L = minl; L <= maxl && L <= lens[i]; L++)
            for (uint32_t s = 0; s + L <= lens[i] && s < LIT_ANCHOR_SCAN; s++) {
                const char *sub = k.low[i] + s;
                uint32_t at = fnv(sub, L) & (cap - 1), ci;
                for (;; at = (at + 1) & (cap - 1)) {
                    if (!slot[at]) {
                        ci = k.nc++;
                        k.c[ci] = (struct cand){.lit = i, .off = s, .len = L, .head = NONE};
                        slot[at] = ci + 1;
                        break;
                    }
                    ci = slot[at] - 1;
                    if (k.c[ci].len == L && !memcmp(k.low[k.c[ci].lit] + k.c[ci].off, sub, L))
                        break;
                }
                struct cand *c = &k.c[ci];
                if (c->head != NONE && k.plit[c->head] == i)
                    continue;   /* a second occurrence in the same literal */
                k.plit[k.np] = i;
                k.paend[k.np] = s + L;
                k.pnext[k.np] = c->head;
                c->head = k.np++;
                c->n++;
            }
    }
    free(slot);
    slot = NULL;

    if (!(k.heap = malloc((k.nc ? k.nc : 1) * sizeof *k.heap)))
        goto oom;
    for (uint32_t i = 0; i < k.nc; i++)
        if (k.c[i].n >= min_deps) {
            k.c[i].key = k.c[i].n;
            k.heap[k.nh++] = i;
        }
    for (uint32_t i = k.nh / 2; i-- > 0;)
        sift_down(&k, i);
    uint32_t acap = 0, pool_len = 0;
    while (k.nh) {
        struct cand *c = &k.c[k.heap[0]];
        uint32_t r = uncovered(&k, c, covered);
        if (r < min_deps) {
            k.heap[0] = k.heap[--k.nh];
            sift_down(&k, 0);
            continue;
        }
        if (r < c->key) {   /* stale: back down to where it now belongs */
            c->key = r;
            sift_down(&k, 0);
            continue;
        }
        if (add_anchor(out, &acap, &pool_len, k.low[c->lit] + c->off, c->len))
            goto oom;
        uint32_t a = out->n_anchors - 1, took = 0;
        for (uint32_t j = c->head; j != NONE && took < max_deps; j = k.pnext[j]) {
            uint32_t i = k.plit[j];
            if (covered[i])
                continue;
            covered[i] = true;
            out->of_lit[i] = (int32_t)a;
            out->aend[i] = k.paend[j];
            took++;
        }
        c->key = r - took;   /* more than max_deps: the same text again, for the rest */
        if (c->key < min_deps)
            k.heap[0] = k.heap[--k.nh];
        sift_down(&k, 0);
    }
    free(covered);
    pick_free(&k, n);
    return 0;
oom:
    free(slot);
    free(covered);
    pick_free(&k, n);
    lit_anchor_free(out);
    return -1;
}

void lit_anchor_free(struct lit_anchor_set *s)
{
    free(s->pool);
    free(s->a_off);
    free(s->a_len);
    free(s->of_lit);
    free(s->aend);
    memset(s, 0, sizeof *s);
}
