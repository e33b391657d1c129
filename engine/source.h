/* Reading rule sources (parser packs, Sigma files, the field map) whole.
 *
 * A source is read into one malloc'd buffer so the YAML loaders can keep
 * line numbers.  Bounded: a file past SOURCE_MAX_BYTES is refused rather
 * than read, so a wrong path (a disk image, /dev/zero) cannot eat memory.
 */
#ifndef VIGIL_ENGINE_SOURCE_H
#define VIGIL_ENGINE_SOURCE_H

#include <stddef.h>

#define SOURCE_MAX_BYTES (64u << 20)

/* Returns the contents (NUL-terminated, *len bytes before the NUL), or NULL
 * with the reason in why ("cannot open: No such file or directory", "larger
 * than 64 MiB", ...). */
char *source_read(const char *path, size_t *len, char *why, size_t whylen);

#endif
