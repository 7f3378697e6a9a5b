# MetalOSC daemon image. Build: docker build -t metalosc .
# Run: docker run --network host --ulimit rtprio=10 metalosc   (rtprio: real-time event loop)
# Health: `metalosc ping` (HEALTHCHECK below); metrics: 127.0.0.1:9410 on the host's network.
# A serving-only environment: the daemon and its workers decode the bundles' ONNX decoders on
# ONNX Runtime, so neither TensorFlow, Magenta nor note_seq is installed (nor the training package).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    METALOSC_HOST=0.0.0.0 \
    METALOSC_STATE_DIR=/var/lib/metalosc \
    METALOSC_LOG_FORMAT=json

# A fixed numeric id, so that orchestrators can tell the image runs as non-root (runAsNonRoot).
RUN pip install --no-cache-dir uv \
    && groupadd --system --gid 10001 metalosc \
    && useradd --system --uid 10001 --gid metalosc --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin metalosc

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
# The code and the models belong to root and are read-only to the daemon's user; saved scenes
# are kept in the state directory, a volume the daemon's user owns.
# Bytecode is compiled here, since none could be written at run time: without it every start of
# the daemon and of each model worker compiles every module it imports (READY 6.1 s instead of
# 2.6 s, bench/startup.py).
RUN uv sync --frozen --no-dev --compile-bytecode --package metalosc-server \
    && .venv/bin/python -m compileall -q protocol/src runtime/src server/src \
    && chown -R root:root /opt/metalosc \
    && mkdir -p /etc/metalosc /var/lib/metalosc && chown 10001:10001 /var/lib/metalosc
VOLUME /var/lib/metalosc

USER 10001:10001
# OSC control (UDP), OSCQuery (HTTP/JSON, TCP, same number), metrics (TCP); Zeroconf needs
# --network host to be seen on the LAN.
EXPOSE 9000/udp 9000/tcp 9410/tcp
# The health check reads the settings file the daemon reads, so it pings the port set there.
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 \
    CMD ["/opt/metalosc/.venv/bin/metalosc", "ping", "--config", "/etc/metalosc/metalosc.toml", \
        "--timeout", "5"]
ENTRYPOINT ["/opt/metalosc/.venv/bin/metalosc", "serve", "--config", "/etc/metalosc/metalosc.toml"]
CMD ["--models", "/opt/metalosc/models/default"]
