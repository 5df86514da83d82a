"""Universal custom field operators (userfieldconfig.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class UserFieldConfigAddOperator(Bitrix24ActionOperator): action_id = "user_field_config_add"  # noqa: E701
class UserFieldConfigAddMultipleOperator(Bitrix24ActionOperator): action_id = "user_field_config_add_multiple"  # noqa: E701
class UserFieldConfigDeleteOperator(Bitrix24ActionOperator): action_id = "user_field_config_delete"  # noqa: E701
class UserFieldConfigGetOperator(Bitrix24ActionOperator): action_id = "user_field_config_get"  # noqa: E701
class UserFieldConfigGetListOperator(Bitrix24ActionOperator): action_id = "user_field_config_get_list"  # noqa: E701
class UserFieldConfigUpdateOperator(Bitrix24ActionOperator): action_id = "user_field_config_update"  # noqa: E701
