"""k8s/, proved statically: every manifest valid against the Kubernetes API schemas (the ones
kubernetes-validate bundles, so no cluster and no network), and the same deployment as
docker-compose.yml and nginx/nginx.conf.template: the same image, commands, ports and routes."""

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.stack import NGINX_TEMPLATE, REPO

K8S = REPO / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml")) + sorted((K8S / "examples").glob("*.yaml"))
# The oldest and the newest Kubernetes minor versions the manifests are checked against.
KUBERNETES_VERSIONS = ("1.29.0", "1.37.0")
IMAGE_USER = "10001:10001"


def documents(path: Path) -> list[dict[str, Any]]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


@pytest.fixture(scope="module")
def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> resource, from every manifest."""
    found = {}
    for path in MANIFESTS:
        for document in documents(path):
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = document
    return found


@pytest.fixture(scope="module")
def compose() -> dict[str, dict[str, Any]]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    return resource["spec"]["template"]["spec"]


def containers(resource: dict[str, Any], init: bool = False) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    return (spec.get("initContainers", []) if init else []) + spec["containers"]


def container(resource: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [c for c in containers(resource, init=True) if c["name"] == name]
    return found


def workloads(resources) -> list[dict[str, Any]]:
    return [r for (kind, _), r in resources.items() if kind in {"Deployment", "StatefulSet", "Job"}]


def compose_command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else command


# ---------------------------------------------------------------- the schemas


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: str(path.relative_to(K8S)))
def test_manifest_is_valid_against_the_kubernetes_schema(path: Path, version: str) -> None:
    """Strict: a misspelt or misplaced field is an error, not silently dropped."""
    for document in documents(path):
        kubernetes_validate.validate(document, version, strict=True)


def test_a_wrong_field_is_refused() -> None:
    """The check can fail: a probe with a misspelt field is refused."""
    deployment = documents(K8S / "web.yaml")[0]
    container(deployment, "web")["readinessProbe"]["httpGett"] = {"path": "/healthz", "port": 8000}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# ---------------------------------------------------------------- the same app as compose


def test_every_app_container_runs_the_one_image(resources, compose) -> None:
    """web, ws, the migrate Job and the static files' init container: one image, compose's."""
    app = [("Deployment", "web"), ("Deployment", "ws"), ("Job", "ping-migrate")]
    images = {c["image"] for key in app for c in containers(resources[key], init=True)}
    images |= {c["image"] for c in pod_spec(resources[("Deployment", "static")])["initContainers"]}
    assert images == {"ping-app:latest"}
    assert compose["web"]["image"] == "${PING_IMAGE:-ping-app}"


@pytest.mark.parametrize(
    ("kind", "workload", "name", "service"),
    [
        ("Deployment", "web", "web", "web"),
        ("Deployment", "ws", "ws", "ws"),
        ("Job", "ping-migrate", "migrate", "migrate"),
        ("Deployment", "static", "publish-static", "publish-static"),
    ],
)
def test_containers_run_what_compose_runs(resources, compose, kind, workload, name, service) -> None:
    assert container(resources[(kind, workload)], name)["command"] == compose_command(compose[service])


@pytest.mark.parametrize(("name", "port"), [("web", 8000), ("ws", 8001)])
def test_web_and_ws_have_readiness_and_liveness_probes_on_their_port(resources, name, port) -> None:
    """Both probes, on the port the start script listens on; readiness asks /healthz with the
    Host Django always allows (the kubelet calls the pod's IP address)."""
    main = container(resources[("Deployment", name)], name)
    (declared,) = main["ports"]
    assert declared["containerPort"] == port
    readiness, liveness = main["readinessProbe"], main["livenessProbe"]
    assert readiness["httpGet"]["path"] == "/healthz"
    assert readiness["httpGet"]["port"] == declared["name"]
    assert {"name": "Host", "value": "127.0.0.1"} in readiness["httpGet"]["httpHeaders"]
    probed = liveness.get("httpGet") or liveness["tcpSocket"]
    assert probed["port"] == declared["name"]
    allowed = resources[("ConfigMap", "ping-config")]["data"]["ALLOWED_HOSTS"].split(",")
    assert "127.0.0.1" in allowed


def test_web_liveness_does_not_depend_on_the_database(resources) -> None:
    """/healthz fails while Postgres or Redis is down: as a liveness probe it would restart
    every web pod during such an outage, so liveness only checks that Gunicorn accepts."""
    assert "tcpSocket" in container(resources[("Deployment", "web")], "web")["livenessProbe"]


def test_ws_drains_before_it_stops(resources) -> None:
    """preStop sleeps so the Ingress stops routing handshakes here first; the grace period
    leaves Daphne time after it to close its sockets."""
    ws = resources[("Deployment", "ws")]
    command = container(ws, "ws")["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod_spec(ws)["terminationGracePeriodSeconds"] >= int(command[1]) + 10


def test_ws_disruption_budget_keeps_a_replica(resources) -> None:
    """Drains and upgrades take at most one ws replica at a time out of at least two."""
    ws = resources[("Deployment", "ws")]
    budget = resources[("PodDisruptionBudget", "ws")]["spec"]
    assert budget["selector"]["matchLabels"].items() <= ws["spec"]["template"]["metadata"]["labels"].items()
    assert budget["maxUnavailable"] == 1
    assert ws["spec"]["replicas"] >= 2


def test_services_select_pods_and_ports_that_exist(resources) -> None:
    """Every selector matches a pod template's labels; every target port is a declared port."""
    templates = [w["spec"]["template"] for w in workloads(resources)]
    for (kind, name), service in resources.items():
        if kind != "Service" or "selector" not in service["spec"]:
            continue
        pods = [t for t in templates if service["spec"]["selector"].items() <= t["metadata"]["labels"].items()]
        assert pods, f"Service {name} selects no pods"
        ports = {p.get("name") for t in pods for c in t["spec"]["containers"] for p in c.get("ports", [])}
        ports |= {p["containerPort"] for t in pods for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port.get("targetPort", port["port"]) in ports, f"Service {name}: {port}"


def test_ingress_routes_as_nginx_does(resources) -> None:
    """/static/ and /favicon.ico to the static files, /ws/ to Daphne, /metrics and the rest to
    Gunicorn: nginx's locations."""
    routes = {}
    for (kind, _), ingress in resources.items():
        if kind == "Ingress":
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    assert ("Service", backend["name"]) in resources
                    routes[path["path"]] = backend["name"]
    assert routes == {"/static/": "static", "/favicon.ico": "static", "/ws/": "ws", "/metrics": "web", "/": "web"}
    # Every location a request can reach (an `internal` one, nginx's own error page, it cannot;
    # nor a named one, @ws_busy, which only error_page goes to).
    blocks = re.findall(r"^\s*location (?:= )?(\S+) \{(.*?)\}", NGINX_TEMPLATE.read_text(), re.M | re.S)
    assert set(routes) == {path for path, body in blocks if "internal;" not in body and not path.startswith("@")}


def test_metrics_are_closed_to_the_outside_as_nginx_closes_them(resources) -> None:
    """nginx serves /metrics to private addresses only; through the Ingress only the controller's
    own host may ask (Prometheus scrapes the annotated pods directly)."""
    ingress = resources[("Ingress", "ping-metrics")]
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/whitelist-source-range"] == "127.0.0.1/32"
    assert [p["pathType"] for r in ingress["spec"]["rules"] for p in r["http"]["paths"]] == ["Exact"]
    for name, port in (("web", "8000"), ("ws", "8001")):
        annotations = resources[("Deployment", name)]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == port


def test_websocket_timeouts_match_nginx(resources) -> None:
    """The /ws/ Ingress keeps quiet sockets as long as the site's nginx does (above Daphne's
    20 s ping interval), and does not buffer pongs."""
    annotations = resources[("Ingress", "ping-ws")]["metadata"]["annotations"]
    template = NGINX_TEMPLATE.read_text()
    ws_location = template[template.index("location /ws/") :]
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", ws_location)[1]
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == read_timeout
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"


def test_redis_is_reached_through_sentinel(resources) -> None:
    """REDIS_SENTINELS names the sentinels' Service and port; REDIS_SENTINEL_MASTER is the
    master the sentinels monitor."""
    config = resources[("ConfigMap", "ping-config")]["data"]
    host, port = config["REDIS_SENTINELS"].split(":")
    sentinel = resources[("Service", host)]
    assert int(port) in {p["port"] for p in sentinel["spec"]["ports"]}
    script = resources[("ConfigMap", "redis-scripts")]["data"]["sentinel.sh"]
    assert f"sentinel monitor {config['REDIS_SENTINEL_MASTER']} " in script
    assert resources[("StatefulSet", "redis")]["spec"]["replicas"] >= 3


def test_postgres_is_an_external_service_named_as_in_database_url(resources) -> None:
    postgres = resources[("Service", "postgres")]["spec"]
    assert postgres["type"] == "ExternalName"
    database_url = resources[("Secret", "ping-secrets")]["stringData"]["DATABASE_URL"]
    assert "@postgres:5432/" in database_url


def test_app_pods_run_as_the_images_user(resources) -> None:
    """The Dockerfile's USER, stated for the orchestrator (runAsNonRoot needs numbers)."""
    lines = (REPO / "Dockerfile").read_text().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("USER ")][-1] == IMAGE_USER
    for kind, name in (("Deployment", "web"), ("Deployment", "ws"), ("Job", "ping-migrate")):
        security = pod_spec(resources[(kind, name)])["securityContext"]
        assert security["runAsNonRoot"] is True
        assert f"{security['runAsUser']}:{security['runAsGroup']}" == IMAGE_USER


def test_every_config_reference_is_defined(resources) -> None:
    """envFrom and volumes name ConfigMaps and Secrets that k8s/ defines (the Secret as an example)."""
    for workload in workloads(resources):
        for c in containers(workload, init=True):
            for source in c.get("envFrom", []):
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if key in source:
                        assert (kind, source[key]["name"]) in resources
        for volume in pod_spec(workload).get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in resources
