/* Crypto primitives on mbedTLS (2.28 and 3.x): sha256 and aes only, which
 * keep their state in caller-provided contexts (no mbedtls_calloc). */
#include "lkp/crypto.h"

#if !defined(LKP_CRYPTO_PSA)

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_NUMBER < 0x03000000
#define lkp_sha256_starts(c) mbedtls_sha256_starts_ret((c), 0)
#define lkp_sha256_update(c, p, n) mbedtls_sha256_update_ret((c), (p), (n))
#define lkp_sha256_finish(c, o) mbedtls_sha256_finish_ret((c), (o))
#else
#define lkp_sha256_starts(c) mbedtls_sha256_starts((c), 0)
#define lkp_sha256_update(c, p, n) mbedtls_sha256_update((c), (p), (n))
#define lkp_sha256_finish(c, o) mbedtls_sha256_finish((c), (o))
#endif

int lkp_sha256(const lkp_part_t *parts, size_t nparts, uint8_t out[LKP_SHA256_SIZE])
{
    mbedtls_sha256_context ctx;
    size_t i;
    int rc;

    mbedtls_sha256_init(&ctx);
    rc = lkp_sha256_starts(&ctx);
    for (i = 0; rc == 0 && i < nparts; i++) {
        if (parts[i].n) {
            rc = lkp_sha256_update(&ctx, parts[i].p, parts[i].n);
        }
    }
    if (rc == 0) {
        rc = lkp_sha256_finish(&ctx, out);
    }
    mbedtls_sha256_free(&ctx);
    return rc == 0 ? 0 : -1;
}

int lkp_aes_init(lkp_aes_t *aes, const uint8_t key[16])
{
    mbedtls_aes_init(aes);
    return mbedtls_aes_setkey_enc(aes, key, 128) == 0 ? 0 : -1;
}

int lkp_aes_block(lkp_aes_t *aes, const uint8_t in[16], uint8_t out[16])
{
    return mbedtls_aes_crypt_ecb(aes, MBEDTLS_AES_ENCRYPT, in, out) == 0 ? 0 : -1;
}

void lkp_aes_free(lkp_aes_t *aes)
{
    mbedtls_aes_free(aes);
}

#else
typedef int lkp_crypto_mbedtls_unused; /* ISO C forbids an empty translation unit */
#endif
