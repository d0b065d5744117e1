"""Every shared service declares its part (components/kit/parts.py) and the parts agree with the
other lists a service appears in: the config's `services` sections, the chart pins, the
shared-services table and the policy pack, which imports nothing of the platform."""

from __future__ import annotations

from components.services.parts import PARTS, PARTS_BY_SERVICE
from policies.rules.protection import DEFAULT_STATEFUL_TYPES
from stacks.catalogue import PART_CHARTS
from stacks.model.services import Services
from stacks.shared_services import SHARED_SERVICES

OBSERVABILITY = {"monitoring", "logging", "tracing"}  # the observability stack itself, not a watched service


def test_every_services_section_but_observability_has_one_part():
    assert [part.service for part in PARTS] == list(PARTS_BY_SERVICE)
    assert set(PARTS_BY_SERVICE) == set(Services.model_fields) - OBSERVABILITY


def test_every_part_installs_pinned_charts():
    assert {part.service for part in PARTS} <= set(PART_CHARTS)


def test_every_service_a_workload_can_use_tells_its_clients_how_to_connect():
    for name in SHARED_SERVICES:
        assert PARTS_BY_SERVICE[name].client_env is not None, name


def test_the_policy_pack_protects_what_the_parts_say_holds_data():
    stateful = {kind for part in PARTS for kind in part.stateful_types}
    assert stateful - set(DEFAULT_STATEFUL_TYPES) == set()


def test_alerts_name_their_own_service_and_are_unique():
    names = [alert.name for part in PARTS for alert in part.alerts]
    assert len(names) == len(set(names))
    assert {(part.service, alert.service) for part in PARTS for alert in part.alerts if alert.service != part.service} == set()
