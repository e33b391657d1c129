/* JSON lines file output: exact appends, logrotate (rename + reopen,
 * copytruncate), write errors (a symlink to /dev/full plays the full disk)
 * and the fsync policies. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "mgmt/output.h"
#include "test_support.h"

static struct output_config jsonl_config(const char *path)
{
    struct output_config c;
    output_config_defaults(&c);
    c.jsonl.enabled = true;
    snprintf(c.jsonl.path, sizeof c.jsonl.path, "%s", path);
    return c;
}

static struct output_set *open_set(const struct output_config *c)
{
    struct output_set *s = NULL;
    char err[512];
    cr_assert_eq(output_set_open(c, &s, err, sizeof err), 0, "%s", err);
    return s;
}

/* 0 when queued, 1 when the (only) output refused it. */
static int submit(struct output_set *s, int i)
{
    char json[128];
    int n = snprintf(json, sizeof json, "{\"event\":{\"kind\":\"alert\"},\"n\":%d,\"t\":\"caf\xc3\xa9\"}", i);
    struct output_alert_meta m = {.ts_ns = 1, .level = 3, .rule_title = "r"};
    int rc = output_submit(s, json, (size_t)n, &m);
    cr_assert(rc == 0 || rc == 1, "output_submit: %d", rc);
    return rc;
}

static char *expected_lines(int from, int to)
{
    char *buf = calloc(1, 128 * (size_t)(to - from + 1));
    size_t o = 0;
    for (int i = from; i < to; i++)
        o += (size_t)sprintf(buf + o, "{\"event\":{\"kind\":\"alert\"},\"n\":%d,\"t\":\"caf\xc3\xa9\"}\n", i);
    return buf;
}

/* Polls the JSONL counters until field >= want (5 s at most). */
static struct output_stats wait_for(struct output_set *s, size_t field_offset, uint64_t want)
{
    struct output_set_stats st;
    for (int i = 0; i < 1000; i++) {
        output_set_stats(s, &st);
        if (*(const uint64_t *)((const char *)&st.out[OUTPUT_JSONL] + field_offset) >= want)
            break;
        sleep_ms(5);
    }
    return st.out[OUTPUT_JSONL];
}
#define WAIT_FOR(s, field, want) wait_for(s, offsetof(struct output_stats, field), want)

static void assert_file(const char *path, const char *want)
{
    size_t len;
    char *got = read_whole_file(path, &len);
    cr_assert_not_null(got, "%s missing", path);
    cr_assert_eq(len, strlen(want), "%s: %zu bytes, want %zu (no holes, nothing lost)", path, len, strlen(want));
    cr_assert_str_eq(got, want);
    free(got);
}

Test(output_jsonl, lines_appended_exactly)
{
    test_tmpdir("cp-jsonl");
    const char *path = tmp_path("alerts.jsonl");
    write_text(path, "{\"earlier\":true}\n");
    struct output_config c = jsonl_config(path);
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 300; i++)
        submit(s, i);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    char *lines = expected_lines(0, 300);
    char *want = malloc(strlen(lines) + 32);
    sprintf(want, "{\"earlier\":true}\n%s", lines);
    assert_file(path, want);
    const struct output_stats *st = &fin.out[OUTPUT_JSONL];
    cr_assert_eq(st->submitted, 300);
    cr_assert_eq(st->delivered, 300);
    cr_assert_eq(st->bytes, strlen(lines));
    cr_assert_eq(st->errors, 0);
    cr_assert_eq(st->queue_depth, 0);
    free(lines);
    free(want);
}

Test(output_jsonl, reopen_after_rename)
{
    test_tmpdir("cp-jsonl");
    const char *path = tmp_path("alerts.jsonl");
    char rotated[4096];
    snprintf(rotated, sizeof rotated, "%s", tmp_path("alerts.jsonl.1"));
    struct output_config c = jsonl_config(path);
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 3; i++)
        submit(s, i);
    cr_assert_eq(WAIT_FOR(s, delivered, 3).delivered, 3);
    cr_assert_eq(rename(path, rotated), 0);
    output_set_reopen(s);
    cr_assert_eq(WAIT_FOR(s, reopens, 1).reopens, 1);
    for (int i = 3; i < 5; i++)
        submit(s, i);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    char *old = expected_lines(0, 3), *cur = expected_lines(3, 5);
    assert_file(rotated, old);
    assert_file(path, cur);
    cr_assert_eq(fin.out[OUTPUT_JSONL].delivered, 5);
    free(old);
    free(cur);
}

Test(output_jsonl, copytruncate_needs_no_reopen)
{
    test_tmpdir("cp-jsonl");
    const char *path = tmp_path("alerts.jsonl");
    struct output_config c = jsonl_config(path);
    c.jsonl.fsync = OUTPUT_FSYNC_NEVER;
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 3; i++)
        submit(s, i);
    WAIT_FOR(s, delivered, 3);
    cr_assert_eq(truncate(path, 0), 0);
    for (int i = 3; i < 5; i++)
        submit(s, i);
    output_set_close(s, 5000, NULL);
    char *want = expected_lines(3, 5);
    assert_file(path, want);   /* O_APPEND: no hole of NULs where the old lines were */
    free(want);
}

Test(output_jsonl, disk_full_is_counted_bounded_and_retried)
{
    test_tmpdir("cp-jsonl");
    const char *link = tmp_path("alerts.jsonl");
    char real[4096];
    snprintf(real, sizeof real, "%s", tmp_path("real.jsonl"));
    cr_assert_eq(symlink("/dev/full", link), 0);
    struct output_config c = jsonl_config(link);
    c.jsonl.retry_interval_ms = 20;
    c.jsonl.queue.max_alerts = 5;
    struct output_set *s = open_set(&c);
    int refused = 0;
    for (int i = 0; i < 20; i++)
        refused += submit(s, i);
    cr_assert_eq(refused, 15);
    struct output_stats st = WAIT_FOR(s, retries, 2);
    cr_assert_geq(st.errors, 3, "every failed write is counted");
    cr_assert_geq(st.retries, 2);
    cr_assert_eq(st.delivered, 0);
    cr_assert_eq(st.dropped_queue_full, 15, "five held, the rest refused");
    cr_assert_eq(st.queue_depth, 5);
    cr_assert_neq(st.last_error[0], '\0');

    /* The operator frees space (here: points the path at a real file) and
     * reopens; the held lines are written, in order, nothing twice. */
    cr_assert_eq(unlink(link), 0);
    cr_assert_eq(symlink(real, link), 0);
    output_set_reopen(s);
    st = WAIT_FOR(s, delivered, 5);
    cr_assert_eq(st.delivered, 5);
    submit(s, 20);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    char *want = expected_lines(0, 5);
    char *last = expected_lines(20, 21);
    strcat(want = realloc(want, strlen(want) + strlen(last) + 1), last);
    assert_file(real, want);
    st = fin.out[OUTPUT_JSONL];
    cr_assert_eq(st.submitted, 21);
    cr_assert_eq(st.submitted, st.delivered + st.dropped_queue_full + st.failed + st.dropped_at_close);
    free(want);
    free(last);
}

Test(output_jsonl, close_deadline_abandons_what_cannot_be_written)
{
    test_tmpdir("cp-jsonl");
    struct output_config c = jsonl_config("/dev/full");
    c.jsonl.retry_interval_ms = 10;
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 10; i++)
        submit(s, i);
    struct output_set_stats fin;
    output_set_close(s, 100, &fin);
    const struct output_stats *st = &fin.out[OUTPUT_JSONL];
    cr_assert_eq(st->delivered, 0);
    cr_assert_eq(st->dropped_at_close, 10);
    cr_assert_eq(st->queue_depth, 0);
    cr_assert_gt(st->errors, 0);
}

Test(output_jsonl, fsync_interval_and_never)
{
    test_tmpdir("cp-jsonl");
    const char *p1 = tmp_path("a.jsonl");
    struct output_config c = jsonl_config(p1);
    c.jsonl.fsync = OUTPUT_FSYNC_INTERVAL;
    c.jsonl.fsync_interval_ms = 10;
    struct output_set *s = open_set(&c);
    for (int i = 0; i < 50; i++) {
        submit(s, i);
        if (i % 10 == 0)
            sleep_ms(15);
    }
    output_set_close(s, 5000, NULL);
    char *want = expected_lines(0, 50);
    assert_file(p1, want);

    const char *p2 = tmp_path("b.jsonl");
    c = jsonl_config(p2);
    c.jsonl.fsync = OUTPUT_FSYNC_NEVER;
    s = open_set(&c);
    for (int i = 0; i < 50; i++)
        submit(s, i);
    struct output_set_stats fin;
    output_set_close(s, 5000, &fin);
    assert_file(p2, want);
    cr_assert_eq(fin.out[OUTPUT_JSONL].errors, 0);
    free(want);
}
