#include "lkp/schedule.h"

#include "lkp/wire.h"

#define DAY 86400


static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - lkp_floor_div(a, b) * b;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = lkp_floor_div(y, 400);
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t civil_year(int64_t days)
{
    int64_t era, doe, yoe, doy, mp;
    days += 719468;
    era = lkp_floor_div(days, 146097);
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    return yoe + era * 400 + (mp >= 10);
}

static int is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int64_t weekday(int64_t days) /* 0 = Monday */
{
    return floor_mod(days + 3, 7);
}

static const uint8_t MONTH_DAYS[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* ------------------------------------------------------------------ parser */

typedef struct cursor {
    const uint8_t *p;
    size_t n, i;
} cursor_t;

static int peek(const cursor_t *c)
{
    return c->i < c->n ? c->p[c->i] : -1;
}

static int is_digit(int ch)
{
    return ch >= '0' && ch <= '9';
}

static int is_alpha(int ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static int digits(cursor_t *c, unsigned max, int32_t *out)
{
    unsigned k = 0;
    int32_t v = 0;
    while (k < max && is_digit(peek(c))) {
        v = v * 10 + (peek(c) - '0');
        c->i++;
        k++;
    }
    *out = v;
    return k > 0;
}

static int name(cursor_t *c)
{
    size_t k = 0;
    if (peek(c) == '<') {
        c->i++;
        while (is_alpha(peek(c)) || is_digit(peek(c)) || peek(c) == '+' || peek(c) == '-') {
            c->i++;
            k++;
        }
        if (k < 3 || peek(c) != '>') {
            return 0;
        }
        c->i++;
        return 1;
    }
    while (is_alpha(peek(c))) {
        c->i++;
        k++;
    }
    return k >= 3;
}

/* [+-]hh[:mm[:ss]] with up to `hour_digits` hour digits, hours <= limit. */
static int hms(cursor_t *c, unsigned hour_digits, int32_t limit, int32_t *out)
{
    int32_t sign = 1, h, m = 0, s = 0;
    if (peek(c) == '+' || peek(c) == '-') {
        sign = peek(c) == '-' ? -1 : 1;
        c->i++;
    }
    if (!digits(c, hour_digits, &h)) {
        return 0;
    }
    if (peek(c) == ':') {
        size_t at = ++c->i;
        if (!digits(c, 2, &m) || c->i - at != 2) {
            return 0;
        }
        if (peek(c) == ':') {
            at = ++c->i;
            if (!digits(c, 2, &s) || c->i - at != 2) {
                return 0;
            }
        }
    }
    if (h > limit || m > 59 || s > 59) {
        return 0;
    }
    *out = sign * (h * 3600 + m * 60 + s);
    return 1;
}

static int date(cursor_t *c, lkp_tz_date_t *d)
{
    int32_t a, b, w;
    size_t at;
    if (peek(c) == 'J') {
        c->i++;
        if (!digits(c, 3, &a) || a < 1 || a > 365) {
            return 0;
        }
        d->form = 'J';
        d->a = (uint16_t)a;
        return 1;
    }
    if (peek(c) == 'M') {
        c->i++;
        if (!digits(c, 2, &a) || peek(c) != '.') {
            return 0;
        }
        at = ++c->i;
        if (!digits(c, 1, &b) || c->i - at != 1 || peek(c) != '.') {
            return 0;
        }
        at = ++c->i;
        if (!digits(c, 1, &w) || c->i - at != 1 || a < 1 || a > 12 || b < 1 || b > 5 || w > 6) {
            return 0;
        }
        d->form = 'M';
        d->a = (uint16_t)a;
        d->b = (uint8_t)b;
        d->c = (uint8_t)w;
        return 1;
    }
    if (!digits(c, 3, &a) || a > 365) {
        return 0;
    }
    d->form = 'n';
    d->a = (uint16_t)a;
    return 1;
}

static int at_end(const cursor_t *c)
{
    /* As the reference's `$`: the end, or a single newline before it. */
    return c->i == c->n || (c->i + 1 == c->n && c->p[c->i] == '\n');
}

int lkp_tz_parse(const uint8_t *text, size_t len, lkp_tz_rule_t *out)
{
    cursor_t c;
    int32_t v;
    size_t i;
    if (len < 1 || len > LKP_TZ_RULE_MAX) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (text[i] >= 0x80u) {
            return -1;
        }
    }
    c.p = text;
    c.n = len;
    c.i = 0;
    out->has_dst = 0;
    out->start_time = out->end_time = 7200;
    out->dst_offset = 0;
    if (!name(&c) || !hms(&c, 2, 24, &v)) {
        return -1;
    }
    out->std_offset = -v;
    if (at_end(&c)) {
        return 0;
    }
    if (!name(&c)) {
        return -1;
    }
    if (peek(&c) != ',') {
        if (!hms(&c, 2, 24, &v)) {
            return -1;
        }
        out->dst_offset = -v;
    } else {
        out->dst_offset = out->std_offset + 3600;
    }
    if (peek(&c) != ',') {
        return -1;
    }
    c.i++;
    if (!date(&c, &out->start)) {
        return -1;
    }
    if (peek(&c) == '/') {
        c.i++;
        if (!hms(&c, 3, 167, &out->start_time)) {
            return -1;
        }
    }
    if (peek(&c) != ',') {
        return -1;
    }
    c.i++;
    if (!date(&c, &out->end)) {
        return -1;
    }
    if (peek(&c) == '/') {
        c.i++;
        if (!hms(&c, 3, 167, &out->end_time)) {
            return -1;
        }
    }
    if (!at_end(&c)) {
        return -1;
    }
    out->has_dst = 1;
    return 0;
}

/* ---------------------------------------------------------------- evaluation */

static int64_t day_of_year(const lkp_tz_date_t *d, int64_t year)
{
    int64_t first, day, length;
    if (d->form == 'J') {
        return d->a - 1 + (is_leap(year) && d->a >= 60);
    }
    if (d->form == 'n') {
        return d->a;
    }
    first = days_from_civil(year, d->a, 1);
    day = 1 + floor_mod((int64_t)d->c - (weekday(first) + 1) % 7, 7) + 7 * ((int64_t)d->b - 1);
    length = MONTH_DAYS[d->a - 1] + (d->a == 2 && is_leap(year));
    while (day > length) {
        day -= 7;
    }
    return first - days_from_civil(year, 1, 1) + day - 1;
}

int32_t lkp_tz_utc_offset(const lkp_tz_rule_t *r, int64_t t)
{
    int64_t year, y, latest = 0;
    int found = 0, in_dst = 0;
    if (!r->has_dst) {
        return r->std_offset;
    }
    year = civil_year(lkp_floor_div(t, DAY));
    for (y = year - 1; y <= year + 1; y++) {
        int64_t jan1 = days_from_civil(y, 1, 1);
        /* Each transition is at local time as it was before the change. */
        int64_t start = (jan1 + day_of_year(&r->start, y)) * DAY + r->start_time - r->std_offset;
        int64_t end = (jan1 + day_of_year(&r->end, y)) * DAY + r->end_time - r->dst_offset;
        if (start <= t && (!found || start > latest)) {
            latest = start;
            in_dst = 1;
            found = 1;
        }
        if (end <= t && (!found || end > latest)) {
            latest = end;
            in_dst = 0;
            found = 1;
        }
    }
    return in_dst ? r->dst_offset : r->std_offset;
}

int lkp_window_valid(const uint8_t w[LKP_SCHEDULE_WINDOW_SIZE])
{
    uint16_t start = lkp_get_u16(w + 1), end = lkp_get_u16(w + 3);
    return w[0] != 0 && w[0] <= 0x7Fu && start < end && end <= LKP_MINUTES_PER_DAY;
}

int lkp_schedule_open(const uint8_t *windows, uint8_t count, const lkp_tz_rule_t *rule, uint32_t t)
{
    int64_t local = (int64_t)t + lkp_tz_utc_offset(rule, t);
    int64_t day = lkp_floor_div(local, DAY);
    int64_t minute = (local - day * DAY) / 60;
    unsigned bit = 1u << (unsigned)weekday(day);
    uint8_t i;
    for (i = 0; i < count; i++) {
        const uint8_t *w = windows + (size_t)i * LKP_SCHEDULE_WINDOW_SIZE;
        if ((w[0] & bit) && lkp_get_u16(w + 1) <= minute && minute < lkp_get_u16(w + 3)) {
            return 1;
        }
    }
    return 0;
}
