#include "dataplane/port.h"

#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

int port_resolve(const struct cfg_port *p, uint16_t *port_id)
{
    char name[RTE_ETH_NAME_MAX_LEN];
    size_t n = strcspn(p->device, ",");
    if (n >= sizeof name)
        return -1;
    memcpy(name, p->device, n);
    name[n] = '\0';
    return rte_eth_dev_get_port_by_name(name, port_id) == 0 ? 0 : -1;
}

int port_setup(const struct cfg_port *p, uint16_t port_id, struct rte_mempool *pool,
               bool *rss_enabled, bool *udp_type_exists, char *err, size_t errlen)
{
    *udp_type_exists = false;
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port_id, &info);
    if (rc) {
        snprintf(err, errlen, "port '%s': cannot read device info: %s", p->name, rte_strerror(-rc));
        return -1;
    }
    if (p->rx_queues > info.max_rx_queues) {
        snprintf(err, errlen, "port '%s' (%s) has at most %u rx queues; rx_queues is %u", p->name,
                 info.driver_name, info.max_rx_queues, p->rx_queues);
        return -1;
    }
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof conf);
    *rss_enabled = false;
    if (p->rx_queues > 1) {
        /* Hash on IP addresses only (the IPv4/IPv6 hash types, no UDP type):
         * fragments carry no UDP ports, and every fragment of a datagram must
         * reach the worker that reassembles it.  A NIC that hashes UDP only
         * when a UDP type is enabled puts such traffic on queue 0; the
         * per-queue counters show it. */
        uint64_t hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
        if (!hf) {
            snprintf(err, errlen, "port '%s' (%s) cannot spread packets across queues by IP address (no "
                     "RSS): set rx_queues: 1 for it", p->name, info.driver_name);
            return -1;
        }
        if (info.flow_type_rss_offloads & (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_NONFRAG_IPV6_UDP))
            *udp_type_exists = true;
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
        *rss_enabled = true;
    }
    uint16_t ntx = info.max_tx_queues > 0 ? 1 : 0;
    rc = rte_eth_dev_configure(port_id, p->rx_queues, ntx, &conf);
    if (rc) {
        snprintf(err, errlen, "port '%s': configure failed: %s", p->name, rte_strerror(-rc));
        return -1;
    }
    uint16_t nrx = p->rx_descriptors, ntxd = 512;
    rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &nrx, &ntxd);
    int socket = rte_eth_dev_socket_id(port_id);
    for (uint16_t q = 0; q < p->rx_queues; q++) {
        rc = rte_eth_rx_queue_setup(port_id, q, nrx, socket < 0 ? (unsigned)SOCKET_ID_ANY : (unsigned)socket,
                                    NULL, pool);
        if (rc) {
            snprintf(err, errlen, "port '%s': rx queue %u setup failed: %s", p->name, q,
                     rte_strerror(-rc));
            (void)rte_eth_dev_close(port_id);
            return -1;
        }
    }
    if (ntx) {
        rc = rte_eth_tx_queue_setup(port_id, 0, ntxd, socket < 0 ? (unsigned)SOCKET_ID_ANY : (unsigned)socket,
                                    NULL);
        if (rc) {
            snprintf(err, errlen, "port '%s': tx queue setup failed: %s", p->name, rte_strerror(-rc));
            (void)rte_eth_dev_close(port_id);
            return -1;
        }
    }
    rc = rte_eth_dev_start(port_id);
    if (rc) {
        snprintf(err, errlen, "port '%s': start failed: %s", p->name, rte_strerror(-rc));
        (void)rte_eth_dev_close(port_id);
        return -1;
    }
    /* Not every vdev implements promiscuous mode (net_pcap files do not need it). */
    if (p->promiscuous)
        (void)rte_eth_promiscuous_enable(port_id);
    return 0;
}

void port_shutdown(uint16_t port_id)
{
    (void)rte_eth_dev_stop(port_id);
    (void)rte_eth_dev_close(port_id);
}
