/* Helpers shared by the Criterion tests. */
#ifndef VIGIL_TEST_SUPPORT_H
#define VIGIL_TEST_SUPPORT_H

#include <stddef.h>

/* Path of a file in ../shared/corpus, the build tree or the source tree.  The
 * result lives in one of 16 rotating static buffers: valid for the next 15 calls. */
const char *corpus_path(const char *rel);
const char *build_path(const char *rel);
const char *source_path(const char *rel);

/* Reads a whole file into a malloc'd NUL-terminated buffer; NULL on error. */
char *read_whole_file(const char *path, size_t *len);

/* rte_eal_init with the no-hugepage, no-PCI flags of PLATFORM.md and any extra
 * vdev args; aborts the test on failure.  Call once per test process. */
void test_eal_init(const char *const *extra_args, int n_extra);

#endif
