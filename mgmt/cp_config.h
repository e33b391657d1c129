/* vigil-cp's configuration: the control_plane section of vigil.yaml (the
 * signals section it shares with vigil-dp, and the engine section for the
 * rules, are read by dataplane/config.c's config_load).
 *
 * Every key is optional; the defaults are in docs/operations.md.  Errors name
 * the file, line and dotted key ("control_plane.store.durability: ...").
 */
#ifndef VIGIL_MGMT_CP_CONFIG_H
#define VIGIL_MGMT_CP_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmt/output.h"
#include "storage/store.h"

struct cp_config {
    char store_path[PATH_MAX];
    struct store_config store;
    char status_path[PATH_MAX];        /* vigil-cp's counters, JSON, rewritten each second */
    char socket_path[108];             /* control socket for vigilctl's commands ("" = none) */
    char socket_group[64];             /* its group ("" = vigil-cp's) */
    char correlation_rules[PATH_MAX];  /* file or directory; "" = none */
    unsigned corr_max_windows;
    unsigned corr_allowed_lateness_s;
    unsigned corr_max_clock_skew_s;    /* event time further than this from receive time: receive time used */
    uint8_t alert_min_level;           /* enum alert_level: lower signals are correlated, not stored */
    unsigned fold_window_s;
    unsigned fold_max_pending;
    uint8_t incident_min_level;
    unsigned incident_window_min;
    unsigned incident_max_entities;
    struct output_config outputs;
};

/* Loads the control_plane section of path (the whole file is parsed; other
 * sections are left to config_load).  config_dir expands ${config_dir}.
 * Returns 0, or -1 with "file:line: key: reason" in err. */
int cp_config_load(const char *path, const char *config_dir, struct cp_config *c, char *err, size_t errlen);

void cp_config_defaults(struct cp_config *c);

#endif
