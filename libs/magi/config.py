"""Settings shared by every service; each comes from a MAGI_* environment variable.

docs/configuration.md lists them all; tests/unit/test_docs.py keeps that page in step.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

class MagiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MAGI_", extra="ignore")

    amqp_url: str | None = Field(None, description="RabbitMQ URL; unset = in-process bus (magi up only)")
    mongodb_uri: str | None = Field(None, description="MongoDB URI; unset = embedded nx-27017 under data_dir (magi up only)")
    data_dir: str = Field(".magi", description="where the embedded store keeps its data")
    host: str = Field("0.0.0.0", description="address the HTTP servers bind to")
    public_host: str = Field("127.0.0.1", description="host name used in Location headers and callback URLs between services")
    nfvo_port: int = Field(8081, description="NFVO HTTP port (SOL005, SOL003 grant and vnfpkgm)")
    vnfm_port: int = Field(8080, description="VNFM HTTP port (SOL003 vnflcm)")
    vim_adapter_port: int = Field(8082, description="VIM adapter HTTP port (health, metrics, inventory)")
    monitoring_port: int = Field(8083, description="monitoring HTTP port (health, metrics, inventory)")
    nfvo_public_url: str | None = Field(None, description="NFVO base URL for clients (Location headers, _links, callbacks, artifact URLs given to VIMs), e.g. https://nfvo.lab.example behind an Ingress; unset = http://<public_host>:<nfvo_port>")
    vnfm_public_url: str | None = Field(None, description="VNFM base URL for clients; unset = http://<public_host>:<vnfm_port>")
    vim_adapter_public_url: str | None = Field(None, description="VIM adapter base URL for clients; unset = http://<public_host>:<vim_adapter_port>")
    monitoring_public_url: str | None = Field(None, description="monitoring base URL for clients; unset = http://<public_host>:<monitoring_port>")
    db_prefix: str = Field("magi", description="database name prefix; each service uses <prefix>_<service>")
    auth_tokens: str = Field("", description="comma-separated Bearer tokens accepted by the APIs; empty = auth off")
    strict_version: bool = Field(False, description="answer 400 when a request has no Version header")
    request_timeout: float = Field(30.0, description="seconds a bus request waits for its reply")
    prefetch: int = Field(16, description="messages a service handles at once")
    delivery_limit: int = Field(5, description="deliveries of a failing message before it is dead-lettered")
    external_nfvo_url: str | None = Field(None, description="VNFM only: reach this NFVO over SOL003 HTTP (grants, VNFDs) instead of the bus")
    external_nfvo_token: str | None = Field(None, description="VNFM only: Bearer token presented to the external NFVO")
    lcm_lease_seconds: float = Field(30.0, description="how long an LCM runner's (and a package onboarding's) lease lasts; work whose runner died resumes after it")
    notification_retry_max: int = Field(8, description="delivery attempts of one notification before it is given up")
    notification_backoff: float = Field(1.0, description="first retry delay of a notification, doubled each attempt")
    sim_vcpus: int = Field(512, description="simulated VIM: vCPU capacity")
    sim_memory_mb: int = Field(1024 * 1024, description="simulated VIM: memory capacity in MB")
    sim_storage_gb: int = Field(100_000, description="simulated VIM: block storage capacity in GB")
    sim_latency_ms: float = Field(0.0, description="simulated VIM: latency added to each resource call")
    sim_failure_rate: float = Field(0.0, description="simulated VIM: probability a resource call fails")
    package_max_bytes: int = Field(512 * 1024 * 1024, description="NFVO: largest VNF package, NSD or PNFD upload in bytes (PUT body, multipart part or upload_from_uri fetch); larger ones get 413 or onboarding ERROR")
    package_signature_policy: Literal["verify", "require", "off"] = Field("verify", description="NFVO: SOL004 package signatures at onboarding: verify (a signature present must verify), require (unsigned packages are refused too) or off")
    package_trust_anchors: str | None = Field(None, description="NFVO: PEM bundle of CA certificates a package signer must chain to; unset = no chain check")
    secret_key: str | None = Field(None, description="NFVO: key that encrypts VIM credentials at rest; unset = a key generated once under data_dir")
    drift_interval_seconds: float = Field(300.0, description="VIM adapter: seconds between drift reconciliations of each known VIM; 0 = only on demand")
    openstack_concurrency: int = Field(4, description="VIM adapter: openstacksdk calls in flight per OpenStack VIM")
    openstack_timeout_seconds: float = Field(300.0, description="VIM adapter: how long one OpenStack resource may take to become ACTIVE or be deleted")
    openstack_retries: int = Field(4, description="VIM adapter: retries of an OpenStack call answered 409 or 5xx, with exponential back-off")
    log_level: str = Field("INFO", description="log level")

    def port(self, service: str) -> int:
        return int(getattr(self, f"{service}_port", 0))

    def tokens(self) -> frozenset[str]:
        return frozenset(t.strip() for t in self.auth_tokens.split(",") if t.strip())

    def url(self, service: str) -> str:
        """The base URL clients reach `service` at: its `<service>_public_url`, else built from
        public_host and its port. Every service knows every other one's (one ConfigMap in Helm)."""
        given = getattr(self, f"{service}_public_url", None)
        return given.rstrip("/") if given else f"http://{self.public_host}:{self.port(service)}"
