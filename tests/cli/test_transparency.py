"""The command line over the transparency log: `verify --case` prints the case's head and
the cosigned checkpoint that includes it; `checkpoint` and `proof` give what verifies."""

from __future__ import annotations

import base64
import json
import re

from sexto_events.store import EventStore
from sexto_legal import tlog_check as t

from tests.cli.conftest import Cli, NewCase, write_case

ORIGIN = "sexto.local/cases"


async def newest(cli: Cli, stack: dict[str, str]) -> t.Checkpoint:
    shown = await cli("checkpoint")
    assert shown.exit_code == 0, shown.output
    note = shown.output.encode()
    witnesses = [t.parse_vkey(v) for v in json.loads(stack["SEXTO_TLOG_WITNESSES"])]
    t.require_quorum(note, witnesses, 1)
    return t.open_checkpoint(note, t.parse_vkey(stack["SEXTO_WITNESS_LOG_VKEY"]), ORIGIN)


async def test_verify_prints_the_case_head_and_the_checkpoint_as_each_role_may_see_them(
    cli: Cli, store: EventStore, new_case: NewCase, transparency_stack: dict[str, str]
) -> None:
    case = new_case()
    await write_case(store, case)
    head = json.loads((await store.read_raw(case))[-1].body)["hash"]

    result = await cli("verify", "--case", case.case_id)

    assert result.exit_code == 0, result.output
    assert "chain verified" in result.output
    assert f"checkpoint: {ORIGIN}, tree size" in result.output
    assert f"log key: {transparency_stack['SEXTO_WITNESS_LOG_VKEY']}" in result.output
    assert f"event hash {head}" in result.output
    assert (await newest(cli, transparency_stack)).size >= 6
    # the same lines as other roles may see them: the hashes through the disclosure table
    analyst = await cli("verify", "--case", case.case_id, role="analyst")
    admin = await cli("verify", "--case", case.case_id, role="admin")
    for shown in (analyst, admin):
        assert shown.exit_code == 0, shown.output
        assert "chain verified" in shown.output
        assert f"checkpoint: {ORIGIN}, tree size" in shown.output
        assert head not in shown.output
        assert case.case_id not in shown.output
    assert re.search(r"event hash h-\S+", analyst.output), analyst.output  # keyed pseudonym
    assert 'event hash {"withheld": true}' in admin.output


async def test_checkpoints_grow_and_the_consistency_proof_verifies(
    cli: Cli, store: EventStore, new_case: NewCase, transparency_stack: dict[str, str]
) -> None:
    first = await newest(cli, transparency_stack)
    case = new_case()
    await write_case(store, case)
    assert (await cli("verify", "--case", case.case_id)).exit_code == 0  # a checkpoint covers it
    second = await newest(cli, transparency_stack)
    assert second.size > first.size

    proof = await cli("proof", "consistency", "--from", str(first.size), "--to", str(second.size))

    assert proof.exit_code == 0, proof.output
    hashes = [base64.b64decode(line) for line in proof.output.split()]
    t.verify_consistency(first.size, second.size, first.root, second.root, hashes)
    inclusion = await cli("proof", "inclusion", "--index", "0", "--size", str(second.size))
    assert inclusion.exit_code == 0, inclusion.output
    assert len(inclusion.output.split()) == (second.size - 1).bit_length()


async def test_a_proof_beyond_the_tree_is_refused_naming_the_sizes(
    cli: Cli, transparency_stack: dict[str, str]
) -> None:
    size = (await newest(cli, transparency_stack)).size
    beyond = await cli("proof", "inclusion", "--index", "0", "--size", str(size + 10**9))
    assert beyond.exit_code == 2
    assert f"tree size {size + 10**9} is beyond the tree's" in beyond.output
    analyst = await cli("checkpoint", role="analyst")
    assert analyst.exit_code == 2
    assert "`proof` is for the roles legal_reviewer" in analyst.output


async def test_verify_reports_the_chain_when_the_transparency_log_does_not_answer(
    cli: Cli, store: EventStore, side_store: EventStore, new_case: NewCase
) -> None:
    case = new_case()
    await write_case(side_store, case)  # a stream no tree process follows
    side = {"SEXTO_STREAM_NAME": side_store.spec.name,
            "SEXTO_SUBJECT_ROOT": side_store.spec.subject_root}  # fmt: skip

    result = await cli("verify", "--case", case.case_id, **side)

    assert result.exit_code == 2, result.output
    assert "chain verified" in result.output
    assert "transparency: could not be checked" in result.output
    assert "Traceback" not in result.output
