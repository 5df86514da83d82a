"""Application data storage operators (entity.*); they need an OAuth application."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class DataStorageGetEntityOperator(Bitrix24ActionOperator):
    action_id = "data_storage_get_entity"  # noqa: E701


class DataStorageAddEntityOperator(Bitrix24ActionOperator):
    action_id = "data_storage_add_entity"  # noqa: E701


class DataStorageUpdateEntityOperator(Bitrix24ActionOperator):
    action_id = "data_storage_update_entity"  # noqa: E701


class DataStorageDeleteEntityOperator(Bitrix24ActionOperator):
    action_id = "data_storage_delete_entity"  # noqa: E701


class DataStorageGetEntityRightsOperator(Bitrix24ActionOperator):
    action_id = "data_storage_get_entity_rights"  # noqa: E701


class DataStorageGetEntitySectionsOperator(Bitrix24ActionOperator):
    action_id = "data_storage_get_entity_sections"  # noqa: E701


class DataStorageAddEntitySectionOperator(Bitrix24ActionOperator):
    action_id = "data_storage_add_entity_section"  # noqa: E701


class DataStorageUpdateEntitySectionOperator(Bitrix24ActionOperator):
    action_id = "data_storage_update_entity_section"  # noqa: E701


class DataStorageDeleteEntitySectionOperator(Bitrix24ActionOperator):
    action_id = "data_storage_delete_entity_section"  # noqa: E701


class DataStorageGetEntityItemOperator(Bitrix24ActionOperator):
    action_id = "data_storage_get_entity_item"  # noqa: E701


class DataStorageAddEntityItemOperator(Bitrix24ActionOperator):
    action_id = "data_storage_add_entity_item"  # noqa: E701


class DataStorageUpdateEntityItemOperator(Bitrix24ActionOperator):
    action_id = "data_storage_update_entity_item"  # noqa: E701


class DataStorageDeleteEntityItemOperator(Bitrix24ActionOperator):
    action_id = "data_storage_delete_entity_item"  # noqa: E701


class DataStorageGetEntityItemPropertiesOperator(Bitrix24ActionOperator):
    action_id = "data_storage_get_entity_item_properties"  # noqa: E701


class DataStorageAddEntityItemPropertyOperator(Bitrix24ActionOperator):
    action_id = "data_storage_add_entity_item_property"  # noqa: E701


class DataStorageUpdateEntityItemPropertyOperator(Bitrix24ActionOperator):
    action_id = "data_storage_update_entity_item_property"  # noqa: E701


class DataStorageDeleteEntityItemPropertyOperator(Bitrix24ActionOperator):
    action_id = "data_storage_delete_entity_item_property"  # noqa: E701
