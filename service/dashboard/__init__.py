"""The operator's dashboard: server-rendered pages under ``/ui`` (see views)."""

from service.dashboard.templating import STATIC
from service.dashboard.views import router

__all__ = ["STATIC", "router"]
