"""Alerts: always journaled, and posted as Slack-compatible JSON to a webhook when one is configured.

A webhook URL is itself a credential (Slack's carries its token), so it comes from the environment
(``TRADING_ALERT_WEBHOOK_URL``, read when an alert is sent) and is never written anywhere: the journal records
only whether the delivery worked. Alert text passes through ``redact`` first: the values of secret-looking
environment variables and the passwords of URLs are masked, whatever an error message happened to quote.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import requests
from dagster import ConfigurableResource
from pydantic import Field

from trading_pipeline.journal import Journal

WEBHOOK_VARIABLE = "TRADING_ALERT_WEBHOOK_URL"
_SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD|PASSWD|WEBHOOK|_URL$|DSN", re.IGNORECASE)
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@/\s]+)@", re.IGNORECASE
)
_MIN_SECRET_LENGTH = 6
MAX_SUMMARY_CHARS = 1_500


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with secret environment values and URL passwords replaced by ``***``."""
    env = os.environ if environ is None else environ
    secrets = sorted(
        (v for k, v in env.items() if _SECRET_NAME.search(k) and len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True
    )
    for secret in secrets:
        text = text.replace(secret, "***")
    return _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


@dataclass(frozen=True)
class Alert:
    kind: str
    title: str
    summary: str
    run_id: str | None = None
    job: str | None = None
    step: str | None = None

    def clean(self) -> Alert:
        """The alert as it may leave the process: redacted and bounded."""
        summary = redact(self.summary)
        if len(summary) > MAX_SUMMARY_CHARS:
            summary = summary[: MAX_SUMMARY_CHARS - 1] + "…"
        return Alert(self.kind, redact(self.title), summary, self.run_id, self.job, self.step)

    def slack_payload(self) -> dict:
        """Slack incoming-webhook JSON (``text`` is what every Slack-compatible receiver shows)."""
        fields = [
            {"title": name, "value": value, "short": name != "error"}
            for name, value in (
                ("run_id", self.run_id),
                ("job", self.job),
                ("step", self.step),
                ("error", self.summary),
            )
            if value
        ]
        return {
            "text": f":rotating_light: {self.title}",
            "attachments": [{"color": "danger", "fields": fields, "fallback": f"{self.title}: {self.summary}"}],
        }


class Alerter(ConfigurableResource):
    """Journals every alert; posts it to the webhook too when one is set (field, else the environment)."""

    webhook_url: str | None = Field(
        default=None,
        description=f"Slack-compatible webhook. None: ${WEBHOOK_VARIABLE} when an alert is sent, else journal only.",
    )
    timeout_s: float = Field(default=5.0, gt=0)

    def send(self, journal: Journal, alert: Alert) -> str:
        """Deliver and journal ``alert``; returns the delivery outcome recorded with it.

        A webhook failure is recorded, not raised: the alert must still reach the journal, and a failing
        alert channel must not fail the sensor that reports failures.
        """
        alert = alert.clean()
        delivery = "journal"
        url = self.webhook_url or os.environ.get(WEBHOOK_VARIABLE)
        if url:
            try:
                response = requests.post(url, json=alert.slack_payload(), timeout=self.timeout_s)
                delivery = "webhook ok" if response.ok else f"webhook failed: HTTP {response.status_code}"
            except requests.RequestException as exc:
                delivery = f"webhook failed: {type(exc).__name__}"  # the message would quote the URL
        journal.record_alert(
            alert.kind, f"{alert.title}: {alert.summary}", delivery, alert.run_id, alert.job, alert.step
        )
        return delivery
