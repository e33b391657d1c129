/* vigilctl rules ...: offline tools for parser packs and rule files.
 * No running appliance is needed: they load and compile the sources the way
 * vigil-dp does. */
#ifndef VIGIL_MGMT_CMD_RULES_H
#define VIGIL_MGMT_CMD_RULES_H

/* argv[0] is "rules".  Returns the process exit code. */
int cmd_rules(int argc, char **argv);

#endif
