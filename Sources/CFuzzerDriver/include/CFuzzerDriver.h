#ifndef KLAMMER_CFUZZERDRIVER_H
#define KLAMMER_CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

/* libFuzzer's driver entry point (compiler-rt, linked by -sanitize=fuzzer). Declared here so that the fuzz
 * executables can call it from their SwiftPM entry point; only referenced in builds with KLAMMER_FUZZING. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
