/* Renders a normalized event as one line of JSON with ECS field names.
 *
 * The output is valid JSON and valid UTF-8 whatever bytes the event holds:
 * quotes, backslashes and control characters are JSON-escaped, and each byte
 * that is not part of a valid UTF-8 sequence is written as the six characters
 * "\\xHH" (a literal backslash, x and two hex digits in the decoded string), so
 * nothing the sender sent is dropped or silently replaced.  This is a view for
 * people and JSON pipelines, not a byte-exact encoding: a message that itself
 * contains the text \xff reads the same as one holding the byte 0xff.
 */
#ifndef VIGIL_ENGINE_EVENT_JSON_H
#define VIGIL_ENGINE_EVENT_JSON_H

#include <stddef.h>

#include "engine/event.h"

/* Writes the event as JSON plus '\n' into buf.  Returns the length written,
 * or 0 when cap is too small (buf then holds nothing useful).  A cap of
 * VIGIL_EVENT_JSON_MAX(msglen) always suffices for an event whose string
 * fields total msglen bytes. */
size_t event_json_render(const struct vigil_event *ev, char *buf, size_t cap);

#define VIGIL_EVENT_JSON_MAX(total_str_bytes) (1024 + 6 * (size_t)(total_str_bytes) * 2)

struct event_fields;
struct field_registry;

/* Writes the parsed fields of ef (every field past the built-in ones) as
 * JSON members with dotted ECS names: "source.ip":"192.0.2.1","source.port":22
 * (no braces, no leading comma).  Returns the length, or (size_t)-1 when cap
 * is too small. */
size_t event_fields_json(const struct event_fields *ef, const struct field_registry *reg, char *buf, size_t cap);

struct vigil_signal;
struct rule_info;

/* Writes a detection signal as one JSON line: event.kind "signal", the rule
 * (id, name, level, tags: ri may be NULL when the rule is not known), the key
 * fields and the message excerpt.  Returns the length or 0 when cap is too
 * small. */
size_t signal_json_render(const struct vigil_signal *sig, const struct rule_info *ri, char *buf, size_t cap);

/* Short snake_case name of anomaly bit i (0..VIGIL_ANOM_COUNT-1), e.g. "no_pri". */
const char *vigil_anomaly_name(unsigned i);

/* JSON-escapes src into dst (no surrounding quotes) under the rules above.
 * Returns the bytes written, or (size_t)-1 when dst is too small. */
size_t json_escape(const char *src, size_t len, char *dst, size_t cap);

#endif
