#include "lkp/crypto.h"

#include <string.h>

int lkp_ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint8_t diff = 0;
    size_t i;
    for (i = 0; i < len; i++) {
        diff |= (uint8_t)(a[i] ^ b[i]);
    }
    return diff == 0;
}

void lkp_wipe(void *p, size_t len)
{
    volatile uint8_t *v = (volatile uint8_t *)p;
    while (len--) {
        *v++ = 0;
    }
}

int lkp_hmac_sha256(const uint8_t *key, size_t key_len, const lkp_part_t *parts, size_t nparts,
                    uint8_t out[LKP_SHA256_SIZE])
{
    uint8_t block[64];
    uint8_t inner[LKP_SHA256_SIZE];
    lkp_part_t all[5];
    size_t i;
    int rc;

    if (nparts > 4) {
        return -1;
    }
    memset(block, 0, sizeof block);
    if (key_len > sizeof block) {
        lkp_part_t k;
        k.p = key;
        k.n = key_len;
        if (lkp_sha256(&k, 1, block) != 0) {
            return -1;
        }
    } else if (key_len) {
        memcpy(block, key, key_len);
    }
    for (i = 0; i < sizeof block; i++) {
        block[i] ^= 0x36u;
    }
    all[0].p = block;
    all[0].n = sizeof block;
    for (i = 0; i < nparts; i++) {
        all[i + 1] = parts[i];
    }
    rc = lkp_sha256(all, nparts + 1, inner);
    for (i = 0; i < sizeof block; i++) {
        block[i] ^= (uint8_t)(0x36u ^ 0x5Cu);
    }
    all[1].p = inner;
    all[1].n = sizeof inner;
    if (rc == 0) {
        rc = lkp_sha256(all, 2, out);
    }
    lkp_wipe(block, sizeof block);
    lkp_wipe(inner, sizeof inner);
    return rc;
}

/* CCM with M = 16 (flags bits 3-5 = (M-2)/2 = 7) and L = 2 (bits 0-2 = L-1). */
#define CCM_FLAGS_B0_AAD 0x79u
#define CCM_FLAGS_B0 0x39u
#define CCM_FLAGS_CTR 0x01u

static void xor_block(uint8_t *dst, const uint8_t *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        dst[i] ^= src[i];
    }
}

static int ccm_mac(lkp_aes_t *aes, const uint8_t nonce[LKP_CCM_NONCE], const uint8_t *aad,
                   size_t aad_len, const uint8_t *msg, size_t len, uint8_t mac[16])
{
    uint8_t block[16];
    size_t off, used;

    block[0] = (uint8_t)(aad_len ? CCM_FLAGS_B0_AAD : CCM_FLAGS_B0);
    memcpy(block + 1, nonce, LKP_CCM_NONCE);
    block[14] = (uint8_t)(len >> 8);
    block[15] = (uint8_t)len;
    if (lkp_aes_block(aes, block, mac) != 0) {
        return -1;
    }
    if (aad_len) {
        /* 2-byte length prefix (aad < 0xFF00), then the data, zero padded. */
        memset(block, 0, sizeof block);
        block[0] = (uint8_t)(aad_len >> 8);
        block[1] = (uint8_t)aad_len;
        used = aad_len < 14 ? aad_len : 14;
        memcpy(block + 2, aad, used);
        xor_block(mac, block, 16);
        if (lkp_aes_block(aes, mac, mac) != 0) {
            return -1;
        }
        for (off = used; off < aad_len; off += 16) {
            size_t n = aad_len - off < 16 ? aad_len - off : 16;
            xor_block(mac, aad + off, n);
            if (lkp_aes_block(aes, mac, mac) != 0) {
                return -1;
            }
        }
    }
    for (off = 0; off < len; off += 16) {
        size_t n = len - off < 16 ? len - off : 16;
        xor_block(mac, msg + off, n);
        if (lkp_aes_block(aes, mac, mac) != 0) {
            return -1;
        }
    }
    return 0;
}

static int ccm_ctr(lkp_aes_t *aes, const uint8_t nonce[LKP_CCM_NONCE], uint8_t *buf, size_t len,
                   uint8_t s0[16])
{
    uint8_t ctr[16], stream[16];
    size_t off;
    uint16_t i = 0;

    ctr[0] = CCM_FLAGS_CTR;
    memcpy(ctr + 1, nonce, LKP_CCM_NONCE);
    ctr[14] = 0;
    ctr[15] = 0;
    if (lkp_aes_block(aes, ctr, s0) != 0) {
        return -1;
    }
    for (off = 0; off < len; off += 16) {
        size_t n = len - off < 16 ? len - off : 16;
        i++;
        ctr[14] = (uint8_t)(i >> 8);
        ctr[15] = (uint8_t)i;
        if (lkp_aes_block(aes, ctr, stream) != 0) {
            return -1;
        }
        xor_block(buf + off, stream, n);
    }
    lkp_wipe(stream, sizeof stream);
    return 0;
}

int lkp_ccm_seal(const uint8_t key[16], const uint8_t nonce[LKP_CCM_NONCE], const uint8_t *aad,
                 size_t aad_len, uint8_t *buf, size_t len, uint8_t tag[LKP_CCM_TAG])
{
    lkp_aes_t aes;
    uint8_t mac[16], s0[16];
    int rc;

    if (len > 0xFFFFu || aad_len >= 0xFF00u || lkp_aes_init(&aes, key) != 0) {
        return -1;
    }
    rc = ccm_mac(&aes, nonce, aad, aad_len, buf, len, mac);
    if (rc == 0) {
        rc = ccm_ctr(&aes, nonce, buf, len, s0);
    }
    if (rc == 0) {
        memcpy(tag, mac, 16);
        xor_block(tag, s0, 16);
    }
    lkp_aes_free(&aes);
    lkp_wipe(mac, sizeof mac);
    lkp_wipe(s0, sizeof s0);
    return rc;
}

int lkp_ccm_open(const uint8_t key[16], const uint8_t nonce[LKP_CCM_NONCE], const uint8_t *aad,
                 size_t aad_len, uint8_t *buf, size_t len, const uint8_t tag[LKP_CCM_TAG])
{
    lkp_aes_t aes;
    uint8_t mac[16], s0[16];
    int rc;

    if (len > 0xFFFFu || aad_len >= 0xFF00u || lkp_aes_init(&aes, key) != 0) {
        return -1;
    }
    rc = ccm_ctr(&aes, nonce, buf, len, s0);
    if (rc == 0) {
        rc = ccm_mac(&aes, nonce, aad, aad_len, buf, len, mac);
    }
    if (rc == 0) {
        xor_block(mac, s0, 16);
        if (!lkp_ct_equal(mac, tag, 16)) {
            rc = -1;
        }
    }
    if (rc != 0) {
        lkp_wipe(buf, len);
    }
    lkp_aes_free(&aes);
    lkp_wipe(mac, sizeof mac);
    lkp_wipe(s0, sizeof s0);
    return rc;
}
