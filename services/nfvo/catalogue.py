"""The NFVO catalogue facade the NS LCM uses: VNF packages (`vnfpkgm`) and NSDs (`nsd`) over one
content store."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from magi.descriptors import SignaturePolicy
from magi.secrets import SecretBox
from magi.store.mongo import ConcurrencyError, MongoStore, NotFound
from nfvo.content import ContentStore
from nfvo.nsd import NsDescriptors
from nfvo.pnfd import PnfDescriptors
from nfvo.vnfpkgm import VnfPackages


class Catalogue:
    def __init__(self, store: MongoStore, base_url: str, max_upload_bytes: int | None = None, *,
                 box: SecretBox | None = None, lease_seconds: float = 30.0, signatures: SignaturePolicy | None = None):
        self.contents = ContentStore(store, max_upload_bytes)
        self.vnf_packages = VnfPackages(store, self.contents, base_url, box=box, lease_seconds=lease_seconds,
                                        signatures=signatures)
        self.pnf_descriptors = PnfDescriptors(store, self.contents, base_url)
        self.descriptors = NsDescriptors(store, self.contents, self.vnf_packages, base_url, self.pnf_descriptors)
        self.pnf_descriptors.users = self.descriptors.pnfd_users  # PNFD usage follows the NSDs referencing it
        self.pkgs, self.nsds = self.vnf_packages.pkgs, self.descriptors.nsds

    async def onboarded_vnfd(self, vnfd_id: str) -> dict[str, Any]:
        return await self.vnf_packages.onboarded_vnfd(vnfd_id)

    async def onboarded_nsd(self, nsd_id: str) -> dict[str, Any]:
        return await self.descriptors.onboarded_nsd(nsd_id)

    async def start(self) -> None:
        """Resume onboardings a crash interrupted, and keep taking over those of dead replicas."""
        await self.vnf_packages.start()

    async def stop(self) -> None:
        await self.vnf_packages.stop()

    def add_routes(self, app: web.Application) -> None:
        self.vnf_packages.add_routes(app)
        self.descriptors.add_routes(app)
        self.pnf_descriptors.add_routes(app)

    async def set_usage(self, used_pkg_ids: set[str], used_nsd_ids: set[str], pkg_ids: list[str], nsd_ids: list[str]) -> None:
        """usageState follows the instances: IN_USE while one uses the package or NSD."""
        for repo, ids, used, field in ((self.pkgs, pkg_ids, used_pkg_ids, "usageState"), (self.nsds, nsd_ids, used_nsd_ids, "nsdUsageState")):
            for rid in ids:
                state = "IN_USE" if rid in used else "NOT_IN_USE"
                for _ in range(5):
                    try:
                        doc = await repo.get(rid)
                        if doc[field] != state:
                            doc[field] = state
                            await repo.replace(doc)
                        break
                    except ConcurrencyError:
                        continue
                    except NotFound:
                        break
