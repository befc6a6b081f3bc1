/* libFuzzer: the frame decoder fed arbitrary bytes in arbitrary chunk sizes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkp/frame.h"
#include "lkp/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lkp_deframer_t d;
    size_t off = 0;
    lkp_deframer_reset(&d);
    d.skipped_bytes = 0;
    d.rejected_frames = 0;
    while (off < size) {
        /* The first byte of each step says how many bytes the chunk has. */
        size_t step = (size_t)(data[off] % 64u) + 1u, pushed;
        const uint8_t *body;
        uint16_t len;
        off++;
        if (step > size - off) {
            step = size - off;
        }
        pushed = lkp_deframer_push(&d, data + off, step);
        off += pushed;
        while (lkp_deframer_next(&d, &body, &len)) {
            /* Every delivered frame is well formed. */
            if (len == 0 || len > LKP_MAX_FRAME_BODY || body[-4] != LKP_SOF ||
                lkp_get_u16(body - 3) != len || lkp_crc8(body - 4, 3) != body[-1] ||
                lkp_get_u32(body + len) != lkp_crc32(body - 4, 4u + len)) {
                abort();
            }
        }
        if (pushed < step) {
            abort(); /* a buffer with no complete frame left always has room */
        }
    }
    return 0;
}
