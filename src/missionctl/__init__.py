"""Mission Control: self-hosted incident response with runbooks as code."""

__version__ = "0.1.0"
