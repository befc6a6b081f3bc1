/* libFuzzer: every request decoder. A decoded request obeys the field rules
 * of docs/ble-protocol.md 6.1 and points only inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkp/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void inside(const lkp_str_t *s, const uint8_t *data, size_t size)
{
    if (s->len && (s->p < data || s->p + s->len > data + size)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lkp_request_t r;
    /* The first byte picks the protocol version (1: compact, 2: padded fields). */
    uint8_t version = size ? (uint8_t)(1u + (data[0] & 1u)) : 1u;
    int rc;
    if (size) {
        data++;
        size--;
    }
    rc = lkp_decode_request(data, size, version, &r);
    size_t cps = 0;
    int control = 0;
    if (rc < 0) {
        if (size >= 3) {
            abort();
        }
        return 0;
    }
    if (rc != LKP_OK) {
        return 0;
    }
    switch (r.opcode) {
    case LKP_OP_PUT_CODE:
        inside(&r.u.put_code.pin, data, size);
        inside(&r.u.put_code.name, data, size);
        if (!lkp_pin_valid(r.u.put_code.pin.p, r.u.put_code.pin.len) ||
            !lkp_utf8_valid(r.u.put_code.name.p, r.u.put_code.name.len, &cps, &control) || cps > 14 || control ||
            (r.u.put_code.starts_at == 0) != (r.u.put_code.ends_at == 0) ||
            (r.u.put_code.starts_at && r.u.put_code.ends_at <= r.u.put_code.starts_at)) {
            abort();
        }
        break;
    case LKP_OP_SET_TIME:
        inside(&r.u.set_time.timezone, data, size);
        if (r.u.set_time.timezone.len == 0 || r.u.set_time.timezone.len > 64 ||
            r.u.set_time.utc_offset_minutes < -1080 || r.u.set_time.utc_offset_minutes > 1080) {
            abort();
        }
        break;
    case LKP_OP_LIST_CODES:
        if (r.u.list_codes.max_count < 1 || r.u.list_codes.max_count > 10) {
            abort();
        }
        break;
    case LKP_OP_READ_EVENTS:
        if (r.u.read_events.max_count < 1 || r.u.read_events.max_count > 16) {
            abort();
        }
        break;
    case LKP_OP_ROTATE_KEY:
        if (r.u.rotate_key.rotation_id == 0 || r.u.rotate_key.new_key != data + 7 || size != 23) {
            abort();
        }
        break;
    case LKP_OP_COMMIT_KEY:
        if (size != 7) {
            abort();
        }
        break;
    case LKP_OP_FACTORY_RESET:
        if (size != 3) {
            abort();
        }
        break;
    case LKP_OP_SET_OFFLINE_SECRET:
        if (r.u.set_offline_secret.generation == 0 || r.u.set_offline_secret.secret != data + 7 || size != 39) {
            abort();
        }
        break;
    case LKP_OP_REVOKE_OFFLINE_CODE:
        if (!lkp_offline_code_valid(&r.u.revoke) || size != 13) {
            abort();
        }
        break;
    case LKP_OP_PUT_SCHEDULED_CODE: {
        lkp_tz_rule_t rule;
        uint8_t i;
        inside(&r.u.put_code.pin, data, size);
        inside(&r.u.put_code.tz_rule, data, size);
        if (!r.u.put_code.scheduled || r.u.put_code.window_count < 1 || r.u.put_code.window_count > 8 ||
            lkp_tz_parse(r.u.put_code.tz_rule.p, r.u.put_code.tz_rule.len, &rule) != 0 ||
            r.u.put_code.windows + r.u.put_code.window_count * 5u != data + size) {
            abort();
        }
        for (i = 0; i < r.u.put_code.window_count; i++) {
            if (!lkp_window_valid(r.u.put_code.windows + i * 5u)) {
                abort();
            }
        }
        break;
    }
    case LKP_OP_DELETE_CODE:
        if (r.u.delete_code.slot == 0xFFFF) {
            abort();
        }
        break;
    default:
        break;
    }
    return 0;
}
