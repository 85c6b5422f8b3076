"""Who receives the outbox, and how: the subscriber configuration, validated, pure.

A deployment lists its subscribers in a JSON or TOML file (`SHOPFLOOR_SUBSCRIBERS_FILE`) or
as JSON in `SHOPFLOOR_SUBSCRIBERS`; `config.py` reads them, this module checks them. A
webhook subscriber must name its own secrets: there is no default secret, ever.

A subscriber that names no `aggregation` gets a default: per event, except a subscriber
with transport `erp`, which follows the plant's ERP posting decision (`SHOPFLOOR_ERP_POSTING`:
realtime → event, operation, shift). One setting then says how inventory movements reach
ERP, and a subscriber that names its own aggregation still keeps it. `aggregation_from`
records which of the three decided, so the effective mode can be shown.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shopfloor.kernel.errors import ShopfloorError

TRANSPORTS = ("webhook", "nats", "erp")
AGGREGATIONS = ("event", "operation", "shift")
# Where a subscriber's aggregation came from (see the module docstring).
FROM_SUBSCRIBER, FROM_ERP_POSTING, FROM_DEFAULT = "subscriber", "SHOPFLOOR_ERP_POSTING", "default"
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
STREAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SUBJECT_PREFIX = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


class SubscriberConfigError(ShopfloorError):
    code = "subscriber-config"
    title = "Subscriber configuration not valid"


@dataclass(frozen=True)
class ShiftPattern:
    """The shift start times of the site, in its time zone; a shift ends where the next
    one starts. `grace` is how long after its end late reports still join the summary."""

    starts: tuple[time, ...]
    timezone: str = "UTC"
    grace: timedelta = timedelta(minutes=15)

    def window(self, moment: datetime) -> tuple[datetime, datetime]:
        """The shift that `moment` falls in, as aware datetimes in UTC (start, end)."""
        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        starts = sorted(
            datetime.combine(local.date() + timedelta(days=day), start, tzinfo=zone)
            for day in (-1, 0, 1)
            for start in self.starts
        )
        utc = [s.astimezone(moment.tzinfo) for s in starts]
        for begin, end in itertools.pairwise(utc):
            if begin <= moment < end:
                return begin, end
        raise SubscriberConfigError(f"no shift covers {moment.isoformat()}")  # pragma: no cover


@dataclass(frozen=True)
class Subscriber:
    """One receiver of the outbox and the rules of delivering to it."""

    name: str
    transport: str
    url: str = ""  # webhook and NATS; an ERP adapter takes its own from `options`
    secrets: tuple[str, ...] = ()
    aggregation: str = "event"
    max_attempts: int = 12
    timeout_seconds: float = 10.0
    concurrency: int = 16
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 3600.0
    stream: str = "SHOPFLOOR"
    subject_prefix: str = "shopfloor"
    duplicate_window_seconds: float = 7200.0
    window_margin_seconds: float = 600.0
    shifts: ShiftPattern | None = field(default=None)
    adapter: str = ""  # transport "erp": the ERP adapter's entry-point name
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)  # adapter settings
    pull_seconds: float = 0.0  # transport "erp": pull ERP's plans this often; 0: never
    post_facts: bool = True  # transport "erp": False pulls plans only, the relay sends it nothing
    aggregation_from: str = FROM_DEFAULT  # set by the parser, never by the configuration

    @property
    def duplicate_window(self) -> timedelta:
        return timedelta(seconds=self.duplicate_window_seconds)

    @property
    def window_margin(self) -> timedelta:
        return timedelta(seconds=self.window_margin_seconds)


def parse_subscribers(raw: Any, *, erp_aggregation: str = "event") -> tuple[Subscriber, ...]:
    """Subscribers from decoded JSON/TOML: a list, or a mapping with a `subscriber(s)` list.

    `erp_aggregation` is the aggregation of a transport-`erp` subscriber that names none
    (the plant's `Boundary.erp_aggregation`). Refuses, with the subscriber's name in the
    message: unknown transports or aggregation modes, webhooks without a secret, secrets that
    are not 24 to 64 bytes of base64, duplicate names, and NATS duplicate windows too short
    for the safety margin.
    """
    if isinstance(raw, Mapping):
        raw = raw.get("subscribers", raw.get("subscriber", []))
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise SubscriberConfigError("subscribers must be a list of tables/objects")
    subscribers = tuple(
        _parse_one(entry, index, erp_aggregation) for index, entry in enumerate(raw)
    )
    names = [s.name for s in subscribers]
    if len(set(names)) != len(names):
        raise SubscriberConfigError("subscriber names must be unique")
    return subscribers


def _parse_one(entry: Any, index: int, erp_aggregation: str) -> Subscriber:
    if not isinstance(entry, Mapping):
        raise SubscriberConfigError(f"subscriber #{index + 1} is not a table/object")
    name = str(entry.get("name", ""))
    where = f"subscriber '{name or index + 1}'"
    known = set(Subscriber.__dataclass_fields__) | {"shift_starts", "timezone", "grace_minutes"}
    unknown = set(entry) - (known - {"aggregation_from"})
    if unknown:
        raise SubscriberConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    if not NAME.match(name):
        raise SubscriberConfigError(f"{where}: name must be lower-case letters, digits, _ . -")
    values = {k: v for k, v in entry.items() if k in Subscriber.__dataclass_fields__}
    for key, spec in Subscriber.__dataclass_fields__.items():
        if key in values and isinstance(spec.default, bool):
            if not isinstance(values[key], bool):
                raise SubscriberConfigError(f"{where}: {key} must be true or false")
        elif key in values and isinstance(spec.default, int | float):
            try:
                values[key] = type(spec.default)(values[key])
            except (TypeError, ValueError) as exc:
                raise SubscriberConfigError(f"{where}: {key} must be a number") from exc
    values["secrets"] = tuple(str(s) for s in entry.get("secrets", ()))
    if "aggregation" in entry:
        values["aggregation_from"] = FROM_SUBSCRIBER
    elif entry.get("transport") == "erp":
        values["aggregation"], values["aggregation_from"] = erp_aggregation, FROM_ERP_POSTING
    values["shifts"] = _shifts(entry, values.get("aggregation"), where)
    options = entry.get("options", {})
    if not isinstance(options, Mapping):
        raise SubscriberConfigError(f"{where}: options must be a table/object")
    values["options"] = dict(options)
    try:
        subscriber = Subscriber(**values)
    except TypeError as exc:
        raise SubscriberConfigError(f"{where}: {exc}") from exc
    _check(subscriber, where)
    return subscriber


def _shifts(entry: Mapping[str, Any], aggregation: Any, where: str) -> ShiftPattern | None:
    if aggregation != "shift":
        return None
    try:
        starts = tuple(time.fromisoformat(str(s)) for s in entry.get("shift_starts", ()))
        zone = str(entry.get("timezone", "UTC"))
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise SubscriberConfigError(f"{where}: shift_starts/timezone not valid: {exc}") from exc
    if not starts:
        because = "" if "aggregation" in entry else f" (from {FROM_ERP_POSTING}=shift)"
        raise SubscriberConfigError(
            f"{where}: aggregation 'shift'{because} needs shift_starts, the site's shift "
            "start times"
        )
    grace = timedelta(minutes=float(entry.get("grace_minutes", 15)))
    return ShiftPattern(starts=tuple(sorted(set(starts))), timezone=zone, grace=grace)


def _check(s: Subscriber, where: str) -> None:
    if s.transport not in TRANSPORTS:
        raise SubscriberConfigError(f"{where}: transport must be one of {', '.join(TRANSPORTS)}")
    if s.aggregation not in AGGREGATIONS:
        raise SubscriberConfigError(
            f"{where}: aggregation must be one of {', '.join(AGGREGATIONS)}"
        )
    if not s.url and s.transport != "erp":
        raise SubscriberConfigError(f"{where}: url is required")
    if s.max_attempts < 1 or s.concurrency < 1 or s.timeout_seconds <= 0:
        raise SubscriberConfigError(f"{where}: max_attempts, concurrency, timeout must be > 0")
    if not 0 <= s.pull_seconds <= 86400 or (s.pull_seconds and s.transport != "erp"):
        raise SubscriberConfigError(
            f"{where}: pull_seconds is 0 (no pulling) or up to 86400, and only for transport 'erp'"
        )
    if not s.post_facts and (s.transport != "erp" or not s.pull_seconds):
        raise SubscriberConfigError(
            f"{where}: post_facts = false is for an ERP subscriber that only pulls plans "
            "(transport 'erp' with pull_seconds > 0); any other would receive nothing at all"
        )
    if s.transport == "webhook":
        _check_secrets(s, where)
    elif s.transport == "erp":
        if not NAME.match(s.adapter):
            raise SubscriberConfigError(f"{where}: transport 'erp' needs adapter = \"<name>\"")
    else:
        if not STREAM.match(s.stream) or not SUBJECT_PREFIX.match(s.subject_prefix):
            raise SubscriberConfigError(f"{where}: stream or subject_prefix not valid for NATS")
        if s.duplicate_window_seconds <= 2 * s.window_margin_seconds:
            raise SubscriberConfigError(
                f"{where}: duplicate_window_seconds must exceed twice window_margin_seconds"
            )


def _check_secrets(s: Subscriber, where: str) -> None:
    if not s.secrets:
        raise SubscriberConfigError(
            f'{where}: a webhook needs at least one secret (secrets = ["whsec_…"]); '
            "there is no default"
        )
    for secret in s.secrets:
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SubscriberConfigError(f"{where}: a secret is not base64 (whsec_…)") from exc
        if not 24 <= len(key) <= 64:
            raise SubscriberConfigError(f"{where}: a secret must be 24 to 64 bytes of key")


def erp_postings(subscribers: Sequence[Subscriber]) -> list[tuple[str, str, str]]:
    """(name, effective aggregation, where it came from) of each transport-`erp` subscriber
    that posts facts: how inventory movements really reach ERP, whatever the plant's
    default says."""
    return [
        (s.name, s.aggregation, s.aggregation_from)
        for s in subscribers
        if s.transport == "erp" and s.post_facts
    ]


def receivers(subscribers: Sequence[Subscriber]) -> tuple[Subscriber, ...]:
    """The subscribers the relay delivers the outbox to: all but pull-only ERPs."""
    return tuple(s for s in subscribers if s.post_facts)
