"""Every table of every domain, imported in one place so Alembic and `create_all` see the whole schema."""

from missionctl.actions import models as action_models
from missionctl.analyzer import models as analyzer_models
from missionctl.auth import models as auth_models
from missionctl.catalog import models as catalog_models
from missionctl.db import Base
from missionctl.deployments import models as deployment_models
from missionctl.detectors import models as detector_models
from missionctl.engine import models as engine_models
from missionctl.escalation import models as escalation_models
from missionctl.incidents import models as incident_models
from missionctl.notifications import models as notification_models
from missionctl.releases import models as release_models
from missionctl.signals import models as signal_models
from missionctl.statuspage import models as statuspage_models
from missionctl.web import models as web_models

metadata = Base.metadata

__all__ = [
    "action_models",
    "analyzer_models",
    "auth_models",
    "catalog_models",
    "deployment_models",
    "detector_models",
    "engine_models",
    "escalation_models",
    "incident_models",
    "metadata",
    "notification_models",
    "release_models",
    "signal_models",
    "statuspage_models",
    "web_models",
]
