"""Shared fixtures: the offline inventory of each shipped stack, evaluated once per test session."""

from __future__ import annotations

import pytest

from stacks.tools.inventory import Registration, evaluate


# The real tiers' files take minutes each, the others seconds. scripts/test runs whole files on two workers
# (pytest-xdist `--dist loadfile --no-loadscope-reorder`), which take files in collection order: the long files
# first, then the short ones fill in, so neither worker ends the run alone on a long file.
TIERS_LONGEST_FIRST = ("sites", "cluster", "engine", "checkers")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def tier(item: pytest.Item) -> int:
        return next((rank for rank, marker in enumerate(TIERS_LONGEST_FIRST) if item.get_closest_marker(marker)),
                    len(TIERS_LONGEST_FIRST))

    items.sort(key=tier)  # stable: a file's tests keep their order


class Inventory(list):
    """A stack's registrations with small lookups for assertions."""

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self if r.type == type_token]

    def named(self, name: str) -> Registration:
        matches = [r for r in self if r.name == name]
        assert len(matches) == 1, f"expected one resource named {name}, found {len(matches)}"
        return matches[0]


@pytest.fixture(scope="session")
def local_without_charts(tmp_path_factory) -> Inventory:
    """The local stack with `charts.source: off` (the shipped one takes its charts from the chart mirror): what the
    components register when no chart is installed."""
    import yaml

    from stacks.loader import STACKS_DIR

    document = yaml.safe_load((STACKS_DIR / "Pulumi.local.yaml").read_text())
    document["config"]["complete-cluster:charts"] = {"source": "off"}
    path = tmp_path_factory.mktemp("charts-off") / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(document))
    return Inventory(evaluate("local", path))


@pytest.fixture(scope="session")
def inventory():
    cache: dict[str, Inventory] = {}

    def get(stack: str) -> Inventory:
        if stack not in cache:
            cache[stack] = Inventory(evaluate(stack))
        return cache[stack]

    return get


@pytest.fixture(scope="session")
def sites_with_storage_cas(tmp_path_factory):
    """onprem-dc1 and onprem-dc2 whose S3 endpoints' certificates internal CAs issued, each site its own CA made for the
    session (`storage.ca_certificate`, real PEMs from openssl): `(cas, inventory)`, `cas` the PEM per stack and
    `inventory(stack)` what the program registers for that site, each evaluated once."""
    import yaml

    from stacks.loader import STACKS_DIR
    from tests.engine.object_store import SiteTls

    directory = tmp_path_factory.mktemp("storage-cas")
    stacks = ("onprem-dc1", "onprem-dc2")
    cas = {stack: SiteTls.made(directory / stack, (f"s3.{stack.removeprefix('onprem-')}.example.com",)).ca_certificate.read_text()
           for stack in stacks}
    for stack in stacks:
        document = yaml.safe_load((STACKS_DIR / f"Pulumi.{stack}.yaml").read_text())
        document["config"]["complete-cluster:storage"]["ca_certificate"] = cas[stack]
        (directory / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    cache: dict[str, Inventory] = {}

    def get(stack: str) -> Inventory:
        if stack not in cache:
            cache[stack] = Inventory(evaluate(stack, directory / f"Pulumi.{stack}.yaml", sites=directory))
        return cache[stack]

    return cas, get
