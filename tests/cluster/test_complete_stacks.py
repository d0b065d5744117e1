"""Complete stacks applied to a real control plane with `pulumi up`, as `kind: existing` stacks: `local` (a dev stack:
members may edit, exec and read Secrets) with every chart, on fake nodes with the dev stack's pools, and `prod`
(members only view; stateful resources protected) with its charts off, on a control plane of its own whose fake nodes
mirror prod's pools. What is applied and what each check asks is in `cluster_complete.py`; what the charts need here
that a cluster gives them is in docs/cluster.md ("The complete cluster with every chart").
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

import cluster_complete as complete
from cluster_plane import POOLS_STACK
from conftest import started

pytestmark = pytest.mark.cluster

# Each stack: the stack whose node pools its fake nodes mirror (local renders, so it has none: dev's), and whether it
# installs every chart from the offline chart mirror or keeps its charts off with the operators' CRDs applied by hand.
# `local` installs every chart, as a newcomer's cluster would: cert-manager's webhook answers from the host
# (`complete.serve_cert_manager`), and what else a cluster gives charts and nothing runs here to give is in
# docs/cluster.md. `prod` keeps them off, as a cluster whose operators are managed elsewhere.
# CLUSTER_TIER_CHARTS=off runs local with its charts off too.
STACKS = {"local": ("dev", os.environ.get("CLUSTER_TIER_CHARTS") != "off"), "prod": ("prod", False)}


@pytest.fixture(scope="module", params=list(STACKS))
def applied(request, tmp_path_factory):
    stack, (pools, charts) = request.param, STACKS[request.param]
    with contextmanager(started)(tmp_path_factory, pools) if pools != POOLS_STACK else _session(request) as plane:
        config, secrets = complete.config_as_existing(stack, complete.serve_cert_manager(plane) if charts else None)
        directory = tmp_path_factory.mktemp(stack) / "project"
        yield from complete.apply(plane, directory, f"cluster-{stack}", config, secrets)


@contextmanager
def _session(request):
    yield request.getfixturevalue("control_plane")


@pytest.fixture(scope="module")
def settled(applied):
    """The stack after its second `up` and a `refresh`, both with nothing to change (once: each takes about a minute
    with every chart)."""
    complete.settle(applied)
    return applied


@pytest.fixture(scope="module")
def ran(applied):
    complete.run_scheduled_jobs(applied)
    return applied


def test_every_object_is_applied_and_a_second_up_and_a_refresh_find_nothing_to_change(settled):
    count = complete.check_every_object_applied(settled)
    print(f"\n{settled.name}: pulumi up applied {count} Kubernetes objects in {settled.seconds:.0f}s")


def test_generated_passwords_stay_secrets_and_are_what_the_cluster_holds(settled):
    count = complete.check_generated_passwords(settled)
    print(f"\n{settled.name}: {count} generated passwords, ciphertext in state, in their Secrets unchanged")


def test_every_pod_is_admitted_within_quota_and_runs_on_a_pool_its_tolerations_allow(ran):
    pods = complete.check_pods(ran)
    print(f"\n{ran.name}: {len(pods)} pods on {sorted({p['spec']['nodeName'] for p in pods})}")


def test_the_data_services_ask_for_the_database_pool_and_the_scheduler_puts_their_pods_there(applied):
    probes = complete.check_data_services_placed_on_the_database_pool(applied)
    print(f"\n{applied.name}: {probes} data-service pod kinds scheduled onto the database pool")


def test_the_packs_pod_security_verdict_on_each_template_is_the_admissions_on_its_pods(ran):
    compared = complete.check_pod_security_agreement(ran)
    print(f"\n{ran.name}: {len(compared)} templates agree with admission")


def test_the_pack_and_admission_agree_on_each_template_changed_where_pod_security_looks(ran):
    cases, refused, invalid = complete.check_pod_security_mutations(ran)
    print(f"\n{ran.name}: {cases} changed templates, {refused} refused, {cases - refused - invalid} admitted, {invalid} not valid "
          f"pods (host namespaces); pack and admission agree")


def test_team_access_is_what_the_environment_promises_and_stays_in_the_teams_own_namespace(applied):
    complete.check_team_access(applied)


def test_network_policies_are_present_though_nothing_here_enforces_them(applied):
    complete.check_network_policies_present(applied)


def test_destroy_leaves_nothing_of_the_stack_behind(applied):
    complete.check_destroy(applied)
