/* A shared object without the entry symbol: must be refused. */
#include "vmaccel/plugin.h"

VMACCEL_PLUGIN_EXPORT int not_a_vmaccel_plugin(void) {
    return 42;
}
