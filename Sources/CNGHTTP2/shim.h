// Shim for the system libnghttp2 (Debian libnghttp2-dev, 1.52): the only C entry point.
#ifndef BROKER_CNGHTTP2_SHIM_H
#define BROKER_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
