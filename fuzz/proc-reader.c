/* proc-reader SECONDS PID...: reads the links /proc/PID/fd/8 to /15 of
 * each PID in a loop, as ls -l or lsof would, for SECONDS.  Each read
 * holds a reference to the descriptor's file for a moment; a socket
 * closed by its process during that moment is released only when the
 * reader lets go.  Run beside fuzz-agent it shows what the harness's
 * await_late_hangups is for (docs/security.md, "Fuzzing"). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: proc-reader SECONDS PID...\n");
        return 2;
    }
    time_t end = time(NULL) + atoi(argv[1]);
    unsigned long reads = 0;
    char path[64], link[256];
    while (time(NULL) < end)
        for (int a = 2; a < argc; a++)
            for (int fd = 8; fd < 16; fd++) {
                snprintf(path, sizeof(path), "/proc/%s/fd/%d", argv[a], fd);
                reads += readlink(path, link, sizeof(link)) > 0;
            }
    printf("%lu links read\n", reads);
    return 0;
}
