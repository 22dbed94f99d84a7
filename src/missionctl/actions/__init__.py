"""Automation actions: declared, bounded, approvable, dry-runnable and audited (issue 6)."""
