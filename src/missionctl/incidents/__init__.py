"""Incidents: lifecycle, first-response checklist, clocks, roles, updates, channel and timeline."""
