"""Outgoing mail: SMTP when configured, otherwise one .eml file per message under var/mail/.

The file drop is what the sandbox uses (its sandbox-only mail page lists it),
so password resets and sign-up links work on a machine with no mail server.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

from provider.clock import now

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    sender: str
    drop_dir: Path
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    starttls: bool = True

    @classmethod
    def from_config(cls, config: dict[str, object] | object) -> MailSettings:
        get = config.get  # type: ignore[attr-defined]
        return cls(
            sender=str(get("MAIL_FROM") or "no-reply@example.com"),
            drop_dir=Path(str(get("PROVIDER_VAR_DIR") or "var")) / "mail",
            smtp_host=get("SMTP_HOST") or None,  # type: ignore[arg-type]
            smtp_port=int(get("SMTP_PORT") or 587),  # type: ignore[arg-type]
            smtp_username=get("SMTP_USERNAME") or None,  # type: ignore[arg-type]
            smtp_password=get("SMTP_PASSWORD") or None,  # type: ignore[arg-type]
            starttls=bool(get("SMTP_STARTTLS", True)),
        )


def send(settings: MailSettings, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = now().strftime("%a, %d %b %Y %H:%M:%S +0000")
    message.set_content(body)
    if settings.smtp_host:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password or "")
            smtp.send_message(message)
        _LOGGER.info("mail %r sent by SMTP", subject)
        return
    settings.drop_dir.mkdir(parents=True, exist_ok=True)
    stamp = now().strftime("%Y%m%dT%H%M%S%f")
    path = settings.drop_dir / f"{stamp}.eml"
    # Mail carries sign-in links: readable by the service user only.
    path.touch(mode=0o600)
    path.write_bytes(bytes(message))
    _LOGGER.info("mail %r written to %s", subject, path.name)


@dataclass(frozen=True)
class StoredMail:
    name: str
    to: str
    subject: str
    date: str
    body: str


def dropped(settings: MailSettings, limit: int = 50) -> list[StoredMail]:
    """The newest mails of the file drop, newest first."""
    if not settings.drop_dir.is_dir():
        return []
    found = []
    for path in sorted(settings.drop_dir.glob("*.eml"), reverse=True)[:limit]:
        parsed = BytesParser(policy=default_policy).parsebytes(path.read_bytes())
        body = parsed.get_body(preferencelist=("plain",))
        found.append(
            StoredMail(
                name=path.name,
                to=str(parsed["To"]),
                subject=str(parsed["Subject"]),
                date=str(parsed["Date"]),
                body=body.get_content() if body is not None else "",  # type: ignore[union-attr]
            )
        )
    return found
