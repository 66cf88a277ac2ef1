"""The dashboard: pages the REST service serves under ``/dashboard``.

A face over the service's own routes: the pages are static (HTML, one script, one style,
plotly's bundled ``plotly.min.js``) and fetch runs, models and tasks from ``/v1`` with the
bearer token the user entered once. No capability logic lives here.
"""

from hpcopt.dashboard.routes import PAGES, mount

__all__ = ["PAGES", "mount"]
