"""Custom field operators for CRM entities and user profiles; ``entity`` picks the family."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class UserFieldGetUserFieldsOperator(Bitrix24ActionOperator):
    action_id = "user_field_get_user_fields"  # noqa: E701


class UserFieldAddUserFieldOperator(Bitrix24ActionOperator):
    action_id = "user_field_add_user_field"  # noqa: E701


class UserFieldUpdateUserFieldOperator(Bitrix24ActionOperator):
    action_id = "user_field_update_user_field"  # noqa: E701


class UserFieldDeleteUserFieldOperator(Bitrix24ActionOperator):
    action_id = "user_field_delete_user_field"  # noqa: E701


class UserFieldGetUserFieldTypesOperator(Bitrix24ActionOperator):
    action_id = "user_field_get_user_field_types"  # noqa: E701


class UserFieldGetUserFieldSettingsOperator(Bitrix24ActionOperator):
    action_id = "user_field_get_user_field_settings"  # noqa: E701


class UserFieldSetUserFieldSettingsOperator(Bitrix24ActionOperator):
    action_id = "user_field_set_user_field_settings"  # noqa: E701
