/* Time zones for senders that write local time without an offset.
 *
 * RFC 3164 timestamps carry no zone, so the dataplane attaches one per sender
 * (configured by CIDR).  A zone is either a fixed offset ("+05:30", "UTC") or
 * an IANA name ("Europe/Berlin") whose UTC offsets, including daylight-saving
 * transitions, are precomputed when the zone is loaded: lookups on the packet
 * path never touch the C library's global TZ state and never allocate.
 */
#ifndef VIGIL_ENGINE_TZ_H
#define VIGIL_ENGINE_TZ_H

#include <stdint.h>

struct tz_zone;

/* Loads a zone by name.  Returns 0, or -1 with a reason in err (errlen bytes)
 * when the name is neither a valid fixed offset nor a zone the system's tzdata
 * knows.  Not thread-safe (it uses TZ/tzset while loading): load zones before
 * starting workers. */
int tz_zone_load(const char *name, struct tz_zone **out, char *err, int errlen);
void tz_zone_free(struct tz_zone *z);
const char *tz_zone_name(const struct tz_zone *z);

/* Converts a wall-clock time in the zone (seconds since the epoch as if the
 * wall clock were UTC) to UTC seconds.  For local times that occur twice
 * (autumn transition) the earlier instant is returned; for local times that do
 * not exist (spring gap) the offset before the gap is used.  z == NULL is UTC.
 * *offset_min, if given, receives the offset applied, minutes east of UTC. */
int64_t tz_local_to_utc(const struct tz_zone *z, int64_t local_secs, int *offset_min);

/* Days since 1970-01-01 of a proleptic Gregorian civil date (any year). */
int64_t tz_days_from_civil(int64_t year, unsigned month, unsigned day);

#endif
