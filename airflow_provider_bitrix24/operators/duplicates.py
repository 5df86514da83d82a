"""CRM duplicate search and merge operators."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class DuplicateFindDuplicatesOperator(Bitrix24ActionOperator): action_id = "duplicate_find_duplicates"  # noqa: E701
class DuplicateFindByCommunicationOperator(Bitrix24ActionOperator): action_id = "duplicate_find_by_communication"  # noqa: E701
class DuplicateGetDuplicateCriteriaOperator(Bitrix24ActionOperator): action_id = "duplicate_get_duplicate_criteria"  # noqa: E701
class DuplicateEnableDuplicateControlOperator(Bitrix24ActionOperator): action_id = "duplicate_enable_duplicate_control"  # noqa: E701
class DuplicateDisableDuplicateControlOperator(Bitrix24ActionOperator): action_id = "duplicate_disable_duplicate_control"  # noqa: E701
class DuplicateMergeDuplicatesOperator(Bitrix24ActionOperator): action_id = "duplicate_merge_duplicates"  # noqa: E701
