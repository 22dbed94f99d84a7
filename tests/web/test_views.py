"""Presentation helpers (pure): durations and clocks read the same at 3 a.m. in Python and in the page script."""

from __future__ import annotations

import pytest

from missionctl.web import views


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (60, "1m 00s"), (245, "4m 05s"), (3720, "1h 02m"), (273600, "3d 04h"), (-70, "1m 10s")],
)
def test_duration(seconds: int, text: str) -> None:
    assert views.duration(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "state", "text"),
    [(245, "running", "4m 05s left"), (-70, "breached", "1m 10s over"), (30, "met", "met"), (-5, "missed", "missed")],
)
def test_clock_text(seconds: int, state: str, text: str) -> None:
    assert views.clock_text(seconds, state) == text


def test_clock_tone_warns_in_the_last_fifth_and_alarms_past_the_deadline() -> None:
    assert views.clock_tone(300, "running", 300) == "ok"
    assert views.clock_tone(60, "running", 300) == "warn"
    assert views.clock_tone(-1, "breached", 300) == "bad"
    assert views.clock_tone(10, "met", 300) == "ok"
    assert views.clock_tone(-10, "missed", 300) == "bad"


def test_public_words_say_nothing_internal() -> None:
    assert views.public_impact("SEV1") == "Major outage"
    assert views.public_status("mitigated").startswith("A fix is in place")
