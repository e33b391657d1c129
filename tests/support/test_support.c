#include "test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <rte_eal.h>
#include <rte_errno.h>

/* Rotating buffers, so a few paths can be alive at once (e.g. as arguments). */
static const char *join(const char *dir, const char *rel)
{
    static char bufs[16][4096];
    static unsigned next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, rel);
    return b;
}

const char *corpus_path(const char *rel) { return join(VIGIL_CORPUS_DIR, rel); }
const char *build_path(const char *rel) { return join(VIGIL_BINARY_DIR, rel); }
const char *source_path(const char *rel) { return join(VIGIL_SOURCE_DIR, rel); }

char *read_whole_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void test_eal_init(const char *const *extra_args, int n_extra)
{
    const char *base[] = {"vigil-test", "-l", "0", "--no-huge", "--no-pci", "-m", "256",
                          "--no-shconf", "--no-telemetry", "--log-level=lib.eal:error",
                          "--log-level=user1:warning"};
    int nb = (int)(sizeof base / sizeof base[0]);
    char *argv[64];
    int argc = 0;
    for (int i = 0; i < nb; i++)
        argv[argc++] = (char *)base[i];
    for (int i = 0; i < n_extra && argc < 63; i++)
        argv[argc++] = (char *)extra_args[i];
    argv[argc] = NULL;
    int rc = rte_eal_init(argc, argv);
    cr_assert(rc >= 0, "rte_eal_init failed: %s", rte_strerror(rte_errno));
}

static char tmpdir[128];

const char *test_tmpdir(const char *tag)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vigil-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp");
    return tmpdir;
}

const char *tmp_path(const char *name) { return join(tmpdir, name); }

void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    cr_assert_eq(fclose(f), 0, "cannot write %s", path);
}

int spawn_cmd(char *const argv[], const char *out, const char *err)
{
    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork");
    if (pid == 0) {
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int wait_cmd(int pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid, "waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int run_cmd(char *const argv[], const char *out, const char *err, int kill_after_ms)
{
    int pid = spawn_cmd(argv, out, err);
    if (kill_after_ms > 0) {
        sleep_ms(kill_after_ms);
        kill(pid, SIGTERM);
    }
    return wait_cmd(pid);
}
