"""The Celery side: the app, its queues, and the batching recognition task."""
