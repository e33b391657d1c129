/* JSON lines file output: one alert per line, appended to a file that a log
 * shipper (Filebeat, Vector, Fluent Bit) tails.
 *
 * The file is opened O_APPEND, so every write lands at the current end even
 * after logrotate's copytruncate, and several writers never overwrite each
 * other.  output_jsonl_reopen asks the thread to open the path again (after a
 * rename rotation); it only stores a flag, so a SIGHUP handler may call it.
 *
 * A write error (disk full, EIO) is counted, the unwritten lines are kept and
 * retried every retry_interval_ms; meanwhile new alerts wait in the bounded
 * queue and overflow is counted as dropped.  A line cut short by an error is
 * finished on the same file when the retry succeeds; if the file is reopened
 * in between, the torn line is terminated with '\n' (best effort) in the old
 * file and written whole to the new one.
 *
 * Delivery: at-most-once into the page cache (delivered = write() returned);
 * durability per the fsync policy.
 */
#ifndef VIGIL_MGMT_OUTPUT_JSONL_H
#define VIGIL_MGMT_OUTPUT_JSONL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/output_queue.h"

enum output_fsync {
    OUTPUT_FSYNC_BATCH = 0,       /* fdatasync after every batch written (default) */
    OUTPUT_FSYNC_INTERVAL,        /* at most every fsync_interval_ms while there is unsynced data */
    OUTPUT_FSYNC_NEVER,           /* leave it to the kernel */
};

struct output_jsonl_config {
    bool enabled;
    char path[PATH_MAX];
    enum output_fsync fsync;
    uint32_t fsync_interval_ms;   /* with OUTPUT_FSYNC_INTERVAL: 1..3600000, default 1000 */
    uint32_t retry_interval_ms;   /* after a write or open error: 1..3600000, default 1000 */
    uint32_t file_mode;           /* permissions of a created file, default 0640 */
    struct output_queue_config queue;
};

void output_jsonl_config_defaults(struct output_jsonl_config *c);
/* 0 when valid; -1 with "outputs.jsonl.KEY: reason" in err. */
int output_jsonl_config_validate(const struct output_jsonl_config *c, char *err, size_t errlen);
/* "batch", "interval", "never" -> enum; -1 for anything else. */
int output_fsync_parse(const char *s, enum output_fsync *out);
const char *output_fsync_name(enum output_fsync f);

struct output_jsonl;

/* Opens the file (so a bad path fails vigil-cp's start, not the first alert)
 * and starts the writer thread consuming q.  q must outlive the output.
 * 0, or -1 with a message naming outputs.jsonl.path in err. */
int output_jsonl_start(const struct output_jsonl_config *c, struct output_queue *q, struct output_jsonl **out,
                       char *err, size_t errlen);
/* Asks for the path to be reopened; async-signal-safe (stores a flag).
 * The thread acts on it within OUTPUT_JSONL_TICK_MS, or at the next alert. */
void output_jsonl_reopen(struct output_jsonl *o);
/* Joins the thread (the queue must have been closed) and frees the output. */
void output_jsonl_join(struct output_jsonl *o);

#define OUTPUT_JSONL_TICK_MS 50

#endif
