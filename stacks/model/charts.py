"""Where the Helm charts of the shared services come from."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from .base import Strict, check


class Charts(Strict):
    """Chart source for every chart-based component (operators, ingress, registry, ...).

    - `remote`: the chart repository pinned in stacks/catalogue.py (needs the network).
    - `oci`: the same chart and version from an OCI mirror, e.g. the site's Harbor
      (`oci_registry: harbor.dc1.example.com/charts`).
    - `local`: packaged charts in `directory` (`<name>-<version>.tgz` or an unpacked `<name>/`
      whose Chart.yaml has the pinned version), for air-gapped sites; a missing chart is a config
      error before anything is registered.
    - `off`: charts are not installed; components still register their own objects (custom
      resources, namespaces, policies) and the engine prints which charts were left out.
    """

    source: Literal["remote", "oci", "local", "off"] = "remote"
    """Where every chart comes from (the class description lists them)."""
    oci_registry: str | None = None
    """With `oci`: the registry path the charts are pushed to, without a scheme."""
    directory: str = "charts"
    """With `local`: the chart directory, absolute or relative to the project directory (e.g. a site's read-only
    mirror beside the project, `../shared/charts`)."""
    fallback: Literal["remote"] | None = None
    """With `local`: where the charts come from on a machine where `directory` does not exist. `remote`: the pinned
    chart repositories. Unset: a missing directory is a config error."""

    @model_validator(mode="after")
    def _source_settings(self):
        problems = []
        if self.source == "oci" and not self.oci_registry:
            problems.append(("oci_registry", "an OCI chart source needs the registry path (e.g. `harbor.dc1.example.com/charts`)"))
        if self.oci_registry and "://" in self.oci_registry:
            problems.append(("oci_registry", f"`{self.oci_registry}` must be a registry path without a scheme (oci:// is added)"))
        if self.fallback and self.source != "local":
            problems.append(("fallback", f"only a `local` chart directory has a fallback; `{self.source}` has none, remove it"))
        check(problems)
        return self
