"""Independent checks of rootwasm's attestations, with other people's code.

Usage:
  attest_oracle.py verify-dsse ENVELOPE PUBKEY_PEM PAYLOAD_TYPE
      securesystemslib's DSSE Envelope + SSlibKey verify an envelope rootwasm
      signed; the key id rootwasm wrote must be the one securesystemslib
      computes, and the payload type must be the expected one.
  sign-dsse PRIVKEY_PEM PAYLOAD PAYLOAD_TYPE OUT
      securesystemslib signs PAYLOAD (CryptoSigner through a file2: key URI,
      so the PKCS#8 file is read the way securesystemslib reads key files).
  gen-key PRIVKEY_OUT PUBKEY_OUT
      securesystemslib generates an ed25519 key and writes PKCS#8 / SPKI PEM.
  openvex FILE SCHEMA
      jsonschema validates an OpenVEX document against the vendored schema.
  cyclonedx FILE
      cyclonedx-python-lib's strict JSON-schema validation (1.6).
Prints "valid" (or "signed"/"generated"), or the error and exits 1.
"""
import json
import sys


def fail(msg):
    print(msg)
    sys.exit(1)


def sslib_key(pub_pem_path):
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    with open(pub_pem_path, "rb") as f:
        return SSlibKey.from_crypto(load_pem_public_key(f.read()))


def verify_dsse(env_path, pub_path, payload_type):
    from securesystemslib.dsse import Envelope

    key = sslib_key(pub_path)
    with open(env_path) as f:
        data = json.load(f)
    # Before from_dict, which consumes the signature dicts.
    keyids = [s.get("keyid") for s in data["signatures"]]
    env = Envelope.from_dict(data)
    if env.payload_type != payload_type:
        fail(f"payloadType {env.payload_type!r}, expected {payload_type!r}")
    if key.keyid not in keyids:
        fail(f"no signature with securesystemslib's keyid {key.keyid}: {keyids}")
    try:
        env.verify([key], 1)
    except Exception as e:  # VerificationError and friends
        fail(f"verification failed: {e}")
    json.loads(env.payload)  # the payload is a JSON document
    print("valid")


def sign_dsse(priv_path, payload_path, payload_type, out):
    import os

    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import CryptoSigner, Signer, SSlibKey

    with open(priv_path, "rb") as f:
        public = SSlibKey.from_crypto(load_pem_private_key(f.read(), None).public_key())
    signer = Signer.from_priv_key_uri("file2:" + os.path.abspath(priv_path), public)
    assert isinstance(signer, CryptoSigner)
    with open(payload_path, "rb") as f:
        env = Envelope(f.read(), payload_type, {})
    env.sign(signer)
    with open(out, "w") as f:
        json.dump(env.to_dict(), f)
    print("signed", public.keyid)


def gen_key(priv_out, pub_out):
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
    )
    from securesystemslib.signer import CryptoSigner

    signer = CryptoSigner.generate_ed25519()
    with open(priv_out, "wb") as f:
        f.write(signer.private_bytes)
    pub = signer.public_key._crypto_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )
    with open(pub_out, "wb") as f:
        f.write(pub)
    print("generated", signer.public_key.keyid)


def openvex(path, schema_path):
    import jsonschema

    with open(schema_path) as f:
        schema = json.load(f)
    with open(path) as f:
        doc = json.load(f)
    v = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        fail("\n".join(f"{list(e.path)}: {e.message}" for e in errors))
    print("valid")


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        err = JsonStrictValidator(SchemaVersion.V1_6).validate_str(f.read())
    if err is not None:
        fail(str(err))
    print("valid")


cmd, args = sys.argv[1], sys.argv[2:]
{
    "verify-dsse": verify_dsse,
    "sign-dsse": sign_dsse,
    "gen-key": gen_key,
    "openvex": openvex,
    "cyclonedx": cyclonedx,
}[cmd](*args)
