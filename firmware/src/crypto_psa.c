/* Crypto primitives on the PSA Crypto API (-DLKP_CRYPTO_PSA): SHA-256 with a
 * multi-part hash operation, the AES block as a one-block ECB encryption under
 * a volatile key. With a hardware driver behind PSA (CC3xx / CryptoCell, TF-M)
 * the session key lives in a key slot and the block runs in hardware; the
 * host build links Debian's mbedTLS 2.28 implementation of PSA, whose key
 * slots are allocated on its heap (a port's driver decides that, not the core). */
#include "lkp/crypto.h"

#if defined(LKP_CRYPTO_PSA)

static int psa_ready(void)
{
    /* psa_crypto_init is idempotent; a port may call it at boot instead. */
    return psa_crypto_init() == PSA_SUCCESS ? 0 : -1;
}

int lkp_sha256(const lkp_part_t *parts, size_t nparts, uint8_t out[LKP_SHA256_SIZE])
{
    psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
    size_t i, len = 0;
    psa_status_t st;

    if (psa_ready() != 0) {
        return -1;
    }
    st = psa_hash_setup(&op, PSA_ALG_SHA_256);
    for (i = 0; st == PSA_SUCCESS && i < nparts; i++) {
        if (parts[i].n) {
            st = psa_hash_update(&op, parts[i].p, parts[i].n);
        }
    }
    if (st == PSA_SUCCESS) {
        st = psa_hash_finish(&op, out, LKP_SHA256_SIZE, &len);
    }
    if (st != PSA_SUCCESS) {
        (void)psa_hash_abort(&op);
        return -1;
    }
    return len == LKP_SHA256_SIZE ? 0 : -1;
}

int lkp_aes_init(lkp_aes_t *aes, const uint8_t key[16])
{
    psa_key_attributes_t attr = PSA_KEY_ATTRIBUTES_INIT;
    psa_status_t st;

    aes->key = 0;
    if (psa_ready() != 0) {
        return -1;
    }
    psa_set_key_type(&attr, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&attr, 128);
    psa_set_key_usage_flags(&attr, PSA_KEY_USAGE_ENCRYPT);
    psa_set_key_algorithm(&attr, PSA_ALG_ECB_NO_PADDING);
    st = psa_import_key(&attr, key, 16, &aes->key);
    psa_reset_key_attributes(&attr);
    return st == PSA_SUCCESS ? 0 : -1;
}

int lkp_aes_block(lkp_aes_t *aes, const uint8_t in[16], uint8_t out[16])
{
    size_t len = 0;
    psa_status_t st = psa_cipher_encrypt(aes->key, PSA_ALG_ECB_NO_PADDING, in, 16, out, 16, &len);
    return st == PSA_SUCCESS && len == 16 ? 0 : -1;
}

void lkp_aes_free(lkp_aes_t *aes)
{
    (void)psa_destroy_key(aes->key);
    aes->key = 0;
}

#else
typedef int lkp_crypto_psa_unused; /* ISO C forbids an empty translation unit */
#endif
