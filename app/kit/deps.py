"""The shared clients of an API process as FastAPI dependencies (provided by its lifespan)."""

from __future__ import annotations

from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends
from redis.asyncio import Redis

from app.kit.links import LinkSigner
from app.kit.pubsub import ChannelHub
from app.kit.ratelimit import RateLimiter
from app.kit.settings import Settings
from app.kit.state import Provided

SETTINGS = Provided[Settings]("settings")
REDIS = Provided[Redis]("redis")  # our own keys: responses decoded to str
QUEUE = Provided[ArqRedis]("queue")  # arq's side: raw bytes
HUB = Provided[ChannelHub]("hub")  # one pub/sub connection for every event stream of the process
LINKS = Provided[LinkSigner]("links")
LIMITER = Provided[RateLimiter]("limiter")

SettingsDep = Annotated[Settings, Depends(SETTINGS)]
RedisDep = Annotated[Redis, Depends(REDIS)]
QueueDep = Annotated[ArqRedis, Depends(QUEUE)]
LinksDep = Annotated[LinkSigner, Depends(LINKS)]
