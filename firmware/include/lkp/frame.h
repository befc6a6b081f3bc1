/*
 * Framing (docs/ble-protocol.md section 2): SOF 0xA5 | LEN u16 | CRC-8 of the
 * first three bytes | BODY | CRC-32 of everything before it, and the
 * receiver's resynchronisation rule (one byte dropped per failure).
 */
#ifndef LKP_FRAME_H
#define LKP_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define LKP_SOF 0xA5u
#define LKP_FRAME_HEADER 4u
#define LKP_FRAME_TRAILER 4u
#define LKP_MAX_FRAME_BODY 1024u
#define LKP_MAX_FRAME_SIZE (LKP_FRAME_HEADER + LKP_MAX_FRAME_BODY + LKP_FRAME_TRAILER)
#define LKP_DEFAULT_ATT_MTU 23u
#define LKP_ATT_HEADER 3u
#define LKP_MIN_CHUNK 20u
#define LKP_MAX_CHUNK 512u

uint8_t lkp_crc8(const uint8_t *data, size_t len);
uint32_t lkp_crc32(const uint8_t *data, size_t len);
/* ATT MTU -> chunk size (MTU - 3, clamped to 20..512). */
uint16_t lkp_chunk_size_for_mtu(uint16_t mtu);

/* Wrap `body_len` bytes already placed at frame + 4 into a frame in place;
 * returns the frame's total length (0 if body_len is 0 or too large). */
size_t lkp_frame_seal(uint8_t *frame, size_t body_len);

/* Reassembly buffer and resync state for one direction of one link. */
typedef struct lkp_deframer {
    uint8_t buf[LKP_MAX_FRAME_SIZE];
    uint16_t len;        /* bytes buffered */
    uint16_t consumed;   /* bytes of the last delivered frame, dropped on the next call */
    uint32_t skipped_bytes;
    uint32_t rejected_frames;
} lkp_deframer_t;

void lkp_deframer_reset(lkp_deframer_t *d);
/* Append up to `len` bytes; returns how many fitted (the rest must be pushed
 * again after lkp_deframer_next has made room). */
size_t lkp_deframer_push(lkp_deframer_t *d, const uint8_t *data, size_t len);
/* The next complete frame's body, or 0 (need more data). The body stays
 * valid until the next call on this deframer. */
int lkp_deframer_next(lkp_deframer_t *d, const uint8_t **body, uint16_t *body_len);
/* Bytes buffered that are not yet a frame (a partial frame or garbage). */
size_t lkp_deframer_pending(const lkp_deframer_t *d);

#endif
