/*
 * Weekly schedules on the lock's wall clock (docs/ble-protocol.md section 18):
 * POSIX TZ rules ("CET-1CEST,M3.5.0,M10.5.0/3") parsed and evaluated with
 * integers only, and the windows' open test. No tz database, no heap.
 */
#ifndef LKP_SCHEDULE_H
#define LKP_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define LKP_TZ_RULE_MAX 64u
#define LKP_SCHEDULE_MAX_WINDOWS 8u
#define LKP_SCHEDULE_WINDOW_SIZE 5u /* weekdays u8, start_minute u16, end_minute u16 */
#define LKP_SCHEDULE_EXTENSION 1u
#define LKP_MINUTES_PER_DAY 1440u

typedef struct lkp_tz_date {
    uint8_t form; /* 'J' (1..365, no Feb 29), 'n' (0..365), 'M' (month, week, weekday) */
    uint16_t a;
    uint8_t b, c;
} lkp_tz_date_t;

typedef struct lkp_tz_rule {
    int32_t std_offset, dst_offset; /* seconds east of UTC (the string says west) */
    uint8_t has_dst;
    lkp_tz_date_t start, end;
    int32_t start_time, end_time; /* local seconds, as before the change */
} lkp_tz_rule_t;

/* 0 if `text` is a POSIX TZ rule this core evaluates (the grammar of section 18.2). */
int lkp_tz_parse(const uint8_t *text, size_t len, lkp_tz_rule_t *out);
/* Seconds east of UTC in effect at UTC instant t. */
int32_t lkp_tz_utc_offset(const lkp_tz_rule_t *rule, int64_t t);
/* 1 if a window (weekdays non-zero, bit 7 clear; 0 <= start < end <= 1440) is well formed. */
int lkp_window_valid(const uint8_t window[LKP_SCHEDULE_WINDOW_SIZE]);
/* 1 if one of `count` windows is open at UTC instant t on the rule's wall clock. */
int lkp_schedule_open(const uint8_t *windows, uint8_t count, const lkp_tz_rule_t *rule, uint32_t t);

#endif
