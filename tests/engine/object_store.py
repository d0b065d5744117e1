"""An S3-compatible endpoint on loopback, where the engine tier keeps Pulumi state the way the sites do (`pulumi login
s3://...`, Pulumi's DIY backend). It is moto's server (PyPI `moto[server]`, pinned in requirements-dev.txt), standing in
for the storage administrators' endpoint: a separate process speaking the S3 REST protocol over HTTP, so the CLI's own
client (gocloud.dev's s3blob on AWS SDK v2) does every read, write and lock.

The sites tier's Velero reaches it as the sites' endpoints (`https://s3.dc1.example.com`, ...): over TLS with a
certificate for those names from a CA made for the run (`SiteTls`), through `HostProxy`, an HTTPS proxy on loopback
that tunnels CONNECT for exactly those names to moto, the way a data centre's egress proxy reaches its storage. The
clients keep the stack's URL and verify the certificate against the CA the stack file names.
"""

from __future__ import annotations

import os
import select
import socket
import socketserver
import subprocess
import sys
import threading
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
class SiteTls:
    """A CA made for one run and moto's serving certificate from it, for the given host names and 127.0.0.1."""

    ca_certificate: Path
    certificate: Path
    key: Path
    host_names: tuple[str, ...]

    @classmethod
    def made(cls, directory: Path, host_names: tuple[str, ...]) -> SiteTls:
        directory.mkdir(parents=True, exist_ok=True)
        ca, ca_key, cert, key = (directory / n for n in ("ca.crt", "ca.key", "s3.crt", "s3.key"))
        ec = ["-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "2"]
        _openssl(["req", "-x509", "-new", *ec, "-keyout", str(ca_key), "-out", str(ca), "-subj", "/CN=sites tier storage CA",
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        names = ",".join([*(f"DNS:{n}" for n in host_names), "IP:127.0.0.1"])
        _openssl(["req", "-x509", "-new", *ec, "-CA", str(ca), "-CAkey", str(ca_key), "-keyout", str(key), "-out", str(cert),
                  "-subj", f"/CN={host_names[0]}", "-addext", "basicConstraints=critical,CA:FALSE",
                  "-addext", "extendedKeyUsage=serverAuth", "-addext", f"subjectAltName={names}"])
        return cls(ca, cert, key, host_names)


def _openssl(args: list[str]) -> None:
    made = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    if made.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {made.stderr.strip()[-500:]}")


@dataclass(frozen=True)
class ObjectStore:
    endpoint: str  # http://127.0.0.1:<port>, or https:// with `tls`
    tls: SiteTls | None = None

    def backend_url(self, bucket: str) -> str:
        """The DIY backend URL for `bucket` on this endpoint. s3blob's URL parameters (gocloud.dev blob/s3blob and
        aws.V2ConfigFromURLParams): `endpoint`, `region`, `use_path_style` (no per-bucket host names on loopback) and
        `disable_https` (plain HTTP here; a site's endpoint is HTTPS)."""
        return f"s3://{bucket}?endpoint={self.endpoint}&region={REGION}&use_path_style=true&disable_https=true"

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            verify=str(self.tls.ca_certificate) if self.tls else None,
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def started(log: Path, timeout: float = 60, tls: SiteTls | None = None) -> Iterator[ObjectStore]:
    """moto's server on a free loopback port until the generator is closed; stopped by its own pid. With `tls` it serves
    HTTPS with that certificate."""
    server = Path(sys.executable).parent / "moto_server"
    if not server.exists():
        unavailable(f"no {server}: moto[server] is pinned in requirements-dev.txt; run scripts/venv")
    port = free_port()
    serving = ["-c", str(tls.certificate), "-k", str(tls.key)] if tls else []
    # moto reads the bucket from the host name unless the host is an endpoint it is told is path-style, as the sites'
    # endpoints are (`storage.path_style`): a request for https://s3.dc1.example.com/dc1-backups is for `dc1-backups`.
    env = {**os.environ, "MOTO_S3_CUSTOM_ENDPOINTS": ",".join(f"https://{name}" for name in tls.host_names)} if tls else None
    with log.open("w") as out:
        process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port), *serving], stdout=out, stderr=subprocess.STDOUT,
                                   env=env)
    store = ObjectStore(f"{'https' if tls else 'http'}://127.0.0.1:{port}", tls)
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
        stop(process, 10)


def stop(process: subprocess.Popen, timeout: float) -> None:
    """Stop a process we started, by its own pid: asked first, killed after `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class HostProxy(socketserver.ThreadingTCPServer):
    """An HTTPS proxy on loopback (HTTPS_PROXY=http://127.0.0.1:<port>) that answers `CONNECT <name>:443` for the names
    it was given by tunnelling to `target`, and refuses every other destination (403), so nothing leaves the machine."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, names: tuple[str, ...], target: tuple[str, int]):
        self.names, self.target = set(names), target
        self.tunnels = 0
        super().__init__(("127.0.0.1", 0), _Tunnel)
        threading.Thread(target=self.serve_forever, name="host-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Tunnel(socketserver.StreamRequestHandler):
    server: HostProxy

    def handle(self) -> None:
        request = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass  # the request's headers
        host, _, port = (request[1] if len(request) == 3 and request[0] == "CONNECT" else "").rpartition(":")
        if host not in self.server.names or port != "443":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(self.server.target, timeout=30) as upstream:
            self.server.tunnels += 1
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            ends = [self.connection, upstream]
            while True:
                readable, _, _ = select.select(ends, [], [], 120)
                if not readable:
                    return
                for end in readable:
                    data = end.recv(65536)
                    if not data:
                        return
                    (upstream if end is self.connection else self.connection).sendall(data)
