/* Folding: a FIFO of waiting alerts plus a chained hash index on the fold
 * key, both in arrays sized at creation. */
#include "mgmt/alert_fold.h"

#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

struct pending {
    struct vigil_alert a;
    int64_t due_ns;
    uint64_t key;
    uint32_t next;         /* hash chain */
};

struct alert_fold {
    struct pending *q;     /* ring of cap entries */
    uint32_t *bucket;
    uint32_t mask, cap, head, n;
    int64_t window_ns;
    struct alert_fold_stats st;
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fold_key(const struct vigil_alert *a)
{
    uint64_t h = 0xcbf29ce484222325ull;
    h = mix(h, a->rule_uuid, 16);
    h = mix(h, &a->entity.family, 1);
    h = mix(h, a->entity.addr, 16);
    h = mix(h, a->user, a->user_len);
    h = mix(h, "\0", 1);
    return mix(h, a->group_key, a->group_key_len);
}

static bool same_fold(const struct vigil_alert *x, const struct vigil_alert *y)
{
    return !memcmp(x->rule_uuid, y->rule_uuid, 16) && x->entity.family == y->entity.family &&
           !memcmp(x->entity.addr, y->entity.addr, 16) && x->user_len == y->user_len &&
           !memcmp(x->user, y->user, x->user_len) && x->group_key_len == y->group_key_len &&
           !memcmp(x->group_key, y->group_key, x->group_key_len);
}

struct alert_fold *alert_fold_new(unsigned max_pending, int64_t window_ns)
{
    if (!max_pending || window_ns < 0)
        return NULL;
    struct alert_fold *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    uint32_t b = 16;
    while (b < 2u * max_pending)
        b <<= 1;
    f->q = calloc(max_pending, sizeof *f->q);
    f->bucket = malloc(b * sizeof *f->bucket);
    if (!f->q || !f->bucket) {
        alert_fold_free(f);
        return NULL;
    }
    memset(f->bucket, 0xff, b * sizeof *f->bucket);
    f->mask = b - 1;
    f->cap = max_pending;
    f->window_ns = window_ns;
    return f;
}

void alert_fold_free(struct alert_fold *f)
{
    if (!f)
        return;
    free(f->q);
    free(f->bucket);
    free(f);
}

bool alert_fold_full(const struct alert_fold *f) { return f->n == f->cap; }

uint64_t alert_fold_add(struct alert_fold *f, const struct vigil_alert *a, int64_t now_ns, alert_id_fn alloc,
                        void *ctx)
{
    uint64_t key = fold_key(a);
    uint32_t *head = &f->bucket[key & f->mask];
    for (uint32_t i = *head; i != NIL; i = f->q[i].next) {
        struct pending *p = &f->q[i];
        if (p->key == key && same_fold(&p->a, a)) {
            if (p->a.count < UINT32_MAX)
                p->a.count++;
            if (a->last_seen_ns > p->a.last_seen_ns)
                p->a.last_seen_ns = a->last_seen_ns;
            if (a->first_seen_ns < p->a.first_seen_ns)
                p->a.first_seen_ns = a->first_seen_ns;
            f->st.folded++;
            return p->a.id;
        }
    }
    if (f->n == f->cap)
        return 0;
    uint32_t i = (f->head + f->n) % f->cap;
    struct pending *p = &f->q[i];
    p->a = *a;
    p->a.id = alloc(ctx);
    if (!p->a.count)
        p->a.count = 1;
    p->due_ns = now_ns + f->window_ns;
    p->key = key;
    p->next = *head;
    *head = i;
    f->n++;
    f->st.created++;
    return p->a.id;
}

unsigned alert_fold_pop(struct alert_fold *f, int64_t now_ns, bool force, struct vigil_alert *out, unsigned max)
{
    unsigned k = 0;
    while (k < max && f->n && (force || f->q[f->head].due_ns <= now_ns)) {
        struct pending *p = &f->q[f->head];
        uint32_t *link = &f->bucket[p->key & f->mask];
        while (*link != f->head)
            link = &f->q[*link].next;
        *link = p->next;
        if (p->due_ns > now_ns)
            f->st.emitted_early++;
        out[k++] = p->a;
        f->head = (f->head + 1) % f->cap;
        f->n--;
        f->st.emitted++;
    }
    return k;
}

void alert_fold_stats(const struct alert_fold *f, struct alert_fold_stats *st)
{
    *st = f->st;
    st->pending = f->n;
}
