#include "klammer_crypto_shims.h"
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

unsigned long klammer_openssl_version_number(void) {
    return OpenSSL_version_num();
}

void klammer_openssl_free(void *ptr) {
    OPENSSL_free(ptr);
}

long klammer_bio_get_mem_data(BIO *bio, const char **data) {
    char *p = NULL;
    long n = BIO_get_mem_data(bio, &p);
    *data = p;
    return n;
}

unsigned long klammer_xn_flags_rfc2253_utf8(void) {
    return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
}

int klammer_mbstring_utf8(void) {
    return MBSTRING_UTF8;
}

int klammer_err_last_is_pem_no_start_line(void) {
    unsigned long e = ERR_peek_last_error();
    return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

static int klammer_pass_cb(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    if (u == NULL) return -1; /* no passphrase given: fail, never prompt */
    size_t n = strlen((const char *)u);
    if (n > (size_t)size) return -1;
    memcpy(buf, u, n);
    return (int)n;
}

EVP_PKEY *klammer_pem_read_private_key(BIO *bio, const char *pass) {
    return PEM_read_bio_PrivateKey(bio, NULL, klammer_pass_cb, (void *)pass);
}

int klammer_x509_add_ext_conf(X509 *cert, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

int klammer_x509_crl_add_ext_conf(X509_CRL *crl, X509 *issuer, int nid, const char *value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL) return 0;
    int ok = X509_CRL_add_ext(crl, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

int klammer_sk_GENERAL_NAME_num(const GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
GENERAL_NAME *klammer_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int i) { return sk_GENERAL_NAME_value(names, i); }
STACK_OF(X509) *klammer_sk_X509_new_null(void) { return sk_X509_new_null(); }
int klammer_sk_X509_push(STACK_OF(X509) *stack, X509 *cert) { return sk_X509_push(stack, cert); }
int klammer_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *klammer_sk_X509_value(const STACK_OF(X509) *stack, int i) { return sk_X509_value(stack, i); }
void klammer_sk_X509_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }
void klammer_sk_X509_pop_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }
int klammer_sk_X509_CRL_num(const STACK_OF(X509_CRL) *stack) { return sk_X509_CRL_num(stack); }
void klammer_sk_X509_CRL_pop_free(STACK_OF(X509_CRL) *stack) { sk_X509_CRL_pop_free(stack, X509_CRL_free); }
int klammer_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *stack) { return sk_X509_REVOKED_num(stack); }
X509_REVOKED *klammer_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *stack, int i) { return sk_X509_REVOKED_value(stack, i); }
int klammer_sk_CMS_SignerInfo_num(STACK_OF(CMS_SignerInfo) *stack) { return sk_CMS_SignerInfo_num(stack); }
CMS_SignerInfo *klammer_sk_CMS_SignerInfo_value(STACK_OF(CMS_SignerInfo) *stack, int i) { return sk_CMS_SignerInfo_value(stack, i); }
int klammer_sk_CMS_RecipientInfo_num(STACK_OF(CMS_RecipientInfo) *stack) { return sk_CMS_RecipientInfo_num(stack); }
CMS_RecipientInfo *klammer_sk_CMS_RecipientInfo_value(STACK_OF(CMS_RecipientInfo) *stack, int i) { return sk_CMS_RecipientInfo_value(stack, i); }
int klammer_sk_CMS_RecipientEncryptedKey_num(STACK_OF(CMS_RecipientEncryptedKey) *stack) { return sk_CMS_RecipientEncryptedKey_num(stack); }
CMS_RecipientEncryptedKey *klammer_sk_CMS_RecipientEncryptedKey_value(STACK_OF(CMS_RecipientEncryptedKey) *stack, int i) { return sk_CMS_RecipientEncryptedKey_value(stack, i); }
int klammer_bio_flush(BIO *bio) { return (int)BIO_flush(bio); }
