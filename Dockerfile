# The hanzi-grader image: the worker (`hanzi worker`), the migrations (`hanzi db upgrade`) and
# Flower all run from it (see docker-compose.yml).
FROM python:3.11-slim

# The GPU build of TensorFlow (CUDA libraries from pip) replaces the CPU-only one that
# pyproject.toml names; pass --build-arg TENSORFLOW=tensorflow-cpu for a CPU-only image.
ARG TENSORFLOW="tensorflow[and-cuda]>=2.16,<2.22"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    HANZI_HOME=/var/lib/hanzi

RUN useradd --create-home --uid 10001 hanzi \
    && mkdir -p /var/lib/hanzi && chown hanzi /var/lib/hanzi

WORKDIR /app

# Dependencies first, so that code changes do not reinstall TensorFlow.
COPY pyproject.toml README.md LICENSE ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('tensorflow')))" > /tmp/requirements.txt \
    && pip install "${TENSORFLOW}" -r /tmp/requirements.txt "flower>=2.0"

COPY hanzi_grader ./hanzi_grader
COPY models ./models
COPY worker ./worker
COPY producer ./producer
COPY scans ./scans
COPY migrations ./migrations
COPY api ./api
RUN pip install --no-deps .

USER hanzi
CMD ["hanzi", "worker", "--no-migrate"]
