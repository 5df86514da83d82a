"""Direct API operators: any method by name, and batch."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class Bitrix24CallOperator(Bitrix24ActionOperator): action_id = "direct_api_call"  # noqa: E701
class Bitrix24BatchOperator(Bitrix24ActionOperator): action_id = "direct_api_batch"  # noqa: E701
