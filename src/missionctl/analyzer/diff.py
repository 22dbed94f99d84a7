"""Plan summaries and plan diffs (pure): what changed between a statement's baseline plan and its plan now.

A plan is PostgreSQL's `EXPLAIN (FORMAT JSON)` output: a one-element list holding `{"Plan": {...}}`. The
summary keeps what people compare by eye: node types, how each relation is scanned, join methods, indexes
used and the total cost. A diff is a regression when the cost at least doubled, or when a relation that
was read through an index is now read sequentially and it is large.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SEQ_SCAN = "Seq Scan"
INDEX_SCANS = frozenset({"Index Scan", "Index Only Scan", "Bitmap Heap Scan"})
JOIN_NODES = frozenset({"Nested Loop", "Hash Join", "Merge Join"})
COST_RATIO_REGRESSION = 2.0
LARGE_RELATION_ROWS = 10_000.0


def root(plan: Any) -> dict[str, Any]:
    """The top plan node of an EXPLAIN (FORMAT JSON) document (a list, a `{"Plan"}` object or a node)."""
    doc = plan[0] if isinstance(plan, list) else plan
    if not isinstance(doc, dict):
        raise ValueError("not an EXPLAIN (FORMAT JSON) document")
    node = doc.get("Plan", doc)
    if not isinstance(node, dict) or "Node Type" not in node:
        raise ValueError("not an EXPLAIN (FORMAT JSON) document: no plan node")
    return node


def walk(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every node of a plan tree, parents first."""
    yield node
    for child in node.get("Plans", ()):
        yield from walk(child)


def relation_of(node: Mapping[str, Any]) -> str | None:
    """`schema.table` (schema when EXPLAIN was VERBOSE) of a scan node, else None."""
    name = node.get("Relation Name")
    if not name:
        return None
    schema = node.get("Schema")
    return f"{schema}.{name}" if schema else str(name)


@dataclass(frozen=True)
class PlanSummary:
    total_cost: float
    plan_rows: float
    node_types: dict[str, int]
    scans: dict[str, list[str]]  # relation → scan node types on it (sorted, distinct)
    joins: list[str]  # join node types, one per join (sorted)
    indexes: list[str]  # index names used anywhere (sorted, distinct)

    def as_json(self) -> dict[str, Any]:
        return {
            "total_cost": self.total_cost,
            "plan_rows": self.plan_rows,
            "node_types": self.node_types,
            "scans": self.scans,
            "joins": self.joins,
            "indexes": self.indexes,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PlanSummary:
        return cls(
            total_cost=float(data["total_cost"]),
            plan_rows=float(data.get("plan_rows", 0.0)),
            node_types={str(k): int(v) for k, v in data.get("node_types", {}).items()},
            scans={str(k): [str(s) for s in v] for k, v in data.get("scans", {}).items()},
            joins=[str(j) for j in data.get("joins", [])],
            indexes=[str(i) for i in data.get("indexes", [])],
        )


def summarize(plan: Any) -> PlanSummary:
    """The summary of an EXPLAIN (FORMAT JSON) document."""
    top = root(plan)
    types: Counter[str] = Counter()
    scans: dict[str, set[str]] = {}
    joins: list[str] = []
    indexes: set[str] = set()
    for node in walk(top):
        kind = str(node["Node Type"])
        types[kind] += 1
        relation = relation_of(node)
        if relation is not None:
            scans.setdefault(relation, set()).add(kind)
        if kind in JOIN_NODES:
            joins.append(kind)
        if node.get("Index Name"):
            indexes.add(str(node["Index Name"]))
    return PlanSummary(
        total_cost=float(top.get("Total Cost", 0.0)),
        plan_rows=float(top.get("Plan Rows", 0.0)),
        node_types=dict(sorted(types.items())),
        scans={r: sorted(s) for r, s in sorted(scans.items())},
        joins=sorted(joins),
        indexes=sorted(indexes),
    )


@dataclass(frozen=True)
class ScanChange:
    relation: str
    before: list[str]
    after: list[str]

    @property
    def lost_index(self) -> bool:
        """Read through an index before, only sequentially now."""
        return bool(INDEX_SCANS & set(self.before)) and SEQ_SCAN in self.after and not INDEX_SCANS & set(self.after)


@dataclass(frozen=True)
class PlanDiff:
    cost_before: float
    cost_after: float
    scan_changes: list[ScanChange] = field(default_factory=list)
    indexes_lost: list[str] = field(default_factory=list)
    indexes_gained: list[str] = field(default_factory=list)
    joins_lost: list[str] = field(default_factory=list)
    joins_gained: list[str] = field(default_factory=list)
    node_types_changed: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def cost_ratio(self) -> float:
        if self.cost_before <= 0:
            return 1.0 if self.cost_after <= 0 else float("inf")
        return self.cost_after / self.cost_before

    @property
    def shape_changed(self) -> bool:
        return bool(self.scan_changes or self.indexes_lost or self.indexes_gained or self.node_types_changed)

    def as_json(self) -> dict[str, Any]:
        return {
            "cost_before": self.cost_before,
            "cost_after": self.cost_after,
            "cost_ratio": round(self.cost_ratio, 3),
            "shape_changed": self.shape_changed,
            "scan_changes": [
                {"relation": c.relation, "before": c.before, "after": c.after, "lost_index": c.lost_index}
                for c in self.scan_changes
            ],
            "indexes_lost": self.indexes_lost,
            "indexes_gained": self.indexes_gained,
            "joins_lost": self.joins_lost,
            "joins_gained": self.joins_gained,
            "node_types_changed": {k: list(v) for k, v in self.node_types_changed.items()},
        }


def _multiset_minus(a: list[str], b: list[str]) -> list[str]:
    return sorted((Counter(a) - Counter(b)).elements())


def diff(baseline: PlanSummary, current: PlanSummary) -> PlanDiff:
    """What changed from `baseline` to `current`."""
    changes = [
        ScanChange(relation, baseline.scans.get(relation, []), current.scans.get(relation, []))
        for relation in sorted(set(baseline.scans) | set(current.scans))
        if baseline.scans.get(relation, []) != current.scans.get(relation, [])
    ]
    kinds = sorted(set(baseline.node_types) | set(current.node_types))
    return PlanDiff(
        cost_before=baseline.total_cost,
        cost_after=current.total_cost,
        scan_changes=changes,
        indexes_lost=sorted(set(baseline.indexes) - set(current.indexes)),
        indexes_gained=sorted(set(current.indexes) - set(baseline.indexes)),
        joins_lost=_multiset_minus(baseline.joins, current.joins),
        joins_gained=_multiset_minus(current.joins, baseline.joins),
        node_types_changed={
            k: (baseline.node_types.get(k, 0), current.node_types.get(k, 0))
            for k in kinds
            if baseline.node_types.get(k, 0) != current.node_types.get(k, 0)
        },
    )


@dataclass(frozen=True)
class Verdict:
    regressed: bool
    reasons: list[str]


def classify(
    change: PlanDiff,
    relation_rows: Mapping[str, float] | None = None,
    *,
    cost_ratio: float = COST_RATIO_REGRESSION,
    large_relation_rows: float = LARGE_RELATION_ROWS,
) -> Verdict:
    """Whether `change` is a regression, and why. `relation_rows`: estimated rows per relation (pg_class);
    a relation of unknown size does not count as large."""
    rows = relation_rows or {}
    reasons: list[str] = []
    if change.cost_ratio >= cost_ratio:
        reasons.append(
            f"estimated cost {change.cost_ratio:.1f}x the baseline "
            f"({change.cost_before:.0f} -> {change.cost_after:.0f})"
        )
    for scan in change.scan_changes:
        size = rows.get(scan.relation)
        if scan.lost_index and size is not None and size >= large_relation_rows:
            reasons.append(
                f"{scan.relation} ({size:,.0f} rows): {' + '.join(scan.before)} became {' + '.join(scan.after)}"
            )
    if change.indexes_lost and reasons:
        reasons.append(f"no longer uses {', '.join(change.indexes_lost)}")
    return Verdict(bool(reasons), reasons)
