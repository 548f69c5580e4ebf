"""A producer process for the fault tests: ``python -m tests.integration.producing SPEC``.

SPEC is JSON: ``{"prefix": "p", "good": 2000, "poison": false, "student": "s"}``, or
``{"prefix": "p", "sheets": [PATH, ...], "expect": "永水人"}`` for whole sheets (ids
``p-sheet-0``...). Good jobs
(small character PNGs, ids ``p-good-0``...) go through ``producer.client.submit_many``; with
``poison`` each poison payload goes between good ones, and a pickled message and the client's
own refusals are tried too. Prints JSON: ``{"good": [...], "poison": {name: id},
"pickled": id, "refused": {name: reason}}``. It runs in its own process with the test's
environment, as a platform's producer would, so that it talks to the test's broker.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.integration.conftest import ROOT

GOOD_IMAGES = 24  # distinct images, repeated: job ids are what must be unique


def produce(env: dict[str, str], **spec: Any) -> dict[str, Any]:
    """Run the producer process with ``env``; the job ids it sent."""
    done = subprocess.run([sys.executable, "-m", "tests.integration.producing", json.dumps(spec)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"producer exited {done.returncode}:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def start_producing(env: dict[str, str], **spec: Any) -> subprocess.Popen:
    """The same, in the background: read its JSON from ``.communicate()``."""
    return subprocess.Popen([sys.executable, "-m", "tests.integration.producing",
                             json.dumps(spec)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def main(spec: dict[str, Any]) -> dict[str, Any]:
    from hanzi_grader.producer import client

    from tests.worker.images import character_png

    prefix, student = spec["prefix"], spec.get("student", spec["prefix"])
    if "sheets" in spec:
        return {"sheets": [client.submit_sheet(path, student=student,
                                               sheet_id=f"{prefix}-sheet-{i}",
                                               layout={"expect": spec["expect"]})
                           for i, path in enumerate(spec["sheets"])]}
    pool = [character_png("永水人大中国学生日月山木"[i % 12], shift=i) for i in range(GOOD_IMAGES)]
    count = spec.get("good", 0)
    good_ids = [f"{prefix}-good-{i}" for i in range(count)]
    sent: dict[str, Any] = {"good": good_ids, "poison": {}, "pickled": None, "refused": {}}
    if not spec.get("poison"):
        client.submit_many([pool[i % GOOD_IMAGES] for i in range(count)], student=student,
                           job_ids=good_ids)
        return sent
    sent |= _send_poison(prefix, student, [pool[i % GOOD_IMAGES] for i in range(count)],
                         good_ids)
    return sent


def _send_poison(prefix: str, student: str, images: list[bytes],
                 good_ids: list[str]) -> dict[str, Any]:
    from hanzi_grader.producer import client
    from hanzi_grader.worker.app import GRADE_QUEUE, GRADE_TASK, app
    from hanzi_grader.worker.jobs import make_payload
    from kombu import Connection

    from hanzi_grader.errors import HanziError
    from hanzi_grader.settings import get_settings
    from tests.integration import poison

    def job_id(name: str) -> str:
        return f"{prefix}-poison-{name}"

    bad = poison.payloads(job_id, student=student,
                          max_image_bytes=get_settings().max_image_bytes)
    goods = iter(zip(images, good_ids, strict=True))
    with app.producer_or_acquire() as producer:
        # Each poison between good jobs, so that they share batches.
        for name, payload in bad.items():
            for image, good_id in [next(goods, (None, None)) for _ in range(2)]:
                if image is not None:
                    app.send_task(GRADE_TASK, task_id=good_id, queue=GRADE_QUEUE,
                                  producer=producer,
                                  kwargs={"job": make_payload(image, job_id=good_id,
                                                              student=student)})
            app.send_task(GRADE_TASK, kwargs={"job": payload}, task_id=job_id(name),
                          queue=GRADE_QUEUE, producer=producer)
    rest = list(goods)
    if rest:
        client.submit_many([i for i, _ in rest], student=student, job_ids=[j for _, j in rest])
    pickled = job_id("pickle-serialised")
    with Connection(app.conf.broker_url) as connection:
        connection.Producer().publish(
            poison.pickled_message(student), serializer="pickle", routing_key=GRADE_QUEUE,
            exchange="",
            headers={"lang": "py", "task": GRADE_TASK, "id": pickled})
    refused = {}
    for name, attempt in {
        "client-empty-bytes": lambda: client.submit(b"", student=student),
        "client-oversized": lambda: client.submit(
            b"x" * (get_settings().max_image_bytes + 1), student=student),
        "client-target-outside-3755": lambda: client.submit(images[0], student=student,
                                                            target="國"),
        "client-missing-student": lambda: client.submit(images[0], student=""),
    }.items():
        try:
            attempt()
            refused[name] = None  # not refused: the test fails on it
        except HanziError as error:
            refused[name] = f"{type(error).__name__}: {error}"
    return {"poison": {name: job_id(name) for name in bad}, "pickled": pickled,
            "refused": refused}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
