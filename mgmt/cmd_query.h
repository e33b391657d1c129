/* vigilctl's store queries: alerts, incidents, entity, verify, status.
 * Read-only: they open the LMDB store read-only and never wait on vigil-cp. */
#ifndef VIGIL_MGMT_CMD_QUERY_H
#define VIGIL_MGMT_CMD_QUERY_H

/* what is "alerts", "incidents", "entity", "verify" or "status"; argv[0] is
 * the command name.  Returns the process exit code. */
int cmd_query(const char *what, int argc, char **argv);

#endif
