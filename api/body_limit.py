"""Refusing request bodies over the size limit (413) before they are read into memory.

A declared Content-Length over the limit is answered at once; a body without one (chunked)
is counted as it arrives and refused once it passes the limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from hanzi_grader.api.problems import Problem, problem_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: request bodies of at most ``max_bytes``, or of the limit
    ``limits_by_path`` gives their exact path (the desk's upload of a stack of scans)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int,
                 limits_by_path: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.limits_by_path = dict(limits_by_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits_by_path.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            detail = f"request body is {int(declared)} bytes, over the limit of {limit} bytes"
            await problem_response(413, detail)(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                # Raised inside the route's body read, so the problem handlers answer it.
                raise Problem(413, f"request body passed the limit of {limit} bytes")
            return message

        await self.app(scope, counting_receive, send)

