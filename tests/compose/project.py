"""The containers of the compose project `make compose-test` started, through the podman CLI.

The project is COMPOSE_PROJECT_NAME (default pingcomposetest); what it should hold comes from
docker-compose.yml itself, so a service added there is waited for and checked without an edit here.
"""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "pingcomposetest")
IMAGE = os.environ.get("PING_IMAGE", "ping-app")


def podman(*args: str, timeout: float = 60) -> str:
    """Run podman; its stdout. Raises CalledProcessError (with stderr) on failure."""
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, done.args, done.stdout, done.stderr)
    return done.stdout


@dataclass(frozen=True)
class Container:
    name: str
    service: str
    state: str  # podman's: created, running, exited, ...
    exit_code: int
    health: str | None  # starting, healthy, unhealthy; None without a health check
    address: str  # on the project's network

    def logs(self) -> str:
        done = subprocess.run(["podman", "logs", self.name], capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr


@dataclass(frozen=True)
class Service:
    replicas: int
    one_shot: bool  # restart "no": runs once and must exit 0


def expected_services() -> dict[str, Service]:
    """Every service of docker-compose.yml, with its replica count and whether it is a one-shot."""
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    return {
        name: Service(
            replicas=int(spec.get("deploy", {}).get("replicas", 1)),
            one_shot=str(spec.get("restart", "no")) == "no",
        )
        for name, spec in services.items()
    }


def containers() -> list[Container]:
    """Every container of the project, running or not."""
    ids = podman("ps", "--all", "--quiet", "--filter", f"label=com.docker.compose.project={PROJECT}").split()
    if not ids:
        return []
    found = []
    for item in json.loads(podman("inspect", *ids)):
        state = item["State"]
        # podman 4 calls it Healthcheck in its own inspect, Health in the Docker-compatible one.
        health = (state.get("Health") or state.get("Healthcheck") or {}).get("Status") or None
        networks = item["NetworkSettings"].get("Networks") or {}
        address = next((net["IPAddress"] for net in networks.values() if net.get("IPAddress")), "")
        found.append(
            Container(
                name=item["Name"].lstrip("/"),
                service=item["Config"]["Labels"]["com.docker.compose.service"],
                state=state["Status"],
                exit_code=int(state.get("ExitCode") or 0),
                health=health,
                address=address,
            )
        )
    return sorted(found, key=lambda c: c.name)


def not_ready(running: list[Container]) -> list[str]:
    """Why the project is not up yet: [] once every one-shot has exited 0 and every other
    service has its replica count of running, healthy containers."""
    reasons = []
    for name, service in expected_services().items():
        mine = [c for c in running if c.service == name]
        if service.one_shot:
            if not mine or mine[0].state != "exited":
                reasons.append(f"{name}: not finished")
            elif mine[0].exit_code != 0:
                reasons.append(f"{name}: exited {mine[0].exit_code}")
            continue
        healthy = [c for c in mine if c.state == "running" and c.health == "healthy"]
        if len(healthy) != service.replicas:
            states = ", ".join(f"{c.name} {c.state}/{c.health}" for c in mine) or "no container"
            reasons.append(f"{name}: {len(healthy)} of {service.replicas} healthy ({states})")
    return reasons


def failed(running: list[Container]) -> list[str]:
    """What will not get better by waiting: a one-shot that failed, an unhealthy container."""
    one_shots = {name for name, service in expected_services().items() if service.one_shot}
    return [
        f"{c.name}: " + (f"exited {c.exit_code}" if c.service in one_shots else "unhealthy")
        for c in running
        if (c.service in one_shots and c.state == "exited" and c.exit_code != 0) or c.health == "unhealthy"
    ]
