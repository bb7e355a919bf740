# Confab: build in one stage, run from a slim image as an unprivileged user.
# Stages: build; compat (the twilio-python compatibility suite, for
# docker-compose.yml's `tests` profile); runtime, the server, last so that a
# plain `docker build .` gives it.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY src src
COPY migrations migrations
COPY static static
COPY benches benches
RUN cargo build --release --locked --bin confab

# tests/compat against a running cluster (CONFAB_COMPAT_BASE_URL); the binary
# is here for `confab admin` (accounts) against the cluster's database.
FROM python:3.12-slim-bookworm AS compat
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home compat
WORKDIR /opt/confab
COPY tests/compat/requirements.txt tests/compat/requirements.txt
RUN pip install --no-cache-dir --disable-pip-version-check -r tests/compat/requirements.txt
COPY --from=build /src/target/release/confab /usr/local/bin/confab
COPY tests/compat tests/compat
USER compat
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
CMD ["python", "-m", "pytest", "-q", "-o", "cache_dir=/tmp/pytest-cache", "tests/compat"]

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/confab --create-home confab
COPY --from=build /src/target/release/confab /usr/local/bin/confab
USER confab
WORKDIR /var/lib/confab
ENV CONFAB_BIND=0.0.0.0:8080 \
    CONFAB_DATA_DIR=/var/lib/confab \
    CONFAB_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["confab"]
CMD ["serve"]
