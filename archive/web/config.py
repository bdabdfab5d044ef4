"""The web app's own settings (SOURCEVAULT_WEB_* environment), beside worker.settings.Settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCEVAULT_WEB_", extra="ignore")

    max_upload_bytes: int = Field(
        default=5 * 1024 * 1024, gt=0, description="largest digest upload or paste accepted"
    )
    users_file: Path | None = Field(
        default=None, description="users and API tokens; default <data dir>/web/users.json"
    )
    secret_file: Path | None = Field(
        default=None, description="session signing key; default <data dir>/web/secret.key"
    )
    session_hours: float = Field(default=12.0, gt=0, description="a login lasts this long")
    secure_cookies: bool = Field(
        default=False, description="mark cookies Secure (set it when served over HTTPS)"
    )
    origins: list[str] = Field(
        default_factory=list,
        description="public origins of the app (e.g. https://sourcevault.example.org) whose "
        "form posts are accepted although the Host header differs (a reverse proxy that "
        "rewrites Host); the app's own origin is always accepted",
    )

    @field_validator("origins", mode="after")
    @classmethod
    def _bare_origins(cls, value: list[str]) -> list[str]:
        return [v.strip().rstrip("/") for v in value]
