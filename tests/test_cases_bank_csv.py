"""caselib.cases.bank_csv: template, import with row-numbered errors, round trip with Chinese."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from caselib.cases import (
    COLUMNS,
    CaseSchemaError,
    CircleROI,
    EllipseROI,
    FreeText,
    Hotspot,
    MultipleChoice,
    Numeric,
    Ordering,
    PointROI,
    SeriesRef,
    SingleChoice,
    Text,
    TrueFalse,
    WindowChoice,
    export_bank_csv,
    grade,
    import_bank_csv,
    write_template,
)

BOM = b"\xef\xbb\xbf"


def t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


def all_types() -> list:
    """One synthetic question of each type (placeholder text, not teaching content)."""
    opts = (t("选项甲，含逗号", "option A, with comma"), t("选项乙\"引号\"", 'option "B"'),
            t("选项丙", "option C"))
    return [
        SingleChoice(id="sc-1", prompt=t("单选题：哪一项？", "Single: which one?"), options=opts,
                     answer=1, explanation=t("解析：占位", "Explanation: placeholder")),
        MultipleChoice(id="mc-1", prompt=t("多选题", "Multiple"), options=opts, answers=(0, 2),
                       max_score=2),
        TrueFalse(id="tf-1", prompt=t("判断题", "True or false"), answer=False),
        Numeric(id="num-1", prompt=t("数值题（HU）", "Numeric (HU)"), answer=-612.5, abs_tol=20,
                rel_tol=0.05, unit="HU"),
        Numeric(id="num-2", prompt=t("比值", "Ratio"), answer=0.1 + 0.2, unit="ratio"),
        Hotspot(id="hs-1", prompt=t("点击病灶", "Click it"), series=SeriesRef(manifest_key="synthetic/ct-1"),
                slice_index=12, roi=CircleROI(100.5, 120, 5), pixel_spacing=(0.703125, 0.703125),
                tolerance_mm=1.5),
        Hotspot(id="hs-2", prompt=t("点击", "Click"), series=SeriesRef(series_uid="1.2.840.10008.9"),
                slice_index=0, roi=EllipseROI(1, 2, 3, 4), pixel_spacing=(1, 2)),
        Hotspot(id="hs-3", prompt=t("点击", "Click"), series=SeriesRef(manifest_key="k"),
                slice_index=3, roi=PointROI(5, 6, 2), pixel_spacing=(0.5, 0.5)),
        WindowChoice(id="win-1", prompt=t("选择肺窗", "Choose a lung window"),
                     center_range=(-700, -500), width_range=(1200, 1600)),
        Ordering(id="ord-1", prompt=t("排序", "Order"), items=opts, answer=(2, 0, 1)),
        Ordering(id="ord-2", prompt=t("排序", "Order"), items=opts[:2], answer=(1, 0),
                 scoring="all_or_nothing"),
        FreeText(id="ft-1", prompt=t("描述所见\n第二行", "Describe\nline two"),
                 rubric=t("评分标准：占位", "Rubric: placeholder"),
                 model_answer=t("参考答案", "Model answer"), max_score=10),
    ]


def test_template_is_header_only_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "template.csv"
    write_template(path)
    raw = path.read_bytes()
    assert raw.startswith(BOM)
    assert raw[len(BOM):].decode("utf-8") == ",".join(COLUMNS) + "\r\n"
    assert import_bank_csv(path) == []


def test_round_trip_all_types_with_chinese(tmp_path: Path) -> None:
    qs = all_types()
    path = tmp_path / "bank.csv"
    export_bank_csv(qs, path)
    assert path.read_bytes().startswith(BOM)
    back = import_bank_csv(path)
    assert back == qs
    export_bank_csv(back, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()
    # graded the same after the trip
    assert grade(back[0], 1).score == 1.0 and grade(back[3], -600).score == 1.0


def test_export_is_readable_as_plain_csv(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    export_bank_csv(all_types()[:2], path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["options_zh"] == '选项甲，含逗号 | 选项乙"引号" | 选项丙'
    assert rows[0]["answer"] == "B" and rows[1]["answer"] == "A,C"


def write_rows(path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


H = ["id", "type", "prompt_zh", "prompt_en", "options_zh", "options_en", "answer", "abs_tol", "unit"]


def test_teacher_friendly_answer_forms(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "b.csv", H, [
        ["a", "single_choice", "题", "Q", "甲|乙|丙", "a|b|c", "c", "", ""],
        ["b", "single_choice", "题", "Q", "甲|乙|丙", "a|b|c", "2", "", ""],
        ["c", "multiple_choice", "题", "Q", "甲|乙|丙", "a|b|c", "AC", "", ""],
        ["d", "multiple_choice", "题", "Q", "甲|乙|丙", "a|b|c", "a，b；c", "", ""],
        ["", "", "", "", "", "", "", "", ""],                         # blank row skipped
        ["e", "true_false", "题", "Q", "", "", "对", "", ""],
        ["f", "true_false", "题", "Q", "", "", "F", "", ""],
        ["g", "numeric", "题", "Q", "", "", "12.5", "0.5", "mm"],
    ])
    qs = import_bank_csv(path)
    assert [q.id for q in qs] == list("abcdefg")
    assert qs[0].answer == 2 and qs[1].answer == 1
    assert qs[2].answers == (0, 2) and qs[3].answers == (0, 1, 2)
    assert qs[4].answer is True and qs[5].answer is False
    assert qs[6] == Numeric(id="g", prompt=t("题", "Q"), answer=12.5, abs_tol=0.5, unit="mm")


def test_gbk_file_gives_a_helpful_error_and_can_be_read(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "gbk.csv", H, [["a", "true_false", "判断", "Q", "", "", "对", "", ""]],
                      encoding="gb18030")
    with pytest.raises(ValueError, match=r"not utf-8-sig text; in Excel save as 'CSV UTF-8"):
        import_bank_csv(path)
    assert import_bank_csv(path, encoding="gb18030")[0].prompt.zh == "判断"


ROW_ERRORS = [
    (["a", "single_choice", "题", "Q", "甲|乙|丙", "a|b|c", "E", "", ""],
     "row 2: answer: expected option letters A-C (or numbers 1-3), found 'E'"),
    (["a", "single_choice", "题", "Q", "甲|乙|丙", "a|b|c", "A,B", "", ""],
     "row 2: answer: expected exactly one option letter, found 'A,B'"),
    (["a", "single_choice", "题", "Q", "甲|乙|丙", "a|b", "A", "", ""],
     "row 2: options_en: expected 3 options (as many as options_zh), found 2"),
    (["a", "single_choice", "题", "Q", "甲", "a", "A", "", ""],
     "row 2: options_zh: expected at least 2 options separated by '|', found 1"),
    (["a", "single_choice", "题", "", "甲|乙", "a|b", "A", "", ""],
     "row 2: prompt_en: expected text, found an empty cell"),
    (["a", "essay", "题", "Q", "", "", "", "", ""],
     "row 2: type: expected one of single_choice, multiple_choice, true_false, numeric, hotspot, "
     "window, ordering, free_text, found 'essay'"),
    (["", "true_false", "题", "Q", "", "", "T", "", ""],
     "row 2: id: expected a non-empty string, found ''"),
    (["a", "true_false", "题", "Q", "", "", "maybe", "", ""],
     "row 2: answer: expected true or false (T/F, 对/错), found 'maybe'"),
    (["a", "numeric", "题", "Q", "", "", "forty", "", ""],
     "row 2: answer: expected a number, found 'forty'"),
    (["a", "numeric", "题", "Q", "", "", "nan", "", ""],
     "row 2: answer: expected a finite number, found nan"),
    (["a", "numeric", "题", "Q", "", "", "40", "-5", ""],
     "row 2: abs_tol: expected a non-negative number, found -5.0"),
    (["a", "ordering", "题", "Q", "甲|乙|丙", "a|b|c", "A,B,B", "", ""],
     "row 2: answer: expected a permutation of 0..2, found a list of 3 item(s)"),
]


@pytest.mark.parametrize(("row", "message"), ROW_ERRORS, ids=[m for _, m in ROW_ERRORS])
def test_row_numbered_errors(tmp_path: Path, row: list[str], message: str) -> None:
    path = write_rows(tmp_path / "bank.csv", H, [row])
    with pytest.raises(CaseSchemaError) as info:
        import_bank_csv(path)
    assert str(info.value) == f"{path}: {message}"


def test_row_numbers_count_the_header_and_duplicates(tmp_path: Path) -> None:
    ok = ["a", "true_false", "题", "Q", "", "", "T", "", ""]
    path = write_rows(tmp_path / "bank.csv", H, [ok, ["b", *ok[1:]], ok])
    with pytest.raises(CaseSchemaError, match=r"row 4: id: expected an id not used before "
                                              r"\(row 2 has it\), found 'a'"):
        import_bank_csv(path)


HOTSPOT_H = ["id", "type", "prompt_zh", "prompt_en", "series", "slice_index", "pixel_spacing", "roi",
             "tolerance_mm"]


@pytest.mark.parametrize(("cells", "message"), [
    (["k", "3", "0.7,0.7", "square 1 2 3", ""],
     "roi: expected 'circle ROW COL RADIUS_MM', 'ellipse ROW COL RROW_MM RCOL_MM' or "
     "'point ROW COL TOL_MM', found 'square 1 2 3'"),
    (["k", "3", "0.7,0.7", "circle 1 2 -3", ""], "roi.radius_mm: expected a positive number, found -3.0"),
    (["k", "-1", "0.7,0.7", "circle 1 2 3", ""], "slice_index: expected a non-negative whole number, found '-1'"),
    (["k", "3", "0.7", "circle 1 2 3", ""], "pixel_spacing: expected two numbers row_mm,col_mm, found '0.7'"),
    (["", "3", "0.7,0.7", "circle 1 2 3", ""], "series: expected a manifest key or Series Instance UID, "
     "found an empty cell"),
])
def test_hotspot_row_errors(tmp_path: Path, cells: list[str], message: str) -> None:
    path = write_rows(tmp_path / "bank.csv", HOTSPOT_H, [["h", "hotspot", "题", "Q", *cells]])
    with pytest.raises(CaseSchemaError) as info:
        import_bank_csv(path)
    assert str(info.value) == f"{path}: row 2: {message}"


def test_hotspot_accepts_dicom_style_spacing_and_uid(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "bank.csv", HOTSPOT_H,
                      [["h", "hotspot", "题", "Q", "1.2.3.4", "0", "0.5\\0.6", "point 1 2 0", ""]])
    q = import_bank_csv(path)[0]
    assert q.series == SeriesRef(series_uid="1.2.3.4") and q.pixel_spacing == (0.5, 0.6)


def test_header_errors(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "bank.csv", ["id", "type", "prompt_zh", "promt_en"], [])
    with pytest.raises(CaseSchemaError, match=r"row 1: header: expected columns from id, type, .* "
                                              r"found unknown column\(s\) 'promt_en'"):
        import_bank_csv(path)
    path = write_rows(tmp_path / "bank.csv", ["id", "type", "prompt_zh"], [])
    with pytest.raises(CaseSchemaError, match=r"row 1: header: expected the columns id, type, "
                                              r"prompt_zh, prompt_en, found no column 'prompt_en'"):
        import_bank_csv(path)
    (tmp_path / "empty.csv").write_bytes(BOM)
    with pytest.raises(CaseSchemaError, match="found an empty file"):
        import_bank_csv(tmp_path / "empty.csv")


def test_export_refuses_what_cannot_round_trip(tmp_path: Path) -> None:
    bad = SingleChoice(id="x", prompt=t("题", "Q"), options=(t("甲|乙", "a"), t("丙", "b")), answer=0)
    with pytest.raises(ValueError, match=r"option '甲\|乙' contains the separator '\|'"):
        export_bank_csv([bad], tmp_path / "x.csv")
    tf = TrueFalse(id="x", prompt=t("题", "Q"), answer=True)
    with pytest.raises(ValueError, match="question id 'x' appears twice"):
        export_bank_csv([tf, tf], tmp_path / "x.csv")
    with pytest.raises(TypeError, match="expects Question objects, got dict"):
        export_bank_csv([{"id": "x"}], tmp_path / "x.csv")  # type: ignore[list-item]
    assert not (tmp_path / "x.csv").exists()
