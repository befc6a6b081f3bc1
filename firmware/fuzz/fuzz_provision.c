/* libFuzzer: the PROVISION decoder (the one plaintext message a lock parses
 * before it has a key). An accepted body obeys section 16's field rules and
 * every pointer stays inside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lkp/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lkp_provision_t p;
    size_t i;
    int rc = lkp_decode_provision(data, size, &p);
    if (rc != LKP_OK) {
        if (rc != LKP_ERR_MALFORMED) {
            abort();
        }
        return 0;
    }
    if (size < 2 || data[0] != 0x20 || data[1] != LKP_PROVISION_VERSION || p.device_key != data + 2 ||
        p.serial.len < 1 || p.serial.len > LKP_SERIAL_MAX || p.offline_secret.len != LKP_PROVISION_SECRET_SIZE ||
        p.serial.p < data || p.offline_secret.p < data ||
        p.offline_secret.p + p.offline_secret.len != data + size ||
        (size_t)(2 + 16 + 1 + p.serial.len + 1 + p.offline_secret.len) != size) {
        abort();
    }
    for (i = 0; i < p.serial.len; i++) {
        if (p.serial.p[i] < 0x20 || p.serial.p[i] > 0x7E) {
            abort();
        }
    }
    return 0;
}
