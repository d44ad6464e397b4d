# syntax=docker/dockerfile:1.7
# One image for every pod: operator, bot, collector, funding service (`perpdex <command>`).
# Base images pinned by digest (a tag can be re-pushed, a digest cannot): bump a tag and its digest together.
ARG PYTHON_IMAGE=python:3.11.11-slim-bookworm@sha256:081075da77b2b55c23c088251026fb69a7b2bf92471e491ff5fd75c192fd38e5
ARG RUST_IMAGE=rust:1.83.0-slim-bookworm@sha256:c5bf976be6d358b7dc6113fe0ef179077244dff8fdd9c3bec1bcd14677d1f902

# Rust toolchain, only to build the starknet-crypto-py wheel that paradex-py needs (no binary wheel exists).
FROM ${RUST_IMAGE} AS rust

FROM ${PYTHON_IMAGE} AS build
ARG UV_VERSION=0.13.9
# sha256 of the uv ${UV_VERSION} wheels on PyPI (manylinux x86_64, aarch64): pip installs nothing else
ARG UV_SHA256_AMD64=d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19
ARG UV_SHA256_ARM64=5435c5ce14a56431208ca0996416d310f1598e8c2c8ba707688985a16bb82dbe
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
RUN printf 'uv==%s --hash=sha256:%s --hash=sha256:%s\n' "${UV_VERSION}" "${UV_SHA256_AMD64}" "${UV_SHA256_ARM64}" \
      > /tmp/uv-requirements.txt \
 && pip install --no-deps --only-binary=:all: --require-hashes -r /tmp/uv-requirements.txt \
 && rm /tmp/uv-requirements.txt
WORKDIR /src
# dependencies first (cached layer): exactly the lock, all extras (six venue SDKs, operator, funding service), no dev tools
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --all-extras --no-install-project
COPY bot_runtime ./bot_runtime
COPY funding_service ./funding_service
COPY operator ./operator
# not perpdex_dev: the dev helpers (pod runner, local stack) are never deployed; `perpdex dev` says so in the image
COPY crds ./crds
RUN uv sync --frozen --no-dev --all-extras --no-editable

FROM ${PYTHON_IMAGE} AS runtime
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
