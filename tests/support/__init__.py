"""Test-support code shared by the suites: dependency checks and a private PostgreSQL server."""
