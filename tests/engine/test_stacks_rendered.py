"""The Kubernetes layer of every shipped stack, rendered with its charts by the real engine, previewed with the
policy pack and validated by the real validators.

Each of local, dev, test, prod, onprem-dc1 and onprem-dc2 is rendered as a render target with its own config
(`stack_renders.py`), its charts from the offline chart mirror and its generated policy-pack config. A render target
keeps the stack's object storage without its credentials (an S3 endpoint and buckets, an existing Azure account and
containers: docs/storage.md), so Velero, Loki with Fluent Bit, Tempo with the OpenTelemetry Collector and the
databases' WAL archive are rendered on it wherever the stack runs them; Harbor is the cluster tier's. Then:

- every object-storage service the stack runs is rendered, on the stack's buckets, and every credentials Secret a
  rendered object reads is either rendered or one the cluster holds (`objectStorage.credentialSecrets`), with the
  key it reads; onprem-dc1's variant names a CA for its S3 endpoint (`storage.ca_certificate`, made for the run), and
  every object that reads the storage credentials there, and at onprem-dc2 what reads dc1's buckets, verifies the
  endpoint with it: the CA mounted and named in its config, or a backup location's `caCert`;

- the preview with the pack has no mandatory violation;
- every exemption the pack config grants to an object of the stack is documented with its reason
  (policies/README.md, one table row per exemption);
- every container image, of the charts' workloads and of ours, and every image an operator is told to run, comes
  from the stack's approved registries, pinned, never `latest`;
- every rendered object is valid: built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, the
  version the charts are rendered for), and every object, custom resources included, sent to a real API server
  with server-side dry-run after the CustomResourceDefinitions the stack's charts render are installed there
  (scripts/cluster). The API server validates a custom resource exactly as it would on a cluster (structural
  schema, defaults, CEL rules), and a custom resource whose CRD the charts do not install is refused.

Why the API server and not a checker of our own over k8s.io/apiextensions-apiserver: the control plane is already
built for the cluster tier, its validation is the same library as served, and it validates the built-in kinds,
admission (Pod Security on the namespaces the program labels) and defaulting at the same time.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from fnmatch import fnmatchcase
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from components.charts import schema_as_stored
from stacks.loader import load
from tests.engine.stack_renders import RENDERED_STACKS, ROOT, RenderProject, StackRender
from tests.cluster.cluster_plane import ControlPlane, cluster
from tests.tooling import chart_mirror, unavailable

pytestmark = [pytest.mark.engine, pytest.mark.cluster]

KUBERNETES_VERSION = "1.33.0"  # what charts are rendered for without a cluster (scripts/engine, docs/engine.md)
# Renders at once: each engine run keeps about one core busy, and the machines this runs on have two.
RENDER_JOBS = int(os.environ.get("RENDER_JOBS", "2"))
WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController", "PodTemplate"}


@pytest.fixture(scope="module")
def renders(engine_env, tmp_path_factory) -> dict[str, StackRender | str]:
    project = RenderProject(tmp_path_factory.mktemp("stacks") / "project", engine_env, chart_mirror())

    def render(stack: str) -> StackRender | str:
        try:
            return project.render(stack)
        except AssertionError as error:  # this stack's tests fail with it; the other stacks' still run
            return str(error)

    with ThreadPoolExecutor(max_workers=RENDER_JOBS) as pool:
        done = dict(zip(RENDERED_STACKS, pool.map(render, RENDERED_STACKS), strict=True))
    for stack, result in done.items():
        if isinstance(result, StackRender):
            print(f"{stack}: {len(result.objects)} objects, " + ", ".join(f"{step} {s:.0f}s" for step, s in result.seconds.items()))
    return done


def rendered(renders: dict[str, StackRender | str], stack: str) -> StackRender:
    result = renders[stack]
    if isinstance(result, str):
        pytest.fail(f"{stack} did not render:\n{result}", pytrace=False)
    return result


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_the_preview_with_the_policy_pack_has_no_mandatory_violation(renders, stack):
    render = rendered(renders, stack)
    assert render.policies_run > len(render.objects)  # the pack evaluated every resource
    mandatory = [str(verdict) for verdict in render.verdicts if verdict.enforcement == "mandatory"]
    assert mandatory == []


# --- object storage ------------------------------------------------------------------------------------------------

# What each object-storage service renders (kind, namespace, name), and the bucket purpose it uses.
STORAGE_SERVICE_OBJECTS = {
    "backup": [("BackupStorageLocation", "velero", "default"), ("Deployment", "velero", "platform-backup-velero")],
    "logging": [("StatefulSet", "logging", "loki"), ("DaemonSet", "node-agents", "fluent-bit")],
    "tracing": [("StatefulSet", "tracing", "tempo"), ("Deployment", "tracing", "otel-collector")],
}


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_object_storage_service_of_the_stack_is_rendered_on_its_buckets(renders, stack):
    config = load(stack)  # the shipped stack file, not the variant: the variant must run what the stack runs
    render = rendered(renders, stack)
    present = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for _, d in render.objects}
    if config.storage is None:  # `local` has no object storage: none of the services that need it is rendered
        assert [found for objects in STORAGE_SERVICE_OBJECTS.values() for found in objects if found in present] == []
        return
    expected = [found for service, objects in STORAGE_SERVICE_OBJECTS.items() if getattr(config.services, service).enabled
                for found in objects]
    assert expected
    assert [found for found in expected if found not in present] == []
    assert render.outputs["objectStorage"]["buckets"] == config.storage.buckets.model_dump()
    if config.services.backup.enabled:
        location = present[("BackupStorageLocation", "velero", "default")]["spec"]
        assert location["objectStorage"]["bucket"] == config.storage.buckets.backups
        assert location["provider"] == {"s3": "aws", "azure_blob": "azure"}[config.storage.kind]


def secret_reads(document: dict) -> list[tuple[str, str | None]]:
    """(Secret name, key or None for all of it) of every Secret an object reads: environment variables
    (`secretKeyRef`, `envFrom[].secretRef`), volumes (`secret`, with their `items`) and Velero's backup
    locations (`spec.credential`)."""
    reads: list[tuple[str, str | None]] = []

    def visit(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            if key in ("secretKeyRef", "credential") and isinstance(value.get("name"), str):
                reads.append((value["name"], value.get("key")))
            elif key == "secretRef" and isinstance(value.get("name"), str):
                reads.append((value["name"], None))
            elif key == "secret" and isinstance(value.get("secretName"), str):
                keys = [item["key"] for item in value.get("items") or []] or [None]
                reads.extend((value["secretName"], item) for item in keys)
            for child_key, child in value.items():
                visit(child, child_key)
        elif isinstance(value, list):
            for item in value:
                visit(item, key)

    visit(document)
    return reads


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_storage_credentials_secret_an_object_reads_is_held_by_the_cluster_with_its_keys(renders, stack):
    """No credential is written on a render target; the manifests name the Secrets the cluster holds (docs/storage.md).
    Every Secret an object reads that is neither rendered nor held would be missing on the cluster (a pod that never
    starts), and a key it reads that the held Secret has not would be too; every held Secret is read by something."""
    render = rendered(renders, stack)
    if load(stack).storage is None:  # `local`: no object storage, so no credentials to hold and none read
        assert "objectStorage" not in render.outputs
        assert [(d["metadata"]["name"], name) for _, d in render.objects for name, _ in secret_reads(d) if name.endswith("-storage")] == []
        return
    held = {(entry["namespace"], entry["name"]): set(entry["keys"]) for entry in render.outputs["objectStorage"]["credentialSecrets"]}
    assert held
    written = {(d["metadata"].get("namespace"), d["metadata"]["name"]) for _, d in render.objects if d["kind"] == "Secret"}
    assert sorted(written & set(held)) == []  # no credentials in the files
    problems, read = [], set()
    for path, document in render.objects:
        namespace = document["metadata"].get("namespace")
        for name, key in secret_reads(document):
            if (namespace, name) in held:
                read.add((namespace, name))
                keys = held[(namespace, name)]
                if key is not None and key not in keys:
                    problems.append(f"{path.name}: reads key `{key}` of `{namespace}/{name}`, which holds {sorted(keys)}")
            elif name.endswith("-storage") and (namespace, name) not in written:
                problems.append(f"{path.name}: reads `{namespace}/{name}`, which is neither rendered nor held by the cluster")
    # A Secret named in a chart's or operator's configuration rather than read by a pod (postgres-operator's logical
    # backup Secret) counts as read when a rendered object names it.
    named = {(namespace, name) for namespace, name in set(held) - read
             if any(name in json.dumps(document) for _, document in render.objects)}
    assert problems == []
    assert sorted(set(held) - read - named) == []


def storage_ca_mounts(document: dict) -> list[tuple[str, str]]:
    """(Secret name, directory) of every `<client>-storage-ca` Secret the object mounts: a pod's volume and its
    volumeMounts, or a `postgresql` resource's `additionalVolumes` entry (its volume and mount in one)."""
    volumes: dict[str, str] = {}
    mounts: list[tuple[str, str]] = []
    for value in _dicts(document):
        source = value.get("volumeSource", value)
        secret = source.get("secret") if isinstance(source, dict) else None
        if isinstance(secret, dict) and str(secret.get("secretName", "")).endswith("-storage-ca") and "name" in value:
            volumes[value["name"]] = secret["secretName"]
        if isinstance(value.get("mountPath"), str) and "name" in value:
            mounts.append((value["name"], value["mountPath"]))
    return sorted({(volumes[name], path) for name, path in mounts if name in volumes})


def _dicts(value: Any):
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _dicts(child)
    elif isinstance(value, list):
        for child in value:
            yield from _dicts(child)


def configuration(document: dict, objects: dict[tuple[str, str | None, str], dict]) -> list[dict]:
    """What configures an object: itself, and every rendered ConfigMap and Secret of its namespace it mounts."""
    namespace = document["metadata"].get("namespace")
    mounted = [("ConfigMap", v["configMap"].get("name")) for v in _dicts(document) if isinstance(v.get("configMap"), dict)]
    mounted += [("Secret", v["secret"].get("secretName")) for v in _dicts(document) if isinstance(v.get("secret"), dict)]
    return [document, *(objects[(kind, namespace, name)] for kind, name in mounted if (kind, namespace, name) in objects)]


def secret_data(document: dict) -> dict[str, str]:
    """A rendered Secret's keys and values, from `stringData` or (base64) `data`."""
    return {**{k: base64.b64decode(v).decode() for k, v in (document.get("data") or {}).items()}, **(document.get("stringData") or {})}


@pytest.mark.parametrize("stack", ["onprem-dc1", "onprem-dc2"])
def test_every_client_of_an_endpoint_with_an_internal_ca_verifies_it_with_that_ca(renders, stack):
    """`storage.ca_certificate` (onprem-dc1's render variant names a CA made for the run; docs/storage.md): every object
    that reads the object storage's credentials verifies the endpoint with it. A workload or `postgresql` resource
    mounts a `<client>-storage-ca` Secret holding the CA and names the mounted file in its configuration (its own
    spec, or a ConfigMap or Secret it mounts); a BackupStorageLocation carries it as `caCert`, which Velero gives the
    plugin (so Velero's own pods mount none). At onprem-dc2, whose endpoint names no CA, only what reads the primary's
    buckets verifies with the primary's CA (its key `primary-ca.crt`): its standby databases and Velero's read-only
    location on the primary's backups. The PostgreSQL operator's logical backup jobs cannot take a CA (docs/storage.md)."""
    render = rendered(renders, stack)
    own_ca = render.storage_cas.get(stack)
    primary_ca = render.storage_cas.get("onprem-dc1") if stack != "onprem-dc1" else None
    assert own_ca or primary_ca
    expected = {key: pem for key, pem in (("ca.crt", own_ca), ("primary-ca.crt", primary_ca)) if pem}
    held = {(entry["namespace"], entry["name"]) for entry in render.outputs["objectStorage"]["credentialSecrets"]}
    by_name = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for _, d in render.objects}
    endpoint_cas = {"https://s3.dc1.example.com": render.storage_cas.get("onprem-dc1")}
    location_namespaces = {ns for kind, ns, _ in by_name if kind == "BackupStorageLocation"}
    clients, problems = [], []
    for _, document in render.objects:
        namespace, name, kind = document["metadata"].get("namespace"), document["metadata"]["name"], document["kind"]
        if not any((namespace, secret) in held for secret, _ in secret_reads(document)) or kind == "Secret":
            continue
        clients.append(f"{kind} {namespace}/{name}")
        if kind == "BackupStorageLocation":
            ca = endpoint_cas.get(document["spec"]["config"]["s3Url"])
            found = document["spec"]["objectStorage"].get("caCert")
            if (base64.b64decode(found).decode() if found else None) != ca:
                problems.append(f"{kind} {namespace}/{name}: caCert is not the CA of {document['spec']['config']['s3Url']}")
            continue
        if namespace in location_namespaces:
            continue  # Velero: its locations carry the CA (above)
        mounts = storage_ca_mounts(document)
        if not mounts:
            if own_ca:
                problems.append(f"{kind} {namespace}/{name} reads the storage credentials but mounts no storage CA")
            continue
        configs = [json.dumps(config) for config in configuration(document, by_name)]
        for secret, directory in mounts:
            data = secret_data(by_name[("Secret", namespace, secret)]) if ("Secret", namespace, secret) in by_name else {}
            if data != expected:
                problems.append(f"{kind} {namespace}/{name}: Secret {secret} holds {sorted(data)}, not the CAs {sorted(expected)}")
            for key in data:
                if not any(f"{directory}/{key}" in config for config in configs):
                    problems.append(f"{kind} {namespace}/{name}: mounts {secret} at {directory} but no config names {directory}/{key}")
    assert clients
    assert problems == []
    if own_ca:  # each client the site runs on its object storage is among those checked
        assert {"StatefulSet logging/loki", "DaemonSet node-agents/fluent-bit", "StatefulSet tracing/tempo",
                "postgresql payments-data/payments-db"} <= set(clients), clients


# --- images --------------------------------------------------------------------------------------------------------


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")
    else:
        yield path, value


IMAGE_REFERENCE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
IMAGE_ARG = re.compile(r"^--[\w-]*image[\w-]*=(.+)$")
# Any other argument whose value is an image reference with a registry host and a tag or digest, as operators take
# the images they run (kube-prometheus-stack's `--prometheus-config-reloader=`).
IMAGE_VALUE_ARG = re.compile(r"^--[\w.-]+=((?:[a-z0-9-]+\.)+[a-z0-9-]+(?::\d+)?/[a-z0-9._/-]+(?::[\w.-]+|@sha256:[0-9a-f]{64})+)$")


def images_of(document: dict) -> list[tuple[str, str]]:
    """(where, image) of every image an object names: a container's `image`, a custom resource's or a chart
    value's `image`/`*Image` fields, and the images an operator is told to run (`*IMAGE*` environment variables,
    `--*image*=` arguments and any argument whose value is a registry image reference)."""
    found = []
    for path, value in _walk(document):
        if not isinstance(value, str):
            continue
        key = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
        if key == "image" or key.endswith("Image") or key.endswith("_image"):
            found.append((path, value))
        elif key == "value" and "IMAGE" in _env_name(document, path):
            # One image, or one per line as `<version>=<image>` (Strimzi's STRIMZI_KAFKA_IMAGES and the like).
            found += [(path, line.split("=", 1)[-1].strip()) for line in value.splitlines() if line.strip()]
        elif key in ("args", "command") and (match := IMAGE_ARG.match(value) or IMAGE_VALUE_ARG.match(value)):
            found.append((path, match.group(1)))
    return found


def _env_name(document: dict, value_path: str) -> str:
    """The `name` beside an `env[i].value`."""
    node = document
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", value_path.rsplit(".", 1)[0]):
        node = node[int(part[1:-1])] if part.startswith("[") else node.get(part, {}) if isinstance(node, dict) else {}
    return str(node.get("name", "")) if isinstance(node, dict) else ""


def image_problems(image: str, allowed: list[str]) -> list[str]:
    if not IMAGE_REFERENCE.match(image):
        return [f"`{image}` is not a full image reference with its registry host"]
    problems = []
    if not any(image.startswith(f"{registry.rstrip('/')}/") for registry in allowed):
        problems.append(f"`{image}` is not from an approved registry ({', '.join(allowed)})")
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    tag = name.split(":", 1)[1] if ":" in name else ""
    if "@sha256:" not in image and not tag:
        problems.append(f"`{image}` is not pinned (no tag or digest)")
    if tag == "latest":
        problems.append(f"`{image}` uses the mutable tag `latest`")
    return problems


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_image_comes_from_the_approved_registries_pinned(renders, stack):
    render = rendered(renders, stack)
    allowed = render.policy_config["workload-images"]["allowedRegistries"]
    assert allowed, f"{stack} approves no registry"
    problems, seen = [], 0
    for path, document in render.objects:
        for where, image in images_of(document):
            seen += 1
            problems += [f"{path.name} {where}: {problem}" for problem in image_problems(image, allowed)]
    assert seen >= sum(1 for _, d in render.objects if d["kind"] in WORKLOAD_KINDS)
    assert problems == []


# --- exemptions ----------------------------------------------------------------------------------------------------


def documented_exemptions() -> dict[str, str]:
    """Each exemption documented in policies/README.md, with its reason: the first and last cells of a table row
    whose first cell names it in backticks."""
    reasons = {}
    for line in (ROOT / "policies" / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) >= 2:
            for name in re.findall(r"`([^`]+)`", cells[0]):
                reasons[name] = cells[-1]
    return reasons


def granted_exemptions(config: dict, documents: list[dict]) -> list[tuple[str, str]]:
    """(setting, name) of every exemption of the pack config that applies to one of the documents."""
    namespaces = {d["metadata"].get("namespace") for d in documents}
    namespaces |= {d["metadata"]["name"] for d in documents if d["kind"] == "Namespace"}
    accounts = {f'{d["metadata"].get("namespace")}/{d["metadata"]["name"]}' for d in documents if d["kind"] == "ServiceAccount"}
    roles = {d["metadata"]["name"] for d in documents if d["kind"] in ("ClusterRole", "Role")}
    granted = []
    for policy, entry in config.items():
        if not isinstance(entry, dict):
            continue
        granted += [(f"{policy}.exemptNamespaces", n) for n in entry.get("exemptNamespaces", []) if n in namespaces]
        granted += [(f"{policy}.exemptServiceAccounts", a) for a in entry.get("exemptServiceAccounts", []) if a in accounts]
        granted += [(f"{policy}.platformServiceAccountNamespaces", n) for n in entry.get("platformServiceAccountNamespaces", [])
                    if n in namespaces]
        for setting in ("exemptRoles", "execRoles"):
            granted += [(f"{policy}.{setting}", r) for r in entry.get(setting, []) if any(fnmatchcase(x, r) for x in roles)]
    return granted


def operator_made_accounts(documents: list[dict]) -> set[tuple[str, str]]:
    """The token exemptions for accounts an operator creates at run time, which no render holds: postgres-operator
    creates the account its OperatorConfiguration names (`kubernetes.pod_service_account_name`) in each namespace
    with a `postgresql`, for Spilo's pods (policies/README.md explains the exemption)."""
    names = {d["configuration"]["kubernetes"]["pod_service_account_name"] for d in documents if d["kind"] == "OperatorConfiguration"}
    return {("workload-token-automount.exemptServiceAccounts", f'{d["metadata"]["namespace"]}/{name}')
            for d in documents if d["kind"] == "postgresql" for name in names}


def exemptions(config: dict) -> list[tuple[str, str]]:
    """(setting, name) of every exemption the pack config grants."""
    return [(f"{policy}.{setting}", name) for policy, entry in config.items() if isinstance(entry, dict)
            for setting in ("exemptNamespaces", "exemptServiceAccounts", "platformServiceAccountNamespaces", "exemptRoles", "execRoles")
            for name in entry.get(setting, [])]


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_exemption_the_stack_uses_is_named_in_the_policy_config_with_its_reason(renders, stack):
    render = rendered(renders, stack)
    documented = documented_exemptions()
    granted = granted_exemptions(render.policy_config, [d for _, d in render.objects])
    assert granted  # the stack does use exemptions (operators keep their tokens)
    undocumented = [f"{setting}: {name}" for setting, name in granted if not documented.get(name)]
    assert undocumented == []


def test_every_exemption_for_the_platform_s_own_objects_applies_to_one_of_them(renders):
    """An exemption that matches no object of any stack (a chart renamed an account, a role went away) is stale:
    it would silently exempt whatever takes the name next. The system namespaces and roles are for what the
    distribution runs, which no stack renders."""
    system = set(re.findall(r"`([^`]+)`", (ROOT / "policies" / "README.md").read_text().split("### System namespaces", 1)[1]
                            .split("###", 1)[0])) | {"system:*"}
    granted, configured = set(), set()
    for stack in RENDERED_STACKS:
        render = rendered(renders, stack)
        documents = [d for _, d in render.objects]
        granted |= set(granted_exemptions(render.policy_config, documents)) | operator_made_accounts(documents)
        configured |= {(setting, name) for setting, name in exemptions(render.policy_config) if name not in system}
    assert sorted(configured - granted) == []


# --- validity ------------------------------------------------------------------------------------------------------


def is_custom(document: dict) -> bool:
    group = document["apiVersion"].rsplit("/", 1)[0] if "/" in document["apiVersion"] else ""
    return "." in group and not group.endswith(".k8s.io") and group != "apiextensions.k8s.io"


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_built_in_objects_validate_against_the_kubernetes_schemas(renders, stack, monkeypatch):
    import kubernetes_validate
    import kubernetes_validate.utils

    # validate() reads and parses the version's schema files (the definitions file is several MB) for every object;
    # the same files answer for every object, so each is read once (a minute per stack -> seconds, same verdicts).
    monkeypatch.setattr(kubernetes_validate.utils, "schema_contents", functools.cache(kubernetes_validate.utils.schema_contents))
    problems = []
    for path, document in rendered(renders, stack).objects:
        if is_custom(document):
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{path.relative_to(rendered(renders, stack).directory)}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{path.relative_to(rendered(renders, stack).directory)}: no schema ({error})")
    assert problems == []


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_custom_resource_has_its_crd_among_the_charts(renders, stack):
    objects = [d for _, d in rendered(renders, stack).objects]
    crds = [d for d in objects if d["kind"] == "CustomResourceDefinition"]
    served = {(crd["spec"]["group"], version["name"], crd["spec"]["names"]["kind"]) for crd in crds for version in crd["spec"]["versions"]
              if version.get("served")}
    custom = {(d["apiVersion"].rsplit("/", 1)[0], d["apiVersion"].rsplit("/", 1)[1], d["kind"]) for d in objects if is_custom(d)}
    assert custom
    assert sorted(custom - served) == []


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_crd_is_rendered_with_its_schema_as_the_api_server_stores_it(renders, stack):
    """The charts' transform (components/charts.py `crd_schemas_as_stored`) ran on every CRD the engine rendered:
    tests/cluster/test_crd_schemas.py shows the API server stores each mirrored CRD's schema as that transform gives."""
    crds = {d["metadata"]["name"]: d for _, d in rendered(renders, stack).objects if d["kind"] == "CustomResourceDefinition"}
    assert crds
    as_written = sorted(name for name, crd in crds.items() for version in crd["spec"]["versions"]
                        if schema_as_stored(version["schema"]["openAPIV3Schema"]) != version["schema"]["openAPIV3Schema"])
    assert as_written == []
    if "kafkas.kafka.strimzi.io" in crds:  # the mirror's file has `properties: {}` there
        for version in crds["kafkas.kafka.strimzi.io"]["spec"]["versions"]:
            status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
            assert "properties" not in status["properties"]["clusterSecurity"], version["name"]


def _webhook_pods(service: dict, documents: list[dict]) -> list[dict]:
    """The pod templates of the rendered workloads a Service selects."""
    selector = service["spec"].get("selector") or {}
    namespace = service["metadata"].get("namespace")
    found = []
    for d in documents:
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet") and d["metadata"].get("namespace") == namespace:
            labels = d["spec"]["template"]["metadata"].get("labels") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                found.append(d["spec"]["template"])
    return found


def webhook_trust_problems(documents: list[dict]) -> list[str]:
    """Each webhook the API server calls at a rendered Service, unless the API server can verify the serving certificate
    its pods present: a `caBundle`, or cert-manager's CA injector filling it from a rendered Certificate whose Secret
    those pods mount (`cert-manager.io/inject-ca-from`), or from the CA Secret a rendered webhook keeps itself
    (`cert-manager.io/inject-ca-from-secret`, cert-manager's own `--dynamic-serving-ca-secret-name`)."""
    def named(kind: str, namespace: str, name: str) -> dict | None:
        return next((d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name
                     and d["metadata"].get("namespace") == namespace), None)

    problems = []
    for configuration in (d for d in documents if d["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")):
        annotations = configuration["metadata"].get("annotations") or {}
        for webhook in configuration.get("webhooks") or []:
            service_ref = (webhook.get("clientConfig") or {}).get("service")
            if not service_ref or (webhook.get("clientConfig") or {}).get("caBundle"):
                continue
            where = f"{configuration['kind']} {configuration['metadata']['name']} webhook {webhook['name']}"
            service = named("Service", service_ref["namespace"], service_ref["name"])
            if service is None:
                problems.append(f"{where}: calls Service {service_ref['namespace']}/{service_ref['name']}, which is not rendered")
                continue
            pods = _webhook_pods(service, documents)
            mounted = {v["secret"]["secretName"] for pod in pods for v in pod["spec"].get("volumes") or [] if "secret" in v}
            args = {a for pod in pods for c in pod["spec"]["containers"] for a in c.get("args") or []}
            if "cert-manager.io/inject-ca-from" in annotations:
                namespace, name = annotations["cert-manager.io/inject-ca-from"].split("/")
                certificate = named("Certificate", namespace, name)
                if certificate is None:
                    problems.append(f"{where}: its CA is injected from Certificate {namespace}/{name}, which is not rendered")
                elif certificate["spec"]["secretName"] not in mounted:
                    problems.append(f"{where}: the pods behind {service_ref['name']} do not mount {certificate['spec']['secretName']}")
            elif "cert-manager.io/inject-ca-from-secret" in annotations:
                namespace, name = annotations["cert-manager.io/inject-ca-from-secret"].split("/")
                if f"--dynamic-serving-ca-secret-name={name}" not in args:
                    problems.append(f"{where}: its CA is injected from Secret {namespace}/{name}, which no pod behind it keeps")
            else:
                problems.append(f"{where}: no caBundle and nothing that fills it, so the API server cannot verify the webhook")
    return problems


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_webhook_the_api_server_calls_presents_a_certificate_it_can_verify(renders, stack):
    """A chart's webhook whose certificate a Helm hook would make (ingress-nginx's `patch` Jobs: helm.v4.Chart renders
    no hooks) leaves the configuration without a caBundle and the pods without their Secret: every call refused."""
    documents = [d for _, d in rendered(renders, stack).objects]
    assert any(d["kind"] == "ValidatingWebhookConfiguration" for d in documents)
    assert webhook_trust_problems(documents) == []


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_cert_managers_api_check_is_rendered_as_a_plain_job(renders, stack):
    """cert-manager's startupapicheck Job, its ServiceAccount, Role and RoleBinding reach the manifest without the
    chart's hook annotations (a hook would not be rendered at all), so Pulumi waits for the check before the issuers."""
    documents = [d for _, d in rendered(renders, stack).objects]
    check = [d for d in documents if "-startupapicheck" in d["metadata"]["name"]]  # the Role is `...-startupapicheck:create-cert`
    assert sorted(d["kind"] for d in check) == ["Job", "Role", "RoleBinding", "ServiceAccount"]
    assert [d["kind"] for d in check if any(a.startswith("helm.sh/hook") for a in d["metadata"].get("annotations") or {})] == []


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    built = cluster("build", timeout=3 * 3600)
    if built.returncode != 0:
        unavailable(f"scripts/cluster build failed:\n{built.stderr.strip()[-3000:]}")
    run_dir = tmp_path_factory.mktemp("validating-plane") / "run"
    started = cluster("start", "--dir", str(run_dir), "--owner-pid", str(os.getpid()), "--json", timeout=600)
    if started.returncode != 0:
        cluster("stop", str(run_dir))
        pytest.fail(f"scripts/cluster start failed:\n{started.stderr.strip()[-3000:]}")
    info = json.loads(started.stdout)
    plane = ControlPlane(dir=Path(info["dir"]), server=info["server"], kubeconfig=Path(info["kubeconfig"]), bin=Path(info["bin"]),
                         nodes=info["nodes"], versions=info["versions"], start_seconds=info["start_seconds"], rss_bytes=info["rss_bytes"])
    try:
        yield plane
    finally:
        stopped = cluster("stop", str(run_dir))
        assert stopped.returncode == 0, stopped.stderr


def server_dry_run(plane: ControlPlane, documents: list[dict]) -> tuple[list[str], dict[str, list[str]]]:
    """Every document through the API server with server-side apply, dry-run, one call per namespace so that each
    warning is known by namespace. Returns the errors and the warnings per namespace (`` for cluster-scoped objects).
    kubectl checks fields against the schemas the server publishes before it sends anything and then stops the whole
    call; a namespace whose call stops so is sent again one object at a time, so one invalid object hides no other."""
    by_namespace: dict[str, list[dict]] = {}
    for document in documents:
        by_namespace.setdefault(document["metadata"].get("namespace", ""), []).append(document)
    errors: list[str] = []
    warnings: dict[str, list[str]] = {}
    for namespace, group in sorted(by_namespace.items()):
        found, warned, stopped = _dry_run(plane, group)
        if stopped:
            found, warned = [], []
            for document in group:
                one, one_warned, _ = _dry_run(plane, [document])
                found += [f"{document['kind']} {namespace}/{document['metadata']['name']}: {line}" for line in one]
                warned += one_warned
        errors += found
        warnings[namespace] = warned
    return errors, warnings


def _dry_run(plane: ControlPlane, documents: list[dict]) -> tuple[list[str], list[str], bool]:
    body = json.dumps({"apiVersion": "v1", "kind": "List", "items": documents})
    done = plane.kubectl("apply", "--server-side", "--dry-run=server", "--validate=strict", "--field-manager=render-validation",
                         "-f", "-", input=body, check=False, timeout=600)
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.lower().startswith("error")]
    assert done.returncode == 0 or errors, done.stderr
    return errors, [line for line in lines if line.startswith("Warning")], any("error validating" in line for line in errors)


@pytest.mark.parametrize("stack", RENDERED_STACKS)
def test_every_object_is_accepted_by_the_api_server_with_the_charts_crds(renders, api_server, stack):
    objects = [d for _, d in rendered(renders, stack).objects]
    crds = [d for d in objects if d["kind"] == "CustomResourceDefinition"]
    namespaces = [d for d in objects if d["kind"] == "Namespace"]
    # The CRDs and namespaces are created for real (a dry-run object needs its kind served and its namespace there).
    api_server.apply(*crds, *namespaces)
    if crds:
        api_server.kubectl("wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{c['metadata']['name']}" for c in crds))
    errors, warnings = server_dry_run(api_server, [d for d in objects if d["kind"] not in ("CustomResourceDefinition", "Namespace")])
    assert errors == []
    # Pod Security admission warns about a workload whose pods it would refuse (and, in a namespace that only warns
    # at a level, about pods it would admit): in a namespace that enforces `restricted`, a warning is a refusal.
    enforcing = {d["metadata"]["name"] for d in namespaces
                 if d["metadata"].get("labels", {}).get("pod-security.kubernetes.io/enforce") == "restricted"}
    refused = {namespace: pod_security for namespace, found in warnings.items() if namespace in enforcing
               and (pod_security := [warning for warning in found if "PodSecurity" in warning])}
    assert refused == {}
