"""The cluster's controllers, one file each; manager.py runs them."""

from .manager import Controllers, Settings

__all__ = ["Controllers", "Settings"]
