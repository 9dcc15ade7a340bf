# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate credentials from generated PEMs: the good cases and a clear error for each usual mistake."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.defender.endpoint.plugins.module_utils.certificates import load_certificate_credential
from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError

PASSWORD = "correct horse battery staple"
NOW = datetime.datetime.now(datetime.timezone.utc)


def _key():
    if not hasattr(_key, "cached"):
        _key.cached = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _key.cached


def _cert(key, not_before=None, not_after=None):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "defender-app")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - datetime.timedelta(days=1))
            .not_valid_after(not_after or NOW + datetime.timedelta(days=365))
            .sign(key, hashes.SHA256()))


def _key_pem(key, password=None, fmt=serialization.PrivateFormat.PKCS8):
    enc = serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, enc)


def _write(tmp_path, *parts, name="app.pem"):
    path = tmp_path / name
    path.write_bytes(b"".join(parts))
    return str(path)


def _cert_pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def test_key_and_cert(tmp_path):
    key = _key()
    cert = _cert(key)
    cred = load_certificate_credential(_write(tmp_path, _key_pem(key), _cert_pem(cert)))
    assert cred["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert "BEGIN PRIVATE KEY" in cred["private_key"]
    assert "BEGIN CERTIFICATE" in cred["public_certificate"]


def test_cert_before_key_and_traditional_rsa_format(tmp_path):
    key = _key()
    pem = _write(tmp_path, _cert_pem(_cert(key)), _key_pem(key, fmt=serialization.PrivateFormat.TraditionalOpenSSL))
    assert load_certificate_credential(pem)["thumbprint"]


def test_ec_key(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    assert load_certificate_credential(_write(tmp_path, _key_pem(key), _cert_pem(_cert(key))))


def test_encrypted_key_with_password(tmp_path):
    key = _key()
    path = _write(tmp_path, _key_pem(key, PASSWORD), _cert_pem(_cert(key)))
    cred = load_certificate_credential(path, PASSWORD)
    assert "ENCRYPTED" not in cred["private_key"]  # msal gets the decrypted key, in memory only


def test_encrypted_traditional_key_with_password(tmp_path):
    key = _key()
    path = _write(tmp_path, _key_pem(key, PASSWORD, serialization.PrivateFormat.TraditionalOpenSSL),
                  _cert_pem(_cert(key)))
    assert load_certificate_credential(path, PASSWORD)


def test_encrypted_key_without_password(tmp_path):
    key = _key()
    path = _write(tmp_path, _key_pem(key, PASSWORD), _cert_pem(_cert(key)))
    with pytest.raises(DefenderConfigError, match="encrypted: set client_certificate_password"):
        load_certificate_credential(path)


def test_wrong_password(tmp_path):
    key = _key()
    path = _write(tmp_path, _key_pem(key, PASSWORD), _cert_pem(_cert(key)))
    with pytest.raises(DefenderConfigError) as info:
        load_certificate_credential(path, "wrong-password-123")
    assert "wrong client_certificate_password" in str(info.value)
    assert "wrong-password-123" not in str(info.value) and PASSWORD not in str(info.value)


def test_password_for_unencrypted_key_is_tolerated(tmp_path):
    key = _key()
    path = _write(tmp_path, _key_pem(key), _cert_pem(_cert(key)))
    assert load_certificate_credential(path, "unused")


def test_pem_without_key(tmp_path):
    path = _write(tmp_path, _cert_pem(_cert(_key())))
    with pytest.raises(DefenderConfigError, match="holds no private key"):
        load_certificate_credential(path)


def test_pem_without_certificate(tmp_path):
    path = _write(tmp_path, _key_pem(_key()))
    with pytest.raises(DefenderConfigError, match="holds no certificate"):
        load_certificate_credential(path)


def test_expired_certificate(tmp_path):
    key = _key()
    cert = _cert(key, NOW - datetime.timedelta(days=400), NOW - datetime.timedelta(days=35))
    path = _write(tmp_path, _key_pem(key), _cert_pem(cert))
    with pytest.raises(DefenderConfigError) as info:
        load_certificate_credential(path)
    assert "expired on %s" % cert.not_valid_after_utc.strftime("%Y-%m-%d") in str(info.value)
    assert "upload a new one" in str(info.value)


def test_not_yet_valid_certificate(tmp_path):
    key = _key()
    cert = _cert(key, NOW + datetime.timedelta(days=2), NOW + datetime.timedelta(days=30))
    with pytest.raises(DefenderConfigError, match="not valid before"):
        load_certificate_credential(_write(tmp_path, _key_pem(key), _cert_pem(cert)))


def test_key_of_another_certificate(tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = _write(tmp_path, _key_pem(other), _cert_pem(_cert(_key())))
    with pytest.raises(DefenderConfigError, match="does not belong to its certificate"):
        load_certificate_credential(path)


def test_unreadable_file(tmp_path):
    with pytest.raises(DefenderConfigError, match="cannot read client_certificate_path"):
        load_certificate_credential(str(tmp_path / "missing.pem"))


def test_garbage_key(tmp_path):
    path = _write(tmp_path, b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                  _cert_pem(_cert(_key())))
    with pytest.raises(DefenderConfigError, match="cannot load the private key"):
        load_certificate_credential(path)


def test_der_file(tmp_path):
    path = _write(tmp_path, _cert(_key()).public_bytes(serialization.Encoding.DER), name="app.cer")
    with pytest.raises(DefenderConfigError, match="holds no private key"):
        load_certificate_credential(path)
