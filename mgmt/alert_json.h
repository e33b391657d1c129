/* ECS JSON of alerts and incidents: what the JSON-lines output, the syslog
 * and webhook outputs and `vigilctl --json` print.
 *
 * One object, one line, no trailing newline, valid UTF-8 whatever bytes the
 * alert holds (engine/event_json.h's escaping: invalid bytes become \xHH
 * text).  Field names follow ECS: @timestamp, event.*, rule.*, threat.*
 * (MITRE ATT&CK), source.*, destination.*, observer.ip, user.name,
 * related.ip, message; Vigil's own under vigil.*.
 */
#ifndef VIGIL_MGMT_ALERT_JSON_H
#define VIGIL_MGMT_ALERT_JSON_H

#include <stddef.h>

#include "storage/record.h"

/* Both return the length written (NUL-terminated), or 0 when cap is too
 * small.  ALERT_JSON_MAX always suffices for an alert. */
#define ALERT_JSON_MAX 8192
size_t alert_json_render(const struct vigil_alert *a, char *buf, size_t cap);
size_t incident_json_render(const struct vigil_incident *inc, char *buf, size_t cap);

/* "2026-11-28T20:01:02.123456789Z" (31 bytes with the NUL). */
void alert_json_time(int64_t ns, char buf[40]);

/* The address in its usual notation ("" for family 0). */
void alert_json_ip(const struct vigil_ip *ip, char buf[64]);

#endif
