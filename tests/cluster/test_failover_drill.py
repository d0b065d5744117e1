"""The failover drill on two live control planes (issue 19 item 1), step by step as docs/runbooks/disaster-recovery.md
says, with the runbook's own commands read from it: dc1 and dc2 deployed, dc1 lost, the config change (a half-done
change refused by `pulumi preview`), the checks, `pulumi up` on dc2, then dc1 back as dc2's secondary. Each role is
asserted on what the API servers serve, and the drill ends with neither stack having anything to change.

Not here, and why: the Rancher layer (no Rancher server: the cluster's role label is checked offline in
tests/stacks/test_failover.py); Harbor (the engine has no pulumi-harbor provider plugin, which the sites' replication
needs: cluster_sites.NEEDS_OTHER_PROVIDERS); anything an operator does (no operator runs here: the promotion of a
standby is the postgres-operator's work once the `standby` section is gone), and data moved between the sites other
than by Velero.

Before the drill, the backups are restored (issue 19 item 2): Velero's server runs outside each plane against the sites'
S3 endpoints on loopback (TLS from a CA made for the run, which the stack files name as `storage.ca_certificate`, so the
locations verify it by `caCert`); dc1 backs up with its Schedule's template, loses its team namespaces and gets them
back unchanged; then, dc1 lost, dc2 restores from dc1's backups through its read-only location, as the runbook's
failover step 4 says. Not covered: volume data (no CSI driver, no volumes: no snapshots are taken) and file-system
backups (no node agent; the program runs none, docs/storage.md).
"""

from __future__ import annotations

import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from cluster_engine import engine_environment
from cluster_sites import (SITES, Sites, backup_locations, central_view, environment_of, kafka_mirroring, postgres_clusters,
                           runbook_commands, site_config)
from cluster_velero import SCHEDULE, Velero, built, comparable, gone, serving
from conftest import started_together
from tests.engine.object_store import HostProxy, ObjectStore, SiteTls, started

pytestmark = pytest.mark.sites

DC1, DC2 = SITES
# What only a secondary of dc1 holds (its standbys' source, its read-only location on dc1's backups); none of it may be
# left on dc2 once it is the primary.
FOLLOWS_DC1 = ("s3.dc1.example.com", "dc1-postgres", "dc1-backups", "complete-cluster/standby-for", "kafka.dc1.example.com")


@dataclass(frozen=True)
class SiteStorage:
    """Both sites' S3 endpoints as one moto server over TLS, reached by their host names through `proxy`."""

    store: ObjectStore
    proxy: HostProxy


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    """The storage administrators' part: the endpoints the stack files name, with their backups buckets."""
    configs = [site_config(stack)[0]["complete-cluster:storage"] for stack in SITES]
    hosts = tuple(str(urlsplit(c["endpoint"]).hostname) for c in configs)
    directory = tmp_path_factory.mktemp("storage")
    serving_store = started(directory / "moto.log", tls=SiteTls.made(directory, hosts))
    store = next(serving_store)
    proxy = HostProxy(hosts, ("127.0.0.1", int(str(urlsplit(store.endpoint).port))))
    try:
        for config in configs:
            store.client().create_bucket(Bucket=config["buckets"]["backups"])
        yield SiteStorage(store, proxy)
    finally:
        proxy.close()
        serving_store.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory, storage):
    together = started_together(tmp_path_factory, list(SITES))
    planes = next(together)
    try:
        started = time.monotonic()
        assert storage.store.tls is not None
        deployed = Sites.deployed(tmp_path_factory.mktemp("sites") / "project", dict(zip(SITES, planes, strict=True)),
                                  engine_environment(), storage.store.tls.ca_certificate.read_text())
        with ThreadPoolExecutor(len(SITES)) as pool:  # two data centres, deployed side by side
            list(pool.map(lambda stack: deployed.stacks[stack]("up", "--yes"), SITES))
        print(f"\nboth sites deployed in {time.monotonic() - started:.0f}s (copy, CRDs, two parallel `pulumi up`)")
        yield deployed
    finally:
        together.close()


def assert_primary(sites: Sites, stack: str, bucket_prefix: str, secondary: str) -> None:
    """What a primary runs: PostgreSQL archiving its own WAL and following nobody, Velero writing to its own bucket
    only, Kafka serving its cross-site listener to the secondary's mirror user and mirroring nothing, the central view's
    receiving side with SiteDown watching the secondary, and nothing of a secondary's role."""
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
    # The central view receives here: the secondaries' metrics and logs arrive at this site's telemetry host, and
    # SiteDown watches each secondary.
    view = central_view(plane)
    assert view["site_down_watches"] == [secondary], view
    assert view["receivers"] and {host for _, host in view["receivers"]} == {f"telemetry.{bucket_prefix}.example.com"}, view
    assert "central-remote-write" in {name for name, _ in view["receivers"]}, view


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
    # Nothing of the central view's receiving side, and no SiteDown: a secondary sends, the primary watches.
    assert central_view(plane) == {"site_down_watches": [], "receivers": []}


def split_by_stack(commands: list[list[str]]) -> dict[str, list[list[str]]]:
    by_stack: dict[str, list[list[str]]] = {}
    for argv in commands:
        by_stack.setdefault(argv[argv.index("--stack") + 1], []).append(argv)
    return by_stack


def confirmed(argv: list[str]) -> list[str]:
    """An `up` from the runbook as an operator confirms it after reading its preview."""
    return [*argv, "--yes", "--non-interactive"] if argv[:2] == ["pulumi", "up"] else [*argv, "--non-interactive"]


def team_namespaces(sites: Sites, stack: str) -> list[str]:
    """The namespaces of the stack's teams (`<team>`, and `<team>-...` such as its data namespace), from its state."""
    teams = [team["name"] for team in site_config(stack)[0]["complete-cluster:teams"]]
    return sorted(o["metadata"]["name"] for o in sites.live_objects(stack) if o["kind"] == "Namespace"
                  and any(o["metadata"]["name"] == t or o["metadata"]["name"].startswith(f"{t}-") for t in teams))


def ours_in(sites: Sites, stack: str, namespaces: list[str]) -> dict[tuple[str, str, str], dict]:
    """Every object of the stack's state in `namespaces` (and those namespaces), as the API server serves it now."""
    def key(o: dict) -> tuple[str, str, str]:
        return o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]
    return {key(o): comparable(o) for o in sites.live_objects(stack)
            if o["metadata"].get("namespace", o["metadata"]["name"] if o["kind"] == "Namespace" else None) in namespaces}


def problems_logged(store: ObjectStore, bucket: str, key: str) -> list[str]:
    """The errors and warnings of a backup's or restore's log, which Velero keeps gzipped beside it in the bucket; printed
    in full (with -s), as an assertion's message is cut short."""
    lines = gzip.decompress(store.read(bucket, key)).decode().splitlines()
    problems = [line[:600] for line in lines if '"level":"error"' in line or '"level":"warning"' in line][:40]
    print(f"{key}:", *problems, sep="\n  ")
    return problems


def backed_up(velero: Velero, store: ObjectStore, bucket: str, prefix: str, name: str) -> dict:
    """A backup taken from the Schedule's template (`velero backup create --from-schedule`), once it is complete."""
    started = time.monotonic()
    velero.cli("backup", "create", name, "--from-schedule", SCHEDULE, "--wait")
    status = velero.finished("backups", name)
    if (status["phase"], status.get("errors", 0)) != ("Completed", 0):
        raise AssertionError((status, problems_logged(store, bucket, f"{prefix}/backups/{name}/{name}-logs.gz")))
    print(f"backup {name}: {status['progress']['itemsBackedUp']} items in {time.monotonic() - started:.1f}s, "
          f"{status.get('warnings', 0)} warnings")
    return status


def restored(velero: Velero, store: ObjectStore, bucket: str, prefix: str, backup: str, name: str, namespaces: list[str]) -> dict:
    """`velero restore create` of `namespaces` from `backup`, once complete; its warnings (Velero's results file) printed."""
    started = time.monotonic()
    velero.cli("restore", "create", name, "--from-backup", backup, "--include-namespaces", ",".join(namespaces), "--wait")
    status = velero.finished("restores", name)
    kept = f"{prefix}/restores/{name}/"
    if (status["phase"], status.get("errors", 0)) != ("Completed", 0):
        raise AssertionError((status, problems_logged(store, bucket, f"{kept}restore-{name}-logs.gz")))
    results = json.loads(gzip.decompress(store.read(bucket, f"{kept}restore-{name}-results.gz")))
    print(f"restore {name}: {status['progress']['itemsRestored']} items in {time.monotonic() - started:.1f}s, "
          f"{status.get('warnings', 0)} warnings: {results['warnings']}")
    return status


def test_the_sites_backups_restore_at_the_site_and_at_the_other_after_its_loss(sites, storage, tmp_path):
    """dc1's team namespaces backed up from its Schedule, deleted, restored: every object of ours back unchanged and
    nothing for `pulumi up` to do. Then dc1 is lost: dc2 sees dc1's backup through `primary-dc1` and restores from it
    what it lacks (an object a team made at dc1 only), leaving its own objects as they were."""
    started = time.monotonic()
    build = built()
    print(f"\nvelero built or reused in {time.monotonic() - started:.1f}s")
    dc1, dc2 = sites.planes[DC1], sites.planes[DC2]
    namespaces = team_namespaces(sites, DC1)
    assert namespaces and namespaces == team_namespaces(sites, DC2)
    teams_own = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settlement-rules", "namespace": namespaces[0]},
                 "data": {"cutoff": "17:00"}}  # what a team's own release made at dc1 (not in any stack's state)
    dc1.apply(teams_own)
    before = ours_in(sites, DC1, namespaces)

    with serving(dc1, build, tmp_path / "dc1", storage.proxy.url) as velero:
        velero.available("default")
        backup = f"{SCHEDULE}-before-the-drill"
        backed_up(velero, storage.store, "dc1-backups", "prod-dc1", backup)
        assert storage.store.keys("dc1-backups", f"prod-dc1/backups/{backup}/"), "nothing in dc1-backups"
        dc1.kubectl("delete", "namespace", *namespaces, "--wait=false")
        gone(dc1, namespaces)
        restored(velero, storage.store, "dc1-backups", "prod-dc1", backup, f"{backup}-at-dc1", namespaces)
    after = ours_in(sites, DC1, namespaces)
    assert after == before
    assert dc1.get("configmap", "settlement-rules", "-n", namespaces[0])["data"] == teams_own["data"]
    sites.stacks[DC1]("preview", "--refresh", "--expect-no-changes")

    # dc1 is lost; before dc2's failover `up` removes `primary-dc1`, dc2 restores what it lacks from dc1's last backup.
    assert not dc2.kubectl("get", "configmap", "settlement-rules", "-n", namespaces[0], check=False).stdout
    dc2_before = ours_in(sites, DC2, namespaces)
    with serving(dc2, build, tmp_path / "dc2", storage.proxy.url) as velero:
        velero.available("default")
        velero.available(f"primary-{DC1.rsplit('-', 1)[1]}")
        synced = dc2.wait_until(f"{backup} synced from dc1's location into dc2 (server log: {velero.log})",
                                lambda: dc2.kubectl("get", "backups.velero.io", backup, "-n", "velero", check=False).returncode == 0,
                                timeout=150)  # the backup sync controller looks once a minute
        assert synced and velero.get("backups", backup)["spec"]["storageLocation"] == "primary-dc1"
        # Velero keeps a restore's log and results beside its backup, so even through the read-only location dc2 writes
        # into dc1's bucket: dc2's credentials need write access there (`restores/` only), or the restore fails.
        restored(velero, storage.store, "dc1-backups", "prod-dc1", backup, f"{backup}-at-dc2", namespaces)
        assert storage.store.keys("dc1-backups", f"prod-dc1/restores/{backup}-at-dc2/")
    assert ours_in(sites, DC2, namespaces) == dc2_before
    assert dc2.get("configmap", "settlement-rules", "-n", namespaces[0])["data"] == teams_own["data"]
    print(f"backups and restores: {len(before)} objects of ours in {namespaces}; {time.monotonic() - started:.0f}s in all; "
          f"{storage.proxy.tunnels} TLS tunnels to the endpoints")


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
