# Confab: build in one stage, run from a slim image as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock build.rs rustfmt.toml ./
COPY src src
COPY migrations migrations
COPY static static
COPY benches benches
RUN cargo build --release --locked --bin confab

FROM debian:bookworm-slim
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
