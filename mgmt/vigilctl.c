/* vigilctl: the operator's command-line tool.
 *
 * Each command group lives in its own cmd_*.c; main() only dispatches. */
#include <stdio.h>
#include <string.h>

#include "mgmt/cmd_rules.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: vigilctl COMMAND ...\n"
            "  rules check [DIR]            load and compile parser packs and rules; report every error\n"
            "  rules test [DIR] FILE        show, for each log line of FILE, the parser, fields and rules that fire\n"
            "  rules compile [DIR] [-o FILE] compile once and write the compiled ruleset vigil-dp loads\n"
            "DIR is a configuration directory with parsers/, rules/ and fieldmap.yaml (default:\n"
            "/etc/vigil); --parsers DIR, --rules DIR and --fieldmap FILE override its parts.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "rules"))
        return cmd_rules(argc - 1, argv + 1);
    fprintf(stderr, "vigilctl: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
