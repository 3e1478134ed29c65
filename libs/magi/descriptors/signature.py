"""SOL004 package signatures: security option 1 (a CMS signature at the end of the manifest) and
per-artifact signatures (`Signature:` / `Certificate:` in a manifest entry).

A signature is a detached CMS SignedData (RFC 5652): parsed with asn1crypto, checked with
`cryptography`. The signed content of the manifest is its text before the `-----BEGIN CMS-----`
line; SOL004 does not say whether the line break ending that text is part of it, so both are
accepted. Trust is optional: with anchors the signer certificate must chain to one of them.
The library stays pure: the caller (the NFVO, the CLI) hands in the policy.
"""
from __future__ import annotations

import base64
import binascii
import hmac
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from asn1crypto import cms as a_cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from ._archive import LAZY_MEMBER_BYTES, hash_member, is_url, member_size, safe_path
from .errors import Check, PackageError

Mode = Literal["verify", "require", "off"]
_BEGIN = re.compile(rb"^-----BEGIN CMS-----\s*$", re.M)
_OTHER_BLOCK = re.compile(rb"^-----BEGIN [^\r\n]*-----", re.M)
_END = re.compile(rb"^-----END CMS-----\s*$", re.M)
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_MAX_CHAIN = 8
_CERT_SUFFIXES = (".cert", ".crt", ".pem", ".cer", ".der")


@dataclass(frozen=True)
class SignaturePolicy:
    """`verify`: a signature present must verify, unsigned packages pass; `require`: unsigned
    packages are refused too; `off`: nothing is checked. `anchors`: trusted CA certificates;
    empty = no chain check."""

    mode: Mode = "verify"
    anchors: tuple[x509.Certificate, ...] = ()

    @classmethod
    def load(cls, mode: str = "verify", anchors_path: str | None = None) -> SignaturePolicy:
        """From settings: a mode name and the path of a PEM bundle (ValueError if unusable)."""
        if mode not in ("verify", "require", "off"):
            raise ValueError(f"package signature policy {mode!r}: expected verify, require or off")
        anchors: tuple[x509.Certificate, ...] = ()
        if anchors_path:
            try:
                anchors = tuple(x509.load_pem_x509_certificates(Path(anchors_path).read_bytes()))
            except (OSError, ValueError) as exc:
                raise ValueError(f"package trust anchors {anchors_path}: {exc}") from None
        return cls(mode, anchors)  # type: ignore[arg-type]


@dataclass
class SignatureResult:
    signed: bool = False  # the manifest carries a CMS signature that verified
    signer: str | None = None  # subject of the manifest's signer certificate (RFC 4514)
    certificate_pem: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)  # signed artifact -> signer subject
    checked: bool = True  # False under policy `off`

    def describe(self) -> str:
        if not self.checked:
            return "signatures not checked (policy off)"
        text = f"signed by {self.signer}" if self.signed else "not signed"
        if self.artifacts:
            text += f"; {len(self.artifacts)} artifact signature(s) verified"
        return text


def _fail(file: str, what: str) -> PackageError:
    return PackageError(Check.SIGNATURE, what, file=file)


# --------------------------------------------------------------------------- certificates


def _certs_from_bytes(data: bytes, file: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise _fail(file, f"not a certificate (PEM or DER): {exc}") from None


def _small(files: Mapping[str, bytes], path: str, file_for_errors: str, what: str) -> bytes:
    if path not in files:
        raise _fail(file_for_errors, f"{what} {path!r} is not in the package")
    if member_size(files, path) > LAZY_MEMBER_BYTES:  # asked before reading: never a large member
        raise _fail(path, f"{what} is too large")
    return files[path]


def _package_certs(files: Mapping[str, bytes], meta: Mapping[str, str],
                   manifest_path: str) -> list[x509.Certificate]:
    """The certificates a package carries for its manifest: TOSCA.meta `ETSI-Entry-Certificate`
    (a file, or a folder of them) and `<manifest base name>.cert`."""
    paths: list[str] = []
    named = next((v for k, v in meta.items() if k.lower() == "etsi-entry-certificate"), None)
    if named:
        named = safe_path(named)
        if named in files:
            paths.append(named)
        else:
            paths += [p for p in files if p.startswith(named.rstrip("/") + "/")
                      and p.lower().endswith(_CERT_SUFFIXES)]
    beside = posixpath.splitext(manifest_path)[0] + ".cert"
    if beside in files and beside not in paths:
        paths.append(beside)
    return [c for p in paths for c in _certs_from_bytes(_small(files, p, p, "certificate"), p)]


# --------------------------------------------------------------------------- CMS


def _parse_cms(der: bytes, file: str) -> a_cms.SignedData:
    try:
        info = a_cms.ContentInfo.load(der, strict=True)
        if info["content_type"].native != "signed_data":
            raise _fail(file, f"CMS content type is {info['content_type'].native}, not SignedData")
        sd = info["content"]
        sd["signer_infos"].native  # noqa: B018  (parses everything now: errors surface here)
        sd["encap_content_info"].native  # noqa: B018
        return sd
    except PackageError:
        raise
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError... on bad DER
        raise _fail(file, f"malformed CMS SignedData ({type(exc).__name__}: {exc})") from None


def _cms_certs(sd: a_cms.SignedData, file: str) -> list[x509.Certificate]:
    out = []
    for choice in sd["certificates"] or []:
        if choice.name != "certificate":
            continue  # attribute/other certificates: not used for signing
        try:
            out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except ValueError as exc:
            raise _fail(file, f"CMS carries an unreadable certificate: {exc}") from None
    return out


def _match_signer(sid: a_cms.SignerIdentifier, certs: list[x509.Certificate]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"].dump()
        serial = sid.chosen["serial_number"].native
        for c in certs:
            if c.serial_number == serial and c.issuer.public_bytes() == issuer:
                return c
        # the same name may be encoded differently (PrintableString vs UTF8String)
        want = sid.chosen["issuer"].human_friendly
        for c in certs:
            if c.serial_number == serial and _asn1_name(c) == want:
                return c
        return None
    ski = sid.chosen.native
    for c in certs:
        try:
            if c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == ski:
                return c
        except x509.ExtensionNotFound:
            if x509.SubjectKeyIdentifier.from_public_key(c.public_key()).digest == ski:
                return c
    return None


def _asn1_name(cert: x509.Certificate) -> str:
    from asn1crypto import x509 as a_x509  # type: ignore[import-untyped]
    return a_x509.Name.load(cert.issuer.public_bytes()).human_friendly


def _describe_sid(sid: a_cms.SignerIdentifier) -> str:
    if sid.name == "issuer_and_serial_number":
        return (f"issuer {sid.chosen['issuer'].human_friendly}, "
                f"serial {sid.chosen['serial_number'].native}")
    return f"subject key identifier {sid.chosen.native.hex()}"


def _attr(attrs: a_cms.CMSAttributes, name: str, file: str) -> object:
    found = [a for a in attrs if a["type"].native == name]
    if len(found) != 1 or len(found[0]["values"]) != 1:
        raise _fail(file, f"signed attributes need exactly one {name}")
    return found[0]["values"][0].native


def _verify_signer(sd: a_cms.SignedData, si: a_cms.SignerInfo, signer: x509.Certificate,
                   digest_of: dict[str, bytes], file: str, content_file: str) -> None:
    """One SignerInfo over the content whose digests (by hash name) are in `digest_of`."""
    hname = si["digest_algorithm"]["algorithm"].native
    if hname not in _HASHES:
        raise _fail(file, f"digest algorithm {hname!r} is not SHA-256/384/512")
    digest = digest_of[hname]
    attrs = si["signed_attrs"]
    if attrs:
        econtent_type = sd["encap_content_info"]["content_type"].native
        if _attr(attrs, "content_type", file) != econtent_type:
            raise _fail(file, "contentType signed attribute differs from the signed content's type")
        md = _attr(attrs, "message_digest", file)
        if not isinstance(md, bytes) or not hmac.compare_digest(md, digest):
            raise _fail(file, f"the {hname} digest of {content_file} does not match the "
                        "signature's messageDigest (content changed after signing)")
        # RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF, not [0]
        raw = attrs.dump()
        data: bytes | None = b"\x31" + raw[1:]
        prehashed = None
    else:
        data, prehashed = None, digest  # the signature is over the content itself
    _check_signature(si, signer, hname, data, prehashed, file)


def _check_signature(si: a_cms.SignerInfo, signer: x509.Certificate, hname: str,
                     data: bytes | None, prehashed: bytes | None, file: str) -> None:
    alg = si["signature_algorithm"]
    sig = si["signature"].native
    try:
        algo = alg.signature_algo
    except ValueError:
        raise _fail(file, f"unknown signature algorithm {alg['algorithm'].dotted}") from None
    sig_hash = hname
    if algo != "rsassa_pss":
        try:  # sha256_rsa, sha384_ecdsa...: the OID names the hash
            sig_hash = alg.hash_algo
        except ValueError:
            pass  # plain rsaEncryption: the SignerInfo's digest algorithm
    if sig_hash not in _HASHES:
        raise _fail(file, f"signature hash {sig_hash!r} is not SHA-256/384/512")
    if prehashed is not None and sig_hash != hname:
        raise _fail(file, "signature and digest algorithms differ without signed attributes")
    h = _HASHES[sig_hash]()
    chosen: hashes.HashAlgorithm | utils.Prehashed = h if data is not None else utils.Prehashed(h)
    payload = data if data is not None else prehashed
    assert payload is not None
    key = signer.public_key()
    try:
        if algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(sig, payload, padding.PKCS1v15(), chosen)
        elif algo == "rsassa_pss" and isinstance(key, rsa.RSAPublicKey):
            params = alg["parameters"]
            pss_hash = params["hash_algorithm"]["algorithm"].native
            mgf_hash = params["mask_gen_algorithm"]["parameters"]["algorithm"].native
            if pss_hash not in _HASHES or mgf_hash not in _HASHES:
                raise _fail(file, f"RSASSA-PSS with {pss_hash}/{mgf_hash}: not SHA-256/384/512")
            h = _HASHES[pss_hash]()
            if prehashed is not None and pss_hash != hname:
                raise _fail(file, "PSS and digest algorithms differ without signed attributes")
            chosen = h if data is not None else utils.Prehashed(h)
            key.verify(sig, payload, padding.PSS(padding.MGF1(_HASHES[mgf_hash]()),
                                                 params["salt_length"].native), chosen)
        elif algo == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(sig, payload, ec.ECDSA(chosen))
        else:
            raise _fail(file, f"signature algorithm {algo} with a {type(key).__name__} "
                        "certificate key is not supported (RSA PKCS#1 v1.5, RSA-PSS, ECDSA)")
    except InvalidSignature:
        raise _fail(file, "the signature does not verify with the signer certificate's key") \
            from None
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise _fail(file, f"cannot verify the signature: {exc}") from None


# --------------------------------------------------------------------------- chain


def _check_chain(leaf: x509.Certificate, pool: list[x509.Certificate],
                 anchors: tuple[x509.Certificate, ...], file: str) -> None:
    """The signer must chain to an anchor: issuer signatures up the chain, validity dates,
    intermediates marked as CAs. No revocation checking."""
    now = datetime.now(timezone.utc)
    current = leaf
    for _ in range(_MAX_CHAIN):
        if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
            raise _fail(file, f"certificate {current.subject.rfc4514_string()} is not valid now "
                        f"({current.not_valid_before_utc:%Y-%m-%d} to "
                        f"{current.not_valid_after_utc:%Y-%m-%d})")
        if any(current == a for a in anchors):
            return
        for anchor in anchors:
            if _issued_by(current, anchor):
                if not anchor.not_valid_before_utc <= now <= anchor.not_valid_after_utc:
                    raise _fail(file, f"trust anchor {anchor.subject.rfc4514_string()} is not "
                                "valid now")
                return
        parent = next((c for c in pool if c != current and _is_ca(c) and _issued_by(current, c)),
                      None)
        if parent is None:
            break
        current = parent
    raise _fail(file, f"signer certificate {leaf.subject.rfc4514_string()} does not chain to a "
                "trusted anchor (MAGI_PACKAGE_TRUST_ANCHORS)")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False


# --------------------------------------------------------------------------- verification


def _verify_cms(der: bytes, file: str, content_file: str, content_hash: Callable[[str], bytes],
                extra_certs: list[x509.Certificate], policy: SignaturePolicy) -> x509.Certificate:
    """Verify every SignerInfo of a CMS over one content; return the first signer's certificate.
    `content_hash(hashname) -> bytes` digests the content (streamed for a large member)."""
    sd = _parse_cms(der, file)
    embedded = sd["encap_content_info"]["content"]
    if embedded is not None and embedded.native is not None:
        raise _fail(file, "the CMS embeds its content; SOL004 signatures are detached")
    signer_infos = list(sd["signer_infos"])
    if not signer_infos:
        raise _fail(file, "the CMS has no signer")
    cms_certs = _cms_certs(sd, file)
    pool = cms_certs + extra_certs
    first: x509.Certificate | None = None
    for si in signer_infos:
        cert = _match_signer(si["sid"], pool)
        if cert is None:
            raise _fail(file, f"no certificate for the signer ({_describe_sid(si['sid'])}) in the "
                        "CMS or the package")
        hname = si["digest_algorithm"]["algorithm"].native
        digest_of = {hname: content_hash(hname)} if hname in _HASHES else {}
        _verify_signer(sd, si, cert, digest_of, file, content_file)
        if policy.anchors:
            _check_chain(cert, pool, policy.anchors, file)
        first = first or cert
    assert first is not None
    return first


def _split_manifest(raw: bytes, path: str) -> tuple[list[bytes], bytes] | None:
    """(candidate signed contents, DER of the CMS) of a manifest, or None when unsigned."""
    begin = _BEGIN.search(raw)
    if begin is None:
        if other := _OTHER_BLOCK.search(raw):  # not silently "unsigned": say what is wrong
            raise _fail(path, f"signature block {other.group().decode(errors='replace')!r} is "
                        "not a SOL004 '-----BEGIN CMS-----' block")
        return None
    end = _END.search(raw, begin.end())
    if end is None:
        raise _fail(path, "'-----BEGIN CMS-----' without '-----END CMS-----'")
    if raw[end.end():].strip():
        raise _fail(path, "text after '-----END CMS-----': the signature must end the manifest")
    body = b"".join(raw[begin.end():end.start()].split())
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail(path, f"the CMS block is not valid base64 ({exc})") from None
    if not der:
        raise _fail(path, "the CMS block is empty")
    content = raw[:begin.start()]
    # SOL004 leaves open whether the line break before the block is signed: try both
    candidates = [content]
    for eol in (b"\r\n", b"\n"):
        if content.endswith(eol):
            candidates.append(content[:-len(eol)])
            break
    return candidates, der


def _load_cms_file(files: Mapping[str, bytes], path: str, declared_in: str) -> bytes:
    data = _small(files, path, declared_in, "signature file")
    if _BEGIN.search(data):  # PEM-wrapped CMS (`-----BEGIN CMS-----`) is accepted as well
        split = _split_manifest(data, path)
        assert split is not None
        return split[1]
    return data


def verify_signatures(files: Mapping[str, bytes], meta: Mapping[str, str],
                      manifest_path: str | None, entries: list[tuple[str, str | None, str | None]],
                      policy: SignaturePolicy) -> SignatureResult:
    """Check a CSAR's manifest signature and its per-artifact signatures. `entries`:
    (source, Signature path, Certificate path) of each manifest entry."""
    if policy.mode == "off":
        return SignatureResult(checked=False)
    result = SignatureResult()
    split = None
    if manifest_path:
        split = _split_manifest(_small(files, manifest_path, manifest_path, "manifest"),
                                manifest_path)
    # read only when a signature needs them: an unsigned package's certificate files stay opaque
    package_certs: list[x509.Certificate] = []
    if manifest_path and (split or any(sig for _, sig, _ in entries)):
        package_certs = _package_certs(files, meta, manifest_path)
    if split is None:
        if policy.mode == "require":
            raise _fail(manifest_path or "<package>", "the package is not signed (no manifest "
                        "with a CMS signature) and the signature policy requires one"
                        if manifest_path else "the package has no manifest to carry a signature "
                        "and the signature policy requires one")
    else:
        candidates, der = split
        cert = _verify_manifest(der, candidates, manifest_path or "", package_certs, policy)
        result.signed = True
        result.signer = cert.subject.rfc4514_string()
        result.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    for source, sig_path, cert_path in entries:
        if not sig_path:
            continue
        declared = manifest_path or "<manifest>"
        if is_url(source):
            raise _fail(declared, f"signature {sig_path!r} of the external artifact {source!r} "
                        "cannot be checked")
        src = safe_path(source, check_file=declared)
        sig = safe_path(sig_path, check_file=declared)
        if src not in files:
            raise PackageError(Check.ARTIFACT_MISSING, f"{declared} names {src!r}, which is not "
                               "in the package", file=src)
        extra = list(package_certs)
        if cert_path:
            cp = safe_path(cert_path, check_file=declared)
            extra = _certs_from_bytes(_small(files, cp, declared, "certificate"), cp) + extra
        der = _load_cms_file(files, sig, declared)
        cert = _verify_cms(der, sig, src,
                           lambda h, src=src: bytes.fromhex(hash_member(files, src, h)),
                           extra, policy)
        result.artifacts[src] = cert.subject.rfc4514_string()
    return result


def _verify_manifest(der: bytes, candidates: list[bytes], path: str,
                     package_certs: list[x509.Certificate],
                     policy: SignaturePolicy) -> x509.Certificate:
    errors: list[PackageError] = []
    for content in candidates:
        try:
            return _verify_cms(der, path, path, lambda h, c=content: _digest(c, h),
                               package_certs, policy)
        except PackageError as exc:
            errors.append(exc)
    # the candidate whose digest matched says what really failed (e.g. the signature value)
    raise next((e for e in errors if "messageDigest" not in e.detail), errors[0])


def _digest(data: bytes, hname: str) -> bytes:
    h = hashes.Hash(_HASHES[hname]())
    h.update(data)
    return h.finalize()
