"""Loads DAG files with Airflow's own DagBag and prints what the tests assert on, as JSON.

Runs in the Airflow venv (`.venv-airflow`, built by .ci/run: apache-airflow 3.x and the
cncf-kubernetes provider), never in the main one: `python airflow_dagbag.py DAG_FOLDER OUT.json` (a file: Airflow logs to stdout).
For each task it builds the pod the operator would create (`build_pod_request_obj(dry_run=True)`,
no cluster needed) and reports the Job-level arguments of a KubernetesJobOperator.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import airflow
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient


def main(folder: str, target: str) -> None:
    bag = DagBag(dag_folder=folder)
    api = ApiClient()
    out = {
        "airflow": airflow.__version__,
        "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
        "dags": {},
    }
    for dag_id, dag in sorted(bag.dags.items()):
        timetable = dag.timetable
        tasks = {}
        for task in dag.tasks:
            pod = task.build_pod_request_obj(dry_run=True)
            tasks[task.task_id] = {
                "operator": type(task).__name__,
                "module": type(task).__module__,
                "upstream": sorted(task.upstream_task_ids),
                "downstream": sorted(task.downstream_task_ids),
                "retries": task.retries,
                "retry_delay_s": task.retry_delay.total_seconds(),
                "owner": task.owner,
                "namespace": task.namespace,
                "base_container_name": task.base_container_name,
                "backoff_limit": getattr(task, "backoff_limit", None),
                "completions": getattr(task, "completions", None),
                "parallelism": getattr(task, "parallelism", None),
                "completion_mode": getattr(task, "completion_mode", None),
                "active_deadline_seconds": task.active_deadline_seconds,
                "wait_until_job_complete": getattr(task, "wait_until_job_complete", None),
                "pod": api.sanitize_for_serialization(pod),
            }
        out["dags"][dag_id] = {
            "fileloc": os.path.basename(dag.fileloc),
            "timetable": type(timetable).__name__,
            "schedule": getattr(timetable, "expression", None),
            "timezone": str(getattr(timetable, "timezone", "")),
            "catchup": dag.catchup,
            "max_active_runs": dag.max_active_runs,
            "tags": sorted(dag.tags),
            "start_date": dag.start_date.isoformat() if dag.start_date else None,
            "tasks": tasks,
        }
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(out, fh, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
