/* vigil-cp's alert outputs: JSON lines file, syslog, HTTP webhook.
 *
 * vigil-cp's main loop renders each alert as one ECS JSON object (one line,
 * valid UTF-8) and calls output_submit.  A failing output must never hold up
 * correlation, so output_submit only copies the alert once and pushes a
 * pointer into each enabled output's bounded queue (output_queue.h); every
 * output delivers from its own thread.  A full queue refuses the alert and
 * counts it as dropped_queue_full for that output alone.
 *
 * Lifecycle: output_config_defaults, then vigil-cp's YAML loader sets what
 * the file says, output_config_validate, output_set_open, output_submit per
 * alert, output_set_reopen on SIGHUP, output_set_stats whenever,
 * output_set_close with a deadline on shutdown.  See docs/outputs.md for the
 * YAML keys and the delivery semantics of each output.
 *
 * Threads: output_submit, output_set_reopen and output_set_stats may be
 * called from any thread, concurrently; output_set_close must not race with
 * them.
 */
#ifndef VIGIL_MGMT_OUTPUT_H
#define VIGIL_MGMT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/output_jsonl.h"
#include "mgmt/output_queue.h"
#include "mgmt/output_syslog.h"
#include "mgmt/output_webhook.h"

/* What vigil-cp knows about an alert besides its JSON. */
struct output_alert_meta {
    int64_t ts_ns;                /* alert time, ns since the Unix epoch; <= 0: the time of sending */
    uint8_t level;                /* 1 informational .. 5 critical (engine enum rule_level); clamped to 1..5 */
    const char *rule_title;       /* NULL or "" when none */
    const char *hostname_hint;    /* host the alert is about, for syslog's HOSTNAME; NULL when none */
};

enum output_kind { OUTPUT_JSONL = 0, OUTPUT_SYSLOG, OUTPUT_WEBHOOK, OUTPUT__COUNT };

/* The outputs section of vigil.yaml (control_plane.outputs: { jsonl, syslog,
 * webhook }), filled by vigil-cp's YAML loader (mgmt/cp_config.c). */
struct output_config {
    struct output_jsonl_config jsonl;
    struct output_syslog_config syslog;
    struct output_webhook_config webhook;
};

/* Every output disabled, every parameter at its documented default. */
void output_config_defaults(struct output_config *c);
/* Checks the enabled outputs (a disabled one's keys are not looked at).
 * 0 when valid; -1 with one message naming the key, e.g.
 * "outputs.syslog.port: must be 1..65535", in err. */
int output_config_validate(const struct output_config *c, char *err, size_t errlen);

/* "jsonl", "syslog", "webhook". */
const char *output_kind_name(enum output_kind k);

struct output_set;

/* Validates c, then starts every enabled output (the JSONL file is opened
 * now, so a bad path fails here; network outputs connect in the background).
 * The config is copied: it may be freed after the call.  An empty set (no
 * output enabled) is valid.  0, or -1 with err and nothing left running. */
int output_set_open(const struct output_config *c, struct output_set **out, char *err, size_t errlen);

/* Queues one alert for every enabled output.  json is len bytes of one JSON
 * object; CR and LF are refused (they would break the JSON lines file).
 * Everything is copied: nothing needs to outlive the call.  Never blocks on
 * I/O: the cost is one copy of the alert and a short critical section per
 * output.  Returns 0 when every enabled output queued it; otherwise the
 * number of outputs that refused it (each counted it dropped_queue_full);
 * -1 for invalid arguments (NULL set/json/meta, empty json, CR/LF), which
 * counts nothing. */
int output_submit(struct output_set *s, const char *json, size_t len, const struct output_alert_meta *m);

/* Asks the JSONL output to reopen its file (logrotate's rename rotation).
 * Async-signal-safe: it only sets a flag, acted on within
 * OUTPUT_JSONL_TICK_MS.  No effect when the JSONL output is disabled. */
void output_set_reopen(struct output_set *s);

struct output_set_stats {
    bool enabled[OUTPUT__COUNT];
    struct output_stats out[OUTPUT__COUNT];   /* zeroes for a disabled output */
};
void output_set_stats(struct output_set *s, struct output_set_stats *st);

/* Stops accepting, lets every output deliver what it holds until
 * deadline_ms from now, then abandons the rest (counted dropped_at_close),
 * joins the threads and frees the set.  final, when not NULL, receives the
 * counters as they stand at the end.  NULL s is a no-op (final zeroed).  A
 * JSONL write stuck in the kernel (a hung network file system) can delay the
 * return past the deadline. */
void output_set_close(struct output_set *s, uint32_t deadline_ms, struct output_set_stats *final);

#endif
