"""The failover drill on two live control planes (issue 19 item 1), step by step as docs/runbooks/disaster-recovery.md
says, with the runbook's own commands read from it: dc1 and dc2 deployed, dc1 lost, the config change (a half-done
change refused by `pulumi preview`), the checks, `pulumi up` on dc2, then dc1 back as dc2's secondary. Each role is
asserted on what the API servers serve, and the drill ends with neither stack having anything to change.

Not here, and why: the Rancher layer (no Rancher server: the cluster's role label is checked offline in
tests/stacks/test_failover.py); Harbor (the engine has no pulumi-harbor provider plugin, which the sites' replication
needs: cluster_sites.NEEDS_OTHER_PROVIDERS); anything an operator does (no operator runs here: the promotion of a
standby is the postgres-operator's work once the `standby` section is gone), and data moved between the sites.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster_engine import engine_environment
from cluster_sites import SITES, Sites, backup_locations, environment_of, kafka_mirroring, postgres_clusters, runbook_commands
from conftest import started_together

pytestmark = pytest.mark.sites

DC1, DC2 = SITES
# What only a secondary of dc1 holds (its standbys' source, its read-only location on dc1's backups); none of it may be
# left on dc2 once it is the primary.
FOLLOWS_DC1 = ("s3.dc1.example.com", "dc1-postgres", "dc1-backups", "complete-cluster/standby-for", "kafka.dc1.example.com")


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    together = started_together(tmp_path_factory, list(SITES))
    planes = next(together)
    try:
        started = time.monotonic()
        deployed = Sites.deployed(tmp_path_factory.mktemp("sites") / "project", dict(zip(SITES, planes, strict=True)),
                                  engine_environment())
        with ThreadPoolExecutor(len(SITES)) as pool:  # two data centres, deployed side by side
            list(pool.map(lambda stack: deployed.stacks[stack]("up", "--yes"), SITES))
        print(f"\nboth sites deployed in {time.monotonic() - started:.0f}s (copy, CRDs, two parallel `pulumi up`)")
        yield deployed
    finally:
        together.close()


def assert_primary(sites: Sites, stack: str, bucket_prefix: str, secondary: str) -> None:
    """What a primary runs: PostgreSQL archiving its own WAL and following nobody, Velero writing to its own bucket
    only, Kafka serving its cross-site listener to the secondary's mirror user and mirroring nothing, and nothing of a
    secondary's role."""
    plane = sites.planes[stack]
    assert kafka_mirroring(plane) == {"site_listeners": [f"broker-{{nodeId}}.kafka.{bucket_prefix}.example.com"], "mirrors": [],
                                      "mirror_users": [f"mirror-{secondary}"]}
    clusters = postgres_clusters(plane)
    assert clusters
    for cluster in clusters:
        env = environment_of(cluster)
        assert "standby" not in cluster["spec"], cluster["spec"]["standby"]
        assert not [name for name in env if name.startswith("STANDBY_")]
        assert env["WAL_S3_BUCKET"] == f"{bucket_prefix}-postgres"
    locations = backup_locations(plane)
    assert set(locations) == {"default"}
    own = locations["default"]
    assert (own["accessMode"], own["objectStorage"]["bucket"]) == ("ReadWrite", f"{bucket_prefix}-backups")
    [schedule] = plane.get("schedules.velero.io", "-A")["items"]
    assert schedule["spec"]["template"]["storageLocation"] == "default"


def assert_secondary_of(sites: Sites, stack: str, bucket_prefix: str, primary: str) -> None:
    """What a secondary runs: standbys on the primary's WAL archive at the primary's endpoint, and a read-only location
    on the primary's backups beside its own writable one, and Kafka mirroring the primary's listener (MirrorMaker 2)."""
    plane = sites.planes[stack]
    assert kafka_mirroring(plane) == {"site_listeners": [], "mirrors": [(bucket_prefix, primary, f"kafka.{primary}.example.com:9094")],
                                      "mirror_users": [f"mirror-{bucket_prefix}"]}
    for cluster in postgres_clusters(plane):
        name, version = cluster["metadata"]["name"], cluster["spec"]["postgresql"]["version"]
        env = environment_of(cluster)
        assert cluster["spec"]["standby"] == {"s3_wal_path": f"s3://{primary}-postgres/spilo/{name}/wal/{version}"}
        assert env["STANDBY_AWS_ENDPOINT"] == f"https://s3.{primary}.example.com"
        assert env["WAL_S3_BUCKET"] == f"{bucket_prefix}-postgres"
    locations = backup_locations(plane)
    assert set(locations) == {"default", f"primary-{primary}"}
    own = locations["default"]
    assert (own["accessMode"], own["objectStorage"]["bucket"]) == ("ReadWrite", f"{bucket_prefix}-backups")
    read_only = locations[f"primary-{primary}"]
    assert (read_only["accessMode"], read_only["objectStorage"]["bucket"], read_only["config"]["s3Url"]) == (
        "ReadOnly", f"{primary}-backups", f"https://s3.{primary}.example.com")


def split_by_stack(commands: list[list[str]]) -> dict[str, list[list[str]]]:
    by_stack: dict[str, list[list[str]]] = {}
    for argv in commands:
        by_stack.setdefault(argv[argv.index("--stack") + 1], []).append(argv)
    return by_stack


def confirmed(argv: list[str]) -> list[str]:
    """An `up` from the runbook as an operator confirms it after reading its preview."""
    return [*argv, "--yes", "--non-interactive"] if argv[:2] == ["pulumi", "up"] else [*argv, "--non-interactive"]


def test_dc2_takes_over_from_dc1_and_dc1_returns_as_its_secondary_as_the_runbook_says(sites):
    started = time.monotonic()
    assert_primary(sites, DC1, "dc1", "dc2")
    assert_secondary_of(sites, DC2, "dc2", "dc1")
    counts = {stack: len(sites.live_objects(stack)) for stack in SITES}

    # Step 2: the config change, as the runbook writes it. dc2's half alone is refused before anything changes.
    change = split_by_stack(runbook_commands("2. **Make dc2 the primary"))
    assert set(change) == set(SITES)
    for argv in change[DC2]:
        sites.run(confirmed(argv))
    half_done = sites.run(["pulumi", "preview", "--stack", DC2, "--non-interactive"], check=False)
    assert half_done.returncode != 0
    assert "site.secondaries[0]: `onprem-dc1` is a primary, not a secondary" in half_done.stdout + half_done.stderr
    for argv in change[DC1]:
        sites.run(confirmed(argv))

    # Step 3: both files valid, the sites still alike where they must be.
    sites.run([".venv/bin/python", "-m", "stacks", "validate", DC1, DC2])
    sites.run([".venv/bin/python", "-m", "stacks", "parity", DC1, DC2])

    # Step 4: preview with the policy pack, then `up`, at dc2 only: dc1 is lost and nothing is asked of it.
    failover = time.monotonic()
    apply_at_dc2 = runbook_commands("4. **Apply at dc2:**")
    assert [argv[:2] for argv in apply_at_dc2] == [["pulumi", "preview"], ["pulumi", "up"]]
    for argv in apply_at_dc2:
        sites.run(confirmed(argv))
    failover_seconds = time.monotonic() - failover
    assert_primary(sites, DC2, "dc2", "dc1")
    left = [f"{o['kind']}/{o['metadata']['name']}: {s}" for o in sites.live_objects(DC2) for s in FOLLOWS_DC1 if s in json.dumps(o)]
    assert not left, left

    # Back to two sites, step 2: dc1 survived; its `up` makes it dc2's standby.
    sites.stacks[DC1]("up", "--yes")
    assert_secondary_of(sites, DC1, "dc1", "dc2")
    assert_primary(sites, DC2, "dc2", "dc1")
    sites.run([".venv/bin/python", "-m", "stacks", "parity", DC1, DC2])  # step 4

    for stack in SITES:  # nothing pending at either site, nor drift on either cluster
        sites.stacks[stack]("preview", "--refresh", "--expect-no-changes")
    print(f"\ndrill: {counts} objects live before; dc2's preview and up {failover_seconds:.0f}s; "
          f"whole drill after deployment {time.monotonic() - started:.0f}s")
