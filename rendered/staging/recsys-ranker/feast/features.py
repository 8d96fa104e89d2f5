# Feast feature repository definitions, rendered by maestro from the model's spec.features.
# Edit the spec, not this file: the next render overwrites it.
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast import FileSource
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

entity_0 = Entity(
    name='user',
    join_keys=['user_id'],
    value_type=ValueType.INT64,
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

entity_1 = Entity(
    name='item',
    join_keys=['item_id'],
    value_type=ValueType.INT64,
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

source_0 = FileSource(
    name='user_activity',
    path='s3://lake/discovery/user_activity.parquet',
    timestamp_field='ts',
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

source_1 = FileSource(
    name='item_stats',
    path='s3://lake/discovery/item_stats.parquet',
    timestamp_field='ts',
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

view_0 = FeatureView(
    name='user_engagement',
    entities=[entity_0],
    source=source_0,
    ttl=timedelta(days=1),
    online=True,
    schema=[
        Field(name='clicks_1d', dtype=Int64),
        Field(name='dwell_avg_1d', dtype=Float32),
    ],
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

view_1 = FeatureView(
    name='item_popularity',
    entities=[entity_1],
    source=source_1,
    ttl=timedelta(hours=12),
    online=True,
    schema=[
        Field(name='views_1h', dtype=Int64),
        Field(name='ctr_24h', dtype=Float32),
    ],
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)

feature_service = FeatureService(
    name='recsys_ranker',
    features=[view_0, view_1],
    description='Home feed candidate ranking',
    tags={'maestro.ml/model': 'recsys-ranker', 'maestro.ml/team': 'discovery'},
)
