/* cli.h — decobench's subcommands, one cmd_<verb>() each (dispatched by
 * harness/cli/main.c), and the option conventions they share.
 *
 * Each cmd_* gets argv with argv[0] = the verb, parses its own options with
 * getopt_long, prints `--help` text to stdout, and returns the process exit
 * status: 0 success, 1 failure of the work itself (e.g. a regression found),
 * 2 bad usage or bad input (after one line "decobench VERB: INPUT: problem"
 * on stderr).
 */
#ifndef DECOBENCH_CLI_H
#define DECOBENCH_CLI_H

#define DB_DEFAULT_DB "decobench.db"
#define DB_DEFAULT_SUITE "suites/smoke.json"

/* getopt_long's error return (c is ':' for a missing value, '?' for an
 * unknown option, run with opterr = 0 and a leading ':' in optstring):
 * prints "decobench VERB: OPTION: ..." and returns exit status 2. */
int db_cli_bad_option(const char *verb, int c, char **argv);

int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_json2gbnf(int argc, char **argv);
int cmd_export_lattice(int argc, char **argv);
int cmd_fetch(int argc, char **argv);

#endif
