"""The PostgreSQL analyzer (RB-002): slow statements, plan diffs against a baseline, index recommendations."""
