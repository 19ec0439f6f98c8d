"""The master station's API users, kept in its storage.

Theory of operation. A user has a name, a role (viewer, operator, supervisor: what each may do
is :mod:`wattguard.station.commands`'s rule) and one bearer token. Tokens come from a secure
random source (:func:`new_token`: 192 bits from ``secrets``), are shown once when made, and
are stored only as their SM3 digest, so a copy of the database holds no usable token; a lost
token is replaced (:meth:`UserDirectory.reissue`), which also ends the old one. A disabled user
keeps their row (commands and audit entries name them) but no token of theirs is accepted.
Making, reissuing and disabling are entries in the station's SM3-chained audit trail.

The tokens are random and long, so one unsalted SM3 digest is enough to keep them from being
read back (nobody can guess 192 bits, so there is nothing for a slow hash to slow down); the
lookup is by digest, so nothing compares secrets byte by byte.

``UserDirectory.get(token)`` is what the REST API calls on every request
(:func:`wattguard.station.api.create_app`); `wattguard users add|list|token|disable` manage
the users of a station's database from the command line.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping

from wattguard.crypto import sm3
from wattguard.errors import ConfigError
from wattguard.station.commands import Role, User
from wattguard.station.records import UserRecord
from wattguard.station.storage import Storage

__all__ = ["MIN_TOKEN_LENGTH", "UserDirectory", "new_token", "token_digest"]

_NAME = re.compile(r"[a-z][a-z0-9._-]{0,31}")
#: The shortest token accepted when one is given rather than made (tests, fixed demos).
MIN_TOKEN_LENGTH = 12


def new_token() -> str:
    """A new bearer token: 32 URL-safe characters, 192 random bits."""
    return secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    """What is stored of a token: its SM3 digest in hex."""
    return sm3.hash(token.encode("utf-8")).hex()


def _role(value: Role | str) -> Role:
    if isinstance(value, Role):
        return value
    try:
        return Role[str(value).upper()]
    except KeyError:
        names = ", ".join(role.name.lower() for role in Role)
        raise ConfigError(f"unknown role {value!r}: one of {names}") from None


class UserDirectory:
    """The station's API users in its storage: add, reissue a token, disable, and find the user
    of a bearer token (stored only as its SM3 digest)."""

    def __init__(
        self,
        storage: Storage,
        clock: Callable[[], float],
        audit: Callable[[str, str], None] | None = None,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.audit = audit

    def _record(self, action: str, detail: str) -> None:
        if self.audit is not None:
            self.audit(action, detail)

    def _check_token(self, token: str) -> str:
        if len(token) < MIN_TOKEN_LENGTH or not token.isprintable() or " " in token:
            raise ConfigError(
                f"a token is at least {MIN_TOKEN_LENGTH} printable characters without spaces"
            )
        digest = token_digest(token)
        if self.storage.user_by_token(digest) is not None:
            raise ConfigError("that token is already some user's: make a new one")
        return digest

    def add(self, name: str, role: Role | str, token: str) -> User:
        """Make a user with ``token`` (from :func:`new_token`); refuses a name already taken."""
        if not _NAME.fullmatch(name):
            raise ConfigError(
                f"a user name is 1-32 of a-z, 0-9, '.', '_', '-', starting with a letter, "
                f"not {name!r}"
            )
        if self.storage.user(name) is not None:
            raise ConfigError(
                f"user {name!r} exists: `wattguard users token {name}` gives them a new token"
            )
        made = _role(role)
        digest = self._check_token(token)
        self.storage.save_user(UserRecord(name, made.name, digest, self.clock()))
        self._record("user added", f"{name} ({made.name.lower()})")
        return User(name, made)

    def reissue(self, name: str, token: str) -> None:
        """Replace ``name``'s token (the old one stops working at once); re-enables them."""
        current = self._existing(name)
        digest = self._check_token(token)
        self.storage.save_user(UserRecord(name, current.role, digest, current.created))
        self._record("user token reissued", name)

    def disable(self, name: str) -> None:
        """Stop accepting ``name``'s token; their row, commands and audit entries stay."""
        current = self._existing(name)
        if current.disabled is None:
            self.storage.save_user(
                UserRecord(name, current.role, current.token_digest, current.created, self.clock())
            )
            self._record("user disabled", name)

    def _existing(self, name: str) -> UserRecord:
        current = self.storage.user(name)
        if current is None:
            raise ConfigError(f"no user {name!r}: `wattguard users list` shows who there is")
        return current

    def get(self, token: str) -> User | None:
        """The enabled user whose token this is, else None (the API answers 401)."""
        found = self.storage.user_by_token(token_digest(token))
        if found is None or found.disabled is not None:
            return None
        return User(found.name, Role[found.role])

    def enabled(self, name: str) -> User | None:
        """The enabled user ``name`` with their role now (a station rule's owner), else None."""
        found = self.storage.user(name)
        if found is None or found.disabled is not None:
            return None
        return User(found.name, Role[found.role])

    def list(self) -> list[UserRecord]:
        return self.storage.users()

    def ensure(self, users: Mapping[str, User]) -> None:
        """Make sure each (token, user) holds: a deployment's fixed users. A user that exists
        gets this token and role; the change is audited like any other."""
        for token, user in users.items():
            current = self.storage.user(user.name)
            digest = token_digest(token)
            if current is None:
                self.add(user.name, user.role, token)
            elif current.token_digest != digest or current.role != user.role.name:
                self.storage.save_user(
                    UserRecord(user.name, user.role.name, digest, current.created)
                )  # as reissue() does: made when it was made, enabled again
                self._record("user token reissued", user.name)
