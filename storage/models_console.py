"""The web console's one-time links and login sessions (plugins/console).

Only SHA-256 digests of the tokens are stored: a copy of the database does not
let anyone log in or download.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

LINK_LOGIN = "login"
LINK_DOWNLOAD = "download"


class ConsoleLink(SQLModel, table=True):
    """A single-use link sent in private chat: a login (10 min) or a download (1 h)."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    account: str = Field(index=True)
    purpose: str  # login | download
    path: str = ""  # download: file name inside the exports directory
    label: str = ""  # download: the name the browser saves it as
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None


class ConsoleSession(SQLModel, table=True):
    """A browser's login: 8 hours, ended early by ``/后台 退出``."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    account: str = Field(index=True)
    csrf: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
