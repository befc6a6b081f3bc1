#include "lkp/session.h"

#include <string.h>

#include "lkp/crypto.h"
#include "lkp/wire.h"

/* "LKPn <what>" for the session's version; returns its length. */
static size_t label(uint8_t version, int which, char out[24])
{
    static const char what[3][16] = {" session keys", " lock confirm", " bridge confirm"};
    size_t n = strlen(what[which]);
    out[0] = 'L';
    out[1] = 'K';
    out[2] = 'P';
    out[3] = (char)('0' + (version % 10u));
    memcpy(out + 4, what[which], n);
    return 4 + n;
}

int lkp_derive_keys(const uint8_t device_key[LKP_KEY_SIZE], lkp_session_t *s)
{
    /* HKDF-SHA256(IKM = K, salt = Nb || Nl, info = label || T, L = 40), RFC 5869. */
    static const uint8_t one = 0x01, two = 0x02;
    uint8_t salt[2 * LKP_NONCE_SIZE];
    uint8_t prk[LKP_SHA256_SIZE], t1[LKP_SHA256_SIZE], t2[LKP_SHA256_SIZE];
    char info[24];
    size_t info_len = label(s->version, LKP_LABEL_KEYS, info);
    lkp_part_t parts[4];
    int rc;

    memcpy(salt, s->nonce_bridge, LKP_NONCE_SIZE);
    memcpy(salt + LKP_NONCE_SIZE, s->nonce_lock, LKP_NONCE_SIZE);
    parts[0].p = device_key;
    parts[0].n = LKP_KEY_SIZE;
    rc = lkp_hmac_sha256(salt, sizeof salt, parts, 1, prk);
    parts[0].p = (const uint8_t *)info;
    parts[0].n = info_len;
    parts[1].p = s->transcript;
    parts[1].n = s->transcript_len;
    parts[2].p = &one;
    parts[2].n = 1;
    if (rc == 0) {
        rc = lkp_hmac_sha256(prk, sizeof prk, parts, 3, t1);
    }
    parts[0].p = t1;
    parts[0].n = sizeof t1;
    parts[1].p = (const uint8_t *)info;
    parts[1].n = info_len;
    parts[2].p = s->transcript;
    parts[2].n = s->transcript_len;
    parts[3].p = &two;
    parts[3].n = 1;
    if (rc == 0) {
        rc = lkp_hmac_sha256(prk, sizeof prk, parts, 4, t2);
    }
    if (rc == 0) {
        memcpy(s->keys.session_key, t1, 16);
        memcpy(s->keys.confirm_key, t1 + 16, 16);
        memcpy(s->keys.session_id, t2, 8);
    }
    lkp_wipe(prk, sizeof prk);
    lkp_wipe(t1, sizeof t1);
    lkp_wipe(t2, sizeof t2);
    return rc;
}

int lkp_confirm_tag(const lkp_session_t *s, int which, uint8_t out[LKP_CONFIRM_SIZE])
{
    uint8_t mac[LKP_SHA256_SIZE];
    char text[24];
    lkp_part_t parts[4];
    int rc;

    parts[0].p = (const uint8_t *)text;
    parts[0].n = label(s->version, which, text);
    parts[1].p = s->transcript;
    parts[1].n = s->transcript_len;
    parts[2].p = s->nonce_bridge;
    parts[2].n = LKP_NONCE_SIZE;
    parts[3].p = s->nonce_lock;
    parts[3].n = LKP_NONCE_SIZE;
    rc = lkp_hmac_sha256(s->keys.confirm_key, LKP_KEY_SIZE, parts, 4, mac);
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
    uint8_t version = s->version;
    lkp_wipe(s, sizeof *s);
    s->rx_gaps = gaps;
    s->version = version;
    s->state = LKP_SESSION_IDLE;
}
