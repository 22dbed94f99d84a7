"""Deployments reported by CI: which version of which service went out where, when, and by whom."""
