#include "lkp/session.h"

#include <string.h>

#include "lkp/crypto.h"
#include "lkp/wire.h"

int lkp_derive_keys(const uint8_t device_key[LKP_KEY_SIZE], const uint8_t nonce_bridge[LKP_NONCE_SIZE],
                    const uint8_t nonce_lock[LKP_NONCE_SIZE], lkp_keys_t *keys)
{
    /* HKDF-SHA256(IKM = K, salt = Nb || Nl, info, L = 40), RFC 5869. */
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t salt[2 * LKP_NONCE_SIZE];
    uint8_t prk[LKP_SHA256_SIZE], t1[LKP_SHA256_SIZE], t2[LKP_SHA256_SIZE];
    lkp_part_t parts[3];
    int rc;

    memcpy(salt, nonce_bridge, LKP_NONCE_SIZE);
    memcpy(salt + LKP_NONCE_SIZE, nonce_lock, LKP_NONCE_SIZE);
    parts[0].p = device_key;
    parts[0].n = LKP_KEY_SIZE;
    rc = lkp_hmac_sha256(salt, sizeof salt, parts, 1, prk);
    parts[0].p = (const uint8_t *)LKP_HKDF_INFO;
    parts[0].n = sizeof LKP_HKDF_INFO - 1;
    parts[1].p = &one;
    parts[1].n = 1;
    if (rc == 0) {
        rc = lkp_hmac_sha256(prk, sizeof prk, parts, 2, t1);
    }
    parts[0].p = t1;
    parts[0].n = sizeof t1;
    parts[1].p = (const uint8_t *)LKP_HKDF_INFO;
    parts[1].n = sizeof LKP_HKDF_INFO - 1;
    parts[2].p = &two;
    parts[2].n = 1;
    if (rc == 0) {
        rc = lkp_hmac_sha256(prk, sizeof prk, parts, 3, t2);
    }
    if (rc == 0) {
        memcpy(keys->session_key, t1, 16);
        memcpy(keys->confirm_key, t1 + 16, 16);
        memcpy(keys->session_id, t2, 8);
    }
    lkp_wipe(prk, sizeof prk);
    lkp_wipe(t1, sizeof t1);
    lkp_wipe(t2, sizeof t2);
    return rc;
}

int lkp_confirm_tag(const uint8_t confirm_key[LKP_KEY_SIZE], const char *label,
                    const uint8_t nonce_bridge[LKP_NONCE_SIZE], const uint8_t nonce_lock[LKP_NONCE_SIZE],
                    uint8_t out[LKP_CONFIRM_SIZE])
{
    uint8_t mac[LKP_SHA256_SIZE];
    lkp_part_t parts[3];
    int rc;

    parts[0].p = (const uint8_t *)label;
    parts[0].n = strlen(label);
    parts[1].p = nonce_bridge;
    parts[1].n = LKP_NONCE_SIZE;
    parts[2].p = nonce_lock;
    parts[2].n = LKP_NONCE_SIZE;
    rc = lkp_hmac_sha256(confirm_key, LKP_KEY_SIZE, parts, 3, mac);
    if (rc == 0) {
        memcpy(out, mac, LKP_CONFIRM_SIZE);
    }
    lkp_wipe(mac, sizeof mac);
    return rc;
}

void lkp_aead_nonce(uint8_t direction, const uint8_t session_id[LKP_SESSION_ID_SIZE], uint32_t counter,
                    uint8_t nonce[13])
{
    nonce[0] = direction;
    memcpy(nonce + 1, session_id, LKP_SESSION_ID_SIZE);
    lkp_put_u32(nonce + 9, counter);
}

size_t lkp_record_seal(lkp_session_t *s, uint8_t direction, uint8_t *record, size_t pt_len)
{
    uint8_t nonce[13];
    if (s->state != LKP_SESSION_ESTABLISHED || s->tx_counter == 0xFFFFFFFFu || pt_len > LKP_MAX_MESSAGE_SIZE) {
        return 0;
    }
    s->tx_counter++;
    record[0] = LKP_FRAME_SECURE;
    lkp_put_u32(record + 1, s->tx_counter);
    lkp_aead_nonce(direction, s->keys.session_id, s->tx_counter, nonce);
    if (lkp_ccm_seal(s->keys.session_key, nonce, record, LKP_RECORD_HEADER, record + LKP_RECORD_HEADER, pt_len,
                     record + LKP_RECORD_HEADER + pt_len) != 0) {
        return 0;
    }
    return LKP_RECORD_HEADER + pt_len + LKP_TAG_SIZE;
}

int lkp_record_open(lkp_session_t *s, uint8_t direction, const uint8_t *record, size_t len, uint8_t *out,
                    size_t out_cap, size_t *out_len)
{
    uint8_t nonce[13];
    uint32_t counter;
    size_t n;

    if (s->state != LKP_SESSION_ESTABLISHED || len < LKP_RECORD_HEADER + LKP_TAG_SIZE) {
        return LKP_RECORD_FORGED;
    }
    n = len - LKP_RECORD_HEADER - LKP_TAG_SIZE;
    if (n > out_cap) {
        return LKP_RECORD_TOO_BIG;
    }
    counter = lkp_get_u32(record + 1);
    lkp_aead_nonce(direction, s->keys.session_id, counter, nonce);
    memcpy(out, record + LKP_RECORD_HEADER, n);
    if (lkp_ccm_open(s->keys.session_key, nonce, record, LKP_RECORD_HEADER, out, n,
                     record + LKP_RECORD_HEADER + n) != 0) {
        return LKP_RECORD_FORGED;
    }
    /* Authentic first, then fresh: a forged counter must not move the window. */
    if (counter <= s->rx_counter) {
        lkp_wipe(out, n);
        return LKP_RECORD_REPLAY;
    }
    s->rx_gaps += counter - s->rx_counter - 1;
    s->rx_counter = counter;
    *out_len = n;
    return LKP_RECORD_OK;
}

void lkp_session_clear(lkp_session_t *s)
{
    uint32_t gaps = s->rx_gaps;
    lkp_wipe(s, sizeof *s);
    s->rx_gaps = gaps;
    s->state = LKP_SESSION_IDLE;
}
