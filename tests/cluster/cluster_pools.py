"""Fake nodes that mirror a stack's node pools (names, labels, taints, capacity), as a scripts/cluster nodes file."""

from __future__ import annotations

import json
from pathlib import Path

from stacks.loader import load
from stacks.model import Aks

# vCPUs, memory and GPUs of the VM sizes the AKS profile allows (Azure's Ddsv5, Edsv5 and NCasT4_v3 size pages).
AZURE_VM_SIZES: dict[str, tuple[int, int, int]] = {
    "Standard_D2ds_v5": (2, 8, 0),
    "Standard_D4ds_v5": (4, 16, 0),
    "Standard_D8ds_v5": (8, 32, 0),
    "Standard_E4ds_v5": (4, 32, 0),
    "Standard_E8ds_v5": (8, 64, 0),
    "Standard_NC4as_T4_v3": (4, 28, 1),
    "Standard_NC8as_T4_v3": (8, 56, 1),
}
MAX_NODES_PER_POOL = 3  # enough to show spreading; the fake nodes cost little, but the scheduler's work grows


def capacity(cpu: int, memory_gi: int, gpus: int = 0) -> dict[str, str]:
    return {"cpu": str(cpu), "memory": f"{memory_gi}Gi", "pods": "110", **({"nvidia.com/gpu": str(gpus)} if gpus else {})}


def stack_pools(stack: str) -> list[dict]:
    """Each pool of the stack as it would join the cluster: AKS puts `agentpool` and `kubernetes.azure.com/*`
    labels on its nodes; a Rancher pool's nodes carry the labels and taints of its registration command."""
    infrastructure = load(stack).infrastructure
    pools = []
    if isinstance(infrastructure, Aks):
        for name, pool in infrastructure.node_pools.items():
            cpu, memory, gpus = AZURE_VM_SIZES[pool.vm_size]
            labels = {"agentpool": name, "kubernetes.azure.com/agentpool": name,
                      "kubernetes.azure.com/mode": pool.mode.lower(), **pool.labels}
            pools.append({"name": name, "count": min(max(pool.min_count, 1), MAX_NODES_PER_POOL), "labels": labels,
                          "taints": list(pool.taints), "capacity": capacity(cpu, memory, gpus)})
    elif infrastructure.kind == "rancher":
        for name, pool in infrastructure.machine_pools.items():
            if "worker" not in pool.roles:
                continue
            pools.append({"name": name, "count": min(max(pool.quantity, 1), MAX_NODES_PER_POOL),
                          "labels": dict(pool.labels), "taints": list(pool.taints),
                          "capacity": capacity(pool.cpu, pool.memory_gi)})
    else:
        raise ValueError(f"stack {stack} declares no node pools (infrastructure.kind: {infrastructure.kind})")
    return pools


def nodes_file_for(stack: str, path: Path) -> Path:
    path.write_text(json.dumps({"pools": stack_pools(stack)}, indent=2))
    return path
