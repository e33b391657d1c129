/* Log sources, Sigma style: which product, service and category an event
 * comes from ({product: linux, service: sshd}, {category: webserver}).
 *
 * Parsers give each event a log source; detection rules name the log source
 * they apply to.  A rule applies to an event when every key the rule sets is
 * equal (case-insensitively) in the event's log source: {product: linux}
 * covers {product: linux, service: sshd}.  Ids are small integers; id 0 is
 * the empty log source (unparsed events of unknown programs).
 */
#ifndef VIGIL_ENGINE_LOGSOURCE_H
#define VIGIL_ENGINE_LOGSOURCE_H

#include <stdbool.h>
#include <stdint.h>

#define LOGSOURCE_MAX     256
#define LOGSOURCE_KEY_MAX 48

struct logsource {
    char product[LOGSOURCE_KEY_MAX];    /* "" when not set */
    char service[LOGSOURCE_KEY_MAX];
    char category[LOGSOURCE_KEY_MAX];
};

struct logsource_table;

struct logsource_table *logsource_table_new(void);   /* holds the empty log source as id 0 */
void logsource_table_free(struct logsource_table *t);
/* Id of ls (keys compared case-insensitively), adding it if new; -1 when full. */
int logsource_intern(struct logsource_table *t, const struct logsource *ls, uint16_t *id);
const struct logsource *logsource_get(const struct logsource_table *t, uint16_t id);
unsigned logsource_count(const struct logsource_table *t);
/* Does a rule written for `rule` apply to events of `event`? */
bool logsource_applies(const struct logsource *rule, const struct logsource *event);
/* "product=linux service=sshd" style, for messages. */
void logsource_format(const struct logsource *ls, char *buf, unsigned cap);

#endif
