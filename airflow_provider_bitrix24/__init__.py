"""Apache Airflow provider for Bitrix24."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("airflow-provider-bitrix24")  # written once, in pyproject.toml
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
