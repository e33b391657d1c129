/* NetFlow/IPFIX template persistence in an LMDB file.
 *
 * Exporters re-announce templates only every few minutes (or every N
 * packets); a collector that restarts without them drops data until then.
 * This module keeps each worker's templates (the blob nf_cache_export makes)
 * in one LMDB file, under a name per cache (e.g. "worker-2"), so a restarted
 * collector imports them and decodes data at once.
 *
 * It is used off the packet path.  The intended flow: the worker compares
 * nf_cache_generation() with the generation it last exported (cheap, every
 * tick); when it changed, and no more often than the operator's save
 * interval, it exports into a buffer it owns and passes the buffer to a
 * helper thread, which calls nf_store_save().  The cache itself is never
 * touched by the helper.  On start, each worker loads its own name (or every
 * name, with an import filter, when the exporter-to-worker mapping changed).
 *
 * The file holds one named database "nf_templates": key = name, value = blob.
 * Blobs are validated by nf_cache_import, so a damaged or foreign file costs
 * the saved templates, never a crash.  Functions return 0 on success and -1
 * with a message in err (when err is not NULL) on failure; nothing is
 * printed.
 */
#ifndef VIGIL_ENGINE_NF_TEMPLATE_STORE_H
#define VIGIL_ENGINE_NF_TEMPLATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/nf_template_cache.h"

struct nf_template_store;

#define NF_STORE_NAME_MAX 255

/* Opens (creating if needed) the LMDB file at path; map_size 0 = 64 MiB. */
int nf_store_open(const char *path, size_t map_size, struct nf_template_store **out, char *err,
                  size_t errlen);
void nf_store_close(struct nf_template_store *s);

/* Replaces the blob saved under name, durably (one committed transaction). */
int nf_store_save(struct nf_template_store *s, const char *name, const uint8_t *blob, size_t len,
                  char *err, size_t errlen);

/* Copies the blob saved under name into a malloc'd buffer (*blob, *len; the
 * caller frees it).  Returns 0, 1 when nothing is saved under name, -1. */
int nf_store_load(struct nf_template_store *s, const char *name, uint8_t **blob, size_t *len,
                  char *err, size_t errlen);

/* Calls fn for every saved blob (name is not NUL-terminated) inside one read
 * transaction; fn returning non-zero stops the walk. */
typedef int (*nf_store_fn)(void *arg, const char *name, size_t name_len, const uint8_t *blob,
                           size_t len);
int nf_store_foreach(struct nf_template_store *s, nf_store_fn fn, void *arg, char *err,
                     size_t errlen);

/* Convenience for the thread that owns the cache (tools, tests, shutdown):
 * export and save in one call.  *gen (may be NULL) gets the saved generation. */
int nf_store_save_cache(struct nf_template_store *s, const char *name,
                        const struct nf_template_cache *c, uint64_t *gen, char *err,
                        size_t errlen);
/* Loads name into the cache; returns templates imported, 0 when nothing is
 * saved, -1 on a store error or a malformed blob. */
int nf_store_load_cache(struct nf_template_store *s, const char *name, struct nf_template_cache *c,
                        int64_t now_ns, nf_import_filter filter, void *arg, char *err,
                        size_t errlen);

#endif
