"""How the CrossGuard policy pack is applied to this stack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Strict


class Policy(Strict):
    enforcement: Literal["advisory", "mandatory"] = "mandatory"
    allowed_registries: list[str] = Field(default_factory=list)
    platform_groups: list[str] = Field(default_factory=lambda: ["platform-operators"])
