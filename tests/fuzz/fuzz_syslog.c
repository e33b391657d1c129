/* libFuzzer target for the syslog decoder.
 *
 * Each input is parsed under a few receive times and zones (year inference
 * and zone lookups take different paths), every returned view is read byte
 * by byte so ASan flags a view that leaves the input, and the SD iterator is
 * walked over what the parser returned and over the raw input.  Every parsed
 * event is also rendered as the tap's JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/event.h"
#include "engine/event_json.h"
#include "engine/syslog.h"
#include "engine/tz.h"

static volatile uint8_t sink;

static void touch(struct vigil_str s)
{
    if (!s.ptr) {
        if (s.len != 0)
            abort();
        return;
    }
    uint8_t acc = 0;
    for (uint32_t i = 0; i < s.len; i++)
        acc ^= (uint8_t)s.ptr[i];
    sink ^= acc;
}

static void walk_sd(struct vigil_str sd)
{
    struct syslog_sd_iter it;
    struct syslog_sd_param p;
    syslog_sd_iter_init(&it, sd);
    for (int n = 0; syslog_sd_next(&it, &p); n++) {
        if (n > 1 << 20)
            abort();                 /* the iterator must make progress */
        touch(p.sd_id);
        touch(p.name);
        touch(p.value);
        if (!p.sd_id.ptr || (p.first_in_element != 0 && p.first_in_element != 1))
            abort();
    }
}

static const struct tz_zone *fixed, *berlin;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fixed) {
        struct tz_zone *z;
        char err[128];
        if (tz_zone_load("+05:30", &z, err, sizeof err) != 0)
            abort();
        fixed = z;
        /* a DST zone, if this system has tzdata */
        if (tz_zone_load("Europe/Berlin", &z, err, sizeof err) == 0)
            berlin = z;
    }

    /* an exact-size copy: libFuzzer's buffer may have slack ASan cannot see */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);

    const struct syslog_ctx ctxs[] = {
        {1774000000LL * 1000000000LL, NULL},     /* 2026-03-20 */
        {1798761599LL * 1000000000LL, fixed},    /* 2026-12-31T23:59:59Z */
        {1798761601LL * 1000000000LL, berlin},   /* just after New Year */
        {-1000000000LL, NULL},                   /* before the epoch */
    };
    for (size_t c = 0; c < sizeof ctxs / sizeof ctxs[0]; c++) {
        struct vigil_event ev;
        if (syslog_parse(buf, size, &ctxs[c], &ev) != SYSLOG_OK)
            continue;
        struct vigil_str f[] = {ev.hostname, ev.process_name, ev.procid, ev.msgid,
                                ev.event_code, ev.structured_data, ev.message};
        for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
            touch(f[i]);
            if (f[i].ptr && (f[i].ptr < buf || f[i].ptr + f[i].len > buf + size))
                abort();
        }
        if (!ev.message.ptr || ev.facility < 0 || ev.facility > 23 || ev.severity < 0 ||
            ev.severity > 7 || ev.vendor_severity < -1 || ev.vendor_severity > 7 ||
            ev.format > VIGIL_FMT_RFC5424 || ev.ts_source > VIGIL_TS_INFERRED_YEAR)
            abort();
        if (ev.ts_source == VIGIL_TS_RECEIVED && ev.timestamp_ns != ctxs[c].received_ns)
            abort();
        walk_sd(ev.structured_data);
        /* The tap's rendering: the documented bound always suffices, and the
         * output is one line with no raw control bytes. */
        ev.observer_ip.family = 4;
        size_t cap = VIGIL_EVENT_JSON_MAX(size);
        char *json = malloc(cap);
        if (!json)
            abort();
        size_t n = event_json_render(&ev, json, cap);
        if (n == 0 || json[n - 1] != '\n')
            abort();
        for (size_t i = 0; i + 1 < n; i++)
            if ((unsigned char)json[i] < 0x20)
                abort();
        free(json);
    }
    walk_sd((struct vigil_str){buf, (uint32_t)size});
    free(buf);
    return 0;
}
