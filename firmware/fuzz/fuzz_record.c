/* libFuzzer: the record layer. Arbitrary records must be refused without a
 * crash and without moving the replay window; sealing then opening any
 * plaintext gives it back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkp/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void keyed(lkp_session_t *s)
{
    size_t i;
    memset(s, 0, sizeof *s);
    for (i = 0; i < 16; i++) {
        s->keys.session_key[i] = (uint8_t)i;
    }
    memcpy(s->keys.session_id, "sessid!!", 8);
    s->state = LKP_SESSION_ESTABLISHED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t out[LKP_MAX_MESSAGE_SIZE];
    static uint8_t rec[1100];
    lkp_session_t rx, tx;
    size_t n = 0, pt;
    keyed(&rx);
    rx.rx_counter = 5;
    if (lkp_record_open(&rx, LKP_DIRECTION_TO_LOCK, data, size, out, sizeof out, &n) == LKP_RECORD_OK) {
        abort(); /* forging a tag is not something a fuzzer does */
    }
    if (rx.rx_counter != 5) {
        abort();
    }
    pt = size > LKP_MAX_MESSAGE_SIZE ? LKP_MAX_MESSAGE_SIZE : size;
    keyed(&tx);
    memcpy(rec + LKP_RECORD_HEADER, data, pt);
    n = lkp_record_seal(&tx, LKP_DIRECTION_TO_LOCK, rec, pt);
    if (n != LKP_RECORD_HEADER + pt + LKP_TAG_SIZE) {
        abort();
    }
    if (lkp_record_open(&rx, LKP_DIRECTION_TO_BRIDGE, rec, n, out, sizeof out, &pt) == LKP_RECORD_OK) {
        abort(); /* the other direction's nonce */
    }
    keyed(&rx);
    if (lkp_record_open(&rx, LKP_DIRECTION_TO_LOCK, rec, n, out, sizeof out, &pt) != LKP_RECORD_OK ||
        (size && memcmp(out, data, pt) != 0)) {
        abort();
    }
    if (lkp_record_open(&rx, LKP_DIRECTION_TO_LOCK, rec, n, out, sizeof out, &pt) != LKP_RECORD_REPLAY) {
        abort();
    }
    return 0;
}
