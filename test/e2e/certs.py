"""Test certificates, made with python3-cryptography: self-signed for a set
of names, optionally already expired, as one PEM file (chain, then key) the
way xmppd's certfiles expects."""

import datetime
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def make_key():
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_cert(path, names=('localhost',), expired=False, key=None, key_path=None):
    """Writes a self-signed certificate for names to path; its key goes into
    the same file unless key_path is given. Returns the key."""
    key = key or make_key()
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=365)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    with open(path, 'wb') as f:
        f.write(pem)
        if key_path is None:
            f.write(key_pem(key))
    if key_path is not None:
        with open(key_path, 'wb') as f:
            f.write(key_pem(key))
    os.chmod(path, 0o600)
    return key
