/* vmaccel — version and export macros. */
#ifndef VMACCEL_VERSION_H
#define VMACCEL_VERSION_H

#define VMACCEL_VERSION_MAJOR 0
#define VMACCEL_VERSION_MINOR 1
#define VMACCEL_VERSION_PATCH 0
#define VMACCEL_VERSION_STRING "0.1.0"

#if defined(__GNUC__)
#define VMACCEL_API __attribute__((visibility("default")))
#else
#define VMACCEL_API
#endif

#endif
