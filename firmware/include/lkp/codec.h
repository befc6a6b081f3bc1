/*
 * Application messages (docs/ble-protocol.md section 6): request decoding
 * with the exact refusal codes of section 6.1, event encoding, enums.
 */
#ifndef LKP_CODEC_H
#define LKP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "lkp/offline.h"
#include "lkp/schedule.h"

/* ErrorCode: response status and ALERT code. */
typedef enum {
    LKP_OK = 0x00,
    LKP_ERR_UNKNOWN_OPCODE = 0x01,
    LKP_ERR_MALFORMED = 0x02,
    LKP_ERR_NOT_AUTHENTICATED = 0x03,
    LKP_ERR_AUTH_FAILED = 0x04,
    LKP_ERR_UNSUPPORTED_VERSION = 0x05,
    LKP_ERR_BUSY = 0x06,
    LKP_ERR_JAMMED = 0x07,
    LKP_ERR_OBSTRUCTED = 0x08,
    LKP_ERR_LOW_BATTERY = 0x09,
    LKP_ERR_INVALID_SLOT = 0x0A,
    LKP_ERR_SLOT_OCCUPIED = 0x0B,
    LKP_ERR_SLOT_EMPTY = 0x0C,
    LKP_ERR_STORAGE_FULL = 0x0D,
    LKP_ERR_BAD_PIN = 0x0E,
    LKP_ERR_PIN_CONFLICT = 0x0F,
    LKP_ERR_INVALID_NAME = 0x10,
    LKP_ERR_INVALID_SCHEDULE = 0x11,
    LKP_ERR_INVALID_TIME = 0x12,
    LKP_ERR_INVALID_TIMEZONE = 0x13,
    LKP_ERR_INTERNAL = 0x14,
    LKP_ERR_NO_PENDING_KEY = 0x15,
    LKP_ERR_PRESENCE_REQUIRED = 0x16,
    LKP_ERR_FACTORY_LOCKED = 0x17,
    LKP_ERR_NOT_PROVISIONED = 0x18,
    LKP_ERR_UNSUPPORTED_EXTENSION = 0x19,
    LKP_ERR_NO_OFFLINE_SECRET = 0x1A,
    LKP_ERR_OFFLINE_TABLE_FULL = 0x1B
} lkp_error_t;

typedef enum {
    LKP_OP_GET_STATUS = 0x01,
    LKP_OP_LOCK = 0x02,
    LKP_OP_UNLOCK = 0x03,
    LKP_OP_SET_TIME = 0x04,
    LKP_OP_PUT_CODE = 0x05,
    LKP_OP_DELETE_CODE = 0x06,
    LKP_OP_LIST_CODES = 0x07,
    LKP_OP_READ_EVENTS = 0x08,
    LKP_OP_ROTATE_KEY = 0x09,
    LKP_OP_COMMIT_KEY = 0x0A,
    LKP_OP_FACTORY_RESET = 0x0B,
    LKP_OP_SET_OFFLINE_SECRET = 0x0C,
    LKP_OP_REVOKE_OFFLINE_CODE = 0x0D,
    LKP_OP_PUT_SCHEDULED_CODE = 0x0E,
    LKP_OP_GET_CODE_SCHEDULE = 0x0F,
    LKP_OP_GET_SETTINGS = 0x10
} lkp_opcode_t;

#define LKP_RESPONSE_FLAG 0x80u
#define LKP_REQUEST_OPCODE_MAX 0x3Fu

typedef enum {
    LKP_EV_LOCKED = 0x41,
    LKP_EV_UNLOCKED = 0x42,
    LKP_EV_INCORRECT_PIN = 0x43,
    LKP_EV_BOLT_FAULT = 0x44,
    LKP_EV_BATTERY = 0x45,
    LKP_EV_DOOR = 0x46,
    LKP_EV_TAMPER = 0x47,
    LKP_EV_OFFLINE_CODE_USED = 0x48,
    LKP_EV_ACCESS_DENIED = 0x49
} lkp_event_type_t;

typedef enum {
    LOCK_DENIED_UNKNOWN = 0,
    LOCK_DENIED_OUTSIDE_SCHEDULE = 1,
    LOCK_DENIED_REVOKED = 2,
    LOCK_DENIED_ALREADY_USED = 3,
    LOCK_DENIED_TABLE_FULL = 4
} lock_access_denial_t;

typedef enum { LOCK_BOLT_UNKNOWN = 0, LOCK_BOLT_LOCKED = 1, LOCK_BOLT_UNLOCKED = 2, LOCK_BOLT_JAMMED = 3 } lock_bolt_state_t;
typedef enum { LOCK_DOOR_UNKNOWN = 0, LOCK_DOOR_CLOSED = 1, LOCK_DOOR_OPEN = 2, LOCK_DOOR_AJAR = 3 } lock_door_state_t;
typedef enum { LOCK_SOURCE_UNKNOWN = 0, LOCK_SOURCE_KEYPAD = 1, LOCK_SOURCE_MANUAL = 2, LOCK_SOURCE_BLE = 3, LOCK_SOURCE_AUTO_LOCK = 4 } lock_source_t;
typedef enum { LOCK_FAULT_UNKNOWN = 0, LOCK_FAULT_JAMMED = 1, LOCK_FAULT_OBSTRUCTED = 2 } lock_bolt_fault_t;
typedef enum { LOCK_ACTION_UNKNOWN = 0, LOCK_ACTION_LOCK = 1, LOCK_ACTION_UNLOCK = 2 } lock_bolt_action_t;
typedef enum { LOCK_TAMPER_UNKNOWN = 0, LOCK_TAMPER_CASE_OPENED = 1, LOCK_TAMPER_KEYPAD_LOCKOUT = 2, LOCK_TAMPER_FORCED_BOLT = 3 } lock_tamper_kind_t;

#define LKP_CAP_KEYPAD 0x0001u
#define LKP_CAP_DOOR_SENSOR 0x0002u
#define LKP_CAP_AUTO_LOCK 0x0004u
#define LKP_CAP_SCHEDULES 0x0008u
#define LKP_CAP_EVENT_LOG 0x0010u
#define LKP_CAP_OFFLINE_CODES 0x0020u
#define LKP_CAP_RECURRING_SCHEDULES 0x0040u
#define LKP_CAP_SETTINGS 0x0100u
#define LKP_NO_KEYPAD_BATTERY 0xFFu /* the keypad runs on the lock's batteries */

#define LKP_PIN_MIN 4u
#define LKP_PIN_MAX 8u
#define LKP_NAME_MAX_CHARS 14u
#define LKP_NAME_MAX_BYTES 56u
#define LKP_TIMEZONE_MAX 64u
#define LKP_DIGITS_MAX 16u
#define LKP_ANY_SLOT 0xFFFFu
#define LKP_NO_SLOT 0xFFFFu
#define LKP_MAX_LIST_PAGE 10u
#define LKP_MAX_EVENTS_PAGE 16u
#define LKP_UTC_OFFSET_MAX 1080

/* A string field: points into the decoded message. */
typedef struct lkp_str {
    const uint8_t *p;
    uint8_t len;
} lkp_str_t;

typedef struct lkp_request {
    uint8_t opcode;
    uint16_t request_id;
    union {
        struct {
            uint32_t epoch;
            int16_t utc_offset_minutes;
            lkp_str_t timezone;
        } set_time;
        struct {
            uint16_t slot;
            uint8_t replace;
            uint32_t starts_at, ends_at; /* 0 = none */
            lkp_str_t pin, name;
            /* PUT_SCHEDULED_CODE only (scheduled = 1): the extension's fields. */
            uint8_t scheduled, window_count;
            lkp_str_t tz_rule;
            const uint8_t *windows; /* window_count * 5 bytes inside the message */
        } put_code;
        struct {
            uint16_t slot;
        } delete_code;
        struct {
            uint16_t start_slot;
            uint8_t max_count;
        } list_codes;
        struct {
            uint32_t since_seq;
            uint8_t max_count;
        } read_events;
        struct {
            uint32_t rotation_id;   /* >= 1 */
            const uint8_t *new_key; /* 16 bytes inside the decoded message */
        } rotate_key;
        struct {
            uint32_t rotation_id;
        } commit_key;
        struct {
            uint32_t generation;   /* >= 1 */
            const uint8_t *secret; /* 32 bytes inside the message */
        } set_offline_secret;
        lkp_offline_code_t revoke; /* a code the scheme can issue */
        struct {
            uint16_t slot;
        } get_schedule;
    } u;
} lkp_request_t;

/* Decode a request plaintext. Returns LKP_OK, or the ErrorCode the lock
 * answers (UNKNOWN_OPCODE, MALFORMED, BAD_PIN...), or -1 when not even the
 * 3-byte header can be read (the request is dropped). On an error >= 0,
 * out->opcode and out->request_id are set. */
int lkp_decode_request(const uint8_t *msg, size_t len, uint8_t version, lkp_request_t *out);

/* PROVISION (frame type 0x20, section 16): what the factory line writes. */
#define LKP_PROVISION_VERSION 1u
#define LKP_SERIAL_MAX 32u
#define LKP_PROVISION_SECRET_SIZE LKP_OFFLINE_SECRET_SIZE /* exactly 32 bytes */
#define LKP_PROOF_SIZE 16u
typedef struct lkp_provision {
    const uint8_t *device_key; /* 16 bytes */
    lkp_str_t serial;          /* 1..32 printable ASCII */
    lkp_str_t offline_secret;  /* 32 bytes */
} lkp_provision_t;

/* Decode a PROVISION frame body (type byte included). LKP_OK or
 * LKP_ERR_MALFORMED; the pointers point into body. */
int lkp_decode_provision(const uint8_t *body, size_t len, lkp_provision_t *out);

/* An event to log and send (seq and timestamp filled by the lock). */
typedef struct lkp_event {
    uint8_t type; /* lkp_event_type_t */
    uint32_t seq, timestamp;
    uint8_t a, b, c;  /* source/fault/level/door/kind, action/low, source */
    uint16_t slot;    /* LOCKED/UNLOCKED, ACCESS_DENIED; LKP_NO_SLOT = none */
    uint8_t digits_len;
    char digits[LKP_DIGITS_MAX];
    /* OFFLINE_CODE_USED, ACCESS_DENIED (a = reason): the offline code and its secret's generation. */
    uint32_t generation;
    lkp_offline_code_t code;
} lkp_event_t;

/* Encode an event (header included) as `version` lays it out (version 2 pads
 * the wrong-PIN digits to 16 bytes); returns its length (0 if cap too small). */
size_t lkp_encode_event(const lkp_event_t *ev, uint8_t version, uint8_t *buf, size_t cap);

/* A code slot as stored: the version-2 CodeEntry layout (slot, window, PIN and
 * name padded), whatever version is on the air. */
#define LKP_CODE_RECORD_SIZE (10u + 1u + LKP_PIN_MAX + 1u + LKP_NAME_MAX_BYTES)
size_t lkp_code_record(uint16_t slot, const lkp_request_t *put, uint8_t rec[LKP_CODE_RECORD_SIZE]);
/* 1 if rec is a well-formed stored code. */
int lkp_code_record_valid(const uint8_t *rec, size_t len);
/* The stored record as a CodeEntry of `version`; returns its length. */
size_t lkp_code_entry_wire(const uint8_t rec[LKP_CODE_RECORD_SIZE], uint8_t version, uint8_t *out);

/* Field rules shared with the storage code. */
int lkp_utf8_valid(const uint8_t *p, size_t len, size_t *code_points, int *has_control);
int lkp_pin_valid(const uint8_t *p, size_t len);

#endif
