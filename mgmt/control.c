/* vigil-cp's control socket: see control.h. */
#define _GNU_SOURCE
#include "mgmt/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct client {
    int fd;                      /* -1: free */
    size_t n;
    int64_t since_ms;
    char line[CONTROL_LINE_MAX + 1];
};

struct control_server {
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct client c[CONTROL_MAX_CLIENTS];
};

static int sockaddr_for(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return -1;
    memcpy(sa->sun_path, path, strlen(path));
    return 0;
}

struct control_server *control_open(const char *path, const char *group, char *err, size_t errlen)
{
    struct sockaddr_un sa;
    if (sockaddr_for(path, &sa)) {
        snprintf(err, errlen, "%s: path too long for a unix socket", path);
        return NULL;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket: refusing to replace it", path);
            return NULL;
        }
        unlink(path); /* left by a vigil-cp that did not exit cleanly */
    }
    struct control_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        s->c[i].fd = -1;
    snprintf(s->path, sizeof s->path, "%s", path);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old = umask(0117); /* the socket is born 0660: no window with wider rights */
    int rc = s->fd < 0 ? -1 : bind(s->fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc || listen(s->fd, 16)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        control_close(s);
        return NULL;
    }
    if (group && group[0]) {
        struct group *g = getgrnam(group);
        if (!g || chown(path, (uid_t)-1, g->gr_gid)) {
            snprintf(err, errlen, "%s: group '%s': %s", path, group, g ? strerror(errno) : "no such group");
            control_close(s);
            return NULL;
        }
    }
    return s;
}

void control_close(struct control_server *s)
{
    if (!s)
        return;
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
        if (s->c[i].fd >= 0)
            close(s->c[i].fd);
    if (s->fd >= 0) {
        close(s->fd);
        unlink(s->path);
    }
    free(s);
}

static void drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
}

void control_poll(struct control_server *s, int64_t now_ms, control_handler h, void *ctx)
{
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        struct client *c = &s->c[i];
        if (c->fd >= 0)
            continue;
        int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            break;
        c->fd = fd;
        c->n = 0;
        c->since_ms = now_ms;
    }
    for (int i = 0; i < CONTROL_MAX_CLIENTS; i++) {
        struct client *c = &s->c[i];
        if (c->fd < 0)
            continue;
        ssize_t r = read(c->fd, c->line + c->n, CONTROL_LINE_MAX - c->n);
        if (r > 0)
            c->n += (size_t)r;
        char *nl = memchr(c->line, '\n', c->n);
        if (!nl && c->n < CONTROL_LINE_MAX && r != 0 && now_ms - c->since_ms < CONTROL_TIMEOUT_MS)
            continue; /* the rest of the line is still coming */
        char reply[CONTROL_LINE_MAX + 64];
        if (!nl) {
            snprintf(reply, sizeof reply, "error: no request line (at most %d bytes, ended by a newline)",
                     CONTROL_LINE_MAX - 1);
        } else {
            *nl = '\0';
            h(ctx, c->line, reply, sizeof reply - 1);
        }
        size_t len = strlen(reply);
        reply[len++] = '\n';
        /* a reply fits in the socket buffer; a client that does not read
         * it loses it, the server does not wait */
        if (write(c->fd, reply, len) < 0) {
            /* nothing to do: the client went away */
        }
        drop(c);
    }
}

int control_request(const char *path, const char *request, char *reply, size_t cap)
{
    struct sockaddr_un sa;
    if (sockaddr_for(path, &sa)) {
        snprintf(reply, cap, "%s: path too long for a unix socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
        snprintf(reply, cap, "%s: %s (is vigil-cp running?)", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char line[CONTROL_LINE_MAX + 1];
    int n = snprintf(line, sizeof line, "%s\n", request);
    if (n < 0 || n >= (int)sizeof line || write(fd, line, (size_t)n) != n) {
        snprintf(reply, cap, "cannot send the request");
        close(fd);
        return -1;
    }
    size_t got = 0;
    struct pollfd p = {fd, POLLIN, 0};
    while (got + 1 < cap && poll(&p, 1, 5000) == 1) {
        ssize_t r = read(fd, reply + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(reply, '\n', got))
            break;
    }
    close(fd);
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (nl)
        *nl = '\0';
    if (!got) {
        snprintf(reply, cap, "no answer from vigil-cp within 5 s");
        return -1;
    }
    return 0;
}
