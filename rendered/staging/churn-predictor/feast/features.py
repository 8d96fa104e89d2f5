# Feast feature repository definitions, rendered by maestro from the model's spec.features.
# Edit the spec, not this file: the next render overwrites it.
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast import FileSource
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

entity_0 = Entity(
    name='subscriber',
    join_keys=['subscriber_id'],
    value_type=ValueType.INT64,
    tags={'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth'},
)

source_0 = FileSource(
    name='usage',
    path='s3://lake/growth/usage_daily.parquet',
    timestamp_field='day',
    tags={'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth'},
)

view_0 = FeatureView(
    name='usage_30d',
    entities=[entity_0],
    source=source_0,
    ttl=timedelta(days=3),
    online=True,
    schema=[
        Field(name='sessions_30d', dtype=Int64),
        Field(name='minutes_30d', dtype=Float32),
        Field(name='plan_tier', dtype=String),
    ],
    tags={'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth'},
)

feature_service = FeatureService(
    name='churn_predictor',
    features=[view_0],
    description='30-day subscriber churn propensity',
    tags={'maestro.ml/model': 'churn-predictor', 'maestro.ml/team': 'growth'},
)
