#ifndef KLAMMER_TLS_SHIMS_H
#define KLAMMER_TLS_SHIMS_H
#include <openssl/ssl.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stddef.h>

/* Thin wrappers for OpenSSL TLS macros that Swift cannot import. No behaviour of their own. */

int klammer_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int klammer_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
uint64_t klammer_SSL_CTX_set_options(SSL_CTX *ctx, uint64_t options);
long klammer_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
int klammer_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
int klammer_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list);
int klammer_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list);
long klammer_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
int klammer_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *cert);
int klammer_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
int klammer_SSL_session_reused(const SSL *ssl);

size_t klammer_BIO_pending(BIO *bio);
void klammer_BIO_set_mem_eof_return(BIO *bio, int value);

/* Option and mode constants (macros with casts Swift may not import). */
uint64_t klammer_SSL_OP_NO_COMPRESSION(void);
uint64_t klammer_SSL_OP_NO_RENEGOTIATION(void);
uint64_t klammer_SSL_OP_NO_TICKET(void);
uint64_t klammer_SSL_OP_CIPHER_SERVER_PREFERENCE(void);
uint64_t klammer_SSL_OP_NO_TLSv1_2_AND_LOWER(void);
long klammer_SSL_MODE_RELEASE_BUFFERS(void);
long klammer_SSL_SESS_CACHE_OFF(void);

/* The ALPN selection callback type, spelled out for Swift. */
typedef int (*klammer_alpn_select_cb)(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                                      const unsigned char *in, unsigned int inlen, void *arg);
void klammer_SSL_CTX_set_alpn_select_cb(SSL_CTX *ctx, klammer_alpn_select_cb cb, void *arg);
/* Server: refuse a ClientHello without the ALPN extension with a fatal no_application_protocol alert. */
void klammer_SSL_CTX_require_alpn_extension(SSL_CTX *ctx);

/* A BIO that moves ciphertext with one copy in each direction (a memory BIO pair costs two, plus reallocs).
 * Reads come from a borrowed input region that Swift sets around each SSL call and whose consumed prefix it then
 * drops; writes go into a borrowed output region (Swift's outbound ByteBuffer) when one is set and has room,
 * otherwise into an owned spill buffer that Swift drains in order. Single-threaded, like the SSL it belongs to. */
BIO *klammer_bio_new(void);
void klammer_bio_set_input(BIO *bio, const void *bytes, size_t count);
size_t klammer_bio_input_consumed(BIO *bio);
void klammer_bio_set_output(BIO *bio, void *bytes, size_t capacity);
size_t klammer_bio_take_output(BIO *bio);
size_t klammer_bio_spill_pending(BIO *bio);
size_t klammer_bio_drain_spill(BIO *bio, void *out, size_t capacity);

#endif
