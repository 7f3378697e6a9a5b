# MetalOSC daemon image. Build: docker build -t metalosc .
# Run: docker run --network host --ulimit rtprio=10 metalosc   (rtprio: real-time event loop)
# A serving-only environment: the daemon and its workers decode the bundles' ONNX decoders on
# ONNX Runtime, so neither TensorFlow, Magenta nor note_seq is installed (nor the training package).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    METALOSC_HOST=0.0.0.0 \
    METALOSC_LOG_FORMAT=json

RUN pip install --no-cache-dir uv \
    && useradd --system --home-dir /opt/metalosc --shell /usr/sbin/nologin metalosc

WORKDIR /opt/metalosc
# Dependencies first, so code changes do not re-download them. Every member's pyproject is
# needed to read the workspace's lock; only the server's dependencies are installed.
COPY pyproject.toml uv.lock ./
COPY protocol/pyproject.toml protocol/
COPY runtime/pyproject.toml runtime/
COPY server/pyproject.toml server/
COPY training/pyproject.toml training/
COPY bench/reliability/pyproject.toml bench/reliability/
RUN mkdir -p protocol/src/metalosc/protocol runtime/src/metalosc/runtime server/src/metalosc/server \
        training/src/metalosc/training bench/reliability/src/metalosc/reliability \
    && uv sync --frozen --no-dev --package metalosc-server --no-install-workspace

COPY protocol protocol
COPY runtime runtime
COPY server server
COPY models models
RUN uv sync --frozen --no-dev --package metalosc-server && chown -R root:root /opt/metalosc

USER metalosc
EXPOSE 9000/udp
ENTRYPOINT ["/opt/metalosc/.venv/bin/metalosc", "serve"]
CMD ["--models", "/opt/metalosc/models/default"]
