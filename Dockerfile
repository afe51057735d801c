# native-devnet: one image for the L1, the L2 and the tools around them.
FROM python:3.11-slim

WORKDIR /app
ENV PYTHONUNBUFFERED=1 ETH_HASH_BACKEND=pysha3

# gcc for the few dependencies that build from source (safe-pysha3, lmdb).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY node ./node
COPY precompiles ./precompiles
COPY rpc ./rpc
COPY sequencer ./sequencer
COPY devtools ./devtools
COPY genesis ./genesis
# the compiled contracts ship inside the package (sequencer/compiled)
COPY contracts/out ./contracts/out
RUN pip install --no-cache-dir .

COPY contracts ./contracts
COPY scripts ./scripts

EXPOSE 8545
# Inside a container the node must listen beyond loopback to be reachable at all.
CMD ["native-devnet", "--host", "0.0.0.0", "--port", "8545"]
