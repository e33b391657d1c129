/* Literal anchors: fewer literals for Hyperscan to look for.
 *
 * A Hyperscan literal database costs, per scanned byte, about in proportion
 * to how many literals it holds, and more so when its tables are not in the
 * cache (measured on sshd lines: 8 literals 57 ns a line, 16 67 ns, 41 86 ns;
 * with 64 KB of other data touched between scans, as on a worker core: 75,
 * 89 and 120 ns).  Keyword lists repeat themselves ("Failed password for
 * root from ", "Failed publickey for root from ", ...; "authentication
 * failure", "Too many authentication failures"), so one shared substring, an
 * anchor, can stand for several literals: the database looks for the anchor,
 * and each match of the anchor is confirmed against the literals it stands
 * for, at the place where each would hold it.
 *
 * lit_anchor_pick chooses the anchors (greedy set cover: the substring that
 * the most literals not yet covered contain, longer first on a tie).  Anchors
 * are compared ignoring ASCII case (the caller compiles them caseless and
 * confirms cased literals exactly).  Every literal is either covered by one
 * anchor together with at least min_deps - 1 others, or left alone (the
 * caller keeps it as its own pattern).  An anchor stands for at most max_deps
 * literals, so confirming one match costs at most max_deps comparisons.
 *
 * Off the packet path (rule load); memory bounded by the input: only the
 * first LIT_ANCHOR_SCAN bytes of each literal are searched for anchors, and a
 * set of more than LIT_ANCHOR_MAX_LITS literals is left alone.
 */
#ifndef VIGIL_ENGINE_LIT_ANCHOR_H
#define VIGIL_ENGINE_LIT_ANCHOR_H

#include <stdint.h>

#define LIT_ANCHOR_SCAN     32      /* anchors start in the first 32 bytes of a literal */
#define LIT_ANCHOR_MAX_LITS 4096

struct lit_anchor_params {
    unsigned min_len, max_len;  /* anchor length in bytes */
    unsigned min_deps;          /* literals an anchor must stand for (>= 2) */
    unsigned max_deps;          /* and may stand for */
};

struct lit_anchor_set {
    unsigned n_anchors;
    char *pool;                 /* the anchors' bytes, ASCII-lowercased */
    uint32_t *a_off, *a_len;    /* anchor k: pool[a_off[k] .. a_off[k] + a_len[k]) */
    int32_t *of_lit;            /* per literal: its anchor, or -1 (left alone) */
    uint32_t *aend;             /* per covered literal: offset just past its anchor in it */
};

/* Chooses anchors for the literals lits[i][0 .. lens[i]).  Returns 0, or -1
 * when out of memory (out is then empty). */
int lit_anchor_pick(const char *const *lits, const uint32_t *lens, unsigned n, const struct lit_anchor_params *p,
                    struct lit_anchor_set *out);
void lit_anchor_free(struct lit_anchor_set *s);

#endif
