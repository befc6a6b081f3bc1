/* A host "board" for the unit tests and fuzzers: RAM-backed storage that
 * survives lock_init (a power cycle), a settable clock, a scripted motor,
 * deterministic random numbers, and captured notifications. */
#ifndef LKP_HOST_HAL_H
#define LKP_HOST_HAL_H

#include <stdint.h>
#include <string.h>

#include "lkp/lock.h"

#ifndef HOST_NVS_MAX
#define HOST_NVS_MAX 1200
#endif
#define HOST_NVS_REC 128
#define HOST_TX_MAX 8192

typedef struct host {
    uint16_t ids[HOST_NVS_MAX];
    uint8_t lens[HOST_NVS_MAX];
    uint8_t data[HOST_NVS_MAX][HOST_NVS_REC];
    int used[HOST_NVS_MAX];
    int nvs_full;  /* refuse new records */
    uint32_t rtc, uptime;
    uint8_t battery;
    lock_motor_result_t next_motor;
    int motor_moves;
    uint8_t rand_byte; /* random() fills with rand_byte, rand_byte+1, ... */
    int rand_fail;
    uint8_t tx[HOST_TX_MAX];
    size_t tx_len;
    size_t chunk_lens[256];
    size_t chunks;
    int busy;
} host_t;

static int host_find(host_t *h, uint16_t id)
{
    int i;
    for (i = 0; i < HOST_NVS_MAX; i++) {
        if (h->used[i] && h->ids[i] == id) {
            return i;
        }
    }
    return -1;
}

static uint32_t host_rtc_get(void *u) { return ((host_t *)u)->rtc; }
static void host_rtc_set(void *u, uint32_t e) { ((host_t *)u)->rtc = e; }
static uint32_t host_uptime(void *u) { return ((host_t *)u)->uptime; }
static uint8_t host_battery(void *u) { return ((host_t *)u)->battery; }
static int host_busy(void *u) { return ((host_t *)u)->busy; }

static int host_random(void *u, uint8_t *buf, size_t len)
{
    host_t *h = (host_t *)u;
    size_t i;
    if (h->rand_fail) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(h->rand_byte + i);
    }
    return 0;
}

static lock_motor_result_t host_motor(void *u, lock_bolt_action_t action)
{
    host_t *h = (host_t *)u;
    lock_motor_result_t r = h->next_motor;
    (void)action;
    h->next_motor = LOCK_MOTOR_OK;
    h->motor_moves++;
    return r;
}

static int host_nvs_read(void *u, uint16_t id, uint8_t *buf, size_t len)
{
    host_t *h = (host_t *)u;
    int i = host_find(h, id);
    if (i < 0) {
        return -2;
    }
    memcpy(buf, h->data[i], h->lens[i] < len ? h->lens[i] : len);
    return h->lens[i];
}

static int host_nvs_write(void *u, uint16_t id, const uint8_t *buf, size_t len)
{
    host_t *h = (host_t *)u;
    int i = host_find(h, id);
    if (len > HOST_NVS_REC) {
        return -22;
    }
    if (i < 0) {
        if (h->nvs_full && id >= LOCK_NVS_ID_SLOT_BASE && id < LOCK_NVS_ID_EVENT_BASE) {
            return LOCK_NVS_FULL;
        }
        for (i = 0; i < HOST_NVS_MAX && h->used[i]; i++) {
        }
        if (i == HOST_NVS_MAX) {
            return LOCK_NVS_FULL;
        }
        h->used[i] = 1;
        h->ids[i] = id;
    }
    memcpy(h->data[i], buf, len);
    h->lens[i] = (uint8_t)len;
    return 0;
}

static int host_nvs_delete(void *u, uint16_t id)
{
    host_t *h = (host_t *)u;
    int i = host_find(h, id);
    if (i >= 0) {
        h->used[i] = 0;
    }
    return 0;
}

static void host_notify(void *u, const uint8_t *chunk, size_t len, lock_tx_kind_t kind)
{
    host_t *h = (host_t *)u;
    (void)kind;
    if (h->tx_len + len <= HOST_TX_MAX) {
        memcpy(h->tx + h->tx_len, chunk, len);
        h->tx_len += len;
    }
    if (h->chunks < 256) {
        h->chunk_lens[h->chunks++] = len;
    }
}

static void host_hal(host_t *h, lock_hal_t *hal)
{
    memset(hal, 0, sizeof *hal);
    hal->user = h;
    hal->rtc_get = host_rtc_get;
    hal->rtc_set = host_rtc_set;
    hal->uptime_ms = host_uptime;
    hal->random = host_random;
    hal->motor_drive = host_motor;
    hal->battery_percent = host_battery;
    hal->nvs_read = host_nvs_read;
    hal->nvs_write = host_nvs_write;
    hal->nvs_delete = host_nvs_delete;
    hal->radio_notify = host_notify;
    hal->busy = host_busy;
}

static void host_tx_clear(host_t *h)
{
    h->tx_len = 0;
    h->chunks = 0;
}

#endif
