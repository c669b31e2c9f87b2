"""k8s/web.yaml and k8s/ws.yaml started by `podman kube play` beside the compose stack, on its
network (so `redis` and `postgres` are compose's), and checked as a kubelet and a client would.

podman 4.3's kube play is not a cluster, so the manifests are adapted, each change for a named
podman limit (see kube_play_documents); everything else runs as written: the image, command,
init container, envFrom (ConfigMap and Secret), security context (uid, read-only root) and
emptyDir. Services, the Ingress, PodDisruptionBudgets, probes and preStop are not exercised here:
the probe's request is made by the test itself, from the manifest's readinessProbe.
"""

import base64
import json
import os
import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chatclient import next_message, say, unique_room
from tests.compose.project import PROJECT, REPO, containers, podman
from tests.compose.test_stack import enter

SECRET = "ping-secrets"


def kube_play_documents(config: dict[str, str]) -> list[dict[str, Any]]:
    """The ConfigMap (compose's Redis, no Sentinel yet) and the web and ws Deployments, adapted
    to podman 4.3: one replica (each pod would bind the same host port), no container `ports`
    (kube play publishes them on the host), no probes (it runs httpGet probes with curl, which
    the image lacks, and readiness not at all), restartPolicy OnFailure (with Always it restarts
    a finished init container, then fails to remove it), and the emptyDir volumes renamed after
    the project (kube play makes them named volumes, shared by every pod, which `kube down`
    removes: `tmp` could be someone else's)."""
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ping-config"}, "data": config}
    deployments = []
    for name in ("web", "ws"):
        (deployment, *_) = yaml.safe_load_all((REPO / "k8s" / f"{name}.yaml").read_text())
        deployment["spec"]["replicas"] = 1
        pod = deployment["spec"]["template"]["spec"]
        pod["restartPolicy"] = "OnFailure"
        for container in pod["containers"]:
            for key in ("ports", "readinessProbe", "livenessProbe", "lifecycle"):
                container.pop(key, None)
        for volume in pod.get("volumes", []):
            volume["name"] = volume_name(volume["name"])
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container.get("volumeMounts", []):
                mount["name"] = volume_name(mount["name"])
        deployments.append(deployment)
    return [configmap, *deployments]


def volume_name(name: str) -> str:
    return f"{PROJECT}-kube-{name}"


def readiness_request(name: str, address: str) -> urllib.request.Request:
    """The kubelet's readiness request for the pod at `address`, from k8s/<name>.yaml."""
    (deployment, *_) = yaml.safe_load_all((REPO / "k8s" / f"{name}.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    probe = container["readinessProbe"]["httpGet"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    headers = {header["name"]: header["value"] for header in probe.get("httpHeaders", [])}
    return urllib.request.Request(f"http://{address}:{ports[probe['port']]}{probe['path']}", headers=headers)


def pod_address(container: str) -> str:
    networks = json.loads(podman("inspect", container))[0]["NetworkSettings"]["Networks"]
    return networks[f"{PROJECT}_default"]["IPAddress"]


@pytest.fixture(scope="module")
def kube_pods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Pods web-pod-0 and ws-pod-0 from the manifests; yields container name -> address. Always
    torn down (pods, their emptyDir volume, the secret), so `docker-compose down` can remove the
    network."""
    directory: Path = tmp_path_factory.mktemp("kube")
    config = yaml.safe_load((REPO / "k8s" / "config.yaml").read_text())["data"]
    config |= {"ALLOWED_HOSTS": "127.0.0.1,localhost", "REDIS_URL": "redis://redis:6379/0"}
    # The compose network has one plain Redis, no Sentinel: without this the pods would look for
    # the manifests' sentinels and wait on them (readiness timeouts).
    for name in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER"):
        config.pop(name, None)
    play = directory / "play.yaml"
    play.write_text(yaml.safe_dump_all(kube_play_documents(config)))
    # podman 4.3 reads a Secret for envFrom as JSON of base64 values, and cannot create it from
    # a `kind: Secret` document itself.
    values = {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "DATABASE_URL": f"postgres://ping:{os.environ.get('POSTGRES_PASSWORD', 'ping')}@postgres:5432/ping",
    }
    secret = directory / "secret.json"
    secret.write_text(json.dumps({k: base64.b64encode(v.encode()).decode() for k, v in values.items()}))
    podman("secret", "create", SECRET, str(secret))
    try:
        podman("kube", "play", "--network", f"{PROJECT}_default", str(play), timeout=180)
        yield {name: pod_address(name) for name in ("web-pod-0-web", "ws-pod-0-ws")}
    finally:
        teardown = (
            ("kube", "down", str(play)),
            ("volume", "rm", "--force", volume_name("tmp")),
            ("secret", "rm", SECRET),
        )
        for command in teardown:
            try:
                podman(*command, timeout=120)
            except Exception as error:  # noqa: BLE001 (teardown: report, go on)
                print(f"teardown: podman {' '.join(command)}: {error}")


def answers(request: urllib.request.Request, timeout: float = 60) -> int:
    """The status of the first answer within `timeout` seconds (the pod may still be starting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.mark.parametrize("name", ["web", "ws"])
def test_pod_passes_its_readiness_probe(kube_pods, name):
    """The manifest's readiness request (path, port, Host header) gets 200: for web that means
    it reached Postgres and Redis through the Secret's and ConfigMap's settings."""
    container = f"{name}-pod-0-{name}"
    assert answers(readiness_request(name, kube_pods[container])) == 200


@pytest.mark.parametrize("name", ["web", "ws"])
def test_pod_runs_as_the_image_user_on_a_read_only_root(kube_pods, name):
    container = f"{name}-pod-0-{name}"
    assert podman("exec", container, "id", "-u").strip() == "10001"
    wrote = podman("exec", container, "sh", "-c", "touch /app/probe 2>/dev/null && echo wrote || echo refused")
    assert wrote.strip() == "refused"


async def test_chat_crosses_from_the_kube_pod_to_a_compose_replica(kube_pods, base_url):
    """The Kubernetes ws pod and a compose ws replica share Redis: a message said on one is
    heard on the other."""
    answers(readiness_request("ws", kube_pods["ws-pod-0-ws"]))
    compose_replica = next(c.address for c in containers() if c.service == "ws")
    room = unique_room("kube")
    kube, _ = await enter(f"ws://{kube_pods['ws-pod-0-ws']}:8001", room, base_url)
    compose, _ = await enter(f"ws://{compose_replica}:8001", room, base_url)
    try:
        await say(kube, "from the kube pod")
        assert (await next_message(compose))["text"] == "from the kube pod"
    finally:
        await kube.close()
        await compose.close()
