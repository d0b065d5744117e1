"""Which environment and site a stack is, and who owns it."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from .base import DnsLabel, Strict, check

Environment = Literal["dev", "test", "prod"]


# --- the site -------------------------------------------------------------------------------------


class Site(Strict):
    """One site of an environment. An environment runs one primary site and may add secondaries
    that stand by for it (e.g. a second data centre).

    The pair is written in both stack files: the secondary names its `primary`, the primary lists
    its `secondaries`. So the files always say which site is the primary, and a failover that
    changed only one of them (two primaries, or a secondary of a secondary) is a config error.
    """

    name: DnsLabel
    """The site's short name (`dc1`): in labels, backup and archive prefixes, and the `site` label of
    its telemetry. Forces replacement on AKS: of the cluster (its DNS prefix) and the storage account
    (its name)."""
    role: Literal["primary", "secondary"] = "primary"
    """`secondary`: the site stands by for `primary` (its PostgreSQL clusters are standbys of the primary's)."""
    primary: str | None = None
    """The stack name of the primary site; required for a secondary, not allowed for a primary."""
    secondaries: list[str] = []
    """The stack names of the secondaries that stand by for this primary."""

    @model_validator(mode="after")
    def _pairs(self):
        """The rules within this file; those between this file and the other sites' files are the
        loader's (stacks/sites.py), which reads the other files once."""
        problems = []
        if self.role == "secondary" and not self.primary:
            problems.append(("primary", "a secondary site must name its primary site's stack (e.g. `onprem-dc1`)"))
        if self.role == "primary" and self.primary:
            problems.append(("primary", "only a secondary site names a primary; remove it or set `role: secondary`"))
        if self.role == "secondary" and self.secondaries:
            problems.append(("secondaries", "only a primary site lists secondaries; remove them or set `role: primary`"))
        for index, stack in enumerate(self.secondaries):
            if stack in self.secondaries[:index]:
                problems.append((f"secondaries[{index}]", f"`{stack}` is listed twice"))
        check(problems)
        return self


class Ownership(Strict):
    """Who owns and pays for the stack; carried as tags and labels on everything it creates."""

    owner: str = "platform-team"
    """The `owner` tag on the stack's Azure resources."""
    cost_centre: str = "platform"
    """The `cost-centre` tag on the stack's Azure resources, which cost reports group by."""
