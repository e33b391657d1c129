/* Incidents: the alerts about one entity (by default the attacker's source
 * address) that form one attack chain, ordered, with the ATT&CK tactics
 * reached and a severity rank.
 *
 * An incident opens when an entity gets an alert at or above min_level (or
 * any correlation alert); the entity's earlier low alerts (the last few, kept
 * per entity) join it first, so a chain that starts with a quiet port scan
 * starts there.  Alerts join an open incident until window_ns of event time
 * passes without one; then it is closed (a new version with status closed,
 * so retention can prune it) and the next alert opens a new incident.
 * "Now" for closing is the newest alert time the tracker has seen, so
 * replayed traffic closes incidents as live traffic would.
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
    uint64_t opened, updated, closed, entities_evicted, alerts_without_entity;
    uint32_t entities;
};

struct incident_tracker;

struct incident_tracker *incident_tracker_new(const struct incident_config *c);
void incident_tracker_free(struct incident_tracker *t);

/* Where new incidents get their ids (vigil-cp: the store). */
typedef uint64_t (*incident_id_fn)(void *ctx);

/* Incident versions one call may produce: an evicted entity's incident
 * closed, the entity's quiet incident closed, the new or extended one. */
#define INCIDENT_MAX_VERSIONS 3

/* Offers an alert (already emitted, with its id).  Writes the incident
 * versions it causes into out[] (the caller stores them, in order) and
 * returns how many.  When the alert opens or extends an incident,
 * a->incident_id is set and that incident is the last version written; an
 * opened incident gets id alloc(ctx). */
unsigned incident_add_alert(struct incident_tracker *t, struct vigil_alert *a, incident_id_fn alloc, void *ctx,
                            struct vigil_incident out[INCIDENT_MAX_VERSIONS]);

/* Closes incidents whose entity has been quiet for window_ns (against the
 * newest alert time seen), looking at no more than max_work of the least
 * recently active entities.  Writes the closed versions into out[0..cap)
 * and returns how many. */
unsigned incident_close_quiet(struct incident_tracker *t, unsigned max_work, struct vigil_incident *out,
                              unsigned cap);

/* An operator acknowledged (INCIDENT_ACKNOWLEDGED: it stays open to new
 * alerts) or closed (INCIDENT_CLOSED) incident id.  When the tracker holds
 * it, writes the new version into *out and returns 1; 0 when it does not
 * hold it (the caller updates the stored record); -1 when the change makes
 * no sense (it is closed already). */
int incident_set_status(struct incident_tracker *t, uint64_t id, uint8_t status, struct vigil_incident *out);

/* Puts an open incident read back from the store under tracking again (a
 * vigil-cp restart), so its entity's next alerts extend it.  Give them
 * newest first: an entity already tracked keeps the incident it has. */
void incident_restore(struct incident_tracker *t, const struct vigil_incident *inc, int64_t last_alert_ns);

/* The kill-chain phase of a tactics mask (1 reconnaissance .. 4 objectives;
 * 0 none) and the rank and label of an incident: exposed for tests and for
 * vigilctl's explanations. */
unsigned incident_phase(uint32_t tactics);
const char *incident_label(unsigned rank);

void incident_stats(const struct incident_tracker *t, struct incident_stats *st);

#endif
