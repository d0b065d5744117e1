"""The environment variables that connect a workload to the shared services it declares in `uses`:
each instance's address as plain values, its credentials as references into the instance's
connection Secret, never as values. Addresses and Secrets are the instances' endpoints
(stacks/shared_services.py), the same the `sharedServices` stack output reports.

Names: `<SERVICE>_<FIELD>` for the team's default instance (the one `uses` means without
`instance`), and `<SERVICE>_<INSTANCE>_<FIELD>` for any other (upper case, `-` as `_`), so a workload
can use two instances of a service. docs/onboarding.md lists them.
"""

from __future__ import annotations

from typing import Any

from stacks.model.workloads import Uses
from stacks.shared_services import SHARED_SERVICES

from ..kit.parts import ConnectionSettings
from ..services.parts import PARTS_BY_SERVICE


def prefix(service: str, instance: str) -> str:
    name = service if instance == SHARED_SERVICES[service].default_instance else f"{service}_{instance}"
    return name.upper().replace("-", "_")


def connection_env(settings: ConnectionSettings, team: str, uses: list[Uses]) -> list[dict[str, Any]]:
    """Container `env` entries for every service in `uses`, in order (each service's part's
    `client_env`, in components/services/<service>.py); a service and instance named twice counts once."""
    env: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for use in uses:
        service = SHARED_SERVICES[use.service]
        instance = use.instance or service.default_instance
        if (use.service, instance) in seen:
            continue
        seen.add((use.service, instance))
        client_env = PARTS_BY_SERVICE[use.service].client_env
        assert client_env is not None  # every service a workload can use has one (tests/architecture/test_service_parts.py)
        env += client_env(settings, prefix(use.service, instance), service.endpoint(team, instance))
    return env
