/* The library's own version, compiled in from the generated version.h: what
 * a program gets at run time, whatever headers it was built with. */
#include "vmaccel/version.h"

unsigned int vmaccel_version(void) {
    return VMACCEL_VERSION_HEX;
}

const char *vmaccel_version_string(void) {
    return VMACCEL_VERSION_STRING;
}
