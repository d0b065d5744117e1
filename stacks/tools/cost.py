"""Monthly cost estimate of a stack: `python -m stacks cost STACK [--json] [--base REF | --base-file FILE]`.

The estimate is made from what the stack registers (the inventory: AKS node pools with their VM
sizes and node counts, OS disks, the cluster tier, load balancers, storage accounts, volume claims)
and, where no resource says it, from the stack's config (an on-premises site's machine pools and
chargeback rates, the hours a dev cluster runs, the data expected in object storage). Prices come
from the table in `stacks/prices/azure.json`, which records where and when each price was found; a
price that was not found is listed as not priced, never guessed.

Every figure is a range: node pools at their minimum and at their maximum size. The `stack-budget`
policy compares the maximum with `policy.budget_monthly`; the estimate reaches it through the
generated policy-pack config (`stacks/tools/policy_config.py`), with the facts it priced so the policy
can tell a stale estimate from a current one (policies/rules/cost.py).

`--base REF` estimates the same stack at another commit (a temporary git worktree running that
commit's own `python -m stacks cost`), so a merge request shows the change against its base branch.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from components.services.parts import PARTS
from policies.rules.cost import AGENT_POOL, MANAGED_CLUSTER, cost_facts

from ..loader import STACKS_DIR
from ..model import Aks, Rancher, StackConfig
from ..model.base import quantity_value
from ..reading import read_json

PRICES_DIR = STACKS_DIR / "prices"
AZURE_PRICES = PRICES_DIR / "azure.json"
ROOT = STACKS_DIR.parent

STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
SERVICE = "kubernetes:core/v1:Service"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
STATEFUL_SET = "kubernetes:apps/v1:StatefulSet"
CLUSTER_V2 = "rancher2:index/clusterV2:ClusterV2"
INTERNAL_LB = "service.beta.kubernetes.io/azure-load-balancer-internal"

#: Resources billed by what they do rather than by what they are: listed, not estimated.
USAGE_BASED = {
    "azure-native:operationalinsights:Workspace": "billed per GB of logs ingested and retained",
    "azure-native:logic:Workflow": "billed per action run",
    "azure-native:monitor:DiagnosticSetting": "billed as the logs its workspace ingests",
    # Billed per day by service tier plus storage above the tier's included amount; stacks/prices/
    # has no container registry price yet, so it is listed rather than guessed.
    "azure-native:containerregistry:Registry": "billed per day by service tier and per GB stored above the tier's included storage "
                                               "(no registry price in stacks/prices/azure.json)",
    "azure-native:network:PrivateEndpoint": "billed per hour and per GB processed (no private endpoint price in stacks/prices/azure.json)",
}

#: Operator custom resources that claim volumes: type -> (where the size is, where the count is,
#: storage class), as each shared service's part declares them (components/services/parts.py).
_CLAIMING_RESOURCES = {kind: paths for part in PARTS for kind, paths in part.volume_claims.items()}

CHART = "kubernetes:helm.sh/v4:Chart"
#: Charts whose values claim volumes: chart name -> (what, where the size is, where the count is (None: one), storage class).
_Path = tuple[str, ...]
_CHART_VOLUMES: dict[str, list[tuple[str, _Path, _Path | None, _Path]]] = {
    "kube-prometheus-stack": [
        (
            "Prometheus",
            ("prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate", "spec", "resources", "requests", "storage"),
            ("prometheus", "prometheusSpec", "replicas"),
            ("prometheus", "prometheusSpec", "storageSpec", "volumeClaimTemplate", "spec", "storageClassName"),
        )
    ],
    "loki": [
        ("Loki", ("singleBinary", "persistence", "size"), ("singleBinary", "replicas"), ("singleBinary", "persistence", "storageClass"))
    ],
    "tempo": [("Tempo", ("persistence", "size"), ("replicas",), ("persistence", "storageClassName"))],
    "harbor": [
        (
            "Harbor's database",
            ("persistence", "persistentVolumeClaim", "database", "size"),
            None,
            ("persistence", "persistentVolumeClaim", "database", "storageClass"),
        ),
        (
            "Harbor's Redis",
            ("persistence", "persistentVolumeClaim", "redis", "size"),
            None,
            ("persistence", "persistentVolumeClaim", "redis", "storageClass"),
        ),
    ],
}


# --- the price table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    value: float
    #: Where the price comes from, as the estimate shows it.
    basis: str


class PriceTable:
    """`stacks/prices/azure.json`: regional prices where found, otherwise the reference prices."""

    def __init__(self, data: dict[str, Any], file: str = "stacks/prices/azure.json"):
        self.data = data
        self.file = file
        self.currency: str = data["currency"]
        self.hours: float = float(data["hours_per_month"])
        self.compiled: str = data.get("compiled", "")

    @classmethod
    def load(cls, path: Path = AZURE_PRICES) -> PriceTable:
        return cls(json.loads(path.read_text()), _display(path))

    def region_note(self, region: str) -> str:
        entry = self.data.get("regions", {}).get(region)
        if entry is None:
            return f"{region}: not in the price table; reference prices used"
        return entry.get("note", "")

    def _source(self, name: str | None) -> str:
        source = self.data.get("sources", {}).get(name or "", {})
        return f"{name}, {source.get('region', '?')}, found {source.get('found', '?')}" if source else "no source"

    def _entry(self, region: str, category: str, key: str) -> tuple[dict | None, bool]:
        regional = self.data.get("regions", {}).get(region, {}).get(category, {}).get(key)
        if isinstance(regional, dict) and regional.get("price") is not None:
            return regional, True
        reference = self.data.get("reference", {}).get(category, {}).get(key)
        return (reference if isinstance(reference, dict) else None), False

    def lookup(self, region: str, category: str, key: str) -> Price | None:
        entry, regional = self._entry(region, category, key)
        if entry is None or entry.get("price") is None:
            return None
        where = f"{region} list price" if regional else "reference price"
        return Price(float(entry["price"]), f"{where} ({self._source(entry.get('source'))})")

    def disk(self, region: str, sku: str, gib: float) -> tuple[str, Price] | None:
        """The tier a managed disk of `gib` is billed as (the next size up) and its monthly price."""
        table = self.data.get("regions", {}).get(region, {}).get("managed_disk_monthly", {}).get(sku)
        where = f"{region} list price"
        if not (isinstance(table, dict) and table.get("tiers")):
            table, where = self.data.get("reference", {}).get("managed_disk_monthly", {}).get(sku), "reference price"
        if not (isinstance(table, dict) and table.get("tiers")):
            return None
        for tier in table["tiers"]:
            if gib <= tier["gib"]:
                return tier["name"], Price(float(tier["price"]), f"{where} ({self._source(table.get('source'))})")
        return None

    def load_balancer(self) -> dict[str, Any] | None:
        return self.data.get("reference", {}).get("load_balancer")

    def lb_basis(self) -> str:
        return f"reference price ({self._source((self.load_balancer() or {}).get('source'))})"


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --- the estimate --------------------------------------------------------------------------------


@dataclass
class Line:
    """One priced item: monthly cost with node pools at their minimum and at their maximum."""

    resource: str
    what: str
    category: str
    monthly_min: float
    monthly_max: float
    basis: str
    #: What the line prices, stable across changes of counts and sizes (to compare with a base).
    key: str = ""


#: The order lines are listed in.
CATEGORIES = ("control plane", "compute", "disks", "volumes", "storage", "network")


@dataclass
class Unpriced:
    """Something the estimate leaves out, and why. `blocking`: it should be priced and the budget
    cannot be judged without it (a node pool or machine pool without a price)."""

    resource: str
    what: str
    reason: str
    blocking: bool = False


@dataclass
class Estimate:
    stack: str
    environment: str
    currency: str
    lines: list[Line] = field(default_factory=list)
    unpriced: list[Unpriced] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: What the policy compares with the resources it sees (policies/rules/cost.py).
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    budget: float | None = None
    prices: str = ""

    @property
    def monthly_min(self) -> float:
        return round(sum(line.monthly_min for line in self.lines), 2)

    @property
    def monthly_max(self) -> float:
        return round(sum(line.monthly_max for line in self.lines), 2)

    @property
    def within_budget(self) -> bool | None:
        return None if self.budget is None else self.monthly_max <= self.budget

    def to_json(self) -> dict[str, Any]:
        """The estimate as `python -m stacks cost --json` prints it and the policy reads it."""
        return {
            "stack": self.stack,
            "environment": self.environment,
            "currency": self.currency,
            "monthlyMin": self.monthly_min,
            "monthlyMax": self.monthly_max,
            "budgetMonthly": self.budget,
            "prices": self.prices,
            "lines": [
                {"resource": line.resource, "key": line.key or line.what, "what": line.what, "category": line.category,
                 "monthlyMin": round(line.monthly_min, 2), "monthlyMax": round(line.monthly_max, 2), "basis": line.basis}
                for line in self.lines
            ],
            "unpriced": [asdict(u) for u in self.unpriced],
            "notes": list(self.notes),
            "facts": self.facts,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Estimate:
        return cls(
            stack=data["stack"],
            environment=data.get("environment", ""),
            currency=data.get("currency", "USD"),
            lines=[
                Line(
                    line["resource"],
                    line["what"],
                    line["category"],
                    float(line["monthlyMin"]),
                    float(line["monthlyMax"]),
                    line.get("basis", ""),
                    line.get("key") or line["what"],
                )
                for line in data.get("lines", [])
            ],
            unpriced=[Unpriced(**u) for u in data.get("unpriced", [])],
            notes=list(data.get("notes", [])),
            facts=data.get("facts", {}),
            budget=data.get("budgetMonthly"),
            prices=data.get("prices", ""),
        )


def _get(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([KMGTPE]i?|)$")
_FACTORS = {"": 1 / 2**30, "Ki": 1 / 2**20, "Mi": 1 / 2**10, "Gi": 1, "Ti": 2**10, "Pi": 2**20, "Ei": 2**30,
            "K": 1e3 / 2**30, "M": 1e6 / 2**30, "G": 1e9 / 2**30, "T": 1e12 / 2**30, "P": 1e15 / 2**30, "E": 1e18 / 2**30}


def gib(quantity: Any) -> float | None:
    """A Kubernetes storage quantity (`10Gi`, `500M`, `1Ti`) in GiB; None when it is not one."""
    match = _QUANTITY.match(str(quantity).strip()) if quantity is not None else None
    if match:
        return float(match.group(1)) * _FACTORS[match.group(2)]
    try:  # every other form Kubernetes accepts (`16e0`, `.5Gi`, `5e10`), as the model reads it
        return quantity_value(str(quantity).strip()) / 2**30 if quantity is not None else None
    except ValueError:
        return None


def _count(value: Any, default: int = 1) -> int:
    """A whole number from the wire (the engine's protobuf structs carry every number as a double)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return default
    return int(value)


def _key(resource) -> str:
    return f"{resource.type}::{resource.name}"


class _Estimator:
    def __init__(self, config: StackConfig, stack: str, prices: PriceTable):
        self.config = config
        self.prices = prices
        self.infrastructure = config.infrastructure
        self.region = config.infrastructure.region if isinstance(config.infrastructure, Aks) else ""
        self.estimate = Estimate(stack, config.environment, config.policy.currency, budget=config.policy.budget_monthly,
                                 prices=f"{prices.file} (compiled {prices.compiled})")
        self.running = 1.0
        working = getattr(self.infrastructure, "working_hours", None)
        if working is not None:
            hours = len(working.days) * (working.stop_hour - working.start_hour)
            self.running = hours / (7 * 24)
            self.estimate.notes.append(
                f"the cluster runs {hours} of 168 hours a week (working_hours, {working.time_zone}); VM compute is priced for those "
                "hours, disks and network for the whole month"
            )
        if self.region:
            self.estimate.notes.append(f"prices for {self.region}: {prices.region_note(self.region)}")

    def line(self, resource: str, what: str, category: str, low: float, high: float, basis: str, key: str = "") -> None:
        self.estimate.lines.append(Line(resource, what, category, round(low, 2), round(high, 2), basis, key or what))

    def unpriced(self, resource: str, what: str, reason: str, blocking: bool = False) -> None:
        self.estimate.unpriced.append(Unpriced(resource, what, reason, blocking))

    # --- AKS ---

    def pool(self, resource: str, name: str, props: dict) -> None:
        size = props.get("vmSize")
        count = props.get("count")
        low, high = _count(props.get("minCount", count), 0), _count(props.get("maxCount", count), 0)
        spot = props.get("scaleSetPriority") == "Spot"
        what = f"node pool `{name}`: {low}..{high} × {size}" + (" (spot)" if spot else "")
        price = self.prices.lookup(self.region, "vm_hourly", str(size))
        if price is None:
            self.unpriced(resource, what, f"{size} has no price in {self.prices.file}; add it so the budget can be checked", blocking=True)
        else:
            hourly = price.value * self.prices.hours * self.running
            basis = price.basis
            if spot:
                basis += "; spot priced at its ceiling, the pay-as-you-go price (spotMaxPrice -1)"
            if self.running < 1:
                basis += f"; {self.running:.0%} of the month"
            self.line(resource, what, "compute", hourly * low, hourly * high, basis, f"node pool {name}")
        if props.get("osDiskType") == "Managed":
            disk_gib = _count(props.get("osDiskSizeGB"), 128)
            tier = self.prices.disk(self.region, "Premium_LRS", disk_gib)
            disk_what = f"OS disks of pool `{name}`: {low}..{high} × {disk_gib} GB Premium SSD"
            if tier is None:
                self.unpriced(resource, disk_what, f"no Premium SSD price for {disk_gib} GB in {self.prices.file}")
            else:
                label, price = tier
                self.line(
                    resource,
                    f"{disk_what} ({label})",
                    "disks",
                    price.value * low,
                    price.value * high,
                    price.basis,
                    f"OS disks of pool {name}",
                )

    def managed_cluster(self, resource, props: dict) -> None:
        key = _key(resource)
        tier = (props.get("sku") or {}).get("tier") or "Free"
        price = self.prices.lookup(self.region, "aks_tier_hourly", tier)
        if price is None:
            self.unpriced(key, f"AKS control plane, {tier} tier", f"no price for the {tier} tier in {self.prices.file}")
        else:
            monthly = price.value * self.prices.hours
            self.line(key, f"AKS control plane, {tier} tier", "control plane", monthly, monthly, price.basis, "AKS control plane")
        for profile in props.get("agentPoolProfiles") or []:
            self.pool(key, str(profile.get("name")), profile)
        network = props.get("networkProfile") or {}
        self.outbound = (
            str(network.get("loadBalancerSku", "standard")).lower() == "standard"
            and network.get("outboundType", "loadBalancer") == "loadBalancer"
        )
        self.cluster_key = key

    def load_balancers(self, services: list) -> None:
        """The cluster's outbound load balancer and public IP, and the frontends of LoadBalancer
        Services: AKS puts public ones on the cluster's load balancer (one rule per port, one public
        IP each) and internal ones on a second, internal load balancer."""
        lb = self.prices.load_balancer()
        ip = self.prices.lookup(self.region, "public_ip_hourly", "Standard")
        public_rules, internal_rules, public_ips = 0, 0, 0
        if getattr(self, "outbound", False):
            public_rules, public_ips = 1, 1
        for service in services:
            spec = service.inputs.get("spec") or {}
            if spec.get("type") != "LoadBalancer":
                continue
            ports = len(spec.get("ports") or []) or 1
            annotations = (service.inputs.get("metadata") or {}).get("annotations") or {}
            if str(annotations.get(INTERNAL_LB, "")).lower() == "true":
                internal_rules += ports
            else:
                public_rules += ports
                public_ips += 1
        key = getattr(self, "cluster_key", "")
        for kind, rules in (("public", public_rules), ("internal", internal_rules)):
            if not rules:
                continue
            what = f"{kind} Standard load balancer, {rules} rule{'s' if rules != 1 else ''}"
            if lb is None:
                self.unpriced(key, what, f"no load balancer price in {self.prices.file}")
                continue
            extra = max(0, rules - int(lb["included_rules"]))
            monthly = (float(lb["hourly"]) + extra * float(lb["extra_rule_hourly"])) * self.prices.hours
            self.line(
                key,
                what,
                "network",
                monthly,
                monthly,
                self.prices.lb_basis() + "; data processed is billed per GB and not estimated",
                f"{kind} load balancer",
            )
        if public_ips:
            what = f"{public_ips} Standard public IP{'s' if public_ips != 1 else ''}"
            if ip is None:
                self.unpriced(key, what, f"no public IP price in {self.prices.file}")
            else:
                monthly = ip.value * self.prices.hours * public_ips
                self.line(key, what, "network", monthly, monthly, ip.basis, "public IPs")

    def storage_account(self, resource) -> None:
        sku = (resource.inputs.get("sku") or {}).get("name", "")
        size = self.config.policy.object_storage_gb
        what = f"object storage, {sku}, {size} GB assumed (policy.object_storage_gb)"
        price = self.prices.lookup(self.region, "blob_gb_month", sku)
        if price is None:
            self.unpriced(
                _key(resource),
                what,
                f"no list price for {sku} blob storage was found ({self.prices.file}); transactions and geo-replication traffic are "
                "billed by usage",
            )
        else:
            self.line(
                _key(resource),
                what,
                "storage",
                price.value * size,
                price.value * size,
                price.basis + "; hot tier, transactions not estimated",
                f"object storage {resource.name}",
            )

    # --- volumes ---

    def volume(self, resource: str, what: str, size: float, count: int, storage_class: str | None) -> None:
        key = what
        what = f"{what}: {count} × {size:g} GiB"
        if isinstance(self.infrastructure, Rancher):
            rates = self.config.policy.chargeback
            if rates is None:
                self.unpriced(resource, what, "on-premises volumes are priced by policy.chargeback.per_disk_gi, which is not set")
            else:
                monthly = rates.per_disk_gi * size * count
                self.line(resource, what, "volumes", monthly, monthly, "chargeback rate (policy.chargeback.per_disk_gi)", key)
            return
        if not isinstance(self.infrastructure, Aks):
            return
        sku = "Premium_LRS" if storage_class and "premium" in storage_class.lower() else "StandardSSD_LRS"
        tier = self.prices.disk(self.region, sku, size)
        if tier is None:
            self.unpriced(resource, what, f"no {sku} managed disk price in {self.prices.file} (storage class {storage_class or 'default'})")
        else:
            label, price = tier
            self.line(resource, f"{what} ({sku} {label})", "volumes", price.value * count, price.value * count, price.basis, key)

    def claims(self, resource) -> None:
        props = resource.inputs
        key = _key(resource)
        if resource.type == CLAIM:
            size = gib(_get(props, ("spec", "resources", "requests", "storage")))
            if size is not None:
                self.volume(key, f"volume claim `{resource.name}`", size, 1, _get(props, ("spec", "storageClassName")))
        elif resource.type == STATEFUL_SET:
            replicas = _count(_get(props, ("spec", "replicas")), 1)
            for template in _get(props, ("spec", "volumeClaimTemplates")) or []:
                size = gib(_get(template, ("spec", "resources", "requests", "storage")))
                if size is not None:
                    name = _get(template, ("metadata", "name")) or "data"
                    self.volume(
                        key,
                        f"volume `{name}` of StatefulSet `{resource.name}`",
                        size,
                        replicas,
                        _get(template, ("spec", "storageClassName")),
                    )
        elif resource.type == CHART:
            chart = str(props.get("chart") or "").rstrip("/").rsplit("/", 1)[-1]  # a repository chart name, a path or an OCI reference
            values = props.get("values") or {}
            for what, size_at, count_at, class_at in _CHART_VOLUMES.get(chart, ()):
                size = gib(_get(values, size_at))
                if size is not None:
                    count = _count(_get(values, count_at), 1) if count_at else 1
                    self.volume(key, f"{what} volumes of chart `{resource.name}`", size, count, _get(values, class_at))
        elif resource.type in _CLAIMING_RESOURCES:
            size_at, count_at, class_at = _CLAIMING_RESOURCES[resource.type]
            kind = resource.type.rsplit(":", 1)[-1]
            count = _count(_get(props, count_at), 1)
            size = gib(_get(props, size_at))
            if size is not None:
                self.volume(key, f"volumes of {kind} `{resource.name}`", size, count, _get(props, class_at))
            # Strimzi's JBOD storage: one claim per volume and node (KRaft node pools use it).
            storage = _get(props, ("spec", "storage")) or {}
            if isinstance(storage, dict) and storage.get("type") == "jbod":
                for volume in storage.get("volumes") or []:
                    size = gib(volume.get("size")) if isinstance(volume, dict) and volume.get("type") == "persistent-claim" else None
                    if size is not None:
                        self.volume(key, f"volume {volume.get('id', 0)} of {kind} `{resource.name}`", size, count, volume.get("class"))

    # --- on premises ---

    def machine_pools(self, cluster: Rancher, cluster_key: str) -> None:
        rates = self.config.policy.chargeback
        for name, pool in cluster.machine_pools.items():
            what = f"machine pool `{name}`: {pool.quantity} × {pool.cpu} vCPU, {pool.memory_gi} GiB, {pool.disk_gi} GiB disk"
            if rates is None:
                self.unpriced(
                    cluster_key,
                    what,
                    "an on-premises site is priced with its data centre's chargeback rates; set policy.chargeback",
                    blocking=True,
                )
                continue
            per_node = rates.per_node + rates.per_vcpu * pool.cpu + rates.per_memory_gi * pool.memory_gi + rates.per_disk_gi * pool.disk_gi
            self.line(
                cluster_key,
                what,
                "compute",
                per_node * pool.quantity,
                per_node * pool.quantity,
                "chargeback rates (policy.chargeback)",
                f"machine pool {name}",
            )

    def run(self, resources: Sequence) -> Estimate:
        services = []
        for resource in resources:
            if resource.type == MANAGED_CLUSTER:
                self.managed_cluster(resource, resource.inputs)
        for resource in resources:
            if resource.type == AGENT_POOL:
                self.pool(_key(resource), str(resource.inputs.get("agentPoolName") or resource.name), resource.inputs)
            elif resource.type == STORAGE_ACCOUNT:
                self.storage_account(resource)
            elif resource.type == SERVICE:
                services.append(resource)
            elif resource.type in USAGE_BASED:
                self.unpriced(_key(resource), resource.name, USAGE_BASED[resource.type] + "; not estimated")
            else:
                self.claims(resource)
        if isinstance(self.infrastructure, Aks):
            self.load_balancers(services)
        if isinstance(self.infrastructure, Rancher):
            cluster = next((resource for resource in resources if resource.type == CLUSTER_V2), None)
            self.machine_pools(self.infrastructure, _key(cluster) if cluster else "config:infrastructure.machine_pools")
            self.estimate.notes.append(
                "on-premises: machine pools are priced with the site's chargeback rates from config; object storage on the enterprise S3 "
                "is not estimated"
            )
        if not self.estimate.lines and not self.estimate.unpriced:
            self.estimate.notes.append("nothing in this stack is billed: it registers no cloud or data-centre resources")
        rank = {category: index for index, category in enumerate(CATEGORIES)}
        self.estimate.lines.sort(key=lambda line: (rank.get(line.category, len(rank)), line.key, line.what))
        self.estimate.unpriced.sort(key=lambda item: (not item.blocking, item.resource, item.what))
        self.estimate.facts = cost_facts(list(resources))
        return self.estimate


def estimate(config: StackConfig, stack: str, resources: Iterable, prices: PriceTable | None = None) -> Estimate:
    """The estimate of `stack` from its resources (anything with `type`, `name` and wire `inputs`:
    inventory registrations or the review's engine resources) and its config."""
    return _Estimator(config, stack, prices or _default_prices()).run(list(resources))


@lru_cache(maxsize=1)
def _default_prices() -> PriceTable:
    return PriceTable.load()


def estimate_stack(stack: str, path: Path | None = None) -> Estimate:
    """Evaluate `stack` (mock runtime, as `python -m stacks inventory` does) and estimate it."""
    from .inventory import evaluate
    from ..loader import load

    config = load(stack, path)
    return estimate(config, stack, evaluate(stack, path))


# --- against the base branch ---------------------------------------------------------------------


@dataclass
class Change:
    base: Estimate | None
    head: Estimate
    #: Where the base came from (a commit, a file), or why there is none.
    source: str

    @property
    def delta_min(self) -> float:
        return round(self.head.monthly_min - (self.base.monthly_min if self.base else 0.0), 2)

    @property
    def delta_max(self) -> float:
        return round(self.head.monthly_max - (self.base.monthly_max if self.base else 0.0), 2)

    def changed_lines(self) -> list[tuple[str, float, float]]:
        """(item, change at minimum, change at maximum) for every item whose cost changed."""
        if self.base is None:
            return []

        def totals(estimate: Estimate) -> dict[str, tuple[float, float, str]]:
            result: dict[str, tuple[float, float, str]] = {}
            for line in estimate.lines:
                low, high, _ = result.get(line.key or line.what, (0.0, 0.0, ""))
                result[line.key or line.what] = (low + line.monthly_min, high + line.monthly_max, line.what)
            return result

        before, after = totals(self.base), totals(self.head)
        changes = []
        for key in sorted(set(before) | set(after)):
            b_low, b_high, b_what = before.get(key, (0.0, 0.0, ""))
            a_low, a_high, a_what = after.get(key, (0.0, 0.0, ""))
            if round(a_low - b_low, 2) or round(a_high - b_high, 2):
                what = a_what if key in after else f"{b_what} (removed)"
                if key in after and key in before and a_what != b_what:
                    what = f"{b_what} → {a_what}"
                changes.append((what, round(a_low - b_low, 2), round(a_high - b_high, 2)))
        return changes


def base_from_file(path: str | Path) -> Estimate:
    return Estimate.from_json(read_json(Path(path)))


def base_from_ref(stack: str, ref: str, root: Path = ROOT) -> tuple[Estimate | None, str]:
    """The estimate of `stack` at commit `ref`, made by that commit's own code in a temporary
    worktree; (None, why) when it cannot be made (no such stack there yet, a commit that predates
    `python -m stacks cost`, a ref that is not fetched)."""
    with tempfile.TemporaryDirectory(prefix="stacks-base-") as directory:
        tree = Path(directory) / "base"
        added = subprocess.run(
            ["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), ref], capture_output=True, text=True
        )
        if added.returncode != 0:
            return (
                None,
                f"no base estimate: cannot check out `{ref}` "
                f"({added.stderr.strip().splitlines()[-1] if added.stderr.strip() else 'git worktree failed'})",
            )
        try:
            if not (tree / "stacks" / f"Pulumi.{stack}.yaml").exists():
                return None, f"no base estimate: `{ref}` has no stack `{stack}` (a new stack)"
            run = subprocess.run(
                [sys.executable, "-m", "stacks", "cost", stack, "--json"], cwd=tree, capture_output=True, text=True, timeout=900
            )
            if run.returncode != 0:
                last = (run.stderr.strip().splitlines() or ["failed"])[-1]
                return None, f"no base estimate: `python -m stacks cost` at `{ref}` failed ({last})"
            return Estimate.from_json(json.loads(run.stdout)), f"`{ref}`"
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], capture_output=True)


# --- presentation --------------------------------------------------------------------------------


def money(amount: float, currency: str) -> str:
    return f"{currency} {amount:,.2f}"


def _signed(amount: float, currency: str) -> str:
    return ("+" if amount >= 0 else "−") + money(abs(amount), currency)


def summary(estimate: Estimate) -> str:
    """One line: the range, and the budget verdict."""
    text = f"{money(estimate.monthly_min, estimate.currency)} – {money(estimate.monthly_max, estimate.currency)} a month"
    if estimate.budget is not None:
        verdict = "within" if estimate.within_budget else "OVER"
        text += f" ({verdict} the budget of {money(estimate.budget, estimate.currency)} at maximum scale)"
    blocking = [item for item in estimate.unpriced if item.blocking]
    if blocking:
        text += f"; {len(blocking)} item{'s' if len(blocking) != 1 else ''} cannot be priced"
    return text


def change_summary(change: Change) -> str:
    if change.base is None:
        return change.source
    currency = change.head.currency
    return f"against {change.source}: {_signed(change.delta_min, currency)} at minimum, {_signed(change.delta_max, currency)} at maximum"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def markdown(estimate: Estimate, change: Change | None = None) -> str:
    currency = estimate.currency
    lines = ["### Cost estimate", "", f"**{summary(estimate)}**, node pools at their minimum – at their maximum size."]
    if change is not None:
        lines += ["", f"Change {change_summary(change)}."]
        for what, low, high in change.changed_lines():
            lines.append(f"- {_cell(what)}: {_signed(low, currency)} / {_signed(high, currency)}")
    lines += ["", "| Item | Category | Min / month | Max / month | Price basis |", "|---|---|---:|---:|---|"]
    for line in estimate.lines:
        lines.append(f"| {_cell(line.what)} | {line.category} | {line.monthly_min:,.2f} | {line.monthly_max:,.2f} | {_cell(line.basis)} |")
    lines.append(f"| **Total ({currency})** | | **{estimate.monthly_min:,.2f}** | **{estimate.monthly_max:,.2f}** | |")
    if estimate.unpriced:
        lines += ["", "Not in the estimate:"]
        lines += [
            f"- {'**cannot be priced**: ' if item.blocking else ''}{_cell(item.what)} (`{item.resource}`): {_cell(item.reason)}"
            for item in estimate.unpriced
        ]
    lines += ["", f"Prices: `{estimate.prices}`."] + [f"Note: {_cell(note.rstrip('.'))}." for note in estimate.notes]
    return "\n".join(lines)


def text(estimate: Estimate, change: Change | None = None) -> str:
    currency = estimate.currency
    out = [f"Cost estimate of stack {estimate.stack}: {summary(estimate)}"]
    if change is not None:
        out.append(f"  change {change_summary(change)}")
        out += [f"    {what}: {_signed(low, currency)} / {_signed(high, currency)}" for what, low, high in change.changed_lines()]
    width = max((len(line.what) for line in estimate.lines), default=10)
    for line in estimate.lines:
        out.append(f"  {line.what.ljust(width)}  {line.monthly_min:>12,.2f}  {line.monthly_max:>12,.2f}  {line.basis}")
    for item in estimate.unpriced:
        out.append(f"  {'CANNOT PRICE' if item.blocking else 'not estimated'}: {item.what} ({item.resource}): {item.reason}")
    out.append(f"  prices: {estimate.prices}")
    out += [f"  note: {note}" for note in estimate.notes]
    return "\n".join(out)


# --- command line --------------------------------------------------------------------------------


def add_parser(commands) -> None:
    parser = commands.add_parser(
        "cost", help="the stack's monthly cost estimate (node pools at min and max), optionally against a base commit"
    )
    parser.add_argument("stack", help="a stack name or a stack file path")
    parser.add_argument("--json", action="store_true", help="the estimate as JSON (what the stack-budget policy reads)")
    base = parser.add_mutually_exclusive_group()
    base.add_argument("--base", metavar="REF", help="compare with the same stack at this commit (e.g. the merge request's base)")
    base.add_argument("--base-file", metavar="FILE", help="compare with an estimate saved by `cost --json`")
    parser.set_defaults(run=_main)


def resolve_base(stack: str, head: Estimate, ref: str | None, file: str | None) -> Change | None:
    if ref:
        base, source = base_from_ref(stack, ref)
        return Change(base, head, source)
    if file:
        try:
            return Change(base_from_file(file), head, f"`{file}`")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # not readable, or not an estimate
            return Change(None, head, f"no base estimate: cannot read `{file}` ({error})")
    return None


def _main(args) -> int:
    from ..loader import ConfigError
    from .parity import _stack_and_path

    stack, path = _stack_and_path(args.stack)
    try:
        head = estimate_stack(stack, path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(head.to_json(), indent=2))
        return 0
    print(text(head, resolve_base(stack, head, args.base, args.base_file)))
    return 0
