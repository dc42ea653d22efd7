# eye on Debian 12, in two stages. Both install their packages with the same scripts/setup the
# tests use: the build stage its compiler and -dev packages, the runtime stage only the shared
# libraries the programs link against. The runtime image runs as an unprivileged user and keeps
# its state in /var/lib/eye.
#
#   docker build -t eye .
#   docker run --rm -e EYE_DATABASE_URL=... eye eye db:migrate
#   docker run -d -e EYE_DATABASE_URL=postgresql://eye@db/app eye    (the whole schedule)
#   docker run --rm -e EYE_DATABASE_URL=... eye eye-monitor          (one task)
#
# The default command runs the schedule in the foreground and keeps one worker running; a
# Kubernetes CronJob or a compose service names its own program instead (crontab/).
#
# tests/docker/check_image checks this file against scripts/setup and the built programs (in
# scripts/test); tests/docker/rehearse_image builds it without Docker, in chroots.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN scripts/setup --build --runtime && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt ./
COPY lib lib
COPY apps apps
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DEYE_BUILD_TESTS=OFF -DEYE_WERROR=ON \
    && cmake --build /build --parallel "$(nproc)" \
    && cmake --install /build --prefix /opt/eye --strip

FROM debian:12-slim
COPY scripts/setup /usr/local/share/eye/setup
RUN /usr/local/share/eye/setup --runtime && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10001 --user-group --home-dir /var/lib/eye --no-create-home \
        --shell /usr/sbin/nologin eye \
    && install -d -o eye -g eye -m 0750 /var/lib/eye
COPY --from=build /opt/eye/bin/ /usr/local/bin/
ENV EYE_STATE_DIR=/var/lib/eye
WORKDIR /var/lib/eye
VOLUME /var/lib/eye
USER 10001:10001
CMD ["eye", "schedule:work", "--workers=1"]
