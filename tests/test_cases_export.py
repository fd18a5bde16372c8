"""caselib.cases.export: Moodle XML and QTI 2.1 exports, parsed back and checked structurally.

No QTI/IMS CP XSD is available offline (and lxml is not installed), so the
QTI package is validated structurally: required elements and attributes,
identifiers, responseDeclaration cardinality/baseType against the
interaction, response processing, and manifest <-> zip consistency.
"""
from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from caselib.cases import (
    CircleROI,
    FreeText,
    Hotspot,
    MultipleChoice,
    Numeric,
    Ordering,
    SeriesRef,
    SingleChoice,
    Text,
    TrueFalse,
    WindowChoice,
)
from caselib.cases.export import (
    IMSCP_NS,
    MOODLE_GRADE_FRACTIONS,
    QTI_NS,
    ExportReport,
    export_moodle_xml,
    export_qti21,
)

Q = "{%s}" % QTI_NS
CP = "{%s}" % IMSCP_NS
NASTY_ZH = '单选题：CT值 < 20 & "低密度" \'囊性\'？]]> 结束'
NASTY_EN = 'Single: HU < 20 & "low" \'cystic\'? ]]> end'


def t(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


def bank() -> list:
    """One synthetic question per type (placeholder text, not teaching content)."""
    opts = (t("选项甲 <b>", "option A <b>"), t("选项乙 & 丙", "option B & C"),
            t('选项"丁"', 'option "D"'), t("选项戊", "option E"))
    return [
        SingleChoice(id="sc-1", prompt=t(NASTY_ZH, NASTY_EN), options=opts, answer=1,
                     explanation=t("解析 <占位>", "Explanation <placeholder>")),
        MultipleChoice(id="mc-1", prompt=t("多选题", "Multiple"), options=opts, answers=(0, 2, 3),
                       max_score=3),
        TrueFalse(id="tf-1", prompt=t("判断题 a<b", "True or false a<b"), answer=False),
        TrueFalse(id="tf-2", prompt=t("判断题", "True or false"), answer=True),
        Numeric(id="num-1", prompt=t("数值题（HU）", "Numeric (HU)"), answer=-612.5, abs_tol=20,
                rel_tol=0.05, unit="HU"),
        Numeric(id="num 2/中文", prompt=t("直径", "Diameter"), answer=12, abs_tol=1.5, unit="mm"),
        Hotspot(id="hs-1", prompt=t("点击病灶", "Click it"), series=SeriesRef(manifest_key="synthetic/ct-1"),
                slice_index=12, roi=CircleROI(100.5, 120, 5), pixel_spacing=(0.7, 0.7)),
        WindowChoice(id="win-1", prompt=t("选择肺窗", "Choose a lung window"),
                     center_range=(-700, -500), width_range=(1200, 1600)),
        Ordering(id="ord-1", prompt=t("排序", "Order"), items=opts[:3], answer=(2, 0, 1)),
        Ordering(id="ord-2", prompt=t("排序", "Order"), items=opts[:2], answer=(1, 0),
                 scoring="all_or_nothing"),
        FreeText(id="ft-1", prompt=t("描述所见\n第二行 <&>", "Describe\nline two <&>"),
                 rubric=t("评分标准 & 要点", "Rubric & points"),
                 model_answer=t("参考答案", "Model answer"), max_score=10),
    ]


def by_id(qs: list) -> dict:
    return {q.id: q for q in qs}


# --------------------------------------------------------------------------- Moodle

def moodle(tmp_path: Path, lang: str = "zh", **kw) -> tuple[ExportReport, ET.Element, dict[str, ET.Element]]:
    path = tmp_path / f"bank-{lang}.xml"
    report = export_moodle_xml(bank(), path, lang=lang, **kw)
    root = ET.parse(path).getroot()
    qs = {q.findtext("name/text"): q for q in root.findall("question") if q.get("type") != "category"}
    return report, root, qs


def html_text(e: ET.Element | None) -> str:
    """Moodle HTML text -> plain text (strip tags, unescape)."""
    assert e is not None
    return html.unescape(re.sub(r"<[^>]+>", "", (e.text or "").replace("<br>", "\n")))


def fractions(q: ET.Element) -> list[float]:
    return [float(a.get("fraction")) for a in q.findall("answer")]


def test_moodle_report_written_and_skipped(tmp_path: Path) -> None:
    report, root, qs = moodle(tmp_path)
    assert root.tag == "quiz"
    assert report.path == tmp_path / "bank-zh.xml"
    assert dict(report.skipped).keys() == {"hs-1", "win-1"}
    assert all(reason for _, reason in report.skipped)
    assert report.written == [q.id for q in bank() if q.id not in ("hs-1", "win-1")]
    assert list(qs) == report.written  # nothing silently dropped, order kept
    assert [n for n, _ in report.notes] == ["ord-1"]  # kendall -> approximation


def test_moodle_types_and_common_fields(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    types = {k: v.get("type") for k, v in qs.items()}
    assert types == {"sc-1": "multichoice", "mc-1": "multichoice", "tf-1": "truefalse", "tf-2": "truefalse",
                     "num-1": "numerical", "num 2/中文": "numerical", "ord-1": "ordering",
                     "ord-2": "ordering", "ft-1": "essay"}
    src = by_id(bank())
    for qid, q in qs.items():
        assert q.find("questiontext").get("format") == "html"
        assert float(q.findtext("defaultgrade")) == src[qid].max_score
        assert q.findtext("idnumber") == qid


def test_moodle_text_escaping_and_cdata(tmp_path: Path) -> None:
    path = tmp_path / "b.xml"
    export_moodle_xml(bank(), path, lang="zh")
    raw = path.read_text(encoding="utf-8")
    assert "<![CDATA[" in raw
    root = ET.parse(path).getroot()
    sc = next(q for q in root.iter("question") if q.findtext("name/text") == "sc-1")
    assert html_text(sc.find("questiontext/text")) == NASTY_ZH  # incl. "]]>" split across CDATA
    assert "&lt;" in sc.find("questiontext/text").text  # HTML-escaped inside CDATA
    assert html_text(sc.find("generalfeedback/text")) == "解析 <占位>"
    opts = [html_text(a.find("text")) for a in sc.findall("answer")]
    assert opts == ["选项甲 <b>", "选项乙 & 丙", '选项"丁"', "选项戊"]
    ft = next(q for q in root.iter("question") if q.findtext("name/text") == "ft-1")
    assert html_text(ft.find("questiontext/text")) == "描述所见\n第二行 <&>"


def test_moodle_language_choice(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path, lang="en")
    assert html_text(qs["sc-1"].find("questiontext/text")) == NASTY_EN
    assert html_text(qs["sc-1"].findall("answer")[2].find("text")) == 'option "D"'
    with pytest.raises(ValueError, match="lang"):
        export_moodle_xml(bank(), tmp_path / "x.xml", lang="fr")


def test_moodle_single_choice(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    sc = qs["sc-1"]
    assert sc.findtext("single") == "true"
    assert sc.findtext("shuffleanswers") == "true"
    assert fractions(sc) == [0, 100, 0, 0]


def test_moodle_multiple_choice_fractions(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    mc = qs["mc-1"]
    assert mc.findtext("single") == "false"
    fr = fractions(mc)
    assert fr == [33.33333, -33.33333, 33.33333, 33.33333]
    assert sum(f for f in fr if f > 0) == pytest.approx(100, abs=1e-4)
    assert all(f <= 0 for i, f in enumerate(fr) if i not in (0, 2, 3))
    for f in fr:  # every fraction is one Moodle accepts
        assert any(abs(abs(f) / 100 - g) < 1e-6 for g in MOODLE_GRADE_FRACTIONS)


@pytest.mark.parametrize("k", range(1, 11))
def test_moodle_multiple_choice_allowed_fractions(tmp_path: Path, k: int) -> None:
    opts = tuple(t(f"选项{i}", f"option {i}") for i in range(k + 1))
    q = MultipleChoice(id="m", prompt=t("多选", "Multi"), options=opts, answers=tuple(range(k)))
    report = export_moodle_xml([q], tmp_path / "m.xml")
    assert report.written == ["m"]
    fr = fractions(ET.parse(tmp_path / "m.xml").getroot().find("question"))
    assert sum(fr[:k]) == pytest.approx(100, abs=1e-3)
    assert fr[k] == pytest.approx(-100 / k, abs=1e-4)
    for f in fr:
        assert any(abs(abs(f) / 100 - g) < 1e-6 for g in MOODLE_GRADE_FRACTIONS)


def test_moodle_multiple_choice_too_many_correct_is_skipped(tmp_path: Path) -> None:
    opts = tuple(t(f"选项{i}", f"option {i}") for i in range(12))
    q = MultipleChoice(id="m11", prompt=t("多选", "Multi"), options=opts, answers=tuple(range(11)))
    report = export_moodle_xml([q], tmp_path / "m.xml")
    assert report.written == []
    assert report.skipped[0][0] == "m11" and "fraction" in report.skipped[0][1]
    assert ET.parse(tmp_path / "m.xml").getroot().findall("question") == []


def test_moodle_true_false(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    for qid, truth in (("tf-1", False), ("tf-2", True)):
        ans = {a.findtext("text"): float(a.get("fraction")) for a in qs[qid].findall("answer")}
        assert ans == {"true": 100.0 if truth else 0.0, "false": 0.0 if truth else 100.0}


def test_moodle_numerical_tolerance(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    a = qs["num-1"].find("answer")
    assert a.get("fraction") == "100"
    assert float(a.findtext("text")) == -612.5
    assert float(a.findtext("tolerance")) == pytest.approx(max(20, 0.05 * 612.5))
    b = qs["num 2/中文"].find("answer")
    assert (float(b.findtext("text")), float(b.findtext("tolerance"))) == (12, 1.5)
    assert "单位：mm" in html_text(qs["num 2/中文"].find("questiontext/text"))


def test_moodle_essay(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    ft = qs["ft-1"]
    assert ft.findtext("responseformat") == "editor"
    assert ft.find("graderinfo").get("format") == "html"
    info = html_text(ft.find("graderinfo/text"))
    assert "评分标准 & 要点" in info and "参考答案" in info
    assert ft.findall("answer") == []


def test_moodle_ordering(tmp_path: Path) -> None:
    _, _, qs = moodle(tmp_path)
    o1 = qs["ord-1"]
    texts = [html_text(a.find("text")) for a in o1.findall("answer")]
    assert texts == ['选项"丁"', "选项甲 <b>", "选项乙 & 丙"]  # correct order (2, 0, 1)
    assert fractions(o1) == [1, 2, 3]
    assert o1.findtext("gradingtype") == "RELATIVE_ALL_PREVIOUS_AND_NEXT"
    assert o1.findtext("selectcount") == "3"
    assert qs["ord-2"].findtext("gradingtype") == "ALL_OR_NOTHING"


def test_moodle_ordering_can_be_skipped_and_category(tmp_path: Path) -> None:
    report, root, qs = moodle(tmp_path, moodle_ordering=False, category="放射/胸部")
    assert {"ord-1", "ord-2"} <= dict(report.skipped).keys()
    assert "ord-1" not in qs
    cat = root.find("question")
    assert cat.get("type") == "category"
    assert cat.findtext("category/text") == "$course$/top/放射/胸部"


def test_duplicate_ids_refused(tmp_path: Path) -> None:
    q = TrueFalse(id="x", prompt=t("甲", "a"), answer=True)
    with pytest.raises(ValueError, match="duplicate"):
        export_moodle_xml([q, q], tmp_path / "d.xml")
    with pytest.raises(ValueError, match="duplicate"):
        export_qti21([q, q], tmp_path / "d.zip")


# --------------------------------------------------------------------------- QTI 2.1

def qti(tmp_path: Path, lang: str = "zh") -> tuple[ExportReport, zipfile.ZipFile, ET.Element, dict[str, ET.Element]]:
    path = tmp_path / f"bank-{lang}.zip"
    report = export_qti21(bank(), path, lang=lang)
    zf = zipfile.ZipFile(path)
    manifest = ET.fromstring(zf.read("imsmanifest.xml"))
    items = {}
    for name in zf.namelist():
        if name.startswith("items/"):
            root = ET.fromstring(zf.read(name))
            items[root.get("title")] = root
    return report, zf, manifest, items


INTERACTIONS = {"choiceInteraction", "orderInteraction", "textEntryInteraction", "extendedTextInteraction"}


def interaction(item: ET.Element) -> ET.Element:
    found = [e for e in item.iter() if e.tag.removeprefix(Q) in INTERACTIONS]
    assert len(found) == 1
    return found[0]


def test_qti_report_and_zip_contents(tmp_path: Path) -> None:
    report, zf, manifest, items = qti(tmp_path)
    assert dict(report.skipped).keys() == {"hs-1", "win-1"}
    assert all(reason for _, reason in report.skipped)
    assert report.written == [q.id for q in bank() if q.id not in ("hs-1", "win-1")]
    assert [n for n, _ in report.notes] == ["ord-1"]
    assert sorted(items) == sorted(report.written)
    assert zf.testzip() is None
    names = zf.namelist()
    assert names[0] == "imsmanifest.xml"
    assert len(names) == 1 + len(report.written)
    assert "items/num_2___.xml" in names  # unsafe id characters replaced


def test_qti_manifest_references_every_item(tmp_path: Path) -> None:
    _, zf, manifest, items = qti(tmp_path)
    assert manifest.tag == CP + "manifest"
    assert manifest.get("identifier")
    assert manifest.findtext(f"{CP}metadata/{CP}schema") == "QTIv2.1 Package"
    assert manifest.find(f"{CP}organizations") is not None
    resources = manifest.findall(f"{CP}resources/{CP}resource")
    hrefs = [r.get("href") for r in resources]
    assert sorted(hrefs) == sorted(n for n in zf.namelist() if n != "imsmanifest.xml")
    idents = [r.get("identifier") for r in resources]
    assert len(set(idents)) == len(idents)
    for r in resources:
        assert r.get("type") == "imsqti_item_xmlv2p1"
        assert [f.get("href") for f in r.findall(f"{CP}file")] == [r.get("href")]
        item = ET.fromstring(zf.read(r.get("href")))
        assert r.get("href") == f"items/{item.get('identifier')}.xml"


def test_qti_items_required_structure(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    src = by_id(bank())
    ncname = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")
    idents = set()
    for title, item in items.items():
        assert item.tag == Q + "assessmentItem"
        assert ncname.match(item.get("identifier"))
        idents.add(item.get("identifier"))
        assert item.get("adaptive") == "false" and item.get("timeDependent") == "false"
        assert item.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh"
        children = [c.tag.removeprefix(Q) for c in item]
        # schema order: responseDeclaration*, outcomeDeclaration*, itemBody, responseProcessing?
        expected = ["responseDeclaration", "outcomeDeclaration", "outcomeDeclaration", "itemBody"]
        if src[title].kind != "free_text":
            expected.append("responseProcessing")
        assert children == expected
        rd = item.find(Q + "responseDeclaration")
        assert rd.get("identifier") == "RESPONSE"
        outcomes = {o.get("identifier"): o for o in item.findall(Q + "outcomeDeclaration")}
        assert outcomes["SCORE"].get("baseType") == "float"
        assert outcomes["SCORE"].get("cardinality") == "single"
        assert float(outcomes["MAXSCORE"].findtext(f"{Q}defaultValue/{Q}value")) == src[title].max_score
        inter = interaction(item)
        assert inter.get("responseIdentifier") == "RESPONSE"
        # every variable/correct/mapResponse refers to a declared variable
        declared = {"RESPONSE", "SCORE", "MAXSCORE"}
        for e in item.iter():
            if e.tag.removeprefix(Q) in ("variable", "correct", "mapResponse", "setOutcomeValue"):
                assert e.get("identifier") in declared
    assert len(idents) == len(items)


EXPECTED_DECL = {  # interaction -> (cardinality, baseType)
    "sc-1": ("choiceInteraction", "single", "identifier"),
    "tf-1": ("choiceInteraction", "single", "identifier"),
    "mc-1": ("choiceInteraction", "multiple", "identifier"),
    "num-1": ("textEntryInteraction", "single", "float"),
    "ord-1": ("orderInteraction", "ordered", "identifier"),
    "ft-1": ("extendedTextInteraction", "single", "string"),
}


@pytest.mark.parametrize("qid", sorted(EXPECTED_DECL))
def test_qti_cardinality_matches_interaction(tmp_path: Path, qid: str) -> None:
    _, _, _, items = qti(tmp_path)
    item = items[qid]
    inter = interaction(item)
    rd = item.find(Q + "responseDeclaration")
    kind, card, base = EXPECTED_DECL[qid]
    assert inter.tag == Q + kind
    assert (rd.get("cardinality"), rd.get("baseType")) == (card, base)
    if kind == "choiceInteraction":
        assert inter.get("maxChoices") == ("0" if card == "multiple" else "1")
    # inline interaction sits in a block (p), block interactions directly in itemBody
    parent = {c: p for p in item.iter() for c in p}[inter]
    assert parent.tag == Q + ("p" if kind == "textEntryInteraction" else "itemBody")


def choice_ids(item: ET.Element) -> list[str]:
    return [c.get("identifier") for c in interaction(item).findall(Q + "simpleChoice")]


def correct_values(item: ET.Element) -> list[str]:
    return [v.text for v in item.findall(f"{Q}responseDeclaration/{Q}correctResponse/{Q}value")]


def test_qti_single_choice_and_text(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    item = items["sc-1"]
    assert choice_ids(item) == ["A", "B", "C", "D"]
    assert correct_values(item) == ["B"]
    texts = [c.text for c in interaction(item).findall(Q + "simpleChoice")]
    assert texts == ["选项甲 <b>", "选项乙 & 丙", '选项"丁"', "选项戊"]
    assert item.find(f"{Q}itemBody/{Q}p").text == NASTY_ZH
    rp = item.find(Q + "responseProcessing")
    assert rp.find(f".//{Q}match/{Q}correct") is not None
    assert float(rp.find(f"{Q}responseCondition/{Q}responseIf/{Q}setOutcomeValue/{Q}baseValue").text) == 1


def test_qti_language_choice(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path, lang="en")
    assert items["sc-1"].find(f"{Q}itemBody/{Q}p").text == NASTY_EN
    assert items["sc-1"].get("{http://www.w3.org/XML/1998/namespace}lang") == "en"
    assert [c.text for c in interaction(items["tf-1"])] == ["True", "False"]


def test_qti_true_false(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    assert choice_ids(items["tf-1"]) == ["true", "false"]
    assert correct_values(items["tf-1"]) == ["false"]
    assert correct_values(items["tf-2"]) == ["true"]


def test_qti_multiple_choice_mapping(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    item = items["mc-1"]
    assert correct_values(item) == ["A", "C", "D"]
    mp = item.find(f"{Q}responseDeclaration/{Q}mapping")
    assert (float(mp.get("lowerBound")), float(mp.get("upperBound"))) == (0, 3)
    entries = {e.get("mapKey"): float(e.get("mappedValue")) for e in mp}
    assert entries == {"A": 1, "B": -1, "C": 1, "D": 1}
    assert set(entries) == set(choice_ids(item))
    assert item.find(f".//{Q}responseElse/{Q}setOutcomeValue/{Q}mapResponse").get("identifier") == "RESPONSE"


def test_qti_numeric_range(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    item = items["num-1"]
    assert correct_values(item) == ["-612.5"]
    cond = item.find(f"{Q}responseProcessing/{Q}responseCondition/{Q}responseIf/{Q}and")
    gte, lte = cond.find(Q + "gte"), cond.find(Q + "lte")
    tol = max(20, 0.05 * 612.5)
    assert float(gte.find(Q + "baseValue").text) == pytest.approx(-612.5 - tol)
    assert float(lte.find(Q + "baseValue").text) == pytest.approx(-612.5 + tol)
    for op in (gte, lte):
        assert op.find(Q + "variable").get("identifier") == "RESPONSE"
        assert op.find(Q + "baseValue").get("baseType") == "float"
    assert interaction(item).tail.strip() == "HU"
    item2 = items["num 2/中文"]
    assert item2.get("identifier") == "num_2___"
    b = item2.find(f".//{Q}and")
    assert [float(x.text) for x in b.iter(Q + "baseValue")] == [10.5, 13.5]


def test_qti_ordering(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    item = items["ord-1"]
    assert choice_ids(item) == ["A", "B", "C"]
    assert correct_values(item) == ["C", "A", "B"]
    assert interaction(item).get("shuffle") == "true"
    assert correct_values(items["ord-2"]) == ["B", "A"]


def test_qti_free_text(tmp_path: Path) -> None:
    _, _, _, items = qti(tmp_path)
    item = items["ft-1"]
    assert item.find(Q + "responseProcessing") is None  # scored by hand
    paras = [p.text for p in item.findall(f"{Q}itemBody/{Q}p")]
    assert paras == ["描述所见", "第二行 <&>"]
    rb = item.find(f"{Q}itemBody/{Q}rubricBlock")
    assert rb.get("view") == "scorer"
    assert [p.text for p in rb] == ["评分标准 & 要点", "参考答案：参考答案"]


def test_qti_is_deterministic_and_empty_bank(tmp_path: Path) -> None:
    export_qti21(bank(), tmp_path / "a.zip")
    export_qti21(bank(), tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    report = export_qti21([], tmp_path / "e.zip")
    assert report.written == [] and report.skipped == []
    with zipfile.ZipFile(tmp_path / "e.zip") as zf:
        assert zf.namelist() == ["imsmanifest.xml"]
        m = ET.fromstring(zf.read("imsmanifest.xml"))
        assert m.findall(f"{CP}resources/{CP}resource") == []


def test_qti_colliding_safe_ids_are_made_unique(tmp_path: Path) -> None:
    qs = [TrueFalse(id="a/b", prompt=t("甲", "a"), answer=True),
          TrueFalse(id="a_b", prompt=t("乙", "b"), answer=False),
          TrueFalse(id="1x", prompt=t("丙", "c"), answer=False)]
    export_qti21(qs, tmp_path / "c.zip")
    with zipfile.ZipFile(tmp_path / "c.zip") as zf:
        ids = [ET.fromstring(zf.read(n)).get("identifier") for n in zf.namelist()[1:]]
    assert ids == ["a_b", "a_b-2", "Q_1x"]


# --------------------------------------------------------------------------- scoring equivalence

def subsets(n: int):
    for mask in range(1, 2 ** n):
        yield [i for i in range(n) if mask >> i & 1]


def test_exported_multiple_choice_scores_like_grade(tmp_path: Path) -> None:
    """Moodle (sum of fractions, clamped 0..100 %) and QTI (mapResponse, bounded)
    give the same score as caselib's grade() for every possible answer."""
    from caselib.cases import grade

    q = by_id(bank())["mc-1"]
    _, _, moodle_qs = moodle(tmp_path)
    fr = fractions(moodle_qs["mc-1"])
    _, _, _, items = qti(tmp_path)
    mp = items["mc-1"].find(f"{Q}responseDeclaration/{Q}mapping")
    entries = {e.get("mapKey"): float(e.get("mappedValue")) for e in mp}
    lo, hi = float(mp.get("lowerBound")), float(mp.get("upperBound"))
    for chosen in subsets(len(q.options)):
        expected = grade(q, chosen).score
        moodle_score = q.max_score * min(1.0, max(0.0, sum(fr[i] for i in chosen) / 100))
        qti_score = min(hi, max(lo, sum(entries[chr(65 + i)] for i in chosen)))
        assert moodle_score == pytest.approx(expected, abs=1e-4), chosen
        assert qti_score == pytest.approx(expected, abs=1e-9), chosen


@pytest.mark.parametrize("x", [-643.125, -643.2, -612.5, -581.875, -581.8, 0.0])
def test_exported_numeric_range_scores_like_grade(tmp_path: Path, x: float) -> None:
    from caselib.cases import grade

    q = by_id(bank())["num-1"]
    _, _, moodle_qs = moodle(tmp_path)
    a = moodle_qs["num-1"].find("answer")
    ans, tol = float(a.findtext("text")), float(a.findtext("tolerance"))
    _, _, _, items = qti(tmp_path)
    lo, hi = [float(v.text) for v in items["num-1"].find(f".//{Q}and").iter(Q + "baseValue")]
    ok = grade(q, x).score == q.max_score
    assert (ans - tol <= x <= ans + tol) == ok
    assert (lo <= x <= hi) == ok
