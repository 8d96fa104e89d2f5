# Feast feature repository definitions, rendered by maestro from the model's spec.features.
# Edit the spec, not this file: the next render overwrites it.
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, ValueType
from feast import FileSource
from feast.types import Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

entity_0 = Entity(
    name='sku_store.sku_id',
    join_keys=['sku_id'],
    value_type=ValueType.STRING,
    tags={'maestro.ml/model': 'demand-forecaster', 'maestro.ml/team': 'supply-chain'},
)

entity_1 = Entity(
    name='sku_store.store_id',
    join_keys=['store_id'],
    value_type=ValueType.STRING,
    tags={'maestro.ml/model': 'demand-forecaster', 'maestro.ml/team': 'supply-chain'},
)

source_0 = FileSource(
    name='sales_daily',
    path='s3://lake/supply-chain/sales_daily_by_store.parquet',
    timestamp_field='sale_date',
    created_timestamp_column='loaded_at',
    tags={'maestro.ml/model': 'demand-forecaster', 'maestro.ml/team': 'supply-chain'},
)

view_0 = FeatureView(
    name='sales_rolling',
    entities=[entity_0, entity_1],
    source=source_0,
    ttl=timedelta(days=2),
    online=False,
    schema=[
        Field(name='units_7d', dtype=Float64),
        Field(name='units_28d', dtype=Float64),
        Field(name='promo_active', dtype=Bool),
    ],
    tags={'maestro.ml/model': 'demand-forecaster', 'maestro.ml/team': 'supply-chain'},
)

feature_service = FeatureService(
    name='demand_forecaster',
    features=[view_0],
    description='Daily SKU x store demand forecast, 28 days ahead',
    tags={'maestro.ml/model': 'demand-forecaster', 'maestro.ml/team': 'supply-chain'},
)
