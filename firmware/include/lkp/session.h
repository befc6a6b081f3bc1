/*
 * Handshake key schedule and secure records (docs/ble-protocol.md sections
 * 4 and 5): HKDF-SHA256 session keys, HMAC key confirmation, AES-128-CCM
 * records with a per-direction counter.
 */
#ifndef LKP_SESSION_H
#define LKP_SESSION_H

#include <stddef.h>
#include <stdint.h>

/* Versions this core speaks: 1 (LKP1) and 2 (LKP2: version bytes bound into
 * the key schedule, padded PIN/name/digits, handshake back-off, keypad
 * lockout). lock_config_t.protocol_version picks one (0 = the newest). */
#define LKP_PROTOCOL_VERSION 2u
#define LKP_PROTOCOL_VERSION_MIN 1u
#define LKP_KEY_SIZE 16u
#define LKP_NONCE_SIZE 16u
#define LKP_CONFIRM_SIZE 16u
#define LKP_SESSION_ID_SIZE 8u
#define LKP_TAG_SIZE 16u
#define LKP_RECORD_HEADER 5u /* type + counter */
#define LKP_MAX_MESSAGE_SIZE (1024u - LKP_RECORD_HEADER - LKP_TAG_SIZE) /* 1003 */
#define LKP_DIRECTION_TO_LOCK 0x01u
#define LKP_DIRECTION_TO_BRIDGE 0x02u

/* Labels: "LKPn session keys", "LKPn lock confirm", "LKPn bridge confirm". */
#define LKP_LABEL_KEYS 0
#define LKP_LABEL_LOCK 1
#define LKP_LABEL_BRIDGE 2

/* Frame types (first byte of a frame body). */
#define LKP_FRAME_HELLO 0x01u
#define LKP_FRAME_CHALLENGE 0x02u
#define LKP_FRAME_CONFIRM 0x03u
#define LKP_FRAME_SECURE 0x10u
#define LKP_FRAME_ALERT 0x7Fu
#define LKP_FRAME_PROVISION 0x20u   /* factory mode only, plaintext (section 16) */
#define LKP_FRAME_PROVISIONED 0x21u
#define LKP_PROVISIONED_SIZE 18u    /* type, status, proof (16) */
#define LKP_HELLO_SIZE (2u + LKP_NONCE_SIZE)
#define LKP_CHALLENGE_SIZE (2u + LKP_NONCE_SIZE + LKP_CONFIRM_SIZE)
#define LKP_CONFIRM_FRAME_SIZE (1u + LKP_CONFIRM_SIZE)

typedef enum {
    LKP_SESSION_IDLE = 0,
    LKP_SESSION_CHALLENGE_SENT = 1,
    LKP_SESSION_ESTABLISHED = 2
} lkp_session_state_t;

typedef struct lkp_keys {
    uint8_t session_key[LKP_KEY_SIZE];
    uint8_t confirm_key[LKP_KEY_SIZE];
    uint8_t session_id[LKP_SESSION_ID_SIZE];
} lkp_keys_t;

#define LKP_TRANSCRIPT_MAX 2u

typedef struct lkp_session {
    uint8_t state; /* lkp_session_state_t */
    uint8_t version;        /* the version of the key schedule in use */
    uint8_t transcript_len; /* 0 (version 1) or 2: Vb || Vl */
    uint8_t transcript[LKP_TRANSCRIPT_MAX];
    uint8_t nonce_bridge[LKP_NONCE_SIZE];
    uint8_t nonce_lock[LKP_NONCE_SIZE];
    lkp_keys_t keys;
    uint32_t tx_counter; /* last counter sent */
    uint32_t rx_counter; /* last counter accepted */
    uint32_t rx_gaps;
} lkp_session_t;

/* Record results. */
#define LKP_RECORD_OK 0
#define LKP_RECORD_FORGED (-1)  /* too short, or the tag does not verify */
#define LKP_RECORD_REPLAY (-2)  /* counter not above the last accepted */
#define LKP_RECORD_TOO_BIG (-3) /* plaintext does not fit the caller's buffer */

/* The key schedule of `s->version` over s->nonce_bridge, s->nonce_lock and
 * s->transcript (version 2 appends Vb || Vl to the HKDF info and to both
 * confirmation inputs). */
int lkp_derive_keys(const uint8_t device_key[LKP_KEY_SIZE], lkp_session_t *s);
int lkp_confirm_tag(const lkp_session_t *s, int label, uint8_t out[LKP_CONFIRM_SIZE]);
void lkp_aead_nonce(uint8_t direction, const uint8_t session_id[LKP_SESSION_ID_SIZE], uint32_t counter,
                    uint8_t nonce[13]);

/* Seal `pt_len` plaintext bytes placed at record + 5 into a SECURE frame
 * body in place (type, next tx counter, ciphertext, tag). Returns the body
 * length, 0 when the counter is exhausted or on a crypto failure. */
size_t lkp_record_seal(lkp_session_t *s, uint8_t direction, uint8_t *record, size_t pt_len);
/* Open a SECURE frame body into `out`; on success sets *out_len and the
 * accepted counter. */
int lkp_record_open(lkp_session_t *s, uint8_t direction, const uint8_t *record, size_t len, uint8_t *out,
                    size_t out_cap, size_t *out_len);
void lkp_session_clear(lkp_session_t *s);

#endif
