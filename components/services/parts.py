"""Every shared service's part (components/kit/parts.py), in the order the platform lists them:
the monitors, the alert rule groups, the overview's health panel and the review's diagram."""

from __future__ import annotations

from ..kit.parts import ServicePart
from . import backup, cert_manager, ingress, kafka, postgres, rabbitmq, redis, registry

PARTS: tuple[ServicePart, ...] = (
    ingress.PART,
    cert_manager.PART,
    postgres.PART,
    redis.PART,
    rabbitmq.PART,
    kafka.PART,
    registry.PART,
    backup.PART,
)
PARTS_BY_SERVICE = {part.service: part for part in PARTS}
