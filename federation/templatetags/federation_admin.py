"""The node summary panel on the admin home page."""

from __future__ import annotations

from typing import Any

from django import template

from federation import selectors

register = template.Library()


@register.inclusion_tag("admin/federation/node_summary.html")
def node_summary() -> dict[str, Any]:
    return {"status": selectors.node_status()}
