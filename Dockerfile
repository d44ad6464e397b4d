# syntax=docker/dockerfile:1.7
# One image for every pod: operator, bot, collector, funding service (`perpdex <command>`).
ARG PYTHON_VERSION=3.11.11
ARG RUST_VERSION=1.83.0

# Rust toolchain, only to build the starknet-crypto-py wheel that paradex-py needs (no binary wheel exists).
FROM rust:${RUST_VERSION}-slim-bookworm AS rust

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG UV_VERSION=0.13.9
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    CARGO_HOME=/usr/local/cargo \
    RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH
COPY --from=rust /usr/local/cargo /usr/local/cargo
COPY --from=rust /usr/local/rustup /usr/local/rustup
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config \
 && rm -rf /var/lib/apt/lists/*
RUN pip install "uv==${UV_VERSION}"
WORKDIR /src
# dependencies first (cached layer): exactly the lock, all extras (six venue SDKs, operator, funding service), no dev tools
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --all-extras --no-install-project
COPY bot_runtime ./bot_runtime
COPY funding_service ./funding_service
COPY operator ./operator
COPY perpdex_dev ./perpdex_dev
COPY crds ./crds
RUN uv sync --frozen --no-dev --all-extras --no-editable

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="perp-dex-operator" \
      org.opencontainers.image.description="Kubernetes-native trading bots for perpetual DEXes: operator, bot runtime, funding service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://example.invalid/perp-dex-operator"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp \
    HOME=/tmp
COPY --from=build /opt/venv /opt/venv
# numeric, non-root; works with readOnlyRootFilesystem (only /tmp, an emptyDir, is written)
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["perpdex"]
CMD ["--help"]
