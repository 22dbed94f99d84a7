"""Escalation: the policy snapshot on an incident, stepping through its levels, SLO and cadence clocks."""
