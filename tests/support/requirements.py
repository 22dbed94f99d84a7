"""Checks for the suite's external dependencies that fail a test in CI and skip it elsewhere."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PG_BINARIES = ("initdb", "pg_ctl", "postgres")
PG_BIN_ENV = "MISSIONCTL_PG_BIN"
PG_INSTALL_HINT = (
    "run `bash scripts/install-test-deps.sh` (it apt-get installs postgresql-15), "
    f"or set {PG_BIN_ENV} to a directory holding {', '.join(PG_BINARIES)}"
)


def in_ci() -> bool:
    """Whether the `CI` environment variable says this is a CI run (`true` or `1`)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def require(condition: bool, what: str, how_to_install: str) -> None:
    """Fail (when `CI` is set) or skip (otherwise) the current test unless `condition` holds."""
    if condition:
        return
    message = f"missing test dependency: {what}; to install it: {how_to_install}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing dependency is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def _has_pg_binaries(directory: Path) -> bool:
    return all((directory / name).is_file() and os.access(directory / name, os.X_OK) for name in PG_BINARIES)


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in bin_dir.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_pg_bin() -> Path | None:
    """The directory holding `initdb`, `pg_ctl` and `postgres`, or None if there is none.

    `$MISSIONCTL_PG_BIN` wins when set (and yields None if it lacks the binaries, with no fallback);
    then `/usr/lib/postgresql/*/bin`, highest version first; then the directories on `$PATH`
    (a symlinked `initdb` there, as in /usr/local/bin, is followed to its real directory).
    """
    explicit = os.environ.get(PG_BIN_ENV, "").strip()
    if explicit:
        directory = Path(explicit).expanduser()
        return directory if _has_pg_binaries(directory) else None
    debian_dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for directory in debian_dirs:
        if _has_pg_binaries(directory):
            return directory
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if entry and _has_pg_binaries(Path(entry)):
            return Path(entry)
    initdb = shutil.which("initdb")
    if initdb is not None:
        directory = Path(initdb).resolve().parent
        if _has_pg_binaries(directory):
            return directory
    return None


def require_pg_bin() -> Path:
    """`find_pg_bin()`, failing or skipping the current test (see `require`) when it finds nothing."""
    pg_bin = find_pg_bin()
    explicit = os.environ.get(PG_BIN_ENV, "").strip()
    where = f" in {PG_BIN_ENV}={explicit}" if explicit else ""
    require(pg_bin is not None, f"PostgreSQL server binaries ({', '.join(PG_BINARIES)}){where}", PG_INSTALL_HINT)
    assert pg_bin is not None
    return pg_bin
