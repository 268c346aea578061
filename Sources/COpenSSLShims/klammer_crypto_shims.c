#include "klammer_crypto_shims.h"
#include <openssl/crypto.h>

unsigned long klammer_openssl_version_number(void) {
    return OpenSSL_version_num();
}
