/* Ethernet port bring-up for vigil-dp.
 *
 * A port is a PCI device or a vdev (net_pcap, net_ring, net_null, net_tap,
 * net_af_packet).  With more than one rx queue the port spreads traffic by
 * RSS on the IP addresses only, so one sender (and every fragment of its
 * datagrams) always lands on the same worker; a PMD without RSS must be given
 * rx_queues: 1, and startup says so rather than silently leaving queues idle.
 */
#ifndef VIGIL_DATAPLANE_PORT_H
#define VIGIL_DATAPLANE_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/config.h"

struct rte_mempool;

/* Finds the DPDK port id of a configured port (after rte_eal_init).  0 or -1. */
int port_resolve(const struct cfg_port *p, uint16_t *port_id);

/* Configures rx queues (and one tx queue where the PMD has one), starts the
 * port and sets promiscuous mode if asked.  *rss_enabled tells whether RSS is
 * on (hashing IP addresses only); *udp_type_exists that the PMD also knows a
 * UDP hash type, i.e. it may classify UDP datagrams apart and leave them
 * unhashed (on queue 0) — worth checking per-queue counters on such NICs.
 * Returns 0, or -1 with a message in err (the port closed). */
int port_setup(const struct cfg_port *p, uint16_t port_id, struct rte_mempool *pool,
               bool *rss_enabled, bool *udp_type_exists, char *err, size_t errlen);

void port_shutdown(uint16_t port_id);

#endif
