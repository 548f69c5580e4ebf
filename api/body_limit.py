"""Refusing request bodies over the size limit (413) before they are read into memory.

A declared Content-Length over the limit is answered at once; a body without one (chunked)
is counted as it arrives and refused once it passes the limit.
"""

from __future__ import annotations

from hanzi_grader.api.problems import Problem, problem_response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: request bodies of at most ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            detail = (f"request body is {int(declared)} bytes, over the limit of "
                      f"{self.max_bytes} bytes")
            await problem_response(413, detail)(scope, receive, send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                # Raised inside the route's body read, so the problem handlers answer it.
                raise Problem(413, f"request body passed the limit of {self.max_bytes} bytes")
            return message

        await self.app(scope, counting_receive, send)

