"""Email: one message in the recipient's language, and sending a batch over one SMTP connection. Knows no feature."""
import smtplib
from email.message import EmailMessage
from email.utils import formataddr

from flask import current_app, render_template
from flask_babel import force_locale


def message(to, subject, template: str, **ctx) -> EmailMessage:
    with force_locale(to.locale or "zh"):
        msg = EmailMessage()
        msg["From"] = current_app.config["MAIL_FROM"]
        msg["To"] = formataddr((to.display_name, to.email))
        msg["Subject"] = str(subject)
        msg.set_content(render_template(template, user=to, **ctx))
    return msg


def send(messages: list[EmailMessage]) -> list[str]:
    """Send over one SMTP connection; the addresses sent to. Raises OSError / smtplib.SMTPException."""
    sent = []
    if not messages:
        return sent
    cfg = current_app.config
    with smtplib.SMTP(cfg["MAIL_SERVER"], cfg["MAIL_PORT"], timeout=30) as smtp:
        if cfg["MAIL_USE_TLS"]:
            smtp.starttls()
        if cfg["MAIL_USERNAME"]:
            smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        for msg in messages:
            smtp.send_message(msg)
            sent.append(msg["To"])
    return sent
