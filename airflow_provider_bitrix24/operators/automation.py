"""Automation rule (robot) operators, bizproc.robot.*; they need an OAuth application."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class AutomationCreateRuleOperator(Bitrix24ActionOperator):
    action_id = "automation_create_rule"  # noqa: E701


class AutomationUpdateRuleOperator(Bitrix24ActionOperator):
    action_id = "automation_update_rule"  # noqa: E701


class AutomationDeleteRuleOperator(Bitrix24ActionOperator):
    action_id = "automation_delete_rule"  # noqa: E701


class AutomationGetRuleOperator(Bitrix24ActionOperator):
    action_id = "automation_get_rule"  # noqa: E701


class AutomationGetAllRulesOperator(Bitrix24ActionOperator):
    action_id = "automation_get_all_rules"  # noqa: E701
