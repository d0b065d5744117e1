"""An S3-compatible endpoint on loopback, where the engine tier keeps Pulumi state the way the sites do (`pulumi login
s3://...`, Pulumi's DIY backend). It is moto's server (PyPI `moto[server]`, pinned in requirements-dev.txt), standing in
for the storage administrators' endpoint: a separate process speaking the S3 REST protocol over HTTP, so the CLI's own
client (gocloud.dev's s3blob on AWS SDK v2) does every read, write and lock.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3

from tests.tooling import unavailable

REGION = "us-east-1"
# moto accepts any key pair; the CLI still signs every request with these (SigV4).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "engine-tier", "AWS_SECRET_ACCESS_KEY": "engine-tier-secret", "AWS_REGION": REGION}


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str  # http://127.0.0.1:<port>

    def backend_url(self, bucket: str) -> str:
        """The DIY backend URL for `bucket` on this endpoint. s3blob's URL parameters (gocloud.dev blob/s3blob and
        aws.V2ConfigFromURLParams): `endpoint`, `region`, `use_path_style` (no per-bucket host names on loopback) and
        `disable_https` (plain HTTP here; a site's endpoint is HTTPS)."""
        return f"s3://{bucket}?endpoint={self.endpoint}&region={REGION}&use_path_style=true&disable_https=true"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def bucket(self, name: str) -> str:
        """A new, empty bucket; returns its backend URL."""
        self.client().create_bucket(Bucket=name)
        return self.backend_url(name)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(log: Path, timeout: float = 60) -> Iterator[ObjectStore]:
    """moto's server on a free loopback port until the generator is closed; stopped by its own pid."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        unavailable(f"no {server}: moto[server] is pinned in requirements-dev.txt; run scripts/venv")
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    store = ObjectStore(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                store.client().list_buckets()
                break
            except Exception as error:  # botocore's EndpointConnectionError until it listens
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"moto's server did not answer on {store.endpoint} ({error}); log: {log}") from None
                time.sleep(0.2)
        yield store
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
