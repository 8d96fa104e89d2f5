"""Launched runs: render/launch.py builds the launcher, output/embed.py moves the run (after
every check) into the launcher's ConfigMap; the pipeline puts them together."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from conftest import ROOT, example
from maestro.cli import main
from maestro.output.embed import definition, embed, launched_manifest
from maestro.pipeline import stamp
from maestro.render import training, tuning

YAML_SAFE = YAML(typ="safe", pure=True)


def stamped(model: str, env: str = "prod", module: Any = training) -> list[dict[str, Any]]:
    """A renderer's objects with the pipeline's labels and sync waves, as embed gets them."""
    spec, ctx = example(model, env)
    return stamp(module.render(spec, ctx), spec, ctx, module.COMPONENT)


def config_map(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    [cm] = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    return cm


# ------------------------------------------------------------------ definition


def test_definition_is_a_stable_hash_of_kind_and_spec() -> None:
    run = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m-train"}, "spec": {"parallelism": 1}}
    digest = definition(run)
    assert digest == definition(copy.deepcopy(run)) and len(digest) == 12 and int(digest, 16) >= 0
    relabelled = {**run, "metadata": {"name": "m-train", "labels": {"a": "b"}, "annotations": {"cost": "1 USD"}}}
    assert definition(relabelled) == digest  # metadata changes are applied in place, not by a new run
    assert definition({**run, "spec": {"parallelism": 2}}) != digest
    assert definition({**run, "kind": "TrainJob"}) != digest
    # Key order does not matter, and the value is what sha256 gives for canonical JSON.
    assert definition({"spec": {"parallelism": 1}, "kind": "Job", "apiVersion": "batch/v1"}) == digest


# ------------------------------------------------------------------ embed


def test_a_one_shot_run_goes_into_its_config_map_with_its_definition() -> None:
    objects = stamped("image-classifier")
    before = copy.deepcopy(objects)
    out = embed(objects)
    assert objects == before  # pure
    assert [o["kind"] for o in out if o["kind"] == "TrainJob"] == []
    cm = config_map(out, "image-classifier-train-job")
    manifest = YAML_SAFE.load(cm["data"]["job.yaml"])
    [run] = [o for o in objects if o["kind"] == "TrainJob"]
    assert manifest["spec"] == run["spec"]
    assert manifest["metadata"]["name"] == "image-classifier-train"
    labels = manifest["metadata"]["labels"]
    assert labels["maestro.ml/definition"] == cm["data"]["definition"] == definition(manifest)
    assert "app.kubernetes.io/instance" not in labels  # label tracking would prune it
    assert labels["app.kubernetes.io/name"] == "image-classifier"  # the alerts' `model` label
    annotations = manifest["metadata"].get("annotations", {})
    assert not {"maestro.ml/launched-by", "maestro.ml/manifest-in", "argocd.argoproj.io/sync-wave"} & annotations.keys()
    assert annotations["maestro.ml/source"] == "specs/image-classifier/maestro.yaml"
    # The ConfigMap keeps its own provenance and wave; the hook Job is untouched.
    assert cm["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-2"
    assert [o for o in out if o["kind"] == "Job"] == [o for o in objects if o["kind"] == "Job"]


def test_a_scheduled_run_gets_a_generate_name_and_no_definition() -> None:
    out = embed(stamped("fraud-detector"))
    cm = config_map(out, "fraud-detector-train-job")
    manifest = YAML_SAFE.load(cm["data"]["job.yaml"])
    assert manifest["metadata"]["generateName"] == "fraud-detector-train-"
    assert "name" not in manifest["metadata"]
    assert "maestro.ml/definition" not in manifest["metadata"]["labels"]
    assert set(cm["data"]) == {"job.yaml"}


def test_the_tuning_job_is_launched_the_same_way() -> None:
    out = embed(stamped("fraud-detector", module=tuning))
    assert [o["metadata"]["name"] for o in out if o["kind"] == "Job"] == ["fraud-detector-tuning-launcher"]
    manifest = YAML_SAFE.load(config_map(out, "fraud-detector-tuning-job")["data"]["job.yaml"])
    assert manifest["kind"] == "Job" and manifest["metadata"]["name"] == "fraud-detector-tuning"
    assert "ttlSecondsAfterFinished" not in manifest["spec"]
    assert manifest["metadata"]["annotations"]["maestro.ml/estimated-cost"].endswith(" USD")


def test_a_run_whose_config_map_is_missing_is_a_bug() -> None:
    objects = [o for o in stamped("image-classifier") if o["kind"] != "ConfigMap"]
    with pytest.raises(ValueError, match="image-classifier-train-job"):
        embed(objects)


def test_launched_manifest_keeps_other_metadata() -> None:
    run = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "spec": {},
        "metadata": {
            "name": "m-train",
            "labels": {"app.kubernetes.io/instance": "m-prod"},
            "annotations": {
                "maestro.ml/launched-by": "Job/m-train-launcher",
                "maestro.ml/manifest-in": "ConfigMap/m-train-job",
            },
        },
    }
    manifest, digest = launched_manifest(run)
    assert manifest["metadata"] == {"name": "m-train", "labels": {"maestro.ml/definition": digest}}


# ------------------------------------------------------------------ through the pipeline


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for sub in ("config", "specs", "overlays", "schemas", "policies"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    return tmp_path


def embedded(repo: Path, env: str, model: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    cm = YAML_SAFE.load((repo / "rendered" / env / model / f"configmap-{name}.yaml").read_text())
    return cm, YAML_SAFE.load(cm["data"]["job.yaml"])


def test_overlay_transforms_reach_launched_runs(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The overlay's images and patches change the runs the launchers create (they never
    reached a manifest kept in a ConfigMap before), and a changed run is a new definition."""
    assert main(["--root", str(repo), "render", "--env", "prod"]) == 0
    before_cm, _ = embedded(repo, "prod", "fraud-detector", "fraud-detector-tuning-job")
    overlay = repo / "overlays" / "prod" / "overlay.yaml"
    overlay.write_text(
        overlay.read_text().replace(
            "patches:\n",
            (
                "images:\n"
                '  - {name: registry.example.com/payments/fraud-train, newTag: "1.4.3"}\n'
                "patches:\n"
                "  - target: {group: trainer.kubeflow.org, kind: TrainJob}\n"
                "    patch: |-\n"
                "      - op: add\n"
                "        path: /spec/trainer/env/-\n"
                "        value: {name: NCCL_DEBUG, value: WARN}\n"
            ),
            1,
        )
    )
    capsys.readouterr()
    assert main(["--root", str(repo), "render", "--env", "prod"]) == 0, capsys.readouterr().out
    cm, study = embedded(repo, "prod", "fraud-detector", "fraud-detector-tuning-job")
    assert (
        study["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example.com/payments/fraud-train:1.4.3"
    )
    assert cm["data"]["definition"] != before_cm["data"]["definition"]
    assert study["metadata"]["labels"]["maestro.ml/definition"] == cm["data"]["definition"]
    for model in ("fraud-detector", "image-classifier"):
        _, run = embedded(repo, "prod", model, f"{model}-train-job")
        assert run["spec"]["trainer"]["env"][-1] == {"name": "NCCL_DEBUG", "value": "WARN"}
    # As in Kustomize, `images` rewrites containers' images only: a TrainJob's image is
    # `spec.trainer.image`, which no container list holds (training.py says so).
    _, scheduled = embedded(repo, "prod", "fraud-detector", "fraud-detector-train-job")
    assert scheduled["spec"]["trainer"]["image"] == "registry.example.com/payments/fraud-train:1.4.2"


def test_a_launched_run_is_checked_against_its_schema(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    overlay = repo / "overlays" / "prod" / "overlay.yaml"
    overlay.write_text(
        overlay.read_text().replace(
            "patches:\n",
            (
                "patches:\n"
                "  - target: {group: trainer.kubeflow.org, kind: TrainJob}\n"
                "    patch: |-\n"
                "      - op: add\n"
                "        path: /spec/trainer/priorityClassName\n"
                "        value: prod-critical\n"
            ),
            1,
        )
    )
    rc = main(["--root", str(repo), "render", "--env", "prod"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "prod/image-classifier/configmap-image-classifier-train-job.yaml" in out
    assert "TrainJob/image-classifier-train: spec.trainer.priorityClassName: unknown field 'priorityClassName'" in out


# ------------------------------------------------------------------ launched by a pipeline (issue 17)


def test_a_pipeline_launches_a_kubeflow_run(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pipeline model training a TrainJob: the DAG's train task creates the run and waits for
    its `Complete` condition, the run names the DAG as its launcher (no link finding) and
    gets the candidate alias itself; the training CronJob is gone."""
    path = repo / "specs" / "fraud-detector" / "maestro.yaml"
    text = path.read_text().replace('    schedule: "0 3 * * 0"\n', "", 1)
    path.write_text(
        text.replace("  tuning:\n", '  pipeline:\n    schedule: "0 3 * * 0"\n    steps: [train]\n  tuning:\n', 1)
    )
    assert main(["--root", str(repo), "render", "--env", "prod"]) == 0, capsys.readouterr().out
    folder = repo / "rendered" / "prod" / "fraud-detector"
    assert not (folder / "cronjob-fraud-detector-train.yaml").exists()
    dag = (folder / "airflow" / "fraud-detector.py").read_text()
    assert "--for=condition=Complete" in dag and "MAESTRO_CANDIDATE_ALIAS" not in dag
    _, run = embedded(repo, "prod", "fraud-detector", "fraud-detector-train-job")
    assert run["kind"] == "TrainJob"
    assert run["metadata"]["generateName"] == "fraud-detector-train-"  # one run per DAG run
    assert {"name": "MAESTRO_CANDIDATE_ALIAS", "value": "candidate"} in run["spec"]["trainer"]["env"]


def test_a_pipeline_that_tunes_owns_the_study(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With a `tune` step the DAG runs the study; the Sync-hook launcher (and the study's
    manifest ConfigMap) would start it once more on every change, so they are not rendered."""
    path = repo / "specs" / "fraud-detector" / "maestro.yaml"
    text = path.read_text().replace('    schedule: "0 3 * * 0"\n', "", 1)
    pipeline = '  pipeline:\n    schedule: "0 3 * * 0"\n    steps: [tune, train]\n  tuning:\n'
    path.write_text(text.replace("  tuning:\n", pipeline, 1))
    assert main(["--root", str(repo), "render", "--env", "prod"]) == 0, capsys.readouterr().out
    folder = repo / "rendered" / "prod" / "fraud-detector"
    names = {f.name for f in folder.iterdir()}
    assert "job-fraud-detector-tuning-launcher.yaml" not in names
    assert "configmap-fraud-detector-tuning-job.yaml" not in names
    assert "role-fraud-detector-tuning-launcher.yaml" not in names
    assert "configmap-fraud-detector-tuning-study.yaml" in names  # the DAG's tune task reads it
    dag = (folder / "airflow" / "fraud-detector.py").read_text()
    assert "task_id='tune'" in dag and "'app.kubernetes.io/component': 'tuning'" in dag
