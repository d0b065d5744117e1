"""Where the stack pulls the platform's images from: every upstream image (`quay.io/...`,
`docker.io/...`) through the stack's approved registry, so the platform's own pods pass the
`workload-images` policy wherever it is enforced."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageSource:
    """Where images published on an upstream registry come from, for one stack."""

    harbor: str | None = None
    """The site's own Harbor, when it runs proxy-cache projects for upstream registries."""
    mirrors: dict[str, str] = field(default_factory=dict)
    """Upstream registry host -> the Harbor proxy-cache project that mirrors it."""
    approved: str | None = None
    """The first approved registry (`policy.allowed_registries`), which mirrors upstream images under
    the upstream host name (an ACR cache rule `quay.io/*`, say); None: none configured."""

    def registry_for(self, upstream: str) -> str:
        """Where the stack pulls images published on `upstream` (`quay.io`, `docker.io`, ...): the
        site's Harbor project for that registry (`<harbor>/<project>`); otherwise the approved
        registry (`<registry>/<upstream>`); with neither, the upstream registry itself."""
        if self.harbor and upstream in self.mirrors:
            return f"{self.harbor}/{self.mirrors[upstream]}"
        if self.approved:
            return f"{self.approved}/{upstream}"
        return upstream

    def mirrored(self, image: str) -> str:
        """A full upstream image reference (`quay.io/strimzi/operator:1.2.0`) from the stack's registry."""
        upstream, _, path = image.partition("/")
        return f"{self.registry_for(upstream)}/{path}"


def split_image(image: str) -> tuple[str, str, str]:
    """(registry, repository, tag) of a full image reference."""
    registry, _, rest = image.partition("/")
    repository, _, tag = rest.rpartition(":")
    return registry, repository, tag
