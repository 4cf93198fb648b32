"""A real Helm chart repository on 127.0.0.1, for the kube check's tests.

The charts under tests/charts are packaged with `helm package`, indexed with
`helm repo index --url http://127.0.0.1:<port>` and served by http.server in a
thread: what `helm pull` talks to is the same protocol a public repository
speaks. Every request path is recorded, so a test can show where a chart came
from. Archives a real `helm package` would never build (symlinks, path
traversal) are written with tarfile and published the same way.

An OCI registry (the read half of the distribution API: manifests and blobs)
serves the same archives for `helm pull oci://...`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

CHARTS = Path(__file__).resolve().parent / "charts"


class _Handler(SimpleHTTPRequestHandler):
    log: list[str]
    hooks: list[Callable[[str], None]]

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request list below is the log; stderr stays quiet

    def do_GET(self) -> None:
        self.log.append(self.path)
        for hook in self.hooks:
            hook(self.path)
        super().do_GET()


@dataclass
class ChartRepo:
    url: str
    folder: Path
    helm: Path
    requests: list[str] = field(default_factory=list)
    # Called with each request path while the client waits for the answer.
    hooks: list[Callable[[str], None]] = field(default_factory=list)

    # index.yaml's entries, chart name -> versions. Written here rather than by
    # `helm repo index` over the folder: that would also index the hand-built
    # archives by their own Chart.yaml, and a hostile index says what it likes.
    entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def _add(self, entry: dict[str, Any]) -> None:
        self.entries.setdefault(entry["name"], []).append(entry)
        index = {"apiVersion": "v1", "entries": self.entries, "generated": "2026-01-01T00:00:00Z"}
        (self.folder / "index.yaml").write_text(yaml.safe_dump(index), encoding="utf-8")

    def package(self, chart: Path) -> Path:
        """`helm package` a chart folder, index it with `helm repo index --url`, serve it."""
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [str(self.helm), "package", str(chart), "-d", tmp],
                check=True, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            subprocess.run(
                [str(self.helm), "repo", "index", tmp, "--url", self.url],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            index = yaml.safe_load((Path(tmp) / "index.yaml").read_text())
            ((entry,),) = index["entries"].values()
            (archive,) = Path(tmp).glob("*.tgz")
            served = Path(shutil.move(archive, self.folder / archive.name))
        self._add(entry)
        return served

    def publish(self, name: str, version: str, members: list[tarfile.TarInfo | tuple[str, str]]
                ) -> Path:  # fmt: skip
        """Serve a hand-built `<name>-<version>.tgz`: (path, text) files or raw TarInfo."""
        archive = self.folder / f"{name}-{version}.tgz"
        with tarfile.open(archive, "w:gz") as tar:
            for member in members:
                if isinstance(member, tarfile.TarInfo):
                    tar.addfile(member)
                    continue
                path, text = member
                data = text.encode()
                info = tarfile.TarInfo(path)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        self._add({
            "apiVersion": "v2", "name": name, "version": version,
            "digest": self.digest(archive).removeprefix("sha256:"),
            "urls": [f"{self.url}/{archive.name}"], "created": "2026-01-01T00:00:00Z",
        })  # fmt: skip
        return archive

    def digest(self, archive: Path) -> str:
        return "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()

    def fetched(self, since: int = 0) -> list[str]:
        return self.requests[since:]


def chart_yaml(name: str, version: str) -> str:
    return f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"


@contextmanager
def serve_charts(helm: Path, folder: Path) -> Iterator[ChartRepo]:
    """Every chart under tests/charts, packaged and served on 127.0.0.1."""
    folder.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    hooks: list[Callable[[str], None]] = []
    handler = type("Handler", (_Handler,), {"log": log, "hooks": hooks})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        repo = ChartRepo(url, folder, helm, log, hooks)
        for chart in sorted(p.parent for p in CHARTS.glob("*/Chart.yaml")):
            repo.package(chart)
        yield repo
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens: connection refused, at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# ---- a repository under test whose one release points at a chart repository ----

EKS_STACK = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  KubernetesVersion:
    Type: String
    Default: "1.33"
Resources:
  Cluster:
    Type: AWS::EKS::Cluster
    Properties:
      Version: !Ref KubernetesVersion
      RoleArn: arn:aws:iam::111111111111:role/eks
      ResourcesVpcConfig:
        SubnetIds: [subnet-1]
"""
GUARD_RULES = CHARTS.parents[1] / "guard" / "kubernetes"


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def release_repo(
    root: Path,
    repository: str,
    *,
    release: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    env_values: dict[str, dict[str, Any]] | None = None,
    kube_versions: dict[str, str | None] | None = None,
) -> Path:
    """stacks/, environments/ (dev, tst, prd), guard/kubernetes and helm-values/web, whose
    release.yaml names web-app 0.3.1 from `repository` unless `release` says otherwise."""
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "eks-cluster.yaml").write_text(EKS_STACK, encoding="utf-8")
    shutil.copytree(GUARD_RULES, root / "guard" / "kubernetes")
    accounts = {"dev": "111111111111", "tst": "222222222222", "prd": "333333333333"}
    versions = kube_versions or {}
    for env, account in accounts.items():
        data: dict[str, Any] = {"account_id": account, "region": "us-east-1"}
        if versions.get(env, "1.34") is not None:
            data["kubernetes_version"] = versions.get(env, "1.34")
        _dump(root / "environments" / f"{env}.yaml", data)
    folder = root / "helm-values" / "web"
    spec = {"chart": "web-app", "repository": repository, "version": "0.3.1",
            "namespace": "web", "cluster_stack": "eks-cluster", **(release or {})}  # fmt: skip
    _dump(folder / "release.yaml", spec)
    _dump(folder / "values.yaml", values or {"service": {"type": "NodePort", "nodePort": 30446}})
    per_env = env_values or {"dev": {}, "tst": {}, "prd": {"replicaCount": 2}}
    for env, data in per_env.items():
        _dump(folder / f"values-{env}.yaml", data)
    return root


# ---- an OCI registry: the read side of the distribution API helm pull uses ------

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
HELM_CONFIG_TYPE = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER_TYPE = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class OciRegistry:
    url: str  # oci://127.0.0.1:<port>/charts
    manifests: dict[str, bytes] = field(default_factory=dict)  # "<chart>:<version>" -> body
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def push(self, archive: Path) -> str:
        """Store a `helm package` archive as helm push would: config, layer, manifest.
        Returns the layer digest (the archive's sha256)."""
        with tarfile.open(archive, "r:gz") as tar:
            name = next(m.name for m in tar if m.name.endswith("/Chart.yaml"))
            handle = tar.extractfile(name)
            assert handle is not None
            meta = yaml.safe_load(handle.read())
        config, layer = json.dumps(meta).encode(), archive.read_bytes()
        self.blobs |= {_sha256(config): config, _sha256(layer): layer}
        manifest = {
            "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": HELM_CONFIG_TYPE, "digest": _sha256(config),
                       "size": len(config)},
            "layers": [{"mediaType": HELM_LAYER_TYPE, "digest": _sha256(layer),
                        "size": len(layer)}],
        }  # fmt: skip
        self.manifests[f"{meta['name']}:{meta['version']}"] = json.dumps(manifest).encode()
        return _sha256(layer)

    def answer(self, path: str) -> tuple[bytes, str] | None:
        """The body and content type for a GET or HEAD of `path`, or None (404)."""
        match = re.fullmatch(r"/v2/charts/([^/]+)/(manifests|blobs)/([^/]+)", path)
        if match is None:
            return (b"{}", "application/json") if path == "/v2/" else None
        chart, kind, ref = match.groups()
        if kind == "blobs":
            blob = self.blobs.get(ref)
            return (blob, "application/octet-stream") if blob is not None else None
        body = self.manifests.get(f"{chart}:{ref}") or next(
            (m for key, m in self.manifests.items() if key.startswith(f"{chart}:")
             and _sha256(m) == ref), None,
        )  # fmt: skip
        return (body, MANIFEST_TYPE) if body is not None else None


class _OciHandler(BaseHTTPRequestHandler):
    registry: OciRegistry

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, send_body: bool) -> None:
        self.registry.requests.append(f"{self.command} {self.path}")
        found = self.registry.answer(self.path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Content-Digest", _sha256(body))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(True)

    def do_HEAD(self) -> None:
        self._reply(False)


@contextmanager
def serve_oci_registry() -> Iterator[OciRegistry]:
    """An empty registry on 127.0.0.1 (plain HTTP); push archives into it."""
    registry = OciRegistry("")
    handler = type("Handler", (_OciHandler,), {"registry": registry})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    registry.url = f"oci://127.0.0.1:{server.server_address[1]}/charts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield registry
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
