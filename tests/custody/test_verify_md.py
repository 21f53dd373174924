"""VERIFY.md says what is signed, what is checked and what cannot be detected: every one of those
sentences names here the tests that show it (the tests of a limit show that verify indeed passes
what the sentence says it cannot catch), and this module fails when a sentence has none."""

from __future__ import annotations

import hashlib
import importlib
import re
from pathlib import Path

import orjson

from tests.builders.custody import PASSPHRASE, Built, cli
from tests.custody.forge import append_record
from tests.custody.test_verify import ATTACKER, log_lines, rewrite_manifests, write_log
from vestige.custody.case import Case, verify_text
from vestige.custody.dsse import Envelope
from vestige.custody.keys import load_key, load_trust_list
from vestige.custody.log import log_root
from vestige.custody.verify import CHAIN, INTEGRITY, WARNING, Report, verify_case

SECTIONS = (
    "What is signed",
    "What is checked",
    "What this proves, and what it does not",
    "Disclosure packages: checked as bundles are",
    "Rollback detection",
)
CLAIMS: dict[str, list[str]] = {
    # What is signed
    "Each record of `custody/custody.jsonl` is a DSSE envelope signed by its actor": [
        "test_case::test_the_built_bundle_has_the_expected_records",
        "test_case::test_key_rotation_and_recorded_documents",
        "test_verify::test_a_key_missing_from_the_trust_list_is_a_chain_failure",
    ],
    "Each record signs the SHA-256 of `manifest-sha256.txt` and of `bag-info.txt`": [
        "test_verify_md::test_each_record_signs_the_manifest_and_bag_info_it_was_made_with",
        "test_attack_unsigned::test_a_rewritten_source_organization_is_not_signed",
    ],
    "The opening record signs the SHA-256 of this VERIFY.md.": [
        "test_verify_md::test_verify_md_must_be_the_one_the_opening_record_signed"
    ],
    "An `acquire` record signs the item's file list": [
        "test_verify_md::test_the_acquire_record_signs_the_item",
        "test_verify::test_changing_acquired_evidence_and_rewriting_the_manifests_is_caught",
    ],
    "The leaf of a file its platform divides into units": [
        "test_disclose_packets::test_acquiring_a_capture_binds_the_tree_of_its_packets_in_its_leaf",
        "test_disclose_packets::test_a_file_without_units_keeps_its_leaf_byte_for_byte",
        "test_disclose_packets::test_a_capture_cut_in_a_record_binds_the_packets_before_the_cut",
    ],
    "An `analyze` record signs the attestation": [
        "test_attack_custodian::test_run_json_is_attested",
        "test_attack_custodian::test_an_analysis_folder_holding_files_its_attestation_does_not_list_fails",
    ],
    "Each checkpoint `custody/checkpoints/NNNNNN.json` is a tree head": [
        "test_verify_md::test_a_checkpoint_signed_by_another_trusted_key_fails",
    ],
    "An `anchor` record signs the RFC 3161 token": [
        "test_anchoring::test_a_token_or_chain_other_than_the_signed_one_is_refused",
    ],
    # What is checked
    "The bundle holds only regular files and folders": [
        "test_attack_links::test_a_link_to_the_root_inside_an_acquisition_is_named_and_not_followed",
        "test_attack_links::test_the_log_replaced_by_a_link_to_an_identical_file_is_refused",
    ],
    "No file is read through a link or opened unless it is a regular file": [
        "test_attack_links::test_a_fifo_or_a_link_to_dev_zero_listed_in_the_manifest_never_blocks",
        "test_attack_links::test_a_fifo_is_refused_at_once_instead_of_waiting_for_a_writer",
        "test_attack_links::test_a_final_link_is_refused_even_to_a_regular_file",
    ],
    "Every file matches `manifest-sha256.txt` or `tagmanifest-sha256.txt`": [
        "test_bag::test_validation_names_every_disagreement",
    ],
    "The manifests, `bag-info.txt`, the log lines and every envelope must be byte for byte": [
        "test_bag::test_a_manifest_is_read_only_in_the_form_vestige_writes",
        "test_attack_unsigned::test_another_tag_manifest_is_refused",
        "test_attack_unsigned::test_an_added_label_and_an_earlier_duplicate_identifier_are_refused",
        "test_attack_unsigned::test_a_blank_line_or_spacing_around_the_log_lines_is_refused",
        "test_attack_unsigned::test_an_extra_field_in_a_log_lines_envelope_is_refused",
        "test_attack_unsigned::test_an_envelope_is_read_only_in_the_one_encoding_vestige_writes",
    ],
    "`bag-info.txt` is the one the last record signed": [
        "test_attack_unsigned::test_a_rewritten_source_organization_is_not_signed",
        "test_attack_unsigned::test_an_added_label_and_an_earlier_duplicate_identifier_are_refused",
    ],
    "VERIFY.md is the one the opening record signed": [
        "test_verify_md::test_verify_md_must_be_the_one_the_opening_record_signed"
    ],
    "Each record is chained by `seq` and `prev`": [
        "test_verify::test_a_forged_record_signed_by_an_untrusted_key_is_caught",
        "test_attack_custodian::test_an_unknown_action_fails",
        "test_attack_malformed::test_a_record_of_the_wrong_shape_is_named_field_by_field",
        "test_verify_md::test_a_further_signature_by_a_key_you_do_not_trust_is_a_warning",
    ],
    "A record's actor or counterparty must call itself by the name your trust list gives its key": [
        "test_attack_custodian::test_an_actor_calling_itself_by_another_name_than_the_trust_list_fails",
    ],
    "An item is acquired once": [
        "test_attack_custodian::test_a_second_acquire_of_the_same_item_fails",
        "test_verify_md::test_an_analysis_of_an_item_never_acquired_fails",
    ],
    "While the bundle is sealed no record may change the payload": [
        "test_attack_custodian::test_a_sealed_bundle_changed_and_committed_with_a_note_fails",
        "test_attack_custodian::test_an_export_while_sealed_leaves_the_payload_as_sealed",
    ],
    "The log extends every checkpoint": [
        "test_verify_md::test_a_checkpoint_signed_by_another_trusted_key_fails",
        "test_verify_md::test_a_checkpoint_the_log_does_not_extend_fails",
    ],
    "Each file in `custody/keys/` is one public key under its own fingerprint": [
        "test_attack_unsigned::test_a_key_hint_name_is_shown_as_a_claim_and_must_be_the_signed_one",
    ],
    "Each timestamp request (`.tsq`) is recomputed": [
        "test_attack_unsigned::test_a_timestamp_request_is_recomputed_and_anything_else_refused",
        "test_anchoring::test_online_anchor_then_offline_verification",
    ],
    "Every file outside `data/` is one the log accounts for": [
        "test_attack_unsigned::test_another_tag_manifest_is_refused",
    ],
    "Every payload file belongs to a signed record": [
        "test_attack_custodian::test_a_payload_file_no_record_accounts_for_fails",
    ],
    "Each item's Merkle root is recomputed": [
        "test_verify::test_changing_acquired_evidence_and_rewriting_the_manifests_is_caught",
        "test_verify::test_an_archive_item_verifies_member_by_member_and_a_swapped_member_is_caught",
    ],
    "The tree of units a file's leaf binds (a capture's packets) is recomputed": [
        "test_disclose_packets::test_verify_recomputes_the_tree_of_packets_from_the_bundled_capture",
        "test_disclose_packets::test_verify_without_the_capture_platform_warns_that_packets_were_not_recomputed",
    ],
    "Each analysis folder holds exactly the files its attestation lists": [
        "test_attack_custodian::test_an_analysis_folder_holding_files_its_attestation_does_not_list_fails",
    ],
    "The vestige package an analysis names must be a release": [
        "test_attack_custodian::test_an_analysis_by_a_vestige_this_one_does_not_know_warns_with_its_digest",
    ],
    "`--reproduce` runs each analysis again only when nothing failed": [
        "test_attack_malformed::test_reproduce_is_not_run_on_a_bundle_that_did_not_verify",
        "test_attack_malformed::test_reproduction_reads_indicator_sets_only_from_the_bundle",
        "test_attack_malformed::test_whatever_stops_a_reproduction_is_its_result_not_a_crash",
    ],
    "Malformed input of any kind is exit 1 or 2 with a sentence": [
        "test_attack_malformed::test_garbage_in_any_file_is_exit_1_or_2_with_a_sentence",
        "test_attack_links::test_a_file_name_with_line_breaks_prints_on_one_line",
    ],
    # What this proves, and what it does not
    "The signatures and the chain prove who asserted what": [
        "test_verify::test_the_untouched_bundle_verifies",  # the demo backup was never on a phone
    ],
    "A signed statement is a claim of its signer": ["test_verify_md::test_a_signed_claim_verifies_as_signed"],
    "Record times are the examiner's host clock": ["test_verify_md::test_record_times_are_claims"],
    "Whoever holds a custodian's private key can add records in their name.": [
        "test_verify_md::test_a_key_holder_can_add_records"
    ],
    "Removing the latest records together with their checkpoints is not detectable": [
        "test_verify_md::test_removing_the_latest_record_and_its_checkpoint_verifies",
        "test_rollback::test_a_truncated_log_passes_alone_and_fails_against_the_checkpoint_handed_over",
    ],
    "Each record names the vestige that wrote it": ["test_verify_md::test_a_records_tool_digest_is_a_claim"],
    "A disclosed file is disclosed whole": [
        "test_disclose::test_a_package_verifies_without_the_rest_of_the_acquisition",
        "test_disclose_packets::test_a_packet_finding_discloses_exactly_its_packets_and_verifies",
    ],
    "A package cannot show that the tree of packets a capture's leaf binds": [
        "test_disclose_packets::test_verify_recomputes_the_tree_of_packets_from_the_bundled_capture",
    ],
    "Reproduction is of the analysis, not of the acquisition": [
        "tests.cli.test_custody::test_reproduce_passes_on_a_fresh_bundle_and_the_two_analyses_agree"
    ],
    # Disclosure packages: checked as bundles are
    "`disclose` first verifies the bundle against your trust list": [
        "test_disclose::test_disclose_refuses_a_bundle_that_does_not_verify"
    ],
    "`disclose` reads the bundle without following links": [
        "test_disclose::test_disclose_refuses_an_evidence_file_reached_through_a_link",
        "test_disclose::test_disclose_refuses_dot_dot_and_absolute_paths_in_a_manifest",
    ],
    "`disclose` writes only new files inside PACKAGE": [
        "test_disclose::test_disclose_writes_only_into_a_new_or_empty_folder",
        "test_disclose::test_disclose_checks_each_copied_file_against_its_proof_before_signing",
    ],
    "The `export` record signs the document": [
        "test_disclose::test_the_export_record_signs_the_document_bag_info_and_payload_manifest"
    ],
    "**Files**: no symbolic link": [
        "test_disclose::test_links_and_special_files_in_a_package_are_named_and_never_followed",
        "test_disclose::test_a_manifest_line_leaving_the_package_is_refused_before_anything_is_read",
        "test_disclose::test_a_substituted_cited_file_is_rejected",
    ],
    "**Package**: the document": [
        "test_disclose::test_the_document_must_be_the_one_a_signed_export_named",
        "test_disclose::test_an_edited_bag_info_in_a_package_is_caught",
        "test_disclose::test_a_rewritten_verify_md_in_a_package_is_caught",
        "test_disclose::test_a_timestamp_request_must_be_the_one_vestige_writes_and_no_other_tag_manifest_is_allowed",
        "test_disclose::test_a_planted_file_is_rejected",
    ],
    "**Findings**: each finding's leaf": [
        "test_disclose::test_a_withheld_finding_cannot_be_confirmed_from_a_disclosed_proof",
        "test_disclose::test_finding_salts_are_revealed_only_for_disclosed_findings",
    ],
    "**Files disclosed**: each leaf": [
        "test_disclose::test_path_bytes_moved_into_the_salt_cannot_relabel_a_file",
        "test_disclose::test_a_tree_size_other_than_the_signed_file_count_is_caught",
        "test_disclose::test_a_file_no_disclosed_finding_cites_is_rejected",
        "test_disclose::test_a_proof_for_a_leaf_that_is_not_in_the_tree_is_rejected",
    ],
    "**Packets disclosed**: a finding that cites packets of a capture": [
        "test_disclose_packets::test_a_packet_finding_discloses_exactly_its_packets_and_verifies",
        "test_disclose_packets::test_wireshark_opens_the_disclosed_packets",
        "test_disclose_packets::test_findings_citing_overlapping_packets_disclose_each_packet_once",
        "test_disclose_packets::test_a_finding_citing_a_packet_the_capture_does_not_hold_is_not_disclosed",
        "test_disclose_packets::test_a_capture_kept_by_reference_is_proven_by_its_leaf_alone",
    ],
    "A finding that cites a capture without packet numbers discloses it whole": [
        "test_disclose_packets::test_a_finding_citing_the_capture_without_packet_numbers_discloses_it_whole",
    ],
    "Verify reads the packets back from that pcapng": [
        "test_disclose_packets::test_a_changed_packet_is_caught",
        "test_disclose_packets::test_an_added_packet_is_caught",
        "test_disclose_packets::test_a_dropped_packet_is_caught",
        "test_disclose_packets::test_a_changed_packet_number_is_caught",
        "test_disclose_packets::test_a_changed_units_root_in_the_leaf_is_caught",
        "test_disclose_packets::test_a_units_count_other_than_the_signed_one_is_caught",
        "test_disclose_packets::test_the_full_capture_in_place_of_the_disclosed_packets_is_caught",
        "test_disclose_packets::test_the_full_capture_as_it_was_acquired_is_not_a_disclosed_pcapng",
        "test_disclose_packets::test_disclosed_units_given_out_of_order_or_malformed_are_refused",
        "test_disclose_packets::test_disclosed_packets_under_the_captures_own_name_are_refused",
    ],
    "Every disclosed packet must be cited by a disclosed finding": [
        "test_disclose_packets::test_a_changed_packet_number_is_caught",
        "test_disclose_packets::test_a_dropped_packet_and_its_proof_are_caught_as_a_cited_packet_missing",
        "test_disclose_packets::test_packets_alone_for_a_finding_that_cites_the_whole_capture_are_refused",
    ],
    "Packet salts are per packet and secret": [
        "test_disclose_packets::test_a_withheld_packet_cannot_be_confirmed_from_the_package",
        "test_disclose_packets::test_unit_salts_are_per_file_and_number_and_never_a_file_salt",
        "test_disclose_packets::test_a_packet_finding_discloses_exactly_its_packets_and_verifies",
    ],
    "Checking packets needs the platform that reads the capture's kind": [
        "test_disclose_packets::test_a_verifier_without_the_capture_platform_is_told_it_cannot_check",
        "test_disclose_packets::test_disclose_refuses_a_capture_whose_kind_no_platform_divides",
    ],
    "Analyses made before finding leaves were salted still verify": [
        "test_disclose::test_an_analysis_made_before_salting_still_verifies_and_its_disclosure_says_what_it_leaks"
    ],
    "A package whose export record does not sign `bag-info.txt`": [
        "test_disclose::test_a_package_made_before_bag_info_was_signed_verifies_with_a_warning"
    ],
    # Rollback detection
    "`vestige case checkpoint` prints the log's tree head": [
        "test_rollback::test_case_checkpoint_prints_the_tree_head_of_the_latest_signed_checkpoint",
        "test_rollback::test_case_checkpoint_refuses_a_log_its_checkpoint_does_not_state",
    ],
    "`--since SIZE:ROOT` builds the RFC 9162 consistency proof": [
        "test_rollback::test_roots_and_consistency_proofs_match_the_certificate_transparency_vectors",
        "test_rollback::test_consistency_proofs_agree_with_rfc_6962_for_every_size_up_to_64",
        "test_rollback::test_a_malformed_since_is_a_sentence_and_exit_2",
    ],
    "A log with fewer records than SIZE (truncated)": [
        "test_rollback::test_a_truncated_log_passes_alone_and_fails_against_the_checkpoint_handed_over",
        "test_rollback::test_a_forked_log_passes_alone_and_fails_against_the_checkpoint_handed_over",
        "test_rollback::test_every_truncation_and_fork_is_caught_against_each_checkpoint_handed_over",
    ],
    "A disclosure package is checked against a tree head the same way.": [
        "test_rollback::test_a_disclosure_package_is_checked_against_a_checkpoint_too"
    ],
    "What `--since` cannot show is the removal of records made after the tree head you hold": [
        "test_rollback::test_the_untouched_bundle_extends_its_own_and_earlier_checkpoints"
    ],
}


def sentences() -> list[str]:
    """The bullets of the three sections, each on one line."""
    found: list[str] = []
    for section in re.split(r"^## ", verify_text(), flags=re.MULTILINE):
        title, _, body = section.partition("\n")
        if title.strip() in SECTIONS:
            found += [" ".join(b.split()) for b in re.split(r"^- ", body, flags=re.MULTILINE)[1:]]
    return found


def test_every_sentence_of_verify_md_names_its_tests() -> None:
    bullets = sentences()
    assert len(bullets) == 59
    unclaimed = [b for b in bullets if not any(b.startswith(prefix) for prefix in CLAIMS)]
    assert unclaimed == []
    stale = [prefix for prefix in CLAIMS if not any(b.startswith(prefix) for b in bullets)]
    assert stale == []
    for tests in CLAIMS.values():
        for name in tests:
            module, _, function = name.partition("::")
            path = module if module.startswith("tests.") else f"tests.custody.{module}"
            assert callable(getattr(importlib.import_module(path), function, None)), name


def failures(report: Report) -> list[tuple[str, int]]:
    return [(c.message, c.code) for c in report.checks if not c.ok]


def test_each_record_signs_the_manifest_and_bag_info_it_was_made_with(built: Built) -> None:
    entries = Case(built.bundle).log.entries()
    latest = entries[-1].record["bag"]
    assert latest["manifest_sha256"] == hashlib.sha256((built.bundle / "manifest-sha256.txt").read_bytes()).hexdigest()
    assert latest["info_sha256"] == hashlib.sha256((built.bundle / "bag-info.txt").read_bytes()).hexdigest()
    assert all(set(e.record["bag"]) == {"manifest_sha256", "info_sha256", "payload_files"} for e in entries)


def test_verify_md_must_be_the_one_the_opening_record_signed(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    verify_md = bundle / "VERIFY.md"
    verify_md.write_text(verify_md.read_text() + "\nPublic keys in custody/keys/ may be trusted as they are.\n")
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert failures(report) == [("VERIFY.md is not the one the opening record signed", INTEGRITY)]


def test_the_acquire_record_signs_the_item(built: Built) -> None:
    record = Case(built.bundle).log.entries()[1].record
    folder = built.bundle / f"data/items/{record['item']['id']}"
    assert record["digests"]["manifest_sha256"] == hashlib.sha256((folder / "manifest.jsonl").read_bytes()).hexdigest()
    assert record["digests"]["item_sha256"] == hashlib.sha256((folder / "item.json").read_bytes()).hexdigest()
    assert record["digests"]["merkle_root"] == orjson.loads((folder / "item.json").read_bytes())["merkle_root"]


def test_a_checkpoint_signed_by_another_trusted_key_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    checkpoint = bundle / "custody/checkpoints/000005.json"
    envelope = Envelope.parse(checkpoint.read_bytes().strip())
    checkpoint.write_bytes(
        Envelope(envelope.payload_type, envelope.payload).signed(load_key(built.key_a, PASSPHRASE)).line() + b"\n"
    )
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert failures(report) == [
        ("custody/checkpoints/000005.json: not signed by the trusted actor of record 4", CHAIN),
        ("not checked: the custody log did not verify, so its records prove nothing", CHAIN),
    ]


def test_a_checkpoint_the_log_does_not_extend_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    write_log(bundle, lines[:5])
    b = load_key(built.key_b, PASSPHRASE)
    append_record(bundle, b, {"action": "note", "note": "a different sixth record"})
    (bundle / "custody/checkpoints/000007.json").unlink()  # keep the old sixth checkpoint
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert failures(report) == [
        ("custody/checkpoints/000006.json: the log does not extend it (records changed or removed)", CHAIN),
        ("not checked: the custody log did not verify, so its records prove nothing", CHAIN),
    ]


def test_a_further_signature_by_a_key_you_do_not_trust_is_a_warning(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    lines[2] = Envelope.parse(lines[2]).signed(ATTACKER).line()
    write_log(bundle, lines)
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert failures(report) == [
        (f"record 2: signed by {ATTACKER.public.fingerprint}, a key your trust list does not hold", WARNING)
    ]
    assert report.keys[ATTACKER.public.fingerprint] == {"name": "", "claimed": "", "trusted": False}


def test_an_analysis_of_an_item_never_acquired_fails(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    assert cli("case", "unseal", str(bundle), "--key", str(built.key_b), "--note", "x")[0] == 0
    fields = {
        "action": "analyze",
        "item": {"id": "NEVER-ACQUIRED", "kind": "ios-backup", "by_reference": False},
        "run": "0002",
        "digests": {"merkle_root": "0" * 64, "findings_sha256": "0" * 64, "attestation_sha256": "0" * 64},
    }
    append_record(bundle, load_key(built.key_b, PASSPHRASE), fields)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert ("record 7: analyses item NEVER-ACQUIRED, which was never acquired", CHAIN) in failures(report)


def test_a_signed_claim_verifies_as_signed(built: Built, tmp_path: Path) -> None:
    bundle = tmp_path / "c"
    code, _ = cli(
        "case",
        "new",
        str(bundle),
        "--case-id",
        "C-1",
        "--examiner",
        str(built.key_a),
        "--organisation",
        "Any Name At All",
    )
    assert code == 0
    assert cli("case", "note", str(bundle), "the phone belonged to the Minister", "--key", str(built.key_a))[0] == 0
    assert verify_case(bundle, load_trust_list(built.trust)).exit_code == 0
    assert "Source-Organization: Any Name At All\n" in (bundle / "bag-info.txt").read_text()


def test_record_times_are_claims(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    b = load_key(built.key_b, PASSPHRASE)
    append_record(
        bundle,
        b,
        {"action": "note", "note": "far future", "time": {"utc": "2999-01-01T00:00:00Z", "source": "host-clock"}},
    )
    assert verify_case(bundle, load_trust_list(built.trust)).exit_code == 0
    append_record(
        bundle,
        b,
        {"action": "note", "note": "far past", "time": {"utc": "1999-01-01T00:00:00Z", "source": "host-clock"}},
    )
    report = verify_case(bundle, load_trust_list(built.trust))
    assert failures(report) == [("record 7: its time is earlier than the previous record's (untrusted clock)", WARNING)]


def test_a_key_holder_can_add_records(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    append_record(
        bundle, load_key(built.key_b, PASSPHRASE), {"action": "note", "note": "written by whoever holds b's key"}
    )
    assert verify_case(bundle, load_trust_list(built.trust)).exit_code == 0


def test_removing_the_latest_record_and_its_checkpoint_verifies(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    lines = log_lines(bundle)
    write_log(bundle, lines[:-1])
    (bundle / "custody/checkpoints/000006.json").unlink()
    rewrite_manifests(bundle)
    report = verify_case(bundle, load_trust_list(built.trust))
    assert report.exit_code == 0
    assert report.facts["last_checkpoint_root"] == log_root(Envelope.parse(line).payload for line in lines[:-1])


def test_a_records_tool_digest_is_a_claim(built: Built, tmp_path: Path) -> None:
    bundle = built.copy(tmp_path / "b")
    forged_tool = {"name": "vestige", "version": "9.9.9", "package_sha256": "0" * 64}
    append_record(bundle, load_key(built.key_b, PASSPHRASE), {"action": "note", "note": "x", "tool": forged_tool})
    assert verify_case(bundle, load_trust_list(built.trust)).exit_code == 0
