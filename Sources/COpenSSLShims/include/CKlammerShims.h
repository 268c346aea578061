#ifndef KLAMMER_SHIMS_H
#define KLAMMER_SHIMS_H
/* Prefixed C functions for OpenSSL macros and variadic APIs that Swift cannot import.
   Every function here is a thin, behaviour-free wrapper; add new ones with the klammer_ prefix. */
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/cms.h>

/* Version check: returns OPENSSL_VERSION_NUMBER of the linked library. */
unsigned long klammer_openssl_version_number(void);

#endif
