// CRC-32C (Castagnoli), the checksum of every record in the message store. Uses the SSE4.2
// crc32 instruction when the CPU has it (about 20 times faster than a table), else a table.
#ifndef BROKER_CRC32C_H
#define BROKER_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Continues `crc` (0 to start) over `length` bytes at `data`.
uint32_t broker_crc32c(uint32_t crc, const void *data, size_t length);

#endif
