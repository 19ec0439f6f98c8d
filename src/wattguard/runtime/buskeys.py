"""The bus's credentials on disk: one identity per service, and the NATS server's configuration.

``wattguard bus --init DIR --fep fep-1 --fep fep-2`` writes, for the station and each FEP:

* ``<name>.nk``: its NATS user NKey seed (the NATS server authenticates the connection with
  it: the server sends a nonce, the client signs it);
* ``<name>.sm2``: its SM2 signing key (PEM) for the envelopes of
  :mod:`wattguard.network.sealed_bus`;

both secret, created 0600 from the start and written atomically. And, public:

* ``directory.json``: every service's name, role, NKey public key and SM2 public key;
* ``nats-server.conf``: one NATS user per service, its NKey, and what it may publish and
  subscribe: an FEP publishes ``up.*`` and ``events.<its name>`` and subscribes ``down.*``;
  the station publishes ``down.*`` and ``answers.*`` and subscribes ``up.*``, ``events.*``
  and ``answers.*``; nobody else connects (a server with users refuses unauthenticated
  clients). For JetStream (``--jetstream``), each also gets the JetStream API and
  acknowledgement subjects of its own durable consumers only, the station alone may create
  and update the streams, and each service reads replies on its own inbox prefix
  (:func:`inbox_prefix`). Start the server with ``nats-server -js -c DIR/nats-server.conf``;
  ``authorization.conf`` holds the users block alone, for the nodes of a cluster to include
  (deploy/nats-cluster/).

Each service is given the folder and its own name, and reads only its own secret files.
``--add-fep NAME`` adds an FEP later and ``--remove NAME`` withdraws one (the directory and
configuration are rewritten; reload the server with ``nats-server --signal reload`` and
restart the station).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from wattguard.crypto import sm2
from wattguard.errors import ConfigError
from wattguard.network.bus import EVENTS
from wattguard.network.sealed_bus import BusDirectory, BusIdentity, BusRole, check_name
from wattguard.runtime.jetstream import DEFAULT_STREAMS, durable_name
from wattguard.secretfile import read_secret, write_secret

__all__ = [
    "BusCredentials",
    "add_fep",
    "authorization",
    "inbox_prefix",
    "init_bus",
    "load_credentials",
    "remove_fep",
    "server_config",
]

DIRECTORY = "directory.json"
SERVER_CONFIG = "nats-server.conf"
#: The users block alone, for a cluster's node configurations to include.
AUTHORIZATION = "authorization.conf"
STATION = "station"


@dataclass(frozen=True)
class BusCredentials:
    """What one service needs on the bus: its identity (SM2 key), everyone's public keys, and
    the file of its NATS NKey seed (nats-py reads it when it connects)."""

    identity: BusIdentity
    directory: BusDirectory
    nkey_seed: Path


def _write_public(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _new_nkey() -> tuple[bytes, str]:
    try:
        import nkeys  # type: ignore[import-untyped]  # no stubs; seeds only
    except ImportError:
        raise ConfigError("bus credentials need nkeys: pip install 'wattguard[nats]'") from None
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    pair = nkeys.from_seed(bytearray(seed))
    public = pair.public_key.decode()
    pair.wipe()
    return bytes(seed), public


def inbox_prefix(name: str) -> str:
    """The prefix of service ``name``'s reply subjects: its own, so that no service may read
    another's replies (JetStream's acknowledgements and fetched messages arrive there)."""
    return f"_INBOX_{check_name(name)}"


def _consumer(stream: str, durable: str) -> list[str]:
    """What a service needs to create, read and fetch from its durable pull consumer of
    ``stream`` and to acknowledge what it fetched (the JetStream API of nats-server 2.9+)."""
    api = "$JS.API.CONSUMER"
    return [
        f"{api}.INFO.{stream}.{durable}", f"{api}.DURABLE.CREATE.{stream}.{durable}",
        f"{api}.CREATE.{stream}.{durable}", f"{api}.CREATE.{stream}.{durable}.>",
        f"{api}.MSG.NEXT.{stream}.{durable}", f"$JS.ACK.{stream}.{durable}.>",
    ]  # fmt: skip


def _jetstream(role: str, name: str) -> list[str]:
    """The JetStream API and acknowledgement subjects ``name`` may publish on: the streams'
    information for everyone, their creation and update for the station only, and each
    service's own durable consumers only (least privilege)."""
    streams = {spec.subjects[0].split(".")[0]: spec.name for spec in DEFAULT_STREAMS}
    allowed = [f"$JS.API.STREAM.INFO.{stream}" for stream in streams.values()]
    if role == BusRole.FEP:
        return allowed + _consumer(streams["down"], durable_name(f"{name}-down.*"))
    for verb in ("CREATE", "UPDATE"):
        allowed += [f"$JS.API.STREAM.{verb}.{stream}" for stream in streams.values()]
    for subject in ("up", EVENTS, "answers"):
        allowed += _consumer(streams[subject], durable_name(f"{name}-{subject}.*"))
    return allowed


def _permissions(role: str, name: str) -> tuple[list[str], list[str]]:
    inbox = f"{inbox_prefix(name)}.>"
    if role == BusRole.FEP:
        return ["up.*", f"{EVENTS}.{name}", *_jetstream(role, name)], ["down.*", inbox]
    return (["down.*", "answers.*", *_jetstream(role, name)],
            ["up.*", f"{EVENTS}.*", "answers.*", inbox])  # fmt: skip


def authorization(entries: dict[str, dict[str, str]]) -> str:
    """The ``authorization`` block for the services in ``entries`` (the directory's form):
    one NKey user each, with what it may publish and subscribe. The cluster configuration of
    deploy/nats-cluster/ includes it as ``authorization.conf``."""
    users = []
    for name, entry in sorted(entries.items()):
        publish, subscribe = _permissions(entry["role"], name)
        users.append(
            f"    # {name} ({entry['role']})\n"
            f"    {{ nkey: {json.dumps(entry['nkey'])}, permissions: {{\n"
            f"        publish: {{ allow: {json.dumps(publish)} }},\n"
            f"        subscribe: {{ allow: {json.dumps(subscribe)} }} }} }}"
        )
    return (
        "# Only these users connect; each may publish and subscribe only where its role says.\n"
        "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n}\n"
    )


def server_config(entries: dict[str, dict[str, str]], listen: str = "127.0.0.1:4222") -> str:
    """The nats-server configuration for the services in ``entries`` (the directory's form)."""
    return (
        "# wattguard's bus: written by `wattguard bus`; start: nats-server -js -c THIS_FILE\n"
        f"listen: {json.dumps(listen)}\n" + authorization(entries)
    )


def _add(folder: Path, entries: dict[str, dict[str, str]], name: str, role: str) -> None:
    check_name(name)
    if name in entries:
        raise ConfigError(f"bus service {name!r} already exists in {folder}")
    seed, nkey_public = _new_nkey()
    key = sm2.PrivateKey.generate()
    write_secret(folder / f"{name}.nk", seed + b"\n")
    write_secret(folder / f"{name}.sm2", key.to_pem())
    entries[name] = {"role": role, "nkey": nkey_public, "sm2": key.public_key.to_bytes().hex()}


def _save(folder: Path, entries: dict[str, dict[str, str]], listen: str) -> None:
    _write_public(folder / DIRECTORY, json.dumps(entries, indent=2, sort_keys=True) + "\n")
    _write_public(folder / SERVER_CONFIG, server_config(entries, listen))
    _write_public(folder / AUTHORIZATION, authorization(entries))


def _entries(folder: Path) -> dict[str, dict[str, str]]:
    try:
        raw = json.loads((folder / DIRECTORY).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder} holds no bus credentials (wattguard bus --init)") from None
    except ValueError as exc:
        raise ConfigError(f"{folder / DIRECTORY} is not JSON: {exc}") from None
    BusDirectory.from_json(raw)  # validates
    return {str(k): {str(a): str(b) for a, b in v.items()} for k, v in raw.items()}


def init_bus(folder: Path, feps: list[str], listen: str = "127.0.0.1:4222") -> None:
    """Create the station's and each FEP's credentials, the directory and the server config."""
    if (folder / DIRECTORY).exists():
        raise ConfigError(f"{folder} already holds bus credentials; they are never overwritten")
    if not feps:
        raise ConfigError("name at least one FEP: --fep fep-1")
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # holds secret files
    entries: dict[str, dict[str, str]] = {}
    _add(folder, entries, STATION, BusRole.STATION)
    for name in feps:
        _add(folder, entries, name, BusRole.FEP)
    _save(folder, entries, listen)


def add_fep(folder: Path, name: str, listen: str = "127.0.0.1:4222") -> None:
    """Issue one more FEP's credentials and rewrite the directory and the server config."""
    entries = _entries(folder)
    _add(folder, entries, name, BusRole.FEP)
    _save(folder, entries, listen)


def remove_fep(folder: Path, name: str, listen: str = "127.0.0.1:4222") -> None:
    """Withdraw an FEP: its entry leaves the directory and the server config, and its secret
    files are deleted. It is shut out once the server reloads and the station restarts."""
    entries = _entries(folder)
    entry = entries.get(name)
    if entry is None or entry["role"] != BusRole.FEP:
        raise ConfigError(f"no FEP {name!r} in {folder}")
    del entries[name]
    _save(folder, entries, listen)
    for suffix in (".nk", ".sm2"):
        (folder / f"{name}{suffix}").unlink(missing_ok=True)


def load_credentials(folder: Path, name: str) -> BusCredentials:
    """Service ``name``'s credentials from ``folder``: its own secret files only."""
    directory = BusDirectory.from_json(_entries(folder))
    known = directory.services.get(check_name(name))
    if known is None:
        raise ConfigError(f"no bus service {name!r} in {folder} (wattguard bus --add-fep)")
    try:
        key = sm2.PrivateKey.from_pem(read_secret(folder / f"{name}.sm2"))
    except OSError as exc:
        raise ConfigError(f"cannot read {name}'s bus key: {exc}") from None
    if key.public_key != known[1]:
        raise ConfigError(f"{name}.sm2 does not match the directory's key for {name}")
    seed = folder / f"{name}.nk"
    try:
        read_secret(seed)  # refused if others can write it; nats-py reads it when it connects
    except OSError as exc:
        raise ConfigError(f"cannot read {name}'s NATS key: {exc}") from None
    return BusCredentials(BusIdentity(name, known[0], key), directory, seed)
