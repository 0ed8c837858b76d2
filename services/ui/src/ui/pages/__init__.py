"""The dashboard (:3000) and the hosted checkout (:3001): server-rendered pages over the API.

Each module registers its pages on one of the two routers of `base`; importing them here is
what puts every page on the app.
"""

from ui.pages import account, endpoints, events, hosted, keys, payments, webhooks
from ui.pages.base import checkout, dashboard, templates

__all__ = ["account", "checkout", "dashboard", "endpoints", "events", "hosted", "keys",
           "payments", "templates", "webhooks"]  # fmt: skip
