"""Central logs, read from the offline inventories: Loki and Fluent Bit where logging is on (test,
prod, the on-prem sites) and nowhere else, retention of search and archive per environment, the
archive under the site's prefix in the `logs` bucket with its lifecycle, credentials only through
Secrets, Fluent Bit on every node with the audit log, the secondary's push to its primary and the
primary's receiving end, network policies, and the policy pack's verdict on the configured pods."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from stacks import catalogue
from components.observability import logs as logs_module
from components.observability.logs import AUDIT_POLICY, RKE2_AUDIT_LOG, fluent_bit_config
from components.complete_cluster import identity, logs_args
from components.labels import INGRESS_TARGET_LABEL
from components.storage import StorageAccess
from policies.evaluate import Evaluator
from stacks.chart_sources import part_charts
from stacks.tools.inventory import evaluate
from stacks.loader import load, load_stack, stack_file

LOGS = "platform:observability:Logs::platform-observability-logs"
OBSERVABILITY = "platform:observability:Observability::platform-observability"
CHART = "kubernetes:helm.sh/v4:Chart"
SECRET = "kubernetes:core/v1:Secret"
POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
DIAGNOSTIC = "azure-native:monitor:DiagnosticSetting"
LIFECYCLE = "azure-native:storage:ManagementPolicy"
LOGGING_STACKS = ["test", "prod", "onprem-dc1", "onprem-dc2"]
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def logs(inventory, stack: str) -> dict[str, object]:
    return {r.name.removeprefix("platform-observability-logs-"): r for r in inventory(stack) if r.parent == LOGS}


def values(inventory, stack: str, chart: str) -> dict:
    return logs(inventory, stack)[chart].inputs["values"]


def section(text: str, name: str, match: str, **settings: str) -> dict[str, str]:
    """The one `[name]` section of Fluent Bit config `text` whose Match is `match` and whose settings
    include `settings`, as a dict (repeated keys such as `Add` joined with `; `)."""
    found = []
    for block in text.split("\n\n"):
        lines = block.strip().splitlines()
        if lines[0] != f"[{name}]":
            continue
        entries: dict[str, str] = {}
        for line in lines[1:]:
            key, _, value = line.strip().partition(" ")
            entries[key] = f"{entries[key]}; {value.strip()}" if key in entries else value.strip()
        if entries.get("Match") == match and all(entries.get(k) == v for k, v in settings.items()):
            found.append(entries)
    assert len(found) == 1, f"expected one [{name}] matching {match} {settings}, found {len(found)}"
    return found[0]


# --- where logging runs --------------------------------------------------------------------------


def test_test_prod_and_the_sites_run_loki_and_fluent_bit_dev_and_local_do_not(inventory):
    for stack in ("dev", "local"):
        assert [r for r in inventory(stack) if r.type == "platform:observability:Logs"] == []
        assert [r for r in inventory(stack) if r.type == CHART and r.inputs.get("chart") in ("loki", "fluent-bit")] == []
    for stack in LOGGING_STACKS:
        [component] = [r for r in inventory(stack) if r.type == "platform:observability:Logs"]
        assert component.parent == OBSERVABILITY
        children = logs(inventory, stack)
        for chart, ref, namespace in (("loki", catalogue.LOKI_CHART, "logging"), ("fluent-bit", catalogue.FLUENT_BIT_CHART, "node-agents")):
            inputs = children[chart].inputs
            assert (inputs["chart"], inputs["version"], inputs["repositoryOpts"], inputs["namespace"]) == (
                ref.name, ref.version, {"repo": ref.repository}, namespace)


def test_charts_for_names_the_pinned_charts_only_when_logging_is_on():
    assert part_charts(load("prod"), "logging") == [catalogue.LOKI_CHART, catalogue.FLUENT_BIT_CHART]
    assert part_charts(load("dev"), "logging") == []
    assert (catalogue.LOKI_CHART.version, catalogue.FLUENT_BIT_CHART.version) == ("7.3.0", "0.58.1")


# --- Loki ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack, hours, volume, store, bucket", [
    ("test", 14 * 24, "10Gi", "azure", "logs"),
    ("prod", 30 * 24, "50Gi", "azure", "logs"),
    ("onprem-dc1", 30 * 24, "50Gi", "s3", "dc1-logs"),
])
def test_loki_keeps_logs_searchable_for_the_environments_retention_on_the_logs_bucket(inventory, stack, hours, volume, store, bucket):
    loki = values(inventory, stack, "loki")
    assert (loki["fullnameOverride"], loki["deploymentMode"]) == ("loki", "SingleBinary")
    assert (loki["read"], loki["write"], loki["backend"]) == ({"replicas": 0},) * 3
    assert loki["gateway"]["enabled"] is True  # loki-gateway:80, common.LOKI_URL
    assert loki["serviceAccount"] == {"create": True, "automountServiceAccountToken": False}
    config = loki["loki"]
    assert config["limits_config"]["retention_period"] == f"{hours}h"
    assert config["compactor"]["retention_enabled"] is True
    assert config["compactor"]["delete_request_store"] == store
    assert config["schemaConfig"]["configs"][0]["object_store"] == store
    assert config["storage"]["type"] == store
    assert config["storage"]["bucketNames"] == {"chunks": bucket, "ruler": bucket, "admin": bucket}
    assert loki["singleBinary"]["persistence"]["size"] == volume
    assert loki["singleBinary"]["extraArgs"] == ["-config.expand-env=true"]


def test_prod_searches_longer_than_test(inventory):
    def hours(stack):
        return int(values(inventory, stack, "loki")["loki"]["limits_config"]["retention_period"].removesuffix("h"))
    assert hours("prod") > hours("test")


@pytest.mark.parametrize("stack, secret, keys", [
    ("prod", "loki-logs-storage", ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCESS_KEY")),
    ("onprem-dc1", "loki-logs-storage", ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")),
])
def test_loki_reads_its_storage_credentials_from_the_secret_never_from_values(inventory, stack, secret, keys):
    loki = values(inventory, stack, "loki")
    assert loki["singleBinary"]["extraEnv"] == [{"name": key, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}} for key in keys]
    storage = loki["loki"]["storage"]
    given = storage.get("s3") or storage.get("azure")
    credentials = {k: v for k, v in given.items() if k in ("accessKeyId", "secretAccessKey", "accountName", "accountKey")}
    assert sorted(credentials.values()) == sorted(f"${{{key}}}" for key in keys)
    # The Secret exists in the logging namespace, made by the object storage component.
    [made] = [r for r in inventory(stack) if r.type == SECRET and r.inputs["metadata"]["name"] == secret]
    assert made.inputs["metadata"]["namespace"] == "logging"
    assert "[secret]" not in repr(loki)
    assert logs(inventory, stack)["loki"].options["depends_on"] == [
        "kubernetes:core/v1:Namespace::platform-observability-logs-loki-namespace", f"{SECRET}::{made.name}"]


# --- Fluent Bit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", LOGGING_STACKS)
def test_fluent_bit_runs_on_every_node_and_labels_every_line(inventory, stack):
    agent = values(inventory, stack, "fluent-bit")
    config = load(stack)
    assert (agent["kind"], agent["fullnameOverride"]) == ("DaemonSet", "fluent-bit")
    assert agent["tolerations"] == [{"operator": "Exists"}]  # control plane, database pool, spot: every taint
    outputs = agent["config"]["outputs"]
    local = section(outputs, "OUTPUT", "kube.*", Name="loki", Host="loki-gateway.logging.svc")
    assert local["Port"] == "80" and local["Uri"] == "/loki/api/v1/push"
    labels = [label.strip() for label in local["Labels"].split(",")]
    assert labels == [
        "job=kubernetes", f"site={config.site.name}", f"environment={config.environment}",
        "namespace=$kubernetes['namespace_name']", "pod=$kubernetes['pod_name']", "container=$kubernetes['container_name']",
    ]
    modify = section(agent["config"]["filters"], "FILTER", "*", Name="modify")
    assert modify["Add"] == f"site {config.site.name}; environment {config.environment}"


@pytest.mark.parametrize("stack, prefix, bucket", [("onprem-dc1", "prod-dc1", "dc1-logs"), ("onprem-dc2", "prod-dc2", "dc2-logs")])
def test_the_s3_archive_goes_to_the_logs_bucket_under_the_site_prefix(inventory, stack, prefix, bucket):
    archive = section(values(inventory, stack, "fluent-bit")["config"]["outputs"], "OUTPUT", "*", Name="s3")
    config = load(stack)
    assert archive["bucket"] == bucket == config.storage.buckets.logs
    assert archive["endpoint"] == str(config.storage.endpoint).rstrip("/")
    assert archive["s3_key_format"] == f"/{prefix}/$TAG[0]/%Y/%m/%d/%H%M%S-$UUID.gz"
    assert (archive["compression"], archive["use_put_object"]) == ("gzip", "On")
    summary = logs_module.s3_lifecycle_rule(bucket, prefix, 400)
    assert summary == f"expire objects under `{prefix}/` in bucket `{bucket}` 400 days after creation"


@pytest.mark.parametrize("stack, prefix", [("test", "test-cin"), ("prod", "prod-cin")])
def test_the_azure_archive_goes_to_the_logs_container_under_the_site_prefix(inventory, stack, prefix):
    archive = section(values(inventory, stack, "fluent-bit")["config"]["outputs"], "OUTPUT", "*", Name="azure_blob")
    assert (archive["container_name"], archive["path"]) == ("logs", prefix)
    assert (archive["blob_type"], archive["compress_blob"], archive["auto_create_container"]) == ("blockblob", "On", "Off")
    assert (archive["account_name"], archive["shared_key"]) == ("${AZURE_STORAGE_ACCOUNT}", "${AZURE_STORAGE_ACCESS_KEY}")


@pytest.mark.parametrize("stack, days, cool", [("test", 30, False), ("prod", 400, True)])
def test_azure_deletes_the_archive_after_archive_days_and_cools_a_long_one(inventory, stack, days, cool):
    [policy] = [r for r in inventory(stack) if r.type == LIFECYCLE]
    [rule] = [rule for rule in policy.inputs["policy"]["rules"] if rule["name"] == "expire-log-archive"]
    assert rule["definition"]["filters"] == {
        "blobTypes": ["blockBlob"],
        "prefixMatch": [f"logs/{logs_module.archive_prefix(identity(load(stack)))}/", "insights-logs-kube-audit-admin/"],
    }
    actions = rule["definition"]["actions"]["baseBlob"]
    assert actions["delete"] == {"daysAfterModificationGreaterThan": days}
    assert ("tierToCool" in actions) is cool
    if cool:
        assert actions["tierToCool"] == {"daysAfterModificationGreaterThan": 30}


def test_the_archive_is_kept_longer_in_prod_than_in_test_and_at_least_the_compliance_minimum(inventory):
    def kept(stack):
        [policy] = [r for r in inventory(stack) if r.type == LIFECYCLE]
        [rule] = [rule for rule in policy.inputs["policy"]["rules"] if rule["name"] == "expire-log-archive"]
        return rule["definition"]["actions"]["baseBlob"]["delete"]["daysAfterModificationGreaterThan"]
    assert kept("prod") > kept("test")
    assert kept("prod") >= load("prod").services.logging.compliance_min_days > 0


@pytest.mark.parametrize("stack, secrets", [
    ("onprem-dc1", {"fluent-bit-logs-storage", "central-logs-push"}),
    ("onprem-dc2", {"fluent-bit-logs-storage", "central-logs-push"}),
    ("prod", {"fluent-bit-logs-storage"}),
])
def test_fluent_bit_reads_storage_and_central_credentials_only_from_secrets(inventory, stack, secrets):
    agent = values(inventory, stack, "fluent-bit")
    for variable in agent["env"]:
        assert set(variable) == {"name", "valueFrom"} and set(variable["valueFrom"]) == {"secretKeyRef"}
    assert {v["valueFrom"]["secretKeyRef"]["name"] for v in agent["env"]} == secrets
    assert "[secret]" not in repr(agent)
    [made] = [r for r in inventory(stack) if r.type == SECRET and r.inputs["metadata"]["name"] == "fluent-bit-logs-storage"]
    assert made.inputs["metadata"]["namespace"] == "node-agents"


def test_on_rke2_fluent_bit_tails_the_api_server_audit_log_to_loki_and_the_archive(inventory):
    agent = values(inventory, "onprem-dc1", "fluent-bit")
    [audit] = [block for block in agent["config"]["inputs"].split("\n\n") if RKE2_AUDIT_LOG in block]
    assert [line.split()[:2] for line in audit.splitlines()[1:4]] == [
        ["Name", "tail"],
        ["Tag", "audit.kube-apiserver"],
        ["Path", RKE2_AUDIT_LOG],
    ]
    assert section(agent["config"]["outputs"], "OUTPUT", "audit.*", Name="loki", Host="loki-gateway.logging.svc")["Labels"] == (
        "job=kube-audit, site=dc1, environment=prod")
    assert {"name": "audit", "hostPath": {"path": "/var/lib/rancher/rke2/server/logs", "type": "DirectoryOrCreate"}} in agent[
        "daemonSetVolumes"
    ]
    assert {"name": "audit", "mountPath": "/var/lib/rancher/rke2/server/logs", "readOnly": True} in agent["daemonSetVolumeMounts"]
    assert [r for r in inventory("onprem-dc1") if r.type == DIAGNOSTIC] == []
    # The policy RKE2 needs for the file to have content is valid YAML with a catch-all Metadata rule.
    policy = yaml.safe_load(AUDIT_POLICY)
    assert (policy["kind"], policy["rules"][-1]) == ("Policy", {"level": "Metadata"})


@pytest.mark.parametrize("stack", ["test", "prod"])
def test_on_aks_the_audit_log_goes_to_the_storage_account_through_a_diagnostic_setting(inventory, stack):
    [setting] = [r for r in inventory(stack) if r.type == DIAGNOSTIC and r.name == "platform-observability-logs-audit-archive"]
    # Azure resources live in the AKS component or the object storage; the setting is the account's intake.
    assert setting.parent == "platform:storage:ObjectStorage::platform-storage"
    [account] = [r for r in inventory(stack) if r.type == "azure-native:storage:StorageAccount"]
    [cluster] = [r for r in inventory(stack) if r.type == "azure-native:containerservice:ManagedCluster"]
    assert setting.inputs["logs"] == [{"category": "kube-audit-admin", "enabled": True}]
    assert setting.inputs["storageAccountId"].endswith(f"/storageAccounts/{account.inputs['accountName']}")
    assert "/managedClusters/" in setting.inputs["resourceUri"] and cluster.name in setting.inputs["resourceUri"]
    # AKS has no audit log on its nodes, so Fluent Bit tails none there.
    assert RKE2_AUDIT_LOG not in values(inventory, stack, "fluent-bit")["config"]["inputs"]


def _with_audit_logs_off(stack: str, tmp_path: Path) -> Path:
    document = yaml.safe_load(stack_file(stack).read_text())
    services = document["config"].setdefault("complete-cluster:services", {})
    services.setdefault("logging", {})["audit_logs"] = False
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_audit_logs_false_turns_the_audit_log_off_on_aks(tmp_path):
    resources = evaluate("test", _with_audit_logs_off("test", tmp_path))
    assert [r.name for r in resources if r.type == DIAGNOSTIC] == ["platform-aks-control-plane-logs"]
    # Logging itself stays on.
    assert len([r for r in resources if r.type == "platform:observability:Logs"]) == 1


def test_audit_logs_false_turns_the_audit_log_off_on_rke2():
    loaded = load_stack("onprem-dc1")
    config = loaded.config
    logging = config.services.logging.model_copy(update={"audit_logs": False})
    off = config.model_copy(update={"services": config.services.model_copy(update={"logging": logging})})
    access = StorageAccess(kind="s3", secret_name="fluent-bit-logs-storage", secret=None, credentials={}, bucket="dc1-logs", endpoint="https://s3.dc1.example.com",
                           region="us-east-1", path_style=True)
    assert RKE2_AUDIT_LOG in fluent_bit_config(logs_args(loaded), access, None)["inputs"]
    sections = fluent_bit_config(logs_args(replace(loaded, config=off)), access, None)
    assert RKE2_AUDIT_LOG not in sections["inputs"] and "audit.*" not in sections["outputs"]


# --- the cross-site view -------------------------------------------------------------------------


def test_the_secondary_ships_to_its_primarys_telemetry_host_with_basic_auth_from_a_secret(inventory):
    agent = values(inventory, "onprem-dc2", "fluent-bit")
    central = section(agent["config"]["outputs"], "OUTPUT", "kube.*", Name="loki", Host="telemetry.dc1.example.com")
    assert (central["Port"], central["Uri"], central["tls"], central["tls.verify"]) == ("443", "/loki/api/v1/push", "On", "On")
    assert (central["HTTP_User"], central["HTTP_Passwd"]) == ("telemetry", "${CENTRAL_PASSWORD}")
    assert "site=dc2" in central["Labels"]
    assert {"name": "CENTRAL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "central-logs-push", "key": "password"}}} in agent["env"]
    secret = logs(inventory, "onprem-dc2")["central-push"]
    assert secret.inputs["metadata"]["namespace"] == "node-agents"
    assert secret.inputs["stringData"] == "[secret]"  # the password makes the whole map a Pulumi secret
    # The primary ships nowhere else; it receives. It holds the same password, so after a failover
    # only the outputs change.
    assert "telemetry." not in values(inventory, "onprem-dc1", "fluent-bit")["config"]["outputs"]
    assert logs(inventory, "onprem-dc1")["central-push"].inputs["metadata"]["name"] == "central-logs-push"
    assert [r for r in inventory("prod") if r.type == SECRET and r.name == "platform-observability-logs-central-push"] == []


def test_the_primary_serves_the_push_path_with_tls_and_basic_auth(inventory):
    children = logs(inventory, "onprem-dc1")
    ingress = children["central-ingress"]
    annotations = ingress.inputs["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == catalogue.CLUSTER_ISSUER
    assert (annotations["nginx.ingress.kubernetes.io/auth-type"], annotations["nginx.ingress.kubernetes.io/auth-secret"]) == (
        "basic",
        "central-logs-auth",
    )
    spec = ingress.inputs["spec"]
    assert spec["ingressClassName"] == catalogue.INGRESS_CLASS
    assert spec["tls"] == [{"hosts": ["telemetry.dc1.example.com"], "secretName": "central-logs-tls"}]
    [rule] = spec["rules"]
    assert rule["host"] == "telemetry.dc1.example.com"
    assert rule["http"]["paths"] == [{"path": "/loki/api/v1/push", "pathType": "Exact",
                                      "backend": {"service": {"name": "loki-gateway", "port": {"number": 80}}}}]
    auth = children["central-auth"]
    assert (auth.inputs["metadata"]["name"], auth.inputs["metadata"]["namespace"], auth.inputs["stringData"]) == (
        "central-logs-auth", "logging", "[secret]")
    # The secondary and the single-site stacks serve nothing.
    for stack in ("onprem-dc2", "prod", "test"):
        assert [r for r in inventory(stack) if r.type == INGRESS and r.parent == LOGS] == []


# --- network policies ----------------------------------------------------------------------------


def _policy(inventory, stack: str, name: str) -> dict:
    [found] = [r for r in inventory(stack) if r.type == POLICY and r.name == name]
    return found.inputs


def test_loki_admits_grafana_fluent_bit_and_the_collector_and_on_a_receiving_primary_the_ingress(inventory):
    def peers(stack):
        spec = _policy(inventory, stack, "platform-observability-logs-loki-allow-loki-clients")["spec"]
        [rule] = spec["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 3100}]
        return [(p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"], p.get("podSelector")) for p in rule["from"]]

    expected = [("grafana", None), ("node-agents", {"matchLabels": {"app.kubernetes.io/name": "fluent-bit"}}),
                ("tracing", {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}})]
    assert peers("prod") == peers("onprem-dc1") == peers("onprem-dc2") == expected
    # the receiving primary also admits the ingress controller, at the gateway
    push = _policy(inventory, "onprem-dc1", "platform-observability-logs-loki-allow-central-push")["spec"]
    assert push == {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}}, "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}]}
    assert [r for r in inventory("onprem-dc2") if r.type == POLICY and r.name.endswith("allow-central-push")] == []
    # and the controller may reach the gateway: its egress goes only to pods labelled as its targets
    # (components/services/ingress.py); every site of several carries the label, single sites none
    for stack, labels in (("onprem-dc1", {INGRESS_TARGET_LABEL: "true"}), ("onprem-dc2", {INGRESS_TARGET_LABEL: "true"}), ("prod", {})):
        assert values(inventory, stack, "loki")["gateway"]["podLabels"] == labels


def test_fluent_bit_may_reach_loki_and_the_s3_endpoints_port(inventory):
    spec = _policy(inventory, "onprem-dc1", "platform-observability-node-agents-fluent-bit-to-loki")["spec"]
    assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "fluent-bit"}}
    assert spec["egress"] == [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "logging"}}}],
                               "ports": [{"protocol": "TCP", "port": 8080}, {"protocol": "TCP", "port": 3100}]}]
    # Both endpoints are on 443, which every namespace's baseline already allows out.
    assert [r for r in inventory("onprem-dc1") if r.type == POLICY and r.name.endswith("object-storage") and r.parent == LOGS] == []


# --- pods: restricted, requests and limits ---------------------------------------------------------


def _pod(kind: str, name: str, namespace: str, pod_context: dict, containers: list[dict], volumes: list[dict] | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"spec": {"securityContext": pod_context, "containers": containers, "volumes": volumes or []}}},
    }


def _loki_image(image: dict) -> str:
    """The chart's `loki.baseImage` (templates/_helpers.tpl at 7.3.0): the registry goes in front of the repository
    only when the repository's first segment has no `.`."""
    first = image["repository"].split("/", 1)[0]
    prefix = f"{image['registry']}/" if image["registry"] and "." not in first else ""
    return f"{prefix}{image['repository']}:{image['tag']}"


def _loki_pods(loki: dict) -> list[tuple[str, dict]]:
    """The single binary and the gateway as the chart renders them from these values (templates/
    single-binary/statefulset.yaml and gateway/deployment-gateway.yaml: the pod and container
    security contexts, the image, the resources, a PVC and emptyDir volumes)."""
    return [
        ("kubernetes:apps/v1:StatefulSet", _pod("StatefulSet", "loki", "logging", loki["loki"]["podSecurityContext"], [{
            "name": "loki", "image": _loki_image(loki["loki"]["image"]),
            "securityContext": loki["loki"]["containerSecurityContext"], "resources": loki["singleBinary"]["resources"],
        }], [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "loki"}}])),
        ("kubernetes:apps/v1:Deployment", _pod("Deployment", "loki-gateway", "logging", loki["gateway"]["podSecurityContext"], [{
            "name": "nginx", "image": _loki_image(loki["gateway"]["image"]),
            "securityContext": loki["gateway"]["containerSecurityContext"], "resources": loki["gateway"]["resources"],
        }], [{"name": "tmp", "emptyDir": {}}])),
    ]


@pytest.mark.parametrize("stack", ["prod", "onprem-dc1"])
def test_loki_pods_pass_pod_security_restricted_and_the_resource_policy(inventory, stack):
    loki = values(inventory, stack, "loki")
    evaluator = Evaluator({"all": ("mandatory", {})})
    for type_token, pod in _loki_pods(loki):
        assert [f.message for f in evaluator.resource(type_token, pod) if f.policy in ("pod-security", "workload-resources")] == []
    assert loki["loki"]["containerSecurityContext"] == RESTRICTED
    assert loki["loki"]["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    # without the values' container context the same pod fails, so the check can fail
    broken = copy.deepcopy(loki)
    broken["loki"]["containerSecurityContext"] = {}
    type_token, pod = _loki_pods(broken)[0]
    assert [f for f in evaluator.resource(type_token, pod) if f.policy == "pod-security"] != []


def test_fluent_bit_fails_restricted_only_on_its_documented_needs(inventory):
    agent = values(inventory, "onprem-dc1", "fluent-bit")
    pod = _pod("DaemonSet", "fluent-bit", "node-agents", agent["podSecurityContext"], [{
        "name": "fluent-bit", "image": f"{agent['image']['repository']}:{agent['image']['tag']}",
        "securityContext": agent["securityContext"], "resources": agent["resources"], "volumeMounts": agent["daemonSetVolumeMounts"],
    }], agent["daemonSetVolumes"])
    evaluator = Evaluator({"all": ("mandatory", {})})
    found = sorted(
        f.message for f in evaluator.resource("kubernetes:apps/v1:DaemonSet", pod) if f.policy in ("pod-security", "workload-resources")
    )
    assert found == sorted([
        'restricted volume types: volumes "varlog", "state", "audit" use restricted volume type "hostPath"; use only configMap, csi, '
        'downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected, secret volumes',
        'runAsNonRoot != true: container "fluent-bit" must not set securityContext.runAsNonRoot=false',
        'runAsUser=0: container "fluent-bit" must not set runAsUser=0 (run as a non-zero UID)',
    ])
    context = agent["securityContext"]
    assert (context["privileged"], context["allowPrivilegeEscalation"], context["capabilities"], context["readOnlyRootFilesystem"]) == (
        False, False, {"drop": ["ALL"]}, True)
    assert agent["resources"]["limits"]["memory"] and agent["resources"]["requests"]["cpu"]


# --- the summary the umbrella merges -------------------------------------------------------------


def test_the_summary_states_charts_retention_archive_and_its_lifecycle(monkeypatch):
    summaries: list[dict] = []
    register = logs_module.Logs.register_outputs
    monkeypatch.setattr(
        logs_module.Logs, "register_outputs", lambda self, outputs: (summaries.append(outputs["summary"]), register(self, outputs))[1]
    )
    evaluate("onprem-dc2")
    evaluate("prod")
    dc2, prod = summaries
    assert dc2["charts"] == prod["charts"] == {"loki": "7.3.0", "fluent-bit": "0.58.1"}
    assert (dc2["loki"]["retentionDays"], dc2["loki"]["url"]) == (30, "http://loki-gateway.logging.svc:80")
    assert dc2["archive"] == {"bucket": "dc2-logs", "prefix": "prod-dc2/", "days": 400, "compression": "gzip", "lifecycle": {
        "by": "the storage administrators", "rule": "expire objects under `prod-dc2/` in bucket `dc2-logs` 400 days after creation"}}
    assert prod["archive"]["lifecycle"] == {"by": "the storage account's management policy", "rule": "expire-log-archive",
                                            "deleteAfterDays": 400, "coolAfterDays": 30}
    assert (dc2["shipsTo"], dc2["receives"]) == ("https://telemetry.dc1.example.com/loki/api/v1/push", None)
    assert dc2["auditLog"] == {"source": RKE2_AUDIT_LOG, "to": "loki and archive"}
    assert prod["auditLog"] == {
        "source": "diagnostic setting kube-audit-admin",
        "to": "storage account container insights-logs-kube-audit-admin",
    }


def test_loki_and_the_archive_verify_an_s3_endpoint_with_the_ca_the_stack_file_names(inventory, sites_with_storage_cas):
    """`storage.ca_certificate`: Loki and Fluent Bit each mount a Secret holding it and name the mounted file where their
    S3 client reads a CA (Loki `http_config.ca_file`, the archive output's `tls.ca_file`); without it, neither does."""
    _, with_ca = sites_with_storage_cas
    found = logs(with_ca, "onprem-dc1")
    volume = {"name": "storage-ca", "secret": {"secretName": "loki-storage-ca"}}
    mount = {"name": "storage-ca", "mountPath": "/etc/storage-ca", "readOnly": True}
    loki = found["loki"].inputs["values"]
    assert loki["loki"]["storage"]["s3"]["http_config"] == {"ca_file": "/etc/storage-ca/ca.crt"}
    assert (loki["singleBinary"]["extraVolumes"], loki["singleBinary"]["extraVolumeMounts"]) == ([volume], [mount])
    agent = found["fluent-bit"].inputs["values"]
    archive = section(agent["config"]["outputs"], "OUTPUT", "*", Name="s3")
    assert (archive["tls.verify"], archive["tls.ca_file"]) == ("On", "/etc/storage-ca/ca.crt")
    assert {"name": "storage-ca", "secret": {"secretName": "fluent-bit-storage-ca"}} in agent["daemonSetVolumes"]
    assert mount in agent["daemonSetVolumeMounts"]
    # The Secrets' data is a Pulumi secret here (the Kubernetes SDK marks every Secret's): the render tier reads the PEM.
    for chart, namespace in (("loki", "logging"), ("fluent-bit", "node-agents")):
        secret = with_ca("onprem-dc1").named(f"platform-storage-{chart}-ca").inputs["metadata"]
        assert (secret["name"], secret["namespace"]) == (f"{chart}-storage-ca", namespace)
        assert f"{SECRET}::platform-storage-{chart}-ca" in found[chart].options["depends_on"]
    shipped = values(inventory, "onprem-dc1", "loki")
    assert "http_config" not in shipped["loki"]["storage"]["s3"] and shipped["singleBinary"]["extraVolumes"] == []
    assert "tls.ca_file" not in section(values(inventory, "onprem-dc1", "fluent-bit")["config"]["outputs"], "OUTPUT", "*", Name="s3")
