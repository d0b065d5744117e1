"""The platform's namespaces, as stacks/naming.py refuses them as team names, are the namespaces the
shipped stacks really create (read from their inventories, the resources `pulumi up` registers)."""

from __future__ import annotations

import pytest

from stacks import catalogue
from stacks.loader import load, shipped_stacks
from stacks.shared_services import postgres_namespace


@pytest.mark.parametrize("stack", shipped_stacks())
def test_every_namespace_a_stack_creates_is_a_team_s_or_a_known_platform_one(inventory, stack):
    config = load(stack)
    teams = {team.name for team in config.teams} | {postgres_namespace(team.name) for team in config.teams}
    created = {r.inputs["metadata"]["name"] for r in inventory(stack) if r.type == "kubernetes:core/v1:Namespace"}
    assert created - teams <= set(catalogue.PLATFORM_NAMESPACES), created - teams - set(catalogue.PLATFORM_NAMESPACES)
