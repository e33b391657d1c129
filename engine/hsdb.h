/* Compiling Hyperscan databases, with a cache of serialized ones.
 *
 * Every database Vigil builds (parser templates, detection tests) goes
 * through hsdb_build().  A database is named by a key ("parser/sshd",
 * "detect/linux-sshd/message") and fingerprinted by its exact patterns, flags,
 * ids and the Hyperscan platform; when the cache holds a serialized database
 * with the same key and fingerprint it is deserialized (sub-millisecond)
 * instead of compiled.  A ruleset file is such a cache plus the rule sources
 * (see ruleset.h), which is how rulesets compile off the packet path and load
 * fast.
 */
#ifndef VIGIL_ENGINE_HSDB_H
#define VIGIL_ENGINE_HSDB_H

#include <stddef.h>
#include <stdint.h>

#include <hs/hs.h>

struct hsdb_cache;

struct hsdb_cache *hsdb_cache_new(void);
void hsdb_cache_free(struct hsdb_cache *c);

/* One pattern set to compile. */
struct hsdb_patterns {
    const char *const *exprs;
    const unsigned *flags;
    const unsigned *ids;
    const hs_expr_ext_t *const *ext;   /* NULL or one per pattern (may hold NULLs) */
    unsigned n;
};

/* Builds (or takes from the cache) a block-mode database.  On success *db is
 * owned by the caller (hs_free_database) and the cache keeps a serialized
 * copy.  On failure returns -1, *failed is the index of the pattern Hyperscan
 * rejected (or -1 when the whole set failed, e.g. too large) and err holds its
 * message. */
int hsdb_build(struct hsdb_cache *c, const char *key, const struct hsdb_patterns *p, hs_database_t **db,
               int *failed, char *err, size_t errlen);

/* Serializes every database built through the cache into one buffer
 * (malloc'd) and loads such a buffer back.  Entries whose fingerprint no
 * longer matches are simply recompiled by hsdb_build. */
int hsdb_cache_save(const struct hsdb_cache *c, char **buf, size_t *len);
int hsdb_cache_load(struct hsdb_cache *c, const char *buf, size_t len);

/* Statistics: how many builds compiled vs came from the cache. */
void hsdb_cache_stats(const struct hsdb_cache *c, unsigned *compiled, unsigned *reused);

#endif
