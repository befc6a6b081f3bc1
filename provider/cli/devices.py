from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from provider.extensions import db
from provider.services import claims, factory, labels


@click.group()
def devices() -> None:
    """The factory inventory: manifests, box labels."""


@devices.command("import")
@click.argument("manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]),
              help="Default: from the file name (.csv, .jsonl), else from its first character.")
@with_appcontext
def import_(manifest: Path, fmt: str | None) -> None:
    """Import a factory manifest: all of it, or nothing with every problem's line number.

    Columns (CSV header or JSON keys): serial, ble_address, model,
    hardware_revision, firmware_version, device_key (32 hex),
    offline_code_secret (64 hex).
    """
    started = time.perf_counter()
    text = manifest.read_text(encoding="utf-8-sig")
    try:
        lines = factory.parse_manifest(text, fmt or factory.detect_format(manifest.name, text))
        result = factory.import_manifest(lines)
        db.session.commit()
    except factory.ManifestError as err:
        db.session.rollback()
        for line, message in err.problems:
            click.echo(f"{manifest.name}:{line}: {message}", err=True)
        raise click.ClickException(
            f"manifest refused: {len(err.problems)} problem(s); nothing was imported"
        ) from err
    click.echo(f"imported: {result.count} devices (batch {result.batch_id}) "
               f"in {time.perf_counter() - started:.1f} s")


@devices.command("label")
@click.argument("serials", nargs=-1, required=True)
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The PDF to write (one label per page).")
@click.option("--base-url", help="Claim URL in the QR code (default: PROVIDER_ISSUER).")
@click.option("--show-codes", is_flag=True, help="Also print each serial's claim code (bench use).")
@with_appcontext
def label(serials: tuple[str, ...], output: Path, base_url: str | None, show_codes: bool) -> None:
    """Write box labels with fresh claim codes (a device's earlier label stops working)."""
    base = base_url or current_app.config["PROVIDER_ISSUER"]
    try:
        issued = factory.issue_claim_codes(serials)
    except factory.ClaimCodeError as err:
        db.session.rollback()
        raise click.ClickException(str(err)) from err
    pdf = labels.render_pdf([
        labels.Label(device.serial, device.model, code, factory.claim_url(base, code))
        for device, code in issued
    ])
    output.write_bytes(pdf)
    db.session.commit()  # codes count only once their labels exist
    click.echo(f"labels: {len(issued)} written to {output}")
    if show_codes:
        for device, code in issued:
            click.echo(f"{device.serial} {code}")


@devices.command("factory-reset")
@click.argument("serial")
@with_appcontext
def factory_reset(serial: str) -> None:
    """Bench: the device was reset on the line; it leaves its owner and gets a new claim code.

    Everyone who could use it loses it (device.removed); print a new label
    with `provider devices label` or pass on the code printed here.
    """
    from provider.cli.operators import cli_actor
    from provider.services import audit

    device = factory.find_device(serial)
    if device is None:
        raise click.ClickException(f"no device {serial}")
    lock_id, code = claims.factory_reset(device)
    audit.record(cli_actor(), "device.factory_reset", serial, lock_removed=lock_id)
    db.session.commit()
    click.echo(f"reset: {serial} is unclaimed" + (f" (lock {lock_id} removed)" if lock_id else ""))
    click.echo(f"claim code: {code}")


@devices.command("list")
@click.option("--unclaimed", is_flag=True, help="Only devices nobody owns.")
@with_appcontext
def list_(unclaimed: bool) -> None:
    """Serial, BLE address, model, revision, firmware, claimed or not (never keys)."""
    for device in factory.list_devices(unclaimed=unclaimed):
        state = "claimed" if device.claimed_at else ("labelled" if device.claim_code_hash else "in stock")
        click.echo(f"{device.serial}\t{device.ble_address}\t{device.model}\t{device.hardware_revision}\t"
                   f"{device.firmware_version}\t{state}")
