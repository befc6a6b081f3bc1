/*
 * LKP1 lock core: the lock (BLE peripheral) side of docs/ble-protocol.md.
 *
 * Portable C99, no heap, no global mutable state: everything lives in one
 * lock_t that the port allocates (statically, usually) and hands to every
 * call. The port implements lock_hal_t (motor, clock, storage, radio,
 * random numbers, battery) and calls the lock_* entry points from its BLE
 * stack and its input drivers. See firmware/README.md for the porting guide.
 *
 * Threading: the core is not re-entrant. Call every lock_* function from one
 * thread (or with one mutex held). lock_radio_write() never drives the motor
 * and never blocks on anything but the crypto and storage HAL; requests are
 * executed by lock_process(), which may block on the motor.
 */
#ifndef LKP_LOCK_H
#define LKP_LOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lkp/codec.h"
#include "lkp/frame.h"
#include "lkp/session.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Compile-time capacities (override with -D). RAM does not grow with them:
 * slots and events live in non-volatile storage, RAM holds one bitmap. */
#ifndef LOCK_MAX_CODE_SLOTS
#define LOCK_MAX_CODE_SLOTS 250
#endif
#ifndef LOCK_MAX_EVENT_LOG
#define LOCK_MAX_EVENT_LOG 512
#endif

#define LOCK_LOW_BATTERY_PERCENT 15u      /* BatteryEvent.low at or below */
#define LOCK_CRITICAL_BATTERY_PERCENT 3u  /* motor refused (LOW_BATTERY) at or below */
#define LOCK_WRONG_PIN_TAMPER_THRESHOLD 5u  /* version 1: tamper event only */
/* Version 2: keypad lockout after 5 wrong PINs in a row, 60 s doubling to 15 min. */
#define LOCK_KEYPAD_LOCKOUT_AFTER 5u
#define LOCK_KEYPAD_LOCKOUT_INITIAL_MS 60000u
#define LOCK_KEYPAD_LOCKOUT_MAX_MS 900000u
/* Version 2: after 3 bad CONFIRMs in a row, HELLO is answered ALERT(BUSY) for
 * 1 s, doubling per further failure up to 300 s. */
#define LOCK_HANDSHAKE_FREE_FAILURES 3u
#define LOCK_HANDSHAKE_BACKOFF_INITIAL_MS 1000u
#define LOCK_HANDSHAKE_BACKOFF_MAX_MS 300000u
#define LOCK_EARLIEST_VALID_TIME 1577836800u /* 2020-01-01 */
/* FACTORY_RESET is honoured this long after the reset button is pressed. */
#define LOCK_PRESENCE_WINDOW_MS 30000u

/* Non-volatile storage record ids (16-bit, as Zephyr NVS and nRF FDS use). */
#define LOCK_NVS_ID_STATE 0x0001u
#define LOCK_NVS_ID_KEYS 0x0002u   /* device key, pending key, rotation numbers: protected storage */
#define LOCK_NVS_ID_SERIAL 0x0003u /* serial number written by PROVISION */
#define LOCK_NVS_ID_OFFLINE_SECRET 0x0004u /* offline-code secret and its generation: protected storage */
#define LOCK_NVS_ID_OFFLINE_BASE 0x0100u   /* + entry (0..63): the offline table */
#define LOCK_NVS_ID_SCHEDULE_BASE 0x1000u  /* + slot: the slot's weekly schedule */
#define LOCK_NVS_ID_SLOT_BASE 0x4000u /* + slot (1..capacity) */
#define LOCK_NVS_ID_EVENT_BASE 0x8000u /* + ring index (0..event_log_size-1) */
#define LOCK_EVENT_RECORD_MAX 31u      /* largest encoded event kept in the log */

/* nvs_write results besides 0 (= stored). */
#define LOCK_NVS_FULL (-28) /* no room for a new record: STORAGE_FULL */

typedef enum {
    LOCK_MOTOR_OK = 0,
    LOCK_MOTOR_JAMMED = 1,    /* stalled: the bolt is now JAMMED */
    LOCK_MOTOR_OBSTRUCTED = 2 /* could not finish travel: the bolt did not move */
} lock_motor_result_t;

/* What a notification carries (ports may ignore it; the test port uses it
 * to act out link faults in the middle of a response). */
typedef enum {
    LOCK_TX_PROTOCOL = 0, /* CHALLENGE, ALERT, automatic error answers */
    LOCK_TX_RESPONSE = 1, /* the answer to the executed request */
    LOCK_TX_EVENT = 2     /* an unsolicited event */
} lock_tx_kind_t;

typedef struct lock_hal {
    void *user; /* passed back to every callback */

    /* Real-time clock, Unix seconds UTC. May be read often; must not block. */
    uint32_t (*rtc_get)(void *user);
    void (*rtc_set)(void *user, uint32_t epoch);
    /* Monotonic milliseconds since boot (wraps after 49 days: handled). */
    uint32_t (*uptime_ms)(void *user);
    /* Cryptographically secure random bytes (TRNG/CSPRNG). 0 = ok. On failure
     * the lock refuses the handshake (a repeated nonce would repeat keys). */
    int (*random)(void *user, uint8_t *buf, size_t len);
    /* Drive the bolt to the locked/unlocked end stop and wait for it (1-2 s,
     * one retry on a stall is the port's business). Called from lock_process
     * and the keypad/tick entry points only. */
    lock_motor_result_t (*motor_drive)(void *user, lock_bolt_action_t action);
    /* Battery level in whole percent (0..100), rounded up. Must not block. */
    uint8_t (*battery_percent)(void *user);
    /* Key/value storage that survives power loss. read returns the record's
     * length (<= len copied) or < 0 when there is none; write returns 0,
     * LOCK_NVS_FULL, or another negative error; delete returns 0 or < 0.
     * May block for a flash write/erase (~100 ms). */
    int (*nvs_read)(void *user, uint16_t id, uint8_t *buf, size_t len);
    int (*nvs_write)(void *user, uint16_t id, const uint8_t *buf, size_t len);
    int (*nvs_delete)(void *user, uint16_t id);
    /* Send one notification (<= the chunk size of the current MTU) on the
     * response characteristic. Queue it; must not block on the peer. */
    void (*radio_notify)(void *user, const uint8_t *chunk, size_t len, lock_tx_kind_t kind);

    /* Optional (NULL = not provided). */
    /* 1 if the IANA name is one the lock accepts (a port with a zone list);
     * NULL: any well-formed name is accepted and the offset is used as sent. */
    int (*timezone_known)(void *user, const char *name, size_t len);
    /* 1 if the lock cannot serve a request now (flash busy...): BUSY. */
    int (*busy)(void *user);
    /* Every event appended to the log (encoded, header included). */
    void (*event_logged)(void *user, const uint8_t *event, size_t len);
    /* Factory mode's one-way switch (an OTP bit / eFuse). factory_sealed: 1 once
     * burnt (a lock whose key record is lost then stays keyless instead of
     * taking a new key over the air); factory_seal burns it after PROVISION
     * stored the keys, 0 = done. NULL: the key record alone says it. */
    int (*factory_sealed)(void *user);
    int (*factory_seal)(void *user);
    /* A keypad with batteries of its own: their level, 0..100. NULL: it runs
     * on the lock's (GET_SETTINGS reports 0xFF). */
    uint8_t (*keypad_battery_percent)(void *user);
} lock_hal_t;

typedef struct lock_config {
    uint16_t code_capacity;      /* 1..LOCK_MAX_CODE_SLOTS */
    uint16_t event_log_size;     /* 1..LOCK_MAX_EVENT_LOG */
    uint32_t auto_lock_ms;       /* auto-lock delay after an unlock; 0 = off */
    uint32_t capabilities;       /* Capability bits for DeviceInfo */
    const char *model;           /* <= 32 bytes, DeviceInfo */
    const char *firmware;        /* <= 32 bytes, DeviceInfo */
    /* 16 bytes, copied; used until a key record exists (PROVISION or a key
     * rotation writes one). NULL with no key record: factory mode. */
    const uint8_t *device_key;
    uint8_t protocol_version;    /* 1 or 2 (0 = LKP_PROTOCOL_VERSION) */
    /* The owner's master code (4..8 digits, printed inside the battery cover),
     * copied; NULL: no keypad master mode. */
    const char *master_pin;
} lock_config_t;

typedef struct lock_counters {
    uint32_t frames_received, frames_sent;
    uint32_t rejected_records; /* AEAD failure, replay, reorder */
    uint32_t handshakes_failed;
    uint32_t dropped_bytes;    /* received while a request was pending and the buffer was full */
} lock_counters_t;

typedef struct lock {
    lock_hal_t hal;
    lock_config_t cfg;
    uint8_t device_key[LKP_KEY_SIZE];

    /* Radio: one connection at a time. */
    uint8_t connected;
    uint16_t chunk_size;
    lkp_deframer_t rx;
    lkp_session_t session;

    /* Keys (mirrored in the KEYS record). has_key = 0: factory mode (PROVISION
     * accepted) or, once sealed, a keyless lock that refuses everything. */
    uint8_t has_key, factory_mode, key_pending;
    uint8_t pending_key[LKP_KEY_SIZE];
    uint32_t pending_rotation, committed_rotation;
    /* Offline codes: the secret's generation (the secret stays in storage),
     * the table's occupancy (entries in storage), the miss count. */
    uint8_t offline_secret_set;
    uint32_t offline_generation;
    uint8_t offline_used[(LKP_OFFLINE_TABLE_SIZE + 7u) / 8u];
    uint8_t offline_count;
    uint8_t offline_misses;
    uint32_t offline_decay_at_ms;

    /* Keypad master mode: the master code (length 0 = none). */
    uint8_t master_len;
    char master_pin[LKP_PIN_MAX];
    /* Physical presence for FACTORY_RESET: the reset button's window. */
    uint8_t presence;
    uint32_t presence_until_ms;
    uint8_t tx[LKP_MAX_FRAME_SIZE];        /* one outgoing frame */
    uint8_t request[LKP_MAX_MESSAGE_SIZE]; /* the pending request's plaintext */
    uint16_t request_len;                  /* 0 = none pending */

    /* Lock state (mirrored in the STATE record). */
    uint8_t bolt, door;
    uint8_t wrong_pins;
    int8_t rssi;
    int16_t utc_offset_minutes;
    uint8_t timezone_len;
    char timezone[LKP_TIMEZONE_MAX];
    uint8_t battery_reported;
    uint8_t auto_lock_armed;
    uint32_t auto_lock_due_ms;

    /* Version 2 keypad lockout (count and length kept in the STATE record). */
    uint8_t lockouts;        /* lockouts since the last correct PIN */
    uint8_t keypad_locked;   /* a lockout is running */
    uint32_t keypad_locked_until_ms;
    uint32_t keypad_lockout_ms; /* length of the running lockout */

    /* Version 2 handshake back-off: RAM only (a reboot costs the attacker the boot time). */
    uint8_t handshake_failures;
    uint8_t backing_off;
    uint32_t backoff_until_ms;

    /* Code slots: occupancy in RAM, contents in storage. */
    uint8_t slot_used[(LOCK_MAX_CODE_SLOTS + 8) / 8];
    uint16_t code_count;

    /* Event log ring in storage; seq survives power loss. */
    uint32_t head_seq, oldest_seq, seq_floor;

    lock_counters_t counters;
} lock_t;

/* Bring the lock up from storage (after power-on or reset). 0 = ok,
 * < 0 = bad configuration. Does not emit events. */
int lock_init(lock_t *lock, const lock_hal_t *hal, const lock_config_t *config);

/* --- radio (call from the BLE stack's callbacks, in one thread) --------- */
void lock_radio_connected(lock_t *lock, uint16_t att_mtu);
void lock_radio_mtu_changed(lock_t *lock, uint16_t att_mtu);
void lock_radio_disconnected(lock_t *lock);
/* Bytes written to the request characteristic (any split). Handles the
 * handshake and refusals at once; a decoded request waits for lock_process. */
void lock_radio_write(lock_t *lock, const uint8_t *data, size_t len);
/* A half frame older than REASSEMBLY_TIMEOUT lost a chunk: forget it. */
void lock_radio_discard_partial(lock_t *lock);
/* Value of the info characteristic; returns its length (0 if buf too small). */
size_t lock_device_info(const lock_t *lock, uint8_t *buf, size_t len);
/* 1 while a request waits for lock_process. */
int lock_request_pending(const lock_t *lock);
/* The pending request's opcode (0 = none). */
uint8_t lock_pending_opcode(const lock_t *lock);
/* Execute the pending request (may drive the motor), send its answer, and
 * go on with frames buffered behind it. Returns 1 if a request ran. */
int lock_process(lock_t *lock);
int lock_session_established(const lock_t *lock);
void lock_set_rssi(lock_t *lock, int rssi_dbm);

/* --- the physical world ---------------------------------------------- */
/* Digits typed on the keypad (ASCII '0'-'9'; more than 16 are cut). */
void lock_keypad_entry(lock_t *lock, const char *digits, size_t len);
void lock_keypad_lock_button(lock_t *lock);
/* Keypad master mode: the master code, then a new PIN, typed at the lock.
 * Stores an ongoing, nameless code in the highest free slot (the cloud hands
 * out slots from the lowest) and returns that slot; logs nothing (the bridge
 * notices the code count). Refusals (< 0): */
#define LOCK_PROGRAM_LOCKED_OUT (-1)   /* the keypad is locked out (nothing logged) */
#define LOCK_PROGRAM_WRONG_MASTER (-2) /* logged and counted as the wrong PIN it is */
#define LOCK_PROGRAM_BAD_PIN (-3)      /* not 4..8 digits */
#define LOCK_PROGRAM_PIN_IN_USE (-4)   /* another slot's PIN, or the master code */
#define LOCK_PROGRAM_NO_ROOM (-5)      /* no free slot, or storage full */
#define LOCK_PROGRAM_NOT_SUPPORTED (-6) /* no master code configured */
int lock_keypad_program(lock_t *lock, const char *master, size_t master_len, const char *pin, size_t pin_len);
/* Thumb-turn or key moved the bolt to LOCKED/UNLOCKED (no motor, no battery). */
void lock_manual_turn(lock_t *lock, lock_bolt_state_t to);
void lock_door_changed(lock_t *lock, lock_door_state_t door);
void lock_tamper(lock_t *lock, lock_tamper_kind_t kind);
/* Battery level may have changed (the port's ADC, new batteries). */
void lock_battery_changed(lock_t *lock);
/* Timers (auto-lock): call at least every 250 ms, or at the next due time. */
void lock_tick(lock_t *lock);
/* The reset button was pressed: FACTORY_RESET is accepted for window_ms
 * (0 = LOCK_PRESENCE_WINDOW_MS) on the monotonic clock, once. */
void lock_reset_button(lock_t *lock, uint32_t window_ms);
/* Continue the event log after `seq` (a restored lock must never reuse a
 * sequence number its cloud already accepted). */
void lock_continue_after(lock_t *lock, uint32_t seq);

/* --- introspection (tests, diagnostics, the Python binding) ------------ */
typedef struct lock_state {
    uint8_t bolt, door, battery_percent, wrong_pins;
    uint8_t session_established, request_pending, auto_lock_armed, timezone_len;
    uint8_t keypad_locked, backing_off, protocol_version, lockouts;
    int16_t utc_offset_minutes;
    uint16_t code_count;
    uint32_t head_seq, oldest_seq, auto_lock_due_ms;
    char timezone[LKP_TIMEZONE_MAX];
    lock_counters_t counters;
    uint8_t has_key, factory_mode, key_pending, presence;
    uint32_t pending_rotation, committed_rotation;
} lock_state_t;
void lock_get_state(const lock_t *lock, lock_state_t *out);
/* The code in `slot` as a CodeEntry wire record; returns its length, 0 if empty. */
size_t lock_code_entry(lock_t *lock, uint16_t slot, uint8_t *buf, size_t len);
/* The logged event with `seq` (encoded); returns its length, 0 if not held. */
size_t lock_logged_event(lock_t *lock, uint32_t seq, uint8_t *buf, size_t len);
size_t lock_sizeof(void);

#ifdef __cplusplus
}
#endif
#endif
