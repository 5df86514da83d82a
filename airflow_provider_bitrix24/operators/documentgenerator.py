"""Document generator operators (documentgenerator.*)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bitrix24.catalogue.params import find
from airflow_provider_bitrix24.client.errors import Bitrix24NotFound
from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class DocumentGeneratorDownloadDocumentOperator(Bitrix24ActionOperator):
    """Write a generated document to ``output_path``: read the document record, then stream its
    DOCX link (``format="docx"``, default) or PDF link (``format="pdf"``; exists only once the
    portal has converted it). Returns ``{"path", "size", "id", "format"}``."""

    action_id = "document_generator_download_document"
    LINKS = {"docx": "downloadUrlMachine", "pdf": "pdfUrlMachine"}

    def run(self, hook: Any, params: dict) -> Any:
        params = dict(params)
        fmt = str(params.pop(find(params, "format") or "format", None) or "docx").lower()
        reply = hook.call(self.method(), params)
        document = reply.get("document", reply) if isinstance(reply, dict) else {}
        url = document.get(self.LINKS[fmt])
        if not url:
            raise Bitrix24NotFound(
                "NO_FILE", f"document {document.get('id')} has no {fmt} file yet", self.method()
            )
        return {**self.download(hook, url), "id": document.get("id"), "format": fmt}


class DocumentGeneratorGenerateDocumentOperator(Bitrix24ActionOperator):
    action_id = "document_generator_generate_document"  # noqa: E701


class DocumentGeneratorGetDocumentOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_document"  # noqa: E701


class DocumentGeneratorGetDocumentsOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_documents"  # noqa: E701


class DocumentGeneratorUpdateDocumentOperator(Bitrix24ActionOperator):
    action_id = "document_generator_update_document"  # noqa: E701


class DocumentGeneratorDeleteDocumentOperator(Bitrix24ActionOperator):
    action_id = "document_generator_delete_document"  # noqa: E701


class DocumentGeneratorGetTemplateOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_template"  # noqa: E701


class DocumentGeneratorGetTemplatesOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_templates"  # noqa: E701


class DocumentGeneratorCreateTemplateOperator(Bitrix24ActionOperator):
    action_id = "document_generator_create_template"  # noqa: E701


class DocumentGeneratorUpdateTemplateOperator(Bitrix24ActionOperator):
    action_id = "document_generator_update_template"  # noqa: E701


class DocumentGeneratorDeleteTemplateOperator(Bitrix24ActionOperator):
    action_id = "document_generator_delete_template"  # noqa: E701


class DocumentGeneratorGetTemplateFieldsOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_template_fields"  # noqa: E701


class DocumentGeneratorGetProvidersOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_providers"  # noqa: E701


class DocumentGeneratorGetProviderOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_provider"  # noqa: E701


class DocumentGeneratorGetRegionsOperator(Bitrix24ActionOperator):
    action_id = "document_generator_get_regions"  # noqa: E701
