#ifndef KLAMMER_CRYPTO_SHIMS_H
#define KLAMMER_CRYPTO_SHIMS_H
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/cms.h>
#include <openssl/bio.h>
#include <openssl/evp.h>

/* Returns OPENSSL_VERSION_NUMBER of the linked library. */
unsigned long klammer_openssl_version_number(void);

/* OPENSSL_free is a macro. */
void klammer_openssl_free(void *ptr);

/* BIO_get_mem_data is a macro: returns the length, sets *data to the (borrowed) buffer. */
long klammer_bio_get_mem_data(BIO *bio, const char **data);

/* XN_FLAG_RFC2253 without ASN1_STRFLGS_ESC_MSB: RFC 2253 order and escaping, but UTF-8 stays UTF-8
   (German names with umlauts print readably instead of as \C3\BC). */
unsigned long klammer_xn_flags_rfc2253_utf8(void);

/* MBSTRING_UTF8 is a composed macro. */
int klammer_mbstring_utf8(void);

/* True if the last error on the queue is PEM "no start line", i.e. a PEM reader reached the end of input. */
int klammer_err_last_is_pem_no_start_line(void);

/* PEM_read_bio_PrivateKey with a passphrase callback that never prompts on a terminal:
   pass == NULL makes reading an encrypted key fail instead of blocking on stdin. */
EVP_PKEY *klammer_pem_read_private_key(BIO *bio, const char *pass);

/* X509V3_set_ctx_nodb is a macro: build one extension from its config-string form
   (e.g. "critical,CA:TRUE") with issuer/subject context and add it. Returns 1 on success. */
int klammer_x509_add_ext_conf(X509 *cert, X509 *issuer, int nid, const char *value);
int klammer_x509_crl_add_ext_conf(X509_CRL *crl, X509 *issuer, int nid, const char *value);

/* STACK_OF(...) accessors are macros. */
int klammer_sk_GENERAL_NAME_num(const GENERAL_NAMES *names);
GENERAL_NAME *klammer_sk_GENERAL_NAME_value(const GENERAL_NAMES *names, int i);
STACK_OF(X509) *klammer_sk_X509_new_null(void);
int klammer_sk_X509_push(STACK_OF(X509) *stack, X509 *cert);
int klammer_sk_X509_num(const STACK_OF(X509) *stack);
X509 *klammer_sk_X509_value(const STACK_OF(X509) *stack, int i);
void klammer_sk_X509_free(STACK_OF(X509) *stack);          /* shallow: does not free the certificates */
void klammer_sk_X509_pop_free(STACK_OF(X509) *stack);      /* deep: X509_free on every element */
int klammer_sk_X509_CRL_num(const STACK_OF(X509_CRL) *stack);
void klammer_sk_X509_CRL_pop_free(STACK_OF(X509_CRL) *stack);  /* deep: X509_CRL_free on every element */
int klammer_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *stack);
X509_REVOKED *klammer_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *stack, int i);
int klammer_sk_CMS_SignerInfo_num(STACK_OF(CMS_SignerInfo) *stack);
CMS_SignerInfo *klammer_sk_CMS_SignerInfo_value(STACK_OF(CMS_SignerInfo) *stack, int i);
int klammer_sk_CMS_RecipientInfo_num(STACK_OF(CMS_RecipientInfo) *stack);
CMS_RecipientInfo *klammer_sk_CMS_RecipientInfo_value(STACK_OF(CMS_RecipientInfo) *stack, int i);
int klammer_sk_CMS_RecipientEncryptedKey_num(STACK_OF(CMS_RecipientEncryptedKey) *stack);
CMS_RecipientEncryptedKey *klammer_sk_CMS_RecipientEncryptedKey_value(STACK_OF(CMS_RecipientEncryptedKey) *stack, int i);
/* BIO_flush is a macro. */
int klammer_bio_flush(BIO *bio);

#endif
