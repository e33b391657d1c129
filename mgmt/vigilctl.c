/* vigilctl: the operator's command-line tool.
 *
 * Each command group lives in its own cmd_*.c; main() only dispatches. */
#include <stdio.h>
#include <string.h>

#include "mgmt/cmd_query.h"
#include "mgmt/cmd_rules.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigilctl COMMAND ...\n"
            "  rules check [DIR]            load and compile parser packs and rules; report every error\n"
            "  rules test [DIR] FILE        show, for each log line of FILE, the parser, fields and rules that fire\n"
            "  rules compile [DIR] [-o FILE] compile once and write the compiled ruleset vigil-dp loads\n"
            "DIR is a configuration directory with parsers/, rules/ and fieldmap.yaml (default:\n"
            "/etc/vigil); --parsers DIR, --rules DIR and --fieldmap FILE override its parts.\n"
            "  alerts [show ID] [filters]   alerts in the store, newest first\n"
            "  incidents [show ID] [filters] incidents (attack chains), or one as a timeline\n"
            "  incidents ack ID | close ID  acknowledge or close an incident (vigil-cp must run)\n"
            "  entity ADDR                  what the store knows about an address\n"
            "  verify                       check the store's hash chain; names edited, deleted or moved records\n"
            "  status                       vigil-dp, vigil-cp, signal rings and store at a glance\n"
            "Queries read the store named by -c CONFIG (default /etc/vigil/vigil.yaml) or --store DIR;\n"
            "--json prints one JSON object per line.  vigilctl alerts --help lists the filters.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "rules"))
        return cmd_rules(argc - 1, argv + 1);
    static const char *const queries[] = {"alerts", "incidents", "entity", "verify", "status"};
    for (unsigned i = 0; i < sizeof queries / sizeof queries[0]; i++)
        if (!strcmp(argv[1], queries[i]))
            return cmd_query(queries[i], argc - 1, argv + 1);
    fprintf(stderr, "vigilctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
