/* Argument parsing shared by the commands.  Every refusal names the
 * argument and what is wrong with it, then shows the usage line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_u64(const char *s, unsigned long long min, unsigned long long max,
                  unsigned long long *out) {
    char *end;
    if (!s || !*s)
        return -EINVAL;
    const char *digits = s[0] == '-' || s[0] == '+' ? s + 1 : s;
    if (*digits < '0' || *digits > '9')
        return -EINVAL; /* strtoull would skip spaces and accept "-" */
    errno = 0;
    unsigned long long v = strtoull(digits, &end, 10);
    if (*end)
        return -EINVAL;
    if (errno || s[0] == '-' || v < min || v > max)
        return -ERANGE; /* negative, or too large for any range */
    *out = v;
    return 0;
}

bool cli_is_option(const char *arg) {
    return arg[0] == '-' && arg[1] != '\0';
}

const char *cli_opt_value(const cli *c, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_bad_usage(c, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_opt_u64(const cli *c, int argc, char **argv, int *i, unsigned long long min,
                unsigned long long max, unsigned long long *out) {
    const char *opt = argv[*i], *v = cli_opt_value(c, argc, argv, i);
    if (!v)
        return 2;
    int r = cli_parse_u64(v, min, max, out);
    if (r == -EINVAL)
        return cli_bad_usage(c, "%s '%s': not a whole number (want %llu..%llu)", opt, v, min, max);
    if (r == -ERANGE)
        return cli_bad_usage(c, "%s %s: out of range (want %llu..%llu)", opt, v, min, max);
    return 0;
}

int cli_bad_arg(const cli *c, const char *arg) {
    if (cli_is_option(arg))
        return cli_bad_usage(c, "unknown option '%s'", arg);
    return cli_bad_usage(c, "unexpected argument '%s'", arg);
}
