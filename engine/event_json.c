#include "engine/event_json.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/detect.h"
#include "engine/fields.h"
#include "engine/signal.h"
#include "engine/syslog.h"

static const char *const anomaly_names[VIGIL_ANOM_COUNT] = {
    "no_pri",   "bad_pri",           "no_timestamp", "bad_timestamp", "rfc5424_fallback",
    "bad_structured_data", "truncated", "nul_bytes",
};

const char *vigil_anomaly_name(unsigned i)
{
    return i < VIGIL_ANOM_COUNT ? anomaly_names[i] : "unknown";
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s[0] does not start
 * one.  Overlong forms, surrogates and code points past U+10FFFF are invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t json_escape(const char *src, size_t len, char *dst, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        char tmp[8];
        const char *piece = tmp;
        size_t n;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            switch (c) {
            case '\n': piece = "\\n"; n = 2; break;
            case '\r': piece = "\\r"; n = 2; break;
            case '\t': piece = "\\t"; n = 2; break;
            default:
                memcpy(tmp, "\\u00", 4);
                tmp[4] = hex[c >> 4];
                tmp[5] = hex[c & 15];
                n = 6;
            }
            i++;
        } else if (c < 0x80) {
            tmp[0] = (char)c;
            n = 1;
            i++;
        } else if ((n = utf8_seq_len(s + i, len - i)) != 0) {
            piece = (const char *)s + i;
            i += n;
        } else {
            /* Not UTF-8: keep the byte visible and recoverable as \xHH text. */
            memcpy(tmp, "\\\\x", 3);
            tmp[3] = hex[c >> 4];
            tmp[4] = hex[c & 15];
            n = 5;
            i++;
        }
        if (o + n > cap)
            return (size_t)-1;
        memcpy(dst + o, piece, n);
        o += n;
    }
    return o;
}

struct out {
    char *p, *end;
    int overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || (size_t)(o->end - o->p) < n) {
        o->overflow = 1;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
    if (o->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p, (size_t)(o->end - o->p), fmt, ap);
    va_end(ap);
    if (n < 0 || n >= o->end - o->p)
        o->overflow = 1;
    else
        o->p += n;
}

static void put_str(struct out *o, const char *s, size_t len)
{
    put(o, "\"", 1);
    if (o->overflow)
        return;
    size_t n = json_escape(s, len, o->p, (size_t)(o->end - o->p));
    if (n == (size_t)-1) {
        o->overflow = 1;
        return;
    }
    o->p += n;
    put(o, "\"", 1);
}

static void put_vstr(struct out *o, struct vigil_str s) { put_str(o, s.ptr, s.len); }

/* An SD-PARAM value with its RFC 5424 escapes (\" \\ \]) undone, then escaped
 * for JSON.  Unescaping shrinks a value, so it fits a buffer of its length. */
static void put_sd_value(struct out *o, struct vigil_str v)
{
    static __thread char buf[65536];
    size_t b = 0;
    for (uint32_t i = 0; i < v.len && b < sizeof buf; i++) {
        char c = v.ptr[i];
        if (c == '\\' && i + 1 < v.len && (v.ptr[i + 1] == '"' || v.ptr[i + 1] == '\\' || v.ptr[i + 1] == ']'))
            c = v.ptr[++i];
        buf[b++] = c;
    }
    put_str(o, buf, b);
}

static void put_time(struct out *o, int64_t ns)
{
    int64_t sec = ns / 1000000000, frac = ns % 1000000000;
    if (frac < 0) {
        frac += 1000000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        puts_(o, "null");
        return;
    }
    putf(o, "\"%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
         tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac % 1000000 == 0)
        putf(o, ".%03" PRId64 "Z\"", frac / 1000000);
    else if (frac % 1000 == 0)
        putf(o, ".%06" PRId64 "Z\"", frac / 1000);
    else
        putf(o, ".%09" PRId64 "Z\"", frac);
}
static void put_ip(struct out *o, const struct vigil_ip *ip)
{
    char buf[INET6_ADDRSTRLEN];
    if (!inet_ntop(ip->family == 4 ? AF_INET : AF_INET6, ip->addr, buf, sizeof buf))
        puts_(o, "null");
    else
        putf(o, "\"%s\"", buf);
}

static bool vstr_eq(struct vigil_str a, struct vigil_str b)
{
    return a.len == b.len && (a.len == 0 || !memcmp(a.ptr, b.ptr, a.len));
}

/* RFC 5424 allows an SD-ID or a PARAM-NAME to repeat.  JSON consumers
 * (Elasticsearch first) reject duplicate keys, so repeated SD-IDs merge into
 * one object and a repeated name becomes an array of its values, in order.
 * Past SD_RENDER_MAX params the rest is left out (the raw SD stays in the
 * event). */
#define SD_RENDER_MAX 256

static void put_structured_data(struct out *o, struct vigil_str sd)
{
    static __thread struct syslog_sd_param p[SD_RENDER_MAX];
    static __thread uint8_t done[SD_RENDER_MAX];
    struct syslog_sd_iter it;
    unsigned n = 0;
    syslog_sd_iter_init(&it, sd);
    while (n < SD_RENDER_MAX && syslog_sd_next(&it, &p[n]))
        done[n++] = 0;
    puts_(o, ",\"structured_data\":{");
    const char *id_sep = "";
    for (unsigned i = 0; i < n; i++) {
        if (done[i] & 1)
            continue;
        /* first param of a not yet rendered SD-ID: render every param of that ID */
        puts_(o, id_sep);
        put_vstr(o, p[i].sd_id);
        puts_(o, ":{");
        const char *sep = "";
        for (unsigned j = i; j < n; j++) {
            if ((done[j] & 1) || !vstr_eq(p[j].sd_id, p[i].sd_id))
                continue;
            done[j] |= 1;
            if (!p[j].name.ptr || (done[j] & 2))
                continue;
            unsigned count = 0;
            for (unsigned k = j; k < n; k++)
                count += vstr_eq(p[k].sd_id, p[i].sd_id) && p[k].name.ptr && vstr_eq(p[k].name, p[j].name);
            puts_(o, sep);
            put_vstr(o, p[j].name);
            put(o, ":", 1);
            if (count > 1)
                put(o, "[", 1);
            const char *vsep = "";
            for (unsigned k = j; k < n; k++)
                if (vstr_eq(p[k].sd_id, p[i].sd_id) && p[k].name.ptr && vstr_eq(p[k].name, p[j].name)) {
                    puts_(o, vsep);
                    put_sd_value(o, p[k].value);
                    done[k] |= 2;
                    vsep = ",";
                }
            if (count > 1)
                put(o, "]", 1);
            sep = ",";
        }
        put(o, "}", 1);
        id_sep = ",";
    }
    put(o, "}", 1);
}

static const char *const level_names[8] = {"emergency", "alert",  "critical", "error",
                                           "warning",   "notice", "informational", "debug"};

size_t event_json_render(const struct vigil_event *ev, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, 0};
    puts_(&o, "{\"@timestamp\":");
    put_time(&o, ev->timestamp_ns);

    puts_(&o, ",\"event\":{\"created\":");
    put_time(&o, ev->received_ns);
    if (vigil_str_present(ev->event_code)) {
        puts_(&o, ",\"code\":");
        put_vstr(&o, ev->event_code);
    }
    if (ev->sequence >= 0)
        putf(&o, ",\"sequence\":%" PRId64, ev->sequence);
    put(&o, "}", 1);

    if (ev->observer_ip.family) {
        puts_(&o, ",\"observer\":{\"ip\":");
        put_ip(&o, &ev->observer_ip);
        put(&o, "}", 1);
    }
    if (vigil_str_present(ev->hostname)) {
        puts_(&o, ",\"host\":{\"hostname\":");
        put_vstr(&o, ev->hostname);
        put(&o, "}", 1);
    }
    if (vigil_str_present(ev->process_name) || ev->pid >= 0) {
        puts_(&o, ",\"process\":{");
        const char *sep = "";
        if (vigil_str_present(ev->process_name)) {
            puts_(&o, "\"name\":");
            put_vstr(&o, ev->process_name);
            sep = ",";
        }
        if (ev->pid >= 0)
            putf(&o, "%s\"pid\":%" PRId64, sep, ev->pid);
        put(&o, "}", 1);
    }

    puts_(&o, ",\"log\":{");
    if (ev->vendor_severity >= 0 && ev->vendor_severity < 8)
        putf(&o, "\"level\":\"%s\",", level_names[ev->vendor_severity]);
    else if (ev->severity >= 0 && ev->severity < 8)
        putf(&o, "\"level\":\"%s\",", level_names[ev->severity]);
    putf(&o, "\"syslog\":{\"facility\":{\"code\":%d},\"severity\":{\"code\":%d},\"priority\":%d",
         ev->facility, ev->severity, ev->facility * 8 + ev->severity);
    if (vigil_str_present(ev->procid)) {
        puts_(&o, ",\"procid\":");
        put_vstr(&o, ev->procid);
    }
    if (vigil_str_present(ev->msgid)) {
        puts_(&o, ",\"msgid\":");
        put_vstr(&o, ev->msgid);
    }
    if (vigil_str_present(ev->structured_data))
        put_structured_data(&o, ev->structured_data);
    puts_(&o, "}}");

    puts_(&o, ",\"message\":");
    if (vigil_str_present(ev->message))
        put_vstr(&o, ev->message);
    else
        puts_(&o, "\"\"");

    static const char *const fmt_names[] = {"none", "rfc3164", "rfc5424"};
    static const char *const ts_names[] = {"received", "message", "inferred_year"};
    putf(&o, ",\"vigil\":{\"format\":\"%s\",\"timestamp_source\":\"%s\"",
         fmt_names[ev->format < 3 ? ev->format : 0], ts_names[ev->ts_source < 3 ? ev->ts_source : 0]);
    if (ev->anomalies) {
        puts_(&o, ",\"anomalies\":[");
        const char *sep = "";
        for (unsigned i = 0; i < VIGIL_ANOM_COUNT; i++)
            if (ev->anomalies & (1u << i)) {
                putf(&o, "%s\"%s\"", sep, anomaly_names[i]);
                sep = ",";
            }
        put(&o, "]", 1);
    }
    puts_(&o, "}}\n");
    return o.overflow ? 0 : (size_t)(o.p - buf);
}

size_t event_fields_json(const struct event_fields *ef, const struct field_registry *reg, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, 0};
    const char *sep = "";
    for (unsigned i = 0; i < ef->n; i++) {
        const struct field_value *f = &ef->f[i];
        if (f->id < FID__BUILTIN)
            continue;
        puts_(&o, sep);
        const char *name = field_registry_name(reg, f->id);
        put_str(&o, name, strlen(name));
        put(&o, ":", 1);
        switch (f->type) {
        case FIELD_INT: putf(&o, "%" PRId64, f->v.i); break;
        case FIELD_IP: put_ip(&o, &f->v.ip); break;
        default: put_vstr(&o, f->v.s); break;
        }
        sep = ",";
    }
    return o.overflow ? (size_t)-1 : (size_t)(o.p - buf);
}

static const char *const rule_level_names[] = {"unknown", "informational", "low", "medium", "high", "critical"};

size_t signal_json_render(const struct vigil_signal *sig, const struct rule_info *ri, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, 0};
    puts_(&o, "{\"@timestamp\":");
    put_time(&o, sig->ts_ns);
    puts_(&o, ",\"event\":{\"kind\":\"signal\",\"created\":");
    put_time(&o, sig->received_ns);
    putf(&o, "},\"rule\":{\"uuid\":\"");
    for (int i = 0; i < 16; i++)
        putf(&o, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", sig->rule_uuid[i]);
    putf(&o, "\",\"level\":\"%s\"", rule_level_names[sig->level <= 5 ? sig->level : 0]);
    if (ri) {
        puts_(&o, ",\"id\":");
        put_str(&o, ri->id, strlen(ri->id));
        puts_(&o, ",\"name\":");
        put_str(&o, ri->title, strlen(ri->title));
        if (ri->tags[0]) {
            puts_(&o, ",\"tags\":");
            put_str(&o, ri->tags, strlen(ri->tags));
        }
        if (ri->author[0]) {
            puts_(&o, ",\"author\":");
            put_str(&o, ri->author, strlen(ri->author));
        }
    }
    put(&o, "}", 1);
    if (sig->observer.family) {
        puts_(&o, ",\"observer\":{\"ip\":");
        put_ip(&o, &sig->observer);
        put(&o, "}", 1);
    }
    if (sig->source_ip.family || sig->source_port) {
        puts_(&o, ",\"source\":{");
        if (sig->source_ip.family) {
            puts_(&o, "\"ip\":");
            put_ip(&o, &sig->source_ip);
        }
        if (sig->source_port)
            putf(&o, "%s\"port\":%u", sig->source_ip.family ? "," : "", sig->source_port);
        put(&o, "}", 1);
    }
    if (sig->destination_ip.family || sig->destination_port) {
        puts_(&o, ",\"destination\":{");
        if (sig->destination_ip.family) {
            puts_(&o, "\"ip\":");
            put_ip(&o, &sig->destination_ip);
        }
        if (sig->destination_port)
            putf(&o, "%s\"port\":%u", sig->destination_ip.family ? "," : "", sig->destination_port);
        put(&o, "}", 1);
    }
    size_t ul = strnlen(sig->user_name, sizeof sig->user_name);
    if (ul) {
        puts_(&o, ",\"user\":{\"name\":");
        put_str(&o, sig->user_name, ul);
        put(&o, "}", 1);
    }
    puts_(&o, ",\"message\":");
    put_str(&o, sig->excerpt, sig->excerpt_len <= sizeof sig->excerpt ? sig->excerpt_len : sizeof sig->excerpt);
    puts_(&o, "}\n");
    return o.overflow ? 0 : (size_t)(o.p - buf);
}
