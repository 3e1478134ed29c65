"""SOL004 package signatures: option 1 (CMS block ending the manifest) and per-artifact CMS files,
verified by `load_vnf_package(signatures=...)`. Keys and certificates are generated here."""
from __future__ import annotations

import base64
import hashlib
import os

import pytest

from magi.descriptors import Check, PackageError, SignaturePolicy, load_vnf_package

from . import pkgfactory as pf

MF = "magi_vnf.mf"


@pytest.fixture(scope="module")
def ca():
    return pf.make_cert("MAGI Test CA", ca=True)


@pytest.fixture(scope="module")
def signer(ca):
    return pf.make_cert("VNF Vendor Signer", ca)


@pytest.fixture(scope="module")
def other_ca():
    return pf.make_cert("Someone Else CA", ca=True)


def load(files, policy=SignaturePolicy()):
    return load_vnf_package(pf.zip_files(files), signatures=policy)


def refused(files, policy=SignaturePolicy(), check=Check.SIGNATURE) -> PackageError:
    with pytest.raises(PackageError) as err:
        load(files, policy)
    assert err.value.check == check
    return err.value


def test_valid_signature_onboards_without_anchors(signer):
    pkg = load(pf.signed_vnf_csar_files(*signer))
    assert pkg.signature.signed and pkg.signature.signer == "CN=VNF Vendor Signer"
    assert pkg.signature.certificate_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pkg.manifest.signed and pkg.manifest.entries  # the block does not disturb parsing
    assert "signed by CN=VNF Vendor Signer" in pkg.signature.describe()


def test_valid_signature_chains_to_anchor(ca, signer):
    pkg = load(pf.signed_vnf_csar_files(*signer), SignaturePolicy(anchors=(ca[1],)))
    assert pkg.signature.signed


def test_intermediate_in_package_completes_the_chain(ca):
    inter = pf.make_cert("Intermediate CA", ca, ca=True)
    leaf = pf.make_cert("Leaf Signer", inter)
    files = pf.signed_vnf_csar_files(*leaf, cert_file=True)
    files["magi_vnf.cert"] += pf.cert_pem(inter[1])  # leaf + intermediate next to the manifest
    assert load(files, SignaturePolicy(anchors=(ca[1],))).signature.signer == "CN=Leaf Signer"
    files["magi_vnf.cert"] = pf.cert_pem(leaf[1])  # without the intermediate: no chain
    assert "does not chain" in refused(files, SignaturePolicy(anchors=(ca[1],))).detail


def test_certificate_only_in_cert_file(ca, signer):
    files = pf.signed_vnf_csar_files(*signer, with_cert=False, cert_file=True)
    pkg = load(files, SignaturePolicy(anchors=(ca[1],)))
    assert pkg.signature.signer == "CN=VNF Vendor Signer"
    del files["magi_vnf.cert"]
    err = refused(files)
    assert "no certificate for the signer" in err.detail and err.file == MF


def test_certificate_named_by_tosca_meta(signer):
    files = pf.signed_vnf_csar_files(*signer, with_cert=False)
    files["Certificates/vendor.pem"] = pf.cert_pem(signer[1])
    files["TOSCA-Metadata/TOSCA.meta"] += b"ETSI-Entry-Certificate: Certificates/vendor.pem\n"
    assert load(files).signature.signed


@pytest.mark.parametrize("kind", ["ec", "pss", "sha512", "no-attributes"])
def test_algorithms(ca, kind):
    key, cert = pf.make_cert("Signer " + kind, ca, key_type="ec" if kind == "ec" else "rsa")
    sign = {"pss": {"pss": True}, "sha512": {"hash_name": "sha512"},
            "no-attributes": {"with_attributes": False}}.get(kind, {})
    pkg = load(pf.signed_vnf_csar_files(key, cert, **sign), SignaturePolicy(anchors=(ca[1],)))
    assert pkg.signature.signer == f"CN=Signer {kind}"


def test_signed_content_without_the_last_line_break(signer):
    """SOL004 is silent on the line break before the block: a signer may leave it out."""
    files = pf.vnf_csar_files()
    text = files[MF]
    files[MF] = text + pf.cms_block(pf.cms_sign(text.rstrip(b"\n"), *signer))
    assert load(files).signature.signed


def test_tampered_manifest_fails(signer):
    files = pf.signed_vnf_csar_files(*signer)
    files[MF] = files[MF].replace(b"vnf_package_version: 1.0", b"vnf_package_version: 1.1")
    err = refused(files)
    assert err.file == MF and "messageDigest" in err.detail


def test_tampered_signature_fails(signer):
    files = pf.vnf_csar_files()
    der = bytearray(pf.cms_sign(files[MF], *signer))
    der[-10] ^= 0x01  # inside the signature value, the last field of the SignerInfo
    files[MF] += pf.cms_block(bytes(der))
    assert "does not verify" in refused(files).detail


def test_signer_not_chaining_to_anchors_fails(signer, other_ca):
    err = refused(pf.signed_vnf_csar_files(*signer), SignaturePolicy(anchors=(other_ca[1],)))
    assert "does not chain to a trusted anchor" in err.detail and err.file == MF


def test_expired_signer_fails_with_anchors(ca):
    old = pf.make_cert("Old Signer", ca, days=-1, not_before_days=-10)
    err = refused(pf.signed_vnf_csar_files(*old), SignaturePolicy(anchors=(ca[1],)))
    assert "not valid now" in err.detail


def test_require_refuses_unsigned(signer):
    err = refused(pf.vnf_csar_files(), SignaturePolicy("require"))
    assert "not signed" in err.detail
    assert refused(pf.vnf_csar_files(with_manifest=False), SignaturePolicy("require"))
    assert load(pf.signed_vnf_csar_files(*signer), SignaturePolicy("require")).signature.signed


def test_verify_accepts_unsigned():
    pkg = load(pf.vnf_csar_files())
    assert not pkg.signature.signed and pkg.signature.describe() == "not signed"


def test_off_accepts_a_bad_signature(signer):
    files = pf.signed_vnf_csar_files(*signer)
    files[MF] = files[MF].replace(b"vnf_package_version: 1.0", b"vnf_package_version: 1.1")
    pkg = load(files, SignaturePolicy("off"))
    assert not pkg.signature.checked
    assert load_vnf_package(pf.zip_files(files)).signature is None  # not asked: not checked


@pytest.mark.parametrize("block, what", [
    (b"-----BEGIN CMS-----\n!!!not base64!!!\n-----END CMS-----\n", "not valid base64"),
    (b"-----BEGIN CMS-----\n" + base64.b64encode(b"\x30\x03\x02\x01\x01") + b"\n-----END CMS-----\n",
     "malformed CMS"),
    (b"-----BEGIN CMS-----\n" + base64.b64encode(b"garbage that is no DER") + b"\n-----END CMS-----\n",
     "malformed CMS"),
    (b"-----BEGIN CMS-----\nAAAA\n", "without '-----END CMS-----'"),
    (b"-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n", "not a SOL004"),
])
def test_malformed_block_is_a_package_error(block, what):
    files = pf.vnf_csar_files()
    files[MF] += block
    err = refused(files)
    assert what in err.detail and err.file == MF


def _artifact_signed(signer, sig_for: bytes, *, cert_in_cms: bool = True) -> dict[str, bytes]:
    """A package whose manifest entry of the script carries Signature and Certificate."""
    files = pf.vnf_csar_files()
    files["Scripts/install.sh.sig.cms"] = pf.cms_sign(sig_for, *signer, with_cert=cert_in_cms)
    files["Scripts/install.sh.cert"] = pf.cert_pem(signer[1])
    digest = hashlib.sha256(pf.SCRIPT_BYTES).hexdigest()
    entry = f"Source: {pf.SCRIPT_PATH}\nAlgorithm: SHA-256\nHash: {digest}\n".encode()
    assert entry in files[MF]
    files[MF] = files[MF].replace(entry, entry + b"Signature: Scripts/install.sh.sig.cms\n"
                                  b"Certificate: Scripts/install.sh.cert\n")
    return files


def test_per_artifact_signature(ca, signer):
    files = _artifact_signed(signer, pf.SCRIPT_BYTES, cert_in_cms=False)
    pkg = load(files, SignaturePolicy(anchors=(ca[1],)))
    assert pkg.signature.artifacts == {pf.SCRIPT_PATH: "CN=VNF Vendor Signer"}
    assert not pkg.signature.signed  # the manifest itself is not signed
    entry = next(e for e in pkg.manifest.entries if e.source == pf.SCRIPT_PATH)
    assert entry.signature == "Scripts/install.sh.sig.cms"


def test_per_artifact_bad_signature(signer):
    err = refused(_artifact_signed(signer, b"some other script\n"))
    assert err.file == "Scripts/install.sh.sig.cms" and pf.SCRIPT_PATH in err.detail


def test_per_artifact_signature_of_a_large_member_is_streamed(tmp_path, signer):
    """An image over LAZY_MEMBER_BYTES: its digest comes from the one streamed pass."""
    from magi.descriptors import LAZY_MEMBER_BYTES

    image = os.urandom(LAZY_MEMBER_BYTES + 1)  # incompressible: no zip-bomb ratio
    files = pf.vnf_csar_files()
    files[pf.IMAGE_PATH] = image
    files[MF] = pf.make_manifest({k: v for k, v in files.items()
                                  if k not in (MF, "TOSCA-Metadata/TOSCA.meta")})
    files["image.sig.cms"] = pf.cms_sign(image, *signer)
    digest = hashlib.sha256(image).hexdigest()
    entry = f"Source: {pf.IMAGE_PATH}\nAlgorithm: SHA-256\nHash: {digest}\n".encode()
    files[MF] = files[MF].replace(entry, entry + b"Signature: image.sig.cms\n")
    path = tmp_path / "pkg.zip"
    path.write_bytes(pf.zip_files(files))
    with load_vnf_package(path, signatures=SignaturePolicy()) as pkg:
        assert pkg.signature.artifacts == {pf.IMAGE_PATH: "CN=VNF Vendor Signer"}
        assert pkg.files.materialized == []


def test_policy_load(tmp_path, ca):
    bundle = tmp_path / "anchors.pem"
    bundle.write_bytes(pf.cert_pem(ca[1]))
    policy = SignaturePolicy.load("require", str(bundle))
    assert policy.mode == "require" and policy.anchors == (ca[1],)
    with pytest.raises(ValueError):
        SignaturePolicy.load("maybe")
    with pytest.raises(ValueError):
        SignaturePolicy.load("verify", str(tmp_path / "missing.pem"))


def test_cli_validate_prints_the_signer(tmp_path, capsys, monkeypatch, ca, signer, other_ca):
    from magi.cli import main

    signed, unsigned = tmp_path / "signed.zip", tmp_path / "unsigned.zip"
    signed.write_bytes(pf.zip_files(pf.signed_vnf_csar_files(*signer)))
    unsigned.write_bytes(pf.make_vnf_csar())
    assert main(["vnfpkg", "validate", str(signed)]) == 0
    assert "signature: signed by CN=VNF Vendor Signer" in capsys.readouterr().out
    assert main(["vnfpkg", "validate", str(unsigned)]) == 0
    assert "signature: not signed" in capsys.readouterr().out
    bundle = tmp_path / "anchors.pem"
    bundle.write_bytes(pf.cert_pem(other_ca[1]))
    monkeypatch.setenv("MAGI_PACKAGE_TRUST_ANCHORS", str(bundle))
    assert main(["vnfpkg", "validate", str(signed)]) == 1
    assert "✗ signature:" in capsys.readouterr().out


def test_unsigned_package_with_an_unreadable_cert_file_is_accepted():
    """Certificates are read only for a signature: before signatures were checked such a
    package onboarded, and under `verify` it still does."""
    files = pf.vnf_csar_files()
    files["magi_vnf.cert"] = b"not a certificate"
    assert not load(files).signature.signed


def test_unknown_digest_algorithm_fails(signer):
    """SHA-224 (its OID differs from SHA-256's in the last byte only) is not a SOL004 algorithm."""
    files = pf.vnf_csar_files()
    sha256_oid = bytes.fromhex("0609608648016503040201")
    der = pf.cms_sign(files[MF], *signer)
    assert sha256_oid in der
    files[MF] += pf.cms_block(der.replace(sha256_oid, sha256_oid[:-1] + b"\x04"))
    err = refused(files)
    assert "'sha224' is not SHA-256/384/512" in err.detail and err.file == MF
