/* What vigil-cp knows about each rule a signal or a correlation can name:
 * title, level and ATT&CK tactics and techniques, found by the rule's UUID
 * (signals carry it, so a control plane holding another ruleset version
 * still resolves every rule both versions share).
 *
 * Built once per ruleset load; read-only afterwards.  Lookups are O(1).
 */
#ifndef VIGIL_MGMT_RULE_META_H
#define VIGIL_MGMT_RULE_META_H

#include <stdint.h>

#include "storage/record.h"

struct rule_set;

struct rule_meta {
    uint8_t uuid[16];
    uint8_t level;                               /* enum alert_level (0..4) */
    uint8_t kind;                                /* enum alert_kind */
    uint8_t n_techniques;
    uint32_t tactics;                            /* enum attack_tactic bits */
    uint32_t techniques[ALERT_TECHNIQUES_MAX];
    char title[ALERT_TITLE_MAX + 1];
    char id[64];                                 /* as written in the rule */
};

struct rule_meta_table;

/* An empty table for up to cap rules (NULL when out of memory). */
struct rule_meta_table *rule_meta_new(unsigned cap);
void rule_meta_free(struct rule_meta_table *t);

/* Adds every detection rule of rs; returns how many, or -1 when full. */
int rule_meta_add_detection(struct rule_meta_table *t, const struct rule_set *rs);

/* Adds one rule; tags is a comma-separated list as in struct rule_info
 * ("attack.credential_access,attack.t1110") and level a Sigma level
 * (1 informational .. 5 critical, engine/detect.h).  0, or -1 when full. */
int rule_meta_add(struct rule_meta_table *t, const uint8_t uuid[16], const char *id, const char *title,
                  unsigned sigma_level, const char *tags, uint8_t kind);

const struct rule_meta *rule_meta_find(const struct rule_meta_table *t, const uint8_t uuid[16]);
unsigned rule_meta_count(const struct rule_meta_table *t);

/* Fills tactics and techniques from Sigma tags ("attack.initial-access",
 * "attack.initial_access", "attack.t1190", "attack.t1595.002"; others are
 * ignored). */
void rule_meta_parse_tags(const char *tags, uint32_t *tactics, uint32_t *techniques, uint8_t *n_techniques);

#endif
