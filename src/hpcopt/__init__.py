"""hpcopt: AI for the operation and optimization of parallel and HPC systems."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hpcopt")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
