# ward in a container: the release build and the Debian package's layout
# (docs/install.md), run as a non-root user.
#
#   docker build -t ward .
#   docker run -p 5353:5353/udp -p 5353:5353/tcp -v $PWD/zones:/etc/ward/zones:ro ward
#
# Port 53 needs `--cap-add NET_BIND_SERVICE` and `--listen 0.0.0.0:53`.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The manifest names the benchmark's file, so it must be there to build at all.
COPY bench/criterion ./bench/criterion
# The same build as the package's (contrib/deb/build.sh); the package moves the debug
# symbols to ward-dbgsym, the image drops them.
RUN cargo build --release --locked && strip target/release/ward

FROM debian:bookworm-slim
# A fixed uid, so that mounted volumes can be given to it (the package lets
# systemd-sysusers pick one).
RUN useradd --system --uid 10053 --home-dir /var/lib/ward --no-create-home \
        --shell /usr/sbin/nologin ward \
    && install -d -o ward -g ward -m 0750 /var/lib/ward
COPY --from=build /src/target/release/ward /usr/sbin/ward
# The package's settings and example zones: zones = "/etc/ward/zones",
# state = "/var/lib/ward".
COPY contrib/deb/ward.toml /etc/ward/ward.toml
COPY zones /etc/ward/zones
VOLUME /var/lib/ward
USER ward
# `ward check`, `ward lookup …` find zones/ and ward.toml here by themselves.
WORKDIR /etc/ward
EXPOSE 5353/udp 5353/tcp
# The image has no dig: ward asks itself the RFC 5782 test point of the first zone.
HEALTHCHECK --interval=30s --timeout=5s --start-period=2m --retries=3 \
    CMD ["/usr/sbin/ward", "probe", "--zones", "/etc/ward/zones", "--server", "127.0.0.1:5353"]
# Files under /etc/ward/zones are watched and reloaded; a ConfigMap or bind mount can
# replace them. ward.toml listens on loopback port 53, as the package does; in a
# container every address is the container's own and the published port is the
# boundary, so the flags (which win over the file) serve port 5353 everywhere.
ENTRYPOINT ["/usr/sbin/ward"]
CMD ["serve", "--config", "/etc/ward/ward.toml", "--listen", "0.0.0.0:5353", "--listen", "[::]:5353"]
