"""`triton-slo generate --target kubernetes`: the objects validate against tests/k8s_schemas/, the rules
inside PrometheusRules pass promtool, the AlertmanagerConfig rebuilds into an alertmanager.yaml that
amtool and a real Alertmanager accept and that routes like the original, and the Deployment's
arguments start the real exporter on the port and path its probes and ServiceMonitor use."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import requests
import yaml
from harness.generated import run_generate
from triton_slo.artifacts import Artifact, Built, Options
from triton_slo.errors import UserError
from triton_slo.model import Service, Spec
from triton_slo.output import files
from triton_slo.output import kubernetes as k8s

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = {
    kind: json.loads((REPO / "tests" / "k8s_schemas" / f"{kind.lower()}.json").read_text())
    for kind in ("PrometheusRule", "ServiceMonitor", "AlertmanagerConfig", "ConfigMap", "Deployment", "Service")
}
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")

RULES = """\
groups:
- name: triton-slo-resnet-classifier-availability
  interval: 30s
  rules:
  - record: slo:sli_error:ratio_rate5m
    expr: |-
      sum by (model, version) (rate(nv_inference_request_failure{job="triton"}[5m]))
      /
      (sum by (model, version) (rate(nv_inference_request_success{job="triton"}[5m])) > 0)
    labels: {service: resnet-classifier, slo: availability}
  - alert: TritonSloAvailabilityBudgetBurn
    expr: slo:sli_error:ratio_rate5m{service="resnet-classifier"} > 0.0144
    for: 2m
    labels: {service: resnet-classifier, slo: availability, severity: critical, tier: page-fast}
    annotations:
      summary: Availability budget burning fast
      description: 'error ratio {{ $value | humanizePercentage }}'
      runbook_url: https://runbooks.example.com/TritonSloAvailabilityBudgetBurn.md
- name: triton-slo-resnet-classifier-meta
  rules:
  - record: slo:objective:ratio
    expr: vector(0.999)
"""
OPS_RULES = """\
groups:
- name: triton-slo-resnet-classifier-ops
  rules:
  - alert: TritonSloServerDown
    expr: triton_slo_server_live{job="triton-slo"} == 0
    for: 1m
    labels: {service: resnet-classifier, severity: critical}
    annotations: {summary: Triton is not live}
"""
ALERTMANAGER = """\
global:
  resolve_timeout: 5m
route:
  receiver: ml-platform-tickets
  group_by: [alertname, service, slo, model, version]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
  - receiver: ml-oncall-pager
    matchers: ['severity="critical"']
  - receiver: ml-platform-tickets
    matchers: ['severity="warning"', 'model=~"resnet_.*"']
    mute_time_intervals: [weekly-retraining]
  - receiver: demo-webhook
    matchers: ['alertname="Watchdog"']
receivers:
- name: ml-oncall-pager
  pagerduty_configs:
  - routing_key_file: /etc/alertmanager/secrets/pagerduty-routing-key
    send_resolved: true
    details: {runbook: '{{ .CommonAnnotations.runbook_url }}'}
    links:
    - {href: '{{ .CommonAnnotations.runbook_url }}', text: Runbook}
- name: ml-platform-tickets
  slack_configs:
  - api_url_file: /etc/alertmanager/secrets/slack-webhook-url
    channel: '#ml-platform-alerts'
    send_resolved: true
    title: '{{ .CommonLabels.alertname }}'
- name: demo-webhook
  webhook_configs:
  - url: http://127.0.0.1:9/hook
    send_resolved: true
    max_alerts: 10
inhibit_rules:
- source_matchers: ['severity="critical"']
  target_matchers: ['severity="warning"']
  equal: [service, slo, model]
time_intervals:
- name: weekly-retraining
  time_intervals:
  - weekdays: [sunday]
    times: [{start_time: '02:00', end_time: '04:00'}]
    location: UTC
"""


def spec(name: str = "resnet-classifier", triton: dict | None = None, dcgm: dict | None = None,
         exporter: dict | None = None) -> Spec:
    return Spec(service=Service(
        name=name,
        triton_selector={"job": "triton"} if triton is None else triton,
        dcgm_selector={"job": "dcgm-exporter"} if dcgm is None else dcgm,
        exporter_selector={"job": "triton-slo"} if exporter is None else exporter,
    ), slos=())


@dataclass(frozen=True)
class KubeOptions:
    """Options with the fields the CLI is to pass for this target (see the report to the lead)."""

    target: str = "kubernetes"
    evaluation_interval: str = "30s"
    namespace: str = ""
    exporter_image: str = ""
    triton_url: str = ""
    dcgm_url: str = ""
    object_labels: tuple[tuple[str, str], ...] = ()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An OUT folder as the other generators leave it."""
    folder = tmp_path / "out"
    (folder / "rules").mkdir(parents=True)
    (folder / "dashboards").mkdir()
    (folder / "rules" / "resnet-classifier-slo.yaml").write_text("# generated\n" + RULES)
    (folder / "rules" / "resnet-classifier-ops.yaml").write_text(OPS_RULES)
    board = {"uid": "tslo-resnet-classifier-oncall", "title": "On-call", "panels": [], "schemaVersion": 39}
    (folder / "dashboards" / "resnet-classifier-oncall.json").write_text(json.dumps(board, indent=2) + "\n")
    (folder / "dashboards" / "provisioning.yaml").write_text("apiVersion: 1\nproviders: []\n")
    (folder / "alertmanager.yaml").write_text(ALERTMANAGER)
    return folder


def _groups(document: dict) -> dict:
    """A rule document as a builder makes it (a run with --target kubernetes wrapped it)."""
    return {"groups": document["spec"]["groups"]} if document.get("kind") == "PrometheusRule" else document


def artifacts_in(out: Path) -> list[Artifact]:
    """The fixture folder's files as the builders would have made them (documents in memory)."""
    made = [Artifact(str(p.relative_to(out)), "rules", _groups(yaml.safe_load(p.read_text())),
                     service=p.stem.rsplit("-", 1)[0]) for p in sorted((out / "rules").glob("*.yaml"))]
    made += [Artifact(str(p.relative_to(out)), "dashboard", json.loads(p.read_text()), "json")
             for p in sorted((out / "dashboards").glob("*.json"))]
    if (out / "alertmanager.yaml").is_file():
        config = yaml.safe_load((out / "alertmanager.yaml").read_text())
        made.append(Artifact("alertmanager.yaml", "alertmanager", config))
    return made


def kube_generate(specs: list[Spec], out: Path, options: Any) -> Any:
    """The output layer's Kubernetes wrapping of the fixture's artifacts, written under ``out``."""
    built = k8s.wrap(specs, Built(artifacts_in(out)), options)
    written = files.write(built.artifacts, out)
    built.files = [p for p in written if p.parent.name == "kubernetes"]
    return built


def generated(out: Path, options: Any = None, specs: list[Spec] | None = None) -> tuple[list[dict], Any]:
    result = kube_generate(specs or [spec()], out, options or KubeOptions())
    objects = [yaml.safe_load(p.read_text()) for p in sorted((out / "kubernetes").glob("*.yaml"))]
    return objects, result


def schema_errors(obj: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMAS[obj["kind"]])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(obj)]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


# --- schemas ---------------------------------------------------------------------------------------


def test_schemas_are_valid_draft7() -> None:
    for schema in SCHEMAS.values():
        jsonschema.Draft7Validator.check_schema(schema)


def test_every_object_validates_against_its_schema(out: Path) -> None:
    objects, result = generated(out)
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["AlertmanagerConfig", "ConfigMap", "Deployment", "PrometheusRule", "PrometheusRule",
                     "Service", "ServiceMonitor"]
    for obj in objects:
        assert schema_errors(obj) == [], obj["kind"]
        assert obj["metadata"]["namespace"] == k8s.DEFAULT_NAMESPACE
    assert len(result.files) == len(objects)
    # Every file is one document, starting with the header that marks it as ours.
    for path in (out / "kubernetes").glob("*.yaml"):
        assert path.read_text().startswith(k8s.HEADER)
        assert len(list(yaml.safe_load_all(path.read_text()))) == 1


def _rename(path: list, old: str, new: str):
    def apply(obj: dict) -> None:
        node = obj
        for key in path:
            node = node[key]
        node[new] = node.pop(old)
    return apply


def _set(path: list, value: Any):
    def apply(obj: dict) -> None:
        node = obj
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return apply


def _drop(path: list):
    def apply(obj: dict) -> None:
        node = obj
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return apply


CONTAINER = ["spec", "template", "spec", "containers", 0]
ENDPOINT = ["spec", "endpoints", 0]
MISTAKES = {
    # misspelt fields: pruned silently by the API server, so they must fail here
    "Deployment readynessProbe": ("Deployment", _rename(CONTAINER, "readinessProbe", "readynessProbe")),
    "Deployment readOnlyRootFileSystem": ("Deployment", _rename(CONTAINER + ["securityContext"],
                                                                "readOnlyRootFilesystem", "readOnlyRootFileSystem")),
    "ServiceMonitor scrape_timeout": ("ServiceMonitor", _rename(ENDPOINT, "scrapeTimeout", "scrape_timeout")),
    "AlertmanagerConfig group_by": ("AlertmanagerConfig", _rename(["spec", "route"], "groupBy", "group_by")),
    "AlertmanagerConfig routing_key_file": ("AlertmanagerConfig", _rename(
        ["spec", "receivers", 0, "pagerdutyConfigs", 0], "routingKey", "routing_key_file")),
    "AlertmanagerConfig link text": ("AlertmanagerConfig", _rename(
        ["spec", "receivers", 0, "pagerdutyConfigs", 0, "pagerDutyLinkConfigs", 0], "alt", "text")),
    "AlertmanagerConfig sendResolve": ("AlertmanagerConfig", _rename(
        ["spec", "receivers", 1, "slackConfigs", 0], "sendResolved", "sendResolve")),
    "AlertmanagerConfig child route receivr": ("AlertmanagerConfig", _rename(
        ["spec", "route", "routes", 0], "receiver", "receivr")),
    "AlertmanagerConfig start_time": ("AlertmanagerConfig", _rename(
        ["spec", "muteTimeIntervals", 0, "timeIntervals", 0, "times", 0], "startTime", "start_time")),
    "PrometheusRule exp": ("PrometheusRule", _rename(["spec", "groups", 0, "rules", 0], "expr", "exp")),
    "PrometheusRule keep_firing": ("PrometheusRule", _set(["spec", "groups", 0, "rules", 0, "keep_firing"], "5m")),
    "ConfigMap datas": ("ConfigMap", _rename([], "data", "datas")),
    "Service target_port": ("Service", _rename(["spec", "ports", 0], "targetPort", "target_port")),
    # mistyped values
    "Deployment containerPort as text": ("Deployment", _set(CONTAINER + ["ports", 0, "containerPort"], "9874")),
    "Deployment replicas as text": ("Deployment", _set(["spec", "replicas"], "1")),
    "Deployment memory quantity": ("Deployment", _set(CONTAINER + ["resources", "requests", "memory"], "128 MB")),
    "Deployment pull policy": ("Deployment", _set(CONTAINER + ["imagePullPolicy"], "Sometimes")),
    "ServiceMonitor interval": ("ServiceMonitor", _set(ENDPOINT + ["interval"], "30 s")),
    "ServiceMonitor relabel action": ("ServiceMonitor", _set(ENDPOINT + ["relabelings", 0, "action"], "label_drop")),
    "AlertmanagerConfig sendResolved as text": ("AlertmanagerConfig", _set(
        ["spec", "receivers", 1, "slackConfigs", 0, "sendResolved"], "true")),
    "AlertmanagerConfig matchType ==": ("AlertmanagerConfig", _set(
        ["spec", "route", "routes", 0, "matchers", 0, "matchType"], "==")),
    "AlertmanagerConfig weekday sun": ("AlertmanagerConfig", _set(
        ["spec", "muteTimeIntervals", 0, "timeIntervals", 0, "weekdays"], ["sun"])),
    "PrometheusRule for 2 minutes": ("PrometheusRule", _set(["spec", "groups", 0, "rules", 1, "for"], "2 minutes")),
    "PrometheusRule record and alert": ("PrometheusRule", _set(["spec", "groups", 0, "rules", 0, "alert"], "X")),
    "label value with a space": ("ConfigMap", _set(["metadata", "labels", "grafana_dashboard"], "a b")),
    "Service name with a dot": ("Service", _set(["metadata", "name"], "triton.slo")),
    "Service port 0": ("Service", _set(["spec", "ports", 0, "port"], 0)),
    # required fields missing
    "Deployment container name": ("Deployment", _drop(CONTAINER + ["name"])),
    "Deployment selector": ("Deployment", _drop(["spec", "selector"])),
    "ServiceMonitor selector": ("ServiceMonitor", _drop(["spec", "selector"])),
    "AlertmanagerConfig secret key": ("AlertmanagerConfig", _drop(
        ["spec", "receivers", 0, "pagerdutyConfigs", 0, "routingKey", "key"])),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_schemas_reject_misspelt_mistyped_and_missing_fields(out: Path, mistake: str) -> None:
    objects, _ = generated(out)
    kind, apply = MISTAKES[mistake]
    obj = copy.deepcopy(next(o for o in objects if o["kind"] == kind
                             and (kind != "PrometheusRule" or o["metadata"]["name"].endswith("-slo"))))
    assert schema_errors(obj) == []
    apply(obj)
    assert schema_errors(obj), f"{mistake}: the schema accepted it"


# --- PrometheusRule --------------------------------------------------------------------------------


def test_prometheus_rules_carry_the_rule_files_and_pass_promtool(out: Path, tmp_path: Path) -> None:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    objects, _ = generated(out)
    rules = {o["metadata"]["name"]: o for o in by_kind(objects, "PrometheusRule")}
    assert sorted(rules) == ["resnet-classifier-ops", "resnet-classifier-slo"]
    for name, obj in rules.items():
        groups = obj["spec"]["groups"]
        names = [g["name"] for g in groups]
        assert len(names) == len(set(names)), "group names are the list-map key of spec.groups"
        extracted = tmp_path / f"{name}.yaml"
        extracted.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        check = subprocess.run([PROMTOOL, "check", "rules", str(extracted)], capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        # The same rules as the file, except that alerts carry the namespace their route matches on.
        original = _groups(yaml.safe_load((out / "rules" / f"{name}.yaml").read_text()))["groups"]
        for group, source in zip(groups, original, strict=True):
            for rule, source_rule in zip(group["rules"], source["rules"], strict=True):
                if "alert" in rule:
                    assert rule["labels"].pop("namespace") == k8s.DEFAULT_NAMESPACE
                assert rule == source_rule
            assert {k: v for k, v in group.items() if k != "rules"} == {k: v for k, v in source.items()
                                                                       if k != "rules"}


def test_rule_file_already_wrapped_in_a_prometheus_rule_is_unwrapped(out: Path) -> None:
    """A generator may write the PrometheusRule itself; its groups and labels are kept, not nested."""
    wrapped = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
               "metadata": {"name": "x", "labels": {"triton-slo/service": "resnet-classifier"}},
               "spec": yaml.safe_load(RULES)}
    (out / "rules" / "resnet-classifier-slo.yaml").write_text(yaml.safe_dump(wrapped))
    objects, _ = generated(out)
    obj = next(o for o in by_kind(objects, "PrometheusRule") if o["metadata"]["name"] == "resnet-classifier-slo")
    assert schema_errors(obj) == []
    assert obj["metadata"]["labels"]["triton-slo/service"] == "resnet-classifier"
    assert [g["name"] for g in obj["spec"]["groups"]] == [g["name"] for g in yaml.safe_load(RULES)["groups"]]


# --- dashboards ------------------------------------------------------------------------------------


def test_dashboards_become_sidecar_configmaps_and_provisioning_is_left_alone(out: Path) -> None:
    objects, _ = generated(out)
    (configmap,) = by_kind(objects, "ConfigMap")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["name"] == "dashboard-resnet-classifier-oncall"
    key = "resnet-classifier-oncall.json"
    assert json.loads(configmap["data"][key]) == json.loads((out / "dashboards" / key).read_text())
    # The YAML keeps the dashboard readable (a literal block, not one escaped line).
    text = (out / "kubernetes" / "configmap-dashboard-resnet-classifier-oncall.yaml").read_text()
    assert f"{key}: |" in text


def test_oversized_dashboard_is_reported(out: Path) -> None:
    big = {"uid": "big", "panels": [{"title": "x" * 1000, "id": i} for i in range(1100)]}
    (out / "dashboards" / "resnet-classifier-big.json").write_text(json.dumps(big))
    _, result = generated(out)
    assert any("dashboard-resnet-classifier-big: data above 1 MiB" in w for w in result.warnings)


# --- exporter --------------------------------------------------------------------------------------


def test_exporter_objects_fit_together(out: Path) -> None:
    objects, _ = generated(out)
    (deployment,) = by_kind(objects, "Deployment")
    (service,) = by_kind(objects, "Service")
    (monitor,) = by_kind(objects, "ServiceMonitor")
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    # Deployment selects its pods; the Service selects the same pods; the ServiceMonitor the Service.
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    # One port name from the container through the Service to the ServiceMonitor and the probes.
    port = container["ports"][0]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"] == monitor["spec"]["endpoints"][0]["port"]
    assert service["spec"]["ports"][0]["name"] == port["name"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/-/ready", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/-/healthy", "port": port["name"]}
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert f"0.0.0.0:{port['containerPort']}" in container["args"]
    # The job Prometheus gives it is the Service name, which is the spec's exporter job.
    assert service["metadata"]["name"] == "triton-slo"
    # Non-root, nothing to escalate, resources requested.
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert container["command"] == ["triton-slo"]
    assert container["args"][:5] == ["export", "--triton", "http://triton:8000", "--dcgm",
                                     "http://dcgm-exporter:9400/metrics"]


def test_exporter_args_are_accepted_by_the_real_exporter_config(out: Path) -> None:
    import argparse

    from triton_slo.exporters import cli
    from triton_slo.exporters.config import build

    objects, _ = generated(out)
    args = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[0] == "export"
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    config = build(parser.parse_args(args[1:]))
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", k8s.EXPORTER_PORT)
    assert config.triton_url == "http://triton:8000"
    assert config.triton_metrics_url == "http://triton:8002/metrics"
    assert config.dcgm_url == "http://dcgm-exporter:9400/metrics"
    assert not config.triton_passthrough and not config.dcgm_passthrough


@pytest.mark.timeout(60)
def test_deployment_args_start_the_real_exporter_and_its_probe_path_answers(out: Path, tmp_path: Path,
                                                                            replay: Any) -> None:
    """Run `triton-slo export` with the container's arguments (Triton and DCGM pointed at a loopback
    replay of real recordings, and a free port instead of 9874) and GET the probe's path."""
    from harness.stack.ports import free_port
    from harness.stack.process import ManagedProcess

    fixtures = REPO.parent / "shared" / "fixtures"
    if not fixtures.is_dir():
        pytest.skip(f"real recordings not found: {fixtures} is absent")
    replay.set("/k8s-test/triton/metrics", fixtures / "triton_T4_7models_scrape1_sonic.prom")
    replay.set("/k8s-test/dcgm/metrics", fixtures / "dcgm_T4_under-load_ericsson_no-help-type.prom")
    objects, _ = generated(out)
    container = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    port = free_port()
    swap = {"http://triton:8000": replay.url("/k8s-test/triton"),
            "http://dcgm-exporter:9400/metrics": replay.url("/k8s-test/dcgm/metrics"),
            f"0.0.0.0:{k8s.EXPORTER_PORT}": f"127.0.0.1:{port}"}
    args = [swap.get(a, a) for a in container["args"]]
    args[args.index("--triton") + 2:args.index("--triton") + 2] = [
        "--triton-metrics", replay.url("/k8s-test/triton/metrics"), "--no-probes"]
    probes = [container[p]["httpGet"]["path"] for p in ("readinessProbe", "livenessProbe")]
    with ManagedProcess("exporter", [sys.executable, "-m", "triton_slo", *args], tmp_path / "exporter.log") as proc:
        for path in probes:
            proc.wait_for_url(f"http://127.0.0.1:{port}{path}", timeout=30)
        fetched_before = replay.requests.get("/k8s-test/dcgm/metrics", 0)
        for path in probes:  # answered from memory: no upstream is fetched for a probe
            assert requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code == 200
        assert replay.requests.get("/k8s-test/dcgm/metrics", 0) == fetched_before
        body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert re.search(r'^triton_slo_up\{upstream="dcgm"\} 1', body, re.M), body[:2000]
    assert "nv_inference_count" not in body, "--no-passthrough: Prometheus scrapes Triton itself"


def test_service_monitor_sets_the_spec_exporter_labels_and_drops_the_k8s_service_label(out: Path) -> None:
    objects, _ = generated(out, specs=[spec(exporter={"job": "triton_slo", "cluster": "eu-1"})])
    (monitor,) = by_kind(objects, "ServiceMonitor")
    relabel = monitor["spec"]["endpoints"][0]["relabelings"]
    assert {"action": "labeldrop", "regex": "service"} in relabel
    # The Service cannot be called triton_slo, so the job is set back to what the rules select.
    assert {"action": "replace", "targetLabel": "job", "replacement": "triton_slo"} in relabel
    assert {"action": "replace", "targetLabel": "cluster", "replacement": "eu-1"} in relabel
    assert monitor["metadata"]["name"] == "triton-slo"


def test_passthrough_stays_on_when_the_rules_read_triton_through_the_exporter() -> None:
    shared = {"job": "triton-slo"}
    exporter = k8s.exporters([spec(triton=shared, exporter=shared)])[0]
    # The triton job then names the exporter itself, so Triton's address must be given.
    with pytest.raises(UserError, match="reads triton series through the exporter.* --triton-url"):
        k8s.exporter_args(exporter, k8s.Settings())
    args = k8s.exporter_args(exporter, k8s.Settings(triton_url="http://triton.inference.svc:8000"))
    assert "--no-passthrough" not in args
    exporter = k8s.exporters([spec()])[0]
    assert "--no-passthrough" in k8s.exporter_args(exporter, k8s.Settings())


def test_one_url_cannot_serve_two_exporters(out: Path) -> None:
    specs = [spec("a"), spec("b", triton={"job": "triton-b"}, exporter={"job": "exporter-b"})]
    objects, _ = generated(out, specs=specs)
    assert sorted(o["metadata"]["name"] for o in by_kind(objects, "Deployment")) == ["exporter-b", "triton-slo"]
    with pytest.raises(UserError, match="name 2 exporters"):
        kube_generate(specs, out, KubeOptions(triton_url="http://triton:8000"))


def test_user_labels_do_not_replace_the_labels_selectors_use(out: Path) -> None:
    options = KubeOptions(object_labels=(("app.kubernetes.io/name", "mine"), ("grafana_dashboard", "0")))
    objects, _ = generated(out, options)
    (service,) = by_kind(objects, "Service")
    (monitor,) = by_kind(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert by_kind(objects, "ConfigMap")[0]["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_exporter_urls_need_a_job_or_a_flag() -> None:
    exporter = k8s.exporters([spec(triton={"cluster": "eu"})])[0]
    with pytest.raises(UserError, match="triton selector .* names no job.* --triton-url"):
        k8s.exporter_args(exporter, k8s.Settings())
    args = k8s.exporter_args(exporter, k8s.Settings(triton_url="http://triton.inference.svc:8000"))
    assert args[1:3] == ["--triton", "http://triton.inference.svc:8000"]
    no_dcgm = k8s.exporters([spec(dcgm={})])[0]
    assert "--dcgm" not in k8s.exporter_args(no_dcgm, k8s.Settings())


def test_exporter_without_an_address_is_left_out_with_a_warning(out: Path) -> None:
    """Imported Sloth/OpenSLO specs select no jobs: rules and dashboards still go out, the exporter not."""
    objects, result = generated(out, specs=[spec(triton={}, dcgm={}, exporter={})])
    assert not by_kind(objects, "Deployment") and not by_kind(objects, "ServiceMonitor")
    assert by_kind(objects, "PrometheusRule")
    assert any("names no job" in w and "no Deployment, Service or ServiceMonitor" in w for w in result.warnings)
    objects, result = generated(out, KubeOptions(triton_url="http://triton.inference.svc:8000"),
                                specs=[spec(triton={}, dcgm={}, exporter={})])
    assert len(by_kind(objects, "Deployment")) == 1


def test_services_sharing_an_exporter_must_share_triton() -> None:
    with pytest.raises(UserError, match="share the exporter .* different triton selectors"):
        k8s.exporters([spec("a"), spec("b", triton={"job": "triton-2"})])
    (shared,) = k8s.exporters([spec("a"), spec("b")])
    assert shared.services == ("a", "b")


# --- AlertmanagerConfig ----------------------------------------------------------------------------

_SECRET_FIELDS = {"urlSecret": "url_file", "routingKey": "routing_key_file", "serviceKey": "service_key_file",
                  "apiURL": "api_url_file", "authPassword": "auth_password_file", "authSecret": "auth_secret_file"}


def _snake(name: str) -> str:
    """camelCase -> snake_case, with Alertmanager's spelling of URL and TLS (clientURL -> client_url)."""
    name = re.sub(r"(URL|TLS)", lambda m: "_" + m.group(1).lower(), name)
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _matcher_text(m: dict) -> str:
    value = m.get("value", "").replace("\\", "\\\\").replace('"', '\\"')
    return f'{m["name"]}{m.get("matchType", "=")}"{value}"'


def rebuild_alertmanager(spec_: dict, secrets_dir: Path) -> dict:
    """What the operator does with an AlertmanagerConfig, short of namespacing: a plain config, with
    SecretKeySelectors read from files named after their keys (written by the test)."""
    def route(node: dict) -> dict:
        out = {}
        for key, value in node.items():
            if key == "matchers":
                out["matchers"] = [_matcher_text(m) for m in value]
            elif key == "routes":
                out["routes"] = [route(child) for child in value]
            else:
                out[_snake(key)] = value
        return out

    def config(node: dict) -> dict:
        out = {}
        for key, value in node.items():
            if key in _SECRET_FIELDS:
                path = secrets_dir / value["key"]
                path.write_text("secret\n")
                out[_SECRET_FIELDS[key]] = str(path)
            elif key in ("details", "headers"):
                out[key] = {kv["key"]: kv["value"] for kv in value}
            elif key == "pagerDutyLinkConfigs":
                out["links"] = [{"href": link["href"], "text": link["alt"]} for link in value]
            elif key == "pagerDutyImageConfigs":
                out["images"] = value
            else:
                out[_snake(key)] = value
        return out

    rebuilt: dict = {"route": route(spec_["route"]), "receivers": []}
    for receiver in spec_["receivers"]:
        out = {"name": receiver["name"]}
        for key, configs in receiver.items():
            if key != "name":
                out[_snake(key)] = [config(c) for c in configs]
        rebuilt["receivers"].append(out)
    if spec_.get("inhibitRules"):
        rebuilt["inhibit_rules"] = [
            {"source_matchers": [_matcher_text(m) for m in r["sourceMatch"]],
             "target_matchers": [_matcher_text(m) for m in r["targetMatch"]], "equal": r["equal"]}
            for r in spec_["inhibitRules"]]
    if spec_.get("muteTimeIntervals"):
        def interval(ti: dict) -> dict:
            out = {_snake(k): v for k, v in ti.items() if k not in ("times", "daysOfMonth")}
            if "times" in ti:
                out["times"] = [{"start_time": t["startTime"], "end_time": t["endTime"]} for t in ti["times"]]
            if "daysOfMonth" in ti:
                out["days_of_month"] = [f"{d['start']}:{d['end']}" for d in ti["daysOfMonth"]]
            return out
        rebuilt["time_intervals"] = [{"name": m["name"], "time_intervals": [interval(t) for t in m["timeIntervals"]]}
                                     for m in spec_["muteTimeIntervals"]]
    return rebuilt


def _amtool_receiver(config_file: Path, labels: list[str]) -> str:
    done = subprocess.run([AMTOOL, "config", "routes", "test", f"--config.file={config_file}", *labels],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip()


def test_alertmanager_config_round_trips_through_amtool_and_routes_the_same(out: Path, tmp_path: Path) -> None:
    if AMTOOL is None:
        pytest.skip("amtool is not installed")
    objects, result = generated(out)
    (amc,) = by_kind(objects, "AlertmanagerConfig")
    # camelCase on the object side
    assert amc["spec"]["route"]["groupBy"] == ["alertname", "service", "slo", "model", "version"]
    assert amc["spec"]["route"]["routes"][0]["matchers"] == [{"name": "severity", "matchType": "=",
                                                              "value": "critical"}]
    pager = amc["spec"]["receivers"][0]["pagerdutyConfigs"][0]
    assert pager["routingKey"] == {"name": k8s.SECRET_NAME, "key": "pagerduty-routing-key"}
    assert pager["details"] == [{"key": "runbook", "value": "{{ .CommonAnnotations.runbook_url }}"}]
    # Only `global.resolve_timeout` could not be carried, and that is said.
    assert result.warnings == [w for w in result.warnings if "global.resolve_timeout" in w]
    assert len(result.warnings) == 1
    # The Secret the objects need, built from the very files alertmanager.yaml names.
    assert any("kubectl create secret generic triton-slo-alertmanager -n monitoring "
               "--from-file=pagerduty-routing-key=/etc/alertmanager/secrets/pagerduty-routing-key "
               "--from-file=slack-webhook-url=/etc/alertmanager/secrets/slack-webhook-url" in n
               for n in result.notes)

    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    rebuilt = rebuild_alertmanager(amc["spec"], secrets_dir)
    rebuilt_file = tmp_path / "rebuilt.yaml"
    rebuilt_file.write_text(yaml.safe_dump(rebuilt, sort_keys=False))
    check = subprocess.run([AMTOOL, "check-config", str(rebuilt_file)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr

    # Same structure as the original, once file paths map back through the Secret's keys.
    original = yaml.safe_load(ALERTMANAGER)
    assert rebuilt["route"] == original["route"]
    assert rebuilt["inhibit_rules"] == original["inhibit_rules"]
    for interval in original["time_intervals"][0]["time_intervals"]:
        interval.pop("location")  # UTC, the AlertmanagerConfig default
    assert rebuilt["time_intervals"] == original["time_intervals"]
    by_path = {str(secrets_dir / key): path for key, path in
               [(p.split("=", 1)[0], p.split("=", 1)[1]) for n in result.notes
                for p in re.findall(r"--from-file=(\S+)", n)]}
    for receiver in rebuilt["receivers"]:
        for configs in receiver.values():
            for c in configs if isinstance(configs, list) else []:
                for key in [k for k in c if k.endswith("_file")]:
                    c[key] = by_path[c[key]]
    assert rebuilt["receivers"] == original["receivers"]

    # And it routes like the original.
    original_file = tmp_path / "original.yaml"
    original_file.write_text(ALERTMANAGER)
    for labels in (["severity=critical", "service=resnet-classifier"], ["severity=warning", "model=resnet_deep"],
                   ["alertname=Watchdog"], ["severity=info"]):
        assert _amtool_receiver(rebuilt_file, labels) == _amtool_receiver(original_file, labels), labels


@pytest.mark.timeout(60)
def test_real_alertmanager_loads_the_rebuilt_config(out: Path, tmp_path: Path, alertmanager_factory: Any) -> None:
    from harness.stack.alertmanager import ALERTMANAGER_BINARIES

    if not any(shutil.which(b) for b in ALERTMANAGER_BINARIES):
        pytest.skip("no Alertmanager binary installed")
    objects, _ = generated(out)
    (amc,) = by_kind(objects, "AlertmanagerConfig")
    rebuilt = rebuild_alertmanager(amc["spec"], tmp_path)
    am = alertmanager_factory(yaml.safe_dump(rebuilt, sort_keys=False))
    status = requests.get(f"{am.url}/api/v2/status", timeout=10).json()
    loaded = yaml.safe_load(status["config"]["original"])
    assert [r["name"] for r in loaded["receivers"]] == ["ml-oncall-pager", "ml-platform-tickets", "demo-webhook"]
    assert loaded["time_intervals"][0]["name"] == "weekly-retraining"


def test_inline_secrets_and_unconvertible_fields_are_reported_not_copied(out: Path) -> None:
    am = yaml.safe_load(ALERTMANAGER)
    am["receivers"][0]["pagerduty_configs"][0] = {"routing_key": "SUPERSECRETVALUE123"}
    am["receivers"][2]["webhook_configs"][0]["http_config"] = {"bearer_token": "x"}
    am["templates"] = ["/etc/alertmanager/*.tmpl"]
    am["time_intervals"][0]["time_intervals"][0]["location"] = "Europe/Berlin"
    (out / "alertmanager.yaml").write_text(yaml.safe_dump(am))
    objects, result = generated(out)
    for path in (out / "kubernetes").glob("*.yaml"):
        assert "SUPERSECRETVALUE123" not in path.read_text()
    (amc,) = by_kind(objects, "AlertmanagerConfig")
    assert schema_errors(amc) == []
    key = amc["spec"]["receivers"][0]["pagerdutyConfigs"][0]["routingKey"]["key"]
    text = "\n".join(result.warnings)
    assert "routing_key: an inline secret is not copied" in text and key in text
    assert "webhook_configs[0].http_config" in text
    assert ": templates:" in text
    assert "location 'Europe/Berlin'" in text and "read as UTC" in text
    assert any(f"--from-literal={key}=..." in n for n in result.notes)


def test_global_defaults_reach_the_receivers() -> None:
    config = {
        "global": {"slack_api_url_file": "/s/slack", "smtp_from": "am@example.com", "smtp_smarthost": "smtp:587",
                   "smtp_auth_password_file": "/s/smtp"},
        "route": {"receiver": "mail"},
        "receivers": [{"name": "mail", "email_configs": [{"to": "oncall@example.com"}],
                       "slack_configs": [{"channel": "#a"}, {"channel": "#b", "api_url_file": "/s/other"}]}],
    }
    obj, secrets, warnings = k8s.alertmanager_config(config, k8s.Settings())
    assert warnings == []
    receiver = obj["spec"]["receivers"][0]
    assert receiver["emailConfigs"] == [{"from": "am@example.com", "smarthost": "smtp:587",
                                         "authPassword": {"name": k8s.SECRET_NAME, "key": "smtp"},
                                         "to": "oncall@example.com"}]
    assert receiver["slackConfigs"][0]["apiURL"]["key"] == "slack"
    assert receiver["slackConfigs"][1]["apiURL"]["key"] == "other"
    assert secrets.files == {"smtp": "/s/smtp", "slack": "/s/slack", "other": "/s/other"}
    assert schema_errors(obj) == []


def test_secret_keys_of_same_named_files_do_not_collide() -> None:
    config = {"route": {"receiver": "a"}, "receivers": [
        {"name": "a", "slack_configs": [{"api_url_file": "/x/url", "channel": "#a"}]},
        {"name": "b", "slack_configs": [{"api_url_file": "/y/url", "channel": "#b"}]},
        {"name": "c", "slack_configs": [{"api_url_file": "/x/url", "channel": "#c"}]}]}
    obj, secrets, _ = k8s.alertmanager_config(config, k8s.Settings())
    keys = [r["slackConfigs"][0]["apiURL"]["key"] for r in obj["spec"]["receivers"]]
    assert keys == ["url", "url-2", "url"]
    assert secrets.files == {"url": "/x/url", "url-2": "/y/url"}


@pytest.mark.parametrize(("text", "expected"), [
    ('severity="critical"', {"name": "severity", "matchType": "=", "value": "critical"}),
    ("severity = critical", {"name": "severity", "matchType": "=", "value": "critical"}),
    ('model=~"resnet_.*"', {"name": "model", "matchType": "=~", "value": "resnet_.*"}),
    ('slo!="latency"', {"name": "slo", "matchType": "!=", "value": "latency"}),
    ('alertname!~"Watch.*"', {"name": "alertname", "matchType": "!~", "value": "Watch.*"}),
    (r'summary="say \"hi\""', {"name": "summary", "matchType": "=", "value": 'say "hi"'}),
    ('team=""', {"name": "team", "matchType": "=", "value": ""}),
])
def test_matchers_parse(text: str, expected: dict) -> None:
    assert k8s.parse_matcher(text, "route") == expected


@pytest.mark.parametrize("text", ["severity", '="x"', 'a="unterminated'])
def test_bad_matchers_are_one_line_errors(text: str) -> None:
    with pytest.raises(UserError, match="route"):
        k8s.parse_matcher(text, "route")


def test_legacy_match_and_days_of_month_convert() -> None:
    config = {"route": {"receiver": "a", "routes": [{"receiver": "a", "match": {"severity": "critical"},
                                                     "match_re": {"model": "resnet_.*"}}]},
              "receivers": [{"name": "a"}],
              "inhibit_rules": [{"source_match": {"severity": "critical"}, "target_match_re": {"severity": "warn.*"},
                                 "equal": ["service"]}],
              "mute_time_intervals": [{"name": "month-end", "time_intervals": [
                  {"days_of_month": ["-3:-1", "15"], "months": ["january:march"], "years": ["2030"]}]}]}
    obj, _, warnings = k8s.alertmanager_config(config, k8s.Settings())
    assert warnings == []
    assert schema_errors(obj) == []
    assert obj["spec"]["route"]["routes"][0]["matchers"] == [
        {"name": "severity", "matchType": "=", "value": "critical"},
        {"name": "model", "matchType": "=~", "value": "resnet_.*"}]
    assert obj["spec"]["inhibitRules"][0]["targetMatch"] == [{"name": "severity", "matchType": "=~",
                                                               "value": "warn.*"}]
    assert obj["spec"]["muteTimeIntervals"][0]["timeIntervals"][0]["daysOfMonth"] == [
        {"start": -3, "end": -1}, {"start": 15, "end": 15}]


def test_not_an_alertmanager_config_is_a_one_line_error() -> None:
    with pytest.raises(UserError, match="alertmanager.yaml: not an Alertmanager configuration"):
        k8s.alertmanager_config({"receivers": []}, k8s.Settings())


# --- target, settings, reruns ----------------------------------------------------------------------


def test_plain_target_writes_no_kubernetes_objects(out: Path) -> None:
    run_generate([spec()], out, Options(target="files"))
    assert not (out / "kubernetes").exists()


def test_namespace_labels_and_image_come_from_the_options(out: Path) -> None:
    options = KubeOptions(namespace="inference", exporter_image="registry.example.com/triton-slo:1.2.3",
                          object_labels=(("release", "kube-prometheus-stack"),))
    objects, result = generated(out, options)
    for obj in objects:
        assert obj["metadata"]["namespace"] == "inference"
        assert obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert schema_errors(obj) == []
    container = by_kind(objects, "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/triton-slo:1.2.3"
    alert = by_kind(objects, "PrometheusRule")[0]["spec"]["groups"][0]["rules"][0]
    assert alert["labels"]["namespace"] == "inference"
    assert any("namespace inference" in n for n in result.notes)


@pytest.mark.parametrize(("options", "message"), [
    (KubeOptions(namespace="Inference_NS"), "--namespace 'Inference_NS'"),
    (KubeOptions(object_labels=(("release", "kube prometheus"),)), "not a Kubernetes label value"),
    (KubeOptions(object_labels=(("-release", "x"),)), "not a Kubernetes label key"),
])
def test_bad_settings_are_one_line_errors(out: Path, options: KubeOptions, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        kube_generate([spec()], out, options)


def test_rerun_removes_objects_that_no_longer_exist_and_keeps_foreign_files(out: Path) -> None:
    generated(out)
    foreign = out / "kubernetes" / "my-own-patch.yaml"
    foreign.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: mine}\n")
    (out / "dashboards" / "resnet-classifier-oncall.json").unlink()
    (out / "alertmanager.yaml").unlink()
    objects, result = generated(out)
    names = {p.name for p in (out / "kubernetes").glob("*.yaml")}
    assert "configmap-dashboard-resnet-classifier-oncall.yaml" not in names
    assert "alertmanagerconfig-triton-slo.yaml" not in names
    assert foreign.exists()
    assert any("no AlertmanagerConfig written" in w for w in result.warnings)


# --- the real generate command ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`triton-slo generate examples/*.yaml -o OUT --target kubernetes` with every generator there is."""
    out = tmp_path_factory.mktemp("real") / "out"
    examples = sorted(str(p) for p in (REPO / "examples").glob("*.yaml"))
    done = subprocess.run([sys.executable, "-m", "triton_slo", "generate", *examples, "-o", str(out),
                           "--target", "kubernetes", "--format", "json"],
                          capture_output=True, text=True, timeout=240, cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def real_objects(out: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((out / "kubernetes").glob("*.yaml"))]


@pytest.mark.timeout(300)
def test_generated_examples_validate_and_their_rules_pass_promtool(real_out: Path, tmp_path: Path) -> None:
    objects = real_objects(real_out)
    kinds = {o["kind"] for o in objects}
    assert {"PrometheusRule", "ServiceMonitor", "ConfigMap", "Deployment", "Service"} <= kinds
    assert ("AlertmanagerConfig" in kinds) == (real_out / "alertmanager.yaml").exists()
    for obj in objects:
        assert schema_errors(obj) == [], (obj["kind"], obj["metadata"]["name"])
    assert len(by_kind(objects, "PrometheusRule")) == len(list((real_out / "rules").glob("*.yaml")))
    assert len(by_kind(objects, "ConfigMap")) == len(list((real_out / "dashboards").glob("*.json")))
    if PROMTOOL is None:
        pytest.skip("promtool is not installed")
    for obj in by_kind(objects, "PrometheusRule"):
        extracted = tmp_path / f"{obj['metadata']['name']}.yaml"
        extracted.write_text(yaml.safe_dump({"groups": obj["spec"]["groups"]}, sort_keys=False))
        check = subprocess.run([PROMTOOL, "check", "rules", str(extracted)], capture_output=True, text=True,
                               timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.timeout(300)
def test_generated_alertmanager_config_rebuilds_and_routes_like_the_generated_file(real_out: Path,
                                                                                   tmp_path: Path) -> None:
    source = real_out / "alertmanager.yaml"
    if not source.exists():
        pytest.skip("the alerts generator wrote no alertmanager.yaml")
    if AMTOOL is None:
        pytest.skip("amtool is not installed")
    (amc,) = by_kind(real_objects(real_out), "AlertmanagerConfig")
    rebuilt_file = tmp_path / "rebuilt.yaml"
    rebuilt = rebuild_alertmanager(amc["spec"], tmp_path)
    rebuilt_file.write_text(yaml.safe_dump(rebuilt, sort_keys=False))
    check = subprocess.run([AMTOOL, "check-config", str(rebuilt_file)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    original = yaml.safe_load(source.read_text())
    assert rebuilt["route"] == original["route"]
    assert rebuilt.get("inhibit_rules") == original.get("inhibit_rules")
    # The original names secret files that do not exist here; route it with those swapped for ours.
    routable = copy.deepcopy(original)
    routable["receivers"] = rebuilt["receivers"]
    routable_file = tmp_path / "original.yaml"
    routable_file.write_text(yaml.safe_dump(routable, sort_keys=False))
    services = sorted({r["metadata"]["labels"].get("triton-slo/service", "") for r in
                       by_kind(real_objects(real_out), "PrometheusRule")} - {""}) or ["resnet-classifier"]
    for service in services:
        for labels in ([f"service={service}", "severity=critical", "alertname=TritonSloServerDown"],
                       [f"service={service}", "severity=warning", "alertname=TritonSloGpuThrottling"],
                       ["service=someone-else", "severity=critical"]):
            assert _amtool_receiver(rebuilt_file, labels) == _amtool_receiver(routable_file, labels), labels


@pytest.mark.timeout(120)
def test_cli_registers_the_kubernetes_generator(tmp_path: Path) -> None:
    """Plain `triton-slo generate ... --target kubernetes`: the objects appear without any patching."""
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "triton_slo", "generate",
                           str(REPO / "examples" / "resnet-classifier.yaml"),
                           "-o", str(out), "--target", "kubernetes"], capture_output=True, text=True, timeout=110,
                          cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert list((out / "kubernetes").glob("prometheusrule-*.yaml"))
