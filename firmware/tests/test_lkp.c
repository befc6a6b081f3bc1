/*
 * Unit tests of the lock core on the host, no Python needed: the vectors of
 * docs/ble-protocol.md section 11, a small bridge (central) written with the
 * core's own primitives, resynchronisation, refusals, and the event log
 * across a power cycle. Prints "N passed, N failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_hal.h"
#include "lkp/offline.h"
#include "lkp/schedule.h"
#include "lkp/crypto.h"
#include "lkp/wire.h"

static int g_passed, g_failed;
static const char *g_test;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s: %s:%d: CHECK(%s)\n", g_test, __FILE__, __LINE__, #cond); \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = 0;
    unsigned v;
    while (*hex) {
        if (*hex == ' ') {
            hex++;
            continue;
        }
        if (sscanf(hex, "%2x", &v) != 1) {
            break;
        }
        out[n++] = (uint8_t)v;
        hex += 2;
    }
    return n;
}

static int eq_hex(const uint8_t *got, size_t len, const char *hex)
{
    uint8_t want[1100];
    size_t n = unhex(hex, want);
    return n == len && memcmp(got, want, n) == 0;
}

/* ------------------------------------------------------------ fixture */

static const uint8_t KEY[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static host_t g_host;
static lock_t g_lock;
static uint8_t g_version = 1; /* the protocol version the lock is configured for */
static const uint8_t *g_boot_key = KEY; /* the configured key (NULL: factory mode) */
static const uint8_t *g_bridge_key = KEY; /* the key the test bridge handshakes with */
static int g_otp_sealed;
static int host_factory_sealed(void *u) { (void)u; return g_otp_sealed; }
static int host_factory_seal(void *u) { (void)u; g_otp_sealed = 1; return 0; }

static int boot(uint16_t log_size)
{
    lock_hal_t hal;
    lock_config_t cfg;
    host_hal(&g_host, &hal);
    memset(&cfg, 0, sizeof cfg);
    cfg.code_capacity = 250;
    cfg.event_log_size = log_size;
    cfg.capabilities = 0x1F;
    cfg.model = "VL-1";
    cfg.firmware = "1.0.0";
    cfg.device_key = g_boot_key;
    cfg.master_pin = "24681357";
    cfg.protocol_version = g_version;
    hal.factory_sealed = host_factory_sealed;
    hal.factory_seal = host_factory_seal;
    return lock_init(&g_lock, &hal, &cfg);
}

static void fresh(uint16_t log_size)
{
    memset(&g_host, 0, sizeof g_host);
    g_boot_key = g_bridge_key = KEY;
    g_otp_sealed = 0;
    g_host.rtc = 1700000000u;
    g_host.battery = 100;
    g_host.rand_byte = 0x20; /* Nl = 20..2f as in the vectors */
    (void)boot(log_size);
    lock_radio_connected(&g_lock, 23);
}

/* A bridge with the core's primitives. */
typedef struct central {
    lkp_session_t s;
    lkp_deframer_t rx;
} central_t;

static size_t frame_of(const uint8_t *body, size_t len, uint8_t *out)
{
    memcpy(out + 4, body, len);
    return lkp_frame_seal(out, len);
}

static void write_all(const uint8_t *data, size_t len, size_t step)
{
    size_t off;
    for (off = 0; off < len; off += step) {
        lock_radio_write(&g_lock, data + off, len - off < step ? len - off : step);
        while (lock_process(&g_lock)) {
        }
    }
}

static int handshake(central_t *c)
{
    uint8_t body[40], frame[64];
    const uint8_t *b;
    uint16_t blen;
    size_t i, n;
    uint8_t tag[16];

    memset(c, 0, sizeof *c);
    c->s.version = g_version;
    body[0] = LKP_FRAME_HELLO;
    body[1] = g_version;
    for (i = 0; i < 16; i++) {
        body[2 + i] = (uint8_t)(0x10 + i);
        c->s.nonce_bridge[i] = (uint8_t)(0x10 + i);
    }
    host_tx_clear(&g_host);
    n = frame_of(body, 18, frame);
    write_all(frame, n, 20);
    CHECK(lkp_deframer_push(&c->rx, g_host.tx, g_host.tx_len) == g_host.tx_len);
    CHECK(lkp_deframer_next(&c->rx, &b, &blen) == 1);
    CHECK(blen == LKP_CHALLENGE_SIZE && b[0] == LKP_FRAME_CHALLENGE);
    memcpy(c->s.nonce_lock, b + 2, 16);
    if (g_version >= 2) {
        c->s.transcript[0] = g_version;
        c->s.transcript[1] = b[1];
        c->s.transcript_len = 2;
    }
    CHECK(lkp_derive_keys(g_bridge_key, &c->s) == 0);
    CHECK(lkp_confirm_tag(&c->s, LKP_LABEL_LOCK, tag) == 0);
    CHECK(memcmp(tag, b + 18, 16) == 0);
    body[0] = LKP_FRAME_CONFIRM;
    CHECK(lkp_confirm_tag(&c->s, LKP_LABEL_BRIDGE, body + 1) == 0);
    host_tx_clear(&g_host);
    n = frame_of(body, 17, frame);
    write_all(frame, n, 20);
    CHECK(g_host.tx_len == 0);
    CHECK(lock_session_established(&g_lock));
    c->s.state = LKP_SESSION_ESTABLISHED;
    return 0;
}

/* Seal a request; returns the frame length in out. */
static size_t seal_request(central_t *c, const uint8_t *msg, size_t len, uint8_t *out)
{
    size_t body;
    memcpy(out + 4 + 5, msg, len);
    body = lkp_record_seal(&c->s, LKP_DIRECTION_TO_LOCK, out + 4, len);
    return lkp_frame_seal(out, body);
}

/* The next message the lock sent (decrypted), or 0. */
static size_t next_message(central_t *c, uint8_t *msg, size_t cap, size_t *consumed)
{
    const uint8_t *b;
    uint16_t blen;
    size_t n = 0;
    if (*consumed < g_host.tx_len) {
        (void)lkp_deframer_push(&c->rx, g_host.tx + *consumed, g_host.tx_len - *consumed);
        *consumed = g_host.tx_len;
    }
    if (!lkp_deframer_next(&c->rx, &b, &blen) || b[0] != LKP_FRAME_SECURE) {
        return 0;
    }
    if (lkp_record_open(&c->s, LKP_DIRECTION_TO_BRIDGE, b, blen, msg, cap, &n) != LKP_RECORD_OK) {
        return 0;
    }
    return n;
}

static size_t ask(central_t *c, const uint8_t *req, size_t len, uint8_t *answer, size_t step)
{
    uint8_t frame[LKP_MAX_FRAME_SIZE];
    size_t n = seal_request(c, req, len, frame), consumed = 0;
    host_tx_clear(&g_host);
    write_all(frame, n, step);
    return next_message(c, answer, LKP_MAX_MESSAGE_SIZE, &consumed);
}

/* -------------------------------------------------------------- tests */

static int test_crc(void)
{
    uint8_t frame[16], body = 0x01;
    CHECK(lkp_crc8((const uint8_t *)"123456789", 9) == 0xF4);
    CHECK(lkp_crc32((const uint8_t *)"123456789", 9) == 0xCBF43926u);
    CHECK(eq_hex(frame, frame_of(&body, 1, frame), "a5 01 00 9d 01 5f 44 b1 75"));
    return 0;
}

static int test_key_schedule(void)
{
    /* Version 1 (LKP1), then version 2 (LKP2, T = 02 02, and T = 03 02). */
    lkp_session_t s;
    uint8_t tag[16];
    memset(&s, 0, sizeof s);
    unhex("10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f", s.nonce_bridge);
    unhex("20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f", s.nonce_lock);
    s.version = 1;
    CHECK(lkp_derive_keys(KEY, &s) == 0);
    CHECK(eq_hex(s.keys.session_key, 16, "12 19 9a ed d5 4a 0a 88 01 5a 4c 20 7d c0 6a 67"));
    CHECK(eq_hex(s.keys.confirm_key, 16, "1f d5 7a b3 42 59 49 66 7a bf ed b6 68 32 5e 55"));
    CHECK(eq_hex(s.keys.session_id, 8, "0b af 9b c0 42 97 0e 79"));
    CHECK(lkp_confirm_tag(&s, LKP_LABEL_LOCK, tag) == 0);
    CHECK(eq_hex(tag, 16, "29 e0 03 37 2e 79 97 0e 6a 5c b8 ef 36 25 08 ce"));
    CHECK(lkp_confirm_tag(&s, LKP_LABEL_BRIDGE, tag) == 0);
    CHECK(eq_hex(tag, 16, "50 15 5a 13 c1 db cf 2d 99 d7 7b 5c 95 06 12 05"));
    s.version = 2;
    s.transcript[0] = 2;
    s.transcript[1] = 2;
    s.transcript_len = 2;
    CHECK(lkp_derive_keys(KEY, &s) == 0);
    CHECK(eq_hex(s.keys.session_key, 16, "1a 99 25 1b ae cf 62 16 9e 52 94 34 85 21 01 c3"));
    CHECK(eq_hex(s.keys.confirm_key, 16, "79 86 66 f6 f4 74 56 0f dc e2 d2 14 5c c0 dc 1b"));
    CHECK(eq_hex(s.keys.session_id, 8, "df 51 a1 e4 7b 36 18 5f"));
    CHECK(lkp_confirm_tag(&s, LKP_LABEL_LOCK, tag) == 0);
    CHECK(eq_hex(tag, 16, "14 07 84 93 75 ec af e3 7c 19 34 d8 ba 43 65 03"));
    CHECK(lkp_confirm_tag(&s, LKP_LABEL_BRIDGE, tag) == 0);
    CHECK(eq_hex(tag, 16, "8c 93 f4 fb 40 bd 7f b5 83 4e ab 12 25 0f 97 34"));
    s.transcript[0] = 3;
    CHECK(lkp_derive_keys(KEY, &s) == 0);
    CHECK(eq_hex(s.keys.session_id, 8, "be f5 32 c5 d1 7d b9 de"));
    CHECK(lkp_confirm_tag(&s, LKP_LABEL_LOCK, tag) == 0);
    CHECK(eq_hex(tag, 16, "2a 35 24 90 cd b3 fe 3f 64 4f 60 2d 99 c9 27 0e"));
    return 0;
}

static int test_challenge_chunks(void)
{
    uint8_t hello[64];
    size_t n = g_version == 1 ? unhex("a5 12 00 f5 01 01 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f f1 b9 4f 27", hello)
                              : unhex("a5 12 00 f5 01 02 10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 75 e2 d5 74", hello);
    fresh(512);
    host_tx_clear(&g_host);
    lock_radio_write(&g_lock, hello, 20);
    lock_radio_write(&g_lock, hello + 20, n - 20);
    CHECK(g_host.chunks == 3 && g_host.chunk_lens[0] == 20 && g_host.chunk_lens[1] == 20 && g_host.chunk_lens[2] == 2);
    CHECK(eq_hex(g_host.tx, g_host.tx_len,
                 g_version == 1 ? "a5 22 00 0c 02 01 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d"
                                  "2e 2f 29 e0 03 37 2e 79 97 0e 6a 5c b8 ef 36 25 08 ce 1b e2 7b 0a"
                                : "a5 22 00 0c 02 02 20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d"
                                  "2e 2f 14 07 84 93 75 ec af e3 7c 19 34 d8 ba 43 65 03 75 6f a6 56"));
    return 0;
}

static int test_status_record_vector(void)
{
    /* The vectors' lock -> bridge record, sealed by the core's record layer. */
    lkp_session_t s;
    uint8_t frame[LKP_MAX_FRAME_SIZE];
    size_t n, body;
    memset(&s, 0, sizeof s);
    unhex("12 19 9a ed d5 4a 0a 88 01 5a 4c 20 7d c0 6a 67", s.keys.session_key);
    unhex("0b af 9b c0 42 97 0e 79", s.keys.session_id);
    s.state = LKP_SESSION_ESTABLISHED;
    n = unhex("81 01 00 00 01 01 57 c4 00 f1 53 65 3c 00 02 00 fa 00 2a 00 00 00 0c 45 75 72 6f 70 65 2f 50 61 72 69 73",
              frame + 9);
    body = lkp_record_seal(&s, LKP_DIRECTION_TO_BRIDGE, frame + 4, n);
    CHECK(eq_hex(frame, lkp_frame_seal(frame, body),
                 "a5 38 00 d9 10 01 00 00 00 aa 71 6b 89 98 24 3f 00 6f 27 47"
                 "bf a7 0c ed 12 12 bb 5f 64 99 ba 57 89 cd 0d ad 7f 63 36 41"
                 "34 a7 d4 98 03 93 38 b0 88 fa 6c 10 cc 07 ee a9 41 c0 75 2a b9 0b 36 60"));
    return 0;
}

static int test_session_and_status(void)
{
    central_t c;
    uint8_t req[3] = {LKP_OP_GET_STATUS, 7, 0}, answer[LKP_MAX_MESSAGE_SIZE];
    size_t n;
    fresh(512);
    CHECK(handshake(&c) == 0);
    n = ask(&c, req, 3, answer, 20);
    CHECK(n == 26 && answer[0] == 0x81 && lkp_get_u16(answer + 1) == 7 && answer[3] == LKP_OK);
    CHECK(answer[4] == LOCK_BOLT_LOCKED && answer[6] == 100 && lkp_get_u32(answer + 8) == 1700000000u);
    CHECK(lkp_get_u16(answer + 16) == 250 && answer[22] == 3 && memcmp(answer + 23, "UTC", 3) == 0);
    return 0;
}

static int test_one_byte_at_a_time_with_garbage(void)
{
    central_t c;
    uint8_t frame[LKP_MAX_FRAME_SIZE + 16], answer[LKP_MAX_MESSAGE_SIZE];
    uint8_t req[3] = {LKP_OP_UNLOCK, 9, 0};
    size_t n, consumed = 0;
    fresh(512);
    CHECK(handshake(&c) == 0);
    /* Garbage, a false SOF with a bad header check, then the real frame, a byte at a time. */
    frame[0] = 0x00;
    frame[1] = 0xA5;
    frame[2] = 0x05;
    frame[3] = 0x00;
    frame[4] = 0x77;
    n = seal_request(&c, req, 3, frame + 5);
    host_tx_clear(&g_host);
    write_all(frame, n + 5, 1);
    n = next_message(&c, answer, sizeof answer, &consumed); /* UnlockedEvent first */
    CHECK(n == 12 && answer[0] == LKP_EV_UNLOCKED && answer[9] == LOCK_SOURCE_BLE);
    n = next_message(&c, answer, sizeof answer, &consumed);
    CHECK(n == 5 && answer[0] == 0x83 && answer[3] == LKP_OK && answer[4] == LOCK_BOLT_UNLOCKED);
    CHECK(g_lock.rx.rejected_frames >= 1);
    return 0;
}

static int test_replay_and_tamper_dropped(void)
{
    central_t c;
    uint8_t frame[LKP_MAX_FRAME_SIZE];
    uint8_t req[3] = {LKP_OP_GET_STATUS, 1, 0};
    size_t n;
    fresh(512);
    CHECK(handshake(&c) == 0);
    n = seal_request(&c, req, 3, frame);
    host_tx_clear(&g_host);
    write_all(frame, n, 64);
    CHECK(g_host.tx_len > 0);
    host_tx_clear(&g_host);
    write_all(frame, n, 64); /* replayed */
    CHECK(g_host.tx_len == 0 && g_lock.counters.rejected_records == 1);
    n = seal_request(&c, req, 3, frame);
    frame[10] ^= 1u; /* ciphertext bit flipped, CRC recomputed */
    (void)lkp_frame_seal(frame, n - 8);
    write_all(frame, n, 64);
    CHECK(g_host.tx_len == 0 && g_lock.counters.rejected_records == 2);
    CHECK(lock_session_established(&g_lock));
    return 0;
}

static int test_alerts(void)
{
    uint8_t body[40], frame[64];
    size_t n, i;
    fresh(512);
    /* SECURE before any handshake. */
    memset(body, 0, sizeof body);
    body[0] = LKP_FRAME_SECURE;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 24, frame), 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 03"));
    /* HELLO of another version. */
    body[0] = LKP_FRAME_HELLO;
    body[1] = g_version == 1 ? 2 : 1;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 05"));
    /* A wrong CONFIRM. */
    body[1] = g_version;
    write_all(frame, frame_of(body, 18, frame), 64);
    body[0] = LKP_FRAME_CONFIRM;
    for (i = 1; i < 17; i++) {
        body[i] = 0x55;
    }
    host_tx_clear(&g_host);
    n = frame_of(body, 17, frame);
    write_all(frame, n, 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 04"));
    CHECK(!lock_session_established(&g_lock) && g_lock.counters.handshakes_failed == 2);
    return 0;
}

static int test_no_random_no_challenge(void)
{
    uint8_t body[18] = {LKP_FRAME_HELLO, 1}, frame[64];
    body[1] = g_version;
    fresh(512);
    g_host.rand_fail = 1;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    CHECK(g_host.tx_len == 0 && g_lock.session.state == LKP_SESSION_IDLE);
    return 0;
}

static int test_counter_exhausted(void)
{
    lkp_session_t s;
    uint8_t rec[64];
    memset(&s, 0, sizeof s);
    s.state = LKP_SESSION_ESTABLISHED;
    s.tx_counter = 0xFFFFFFFEu;
    CHECK(lkp_record_seal(&s, LKP_DIRECTION_TO_BRIDGE, rec, 3) == 24);
    CHECK(lkp_record_seal(&s, LKP_DIRECTION_TO_BRIDGE, rec, 3) == 0);
    return 0;
}

static int test_event_log_survives_power_loss(void)
{
    int i;
    uint8_t ev[32];
    fresh(8);
    for (i = 0; i < 20; i++) {
        lock_tamper(&g_lock, LOCK_TAMPER_CASE_OPENED);
    }
    CHECK(g_lock.head_seq == 20 && g_lock.oldest_seq == 13);
    /* Power cycle: RAM is gone, storage stays. */
    memset(&g_lock, 0xAB, sizeof g_lock);
    CHECK(boot(8) == 0);
    CHECK(g_lock.head_seq == 20 && g_lock.oldest_seq == 13);
    lock_door_changed(&g_lock, LOCK_DOOR_OPEN);
    CHECK(g_lock.head_seq == 21 && g_lock.oldest_seq == 14);
    CHECK(lock_logged_event(&g_lock, 21, ev, sizeof ev) == 10 && ev[0] == LKP_EV_DOOR && ev[9] == LOCK_DOOR_OPEN);
    CHECK(lock_logged_event(&g_lock, 13, ev, sizeof ev) == 0);
    /* A restored lock continues after what its cloud already has. */
    lock_continue_after(&g_lock, 1000);
    lock_tamper(&g_lock, LOCK_TAMPER_FORCED_BOLT);
    CHECK(g_lock.head_seq == 1001 && g_lock.oldest_seq == 1001);
    CHECK(boot(8) == 0 && g_lock.head_seq == 1001);
    return 0;
}

static int test_codes_survive_power_loss(void)
{
    central_t c;
    uint8_t put[96] = {LKP_OP_PUT_CODE, 1, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, '1', '2', '3', '4', 0};
    uint8_t answer[LKP_MAX_MESSAGE_SIZE];
    size_t len = g_version == 1 ? 20u : 14u + 9u + 57u; /* version 2 pads the PIN and the name */
    fresh(512);
    CHECK(handshake(&c) == 0);
    CHECK(ask(&c, put, len, answer, 20) == 6 && answer[3] == LKP_OK && lkp_get_u16(answer + 4) == 1);
    CHECK(boot(512) == 0 && g_lock.code_count == 1);
    lock_keypad_entry(&g_lock, "1234", 4);
    CHECK(g_lock.bolt == LOCK_BOLT_UNLOCKED);
    return 0;
}

static int test_decoder_rules(void)
{
    lkp_request_t r;
    uint8_t m[80] = {0};
    CHECK(lkp_decode_request(m, 2, 1, &r) == -1);
    memcpy(m, "\x05\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x04" "12a4\x00", 20);
    CHECK(lkp_decode_request(m, 20, 1, &r) == LKP_ERR_BAD_PIN);
    m[17] = '3';
    CHECK(lkp_decode_request(m, 20, 1, &r) == LKP_OK && r.u.put_code.pin.len == 4);
    CHECK(lkp_decode_request(m, 19, 1, &r) == LKP_ERR_MALFORMED);
    m[0] = 0x3E;
    CHECK(lkp_decode_request(m, 20, 1, &r) == LKP_ERR_UNKNOWN_OPCODE && r.request_id == 1);
    return 0;
}

static int send_hello_and_confirm(int good)
{
    central_t c;
    uint8_t body[18] = {LKP_FRAME_HELLO}, frame[64];
    if (good) {
        return handshake(&c);
    }
    body[1] = g_version;
    write_all(frame, frame_of(body, 18, frame), 64);
    memset(body, 0x55, sizeof body);
    body[0] = LKP_FRAME_CONFIRM;
    write_all(frame, frame_of(body, 17, frame), 64);
    return 0;
}

static int test_handshake_backoff(void)
{
    uint8_t body[18] = {LKP_FRAME_HELLO}, frame[64];
    int i;
    fresh(512);
    for (i = 0; i < 4; i++) {
        CHECK(send_hello_and_confirm(0) == 0);
    }
    body[1] = g_version;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    if (g_version == 1) {
        CHECK(g_host.tx[4] == LKP_FRAME_CHALLENGE); /* version 1 has no back-off */
        return 0;
    }
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 06")); /* the 4th failure: BUSY for 1 s */
    g_host.uptime += 1000;
    CHECK(send_hello_and_confirm(0) == 0); /* the 5th: 2 s */
    g_host.uptime += 1999;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 06"));
    g_host.uptime += 1;
    CHECK(send_hello_and_confirm(1) == 0); /* a good handshake forgets the failures */
    CHECK(g_lock.handshake_failures == 0 && !g_lock.backing_off);
    return 0;
}

static int test_keypad_lockout(void)
{
    int i;
    fresh(512);
    lock_keypad_entry(&g_lock, "0000", 4);
    for (i = 0; i < 4; i++) {
        lock_keypad_entry(&g_lock, "1111", 4);
    }
    /* 5 wrong: 5 IncorrectPin + a KEYPAD_LOCKOUT tamper, in both versions. */
    CHECK(g_lock.head_seq == 6);
    lock_keypad_entry(&g_lock, "2222", 4);
    if (g_version == 1) {
        CHECK(g_lock.head_seq == 7); /* logged, no lockout */
        return 0;
    }
    CHECK(g_lock.head_seq == 6 && g_lock.keypad_locked); /* refused, not logged */
    CHECK(boot(512) == 0 && g_lock.keypad_locked); /* a power cycle does not lift it */
    g_host.uptime += 60000;
    lock_keypad_entry(&g_lock, "3333", 4); /* the next wrong PIN: the next lockout, twice as long */
    CHECK(g_lock.head_seq == 8 && g_lock.keypad_locked && g_lock.keypad_lockout_ms == 120000u);
    return 0;
}

/* Section 15's vectors: ROTATE_KEY / COMMIT_KEY and the handshake under the new key. */
static const uint8_t NEW_KEY[16] = {0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                                    0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f};
#define ROTATE_REQ "09 03 00 01 00 00 00 30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f"
#define ROTATE_RSP "89 03 00 00 01 00 00 00 f2 34 c5 50 f3 25 69 46 22 5a ba f2 e3 45 7a d8"

static int ask_hex(central_t *c, const char *req_hex, uint8_t *answer, size_t *n)
{
    uint8_t req[128];
    size_t len = unhex(req_hex, req);
    *n = ask(c, req, len, answer, 20);
    return 0;
}

static int test_key_rotation(void)
{
    central_t c;
    uint8_t answer[LKP_MAX_MESSAGE_SIZE], hello[64], body[18] = {LKP_FRAME_HELLO};
    size_t n, i;
    fresh(512);
    CHECK(handshake(&c) == 0);
    ask_hex(&c, ROTATE_REQ, answer, &n);
    CHECK(eq_hex(answer, n, ROTATE_RSP));
    CHECK(g_lock.key_pending && g_lock.pending_rotation == 1 && memcmp(g_lock.device_key, KEY, 16) == 0);
    /* Power cycle between the two steps: the pending key is in storage, the old key still opens. */
    CHECK(boot(512) == 0 && g_lock.key_pending && g_lock.pending_rotation == 1);
    CHECK(memcmp(g_lock.pending_key, NEW_KEY, 16) == 0 && memcmp(g_lock.device_key, KEY, 16) == 0);
    lock_radio_connected(&g_lock, 23);
    CHECK(handshake(&c) == 0);
    ask_hex(&c, "0a 04 00 01 00 00 00", answer, &n);
    CHECK(eq_hex(answer, n, "8a 04 00 00 01 00 00 00"));
    CHECK(!g_lock.key_pending && g_lock.committed_rotation == 1 && memcmp(g_lock.device_key, NEW_KEY, 16) == 0);
    /* The session in progress keeps its keys; both steps are safe to repeat. */
    ask_hex(&c, "0a 04 00 01 00 00 00", answer, &n);
    CHECK(eq_hex(answer, n, "8a 04 00 00 01 00 00 00"));
    ask_hex(&c, ROTATE_REQ, answer, &n);
    CHECK(eq_hex(answer, n, ROTATE_RSP) && !g_lock.key_pending);
    ask_hex(&c, "0a 04 00 09 00 00 00", answer, &n);
    CHECK(eq_hex(answer, n, "8a 04 00 15"));
    ask_hex(&c, "09 05 00 00 00 00 00 30 31 32 33 34 35 36 37 38 39 3a 3b 3c 3d 3e 3f", answer, &n);
    CHECK(eq_hex(answer, n, "89 05 00 02")); /* rotation 0 is reserved */
    ask_hex(&c, "0a 06 00 01 00 00", answer, &n);
    CHECK(eq_hex(answer, n, "8a 06 00 02"));
    /* The next HELLO is answered under the new key (the vectors' nonces). */
    body[1] = g_version;
    for (i = 0; i < 16; i++) {
        body[2 + i] = (uint8_t)(0x10 + i);
    }
    host_tx_clear(&g_host);
    write_all(hello, frame_of(body, 18, hello), 64);
    CHECK(g_host.tx[4] == LKP_FRAME_CHALLENGE);
    if (g_version == 2) {
        CHECK(eq_hex(g_host.tx + 22, 16, "db 03 29 dc 74 6c f7 e9 86 d4 9d 93 07 9c 4f 22"));
    }
    g_bridge_key = NEW_KEY;
    CHECK(handshake(&c) == 0);
    CHECK(boot(512) == 0 && memcmp(g_lock.device_key, NEW_KEY, 16) == 0 && g_lock.committed_rotation == 1);
    return 0;
}

static int test_key_rotation_storage_failure(void)
{
    central_t c;
    uint8_t answer[LKP_MAX_MESSAGE_SIZE];
    size_t n;
    int i;
    fresh(512);
    CHECK(handshake(&c) == 0);
    /* Fill the storage so that the KEYS record cannot be created: INTERNAL, nothing pending. */
    for (i = 0; i < HOST_NVS_MAX; i++) {
        if (!g_host.used[i]) {
            g_host.used[i] = 1;
            g_host.ids[i] = (uint16_t)(0x7000 + i);
        }
    }
    ask_hex(&c, ROTATE_REQ, answer, &n);
    CHECK(eq_hex(answer, n, "89 03 00 14") && !g_lock.key_pending);
    return 0;
}

static int test_factory_reset(void)
{
    central_t c;
    uint8_t put[96] = {LKP_OP_PUT_CODE, 1, 0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, '1', '2', '3', '4', 0};
    uint8_t answer[LKP_MAX_MESSAGE_SIZE], ev[32];
    size_t len = g_version == 1 ? 20u : 14u + 9u + 57u, n;
    uint32_t head;
    fresh(8);
    CHECK(handshake(&c) == 0);
    CHECK(ask(&c, put, len, answer, 20) == 6 && answer[3] == LKP_OK);
    lock_keypad_entry(&g_lock, "9999", 4);
    lock_door_changed(&g_lock, LOCK_DOOR_OPEN);
    ask_hex(&c, ROTATE_REQ, answer, &n);
    head = g_lock.head_seq;
    CHECK(head >= 2 && g_lock.wrong_pins == 1 && g_lock.key_pending);
    /* No presence: refused, nothing changes. */
    ask_hex(&c, "0b 05 00", answer, &n);
    CHECK(eq_hex(answer, n, "8b 05 00 16") && g_lock.code_count == 1);
    /* Pressed, but the window is over. */
    lock_reset_button(&g_lock, 0);
    g_host.uptime += LOCK_PRESENCE_WINDOW_MS;
    ask_hex(&c, "0b 05 00", answer, &n);
    CHECK(eq_hex(answer, n, "8b 05 00 16"));
    lock_reset_button(&g_lock, 0);
    g_host.uptime += LOCK_PRESENCE_WINDOW_MS - 1u;
    ask_hex(&c, "0b 05 00", answer, &n);
    CHECK(eq_hex(answer, n, "8b 05 00 00"));
    CHECK(g_lock.code_count == 0 && g_lock.oldest_seq == 0 && g_lock.head_seq == head);
    CHECK(g_lock.wrong_pins == 0 && !g_lock.key_pending && memcmp(g_lock.device_key, KEY, 16) == 0);
    /* Once per press. */
    ask_hex(&c, "0b 06 00", answer, &n);
    CHECK(eq_hex(answer, n, "8b 06 00 16"));
    /* After a power cycle: still empty, and seq goes on from where it was. */
    CHECK(boot(8) == 0 && g_lock.code_count == 0 && g_lock.oldest_seq == 0 && g_lock.head_seq == head);
    CHECK(!g_lock.key_pending && lock_logged_event(&g_lock, head, ev, sizeof ev) == 0);
    lock_tamper(&g_lock, LOCK_TAMPER_CASE_OPENED);
    CHECK(g_lock.head_seq == head + 1u && g_lock.oldest_seq == head + 1u);
    lock_keypad_entry(&g_lock, "1234", 4);
    CHECK(g_lock.bolt == LOCK_BOLT_LOCKED); /* the code is gone */
    return 0;
}

/* Section 15's PROVISION vector: device_key 00..0f, serial HALO-000042, secret 40..5f. */
#define PROVISION_FRAME                                                                         \
    "a5 3f 00 b2 20 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 0b 48 41 4c 4f 2d 30 30" \
    "30 30 34 32 20 40 41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50 51 52 53 54 55 56 57 58" \
    "59 5a 5b 5c 5d 5e 5f 10 68 ee 27"

static int factory_boot(void)
{
    memset(&g_host, 0, sizeof g_host);
    g_boot_key = NULL;
    g_bridge_key = KEY;
    g_otp_sealed = 0;
    g_host.rtc = 1700000000u;
    g_host.battery = 100;
    g_host.rand_byte = 0x20;
    if (boot(512) != 0) {
        return 1;
    }
    lock_radio_connected(&g_lock, 23);
    return 0;
}

static int test_provisioning(void)
{
    uint8_t frame[128], body[18] = {LKP_FRAME_HELLO}, rec[80];
    size_t n;
    central_t c;
    CHECK(factory_boot() == 0 && g_lock.factory_mode && !g_lock.has_key);
    /* Factory mode: every HELLO is refused, no session, no request. */
    body[1] = g_version;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 18"));
    /* A malformed PROVISION (one byte short) changes nothing. */
    n = unhex(PROVISION_FRAME, rec);
    host_tx_clear(&g_host);
    write_all(frame, frame_of(rec + 4, n - 9, frame), 20);
    CHECK(eq_hex(g_host.tx + 4, 18, "21 02 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
    CHECK(g_lock.factory_mode && !g_otp_sealed);
    /* The vector's PROVISION, in 20-byte chunks. */
    n = unhex(PROVISION_FRAME, frame);
    host_tx_clear(&g_host);
    write_all(frame, n, 20);
    CHECK(eq_hex(g_host.tx + 4, 18, "21 00 5c b2 bf e6 2b f7 68 8c 34 e8 7b 17 fd 16 5d 8c"));
    CHECK(!g_lock.factory_mode && g_lock.has_key && g_otp_sealed);
    CHECK(host_nvs_read(&g_host, LOCK_NVS_ID_SERIAL, rec, sizeof rec) == 12 && memcmp(rec, "\x0bHALO-000042", 12) == 0);
    CHECK(host_nvs_read(&g_host, LOCK_NVS_ID_OFFLINE_SECRET, rec, sizeof rec) == 37 && rec[0] == 32 && rec[1] == 0x40);
    CHECK(g_lock.offline_secret_set && g_lock.offline_generation == 0);
    /* Once: the same frame again is refused and changes nothing. */
    host_tx_clear(&g_host);
    write_all(frame, n, 20);
    CHECK(eq_hex(g_host.tx + 4, 18, "21 17 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"));
    /* It speaks under the written key now, on this connection and after a power cycle. */
    CHECK(handshake(&c) == 0);
    CHECK(boot(512) == 0 && g_lock.has_key && !g_lock.factory_mode);
    lock_radio_connected(&g_lock, 23);
    CHECK(handshake(&c) == 0);
    return 0;
}

static int test_keyless_after_the_factory(void)
{
    /* The one-way switch is burnt but the key record is gone: no way back in over the air. */
    uint8_t frame[128], body[18] = {LKP_FRAME_HELLO};
    size_t n;
    CHECK(factory_boot() == 0);
    g_otp_sealed = 1;
    CHECK(boot(512) == 0 && !g_lock.factory_mode && !g_lock.has_key);
    lock_radio_connected(&g_lock, 23);
    n = unhex(PROVISION_FRAME, frame);
    host_tx_clear(&g_host);
    write_all(frame, n, 20);
    CHECK(g_host.tx[4] == LKP_FRAME_PROVISIONED && g_host.tx[5] == LKP_ERR_FACTORY_LOCKED && !g_lock.has_key);
    body[1] = g_version;
    host_tx_clear(&g_host);
    write_all(frame, frame_of(body, 18, frame), 64);
    CHECK(eq_hex(g_host.tx + 4, 2, "7f 18"));
    /* A provisioned lock refuses PROVISION too. */
    fresh(512);
    n = unhex(PROVISION_FRAME, frame);
    host_tx_clear(&g_host);
    write_all(frame, n, 20);
    CHECK(g_host.tx[5] == LKP_ERR_FACTORY_LOCKED && memcmp(g_lock.device_key, KEY, 16) == 0);
    return 0;
}

static int test_provision_decoder(void)
{
    uint8_t b[128];
    lkp_provision_t p;
    size_t n = unhex(PROVISION_FRAME, b) - 8;
    const uint8_t *body = b + 4;
    CHECK(lkp_decode_provision(body, n, &p) == LKP_OK && p.serial.len == 11 && p.offline_secret.len == 32);
    CHECK(p.device_key == body + 2 && p.serial.p == body + 19 && p.offline_secret.p == body + 31);
    CHECK(lkp_decode_provision(body, n + 1, &p) == LKP_ERR_MALFORMED);
    CHECK(lkp_decode_provision(body, 2, &p) == LKP_ERR_MALFORMED);
    b[5] = 2; /* version */
    CHECK(lkp_decode_provision(body, n, &p) == LKP_ERR_MALFORMED);
    b[5] = 1;
    b[4 + 19] = 0x7F; /* not printable */
    CHECK(lkp_decode_provision(body, n, &p) == LKP_ERR_MALFORMED);
    b[4 + 19] = 'H';
    b[4 + 30] = 15; /* secret shorter than 16 */
    CHECK(lkp_decode_provision(body, n, &p) == LKP_ERR_MALFORMED);
    b[4 + 30] = 32;
    b[4 + 18] = 0; /* empty serial */
    CHECK(lkp_decode_provision(body, n, &p) == LKP_ERR_MALFORMED);
    return 0;
}

static int test_keypad_master_mode(void)
{
    central_t c;
    uint8_t put[96] = {LKP_OP_PUT_CODE, 1, 0, 250, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, '1', '1', '1', '1', 0};
    uint8_t answer[LKP_MAX_MESSAGE_SIZE], entry[80];
    size_t len = g_version == 1 ? 20u : 14u + 9u + 57u;
    uint32_t head;
    int i;
    fresh(512);
    CHECK(handshake(&c) == 0);
    CHECK(ask(&c, put, len, answer, 20) == 6 && answer[3] == LKP_OK); /* the cloud's code in slot 250 */
    head = g_lock.head_seq;
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "8642", 4) == 249);
    CHECK(g_lock.head_seq == head && g_lock.code_count == 2); /* nothing logged */
    CHECK(lock_code_entry(&g_lock, 249, entry, sizeof entry) > 0 && lkp_get_u32(entry + 2) == 0 && entry[10] == 4);
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "12", 2) == LOCK_PROGRAM_BAD_PIN);
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "1111", 4) == LOCK_PROGRAM_PIN_IN_USE);
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "24681357", 8) == LOCK_PROGRAM_PIN_IN_USE);
    CHECK(g_lock.code_count == 2);
    /* A wrong master code is a wrong PIN: logged, counted, lockout included. */
    CHECK(lock_keypad_program(&g_lock, "00000000", 8, "5555", 4) == LOCK_PROGRAM_WRONG_MASTER);
    CHECK(g_lock.head_seq == head + 1u && g_lock.wrong_pins == 1);
    for (i = 0; i < 4; i++) {
        lock_keypad_entry(&g_lock, "0000", 4);
    }
    if (g_version >= 2) {
        CHECK(g_lock.keypad_locked);
        CHECK(lock_keypad_program(&g_lock, "24681357", 8, "5555", 4) == LOCK_PROGRAM_LOCKED_OUT);
        g_host.uptime += LOCK_KEYPAD_LOCKOUT_INITIAL_MS;
    }
    /* The right master code resets the wrong-PIN count; the programmed code opens; after a power cycle too. */
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "5555", 4) == 248 && g_lock.wrong_pins == 0);
    CHECK(boot(512) == 0 && g_lock.code_count == 3);
    lock_keypad_entry(&g_lock, "8642", 4);
    CHECK(g_lock.bolt == LOCK_BOLT_UNLOCKED);
    g_host.nvs_full = 1;
    CHECK(lock_keypad_program(&g_lock, "24681357", 8, "7777", 4) == LOCK_PROGRAM_NO_ROOM);
    return 0;
}

/* Section 19's vectors: the scheme's arithmetic, the PST8PDT rule, a weekly window. */
static const uint8_t OFFLINE_SECRET[32] = {0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a,
                                           0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55,
                                           0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f};

static int test_offline_vectors(void)
{
    static const struct {
        uint8_t kind;
        uint32_t start, end;
        uint8_t counter;
        uint32_t q;
        const char *pin;
    } V[] = {
        {LKP_OFFLINE_HOURLY, 472222, 472225, 0, 1465922, "6098235532"},
        {LKP_OFFLINE_DAILY, 472222, 472942, 1, 197841, "0823021369"},
        {LKP_OFFLINE_ONE_TIME, 472222, 472246, 2, 748198, "3112503682"},
        {LKP_OFFLINE_HOURLY, 474109, 474110, 0, 410157, "1706253124"}, /* first chunk rejected */
    };
    size_t i;
    for (i = 0; i < sizeof V / sizeof V[0]; i++) {
        lkp_offline_code_t code = {V[i].kind, V[i].start, V[i].end, V[i].counter};
        lkp_offline_pin_t pin;
        uint32_t q = 0;
        CHECK(lkp_offline_code_valid(&code));
        CHECK(lkp_offline_secret_value(OFFLINE_SECRET, &code, &q) == 0 && q == V[i].q);
        CHECK(lkp_offline_parse_pin(V[i].pin, 10, &pin) && pin.q == V[i].q && pin.kind == V[i].kind &&
              pin.hours == V[i].end - V[i].start && pin.counter == V[i].counter);
    }
    {
        lkp_offline_pin_t pin;
        CHECK(!lkp_offline_parse_pin("9999999999", 10, &pin)); /* q >= Q */
        CHECK(!lkp_offline_parse_pin("12345678a0", 10, &pin));
        CHECK(!lkp_offline_parse_pin("123456789", 9, &pin));
    }
    return 0;
}

static int test_tz_rule_vectors(void)
{
    lkp_tz_rule_t r;
    const uint8_t rule[] = "PST8PDT,M3.2.0,M11.1.0";
    const uint8_t windows[5] = {0x1f, 0x1c, 0x02, 0x1a, 0x04}; /* Mon-Fri 09:00-17:30 */
    CHECK(lkp_tz_parse(rule, sizeof rule - 1, &r) == 0 && r.has_dst);
    CHECK(lkp_tz_utc_offset(&r, 1772963999) == -28800 && lkp_tz_utc_offset(&r, 1772964000) == -25200);
    CHECK(lkp_tz_utc_offset(&r, 1793523599) == -25200 && lkp_tz_utc_offset(&r, 1793523600) == -28800);
    CHECK(!lkp_schedule_open(windows, 1, &r, 1773071940) && lkp_schedule_open(windows, 1, &r, 1773072000));
    CHECK(lkp_schedule_open(windows, 1, &r, 1773102540) && !lkp_schedule_open(windows, 1, &r, 1773102600));
    CHECK(!lkp_schedule_open(windows, 1, &r, 1772899200));
    CHECK(lkp_tz_parse((const uint8_t *)"XX5", 3, &r) != 0 && lkp_tz_parse((const uint8_t *)"AAA25", 5, &r) != 0);
    CHECK(lkp_tz_parse((const uint8_t *)"<+0530>-5:30", 12, &r) == 0 && r.std_offset == 19800 && !r.has_dst);
    return 0;
}

static int test_offline_codes_on_the_lock(void)
{
    central_t c;
    uint8_t req[64], answer[LKP_MAX_MESSAGE_SIZE], ev[32];
    size_t n;
    fresh(512);
    g_host.rtc = 472222u * 3600u + 60u;
    CHECK(handshake(&c) == 0);
    req[0] = LKP_OP_SET_OFFLINE_SECRET;
    req[1] = 6;
    req[2] = 0;
    lkp_put_u32(req + 3, 1);
    memcpy(req + 7, OFFLINE_SECRET, 32);
    n = ask(&c, req, 39, answer, 20);
    CHECK(eq_hex(answer, n, "8c 06 00 00 01 00 00 00 b6 99 aa 49 f5 9d 19 61 9b 6e 18 ce e9 bd 56 d5"));
    /* The one-time code opens once; its use is in storage before the bolt moves. */
    lock_keypad_entry(&g_lock, "3112503682", 10);
    CHECK(g_lock.bolt == LOCK_BOLT_UNLOCKED && g_lock.offline_count == 1);
    CHECK(lock_logged_event(&g_lock, g_lock.head_seq - 1u, ev, sizeof ev) == 23 && ev[0] == LKP_EV_OFFLINE_CODE_USED);
    lock_manual_turn(&g_lock, LOCK_BOLT_LOCKED);
    CHECK(boot(512) == 0 && g_lock.offline_count == 1 && g_lock.offline_generation == 1);
    lock_keypad_entry(&g_lock, "3112503682", 10);
    CHECK(g_lock.bolt == LOCK_BOLT_LOCKED);
    CHECK(lock_logged_event(&g_lock, g_lock.head_seq, ev, sizeof ev) == 26 && ev[0] == LKP_EV_ACCESS_DENIED &&
          ev[9] == LOCK_DENIED_ALREADY_USED && lkp_get_u16(ev + 10) == LKP_NO_SLOT);
    /* Misses survive a power cycle. */
    lock_keypad_entry(&g_lock, "1234567890", 10);
    lock_keypad_entry(&g_lock, "1234567891", 10);
    CHECK(g_lock.offline_misses == 2 && boot(512) == 0 && g_lock.offline_misses == 2);
    g_host.uptime += LKP_OFFLINE_MISS_DECAY_MS;
    lock_keypad_entry(&g_lock, "6098235532", 10); /* hourly, not remembered: opens */
    CHECK(g_lock.bolt == LOCK_BOLT_UNLOCKED && g_lock.offline_misses == 1 && g_lock.offline_count == 1);
    return 0;
}

static int test_get_settings(void)
{
    central_t c;
    uint8_t answer[LKP_MAX_MESSAGE_SIZE];
    size_t n;
    CHECK(factory_boot() == 0);
    {
        uint8_t frame[128];
        size_t len = unhex(PROVISION_FRAME, frame);
        write_all(frame, len, 20);
    }
    CHECK(handshake(&c) == 0);
    ask_hex(&c, "10 05 00", answer, &n);
    CHECK(eq_hex(answer, n, "90 05 00 00 00 00 ff 0b 48 41 4c 4f 2d 30 30 30 30 34 32"));
    ask_hex(&c, "10 06 00 00", answer, &n);
    CHECK(eq_hex(answer, n, "90 06 00 02"));
    return 0;
}

typedef int (*test_fn)(void);
static const struct {
    const char *name;
    test_fn fn;
    int v1_only;
} TESTS[] = {
    {"crc", test_crc, 1},
    {"key_schedule", test_key_schedule, 1},
    {"challenge_chunks", test_challenge_chunks, 0},
    {"status_record_vector", test_status_record_vector, 1},
    {"session_and_status", test_session_and_status, 0},
    {"one_byte_at_a_time_with_garbage", test_one_byte_at_a_time_with_garbage, 0},
    {"replay_and_tamper_dropped", test_replay_and_tamper_dropped, 0},
    {"alerts", test_alerts, 0},
    {"no_random_no_challenge", test_no_random_no_challenge, 0},
    {"counter_exhausted", test_counter_exhausted, 1},
    {"event_log_survives_power_loss", test_event_log_survives_power_loss, 0},
    {"codes_survive_power_loss", test_codes_survive_power_loss, 0},
    {"decoder_rules", test_decoder_rules, 1},
    {"handshake_backoff", test_handshake_backoff, 0},
    {"keypad_lockout", test_keypad_lockout, 0},
    {"key_rotation", test_key_rotation, 0},
    {"key_rotation_storage_failure", test_key_rotation_storage_failure, 1},
    {"factory_reset", test_factory_reset, 0},
    {"provisioning", test_provisioning, 0},
    {"keyless_after_the_factory", test_keyless_after_the_factory, 0},
    {"provision_decoder", test_provision_decoder, 1},
    {"keypad_master_mode", test_keypad_master_mode, 0},
    {"offline_vectors", test_offline_vectors, 1},
    {"tz_rule_vectors", test_tz_rule_vectors, 1},
    {"offline_codes_on_the_lock", test_offline_codes_on_the_lock, 0},
    {"get_settings", test_get_settings, 0},
};

int main(void)
{
    size_t i;
    /* Every test with the lock on version 1, then on version 2 (vectors that
     * are version 1 bytes check themselves only on the first pass). */
    for (g_version = 1; g_version <= LKP_PROTOCOL_VERSION; g_version++) {
        for (i = 0; i < sizeof TESTS / sizeof TESTS[0]; i++) {
            g_test = TESTS[i].name;
            if (g_version > 1 && TESTS[i].v1_only) {
                continue;
            }
            if (TESTS[i].fn() == 0) {
                g_passed++;
                printf("ok   v%u %s\n", g_version, TESTS[i].name);
            } else {
                g_failed++;
                printf("FAIL v%u %s\n", g_version, TESTS[i].name);
            }
        }
    }
    printf("sizeof(lock_t) = %zu bytes\n", sizeof(lock_t));
    printf("%d passed, %d failed\n", g_passed, g_failed);
    return g_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
