"""`provider-certify`: plays Seam against a provider and reports which rules it breaks."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import requests

from certify.context import Settings
from certify.registry import Outcome
from certify.report import LineProgress, summary, write_html, write_json, write_junit
from certify.runner import run, select_checks


def _host_port(_: click.Context, __: click.Parameter, value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise click.BadParameter("expected HOST:PORT, e.g. 127.0.0.1:8765 (port 0 picks a free one)")
    return (host or "127.0.0.1", int(port))


@click.command(context_settings={"auto_envvar_prefix": "CERTIFY", "show_default": True})
@click.option("--base-url", help="The provider's base URL, base path included.")
@click.option("--client-id", default="seam", help="OAuth client registered for Seam.")
@click.option("--client-secret", default="seamsecret",
              help="Its secret (or set CERTIFY_CLIENT_SECRET to keep it out of the shell history).")
@click.option("--redirect-uri", default="http://localhost:3020/oauth/callback",
              help="A redirect URI registered for the client; the kit captures the redirect, never follows it.")
@click.option("--username", default="jane@example.com", help="A lock owner's login.")
@click.option("--password", default="1234", help="Their password (or CERTIFY_PASSWORD).")
@click.option("--lock-id", default=None, help="The only lock the kit may touch (default: the first one listed).")
@click.option("--profile", type=click.Choice(["legacy", "current", "all"]), default="all",
              help="Which of Seam's guides to check: the older one, the current one, or both.")
@click.option("--scope", default="locks.read locks.write")
@click.option("--authorize-path", default="/oauth/authorize")
@click.option("--token-path", default="/oauth/token")
@click.option("--webhook-listen", callback=_host_port, default=None,
              help="HOST:PORT where the kit receives webhooks; without it the webhook checks are skipped.")
@click.option("--webhook-url", default=None,
              help="The URL to register when the provider reaches the listener through a tunnel or proxy.")
@click.option("--webhook-secret", default=None, help="Signing secret, if the registration answer has none.")
@click.option("--concurrent-refreshes", type=int, default=5)
@click.option("--action-timeout", type=float, default=30.0, help="Seconds an action may stay pending.")
@click.option("--webhook-timeout", type=float, default=30.0, help="Seconds to wait for expected deliveries.")
@click.option("--retry-timeout", type=float, default=60.0, help="Seconds to wait for the redelivery after a 500.")
@click.option("--http-timeout", type=float, default=30.0)
@click.option("--insecure", is_flag=True, help="Do not verify TLS certificates (staging only).")
@click.option("--select", "select", multiple=True, help="Only these checks (name, glob or area); repeatable.")
@click.option("--exclude", multiple=True, help="Leave out these checks (name, glob or area); repeatable.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="One self-contained HTML page (failures first, masked evidence) to attach to a certification request.")
@click.option("--unmanaged-pin", default=None,
              help="A PIN programmed at the lock itself before the run: checked to be listed as unmanaged and kept "
                   "(or CERTIFY_UNMANAGED_PIN; never printed).")
@click.option("--start-lead", type=float, default=3.0,
              help="Seconds ahead the started-code check starts its code (what the provider accepts).")
@click.option("--list", "list_only", is_flag=True, help="List the checks and exit.")
@click.option("--quiet", is_flag=True, help="No evidence in the summary (it stays in the JSON/JUnit files).")
def main(base_url: str | None, client_id: str, client_secret: str, redirect_uri: str, username: str,
         password: str, lock_id: str | None, profile: str, scope: str, authorize_path: str, token_path: str,
         webhook_listen: tuple[str, int] | None, webhook_url: str | None, webhook_secret: str | None,
         concurrent_refreshes: int, action_timeout: float, webhook_timeout: float, retry_timeout: float,
         http_timeout: float, insecure: bool, select: tuple[str, ...], exclude: tuple[str, ...],
         json_path: Path | None, junit_path: Path | None, html_path: Path | None, unmanaged_pin: str | None,
         start_lead: float, list_only: bool, quiet: bool) -> None:
    """Plays Seam against a lock vendor's cloud over HTTP and checks it against Seam's
    provider contract. Exits 0 only if every required check passed.

    Safe by default: it touches only the given lock (or the first one), ends on the
    lock state it found, deletes the access codes and the webhook it made, and says so.
    """
    checks = select_checks(select, exclude)
    if list_only:
        for c in checks:
            tags = [] if c.required else ["warning-level"]
            tags += [] if len(c.profiles) == 2 else sorted(c.profiles)
            tags += ["needs --webhook-listen"] if c.needs_listener else []
            click.echo(f"{c.name:<40} {c.description}" + (f"  [{', '.join(tags)}]" if tags else ""))
        return
    if not base_url:
        raise click.UsageError("--base-url is required (or CERTIFY_BASE_URL)")
    settings = Settings(
        base_url=base_url, client_id=client_id, client_secret=client_secret, redirect_uri=redirect_uri,
        username=username, password=password, lock_id=lock_id, profile=profile, scope=scope,
        authorize_path=authorize_path, token_path=token_path, webhook_listen=webhook_listen,
        webhook_url=webhook_url, webhook_secret=webhook_secret, concurrent_refreshes=concurrent_refreshes,
        action_timeout=action_timeout, webhook_timeout=webhook_timeout, retry_timeout=retry_timeout,
        http_timeout=http_timeout, verify_tls=not insecure, unmanaged_pin=unmanaged_pin, start_lead=start_lead,
    )
    try:
        requests.get(base_url.rstrip("/") + "/health", timeout=http_timeout, verify=not insecure)
    except requests.RequestException as err:
        click.echo(f"provider-certify: cannot reach {base_url}: {type(err).__name__}: {err}", err=True)
        sys.exit(2)
    click.echo(f"provider-certify: {base_url} as {username} (profile {profile}); "
               f"lock: {lock_id or 'the first one listed'}", err=True)
    progress = LineProgress()
    report = run(settings, checks=checks, progress=progress)
    progress.close()
    click.echo(summary(report, verbose_evidence=not quiet))
    if json_path:
        write_json(report, json_path)
    if junit_path:
        write_junit(report, junit_path)
    if html_path:
        write_html(report, html_path, secrets=(password, client_secret, unmanaged_pin or ""))
    if not report.results or all(r.outcome is Outcome.SKIP for r in report.results):
        sys.exit(2)
    sys.exit(0 if report.passed else 1)


if __name__ == "__main__":
    main()
