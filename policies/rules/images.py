"""Images come from an approved registry and are pinned: a version tag or a digest, never
`latest` or no tag at all (both move under a running workload)."""

from __future__ import annotations

from typing import NamedTuple

from ..lib import kube
from ..lib.spec import EXEMPT_NAMESPACES, PolicySpec, string_list
from ..lib.values import Undecided, is_unknown, name_of, seq


class ImageRef(NamedTuple):
    registry: str
    repository: str
    tag: str
    digest: str


def parse_image(reference: str) -> ImageRef:
    """Splits an image reference the way container runtimes resolve it (Docker Hub when the first
    path component is not a host)."""
    name, _, digest = reference.partition("@")
    tag = ""
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return ImageRef(first.lower(), rest, tag, digest)
    return ImageRef("docker.io", name if sep else f"library/{name}", tag, digest)


def registry_allowed(image: ImageRef, allowed: list[str]) -> bool:
    """An entry is a registry host (`harbor.example.com`) or a host and path prefix
    (`harbor.example.com/platform`)."""
    location = f"{image.registry}/{image.repository}"
    for entry in allowed:
        entry = entry.rstrip("/")
        host, _, path = entry.partition("/")
        entry = f"{host.lower()}/{path}" if path else host.lower()
        if location == entry or location.startswith(entry + "/"):
            return True
    return False


def image_problems(type_token: str, props: dict, config: dict) -> list[str]:
    spec = kube.workload_pod_spec(type_token, props, config)
    if spec is None:
        return []
    allowed = list(config.get("allowedRegistries") or ())
    where = kube.describe(type_token, props)
    messages = []
    for key in kube.CONTAINER_LISTS:
        try:
            containers = seq(spec.get(key))
        except Undecided:
            continue
        for container in containers:
            if container.__class__ is not dict:
                continue
            reference = container.get("image")
            if reference.__class__ is not str or not reference or is_unknown(reference):
                continue
            image = parse_image(reference)
            label = f'{where}: container "{name_of(container)}" image "{reference}"'
            if allowed and not registry_allowed(image, allowed):
                messages.append(
                    f"{label} is not from an allowed registry ({', '.join(allowed)}); "
                    "push or mirror it there and reference it by that name"
                )
            if not image.digest:
                if not image.tag:
                    messages.append(f"{label} has no tag; pin a version tag or a digest (@sha256:...)")
                elif image.tag == "latest":
                    messages.append(f'{label} uses the mutable tag "latest"; pin a version tag or a digest (@sha256:...)')
    return messages


POLICY = PolicySpec(
    name="workload-images",
    description="Container images come from the allowed registries and are pinned (no `latest`, no missing tag).",
    kind="resource",
    check=image_problems,
    applies_to=kube.runs_workload,
    config_schema={
        "allowedRegistries": string_list(
            "Registry hosts, optionally with a path prefix, that images may come from; empty allows any registry.",
        ),
        "exemptNamespaces": EXEMPT_NAMESPACES,
    },
)
