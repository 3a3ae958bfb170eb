# syntax=docker/dockerfile:1
# netsensor image: the sensor (netsensor) and the admin tool (netsensor-admin) with the
# Elasticsearch requests and Kibana objects they install. Used by helm/netsensor and
# helm/netsensor-stack.
#
# Base images are pinned by digest. The digests were taken from public Dockerfiles that pin
# the same tags; no image can be pulled on the machines this repository is developed on, so
# this file is linted (checkov and hadolint, make checkov hadolint) but has not been built here. Check them before
# the first build: docker buildx imagetools inspect rust:1.95-slim-bookworm
# Builder and runtime are both Debian bookworm, so the binaries' glibc matches.

FROM rust:1.95-slim-bookworm@sha256:d7482085ff5b415f84dba5647ae71606650bdef00db7aeb69f4b3d170c3e4082 AS build
# libpcap for the capture; cmake and the curl, OpenSSL, SASL and zstd headers for librdkafka,
# which the rdkafka crate builds from source (docs/kafka.md).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      pkg-config libpcap-dev cmake make g++ \
      libcurl4-openssl-dev libssl-dev libsasl2-dev libzstd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p netsensor -p netsensor-admin \
 && install -D -m 0755 target/release/netsensor /out/usr/bin/netsensor \
 && install -D -m 0755 target/release/netsensor-admin /out/usr/bin/netsensor-admin \
 && mkdir -p /out/usr/share/netsensor \
 && cp -r elasticsearch kibana-objects /out/usr/share/netsensor/ \
 && install -D -m 0644 dev/config/netsensor.example.yaml /out/usr/share/doc/netsensor/netsensor.example.yaml

FROM debian:bookworm-slim@sha256:7b140f374b289a7c2befc338f42ebe6441b7ea838a042bbd5acbfca6ec875818
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The runtime libraries only: libpcap, and those librdkafka links dynamically (OpenSSL,
# SASL, curl, zstd). ca-certificates for https:// outputs that use the system roots.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libpcap0.8 libssl3 libsasl2-2 libcurl4 libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 65532 netsensor \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/netsensor \
      --shell /usr/sbin/nologin netsensor \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/netsensor
COPY --from=build /out/ /
# Fails the build when a shared library of either binary is missing from this stage.
RUN if ldd /usr/bin/netsensor /usr/bin/netsensor-admin | grep 'not found'; then exit 1; fi \
 && netsensor --version && netsensor-admin --version
LABEL org.opencontainers.image.title="netsensor" \
      org.opencontainers.image.description="Network traffic sensor: capture, decode, enrich, ECS records" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so Kubernetes' runAsNonRoot can check it. Capture needs CAP_NET_RAW, granted by
# the runtime (helm/netsensor adds exactly that), never by file capabilities here.
USER 65532:65532
WORKDIR /var/lib/netsensor
ENTRYPOINT ["netsensor"]
CMD ["run", "--config", "/etc/netsensor/netsensor.yaml"]
