"""What the embedded database promises: a commit that returned is on disk."""

from __future__ import annotations

import pytest

from missionctl.context import AppContext


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sqlite_commits_are_synced_to_disk_before_they_return(ctx: AppContext) -> None:
    # An alert answered 202 must survive a power cut, not only the process dying: WAL with synchronous=FULL
    # (2) syncs the log on every commit; NORMAL (1) would leave the last commits in the page cache.
    with ctx.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2
