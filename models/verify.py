"""Workflow payloads of verify: every mapped record of a live connection compared with canonical."""

from __future__ import annotations

from pydantic import BaseModel

from models.webhook import DeltaChange


class VerifyInput(BaseModel):
    customer_id: str
    platform: str
    run_id: str
    #: Follow every drifted record as a platform change (what a lost webhook would have done).
    repair: bool = False


class VerifyTypeResult(BaseModel):
    entity_type: str
    checked: int
    in_sync: int
    drifted: int
    known: int
    missing: int
    #: Drifted records to follow (repair): platform id and the version read.
    follow: list[DeltaChange] = []


class VerifyResult(BaseModel):
    run_id: str
    types: list[VerifyTypeResult]
    repaired: int = 0
