# Feast feature repository definitions, rendered by maestro from the model's spec.features.
# Edit the spec, not this file: the next render overwrites it.
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast import FileSource
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

entity_0 = Entity(
    name='card',
    join_keys=['card_id'],
    value_type=ValueType.STRING,
    tags={'maestro.ml/model': 'fraud-detector', 'maestro.ml/team': 'payments-risk'},
)

source_0 = FileSource(
    name='card_txn',
    path='s3://lake/card_txn.parquet',
    timestamp_field='event_ts',
    tags={'maestro.ml/model': 'fraud-detector', 'maestro.ml/team': 'payments-risk'},
)

view_0 = FeatureView(
    name='card_txn_7d',
    entities=[entity_0],
    source=source_0,
    ttl=timedelta(days=7),
    online=True,
    schema=[
        Field(name='txn_count_7d', dtype=Int64),
        Field(name='amount_avg_7d', dtype=Float32),
    ],
    tags={'maestro.ml/model': 'fraud-detector', 'maestro.ml/team': 'payments-risk'},
)

feature_service = FeatureService(
    name='fraud_detector',
    features=[view_0],
    description='Card-not-present fraud scoring',
    tags={'maestro.ml/model': 'fraud-detector', 'maestro.ml/team': 'payments-risk'},
)
