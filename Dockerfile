# Multi-stage build: the release binary on a slim base, rules baked in, database on a volume.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY .cargo ./.cargo
COPY src ./src
COPY rules ./rules
COPY migrations ./migrations
COPY benches ./benches
COPY examples ./examples
RUN cargo build --release --locked --bin triage

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /var/lib/triage triage \
    && mkdir -p /var/lib/triage /etc/triage \
    && chown triage /var/lib/triage
COPY --from=build /src/target/release/triage /usr/local/bin/triage
COPY rules /etc/triage/rules
USER triage
VOLUME ["/var/lib/triage"]
ENV DATABASE_URL=sqlite:///var/lib/triage/triage.db \
    TRIAGE_RULES=/etc/triage/rules \
    TRIAGE_LISTEN=0.0.0.0:8080
EXPOSE 8080
# TRIAGE_API_TOKEN is required at run time: the entrypoint refuses to expose an open API.
ENTRYPOINT ["/bin/sh", "-c", "if [ -z \"$TRIAGE_API_TOKEN\" ]; then echo 'error: set TRIAGE_API_TOKEN (docker run -e TRIAGE_API_TOKEN=...)' >&2; exit 2; fi; exec triage --log-format json serve \"$@\"", "triage"]
