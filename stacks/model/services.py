"""The shared services every environment runs, with their sizing."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .base import Strict, check, matching


class Ingress(Strict):
    enabled: bool = True
    replicas: int = Field(default=1, ge=1, le=10)
    internal_load_balancer: bool = True


class AcmeIssuer(Strict):
    kind: Literal["acme"]
    email: matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an e-mail address")
    server: str = "https://acme-v02.api.letsencrypt.org/directory"


class InternalCaIssuer(Strict):
    kind: Literal["internal_ca"]
    common_name: str = "complete-cluster internal CA"


class CertManager(Strict):
    enabled: bool = True
    issuer: Annotated[Union[AcmeIssuer, InternalCaIssuer], Field(discriminator="kind")] = InternalCaIssuer(kind="internal_ca")


class Postgres(Strict):
    enabled: bool = False
    instances: int = Field(default=1, ge=1, le=5)
    volume_gi: int = Field(default=10, ge=1)


class Redis(Strict):
    enabled: bool = False
    replicas: int = Field(default=1, ge=1, le=5)
    sentinels: int = Field(default=3, ge=1, le=5)


class RabbitMQ(Strict):
    enabled: bool = False
    replicas: int = Field(default=1, ge=1, le=7)


class Kafka(Strict):
    enabled: bool = False
    brokers: int = Field(default=1, ge=1, le=15)
    controllers: int = Field(default=1, ge=1, le=5)
    storage_gi: int = Field(default=20, ge=1)
    default_replication_factor: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _replication_fits(self):
        problems = []
        if self.default_replication_factor > self.brokers:
            problems.append(("default_replication_factor", f"cannot exceed the broker count ({self.default_replication_factor} > {self.brokers})"))
        if self.controllers % 2 == 0:
            problems.append(("controllers", f"KRaft controllers need an odd count for quorum, not {self.controllers}"))
        check(problems)
        return self


class Registry(Strict):
    enabled: bool = False
    hostname: str = ""


class Backup(Strict):
    enabled: bool = False
    schedule: str = "0 1 * * *"
    retention_days: int = Field(default=7, ge=1, le=3650)


class Monitoring(Strict):
    enabled: bool = False
    retention_days: int = Field(default=7, ge=1, le=365)


class Logging(Strict):
    enabled: bool = False
    retention_days: int = Field(default=7, ge=1, le=3650)


class Tracing(Strict):
    enabled: bool = False
    retention_days: int = Field(default=3, ge=1, le=365)


class Services(Strict):
    ingress: Ingress = Ingress()
    cert_manager: CertManager = CertManager()
    postgres: Postgres = Postgres()
    redis: Redis = Redis()
    rabbitmq: RabbitMQ = RabbitMQ()
    kafka: Kafka = Kafka()
    registry: Registry = Registry()
    backup: Backup = Backup()
    monitoring: Monitoring = Monitoring()
    logging: Logging = Logging()
    tracing: Tracing = Tracing()

    def enabled(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name).enabled]
