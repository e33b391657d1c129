#define _GNU_SOURCE   /* pthread_setname_np */
#include "mgmt/output_syslog.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SYSLOG_BATCH      64
#define SYSLOG_BATCH_COST (1u << 20)
#define SYSLOG_TICK_MS    100       /* idle wake-up: notice a closed peer, retry connects */
#define FRAME_PREFIX      16        /* room for TCP's "LEN " before the message */
#define NS_PER_MS         1000000LL

/* ---- configuration ---------------------------------------------------- */

void output_syslog_config_defaults(struct output_syslog_config *c)
{
    memset(c, 0, sizeof *c);
    c->port = 514;
    c->protocol = OUTPUT_SYSLOG_UDP;
    c->facility = 16;
    c->max_message_bytes = 2048;
    c->connect_timeout_ms = 5000;
    c->reconnect_backoff_ms = 500;
    c->reconnect_backoff_max_ms = 30000;
    c->queue.max_alerts = OUTPUT_QUEUE_DEFAULT_ALERTS;
    c->queue.max_bytes = OUTPUT_QUEUE_DEFAULT_BYTES;
}

int output_syslog_protocol_parse(const char *s, enum output_syslog_protocol *out)
{
    if (s && strcmp(s, "udp") == 0)
        *out = OUTPUT_SYSLOG_UDP;
    else if (s && strcmp(s, "tcp") == 0)
        *out = OUTPUT_SYSLOG_TCP;
    else
        return -1;
    return 0;
}

static const char *const facility_names[24] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

int output_syslog_facility_parse(const char *s, int *out)
{
    if (!s || !*s)
        return -1;
    for (int i = 0; i < 24; i++)
        if (strcmp(s, facility_names[i]) == 0) {
            *out = i;
            return 0;
        }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < 0 || v > 23)
        return -1;
    *out = (int)v;
    return 0;
}

static int check_str(const char *s, size_t size, const char *key, bool required, char *err, size_t errlen)
{
    size_t n = strnlen(s, size);
    if (n == size) {
        snprintf(err, errlen, "outputs.syslog.%s: longer than %zu bytes", key, size - 1);
        return -1;
    }
    if (required && n == 0) {
        snprintf(err, errlen, "outputs.syslog.%s: required when the output is enabled", key);
        return -1;
    }
    return 0;
}

int output_syslog_config_validate(const struct output_syslog_config *c, char *err, size_t errlen)
{
    if (check_str(c->host, sizeof c->host, "host", true, err, errlen) ||
        check_str(c->hostname, sizeof c->hostname, "hostname", false, err, errlen))
        return -1;
    if (c->port < 1 || c->port > 65535) {
        snprintf(err, errlen, "outputs.syslog.port: must be 1..65535");
        return -1;
    }
    if (c->protocol != OUTPUT_SYSLOG_UDP && c->protocol != OUTPUT_SYSLOG_TCP) {
        snprintf(err, errlen, "outputs.syslog.protocol: must be udp or tcp");
        return -1;
    }
    if (c->facility < 0 || c->facility > 23) {
        snprintf(err, errlen, "outputs.syslog.facility: must be 0..23 or a facility name (local0..local7, ...)");
        return -1;
    }
    uint32_t maxm = c->protocol == OUTPUT_SYSLOG_UDP ? OUTPUT_SYSLOG_MAX_UDP_MESSAGE : OUTPUT_SYSLOG_MAX_TCP_MESSAGE;
    if (c->max_message_bytes < OUTPUT_SYSLOG_MIN_MESSAGE || c->max_message_bytes > maxm) {
        snprintf(err, errlen, "outputs.syslog.max_message_bytes: must be %u..%u for %s", OUTPUT_SYSLOG_MIN_MESSAGE,
                 maxm, c->protocol == OUTPUT_SYSLOG_UDP ? "udp" : "tcp");
        return -1;
    }
    if (c->connect_timeout_ms < 1 || c->connect_timeout_ms > 600000) {
        snprintf(err, errlen, "outputs.syslog.connect_timeout_ms: must be 1..600000");
        return -1;
    }
    if (c->reconnect_backoff_ms < 1 || c->reconnect_backoff_ms > 3600000) {
        snprintf(err, errlen, "outputs.syslog.reconnect_backoff_ms: must be 1..3600000");
        return -1;
    }
    if (c->reconnect_backoff_max_ms < c->reconnect_backoff_ms || c->reconnect_backoff_max_ms > 3600000) {
        snprintf(err, errlen, "outputs.syslog.reconnect_backoff_max_ms: must be reconnect_backoff_ms..3600000");
        return -1;
    }
    return output_queue_config_check(&c->queue, "outputs.syslog", err, errlen);
}

/* ---- message format --------------------------------------------------- */

int output_syslog_severity(unsigned level)
{
    /* critical 2 (crit), high 3 (err), medium 4 (warning), low 5 (notice), informational 6 (info) */
    if (level < 1)
        level = 1;
    if (level > 5)
        level = 5;
    return 7 - (int)level;
}

static const char *level_name(unsigned level)
{
    static const char *const names[] = {"informational", "low", "medium", "high", "critical"};
    return names[(level < 1 ? 1 : level > 5 ? 5 : level) - 1];
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Largest n <= max that does not split a UTF-8 sequence of s[0..len). */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (max >= len)
        return len;
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* PARAM-VALUE (RFC 5424 6.3.3): '"', '\' and ']' escaped with '\'.  Invalid
 * UTF-8 bytes become '?' and control characters ' ', so the value is always
 * valid UTF-8 and on one line.  Writes at most cap bytes, never splitting an
 * escape or a character; sets *cut when the title did not fit. */
static size_t sd_escape(const char *src, size_t len, char *dst, size_t cap, bool *cut)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        const unsigned char *p = (const unsigned char *)src + i;
        size_t n = utf8_seq(p, len - i);
        char tmp[4];
        size_t tn;
        if (n == 0) {
            tmp[0] = '?';
            tn = 1;
            n = 1;
        } else if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f)) {
            tmp[0] = ' ';
            tn = 1;
        } else if (n == 1 && (p[0] == '"' || p[0] == '\\' || p[0] == ']')) {
            tmp[0] = '\\';
            tmp[1] = (char)p[0];
            tn = 2;
        } else {
            memcpy(tmp, p, n);
            tn = n;
        }
        if (o + tn > cap) {
            *cut = true;
            break;
        }
        memcpy(dst + o, tmp, tn);
        o += tn;
        i += n;
    }
    return o;
}

/* Copies an RFC 5424 header field (PRINTUSASCII, 1..max chars), replacing
 * what syslog does not allow; "-" (NILVALUE) when empty. */
static size_t header_field(const char *s, size_t max, char *dst)
{
    size_t n = 0;
    for (; s && s[n] && n < max; n++) {
        unsigned char c = (unsigned char)s[n];
        dst[n] = c >= 33 && c <= 126 ? (char)c : '_';
    }
    if (n == 0)
        dst[n++] = '-';
    return n;
}

static size_t format_time(int64_t ts_ns, char *dst)
{
    if (ts_ns <= 0) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        ts_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    }
    time_t sec = (time_t)(ts_ns / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t n = strftime(dst, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(dst + n, 32 - n, ".%06ldZ", (long)(ts_ns % 1000000000 / 1000));
    return n;
}

size_t output_syslog_format(char *buf, size_t cap, size_t max_bytes, const struct output_record *a, int facility,
                            const char *hostname, const char *procid, bool *truncated)
{
    /* The header without the title's value is bounded (< 400 bytes: a
     * 255-byte host name is the largest part), so it always fits in
     * OUTPUT_SYSLOG_MIN_MESSAGE; the title gets what is left, then the JSON. */
    char head[512];
    size_t h = (size_t)snprintf(head, sizeof head, "<%d>1 ", facility * 8 + output_syslog_severity(a->level));
    h += format_time(a->ts_ns, head + h);
    head[h++] = ' ';
    h += header_field(a->host && a->host[0] ? a->host : hostname, 255, head + h);
    h += (size_t)snprintf(head + h, sizeof head - h, " vigil ");
    h += header_field(procid, 128, head + h);
    h += (size_t)snprintf(head + h, sizeof head - h, " alert [%s rule=\"", OUTPUT_SYSLOG_SD_ID);
    char tail[64];
    size_t t = (size_t)snprintf(tail, sizeof tail, "\" level=\"%s\"] ", level_name(a->level));

    size_t limit = max_bytes < cap ? max_bytes : cap;
    *truncated = false;
    if (h + t > limit)          /* only when the caller breaks the minimum size */
        return 0;
    size_t room = limit - h - t;
    size_t title_room = room < 2 * OUTPUT_SYSLOG_TITLE_MAX ? room : 2 * OUTPUT_SYSLOG_TITLE_MAX;
    size_t title_src = a->title_len;
    if (title_src > OUTPUT_SYSLOG_TITLE_MAX) {
        title_src = utf8_cut(a->title, a->title_len, OUTPUT_SYSLOG_TITLE_MAX);
        *truncated = true;
    }
    memcpy(buf, head, h);
    size_t o = h;
    o += sd_escape(a->title, title_src, buf + o, title_room, truncated);
    memcpy(buf + o, tail, t);
    o += t;
    size_t jl = a->json_len;
    if (o + jl > limit) {
        jl = utf8_cut(a->json, a->json_len, limit - o);
        *truncated = true;
    }
    memcpy(buf + o, a->json, jl);
    return o + jl;
}

/* ---- sender thread ---------------------------------------------------- */

struct output_syslog {
    struct output_syslog_config cfg;
    struct output_queue *q;
    pthread_t thr;
    bool tcp;
    char hostname[256];
    char procid[16];
    int fd;                       /* -1 while disconnected */
    int64_t next_attempt;         /* no connect before this */
    uint32_t backoff_ms;
    /* batch[cur..nb) are still to send; frame holds batch[cur] formatted
     * (frame_ready), of which frame_off bytes are written. */
    struct output_record *batch[SYSLOG_BATCH];
    size_t nb, cur;
    char *frame;
    size_t frame_start, frame_len, frame_off;
    bool frame_ready;
    bool refused_retry;           /* UDP: the current datagram already got one ECONNREFUSED */
};

static void schedule_reconnect(struct output_syslog *o, int64_t now)
{
    o->next_attempt = now + (int64_t)o->backoff_ms * NS_PER_MS;
    uint64_t b = (uint64_t)o->backoff_ms * 2;
    o->backoff_ms = b > o->cfg.reconnect_backoff_max_ms ? o->cfg.reconnect_backoff_max_ms : (uint32_t)b;
}

static void disconnect(struct output_syslog *o, int64_t now, const char *why, int err)
{
    if (o->fd >= 0)
        close(o->fd);
    o->fd = -1;
    o->frame_off = 0;             /* a partly written frame is sent again, whole */
    output_queue_add(o->q, OQ_ERRORS, 1);
    output_queue_set_error(o->q, "%s:%d: %s%s%s", o->cfg.host, o->cfg.port, why, err ? ": " : "",
                           err ? strerror(err) : "");
    schedule_reconnect(o, now);
}

/* Waits for events on fd until until_ns, in slices so a passing close
 * deadline is noticed.  1 when ready, 0 on timeout, -1 on poll error. */
static int wait_fd(struct output_syslog *o, int fd, short events, int64_t until_ns)
{
    for (;;) {
        int64_t now = output_mono_ns();
        if (now >= until_ns || output_queue_expired(o->q, now))
            return 0;
        int64_t ms = (until_ns - now + NS_PER_MS - 1) / NS_PER_MS;
        if (ms > SYSLOG_TICK_MS)
            ms = SYSLOG_TICK_MS;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)ms);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* Resolves and connects (UDP: binds the peer address).  0 when connected. */
static int connect_collector(struct output_syslog *o, int64_t now)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = o->tcp ? SOCK_STREAM : SOCK_DGRAM};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%d", o->cfg.port);
    /* getaddrinfo may block on DNS: acceptable here, this thread is the only one waiting. */
    int rc = getaddrinfo(o->cfg.host, port, &hints, &res);
    if (rc != 0) {
        output_queue_add(o->q, OQ_ERRORS, 1);
        output_queue_set_error(o->q, "resolve %s: %s", o->cfg.host,
                               rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        schedule_reconnect(o, now);
        return -1;
    }
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            o->fd = fd;
            break;
        }
        err = errno;
        if (err == EINPROGRESS) {
            int64_t until = output_mono_ns() + (int64_t)o->cfg.connect_timeout_ms * NS_PER_MS;
            int w = wait_fd(o, fd, POLLOUT, until);
            socklen_t sl = sizeof err;
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0) {
                o->fd = fd;
                break;
            }
            if (w == 0)
                err = ETIMEDOUT;
            else if (w < 0)
                err = errno;
        }
        close(fd);
    }
    freeaddrinfo(res);
    if (o->fd < 0) {
        output_queue_add(o->q, OQ_ERRORS, 1);
        output_queue_set_error(o->q, "connect %s:%d: %s", o->cfg.host, o->cfg.port, strerror(err ? err : EIO));
        schedule_reconnect(o, now);
        return -1;
    }
    if (o->tcp) {
        /* Keepalive: a collector that vanished without a FIN is noticed
         * eventually even if no alert is sent. */
        int one = 1;
        setsockopt(o->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    }
    output_queue_add(o->q, OQ_CONNECTS, 1);
    return 0;
}

/* TCP: the collector never sends; readable means EOF (closed) or an error. */
static void check_peer(struct output_syslog *o, int64_t now)
{
    if (o->fd < 0 || !o->tcp)
        return;
    for (int i = 0; i < 16; i++) {
        struct pollfd p = {.fd = o->fd, .events = POLLIN};
        if (poll(&p, 1, 0) <= 0)
            return;
        char junk[512];
        ssize_t r = recv(o->fd, junk, sizeof junk, MSG_DONTWAIT);
        if (r > 0)
            continue;             /* ignore anything a collector might say */
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        disconnect(o, now, r == 0 ? "collector closed the connection" : "connection failed", r == 0 ? 0 : errno);
        return;
    }
}

static void prepare_frame(struct output_syslog *o)
{
    bool trunc;
    char *msg = o->frame + FRAME_PREFIX;
    size_t n = output_syslog_format(msg, o->cfg.max_message_bytes, o->cfg.max_message_bytes, o->batch[o->cur],
                                    o->cfg.facility, o->hostname, o->procid, &trunc);
    if (trunc)
        output_queue_add(o->q, OQ_TRUNCATED, 1);
    o->frame_start = FRAME_PREFIX;
    if (o->tcp) {
        char len[FRAME_PREFIX];
        int pl = snprintf(len, sizeof len, "%zu ", n);
        o->frame_start -= (size_t)pl;
        memcpy(o->frame + o->frame_start, len, (size_t)pl);
    }
    o->frame_len = FRAME_PREFIX + n - o->frame_start;
    o->frame_off = 0;
    o->frame_ready = true;
    o->refused_retry = false;
}

static void finish_record(struct output_syslog *o, enum output_outcome how)
{
    output_queue_done(o->q, &o->batch[o->cur], 1, how);
    o->cur++;
    o->frame_ready = false;
}

/* Sends batch[cur..nb) while the socket takes it. */
static void send_pending(struct output_syslog *o)
{
    while (o->cur < o->nb && o->fd >= 0) {
        if (!o->frame_ready)
            prepare_frame(o);
        ssize_t r = send(o->fd, o->frame + o->frame_start + o->frame_off, o->frame_len - o->frame_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        int64_t now = output_mono_ns();
        if (r < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK) {
                /* Socket buffer full (a slow collector): wait a tick, then
                 * come back to the main loop to honour the deadline. */
                if (wait_fd(o, o->fd, POLLOUT, now + SYSLOG_TICK_MS * NS_PER_MS) <= 0)
                    return;
                continue;
            }
            if (!o->tcp) {
                output_queue_add(o->q, OQ_ERRORS, 1);
                output_queue_set_error(o->q, "send to %s:%d: %s", o->cfg.host, o->cfg.port, strerror(e));
                /* ECONNREFUSED reports an ICMP error for an earlier datagram,
                 * not this one: send this one once more. */
                if (e == ECONNREFUSED && !o->refused_retry) {
                    o->refused_retry = true;
                    output_queue_add(o->q, OQ_RETRIES, 1);
                    continue;
                }
                finish_record(o, OUTPUT_FAILED);
                continue;
            }
            disconnect(o, now, "send failed", e);
            output_queue_add(o->q, OQ_RETRIES, 1);   /* this frame goes again on the next connection */
            return;
        }
        o->frame_off += (size_t)r;
        if (o->tcp && o->frame_off < o->frame_len)
            continue;
        output_queue_add(o->q, OQ_BYTES, o->tcp ? o->frame_len : (uint64_t)r);
        o->backoff_ms = o->cfg.reconnect_backoff_ms;   /* the connection works */
        finish_record(o, OUTPUT_DELIVERED);
    }
}

static void *syslog_thread(void *arg)
{
    struct output_syslog *o = arg;
    pthread_setname_np(pthread_self(), "vigil-syslog");
    for (;;) {
        int64_t now = output_mono_ns();
        if (output_queue_expired(o->q, now))
            break;
        bool idle = o->cur >= o->nb;
        if (o->fd < 0 && !(idle && output_queue_closing(o->q))) {
            /* Connected eagerly, not at the first alert, so the first alert
             * does not wait for a handshake and a dead collector shows up in
             * the counters at once. */
            if (now < o->next_attempt) {
                if (!idle) {
                    output_queue_sleep(o->q, o->next_attempt);
                    continue;
                }
            } else if (connect_collector(o, now) != 0) {
                continue;
            }
        }
        if (o->cur < o->nb) {
            send_pending(o);
            continue;
        }
        int64_t wake = now + SYSLOG_TICK_MS * NS_PER_MS;
        if (o->fd < 0 && o->next_attempt < wake)
            wake = o->next_attempt;
        o->nb = output_queue_pop(o->q, o->batch, SYSLOG_BATCH, SYSLOG_BATCH_COST, wake);
        o->cur = 0;
        if (o->nb == 0 && output_queue_closing(o->q))
            break;
        check_peer(o, output_mono_ns());
    }
    output_queue_done(o->q, o->batch + o->cur, o->nb - o->cur, OUTPUT_ABANDONED);
    o->cur = o->nb = 0;
    return NULL;
}

int output_syslog_start(const struct output_syslog_config *c, struct output_queue *q, struct output_syslog **out,
                        char *err, size_t errlen)
{
    struct output_syslog *o = calloc(1, sizeof *o);
    if (o)
        o->frame = malloc(FRAME_PREFIX + c->max_message_bytes);
    if (!o || !o->frame) {
        if (o)
            free(o);
        snprintf(err, errlen, "outputs.syslog: out of memory");
        return -1;
    }
    o->cfg = *c;
    o->q = q;
    o->tcp = c->protocol == OUTPUT_SYSLOG_TCP;
    o->fd = -1;
    o->backoff_ms = c->reconnect_backoff_ms;
    if (c->hostname[0])
        snprintf(o->hostname, sizeof o->hostname, "%s", c->hostname);
    else if (gethostname(o->hostname, sizeof o->hostname) != 0)
        o->hostname[0] = '\0';
    o->hostname[sizeof o->hostname - 1] = '\0';
    snprintf(o->procid, sizeof o->procid, "%ld", (long)getpid());
    int rc = pthread_create(&o->thr, NULL, syslog_thread, o);
    if (rc != 0) {
        snprintf(err, errlen, "outputs.syslog: cannot start thread: %s", strerror(rc));
        free(o->frame);
        free(o);
        return -1;
    }
    *out = o;
    return 0;
}

void output_syslog_join(struct output_syslog *o)
{
    if (!o)
        return;
    pthread_join(o->thr, NULL);
    if (o->fd >= 0)
        close(o->fd);
    free(o->frame);
    free(o);
}
