from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import mecab
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cataloop.adapters.korean_analyzer import (
    INDEX_ANALYZER,
    NORI_DEFAULT_STOP_TAGS,
    SEARCH_ANALYZER,
    KoreanAnalysisConfig,
    KoreanAnalyzer,
    SynonymRules,
    UserDictionaryEntry,
    nori_index_settings,
)
from cataloop.errors import InvalidInput

# Brand names mecab-ko-dic splits or mis-tags: 비비고 -> 비비/VV + 고/EC, 비비랩 -> 비비/MAG + 랩,
# 락토핏 -> 락 + 토/XSV+EC + 핏.
USER_DICTIONARY = ("비비고", "비비랩", "락토핏", "종근당건강 종근당 건강")


@pytest.fixture(scope="module")
def analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=USER_DICTIONARY))


@pytest.fixture(scope="module")
def plain_analyzer() -> KoreanAnalyzer:
    return KoreanAnalyzer()


# Expected tokens as nori gives them with the same dictionary (default "discard" mode, default stop tags,
# nori_readingform, lowercase). mecab-ko-dic marks 유산균 and 삼성전자 as compounds, so discard splits them.
PARITY_TABLE = [
    ("유산균을", ["유산", "균"]),  # particle dropped, compound decompounded
    ("가공식품을 먹었습니다", ["가공", "식품", "먹"]),  # verb endings (EP, EF) dropped
    ("맛있는 사과 주스를 마셨다", ["맛있", "사과", "주스", "마시"]),  # inflected 마셨 -> 마시 + 었(E)
    ("했다", ["하"]),
    ("CJ 비비고 왕교자", ["cj", "비비고", "왕", "교자"]),  # user dictionary keeps the brand whole
    ("뉴트리원 비비랩 콜라겐", ["뉴트", "리원", "비비랩", "콜라겐"]),
    ("종근당건강 락토핏 생유산균 골드", ["종근당", "건강", "락토핏", "유산", "균", "골드"]),  # 생/XPN dropped
    ("비타민C 1000mg", ["비타민", "c", "1000", "mg"]),
    ("삼성전자 갤럭시 S24 256GB", ["삼성", "전자", "갤럭시", "s", "24", "256", "gb"]),
    ("“정관장” 홍삼정, 240g·2병!", ["정", "관장", "홍삼", "정", "240", "g", "2", "병"]),  # punctuation gone
    ("韓國 人蔘", ["한국", "인삼"]),  # nori_readingform: Hanja to Hangul
]


@pytest.mark.parametrize(("text", "tokens"), PARITY_TABLE)
def test_parity_with_nori(analyzer: KoreanAnalyzer, text: str, tokens: list[str]) -> None:
    assert analyzer.analyze(text) == tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("CJ 비비고 왕교자", ["cj", "비비", "왕", "교자"]),  # 고 is tagged EC and dropped
        ("뉴트리원 비비랩 콜라겐", ["뉴트", "리원", "랩", "콜라겐"]),  # 비비 is tagged MAG and dropped
    ],
)
def test_without_user_dictionary_stop_tags_eat_brand_parts(
    plain_analyzer: KoreanAnalyzer, text: str, tokens: list[str]
) -> None:
    assert plain_analyzer.analyze(text) == tokens


@pytest.mark.parametrize(
    ("mode", "tokens"),
    [
        ("discard", ["유산", "균", "종근당", "건강"]),
        ("mixed", ["유산균", "유산", "균", "종근당건강", "종근당", "건강"]),
        ("none", ["유산균", "종근당건강"]),
    ],
)
def test_decompound_modes(mode: str, tokens: list[str]) -> None:
    config = KoreanAnalysisConfig(decompound_mode=mode, user_dictionary=("종근당건강 종근당 건강",))
    assert KoreanAnalyzer(config).analyze("유산균을 종근당건강") == tokens


def test_mixed_mode_positions_span_the_parts() -> None:
    tokens = KoreanAnalyzer(KoreanAnalysisConfig(decompound_mode="mixed")).tokens("유산균 음료")
    assert [(t.term, t.position, t.position_length) for t in tokens] == [
        ("유산균", 0, 2),
        ("유산", 0, 1),
        ("균", 1, 1),
        ("음료", 2, 1),
    ]


def test_stopped_tokens_leave_position_gaps(analyzer: KoreanAnalyzer) -> None:
    tokens = analyzer.tokens("사과를 먹다")
    assert [(t.term, t.position) for t in tokens] == [("사과", 0), ("먹", 2)]


def test_user_dictionary_words_survive_any_allowed_stop_tags() -> None:
    every_allowed_tag = ("E", "IC", "J", "MAG", "MAJ", "MM", "VV", "VA", "XSV", "XSN", "XPN", "NNB", "NP")
    config = KoreanAnalysisConfig(user_dictionary=USER_DICTIONARY, stop_tags=every_allowed_tag)
    assert KoreanAnalyzer(config).analyze("비비고 비비랩을 락토핏") == ["비비고", "비비랩", "락토핏"]


@pytest.mark.parametrize("tag", ["NNP", "NNG", "SL", "SN"])
def test_stop_tags_that_would_eat_brands_or_numbers_are_refused(tag: str) -> None:
    with pytest.raises(InvalidInput, match=tag):
        KoreanAnalysisConfig.build(stop_tags=(*NORI_DEFAULT_STOP_TAGS, tag))


def test_unknown_stop_tag_is_refused_with_the_valid_list() -> None:
    with pytest.raises(InvalidInput, match="unknown part-of-speech tags \\['JKO'\\]"):
        KoreanAnalysisConfig.build(stop_tags=("JKO",))


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("종근당건강 종근 당건", "must spell the word"),
        ("비비,고", "remove commas"),
        ("   ", "empty entry"),
    ],
)
def test_bad_user_dictionary_entries_say_what_to_fix(rule: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        UserDictionaryEntry.parse(rule)


def test_user_dictionary_rules_are_normalised() -> None:
    config = KoreanAnalysisConfig(
        user_dictionary=("# brands", " 비비고 ", "비비고", "세종시 세종 시", "락토핏 락토핏", "")
    )
    assert config.user_dictionary == ("비비고", "세종시 세종 시", "락토핏")


def test_mecab_is_built_lazily_and_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[Any] = []
    real = mecab.MeCab

    def counting(*args: Any, **kwargs: Any) -> mecab.MeCab:
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(mecab, "MeCab", counting)
    korean = KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("비비고",)))
    assert built == []
    korean.analyze("비비고 만두")
    korean.analyze("유산균")
    korean.analyze_query("만두")
    assert len(built) == 1
    assert built[0]["user_dictionary_path"] is not None


def test_analyze_query_without_synonyms_is_one_group_per_term(analyzer: KoreanAnalyzer) -> None:
    assert analyzer.analyze_query("비비고 만두를") == [["비비고"], ["만두"]]


def test_equivalence_synonyms_keep_the_query_word(analyzer: KoreanAnalyzer) -> None:
    rules = ["만두, 교자", "# a comment", ""]
    assert analyzer.analyze_query("비비고 만두", rules) == [["비비고"], ["만두", "교자"]]
    assert analyzer.analyze_query("교자를", rules) == [["교자", "만두"]]


def test_mapping_synonyms_replace_the_query_word(analyzer: KoreanAnalyzer) -> None:
    rules = SynonymRules(["비비꼬, 비비go => 비비고"])
    assert analyzer.analyze_query("비비go 만두", rules) == [["비비고"], ["만두"]]


def test_multi_term_synonyms_are_phrases_and_longest_match_wins(analyzer: KoreanAnalyzer) -> None:
    # 프로바이오틱스 analyzes to 프로 바이오 (틱, 스 are tagged XSN), 유산균 to 유산 균, 젖산 to 젖 산.
    rules = ["유산균, 프로바이오틱스", "유산, 젖산"]
    assert analyzer.analyze_query("유산균 음료", rules) == [["유산 균", "프로 바이오"], ["음료"]]
    assert analyzer.analyze_query("프로바이오틱스", rules) == [["프로 바이오", "유산 균"]]
    assert analyzer.analyze_query("유산 발효", rules) == [["유산", "젖 산"], ["발효"]]


def test_rules_on_several_lines_merge(analyzer: KoreanAnalyzer) -> None:
    rules = ["만두, 교자", "만두, 딤섬"]
    assert analyzer.analyze_query("만두", rules) == [["만두", "교자", "딤섬"]]
    assert analyzer.analyze_query("딤섬", rules) == [["딤섬", "만두"]]


def test_synonym_terms_that_analyze_to_nothing_are_skipped(analyzer: KoreanAnalyzer) -> None:
    # lenient: "을" is only a particle, so the rule keeps its other terms.
    assert analyzer.analyze_query("만두", ["만두, 을, 교자"]) == [["만두", "교자"]]


@pytest.mark.parametrize(
    ("line", "message"),
    [("=> 교자", "line 2 .*has no terms"), ("만두 => 교자 => 덤플링", "line 2 .*at most one")],
)
def test_bad_synonym_lines_name_the_line(line: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SynonymRules(["만두, 교자", line])


def test_mixed_mode_query_offers_the_compound_or_its_parts() -> None:
    korean = KoreanAnalyzer(KoreanAnalysisConfig(decompound_mode="mixed"))
    assert korean.analyze_query("유산균을 마셨다") == [["유산 균", "유산균"], ["마시", "마셨"]]


def test_index_settings_shape() -> None:
    settings_block = nori_index_settings(
        ["비비고", "종근당건강 종근당 건강"], ["만두, 교자", "비비꼬 => 비비고"]
    )
    analysis = settings_block["analysis"]
    assert set(analysis) == {"tokenizer", "filter", "analyzer"}
    (tokenizer_name,) = analysis["tokenizer"]
    assert analysis["tokenizer"][tokenizer_name] == {
        "type": "nori_tokenizer",
        "decompound_mode": "discard",
        "discard_punctuation": True,
        "user_dictionary_rules": ["비비고", "종근당건강 종근당 건강"],
    }
    index_analyzer = analysis["analyzer"][INDEX_ANALYZER]
    search_analyzer = analysis["analyzer"][SEARCH_ANALYZER]
    assert index_analyzer["tokenizer"] == search_analyzer["tokenizer"] == tokenizer_name
    pos_filter, reading, lowercase = index_analyzer["filter"]
    assert (reading, lowercase) == ("nori_readingform", "lowercase")
    assert analysis["filter"][pos_filter] == {
        "type": "nori_part_of_speech",
        "stoptags": list(NORI_DEFAULT_STOP_TAGS),
    }
    assert search_analyzer["filter"][:-1] == index_analyzer["filter"]
    assert analysis["filter"][search_analyzer["filter"][-1]] == {
        "type": "synonym_graph",
        "synonyms": ["만두, 교자", "비비꼬 => 비비고"],
        "lenient": True,
    }
    for name in (*index_analyzer["filter"], *search_analyzer["filter"]):
        assert name in analysis["filter"] or name in ("nori_readingform", "lowercase")


@pytest.mark.parametrize("mode", ["discard", "mixed", "none"])
def test_settings_come_from_the_analyzer_configuration(mode: str) -> None:
    config = KoreanAnalysisConfig(
        decompound_mode=mode,
        stop_tags=("E", "J", "MAG"),
        user_dictionary=("비비고",),
    )
    analysis = KoreanAnalyzer(config).index_settings(["만두, 교자"])["analysis"]
    (tokenizer,) = analysis["tokenizer"].values()
    assert tokenizer["decompound_mode"] == mode
    assert tokenizer["user_dictionary_rules"] == ["비비고"]
    stop_filters = [f for f in analysis["filter"].values() if f["type"] == "nori_part_of_speech"]
    assert stop_filters == [{"type": "nori_part_of_speech", "stoptags": ["E", "J", "MAG"]}]


def test_settings_refuse_bad_input() -> None:
    with pytest.raises(InvalidInput, match="must spell the word"):
        nori_index_settings(["종근당건강 종근 당"], [])
    with pytest.raises(InvalidInput, match="line 1"):
        nori_index_settings([], ["만두 =>"])


product_text = st.text(
    st.sampled_from(list("가나다라마바사아자차카타파하유산균을를은는의에서 ABCxyz0123.,!()·-韓國")),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(product_text)
def test_terms_are_lowercase_and_never_punctuation_or_space(analyzer: KoreanAnalyzer, text: str) -> None:
    terms = analyzer.analyze(text)
    for term in terms:
        assert term
        assert term == term.lower()
        assert not any(char.isspace() or char in ".,!()·-" for char in term)


def test_user_words_ending_in_latin_or_digits_compile_and_stay_whole() -> None:
    korean = KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("GS25", "닥터유PRO")))
    assert korean.analyze("GS25 도시락, 닥터유PRO 에너지바") == [
        "gs25",
        "도시락",
        "닥터유pro",
        "에너지",
        "바",
    ]


def test_settings_without_user_dictionary_omit_the_rules() -> None:
    (tokenizer,) = nori_index_settings([], [])["analysis"]["tokenizer"].values()
    assert "user_dictionary_rules" not in tokenizer


@pytest.mark.parametrize("text", ["", "   ", "!!! ...", "아주 매우", "그리고 아!"])
def test_text_without_content_words_gives_no_terms(analyzer: KoreanAnalyzer, text: str) -> None:
    assert analyzer.analyze(text) == []
    assert analyzer.analyze_query(text, ["만두, 교자"]) == []


def test_a_compiled_user_dictionary_is_reused_by_a_later_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Compiled once per content and mecab version into this user's 0700 directory under the temp dir; a
    process that finds it there (simulated by forgetting the in-process cache) runs no compiler. A directory
    others could write is not trusted: each process then compiles its own."""
    import subprocess

    from cataloop.adapters import korean_analyzer as module

    monkeypatch.setattr(module.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(module, "_compiled_user_dictionaries", {})  # as in a new process
    runs: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(command: list[str], **options: object) -> object:
        runs.append(command)
        return real_run(command, **options)  # type: ignore[call-overload]

    monkeypatch.setattr(module.subprocess, "run", counting_run)
    entries = [module.UserDictionaryEntry(word="비비고")]
    first = module._compiled_user_dictionary(entries)
    assert first.parent == tmp_path / f"cataloop-userdic-{os.getuid()}" and len(runs) == 1
    assert stat.S_IMODE(first.parent.stat().st_mode) == 0o700
    module._compiled_user_dictionaries.clear()
    assert module._compiled_user_dictionary(entries) == first and len(runs) == 1
    assert (
        KoreanAnalyzer(KoreanAnalysisConfig(user_dictionary=("비비고",))).analyze("비비고 만두")[0]
        == "비비고"
    )

    first.parent.chmod(0o777)  # writable by others: not used
    module._compiled_user_dictionaries.clear()
    elsewhere = module._compiled_user_dictionary(entries)
    assert elsewhere.parent != first.parent and len(runs) == 2
