"""Configuration: one place, read from ``ECRF_*`` environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
BUNDLED_STUDY = PROJECT_ROOT / "forms" / "cd7-cart-saa"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Settings:
    """Every setting the engine reads, with its default.

    Each field ``name`` is read from the environment variable ``ECRF_<NAME>``.
    """

    mongodb_uri: str = ""
    mongodb_db: str = "ecrf"
    instance_path: str = ""
    secret_key: str = ""
    admin_password: str = ""
    study_path: str = str(BUNDLED_STUDY)
    max_content_length: int = 1_000_000
    attachment_max_bytes: int = 20_000_000  # a source document (PDF, image); its upload may be this much larger
    session_timeout_minutes: int = 30
    lockout_attempts: int = 5
    lockout_minutes: int = 15
    password_min_length: int = 12
    password_history: int = 5
    secure_cookies: bool = False
    server_selection_timeout_ms: int = 5000
    audit_key: str = ""
    audit_key_file: str = ""
    audit_checkpoints: str = ""
    audit_checkpoint_events: int = 100
    audit_checkpoint_minutes: int = 1
    testing: bool = False
    # A browser session ends this long after sign-in, however active (the idle timeout ends it sooner).
    session_max_hours: int = 12
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host/-Port/-Prefix
    # (Werkzeug's ProxyFix); 0 trusts none of these headers.
    proxy_fix: int = 0
    # Durability: nothing is acknowledged before a majority has it in its journal.
    write_concern: str = "majority"
    write_journal: bool = True
    # Serving (``ecrf serve``): 0 sizes workers and threads to the machine.
    workers: int = 0
    threads: int = 0
    graceful_timeout_s: int = 3
    # Notifications: e-mail through this SMTP server (none: inbox only); links in e-mails start with public_url.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "ecrf@localhost"
    smtp_starttls: bool = False
    smtp_timeout_s: int = 10
    public_url: str = "http://localhost:5000"
    # How often the serving process's notifier reads the audit trail (0: never; run ``ecrf notify run``).
    notify_interval_s: int = 60
    # The UTC hour from which the serving process sends the day's digest (``ecrf notify digest`` sends it now).
    digest_hour_utc: int = 7
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict | None = None) -> Settings:
        """Build settings from ``ECRF_*`` variables; unknown ones are ignored."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = environ.get(f"ECRF_{f.name.upper()}")
            if raw is None:
                continue
            if f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("bool", bool):
                values[f.name] = _bool(raw)
            else:
                values[f.name] = raw
        return cls(**values)

    def resolved_instance_path(self) -> Path:
        """The instance folder (embedded database, secret key), created if missing."""
        path = Path(self.instance_path) if self.instance_path else PROJECT_ROOT / "instance"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def resolved_secret_key(self) -> str:
        """The configured secret key, or one kept in the instance folder across restarts."""
        if self.secret_key:
            return self.secret_key
        key_file = self.resolved_instance_path() / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        return key_file.read_text().strip()
