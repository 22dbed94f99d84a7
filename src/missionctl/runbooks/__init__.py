"""Runbooks as code: the YAML model, the loader, and the three built-in runbooks."""
