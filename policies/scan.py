"""Scan Kubernetes manifests with the policy pack, without Pulumi.

    python -m policies.scan PATH... [--config FILE] [--json]

PATH is a YAML file or a directory (searched recursively for `*.yaml` and `*.yml`); files may
hold several documents, and `kind: List` documents are expanded. YAML is read as Kubernetes reads it
(`policies.lib.kube_yaml`: YAML 1.1 scalars as sigs.k8s.io/yaml resolves them, so `privileged: y`
is true and `runAsUser: 0o0` is 0); a document Kubernetes would refuse to read is an input error. Every object is evaluated the
way the engine sees it under `pulumi preview --policy-pack policies`: as type
`kubernetes:<group>/<version>:<Kind>` (group `core` for `v1`) with the object itself as its
properties, by every resource policy of the pack, then the stack policies run over all objects
together (policies that need Pulumi resource options, like `stateful-protection`, are skipped).
`--config` takes the same JSON as `--policy-pack-config`.

Prints a table, or with `--json` a JSON list of objects with the keys `file`, `kind`, `name`,
`policy`, `enforcement`, `message`. Exits 1 when a mandatory violation is found, 2 when an input
or the config cannot be read (the message names the file and line), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
from collections.abc import Iterator

import yaml

from .enforcement import ConfigError, load
from .evaluate import Evaluator, Finding
from .lib.kube_yaml import KubernetesYAMLError, load_documents
from .lib.spec import MANDATORY, Resource

_SUFFIXES = (".yaml", ".yml")


class InputError(Exception):
    """An input cannot be read; the message names the file (and line)."""


def find_files(paths: list[str]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, names in os.walk(path):
                dirs.sort()
                files.extend(os.path.join(root, name) for name in sorted(names) if name.endswith(_SUFFIXES))
        elif os.path.lexists(path):
            files.append(path)  # read_documents says what is wrong with anything that is not a readable file
        else:
            raise InputError(f"{path}: no such file or directory")
    return files


#: The largest file the scanner reads. Manifests are far smaller (the API server takes at most 3 MiB per object);
#: the bound keeps one file's scan within seconds (about 3 MB per second of CPU, bench/scan).
MAX_FILE_BYTES = 16 * 1024 * 1024


def read_bytes(path: str) -> bytes:
    """A regular file's content; a FIFO, device or socket is refused without waiting for a writer."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{path}: not a regular file (a FIFO, device or socket); scan files and directories only")
        if info.st_size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {info.st_size:,} bytes is more than the scanner reads from one file "
                             f"({MAX_FILE_BYTES // (1024 * 1024)} MiB); split it into smaller files")
        try:
            return handle.read(MAX_FILE_BYTES + 1)
        except OSError as error:
            raise InputError(f"{path}: cannot read: {error.strerror}") from None


def read_documents(path: str) -> list:
    content = read_bytes(path)
    if len(content) > MAX_FILE_BYTES:  # grew while being read
        raise InputError(f"{path}: more than the scanner reads from one file ({MAX_FILE_BYTES // (1024 * 1024)} MiB); "
                         "split it into smaller files")
    try:
        return load_documents(content)
    except KubernetesYAMLError as error:
        where = f"{path}:{error.mark.line + 1}:{error.mark.column + 1}" if error.mark else path
        raise InputError(f"{where}: Kubernetes cannot read this YAML: {error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        context = ""
        if error.context and error.context_mark and error.problem:
            context = f" ({error.context} started at line {error.context_mark.line + 1})"
        raise InputError(f"{where}: invalid YAML: {problem}{context}") from None
    except yaml.YAMLError as error:  # e.g. a byte sequence that is not UTF-8
        raise InputError(f"{path}: invalid YAML: {error}") from None


def objects(path: str, documents: list) -> Iterator[dict]:
    """The Kubernetes objects of a file's documents (`kind: *List` expanded)."""
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        if not isinstance(document, dict) or not isinstance(document.get("apiVersion"), str) or not isinstance(document.get("kind"), str):
            print(f"warning: {path}: document {index} is not a Kubernetes object (no apiVersion and kind); skipped", file=sys.stderr)
            continue
        items = document.get("items")
        if document["kind"].endswith("List") and isinstance(items, list):
            yield from objects(path, items)
        else:
            yield document


def to_resource(path: str, number: int, document: dict) -> Resource:
    api_version, kind = document["apiVersion"], document["kind"]
    group, _, version = api_version.rpartition("/")
    metadata = document.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return Resource(
        f"kubernetes:{group or 'core'}/{version}:{kind}",
        document,
        f"{path}#{number}",
        name if isinstance(name, str) else "",
        None,
    )


def scan_file(path: str, evaluator: Evaluator) -> list[tuple[Resource, list[Finding]]]:
    """A file's objects, each with the findings of the resource policies."""
    result = []
    for number, document in enumerate(objects(path, read_documents(path))):
        resource = to_resource(path, number, document)
        result.append((resource, evaluator.resource(resource.type, resource.props, resource)))
    return result


# Parsing YAML dominates the scan's time, so large inputs are spread over one process per core
# (forked: they inherit the evaluator). Below this many files a pool costs more than it saves.
PARALLEL_THRESHOLD = 200
_worker_evaluator: Evaluator | None = None


def _scan_chunk(paths: list[str]) -> list:
    evaluator = _worker_evaluator
    assert evaluator is not None, "set by _scan_files before the pool forks"
    results: list = []
    for path in paths:
        try:
            results.append(scan_file(path, evaluator))
        except InputError as error:
            results.append(error)
    return results


def _scan_files(files: list[str], evaluator: Evaluator, workers: int) -> Iterator:
    global _worker_evaluator
    if workers <= 1 or len(files) < PARALLEL_THRESHOLD:
        for path in files:
            yield scan_file(path, evaluator)
        return
    import multiprocessing

    _worker_evaluator = evaluator
    size = max(16, len(files) // (workers * 8))
    chunks = [files[i : i + size] for i in range(0, len(files), size)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for results in pool.imap(_scan_chunk, chunks):
            for result in results:
                if isinstance(result, InputError):
                    raise result
                yield result


def scan(paths: list[str], evaluator: Evaluator, workers: int | None = None) -> tuple[list[dict], int]:
    """(rows for the report, number of objects)."""
    files = list(dict.fromkeys(find_files(paths)))
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    resources: list[Resource] = []
    findings: list[tuple[int, Finding]] = []
    for file_results in _scan_files(files, evaluator, workers):
        for resource, found in file_results:
            position = len(resources)
            resources.append(resource)
            findings.extend((position, finding) for finding in found)
    position_of = {resource.urn: index for index, resource in enumerate(resources)}
    for finding in evaluator.stack(resources, with_options=False):
        anchor = finding.resource
        findings.append((position_of.get(anchor.urn, len(resources)) if anchor else len(resources), finding))
    findings.sort(key=lambda item: item[0])
    rows = []
    for _, finding in findings:
        anchor = finding.resource
        rows.append(
            {
                "file": anchor.urn.rpartition("#")[0] if anchor else "",
                "kind": anchor.props.get("kind", "") if anchor else "",
                "name": anchor.name if anchor else "",
                "policy": finding.policy,
                "enforcement": finding.enforcement,
                "message": finding.message,
            }
        )
    return rows, len(resources)


def table(rows: list[dict], objects_scanned: int) -> str:
    columns = ("file", "kind", "name", "policy", "enforcement", "message")
    lines = []
    if rows:
        widths = {c: max(len(c), *(len(row[c]) for row in rows)) for c in columns[:-1]}
        lines.append("  ".join(c.upper().ljust(widths[c]) for c in columns[:-1]) + "  MESSAGE")
        for row in rows:
            lines.append("  ".join(row[c].ljust(widths[c]) for c in columns[:-1]) + "  " + row["message"])
    mandatory = sum(1 for row in rows if row["enforcement"] == MANDATORY)
    lines.append(
        f"{len(rows)} {'violation' if len(rows) == 1 else 'violations'} ({mandatory} mandatory) "
        f"in {objects_scanned} {'object' if objects_scanned == 1 else 'objects'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m policies.scan",
        description="Check Kubernetes manifests against the complete-cluster policy pack.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="YAML file or directory of *.yaml/*.yml files")
    parser.add_argument("--config", metavar="FILE", help="policy pack config, as for --policy-pack-config")
    parser.add_argument("--json", action="store_true", help="print a JSON list of violations")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="processes that parse and check files (0: one per CPU); pays off for thousands of files on idle cores",
    )
    args = parser.parse_args(argv)
    try:
        config = load(args.config) if args.config else None
        evaluator = Evaluator(config, source=args.config or "config")
        rows, count = scan(args.paths, evaluator, workers=args.jobs or None)
    except (InputError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table(rows, count))
    return 1 if any(row["enforcement"] == MANDATORY for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
