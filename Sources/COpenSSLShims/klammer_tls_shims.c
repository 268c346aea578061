#include "klammer_tls_shims.h"
#include <openssl/err.h>

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

/* ALPN required: a ClientHello without the ALPN extension never reaches the ALPN select callback, so it is refused
 * here, in the handshake, with a fatal no_application_protocol alert (RFC 7301 §3.2) — a client sees a refusal it can
 * classify instead of a connection dropped after the handshake. The error names the reason for the server's log. */
static int klammer_require_alpn_cb(SSL *ssl, int *alert, void *arg) {
    (void)arg;
    const unsigned char *data = NULL;
    size_t length = 0;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &length) == 1) {
        return SSL_CLIENT_HELLO_SUCCESS;
    }
    ERR_raise(ERR_LIB_SSL, SSL_R_NO_APPLICATION_PROTOCOL);
    *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
    return SSL_CLIENT_HELLO_ERROR;
}

void klammer_SSL_CTX_require_alpn_extension(SSL_CTX *ctx) {
    SSL_CTX_set_client_hello_cb(ctx, klammer_require_alpn_cb, NULL);
}

/* ---- klammer_bio: see the header ---- */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

typedef struct {
    const unsigned char *in;
    size_t in_len, in_used;
    unsigned char *out;
    size_t out_cap, out_len;
    unsigned char *spill;
    size_t spill_len, spill_cap;
} klammer_bio_state;

static int kb_write(BIO *bio, const char *data, int len) {
    klammer_bio_state *st = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    size_t n = (size_t)len;
    /* Once anything is spilled, everything after it spills too, so that order is kept. */
    if (st->spill_len == 0 && st->out != NULL && st->out_cap - st->out_len >= n) {
        memcpy(st->out + st->out_len, data, n);
        st->out_len += n;
        return len;
    }
    if (st->spill_cap - st->spill_len < n) {
        size_t cap = st->spill_cap ? st->spill_cap : 4096;
        while (cap - st->spill_len < n) {
            if (cap > SIZE_MAX / 2) return -1;
            cap *= 2;
        }
        unsigned char *grown = realloc(st->spill, cap);
        if (grown == NULL) return -1;
        st->spill = grown;
        st->spill_cap = cap;
    }
    memcpy(st->spill + st->spill_len, data, n);
    st->spill_len += n;
    return len;
}

static int kb_read(BIO *bio, char *out, int len) {
    klammer_bio_state *st = BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    if (len <= 0) return 0;
    size_t available = st->in ? st->in_len - st->in_used : 0;
    if (available == 0) {
        BIO_set_retry_read(bio);  /* "want more", never EOF: the handler decides about EOF */
        return -1;
    }
    size_t n = available < (size_t)len ? available : (size_t)len;
    memcpy(out, st->in + st->in_used, n);
    st->in_used += n;
    return (int)n;
}

static long kb_ctrl(BIO *bio, int cmd, long num, void *ptr) {
    (void)num; (void)ptr;
    klammer_bio_state *st = BIO_get_data(bio);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;
    case BIO_CTRL_PENDING: return st && st->in ? (long)(st->in_len - st->in_used) : 0;
    case BIO_CTRL_WPENDING: return st ? (long)st->spill_len : 0;
    default: return 0;
    }
}

static int kb_create(BIO *bio) {
    klammer_bio_state *st = calloc(1, sizeof(klammer_bio_state));
    if (st == NULL) return 0;
    BIO_set_data(bio, st);
    BIO_set_init(bio, 1);
    return 1;
}

static int kb_destroy(BIO *bio) {
    klammer_bio_state *st = BIO_get_data(bio);
    if (st) {
        free(st->spill);
        free(st);
    }
    BIO_set_data(bio, NULL);
    return 1;
}

static BIO_METHOD *kb_method = NULL;
static pthread_once_t kb_once = PTHREAD_ONCE_INIT;

static void kb_init_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "klammer ciphertext");
    if (m == NULL) return;
    BIO_meth_set_write(m, kb_write);
    BIO_meth_set_read(m, kb_read);
    BIO_meth_set_ctrl(m, kb_ctrl);
    BIO_meth_set_create(m, kb_create);
    BIO_meth_set_destroy(m, kb_destroy);
    kb_method = m;  /* lives as long as the process */
}

BIO *klammer_bio_new(void) {
    pthread_once(&kb_once, kb_init_method);
    return kb_method ? BIO_new(kb_method) : NULL;
}

void klammer_bio_set_input(BIO *bio, const void *bytes, size_t count) {
    klammer_bio_state *st = BIO_get_data(bio);
    st->in = bytes;
    st->in_len = bytes ? count : 0;
    st->in_used = 0;
}

size_t klammer_bio_input_consumed(BIO *bio) {
    klammer_bio_state *st = BIO_get_data(bio);
    return st->in_used;
}

void klammer_bio_set_output(BIO *bio, void *bytes, size_t capacity) {
    klammer_bio_state *st = BIO_get_data(bio);
    st->out = bytes;
    st->out_cap = bytes ? capacity : 0;
    st->out_len = 0;
}

size_t klammer_bio_take_output(BIO *bio) {
    klammer_bio_state *st = BIO_get_data(bio);
    size_t n = st->out_len;
    st->out = NULL;
    st->out_cap = 0;
    st->out_len = 0;
    return n;
}

size_t klammer_bio_spill_pending(BIO *bio) {
    klammer_bio_state *st = BIO_get_data(bio);
    return st->spill_len;
}

size_t klammer_bio_drain_spill(BIO *bio, void *out, size_t capacity) {
    klammer_bio_state *st = BIO_get_data(bio);
    size_t n = st->spill_len < capacity ? st->spill_len : capacity;
    memcpy(out, st->spill, n);
    memmove(st->spill, st->spill + n, st->spill_len - n);
    st->spill_len -= n;
    if (st->spill_len == 0 && st->spill_cap > 256 * 1024) {  /* don't keep a large spill buffer per connection */
        free(st->spill);
        st->spill = NULL;
        st->spill_cap = 0;
    }
    return n;
}
