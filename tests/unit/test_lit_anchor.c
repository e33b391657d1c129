/* Literal anchors (engine/lit_anchor.h): every covered literal holds its
 * anchor (ignoring case) ending where the set says, each anchor stands for
 * min_deps..max_deps literals, short literals and small or huge sets are left
 * alone, the choice is deterministic, and the shipped sshd keywords shrink to
 * well under half as many patterns. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/lit_anchor.h"

static const struct lit_anchor_params P = {8, 16, 2, 8};

static void pick(const char *const *l, unsigned n, const struct lit_anchor_params *p, struct lit_anchor_set *s)
{
    uint32_t *lens = malloc((n ? n : 1) * sizeof *lens);
    for (unsigned i = 0; i < n; i++)
        lens[i] = (uint32_t)strlen(l[i]);
    cr_assert_eq(lit_anchor_pick(l, lens, n, p, s), 0);
    free(lens);
}

/* The invariants of any answer. */
static void check(const char *const *l, unsigned n, const struct lit_anchor_params *p, const struct lit_anchor_set *s)
{
    unsigned *deps = calloc(s->n_anchors + 1, sizeof *deps);
    for (unsigned i = 0; i < n; i++) {
        int a = s->of_lit[i];
        if (a < 0)
            continue;
        cr_assert_lt((unsigned)a, s->n_anchors);
        deps[a]++;
        uint32_t len = s->a_len[a], end = s->aend[i];
        cr_assert(len >= p->min_len && len <= p->max_len);
        cr_assert(end >= len && end <= strlen(l[i]), "%s", l[i]);
        cr_assert(!strncasecmp(l[i] + end - len, s->pool + s->a_off[a], len), "%s does not hold anchor %.*s at %u",
                  l[i], (int)len, s->pool + s->a_off[a], end - len);
        for (uint32_t k = 0; k < len; k++)
            cr_assert(!(s->pool[s->a_off[a] + k] >= 'A' && s->pool[s->a_off[a] + k] <= 'Z'), "anchors are lowercase");
    }
    for (unsigned a = 0; a < s->n_anchors; a++)
        cr_assert(deps[a] >= p->min_deps && deps[a] <= p->max_deps, "anchor %u stands for %u", a, deps[a]);
    free(deps);
}

static const char *const sshd[] = {
    "Failed password for ", "Failed keyboard-interactive", "pam_unix(sshd:auth): authentication failure",
    "error: PAM: Authentication failure for ", "error: PAM: authentication error for ",
    "authentication failure; logname=", "more authentication failures; logname=",
    "Disconnecting: Too many authentication failures", "maximum authentication attempts exceeded for ",
    ": Auth fail", "Failed password for root from ", "Failed publickey for root from ",
    "Failed keyboard-interactive/pam for root from ", "Accepted password for root from ",
    "Accepted publickey for root from ", "Accepted keyboard-interactive/pam for root from ", "ROOT LOGIN REFUSED",
    "authenticating user root ", "Invalid user ", "Illegal user ", "input_userauth_request: invalid user",
    "not allowed because not listed in AllowUsers", "not allowed because listed in DenyUsers",
    "not allowed because none of user's groups are listed in AllowGroups",
    "not allowed because a group is listed in DenyGroups", "Did not receive identification string from",
    "Bad protocol version identification", "Protocol major versions differ", "kex_exchange_identification: ",
    "banner exchange: Connection from ", "Unable to negotiate with ", "no matching key exchange method found",
    "Unable to negotiate a key exchange method", "no matching mac found", "no matching cipher found",
    "no matching host key type found", "Timeout before authentication", "ssh_dispatch_run_fatal: ",
    "No supported authentication methods available", "No authentication methods available",
};
enum { N_SSHD = sizeof sshd / sizeof sshd[0] };

Test(lit_anchor, sshd_keywords_share_few_anchors)
{
    struct lit_anchor_set s;
    pick(sshd, N_SSHD, &P, &s);
    check(sshd, N_SSHD, &P, &s);
    unsigned alone = 0;
    for (unsigned i = 0; i < N_SSHD; i++)
        alone += s.of_lit[i] < 0;
    cr_expect_lt((s.n_anchors + alone) * 2, N_SSHD, "%u anchors + %u alone for %u literals", s.n_anchors, alone,
                 N_SSHD);
    /* ": Auth fail" is shorter than an anchor: alone */
    cr_expect_lt(s.of_lit[9], 0);
    /* the same input, the same answer */
    struct lit_anchor_set t;
    pick(sshd, N_SSHD, &P, &t);
    cr_assert_eq(s.n_anchors, t.n_anchors);
    for (unsigned i = 0; i < N_SSHD; i++) {
        cr_expect_eq(s.of_lit[i], t.of_lit[i]);
        cr_expect_eq(s.aend[i], t.aend[i]);
    }
    lit_anchor_free(&s);
    lit_anchor_free(&t);
}

Test(lit_anchor, max_deps_splits_a_crowd)
{
    /* 20 literals around one substring: no anchor stands for more than 3 */
    char buf[20][40];
    const char *l[20];
    for (int i = 0; i < 20; i++) {
        snprintf(buf[i], sizeof buf[i], "%c%c shared-anchor-text %02d", 'a' + i, 'A' + i, i);
        l[i] = buf[i];
    }
    struct lit_anchor_params p = {8, 16, 2, 3};
    struct lit_anchor_set s;
    pick(l, 20, &p, &s);
    check(l, 20, &p, &s);
    cr_expect_geq(s.n_anchors, 7);
    lit_anchor_free(&s);
}

Test(lit_anchor, nothing_to_share)
{
    static const char *const l[] = {"alpha-one-two", "bravo-three-four", "charlie-five-six", "short"};
    struct lit_anchor_set s;
    pick(l, 4, &P, &s);
    cr_expect_eq(s.n_anchors, 0);
    for (unsigned i = 0; i < 4; i++)
        cr_expect_lt(s.of_lit[i], 0);
    lit_anchor_free(&s);
    /* one literal, and none */
    pick(l, 1, &P, &s);
    cr_expect_eq(s.n_anchors, 0);
    cr_expect_lt(s.of_lit[0], 0);
    lit_anchor_free(&s);
    pick(l, 0, &P, &s);
    cr_expect_eq(s.n_anchors, 0);
    lit_anchor_free(&s);
}

Test(lit_anchor, case_does_not_separate_and_long_literals_are_searched_near_their_start)
{
    static const char *const l[] = {"prefix AUTHENTICATION FAILURE", "authentication failure suffix",
                                    "0123456789012345678901234567890123456789 late-shared-part",
                                    "abcdefghijabcdefghijabcdefghijabcdefghij late-shared-part"};
    struct lit_anchor_set s;
    pick(l, 4, &P, &s);
    check(l, 4, &P, &s);
    cr_expect_geq(s.of_lit[0], 0);
    cr_expect_eq(s.of_lit[0], s.of_lit[1], "one anchor, whatever the case");
    cr_expect_lt(s.of_lit[2], 0, "what they share starts past the first LIT_ANCHOR_SCAN bytes");
    cr_expect_lt(s.of_lit[3], 0);
    lit_anchor_free(&s);
}

Test(lit_anchor, too_many_literals_are_left_alone)
{
    unsigned n = LIT_ANCHOR_MAX_LITS + 1;
    char **buf = malloc(n * sizeof *buf);
    for (unsigned i = 0; i < n; i++) {
        buf[i] = malloc(32);
        snprintf(buf[i], 32, "common-part-%05u", i);
    }
    struct lit_anchor_set s;
    pick((const char *const *)buf, n, &P, &s);
    cr_expect_eq(s.n_anchors, 0);
    cr_expect_lt(s.of_lit[n - 1], 0);
    lit_anchor_free(&s);
    for (unsigned i = 0; i < n; i++)
        free(buf[i]);
    free(buf);
}
