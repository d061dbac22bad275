"""Per-key rate limits shared by every Ingress replica: one tiny stateful deployment."""

from deployments.quota.config import QuotaConfig
from deployments.quota.core import Limits, QuotaBook

__all__ = ["Limits", "QuotaBook", "QuotaConfig"]
