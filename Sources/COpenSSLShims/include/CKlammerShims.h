#ifndef KLAMMER_SHIMS_H
#define KLAMMER_SHIMS_H
/* Prefixed C functions for OpenSSL macros and variadic APIs that Swift cannot import.
   Every function here is a thin, behaviour-free wrapper with the klammer_ prefix.
   Crypto shims live in klammer_crypto_shims.h/.c, TLS shims in klammer_tls_shims.h/.c. */
#include "klammer_crypto_shims.h"
#include "klammer_tls_shims.h"
#endif
