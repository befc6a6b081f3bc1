#include "lkp/offline.h"

#include <string.h>

#include "lkp/crypto.h"
#include "lkp/wire.h"

static const char LABEL[] = "LKP2 offline code";

int lkp_offline_code_valid(const lkp_offline_code_t *c)
{
    uint32_t hours;
    if (c->kind < LKP_OFFLINE_ONE_TIME || c->kind > LKP_OFFLINE_DAILY || c->counter >= LKP_OFFLINE_CODES_PER_WINDOW ||
        c->start_hour == 0 || c->end_hour <= c->start_hour) {
        return 0;
    }
    hours = c->end_hour - c->start_hour;
    switch (c->kind) {
    case LKP_OFFLINE_ONE_TIME:
        return hours == LKP_OFFLINE_ONE_TIME_HOURS;
    case LKP_OFFLINE_HOURLY:
        return hours <= LKP_OFFLINE_HOURLY_MAX_HOURS;
    default:
        return hours % 24u == 0 && hours / 24u >= 1u && hours / 24u <= LKP_OFFLINE_DAILY_MAX_DAYS;
    }
}

int lkp_offline_parse_pin(const char *digits, size_t len, lkp_offline_pin_t *out)
{
    uint64_t v = 0;
    uint32_t header, slot;
    size_t i;
    if (len != LKP_OFFLINE_PIN_DIGITS) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (digits[i] < '0' || digits[i] > '9') {
            return 0;
        }
        v = v * 10u + (uint64_t)(digits[i] - '0');
    }
    if (v / LKP_OFFLINE_HEADERS >= LKP_OFFLINE_Q) {
        return 0;
    }
    out->q = (uint32_t)(v / LKP_OFFLINE_HEADERS);
    header = (uint32_t)(v % LKP_OFFLINE_HEADERS);
    slot = header / LKP_OFFLINE_CODES_PER_WINDOW;
    out->counter = (uint8_t)(header % LKP_OFFLINE_CODES_PER_WINDOW);
    if (slot == 0) {
        out->kind = LKP_OFFLINE_ONE_TIME;
        out->hours = LKP_OFFLINE_ONE_TIME_HOURS;
    } else if (slot <= LKP_OFFLINE_HOURLY_MAX_HOURS) {
        out->kind = LKP_OFFLINE_HOURLY;
        out->hours = slot;
    } else {
        out->kind = LKP_OFFLINE_DAILY;
        out->hours = (slot - LKP_OFFLINE_HOURLY_MAX_HOURS) * 24u;
    }
    return 1;
}

int lkp_offline_secret_value(const uint8_t secret[LKP_OFFLINE_SECRET_SIZE], const lkp_offline_code_t *code,
                             uint32_t *q)
{
    uint8_t msg[11], digest[LKP_SHA256_SIZE];
    lkp_part_t parts[2];
    unsigned block, i;
    msg[0] = code->kind;
    lkp_put_u32(msg + 1, code->start_hour);
    lkp_put_u32(msg + 5, code->end_hour);
    msg[9] = code->counter;
    parts[0].p = (const uint8_t *)LABEL;
    parts[0].n = sizeof LABEL - 1u;
    parts[1].p = msg;
    parts[1].n = sizeof msg;
    /* Rejection sampling: P(no chunk of 256 blocks below the bound) < 2^-20000. */
    for (block = 0; block < 256u; block++) {
        msg[10] = (uint8_t)block;
        if (lkp_hmac_sha256(secret, LKP_OFFLINE_SECRET_SIZE, parts, 2, digest) != 0) {
            return -1;
        }
        for (i = 0; i < 8u; i++) {
            uint32_t x = lkp_get_u32(digest + 4u * i);
            if (x < LKP_OFFLINE_BOUND) {
                *q = x % LKP_OFFLINE_Q;
                lkp_wipe(digest, sizeof digest);
                return 0;
            }
        }
    }
    lkp_wipe(digest, sizeof digest);
    return -1;
}

int lkp_offline_remembered(const lkp_offline_code_t *code)
{
    return code->kind == LKP_OFFLINE_ONE_TIME || code->end_hour - code->start_hour > LKP_OFFLINE_ACTIVATION_HOURS;
}


void lkp_offline_candidates(const lkp_offline_pin_t *pin, uint32_t now, int64_t *newest, int64_t *oldest)
{
    int64_t first_use = pin->hours < LKP_OFFLINE_ACTIVATION_HOURS ? pin->hours : LKP_OFFLINE_ACTIVATION_HOURS;
    int64_t o = lkp_floor_div((int64_t)now - LKP_OFFLINE_TOLERANCE, 3600) - first_use + 1;
    *newest = lkp_floor_div((int64_t)now + LKP_OFFLINE_TOLERANCE, 3600);
    *oldest = o < 1 ? 1 : o;
}
