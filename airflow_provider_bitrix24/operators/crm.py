"""CRM operators: contacts, deals, leads, companies, quotes (legacy crm.<entity>.* methods), smart invoices (crm.item.*, entityTypeId 31), products and activities."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class CrmContactCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_create"  # noqa: E701


class CrmContactUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_update"  # noqa: E701


class CrmContactGetOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_get"  # noqa: E701


class CrmContactGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_get_all"  # noqa: E701


class CrmContactDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_delete"  # noqa: E701


class CrmContactGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_contact_get_fields"  # noqa: E701


class CrmDealCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_create"  # noqa: E701


class CrmDealUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_update"  # noqa: E701


class CrmDealGetOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_get"  # noqa: E701


class CrmDealGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_get_all"  # noqa: E701


class CrmDealDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_delete"  # noqa: E701


class CrmDealGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_deal_get_fields"  # noqa: E701


class CrmLeadCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_create"  # noqa: E701


class CrmLeadUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_update"  # noqa: E701


class CrmLeadGetOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_get"  # noqa: E701


class CrmLeadGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_get_all"  # noqa: E701


class CrmLeadDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_delete"  # noqa: E701


class CrmLeadGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_lead_get_fields"  # noqa: E701


class CrmCompanyCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_company_create"  # noqa: E701


class CrmCompanyUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_company_update"  # noqa: E701


class CrmCompanyGetOperator(Bitrix24ActionOperator):
    action_id = "crm_company_get"  # noqa: E701


class CrmCompanyGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_company_get_all"  # noqa: E701


class CrmCompanyDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_company_delete"  # noqa: E701


class CrmCompanyGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_company_get_fields"  # noqa: E701


class CrmQuoteCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_create"  # noqa: E701


class CrmQuoteUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_update"  # noqa: E701


class CrmQuoteGetOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_get"  # noqa: E701


class CrmQuoteGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_get_all"  # noqa: E701


class CrmQuoteDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_delete"  # noqa: E701


class CrmQuoteGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_quote_get_fields"  # noqa: E701


class CrmInvoiceCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_create"  # noqa: E701


class CrmInvoiceUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_update"  # noqa: E701


class CrmInvoiceGetOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_get"  # noqa: E701


class CrmInvoiceGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_get_all"  # noqa: E701


class CrmInvoiceDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_delete"  # noqa: E701


class CrmInvoiceGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_invoice_get_fields"  # noqa: E701


class CrmProductCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_product_create"  # noqa: E701


class CrmProductUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_product_update"  # noqa: E701


class CrmProductGetOperator(Bitrix24ActionOperator):
    action_id = "crm_product_get"  # noqa: E701


class CrmProductGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_product_get_all"  # noqa: E701


class CrmProductDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_product_delete"  # noqa: E701


class CrmProductGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_product_get_fields"  # noqa: E701


class CrmActivityCreateOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_create"  # noqa: E701


class CrmActivityUpdateOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_update"  # noqa: E701


class CrmActivityGetOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_get"  # noqa: E701


class CrmActivityGetAllOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_get_all"  # noqa: E701


class CrmActivityDeleteOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_delete"  # noqa: E701


class CrmActivityGetFieldsOperator(Bitrix24ActionOperator):
    action_id = "crm_activity_get_fields"  # noqa: E701
