# The serving image: gunicorn, Flask and onnxruntime from requirements/serve.txt, nothing else.
#   buildah build --build-arg VERSION=1.4.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) --build-arg SOURCE=https://... .
# The model is not in the image: an init container fetches the pinned version into
# MODEL_DIR (/models), and the app verifies MODEL_SHA256 before it reports ready.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# Dependencies first, from the lock alone, so code changes reuse this layer.
COPY requirements/serve.txt /src/requirements/serve.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /src/requirements/serve.txt
COPY pyproject.toml README.md /src/
COPY app /src/app
COPY modelstore /src/modelstore
COPY bot /src/bot
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /src

FROM ${PYTHON_IMAGE}
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
COPY --from=build /opt/venv /opt/venv
# Writable paths at run time are /tmp (metrics files, gunicorn heartbeats) and /models.
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
ENTRYPOINT ["gunicorn", "--config", "python:app.gunicorn_conf", "app:create_app()"]
