#include "klammer_tls_shims.h"

int klammer_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
int klammer_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
uint64_t klammer_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options) { return (uint64_t)SSL_CTX_set_options(ctx, options); }
long klammer_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
int klammer_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
int klammer_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_sigalgs_list(ctx, list); }
int klammer_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_client_sigalgs_list(ctx, list); }
long klammer_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
int klammer_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert) { return (int)SSL_CTX_add1_chain_cert(ctx, cert); }
int klammer_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
int klammer_SSL_session_reused(const SSL *ssl) { return (int)SSL_session_reused((SSL *)ssl); }

size_t klammer_BIO_pending(BIO *bio) { return (size_t)BIO_pending(bio); }
void klammer_BIO_set_mem_eof_return(BIO *bio, int value) { (void)BIO_set_mem_eof_return(bio, value); }

uint64_t klammer_SSL_OP_NO_COMPRESSION(void) { return (uint64_t)SSL_OP_NO_COMPRESSION; }
uint64_t klammer_SSL_OP_NO_RENEGOTIATION(void) { return (uint64_t)SSL_OP_NO_RENEGOTIATION; }
uint64_t klammer_SSL_OP_NO_TICKET(void) { return (uint64_t)SSL_OP_NO_TICKET; }
uint64_t klammer_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return (uint64_t)SSL_OP_CIPHER_SERVER_PREFERENCE; }
uint64_t klammer_SSL_OP_NO_TLSv1_2_AND_LOWER(void) { return (uint64_t)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1); }
long klammer_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
long klammer_SSL_SESS_CACHE_OFF(void) { return SSL_SESS_CACHE_OFF; }

void klammer_SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, klammer_alpn_select_cb cb, void *arg) {
    SSL_CTX_set_alpn_select_cb(ctx, cb, arg);
}
