#ifndef KLAMMER_CRC32C_H
#define KLAMMER_CRC32C_H
#include <stddef.h>
#include <stdint.h>

/* CRC32C with the CPU's CRC32 instruction (x86-64 SSE4.2), for KlammerStore's record and blob checksums.
 * Same convention as the Swift fallback: start with crc = 0, feed the result of one call into the next. */

/* 1 when klammer_crc32c_hw may be called on this CPU, else 0. */
int klammer_crc32c_hw_available(void);
uint32_t klammer_crc32c_hw(uint32_t crc, const void *bytes, size_t count);

#endif
