/* cli.c — what decobench's subcommands share in parsing their options
 * (conventions in cli.h). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>

int db_cli_bad_option(const char *verb, int c, char **argv) {
    if (c == ':')
        fprintf(stderr, "decobench %s: %s: option needs a value (see --help)\n", verb, argv[optind - 1]);
    else if (optopt)
        fprintf(stderr, "decobench %s: -%c: unknown option (see --help)\n", verb, optopt);
    else
        fprintf(stderr, "decobench %s: %s: unknown option (see --help)\n", verb, argv[optind - 1]);
    return 2;
}
