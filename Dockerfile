# clara in a container: built in one stage, run from a slim Debian image as a non-root user,
# with the shipped root (written by `clara init`) in the volume /clara. compose.yaml runs it
# beside PostgreSQL with pgvector; see the README's "Deploying".

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p clara \
    && strip target/release/clara

FROM debian:bookworm-slim
# curl answers the health check; postgresql-client gives `clara backup` pg_dump for Postgres.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /home/clara --shell /usr/sbin/nologin clara \
    && mkdir /clara \
    && chown clara:clara /clara
COPY --from=build /src/target/release/clara /usr/local/bin/clara
COPY deploy/postgres-store.toml /usr/local/share/clara/postgres-store.toml
USER 10001:10001
# The shipped root, plus a store `postgres` that CLARA_DEFAULTS__STORE=postgres selects.
RUN clara init /clara \
    && cat /usr/local/share/clara/postgres-store.toml >> /clara/clara.toml
WORKDIR /clara
VOLUME ["/clara"]
ENV CLARA_ROOT=/clara \
    CLARA_STATUS__BIND=0.0.0.0:8787 \
    CLARA_RUNTIME__LOG_FORMAT=json
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["curl", "--fail", "--silent", "--max-time", "4", "http://127.0.0.1:8787/health"]
ENTRYPOINT ["clara"]
CMD ["run"]
