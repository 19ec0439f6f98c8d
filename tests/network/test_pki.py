"""The utility PKI: X.509 certificates and CRLs with SM2, checked both by us and by openssl."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattguard.crypto import _der, sm2
from wattguard.errors import ConfigError
from wattguard.network import _x509, pki
from wattguard.network.pki import Role
from wattguard.testing import DAY
from wattguard.testing import T0 as NOW

ID_OPTION = "distid:1234567812345678"  # OpenSSL 3.0's CLI defaults to an empty SM2 ID


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, capture_output=True, check=check)


@pytest.fixture(scope="module")
def ca() -> pki.CertificateAuthority:
    return pki.CertificateAuthority.create("wattguard root CA", NOW - DAY)


@pytest.fixture(scope="module")
def terminal(ca: pki.CertificateAuthority) -> tuple[sm2.PrivateKey, pki.Certificate]:
    key = sm2.PrivateKey.generate()
    return key, ca.issue("000000000001", Role.TERMINAL, key.public_key, NOW - DAY)


def _leaf(ca: pki.CertificateAuthority, role: Role = Role.TERMINAL, **kw: float) -> pki.Certificate:
    return ca.issue("000000000042", role, sm2.PrivateKey.generate().public_key, NOW - DAY, **kw)


# ------------------------------------------------------------------------- the codec


def test_issued_certificate_round_trips_and_carries_the_profile(
    ca: pki.CertificateAuthority, terminal: tuple[sm2.PrivateKey, pki.Certificate]
) -> None:
    key, certificate = terminal
    again = pki.Certificate.from_der(certificate.to_der())
    assert again == certificate
    assert pki.Certificate.from_pem(certificate.to_pem()) == certificate
    assert certificate.name == "000000000001" and certificate.role == "terminal"
    assert certificate.public_key == key.public_key
    assert certificate.issuer == ca.certificate.subject
    assert certificate.not_before == int(NOW - DAY)
    assert certificate.not_after == int(NOW - DAY + pki.DEFAULT_VALIDITY)
    assert not certificate.is_ca
    assert certificate.key_usage == pki.KeyUsage.DIGITAL_SIGNATURE | pki.KeyUsage.KEY_AGREEMENT
    assert certificate.authority_key_id == ca.certificate.subject_key_id
    assert ca.certificate.is_ca and ca.certificate.issuer == ca.certificate.subject
    assert str(certificate.subject) == "O=wattguard utility, OU=terminal, CN=000000000001"


def test_serials_count_up(ca: pki.CertificateAuthority) -> None:
    first, second = _leaf(ca), _leaf(ca)
    assert second.serial == first.serial + 1


def test_times_from_2050_are_generalized_time() -> None:
    later = 2_600_000_000.0  # 2052
    encoded = _x509.encode_time(later)
    assert encoded[0] == _der.GENERALIZED_TIME
    assert _x509.read_time(_der.Reader(encoded)) == int(later)
    assert _x509.encode_time(NOW)[0] == _der.UTC_TIME


@given(st.integers(min_value=1, max_value=(1 << 9) - 1))
def test_key_usage_bits_round_trip(value: int) -> None:
    usage = pki.KeyUsage(value)
    encoded = _x509._key_usage_to_bits(usage)
    body = _der.Reader(encoded).read(_der.BIT_STRING)
    assert _x509._key_usage_from_bits(body) == usage
    assert body[-1] & (1 << body[0]) != 0  # DER named bits: the last byte's last used bit is set


def test_key_usage_bits_match_x690_example() -> None:
    # digitalSignature + keyAgreement: bits 0 and 4 -> 1000 1xxx, three unused bits.
    encoded = _x509._key_usage_to_bits(pki.KeyUsage.DIGITAL_SIGNATURE | pki.KeyUsage.KEY_AGREEMENT)
    assert encoded == bytes.fromhex("03020388")


def test_every_truncation_is_malformed(terminal: tuple[sm2.PrivateKey, pki.Certificate]) -> None:
    der = terminal[1].to_der()
    for size in range(len(der)):
        with pytest.raises(pki.MalformedCertificateError):
            pki.Certificate.from_der(der[:size])
    with pytest.raises(pki.MalformedCertificateError):
        pki.Certificate.from_der(der + b"\x00")


@given(st.binary(max_size=600))
def test_random_bytes_are_malformed_not_a_crash(data: bytes) -> None:
    with pytest.raises(pki.MalformedCertificateError):
        pki.Certificate.from_der(data)
    with pytest.raises(pki.MalformedCertificateError):
        pki.RevocationList.from_der(data)


@given(st.data())
def test_every_bit_flip_is_refused(
    ca: pki.CertificateAuthority,
    terminal: tuple[sm2.PrivateKey, pki.Certificate],
    data: st.DataObject,
) -> None:
    der = bytearray(terminal[1].to_der())
    position = data.draw(st.integers(0, len(der) - 1))
    der[position] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(pki.CertificateError):
        pki.verify([pki.Certificate.from_der(bytes(der))], ca.certificate, NOW)


def test_pem_with_another_label_is_refused(
    terminal: tuple[sm2.PrivateKey, pki.Certificate],
) -> None:
    with pytest.raises(pki.MalformedCertificateError):
        pki.Certificate.from_pem(terminal[0].to_pem())
    with pytest.raises(pki.MalformedCertificateError):
        pki.RevocationList.from_pem(terminal[1].to_pem())


def _with_extension(certificate: pki.Certificate, extension: bytes) -> bytes:
    """The TBS of ``certificate`` with one more extension appended (to be re-signed)."""
    reader = _der.Reader(certificate.tbs).sub()
    fields = []
    while reader.peek_tag() != 0xA3:
        tag = reader.peek_tag()
        assert tag is not None
        fields.append(_der.tlv(tag, reader.read(tag)))
    extensions = _der.Reader(reader.read(0xA3)).read(_der.SEQUENCE)
    return _der.sequence(*fields, _der.context(3, _der.sequence(extensions, extension)))


def test_an_unknown_critical_extension_is_refused(ca: pki.CertificateAuthority) -> None:
    certificate = _leaf(ca)
    oid, value = "1.3.6.1.4.1.99999.1", _der.octet_string(b"x")
    critical = _with_extension(certificate, _x509.extension(oid, value, critical=True))
    with pytest.raises(pki.MalformedCertificateError):
        pki.Certificate.from_der(_x509.sign_structure(critical, ca.key))
    # The same extension, not critical, is read past.
    mild = _with_extension(certificate, _x509.extension(oid, value))
    assert pki.Certificate.from_der(_x509.sign_structure(mild, ca.key)).name == "000000000042"


# ------------------------------------------------------------------------- verification


def test_a_good_chain_verifies(
    ca: pki.CertificateAuthority, terminal: tuple[sm2.PrivateKey, pki.Certificate]
) -> None:
    crl = ca.crl(NOW)
    leaf = pki.verify([terminal[1]], ca.certificate, NOW, crl, role=Role.TERMINAL)
    assert leaf == terminal[1]
    # The root may travel with the chain.
    assert pki.verify([terminal[1], ca.certificate], ca.certificate, NOW, crl) == terminal[1]


def test_no_certificate_is_refused(ca: pki.CertificateAuthority) -> None:
    with pytest.raises(pki.NoCertificateError):
        pki.verify([], ca.certificate, NOW)


def test_another_ca_is_unknown(terminal: tuple[sm2.PrivateKey, pki.Certificate]) -> None:
    rogue = pki.CertificateAuthority.create("rogue CA", NOW - DAY)
    with pytest.raises(pki.UnknownIssuerError):
        pki.verify([terminal[1]], rogue.certificate, NOW)
    # A rogue CA with the very same name still fails: the key identifier differs...
    twin = pki.CertificateAuthority.create("wattguard root CA", NOW - DAY)
    with pytest.raises(pki.UnknownIssuerError):
        pki.verify([terminal[1]], twin.certificate, NOW)


def test_a_forged_signature_is_refused(ca: pki.CertificateAuthority) -> None:
    # ...and one that also copies the key identifier is caught by the signature itself.
    twin_key = sm2.PrivateKey.generate()
    forged = _x509.build_certificate(
        serial=99,
        issuer=ca.certificate.subject,
        subject=_x509.Name.build("000000000666", "terminal", "wattguard utility"),
        not_before=NOW - DAY,
        not_after=NOW + DAY,
        public_key=twin_key.public_key,
        issuer_key_id=ca.certificate.subject_key_id or b"",
        is_ca=False,
        key_usage=pki.KeyUsage.KEY_AGREEMENT,
        signer=twin_key,
    )
    with pytest.raises(pki.BadSignatureError):
        pki.verify([forged], ca.certificate, NOW)


def test_an_altered_certificate_is_refused(
    ca: pki.CertificateAuthority, terminal: tuple[sm2.PrivateKey, pki.Certificate]
) -> None:
    der = terminal[1].to_der()
    altered = pki.Certificate.from_der(der.replace(b"000000000001", b"000000000002"))
    assert altered.name == "000000000002"
    with pytest.raises(pki.BadSignatureError):
        pki.verify([altered], ca.certificate, NOW)


def test_validity_period(ca: pki.CertificateAuthority) -> None:
    leaf = _leaf(ca, validity=10 * DAY)
    pki.verify([leaf], ca.certificate, NOW + 8 * DAY)
    with pytest.raises(pki.CertificateExpiredError):
        pki.verify([leaf], ca.certificate, NOW + 10 * DAY)
    with pytest.raises(pki.NotYetValidError):
        pki.verify([leaf], ca.certificate, NOW - 2 * DAY)


def test_an_expired_root_is_refused() -> None:
    short = pki.CertificateAuthority.create("short-lived CA", NOW - DAY, validity=2 * DAY)
    leaf = _leaf(short)
    pki.verify([leaf], short.certificate, NOW)
    with pytest.raises(pki.CertificateExpiredError):
        pki.verify([leaf], short.certificate, NOW + 2 * DAY)


def test_revocation(ca: pki.CertificateAuthority) -> None:
    leaf, other = _leaf(ca), _leaf(ca)
    before = ca.crl(NOW)
    ca.revoke(leaf, NOW, pki.RevocationReason.KEY_COMPROMISE)
    after = ca.crl(NOW + 60)
    assert after.number == (before.number or 0) + 1
    assert after.is_revoked(leaf.serial) and not before.is_revoked(leaf.serial)
    entry = next(e for e in after.entries if e.serial == leaf.serial)
    assert entry.reason == pki.RevocationReason.KEY_COMPROMISE
    pki.verify([leaf], ca.certificate, NOW + 60, before)  # the old list did not know
    with pytest.raises(pki.RevokedError):
        pki.verify([leaf], ca.certificate, NOW + 60, after)
    pki.verify([other], ca.certificate, NOW + 60, after)
    with pytest.raises(ConfigError):
        ca.revoke(10**9, NOW)


def test_crl_must_be_current_genuine_and_present(ca: pki.CertificateAuthority) -> None:
    leaf = _leaf(ca)
    crl = ca.crl(NOW, validity=DAY)
    with pytest.raises(pki.RevocationUnavailableError):
        pki.verify([leaf], ca.certificate, NOW + 2 * DAY, crl)  # out of date
    with pytest.raises(pki.RevocationUnavailableError):
        pki.verify([leaf], ca.certificate, NOW, [])  # checking asked for, no CRL
    rogue = pki.CertificateAuthority.create("wattguard root CA", NOW - DAY)
    with pytest.raises(pki.BadSignatureError):
        pki.verify([leaf], ca.certificate, NOW, dataclasses.replace(crl, signature=bytes(64)))
    with pytest.raises(pki.BadSignatureError):  # same issuer name, other key
        pki.verify([leaf], ca.certificate, NOW, rogue.crl(NOW))


def test_wrong_role_and_ca_flag(ca: pki.CertificateAuthority) -> None:
    fep = _leaf(ca, Role.FEP)
    pki.verify([fep], ca.certificate, NOW, role=Role.FEP)
    with pytest.raises(pki.WrongRoleError):
        pki.verify([fep], ca.certificate, NOW, role=Role.TERMINAL)
    with pytest.raises(pki.WrongRoleError):  # a CA certificate is not a terminal
        pki.verify([_leaf(ca, Role.CA)], ca.certificate, NOW, role=Role.TERMINAL)
    with pytest.raises(pki.WrongRoleError):
        pki.verify([fep], ca.certificate, NOW, usage=pki.KeyUsage.KEY_CERT_SIGN)


def test_intermediate_ca_chain(ca: pki.CertificateAuthority) -> None:
    sub_key = sm2.PrivateKey.generate()
    sub = pki.CertificateAuthority(
        sub_key, ca.issue("province CA", Role.CA, sub_key.public_key, NOW - DAY)
    )
    leaf = _leaf(sub, Role.FEP)
    chain = [leaf, sub.certificate]
    crls = [ca.crl(NOW), sub.crl(NOW)]
    assert pki.verify(chain, ca.certificate, NOW, crls, role=Role.FEP) == leaf
    with pytest.raises(pki.UnknownIssuerError):
        pki.verify([leaf], ca.certificate, NOW)  # the intermediate is missing
    with pytest.raises(pki.RevocationUnavailableError):
        pki.verify(chain, ca.certificate, NOW, crls[:1])
    ca.revoke(sub.certificate, NOW)
    with pytest.raises(pki.RevokedError):
        pki.verify(chain, ca.certificate, NOW + 1, [ca.crl(NOW + 1), sub.crl(NOW + 1)])


def test_an_end_entity_cannot_issue(
    ca: pki.CertificateAuthority, terminal: tuple[sm2.PrivateKey, pki.Certificate]
) -> None:
    key, certificate = terminal
    victim = _x509.build_certificate(
        serial=7,
        issuer=certificate.subject,
        subject=_x509.Name.build("FEP-1", "fep", "wattguard utility"),
        not_before=NOW - DAY,
        not_after=NOW + DAY,
        public_key=sm2.PrivateKey.generate().public_key,
        issuer_key_id=certificate.subject_key_id or b"",
        is_ca=False,
        key_usage=pki.KeyUsage.KEY_AGREEMENT,
        signer=key,
    )
    with pytest.raises(pki.WrongRoleError):
        pki.verify([victim, certificate], ca.certificate, NOW, role=Role.FEP)


def test_trust_store_takes_only_newer_genuine_crls(ca: pki.CertificateAuthority) -> None:
    leaf = _leaf(ca)
    old = ca.crl(NOW)
    store = pki.TrustStore(ca.certificate, [old], now=NOW)
    store.verify([leaf], NOW)
    ca.revoke(leaf, NOW)
    new = ca.crl(NOW + 1)
    assert store.update_crl(new, NOW + 1)
    with pytest.raises(pki.RevokedError):
        store.verify([leaf], NOW + 1)
    assert not store.update_crl(old, NOW + 2)  # no rollback to the list without the serial
    assert store.crl_for(ca.certificate) == new
    rogue = pki.CertificateAuthority.create("wattguard root CA", NOW - DAY)
    with pytest.raises(pki.BadSignatureError):
        store.update_crl(rogue.crl(NOW + 3), NOW + 3)
    lax = pki.TrustStore(ca.certificate, now=NOW, require_crl=False)
    lax.verify([_leaf(ca)], NOW)
    with pytest.raises(pki.RevocationUnavailableError):
        pki.TrustStore(ca.certificate, now=NOW).verify([_leaf(ca)], NOW)


# ------------------------------------------------------------------------- openssl interop


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_openssl_parses_our_certificate(
    openssl_cli: str, tmp_path: Path, terminal: tuple[sm2.PrivateKey, pki.Certificate]
) -> None:
    path = _write(tmp_path / "leaf.pem", terminal[1].to_pem())
    text = _run(openssl_cli, "x509", "-in", path, "-noout", "-text").stdout.decode()
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert "ASN1 OID: SM2" in text
    assert "OU = terminal, CN = 000000000001" in text
    assert "Digital Signature, Key Agreement" in text
    assert "CA:FALSE" in text
    der = _run(openssl_cli, "x509", "-in", path, "-outform", "DER").stdout
    assert der == terminal[1].to_der()


def test_openssl_verifies_our_chain(
    openssl_cli: str, tmp_path: Path, ca: pki.CertificateAuthority
) -> None:
    sub_key = sm2.PrivateKey.generate()
    sub = pki.CertificateAuthority(
        sub_key, ca.issue("county CA", Role.CA, sub_key.public_key, NOW - DAY)
    )
    leaf = _leaf(sub, Role.FEP)
    root = _write(tmp_path / "root.pem", ca.certificate.to_pem())
    untrusted = _write(tmp_path / "sub.pem", sub.certificate.to_pem())
    good = _write(tmp_path / "leaf.pem", leaf.to_pem())
    # OpenSSL 3.0 applies -vfyopt to the certificate being verified only (intermediates are
    # checked with the empty ID), so each link is verified on its own, the intermediate as a
    # partial-chain anchor for the leaf.
    common = ["-attime", str(int(NOW)), "-vfyopt", ID_OPTION]
    link1 = _run(openssl_cli, "verify", *common, "-CAfile", root, untrusted)
    assert link1.stdout.strip().endswith(b"OK")
    link2 = _run(openssl_cli, "verify", *common, "-partial_chain", "-CAfile", untrusted, good)
    assert link2.stdout.strip().endswith(b"OK")
    common += ["-CAfile", root]
    # openssl really checks: a leaf from a same-named CA with another key is refused.
    twin = pki.CertificateAuthority.create("wattguard root CA", NOW - DAY)
    bad = _write(tmp_path / "bad.pem", _leaf(twin).to_pem())
    assert _run(openssl_cli, "verify", *common, bad, check=False).returncode != 0


def test_openssl_reads_our_crl_and_checks_its_signature(
    openssl_cli: str, tmp_path: Path, ca: pki.CertificateAuthority
) -> None:
    leaf = _leaf(ca)
    ca.revoke(leaf, NOW, pki.RevocationReason.SUPERSEDED)
    crl = ca.crl(NOW)
    path = _write(tmp_path / "crl.pem", crl.to_pem())
    text = _run(openssl_cli, "crl", "-in", path, "-noout", "-text").stdout.decode()
    assert "Version 2" in text and "SM2-with-SM3" in text
    assert f"Serial Number: {leaf.serial:02X}" in text
    assert "Superseded" in text and "CRL Number" in text
    # OpenSSL 3.0 checks CRL signatures with the empty SM2 ID only, so check ours with
    # pkeyutl under the standard's default ID, over the exact signed bytes.
    tbs = _write(tmp_path / "tbs", crl.tbs)
    signature = _write(tmp_path / "sig", sm2.signature_to_der(crl.signature))
    key = _write(tmp_path / "ca.pub", ca.certificate.public_key.to_pem())
    verify = [openssl_cli, "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin"]
    verify += ["-digest", "sm3", "-pkeyopt", ID_OPTION, "-in", tbs, "-sigfile", signature]
    assert b"Signature Verified Successfully" in _run(*verify).stdout


def test_we_verify_openssl_made_chain_and_crl(openssl_cli: str, tmp_path: Path) -> None:
    def run(*args: str) -> None:
        _run(openssl_cli, *args)

    (tmp_path / "index.txt").write_text("")
    (tmp_path / "serial").write_text("1000\n")
    (tmp_path / "crlnumber").write_text("01\n")
    config = _write(
        tmp_path / "ca.cnf",
        b"[ca]\ndefault_ca = wg\n[wg]\ndir = .\ndatabase = $dir/index.txt\n"
        b"serial = $dir/serial\ncrlnumber = $dir/crlnumber\nnew_certs_dir = $dir\n"
        b"default_md = sm3\ndefault_days = 30\ndefault_crl_days = 7\npolicy = any\n"
        b"[any]\ncommonName = supplied\n",
    )
    config_text = Path(config).read_text().replace("$dir", str(tmp_path))
    Path(config).write_text(config_text)
    files = {name: str(tmp_path / name) for name in ("ca.key", "ca.pem", "t.key", "t.csr")}
    run("genpkey", "-algorithm", "SM2", "-out", files["ca.key"])
    sign = ["-sm3", "-sigopt", ID_OPTION]
    run("req", "-x509", "-new", "-key", files["ca.key"], *sign, "-days", "30",
        "-subj", "/O=ossl/OU=ca/CN=OpenSSL CA", "-out", files["ca.pem"])  # fmt: skip
    leaves = []
    for number in (1, 2):
        run("genpkey", "-algorithm", "SM2", "-out", files["t.key"])
        run("req", "-new", "-key", files["t.key"], *sign, "-out", files["t.csr"],
            "-subj", f"/O=ossl/OU=terminal/CN=00000000000{number}")  # fmt: skip
        out = str(tmp_path / f"t{number}.pem")
        run("x509", "-req", "-in", files["t.csr"], "-CA", files["ca.pem"], "-CAkey",
            files["ca.key"], *sign, "-vfyopt", ID_OPTION, "-days", "5", "-out", out)  # fmt: skip
        leaves.append(pki.Certificate.from_pem(Path(out).read_bytes()))
    run("ca", "-config", config, "-batch", "-revoke", str(tmp_path / "t1.pem"), "-keyfile",
        files["ca.key"], "-cert", files["ca.pem"], "-crl_reason", "keyCompromise")  # fmt: skip
    crl_path = str(tmp_path / "crl.pem")
    run("ca", "-config", config, "-batch", "-gencrl", "-keyfile", files["ca.key"], "-cert",
        files["ca.pem"], *sign[1:], "-out", crl_path)  # fmt: skip
    root = pki.Certificate.from_pem(Path(files["ca.pem"]).read_bytes())
    crl = pki.RevocationList.from_pem(Path(crl_path).read_bytes())
    now = float(root.not_before + 60)
    assert crl.entries[0].reason == pki.RevocationReason.KEY_COMPROMISE
    assert pki.verify([leaves[1]], root, now, crl, role=Role.TERMINAL) == leaves[1]
    with pytest.raises(pki.RevokedError):
        pki.verify([leaves[0]], root, now, crl, role=Role.TERMINAL)


def test_trust_store_crl_cache_is_bound_to_the_issuer_key(ca: pki.CertificateAuthority) -> None:
    sub_key = sm2.PrivateKey.generate()
    sub = pki.CertificateAuthority(
        sub_key, ca.issue("district CA", Role.CA, sub_key.public_key, NOW - DAY)
    )
    store = pki.TrustStore(ca.certificate, [ca.crl(NOW)], now=NOW)
    assert store.update_crl(sub.crl(NOW), NOW, issuer=sub.certificate)
    leaf = _leaf(sub, Role.FEP)
    store.verify([leaf, sub.certificate], NOW, role=Role.FEP)
    # A fake intermediate of the same name (its own key, self-made certificate) cannot ride
    # on the genuine intermediate's verified CRL, nor on the root.
    fake_key = sm2.PrivateKey.generate()
    fake = pki.CertificateAuthority(
        fake_key,
        _x509.build_certificate(
            serial=sub.certificate.serial,
            issuer=ca.certificate.subject,
            subject=sub.certificate.subject,
            not_before=NOW - DAY,
            not_after=NOW + DAY,
            public_key=fake_key.public_key,
            issuer_key_id=ca.certificate.subject_key_id or b"",
            is_ca=True,
            key_usage=pki.KeyUsage.KEY_CERT_SIGN | pki.KeyUsage.CRL_SIGN,
            signer=fake_key,
        ),
    )
    with pytest.raises(pki.BadSignatureError):
        store.verify([_leaf(fake, Role.FEP), fake.certificate], NOW, role=Role.FEP)
