"""The offline policy review: the engine's view of each resource, the pack behind pulumi-policy's
analyzer service, the verdicts and exit codes, and the text and Markdown reports."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from google.protobuf import json_format

from policies.pack import BY_NAME
from stacks.tools import review as rv
from stacks.tools.cli import main as stacks_main
from stacks.tools.inventory import Registration

ROOT = Path(__file__).resolve().parents[2]
STACKS = ["local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2"]
CONFIG = ROOT / "policies" / "config"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
SIG = "4dabf18193072939515e22adb298388d"

# A Pod that meets the restricted standard and every workload policy.
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "team-a"},
    "spec": {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "app",
                "image": "registry.example.com/team-a/web:1.4.2",
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "128Mi"}},
            }
        ],
    },
}
DEFAULT_DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "default-deny", "namespace": "team-a"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}
PRIVILEGED = 'privileged: container "app" must not set securityContext.privileged=true'


def registrations(pod: dict) -> list[Registration]:
    """A small stack: the composing component, a team with a Pod and its default-deny policy."""
    return [
        Registration("platform:index:CompleteCluster", "platform", "pulumi:pulumi:Stack::complete-cluster-review", {}, custom=False),
        Registration("platform:access:Team", "team-a", "platform:index:CompleteCluster::platform", {}, custom=False),
        Registration("kubernetes:networking.k8s.io/v1:NetworkPolicy", "team-a-default-deny", "platform:access:Team::team-a", DEFAULT_DENY),
        Registration(
            "kubernetes:core/v1:Pod",
            "web",
            "platform:access:Team::team-a",
            pod,
            options={"depends_on": ["kubernetes:networking.k8s.io/v1:NetworkPolicy::team-a-default-deny"]},
        ),
    ]


@pytest.fixture
def pod() -> dict:
    return copy.deepcopy(POD)


def run(stack: str, **options) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = rv.main(stack, out=out, err=err, **options)
    return code, out.getvalue(), err.getvalue()


# --- every shipped stack --------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_passes_its_environments_mandatory_policies(inventory, stack):
    code, out, err = run(stack)
    count = len(inventory(stack))
    assert (code, err) == (0, ""), out
    lines = out.splitlines()
    environment = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]["complete-cluster:environment"]
    assert lines[0] == (
        f"Policy review of stack {stack} (environment {environment}): pack complete-cluster 0.1.0, "
        f"config policies/config/{environment}.json + stack {stack} (python -m stacks policy-config {stack})"
    )
    assert lines[-1].startswith(f"{stack}: {count} resource{'' if count == 1 else 's'} analysed, ")
    verdict, _, note = lines[-1].partition("; ")
    assert verdict.endswith(" 0 mandatory violations") or verdict.endswith(" 0 mandatory violation")
    # The charts' objects are not seen under the mocks, and the verdict says so (no chart: nothing to say).
    charts = inventory(stack).of_type("kubernetes:helm.sh/v4:Chart")
    assert note.startswith(f"not evaluated: the objects of {len(charts)} chart") if charts else note == ""


def test_the_local_stack_fails_the_test_environments_rbac_rules():
    """Dev roles may exec into pods; the same resources under test's config are rejected."""
    code, out, err = run("local", config=CONFIG / "test.json")
    assert (code, err) == (1, "")
    blocks = out.split("\n\n")
    assert blocks[1].splitlines()[0] == "rbac-least-privilege (mandatory)"
    findings = blocks[1].splitlines()[1:]
    assert [line.split(": ", 1)[0] for line in findings] == [
        "  kubernetes:rbac.authorization.k8s.io/v1:Role::team-payments-role",
        "  kubernetes:rbac.authorization.k8s.io/v1:Role::team-search-role",
    ]
    for line in findings:
        assert '"pods/exec"' in line and line.endswith(
            "exec, attach and port-forward into pods are not allowed in this environment (use logs, metrics and traces, or debug in dev)"
        )
    assert blocks[-1].rstrip("\n").partition("; ")[0].endswith(", 0 advisory, 2 mandatory violations")


# --- verdicts on synthetic resources ---------------------------------------------------------------


def test_a_compliant_stack_has_no_violations(pod):
    result = rv.analyse(rv.from_registrations(registrations(pod)), "review", "prod")
    assert result.violations == []
    assert result.passed


def test_a_privileged_pod_is_a_mandatory_violation_in_prod(pod):
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    result = rv.analyse(rv.from_registrations(registrations(pod)), "review", "prod")
    assert [(v.policy, v.enforcement, v.resource, v.message) for v in result.violations] == [
        ("pod-security", "mandatory", "kubernetes:core/v1:Pod::web", PRIVILEGED),
    ]
    assert result.violations[0].description == BY_NAME["pod-security"].description
    assert not result.passed


def test_the_cli_exits_1_on_a_mandatory_violation(monkeypatch, pod):
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    monkeypatch.setattr(rv, "record", lambda stack, path=None: rv.from_registrations(registrations(pod), stack))
    code, out, err = run("prod", config=CONFIG / "prod.json")  # the environment's file: any registry
    assert (code, err) == (1, "")
    assert out == (
        "Policy review of stack prod (environment prod): pack complete-cluster 0.1.0, config policies/config/prod.json\n"
        "\n"
        "pod-security (mandatory)\n"
        f"  kubernetes:core/v1:Pod::web: {PRIVILEGED}\n"
        "\n"
        "prod: 4 resources analysed, 0 advisory, 1 mandatory violation\n"
    )


def test_the_stack_registries_reach_the_pack_by_default(monkeypatch, pod):
    monkeypatch.setattr(rv, "record", lambda stack, path=None: rv.from_registrations(registrations(pod), stack))
    code, out, err = run("prod")  # prod allows only platformacr.azurecr.io
    assert code == 1
    assert (
        '  kubernetes:core/v1:Pod::web: Pod "web": container "app" image "registry.example.com/team-a/web:1.4.2" is not from an '
        "allowed registry (platformacr.azurecr.io); push or mirror it there and reference it by that name"
    ) in out.splitlines()


def test_advisory_violations_alone_exit_0(monkeypatch, pod):
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["containers"][0]["image"] = "docker.io/library/nginx:latest"
    monkeypatch.setattr(rv, "record", lambda stack, path=None: rv.from_registrations(registrations(pod), stack))
    code, out, err = run("local", config=CONFIG / "dev.json")  # environment dev: everything advisory
    assert (code, err) == (0, "")
    assert out == (
        "Policy review of stack local (environment dev): pack complete-cluster 0.1.0, config policies/config/dev.json\n"
        "\n"
        "pod-security (advisory)\n"
        f"  kubernetes:core/v1:Pod::web: {PRIVILEGED}\n"
        "\n"
        "workload-images (advisory)\n"
        '  kubernetes:core/v1:Pod::web: Pod "web": container "app" image "docker.io/library/nginx:latest" uses the mutable tag "latest"; '
        'pin a version tag or a digest (@sha256:...)\n'
        "\n"
        "local: 4 resources analysed, 2 advisory, 0 mandatory violations\n"
    )


def test_unknown_values_are_undecided_and_the_rest_is_still_checked(pod):
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = "[unknown]"
    pod["spec"]["securityContext"]["runAsNonRoot"] = "[unknown]"
    result = rv.analyse(rv.from_registrations(registrations(pod)), "review", "prod")
    assert [(v.policy, v.message) for v in result.violations] == [("pod-security", PRIVILEGED)]


def test_stack_policies_see_the_protect_option():
    account = {
        "enableHttpsTrafficOnly": True,
        "minimumTlsVersion": "TLS1_2",
        "allowBlobPublicAccess": False,
        "sku": {"name": "Standard_RAGZRS"},
    }
    stack = [
        Registration("azure-native:storage:StorageAccount", "backups", None, account, options={"protect": False}),
        Registration("azure-native:storage:StorageAccount", "registry", None, account, options={"protect": True}),
    ]
    result = rv.analyse(rv.from_registrations(stack), "review", "prod")
    assert [(v.policy, v.enforcement, v.resource) for v in result.violations] == [
        ("stateful-protection", "mandatory", "azure-native:storage:StorageAccount::backups"),
    ]
    assert rv.analyse(rv.from_registrations(stack), "review", "dev").violations == []


def test_a_stack_policy_reports_namespaces_without_default_deny(pod):
    stack = [registration for registration in registrations(pod) if registration.name != "team-a-default-deny"]
    stack[-1].options = {}
    result = rv.analyse(rv.from_registrations(stack), "review", "test")
    assert [(v.policy, v.enforcement, v.resource) for v in result.violations] == [
        ("namespace-default-deny", "mandatory", "kubernetes:core/v1:Pod::web"),
    ]


# --- what reaches the pack -------------------------------------------------------------------------


def test_engine_urns_chain_parent_types_and_leave_out_the_root_stack():
    root = rv.engine_urn("prod", "cc", "pulumi:pulumi:Stack", "cc-prod")
    assert root == "urn:pulumi:prod::cc::pulumi:pulumi:Stack::cc-prod"
    top = rv.engine_urn("prod", "cc", "platform:index:CompleteCluster", "platform", root)
    assert top == "urn:pulumi:prod::cc::platform:index:CompleteCluster::platform"
    team = rv.engine_urn("prod", "cc", "platform:access:Team", "team-a", top)
    role = rv.engine_urn("prod", "cc", "kubernetes:rbac.authorization.k8s.io/v1:Role", "team-a-role", team)
    assert (
        role
        == "urn:pulumi:prod::cc::platform:index:CompleteCluster$platform:access:Team"
        "$kubernetes:rbac.authorization.k8s.io/v1:Role::team-a-role"
    )
    assert rv.resource_key(role) == "kubernetes:rbac.authorization.k8s.io/v1:Role::team-a-role"


def test_wire_values_become_what_the_engine_sends_analyzers():
    unknown = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    resource_sig = "5cf8f73096256a8f31e491e813e4eb8e"
    output_sig = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
    urns = {"urn:pulumi:stack::project::platform:access:Team::t": "urn:pulumi:prod::cc::platform:access:Team::t"}
    sent = {
        "password": {SIG: SECRET_SIG, "value": "s3cret"},
        "later": unknown,
        "custom": {SIG: resource_sig, "urn": "urn:x", "id": "bucket-1"},
        "pending": {SIG: resource_sig, "urn": "urn:x", "id": ""},
        "component": {SIG: resource_sig, "urn": "urn:pulumi:stack::project::platform:access:Team::t"},
        "output": {SIG: output_sig, "value": "v", "secret": True},
        "unknownOutput": {SIG: output_sig},
        "__defaults": ["internal"],
        "nested": {"__inputs": 1, "list": [{"x": unknown}], "none": None},
    }
    assert rv.engine_value(sent, urns) == {
        "password": {SIG: SECRET_SIG, "value": "s3cret"},
        "later": unknown,
        "custom": "bucket-1",
        "pending": unknown,
        "component": "urn:pulumi:prod::cc::platform:access:Team::t",
        "output": {SIG: SECRET_SIG, "value": "v"},
        "unknownOutput": unknown,
        "nested": {"list": [{"x": unknown}], "none": None},
    }


def test_the_inventorys_readable_forms_map_back_to_secrets_and_unknowns(pod):
    pod["metadata"]["annotations"] = {"token": "[secret]", "later": "[unknown]"}
    resources = rv.from_registrations(registrations(pod))
    analyzer = rv.PackAnalyzer(CONFIG / "prod.json")
    request = analyzer.analyze_request(resources[-1], {r.urn: r for r in resources})
    properties = json_format.MessageToDict(request.properties)
    assert properties["metadata"]["annotations"] == {"token": {SIG: SECRET_SIG, "value": rv.UNKNOWN}, "later": rv.UNKNOWN}
    assert (
        request.urn
        == "urn:pulumi:review::complete-cluster::platform:index:CompleteCluster$platform:access:Team$kubernetes:core/v1:Pod::web"
    )
    assert request.options.parent == "urn:pulumi:review::complete-cluster::platform:index:CompleteCluster$platform:access:Team::team-a"


@pytest.mark.parametrize("text, seconds", [("", 0.0), ("0", 0.0), ("10m", 600.0), ("1h30m", 5400.0), ("1.5s", 1.5), ("250ms", 0.25)])
def test_custom_timeouts_parse_like_go_durations(text, seconds):
    assert rv.duration_seconds(text) == seconds


def test_invalid_durations_are_rejected():
    with pytest.raises(ValueError):
        rv.duration_seconds("10 minutes")


def test_the_recording_keeps_the_raw_requests_in_engine_form(inventory):
    resources = rv.record("local")
    registrations_ = {f"{r.type}::{r.name}": r for r in inventory("local")}
    assert resources[0].type == "pulumi:pulumi:Stack"
    assert sorted(r.key for r in resources[1:]) == sorted(registrations_)  # the same resources (order varies: RPCs run on threads)
    by_urn = {r.urn: r for r in resources}
    assert resources[0].urn == "urn:pulumi:local::complete-cluster::pulumi:pulumi:Stack::complete-cluster-local"
    for resource in resources[1:]:
        assert resource.urn.startswith("urn:pulumi:local::complete-cluster::")
        assert resource.parent in by_urn, resource.urn
        for dependency in resource.dependencies:
            assert dependency in by_urn, dependency
        if resource.custom and resource.type.startswith("kubernetes:"):
            provider_urn, _, provider_id = resource.provider.rpartition("::")
            assert by_urn[provider_urn].type == "pulumi:providers:kubernetes"
            assert provider_id
    for resource in resources[1:]:
        registration = registrations_[resource.key]
        assert sorted(rv.resource_key(urn) for urn in resource.dependencies) == registration.options["depends_on"]
        assert resource.protect is registration.options["protect"]
        assert resource.inputs == _numbers_as_floats(registration.inputs)  # no secrets, unknowns or references in local


def _numbers_as_floats(value):
    if isinstance(value, dict):
        return {key: _numbers_as_floats(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# --- layers and reports ----------------------------------------------------------------------------


def test_layers_are_the_areas_of_the_components_under_the_complete_cluster():
    stack = [
        Registration("platform:index:CompleteCluster", "platform", None, {}, custom=False),
        Registration("platform:infrastructure:AksCluster", "aks", "platform:index:CompleteCluster::platform", {}, custom=False),
        Registration("azure-native:containerservice:ManagedCluster", "aks-cluster", "platform:infrastructure:AksCluster::aks", {}),
        Registration("platform:services:Postgres", "postgres", "platform:index:CompleteCluster::platform", {}, custom=False),
        Registration("platform:access:Team", "team-a", "platform:index:CompleteCluster::platform", {}, custom=False),
        Registration("platform:workloads:Api", "team-a-api", "platform:access:Team::team-a", {}, custom=False),
        Registration("kubernetes:apps/v1:Deployment", "team-a-api", "platform:workloads:Api::team-a-api", {}),
        Registration("kubernetes:core/v1:ConfigMap", "loose", "platform:index:CompleteCluster::platform", {}),
        Registration("random:index:RandomPassword", "outside", None, {}),
    ]
    assert rv.layer_counts(rv.from_registrations(stack)[1:]) == [
        ("access", 2, 1),
        ("infrastructure", 1, 1),
        ("kubernetes:core/v1:ConfigMap", 0, 1),
        ("services", 1, 0),
        ("(top level)", 1, 1),
    ]


def test_markdown_report(pod):
    pod["spec"]["containers"][0]["securityContext"]["privileged"] = True
    pod["spec"]["containers"][0]["image"] = "docker.io/library/nginx:latest"
    config = CONFIG / "dev.json"
    stack = registrations(pod) + [
        Registration("platform:services:Redis", "redis", "platform:index:CompleteCluster::platform", {}, custom=False)
    ]
    result = rv.analyse(rv.from_registrations(stack, "dev"), "dev", "dev", config)
    assert rv.render_markdown(result) == (
        "<!-- stacks review: dev -->\n"
        "## Policy review: stack `dev` (environment `dev`)\n"
        "\n"
        "**passed**: 5 resources analysed by pack `complete-cluster` 0.1.0 with `policies/config/dev.json`; 0 mandatory, 2 advisory "
        "violations.\n"
        "\n"
        "### Resources by layer\n"
        "\n"
        "| Layer | Components | Resources |\n"
        "|---|---:|---:|\n"
        "| access | 1 | 2 |\n"
        "| services | 1 | 0 |\n"
        "| (top level) | 1 | 0 |\n"
        "| **Total** | **3** | **2** |\n"
        "\n"
        "### Policy violations\n"
        "\n"
        "| Policy | Enforcement | Resource | Message |\n"
        "|---|---|---|---|\n"
        f"| `pod-security` | advisory | `kubernetes:core/v1:Pod::web` | {PRIVILEGED} |\n"
        '| `workload-images` | advisory | `kubernetes:core/v1:Pod::web` | Pod "web": container "app" image '
        '"docker.io/library/nginx:latest" uses the mutable tag "latest"; pin a version tag or a digest (@sha256:...) |\n'
    )


def test_markdown_puts_mandatory_first_and_escapes_cells():
    result = rv.Review(
        "prod", "prod", "policies/config/prod.json", "complete-cluster", "0.1.0", [],
        rv._sorted(
            [
                rv.Violation("workload-images", "advisory", "kubernetes:core/v1:Pod::a", "x"),
                rv.Violation("namespace-default-deny", "mandatory", None, "a | b\nc"),
                rv.Violation("pod-security", "mandatory", "kubernetes:core/v1:Pod::b", "y"),
            ],
            ["pod-security", "workload-images", "namespace-default-deny"],
        ),
    )
    assert rv.render_markdown(result).split("### Policy violations\n\n")[1] == (
        "| Policy | Enforcement | Resource | Message |\n"
        "|---|---|---|---|\n"
        "| `pod-security` | mandatory | `kubernetes:core/v1:Pod::b` | y |\n"
        "| `namespace-default-deny` | mandatory | (stack) | a \\| b<br>c |\n"
        "| `workload-images` | advisory | `kubernetes:core/v1:Pod::a` | x |\n"
    )
    assert "**failed**: 0 resources analysed" in rv.render_markdown(result)


def test_markdown_for_a_shipped_stack(inventory, capsys):
    assert stacks_main(["review", "local", "--markdown"]) == 0
    out = capsys.readouterr().out
    registrations_ = inventory("local")
    components = sum(1 for r in registrations_ if not r.custom)
    assert out.startswith("<!-- stacks review: local -->\n## Policy review: stack `local` (environment `dev`)\n\n**passed**: ")
    assert "| Layer | Components | Resources |\n|---|---:|---:|\n| access | " in out
    assert f"| **Total** | **{components}** | **{len(registrations_) - components}** |\n" in out
    assert out.endswith("### Policy violations\n\nNo policy violations.\n")


def test_a_sites_review_says_what_each_data_service_holds_at_a_failover():
    from stacks.loader import load

    rebuilt = "rebuilt empty: nothing replicates it between the sites; the secondary's instances take over without the primary's data"
    expected = [
        ("PostgreSQL", "replicated: the secondary's clusters are standbys of the primary's WAL archive and are promoted; what the "
                       "primary wrote after its last archived WAL segment is lost"),
        ("Harbor", "replicated: the secondary pulls the primary's images"),
        ("Redis", f"{rebuilt} (`services.redis.at_failover`)"),
        ("RabbitMQ", f"{rebuilt} (`services.rabbitmq.at_failover`)"),
        ("Kafka", "mirrored: MirrorMaker 2 at the secondary copies every team topic under its own name, with the teams' "
                  "consumer-group offsets; what the primary wrote within the mirror's lag is lost, and the promoted site stops "
                  "mirroring (`services.kafka.at_failover`)"),
    ]
    for stack in ("onprem-dc1", "onprem-dc2"):
        assert rv.failover_rows(load(stack)) == expected
    assert rv.failover_rows(load("prod")) == []  # one site: no failover to describe
    result = rv.Review("onprem-dc2", "prod", "policies/config/prod.json", "complete-cluster", "0.1.0", [], [])
    result.config = load("onprem-dc2")
    assert rv._markdown_failover(result).splitlines()[:5] == [
        "### At a failover", "", "| Service | What the secondary holds when it becomes the primary |", "|---|---|",
        f"| PostgreSQL | {expected[0][1]} |",
    ]
    assert f"  Redis: {expected[2][1]}" in rv.render_text(result)


# --- bad config ------------------------------------------------------------------------------------


@pytest.fixture
def bad_stack(tmp_path) -> Path:
    document = yaml.safe_load((ROOT / "stacks" / "Pulumi.local.yaml").read_text())
    document["config"]["complete-cluster:teams"][0]["nmae"] = "typo"
    path = tmp_path / "Pulumi.local.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_bad_stack_config_exits_1_with_the_message(bad_stack):
    code, out, err = run("local", path=bad_stack)
    assert (code, out) == (1, "")
    assert err == f"{bad_stack} has 1 problem:\n  - teams[0].nmae: unknown key (did you mean `name`?)\n"


def test_bad_policy_config_exits_1_with_the_message(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"all": "strict"}')
    assert run("local", config=broken) == (
        1,
        "",
        f'{broken}: parsing enforcement level for "all": "strict" is not a valid enforcement level\n',
    )
    invalid = tmp_path / "invalid.json"
    invalid.write_text('{"pod-security": {"level": "strict"}}')
    assert run("local", config=invalid) == (
        1,
        "",
        f'{invalid}: invalid policy config:\n  pod-security: level: level must be one of the following: "baseline", "restricted"\n',
    )


def test_the_command_line_prints_no_traceback(bad_stack):
    done = subprocess.run([sys.executable, "-m", "stacks", "review", str(bad_stack)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"{bad_stack} has 1 problem:\n  - teams[0].nmae: unknown key (did you mean `name`?)\n"


def test_the_verdict_names_the_charts_whose_objects_it_did_not_see(pod):
    """Under the mocks a chart is one resource; the review says which charts' objects it did not evaluate."""
    stack = registrations(pod) + [
        Registration("kubernetes:helm.sh/v4:Chart", "platform-ingress-chart", "platform:index:CompleteCluster::platform",
                     {"chart": "ingress-nginx", "version": "4.14.1"}),
        Registration("kubernetes:helm.sh/v4:Chart", "platform-rabbitmq-chart", "platform:index:CompleteCluster::platform",
                     {"chart": "oci://registry-1.docker.io/cloudpirates/rabbitmq-cluster-operator", "version": "0.6.5"}),
    ]
    result = rv.analyse(rv.from_registrations(stack, "dev"), "dev", "dev", CONFIG / "dev.json")
    note = ("not evaluated: the objects of 2 charts (ingress-nginx 4.14.1, rabbitmq-cluster-operator 0.6.5), which only Helm "
            "renders; `pulumi preview --policy-pack policies` evaluates them")
    assert rv.summary(result).endswith(f"; {note}")
    assert f"violations. Passed over the program's own objects only; {note}." in rv.render_markdown(result)
