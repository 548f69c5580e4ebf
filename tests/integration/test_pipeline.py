"""The whole path on the real Redis and Postgres with a real `celery worker` process."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from celery import Celery
from hanzi_grader.models.results import Verdict

from tests.integration.conftest import ROOT, hanzi, json_lines, queue_drained, wait_for
from tests.worker.images import blank_png, character_png

pytestmark = pytest.mark.integration

CHARACTERS = "永水人大中国学生日月山木火土口手目心天上"
VERDICTS = {v.value for v in Verdict}


def write_images(folder: Path, count: int, *, start: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"{i:03d}.png"
        path.write_bytes(character_png(CHARACTERS[i % len(CHARACTERS)], shift=i))
        paths.append(path)
    return paths


def submitted(done: subprocess.CompletedProcess) -> dict[str, str]:
    """job id -> path, from `hanzi submit --json`."""
    return {item["job_id"]: item["path"] for item in json_lines(done.stdout)}


def test_200_images_from_a_producer_process_end_as_200_attempts(worker, service_env, rows,
                                                                 tmp_path):
    # Given 200 images submitted by a separate producer process
    paths = write_images(tmp_path / "sheet", 200)
    jobs = submitted(hanzi("submit", str(tmp_path / "sheet"), "--student", "bulk",
                           "--target", "永", "--sheet", "sheet-200", "--json", env=service_env))
    assert len(jobs) == 200

    # When the worker has graded them
    found = wait_for(lambda: (found := rows("student_id = 'bulk'")) and len(found) == 200 and found,
                     timeout=180, what="200 attempts in Postgres")

    # Then each job is one attempt with the right fields
    assert {r["job_id"] for r in found} == set(jobs)
    digests = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    for row in found:
        assert row["status"] == "done", row["error"]
        assert row["image_sha256"] == digests[jobs[row["job_id"]]]
        assert row["target"] == "永" and row["sheet_id"] == "sheet-200"
        assert len(row["predicted"]) == 5 and row["predicted_char"] == row["predicted"][0]["char"]
        assert 0.0 <= row["confidence"] <= 1.0
        assert row["verdict"] in VERDICTS and row["similarity"] is not None
        assert row["model_version"] and row["worker"].startswith("itest@")
        assert row["processed_at"] >= row["created_at"]
        assert row["recognize_ms"] > 0 and row["queue_ms"] >= 0
    # and the worker batched them
    sizes = Counter(row["batch_size"] for row in found)
    assert max(sizes) > 1, sizes
    assert max(sizes) <= 32  # HANZI_FLUSH_EVERY


def test_the_same_job_id_twice_gives_one_attempt(worker, service_env, redis_url, rows,
                                                  tmp_path):
    [image] = write_images(tmp_path, 1)
    first = hanzi("submit", str(image), "--student", "dup", "--job-id", "dup-job-1",
                  "--json", env=service_env)
    second = hanzi("submit", str(image), "--student", "dup", "--job-id", "dup-job-1",
                   "--wait", "--timeout", "120", "--json", env=service_env)

    assert json_lines(first.stdout)[0]["job_id"] == "dup-job-1"
    [result] = json_lines(second.stdout)
    assert result["job_id"] == "dup-job-1" and result["status"] == "done"
    # Both deliveries handled: nothing queued, nothing awaiting its acknowledgement
    wait_for(lambda: queue_drained(redis_url), timeout=60, what="both deliveries handled")
    assert len(rows("job_id = 'dup-job-1'")) == 1
    assert len(rows("student_id = 'dup'")) == 1


def test_a_poison_job_among_good_ones_fails_alone(worker, service_env, rows, tmp_path):
    folder = tmp_path / "mixed"
    write_images(folder, 8)
    (folder / "004_poison.png").write_bytes(b"this is not an image at all")
    (folder / "005_blank.png").write_bytes(blank_png())

    done = hanzi("submit", str(folder), "--student", "poison", "--wait", "--timeout", "120",
                 "--json", env=service_env)

    results = {Path(r["path"]).name: r for r in json_lines(done.stdout)}
    assert len(results) == 10
    for name in ("004_poison.png", "005_blank.png"):
        assert results[name]["status"] == "failed"
        assert results[name]["error_type"] == "InvalidImage"
    good = [r for name, r in results.items() if name not in ("004_poison.png", "005_blank.png")]
    assert [r["status"] for r in good] == ["done"] * 8
    stored = {r["job_id"]: r for r in rows("student_id = 'poison'")}
    assert len(stored) == 10
    assert stored[results["004_poison.png"]["job_id"]]["error"]


def test_malformed_payloads_are_recorded_as_failed_attempts(worker, service_env, rows):
    send = (
        "from hanzi_grader.worker.app import app\n"
        "app.send_task('hanzi.grade', kwargs={'job': 'junk'}, task_id='malformed-1')\n"
        "app.send_task('hanzi.grade', kwargs={'job': {'student': 'poison2', 'image': 12}},"
        " task_id='malformed-2')\n"
    )
    subprocess.run([sys.executable, "-c", send], env=service_env, cwd=ROOT, check=True,
                   timeout=60)

    found = wait_for(lambda: len(rows("job_id LIKE 'malformed-%'")) == 2
                     and rows("job_id LIKE 'malformed-%'"), timeout=60, what="2 failed attempts")

    by_id = {r["job_id"]: r for r in found}
    assert by_id["malformed-1"]["error_type"] == "InvalidJob"
    assert by_id["malformed-1"]["student_id"] is None
    assert by_id["malformed-2"]["error_type"] == "InvalidImage"
    assert by_id["malformed-2"]["student_id"] == "poison2"
    assert all(r["status"] == "failed" for r in found)


def test_a_pickled_message_is_refused(worker, service_env, rows, tmp_path):
    publish_pickle = (
        "from kombu import Connection\n"
        "from hanzi_grader.worker.app import GRADE_QUEUE, app\n"
        "with Connection(app.conf.broker_url) as connection:\n"
        "    connection.Producer().publish(\n"
        "        ((), {'job': {'student': 'pickler'}}, {}), serializer='pickle',\n"
        "        routing_key=GRADE_QUEUE, exchange='',\n"
        "        headers={'lang': 'py', 'task': 'hanzi.grade', 'id': 'pickled-1'})\n"
    )
    subprocess.run([sys.executable, "-c", publish_pickle], env=service_env, cwd=ROOT,
                   check=True, timeout=60)
    [image] = write_images(tmp_path, 1)

    # A job sent after it is graded, and the pickled one left no trace
    done = hanzi("submit", str(image), "--student", "pickler", "--wait", "--json",
                 env=service_env)

    assert json_lines(done.stdout)[0]["status"] == "done"
    wait_for(lambda: worker_log_mentions(worker, "pickle"), timeout=30,
             what="the worker to log the refused message")
    assert rows("job_id = 'pickled-1'") == []
    assert worker["process"].poll() is None


def test_history_figures_match_the_rows(worker, service_env, rows, tmp_path):
    for target, start in (("永", 0), ("水", 3)):
        folder = tmp_path / target
        write_images(folder, 3, start=start)
        hanzi("submit", str(folder), "--student", "hist", "--target", target, "--wait",
              "--json", env=service_env)
    (tmp_path / "bad.png").write_bytes(b"nope")
    hanzi("submit", str(tmp_path / "bad.png"), "--student", "hist", "--wait", env=service_env)

    history = json.loads(hanzi("history", "hist", "--json", env=service_env).stdout)

    stored = rows("student_id = 'hist'")
    assert history["attempt_count"] == len(stored) == 7
    assert history["failed_count"] == 1
    assert [a["job_id"] for a in history["attempts"]] == [r["job_id"] for r in stored]
    expected = {}
    for row in stored:
        if row["status"] == "done" and row["target"]:
            total, correct = expected.get(row["target"], (0, 0))
            expected[row["target"]] = (total + 1, correct + (row["verdict"] == "correct"))
    assert {s["char"]: (s["attempts"], s["correct"]) for s in history["per_character"]} == expected
    assert all(s["accuracy"] < 1 for s in history["weakest"])


def test_status_names_the_consuming_worker(worker, service_env, redis_url):
    status = json.loads(hanzi("status", "--json", env=service_env).stdout)

    assert len(status["workers"]) == 1 and status["workers"][0].startswith("itest@")
    assert status["broker"] == redis_url and status["queued"] == 0


def worker_log_mentions(worker: dict, text: str) -> bool:
    return text in worker["log"].read_text(errors="replace")


def test_each_job_of_a_batch_is_shown_to_flower_as_a_task_event(worker, service_env, redis_url,
                                                                 tmp_path):
    # Given a listener on the broker's event stream, as Flower listens
    events: list[dict] = []
    listener = Celery(broker=redis_url)
    with listener.connection_for_read() as connection:
        receiver = listener.events.Receiver(
            connection, handlers={"task-succeeded": events.append})
        thread = threading.Thread(target=receiver.capture, kwargs={"wakeup": False},
                                  daemon=True)
        thread.start()  # subscribed long before the producer process below has started
        try:
            # When a few jobs are graded
            write_images(tmp_path / "watched", 3)
            jobs = submitted(hanzi("submit", str(tmp_path / "watched"), "--student", "watched",
                                   "--wait", "--json", env=service_env))
            # Then each has a task-succeeded event carrying its batch's size
            wait_for(lambda: set(jobs) <= {e["uuid"] for e in events}, timeout=30,
                     what="task-succeeded events for the 3 jobs")
        finally:
            receiver.should_stop = True
            thread.join(timeout=10)
    assert all(e["batch_size"] >= 1 and e["runtime"] > 0 for e in events if e["uuid"] in jobs)


def test_demo_pointed_at_redis_and_postgres_runs_on_them(service_env, rows, tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "01_永.png").write_bytes(character_png("永"))
    (folder / "02_水.png").write_bytes(character_png("水"))

    done = hanzi("demo", str(folder), "--student", "demo-on-services", env=service_env)

    assert done.stdout.startswith(f"broker {service_env['HANZI_BROKER_URL']}, database postgresql")
    assert "student demo-on-services: 2 attempts (0 failed)" in done.stdout
    assert {r["target"] for r in rows("student_id = 'demo-on-services'")} == {"永", "水"}

    # A second demo is answered from the stored attempts: the history does not grow.
    again = hanzi("demo", str(folder), "--student", "demo-on-services", env=service_env)
    assert "student demo-on-services: 2 attempts (0 failed)" in again.stdout
    assert len(rows("student_id = 'demo-on-services'")) == 2
