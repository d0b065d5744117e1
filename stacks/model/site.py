"""Which environment and site a stack is, and who owns it."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from .base import DnsLabel, Strict, check

Environment = Literal["dev", "test", "prod"]


class Site(Strict):
    """One site of an environment. An environment runs one primary site and may add secondaries
    that stand by for it (e.g. a second data centre)."""

    name: DnsLabel
    role: Literal["primary", "secondary"] = "primary"
    primary: str | None = None
    """The stack name of the primary site; required for a secondary, not allowed for a primary."""

    @model_validator(mode="after")
    def _secondary_names_its_primary(self):
        problems = []
        if self.role == "secondary" and not self.primary:
            problems.append(("primary", "a secondary site must name its primary site's stack (e.g. `onprem-dc1`)"))
        if self.role == "primary" and self.primary:
            problems.append(("primary", "only a secondary site names a primary; remove it or set `role: secondary`"))
        check(problems)
        return self


class Ownership(Strict):
    """Who owns and pays for the stack; carried as tags and labels on everything it creates."""

    owner: str = "platform-team"
    cost_centre: str = "platform"
