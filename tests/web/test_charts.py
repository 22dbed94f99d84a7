"""The report charts (pure): well-formed SVG, points where the values say, gaps, empty data, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from missionctl.web import charts, views

SVG = "{http://www.w3.org/2000/svg}"
LABELS = ["Mar 02", "Mar 09", "Mar 16", "Mar 23"]


def _chart(series: list[charts.Series], labels: list[str] = LABELS, **kwargs: object) -> ET.Element:
    markup = charts.line_chart(
        ident="chart-mtta",
        title="MTTA per week",
        desc="Mean time from declared to acknowledged.",
        labels=labels,
        series=series,
        fmt=views.short_duration,
        **kwargs,  # type: ignore[arg-type]
    )
    return ET.fromstring(markup)


def _points(root: ET.Element, name: str) -> list[tuple[float, float, float]]:
    group = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("data-series") == name)
    circles = group.iter(f"{SVG}circle")
    return [(float(c.attrib["cx"]), float(c.attrib["cy"]), float(c.attrib["data-value"])) for c in circles]


def test_the_chart_is_a_labelled_image_with_a_description() -> None:
    root = _chart([charts.Series("All incidents", (60.0, 120.0, None, 240.0))])
    assert root.tag == f"{SVG}svg" and root.attrib["role"] == "img"
    assert root.attrib["aria-labelledby"] == "chart-mtta-title chart-mtta-desc"
    assert root.find(f"{SVG}title").text == "MTTA per week"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert desc.startswith("Mean time from declared to acknowledged. Weekly from Mar 02 to Mar 23.")
    assert "All incidents: 1m in the week of Mar 02, 4m in the week of Mar 23, highest 4m (week of Mar 23)" in desc


def test_values_are_placed_on_the_scale() -> None:
    root = _chart([charts.Series("a", (0.0, 150.0, 300.0, 600.0))])
    assert root.attrib["data-top"] == "600"  # the smallest round step reaching 600 s in ≤ 4 ticks is 5 minutes
    points = _points(root, "a")
    bottom = charts.TOP + charts.PLOT_H
    assert [p[2] for p in points] == [0, 150, 300, 600]
    assert [p[0] for p in points] == [pytest.approx(charts.LEFT + charts.PLOT_W * i / 3, abs=0.06) for i in range(4)]
    assert points[0][1] == bottom
    assert points[2][1] == pytest.approx(charts.TOP + charts.PLOT_H / 2, abs=0.06)
    assert points[3][1] == charts.TOP
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("text-anchor") == "end"]
    assert ticks == ["0", "5m", "10m"]


def test_a_missing_week_breaks_the_line_instead_of_dropping_to_zero() -> None:
    root = _chart([charts.Series("a", (60.0, 120.0, None, 240.0))])
    group = next(g for g in root.iter(f"{SVG}g") if g.attrib.get("data-series") == "a")
    paths = [p.attrib["d"] for p in group.iter(f"{SVG}path")]
    assert len(paths) == 1 and paths[0].count("L") == 1  # weeks 1 and 2 joined; week 4 stands alone as a point
    assert len(list(group.iter(f"{SVG}circle"))) == 3


def test_series_get_distinct_styles_and_escaped_names() -> None:
    names = [f"svc-{i}" for i in range(5)] + ['<b>"x"</b>']
    markup = charts.line_chart(
        ident="t",
        title="t",
        desc="",
        labels=LABELS,
        series=[charts.Series(n, (1.0, 2.0, 3.0, 4.0)) for n in names],
        fmt=views.short_duration,
    )
    root = ET.fromstring(markup)
    classes = [g.attrib["class"] for g in root.iter(f"{SVG}g") if "data-series" in g.attrib]
    assert classes == [f"series s{i}" for i in range(6)]
    assert "<b>" not in markup and "&lt;b&gt;" in markup


def test_empty_data_says_so() -> None:
    root = _chart([charts.Series("a", (None, None, None, None))])
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert "No data in this range" in texts
    assert not list(root.iter(f"{SVG}circle"))
    assert (root.find(f"{SVG}desc").text or "").endswith("No data.")  # type: ignore[union-attr]
    root = _chart([], labels=[])
    assert "No weeks in this range." in (root.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


def test_a_single_week_sits_in_the_middle() -> None:
    [(x, _, _)] = _points(_chart([charts.Series("a", (30.0,))], labels=["Mar 02"]), "a")
    assert x == charts.LEFT + charts.PLOT_W / 2


def test_percent_charts_run_to_100() -> None:
    markup = charts.line_chart(
        ident="slo",
        title="SLO",
        desc="",
        labels=LABELS,
        series=[charts.Series("a", (100.0, 50.0, 75.0, None))],
        fmt=views.percent,
        steps=charts.PERCENT_STEPS,
        top=100.0,
    )
    root = ET.fromstring(markup)
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.attrib.get("text-anchor") == "end"]
    assert ticks == ["0%", "25%", "50%", "75%", "100%"]
    assert _points(root, "a")[1][1] == pytest.approx(charts.TOP + charts.PLOT_H / 2, abs=0.06)


def test_mismatched_series_are_refused() -> None:
    with pytest.raises(ValueError, match="3 values for 4 labels"):
        _chart([charts.Series("a", (1.0, 2.0, 3.0))])


@pytest.mark.parametrize(
    ("maximum", "step", "top"), [(0, 1, 1), (45, 15, 45), (3000, 900, 3600), (100_000, 43_200, 129_600)]
)
def test_the_axis_uses_round_steps(maximum: float, step: float, top: float) -> None:
    assert charts.axis(maximum, charts.DURATION_STEPS) == charts.Axis(step, top)
    assert charts.axis(10**7, charts.DURATION_STEPS).top >= 10**7


@pytest.mark.parametrize(("seconds", "text"), [(0, "0"), (45, "45s"), (300, "5m"), (5400, "1h 30m"), (90061, "1d 1h")])
def test_axis_durations(seconds: float, text: str) -> None:
    assert views.short_duration(seconds) == text
