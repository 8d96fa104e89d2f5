"""The lock file format (mlflow/lockfile.py): KServe URIs, text, validation, staleness.

Pure tests; the lock against a real tracking server is in tests/test_lock.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import example
from maestro.frontend.loader import loads
from maestro.frontend.pydantic_errors import validate_model
from maestro.mlflow.lockfile import (
    HEADER,
    LockFile,
    dumps,
    kserve_readable,
    kserve_uri,
    lock_problems,
    mismatches,
    stale_diagnostics,
    wanted,
)

RUN = "0123456789abcdef0123456789abcdef"
ENVS = ["dev", "staging", "prod"]


@pytest.mark.parametrize(
    ("mlflow", "destination", "expected"),
    [
        ("s3://mlflow/1/abc/artifacts/model", None, "s3://mlflow/1/abc/artifacts/model"),
        ("gs://bucket/models/m-1/artifacts", None, "gs://bucket/models/m-1/artifacts"),
        ("hdfs://nn:8020/mlflow/1/r/artifacts/model", None, "hdfs://nn:8020/mlflow/1/r/artifacts/model"),
        # MLflow's Azure URIs -> the blob endpoint KServe reads
        (
            "wasbs://models@acct.blob.core.windows.net/1/r/artifacts/model",
            None,
            "https://acct.blob.core.windows.net/models/1/r/artifacts/model",
        ),
        (
            "abfss://lake@acct.dfs.core.windows.net/mlflow/1/r/artifacts",
            None,
            "https://acct.blob.core.windows.net/lake/mlflow/1/r/artifacts",
        ),
        # proxied artifacts: the server's --artifacts-destination, from config
        (
            "mlflow-artifacts:/1/r/artifacts/model",
            "s3://mlflow-prod/proxied",
            "s3://mlflow-prod/proxied/1/r/artifacts/model",
        ),
        (
            "mlflow-artifacts:/1/r/artifacts/model",
            "s3://mlflow-prod/proxied/",
            "s3://mlflow-prod/proxied/1/r/artifacts/model",
        ),
        ("mlflow-artifacts://mlflow:5000/1/r/artifacts", "gs://b/p", "gs://b/p/1/r/artifacts"),
        (
            "mlflow-artifacts:/1/r/artifacts",
            "wasbs://c@acct.blob.core.windows.net/root",
            "https://acct.blob.core.windows.net/c/root/1/r/artifacts",
        ),
    ],
)
def test_kserve_uri_translates_what_kserve_can_read(mlflow: str, destination: str | None, expected: str) -> None:
    uri, why = kserve_uri(mlflow, destination)
    assert (uri, why) == (expected, "")
    assert kserve_readable(uri)


@pytest.mark.parametrize(
    ("mlflow", "reason"),
    [
        ("mlflow-artifacts:/1/r/artifacts/model", "endpoints.mlflow_artifacts"),
        ("/var/mlflow/artifacts/1/r/artifacts/model", "file system"),
        ("file:///var/mlflow/1/r/artifacts/model", "file system"),
        ("dbfs:/databricks/mlflow/1/r", "no reader for dbfs"),
        ("runs:/0123/model", "no reader for runs"),
        ("models:/fraud@champion", "no reader for models"),
        ("http://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/r", "no reader for http"),
        ("oci://bucket@namespace/mlflow/1", "Oracle"),
    ],
)
def test_kserve_uri_refuses_what_kserve_cannot_read(mlflow: str, reason: str) -> None:
    uri, why = kserve_uri(mlflow)
    assert uri is None
    assert reason in why


def lock_text(**env: Any) -> str:
    entry = {
        "registeredModel": "fraud-detector",
        "serve": {
            "alias": "champion",
            "version": 14,
            "runId": RUN,
            "source": "s3://m/1/r/artifacts/model",
            "metrics": {"val_auc": 0.944},
        },
    }
    entry.update(env)
    lock = LockFile.model_validate(
        {
            "apiVersion": "maestro.ml/v1alpha1",
            "kind": "ModelLock",
            "model": "fraud-detector",
            "environments": {"prod": entry},
        }
    )
    return dumps(lock)


def parse(text: str) -> tuple[Any, Any, list[Any]]:
    located, diags = loads(text, "specs/fraud-detector/maestro.lock.yaml")
    assert located is not None, diags
    lock, diags = validate_model(LockFile, located)
    return lock, located, diags


def test_text_is_generated_sorted_and_reads_back() -> None:
    text = lock_text(
        variants={
            "challenger": {
                "alias": "challenger",
                "version": 15,
                "runId": "f" * 32,
                "source": "s3://m/1/s/artifacts/model",
            }
        }
    )
    assert text.startswith(HEADER)
    body = text[len(HEADER) :]
    assert body.splitlines()[:4] == [
        "apiVersion: maestro.ml/v1alpha1",
        "environments:",
        "  prod:",
        "    registeredModel: fraud-detector",
    ]
    assert "promotedFrom" not in body and "null" not in body  # absent fields stay absent
    lock, _, diags = parse(text)
    assert diags == []
    assert dumps(lock) == text


def test_a_run_id_that_looks_like_a_number_stays_a_string() -> None:
    # YAML 1.2 reads 0e123... as a float; the lock is written in the dialect it is read in.
    text = lock_text(serve={"version": 3, "runId": "0e" + "1" * 30, "source": "s3://m/x"})
    assert "runId: '0e1111" in text
    lock, _, diags = parse(text)
    assert diags == [] and lock.environments["prod"].serve.run_id == "0e" + "1" * 30


hex_run = st.text("0123456789abcdef", min_size=32, max_size=32)
pinned = st.fixed_dictionaries(
    {"version": st.integers(1, 10**6), "runId": hex_run, "source": st.sampled_from(["s3://b/1/x", "gs://g/m"])},
    optional={
        "alias": st.sampled_from(["champion", "challenger", "no", "yes", "null"]),
        "metrics": st.dictionaries(
            st.sampled_from(["val_auc", "rmse", "f1"]), st.floats(allow_nan=False, allow_infinity=False, width=64)
        ),
        "promotedFrom": st.sampled_from(["staging", "dev"]),
    },
)
entry = st.fixed_dictionaries(
    {"registeredModel": st.sampled_from(["m", "fraud-detector"]), "serve": pinned},
    optional={"variants": st.dictionaries(st.sampled_from(["a", "b-2"]), pinned)},
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(ENVS), entry))
def test_text_round_trips(environments: dict[str, Any]) -> None:
    lock = LockFile.model_validate(
        {"apiVersion": "maestro.ml/v1alpha1", "kind": "ModelLock", "model": "m", "environments": environments}
    )
    text = dumps(lock)
    again, _, diags = parse(text)
    assert diags == []
    assert again == lock
    assert dumps(again) == text


@pytest.mark.parametrize(
    ("edit", "code", "line", "col"),
    [
        (lambda t: t.replace("version: 14", "version: fourteen"), "M103", 14, 16),
        (lambda t: t.replace("version: 14", "version: 0"), "M104", 14, 16),
        (lambda t: t.replace("    serve:", "    server: x\n    serve:"), "M101", 8, 5),
        (lambda t: t.replace(f"runId: {RUN}", "runId: abc"), "M104", 12, 14),
        (lambda t: t.replace("val_auc: 0.944", "val_auc: high"), "M103", 11, 18),
        (lambda t: t.replace("  prod:", "  production:"), "M811", 6, 3),
        (lambda t: t.replace("s3://m/1/r/artifacts/model", "runs:/abc/model"), "M813", 13, 15),
        (lambda t: t.replace("model: fraud-detector", "model: churn-predictor"), "M810", 16, 8),
        (lambda t: t.replace("kind: ModelLock", "kind: Lock"), "M104", 15, 7),
    ],
)
def test_a_hand_broken_lock_gets_positioned_diagnostics(edit: Any, code: str, line: int, col: int) -> None:
    text = edit(lock_text())
    lock, located, diags = parse(text)
    if lock is not None:
        diags += lock_problems(lock, located, "fraud-detector", ENVS)
    assert [(d.code, d.line, d.col) for d in diags] == [(code, line, col)], (text, diags)
    assert all(d.file == "specs/fraud-detector/maestro.lock.yaml" for d in diags)


def test_the_text_the_positions_refer_to() -> None:
    # The line numbers above are this text's.
    assert lock_text().splitlines()[3:] == [
        "apiVersion: maestro.ml/v1alpha1",
        "environments:",
        "  prod:",
        "    registeredModel: fraud-detector",
        "    serve:",
        "      alias: champion",
        "      metrics:",
        "        val_auc: 0.944",
        f"      runId: {RUN}",
        "      source: s3://m/1/r/artifacts/model",
        "      version: 14",
        "kind: ModelLock",
        "model: fraud-detector",
    ]


def test_a_stale_entry_names_what_changed() -> None:
    spec, _ = example("fraud-detector", "prod")  # serves alias champion, variant challenger -> alias challenger
    want = wanted(spec)
    assert want is not None and want.serve == "champion" and want.variants == (("challenger", "challenger"),)
    lock, located, _ = parse(lock_text())
    entry = lock.environments["prod"]
    assert mismatches(entry, want) == [("/variants", "variant challenger of the spec is not locked")]
    lock, located, _ = parse(lock_text(serve={"version": 7, "runId": RUN, "source": "s3://m/x"}))
    [d] = stale_diagnostics(lock, located, "prod", want, "fraud-detector")[:1]
    assert (d.code, d.line) == ("M812", 8)
    assert "it pins version 7; the spec serves alias champion" in d.message
    assert d.hint == "regenerate it: maestro registry lock --env prod --model fraud-detector"
    assert stale_diagnostics(lock, located, "staging", want, "fraud-detector") == []  # no entry: unlocked
    [d] = stale_diagnostics(lock, located, "prod", None, "fraud-detector")
    assert "does not serve there" in d.message
