# Container image of `tocsin` (README "Running several instances").
#
#   docker build -t tocsin .
#   docker run --rm -v $PWD/tocsin.toml:/etc/tocsin/tocsin.toml:ro -v tocsin-state:/var/lib/tocsin tocsin
#
# The built-in rules are compiled into the binary; mount a rules directory and set [rules] dir to
# use your own. GeoIP databases are not included (licences): mount them and set [geoip].

FROM rust:1.86-bookworm AS build
# librdkafka is built from source by the rdkafka crate.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential cmake python3 zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin tocsin

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/tocsin tocsin \
 && mkdir -p /var/lib/tocsin /etc/tocsin \
 && chown tocsin /var/lib/tocsin
COPY --from=build /src/target/release/tocsin /usr/local/bin/tocsin
USER 10001
WORKDIR /var/lib/tocsin
# The API ([api] listen must be 0.0.0.0:8088 in the mounted configuration to be reachable).
EXPOSE 8088
# SIGTERM drains, checkpoints (and writes the partitions' state to the changelog) and exits 0
# within 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tocsin"]
CMD ["run", "--config", "/etc/tocsin/tocsin.toml"]
