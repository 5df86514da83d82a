"""Document generator operators (documentgenerator.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class DocumentGeneratorGenerateDocumentOperator(Bitrix24ActionOperator): action_id = "document_generator_generate_document"  # noqa: E701
class DocumentGeneratorGetDocumentOperator(Bitrix24ActionOperator): action_id = "document_generator_get_document"  # noqa: E701
class DocumentGeneratorGetDocumentsOperator(Bitrix24ActionOperator): action_id = "document_generator_get_documents"  # noqa: E701
class DocumentGeneratorUpdateDocumentOperator(Bitrix24ActionOperator): action_id = "document_generator_update_document"  # noqa: E701
class DocumentGeneratorDeleteDocumentOperator(Bitrix24ActionOperator): action_id = "document_generator_delete_document"  # noqa: E701
class DocumentGeneratorDownloadDocumentOperator(Bitrix24ActionOperator): action_id = "document_generator_download_document"  # noqa: E701
class DocumentGeneratorGetTemplateOperator(Bitrix24ActionOperator): action_id = "document_generator_get_template"  # noqa: E701
class DocumentGeneratorGetTemplatesOperator(Bitrix24ActionOperator): action_id = "document_generator_get_templates"  # noqa: E701
class DocumentGeneratorCreateTemplateOperator(Bitrix24ActionOperator): action_id = "document_generator_create_template"  # noqa: E701
class DocumentGeneratorUpdateTemplateOperator(Bitrix24ActionOperator): action_id = "document_generator_update_template"  # noqa: E701
class DocumentGeneratorDeleteTemplateOperator(Bitrix24ActionOperator): action_id = "document_generator_delete_template"  # noqa: E701
class DocumentGeneratorGetTemplateFieldsOperator(Bitrix24ActionOperator): action_id = "document_generator_get_template_fields"  # noqa: E701
class DocumentGeneratorGetProvidersOperator(Bitrix24ActionOperator): action_id = "document_generator_get_providers"  # noqa: E701
class DocumentGeneratorGetProviderOperator(Bitrix24ActionOperator): action_id = "document_generator_get_provider"  # noqa: E701
class DocumentGeneratorGetRegionsOperator(Bitrix24ActionOperator): action_id = "document_generator_get_regions"  # noqa: E701
