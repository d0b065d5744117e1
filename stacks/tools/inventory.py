"""Evaluate the program for one stack under Pulumi's mock runtime and record every registration.

No CLI, no cloud and no cluster: the mock monitor stands in for the engine, and a recording monitor
keeps each RegisterResource request as the engine would receive it (type token, logical name,
parent, inputs with their wire names, and the resource options). Tests use this same evaluation.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

import yaml
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.proto import callback_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from ..loader import load_stack
from ..model import PROJECT

SECRET = "[secret]"
UNKNOWN = "[unknown]"


@dataclass
class Registration:
    """One resource the program registers, as the engine sees it."""

    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)
    custom: bool = True

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("custom")
        return data


def _resource_key(urn: str) -> str | None:
    """`type::name` of a resource from its URN (the part a reader can recognise)."""
    if not urn:
        return None
    parts = urn.split("::")
    return f"{parts[2].split('$')[-1]}::{parts[3]}" if len(parts) >= 4 else urn


def _wire_value(value: Any) -> Any:
    """A property value as the engine receives it, with secrets, unknowns and references made readable."""
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == rpc._special_secret_sig:
            return SECRET
        if signature == rpc._special_resource_sig:
            return {"resource": _resource_key(value.get("urn", ""))}
        if signature == rpc._special_output_value_sig:
            if value.get("secret"):
                return SECRET
            return _wire_value(value["value"]) if "value" in value else UNKNOWN
        if signature in (rpc._special_asset_sig, rpc._special_archive_sig):
            return {key: val for key, val in value.items() if key != rpc._special_sig_key}
        return {key: _wire_value(val) for key, val in value.items()}
    if isinstance(value, list):
        return [_wire_value(item) for item in value]
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf Structs carry every number as a double
    return value


class RecordingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, keeping every RegisterResource request in order."""

    def __init__(self, mocks_: mocks.Mocks, registrations: list[Registration]):
        super().__init__(mocks_)
        self.registrations = registrations

    def RegisterResource(self, request):
        if request.type != "pulumi:pulumi:Stack":
            raw = json_format.MessageToDict(request.object, preserving_proto_field_name=True)
            provider = request.provider.split("::")[0:4]
            options = {
                "protect": bool(request.protect),
                "retain_on_delete": bool(request.retainOnDelete),
                "depends_on": sorted(filter(None, (_resource_key(urn) for urn in request.dependencies))),
                "provider": _resource_key("::".join(provider)) if request.provider else None,
                "ignore_changes": list(request.ignoreChanges),
                "transforms": [callback.token for callback in request.transforms],
            }
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    parent=_resource_key(request.parent),
                    inputs=_wire_value(raw),
                    options=options,
                    custom=bool(request.custom),
                )
            )
        return super().RegisterResource(request)


class RecordedTransforms:
    """Stands in for the SDK's callback server, which the mock runtime has none of: a transform a resource names
    (`ResourceOptions.transforms`) is recorded in its options by the function's name, not run. The program's
    transforms act on the objects a chart renders, which only the engine's Kubernetes provider makes (the engine and
    cluster tiers run them)."""

    def register_transform(self, transform: Callable[..., Any]) -> callback_pb2.Callback:
        return callback_pb2.Callback(token=f"{transform.__module__}.{transform.__qualname__}", target="inventory")


class InventoryMocks(mocks.Mocks):
    """Answers the engine's questions the way a fresh deployment would: a resource's state is its
    inputs, and invokes return what the program needs to go on.

    Azure resources also get what Azure itself would add: an ARM resource ID, the physical name
    (autonamed like azure-native does when the program leaves it open), identity principal IDs,
    and the computed outputs of a managed cluster, so programs can chain them as in a real run.
    """

    SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
    TENANT_ID = "00000000-0000-4000-8000-000000000002"
    DEPLOYER_OBJECT_ID = "00000000-0000-4000-8000-000000000003"
    AKS_SERVER_ID = "6dae42f8-4368-4678-94ff-3960e28e3630"  # the AKS AAD server application, same in every tenant
    AZURE_CLI_CLIENT_ID = "80faf920-1908-4b52-b5ef-a8e7bedfc67a"  # the client app AKS kubeconfigs name

    # type token -> (ARM ID below the subscription, the input that names the resource)
    _AZURE = {
        "azure-native:resources:ResourceGroup": ("resourceGroups/{name}", "resourceGroupName"),
        "azure-native:network:VirtualNetwork": ("{rg}/providers/Microsoft.Network/virtualNetworks/{name}", "virtualNetworkName"),
        "azure-native:network:Subnet": (
            "{rg}/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets/{name}",
            "subnetName",
        ),
        "azure-native:operationalinsights:Workspace": ("{rg}/providers/Microsoft.OperationalInsights/workspaces/{name}", "workspaceName"),
        "azure-native:managedidentity:UserAssignedIdentity": (
            "{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            "resourceName",
        ),
        "azure-native:containerservice:ManagedCluster": (
            "{rg}/providers/Microsoft.ContainerService/managedClusters/{name}",
            "resourceName",
        ),
        "azure-native:containerservice:AgentPool": (
            "{rg}/providers/Microsoft.ContainerService/managedClusters/{resourceName}/agentPools/{name}",
            "agentPoolName",
        ),
        "azure-native:containerservice:MaintenanceConfiguration": (
            "{rg}/providers/Microsoft.ContainerService/managedClusters/{resourceName}/maintenanceConfigurations/{name}",
            "configName",
        ),
        "azure-native:logic:Workflow": ("{rg}/providers/Microsoft.Logic/workflows/{name}", "workflowName"),
        "azure-native:authorization:RoleDefinition": (
            "{scope}/providers/Microsoft.Authorization/roleDefinitions/{name}",
            "roleDefinitionId",
        ),
        "azure-native:authorization:RoleAssignment": (
            "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}",
            "roleAssignmentName",
        ),
        "azure-native:authorization:ManagementLockAtResourceGroupLevel": (
            "{rg}/providers/Microsoft.Authorization/locks/{name}",
            "lockName",
        ),
        "azure-native:monitor:DiagnosticSetting": ("{resourceUri}/providers/Microsoft.Insights/diagnosticSettings/{name}", "name"),
        "azure-native:containerregistry:Registry": ("{rg}/providers/Microsoft.ContainerRegistry/registries/{name}", "registryName"),
        "azure-native:containerregistry:CacheRule": (
            "{rg}/providers/Microsoft.ContainerRegistry/registries/{registryName}/cacheRules/{name}",
            "cacheRuleName",
        ),
        "azure-native:containerregistry:CredentialSet": (
            "{rg}/providers/Microsoft.ContainerRegistry/registries/{registryName}/credentialSets/{name}",
            "credentialSetName",
        ),
        "azure-native:privatedns:PrivateZone": ("{rg}/providers/Microsoft.Network/privateDnsZones/{name}", "privateZoneName"),
        "azure-native:privatedns:VirtualNetworkLink": (
            "{rg}/providers/Microsoft.Network/privateDnsZones/{privateZoneName}/virtualNetworkLinks/{name}",
            "virtualNetworkLinkName",
        ),
        "azure-native:network:PrivateEndpoint": ("{rg}/providers/Microsoft.Network/privateEndpoints/{name}", "privateEndpointName"),
        "azure-native:network:PrivateDnsZoneGroup": (
            "{rg}/providers/Microsoft.Network/privateEndpoints/{privateEndpointName}/privateDnsZoneGroups/{name}",
            "privateDnsZoneGroupName",
        ),
        "azure-native:storage:StorageAccount": ("{rg}/providers/Microsoft.Storage/storageAccounts/{name}", "accountName"),
        "azure-native:storage:BlobServiceProperties": (
            "{rg}/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/{name}",
            "blobServicesName",
        ),
        "azure-native:storage:BlobContainer": (
            "{rg}/providers/Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers/{name}",
            "containerName",
        ),
        "azure-native:storage:ManagementPolicy": (
            "{rg}/providers/Microsoft.Storage/storageAccounts/{accountName}/managementPolicies/{name}",
            "managementPolicyName",
        ),
    }

    def __init__(self):
        self._clusters: dict[tuple[str, str], dict[str, Any]] = {}

    def _uuid(self, *parts: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "::".join(parts)))

    def _azure(self, args: mocks.MockResourceArgs, state: dict[str, Any]) -> str:
        template, name_input = self._AZURE[args.typ]
        name = state.get(name_input)
        if not name:
            # azure-native autonames from the logical name plus a random suffix; role assignments are GUIDs
            digest = hashlib.sha256(f"{args.typ}::{args.name}".encode()).hexdigest()
            guid_named = args.typ.endswith((":RoleAssignment", ":RoleDefinition"))
            name = self._uuid(args.typ, args.name) if guid_named else f"{args.name}{digest[:8]}"
            state[name_input] = name
        state["name"] = name
        fields = {**{key: value for key, value in state.items() if isinstance(value, str)}, "name": name}
        fields["rg"] = f"resourceGroups/{state.get('resourceGroupName', '')}"
        path = template.format_map(fields)
        resource_id = path if path.startswith("/") else f"/subscriptions/{self.SUBSCRIPTION_ID}/{path}"
        identity = state.get("identity")
        if isinstance(identity, dict):
            identity = dict(identity)
            if "SystemAssigned" in str(identity.get("type", "")):
                identity.update(principalId=self._uuid(resource_id, "principal"), tenantId=self.TENANT_ID)
            if isinstance(identity.get("userAssignedIdentities"), list):
                # given as a list of IDs, returned by ARM as a map of ID -> the identity's IDs
                identity["userAssignedIdentities"] = {
                    str(key): {"clientId": self._uuid(str(key), "client"), "principalId": self._uuid(str(key), "principal")}
                    for key in identity["userAssignedIdentities"]
                }
            state["identity"] = identity
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            state.update(
                clientId=self._uuid(resource_id, "client"), principalId=self._uuid(resource_id, "principal"), tenantId=self.TENANT_ID
            )
        if args.typ == "azure-native:operationalinsights:Workspace":
            state["customerId"] = self._uuid(resource_id, "customer")
        if args.typ == "azure-native:containerservice:ManagedCluster":
            self._cluster_outputs(name, resource_id, state)
        return resource_id

    def _cluster_outputs(self, name: str, resource_id: str, state: dict[str, Any]) -> None:
        location = state.get("location", "")
        prefix = state.get("dnsPrefix", name)
        suffix = hashlib.sha256(resource_id.encode()).hexdigest()[:8]
        private = (state.get("apiServerAccessProfile") or {}).get("enablePrivateCluster") is True
        state["fqdn"] = f"{prefix}-{suffix}.hcp.{location}.azmk8s.io"
        if private:
            state["privateFQDN"] = f"{prefix}-{suffix}.privatelink.{location}.azmk8s.io"
        if (state.get("oidcIssuerProfile") or {}).get("enabled"):
            state["oidcIssuerProfile"] = {
                **state["oidcIssuerProfile"],
                "issuerURL": f"https://{location}.oic.prod-aks.azure.com/{self.TENANT_ID}/{self._uuid(resource_id, 'oidc')}/",
            }
        state["nodeResourceGroup"] = state.get("nodeResourceGroup") or f"MC_{state.get('resourceGroupName')}_{name}_{location}"
        state["powerState"] = {"code": "Running"}
        state["provisioningState"] = "Succeeded"
        self._clusters[(state.get("resourceGroupName", ""), name)] = state

    def _user_kubeconfig(self, args: dict[str, Any]) -> str:
        """What `listClusterUserCredential` returns for an Entra ID cluster: an exec (kubelogin) or a
        legacy `azure` auth-provider user, and the private FQDN for a private cluster."""
        group, name = args.get("resourceGroupName", ""), args.get("resourceName", "")
        cluster = self._clusters.get((group, name), {})
        server = f"https://{cluster.get('privateFQDN') or cluster.get('fqdn') or name}:443"
        user_name = f"clusterUser_{group}_{name}"
        user: dict[str, Any]
        if args.get("format") == "azure":
            user = {"auth-provider": {"name": "azure", "config": {
                "apiserver-id": self.AKS_SERVER_ID, "client-id": self.AZURE_CLI_CLIENT_ID, "config-mode": "1",
                "environment": "AzurePublicCloud", "tenant-id": self.TENANT_ID}}}
        else:
            user = {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "args": [
                        "get-token",
                        "--environment",
                        "AzurePublicCloud",
                        "--server-id",
                        self.AKS_SERVER_ID,
                        "--client-id",
                        self.AZURE_CLI_CLIENT_ID,
                        "--tenant-id",
                        self.TENANT_ID,
                        "--login",
                        "devicecode",
                    ],
                    "command": "kubelogin",
                    "env": None,
                    "installHint": "\nkubelogin is not installed which is required to connect to AAD enabled cluster.\n\nTo learn more, "
                                   "please go to https://aka.ms/aks/kubelogin\n",
                    "provideClusterInfo": False,
                }
            }
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "current-context": name,
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "certificate-authority-data": base64.b64encode(
                            b"-----BEGIN CERTIFICATE-----\nMOCK\n-----END CERTIFICATE-----\n"
                        ).decode(),
                        "server": server,
                    },
                }
            ],
            "contexts": [{"name": name, "context": {"cluster": name, "user": user_name}}],
            "users": [{"name": user_name, "user": user}],
        }
        return base64.b64encode(yaml.safe_dump(document, sort_keys=False).encode()).decode()

    # Rancher (rancher2) ids and outputs the program reads back, shaped like Rancher's own: cloud
    # credentials live in `cattle-global-data`, clusters get a `c-m-` management id, projects are
    # `<cluster id>:p-...`, and a cluster's kubeconfig and registration command exist (as
    # placeholders) once it is created.
    _RANCHER: dict[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]] = {
        "rancher2:index/cloudCredential:CloudCredential": lambda state: (f"cattle-global-data:cc-{state.get('name')}", {}),
        "rancher2:index/clusterV2:ClusterV2": lambda state: (
            f"fleet-default/{state.get('name')}",
            {
                "clusterV1Id": f"c-m-{state.get('name')}",
                "kubeConfig": "[kubeconfig]",
                "clusterRegistrationToken": {"nodeCommand": "[registration command]"},
            },
        ),
        "rancher2:index/clusterSync:ClusterSync": lambda state: (
            str(state.get("clusterId")),
            {"kubeConfig": "[kubeconfig]", "synced": True},
        ),
        "rancher2:index/project:Project": lambda state: (f"{state.get('clusterId')}:p-{state.get('name')}", {}),
    }

    # Generated passwords (components/kit/generated.py): placeholders of the right shape; the
    # resource marks them secret, so the inventory shows `[secret]`.
    _GENERATED: dict[str, Callable[[str], dict[str, str]]] = {
        "pulumi-python:dynamic/platform:GeneratedPassword": lambda name: {
            "result": f"[password {name}]", "bcrypt_hash": f"[bcrypt {name}]",
        },
    }

    def new_resource(self, args: mocks.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ in self._GENERATED:
            return f"{args.name}-id", {**state, **self._GENERATED[args.typ](args.name)}
        if args.typ in self._RANCHER:
            resource_id, computed = self._RANCHER[args.typ](state)
            return resource_id, {**state, **computed}
        if args.typ in self._AZURE:
            return self._azure(args, state), state
        return f"{args.name}-id", state

    def call(self, args: mocks.MockCallArgs):
        if args.token == "azure-native:authorization:getClientConfig":
            return {"clientId": self._uuid("deployer", "client"), "objectId": self.DEPLOYER_OBJECT_ID,
                    "subscriptionId": self.SUBSCRIPTION_ID, "tenantId": self.TENANT_ID}
        if args.token == "azure-native:containerservice:listManagedClusterUserCredentials":
            return {"kubeconfigs": [{"name": "clusterUser", "value": self._user_kubeconfig(dict(args.args))}]}
        if args.token == "rancher2:index/getClusterV2:getClusterV2":
            return {"name": args.args.get("name"), "fleetNamespace": args.args.get("fleetNamespace"),
                    "kubeConfig": f"[kubeconfig of Rancher cluster {args.args.get('name')}]"}
        if args.token == "azure-native:storage:listStorageAccountKeys":
            return {
                "keys": [
                    {"keyName": name, "value": f"[{name} of {args.args.get('accountName')}]", "permissions": "FULL"}
                    for name in ("key1", "key2")
                ]
            }
        return {}


Recorder = Callable[[mocks.Mocks, list[Registration]], RecordingMonitor]
"""Makes the monitor an evaluation records with (the review keeps the raw requests too)."""


def evaluate(
    stack: str,
    path: Path | None = None,
    into: list[Registration] | None = None,
    sites: Path | None = None,
    recorder: Recorder = RecordingMonitor,
) -> list[Registration]:
    """Every resource the program registers for `stack` (from `path`, default its stack file, checked
    against the other sites' stack files in `sites`, default stacks/), in registration order,
    appended to `into` as they happen.

    Raises loader.ConfigError, before anything is registered, when the config is invalid.
    """
    from components.program import build

    loaded = load_stack(stack, path, sites)
    return run_program(lambda: build(loaded), stack, into, recorder)


def run_program(
    program: Callable[[], Any], stack: str, into: list[Registration] | None = None, recorder: Recorder = RecordingMonitor,
) -> list[Registration]:
    """Run any Pulumi program function under the recording mock monitor (components' tests use
    this for programs smaller than a stack)."""
    from components.runtime import tune_garbage_collector

    tune_garbage_collector()  # as under the engine (__main__.py)
    monitor = recorder(InventoryMocks(), into if into is not None else [])
    settings.ROOT.set(None)  # a fresh root stack resource for each evaluation
    mocks.set_mocks(monitor.mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    settings.SETTINGS.callbacks = RecordedTransforms()
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(program))
    return monitor.registrations


def as_json(registrations: list[Registration]) -> str:
    return json.dumps([registration.to_json() for registration in registrations], indent=2, sort_keys=False)


def as_text(registrations: list[Registration]) -> str:
    lines = []
    for registration in registrations:
        lines.append(f"{registration.type}  {registration.name}")
        lines.append(f"    parent:  {registration.parent}")
        options = {key: value for key, value in registration.options.items() if value not in (False, None, [])}
        if options:
            lines.append(f"    options: {json.dumps(options, sort_keys=True)}")
        if registration.inputs:
            body = json.dumps(registration.inputs, indent=2, sort_keys=True).replace("\n", "\n    ")
            lines.append(f"    inputs:  {body}")
    lines.append(f"{len(registrations)} resources")
    return "\n".join(lines)
