/*
 * The lock: connection handling (handshake, records, refusals), request
 * dispatch, and the state machine of docs/ble-protocol.md section 7.
 */
#include "lkp/lock.h"

#include <string.h>

#include "lkp/crypto.h"
#include "lkp/wire.h"

#define STATE_MAGIC 0x4Cu /* 'L' */
#define STATE_VERSION 2u
#define STATE_HEADER 17u
#define STATE_RECORD_SIZE (STATE_HEADER + LKP_TIMEZONE_MAX + 5u)
#define CODE_RECORD_MAX LKP_CODE_RECORD_SIZE
#define MSG_OFFSET (LKP_FRAME_HEADER + LKP_RECORD_HEADER) /* plaintext inside lock->tx */
#define KEYS_MAGIC 0x4Bu /* 'K' */
#define KEYS_VERSION 1u
#define KEYS_RECORD_SIZE (3u + 2u * LKP_KEY_SIZE + 8u)
#define SECRET_RECORD_SIZE (1u + LKP_OFFLINE_SECRET_SIZE + 4u) /* length, secret, generation */
#define ENTRY_RECORD_SIZE 11u /* kind, start_hour, end_hour, counter, state */
#define ENTRY_ACTIVATED 1u
#define ENTRY_CONSUMED 2u
#define ENTRY_REVOKED 3u
#define SCHEDULE_RECORD_MAX (2u + LKP_TZ_RULE_MAX + LKP_SCHEDULE_MAX_WINDOWS * LKP_SCHEDULE_WINDOW_SIZE)
#define STATE_TAIL 5u /* after the time zone: offline misses, ms until the next decay */

/* ------------------------------------------------------------------ util */

/* Occupancy bitmaps (code slots, offline table entries). */
static int bit_get(const uint8_t *map, unsigned i)
{
    return (map[i / 8u] >> (i % 8u)) & 1u;
}

static void bit_set(uint8_t *map, unsigned i, int on)
{
    map[i / 8u] = (uint8_t)(on ? map[i / 8u] | (1u << (i % 8u)) : map[i / 8u] & ~(1u << (i % 8u)));
}

static int slot_used(const lock_t *lock, uint16_t slot)
{
    return bit_get(lock->slot_used, slot);
}

static void set_slot_used(lock_t *lock, uint16_t slot, int used)
{
    bit_set(lock->slot_used, slot, used);
}

static uint32_t now_rtc(lock_t *lock)
{
    return lock->hal.rtc_get(lock->hal.user);
}

static uint8_t battery(lock_t *lock)
{
    uint8_t level = lock->hal.battery_percent(lock->hal.user);
    return level > 100u ? 100u : level;
}

static void save_state(lock_t *lock)
{
    uint8_t rec[STATE_RECORD_SIZE];
    int32_t decay_in;
    rec[0] = STATE_MAGIC;
    rec[1] = STATE_VERSION;
    rec[2] = lock->bolt;
    rec[3] = lock->door;
    rec[4] = lock->wrong_pins;
    lkp_put_u16(rec + 5, (uint16_t)lock->utc_offset_minutes);
    lkp_put_u32(rec + 7, lock->seq_floor);
    rec[11] = lock->lockouts;
    /* A running lockout is stored at its full length: a power cycle restarts it
     * rather than lift it (the monotonic timer does not survive a reboot). */
    lkp_put_u32(rec + 12, lock->keypad_locked ? lock->keypad_lockout_ms : 0u);
    rec[16] = lock->timezone_len;
    memcpy(rec + STATE_HEADER, lock->timezone, lock->timezone_len);
    /* The miss count's decay is kept as the time left (the monotonic clock restarts at boot). */
    rec[STATE_HEADER + lock->timezone_len] = lock->offline_misses;
    decay_in = lock->offline_misses ? (int32_t)(lock->offline_decay_at_ms - lock->hal.uptime_ms(lock->hal.user)) : 0;
    lkp_put_u32(rec + STATE_HEADER + lock->timezone_len + 1, decay_in > 0 ? (uint32_t)decay_in : 0u);
    (void)lock->hal.nvs_write(lock->hal.user, LOCK_NVS_ID_STATE, rec, STATE_HEADER + lock->timezone_len + STATE_TAIL);
}

static void load_state(lock_t *lock)
{
    uint8_t rec[STATE_RECORD_SIZE];
    int n = lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_STATE, rec, sizeof rec);
    uint32_t lockout_ms;
    if (n < (int)STATE_HEADER || rec[0] != STATE_MAGIC || rec[1] != STATE_VERSION || rec[16] > LKP_TIMEZONE_MAX ||
        (size_t)n < STATE_HEADER + rec[16]) {
        return;
    }
    lock->bolt = rec[2] <= LOCK_BOLT_JAMMED ? rec[2] : (uint8_t)LOCK_BOLT_UNKNOWN;
    lock->door = rec[3] <= LOCK_DOOR_AJAR ? rec[3] : (uint8_t)LOCK_DOOR_UNKNOWN;
    lock->wrong_pins = rec[4];
    lock->utc_offset_minutes = (int16_t)lkp_get_u16(rec + 5);
    lock->seq_floor = lkp_get_u32(rec + 7);
    lock->lockouts = rec[11];
    lockout_ms = lkp_get_u32(rec + 12);
    if (lockout_ms) {
        lock->keypad_locked = 1;
        lock->keypad_lockout_ms = lockout_ms;
        lock->keypad_locked_until_ms = lock->hal.uptime_ms(lock->hal.user) + lockout_ms;
    }
    if (rec[16] > 0) {
        lock->timezone_len = rec[16];
        memcpy(lock->timezone, rec + STATE_HEADER, rec[16]);
    }
    if ((size_t)n >= STATE_HEADER + rec[16] + STATE_TAIL) {
        lock->offline_misses = rec[STATE_HEADER + rec[16]];
        lock->offline_decay_at_ms = lock->hal.uptime_ms(lock->hal.user) + lkp_get_u32(rec + STATE_HEADER + rec[16] + 1);
    }
}

/* The KEYS record: magic, version, flags (bit 0: a key is pending), the
 * device key, the pending key (zeros if none), pending and committed rotation. */
static int save_keys(lock_t *lock, const uint8_t key[LKP_KEY_SIZE], const uint8_t *pending, uint32_t pending_rotation,
                     uint32_t committed_rotation)
{
    uint8_t rec[KEYS_RECORD_SIZE];
    int rc;
    memset(rec, 0, sizeof rec);
    rec[0] = KEYS_MAGIC;
    rec[1] = KEYS_VERSION;
    rec[2] = pending ? 1u : 0u;
    memcpy(rec + 3, key, LKP_KEY_SIZE);
    if (pending) {
        memcpy(rec + 3 + LKP_KEY_SIZE, pending, LKP_KEY_SIZE);
    }
    lkp_put_u32(rec + 3 + 2 * LKP_KEY_SIZE, pending_rotation);
    lkp_put_u32(rec + 7 + 2 * LKP_KEY_SIZE, committed_rotation);
    rc = lock->hal.nvs_write(lock->hal.user, LOCK_NVS_ID_KEYS, rec, sizeof rec);
    lkp_wipe(rec, sizeof rec);
    return rc;
}

static void load_keys(lock_t *lock, const uint8_t *configured)
{
    uint8_t rec[KEYS_RECORD_SIZE];
    int n = lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_KEYS, rec, sizeof rec);
    if (n == (int)KEYS_RECORD_SIZE && rec[0] == KEYS_MAGIC && rec[1] == KEYS_VERSION && rec[2] <= 1u) {
        lock->has_key = 1;
        memcpy(lock->device_key, rec + 3, LKP_KEY_SIZE);
        lock->key_pending = rec[2];
        if (lock->key_pending) {
            memcpy(lock->pending_key, rec + 3 + LKP_KEY_SIZE, LKP_KEY_SIZE);
            lock->pending_rotation = lkp_get_u32(rec + 3 + 2 * LKP_KEY_SIZE);
        }
        lock->committed_rotation = lkp_get_u32(rec + 7 + 2 * LKP_KEY_SIZE);
    } else if (configured) {
        lock->has_key = 1;
        memcpy(lock->device_key, configured, LKP_KEY_SIZE);
    } else {
        /* No key anywhere: factory mode, unless the one-way switch says the
         * lock left it already (a lost key is not re-written over the air). */
        lock->factory_mode = !(lock->hal.factory_sealed && lock->hal.factory_sealed(lock->hal.user));
    }
    lkp_wipe(rec, sizeof rec);
}

/* HMAC-SHA256(key, label || msg)[0:16]: the key proof and the provisioning proof. */
static int proof16(const uint8_t *key, size_t key_len, const char *label, const uint8_t *msg, size_t msg_len,
                   uint8_t out[LKP_PROOF_SIZE])
{
    uint8_t mac[LKP_SHA256_SIZE];
    lkp_part_t parts[2];
    int rc;
    parts[0].p = (const uint8_t *)label;
    parts[0].n = strlen(label);
    parts[1].p = msg;
    parts[1].n = msg_len;
    rc = lkp_hmac_sha256(key, key_len, parts, 2, mac);
    memcpy(out, mac, LKP_PROOF_SIZE);
    lkp_wipe(mac, sizeof mac);
    return rc;
}

/* ------------------------------------------------------- offline storage */

static int entry_used(const lock_t *lock, unsigned i)
{
    return bit_get(lock->offline_used, i);
}

static void set_entry_used(lock_t *lock, unsigned i, int used)
{
    bit_set(lock->offline_used, i, used);
}

static int read_offline_secret(lock_t *lock, uint8_t secret[LKP_OFFLINE_SECRET_SIZE])
{
    uint8_t rec[SECRET_RECORD_SIZE];
    int n = lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_OFFLINE_SECRET, rec, sizeof rec);
    int ok = (n == (int)SECRET_RECORD_SIZE || n == (int)(SECRET_RECORD_SIZE - 4u)) && rec[0] == LKP_OFFLINE_SECRET_SIZE;
    if (ok) {
        memcpy(secret, rec + 1, LKP_OFFLINE_SECRET_SIZE);
    }
    lkp_wipe(rec, sizeof rec);
    return ok ? 0 : -1;
}

/* Installing a secret forgets the table: every entry was about the old one's codes. */
static int save_offline_secret(lock_t *lock, const uint8_t secret[LKP_OFFLINE_SECRET_SIZE], uint32_t generation)
{
    uint8_t rec[SECRET_RECORD_SIZE];
    unsigned i;
    int rc;
    rec[0] = LKP_OFFLINE_SECRET_SIZE;
    memcpy(rec + 1, secret, LKP_OFFLINE_SECRET_SIZE);
    lkp_put_u32(rec + 1 + LKP_OFFLINE_SECRET_SIZE, generation);
    rc = lock->hal.nvs_write(lock->hal.user, LOCK_NVS_ID_OFFLINE_SECRET, rec, sizeof rec);
    lkp_wipe(rec, sizeof rec);
    if (rc != 0) {
        return rc;
    }
    for (i = 0; i < LKP_OFFLINE_TABLE_SIZE; i++) {
        if (entry_used(lock, i)) {
            (void)lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_OFFLINE_BASE + i));
            set_entry_used(lock, i, 0);
        }
    }
    lock->offline_count = 0;
    lock->offline_secret_set = 1;
    lock->offline_generation = generation;
    return 0;
}

static int read_entry(lock_t *lock, unsigned i, lkp_offline_code_t *code, uint8_t *state)
{
    uint8_t rec[ENTRY_RECORD_SIZE];
    int n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_OFFLINE_BASE + i), rec, sizeof rec);
    if (n != (int)ENTRY_RECORD_SIZE || rec[10] < ENTRY_ACTIVATED || rec[10] > ENTRY_REVOKED) {
        return 0;
    }
    code->kind = rec[0];
    code->start_hour = lkp_get_u32(rec + 1);
    code->end_hour = lkp_get_u32(rec + 5);
    code->counter = rec[9];
    *state = rec[10];
    return lkp_offline_code_valid(code);
}

static int write_entry(lock_t *lock, unsigned i, const lkp_offline_code_t *code, uint8_t state)
{
    uint8_t rec[ENTRY_RECORD_SIZE];
    rec[0] = code->kind;
    lkp_put_u32(rec + 1, code->start_hour);
    lkp_put_u32(rec + 5, code->end_hour);
    rec[9] = code->counter;
    rec[10] = state;
    if (lock->hal.nvs_write(lock->hal.user, (uint16_t)(LOCK_NVS_ID_OFFLINE_BASE + i), rec, sizeof rec) != 0) {
        return -1;
    }
    if (!entry_used(lock, i)) {
        set_entry_used(lock, i, 1);
        lock->offline_count++;
    }
    return 0;
}

static void delete_entry(lock_t *lock, unsigned i)
{
    (void)lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_OFFLINE_BASE + i));
    set_entry_used(lock, i, 0);
    lock->offline_count--;
}

/* 0 = stored; -1 = no room or a storage error. */
static int add_entry(lock_t *lock, const lkp_offline_code_t *code, uint8_t state)
{
    unsigned i;
    for (i = 0; i < LKP_OFFLINE_TABLE_SIZE; i++) {
        if (!entry_used(lock, i)) {
            return write_entry(lock, i, code, state);
        }
    }
    return -1;
}

static int code_over(const lkp_offline_code_t *code, uint32_t now)
{
    return (int64_t)now >= (int64_t)code->end_hour * 3600 + LKP_OFFLINE_TOLERANCE;
}

static void prune_table(lock_t *lock, uint32_t now)
{
    unsigned i;
    for (i = 0; i < LKP_OFFLINE_TABLE_SIZE; i++) {
        lkp_offline_code_t code;
        uint8_t state;
        if (entry_used(lock, i) && (!read_entry(lock, i, &code, &state) || code_over(&code, now))) {
            delete_entry(lock, i);
        }
    }
}

static void load_offline(lock_t *lock)
{
    uint8_t rec[SECRET_RECORD_SIZE];
    unsigned i;
    int n = lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_OFFLINE_SECRET, rec, sizeof rec);
    if ((n == (int)SECRET_RECORD_SIZE || n == (int)(SECRET_RECORD_SIZE - 4u)) && rec[0] == LKP_OFFLINE_SECRET_SIZE) {
        lock->offline_secret_set = 1;
        lock->offline_generation = n == (int)SECRET_RECORD_SIZE ? lkp_get_u32(rec + 1 + LKP_OFFLINE_SECRET_SIZE) : 0u;
    }
    lkp_wipe(rec, sizeof rec);
    for (i = 0; i < LKP_OFFLINE_TABLE_SIZE; i++) {
        lkp_offline_code_t code;
        uint8_t state;
        if (read_entry(lock, i, &code, &state)) {
            set_entry_used(lock, i, 1);
            lock->offline_count++;
        }
    }
}

/* A slot's schedule record: rule length, rule, window count, windows. 0 = none. */
static size_t read_schedule(lock_t *lock, uint16_t slot, uint8_t rec[SCHEDULE_RECORD_MAX])
{
    int n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SCHEDULE_BASE + slot), rec, SCHEDULE_RECORD_MAX);
    if (n < 2 || n > (int)SCHEDULE_RECORD_MAX || rec[0] > LKP_TZ_RULE_MAX || (size_t)n < 2u + rec[0] ||
        rec[1 + rec[0]] > LKP_SCHEDULE_MAX_WINDOWS ||
        (size_t)n != 2u + rec[0] + (size_t)rec[1 + rec[0]] * LKP_SCHEDULE_WINDOW_SIZE) {
        return 0;
    }
    return (size_t)n;
}

static size_t schedule_record(const lkp_request_t *req, uint8_t rec[SCHEDULE_RECORD_MAX])
{
    size_t n = 0, w = (size_t)req->u.put_code.window_count * LKP_SCHEDULE_WINDOW_SIZE;
    rec[n++] = req->u.put_code.tz_rule.len;
    memcpy(rec + n, req->u.put_code.tz_rule.p, req->u.put_code.tz_rule.len);
    n += req->u.put_code.tz_rule.len;
    rec[n++] = req->u.put_code.window_count;
    memcpy(rec + n, req->u.put_code.windows, w);
    return n + w;
}

/* 1 if the slot has no schedule, or one of its windows is open now. */
static int schedule_open_now(lock_t *lock, uint16_t slot)
{
    uint8_t rec[SCHEDULE_RECORD_MAX];
    lkp_tz_rule_t rule;
    size_t n = read_schedule(lock, slot, rec);
    if (n == 0) {
        return 1;
    }
    if (lkp_tz_parse(rec + 1, rec[0], &rule) != 0) {
        return 0; /* a rule that no longer parses opens nothing */
    }
    return lkp_schedule_open(rec + 2 + rec[0], rec[1 + rec[0]], &rule, lock->hal.rtc_get(lock->hal.user));
}

/* ------------------------------------------------------------- radio out */

static void notify_frame(lock_t *lock, size_t frame_len, lock_tx_kind_t kind)
{
    size_t off;
    if (!lock->connected || frame_len == 0) {
        return;
    }
    lock->counters.frames_sent++;
    for (off = 0; off < frame_len; off += lock->chunk_size) {
        size_t n = frame_len - off < lock->chunk_size ? frame_len - off : lock->chunk_size;
        lock->hal.radio_notify(lock->hal.user, lock->tx + off, n, kind);
    }
}

/* Send the plaintext frame body placed at tx + 4. */
static void send_plain(lock_t *lock, size_t body_len, lock_tx_kind_t kind)
{
    notify_frame(lock, lkp_frame_seal(lock->tx, body_len), kind);
}

static void send_alert(lock_t *lock, uint8_t code)
{
    lock->tx[LKP_FRAME_HEADER] = LKP_FRAME_ALERT;
    lock->tx[LKP_FRAME_HEADER + 1] = code;
    send_plain(lock, 2, LOCK_TX_PROTOCOL);
}

/* Seal and send the message placed at tx + MSG_OFFSET. */
static void send_message(lock_t *lock, size_t msg_len, lock_tx_kind_t kind)
{
    size_t body;
    if (!lock->connected || lock->session.state != LKP_SESSION_ESTABLISHED) {
        return;
    }
    body = lkp_record_seal(&lock->session, LKP_DIRECTION_TO_BRIDGE, lock->tx + LKP_FRAME_HEADER, msg_len);
    if (body == 0) {
        return; /* counter exhausted: the bridge must handshake again */
    }
    send_plain(lock, body, kind);
}

static uint8_t *response_header(lock_t *lock, uint8_t opcode, uint16_t request_id, uint8_t status)
{
    uint8_t *m = lock->tx + MSG_OFFSET;
    m[0] = (uint8_t)((opcode > LKP_REQUEST_OPCODE_MAX ? LKP_REQUEST_OPCODE_MAX : opcode) | LKP_RESPONSE_FLAG);
    lkp_put_u16(m + 1, request_id);
    m[3] = status;
    return m;
}

static void send_error(lock_t *lock, uint8_t opcode, uint16_t request_id, uint8_t code, lock_tx_kind_t kind)
{
    (void)response_header(lock, opcode, request_id, code);
    send_message(lock, 4, kind);
}

/* ----------------------------------------------------------------- events */

static void rescan_events(lock_t *lock)
{
    uint8_t rec[LOCK_EVENT_RECORD_MAX];
    uint16_t i;
    uint32_t head = lock->seq_floor, oldest = 0;

    for (i = 0; i < lock->cfg.event_log_size; i++) {
        int n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_EVENT_BASE + i), rec, sizeof rec);
        if (n >= 9) {
            uint32_t seq = lkp_get_u32(rec + 1);
            if (seq > head) {
                head = seq;
            }
        }
    }
    for (i = 0; i < lock->cfg.event_log_size; i++) {
        int n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_EVENT_BASE + i), rec, sizeof rec);
        if (n >= 9) {
            uint32_t seq = lkp_get_u32(rec + 1);
            /* Valid: at its own ring position and within the last size events. */
            if (seq != 0 && (seq - 1u) % lock->cfg.event_log_size == i && head - seq < lock->cfg.event_log_size &&
                (oldest == 0 || seq < oldest)) {
                oldest = seq;
            }
        }
    }
    lock->head_seq = head;
    lock->oldest_seq = oldest;
}

static void emit(lock_t *lock, lkp_event_t *ev)
{
    uint8_t rec[LOCK_EVENT_RECORD_MAX];
    size_t n;
    uint32_t seq;

    if (lock->head_seq == 0xFFFFFFFFu) {
        return; /* 136 years of one event a second: the log is full for good */
    }
    seq = lock->head_seq + 1u;
    ev->seq = seq;
    ev->timestamp = now_rtc(lock);
    n = lkp_encode_event(ev, lock->cfg.protocol_version, rec, sizeof rec);
    if (n == 0) {
        return;
    }
    (void)lock->hal.nvs_write(lock->hal.user, (uint16_t)(LOCK_NVS_ID_EVENT_BASE + (seq - 1u) % lock->cfg.event_log_size),
                              rec, n);
    lock->head_seq = seq;
    if (lock->oldest_seq == 0) {
        lock->oldest_seq = seq;
    } else if (seq - lock->oldest_seq >= lock->cfg.event_log_size) {
        lock->oldest_seq = seq - lock->cfg.event_log_size + 1u; /* the ring dropped the oldest */
    }
    if (lock->hal.event_logged) {
        lock->hal.event_logged(lock->hal.user, rec, n);
    }
    if (lock->connected && lock->session.state == LKP_SESSION_ESTABLISHED) {
        memcpy(lock->tx + MSG_OFFSET, rec, n);
        send_message(lock, n, LOCK_TX_EVENT);
    }
}

static void emit_simple(lock_t *lock, uint8_t type, uint8_t a, uint8_t b, uint8_t c)
{
    lkp_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.a = a;
    ev.b = b;
    ev.c = c;
    emit(lock, &ev);
}

static void emit_bolt(lock_t *lock, uint8_t type, uint8_t source, uint16_t slot)
{
    lkp_event_t ev;
    memset(&ev, 0, sizeof ev);
    ev.type = type;
    ev.a = source;
    ev.slot = slot;
    emit(lock, &ev);
}

static void check_battery(lock_t *lock)
{
    uint8_t level = battery(lock);
    if (level != lock->battery_reported) {
        lock->battery_reported = level;
        emit_simple(lock, LKP_EV_BATTERY, level, level <= LOCK_LOW_BATTERY_PERCENT ? 1u : 0u, 0);
    }
}

/* ------------------------------------------------------------------- bolt */

static void arm_auto_lock(lock_t *lock)
{
    if (lock->cfg.auto_lock_ms) {
        lock->auto_lock_armed = 1;
        lock->auto_lock_due_ms = lock->hal.uptime_ms(lock->hal.user) + lock->cfg.auto_lock_ms;
    }
}

static void bolt_moved(lock_t *lock, uint8_t to, uint8_t source, uint16_t slot)
{
    lock->bolt = to;
    save_state(lock);
    if (to == LOCK_BOLT_LOCKED) {
        lock->auto_lock_armed = 0;
        emit_bolt(lock, LKP_EV_LOCKED, source, slot);
    } else {
        arm_auto_lock(lock);
        emit_bolt(lock, LKP_EV_UNLOCKED, source, slot);
    }
}

static uint8_t move_bolt(lock_t *lock, lock_bolt_action_t action, uint8_t source, uint16_t slot)
{
    lock_motor_result_t result;
    if (battery(lock) <= LOCK_CRITICAL_BATTERY_PERCENT) {
        return LKP_ERR_LOW_BATTERY;
    }
    result = lock->hal.motor_drive(lock->hal.user, action);
    check_battery(lock);
    if (result == LOCK_MOTOR_JAMMED || result == LOCK_MOTOR_OBSTRUCTED) {
        lock->auto_lock_armed = 0;
        if (result == LOCK_MOTOR_JAMMED) {
            lock->bolt = LOCK_BOLT_JAMMED;
            save_state(lock);
        }
        emit_simple(lock, LKP_EV_BOLT_FAULT, result == LOCK_MOTOR_JAMMED ? LOCK_FAULT_JAMMED : LOCK_FAULT_OBSTRUCTED,
                    (uint8_t)action, source);
        return result == LOCK_MOTOR_JAMMED ? LKP_ERR_JAMMED : LKP_ERR_OBSTRUCTED;
    }
    bolt_moved(lock, action == LOCK_ACTION_LOCK ? LOCK_BOLT_LOCKED : LOCK_BOLT_UNLOCKED, source, slot);
    return LKP_OK;
}

/* ------------------------------------------------------------------ codes */

static int read_code(lock_t *lock, uint16_t slot, uint8_t *buf, size_t cap)
{
    int n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SLOT_BASE + slot), buf, cap);
    /* A record that does not parse is treated as empty rather than trusted. */
    if (n < 0 || (size_t)n > cap || !lkp_code_record_valid(buf, (size_t)n)) {
        return 0;
    }
    return n;
}

static int code_valid_now(lock_t *lock, const uint8_t *rec)
{
    uint32_t starts = lkp_get_u32(rec + 2), ends = lkp_get_u32(rec + 6), now;
    if (starts == 0 || ends == 0) {
        return 1;
    }
    now = now_rtc(lock);
    return starts <= now && now < ends;
}

static uint16_t lowest_free_slot(const lock_t *lock)
{
    uint16_t slot;
    for (slot = 1; slot <= lock->cfg.code_capacity; slot++) {
        if (!slot_used(lock, slot)) {
            return slot;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- handlers */

static void handle_status(lock_t *lock, const lkp_request_t *req)
{
    uint8_t *m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    m[4] = lock->bolt;
    m[5] = lock->door;
    m[6] = battery(lock);
    m[7] = (uint8_t)lock->rssi;
    lkp_put_u32(m + 8, now_rtc(lock));
    lkp_put_u16(m + 12, (uint16_t)lock->utc_offset_minutes);
    lkp_put_u16(m + 14, lock->code_count);
    lkp_put_u16(m + 16, lock->cfg.code_capacity);
    lkp_put_u32(m + 18, lock->head_seq);
    m[22] = lock->timezone_len;
    memcpy(m + 23, lock->timezone, lock->timezone_len);
    send_message(lock, 23u + lock->timezone_len, LOCK_TX_RESPONSE);
}

static void handle_bolt(lock_t *lock, const lkp_request_t *req)
{
    lock_bolt_action_t action = req->opcode == LKP_OP_LOCK ? LOCK_ACTION_LOCK : LOCK_ACTION_UNLOCK;
    uint8_t rc = move_bolt(lock, action, LOCK_SOURCE_BLE, LKP_NO_SLOT);
    uint8_t *m;
    if (rc != LKP_OK) {
        send_error(lock, req->opcode, req->request_id, rc, LOCK_TX_RESPONSE);
        return;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    m[4] = lock->bolt;
    send_message(lock, 5, LOCK_TX_RESPONSE);
}

static void handle_set_time(lock_t *lock, const lkp_request_t *req)
{
    const lkp_str_t *tz = &req->u.set_time.timezone;
    if (req->u.set_time.epoch < LOCK_EARLIEST_VALID_TIME) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INVALID_TIME, LOCK_TX_RESPONSE);
        return;
    }
    if (lock->hal.timezone_known && !lock->hal.timezone_known(lock->hal.user, (const char *)tz->p, tz->len)) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INVALID_TIMEZONE, LOCK_TX_RESPONSE);
        return;
    }
    lock->hal.rtc_set(lock->hal.user, req->u.set_time.epoch);
    lock->timezone_len = tz->len;
    memcpy(lock->timezone, tz->p, tz->len);
    lock->utc_offset_minutes = req->u.set_time.utc_offset_minutes;
    save_state(lock);
    (void)response_header(lock, req->opcode, req->request_id, LKP_OK);
    send_message(lock, 4, LOCK_TX_RESPONSE);
}

static uint8_t put_code(lock_t *lock, const lkp_request_t *req, uint16_t *slot_out)
{
    uint8_t entry[CODE_RECORD_MAX], current[CODE_RECORD_MAX];
    uint8_t sched[SCHEDULE_RECORD_MAX], stored[SCHEDULE_RECORD_MAX];
    uint16_t slot = req->u.put_code.slot, other;
    size_t n, sched_len, stored_len;
    int current_len, rc;

    if (slot == LKP_ANY_SLOT) {
        slot = lowest_free_slot(lock);
        if (slot == 0) {
            return LKP_ERR_STORAGE_FULL;
        }
    } else if (slot < 1 || slot > lock->cfg.code_capacity) {
        return LKP_ERR_INVALID_SLOT;
    }
    *slot_out = slot;
    n = lkp_code_record(slot, req, entry);
    current_len = slot_used(lock, slot) ? read_code(lock, slot, current, sizeof current) : 0;
    /* "Exactly this code" includes the schedule (none for a plain PUT_CODE). */
    sched_len = req->u.put_code.scheduled ? schedule_record(req, sched) : 0;
    stored_len = current_len > 0 ? read_schedule(lock, slot, stored) : 0;
    if (current_len > 0 && (size_t)current_len == n && memcmp(current, entry, n) == 0 && sched_len == stored_len &&
        memcmp(sched, stored, sched_len) == 0) {
        return LKP_OK; /* idempotent retry */
    }
    for (other = 1; other <= lock->cfg.code_capacity; other++) {
        uint8_t rec[CODE_RECORD_MAX];
        if (other == slot || !slot_used(lock, other)) {
            continue;
        }
        if (read_code(lock, other, rec, sizeof rec) > 0 && rec[10] == req->u.put_code.pin.len &&
            memcmp(rec + 11, req->u.put_code.pin.p, rec[10]) == 0) {
            return LKP_ERR_PIN_CONFLICT;
        }
    }
    if (current_len > 0 && !req->u.put_code.replace) {
        return LKP_ERR_SLOT_OCCUPIED;
    }
    rc = lock->hal.nvs_write(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SLOT_BASE + slot), entry, n);
    if (rc == LOCK_NVS_FULL) {
        return LKP_ERR_STORAGE_FULL;
    }
    if (rc != 0) {
        return LKP_ERR_INTERNAL;
    }
    if (!slot_used(lock, slot)) {
        set_slot_used(lock, slot, 1);
        lock->code_count++;
    }
    /* A plain PUT_CODE into the slot removes its schedule. */
    rc = sched_len ? lock->hal.nvs_write(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SCHEDULE_BASE + slot), sched, sched_len)
                   : lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SCHEDULE_BASE + slot));
    return rc == 0 || !sched_len ? LKP_OK : LKP_ERR_INTERNAL;
}

static void handle_put_code(lock_t *lock, const lkp_request_t *req)
{
    uint16_t slot = 0;
    uint8_t rc = put_code(lock, req, &slot);
    uint8_t *m;
    if (rc != LKP_OK) {
        send_error(lock, req->opcode, req->request_id, rc, LOCK_TX_RESPONSE);
        return;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u16(m + 4, slot);
    send_message(lock, 6, LOCK_TX_RESPONSE);
}

/* 1 if `slot` holds a code; otherwise answers INVALID_SLOT or SLOT_EMPTY. */
static int occupied_slot(lock_t *lock, const lkp_request_t *req, uint16_t slot)
{
    if (slot < 1 || slot > lock->cfg.code_capacity) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INVALID_SLOT, LOCK_TX_RESPONSE);
        return 0;
    }
    if (!slot_used(lock, slot)) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_SLOT_EMPTY, LOCK_TX_RESPONSE);
        return 0;
    }
    return 1;
}

static void handle_delete_code(lock_t *lock, const lkp_request_t *req)
{
    uint16_t slot = req->u.delete_code.slot;
    uint8_t *m;
    if (!occupied_slot(lock, req, slot)) {
        return;
    }
    if (lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SLOT_BASE + slot)) != 0) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
        return;
    }
    (void)lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SCHEDULE_BASE + slot));
    set_slot_used(lock, slot, 0);
    lock->code_count--;
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u16(m + 4, slot);
    send_message(lock, 6, LOCK_TX_RESPONSE);
}

static void handle_list_codes(lock_t *lock, const lkp_request_t *req)
{
    uint8_t *m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    size_t n = 7;
    uint8_t count = 0;
    uint16_t slot = req->u.list_codes.start_slot ? req->u.list_codes.start_slot : 1u;
    uint16_t next = LKP_NO_SLOT, last = 0;
    uint8_t rec[CODE_RECORD_MAX];

    for (; slot >= 1 && slot <= lock->cfg.code_capacity; slot++) {
        int len;
        if (!slot_used(lock, slot)) {
            continue;
        }
        if (count == req->u.list_codes.max_count) {
            next = (uint16_t)(last + 1u); /* more after this page */
            break;
        }
        len = read_code(lock, slot, rec, sizeof rec);
        if (len > 0) {
            n += lkp_code_entry_wire(rec, lock->cfg.protocol_version, m + n);
            count++;
            last = slot;
        }
    }
    lkp_put_u16(m + 4, next);
    m[6] = count;
    send_message(lock, n, LOCK_TX_RESPONSE);
}

static void handle_read_events(lock_t *lock, const lkp_request_t *req)
{
    uint8_t *m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    size_t n = 13;
    uint8_t count = 0;
    uint32_t seq;

    lkp_put_u32(m + 4, lock->head_seq);
    lkp_put_u32(m + 8, lock->oldest_seq);
    if (lock->oldest_seq != 0 && req->u.read_events.since_seq < lock->head_seq) {
        seq = req->u.read_events.since_seq + 1u;
        if (seq < lock->oldest_seq) {
            seq = lock->oldest_seq;
        }
        for (; count < req->u.read_events.max_count; seq++) {
            uint8_t *item = m + n;
            int len = lock->hal.nvs_read(lock->hal.user,
                                         (uint16_t)(LOCK_NVS_ID_EVENT_BASE + (seq - 1u) % lock->cfg.event_log_size),
                                         item + 1, LOCK_EVENT_RECORD_MAX);
            if (len >= 9 && len <= (int)LOCK_EVENT_RECORD_MAX && lkp_get_u32(item + 2) == seq) {
                item[0] = (uint8_t)len;
                n += 1u + (size_t)len;
                count++;
            }
            if (seq == lock->head_seq) {
                break;
            }
        }
    }
    m[12] = count;
    send_message(lock, n, LOCK_TX_RESPONSE);
}

/* Section 13: the pending key and both rotation numbers are in storage before
 * the answer leaves, so a link lost at any point leaves a key the cloud knows. */
static void handle_rotate_key(lock_t *lock, const lkp_request_t *req)
{
    const uint8_t *new_key = req->u.rotate_key.new_key;
    uint32_t rotation = req->u.rotate_key.rotation_id;
    uint8_t key_proof[LKP_PROOF_SIZE], id[4], *m;

    lkp_put_u32(id, rotation);
    if (proof16(new_key, LKP_KEY_SIZE, "LKP1 key proof", id, sizeof id, key_proof) != 0) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
        return;
    }
    /* The same rotation again after its commit: the answer to COMMIT_KEY was
     * lost and the new key is already ours; same proof, nothing changes. */
    if (!(rotation == lock->committed_rotation && lkp_ct_equal(new_key, lock->device_key, LKP_KEY_SIZE))) {
        if (save_keys(lock, lock->device_key, new_key, rotation, lock->committed_rotation) != 0) {
            send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
            return;
        }
        memcpy(lock->pending_key, new_key, LKP_KEY_SIZE);
        lock->key_pending = 1;
        lock->pending_rotation = rotation;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u32(m + 4, rotation);
    memcpy(m + 8, key_proof, LKP_PROOF_SIZE);
    send_message(lock, 8u + LKP_PROOF_SIZE, LOCK_TX_RESPONSE);
}

static void handle_commit_key(lock_t *lock, const lkp_request_t *req)
{
    uint32_t rotation = req->u.commit_key.rotation_id;
    uint8_t *m;
    if (!lock->key_pending || rotation != lock->pending_rotation) {
        /* A repeated COMMIT_KEY of the rotation already done is answered OK again. */
        if (lock->key_pending || rotation != lock->committed_rotation) {
            send_error(lock, req->opcode, req->request_id, LKP_ERR_NO_PENDING_KEY, LOCK_TX_RESPONSE);
            return;
        }
    } else {
        if (save_keys(lock, lock->pending_key, NULL, 0, rotation) != 0) {
            send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
            return;
        }
        /* The session in progress keeps its keys; the next HELLO uses the new one. */
        memcpy(lock->device_key, lock->pending_key, LKP_KEY_SIZE);
        lkp_wipe(lock->pending_key, sizeof lock->pending_key);
        lock->key_pending = 0;
        lock->pending_rotation = 0;
        lock->committed_rotation = rotation;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u32(m + 4, rotation);
    send_message(lock, 8, LOCK_TX_RESPONSE);
}

static int presence_now(lock_t *lock)
{
    if (lock->presence &&
        (int32_t)(lock->hal.uptime_ms(lock->hal.user) - lock->presence_until_ms) >= 0) {
        lock->presence = 0;
    }
    return lock->presence;
}

/* Section 14: codes, event log, keypad lockout and any pending key go; the
 * device key, the rotation number and the event sequence stay. */
static void handle_factory_reset(lock_t *lock, const lkp_request_t *req)
{
    uint16_t slot;
    uint32_t seq;
    if (!presence_now(lock)) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_PRESENCE_REQUIRED, LOCK_TX_RESPONSE);
        return;
    }
    lock->presence = 0;
    for (slot = 1; slot <= lock->cfg.code_capacity; slot++) {
        if (slot_used(lock, slot)) {
            (void)lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SLOT_BASE + slot));
            (void)lock->hal.nvs_delete(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SCHEDULE_BASE + slot));
            set_slot_used(lock, slot, 0);
        }
    }
    lock->code_count = 0;
    if (lock->oldest_seq != 0) {
        for (seq = lock->oldest_seq; seq - lock->oldest_seq < lock->cfg.event_log_size; seq++) {
            (void)lock->hal.nvs_delete(lock->hal.user,
                                       (uint16_t)(LOCK_NVS_ID_EVENT_BASE + (seq - 1u) % lock->cfg.event_log_size));
            if (seq == lock->head_seq) {
                break;
            }
        }
    }
    /* The floor keeps seq going up after the records that carried it are gone. */
    lock->seq_floor = lock->head_seq;
    lock->oldest_seq = 0;
    lock->wrong_pins = 0;
    lock->lockouts = 0;
    lock->keypad_locked = 0;
    save_state(lock);
    if (lock->key_pending) {
        if (save_keys(lock, lock->device_key, NULL, 0, lock->committed_rotation) != 0) {
            send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
            return;
        }
        lkp_wipe(lock->pending_key, sizeof lock->pending_key);
        lock->key_pending = 0;
        lock->pending_rotation = 0;
    }
    (void)response_header(lock, req->opcode, req->request_id, LKP_OK);
    send_message(lock, 4, LOCK_TX_RESPONSE);
}

static void handle_get_code_schedule(lock_t *lock, const lkp_request_t *req)
{
    uint8_t rec[SCHEDULE_RECORD_MAX], *m;
    uint16_t slot = req->u.get_schedule.slot;
    size_t n;
    if (!occupied_slot(lock, req, slot)) {
        return;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u16(m + 4, slot);
    m[6] = LKP_SCHEDULE_EXTENSION;
    n = read_schedule(lock, slot, rec);
    if (n == 0) {
        m[7] = 0; /* no rule */
        m[8] = 0; /* no windows */
        n = 2;
    } else {
        memcpy(m + 7, rec, n);
    }
    send_message(lock, 7u + n, LOCK_TX_RESPONSE);
}

static void handle_set_offline_secret(lock_t *lock, const lkp_request_t *req)
{
    const uint8_t *secret = req->u.set_offline_secret.secret;
    uint32_t generation = req->u.set_offline_secret.generation;
    uint8_t current[LKP_OFFLINE_SECRET_SIZE], proof[LKP_PROOF_SIZE], gen[4], *m;
    int same;
    lkp_put_u32(gen, generation);
    if (proof16(secret, LKP_OFFLINE_SECRET_SIZE, "LKP2 offline secret", gen, sizeof gen, proof) != 0) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
        return;
    }
    /* The same secret and generation again (a lost answer): same proof, the table is kept. */
    same = lock->offline_secret_set && lock->offline_generation == generation && read_offline_secret(lock, current) == 0 &&
           lkp_ct_equal(current, secret, LKP_OFFLINE_SECRET_SIZE);
    lkp_wipe(current, sizeof current);
    if (!same && save_offline_secret(lock, secret, generation) != 0) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
        return;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    lkp_put_u32(m + 4, generation);
    memcpy(m + 8, proof, LKP_PROOF_SIZE);
    send_message(lock, 8u + LKP_PROOF_SIZE, LOCK_TX_RESPONSE);
}

static void handle_revoke_offline_code(lock_t *lock, const lkp_request_t *req)
{
    const lkp_offline_code_t *code = &req->u.revoke;
    uint32_t now = now_rtc(lock);
    unsigned i;
    uint8_t *m;
    int done = 0;
    if (!lock->offline_secret_set) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_NO_OFFLINE_SECRET, LOCK_TX_RESPONSE);
        return;
    }
    prune_table(lock, now);
    if (code_over(code, now)) {
        done = 1; /* over already: nothing to remember */
    }
    for (i = 0; !done && i < LKP_OFFLINE_TABLE_SIZE; i++) {
        lkp_offline_code_t held;
        uint8_t state;
        if (entry_used(lock, i) && read_entry(lock, i, &held, &state) && held.kind == code->kind &&
            held.start_hour == code->start_hour && held.end_hour == code->end_hour && held.counter == code->counter) {
            if (write_entry(lock, i, code, ENTRY_REVOKED) != 0) {
                send_error(lock, req->opcode, req->request_id, LKP_ERR_INTERNAL, LOCK_TX_RESPONSE);
                return;
            }
            done = 1;
        }
    }
    if (!done && add_entry(lock, code, ENTRY_REVOKED) != 0) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_OFFLINE_TABLE_FULL, LOCK_TX_RESPONSE);
        return;
    }
    m = response_header(lock, req->opcode, req->request_id, LKP_OK);
    m[4] = (uint8_t)(LKP_OFFLINE_TABLE_SIZE - lock->offline_count);
    send_message(lock, 5, LOCK_TX_RESPONSE);
}

/* Section 20: auto-lock delay in whole seconds (half to even, at least 1 when
 * on), the keypad's own battery, the serial PROVISION wrote. */
static void handle_get_settings(lock_t *lock, const lkp_request_t *req)
{
    uint8_t *m = response_header(lock, req->opcode, req->request_id, LKP_OK), rec[1u + LKP_SERIAL_MAX];
    uint32_t ms = lock->cfg.auto_lock_ms, seconds = ms / 1000u, rest = ms % 1000u;
    int n;
    if (rest > 500u || (rest == 500u && (seconds & 1u))) {
        seconds++;
    }
    if (ms && seconds == 0) {
        seconds = 1;
    }
    lkp_put_u16(m + 4, (uint16_t)(seconds > 0xFFFFu ? 0xFFFFu : seconds));
    m[6] = lock->hal.keypad_battery_percent ? lock->hal.keypad_battery_percent(lock->hal.user) : LKP_NO_KEYPAD_BATTERY;
    n = lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_SERIAL, rec, sizeof rec);
    m[7] = n >= 1 && n <= (int)sizeof rec && rec[0] <= LKP_SERIAL_MAX && (size_t)n >= 1u + rec[0] ? rec[0] : 0u;
    memcpy(m + 8, rec + 1, m[7]);
    send_message(lock, 8u + m[7], LOCK_TX_RESPONSE);
}

static void execute(lock_t *lock, const lkp_request_t *req)
{
    if (lock->hal.busy && lock->hal.busy(lock->hal.user)) {
        send_error(lock, req->opcode, req->request_id, LKP_ERR_BUSY, LOCK_TX_RESPONSE);
        return;
    }
    switch (req->opcode) {
    case LKP_OP_GET_STATUS:
        handle_status(lock, req);
        break;
    case LKP_OP_LOCK:
    case LKP_OP_UNLOCK:
        handle_bolt(lock, req);
        break;
    case LKP_OP_SET_TIME:
        handle_set_time(lock, req);
        break;
    case LKP_OP_PUT_CODE:
    case LKP_OP_PUT_SCHEDULED_CODE:
        handle_put_code(lock, req);
        break;
    case LKP_OP_GET_CODE_SCHEDULE:
        handle_get_code_schedule(lock, req);
        break;
    case LKP_OP_GET_SETTINGS:
        handle_get_settings(lock, req);
        break;
    case LKP_OP_SET_OFFLINE_SECRET:
        handle_set_offline_secret(lock, req);
        break;
    case LKP_OP_REVOKE_OFFLINE_CODE:
        handle_revoke_offline_code(lock, req);
        break;
    case LKP_OP_DELETE_CODE:
        handle_delete_code(lock, req);
        break;
    case LKP_OP_LIST_CODES:
        handle_list_codes(lock, req);
        break;
    case LKP_OP_READ_EVENTS:
        handle_read_events(lock, req);
        break;
    case LKP_OP_ROTATE_KEY:
        handle_rotate_key(lock, req);
        break;
    case LKP_OP_COMMIT_KEY:
        handle_commit_key(lock, req);
        break;
    case LKP_OP_FACTORY_RESET:
        handle_factory_reset(lock, req);
        break;
    default:
        send_error(lock, req->opcode, req->request_id, LKP_ERR_UNKNOWN_OPCODE, LOCK_TX_RESPONSE);
        break;
    }
}

/* -------------------------------------------------------------- radio in */

static uint32_t doubling(uint32_t initial, unsigned steps, uint32_t max)
{
    uint32_t v = initial;
    while (steps-- && v < max) {
        v = v > max / 2u ? max : v * 2u;
    }
    return v < max ? v : max;
}

static int backing_off(lock_t *lock)
{
    if (lock->backing_off &&
        (int32_t)(lock->hal.uptime_ms(lock->hal.user) - lock->backoff_until_ms) >= 0) {
        lock->backing_off = 0;
    }
    return lock->backing_off;
}

static void handshake_failed(lock_t *lock)
{
    lock->counters.handshakes_failed++;
    if (lock->cfg.protocol_version < 2) {
        return;
    }
    if (lock->handshake_failures < 0xFF) {
        lock->handshake_failures++;
    }
    if (lock->handshake_failures > LOCK_HANDSHAKE_FREE_FAILURES) {
        unsigned excess = lock->handshake_failures - LOCK_HANDSHAKE_FREE_FAILURES;
        lock->backing_off = 1;
        lock->backoff_until_ms = lock->hal.uptime_ms(lock->hal.user) +
                                 doubling(LOCK_HANDSHAKE_BACKOFF_INITIAL_MS, excess - 1u, LOCK_HANDSHAKE_BACKOFF_MAX_MS);
    }
}

static void on_hello(lock_t *lock, const uint8_t *body, uint16_t len)
{
    uint8_t *f = lock->tx + LKP_FRAME_HEADER;
    uint8_t ours = lock->cfg.protocol_version, theirs;
    if (!lock->has_key) {
        /* Factory mode (or keyless): no key to run a session with. */
        lock->counters.handshakes_failed++;
        send_alert(lock, LKP_ERR_NOT_PROVISIONED);
        return;
    }
    if (len != LKP_HELLO_SIZE) {
        return;
    }
    theirs = body[1];
    /* Version 1 speaks exactly 1; version 2 serves any bridge of 2 or more in 2. */
    if (ours < 2 ? theirs != ours : theirs < 2) {
        lock->counters.handshakes_failed++;
        send_alert(lock, LKP_ERR_UNSUPPORTED_VERSION);
        return;
    }
    if (ours >= 2 && backing_off(lock)) {
        /* No CHALLENGE, no nonce: each guess costs the guesser the back-off. */
        send_alert(lock, LKP_ERR_BUSY);
        return;
    }
    lkp_session_clear(&lock->session);
    lock->request_len = 0;
    lock->session.version = ours;
    if (ours >= 2) {
        lock->session.transcript[0] = theirs;
        lock->session.transcript[1] = ours < theirs ? ours : theirs;
        lock->session.transcript_len = 2;
    }
    memcpy(lock->session.nonce_bridge, body + 2, LKP_NONCE_SIZE);
    /* No fresh nonce, no answer: a repeated Nl would repeat the session keys. */
    if (lock->hal.random(lock->hal.user, lock->session.nonce_lock, LKP_NONCE_SIZE) != 0 ||
        lkp_derive_keys(lock->device_key, &lock->session) != 0 ||
        lkp_confirm_tag(&lock->session, LKP_LABEL_LOCK, f + 2 + LKP_NONCE_SIZE) != 0) {
        lkp_session_clear(&lock->session);
        return;
    }
    lock->session.state = LKP_SESSION_CHALLENGE_SENT;
    f[0] = LKP_FRAME_CHALLENGE;
    f[1] = ours >= 2 ? lock->session.transcript[1] : ours;
    memcpy(f + 2, lock->session.nonce_lock, LKP_NONCE_SIZE);
    send_plain(lock, LKP_CHALLENGE_SIZE, LOCK_TX_PROTOCOL);
}

static void on_confirm(lock_t *lock, const uint8_t *body, uint16_t len)
{
    uint8_t expected[LKP_CONFIRM_SIZE];
    int ok;
    if (lock->session.state != LKP_SESSION_CHALLENGE_SENT) {
        return;
    }
    ok = len == LKP_CONFIRM_FRAME_SIZE && lkp_confirm_tag(&lock->session, LKP_LABEL_BRIDGE, expected) == 0 &&
         lkp_ct_equal(expected, body + 1, LKP_CONFIRM_SIZE);
    lkp_wipe(expected, sizeof expected);
    if (!ok) {
        handshake_failed(lock);
        lkp_session_clear(&lock->session);
        send_alert(lock, LKP_ERR_AUTH_FAILED);
        return;
    }
    lock->handshake_failures = 0;
    lock->backing_off = 0;
    lock->session.state = LKP_SESSION_ESTABLISHED;
    lock->session.tx_counter = 0;
    lock->session.rx_counter = 0;
}

static void on_secure(lock_t *lock, const uint8_t *body, uint16_t len)
{
    lkp_request_t req;
    size_t n = 0;
    int rc;
    if (lock->session.state != LKP_SESSION_ESTABLISHED) {
        send_alert(lock, LKP_ERR_NOT_AUTHENTICATED);
        return;
    }
    rc = lkp_record_open(&lock->session, LKP_DIRECTION_TO_LOCK, body, len, lock->request, sizeof lock->request, &n);
    if (rc != LKP_RECORD_OK) {
        lock->counters.rejected_records++;
        return;
    }
    rc = lkp_decode_request(lock->request, n, lock->cfg.protocol_version, &req);
    if (rc < 0) {
        return; /* not even a header: dropped */
    }
    if (rc != LKP_OK) {
        send_error(lock, req.opcode, req.request_id, (uint8_t)rc, LOCK_TX_PROTOCOL);
        return;
    }
    lock->request_len = (uint16_t)n;
}

static void send_provisioned(lock_t *lock, uint8_t status, const uint8_t *proof)
{
    uint8_t *f = lock->tx + LKP_FRAME_HEADER;
    f[0] = LKP_FRAME_PROVISIONED;
    f[1] = status;
    if (proof) {
        memcpy(f + 2, proof, LKP_PROOF_SIZE);
    } else {
        memset(f + 2, 0, LKP_PROOF_SIZE);
    }
    send_plain(lock, LKP_PROVISIONED_SIZE, LOCK_TX_PROTOCOL);
}

/* Section 16: plaintext, so accepted in factory mode only, and once. */
static void on_provision(lock_t *lock, const uint8_t *body, uint16_t len)
{
    lkp_provision_t p;
    uint8_t rec[1u + LKP_SERIAL_MAX], stored[KEYS_RECORD_SIZE], proof[LKP_PROOF_SIZE];
    int n, ok;
    if (!lock->factory_mode) {
        send_provisioned(lock, LKP_ERR_FACTORY_LOCKED, NULL);
        return;
    }
    if (lkp_decode_provision(body, len, &p) != LKP_OK) {
        lock->counters.rejected_records++;
        send_provisioned(lock, LKP_ERR_MALFORMED, NULL);
        return;
    }
    rec[0] = p.serial.len;
    memcpy(rec + 1, p.serial.p, p.serial.len);
    ok = lock->hal.nvs_write(lock->hal.user, LOCK_NVS_ID_SERIAL, rec, 1u + p.serial.len) == 0;
    ok = ok && save_offline_secret(lock, p.offline_secret.p, 0) == 0;
    lkp_wipe(rec, sizeof rec);
    ok = ok && save_keys(lock, p.device_key, NULL, 0, 0) == 0;
    /* The proof is over the key as read back from storage: a bad write is
     * caught by the jig on the line, not at the owner's door. */
    n = ok ? lock->hal.nvs_read(lock->hal.user, LOCK_NVS_ID_KEYS, stored, sizeof stored) : -1;
    ok = n == (int)KEYS_RECORD_SIZE && proof16(stored + 3, LKP_KEY_SIZE, "LKP1 provisioned", p.serial.p, p.serial.len, proof) == 0;
    ok = ok && (!lock->hal.factory_seal || lock->hal.factory_seal(lock->hal.user) == 0);
    if (!ok) {
        lkp_wipe(stored, sizeof stored);
        send_provisioned(lock, LKP_ERR_INTERNAL, NULL);
        return;
    }
    memcpy(lock->device_key, stored + 3, LKP_KEY_SIZE);
    lkp_wipe(stored, sizeof stored);
    lock->has_key = 1;
    lock->factory_mode = 0;
    send_provisioned(lock, LKP_OK, proof);
}

static void handle_frame(lock_t *lock, const uint8_t *body, uint16_t len)
{
    lock->counters.frames_received++;
    switch (body[0]) {
    case LKP_FRAME_HELLO:
        on_hello(lock, body, len);
        break;
    case LKP_FRAME_CONFIRM:
        on_confirm(lock, body, len);
        break;
    case LKP_FRAME_SECURE:
        on_secure(lock, body, len);
        break;
    case LKP_FRAME_PROVISION:
        on_provision(lock, body, len);
        break;
    default:
        break; /* not a bridge -> lock frame: dropped */
    }
}

static void drain_frames(lock_t *lock)
{
    const uint8_t *body;
    uint16_t len;
    while (lock->request_len == 0 && lkp_deframer_next(&lock->rx, &body, &len)) {
        handle_frame(lock, body, len);
    }
}

void lock_radio_write(lock_t *lock, const uint8_t *data, size_t len)
{
    if (!lock->connected) {
        return;
    }
    for (;;) {
        size_t pushed = lkp_deframer_push(&lock->rx, data, len);
        data += pushed;
        len -= pushed;
        drain_frames(lock);
        if (len == 0) {
            return;
        }
        if (pushed == 0) {
            if (lock->request_len != 0) {
                /* The bridge keeps one request in flight; more than a frame
                 * behind a pending one is a misbehaving peer: drop it. */
                lock->counters.dropped_bytes += (uint32_t)len;
                return;
            }
            lkp_deframer_reset(&lock->rx); /* cannot happen: a full buffer always holds a frame or garbage */
        }
    }
}

int lock_process(lock_t *lock)
{
    lkp_request_t req;
    if (lock->request_len == 0) {
        return 0;
    }
    check_battery(lock);
    if (lkp_decode_request(lock->request, lock->request_len, lock->cfg.protocol_version, &req) == LKP_OK) {
        execute(lock, &req);
    }
    lkp_wipe(lock->request, lock->request_len);
    lock->request_len = 0;
    drain_frames(lock);
    return 1;
}

int lock_request_pending(const lock_t *lock)
{
    return lock->request_len != 0;
}

uint8_t lock_pending_opcode(const lock_t *lock)
{
    return lock->request_len ? lock->request[0] : 0u;
}

void lock_radio_connected(lock_t *lock, uint16_t att_mtu)
{
    lock->connected = 1;
    lock->chunk_size = lkp_chunk_size_for_mtu(att_mtu);
    lkp_deframer_reset(&lock->rx);
    lkp_session_clear(&lock->session);
    lock->request_len = 0;
}

void lock_radio_mtu_changed(lock_t *lock, uint16_t att_mtu)
{
    lock->chunk_size = lkp_chunk_size_for_mtu(att_mtu);
}

void lock_radio_disconnected(lock_t *lock)
{
    lock->connected = 0;
    lkp_deframer_reset(&lock->rx);
    lkp_session_clear(&lock->session);
    lkp_wipe(lock->request, sizeof lock->request);
    lock->request_len = 0;
}

void lock_radio_discard_partial(lock_t *lock)
{
    if (lock->request_len == 0) {
        lkp_deframer_reset(&lock->rx);
    }
}

int lock_session_established(const lock_t *lock)
{
    return lock->connected && lock->session.state == LKP_SESSION_ESTABLISHED;
}

void lock_set_rssi(lock_t *lock, int rssi_dbm)
{
    lock->rssi = (int8_t)(rssi_dbm < -128 ? -128 : rssi_dbm > 127 ? 127 : rssi_dbm);
}

static size_t put_text(uint8_t *buf, size_t off, size_t cap, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 32) {
        n = 32;
    }
    if (off + 1 + n > cap) {
        return 0;
    }
    buf[off] = (uint8_t)n;
    if (n) {
        memcpy(buf + off + 1, s, n);
    }
    return off + 1 + n;
}

size_t lock_device_info(const lock_t *lock, uint8_t *buf, size_t len)
{
    size_t off;
    if (len < 5) {
        return 0;
    }
    buf[0] = lock->cfg.protocol_version;
    lkp_put_u32(buf + 1, lock->cfg.capabilities);
    off = put_text(buf, 5, len, lock->cfg.model);
    return off ? put_text(buf, off, len, lock->cfg.firmware) : 0;
}

/* --------------------------------------------------------- physical world */

static int keypad_locked_out(lock_t *lock)
{
    if (lock->keypad_locked &&
        (int32_t)(lock->hal.uptime_ms(lock->hal.user) - lock->keypad_locked_until_ms) >= 0) {
        lock->keypad_locked = 0;
        save_state(lock);
    }
    return lock->keypad_locked;
}

/* A refused PIN: logged (IncorrectPin or AccessDenied), counted, lockout included. */
static void wrong_pin(lock_t *lock, lkp_event_t *ev)
{
    int v2 = lock->cfg.protocol_version >= 2;
    if (lock->wrong_pins < 0xFF) {
        lock->wrong_pins++;
    }
    if (v2 && lock->wrong_pins >= LOCK_KEYPAD_LOCKOUT_AFTER) {
        lock->keypad_lockout_ms = doubling(LOCK_KEYPAD_LOCKOUT_INITIAL_MS, lock->lockouts, LOCK_KEYPAD_LOCKOUT_MAX_MS);
        lock->keypad_locked = 1;
        lock->keypad_locked_until_ms = lock->hal.uptime_ms(lock->hal.user) + lock->keypad_lockout_ms;
        if (lock->lockouts < 0xFF) {
            lock->lockouts++;
        }
    }
    save_state(lock);
    emit(lock, ev);
    lkp_wipe(ev, sizeof *ev);
    if (v2 ? lock->keypad_locked && lock->wrong_pins >= LOCK_KEYPAD_LOCKOUT_AFTER
           : lock->wrong_pins == LOCK_WRONG_PIN_TAMPER_THRESHOLD) {
        emit_simple(lock, LKP_EV_TAMPER, LOCK_TAMPER_KEYPAD_LOCKOUT, 0, 0);
    }
}

static void right_pin(lock_t *lock)
{
    if (lock->wrong_pins || lock->lockouts) {
        lock->wrong_pins = 0;
        lock->lockouts = 0;
        save_state(lock);
    }
}

static void incorrect_pin_event(lkp_event_t *ev, const char *digits, size_t len)
{
    size_t i;
    memset(ev, 0, sizeof *ev);
    ev->type = LKP_EV_INCORRECT_PIN;
    for (i = 0; i < len && ev->digits_len < LKP_DIGITS_MAX; i++) {
        if (digits[i] >= '0' && digits[i] <= '9') {
            ev->digits[ev->digits_len++] = digits[i];
        }
    }
}

#define OFFLINE_NO_MATCH 0
#define OFFLINE_ACCEPTED 1
#define OFFLINE_DENIED 2

static int same_shape(const lkp_offline_code_t *c, const lkp_offline_pin_t *pin)
{
    return c->kind == pin->kind && c->end_hour - c->start_hour == pin->hours && c->counter == pin->counter;
}

/* Section 17.4, steps 1-4 (the miss count is the caller's). The table is
 * written before the answer is acted on. */
static int offline_check(lock_t *lock, const char *digits, size_t len, uint32_t now, lkp_offline_code_t *code,
                         uint8_t *reason)
{
    uint8_t secret[LKP_OFFLINE_SECRET_SIZE], state;
    lkp_offline_pin_t pin;
    int64_t start, newest, oldest;
    unsigned i;
    uint32_t q;
    int result = OFFLINE_NO_MATCH;

    if (!lkp_offline_parse_pin(digits, len, &pin) || !lock->offline_secret_set || read_offline_secret(lock, secret) != 0) {
        return OFFLINE_NO_MATCH;
    }
    prune_table(lock, now);
    /* A code already in the table: its state decides, whatever the start hour. */
    for (i = 0; i < LKP_OFFLINE_TABLE_SIZE; i++) {
        if (!entry_used(lock, i) || !read_entry(lock, i, code, &state) || !same_shape(code, &pin) ||
            lkp_offline_secret_value(secret, code, &q) != 0 || q != pin.q) {
            continue;
        }
        if (state == ENTRY_REVOKED || state == ENTRY_CONSUMED) {
            *reason = state == ENTRY_REVOKED ? LOCK_DENIED_REVOKED : LOCK_DENIED_ALREADY_USED;
            result = OFFLINE_DENIED;
            goto done;
        }
        if ((int64_t)code->start_hour * 3600 - LKP_OFFLINE_TOLERANCE <= (int64_t)now) {
            result = OFFLINE_ACCEPTED;
            goto done;
        }
        delete_entry(lock, i); /* the clock went back before the start: forget the activation */
        break;
    }
    lkp_offline_candidates(&pin, now, &newest, &oldest);
    for (start = newest; start >= oldest; start--) {
        if (start + (int64_t)pin.hours > 0xFFFFFFFFll) {
            continue;
        }
        code->kind = pin.kind;
        code->start_hour = (uint32_t)start;
        code->end_hour = (uint32_t)(start + (int64_t)pin.hours);
        code->counter = pin.counter;
        if (!lkp_offline_code_valid(code) || lkp_offline_secret_value(secret, code, &q) != 0 || q != pin.q) {
            continue;
        }
        if (!lkp_offline_remembered(code)) {
            result = OFFLINE_ACCEPTED;
        } else if (lock->offline_count >= LKP_OFFLINE_TABLE_SIZE ||
                   add_entry(lock, code, code->kind == LKP_OFFLINE_ONE_TIME ? ENTRY_CONSUMED : ENTRY_ACTIVATED) != 0) {
            *reason = LOCK_DENIED_TABLE_FULL;
            result = OFFLINE_DENIED;
        } else {
            result = OFFLINE_ACCEPTED;
        }
        goto done;
    }
done:
    lkp_wipe(secret, sizeof secret);
    return result;
}

static void offline_entry(lock_t *lock, const char *digits, size_t len)
{
    uint32_t mono = lock->hal.uptime_ms(lock->hal.user), now = now_rtc(lock);
    lkp_event_t ev;
    lkp_offline_code_t code;
    uint8_t reason = 0, misses = lock->offline_misses;
    int result = OFFLINE_NO_MATCH;

    memset(&code, 0, sizeof code);
    /* One miss is forgotten per hour of the monotonic clock; a correct PIN never resets them. */
    while (lock->offline_misses && (int32_t)(mono - lock->offline_decay_at_ms) >= 0) {
        lock->offline_misses--;
        lock->offline_decay_at_ms += LKP_OFFLINE_MISS_DECAY_MS;
    }
    if (lock->offline_misses < LKP_OFFLINE_MISS_LIMIT) {
        result = offline_check(lock, digits, len, now, &code, &reason);
        if (result == OFFLINE_NO_MATCH) {
            if (!lock->offline_misses) {
                lock->offline_decay_at_ms = mono + LKP_OFFLINE_MISS_DECAY_MS;
            }
            lock->offline_misses++;
        }
    }
    if (result == OFFLINE_NO_MATCH) {
        incorrect_pin_event(&ev, digits, len);
        wrong_pin(lock, &ev);
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.generation = lock->offline_generation;
    ev.code = code;
    if (result == OFFLINE_DENIED) {
        ev.type = LKP_EV_ACCESS_DENIED;
        ev.a = reason;
        ev.slot = LKP_NO_SLOT;
        wrong_pin(lock, &ev);
        return;
    }
    if (lock->offline_misses != misses) {
        save_state(lock);
    }
    right_pin(lock);
    ev.type = LKP_EV_OFFLINE_CODE_USED;
    emit(lock, &ev);
    (void)move_bolt(lock, LOCK_ACTION_UNLOCK, LOCK_SOURCE_KEYPAD, LKP_NO_SLOT);
}

void lock_keypad_entry(lock_t *lock, const char *digits, size_t len)
{
    uint16_t slot;
    lkp_event_t ev;

    /* Locked out: every PIN refused, the right one too, and nothing logged. */
    if (lock->cfg.protocol_version >= 2 && keypad_locked_out(lock)) {
        return;
    }
    /* Ten digits are an offline code: longer than any slot's PIN (4-8). */
    if (len == LKP_OFFLINE_PIN_DIGITS) {
        offline_entry(lock, digits, len);
        return;
    }
    for (slot = 1; slot <= lock->cfg.code_capacity; slot++) {
        uint8_t rec[CODE_RECORD_MAX];
        if (slot_used(lock, slot) && read_code(lock, slot, rec, sizeof rec) > 0 && rec[10] == len &&
            memcmp(rec + 11, digits, len) == 0 && code_valid_now(lock, rec)) {
            if (!schedule_open_now(lock, slot)) {
                memset(&ev, 0, sizeof ev);
                ev.type = LKP_EV_ACCESS_DENIED;
                ev.a = LOCK_DENIED_OUTSIDE_SCHEDULE;
                ev.slot = slot;
                wrong_pin(lock, &ev);
                return;
            }
            right_pin(lock);
            (void)move_bolt(lock, LOCK_ACTION_UNLOCK, LOCK_SOURCE_KEYPAD, slot);
            return;
        }
    }
    incorrect_pin_event(&ev, digits, len);
    wrong_pin(lock, &ev);
}

int lock_keypad_program(lock_t *lock, const char *master, size_t master_len, const char *pin, size_t pin_len)
{
    uint8_t rec[CODE_RECORD_MAX];
    uint16_t slot, free_slot = 0;
    int rc;

    if (lock->master_len == 0) {
        return LOCK_PROGRAM_NOT_SUPPORTED;
    }
    if (lock->cfg.protocol_version >= 2 && keypad_locked_out(lock)) {
        return LOCK_PROGRAM_LOCKED_OUT;
    }
    if (master_len != lock->master_len || !lkp_ct_equal((const uint8_t *)master, (const uint8_t *)lock->master_pin,
                                                        lock->master_len)) {
        lock_keypad_entry(lock, master, master_len); /* a wrong PIN, lockout included */
        return LOCK_PROGRAM_WRONG_MASTER;
    }
    if (lock->wrong_pins || lock->lockouts) {
        lock->wrong_pins = 0;
        lock->lockouts = 0;
        save_state(lock);
    }
    if (!lkp_pin_valid((const uint8_t *)pin, pin_len)) {
        return LOCK_PROGRAM_BAD_PIN;
    }
    if (pin_len == lock->master_len && memcmp(pin, lock->master_pin, pin_len) == 0) {
        return LOCK_PROGRAM_PIN_IN_USE;
    }
    for (slot = lock->cfg.code_capacity; slot >= 1; slot--) {
        if (!slot_used(lock, slot)) {
            if (free_slot == 0) {
                free_slot = slot;
            }
            continue;
        }
        if (read_code(lock, slot, rec, sizeof rec) > 0 && rec[10] == pin_len && memcmp(rec + 11, pin, pin_len) == 0) {
            lkp_wipe(rec, sizeof rec);
            return LOCK_PROGRAM_PIN_IN_USE;
        }
    }
    if (free_slot == 0) {
        return LOCK_PROGRAM_NO_ROOM;
    }
    memset(rec, 0, sizeof rec);
    lkp_put_u16(rec, free_slot);
    rec[10] = (uint8_t)pin_len;
    memcpy(rec + 11, pin, pin_len);
    rc = lock->hal.nvs_write(lock->hal.user, (uint16_t)(LOCK_NVS_ID_SLOT_BASE + free_slot), rec, sizeof rec);
    lkp_wipe(rec, sizeof rec);
    if (rc != 0) {
        return LOCK_PROGRAM_NO_ROOM;
    }
    set_slot_used(lock, free_slot, 1);
    lock->code_count++;
    return free_slot;
}

void lock_keypad_lock_button(lock_t *lock)
{
    (void)move_bolt(lock, LOCK_ACTION_LOCK, LOCK_SOURCE_KEYPAD, LKP_NO_SLOT);
}

void lock_manual_turn(lock_t *lock, lock_bolt_state_t to)
{
    if (to != LOCK_BOLT_LOCKED && to != LOCK_BOLT_UNLOCKED) {
        to = lock->bolt == LOCK_BOLT_LOCKED ? LOCK_BOLT_UNLOCKED : LOCK_BOLT_LOCKED;
    }
    bolt_moved(lock, (uint8_t)to, LOCK_SOURCE_MANUAL, LKP_NO_SLOT);
}

void lock_door_changed(lock_t *lock, lock_door_state_t door)
{
    if (door == lock->door) {
        return;
    }
    lock->door = (uint8_t)door;
    save_state(lock);
    if (door == LOCK_DOOR_CLOSED && lock->bolt == LOCK_BOLT_UNLOCKED) {
        arm_auto_lock(lock);
    }
    emit_simple(lock, LKP_EV_DOOR, (uint8_t)door, 0, 0);
}

void lock_tamper(lock_t *lock, lock_tamper_kind_t kind)
{
    emit_simple(lock, LKP_EV_TAMPER, (uint8_t)kind, 0, 0);
}

void lock_battery_changed(lock_t *lock)
{
    check_battery(lock);
}

void lock_tick(lock_t *lock)
{
    uint32_t now;
    if (!lock->auto_lock_armed || lock->bolt != LOCK_BOLT_UNLOCKED) {
        return;
    }
    now = lock->hal.uptime_ms(lock->hal.user);
    if ((int32_t)(now - lock->auto_lock_due_ms) < 0) {
        return;
    }
    lock->auto_lock_armed = 0;
    if (lock->door != LOCK_DOOR_CLOSED) {
        return; /* closing the door re-arms it */
    }
    (void)move_bolt(lock, LOCK_ACTION_LOCK, LOCK_SOURCE_AUTO_LOCK, LKP_NO_SLOT);
}

void lock_reset_button(lock_t *lock, uint32_t window_ms)
{
    lock->presence = 1;
    lock->presence_until_ms = lock->hal.uptime_ms(lock->hal.user) + (window_ms ? window_ms : LOCK_PRESENCE_WINDOW_MS);
}

void lock_continue_after(lock_t *lock, uint32_t seq)
{
    if (seq <= lock->head_seq) {
        return;
    }
    lock->seq_floor = seq;
    save_state(lock);
    rescan_events(lock);
}

/* ------------------------------------------------------------ introspection */

size_t lock_code_entry(lock_t *lock, uint16_t slot, uint8_t *buf, size_t len)
{
    uint8_t rec[CODE_RECORD_MAX];
    if (slot < 1 || slot > lock->cfg.code_capacity || !slot_used(lock, slot) || len < CODE_RECORD_MAX ||
        read_code(lock, slot, rec, sizeof rec) == 0) {
        return 0;
    }
    return lkp_code_entry_wire(rec, lock->cfg.protocol_version, buf);
}

size_t lock_logged_event(lock_t *lock, uint32_t seq, uint8_t *buf, size_t len)
{
    int n;
    if (seq == 0 || lock->oldest_seq == 0 || seq < lock->oldest_seq || seq > lock->head_seq ||
        len < LOCK_EVENT_RECORD_MAX) {
        return 0;
    }
    n = lock->hal.nvs_read(lock->hal.user, (uint16_t)(LOCK_NVS_ID_EVENT_BASE + (seq - 1u) % lock->cfg.event_log_size),
                           buf, LOCK_EVENT_RECORD_MAX);
    return n >= 9 && lkp_get_u32(buf + 1) == seq ? (size_t)n : 0u;
}

void lock_get_state(const lock_t *lock, lock_state_t *out)
{
    memset(out, 0, sizeof *out);
    out->bolt = lock->bolt;
    out->door = lock->door;
    out->battery_percent = lock->battery_reported;
    out->wrong_pins = lock->wrong_pins;
    out->session_established = (uint8_t)lock_session_established(lock);
    out->request_pending = lock->request_len != 0;
    out->auto_lock_armed = lock->auto_lock_armed;
    out->timezone_len = lock->timezone_len;
    out->utc_offset_minutes = lock->utc_offset_minutes;
    out->code_count = lock->code_count;
    out->head_seq = lock->head_seq;
    out->oldest_seq = lock->oldest_seq;
    out->auto_lock_due_ms = lock->auto_lock_due_ms;
    memcpy(out->timezone, lock->timezone, lock->timezone_len);
    out->counters = lock->counters;
    out->keypad_locked = lock->keypad_locked;
    out->backing_off = lock->backing_off;
    out->protocol_version = lock->cfg.protocol_version;
    out->lockouts = lock->lockouts;
    out->has_key = lock->has_key;
    out->factory_mode = lock->factory_mode;
    out->key_pending = lock->key_pending;
    out->presence = lock->presence;
    out->pending_rotation = lock->pending_rotation;
    out->committed_rotation = lock->committed_rotation;
}

size_t lock_sizeof(void)
{
    return sizeof(lock_t);
}

/* ------------------------------------------------------------------- init */

int lock_init(lock_t *lock, const lock_hal_t *hal, const lock_config_t *config)
{
    uint16_t slot;
    if (!hal || !config || !hal->rtc_get || !hal->rtc_set || !hal->uptime_ms ||
        !hal->random || !hal->motor_drive || !hal->battery_percent || !hal->nvs_read || !hal->nvs_write ||
        !hal->nvs_delete || !hal->radio_notify || config->code_capacity < 1 ||
        (config->protocol_version != 0 && (config->protocol_version < LKP_PROTOCOL_VERSION_MIN ||
                                           config->protocol_version > LKP_PROTOCOL_VERSION)) ||
        config->code_capacity > LOCK_MAX_CODE_SLOTS || config->event_log_size < 1 ||
        config->event_log_size > LOCK_MAX_EVENT_LOG) {
        return -1;
    }
    memset(lock, 0, sizeof *lock);
    lock->hal = *hal;
    lock->cfg = *config;
    load_keys(lock, config->device_key);
    load_offline(lock);
    if (config->master_pin && lkp_pin_valid((const uint8_t *)config->master_pin, strlen(config->master_pin))) {
        lock->master_len = (uint8_t)strlen(config->master_pin);
        memcpy(lock->master_pin, config->master_pin, lock->master_len);
    }
    lock->cfg.master_pin = NULL;
    lock->cfg.device_key = NULL; /* the copy in lock_t is the only one the core keeps */
    if (lock->cfg.protocol_version == 0) {
        lock->cfg.protocol_version = LKP_PROTOCOL_VERSION;
    }
    lock->session.version = lock->cfg.protocol_version;
    lock->chunk_size = LKP_MIN_CHUNK;
    lock->bolt = LOCK_BOLT_LOCKED;
    lock->door = LOCK_DOOR_CLOSED;
    lock->timezone_len = 3;
    memcpy(lock->timezone, "UTC", 3);
    load_state(lock);
    for (slot = 1; slot <= lock->cfg.code_capacity; slot++) {
        uint8_t rec[CODE_RECORD_MAX];
        if (read_code(lock, slot, rec, sizeof rec) > 0) {
            set_slot_used(lock, slot, 1);
            lock->code_count++;
        }
    }
    rescan_events(lock);
    lock->battery_reported = battery(lock);
    if (lock->bolt == LOCK_BOLT_UNLOCKED) {
        arm_auto_lock(lock);
    }
    return 0;
}
