"""Pure parsers that turn inbound Alertmanager, Grafana and PagerDuty payloads into `SignalEvent`s."""

from __future__ import annotations

from missionctl.signals.events import PayloadError, SignalAction, SignalEvent, SignalSource

__all__ = ["PayloadError", "SignalAction", "SignalEvent", "SignalSource"]
