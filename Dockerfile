# native-devnet: one image for the L1, the L2, the relayer and the demo.
#
# BuildKit (docker buildx, `docker compose` v2, or DOCKER_BUILDKIT=1 with docker 20.10+;
# no `# syntax` line, so the builder's own Dockerfile frontend is used and nothing extra is
# pulled). The base image is a build argument: the default pulls python:3.11-slim from
# Docker Hub; `make compose-test` builds a local Debian bookworm image instead (python3 3.11,
# python3-venv) and passes it here. A machine whose TLS goes through its own root CA hands
# that bundle to pip as the optional secret `pip_ca`:
#   docker build --secret id=pip_ca,src=/etc/ssl/certs/ca-certificates.crt .
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/venv
# The pinned dependencies and the build backend first (one cached layer while only the
# sources change; the only step that needs the network). Every dependency ships a manylinux
# wheel for CPython 3.11, so no compiler is needed.
COPY pyproject.toml ./
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi \
    && python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb")); print("\n".join(p["project"]["dependencies"] + p["build-system"]["requires"]))' > requirements.txt \
    && /opt/venv/bin/pip install --only-binary=:all: -r requirements.txt
COPY README.md ./
COPY node ./node
COPY precompiles ./precompiles
COPY rpc ./rpc
COPY sequencer ./sequencer
COPY devtools ./devtools
COPY genesis ./genesis
# the compiled contracts ship inside the package (sequencer.compiled)
COPY contracts/out ./contracts/out
# offline: the package itself, then the build backend leaves the runtime
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --no-index . \
    && /opt/venv/bin/pip uninstall -y setuptools wheel \
    && /opt/venv/bin/pip check

FROM ${BASE_IMAGE}
# The installed package only (a virtualenv at the same path on the same base image): no
# sources, no build tools, no pip cache.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 ETH_HASH_BACKEND=pysha3
# A non-root user; /data (the L1's --data-dir volume) belongs to it, and a fresh named volume
# mounted there takes that owner.
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/devnet devnet \
    && mkdir -p /data /rollup /jwt \
    && chown devnet:devnet /data /rollup /jwt
USER devnet
WORKDIR /home/devnet
EXPOSE 8545
# The node's JSON-RPC answers eth_chainId (services that run no node, as the relayer or the
# demo, override or disable this in docker-compose.yml).
HEALTHCHECK --interval=2s --timeout=3s --start-period=5s --retries=30 \
    CMD ["python", "-c", "import json, urllib.request; req = urllib.request.Request('http://127.0.0.1:8545', data=b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_chainId\",\"params\":[]}', headers={'Content-Type': 'application/json'}); assert 'result' in json.load(urllib.request.urlopen(req, timeout=2))"]
# Inside a container the node must listen beyond loopback to be reachable at all.
CMD ["native-devnet", "--host", "0.0.0.0", "--port", "8545"]
