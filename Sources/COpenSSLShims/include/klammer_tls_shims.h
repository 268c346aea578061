#ifndef KLAMMER_TLS_SHIMS_H
#define KLAMMER_TLS_SHIMS_H
#include <openssl/ssl.h>

#endif
