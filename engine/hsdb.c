#include "engine/hsdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HSDB_MAGIC   "VIGLHSDB"
#define HSDB_VERSION 1u

struct hsdb_entry {
    char *key;
    uint64_t fp;
    char *blob;          /* hs_serialize_database output (malloc'd) */
    size_t len;
};

struct hsdb_cache {
    struct hsdb_entry *e;
    unsigned n, cap;
    unsigned compiled, reused;
};

struct hsdb_cache *hsdb_cache_new(void) { return calloc(1, sizeof(struct hsdb_cache)); }

void hsdb_cache_free(struct hsdb_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->n; i++) {
        free(c->e[i].key);
        free(c->e[i].blob);
    }
    free(c->e);
    free(c);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Everything that changes the compiled database changes the fingerprint:
 * patterns, flags, ids, extended parameters, the library and the CPU. */
static uint64_t fingerprint(const struct hsdb_patterns *p)
{
    uint64_t h = 14695981039346656037ull;
    const char *ver = hs_version();
    h = fnv(h, ver, strlen(ver));
    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) == HS_SUCCESS)
        h = fnv(h, &plat, sizeof plat);
    for (unsigned i = 0; i < p->n; i++) {
        h = fnv(h, p->exprs[i], strlen(p->exprs[i]) + 1);
        h = fnv(h, &p->flags[i], sizeof p->flags[i]);
        h = fnv(h, &p->ids[i], sizeof p->ids[i]);
        if (p->ext && p->ext[i])
            h = fnv(h, p->ext[i], sizeof *p->ext[i]);
        else
            h = fnv(h, "-", 1);
    }
    return h;
}

static struct hsdb_entry *find(struct hsdb_cache *c, const char *key)
{
    for (unsigned i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].key, key))
            return &c->e[i];
    return NULL;
}

static struct hsdb_entry *slot_for(struct hsdb_cache *c, const char *key)
{
    struct hsdb_entry *e = find(c, key);
    if (e) {
        free(e->blob);
        e->blob = NULL;
        return e;
    }
    if (c->n == c->cap) {
        unsigned cap = c->cap ? c->cap * 2 : 32;
        struct hsdb_entry *ne = realloc(c->e, cap * sizeof *ne);
        if (!ne)
            return NULL;
        c->e = ne;
        c->cap = cap;
    }
    e = &c->e[c->n];
    if (!(e->key = strdup(key)))
        return NULL;
    e->blob = NULL;
    c->n++;
    return e;
}

int hsdb_build(struct hsdb_cache *c, const char *key, const struct hsdb_patterns *p, hs_database_t **db,
               int *failed, char *err, size_t errlen)
{
    *db = NULL;
    *failed = -1;
    uint64_t fp = fingerprint(p);
    struct hsdb_entry *e = c ? find(c, key) : NULL;
    if (e && e->fp == fp && e->blob && hs_deserialize_database(e->blob, e->len, db) == HS_SUCCESS) {
        c->reused++;
        return 0;
    }
    hs_compile_error_t *ce = NULL;
    hs_error_t rc = hs_compile_ext_multi(p->exprs, p->flags, p->ids, p->ext, p->n, HS_MODE_BLOCK, NULL, db, &ce);
    if (rc != HS_SUCCESS) {
        snprintf(err, errlen, "%s", ce && ce->message ? ce->message : "Hyperscan compile failed");
        *failed = ce ? ce->expression : -1;
        hs_free_compile_error(ce);
        *db = NULL;
        return -1;
    }
    if (!c)
        return 0;
    c->compiled++;
    char *blob;
    size_t len;
    if (hs_serialize_database(*db, &blob, &len) != HS_SUCCESS)
        return 0; /* the database is fine; it just will not be cached */
    e = slot_for(c, key);
    if (!e) {
        free(blob);
        return 0;
    }
    e->fp = fp;
    e->blob = blob;
    e->len = len;
    return 0;
}

/* File layout: magic[8] u32 version u32 count, then per entry:
 * u32 keylen, key bytes, u64 fingerprint, u64 bloblen, blob bytes. */
int hsdb_cache_save(const struct hsdb_cache *c, char **buf, size_t *len)
{
    size_t total = 16;
    for (unsigned i = 0; i < c->n; i++)
        if (c->e[i].blob)
            total += 4 + strlen(c->e[i].key) + 16 + c->e[i].len;
    char *b = malloc(total), *p = b;
    if (!b)
        return -1;
    uint32_t ver = HSDB_VERSION, count = 0;
    for (unsigned i = 0; i < c->n; i++)
        count += c->e[i].blob != NULL;
    memcpy(p, HSDB_MAGIC, 8);
    memcpy(p + 8, &ver, 4);
    memcpy(p + 12, &count, 4);
    p += 16;
    for (unsigned i = 0; i < c->n; i++) {
        const struct hsdb_entry *e = &c->e[i];
        if (!e->blob)
            continue;
        uint32_t kl = (uint32_t)strlen(e->key);
        uint64_t bl = e->len;
        memcpy(p, &kl, 4);
        memcpy(p + 4, e->key, kl);
        p += 4 + kl;
        memcpy(p, &e->fp, 8);
        memcpy(p + 8, &bl, 8);
        memcpy(p + 16, e->blob, e->len);
        p += 16 + e->len;
    }
    *buf = b;
    *len = total;
    return 0;
}

int hsdb_cache_load(struct hsdb_cache *c, const char *buf, size_t len)
{
    if (len < 16 || memcmp(buf, HSDB_MAGIC, 8))
        return -1;
    uint32_t ver, count;
    memcpy(&ver, buf + 8, 4);
    memcpy(&count, buf + 12, 4);
    if (ver != HSDB_VERSION)
        return -1;
    size_t off = 16;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t kl;
        uint64_t fp, bl;
        if (len - off < 4)
            return -1;
        memcpy(&kl, buf + off, 4);
        off += 4;
        if (kl == 0 || kl > 4096 || len - off < (size_t)kl + 16)
            return -1;
        char key[4097];
        memcpy(key, buf + off, kl);
        key[kl] = '\0';
        off += kl;
        memcpy(&fp, buf + off, 8);
        memcpy(&bl, buf + off + 8, 8);
        off += 16;
        if (bl > len - off)
            return -1;
        struct hsdb_entry *e = slot_for(c, key);
        if (!e || !(e->blob = malloc(bl ? bl : 1)))
            return -1;
        memcpy(e->blob, buf + off, bl);
        e->len = bl;
        e->fp = fp;
        off += bl;
    }
    return off == len ? 0 : -1;
}

void hsdb_cache_stats(const struct hsdb_cache *c, unsigned *compiled, unsigned *reused)
{
    *compiled = c->compiled;
    *reused = c->reused;
}
