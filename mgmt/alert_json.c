/* ECS JSON rendering of alerts and incidents. */
#include "mgmt/alert_json.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "engine/event_json.h"

struct out {
    char *p, *end;
    bool overflow;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->overflow || (size_t)(o->end - o->p) <= n) {
        o->overflow = true;
        return;
    }
    memcpy(o->p, s, n);
    o->p += n;
}

static void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }

static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        o->overflow = true;
    else
        put(o, tmp, (size_t)n);
}

static void put_str(struct out *o, const char *s, size_t n)
{
    if (o->overflow)
        return;
    put(o, "\"", 1);
    size_t w = json_escape(s, n, o->p, (size_t)(o->end - o->p));
    if (w == (size_t)-1) {
        o->overflow = true;
        return;
    }
    o->p += w;
    put(o, "\"", 1);
}

void alert_json_time(int64_t ns, char buf[40])
{
    time_t s = (time_t)(ns >= 0 ? ns / 1000000000 : (ns - 999999999) / 1000000000);
    long frac = (long)(ns - (int64_t)s * 1000000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    /* years are 4 digits for every time the store accepts; clamp for the compiler */
    int year = tm.tm_year + 1900;
    year = year < 0 ? 0 : year > 9999 ? 9999 : year;
    snprintf(buf, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", year, (tm.tm_mon + 1) % 100, tm.tm_mday % 100,
             tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100, (unsigned)(frac % 1000000000));
}

void alert_json_ip(const struct vigil_ip *ip, char buf[64])
{
    buf[0] = '\0';
    if (ip->family == 4)
        inet_ntop(AF_INET, ip->addr, buf, 64);
    else if (ip->family == 6)
        inet_ntop(AF_INET6, ip->addr, buf, 64);
}

static void put_time(struct out *o, const char *key, int64_t ns)
{
    char t[40];
    alert_json_time(ns, t);
    putf(o, "\"%s\":\"%s\"", key, t);
}

static void put_ipv(struct out *o, const struct vigil_ip *ip)
{
    char b[64];
    alert_json_ip(ip, b);
    putf(o, "\"%s\"", b);
}

static void put_endpoint(struct out *o, const char *name, const struct vigil_ip *ip, uint16_t port)
{
    if (!ip->family && !port)
        return;
    putf(o, ",\"%s\":{", name);
    if (ip->family) {
        puts_(o, "\"ip\":");
        put_ipv(o, ip);
    }
    if (port)
        putf(o, "%s\"port\":%u", ip->family ? "," : "", port);
    put(o, "}", 1);
}

static void put_tactics(struct out *o, uint32_t tactics)
{
    puts_(o, "[");
    bool first = true;
    for (unsigned t = 0; t < TACTIC__COUNT; t++)
        if (tactics & (1u << t)) {
            putf(o, "%s\"%s\"", first ? "" : ",", record_tactic_name(t));
            first = false;
        }
    puts_(o, "]");
}

static void put_uuid(struct out *o, const uint8_t u[16])
{
    put(o, "\"", 1);
    for (int i = 0; i < 16; i++)
        putf(o, "%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "", u[i]);
    put(o, "\"", 1);
}

size_t alert_json_render(const struct vigil_alert *a, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, false};
    const char *level = record_level_name(a->level);
    put(&o, "{", 1);
    put_time(&o, "@timestamp", a->event_ns ? a->event_ns : a->received_ns);
    putf(&o, ",\"event\":{\"kind\":\"alert\",\"id\":\"%" PRIu64 "\",", a->id);
    put_time(&o, "created", a->received_ns);
    put(&o, ",", 1);
    put_time(&o, "start", a->first_seen_ns);
    put(&o, ",", 1);
    put_time(&o, "end", a->last_seen_ns);
    putf(&o, ",\"severity\":%u,\"count\":%u}", a->level, a->count);
    puts_(&o, ",\"rule\":{\"uuid\":");
    put_uuid(&o, a->rule_uuid);
    puts_(&o, ",\"name\":");
    put_str(&o, a->title, a->title_len);
    putf(&o, ",\"level\":\"%s\",\"category\":\"%s\"}", level ? level : "unknown",
         a->kind == ALERT_CORRELATION ? "correlation" : "detection");
    if (a->tactics || a->n_techniques) {
        puts_(&o, ",\"threat\":{\"framework\":\"MITRE ATT&CK\",\"tactic\":{\"name\":");
        put_tactics(&o, a->tactics);
        puts_(&o, "},\"technique\":{\"id\":[");
        for (unsigned i = 0; i < a->n_techniques && i < ALERT_TECHNIQUES_MAX; i++) {
            char t[12];
            record_technique_format(a->techniques[i], t);
            putf(&o, "%s\"%s\"", i ? "," : "", t);
        }
        puts_(&o, "]}}");
    }
    put_endpoint(&o, "source", &a->source_ip, a->source_port);
    put_endpoint(&o, "destination", &a->destination_ip, a->destination_port);
    if (a->observer_ip.family) {
        puts_(&o, ",\"observer\":{\"ip\":");
        put_ipv(&o, &a->observer_ip);
        put(&o, "}", 1);
    }
    if (a->user_len) {
        puts_(&o, ",\"user\":{\"name\":");
        put_str(&o, a->user, a->user_len);
        put(&o, "}", 1);
    }
    if (a->entity.family) {
        puts_(&o, ",\"related\":{\"ip\":[");
        put_ipv(&o, &a->entity);
        puts_(&o, "]}");
    }
    puts_(&o, ",\"vigil\":{");
    bool comma = false;
    if (a->entity.family) {
        puts_(&o, "\"entity\":");
        put_ipv(&o, &a->entity);
        comma = true;
    }
    if (a->incident_id) {
        putf(&o, "%s\"incident_id\":\"%" PRIu64 "\"", comma ? "," : "", a->incident_id);
        comma = true;
    }
    if (a->group_key_len) {
        putf(&o, "%s\"group_key\":", comma ? "," : "");
        put_str(&o, a->group_key, a->group_key_len);
        comma = true;
    }
    if (a->n_contrib) {
        putf(&o, "%s\"contributing_alerts\":[", comma ? "," : "");
        for (unsigned i = 0; i < a->n_contrib && i < ALERT_CONTRIB_MAX; i++)
            putf(&o, "%s\"%" PRIu64 "\"", i ? "," : "", a->contrib[i]);
        putf(&o, "],\"contributing_more\":%u", a->contrib_more);
    }
    put(&o, "}", 1);
    if (a->excerpt_len) {
        puts_(&o, ",\"message\":");
        put_str(&o, a->excerpt, a->excerpt_len);
    }
    put(&o, "}", 1);
    if (o.overflow)
        return 0;
    *o.p = '\0';
    return (size_t)(o.p - buf);
}

size_t incident_json_render(const struct vigil_incident *inc, char *buf, size_t cap)
{
    struct out o = {buf, buf + cap, false};
    const char *status = record_status_name(inc->status);
    put(&o, "{", 1);
    put_time(&o, "@timestamp", inc->first_seen_ns);
    putf(&o, ",\"event\":{\"kind\":\"incident\",\"id\":\"%" PRIu64 "\",", inc->id);
    put_time(&o, "start", inc->first_seen_ns);
    put(&o, ",", 1);
    put_time(&o, "end", inc->last_seen_ns);
    put(&o, ",", 1);
    put_time(&o, "updated", inc->updated_ns);
    putf(&o, ",\"risk_score\":%u},\"vigil\":{\"entity\":", inc->severity);
    put_ipv(&o, &inc->entity);
    puts_(&o, ",\"severity\":");
    put_str(&o, inc->label, inc->label_len);
    putf(&o, ",\"status\":\"%s\",\"tactics\":", status ? status : "unknown");
    put_tactics(&o, inc->tactics);
    puts_(&o, ",\"alerts\":[");
    for (unsigned i = 0; i < inc->n_chain && i < INCIDENT_CHAIN_MAX; i++)
        putf(&o, "%s\"%" PRIu64 "\"", i ? "," : "", inc->chain[i]);
    putf(&o, "],\"alerts_more\":%u}}", inc->chain_more);
    if (o.overflow)
        return 0;
    *o.p = '\0';
    return (size_t)(o.p - buf);
}
