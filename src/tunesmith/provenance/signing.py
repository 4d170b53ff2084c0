"""Who signs what tunesmith writes: the user's own certificate, or a local key made on first use.

With ``tunesmith config set signing.cert CHAIN.pem`` and ``signing.key KEY.pem`` the user's
certificate signs every content credential and recipe. Without them tunesmith makes, once, a
local signing key and a certificate for it in the config folder:

- a throw-away local root certificate signs the signing certificate, and the root's private key
  is discarded at once (C2PA validators refuse a self-signed *signing* certificate, so the signer
  must be issued by something; nothing else can ever be issued by this root);
- the signing key is written with ``os.open(..., 0o600)``: it is never readable by other users,
  not even for a moment before a ``chmod``;
- nothing is sent anywhere: no certificate authority, no timestamp authority.

A local key proves that a file is unchanged since this computer signed it; it does not prove who
the author is, so everything that reports on it says "untrusted, local".
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunesmith.errors import InputFileError, UsageError
from tunesmith.provenance.config import config_dir, load_config

LOCAL_DIR = "signing"
LOCAL_KEY = "local-key.pem"
LOCAL_CHAIN = "local-chain.pem"
LOCAL_VALID_DAYS = 3650
TRUST_LOCAL = "untrusted, local"
TRUST_USER = "your certificate"


@dataclass(frozen=True)
class SigningIdentity:
    """A signing key and its certificate chain.

    Attributes
    ----------
    kind : str
        ``"local"`` (made by tunesmith on first use) or ``"user"`` (from the config).
    alg : str
        C2PA algorithm name: ``es256``, ``es384``, ``es512``, ``ps256`` or ``ed25519``.
    chain_pem : bytes
        PEM certificates, the signing certificate first.
    key_pem : bytes
        The PEM private key.
    cert_path, key_path : pathlib.Path
        Where they were read from.
    """

    kind: str
    alg: str
    chain_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the signing certificate (DER), hex: how a verifier recognises this signer."""
        return cert_fingerprint(self.chain_pem)

    @property
    def trust(self) -> str:
        """How far a signature by this identity can be trusted, in words."""
        return TRUST_LOCAL if self.kind == "local" else TRUST_USER


def local_paths() -> tuple[Path, Path]:
    """``(key, chain)`` paths of the local signing identity (they may not exist yet)."""
    folder = config_dir() / LOCAL_DIR
    return folder / LOCAL_KEY, folder / LOCAL_CHAIN


def cert_fingerprint(chain_pem: bytes | str) -> str:
    """Hex SHA-256 of the first certificate's DER bytes in a PEM chain (no X.509 parsing needed)."""
    text = chain_pem.decode("ascii", "replace") if isinstance(chain_pem, bytes) else chain_pem
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        return ""
    der = base64.b64decode("".join(text[start + len(begin) : stop].split()))
    return hashlib.sha256(der).hexdigest()


_cache: dict[tuple[Any, ...], tuple[SigningIdentity, Any]] = {}


def signing_identity() -> SigningIdentity:
    """The identity to sign with now: the configured certificate, else the local key (made if missing).

    Raises
    ------
    UsageError
        If only one of ``signing.cert`` / ``signing.key`` is set.
    InputFileError
        If a configured file cannot be read or is not a usable key/certificate.
    """
    return _identity_and_key()[0]


def _identity_and_key() -> tuple[SigningIdentity, Any]:
    config = load_config()
    cert, key = config.get("signing.cert"), config.get("signing.key")
    if bool(cert) != bool(key):
        missing = "signing.key" if cert else "signing.cert"
        raise UsageError(f"{missing} is not set; set both signing.cert and signing.key, or neither")
    if cert and key:
        kind, key_path, cert_path = "user", Path(key), Path(cert)
    else:
        kind = "local"
        key_path, cert_path = local_paths()
        if not key_path.is_file() or not cert_path.is_file():
            create_local_identity()
    try:
        stamp = (os.getpid(), kind, str(key_path), key_path.stat().st_mtime_ns, cert_path.stat().st_mtime_ns)
    except OSError as exc:
        raise InputFileError(f"cannot read the signing key or certificate ({exc.strerror})", exc.filename) from None
    cached = _cache.get(stamp)
    if cached is not None:
        return cached
    try:
        key_pem, chain_pem = key_path.read_bytes(), cert_path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read ({exc.strerror})", exc.filename) from None
    private = _load_key(key_pem, key_path)
    if b"-----BEGIN CERTIFICATE-----" not in chain_pem:
        raise InputFileError("not a PEM certificate chain", cert_path)
    identity = SigningIdentity(kind, _alg_of(private, key_path), chain_pem, key_pem, cert_path, key_path)
    _cache.clear()  # one identity per process at a time; forked workers get their own entry
    _cache[stamp] = (identity, private)
    return identity, private


def sign_bytes(data: bytes) -> tuple[SigningIdentity, bytes]:
    """Sign ``data`` with the current identity; return it and the signature (DER for ECDSA)."""
    from cryptography.hazmat.primitives import hashes

    identity, private = _identity_and_key()
    if identity.alg.startswith("es"):
        from cryptography.hazmat.primitives.asymmetric import ec

        digest = {"es256": hashes.SHA256(), "es384": hashes.SHA384(), "es512": hashes.SHA512()}[identity.alg]
        return identity, private.sign(data, ec.ECDSA(digest))
    if identity.alg == "ps256":
        from cryptography.hazmat.primitives.asymmetric import padding

        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        return identity, private.sign(data, pss, hashes.SHA256())
    return identity, private.sign(data)


def verify_bytes(chain_pem: bytes | str, alg: str, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` was made by the key of the chain's first certificate."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding

    pem = chain_pem.encode() if isinstance(chain_pem, str) else chain_pem
    try:
        public = x509.load_pem_x509_certificate(pem).public_key()
        if alg.startswith("es"):
            digest = {"es256": hashes.SHA256(), "es384": hashes.SHA384(), "es512": hashes.SHA512()}[alg]
            public.verify(signature, data, ec.ECDSA(digest))  # type: ignore[call-arg, union-attr]
        elif alg == "ps256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            public.verify(signature, data, pss, hashes.SHA256())  # type: ignore[call-arg, union-attr]
        else:
            public.verify(signature, data)  # type: ignore[call-arg, union-attr]
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


def describe_chain(chain_pem: bytes | str) -> dict[str, Any]:
    """Subject, issuer, serial, validity and fingerprint of the first certificate of a chain."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    pem = chain_pem.encode() if isinstance(chain_pem, str) else chain_pem
    cert = x509.load_pem_x509_certificate(pem)

    def name(n: x509.Name) -> str:
        cn = n.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[0].value) if cn else n.rfc4514_string()

    return {
        "subject": name(cert.subject),
        "issuer": name(cert.issuer),
        "serial": str(cert.serial_number),
        "not_after": cert.not_valid_after_utc.isoformat(timespec="seconds"),
        "fingerprint_sha256": cert_fingerprint(pem),
    }


def known_signer(fingerprint: str) -> tuple[str, str] | None:
    """``(kind, trust)`` when ``fingerprint`` is this computer's local key or the configured certificate."""
    if not fingerprint:
        return None
    _, chain_path = local_paths()
    if chain_path.is_file() and cert_fingerprint(chain_path.read_bytes()) == fingerprint:
        return "local", TRUST_LOCAL
    cert = load_config().get("signing.cert")
    if cert and Path(cert).is_file() and cert_fingerprint(Path(cert).read_bytes()) == fingerprint:
        return "user", TRUST_USER
    return None


def create_local_identity() -> tuple[Path, Path]:
    """Make the local signing key and certificate if they do not exist yet; return their paths.

    The pair is built in a private temporary folder and renamed into place in one step, so two
    processes starting at once never see half a key; the loser of that race uses the winner's.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key_path, chain_path = local_paths()
    if key_path.is_file() and chain_path.is_file():
        return key_path, chain_path
    folder = key_path.parent
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder.parent / f".{LOCAL_DIR}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(tmp, 0o700)
    try:
        signer_key = ec.generate_private_key(ec.SECP256R1())
        chain = _local_chain(signer_key)
        key_bytes = signer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Created 0600 from the first byte: os.open applies the mode at creation (umask can only narrow it).
        fd = os.open(tmp / LOCAL_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_bytes)
        fd = os.open(tmp / LOCAL_CHAIN, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(chain)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not (key_path.is_file() and chain_path.is_file()):  # not another process's finished pair
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return key_path, chain_path


def _local_chain(signer_key: Any) -> bytes:
    """PEM chain: a signing certificate for ``signer_key`` issued by a one-off local root."""
    import datetime as _dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC)
    start, end = now - _dt.timedelta(days=1), now + _dt.timedelta(days=LOCAL_VALID_DAYS)
    user = os.environ.get("USER") or os.environ.get("USERNAME") or "user"
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"tunesmith local signing ({user}) - untrusted")
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tunesmith local root - untrusted"), org])
    signer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tunesmith local key - untrusted"), org])
    root_key = ec.generate_private_key(ec.SECP256R1())  # used for one signature below, then dropped

    def usage(sign: bool, certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=certs,
            crl_sign=certs,
            encipher_only=False,
            decipher_only=False,
        )

    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(False, True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    # The C2PA certificate profile: an end-entity certificate (not a CA) with digitalSignature,
    # an extended key usage C2PA accepts (emailProtection), and both key identifiers.
    signer = (
        x509.CertificateBuilder()
        .subject_name(signer_name)
        .issuer_name(root_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(True, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return signer.public_bytes(pem) + root.public_bytes(pem)


_P256_OID = bytes.fromhex("06082a8648ce3d030107")  # prime256v1, DER-encoded


def _der(buf: bytes, i: int) -> tuple[int, bytes, int]:
    """One DER element at ``i``: (tag, contents, offset after it)."""
    tag, length = buf[i], buf[i + 1]
    i += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(buf[i : i + n], "big")
        i += n
    return tag, buf[i : i + length], i + length


def _p256_scalar(key_pem: bytes) -> int | None:
    """The private number of an unencrypted PKCS#8 P-256 key (the local key's format), else ``None``.

    Loading the key through ``cryptography``'s ``serialization`` package imports its SSH and
    cipher modules too — about 12 ms on every command; rebuilding an EC key from its number
    needs only the ``ec`` module. Anything else goes through ``serialization``.
    """
    begin, end = b"-----BEGIN PRIVATE KEY-----", b"-----END PRIVATE KEY-----"
    start, stop = key_pem.find(begin), key_pem.find(end)
    if start < 0 or stop < 0:
        return None
    try:
        der = base64.b64decode(b"".join(key_pem[start + len(begin) : stop].split()))
        tag, info, _ = _der(der, 0)
        _, _, at = _der(info, 0)  # version
        tag_alg, algorithm, at = _der(info, at)
        tag_key, octets, _ = _der(info, at)
        if tag != 0x30 or tag_alg != 0x30 or _P256_OID not in algorithm or tag_key != 0x04:
            return None
        _, ec_key, _ = _der(octets, 0)
        _, _, at = _der(ec_key, 0)  # ECPrivateKey version
        tag_d, d, _ = _der(ec_key, at)
    except (IndexError, ValueError):
        return None
    return int.from_bytes(d, "big") if tag_d == 0x04 and len(d) == 32 else None


def _load_key(key_pem: bytes, path: Path) -> Any:
    scalar = _p256_scalar(key_pem)
    if scalar is not None:
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            return ec.derive_private_key(scalar, ec.SECP256R1())
        except ValueError:
            pass  # not a valid P-256 number: let the full parser say what is wrong
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise InputFileError("the signing key is password-protected; give an unencrypted PEM key", path) from None
    except ValueError:
        raise InputFileError("not a PEM private key", path) from None


def _alg_of(private: Any, path: Path) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    if isinstance(private, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private.curve.name)
        if alg:
            return alg
        raise InputFileError(f"EC curve {private.curve.name} cannot sign C2PA (use P-256, P-384 or P-521)", path)
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    if isinstance(private, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return "ed25519"
    raise InputFileError("unsupported key type (use EC P-256/P-384/P-521, RSA or Ed25519)", path)
