from __future__ import annotations

import pytest

from provider.cli import devices as devices_cli
from provider.extensions import db
from provider.models import FactoryDevice
from provider.services import device_keys, factory, labels
from tests.provider.devices.factory_helpers import csv_text, device_row, import_rows, jsonl_text


def _count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(FactoryDevice))


def test_csv_import_keeps_keys_encrypted_and_readable(app):
    rows = [device_row(n) for n in range(3)]
    result = import_rows(rows)
    assert result.count == 3
    device = factory.find_device("HALO-000001")
    assert (device.ble_address, device.model, device.hardware_revision, device.firmware_version) == (
        rows[1]["ble_address"], "HALO-01", "C", "1.4.2")
    assert rows[1]["device_key"] not in device.device_key_enc
    assert rows[1]["offline_code_secret"] not in device.offline_secret_enc
    assert factory.device_key(device) == rows[1]["device_key"]
    assert factory.offline_secret(device) == rows[1]["offline_code_secret"]
    assert device.claim_code_hash is None and device.claimed_at is None


def test_json_lines_manifest_imports_the_same_fields(app):
    rows = [device_row(n) for n in range(2)]
    lines = factory.parse_manifest(jsonl_text(rows), factory.detect_format("batch.jsonl", ""))
    factory.import_manifest(lines)
    db.session.commit()
    assert factory.device_key(factory.find_device("HALO-000000")) == rows[0]["device_key"]


def test_repeated_serial_and_address_are_refused_with_their_lines_and_nothing_is_written(app):
    rows = [device_row(n) for n in range(4)]
    rows[2]["serial"] = rows[0]["serial"]
    rows[3]["ble_address"] = rows[1]["ble_address"].lower()
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest(csv_text(rows), "csv")
    assert err.value.problems == [
        (4, "serial HALO-000000 repeats line 2"),
        (5, f"BLE address {rows[1]['ble_address']} repeats line 3"),
    ]
    assert _count() == 0


def test_a_weak_key_is_refused_without_echoing_it(app):
    rows = [device_row(0), device_row(1, device_key="00" * 16), device_row(2, device_key="0123" * 8)]
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest(csv_text(rows), "csv")
    assert [line for line, _ in err.value.problems] == [3, 4]
    assert "all its bytes are the same" in err.value.problems[0][1]
    assert "0123" not in str(err.value)


def test_a_key_reused_inside_the_file_is_refused_without_naming_it(app):
    rows = [device_row(0), device_row(1)]
    rows[1]["device_key"] = rows[0]["device_key"]
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest(csv_text(rows), "csv")
    assert err.value.problems == [(3, "device key repeats line 2")]


def test_a_batch_repeating_an_earlier_batch_is_refused_whole(app, site):
    first = [device_row(n) for n in range(2)]
    import_rows(first)
    second = [device_row(10), device_row(11, serial=first[0]["serial"]),
              device_row(12, device_key=first[1]["device_key"]),
              device_row(13, ble_address=site.locks[0].ble_address)]
    with pytest.raises(factory.ManifestError) as err:
        factory.import_manifest(factory.parse_manifest(csv_text(second), "csv"))
    db.session.rollback()
    assert err.value.problems == [
        (3, "serial HALO-000000 is already registered"),
        (4, "device key is already used by another device"),
        (5, f"BLE address {site.locks[0].ble_address} is already registered"),
    ]
    assert _count() == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial": "has space"}, "serial must be"),
        ({"ble_address": "00:00:00:00:00:00"}, "ble_address must"),
        ({"model": ""}, "model must be"),
        ({"firmware_version": "x" * 33}, "firmware_version must be"),
        ({"device_key": "abc"}, "device_key must be 32 hex"),
        ({"offline_code_secret": "ab" * 8 + "c"}, "offline_code_secret must be"),
    ],
)
def test_a_malformed_field_names_the_field_and_the_line(app, change, message):
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest(csv_text([device_row(0), device_row(1, **change)]), "csv")
    assert len(err.value.problems) == 1
    line, text = err.value.problems[0]
    assert line == 3 and message in text


def test_a_csv_without_the_manifest_columns_is_refused_at_its_header(app):
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest("serial,ble_address,colour\nA,B,C\n", "csv")
    assert err.value.problems[0][0] == 1 and "missing columns model" in err.value.problems[0][1]


def test_a_json_line_that_is_not_an_object_is_refused_with_its_line(app):
    text = jsonl_text([device_row(0)]) + "\n[1, 2]\n"
    with pytest.raises(factory.ManifestError) as err:
        factory.parse_manifest(text, "jsonl")
    assert err.value.problems == [(3, "not a JSON object")]


@pytest.mark.parametrize(
    "raw",
    [bytes(16), b"\xab" * 16, bytes.fromhex("0102" * 8), bytes(range(16)), bytes(range(32, 0, -2)),
     bytes.fromhex("00010203000102030001020300010204")],
)
def test_patterned_keys_are_weak(raw):
    assert device_keys.weakness(raw) is not None


def test_random_keys_are_not_weak():
    import secrets

    assert all(device_keys.weakness(secrets.token_bytes(16)) is None for _ in range(200))


def test_cli_import_reports_every_problem_and_imports_nothing(app, tmp_path):
    rows = [device_row(n) for n in range(3)]
    rows[2]["serial"] = rows[1]["serial"]
    path = tmp_path / "batch.csv"
    path.write_text(csv_text(rows))
    result = app.test_cli_runner().invoke(devices_cli.devices, args=["import", str(path)])
    assert result.exit_code != 0
    assert "batch.csv:4: serial HALO-000001 repeats line 3" in result.output
    assert "nothing was imported" in result.output
    assert _count() == 0
    rows[2]["serial"] = "HALO-999999"
    path.write_text(csv_text(rows))
    result = app.test_cli_runner().invoke(devices_cli.devices, args=["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported: 3 devices" in result.output and _count() == 3


def test_labels_carry_fresh_claim_codes_stored_only_as_digests(app, tmp_path):
    import_rows([device_row(n) for n in range(2)])
    out = tmp_path / "labels.pdf"
    result = app.test_cli_runner().invoke(devices_cli.devices, args=[
        "label", "HALO-000000", "HALO-000001", "-o", str(out), "--base-url", "https://locks.example",
        "--show-codes"])
    assert result.exit_code == 0, result.output
    codes = dict(line.split() for line in result.output.splitlines()[1:])
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 2
    device = factory.find_device("HALO-000000")
    code = codes["HALO-000000"]
    assert device.claim_code_hash == factory.claim_code_hash(factory.normalize_claim_code(code))
    assert code.replace("-", "") not in device.claim_code_hash

    # A second label replaces the first: the old code no longer matches.
    again = factory.issue_claim_codes(["HALO-000000"])
    db.session.commit()
    assert factory.find_device("HALO-000000").claim_code_hash != factory.claim_code_hash(
        factory.normalize_claim_code(code))
    assert again[0][1] != code


def test_labels_for_an_unknown_serial_write_nothing(app, tmp_path):
    import_rows([device_row(0)])
    out = tmp_path / "labels.pdf"
    result = app.test_cli_runner().invoke(devices_cli.devices, args=[
        "label", "HALO-000000", "NOPE-1", "-o", str(out)])
    assert result.exit_code != 0 and "unknown serial numbers: NOPE-1" in result.output
    assert not out.exists() and factory.find_device("HALO-000000").claim_code_hash is None


def test_a_label_shows_serial_model_and_code_in_text():
    pdf = labels.render_pdf([labels.Label("HALO-000042", "HALO-01", "ABCD-EFGH-JKMN-PQRS",
                                          "https://x/account/claim?code=ABCD-EFGH-JKMN-PQRS")],
                            compress=False)
    assert b"HALO-000042" in pdf and b"HALO-01" in pdf and b"ABCD-EFGH-JKMN-PQRS" in pdf


@pytest.mark.parametrize(
    "typed",
    ["abcd-efgh-jkmn-pqrs", "ABCDEFGHJKMNPQRS", " abcd efgh jkmn pqrs ",
     "https://locks.example/account/claim?code=ABCD-EFGH-JKMN-PQRS"],
)
def test_claim_codes_survive_typing_and_scanning(typed):
    assert factory.normalize_claim_code(typed) == "ABCDEFGHJKMNPQRS"


def test_claim_codes_read_o_as_zero_and_i_l_as_one():
    assert factory.normalize_claim_code("OOOO-IIII-LLLL-2345") == "0000111111112345"
    assert factory.normalize_claim_code("ABCD-EFGH-JKMN-PQRU") is None
