"""The monthly cost estimate (stacks/tools/cost.py) and its price table (stacks/prices/azure.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stacks.tools import cost
from stacks.tools.cli import main as stacks_main
from stacks.tools.inventory import Registration
from stacks.loader import load

ROOT = Path(__file__).resolve().parents[2]
TABLE = json.loads((ROOT / "stacks" / "prices" / "azure.json").read_text())
HOURS = TABLE["hours_per_month"]


def vm(size: str) -> float:
    return TABLE["reference"]["vm_hourly"][size]["price"] * HOURS


@pytest.fixture(scope="module")
def estimates(inventory):
    return {
        stack: cost.estimate(load(stack), stack, inventory(stack)) for stack in ("local", "dev", "test", "prod", "onprem-dc1", "onprem-dc2")
    }


def lines(estimate: cost.Estimate) -> dict[str, tuple[float, float]]:
    return {line.key: (line.monthly_min, line.monthly_max) for line in estimate.lines}


# --- the price table -------------------------------------------------------------------------------


def test_every_allowed_vm_size_has_a_price_with_a_dated_source():
    allowed = yaml.safe_load((ROOT / "stacks" / "profiles" / "kinds" / "aks.yaml").read_text())["allowed_vm_sizes"]
    prices = TABLE["reference"]["vm_hourly"]
    assert sorted(allowed) == sorted(prices)
    for size in allowed:
        assert prices[size]["price"] > 0 and prices[size]["source"] in TABLE["sources"], size


def test_every_price_names_a_source_and_every_missing_price_says_so():
    def walk(value):
        if isinstance(value, dict):
            if "price" in value:
                yield value
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    for entry in walk(TABLE["reference"]):
        if entry["price"] is None:
            assert entry["note"] == "not found"
        else:
            assert entry.get("source") in TABLE["sources"] or "tiers" in entry or "gib" in entry, entry
    for name, source in TABLE["sources"].items():
        assert source["found"] == TABLE["compiled"] and source["where"] and source["region"], name
    # The two regions the shipped AKS stacks run in say plainly that no regional price was found.
    for region in ("centralindia", "southeastasia"):
        assert TABLE["regions"][region]["found"] is False and "reference price" in TABLE["regions"][region]["note"]


def test_a_regional_price_wins_over_the_reference():
    data = json.loads(json.dumps(TABLE))
    data["regions"]["centralindia"]["vm_hourly"] = {"Standard_D4ds_v5": {"price": 0.2, "source": "aks-tiers"}}
    table = cost.PriceTable(data)
    assert table.lookup("centralindia", "vm_hourly", "Standard_D4ds_v5").value == 0.2
    assert table.lookup("centralindia", "vm_hourly", "Standard_D4ds_v5").basis.startswith("centralindia list price")
    assert table.lookup("southeastasia", "vm_hourly", "Standard_D4ds_v5").basis.startswith("reference price (vm-eastus-code, eastus")
    assert table.lookup("centralindia", "blob_gb_month", "Standard_RAGZRS") is None
    assert table.disk("centralindia", "Premium_LRS", 200)[0] == "P15"  # billed as the next tier up


@pytest.mark.parametrize(
    "quantity, expected", [("10Gi", 10), ("1Ti", 1024), ("512Mi", 0.5), ("100G", 100e9 / 2**30), ("lots", None), (None, None)]
)
def test_storage_quantities(quantity, expected):
    assert cost.gib(quantity) == (pytest.approx(expected) if expected is not None else None)


# --- the shipped stacks ----------------------------------------------------------------------------


def test_prod_node_pools_at_their_minimum_and_maximum(estimates):
    prod = lines(estimates["prod"])
    assert prod["AKS control plane"] == (73.0, 73.0)  # Standard tier, $0.10 an hour
    assert prod["node pool system"] == (round(3 * vm("Standard_D4ds_v5"), 2), round(5 * vm("Standard_D4ds_v5"), 2))
    assert prod["node pool general"] == (round(2 * vm("Standard_D4ds_v5"), 2), round(10 * vm("Standard_D4ds_v5"), 2))
    assert prod["node pool ai"] == (0.0, round(25 * vm("Standard_NC8as_T4_v3"), 2)) == (0.0, 13724.0)
    assert prod["OS disks of pool database"] == (76.02, 228.07)  # 2..6 managed 256 GB OS disks, P15
    assert prod["public load balancer"] == (18.25, 18.25) and prod["public IPs"] == (3.65, 3.65)
    assert "OS disks of pool general" not in prod  # ephemeral OS disks cost nothing
    estimate = estimates["prod"]
    assert estimate.monthly_min == round(sum(low for low, _ in prod.values()), 2)
    assert estimate.monthly_max == round(sum(high for _, high in prod.values()), 2)
    assert estimate.budget == 20000 and estimate.within_budget


def test_what_cannot_be_priced_is_listed_not_guessed(estimates):
    unpriced = {item.resource: item for item in estimates["prod"].unpriced}
    assert (
        unpriced["azure-native:operationalinsights:Workspace::platform-aks-logs"].reason
        == "billed per GB of logs ingested and retained; not estimated"
    )
    assert not [item for item in estimates["prod"].unpriced if item.blocking]
    accounts = [
        Registration("azure-native:storage:StorageAccount", name, None, {"sku": {"name": sku}})
        for name, sku in (("geo", "Standard_RAGZRS"), ("local", "Standard_LRS"))
    ]
    estimate = cost.estimate(load("prod"), "prod", accounts)
    [geo] = estimate.unpriced
    assert (geo.resource, geo.blocking) == ("azure-native:storage:StorageAccount::geo", False)
    assert geo.reason.startswith("no list price for Standard_RAGZRS blob storage was found (stacks/prices/azure.json)")
    assert lines(estimate)["object storage local"] == (1.84, 1.84)  # 100 GB assumed (policy.object_storage_gb) at $0.0184


def test_dev_is_priced_for_its_working_hours_and_its_spot_pool_at_the_ceiling(estimates):
    dev = estimates["dev"]
    share = 5 * 12 / 168  # Monday to Friday, 8 to 20
    assert lines(dev)["node pool ai"] == (0.0, round(2 * vm("Standard_NC4as_T4_v3") * share, 2))
    ai = next(line for line in dev.lines if line.key == "node pool ai")
    assert "(spot)" in ai.what and "spot priced at its ceiling" in ai.basis and "36% of the month" in ai.basis
    assert lines(dev)["OS disks of pool database"] == (0.0, 114.04)  # disks bill all month
    assert "the cluster runs 60 of 168 hours a week" in dev.notes[0]


def test_on_premises_sites_are_priced_with_their_chargeback_rates(estimates):
    for stack in ("onprem-dc1", "onprem-dc2"):
        site = lines(estimates[stack])
        assert site["machine pool control"] == (3 * (60 + 22 * 4 + 3 * 8 + 0.1 * 100),) * 2 == (546.0, 546.0)
        assert site["machine pool workers"] == (1026.0, 1026.0)
        assert site["machine pool database"] == (876.0, 876.0)
        assert estimates[stack].budget == 3500 and estimates[stack].within_budget
    assert estimates["onprem-dc1"].monthly_max == estimates["onprem-dc2"].monthly_max  # the sites are in parity


def test_a_site_without_chargeback_rates_cannot_be_priced(inventory):
    config = load("onprem-dc1")
    config = config.model_copy(update={"policy": config.policy.model_copy(update={"chargeback": None})})
    estimate = cost.estimate(config, "onprem-dc1", inventory("onprem-dc1"))
    blocking = [item for item in estimate.unpriced if item.blocking]
    assert [item.what.split(":")[0] for item in blocking] == ["machine pool `control`", "machine pool `database`", "machine pool `workers`"]
    assert blocking[0].reason == "an on-premises site is priced with its data centre's chargeback rates; set policy.chargeback"


def test_an_unknown_vm_size_blocks_the_budget_check():
    config = load("test")
    pool = {"vmSize": "Standard_D96ds_v5", "minCount": 0, "maxCount": 3, "agentPoolName": "huge", "osDiskType": "Ephemeral"}
    estimate = cost.estimate(
        config, "test", [Registration("azure-native:containerservice:AgentPool", "platform-aks-pool-huge", None, pool)]
    )
    assert [(item.what, item.blocking) for item in estimate.unpriced] == [("node pool `huge`: 0..3 × Standard_D96ds_v5", True)]
    assert "Standard_D96ds_v5 has no price in stacks/prices/azure.json" in estimate.unpriced[0].reason


def test_volumes_of_operators_and_claims_are_priced_by_size_and_count():
    config = load("prod")
    claims = [
        Registration(
            "kubernetes:acid.zalan.do/v1:postgresql",
            "db",
            None,
            {"spec": {"numberOfInstances": 2, "volume": {"size": "100Gi", "storageClass": "managed-csi-premium"}}},
        ),
        Registration(
            "kubernetes:apps/v1:StatefulSet",
            "cache",
            None,
            {
                "spec": {
                    "replicas": 3,
                    "volumeClaimTemplates": [
                        {
                            "metadata": {"name": "data"},
                            "spec": {"storageClassName": "managed-premium", "resources": {"requests": {"storage": "10Gi"}}},
                        }
                    ],
                }
            },
        ),
    ]
    priced = lines(cost.estimate(config, "prod", claims))
    p10 = TABLE["reference"]["managed_disk_monthly"]["Premium_LRS"]["tiers"][5]["price"]
    p2 = TABLE["reference"]["managed_disk_monthly"]["Premium_LRS"]["tiers"][1]["price"]  # 10 GiB bills as P3 (16 GiB)
    assert priced["volumes of postgresql `db`"] == (round(2 * p10, 2),) * 2
    assert (
        priced["volume `data` of StatefulSet `cache`"]
        == (round(3 * TABLE["reference"]["managed_disk_monthly"]["Premium_LRS"]["tiers"][2]["price"], 2),) * 2
    )
    assert p2 < TABLE["reference"]["managed_disk_monthly"]["Premium_LRS"]["tiers"][2]["price"]


def test_strimzi_node_pool_volumes_are_priced_per_jbod_volume_and_node(estimates):
    site = {line.what: (line.monthly_min, line.monthly_max) for line in estimates["onprem-dc1"].lines}
    assert site["volume 0 of KafkaNodePool `platform-kafka-brokers`: 3 × 20 GiB"] == (3 * 20 * 0.1,) * 2  # per_disk_gi 0.1
    assert site["volume 0 of KafkaNodePool `platform-kafka-controllers`: 3 × 5 GiB"] == (3 * 5 * 0.1,) * 2


def test_chart_volumes_are_priced_from_the_chart_values(estimates):
    site = {line.what: (line.monthly_min, line.monthly_max) for line in estimates["onprem-dc1"].lines}
    # Prometheus: 2 replicas × 200 GiB at 0.1 per GiB (components/observability/metrics.py, prod profile).
    assert site["Prometheus volumes of chart `platform-observability-metrics-kube-prometheus-stack`: 2 × 200 GiB"] == (40.0, 40.0)
    assert site["Loki volumes of chart `platform-observability-logs-loki`: 1 × 50 GiB"] == (5.0, 5.0)
    assert site["Harbor's database volumes of chart `platform-registry-harbor`: 1 × 5 GiB"] == (0.5, 0.5)
    # On AKS the default storage class (Standard SSD) has no price in the table: listed, not guessed.
    assert any(item.what.startswith("Prometheus volumes of chart") for item in estimates["prod"].unpriced)


def test_load_balancer_services_add_rules_and_public_ips(inventory):
    config = load("prod")
    public = Registration(
        "kubernetes:core/v1:Service", "web", None, {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    )
    internal = Registration("kubernetes:core/v1:Service", "ingress", None, {
        "metadata": {"annotations": {"service.beta.kubernetes.io/azure-load-balancer-internal": "true"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}})
    cluster = [r for r in inventory("prod") if r.type == "azure-native:containerservice:ManagedCluster"]
    priced = lines(cost.estimate(config, "prod", cluster + [public, internal]))
    assert priced["public load balancer"] == (18.25, 18.25)  # outbound + 2 rules: within the 5 included
    assert priced["internal load balancer"] == (18.25, 18.25)
    assert priced["public IPs"] == (round(2 * 0.005 * HOURS, 2),) * 2  # outbound + the public service


def test_local_costs_nothing(estimates):
    assert (estimates["local"].monthly_min, estimates["local"].monthly_max, estimates["local"].unpriced) == (0, 0, [])
    assert estimates["local"].notes == ["nothing in this stack is billed: it registers no cloud or data-centre resources"]


# --- against a base -------------------------------------------------------------------------------


def test_the_change_against_a_base_names_what_moved(estimates):
    head = estimates["prod"]
    base = cost.Estimate.from_json(json.loads(json.dumps(head.to_json())))
    ai = next(line for line in base.lines if line.key == "node pool ai")
    ai.monthly_max, ai.what = 1097.92, "node pool `ai`: 0..2 × Standard_NC8as_T4_v3"
    change = cost.Change(base, head, "`main`")
    assert change.delta_min == 0 and change.delta_max == round(13724.0 - 1097.92, 2)
    assert change.changed_lines() == [
        ("node pool `ai`: 0..2 × Standard_NC8as_T4_v3 → node pool `ai`: 0..25 × Standard_NC8as_T4_v3", 0.0, 12626.08)
    ]
    assert cost.change_summary(change) == "against `main`: +USD 0.00 at minimum, +USD 12,626.08 at maximum"


def test_a_base_that_cannot_be_checked_out_is_reported():
    base, why = cost.base_from_ref("prod", "no-such-ref-anywhere")
    assert base is None and why.startswith("no base estimate: cannot check out `no-such-ref-anywhere`")


def test_the_cli_prints_json_and_compares_with_a_saved_base(tmp_path, capsys):
    assert stacks_main(["cost", "test", "--json"]) == 0
    saved = tmp_path / "base.json"
    saved.write_text(capsys.readouterr().out)
    data = json.loads(saved.read_text())
    assert data["stack"] == "test" and data["budgetMonthly"] == 3500 and data["monthlyMax"] > data["monthlyMin"] > 0
    assert "azure-native:containerservice:AgentPool::platform-aks-pool-ai" in data["facts"]
    assert stacks_main(["cost", "test", "--base-file", str(saved)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Cost estimate of stack test: USD ")
    assert f"  change against `{saved}`: +USD 0.00 at minimum, +USD 0.00 at maximum" in out
