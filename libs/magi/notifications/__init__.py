"""Subscriptions and notifications shared by every MAGI API (vnflcm, nslcm; vnfpkgm, nsd, fm later)."""
from magi.notifications.subscriptions import DELIVERED, FAILED, PENDING, SubscriptionKind, SubscriptionManager
from magi.notifications.filters import nslcm_kind, vnflcm_kind

__all__ = ["DELIVERED", "FAILED", "PENDING", "SubscriptionKind", "SubscriptionManager", "nslcm_kind", "vnflcm_kind"]
