/* HTTP webhook output: alerts POSTed as JSON with libcurl, from its own thread.
 *
 * batch = 0 posts each alert as the request body (one JSON object); batch = N
 * posts up to N alerts that are already waiting as one JSON array (it never
 * waits to fill a batch, so batching adds no latency).  Every request carries
 * Content-Type: application/json (unless a configured header replaces it) and
 * the configured headers, e.g. Authorization.
 *
 * Outcome of a request: 2xx delivered.  A connection error, a timeout
 * (timeout_ms for the whole request), 5xx and 429 are retried up to retries
 * times with exponential backoff (retry_backoff_ms doubling to
 * retry_backoff_max_ms, with jitter; a Retry-After header lengthens the wait
 * within that cap), then the alerts are counted failed.  Any other status
 * (other 4xx, 3xx: redirects are not followed) fails at once: repeating the
 * same request would get the same answer.  Delivery is therefore
 * at-least-once while retrying (a request that timed out may have been
 * processed, and is sent again) and gives up after the retries.
 *
 * While a request waits or retries, alerts queue in the bounded queue; when
 * it is full they are counted dropped_queue_full.  Closing stops at its
 * deadline even in the middle of a request (the transfer is aborted).
 */
#ifndef VIGIL_MGMT_OUTPUT_WEBHOOK_H
#define VIGIL_MGMT_OUTPUT_WEBHOOK_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/output_queue.h"

#define OUTPUT_WEBHOOK_MAX_HEADERS 16
#define OUTPUT_WEBHOOK_MAX_BATCH   10000

struct output_http_header {
    char name[64];                /* an HTTP token: letters, digits, !#$%&'*+-.^_`|~ */
    char value[2048];             /* no CR, LF or other control characters except tab */
};

struct output_webhook_config {
    bool enabled;
    char url[2048];               /* http:// or https:// */
    struct output_http_header headers[OUTPUT_WEBHOOK_MAX_HEADERS];
    unsigned n_headers;
    uint32_t timeout_ms;          /* whole request, connect included: 1..600000, default 5000 */
    uint32_t retries;             /* extra attempts after the first: 0..100, default 3 */
    uint32_t retry_backoff_ms;    /* first wait: 1..3600000, default 500 */
    uint32_t retry_backoff_max_ms;/* cap of the doubling: retry_backoff_ms..3600000, default 30000 */
    uint32_t batch;               /* 0 = one object per request; N = array of up to N (max 10000) */
    uint64_t batch_max_bytes;     /* body size cap of a batch: 1024..256 MiB, default 1 MiB */
    char ca_file[PATH_MAX];       /* CA bundle for https; "" = the system's */
    struct output_queue_config queue;
};

void output_webhook_config_defaults(struct output_webhook_config *c);
/* 0 when valid; -1 with "outputs.webhook.KEY: reason" in err.  Header values
 * are never copied into err: they often hold credentials. */
int output_webhook_config_validate(const struct output_webhook_config *c, char *err, size_t errlen);

enum output_webhook_verdict {
    OUTPUT_WEBHOOK_OK,            /* delivered */
    OUTPUT_WEBHOOK_RETRY,         /* transient: connect error, timeout, 5xx, 429 */
    OUTPUT_WEBHOOK_FAIL,          /* permanent: other statuses, other libcurl errors */
};
/* Classifies one attempt: curl_code is its CURLcode, status the HTTP status. */
enum output_webhook_verdict output_webhook_classify(int curl_code, long status);

struct output_webhook;

/* Sets up libcurl (curl_global_init, reference-counted by libcurl) and starts
 * the thread consuming q (q must outlive it).  Nothing is sent until an
 * alert arrives.  0, or -1 with err. */
int output_webhook_start(const struct output_webhook_config *c, struct output_queue *q, struct output_webhook **out,
                         char *err, size_t errlen);
/* Joins the thread (the queue must have been closed) and frees the output. */
void output_webhook_join(struct output_webhook *o);

#endif
