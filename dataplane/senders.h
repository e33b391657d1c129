/* Who may send to us, and in which time zone they write.
 *
 * Built once from the config (allowed_senders, syslog.sources) into DPDK LPM
 * tables, one per address family, then shared read-only by every worker:
 * a lookup is a few nanoseconds and takes no lock.
 */
#ifndef VIGIL_DATAPLANE_SENDERS_H
#define VIGIL_DATAPLANE_SENDERS_H

#include <stdbool.h>

#include "dataplane/config.h"

struct tz_zone;
struct senders;

/* Returns NULL with a message in err on failure (bad zone, no memory). */
struct senders *senders_create(const struct vigil_config *cfg, int socket_id, char *err, size_t errlen);
void senders_destroy(struct senders *s);

/* true when ip may send to us (always true when allowed_senders is absent). */
bool senders_allowed(const struct senders *s, const struct vigil_ip *ip);

/* The zone for timestamps without offset from ip: the longest matching
 * syslog.sources entry, or NULL (UTC). */
const struct tz_zone *senders_zone(const struct senders *s, const struct vigil_ip *ip);

/* Both answers from one table lookup: returns senders_allowed(), and sets
 * *zone to senders_zone(). */
bool senders_lookup(const struct senders *s, const struct vigil_ip *ip, const struct tz_zone **zone);

#endif
