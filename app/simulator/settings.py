"""Simulator settings: read once from `SIM_*` variables and passed in."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SimulatorSettings(BaseSettings):
    """Startup configuration; the build/expiry/failure knobs can change later via `/_sim/config`."""

    model_config = SettingsConfigDict(env_prefix="SIM_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=0, le=65535)
    build_seconds: float = Field(default=8.0, ge=0.0)
    expire_after_s: float = Field(default=86400.0, ge=0.0)
    fail_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    seed: int = 7
    seed_partners: bool = True
    # Where packages, partners and exports are kept across restarts (the dev stack sets it
    # beside its Redis data); unset, everything lives in memory only.
    state_file: Path | None = None
