"""User operators (user.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class UserGetCurrentOperator(Bitrix24ActionOperator):
    action_id = "user_get_current"  # noqa: E701


class UserGetOperator(Bitrix24ActionOperator):
    action_id = "user_get"  # noqa: E701


class UserGetAllOperator(Bitrix24ActionOperator):
    action_id = "user_get_all"  # noqa: E701


class UserAddOperator(Bitrix24ActionOperator):
    action_id = "user_add"  # noqa: E701


class UserUpdateOperator(Bitrix24ActionOperator):
    action_id = "user_update"  # noqa: E701


class UserGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "user_get_fields"  # noqa: E701
