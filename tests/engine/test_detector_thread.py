"""The engine runs the detectors file's detectors in a background thread; an invalid file stops the start."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from missionctl.context import build_context
from missionctl.engine.runtime import start_engine
from missionctl.errors import InvalidInput
from missionctl.settings import Settings
from tests.engine.conftest import SECRET
from tests.support.detector_targets import StatusServer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_the_engine_starts_and_stops_the_detector_thread(settings: Settings, tmp_path: Path) -> None:
    with StatusServer(200) as target:
        detectors = tmp_path / "detectors.yaml"
        detectors.write_text(
            "detectors:\n"
            "  - {name: checkout, service: checkout, runbook: RB-001, use: [readiness],"
            f" vars: {{readiness_url: '{target.url}/readyz'}}}}\n"
        )
        update = {"webhook_secret": SecretStr(SECRET), "detectors_file": detectors, "engine_poll_seconds": 0.05}
        ctx = build_context(settings.model_copy(update=update))
        running = start_engine(ctx, worker_id="detectors")
        try:
            assert running.detectors is not None
            wait_until("the first probe", lambda: target.requests, timeout=10, poll=0.02)
            assert target.requests[:1] == ["/readyz"]
        finally:
            running.stop()
            ctx.dispose()


def test_an_invalid_detectors_file_stops_the_start(settings: Settings, tmp_path: Path) -> None:
    detectors = tmp_path / "detectors.yaml"
    detectors.write_text("detectors:\n  - {name: x, service: checkout, runbook: RB-001, vars: {}}\n")
    ctx = build_context(settings.model_copy(update={"detectors_file": detectors}))
    try:
        with pytest.raises(InvalidInput, match="needs variable 'readiness_url'"):
            start_engine(ctx)
    finally:
        ctx.dispose()
