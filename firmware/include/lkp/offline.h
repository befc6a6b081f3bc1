/*
 * Offline access codes (docs/ble-protocol.md section 17): the scheme's
 * arithmetic, with no state. A code is (kind, start_hour, end_hour, counter);
 * its 10-digit PIN is q * HEADERS + header, the header public (kind, length,
 * counter), q = the first HMAC-SHA256(secret, label || fields || block) u32
 * chunk below the rejection bound, mod Q. The lock's table and miss count
 * live in lock.c.
 */
#ifndef LKP_OFFLINE_H
#define LKP_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#define LKP_OFFLINE_SECRET_SIZE 32u
#define LKP_OFFLINE_PIN_DIGITS 10u
#define LKP_OFFLINE_CODES_PER_WINDOW 4u
#define LKP_OFFLINE_HOURLY_MAX_HOURS 672u
#define LKP_OFFLINE_DAILY_MAX_DAYS 367u
#define LKP_OFFLINE_ONE_TIME_HOURS 24u
#define LKP_OFFLINE_ACTIVATION_HOURS 24u
#define LKP_OFFLINE_HEADERS 4160u          /* (1 + 672 + 367) * 4 */
#define LKP_OFFLINE_Q 2403846u             /* 10^10 / HEADERS */
#define LKP_OFFLINE_BOUND 4293268956u      /* 2^32 - 2^32 mod Q */
#define LKP_OFFLINE_TOLERANCE 300u         /* seconds before the start and after the end */
#define LKP_OFFLINE_TABLE_SIZE 64u
#define LKP_OFFLINE_MISS_LIMIT 10u
#define LKP_OFFLINE_MISS_DECAY_MS 3600000u

typedef enum {
    LKP_OFFLINE_NONE = 0,
    LKP_OFFLINE_ONE_TIME = 1,
    LKP_OFFLINE_HOURLY = 2,
    LKP_OFFLINE_DAILY = 3
} lkp_offline_kind_t;

typedef struct lkp_offline_code {
    uint8_t kind;
    uint32_t start_hour, end_hour; /* [start, end) in whole UTC hours since the epoch */
    uint8_t counter;               /* 0..3 */
} lkp_offline_code_t;

/* What a typed PIN says in the clear. */
typedef struct lkp_offline_pin {
    uint8_t kind, counter;
    uint32_t hours;
    uint32_t q;
} lkp_offline_pin_t;

/* 1 if the scheme can issue this code (kind, counter, window, length rules). */
int lkp_offline_code_valid(const lkp_offline_code_t *code);
/* 1 if `digits` (exactly 10 ASCII digits, value below Q * HEADERS) can be an offline code. */
int lkp_offline_parse_pin(const char *digits, size_t len, lkp_offline_pin_t *out);
/* q of `code` under `secret`; 0 = ok. */
int lkp_offline_secret_value(const uint8_t secret[LKP_OFFLINE_SECRET_SIZE], const lkp_offline_code_t *code,
                             uint32_t *q);
/* 1 if the lock records the first use (one-time codes and codes longer than a day). */
int lkp_offline_remembered(const lkp_offline_code_t *code);
/* The start hours a first use at `now` may belong to, newest first: [*oldest, *newest]. */
void lkp_offline_candidates(const lkp_offline_pin_t *pin, uint32_t now, int64_t *newest, int64_t *oldest);

#endif
