#include "engine/fields.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define REG_SLOTS 8192   /* power of two, twice FIELD_REGISTRY_MAX: open addressing stays short */

struct field_registry {
    unsigned n;
    char names[FIELD_REGISTRY_MAX][FIELD_NAME_MAX];
    int16_t slot[REG_SLOTS];   /* id + 1, 0 = empty */
};

static const char *const builtin_names[FID__BUILTIN] = {
    [FID_MESSAGE] = "message",
    [FID_HOST_HOSTNAME] = "host.hostname",
    [FID_PROCESS_NAME] = "process.name",
    [FID_PROCESS_PID] = "process.pid",
    [FID_OBSERVER_IP] = "observer.ip",
    [FID_SYSLOG_FACILITY] = "log.syslog.facility.code",
    [FID_SYSLOG_SEVERITY] = "log.syslog.severity.code",
    [FID_SYSLOG_MSGID] = "log.syslog.msgid",
    [FID_EVENT_CODE] = "event.code",
};

static uint32_t hash_name(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= FIELD_NAME_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
              *s == '_' || *s == '-' || *s == '@'))
            return false;
    return true;
}

struct field_registry *field_registry_new(void)
{
    struct field_registry *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    for (unsigned i = 0; i < FID__BUILTIN; i++) {
        field_id id;
        field_registry_intern(r, builtin_names[i], &id);
    }
    return r;
}

void field_registry_free(struct field_registry *r) { free(r); }

int field_registry_find(const struct field_registry *r, const char *name)
{
    for (uint32_t h = hash_name(name), i = 0; i < REG_SLOTS; i++) {
        int16_t s = r->slot[(h + i) & (REG_SLOTS - 1)];
        if (s == 0)
            return -1;
        if (!strcmp(r->names[s - 1], name))
            return s - 1;
    }
    return -1;
}

int field_registry_intern(struct field_registry *r, const char *name, field_id *out)
{
    if (!valid_name(name))
        return -1;
    uint32_t h = hash_name(name);
    for (uint32_t i = 0; i < REG_SLOTS; i++) {
        int16_t *s = &r->slot[(h + i) & (REG_SLOTS - 1)];
        if (*s && !strcmp(r->names[*s - 1], name)) {
            *out = (field_id)(*s - 1);
            return 0;
        }
        if (*s == 0) {
            if (r->n >= FIELD_REGISTRY_MAX)
                return -1;
            strcpy(r->names[r->n], name);
            *s = (int16_t)(r->n + 1);
            *out = (field_id)r->n++;
            return 0;
        }
    }
    return -1;
}

const char *field_registry_name(const struct field_registry *r, field_id id)
{
    return id < r->n ? r->names[id] : "?";
}

unsigned field_registry_count(const struct field_registry *r) { return r->n; }

int event_fields_init(struct event_fields *ef, unsigned max_fields, uint32_t arena_cap)
{
    memset(ef, 0, sizeof *ef);
    ef->max = (uint16_t)(max_fields < FIELDS_HARD_MAX ? max_fields : FIELDS_HARD_MAX);
    ef->arena_cap = arena_cap;
    ef->parser = -1;
    ef->arena = arena_cap ? malloc(arena_cap) : NULL;
    return arena_cap && !ef->arena ? -1 : 0;
}

void event_fields_free(struct event_fields *ef)
{
    free(ef->arena);
    ef->arena = NULL;
}

void event_fields_reset(struct event_fields *ef)
{
    ef->n = 0;
    ef->dropped = 0;
    ef->parser = -1;
    ef->logsource = 0;
    ef->arena_used = 0;
}

static struct field_value *slot(struct event_fields *ef, field_id id, uint8_t type)
{
    if (ef->n >= ef->max) {
        ef->dropped++;
        return NULL;
    }
    struct field_value *f = &ef->f[ef->n++];
    f->id = id;
    f->type = type;
    return f;
}

int event_fields_add_str(struct event_fields *ef, field_id id, const char *p, uint32_t len)
{
    struct field_value *f = slot(ef, id, FIELD_STR);
    if (!f)
        return -1;
    f->v.s.ptr = p;
    f->v.s.len = len;
    return 0;
}

int event_fields_add_int(struct event_fields *ef, field_id id, int64_t v)
{
    struct field_value *f = slot(ef, id, FIELD_INT);
    if (!f)
        return -1;
    f->v.i = v;
    return 0;
}

int event_fields_add_ip(struct event_fields *ef, field_id id, const struct vigil_ip *ip)
{
    struct field_value *f = slot(ef, id, FIELD_IP);
    if (!f)
        return -1;
    f->v.ip = *ip;
    return 0;
}

char *event_fields_alloc(struct event_fields *ef, uint32_t len)
{
    if (len > ef->arena_cap - ef->arena_used) {
        ef->dropped++;
        return NULL;
    }
    char *p = ef->arena + ef->arena_used;
    ef->arena_used += len;
    return p;
}

const struct field_value *event_fields_get(const struct event_fields *ef, field_id id)
{
    for (unsigned i = 0; i < ef->n; i++)
        if (ef->f[i].id == id)
            return &ef->f[i];
    return NULL;
}

void event_fields_from_syslog(struct event_fields *ef, const struct vigil_event *ev)
{
    event_fields_reset(ef);
    if (ev->message.ptr)
        event_fields_add_str(ef, FID_MESSAGE, ev->message.ptr, ev->message.len);
    if (ev->hostname.ptr)
        event_fields_add_str(ef, FID_HOST_HOSTNAME, ev->hostname.ptr, ev->hostname.len);
    if (ev->process_name.ptr)
        event_fields_add_str(ef, FID_PROCESS_NAME, ev->process_name.ptr, ev->process_name.len);
    if (ev->pid >= 0)
        event_fields_add_int(ef, FID_PROCESS_PID, ev->pid);
    if (ev->observer_ip.family)
        event_fields_add_ip(ef, FID_OBSERVER_IP, &ev->observer_ip);
    event_fields_add_int(ef, FID_SYSLOG_FACILITY, ev->facility);
    event_fields_add_int(ef, FID_SYSLOG_SEVERITY, ev->severity);
    if (ev->msgid.ptr)
        event_fields_add_str(ef, FID_SYSLOG_MSGID, ev->msgid.ptr, ev->msgid.len);
    if (ev->event_code.ptr)
        event_fields_add_str(ef, FID_EVENT_CODE, ev->event_code.ptr, ev->event_code.len);
}

bool field_parse_ip(const char *p, uint32_t len, struct vigil_ip *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, p, len);
    buf[len] = '\0';
    memset(out, 0, sizeof *out);
    if (memchr(buf, ':', len)) {
        if (inet_pton(AF_INET6, buf, out->addr) != 1)
            return false;
        out->family = 6;
    } else {
        if (inet_pton(AF_INET, buf, out->addr) != 1)
            return false;
        out->family = 4;
    }
    return true;
}
