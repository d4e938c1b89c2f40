/* vmacceld's command line. */
#ifndef VMACCEL_AGENT_OPTIONS_H
#define VMACCEL_AGENT_OPTIONS_H

#include "agent.h"

typedef struct agent_options {
    const char *config; /* --config FILE, or NULL */
    const char *listen[AGENT_LISTEN_MAX];
    int n_listen;
    const char *admin; /* --admin ADDR, or NULL */
    long workers;      /* --workers N, or 0 */
    const char *user;  /* --user NAME, or NULL */
    long vm_region_mb; /* --vm-region MB, or -1 */
} agent_options;

/* What main() does after parsing. */
enum { OPTIONS_RUN = -1, OPTIONS_EXIT_OK = 0, OPTIONS_EXIT_USAGE = 2 };

/* Parses argv into *o.  --help and --version print to stdout and return
 * OPTIONS_EXIT_OK; a bad option or value is explained on stderr and
 * returns OPTIONS_EXIT_USAGE; otherwise OPTIONS_RUN.  The strings in *o
 * point into argv. */
int agent_options_parse(int argc, char **argv, agent_options *o);

#endif
