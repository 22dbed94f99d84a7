"""`missionctl serve --workers 2`: one port, two processes; every alert stored once, every page sent at once.

The engine runs in worker 0 and polls only every 30 seconds here, so a page for an alert that worker 1
took arrives within the test's wait only if worker 1 rang worker 0's doorbell. Which worker owns a
connection is read from /proc (the server side of each TCP connection is a socket inode that one
worker's file descriptors point at), so the test knows it sent alerts through both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from missionctl.auth.roles import Role
from tests.support.missionctl_server import MissionControlServer
from tests.support.receivers import WebhookReceiver
from tests.support.waiting import wait_until

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SERVICES = ["alpha", "bravo", "charlie", "delta"]


def catalog(hooks: str) -> str:
    """Each service pages its own person, whose webhook path is the service's name."""
    people = [
        f'{{id: {s}-oncall, name: {s}, contact_methods: [{{id: hook, kind: webhook, address: "{hooks}/{s}"}}]}}'
        for s in SERVICES
    ]
    policies = [
        f"{{id: {s}-first, name: {s}, levels: [{{escalate_after_minutes: 30, targets: [{{person: {s}-oncall}}]}}]}}"
        for s in SERVICES
    ]
    services = [f"{{id: {s}, name: {s}, tier: 2, team: crew, escalation_policy: {s}-first}}" for s in SERVICES]
    members = ", ".join(f"{s}-oncall" for s in SERVICES)
    lines = ["people:", *(f"  - {p}" for p in people), "teams:", f"  - {{id: crew, name: Crew, members: [{members}]}}"]
    lines += ["escalation_policies:", *(f"  - {p}" for p in policies), "services:", *(f"  - {s}" for s in services)]
    return "\n".join(lines)


MAX_CONNECTIONS = 64  # opened until both workers own one (each accept is a race between the two)


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as receiver:
        yield receiver


@pytest.fixture
def mc(database_url: str, hooks: WebhookReceiver, tmp_path: Path) -> Iterator[MissionControlServer]:
    env = {
        "MISSIONCTL_WEBHOOK_SECRET": SECRET,
        "MISSIONCTL_ENGINE_POLL_SECONDS": "30",  # only a doorbell delivers a page within the waits below
        "MISSIONCTL_PUBLIC_URL": "http://127.0.0.1:1",
    }
    with MissionControlServer(
        database_url, catalog=catalog(hooks.base_url), env=env, directory=tmp_path / "mc", extra_args=("--workers", "2")
    ) as server:
        yield server


# ------------------------------------------------------------------------------------------- /proc helpers


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state, ppid, ...
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def workers(mc: MissionControlServer) -> list[int]:
    assert mc._proc is not None
    return children(mc._proc.pid)


def worker_index(pid: int) -> int:
    """From the worker's command line: `--worker-spec INDEX:LISTEN_FD:DOORBELL_FD`."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return int(argv[argv.index("--worker-spec") + 1].split(":")[0])


def socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def server_side_inode(server_port: int, client_port: int) -> int | None:
    """The inode of the accepted socket (local port = the server's, remote port = the client's)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], int(fields[9])
            if int(local.rsplit(":", 1)[1], 16) == server_port and int(remote.rsplit(":", 1)[1], 16) == client_port:
                return inode
    return None


def connection_owned_by_each_worker(mc: MissionControlServer, pids: list[int]) -> dict[int, httpx.Client]:
    """One open keep-alive client per worker, found by opening connections until each worker has accepted one."""
    owned: dict[int, httpx.Client] = {}
    for _ in range(MAX_CONNECTIONS):
        client = mc.client()
        assert client.get("/healthz").status_code == 200  # opens the connection; keep-alive keeps it
        client_port = _client_port(client)
        inode = server_side_inode(mc.port, client_port)
        owner = next((pid for pid in pids if inode is not None and inode in socket_inodes(pid)), None)
        if owner is not None and owner not in owned:
            owned[owner] = client
        if len(owned) == len(pids):
            return owned
    raise AssertionError(f"{MAX_CONNECTIONS} connections did not reach every worker: {sorted(owned)} of {pids}")


def _client_port(client: httpx.Client) -> int:
    """The local port of the client's one pooled connection."""
    pool = client._transport._pool  # type: ignore[attr-defined]
    connection = pool.connections[0]
    stream = connection._connection._network_stream
    port: int = stream.get_extra_info("client_addr")[1]
    return port


# ----------------------------------------------------------------------------------------------------- tests


def alert(service: str) -> dict[str, object]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "missionctl",
        "groupKey": f'{{}}:{{service="{service}"}}',
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "OrdersP95LatencyHigh", "service": service, "severity": "critical"},
                "annotations": {"summary": f"{service} p95 latency above SLO"},
                "startsAt": "2026-11-27T09:00:00Z",
                "fingerprint": f"{service}-p95",
            }
        ],
    }


def accepted_count(mc: MissionControlServer) -> float:
    """`missionctl_inbound_events_total` for accepted Alertmanager alerts, from a fresh connection."""
    with httpx.Client(base_url=mc.url, timeout=15) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {mc.tokens[Role.VIEWER]}"}).text
    for line in text.splitlines():
        if line.startswith("missionctl_inbound_events_total{") and all(
            label in line for label in ('outcome="accepted"', 'source="alertmanager"')
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_alerts_through_either_worker_open_their_incident_once_and_page_at_once(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    pids = wait_until("two workers", lambda: (found := workers(mc)) and len(found) == 2 and found, timeout=30)
    owned = connection_owned_by_each_worker(mc, pids)
    # Worker 1 first: had worker 0 (the engine's) committed a job just before, its wake-up would find both.
    for pid, service in zip(sorted(owned, key=worker_index, reverse=True), SERVICES, strict=False):
        key = mc.create_integration("alertmanager", service)
        for _ in range(2):  # the same alert twice: stored once
            answer = owned[pid].post(
                "/api/v1/integrations/alertmanager", json=alert(service), headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 202, f"worker {worker_index(pid)}: {answer.status_code} {answer.text}"
        wait_until(
            f"the page for {service} (taken by worker {worker_index(pid)}) within seconds",
            lambda service=service: [r for r in hooks.requests if r.path == f"/{service}"],
            timeout=10,
            diagnostics=mc.logs,
        )
    incidents = mc.admin.get("/api/v1/incidents").json()
    assert sorted(i["service"] for i in incidents) == ["alpha", "bravo"]  # one incident each, not one per worker
    assert wait_until("every accepted alert counted", lambda: accepted_count(mc) == 4, timeout=10)
    assert {accepted_count(mc) for _ in range(6)} == {4.0}  # the same total whichever worker answers
    assert sorted(r.path for r in hooks.requests) == ["/alpha", "/bravo"]  # and nothing paged twice


def test_a_worker_that_dies_is_replaced_and_the_server_stops_whole(
    mc: MissionControlServer, hooks: WebhookReceiver
) -> None:
    pids = wait_until("two workers", lambda: (found := workers(mc)) and len(found) == 2 and found, timeout=30)
    os.kill(pids[1], signal.SIGKILL)
    replaced = wait_until(
        "a replacement worker",
        lambda: (found := workers(mc)) and len(found) == 2 and pids[1] not in found and found,
        timeout=30,
        diagnostics=mc.logs,
    )
    key = mc.create_integration("alertmanager", "charlie")
    with httpx.Client(base_url=mc.url, timeout=15) as client:  # new connections: any worker may take them
        for _ in range(4):
            answer = client.post(
                "/api/v1/integrations/alertmanager", json=alert("charlie"), headers={"Authorization": f"Bearer {key}"}
            )
            assert answer.status_code == 202, answer.text
    wait_until("the page", lambda: [r for r in hooks.requests if r.path == "/charlie"], timeout=10, diagnostics=mc.logs)
    assert "starting a new one" in mc.logs()
    mc.close()
    assert not [pid for pid in replaced if Path(f"/proc/{pid}").exists() and _alive(pid)]


def test_a_second_server_on_the_same_port_is_refused(mc: MissionControlServer) -> None:
    """Each worker listens on a socket of its own (`SO_REUSEPORT`); that must not let another server share the port."""
    wait_until("two workers", lambda: len(workers(mc)) == 2, timeout=30)
    serve = [sys.executable, "-m", "missionctl", "serve", "--host", "127.0.0.1", "--port", str(mc.port)]
    for extra, says in ((["--workers", "2"], "another `missionctl serve --workers`"), ([], "address already in use")):
        second = subprocess.run(
            [*serve, *extra], env=os.environ | mc.env, cwd=mc.directory, capture_output=True, text=True, timeout=120
        )
        assert second.returncode != 0, second.stdout + second.stderr
        assert says in (second.stdout + second.stderr).lower(), second.stdout + second.stderr
    assert mc.admin.get("/healthz").status_code == 200  # the first server is unharmed


def test_workers_stop_when_their_supervisor_is_killed(mc: MissionControlServer) -> None:
    """Nobody is left to replace or stop them, and they hold the port: they ask the kernel to end them too."""
    pids = wait_until("two workers", lambda: (found := workers(mc)) and len(found) == 2 and found, timeout=30)
    assert mc._proc is not None
    mc._proc.kill()
    mc._proc.wait()
    wait_until("both workers gone", lambda: not [pid for pid in pids if _alive(pid)], timeout=30, diagnostics=mc.logs)
    with pytest.raises(httpx.ConnectError):  # and the port is free: nothing listens on it
        httpx.get(f"{mc.url}/healthz", timeout=5)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
