"""``--record-witnesses``: an L2 genesis records every block's witness as it is built by
default, an L1 re-runs a block when its witness is asked for; the flag turns recording on or
off either way, and ``debug_executionWitness`` answers the same witness in both modes."""

from __future__ import annotations

import pytest

from node.genesis import DEFAULT_L1_GENESIS, DEFAULT_L2_GENESIS
from rpc.cli_flags import build_parser
from rpc.cli_run import make_devnet


@pytest.mark.parametrize(
    ("genesis", "flags", "records"),
    [
        (DEFAULT_L1_GENESIS, [], False),
        (DEFAULT_L2_GENESIS, [], True),
        (DEFAULT_L1_GENESIS, ["--record-witnesses"], True),
        (DEFAULT_L2_GENESIS, ["--no-record-witnesses"], False),
    ],
)
async def test_flag_chooses_eager_or_lazy_witnesses(genesis, flags, records):
    args = build_parser().parse_args(["--genesis", str(genesis), "--silent", *flags])
    devnet = make_devnet(args)
    try:
        assert devnet.chain.record_witnesses is records
        built = await devnet.mine()
        assert (built.block.hash in devnet.chain.witnesses) is records
        witness = await devnet.witness(built.block.hash)
        rerun = devnet.chain.rerun_for_witness(built.block)
        assert witness is not None and witness.encode_rlp() == rerun.encode_rlp()
        assert await devnet.witness(devnet.chain.genesis_header.hash) is None
    finally:
        await devnet.stop()


def test_the_flags_exclude_each_other():
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--record-witnesses", "--no-record-witnesses"])
