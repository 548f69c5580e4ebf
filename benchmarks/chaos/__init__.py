"""The chaos run of issue 25: no job lost or doubled while workers die and servers restart.

``python -m benchmarks.chaos`` starts a Redis (append-only file fsynced on every write) and a
Postgres cluster of its own on free ports, migrates the database with `hanzi db upgrade`,
starts `hanzi worker` processes (one pool process each) under a supervisor, and producer
processes that send every job id once through ``producer.client`` (``producer``). Meanwhile
it SIGKILLs pool processes and whole workers at random moments (a killed worker comes back
after a short pause), and restarts Redis (SIGTERM: a clean shutdown that reloads its
append-only file) and Postgres (``pg_ctl restart -m fast``), spread over the run (``events``).
Once every job is stored, or the broker has drained, it counts the attempts in Postgres
(``tally``): a job id without an attempt is lost, one with more than one is doubled.

``run.run(ChaosConfig(...))`` is the run as a function; ``tests/integration/test_chaos.py``
calls it at a smaller size.
"""
