# Airflow DAG rendered by maestro from 'specs/churn-predictor/maestro.yaml' (spec.pipeline), environment 'prod'.
# Edit the spec, not this file: the next render overwrites it.
from datetime import datetime, timedelta

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.sdk import DAG

with DAG(
    dag_id='churn_predictor',
    description='30-day subscriber churn propensity',
    schedule='0 4 * * 1',
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=['maestro', 'growth', 'prod', 'churn-predictor'],
    default_args={
        "owner": 'growth',
        "retries": 1,
        "retry_delay": timedelta(minutes=10),
    },
) as dag:
    materialize_0 = KubernetesJobOperator(
        task_id='materialize_0',
        name='churn-predictor-mat-usage-30d',
        namespace='growth-prod',
        pod_template_dict={'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'annotations': {'maestro.ml/oncall': 'https://oncall.example.com/ml-platform'}, 'labels': {'app.kubernetes.io/component': 'materialization', 'app.kubernetes.io/name': 'churn-predictor', 'maestro.ml/env': 'prod', 'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth', 'sidecar.istio.io/inject': 'false'}}, 'spec': {'containers': [{'command': ['/bin/sh', '-c', 'exec feast --chdir /work materialize-incremental --views usage_30d "$(date -u +%Y-%m-%dT%H:%M:%S)"'], 'env': [{'name': 'HOME', 'value': '/tmp'}, {'name': 'LOG_FORMAT', 'value': 'json'}, {'name': 'LOG_LEVEL', 'value': 'info'}], 'image': 'registry.example.com/platform/feast:0.67.0', 'name': 'materialize', 'resources': {'limits': {'memory': '512Mi'}, 'requests': {'cpu': '250m', 'memory': '512Mi'}}, 'securityContext': {'allowPrivilegeEscalation': False, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True}, 'volumeMounts': [{'mountPath': '/work', 'name': 'work'}, {'mountPath': '/tmp', 'name': 'tmp'}], 'workingDir': '/work'}], 'initContainers': [{'command': ['cp', '/feast-repo/feature_store.yaml', '/feast-repo/features.py', '/work/'], 'image': 'registry.example.com/platform/feast:0.67.0', 'name': 'copy-repo', 'resources': {'limits': {'memory': '64Mi'}, 'requests': {'cpu': '50m', 'memory': '64Mi'}}, 'securityContext': {'allowPrivilegeEscalation': False, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True}, 'volumeMounts': [{'mountPath': '/feast-repo', 'name': 'repo', 'readOnly': True}, {'mountPath': '/work', 'name': 'work'}]}], 'restartPolicy': 'Never', 'securityContext': {'fsGroup': 10001, 'runAsGroup': 10001, 'runAsNonRoot': True, 'runAsUser': 10001, 'seccompProfile': {'type': 'RuntimeDefault'}}, 'serviceAccountName': 'churn-predictor', 'volumes': [{'configMap': {'name': 'churn-predictor-feast-repo'}, 'name': 'repo'}, {'emptyDir': {}, 'name': 'work'}, {'emptyDir': {}, 'name': 'tmp'}]}},
        base_container_name='materialize',
        backoff_limit=2,
        active_deadline_seconds=64800,
        wait_until_job_complete=True,
        get_logs=True,
    )
    train = KubernetesJobOperator(
        task_id='train',
        name='churn-predictor-train',
        namespace='growth-prod',
        pod_template_dict={'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'annotations': {'maestro.ml/oncall': 'https://oncall.example.com/ml-platform'}, 'labels': {'app.kubernetes.io/component': 'training', 'app.kubernetes.io/name': 'churn-predictor', 'maestro.ml/env': 'prod', 'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth', 'sidecar.istio.io/inject': 'false'}}, 'spec': {'containers': [{'command': ['python', '-m', 'churn.train'], 'env': [{'name': 'MLFLOW_TRACKING_URI', 'value': 'http://mlflow.mlflow.svc:5000'}, {'name': 'MLFLOW_EXPERIMENT_NAME', 'value': 'churn-predictor'}, {'name': 'MAESTRO_MODEL', 'value': 'churn-predictor'}, {'name': 'MAESTRO_ENV', 'value': 'prod'}, {'name': 'OPENLINEAGE__TRANSPORT__TYPE', 'value': 'http'}, {'name': 'OPENLINEAGE__TRANSPORT__URL', 'value': 'http://marquez.lineage.svc:5000'}, {'name': 'OPENLINEAGE__TRANSPORT__ENDPOINT', 'value': 'api/v1/lineage'}, {'name': 'OPENLINEAGE_NAMESPACE', 'value': 'growth-prod'}, {'name': 'OPENLINEAGE_JOB_NAME', 'value': 'churn-predictor.train'}, {'name': 'LOG_FORMAT', 'value': 'json'}, {'name': 'LOG_LEVEL', 'value': 'info'}, {'name': 'MAESTRO_CANDIDATE_ALIAS', 'value': 'candidate'}], 'image': 'registry.example.com/growth/churn-train:0.9.4', 'name': 'train', 'resources': {'limits': {'memory': '8Gi'}, 'requests': {'cpu': '2', 'memory': '8Gi'}}, 'securityContext': {'allowPrivilegeEscalation': False, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True}, 'volumeMounts': [{'mountPath': '/tmp', 'name': 'tmp'}]}], 'restartPolicy': 'Never', 'securityContext': {'fsGroup': 10001, 'runAsGroup': 10001, 'runAsNonRoot': True, 'runAsUser': 10001, 'seccompProfile': {'type': 'RuntimeDefault'}}, 'serviceAccountName': 'churn-predictor', 'volumes': [{'emptyDir': {}, 'name': 'tmp'}]}},
        base_container_name='train',
        backoff_limit=2,
        active_deadline_seconds=43200,
        wait_until_job_complete=True,
        get_logs=True,
    )
    evaluate = KubernetesJobOperator(
        task_id='evaluate',
        name='churn-predictor-evaluate',
        namespace='growth-prod',
        pod_template_dict={'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'annotations': {'maestro.ml/oncall': 'https://oncall.example.com/ml-platform'}, 'labels': {'app.kubernetes.io/component': 'registry', 'app.kubernetes.io/name': 'churn-predictor', 'maestro.ml/env': 'prod', 'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth', 'sidecar.istio.io/inject': 'false'}}, 'spec': {'containers': [{'command': ['maestro', 'registry', 'check', '--state', '/state/registry.json', '--alias', 'candidate'], 'env': [{'name': 'MLFLOW_TRACKING_URI', 'value': 'http://mlflow.mlflow.svc:5000'}, {'name': 'HOME', 'value': '/tmp'}, {'name': 'LOG_FORMAT', 'value': 'json'}, {'name': 'LOG_LEVEL', 'value': 'info'}], 'image': 'registry.example.com/platform/maestro:0.1.0', 'name': 'sync', 'resources': {'limits': {'memory': '512Mi'}, 'requests': {'cpu': '100m', 'memory': '512Mi'}}, 'securityContext': {'allowPrivilegeEscalation': False, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True}, 'volumeMounts': [{'mountPath': '/state', 'name': 'state', 'readOnly': True}, {'mountPath': '/tmp', 'name': 'tmp'}], 'workingDir': '/tmp'}], 'restartPolicy': 'Never', 'securityContext': {'fsGroup': 10001, 'runAsGroup': 10001, 'runAsNonRoot': True, 'runAsUser': 10001, 'seccompProfile': {'type': 'RuntimeDefault'}}, 'serviceAccountName': 'churn-predictor', 'volumes': [{'configMap': {'name': 'churn-predictor-registry'}, 'name': 'state'}, {'emptyDir': {}, 'name': 'tmp'}]}},
        base_container_name='sync',
        backoff_limit=2,
        active_deadline_seconds=600,
        wait_until_job_complete=True,
        get_logs=True,
    )
    promote = KubernetesJobOperator(
        task_id='promote',
        name='churn-predictor-promote',
        namespace='growth-prod',
        pod_template_dict={'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'annotations': {'maestro.ml/oncall': 'https://oncall.example.com/ml-platform'}, 'labels': {'app.kubernetes.io/component': 'registry', 'app.kubernetes.io/name': 'churn-predictor', 'maestro.ml/env': 'prod', 'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth', 'sidecar.istio.io/inject': 'false'}}, 'spec': {'containers': [{'command': ['maestro', 'registry', 'sync', '--state', '/state/registry.json', '--promote', 'candidate'], 'env': [{'name': 'MLFLOW_TRACKING_URI', 'value': 'http://mlflow.mlflow.svc:5000'}, {'name': 'HOME', 'value': '/tmp'}, {'name': 'LOG_FORMAT', 'value': 'json'}, {'name': 'LOG_LEVEL', 'value': 'info'}], 'image': 'registry.example.com/platform/maestro:0.1.0', 'name': 'sync', 'resources': {'limits': {'memory': '512Mi'}, 'requests': {'cpu': '100m', 'memory': '512Mi'}}, 'securityContext': {'allowPrivilegeEscalation': False, 'capabilities': {'drop': ['ALL']}, 'readOnlyRootFilesystem': True, 'runAsNonRoot': True}, 'volumeMounts': [{'mountPath': '/state', 'name': 'state', 'readOnly': True}, {'mountPath': '/tmp', 'name': 'tmp'}], 'workingDir': '/tmp'}], 'restartPolicy': 'Never', 'securityContext': {'fsGroup': 10001, 'runAsGroup': 10001, 'runAsNonRoot': True, 'runAsUser': 10001, 'seccompProfile': {'type': 'RuntimeDefault'}}, 'serviceAccountName': 'churn-predictor', 'volumes': [{'configMap': {'name': 'churn-predictor-registry'}, 'name': 'state'}, {'emptyDir': {}, 'name': 'tmp'}]}},
        base_container_name='sync',
        backoff_limit=2,
        active_deadline_seconds=600,
        wait_until_job_complete=True,
        get_logs=True,
    )
    materialize_0 >> train
    train >> evaluate
    evaluate >> promote
