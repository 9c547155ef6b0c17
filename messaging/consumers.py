"""The envelope endpoint (`federation/v1/envelopes` on the mutual-TLS port).

A peer keeps this connection open and sends batches `{"type": "envelopes", "items": [...]}`;
each batch is answered `{"type": "acks", "results": [...]}` with one result per envelope, in
order. Checks and storage live in messaging.services; a frame that cannot be read at all gets
an error frame, an audit event, and the connection stays usable.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from federation import envelope as env
from messaging import services
from messaging.transport import MAX_BATCH_FRAME_BYTES
from peers.consumers import MutualTLSConsumer

MAX_BATCH_ITEMS = 1000
FRAME_DEPTH = env.MAX_DEPTH * 4  # the items are checked one by one against MAX_DEPTH


class EnvelopeConsumer(MutualTLSConsumer):
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        try:
            frame = env.loads(raw or b"", max_bytes=MAX_BATCH_FRAME_BYTES, max_depth=FRAME_DEPTH)
            items = self._items(frame)
        except env.EnvelopeError as exc:
            await database_sync_to_async(services.record_frame_refusal)(
                code=exc.code, message=str(exc), client_addr=self.client_addr
            )
            await self._send_error(exc.code, str(exc))
            return
        results = await database_sync_to_async(services.receive_batch)(
            items, client_fingerprint=self.client_fingerprint, client_addr=self.client_addr
        )
        await self._send({"type": "acks", "results": results})

    @staticmethod
    def _items(frame: Any) -> list[Any]:
        if not isinstance(frame, dict) or frame.get("type") != "envelopes" or not isinstance(frame.get("items"), list):
            raise env.EnvelopeError(env.SCHEMA, 'a frame is {"type": "envelopes", "items": [...]}')
        if not 0 < len(frame["items"]) <= MAX_BATCH_ITEMS:
            raise env.EnvelopeError(env.SCHEMA, f"a batch holds 1 to {MAX_BATCH_ITEMS} envelopes")
        return frame["items"]
