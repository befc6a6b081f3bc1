#include "lkp/frame.h"

#include <string.h>

#include "lkp/wire.h"

uint8_t lkp_crc8(const uint8_t *data, size_t len)
{
    /* CRC-8/SMBUS: poly 0x07, init 0, no reflection, no final XOR. */
    uint8_t crc = 0;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (uint8_t)((crc & 0x80u) ? (uint8_t)(crc << 1) ^ 0x07u : (uint8_t)(crc << 1));
        }
    }
    return crc;
}

uint32_t lkp_crc32(const uint8_t *data, size_t len)
{
    /* CRC-32/ISO-HDLC, bitwise: no 1 KiB table in flash for ~1 KB a second. */
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    int bit;
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
        }
    }
    return crc ^ 0xFFFFFFFFu;
}

uint16_t lkp_chunk_size_for_mtu(uint16_t mtu)
{
    unsigned size = mtu > LKP_ATT_HEADER ? (unsigned)mtu - LKP_ATT_HEADER : 0u;
    if (size < LKP_MIN_CHUNK) {
        size = LKP_MIN_CHUNK;
    }
    if (size > LKP_MAX_CHUNK) {
        size = LKP_MAX_CHUNK;
    }
    return (uint16_t)size;
}

size_t lkp_frame_seal(uint8_t *frame, size_t body_len)
{
    if (body_len == 0 || body_len > LKP_MAX_FRAME_BODY) {
        return 0;
    }
    frame[0] = LKP_SOF;
    lkp_put_u16(frame + 1, (uint16_t)body_len);
    frame[3] = lkp_crc8(frame, 3);
    lkp_put_u32(frame + LKP_FRAME_HEADER + body_len, lkp_crc32(frame, LKP_FRAME_HEADER + body_len));
    return LKP_FRAME_HEADER + body_len + LKP_FRAME_TRAILER;
}

void lkp_deframer_reset(lkp_deframer_t *d)
{
    d->len = 0;
    d->consumed = 0;
}

static void drop_front(lkp_deframer_t *d, size_t n)
{
    if (n >= d->len) {
        d->len = 0;
        return;
    }
    memmove(d->buf, d->buf + n, d->len - n);
    d->len = (uint16_t)(d->len - n);
}

static void apply_consumed(lkp_deframer_t *d)
{
    if (d->consumed) {
        drop_front(d, d->consumed);
        d->consumed = 0;
    }
}

size_t lkp_deframer_push(lkp_deframer_t *d, const uint8_t *data, size_t len)
{
    size_t room;
    apply_consumed(d);
    room = sizeof d->buf - d->len;
    if (len > room) {
        len = room;
    }
    if (len) {
        memcpy(d->buf + d->len, data, len);
        d->len = (uint16_t)(d->len + len);
    }
    return len;
}

int lkp_deframer_next(lkp_deframer_t *d, const uint8_t **body, uint16_t *body_len)
{
    apply_consumed(d);
    for (;;) {
        const uint8_t *sof = d->len ? memchr(d->buf, LKP_SOF, d->len) : NULL;
        uint16_t n;
        if (sof == NULL) {
            d->skipped_bytes += d->len;
            d->len = 0;
            return 0;
        }
        if (sof != d->buf) {
            size_t garbage = (size_t)(sof - d->buf);
            d->skipped_bytes += (uint32_t)garbage;
            drop_front(d, garbage);
        }
        if (d->len < LKP_FRAME_HEADER) {
            return 0;
        }
        n = lkp_get_u16(d->buf + 1);
        if (d->buf[3] != lkp_crc8(d->buf, 3) || n == 0 || n > LKP_MAX_FRAME_BODY) {
            d->rejected_frames++;
            drop_front(d, 1);
            continue;
        }
        if (d->len < LKP_FRAME_HEADER + n + LKP_FRAME_TRAILER) {
            return 0;
        }
        if (lkp_get_u32(d->buf + LKP_FRAME_HEADER + n) != lkp_crc32(d->buf, LKP_FRAME_HEADER + n)) {
            d->rejected_frames++;
            drop_front(d, 1);
            continue;
        }
        *body = d->buf + LKP_FRAME_HEADER;
        *body_len = n;
        d->consumed = (uint16_t)(LKP_FRAME_HEADER + n + LKP_FRAME_TRAILER);
        return 1;
    }
}

size_t lkp_deframer_pending(const lkp_deframer_t *d)
{
    return (size_t)(d->len - d->consumed);
}
