from pathlib import Path

import pytest

from vesalius.core.config import load_settings, mask_password
from vesalius.core.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("VESALIUS_"):
            monkeypatch.delenv(key)


def test_embedded_defaults_live_in_the_home(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "h")
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'h' / 'vesalius.db'}"
    assert settings.resolved_storage_url == str(tmp_path / "h" / "objects")
    assert settings.host == "127.0.0.1"


def test_default_home_is_vesalius_data_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings().home == tmp_path / "vesalius-data"


def test_toml_then_environment_then_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "vesalius.toml").write_text("stable_seconds = 5\nhttp_port = 9000\n")
    assert load_settings(home).stable_seconds == 5
    monkeypatch.setenv("VESALIUS_STABLE_SECONDS", "7")
    settings = load_settings(home)
    assert settings.stable_seconds == 7 and settings.http_port == 9000
    monkeypatch.setenv("VESALIUS_HOME", str(tmp_path / "other"))
    assert load_settings(home).home == home
    assert load_settings().home == tmp_path / "other"


def test_postgresql_urls_use_psycopg3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESALIUS_DATABASE_URL", "postgresql://u:pw@db/v")
    assert load_settings(tmp_path).resolved_database_url == "postgresql+psycopg://u:pw@db/v"


def test_bad_settings_name_the_setting_not_the_value(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "vesalius.toml").write_text('stable_seconds = "s3cr3t-value"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(home)
    assert "stable_seconds" in str(caught.value)
    assert "s3cr3t-value" not in str(caught.value)


def test_public_view_masks_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESALIUS_DATABASE_URL", "postgresql://vesalius:hunter2@db:5432/v")
    view = load_settings(tmp_path).public_view()
    assert "hunter2" not in str(view)
    assert view["database_url"] == "postgresql+psycopg://vesalius:***@db:5432/v"
    assert mask_password("sqlite:////x/y.db") == "sqlite:////x/y.db"
