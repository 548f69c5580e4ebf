"""``hanzi worker``: start a batching recognition worker with sensible defaults."""

from __future__ import annotations

import click

from hanzi_grader.settings import get_settings, redact_url


@click.command()
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=None,
              help="Pool processes, each with its own model [default: HANZI_WORKER_CONCURRENCY, "
                   "1; use one per GPU].")
@click.option("--pool", type=click.Choice(["prefork", "solo"]), default="prefork",
              show_default=True, help="prefork loads the model in a child process; solo in this "
                                      "one.")
@click.option("-l", "--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.option("-n", "--hostname", default=None, help="Node name, e.g. worker1@%h.")
@click.option("--migrate/--no-migrate", default=None,
              help="Run the database migrations first [default: only on the embedded SQLite "
                   "database; with Postgres, the compose file's migrate service does it].")
def worker(concurrency: int | None, pool: str, loglevel: str, hostname: str | None,
           migrate: bool | None) -> None:
    """Start a batching recognition worker (Celery) on the configured broker.

    Jobs are graded in batches of up to HANZI_FLUSH_EVERY, or whatever arrived within
    HANZI_FLUSH_INTERVAL seconds. The worker logs the device TensorFlow uses (GPU or CPU)
    once the model is loaded in its pool process.
    """
    settings = get_settings()
    if migrate if migrate is not None else settings.database_url is None:
        _migrate()

    from hanzi_grader.worker.app import GRADE_QUEUE, app

    click.echo(
        f"hanzi worker: broker {redact_url(app.conf.broker_url)}, database "
        f"{redact_url(settings.effective_database_url)}, batches of up to {settings.flush_every} "
        f"jobs or {settings.flush_interval} s",
        err=True,
    )
    # Pool processes read the concurrency from the app's configuration (one GPU each).
    app.conf.worker_concurrency = concurrency or settings.worker_concurrency
    argv = ["worker", f"--loglevel={loglevel.upper()}", f"--pool={pool}", "-Q", GRADE_QUEUE,
            f"--concurrency={app.conf.worker_concurrency}"]
    if hostname:
        argv += ["--hostname", hostname]
    if not settings.embedded:
        app.worker_main(argv)
        return
    # The embedded broker cannot answer a ping: the lock tells commands a worker is running.
    from hanzi_grader.worker.presence import worker_lock

    with worker_lock(settings):
        app.worker_main(argv)


def _migrate() -> None:
    from hanzi_grader import database

    try:
        database.upgrade()
    except Exception as error:
        raise click.ClickException(f"cannot migrate {redact_url(database.database_url())}: "
                                   f"{type(error).__name__}: "
                                   f"{str(error).splitlines()[0]}") from None


@click.command("webhook-worker")
@click.option("-c", "--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Deliveries at once (threads: each mostly waits on the network).")
@click.option("-l", "--loglevel", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
@click.option("-n", "--hostname", default=None, help="Node name, e.g. webhooks1@%h.")
def webhook_worker(concurrency: int, loglevel: str, hostname: str | None) -> None:
    """Deliver the HTTP API's webhooks (signed POSTs, retried with back-off).

    A worker of its own, on threads and without the model, so that a slow receiver never
    holds up grading. Needs a real broker (Redis).
    """
    from hanzi_grader.worker.app import WEBHOOK_QUEUE, app

    if get_settings().embedded:
        raise click.ClickException("webhooks need a real broker: set HANZI_BROKER_URL")
    argv = ["worker", f"--loglevel={loglevel.upper()}", "--pool=threads", "-Q", WEBHOOK_QUEUE,
            f"--concurrency={concurrency}", "--hostname", hostname or "webhooks@%h"]
    app.worker_main(argv)
