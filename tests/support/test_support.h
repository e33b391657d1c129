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

/* A fresh directory /tmp/vigil-TAG-XXXXXX for this test (each Criterion test
 * is its own process); tmp_path(name) is name inside it (rotating buffers). */
const char *test_tmpdir(const char *tag);
const char *tmp_path(const char *name);

/* Writes text to path; fails the test when it cannot. */
void write_text(const char *path, const char *text);

/* Starts argv (argv[0] is a path) with stdout and stderr sent to files. */
int spawn_cmd(char *const argv[], const char *out, const char *err);
/* Waits for pid: its exit status, or -signal when it was killed. */
int wait_cmd(int pid);
/* spawn_cmd + wait_cmd; with kill_after_ms > 0, SIGTERM is sent after that long. */
int run_cmd(char *const argv[], const char *out, const char *err, int kill_after_ms);
void sleep_ms(long ms);

/* rte_eal_init with the no-hugepage, no-PCI flags of PLATFORM.md and any extra
 * vdev args; aborts the test on failure.  Call once per test process. */
void test_eal_init(const char *const *extra_args, int n_extra);

#endif
