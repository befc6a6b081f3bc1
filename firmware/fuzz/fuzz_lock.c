/* libFuzzer: the whole lock. The input is a script: raw writes (garbage,
 * handshake frames), plaintext frames around arbitrary bodies (PROVISION,
 * HELLO, CONFIRM), requests sealed in a valid session (so every handler and
 * message decoder sees arbitrary bodies), keypad (master mode too), door, timers, the reset
 * button, link drops and power cycles; the first byte also picks factory
 * mode. Invariants: the core never crashes, every notification fits the
 * chunk size, the event log never goes back, a key once held is never lost
 * (power cycles included) and factory mode is never re-entered. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HOST_NVS_MAX 200
#include "host_hal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t KEY[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static host_t g_host;
static lock_t g_lock;
static lkp_session_t g_central;

static uint8_t g_version;
static int g_factory;

static void boot(void)
{
    lock_hal_t hal;
    lock_config_t cfg;
    host_hal(&g_host, &hal);
    memset(&cfg, 0, sizeof cfg);
    cfg.code_capacity = 20;
    cfg.event_log_size = 16;
    cfg.auto_lock_ms = 1000;
    cfg.model = "fuzz";
    cfg.firmware = "0";
    cfg.device_key = g_factory ? NULL : KEY;
    cfg.master_pin = "2468";
    cfg.protocol_version = g_version;
    if (lock_init(&g_lock, &hal, &cfg) != 0) {
        abort();
    }
}

static void run(void)
{
    while (lock_process(&g_lock)) {
    }
}

static void handshake(uint16_t mtu)
{
    uint8_t f[64];
    size_t i;
    lock_radio_connected(&g_lock, mtu);
    memset(&g_central, 0, sizeof g_central);
    g_central.version = g_version;
    f[4] = LKP_FRAME_HELLO;
    f[5] = g_version;
    for (i = 0; i < 16; i++) {
        f[6 + i] = g_central.nonce_bridge[i] = (uint8_t)(0x10 + i);
    }
    lock_radio_write(&g_lock, f, lkp_frame_seal(f, 18));
    memcpy(g_central.nonce_lock, g_lock.session.nonce_lock, 16);
    if (g_version >= 2) {
        g_central.transcript[0] = g_central.transcript[1] = g_version;
        g_central.transcript_len = 2;
    }
    /* The lock's key of the moment: a committed rotation or a PROVISION changes it. */
    (void)lkp_derive_keys(g_lock.device_key, &g_central);
    f[4] = LKP_FRAME_CONFIRM;
    (void)lkp_confirm_tag(&g_central, LKP_LABEL_BRIDGE, f + 5);
    lock_radio_write(&g_lock, f, lkp_frame_seal(f, 17));
    g_central.state = LKP_SESSION_ESTABLISHED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t frame[LKP_MAX_FRAME_SIZE];
    size_t off = 0;
    uint32_t last_head;
    int had_key, was_factory;
    /* The first byte picks the protocol version and factory mode. */
    g_version = size ? (uint8_t)(1u + (data[0] & 1u)) : 1u;
    g_factory = size ? (data[0] >> 1) & 1 : 0;
    if (size) {
        data++;
        size--;
    }
    memset(&g_host, 0, sizeof g_host);
    g_host.rtc = 1700000000u;
    g_host.battery = 50;
    g_host.rand_byte = 0x20;
    boot();
    handshake(23);
    last_head = g_lock.head_seq;
    had_key = g_lock.has_key;
    was_factory = g_lock.factory_mode;
    while (off + 2 <= size) {
        uint8_t op = data[off], len = data[off + 1];
        const uint8_t *arg = data + off + 2;
        size_t n = size - off - 2 < len ? size - off - 2 : len;
        off += 2 + n;
        host_tx_clear(&g_host);
        switch (op % 14u) {
        case 0: /* raw bytes on the request characteristic */
            lock_radio_write(&g_lock, arg, n);
            run();
            break;
        case 1:
        case 2:
        case 3: { /* a request in a valid record, written in 20-byte chunks */
            size_t body, flen, k;
            if (g_central.state != LKP_SESSION_ESTABLISHED || g_central.tx_counter == 0xFFFFFFFFu) {
                break;
            }
            memcpy(frame + 9, arg, n);
            body = lkp_record_seal(&g_central, LKP_DIRECTION_TO_LOCK, frame + 4, n);
            flen = lkp_frame_seal(frame, body);
            for (k = 0; k < flen; k += 20) {
                lock_radio_write(&g_lock, frame + k, flen - k < 20 ? flen - k : 20);
            }
            run();
            break;
        }
        case 4: /* a PIN; '#' first: master mode (the code, then the rest as the new PIN) */
            if (n >= 5 && arg[0] == '#') {
                (void)lock_keypad_program(&g_lock, (const char *)arg + 1, 4, (const char *)arg + 5, n - 5);
            } else {
                lock_keypad_entry(&g_lock, (const char *)arg, n);
            }
            break;
        case 5:
            lock_door_changed(&g_lock, (lock_door_state_t)(n ? arg[0] % 4u : 0));
            break;
        case 6:
            g_host.uptime += n ? arg[0] * 100u : 1000u;
            g_host.rtc += n ? arg[0] : 1u;
            lock_tick(&g_lock);
            break;
        case 7:
            g_host.next_motor = (lock_motor_result_t)(n ? arg[0] % 3u : 0);
            g_host.battery = (uint8_t)(n > 1 ? arg[1] % 101u : 50u);
            lock_battery_changed(&g_lock);
            break;
        case 8:
            lock_manual_turn(&g_lock, (lock_bolt_state_t)(n ? arg[0] % 4u : 0));
            lock_keypad_lock_button(&g_lock);
            break;
        case 9:
            lock_radio_disconnected(&g_lock);
            handshake((uint16_t)(n ? 23u + arg[0] * 2u : 23u));
            break;
        case 10: /* power cycle: RAM lost, storage kept */
            memset(&g_lock, 0x5A, sizeof g_lock);
            boot();
            handshake(23);
            break;
        case 11: /* any plaintext frame body, framed correctly */
            if (n) {
                memcpy(frame + 4, arg, n);
                lock_radio_write(&g_lock, frame, lkp_frame_seal(frame, n));
                run();
            }
            break;
        case 12:
            lock_reset_button(&g_lock, n ? arg[0] * 1000u : 0u);
            break;
        default:
            g_host.nvs_full = n ? arg[0] & 1 : 0;
            g_host.busy = n > 1 ? arg[1] & 1 : 0;
            lock_radio_discard_partial(&g_lock);
            break;
        }
        {
            size_t c;
            for (c = 0; c < g_host.chunks; c++) {
                if (g_host.chunk_lens[c] == 0 || g_host.chunk_lens[c] > g_lock.chunk_size) {
                    abort();
                }
            }
        }
        if (g_lock.head_seq < last_head || g_lock.code_count > 20) {
            abort();
        }
        if ((had_key && !g_lock.has_key) || (!was_factory && g_lock.factory_mode) ||
            (!g_lock.has_key && lock_session_established(&g_lock))) {
            abort();
        }
        last_head = g_lock.head_seq;
        had_key = g_lock.has_key;
        was_factory = g_lock.factory_mode;
    }
    return 0;
}
