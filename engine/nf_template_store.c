/* NetFlow/IPFIX template persistence in an LMDB file (see the header). */
#include "engine/nf_template_store.h"

#include <lmdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_NAME "nf_templates"
#define DEFAULT_MAP_SIZE ((size_t)64 << 20)

struct nf_template_store {
    MDB_env *env;
    MDB_dbi dbi;
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    return n > 0 && n <= NF_STORE_NAME_MAX;
}

int nf_store_open(const char *path, size_t map_size, struct nf_template_store **out, char *err,
                  size_t errlen)
{
    *out = NULL;
    struct nf_template_store *s = calloc(1, sizeof *s);
    if (!s)
        return fail(err, errlen, "nf_store_open: out of memory");
    int rc = mdb_env_create(&s->env);
    if (rc) {
        free(s);
        return fail(err, errlen, "mdb_env_create: %s", mdb_strerror(rc));
    }
    MDB_txn *txn = NULL;
    if ((rc = mdb_env_set_maxdbs(s->env, 1)) ||
        (rc = mdb_env_set_mapsize(s->env, map_size ? map_size : DEFAULT_MAP_SIZE)) ||
        /* a file, not a directory; NOTLS: the saver may be any thread */
        (rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0640)) ||
        (rc = mdb_txn_begin(s->env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, DB_NAME, MDB_CREATE, &s->dbi)) || (rc = mdb_txn_commit(txn))) {
        if (txn && rc)
            mdb_txn_abort(txn);
        mdb_env_close(s->env);
        free(s);
        return fail(err, errlen, "nf_store_open %s: %s", path, mdb_strerror(rc));
    }
    *out = s;
    return 0;
}

void nf_store_close(struct nf_template_store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    free(s);
}

int nf_store_save(struct nf_template_store *s, const char *name, const uint8_t *blob, size_t len,
                  char *err, size_t errlen)
{
    if (!name_ok(name) || !blob)
        return fail(err, errlen, "nf_store_save: bad name or blob");
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return fail(err, errlen, "nf_store_save: %s", mdb_strerror(rc));
    MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)blob};
    if ((rc = mdb_put(txn, s->dbi, &k, &v, 0)) != 0) {
        mdb_txn_abort(txn);
        return fail(err, errlen, "nf_store_save %s: %s", name, mdb_strerror(rc));
    }
    if ((rc = mdb_txn_commit(txn)) != 0)
        return fail(err, errlen, "nf_store_save %s: %s", name, mdb_strerror(rc));
    return 0;
}

int nf_store_load(struct nf_template_store *s, const char *name, uint8_t **blob, size_t *len,
                  char *err, size_t errlen)
{
    *blob = NULL;
    *len = 0;
    if (!name_ok(name))
        return fail(err, errlen, "nf_store_load: bad name");
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fail(err, errlen, "nf_store_load: %s", mdb_strerror(rc));
    MDB_val k = {strlen(name), (void *)name}, v;
    rc = mdb_get(txn, s->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return 1;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return fail(err, errlen, "nf_store_load %s: %s", name, mdb_strerror(rc));
    }
    uint8_t *copy = malloc(v.mv_size ? v.mv_size : 1);
    if (!copy) {
        mdb_txn_abort(txn);
        return fail(err, errlen, "nf_store_load: out of memory");
    }
    memcpy(copy, v.mv_data, v.mv_size);
    mdb_txn_abort(txn);
    *blob = copy;
    *len = v.mv_size;
    return 0;
}

int nf_store_foreach(struct nf_template_store *s, nf_store_fn fn, void *arg, char *err,
                     size_t errlen)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return fail(err, errlen, "nf_store_foreach: %s", mdb_strerror(rc));
    if ((rc = mdb_cursor_open(txn, s->dbi, &cur)) != 0) {
        mdb_txn_abort(txn);
        return fail(err, errlen, "nf_store_foreach: %s", mdb_strerror(rc));
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (fn(arg, k.mv_data, k.mv_size, v.mv_data, v.mv_size))
            break;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (rc && rc != MDB_NOTFOUND)
        return fail(err, errlen, "nf_store_foreach: %s", mdb_strerror(rc));
    return 0;
}

int nf_store_save_cache(struct nf_template_store *s, const char *name,
                        const struct nf_template_cache *c, uint64_t *gen, char *err,
                        size_t errlen)
{
    size_t need = nf_cache_export(c, NULL, 0, NULL);
    uint8_t *buf = malloc(need);
    if (!buf)
        return fail(err, errlen, "nf_store_save_cache: out of memory");
    size_t n = nf_cache_export(c, buf, need, gen);
    int rc = n == need ? nf_store_save(s, name, buf, n, err, errlen)
                       : fail(err, errlen, "nf_store_save_cache: cache changed during export");
    free(buf);
    return rc;
}

int nf_store_load_cache(struct nf_template_store *s, const char *name, struct nf_template_cache *c,
                        int64_t now_ns, nf_import_filter filter, void *arg, char *err,
                        size_t errlen)
{
    uint8_t *blob;
    size_t len;
    int rc = nf_store_load(s, name, &blob, &len, err, errlen);
    if (rc)
        return rc > 0 ? 0 : -1;
    int n = nf_cache_import(c, blob, len, now_ns, filter, arg);
    free(blob);
    if (n < 0)
        return fail(err, errlen, "nf_store_load_cache %s: malformed template blob", name);
    return n;
}
