"""Settings from the environment (prefix SHOPFLOOR_), built by a function and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopfloor.kernel.boundary import Boundary
from shopfloor.kernel.errors import ShopfloorError

DEMO_SECRET = "demo-only-secret-not-for-production-use"


class Settings(BaseSettings):
    """Everything a deployment configures. Secrets have no working default."""

    model_config = SettingsConfigDict(env_prefix="SHOPFLOOR_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/shopfloor.db",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    secret_key: SecretStr | None = Field(
        default=None, description="Signs sessions and webhooks; required outside demo mode."
    )
    demo: bool = Field(default=False, description="Demo mode: a fixed, public secret is allowed.")
    site: str = Field(default="default", description="The site code this deployment serves.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    db_pool_size: int = 10
    api_command_threads: int = Field(
        default=2,
        ge=1,
        description="Commands (POST, PUT, DELETE) one API process runs at once, each on a "
        "thread; more wait their turn. A few threads serve the most: threads taking turns at "
        "Python's interpreter lock cost more than they overlap waiting for the database.",
    )
    api_switch_ms: float = Field(
        default=1.0,
        gt=0,
        description="How long (ms) a thread of an API process may hold Python's interpreter "
        "lock while another waits for it (Python's own default is 5): a command whose answer "
        "from the database is in resumes sooner. Measured under load: 1 served about 3 % more "
        "requests than 5; 0.1 fewer.",
    )
    oee_workers: int = Field(
        default=0,
        ge=0,
        description="Processes that share a large OEE recompute (8 equipment or more over "
        "more than a day), this one included: 0 one per core, 1 none besides this one. A "
        "server starts them as it starts and keeps them.",
    )
    session_hours: float = Field(default=12.0, description="Lifetime of a sign-in session.")
    lockout_attempts: int = Field(default=5, description="Failed sign-ins before a lockout.")
    lockout_minutes: int = Field(default=15, description="How long a locked account waits.")
    idempotency_hours: int = Field(default=48, description="How long stored responses are kept.")
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    audit_seal_seconds: float = Field(
        default=1.0, description="How often the audit chain is sealed."
    )
    subscribers_file: Path | None = Field(
        default=None,
        description="JSON or TOML file listing the outbox subscribers (webhook or NATS JetStream).",
    )
    subscribers: str | None = Field(
        default=None, description="The subscribers as JSON, instead of a file (for containers)."
    )
    relay_batch: int = Field(default=500, description="Outbox events a relay claims per pass.")
    relay_poll_seconds: float = Field(
        default=1.0, description="How long an idle relay waits before it looks again."
    )
    relay_lease_seconds: float = Field(
        default=60.0,
        description="How long a claimed delivery stays reserved for its relay (longer than a "
        "transport's timeout); after it, another relay may try again.",
    )
    machine_watch_seconds: float = Field(
        default=60.0,
        ge=0,
        description="How often serve/demo record machine-detected stops and evaluate the "
        "maintenance rules (0: not in this process; run `shopfloor worker machines`).",
    )
    downtime_window_hours: float = Field(
        default=12.0, gt=0, description="How far back the machine watch looks for stops."
    )
    signal_seal_after_hours: float = Field(
        default=3.0,
        ge=1.0,
        description="How long after a UTC day ended its machine signals are sealed into "
        "compressed day blocks (what the OEE recompute reads); a sample that arrives for a "
        "sealed day drops its block until the next seal.",
    )
    unclassified_after_minutes: int = Field(
        default=30,
        ge=0,
        description="A stop without a reason this long after it ended is listed for the "
        "supervisor.",
    )
    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker of machine ingest.")
    mqtt_port: int = Field(default=1883, description="MQTT port of machine ingest.")
    mqtt_username: str | None = Field(default=None, description="MQTT user of machine ingest.")
    mqtt_password: SecretStr | None = Field(
        default=None, description="Its password (only from the environment, never an option)."
    )
    # The seven boundary decisions between ERP and shopfloor (docs/boundary.md).
    order_origin: str = Field(
        default="both", description="Where work orders originate: erp, mes (unplanned) or both."
    )
    bom_owner: str = Field(
        default="erp", description="Fixed: ERP owns the normative BOM; shopfloor expands it."
    )
    lot_creation: str = Field(
        default="erp",
        description="Where lots are created: erp (goods receipt), mes (first use) or both.",
    )
    erp_posting: str = Field(
        default="realtime",
        description="Default aggregation of ERP subscribers: realtime, operation or shift.",
    )
    batch_record: str = Field(default="shopfloor", description="Fixed: eBR/eDHR in shopfloor.")
    deviations: str = Field(
        default="shopfloor", description="Fixed: in shopfloor, graduating to a QMS CAPA by link."
    )
    finished_goods_cost: str = Field(default="erp", description="Fixed: cost is ERP's.")

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.secret_key is None and self.demo:
            self.secret_key = SecretStr(DEMO_SECRET)
        return self

    @model_validator(mode="after")
    def _check_boundary(self) -> Settings:
        self.boundary  # noqa: B018 - refuses a value shopfloor does not offer, at start-up
        return self

    @property
    def boundary(self) -> Boundary:
        """The plant's seven boundary decisions, checked (BoundaryConfigError names the
        setting and the values it takes)."""
        return Boundary(
            order_origin=self.order_origin,
            bom_owner=self.bom_owner,
            lot_creation=self.lot_creation,
            erp_posting=self.erp_posting,
            batch_record=self.batch_record,
            deviations=self.deviations,
            finished_goods_cost=self.finished_goods_cost,
        )

    def require_secret(self) -> str:
        """The secret key; outside demo mode a missing or demo secret stops the start-up."""
        secret = self.secret_key.get_secret_value() if self.secret_key else ""
        if not self.demo and (not secret or secret == DEMO_SECRET or len(secret) < 16):
            raise ShopfloorError(
                "SHOPFLOOR_SECRET_KEY must be set to a private value of at least 16 characters "
                "(only demo mode may run without one)."
            )
        return secret

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite or ":memory:" in self.database_url:
            return None
        return Path(self.database_url.split("///", 1)[1])


def load_settings(**overrides: object) -> Settings:
    """Read the environment now (never at import) and apply explicit overrides."""
    return Settings(**overrides)  # type: ignore[arg-type]
