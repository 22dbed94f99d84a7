"""Entry point for ``python -m missionctl``."""

from missionctl.cli import main

main()
