"""The HTTP API for learning platforms (``hanzi api``): jobs, history, keys, health, metrics.

The top layer: it submits through ``producer.client`` like any other producer and reads
results from Postgres; nothing is graded in the web process.
"""
