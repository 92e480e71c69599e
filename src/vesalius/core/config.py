"""Settings: built once at start-up from the environment and ``vesalius.toml``, then passed down.

Precedence, highest first: explicit arguments (the CLI's ``--home``), ``VESALIUS_*``
environment variables, ``<home>/vesalius.toml``, defaults. Switching from the embedded
defaults (SQLite and files in the home) to PostgreSQL and S3 is configuration only.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vesalius.core.errors import ConfigError

DEFAULT_HOME = "./vesalius-data"
CONFIG_FILE = "vesalius.toml"


class Settings(BaseSettings):
    """Everything an operator can set. Immutable once built."""

    model_config = SettingsConfigDict(env_prefix="VESALIUS_", frozen=True, extra="forbid")

    home: Path = Field(
        default=Path(DEFAULT_HOME),
        description="Folder holding database, objects, spool and secrets.",
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default SQLite in the home."
    )
    storage_url: str | None = Field(
        default=None, description="Where objects live: a path, file:// or s3://bucket/prefix."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 endpoint for non-AWS object stores."
    )
    stable_seconds: int = Field(
        default=60, ge=1, description="Quiet time after which a series is stable."
    )
    host: str = Field(default="127.0.0.1", description="Address `serve` listens on.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port of `serve`.")
    dicom_port: int = Field(
        default=11112, ge=0, le=65535, description="DIMSE port of `serve`; 0 turns DIMSE off."
    )
    import_workers: int = Field(
        default=0, ge=0, description="Parser processes for import; 0 = one per core."
    )
    event_interval: float = Field(
        default=1.0, gt=0, description="Seconds between event dispatch rounds."
    )
    vault_key: SecretStr | None = Field(
        default=None,
        description="Vault master key, base64 of 32 bytes (VESALIUS_VAULT_KEY); default: "
        "<home>/secrets/vault.key, created 0600 on first need.",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins whose browser apps (OHIF hosted elsewhere) may "
        "call /dicom-web and /api; empty: no cross-origin access.",
    )
    site_code: str | None = Field(
        default=None,
        description="This site's code (gateway): put in front of every research subject ID "
        "so that two sites delivering to one central project never assign the same ID.",
    )
    tcia_private_tags_path: Path | None = Field(
        default=None,
        description="TCIA's private tag knowledge base (CSV) for retain-safe-private; "
        "never shipped with vesalius.",
    )
    smtp_url: str | None = Field(
        default=None,
        description="Mail server for visit reminders and deviation notices: "
        "smtp://[user:password@]host:port (smtp+starttls:// or smtps:// for TLS).",
    )
    smtp_from: str = Field(
        default="vesalius@localhost", description="From address of reminders and notices."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Key of the X-Vesalius-Signature HMAC-SHA256 header on webhook posts.",
    )
    webhook_secret_file: Path | None = Field(
        default=None, description="The webhook key read from a file (mode 0600)."
    )
    notify_interval: float = Field(
        default=15,
        ge=0,
        description="Minutes between reminder runs in `serve`'s event loop; 0 turns them off.",
    )

    @cached_property
    def resolved_database_url(self) -> str:
        url = self.database_url or f"sqlite:///{self.home / 'vesalius.db'}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @cached_property
    def resolved_storage_url(self) -> str:
        return self.storage_url or str(self.home / "objects")

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def spool_dir(self) -> Path:
        return self.home / "spool"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def public_view(self) -> dict[str, Any]:
        """Settings as shown to an operator: passwords in URLs are masked."""
        data = self.model_dump(mode="json")
        data["database_url"] = mask_password(self.resolved_database_url)
        data["storage_url"] = self.resolved_storage_url
        if self.smtp_url:
            data["smtp_url"] = mask_password(self.smtp_url)
        return data


def mask_password(url: str) -> str:
    """Hide the password part of a URL such as ``postgresql://user:secret@host/db``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, location = rest.rpartition("@")
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{location}"


def load_settings(home: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings for one home folder (``--home`` > ``VESALIUS_HOME`` > default)."""
    home_path = Path(home or os.environ.get("VESALIUS_HOME") or DEFAULT_HOME).expanduser().resolve()
    toml_file = home_path / CONFIG_FILE

    class _HomeSettings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    try:
        return _HomeSettings(home=home_path, **overrides)
    except ValidationError as exc:
        # name the setting and the rule, never the value (it may be a password)
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid settings (environment or {toml_file}): {problems}") from None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read {toml_file}: {type(exc).__name__}") from None
