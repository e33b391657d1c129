/* Where rule text comes from: finding rule files under the configured
 * paths, and reading a source (parser pack, Sigma file, field map) whole.
 *
 * A source is read into one malloc'd buffer so the YAML loaders can keep
 * line numbers.  Bounded: a file past SOURCE_MAX_BYTES is refused rather
 * than read, so a wrong path (a disk image, /dev/zero) cannot eat memory.
 */
#ifndef VIGIL_ENGINE_SOURCE_H
#define VIGIL_ENGINE_SOURCE_H

#include <stddef.h>

struct diag;
struct stat;

#define SOURCE_MAX_BYTES (64u << 20)
#define SOURCE_MAX_DEPTH 32   /* directory levels below a configured path: stops symlink loops */

/* Paths of rule files, in the order they are to be loaded. */
struct source_list {
    char **path;   /* malloc'd */
    unsigned n, cap;
};

/* Appends the rule files of path to out: path itself when it is not a
 * directory (the operator named it, so its name does not matter), else the
 * regular *.yml and *.yaml files below it, subdirectories included, in name
 * order (byte order of the names, directory by directory; dot entries
 * skipped).  The same order on every load keeps rule order, and with it
 * ids and hashes, stable.  A file that is skip (same device and inode; skip
 * may be NULL) is left out: the field map may live among the rules.
 *
 * A path that cannot be listed is one DIAG_ERROR in d ("cannot open: ...",
 * "cannot read directory: ...", "directories nested too deeply") and the
 * rest is still listed.  Returns 0, or -1 when memory ran out (also an
 * "out of memory" error; out holds what was listed). */
int source_list_yaml(const char *path, struct source_list *out, const struct stat *skip, struct diag *d);
void source_list_free(struct source_list *l);

/* Returns the contents (NUL-terminated, *len bytes before the NUL), or NULL
 * with the reason in why ("cannot open: No such file or directory", "larger
 * than 64 MiB", ...). */
char *source_read(const char *path, size_t *len, char *why, size_t whylen);

#endif
