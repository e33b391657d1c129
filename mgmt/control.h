/* vigil-cp's control socket: how vigilctl asks the single writer to change
 * something (acknowledge or close an incident).  Queries never come here:
 * they read the store directly (read-only LMDB), so a busy vigil-cp never
 * stalls them.
 *
 * A unix stream socket, mode 0660 with a configurable group.  One request
 * per connection: a line of text (at most CONTROL_LINE_MAX bytes), one
 * line back starting with "ok" or "error".  The server side never blocks:
 * control_poll accepts and reads what is there, a client that is slow to
 * send its line is dropped after CONTROL_TIMEOUT_MS, and at most
 * CONTROL_MAX_CLIENTS connections are open at once (more wait in the
 * listen backlog).
 *
 * Requests:  incident ack ID | incident close ID | incident reopen ID | ping
 */
#ifndef VIGIL_MGMT_CONTROL_H
#define VIGIL_MGMT_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#define CONTROL_LINE_MAX    256
#define CONTROL_MAX_CLIENTS 8
#define CONTROL_TIMEOUT_MS  2000

struct control_server;

/* Handles one request line (NUL-terminated, without the newline); writes
 * the reply line (without newline) into reply. */
typedef void (*control_handler)(void *ctx, const char *request, char *reply, size_t cap);

/* Creates the socket at path (a stale socket file is replaced; another
 * kind of file is an error), mode 0660, group (NULL or "": the process's).
 * NULL with a message in err on failure. */
struct control_server *control_open(const char *path, const char *group, char *err, size_t errlen);
void control_close(struct control_server *s);

/* Accepts, reads and answers what is ready now; never blocks.  now_ms:
 * a monotonic clock for the client timeout. */
void control_poll(struct control_server *s, int64_t now_ms, control_handler h, void *ctx);

/* Client (vigilctl): sends request, reads the reply line into reply.
 * 0, or -1 with a message in reply (vigil-cp not running, timeout). */
int control_request(const char *path, const char *request, char *reply, size_t cap);

#endif
