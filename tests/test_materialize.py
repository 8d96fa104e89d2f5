"""Feature materialization: a CronJob per online view running `feast materialize-incremental`,
its schedule derived from the view's ttl, and the alerts on a failed or stale view.

The consumer tests run what ships: the rendered CronJob's own shell line, with the pod's
paths mapped to a temporary folder, executed by `sh` with the real Feast CLI on a repo
rendered for dev whose file source points at a Parquet file written here; the online store
is then read back through the model's feature service. The alerts run in promtool's unit
tests against synthetic kube-state-metrics series.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from conftest import example, example_workspace, require_tool
from maestro.frontend.semantics import check_features
from maestro.frontend.spec import Materialization, Spec
from maestro.names import fit
from maestro.output.verify import Verifier
from maestro.render import features, monitoring
from maestro.render.features import REPO_DIR, WORK_DIR
from maestro.render.materialize import materialize_name, schedule_from_ttl
from maestro.render.queries import parse_duration
from test_render_features import require_feast, with_features

FEATURE_MODELS = ["churn-predictor", "demand-forecaster", "fraud-detector", "recsys-ranker"]


def cronjobs(spec: Spec, ctx: Any) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["name"]: r for r in features.render(spec, ctx) if r["kind"] == "CronJob"}


def with_view(spec: Spec, **changes: Any) -> Spec:
    assert spec.spec.features is not None
    [view, *rest] = spec.spec.features.views
    return with_features(spec, views=[view.model_copy(update=changes), *rest])


# ------------------------------------------------------------------ objects


@pytest.mark.parametrize("model", FEATURE_MODELS)
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_online_view_has_one_valid_cronjob(model: str, env: str) -> None:
    spec, ctx = example(model, env)
    assert spec.spec.features is not None
    online = [v for v in spec.spec.features.views if v.online]
    jobs = cronjobs(spec, ctx)
    assert sorted(jobs) == sorted(materialize_name(spec, v) for v in online)
    verifier = Verifier(example_workspace().platform.kubernetes_version)
    for job in jobs.values():
        assert verifier.verify(job) == [], job["metadata"]["name"]
        assert len(job["metadata"]["name"]) <= 52
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        assert croniter.is_valid(job["spec"]["schedule"])


def test_cronjob_runs_the_views_materialization_as_the_model() -> None:
    spec, ctx = example("fraud-detector", "prod")
    [job] = cronjobs(spec, ctx).values()
    assert job["metadata"]["name"] == "fraud-detector-mat-card-txn-7d"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    apply_pod = next(r for r in features.render(spec, ctx) if r["kind"] == "Job")["spec"]["template"]["spec"]
    # the same pod as the apply hook (image, account, security, repo copy), another command
    assert pod["serviceAccountName"] == apply_pod["serviceAccountName"] == "fraud-detector"
    assert pod["initContainers"] == apply_pod["initContainers"]
    assert pod["securityContext"] == apply_pod["securityContext"]
    [main] = pod["containers"]
    assert main["command"] == [
        "/bin/sh",
        "-c",
        'exec feast --chdir /work materialize-incremental --views card_txn_7d "$(date -u +%Y-%m-%dT%H:%M:%S)"',
    ]


def test_pod_local_registry_is_applied_before_materializing() -> None:
    spec, ctx = example("fraud-detector", "dev")  # dev: registry data/registry.db in the pod
    [job] = cronjobs(spec, ctx).values()
    script = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert script.startswith("feast --chdir /work apply --no-progress && exec feast --chdir /work materialize-")


def test_spec_schedule_wins_over_the_derived_one() -> None:
    spec, ctx = example("fraud-detector", "prod")
    spec = with_view(spec, materialization=Materialization(schedule="*/10 * * * *"))
    [job] = cronjobs(spec, ctx).values()
    assert job["spec"]["schedule"] == "*/10 * * * *"


def test_offline_views_are_not_materialized() -> None:
    spec, ctx = example("fraud-detector", "prod")
    assert cronjobs(with_view(spec, online=False), ctx) == {}


@pytest.mark.parametrize(
    ("ttl", "period"),
    [("20m", 300), ("1h", 900), ("2h", 1800), ("5h", 3600), ("1d", 6 * 3600), ("2d", 12 * 3600), ("7d", 86400)],
)
def test_schedule_from_ttl(ttl: str, period: int) -> None:
    schedule = schedule_from_ttl(ttl, "m/v")
    base = dt.datetime(2026, 3, 2)
    it = croniter(schedule, base)
    runs = [it.get_next(dt.datetime) for _ in range(30)]
    gaps = {int((b - a).total_seconds()) for a, b in itertools.pairwise(runs)}
    assert gaps == {period}, (schedule, gaps)


@given(
    st.integers(20, 10_000).map(lambda n: f"{n}m") | st.integers(1, 400).map(lambda n: f"{n}h"),
    st.text(min_size=1, max_size=40),
)
def test_derived_schedules_refresh_at_least_four_times_per_ttl(ttl: str, key: str) -> None:
    schedule = schedule_from_ttl(ttl, key)
    assert croniter.is_valid(schedule) and len(schedule.split()) == 5
    assert schedule == schedule_from_ttl(ttl, key)  # stable
    it = croniter(schedule, dt.datetime(2026, 3, 2))
    runs = [it.get_next(dt.datetime) for _ in range(6)]
    longest = max((b - a).total_seconds() for a, b in itertools.pairwise(runs))
    assert longest <= max(parse_duration(ttl) / 4, 300)
    assert longest <= 86400


def test_views_start_at_different_minutes() -> None:
    starts = {schedule_from_ttl("1d", f"model/view-{i}").split()[0] for i in range(20)}
    assert len(starts) > 10


def test_short_ttl_without_schedule_is_refused() -> None:
    spec, _ = example("fraud-detector", "prod")
    findings = list(check_features(with_view(spec, ttl="10m").spec))
    assert [(f.pointer, f.code) for f in findings] == [("/spec/features/views/0/ttl", "M223")]
    scheduled = with_view(spec, ttl="10m", materialization=Materialization(schedule="*/2 * * * *"))
    assert not list(check_features(scheduled.spec))


def test_long_names_are_cut_with_a_stable_distinct_hash() -> None:
    a, b = "m" * 40 + "-mat-" + "v" * 30, "m" * 40 + "-mat-" + "v" * 29 + "w"
    assert len(fit(a, 52)) <= 52 and fit(a, 52) == fit(a, 52) and fit(a, 52) != fit(b, 52)
    assert fit("short", 52) == "short"


# ------------------------------------------------------------------ alerts


def alerts_of(spec: Spec, ctx: Any) -> list[dict[str, Any]]:
    [rule] = [r for r in monitoring.render(spec, ctx) if r["kind"] == "PrometheusRule"]
    return [r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r]


def test_alerts_ship_without_a_monitoring_section() -> None:
    spec, ctx = example("fraud-detector", "prod")
    bare = spec.model_copy(update={"spec": spec.spec.model_copy(update={"monitoring": None})})
    names = [(a["alert"], a["labels"]["view"]) for a in alerts_of(bare, ctx)]
    assert names == [("MaestroMaterializationFailed", "card_txn_7d"), ("MaestroFeaturesStale", "card_txn_7d")]


def test_promtool_fires_on_failed_and_stale_materialization(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    spec, ctx = example("fraud-detector", "prod")
    [rule] = [r for r in monitoring.render(spec, ctx) if r["kind"] == "PrometheusRule"]
    groups = [
        {**g, "rules": [r for r in g["rules"] if r.get("alert", "").startswith(("MaestroMaterial", "MaestroFeatures"))]}
        for g in rule["spec"]["groups"]
    ]
    yaml = YAML()
    with (tmp_path / "rules.yaml").open("w") as fh:
        yaml.dump({"groups": [g for g in groups if g["rules"]]}, fh)
    ns, cronjob = ctx.namespace, "fraud-detector-mat-card-txn-7d"
    labels = {
        "env": "prod",
        "model": "fraud-detector",
        "team": "payments-risk",
        "severity": "ticket",
        "view": "card_txn_7d",
    }
    job = f"{cronjob}-29480000"
    annotations = {
        a["alert"]: {k: v.replace("{{ $labels.job_name }}", job) for k, v in a["annotations"].items()}
        for g in groups
        for a in g["rules"]
    }
    # last success at t=0; the ttl is 7d: fresh at 6d, stale at 8d. The training Job's
    # failure is another alert's.
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1h",
        "tests": [
            {
                "interval": "1h",
                "input_series": [
                    {
                        "series": f'kube_cronjob_status_last_successful_time{{namespace="{ns}",cronjob="{cronjob}"}}',
                        "values": "0x200",
                    },
                    {
                        "series": f'kube_job_failed{{namespace="{ns}",job_name="{cronjob}-29480000",condition="true"}}',
                        "values": "1x200",
                    },
                    {
                        "series": f'kube_job_failed{{namespace="{ns}",job_name="fraud-detector-train",condition="true"}}',
                        "values": "1x200",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "144h", "alertname": "MaestroFeaturesStale", "exp_alerts": []},
                    {
                        "eval_time": "192h",
                        "alertname": "MaestroFeaturesStale",
                        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations["MaestroFeaturesStale"]}],
                    },
                    {
                        "eval_time": "1h",
                        "alertname": "MaestroMaterializationFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {**labels, "job_name": job},
                                "exp_annotations": annotations["MaestroMaterializationFailed"],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    with (tmp_path / "tests.yaml").open("w") as fh:
        yaml.dump(tests, fh)
    res = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stdout + res.stderr


# ------------------------------------------------------------------ real Feast

READ_BACK = r"""
import json, sys
from feast import FeatureStore
store = FeatureStore(repo_path=sys.argv[1])
rows = store.get_online_features(features=store.get_feature_service(sys.argv[2]),
                                 entity_rows=json.loads(sys.argv[3])).to_dict()
print(json.dumps(rows, default=str))
"""


def recent_rows(spec: Spec, path: Path) -> Spec:
    """fraud-detector's source as a local Parquet file with rows of the last hours: the
    CronJob materializes up to the real clock (`date`), from now minus the view's ttl."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    table = pa.table(
        {
            "card_id": pa.array(["c1", "c2", "c1"]),
            "event_ts": pa.array([now - dt.timedelta(hours=h) for h in (3, 2, 1)], pa.timestamp("us", tz="UTC")),
            "txn_count_7d": pa.array([3, 5, 4], pa.int64()),
            "amount_avg_7d": pa.array([10.5, 20.0, 11.25], pa.float32()),
        }
    )
    pq.write_table(table, path)
    assert spec.spec.features is not None
    [source] = spec.spec.features.sources
    return with_features(spec, sources=[source.model_copy(update={"path": str(path)})])


def run_container(command: list[str], work: Path, configmap: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A rendered container's command with the pod's paths mapped to local folders."""
    mapped = [c.replace(REPO_DIR, str(configmap)).replace(WORK_DIR, str(work)) for c in command]
    return subprocess.run(mapped, capture_output=True, text=True, timeout=600, env=env, cwd=work)


def test_rendered_cronjob_materializes_and_serving_reads_the_online_feature(tmp_path: Path) -> None:
    require_feast()
    sh = require_tool("sh")
    spec, ctx = example("fraud-detector", "dev")
    spec = recent_rows(spec, tmp_path / "card_txn.parquet")
    configmap, work = tmp_path / "configmap", tmp_path / "work"
    configmap.mkdir()
    work.mkdir()
    for name, text in features.repo_files(spec, ctx).items():
        (configmap / name).write_text(text, encoding="utf-8")
    [job] = cronjobs(spec, ctx).values()
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),
    }
    [init] = pod["initContainers"]
    copied = run_container(init["command"], work, configmap, env)
    assert copied.returncode == 0, copied.stderr
    [main] = pod["containers"]
    assert main["command"][0] == "/bin/sh"
    done = run_container([sh, *main["command"][1:]], work, configmap, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Materializing" in done.stdout
    rows = subprocess.run(
        [
            sys.executable,
            "-c",
            READ_BACK,
            str(work),
            features.feature_service_name(spec),
            json.dumps([{"card_id": "c1"}, {"card_id": "c2"}, {"card_id": "nobody"}]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=work,
    )
    assert rows.returncode == 0, rows.stderr
    online = json.loads(rows.stdout)
    assert online["card_id"] == ["c1", "c2", "nobody"]
    assert online["txn_count_7d"] == [4, 5, None]  # the latest row per card
    assert online["amount_avg_7d"] == [11.25, 20.0, None]
