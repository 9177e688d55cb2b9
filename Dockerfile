# syntax=docker/dockerfile:1
# periscope in a container: a builder stage compiles the one binary (the web UI is embedded in
# it), a slim Debian stage runs it. Build and run (README.md, "In a container"):
#
#   docker build -t periscope .
#   docker build -t periscope --build-arg FEATURES=gstreamer .   # + hardware H.264 encoders
#   docker run -d --name periscope --network host --device /dev/video0 \
#     -v periscope-state:/var/lib/periscope -e PERISCOPE_ADMIN_PASSWORD=… periscope
#
# Multi-arch (a Pi or a Radxa board): docker buildx build --platform linux/arm64 -t periscope .
# tests/container/check.sh builds this file with buildah and runs the image (scripts/test).

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN} AS builder
# Cargo features: empty for the defaults (V4L2 capture, OpenH264, USB gadget HID);
# "gstreamer" adds the GStreamer hardware encoders (v4l2h264enc on a Pi).
ARG FEATURES=
# nasm: OpenH264's and libjpeg-turbo's assembly; cmake: libjpeg-turbo; clang + libclang:
# bindgen for the v4l crate; pkg-config (and GStreamer's headers) for the gstreamer feature.
RUN apt-get update \
 && apt-get install -y --no-install-recommends nasm cmake clang libclang-dev pkg-config \
    $(case ",${FEATURES}," in *,gstreamer,*) \
        echo libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev ;; esac) \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The crates and the target directory are cache mounts: a rebuild after a source change
# compiles only what changed. Debug info is stripped (the repository's release profile keeps
# it for profiling, which makes the binary ~10× larger).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CARGO_PROFILE_RELEASE_DEBUG=0 CARGO_PROFILE_RELEASE_STRIP=debuginfo \
    cargo build --release --locked --bin periscope --features "${FEATURES}" \
 && install -m 0755 target/release/periscope /usr/local/bin/periscope

FROM debian:${DEBIAN}-slim
ARG FEATURES=
# The default build links only libc and libstdc++ (both in the slim image); ca-certificates
# lets a WHIP push reach a server whose certificate chains to the system's roots. With
# GStreamer: its runtime, the base plugins (appsrc, appsink, videoconvert) and the good ones
# (v4l2h264enc, the Raspberry Pi's encoder).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
    $(case ",${FEATURES}," in *,gstreamer,*) \
        echo libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base \
             gstreamer1.0-plugins-good ;; esac) \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=builder /usr/local/bin/periscope /usr/local/bin/periscope
# The certificate, the password hashes and the virtual-media images live here: keep it on a
# volume so they survive a new container.
VOLUME /var/lib/periscope
# HTTPS (the web UI, WHEP, WebSocket, MJPEG, API). WebRTC media is UDP: run with
# --network host, or publish one port and pin it: -p 8443:8443/udp and the flags
# --webrtc-udp-port 8443 --webrtc-advertise <the host's address>.
EXPOSE 8443/tcp
# periscope handles SIGTERM (docker stop): it releases held keys and ends its sessions.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/periscope"]
