# -*- coding: utf-8 -*-
# Copyright: (c) 2026, defender.endpoint contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate credentials: one PEM with the private key and the certificate, checked before sign-in."""

from __future__ import annotations

import datetime

from ansible_collections.defender.endpoint.plugins.module_utils.errors import DefenderConfigError


def load_certificate_credential(path, password=None, now=None):
    """msal's certificate credential dict from a PEM file; clear errors for the usual mistakes."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
    except ImportError:
        raise DefenderConfigError("the Python library 'cryptography' is required for certificate credentials "
                                  "(pip install 'PyJWT[crypto]')") from None
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise DefenderConfigError("cannot read client_certificate_path %s: %s" % (path, exc.strerror)) from None
    if b"PRIVATE KEY-----" not in data:
        raise DefenderConfigError("client_certificate_path %s holds no private key: the PEM must contain the "
                                  "private key and the certificate" % path)
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise DefenderConfigError("client_certificate_path %s holds no certificate: the PEM must contain the "
                                  "private key and the certificate" % path)
    encrypted = b"ENCRYPTED" in data.split(b"-----END", 1)[0] or b"BEGIN ENCRYPTED PRIVATE KEY" in data
    if encrypted and not password:
        raise DefenderConfigError("the private key in %s is encrypted: set client_certificate_password" % path)
    try:
        key = serialization.load_pem_private_key(data, password=password.encode("utf-8") if password else None)
    except TypeError:
        # A password was given for a key that is not encrypted.
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError:
        raise DefenderConfigError("cannot load the private key in %s: wrong client_certificate_password, "
                                  "or not a supported key" % path) from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise DefenderConfigError("cannot read the certificate in %s" % path) from None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    not_after = cert.not_valid_after_utc
    if not_after < now:
        raise DefenderConfigError("the certificate in %s expired on %s: upload a new one to the app registration"
                                  % (path, not_after.strftime("%Y-%m-%d")))
    if cert.not_valid_before_utc > now:
        raise DefenderConfigError("the certificate in %s is not valid before %s" % (path, cert.not_valid_before_utc))
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise DefenderConfigError("the private key in %s does not belong to its certificate" % path)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
    return {
        "private_key": key_pem,
        "thumbprint": cert.fingerprint(hashes.SHA1()).hex().upper(),  # nosec: the x5t the protocol asks for
        "public_certificate": cert_pem,
    }
