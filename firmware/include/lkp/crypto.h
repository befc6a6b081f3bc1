/*
 * The crypto the protocol needs: HMAC-SHA-256, HKDF-SHA-256 (RFC 5869) and
 * AES-128-CCM (RFC 3610, M = 16, L = 2, 13-byte nonce), built on two
 * primitives a port provides: SHA-256 and one AES-128 block encryption.
 *
 * The reference backend (src/crypto_mbedtls.c) uses mbedTLS's heap-free
 * sha256 and aes modules. mbedTLS's own CCM and MD (HMAC) modules are not
 * used because they allocate their contexts with mbedtls_calloc; a PSA
 * Crypto port (psa_hash_compute + psa_cipher_encrypt with PSA_ALG_ECB_NO_PADDING,
 * or psa_aead_encrypt with PSA_ALG_CCM directly) replaces only that file.
 */
#ifndef LKP_CRYPTO_H
#define LKP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#if defined(LKP_CRYPTO_PSA)
#include <psa/crypto.h>
typedef struct {
    psa_key_id_t key;
} lkp_aes_t;
#elif defined(LKP_SIZE_BUILD)
/* Size measurement of the core alone: the backend's context is opaque. */
typedef struct {
    uint32_t opaque[70];
} lkp_aes_t;
#else
#include <mbedtls/aes.h>
typedef mbedtls_aes_context lkp_aes_t;
#endif

typedef struct lkp_part {
    const uint8_t *p;
    size_t n;
} lkp_part_t;

#define LKP_SHA256_SIZE 32u
#define LKP_CCM_TAG 16u
#define LKP_CCM_NONCE 13u

/* Backend primitives. */
int lkp_sha256(const lkp_part_t *parts, size_t nparts, uint8_t out[LKP_SHA256_SIZE]);
int lkp_aes_init(lkp_aes_t *aes, const uint8_t key[16]);
int lkp_aes_block(lkp_aes_t *aes, const uint8_t in[16], uint8_t out[16]);
void lkp_aes_free(lkp_aes_t *aes);

/* Generic constructions (src/crypto.c). nparts <= 4. */
int lkp_hmac_sha256(const uint8_t *key, size_t key_len, const lkp_part_t *parts, size_t nparts,
                    uint8_t out[LKP_SHA256_SIZE]);
/* In place: buf holds the plaintext on entry and the ciphertext on return. */
int lkp_ccm_seal(const uint8_t key[16], const uint8_t nonce[LKP_CCM_NONCE], const uint8_t *aad,
                 size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[LKP_CCM_TAG]);
/* In place; 0 = authentic (buf is the plaintext), < 0 = forged (buf zeroed). */
int lkp_ccm_open(const uint8_t key[16], const uint8_t nonce[LKP_CCM_NONCE], const uint8_t *aad,
                 size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[LKP_CCM_TAG]);
/* 1 if equal; time depends only on len. */
int lkp_ct_equal(const uint8_t *a, const uint8_t *b, size_t len);
void lkp_wipe(void *p, size_t len);

#endif
