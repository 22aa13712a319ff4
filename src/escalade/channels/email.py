"""The email channel: SMTP with STARTTLS and AUTH, one message per notification.

The Message-ID is derived from the delivery id, so a retried delivery is the same
email to the receiving side. SMTP 4xx replies, timeouts and dropped connections
are worth trying again; 5xx replies, failed AUTH and certificate errors are not.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from html import escape

from escalade.channels.base import Failed, Message, Result, Retry, Sent
from escalade.channels.http import DEFAULT_TIMEOUT
from escalade.domain.policy import EmailChannel


def compose(channel: EmailChannel, message: Message, recipient: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = channel.from_
    email["To"] = formataddr((message.person_name or "", recipient))
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    digest = hashlib.sha256(message.delivery_id.encode()).hexdigest()[:32]
    domain = channel.from_.rpartition("@")[2] or "escalade.invalid"
    email["Message-ID"] = f"<{digest}@{domain}>"
    email["X-Escalade-Delivery"] = message.delivery_id
    email["X-Escalade-Incident"] = message.incident_id
    text = message.text
    if message.ack_url:
        text += f"\n\nAcknowledge this incident: {message.ack_url}"
    email.set_content(text)
    html = f"<p>{escape(message.text).replace(chr(10), '<br>')}</p>"
    if message.ack_url:
        html += f'<p><a href="{escape(message.ack_url)}">Acknowledge this incident</a></p>'
    email.add_alternative(html, subtype="html")
    return email


class EmailSender:
    def __init__(self, channel: EmailChannel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._channel = channel
        self._timeout = timeout

    def send(self, message: Message) -> Result:
        recipient = message.address if message.person else self._channel.to
        if not recipient:
            who = message.person or message.target
            return Failed(f"no email address for {who}")
        smtp = self._channel.smtp
        try:
            with smtplib.SMTP(smtp.host, smtp.port, timeout=self._timeout) as client:
                client.ehlo()
                if smtp.starttls:
                    client.starttls(context=ssl.create_default_context(cafile=smtp.ca_file))
                    client.ehlo()
                if smtp.username:
                    _login(client, smtp.username, smtp.password or "")
                refused = client.send_message(compose(self._channel, message, recipient))
        except smtplib.SMTPAuthenticationError as exc:
            return Failed(f"SMTP AUTH refused ({exc.smtp_code})")
        except smtplib.SMTPNotSupportedError as exc:
            return Failed(f"SMTP server does not support it: {exc}")
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return _by_code(min(codes) if codes else 550, "recipient refused")
        except smtplib.SMTPResponseException as exc:
            return _by_code(exc.smtp_code, "SMTP error")
        except ssl.SSLError as exc:  # includes certificate failures: fix the set-up
            return Failed(f"TLS: {exc.reason or exc}")
        except (smtplib.SMTPException, OSError) as exc:  # timeouts, refused, dropped
            return Retry(f"{type(exc).__name__}: {exc}")
        if refused:
            return Failed(f"recipient refused: {sorted(refused)}")
        return Sent(f"SMTP accepted for {recipient}")

    def close(self) -> None:
        return None


def _login(client: smtplib.SMTP, username: str, password: str) -> None:
    """AUTH with the strongest mechanism offered, once: unlike `SMTP.login`, a refused
    password is not tried again under weaker mechanisms."""
    if not client.has_extn("auth"):
        raise smtplib.SMTPNotSupportedError("the server offers no AUTH")
    offered = client.esmtp_features["auth"].upper().split()
    client.user, client.password = username, password
    for name, method in (
        ("CRAM-MD5", client.auth_cram_md5),
        ("PLAIN", client.auth_plain),
        ("LOGIN", client.auth_login),
    ):
        if name in offered:
            _code, _reply = client.auth(name, method)  # raises on a refusal
            return
    raise smtplib.SMTPNotSupportedError(f"no AUTH mechanism in common (offered: {offered})")


def _by_code(code: int, what: str) -> Result:
    if 400 <= code < 500:
        return Retry(f"{what} ({code})")
    return Failed(f"{what} ({code})")
