"""caselib.deid.table and caselib.deid.profile: the profile table as data, options, profiles."""
from __future__ import annotations

import json
import shutil

import pytest

from caselib.deid import (
    Action,
    BasicProfile,
    CleanDescriptors,
    Option,
    Profile,
    ProfileTableError,
    RetainLongitudinalFullDates,
    RetainLongitudinalModifiedDates,
    RetainSafePrivate,
    SafePrivateList,
    get_profile,
    list_profiles,
    load_table,
)
from caselib.deid.table import DATA_DIR, parse_tag_pattern, resolve_action


def test_table_records_revisions_and_provenance():
    table = load_table()
    assert table.revision == "2026c"
    assert set(table.revisions) == {"2024b", "2026c"}
    for revision, source in table.revisions.items():
        assert len(source["sha256"]) == 64 and source["file"].endswith(".json")
        assert len(table.rows_from(revision)) == source["rows"], revision
    assert len(table.rows_from("2024b")) == 621
    assert len(table.rows_from("2026c")) == 35
    # 2026c rows: tag and Basic Profile action only, kept as given
    row = table.row_for(0x0040B020)
    assert row.revision == "2026c" and row.basic is Action.X_D and not row.options
    assert table.row_for(0x300A0054).basic is Action.U
    assert table.row_for(0x00700006).basic is Action.D


def test_every_action_code_parses_to_the_enum():
    table = load_table()
    codes = {row.basic for row in table.rows} | {a for row in table.rows for a in row.options.values()}
    assert codes == {Action.D, Action.Z, Action.X, Action.K, Action.C, Action.U, Action.Z_D, Action.X_Z,
                     Action.X_D, Action.X_Z_D, Action.X_Z_U}
    assert Action.from_code(" x/z/u ") is Action.X_Z_U
    with pytest.raises(ValueError, match="unknown action code 'Q'; expected one of D, Z, X"):
        Action.from_code("Q")


@pytest.mark.parametrize(("code", "attribute_type", "expected"), [
    (Action.Z_D, "1", Action.D), (Action.Z_D, "2", Action.Z), (Action.Z_D, None, Action.Z),
    (Action.X_Z, "2", Action.Z), (Action.X_Z, "3", Action.X), (Action.X_D, "1C", Action.D),
    (Action.X_D, None, Action.X), (Action.X_Z_D, "1", Action.D), (Action.X_Z_D, "2C", Action.Z),
    (Action.X_Z_D, None, Action.X), (Action.X_Z_U, None, Action.U), (Action.K, "1", Action.K),
])
def test_compound_actions_resolve_by_attribute_type(code, attribute_type, expected):
    assert resolve_action(code, attribute_type) is expected
    assert resolve_action(Action.X_Z_U, None, keep_references=False) is Action.X


def test_repeating_groups_and_private_rows():
    table = load_table()
    assert table.row_for(0x50001234).display_name == "Curve Data"
    assert table.row_for(0x601E3000).display_name == "Overlay Data"
    assert table.row_for(0x60024000).display_name == "Overlay Comments"
    assert table.row_for(0x60013000).is_private          # odd group: private, not an overlay
    assert table.row_for(0x00880200).display_name == "Icon Image Sequence"
    assert table.row_for(0x00080060) is None              # Modality: not in the table, kept
    mask, value = parse_tag_pattern("(50XX,XXXX)")
    assert 0x50FE0010 & mask == value and 0x50FF0010 & mask != value


def test_caselib_rows_are_marked_and_do_not_repeat_the_standard():
    table = load_table()
    local = table.rows_from("caselib")
    assert {r.tag_text for r in local} >= {"(0002,0016)", "(0040,A160)"}
    assert all(r.why for r in local)


def test_option_codes_match_cid_7050_in_pydicom():
    from pydicom.sr.codedict import codes

    for option in Option:
        keyword = "".join(w.capitalize() if not w.isupper() else w for w in option.meaning.split())
        keyword = keyword.replace("UIDs", "Uids")
        code = getattr(codes.DCM, keyword)
        assert (code.value, code.meaning) == (option.code, option.meaning), option
    assert codes.DCM.BasicApplicationConfidentialityProfile.value == "113100"


def test_malformed_table_is_refused_with_the_row_named(tmp_path):
    for name in ("ps3.15-table-E.1-1.json", "caselib-rows.json", "iod-types.json"):
        shutil.copy(DATA_DIR / name, tmp_path / name)
    doc = json.loads((tmp_path / "ps3.15-table-E.1-1.json").read_text())
    doc["rows"][0]["basicProfile"] = "Q/R"
    (tmp_path / "ps3.15-table-E.1-1.json").write_text(json.dumps(doc))
    with pytest.raises(ProfileTableError, match=r"row \(0000,1000\).*unknown action code 'Q/R'"):
        load_table(str(tmp_path))


def test_builtin_profiles_listed_by_name():
    assert {"basic", "teaching", "teaching-structured"} <= set(list_profiles())
    default = Profile.default()
    assert default.name == "teaching"
    assert [code for code, _ in default.codes] == ["113100", "113107", "113108", "113105", "113103", "113111"]
    assert default.options == {Option.RETAIN_LONGITUDINAL_MODIFIED_DATES, Option.RETAIN_PATIENT_CHARACTERISTICS,
                               Option.CLEAN_DESCRIPTORS, Option.CLEAN_GRAPHICS, Option.RETAIN_SAFE_PRIVATE}
    with pytest.raises(ValueError, match="unknown de-identification profile 'teachng'; did you mean teaching"):
        get_profile("teachng")


def test_profiles_are_configurable_data():
    profile = Profile.default().replace(CleanDescriptors(mode="remove"),
                                        RetainLongitudinalModifiedDates(min_days=-100, max_days=-10),
                                        name="strict")
    again = Profile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert again == profile
    assert again.step(RetainLongitudinalModifiedDates).min_days == -100
    assert "113105" not in [c for c, _ in profile.codes]   # nothing retained to clean
    custom = SafePrivateList.from_dicts([{"tag": "(0029,xx10)", "creator": "ACME 1.0", "vr": "DS"}])
    with_list = Profile("acme", (BasicProfile(), RetainSafePrivate(allow_list=custom)))
    assert Profile.from_dict(with_list.to_dict()) == with_list


@pytest.mark.parametrize(("steps", "message"), [
    ((CleanDescriptors(),), "the first step must be BasicProfile"),
    ((BasicProfile(), BasicProfile()), "appear more than once"),
    ((BasicProfile(), RetainLongitudinalFullDates(), RetainLongitudinalModifiedDates()), "choose one of"),
])
def test_invalid_profiles_are_refused(steps, message):
    with pytest.raises(ValueError, match=message):
        Profile("x", steps)


def test_invalid_step_parameters_are_refused():
    with pytest.raises(ValueError, match="mode must be 'scrub' or 'remove', got 'erase'"):
        CleanDescriptors(mode="erase")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must exclude 0 days"):
        RetainLongitudinalModifiedDates(min_days=-5, max_days=5)
    with pytest.raises(ValueError, match="unknown step 'clean-descriptor'; did you mean clean-descriptors"):
        Profile.from_dict({"name": "x", "steps": [{"step": "basic"}, {"step": "clean-descriptor"}]})
