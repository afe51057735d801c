"""The verifier set as chain configuration (NR-EXECUTE v1.2): genesis
``config.executeVerifiers``, the flags ``--execute-verifiers`` and
``--execute-verifier-mode``, the refusal of a resumed chain whose set differs, the L1's
EXECUTE deciding by the set (reason 12 when a verifier lies in ``all`` mode), and
pre-verification in worker processes with both verifiers."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_abi import decode

from devtools.execute_inputs import encoded
from devtools.l2_blocks import L2Builder
from node.genesis import DEFAULT_L1_GENESIS, GenesisError, load_genesis, parse_genesis
from node.preverify import start_preverifier
from node.storage import open_database
from precompiles.execute_wire import EXECUTE_ADDRESS, EXECUTE_INVALID_SELECTOR, Reason
from precompiles.verifiers import VerifierSet
from precompiles.verifiers.policy import TEST_VERIFIER_ENV, check_stored_verifiers
from rpc.cli_flags import build_parser
from rpc.cli_run import make_devnet
from tests.unit.test_preverify import l1_tx


@pytest.fixture(scope="module")
def payload() -> bytes:
    l2 = L2Builder()
    return encoded(l2.input_for(l2.build([l2.tx(0, value=10**15), l2.tx(1, value=3)]).block))


@pytest.fixture
def liar(monkeypatch):
    monkeypatch.setenv(TEST_VERIFIER_ENV, "liar=tests.lying_verifier:Liar")


def genesis_doc(verifiers: dict | None) -> dict:
    doc = json.loads(DEFAULT_L1_GENESIS.read_text())
    if verifiers is not None:
        doc["config"]["executeVerifiers"] = verifiers
    return doc


def test_genesis_config_and_its_default():
    assert parse_genesis(genesis_doc(None)).execute_verifiers == ("pyevm",)
    g = parse_genesis(genesis_doc({"verifiers": ["pyevm", "eels"], "mode": "shadow"}))
    assert (g.execute_verifiers, g.execute_verifier_mode) == (("pyevm", "eels"), "shadow")
    g.validate()


@pytest.mark.parametrize(
    ("verifiers", "error"),
    [
        ({"verifiers": ["pyevm", "geth"]}, "unknown EXECUTE verifier 'geth'"),
        ({"verifiers": ["eels"]}, "pyevm comes first"),
        ({"verifiers": ["pyevm", "pyevm"]}, "named twice"),
        ({"verifiers": ["pyevm"], "mode": "some"}, "unknown EXECUTE verifier mode"),
        ({"verifiers": []}, "between 1 and"),
    ],
)
def test_bad_sets_are_refused(verifiers, error):
    with pytest.raises(GenesisError, match=error):
        parse_genesis(genesis_doc(verifiers)).validate()
    with pytest.raises(GenesisError, match="must be"):
        parse_genesis(genesis_doc({"verifiers": "pyevm"}))


def args_for(*flags: str):
    return build_parser().parse_args(
        ["--genesis", str(DEFAULT_L1_GENESIS), "--silent", "--no-mining", *flags]
    )


def test_flags_override_the_genesis():
    devnet = make_devnet(args_for("--execute-verifiers", "pyevm,eels"))
    assert devnet.genesis.execute_verifiers == ("pyevm", "eels")
    assert devnet.genesis.execute_verifier_mode == "all"
    table = devnet.vm_class.get_state_class().computation_class._precompiles
    verifiers = table[EXECUTE_ADDRESS].verdicts.verifiers
    assert isinstance(verifiers, VerifierSet) and verifiers.names == ["pyevm", "eels"]
    with pytest.raises(GenesisError, match="unknown EXECUTE verifier"):
        make_devnet(args_for("--execute-verifiers", "pyevm,nope"))
    with pytest.raises(SystemExit):
        args_for("--execute-verifier-mode", "most")


async def test_a_resumed_chain_keeps_its_set(tmp_path):
    data = str(tmp_path / "data")
    devnet = make_devnet(args_for("--data-dir", data, "--execute-verifiers", "pyevm,eels"))
    await devnet.stop()
    with pytest.raises(GenesisError, match=r"runs the EXECUTE verifiers pyevm,eels \(all\)"):
        make_devnet(args_for("--data-dir", data))


def test_a_data_directory_records_its_set(tmp_path):
    db = open_database(tmp_path / "chain")
    check_stored_verifiers(db, ["pyevm", "eels"], "all", reopened=False)
    check_stored_verifiers(db, ["pyevm", "eels"], "all", reopened=True)  # the same: fine
    for names, mode in ((["pyevm", "eels"], "shadow"), (["pyevm"], "all")):
        with pytest.raises(ValueError, match=r"runs the EXECUTE verifiers pyevm,eels \(all\)"):
            check_stored_verifiers(db, names, mode, reopened=True)
    db.close()
    # a chain recorded before verifier sets existed ran py-evm alone
    legacy = open_database(tmp_path / "legacy")
    with pytest.raises(ValueError, match=r"runs the EXECUTE verifiers pyevm \(all\)"):
        check_stored_verifiers(legacy, ["pyevm", "eels"], "all", reopened=True)
    check_stored_verifiers(legacy, ["pyevm"], "all", reopened=True)
    legacy.close()


async def execute_call(devnet, payload: bytes):
    tx = l1_tx(devnet.chain, 0, payload)
    await devnet.send_raw_transaction(tx.encode())
    built = await devnet.mine()
    (receipt,) = built.receipts
    return receipt


async def test_both_verifiers_settle_a_valid_block(payload):
    devnet = make_devnet(args_for("--execute-verifiers", "pyevm,eels"))
    try:
        receipt = await execute_call(devnet, payload)
        assert receipt.status == 1
        table = devnet.vm_class.get_state_class().computation_class._precompiles
        timings = table[EXECUTE_ADDRESS].verdicts.verifiers.timings()
        assert timings["pyevm"]["calls"] == timings["eels"]["calls"] == 1
    finally:
        await devnet.stop()


async def test_a_lying_verifier_gives_reason_12_in_all_mode(payload, liar):
    forged = encoded(
        replace(__import__("precompiles.execute_wire").execute_wire.decode_execute_input(payload),
                post_state_root=b"\x01" * 32)
    )  # fmt: skip
    devnet = make_devnet(args_for("--execute-verifiers", "pyevm,liar"))
    try:
        receipt = await execute_call(devnet, forged)
        assert receipt.status == 0
        verifiers = (
            devnet.vm_class.get_state_class()
            .computation_class._precompiles[EXECUTE_ADDRESS]
            .verdicts.verifiers
        )
        assert verifiers.disagreement_count == 1
        (record,) = verifiers.disagreements
        assert record.decided.reason == Reason.VERIFIERS_DISAGREE
        assert record.verdicts["pyevm"].reason == Reason.POST_STATE_ROOT
        assert record.verdicts["liar"].valid
    finally:
        await devnet.stop()


async def test_shadow_mode_lets_pyevm_decide(payload, liar):
    devnet = make_devnet(
        args_for("--execute-verifiers", "pyevm,liar", "--execute-verifier-mode", "shadow")
    )
    try:
        assert (await execute_call(devnet, payload)).status == 1
        verifiers = (
            devnet.vm_class.get_state_class()
            .computation_class._precompiles[EXECUTE_ADDRESS]
            .verdicts.verifiers
        )
        assert verifiers.disagreement_count == 1  # the liar says reason 10
    finally:
        await devnet.stop()


async def test_workers_preverify_with_both_verifiers(payload, liar):
    """Worker processes run every verifier; the node decides and records (reason 12 here:
    the liar lies about a valid block's root)."""
    devnet = make_devnet(args_for("--execute-verifiers", "pyevm,eels,liar"))
    pre = start_preverifier(devnet, 1)
    try:
        tx = l1_tx(devnet.chain, 0, payload)
        await devnet.send_raw_transaction(tx.encode())
        assert pre.idle(120)
        assert pre.stats["verified"] == 1
        built = await devnet.mine()
        assert [r.status for r in built.receipts] == [0]
        assert pre.store.hits == 1
        verifiers = pre.precompile.verdicts.verifiers
        (record,) = verifiers.disagreements
        assert set(record.verdicts) == {"pyevm", "eels", "liar"}
        assert record.verdicts["eels"].valid and record.verdicts["pyevm"].valid
        assert record.verdicts["liar"].reason == Reason.POST_STATE_ROOT
        assert verifiers.timings()["eels"]["calls"] == 1
    finally:
        pre.close()
        await devnet.stop()


def test_reason_12_is_the_revert_word():
    out = EXECUTE_INVALID_SELECTOR + (12).to_bytes(32, "big")
    assert decode(["uint256"], out[4:]) == (Reason.VERIFIERS_DISAGREE,)
    assert load_genesis(DEFAULT_L1_GENESIS).execute_verifiers == ("pyevm",)


def test_the_self_test_passes_for_both_verifiers():
    from node.fork.schedule import PRAGUE, l2_rules
    from precompiles.verifiers.eels import EelsVerifier
    from precompiles.verifiers.pyevm import PyEvmVerifier
    from precompiles.verifiers.selftest import self_test

    rules = l2_rules(load_genesis(DEFAULT_L1_GENESIS).fork_schedule).classes
    assert PRAGUE in rules
    assert self_test([PyEvmVerifier(), EelsVerifier()], rules) == []


def test_a_broken_verifier_stops_the_start(monkeypatch):
    monkeypatch.setenv(TEST_VERIFIER_ENV, "broken=tests.lying_verifier:Broken")
    with pytest.raises(GenesisError, match="self-test failed, refusing to start: broken on"):
        make_devnet(args_for("--execute-verifiers", "pyevm,broken"))


def test_an_eels_whose_internals_changed_stops_the_start(monkeypatch):
    """EELS's transactions no longer reach the hooked state (as if its internals moved)."""
    import ethereum.forks.osaka.fork as osaka_fork

    monkeypatch.setattr(osaka_fork, "process_transaction", lambda *args: None)
    with pytest.raises(GenesisError, match="self-test failed, refusing to start: eels on osaka"):
        make_devnet(args_for("--execute-verifiers", "pyevm,eels"))
    make_devnet(args_for())  # py-evm alone does not run EELS
