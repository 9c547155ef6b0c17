"""The embedded broker: Kombu's filesystem transport with an atomic publish.

Kombu writes a message file in place (create, then lock, then write) while a consumer may move
and read it in between, without a lock — it then reads an empty file and the worker dies with
"Unrecoverable error: JSONDecodeError". Here a message is written under a name consumers ignore
and renamed into the queue when complete; a rename within a directory is atomic.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.partial")  # not "<queue>.msg": ignored by _get
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
