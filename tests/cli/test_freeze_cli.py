"""`missionctl freeze`: a pipeline asks before it deploys (exit 0 allowed, 1 frozen); freeze and lift by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from missionctl.auth.roles import Role
from missionctl.catalog import loader as catalog_loader
from missionctl.catalog import service as catalog
from missionctl.context import AppContext
from tests.cli.conftest import LiveServer, RunCli, run_missionctl, unused_port

EXAMPLES = Path(__file__).parents[2] / "examples" / "catalog"
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture(autouse=True)
def with_catalog(ctx: AppContext) -> None:
    with ctx.write() as session:
        catalog.load_catalog(session, documents=catalog_loader.read_paths([EXAMPLES]), now=ctx.clock.now())


def test_check_exits_0_when_allowed_and_1_when_frozen(cli: RunCli, tokens: dict[Role, str]) -> None:
    viewer = tokens[Role.VIEWER]
    allowed = cli("freeze", "check", "--service", "checkout", token=viewer)
    assert allowed.exit_code == 0, allowed.output
    assert "may be deployed" in allowed.output

    created = cli("freeze", "set", "--service", "checkout", "--minutes", "30", "--reason", "Black Friday")
    assert created.exit_code == 0, created.output
    assert "freeze 1" in created.output

    refused = cli("freeze", "check", "--service", "checkout", token=viewer)
    assert refused.exit_code == 1
    assert "checkout is frozen" in refused.output and "Black Friday" in refused.output
    listed = cli("freeze", "list")
    assert "checkout: freeze 1" in listed.output

    lifted = cli("freeze", "lift", "1")
    assert lifted.exit_code == 0, lifted.output
    assert cli("freeze", "check", "--service", "checkout", token=viewer).exit_code == 0


def test_errors_have_their_own_exit_codes(cli: RunCli, live_server: LiveServer, tokens: dict[Role, str]) -> None:
    assert cli("freeze", "check", "--service", "nope").exit_code == 2
    assert cli("freeze", "set", "--service", "checkout", "--reason", "x", token=tokens[Role.VIEWER]).exit_code == 3
    assert cli("freeze", "check", "--service", "checkout", token="mc_wrong").exit_code == 3
    nowhere = f"http://127.0.0.1:{unused_port()}"
    result = run_missionctl(["freeze", "check", "--service", "checkout"], url=nowhere, token="mc_x")
    assert result.exit_code == 4
