"""The upload handler shared by `POST /v1/files` and `POST /_emulator/files`."""

from __future__ import annotations

from starlette.responses import Response

from filelinks_api import metrics
from filelinks_api.api.deps import Call
from filelinks_api.api.idempotency import idempotent
from filelinks_api.repository import Executor
from filelinks_api.schemas import CreateFileParams, EmulatorFileParams, render_file
from filelinks_api.services import files
from filelinks_api.storage import kept_only_on_success


async def upload(call: Call[CreateFileParams] | Call[EmulatorFileParams]) -> Response:
    """Check the staged bytes and move them into place, then record the row (the write lock
    is taken only then, not while the bytes were checked and synced)."""
    storage = call.runtime.storage
    async with kept_only_on_success(storage, call.staged):
        async with idempotent(call) as idem:
            prepared = await files.prepare(
                call.scope,
                call.params,
                call.staged,
                call.filename,
                storage,
                publishable=call.caller.publishable,
                now=call.now,
            )

            def record(db: Executor) -> dict[str, object]:
                view = files.record(db, call.scope, prepared, now=call.now)
                return render_file(view.file, view.links, now=call.now, base_url=call.base_url)

            response = await idem.respond(record)
            metrics.UPLOADED_BYTES.inc(prepared.row["size"])
            return response
