"""Product catalogue operators (crm.product.*)."""

from airflow_provider_bitrix24.operators.base import Bitrix24ActionOperator


class ProductGetProductsOperator(Bitrix24ActionOperator):
    action_id = "product_get_products"  # noqa: E701


class ProductGetProductOperator(Bitrix24ActionOperator):
    action_id = "product_get_product"  # noqa: E701


class ProductAddProductOperator(Bitrix24ActionOperator):
    action_id = "product_add_product"  # noqa: E701


class ProductUpdateProductOperator(Bitrix24ActionOperator):
    action_id = "product_update_product"  # noqa: E701


class ProductDeleteProductOperator(Bitrix24ActionOperator):
    action_id = "product_delete_product"  # noqa: E701


class ProductGetProductFieldsOperator(Bitrix24ActionOperator):
    action_id = "product_get_product_fields"  # noqa: E701


class ProductGetProductPropertiesOperator(Bitrix24ActionOperator):
    action_id = "product_get_product_properties"  # noqa: E701


class ProductAddProductPropertyOperator(Bitrix24ActionOperator):
    action_id = "product_add_product_property"  # noqa: E701


class ProductUpdateProductPropertyOperator(Bitrix24ActionOperator):
    action_id = "product_update_product_property"  # noqa: E701


class ProductDeleteProductPropertyOperator(Bitrix24ActionOperator):
    action_id = "product_delete_product_property"  # noqa: E701
