"""Reading the subscribers: `SHOPFLOOR_SUBSCRIBERS` (JSON) or `SHOPFLOOR_SUBSCRIBERS_FILE`
(`.toml`, otherwise JSON). No subscribers configured means nothing is relayed: events wait
in the outbox, and the first subscriber configured later receives them all.

Example (TOML):

    [[subscriber]]
    name = "erp"
    transport = "webhook"
    url = "https://erp.example.com/hooks/shopfloor"
    secrets = ["whsec_…new…", "whsec_…old…"]   # all sign during a rotation
    aggregation = "operation"                  # event | operation | shift
    max_attempts = 12

    [[subscriber]]
    name = "bus"
    transport = "nats"
    url = "nats://127.0.0.1:4222"
    stream = "SHOPFLOOR"
    subject_prefix = "shopfloor"
    duplicate_window_seconds = 7200

    [[subscriber]]
    name = "erp-feed"
    transport = "erp"                          # an ERP adapter: facts out, plans in
    adapter = "rest"
    pull_seconds = 30                          # pull ERP's plans this often (0: never)
    options = { pull_url = "https://erp.example.com/mes/feed",
                post_url = "https://erp.example.com/mes/facts", secrets = ["whsec_…"] }
"""

from __future__ import annotations

import json
import tomllib

from shopfloor.integration.subscribers import (
    Subscriber,
    SubscriberConfigError,
    parse_subscribers,
)
from shopfloor.platform.settings import Settings


def load_subscribers(settings: Settings) -> tuple[Subscriber, ...]:
    """The configured subscribers, checked; an empty tuple when none are configured.
    A transport-`erp` subscriber without its own aggregation follows SHOPFLOOR_ERP_POSTING."""
    erp_aggregation = settings.boundary.erp_aggregation
    if settings.subscribers:
        try:
            return parse_subscribers(
                json.loads(settings.subscribers), erp_aggregation=erp_aggregation
            )
        except json.JSONDecodeError as exc:
            raise SubscriberConfigError(f"SHOPFLOOR_SUBSCRIBERS is not JSON: {exc}") from exc
    path = settings.subscribers_file
    if path is None:
        return ()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SubscriberConfigError(f"cannot read the subscribers file {path}: {exc}") from exc
    try:
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise SubscriberConfigError(f"the subscribers file {path} is not valid: {exc}") from exc
    return parse_subscribers(raw, erp_aggregation=erp_aggregation)
