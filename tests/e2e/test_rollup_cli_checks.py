"""``native-rollup`` checks its nodes before it sends anything.

- ``sequence --deploy`` against a dead L2 URL (or the L1's URL given as the L2) sends nothing
  to the L1 (the deployer's nonce and the L1 head are unchanged) and says why in one line,
  exit code 2 for a node it cannot reach, naming the URL;
- a dead L1 URL is named too, by any command.
"""

from __future__ import annotations

from tests.procs import DEV_ADDRESSES, free_port
from tests.procs import run_native_rollup as native_rollup


def l1_marks(l1) -> tuple[str, str]:
    return (
        l1.call("eth_getTransactionCount", DEV_ADDRESSES[0], "latest"),
        l1.call("eth_blockNumber"),
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_sequence_deploy_against_a_dead_l2_sends_nothing_and_names_the_url(l1, tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    before = l1_marks(l1)
    out = native_rollup(
        "sequence", "--deploy", "--once", "--l1", l1.url, "--l2", dead,
        "--rollup-file", str(tmp_path / "rollup.json"),
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    line = one_line(out.stderr)
    assert dead in line and "refused" in line and "L2" in line
    assert l1_marks(l1) == before
    assert not (tmp_path / "rollup.json").exists()


def test_sequence_deploy_refuses_the_l1_given_as_the_l2(l1, tmp_path):
    before = l1_marks(l1)
    out = native_rollup(
        "sequence", "--deploy", "--once", "--l1", l1.url, "--l2", l1.url,
        "--rollup-file", str(tmp_path / "rollup.json"),
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    line = one_line(out.stderr)
    assert "chain id 31337" in line and l1.url in line
    assert l1_marks(l1) == before


def test_a_dead_l1_is_named(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    for command in (
        ["sequence", "--deploy", "--once"],
        ["deploy"],
        ["status", "--rollup", "0x" + "11" * 20],
    ):
        out = native_rollup(
            *command, "--l1", dead, "--l2", dead, "--rollup-file", str(tmp_path / "r.json")
        )
        assert out.returncode == 2, (command, out.stderr)
        assert dead in one_line(out.stderr)


def test_sequence_deploy_against_a_good_l2_deploys_and_settles(l1, tmp_path):
    """The path docker-compose's relayer takes: checks pass, deploy, settle one block."""
    from tests.e2e.test_l2_controls import start_l2

    l2 = start_l2(tmp_path, "--accounts", "1", "--balance", "1")
    try:
        rollup_file = tmp_path / "rollup.json"
        auth = ["--l2-auth-url", l2.auth_url, "--jwt-secret", str(l2.secret_path)]
        urls = ["--l1", l1.url, "--l2", l2.node.url]
        out = native_rollup(
            "sequence", "--deploy", "--once", "--initial-escrow", "1", *urls, *auth,
            "--rollup-file", str(rollup_file),
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert rollup_file.is_file()
        # a wrong escrow is refused by the check before anything is sent
        before = l1_marks(l1)
        out = native_rollup(
            "sequence", "--deploy", "--once", "--initial-escrow", "2", *urls, *auth,
            "--rollup-file", str(tmp_path / "other.json"),
        )  # fmt: skip
        assert out.returncode == 1 and "initial escrow" in out.stderr, out.stderr
        assert l1_marks(l1) == before
    finally:
        l2.node.stop()
