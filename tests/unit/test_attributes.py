from cataloop.domain.enrichment.attributes import schema_catalog, schema_for


def test_oa_mine_categories_have_their_schemas() -> None:
    coffee = schema_for(["Coffee"])
    assert coffee.schema_id == "oa-mine/coffee"
    assert {"Brand", "Net content", "Pack size", "Flavor"} <= set(coffee.names)
    assert (
        coffee.by_concept("net_content") is not None and coffee.by_concept("net_content").kind == "quantity"
    )  # type: ignore[union-attr]
    assert len([s for s in schema_catalog().schemas if s.schema_id.startswith("oa-mine/")]) == 10


def test_longest_prefix_and_default() -> None:
    assert schema_for(["coffee", "Ground"]).schema_id == "oa-mine/coffee"
    default = schema_for(["식품", "요구르트"])
    assert default.schema_id == "default"
    assert {
        "brand",
        "product_type",
        "net_content",
        "pack_count",
        "size",
        "material",
        "color",
        "flavor",
        "gender",
        "compatibility",
        "is_food",
    } <= set(default.names)
