#include "lkp/codec.h"

#include <string.h>

#include "lkp/wire.h"

typedef struct reader {
    const uint8_t *p;
    size_t len, pos;
    int err; /* first error (ErrorCode) or LKP_OK */
    int padded; /* version 2: PIN and name are zero-padded to their maximum */
} reader_t;

static int need(reader_t *r, size_t n)
{
    if (r->err != LKP_OK) {
        return 0;
    }
    if (r->len - r->pos < n) {
        r->err = LKP_ERR_MALFORMED;
        return 0;
    }
    return 1;
}

static uint8_t rd_u8(reader_t *r)
{
    uint8_t v = 0;
    if (need(r, 1)) {
        v = r->p[r->pos];
        r->pos += 1;
    }
    return v;
}

static uint16_t rd_u16(reader_t *r)
{
    uint16_t v = 0;
    if (need(r, 2)) {
        v = lkp_get_u16(r->p + r->pos);
        r->pos += 2;
    }
    return v;
}

static uint32_t rd_u32(reader_t *r)
{
    uint32_t v = 0;
    if (need(r, 4)) {
        v = lkp_get_u32(r->p + r->pos);
        r->pos += 4;
    }
    return v;
}

/* A fixed-size byte field: a pointer into the message. */
static const uint8_t *rd_bytes(reader_t *r, size_t n)
{
    const uint8_t *v = NULL;
    if (need(r, n)) {
        v = r->p + r->pos;
        r->pos += n;
    }
    return v;
}

static uint8_t rd_bool(reader_t *r)
{
    uint8_t v = rd_u8(r);
    if (r->err == LKP_OK && v > 1) {
        r->err = LKP_ERR_MALFORMED;
    }
    return v;
}

int lkp_utf8_valid(const uint8_t *p, size_t len, size_t *code_points, int *has_control)
{
    size_t i = 0, cps = 0;
    int control = 0;
    while (i < len) {
        uint8_t c = p[i];
        uint32_t cp;
        size_t n, k;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1Fu;
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0Fu;
            n = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07u;
            n = 4;
        } else {
            return 0;
        }
        if (len - i < n) {
            return 0;
        }
        for (k = 1; k < n; k++) {
            if ((p[i + k] & 0xC0u) != 0x80u) {
                return 0;
            }
            cp = (cp << 6) | (p[i + k] & 0x3Fu);
        }
        /* Overlong forms, surrogates and values above U+10FFFF are not UTF-8. */
        if ((n == 3 && cp < 0x800u) || (n == 4 && (cp < 0x10000u || cp > 0x10FFFFu)) ||
            (cp >= 0xD800u && cp <= 0xDFFFu)) {
            return 0;
        }
        if (cp < 0x20u) {
            control = 1;
        }
        cps++;
        i += n;
    }
    if (code_points) {
        *code_points = cps;
    }
    if (has_control) {
        *has_control = control;
    }
    return 1;
}

/* u8 length + UTF-8 without NUL; errors carry the field's own code. */
static lkp_str_t rd_text(reader_t *r, uint8_t max, int field_error)
{
    lkp_str_t s;
    uint8_t n = rd_u8(r);
    s.p = NULL;
    s.len = 0;
    if (r->err != LKP_OK) {
        return s;
    }
    if (n > max) {
        r->err = field_error;
        return s;
    }
    if (!need(r, n)) {
        return s;
    }
    s.p = r->p + r->pos;
    s.len = n;
    r->pos += n;
    if (!lkp_utf8_valid(s.p, n, NULL, NULL) || memchr(s.p, 0, n) != NULL) {
        r->err = field_error;
    }
    return s;
}

/* Version 2's fixed-size field: u8 length, then exactly `max` bytes, zero after the text. */
static lkp_str_t rd_padded(reader_t *r, uint8_t max, int field_error)
{
    lkp_str_t s;
    uint8_t n = rd_u8(r);
    size_t i;
    s.p = NULL;
    s.len = 0;
    if (r->err != LKP_OK) {
        return s;
    }
    if (n > max) {
        r->err = field_error;
        return s;
    }
    if (!need(r, max)) {
        return s;
    }
    s.p = r->p + r->pos;
    s.len = n;
    r->pos += max;
    for (i = n; i < max; i++) {
        if (s.p[i] != 0) {
            r->err = field_error;
            return s;
        }
    }
    if (!lkp_utf8_valid(s.p, n, NULL, NULL) || memchr(s.p, 0, n) != NULL) {
        r->err = field_error;
    }
    return s;
}

static lkp_str_t rd_code_text(reader_t *r, uint8_t max, int field_error)
{
    return r->padded ? rd_padded(r, max, field_error) : rd_text(r, max, field_error);
}

/* PUT_SCHEDULED_CODE's extension: version, TZ rule, windows (each checked as read). */
static void read_schedule(reader_t *r, lkp_request_t *out)
{
    uint8_t version, count, i;
    out->u.put_code.scheduled = 1;
    version = rd_u8(r);
    if (r->err == LKP_OK && version != LKP_SCHEDULE_EXTENSION) {
        r->err = LKP_ERR_UNSUPPORTED_EXTENSION;
    }
    out->u.put_code.tz_rule = rd_text(r, LKP_TZ_RULE_MAX, LKP_ERR_INVALID_SCHEDULE);
    count = rd_u8(r);
    if (r->err == LKP_OK && count > LKP_SCHEDULE_MAX_WINDOWS) {
        r->err = LKP_ERR_MALFORMED;
    }
    out->u.put_code.windows = r->err == LKP_OK ? r->p + r->pos : NULL;
    for (i = 0; r->err == LKP_OK && i < count; i++) {
        const uint8_t *w = rd_bytes(r, LKP_SCHEDULE_WINDOW_SIZE);
        if (w && !lkp_window_valid(w)) {
            r->err = LKP_ERR_INVALID_SCHEDULE;
        }
    }
    out->u.put_code.window_count = r->err == LKP_OK ? count : 0;
}

int lkp_pin_valid(const uint8_t *p, size_t len)
{
    size_t i;
    if (len < LKP_PIN_MIN || len > LKP_PIN_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int tz_chars_valid(const lkp_str_t *tz)
{
    size_t i;
    if (tz->len == 0) {
        return 0;
    }
    for (i = 0; i < tz->len; i++) {
        uint8_t c = tz->p[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
              c == '_' || c == '+' || c == '-')) {
            return 0;
        }
    }
    return 1;
}

static int validate_code(const lkp_str_t *pin, const lkp_str_t *name, uint32_t starts, uint32_t ends)
{
    size_t cps = 0;
    int control = 0;
    if (!lkp_pin_valid(pin->p, pin->len)) {
        return LKP_ERR_BAD_PIN;
    }
    (void)lkp_utf8_valid(name->p, name->len, &cps, &control);
    if (cps > LKP_NAME_MAX_CHARS || control) {
        return LKP_ERR_INVALID_NAME;
    }
    if ((starts == 0) != (ends == 0) || (starts != 0 && ends <= starts)) {
        return LKP_ERR_INVALID_SCHEDULE;
    }
    return LKP_OK;
}

int lkp_decode_request(const uint8_t *msg, size_t len, uint8_t version, lkp_request_t *out)
{
    reader_t r;
    int semantic = LKP_OK;

    if (len < 3) {
        return -1;
    }
    memset(out, 0, sizeof *out);
    out->opcode = msg[0];
    out->request_id = lkp_get_u16(msg + 1);
    r.p = msg;
    r.len = len;
    r.pos = 3;
    r.err = LKP_OK;
    r.padded = version >= 2;

    /* Fields are read in layout order (the first decoding error wins), then
     * the semantic rules run, then trailing bytes are refused. */
    switch (out->opcode) {
    case LKP_OP_GET_STATUS:
    case LKP_OP_LOCK:
    case LKP_OP_UNLOCK:
        break;
    case LKP_OP_SET_TIME:
        out->u.set_time.epoch = rd_u32(&r);
        out->u.set_time.utc_offset_minutes = (int16_t)rd_u16(&r);
        out->u.set_time.timezone = rd_text(&r, LKP_TIMEZONE_MAX, LKP_ERR_INVALID_TIMEZONE);
        if (r.err == LKP_OK) {
            if (!tz_chars_valid(&out->u.set_time.timezone)) {
                semantic = LKP_ERR_INVALID_TIMEZONE;
            } else if (out->u.set_time.utc_offset_minutes < -LKP_UTC_OFFSET_MAX ||
                       out->u.set_time.utc_offset_minutes > LKP_UTC_OFFSET_MAX) {
                semantic = LKP_ERR_INVALID_TIME;
            }
        }
        break;
    case LKP_OP_PUT_CODE:
    case LKP_OP_PUT_SCHEDULED_CODE:
        out->u.put_code.slot = rd_u16(&r);
        out->u.put_code.replace = rd_bool(&r);
        out->u.put_code.starts_at = rd_u32(&r);
        out->u.put_code.ends_at = rd_u32(&r);
        out->u.put_code.pin = rd_code_text(&r, LKP_PIN_MAX, LKP_ERR_BAD_PIN);
        out->u.put_code.name = rd_code_text(&r, LKP_NAME_MAX_BYTES, LKP_ERR_INVALID_NAME);
        if (out->opcode == LKP_OP_PUT_SCHEDULED_CODE) {
            read_schedule(&r, out);
        }
        if (r.err == LKP_OK) {
            semantic = validate_code(&out->u.put_code.pin, &out->u.put_code.name, out->u.put_code.starts_at,
                                     out->u.put_code.ends_at);
        }
        if (semantic == LKP_OK && r.err == LKP_OK && out->opcode == LKP_OP_PUT_SCHEDULED_CODE) {
            lkp_tz_rule_t rule;
            if (lkp_tz_parse(out->u.put_code.tz_rule.p, out->u.put_code.tz_rule.len, &rule) != 0 ||
                out->u.put_code.window_count == 0) {
                semantic = LKP_ERR_INVALID_SCHEDULE;
            }
        }
        break;
    case LKP_OP_DELETE_CODE:
        out->u.delete_code.slot = rd_u16(&r);
        if (r.err == LKP_OK && out->u.delete_code.slot == LKP_ANY_SLOT) {
            semantic = LKP_ERR_INVALID_SLOT;
        }
        break;
    case LKP_OP_LIST_CODES:
        out->u.list_codes.start_slot = rd_u16(&r);
        out->u.list_codes.max_count = rd_u8(&r);
        if (r.err == LKP_OK && (out->u.list_codes.max_count < 1 || out->u.list_codes.max_count > LKP_MAX_LIST_PAGE)) {
            semantic = LKP_ERR_MALFORMED;
        }
        break;
    case LKP_OP_READ_EVENTS:
        out->u.read_events.since_seq = rd_u32(&r);
        out->u.read_events.max_count = rd_u8(&r);
        if (r.err == LKP_OK &&
            (out->u.read_events.max_count < 1 || out->u.read_events.max_count > LKP_MAX_EVENTS_PAGE)) {
            semantic = LKP_ERR_MALFORMED;
        }
        break;
    case LKP_OP_ROTATE_KEY:
        out->u.rotate_key.rotation_id = rd_u32(&r);
        out->u.rotate_key.new_key = rd_bytes(&r, 16);
        if (r.err == LKP_OK && out->u.rotate_key.rotation_id == 0) {
            semantic = LKP_ERR_MALFORMED; /* rotation 0 is reserved: "none committed yet" */
        }
        break;
    case LKP_OP_COMMIT_KEY:
        out->u.commit_key.rotation_id = rd_u32(&r);
        break;
    case LKP_OP_FACTORY_RESET:
    case LKP_OP_GET_SETTINGS:
        break;
    case LKP_OP_SET_OFFLINE_SECRET:
        out->u.set_offline_secret.generation = rd_u32(&r);
        out->u.set_offline_secret.secret = rd_bytes(&r, LKP_OFFLINE_SECRET_SIZE);
        if (r.err == LKP_OK && out->u.set_offline_secret.generation == 0) {
            semantic = LKP_ERR_MALFORMED; /* generation 0 is the factory's secret */
        }
        break;
    case LKP_OP_REVOKE_OFFLINE_CODE:
        out->u.revoke.kind = rd_u8(&r);
        out->u.revoke.start_hour = rd_u32(&r);
        out->u.revoke.end_hour = rd_u32(&r);
        out->u.revoke.counter = rd_u8(&r);
        if (r.err == LKP_OK && !lkp_offline_code_valid(&out->u.revoke)) {
            semantic = LKP_ERR_INVALID_SCHEDULE;
        }
        break;
    case LKP_OP_GET_CODE_SCHEDULE:
        out->u.get_schedule.slot = rd_u16(&r);
        break;
    default:
        return LKP_ERR_UNKNOWN_OPCODE;
    }
    if (r.err != LKP_OK) {
        return r.err;
    }
    if (semantic != LKP_OK) {
        return semantic;
    }
    if (r.pos != r.len) {
        return LKP_ERR_MALFORMED;
    }
    return LKP_OK;
}

int lkp_decode_provision(const uint8_t *body, size_t len, lkp_provision_t *out)
{
    size_t at = 2u + 16u, i;
    uint8_t serial_len, secret_len;
    memset(out, 0, sizeof *out);
    if (len < at + 1u || body[0] != 0x20u || body[1] != LKP_PROVISION_VERSION) {
        return LKP_ERR_MALFORMED;
    }
    serial_len = body[at];
    if (serial_len < 1u || serial_len > LKP_SERIAL_MAX || len - at - 1u < (size_t)serial_len + 1u) {
        return LKP_ERR_MALFORMED;
    }
    for (i = 0; i < serial_len; i++) {
        uint8_t c = body[at + 1u + i];
        if (c < 0x20u || c > 0x7Eu) {
            return LKP_ERR_MALFORMED; /* printable ASCII only */
        }
    }
    at += 1u + serial_len;
    secret_len = body[at];
    if (secret_len != LKP_PROVISION_SECRET_SIZE ||
        len - at - 1u != (size_t)secret_len) {
        return LKP_ERR_MALFORMED;
    }
    out->device_key = body + 2;
    out->serial.p = body + 2u + 16u + 1u;
    out->serial.len = serial_len;
    out->offline_secret.p = body + at + 1u;
    out->offline_secret.len = secret_len;
    return LKP_OK;
}

size_t lkp_encode_event(const lkp_event_t *ev, uint8_t version, uint8_t *buf, size_t cap)
{
    size_t n = 9;
    size_t body;
    int padded = version >= 2;
    switch (ev->type) {
    case LKP_EV_LOCKED:
    case LKP_EV_UNLOCKED:
        body = 3;
        break;
    case LKP_EV_INCORRECT_PIN:
        body = 1u + (padded ? LKP_DIGITS_MAX : ev->digits_len);
        break;
    case LKP_EV_BOLT_FAULT:
        body = 3;
        break;
    case LKP_EV_BATTERY:
        body = 2;
        break;
    case LKP_EV_DOOR:
    case LKP_EV_TAMPER:
        body = 1;
        break;
    case LKP_EV_OFFLINE_CODE_USED:
        body = 14;
        break;
    case LKP_EV_ACCESS_DENIED:
        body = 17;
        break;
    default:
        return 0;
    }
    if (cap < n + body || ev->digits_len > LKP_DIGITS_MAX) {
        return 0;
    }
    buf[0] = ev->type;
    lkp_put_u32(buf + 1, ev->seq);
    lkp_put_u32(buf + 5, ev->timestamp);
    switch (ev->type) {
    case LKP_EV_LOCKED:
    case LKP_EV_UNLOCKED:
        buf[9] = ev->a;
        lkp_put_u16(buf + 10, ev->slot);
        break;
    case LKP_EV_INCORRECT_PIN:
        buf[9] = ev->digits_len;
        memcpy(buf + 10, ev->digits, ev->digits_len);
        if (padded) {
            memset(buf + 10 + ev->digits_len, 0, LKP_DIGITS_MAX - ev->digits_len);
        }
        break;
    case LKP_EV_BOLT_FAULT:
        buf[9] = ev->a;
        buf[10] = ev->b;
        buf[11] = ev->c;
        break;
    case LKP_EV_BATTERY:
        buf[9] = ev->a;
        buf[10] = ev->b;
        break;
    case LKP_EV_OFFLINE_CODE_USED:
    case LKP_EV_ACCESS_DENIED: {
        uint8_t *q = buf + 9;
        if (ev->type == LKP_EV_ACCESS_DENIED) {
            q[0] = ev->a;
            lkp_put_u16(q + 1, ev->slot);
            q += 3;
        }
        lkp_put_u32(q, ev->generation);
        q[4] = ev->code.kind;
        lkp_put_u32(q + 5, ev->code.start_hour);
        lkp_put_u32(q + 9, ev->code.end_hour);
        q[13] = ev->code.counter;
        break;
    }
    default:
        buf[9] = ev->a;
        break;
    }
    return n + body;
}

size_t lkp_code_record(uint16_t slot, const lkp_request_t *put, uint8_t rec[LKP_CODE_RECORD_SIZE])
{
    memset(rec, 0, LKP_CODE_RECORD_SIZE);
    lkp_put_u16(rec, slot);
    lkp_put_u32(rec + 2, put->u.put_code.starts_at);
    lkp_put_u32(rec + 6, put->u.put_code.ends_at);
    rec[10] = put->u.put_code.pin.len;
    memcpy(rec + 11, put->u.put_code.pin.p, put->u.put_code.pin.len);
    rec[11 + LKP_PIN_MAX] = put->u.put_code.name.len;
    if (put->u.put_code.name.len) {
        memcpy(rec + 12 + LKP_PIN_MAX, put->u.put_code.name.p, put->u.put_code.name.len);
    }
    return LKP_CODE_RECORD_SIZE;
}

int lkp_code_record_valid(const uint8_t *rec, size_t len)
{
    return len == LKP_CODE_RECORD_SIZE && lkp_pin_valid(rec + 11, rec[10]) &&
           rec[11 + LKP_PIN_MAX] <= LKP_NAME_MAX_BYTES;
}

size_t lkp_code_entry_wire(const uint8_t rec[LKP_CODE_RECORD_SIZE], uint8_t version, uint8_t *out)
{
    uint8_t pin_len = rec[10], name_len = rec[11 + LKP_PIN_MAX];
    size_t n;
    if (version >= 2) {
        memcpy(out, rec, LKP_CODE_RECORD_SIZE);
        return LKP_CODE_RECORD_SIZE;
    }
    memcpy(out, rec, 11u + pin_len);
    n = 11u + pin_len;
    out[n++] = name_len;
    memcpy(out + n, rec + 12 + LKP_PIN_MAX, name_len);
    return n + name_len;
}
