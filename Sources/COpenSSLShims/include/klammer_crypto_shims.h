#ifndef KLAMMER_CRYPTO_SHIMS_H
#define KLAMMER_CRYPTO_SHIMS_H
#include <openssl/x509.h>
#include <openssl/cms.h>

/* Returns OPENSSL_VERSION_NUMBER of the linked library. */
unsigned long klammer_openssl_version_number(void);

#endif
