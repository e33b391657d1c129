/* Incidents: the alerts about one entity (by default the attacker's source
 * address) that form one attack chain, ordered, with the ATT&CK tactics
 * reached and a severity rank.
 *
 * An incident opens when an entity gets an alert at or above min_level (or
 * any correlation alert); the entity's earlier low alerts (the last few, kept
 * per entity) join it first, so a chain that starts with a quiet port scan
 * starts there.  Alerts join an open incident until window_ns passes without
 * one; then the next alert opens a new incident.
 *
 * Rank (0..100, docs/incidents.md): the highest alert level, the number of
 * tactics reached, progression (an alert of a later kill-chain phase after
 * one of an earlier phase: reconnaissance, then initial access or credential
 * access, then execution and beyond, then impact), and correlation alerts.
 * Labels: >= 70 critical, >= 45 high, >= 25 medium, else low.
 *
 * Bounded: at most max_entities entities are tracked; the least recently
 * active is forgotten when a new one needs room (counted; its incidents stay
 * in the store).  Single-threaded; no allocation after incident_tracker_new.
 */
#ifndef VIGIL_MGMT_INCIDENT_H
#define VIGIL_MGMT_INCIDENT_H

#include <stdint.h>

#include "storage/record.h"

struct incident_config {
    unsigned max_entities;
    int64_t window_ns;          /* quiet time that ends an incident */
    uint8_t min_level;          /* enum alert_level that opens an incident */
};

struct incident_stats {
    uint64_t opened, updated, entities_evicted, alerts_without_entity;
    uint32_t entities;
};

struct incident_tracker;

struct incident_tracker *incident_tracker_new(const struct incident_config *c);
void incident_tracker_free(struct incident_tracker *t);

/* Offers an alert (already emitted, with its id).  When it opens or extends
 * an incident, sets a->incident_id, writes the incident's new version into
 * *out and returns 1 (the caller stores it); an opened incident gets id
 * (*next_id)++.  Returns 0 when the alert belongs to no incident (yet). */
int incident_add_alert(struct incident_tracker *t, struct vigil_alert *a, uint64_t *next_id,
                       struct vigil_incident *out);

/* Puts an open incident read back from the store under tracking again (a
 * vigil-cp restart), so its entity's next alerts extend it. */
void incident_restore(struct incident_tracker *t, const struct vigil_incident *inc, int64_t last_alert_ns);

/* The kill-chain phase of a tactics mask (1 reconnaissance .. 4 objectives;
 * 0 none) and the rank and label of an incident: exposed for tests and for
 * vigilctl's explanations. */
unsigned incident_phase(uint32_t tactics);
const char *incident_label(unsigned rank);

void incident_stats(const struct incident_tracker *t, struct incident_stats *st);

#endif
