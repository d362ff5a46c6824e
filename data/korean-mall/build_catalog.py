"""Compose the Korean demo catalog (`products.jsonl`) from the hand-written tables in this file.

Run `python data/korean-mall/build_catalog.py` to rewrite `products.jsonl` (byte-identical on every run) or
`--check` to fail when the committed file differs from what the tables produce. Standard library only.

Ids are handed out in table order (single products first, then bundles), and `queries.jsonl` grades products
by id: append new lines and bundles at the END of their tables, or re-grade the queries.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

SEED = 20261122
DEFAULT_OUTPUT = Path(__file__).with_name("products.jsonl")

# The confusable family: the same brand sells a fermented-milk drink and character goods, so a query for
# the brand alone must be resolved by food intent, not by the brand field.
CONFUSABLE_BRAND = "야쿠르트"


@dataclass(frozen=True)
class Size:
    """One size a line is sold in: how it reads in the title, its price, and what one unit contains."""

    label: str  # as written in the title: "65ml", "30캡슐", "20cm"; "" when the title names no size
    price: int  # KRW for one pack of this size
    net: str | None  # content of ONE unit (bottle, capsule, stick, sheet); None for goods
    units: int = 1  # units in one pack of this size (a 30-capsule box has 30)

    @classmethod
    def each(cls, label: str, price: int) -> Size:
        """A size whose label is also the content of one unit, e.g. a 65ml bottle."""
        return cls(label, price, net=label)


@dataclass(frozen=True)
class ProductLine:
    """A product family: every combination of variant x size x pack becomes one listing."""

    key: str
    brand: str
    stem: str  # title stem; "{v}" marks where the variant goes, otherwise it is appended
    category: tuple[str, str]
    product_type: str
    is_food: bool
    seller_id: str
    description: str
    bullets: tuple[str, ...]
    keywords: tuple[str, ...]
    sizes: tuple[Size, ...]
    packs: tuple[int, ...] = (1,)
    variants: tuple[str, ...] = ("",)
    variant_is_flavor: bool = True  # False for scents, materials and skin-care actives
    pack_unit: str = "개"
    rating_center: float = 4.4
    popularity: float = 1.0


@dataclass(frozen=True)
class Bundle:
    """A parent listing sold as a set of 2-5 existing single products."""

    key: str
    title: str
    category: tuple[str, str]
    product_type: str
    is_food: bool
    seller_id: str
    description: str
    keywords: tuple[str, ...]
    children: tuple[tuple[str, str, str, int], ...]  # (line key, variant, size label, pack)
    rating_center: float = 4.5
    popularity: float = 1.0


FRIDGE = "냉장 보관(0~10℃), 개봉 후 바로 드세요"
CAPSULE_NOTE = "건강기능식품 인정 원료 사용, 1일 1회 섭취"

LINES: tuple[ProductLine, ...] = (
    # ── 발효유 ─────────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="yakult-original", brand="야쿠르트", stem="야쿠르트 오리지널",
        category=("발효유", "유산균 음료"), product_type="유산균 음료", is_food=True,
        seller_id="s-yakult-official",
        description="한 병에 살아있는 유산균을 담은 작은 발효유 음료입니다. 매일 아침 한 병으로 장 건강을 챙기세요.",
        bullets=("살아있는 유산균 100억 마리", "작고 가벼운 65ml 한 병", FRIDGE),
        keywords=("야쿠르트", "유산균", "발효유", "장건강", "유산균음료"),
        sizes=(Size.each("65ml", 250),), packs=(5, 10, 15, 20, 30, 40),
        rating_center=4.7, popularity=4.0,
    ),
    ProductLine(
        key="yakult-light", brand="야쿠르트", stem="야쿠르트 라이트",
        category=("발효유", "유산균 음료"), product_type="유산균 음료", is_food=True,
        seller_id="s-yakult-official",
        description="오리지널보다 당을 50% 줄인 야쿠르트입니다. 칼로리가 걱정될 때 가볍게 마시기 좋습니다.",
        bullets=("당 50% 저감", "한 병 35kcal", FRIDGE),
        keywords=("야쿠르트", "유산균", "저당", "다이어트", "발효유"),
        sizes=(Size.each("65ml", 260),), packs=(10, 20, 40),
        rating_center=4.5, popularity=2.5,
    ),
    ProductLine(
        key="yakult-kids", brand="야쿠르트", stem="야쿠르트 키즈 {v}",
        category=("발효유", "어린이 요구르트"), product_type="유산균 음료", is_food=True,
        seller_id="s-yakult-official",
        description="아이 입맛에 맞춘 {v} 맛 야쿠르트입니다. 어린이집 간식이나 등원길 간식으로 좋아요.",
        bullets=("합성착색료 무첨가", "아이 손에 쏙 들어오는 80ml", FRIDGE),
        keywords=("야쿠르트", "어린이", "아이간식", "유산균", "키즈"),
        sizes=(Size.each("80ml", 300),), packs=(10, 20), variants=("딸기", "포도", "사과", "복숭아"),
        rating_center=4.6, popularity=1.5,
    ),
    ProductLine(
        key="yakult-wicare", brand="야쿠르트", stem="야쿠르트 위케어",
        category=("발효유", "유산균 음료"), product_type="기능성 발효유", is_food=True,
        seller_id="s-yakult-official",
        description="위 건강을 생각한 기능성 발효유입니다. 헬리코박터 관리 유산균을 넣어 속이 불편한 분께 권합니다.",
        bullets=("위 건강 유산균 함유", "식전 한 병 권장", FRIDGE),
        keywords=("야쿠르트", "위건강", "속쓰림", "헬리코박터", "발효유"),
        sizes=(Size.each("150ml", 1100),), packs=(7, 14, 28),
        rating_center=4.5, popularity=1.8,
    ),
    ProductLine(
        key="dailylac-spoon", brand="데일리락", stem="데일리락 떠먹는 요구르트 {v}",
        category=("발효유", "떠먹는 요구르트"), product_type="떠먹는 요구르트", is_food=True,
        seller_id="s-dairy-market",
        description="국산 원유로 만든 부드러운 {v} 떠먹는 요구르트입니다. 아침 식사나 디저트로 즐기세요.",
        bullets=("국산 1등급 원유", "숟가락 동봉 아님", FRIDGE),
        keywords=("요구르트", "요거트", "떠먹는요구르트", "발효유", "간식"),
        sizes=(Size.each("85g", 550),), packs=(4, 8, 16),
        variants=("플레인", "딸기", "블루베리", "복숭아", "알로에", "망고", "사과"),
        rating_center=4.3, popularity=2.0,
    ),
    ProductLine(
        key="mokjang-greek", brand="목장일기", stem="목장일기 그릭요거트 {v}",
        category=("발효유", "그릭요거트"), product_type="그릭요거트", is_food=True,
        seller_id="s-dairy-market",
        description="유청을 걸러 꾸덕하게 만든 {v} 그릭요거트입니다. 단백질이 많아 식단 관리에 좋습니다.",
        bullets=("단백질 100g당 9g", "꾸덕한 질감", FRIDGE),
        keywords=("그릭요거트", "요거트", "고단백", "다이어트", "목장일기"),
        sizes=(Size.each("100g", 1900), Size.each("400g", 6500)), packs=(1, 2, 4),
        variants=("플레인", "꿀", "무가당"),
        rating_center=4.6, popularity=1.6,
    ),
    ProductLine(
        key="ssukssuk-squeeze", brand="쑥쑥키즈", stem="쑥쑥키즈 짜먹는 요구르트 {v}",
        category=("발효유", "어린이 요구르트"), product_type="짜먹는 요구르트", is_food=True,
        seller_id="s-dairy-market",
        description="흘리지 않고 짜서 먹는 {v} 맛 어린이 요구르트입니다. 얼려 먹으면 아이스크림처럼 즐길 수 있어요.",
        bullets=("칼슘 강화", "한 손에 쥐는 파우치", FRIDGE),
        keywords=("어린이", "아이간식", "요구르트", "짜먹는요구르트", "유아"),
        sizes=(Size.each("40g", 450),), packs=(10, 20), variants=("딸기", "바나나", "사과"),
        rating_center=4.4, popularity=1.2,
    ),
    ProductLine(
        key="haru-bifidus", brand="하루비피더스", stem="하루비피더스 마시는 요구르트 {v}",
        category=("발효유", "마시는 요구르트"), product_type="마시는 요구르트", is_food=True,
        seller_id="s-dairy-market",
        description="비피더스균으로 발효한 {v} 마시는 요구르트입니다. 바쁜 아침에 한 병으로 든든하게.",
        bullets=("비피더스균 발효", "150ml 한 병", FRIDGE),
        keywords=("마시는요구르트", "요구르트", "비피더스", "발효유", "드링크요구르트"),
        sizes=(Size.each("150ml", 1300),), packs=(4, 8, 12),
        variants=("플레인", "딸기", "사과", "복숭아", "블루베리"),
        rating_center=4.2, popularity=1.4,
    ),
    ProductLine(
        key="jangkwae-drink", brand="장쾌", stem="장쾌 장건강 발효유 {v}",
        category=("발효유", "마시는 요구르트"), product_type="기능성 발효유", is_food=True,
        seller_id="s-dairy-market",
        description="장까지 살아가는 유산균과 식이섬유를 더한 {v} 발효유입니다. 화장실 고민이 있을 때 꾸준히 드세요.",
        bullets=("식이섬유 5g", "장까지 살아가는 유산균", FRIDGE),
        keywords=("장건강", "유산균", "발효유", "식이섬유", "변비"),
        sizes=(Size.each("130ml", 1500),), packs=(6, 12, 24, 48), variants=("플레인", "무가당"),
        rating_center=4.4, popularity=1.1,
    ),
    ProductLine(
        key="kefia-kefir", brand="케피아", stem="케피아 케피어 {v}",
        category=("발효유", "케피어"), product_type="케피어", is_food=True, seller_id="s-dairy-market",
        description="케피어 그레인으로 발효해 톡 쏘는 맛이 있는 {v} 케피어입니다.",
        bullets=("케피어 그레인 발효", "무첨가 원유", FRIDGE),
        keywords=("케피어", "발효유", "유산균", "장건강"),
        sizes=(Size.each("250ml", 2900),), packs=(1, 3), variants=("플레인", "블루베리"),
        rating_center=4.1, popularity=0.5,
    ),
    ProductLine(
        key="uyubat-yogurt", brand="우유밭", stem="우유밭 요구르트 {v}",
        category=("발효유", "떠먹는 요구르트"), product_type="떠먹는 요구르트", is_food=True,
        seller_id="s-bargain-mart",
        description="가성비 좋은 {v} 요구르트입니다. 대용량으로 온 가족이 나눠 드세요.",
        bullets=("대용량 실속 구성", FRIDGE),
        keywords=("요구르트", "요거트", "가성비", "대용량"),
        sizes=(Size.each("80g", 300),), packs=(8, 16), variants=("딸기", "플레인"),
        rating_center=2.8, popularity=0.8,
    ),
    # ── 건강기능식품 ─────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="bareunjang-gold", brand="바른장", stem="바른장 프로바이오틱스 골드",
        category=("건강기능식품", "유산균"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-health-plus",
        description="19종 유산균 100억 CFU를 담은 프로바이오틱스입니다. 장 건강과 배변 활동 원활에 도움을 줄 수 있습니다.",
        bullets=("19종 혼합 유산균 100억 CFU", "장용성 캡슐", CAPSULE_NOTE),
        keywords=("유산균", "프로바이오틱스", "장건강", "바른장", "생유산균"),
        sizes=(
            Size("30캡슐", 19000, net="500mg", units=30),
            Size("60캡슐", 34000, net="500mg", units=60),
            Size("90캡슐", 48000, net="500mg", units=90),
        ),
        rating_center=4.6, popularity=2.2,
    ),
    ProductLine(
        key="bareunjang-kids", brand="바른장", stem="바른장 키즈 프로바이오틱스 {v} 츄어블",
        category=("건강기능식품", "유산균"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-health-plus",
        description="씹어 먹는 {v} 맛 어린이 유산균입니다. 캡슐을 삼키기 어려운 아이에게 좋습니다.",
        bullets=("씹어 먹는 츄어블 정", "아연·비타민D 함유", "만 3세 이상"),
        keywords=("어린이유산균", "유산균", "프로바이오틱스", "키즈", "츄어블"),
        sizes=(Size("30정", 15000, net="1g", units=30), Size("60정", 27000, net="1g", units=60)),
        variants=("딸기", "요구르트"),
        rating_center=4.5, popularity=1.0,
    ),
    ProductLine(
        key="bareunjang-women", brand="바른장", stem="바른장 우먼 질 유산균",
        category=("건강기능식품", "유산균"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-health-plus",
        description="여성 질 건강에 도움을 줄 수 있는 특허 유산균을 담았습니다.",
        bullets=("여성 질 건강 특허 유산균", "크랜베리 추출물 함유", CAPSULE_NOTE),
        keywords=("여성유산균", "질유산균", "유산균", "프로바이오틱스", "크랜베리"),
        sizes=(Size("30캡슐", 22000, net="500mg", units=30), Size("60캡슐", 39000, net="500mg", units=60)),
        rating_center=4.3, popularity=0.9,
    ),
    ProductLine(
        key="medilac-stick", brand="메디락", stem="메디락 생유산균 스틱",
        category=("건강기능식품", "유산균"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-pharm-direct",
        description="물 없이 털어 먹는 분말 스틱형 생유산균입니다. 새콤한 요구르트 맛으로 온 가족이 먹기 좋아요.",
        bullets=("물 없이 섭취하는 분말 스틱", "프리바이오틱스 함께 배합", "1일 1포"),
        keywords=("유산균", "프로바이오틱스", "생유산균", "분말", "스틱"),
        sizes=(
            Size("30포", 15900, net="2g", units=30),
            Size("60포", 29000, net="2g", units=60),
            Size("100포", 45000, net="2g", units=100),
        ),
        rating_center=4.4, popularity=1.7,
    ),
    ProductLine(
        key="medilac-stomach", brand="메디락", stem="메디락 위 유산균 헬리케어",
        category=("건강기능식품", "위 건강"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-pharm-direct",
        description="위 점막 건강을 위한 유산균입니다. 헬리코박터균 관리가 필요하거나 속쓰림이 잦은 분께 권합니다.",
        bullets=("위 건강 유산균 HP-7", "감초 추출물 배합", CAPSULE_NOTE),
        keywords=("위유산균", "위건강", "헬리코박터", "속쓰림", "유산균"),
        sizes=(Size("30캡슐", 24000, net="500mg", units=30), Size("60캡슐", 43000, net="500mg", units=60)),
        rating_center=4.3, popularity=0.8,
    ),
    ProductLine(
        key="super-lacto", brand="슈퍼락토", stem="슈퍼락토 프로바이오틱스 100억",
        category=("건강기능식품", "유산균"), product_type="프로바이오틱스", is_food=True,
        seller_id="s-bargain-mart",
        description="부담 없는 가격의 실속형 유산균입니다.",
        bullets=("실속형 대용량", CAPSULE_NOTE),
        keywords=("유산균", "프로바이오틱스", "가성비", "대용량"),
        sizes=(Size("60캡슐", 9900, net="400mg", units=60), Size("120캡슐", 17900, net="400mg", units=120)),
        rating_center=2.7, popularity=1.3,
    ),
    ProductLine(
        key="solip-multi", brand="솔잎제약", stem="솔잎제약 데일리 멀티비타민",
        category=("건강기능식품", "비타민"), product_type="종합비타민", is_food=True,
        seller_id="s-pharm-direct",
        description="하루 한 알로 비타민 13종과 미네랄 9종을 챙기는 종합비타민입니다. 피로 회복에 도움을 줄 수 있습니다.",
        bullets=("비타민 13종·미네랄 9종", "하루 한 알", "활성형 비타민B 함유"),
        keywords=("종합비타민", "멀티비타민", "비타민", "피로회복", "영양제"),
        sizes=(
            Size("60정", 18000, net="1000mg", units=60),
            Size("120정", 32000, net="1000mg", units=120),
            Size("180정", 45000, net="1000mg", units=180),
        ),
        rating_center=4.4, popularity=1.5,
    ),
    ProductLine(
        key="solip-vitc", brand="솔잎제약", stem="솔잎제약 비타민C 1000",
        category=("건강기능식품", "비타민"), product_type="비타민C", is_food=True,
        seller_id="s-pharm-direct",
        description="영국산 원료로 만든 고함량 비타민C 1000mg입니다. 항산화와 면역 관리에 도움을 줄 수 있습니다.",
        bullets=("1정당 비타민C 1000mg", "영국산 원료", "하루 1~2정"),
        keywords=("비타민C", "비타민씨", "vitamin c", "면역", "항산화"),
        sizes=(
            Size("100정", 9000, net="1100mg", units=100),
            Size("200정", 16000, net="1100mg", units=200),
            Size("300정", 22000, net="1100mg", units=300),
        ),
        rating_center=4.6, popularity=2.0,
    ),
    ProductLine(
        key="solip-vitd", brand="솔잎제약", stem="솔잎제약 비타민D 2000IU",
        category=("건강기능식품", "비타민"), product_type="비타민D", is_food=True,
        seller_id="s-pharm-direct",
        description="실내 생활이 많은 분을 위한 비타민D 2000IU 소프트젤입니다. 뼈 건강에 도움을 줄 수 있습니다.",
        bullets=("비타민D3 2000IU", "작은 소프트젤", "하루 1캡슐"),
        keywords=("비타민D", "비타민디", "뼈건강", "면역", "영양제"),
        sizes=(Size("90캡슐", 12000, net="200mg", units=90), Size("180캡슐", 21000, net="200mg", units=180)),
        rating_center=4.5, popularity=1.0,
    ),
    ProductLine(
        key="haedam-omega3", brand="해담", stem="해담 rTG 오메가3",
        category=("건강기능식품", "오메가3"), product_type="오메가3", is_food=True,
        seller_id="s-health-plus",
        description="흡수율을 높인 rTG 형태의 오메가3입니다. 혈중 중성지질 개선과 건조한 눈 건강에 도움을 줄 수 있습니다.",
        bullets=("EPA+DHA 900mg", "알티지(rTG) 오메가3", "비린내 잡은 캡슐"),
        keywords=("오메가3", "omega3", "rTG", "혈행", "눈건강"),
        sizes=(
            Size("60캡슐", 25000, net="1200mg", units=60),
            Size("120캡슐", 45000, net="1200mg", units=120),
            Size("180캡슐", 62000, net="1200mg", units=180),
        ),
        rating_center=4.5, popularity=1.4,
    ),
    ProductLine(
        key="hongwonsam-stick", brand="홍원삼", stem="홍원삼 6년근 홍삼정 스틱",
        category=("건강기능식품", "홍삼"), product_type="홍삼 스틱", is_food=True,
        seller_id="s-health-plus",
        description="6년근 홍삼 농축액을 한 포씩 짜 먹는 스틱입니다. 피로 개선과 면역력 증진에 도움을 줄 수 있습니다.",
        bullets=("6년근 홍삼 100%", "진세노사이드 Rg1+Rb1+Rg3 4mg", "하루 1포"),
        keywords=("홍삼", "홍삼정", "홍삼스틱", "피로회복", "면역", "선물"),
        sizes=(
            Size("30포", 39000, net="10ml", units=30),
            Size("60포", 72000, net="10ml", units=60),
            Size("100포", 110000, net="10ml", units=100),
        ),
        rating_center=4.6, popularity=1.6,
    ),
    ProductLine(
        key="hongwonsam-extract", brand="홍원삼", stem="홍원삼 홍삼정 골드",
        category=("건강기능식품", "홍삼"), product_type="홍삼정", is_food=True, seller_id="s-health-plus",
        description="진하게 달인 6년근 홍삼 농축액입니다. 어르신 선물로 많이 찾습니다.",
        bullets=("6년근 홍삼 농축액 100%", "스푼 동봉", "명절 선물 포장 가능"),
        keywords=("홍삼", "홍삼정", "홍삼농축액", "효도선물", "피로회복"),
        sizes=(Size.each("240g", 89000),), packs=(1, 2),
        rating_center=4.7, popularity=0.7,
    ),
    ProductLine(
        key="slimon-garcinia", brand="슬림온", stem="슬림온 가르시니아 컷",
        category=("건강기능식품", "다이어트"), product_type="체지방 감소", is_food=True,
        seller_id="s-health-plus",
        description="가르시니아 캄보지아 추출물이 탄수화물이 지방으로 합성되는 것을 억제하여 체지방 감소에 도움을 줄 수 있습니다.",
        bullets=("HCA 750mg", "식전 2정", "4주 / 8주 구성"),
        keywords=("다이어트", "가르시니아", "체지방", "다이어트보조제", "탄수화물"),
        sizes=(Size("56정", 19800, net="750mg", units=56), Size("112정", 35000, net="750mg", units=112)),
        rating_center=3.9, popularity=1.5,
    ),
    ProductLine(
        key="slimon-catechin", brand="슬림온", stem="슬림온 녹차 카테킨",
        category=("건강기능식품", "다이어트"), product_type="체지방 감소", is_food=True,
        seller_id="s-health-plus",
        description="녹차 추출물 카테킨이 체지방 감소에 도움을 줄 수 있습니다.",
        bullets=("녹차 카테킨 300mg", "하루 2정"),
        keywords=("다이어트", "카테킨", "녹차추출물", "체지방", "다이어트보조제"),
        sizes=(Size("60정", 16000, net="500mg", units=60), Size("120정", 29000, net="500mg", units=120)),
        rating_center=3.7, popularity=0.9,
    ),
    ProductLine(
        key="slimon-shake", brand="슬림온", stem="슬림온 단백질 쉐이크 {v}",
        category=("건강기능식품", "다이어트"), product_type="단백질 쉐이크", is_food=True,
        seller_id="s-health-plus",
        description="한 끼를 대신하는 {v} 맛 단백질 쉐이크입니다. 우유나 두유에 타서 드세요.",
        bullets=("단백질 20g", "한 끼 180kcal", "식사 대용"),
        keywords=("단백질쉐이크", "식사대용", "다이어트", "프로틴", "쉐이크"),
        sizes=(Size("10포", 19900, net="35g", units=10),), packs=(1, 2), variants=("초코", "곡물", "딸기"),
        rating_center=4.2, popularity=1.3,
    ),
    ProductLine(
        key="bitgyeol-collagen", brand="빛결", stem="빛결 저분자 피쉬콜라겐 {v}",
        category=("건강기능식품", "콜라겐"), product_type="콜라겐", is_food=True, seller_id="s-health-plus",
        description="300달톤 저분자 피쉬콜라겐을 {v} 맛 분말 스틱에 담았습니다. 피부 보습에 도움을 줄 수 있습니다.",
        bullets=("저분자 피쉬콜라겐 1000mg", "비타민C 함유", "하루 1포"),
        keywords=("콜라겐", "피쉬콜라겐", "저분자콜라겐", "피부보습", "이너뷰티"),
        sizes=(Size("30포", 25000, net="2g", units=30), Size("90포", 63000, net="2g", units=90)),
        variants=("자몽", "레몬"),
        rating_center=4.3, popularity=1.1,
    ),
    ProductLine(
        key="nunbalgeun-lutein", brand="눈밝은", stem="눈밝은 루테인 지아잔틴",
        category=("건강기능식품", "눈 건강"), product_type="루테인", is_food=True, seller_id="s-pharm-direct",
        description="마리골드꽃 추출물 루테인과 지아잔틴으로 노화로 감소할 수 있는 황반색소 밀도 유지에 도움을 줄 수 있습니다.",
        bullets=("루테인 20mg", "지아잔틴 함유", "하루 1캡슐"),
        keywords=("루테인", "눈건강", "지아잔틴", "눈영양제", "황반"),
        sizes=(Size("30캡슐", 15000, net="500mg", units=30), Size("90캡슐", 38000, net="500mg", units=90)),
        rating_center=4.4, popularity=1.0,
    ),
    ProductLine(
        key="cheonggan-milkthistle", brand="청간", stem="청간 밀크씨슬 실리마린",
        category=("건강기능식품", "간 건강"), product_type="밀크씨슬", is_food=True,
        seller_id="s-pharm-direct",
        description="밀크씨슬 추출물 실리마린 130mg으로 간 건강에 도움을 줄 수 있습니다. 회식이 잦은 직장인께 권합니다.",
        bullets=("실리마린 130mg", "비타민B 함유", "하루 1정"),
        keywords=("밀크씨슬", "간건강", "실리마린", "피로회복", "숙취"),
        sizes=(Size("30정", 12000, net="800mg", units=30), Size("90정", 30000, net="800mg", units=90)),
        rating_center=4.2, popularity=0.9,
    ),
    ProductLine(
        key="sokpyeon-cabbage", brand="속편한", stem="속편한 양배추 브로콜리 환",
        category=("건강기능식품", "위 건강"), product_type="양배추 환", is_food=True,
        seller_id="s-health-plus",
        description="양배추와 브로콜리를 환으로 빚었습니다. 더부룩하고 속이 불편할 때 식후에 드세요.",
        bullets=("국산 양배추 70%", "개별 포장 3g", "식후 1포"),
        keywords=("양배추", "위건강", "속쓰림", "소화", "양배추환"),
        sizes=(Size("30포", 19800, net="3g", units=30), Size("60포", 36000, net="3g", units=60)),
        rating_center=4.3, popularity=0.8,
    ),
    ProductLine(
        key="kidsteunteun-vitamin", brand="키즈튼튼", stem="키즈튼튼 어린이 종합비타민 {v} 젤리",
        category=("건강기능식품", "비타민"), product_type="어린이 비타민", is_food=True,
        seller_id="s-pharm-direct",
        description="곰돌이 모양 {v} 맛 젤리로 아이가 즐겁게 먹는 어린이 종합비타민입니다.",
        bullets=("비타민 10종", "곰돌이 모양 젤리", "만 3세 이상 하루 2개"),
        keywords=("어린이비타민", "키즈비타민", "비타민젤리", "아이영양제", "종합비타민"),
        sizes=(Size("60정", 16000, net="2.5g", units=60),), variants=("포도", "오렌지"),
        rating_center=4.5, popularity=0.9,
    ),
    # ── 신선간편식 ─────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="hankki-dosirak", brand="한끼정성", stem="한끼정성 {v} 도시락",
        category=("신선간편식", "도시락"), product_type="도시락", is_food=True, seller_id="s-fresh-kitchen",
        description="매일 아침 만들어 당일 배송하는 {v} 도시락입니다. 전자레인지에 2분 데워 드세요.",
        bullets=("당일 생산·당일 배송", "전자레인지 2분", FRIDGE),
        keywords=("도시락", "점심", "간편식", "한끼", "직장인점심"),
        sizes=(Size.each("420g", 5900),), packs=(1, 3, 5),
        variants=("제육볶음", "불고기", "치킨마요", "고등어구이", "닭가슴살 현미", "김치볶음밥"),
        rating_center=4.3, popularity=2.4,
    ),
    ProductLine(
        key="greenbowl-salad", brand="그린볼", stem="그린볼 {v} 샐러드",
        category=("신선간편식", "샐러드"), product_type="샐러드", is_food=True, seller_id="s-fresh-kitchen",
        description="아삭한 채소에 {v} 토핑을 올린 한 끼 샐러드입니다. 소스는 따로 담았습니다.",
        bullets=("당일 손질 채소", "소스 별도 동봉", FRIDGE),
        keywords=("샐러드", "다이어트", "식단관리", "저칼로리", "한끼"),
        sizes=(Size.each("230g", 6900),), packs=(1, 3, 7),
        variants=("닭가슴살", "훈제연어", "리코타치즈", "단호박", "두부", "불고기", "게살"),
        rating_center=4.4, popularity=1.9,
    ),
    ProductLine(
        key="achim-porridge", brand="아침든든", stem="아침든든 {v}",
        category=("신선간편식", "죽"), product_type="죽", is_food=True, seller_id="s-fresh-kitchen",
        description="쌀을 오래 끓여 부드러운 {v}입니다. 속이 불편한 날이나 아침 대용으로 좋습니다.",
        bullets=("국산 쌀 사용", "용기째 전자레인지 조리", FRIDGE),
        keywords=("죽", "아침식사", "환자식", "간편식", "소화"),
        sizes=(Size.each("285g", 4500),), packs=(1, 3, 6),
        variants=("전복죽", "소고기야채죽", "단호박죽", "팥죽"),
        rating_center=4.5, popularity=1.2,
    ),
    ProductLine(
        key="sandwrap-sandwich", brand="샌드랩", stem="샌드랩 {v} 샌드위치",
        category=("신선간편식", "샌드위치"), product_type="샌드위치", is_food=True, seller_id="s-fresh-kitchen",
        description="촉촉한 식빵에 {v} 속을 꽉 채운 샌드위치입니다.",
        bullets=("당일 생산", FRIDGE),
        keywords=("샌드위치", "아침", "간편식", "브런치"),
        sizes=(Size.each("190g", 3900),),
        variants=("햄치즈", "에그마요", "BLT", "치킨데리야끼", "참치", "불고기"),
        rating_center=4.1, popularity=1.3,
    ),
    ProductLine(
        key="today-mealkit", brand="오늘밀키트", stem="오늘밀키트 {v}",
        category=("신선간편식", "밀키트"), product_type="밀키트", is_food=True, seller_id="s-fresh-kitchen",
        description="손질된 재료와 소스가 모두 들어 있는 {v} 밀키트입니다. 15분이면 완성됩니다.",
        bullets=("2인분", "조리 15분", FRIDGE),
        keywords=("밀키트", "캠핑요리", "간편요리", "저녁메뉴"),
        sizes=(Size("2인분", 14900, net="800g"),),
        variants=("부대찌개", "된장찌개", "감바스", "밀푸유나베", "소불고기 전골"),
        rating_center=4.3, popularity=1.0,
    ),
    ProductLine(
        key="fitdak-breast", brand="핏닭", stem="핏닭 닭가슴살 스테이크 {v}",
        category=("신선간편식", "닭가슴살"), product_type="닭가슴살", is_food=True, seller_id="s-fresh-kitchen",
        description="부드럽게 구운 {v} 닭가슴살 스테이크입니다. 단백질 23g으로 식단 관리에 좋습니다.",
        bullets=("단백질 23g", "개별 진공 포장", "냉동 보관(-18℃ 이하)"),
        keywords=("닭가슴살", "다이어트", "고단백", "식단관리", "헬스"),
        sizes=(Size.each("100g", 2200),), packs=(5, 10, 30),
        variants=("오리지널", "갈릭", "고추", "훈제", "스모크바베큐", "청양"),
        rating_center=4.4, popularity=2.1,
    ),
    ProductLine(
        key="aijoa-puree", brand="아이조아", stem="아이조아 과일퓨레 {v}",
        category=("신선간편식", "어린이 간식"), product_type="과일퓨레", is_food=True,
        seller_id="s-fresh-kitchen",
        description="{v} 과육을 그대로 갈아 만든 어린이 과일퓨레입니다. 설탕을 넣지 않았습니다.",
        bullets=("설탕 무첨가", "스파우트 파우치", "돌 이후 아기부터"),
        keywords=("아이간식", "유아간식", "과일퓨레", "어린이간식", "무설탕"),
        sizes=(Size.each("100g", 1500),), packs=(5, 10), variants=("사과", "배", "망고"),
        rating_center=4.6, popularity=1.1,
    ),
    ProductLine(
        key="eommason-banchan", brand="엄마손반찬", stem="엄마손반찬 {v}",
        category=("신선간편식", "반찬"), product_type="반찬", is_food=True, seller_id="s-fresh-kitchen",
        description="집에서 만든 맛 그대로 {v}을 담았습니다.",
        bullets=("국내산 재료", FRIDGE),
        keywords=("반찬", "밑반찬", "집밥", "간편반찬"),
        sizes=(Size.each("150g", 5500),), packs=(1, 2),
        variants=("소고기 장조림", "멸치볶음", "진미채볶음", "콩자반", "어묵볶음", "메추리알 장조림"),
        rating_center=4.2, popularity=0.9,
    ),
    ProductLine(
        key="pyeonui-dosirak", brand="편의한끼", stem="편의한끼 {v} 도시락",
        category=("신선간편식", "도시락"), product_type="도시락", is_food=True, seller_id="s-bargain-mart",
        description="저렴하게 한 끼를 해결하는 {v} 도시락입니다.",
        bullets=("실속 가격", FRIDGE),
        keywords=("도시락", "가성비", "점심", "간편식"),
        sizes=(Size.each("380g", 3500),), variants=("돈까스", "햄버그"),
        rating_center=2.6, popularity=1.0,
    ),
    ProductLine(
        key="aijoa-fruitcup", brand="아이조아", stem="아이조아 과일컵 {v}",
        category=("신선간편식", "어린이 간식"), product_type="과일컵", is_food=True, seller_id="s-fresh-kitchen",
        description="한입 크기 {v} 과육을 담은 과일컵입니다. 어린이집 간식으로 좋아요.",
        bullets=("과즙 100%", "한입 크기 과육"),
        keywords=("과일컵", "아이간식", "어린이간식", "과일"),
        sizes=(Size.each("120g", 1800),), packs=(4, 8), variants=("복숭아", "파인애플"),
        rating_center=4.4, popularity=0.8,
    ),
    # ── 뷰티 ─────────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="soobungyeol-mask", brand="수분결", stem="수분결 {v} 마스크팩",
        category=("뷰티", "마스크팩"), product_type="시트 마스크", is_food=False, seller_id="s-beauty-lab",
        description="얇은 큐프라 시트에 {v} 에센스를 가득 담은 마스크팩입니다. 15분 뒤 떼어내고 남은 에센스를 두드려 흡수시키세요.",
        bullets=("얇은 큐프라 시트", "피부 자극 테스트 완료", "1매 25ml"),
        keywords=("마스크팩", "시트마스크", "팩", "수분", "데일리팩"),
        sizes=(Size.each("25ml", 1500),), packs=(1, 5, 10, 30), pack_unit="매",
        variants=("히알루론산 수분", "티트리 진정", "비타민 브라이트닝", "콜라겐 탄력", "알로에 수딩", "병풀 시카",
                  "유산균 발효"),
        variant_is_flavor=False, rating_center=4.4, popularity=1.8,
    ),
    ProductLine(
        key="malgeundam-mask", brand="맑은담", stem="맑은담 {v} 마스크",
        category=("뷰티", "마스크팩"), product_type="시트 마스크", is_food=False, seller_id="s-beauty-lab",
        description="민감 피부를 위한 {v} 시트 마스크입니다.",
        bullets=("약산성 에센스", "무향료"),
        keywords=("마스크팩", "시트마스크", "민감피부", "팩"),
        sizes=(Size.each("23ml", 1200),), packs=(5, 10), pack_unit="매",
        variants=("진정", "미백", "탄력"), variant_is_flavor=False, rating_center=4.0, popularity=0.9,
    ),
    ProductLine(
        key="ssadapack-mask", brand="싸다팩", stem="싸다팩 {v} 마스크팩",
        category=("뷰티", "마스크팩"), product_type="시트 마스크", is_food=False, seller_id="s-bargain-mart",
        description="부담 없이 매일 쓰는 {v} 마스크팩 대용량 구성입니다.",
        bullets=("대용량 실속 구성",),
        keywords=("마스크팩", "가성비", "대용량", "팩"),
        sizes=(Size.each("20ml", 500),), packs=(10, 50), pack_unit="매",
        variants=("오이", "녹차"), variant_is_flavor=False, rating_center=2.4, popularity=1.2,
    ),
    ProductLine(
        key="soobungyeol-toner", brand="수분결", stem="수분결 히알루론산 토너",
        category=("뷰티", "스킨케어"), product_type="토너", is_food=False, seller_id="s-beauty-lab",
        description="5중 히알루론산으로 세안 직후 수분을 채우는 토너입니다.",
        bullets=("5중 히알루론산", "약산성"),
        keywords=("토너", "스킨", "수분", "히알루론산", "보습"),
        sizes=(Size.each("200ml", 18000), Size.each("500ml", 32000)),
        variant_is_flavor=False, rating_center=4.5, popularity=1.0,
    ),
    ProductLine(
        key="soobungyeol-cream", brand="수분결", stem="수분결 히알루론산 크림",
        category=("뷰티", "스킨케어"), product_type="크림", is_food=False, seller_id="s-beauty-lab",
        description="끈적임 없이 보습막을 만드는 수분 크림입니다.",
        bullets=("젤 크림 제형", "48시간 보습 지속"),
        keywords=("수분크림", "크림", "보습", "히알루론산"),
        sizes=(Size.each("50ml", 24000),), variant_is_flavor=False, rating_center=4.4, popularity=0.9,
    ),
    ProductLine(
        key="soobungyeol-serum", brand="수분결", stem="수분결 {v} 세럼",
        category=("뷰티", "스킨케어"), product_type="세럼", is_food=False, seller_id="s-beauty-lab",
        description="{v} 고함량 세럼으로 칙칙한 피부 톤을 맑게 가꿉니다.",
        bullets=("고함량 액티브 성분", "스포이드 용기"),
        keywords=("세럼", "에센스", "미백", "브라이트닝"),
        sizes=(Size.each("30ml", 21000),), variants=("비타민C", "나이아신아마이드"),
        variant_is_flavor=False, rating_center=4.2, popularity=0.8,
    ),
    ProductLine(
        key="sunday-suncream", brand="선데이", stem="선데이 {v} 선크림 SPF50+ PA++++",
        category=("뷰티", "선케어"), product_type="선크림", is_food=False, seller_id="s-beauty-lab",
        description="백탁 없이 가볍게 발리는 {v} 선크림입니다. 외출 30분 전에 바르세요.",
        bullets=("SPF50+ PA++++", "백탁 최소화", "워터프루프"),
        keywords=("선크림", "자외선차단제", "선블록", "썬크림", "sunscreen"),
        sizes=(Size.each("50ml", 16000),), packs=(1, 2), variants=("톤업", "무기자차", "수분"),
        variant_is_flavor=False, rating_center=4.3, popularity=1.5,
    ),
    ProductLine(
        key="cleanbay-foam", brand="클린베이", stem="클린베이 약산성 클렌징폼",
        category=("뷰티", "클렌징"), product_type="클렌징폼", is_food=False, seller_id="s-beauty-lab",
        description="pH 5.5 약산성 거품으로 당김 없이 씻어내는 클렌징폼입니다.",
        bullets=("pH 5.5 약산성", "쫀쫀한 거품"),
        keywords=("클렌징폼", "폼클렌저", "세안제", "약산성"),
        sizes=(Size.each("150ml", 9000),), packs=(1, 2, 3), variant_is_flavor=False,
        rating_center=4.2, popularity=1.0,
    ),
    ProductLine(
        key="cleanbay-oil", brand="클린베이", stem="클린베이 딥 클렌징오일",
        category=("뷰티", "클렌징"), product_type="클렌징오일", is_food=False, seller_id="s-beauty-lab",
        description="메이크업과 블랙헤드를 녹여내는 클렌징오일입니다.",
        bullets=("빠른 유화", "블랙헤드 케어"),
        keywords=("클렌징오일", "메이크업리무버", "블랙헤드"),
        sizes=(Size.each("200ml", 15000),), variant_is_flavor=False, rating_center=4.0, popularity=0.7,
    ),
    ProductLine(
        key="soobungyeol-lipbalm", brand="수분결", stem="수분결 립밤 {v}",
        category=("뷰티", "립케어"), product_type="립밤", is_food=False, seller_id="s-beauty-lab",
        description="건조한 입술에 얇게 발리는 {v} 향 립밤입니다.",
        bullets=("시어버터 함유", "은은한 향"),
        keywords=("립밤", "립케어", "입술보습"),
        sizes=(Size.each("4.5g", 6000),), packs=(1, 2), variants=("무향", "딸기", "요거트"),
        variant_is_flavor=False, rating_center=4.1, popularity=0.8,
    ),
    # ── 생활용품 ─────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="malgeunjip-dish", brand="맑은집", stem="맑은집 {v} 주방세제",
        category=("생활용품", "주방세제"), product_type="주방세제", is_food=False, seller_id="s-home-living",
        description="1종 세척제로 과일과 채소까지 씻을 수 있는 {v} 주방세제입니다.",
        bullets=("1종 세척제", "식물 유래 세정 성분"),
        keywords=("주방세제", "설거지", "세제", "1종세제"),
        sizes=(Size.each("500ml", 3900), Size.each("1L", 6500), Size("1.2L 리필", 5900, net="1.2L")),
        variants=("레몬", "자몽", "무향"), variant_is_flavor=False, rating_center=4.3, popularity=1.4,
    ),
    ProductLine(
        key="pogeunhae-softener", brand="포근해", stem="포근해 섬유유연제 {v}",
        category=("생활용품", "세탁"), product_type="섬유유연제", is_food=False, seller_id="s-home-living",
        description="은은한 {v} 향이 오래가는 고농축 섬유유연제입니다.",
        bullets=("고농축", "정전기 방지"),
        keywords=("섬유유연제", "유연제", "세탁", "빨래"),
        sizes=(Size.each("2.5L", 8900),), packs=(1, 2, 4), variants=("코튼", "라벤더", "베이비파우더"),
        variant_is_flavor=False, rating_center=4.4, popularity=1.2,
    ),
    ProductLine(
        key="ppodeuk-detergent", brand="뽀득", stem="뽀득 {v} 액체세제",
        category=("생활용품", "세탁"), product_type="세탁세제", is_food=False, seller_id="s-home-living",
        description="찬물에도 잘 녹는 {v} 액체 세탁세제입니다.",
        bullets=("드럼·일반 겸용", "저자극"),
        keywords=("세탁세제", "액체세제", "빨래", "세제"),
        sizes=(Size.each("3L", 12900),), packs=(1, 2), variants=("드럼겸용", "실내건조"),
        variant_is_flavor=False, rating_center=4.2, popularity=1.0,
    ),
    ProductLine(
        key="sunsu-wipes", brand="순수", stem="순수 아기물티슈 {v}",
        category=("생활용품", "물티슈"), product_type="물티슈", is_food=False, seller_id="s-home-living",
        description="정제수 99.9% 아기물티슈 {v} 타입입니다.",
        bullets=("정제수 99.9%", "엠보싱 원단"),
        keywords=("물티슈", "아기물티슈", "웻티슈"),
        sizes=(Size("80매", 1800, net="80매"),), packs=(10, 20), pack_unit="팩", variants=("캡형", "리필형"),
        variant_is_flavor=False, rating_center=4.5, popularity=1.6,
    ),
    ProductLine(
        key="hayanmiso-toothpaste", brand="하얀미소", stem="하얀미소 {v} 치약",
        category=("생활용품", "구강용품"), product_type="치약", is_food=False, seller_id="s-home-living",
        description="불소 1450ppm {v} 치약입니다.",
        bullets=("불소 1450ppm", "마모도 낮은 연마제"),
        keywords=("치약", "구강관리", "잇몸"),
        sizes=(Size.each("120g", 3500),), packs=(1, 3, 6), variants=("쿨민트", "잇몸케어", "어린이 딸기"),
        variant_is_flavor=False, rating_center=4.3, popularity=1.1,
    ),
    ProductLine(
        key="hayanmiso-toothbrush", brand="하얀미소", stem="하얀미소 미세모 칫솔",
        category=("생활용품", "구강용품"), product_type="칫솔", is_food=False, seller_id="s-home-living",
        description="0.01mm 미세모로 잇몸에 부드러운 칫솔입니다.",
        bullets=("0.01mm 미세모", "개별 캡 포함"),
        keywords=("칫솔", "미세모", "구강관리"),
        sizes=(Size("", 1500, net=None),), packs=(4, 8, 12), variant_is_flavor=False,
        rating_center=4.2, popularity=0.9,
    ),
    ProductLine(
        key="herbsup-shampoo", brand="허브숲", stem="허브숲 {v} 샴푸",
        category=("생활용품", "헤어케어"), product_type="샴푸", is_food=False, seller_id="s-home-living",
        description="두피 고민에 맞춘 {v} 샴푸입니다.",
        bullets=("약산성 두피 세정", "실리콘 무첨가"),
        keywords=("샴푸", "두피케어", "탈모샴푸", "헤어"),
        sizes=(Size.each("500ml", 12000),), packs=(1, 2), variants=("탈모 증상 완화", "두피 쿨링", "손상모 케어"),
        variant_is_flavor=False, rating_center=4.0, popularity=1.0,
    ),
    ProductLine(
        key="malgeunjip-gloves", brand="맑은집", stem="맑은집 라텍스 고무장갑 중형",
        category=("생활용품", "주방잡화"), product_type="고무장갑", is_food=False, seller_id="s-home-living",
        description="손목까지 넉넉한 라텍스 고무장갑입니다.",
        bullets=("천연 라텍스", "미끄럼 방지 엠보"),
        keywords=("고무장갑", "설거지", "주방장갑"),
        sizes=(Size("", 2000, net=None),), packs=(1, 3), pack_unit="켤레", variant_is_flavor=False,
        rating_center=4.1, popularity=0.6,
    ),
    # ── 캐릭터 굿즈 ─────────────────────────────────────────────────────────────────────────────
    ProductLine(
        key="yakult-keyring", brand=CONFUSABLE_BRAND, stem="야쿠르트 아줌마 {v} 키링",
        category=("캐릭터 굿즈", "키링"), product_type="키링", is_food=False, seller_id="s-yakult-official",
        description="전동카트를 탄 야쿠르트 아줌마를 {v} 키링으로 만들었습니다. 가방이나 열쇠에 달아 보세요.",
        bullets=("공식 라이선스 굿즈", "고리 포함", "먹는 제품이 아닙니다"),
        keywords=("야쿠르트", "야쿠르트 아줌마", "키링", "굿즈", "캐릭터"),
        sizes=(Size("", 8900, net=None),), variants=("아크릴", "실리콘", "미니 병 모양"),
        variant_is_flavor=False, rating_center=4.6, popularity=1.3,
    ),
    ProductLine(
        key="yakult-plush", brand=CONFUSABLE_BRAND, stem="야쿠르트 아줌마 인형",
        category=("캐릭터 굿즈", "인형"), product_type="인형", is_food=False, seller_id="s-yakult-official",
        description="노란 유니폼을 입은 야쿠르트 아줌마 봉제 인형입니다.",
        bullets=("공식 라이선스 굿즈", "KC 인증", "먹는 제품이 아닙니다"),
        keywords=("야쿠르트", "야쿠르트 아줌마", "인형", "굿즈", "캐릭터"),
        sizes=(Size("20cm", 15900, net=None), Size("40cm", 29900, net=None)),
        variant_is_flavor=False, rating_center=4.7, popularity=1.0,
    ),
    ProductLine(
        key="yakult-cup", brand=CONFUSABLE_BRAND, stem="야쿠르트 병 모양 {v}",
        category=("캐릭터 굿즈", "컵·텀블러"), product_type="컵", is_food=False, seller_id="s-yakult-official",
        description="야쿠르트 병을 그대로 키운 {v}입니다.",
        bullets=("공식 라이선스 굿즈", "식기세척기 사용 불가"),
        keywords=("야쿠르트", "굿즈", "컵", "캐릭터", "야쿠르트컵"),
        sizes=(Size("", 14900, net=None),), variants=("머그컵", "유리컵", "텀블러"),
        variant_is_flavor=False, rating_center=4.4, popularity=0.9,
    ),
    ProductLine(
        key="yakult-cushion", brand=CONFUSABLE_BRAND, stem="야쿠르트 병 쿠션",
        category=("캐릭터 굿즈", "홈데코"), product_type="쿠션", is_food=False, seller_id="s-yakult-official",
        description="말랑한 야쿠르트 병 모양 쿠션입니다.",
        bullets=("공식 라이선스 굿즈", "커버 분리 세탁"),
        keywords=("야쿠르트", "쿠션", "굿즈", "캐릭터"),
        sizes=(Size("45cm", 24900, net=None),), variant_is_flavor=False, rating_center=4.5, popularity=0.6,
    ),
    ProductLine(
        key="yakult-sticker", brand=CONFUSABLE_BRAND, stem="야쿠르트 아줌마 스티커 팩",
        category=("캐릭터 굿즈", "문구"), product_type="스티커", is_food=False, seller_id="s-yakult-official",
        description="다이어리 꾸미기에 좋은 야쿠르트 아줌마 스티커 30종입니다.",
        bullets=("30종 스티커", "방수 코팅"),
        keywords=("야쿠르트", "야쿠르트 아줌마", "스티커", "다꾸", "굿즈"),
        sizes=(Size("30매", 4900, net=None),), variant_is_flavor=False, rating_center=4.3, popularity=0.7,
    ),
    ProductLine(
        key="yakult-ecobag", brand=CONFUSABLE_BRAND, stem="야쿠르트 아줌마 에코백",
        category=("캐릭터 굿즈", "패션잡화"), product_type="에코백", is_food=False, seller_id="s-yakult-official",
        description="야쿠르트 아줌마 일러스트를 프린트한 캔버스 에코백입니다.",
        bullets=("두꺼운 캔버스 원단", "안쪽 포켓"),
        keywords=("야쿠르트", "야쿠르트 아줌마", "에코백", "굿즈"),
        sizes=(Size("", 19900, net=None),), variant_is_flavor=False, rating_center=4.2, popularity=0.5,
    ),
    ProductLine(
        key="yakult-coolbag", brand=CONFUSABLE_BRAND, stem="야쿠르트 전동카트 미니 보냉백",
        category=("캐릭터 굿즈", "패션잡화"), product_type="보냉백", is_food=False, seller_id="s-yakult-official",
        description="야쿠르트 전동카트를 본뜬 미니 보냉백입니다. 음료 4병이 들어갑니다.",
        bullets=("보냉 안감", "어깨끈 포함"),
        keywords=("야쿠르트", "보냉백", "굿즈", "전동카트"),
        sizes=(Size("", 22900, net=None),), variant_is_flavor=False, rating_center=4.4, popularity=0.5,
    ),
    ProductLine(
        key="yakult-moodlight", brand=CONFUSABLE_BRAND, stem="야쿠르트 병 무드등",
        category=("캐릭터 굿즈", "홈데코"), product_type="무드등", is_food=False, seller_id="s-yakult-official",
        description="야쿠르트 병 모양 USB 충전식 무드등입니다.",
        bullets=("USB-C 충전", "3단 밝기"),
        keywords=("야쿠르트", "무드등", "굿즈", "인테리어"),
        sizes=(Size("", 27900, net=None),), variant_is_flavor=False, rating_center=4.5, popularity=0.4,
    ),
    ProductLine(
        key="mongle-keyring", brand="몽글프렌즈", stem="몽글이 {v} 키링",
        category=("캐릭터 굿즈", "키링"), product_type="키링", is_food=False, seller_id="s-character-shop",
        description="구름 캐릭터 몽글이 {v} 키링입니다.",
        bullets=("말랑한 실리콘", "고리 포함"),
        keywords=("몽글이", "키링", "캐릭터", "굿즈", "구름"),
        sizes=(Size("", 7900, net=None),), variants=("기본", "하트", "별", "무지개"),
        variant_is_flavor=False, rating_center=4.5, popularity=1.0,
    ),
    ProductLine(
        key="mongle-plush", brand="몽글프렌즈", stem="몽글이 인형",
        category=("캐릭터 굿즈", "인형"), product_type="인형", is_food=False, seller_id="s-character-shop",
        description="포근한 구름 캐릭터 몽글이 봉제 인형입니다.",
        bullets=("극세사 원단", "KC 인증"),
        keywords=("몽글이", "인형", "캐릭터", "굿즈", "애착인형"),
        sizes=(Size("20cm", 12900, net=None), Size("30cm", 19900, net=None), Size("45cm", 32900, net=None)),
        variant_is_flavor=False, rating_center=4.6, popularity=1.0,
    ),
    ProductLine(
        key="mongle-mug", brand="몽글프렌즈", stem="몽글이 머그컵",
        category=("캐릭터 굿즈", "컵·텀블러"), product_type="컵", is_food=False, seller_id="s-character-shop",
        description="몽글이 얼굴이 그려진 세라믹 머그컵입니다.",
        bullets=("세라믹", "전자레인지 사용 가능"),
        keywords=("몽글이", "머그컵", "캐릭터", "굿즈"),
        sizes=(Size("", 12900, net=None),), variant_is_flavor=False, rating_center=4.3, popularity=0.7,
    ),
    ProductLine(
        key="mongle-tumbler", brand="몽글프렌즈", stem="몽글이 스텐 텀블러",
        category=("캐릭터 굿즈", "컵·텀블러"), product_type="텀블러", is_food=False, seller_id="s-character-shop",
        description="보온·보냉이 되는 몽글이 스테인리스 텀블러입니다.",
        bullets=("이중 진공 단열", "스테인리스"),
        keywords=("몽글이", "텀블러", "캐릭터", "굿즈"),
        sizes=(Size("", 21900, net=None),), variant_is_flavor=False, rating_center=4.4, popularity=0.6,
    ),
    ProductLine(
        key="mongle-sticker", brand="몽글프렌즈", stem="몽글이 스티커 팩",
        category=("캐릭터 굿즈", "문구"), product_type="스티커", is_food=False, seller_id="s-character-shop",
        description="몽글이 표정 스티커 40종입니다.",
        bullets=("40종 스티커",),
        keywords=("몽글이", "스티커", "다꾸", "캐릭터"),
        sizes=(Size("40매", 3900, net=None),), variant_is_flavor=False, rating_center=4.2, popularity=0.6,
    ),
    ProductLine(
        key="mongle-pouch", brand="몽글프렌즈", stem="몽글이 파우치",
        category=("캐릭터 굿즈", "패션잡화"), product_type="파우치", is_food=False, seller_id="s-character-shop",
        description="화장품이나 필기구를 담는 몽글이 파우치입니다.",
        bullets=("방수 안감",),
        keywords=("몽글이", "파우치", "캐릭터", "굿즈"),
        sizes=(Size("", 11900, net=None),), variant_is_flavor=False, rating_center=4.1, popularity=0.5,
    ),
    ProductLine(
        key="malang-keyring", brand="말랑토끼", stem="말랑토끼 {v} 키링",
        category=("캐릭터 굿즈", "키링"), product_type="키링", is_food=False, seller_id="s-character-shop",
        description="귀가 긴 말랑토끼 {v} 키링입니다.",
        bullets=("고리 포함",),
        keywords=("말랑토끼", "키링", "토끼", "캐릭터", "굿즈"),
        sizes=(Size("", 6900, net=None),), variants=("말랑 실리콘", "아크릴"), variant_is_flavor=False,
        rating_center=3.2, popularity=0.7,
    ),
    ProductLine(
        key="malang-plush", brand="말랑토끼", stem="말랑토끼 인형",
        category=("캐릭터 굿즈", "인형"), product_type="인형", is_food=False, seller_id="s-character-shop",
        description="안고 자기 좋은 말랑토끼 봉제 인형입니다.",
        bullets=("KC 인증",),
        keywords=("말랑토끼", "인형", "토끼인형", "캐릭터"),
        sizes=(Size("25cm", 14900, net=None), Size("50cm", 34900, net=None)),
        variant_is_flavor=False, rating_center=3.6, popularity=0.6,
    ),
    ProductLine(
        key="malang-goods", brand="말랑토끼", stem="말랑토끼 {v}",
        category=("캐릭터 굿즈", "문구"), product_type="문구", is_food=False, seller_id="s-character-shop",
        description="말랑토끼 {v}입니다.",
        bullets=("캐릭터 라이선스 상품",),
        keywords=("말랑토끼", "문구", "캐릭터", "굿즈"),
        sizes=(Size("", 5900, net=None),), variants=("볼펜 3개입 세트", "떡메모지", "에코백"),
        variant_is_flavor=False, rating_center=3.9, popularity=0.5,
    ),
    ProductLine(
        key="mokjang-cow-plush", brand="목장일기", stem="목장일기 젖소 인형",
        category=("캐릭터 굿즈", "인형"), product_type="인형", is_food=False, seller_id="s-dairy-market",
        description="목장일기 마스코트 젖소 봉제 인형입니다.",
        bullets=("KC 인증", "먹는 제품이 아닙니다"),
        keywords=("목장일기", "젖소", "인형", "굿즈", "캐릭터"),
        sizes=(Size("25cm", 16900, net=None), Size("40cm", 27900, net=None)),
        variant_is_flavor=False, rating_center=4.5, popularity=0.5,
    ),
    ProductLine(
        key="mokjang-cow-goods", brand="목장일기", stem="목장일기 {v}",
        category=("캐릭터 굿즈", "문구"), product_type="문구", is_food=False, seller_id="s-dairy-market",
        description="목장일기 젖소 마스코트가 그려진 {v}입니다.",
        bullets=("먹는 제품이 아닙니다",),
        keywords=("목장일기", "젖소", "굿즈", "캐릭터"),
        sizes=(Size("", 6900, net=None),), variants=("젖소 키링", "우유팩 필통"),
        variant_is_flavor=False, rating_center=4.3, popularity=0.4,
    ),
)  # fmt: skip


def _child(line_key: str, size_label: str, pack: int, variant: str = "") -> tuple[str, str, str, int]:
    return (line_key, variant, size_label, pack)


BUNDLES: tuple[Bundle, ...] = (
    Bundle(
        key="b-yakult-duo", title="야쿠르트 오리지널·라이트 2종 세트",
        category=("발효유", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-yakult-official",
        description="오리지널과 당을 줄인 라이트를 함께 맛보는 세트입니다.",
        keywords=("야쿠르트", "세트", "유산균", "선물"),
        children=(_child("yakult-original", "65ml", 10), _child("yakult-light", "65ml", 10)),
        popularity=1.5,
    ),
    Bundle(
        key="b-yakult-family", title="야쿠르트 온가족 세트 (오리지널+키즈+위케어)",
        category=("발효유", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-yakult-official",
        description="어른은 오리지널과 위케어, 아이는 키즈 딸기로 온 가족이 함께 마시는 세트입니다.",
        keywords=("야쿠르트", "가족", "세트", "선물세트"),
        children=(
            _child("yakult-original", "65ml", 20),
            _child("yakult-kids", "80ml", 10, "딸기"),
            _child("yakult-wicare", "150ml", 7),
        ),
    ),
    Bundle(
        key="b-yakult-goods", title="야쿠르트 아줌마 굿즈 세트 (키링+스티커+에코백)",
        category=("캐릭터 굿즈", "굿즈 세트"), product_type="굿즈 세트", is_food=False,
        seller_id="s-yakult-official",
        description="야쿠르트 아줌마 팬을 위한 굿즈 모음입니다. 먹는 제품은 들어 있지 않습니다.",
        keywords=("야쿠르트", "야쿠르트 아줌마", "굿즈", "세트", "선물"),
        children=(
            _child("yakult-keyring", "", 1, "아크릴"),
            _child("yakult-sticker", "30매", 1),
            _child("yakult-ecobag", "", 1),
        ),
    ),
    Bundle(
        key="b-yakult-drink-keyring", title="야쿠르트 라이트 20개 + 야쿠르트 아줌마 키링 기획세트",
        category=("발효유", "선물세트"), product_type="기획세트", is_food=True, seller_id="s-yakult-official",
        description="야쿠르트 라이트 20병에 실리콘 키링을 증정하는 한정 기획세트입니다.",
        keywords=("야쿠르트", "키링", "기획세트", "한정판"),
        children=(_child("yakult-light", "65ml", 20), _child("yakult-keyring", "", 1, "실리콘")),
    ),
    Bundle(
        key="b-dailylac-five", title="데일리락 떠먹는 요구르트 5가지 맛 세트",
        category=("발효유", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-dairy-market",
        description="플레인부터 알로에까지 다섯 가지 맛을 4개씩 담았습니다.",
        keywords=("요구르트", "요거트", "세트", "데일리락"),
        children=tuple(
            _child("dailylac-spoon", "85g", 4, flavor) for flavor in ("플레인", "딸기", "블루베리", "복숭아", "알로에")
        ),
    ),
    Bundle(
        key="b-greek-tasting", title="목장일기 그릭요거트 3종 맛보기 세트",
        category=("발효유", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-dairy-market",
        description="플레인, 꿀, 무가당 그릭요거트를 한 통씩 맛보는 세트입니다.",
        keywords=("그릭요거트", "맛보기", "세트", "목장일기"),
        children=tuple(_child("mokjang-greek", "100g", 1, flavor) for flavor in ("플레인", "꿀", "무가당")),
    ),
    Bundle(
        key="b-bifidus-fruit", title="하루비피더스 과일 3종 세트",
        category=("발효유", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-dairy-market",
        description="딸기, 사과, 복숭아 마시는 요구르트를 4병씩 담았습니다.",
        keywords=("마시는요구르트", "세트", "과일"),
        children=tuple(_child("haru-bifidus", "150ml", 4, flavor) for flavor in ("딸기", "사과", "복숭아")),
    ),
    Bundle(
        key="b-bareunjang-family", title="바른장 온가족 유산균 세트 (골드+키즈+우먼)",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-health-plus",
        description="아빠, 엄마, 아이 모두를 위한 바른장 유산균 3종 세트입니다.",
        keywords=("유산균", "프로바이오틱스", "가족", "선물세트", "바른장"),
        children=(
            _child("bareunjang-gold", "30캡슐", 1),
            _child("bareunjang-kids", "30정", 1, "딸기"),
            _child("bareunjang-women", "30캡슐", 1),
        ),
        popularity=1.3,
    ),
    Bundle(
        key="b-medilac-care", title="메디락 장·위 케어 유산균 세트",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-pharm-direct",
        description="장 건강 생유산균 스틱과 위 유산균을 함께 챙기는 세트입니다.",
        keywords=("유산균", "위건강", "장건강", "세트"),
        children=(_child("medilac-stick", "30포", 1), _child("medilac-stomach", "30캡슐", 1)),
    ),
    Bundle(
        key="b-solip-vitamins", title="솔잎제약 비타민 3종 세트 (멀티+C+D)",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-pharm-direct",
        description="종합비타민, 비타민C, 비타민D를 한 번에 챙기는 세트입니다.",
        keywords=("비타민", "세트", "영양제", "선물"),
        children=(
            _child("solip-multi", "60정", 1),
            _child("solip-vitc", "100정", 1),
            _child("solip-vitd", "90캡슐", 1),
        ),
    ),
    Bundle(
        key="b-hongwonsam-holiday", title="홍원삼 명절 선물세트 (홍삼정 골드+홍삼정 스틱)",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-health-plus",
        description="부모님 명절 선물로 좋은 홍삼정 골드와 스틱 구성입니다. 쇼핑백을 함께 드립니다.",
        keywords=("홍삼", "명절선물", "효도선물", "선물세트"),
        children=(_child("hongwonsam-extract", "240g", 1), _child("hongwonsam-stick", "30포", 1)),
        popularity=1.2,
    ),
    Bundle(
        key="b-slimon-diet", title="슬림온 다이어트 3종 세트",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-health-plus",
        description="가르시니아, 카테킨, 단백질 쉐이크로 구성한 4주 다이어트 세트입니다.",
        keywords=("다이어트", "세트", "체지방", "식사대용"),
        children=(
            _child("slimon-garcinia", "56정", 1),
            _child("slimon-catechin", "60정", 1),
            _child("slimon-shake", "10포", 1, "초코"),
        ),
    ),
    Bundle(
        key="b-beauty-eye", title="빛결 콜라겐 + 눈밝은 루테인 이너뷰티 세트",
        category=("건강기능식품", "선물세트"), product_type="선물세트", is_food=True, seller_id="s-health-plus",
        description="피부 보습 콜라겐과 눈 건강 루테인을 함께 담았습니다.",
        keywords=("콜라겐", "루테인", "이너뷰티", "세트"),
        children=(_child("bitgyeol-collagen", "30포", 1, "자몽"), _child("nunbalgeun-lutein", "30캡슐", 1)),
    ),
    Bundle(
        key="b-hankki-week", title="한끼정성 도시락 5일 세트",
        category=("신선간편식", "도시락 세트"), product_type="도시락 세트", is_food=True,
        seller_id="s-fresh-kitchen",
        description="월요일부터 금요일까지 메뉴가 겹치지 않는 도시락 5종입니다.",
        keywords=("도시락", "세트", "직장인점심", "일주일"),
        children=tuple(
            _child("hankki-dosirak", "420g", 1, menu)
            for menu in ("제육볶음", "불고기", "치킨마요", "고등어구이", "닭가슴살 현미")
        ),
        popularity=1.4,
    ),
    Bundle(
        key="b-greenbowl-five", title="그린볼 샐러드 5종 다이어트 세트",
        category=("신선간편식", "샐러드 세트"), product_type="샐러드 세트", is_food=True,
        seller_id="s-fresh-kitchen",
        description="토핑이 다른 샐러드 5종으로 식단을 지루하지 않게.",
        keywords=("샐러드", "다이어트", "세트", "식단관리"),
        children=tuple(
            _child("greenbowl-salad", "230g", 1, topping)
            for topping in ("닭가슴살", "훈제연어", "리코타치즈", "단호박", "두부")
        ),
    ),
    Bundle(
        key="b-fitdak-four", title="핏닭 닭가슴살 스테이크 4가지 맛 세트",
        category=("신선간편식", "닭가슴살"), product_type="닭가슴살 세트", is_food=True,
        seller_id="s-fresh-kitchen",
        description="오리지널, 갈릭, 고추, 훈제를 5팩씩 담은 맛보기 세트입니다.",
        keywords=("닭가슴살", "세트", "다이어트", "고단백"),
        children=tuple(_child("fitdak-breast", "100g", 5, flavor) for flavor in ("오리지널", "갈릭", "고추", "훈제")),
        popularity=1.3,
    ),
    Bundle(
        key="b-porridge-four", title="아침든든 죽 4종 세트",
        category=("신선간편식", "죽"), product_type="죽 세트", is_food=True, seller_id="s-fresh-kitchen",
        description="전복죽, 소고기야채죽, 단호박죽, 팥죽 한 개씩입니다.",
        keywords=("죽", "세트", "아침식사"),
        children=tuple(
            _child("achim-porridge", "285g", 1, menu) for menu in ("전복죽", "소고기야채죽", "단호박죽", "팥죽")
        ),
    ),
    Bundle(
        key="b-aijoa-snack", title="아이조아 아이 간식 세트 (과일퓨레+과일컵)",
        category=("신선간편식", "어린이 간식"), product_type="간식 세트", is_food=True,
        seller_id="s-fresh-kitchen",
        description="어린이집 가방에 쏙 넣는 과일퓨레와 과일컵 세트입니다.",
        keywords=("아이간식", "어린이간식", "세트", "과일"),
        children=(
            _child("aijoa-puree", "100g", 5, "사과"),
            _child("aijoa-puree", "100g", 5, "배"),
            _child("aijoa-fruitcup", "120g", 4, "복숭아"),
        ),
    ),
    Bundle(
        key="b-mealkit-camping", title="오늘밀키트 캠핑 세트 (부대찌개+감바스)",
        category=("신선간편식", "밀키트"), product_type="밀키트 세트", is_food=True, seller_id="s-fresh-kitchen",
        description="캠핑장에서 바로 끓이는 부대찌개와 감바스 구성입니다.",
        keywords=("밀키트", "캠핑", "세트", "캠핑요리"),
        children=(_child("today-mealkit", "2인분", 1, "부대찌개"), _child("today-mealkit", "2인분", 1, "감바스")),
    ),
    Bundle(
        key="b-mask-trial", title="수분결 베스트 마스크팩 5종 체험 세트",
        category=("뷰티", "마스크팩"), product_type="마스크팩 세트", is_food=False, seller_id="s-beauty-lab",
        description="수분, 진정, 브라이트닝, 탄력, 수딩 마스크팩을 한 장씩 써 보는 체험 세트입니다.",
        keywords=("마스크팩", "세트", "체험", "수분결"),
        children=tuple(
            _child("soobungyeol-mask", "25ml", 1, variant)
            for variant in ("히알루론산 수분", "티트리 진정", "비타민 브라이트닝", "콜라겐 탄력", "알로에 수딩")
        ),
        popularity=1.2,
    ),
    Bundle(
        key="b-hyaluronic-duo", title="수분결 히알루론산 토너·크림 2종 세트",
        category=("뷰티", "스킨케어 세트"), product_type="스킨케어 세트", is_food=False,
        seller_id="s-beauty-lab",
        description="토너와 크림으로 수분 루틴을 완성하는 세트입니다.",
        keywords=("스킨케어", "세트", "보습", "히알루론산"),
        children=(_child("soobungyeol-toner", "200ml", 1), _child("soobungyeol-cream", "50ml", 1)),
    ),
    Bundle(
        key="b-sun-cleansing", title="선데이 톤업 선크림 + 클린베이 클렌징폼 세트",
        category=("뷰티", "선케어"), product_type="뷰티 세트", is_food=False, seller_id="s-beauty-lab",
        description="바르고 지우는 여름 필수 2종 세트입니다.",
        keywords=("선크림", "클렌징폼", "세트", "여름"),
        children=(_child("sunday-suncream", "50ml", 1, "톤업"), _child("cleanbay-foam", "150ml", 1)),
    ),
    Bundle(
        key="b-dish-three", title="맑은집 주방세제 3가지 향 세트",
        category=("생활용품", "주방세제"), product_type="생활용품 세트", is_food=False,
        seller_id="s-home-living",
        description="레몬, 자몽, 무향 주방세제를 500ml씩 담았습니다.",
        keywords=("주방세제", "세트", "설거지"),
        children=tuple(_child("malgeunjip-dish", "500ml", 1, scent) for scent in ("레몬", "자몽", "무향")),
    ),
    Bundle(
        key="b-oral-care", title="하얀미소 구강관리 세트 (치약+칫솔)",
        category=("생활용품", "구강용품"), product_type="생활용품 세트", is_food=False,
        seller_id="s-home-living",
        description="쿨민트 치약 3개와 미세모 칫솔 4개 구성입니다.",
        keywords=("치약", "칫솔", "세트", "구강관리"),
        children=(_child("hayanmiso-toothpaste", "120g", 3, "쿨민트"), _child("hayanmiso-toothbrush", "", 4)),
    ),
    Bundle(
        key="b-mongle-gift", title="몽글이 굿즈 선물세트 (인형+키링+머그컵)",
        category=("캐릭터 굿즈", "굿즈 세트"), product_type="굿즈 세트", is_food=False,
        seller_id="s-character-shop",
        description="몽글이 인형 20cm, 키링, 머그컵을 선물 상자에 담았습니다.",
        keywords=("몽글이", "굿즈", "선물세트", "캐릭터"),
        children=(
            _child("mongle-plush", "20cm", 1),
            _child("mongle-keyring", "", 1, "기본"),
            _child("mongle-mug", "", 1),
        ),
    ),
    Bundle(
        key="b-malang-keyrings", title="말랑토끼 키링 2종 세트",
        category=("캐릭터 굿즈", "굿즈 세트"), product_type="굿즈 세트", is_food=False,
        seller_id="s-character-shop",
        description="실리콘 키링과 아크릴 키링을 함께 담았습니다.",
        keywords=("말랑토끼", "키링", "세트"),
        children=(
            _child("malang-keyring", "", 1, "말랑 실리콘"),
            _child("malang-keyring", "", 1, "아크릴"),
        ),
        rating_center=3.4,
    ),
)  # fmt: skip


def _variant_key(line_key: str, variant: str, size_label: str, pack: int) -> tuple[str, str, str, int]:
    return (line_key, variant, size_label, pack)


def _krw(amount: float) -> int:
    """Shop-style price: to the nearest 100 won, minus 100 above 5,000 won (12,900 rather than 13,000)."""
    rounded = max(100, round(amount / 100) * 100)
    return rounded - 100 if rounded > 5000 else rounded


def _stats(key: str, rating_center: float, popularity: float) -> tuple[float | None, int, int]:
    """Rating, review count and purchase count, seeded per product so editing one line moves no other."""
    rng = random.Random(f"{SEED}:{key}")
    if rng.random() < 0.04:  # a few just-listed products: no reviews yet, a handful of sales
        return None, 0, rng.randint(0, 12)
    reviews = int(popularity * 10 ** rng.uniform(0.3, 3.5))
    if reviews <= 3:  # a handful of reviews gives the extreme averages real shops show
        rating = rng.choice((1.0, 3.0, 4.0, 5.0, 5.0))
    else:
        low, high = max(1.0, rating_center - 2.2), min(5.0, rating_center + 0.8)
        rating = round(min(5.0, max(1.0, rng.triangular(low, high, rating_center))), 1)
    purchases = reviews * rng.randint(6, 25) + rng.randint(0, 300)
    return rating, reviews, purchases


def _join_unique(words: list[str]) -> str:
    """`|`-joined keywords without repeats; "유산균 음료" repeats "유산균음료" (sellers ignore spacing)."""
    kept: dict[str, str] = {}
    for word in (raw.strip() for raw in words):
        if word:
            kept.setdefault(word.replace(" ", ""), word)
    return "|".join(kept.values())


def _single_listings(line: ProductLine) -> list[tuple[tuple[str, str, str, int], dict, dict]]:
    rows = []
    for variant in line.variants:
        stem = line.stem.replace("{v}", variant) if "{v}" in line.stem else f"{line.stem} {variant}"
        for size in line.sizes:
            for pack in line.packs:
                amount = f"{size.label} x {pack}{line.pack_unit}" if pack > 1 else size.label
                if not size.label and pack > 1:
                    amount = f"{pack}{line.pack_unit}"
                title = " ".join(f"{stem} {amount}".split())
                bulk_discount = 1 - min(0.18, 0.03 * math.log2(pack))
                rng = random.Random(f"{SEED}:price:{title}")
                price = _krw(size.price * pack * bulk_discount * rng.uniform(0.97, 1.03))
                description = line.description.replace("{v}", variant).strip()
                if amount:
                    description += f" 구성: {amount}."
                bullets = list(line.bullets)
                if size.net:
                    count = size.units * pack
                    bullets.append(f"내용량: {size.net} x {count}" if count > 1 else f"내용량: {size.net}")
                rating, reviews, purchases = _stats(title, line.rating_center, line.popularity)
                product = {
                    "title": title,
                    "description": description,
                    "bullet_points": bullets,
                    "category_path": list(line.category),
                    "brand": line.brand,
                    "price": price,
                    "currency": "KRW",
                    "seller_id": line.seller_id,
                    "locale": "ko",
                    "metadata_keywords": _join_unique([*line.keywords, variant, line.category[1]]),
                    "rating": rating,
                    "review_count": reviews,
                    "purchase_count": purchases,
                }
                gold = {
                    "family": line.key,
                    "is_food": line.is_food,
                    "product_type": line.product_type,
                    "net_content": size.net,
                    "pack_count": size.units * pack,
                    "flavor": (variant or None) if line.variant_is_flavor and line.is_food else None,
                }
                rows.append((_variant_key(line.key, variant, size.label, pack), product, gold))
    return rows


def build_catalog() -> list[dict]:
    """Every listing as `{"product": ProductListing fields, "gold": ground truth}`, ids assigned in order."""
    records: list[dict] = []
    by_variant: dict[tuple[str, str, str, int], dict] = {}
    for line in LINES:
        for variant_key, product, gold in _single_listings(line):
            if variant_key in by_variant:
                raise ValueError(f"duplicate variant {variant_key}: give the line distinct variants or sizes")
            record = {"product": {"product_id": f"km-{len(records) + 1:04d}", **product}, "gold": gold}
            by_variant[variant_key] = record
            records.append(record)
    for bundle in BUNDLES:
        if not 2 <= len(bundle.children) <= 5:
            raise ValueError(f"bundle {bundle.key} has {len(bundle.children)} children; use 2-5")
        parent_id = f"km-{len(records) + 1:04d}"
        children = []
        for child_key in bundle.children:
            child = by_variant.get(child_key)
            if child is None:
                raise ValueError(f"bundle {bundle.key} names {child_key}, which no product line produces")
            if "parent_id" in child["product"]:
                raise ValueError(f"{child_key} is already in bundle {child['product']['parent_id']}")
            child["product"]["parent_id"] = parent_id
            children.append(child["product"])
        rating, reviews, purchases = _stats(bundle.key, bundle.rating_center, bundle.popularity)
        product = {
            "product_id": parent_id,
            "title": bundle.title,
            "description": bundle.description + " 구성품: " + ", ".join(c["title"] for c in children) + ".",
            "bullet_points": [f"구성품 {len(children)}종", *(c["title"] for c in children)],
            "category_path": list(bundle.category),
            "brand": children[0]["brand"] if len({c["brand"] for c in children}) == 1 else None,
            "price": _krw(sum(c["price"] for c in children) * 0.9),
            "currency": "KRW",
            "seller_id": bundle.seller_id,
            "locale": "ko",
            "child_ids": [c["product_id"] for c in children],
            "metadata_keywords": _join_unique(list(bundle.keywords)),
            "rating": rating,
            "review_count": reviews,
            "purchase_count": purchases,
        }
        gold = {
            "family": bundle.key,
            "is_food": bundle.is_food,
            "product_type": bundle.product_type,
            "net_content": None,
            "pack_count": len(children),
            "flavor": None,
        }
        records.append({"product": product, "gold": gold})
    return records


def render(records: list[dict]) -> str:
    """The JSON Lines text: one record per line, UTF-8 Korean kept readable, stable key order."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if --output differs from the tables")
    args = parser.parse_args(argv)
    records = build_catalog()
    text = render(records)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date ({len(records)} products)")
        return 0
    args.output.write_text(text, encoding="utf-8", newline="\n")
    bundles = sum(1 for record in records if record["product"].get("child_ids"))
    print(f"wrote {len(records)} products ({bundles} bundles) to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
