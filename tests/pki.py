"""A private CA for tests, made with openssl: a root, and leaf pairs it signs."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


def _san(names: list[str]) -> str:
    entries = []
    for name in names:
        try:
            ipaddress.ip_address(name)
        except ValueError:
            entries.append(f"DNS:{name}")
        else:
            entries.append(f"IP:{name}")
    return "subjectAltName=" + ",".join(entries)


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


# `openssl req` arguments for an ECDSA P-256 key (Mozilla's modern profile: ECDSA only).
EC_P256 = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")


@dataclass(frozen=True)
class PrivateCA:
    """A root CA in `directory` (ca.pem / ca-key.pem)."""

    directory: Path

    @property
    def cert(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def key(self) -> Path:
        return self.directory / "ca-key.pem"

    @classmethod
    def create(
        cls,
        directory: Path,
        name: str = "wsready test CA",
        newkey: tuple[str, ...] = ("-newkey", "rsa:2048"),
    ) -> PrivateCA:
        """A new root (RSA 2048 unless `newkey`, `openssl req` arguments, says otherwise)."""
        directory.mkdir(parents=True, exist_ok=True)
        ca = cls(directory)
        _openssl(
            "req", "-x509", *newkey, "-nodes", "-days", "30",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", str(ca.key), "-out", str(ca.cert),
        )  # fmt: skip
        return ca

    def issue(
        self,
        names: list[str],
        stem: str,
        days: int = 30,
        newkey: tuple[str, ...] = ("-newkey", "rsa:2048"),
        extensions_text: str = "",
    ) -> Pair:
        """A leaf pair for `names` (DNS names or IP addresses), signed by this CA: an RSA
        key unless `newkey` says otherwise (`openssl req` arguments), with
        `extensions_text` (openssl extension lines) added."""
        pair = Pair(self.directory / f"{stem}.pem", self.directory / f"{stem}-key.pem")
        request = self.directory / f"{stem}.csr"
        extensions = self.directory / f"{stem}.ext"
        extensions.write_text(
            f"{_san(names)}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
            + extensions_text
        )
        _openssl(
            "req", "-new", *newkey, "-nodes", "-subj", f"/CN={names[0]}",
            "-keyout", str(pair.key), "-out", str(request),
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self.key),
            "-CAcreateserial", "-days", str(days), "-extfile", str(extensions),
            "-out", str(pair.cert),
        )  # fmt: skip
        return pair
