"""Secret files readable by their owner only: the one check every secret path goes through."""

from __future__ import annotations

from pathlib import Path

import pytest

from vesalius.core.errors import ConfigError
from vesalius.core.secret_files import require_owner_only


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_files_pass(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret.key"
    path.write_text("s3cr3t-content\n")
    path.chmod(mode)
    require_owner_only(path, what="the key")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_group_or_other_access_is_refused_naming_path_and_mode(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "secret.key"
    path.write_text("s3cr3t-content\n")
    path.chmod(mode)
    with pytest.raises(ConfigError) as refused:
        require_owner_only(path, what="the key")
    message = str(refused.value)
    assert str(path) in message and f"{mode:04o}" in message and "chmod 600" in message
    assert "s3cr3t" not in message


def test_missing_files_and_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the key"):
        require_owner_only(tmp_path / "missing.key", what="the key")
    folder = tmp_path / "folder"
    folder.mkdir(mode=0o700)
    with pytest.raises(ConfigError, match="regular file"):
        require_owner_only(folder, what="the key")
