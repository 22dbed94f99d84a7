"""Every table of every domain, imported in one place so Alembic and `create_all` see the whole schema."""

from missionctl.auth import models as auth_models
from missionctl.db import Base
from missionctl.incidents import models as incident_models

metadata = Base.metadata

__all__ = ["auth_models", "incident_models", "metadata"]
