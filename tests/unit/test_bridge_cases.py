"""bridge/cases.py: the signed snapshot is read and built once per head and scope, also for many callers at once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.cases import case_item, case_story
from trayapp.bridge.cases import CaseSnapshots
from trayapp.bridge.ingest import FrameSigner
from trayapp.bridge.scope import scope_of
from trayapp.bridge.store import OpenCases
from trayapp.bridge.store_sqlite import SQLiteStore
from trayapp.core import cases


class Counting(SQLiteStore):
    reads = 0

    async def open_cases(self) -> OpenCases:
        self.reads += 1
        return await super().open_cases()


async def test_one_read_per_head_shared_by_concurrent_callers(tmp_path: Path) -> None:
    signer = FrameSigner()
    signer.key, signer.epoch = Ed25519PrivateKey.generate(), "e"
    store = Counting(tmp_path)
    await store.open(signer)
    try:
        for i, payload in enumerate(case_story()):
            await store.append(case_item(payload, time.time() + i))
        snapshots = CaseSnapshots(store, signer)
        everyone = await asyncio.gather(*(snapshots.signed(None) for _ in range(50)))
        assert store.reads == 1 and len(set(everyone)) == 1
        text, sig = everyone[0]
        assert cases.verify_snapshot(signer.key.public_key(), text, sig).head == len(case_story())
        sales = await snapshots.signed(scope_of(["SALES"]))
        assert store.reads == 1
        assert [(c["case_id"][:1], c["department"]) for c in json.loads(sales[0])["cases"]] == [
            ("1", None), ("2", "Sales")]  # unassigned and Sales (the hostile case has a department of its own)
        await store.append(case_item({"event": "case.new", "data": {"case": {"id": 99}}}, time.time()))
        assert (await snapshots.signed(None)) != everyone[0] and store.reads == 2
    finally:
        await store.close()
