# ward in a container: a static-ish release build, run as a non-root user.
#
#   docker build -t ward .
#   docker run -p 5353:5353/udp -p 5353:5353/tcp -v $PWD/zones:/zones:ro ward
#
# Port 53 needs `--cap-add NET_BIND_SERVICE` and `--listen 0.0.0.0:53`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The manifest names the benchmark's file, so it must be there to build at all.
COPY bench/criterion ./bench/criterion
RUN cargo build --release --locked && strip target/release/ward

FROM debian:bookworm-slim
RUN useradd --system --uid 10053 --no-create-home --shell /usr/sbin/nologin ward
COPY --from=build /src/target/release/ward /usr/local/bin/ward
COPY zones /zones
USER ward
EXPOSE 5353/udp 5353/tcp
# The image has no dig: ward asks itself the RFC 5782 test point of the first zone.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["/usr/local/bin/ward", "probe", "--zones", "/zones", "--server", "127.0.0.1:5353"]
# Files under /zones are watched and reloaded; a ConfigMap or bind mount can replace them.
ENTRYPOINT ["/usr/local/bin/ward"]
CMD ["serve", "--zones", "/zones", "--listen", "0.0.0.0:5353", "--listen", "[::]:5353"]
