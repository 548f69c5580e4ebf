"""Reading an upload that comes as multipart/form-data or as JSON with the file in base64.

Jobs and sheets both take one file either way. FastAPI reads one content type per route, so
both bodies are read here by hand, and the OpenAPI description of the two is given by
``upload_body``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from fastapi import Request
from hanzi_grader.api.problems import Problem, validation_detail
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

MULTIPART, JSON = "multipart/form-data", "application/json"
Model = TypeVar("Model", bound=BaseModel)


def upload_body(form_properties: dict[str, Any], json_model: type[BaseModel]) -> dict[str, Any]:
    """The route's ``openapi_extra``: a multipart form of ``image`` (a file) and
    ``form_properties``, or ``json_model`` as JSON; ``image`` and ``student`` required."""
    properties = {"image": {"type": "string", "format": "binary"}, **form_properties}
    return {"requestBody": {"required": True, "content": {
        MULTIPART: {"schema": {"type": "object", "required": ["image", "student"],
                               "properties": properties}},
        JSON: {"schema": {"$ref": f"#/components/schemas/{json_model.__name__}"}},
    }}}


def content_kind(request: Request) -> str:
    """``MULTIPART`` or ``JSON``, else a 415 problem."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in (MULTIPART, JSON):
        raise Problem(415, f"send multipart/form-data or application/json, not "
                           f"{kind or 'nothing'}")
    return kind


async def read_form(request: Request, fields: tuple[str, ...]) -> tuple[UploadFile, dict[str, str]]:
    """The uploaded ``image`` and the non-empty text ``fields`` sent beside it; a 422
    problem for a missing file or a field not in ``fields``."""
    # The body's size is already capped by BodySizeLimit; the fields are small.
    form = await request.form(max_files=1, max_fields=len(fields) + 1)
    upload = form.get("image")
    if not isinstance(upload, UploadFile):
        raise Problem(422, "image: a file is required (multipart field `image`)")
    unknown = sorted(set(form.keys()) - {"image", *fields})
    if unknown:
        raise Problem(422, f"unknown field(s) {', '.join(unknown)}; known: image, "
                           f"{', '.join(fields)}")
    return upload, {k: v for k, v in form.items() if isinstance(v, str) and v != ""}


def read_json(body: bytes, model: type[Model]) -> Model:
    """``body`` parsed as ``model``, or a 422 problem saying what is wrong."""
    try:
        return model.model_validate(json.loads(body))
    except json.JSONDecodeError as error:
        raise Problem(422, f"body is not JSON: {error}") from None
    except ValidationError as error:
        raise Problem(422, validation_detail(error.errors())) from None


def decode_base64(text: str) -> bytes:
    """The image a JSON body carries, or a 422 problem."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise Problem(422, f"image is not valid base64 ({error})") from None
