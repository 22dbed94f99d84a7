"""Releases (RB-001): the release ledger with health verdicts, deploy freezes, rollback and synthetic checks."""
