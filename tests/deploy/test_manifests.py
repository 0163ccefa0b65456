"""The deployment manifests, checked offline as CI does: every Kustomize target renders
and every object validates against the Kubernetes and CRD schemas, docker-compose.yml
loads under the Compose Specification, and both say what the design asks for."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from putright.shared.topics import DEAD_LETTER_SUFFIX, Stream, Topics

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "deploy" / "tools"
SERVICES = ("intake", "deadlines", "letters", "reporting")
OVERLAYS = ("dev", "prod")
SERVICE_PORTS = {"intake": 8001, "deadlines": 8002, "letters": 8003, "reporting": 8004}
OWN_STREAMS = {
    "intake": {Stream.ORGANISATIONS, Stream.COMPLAINTS},
    "deadlines": {Stream.DEADLINES},
    "letters": {Stream.LETTERS},
    "reporting": set(),
}
Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """What validate-manifests.sh printed and wrote."""

    output: str
    directory: Path

    def documents(self, target: str) -> list[Manifest]:
        """Every object of one rendered Kustomize target."""
        text = (self.directory / f"{target}.yaml").read_text()
        return [document for document in yaml.safe_load_all(text) if document]

    def compose(self) -> Manifest:
        """docker-compose.yml as the Compose Specification's loader resolved it."""
        loaded: Manifest = json.loads((self.directory / "docker-compose.json").read_text())
        return loaded


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    directory = tmp_path_factory.mktemp("rendered")
    result = subprocess.run(
        ["bash", str(TOOLS / "validate-manifests.sh")],
        env={**os.environ, "PUTRIGHT_RENDERED_DIR": str(directory)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return Rendered(output=result.stdout, directory=directory)


def of_kind(documents: list[Manifest], kind: str) -> list[Manifest]:
    return [document for document in documents if document["kind"] == kind]


def named(documents: list[Manifest], kind: str, name: str) -> Manifest:
    (document,) = [d for d in of_kind(documents, kind) if d["metadata"]["name"] == name]
    return document


def putright_deployments(documents: list[Manifest]) -> list[Manifest]:
    return [
        deployment
        for deployment in of_kind(documents, "Deployment")
        if deployment["metadata"]["labels"].get("app.kubernetes.io/part-of") == "putright"
    ]


def env_entries(documents: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(workload name, env entry) for every container of every Deployment and Job."""
    for workload in of_kind(documents, "Deployment") + of_kind(documents, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for entry in container.get("env", []):
                yield workload["metadata"]["name"], entry


def test_every_object_of_every_target_is_valid(rendered: Rendered) -> None:
    for target in ("base", *OVERLAYS):
        assert rendered.documents(target), target
    targets = 1 + len(list((REPO / "deploy" / "kustomize" / "overlays").glob("*/")))
    summary = next(line for line in rendered.output.splitlines() if line.startswith("Summary:"))
    assert "Invalid: 0, Errors: 0, Skipped: 0" in summary
    assert f"found in {targets} files" in summary


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_every_deployment_has_probes_limits_and_runs_locked_down(
    rendered: Rendered, target: str
) -> None:
    documents = rendered.documents(target)
    deployments = putright_deployments(documents)
    assert {d["metadata"]["name"] for d in deployments} == {f"putright-{s}" for s in SERVICES}
    for deployment in of_kind(documents, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            where = f"{target}: {deployment['metadata']['name']}/{container['name']}"
            assert container["readinessProbe"]["httpGet"], where
            assert container["livenessProbe"]["httpGet"], where
            for bound in ("requests", "limits"):
                assert set(container["resources"][bound]) >= {"cpu", "memory"}, where
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert any(
                mount["mountPath"] == "/tmp" and mount["name"] in tmp_volumes
                for mount in container["volumeMounts"]
            ), where
    for deployment in deployments:
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        # Above the services' 30 s graceful shutdown plus the preStop pause.
        assert pod["terminationGracePeriodSeconds"] >= 45
        assert (
            pod["terminationGracePeriodSeconds"]
            > 30 + container["lifecycle"]["preStop"]["sleep"]["seconds"]
        )
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert pod["serviceAccountName"] == deployment["metadata"]["name"]


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_each_service_has_its_service_account_service_and_config(
    rendered: Rendered, target: str
) -> None:
    documents = rendered.documents(target)
    for service in SERVICES:
        name = f"putright-{service}"
        named(documents, "ServiceAccount", name)
        assert named(documents, "Service", name)["spec"]["selector"] == {
            "app.kubernetes.io/name": name
        }
        deployment = named(documents, "Deployment", name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (config_ref,) = container["envFrom"]
        config = named(documents, "ConfigMap", config_ref["configMapRef"]["name"])
        assert config["data"]["PUTRIGHT_TOPIC_PREFIX"] == "putright"
        assert container["args"] == ["serve", "--port", str(SERVICE_PORTS[service])]


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_secrets_are_referenced_never_inlined(rendered: Rendered, target: str) -> None:
    documents = rendered.documents(target)
    assert not of_kind(documents, "Secret")
    entries = list(env_entries(documents))
    assert entries
    for workload, entry in entries:
        if any(word in entry["name"] for word in ("PASSWORD", "SECRET", "TOKEN")):
            assert "secretKeyRef" in entry["valueFrom"], (workload, entry["name"])
        if entry["name"] == "DATABASE_URL":
            assert entry["value"].startswith("postgresql+asyncpg://$(PGUSER):$(PGPASSWORD)@")
    for config in of_kind(documents, "ConfigMap"):
        assert not any("PASSWORD" in key or "SECRET" in key for key in config["data"])


@pytest.mark.parametrize("target", ["base", *OVERLAYS])
def test_migrations_job_migrates_every_service_with_its_own_image(
    rendered: Rendered, target: str
) -> None:
    documents = rendered.documents(target)
    job = named(documents, "Job", "putright-migrate")
    containers = {c["name"]: c for c in job["spec"]["template"]["spec"]["containers"]}
    assert set(containers) == set(SERVICES)
    for service, container in containers.items():
        assert container["args"] == ["migrate"]
        deployment = named(documents, "Deployment", f"putright-{service}")
        (served,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["image"] == served["image"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_has_a_kafka_topic(
    rendered: Rendered, overlay: str
) -> None:
    topics = of_kind(rendered.documents(overlay), "KafkaTopic")
    assert sorted(t["spec"]["topicName"] for t in topics) == sorted(Topics().all())
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "putright-kafka"
        if not topic["spec"]["topicName"].endswith(DEAD_LETTER_SUFFIX):
            assert topic["spec"]["config"]["retention.ms"] == -1


def kafka_users(documents: list[Manifest]) -> dict[str, Manifest]:
    return {user["metadata"]["name"]: user for user in of_kind(documents, "KafkaUser")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_contractor_can_only_write_the_inbound_topic(rendered: Rendered, overlay: str) -> None:
    contractors = [
        user
        for user in kafka_users(rendered.documents(overlay)).values()
        if user["metadata"]["labels"].get("putright.uk/role") == "contractor"
    ]
    assert contractors
    for contractor in contractors:
        assert contractor["spec"]["authentication"]["type"] == "scram-sha-512"
        assert contractor["spec"]["authorization"]["acls"] == [
            {
                "resource": {
                    "type": "topic",
                    "name": Topics().topic(Stream.CONTRACTOR_INBOUND),
                    "patternType": "literal",
                },
                "operations": ["Write"],
            }
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_writes_only_its_own_streams_and_dead_letters(
    rendered: Rendered, overlay: str
) -> None:
    documents = rendered.documents(overlay)
    users = kafka_users(documents)
    topics = Topics()
    for service in SERVICES:
        user = users[f"putright-{service}-kafka"]
        written = {
            acl["resource"]["name"]
            for acl in user["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == "topic" and "Write" in acl["operations"]
        }
        allowed = {topics.topic(s) for s in OWN_STREAMS[service]} | {
            topics.dead_letter(s) for s in Stream
        }
        assert written >= {topics.topic(s) for s in OWN_STREAMS[service]}
        assert written <= allowed, service
        for acl in user["spec"]["authorization"]["acls"]:
            assert "All" not in acl["operations"]
        deployment = named(documents, "Deployment", f"putright-{service}")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        password = next(e for e in container["env"] if e["name"] == "PUTRIGHT_KAFKA_SASL_PASSWORD")
        assert password["valueFrom"]["secretKeyRef"]["name"] == f"putright-{service}-kafka"


def test_keda_scales_each_consumer_on_its_own_group_lag(rendered: Rendered) -> None:
    documents = rendered.documents("prod")
    partitions = min(
        t["spec"]["partitions"]
        for t in of_kind(documents, "KafkaTopic")
        if not t["spec"]["topicName"].endswith(DEAD_LETTER_SUFFIX)
    )
    scaled = {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind(documents, "ScaledObject")}
    for service in ("deadlines", "letters", "reporting"):
        scaled_object = scaled[f"putright-{service}"]
        (trigger,) = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "kafka"]
        assert trigger["metadata"]["consumerGroup"] == f"putright.{service}"
        assert trigger["authenticationRef"]["name"] == "putright-kafka"
        # Background work (outbox relay, timers, the send queue) needs a replica always.
        assert scaled_object["spec"]["minReplicaCount"] >= 1
        assert scaled_object["spec"]["maxReplicaCount"] <= partitions
    for deployment in putright_deployments(documents):
        assert "replicas" not in deployment["spec"], "KEDA owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default(rendered: Rendered, overlay: str) -> None:
    policies = of_kind(rendered.documents(overlay), "NetworkPolicy")
    deny = named(policies, "NetworkPolicy", "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert len(policies) > 1


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_database_secret_comes_from_cloudnative_pg(rendered: Rendered, overlay: str) -> None:
    documents = rendered.documents(overlay)
    cluster = named(documents, "Cluster", "putright-db")
    referenced = {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for _, entry in env_entries(documents)
        if entry["name"].startswith("PG")
    }
    # CloudNativePG names the app secret <cluster>-app.
    assert referenced == {f"{cluster['metadata']['name']}-app"}


def test_compose_runs_the_whole_stack(rendered: Rendered) -> None:
    services = rendered.compose()["services"]
    assert set(services) == {
        "kafka",
        "kafka-topics",
        "postgres",
        "mailpit",
        *SERVICES,
        *(f"{s}-migrate" for s in SERVICES),
    }
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    for name in SERVICES:
        service = services[name]
        port = SERVICE_PORTS[name]
        assert service["build"]["args"] == {"SERVICE": name}
        assert service["command"] == ["serve", "--port", str(port)]
        assert f"http://127.0.0.1:{port}/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["restart"] == "unless-stopped"
        assert service["read_only"] is True
        assert service["depends_on"][f"{name}-migrate"]["condition"] == (
            "service_completed_successfully"
        )
        assert service["depends_on"]["kafka-topics"]["condition"] == (
            "service_completed_successfully"
        )
        assert service["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert service["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        migrate = services[f"{name}-migrate"]
        assert migrate["command"] == ["migrate"]
        assert migrate["image"] == service["image"]
    for infrastructure in ("kafka", "postgres", "mailpit"):
        assert services[infrastructure]["healthcheck"]["test"]


def test_compose_creates_every_topic_and_dead_letter_topic(rendered: Rendered) -> None:
    creator = rendered.compose()["services"]["kafka-topics"]
    streams = creator["environment"]["STREAMS"].split()
    assert sorted(streams) == sorted(stream.value for stream in Stream)
    script = creator["command"][0]
    assert 'create "putright.$stream"' in script
    assert f'create "putright.$stream{DEAD_LETTER_SUFFIX}"' in script


def compose_config(environment: dict[str, str]) -> Manifest:
    """docker-compose.yml resolved with `environment` as the shell's."""
    tools = Path(os.environ.get("PUTRIGHT_DEPLOY_TOOLS", REPO / ".local" / "deploy-tools"))
    loaded = subprocess.run(
        [str(tools / "bin" / "compose-config"), "docker-compose.yml"],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "COMPOSE_DISABLE_ENV_FILE": "1", **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    project: Manifest = json.loads(loaded.stdout)
    return project


def test_compose_sends_letters_through_a_councils_relay_from_the_environment(
    rendered: Rendered,
) -> None:
    council = {
        "PUTRIGHT_SMTP_HOST": "smtp.council.example",
        "PUTRIGHT_SMTP_PORT": "465",
        "PUTRIGHT_SMTP_USE_TLS": "true",
        "PUTRIGHT_SMTP_USERNAME": "putright",
        "PUTRIGHT_SMTP_PASSWORD": "from-the-council",
        "PUTRIGHT_MAIL_FROM": "complaints@council.example",
    }
    letters = compose_config(council)["services"]["letters"]["environment"]
    assert letters | council == letters
    # Left unset, the login stays unset rather than empty, and Mailpit catches the mail.
    letters = compose_config({})["services"]["letters"]["environment"]
    assert letters["PUTRIGHT_SMTP_USERNAME"] is None
    assert letters["PUTRIGHT_SMTP_PASSWORD"] is None
    assert letters["PUTRIGHT_SMTP_HOST"] == "mailpit"
