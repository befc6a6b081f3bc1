/* libFuzzer: the POSIX TZ rule parser and its evaluation, and the offline PIN
 * parser. A parsed rule's offsets stay within +/-25 h at any instant, and the
 * window test and the PIN parser never read outside their input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkp/offline.h"
#include "lkp/schedule.h"
#include "lkp/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lkp_tz_rule_t rule;
    lkp_offline_pin_t pin;
    uint32_t t;
    uint8_t count;
    if (size < 5) {
        return 0;
    }
    t = lkp_get_u32(data);
    count = (uint8_t)(data[4] % (LKP_SCHEDULE_MAX_WINDOWS + 1u));
    data += 5;
    size -= 5;
    if (lkp_offline_parse_pin((const char *)data, size, &pin)) {
        if (pin.q >= LKP_OFFLINE_Q || pin.counter > 3 || pin.kind < 1 || pin.kind > 3 || pin.hours == 0) {
            abort();
        }
    }
    if (size > (size_t)count * LKP_SCHEDULE_WINDOW_SIZE && lkp_tz_parse(data + (size_t)count * 5u,
                                                                       size - (size_t)count * 5u, &rule) == 0) {
        int32_t off = lkp_tz_utc_offset(&rule, t);
        if (off < -25 * 3600 || off > 25 * 3600) {
            abort();
        }
        (void)lkp_schedule_open(data, count, &rule, t);
    }
    return 0;
}
